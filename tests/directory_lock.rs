//! Proves that one data directory has one writer: a second open, in this process or
//! another, is refused with a clear error while the first ledger lives, and allowed as
//! soon as it is closed or killed. Two writers would interleave records and mint the
//! same slots twice.
//!
//! One test function on purpose: a child process forked while another test thread
//! closes a ledger briefly holds that ledger's lock descriptor (until its `exec`), which
//! would make the "released on close" checks flaky if they ran beside a spawn.

use std::path::Path;
use std::process::Command;

use clickledger::{Ledger, LedgerError, Options};

fn assert_locked(dir: &Path) {
    match Ledger::open(dir, Options::default()) {
        Err(LedgerError::Locked { dir: named }) => assert_eq!(named, dir),
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("two ledgers opened one directory"),
    }
}

#[test]
fn a_directory_open_in_one_ledger_is_refused_to_others_until_closed_or_killed() {
    let dir = tempfile::tempdir().unwrap();
    let first = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_locked(dir.path());

    let output = Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(["stats", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "another process opened a live directory"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already open"), "stderr: {stderr}");

    drop(first);
    let second =
        Ledger::open(dir.path(), Options::default()).expect("a closed ledger releases its lock");
    second.kill();
    Ledger::open(dir.path(), Options::default()).expect("a killed ledger releases its lock");
}
