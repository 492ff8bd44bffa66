//! `verify` and `repair`: what an operator runs on a ledger that will not open, or that
//! they do not trust.

use std::fmt::Write as _;
use std::path::Path;

use clickledger::log::RecoveryReport;
use clickledger::{Durability, Ledger, LedgerError, Options, RecoveryMode};

use crate::error::CliError;

/// The lines `verify` prints: one per problem, or one saying there is none.
pub(crate) fn verify(data: &Path) -> Result<(String, usize), CliError> {
    let problems = Ledger::verify(data)?;
    let mut text = String::new();
    for problem in &problems {
        let _ = writeln!(text, "{problem}");
    }
    if problems.is_empty() {
        let _ = writeln!(text, "{}: no problem found", data.display());
    } else {
        let _ = writeln!(text, "{} problem(s) found", problems.len());
    }
    Ok((text, problems.len()))
}

/// Opens the ledger in `data` with `mode`, which applies it, and says exactly what the
/// open removed.
pub(crate) fn repair(data: &Path, mode: RecoveryMode) -> Result<String, CliError> {
    // An open creates a ledger where there is none: a mistyped path must not be
    // "repaired" into a new, empty ledger.
    if clickledger::secret::load(data)
        .map_err(LedgerError::from)?
        .is_none()
    {
        return Err(LedgerError::NoLedger {
            dir: data.to_owned(),
        }
        .into());
    }
    if mode == RecoveryMode::AbsoluteConsistency {
        // An open from a checkpoint does not read the log before it; this mode promises
        // to fail on damage anywhere.
        let problems = Ledger::verify(data)?;
        if let Some(first) = problems.first() {
            return Err(CliError::Damaged {
                dir: data.to_owned(),
                problems: problems.len(),
                first: first.to_string(),
            });
        }
    }
    let options = Options {
        recovery: mode,
        // Nothing is recorded; the open's own changes are synced as it makes them.
        durability: Durability::None,
        ..Options::default()
    };
    let ledger = Ledger::open(data, options)?;
    let text = describe(ledger.recovery());
    drop(ledger);
    Ok(text)
}

/// What a recovery removed, one line per change.
fn describe(report: &RecoveryReport) -> String {
    let mut text = String::new();
    if let Some(torn) = &report.torn_tail {
        let _ = writeln!(
            text,
            "removed a torn tail: {} bytes of {} from offset {}",
            torn.bytes_cut,
            torn.segment.display(),
            torn.offset
        );
    }
    if let Some(cut) = &report.point_in_time {
        let _ = writeln!(
            text,
            "removed {} bytes of {} from offset {} ({})",
            cut.bytes_cut,
            cut.segment.display(),
            cut.offset,
            cut.problem
        );
        for (segment, bytes) in &cut.segments_removed {
            let _ = writeln!(text, "removed {} ({bytes} bytes)", segment.display());
        }
        let _ = writeln!(
            text,
            "kept {} slot reservation(s) read from the removed bytes, so their IDs are not \
             minted again",
            cut.reservations_kept
        );
    }
    for checkpoint in &report.checkpoints_removed {
        let _ = writeln!(
            text,
            "removed checkpoint {} (taken after the cut)",
            checkpoint.display()
        );
    }
    if text.is_empty() {
        text.push_str("nothing removed: the log read is consistent\n");
    }
    if let Some(checkpoint) = &report.checkpoint {
        let _ = writeln!(
            text,
            "started from checkpoint {}: the log before it was not read (`clickledger \
             verify` reads all of it)",
            checkpoint.display()
        );
    }
    let _ = writeln!(
        text,
        "{} records replayed from {} segment(s)",
        report.records, report.segments
    );
    text
}
