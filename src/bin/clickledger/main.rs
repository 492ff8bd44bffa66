//! `clickledger`: the command-line tool around the ledger.
//!
//! - `replay talkingdata FILE` records a TalkingData AdTracking click log into a new ledger;
//! - `simulate` does the same with a generated workload of the same shape (no download);
//! - `stats` reopens a ledger and shows what it holds;
//! - `verify` lists every problem of a ledger's log, changing nothing;
//! - `repair` opens a ledger with a recovery mode and says what it removed;
//! - `checkpoint` writes a checkpoint, so that the next open replays only what follows;
//! - `serve` runs the reference tracking server (`serve/`, docs/SERVER.md);
//! - `program` registers and inspects the programs a server tracks.
//!
//! `replay` and `simulate` post every conversion back, then probe the ledger's
//! deduplication three ways (a retry, a second order on the same click, a forged ID), and
//! end with a summary and a check of its counts. Logs go to standard error, filtered by
//! `RUST_LOG` (default `info`); results go to standard output.

mod checkpoint;
mod datadir;
mod drive;
mod error;
mod generator;
mod program;
mod progress;
mod record;
mod repair;
mod replay;
mod report;
mod serve;
mod simulate;
mod stats;
mod talkingdata;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::error::CliError;
use crate::report::Summary;

/// Where ledgers go unless `--data` says otherwise.
const DATA_DIR_DEFAULT: &str = "./clickledger-data";

/// Exact, crash-safe click-ID claim ledger for server-to-server conversion tracking.
#[derive(Debug, Parser)]
#[command(name = "clickledger", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a recorded click log into a new ledger, posting back its conversions.
    ///
    /// Every conversion is followed by three probes of deduplication: the same postback
    /// again (must be a replay), a new order on the same click ID (must be rejected
    /// already_claimed) and a new order with the ID's tag altered (must be rejected
    /// unknown_click, forged). The whole input is checked before anything is written.
    #[command(subcommand)]
    Replay(ReplaySource),
    /// Record a generated workload shaped like the TalkingData sample (no download).
    ///
    /// 161 programs and 161 partners with skewed popularity, 0.227% of clicks converting
    /// 2 s to 13 h later, over three days from 2017-11-06T16:00:00Z; the same seed gives
    /// the same workload. Conversions are probed as by `replay`.
    ///
    /// The ledger is written to a new or empty --data directory. A directory holding the
    /// ledger of an earlier `simulate` and nothing else is replaced, so running the command
    /// again gives the same result again, unless another process has that ledger open; any
    /// other non-empty directory is refused.
    Simulate(SimulateArgs),
    /// Reopen a ledger and show what it holds.
    ///
    /// Counts of programs, partners, clicks, conversions and claimed IDs, log size, and
    /// conversions per program; the conversions themselves with --conversions (listed
    /// anyway when there are at most 20).
    Stats(StatsArgs),
    /// Check a ledger without changing it: list every problem with its file and offset.
    ///
    /// Every damaged region of every log segment (a torn tail included), a missing or
    /// inconsistent last-segment marker, and, when the frames are sound, what a read-only
    /// open finds wrong with the records. Exits with status 1 when anything is found.
    Verify(VerifyArgs),
    /// Apply a recovery mode to a ledger and print exactly what it removed.
    ///
    /// `torn-tail` cuts a damaged end of the last segment (what any open does);
    /// `point-in-time` drops everything from the first damage on, anywhere in the log;
    /// `absolute` removes nothing and fails on any damage. Stop every process using the
    /// ledger first.
    Repair(RepairArgs),
    /// Write a checkpoint of a ledger: its state at the end of the log, so that the next
    /// open loads it and replays only the records after it.
    ///
    /// The two newest checkpoints are kept. With --retention-days, days older than that
    /// are dropped first (their clicks then answer expired) and the log segments no kept
    /// checkpoint needs are removed after. Another process must not have the ledger open.
    Checkpoint(CheckpointArgs),
    /// Run the tracking server: tracking links, impression pixels, postbacks.
    ///
    /// With no flags: 127.0.0.1:8080, ledger in ./clickledger-data. A ledger without
    /// programs gets the demo program, whose key is printed with a tracking link and a
    /// postback to try with curl. Stops on Ctrl-C or SIGTERM: finishes the requests in
    /// flight, syncs, exits 0. Endpoints and status codes: docs/SERVER.md.
    Serve(ServeArgs),
    /// Register and inspect the programs a server tracks (while the server is stopped).
    #[command(subcommand)]
    Program(ProgramCommand),
    /// A bare axum handler, the ceiling of the load run (benches/load.sh).
    #[command(hide = true)]
    BenchStatic {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// A ledger with CLICKS clicks and a file of one postback path per click, for the
    /// load run (benches/load.sh).
    #[command(hide = true)]
    BenchFixture {
        /// A new data directory.
        #[arg(long)]
        data: PathBuf,
        /// Clicks to record.
        #[arg(long, default_value_t = 100_000)]
        clicks: u32,
        /// Where to write the postback paths.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ProgramCommand {
    /// Register a program and print its key, shown this once (only a hash is kept).
    Create(ProgramCreateArgs),
    /// List the programs.
    List(CommonArgs),
    /// Show one program's settings.
    Show(ProgramNameArgs),
    /// Give a program a new key and print it, shown this once; the old key stops working.
    RotateKey(ProgramNameArgs),
}

#[derive(Debug, Args)]
struct ProgramCreateArgs {
    /// Unique name, used in tracking links: /c/NAME/PARTNER.
    name: String,
    /// A domain tracking links may redirect to, with its subdomains (repeat for more).
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Where a tracking link without `url` goes; its host must be a landing domain.
    #[arg(long, value_name = "URL")]
    default_url: Option<String>,
    /// Attribution window: how old a click may be and still back a conversion.
    #[arg(long, value_name = "DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    window_days: u32,
    /// Leads (sign-ups): postbacks need no amount. Sales otherwise.
    #[arg(long)]
    leads: bool,
    /// Postbacks must carry `payment`.
    #[arg(long)]
    payment_required: bool,
    /// Revenue share: postbacks must carry `customer`.
    #[arg(long)]
    revenue_share: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct ProgramNameArgs {
    /// The program's name.
    name: String,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The ledger's data directory.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
}

#[derive(Debug, Args)]
struct RepairArgs {
    /// The ledger's data directory.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The recovery mode to apply.
    #[arg(long, value_enum)]
    mode: RepairMode,
}

/// The recovery modes, as the command line names them.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum RepairMode {
    /// Cut a torn tail of the last segment.
    TornTail,
    /// Remove nothing; fail on any damage.
    Absolute,
    /// Drop everything from the first damage on.
    PointInTime,
}

impl RepairMode {
    fn recovery(self) -> clickledger::RecoveryMode {
        match self {
            RepairMode::TornTail => clickledger::RecoveryMode::TolerateTornTail,
            RepairMode::Absolute => clickledger::RecoveryMode::AbsoluteConsistency,
            RepairMode::PointInTime => clickledger::RecoveryMode::PointInTime,
        }
    }
}

#[derive(Debug, Subcommand)]
enum ReplaySource {
    /// A TalkingData AdTracking CSV (ip,app,device,os,channel,click_time,attributed_time,
    /// is_attributed).
    ///
    /// Each app becomes a program `app-<n>`, each channel a partner `ch-<n>`, each row a
    /// click at click_time, each attributed row a postback at attributed_time with order
    /// id `td-<row>` (1-based, header excluded). Columns are found by header name in any
    /// case and order; extra columns, CRLF line endings, a byte-order mark and rows out of
    /// time order are fine. The rows are held in memory (28 bytes each).
    ///
    /// --data must name a new or empty directory.
    Talkingdata(TalkingdataArgs),
}

#[derive(Debug, Args)]
struct TalkingdataArgs {
    /// The CSV file.
    file: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Clicks to generate, at most 500 million (each takes 28 bytes of memory while the
    /// run lasts).
    #[arg(
        long,
        default_value_t = 1_000_000,
        value_parser = clap::value_parser!(u32).range(1..=500_000_000)
    )]
    clicks: u32,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct StatsArgs {
    /// List every conversion with its claimed IDs.
    #[arg(long)]
    conversions: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct CheckpointArgs {
    /// Drop days older than this many days, and the log no checkpoint needs.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    retention_days: Option<u32>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The ledger's data directory.
    #[arg(long, value_name = "DIR", default_value = DATA_DIR_DEFAULT)]
    data: PathBuf,
    /// A click is durable at most this many milliseconds after its redirect
    /// (1 to 10000). Postbacks are always durable before their answer.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = serve::CLICK_SYNC_INTERVAL_DEFAULT.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(serve::CLICK_SYNC_MS_RANGE)
    )]
    click_sync_ms: u64,
    /// Time a client has to send its request headers, in milliseconds.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = serve::HEADER_READ_TIMEOUT_DEFAULT.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..=600_000)
    )]
    header_timeout_ms: u64,
    /// Do not register the demo program on a ledger without programs.
    #[arg(long)]
    no_demo: bool,
    /// Minutes between two checkpoints while serving (one is also taken at shutdown);
    /// 0: never. A restart replays only the log after the newest checkpoint.
    #[arg(long, value_name = "MIN", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=10_080))]
    checkpoint_minutes: u64,
    /// Drop clicks older than this many days at each checkpoint, with the log segments
    /// no checkpoint needs (their claims answer expired). Default: keep everything.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    retention_days: Option<u32>,
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// The ledger's data directory.
    #[arg(long, value_name = "DIR", default_value = DATA_DIR_DEFAULT)]
    data: PathBuf,
    /// Print the result as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    init_logging();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("clickledger: error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error, filtered by `RUST_LOG`; `info` when it is unset or invalid.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Replay(ReplaySource::Talkingdata(args)) => {
            let summary = replay::talkingdata(&args.file, &args.common.data)?;
            finish(&summary, args.common.json)
        }
        Command::Simulate(args) => {
            let summary = simulate::simulate(args.clicks, args.seed, &args.common.data)?;
            finish(&summary, args.common.json)
        }
        Command::Stats(args) => {
            let report = stats::gather(&args.common.data, args.conversions)?;
            let text = if args.common.json {
                json(&report)
            } else {
                report.text()
            };
            print(&text)
        }
        Command::Verify(args) => {
            let (text, problems) = repair::verify(&args.data)?;
            print(&text)?;
            match problems {
                0 => Ok(()),
                _ => Err(CliError::Problems {
                    dir: args.data,
                    problems,
                }),
            }
        }
        Command::Repair(args) => print(&repair::repair(&args.data, args.mode.recovery())?),
        Command::Checkpoint(args) => {
            let summary = checkpoint::write(&args.common.data, args.retention_days)?;
            let text = if args.common.json {
                json(&summary)
            } else {
                summary.text()
            };
            print(&text)
        }
        Command::Serve(args) => serve_command(args),
        Command::Program(command) => program_command(command),
        Command::BenchStatic { listen } => serve::bench::serve_static(listen),
        Command::BenchFixture { data, clicks, out } => {
            datadir::check_new(&data, "bench-fixture", false)?;
            serve::bench::fixture(&data, clicks, &out)
        }
    }
}

fn program_command(command: ProgramCommand) -> Result<(), CliError> {
    match command {
        ProgramCommand::Create(args) => {
            let new = program::NewProgramArgs {
                name: args.name,
                domains: args.domains,
                default_url: args.default_url,
                window_days: args.window_days,
                leads: args.leads,
                payment_required: args.payment_required,
                revenue_share: args.revenue_share,
            };
            let (view, key) = program::create(&args.common.data, new)?;
            if args.common.json {
                let value = serde_json::json!({"program": view, "key": key});
                return print(&json(&value));
            }
            print(&format!(
                "{}key (shown this once; only its hash is kept): {key}\n",
                view.text()
            ))
        }
        ProgramCommand::List(common) => {
            let views = program::list(&common.data)?;
            if common.json {
                return print(&json(&views));
            }
            let lines: String = views
                .iter()
                .map(|view| format!("{}\t{}\t{}\n", view.number, view.name, view.kind))
                .collect();
            print(&format!("number\tname\tkind\n{lines}"))
        }
        ProgramCommand::Show(args) => {
            let view = program::show(&args.common.data, &args.name)?;
            print(&if args.common.json {
                json(&view)
            } else {
                view.text()
            })
        }
        ProgramCommand::RotateKey(args) => {
            let key = program::rotate_key(&args.common.data, &args.name)?;
            if args.common.json {
                return print(&json(&serde_json::json!({"name": args.name, "key": key})));
            }
            print(&format!(
                "new key of program {} (shown this once; the old key no longer works): {key}\n",
                args.name
            ))
        }
    }
}

/// Opens the ledger and binds, prints the banner, serves until Ctrl-C or SIGTERM.
fn serve_command(args: ServeArgs) -> Result<(), CliError> {
    let mut config = serve::ServeConfig::new(args.listen, args.data);
    config.click_sync_interval = Duration::from_millis(args.click_sync_ms);
    config.header_read_timeout = Duration::from_millis(args.header_timeout_ms);
    config.demo = !args.no_demo;
    config.checkpoint_interval =
        (args.checkpoint_minutes > 0).then(|| Duration::from_secs(args.checkpoint_minutes * 60));
    config.retention_days = args.retention_days;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let server = serve::Server::open(config)?;
    let banner = serve::demo::banner(server.local_addr(), server.ledger(), server.demo.as_ref());
    print(&banner)?;
    runtime.block_on(server.run(serve::shutdown_signal()))?;
    Ok(())
}

/// Prints a run's summary, then fails if its check did.
fn finish(summary: &Summary, as_json: bool) -> Result<(), CliError> {
    print(&if as_json {
        json(summary)
    } else {
        summary.table()
    })?;
    if summary.check.passed {
        Ok(())
    } else {
        Err(CliError::CheckFailed {
            failures: summary.check.failures.clone(),
        })
    }
}

fn json(value: &impl serde::Serialize) -> String {
    // Our reports are plain structs of strings and numbers: serializing cannot fail.
    let text = serde_json::to_string_pretty(value);
    text.map_or_else(
        |error| format!("{{\"error\": \"{error}\"}}"),
        |text| text + "\n",
    )
}

pub(crate) fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(CliError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn simulate_defaults_are_the_readme_command() {
        let cli = Cli::try_parse_from(["clickledger", "simulate"]).unwrap();
        let Command::Simulate(args) = cli.command else {
            panic!("not simulate")
        };
        assert_eq!((args.clicks, args.seed), (1_000_000, 1));
        assert_eq!(args.common.data, PathBuf::from("./clickledger-data"));
    }

    #[test]
    fn serve_defaults_are_loopback_8080_and_the_default_directory() {
        let cli = Cli::try_parse_from(["clickledger", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(args.data, PathBuf::from("./clickledger-data"));
        assert_eq!(args.click_sync_ms, 100);
        assert!(!args.no_demo);
    }

    #[test]
    fn a_click_sync_interval_outside_its_range_is_refused() {
        for ms in ["0", "10001"] {
            let args = ["clickledger", "serve", "--click-sync-ms", ms];
            assert!(Cli::try_parse_from(args).is_err(), "{ms}");
        }
    }

    #[test]
    fn program_create_takes_repeated_domains() {
        let args = [
            "clickledger",
            "program",
            "create",
            "p",
            "--domain",
            "a.example",
        ];
        let cli = Cli::try_parse_from([&args[..], &["--domain", "b.example", "--leads"]].concat())
            .unwrap();
        let Command::Program(ProgramCommand::Create(create)) = cli.command else {
            panic!("not program create")
        };
        assert_eq!(create.domains, ["a.example", "b.example"]);
        assert!(create.leads);
        assert_eq!(create.window_days, 30);
    }

    #[test]
    fn zero_clicks_are_refused() {
        assert!(Cli::try_parse_from(["clickledger", "simulate", "--clicks", "0"]).is_err());
    }
}
