//! The order a conversion reports: what the advertiser sold, for how much, and the
//! fields it attaches. A [`crate::Postback`] carries one; an accepted
//! [`crate::Conversion`] stores it unchanged, in memory and in the log.

use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::postback::Payment;

/// The order fields of a postback, validated.
///
/// ```
/// use clickledger::Postback;
/// let postback = Postback::from_query(
///     "key=pk1&id=A1001&amount=49.9&currency=eur&voucher=A;B&cids=603ed1800000000000000000",
/// ).unwrap();
/// let order = &postback.order;
/// assert_eq!((order.order_id.as_str(), order.amount_minor), ("A1001", Some(4990)));
/// assert_eq!(order.currency.code(), "EUR");
/// assert_eq!(order.vouchers, ["A", "B"]);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Order {
    /// The order id (or a hash of the lead's e-mail), 1 to 128 bytes.
    pub order_id: String,
    /// The amount in minor units of `currency`, when given and not empty.
    pub amount_minor: Option<u64>,
    /// The currency.
    pub currency: Currency,
    /// The payment method, when the parameter was present.
    pub payment: Option<Payment>,
    /// The advertiser's customer id, when given and not empty.
    pub customer: Option<String>,
    /// The custom variable, when given and not empty.
    pub cv: Option<String>,
    /// Voucher codes (`voucher`, split on `;`); empty when absent or empty.
    pub vouchers: Vec<String>,
    /// Product ids (`product`, split on `;`); empty when absent or empty.
    pub products: Vec<String>,
}

impl Order {
    /// An order with only its id and currency; other fields empty.
    ///
    /// ```
    /// use clickledger::{Currency, Order};
    /// let eur = Currency::parse("EUR").unwrap();
    /// let order = Order { amount_minor: Some(4990), ..Order::new("A1001", eur) };
    /// assert!(order.vouchers.is_empty());
    /// ```
    pub fn new(order_id: &str, currency: Currency) -> Order {
        Order {
            order_id: order_id.to_owned(),
            amount_minor: None,
            currency,
            payment: None,
            customer: None,
            cv: None,
            vouchers: Vec::new(),
            products: Vec::new(),
        }
    }

    /// True when `other` is a retry of this order: same amount and currency. Other
    /// fields may differ (a retry may carry fewer vouchers); the stored order wins.
    ///
    /// ```
    /// use clickledger::Postback;
    /// let query = "key=k&id=A1&amount=49.90&currency=EUR&cids=603ed1800000000000000000";
    /// let first = Postback::from_query(query).unwrap().order;
    /// let retry = Postback::from_query(&query.replace("49.90", "49.9")).unwrap().order;
    /// let other = Postback::from_query(&query.replace("49.90", "59.90")).unwrap().order;
    /// assert!(first.is_retried_by(&retry));
    /// assert!(!first.is_retried_by(&other));
    /// ```
    pub fn is_retried_by(&self, other: &Order) -> bool {
        self.amount_minor == other.amount_minor && self.currency == other.currency
    }
}
