//! What the server refuses before it reads a request in full, each with a 4xx JSON
//! answer and one warning in the log:
//!
//! | limit | value | answer |
//! |---|---|---|
//! | URL (path and query) | [`URL_BYTES_MAX`] | 414 |
//! | body | [`BODY_BYTES_MAX`] | 413 |
//! | time to send the body | [`BODY_READ_TIMEOUT`] (tests set less) | 408 |
//! | time to send the headers | `--header-timeout-ms` | connection closed (by hyper), logged here |
//! | request head | [`REQUEST_HEAD_BYTES_MAX`] | 431 (a head that outgrows hyper's read buffer first: hyper's bare 431 or 414, logged here) |
//! | click IDs per postback | `clickledger::postback::CLICK_IDS_MAX` (64) | 400 `too_many_click_ids` |

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use clickledger::postback::QUERY_BYTES_MAX;

use super::answer::refusal;
use super::metrics;

/// Longest URL: a postback query at the ledger's limit (8 KiB) plus room for the path.
pub(crate) const URL_BYTES_MAX: usize = QUERY_BYTES_MAX + 1024;

/// Largest POST body: the ledger reads no longer postback.
pub(crate) const BODY_BYTES_MAX: usize = QUERY_BYTES_MAX;

/// Time a client has to send a POST body once its headers are in: 8 KiB takes
/// milliseconds on any live connection; a client slower than this holds a connection
/// for nothing.
pub(crate) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request head hyper buffers (request line and headers): well above the URL
/// limit, so an over-long URL gets this module's JSON 414, and small enough that a
/// hostile client cannot make each connection hold much memory.
pub(crate) const REQUEST_HEAD_BYTES_MAX: usize = 64 << 10;

/// Bytes of a request's head as sent: request line, and each header line with its
/// `: ` and line end.
fn head_bytes(request: &Request) -> usize {
    let line =
        request.method().as_str().len() + request.uri().to_string().len() + " HTTP/1.1\r\n".len();
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    line + headers + 2
}

/// Refuses a request whose URL, head or announced body is over the limits, before
/// routing.
pub(crate) async fn check_request(request: Request, next: Next) -> Response {
    let url_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |path| path.as_str().len());
    if url_bytes > URL_BYTES_MAX {
        return refuse(
            StatusCode::URI_TOO_LONG,
            "url_bytes",
            format!("the URL is {url_bytes} bytes; at most {URL_BYTES_MAX} are accepted"),
        );
    }
    let head = head_bytes(&request);
    if head > REQUEST_HEAD_BYTES_MAX {
        // hyper's own limit is on its read buffer, which it may fill past this.
        return refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "head_bytes",
            format!(
                "the request head is {head} bytes; at most {REQUEST_HEAD_BYTES_MAX} are accepted"
            ),
        );
    }
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|bytes| bytes > BODY_BYTES_MAX as u64) {
        return body_too_large();
    }
    next.run(request).await
}

/// 413: a body over [`BODY_BYTES_MAX`].
pub(crate) fn body_too_large() -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_bytes",
        format!("the body is over {BODY_BYTES_MAX} bytes"),
    )
}

/// 408: a body not sent within `limit`.
pub(crate) fn body_too_slow(limit: Duration) -> Response {
    refuse(
        StatusCode::REQUEST_TIMEOUT,
        "body_timeout",
        format!("the body did not arrive within {} ms", limit.as_millis()),
    )
}

/// Logs a connection that hyper ended with an error. The two limits hyper enforces
/// before a request exists (the header timeout, the head size) are counted and logged
/// as refusals; other errors (a client gone mid-request) are routine.
pub(crate) fn connection_failed(error: &hyper::Error) {
    let limit = if error.is_timeout() {
        "header_timeout"
    } else if error.is_parse_too_large() {
        "head_bytes"
    } else {
        tracing::debug!(%error, "connection ended with an error");
        return;
    };
    metrics::record_limit(limit);
    tracing::warn!(limit, "connection closed: {error}");
}

/// Counts, logs once and answers a refusal by `limit`.
fn refuse(status: StatusCode, limit: &'static str, message: String) -> Response {
    metrics::record_limit(limit);
    tracing::warn!(limit, status = status.as_u16(), "{message}");
    refusal(status, limit, &message)
}
