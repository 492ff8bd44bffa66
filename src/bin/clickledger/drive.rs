//! Drives a ledger with a workload's events in time order and counts the outcomes.
//!
//! `replay` and `simulate` differ only in where their [`Workload`] comes from; both hand it
//! to [`run`]. Every click is recorded at its time; every conversion is posted back at its
//! time, then probed three ways to exercise the ledger's deduplication:
//!
//! 1. the same postback again: must come back replayed;
//! 2. a new order id carrying the same click ID: must be rejected `already_claimed`;
//! 3. a new order id carrying the ID with its tag altered: must be rejected
//!    `unknown_click` with the verdict `forged`.
//!
//! Postbacks travel as an advertiser's server sends them: each is built as a
//! [`Postback`], encoded with [`Postback::to_query`] and applied with
//! `Ledger::convert_query`, so the encoder and the parser are exercised too.
//!
//! Whatever the ledger answers is counted in a [`Tally`]; an answer that differs from the
//! expected one is also counted as unexpected and logged (the first few in detail).

use std::collections::{BTreeMap, HashMap};

use clickledger::{
    ClickId, ClickKind, Currency, Ledger, LedgerError, NewProgram, Order, Outcome, Postback,
    ProgramSettings, RejectReason, Timestamp, Verdict,
};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::error::CliError;

/// The ledger is synced after this many events, so that a crash of a long replay loses at
/// most this much buffered work; the final sync happens in the caller. 2^18 events are
/// about 8 MiB of log at the engine's 32-byte-per-click goal.
const SYNC_EVERY_EVENTS: u64 = 1 << 18;

/// The progress bar is advanced in steps of this many events: one atomic add per event
/// would cost more than recording a click.
const PROGRESS_STEP_EVENTS: u64 = 4_096;

/// Unexpected outcomes beyond this many are counted but not logged one by one.
const UNEXPECTED_LOGGED_MAX: u64 = 10;

/// Currency of every made-up conversion amount.
const CURRENCY_CODE: &str = "EUR";

/// One click of a workload.
///
/// 16 bytes: a run of N rows holds N of these plus about N [`Scheduled`] events (12 bytes
/// each) in memory, 28 bytes per row. The 185 million rows of TalkingData's full
/// `train.csv` would need about 5 GiB; programs and partners are limited to 65,536 each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Click {
    /// When the click happened.
    pub at: Timestamp,
    /// Index into [`Workload::programs`].
    pub program: u16,
    /// Index into [`Workload::partners`].
    pub partner: u16,
    /// When the click's conversion is posted back, if it converts; never before `at`.
    pub converts_at: Option<Timestamp>,
}

/// Everything a run records: program and partner names, and the clicks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Workload {
    /// Program names, registered in this order.
    pub programs: Vec<String>,
    /// Partner names.
    pub partners: Vec<String>,
    /// The clicks; row `n` (0-based) has order id `<order_prefix>-<n + 1>`.
    pub clicks: Vec<Click>,
    /// Prefix of the made-up order ids (`td`, `sim`).
    pub order_prefix: &'static str,
}

impl Workload {
    /// How many clicks convert: the number of accepted conversions a correct ledger gives.
    pub fn conversions(&self) -> u64 {
        self.clicks
            .iter()
            .filter(|click| click.converts_at.is_some())
            .count() as u64
    }
}

/// What happens to one row of the workload at one time.
///
/// The variant order is the order of events in the same second: a click is recorded
/// before any postback of that second, so a postback never precedes its own click.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Event {
    /// Record the click of this row.
    Click {
        /// Row index in [`Workload::clicks`].
        row: u32,
    },
    /// Post back this row's conversion, then probe deduplication.
    Conversion {
        /// Row index in [`Workload::clicks`].
        row: u32,
    },
}

/// An event and its time; sorting a list of these gives the order of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Scheduled {
    /// When it happens.
    pub at: Timestamp,
    /// What happens.
    pub event: Event,
}

/// Every event of a workload in the order the run applies them: by time, clicks before
/// postbacks in the same second, then by row.
pub(crate) fn schedule(clicks: &[Click]) -> Result<Vec<Scheduled>, CliError> {
    let conversions = clicks
        .iter()
        .filter(|click| click.converts_at.is_some())
        .count();
    let mut events = Vec::new();
    CliError::reserve(&mut events, clicks.len() + conversions, "events")?;
    for (row, click) in (0u32..).zip(clicks) {
        assert!(
            click.converts_at.is_none_or(|at| at >= click.at),
            "row {row} converts early"
        );
        events.push(Scheduled {
            at: click.at,
            event: Event::Click { row },
        });
        if let Some(at) = click.converts_at {
            events.push(Scheduled {
                at,
                event: Event::Conversion { row },
            });
        }
    }
    // Keys are unique (a row has one click and at most one conversion): unstable is exact.
    events.sort_unstable();
    Ok(events)
}

/// The counts of a run, by what the ledger answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Tally {
    /// Clicks recorded.
    pub clicks: u64,
    /// Postbacks sent (four per conversion).
    pub postbacks: u64,
    /// Postbacks accepted.
    pub accepted: u64,
    /// Postbacks answered as replays.
    pub replayed: u64,
    /// Postbacks rejected, by [`RejectReason::code`].
    pub rejected: BTreeMap<String, u64>,
    /// Click IDs given the verdict `forged`, over all postbacks.
    pub forged: u64,
    /// Answers that differ from the one the probe expects.
    pub unexpected: u64,
}

impl Tally {
    /// Rejections with the given reason code.
    pub fn rejected_with(&self, code: &str) -> u64 {
        self.rejected.get(code).copied().unwrap_or(0)
    }

    fn count(&mut self, outcome: &Outcome) {
        self.postbacks += 1;
        match outcome {
            Outcome::Accepted(_) => self.accepted += 1,
            Outcome::Replayed(_) => self.replayed += 1,
            Outcome::Rejected(rejection) => {
                *self.rejected.entry(rejection.reason.code()).or_insert(0) += 1;
            }
        }
        let forged = outcome
            .verdicts()
            .iter()
            .filter(|id| id.verdict == Verdict::Forged);
        self.forged += forged.count() as u64;
    }
}

/// Registers the workload's programs in a ledger, in order, with generated keys.
pub(crate) fn register_programs(
    ledger: &Ledger,
    workload: &Workload,
) -> Result<Vec<NewProgram>, LedgerError> {
    let programs = workload.programs.iter();
    programs
        .map(|name| ledger.register_program(ProgramSettings::new(name)))
        .collect()
}

/// Applies every scheduled event to the ledger and counts the answers.
///
/// `programs` are the workload's programs as registered, by index. `Err` only when the
/// ledger fails (I/O); answers the probes did not expect are counted, not errors.
pub(crate) fn run(
    ledger: &Ledger,
    workload: &Workload,
    programs: &[NewProgram],
    events: &[Scheduled],
    progress: &ProgressBar,
) -> Result<Tally, LedgerError> {
    assert_eq!(
        programs.len(),
        workload.programs.len(),
        "every program is registered"
    );
    let currency = Currency::parse(CURRENCY_CODE).expect("EUR is a currency with cents");
    let mut driver = Driver {
        ledger,
        workload,
        programs,
        currency,
        minted: HashMap::new(),
    };
    let mut tally = Tally::default();
    for (done, scheduled) in (1u64..).zip(events) {
        driver.apply(scheduled, &mut tally)?;
        if done % PROGRESS_STEP_EVENTS == 0 {
            progress.inc(PROGRESS_STEP_EVENTS);
        }
        if done % SYNC_EVERY_EVENTS == 0 {
            ledger.sync()?;
        }
    }
    progress.set_position(events.len() as u64);
    debug_assert!(driver.minted.is_empty(), "every conversion was posted back");
    Ok(tally)
}

/// The state of a run between events.
struct Driver<'run> {
    ledger: &'run Ledger,
    workload: &'run Workload,
    programs: &'run [NewProgram],
    /// The currency of every conversion.
    currency: Currency,
    /// IDs minted for converting clicks whose postback is still to come, by row.
    minted: HashMap<u32, ClickId>,
}

/// One of the four postbacks sent for a conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// The conversion itself: must be accepted.
    Original,
    /// The same postback again: must be a replay.
    Retry,
    /// Another order with the same click ID: must be rejected `already_claimed`.
    SecondOrder,
    /// Another order with the ID's tag altered: must be rejected `unknown_click`, forged.
    ForgedId,
}

impl Driver<'_> {
    fn apply(&mut self, scheduled: &Scheduled, tally: &mut Tally) -> Result<(), LedgerError> {
        match scheduled.event {
            Event::Click { row } => self.click(row, scheduled.at, tally),
            Event::Conversion { row } => self.convert(row, scheduled.at, tally),
        }
    }

    fn click(&mut self, row: u32, at: Timestamp, tally: &mut Tally) -> Result<(), LedgerError> {
        let click = &self.workload.clicks[row as usize];
        let program = self.programs[usize::from(click.program)].id;
        let partner = &self.workload.partners[usize::from(click.partner)];
        let id = self
            .ledger
            .record_click(program, partner, ClickKind::Click, at)?;
        tally.clicks += 1;
        if click.converts_at.is_some() {
            self.minted.insert(row, id);
        }
        Ok(())
    }

    fn convert(&mut self, row: u32, at: Timestamp, tally: &mut Tally) -> Result<(), LedgerError> {
        // The schedule puts a row's click before its conversion, so the ID is there.
        let id = self
            .minted
            .remove(&row)
            .expect("a conversion follows its click");
        let click = &self.workload.clicks[row as usize];
        let key = &self.programs[usize::from(click.program)].key;
        let order = format!("{}-{}", self.workload.order_prefix, u64::from(row) + 1);
        let amount_minor = Some(amount_minor(row));
        let original = Postback {
            key: key.clone(),
            order: Order {
                amount_minor,
                ..Order::new(&order, self.currency)
            },
            click_ids: vec![id],
            ignored_params: Vec::new(),
        };
        let second_order = Postback {
            order: Order {
                amount_minor,
                ..Order::new(&format!("{order}-again"), self.currency)
            },
            ..original.clone()
        };
        let forged = Postback {
            order: Order {
                amount_minor,
                ..Order::new(&format!("{order}-forged"), self.currency)
            },
            click_ids: vec![forge(&id)],
            ..original.clone()
        };
        let postbacks = [
            (Probe::Original, &original),
            (Probe::Retry, &original),
            (Probe::SecondOrder, &second_order),
            (Probe::ForgedId, &forged),
        ];
        for (probe, postback) in postbacks {
            let outcome = self.ledger.convert_query(&postback.to_query(), at)?;
            tally.count(&outcome);
            if !probe.expects(&outcome) {
                tally.unexpected += 1;
                report_unexpected(tally.unexpected, probe, postback, &outcome);
            }
        }
        Ok(())
    }
}

impl Probe {
    /// True when `outcome` is the answer a correct ledger gives to this probe.
    fn expects(self, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (Probe::Original, Outcome::Accepted(_)) | (Probe::Retry, Outcome::Replayed(_)) => true,
            (Probe::SecondOrder, Outcome::Rejected(rejection)) => {
                matches!(rejection.reason, RejectReason::AlreadyClaimed { .. })
            }
            (Probe::ForgedId, Outcome::Rejected(rejection)) => {
                matches!(rejection.reason, RejectReason::UnknownClick { .. })
                    && rejection
                        .verdicts
                        .iter()
                        .any(|id| id.verdict == Verdict::Forged)
            }
            _ => false,
        }
    }
}

fn report_unexpected(count: u64, probe: Probe, postback: &Postback, outcome: &Outcome) {
    if count <= UNEXPECTED_LOGGED_MAX {
        let answer = match outcome {
            Outcome::Rejected(rejection) => format!("rejected: {}", rejection.reason),
            other => other.status().to_owned(),
        };
        let order_id = &postback.order.order_id;
        let ids: Vec<String> = postback.click_ids.iter().map(ToString::to_string).collect();
        tracing::warn!(?probe, order_id, ?ids, answer, "unexpected answer");
    }
    if count == UNEXPECTED_LOGGED_MAX {
        tracing::warn!("further unexpected answers are counted, not logged");
    }
}

/// The made-up amount of row `row`'s conversion in cents: 1.00 to 999.99 EUR, spread by a
/// prime stride so that neighbouring rows differ.
fn amount_minor(row: u32) -> u64 {
    100 + (u64::from(row) * 7_919) % 99_900
}

/// The ID with its last hex digit changed: bytes 0-8 intact, so the slot still points at
/// a real click, but the tag (bytes 9-11) no longer matches: a forgery.
fn forge(id: &ClickId) -> ClickId {
    let mut bytes = *id.as_bytes();
    bytes[11] ^= 0x01;
    ClickId::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(at: u32, converts_at: Option<u32>) -> Click {
        Click {
            at: Timestamp::from_unix(at),
            program: 0,
            partner: 0,
            converts_at: converts_at.map(Timestamp::from_unix),
        }
    }

    #[test]
    fn schedule_orders_by_time_and_puts_clicks_first_in_a_second() {
        let clicks = [click(20, None), click(10, Some(20)), click(5, Some(10))];
        let order: Vec<(u32, Event)> = schedule(&clicks)
            .unwrap()
            .iter()
            .map(|s| (s.at.unix(), s.event))
            .collect();
        assert_eq!(
            order,
            [
                (5, Event::Click { row: 2 }),
                (10, Event::Click { row: 1 }),
                (10, Event::Conversion { row: 2 }),
                (20, Event::Click { row: 0 }),
                (20, Event::Conversion { row: 1 }),
            ]
        );
    }

    #[test]
    fn a_row_costs_28_bytes_of_memory() {
        assert_eq!(
            std::mem::size_of::<Click>() + std::mem::size_of::<Scheduled>(),
            28
        );
    }

    #[test]
    fn forged_id_keeps_time_and_slot_and_changes_only_the_tag() {
        let id: ClickId = "5a0087800000000007abcdef".parse().unwrap();
        let forged = forge(&id);
        assert_eq!(forged.to_string(), "5a0087800000000007abcdee");
        assert_eq!((forged.time(), forged.slot()), (id.time(), id.slot()));
    }

    #[test]
    fn amounts_stay_between_one_and_a_thousand_euros() {
        assert_eq!((amount_minor(0), amount_minor(1)), (100, 8_019));
        assert!((0..100_000)
            .map(amount_minor)
            .all(|cents| (100..100_000).contains(&cents)));
    }

    #[test]
    fn each_conversion_gets_accepted_replayed_already_claimed_and_forged() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(
            dir.path(),
            clickledger::Options {
                durability: clickledger::Durability::None,
                ..Default::default()
            },
        )
        .unwrap();
        let workload = Workload {
            programs: vec!["app-1".into(), "app-2".into()],
            partners: vec!["ch-1".into()],
            clicks: vec![
                click(1_510_000_000, Some(1_510_000_100)),
                Click {
                    program: 1,
                    ..click(1_510_000_050, None)
                },
                Click {
                    program: 1,
                    ..click(1_510_000_060, Some(1_510_000_060))
                },
            ],
            order_prefix: "t",
        };
        let programs = register_programs(&ledger, &workload).unwrap();
        let events = schedule(&workload.clicks).unwrap();
        let tally = run(
            &ledger,
            &workload,
            &programs,
            &events,
            &ProgressBar::hidden(),
        )
        .unwrap();

        let mut expected = Tally {
            clicks: 3,
            postbacks: 8,
            accepted: 2,
            replayed: 2,
            forged: 2,
            ..Tally::default()
        };
        expected.rejected.insert("already_claimed".into(), 2);
        expected.rejected.insert("unknown_click".into(), 2);
        assert_eq!(tally, expected);
        assert_eq!(ledger.stats().conversions, 2);
        assert_eq!(ledger.conversions(programs[1].id)[0].order.order_id, "t-3");
    }
}
