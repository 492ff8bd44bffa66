//! Time as the ledger sees it: whole unix seconds, passed in by the caller.
//!
//! The engine never reads the wall clock itself. Callers pass the time of every event,
//! so replays of past data and tests are deterministic; a server passes
//! [`Timestamp::now`].

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seconds in a UTC day: the width of one time partition.
pub const SECONDS_PER_DAY: u32 = 86_400;

/// A point in time, whole seconds since 1970-01-01T00:00:00Z.
///
/// The range is that of a click ID's time field: 1970 to 2106.
///
/// ```
/// use clickledger::Timestamp;
/// let at = Timestamp::parse_rfc3339("2025-03-01T12:00:00+01:00").unwrap();
/// assert_eq!(at.to_rfc3339(), "2025-03-01T11:00:00Z");
/// assert_eq!(at.day(), 20_148);
/// ```
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Timestamp(u32);

/// Why a text or a value is not a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The text is not an RFC 3339 date and time.
    #[error("expected an RFC 3339 time such as 2025-03-01T10:00:00Z, found {found:?}")]
    NotRfc3339 {
        /// The text that was given.
        found: String,
    },
    /// The time is before 1970 or after 2106-02-07T06:28:15Z.
    #[error("time {found} is outside 1970..2106, the range of a click ID")]
    OutOfRange {
        /// Unix seconds that were given.
        found: i64,
    },
}

impl Timestamp {
    /// A timestamp from unix seconds.
    ///
    /// ```
    /// assert_eq!(clickledger::Timestamp::from_unix(86_400).day(), 1);
    /// ```
    pub const fn from_unix(seconds: u32) -> Timestamp {
        Timestamp(seconds)
    }

    /// A timestamp from signed unix seconds, refusing those a click ID cannot hold.
    ///
    /// ```
    /// use clickledger::Timestamp;
    /// assert!(Timestamp::try_from_unix(-1).is_err());
    /// assert_eq!(Timestamp::try_from_unix(5).unwrap().unix(), 5);
    /// ```
    pub fn try_from_unix(seconds: i64) -> Result<Timestamp, TimeError> {
        u32::try_from(seconds)
            .map(Timestamp)
            .map_err(|_| TimeError::OutOfRange { found: seconds })
    }

    /// The current wall-clock time.
    ///
    /// ```
    /// assert!(clickledger::Timestamp::now().unix() > 1_700_000_000);
    /// ```
    pub fn now() -> Timestamp {
        let seconds = OffsetDateTime::now_utc().unix_timestamp();
        // The wall clock of a running server is inside 1970..2106.
        Timestamp(u32::try_from(seconds.max(0)).unwrap_or(u32::MAX))
    }

    /// Parses an RFC 3339 time with any offset.
    ///
    /// ```
    /// use clickledger::Timestamp;
    /// assert_eq!(Timestamp::parse_rfc3339("1970-01-01T00:01:00Z").unwrap().unix(), 60);
    /// assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    /// ```
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimeError> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| TimeError::NotRfc3339 {
            found: text.to_owned(),
        })?;
        Timestamp::try_from_unix(parsed.unix_timestamp())
    }

    /// Unix seconds.
    ///
    /// ```
    /// assert_eq!(clickledger::Timestamp::from_unix(9).unix(), 9);
    /// ```
    pub const fn unix(self) -> u32 {
        self.0
    }

    /// The UTC day number (days since 1970-01-01): the time partition of a click.
    ///
    /// ```
    /// assert_eq!(clickledger::Timestamp::from_unix(86_399).day(), 0);
    /// ```
    pub const fn day(self) -> u32 {
        self.0 / SECONDS_PER_DAY
    }

    /// The time `seconds` later, saturating at the end of the range.
    ///
    /// ```
    /// assert_eq!(clickledger::Timestamp::from_unix(1).plus_seconds(2).unix(), 3);
    /// ```
    pub const fn plus_seconds(self, seconds: u32) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds))
    }

    /// RFC 3339 text in UTC, such as `2021-03-03T00:00:00Z`.
    ///
    /// ```
    /// assert_eq!(clickledger::Timestamp::from_unix(0).to_rfc3339(), "1970-01-01T00:00:00Z");
    /// ```
    pub fn to_rfc3339(self) -> String {
        match OffsetDateTime::from_unix_timestamp(i64::from(self.0)) {
            // Every u32 of seconds is a valid date, and Rfc3339 formats every year < 10000.
            Ok(moment) => moment
                .format(&Rfc3339)
                .unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_converted_to_utc() {
        let east = Timestamp::parse_rfc3339("2025-03-01T12:00:00+05:30").unwrap();
        let utc = Timestamp::parse_rfc3339("2025-03-01T06:30:00Z").unwrap();
        assert_eq!(east, utc);
    }

    #[test]
    fn times_outside_the_click_id_range_are_refused() {
        assert_eq!(
            Timestamp::parse_rfc3339("1969-12-31T23:59:59Z"),
            Err(TimeError::OutOfRange { found: -1 })
        );
        assert!(Timestamp::parse_rfc3339("2106-02-07T06:28:15Z").is_ok());
        assert!(Timestamp::parse_rfc3339("2106-02-07T06:28:16Z").is_err());
    }

    #[test]
    fn day_boundaries_fall_on_utc_midnight() {
        let midnight = Timestamp::parse_rfc3339("2021-03-03T00:00:00Z").unwrap();
        assert_eq!(
            midnight.day(),
            Timestamp::from_unix(midnight.unix() + 86_399).day()
        );
        assert_eq!(
            midnight.day(),
            Timestamp::from_unix(midnight.unix() - 1).day() + 1
        );
    }

    #[test]
    fn adding_seconds_saturates_at_the_end_of_the_range() {
        assert_eq!(
            Timestamp::from_unix(u32::MAX - 1).plus_seconds(5).unix(),
            u32::MAX
        );
    }
}
