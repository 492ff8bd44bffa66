//! The server's metrics, exported at `GET /metrics` in the Prometheus text format by
//! `metrics-exporter-prometheus`. Names and labels are listed in docs/SERVER.md.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in seconds: 50 µs to 5 s, dense around the millisecond where a
/// postback's `fdatasync` lands.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder on first use and returns its handle. One recorder
/// serves every server of the process (tests start several).
pub(crate) fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            // The bucket list is a non-empty constant: setting it cannot fail.
            let builder = match builder.set_buckets(LATENCY_BUCKETS_SECONDS) {
                Ok(builder) => builder,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; the metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// A click or impression minted.
pub(crate) fn record_click(kind: &'static str) {
    metrics::counter!("clickledger_clicks_total", "kind" => kind).increment(1);
}

/// A click or impression refused, by reason (`unknown_program`, `landing`, `partner`).
pub(crate) fn record_click_refused(reason: &'static str) {
    metrics::counter!("clickledger_click_refusals_total", "reason" => reason).increment(1);
}

/// A postback answered, by status and reason code (`none` when accepted or replayed).
pub(crate) fn record_postback(status: &'static str, reason: String) {
    metrics::counter!("clickledger_postbacks_total", "status" => status, "reason" => reason)
        .increment(1);
}

/// A request refused by a limit (`body_bytes`, `url_bytes`, `request_timeout`).
pub(crate) fn record_limit(limit: &'static str) {
    metrics::counter!("clickledger_limit_refusals_total", "limit" => limit).increment(1);
}

/// Time from request to answer, by endpoint.
pub(crate) fn record_latency(endpoint: &'static str, elapsed: Duration) {
    metrics::histogram!("clickledger_request_duration_seconds", "endpoint" => endpoint)
        .record(elapsed.as_secs_f64());
}

/// One ledger sync (write and `fdatasync`).
pub(crate) fn record_sync(elapsed: Duration) {
    metrics::histogram!("clickledger_sync_duration_seconds").record(elapsed.as_secs_f64());
}

/// The ledger's size, set when metrics are scraped.
pub(crate) fn record_log_bytes(bytes: u64) {
    metrics::gauge!("clickledger_log_bytes").set(bytes as f64);
}
