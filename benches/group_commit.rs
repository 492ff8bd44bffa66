//! Durable claims: group commit against one fdatasync per claim, in one run.
//!
//! Measures, on the disk holding the data directory (a temporary directory, or
//! `CLICKLEDGER_BENCH_DIR`):
//!
//! 1. the raw `fdatasync` latency of that disk (append 100 bytes, sync);
//! 2. one fdatasync per claim: one caller claiming at `Sync`, so every claim waits for
//!    a sync of its own, as an engine without group commit would;
//! 3. 1, 8 and 64 concurrent callers claiming at `Sync`: claims per second, p50 and p99
//!    latency, and the ratio to (2);
//! 4. one async caller keeping 1,024 claims in flight through `Ledger::convert_pending`.
//!
//! `cargo bench --bench group_commit` runs each case for 3 s; `-- --quick` (what CI
//! runs) for 0.3 s. Every claim is of a fresh click, minted and synced beforehand.
//!
//! The ledgers run on `SimulatedDisk` without faults: it performs the real writes and
//! syncs (one lock more per batch) and counts the syncs, so each case also reports how
//! many claims one `fdatasync` answered, a figure that does not move with the disk's
//! latency the way claims per second do on a shared machine.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clickledger::{
    ClickId, ClickKind, Currency, Durability, Io, Ledger, Options, Order, Outcome, Postback,
    ProgramSettings, SimulatedDisk, Timestamp,
};

const CLICKED: u32 = 1_740_823_200;
const IN_FLIGHT: usize = 1_024;
/// Goals from the design: 64 callers at 40x one fdatasync per claim; 500,000 claims/s
/// with 1,024 in flight.
const GROUP_RATIO_GOAL: f64 = 40.0;
const IN_FLIGHT_GOAL_PER_SECOND: f64 = 500_000.0;

struct Settings {
    case_duration: Duration,
    /// Clicks minted before each case: more than it can claim in its duration.
    clicks_per_case: usize,
    raw_syncs: usize,
}

/// What one case measured.
struct Measured {
    claims: usize,
    /// `fdatasync`s of the ledger's files during the case (0 when not counted).
    syncs: u64,
    elapsed: Duration,
    /// Each claim's latency, sorted.
    latencies: Vec<Duration>,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.claims as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, fraction: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * fraction).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

/// A ledger with one program and `clicks` fresh, synced clicks.
struct Fixture {
    ledger: Ledger,
    disk: Arc<SimulatedDisk>,
    clicks: Vec<ClickId>,
    next: AtomicUsize,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new(clicks: usize) -> Fixture {
        let dir = match std::env::var_os("CLICKLEDGER_BENCH_DIR") {
            Some(parent) => tempfile::tempdir_in(parent),
            None => tempfile::tempdir(),
        }
        .expect("temporary directory");
        let disk = SimulatedDisk::new(1);
        let options = Options {
            io: Io::Simulated(Arc::clone(&disk)),
            ..Options::default()
        };
        let ledger = Ledger::open(dir.path(), options).expect("open");
        let program = ledger
            .register_program_with_key(ProgramSettings::new("p1"), "pk1")
            .expect("program");
        let at = Timestamp::from_unix(CLICKED);
        let clicks = (0..clicks)
            .map(|_| {
                ledger
                    .record_click_with(program, "a7", ClickKind::Click, at, Durability::None)
                    .expect("click")
            })
            .collect();
        ledger.sync().expect("sync");
        Fixture {
            ledger,
            disk,
            clicks,
            next: AtomicUsize::new(0),
            _dir: dir,
        }
    }

    /// A postback claiming the next fresh click, or `None` when they are used up.
    fn next_postback(&self) -> Option<Postback> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let id = *self.clicks.get(index)?;
        let eur = Currency::parse("EUR").expect("EUR");
        Some(Postback {
            key: "pk1".to_owned(),
            order: Order {
                amount_minor: Some(1_000),
                ..Order::new(&format!("o{index}"), eur)
            },
            click_ids: vec![id],
            ignored_params: Vec::new(),
        })
    }
}

fn claim_at() -> Timestamp {
    Timestamp::from_unix(CLICKED + 60)
}

fn accepted(outcome: &Outcome) {
    assert!(matches!(outcome, Outcome::Accepted(_)), "{outcome:?}");
}

/// `callers` threads claiming at `Sync` until the time or the clicks run out.
fn blocking_callers(settings: &Settings, callers: usize) -> Measured {
    let fixture = Fixture::new(settings.clicks_per_case);
    let latencies = Mutex::new(Vec::new());
    let syncs_before = fixture.disk.file_syncs();
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..callers {
            scope.spawn(|| {
                let mut mine = Vec::new();
                while started.elapsed() < settings.case_duration {
                    let Some(postback) = fixture.next_postback() else {
                        break;
                    };
                    let asked = Instant::now();
                    let outcome = fixture
                        .ledger
                        .convert(&postback, claim_at())
                        .expect("claim");
                    mine.push(asked.elapsed());
                    accepted(&outcome);
                }
                latencies.lock().expect("latencies").extend(mine);
            });
        }
    });
    let syncs = fixture.disk.file_syncs() - syncs_before;
    finish(started, latencies.into_inner().expect("latencies"), syncs)
}

/// One caller keeping [`IN_FLIGHT`] claims pending, waiting on the oldest when full.
fn async_in_flight(settings: &Settings) -> Measured {
    let fixture = Fixture::new(settings.clicks_per_case);
    let mut pending = VecDeque::with_capacity(IN_FLIGHT);
    let mut latencies = Vec::new();
    let syncs_before = fixture.disk.file_syncs();
    let started = Instant::now();
    let mut settle = |(asked, answer): (Instant, clickledger::Pending<Outcome>)| {
        accepted(&answer.wait().expect("durable"));
        latencies.push(asked.elapsed());
    };
    while started.elapsed() < settings.case_duration {
        let Some(postback) = fixture.next_postback() else {
            break;
        };
        let answer = fixture.ledger.convert_pending(&postback, claim_at());
        pending.push_back((Instant::now(), answer.expect("claim")));
        if pending.len() == IN_FLIGHT {
            settle(pending.pop_front().expect("full"));
        }
    }
    pending.into_iter().for_each(&mut settle);
    let syncs = fixture.disk.file_syncs() - syncs_before;
    finish(started, latencies, syncs)
}

fn finish(started: Instant, mut latencies: Vec<Duration>, syncs: u64) -> Measured {
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Measured {
        claims: latencies.len(),
        syncs,
        elapsed,
        latencies,
    }
}

/// Appends 100 bytes and `fdatasync`s, `count` times, beside where the ledgers live.
fn raw_fdatasync(count: usize) -> Measured {
    let dir = match std::env::var_os("CLICKLEDGER_BENCH_DIR") {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let mut file = File::create(dir.path().join("raw")).expect("file");
    let started = Instant::now();
    let latencies = (0..count)
        .map(|_| {
            let asked = Instant::now();
            file.write_all(&[7u8; 100]).expect("write");
            file.sync_data().expect("fdatasync");
            asked.elapsed()
        })
        .collect();
    finish(started, latencies, count as u64)
}

fn row(name: &str, measured: &Measured, baseline: Option<f64>) {
    let ratio = baseline.map_or_else(String::new, |rate| {
        format!("{:.1}x", measured.per_second() / rate)
    });
    let per_sync = match measured.syncs {
        0 => String::new(),
        syncs => format!("{:.1}", measured.claims as f64 / syncs as f64),
    };
    println!(
        "| {name} | {} | {:.0} | {:.1} | {:.1} | {per_sync} | {ratio} |",
        measured.claims,
        measured.per_second(),
        measured.percentile(0.50).as_secs_f64() * 1e6,
        measured.percentile(0.99).as_secs_f64() * 1e6,
    );
}

fn main() {
    let quick = std::env::args().any(|argument| argument == "--quick");
    let settings = match quick {
        true => Settings {
            case_duration: Duration::from_millis(300),
            clicks_per_case: 200_000,
            raw_syncs: 100,
        },
        false => Settings {
            case_duration: Duration::from_secs(3),
            clicks_per_case: 2_000_000,
            raw_syncs: 2_000,
        },
    };
    let where_ = std::env::var("CLICKLEDGER_BENCH_DIR")
        .unwrap_or_else(|_| "the temporary directory".to_owned());
    println!(
        "durable claims on the disk of {where_}; {:?} per case",
        settings.case_duration
    );
    println!();
    println!(
        "| case | ops | ops/s | p50 µs | p99 µs | ops per fdatasync | vs one fdatasync per claim |"
    );
    println!("|---|---|---|---|---|---|---|");
    let raw = raw_fdatasync(settings.raw_syncs);
    row("raw fdatasync (100-byte append + sync)", &raw, None);
    let single = blocking_callers(&settings, 1);
    let baseline = single.per_second();
    row("1 caller, Sync: one fdatasync per claim", &single, None);
    let mut at_64 = 0.0;
    for callers in [8, 64] {
        let measured = blocking_callers(&settings, callers);
        row(
            &format!("{callers} callers, Sync"),
            &measured,
            Some(baseline),
        );
        at_64 = measured.per_second();
    }
    let in_flight = async_in_flight(&settings);
    row(
        "1,024 in flight (convert_pending)",
        &in_flight,
        Some(baseline),
    );
    println!();
    println!(
        "goals: 64 callers at {GROUP_RATIO_GOAL}x one fdatasync per claim: {:.1}x; \
         1,024 in flight at {IN_FLIGHT_GOAL_PER_SECOND} claims/s: {:.0}",
        at_64 / baseline,
        in_flight.per_second()
    );
}
