//! Time to open a ledger, and its resident memory once open, with and without a
//! checkpoint (goal: 100 million clicks open in under 5 s from a checkpoint, at most 12
//! resident bytes per click).
//!
//! ```text
//! cargo bench --bench open                          # 10 and 100 million clicks
//! cargo bench --bench open -- 1000000               # the sizes given
//! cargo bench --bench open -- --quick               # 200,000 clicks (CI)
//! cargo bench --bench open -- --dir /big/disk 1e8   # build the ledgers there
//! ```
//!
//! For each size it records the clicks (three days of them, over 16 programs and 64
//! partners, with 0.2% converting), syncs and closes the ledger; then opens it in a
//! fresh process (a full replay), writes a checkpoint, and opens it again in a fresh
//! process (from the checkpoint). Each open runs in its own process so that its
//! resident set is its own. The files are in the page cache at each open (they were
//! just written): the figures are those of a warm open. 100 million clicks take about
//! 3.2 GB of log and 0.8 GB of checkpoint on disk. Linux only (reads `/proc`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod support;

use clickledger::{ClickKind, Ledger, Options, ProgramSettings, Timestamp};
use support::{buffered, resident_bytes};

const SIZES_DEFAULT: [u64; 2] = [10_000_000, 100_000_000];
const SIZE_QUICK: u64 = 200_000;
const FIRST_CLICK: u32 = 1_740_787_200; // 2025-03-01T00:00:00Z
const PROGRAMS: u32 = 16;
const PARTNERS: u64 = 64;
/// One click in this many converts (0.2%, about the field's rate).
const CLICKS_PER_CONVERSION: u64 = 500;
/// The argument that makes the binary a child that only opens a ledger.
const OPEN_ONLY: &str = "--open-only";

/// What one open in a child process measured.
struct Opened {
    seconds: f64,
    resident_bytes: u64,
    records_replayed: u64,
    from_checkpoint: bool,
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let Some(index) = arguments.iter().position(|argument| argument == OPEN_ONLY) {
        let dir = arguments.get(index + 1).expect("--open-only DIR");
        open_and_report(Path::new(dir));
        return;
    }
    let quick = arguments.iter().any(|argument| argument == "--quick");
    let base = arguments
        .iter()
        .position(|argument| argument == "--dir")
        .and_then(|index| arguments.get(index + 1))
        .map(PathBuf::from);
    let mut sizes: Vec<u64> = arguments
        .iter()
        .filter_map(|argument| argument.parse::<f64>().ok())
        .map(|size| size as u64)
        .filter(|size| *size > 0)
        .collect();
    if sizes.is_empty() {
        sizes = if quick {
            vec![SIZE_QUICK]
        } else {
            SIZES_DEFAULT.to_vec()
        };
    }
    for clicks in sizes {
        measure(clicks, base.as_deref());
    }
}

fn measure(clicks: u64, base: Option<&Path>) {
    let scratch = match base {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let dir = scratch.path();
    let started = Instant::now();
    build(dir, clicks);
    println!(
        "{clicks} clicks recorded in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let replayed = open_in_child(dir);
    assert!(!replayed.from_checkpoint);
    let ledger = Ledger::open(dir, Options::default()).expect("open to checkpoint");
    let report = ledger.checkpoint().expect("checkpoint");
    drop(ledger);
    let loaded = open_in_child(dir);
    assert!(
        loaded.from_checkpoint,
        "the open did not use the checkpoint"
    );

    println!(
        "checkpoint: {} bytes ({:.2} per click), written in {:.2} s, clicks and claims \
         blocked {:.3} s",
        report.bytes,
        report.bytes as f64 / clicks as f64,
        report.elapsed_us as f64 / 1e6,
        report.blocked_us as f64 / 1e6
    );
    for (how, opened) in [("full replay", &replayed), ("from checkpoint", &loaded)] {
        println!(
            "open, {how:<16} {:>7.2} s   {:>12} records replayed   resident {:>6.1} MiB \
             = {:.2} bytes/click",
            opened.seconds,
            opened.records_replayed,
            opened.resident_bytes as f64 / (1 << 20) as f64,
            opened.resident_bytes as f64 / clicks as f64
        );
    }
    println!();
}

/// Records `clicks` clicks over three days, with a conversion every
/// [`CLICKS_PER_CONVERSION`], then syncs and closes the ledger.
fn build(dir: &Path, clicks: u64) {
    // Buffered, synced once at the end: the build is set-up, not what is measured.
    let ledger = Ledger::open(dir, buffered()).expect("open");
    let programs: Vec<_> = (0..PROGRAMS)
        .map(|index| {
            let key = format!("key-{index}");
            let settings = ProgramSettings::new(&format!("p{index}"));
            let id = ledger
                .register_program_with_key(settings, &key)
                .expect("program");
            (id, key)
        })
        .collect();
    let partners: Vec<String> = (0..PARTNERS)
        .map(|index| format!("partner-{index}"))
        .collect();
    let seconds_per_click = (3 * 86_400) as f64 / clicks as f64;
    for index in 0..clicks {
        let at = Timestamp::from_unix(FIRST_CLICK + (index as f64 * seconds_per_click) as u32);
        let (program, key) = &programs[(index % u64::from(PROGRAMS)) as usize];
        let partner = &partners[(index % PARTNERS) as usize];
        let id = ledger
            .record_click(*program, partner, ClickKind::Click, at)
            .expect("record");
        if index % CLICKS_PER_CONVERSION == 0 {
            let query = format!("key={key}&id=order-{index}&amount=10&currency=EUR&cids={id}");
            let outcome = ledger.convert_query(&query, at.plus_seconds(60));
            assert_eq!(outcome.expect("convert").status(), "accepted");
        }
    }
    ledger.sync().expect("sync");
}

/// Runs this binary again to open `dir` alone, and reads what it measured.
fn open_in_child(dir: &Path) -> Opened {
    let executable = std::env::current_exe().expect("the bench's own path");
    let output = Command::new(executable)
        .arg(OPEN_ONLY)
        .arg(dir)
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let field = |index: usize| fields.get(index).copied().unwrap_or("0");
    Opened {
        seconds: field(0).parse().unwrap_or(f64::NAN),
        resident_bytes: field(1).parse().unwrap_or(0),
        records_replayed: field(2).parse().unwrap_or(0),
        from_checkpoint: field(3) == "checkpoint",
    }
}

/// The child: opens the ledger, then prints seconds, resident bytes, records replayed
/// and where it started, on one line.
fn open_and_report(dir: &Path) {
    let started = Instant::now();
    let ledger = Ledger::open(dir, Options::default()).expect("open");
    let seconds = started.elapsed().as_secs_f64();
    let start = if ledger.recovery().checkpoint.is_some() {
        "checkpoint"
    } else {
        "log"
    };
    println!(
        "{seconds} {} {} {start}",
        resident_bytes(),
        ledger.recovery().records
    );
}
