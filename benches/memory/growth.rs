//! Growth mode of the memory benchmark: claims/s, claim latency and bytes per click at
//! growing numbers of clicks held, to show a claim costs the same at any size.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use clickledger::{
    ClickId, ClickKind, Currency, Ledger, Order, Postback, ProgramSettings, Timestamp,
};

use super::support::{buffered, resident_bytes};
use super::{FIRST_CLICK, PARTNERS, PROGRAMS};

/// Sizes measured, by mode.
const SIZES_DEFAULT: &[u64] = &[1_000_000, 10_000_000];
const SIZES_LONG: &[u64] = &[1_000_000, 10_000_000, 100_000_000];
const SIZES_QUICK: &[u64] = &[100_000, 1_000_000];

/// Seconds of claiming per size, by mode.
const CLAIM_SECONDS_DEFAULT: f64 = 3.0;
const CLAIM_SECONDS_QUICK: f64 = 0.5;

/// IDs kept for claiming, spread evenly over the clicks: the bench's own memory stays
/// fixed (and is subtracted) whatever the size, and the claims still touch every part
/// of the slot tables.
const SAMPLE_IDS_MAX: u64 = 1 << 20;

/// Three days of clicks, as in the default mode.
const SPREAD_SECONDS: f64 = (3 * 86_400) as f64;

/// What one size gave.
struct Row {
    clicks: u64,
    record_seconds: f64,
    resident_bytes_per_click: f64,
    log_bytes_per_click: f64,
    claims: u64,
    claims_per_second: f64,
    p50_us: f64,
    p99_us: f64,
}

pub fn run(arguments: &[String]) {
    let has = |flag: &str| arguments.iter().any(|argument| argument == flag);
    let value = |flag: &str| {
        let index = arguments.iter().position(|argument| argument == flag)?;
        arguments.get(index + 1)
    };
    let seconds = if has("--quick") {
        CLAIM_SECONDS_QUICK
    } else {
        CLAIM_SECONDS_DEFAULT
    };
    if let Some(clicks) = value("--growth-one").and_then(|text| text.parse().ok()) {
        let row = measure(clicks, Duration::from_secs_f64(seconds));
        println!("ROW {}", row_json(&row));
        return;
    }
    let sizes = if has("--quick") {
        SIZES_QUICK
    } else if has("--long") {
        SIZES_LONG
    } else {
        SIZES_DEFAULT
    };

    println!("| clicks held | claims/s | p50 µs | p99 µs | resident B/click | log B/click |");
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for &clicks in sizes {
        let row = measure_in_child(clicks, has("--quick"));
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            row["clicks"],
            row["claims_per_second"].as_f64().unwrap_or(0.0),
            row["p50_us"].as_f64().unwrap_or(0.0),
            row["p99_us"].as_f64().unwrap_or(0.0),
            row["resident_bytes_per_click"].as_f64().unwrap_or(0.0),
            row["log_bytes_per_click"].as_f64().unwrap_or(0.0),
        );
        rows.push(row);
    }
    if let Some(out) = value("--out") {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "rows": rows }))
            .expect("rows as JSON");
        std::fs::write(out, text).expect("writing the growth rows");
        println!("rows written to {out}");
    }
}

/// Measures one size in a child process of its own: memory a smaller size freed (its
/// conversions, about 100 bytes each) would otherwise be reused and hide the growth.
fn measure_in_child(clicks: u64, quick: bool) -> serde_json::Value {
    let executable = std::env::current_exe().expect("the bench's own path");
    let mut command = std::process::Command::new(executable);
    command.args(["--growth", "--growth-one", &clicks.to_string()]);
    if quick {
        command.arg("--quick");
    }
    let output = command.output().expect("running one size");
    assert!(output.status.success(), "size {clicks} failed: {output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("ROW "))
        .expect("a ROW line");
    serde_json::from_str(line).expect("a JSON row")
}

/// Records `clicks` in a fresh ledger, then claims sampled ones for `duration`.
fn measure(clicks: u64, duration: Duration) -> Row {
    let dir = tempfile::tempdir().expect("temporary directory");
    // Claims from the log's buffer: how the in-memory cost grows, without the disk.
    let ledger = Ledger::open(dir.path(), buffered()).expect("open");
    let programs: Vec<_> = (0..PROGRAMS)
        .map(|index| {
            let settings = ProgramSettings::new(&format!("p{index}"));
            ledger
                .register_program_with_key(settings, &format!("key{index}"))
                .expect("program")
        })
        .collect();
    let partners: Vec<String> = (0..PARTNERS)
        .map(|index| format!("partner-{index}"))
        .collect();

    let stride = clicks.div_ceil(SAMPLE_IDS_MAX);
    let mut sample: Vec<(ClickId, u32)> = Vec::with_capacity((clicks / stride + 1) as usize);
    let sample_bytes = (sample.capacity() * std::mem::size_of::<(ClickId, u32)>()) as u64;
    let (resident_before, log_before) = (resident_bytes(), ledger.stats().log_bytes);
    let started = Instant::now();
    let seconds_per_click = SPREAD_SECONDS / clicks as f64;
    for index in 0..clicks {
        let at = Timestamp::from_unix(FIRST_CLICK + (index as f64 * seconds_per_click) as u32);
        let program = (index % u64::from(PROGRAMS)) as u32;
        let partner = &partners[(index % PARTNERS) as usize];
        let id = ledger
            .record_click(programs[program as usize], partner, ClickKind::Click, at)
            .expect("record");
        if index % stride == 0 {
            sample.push((id, program));
        }
    }
    ledger.sync().expect("sync");
    let record_seconds = started.elapsed().as_secs_f64();
    let resident = resident_bytes()
        .saturating_sub(resident_before)
        .saturating_sub(sample_bytes);
    let log = ledger.stats().log_bytes - log_before;

    let claiming = Instant::now();
    let mut latencies = claim_for(&ledger, &sample, duration);
    let claim_seconds = claiming.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let claims = latencies.len() as u64;
    Row {
        clicks,
        record_seconds,
        resident_bytes_per_click: resident as f64 / clicks as f64,
        log_bytes_per_click: log as f64 / clicks as f64,
        claims,
        claims_per_second: claims as f64 / claim_seconds,
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
    }
}

/// Claims sampled IDs in a scattered order, each once, until `duration` is over;
/// returns each claim's latency in nanoseconds.
fn claim_for(ledger: &Ledger, sample: &[(ClickId, u32)], duration: Duration) -> Vec<u32> {
    let eur = Currency::parse("EUR").expect("EUR");
    let mut postback = Postback {
        key: String::new(),
        order: Order {
            amount_minor: Some(1000),
            ..Order::new("0", eur)
        },
        click_ids: vec![sample[0].0],
        ignored_params: Vec::new(),
    };
    let at = Timestamp::from_unix(FIRST_CLICK + SPREAD_SECONDS as u32 + 60);
    let mut latencies = Vec::with_capacity(sample.len());
    let deadline = Instant::now() + duration;
    // A step coprime with any power of two visits every sampled ID once, out of order.
    let step = 2_654_435_761usize;
    for turn in 0..sample.len() {
        if Instant::now() >= deadline {
            break;
        }
        let (id, program) = sample[turn.wrapping_mul(step) % sample.len()];
        postback.key.clear();
        let _ = write!(postback.key, "key{program}");
        postback.order.order_id.clear();
        let _ = write!(postback.order.order_id, "o{turn}");
        postback.click_ids[0] = id;
        let started = Instant::now();
        let outcome = ledger.convert(&postback, at).expect("convert");
        latencies.push(started.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32);
        assert_eq!(outcome.status(), "accepted", "claim {turn}");
    }
    latencies
}

fn percentile(sorted: &[u32], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * quantile).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

fn row_json(row: &Row) -> serde_json::Value {
    serde_json::json!({
        "clicks": row.clicks,
        "record_seconds": row.record_seconds,
        "resident_bytes_per_click": row.resident_bytes_per_click,
        "log_bytes_per_click": row.log_bytes_per_click,
        "claims": row.claims,
        "claims_per_second": row.claims_per_second,
        "p50_us": row.p50_us,
        "p99_us": row.p99_us,
    })
}
