//! Proves that the reference model of `tests/model` agrees with the field cases and the
//! ledger: every case of `../shared/cases/field_cases.jsonl` is turned into a claim
//! sequence, played on a ledger and the model side by side (the harness panics at the
//! first difference), and the case's expectations are then checked on what was played.
//! Each case is also a seed of the `claim_sequence` fuzz corpus
//! (`fuzz/seeds/claim_sequence/field-<id>`); this test fails when a seed is out of date.
//! `CLICKLEDGER_WRITE_SEEDS=1 cargo test --test claim_sequence` rewrites them.

#[path = "field_cases/case.rs"]
mod case;
#[path = "field_cases/check.rs"]
mod check;
#[allow(dead_code, reason = "only the expectation types are used here")]
#[path = "field_cases/expectation.rs"]
mod expectation;
mod model;
#[allow(dead_code, reason = "only `Played` and `Reply` are used here")]
#[path = "field_cases/run.rs"]
mod run;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use case::{Case, Event, PostbackEvent};
use model::crash::CrashKind;
use model::harness::{Answer, Harness};
use model::script::{self, ClickSpec, Crash, IdChoice, Op, PostbackSpec, ProgramSpec, Request};
// `case.rs` and `check.rs` name these at the crate root.
use model::{crash, template};

/// Environment variable that makes the test rewrite the corpus seeds.
const WRITE_SEEDS_ENV: &str = "CLICKLEDGER_WRITE_SEEDS";

#[test]
fn every_field_case_runs_through_the_model_and_the_ledger_and_meets_its_expectations() {
    let mut failures = Vec::new();
    let cases = read_cases();
    assert!(!cases.is_empty(), "no field cases");
    for case in &cases {
        if let Err(reason) = judge(case) {
            failures.push(format!("{}: {reason}", case.id));
        }
    }
    println!(
        "claim sequences: {} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_field_case_is_a_seed_of_the_claim_sequence_corpus() {
    let directory = seeds_dir();
    let write = std::env::var_os(WRITE_SEEDS_ENV).is_some();
    let mut stale = Vec::new();
    for case in read_cases() {
        let ops = ops_of(&case).unwrap_or_else(|reason| panic!("{}: {reason}", case.id));
        let bytes = script::encode(&ops);
        assert_eq!(
            script::decode(&bytes),
            ops,
            "{}: the byte form round-trips",
            case.id
        );
        let path = directory.join(format!("field-{}", case.id));
        if write {
            std::fs::create_dir_all(&directory).expect("seed directory");
            std::fs::write(&path, &bytes).expect("write seed");
        } else if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "seeds missing or out of date (rewrite with {WRITE_SEEDS_ENV}=1): {stale:?}"
    );
}

#[test]
fn built_sequences_round_trip_through_their_byte_form() {
    let at = timestamp("2025-03-01T10:00:00Z");
    let ops = vec![
        Op::RegisterProgram(ProgramSpec {
            leads: true,
            payment_required: true,
            revenue_share: false,
            attribution_window_seconds: 86_400,
        }),
        Op::Click(ClickSpec {
            program: 0,
            partner: 3,
            impression: true,
            at,
        }),
        Op::Concurrent(vec![
            Request::Built(PostbackSpec {
                key: 0,
                order: 1,
                amount_minor: Some(4990),
                currency: 2,
                payment: None,
                customer: Some(4),
                ids: vec![
                    IdChoice::Minted {
                        click: 0,
                        upper: true,
                    },
                    IdChoice::Forged { click: 0 },
                    IdChoice::OtherShard { click: 0 },
                    IdChoice::Unknown { at },
                ],
                at,
            }),
            Request::Template {
                query: "x".repeat(600),
                at,
            },
        ]),
        Op::Crash(Crash::CorruptMiddle),
        Op::Flush,
    ];
    assert_eq!(script::decode(&script::encode(&ops)), ops);
}

#[test]
fn a_kill_keeps_what_was_flushed_and_a_torn_tail_takes_back_the_last_conversion() {
    let at = timestamp("2025-03-01T10:00:00Z");
    let later = timestamp("2025-03-01T12:00:00Z");
    let click = Op::Click(ClickSpec {
        program: 0,
        partner: 7,
        impression: false,
        at,
    });
    let convert = |order: u8, click: u8| {
        Op::Postback(Request::Built(PostbackSpec {
            key: 0,
            order,
            amount_minor: Some(100),
            currency: 0,
            payment: None,
            customer: None,
            ids: vec![IdChoice::Minted {
                click,
                upper: false,
            }],
            at: later,
        }))
    };
    let ops = vec![
        Op::RegisterProgram(ProgramSpec::standard()),
        click.clone(),
        click.clone(),
        Op::Flush,
        convert(1, 0),
        Op::Crash(Crash::Kill),
        convert(1, 0),
        convert(2, 1),
        Op::Crash(Crash::TornTail),
    ];
    let harness = Harness::run(&ops);
    let model = harness.model();
    assert_eq!(model.clicks.len(), 2, "flushed clicks survive a kill");
    assert_eq!(
        model.conversions.len(),
        1,
        "the torn conversion is taken back"
    );
    assert!(matches!(harness.answers.last(), Some(Answer::NoAnswer)));
}

/// Plays `case` through the harness and checks its expectations on what was played.
fn judge(case: &Case) -> Result<(), String> {
    let expectations = expectation::parse(&case.expect)?;
    let ops = ops_of(case)?;
    let played = panic::catch_unwind(AssertUnwindSafe(|| Harness::run(&ops).into_parts()))
        .map_err(|payload| run::panicked(&*payload))?;
    let ledger = played
        .ledger
        .ok_or("the case ends with a ledger that does not open")?;
    let replies = played
        .answers
        .into_iter()
        .map(|answer| match answer {
            Answer::Outcome(outcome) => run::Reply::Outcome(outcome),
            Answer::NoAnswer => run::Reply::NoAnswer,
        })
        .collect();
    let played =
        run::Played::from_parts(ledger, played.clicks, replies, played.restart, played.dir);
    let differences = check::check(&expectations, &played);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(differences.join("; "))
    }
}

/// The claim sequence of a case: programs `p1` and `p2` first; a click is flushed and a
/// postback synced before it is answered, as `tests/field_cases/run.rs` plays them; a
/// crash is followed by its restart.
fn ops_of(case: &Case) -> Result<Vec<Op>, String> {
    let mut ops = vec![
        Op::RegisterProgram(ProgramSpec::standard()),
        Op::RegisterProgram(ProgramSpec::standard()),
    ];
    let mut crashed = false;
    for event in &case.events {
        match event {
            Event::Click {
                program,
                partner,
                at,
            } => {
                let program = number_after(program, 'p')?
                    .checked_sub(1)
                    .ok_or("programs count from p1")?;
                let partner = number_after(partner, 'a')?;
                ops.push(Op::Click(ClickSpec {
                    program,
                    partner,
                    impression: false,
                    at: *at,
                }));
                ops.push(Op::Flush);
            }
            Event::Postback(postback) => {
                ops.push(Op::Postback(template_of(postback)));
                ops.push(Op::Sync);
            }
            Event::Concurrent(postbacks) => {
                ops.push(Op::Concurrent(postbacks.iter().map(template_of).collect()));
                ops.push(Op::Sync);
            }
            Event::Crash(kind) => {
                ops.push(Op::Crash(crash_of(*kind)));
                crashed = true;
            }
            Event::Restart if crashed => crashed = false,
            Event::Restart => ops.push(Op::Reopen),
        }
    }
    Ok(ops)
}

fn template_of(postback: &PostbackEvent) -> Request {
    Request::Template {
        query: postback.query.clone(),
        at: postback.at,
    }
}

fn crash_of(kind: CrashKind) -> Crash {
    match kind {
        CrashKind::Kill => Crash::Kill,
        CrashKind::PowerLoss => Crash::PowerLoss,
        CrashKind::TornTail => Crash::TornTail,
        CrashKind::ZeroTail => Crash::ZeroTail,
        CrashKind::CorruptMiddle => Crash::CorruptMiddle,
    }
}

/// `7` from `a7` when `prefix` is `a`.
fn number_after(name: &str, prefix: char) -> Result<u8, String> {
    name.strip_prefix(prefix)
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| format!("{name:?} is not {prefix}<number>"))
}

fn timestamp(text: &str) -> clickledger::Timestamp {
    clickledger::Timestamp::parse_rfc3339(text).unwrap()
}

fn read_cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/cases/field_cases.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            case::parse_line(line, index + 1)
                .unwrap_or_else(|bad| panic!("{}: {}", bad.label, bad.reason))
        })
        .collect()
}

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/claim_sequence")
}
