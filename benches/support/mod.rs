//! What several benchmark binaries share. Each includes this module with `mod support;`
//! and uses what it needs, so an item one binary leaves unused is not dead code.
#![allow(dead_code, reason = "each benchmark binary uses part of this module")]

use clickledger::{Durability, Options};

/// A ledger that answers from its log's buffer and syncs when told: for set-ups and for
/// paths measured without the disk (durable claims are `benches/group_commit.rs`).
pub fn buffered() -> Options {
    Options {
        durability: Durability::None,
        ..Options::default()
    }
}

/// The resident set size of this process, from `/proc/self/statm` (0 where it cannot
/// be read, outside Linux).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
