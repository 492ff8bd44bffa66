//! What a postback gets back: the outcome and a verdict for every click ID it carried.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::click_id::ClickId;
use crate::order::Order;
use crate::postback::PostbackError;
use crate::program::ProgramId;
use crate::time::Timestamp;

/// Ledger-wide sequence number of an accepted conversion, starting at 1.
///
/// ```
/// assert_eq!(clickledger::ConversionId(1).to_string(), "1");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConversionId(pub u64);

impl fmt::Display for ConversionId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// The answer to a postback.
///
/// ```
/// use clickledger::{Outcome, RejectReason, Rejection};
/// let outcome = Outcome::Rejected(Rejection { reason: RejectReason::BadKey, verdicts: vec![] });
/// assert_eq!(outcome.status(), "rejected");
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// A new conversion was registered and its click IDs claimed.
    Accepted(Arc<Conversion>),
    /// The same program and order id were seen before: the original conversion, unchanged.
    Replayed(Arc<Conversion>),
    /// Nothing was written.
    Rejected(Rejection),
}

impl Outcome {
    /// `accepted`, `replayed` or `rejected`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Accepted(_) => "accepted",
            Outcome::Replayed(_) => "replayed",
            Outcome::Rejected(_) => "rejected",
        }
    }

    /// The conversion, for an accepted or replayed postback.
    ///
    /// ```
    /// use clickledger::{Outcome, RejectReason, Rejection};
    /// let rejected = Outcome::Rejected(Rejection { reason: RejectReason::BadKey, verdicts: vec![] });
    /// assert!(rejected.conversion().is_none());
    /// ```
    pub fn conversion(&self) -> Option<&Conversion> {
        match self {
            Outcome::Accepted(conversion) | Outcome::Replayed(conversion) => Some(conversion),
            Outcome::Rejected(_) => None,
        }
    }

    /// The verdict for every click ID, in the order the postback listed them.
    pub fn verdicts(&self) -> &[IdVerdict] {
        match self {
            Outcome::Accepted(conversion) | Outcome::Replayed(conversion) => &conversion.verdicts,
            Outcome::Rejected(rejection) => &rejection.verdicts,
        }
    }
}

/// A registered conversion, as stored in the log.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Conversion {
    /// Its sequence number.
    pub id: ConversionId,
    /// The program it belongs to.
    pub program: ProgramId,
    /// The order, as the accepted postback reported it.
    pub order: Order,
    /// The click credited: the latest eligible ID.
    pub attributed_click: ClickId,
    /// The partner of the credited click.
    pub partner: String,
    /// Every ID this conversion claimed, in postback order.
    pub claimed: Vec<ClickId>,
    /// The verdict for every ID the original postback carried.
    pub verdicts: Vec<IdVerdict>,
    /// When the ledger accepted it.
    pub at: Timestamp,
}

/// Why a postback was rejected, and what each of its IDs was found to be.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rejection {
    /// The reason.
    pub reason: RejectReason,
    /// Per-ID verdicts; empty when the postback was refused before its IDs were read.
    pub verdicts: Vec<IdVerdict>,
}

/// Why a postback was rejected. [`RejectReason::code`] gives the stable text form.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The query was malformed, or a parameter the program requires was absent.
    #[error(transparent)]
    Postback(#[from] PostbackError),
    /// The `key` belongs to no program.
    #[error("the key belongs to no program")]
    BadKey,
    /// No ID was eligible; the first was forged or unknown.
    #[error("no eligible click ID: {id} is unknown or forged")]
    UnknownClick {
        /// The first ID in list order.
        id: ClickId,
    },
    /// No ID was eligible; the first belongs to another program.
    #[error("no eligible click ID: {id} belongs to another program")]
    WrongProgram {
        /// The first ID in list order.
        id: ClickId,
    },
    /// No ID was eligible; the first is older than the attribution window.
    #[error("no eligible click ID: {id} is older than the attribution window")]
    ClickExpired {
        /// The first ID in list order.
        id: ClickId,
    },
    /// No ID was eligible; the first is ahead of the server clock beyond the tolerance.
    #[error("no eligible click ID: {id} is dated ahead of the server clock")]
    ClickInFuture {
        /// The first ID in list order.
        id: ClickId,
    },
    /// The latest eligible ID already backs another conversion.
    #[error("click ID {id} already backs conversion {by}")]
    AlreadyClaimed {
        /// The latest eligible ID.
        id: ClickId,
        /// The conversion that holds it.
        by: ConversionId,
    },
    /// The order id is known for this program with another amount or currency.
    #[error(
        "order {order_id:?} was recorded as conversion {original} with another amount or currency"
    )]
    ConflictingRetry {
        /// The order id.
        order_id: String,
        /// The conversion recorded first.
        original: ConversionId,
    },
}

impl RejectReason {
    /// The stable reason code: `invalid:<param>`, `missing:<param>`,
    /// `duplicate_param:<param>`, `duplicate_click_in_request`, `too_many_click_ids`,
    /// `bad_key`, `unknown_click`, `wrong_program`, `click_expired`, `click_in_future`,
    /// `already_claimed`, `conflicting_retry`.
    ///
    /// ```
    /// use clickledger::{PostbackError, RejectReason};
    /// let reason = RejectReason::from(PostbackError::Missing { param: "id" });
    /// assert_eq!(reason.code(), "missing:id");
    /// assert_eq!(RejectReason::BadKey.code(), "bad_key");
    /// ```
    pub fn code(&self) -> String {
        match self {
            RejectReason::Postback(error) => match error {
                PostbackError::Missing { param } => format!("missing:{param}"),
                PostbackError::DuplicateParam { param } => format!("duplicate_param:{param}"),
                PostbackError::Invalid { param, .. } => format!("invalid:{param}"),
                PostbackError::DuplicateClickId { .. } => "duplicate_click_in_request".to_owned(),
                PostbackError::TooManyClickIds { .. } => "too_many_click_ids".to_owned(),
            },
            RejectReason::BadKey => "bad_key".to_owned(),
            RejectReason::UnknownClick { .. } => "unknown_click".to_owned(),
            RejectReason::WrongProgram { .. } => "wrong_program".to_owned(),
            RejectReason::ClickExpired { .. } => "click_expired".to_owned(),
            RejectReason::ClickInFuture { .. } => "click_in_future".to_owned(),
            RejectReason::AlreadyClaimed { .. } => "already_claimed".to_owned(),
            RejectReason::ConflictingRetry { .. } => "conflicting_retry".to_owned(),
        }
    }
}

/// One click ID of a postback as given: parsed, or the raw text when it was not an ID.
///
/// ```
/// use clickledger::IdText;
/// assert_eq!(IdText::Raw("{aecid}".into()).to_string(), "{aecid}");
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum IdText {
    /// A well-formed ID.
    Parsed(ClickId),
    /// An item of `cids` that is not 24 hex digits.
    Raw(String),
}

impl fmt::Display for IdText {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdText::Parsed(id) => id.fmt(formatter),
            IdText::Raw(text) => formatter.write_str(text),
        }
    }
}

/// What one click ID of a postback was found to be.
///
/// ```
/// use clickledger::{ClickId, IdText, IdVerdict, Verdict};
/// let id: ClickId = "603ed1800000000000000000".parse().unwrap();
/// let verdict = IdVerdict { id: IdText::Parsed(id), verdict: Verdict::Forged };
/// assert_eq!(verdict.verdict.as_str(), "forged");
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IdVerdict {
    /// The ID as given.
    pub id: IdText,
    /// What it was found to be.
    pub verdict: Verdict,
}

/// The verdict on one click ID.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Verdict {
    /// Claimed by this conversion.
    Accepted,
    /// Eligible and unclaimed, but not claimed because the postback was rejected.
    Eligible,
    /// Not 24 hex digits.
    Malformed,
    /// Well formed, but its tag does not match: mistyped or forged.
    Forged,
    /// Authentic in form but never minted (or lost in a crash before it was durable).
    Unknown,
    /// Already backs another conversion.
    AlreadyClaimed,
    /// Minted for another program.
    OtherProgram,
    /// Older than the program's attribution window.
    Expired,
    /// Dated ahead of the server clock by more than the tolerance.
    FromFuture,
    /// Not examined: the postback was refused before its IDs were looked up.
    NotChecked,
}

impl Verdict {
    /// The stable text form: `accepted`, `eligible`, `malformed`, `forged`, `unknown`,
    /// `already_claimed`, `other_program`, `expired`, `from_future`, `not_checked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Eligible => "eligible",
            Verdict::Malformed => "malformed",
            Verdict::Forged => "forged",
            Verdict::Unknown => "unknown",
            Verdict::AlreadyClaimed => "already_claimed",
            Verdict::OtherProgram => "other_program",
            Verdict::Expired => "expired",
            Verdict::FromFuture => "from_future",
            Verdict::NotChecked => "not_checked",
        }
    }
}
