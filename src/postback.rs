//! The postback: the advertiser's server-to-server call that reports a conversion.
//!
//! [`Postback::from_query`] turns a raw query string into a validated [`Postback`], or a
//! [`PostbackError`] naming the parameter at fault. Parsing never looks at the ledger;
//! rules that depend on the program (required-if) are checked by the ledger.
//!
//! Parsing is strict because a lenient parser would write wrong conversions: a template
//! macro left unreplaced (`{transaction_id}`), a click ID mangled in transit or an amount
//! in a local format are refused with the parameter named, never guessed at.
//!
//! The steps, in order:
//!
//! 1. A query over [`QUERY_BYTES_MAX`] bytes is refused (`query`).
//! 2. The query is split on `&` (empty pairs skipped), each pair on its first `=` (a pair
//!    without `=` is a name with an empty value). Names are percent-decoded; one that does
//!    not decode is refused (`query`). A known parameter given twice is refused;
//!    unknown ones are listed in [`Postback::ignored_params`].
//! 3. Parameters are validated in this order, the first fault reported: `key`, `id`,
//!    the shape of `amount`, `currency`, the scale of `amount` (decimals and range, which
//!    need the currency), `payment`, `customer`, `cv`, `voucher`, `product`, `cids`.
//!    Each value is percent-decoded strictly (`%` then two hex digits, `+` is a space,
//!    the result must be UTF-8) *before* lists are split, so `%2D` in `cids` separates
//!    two IDs and `%252D` leaves a literal `%2D` in one.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

use crate::click_id::ClickId;
use crate::money::{
    format_amount_minor, Currency, DecimalAmount, MoneyError, AMOUNT_MINOR_UNITS_MAX,
};
use crate::order::Order;
use crate::outcome::{IdText, IdVerdict, Verdict};

/// At most this many click IDs in one postback's `cids`.
///
/// ```
/// use clickledger::postback::CLICK_IDS_MAX;
/// use clickledger::{Postback, PostbackError};
/// let ids: Vec<String> =
///     (0..=CLICK_IDS_MAX).map(|n| format!("603ed18000000000{n:08x}")).collect();
/// let query = format!("key=pk1&id=A1&currency=EUR&cids={}", ids.join("-"));
/// let result = Postback::from_query(&query);
/// assert!(matches!(result, Err(PostbackError::TooManyClickIds { count: 65, max: 64 })));
/// ```
pub const CLICK_IDS_MAX: usize = 64;
/// Longest accepted order `id`, in bytes.
///
/// ```
/// use clickledger::postback::ORDER_ID_BYTES_MAX;
/// let id = "Y".repeat(ORDER_ID_BYTES_MAX);
/// let query = format!("key=pk1&id={id}&currency=EUR&cids=603ed1800000000000000000");
/// assert!(clickledger::Postback::from_query(&query).is_ok());
/// ```
pub const ORDER_ID_BYTES_MAX: usize = 128;
/// Longest accepted query string, in bytes (64 IDs take 1,599; the rest is headroom).
///
/// ```
/// use clickledger::postback::QUERY_BYTES_MAX;
/// let query = format!("key=pk1&pad={}", "x".repeat(QUERY_BYTES_MAX));
/// assert_eq!(clickledger::Postback::from_query(&query).unwrap_err().param(), "query");
/// ```
pub const QUERY_BYTES_MAX: usize = 8_192;
/// Longest accepted program `key`, in bytes; keys are minted far shorter.
///
/// ```
/// use clickledger::postback::KEY_BYTES_MAX;
/// let key = "k".repeat(KEY_BYTES_MAX + 1);
/// let query = format!("key={key}&id=A1&currency=EUR&cids=603ed1800000000000000000");
/// assert_eq!(clickledger::Postback::from_query(&query).unwrap_err().param(), "key");
/// ```
pub const KEY_BYTES_MAX: usize = 128;
/// Longest accepted `customer` id, in bytes: the same room as an order id.
///
/// ```
/// use clickledger::postback::CUSTOMER_BYTES_MAX;
/// let customer = "C".repeat(CUSTOMER_BYTES_MAX);
/// let cids = "603ed1800000000000000000";
/// let query = format!("key=pk1&id=A1&currency=EUR&customer={customer}&cids={cids}");
/// assert!(clickledger::Postback::from_query(&query).is_ok());
/// ```
pub const CUSTOMER_BYTES_MAX: usize = 128;
/// Longest accepted custom variable `cv`, in bytes (UTF-8, so fewer characters).
///
/// ```
/// use clickledger::postback::CV_BYTES_MAX;
/// let cv = "v".repeat(CV_BYTES_MAX + 1);
/// let query = format!("key=pk1&id=A1&currency=EUR&cv={cv}&cids=603ed1800000000000000000");
/// assert_eq!(clickledger::Postback::from_query(&query).unwrap_err().param(), "cv");
/// ```
pub const CV_BYTES_MAX: usize = 256;
/// Longest accepted `voucher` or `product` item, in bytes.
///
/// ```
/// use clickledger::postback::LIST_ITEM_BYTES_MAX;
/// let voucher = "V".repeat(LIST_ITEM_BYTES_MAX);
/// let cids = "603ed1800000000000000000";
/// let query = format!("key=pk1&id=A1&currency=EUR&voucher={voucher}&cids={cids}");
/// assert!(clickledger::Postback::from_query(&query).is_ok());
/// ```
pub const LIST_ITEM_BYTES_MAX: usize = 64;
/// At most this many items in `voucher`, and as many in `product`.
///
/// ```
/// use clickledger::postback::LIST_ITEMS_MAX;
/// let products = vec!["P"; LIST_ITEMS_MAX + 1].join(";");
/// let cids = "603ed1800000000000000000";
/// let query = format!("key=pk1&id=A1&currency=EUR&product={products}&cids={cids}");
/// assert_eq!(clickledger::Postback::from_query(&query).unwrap_err().param(), "product");
/// ```
pub const LIST_ITEMS_MAX: usize = 32;

/// Longest `found` text in an error, in characters: enough to recognise the value in a
/// log line without copying a whole hostile query into it.
const FOUND_CHARS_MAX: usize = 64;

/// What [`Postback::to_query`] writes raw: the unreserved characters of RFC 3986. Every
/// other byte is percent-encoded, so the encoder never emits a `+`, `&`, `=` or `;`
/// that the parser would read as structure.
const QUERY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How the order was paid, for programs that require it.
///
/// ```
/// use clickledger::Payment;
/// assert_eq!(Payment::parse("bankwire"), Some(Payment::Bankwire));
/// assert_eq!(Payment::parse(""), Some(Payment::Unspecified));
/// assert_eq!(Payment::parse("cash"), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Payment {
    /// `online`
    Online,
    /// `bankwire`
    Bankwire,
    /// `other`
    Other,
    /// Present but empty: the advertiser does not know yet.
    Unspecified,
}

impl Payment {
    /// Parses one of `online`, `bankwire`, `other` or the empty string.
    pub fn parse(text: &str) -> Option<Payment> {
        match text {
            "online" => Some(Payment::Online),
            "bankwire" => Some(Payment::Bankwire),
            "other" => Some(Payment::Other),
            "" => Some(Payment::Unspecified),
            _ => None,
        }
    }

    /// The parameter value: `online`, `bankwire`, `other` or empty.
    ///
    /// ```
    /// assert_eq!(clickledger::Payment::Online.as_str(), "online");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Payment::Online => "online",
            Payment::Bankwire => "bankwire",
            Payment::Other => "other",
            Payment::Unspecified => "",
        }
    }
}

/// A validated postback.
///
/// ```
/// use clickledger::Postback;
/// let postback = Postback::from_query(
///     "key=pk1&id=A1001&amount=49.90&currency=EUR&cids=603ed1800000000000000000",
/// ).unwrap();
/// assert_eq!(postback.order.order_id, "A1001");
/// assert_eq!(postback.order.amount_minor, Some(4990));
/// assert_eq!(postback.click_ids.len(), 1);
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Postback {
    /// The program's secret key.
    pub key: String,
    /// The order: id, amount, currency and the advertiser's fields.
    pub order: Order,
    /// Click IDs (`cids`, split on `-`), in the order given, none repeated.
    pub click_ids: Vec<ClickId>,
    /// Names of parameters that were present but are not postback parameters, decoded,
    /// in query order, repeats kept.
    pub ignored_params: Vec<String>,
}

/// Why a query string is not a valid postback. Every variant names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PostbackError {
    /// A required parameter is absent or empty.
    #[error("missing parameter `{param}`")]
    Missing {
        /// The parameter name.
        param: &'static str,
    },
    /// A parameter appears more than once.
    #[error("parameter `{param}` appears more than once")]
    DuplicateParam {
        /// The parameter name.
        param: &'static str,
    },
    /// A parameter's value is malformed.
    #[error("invalid `{param}`: expected {expected}, found {found:?}")]
    Invalid {
        /// The parameter name (`query` when the query string itself is malformed).
        param: &'static str,
        /// What a valid value looks like.
        expected: &'static str,
        /// The offending value or item, shortened to at most 64 characters.
        found: String,
    },
    /// Two IDs in `cids` address the same click: the same ID twice (in any letter case),
    /// or two IDs of the same day and slot (at most one of them genuine).
    #[error("click ID {id} addresses the same click (day and slot) as an earlier ID in `cids`")]
    DuplicateClickId {
        /// The later of the two IDs.
        id: ClickId,
    },
    /// `cids` holds more IDs than [`CLICK_IDS_MAX`].
    #[error("`cids` holds {count} click IDs; at most {max} are accepted")]
    TooManyClickIds {
        /// IDs given.
        count: usize,
        /// [`CLICK_IDS_MAX`].
        max: usize,
    },
}

impl PostbackError {
    /// The parameter the error is about.
    ///
    /// ```
    /// use clickledger::PostbackError;
    /// assert_eq!(PostbackError::Missing { param: "id" }.param(), "id");
    /// ```
    pub fn param(&self) -> &'static str {
        match self {
            PostbackError::Missing { param }
            | PostbackError::DuplicateParam { param }
            | PostbackError::Invalid { param, .. } => param,
            PostbackError::DuplicateClickId { .. } | PostbackError::TooManyClickIds { .. } => {
                "cids"
            }
        }
    }
}

impl Postback {
    /// Parses and validates a query string (without the leading `?`).
    ///
    /// ```
    /// use clickledger::{Postback, PostbackError};
    /// let query = "key=pk1&id=A1001&amount=49.9&currency=eur&voucher=A;B&utm=x\
    ///              &cids=603ED1800000000000000000";
    /// let postback = Postback::from_query(query).unwrap();
    /// assert_eq!(postback.order.amount_minor, Some(4990));
    /// assert_eq!(postback.order.currency.code(), "EUR");
    /// assert_eq!(postback.order.vouchers, ["A", "B"]);
    /// assert_eq!(postback.ignored_params, ["utm"]);
    ///
    /// let query = "key=pk1&id=%7Btransaction_id%7D&currency=EUR&cids=x";
    /// let unreplaced = Postback::from_query(query);
    /// assert!(matches!(unreplaced, Err(PostbackError::Invalid { param: "id", .. })));
    /// ```
    pub fn from_query(query: &str) -> Result<Postback, PostbackError> {
        Postback::from_query_bytes(query.as_bytes())
    }

    /// Parses raw bytes, for queries that may not be UTF-8. Bytes that are not UTF-8,
    /// raw or percent-encoded, make their parameter invalid (or the `query`, in a name).
    ///
    /// ```
    /// use clickledger::{Postback, PostbackError};
    /// let query = b"key=pk1&id=A\xff1&currency=EUR&cids=x";
    /// assert_eq!(Postback::from_query_bytes(query).unwrap_err().param(), "id");
    /// ```
    pub fn from_query_bytes(query: &[u8]) -> Result<Postback, PostbackError> {
        if query.len() > QUERY_BYTES_MAX {
            return Err(invalid(
                "query",
                "a query string of at most 8192 bytes",
                format!("{} bytes", query.len()),
            ));
        }
        RawQuery::split(query)?.validate()
    }

    /// Checks a postback built by hand against the rules parsing enforces: every text
    /// field's length and characters, list sizes, and the click-ID count with no repeat.
    /// [`crate::Ledger::convert`] calls it, so a hand-built postback gets the rejection
    /// a query would, never a record the log cannot hold. (The amount and currency are
    /// typed; whether an amount is required is the program's rule, checked by the
    /// ledger.)
    ///
    /// ```
    /// use clickledger::{Currency, Order, Postback, PostbackError};
    /// let mut postback = Postback {
    ///     key: "pk1".into(),
    ///     order: Order::new("A1", Currency::parse("EUR").unwrap()),
    ///     click_ids: vec!["603ed1800000000000000000".parse().unwrap()],
    ///     ignored_params: vec![],
    /// };
    /// assert_eq!(postback.check(), Ok(()));
    /// postback.order.order_id = "x".repeat(200);
    /// assert_eq!(postback.check().unwrap_err().param(), "id");
    /// ```
    pub fn check(&self) -> Result<(), PostbackError> {
        for (param, text) in [("key", &self.key), ("id", &self.order.order_id)] {
            if text.is_empty() {
                return Err(PostbackError::Missing { param });
            }
        }
        check_text(&KEY_RULE, &self.key)?;
        let order = &self.order;
        check_text(&ORDER_ID_RULE, &order.order_id)?;
        if let Some(minor) = order
            .amount_minor
            .filter(|minor| *minor > AMOUNT_MINOR_UNITS_MAX)
        {
            let found = format!("{minor} minor units");
            return Err(invalid("amount", "at most i64::MAX minor units", found));
        }
        for (rule, text) in [(&CUSTOMER_RULE, &order.customer), (&CV_RULE, &order.cv)] {
            match text.as_deref() {
                // Parsing reads an empty value as absent, so `Some("")` never comes from
                // a query: it would pass a required `customer` without one.
                Some("") => {
                    let expected = "a value, or none at all";
                    return Err(invalid(rule.param.name(), expected, String::new()));
                }
                Some(text) => check_text(rule, text)?,
                None => {}
            }
        }
        for (rule, items) in [
            (&VOUCHER_RULE, &order.vouchers),
            (&PRODUCT_RULE, &order.products),
        ] {
            check_list(rule, items)?;
        }
        if self.click_ids.is_empty() {
            return Err(PostbackError::Missing { param: "cids" });
        }
        if self.click_ids.len() > CLICK_IDS_MAX {
            return Err(PostbackError::TooManyClickIds {
                count: self.click_ids.len(),
                max: CLICK_IDS_MAX,
            });
        }
        match first_repeat(&self.click_ids) {
            Some(id) => Err(PostbackError::DuplicateClickId { id }),
            None => Ok(()),
        }
    }

    /// Encodes the postback back into a query string that parses to an equal value
    /// (`ignored_params` aside). Parameters come in the order of the design's table;
    /// values are percent-encoded except RFC 3986 unreserved characters, and list
    /// separators (`;`, and `-` in `cids`) are written raw.
    ///
    /// The round trip holds for every postback that parsing produced; a value built by
    /// hand that breaks a parsing rule (an empty `customer`, a `;` inside a voucher)
    /// encodes to a query that parses differently or not at all.
    ///
    /// ```
    /// use clickledger::Postback;
    /// let query = "key=pk1&id=A%2B1&amount=49.9&currency=eur&cids=603ED1800000000000000000";
    /// let postback = Postback::from_query(query).unwrap();
    /// assert_eq!(
    ///     postback.to_query(),
    ///     "key=pk1&id=A%2B1&amount=49.90&currency=EUR&cids=603ed1800000000000000000"
    /// );
    /// assert_eq!(Postback::from_query(&postback.to_query()), Ok(postback));
    /// ```
    pub fn to_query(&self) -> String {
        let order = &self.order;
        let mut pairs = vec![("key", encode(&self.key)), ("id", encode(&order.order_id))];
        if let Some(minor) = order.amount_minor {
            pairs.push(("amount", format_amount_minor(minor, order.currency)));
        }
        pairs.push(("currency", order.currency.code().to_owned()));
        if let Some(payment) = order.payment {
            pairs.push(("payment", payment.as_str().to_owned()));
        }
        if let Some(customer) = &order.customer {
            pairs.push(("customer", encode(customer)));
        }
        if let Some(cv) = &order.cv {
            pairs.push(("cv", encode(cv)));
        }
        if !order.vouchers.is_empty() {
            pairs.push(("voucher", encode_list(&order.vouchers)));
        }
        if !order.products.is_empty() {
            pairs.push(("product", encode_list(&order.products)));
        }
        let click_ids: Vec<String> = self.click_ids.iter().map(ClickId::to_string).collect();
        pairs.push(("cids", click_ids.join("-")));

        let pairs: Vec<String> = pairs
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        pairs.join("&")
    }
}

/// Best effort, for reporting a postback rejected for its `cids`: every item of the
/// decoded `cids` list, as a parsed ID marked [`Verdict::NotChecked`] or as raw text
/// marked [`Verdict::Malformed`]. Empty when `cids` is absent, empty or does not decode,
/// or when the query is too long to have been parsed. A repeated `cids` is read from
/// its first occurrence; nothing else about the query is checked.
///
/// ```
/// use clickledger::postback::cids_verdicts;
/// use clickledger::{IdText, Verdict};
/// let verdicts = cids_verdicts("key=pk1&cids=603ed1800000000000000000-%7Baecid%7D");
/// assert_eq!(verdicts.len(), 2);
/// assert_eq!(verdicts[0].verdict, Verdict::NotChecked);
/// assert_eq!(verdicts[1].id, IdText::Raw("{aecid}".into()));
/// assert_eq!(verdicts[1].verdict, Verdict::Malformed);
/// ```
pub fn cids_verdicts(query: &str) -> Vec<IdVerdict> {
    if query.len() > QUERY_BYTES_MAX {
        return Vec::new();
    }
    let raw_cids = pairs(query.as_bytes())
        .find(|(raw_name, _)| decode_utf8(raw_name).is_some_and(|name| name == "cids"))
        .map(|(_, raw_value)| raw_value);
    let Some(cids) = raw_cids
        .and_then(decode_utf8)
        .filter(|cids| !cids.is_empty())
    else {
        return Vec::new();
    };
    cids.split('-')
        .map(|item| match ClickId::parse(item) {
            Ok(id) => IdVerdict {
                id: IdText::Parsed(id),
                verdict: Verdict::NotChecked,
            },
            Err(_) => IdVerdict {
                id: IdText::Raw(item.to_owned()),
                verdict: Verdict::Malformed,
            },
        })
        .collect()
}

/// The postback parameters, in validation order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Param {
    Key,
    Id,
    Amount,
    Currency,
    Payment,
    Customer,
    Cv,
    Voucher,
    Product,
    Cids,
}

impl Param {
    const ALL: [Param; 10] = [
        Param::Key,
        Param::Id,
        Param::Amount,
        Param::Currency,
        Param::Payment,
        Param::Customer,
        Param::Cv,
        Param::Voucher,
        Param::Product,
        Param::Cids,
    ];

    /// The name in the query string; names are case-sensitive.
    fn name(self) -> &'static str {
        match self {
            Param::Key => "key",
            Param::Id => "id",
            Param::Amount => "amount",
            Param::Currency => "currency",
            Param::Payment => "payment",
            Param::Customer => "customer",
            Param::Cv => "cv",
            Param::Voucher => "voucher",
            Param::Product => "product",
            Param::Cids => "cids",
        }
    }

    fn from_name(name: &str) -> Option<Param> {
        Param::ALL.into_iter().find(|param| param.name() == name)
    }
}

/// A query split into pairs: the raw (still encoded) value of each known parameter.
struct RawQuery<'q> {
    /// Indexed by `Param as usize`.
    values: [Option<&'q [u8]>; Param::ALL.len()],
    ignored_params: Vec<String>,
}

impl<'q> RawQuery<'q> {
    /// Splits the query and decodes the names; refuses an undecodable name and a known
    /// parameter given twice, whatever its values, before any value is looked at.
    fn split(query: &'q [u8]) -> Result<RawQuery<'q>, PostbackError> {
        let mut raw = RawQuery {
            values: [None; Param::ALL.len()],
            ignored_params: Vec::new(),
        };
        for (raw_name, raw_value) in pairs(query) {
            let name = decode_utf8(raw_name).ok_or_else(|| {
                invalid(
                    "query",
                    "parameter names percent-encoded as UTF-8",
                    shorten_bytes(raw_name),
                )
            })?;
            match Param::from_name(&name) {
                Some(param) => {
                    let slot = &mut raw.values[param as usize];
                    if slot.replace(raw_value).is_some() {
                        return Err(PostbackError::DuplicateParam {
                            param: param.name(),
                        });
                    }
                }
                None => raw.ignored_params.push(name),
            }
        }
        Ok(raw)
    }

    fn get(&self, param: Param) -> Option<&'q [u8]> {
        self.values[param as usize]
    }

    /// Validates every parameter in the order the module documentation gives.
    fn validate(self) -> Result<Postback, PostbackError> {
        let key = required_text(Param::Key, self.get(Param::Key))?;
        check_text(&KEY_RULE, &key)?;
        let order_id = required_text(Param::Id, self.get(Param::Id))?;
        check_text(&ORDER_ID_RULE, &order_id)?;

        // The amount's shape is judged before the currency, its scale after: a
        // malformed amount is reported as such even when the currency is wrong too.
        let amount_text = optional_text(Param::Amount, self.get(Param::Amount))?;
        let amount = amount_text.as_deref().map(parse_amount_shape).transpose()?;
        let currency = parse_currency(self.get(Param::Currency))?;
        let amount_minor = amount
            .map(|amount| amount.to_minor(currency))
            .transpose()
            .map_err(|error| {
                money_invalid(
                    Param::Amount,
                    &error,
                    amount_text.as_deref().unwrap_or_default(),
                )
            })?;

        // Field order is check order (see the module doc).
        let order = Order {
            order_id,
            amount_minor,
            currency,
            payment: parse_payment(self.get(Param::Payment))?,
            customer: parse_optional(&CUSTOMER_RULE, self.get(Param::Customer))?,
            cv: parse_optional(&CV_RULE, self.get(Param::Cv))?,
            vouchers: parse_list(&VOUCHER_RULE, self.get(Param::Voucher))?,
            products: parse_list(&PRODUCT_RULE, self.get(Param::Product))?,
        };
        Ok(Postback {
            key,
            order,
            click_ids: parse_click_ids(self.get(Param::Cids))?,
            ignored_params: self.ignored_params,
        })
    }
}

/// The non-empty `name=value` pairs of a query, each split on its first `=`; a pair
/// without `=` is a name with an empty value.
fn pairs(query: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    query
        .split(|byte| *byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|byte| *byte == b'=') {
            Some(equals) => (&pair[..equals], &pair[equals + 1..]),
            None => (pair, &[][..]),
        })
}

/// Strict percent-decoding: `+` is a space, `%` must be followed by two hex digits.
/// `None` for a malformed escape; lenient decoders pass those through, which would let
/// a truncated or doubly encoded value slip in as something else.
fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut decoded = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'+' => decoded.push(b' '),
            b'%' => {
                let [high, low, after @ ..] = tail else {
                    return None;
                };
                decoded.push(hex_value(*high)? << 4 | hex_value(*low)?);
                rest = after;
            }
            _ => decoded.push(byte),
        }
    }
    Some(decoded)
}

fn hex_value(digit: u8) -> Option<u8> {
    // `to_digit(16)` is at most 15, so the narrowing cannot lose anything.
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

fn decode_utf8(raw: &[u8]) -> Option<String> {
    String::from_utf8(percent_decode(raw)?).ok()
}

/// Decodes one parameter's value, naming the parameter when it does not decode.
fn decode_value(param: Param, raw: &[u8]) -> Result<String, PostbackError> {
    let bytes = percent_decode(raw).ok_or_else(|| {
        let found = shown(param, &String::from_utf8_lossy(raw));
        invalid(
            param.name(),
            "`%` followed by two hexadecimal digits in escapes",
            found,
        )
    })?;
    String::from_utf8(bytes).map_err(|error| {
        let found = shown(param, &String::from_utf8_lossy(error.as_bytes()));
        invalid(param.name(), "UTF-8 text after percent-decoding", found)
    })
}

/// A required parameter: absent or empty is [`PostbackError::Missing`].
fn required_text(param: Param, raw: Option<&[u8]>) -> Result<String, PostbackError> {
    optional_text(param, raw)?.ok_or(PostbackError::Missing {
        param: param.name(),
    })
}

/// An optional parameter: absent or empty is `None`. (An escape always yields a byte,
/// so only an empty raw value decodes to an empty text.)
fn optional_text(param: Param, raw: Option<&[u8]>) -> Result<Option<String>, PostbackError> {
    match raw {
        None | Some([]) => Ok(None),
        Some(raw) => decode_value(param, raw).map(Some),
    }
}

fn parse_amount_shape(text: &str) -> Result<DecimalAmount<'_>, PostbackError> {
    DecimalAmount::parse(text).map_err(|error| money_invalid(Param::Amount, &error, text))
}

fn parse_currency(raw: Option<&[u8]>) -> Result<Currency, PostbackError> {
    let text = required_text(Param::Currency, raw)?;
    Currency::parse(&text).map_err(|error| money_invalid(Param::Currency, &error, &text))
}

fn money_invalid(param: Param, error: &MoneyError, text: &str) -> PostbackError {
    invalid(param.name(), error.expected(), shorten(text))
}

/// `payment`: absent is `None`; present and empty is [`Payment::Unspecified`].
fn parse_payment(raw: Option<&[u8]>) -> Result<Option<Payment>, PostbackError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = decode_value(Param::Payment, raw)?;
    let payment = Payment::parse(&text).ok_or_else(|| {
        invalid(
            "payment",
            "`online`, `bankwire`, `other` or empty",
            shorten(&text),
        )
    })?;
    Ok(Some(payment))
}

fn parse_optional(rule: &TextRule, raw: Option<&[u8]>) -> Result<Option<String>, PostbackError> {
    let text = optional_text(rule.param, raw)?;
    if let Some(text) = &text {
        check_text(rule, text)?;
    }
    Ok(text)
}

/// A `;`-separated list: absent or empty is no items; an empty item is refused. The
/// items are counted before any is checked, so an oversized list costs one scan.
fn parse_list(rule: &TextRule, raw: Option<&[u8]>) -> Result<Vec<String>, PostbackError> {
    let Some(text) = optional_text(rule.param, raw)? else {
        return Ok(Vec::new());
    };
    let count = text.bytes().filter(|byte| *byte == b';').count() + 1;
    if count > LIST_ITEMS_MAX {
        return Err(invalid(
            rule.param.name(),
            "at most 32 items",
            format!("{count} items"),
        ));
    }
    text.split(';')
        .map(|item| {
            if item.is_empty() {
                return Err(invalid(
                    rule.param.name(),
                    "items separated by single `;`",
                    shorten(&text),
                ));
            }
            check_text(rule, item)?;
            Ok(item.to_owned())
        })
        .collect()
}

/// A parsed list (vouchers, products) checked as [`parse_list`] checks the text.
fn check_list(rule: &TextRule, items: &[String]) -> Result<(), PostbackError> {
    if items.len() > LIST_ITEMS_MAX {
        let found = format!("{} items", items.len());
        return Err(invalid(rule.param.name(), "at most 32 items", found));
    }
    for item in items {
        if item.is_empty() || item.contains(';') {
            return Err(invalid(
                rule.param.name(),
                "items without `;`, none empty",
                shorten(item),
            ));
        }
        check_text(rule, item)?;
    }
    Ok(())
}

/// `cids`: 1 to [`CLICK_IDS_MAX`] IDs separated by `-`. Every item's shape is checked
/// before repeats, so a list that is malformed and repetitive is reported malformed.
fn parse_click_ids(raw: Option<&[u8]>) -> Result<Vec<ClickId>, PostbackError> {
    let text = required_text(Param::Cids, raw)?;
    let count = text.bytes().filter(|byte| *byte == b'-').count() + 1;
    if count > CLICK_IDS_MAX {
        return Err(PostbackError::TooManyClickIds {
            count,
            max: CLICK_IDS_MAX,
        });
    }
    let click_ids = text
        .split('-')
        .map(|item| {
            let expected = if item.is_empty() {
                "click IDs separated by single `-`, none empty"
            } else {
                "24 hexadecimal digits per click ID"
            };
            ClickId::parse(item).map_err(|_| invalid("cids", expected, shorten(item)))
        })
        .collect::<Result<Vec<ClickId>, PostbackError>>()?;
    if let Some(id) = first_repeat(&click_ids) {
        return Err(PostbackError::DuplicateClickId { id });
    }
    Ok(click_ids)
}

/// Longest ID list checked for repeats by comparing every pair (at most 28 comparisons).
const PAIRWISE_IDS_MAX: usize = 8;

/// The first ID that repeats an earlier one, in list order. IDs are compared by the
/// click they address ([`ClickId::address`]): the upper- and lower-case forms of one ID
/// are the same ID, and so are two IDs of one slot that differ in their second.
///
/// Every parsed and every converted postback passes here, and most carry one to a few
/// IDs: up to [`PAIRWISE_IDS_MAX`] they are compared pairwise, which allocates nothing;
/// longer lists go through a hash set (SipHash-free: addresses are not secret, and the
/// list is bounded by [`CLICK_IDS_MAX`]).
fn first_repeat(click_ids: &[ClickId]) -> Option<ClickId> {
    if click_ids.len() <= PAIRWISE_IDS_MAX {
        return click_ids
            .iter()
            .enumerate()
            .find(|(index, id)| {
                click_ids[..*index]
                    .iter()
                    .any(|earlier| earlier.address() == id.address())
            })
            .map(|(_, id)| *id);
    }
    let mut seen = hashbrown::HashSet::with_capacity(click_ids.len());
    click_ids
        .iter()
        .find(|id| !seen.insert(id.address()))
        .copied()
}

/// Which characters a text parameter may hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Charset {
    /// `!` to `~`: no space, no control character, nothing beyond ASCII.
    VisibleAscii,
    /// Visible ASCII without the characters that template macros are written with
    /// (`{id}`, `[ORDER]`, `<id>`, `%ORDER%`, `$order`, quotes, backslash, backtick):
    /// an identifier holding one is almost surely a macro the advertiser never filled.
    Identifier,
    /// Any text without control characters.
    NoControl,
}

/// Characters refused in [`Charset::Identifier`].
const TEMPLATE_CHARS: &[char] = &['{', '}', '[', ']', '<', '>', '"', '\'', '\\', '`', '%', '$'];

impl Charset {
    fn allows(self, found: char) -> bool {
        match self {
            Charset::VisibleAscii => found.is_ascii_graphic(),
            Charset::Identifier => found.is_ascii_graphic() && !TEMPLATE_CHARS.contains(&found),
            Charset::NoControl => !found.is_control(),
        }
    }
}

/// The length and character rule of one text parameter (or list item), with the
/// `expected` texts its errors carry.
struct TextRule {
    param: Param,
    charset: Charset,
    bytes_max: usize,
    expected_length: &'static str,
    expected_chars: &'static str,
}

/// What an identifier's error says when a character is refused.
const IDENTIFIER_CHARS: &str =
    "visible ASCII without spaces or any of {}[]<>\"'\\`%$ (a template macro left unreplaced?)";

const KEY_RULE: TextRule = TextRule {
    param: Param::Key,
    charset: Charset::VisibleAscii,
    bytes_max: KEY_BYTES_MAX,
    expected_length: "a key of at most 128 bytes",
    expected_chars: "a key of visible ASCII characters",
};

const ORDER_ID_RULE: TextRule = TextRule {
    param: Param::Id,
    charset: Charset::Identifier,
    bytes_max: ORDER_ID_BYTES_MAX,
    expected_length: "an order id of at most 128 bytes",
    expected_chars: IDENTIFIER_CHARS,
};

const CUSTOMER_RULE: TextRule = TextRule {
    param: Param::Customer,
    charset: Charset::Identifier,
    bytes_max: CUSTOMER_BYTES_MAX,
    expected_length: "a customer id of at most 128 bytes",
    expected_chars: IDENTIFIER_CHARS,
};

const CV_RULE: TextRule = TextRule {
    param: Param::Cv,
    charset: Charset::NoControl,
    bytes_max: CV_BYTES_MAX,
    expected_length: "a custom variable of at most 256 bytes",
    expected_chars: "text without control characters",
};

const VOUCHER_RULE: TextRule = TextRule {
    param: Param::Voucher,
    charset: Charset::Identifier,
    bytes_max: LIST_ITEM_BYTES_MAX,
    expected_length: "voucher codes of at most 64 bytes each",
    expected_chars: IDENTIFIER_CHARS,
};

const PRODUCT_RULE: TextRule = TextRule {
    param: Param::Product,
    charset: Charset::Identifier,
    bytes_max: LIST_ITEM_BYTES_MAX,
    expected_length: "product ids of at most 64 bytes each",
    expected_chars: IDENTIFIER_CHARS,
};

/// Checks the length (first: it is the cheaper check) and then the characters.
fn check_text(rule: &TextRule, text: &str) -> Result<(), PostbackError> {
    if text.len() > rule.bytes_max {
        return Err(invalid(
            rule.param.name(),
            rule.expected_length,
            shown(rule.param, text),
        ));
    }
    match text
        .char_indices()
        .find(|(_, found)| !rule.charset.allows(*found))
    {
        None => Ok(()),
        Some((index, found)) if rule.param == Param::Key => {
            let found = format!(
                "<secret key, {} bytes; byte {index} is {found:?}>",
                text.len()
            );
            Err(invalid("key", rule.expected_chars, found))
        }
        Some(_) => Err(invalid(
            rule.param.name(),
            rule.expected_chars,
            shorten(text),
        )),
    }
}

fn invalid(param: &'static str, expected: &'static str, found: String) -> PostbackError {
    PostbackError::Invalid {
        param,
        expected,
        found,
    }
}

/// The `found` text for a value: shortened, and never the program's secret key, which
/// error messages would otherwise carry into logs.
fn shown(param: Param, text: &str) -> String {
    if param == Param::Key {
        format!("<secret key, {} bytes>", text.len())
    } else {
        shorten(text)
    }
}

/// At most [`FOUND_CHARS_MAX`] characters, the last an ellipsis when the text was cut.
fn shorten(text: &str) -> String {
    if text.chars().count() <= FOUND_CHARS_MAX {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(FOUND_CHARS_MAX - 1).collect();
    short.push('…');
    short
}

fn shorten_bytes(raw: &[u8]) -> String {
    shorten(&String::from_utf8_lossy(raw))
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY_ENCODE_SET).to_string()
}

/// Items are encoded one by one and joined by a raw `;`; an item never holds a `;`,
/// since parsing splits on it.
fn encode_list(items: &[String]) -> String {
    let encoded: Vec<String> = items.iter().map(|item| encode(item)).collect();
    encoded.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID0: &str = "603ed180000000000000abcd";
    const ID1: &str = "603ed18000000001000001ef";

    /// Every required parameter, valid; tests append to it or replace one.
    fn base() -> String {
        format!("key=pk1&id=A1001&amount=49.90&currency=EUR&cids={ID0}")
    }

    fn parse(query: &str) -> Result<Postback, PostbackError> {
        Postback::from_query(query)
    }

    fn with_cids(cids: &str) -> Result<Postback, PostbackError> {
        parse(&format!(
            "key=pk1&id=A1001&amount=49.90&currency=EUR&cids={cids}"
        ))
    }

    fn with_id(id: &str) -> Result<Postback, PostbackError> {
        parse(&format!("key=pk1&id={id}&currency=EUR&cids={ID0}"))
    }

    fn with_param(name: &str, value: &str) -> Result<Postback, PostbackError> {
        parse(&format!("{}&{name}={value}", base()))
    }

    fn with_amount(amount: &str, currency: &str) -> Result<Postback, PostbackError> {
        parse(&format!(
            "key=pk1&id=A1&amount={amount}&currency={currency}&cids={ID0}"
        ))
    }

    #[track_caller]
    fn assert_invalid(result: Result<Postback, PostbackError>, param: &str) {
        match result {
            Err(PostbackError::Invalid { param: found, .. }) if found == param => {}
            other => panic!("expected invalid:{param}, got {other:?}"),
        }
    }

    #[track_caller]
    fn found_of(result: Result<Postback, PostbackError>) -> String {
        match result {
            Err(PostbackError::Invalid { found, .. }) => found,
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn a_hand_built_postback_is_checked_as_parsing_would() {
        let query = format!("key=pk1&id=A1&currency=EUR&voucher=V1;V2&cids={ID0}-{ID1}");
        let valid = Postback::from_query(&query).unwrap();
        assert_eq!(valid.check(), Ok(()));
        let param_of = |change: &dyn Fn(&mut Postback)| {
            let mut postback = valid.clone();
            change(&mut postback);
            postback.check().map_err(|error| error.param())
        };
        assert_eq!(param_of(&|p| p.key = "k y".into()), Err("key"));
        assert_eq!(param_of(&|p| p.key.clear()), Err("key"));
        assert_eq!(param_of(&|p| p.order.order_id.clear()), Err("id"));
        assert_eq!(
            param_of(&|p| p.order.customer = Some(String::new())),
            Err("customer")
        );
        assert_eq!(param_of(&|p| p.order.cv = Some(String::new())), Err("cv"));
        assert_eq!(
            param_of(&|p| p.order.amount_minor = Some(u64::MAX)),
            Err("amount")
        );
        let largest = Some(crate::money::AMOUNT_MINOR_UNITS_MAX);
        assert_eq!(param_of(&|p| p.order.amount_minor = largest), Ok(()));
        assert_eq!(
            param_of(&|p| p.order.customer = Some("{customer}".into())),
            Err("customer")
        );
        assert_eq!(param_of(&|p| p.order.cv = Some("a\nb".into())), Err("cv"));
        assert_eq!(
            param_of(&|p| p.order.vouchers = vec!["A;B".into()]),
            Err("voucher")
        );
        assert_eq!(
            param_of(&|p| p.order.products = vec![String::new()]),
            Err("product")
        );
        assert_eq!(
            param_of(&|p| p.order.products = vec!["P".into(); 33]),
            Err("product")
        );
        assert_eq!(param_of(&|p| p.click_ids.clear()), Err("cids"));
        assert_eq!(param_of(&|p| p.click_ids.push(id(ID0))), Err("cids"));
        assert_eq!(param_of(&|p| p.click_ids = vec![id(ID0); 65]), Err("cids"));
    }

    fn id(text: &str) -> ClickId {
        ClickId::parse(text).unwrap()
    }

    #[test]
    fn valid_postback_fills_every_field() {
        let query = format!(
            "key=pk1&id=A1001&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new\
             &voucher=A;B&product=P1;P2&cids={ID0}-{ID1}"
        );
        let postback = parse(&query).unwrap();
        assert_eq!(postback.key, "pk1");
        assert_eq!(postback.order.order_id, "A1001");
        assert_eq!(postback.order.amount_minor, Some(4990));
        assert_eq!(postback.order.currency.code(), "EUR");
        assert_eq!(postback.order.payment, Some(Payment::Online));
        assert_eq!(postback.order.customer.as_deref(), Some("C42"));
        assert_eq!(postback.order.cv.as_deref(), Some("new"));
        assert_eq!(postback.order.vouchers, ["A", "B"]);
        assert_eq!(postback.order.products, ["P1", "P2"]);
        assert_eq!(postback.click_ids, [id(ID0), id(ID1)]);
        assert!(postback.ignored_params.is_empty());
    }

    #[test]
    fn query_longer_than_limit_is_invalid_query_before_anything_else() {
        let padding = "x".repeat(QUERY_BYTES_MAX);
        let result = parse(&format!("key=pk1&key=pk2&pad={padding}"));
        assert_invalid(result, "query");
    }

    #[test]
    fn query_of_exactly_the_limit_is_parsed() {
        let query = format!("{}&pad=", base());
        let padded = format!("{query}{}", "x".repeat(QUERY_BYTES_MAX - query.len()));
        assert_eq!(padded.len(), QUERY_BYTES_MAX);
        assert!(parse(&padded).is_ok());
    }

    #[test]
    fn pair_is_split_on_its_first_equals_sign() {
        assert_eq!(
            with_param("cv", "a=b").unwrap().order.cv.as_deref(),
            Some("a=b")
        );
    }

    #[test]
    fn empty_pairs_are_skipped() {
        let query = format!("&&key=pk1&&id=A1&currency=EUR&&cids={ID0}&");
        assert_eq!(parse(&query).unwrap().order.order_id, "A1");
    }

    #[test]
    fn pair_without_equals_sign_is_the_name_with_an_empty_value() {
        let query = "key=pk1&id=A1&currency=EUR&cids";
        assert_eq!(parse(query), Err(PostbackError::Missing { param: "cids" }));
        assert_eq!(
            with_param("payment", "").unwrap().order.payment,
            Some(Payment::Unspecified)
        );
        let bare = parse(&format!("{}&payment", base())).unwrap();
        assert_eq!(bare.order.payment, Some(Payment::Unspecified));
    }

    #[test]
    fn parameter_names_are_percent_decoded() {
        let query = format!("%6Bey=pk1&id=A1&currency=EUR&cid%73={ID0}");
        assert_eq!(parse(&query).unwrap().key, "pk1");
    }

    #[test]
    fn parameter_name_that_does_not_decode_is_invalid_query() {
        assert_invalid(parse(&format!("{}&%ZZ=1", base())), "query");
        assert_invalid(parse(&format!("{}&na%FFme=1", base())), "query");
        let mut raw = base().into_bytes();
        raw.extend_from_slice(b"&na\xffme=1");
        assert_invalid(Postback::from_query_bytes(&raw), "query");
    }

    #[test]
    fn parameter_names_are_case_sensitive() {
        let query = format!("KEY=pk1&id=A1&currency=EUR&cids={ID0}");
        assert_eq!(parse(&query), Err(PostbackError::Missing { param: "key" }));
    }

    #[test]
    fn leading_question_mark_is_not_stripped() {
        let query = format!("?key=pk1&id=A1&currency=EUR&cids={ID0}");
        assert_eq!(parse(&query), Err(PostbackError::Missing { param: "key" }));
    }

    #[test]
    fn repeated_known_parameter_is_a_duplicate_whatever_its_values() {
        for (name, value) in [("cids", ID1), ("amount", "49.90"), ("key", ""), ("cv", "x")] {
            let query = format!("{}&{name}={value}&cv=y", base());
            let expected = Err(PostbackError::DuplicateParam { param: name });
            assert_eq!(parse(&query), expected, "{name}");
        }
    }

    #[test]
    fn duplicate_parameter_is_reported_before_any_invalid_value() {
        let query = "key=&id=%7Bx%7D&amount=NaN&currency=EURO&cids=x&amount=1";
        assert_eq!(
            parse(query),
            Err(PostbackError::DuplicateParam { param: "amount" })
        );
    }

    #[test]
    fn duplicate_is_detected_on_decoded_names() {
        let query = format!("{}&%63ids={ID1}", base());
        assert_eq!(
            parse(&query),
            Err(PostbackError::DuplicateParam { param: "cids" })
        );
    }

    #[test]
    fn unknown_parameters_are_ignored_and_listed_in_order() {
        let query = format!("utm_source=x&{}&sub%5Fid=1&utm_source=y&=z", base());
        let postback = parse(&query).unwrap();
        assert_eq!(
            postback.ignored_params,
            ["utm_source", "sub_id", "utm_source", ""]
        );
    }

    #[test]
    fn percent_sign_not_followed_by_two_hex_digits_makes_its_parameter_invalid() {
        for id in ["A%ZZ1001", "A%4", "A%", "%G0", "A%%41"] {
            assert_invalid(with_id(id), "id");
        }
        assert_invalid(with_param("cv", "50%"), "cv");
        assert_eq!(found_of(with_id("A%ZZ1001")), "A%ZZ1001");
    }

    #[test]
    fn lower_and_upper_case_escapes_both_decode() {
        assert_eq!(
            with_param("cv", "a%2fb%2Fc").unwrap().order.cv.as_deref(),
            Some("a/b/c")
        );
    }

    #[test]
    fn invalid_utf8_after_decoding_makes_its_parameter_invalid() {
        for id in ["A%FF1001", "A%FE1001", "%C0%AF", "%E2%82"] {
            assert_invalid(with_id(id), "id");
        }
        assert_invalid(with_param("cv", "%80"), "cv");
        assert_invalid(with_cids("%FF"), "cids");
    }

    #[test]
    fn raw_invalid_utf8_bytes_make_their_parameter_invalid() {
        let mut query = format!("key=pk1&id=A1&currency=EUR&cids={ID0}&cv=caf").into_bytes();
        query.push(0xE9);
        assert_invalid(Postback::from_query_bytes(&query), "cv");
        let found = found_of(Postback::from_query_bytes(&query));
        assert_eq!(found, "caf\u{FFFD}");
    }

    #[test]
    fn from_query_bytes_accepts_what_from_query_accepts() {
        let query = base();
        assert_eq!(Postback::from_query_bytes(query.as_bytes()), parse(&query));
    }

    #[test]
    fn plus_decodes_to_a_space_and_escaped_plus_to_a_plus() {
        assert_eq!(
            with_param("cv", "new+customer")
                .unwrap()
                .order
                .cv
                .as_deref(),
            Some("new customer")
        );
        assert_eq!(
            with_param("cv", "a%2Bb").unwrap().order.cv.as_deref(),
            Some("a+b")
        );
        assert_invalid(with_id("A+1"), "id");
        assert_eq!(with_id("A%2B1").unwrap().order.order_id, "A+1");
    }

    #[test]
    fn required_parameter_absent_or_empty_is_missing() {
        let complete = [
            ("key", "pk1"),
            ("id", "A1"),
            ("currency", "EUR"),
            ("cids", ID0),
        ];
        for (skipped, _) in complete {
            for empty_instead in [false, true] {
                let pairs: Vec<String> = complete
                    .iter()
                    .filter(|(name, _)| empty_instead || *name != skipped)
                    .map(|(name, value)| {
                        format!("{name}={}", if *name == skipped { "" } else { value })
                    })
                    .collect();
                let result = parse(&pairs.join("&"));
                assert_eq!(
                    result,
                    Err(PostbackError::Missing { param: skipped }),
                    "{pairs:?}"
                );
            }
        }
    }

    #[test]
    fn optional_parameters_may_be_absent() {
        let postback = parse(&format!("key=pk1&id=A1&currency=EUR&cids={ID0}")).unwrap();
        assert_eq!(postback.order.amount_minor, None);
        assert_eq!(postback.order.payment, None);
        assert_eq!(postback.order.customer, None);
        assert_eq!(postback.order.cv, None);
        assert!(postback.order.vouchers.is_empty() && postback.order.products.is_empty());
    }

    #[test]
    fn empty_optional_parameters_are_absent_except_payment() {
        let query = format!("{}&customer=&cv=&voucher=&product=&payment=", base());
        let postback = parse(&query.replace("amount=49.90", "amount=")).unwrap();
        assert_eq!(postback.order.amount_minor, None);
        assert_eq!(postback.order.customer, None);
        assert_eq!(postback.order.cv, None);
        assert!(postback.order.vouchers.is_empty() && postback.order.products.is_empty());
        assert_eq!(postback.order.payment, Some(Payment::Unspecified));
    }

    #[test]
    fn order_id_of_128_bytes_is_accepted_and_129_is_invalid() {
        assert_eq!(with_id(&"Y".repeat(128)).unwrap().order.order_id.len(), 128);
        assert_invalid(with_id(&"X".repeat(129)), "id");
    }

    #[test]
    fn order_id_holding_an_unreplaced_template_macro_is_invalid() {
        let macros = [
            "%7Btransaction_id%7D",
            "%5BORDER%5D",
            "%25ORDER%25",
            "%24order",
            "%3Cid%3E",
            "%22A1%22",
            "%27A1%27",
            "A%5C1",
            "%60A1%60",
        ];
        for macro_text in macros {
            assert_invalid(with_id(macro_text), "id");
        }
    }

    #[test]
    fn order_id_with_whitespace_control_or_non_ascii_is_invalid() {
        for id in [
            "A%201",
            "A%091",
            "A1%0A",
            "%00",
            "A%7F",
            "caf%C3%A9",
            "A%C2%A01",
        ] {
            assert_invalid(with_id(id), "id");
        }
    }

    #[test]
    fn order_id_accepts_other_visible_ascii() {
        let id = "A-1_2.3~4:5/6@7!8*9(0)#,;=&+?";
        let encoded: String = utf8_percent_encode(id, QUERY_ENCODE_SET).to_string();
        assert_eq!(with_id(&encoded).unwrap().order.order_id, id);
    }

    #[test]
    fn key_must_be_visible_ascii_of_at_most_128_bytes() {
        let key_query = |key: &str| parse(&format!("key={key}&id=A1&currency=EUR&cids={ID0}"));
        assert_eq!(key_query(&"k".repeat(128)).unwrap().key.len(), 128);
        assert_invalid(key_query(&"k".repeat(129)), "key");
        assert_invalid(key_query("pk1%20"), "key");
        assert_invalid(key_query("pk%C3%A91"), "key");
        assert_eq!(key_query("%7Bkey%7D").unwrap().key, "{key}");
    }

    #[test]
    fn key_errors_never_show_the_key() {
        let secret = "s3cr3t-program-key";
        for key in [
            format!("{secret}%0A"),
            format!("{secret}%ZZ"),
            "s".repeat(200),
        ] {
            let found = found_of(parse(&format!("key={key}&id=A1&currency=EUR&cids={ID0}")));
            assert!(
                !found.contains("s3cr3t") && !found.contains("sss"),
                "{found}"
            );
            assert!(found.starts_with("<secret key"), "{found}");
        }
    }

    #[test]
    fn customer_follows_the_identifier_rules_up_to_128_bytes() {
        assert_eq!(
            with_param("customer", &"C".repeat(128))
                .unwrap()
                .order
                .customer
                .unwrap()
                .len(),
            128
        );
        assert_invalid(with_param("customer", &"C".repeat(129)), "customer");
        assert_invalid(with_param("customer", "%7Bcustomer_id%7D"), "customer");
        assert_invalid(with_param("customer", "C+42"), "customer");
    }

    #[test]
    fn cv_accepts_any_text_without_control_characters_up_to_256_bytes() {
        let text = "Nouveau client {promo} 50% – été 🎉";
        let encoded = utf8_percent_encode(text, QUERY_ENCODE_SET).to_string();
        assert_eq!(
            with_param("cv", &encoded).unwrap().order.cv.as_deref(),
            Some(text)
        );
        assert_eq!(
            with_param("cv", &"v".repeat(256))
                .unwrap()
                .order
                .cv
                .unwrap()
                .len(),
            256
        );
        assert_invalid(with_param("cv", &"v".repeat(257)), "cv");
        // 128 two-byte characters fill 256 bytes; one more is over the limit.
        assert!(with_param("cv", &"%C3%A9".repeat(128)).is_ok());
        assert_invalid(with_param("cv", &"%C3%A9".repeat(129)), "cv");
        for control in ["%00", "%0A", "%0D", "%09", "%7F", "%C2%85"] {
            assert_invalid(with_param("cv", &format!("a{control}b")), "cv");
        }
    }

    #[test]
    fn lists_are_split_on_semicolons_after_decoding() {
        let postback = parse(&format!("{}&voucher=A%3BB&product=P1;P2", base())).unwrap();
        assert_eq!(postback.order.vouchers, ["A", "B"]);
        assert_eq!(postback.order.products, ["P1", "P2"]);
        assert_eq!(
            with_param("voucher", "SUMMER-10").unwrap().order.vouchers,
            ["SUMMER-10"]
        );
    }

    #[test]
    fn list_with_an_empty_item_is_invalid() {
        for list in [";A", "A;", "A;;B", ";", "%3B"] {
            assert_invalid(with_param("voucher", list), "voucher");
            assert_invalid(with_param("product", list), "product");
        }
    }

    #[test]
    fn list_items_are_1_to_64_bytes_of_identifier_characters() {
        let longest = "V".repeat(64);
        assert_eq!(
            with_param("voucher", &longest).unwrap().order.vouchers,
            std::slice::from_ref(&longest)
        );
        assert_invalid(with_param("voucher", &format!("A;{longest}V")), "voucher");
        assert_invalid(with_param("product", "P1;%7Bsku%7D"), "product");
        assert_invalid(with_param("product", "P+1"), "product");
    }

    #[test]
    fn list_of_32_items_is_accepted_and_33_is_invalid() {
        let items = |count: usize| vec!["P"; count].join(";");
        assert_eq!(
            with_param("product", &items(32))
                .unwrap()
                .order
                .products
                .len(),
            32
        );
        assert_eq!(found_of(with_param("product", &items(33))), "33 items");
        assert_invalid(with_param("voucher", &items(33)), "voucher");
    }

    #[test]
    fn click_ids_are_accepted_in_either_case_and_stored_parsed() {
        let upper = ID0.to_uppercase();
        assert_eq!(with_cids(&upper).unwrap().click_ids, [id(ID0)]);
        assert_eq!(
            with_cids("603ED180000000000000AbCd").unwrap().click_ids,
            [id(ID0)]
        );
    }

    #[test]
    fn encoded_dash_separates_click_ids_because_decoding_comes_first() {
        let postback = with_cids(&format!("{ID0}%2D{ID1}")).unwrap();
        assert_eq!(postback.click_ids, [id(ID0), id(ID1)]);
    }

    #[test]
    fn doubly_encoded_dash_is_a_literal_and_makes_cids_invalid() {
        let result = with_cids(&format!("{ID0}%252D{ID1}"));
        assert_eq!(found_of(result), format!("{ID0}%2D{ID1}"));
    }

    #[test]
    fn empty_click_id_item_is_invalid() {
        for cids in [
            format!("{ID0}-"),
            format!("-{ID0}"),
            format!("{ID0}--{ID1}"),
            "-".into(),
        ] {
            assert_eq!(found_of(with_cids(&cids)), "", "{cids}");
        }
    }

    #[test]
    fn click_id_with_anything_around_it_is_invalid_and_named() {
        let cases = [
            (format!("{ID0}%0A"), format!("{ID0}\n")),
            (format!("%20{ID0}"), format!(" {ID0}")),
            (format!("%22{ID0}%22"), format!("\"{ID0}\"")),
            ("%7Baecid%7D".into(), "{aecid}".into()),
            (format!("{ID0}%23top"), format!("{ID0}#top")),
            (ID0[..23].to_owned(), ID0[..23].to_owned()),
            (format!("{ID0}0"), format!("{ID0}0")),
            (format!("{ID0}+{ID1}"), format!("{ID0} {ID1}")),
            (format!("{ID0}%2C{ID1}"), format!("{ID0},{ID1}")),
            (
                "g03ed180000000000000abcd".into(),
                "g03ed180000000000000abcd".into(),
            ),
        ];
        for (cids, item) in cases {
            assert_eq!(found_of(with_cids(&cids)), item, "{cids}");
        }
    }

    #[test]
    fn offending_click_id_is_reported_even_after_valid_ones() {
        assert_eq!(found_of(with_cids(&format!("{ID0}-{ID1}-xyz"))), "xyz");
    }

    #[test]
    fn repeated_click_id_is_a_duplicate_even_in_another_case() {
        let expected = Err(PostbackError::DuplicateClickId { id: id(ID0) });
        assert_eq!(with_cids(&format!("{ID0}-{ID0}")), expected);
        assert_eq!(
            with_cids(&format!("{ID0}-{ID1}-{}", ID0.to_uppercase())),
            expected
        );
    }

    #[test]
    fn repeats_are_found_alike_by_pairs_and_by_hash_set() {
        let slot_id = |slot: u32| {
            let mut bytes = [0u8; 12];
            bytes[5..9].copy_from_slice(&slot.to_be_bytes());
            ClickId::from_bytes(bytes)
        };
        for length in [2, PAIRWISE_IDS_MAX, PAIRWISE_IDS_MAX + 1, CLICK_IDS_MAX] {
            let mut ids: Vec<ClickId> = (0..length as u32).map(slot_id).collect();
            assert_eq!(first_repeat(&ids), None, "{length} distinct IDs");
            ids[length - 1] = ids[length / 2 - 1];
            if length > 2 {
                ids[length - 2] = ids[0];
            }
            let first = if length > 2 { ids[0] } else { ids[1] };
            assert_eq!(first_repeat(&ids), Some(first), "{length} IDs");
        }
    }

    #[test]
    fn malformed_click_id_is_reported_before_a_repeat() {
        assert_invalid(with_cids(&format!("{ID0}-{ID0}-bad")), "cids");
    }

    #[test]
    fn sixty_four_click_ids_are_accepted_and_sixty_five_are_too_many() {
        let ids = |count: u32| -> String {
            // Distinct slots: IDs of one slot are repeats, whatever their tags.
            let ids: Vec<String> = (0..count)
                .map(|n| format!("603ed180000000{n:04x}000000"))
                .collect();
            ids.join("-")
        };
        assert_eq!(with_cids(&ids(64)).unwrap().click_ids.len(), 64);
        let expected = Err(PostbackError::TooManyClickIds {
            count: 65,
            max: CLICK_IDS_MAX,
        });
        assert_eq!(with_cids(&ids(65)), expected);
    }

    #[test]
    fn too_many_click_ids_is_counted_before_items_are_parsed() {
        let junk = vec!["x"; 1000].join("-");
        let expected = Err(PostbackError::TooManyClickIds {
            count: 1000,
            max: CLICK_IDS_MAX,
        });
        assert_eq!(with_cids(&junk), expected);
    }

    #[test]
    fn currency_is_case_insensitive_and_stored_upper_case() {
        assert_eq!(
            with_amount("49.90", "eur").unwrap().order.currency.code(),
            "EUR"
        );
    }

    #[test]
    fn currency_that_is_not_an_active_iso_code_is_invalid() {
        for currency in [
            "EURO",
            "%E2%82%AC",
            "XYZ",
            "XAU",
            "XXX",
            "HRK",
            "eu",
            "EUR%20",
        ] {
            assert_invalid(with_amount("1", currency), "currency");
        }
    }

    #[test]
    fn amount_is_parsed_exactly_into_minor_units() {
        assert_eq!(
            with_amount("49.9", "EUR").unwrap().order.amount_minor,
            Some(4990)
        );
        assert_eq!(
            with_amount("49.90", "EUR").unwrap().order.amount_minor,
            Some(4990)
        );
        assert_eq!(
            with_amount("1500", "JPY").unwrap().order.amount_minor,
            Some(1500)
        );
        assert_eq!(
            with_amount("1.234", "KWD").unwrap().order.amount_minor,
            Some(1234)
        );
        assert_eq!(
            with_amount("007.5", "EUR").unwrap().order.amount_minor,
            Some(750)
        );
    }

    #[test]
    fn amount_with_comma_decimal_separator_is_invalid() {
        assert_invalid(with_amount("49,90", "EUR"), "amount");
    }

    #[test]
    fn amount_in_a_non_decimal_form_is_invalid() {
        let amounts = [
            "-10.00",
            "%2B5",
            "+5",
            "1e3",
            "NaN",
            "inf",
            "infinity",
            "1%2C049.90",
            "1.049%2C90",
            "%E2%82%AC49.90",
            "49.90EUR",
            "49.90%20",
            ".5",
            "100.",
            "%5BAMOUNT%5D",
        ];
        for amount in amounts {
            assert_invalid(with_amount(amount, "EUR"), "amount");
        }
    }

    #[test]
    fn amount_with_more_decimals_than_the_currency_allows_is_invalid() {
        let result = with_amount("49.999", "EUR");
        let expected = PostbackError::Invalid {
            param: "amount",
            expected: "an amount with at most 2 decimals",
            found: "49.999".into(),
        };
        assert_eq!(result, Err(expected));
        assert_invalid(with_amount("1.5", "JPY"), "amount");
    }

    #[test]
    fn amount_beyond_i64_max_minor_units_is_invalid() {
        assert_invalid(with_amount("99999999999999999999999.99", "EUR"), "amount");
        let largest = with_amount("92233720368547758.07", "EUR").unwrap();
        assert_eq!(
            largest.order.amount_minor,
            Some(crate::money::AMOUNT_MINOR_UNITS_MAX)
        );
    }

    #[test]
    fn malformed_amount_is_reported_before_a_bad_currency() {
        assert_invalid(with_amount("49,90", "EURO"), "amount");
    }

    #[test]
    fn bad_currency_is_reported_before_the_amount_scale() {
        assert_invalid(with_amount("49.999", "EURO"), "currency");
        assert_invalid(with_amount("99999999999999999999999.99", "XYZ"), "currency");
    }

    #[test]
    fn payment_is_one_of_three_words_or_empty() {
        let cases = [
            ("online", Payment::Online),
            ("bankwire", Payment::Bankwire),
            ("other", Payment::Other),
            ("", Payment::Unspecified),
        ];
        for (text, payment) in cases {
            assert_eq!(
                with_param("payment", text).unwrap().order.payment,
                Some(payment)
            );
        }
        for text in ["cash", "Online", "online%20", "%7Bpayment%7D"] {
            assert_invalid(with_param("payment", text), "payment");
        }
    }

    #[test]
    fn parameters_are_validated_in_the_documented_order() {
        let all_bad = "key=k%0A&id=%7Bx%7D&amount=1%2C0&currency=EURO&payment=cash\
                       &customer=%24c&cv=%00&voucher=;&product=;&cids=x";
        let expected_order = [
            "key", "id", "amount", "currency", "payment", "customer", "cv", "voucher", "product",
        ];
        let mut query = all_bad.to_owned();
        for param in expected_order {
            assert_eq!(parse(&query).unwrap_err().param(), param, "{query}");
            // Repair the parameter just reported so the next one surfaces.
            let repaired = match param {
                "key" => "key=pk1",
                "id" => "id=A1",
                "amount" => "amount=1.0",
                "currency" => "currency=EUR",
                "payment" => "payment=other",
                "customer" => "customer=C1",
                "cv" => "cv=v",
                "voucher" => "voucher=V",
                _ => "product=P",
            };
            query = query
                .split('&')
                .map(|pair| {
                    if pair.split('=').next() == Some(param) {
                        repaired
                    } else {
                        pair
                    }
                })
                .collect::<Vec<_>>()
                .join("&");
        }
        assert_invalid(parse(&query), "cids");
    }

    #[test]
    fn missing_required_parameter_is_reported_in_validation_order() {
        assert_eq!(
            parse("id=%7Bx%7D"),
            Err(PostbackError::Missing { param: "key" })
        );
        assert_invalid(parse("key=pk1&id=A1&amount=x"), "amount");
        assert_eq!(
            parse("key=pk1&id=A1&amount=1"),
            Err(PostbackError::Missing { param: "currency" })
        );
    }

    #[test]
    fn found_text_is_shortened_to_64_characters() {
        let found = found_of(with_id(&format!("%7B{}", "x".repeat(200))));
        assert_eq!(found.chars().count(), FOUND_CHARS_MAX);
        assert!(found.starts_with("{xxx") && found.ends_with('…'));
    }

    #[test]
    fn error_messages_name_the_parameter_and_what_was_expected() {
        let message = with_id("%7Btransaction_id%7D").unwrap_err().to_string();
        assert!(
            message.contains("`id`") && message.contains("template macro"),
            "{message}"
        );
        assert!(message.contains("{transaction_id}"), "{message}");
    }

    #[test]
    fn to_query_round_trips_a_full_postback() {
        let query = format!(
            "key=pk%2F1&id=A%2B1&amount=0.5&currency=kwd&payment=&customer=C~42\
             &cv=caf%C3%A9+au+lait&voucher=A;B-2&product=P.1&cids={}-{ID1}&utm=x",
            ID0.to_uppercase()
        );
        let mut postback = parse(&query).unwrap();
        postback.ignored_params.clear();
        let encoded = postback.to_query();
        assert_eq!(
            encoded,
            format!(
                "key=pk%2F1&id=A%2B1&amount=0.500&currency=KWD&payment=&customer=C~42\
                 &cv=caf%C3%A9%20au%20lait&voucher=A;B-2&product=P.1&cids={ID0}-{ID1}"
            )
        );
        assert_eq!(parse(&encoded), Ok(postback));
    }

    #[test]
    fn cids_verdicts_mark_each_item_parsed_or_malformed() {
        let verdicts = cids_verdicts(&format!("key=pk1&cids={}--%22x%22", ID0.to_uppercase()));
        let expected = [
            IdVerdict {
                id: IdText::Parsed(id(ID0)),
                verdict: Verdict::NotChecked,
            },
            IdVerdict {
                id: IdText::Raw(String::new()),
                verdict: Verdict::Malformed,
            },
            IdVerdict {
                id: IdText::Raw("\"x\"".into()),
                verdict: Verdict::Malformed,
            },
        ];
        assert_eq!(verdicts, expected);
    }

    #[test]
    fn cids_verdicts_are_empty_when_cids_is_absent_empty_or_undecodable() {
        assert!(cids_verdicts("key=pk1&id=A1").is_empty());
        assert!(cids_verdicts("key=pk1&cids=").is_empty());
        assert!(cids_verdicts("key=pk1&cids").is_empty());
        assert!(cids_verdicts(&format!("cids={ID0}%ZZ")).is_empty());
        assert!(cids_verdicts(&format!("cids={ID0}%FF")).is_empty());
        assert!(
            cids_verdicts(&format!("cids={ID0}&pad={}", "x".repeat(QUERY_BYTES_MAX))).is_empty()
        );
    }

    #[test]
    fn cids_verdicts_read_the_first_cids_and_decode_names() {
        let verdicts = cids_verdicts(&format!("%ZZ=1&cid%73={ID0}&cids={ID1}"));
        assert_eq!(verdicts.len(), 1);
        assert_eq!(verdicts[0].id, IdText::Parsed(id(ID0)));
    }
}
