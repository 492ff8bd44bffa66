//! Proves exactly-once claims under a storm: 16 threads post random subsets of 1,000 hot
//! click IDs (two programs) with random order ids, and retry some postbacks as they
//! were sent or with another amount. Afterwards every ID is claimed at most once and by
//! the conversion the ledger names, one order id never makes two conversions, every
//! replay returns the conversion accepted for its order, and a reopen from the log gives
//! back exactly the accepted conversions and claims.
//!
//! Bounded to a few seconds: 16 x 500 postbacks. `CLICKLEDGER_STRESS_ROUNDS` raises the
//! postbacks per thread for a long run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};

use clickledger::{
    ClickId, ClickKind, Conversion, Ledger, Options, Outcome, ProgramId, ProgramSettings, Timestamp,
};

const THREADS: usize = 16;
const HOT_IDS: usize = 1_000;
const ROUNDS_DEFAULT: usize = 500;
/// Order ids are drawn from this many per program, so threads collide on them.
const ORDER_IDS: u64 = 600;
const CLICKED: u32 = 1_740_823_200; // 2025-03-01T10:00:00Z
const POSTED: u32 = CLICKED + 3_600;

/// A small, seeded generator: each thread's choices are reproducible from its seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

struct Hot {
    program: ProgramId,
    key: &'static str,
    ids: Vec<ClickId>,
}

#[test]
fn sixteen_threads_on_a_thousand_hot_ids_claim_each_at_most_once_and_reopen_the_same() {
    let rounds = std::env::var("CLICKLEDGER_STRESS_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(ROUNDS_DEFAULT);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    let hot = record_hot_ids(&ledger);

    let barrier = Barrier::new(THREADS);
    let outcomes: Vec<(String, Outcome)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (ledger, hot, barrier) = (&ledger, &hot, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    post_randomly(ledger, hot, thread, rounds)
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|thread| thread.join().unwrap())
            .collect()
    });

    let accepted = check_outcomes(&outcomes);
    check_claims(&ledger, &hot, &accepted);
    ledger.sync().unwrap();
    let before = ledger.stats();
    drop(ledger);

    let reopened = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_eq!(reopened.stats(), before, "reopening changed the counts");
    check_claims(&reopened, &hot, &accepted);
}

fn record_hot_ids(ledger: &Ledger) -> Vec<Hot> {
    [("p1", "pk1"), ("p2", "pk2")]
        .into_iter()
        .map(|(name, key)| {
            let program = ledger
                .register_program_with_key(ProgramSettings::new(name), key)
                .unwrap();
            let ids = (0..HOT_IDS / 2)
                .map(|n| {
                    let at = Timestamp::from_unix(CLICKED + (n % 60) as u32);
                    let partner = format!("a{}", n % 7);
                    ledger
                        .record_click(program, &partner, ClickKind::Click, at)
                        .unwrap()
                })
                .collect();
            Hot { program, key, ids }
        })
        .collect()
}

/// One thread's postbacks: a random program, 1 to 6 of its hot IDs (and now and then
/// one of the other program), a random order id; a third are retries of an earlier
/// query, some with another amount.
fn post_randomly(
    ledger: &Ledger,
    hot: &[Hot],
    thread: usize,
    rounds: usize,
) -> Vec<(String, Outcome)> {
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15 ^ ((thread as u64 + 1) * 0x2545_f491));
    let mut sent: Vec<String> = Vec::new();
    let mut outcomes = Vec::new();
    for _ in 0..rounds {
        let query = match random.below(3) {
            0 if !sent.is_empty() => {
                let earlier = &sent[random.below(sent.len() as u64) as usize];
                if random.below(4) == 0 {
                    earlier.replace("amount=", "amount=1")
                } else {
                    earlier.clone()
                }
            }
            _ => fresh_query(hot, &mut random),
        };
        let outcome = ledger
            .convert_query(&query, Timestamp::from_unix(POSTED))
            .unwrap();
        sent.push(query.clone());
        outcomes.push((query, outcome));
    }
    outcomes
}

fn fresh_query(hot: &[Hot], random: &mut XorShift) -> String {
    let program = random.below(2) as usize;
    let mut chosen: Vec<ClickId> = (0..1 + random.below(6))
        .map(|_| hot[program].ids[random.below(hot[program].ids.len() as u64) as usize])
        .collect();
    if random.below(8) == 0 {
        let other = &hot[1 - program].ids;
        chosen.push(other[random.below(other.len() as u64) as usize]);
    }
    let mut seen = HashSet::new();
    chosen.retain(|id| seen.insert(*id));
    let cids: Vec<String> = chosen.iter().map(ClickId::to_string).collect();
    let order = random.below(ORDER_IDS);
    format!(
        "key={}&id=O{order}&amount={}.00&currency=EUR&cids={}",
        hot[program].key,
        10 + order % 5,
        cids.join("-")
    )
}

/// Checks the answers against each other; returns the accepted conversions by number.
fn check_outcomes(outcomes: &[(String, Outcome)]) -> HashMap<u64, Arc<Conversion>> {
    let mut accepted: HashMap<u64, Arc<Conversion>> = HashMap::new();
    let mut by_order: HashMap<(ProgramId, String), u64> = HashMap::new();
    let mut claimed_by: HashMap<ClickId, u64> = HashMap::new();
    for (_, outcome) in outcomes {
        if let Outcome::Accepted(conversion) = outcome {
            let order = (conversion.program, conversion.order.order_id.clone());
            let earlier = by_order.insert(order, conversion.id.0);
            assert!(earlier.is_none(), "order accepted twice: {conversion:?}");
            for id in &conversion.claimed {
                let holder = claimed_by.insert(*id, conversion.id.0);
                assert!(
                    holder.is_none(),
                    "{id} claimed by {holder:?} and {}",
                    conversion.id
                );
            }
            accepted.insert(conversion.id.0, Arc::clone(conversion));
        }
    }
    for (query, outcome) in outcomes {
        if let Outcome::Replayed(original) = outcome {
            let stored = &accepted[&original.id.0];
            assert_eq!(
                original, stored,
                "replay of {query} differs from the original"
            );
        }
    }
    let replays = outcomes
        .iter()
        .filter(|(_, outcome)| matches!(outcome, Outcome::Replayed(_)))
        .count();
    assert!(
        accepted.len() > 100 && replays > 100,
        "the storm must accept and replay"
    );
    accepted
}

/// Every hot ID is held by exactly the accepted conversion that claimed it, and each
/// program's conversions are exactly the accepted ones.
fn check_claims(ledger: &Ledger, hot: &[Hot], accepted: &HashMap<u64, Arc<Conversion>>) {
    let holders: HashMap<ClickId, u64> = accepted
        .values()
        .flat_map(|conversion| conversion.claimed.iter().map(|id| (*id, conversion.id.0)))
        .collect();
    for program in hot {
        for id in &program.ids {
            let holder = ledger.claimed_by(id).map(|conversion| conversion.id.0);
            assert_eq!(holder, holders.get(id).copied(), "holder of {id}");
            assert_eq!(ledger.click(id).unwrap().claimed, holder.is_some());
        }
        let stored: Vec<Conversion> = ledger
            .conversions(program.program)
            .iter()
            .map(|conversion| conversion.as_ref().clone())
            .collect();
        let mut expected: Vec<Conversion> = accepted
            .values()
            .filter(|conversion| conversion.program == program.program)
            .map(|conversion| conversion.as_ref().clone())
            .collect();
        expected.sort_by_key(|conversion| conversion.id);
        assert_eq!(stored, expected, "conversions of {:?}", program.program);
    }
}
