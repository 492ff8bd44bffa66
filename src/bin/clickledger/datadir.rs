//! Which data directories a command may write a new ledger into, or read one from.
//!
//! `Ledger::open` creates a ledger wherever it is pointed, so the tool decides first:
//!
//! - `replay` writes only into a new or empty directory: a replay builds a whole ledger
//!   from its input, and mixing it into an existing one would make its counts meaningless.
//! - `simulate` does the same, except that it replaces a ledger an earlier `simulate`
//!   wrote: running the README's command twice works, and gives the same result again.
//!   It knows such a directory by the [`ORIGIN_FILE`] it leaves there.
//! - `stats` reads only a directory that holds a ledger's log: opening would create one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clickledger::log::segment::LOG_DIR_NAME;

/// Written into every data directory the tool creates a ledger in: the command line that
/// made it, one line. The engine ignores files it does not own.
pub(crate) const ORIGIN_FILE: &str = "cli-origin.txt";

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
    /// The path exists but is a file.
    #[error("data directory {} is not a directory", dir.display())]
    NotADirectory {
        /// The path.
        dir: PathBuf,
    },
    /// Nothing to read.
    #[error(
        "no ledger in {}: the directory {why}; make one with `clickledger simulate` or \
         `clickledger replay talkingdata FILE`, or pass --data",
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
/// command fail before it spends time reading its input.
pub(crate) fn check_new(
    dir: &Path,
    command: &'static str,
    replace_simulation: bool,
) -> Result<(), DataDirError> {
    let State::Holds(previous) = state(dir)? else {
        return Ok(());
    };
    let simulated = previous
        .as_deref()
        .is_some_and(|line| line.starts_with(SIMULATE_ORIGIN));
    if replace_simulation && simulated {
        return Ok(());
    }
    let holds = match previous {
        Some(line) => format!("it holds a ledger written by `{line}`"),
        None => "it holds files clickledger did not write".to_owned(),
    };
    Err(DataDirError::NotEmpty {
        dir: dir.to_owned(),
        holds,
        command,
    })
}

/// Makes `dir` ready for a new ledger written by `origin` (the command line), or refuses
/// as [`check_new`] does.
///
/// With `replace_simulation`, a directory holding a ledger an earlier `simulate` wrote is
/// emptied first; its own entries are removed, so a symbolic link to it stays a link.
pub(crate) fn prepare_new(
    dir: &Path,
    origin: &str,
    command: &'static str,
    replace_simulation: bool,
) -> Result<(), DataDirError> {
    check_new(dir, command, replace_simulation)?;
    match state(dir)? {
        State::Missing => fs::create_dir_all(dir).map_err(io_error("create", dir))?,
        State::Empty => {}
        State::Holds(_) => {
            tracing::info!(dir = %dir.display(), "replacing the ledger of an earlier simulate");
            empty(dir)?;
        }
    }
    let path = dir.join(ORIGIN_FILE);
    fs::write(&path, format!("{origin}\n")).map_err(io_error("write", &path))
}

/// Checks that `dir` holds a ledger to read: its log directory is there (see
/// `docs/FORMAT.md`). Returns the directory's origin line, if the tool wrote one.
pub(crate) fn require_existing(dir: &Path) -> Result<Option<String>, DataDirError> {
    let why = match state(dir)? {
        State::Missing => "does not exist",
        State::Empty => "is empty",
        State::Holds(_) if !dir.join(LOG_DIR_NAME).is_dir() => "holds no log/",
        State::Holds(origin) => return Ok(origin),
    };
    let dir = dir.to_owned();
    Err(DataDirError::NoLedger { dir, why })
}

/// What is at a data directory's path.
enum State {
    Missing,
    Empty,
    /// Not empty; the line of its [`ORIGIN_FILE`], if it has one.
    Holds(Option<String>),
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
    Ok(State::Holds(origin.map(|text| {
        text.lines().next().unwrap_or_default().to_owned()
    })))
}

fn empty(dir: &Path) -> Result<(), DataDirError> {
    for entry in fs::read_dir(dir).map_err(io_error("list", dir))? {
        let path = entry.map_err(io_error("list", dir))?.path();
        let file_type = fs::symlink_metadata(&path)
            .map_err(io_error("read", &path))?
            .file_type();
        if file_type.is_dir() {
            fs::remove_dir_all(&path).map_err(io_error("remove", &path))?;
        } else {
            fs::remove_file(&path).map_err(io_error("remove", &path))?;
        }
    }
    Ok(())
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
        assert_eq!(require_existing(&dir).unwrap().as_deref(), Some(SIMULATE));
    }

    #[test]
    fn simulate_replaces_an_earlier_simulation() {
        let scratch = tempfile::tempdir().unwrap();
        prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap();
        fs::create_dir(scratch.path().join("segments")).unwrap();
        fs::write(scratch.path().join("segments/0"), b"log").unwrap();
        prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap();
        assert!(!scratch.path().join("segments").exists());
    }

    #[test]
    fn replay_refuses_an_earlier_simulation_and_names_it() {
        let scratch = tempfile::tempdir().unwrap();
        prepare_new(scratch.path(), SIMULATE, "simulate", true).unwrap();
        let error = prepare_new(scratch.path(), "clickledger replay", "replay", false);
        let message = error.unwrap_err().to_string();
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
        assert!(scratch.path().join("notes.txt").exists());
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
