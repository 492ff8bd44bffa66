//! Proves that a ledger opened from a checkpoint is the ledger a full replay gives: the
//! same stats, clicks, claims and conversions, the same answers to every postback sent
//! again, and the same next IDs (so none is reissued), across random workloads with a
//! crash (`Ledger::kill`) between the checkpoint and the reopen. Then that a damaged
//! checkpoint is skipped with a warning, and that a log shorter than a checkpoint's
//! position refuses to open.

mod serial;

use std::fs;
use std::path::{Path, PathBuf};

use clickledger::checkpoint::CHECKPOINT_DIR_NAME;
use clickledger::log::LogError;
use clickledger::{
    ClickId, ClickKind, ConversionKind, Ledger, LedgerError, Options, ProgramId, ProgramSettings,
    Timestamp,
};

/// 2025-03-01T10:00:00Z.
const START: u32 = 1_740_823_200;
const DAY: u32 = 86_400;

/// A small, fixed pseudo-random sequence (xorshift64*): the workloads are the same on
/// every run and platform, and a failure names its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// What a workload did: the IDs it minted and the postbacks it sent, with their times.
#[derive(Default)]
struct Trace {
    programs: Vec<(ProgramId, String)>,
    ids: Vec<ClickId>,
    postbacks: Vec<(String, Timestamp)>,
}

fn small_segments() -> Options {
    Options {
        segment_bytes_max: 8192,
        ..Options::default()
    }
}

/// Runs `steps` random operations: clicks over a few days, postbacks naming known,
/// claimed, forged and other programs' IDs, retries and conflicting retries.
fn run(ledger: &Ledger, random: &mut Random, trace: &mut Trace, steps: usize) {
    if trace.programs.is_empty() {
        for number in 0..3 {
            let key = format!("key{number}");
            let settings = ProgramSettings {
                kind: if number == 2 {
                    ConversionKind::Leads
                } else {
                    ConversionKind::Sales
                },
                ..ProgramSettings::new(&format!("program{number}"))
            };
            let id = ledger.register_program_with_key(settings, &key).unwrap();
            trace.programs.push((id, key));
        }
    }
    for _ in 0..steps {
        let at = Timestamp::from_unix(
            START + random.below(4) as u32 * DAY + random.below(DAY as u64) as u32,
        );
        if trace.ids.is_empty() || random.below(3) != 0 {
            let (program, _) = trace.programs[random.below(3) as usize];
            let partner = format!("partner{}", random.below(5));
            let kind = if random.below(4) == 0 {
                ClickKind::Impression
            } else {
                ClickKind::Click
            };
            trace
                .ids
                .push(ledger.record_click(program, &partner, kind, at).unwrap());
            continue;
        }
        let query = postback(random, trace);
        let received = at.plus_seconds(5 * DAY);
        ledger.convert_query(&query, received).unwrap();
        trace.postbacks.push((query, received));
        if random.below(20) == 0 {
            ledger.sync().unwrap();
        }
    }
}

fn postback(random: &mut Random, trace: &Trace) -> String {
    let (_, key) = &trace.programs[random.below(3) as usize];
    let mut ids: Vec<String> = (0..=random.below(3))
        .map(|_| trace.ids[random.below(trace.ids.len() as u64) as usize].to_string())
        .collect();
    if random.below(8) == 0 {
        ids.push("603ed1800000000000000000".to_owned());
    }
    let order = random.below(40);
    let amount = 10 + random.below(3);
    format!(
        "key={key}&id=O{order}&amount={amount}.00&currency=EUR&cids={}",
        ids.join("-")
    )
}

/// Opens `dir` (from its checkpoint) and, copied to `replay_dir` without its
/// checkpoints, by a full replay: the two ledgers every comparison here starts from.
fn open_both_ways(dir: &Path, replay_dir: &Path) -> (Ledger, Ledger) {
    copy_dir(dir, replay_dir);
    fs::remove_dir_all(replay_dir.join(CHECKPOINT_DIR_NAME)).unwrap();
    let checkpointed = Ledger::open(dir, small_segments()).unwrap();
    let replayed = Ledger::open(replay_dir, small_segments()).unwrap();
    (checkpointed, replayed)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The checkpoints of a data directory, oldest first.
fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = match fs::read_dir(dir.join(CHECKPOINT_DIR_NAME)) {
        Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    paths.retain(|path| {
        path.extension()
            .is_some_and(|extension| extension == "ckpt")
    });
    paths.sort();
    paths
}

/// Asserts two ledgers hold the same state, then sends every postback of the trace to
/// both and mints new IDs in both, asserting the same answers.
fn assert_same_ledger(checkpointed: &Ledger, replayed: &Ledger, trace: &Trace, seed: u64) {
    assert_eq!(checkpointed.stats(), replayed.stats(), "seed {seed}: stats");
    for id in &trace.ids {
        assert_eq!(
            checkpointed.click(id),
            replayed.click(id),
            "seed {seed}: click {id}"
        );
        assert_eq!(
            checkpointed.claimed_by(id),
            replayed.claimed_by(id),
            "seed {seed}: claim of {id}"
        );
    }
    for (program, _) in &trace.programs {
        assert_eq!(
            checkpointed.conversions(*program),
            replayed.conversions(*program),
            "seed {seed}: conversions"
        );
    }
    for (query, at) in &trace.postbacks {
        assert_eq!(
            checkpointed.convert_query(query, *at).unwrap(),
            replayed.convert_query(query, *at).unwrap(),
            "seed {seed}: {query}"
        );
    }
    for day in 0..5 {
        let at = Timestamp::from_unix(START + day * DAY);
        let program = trace.programs[0].0;
        let next = checkpointed
            .record_click(program, "new", ClickKind::Click, at)
            .unwrap();
        assert_eq!(
            next,
            replayed
                .record_click(program, "new", ClickKind::Click, at)
                .unwrap(),
            "seed {seed}: next ID of day {day}"
        );
        assert!(!trace.ids.contains(&next), "seed {seed}: {next} reissued");
    }
}

#[test]
fn opening_from_a_checkpoint_equals_a_full_replay_across_random_workloads_and_crashes() {
    let _serial = serial::one_at_a_time();
    for seed in 1..=24u64 {
        let dir = tempfile::tempdir().unwrap();
        let (ledger_dir, replay_dir) = (dir.path().join("ledger"), dir.path().join("replay"));
        let mut random = Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut trace = Trace::default();

        let ledger = Ledger::open(&ledger_dir, small_segments()).unwrap();
        let steps = 100 + random.below(300) as usize;
        run(&ledger, &mut random, &mut trace, steps);
        if seed % 3 == 0 {
            ledger.checkpoint().unwrap();
            let steps = random.below(100) as usize;
            run(&ledger, &mut random, &mut trace, steps);
        }
        let report = ledger.checkpoint().unwrap();
        // After the checkpoint: some steps, sometimes synced, then a crash that loses
        // whatever was not handed to the OS.
        let steps = random.below(200) as usize;
        run(&ledger, &mut random, &mut trace, steps);
        if seed % 2 == 0 {
            ledger.flush().unwrap();
        }
        ledger.kill();

        let (checkpointed, replayed) = open_both_ways(&ledger_dir, &replay_dir);
        assert_eq!(
            checkpointed.recovery().checkpoint.as_ref(),
            Some(&report.path)
        );
        assert!(checkpointed.recovery().skipped_checkpoints.is_empty());
        assert_eq!(replayed.recovery().checkpoint, None);
        assert!(
            checkpointed.recovery().records < replayed.recovery().records,
            "seed {seed}: the checkpointed open replays only the tail"
        );
        assert_same_ledger(&checkpointed, &replayed, &trace, seed);
    }
}

/// A ledger with two checkpoints and records after them, closed; returns its trace.
fn two_checkpoints(dir: &Path) -> Trace {
    let mut random = Random(77);
    let mut trace = Trace::default();
    let ledger = Ledger::open(dir, small_segments()).unwrap();
    run(&ledger, &mut random, &mut trace, 200);
    ledger.checkpoint().unwrap();
    run(&ledger, &mut random, &mut trace, 200);
    ledger.checkpoint().unwrap();
    run(&ledger, &mut random, &mut trace, 100);
    ledger.sync().unwrap();
    trace
}

/// Opens `dir` and a full replay of a copy of it, asserts they agree, and returns the
/// first's recovery report.
fn open_and_compare(dir: &Path, trace: &Trace) -> clickledger::log::RecoveryReport {
    let (opened, replayed) = open_both_ways(dir, &dir.with_extension("replay"));
    assert_same_ledger(&opened, &replayed, trace, 0);
    opened.recovery().clone()
}

#[test]
fn a_damaged_newest_checkpoint_is_skipped_for_the_older_one() {
    let _serial = serial::one_at_a_time();
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 4] = [
        ("byte flipped in the slot tables", |path| {
            let mut bytes = fs::read(path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 1;
            fs::write(path, bytes).unwrap();
        }),
        ("truncated", |path| {
            let bytes = fs::read(path).unwrap();
            fs::write(path, &bytes[..bytes.len() - 100]).unwrap();
        }),
        ("unknown version", |path| {
            let mut bytes = fs::read(path).unwrap();
            bytes[8] = 99;
            fs::write(path, bytes).unwrap();
        }),
        ("emptied", |path| fs::write(path, b"").unwrap()),
    ];
    for (damage, apply) in damages {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("ledger");
        let trace = two_checkpoints(&dir);
        let [older, newer] = <[PathBuf; 2]>::try_from(checkpoints(&dir)).unwrap();
        apply(&newer);
        let recovery = open_and_compare(&dir, &trace);
        assert_eq!(recovery.checkpoint, Some(older), "{damage}");
        assert_eq!(recovery.skipped_checkpoints.len(), 1, "{damage}");
        assert_eq!(recovery.skipped_checkpoints[0].path, newer, "{damage}");
        assert!(!recovery.skipped_checkpoints[0].problem.is_empty());
    }
}

#[test]
fn with_every_checkpoint_damaged_the_whole_log_is_replayed() {
    let _serial = serial::one_at_a_time();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ledger");
    let trace = two_checkpoints(&dir);
    for path in checkpoints(&dir) {
        let mut bytes = fs::read(&path).unwrap();
        bytes[50] ^= 0x10;
        fs::write(&path, bytes).unwrap();
    }
    let recovery = open_and_compare(&dir, &trace);
    assert_eq!(recovery.checkpoint, None);
    assert_eq!(recovery.skipped_checkpoints.len(), 2);
}

#[test]
fn a_checkpoint_cut_short_by_a_crash_is_ignored() {
    let _serial = serial::one_at_a_time();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ledger");
    let trace = two_checkpoints(&dir);
    let newer = checkpoints(&dir).pop().unwrap();
    // A crash before the rename leaves the temporary file, never the final name.
    let mut temporary = newer.clone().into_os_string();
    temporary.push(".new");
    fs::write(&temporary, b"CLKCHKPT partial").unwrap();
    let recovery = open_and_compare(&dir, &trace);
    assert_eq!(recovery.checkpoint, Some(newer));
    assert!(recovery.skipped_checkpoints.is_empty());
}

#[test]
fn a_log_restored_from_an_older_copy_is_refused_by_the_newer_checkpoint() {
    let _serial = serial::one_at_a_time();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ledger");
    let old_log = root.path().join("old-log");
    let mut random = Random(5);
    let mut trace = Trace::default();
    let ledger = Ledger::open(&dir, small_segments()).unwrap();
    run(&ledger, &mut random, &mut trace, 200);
    ledger.sync().unwrap();
    copy_dir(&dir.join("log"), &old_log);
    run(&ledger, &mut random, &mut trace, 30);
    ledger.checkpoint().unwrap();
    drop(ledger);

    fs::remove_dir_all(dir.join("log")).unwrap();
    copy_dir(&old_log, &dir.join("log"));
    match Ledger::open(&dir, small_segments()) {
        Err(LedgerError::Log(LogError::ShorterThanCheckpoint { needed, .. })) => {
            assert!(needed.offset > 0)
        }
        Err(other) => panic!("expected ShorterThanCheckpoint, got {other}"),
        Ok(_) => panic!("a log older than its checkpoint opened"),
    }
}

#[test]
fn only_the_two_newest_checkpoints_are_kept() {
    let _serial = serial::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut random = Random(9);
    let mut trace = Trace::default();
    let ledger = Ledger::open(dir.path(), small_segments()).unwrap();
    let mut removed = 0;
    for _ in 0..4 {
        run(&ledger, &mut random, &mut trace, 20);
        removed += ledger.checkpoint().unwrap().checkpoints_removed;
    }
    assert_eq!(removed, 2);
    assert_eq!(checkpoints(dir.path()).len(), 2);
}

#[test]
fn a_read_only_ledger_refuses_to_checkpoint_but_opens_from_one() {
    let _serial = serial::one_at_a_time();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ledger");
    let trace = two_checkpoints(&dir);
    let read_only = Options {
        read_only: true,
        ..small_segments()
    };
    let ledger = Ledger::open(&dir, read_only).unwrap();
    assert!(ledger.recovery().checkpoint.is_some());
    assert!(ledger.click(&trace.ids[0]).is_some());
    assert!(matches!(
        ledger.checkpoint(),
        Err(LedgerError::Log(LogError::ReadOnly { .. }))
    ));
}

#[test]
fn a_checkpoint_taken_while_clicks_and_claims_go_on_still_equals_a_full_replay() {
    let _serial = serial::one_at_a_time();
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    let dir = tempfile::tempdir().unwrap();
    let (ledger_dir, replay_dir) = (dir.path().join("ledger"), dir.path().join("replay"));
    let ledger = Ledger::open(&ledger_dir, small_segments()).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let ids = Mutex::new(Vec::new());
    let postbacks = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let at = Timestamp::from_unix(START);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let id = ledger
                    .record_click(program, "a7", ClickKind::Click, at)
                    .unwrap();
                ids.lock().unwrap().push(id);
            }
        });
        scope.spawn(|| {
            let mut order = 0;
            while !stop.load(Ordering::Relaxed) {
                let Some(id) = ids.lock().unwrap().last().copied() else {
                    continue;
                };
                order += 1;
                let query = format!("key=pk1&id=O{order}&amount=1&currency=EUR&cids={id}");
                ledger.convert_query(&query, at).unwrap();
                postbacks.lock().unwrap().push((query, at));
            }
        });
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            ledger.checkpoint().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        stop.store(true, Ordering::Relaxed);
    });
    ledger.flush().unwrap();
    ledger.kill();

    let (checkpointed, replayed) = open_both_ways(&ledger_dir, &replay_dir);
    assert!(checkpointed.recovery().checkpoint.is_some());
    let trace = Trace {
        programs: vec![(program, "pk1".to_owned())],
        ids: ids.into_inner().unwrap(),
        postbacks: postbacks.into_inner().unwrap(),
    };
    assert!(trace.postbacks.len() > 10, "the claims did not run");
    assert_same_ledger(&checkpointed, &replayed, &trace, 0);
}

#[test]
fn an_unusable_checkpoint_named_beyond_the_log_is_removed_not_kept_over_a_good_one() {
    let _serial = serial::one_at_a_time();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ledger");
    let trace = two_checkpoints(&dir);
    let checkpoint_dir = dir.join(CHECKPOINT_DIR_NAME);
    let stranger = checkpoint_dir.join("checkpoint-00009999-000000000016.ckpt");
    fs::write(&stranger, b"not ours").unwrap();
    let ledger = Ledger::open(&dir, small_segments()).unwrap();
    assert_eq!(ledger.recovery().skipped_checkpoints[0].path, stranger);
    let report = ledger.checkpoint().unwrap();
    drop(ledger);
    assert!(!stranger.exists());
    assert_eq!(checkpoints(&dir).len(), 2);
    assert_eq!(checkpoints(&dir)[1], report.path);
    let recovery = open_and_compare(&dir, &trace);
    assert!(recovery.skipped_checkpoints.is_empty());

    // A pipe in a checkpoint's place is skipped without being opened.
    let pipe = checkpoint_dir.join("checkpoint-00009999-000000000017.ckpt");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status();
    if made.is_ok_and(|status| status.success()) {
        let ledger = Ledger::open(&dir, small_segments()).unwrap();
        assert_eq!(ledger.recovery().skipped_checkpoints[0].path, pipe);
    }
}
