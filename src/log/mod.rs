//! The append-only log: the single source of truth.
//!
//! Everything the ledger knows is a record in the log; the in-memory index is rebuilt
//! from it at open. See `docs/FORMAT.md` for the bytes.

use std::path::{Path, PathBuf};

pub mod commit;
pub mod frame;
pub mod io;
pub mod record;
pub mod replay;
pub mod segment;
pub mod verify;
pub mod writer;

pub use replay::{replay, ReplayFrom};
pub use writer::LogWriter;

/// What opening the log found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// A torn or checksum-failing tail that was cut, if any.
    pub torn_tail: Option<TornTail>,
    /// Records replayed.
    pub records: u64,
    /// Segment files read.
    pub segments: u64,
    /// What a [`RecoveryMode::PointInTime`] open dropped after damage, if anything.
    pub point_in_time: Option<PointInTimeCut>,
    /// The checkpoint the open started from; `None` when it replayed the whole log.
    pub checkpoint: Option<PathBuf>,
    /// Checkpoints the open could not use (damaged, of an unknown version, or needing
    /// log segments that are gone), newest first; each is also a `tracing` warning.
    pub skipped_checkpoints: Vec<crate::checkpoint::SkippedCheckpoint>,
    /// Checkpoints a point-in-time recovery removed: they were taken after its cut.
    pub checkpoints_removed: Vec<PathBuf>,
}

/// What damage an open tolerates, and what it does about it.
///
/// ```
/// use clickledger::{Options, RecoveryMode};
/// assert_eq!(Options::default().recovery, RecoveryMode::TolerateTornTail);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// A damaged end of the last segment with no valid record after it (what a crash
    /// leaves) is cut and reported in [`RecoveryReport::torn_tail`]; damage anywhere
    /// else stops the open with an error naming file and offset. The default.
    #[default]
    TolerateTornTail,
    /// Any damage, a torn tail included, stops the open with an error: for an operator
    /// who wants to look before anything is cut.
    AbsoluteConsistency,
    /// Replays up to the first damage anywhere and drops everything after it: the rest
    /// of that segment and every later segment, reported in
    /// [`RecoveryReport::point_in_time`]. Conversions dropped this way are forgotten
    /// (their click IDs may be claimed again); IDs are not reissued, as far as the
    /// dropped bytes can still be read (see [`PointInTimeCut::reservations_kept`]).
    PointInTime,
}

/// What a point-in-time recovery dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointInTimeCut {
    /// The segment where the damage is.
    pub segment: PathBuf,
    /// The same place as a log position: the log now ends here.
    pub at: LogPosition,
    /// Where the damage starts; the segment is cut here.
    pub offset: u64,
    /// What is wrong there.
    pub problem: String,
    /// Bytes cut from `segment`.
    pub bytes_cut: u64,
    /// Later segments removed whole, with their sizes.
    pub segments_removed: Vec<(PathBuf, u64)>,
    /// Slot reservations and clicks still readable in the dropped bytes, kept as
    /// reservations so that their IDs are not minted again. IDs whose reservation is in
    /// the damaged bytes themselves cannot be protected: a known limit of the mode.
    pub reservations_kept: u64,
    /// False when the ledger was opened read-only: nothing was changed.
    pub repaired: bool,
}

/// A place in the log: a segment and a byte offset inside it (header included).
///
/// ```
/// use clickledger::log::LogPosition;
/// let early = LogPosition { segment: 1, offset: 900 };
/// let late = LogPosition { segment: 2, offset: 16 };
/// assert!(early < late);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    /// The segment number.
    pub segment: u32,
    /// Bytes from the start of the segment file.
    pub offset: u64,
}

/// A damaged tail of the last segment, cut at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Where the damage started (bytes from the start of the file).
    pub offset: u64,
    /// How many bytes were (or, read-only, would be) cut.
    pub bytes_cut: u64,
    /// False when the ledger was opened read-only: the damage is reported, not cut.
    pub repaired: bool,
}

/// Why the log could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An I/O operation failed.
    #[error("cannot {operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A record is damaged somewhere other than the torn tail.
    #[error("{segment} is damaged at offset {offset}: {problem}")]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the damaged frame.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// A segment was written by a format version this build does not read.
    #[error("{segment} has format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// The segment file.
        segment: PathBuf,
        /// Version found.
        found: u32,
        /// Version supported.
        supported: u32,
    },
    /// Segment numbers have a gap.
    #[error("segment {number} is missing (next file found: {found})")]
    MissingSegment {
        /// The missing number.
        number: u32,
        /// The file found in its place.
        found: PathBuf,
    },
    /// The last segment recorded in the marker is gone: segments were removed.
    #[error(
        "segment {number} of the log in {log_dir} is missing (it was the last one written); \
         restore it: opening without it would forget claims and mint IDs again"
    )]
    LastSegmentMissing {
        /// The log directory.
        log_dir: PathBuf,
        /// The last segment number recorded.
        number: u32,
    },
    /// The directory has its secret but its log has no last-segment marker: the log was
    /// removed or replaced.
    #[error(
        "the log in {log_dir} was removed or replaced (its last-segment marker is missing \
         while the directory's secret exists); restore it: a new log would mint IDs again"
    )]
    MarkerMissing {
        /// The log directory.
        log_dir: PathBuf,
    },
    /// The directory has its secret but its log holds no record: the log was truncated
    /// (or replaced by an empty one) after the ledger was created.
    #[error(
        "the log in {log_dir} holds no records, yet the directory's secret says a ledger \
         was created here: its segments were truncated or replaced; restore them: an \
         empty log would mint IDs again"
    )]
    Emptied {
        /// The log directory.
        log_dir: PathBuf,
    },
    /// Something else took the place of one of the ledger's files: a segment, the secret
    /// or the marker that is not a plain file or is larger than the ledger writes it, or
    /// a `log` that is not a directory.
    #[error("{path} is not a file the ledger wrote: {problem}")]
    NotLogFile {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        problem: String,
    },
    /// A record too large to log (a hand-built postback or program settings beyond the
    /// limits); nothing was written.
    #[error("{0}; nothing was written")]
    RecordSize(#[from] frame::PayloadSizeError),
    /// The ledger was opened read-only.
    #[error("the ledger was opened read-only; {segment} is not written")]
    ReadOnly {
        /// The last segment.
        segment: PathBuf,
    },
    /// The log ends before the position a valid checkpoint was taken at. The log is
    /// synced up to that position before the checkpoint is written, so the log lost
    /// records it had made durable: it was restored from an older copy, cut by hand, or
    /// its file system lost synced data.
    #[error(
        "the log ends before the position of checkpoint {checkpoint}: it needs segment \
         {} up to offset {}, but {found}; the log was restored from an older copy or lost \
         synced data: restore it, since opening it would forget claims and mint IDs again",
        needed.segment,
        needed.offset
    )]
    ShorterThanCheckpoint {
        /// The checkpoint file.
        checkpoint: PathBuf,
        /// Where its state was taken.
        needed: LogPosition,
        /// What the log holds instead.
        found: String,
    },
    /// A write or sync failed: what follows the last successful sync is not
    /// acknowledged, and the log accepts nothing until the ledger is reopened (a failed
    /// fsync cannot be retried safely: the kernel may have dropped the dirty pages).
    #[error(
        "the log stopped after an I/O failure on {segment} ({cause}); nothing since the \
         last successful sync is acknowledged; reopen the ledger"
    )]
    Failed {
        /// The segment being written.
        segment: PathBuf,
        /// The failure, as the operating system worded it.
        cause: String,
    },
}

impl LogError {
    pub(crate) fn io(operation: &'static str, path: &Path, source: std::io::Error) -> LogError {
        LogError::Io {
            operation,
            path: path.to_owned(),
            source,
        }
    }
}
