//! Profiling aid: records clicks, then claims them one postback each, and prints the
//! time per claim. `cargo run --release --example claim_loop -- 200000`.
//!
//! With `--floor`, runs the criterion suite's floor instead (a bare hashbrown map of
//! the same 12-byte IDs, looked up and updated), so that instruction counts of the two
//! can be compared on a busy machine:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='clickledger::ledger::Ledger::convert' \
//!     target/release/examples/claim_loop 20000
//! valgrind --tool=callgrind --toggle-collect='claim_loop::floor_lookup_update' \
//!     target/release/examples/claim_loop 20000 --floor
//! ```

use std::hint::black_box;
use std::time::Instant;

use clickledger::{
    ClickKind, Durability, IdKey, Ledger, Options, Postback, ProgramSettings, Timestamp,
};

const CLICKED: u32 = 1_740_823_200;

/// IDs in the floor's map, as in `benches/core.rs`.
const FLOOR_IDS: u32 = 1 << 20;

fn main() {
    let claims: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(200_000);
    if std::env::args().any(|argument| argument == "--floor") {
        floor(claims);
    } else {
        claim(claims);
    }
}

fn claim(claims: usize) {
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
    let at = Timestamp::from_unix(CLICKED);
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
    report("claim", claims, started);
}

fn floor(lookups: usize) {
    let key = IdKey::from_bytes(*b"0123456789abcdef");
    let at = Timestamp::from_unix(CLICKED);
    let ids: Vec<[u8; 12]> = (0..FLOOR_IDS)
        .map(|slot| *key.mint(at, 0, slot.wrapping_mul(2_654_435_761)).as_bytes())
        .collect();
    let mut map: hashbrown::HashMap<[u8; 12], u64> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| (*id, index as u64))
        .collect();
    let started = Instant::now();
    for index in 0..lookups {
        floor_lookup_update(&mut map, &ids[index % ids.len()]);
    }
    report("floor lookup and update", lookups, started);
}

/// One lookup and update of the floor, kept out of line so callgrind can count it.
#[inline(never)]
fn floor_lookup_update(map: &mut hashbrown::HashMap<[u8; 12], u64>, id: &[u8; 12]) {
    if let Some(entry) = map.get_mut(black_box(id)) {
        *entry ^= 1 << 63;
    }
}

fn report(what: &str, count: usize, started: Instant) {
    let elapsed = started.elapsed();
    println!(
        "{count} x {what} in {:.3} s: {:.0} ns each",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / count as f64
    );
}
