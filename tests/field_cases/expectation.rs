//! The `expect` language of the field cases, parsed into [`Expectation`]s.
//!
//! Parsing is kept apart from checking so that a form the runner does not know is an
//! error that fails its case, never an expectation silently ignored.

use std::fmt;

/// A postback by position: `pb1` is index 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pb(pub usize);

impl fmt::Display for Pb {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "pb{}", self.0 + 1)
    }
}

/// A click by position: `$c0` is index 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Click(pub usize);

impl fmt::Display for Click {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "$c{}", self.0)
    }
}

/// The answer a postback should get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answered {
    /// `accepted`: a new conversion.
    Accepted,
    /// `replay(pbM)`: pbM's conversion comes back flagged as a replay. `None` only after
    /// `other=` in a `one_of`, where it means the winner's conversion.
    Replay(Option<Pb>),
    /// `rejected:<code>`, compared with `RejectReason::code`.
    Rejected(String),
    /// `no_answer`: the process died before answering.
    NoAnswer,
}

impl fmt::Display for Answered {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answered::Accepted => formatter.write_str("accepted"),
            Answered::Replay(Some(original)) => write!(formatter, "replay({original})"),
            Answered::Replay(None) => formatter.write_str("replay"),
            Answered::Rejected(code) => write!(formatter, "rejected:{code}"),
            Answered::NoAnswer => formatter.write_str("no_answer"),
        }
    }
}

/// A field of a stored conversion, as `stored(pbN).<field>` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredField {
    AmountMinor,
    Currency,
    OrderId,
    Payment,
    Customer,
    Cv,
    Vouchers,
    Products,
    Partner,
    AttributedClick,
    Claimed,
}

impl StoredField {
    const ALL: [StoredField; 11] = [
        StoredField::AmountMinor,
        StoredField::Currency,
        StoredField::OrderId,
        StoredField::Payment,
        StoredField::Customer,
        StoredField::Cv,
        StoredField::Vouchers,
        StoredField::Products,
        StoredField::Partner,
        StoredField::AttributedClick,
        StoredField::Claimed,
    ];

    /// The name used in cases, which is the `Conversion` field's name.
    pub fn name(self) -> &'static str {
        match self {
            StoredField::AmountMinor => "amount_minor",
            StoredField::Currency => "currency",
            StoredField::OrderId => "order_id",
            StoredField::Payment => "payment",
            StoredField::Customer => "customer",
            StoredField::Cv => "cv",
            StoredField::Vouchers => "vouchers",
            StoredField::Products => "products",
            StoredField::Partner => "partner",
            StoredField::AttributedClick => "attributed_click",
            StoredField::Claimed => "claimed",
        }
    }

    /// Lists compare as JSON arrays of strings; the other fields as plain text.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            StoredField::Vouchers | StoredField::Products | StoredField::Claimed
        )
    }

    fn parse(name: &str) -> Result<StoredField, String> {
        StoredField::ALL
            .into_iter()
            .find(|field| field.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = StoredField::ALL.iter().map(|field| field.name()).collect();
                format!(
                    "unknown stored field {name:?} (known: {})",
                    known.join(", ")
                )
            })
    }
}

/// What `restart=` says about reopening after a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartExpectation {
    /// `ok`: the ledger opened and reported no damage.
    Ok,
    /// `ok_with_torn_tail_reported`: it opened and reported the tail it cut.
    OkWithTornTailReported,
}

/// One checkable statement of a case's `expect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// `pbN=<answer>`.
    Answer { postback: Pb, answer: Answered },
    /// `pbN=<answer> if click cK was durable else <answer>`: durable means the ledger
    /// still knows the click at the end of the case.
    AnswerIfDurable {
        postback: Pb,
        click: Click,
        durable: Answered,
        lost: Answered,
    },
    /// `pbN never attributed to <partner>`.
    NeverAttributedTo { postback: Pb, partner: String },
    /// `claimed($cN)=pbM`.
    Claimed { click: Click, by: Pb },
    /// `unclaimed($cN)`.
    Unclaimed { click: Click },
    /// `ledger_count=N`: conversions registered.
    LedgerCount(u64),
    /// `stored(pbN).<field>=<value>`; the value may name clicks (`$cN`).
    Stored {
        postback: Pb,
        field: StoredField,
        value: String,
    },
    /// `attributed(pbN)=<partner>`.
    Attributed { postback: Pb, partner: String },
    /// `distinct($cA,$cB)`: two mints gave two IDs.
    Distinct(Click, Click),
    /// `one_of(pbA,pbB)=<answer>; other=<answer>`, for postbacks raced in either order.
    OneOf {
        postbacks: [Pb; 2],
        winner: Answered,
        other: Answered,
    },
    /// `restart=...`.
    Restart(RestartExpectation),
}

/// Reason codes of the cases' vocabulary that name no parameter.
const REASONS: [&str; 9] = [
    "bad_key",
    "unknown_click",
    "wrong_program",
    "already_claimed",
    "duplicate_click_in_request",
    "too_many_click_ids",
    "click_expired",
    "click_in_future",
    "conflicting_retry",
];

/// Reason codes that are followed by `:<param>`.
const PARAM_REASONS: [&str; 3] = ["invalid", "missing", "duplicate_param"];

/// Parses a whole `expect` text. An empty one is an error: it would prove nothing.
pub fn parse(expect: &str) -> Result<Vec<Expectation>, String> {
    let mut items = split_items(expect).into_iter();
    let mut expectations = Vec::new();
    while let Some(item) = items.next() {
        let expectation = if item.starts_with("one_of(") {
            let other = items.next().and_then(|next| next.strip_prefix("other="));
            let other = other.ok_or_else(|| format!("{item:?} must be followed by other=..."))?;
            parse_one_of(item, other)?
        } else {
            parse_item(item)?
        };
        expectations.push(expectation);
    }
    if expectations.is_empty() {
        return Err("`expect` states nothing".to_owned());
    }
    Ok(expectations)
}

/// Splits on `;` outside brackets and quotes, so a stored list value may hold `;`.
fn split_items(expect: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (position, character) in expect.char_indices() {
        match character {
            '"' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            ';' if !quoted && depth == 0 => {
                items.push(&expect[start..position]);
                start = position + 1;
            }
            _ => {}
        }
    }
    items.push(&expect[start..]);
    items
        .into_iter()
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

fn parse_item(item: &str) -> Result<Expectation, String> {
    if let Some(count) = item.strip_prefix("ledger_count=") {
        let count = count
            .parse()
            .map_err(|_| format!("{item:?}: count is not a number"))?;
        return Ok(Expectation::LedgerCount(count));
    }
    if let Some(state) = item.strip_prefix("restart=") {
        return parse_restart(state).map(Expectation::Restart);
    }
    if let Some((name, inner, tail)) = split_call(item) {
        return parse_call(name, inner, tail).map_err(|reason| format!("{item:?}: {reason}"));
    }
    if item.starts_with("pb") {
        return parse_postback_item(item).map_err(|reason| format!("{item:?}: {reason}"));
    }
    Err(format!("unknown expectation form {item:?}"))
}

/// Splits `name(inner)tail`, where `name` is a lower-case identifier.
fn split_call(item: &str) -> Option<(&str, &str, &str)> {
    let (name, rest) = item.split_once('(')?;
    let is_name = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'_');
    let (inner, tail) = rest.split_once(')')?;
    is_name.then_some((name, inner, tail))
}

fn parse_call(name: &str, inner: &str, tail: &str) -> Result<Expectation, String> {
    match (name, tail) {
        ("unclaimed", "") => Ok(Expectation::Unclaimed {
            click: parse_click(inner)?,
        }),
        ("distinct", "") => {
            let (first, second) = inner.split_once(',').ok_or("expected two clicks")?;
            Ok(Expectation::Distinct(
                parse_click(first)?,
                parse_click(second)?,
            ))
        }
        ("claimed", _) => {
            let by = tail
                .strip_prefix('=')
                .ok_or("expected =pbM after claimed(...)")?;
            Ok(Expectation::Claimed {
                click: parse_click(inner)?,
                by: parse_pb(by)?,
            })
        }
        ("attributed", _) => {
            let partner = tail.strip_prefix('=').ok_or("expected =partner")?;
            Ok(Expectation::Attributed {
                postback: parse_pb(inner)?,
                partner: parse_partner(partner)?,
            })
        }
        ("stored", _) => {
            let (field, value) = tail
                .strip_prefix('.')
                .and_then(|assignment| assignment.split_once('='))
                .ok_or("expected stored(pbN).field=value")?;
            let field = StoredField::parse(field)?;
            Ok(Expectation::Stored {
                postback: parse_pb(inner)?,
                field,
                value: value.to_owned(),
            })
        }
        _ => Err(format!("unknown expectation form {name}(...){tail}")),
    }
}

fn parse_one_of(item: &str, other: &str) -> Result<Expectation, String> {
    let (_, inner, tail) = split_call(item).ok_or_else(|| format!("{item:?}: bad one_of"))?;
    let (first, second) = inner
        .split_once(',')
        .ok_or_else(|| format!("{item:?}: two postbacks"))?;
    let winner = tail
        .strip_prefix('=')
        .ok_or_else(|| format!("{item:?}: expected =answer"))?;
    let winner = parse_answer(winner)?;
    if winner == Answered::Replay(None) {
        return Err(format!("{item:?}: the winner cannot be a replay of itself"));
    }
    Ok(Expectation::OneOf {
        postbacks: [parse_pb(first)?, parse_pb(second)?],
        winner,
        other: parse_answer(other)?,
    })
}

/// `pbN=...`, `pbN=... if click cK was durable else ...`, `pbN never attributed to P`.
fn parse_postback_item(item: &str) -> Result<Expectation, String> {
    if let Some((postback, partner)) = item.split_once(" never attributed to ") {
        return Ok(Expectation::NeverAttributedTo {
            postback: parse_pb(postback)?,
            partner: parse_partner(partner)?,
        });
    }
    let (postback, answer) = item
        .split_once('=')
        .ok_or("unknown expectation form (expected pbN=answer or pbN never attributed to P)")?;
    let postback = parse_pb(postback)?;
    if let Some((durable, condition)) = answer.split_once(" if ") {
        let (click, lost) = condition
            .strip_prefix("click ")
            .and_then(|rest| rest.split_once(" was durable else "))
            .ok_or("expected `if click cK was durable else <answer>`")?;
        return Ok(Expectation::AnswerIfDurable {
            postback,
            click: parse_click(click)?,
            durable: parse_target_answer(durable)?,
            lost: parse_target_answer(lost)?,
        });
    }
    Ok(Expectation::Answer {
        postback,
        answer: parse_target_answer(answer)?,
    })
}

/// An answer outside `one_of`, where a replay must name its original.
fn parse_target_answer(text: &str) -> Result<Answered, String> {
    let answer = parse_answer(text)?;
    if answer == Answered::Replay(None) {
        return Err("a replay must name its original: replay(pbM)".to_owned());
    }
    Ok(answer)
}

fn parse_answer(text: &str) -> Result<Answered, String> {
    match text.trim() {
        "accepted" => Ok(Answered::Accepted),
        "no_answer" => Ok(Answered::NoAnswer),
        "replay" => Ok(Answered::Replay(None)),
        other => {
            if let Some(original) = other
                .strip_prefix("replay(")
                .and_then(|rest| rest.strip_suffix(')'))
            {
                return Ok(Answered::Replay(Some(parse_pb(original)?)));
            }
            let code = other
                .strip_prefix("rejected:")
                .ok_or_else(|| format!("unknown answer {other:?}"))?;
            check_reason(code)?;
            Ok(Answered::Rejected(code.to_owned()))
        }
    }
}

/// Refuses codes outside the README's vocabulary, so a typo cannot pass unnoticed.
fn check_reason(code: &str) -> Result<(), String> {
    let known = match code.split_once(':') {
        Some((kind, param)) => {
            PARAM_REASONS.contains(&kind)
                && !param.is_empty()
                && param
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
        }
        None => REASONS.contains(&code),
    };
    if known {
        Ok(())
    } else {
        Err(format!("unknown reject reason {code:?}"))
    }
}

fn parse_restart(state: &str) -> Result<RestartExpectation, String> {
    match state {
        "ok" => Ok(RestartExpectation::Ok),
        "ok_with_torn_tail_reported" => Ok(RestartExpectation::OkWithTornTailReported),
        other => Err(format!("unknown restart expectation {other:?}")),
    }
}

fn parse_pb(text: &str) -> Result<Pb, String> {
    match text
        .trim()
        .strip_prefix("pb")
        .and_then(|digits| digits.parse::<usize>().ok())
    {
        Some(number) if number >= 1 => Ok(Pb(number - 1)),
        _ => Err(format!("{text:?} does not name a postback (pb1, pb2, ...)")),
    }
}

/// `$cN`, or `cN` as the conditional form writes it.
fn parse_click(text: &str) -> Result<Click, String> {
    let text = text.trim();
    let name = text.strip_prefix('$').unwrap_or(text);
    name.strip_prefix('c')
        .and_then(|digits| digits.parse().ok())
        .map(Click)
        .ok_or_else(|| format!("{text:?} does not name a click ($c0, $c1, ...)"))
}

fn parse_partner(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.contains(char::is_whitespace) {
        return Err(format!("{text:?} is not a partner name"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form_parses() {
        let expect = "pb1=accepted; pb2=replay(pb1); pb3=rejected:invalid:cids; pb4=no_answer; \
            claimed($c0)=pb1; unclaimed($c1); ledger_count=2; stored(pb1).vouchers=[\"A;B\"]; \
            attributed(pb1)=a8; distinct($c0,$c1); one_of(pb1,pb2)=accepted; other=replay; \
            restart=ok_with_torn_tail_reported; \
            pb2=accepted if click c0 was durable else rejected:unknown_click; \
            pb2 never attributed to a8";
        let expectations = parse(expect).unwrap();
        assert_eq!(expectations.len(), 14);
        assert_eq!(
            expectations[7],
            Expectation::Stored {
                postback: Pb(0),
                field: StoredField::Vouchers,
                value: "[\"A;B\"]".to_owned()
            }
        );
        assert_eq!(
            expectations[10],
            Expectation::OneOf {
                postbacks: [Pb(0), Pb(1)],
                winner: Answered::Accepted,
                other: Answered::Replay(None)
            }
        );
    }

    #[test]
    fn unknown_forms_are_errors() {
        for expect in [
            "pb1=acepted",
            "pb1=rejected:unknown_clik",
            "pb1=replay",
            "serial_order; if pb1=accepted : pb2=replay(pb1)",
            "one_of(pb1,pb2)=accepted",
            "stored(pb1).colour=red",
            "claimed(c0)",
            "",
        ] {
            assert!(parse(expect).is_err(), "{expect:?} should not parse");
        }
    }
}
