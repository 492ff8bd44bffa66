//! Proves the recovery modes and the operator's tools around them: absolute consistency
//! refuses even a torn tail; point in time drops everything from the first damage on,
//! says exactly what, and mints no ID it dropped again; `clickledger verify` lists every
//! damaged region with file and offset and exits non-zero; `clickledger repair` applies
//! a mode and prints what it removed.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod serial;

use clickledger::log::segment::segment_file_name;
use clickledger::{
    ClickId, ClickKind, Durability, Ledger, Options, ProgramSettings, RecoveryMode, Timestamp,
};

const CLICKED: u32 = 1_740_823_200;

fn with(recovery: RecoveryMode) -> Options {
    Options {
        recovery,
        segment_bytes_max: 4096,
        durability: Durability::None,
        ..Options::default()
    }
}

/// A ledger of 500 clicks over several 4 KiB segments, synced and closed.
fn ledger_with_clicks(dir: &Path) -> Vec<ClickId> {
    let ledger = Ledger::open(dir, with(RecoveryMode::TolerateTornTail)).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let ids = (0..500)
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

fn flip(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset] ^= 0x10;
    fs::write(path, bytes).unwrap();
}

fn cut_last_bytes(path: &Path, bytes: u64) {
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    let length = file.metadata().unwrap().len();
    file.set_len(length - bytes).unwrap();
}

fn last_segment(dir: &Path) -> PathBuf {
    let count = (1..)
        .take_while(|number| segment(dir, *number).exists())
        .count();
    segment(dir, count as u32)
}

#[test]
fn absolute_consistency_refuses_a_torn_tail_that_the_default_cuts() {
    let _serial = serial::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path());
    Ledger::open(dir.path(), with(RecoveryMode::AbsoluteConsistency)).expect("a sound log opens");
    cut_last_bytes(&last_segment(dir.path()), 5);
    let error = Ledger::open(dir.path(), with(RecoveryMode::AbsoluteConsistency))
        .err()
        .expect("a torn tail is damage");
    assert!(error.to_string().contains("segment-"), "{error}");
    let ledger = Ledger::open(dir.path(), with(RecoveryMode::TolerateTornTail)).unwrap();
    assert!(ledger.recovery().torn_tail.is_some());
}

#[test]
fn point_in_time_drops_everything_after_the_first_damage_and_reissues_no_id() {
    let _serial = serial::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let ids = ledger_with_clicks(dir.path());
    let first = segment(dir.path(), 1);
    let damaged_at = fs::metadata(&first).unwrap().len() as usize / 2;
    flip(&first, damaged_at);
    assert!(Ledger::open(dir.path(), with(RecoveryMode::TolerateTornTail)).is_err());

    let read_only = Options {
        read_only: true,
        ..with(RecoveryMode::PointInTime)
    };
    let before = fs::read_dir(dir.path().join("log")).unwrap().count();
    let looked = Ledger::open(dir.path(), read_only).unwrap();
    let would = looked.recovery().point_in_time.clone().expect("reported");
    assert!(!would.repaired);
    drop(looked);
    assert_eq!(
        fs::read_dir(dir.path().join("log")).unwrap().count(),
        before,
        "read-only"
    );

    let ledger = Ledger::open(dir.path(), with(RecoveryMode::PointInTime)).unwrap();
    let cut = ledger
        .recovery()
        .point_in_time
        .clone()
        .expect("a cut is reported");
    assert_eq!(cut.segment, first);
    assert!(cut.offset <= damaged_at as u64 && cut.repaired);
    assert!(
        !cut.segments_removed.is_empty(),
        "the later segments are dropped"
    );
    assert!(
        cut.reservations_kept > 0,
        "clicks read from the dropped bytes"
    );
    assert_eq!(cut.offset, fs::metadata(&first).unwrap().len());
    let kept = ids.iter().filter(|id| ledger.click(id).is_some()).count();
    assert!(
        kept > 0 && kept < ids.len(),
        "{kept} of {} clicks kept",
        ids.len()
    );

    let program = ledger.program_id("p1").unwrap();
    let earlier: HashSet<ClickId> = ids.into_iter().collect();
    for _ in 0..600 {
        let id = ledger
            .record_click(
                program,
                "a8",
                ClickKind::Click,
                Timestamp::from_unix(CLICKED),
            )
            .unwrap();
        assert!(
            !earlier.contains(&id),
            "{id} was handed out before the repair"
        );
    }
    drop(ledger);
    Ledger::open(dir.path(), with(RecoveryMode::AbsoluteConsistency))
        .expect("the repaired log is consistent");
}

#[test]
fn verify_lists_every_damaged_region_and_repair_says_what_it_removed() {
    let _serial = serial::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path());
    assert!(Ledger::verify(dir.path()).unwrap().is_empty());
    let writer = Ledger::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(
        Ledger::verify(dir.path()),
        Err(clickledger::LedgerError::Locked { .. })
    ));
    drop(writer);
    let second = segment(dir.path(), 2);
    flip(&segment(dir.path(), 1), 100);
    flip(&second, 1000);
    cut_last_bytes(&last_segment(dir.path()), 3);

    let problems = Ledger::verify(dir.path()).unwrap();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert_eq!(problems[0].file, segment(dir.path(), 1));
    assert!((90..=100).contains(&problems[0].offset), "{}", problems[0]);
    assert_eq!(problems[1].file, second);
    assert!(
        problems[2].description.contains("torn tail"),
        "{}",
        problems[2]
    );

    let tool = env!("CARGO_BIN_EXE_clickledger");
    let data = dir.path().to_str().unwrap();
    let verify = Command::new(tool)
        .args(["verify", "--data", data])
        .output()
        .unwrap();
    assert!(!verify.status.success());
    let listed = String::from_utf8(verify.stdout).unwrap();
    assert_eq!(listed.matches(" at offset ").count(), 3, "{listed}");

    let repair = Command::new(tool)
        .args(["repair", "--data", data, "--mode", "point-in-time"])
        .output()
        .unwrap();
    assert!(
        repair.status.success(),
        "{}",
        String::from_utf8_lossy(&repair.stderr)
    );
    let removed = String::from_utf8(repair.stdout).unwrap();
    assert!(
        removed.contains("segment-00000001.log from offset"),
        "{removed}"
    );
    assert!(
        removed.contains("removed ") && removed.contains("segment-00000002.log"),
        "{removed}"
    );

    let verify = Command::new(tool)
        .args(["verify", "--data", data])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn point_in_time_before_a_checkpoint_replays_from_the_start_and_drops_that_checkpoint() {
    let _serial = serial::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let ids = ledger_with_clicks(dir.path());
    let ledger = Ledger::open(dir.path(), with(RecoveryMode::TolerateTornTail)).unwrap();
    let checkpoint = ledger.checkpoint().unwrap().path;
    drop(ledger);
    // Damage in segment 2: well before the checkpoint, taken at the end of the log.
    flip(&segment(dir.path(), 2), 40);
    let default = Ledger::open(dir.path(), with(RecoveryMode::TolerateTornTail)).unwrap();
    assert_eq!(
        default.recovery().checkpoint.as_ref(),
        Some(&checkpoint),
        "the default open starts after the damage and never reads it"
    );
    drop(default);
    assert!(!Ledger::verify(dir.path()).unwrap().is_empty());

    let repaired = Ledger::open(dir.path(), with(RecoveryMode::PointInTime)).unwrap();
    let cut = repaired.recovery().point_in_time.clone().expect("a cut");
    assert_eq!(cut.at.segment, 2);
    assert_eq!(repaired.recovery().checkpoint, None, "a full replay");
    assert!(
        !checkpoint.exists(),
        "the checkpoint past the cut is removed"
    );
    let fresh = repaired
        .record_click(
            repaired.program_id("p1").unwrap(),
            "a7",
            ClickKind::Click,
            Timestamp::from_unix(CLICKED),
        )
        .unwrap();
    assert!(
        !ids.contains(&fresh),
        "an ID handed out before is minted again"
    );
    drop(repaired);

    let reopened = Ledger::open(dir.path(), with(RecoveryMode::TolerateTornTail)).unwrap();
    assert!(reopened.recovery().point_in_time.is_none());
    assert!(reopened.click(&fresh).is_some());
}

/// Runs the built tool with `args`; returns success, standard output and error.
fn clickledger(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_operators_tools_see_damage_a_checkpoint_hides_and_say_what_they_removed() {
    let _serial = serial::one_at_a_time();
    // A mistyped path is refused, not made into a new ledger.
    let nowhere = tempfile::tempdir().unwrap();
    let typo = nowhere.path().join("typo");
    let typo = typo.to_str().unwrap();
    let (ok, _, error) = clickledger(&["repair", "--data", typo, "--mode", "torn-tail"]);
    assert!(!ok && error.contains("no ledger"), "{error}");
    assert!(!Path::new(typo).exists(), "repair created {typo}");

    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path());
    let ledger = Ledger::open(dir.path(), with(RecoveryMode::TolerateTornTail)).unwrap();
    let checkpoint = ledger.checkpoint().unwrap().path;
    drop(ledger);
    let data = dir.path().to_str().unwrap();

    // A damaged checkpoint is a problem for verify, not only a warning.
    let bytes = fs::read(&checkpoint).unwrap();
    flip(&checkpoint, bytes.len() / 2);
    let (ok, listed, _) = clickledger(&["verify", "--data", data]);
    assert!(!ok && listed.contains("unusable checkpoint"), "{listed}");
    fs::write(&checkpoint, &bytes).unwrap();

    // Damage before the checkpoint: opens never read it, but absolute refuses it.
    flip(&segment(dir.path(), 2), 40);
    let (ok, _, error) = clickledger(&["repair", "--data", data, "--mode", "absolute"]);
    assert!(!ok && error.contains("segment-00000002.log"), "{error}");
    let (ok, said, _) = clickledger(&["repair", "--data", data, "--mode", "torn-tail"]);
    assert!(
        ok && said.contains("the log before it was not read"),
        "{said}"
    );
    let (ok, said, error) = clickledger(&["repair", "--data", data, "--mode", "point-in-time"]);
    assert!(ok, "{error}");
    assert!(
        said.contains(&format!("removed checkpoint {}", checkpoint.display())),
        "{said}"
    );
    assert!(!checkpoint.exists());
    let (ok, listed, _) = clickledger(&["verify", "--data", data]);
    assert!(ok, "{listed}");
}
