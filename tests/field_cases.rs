//! Field cases: what tracking teams met in production, replayed against the ledger.
//!
//! `shared/cases/field_cases.jsonl` holds scenarios of mangled click IDs, unfilled
//! macros, retries, races, money in odd formats and crashes, each with the answers and
//! the ledger state it must end in. This test proves that the ledger gives every
//! postback the stated answer and leaves exactly the stated claims and conversions.
//! Each case runs against a fresh ledger in a temporary directory, with programs `p1`
//! (key `pk1`) and `p2` (key `pk2`) registered with the default settings.
//!
//! Cases that crash the process run on a simulated disk under the log (see
//! `field_cases/crash.rs`), so `power_loss` drops exactly what was not synced. A case
//! that cannot be played as written is reported `pending` and fails the test, as does a
//! case whose `expect` uses a form this runner does not know: nothing is skipped.
//!
//! The file is `<crate>/../shared/cases/field_cases.jsonl`, or the one named by the
//! environment variable `CLICKLEDGER_CASES`. Run with `-- --nocapture` to see one line per
//! case.

// A test file is a crate root, so its modules are named by path to keep them beside it.
#[path = "field_cases/case.rs"]
mod case;
#[path = "field_cases/check.rs"]
mod check;
#[path = "field_cases/crash.rs"]
mod crash;
#[path = "field_cases/expectation.rs"]
mod expectation;
#[path = "field_cases/run.rs"]
mod run;
#[path = "field_cases/template.rs"]
mod template;

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use case::Case;
use run::Play;

/// Environment variable naming another cases file.
const CASES_ENV: &str = "CLICKLEDGER_CASES";

/// The verdict on one case.
enum Verdict {
    Pass,
    Fail(String),
    Pending(String),
}

#[test]
fn every_field_case_gets_its_expected_answers_and_state() {
    let (path, text) = read_cases();
    let mut failures = Vec::new();
    let (mut passed, mut pending) = (0, 0);

    for (index, line) in text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
    {
        let (label, verdict) = match case::parse_line(line, index + 1) {
            Ok(case) => (case.id.clone(), judge(&case)),
            Err(bad) => (
                bad.label,
                Verdict::Fail(format!("bad case: {}", bad.reason)),
            ),
        };
        match verdict {
            Verdict::Pass => {
                passed += 1;
                println!("{label} pass");
            }
            Verdict::Fail(reason) => {
                println!("{label} FAIL: {reason}");
                failures.push(format!("{label}: {reason}"));
            }
            Verdict::Pending(reason) => {
                pending += 1;
                println!("{label} pending: {reason}");
            }
        }
    }

    let failed = failures.len();
    println!("field cases: {passed} passed, {failed} failed, {pending} pending");
    assert!(
        passed + failed + pending > 0,
        "{} holds no cases",
        path.display()
    );
    assert_eq!(
        pending, 0,
        "{pending} field case(s) could not be played; every crash kind is simulated"
    );
    assert!(
        failures.is_empty(),
        "{failed} field case(s) failed:\n{}",
        failures.join("\n")
    );
}

/// Reads the cases file, failing with a message that says where it was looked for.
fn read_cases() -> (PathBuf, String) {
    let path = match std::env::var_os(CASES_ENV) {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/cases/field_cases.jsonl"),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => (path, text),
        Err(error) => panic!(
            "cannot read the field cases at {}: {error}. They live in shared/cases beside \
             the crate (CI always has them); set {CASES_ENV} to use another file.",
            path.display()
        ),
    }
}

/// Parses the expectations, plays the case and checks it. A panic in the engine fails
/// this case only, so one bug does not hide the verdicts on the others.
fn judge(case: &Case) -> Verdict {
    let expectations = match expectation::parse(&case.expect) {
        Ok(expectations) => expectations,
        Err(reason) => return Verdict::Fail(format!("expect: {reason}")),
    };
    let played = match panic::catch_unwind(AssertUnwindSafe(|| run::play(case))) {
        Ok(Play::Done(played)) => played,
        Ok(Play::Pending(reason)) => return Verdict::Pending(reason),
        Ok(Play::Failed(reason)) => return Verdict::Fail(reason),
        Err(payload) => return Verdict::Fail(run::panicked(&*payload)),
    };
    let differences =
        match panic::catch_unwind(AssertUnwindSafe(|| check::check(&expectations, &played))) {
            Ok(differences) => differences,
            Err(payload) => {
                return Verdict::Fail(format!("while checking: {}", run::panicked(&*payload)))
            }
        };
    if differences.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(differences.join("; "))
    }
}
