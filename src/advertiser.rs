//! The advertiser's half of server-to-server tracking: what the advertiser's own server
//! does with the click ID the tracker put on its landing page.
//!
//! 1. Take the ID from the landing URL (`?aecid=...`) or from a form field that carried
//!    it through the funnel: [`click_id_from_url`], [`click_id_from_form`].
//! 2. Keep it in a first-party cookie, beside the IDs of earlier clicks of the same
//!    visitor: [`CollectedIds`] and [`CollectedIds::set_cookie_header`] (`HttpOnly`,
//!    `Secure`, `SameSite=Lax`, `Path=/`, `Max-Age` = the program's attribution window).
//! 3. When the visitor converts, call the postback URL with the order and every ID
//!    collected: [`postback_url`] (`-` between IDs, `;` inside voucher and product
//!    lists, every value percent-encoded).
//!
//! ```
//! use clickledger::advertiser::{click_id_from_url, postback_url, CollectedIds};
//! use clickledger::{Currency, Order};
//!
//! // The visitor lands on the advertiser's page from a tracking link.
//! let landing = "https://shop.example/shoes?size=42&aecid=603ed1800000000002abcdef#top";
//! let id = click_id_from_url(landing).expect("the tracker added one");
//!
//! // The advertiser's response keeps it, with what the visitor's cookie held before.
//! let mut collected = CollectedIds::from_cookie_header("lang=fr; aecid=603ed17000000000010a2b3c");
//! collected.add(id);
//! let header = collected.set_cookie_header(30 * 86_400);
//! assert!(header.starts_with("aecid=603ed17000000000010a2b3c-603ed1800000000002abcdef;"));
//!
//! // At checkout, the advertiser's server calls the tracker.
//! let order = Order {
//!     amount_minor: Some(4990),
//!     vouchers: vec!["SPRING".into(), "VIP&10".into()],
//!     ..Order::new("A1001", Currency::parse("EUR").unwrap())
//! };
//! let url = postback_url("https://track.example/postback", "pk1", &order, collected.ids()).unwrap();
//! assert_eq!(
//!     url,
//!     "https://track.example/postback?key=pk1&id=A1001&amount=49.90&currency=EUR\
//!      &voucher=SPRING;VIP%2610&cids=603ed17000000000010a2b3c-603ed1800000000002abcdef"
//! );
//! ```

use percent_encoding::percent_decode_str;

use crate::click_id::ClickId;
use crate::order::Order;
use crate::postback::{Postback, PostbackError, CLICK_IDS_MAX};

/// The URL parameter and form field that carry a click ID: what the tracker appends to
/// the landing URL.
///
/// ```
/// assert_eq!(clickledger::advertiser::CLICK_ID_PARAM, "aecid");
/// ```
pub const CLICK_ID_PARAM: &str = "aecid";

/// The name of the first-party cookie that keeps a visitor's click IDs.
///
/// ```
/// assert_eq!(clickledger::advertiser::COOKIE_NAME, "aecid");
/// ```
pub const COOKIE_NAME: &str = "aecid";

/// The click ID in a landing URL's query, if it holds a well-formed one. The last
/// `aecid` wins, as the tracker puts its own last; the fragment is not the query.
///
/// ```
/// use clickledger::advertiser::click_id_from_url;
/// let id = click_id_from_url("https://shop.example/?a=1&aecid=603ED1800000000000000000#x");
/// assert_eq!(id.unwrap().to_string(), "603ed1800000000000000000");
/// assert!(click_id_from_url("https://shop.example/#aecid=603ed1800000000000000000").is_none());
/// assert!(click_id_from_url("https://shop.example/?aecid={aecid}").is_none());
/// ```
pub fn click_id_from_url(url: &str) -> Option<ClickId> {
    let without_fragment = url.split('#').next().unwrap_or_default();
    let (_, query) = without_fragment.split_once('?')?;
    click_id_from_form(query)
}

/// The click ID in a form-encoded body or query string (`...&aecid=<id>&...`), such as
/// a checkout form with a hidden `aecid` field.
///
/// ```
/// use clickledger::advertiser::click_id_from_form;
/// let id = click_id_from_form("email=a%40b.example&aecid=603ed1800000000000000000");
/// assert!(id.is_some());
/// assert!(click_id_from_form("aecid=").is_none());
/// ```
pub fn click_id_from_form(body: &str) -> Option<ClickId> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == CLICK_ID_PARAM)
        .filter_map(|(_, value)| click_id_from_field(&decode(value)))
        .next_back()
}

/// The click ID in one field's value (already decoded), ignoring surrounding spaces.
///
/// ```
/// use clickledger::advertiser::click_id_from_field;
/// assert!(click_id_from_field(" 603ed1800000000000000000\n").is_some());
/// assert!(click_id_from_field("603ed18").is_none());
/// ```
pub fn click_id_from_field(value: &str) -> Option<ClickId> {
    value.trim().parse().ok()
}

/// Percent-decodes a form value (`+` is a space); bytes that are not UTF-8 are replaced,
/// which no click ID holds.
fn decode(value: &str) -> String {
    let spaced = value.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The click IDs one visitor collected, oldest first: at most
/// [`CLICK_IDS_MAX`] (what one postback may carry), none twice.
///
/// ```
/// use clickledger::advertiser::CollectedIds;
/// let mut ids = CollectedIds::from_cookie("603ed1800000000001000000-garbage");
/// assert_eq!(ids.ids().len(), 1, "what is not an ID is dropped");
/// ids.add("603ed1800000000002000000".parse().unwrap());
/// assert_eq!(ids.cookie_value(), "603ed1800000000001000000-603ed1800000000002000000");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectedIds {
    ids: Vec<ClickId>,
}

impl CollectedIds {
    /// No IDs yet.
    ///
    /// ```
    /// assert!(clickledger::advertiser::CollectedIds::new().ids().is_empty());
    /// ```
    pub fn new() -> CollectedIds {
        CollectedIds::default()
    }

    /// The IDs of a cookie value (`<id>-<id>-...`); items that are not IDs are dropped.
    ///
    /// ```
    /// let ids = clickledger::advertiser::CollectedIds::from_cookie("");
    /// assert!(ids.ids().is_empty());
    /// ```
    pub fn from_cookie(value: &str) -> CollectedIds {
        let mut collected = CollectedIds::new();
        for item in value.split('-') {
            if let Some(id) = click_id_from_field(item) {
                collected.add(id);
            }
        }
        collected
    }

    /// The IDs of the [`COOKIE_NAME`] cookie in a request's `Cookie` header.
    ///
    /// ```
    /// use clickledger::advertiser::CollectedIds;
    /// let ids = CollectedIds::from_cookie_header("a=1; aecid=603ed1800000000000000001; b=2");
    /// assert_eq!(ids.ids().len(), 1);
    /// ```
    pub fn from_cookie_header(header: &str) -> CollectedIds {
        header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == COOKIE_NAME)
            .map(|(_, value)| CollectedIds::from_cookie(value.trim_matches('"')))
            .next_back()
            .unwrap_or_default()
    }

    /// Adds the ID of a new click as the newest. An ID already kept (compared by the
    /// click it addresses, as the tracker compares them) moves to the end;
    /// past [`CLICK_IDS_MAX`] the oldest is dropped (the newest click is the one the
    /// attribution rule credits).
    ///
    /// ```
    /// use clickledger::advertiser::CollectedIds;
    /// let mut ids = CollectedIds::new();
    /// for n in 0..70u32 {
    ///     ids.add(format!("603ed18000{n:08x}000000").parse().unwrap());
    /// }
    /// assert_eq!(ids.ids().len(), 64);
    /// assert_eq!(ids.ids()[0].to_string(), "603ed1800000000006000000");
    /// ```
    pub fn add(&mut self, id: ClickId) {
        self.ids.retain(|kept| kept.address() != id.address());
        if self.ids.len() == CLICK_IDS_MAX {
            self.ids.remove(0);
        }
        self.ids.push(id);
    }

    /// The IDs, oldest first.
    ///
    /// ```
    /// assert!(clickledger::advertiser::CollectedIds::new().ids().is_empty());
    /// ```
    pub fn ids(&self) -> &[ClickId] {
        &self.ids
    }

    /// The cookie's value: the IDs joined with `-` (cookie-safe as it is).
    ///
    /// ```
    /// assert_eq!(clickledger::advertiser::CollectedIds::new().cookie_value(), "");
    /// ```
    pub fn cookie_value(&self) -> String {
        let texts: Vec<String> = self.ids.iter().map(ClickId::to_string).collect();
        texts.join("-")
    }

    /// The `Set-Cookie` header value that keeps these IDs for the attribution window:
    /// first-party, `HttpOnly` (no script reads it), `Secure` (HTTPS only),
    /// `SameSite=Lax` (sent when the visitor comes back by a link), `Path=/`.
    ///
    /// ```
    /// use clickledger::advertiser::CollectedIds;
    /// let ids = CollectedIds::from_cookie("603ed1800000000000000001");
    /// assert_eq!(
    ///     ids.set_cookie_header(2_592_000),
    ///     "aecid=603ed1800000000000000001; Max-Age=2592000; Path=/; Secure; HttpOnly; SameSite=Lax"
    /// );
    /// ```
    pub fn set_cookie_header(&self, attribution_window_seconds: u32) -> String {
        format!(
            "{COOKIE_NAME}={}; Max-Age={attribution_window_seconds}; Path=/; Secure; HttpOnly; \
             SameSite=Lax",
            self.cookie_value()
        )
    }
}

/// The postback URL for `order` with the collected `ids`, on the tracker's postback
/// `endpoint` (`https://track.example/postback`). Values are percent-encoded, IDs
/// joined with `-`, vouchers and products with `;`. Refused, naming the parameter, when
/// the tracker would refuse it: an order id or list item out of bounds, a `;` inside a
/// voucher, no IDs, more than [`CLICK_IDS_MAX`] or one twice.
///
/// ```
/// use clickledger::advertiser::postback_url;
/// use clickledger::{Currency, Order};
/// let order = Order { amount_minor: Some(100), ..Order::new("A1", Currency::parse("JPY").unwrap()) };
/// let ids = ["603ed1800000000000000001".parse().unwrap()];
/// let url = postback_url("http://127.0.0.1:8080/postback", "pk1", &order, &ids).unwrap();
/// assert_eq!(url, "http://127.0.0.1:8080/postback?key=pk1&id=A1&amount=100&currency=JPY\
///                  &cids=603ed1800000000000000001");
/// assert_eq!(postback_url("http://t/postback", "pk1", &order, &[]).unwrap_err().param(), "cids");
/// ```
pub fn postback_url(
    endpoint: &str,
    key: &str,
    order: &Order,
    ids: &[ClickId],
) -> Result<String, PostbackError> {
    let postback = Postback {
        key: key.to_owned(),
        order: order.clone(),
        click_ids: ids.to_vec(),
        ignored_params: Vec::new(),
    };
    postback.check()?;
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{separator}{}", postback.to_query()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::postback::Payment;

    #[test]
    fn a_postback_url_parses_back_to_the_same_order_and_ids() {
        let order = Order {
            amount_minor: Some(123_456),
            payment: Some(Payment::Bankwire),
            customer: Some("cust/7+x".into()),
            cv: Some("a=b&c=d;e é".into()),
            vouchers: vec!["SPRING-10".into(), "50&OFF".into()],
            products: vec!["sku+1".into(), "sku#2".into(), "a=b".into()],
            ..Order::new("order/1?&=", Currency::parse("KWD").unwrap())
        };
        let ids: Vec<ClickId> = (1..=3u32)
            .map(|n| format!("603ed18000{n:08x}000000").parse().unwrap())
            .collect();
        let endpoint = "https://track.example/postback";
        let url = postback_url(endpoint, "pk-1", &order, &ids).unwrap();
        let query = url.strip_prefix("https://track.example/postback?").unwrap();
        assert!(query.contains("&cids=603ed1800000000001000000-"), "{query}");
        assert!(query.contains("&voucher=SPRING-10;50%26OFF&"), "{query}");
        let parsed = Postback::from_query(query).unwrap();
        assert_eq!(parsed.order, order);
        assert_eq!(parsed.click_ids, ids);
        assert_eq!(parsed.key, "pk-1");
    }

    #[test]
    fn an_order_the_tracker_would_refuse_is_refused_here() {
        let order = Order {
            vouchers: vec!["A;B".into()],
            ..Order::new("A1", Currency::parse("EUR").unwrap())
        };
        let ids = ["603ed1800000000000000001".parse().unwrap()];
        let error = postback_url("http://t/postback", "k", &order, &ids).unwrap_err();
        assert_eq!(error.param(), "voucher");
    }

    #[test]
    fn the_click_id_is_read_from_an_encoded_field_and_the_last_one_wins() {
        let body = "aecid=603ed1800000000000000001&aecid=%20603ed1800000000000000002";
        assert_eq!(
            click_id_from_form(body).unwrap().to_string(),
            "603ed1800000000000000002"
        );
        assert!(click_id_from_url("https://shop.example/aecid=603ed1800000000000000001").is_none());
    }

    #[test]
    fn a_click_id_seen_again_moves_to_the_newest_place() {
        let (first, second) = ("603ed1800000000001000000", "603ed1800000000002000000");
        let mut ids = CollectedIds::from_cookie(&format!("{first}-{second}"));
        ids.add(first.parse().unwrap());
        assert_eq!(ids.cookie_value(), format!("{second}-{first}"));
        let alias = "603ed1810000000001000000"; // another second of the day, same slot
        ids.add(alias.parse().unwrap());
        assert_eq!(
            ids.cookie_value(),
            format!("{second}-{alias}"),
            "one click, kept once"
        );
    }
}
