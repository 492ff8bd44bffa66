//! Proves that two IDs addressing one click (same day, shard and slot, different second,
//! each with a valid tag) are one click to the ledger: never claimed twice, never a
//! panic, never a log that refuses to reopen. Only the secret's holder can mint such an
//! alias, or someone who guesses its 24-bit tag.

use clickledger::{
    secret, ClickKind, Ledger, Options, Outcome, ProgramSettings, Timestamp, Verdict,
};

const CLICKED: u32 = 1_740_823_200;

fn query(order: &str, cids: &[String]) -> String {
    format!(
        "key=pk1&id={order}&amount=1.00&currency=EUR&cids={}",
        cids.join("-")
    )
}

#[test]
fn an_alias_of_a_click_is_the_same_click() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let minted = ledger
        .record_click(program, "a7", ClickKind::Click, at)
        .unwrap();
    let key = secret::load(dir.path()).unwrap().unwrap();
    let alias = key.mint(at.plus_seconds(1), minted.shard(), minted.slot());
    assert_ne!(alias, minted);
    assert_eq!(alias.address(), minted.address());
    let now = at.plus_seconds(60);

    // Both in one postback: a repeat, refused before anything is examined or written.
    let both = [minted.to_string(), alias.to_string()];
    let log_bytes = ledger.stats().log_bytes;
    let outcome = ledger.convert_query(&query("O1", &both), now).unwrap();
    assert!(
        matches!(&outcome, Outcome::Rejected(r) if r.reason.code() == "duplicate_click_in_request"),
        "{outcome:?}"
    );
    assert_eq!(ledger.stats().log_bytes, log_bytes);

    // One after the other: the second finds the click claimed.
    let first = ledger
        .convert_query(&query("O2", &[minted.to_string()]), now)
        .unwrap();
    assert!(matches!(first, Outcome::Accepted(_)), "{first:?}");
    let second = ledger
        .convert_query(&query("O3", &[alias.to_string()]), now)
        .unwrap();
    match &second {
        Outcome::Rejected(rejection) => {
            assert_eq!(rejection.reason.code(), "already_claimed");
            assert_eq!(rejection.verdicts[0].verdict, Verdict::AlreadyClaimed);
        }
        other => panic!("expected already_claimed, got {other:?}"),
    }
    let claimer = ledger
        .claimed_by(&alias)
        .expect("the alias finds the claim");
    assert_eq!(claimer.order.order_id, "O2");
    ledger.sync().unwrap();
    drop(ledger);

    let reopened = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_eq!(reopened.stats().conversions, 1);
}
