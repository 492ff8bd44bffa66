//! The tool's errors: each says what went wrong with which input, in words for the
//! person who typed the command.

use std::io;
use std::path::PathBuf;

use clickledger::LedgerError;

use crate::datadir::DataDirError;
use crate::talkingdata::TalkingDataError;

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
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The run finished but its counts are not those of a correct ledger.
    #[error("the counts differ from those of a correct ledger: {}", failures.join("; "))]
    CheckFailed {
        /// One sentence per count that is off.
        failures: Vec<String>,
    },
    /// Standard output could not be written.
    #[error("cannot write to standard output: {0}")]
    Output(io::Error),
}
