//! Proves that a rejected or replayed postback writes nothing: not a byte of log, not a
//! claim, not an order id. Each kind of refusal is tried against the same ledger, and
//! the log's size and the ledger's counts are compared before and after.

use clickledger::{
    ClickId, ClickKind, Ledger, LedgerError, Options, Outcome, Postback, ProgramSettings, Timestamp,
};

const CLICKED: u32 = 1_740_823_200;
const DAY: u32 = 86_400;

fn query(key: &str, order: &str, amount: &str, cids: &str) -> String {
    format!("key={key}&id={order}&amount={amount}&currency=EUR&cids={cids}")
}

#[test]
fn no_rejection_and_no_replay_writes_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    let p1 = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let p2 = ledger
        .register_program_with_key(ProgramSettings::new("p2"), "pk2")
        .unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let click = |program| {
        ledger
            .record_click(program, "a7", ClickKind::Click, at)
            .unwrap()
    };
    let (claimed, fresh, other) = (click(p1), click(p1), click(p2));
    let forty_days_earlier = Timestamp::from_unix(CLICKED - 40 * DAY);
    let old = ledger
        .record_click(p1, "a7", ClickKind::Click, forty_days_earlier)
        .unwrap();
    let now = at.plus_seconds(3600);
    let first = ledger
        .convert_query(&query("pk1", "A1", "10.00", &claimed.to_string()), now)
        .unwrap();
    assert!(matches!(first, Outcome::Accepted(_)));
    ledger.sync().unwrap();

    let mut forged = *claimed.as_bytes();
    forged[11] ^= 1;
    let forged = ClickId::from_bytes(forged);
    let future = ledger
        .record_click(p1, "a7", ClickKind::Click, at.plus_seconds(7200))
        .unwrap();
    // Stats include the log's size, buffered bytes too.
    let before = ledger.stats();
    let refused = [
        (
            "bad key",
            query("nobody", "B1", "10.00", &fresh.to_string()),
            "bad_key",
        ),
        (
            "parse error",
            query("pk1", "B2", "10,00", &fresh.to_string()),
            "invalid:amount",
        ),
        (
            "missing amount",
            format!("key=pk1&id=B3&currency=EUR&cids={fresh}"),
            "missing:amount",
        ),
        (
            "already claimed",
            query("pk1", "B4", "10.00", &claimed.to_string()),
            "already_claimed",
        ),
        (
            "forged",
            query("pk1", "B5", "10.00", &forged.to_string()),
            "unknown_click",
        ),
        (
            "other program",
            query("pk1", "B6", "10.00", &other.to_string()),
            "wrong_program",
        ),
        (
            "expired",
            query("pk1", "B7", "10.00", &old.to_string()),
            "click_expired",
        ),
        (
            "from the future",
            query("pk1", "B8", "10.00", &future.to_string()),
            "click_in_future",
        ),
        (
            "conflicting retry",
            query("pk1", "A1", "11.00", &claimed.to_string()),
            "conflicting_retry",
        ),
    ];
    for (what, postback, reason) in refused {
        match ledger.convert_query(&postback, now).unwrap() {
            Outcome::Rejected(rejection) => assert_eq!(rejection.reason.code(), reason, "{what}"),
            other => panic!("{what}: expected a rejection, got {}", other.status()),
        }
        assert_eq!(ledger.stats(), before, "{what} wrote something");
    }
    let retry = ledger
        .convert_query(&query("pk1", "A1", "10.0", &claimed.to_string()), now)
        .unwrap();
    assert!(matches!(retry, Outcome::Replayed(_)));
    assert_eq!(ledger.stats(), before, "a replay wrote something");
    assert!(!ledger.click(&fresh).unwrap().claimed);
}

/// Settings or a hand-built postback beyond the limits (here, past what a log record
/// holds, 1 MiB) are refused before anything is buffered: the ledger goes on working
/// and reopens afterwards.
#[test]
fn input_too_large_to_log_is_refused_and_leaves_the_log_whole() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    let log_bytes = ledger.stats().log_bytes;
    let mut huge = ProgramSettings::new("huge");
    huge.landing_domains = vec!["d".repeat(2 << 20)];
    let mut many = ProgramSettings::new("many");
    many.landing_domains = (0..33).map(|n| format!("shop{n}.example")).collect();
    for (settings, what) in [(huge, "landing domain"), (many, "landing domains")] {
        let error = ledger
            .register_program_with_key(settings, "pk-huge")
            .unwrap_err();
        assert!(
            matches!(error, LedgerError::InvalidInput { what: named, .. } if named == what),
            "{error}"
        );
    }
    assert_eq!(ledger.stats().log_bytes, log_bytes, "nothing buffered");
    assert_eq!(ledger.program_id("huge"), None);

    let p1 = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let click = ledger.record_click(p1, "a7", ClickKind::Click, at).unwrap();

    // A postback built by hand, past the limits parsing enforces: rejected like a query.
    let mut postback =
        Postback::from_query(&query("pk1", "A1", "1.00", &click.to_string())).unwrap();
    postback.order.order_id = "o".repeat(2 << 20);
    let outcome = ledger.convert(&postback, at.plus_seconds(60)).unwrap();
    assert!(
        matches!(&outcome, Outcome::Rejected(r) if r.reason.code() == "invalid:id"),
        "{outcome:?}"
    );
    ledger.sync().unwrap();
    drop(ledger);

    let reopened = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_eq!(reopened.program_id("p1"), Some(p1));
    assert!(reopened.click(&click).is_some_and(|info| !info.claimed));
}
