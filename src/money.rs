//! Money: ISO 4217 currencies and exact amounts in minor units.
//!
//! No floating point anywhere: `49.90` EUR is parsed digit by digit into `4990` cents,
//! using the currency's ISO 4217 exponent (JPY 0, EUR 2, KWD 3).

use std::fmt;

/// An active ISO 4217 currency that has a minor unit (exponent).
///
/// ```
/// use clickledger::Currency;
/// let eur = Currency::parse("eur").unwrap();
/// assert_eq!(eur.code(), "EUR");
/// assert_eq!(eur.exponent(), 2);
/// assert!(Currency::parse("EURO").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Currency(iso_currency::Currency);

/// Why a text is not an accepted currency or amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// Placeholder; the money module's author replaces this list.
    #[error("expected {expected}, found {found:?}")]
    Invalid {
        /// What was expected.
        expected: &'static str,
        /// What was found (possibly shortened).
        found: String,
    },
}

impl Currency {
    /// Parses a three-letter code, case-insensitive; refuses superseded, fund-less,
    /// unknown and exponent-less (XAU, XDR, ...) codes.
    pub fn parse(text: &str) -> Result<Currency, MoneyError> {
        todo!("{text}")
    }

    /// The upper-case three-letter code.
    pub fn code(self) -> &'static str {
        todo!()
    }

    /// The ISO 4217 exponent: digits after the decimal point in the minor unit.
    pub fn exponent(self) -> u8 {
        todo!()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

/// Parses a decimal amount (`49.90`, `49.9`, `1000`) into minor units of `currency`.
///
/// Refused: signs, exponents, separators other than one `.`, grouping, symbols,
/// more decimals than the exponent allows, values over `i64::MAX` minor units.
pub fn parse_amount_minor(text: &str, currency: Currency) -> Result<u64, MoneyError> {
    todo!("{text} {currency:?}")
}

/// Formats minor units back to a decimal amount (`4990`, EUR -> `49.90`).
pub fn format_amount_minor(minor: u64, currency: Currency) -> String {
    todo!("{minor} {currency:?}")
}
