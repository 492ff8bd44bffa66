//! The cases file: one JSON object per line, turned into typed events.
//!
//! Everything here is test input. A malformed line is not a reason to panic: it becomes a
//! [`BadCase`] naming the case (or the line, when even the id is unreadable), and that
//! case fails with the reason.

use clickledger::{ClickId, Timestamp};
use serde_json::{Map, Value};

use crate::crash::CrashKind;

/// One scenario of `field_cases.jsonl`.
#[derive(Debug)]
pub struct Case {
    /// Such as `B02a`.
    pub id: String,
    /// The events, in the order they are played.
    pub events: Vec<Event>,
    /// The raw `expect` text, parsed by [`crate::expectation::parse`].
    pub expect: String,
}

/// One step of a scenario.
#[derive(Debug)]
pub enum Event {
    /// A click recorded for `program`'s partner `partner`.
    Click {
        /// The program's name, `p1` or `p2`.
        program: String,
        /// The partner's name, such as `a7`.
        partner: String,
        /// The click time.
        at: Timestamp,
    },
    /// A postback processed on its own.
    Postback(PostbackEvent),
    /// Postbacks started at once from as many threads.
    Concurrent(Vec<PostbackEvent>),
    /// The process dies in the way named.
    Crash(CrashKind),
    /// The ledger is opened again from its directory.
    Restart,
}

/// A postback as the case writes it, placeholders not yet replaced.
#[derive(Debug)]
pub struct PostbackEvent {
    /// The query string with `$cN`-style placeholders.
    pub query: String,
    /// When the server processes it.
    pub at: Timestamp,
}

/// A line that is not a well-formed case.
#[derive(Debug)]
pub struct BadCase {
    /// The case id, or `line N` when the id could not be read.
    pub label: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses one line of the file; `line_number` counts from 1.
pub fn parse_line(line: &str, line_number: usize) -> Result<Case, BadCase> {
    let label = format!("line {line_number}");
    let value: Value = serde_json::from_str(line).map_err(|error| BadCase {
        label: label.clone(),
        reason: format!("not JSON: {error}"),
    })?;
    let object = value.as_object().ok_or_else(|| BadCase {
        label: label.clone(),
        reason: "a case must be a JSON object".to_owned(),
    })?;
    let id = string_field(object, "id")
        .map_err(|reason| BadCase {
            label: label.clone(),
            reason,
        })?
        .to_owned();
    parse_body(object, &id).map_err(|reason| BadCase {
        label: id.clone(),
        reason,
    })
}

fn parse_body(object: &Map<String, Value>, id: &str) -> Result<Case, String> {
    let events = object
        .get("events")
        .and_then(Value::as_array)
        .ok_or("`events` must be an array")?
        .iter()
        .enumerate()
        .map(|(index, event)| {
            parse_event(event).map_err(|reason| format!("event {index}: {reason}"))
        })
        .collect::<Result<Vec<Event>, String>>()?;
    let expect = string_field(object, "expect")?.to_owned();
    Ok(Case {
        id: id.to_owned(),
        events,
        expect,
    })
}

fn parse_event(event: &Value) -> Result<Event, String> {
    let object = event.as_object().ok_or("an event must be a JSON object")?;
    if let Some(click) = object.get("click") {
        let click = click.as_object().ok_or("`click` must be an object")?;
        return Ok(Event::Click {
            program: string_field(click, "program")?.to_owned(),
            partner: string_field(click, "partner")?.to_owned(),
            at: time_field(click, "at")?,
        });
    }
    if object.contains_key("postback") {
        return parse_postback(object).map(Event::Postback);
    }
    if let Some(postbacks) = object.get("concurrent") {
        return parse_concurrent(postbacks);
    }
    if object.contains_key("crash") {
        let kind = string_field(object, "crash")?;
        return CrashKind::parse(kind)
            .map(Event::Crash)
            .ok_or_else(|| format!("unknown crash kind {kind:?}"));
    }
    if object.contains_key("restart") {
        return Ok(Event::Restart);
    }
    Err(format!("unknown event {event}"))
}

fn parse_concurrent(postbacks: &Value) -> Result<Event, String> {
    let postbacks = postbacks
        .as_array()
        .ok_or("`concurrent` must be an array")?;
    if postbacks.len() < 2 {
        return Err("`concurrent` needs at least two postbacks".to_owned());
    }
    postbacks
        .iter()
        .map(|postback| {
            let object = postback
                .as_object()
                .ok_or("a concurrent item must be an object")?;
            parse_postback(object)
        })
        .collect::<Result<Vec<PostbackEvent>, String>>()
        .map(Event::Concurrent)
}

fn parse_postback(object: &Map<String, Value>) -> Result<PostbackEvent, String> {
    Ok(PostbackEvent {
        query: string_field(object, "postback")?.to_owned(),
        at: time_field(object, "at")?,
    })
}

fn string_field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    object
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{name}` must be a string"))
}

fn time_field(object: &Map<String, Value>, name: &str) -> Result<Timestamp, String> {
    let text = string_field(object, name)?;
    Timestamp::parse_rfc3339(text).map_err(|error| format!("`{name}`: {error}"))
}

/// Replaces the click placeholders of a postback (or an expected value) by the IDs
/// minted so far: `$cN` by click N's canonical ID, `${cN}` likewise (so `${c0}0` is the
/// ID followed by a literal `0`), `${cN|upper}` by its upper-case form and
/// `${cN|drop_last}` by the ID without its last character.
///
/// `$cN` takes every digit that follows, so `$c10` is click 10, never click 1 then `0`.
/// A `$` that starts no placeholder is kept as it is.
pub fn substitute(text: &str, clicks: &[ClickId]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find('$') {
        out.push_str(&rest[..position]);
        rest = &rest[position..];
        let (replacement, consumed) = placeholder(rest, clicks)?;
        out.push_str(&replacement);
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The replacement for the placeholder at the start of `text` (which starts with `$`),
/// and how many bytes it spans.
fn placeholder(text: &str, clicks: &[ClickId]) -> Result<(String, usize), String> {
    if let Some(braced) = text.strip_prefix("${") {
        let end = braced
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
        let inner = &braced[..end];
        let (name, filter) = inner.split_once('|').unwrap_or((inner, ""));
        let id = click_by_name(name, clicks)?.to_string();
        let replacement = match filter {
            "" => id,
            "upper" => id.to_ascii_uppercase(),
            "drop_last" => id[..id.len() - 1].to_owned(),
            other => return Err(format!("unknown placeholder filter {other:?}")),
        };
        return Ok((replacement, "${".len() + end + "}".len()));
    }
    if let Some(after) = text.strip_prefix("$c") {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            let consumed = "$c".len() + digits;
            let id = click_by_name(&text[1..consumed], clicks)?;
            return Ok((id.to_string(), consumed));
        }
    }
    Ok(("$".to_owned(), 1))
}

/// The click named `cN`.
pub fn click_by_name(name: &str, clicks: &[ClickId]) -> Result<ClickId, String> {
    let index: usize = name
        .strip_prefix('c')
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| format!("{name:?} does not name a click (expected cN)"))?;
    clicks.get(index).copied().ok_or_else(|| {
        format!(
            "${name} is used but only {} click(s) were recorded before",
            clicks.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(count: u8) -> Vec<ClickId> {
        (0..count).map(|n| ClickId::from_bytes([n; 12])).collect()
    }

    #[test]
    fn placeholders_take_every_digit_and_apply_filters() {
        let clicks = ids(11);
        let ten = "0a".repeat(12);
        let one = "01".repeat(12);
        assert_eq!(
            substitute("cids=$c10", &clicks).unwrap(),
            format!("cids={ten}")
        );
        assert_eq!(
            substitute("$c1-$c10", &clicks).unwrap(),
            format!("{one}-{ten}")
        );
        assert_eq!(
            substitute("${c10|upper}", &clicks).unwrap(),
            ten.to_ascii_uppercase()
        );
        assert_eq!(substitute("${c1|drop_last}", &clicks).unwrap(), one[..23]);
        assert_eq!(substitute("${c1}0", &clicks).unwrap(), format!("{one}0"));
        assert_eq!(substitute("a$b$", &clicks).unwrap(), "a$b$");
    }

    #[test]
    fn placeholder_of_a_click_not_yet_recorded_is_an_error() {
        assert!(substitute("$c2", &ids(2)).is_err());
        assert!(substitute("${c0|lower}", &ids(2)).is_err());
    }
}
