//! clickledger: an exact, crash-safe click-ID claim ledger for server-to-server
//! conversion tracking.
//!
//! # A guided tour
//!
//! A tracking link mints a click ID with [`Ledger::record_click`]; the advertiser keeps
//! it and, when the visitor buys, calls the postback URL with the order and the IDs it
//! kept. [`Ledger::convert_query`] (or [`Postback::from_query`] then
//! [`Ledger::convert`]) claims those IDs exactly once and answers with an [`Outcome`].
//!
//! ```
//! use clickledger::{ClickKind, Ledger, Options, Outcome, ProgramSettings, Timestamp};
//!
//! let dir = tempfile::tempdir()?;
//! let ledger = Ledger::open(dir.path(), Options::default())?;
//! let program = ledger.register_program(ProgramSettings::new("shoes-eu"))?; // key shown once
//! let id = ledger.record_click(program.id, "partner-7", ClickKind::Click, Timestamp::now())?;
//! // ... the visitor buys; the advertiser's server calls the postback URL:
//! let query = format!("key={}&id=A1001&amount=49.90&currency=EUR&cids={id}", program.key);
//! match ledger.convert_query(&query, Timestamp::now())? {
//!     Outcome::Accepted(conversion) => println!("conversion {} for {}", conversion.id, conversion.partner),
//!     Outcome::Replayed(original) => println!("retry of conversion {}", original.id),
//!     Outcome::Rejected(rejection) => println!("rejected: {}", rejection.reason.code()),
//! }
//! ledger.sync()?; // every answer above was durable already: Durability::Sync
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where things live:
//!
//! - [`click_id`]: the 12-byte ID (time, shard, slot, tag) and its secret key.
//! - [`log`]: the append-only, CRC32-framed log, the single source of truth, and its
//!   recovery at open.
//! - [`index`]: per-day slot tables holding 8 bytes per click, rebuilt from the log.
//! - [`checkpoint`]: the state written with the log position it matches
//!   ([`Ledger::checkpoint`]), so that an open replays only the log after it; retention
//!   ([`Options::retention_days`]) drops old days when one is taken.
//! - [`ledger`]: the orchestration; the claim rule is described in `docs/SEMANTICS.md`.
//! - [`durability`]: when an answer may be given ([`Durability`]), and answers pending
//!   the group commit's sync ([`Pending`]); `docs/RELIABILITY.md` says what each level
//!   promises and how it is tested.
//! - [`postback`] and [`money`]: strict parsing of postbacks and exact amounts.
//! - [`advertiser`]: the advertiser's half: read the click ID, keep it in a cookie,
//!   build the postback URL.
//!
//! The on-disk format is specified in `docs/FORMAT.md`. With `default-features = false`
//! the library builds without the command-line tool's dependencies; the `tracing`
//! feature adds lifecycle logging (open, recovery, checkpoints).

#![warn(missing_docs)]

pub mod advertiser;
pub mod checkpoint;
mod claim;
pub mod click_id;
pub mod durability;
pub mod error;
pub mod index;
pub mod ledger;
pub mod log;
pub mod money;
pub mod order;
pub mod outcome;
pub mod postback;
pub mod program;
mod registry;
pub mod secret;
pub mod time;

pub use checkpoint::CheckpointReport;
pub use click_id::{ClickId, ClickIdError, IdKey};
pub use durability::{Durability, Pending};
pub use error::LedgerError;
pub use ledger::{ClickInfo, Ledger, NewProgram, Options, Stats};
pub use log::io::{Io, SimulatedDisk};
pub use log::{RecoveryMode, RecoveryReport};
pub use money::{Currency, MoneyError};
pub use order::Order;
pub use outcome::{
    Conversion, ConversionId, IdText, IdVerdict, Outcome, RejectReason, Rejection, Verdict,
};
pub use postback::{Payment, Postback, PostbackError};
pub use program::{ClickKind, ConversionKind, PartnerId, ProgramId, ProgramSettings};
pub use time::{TimeError, Timestamp};
