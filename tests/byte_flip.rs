//! Proves "corruption is never silent": one bit of a segment is flipped at a time, at
//! every byte of a small segment and at 2,000 random bytes of a larger one, and the
//! ledger is opened read-only (which changes nothing, so the bit is flipped back after).
//! Every flip must be detected, and no open may panic.
//!
//! Detected means one of two things:
//! - the open fails with an error (damage before the last record is corruption, named
//!   with its segment and offset);
//! - the open succeeds and reports a torn tail starting at or before the flipped byte.
//!   Only a flip inside the last record may end this way: a damaged last record cannot
//!   be told from one torn by a crash, so the default recovery mode cuts it (here, being
//!   read-only, reports the cut) rather than refusing to open. The report is the
//!   detection: the operator sees what is dropped. Under
//!   `RecoveryMode::AbsoluteConsistency` every flip, the last record's included, is an
//!   error.
//!
//! An open that succeeds without a report is a flip accepted silently, and fails the
//! test.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use clickledger::log::frame::{read_frame, FrameRead};
use clickledger::log::segment::SEGMENT_HEADER_BYTES;
use clickledger::{
    secret, ClickKind, Durability, Ledger, Options, Postback, ProgramSettings, RecoveryMode,
    Timestamp,
};

const CLICKED: u32 = 1_740_823_200;

/// A ledger of `clicks` clicks, one in three converted, in one segment; returns the
/// segment and where its last record starts.
fn ledger_with(dir: &Path, clicks: usize) -> (PathBuf, usize) {
    let options = Options {
        durability: Durability::None,
        ..Options::default()
    };
    let ledger = Ledger::open(dir, options).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let at = Timestamp::from_unix(CLICKED);
    for index in 0..clicks {
        let id = ledger
            .record_click(program, "a7", ClickKind::Click, at)
            .unwrap();
        if index % 3 == 0 {
            let query = format!("key=pk1&id=A{index}&amount=1.50&currency=EUR&cids={id}");
            let postback = Postback::from_query(&query).unwrap();
            ledger.convert(&postback, at.plus_seconds(60)).unwrap();
        }
    }
    ledger.sync().unwrap();
    drop(ledger);
    let segment = dir.join("log").join("segment-00000001.log");
    assert!(
        !dir.join("log").join("segment-00000002.log").exists(),
        "one segment"
    );
    let last = last_record_start(dir, &fs::read(&segment).unwrap());
    (segment, last)
}

fn last_record_start(dir: &Path, bytes: &[u8]) -> usize {
    let seed = secret::frame_seed(&secret::load(dir).unwrap().unwrap());
    let (mut offset, mut last) = (SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES);
    while let FrameRead::Valid { frame_bytes, .. } = read_frame(&bytes[offset..], seed) {
        last = offset;
        offset += frame_bytes;
    }
    assert_eq!(offset, bytes.len(), "the segment is whole before the flips");
    last
}

/// How one flip was detected.
#[derive(Debug, PartialEq, Eq)]
enum Detected {
    Error,
    ReportedCut,
}

/// Flips one bit at `offset`, opens read-only with `recovery`, flips it back.
fn flip_and_open(
    dir: &Path,
    segment: &Path,
    offset: usize,
    recovery: RecoveryMode,
) -> Result<Detected, String> {
    let mut bytes = fs::read(segment).unwrap();
    let original = bytes[offset];
    bytes[offset] ^= 1 << (offset % 8);
    fs::write(segment, &bytes).unwrap();
    let read_only = Options {
        read_only: true,
        recovery,
        ..Options::default()
    };
    let opened = panic::catch_unwind(AssertUnwindSafe(|| Ledger::open(dir, read_only)));
    bytes[offset] = original;
    fs::write(segment, &bytes).unwrap();
    match opened {
        Err(_) => Err(format!("the open panicked on a flip at offset {offset}")),
        Ok(Err(_)) => Ok(Detected::Error),
        Ok(Ok(ledger)) => match &ledger.recovery().torn_tail {
            Some(torn) if torn.offset <= offset as u64 => Ok(Detected::ReportedCut),
            Some(torn) => Err(format!(
                "a flip at offset {offset} was reported as a cut from {}, after it",
                torn.offset
            )),
            None => Err(format!("a flip at offset {offset} was accepted silently")),
        },
    }
}

/// Flips each of `offsets` in turn; every flip before `last_record` must be an error.
fn flip_each(dir: &Path, segment: &Path, last_record: usize, offsets: &[usize]) {
    let (mut errors, mut cuts) = (0, 0);
    let mut problems = Vec::new();
    for &offset in offsets {
        match flip_and_open(dir, segment, offset, RecoveryMode::TolerateTornTail) {
            Ok(Detected::Error) => errors += 1,
            Ok(Detected::ReportedCut) if offset >= last_record => cuts += 1,
            Ok(Detected::ReportedCut) => problems.push(format!(
                "a flip at offset {offset}, before the last record ({last_record}), was cut \
                 as a torn tail instead of stopping the open"
            )),
            Err(problem) => problems.push(problem),
        }
    }
    println!(
        "{} flips: {errors} refused with an error, {cuts} reported as a torn last record",
        offsets.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(errors > 0 && cuts > 0, "both kinds of detection happen");
}

#[test]
fn every_byte_of_a_small_segment_flipped_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, last_record) = ledger_with(dir.path(), 24);
    let length = fs::metadata(&segment).unwrap().len() as usize;
    let offsets: Vec<usize> = (0..length).collect();
    flip_each(dir.path(), &segment, last_record, &offsets);
}

#[test]
fn under_absolute_consistency_every_flip_of_a_small_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, _) = ledger_with(dir.path(), 24);
    let length = fs::metadata(&segment).unwrap().len() as usize;
    for offset in 0..length {
        let detected = flip_and_open(
            dir.path(),
            &segment,
            offset,
            RecoveryMode::AbsoluteConsistency,
        );
        assert_eq!(detected, Ok(Detected::Error), "flip at offset {offset}");
    }
}

#[test]
fn two_thousand_random_bytes_of_a_large_segment_flipped_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (segment, last_record) = ledger_with(dir.path(), 3_000);
    let length = fs::metadata(&segment).unwrap().len() as usize;
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut offsets: Vec<usize> = (0..2_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % length as u64) as usize
        })
        .collect();
    // The last record's bytes always, so the torn-tail side is exercised.
    offsets.extend(last_record..length);
    flip_each(dir.path(), &segment, last_record, &offsets);
}
