//! The umbrella error of ledger operations.

use crate::log::LogError;
use crate::program::ProgramId;

/// Why a ledger operation failed. A postback that is merely invalid is not an error:
/// it gets a [`crate::Outcome::Rejected`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The log could not be read or written.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Another open ledger (in this or another process) holds the directory.
    #[error("the ledger in {dir} is already open (its lock file is held); close the other process first")]
    Locked {
        /// The data directory.
        dir: std::path::PathBuf,
    },
    /// The log holds records but the secret that tags click IDs is gone.
    #[error(
        "{path} is missing but the log holds records: restore it from a backup; without it \
         no click ID of this ledger can be verified"
    )]
    SecretMissing {
        /// Where the secret should be.
        path: std::path::PathBuf,
    },
    /// A read-only open found no ledger in the directory.
    #[error("no ledger in {dir}")]
    NoLedger {
        /// The directory.
        dir: std::path::PathBuf,
    },
    /// No program has this number.
    #[error("no program {program:?} in this ledger")]
    UnknownProgram {
        /// The number asked for.
        program: ProgramId,
    },
    /// A program with this name exists.
    #[error("a program named {name:?} is already registered")]
    ProgramExists {
        /// The name.
        name: String,
    },
    /// Another program has this key.
    #[error("another program already uses this key")]
    KeyInUse,
    /// A name or key given to the ledger is not acceptable.
    #[error("invalid {what}: expected {expected}, found {found:?}")]
    InvalidInput {
        /// What was given: `program name`, `program key`, `partner name`, `landing
        /// domain`, `landing domains`, `default landing URL`, `segment_bytes_max`.
        what: &'static str,
        /// What is accepted.
        expected: &'static str,
        /// What was given, shortened.
        found: String,
    },
    /// The ledger holds the most programs a slot can number (2^24).
    #[error("the ledger holds the maximum number of programs")]
    TooManyPrograms,
    /// Every slot of a day (2^32) is used.
    #[error(
        "all click slots of {} (UTC day {day}) are used; clicks dated that day cannot be \
         recorded",
        day_date(*day)
    )]
    PartitionFull {
        /// UTC day number.
        day: u32,
    },
    /// Retention dropped this day: a click dated on it would be `expired` at once.
    #[error(
        "{} (UTC day {day}) is older than the retention kept: clicks dated that day are \
         no longer recorded",
        day_date(*day)
    )]
    DayDropped {
        /// UTC day number.
        day: u32,
    },
}

/// The date of UTC day `day`, as `2023-11-14`.
fn day_date(day: u32) -> String {
    let start = crate::Timestamp::from_unix(day.saturating_mul(crate::time::SECONDS_PER_DAY));
    let mut text = start.to_rfc3339();
    text.truncate("YYYY-MM-DD".len());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_partition_is_named_by_its_date() {
        let message = LedgerError::PartitionFull { day: 19_675 }.to_string();
        assert!(
            message.starts_with("all click slots of 2023-11-14 (UTC day 19675)"),
            "{message}"
        );
    }
}
