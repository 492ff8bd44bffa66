//! The JSON bodies and status codes the server answers with.
//!
//! Status codes are chosen for the advertiser's retry logic, which retries on 5xx and on
//! network errors and gives up on 4xx (docs/SERVER.md, "Status codes"):
//!
//! - every definitive answer is 2xx or 4xx, so nothing retries it: `accepted` and
//!   `replayed` are 200, each rejection a 4xx by kind;
//! - 503 means the ledger could not make the answer durable; a retry is then safe, since
//!   a postback with the same program and order id is answered from the ledger (replayed
//!   if the first one was recorded after all, never counted twice).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clickledger::{Outcome, RejectReason};
use serde_json::{json, Value};

/// The status code of a postback's outcome.
pub(crate) fn postback_status(outcome: &Outcome) -> StatusCode {
    match outcome {
        Outcome::Accepted(_) | Outcome::Replayed(_) => StatusCode::OK,
        Outcome::Rejected(rejection) => rejection_status(&rejection.reason),
    }
}

/// 400 for a malformed postback, 403 for a key of no program, 422 when no click ID is
/// eligible, 409 when the claim conflicts with an earlier conversion.
fn rejection_status(reason: &RejectReason) -> StatusCode {
    match reason {
        RejectReason::Postback(_) => StatusCode::BAD_REQUEST,
        RejectReason::BadKey => StatusCode::FORBIDDEN,
        RejectReason::AlreadyClaimed { .. } | RejectReason::ConflictingRetry { .. } => {
            StatusCode::CONFLICT
        }
        // UnknownClick, WrongProgram, ClickExpired, ClickInFuture, and any reason added
        // later: the IDs cannot back this conversion, and retrying will not change that.
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The parameter a rejection is about.
fn rejection_param(reason: &RejectReason) -> &'static str {
    match reason {
        RejectReason::Postback(error) => error.param(),
        RejectReason::BadKey => "key",
        RejectReason::ConflictingRetry { .. } => "id",
        _ => "cids",
    }
}

/// The JSON answer to a postback.
pub(crate) fn postback_body(outcome: &Outcome) -> Value {
    let ids: Vec<Value> = outcome
        .verdicts()
        .iter()
        .map(|verdict| json!({"id": verdict.id.to_string(), "verdict": verdict.verdict.as_str()}))
        .collect();
    match outcome {
        Outcome::Accepted(conversion) | Outcome::Replayed(conversion) => json!({
            "status": outcome.status(),
            "conversion": conversion.id.0,
            "order_id": conversion.order.order_id,
            "partner": conversion.partner,
            "click": conversion.attributed_click.to_string(),
            "ids": ids,
        }),
        Outcome::Rejected(rejection) => json!({
            "status": "rejected",
            "ids": ids,
            "error": {
                "reason": rejection.reason.code(),
                "param": rejection_param(&rejection.reason),
                "message": rejection.reason.to_string(),
            },
        }),
    }
}

/// A JSON response that no cache may keep.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A refusal of a request that is not a postback answer (a limit, an unknown route, a
/// bad tracking link): `{"status": "refused", "error": {"param", "message"}}`.
pub(crate) fn refusal(status: StatusCode, param: &str, message: &str) -> Response {
    let body = json!({
        "status": "refused",
        "error": {"param": param, "message": message},
    });
    json_response(status, &body)
}

/// The answer when the ledger failed: retry later (the ledger needs a restart).
pub(crate) fn unavailable(message: &str) -> Response {
    let body = json!({
        "status": "unavailable",
        "error": {"param": null, "message": message},
    });
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}
