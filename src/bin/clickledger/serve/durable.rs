//! The one place where the server decides when a ledger write is durable enough to
//! answer. The ledger is opened with group commit at `Durability::Interval(click sync
//! interval)`: its sync thread makes every appended record durable within that interval,
//! and one `fdatasync` covers every record appended before it.
//!
//! The rule (docs/SERVER.md, "Durability"):
//!
//! - a postback is answered only after an `fdatasync` that covers its record, and the
//!   records its answer depends on (the click it claims, the conversion that claimed it
//!   first): [`convert`] decides at once, then awaits the ledger's [`clickledger::Pending`]
//!   answer, which asks the sync thread for that position. Postbacks in flight together
//!   share one `fdatasync`;
//! - a click or impression is answered at once, and is durable within
//!   [`CLICK_SYNC_INTERVAL_DEFAULT`] (or `--click-sync-ms`): the ledger's interval level.
//!
//! Ledger calls run on the async worker threads: they hold the ledger's locks for
//! microseconds and never wait for the disk, except when the active segment is full and
//! a new one is started (one `fdatasync` per segment, every 64 MiB of log by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clickledger::{
    ClickId, ClickKind, Ledger, LedgerError, Outcome, Postback, ProgramId, Timestamp,
};

use super::metrics;

/// How often the click syncer runs: a click answered is durable at most this long
/// after its redirect (plus one `fdatasync`). 100 ms loses at most a tenth of a second
/// of clicks to a power cut, for ten syncs a second at most.
pub(crate) const CLICK_SYNC_INTERVAL_DEFAULT: Duration = Duration::from_millis(100);

/// The range `--click-sync-ms` accepts: 1 ms to 10 s. A longer interval would leave
/// clicks undurable for longer than a visitor takes to convert.
pub(crate) const CLICK_SYNC_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=10_000;

/// Why a ledger call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DurableError {
    /// The ledger refused or failed; nothing it answered may be relied on.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The blocking task panicked or was cancelled at shutdown.
    #[error("the ledger task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Applies a parsed postback and returns its outcome once an `fdatasync` covers it.
pub(crate) async fn convert(
    ledger: &Arc<Ledger>,
    postback: Postback,
    at: Timestamp,
) -> Result<Outcome, DurableError> {
    let pending = ledger.convert_pending(&postback, at)?;
    if pending.is_durable() {
        return Ok(pending.await?);
    }
    let started = Instant::now();
    let outcome = pending.await?;
    metrics::record_sync(started.elapsed());
    Ok(outcome)
}

/// Mints and records a click or impression; durable within the click sync interval.
pub(crate) fn record_click(
    ledger: &Ledger,
    program: ProgramId,
    partner: &str,
    kind: ClickKind,
) -> Result<ClickId, DurableError> {
    Ok(ledger.record_click(program, partner, kind, Timestamp::now())?)
}

/// Makes everything appended durable (at shutdown), on the blocking pool.
pub(crate) async fn sync(ledger: &Arc<Ledger>) -> Result<(), DurableError> {
    let ledger = Arc::clone(ledger);
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let result = ledger.sync();
        metrics::record_sync(started.elapsed());
        result
    })
    .await??;
    Ok(())
}

/// Takes a checkpoint every `interval`, forever (the server aborts the task at
/// shutdown). Clicks and claims wait only for the checkpoint's two short pauses.
pub(crate) async fn checkpoint_every(ledger: Arc<Ledger>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; the open just replayed
    loop {
        ticker.tick().await;
        checkpoint(&ledger).await;
    }
}

/// Takes a checkpoint on the blocking pool; a failure is logged, not fatal: the log
/// stays the source of truth, and only the next open is slower.
pub(crate) async fn checkpoint(ledger: &Arc<Ledger>) {
    let ledger = Arc::clone(ledger);
    match tokio::task::spawn_blocking(move || ledger.checkpoint()).await {
        Ok(Ok(report)) => tracing::info!(
            path = %report.path.display(),
            blocked_us = report.blocked_us,
            partitions_dropped = report.partitions_dropped,
            "checkpoint taken"
        ),
        Ok(Err(error)) => tracing::warn!(%error, "checkpoint failed; the next open replays more"),
        Err(error) => tracing::warn!(%error, "checkpoint task did not finish"),
    }
}
