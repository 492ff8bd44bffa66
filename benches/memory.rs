//! Resident memory and log bytes per click, and how claims/s and memory grow with the
//! clicks held.
//!
//! Default mode: records N clicks (default 10,000,000; `cargo bench --bench memory --
//! 1000000` for fewer) into a fresh ledger spread over a few programs, partners and
//! days, and prints the growth of the resident set size and of the log, per click, and
//! the time to reopen.
//!
//! Growth mode (`-- --growth`): for 1 and 10 million clicks (and 100 million with
//! `--long`; 100,000 and 1 million with `--quick`), a fresh ledger each, records the
//! clicks, then claims a spread sample of them, one-ID postbacks, for a bounded time,
//! and prints claims/s, claim latency and bytes per click. `--out FILE` writes the rows
//! as JSON for `benches/plot.py`. Linux only (reads `/proc/self/statm`).

use std::time::Instant;

use clickledger::{ClickKind, Ledger, Options, ProgramSettings, Timestamp};

#[path = "memory/growth.rs"]
mod growth;
mod support;

use support::{buffered, resident_bytes};

const CLICKS_DEFAULT: u64 = 10_000_000;
const FIRST_CLICK: u32 = 1_740_787_200; // 2025-03-01T00:00:00Z
const PROGRAMS: u32 = 16;
const PARTNERS: u64 = 64;

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.iter().any(|argument| argument == "--growth") {
        growth::run(&arguments);
        return;
    }
    let clicks = arguments
        .iter()
        .find_map(|argument| argument.parse::<u64>().ok())
        .unwrap_or(CLICKS_DEFAULT);
    let dir = tempfile::tempdir().expect("temporary directory");
    // Buffered, synced once at the end: the bulk load this benchmark measures.
    let ledger = Ledger::open(dir.path(), buffered()).expect("open");
    let programs: Vec<_> = (0..PROGRAMS)
        .map(|index| {
            ledger
                .register_program(ProgramSettings::new(&format!("p{index}")))
                .expect("program")
                .id
        })
        .collect();
    let partners: Vec<String> = (0..PARTNERS)
        .map(|index| format!("partner-{index}"))
        .collect();

    let resident_before = resident_bytes();
    let log_before = ledger.stats().log_bytes;
    let started = Instant::now();
    // Three days' worth, evenly spread, as a tracker sees them.
    let seconds_per_click = (3 * 86_400) as f64 / clicks as f64;
    for index in 0..clicks {
        let at = Timestamp::from_unix(FIRST_CLICK + (index as f64 * seconds_per_click) as u32);
        let program = programs[(index % u64::from(PROGRAMS)) as usize];
        let partner = &partners[(index % PARTNERS) as usize];
        ledger
            .record_click(program, partner, ClickKind::Click, at)
            .expect("record");
    }
    ledger.sync().expect("sync");
    let elapsed = started.elapsed();
    let stats = ledger.stats();

    let resident = resident_bytes().saturating_sub(resident_before);
    println!("clicks recorded:          {clicks}");
    println!(
        "elapsed:                  {:.2} s ({:.0} clicks/s, one thread, buffered + final sync)",
        elapsed.as_secs_f64(),
        clicks as f64 / elapsed.as_secs_f64()
    );
    println!(
        "resident growth:          {resident} bytes = {:.2} bytes/click",
        resident as f64 / clicks as f64
    );
    println!(
        "slot tables allocated:    {} bytes = {:.2} bytes/click",
        stats.slot_table_bytes,
        stats.slot_table_bytes as f64 / clicks as f64
    );
    println!(
        "log growth:               {} bytes = {:.2} bytes/click",
        stats.log_bytes - log_before,
        (stats.log_bytes - log_before) as f64 / clicks as f64
    );

    drop(ledger);
    let started = Instant::now();
    let reopened = Ledger::open(dir.path(), Options::default()).expect("reopen");
    let elapsed = started.elapsed();
    assert_eq!(reopened.stats().clicks, clicks);
    let records = reopened.recovery().records as f64;
    println!(
        "reopen (full replay):     {:.2} s = {:.3} s per million records",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / records
    );
}
