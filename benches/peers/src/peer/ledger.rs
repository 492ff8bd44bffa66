//! clickledger itself, embedded, at each durability level.
//!
//! Each level is one small function (or a function and a syncing thread). Today the
//! ledger has no group commit, so `Sync` pays one fdatasync per claim and `Interval`
//! syncs from a thread once a second.
//! TODO: once group commit lands (`Durability`, `Ledger::convert_with`,
//! `Ledger::convert_pending`), `claim_sync` becomes `convert_with(.., Durability::Sync)`,
//! `Interval` opens with `Options::durability = Durability::Interval(INTERVAL)` and
//! drops `Syncer`, and a `sync-pending` level keeps many `convert_pending` claims in
//! flight per client.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clickledger::{
    ClickId, ClickKind, Currency, IdKey, Ledger, Options, Order, Outcome, Postback,
    ProgramSettings, Timestamp,
};

use crate::measure::disk_bytes;
use crate::workload::{Ids, Op, CLICKED_UNIX};
use crate::{Client, Level, Peer, Setup};

/// The interval of the `Interval` level, as Redis's `everysec`.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Claiming threads: one per core of the reference machine.
const CLIENTS: usize = 2;

const PROGRAM_KEY: &str = "peers-program-key";

/// The ledger under test, in a temporary directory.
pub struct LedgerPeer {
    level: Level,
    dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    syncer: Option<Syncer>,
}

impl LedgerPeer {
    pub fn open(level: Level) -> Result<LedgerPeer, String> {
        let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        let ledger = Ledger::open(dir.path(), Options::default()).map_err(|e| e.to_string())?;
        Ok(LedgerPeer {
            level,
            dir,
            ledger: Arc::new(ledger),
            syncer: None,
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Peer for LedgerPeer {
    fn setup(&self) -> Setup {
        let level = match self.level {
            Level::None => "none",
            Level::Interval => "interval",
            Level::Sync => "sync",
        };
        Setup {
            name: format!("clickledger {level}"),
            level: self.level,
            clients: CLIENTS,
            batch: 1,
        }
    }

    /// Records the clicks (the ledger mints their IDs) and claims the first quarter.
    /// Unknown IDs are minted under another key: the ledger refuses them by their tag,
    /// before any lookup, as it does every ID it never minted.
    fn ids(&mut self, clicks: usize) -> Result<Ids, String> {
        let at = Timestamp::from_unix(CLICKED_UNIX);
        let program = self
            .ledger
            .register_program_with_key(ProgramSettings::new("peers"), PROGRAM_KEY)
            .map_err(|error| error.to_string())?;
        let mut stored = Vec::with_capacity(clicks);
        for index in 0..clicks {
            let partner = format!("partner-{}", index % 64);
            let id = self
                .ledger
                .record_click(program, &partner, ClickKind::Click, at)
                .map_err(|error| error.to_string())?;
            stored.push(*id.as_bytes());
        }
        let other = IdKey::from_bytes(*b"never-this-key!!");
        let unknown = (0..clicks as u32 / 4)
            .map(|slot| *other.mint(at, 0, slot).as_bytes())
            .collect();
        Ok(Ids { stored, unknown })
    }

    fn preload(&mut self, ids: &Ids) -> Result<(), String> {
        let mut client = LedgerClient::new(&self.ledger, Level::None);
        for (index, id) in ids.preclaimed().iter().enumerate() {
            if !client.convert(*id, u64::MAX - index as u64)? {
                return Err("a preload claim was refused".into());
            }
        }
        self.ledger.sync().map_err(|error| error.to_string())?;
        if self.level == Level::Interval {
            self.syncer = Some(Syncer::start(Arc::clone(&self.ledger)));
        }
        Ok(())
    }

    fn client(&self) -> Result<Box<dyn Client + '_>, String> {
        Ok(Box::new(LedgerClient::new(&self.ledger, self.level)))
    }

    fn disk_bytes(&self) -> u64 {
        disk_bytes(&self.data_dir())
    }
}

/// One claiming thread: reuses one postback, changing its order id and click ID.
struct LedgerClient<'a> {
    ledger: &'a Ledger,
    level: Level,
    postback: Postback,
    at: Timestamp,
}

impl<'a> LedgerClient<'a> {
    fn new(ledger: &'a Ledger, level: Level) -> LedgerClient<'a> {
        let eur = Currency::parse("EUR").expect("EUR is a currency");
        let postback = Postback {
            key: PROGRAM_KEY.to_owned(),
            order: Order {
                amount_minor: Some(1000),
                ..Order::new("0", eur)
            },
            click_ids: vec![ClickId::from_bytes([0; 12])],
            ignored_params: Vec::new(),
        };
        LedgerClient {
            ledger,
            level,
            postback,
            at: Timestamp::from_unix(CLICKED_UNIX + 60),
        }
    }

    fn convert(&mut self, id: [u8; 12], order: u64) -> Result<bool, String> {
        use std::fmt::Write;
        self.postback.order.order_id.clear();
        let _ = write!(self.postback.order.order_id, "o{order}");
        self.postback.click_ids[0] = ClickId::from_bytes(id);
        let outcome = match self.level {
            Level::None | Level::Interval => claim_buffered(self.ledger, &self.postback, self.at),
            Level::Sync => claim_sync(self.ledger, &self.postback, self.at),
        }?;
        Ok(matches!(outcome, Outcome::Accepted(_)))
    }
}

impl Client for LedgerClient<'_> {
    fn claim(&mut self, ops: &[Op], answers: &mut Vec<bool>) -> Result<(), String> {
        for op in ops {
            answers.push(self.convert(op.id, op.sequence)?);
        }
        Ok(())
    }
}

/// `None`: the answer is given once the record is in the log's buffer.
fn claim_buffered(ledger: &Ledger, postback: &Postback, at: Timestamp) -> Result<Outcome, String> {
    ledger
        .convert(postback, at)
        .map_err(|error| error.to_string())
}

/// `Sync`: the answer waits for an fdatasync covering the record; one per claim until
/// group commit shares them.
fn claim_sync(ledger: &Ledger, postback: &Postback, at: Timestamp) -> Result<Outcome, String> {
    let outcome = claim_buffered(ledger, postback, at)?;
    ledger.sync().map_err(|error| error.to_string())?;
    Ok(outcome)
}

/// `Interval`: a thread syncing the ledger every [`INTERVAL`], stopped on drop.
struct Syncer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    fn start(ledger: Arc<Ledger>) -> Syncer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                std::thread::sleep(INTERVAL);
                if let Err(error) = ledger.sync() {
                    eprintln!("interval sync failed: {error}");
                    return;
                }
            }
        });
        Syncer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
