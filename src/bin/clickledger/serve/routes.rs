//! The endpoints: tracking links, impressions, postbacks, health and metrics.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use clickledger::{ClickKind, LedgerError, Outcome, Postback, Rejection, Timestamp};

use super::answer::{json_response, postback_body, postback_status, refusal, unavailable};
use super::durable::{self, DurableError};
use super::landing::{self, LandingError};
use super::limits::{self, BODY_BYTES_MAX};
use super::{metrics, App};

/// A transparent 1x1 GIF (GIF89a, one-colour palette, transparent index 0).
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The router of every endpoint, without the limit layers (see `limits`).
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/c/{program}/{partner}", get(click))
        .route("/i/{program}/{partner}", get(impression))
        .route("/postback", get(postback_get).post(postback_post))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

#[derive(serde::Deserialize)]
struct ClickQuery {
    url: Option<String>,
}

/// `GET /c/{program}/{partner}?url=<landing>`: mint a click ID, redirect with it.
///
/// A `HEAD` (link checkers, previews) gets the same answer without an ID minted: no one
/// follows it, so it is no click.
async fn click(
    State(app): State<Arc<App>>,
    method: Method,
    Path((program, partner)): Path<(String, String)>,
    query: Result<Query<ClickQuery>, QueryRejection>,
) -> Response {
    let started = Instant::now();
    let mint = method != Method::HEAD;
    let response = match query {
        Ok(Query(query)) => redirect(&app, &program, partner, query.url, mint).await,
        Err(rejection) => {
            metrics::record_click_refused("landing");
            refusal(StatusCode::BAD_REQUEST, "url", &rejection.body_text())
        }
    };
    metrics::record_latency("click", started.elapsed());
    response
}

async fn redirect(
    app: &Arc<App>,
    program: &str,
    partner: String,
    url: Option<String>,
    mint: bool,
) -> Response {
    let Some(route) = app.programs.get(program) else {
        return unknown_program(program);
    };
    let landing = match url.as_deref().filter(|url| !url.is_empty()) {
        Some(url) => landing::check(url, &route.domains, &route.name),
        None => route
            .default_landing
            .clone()
            .ok_or(LandingError::NoDefault {
                program: route.name.clone(),
            }),
    };
    let landing = match landing {
        Ok(landing) => landing,
        Err(error) => {
            metrics::record_click_refused("landing");
            return refusal(StatusCode::BAD_REQUEST, "url", &error.to_string());
        }
    };
    let location = if mint {
        let kind = ClickKind::Click;
        let id = match durable::record_click(&app.ledger, route.id, &partner, kind) {
            Ok(id) => id,
            Err(error) => return click_failed(app, error),
        };
        metrics::record_click("click");
        landing::with_click_id(landing, &id)
    } else {
        landing
    };
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    // The URL crate's output is ASCII; a failure here would be its bug, not the input's.
    if let Ok(value) = HeaderValue::from_str(location.as_str()) {
        headers.insert(header::LOCATION, value);
    }
    // A cached redirect would hand one click ID to many visits.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /i/{program}/{partner}`: mint an impression ID, answer with a pixel. A `HEAD`
/// mints nothing: no one saw an ad.
async fn impression(
    State(app): State<Arc<App>>,
    method: Method,
    Path((program, partner)): Path<(String, String)>,
) -> Response {
    let started = Instant::now();
    let response = pixel(&app, &program, partner, method != Method::HEAD).await;
    metrics::record_latency("impression", started.elapsed());
    response
}

async fn pixel(app: &Arc<App>, program: &str, partner: String, mint: bool) -> Response {
    let Some(route) = app.programs.get(program) else {
        return unknown_program(program);
    };
    let id = if mint {
        let kind = ClickKind::Impression;
        match durable::record_click(&app.ledger, route.id, &partner, kind) {
            Ok(id) => Some(id),
            Err(error) => return click_failed(app, error),
        }
    } else {
        None
    };
    if id.is_some() {
        metrics::record_click("impression");
    }
    let mut response = (StatusCode::OK, PIXEL_GIF).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    // Every view must reach the server: no browser, proxy or CDN may answer for it.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        headers.insert("x-aecid", value);
    }
    response
}

fn unknown_program(program: &str) -> Response {
    metrics::record_click_refused("unknown_program");
    let message = format!("no program named {program:?}");
    refusal(StatusCode::NOT_FOUND, "program", &message)
}

/// A click the ledger refused: a bad partner name is the link's fault (400); anything
/// else is the ledger's, and the server reports itself unhealthy.
fn click_failed(app: &App, error: DurableError) -> Response {
    if let DurableError::Ledger(LedgerError::InvalidInput { what, .. }) = &error {
        metrics::record_click_refused("partner");
        let param = if *what == "partner name" {
            "partner"
        } else {
            what
        };
        return refusal(StatusCode::BAD_REQUEST, param, &error.to_string());
    }
    ledger_failed(app, &error)
}

/// 503 for a ledger that could not answer durably. A failed write or sync leaves the
/// log refusing all work until a restart, so health checks fail from then on; other
/// refusals (a UTC day's slots used up) concern one request.
fn ledger_failed(app: &App, error: &DurableError) -> Response {
    let broken = match error {
        DurableError::Ledger(LedgerError::Log(_)) | DurableError::Task(_) => true,
        DurableError::Ledger(_) => false,
    };
    if !broken {
        tracing::warn!(%error, "the ledger refused a request");
    } else if !app.failed.swap(true, Ordering::Relaxed) {
        tracing::error!(%error, "the ledger failed; answering 503 until restarted");
    }
    unavailable(&format!("the ledger failed: {error}; retry later"))
}

/// `GET /postback?...`: the query string is the postback.
async fn postback_get(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let query = request
        .uri()
        .query()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    let response = answer_postback(&app, &query).await;
    metrics::record_latency("postback", started.elapsed());
    response
}

/// `POST /postback` with a form-encoded body: the body is the postback.
async fn postback_post(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let response = match form_body(request, app.body_read_timeout).await {
        Ok(body) => answer_postback(&app, &body).await,
        Err(response) => response,
    };
    metrics::record_latency("postback", started.elapsed());
    response
}

/// The body of a form POST, or the refusal of one that is not.
async fn form_body(request: Request, timeout: Duration) -> Result<Vec<u8>, Response> {
    let (parts, body) = request.into_parts();
    if parts.uri.query().is_some_and(|query| !query.is_empty()) {
        let message = "a POST postback carries its parameters in the body, not the URL";
        return Err(refusal(StatusCode::BAD_REQUEST, "query", message));
    }
    if !is_form(&parts.headers) {
        let message = "a POST postback must be application/x-www-form-urlencoded";
        return Err(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type",
            message,
        ));
    }
    let read = axum::body::to_bytes(body, BODY_BYTES_MAX);
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(_)) => Err(limits::body_too_large()),
        Err(_) => Err(limits::body_too_slow(timeout)),
    }
}

/// True when the body is form-encoded, or says nothing of its type.
fn is_form(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default();
    essence
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// Parses and applies a postback; answers once the outcome is durable.
async fn answer_postback(app: &Arc<App>, query: &[u8]) -> Response {
    let outcome = match Postback::from_query_bytes(query) {
        // A malformed postback depends on no ledger state: answered without a sync.
        Err(error) => {
            let text = String::from_utf8_lossy(query);
            let verdicts = if error.param() == "cids" {
                clickledger::postback::cids_verdicts(&text)
            } else {
                Vec::new()
            };
            Outcome::Rejected(Rejection {
                reason: error.into(),
                verdicts,
            })
        }
        Ok(postback) => match durable::convert(&app.ledger, postback, Timestamp::now()).await {
            Ok(outcome) => outcome,
            Err(error) => return ledger_failed(app, &error),
        },
    };
    let reason = match &outcome {
        Outcome::Rejected(rejection) => rejection.reason.code(),
        _ => "none".to_owned(),
    };
    metrics::record_postback(outcome.status(), reason);
    json_response(postback_status(&outcome), &postback_body(&outcome))
}

/// `GET /healthz`: 200 while the ledger works, 503 once it has failed.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    if app.failed.load(Ordering::Relaxed) {
        return unavailable("the ledger failed; restart the server");
    }
    let body = serde_json::json!({"status": "ok"});
    json_response(StatusCode::OK, &body)
}

/// `GET /metrics`: the Prometheus text format.
async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    let ledger = Arc::clone(&app.ledger);
    // `stats` takes the writer's lock, which a sync may hold: off the async threads.
    if let Ok(stats) = tokio::task::spawn_blocking(move || ledger.stats()).await {
        metrics::record_log_bytes(stats.log_bytes);
    }
    let mut response = app.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    let message = format!("no endpoint {method} {}", uri.path());
    refusal(StatusCode::NOT_FOUND, "path", &message)
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let message = format!("{} does not take {method}", uri.path());
    refusal(StatusCode::METHOD_NOT_ALLOWED, "method", &message)
}
