//! A small postback encoder, written apart from the library's `Postback::to_query` so
//! that a round trip through it tests the parser against a second reading of the rules:
//! every byte outside the RFC 3986 unreserved set is percent-encoded, in upper- or
//! lower-case hex, and the parameters may come in any order.

use clickledger::{Payment, Postback};

/// How an encoded query is laid out; every style must parse to the same postback.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Parameters are rotated left by this many places (names are order-free).
    pub rotate: usize,
    /// Percent escapes use lower-case hex digits (`%2b`), else upper case.
    pub lower_hex: bool,
    /// Click IDs are written in upper case (the same click either way).
    pub upper_ids: bool,
}

/// The query string for `postback`, laid out in `style`.
pub fn encode_postback(postback: &Postback, style: Style) -> String {
    let order = &postback.order;
    let text = |value: &str| percent_encode(value, style.lower_hex);
    let list = |items: &[String]| text(&items.join(";"));
    let mut pairs = vec![("key", text(&postback.key)), ("id", text(&order.order_id))];
    if let Some(minor) = order.amount_minor {
        pairs.push(("amount", format_amount(minor, order.currency.exponent())));
    }
    pairs.push(("currency", order.currency.code().to_owned()));
    if let Some(payment) = order.payment {
        pairs.push(("payment", payment_text(payment).to_owned()));
    }
    if let Some(customer) = &order.customer {
        pairs.push(("customer", text(customer)));
    }
    if let Some(cv) = &order.cv {
        pairs.push(("cv", text(cv)));
    }
    if !order.vouchers.is_empty() {
        pairs.push(("voucher", list(&order.vouchers)));
    }
    if !order.products.is_empty() {
        pairs.push(("product", list(&order.products)));
    }
    let ids: Vec<String> = postback
        .click_ids
        .iter()
        .map(|id| {
            let id = id.to_string();
            if style.upper_ids {
                id.to_ascii_uppercase()
            } else {
                id
            }
        })
        .collect();
    pairs.push(("cids", ids.join("-")));
    let rotate = style.rotate % pairs.len();
    pairs.rotate_left(rotate);
    let pairs: Vec<String> = pairs
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    pairs.join("&")
}

/// Percent-encodes every byte but `A-Z a-z 0-9 - . _ ~`.
pub fn percent_encode(value: &str, lower_hex: bool) -> String {
    let digits: &[u8; 16] = if lower_hex {
        b"0123456789abcdef"
    } else {
        b"0123456789ABCDEF"
    };
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(digits[usize::from(byte >> 4)]));
            out.push(char::from(digits[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// Minor units as a decimal amount with exactly `exponent` decimals: 4990, 2 → `49.90`.
pub fn format_amount(minor: u64, exponent: u8) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10u64.pow(u32::from(exponent));
    let width = usize::from(exponent);
    format!("{}.{:0width$}", minor / scale, minor % scale)
}

fn payment_text(payment: Payment) -> &'static str {
    match payment {
        Payment::Online => "online",
        Payment::Bankwire => "bankwire",
        Payment::Other => "other",
        Payment::Unspecified => "",
    }
}
