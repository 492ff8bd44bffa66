//! `clickledger stats`: reopens a data directory and shows what its ledger holds.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use clickledger::{Conversion, Ledger, LedgerError, Options, ProgramSettings, Stats};
use serde::Serialize;

use crate::datadir::{self, DataDirError};
use crate::error::CliError;
use crate::report::thousands;

/// Conversions are listed without `--conversions` when there are at most this many: a
/// screenful.
const CONVERSIONS_LISTED_BY_DEFAULT_MAX: u64 = 20;

/// What `stats` shows; its JSON form (`--json`) is stable: fields are added, never renamed.
#[derive(Debug, Serialize)]
pub(crate) struct LedgerReport {
    /// The data directory.
    pub data_dir: String,
    /// The command line that wrote the ledger, when this tool did.
    pub origin: Option<String>,
    /// False when that command stopped before the end (killed, or failed): the ledger
    /// holds part of its input. `None` when this tool did not write the ledger.
    pub origin_finished: Option<bool>,
    /// What the open repaired, in words; `None` when the log was intact.
    pub recovery: Option<String>,
    /// Records replayed from the log at open.
    pub records_replayed: u64,
    /// The checkpoint the open started from; `None` when it replayed the whole log.
    pub checkpoint: Option<String>,
    /// Checkpoints the open could not use, each with why.
    pub checkpoints_skipped: Vec<String>,
    /// The ledger's counts, flattened into this object in JSON.
    #[serde(flatten)]
    pub stats: Stats,
    /// Every program, in registration order.
    pub per_program: Vec<ProgramCounts>,
    /// Every conversion, when listed (see [`CONVERSIONS_LISTED_BY_DEFAULT_MAX`]).
    pub conversion_list: Option<Vec<ConversionLine>>,
}

/// One program's counts.
#[derive(Debug, Serialize)]
pub(crate) struct ProgramCounts {
    /// Its name.
    pub name: String,
    /// Conversions accepted.
    pub conversions: u64,
    /// Click IDs its conversions claimed.
    pub claimed_ids: u64,
}

/// One conversion, as listed.
#[derive(Debug, Serialize)]
pub(crate) struct ConversionLine {
    /// Its sequence number.
    pub id: u64,
    /// Its program's name.
    pub program: String,
    /// The order id.
    pub order_id: String,
    /// The amount with its currency (`49.90 EUR`), when given.
    pub amount: Option<String>,
    /// The partner credited.
    pub partner: String,
    /// When it was accepted (RFC 3339).
    pub at: String,
    /// The click IDs it claimed.
    pub claimed: Vec<String>,
}

/// Opens the ledger in `data_dir` read-only (an inspector changes nothing, and shares
/// the directory with other readers but not with a writer) and gathers what it holds;
/// every conversion is listed when `list_conversions` is set.
pub(crate) fn gather(data_dir: &Path, list_conversions: bool) -> Result<LedgerReport, CliError> {
    let origin = datadir::require_existing(data_dir)?;
    let read_only = Options {
        read_only: true,
        ..Options::default()
    };
    let ledger = match Ledger::open(data_dir, read_only) {
        Err(LedgerError::NoLedger { dir }) => {
            let why = "holds a log whose creation did not finish (the secret was never \
                       stored; the next writer to open it finishes it)";
            return Err(DataDirError::NoLedger { dir, why }.into());
        }
        opened => opened?,
    };
    let stats = ledger.stats();
    let recovery = ledger.recovery();
    let repaired = recovery.torn_tail.as_ref().map(|tail| {
        let segment = tail.segment.display();
        format!(
            "a torn tail of {} bytes at offset {} of {segment} (left in place: the next \
             writer to open the ledger cuts it)",
            tail.bytes_cut, tail.offset
        )
    });

    let programs = ledger.programs();
    let conversions: Vec<(&ProgramSettings, Vec<Arc<Conversion>>)> = programs
        .iter()
        .map(|(id, settings)| (settings, ledger.conversions(*id)))
        .collect();
    let listed = list_conversions || stats.conversions <= CONVERSIONS_LISTED_BY_DEFAULT_MAX;
    Ok(LedgerReport {
        data_dir: data_dir.display().to_string(),
        origin_finished: origin.as_ref().map(|origin| origin.finished),
        origin: origin.map(|origin| origin.command),
        recovery: repaired,
        records_replayed: recovery.records,
        checkpoint: recovery
            .checkpoint
            .as_ref()
            .map(|path| path.display().to_string()),
        checkpoints_skipped: recovery
            .skipped_checkpoints
            .iter()
            .map(|skipped| format!("{}: {}", skipped.path.display(), skipped.problem))
            .collect(),
        stats,
        per_program: conversions
            .iter()
            .map(|(settings, list)| counts(settings, list))
            .collect(),
        conversion_list: listed.then(|| conversion_lines(&conversions)),
    })
}

fn counts(settings: &ProgramSettings, conversions: &[Arc<Conversion>]) -> ProgramCounts {
    ProgramCounts {
        name: settings.name.clone(),
        conversions: conversions.len() as u64,
        claimed_ids: conversions
            .iter()
            .map(|conversion| conversion.claimed.len() as u64)
            .sum(),
    }
}

/// Every conversion, in sequence order.
fn conversion_lines(programs: &[(&ProgramSettings, Vec<Arc<Conversion>>)]) -> Vec<ConversionLine> {
    let mut lines: Vec<ConversionLine> = programs
        .iter()
        .flat_map(|(settings, conversions)| {
            conversions.iter().map(|conversion| ConversionLine {
                id: conversion.id.0,
                program: settings.name.clone(),
                order_id: conversion.order.order_id.clone(),
                amount: conversion.order.amount_minor.map(|minor| {
                    let amount =
                        clickledger::money::format_amount_minor(minor, conversion.order.currency);
                    format!("{amount} {}", conversion.order.currency)
                }),
                partner: conversion.partner.clone(),
                at: conversion.at.to_rfc3339(),
                claimed: conversion.claimed.iter().map(ToString::to_string).collect(),
            })
        })
        .collect();
    lines.sort_by_key(|line| line.id);
    lines
}

impl LedgerReport {
    /// The report as text for people: the counts, then conversions per program and the
    /// conversions listed, or one line when there are none.
    pub fn text(&self) -> String {
        let mut out = format!("ledger in {}\n", self.data_dir);
        if let Some(origin) = &self.origin {
            let _ = writeln!(out, "  written by   {origin}");
            if self.origin_finished == Some(false) {
                let _ = writeln!(
                    out,
                    "               (it did not finish: the ledger holds part of its input)"
                );
            }
        }
        let intact = match self.checkpoint {
            // The log before a checkpoint is not read: `verify` reads it.
            Some(_) => "the log after it intact",
            None => "log intact",
        };
        let recovery = self.recovery.as_deref().unwrap_or(intact);
        let start = match &self.checkpoint {
            Some(path) => format!("from checkpoint {path}, "),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  open         {start}{} records replayed; {recovery}",
            thousands(self.records_replayed)
        );
        for skipped in &self.checkpoints_skipped {
            let _ = writeln!(out, "  skipped      {skipped}");
        }
        out.push('\n');
        for (what, count) in [
            ("programs", self.stats.programs),
            ("partners", self.stats.partners),
            ("clicks", self.stats.clicks),
            ("impressions", self.stats.impressions),
            ("conversions", self.stats.conversions),
            ("claimed IDs", self.stats.claimed_ids),
            ("partitions", self.stats.partitions),
            ("log bytes", self.stats.log_bytes),
            ("slot table bytes", self.stats.slot_table_bytes),
        ] {
            let _ = writeln!(out, "  {what:<18}{:>14}", thousands(count));
        }
        if self.stats.conversions == 0 {
            // Both tables below would be headers alone.
            out.push_str("\n  no conversions\n");
            return out;
        }
        out.push_str(&self.programs_text());
        out.push_str(&self.conversions_text());
        out
    }

    /// Programs with conversions, most first; the others counted in one line.
    fn programs_text(&self) -> String {
        let mut converting: Vec<&ProgramCounts> = self
            .per_program
            .iter()
            .filter(|program| program.conversions > 0)
            .collect();
        // Stable: programs with as many conversions stay in registration order.
        converting.sort_by_key(|program| std::cmp::Reverse(program.conversions));
        let mut out = format!(
            "\n  {:<24}{:>12}{:>14}\n",
            "program", "conversions", "claimed IDs"
        );
        for program in &converting {
            let (conversions, claimed) = (
                thousands(program.conversions),
                thousands(program.claimed_ids),
            );
            let _ = writeln!(out, "  {:<24}{conversions:>12}{claimed:>14}", program.name);
        }
        let others = self.per_program.len() - converting.len();
        let noun = if others == 1 { "program" } else { "programs" };
        let _ = writeln!(
            out,
            "  ({} {noun} without conversions)",
            thousands(others as u64)
        );
        out
    }

    fn conversions_text(&self) -> String {
        let Some(list) = &self.conversion_list else {
            return "\n  (pass --conversions to list the conversions)\n".to_owned();
        };
        let mut out = format!(
            "\n  {:>6}  {:<16}{:<20}{:>14}  {:<12}claimed IDs\n",
            "#", "program", "order", "amount", "partner"
        );
        for line in list {
            let amount = line.amount.as_deref().unwrap_or("-");
            let _ = writeln!(
                out,
                "  {:>6}  {:<16}{:<20}{amount:>14}  {:<12}{}",
                line.id,
                line.program,
                line.order_id,
                line.partner,
                line.claimed.join(" ")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use clickledger::{ClickKind, Timestamp};

    use super::*;

    #[test]
    fn a_ledger_without_conversions_says_so_instead_of_printing_empty_tables() {
        let scratch = tempfile::tempdir().unwrap();
        {
            let ledger = Ledger::open(scratch.path(), Options::default()).unwrap();
            let program = ledger
                .register_program(ProgramSettings::new("shoes"))
                .unwrap();
            let at = Timestamp::from_unix(1_510_000_000);
            ledger
                .record_click(program.id, "ch-1", ClickKind::Click, at)
                .unwrap();
            ledger.sync().unwrap();
        }
        let text = gather(scratch.path(), false).unwrap().text();
        assert!(text.ends_with("\n\n  no conversions\n"), "{text}");
        assert!(!text.contains("claimed IDs\n"), "no table header: {text}");
    }
}
