//! Which data directories a command may write a new ledger into, or read one from.
//!
//! `Ledger::open` creates a ledger wherever it is pointed, so the tool decides first:
//!
//! - `replay` writes only into a new or empty directory: a replay builds a whole ledger
//!   from its input, and mixing it into an existing one would make its counts meaningless.
//! - `simulate` does the same, except that it replaces a ledger an earlier `simulate`
//!   wrote: running the README's command twice works, and gives the same result again.
//!   It knows such a directory by the [`ORIGIN_FILE`] it leaves there, and replaces it
//!   only when the directory holds nothing but that ledger's files (anything else may be
//!   the user's) and no process has the ledger open (deleting a live log corrupts it).
//! - `stats` reads only a directory that holds a ledger's log: opening would create one.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use clickledger::checkpoint::{position_of_name, CHECKPOINT_DIR_NAME, TEMPORARY_SUFFIX};
use clickledger::ledger::LOCK_FILE_NAME;
use clickledger::log::segment::{LOG_DIR_NAME, MARKER_FILE_NAME, MARKER_TEMPORARY_FILE_NAME};
use clickledger::secret::{SECRET_FILE_NAME, SECRET_TEMPORARY_FILE_NAME};

/// Written into every data directory the tool creates a ledger in: the command line that
/// made it on the first line, then [`FINISHED_LINE`] once the run has finished and its
/// ledger is synced. The engine ignores files it does not own.
pub(crate) const ORIGIN_FILE: &str = "cli-origin.txt";

/// The second line of [`ORIGIN_FILE`] of a run that finished.
const FINISHED_LINE: &str = "finished";

/// Who wrote a data directory's ledger, from its [`ORIGIN_FILE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The command line.
    pub command: String,
    /// False when the run stopped (was killed, or failed) before the end: the ledger holds
    /// only part of its input.
    pub finished: bool,
}

impl Origin {
    fn parse(text: &str) -> Origin {
        let mut lines = text.lines();
        Origin {
            command: lines.next().unwrap_or_default().to_owned(),
            finished: lines.next() == Some(FINISHED_LINE),
        }
    }
}

/// The start of [`ORIGIN_FILE`] for a ledger `simulate` may replace.
const SIMULATE_ORIGIN: &str = "clickledger simulate";

/// Why a data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataDirError {
    /// A new ledger needs a new or empty directory.
    #[error(
        "data directory {} is not empty ({holds}); {command} writes a new ledger: \
         pass --data with a new or empty directory, or remove this one",
        dir.display()
    )]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
        /// What it holds, in words.
        holds: String,
        /// The command that refused it.
        command: &'static str,
    },
    /// A ledger `simulate` would replace shares its directory with something else, which
    /// replacing would delete.
    #[error(
        "data directory {} holds {}, which is not part of the ledger an earlier simulate \
         wrote there; simulate replaces only a directory that holds nothing else: pass \
         --data with a new or empty directory",
        dir.display(),
        entry.display()
    )]
    ForeignEntry {
        /// The directory.
        dir: PathBuf,
        /// The first entry, in name order, that neither a ledger nor this tool wrote;
        /// relative to `dir`.
        entry: PathBuf,
    },
    /// Another process holds the directory's lock: it has the ledger open.
    #[error(
        "the ledger in {} is in use by another process; wait for it to finish, or pass \
         --data with another directory",
        dir.display()
    )]
    InUse {
        /// The directory.
        dir: PathBuf,
    },
    /// The path exists but is a file.
    #[error("data directory {} is not a directory", dir.display())]
    NotADirectory {
        /// The path.
        dir: PathBuf,
    },
    /// Nothing to read.
    #[error(
        "no ledger in {}: the directory {why}; pass --data with a ledger's directory (a \
         server's is made by `clickledger serve` or `clickledger program create`, a \
         simulation's by `clickledger simulate` or `replay`)",
        dir.display()
    )]
    NoLedger {
        /// The directory.
        dir: PathBuf,
        /// `does not exist`, `is empty` or `holds no log/`.
        why: &'static str,
    },
    /// The file system refused.
    #[error("cannot {operation} {}: {source}", path.display())]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

fn io_error(operation: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DataDirError {
    let path = path.to_owned();
    move |source| DataDirError::Io {
        operation,
        path,
        source,
    }
}

/// Refuses a `dir` that [`prepare_new`] would refuse, without changing anything: lets a
/// command fail before it spends time reading its input. Whether another process has the
/// ledger open is left to [`prepare_new`], which must hold the lock while it removes.
pub(crate) fn check_new(
    dir: &Path,
    command: &'static str,
    replace_simulation: bool,
) -> Result<(), DataDirError> {
    let State::Holds(previous) = state(dir)? else {
        return Ok(());
    };
    if held_by_another_process(dir)? {
        return Err(DataDirError::InUse {
            dir: dir.to_owned(),
        });
    }
    let simulated = previous
        .as_ref()
        .is_some_and(|origin| origin.command.starts_with(SIMULATE_ORIGIN));
    if replace_simulation && simulated {
        return ledger_entries(dir).map(drop);
    }
    let holds = match previous {
        Some(Origin {
            command,
            finished: true,
        }) => format!("it holds a ledger written by `{command}`"),
        Some(Origin {
            command,
            finished: false,
        }) => format!("it holds the ledger of a run of `{command}` that did not finish"),
        None if holds_ledger(dir) => "it holds a ledger that simulate or replay did not write: a server's, or another program's".to_owned(),
        None => format!(
            "it holds {}, which is not a ledger's",
            first_entry(dir)?.display()
        ),
    };
    Err(DataDirError::NotEmpty {
        dir: dir.to_owned(),
        holds,
        command,
    })
}

/// The lock of a data directory whose ledger is being replaced: while it lives, no
/// ledger can open the directory. Drop it just before `Ledger::open`, which takes the
/// same lock.
#[derive(Debug)]
#[must_use = "the directory is unlocked when this is dropped"]
pub(crate) struct DirLock {
    _file: File,
}

/// Makes `dir` ready for a new ledger written by `origin` (the command line), or refuses
/// as [`check_new`] does.
///
/// With `replace_simulation`, a directory holding a ledger an earlier `simulate` wrote is
/// replaced: under the directory's lock, which is returned, the ledger's files are
/// removed (its own entries, so a symbolic link to it stays a link). Refused, with
/// nothing removed, when another process holds the lock or the directory holds anything
/// else.
pub(crate) fn prepare_new(
    dir: &Path,
    origin: &str,
    command: &'static str,
    replace_simulation: bool,
) -> Result<Option<DirLock>, DataDirError> {
    check_new(dir, command, replace_simulation)?;
    let lock = match state(dir)? {
        State::Missing => {
            fs::create_dir_all(dir).map_err(io_error("create", dir))?;
            None
        }
        State::Empty => None,
        State::Holds(_) => Some(remove_ledger(dir)?),
    };
    let path = dir.join(ORIGIN_FILE);
    fs::write(&path, format!("{origin}\n")).map_err(io_error("write", &path))?;
    Ok(lock)
}

/// Records in [`ORIGIN_FILE`] that the run which wrote the ledger in `dir` finished.
pub(crate) fn mark_finished(dir: &Path) -> Result<(), DataDirError> {
    let path = dir.join(ORIGIN_FILE);
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(io_error("open", &path))?;
    io::Write::write_all(&mut file, format!("{FINISHED_LINE}\n").as_bytes())
        .map_err(io_error("write", &path))
}

/// Checks that `dir` holds a ledger to read: its log directory or its secret is there
/// (see `docs/FORMAT.md`; a secret without a log is a removed log, which the ledger's
/// open reports). Returns the directory's origin, if the tool wrote one.
pub(crate) fn require_existing(dir: &Path) -> Result<Option<Origin>, DataDirError> {
    let why = match state(dir)? {
        State::Missing => "does not exist",
        State::Empty => "is empty",
        State::Holds(Some(Origin {
            finished: false, ..
        })) if !holds_ledger(dir) => {
            "holds no log/: the run that was to write it stopped before it began"
        }
        State::Holds(_) if !holds_ledger(dir) => "holds no log/",
        State::Holds(origin) => return Ok(origin),
    };
    let dir = dir.to_owned();
    Err(DataDirError::NoLedger { dir, why })
}

/// The command line of the run (`simulate`, `replay`) that wrote the ledger in `dir`,
/// if one did: a server keeps out of such a directory, which a later `simulate` would
/// replace.
pub(crate) fn run_origin(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join(ORIGIN_FILE)).ok()?;
    Some(Origin::parse(&text).command)
}

/// What is at a data directory's path.
enum State {
    Missing,
    Empty,
    /// Not empty; what its [`ORIGIN_FILE`] says, if it has one.
    Holds(Option<Origin>),
}

fn state(dir: &Path) -> Result<State, DataDirError> {
    let metadata = match fs::metadata(dir) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(State::Missing),
        other => other.map_err(io_error("read", dir))?,
    };
    if !metadata.is_dir() {
        return Err(DataDirError::NotADirectory {
            dir: dir.to_owned(),
        });
    }
    let mut entries = fs::read_dir(dir).map_err(io_error("list", dir))?;
    if entries.next().is_none() {
        return Ok(State::Empty);
    }
    let origin = fs::read_to_string(dir.join(ORIGIN_FILE)).ok();
    Ok(State::Holds(origin.as_deref().map(Origin::parse)))
}

/// True when `dir` holds a ledger's log or secret.
fn holds_ledger(dir: &Path) -> bool {
    dir.join(LOG_DIR_NAME).is_dir() || dir.join(SECRET_FILE_NAME).is_file()
}

/// The first entry of a directory that is not empty, in name order, for messages.
fn first_entry(dir: &Path) -> Result<PathBuf, DataDirError> {
    let entries = sorted_entries(dir)?;
    let first = entries.first().map(|(name, _)| PathBuf::from(name));
    Ok(first.unwrap_or_default())
}

/// Takes the lock of the ledger in `dir`, then removes the ledger's files, keeping the
/// [`ORIGIN_FILE`] (overwritten next) and the lock file (see below).
fn remove_ledger(dir: &Path) -> Result<DirLock, DataDirError> {
    let lock = lock(dir)?;
    // Listed again under the lock: what `check_new` saw may have changed since.
    let entries = ledger_entries(dir)?;
    tracing::info!(dir = %dir.display(), "replacing the ledger of an earlier simulate");

    // The secret first, the reverse of the order a ledger creates its files in
    // (docs/FORMAT.md): a removal cut short leaves a log without its secret, which refuses
    // to open, never a secret that a new log would reuse. Running simulate again finishes.
    for name in &entries.secret_files {
        let path = dir.join(name);
        fs::remove_file(&path).map_err(io_error("remove", &path))?;
    }
    // Checkpoints next: without its log, a checkpoint is refused by the open anyway.
    for path in &entries.checkpoint_files {
        fs::remove_file(path).map_err(io_error("remove", path))?;
    }
    if entries.checkpoint_dir {
        let checkpoint_dir = dir.join(CHECKPOINT_DIR_NAME);
        fs::remove_dir(&checkpoint_dir).map_err(io_error("remove", &checkpoint_dir))?;
    }
    let log_dir = dir.join(LOG_DIR_NAME);
    for path in &entries.log_files {
        fs::remove_file(path).map_err(io_error("remove", path))?;
    }
    if entries.log_dir {
        // Not `remove_dir_all`: a file that appeared since the listing stops the removal.
        fs::remove_dir(&log_dir).map_err(io_error("remove", &log_dir))?;
    }
    // The lock file stays: removing it while we hold its lock would let another process
    // create a new one and lock that, and remove files beside us.
    Ok(lock)
}

/// Takes the advisory lock `Ledger::open` takes, on the same file, or refuses when another
/// process holds it.
fn lock(dir: &Path) -> Result<DirLock, DataDirError> {
    let path = dir.join(LOCK_FILE_NAME);
    let file = File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error("open", &path))?;
    match try_lock(file, &path)? {
        Some(file) => Ok(DirLock { _file: file }),
        None => Err(DataDirError::InUse {
            dir: dir.to_owned(),
        }),
    }
}

/// True when another process holds the lock of the ledger in `dir`: a run or a server
/// is using it. Creates nothing; the lock is released at once.
fn held_by_another_process(dir: &Path) -> Result<bool, DataDirError> {
    let path = dir.join(LOCK_FILE_NAME);
    match File::options().write(true).open(&path) {
        Ok(file) => Ok(try_lock(file, &path)?.is_none()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(io_error("open", &path)(source)),
    }
}

/// Takes the exclusive lock on `file` (the lock file at `path`) without waiting:
/// `None` when another process holds it.
fn try_lock(file: File, path: &Path) -> Result<Option<File>, DataDirError> {
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(source)) => Err(io_error("lock", path)(source)),
    }
}

/// What a ledger directory holds, when it holds nothing else.
#[derive(Debug, Default)]
struct LedgerEntries {
    /// `log/` is there.
    log_dir: bool,
    /// The segments and the last-segment marker in `log/`.
    log_files: Vec<PathBuf>,
    /// The secret and a temporary copy a crash left, in the order to remove them.
    secret_files: Vec<&'static str>,
    /// `checkpoints/` is there.
    checkpoint_dir: bool,
    /// The checkpoints in `checkpoints/`, and temporary ones a crash left.
    checkpoint_files: Vec<PathBuf>,
}

/// Lists the ledger's entries in `dir`, or names the first entry (in name order) that
/// neither a ledger nor this tool writes: only regular files and a real `log/` directory
/// count, so a symbolic link is never followed into someone else's files.
fn ledger_entries(dir: &Path) -> Result<LedgerEntries, DataDirError> {
    let mut entries = LedgerEntries::default();
    for (name, file_type) in sorted_entries(dir)? {
        let is_file = file_type.is_file();
        match name.to_str() {
            Some(LOG_DIR_NAME) if file_type.is_dir() => {
                entries.log_dir = true;
                entries.log_files = log_files(dir)?;
            }
            Some(SECRET_FILE_NAME) if is_file => entries.secret_files.insert(0, SECRET_FILE_NAME),
            Some(SECRET_TEMPORARY_FILE_NAME) if is_file => {
                entries.secret_files.push(SECRET_TEMPORARY_FILE_NAME)
            }
            Some(CHECKPOINT_DIR_NAME) if file_type.is_dir() => {
                entries.checkpoint_dir = true;
                entries.checkpoint_files = checkpoint_files(dir)?;
            }
            Some(LOCK_FILE_NAME | ORIGIN_FILE) if is_file => {}
            _ => return Err(foreign(dir, PathBuf::from(name))),
        }
    }
    Ok(entries)
}

/// The paths of the files in `dir/log/`, or the first that is not a segment or the
/// last-segment marker (or its temporary copy, which a crash can leave).
fn log_files(dir: &Path) -> Result<Vec<PathBuf>, DataDirError> {
    let log_dir = dir.join(LOG_DIR_NAME);
    let mut files = Vec::new();
    for (name, file_type) in sorted_entries(&log_dir)? {
        let ours = name.to_str().is_some_and(|name| {
            [MARKER_FILE_NAME, MARKER_TEMPORARY_FILE_NAME].contains(&name) || is_segment_name(name)
        });
        if !(ours && file_type.is_file()) {
            return Err(foreign(dir, Path::new(LOG_DIR_NAME).join(name)));
        }
        files.push(log_dir.join(name));
    }
    Ok(files)
}

/// The paths of the files in `dir/checkpoints/`, or the first that is not a checkpoint
/// (or the temporary copy of one, which a crash can leave).
fn checkpoint_files(dir: &Path) -> Result<Vec<PathBuf>, DataDirError> {
    let checkpoint_dir = dir.join(CHECKPOINT_DIR_NAME);
    let mut files = Vec::new();
    for (name, file_type) in sorted_entries(&checkpoint_dir)? {
        let ours = name.to_str().is_some_and(|name| {
            position_of_name(name.strip_suffix(TEMPORARY_SUFFIX).unwrap_or(name)).is_some()
        });
        if !(ours && file_type.is_file()) {
            return Err(foreign(dir, Path::new(CHECKPOINT_DIR_NAME).join(name)));
        }
        files.push(checkpoint_dir.join(name));
    }
    Ok(files)
}

/// True for the names the log gives its segments: `segment-00000001.log`.
fn is_segment_name(name: &str) -> bool {
    name.strip_prefix("segment-")
        .and_then(|rest| rest.strip_suffix(".log"))
        .is_some_and(|digits| digits.len() == 8 && digits.bytes().all(|byte| byte.is_ascii_digit()))
}

/// The entries of `dir` with their types (not following links), sorted by name so that
/// an error names the same entry every time.
fn sorted_entries(dir: &Path) -> Result<Vec<(std::ffi::OsString, fs::FileType)>, DataDirError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
        let entry = entry.map_err(io_error("list", dir))?;
        let file_type = entry.file_type().map_err(io_error("read", &entry.path()))?;
        entries.push((entry.file_name(), file_type));
    }
    entries.sort_by(|(first, _), (second, _)| first.cmp(second));
    Ok(entries)
}

fn foreign(dir: &Path, entry: PathBuf) -> DataDirError {
    DataDirError::ForeignEntry {
        dir: dir.to_owned(),
        entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMULATE: &str = "clickledger simulate --clicks 10 --seed 1";

    #[test]
    fn new_directory_is_created_and_marked_with_its_origin() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("a/b");
        prepare_new(&dir, SIMULATE, "simulate", true).unwrap();
        fs::create_dir(dir.join(LOG_DIR_NAME)).unwrap();
        let origin = |finished| {
            Some(Origin {
                command: SIMULATE.to_owned(),
                finished,
            })
        };
        assert_eq!(require_existing(&dir).unwrap(), origin(false));
        mark_finished(&dir).unwrap();
        assert_eq!(require_existing(&dir).unwrap(), origin(true));
    }

    /// Writes the files a ledger and the tool leave in `dir`, as an earlier simulate did.
    fn earlier_simulation(dir: &Path) {
        prepare_new(dir, SIMULATE, "simulate", true).unwrap();
        fs::create_dir(dir.join(LOG_DIR_NAME)).unwrap();
        for name in [
            "segment-00000001.log",
            "segment-00000002.log",
            MARKER_FILE_NAME,
            MARKER_TEMPORARY_FILE_NAME,
        ] {
            fs::write(dir.join(LOG_DIR_NAME).join(name), b"log").unwrap();
        }
        // The temporary files a run killed while storing them leaves behind.
        fs::write(dir.join(SECRET_FILE_NAME), b"secret").unwrap();
        fs::write(dir.join(SECRET_TEMPORARY_FILE_NAME), b"secret").unwrap();
        fs::write(dir.join(LOCK_FILE_NAME), b"").unwrap();
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn simulate_replaces_an_earlier_simulation_keeping_only_origin_and_lock() {
        let scratch = tempfile::tempdir().unwrap();
        earlier_simulation(scratch.path());
        let lock = prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap();
        assert!(
            lock.is_some(),
            "the directory stays locked until the ledger opens"
        );
        assert_eq!(names_in(scratch.path()), [ORIGIN_FILE, LOCK_FILE_NAME]);
    }

    #[test]
    fn simulate_refuses_a_foreign_entry_beside_its_ledger_and_removes_nothing() {
        let scratch = tempfile::tempdir().unwrap();
        earlier_simulation(scratch.path());
        fs::write(scratch.path().join("notes.txt"), b"mine").unwrap();
        let before = names_in(scratch.path());
        let error = prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap_err();
        assert!(
            matches!(&error, DataDirError::ForeignEntry { entry, .. } if entry == Path::new("notes.txt")),
            "{error}"
        );
        assert!(
            error.to_string().contains("new or empty directory"),
            "{error}"
        );
        assert_eq!(names_in(scratch.path()), before);
        assert_eq!(names_in(&scratch.path().join(LOG_DIR_NAME)).len(), 4);
    }

    #[test]
    fn simulate_refuses_a_foreign_file_in_the_log_directory() {
        let scratch = tempfile::tempdir().unwrap();
        earlier_simulation(scratch.path());
        let log_dir = scratch.path().join(LOG_DIR_NAME);
        for foreign in ["keep.txt", "segment-1.log", "segment-00000003.log.bak"] {
            fs::write(log_dir.join(foreign), b"mine").unwrap();
            let error = prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(&format!("log/{foreign}")), "{message}");
            fs::remove_file(log_dir.join(foreign)).unwrap();
        }
        fs::create_dir(log_dir.join("segment-00000009.log")).unwrap();
        let error = prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap_err();
        assert!(
            matches!(error, DataDirError::ForeignEntry { .. }),
            "a directory is not a segment"
        );
        assert!(log_dir.join("segment-00000001.log").exists());
    }

    #[test]
    fn replay_refuses_a_ledger_that_is_open_as_in_use_not_as_unfinished() {
        let scratch = tempfile::tempdir().unwrap();
        prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap();
        let ledger = clickledger::Ledger::open(scratch.path(), Default::default()).unwrap();
        let error = check_new(scratch.path(), "replay", false).unwrap_err();
        assert!(matches!(error, DataDirError::InUse { .. }), "{error}");
        drop(ledger);
        let error = check_new(scratch.path(), "replay", false).unwrap_err();
        assert!(error.to_string().contains("did not finish"), "{error}");
    }

    #[test]
    fn reading_a_run_stopped_before_its_ledger_existed_says_so() {
        let scratch = tempfile::tempdir().unwrap();
        prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap();
        let error = require_existing(scratch.path()).unwrap_err();
        assert!(
            error.to_string().contains("stopped before it began"),
            "{error}"
        );
    }

    #[test]
    fn simulate_refuses_a_ledger_that_is_open() {
        let scratch = tempfile::tempdir().unwrap();
        prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap();
        let ledger = clickledger::Ledger::open(scratch.path(), Default::default()).unwrap();
        let before = names_in(scratch.path());
        let error = prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap_err();
        assert!(matches!(error, DataDirError::InUse { .. }), "{error}");
        assert!(
            error.to_string().contains("is in use by another process"),
            "{error}"
        );
        assert_eq!(names_in(scratch.path()), before);
        drop(ledger);
        prepare_new(scratch.path(), SIMULATE, "simulate", true).expect("released on close");
    }

    #[test]
    fn replacing_holds_the_lock_a_ledger_takes_at_open() {
        let scratch = tempfile::tempdir().unwrap();
        earlier_simulation(scratch.path());
        let lock = prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap();
        let refused = clickledger::Ledger::open(scratch.path(), Default::default());
        assert!(matches!(
            refused,
            Err(clickledger::LedgerError::Locked { .. })
        ));
        drop(lock);
        clickledger::Ledger::open(scratch.path(), Default::default()).unwrap();
    }

    #[test]
    fn replay_refuses_an_earlier_simulation_and_names_it() {
        let scratch = tempfile::tempdir().unwrap();
        prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap();
        let refusal = || {
            let error = prepare_new(scratch.path(), "clickledger replay", "replay", false);
            error.unwrap_err().to_string()
        };
        let message = refusal();
        assert!(
            message.contains(
                "a run of `clickledger simulate --clicks 10 --seed 1` that did not finish"
            ),
            "{message}"
        );
        mark_finished(scratch.path()).unwrap();
        let message = refusal();
        assert!(
            message.contains("a ledger written by `clickledger simulate --clicks 10"),
            "{message}"
        );
    }

    #[test]
    fn simulate_refuses_a_directory_it_did_not_write() {
        let scratch = tempfile::tempdir().unwrap();
        fs::write(scratch.path().join("notes.txt"), b"mine").unwrap();
        let error = prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap_err();
        assert!(matches!(error, DataDirError::NotEmpty { .. }));
        let message = error.to_string();
        assert!(
            message.contains("notes.txt, which is not a ledger's"),
            "{message}"
        );
        assert!(scratch.path().join("notes.txt").exists());
    }

    #[test]
    fn a_ledger_the_tool_did_not_write_is_called_a_ledger() {
        let scratch = tempfile::tempdir().unwrap();
        drop(clickledger::Ledger::open(scratch.path(), Default::default()).unwrap());
        let error = prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("a ledger that simulate or replay did not write"),
            "{message}"
        );
        assert_eq!(require_existing(scratch.path()).unwrap(), None);
    }

    #[test]
    fn a_secret_without_its_log_is_left_to_the_ledger_to_report() {
        let scratch = tempfile::tempdir().unwrap();
        fs::write(scratch.path().join(SECRET_FILE_NAME), b"secret").unwrap();
        assert!(require_existing(scratch.path()).is_ok());
    }

    #[test]
    fn reading_refuses_missing_and_empty_directories() {
        let scratch = tempfile::tempdir().unwrap();
        let missing = require_existing(&scratch.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        let empty = require_existing(scratch.path()).unwrap_err();
        assert!(empty.to_string().contains("is empty"), "{empty}");
        fs::write(scratch.path().join("notes.txt"), b"mine").unwrap();
        let other = require_existing(scratch.path()).unwrap_err();
        assert!(other.to_string().contains("holds no log/"), "{other}");
    }
}
