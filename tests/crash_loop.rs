//! Proves "nothing acknowledged is lost" and "an ID is never reissued" by crashing a
//! busy ledger over and over, in two ways:
//!
//! - **kill**: this test binary runs itself as a child process (the test
//!   `child_workload`, told by an environment variable) whose threads record clicks and
//!   claim them at the default level, `Sync`, printing each acknowledged operation to
//!   the parent through a pipe; the parent `SIGKILL`s it at a random moment (sometimes
//!   while it opens), reopens the directory and checks;
//! - **power loss**: the same workload runs in this process on a simulated disk under
//!   the log; the power is cut at a random moment (every other round, right after the
//!   disk's Nth write, N random, so that unsynced bytes are always in the way), dropping
//!   every byte, file and rename not synced (with torn partial pages), and the
//!   directory is reopened and checked.
//!
//! After every crash: the open succeeds; every acknowledged click is there, with the
//! partner it was minted for; every acknowledged conversion holds its claim; every
//! acknowledged `already_claimed` names a claim that is there; no click ID is claimed
//! twice; no ID acknowledged in any round is acknowledged again. The same directory
//! lives through all rounds, with small segments so crashes also hit rollovers.
//!
//! Short mode (run by `cargo test`): 25 rounds each. Long mode:
//! `CLICKLEDGER_CRASH_ROUNDS=1000 cargo test --release --test crash_loop -- --nocapture`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use clickledger::log::io::Faults;
use clickledger::{
    ClickId, ClickKind, Durability, Io, Ledger, LedgerError, Options, Outcome, Postback, ProgramId,
    ProgramSettings, SimulatedDisk, Timestamp,
};

/// Rounds of each mode unless `CLICKLEDGER_CRASH_ROUNDS` says otherwise.
const ROUNDS_SHORT: u64 = 25;
const ROUNDS_ENV: &str = "CLICKLEDGER_CRASH_ROUNDS";
/// Set by the parent in the child's environment: the data directory.
const CHILD_DIR_ENV: &str = "CLICKLEDGER_CRASH_CHILD_DIR";
/// Set by the parent: the round, which names the child's partners.
const CHILD_ROUND_ENV: &str = "CLICKLEDGER_CRASH_CHILD_ROUND";
/// Worker threads of the workload: enough to share syncs.
const THREADS: usize = 4;
/// Small segments, so that crashes also land on rollovers.
const SEGMENT_BYTES: u64 = 16 << 10;
/// Prefix of the child's acknowledgement lines (the test harness prints its own lines).
const ACK: &str = "ACK ";
const CLICKED: u32 = 1_740_823_200;

/// Held by each test of this file for its whole run. A child being spawned holds, until
/// it execs, a copy of every descriptor of this process, the directory locks of other
/// tests' ledgers included: a test reopening its directory then would find it locked.
static ONE_TEST_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_test_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_TEST_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An operation whose success was returned to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ack {
    /// A click minted for this partner.
    Click(ClickId, String),
    /// A conversion with this order id accepted, claiming this click.
    Converted(String, ClickId),
    /// A postback rejected `already_claimed` for this click.
    AlreadyClaimed(ClickId),
    /// A click minted at `Durability::None`: the click may be lost, its ID is never
    /// handed out again.
    Minted(ClickId),
}

impl Ack {
    fn to_line(&self) -> String {
        match self {
            Ack::Click(id, partner) => format!("{ACK}click {id} {partner}\n"),
            Ack::Converted(order, id) => format!("{ACK}conv {order} {id}\n"),
            Ack::AlreadyClaimed(id) => format!("{ACK}claimed {id}\n"),
            Ack::Minted(id) => format!("{ACK}minted {id}\n"),
        }
    }

    fn parse(line: &str) -> Option<Ack> {
        // The harness starts the child's first line with its own `test ... ` words.
        let start = line.find(ACK)? + ACK.len();
        let words: Vec<&str> = line[start..].split(' ').collect();
        match words.as_slice() {
            ["click", id, partner] => Some(Ack::Click(id.parse().ok()?, (*partner).to_owned())),
            ["conv", order, id] => Some(Ack::Converted((*order).to_owned(), id.parse().ok()?)),
            ["claimed", id] => Some(Ack::AlreadyClaimed(id.parse().ok()?)),
            ["minted", id] => Some(Ack::Minted(id.parse().ok()?)),
            _ => None,
        }
    }
}

fn options(io: Io) -> Options {
    Options {
        segment_bytes_max: SEGMENT_BYTES,
        io,
        ..Options::default()
    }
}

fn program(ledger: &Ledger) -> Result<ProgramId, LedgerError> {
    match ledger.program_id("p1") {
        Some(program) => Ok(program),
        None => ledger.register_program_with_key(ProgramSettings::new("p1"), "pk1"),
    }
}

fn postback(order: &str, id: &ClickId) -> Postback {
    Postback::from_query(&format!(
        "key=pk1&id={order}&amount=1&currency=EUR&cids={id}"
    ))
    .expect("a well-formed postback")
}

/// One worker: clicks, claims its own clicks, and claims them again (`already_claimed`),
/// reporting each acknowledged answer, until `stop` or the first error. Thread 0 mints
/// its clicks at `Durability::None` and flushes them now and then without a sync, so
/// that crashes find written but unsynced bytes; its claims, at `Sync`, make the click
/// they claim durable too.
fn worker(
    ledger: &Ledger,
    program: ProgramId,
    round: u64,
    thread: usize,
    stop: &AtomicBool,
    report: &(dyn Fn(Ack) + Sync),
) {
    let partner = format!("r{round}t{thread}");
    let at = Timestamp::from_unix(CLICKED);
    let claim_at = Timestamp::from_unix(CLICKED + 60);
    let mut claimed: Vec<ClickId> = Vec::new();
    for step in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let unsynced = thread == 0;
        let durability = match unsynced {
            true => Durability::None,
            false => Durability::Sync,
        };
        let Ok(id) = ledger.record_click_with(program, &partner, ClickKind::Click, at, durability)
        else {
            return;
        };
        if unsynced {
            report(Ack::Minted(id));
            if step % 3 == 0 && ledger.flush().is_err() {
                return;
            }
        } else {
            report(Ack::Click(id, partner.clone()));
        }
        if step % 2 == 0 {
            let order = format!("o{round}t{thread}s{step}");
            match ledger.convert(&postback(&order, &id), claim_at) {
                Ok(Outcome::Accepted(_)) => report(Ack::Converted(order, id)),
                Ok(other) => panic!("a fresh click's claim was answered {other:?}"),
                Err(_) => return,
            }
            claimed.push(id);
        }
        if step % 5 == 0 {
            if let Some(earlier) = claimed.last() {
                let order = format!("again{round}t{thread}s{step}");
                match ledger.convert(&postback(&order, earlier), claim_at) {
                    Ok(Outcome::Rejected(_)) => report(Ack::AlreadyClaimed(*earlier)),
                    Ok(other) => panic!("a second claim was answered {other:?}"),
                    Err(_) => return,
                }
            }
        }
    }
}

/// Runs [`THREADS`] workers on `ledger` until `stop` or their first error.
fn workload(ledger: &Ledger, round: u64, stop: &AtomicBool, report: &(dyn Fn(Ack) + Sync)) {
    let Ok(program) = program(ledger) else {
        return;
    };
    thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || worker(ledger, program, round, thread, stop, report));
        }
    });
}

/// Everything acknowledged so far, across rounds.
#[derive(Default)]
struct Acknowledged {
    /// Every ID handed out, acknowledged durable or not.
    minted: HashSet<ClickId>,
    clicks: HashMap<ClickId, String>,
    conversions: Vec<(String, ClickId)>,
    already_claimed: Vec<ClickId>,
}

impl Acknowledged {
    fn add(&mut self, ack: Ack) {
        match ack {
            Ack::Click(id, partner) => {
                assert!(self.minted.insert(id), "{id} handed out twice");
                self.clicks.insert(id, partner);
            }
            Ack::Minted(id) => assert!(self.minted.insert(id), "{id} handed out twice"),
            Ack::Converted(order, id) => self.conversions.push((order, id)),
            Ack::AlreadyClaimed(id) => self.already_claimed.push(id),
        }
    }

    /// Opens `dir` and checks every acknowledged operation against it.
    fn check(&self, dir: &Path, round: u64) {
        let ledger = Ledger::open(dir, Options::default())
            .unwrap_or_else(|error| panic!("round {round}: the open failed: {error}"));
        for (id, partner) in &self.clicks {
            let click = ledger.click(id);
            let found = click.as_ref().map(|click| click.partner.as_str());
            assert_eq!(found, Some(partner.as_str()), "round {round}: click {id}");
        }
        for (order, id) in &self.conversions {
            let by = ledger.claimed_by(id);
            let found = by
                .as_ref()
                .map(|conversion| conversion.order.order_id.as_str());
            assert_eq!(found, Some(order.as_str()), "round {round}: claim of {id}");
        }
        for id in &self.already_claimed {
            assert!(
                ledger.claimed_by(id).is_some(),
                "round {round}: {id} answered claimed"
            );
        }
        let mut claimed = HashSet::new();
        if let Some(program) = ledger.program_id("p1") {
            for conversion in ledger.conversions(program) {
                for id in &conversion.claimed {
                    assert!(claimed.insert(*id), "round {round}: {id} claimed twice");
                }
            }
        }
    }
}

/// splitmix64, for kill moments that differ between rounds yet repeat between runs.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (mixed ^ (mixed >> 31)) % bound
    }
}

fn rounds() -> u64 {
    std::env::var(ROUNDS_ENV)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(ROUNDS_SHORT)
}

/// The child's side of the kill loop: runs the workload until killed, printing every
/// acknowledgement. Run without the parent's variables, it runs the workload briefly
/// in this process and checks a clean close keeps everything acknowledged.
#[test]
fn child_workload() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        let _alone = one_test_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let acknowledged = Mutex::new(Acknowledged::default());
        let stop = AtomicBool::new(false);
        let ledger = Ledger::open(dir.path(), options(Io::Os)).unwrap();
        thread::scope(|scope| {
            scope.spawn(|| {
                thread::sleep(Duration::from_millis(100));
                stop.store(true, Ordering::Relaxed);
            });
            workload(&ledger, 0, &stop, &|ack| {
                acknowledged.lock().unwrap().add(ack)
            });
        });
        drop(ledger);
        let acknowledged = acknowledged.into_inner().unwrap();
        assert!(
            !acknowledged.clicks.is_empty(),
            "the workload acknowledged nothing"
        );
        acknowledged.check(dir.path(), 0);
        return;
    };
    let round = std::env::var(CHILD_ROUND_ENV)
        .ok()
        .and_then(|text| text.parse().ok())
        .expect("the parent names the round");
    let ledger = Ledger::open(&dir, options(Io::Os)).expect("the child opens the ledger");
    let stdout = Mutex::new(std::io::stdout());
    let report = |ack: Ack| {
        // One write per line, well under the pipe's atomic size: a kill never splits one.
        let mut out = stdout.lock().unwrap();
        let written = out.write_all(ack.to_line().as_bytes());
        if written.and_then(|()| out.flush()).is_err() {
            // The parent is gone (it failed a check): nobody will kill this process.
            std::process::exit(1);
        }
    };
    {
        let mut out = stdout.lock().unwrap();
        let _ = out.write_all(format!("{ACK}ready\n").as_bytes());
        let _ = out.flush();
    }
    workload(&ledger, round, &AtomicBool::new(false), &report);
}

/// A child process killed when the test is done with it, even by a failed check.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn killed_at_random_moments_the_ledger_loses_nothing_acknowledged() {
    let _alone = one_test_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = Acknowledged::default();
    let mut random = Random(11);
    let rounds = rounds();
    for round in 1..=rounds {
        let mut child = KilledOnDrop(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "child_workload",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR_ENV, dir.path())
                .env(CHILD_ROUND_ENV, round.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let stdout = child.0.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        // One round in five is killed early, maybe while it opens and replays.
        if random.below(5) > 0 {
            let ready = received
                .iter()
                .find(|line| line.ends_with(&format!("{ACK}ready")));
            assert!(
                ready.is_some(),
                "round {round}: the child died before it was ready"
            );
        }
        thread::sleep(Duration::from_millis(random.below(80)));
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        reader.join().unwrap();
        received
            .try_iter()
            .filter_map(|line| Ack::parse(&line))
            .for_each(|ack| acknowledged.add(ack));
        acknowledged.check(dir.path(), round);
    }
    println!(
        "kill loop: {rounds} rounds, {} IDs minted, {} clicks, {} conversions, {} \
         already_claimed acknowledged",
        acknowledged.minted.len(),
        acknowledged.clicks.len(),
        acknowledged.conversions.len(),
        acknowledged.already_claimed.len()
    );
    assert!(
        !acknowledged.clicks.is_empty(),
        "no round acknowledged anything"
    );
}

#[test]
fn power_cut_at_random_moments_loses_nothing_acknowledged() {
    let _alone = one_test_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = Acknowledged::default();
    let mut random = Random(23);
    let rounds = rounds();
    let (mut files_removed, mut renames_undone, mut bytes_dropped) = (0, 0, 0);
    for round in 1..=rounds {
        let disk = SimulatedDisk::new(round);
        let collected = Mutex::new(Vec::new());
        let delay = Duration::from_millis(random.below(60));
        // Every other round the disk itself cuts the power right after a write, so the
        // cut always finds unsynced bytes; the others cut at a moment of the clock.
        let after_writes = random.below(40) + 1;
        if round % 2 == 0 {
            disk.set_faults(Faults {
                power_cut_after_writes: Some(after_writes),
                ..Faults::default()
            });
        }
        let opened = Ledger::open(dir.path(), options(Io::Simulated(Arc::clone(&disk))));
        let ledger = opened.unwrap_or_else(|error| panic!("round {round}: open: {error}"));
        let lost = thread::scope(|scope| {
            let cut = scope.spawn(|| match round % 2 {
                0 => {
                    // The workload writes until the power is cut; a bound all the same.
                    for _ in 0..10_000 {
                        if let Some(lost) = disk.power_loss() {
                            return lost;
                        }
                        thread::sleep(Duration::from_millis(1));
                    }
                    disk.cut_power()
                }
                _ => {
                    thread::sleep(delay);
                    disk.cut_power()
                }
            });
            workload(&ledger, round, &AtomicBool::new(false), &|ack| {
                collected.lock().unwrap().push(ack)
            });
            cut.join().unwrap()
        });
        ledger.kill();
        files_removed += lost.files_removed.len();
        renames_undone += lost.renames_undone.len();
        bytes_dropped += lost
            .files_cut
            .iter()
            .map(|(_, _, dropped)| dropped)
            .sum::<u64>();
        collected
            .into_inner()
            .unwrap()
            .into_iter()
            .for_each(|ack| acknowledged.add(ack));
        acknowledged.check(dir.path(), round);
    }
    println!(
        "power-loss loop: {rounds} rounds, {} IDs minted, {} clicks, {} conversions \
         acknowledged; \
         {bytes_dropped} unsynced bytes dropped, {files_removed} files removed, \
         {renames_undone} renames undone",
        acknowledged.minted.len(),
        acknowledged.clicks.len(),
        acknowledged.conversions.len(),
    );
    assert!(
        !acknowledged.clicks.is_empty(),
        "no round acknowledged anything"
    );
}
