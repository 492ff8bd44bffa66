//! The claim-sequence reference model and its harness, shared by three drivers:
//!
//! - `fuzz/fuzz_targets/claim_sequence.rs` decodes fuzzer bytes into a sequence
//!   ([`script::decode`]) and plays it ([`harness::Harness::run`]);
//! - `tests/claim_sequence.rs` plays every field case of `../shared/cases` through the
//!   harness, checks the case's expectations, and keeps the fuzz corpus seeds in step;
//! - `tests/claim_state_machine.rs` plays proptest-generated sequences;
//! - `tests/fuzz_corpora.rs` runs every kept corpus input of every target.
//!
//! It lives under `tests/` as plain source, included by `#[path]`, because it is test
//! code: the library carries no test-support module or feature for it. It needs only
//! `clickledger` and `tempfile`, which both the test crates and the fuzz crate have.
//!
//! - [`reference`]: the model of what a ledger answers and holds.
//! - [`script`]: the operations and their byte form.
//! - [`harness`]: plays operations on a ledger and the model, comparing after each.
//! - [`query`]: a small postback encoder, independent of `Postback::to_query`.
//! - [`targets`]: the body of every fuzz target, so `tests/fuzz_corpora.rs` replays the
//!   kept corpora in `cargo test`.

#![allow(dead_code, reason = "each driver uses a different part of the harness")]

#[path = "../field_cases/crash.rs"]
pub mod crash;
pub mod harness;
pub mod query;
pub mod reference;
pub mod script;
pub mod targets;
#[path = "../field_cases/template.rs"]
pub mod template;
