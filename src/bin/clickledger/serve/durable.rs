//! The one place where the server decides when a ledger write is durable enough to
//! answer. Every ledger call of the server goes through here, on tokio's blocking pool:
//! the ledger's calls take locks and may wait for an `fdatasync`, which must never stall
//! the threads that run the async handlers.
//!
//! The rule (docs/SERVER.md, "Durability"):
//!
//! - a postback is answered only after an `fdatasync` that covers its record, and the
//!   records its answer depends on (the click it claims, the conversion that claimed it
//!   first): [`convert`] syncs after every ledger decision, accept, replay or reject;
//! - a click or impression is answered at once, and is durable within
//!   [`CLICK_SYNC_INTERVAL_DEFAULT`] (or `--click-sync-ms`): [`sync_clicks_every`].
//!
//! A sync per postback costs one `fdatasync` each; concurrent postbacks queue on the
//! ledger's writer lock for theirs.
//!
//! TODO: switch to group commit once the ledger offers it (one `fdatasync` answering
//! every postback it covers): open the ledger with `Options::durability` set to
//! `Durability::Interval(click sync interval)`, make [`convert`] await
//! `Ledger::convert_pending(...)` instead of `convert` then `sync`, and drop
//! [`sync_clicks_every`]; the answer rule stays what docs/SERVER.md says.

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
    let ledger = Arc::clone(ledger);
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = ledger.convert(&postback, at)?;
        timed_sync(&ledger)?;
        Ok::<_, LedgerError>(outcome)
    })
    .await??;
    Ok(outcome)
}

/// Mints and records a click or impression; durable within the click sync interval.
pub(crate) async fn record_click(
    ledger: &Arc<Ledger>,
    program: ProgramId,
    partner: String,
    kind: ClickKind,
) -> Result<ClickId, DurableError> {
    let ledger = Arc::clone(ledger);
    let id = tokio::task::spawn_blocking(move || {
        ledger.record_click(program, &partner, kind, Timestamp::now())
    })
    .await??;
    Ok(id)
}

/// Syncs the ledger every `interval` while clicks arrive, until `stop` fires; then once
/// more. Returns the first sync error: the writer refuses all work after one.
pub(crate) async fn sync_clicks_every(
    ledger: Arc<Ledger>,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), DurableError> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut synced_events = 0u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let ledger = Arc::clone(&ledger);
        let sync_if_new = move || {
            // `stats` takes the writer's lock, which a postback's sync may hold.
            let stats = ledger.stats();
            let events = stats.clicks + stats.impressions;
            // Counters only grow: an unchanged total means nothing new to make durable.
            if events != synced_events {
                timed_sync(&ledger)?;
            }
            Ok::<_, LedgerError>(events)
        };
        synced_events = tokio::task::spawn_blocking(sync_if_new).await??;
    }
    sync(&ledger).await
}

/// Syncs on the blocking pool.
pub(crate) async fn sync(ledger: &Arc<Ledger>) -> Result<(), DurableError> {
    let ledger = Arc::clone(ledger);
    tokio::task::spawn_blocking(move || timed_sync(&ledger)).await??;
    Ok(())
}

fn timed_sync(ledger: &Ledger) -> Result<(), LedgerError> {
    let started = Instant::now();
    let result = ledger.sync();
    metrics::record_sync(started.elapsed());
    result
}
