//! clickledger itself, embedded, at each durability level.
//!
//! The ledger's own durability levels do the work: `None` answers from the log's
//! buffer, `Interval` lets the ledger's sync thread sync within [`INTERVAL`], `Sync`
//! answers after the group commit's fdatasync covering each claim (one sync shared by
//! every claim waiting on it), with as many clients as the peer it is compared with
//! (8 for PostgreSQL, 50 for Redis). `Sync`, pipelined, keeps [`IN_FLIGHT`] claims per
//! client decided with `convert_pending` before waiting for them, as a pipelined Redis
//! client keeps its commands in flight and redb batches claims in one transaction.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clickledger::{
    ClickId, ClickKind, Currency, Durability, IdKey, Ledger, Options, Order, Outcome, Pending,
    Postback, ProgramSettings, Timestamp,
};

use crate::measure::disk_bytes;
use crate::workload::{Ids, Op, CLICKED_UNIX};
use crate::{Client, Level, Peer, Setup};

/// The interval of the `Interval` level, as Redis's `everysec`.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Claiming threads: one per core of the reference machine.
pub const CLIENTS: usize = 2;

/// Claims each pipelined client keeps in flight: as many as redb's largest transaction.
pub const IN_FLIGHT: usize = 1000;

const PROGRAM_KEY: &str = "peers-program-key";

/// The ledger under test, in a temporary directory.
pub struct LedgerPeer {
    level: Level,
    clients: usize,
    pipelined: bool,
    dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
}

impl LedgerPeer {
    /// A ledger answering at `level` to `clients` threads; `pipelined` keeps
    /// [`IN_FLIGHT`] claims in flight per client (meant for the sync level).
    pub fn open(level: Level, clients: usize, pipelined: bool) -> Result<LedgerPeer, String> {
        let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        let options = Options {
            // Records and preloads are buffered; `claim` picks the measured level.
            durability: Durability::None,
            ..Options::default()
        };
        let ledger = Ledger::open(dir.path(), options).map_err(|e| e.to_string())?;
        Ok(LedgerPeer {
            level,
            clients,
            pipelined,
            dir,
            ledger: Arc::new(ledger),
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
        let (name, batch) = match self.pipelined {
            true => (
                format!("clickledger {level}, {IN_FLIGHT} in flight"),
                IN_FLIGHT,
            ),
            false => (format!("clickledger {level}"), 1),
        };
        Setup {
            name,
            level: self.level,
            clients: self.clients,
            batch,
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

    /// Points the reused postback at click `id`, with order id `order`.
    fn aim(&mut self, id: [u8; 12], order: u64) {
        use std::fmt::Write;
        self.postback.order.order_id.clear();
        let _ = write!(self.postback.order.order_id, "o{order}");
        self.postback.click_ids[0] = ClickId::from_bytes(id);
    }

    /// One claim, answered at the client's level.
    fn convert(&mut self, id: [u8; 12], order: u64) -> Result<bool, String> {
        self.aim(id, order);
        let durability = match self.level {
            Level::None => Durability::None,
            Level::Interval => Durability::Interval(INTERVAL),
            Level::Sync => Durability::Sync,
        };
        let outcome = self
            .ledger
            .convert_with(&self.postback, self.at, durability)
            .map_err(|error| error.to_string())?;
        Ok(matches!(outcome, Outcome::Accepted(_)))
    }

    /// One claim decided at once, its answer pending the sync that covers it.
    fn convert_pending(&mut self, id: [u8; 12], order: u64) -> Result<Pending<Outcome>, String> {
        self.aim(id, order);
        self.ledger
            .convert_pending(&self.postback, self.at)
            .map_err(|error| error.to_string())
    }
}

impl Client for LedgerClient<'_> {
    fn claim(&mut self, ops: &[Op], answers: &mut Vec<bool>) -> Result<(), String> {
        if let [op] = ops {
            let accepted = self.convert(op.id, op.sequence)?;
            answers.push(accepted);
            return Ok(());
        }
        let mut pending = Vec::with_capacity(ops.len());
        for op in ops {
            pending.push(self.convert_pending(op.id, op.sequence)?);
        }
        for answer in pending {
            let outcome = answer.wait().map_err(|error| error.to_string())?;
            answers.push(matches!(outcome, Outcome::Accepted(_)));
        }
        Ok(())
    }
}
