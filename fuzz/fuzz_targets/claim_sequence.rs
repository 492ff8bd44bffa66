//! Arbitrary sequences of operations (register a program, record a click, send
//! postbacks with minted, reused, forged, other-shard, unknown, other-program and
//! expired IDs, race postbacks, sync, flush, reopen, crash) played on a ledger and on
//! the reference model of `tests/model/reference.rs`, compared after every step. The
//! byte form of a sequence is `tests/model/script.rs`.
#![no_main]

#[path = "../../tests/model/mod.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| model::targets::claim_sequence(data));
