//! Programs (advertisers' offers) and partners (affiliates, publishers): who owns a
//! click and who gets credit for a conversion.

use serde::{Deserialize, Serialize};

/// Default attribution window: 30 days, inclusive.
pub const ATTRIBUTION_WINDOW_SECONDS_DEFAULT: u32 = 30 * 86_400;

/// Dense number of a program in this ledger, assigned at registration.
///
/// ```
/// let id = clickledger::ProgramId(0);
/// assert_eq!(id.0, 0);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProgramId(pub u32);

/// Dense number of a partner in this ledger, assigned on its first click.
///
/// ```
/// let id = clickledger::PartnerId(3);
/// assert_eq!(id.0, 3);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartnerId(pub u32);

/// What a program pays for, which decides whether `amount` is required.
///
/// ```
/// assert_eq!(clickledger::ConversionKind::default(), clickledger::ConversionKind::Sales);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub enum ConversionKind {
    /// Sales: every postback must carry an `amount`.
    #[default]
    Sales,
    /// Leads (sign-ups): `amount` is optional.
    Leads,
}

/// Whether an event was a click on a tracking link or an ad impression (view-through).
///
/// ```
/// assert_eq!(clickledger::ClickKind::default(), clickledger::ClickKind::Click);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub enum ClickKind {
    /// A click on a tracking link.
    #[default]
    Click,
    /// An ad impression.
    Impression,
}

/// Everything a program is registered with.
///
/// ```
/// use clickledger::{ConversionKind, ProgramSettings};
/// let settings = ProgramSettings { payment_required: true, ..ProgramSettings::new("shoes") };
/// assert_eq!(settings.kind, ConversionKind::Sales);
/// assert_eq!(settings.attribution_window_seconds, 30 * 86_400);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ProgramSettings {
    /// Unique name, such as `shoes-eu`.
    pub name: String,
    /// Sales or leads.
    pub kind: ConversionKind,
    /// Postbacks must carry `payment`.
    pub payment_required: bool,
    /// Revenue share is on: postbacks must carry `customer`.
    pub revenue_share: bool,
    /// How old a click may be, inclusive, and still back a conversion.
    pub attribution_window_seconds: u32,
    /// Domains a tracking link may redirect to (used by the server).
    pub landing_domains: Vec<String>,
    /// Where a tracking link without a `url` goes (used by the server).
    pub default_landing_url: Option<String>,
}

impl ProgramSettings {
    /// A sales program with the defaults: no payment or customer required, 30 days.
    ///
    /// ```
    /// let settings = clickledger::ProgramSettings::new("p1");
    /// assert!(!settings.revenue_share);
    /// ```
    pub fn new(name: &str) -> ProgramSettings {
        ProgramSettings {
            name: name.to_owned(),
            kind: ConversionKind::Sales,
            payment_required: false,
            revenue_share: false,
            attribution_window_seconds: ATTRIBUTION_WINDOW_SECONDS_DEFAULT,
            landing_domains: Vec::new(),
            default_landing_url: None,
        }
    }
}
