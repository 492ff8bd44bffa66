//! Profiling aid: records clicks, then claims them one postback each, and prints the
//! time per claim. `cargo run --release --example claim_loop -- 200000`.

use std::time::Instant;

use clickledger::{ClickKind, Durability, Ledger, Options, Postback, ProgramSettings, Timestamp};

fn main() {
    let claims: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let ledger = Ledger::open(
        dir.path(),
        // Claims alone, without the disk: durable claims are in `benches/group_commit.rs`.
        Options {
            durability: Durability::None,
            ..Options::default()
        },
    )
    .expect("open");
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .expect("program");
    let at = Timestamp::from_unix(1_740_823_200);
    let postbacks: Vec<Postback> = (0..claims)
        .map(|order| {
            let id = ledger
                .record_click(program, "a7", ClickKind::Click, at)
                .expect("click");
            let query = format!("key=pk1&id=o{order}&amount=10.00&currency=EUR&cids={id}");
            Postback::from_query(&query).expect("valid postback")
        })
        .collect();
    let started = Instant::now();
    for postback in &postbacks {
        ledger
            .convert(postback, at.plus_seconds(60))
            .expect("convert");
    }
    let elapsed = started.elapsed();
    println!(
        "{claims} claims in {:.3} s: {:.0} ns per claim",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / claims as f64
    );
}
