//! Criterion benchmarks of the core paths: minting, parsing and verifying IDs,
//! recording clicks, claiming, and parsing postbacks. Run `cargo bench --bench core`;
//! CI runs it with `-- --quick` so it keeps compiling and running.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

use clickledger::{
    ClickId, ClickKind, Durability, IdKey, Ledger, Options, Postback, ProgramId, ProgramSettings,
    Timestamp,
};

const CLICKED: u32 = 1_740_823_200;

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
    let ledger = Ledger::open(
        dir.path(),
        Options {
            // Buffered paths: durable claims are measured by `benches/group_commit.rs`.
            durability: Durability::None,
            ..Options::default()
        },
    )
    .expect("open");
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
                    fresh_postback(&ledger, program, at, order, ids_per_postback)
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

/// A postback claiming `ids` fresh clicks, with a new order id.
fn fresh_postback(
    ledger: &Ledger,
    program: ProgramId,
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
        "key=pk1&id=o{order}&amount=10.00&currency=EUR&cids={}",
        ids.join("-")
    );
    Postback::from_query(&query).expect("valid postback")
}

criterion_group!(benches, click_ids, ledger_paths);
criterion_main!(benches);
