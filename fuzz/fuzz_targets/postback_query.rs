//! Arbitrary bytes as a postback query: never a panic; every input is either a valid
//! postback or a typed error, and a valid one re-encoded (by an independent encoder and
//! by `Postback::to_query`) parses back unchanged. The body is `targets::postback_query`
//! in `tests/model/targets.rs`, shared with the corpus replay in `cargo test`.
#![no_main]

#[path = "../../tests/model/mod.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| model::targets::postback_query(data));
