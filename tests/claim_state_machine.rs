//! Proves the public API matches the reference model over random sequences: proptest
//! generates claim sequences (programs with any settings, clicks and impressions,
//! postbacks with minted, upper-case, forged, other-shard, unknown, other-program,
//! expired and future IDs, retries and conflicting retries, races, sync, flush, clean
//! close and reopen, kills, power losses and damaged tails), and the harness of
//! `tests/model` plays each on a ledger and the model, comparing every answer and the
//! whole state after every step. A failing sequence is shrunk to a minimal one.
//!
//! `PROPTEST_CASES=5000 cargo test --test claim_state_machine` runs a long session.

mod model;

use clickledger::Timestamp;
use model::harness::Harness;
use model::script::{
    ClickSpec, Crash, IdChoice, Op, PostbackSpec, ProgramSpec, Request, TIME_BASE,
};
use proptest::prelude::*;

/// Sequences per run of `cargo test`: each opens a ledger and syncs a few times.
const CASES_DEFAULT: u32 = 48;
/// Clicks fall in the first week; postbacks up to 40 days later, so windows of a day
/// to 45 days leave some clicks eligible, some expired and some ahead of the clock.
const CLICK_SPAN_SECONDS: u32 = 7 * 86_400;
const POSTBACK_SPAN_SECONDS: u32 = 40 * 86_400;

fn time(span: u32) -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        3 => (0..span).prop_map(|offset| Timestamp::from_unix(TIME_BASE + offset)),
        // Many events in one hour: ties of click time, tolerance edges.
        1 => (0..3_600u32).prop_map(|offset| Timestamp::from_unix(TIME_BASE + offset)),
    ]
}

fn program() -> impl Strategy<Value = ProgramSpec> {
    let windows = prop_oneof![
        Just(3_600u32),
        Just(86_400),
        Just(30 * 86_400),
        Just(45 * 86_400)
    ];
    (any::<bool>(), any::<bool>(), any::<bool>(), windows).prop_map(
        |(leads, payment_required, revenue_share, attribution_window_seconds)| ProgramSpec {
            leads,
            payment_required,
            revenue_share,
            attribution_window_seconds,
        },
    )
}

fn click() -> impl Strategy<Value = ClickSpec> {
    (
        0..4u8,
        0..6u8,
        prop::bool::weighted(0.2),
        time(CLICK_SPAN_SECONDS),
    )
        .prop_map(|(program, partner, impression, at)| ClickSpec {
            program,
            partner,
            impression,
            at,
        })
}

fn id_choice() -> impl Strategy<Value = IdChoice> {
    prop_oneof![
        6 => (any::<u8>(), prop::bool::weighted(0.2))
            .prop_map(|(click, upper)| IdChoice::Minted { click, upper }),
        1 => any::<u8>().prop_map(|click| IdChoice::Forged { click }),
        1 => any::<u8>().prop_map(|click| IdChoice::OtherShard { click }),
        1 => time(CLICK_SPAN_SECONDS).prop_map(|at| IdChoice::Unknown { at }),
    ]
}

fn postback() -> impl Strategy<Value = Request> {
    let amount = prop::option::weighted(0.9, prop_oneof![Just(4990u32), Just(100), 0..100_000u32]);
    (
        (0..4u8, 0..6u8, amount, 0..4u8),
        (
            prop::option::weighted(0.3, 0..4u8),
            prop::option::weighted(0.3, 0..4u8),
        ),
        prop::collection::vec(id_choice(), 1..5),
        time(POSTBACK_SPAN_SECONDS),
    )
        .prop_map(
            |((key, order, amount_minor, currency), (payment, customer), ids, at)| {
                Request::Built(PostbackSpec {
                    key,
                    order,
                    amount_minor,
                    currency,
                    payment,
                    customer,
                    ids,
                    at,
                })
            },
        )
}

fn crash() -> impl Strategy<Value = Crash> {
    prop_oneof![
        3 => Just(Crash::Kill),
        2 => Just(Crash::PowerLoss),
        2 => Just(Crash::TornTail),
        1 => Just(Crash::ZeroTail),
        1 => Just(Crash::CorruptMiddle),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => program().prop_map(Op::RegisterProgram),
        5 => click().prop_map(Op::Click),
        6 => postback().prop_map(Op::Postback),
        1 => prop::collection::vec(postback(), 2..4).prop_map(Op::Concurrent),
        1 => Just(Op::Sync),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => crash().prop_map(Op::Crash),
    ]
}

fn sequence() -> impl Strategy<Value = Vec<Op>> {
    (program(), prop::collection::vec(op(), 1..40)).prop_map(|(first, mut ops)| {
        ops.insert(0, Op::RegisterProgram(first));
        ops
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(CASES_DEFAULT)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_answers_and_holds_what_the_model_does(ops in sequence()) {
        drop(Harness::run(&ops));
    }
}
