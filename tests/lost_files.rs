//! Proves that a data directory missing one of its files refuses to open instead of
//! opening as a smaller ledger. A lost last segment or a wiped log would otherwise
//! forget claims (an ID claimed twice) and mint slots again (an ID reissued); a lost
//! secret would make every ID unverifiable.

use std::fs;
use std::path::{Path, PathBuf};

use clickledger::log::segment::{segment_file_name, write_marker, MARKER_FILE_NAME};
use clickledger::log::LogError;
use clickledger::{ClickId, ClickKind, Ledger, LedgerError, Options, ProgramSettings, Timestamp};

const CLICKED: u32 = 1_740_823_200;

/// Tiny segments, so a few hundred clicks span several of them.
fn small_segments() -> Options {
    Options {
        segment_bytes_max: 4096,
        ..Options::default()
    }
}

/// A ledger of `clicks` clicks, synced and closed; returns their IDs.
fn ledger_with_clicks(dir: &Path, clicks: usize) -> Vec<ClickId> {
    let ledger = Ledger::open(dir, small_segments()).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let ids = (0..clicks)
        .map(|_| {
            ledger
                .record_click(program, "a7", ClickKind::Click, at)
                .unwrap()
        })
        .collect();
    ledger.sync().unwrap();
    ids
}

fn segment(dir: &Path, number: u32) -> PathBuf {
    dir.join("log").join(segment_file_name(number))
}

fn segment_count(dir: &Path) -> u32 {
    (1..)
        .take_while(|number| segment(dir, *number).exists())
        .count() as u32
}

#[test]
fn clicks_spanning_several_segments_all_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ledger_with_clicks(dir.path(), 500);
    assert!(
        segment_count(dir.path()) >= 3,
        "the test needs several segments"
    );
    let ledger = Ledger::open(dir.path(), small_segments()).unwrap();
    assert_eq!(
        ledger.recovery().segments,
        u64::from(segment_count(dir.path()))
    );
    assert!(ids.iter().all(|id| ledger.click(id).is_some()));
}

#[test]
fn a_lost_last_segment_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 500);
    let last = segment_count(dir.path());
    fs::remove_file(segment(dir.path(), last)).unwrap();
    match Ledger::open(dir.path(), small_segments()) {
        Err(LedgerError::Log(LogError::LastSegmentMissing { number, .. })) => {
            assert_eq!(number, last)
        }
        Err(other) => panic!("expected LastSegmentMissing, got {other}"),
        Ok(_) => panic!("a ledger without its last segment opened"),
    }
}

#[test]
fn every_segment_lost_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 500);
    for number in 1..=segment_count(dir.path()) {
        fs::remove_file(segment(dir.path(), number)).unwrap();
    }
    let error = Ledger::open(dir.path(), small_segments())
        .err()
        .expect("an empty log must not open");
    assert!(
        matches!(error, LedgerError::Log(LogError::LastSegmentMissing { .. })),
        "{error}"
    );
}

#[test]
fn a_wiped_log_directory_refuses_the_open_while_the_secret_remains() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 10);
    fs::remove_dir_all(dir.path().join("log")).unwrap();
    let error = Ledger::open(dir.path(), Options::default())
        .err()
        .expect("a wiped log must not open");
    assert!(
        matches!(error, LedgerError::Log(LogError::MarkerMissing { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("removed or replaced"), "{error}");
}

#[test]
fn a_lost_secret_refuses_the_open_of_a_log_with_records() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 10);
    fs::remove_file(dir.path().join("secret")).unwrap();
    let error = Ledger::open(dir.path(), Options::default())
        .err()
        .expect("no secret, no open");
    assert!(
        matches!(error, LedgerError::SecretMissing { .. }),
        "{error}"
    );
    assert!(!error.to_string().contains("damaged"), "{error}");
}

#[test]
fn a_crash_while_creating_the_directory_leaves_one_that_opens_fresh() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(dir.path(), Options::default()).unwrap());
    // The secret is stored last: a crash just before it leaves an empty log.
    fs::remove_file(dir.path().join("secret")).unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_eq!(ledger.stats().clicks, 0);
    assert!(dir.path().join("secret").exists());
}

#[test]
fn a_crash_between_creating_a_segment_and_recording_it_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ledger_with_clicks(dir.path(), 500);
    let last = segment_count(dir.path());
    write_marker(&dir.path().join("log"), last - 1).unwrap();
    let ledger = Ledger::open(dir.path(), small_segments()).unwrap();
    assert!(ids.iter().all(|id| ledger.click(id).is_some()));
    drop(ledger);
    let marker = fs::read(dir.path().join("log").join(MARKER_FILE_NAME)).unwrap();
    assert_eq!(
        &marker[8..12],
        &last.to_le_bytes(),
        "the marker names the last segment again"
    );
}
