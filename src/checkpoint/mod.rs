//! Checkpoints: the in-memory state written to a file with the log position it was
//! taken at, so that an open loads it and replays only the log after that position.
//!
//! A checkpoint is derived data: the log stays the source of truth, and a damaged
//! checkpoint is skipped (with a warning in [`crate::log::RecoveryReport`]) in favour of
//! an older one or a full replay. Files live in `checkpoints/` of the data directory,
//! outside `log/`: a log restored from an older copy is then caught by the newer
//! checkpoint it no longer reaches. Their bytes are specified in `docs/FORMAT.md`.
//!
//! This module handles the files (naming, writing atomically, listing, loading,
//! pruning); `ledger` decides when the state is consistent and what goes in.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use crate::log::frame::FrameSeed;
use crate::log::segment::sync_dir;
use crate::log::LogError;

pub(crate) mod format;

pub(crate) use format::{Loaded, Meta, StoredConversion};

/// Subdirectory of the data directory that holds the checkpoints.
pub const CHECKPOINT_DIR_NAME: &str = "checkpoints";

/// Checkpoints kept after a new one is written: the newest two, so that a damaged
/// newest one still leaves one to open from (and the log it needs).
pub const CHECKPOINTS_KEPT: usize = 2;

/// Suffix of a checkpoint still being written; a crash can leave one, which is ignored
/// at open and removed by the next checkpoint.
pub const TEMPORARY_SUFFIX: &str = ".new";

/// Buffer of the writes and reads of a checkpoint: large, since a checkpoint is written
/// and read front to back in one pass.
const IO_BUFFER_BYTES: usize = 1 << 20;

pub use crate::log::LogPosition;

/// What [`crate::Ledger::checkpoint`] did.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let ledger = clickledger::Ledger::open(dir.path(), Default::default()).unwrap();
/// let report = ledger.checkpoint().unwrap();
/// assert!(report.path.starts_with(dir.path().join("checkpoints")));
/// assert_eq!(report.partitions_dropped, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The checkpoint file written.
    pub path: PathBuf,
    /// The log position its state is taken at.
    pub position: LogPosition,
    /// Its size.
    pub bytes: u64,
    /// How long clicks and claims waited while the state was written (microseconds).
    pub blocked_us: u64,
    /// How long the whole checkpoint took, fsyncs and pruning included (microseconds).
    pub elapsed_us: u64,
    /// Days dropped from memory by retention before the state was written.
    pub partitions_dropped: u64,
    /// Older checkpoint files removed (beyond [`CHECKPOINTS_KEPT`]).
    pub checkpoints_removed: u64,
    /// Log segments removed because no kept checkpoint needs them (retention only).
    pub segments_removed: u64,
}

/// A checkpoint the open could not use, and why.
///
/// ```
/// let skipped = clickledger::checkpoint::SkippedCheckpoint {
///     path: "checkpoints/checkpoint-00000001-000000000100.ckpt".into(),
///     problem: "CRC mismatch".to_owned(),
/// };
/// assert!(skipped.problem.contains("CRC"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedCheckpoint {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

/// The file name of the checkpoint taken at `position`:
/// `checkpoint-SSSSSSSS-OOOOOOOOOOOO.ckpt` (segment and offset, decimal). Names sort as
/// positions do, and name what the file's header must repeat.
///
/// ```
/// use clickledger::checkpoint::{file_name, LogPosition};
/// let name = file_name(LogPosition { segment: 3, offset: 4096 });
/// assert_eq!(name, "checkpoint-00000003-000000004096.ckpt");
/// ```
pub fn file_name(position: LogPosition) -> String {
    format!(
        "checkpoint-{:08}-{:012}.ckpt",
        position.segment, position.offset
    )
}

/// The position a checkpoint file name states, or `None` for any other name.
///
/// ```
/// use clickledger::checkpoint::{file_name, position_of_name, LogPosition};
/// let position = LogPosition { segment: 3, offset: 4096 };
/// assert_eq!(position_of_name(&file_name(position)), Some(position));
/// assert_eq!(position_of_name("checkpoint-3-4096.ckpt"), None);
/// ```
pub fn position_of_name(name: &str) -> Option<LogPosition> {
    let digits = name.strip_prefix("checkpoint-")?.strip_suffix(".ckpt")?;
    let (segment, offset) = digits.split_once('-')?;
    let all_digits =
        |text: &str, length| text.len() == length && text.bytes().all(|byte| byte.is_ascii_digit());
    if !all_digits(segment, 8) || !all_digits(offset, 12) {
        return None;
    }
    Some(LogPosition {
        segment: segment.parse().ok()?,
        offset: offset.parse().ok()?,
    })
}

/// The checkpoint directory of a data directory.
pub(crate) fn checkpoint_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(CHECKPOINT_DIR_NAME)
}

/// The checkpoints in `data_dir`, oldest first. No directory means no checkpoint.
pub(crate) fn list(data_dir: &Path) -> Result<Vec<(LogPosition, PathBuf)>, LogError> {
    let dir = checkpoint_dir(data_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(LogError::io("list", &dir, source)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LogError::io("list", &dir, source))?;
        if let Some(position) = entry.file_name().to_str().and_then(position_of_name) {
            found.push((position, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// A checkpoint written to its temporary file up to its trailer.
pub(crate) struct Unfinished {
    body: format::Body<BufWriter<File>>,
    temporary: PathBuf,
    path: PathBuf,
    position: LogPosition,
}

impl Unfinished {
    /// Writes the trailer (see [`format::Body::finish`]).
    pub fn finish(self, tables_until: LogPosition) -> Result<Unpublished, LogError> {
        let temporary = self.temporary;
        let write_error = |source| LogError::io("write", &temporary, source);
        let (bytes, writer) = self.body.finish(tables_until).map_err(write_error)?;
        let file = writer
            .into_inner()
            .map_err(|error| write_error(error.into_error()))?;
        Ok(Unpublished {
            file,
            temporary: temporary.clone(),
            path: self.path,
            position: self.position,
            bytes,
        })
    }
}

/// A checkpoint written whole to its temporary file, not yet synced or renamed.
pub(crate) struct Unpublished {
    file: File,
    temporary: PathBuf,
    path: PathBuf,
    position: LogPosition,
    bytes: u64,
}

/// Writes the checkpoint of `position` to a temporary file, up to its trailer. The
/// fsync comes after, in [`publish`].
pub(crate) fn write_temporary(
    data_dir: &Path,
    seed: FrameSeed,
    position: LogPosition,
    earlier_segments_bytes: u64,
    meta: &Meta,
    partitions: &[std::sync::Arc<crate::index::Partition>],
) -> Result<Unfinished, LogError> {
    let dir = checkpoint_dir(data_dir);
    if !dir.is_dir() {
        fs::create_dir(&dir).map_err(|source| LogError::io("create", &dir, source))?;
        // The new directory's entry must be durable before a file in it is published.
        sync_dir(data_dir)?;
    }
    let path = dir.join(file_name(position));
    let temporary = dir.join(format!("{}{TEMPORARY_SUFFIX}", file_name(position)));
    let file =
        File::create(&temporary).map_err(|source| LogError::io("create", &temporary, source))?;
    let writer = BufWriter::with_capacity(IO_BUFFER_BYTES, file);
    let body = format::write_body(
        writer,
        seed,
        position,
        earlier_segments_bytes,
        meta,
        partitions,
    )
    .map_err(|source| LogError::io("write", &temporary, source))?;
    Ok(Unfinished {
        body,
        temporary,
        path,
        position,
    })
}

/// Makes a written checkpoint durable under its final name: fsync the file, rename it,
/// fsync the directory. A crash before the rename leaves only a temporary file.
pub(crate) fn publish(unpublished: Unpublished) -> Result<(PathBuf, LogPosition, u64), LogError> {
    let Unpublished {
        file,
        temporary,
        path,
        position,
        bytes,
    } = unpublished;
    file.sync_all()
        .map_err(|source| LogError::io("sync", &temporary, source))?;
    drop(file);
    fs::rename(&temporary, &path).map_err(|source| LogError::io("rename", &temporary, source))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok((path, position, bytes))
}

/// Removes, after the checkpoint at `newest` was published, every checkpoint but the
/// newest [`CHECKPOINTS_KEPT`] and the temporary files crashes left; returns the
/// positions kept (oldest first) and how many were removed.
///
/// A checkpoint named after `newest` cannot be this ledger's: the open that preceded
/// found it unusable (damaged, or of another ledger's log), so it is removed too rather
/// than kept in place of a good one.
pub(crate) fn prune(
    data_dir: &Path,
    newest: LogPosition,
) -> Result<(Vec<LogPosition>, u64), LogError> {
    let dir = checkpoint_dir(data_dir);
    let (mut found, beyond): (Vec<_>, Vec<_>) = list(data_dir)?
        .into_iter()
        .partition(|(position, _)| *position <= newest);
    let remove_count = found.len().saturating_sub(CHECKPOINTS_KEPT);
    let removed: Vec<_> = found.drain(..remove_count).chain(beyond).collect();
    for (_, path) in &removed {
        fs::remove_file(path).map_err(|source| LogError::io("remove", path, source))?;
    }
    for entry in fs::read_dir(&dir).map_err(|source| LogError::io("list", &dir, source))? {
        let entry = entry.map_err(|source| LogError::io("list", &dir, source))?;
        let name = entry.file_name();
        let stale = name.to_str().is_some_and(|name| {
            name.strip_suffix(TEMPORARY_SUFFIX)
                .is_some_and(|name| position_of_name(name).is_some())
        });
        if stale {
            let path = entry.path();
            fs::remove_file(&path).map_err(|source| LogError::io("remove", &path, source))?;
        }
    }
    sync_dir(&dir)?;
    let kept = found.iter().map(|(position, _)| *position).collect();
    Ok((kept, removed.len() as u64))
}

/// Loads and checks one checkpoint file; the error says why it cannot be used.
pub(crate) fn load(path: &Path, position: LogPosition, seed: FrameSeed) -> Result<Loaded, String> {
    // Inspected before it is opened: opening a pipe put in its place would block.
    let metadata =
        fs::symlink_metadata(path).map_err(|error| format!("cannot inspect it: {error}"))?;
    if !metadata.is_file() {
        return Err("it is not a plain file (a link, a directory, a device or a pipe)".to_owned());
    }
    let file = File::open(path).map_err(|error| format!("cannot open it: {error}"))?;
    let reader = BufReader::with_capacity(IO_BUFFER_BYTES, file);
    let loaded = format::read(reader, metadata.len(), seed).map_err(|error| error.to_string())?;
    if loaded.position != position {
        return Err(format!(
            "its name says log position {position:?}, its header {:?}",
            loaded.position
        ));
    }
    Ok(loaded)
}
