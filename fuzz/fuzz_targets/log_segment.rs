//! Bytes as the body of a log segment, then open: never a panic; the open ends in a
//! usable ledger (possibly with a torn tail cut) that reopens to the same state, or a
//! typed error. The body, and how inputs reach record decoding past the seeded CRCs, is
//! `targets::log_segment` in `tests/model/targets.rs`.
#![no_main]

#[path = "../../tests/model/mod.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| model::targets::log_segment(data));
