//! Checks what a case left against its expectations; each difference is one sentence.

use clickledger::{ClickId, Conversion, Outcome};
use serde_json::Value;

use crate::expectation::{Answered, Click, Expectation, Pb, RestartExpectation, StoredField};
use crate::run::{Played, Reply};
use crate::template;

/// Every expectation that does not hold, described.
pub fn check(expectations: &[Expectation], played: &Played) -> Vec<String> {
    expectations
        .iter()
        .filter_map(|expectation| check_one(expectation, played).err())
        .collect()
}

fn check_one(expectation: &Expectation, played: &Played) -> Result<(), String> {
    match expectation {
        Expectation::Answer { postback, answer } => expect_answer(played, *postback, answer),
        Expectation::AnswerIfDurable {
            postback,
            click,
            durable,
            lost,
        } => expect_answer_if_durable(played, *postback, *click, durable, lost),
        Expectation::NeverAttributedTo { postback, partner } => {
            expect_never_attributed_to(played, *postback, partner)
        }
        Expectation::Claimed { click, by } => expect_claimed(played, *click, *by),
        Expectation::Unclaimed { click } => expect_unclaimed(played, *click),
        Expectation::LedgerCount(expected) => {
            let found = played.ledger.stats().conversions;
            require(found == *expected, || {
                format!("ledger_count: expected {expected}, found {found}")
            })
        }
        Expectation::Stored {
            postback,
            field,
            value,
        } => expect_stored(played, *postback, *field, value),
        Expectation::Attributed { postback, partner } => {
            let found = read_conversion(played, *postback, |found| found.partner.clone())?;
            require(found == *partner, || {
                format!("attributed({postback}): expected {partner}, found {found}")
            })
        }
        Expectation::Distinct(first, second) => {
            let (a, b) = (click_id(played, *first)?, click_id(played, *second)?);
            require(a != b, || {
                format!("{first} and {second} are the same ID {a}")
            })
        }
        Expectation::OneOf {
            postbacks,
            winner,
            other,
        } => expect_one_of(played, *postbacks, winner, other),
        Expectation::Restart(expected) => expect_restart(played, *expected),
    }
}

fn require(holds: bool, difference: impl FnOnce() -> String) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(difference())
    }
}

fn expect_answer(played: &Played, postback: Pb, expected: &Answered) -> Result<(), String> {
    let found = reply_of(played, postback)?;
    let holds = answers_as(played, found, expected, None)?;
    require(holds, || {
        format!("{postback}: expected {expected}, got {}", describe(found))
    })
}

/// Durable means the ledger still knows the click at the end of the case.
fn expect_answer_if_durable(
    played: &Played,
    postback: Pb,
    click: Click,
    durable: &Answered,
    lost: &Answered,
) -> Result<(), String> {
    let known = played.ledger.click(&click_id(played, click)?).is_some();
    let (expected, state) = if known {
        (durable, "durable")
    } else {
        (lost, "lost")
    };
    expect_answer(played, postback, expected)
        .map_err(|difference| format!("{difference} (click {click} was {state})"))
}

fn expect_never_attributed_to(played: &Played, postback: Pb, partner: &str) -> Result<(), String> {
    match conversion(reply_of(played, postback)?) {
        Some(found) if found.partner == partner => Err(format!(
            "{postback} was attributed to {partner}, which it must never be"
        )),
        _ => Ok(()),
    }
}

/// Whether `found` is the answer `expected`; `winner` resolves a bare `replay`.
fn answers_as(
    played: &Played,
    found: &Reply,
    expected: &Answered,
    winner: Option<Pb>,
) -> Result<bool, String> {
    Ok(match (expected, found) {
        (Answered::Accepted, Reply::Outcome(Outcome::Accepted(_))) => true,
        (Answered::Replay(original), Reply::Outcome(Outcome::Replayed(replayed))) => {
            let original = original.or(winner).ok_or("a bare replay outside one_of")?;
            replayed.id == read_conversion(played, original, |conversion| conversion.id)?
        }
        (Answered::Rejected(code), Reply::Outcome(Outcome::Rejected(rejection))) => {
            rejection.reason.code() == *code
        }
        (Answered::NoAnswer, Reply::NoAnswer) => true,
        _ => false,
    })
}

fn expect_one_of(
    played: &Played,
    [first, second]: [Pb; 2],
    winner: &Answered,
    other: &Answered,
) -> Result<(), String> {
    let (first_answer, second_answer) = (reply_of(played, first)?, reply_of(played, second)?);
    let orders = [
        (first, first_answer, second_answer),
        (second, second_answer, first_answer),
    ];
    let holds = orders
        .iter()
        .any(|(winner_pb, winner_answer, other_answer)| {
            answers_as(played, winner_answer, winner, None).unwrap_or(false)
                && answers_as(played, other_answer, other, Some(*winner_pb)).unwrap_or(false)
        });
    require(holds, || {
        format!(
            "one_of({first},{second}): expected one {winner} and the other {other}; \
             got {first} {} and {second} {}",
            describe(first_answer),
            describe(second_answer)
        )
    })
}

fn expect_claimed(played: &Played, click: Click, by: Pb) -> Result<(), String> {
    let expected = read_conversion(played, by, |conversion| conversion.id)?;
    match played.ledger.claimed_by(&click_id(played, click)?) {
        Some(found) if found.id == expected => Ok(()),
        Some(found) => Err(format!(
            "claimed({click}): expected {by}'s conversion {expected}, found conversion {}",
            found.id
        )),
        None => Err(format!(
            "claimed({click}): expected {by}'s conversion {expected}, found unclaimed"
        )),
    }
}

fn expect_unclaimed(played: &Played, click: Click) -> Result<(), String> {
    match played.ledger.claimed_by(&click_id(played, click)?) {
        None => Ok(()),
        Some(found) => Err(format!(
            "{click} should be unclaimed; conversion {} holds it",
            found.id
        )),
    }
}

/// Checks the conversion as the ledger stores it, not merely as the postback was answered.
fn expect_stored(
    played: &Played,
    postback: Pb,
    field: StoredField,
    value: &str,
) -> Result<(), String> {
    let label = format!("stored({postback}).{}", field.name());
    let answered = conversion(reply_of(played, postback)?).ok_or_else(|| {
        let found = describe(&played.replies[postback.0]);
        format!("{label}: {postback} got {found}, so nothing was stored")
    })?;
    let stored = played
        .ledger
        .conversions(answered.program)
        .into_iter()
        .find(|stored| stored.id == answered.id)
        .ok_or_else(|| {
            format!(
                "{label}: conversion {} is not among the stored ones",
                answered.id
            )
        })?;
    let expected = expected_value(field, &template::substitute(value, &played.clicks)?)
        .map_err(|reason| format!("{label}: {reason}"))?;
    let found = stored_value(&stored, field);
    require(found == expected, || {
        format!("{label}: expected {expected}, found {found}")
    })
}

fn expected_value(field: StoredField, text: &str) -> Result<Value, String> {
    if field.is_list() {
        let value: Value =
            serde_json::from_str(text).map_err(|error| format!("{text:?}: {error}"))?;
        return if value.is_array() {
            Ok(value)
        } else {
            Err(format!("{text:?} is not a JSON array"))
        };
    }
    Ok(Value::String(text.to_owned()))
}

/// A stored field as JSON: lists as arrays of strings, everything else as a string.
fn stored_value(stored: &Conversion, field: StoredField) -> Value {
    let optional = |text: Option<&str>| Value::String(text.unwrap_or("none").to_owned());
    let list = |items: Vec<String>| Value::Array(items.into_iter().map(Value::String).collect());
    match field {
        StoredField::AmountMinor => optional(
            stored
                .order
                .amount_minor
                .map(|minor| minor.to_string())
                .as_deref(),
        ),
        StoredField::Currency => Value::String(stored.order.currency.code().to_owned()),
        StoredField::OrderId => Value::String(stored.order.order_id.clone()),
        StoredField::Payment => optional(stored.order.payment.map(|payment| payment.as_str())),
        StoredField::Customer => optional(stored.order.customer.as_deref()),
        StoredField::Cv => optional(stored.order.cv.as_deref()),
        StoredField::Vouchers => list(stored.order.vouchers.clone()),
        StoredField::Products => list(stored.order.products.clone()),
        StoredField::Partner => Value::String(stored.partner.clone()),
        StoredField::AttributedClick => Value::String(stored.attributed_click.to_string()),
        StoredField::Claimed => list(stored.claimed.iter().map(ClickId::to_string).collect()),
    }
}

fn expect_restart(played: &Played, expected: RestartExpectation) -> Result<(), String> {
    let report = played
        .restart
        .as_ref()
        .ok_or("restart expected, but the case never restarted")?;
    let torn = &report.torn_tail;
    match expected {
        RestartExpectation::Ok => require(torn.is_none(), || {
            format!("restart=ok, but it cut {torn:?}")
        }),
        RestartExpectation::OkWithTornTailReported => require(torn.is_some(), || {
            "restart=ok_with_torn_tail_reported, but no tail was cut".to_owned()
        }),
    }
}

fn reply_of(played: &Played, postback: Pb) -> Result<&Reply, String> {
    played.replies.get(postback.0).ok_or_else(|| {
        format!(
            "{postback} does not exist: the case sent {} postback(s)",
            played.replies.len()
        )
    })
}

fn click_id(played: &Played, click: Click) -> Result<ClickId, String> {
    played.clicks.get(click.0).copied().ok_or_else(|| {
        format!(
            "{click} does not exist: the case recorded {} click(s)",
            played.clicks.len()
        )
    })
}

fn conversion(answer: &Reply) -> Option<&Conversion> {
    match answer {
        Reply::Outcome(outcome) => outcome.conversion(),
        Reply::NoAnswer | Reply::Failed(_) => None,
    }
}

/// Reads a field of `postback`'s conversion; an error when it got none.
fn read_conversion<T>(
    played: &Played,
    postback: Pb,
    read: impl FnOnce(&Conversion) -> T,
) -> Result<T, String> {
    let found = reply_of(played, postback)?;
    conversion(found).map(read).ok_or_else(|| {
        format!(
            "{postback} got {}, so it has no conversion",
            describe(found)
        )
    })
}

/// An answer in a sentence, with the engine's own wording for rejections.
pub fn describe(answer: &Reply) -> String {
    match answer {
        Reply::Outcome(Outcome::Accepted(conversion)) => {
            format!(
                "accepted as conversion {} (partner {})",
                conversion.id, conversion.partner
            )
        }
        Reply::Outcome(Outcome::Replayed(conversion)) => {
            format!("replay of conversion {}", conversion.id)
        }
        Reply::Outcome(Outcome::Rejected(rejection)) => {
            format!(
                "rejected:{} ({})",
                rejection.reason.code(),
                rejection.reason
            )
        }
        Reply::NoAnswer => "no answer".to_owned(),
        Reply::Failed(error) => format!("error: {error}"),
    }
}
