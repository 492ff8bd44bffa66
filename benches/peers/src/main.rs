//! clickledger side by side with the stores a tracker would use instead, on one
//! workload: preload N clicks (a quarter of them claimed), then claim for a bounded
//! time with a stream that is half valid unclaimed IDs, a quarter already claimed and a
//! quarter unknown. Prints one table: claims/s, p50/p99 latency, disk and resident
//! bytes per click, and clickledger's speed over each peer's at the matching durability
//! level.
//!
//! Run through `benches/peers.sh`, which starts and stops Redis and PostgreSQL; alone,
//! the binary runs the embedded peers and skips the servers it was given no address
//! for. Each peer runs in a child process of its own, so memory one peer freed is not
//! counted for, or hidden from, the next.
//!
//! ```text
//! clickledger-peers [--quick | --long] [--clicks N] [--seconds S] [--out FILE.json]
//!                   [--peers NAME,NAME,...]
//! ```

mod measure;
mod peer;
mod workload;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use workload::{Ids, Op};

/// Clicks preloaded by default, in the quick mode and in the long mode.
const CLICKS_DEFAULT: usize = 2_000_000;
const CLICKS_QUICK: usize = 100_000;
const CLICKS_LONG: usize = 20_000_000;
/// Seconds of claiming per peer, by mode.
const SECONDS_DEFAULT: u64 = 10;
const SECONDS_QUICK: u64 = 1;
const SECONDS_LONG: u64 = 30;

/// Every peer, in table order.
const PEERS: &[&str] = &[
    "clickledger-none",
    "clickledger-interval",
    "clickledger-sync",
    "clickledger-sync-50",
    "clickledger-sync-pipelined",
    "sled",
    "redb-1",
    "redb-1000",
    "redis-always",
    "redis-always-pipelined",
    "redis-everysec",
    "redis-everysec-pipelined",
    "postgres-sync-on",
    "postgres-sync-off",
];

/// How durable an answer is when it is given; peers are compared with clickledger at
/// the same level.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Level {
    /// Answered from memory; durable whenever the store gets to it.
    None,
    /// Durable within a bounded interval (about a second) after the answer.
    Interval,
    /// Durable before the answer.
    Sync,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Interval => "interval",
            Level::Sync => "sync",
        }
    }
}

/// How a peer runs.
pub struct Setup {
    pub name: String,
    pub level: Level,
    /// Concurrent clients (threads, each with its own connection).
    pub clients: usize,
    /// Claims a client sends at once: a transaction's or a pipeline's worth.
    pub batch: usize,
}

/// A server started by `benches/peers.sh`.
pub struct Server {
    /// `host:port` for Redis, a connection string for PostgreSQL.
    pub address: String,
    pub pid: u32,
    pub dir: PathBuf,
}

impl Server {
    /// The server named by `PREFIX_ADDRESS`, `PREFIX_PID` and `PREFIX_DIR`.
    fn from_env(prefix: &str) -> Option<Server> {
        let var = |name: &str| std::env::var(format!("{prefix}_{name}")).ok();
        Some(Server {
            address: var("ADDRESS")?,
            pid: var("PID")?.parse().ok()?,
            dir: var("DIR")?.into(),
        })
    }
}

/// A store under test.
pub trait Peer: Sync {
    fn setup(&self) -> Setup;
    /// The IDs this peer will store; clickledger mints its own.
    fn ids(&mut self, clicks: usize) -> Result<Ids, String> {
        Ok(Ids::synthetic(clicks))
    }
    /// Stores `ids.stored`, with `ids.preclaimed()` already claimed.
    fn preload(&mut self, ids: &Ids) -> Result<(), String>;
    /// A client for one claiming thread.
    fn client(&self) -> Result<Box<dyn Client + '_>, String>;
    /// Bytes the peer's data takes on disk.
    fn disk_bytes(&self) -> u64;
    /// Bytes the peer holds in memory: this process's, for embedded stores.
    fn resident_bytes(&self) -> u64 {
        measure::own_resident_bytes()
    }
    /// True when [`Peer::resident_bytes`] is this process's, so that it includes the
    /// bench's own list of IDs.
    fn is_embedded(&self) -> bool {
        true
    }
}

/// One claiming connection or thread.
pub trait Client: Send {
    /// Claims `ops` (one transaction or round trip when there are several), pushing
    /// whether each was accepted.
    fn claim(&mut self, ops: &[Op], answers: &mut Vec<bool>) -> Result<(), String>;
}

struct Arguments {
    clicks: usize,
    seconds: u64,
    out: Option<PathBuf>,
    peers: Vec<String>,
    only: Option<String>,
}

fn parse_arguments() -> Result<Arguments, String> {
    let mut arguments = Arguments {
        clicks: CLICKS_DEFAULT,
        seconds: SECONDS_DEFAULT,
        out: None,
        peers: PEERS.iter().map(|name| (*name).to_owned()).collect(),
        only: None,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => (arguments.clicks, arguments.seconds) = (CLICKS_QUICK, SECONDS_QUICK),
            "--long" => (arguments.clicks, arguments.seconds) = (CLICKS_LONG, SECONDS_LONG),
            "--clicks" => arguments.clicks = number(&value()?)?,
            "--seconds" => arguments.seconds = number(&value()?)? as u64,
            "--out" => arguments.out = Some(value()?.into()),
            "--peers" => arguments.peers = value()?.split(',').map(str::to_owned).collect(),
            "--only" => arguments.only = Some(value()?),
            // `cargo bench` passes this to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Some(unknown) = arguments
        .peers
        .iter()
        .find(|name| !PEERS.contains(&name.as_str()))
    {
        return Err(format!(
            "unknown peer {unknown:?}; peers: {}",
            PEERS.join(", ")
        ));
    }
    if arguments.clicks < 16 {
        return Err("--clicks must be at least 16".into());
    }
    Ok(arguments)
}

fn number(text: &str) -> Result<usize, String> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))
}

fn main() {
    let result = parse_arguments().and_then(|arguments| match &arguments.only {
        Some(name) => run_one(name, &arguments).map(|row| println!("RESULT {row}")),
        None => run_all(&arguments),
    });
    if let Err(error) = result {
        eprintln!("clickledger-peers: {error}");
        std::process::exit(1);
    }
}

/// Opens the peer called `name`; `None` when its server was not started.
fn open_peer(name: &str) -> Result<Option<Box<dyn Peer>>, String> {
    let ledger = |level, clients, pipelined| -> Result<Option<Box<dyn Peer>>, String> {
        Ok(Some(Box::new(peer::ledger::LedgerPeer::open(
            level, clients, pipelined,
        )?)))
    };
    let two = peer::ledger::CLIENTS;
    let redis = |prefix: &str, level, pipelined| -> Result<Option<Box<dyn Peer>>, String> {
        match Server::from_env(prefix) {
            Some(server) => Ok(Some(Box::new(peer::redis::RedisPeer::connect(
                server, level, pipelined,
            )?))),
            None => Ok(None),
        }
    };
    let postgres = |level| -> Result<Option<Box<dyn Peer>>, String> {
        match Server::from_env("POSTGRES") {
            Some(server) => Ok(Some(Box::new(peer::postgres::PostgresPeer::connect(
                server, level,
            )?))),
            None => Ok(None),
        }
    };
    match name {
        "clickledger-none" => ledger(Level::None, two, false),
        "clickledger-interval" => ledger(Level::Interval, two, false),
        // As many clients as PostgreSQL's, then as Redis's.
        "clickledger-sync" => ledger(Level::Sync, 8, false),
        "clickledger-sync-50" => ledger(Level::Sync, 50, false),
        "clickledger-sync-pipelined" => ledger(Level::Sync, two, true),
        "sled" => Ok(Some(Box::new(peer::sled::SledPeer::open()?))),
        "redb-1" => Ok(Some(Box::new(peer::redb::RedbPeer::open(1)?))),
        "redb-1000" => Ok(Some(Box::new(peer::redb::RedbPeer::open(1000)?))),
        "redis-always" => redis("REDIS_ALWAYS", Level::Sync, false),
        "redis-always-pipelined" => redis("REDIS_ALWAYS", Level::Sync, true),
        "redis-everysec" => redis("REDIS_EVERYSEC", Level::Interval, false),
        "redis-everysec-pipelined" => redis("REDIS_EVERYSEC", Level::Interval, true),
        "postgres-sync-on" => postgres(Level::Sync),
        "postgres-sync-off" => postgres(Level::Interval),
        other => Err(format!("unknown peer {other:?}")),
    }
}

/// Preloads and runs one peer in this process; the row of the table, as JSON.
fn run_one(name: &str, arguments: &Arguments) -> Result<Value, String> {
    let Some(mut peer) = open_peer(name)? else {
        return Ok(json!({ "peer": name, "skipped": "its server was not started" }));
    };
    let (resident_before, disk_before) = (peer.resident_bytes(), peer.disk_bytes());
    let preload_started = Instant::now();
    let ids = peer.ids(arguments.clicks)?;
    peer.preload(&ids)?;
    let preload_seconds = preload_started.elapsed().as_secs_f64();
    let mut resident = peer.resident_bytes().saturating_sub(resident_before);
    if peer.is_embedded() {
        resident = resident.saturating_sub(ids.heap_bytes());
    }
    let disk = peer.disk_bytes().saturating_sub(disk_before);

    let run = measure::run(&*peer, &ids, Duration::from_secs(arguments.seconds))?;
    let setup = peer.setup();
    let clicks = arguments.clicks as f64;
    Ok(json!({
        "peer": name,
        "name": setup.name,
        "level": setup.level.as_str(),
        "clients": setup.clients,
        "batch": setup.batch,
        "clicks": arguments.clicks,
        "preload_seconds": preload_seconds,
        "ops": run.ops,
        "seconds": run.elapsed.as_secs_f64(),
        "ops_per_second": run.ops as f64 / run.elapsed.as_secs_f64(),
        "p50_us": run.latency.value_at_quantile(0.50) as f64 / 1000.0,
        "p99_us": run.latency.value_at_quantile(0.99) as f64 / 1000.0,
        "p999_us": run.latency.value_at_quantile(0.999) as f64 / 1000.0,
        "disk_bytes_per_click": disk as f64 / clicks,
        "resident_bytes_per_click": resident as f64 / clicks,
    }))
}

/// Runs every chosen peer in a child process, then prints the table and writes the
/// rows as JSON.
fn run_all(arguments: &Arguments) -> Result<(), String> {
    let mut rows = Vec::new();
    for name in &arguments.peers {
        eprintln!("== {name}");
        let row = run_child(name, arguments).unwrap_or_else(|error| {
            eprintln!("{name} failed: {error}");
            json!({ "peer": name, "failed": error })
        });
        rows.push(row);
    }
    add_ratios(&mut rows);
    print_table(&rows, arguments);
    if let Some(out) = &arguments.out {
        let text = serde_json::to_string_pretty(&json!({
            "clicks": arguments.clicks,
            "seconds_per_peer": arguments.seconds,
            "rows": rows,
        }))
        .map_err(|error| error.to_string())?;
        std::fs::write(out, text).map_err(|error| format!("writing {}: {error}", out.display()))?;
        eprintln!("rows written to {}", out.display());
    }
    Ok(())
}

/// Runs `self --only NAME` and reads its `RESULT` line; kills it past its time budget.
fn run_child(name: &str, arguments: &Arguments) -> Result<Value, String> {
    let executable = std::env::current_exe().map_err(|error| error.to_string())?;
    let mut child = Command::new(executable)
        .args(["--only", name])
        .args(["--clicks", &arguments.clicks.to_string()])
        .args(["--seconds", &arguments.seconds.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("starting the child: {error}"))?;
    let budget = child_budget(arguments);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|error| error.to_string())? {
            break status;
        }
        if started.elapsed() > budget {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("stopped after {} s", budget.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_string(&mut output)
            .map_err(|error| error.to_string())?;
    }
    if !status.success() {
        return Err(format!("exited with {status}"));
    }
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .ok_or("no RESULT line")?;
    serde_json::from_str(line).map_err(|error| error.to_string())
}

/// Time a child may take: its run, plus a preload allowance of a minute and a second
/// for every 20,000 clicks (PostgreSQL's COPY and index build are the slowest).
fn child_budget(arguments: &Arguments) -> Duration {
    Duration::from_secs(arguments.seconds + 60 + arguments.clicks as u64 / 20_000)
}

/// Adds to every row clickledger's claims/s divided by the row's, clickledger taken at
/// the row's durability level, batched (pipelined, or many claims per transaction) or
/// not as the row is when it ran both ways, and with the client count nearest the row's.
fn add_ratios(rows: &mut [Value]) {
    let batched = |row: &Value| row["batch"].as_u64().is_some_and(|batch| batch > 1);
    let clients = |row: &Value| row["clients"].as_u64().unwrap_or(1);
    let ledger_rate = |peer_row: &Value, rows: &[Value]| {
        rows.iter()
            .filter(|row| {
                row["peer"]
                    .as_str()
                    .is_some_and(|peer| peer.starts_with("clickledger"))
                    && row["level"] == peer_row["level"]
            })
            .min_by_key(|row| {
                let other_shape = batched(row) != batched(peer_row);
                (other_shape, clients(row).abs_diff(clients(peer_row)))
            })
            .and_then(|row| row["ops_per_second"].as_f64())
    };
    let rates: Vec<Option<f64>> = rows
        .iter()
        .map(|row| {
            let ours = ledger_rate(row, rows)?;
            Some(ours / row["ops_per_second"].as_f64()?)
        })
        .collect();
    for (row, ratio) in rows.iter_mut().zip(rates) {
        if let Some(ratio) = ratio {
            row["clickledger_speedup"] = json!(ratio);
        }
    }
}

fn print_table(rows: &[Value], arguments: &Arguments) {
    println!(
        "\n{} clicks preloaded (a quarter claimed), {} s of claims per peer; \
         claims: 1/2 valid unclaimed, 1/4 already claimed, 1/4 unknown\n",
        arguments.clicks, arguments.seconds
    );
    println!(
        "| peer | durability | clients | claims/s | p50 µs | p99 µs | disk B/click | \
         resident B/click | clickledger ÷ peer |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let peer = row["peer"].as_str().unwrap_or("?");
        if let Some(reason) = row["skipped"].as_str().or(row["failed"].as_str()) {
            println!("| {peer} | | | {reason} | | | | | |");
            continue;
        }
        let number = |key: &str, decimals: usize| {
            row[key]
                .as_f64()
                .map_or("-".to_owned(), |value| format!("{value:.decimals$}"))
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row["name"].as_str().unwrap_or(peer),
            row["level"].as_str().unwrap_or("?"),
            row["clients"],
            number("ops_per_second", 0),
            number("p50_us", 1),
            number("p99_us", 1),
            number("disk_bytes_per_click", 1),
            number("resident_bytes_per_click", 1),
            row["clickledger_speedup"]
                .as_f64()
                .map_or("-".to_owned(), format_ratio),
        );
    }
}

/// Two decimals, or three significant digits below 0.1, so a peer far ahead still shows.
fn format_ratio(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("{ratio:.3}x")
    } else {
        format!("{ratio:.2}x")
    }
}
