//! The cases file: one JSON object per line, turned into typed events.
//!
//! Everything here is test input. A malformed line is not a reason to panic: it becomes a
//! [`BadCase`] naming the case (or the line, when even the id is unreadable), and that
//! case fails with the reason.

use clickledger::Timestamp;
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
