//! Criterion benchmarks of the core paths: minting, parsing and verifying IDs,
//! recording clicks, claiming, parsing postbacks, replaying the log at open, claim
//! throughput on one and two threads, and the floor the claim path is measured against
//! (a bare `hashbrown` map of the same 12-byte IDs).
//!
//! Run `cargo bench --bench core`; CI runs it with `-- --quick` so it keeps compiling
//! and running. Compare figures within one run only: the machine is shared.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

mod support;

use support::buffered;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use clickledger::{
    ClickId, ClickKind, IdKey, Ledger, Options, Postback, ProgramId, ProgramSettings, Timestamp,
};

const CLICKED: u32 = 1_740_823_200;

/// IDs in the floor's map: enough that the table outgrows the CPU caches, as a day's
/// slot table does.
const FLOOR_IDS: u32 = 1 << 20;

/// Records in the ledger that the replay benchmark reopens: large enough that the
/// fixed cost of an open (directory lock, secret, segment listing) is a small part.
const REPLAY_RECORDS: u64 = 200_000;

/// The claimed bit of the floor's values, placed as in a slot entry.
const FLOOR_CLAIMED_BIT: u64 = 1 << 63;

fn click_ids(criterion: &mut Criterion) {
    let key = IdKey::from_bytes(*b"0123456789abcdef");
    let at = Timestamp::from_unix(CLICKED);
    let minted = key.mint(at, 0, 12_345);
    let text = minted.to_string();
    let mut forged_bytes = *minted.as_bytes();
    forged_bytes[11] ^= 1;
    let forged = ClickId::from_bytes(forged_bytes);

    let mut slot = 0u32;
    criterion.bench_function("click_id/mint", |bench| {
        bench.iter(|| {
            slot = slot.wrapping_add(1);
            black_box(key.mint(at, 0, slot))
        })
    });
    criterion.bench_function("click_id/parse", |bench| {
        bench.iter(|| black_box(ClickId::parse(black_box(&text))))
    });
    criterion.bench_function("click_id/verify_forged", |bench| {
        bench.iter(|| black_box(key.verify(black_box(&forged))))
    });
}

fn ledger_paths(criterion: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = Ledger::open(dir.path(), buffered()).expect("open");
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .expect("program");
    let at = Timestamp::from_unix(CLICKED);

    criterion.bench_function("ledger/record_click_buffered", |bench| {
        bench.iter(|| {
            black_box(
                ledger
                    .record_click(program, "a7", ClickKind::Click, at)
                    .expect("record"),
            )
        })
    });

    let mut order = 0u64;
    for (name, ids_per_postback) in [("ledger/claim_one_id", 1), ("ledger/claim_five_ids", 5)] {
        criterion.bench_function(name, |bench| {
            bench.iter_batched(
                || {
                    order += 1;
                    fresh_postback(&ledger, (program, "pk1"), at, order, ids_per_postback)
                },
                |postback| {
                    black_box(
                        ledger
                            .convert(&postback, at.plus_seconds(60))
                            .expect("convert"),
                    )
                },
                BatchSize::SmallInput,
            )
        });
    }

    let query = "key=pk1&id=A1001&amount=49.90&currency=EUR&payment=online&customer=C42&cv=new\
                 &voucher=A;B&product=P1;P2&cids=603ed1800000000000000000-603ed1800000000000000001";
    criterion.bench_function("postback/from_query", |bench| {
        bench.iter(|| black_box(Postback::from_query(black_box(query))))
    });
}

/// The floor: a bare hashbrown map from the same 12-byte IDs to a `u64` entry, looked up
/// and updated (the claimed bit flipped, so every iteration does the same work), and
/// inserted into. The claim path's goal is to be at least this fast.
fn hashbrown_floor(criterion: &mut Criterion) {
    let key = IdKey::from_bytes(*b"0123456789abcdef");
    let at = Timestamp::from_unix(CLICKED);
    let ids: Vec<[u8; 12]> = (0..FLOOR_IDS)
        .map(|slot| *key.mint(at, 0, scatter(slot)).as_bytes())
        .collect();
    let mut map: hashbrown::HashMap<[u8; 12], u64> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index as u64))
        .collect();

    let mut next = 0usize;
    criterion.bench_function("floor/hashbrown_lookup_update", |bench| {
        bench.iter(|| {
            next = (next + 1) % ids.len();
            if let Some(entry) = map.get_mut(black_box(&ids[next])) {
                *entry ^= FLOOR_CLAIMED_BIT;
            }
        })
    });

    let mut fresh: hashbrown::HashMap<[u8; 12], u64> = hashbrown::HashMap::new();
    let mut inserted = 0usize;
    criterion.bench_function("floor/hashbrown_insert", |bench| {
        bench.iter(|| {
            // Start over once every ID is in, so the table's size stays bounded and
            // the figure includes the rehashes a growing table pays.
            if inserted == ids.len() {
                fresh = hashbrown::HashMap::new();
                inserted = 0;
            }
            fresh.insert(black_box(ids[inserted]), inserted as u64);
            inserted += 1;
        })
    });
}

/// Spreads consecutive numbers over the slot space, so the floor's IDs are not
/// inserted or looked up in an order a cache would favour.
fn scatter(index: u32) -> u32 {
    index.wrapping_mul(2_654_435_761)
}

/// Opens (replays) a ledger of [`REPLAY_RECORDS`] click records; criterion's
/// throughput line gives records per second, so per million is 10^6 over it.
fn replay(criterion: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    {
        let ledger = Ledger::open(dir.path(), buffered()).expect("open");
        let program = ledger
            .register_program(ProgramSettings::new("p1"))
            .expect("program")
            .id;
        let at = Timestamp::from_unix(CLICKED);
        for _ in 0..REPLAY_RECORDS {
            ledger
                .record_click(program, "a7", ClickKind::Click, at)
                .expect("record");
        }
        ledger.sync().expect("sync");
    }
    let mut group = criterion.benchmark_group("ledger/replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(REPLAY_RECORDS));
    group.bench_function("open_200k_clicks", |bench| {
        bench.iter(|| {
            let ledger = Ledger::open(dir.path(), Options::default()).expect("reopen");
            assert_eq!(ledger.stats().clicks, REPLAY_RECORDS);
            black_box(ledger)
        })
    });
    group.finish();
}

/// Claims per second with 1 and 2 threads, each claiming fresh one-ID postbacks, on
/// programs of their own (disjoint: only the writer is shared) or all on one program
/// (hot: the program lock serializes them). One iteration is one claim per thread.
fn claim_throughput(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("claim_throughput");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    for threads in [1usize, 2] {
        for hot in [false, true] {
            if threads == 1 && hot {
                continue; // one thread has nothing to contend with
            }
            let name = format!(
                "{threads}_thread{}_{}",
                if threads == 1 { "" } else { "s" },
                if hot {
                    "hot_program"
                } else {
                    "disjoint_programs"
                }
            );
            group.throughput(Throughput::Elements(threads as u64));
            group.bench_function(name, |bench| {
                bench.iter_custom(|iterations| timed_claims(threads, hot, iterations))
            });
        }
    }
    group.finish();
}

/// Prepares `iterations` postbacks per thread in a fresh ledger, then times the threads
/// claiming them all at once.
fn timed_claims(threads: usize, hot: bool, iterations: u64) -> Duration {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = Arc::new(Ledger::open(dir.path(), buffered()).expect("open"));
    let at = Timestamp::from_unix(CLICKED);
    let programs: Vec<(ProgramId, String)> = (0..if hot { 1 } else { threads })
        .map(|index| {
            let key = format!("pk{index}");
            let settings = ProgramSettings::new(&format!("p{index}"));
            let id = ledger
                .register_program_with_key(settings, &key)
                .expect("program");
            (id, key)
        })
        .collect();
    let work: Vec<Vec<Postback>> = (0..threads)
        .map(|thread| {
            let (program, key) = &programs[thread % programs.len()];
            (0..iterations)
                .map(|order| {
                    let order = order * threads as u64 + thread as u64;
                    fresh_postback(&ledger, (*program, key), at, order, 1)
                })
                .collect()
        })
        .collect();

    let start = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = work
        .into_iter()
        .map(|postbacks| {
            let (ledger, start) = (Arc::clone(&ledger), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for postback in &postbacks {
                    let outcome = ledger
                        .convert(postback, at.plus_seconds(60))
                        .expect("convert");
                    assert_eq!(outcome.status(), "accepted");
                }
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    for worker in workers {
        worker.join().expect("claiming thread");
    }
    started.elapsed()
}

/// A postback claiming `ids` fresh clicks of `program` (with its key), with a new
/// order id.
fn fresh_postback(
    ledger: &Ledger,
    (program, key): (ProgramId, &str),
    at: Timestamp,
    order: u64,
    ids: usize,
) -> Postback {
    let ids: Vec<String> = (0..ids)
        .map(|_| {
            ledger
                .record_click(program, "a7", ClickKind::Click, at)
                .expect("record")
                .to_string()
        })
        .collect();
    let query = format!(
        "key={key}&id=o{order}&amount=10.00&currency=EUR&cids={}",
        ids.join("-")
    );
    Postback::from_query(&query).expect("valid postback")
}

criterion_group!(
    benches,
    click_ids,
    ledger_paths,
    hashbrown_floor,
    replay,
    claim_throughput
);
criterion_main!(benches);
