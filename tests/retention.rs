//! Proves what retention promises: a day older than `Options::retention_days` is dropped
//! whole at a checkpoint, its clicks answer `expired` (before and after a reopen), no
//! click is recorded on it again, conversions stay answerable as replays, and log
//! segments are removed once no kept checkpoint needs them, without which nothing is
//! removed at all.

use std::fs;
use std::path::Path;

use clickledger::{
    ClickKind, Ledger, LedgerError, Options, Outcome, ProgramSettings, Timestamp, Verdict,
};

const DAY: u32 = 86_400;

fn retention(days: u32) -> Options {
    Options {
        retention_days: Some(days),
        segment_bytes_max: 4096,
        ..Options::default()
    }
}

fn segment_numbers(dir: &Path) -> Vec<u32> {
    let mut numbers: Vec<u32> = fs::read_dir(dir.join("log"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("segment-")?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    numbers.sort();
    numbers
}

#[test]
fn a_dropped_day_answers_expired_and_takes_no_new_click_even_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let today = Timestamp::now();
    let later = today.plus_seconds(9 * DAY);
    let ledger = Ledger::open(dir.path(), retention(7)).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let old = ledger
        .record_click(program, "a7", ClickKind::Click, today)
        .unwrap();
    let converted = ledger
        .record_click(program, "a7", ClickKind::Click, today)
        .unwrap();
    let sale = format!("key=pk1&id=S1&amount=5&currency=EUR&cids={converted}");
    assert!(matches!(
        ledger.convert_query(&sale, today).unwrap(),
        Outcome::Accepted(_)
    ));

    let report = ledger.checkpoint_at(later).unwrap();
    assert_eq!(report.partitions_dropped, 1);
    assert_eq!(ledger.stats().partitions, 0);
    drop(ledger);

    let ledger = Ledger::open(dir.path(), retention(7)).unwrap();
    assert!(ledger.click(&old).is_none());
    let claim = format!("key=pk1&id=S2&amount=5&currency=EUR&cids={old}");
    match ledger.convert_query(&claim, later).unwrap() {
        Outcome::Rejected(rejection) => {
            assert_eq!(rejection.reason.code(), "click_expired");
            assert_eq!(rejection.verdicts[0].verdict, Verdict::Expired);
        }
        other => panic!("a dropped click was not expired: {other:?}"),
    }
    // The order id outlives its click's day: a retry is still a replay.
    assert!(matches!(
        ledger.convert_query(&sale, later).unwrap(),
        Outcome::Replayed(_)
    ));
    match ledger.record_click(program, "a7", ClickKind::Click, today) {
        Err(LedgerError::DayDropped { day }) => assert_eq!(day, today.day()),
        other => panic!("a click on a dropped day was not refused: {other:?}"),
    }
    let fresh = ledger
        .record_click(program, "a7", ClickKind::Click, later)
        .unwrap();
    assert!(ledger.click(&fresh).is_some());
}

#[test]
fn segments_before_the_older_kept_checkpoint_are_removed_and_the_ledger_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let now = Timestamp::now();
    let ledger = Ledger::open(dir.path(), retention(30)).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let mut ids = Vec::new();
    let mut removed = 0;
    for _ in 0..3 {
        for _ in 0..300 {
            ids.push(
                ledger
                    .record_click(program, "a7", ClickKind::Click, now)
                    .unwrap(),
            );
        }
        removed += ledger.checkpoint().unwrap().segments_removed;
    }
    let stats = ledger.stats();
    drop(ledger);
    assert!(removed > 0, "no segment was removed");
    let numbers = segment_numbers(dir.path());
    assert!(numbers[0] > 1, "segment 1 is still there: {numbers:?}");

    let reopened = Ledger::open(dir.path(), retention(30)).unwrap();
    assert_eq!(reopened.stats(), stats);
    assert!(ids.iter().all(|id| reopened.click(id).is_some()));
}

#[test]
fn without_retention_nothing_is_dropped_or_removed() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        segment_bytes_max: 4096,
        ..Options::default()
    };
    let ledger = Ledger::open(dir.path(), options.clone()).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let old = Timestamp::from_unix(1_000_000_000);
    for _ in 0..3 {
        for _ in 0..300 {
            ledger
                .record_click(program, "a7", ClickKind::Click, old)
                .unwrap();
        }
        let report = ledger.checkpoint().unwrap();
        assert_eq!((report.partitions_dropped, report.segments_removed), (0, 0));
    }
    assert_eq!(segment_numbers(dir.path())[0], 1);
}

#[test]
fn a_retention_of_zero_days_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    match Ledger::open(dir.path(), retention(0)) {
        Err(LedgerError::InvalidInput { what, .. }) => assert_eq!(what, "retention_days"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("retention of 0 days accepted"),
    }
}

#[test]
fn once_segments_are_removed_a_ledger_without_a_usable_checkpoint_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), retention(30)).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    for _ in 0..3 {
        for _ in 0..300 {
            ledger
                .record_click(program, "a7", ClickKind::Click, Timestamp::now())
                .unwrap();
        }
        ledger.checkpoint().unwrap();
    }
    drop(ledger);
    for entry in fs::read_dir(dir.path().join("checkpoints")).unwrap() {
        fs::write(entry.unwrap().path(), b"damaged").unwrap();
    }
    match Ledger::open(dir.path(), retention(30)) {
        Err(LedgerError::Log(clickledger::log::LogError::MissingSegment { number, .. })) => {
            assert_eq!(number, 1)
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a log without its beginning opened with no checkpoint"),
    }
}
