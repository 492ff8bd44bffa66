//! Money: ISO 4217 currencies and exact amounts in minor units.
//!
//! No floating point anywhere: `49.90` EUR is parsed digit by digit into `4990` cents,
//! using the currency's ISO 4217 exponent (JPY 0, EUR 2, KWD 3).
//!
//! Parsing an amount has two steps because a postback checks them at different times:
//! the shape of the text ([`DecimalAmount::parse`]) needs no currency, the scale
//! ([`DecimalAmount::to_minor`]) does. [`parse_amount_minor`] runs both.

use std::fmt;
use std::iter;
use std::str::FromStr;

/// Largest accepted amount, in minor units: `i64::MAX`, so that every amount (and a
/// refund, its negation) fits the signed integers that reports and sums use.
///
/// ```
/// use clickledger::money::{parse_amount_minor, AMOUNT_MINOR_UNITS_MAX};
/// use clickledger::Currency;
/// let jpy = Currency::parse("JPY").unwrap();
/// let largest = AMOUNT_MINOR_UNITS_MAX.to_string();
/// assert_eq!(parse_amount_minor(&largest, jpy), Ok(AMOUNT_MINOR_UNITS_MAX));
/// ```
pub const AMOUNT_MINOR_UNITS_MAX: u64 = i64::MAX.unsigned_abs();

/// Longest piece of an unknown currency text kept in [`MoneyError::UnknownCurrency`], in
/// characters: a code has three, so sixteen show plainly what came instead.
const CURRENCY_FOUND_CHARS_MAX: usize = 16;

/// An active ISO 4217 currency of payment that has a minor unit (exponent).
///
/// ```
/// use clickledger::Currency;
/// let eur = Currency::parse("eur").unwrap();
/// assert_eq!(eur.code(), "EUR");
/// assert_eq!(eur.exponent(), 2);
/// assert!(Currency::parse("EURO").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    iso: iso_currency::Currency,
    /// Checked present when the currency was parsed, so reading it never fails.
    exponent: u8,
}

/// Why a text is not an accepted currency or amount.
///
/// ```
/// use clickledger::{money::parse_amount_minor, Currency, MoneyError};
/// let eur = Currency::parse("EUR").unwrap();
/// assert_eq!(
///     parse_amount_minor("49.999", eur),
///     Err(MoneyError::TooManyDecimals { max: 2, found: 3 })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// Not the code of any ISO 4217 currency (`EURO`, `€`, `XYZ`).
    #[error("expected a three-letter ISO 4217 currency code, found {found:?}")]
    UnknownCurrency {
        /// The text, cut to 16 characters.
        found: String,
    },
    /// A code ISO 4217 has withdrawn in favour of another (`HRK` for `EUR`).
    #[error("expected an active currency, found {code}, superseded by {successor}")]
    SupersededCurrency {
        /// The withdrawn code.
        code: &'static str,
        /// The code that replaced it.
        successor: &'static str,
    },
    /// A code without a minor unit: precious metals, SDR, test and no-currency codes.
    #[error("expected a currency with a minor unit, found {code}, which has none")]
    NoMinorUnit {
        /// The code (`XAU`, `XDR`, `XTS`, `XXX`, ...).
        code: &'static str,
    },
    /// A fund or special code: a unit of account, not money an order is paid in.
    #[error("expected a currency of payment, found {code}, a fund or unit of account")]
    UnitOfAccount {
        /// The code (`USN`, `CLF`, `XAD`, ...).
        code: &'static str,
    },
    /// The amount text is empty.
    #[error("expected an amount, found an empty text")]
    EmptyAmount,
    /// The amount starts with a sign: amounts are never negative, and `+` is noise.
    #[error("expected an amount without a sign, found {found:?}")]
    Sign {
        /// `+` or `-`.
        found: char,
    },
    /// The amount is written with an exponent (`1e3`).
    #[error("expected plain digits, found an exponent at position {position}")]
    Exponent {
        /// Character position of the `e` or `E`.
        position: usize,
    },
    /// A decimal comma, a grouping mark or a second `.` (`49,90`, `1,049.90`, `1.049.90`).
    #[error("expected one `.` as the only separator, found {found:?} at position {position}")]
    Separator {
        /// Character position of the separator.
        position: usize,
        /// `,`, `'`, `_` or a second `.`.
        found: char,
    },
    /// A `.` without digits on one side (`.5`, `100.`).
    #[error("expected digits on both sides of the `.` at position {position}")]
    BarePoint {
        /// Character position of the `.`.
        position: usize,
    },
    /// Any other character: letters (`NaN`, `inf`), symbols (`€49.90`), spaces.
    #[error("expected a decimal digit or `.` at position {position}, found {found:?}")]
    NotDecimal {
        /// Character position.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// More decimals than the currency's exponent (`49.999` EUR, `100.5` JPY).
    #[error("expected at most {max} decimals for this currency, found {found}")]
    TooManyDecimals {
        /// The currency's exponent.
        max: u8,
        /// Decimals given.
        found: usize,
    },
    /// The amount exceeds [`AMOUNT_MINOR_UNITS_MAX`] minor units.
    #[error("expected at most {max} minor units, found a larger amount")]
    Overflow {
        /// [`AMOUNT_MINOR_UNITS_MAX`].
        max: u64,
    },
}

impl MoneyError {
    /// A short description of what a valid value looks like, for error reports that
    /// carry the offending text separately (such as [`crate::PostbackError::Invalid`]).
    ///
    /// ```
    /// use clickledger::MoneyError;
    /// let error = MoneyError::TooManyDecimals { max: 2, found: 3 };
    /// assert_eq!(error.expected(), "an amount with at most 2 decimals");
    /// ```
    pub fn expected(&self) -> &'static str {
        match self {
            MoneyError::UnknownCurrency { .. } => "an ISO 4217 currency code such as EUR",
            MoneyError::SupersededCurrency { .. } => "an active ISO 4217 currency code",
            MoneyError::NoMinorUnit { .. } | MoneyError::UnitOfAccount { .. } => {
                "an ISO 4217 currency of payment with a minor unit"
            }
            MoneyError::EmptyAmount => "an amount",
            MoneyError::Sign { .. } => "an amount without a sign",
            MoneyError::Exponent { .. } => "an amount in plain digits, without an exponent",
            MoneyError::Separator { .. } => "an amount with `.` as decimal point and no grouping",
            MoneyError::BarePoint { .. } => "digits on both sides of the decimal point",
            MoneyError::NotDecimal { .. } => "an amount of decimal digits and at most one `.`",
            MoneyError::TooManyDecimals { max, .. } => decimals_expected(*max),
            MoneyError::Overflow { .. } => "an amount of at most i64::MAX minor units",
        }
    }
}

/// The `expected` text for an amount with too many decimals; ISO 4217 exponents are
/// 0, 2, 3 and 4, and each gets a sentence that names its limit.
fn decimals_expected(max: u8) -> &'static str {
    match max {
        0 => "a whole amount: this currency has no decimals",
        1 => "an amount with at most 1 decimal",
        2 => "an amount with at most 2 decimals",
        3 => "an amount with at most 3 decimals",
        4 => "an amount with at most 4 decimals",
        _ => "an amount with no more decimals than the currency's exponent",
    }
}

impl Currency {
    /// Parses a three-letter code, case-insensitive; refuses unknown and superseded
    /// codes, codes without a minor unit (XAU, XDR, XTS, XXX, ...) and fund or special
    /// codes (USN, CLF, XAD, ...), which are units of account rather than money paid.
    ///
    /// ```
    /// use clickledger::{Currency, MoneyError};
    /// assert_eq!(Currency::parse("jpy").unwrap().code(), "JPY");
    /// assert_eq!(Currency::parse("XAU"), Err(MoneyError::NoMinorUnit { code: "XAU" }));
    /// assert!(matches!(Currency::parse("HRK"), Err(MoneyError::SupersededCurrency { .. })));
    /// ```
    pub fn parse(text: &str) -> Result<Currency, MoneyError> {
        let iso = iso_code(text).ok_or_else(|| MoneyError::UnknownCurrency {
            found: text.chars().take(CURRENCY_FOUND_CHARS_MAX).collect(),
        })?;
        let code = iso.code();
        if let Some(successor) = iso.is_superseded() {
            return Err(MoneyError::SupersededCurrency {
                code,
                successor: successor.code(),
            });
        }
        let exponent = iso
            .exponent()
            .and_then(|exponent| u8::try_from(exponent).ok())
            .ok_or(MoneyError::NoMinorUnit { code })?;
        if iso.is_fund() || iso.is_special() {
            return Err(MoneyError::UnitOfAccount { code });
        }
        Ok(Currency { iso, exponent })
    }

    /// The upper-case three-letter code.
    ///
    /// ```
    /// assert_eq!(clickledger::Currency::parse("kwd").unwrap().code(), "KWD");
    /// ```
    pub fn code(self) -> &'static str {
        self.iso.code()
    }

    /// The ISO 4217 exponent: digits after the decimal point in the minor unit.
    ///
    /// ```
    /// use clickledger::Currency;
    /// assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
    /// assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
    /// ```
    pub fn exponent(self) -> u8 {
        self.exponent
    }
}

/// Looks a code up in ISO 4217, accepting any letter case. Only ASCII letters are
/// upper-cased, so a text such as `€` or `eurо` (Cyrillic `о`) never matches.
fn iso_code(text: &str) -> Option<iso_currency::Currency> {
    let letters: [u8; 3] = text.as_bytes().try_into().ok()?;
    if !letters.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    let upper = letters.map(|letter| letter.to_ascii_uppercase());
    iso_currency::Currency::from_code(std::str::from_utf8(&upper).ok()?)
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Currency, MoneyError> {
        Currency::parse(text)
    }
}

/// A currency is written as its upper-case code (in the log and in JSON).
impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

/// Reading a currency checks it as [`Currency::parse`] does.
impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Currency({})", self.code())
    }
}

/// The text of an amount whose shape is valid: ASCII digits, optionally one `.` with
/// digits on both sides. Its scale is not checked yet; that needs the currency.
///
/// ```
/// use clickledger::money::DecimalAmount;
/// use clickledger::Currency;
/// let amount = DecimalAmount::parse("49.9").unwrap();
/// assert_eq!(amount.decimals(), 1);
/// assert_eq!(amount.to_minor(Currency::parse("EUR").unwrap()), Ok(4990));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DecimalAmount<'a> {
    /// Digits before the `.`; at least one.
    whole: &'a str,
    /// Digits after the `.`; empty when there is no `.`.
    fraction: &'a str,
}

impl<'a> DecimalAmount<'a> {
    /// Checks the shape of an amount. Leading zeros are fine (`007.50`); refused are
    /// signs, exponents, separators other than one `.`, grouping, symbols, spaces, and
    /// a `.` without digits on both sides (`.5`, `100.`).
    ///
    /// ```
    /// use clickledger::money::DecimalAmount;
    /// use clickledger::MoneyError;
    /// assert!(DecimalAmount::parse("007.50").is_ok());
    /// assert_eq!(DecimalAmount::parse("-10"), Err(MoneyError::Sign { found: '-' }));
    /// assert_eq!(DecimalAmount::parse("1e3"), Err(MoneyError::Exponent { position: 1 }));
    /// ```
    pub fn parse(text: &'a str) -> Result<DecimalAmount<'a>, MoneyError> {
        match text.chars().next() {
            None => return Err(MoneyError::EmptyAmount),
            Some(found @ ('+' | '-')) => return Err(MoneyError::Sign { found }),
            Some(_) => {}
        }
        if let Some((position, found)) = text
            .chars()
            .enumerate()
            .find(|(_, found)| !found.is_ascii_digit() && *found != '.')
        {
            return Err(classify_stray_char(text, position, found));
        }

        // Only ASCII digits and dots remain, so byte and character positions agree.
        let Some(point) = text.find('.') else {
            return Ok(DecimalAmount {
                whole: text,
                fraction: "",
            });
        };
        let (whole, fraction) = (&text[..point], &text[point + 1..]);
        if let Some(second) = fraction.find('.') {
            return Err(MoneyError::Separator {
                position: point + 1 + second,
                found: '.',
            });
        }
        if whole.is_empty() || fraction.is_empty() {
            return Err(MoneyError::BarePoint { position: point });
        }
        Ok(DecimalAmount { whole, fraction })
    }

    /// Digits after the decimal point (`49.9` has 1, `49` has 0).
    ///
    /// ```
    /// use clickledger::money::DecimalAmount;
    /// assert_eq!(DecimalAmount::parse("49.900").unwrap().decimals(), 3);
    /// ```
    pub fn decimals(self) -> usize {
        self.fraction.len()
    }

    /// The amount in minor units of `currency`: refuses more decimals than its exponent
    /// and values over [`AMOUNT_MINOR_UNITS_MAX`].
    ///
    /// ```
    /// use clickledger::money::DecimalAmount;
    /// use clickledger::{Currency, MoneyError};
    /// let jpy = Currency::parse("JPY").unwrap();
    /// assert_eq!(DecimalAmount::parse("1500").unwrap().to_minor(jpy), Ok(1500));
    /// assert_eq!(
    ///     DecimalAmount::parse("1500.0").unwrap().to_minor(jpy),
    ///     Err(MoneyError::TooManyDecimals { max: 0, found: 1 })
    /// );
    /// ```
    pub fn to_minor(self, currency: Currency) -> Result<u64, MoneyError> {
        let exponent = currency.exponent();
        let padding = usize::from(exponent).checked_sub(self.decimals()).ok_or(
            MoneyError::TooManyDecimals {
                max: exponent,
                found: self.decimals(),
            },
        )?;

        // Shifting the point right by the exponent is appending zeros to the fraction.
        let digits = self
            .whole
            .bytes()
            .chain(self.fraction.bytes())
            .chain(iter::repeat_n(b'0', padding));
        let overflow = MoneyError::Overflow {
            max: AMOUNT_MINOR_UNITS_MAX,
        };
        let mut minor: u64 = 0;
        for digit in digits {
            debug_assert!(digit.is_ascii_digit(), "parse lets only digits through");
            minor = minor
                .checked_mul(10)
                .and_then(|shifted| shifted.checked_add(u64::from(digit - b'0')))
                .filter(|value| *value <= AMOUNT_MINOR_UNITS_MAX)
                .ok_or_else(|| overflow.clone())?;
        }
        Ok(minor)
    }
}

/// Names the first character that is neither a digit nor a `.`, as precisely as the
/// text allows: an exponent, a separator, or just a stray character.
fn classify_stray_char(text: &str, position: usize, found: char) -> MoneyError {
    match found {
        'e' | 'E' if position > 0 && is_exponent_tail(text, position) => {
            MoneyError::Exponent { position }
        }
        ',' | '\'' | '_' => MoneyError::Separator { position, found },
        _ => MoneyError::NotDecimal { position, found },
    }
}

/// True when the text from the `e` at `position` on reads as an exponent: `e`, an
/// optional sign, then only digits (`1e3`, `1.5E-2`), and a digit came before it. A
/// suffix such as `EUR` in `49.90EUR` is not an exponent.
fn is_exponent_tail(text: &str, position: usize) -> bool {
    let mut chars = text.chars().skip(position - 1);
    let before_is_digit = chars.next().is_some_and(|before| before.is_ascii_digit());
    let tail: String = chars.skip(1).collect();
    let digits = tail.strip_prefix(['+', '-']).unwrap_or(&tail);
    before_is_digit && !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit())
}

/// Parses a decimal amount (`49.90`, `49.9`, `1000`) into minor units of `currency`.
///
/// Refused: signs, exponents, separators other than one `.`, grouping, symbols,
/// more decimals than the exponent allows, values over `i64::MAX` minor units.
///
/// ```
/// use clickledger::{money::parse_amount_minor, Currency, MoneyError};
/// let eur = Currency::parse("EUR").unwrap();
/// assert_eq!(parse_amount_minor("49.90", eur), Ok(4990));
/// assert_eq!(parse_amount_minor("49.9", eur), Ok(4990));
/// assert_eq!(
///     parse_amount_minor("49,90", eur),
///     Err(MoneyError::Separator { position: 2, found: ',' })
/// );
/// ```
pub fn parse_amount_minor(text: &str, currency: Currency) -> Result<u64, MoneyError> {
    DecimalAmount::parse(text)?.to_minor(currency)
}

/// Formats minor units back to a decimal amount (`4990`, EUR -> `49.90`), always with
/// exactly the currency's exponent as decimals, so that it parses back to `minor`.
///
/// ```
/// use clickledger::{money::format_amount_minor, Currency};
/// assert_eq!(format_amount_minor(4990, Currency::parse("EUR").unwrap()), "49.90");
/// assert_eq!(format_amount_minor(5, Currency::parse("KWD").unwrap()), "0.005");
/// assert_eq!(format_amount_minor(1500, Currency::parse("JPY").unwrap()), "1500");
/// ```
pub fn format_amount_minor(minor: u64, currency: Currency) -> String {
    let exponent = usize::from(currency.exponent());
    let digits = minor.to_string();
    if exponent == 0 {
        return digits;
    }
    // One whole digit at least: 5 cents is `0.05`, not `.05`.
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (whole, fraction) = padded.split_at(padded.len() - exponent);
    format!("{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn eur_minor(text: &str) -> Result<u64, MoneyError> {
        parse_amount_minor(text, currency("EUR"))
    }

    #[test]
    fn currency_code_is_case_insensitive_and_stored_upper_case() {
        assert_eq!(currency("eur").code(), "EUR");
        assert_eq!(currency("Eur").code(), "EUR");
        assert_eq!(currency("eur"), currency("EUR"));
        assert_eq!(currency("usd").to_string(), "USD");
    }

    #[test]
    fn currency_exponents_follow_iso_4217() {
        assert_eq!(currency("JPY").exponent(), 0);
        assert_eq!(currency("EUR").exponent(), 2);
        assert_eq!(currency("KWD").exponent(), 3);
    }

    #[test]
    fn currency_that_is_not_an_iso_code_is_unknown() {
        for text in ["EURO", "€", "XYZ", "", "EU", "E R", "eurо", "123"] {
            assert!(
                matches!(
                    Currency::parse(text),
                    Err(MoneyError::UnknownCurrency { .. })
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn unknown_currency_text_is_cut_to_sixteen_characters() {
        let long = "E".repeat(100);
        assert_eq!(
            Currency::parse(&long),
            Err(MoneyError::UnknownCurrency {
                found: "E".repeat(16)
            })
        );
    }

    #[test]
    fn superseded_currency_names_its_successor() {
        assert_eq!(
            Currency::parse("hrk"),
            Err(MoneyError::SupersededCurrency {
                code: "HRK",
                successor: "EUR"
            })
        );
    }

    #[test]
    fn currency_without_minor_unit_is_refused() {
        for code in ["XAU", "XDR", "XXX", "XTS"] {
            assert_eq!(
                Currency::parse(code),
                Err(MoneyError::NoMinorUnit { code }),
                "{code}"
            );
        }
    }

    #[test]
    fn fund_and_special_codes_are_refused_as_units_of_account() {
        for code in ["USN", "CLF", "XAD"] {
            assert_eq!(
                Currency::parse(code),
                Err(MoneyError::UnitOfAccount { code }),
                "{code}"
            );
        }
    }

    #[test]
    fn amount_with_fewer_decimals_than_exponent_is_scaled_exactly() {
        assert_eq!(eur_minor("49.9"), Ok(4990));
        assert_eq!(eur_minor("49.90"), Ok(4990));
        assert_eq!(eur_minor("49"), Ok(4900));
        assert_eq!(parse_amount_minor("1.5", currency("KWD")), Ok(1500));
    }

    #[test]
    fn amount_with_leading_zeros_is_accepted() {
        assert_eq!(eur_minor("007.50"), Ok(750));
        assert_eq!(eur_minor("0"), Ok(0));
        assert_eq!(eur_minor(&format!("{}1", "0".repeat(1000))), Ok(100));
    }

    #[test]
    fn amount_with_more_decimals_than_exponent_is_refused() {
        assert_eq!(
            eur_minor("49.999"),
            Err(MoneyError::TooManyDecimals { max: 2, found: 3 })
        );
        assert_eq!(
            eur_minor("49.900"),
            Err(MoneyError::TooManyDecimals { max: 2, found: 3 })
        );
        assert_eq!(
            parse_amount_minor("100.0", currency("JPY")),
            Err(MoneyError::TooManyDecimals { max: 0, found: 1 })
        );
    }

    #[test]
    fn amount_with_bare_point_is_refused() {
        assert_eq!(eur_minor(".5"), Err(MoneyError::BarePoint { position: 0 }));
        assert_eq!(
            eur_minor("100."),
            Err(MoneyError::BarePoint { position: 3 })
        );
        assert_eq!(eur_minor("."), Err(MoneyError::BarePoint { position: 0 }));
    }

    #[test]
    fn empty_amount_is_refused() {
        assert_eq!(eur_minor(""), Err(MoneyError::EmptyAmount));
    }

    #[test]
    fn amount_with_sign_is_refused() {
        assert_eq!(eur_minor("-10.00"), Err(MoneyError::Sign { found: '-' }));
        assert_eq!(eur_minor("+5"), Err(MoneyError::Sign { found: '+' }));
    }

    #[test]
    fn amount_with_exponent_is_refused() {
        assert_eq!(eur_minor("1e3"), Err(MoneyError::Exponent { position: 1 }));
        assert_eq!(
            eur_minor("1.5E-2"),
            Err(MoneyError::Exponent { position: 3 })
        );
        assert_eq!(eur_minor("1E+3"), Err(MoneyError::Exponent { position: 1 }));
    }

    #[test]
    fn amount_with_comma_decimal_separator_is_invalid() {
        assert_eq!(
            eur_minor("49,90"),
            Err(MoneyError::Separator {
                position: 2,
                found: ','
            })
        );
    }

    #[test]
    fn amount_with_grouping_is_invalid() {
        assert_eq!(
            eur_minor("1,049.90"),
            Err(MoneyError::Separator {
                position: 1,
                found: ','
            })
        );
        assert_eq!(
            eur_minor("1.049,90"),
            Err(MoneyError::Separator {
                position: 5,
                found: ','
            })
        );
        assert_eq!(
            eur_minor("1.049.90"),
            Err(MoneyError::Separator {
                position: 5,
                found: '.'
            })
        );
        assert_eq!(
            eur_minor("1'049.90"),
            Err(MoneyError::Separator {
                position: 1,
                found: '\''
            })
        );
        assert_eq!(
            eur_minor("1_049"),
            Err(MoneyError::Separator {
                position: 1,
                found: '_'
            })
        );
    }

    #[test]
    fn amount_that_is_not_a_number_is_refused() {
        assert_eq!(
            eur_minor("NaN"),
            Err(MoneyError::NotDecimal {
                position: 0,
                found: 'N'
            })
        );
        assert_eq!(
            eur_minor("inf"),
            Err(MoneyError::NotDecimal {
                position: 0,
                found: 'i'
            })
        );
        assert_eq!(
            eur_minor("infinity"),
            Err(MoneyError::NotDecimal {
                position: 0,
                found: 'i'
            })
        );
        assert_eq!(
            eur_minor("[AMOUNT]"),
            Err(MoneyError::NotDecimal {
                position: 0,
                found: '['
            })
        );
    }

    #[test]
    fn amount_with_currency_symbol_or_code_is_refused() {
        assert_eq!(
            eur_minor("€49.90"),
            Err(MoneyError::NotDecimal {
                position: 0,
                found: '€'
            })
        );
        assert_eq!(
            eur_minor("49.90EUR"),
            Err(MoneyError::NotDecimal {
                position: 5,
                found: 'E'
            })
        );
        assert_eq!(
            eur_minor("49.90e"),
            Err(MoneyError::NotDecimal {
                position: 5,
                found: 'e'
            })
        );
    }

    #[test]
    fn amount_with_spaces_or_non_ascii_digits_is_refused() {
        assert_eq!(
            eur_minor(" 5"),
            Err(MoneyError::NotDecimal {
                position: 0,
                found: ' '
            })
        );
        assert_eq!(
            eur_minor("5 "),
            Err(MoneyError::NotDecimal {
                position: 1,
                found: ' '
            })
        );
        assert_eq!(
            eur_minor("1 049"),
            Err(MoneyError::NotDecimal {
                position: 1,
                found: ' '
            })
        );
        assert_eq!(
            eur_minor("٤٩"),
            Err(MoneyError::NotDecimal {
                position: 0,
                found: '٤'
            })
        );
    }

    #[test]
    fn amount_up_to_i64_max_minor_units_is_accepted_and_beyond_overflows() {
        let overflow = Err(MoneyError::Overflow {
            max: AMOUNT_MINOR_UNITS_MAX,
        });
        assert_eq!(
            eur_minor("92233720368547758.07"),
            Ok(AMOUNT_MINOR_UNITS_MAX)
        );
        assert_eq!(eur_minor("92233720368547758.08"), overflow);
        assert_eq!(eur_minor("99999999999999999999999.99"), overflow);
        assert_eq!(
            parse_amount_minor("9223372036854775808", currency("JPY")),
            overflow
        );
        assert_eq!(
            parse_amount_minor(&"9".repeat(400), currency("JPY")),
            overflow
        );
    }

    #[test]
    fn formatted_amount_has_exactly_exponent_decimals() {
        assert_eq!(format_amount_minor(4990, currency("EUR")), "49.90");
        assert_eq!(format_amount_minor(5, currency("EUR")), "0.05");
        assert_eq!(format_amount_minor(0, currency("EUR")), "0.00");
        assert_eq!(format_amount_minor(1, currency("KWD")), "0.001");
        assert_eq!(format_amount_minor(1500, currency("JPY")), "1500");
    }

    #[test]
    fn formatted_amount_parses_back_to_the_same_minor_units() {
        for code in ["EUR", "JPY", "KWD"] {
            for minor in [
                0,
                1,
                9,
                10,
                99,
                100,
                4990,
                123_456_789,
                AMOUNT_MINOR_UNITS_MAX,
            ] {
                let text = format_amount_minor(minor, currency(code));
                assert_eq!(
                    parse_amount_minor(&text, currency(code)),
                    Ok(minor),
                    "{code} {text}"
                );
            }
        }
    }

    #[test]
    fn every_error_says_what_was_expected() {
        let errors = [
            MoneyError::UnknownCurrency {
                found: "EURO".into(),
            },
            MoneyError::EmptyAmount,
            MoneyError::TooManyDecimals { max: 0, found: 1 },
            MoneyError::Overflow {
                max: AMOUNT_MINOR_UNITS_MAX,
            },
        ];
        for error in errors {
            assert!(error.to_string().starts_with("expected"), "{error}");
            assert!(!error.expected().is_empty());
        }
    }
}
