//! Arbitrary text to the click ID parser: never a panic; valid IDs round-trip through
//! their canonical text, and only 24 hex digits are ever accepted. The body is
//! `targets::click_id` in `tests/model/targets.rs`.
#![no_main]

#[path = "../../tests/model/mod.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| model::targets::click_id(data));
