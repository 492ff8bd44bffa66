//! `simulate` replaces only a ledger an earlier `simulate` wrote, and never one in use.
//!
//! A newcomer found that the replacement emptied the whole data directory: files of
//! their own (`notes.txt`, `log/keep.txt`) went with the ledger, and a ledger that a
//! running `simulate` held open was deleted under it. This test proves that the tool
//! now refuses both, names what it would have deleted or who holds the directory, and
//! leaves everything in place; and that it still replaces its own ledger.
//!
//! One test function on purpose: it spawns the binary while it holds a ledger open, and
//! another test closing a ledger beside a spawn would make lock checks flaky (see
//! `tests/directory_lock.rs`).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use clickledger::{Ledger, Options};

fn simulate(data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(["simulate", "--clicks", "1000", "--json", "--data"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

/// Runs `simulate` on `data`, expects it to refuse with `reason`, and returns its stderr.
fn assert_refused(data: &Path, reason: &str) -> String {
    let output = simulate(data);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(reason), "expected {reason:?} in: {stderr}");
    stderr
}

fn clicks_in(data: &Path) -> u64 {
    Ledger::open(data, Options::default())
        .unwrap()
        .stats()
        .clicks
}

#[test]
fn simulate_replaces_its_own_ledger_only_when_nothing_else_is_there_and_nobody_uses_it() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("ledger");
    assert!(simulate(&data).status.success());
    assert!(
        simulate(&data).status.success(),
        "its own ledger is replaced"
    );
    assert_eq!(clicks_in(&data), 1_000);

    fs::write(data.join("notes.txt"), b"mine").unwrap();
    assert_refused(&data, "notes.txt");
    assert_eq!(fs::read(data.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(clicks_in(&data), 1_000, "the ledger is left as it was");
    fs::remove_file(data.join("notes.txt")).unwrap();

    fs::write(data.join("log/keep.txt"), b"mine").unwrap();
    assert_refused(&data, "keep.txt");
    assert!(data.join("log/keep.txt").exists());
    fs::remove_file(data.join("log/keep.txt")).unwrap();

    let open = Ledger::open(&data, Options::default()).unwrap();
    assert_refused(&data, "is in use by another process");
    assert_eq!(open.stats().clicks, 1_000);
    drop(open);
    assert_eq!(clicks_in(&data), 1_000, "the ledger in use was not touched");

    assert!(simulate(&data).status.success(), "replaced once released");
    assert_eq!(clicks_in(&data), 1_000);
}
