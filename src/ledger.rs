//! The ledger: open a data directory, record clicks, convert postbacks, sync.
//!
//! This module orchestrates; the mechanisms live in [`crate::log`] (the durable record
//! of everything), [`crate::index`] (the claim index rebuilt from it) and the claim rule
//! in `claim.rs`.
//!
//! Lock order, to rule out deadlocks: a program's lock, then the registry, then the
//! writer. No code takes a program lock while holding the registry or the writer.

use hashbrown::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::durability::{Durability, Pending};
use crate::log::commit::GroupCommit;
use crate::log::io::Io;

use crate::claim::{decide, Decision};
use crate::click_id::{ClickId, IdKey, CLICK_ID_BYTES};
use crate::error::LedgerError;
use crate::index::slot::{SlotEntry, PROGRAMS_MAX};
use crate::index::ClaimIndex;
use crate::log::record::{ConversionRecord, ProgramRecord, Record};
use crate::log::segment::SEGMENT_BYTES_MAX_LIMIT;
use crate::log::{self, LogError, LogWriter, RecoveryMode, RecoveryReport};
use crate::outcome::{
    Conversion, ConversionId, IdText, IdVerdict, Outcome, RejectReason, Rejection, Verdict,
};
use crate::postback::{Postback, PostbackError};
use crate::program::{ClickKind, ConversionKind, PartnerId, ProgramId, ProgramSettings};
use crate::registry::{key_digest, ProgramEntry, Registry};
use crate::secret;
use crate::time::Timestamp;

mod checkpointing;

/// Default clock tolerance: a click may be dated up to 5 minutes ahead of a postback
/// (servers' clocks drift; the field cases settle on five minutes).
pub const CLOCK_TOLERANCE_SECONDS_DEFAULT: u32 = 300;

/// Default segment size: 64 MiB, about two million clicks; small enough to read whole
/// at open, large enough that rollovers are rare.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 << 20;

/// The smallest `segment_bytes_max`: one page. Small segments serve tests of rollover;
/// a record larger than the limit still fits, alone, in its segment.
pub const SEGMENT_BYTES_MAX_LEAST: u64 = 4096;

/// First slot reservation of a day after each open: 64 slots. A reopen skips what is
/// left of the last reservation, so an embedding that opens the ledger around each
/// click still gets 67 million opens out of a day's 2^32 slots, and its clicks share
/// slot-table chunks (at worst 512 bytes of table per click) instead of each open
/// starting a chunk of its own.
const RESERVATION_SLOTS_MIN: u32 = 1 << 6;

/// Largest slot reservation: 4,194,304 slots. Reservations double with the clicks a day
/// has minted since the open, up to this, so a busy day pays 17 fdatasyncs for its first
/// 4 million clicks, then one per 4 million.
const RESERVATION_SLOTS_MAX: u32 = 1 << 22;

/// Longest program name, partner name or program key, in bytes.
pub const NAME_BYTES_MAX: usize = 128;

/// How a ledger is opened.
///
/// ```
/// let options = clickledger::Options::default();
/// assert_eq!(options.clock_tolerance_seconds, 300);
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    /// The shard number written into minted IDs; IDs of other shards are unknown here.
    pub shard: u8,
    /// How far ahead of a postback's time a click may be dated and still count.
    pub clock_tolerance_seconds: u32,
    /// A log segment is closed and a new one started past this size: from
    /// [`SEGMENT_BYTES_MAX_LEAST`] to [`log::segment::SEGMENT_BYTES_MAX_LIMIT`] (1 GiB),
    /// since an open reads one segment at a time, whole.
    pub segment_bytes_max: u64,
    /// Open an existing ledger to read it without changing anything on disk: a torn
    /// tail is reported but not cut, nothing is created, and every write (a click, a
    /// program, an accepted conversion) fails with `LogError::ReadOnly`. Readers share
    /// the directory with each other, not with a writer.
    pub read_only: bool,
    /// When answers are given, unless a call says otherwise (`*_with`, `*_pending`):
    /// [`Durability::Sync`] by default, each answer after the `fdatasync` covering it.
    pub durability: Durability,
    /// The file operations under the log writer: [`Io::Os`], or a simulated disk that
    /// injects faults and models power loss (tests; see [`crate::log::io`]).
    pub io: Io,
    /// What damage the open tolerates: a torn tail by default (see [`RecoveryMode`]).
    pub recovery: RecoveryMode,
    /// Keep clicks this many days, then drop their day's partition whole: a click is
    /// kept at least `retention_days` × 24 hours, a claim of a dropped click answers
    /// `expired`, and a click dated on a dropped day is refused. Days are dropped by
    /// [`Ledger::checkpoint`] (measured from the clock) or [`Ledger::checkpoint_at`],
    /// which also remove the log segments no kept checkpoint needs; an open restores
    /// what its checkpoint dropped. `None` (the default) keeps everything, log
    /// included. At least 1.
    pub retention_days: Option<u32>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            shard: 0,
            clock_tolerance_seconds: CLOCK_TOLERANCE_SECONDS_DEFAULT,
            segment_bytes_max: SEGMENT_BYTES_MAX_DEFAULT,
            read_only: false,
            durability: Durability::Sync,
            io: Io::Os,
            recovery: RecoveryMode::TolerateTornTail,
            retention_days: None,
        }
    }
}

/// A program just registered, with its secret key. The ledger keeps only a hash of the
/// key: this is the one time it can be shown.
#[derive(Clone, Debug)]
pub struct NewProgram {
    /// The program's number.
    pub id: ProgramId,
    /// The secret key postbacks must carry.
    pub key: String,
}

/// What the ledger holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
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
    /// Bytes of log, including records not yet written to the file.
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
    /// Whether a conversion claimed it.
    pub claimed: bool,
}

/// Minting state of one UTC day, guarded with the writer.
#[derive(Default, Clone, Copy)]
struct DayMint {
    /// The next slot to hand out.
    next_slot: u32,
    /// Slots below this are reserved in the log; handing out more needs a new
    /// reservation first.
    reserved_end: u32,
    /// Slots handed out since the ledger was opened: sizes the next reservation.
    minted_since_open: u32,
}

/// The log writer and everything that must change in the same order as the log.
struct Writer {
    log: LogWriter,
    days: HashMap<u32, DayMint>,
    next_conversion: u64,
}

#[derive(Default)]
struct Counters {
    clicks: AtomicU64,
    impressions: AtomicU64,
    conversions: AtomicU64,
    claimed_ids: AtomicU64,
}

/// An open ledger. Share it between threads by reference or `Arc`: every method takes
/// `&self`.
///
/// ```
/// use clickledger::{ClickKind, Ledger, Options, Outcome, ProgramSettings, Timestamp};
///
/// let dir = tempfile::tempdir().unwrap();
/// let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
/// let program = ledger.register_program(ProgramSettings::new("shoes")).unwrap();
/// let clicked = Timestamp::parse_rfc3339("2025-03-01T10:00:00Z").unwrap();
/// let id = ledger.record_click(program.id, "a7", ClickKind::Click, clicked).unwrap();
///
/// let query = format!("key={}&id=A1001&amount=49.90&currency=EUR&cids={id}", program.key);
/// let outcome = ledger.convert_query(&query, clicked.plus_seconds(3600)).unwrap();
/// assert!(matches!(outcome, Outcome::Accepted(_)));
/// let again = ledger.convert_query(&query, clicked.plus_seconds(3660)).unwrap();
/// assert!(matches!(again, Outcome::Replayed(_)));
/// ledger.sync().unwrap();
/// ```
pub struct Ledger {
    dir: PathBuf,
    options: Options,
    id_key: IdKey,
    index: ClaimIndex,
    registry: RwLock<Registry>,
    /// Shared with the sync thread, which takes the buffered records from it.
    writer: Arc<Mutex<Writer>>,
    commit: Arc<GroupCommit>,
    /// The sync thread (none when read-only).
    syncer: Option<std::thread::JoinHandle<()>>,
    /// [`Ledger::kill`] was called: the drop writes and syncs nothing.
    killed: bool,
    counters: Counters,
    recovery: RecoveryReport,
    /// Days before this one were dropped by retention: their clicks answer `expired`,
    /// and no click may be recorded on them again. Raised under every program lock and
    /// the writer (see `checkpointing`), read under either.
    dropped_before: AtomicU32,
    /// Held by a checkpoint from start to end: checkpoints are taken one at a time.
    checkpointing: Mutex<()>,
    /// Held open for the ledger's life: its advisory lock keeps a second ledger, in this
    /// process or another, from writing the same log. The OS releases it if we die.
    /// `None` only for a read-only open of a directory without a lock file.
    _lock: Option<std::fs::File>,
}

impl Ledger {
    /// Opens the ledger in `dir`, creating the directory and a new ledger if needed,
    /// and replays its log to rebuild the in-memory state.
    ///
    /// A torn tail is cut and reported in [`Ledger::recovery`]; damage anywhere else
    /// is an error naming the segment and offset (`Options::recovery` picks another
    /// [`RecoveryMode`]). The last segment is synced, and the ledger's sync thread
    /// started, before it returns.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert_eq!(ledger.stats().clicks, 0);
    /// ```
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Ledger, LedgerError> {
        let dir = dir.as_ref().to_owned();
        check_segment_bytes_max(options.segment_bytes_max)?;
        check_retention_days(options.retention_days)?;
        if !options.read_only {
            std::fs::create_dir_all(&dir).map_err(|source| LogError::io("create", &dir, source))?;
        }
        let lock = lock_dir(&dir, options.read_only)?;
        let stored_key = secret::load(&dir)?;
        let existing = stored_key.is_some();
        let log_dir = dir.join(log::segment::LOG_DIR_NAME);
        if !existing && log::segment::holds_records(&log_dir)? {
            return Err(LedgerError::SecretMissing {
                path: dir.join(secret::SECRET_FILE_NAME),
            });
        }
        if !existing && options.read_only {
            return Err(LedgerError::NoLedger { dir });
        }
        let id_key = match stored_key {
            Some(key) => key,
            None => secret::generate(&dir)?,
        };
        let seed = secret::frame_seed(&id_key);
        // A point-in-time recovery replays from the start when it can: a cut before a
        // checkpoint's position would leave that checkpoint ahead of the log.
        let full_replay = options.recovery == RecoveryMode::PointInTime;
        let start =
            checkpointing::newest_usable(&dir, &id_key, options.shard, existing, full_replay)?;
        let (mut state, from, skipped_checkpoints) = start;
        let lenient_until = from.as_ref().map(|from| from.durable_until);
        let mut apply = |record, position| {
            // The checkpoint's slot tables may already hold what these records did.
            state.lenient = lenient_until.is_some_and(|until| position < until);
            state.apply(record)
        };
        let (mut log, mut recovery) = log::replay(
            &options.io,
            &dir,
            seed,
            options.segment_bytes_max,
            existing,
            options.read_only,
            options.recovery,
            from.as_ref(),
            &mut apply,
        )?;
        recovery.checkpoint = from.map(|from| from.checkpoint);
        recovery.skipped_checkpoints = skipped_checkpoints;
        if let Some(cut) = recovery.point_in_time.as_ref().filter(|cut| cut.repaired) {
            recovery.checkpoints_removed = checkpointing::remove_checkpoints_after(&dir, cut.at)?;
        }
        if existing && !state.created {
            return Err(LogError::Emptied { log_dir }.into());
        }
        if !existing {
            // A creation cut short left at most a creation record, under the seed of a
            // secret never stored; it fails its check under the new one and was cut as a
            // torn tail. The new creation record is durable before the secret is stored:
            // a secret always comes with a log that starts with it.
            if !state.created {
                log.append(&Record::LedgerCreated)?;
                log.sync()?;
            }
            secret::store(&dir, &id_key)?;
        }
        let days = state.days_after_replay();
        #[cfg(feature = "tracing")]
        tracing::info!(dir = %dir.display(), records = recovery.records, torn_tail = recovery.torn_tail.is_some(), "ledger opened");
        let commit = Arc::clone(log.commit());
        let writer = Arc::new(Mutex::new(Writer {
            log,
            days,
            next_conversion: state.last_conversion + 1,
        }));
        let syncer = match options.read_only {
            true => None,
            false => Some(spawn_syncer(&writer, &commit)?),
        };
        Ok(Ledger {
            dir,
            options,
            id_key,
            index: state.index,
            registry: RwLock::new(state.registry),
            writer,
            commit,
            syncer,
            killed: false,
            counters: state.counters,
            recovery,
            dropped_before: AtomicU32::new(state.dropped_before),
            checkpointing: Mutex::new(()),
            _lock: lock,
        })
    }

    /// Checks the ledger in `dir` without changing anything, and lists every problem
    /// with its file and offset: each damaged region of every segment (a torn tail
    /// included), then, if the frames are sound, what a read-only open finds wrong with
    /// the records themselves. Empty when the ledger is sound. A ledger open for
    /// writing (here or in another process) is `LedgerError::Locked`.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// drop(clickledger::Ledger::open(dir.path(), Default::default()).unwrap());
    /// assert!(clickledger::Ledger::verify(dir.path()).unwrap().is_empty());
    /// ```
    pub fn verify(dir: impl AsRef<Path>) -> Result<Vec<log::verify::Problem>, LedgerError> {
        let dir = dir.as_ref();
        // Shared: other readers may look too, but a writer appending meanwhile would
        // make its last record look torn.
        let _lock = lock_dir(dir, true)?;
        let Some(key) = secret::load(dir)? else {
            return Err(LedgerError::NoLedger {
                dir: dir.to_owned(),
            });
        };
        let seed = secret::frame_seed(&key);
        let mut problems = log::verify::verify(dir, seed, true)?;
        // A damaged checkpoint is skipped by an open, with a warning; an operator asking
        // what is wrong is told here.
        for (position, path) in crate::checkpoint::list(dir)? {
            if let Err(problem) = crate::checkpoint::load(&path, position, seed) {
                problems.push(log::verify::Problem {
                    file: path,
                    offset: 0,
                    description: format!("unusable checkpoint: {problem}"),
                });
            }
        }
        if problems.is_empty() {
            let read_only = Options {
                read_only: true,
                ..Options::default()
            };
            if let Err(error) = Ledger::open(dir, read_only) {
                let (file, offset) = match &error {
                    LedgerError::Log(LogError::Corrupt {
                        segment, offset, ..
                    }) => (segment.clone(), *offset),
                    _ => (dir.to_owned(), 0),
                };
                problems.push(log::verify::Problem {
                    file,
                    offset,
                    description: error.to_string(),
                });
            }
        }
        Ok(problems)
    }

    /// The data directory.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert_eq!(ledger.dir(), dir.path());
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the open found and repaired (a torn tail cut), if anything.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert!(ledger.recovery().torn_tail.is_none());
    /// ```
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Registers a program with a freshly generated 32-hex-digit key. Durable on return.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// let program = ledger.register_program(clickledger::ProgramSettings::new("p1")).unwrap();
    /// assert_eq!(program.key.len(), 32);
    /// assert_eq!(ledger.program_id("p1"), Some(program.id));
    /// ```
    pub fn register_program(&self, settings: ProgramSettings) -> Result<NewProgram, LedgerError> {
        let key = self.random_key()?;
        let id = self.register_program_with_key(settings, &key)?;
        Ok(NewProgram { id, key })
    }

    /// Gives a program a freshly generated key and returns it; the old key identifies no
    /// program from then on. Durable on return. The ledger keeps only the new key's
    /// hash: this is the one time it can be shown.
    ///
    /// ```
    /// use clickledger::{Ledger, Outcome, ProgramSettings, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let program = ledger.register_program(ProgramSettings::new("p1")).unwrap();
    /// let key = ledger.rotate_key(program.id).unwrap();
    /// assert_ne!(key, program.key);
    /// let old = format!("key={}&id=1&amount=1&currency=EUR&cids=603ed1800000000000000000", program.key);
    /// let outcome = ledger.convert_query(&old, Timestamp::now()).unwrap();
    /// assert!(matches!(outcome, Outcome::Rejected(r) if r.reason.code() == "bad_key"));
    /// ```
    pub fn rotate_key(&self, program: ProgramId) -> Result<String, LedgerError> {
        let key = self.random_key()?;
        let key_sha256 = key_digest(&key);
        let mut registry = self.registry.write();
        if registry.program(program).is_none() {
            return Err(LedgerError::UnknownProgram { program });
        }
        if registry.key_in_use(&key_sha256) {
            return Err(LedgerError::KeyInUse);
        }
        let mut writer = self.writer.lock();
        writer.log.append(&Record::ProgramKeyRotated {
            program,
            key_sha256,
        })?;
        writer.log.sync()?;
        // Program and key were checked above under the same lock.
        registry
            .rotate_key(program, key_sha256)
            .map_err(|problem| unreachable_state(&problem))?;
        Ok(key)
    }

    /// 32 hex digits from the operating system's random source.
    fn random_key(&self) -> Result<String, LedgerError> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|error| {
            LogError::io(
                "draw a random key for",
                &self.dir,
                std::io::Error::other(error.to_string()),
            )
        })?;
        Ok(random.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    /// Registers a program with a key chosen by the caller (imports, tests). The key is
    /// 1 to 128 visible ASCII characters. Durable on return.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// let settings = clickledger::ProgramSettings::new("p1");
    /// ledger.register_program_with_key(settings.clone(), "pk1").unwrap();
    /// assert!(ledger.register_program_with_key(settings, "pk2").is_err());
    /// ```
    pub fn register_program_with_key(
        &self,
        settings: ProgramSettings,
        key: &str,
    ) -> Result<ProgramId, LedgerError> {
        check_settings(&settings)?;
        check_name("program key", key)?;
        let key_sha256 = key_digest(key);
        let mut registry = self.registry.write();
        if registry.program_by_name(&settings.name).is_some() {
            return Err(LedgerError::ProgramExists {
                name: settings.name,
            });
        }
        if registry.key_in_use(&key_sha256) {
            return Err(LedgerError::KeyInUse);
        }
        let id = registry.next_program_id();
        if id.0 >= PROGRAMS_MAX {
            return Err(LedgerError::TooManyPrograms);
        }
        let record = ProgramRecord {
            id,
            key_sha256,
            settings: settings.clone(),
        };
        let mut writer = self.writer.lock();
        writer.log.append(&Record::ProgramRegistered(record))?;
        writer.log.sync()?;
        // Name, key and number were checked above under the same lock.
        registry
            .add_program(id, key_sha256, settings)
            .map_err(|problem| unreachable_state(&problem))?;
        Ok(id)
    }

    /// The program registered under `name`.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert_eq!(ledger.program_id("nope"), None);
    /// ```
    pub fn program_id(&self, name: &str) -> Option<ProgramId> {
        self.registry.read().program_by_name(name)
    }

    /// The settings of a program.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// let id = ledger.register_program_with_key(clickledger::ProgramSettings::new("p1"), "k").unwrap();
    /// assert_eq!(ledger.program(id).unwrap().name, "p1");
    /// ```
    pub fn program(&self, program: ProgramId) -> Option<ProgramSettings> {
        self.registry
            .read()
            .program(program)
            .map(|entry| entry.settings.clone())
    }

    /// Every program, in registration order.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert!(ledger.programs().is_empty());
    /// ```
    pub fn programs(&self) -> Vec<(ProgramId, ProgramSettings)> {
        self.registry
            .read()
            .programs()
            .iter()
            .map(|entry| (entry.id, entry.settings.clone()))
            .collect()
    }

    /// The name of a partner.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert_eq!(ledger.partner_name(clickledger::PartnerId(0)), None);
    /// ```
    pub fn partner_name(&self, partner: PartnerId) -> Option<String> {
        self.registry
            .read()
            .partner_name(partner)
            .map(str::to_owned)
    }

    /// Mints an ID for a click (or impression) of `partner` on `program` at `at`, and
    /// records it. The ID's first four bytes are `at`.
    ///
    /// The record is buffered: it reaches the file within the next flush or
    /// [`Ledger::sync`], and is durable after `sync`. The ID itself is never handed
    /// out again, even if the record is lost in a crash.
    ///
    /// ```
    /// use clickledger::{ClickKind, Ledger, ProgramSettings, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let program = ledger.register_program(ProgramSettings::new("p1")).unwrap().id;
    /// let at = Timestamp::parse_rfc3339("2021-03-03T00:00:00Z").unwrap();
    /// let id = ledger.record_click(program, "a7", ClickKind::Click, at).unwrap();
    /// assert!(id.to_string().starts_with("603ed180"));
    /// assert_eq!(ledger.click(&id).unwrap().partner, "a7");
    /// ```
    pub fn record_click(
        &self,
        program: ProgramId,
        partner: &str,
        kind: ClickKind,
        at: Timestamp,
    ) -> Result<ClickId, LedgerError> {
        self.record_click_with(program, partner, kind, at, self.options.durability)
    }

    /// [`Ledger::record_click`] at the durability level `durability` rather than the
    /// ledger's default.
    ///
    /// ```
    /// use clickledger::{ClickKind, Durability, Ledger, ProgramSettings, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let program = ledger.register_program(ProgramSettings::new("p1")).unwrap().id;
    /// let at = Timestamp::now();
    /// let id = ledger.record_click_with(program, "a7", ClickKind::Click, at, Durability::None).unwrap();
    /// assert!(ledger.click(&id).is_some());
    /// ```
    pub fn record_click_with(
        &self,
        program: ProgramId,
        partner: &str,
        kind: ClickKind,
        at: Timestamp,
        durability: Durability,
    ) -> Result<ClickId, LedgerError> {
        self.record_click_pending(program, partner, kind, at)?
            .settle(durability)
    }

    /// [`Ledger::record_click`] returning at once with the minted ID pending the sync
    /// of its record (see [`Pending`]). The ID is never handed out again either way.
    ///
    /// ```
    /// use clickledger::{ClickKind, Ledger, ProgramSettings, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let program = ledger.register_program(ProgramSettings::new("p1")).unwrap().id;
    /// let pending = ledger.record_click_pending(program, "a7", ClickKind::Click, Timestamp::now()).unwrap();
    /// let id = pending.wait().unwrap();
    /// assert!(ledger.click(&id).is_some());
    /// ```
    pub fn record_click_pending(
        &self,
        program: ProgramId,
        partner: &str,
        kind: ClickKind,
        at: Timestamp,
    ) -> Result<Pending<ClickId>, LedgerError> {
        let known_partner = {
            let registry = self.registry.read();
            if registry.program(program).is_none() {
                return Err(LedgerError::UnknownProgram { program });
            }
            registry.partner(partner)
        };
        let partner = match known_partner {
            Some(partner) => partner,
            None => self.register_partner(partner)?,
        };
        let mut writer = self.writer.lock();
        if at.day() < self.dropped_before.load(Ordering::Acquire) {
            return Err(LedgerError::DayDropped { day: at.day() });
        }
        let slot = allocate_slot(&mut writer, at.day())?;
        let id = self.id_key.mint(at, self.options.shard, slot);
        let position = writer.log.append(&Record::ClickRecorded {
            id,
            program,
            partner,
            kind,
        })?;
        self.index
            .insert(at.day(), slot, SlotEntry::minted(program, partner, kind));
        // Counted under the writer, so that a checkpoint's counts match its position.
        self.counters.count_click(kind);
        Ok(self.pending(id, position))
    }

    /// Applies a parsed postback received at `at`: replay, rejection or a new
    /// conversion. `Err` only when the log cannot be written; then nothing was claimed.
    ///
    /// ```
    /// use clickledger::{Ledger, Outcome, Postback, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let postback = Postback::from_query(
    ///     "key=nobody&id=1&amount=1&currency=EUR&cids=603ed1800000000000000000",
    /// ).unwrap();
    /// let outcome = ledger.convert(&postback, Timestamp::now()).unwrap();
    /// assert!(matches!(outcome, Outcome::Rejected(r) if r.reason.code() == "bad_key"));
    /// ```
    pub fn convert(&self, postback: &Postback, at: Timestamp) -> Result<Outcome, LedgerError> {
        self.convert_with(postback, at, self.options.durability)
    }

    /// [`Ledger::convert`] at the durability level `durability` rather than the ledger's
    /// default. Whatever the level, an answer that depends on records not yet durable
    /// (an acceptance, a replay, an `already_claimed`) waits for them under `Sync`.
    ///
    /// ```
    /// use clickledger::{Durability, Ledger, Outcome, Postback, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let postback = Postback::from_query("key=nobody&id=1&amount=1&currency=EUR&cids=603ed1800000000000000000").unwrap();
    /// let outcome = ledger.convert_with(&postback, Timestamp::now(), Durability::None).unwrap();
    /// assert!(matches!(outcome, Outcome::Rejected(_)));
    /// ```
    pub fn convert_with(
        &self,
        postback: &Postback,
        at: Timestamp,
        durability: Durability,
    ) -> Result<Outcome, LedgerError> {
        self.convert_pending(postback, at)?.settle(durability)
    }

    /// Decides a postback at once and returns the outcome pending the sync of the
    /// records it depends on: for async callers that keep many postbacks in flight, so
    /// that one `fdatasync` answers them all. `wait` on the [`Pending`] or `.await` it
    /// before replying.
    ///
    /// ```
    /// use clickledger::{Ledger, Outcome, Postback, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let postback = Postback::from_query("key=nobody&id=1&amount=1&currency=EUR&cids=603ed1800000000000000000").unwrap();
    /// let pending = ledger.convert_pending(&postback, Timestamp::now()).unwrap();
    /// assert!(matches!(pending.wait().unwrap(), Outcome::Rejected(_)));
    /// ```
    pub fn convert_pending(
        &self,
        postback: &Postback,
        at: Timestamp,
    ) -> Result<Pending<Outcome>, LedgerError> {
        match postback.check() {
            Ok(()) => self.convert_checked(postback, at),
            Err(error) => Ok(self.pending(rejected(error.into(), Vec::new()), 0)),
        }
    }

    /// [`Ledger::convert`] of a postback known to pass [`Postback::check`] (parsing
    /// produced it).
    fn convert_checked(
        &self,
        postback: &Postback,
        at: Timestamp,
    ) -> Result<Pending<Outcome>, LedgerError> {
        // Programs are durable before they can be found by key: a rejection for the key
        // or for missing parameters depends on no record still in flight.
        let Some(program) = self.program_by_key(&postback.key) else {
            return Ok(self.pending(rejected(RejectReason::BadKey, Vec::new()), 0));
        };
        if let Err(error) = check_required(&program.settings, postback) {
            return Ok(self.pending(rejected(error.into(), Vec::new()), 0));
        }
        let mut state = program.state.lock();
        // Everything this decision reads was appended before this position.
        let seen = || self.commit.appended();
        if let Some(original) = state.by_order_id(&postback.order.order_id) {
            return Ok(self.pending(retry_outcome(original, postback), seen()));
        }
        let decision = decide(
            &postback.click_ids,
            |id| self.examine(id, &program, at),
            |id| {
                state
                    .by_claimed_click(id)
                    .map_or(ConversionId(0), |conversion| conversion.id)
            },
        );
        match decision.result {
            Err(reason) => Ok(self.pending(rejected(reason, decision.verdicts), seen())),
            Ok(attributed) => {
                let (conversion, position) =
                    self.record_conversion(&program, postback, at, attributed, decision)?;
                let conversion = Arc::new(conversion);
                state.insert(Arc::clone(&conversion));
                Ok(self.pending(Outcome::Accepted(conversion), position))
            }
        }
    }

    /// Parses a raw query string and applies it; a parse error becomes a rejected
    /// outcome naming the parameter, with nothing written.
    ///
    /// ```
    /// use clickledger::{Ledger, Outcome, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let outcome = ledger.convert_query("key=k&id=1&currency=EUR", Timestamp::now()).unwrap();
    /// assert!(matches!(outcome, Outcome::Rejected(r) if r.reason.code() == "missing:cids"));
    /// ```
    pub fn convert_query(&self, query: &str, at: Timestamp) -> Result<Outcome, LedgerError> {
        self.convert_query_pending(query, at)?
            .settle(self.options.durability)
    }

    /// [`Ledger::convert_query`] returning the outcome pending its sync, as
    /// [`Ledger::convert_pending`] does.
    ///
    /// ```
    /// use clickledger::{Ledger, Outcome, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let pending = ledger.convert_query_pending("key=k&id=1&currency=EUR", Timestamp::now()).unwrap();
    /// assert!(pending.is_durable(), "a parse error depends on nothing in flight");
    /// assert!(matches!(pending.wait().unwrap(), Outcome::Rejected(_)));
    /// ```
    pub fn convert_query_pending(
        &self,
        query: &str,
        at: Timestamp,
    ) -> Result<Pending<Outcome>, LedgerError> {
        match Postback::from_query(query) {
            Ok(postback) => {
                debug_assert_eq!(postback.check(), Ok(()), "parsing checks what check checks");
                self.convert_checked(&postback, at)
            }
            Err(error) => {
                let verdicts = if error.param() == "cids" {
                    crate::postback::cids_verdicts(query)
                } else {
                    Vec::new()
                };
                Ok(self.pending(rejected(error.into(), verdicts), 0))
            }
        }
    }

    /// What is known of a click ID, or `None` when it is forged or unknown.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert!(ledger.click(&"603ed1800000000000000000".parse().unwrap()).is_none());
    /// ```
    pub fn click(&self, id: &ClickId) -> Option<ClickInfo> {
        let entry = self.authentic_entry(id)?;
        let partner = self.partner_name(entry.partner())?;
        Some(ClickInfo {
            id: *id,
            program: entry.program(),
            partner,
            kind: entry.kind(),
            claimed: entry.is_claimed(),
        })
    }

    /// The conversion that claimed `id`, if any.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert!(ledger.claimed_by(&"603ed1800000000000000000".parse().unwrap()).is_none());
    /// ```
    pub fn claimed_by(&self, id: &ClickId) -> Option<Arc<Conversion>> {
        let entry = self.authentic_entry(id)?;
        let program = self.registry.read().program(entry.program())?.clone();
        let state = program.state.lock();
        state.by_claimed_click(id).cloned()
    }

    /// Every conversion of a program, in acceptance order.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert!(ledger.conversions(clickledger::ProgramId(0)).is_empty());
    /// ```
    pub fn conversions(&self, program: ProgramId) -> Vec<Arc<Conversion>> {
        let Some(entry) = self.registry.read().program(program).cloned() else {
            return Vec::new();
        };
        let state = entry.state.lock();
        state.conversions().to_vec()
    }

    /// Counts of what the ledger holds.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert_eq!(ledger.stats().programs, 0);
    /// ```
    pub fn stats(&self) -> Stats {
        let (programs, partners) = {
            let registry = self.registry.read();
            (
                registry.programs().len() as u64,
                registry.partner_count() as u64,
            )
        };
        Stats {
            programs,
            partners,
            clicks: self.counters.clicks.load(Ordering::Relaxed),
            impressions: self.counters.impressions.load(Ordering::Relaxed),
            conversions: self.counters.conversions.load(Ordering::Relaxed),
            claimed_ids: self.counters.claimed_ids.load(Ordering::Relaxed),
            partitions: self.index.partition_count() as u64,
            log_bytes: self.writer.lock().log.bytes(),
            slot_table_bytes: self.index.allocated_bytes(),
        }
    }

    /// Makes everything recorded so far durable (write, then fdatasync).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// ledger.sync().unwrap();
    /// ```
    pub fn sync(&self) -> Result<(), LedgerError> {
        if let Some(failure) = self.commit.failure() {
            return Err(failure.into());
        }
        if self.syncer.is_none() {
            return Ok(self.writer.lock().log.sync()?);
        }
        Ok(self.commit.wait(self.commit.appended())?)
    }

    /// The durability level answers get unless a call names another.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert_eq!(ledger.durability(), clickledger::Durability::Sync);
    /// ```
    pub fn durability(&self) -> Durability {
        self.options.durability
    }

    /// Closes the ledger as a killed process would: records not yet handed to the OS
    /// are thrown away, nothing is flushed or synced, and the directory's lock is
    /// released. For crash tests of the ledger and of the servers that embed it.
    ///
    /// ```
    /// use clickledger::{ClickKind, Durability, Ledger, ProgramSettings, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let program = ledger.register_program(ProgramSettings::new("p1")).unwrap().id;
    /// let id = ledger
    ///     .record_click_with(program, "a7", ClickKind::Click, Timestamp::now(), Durability::None)
    ///     .unwrap();
    /// ledger.kill();
    /// let reopened = Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert!(reopened.click(&id).is_none(), "the click was never written");
    /// ```
    pub fn kill(mut self) {
        self.writer.lock().log.discard_unwritten();
        self.killed = true;
        self.stop_syncer();
    }

    /// Hands buffered records to the OS without waiting for the disk: they survive a
    /// killed process, not a power loss.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
    /// ledger.flush().unwrap();
    /// ```
    pub fn flush(&self) -> Result<(), LedgerError> {
        Ok(self.writer.lock().log.flush()?)
    }

    fn pending<T>(&self, value: T, position: u64) -> Pending<T> {
        Pending::new(value, position, Arc::clone(&self.commit))
    }

    fn stop_syncer(&mut self) {
        self.commit.stop();
        if let Some(syncer) = self.syncer.take() {
            // The thread only panics on a bug, which its own message reports.
            let _ = syncer.join();
        }
    }

    fn program_by_key(&self, key: &str) -> Option<Arc<ProgramEntry>> {
        self.registry.read().program_by_key(key).cloned()
    }

    /// The partner's number, registering the name (durably logged) on first sight.
    /// Registers a partner name (durably logged before first use) and returns its
    /// number; another thread may have registered it meanwhile.
    fn register_partner(&self, name: &str) -> Result<PartnerId, LedgerError> {
        check_name("partner name", name)?;
        let mut registry = self.registry.write();
        if let Some(id) = registry.partner(name) {
            return Ok(id);
        }
        let id = registry.next_partner_id();
        self.writer.lock().log.append(&Record::PartnerRegistered {
            id,
            name: name.to_owned(),
        })?;
        registry
            .add_partner(id, name.to_owned())
            .map_err(|problem| unreachable_state(&problem))?;
        Ok(id)
    }

    /// The slot entry of an ID whose tag and shard are ours, if it was minted.
    fn authentic_entry(&self, id: &ClickId) -> Option<SlotEntry> {
        if id.shard() != self.options.shard || !self.id_key.verify(id) {
            return None;
        }
        Some(self.index.get(id)).filter(|entry| entry.is_present())
    }

    /// The state of one ID for a postback of `program` at `at` (see `claim.rs`).
    fn examine(&self, id: &ClickId, program: &ProgramEntry, at: Timestamp) -> Verdict {
        if id.shard() != self.options.shard || !self.id_key.verify(id) {
            return Verdict::Forged;
        }
        if id.time().day() < self.dropped_before.load(Ordering::Acquire) {
            return Verdict::Expired;
        }
        let entry = self.index.get(id);
        if !entry.is_present() {
            return Verdict::Unknown;
        }
        if entry.program() != program.id {
            return Verdict::OtherProgram;
        }
        let clicked = id.time().unix();
        if clicked
            > at.unix()
                .saturating_add(self.options.clock_tolerance_seconds)
        {
            return Verdict::FromFuture;
        }
        if at.unix().saturating_sub(clicked) > program.settings.attribution_window_seconds {
            return Verdict::Expired;
        }
        if entry.is_claimed() {
            Verdict::AlreadyClaimed
        } else {
            Verdict::Eligible
        }
    }

    /// Logs an accepted conversion and sets its claim bits. Called with the program
    /// lock held, so no other claim of this program can interleave.
    fn record_conversion(
        &self,
        program: &ProgramEntry,
        postback: &Postback,
        at: Timestamp,
        attributed: ClickId,
        decision: Decision,
    ) -> Result<(Conversion, u64), LedgerError> {
        let partner = self.index.get(&attributed).partner();
        let partner = self.partner_name(partner).unwrap_or_default();
        let mut writer = self.writer.lock();
        let id = ConversionId(writer.next_conversion);
        let record = conversion_record(id, program.id, postback, at, attributed, &decision);
        let record = Record::ConversionRecorded(record);
        let position = writer.log.append(&record)?;
        writer.next_conversion += 1;
        drop(writer);
        // The record's copy of the order becomes the conversion's: one copy per claim.
        let Record::ConversionRecorded(record) = record else {
            unreachable!("built as a conversion record above");
        };

        let claimed: Vec<ClickId> = decision.claimed().collect();
        for click in &claimed {
            let newly_claimed = self.index.claim(click);
            assert!(
                newly_claimed,
                "click {click} was examined unclaimed under the program lock"
            );
        }
        self.counters.conversions.fetch_add(1, Ordering::Relaxed);
        self.counters
            .claimed_ids
            .fetch_add(claimed.len() as u64, Ordering::Relaxed);
        let conversion = Conversion {
            id,
            program: program.id,
            order: record.order,
            attributed_click: attributed,
            partner,
            claimed,
            verdicts: decision.verdicts,
            at,
        };
        Ok((conversion, position))
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        if !self.killed && !self.options.read_only {
            // Buffered records reach the OS on a clean drop; under `Interval` they are
            // synced, as promised; under `None` durability still needs `sync`.
            let _ = match self.options.durability {
                Durability::None => self.writer.lock().log.flush(),
                _ => self.writer.lock().log.sync(),
            };
        }
        self.stop_syncer();
    }
}

/// Starts the ledger's sync thread (see [`crate::log::commit`]).
fn spawn_syncer(
    writer: &Arc<Mutex<Writer>>,
    commit: &Arc<GroupCommit>,
) -> Result<std::thread::JoinHandle<()>, LedgerError> {
    let writer = Arc::clone(writer);
    let commit = Arc::clone(commit);
    std::thread::Builder::new()
        .name("clickledger-sync".to_owned())
        .spawn(move || commit.run_syncer(|spare| writer.lock().log.take_batch(spare)))
        .map_err(|source| {
            LogError::io("start the sync thread for", Path::new("log"), source).into()
        })
}

impl Counters {
    fn count_click(&self, kind: ClickKind) {
        match kind {
            ClickKind::Click => self.clicks.fetch_add(1, Ordering::Relaxed),
            ClickKind::Impression => self.impressions.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Name of the lock file in the data directory.
pub const LOCK_FILE_NAME: &str = "lock";

/// Takes the directory's advisory lock, exclusive to write, shared to read, or says who
/// holds it. A read-only open of a directory without a lock file takes none: no writer
/// ever opened it, and a read-only file system could not hold a new one.
fn lock_dir(dir: &Path, read_only: bool) -> Result<Option<std::fs::File>, LedgerError> {
    let path = dir.join(LOCK_FILE_NAME);
    let opened = if read_only {
        std::fs::File::open(&path)
    } else {
        std::fs::File::create(&path)
    };
    let file = match opened {
        Ok(file) => file,
        Err(error) if read_only && error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LogError::io("open", &path, source).into()),
    };
    let locked = if read_only {
        file.try_lock_shared()
    } else {
        file.try_lock()
    };
    match locked {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(LedgerError::Locked {
            dir: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => {
            Err(LogError::io("lock", &path, source).into())
        }
    }
}

/// Hands out the next slot of `day`, first reserving (and syncing) a new range when the
/// reserved one is used up, so that no ID can be handed out twice across a crash.
fn allocate_slot(writer: &mut Writer, day: u32) -> Result<u32, LedgerError> {
    let Writer { log, days, .. } = writer;
    let mint = days.entry(day).or_default();
    let slot = mint.next_slot;
    if slot == u32::MAX {
        return Err(LedgerError::PartitionFull { day });
    }
    if slot >= mint.reserved_end {
        let slot_end = reservation_end(slot, mint.minted_since_open);
        log.append(&Record::SlotsReserved { day, slot_end })?;
        log.sync()?;
        mint.reserved_end = slot_end;
    }
    mint.next_slot += 1;
    mint.minted_since_open = mint.minted_since_open.saturating_add(1);
    debug_assert!(mint.next_slot <= mint.reserved_end);
    Ok(slot)
}

/// Where a reservation starting at `slot` ends, when the day has minted
/// `minted_since_open` slots since the open: as many again (so reservations double while
/// a day is busy), within [`RESERVATION_SLOTS_MIN`]..=[`RESERVATION_SLOTS_MAX`]. A
/// reopen resumes at the end of the last reservation; the slots skipped cost no memory
/// unless a click lands in their chunk.
fn reservation_end(slot: u32, minted_since_open: u32) -> u32 {
    let length = minted_since_open.clamp(RESERVATION_SLOTS_MIN, RESERVATION_SLOTS_MAX);
    slot.saturating_add(length)
}

fn conversion_record(
    id: ConversionId,
    program: ProgramId,
    postback: &Postback,
    at: Timestamp,
    attributed: ClickId,
    decision: &Decision,
) -> ConversionRecord {
    ConversionRecord {
        id: id.0,
        program,
        at: at.unix(),
        order: postback.order.clone(),
        attributed: *attributed.as_bytes(),
        verdicts: logged_verdicts(&decision.verdicts),
    }
}

/// The verdicts a conversion record keeps: those of IDs that parsed (an accepted
/// postback has no other, but the record's layout cannot hold raw text anyway).
fn logged_verdicts(verdicts: &[IdVerdict]) -> Vec<([u8; CLICK_ID_BYTES], Verdict)> {
    verdicts
        .iter()
        .filter_map(|verdict| match &verdict.id {
            IdText::Parsed(id) => Some((*id.as_bytes(), verdict.verdict)),
            IdText::Raw(_) => None,
        })
        .collect()
}

/// An ID that appears twice in `ids` (at most 64 of them: a postback's limit), if any.
fn repeated_id(ids: &[ClickId]) -> Option<ClickId> {
    ids.iter()
        .enumerate()
        .find(|(index, id)| ids[..*index].contains(id))
        .map(|(_, id)| *id)
}

/// The conversion a logged record describes; `partner` is its attributed click's.
fn conversion_from_record(record: ConversionRecord, partner: String) -> Conversion {
    let verdicts: Vec<IdVerdict> = record
        .verdicts
        .iter()
        .map(|(bytes, verdict)| IdVerdict {
            id: IdText::Parsed(ClickId::from_bytes(*bytes)),
            verdict: *verdict,
        })
        .collect();
    let claimed: Vec<ClickId> = record
        .verdicts
        .iter()
        .filter(|(_, verdict)| *verdict == Verdict::Accepted)
        .map(|(bytes, _)| ClickId::from_bytes(*bytes))
        .collect();
    Conversion {
        id: ConversionId(record.id),
        program: record.program,
        order: record.order,
        attributed_click: ClickId::from_bytes(record.attributed),
        partner,
        claimed,
        verdicts,
        at: Timestamp::from_unix(record.at),
    }
}

/// The answer to a postback whose program and order id were seen before.
fn retry_outcome(original: &Arc<Conversion>, postback: &Postback) -> Outcome {
    if original.order.is_retried_by(&postback.order) {
        Outcome::Replayed(Arc::clone(original))
    } else {
        let reason = RejectReason::ConflictingRetry {
            order_id: postback.order.order_id.clone(),
            original: original.id,
        };
        rejected(reason, Vec::new())
    }
}

fn rejected(reason: RejectReason, verdicts: Vec<IdVerdict>) -> Outcome {
    Outcome::Rejected(Rejection { reason, verdicts })
}

/// The program's required-if rules: amount for sales, payment and customer when set.
fn check_required(settings: &ProgramSettings, postback: &Postback) -> Result<(), PostbackError> {
    if settings.kind == ConversionKind::Sales && postback.order.amount_minor.is_none() {
        return Err(PostbackError::Missing { param: "amount" });
    }
    if settings.payment_required && postback.order.payment.is_none() {
        return Err(PostbackError::Missing { param: "payment" });
    }
    if settings.revenue_share && postback.order.customer.is_none() {
        return Err(PostbackError::Missing { param: "customer" });
    }
    Ok(())
}

/// The first day kept at `now` with a retention of `retention_days`: a day is dropped
/// once it ended `retention_days` whole days before `now`'s day began.
fn retention_cutoff(now: Timestamp, retention_days: u32) -> u32 {
    now.day().saturating_sub(retention_days)
}

fn check_retention_days(days: Option<u32>) -> Result<(), LedgerError> {
    if days == Some(0) {
        return Err(LedgerError::InvalidInput {
            what: "retention_days",
            expected: "at least 1 day, or none to keep everything",
            found: "0".to_owned(),
        });
    }
    Ok(())
}

fn check_segment_bytes_max(bytes: u64) -> Result<(), LedgerError> {
    if (SEGMENT_BYTES_MAX_LEAST..=SEGMENT_BYTES_MAX_LIMIT).contains(&bytes) {
        return Ok(());
    }
    Err(LedgerError::InvalidInput {
        what: "segment_bytes_max",
        expected: "from 4096 (4 KiB) to 1073741824 (1 GiB)",
        found: bytes.to_string(),
    })
}

/// Most landing domains a program may list.
pub const LANDING_DOMAINS_MAX: usize = 32;
/// Longest landing domain, in bytes (the DNS limit).
const LANDING_DOMAIN_BYTES_MAX: usize = 253;
/// Longest default landing URL, in bytes.
const LANDING_URL_BYTES_MAX: usize = 2048;

/// Bounds what a program record holds, so that it stays a few kilobytes: small enough
/// that the scan after a torn record (see `log::replay`) stays short.
fn check_settings(settings: &ProgramSettings) -> Result<(), LedgerError> {
    check_name("program name", &settings.name)?;
    let domains = &settings.landing_domains;
    if domains.len() > LANDING_DOMAINS_MAX {
        return Err(LedgerError::InvalidInput {
            what: "landing domains",
            expected: "at most 32 domains",
            found: format!("{} domains", domains.len()),
        });
    }
    for domain in domains {
        check_text_field(
            "landing domain",
            domain,
            LANDING_DOMAIN_BYTES_MAX,
            "1 to 253 visible ASCII characters",
        )?;
    }
    if let Some(url) = &settings.default_landing_url {
        check_text_field(
            "default landing URL",
            url,
            LANDING_URL_BYTES_MAX,
            "1 to 2048 visible ASCII characters",
        )?;
    }
    Ok(())
}

fn check_name(what: &'static str, text: &str) -> Result<(), LedgerError> {
    check_text_field(
        what,
        text,
        NAME_BYTES_MAX,
        "1 to 128 visible ASCII characters",
    )
}

fn check_text_field(
    what: &'static str,
    text: &str,
    bytes_max: usize,
    expected: &'static str,
) -> Result<(), LedgerError> {
    let visible = |byte: &u8| (0x21..=0x7e).contains(byte);
    if text.is_empty() || text.len() > bytes_max || !text.as_bytes().iter().all(visible) {
        return Err(LedgerError::InvalidInput {
            what,
            expected,
            found: text.chars().take(64).collect(),
        });
    }
    Ok(())
}

/// A registry refusal after the same checks passed under the same lock is a bug.
fn unreachable_state(problem: &str) -> LedgerError {
    panic!("registry refused a checked entry: {problem}")
}

/// The state rebuilt while replaying the log.
struct ReplayState {
    id_key: IdKey,
    shard: u8,
    index: ClaimIndex,
    registry: Registry,
    days: HashMap<u32, DayMint>,
    last_conversion: u64,
    counters: Counters,
    /// The log's first record, [`Record::LedgerCreated`], was seen.
    created: bool,
    /// Days before this one were dropped by retention (from the checkpoint loaded).
    dropped_before: u32,
    /// The record applied was logged while the checkpoint loaded copied its slot
    /// tables: its click or claims may be there already (see `checkpoint::format`).
    lenient: bool,
}

impl ReplayState {
    fn new(id_key: IdKey, shard: u8) -> ReplayState {
        ReplayState {
            id_key,
            shard,
            index: ClaimIndex::default(),
            registry: Registry::default(),
            days: HashMap::new(),
            last_conversion: 0,
            counters: Counters::default(),
            created: false,
            dropped_before: 0,
            lenient: false,
        }
    }

    /// Applies one record; an error says how it contradicts what came before.
    fn apply(&mut self, record: Record) -> Result<(), String> {
        if !self.created {
            return match record {
                Record::LedgerCreated => {
                    self.created = true;
                    Ok(())
                }
                _ => Err(
                    "the log does not start with its creation record: its beginning \
                          was lost, or another program wrote it"
                        .to_owned(),
                ),
            };
        }
        match record {
            Record::LedgerCreated => Err("a second creation record".to_owned()),
            // The log consumes seals itself (see `log::replay`).
            Record::SegmentSealed => Err("a seal record inside a segment".to_owned()),
            Record::ProgramRegistered(program) => {
                self.registry
                    .add_program(program.id, program.key_sha256, program.settings)
            }
            Record::ProgramKeyRotated {
                program,
                key_sha256,
            } => self.registry.rotate_key(program, key_sha256),
            Record::PartnerRegistered { id, name } => self.registry.add_partner(id, name),
            Record::ClickRecorded {
                id,
                program,
                partner,
                kind,
            } => self.apply_click(id, program, partner, kind),
            Record::SlotsReserved { day, slot_end } => {
                let mint = self.days.entry(day).or_default();
                mint.reserved_end = mint.reserved_end.max(slot_end);
                Ok(())
            }
            Record::ConversionRecorded(conversion) => self.apply_conversion(conversion),
        }
    }

    fn apply_click(
        &mut self,
        id: ClickId,
        program: ProgramId,
        partner: PartnerId,
        kind: ClickKind,
    ) -> Result<(), String> {
        if id.shard() != self.shard || !self.id_key.verify(&id) {
            return Err(format!(
                "click {id} was not minted with this directory's secret and shard"
            ));
        }
        if self.registry.program(program).is_none() || self.registry.partner_name(partner).is_none()
        {
            return Err(format!(
                "click {id} names an unregistered program or partner"
            ));
        }
        let day = id.time().day();
        if day < self.dropped_before {
            return Err(format!(
                "click {id} is dated on a day retention dropped before the record"
            ));
        }
        let mint = self.days.entry(day).or_default();
        if id.slot() >= mint.reserved_end {
            return Err(format!(
                "click {id} uses slot {} beyond the reservation",
                id.slot()
            ));
        }
        let partition = self.index.partition_or_create(day);
        let minted = SlotEntry::minted(program, partner, kind);
        let found = partition.get(id.slot());
        let unclaimed = SlotEntry::from_bits(found.bits() & !SlotEntry::CLAIMED_BIT);
        if found.is_present() && !(self.lenient && unclaimed == minted) {
            return Err(format!("click {id} minted twice"));
        }
        if !found.is_present() {
            partition.insert(id.slot(), minted);
        }
        self.counters.count_click(kind);
        Ok(())
    }

    fn apply_conversion(&mut self, record: ConversionRecord) -> Result<(), String> {
        if record.id <= self.last_conversion {
            return Err(format!(
                "conversion {} after conversion {}",
                record.id, self.last_conversion
            ));
        }
        if record.id == u64::MAX {
            // No writer reaches it (2^64 conversions), and it would leave no next number.
            return Err(format!(
                "conversion number {} leaves no next one",
                record.id
            ));
        }
        let program = self
            .registry
            .program(record.program)
            .cloned()
            .ok_or("conversion of an unregistered program")?;
        let attributed = ClickId::from_bytes(record.attributed);
        let partner = self
            .registry
            .partner_name(self.index.get(&attributed).partner())
            .unwrap_or_default()
            .to_owned();
        let conversion = conversion_from_record(record, partner);
        self.claim_replayed(&program, &conversion.order.order_id, &conversion.claimed)?;
        self.last_conversion = conversion.id.0;
        self.counters.conversions.fetch_add(1, Ordering::Relaxed);
        self.counters
            .claimed_ids
            .fetch_add(conversion.claimed.len() as u64, Ordering::Relaxed);
        program.state.lock().insert(Arc::new(conversion));
        Ok(())
    }

    /// Sets the claim bits of a replayed conversion, checking what the writer checked.
    fn claim_replayed(
        &self,
        program: &ProgramEntry,
        order_id: &str,
        claimed: &[ClickId],
    ) -> Result<(), String> {
        let state = program.state.lock();
        if state.by_order_id(order_id).is_some() {
            return Err(format!("order {order_id:?} converted twice"));
        }
        if let Some(id) = repeated_id(claimed) {
            return Err(format!("one conversion claims {id} twice"));
        }
        for id in claimed {
            let entry = self.index.get(id);
            if !entry.is_present() || entry.program() != program.id {
                return Err(format!("conversion claims {id}, unknown to its program"));
            }
            let claimed_before = state.by_claimed_click(id).is_some();
            let claimed_now = self.index.claim(id);
            if claimed_before || !(claimed_now || self.lenient) {
                return Err(format!("click {id} claimed twice"));
            }
        }
        Ok(())
    }

    /// Minting state for the reopened ledger: every day resumes at its reservation end,
    /// skipping slots that may have been handed out before a crash.
    fn days_after_replay(&self) -> HashMap<u32, DayMint> {
        self.days
            .iter()
            .map(|(day, mint)| {
                (
                    *day,
                    DayMint {
                        next_slot: mint.reserved_end,
                        reserved_end: mint.reserved_end,
                        minted_since_open: 0,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_must_start_with_one_creation_record_and_hold_no_other() {
        let reserved = Record::SlotsReserved {
            day: 1,
            slot_end: crate::index::CHUNK_SLOTS,
        };
        let mut state = ReplayState::new(IdKey::from_bytes([1; IdKey::BYTES]), 0);
        assert!(
            state.apply(reserved.clone()).is_err(),
            "no creation record first"
        );
        assert_eq!(state.apply(Record::LedgerCreated), Ok(()));
        assert_eq!(state.apply(reserved), Ok(()));
        assert!(state.apply(Record::LedgerCreated).is_err(), "a second one");
    }

    #[test]
    fn a_conversion_numbered_u64_max_is_refused_at_replay() {
        let mut state = ReplayState::new(IdKey::from_bytes([1; IdKey::BYTES]), 0);
        assert_eq!(state.apply(Record::LedgerCreated), Ok(()));
        let record = ConversionRecord {
            id: u64::MAX,
            program: ProgramId(0),
            at: 0,
            order: crate::order::Order::new("A1", crate::money::Currency::parse("EUR").unwrap()),
            attributed: [0; 12],
            verdicts: Vec::new(),
        };
        let error = state.apply(Record::ConversionRecorded(record)).unwrap_err();
        assert!(error.contains("leaves no next"), "{error}");
    }

    #[test]
    fn a_conversion_claiming_one_id_twice_is_refused_at_replay_even_leniently() {
        let key = IdKey::from_bytes([1; IdKey::BYTES]);
        let mut state = ReplayState::new(key.clone(), 0);
        let at = Timestamp::from_unix(1_740_823_200);
        let id = key.mint(at, 0, 0);
        let program = ProgramRecord {
            id: ProgramId(0),
            key_sha256: [7; 32],
            settings: ProgramSettings::new("p1"),
        };
        let setup = [
            Record::LedgerCreated,
            Record::ProgramRegistered(program),
            Record::PartnerRegistered {
                id: PartnerId(0),
                name: "a7".to_owned(),
            },
            Record::SlotsReserved {
                day: at.day(),
                slot_end: 64,
            },
            Record::ClickRecorded {
                id,
                program: ProgramId(0),
                partner: PartnerId(0),
                kind: ClickKind::Click,
            },
        ];
        for record in setup {
            assert_eq!(state.apply(record), Ok(()));
        }
        let twice = ConversionRecord {
            id: 1,
            program: ProgramId(0),
            at: at.unix(),
            order: crate::order::Order::new("A1", crate::money::Currency::parse("EUR").unwrap()),
            attributed: *id.as_bytes(),
            verdicts: vec![(*id.as_bytes(), Verdict::Accepted); 2],
        };
        state.lenient = true;
        let error = state.apply(Record::ConversionRecorded(twice)).unwrap_err();
        assert!(error.contains("twice"), "{error}");
    }

    #[test]
    fn reservations_grow_with_the_clicks_minted_since_the_open() {
        assert_eq!(reservation_end(0, 0), RESERVATION_SLOTS_MIN);
        assert_eq!(reservation_end(100, 0), 100 + RESERVATION_SLOTS_MIN);
        assert_eq!(reservation_end(10_000, 10_000), 20_000);
        assert_eq!(reservation_end(0, u32::MAX), RESERVATION_SLOTS_MAX);
        for slot in [0, 1, 70_000, 5_000_000, 1 << 31, u32::MAX - 1] {
            let end = reservation_end(slot, 0);
            assert!(end > slot, "slot {slot}");
        }
        assert_eq!(reservation_end(u32::MAX - 1, u32::MAX), u32::MAX);
    }

    #[test]
    fn a_busy_day_reserves_in_growing_ranges() {
        let (mut slot, mut reservations) = (0, 0);
        while slot < 10_000_000 {
            slot = reservation_end(slot, slot);
            reservations += 1;
        }
        assert!(
            reservations <= 19,
            "{reservations} reservations for 10 million clicks"
        );
    }

    #[test]
    fn a_day_outlasts_a_million_opens_of_one_click_each() {
        let opens = (u64::from(u32::MAX) / u64::from(reservation_end(0, 0))) as u32;
        assert!(opens >= 1_000_000, "{opens} opens");
    }
}
