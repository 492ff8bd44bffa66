//! Proves that a read-only open changes nothing on disk: a torn tail is reported and
//! left in place, no file is created, and every write is refused with a typed error,
//! while readers share a directory with each other but never with a writer.

use std::fs;
use std::path::{Path, PathBuf};

use clickledger::log::LogError;
use clickledger::{
    ClickKind, Ledger, LedgerError, Options, Outcome, ProgramId, ProgramSettings, Timestamp,
};

const CLICKED: u32 = 1_740_823_200;

fn read_only() -> Options {
    Options {
        read_only: true,
        ..Options::default()
    }
}

/// Every file under `dir` with its bytes, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push((path.clone(), fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// A closed ledger with three clicks and a torn tail of 5 bytes.
fn ledger_with_torn_tail(dir: &Path) -> ProgramId {
    let ledger = Ledger::open(dir, Options::default()).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    for _ in 0..3 {
        ledger
            .record_click(
                program,
                "a7",
                ClickKind::Click,
                Timestamp::from_unix(CLICKED),
            )
            .unwrap();
    }
    ledger.sync().unwrap();
    drop(ledger);
    let segment = dir.join("log").join("segment-00000001.log");
    let mut bytes = fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[30, 0, 0, 0, 1]);
    fs::write(&segment, bytes).unwrap();
    program
}

#[test]
fn a_torn_tail_is_reported_but_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_torn_tail(dir.path());
    let before = snapshot(dir.path());
    let ledger = Ledger::open(dir.path(), read_only()).unwrap();
    let torn = ledger
        .recovery()
        .torn_tail
        .clone()
        .expect("the torn tail is reported");
    assert_eq!((torn.bytes_cut, torn.repaired), (5, false));
    assert_eq!(ledger.stats().clicks, 3);
    drop(ledger);
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a read-only open changed the directory"
    );

    let writer = Ledger::open(dir.path(), Options::default()).unwrap();
    let torn = writer.recovery().torn_tail.clone().unwrap();
    assert_eq!((torn.bytes_cut, torn.repaired), (5, true));
}

#[test]
fn every_write_is_refused_and_answers_that_write_nothing_still_come() {
    let dir = tempfile::tempdir().unwrap();
    let program = ledger_with_torn_tail(dir.path());
    let ledger = Ledger::open(dir.path(), read_only()).unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let refused = ledger.record_click(program, "a7", ClickKind::Click, at);
    assert!(matches!(
        refused,
        Err(LedgerError::Log(LogError::ReadOnly { .. }))
    ));
    let refused = ledger.register_program(ProgramSettings::new("p2"));
    assert!(matches!(
        refused,
        Err(LedgerError::Log(LogError::ReadOnly { .. }))
    ));

    let bad_key = ledger
        .convert_query(
            "key=nope&id=A1&amount=1&currency=EUR&cids=603ed1800000000000000000",
            at,
        )
        .unwrap();
    assert!(matches!(bad_key, Outcome::Rejected(_)));
    ledger.sync().expect("nothing to make durable");
}

#[test]
fn readers_share_a_directory_but_never_with_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_torn_tail(dir.path());
    let first = Ledger::open(dir.path(), read_only()).unwrap();
    let second = Ledger::open(dir.path(), read_only()).expect("two readers at once");
    assert!(matches!(
        Ledger::open(dir.path(), Options::default()),
        Err(LedgerError::Locked { .. })
    ));
    drop((first, second));
    let writer = Ledger::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(
        Ledger::open(dir.path(), read_only()),
        Err(LedgerError::Locked { .. })
    ));
    drop(writer);
}

#[test]
fn a_directory_without_a_ledger_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    assert!(matches!(
        Ledger::open(&missing, read_only()),
        Err(LedgerError::NoLedger { .. })
    ));
    assert!(!missing.exists());
    assert!(matches!(
        Ledger::open(dir.path(), read_only()),
        Err(LedgerError::NoLedger { .. })
    ));
    assert!(snapshot(dir.path()).is_empty());
}

/// A marker naming segment 0 (none exists) over an empty `log/`: refused, and a
/// read-only open creates no segment on the way.
#[test]
fn a_marker_naming_segment_zero_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(dir.path(), Options::default()).unwrap());
    let log_dir = dir.path().join("log");
    fs::remove_file(log_dir.join("segment-00000001.log")).unwrap();
    clickledger::log::segment::write_marker(&log_dir, 0).unwrap();
    let before = snapshot(dir.path());
    for options in [read_only(), Options::default()] {
        match Ledger::open(dir.path(), options) {
            Err(LedgerError::Log(LogError::Corrupt { problem, .. })) => {
                assert!(problem.contains("segment 0"), "{problem}")
            }
            Err(other) => panic!("expected Corrupt, got {other}"),
            Ok(_) => panic!("opened a log whose marker names segment 0"),
        }
        assert_eq!(snapshot(dir.path()), before);
    }
}
