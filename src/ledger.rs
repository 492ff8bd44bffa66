//! The ledger: open a data directory, record clicks, convert postbacks, sync.
//!
//! This module orchestrates; the mechanisms live in [`crate::log`] (the durable record
//! of everything) and [`crate::index`] (the in-memory claim index rebuilt from it).

use std::path::{Path, PathBuf};

use crate::click_id::ClickId;
use crate::outcome::{Conversion, Outcome};
use crate::postback::Postback;
use crate::program::{ClickKind, PartnerId, ProgramId, ProgramSettings};
use crate::time::Timestamp;

/// Default clock tolerance: a click may be dated up to 5 minutes ahead of a postback.
pub const CLOCK_TOLERANCE_SECONDS_DEFAULT: u32 = 300;

/// How a ledger is opened.
///
/// ```
/// let options = clickledger::Options::default();
/// assert_eq!(options.clock_tolerance_seconds, 300);
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    /// The shard number written into minted IDs.
    pub shard: u8,
    /// How far ahead of a postback's time a click may be dated and still count.
    pub clock_tolerance_seconds: u32,
    /// A log segment is closed and a new one started past this size.
    pub segment_bytes_max: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            shard: 0,
            clock_tolerance_seconds: CLOCK_TOLERANCE_SECONDS_DEFAULT,
            segment_bytes_max: 64 << 20,
        }
    }
}

/// A program just registered, with its secret key (shown once).
#[derive(Clone, Debug)]
pub struct NewProgram {
    /// The program's number.
    pub id: ProgramId,
    /// The secret key postbacks must carry.
    pub key: String,
}

/// What the ledger holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Programs registered.
    pub programs: u64,
    /// Partners seen.
    pub partners: u64,
    /// Clicks recorded (impressions excluded).
    pub clicks: u64,
    /// Impressions recorded.
    pub impressions: u64,
    /// Conversions accepted.
    pub conversions: u64,
    /// Click IDs claimed by conversions.
    pub claimed_ids: u64,
    /// Time partitions (UTC days) in memory.
    pub partitions: u64,
    /// Bytes of log on disk.
    pub log_bytes: u64,
    /// Bytes allocated for slot tables.
    pub slot_table_bytes: u64,
}

/// What is known about one minted click.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickInfo {
    /// Its ID.
    pub id: ClickId,
    /// Its program.
    pub program: ProgramId,
    /// Its partner's name.
    pub partner: String,
    /// Click or impression.
    pub kind: ClickKind,
    /// The conversion that claimed it, if any.
    pub claimed: bool,
}

/// An open ledger. Shared between threads by reference (`&Ledger` is `Sync`).
pub struct Ledger {
    _dir: PathBuf,
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`, replaying its log.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Ledger, crate::LedgerError> {
        todo!("{:?} {options:?}", dir.as_ref())
    }

    /// What the open found and repaired (a torn tail cut), if anything.
    pub fn recovery(&self) -> &crate::log::RecoveryReport {
        todo!()
    }

    /// Registers a program with a freshly generated secret key.
    pub fn register_program(
        &self,
        settings: ProgramSettings,
    ) -> Result<NewProgram, crate::LedgerError> {
        todo!("{settings:?}")
    }

    /// Registers a program with a key chosen by the caller (imports, tests).
    pub fn register_program_with_key(
        &self,
        settings: ProgramSettings,
        key: &str,
    ) -> Result<ProgramId, crate::LedgerError> {
        todo!("{settings:?} {key}")
    }

    /// The program registered under `name`.
    pub fn program_id(&self, name: &str) -> Option<ProgramId> {
        todo!("{name}")
    }

    /// The settings of a program.
    pub fn program(&self, program: ProgramId) -> Option<ProgramSettings> {
        todo!("{program:?}")
    }

    /// Every program, in registration order.
    pub fn programs(&self) -> Vec<(ProgramId, ProgramSettings)> {
        todo!()
    }

    /// The name of a partner.
    pub fn partner_name(&self, partner: PartnerId) -> Option<String> {
        todo!("{partner:?}")
    }

    /// Mints an ID for a click at `at` and records it.
    pub fn record_click(
        &self,
        program: ProgramId,
        partner: &str,
        kind: ClickKind,
        at: Timestamp,
    ) -> Result<ClickId, crate::LedgerError> {
        todo!("{program:?} {partner} {kind:?} {at:?}")
    }

    /// Applies a parsed postback received at `at`. `Err` only for I/O failures.
    pub fn convert(&self, postback: &Postback, at: Timestamp) -> Result<Outcome, crate::LedgerError> {
        todo!("{postback:?} {at:?}")
    }

    /// Parses a raw query and applies it; a parse error becomes a rejected outcome.
    pub fn convert_query(&self, query: &str, at: Timestamp) -> Result<Outcome, crate::LedgerError> {
        todo!("{query} {at:?}")
    }

    /// What is known of a click ID, or `None` when it is forged or unknown.
    pub fn click(&self, id: &ClickId) -> Option<ClickInfo> {
        todo!("{id}")
    }

    /// The conversion that claimed `id`, if any.
    pub fn claimed_by(&self, id: &ClickId) -> Option<Conversion> {
        todo!("{id}")
    }

    /// Every conversion of a program, in acceptance order.
    pub fn conversions(&self, program: ProgramId) -> Vec<Conversion> {
        todo!("{program:?}")
    }

    /// Counts of what the ledger holds.
    pub fn stats(&self) -> Stats {
        todo!()
    }

    /// Makes everything recorded so far durable (write, then fdatasync).
    pub fn sync(&self) -> Result<(), crate::LedgerError> {
        todo!()
    }
}
