//! Records a workload into a new ledger and summarizes the run: what `replay` and
//! `simulate` share once each has its workload.

use std::path::Path;
use std::time::Instant;

use clickledger::{Durability, Ledger, Options};

use crate::datadir::{self, DirLock};
use crate::drive::{self, Workload};
use crate::error::CliError;
use crate::progress;
use crate::report::{Check, Summary, Timings};

/// What a run is, for its summary.
pub(crate) struct Run<'run> {
    /// `replay talkingdata` or `simulate`.
    pub command: &'static str,
    /// The input file, or the generator's parameters.
    pub source: String,
    /// The data directory, already prepared for a new ledger.
    pub data_dir: &'run Path,
    /// The directory's lock, when preparing it took one: held until the ledger opens.
    pub dir_lock: Option<DirLock>,
    /// When reading or generating the workload started.
    pub load_started: Instant,
}

/// Opens the ledger in `run.data_dir`, registers the workload's programs, applies its
/// events in time order, syncs, and checks the counts.
pub(crate) fn record(workload: &Workload, run: Run<'_>) -> Result<Summary, CliError> {
    let events = drive::schedule(&workload.clicks)?;
    let load_ms = elapsed_ms(run.load_started);

    let started = Instant::now();
    drop(run.dir_lock);
    let ledger = Ledger::open(
        run.data_dir,
        Options {
            // A bulk load: it syncs every few events and once at the end.
            durability: Durability::None,
            ..Options::default()
        },
    )?;
    let programs = drive::register_programs(&ledger, workload)?;
    let open_ms = elapsed_ms(started);

    tracing::info!(events = events.len(), dir = %run.data_dir.display(), "applying events");
    let progress = progress::events(events.len() as u64);
    progress.set_message("recording");
    let started = Instant::now();
    let tally = drive::run(&ledger, workload, &programs, &events, &progress)?;
    let drive_ms = elapsed_ms(started);
    progress.finish_and_clear();

    let started = Instant::now();
    ledger.sync()?;
    let sync_ms = elapsed_ms(started);
    datadir::mark_finished(run.data_dir)?;

    let clicks = workload.clicks.len() as u64;
    let conversions_expected = workload.conversions();
    let operations = tally.clicks + tally.postbacks;
    Ok(Summary {
        command: run.command.to_owned(),
        source: run.source,
        data_dir: run.data_dir.display().to_string(),
        programs: programs.len() as u64,
        // The ledger's count, not the workload's names: a generated workload names 161
        // partners, and a small run gives clicks to fewer of them.
        partners: ledger.stats().partners,
        conversions_expected,
        check: Check::of(&tally, clicks, conversions_expected),
        timings: Timings::new(load_ms, open_ms, drive_ms, sync_ms, operations),
        tally,
    })
}

/// Milliseconds since `started`.
pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use clickledger::Timestamp;

    use super::*;
    use crate::drive::Click;

    #[test]
    fn summary_counts_the_partners_that_got_clicks_not_those_named() {
        let scratch = tempfile::tempdir().unwrap();
        let click = |partner| Click {
            at: Timestamp::from_unix(1_510_000_000),
            program: 0,
            partner,
            converts_at: None,
        };
        let workload = Workload {
            programs: vec!["app-1".into()],
            partners: vec!["ch-1".into(), "ch-2".into(), "ch-3".into()],
            clicks: vec![click(2), click(2)],
            order_prefix: "t",
        };
        let dir_lock = datadir::prepare_new(scratch.path(), "test", "simulate", false).unwrap();
        let run = Run {
            command: "simulate",
            source: "test".into(),
            data_dir: scratch.path(),
            dir_lock,
            load_started: Instant::now(),
        };
        let summary = record(&workload, run).unwrap();
        assert_eq!((summary.programs, summary.partners), (1, 1));
    }
}
