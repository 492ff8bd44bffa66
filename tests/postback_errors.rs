//! What this file proves: every postback that the field cases
//! (`shared/cases/field_cases.jsonl`) expect to be refused for its *form* is refused by
//! `Postback::from_query` with exactly the expected reason code, before any ledger is
//! involved; the postbacks of those cases that are well formed do parse; and each
//! `PostbackError` variant (and each way an amount or currency can be wrong) comes out
//! with the parameter named and a clear `expected` text.
//!
//! The queries are copied from the cases file, not read from it, so this test stands
//! alone. `BASE` and `$c0`-style placeholders are expanded as the cases' README defines
//! them, with two real-looking click IDs minted on 2025-03-01T10:00:00Z.

use clickledger::money::{parse_amount_minor, DecimalAmount};
use clickledger::{ClickId, Currency, MoneyError, Postback, PostbackError, RejectReason};

/// `$c0` and `$c1`: time 0x67c2daa0 (2025-03-01T10:00:00Z), shard 0, slots 0 and 1.
const C0: &str = "67c2daa000000000003f9a1c";
const C1: &str = "67c2daa00000000001b7e402";

/// The cases' `BASE`.
const BASE: &str = "key=pk1&id=A1001&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new";

/// Expands the placeholders of a field case's query.
fn expand(query: &str) -> String {
    query
        .replace("BASE", BASE)
        .replace("$X128", &"X".repeat(128))
        .replace("$Y128", &"Y".repeat(128))
        .replace("${c0|upper}", &C0.to_uppercase())
        .replace("${c0|drop_last}", &C0[..C0.len() - 1])
        .replace("${c0}", C0)
        .replace("$c0", C0)
        .replace("$c1", C1)
}

/// Every postback of the field cases whose expected outcome is a parse-level rejection:
/// (case and postback, query, reason code).
const PARSE_REJECTIONS: &[(&str, &str, &str)] = &[
    ("B01a pb1", "BASE&cids=%7Baecid%7D", "invalid:cids"),
    (
        "B01b pb1",
        "key=pk1&id=%7Btransaction_id%7D&amount=49.90&currency=EUR&payment=online&customer=C42\
         &cv=new&cids=$c0",
        "invalid:id",
    ),
    (
        "B01b pb2",
        "key=pk1&id=%7Btransaction_id%7D&amount=20.00&currency=EUR&payment=online&customer=C42\
         &cv=new&cids=$c1",
        "invalid:id",
    ),
    (
        "B01c pb1",
        "key=pk1&id=A1001&amount=%5BAMOUNT%5D&currency=EUR&payment=online&customer=C42&cv=new\
         &cids=$c0",
        "invalid:amount",
    ),
    (
        "B04b pb1",
        "key=pk1&id=&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new&cids=$c0",
        "missing:id",
    ),
    (
        "B04b pb2",
        "key=pk1&id=&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new&cids=$c1",
        "missing:id",
    ),
    ("B06a pb1", "BASE&cids=$c0%0A", "invalid:cids"),
    ("B06b pb1", "BASE&cids=%20$c0", "invalid:cids"),
    ("B06c pb1", "BASE&cids=%22$c0%22", "invalid:cids"),
    ("B06d pb1", "BASE&cids=${c0|drop_last}", "invalid:cids"),
    ("B06e pb1", "BASE&cids=${c0}0", "invalid:cids"),
    ("B07a pb1", "BASE&cids=$c0+$c1", "invalid:cids"),
    ("B07b pb1", "BASE&cids=$c0%2C$c1", "invalid:cids"),
    ("B09b pb1", "BASE&cids=$c0%252D$c1", "invalid:cids"),
    ("B10a pb1", "BASE&cids=$c0&cids=$c1", "duplicate_param:cids"),
    (
        "B10b pb1",
        "key=pk1&id=A1001&amount=1.00&amount=100.00&currency=EUR&cids=$c0",
        "duplicate_param:amount",
    ),
    ("B11a pb1", "BASE&cids=", "missing:cids"),
    ("B11b pb1", "BASE&cids=$c0%23top", "invalid:cids"),
    ("B12a pb1", "BASE&cids=$c0-", "invalid:cids"),
    ("B12b pb1", "BASE&cids=-$c0", "invalid:cids"),
    ("B12c pb1", "BASE&cids=$c0--$c1", "invalid:cids"),
    (
        "B12d pb1",
        "BASE&cids=$c0-$c0",
        "duplicate_click_in_request",
    ),
    (
        "B14a pb1",
        "key=pk1&id=A1001&amount=49,90&currency=EUR&payment=online&customer=C42&cv=new&cids=$c0",
        "invalid:amount",
    ),
    (
        "B14b pb1",
        "key=pk1&id=A1001&amount=%E2%82%AC49.90&currency=EUR&payment=online&customer=C42&cv=new\
         &cids=$c0",
        "invalid:amount",
    ),
    (
        "B14c pb1",
        "key=pk1&id=A1001&amount=1%2C049.90&currency=EUR&payment=online&customer=C42&cv=new\
         &cids=$c0",
        "invalid:amount",
    ),
    (
        "B14d pb1",
        "key=pk1&id=A1001&amount=1.049%2C90&currency=EUR&payment=online&customer=C42&cv=new\
         &cids=$c0",
        "invalid:amount",
    ),
    (
        "B14e pb1",
        "key=pk1&id=A1001&amount=49.90EUR&currency=EUR&payment=online&customer=C42&cv=new\
         &cids=$c0",
        "invalid:amount",
    ),
    (
        "B15a pb1",
        "key=pk1&id=A1001&amount=NaN&currency=EUR&payment=online&customer=C42&cv=new&cids=$c0",
        "invalid:amount",
    ),
    (
        "B15b pb1",
        "key=pk1&id=A1001&amount=inf&currency=EUR&payment=online&customer=C42&cv=new&cids=$c0",
        "invalid:amount",
    ),
    (
        "B15c pb1",
        "key=pk1&id=A1001&amount=infinity&currency=EUR&payment=online&customer=C42&cv=new\
         &cids=$c0",
        "invalid:amount",
    ),
    (
        "B15d pb1",
        "key=pk1&id=A1001&amount=-10.00&currency=EUR&payment=online&customer=C42&cv=new&cids=$c0",
        "invalid:amount",
    ),
    (
        "B15e pb1",
        "key=pk1&id=A1001&amount=1e3&currency=EUR&payment=online&customer=C42&cv=new&cids=$c0",
        "invalid:amount",
    ),
    (
        "B15f pb1",
        "key=pk1&id=A1001&amount=99999999999999999999999.99&currency=EUR&payment=online\
         &customer=C42&cv=new&cids=$c0",
        "invalid:amount",
    ),
    (
        "B16b pb1",
        "key=pk1&id=A1001&amount=49.90&currency=EURO&payment=online&customer=C42&cv=new&cids=$c0",
        "invalid:currency",
    ),
    (
        "B16c pb1",
        "key=pk1&id=A1001&amount=49.90&currency=%E2%82%AC&payment=online&customer=C42&cv=new\
         &cids=$c0",
        "invalid:currency",
    ),
    (
        "B16d pb1",
        "key=pk1&id=A1001&amount=49.90&currency=XYZ&payment=online&customer=C42&cv=new&cids=$c0",
        "invalid:currency",
    ),
    (
        "B21a pb1",
        "key=pk1&id=A%FF1001&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new\
         &cids=$c0",
        "invalid:id",
    ),
    (
        "B21a pb2",
        "key=pk1&id=A%FE1001&amount=20.00&currency=EUR&payment=online&customer=C42&cv=new\
         &cids=$c1",
        "invalid:id",
    ),
    (
        "B21b pb1",
        "key=pk1&id=A%ZZ1001&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new\
         &cids=$c0",
        "invalid:id",
    ),
    (
        "B22a pb1",
        "key=pk1&id=$X1281&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new&cids=$c0",
        "invalid:id",
    ),
    (
        "B22a pb2",
        "key=pk1&id=$X1282&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new&cids=$c1",
        "invalid:id",
    ),
];

/// Postbacks of the field cases that are well formed (their fate is the ledger's).
const PARSE_ACCEPTANCES: &[(&str, &str)] = &[
    ("B02a pb1", "BASE&cids=$c0"),
    (
        "B02c pb2",
        "cids=$c0&currency=EUR&amount=49.9&id=A1001&key=pk1&payment=online&customer=C42&cv=new",
    ),
    ("B05a pb1", "BASE&cids=${c0|upper}"),
    (
        "B08a pb1",
        "key=pk1&id=A1001&amount=49.90&currency=EUR&voucher=A;B&product=P1;P2&cids=$c0",
    ),
    (
        "B08b pb1",
        "key=pk1&id=A1001&amount=49.90&currency=EUR&voucher=A%3BB&product=P1%3BP2&cids=$c0",
    ),
    ("B09a pb1", "BASE&cids=$c0%2D$c1"),
    ("B13a pb1", "BASE&cids=$c0-ffffffffffffffffffffffff"),
    ("B13b pb1", "BASE&cids=000000000000000000000000"),
    (
        "B16a pb1",
        "key=pk1&id=A1001&amount=49.90&currency=eur&payment=online&customer=C42&cv=new&cids=$c0",
    ),
    (
        "B22b pb1",
        "key=pk1&id=$Y128&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new&cids=$c0",
    ),
];

fn click_id(text: &str) -> ClickId {
    ClickId::parse(text).unwrap()
}

#[test]
fn every_parse_level_rejection_of_the_field_cases_gets_its_reason_code() {
    for (case, query, code) in PARSE_REJECTIONS {
        let query = expand(query);
        match Postback::from_query(&query) {
            Ok(postback) => panic!("{case}: expected {code}, parsed {postback:?}"),
            Err(error) => assert_eq!(RejectReason::from(error).code(), *code, "{case}: {query}"),
        }
    }
}

#[test]
fn case_b22a_order_id_is_one_byte_over_the_limit() {
    let query = expand(
        PARSE_REJECTIONS
            .iter()
            .find(|(case, ..)| *case == "B22a pb1")
            .unwrap()
            .1,
    );
    let order_id = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("id="))
        .unwrap();
    assert_eq!(order_id.len(), 129);
}

#[test]
fn well_formed_postbacks_of_the_field_cases_parse() {
    for (case, query) in PARSE_ACCEPTANCES {
        let query = expand(query);
        assert!(Postback::from_query(&query).is_ok(), "{case}: {query}");
    }
}

#[test]
fn field_case_details_that_parsing_settles() {
    let b02a = Postback::from_query(&expand("BASE&cids=$c0")).unwrap();
    let b02c = Postback::from_query(&expand(PARSE_ACCEPTANCES[1].1)).unwrap();
    assert_eq!(
        b02c, b02a,
        "B02c: reordered parameters and 49.9 are the same postback"
    );
    assert_eq!(b02a.order.amount_minor, Some(4990));

    let b05a = Postback::from_query(&expand("BASE&cids=${c0|upper}")).unwrap();
    assert_eq!(
        b05a.click_ids,
        [click_id(C0)],
        "B05a: upper case is the same click"
    );

    let b08b = Postback::from_query(&expand(PARSE_ACCEPTANCES[4].1)).unwrap();
    assert_eq!(
        (b08b.order.vouchers, b08b.order.products),
        (vec!["A".into(), "B".into()], vec!["P1".into(), "P2".into()])
    );

    let b09a = Postback::from_query(&expand("BASE&cids=$c0%2D$c1")).unwrap();
    assert_eq!(
        b09a.click_ids,
        [click_id(C0), click_id(C1)],
        "B09a: %2D separates"
    );

    let b16a = Postback::from_query(&expand(PARSE_ACCEPTANCES[8].1)).unwrap();
    assert_eq!(b16a.order.currency.code(), "EUR");
}

// One example per `PostbackError` variant.

#[test]
fn missing_names_the_required_parameter() {
    let error = Postback::from_query(&format!("key=pk1&id=A1&cids={C0}")).unwrap_err();
    assert_eq!(error, PostbackError::Missing { param: "currency" });
    assert_eq!(error.param(), "currency");
    assert_eq!(error.to_string(), "missing parameter `currency`");
}

#[test]
fn duplicate_param_names_the_repeated_parameter() {
    let error = Postback::from_query(&format!("{BASE}&cids={C0}&id=A2")).unwrap_err();
    assert_eq!(error, PostbackError::DuplicateParam { param: "id" });
    assert_eq!(error.to_string(), "parameter `id` appears more than once");
}

#[test]
fn invalid_names_the_parameter_what_was_expected_and_what_came() {
    let error = Postback::from_query(&format!("{BASE}&cids=%7Baecid%7D")).unwrap_err();
    let PostbackError::Invalid {
        param,
        expected,
        found,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(
        (*param, *expected, found.as_str()),
        ("cids", "24 hexadecimal digits per click ID", "{aecid}")
    );
    assert_eq!(
        error.to_string(),
        "invalid `cids`: expected 24 hexadecimal digits per click ID, found \"{aecid}\""
    );
}

#[test]
fn invalid_query_names_the_query_itself() {
    let long = format!("{BASE}&cids={C0}&pad={}", "x".repeat(8_192));
    assert_eq!(Postback::from_query(&long).unwrap_err().param(), "query");
    let bad_name = format!("{BASE}&cids={C0}&%E2%82=1");
    assert_eq!(
        Postback::from_query(&bad_name).unwrap_err().param(),
        "query"
    );
}

#[test]
fn duplicate_click_id_names_the_id_in_canonical_form() {
    let query = format!("{BASE}&cids={C0}-{C1}-{}", C0.to_uppercase());
    let error = Postback::from_query(&query).unwrap_err();
    assert_eq!(error, PostbackError::DuplicateClickId { id: click_id(C0) });
    assert_eq!(error.param(), "cids");
    assert!(error.to_string().contains(C0), "{error}");
}

#[test]
fn too_many_click_ids_gives_the_count_and_the_limit() {
    let ids: Vec<String> = (0..70u32)
        .map(|n| format!("67c2daa000000000{n:08x}"))
        .collect();
    let error = Postback::from_query(&format!("{BASE}&cids={}", ids.join("-"))).unwrap_err();
    assert_eq!(error, PostbackError::TooManyClickIds { count: 70, max: 64 });
    assert_eq!(
        error.to_string(),
        "`cids` holds 70 click IDs; at most 64 are accepted"
    );
}

// One example per `MoneyError` variant, each also seen through a postback, whose
// `Invalid` error carries the same `expected` text.

#[test]
fn every_money_error_reaches_the_postback_with_its_expected_text() {
    let cases: [(&str, &str, MoneyError); 12] = [
        (
            "1",
            "EURO",
            MoneyError::UnknownCurrency {
                found: "EURO".into(),
            },
        ),
        (
            "1",
            "HRK",
            MoneyError::SupersededCurrency {
                code: "HRK",
                successor: "EUR",
            },
        ),
        ("1", "XAU", MoneyError::NoMinorUnit { code: "XAU" }),
        ("1", "USN", MoneyError::UnitOfAccount { code: "USN" }),
        ("%2B5", "EUR", MoneyError::Sign { found: '+' }),
        ("1e3", "EUR", MoneyError::Exponent { position: 1 }),
        (
            "49,90",
            "EUR",
            MoneyError::Separator {
                position: 2,
                found: ',',
            },
        ),
        ("100.", "EUR", MoneyError::BarePoint { position: 3 }),
        (
            "NaN",
            "EUR",
            MoneyError::NotDecimal {
                position: 0,
                found: 'N',
            },
        ),
        (
            "49.999",
            "EUR",
            MoneyError::TooManyDecimals { max: 2, found: 3 },
        ),
        (
            "1.5",
            "JPY",
            MoneyError::TooManyDecimals { max: 0, found: 1 },
        ),
        (
            "9223372036854775808",
            "JPY",
            MoneyError::Overflow {
                max: i64::MAX as u64,
            },
        ),
    ];
    for (amount, currency, money_error) in cases {
        let direct = Currency::parse(currency)
            .and_then(|currency| parse_amount_minor(&amount.replace("%2B", "+"), currency));
        assert_eq!(direct, Err(money_error.clone()), "{amount} {currency}");

        let query = format!("key=pk1&id=A1&amount={amount}&currency={currency}&cids={C0}");
        match Postback::from_query(&query) {
            Err(PostbackError::Invalid { expected, .. }) => {
                assert_eq!(expected, money_error.expected(), "{amount} {currency}")
            }
            other => panic!("{amount} {currency}: {other:?}"),
        }
    }
    assert_eq!(DecimalAmount::parse(""), Err(MoneyError::EmptyAmount));
}
