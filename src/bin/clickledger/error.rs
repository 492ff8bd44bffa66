//! The tool's errors: each says what went wrong with which input, in words for the
//! person who typed the command.

use std::io;
use std::path::PathBuf;

use clickledger::LedgerError;

use crate::datadir::DataDirError;
use crate::talkingdata::TalkingDataError;

impl CliError {
    /// Reserves room for `items` more elements in `vec`, or says why it cannot: a
    /// workload too large for the machine is an error, not an abort.
    pub(crate) fn reserve<T>(
        vec: &mut Vec<T>,
        items: usize,
        what: &'static str,
    ) -> Result<(), CliError> {
        vec.try_reserve_exact(items)
            .map_err(|_| CliError::OutOfMemory {
                what,
                items,
                bytes: items.saturating_mul(std::mem::size_of::<T>()),
            })
    }
}

/// Why a command failed. `main` prints it to standard error and exits with status 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The input file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    OpenInput {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The input file is not a usable TalkingData CSV; nothing was written.
    #[error("{}: {source}; nothing was written", path.display())]
    TalkingData {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        source: TalkingDataError,
    },
    /// The data directory cannot be used.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The ledger failed; its message names the file and what is wrong.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The run finished but its counts are not those of a correct ledger.
    #[error("the counts differ from those of a correct ledger: {}", failures.join("; "))]
    CheckFailed {
        /// One sentence per count that is off.
        failures: Vec<String>,
    },
    /// A workload does not fit in memory.
    #[error("cannot allocate memory for {items} {what} ({bytes} bytes); run with fewer clicks")]
    OutOfMemory {
        /// What was being held: `clicks`, `events`.
        what: &'static str,
        /// How many.
        items: usize,
        /// The bytes asked for.
        bytes: usize,
    },
    /// `verify` found problems (listed on standard output).
    #[error("{problems} problem(s) in the ledger in {}", dir.display())]
    Problems {
        /// The data directory.
        dir: PathBuf,
        /// How many.
        problems: usize,
    },
    /// `repair --mode absolute` found damage: it removes nothing.
    #[error(
        "{problems} problem(s) in the ledger in {}, the first: {first}; mode absolute \
         removes nothing (`clickledger verify --data {}` lists them all)",
        dir.display(),
        dir.display()
    )]
    Damaged {
        /// The data directory.
        dir: PathBuf,
        /// How many.
        problems: usize,
        /// The first, with its file and offset.
        first: String,
    },
    /// The server could not start, or failed.
    #[error(transparent)]
    Serve(#[from] crate::serve::ServeError),
    /// A program command failed.
    #[error(transparent)]
    Program(#[from] crate::program::ProgramError),
    /// The async runtime could not be started.
    #[error("cannot start the server's runtime: {0}")]
    Runtime(io::Error),
    /// Standard output could not be written.
    #[error("cannot write to standard output: {0}")]
    Output(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_too_large_for_memory_is_an_error_naming_it() {
        let mut clicks: Vec<u64> = Vec::new();
        let error = CliError::reserve(&mut clicks, usize::MAX / 4, "clicks").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("cannot allocate memory for"),
            "{message}"
        );
        assert!(message.contains("clicks"), "{message}");
        CliError::reserve(&mut clicks, 1_000, "clicks").expect("a small one fits");
        assert!(clicks.capacity() >= 1_000);
    }
}
