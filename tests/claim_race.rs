//! Proves the exactly-once contract under concurrency: eight threads race to claim
//! overlapping sets of click IDs; every ID ends up claimed by at most one conversion,
//! every accepted outcome's claims are exactly what the ledger holds, and a reopen
//! rebuilds the same state from the log.

use std::collections::{HashMap, HashSet};
use std::sync::Barrier;

use clickledger::{
    ClickId, ClickKind, Currency, Ledger, Options, Order, Outcome, Postback, ProgramSettings,
    Timestamp,
};

const THREADS: usize = 8;
const CLICKS: usize = 48;
const POSTBACKS_PER_THREAD: usize = 200;
const CLICKED: u32 = 1_740_823_200;

fn postback(key: &str, order_id: String, ids: Vec<ClickId>) -> Postback {
    let eur = Currency::parse("EUR").unwrap();
    Postback {
        key: key.to_owned(),
        order: Order {
            amount_minor: Some(1000),
            ..Order::new(&order_id, eur)
        },
        click_ids: ids,
        ignored_params: Vec::new(),
    }
}

/// A deterministic, overlapping choice of 1 to 4 IDs for one postback.
fn pick(ids: &[ClickId], thread: usize, round: usize) -> Vec<ClickId> {
    let start = (thread * 7 + round * 13) % ids.len();
    let count = 1 + (thread + round) % 4;
    let mut chosen: Vec<ClickId> = (0..count)
        .map(|offset| ids[(start + offset * 5) % ids.len()])
        .collect();
    chosen.dedup();
    chosen
}

#[test]
fn eight_threads_racing_on_overlapping_ids_claim_each_id_at_most_once() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    let programs = ["p1", "p2"].map(|name| {
        let key = format!("key-{name}");
        (
            ledger
                .register_program_with_key(ProgramSettings::new(name), &key)
                .unwrap(),
            key,
        )
    });
    let at = Timestamp::from_unix(CLICKED);
    let ids: Vec<ClickId> = (0..CLICKS)
        .map(|index| {
            ledger
                .record_click(programs[index % 2].0, "a7", ClickKind::Click, at)
                .unwrap()
        })
        .collect();

    let barrier = Barrier::new(THREADS);
    let accepted: Vec<(String, Vec<ClickId>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (ledger, ids, barrier, programs) = (&ledger, &ids, &barrier, &programs);
                scope.spawn(move || {
                    barrier.wait();
                    let mut mine = Vec::new();
                    for round in 0..POSTBACKS_PER_THREAD {
                        let key = &programs[(thread + round) % 2].1;
                        let order = format!("t{thread}-r{round}");
                        let outcome = ledger
                            .convert(
                                &postback(key, order.clone(), pick(ids, thread, round)),
                                at.plus_seconds(60),
                            )
                            .unwrap();
                        if let Outcome::Accepted(conversion) = outcome {
                            mine.push((order, conversion.claimed.clone()));
                        }
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });

    let mut owner: HashMap<ClickId, String> = HashMap::new();
    for (order, claimed) in &accepted {
        assert!(!claimed.is_empty());
        for id in claimed {
            if let Some(previous) = owner.insert(*id, order.clone()) {
                panic!("{id} claimed by both {previous} and {order}");
            }
        }
    }
    assert!(accepted.len() >= 2, "the race produced winners");
    check_ledger_matches(&ledger, &ids, &owner, accepted.len());
    ledger.sync().unwrap();
    drop(ledger);

    let reopened = Ledger::open(dir.path(), Options::default()).unwrap();
    check_ledger_matches(&reopened, &ids, &owner, accepted.len());
}

fn check_ledger_matches(
    ledger: &Ledger,
    ids: &[ClickId],
    owner: &HashMap<ClickId, String>,
    conversions: usize,
) {
    assert_eq!(ledger.stats().conversions, conversions as u64);
    assert_eq!(ledger.stats().claimed_ids, owner.len() as u64);
    let mut seen = HashSet::new();
    for id in ids {
        match (ledger.claimed_by(id), owner.get(id)) {
            (Some(conversion), Some(order)) => {
                assert_eq!(&conversion.order.order_id, order);
                assert!(seen.insert(*id));
            }
            (None, None) => assert!(!ledger.click(id).unwrap().claimed),
            (held, expected) => panic!(
                "{id}: ledger says {:?}, outcomes say {expected:?}",
                held.map(|c| c.order.order_id.clone())
            ),
        }
    }
}
