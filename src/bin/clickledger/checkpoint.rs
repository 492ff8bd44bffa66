//! `clickledger checkpoint`: writes a checkpoint of a ledger, so that its next open
//! loads it and replays only the log after it (see `docs/ARCHITECTURE.md`).

use std::fmt::Write as _;
use std::path::Path;

use clickledger::{CheckpointReport, Ledger, Options};
use serde::Serialize;

use crate::datadir;
use crate::error::CliError;
use crate::report::thousands;

/// What `checkpoint` prints; its JSON form (`--json`) is stable: fields are added, never
/// renamed.
#[derive(Debug, Serialize)]
pub(crate) struct CheckpointSummary {
    /// The checkpoint file written.
    pub path: String,
    /// The log segment its state is taken at.
    pub log_segment: u32,
    /// The offset in that segment.
    pub log_offset: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Records the open replayed before the checkpoint (the log after the previous
    /// checkpoint, or the whole log).
    pub records_replayed_at_open: u64,
    /// How long clicks and claims waited, in microseconds.
    pub blocked_us: u64,
    /// How long the checkpoint took, in microseconds.
    pub elapsed_us: u64,
    /// Days dropped by retention.
    pub partitions_dropped: u64,
    /// Older checkpoints removed.
    pub checkpoints_removed: u64,
    /// Log segments removed (retention only).
    pub segments_removed: u64,
}

impl CheckpointSummary {
    fn new(report: CheckpointReport, records_replayed_at_open: u64) -> CheckpointSummary {
        CheckpointSummary {
            path: report.path.display().to_string(),
            log_segment: report.position.segment,
            log_offset: report.position.offset,
            bytes: report.bytes,
            records_replayed_at_open,
            blocked_us: report.blocked_us,
            elapsed_us: report.elapsed_us,
            partitions_dropped: report.partitions_dropped,
            checkpoints_removed: report.checkpoints_removed,
            segments_removed: report.segments_removed,
        }
    }

    /// The summary as aligned lines.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let lines = [
            ("checkpoint", self.path.clone()),
            (
                "log position",
                format!("segment {}, offset {}", self.log_segment, self.log_offset),
            ),
            ("bytes", thousands(self.bytes)),
            (
                "records replayed at open",
                thousands(self.records_replayed_at_open),
            ),
            (
                "clicks and claims waited",
                format!("{} µs", thousands(self.blocked_us)),
            ),
            ("took", format!("{} µs", thousands(self.elapsed_us))),
            (
                "days dropped (retention)",
                thousands(self.partitions_dropped),
            ),
            (
                "older checkpoints removed",
                thousands(self.checkpoints_removed),
            ),
            ("log segments removed", thousands(self.segments_removed)),
        ];
        for (label, value) in lines {
            let _ = writeln!(text, "{label:<26} {value}");
        }
        text
    }
}

/// Opens the ledger in `data_dir` to write, with `retention_days` if given, and writes a
/// checkpoint.
pub(crate) fn write(
    data_dir: &Path,
    retention_days: Option<u32>,
) -> Result<CheckpointSummary, CliError> {
    datadir::require_existing(data_dir)?;
    let options = Options {
        retention_days,
        ..Options::default()
    };
    let ledger = Ledger::open(data_dir, options)?;
    let replayed = ledger.recovery().records;
    let report = ledger.checkpoint()?;
    Ok(CheckpointSummary::new(report, replayed))
}
