//! The server in-process, on an ephemeral loopback port, driven by a real HTTP client:
//! what a tracking link, a pixel and a postback answer, byte for byte where it matters,
//! and that the limits refuse with JSON. The signal path and restarts are tested on the
//! built binary in `tests/serve_process.rs`.

use std::sync::Arc;
use std::time::Duration;

use clickledger::log::io::{Faults, Io, SimulatedDisk};
use clickledger::{ClickKind, Ledger, ProgramSettings, Timestamp};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::Value;

use super::*;

/// A running test server.
struct Running {
    base: String,
    key: String,
    ledger: Arc<Ledger>,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServeError>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Running {
    /// Stops the server and waits until it has synced and returned.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// Follows a tracking link of the demo program and returns the minted click ID.
    async fn click(&self, partner: &str) -> String {
        let response = self.get(&format!("/c/demo/{partner}")).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        location.rsplit("aecid=").next().unwrap().to_owned()
    }

    async fn postback(&self, params: &str) -> (StatusCode, Value) {
        let response = self
            .get(&format!("/postback?key={}&{params}", self.key))
            .await;
        json_of(response).await
    }
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{status}"
    );
    (status, response.json().await.unwrap())
}

/// Starts a server with the demo program on a new ledger, and a second program `other`.
async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let running = start_in(dir.path().to_owned()).await;
    Running {
        _dir: Some(dir),
        ..running
    }
}

async fn start_in(data: std::path::PathBuf) -> Running {
    start_in_with(data, Io::Os).await
}

/// [`start_in`] with the ledger's log on `io`.
async fn start_in_with(data: std::path::PathBuf, io: Io) -> Running {
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), data);
    config.io = io;
    config.click_sync_interval = Duration::from_millis(20);
    config.header_read_timeout = Duration::from_millis(300);
    config.body_read_timeout = Duration::from_millis(300);
    let (server, key) = tokio::task::spawn_blocking(move || {
        let ledger = Ledger::open(&config.data, Default::default()).unwrap();
        let key = demo::register(&ledger).unwrap().key;
        let mut other = ProgramSettings::new("other");
        other.landing_domains = vec!["other.example".to_owned()];
        ledger.register_program(other).unwrap();
        drop(ledger);
        (Server::open(config).unwrap(), key)
    })
    .await
    .unwrap();
    let base = demo::base_url(server.local_addr());
    let ledger = Arc::clone(server.ledger());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    Running {
        base,
        key,
        ledger,
        client,
        stop: Some(stop),
        task: Some(task),
        _dir: None,
    }
}

#[tokio::test]
async fn a_tracking_link_redirects_with_the_click_id_keeping_query_and_fragment() {
    let server = start().await;
    let landing = "https%3A%2F%2Fshop.example%2Fshoes%3Fsize%3D42%26q%3Da%2520b%23reviews";
    let response = server
        .get(&format!("/c/demo/partner-1?url={landing}"))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let location = response.headers()["location"].to_str().unwrap();
    let (kept, fragment) = location.split_once('#').unwrap();
    let (start, id) = kept.split_once("&aecid=").unwrap();
    assert_eq!(start, "https://shop.example/shoes?size=42&q=a%20b");
    assert_eq!(fragment, "reviews");
    let click = server.ledger.click(&id.parse().unwrap()).unwrap();
    assert_eq!(
        (click.partner.as_str(), click.kind),
        ("partner-1", ClickKind::Click)
    );
    server.stop().await;
}

#[tokio::test]
async fn an_aecid_already_in_the_landing_url_is_replaced() {
    let server = start().await;
    let landing = "https%3A%2F%2Fwww.shop.example%2F%3Faecid%3D603ed1800000000000000000%26a%3D1";
    let response = server.get(&format!("/c/demo/p?url={landing}")).await;
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://www.shop.example/?a=1&aecid="),
        "{location}"
    );
    assert_eq!(location.matches("aecid=").count(), 1, "{location}");
    assert!(!location.contains("603ed1800000000000000000"), "{location}");
    server.stop().await;
}

#[tokio::test]
async fn without_a_url_the_default_landing_url_is_used() {
    let server = start().await;
    let response = server.get("/c/demo/p").await;
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://shop.example/welcome?aecid="),
        "{location}"
    );
    let response = server.get("/c/other/p").await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["param"], "url", "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_landing_url_outside_the_programs_domains_is_refused_and_mints_nothing() {
    let server = start().await;
    for landing in [
        "https%3A%2F%2Fevil.example%2F",
        "https%3A%2F%2Fshop.example.evil.example%2F",
        "https%3A%2F%2Fshop.example%40evil.example%2F",
        "javascript%3Aalert(1)",
        "%2F%2Fevil.example",
        "https%3A%2F%2Fother.example%2F",
    ] {
        let response = server.get(&format!("/c/demo/p?url={landing}")).await;
        assert!(response.headers().get("location").is_none(), "{landing}");
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{landing}");
        assert_eq!(body["status"], "refused");
        assert_eq!(body["error"]["param"], "url");
    }
    let (status, body) = json_of(server.get("/c/nobody/p").await).await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (StatusCode::NOT_FOUND, &"program".into())
    );
    assert_eq!(server.ledger.stats().clicks, 0);
    server.stop().await;
}

#[tokio::test]
async fn an_impression_answers_a_transparent_gif_that_no_one_caches() {
    let server = start().await;
    let response = server.get("/i/demo/partner-2").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/gif");
    let cache = headers["cache-control"].to_str().unwrap();
    assert!(
        cache.contains("no-store") && cache.contains("no-cache"),
        "{cache}"
    );
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(headers["expires"], "0");
    let id = headers["x-aecid"].to_str().unwrap().parse().unwrap();
    let body = response.bytes().await.unwrap();
    assert!(
        body.starts_with(b"GIF89a") && body.ends_with(b";"),
        "{body:?}"
    );
    assert_eq!((body[6], body[8]), (1, 1), "1x1");
    let click = server.ledger.click(&id).unwrap();
    assert_eq!(click.kind, ClickKind::Impression);
    server.stop().await;
}

#[tokio::test]
async fn a_postback_is_accepted_then_replayed_with_the_same_answer() {
    let server = start().await;
    let id = server.click("partner-9").await;
    let params = format!("id=A1&amount=49.90&currency=EUR&cids={id}");
    let (status, first) = server.postback(&params).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["status"], "accepted");
    assert_eq!(first["partner"], "partner-9");
    assert_eq!(first["click"], id.as_str());
    assert_eq!(first["order_id"], "A1");
    assert_eq!(first["ids"][0]["verdict"], "accepted");
    let (status, again) = server.postback(&params).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["status"], "replayed");
    assert_eq!(again["conversion"], first["conversion"]);
    server.stop().await;
}

#[tokio::test]
async fn a_form_post_is_a_postback_too() {
    let server = start().await;
    let id = server.click("p").await;
    let body = format!("key={}&id=F1&amount=10&currency=EUR&cids={id}", server.key);
    let post = |body: String| {
        server
            .client
            .post(format!("{}/postback", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let (status, answer) = json_of(post(body.clone()).await.unwrap()).await;
    assert_eq!(
        (status, &answer["status"]),
        (StatusCode::OK, &"accepted".into())
    );
    let (status, answer) = json_of(post(body).await.unwrap()).await;
    assert_eq!(
        (status, &answer["status"]),
        (StatusCode::OK, &"replayed".into())
    );

    let json = server
        .client
        .post(format!("{}/postback", server.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(json).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    server.stop().await;
}

#[tokio::test]
async fn every_rejection_has_its_status_reason_and_parameter() {
    let server = start().await;
    let id = server.click("p").await;
    let other_program = {
        let other = server.ledger.program_id("other").unwrap();
        let ledger = Arc::clone(&server.ledger);
        tokio::task::spawn_blocking(move || {
            let now = Timestamp::now();
            let wrong = ledger
                .record_click(other, "p", ClickKind::Click, now)
                .unwrap();
            let demo = ledger.program_id("demo").unwrap();
            let old = ledger
                .record_click(
                    demo,
                    "p",
                    ClickKind::Click,
                    Timestamp::from_unix(now.unix() - 40 * 86_400),
                )
                .unwrap();
            let ahead = ledger
                .record_click(demo, "p", ClickKind::Click, now.plus_seconds(3_600))
                .unwrap();
            (wrong, old, ahead)
        })
        .await
        .unwrap()
    };
    let (wrong, old, ahead) = other_program;
    let mut forged = id.clone();
    forged.replace_range(23.., if id.ends_with('0') { "1" } else { "0" });
    let accepted = format!("id=taken&amount=1&currency=EUR&cids={id}");
    assert_eq!(server.postback(&accepted).await.0, StatusCode::OK);
    let many: Vec<String> = (0..65)
        .map(|n| format!("603ed18000000000{n:08x}"))
        .collect();

    let cases = [
        (
            "id=1&currency=EUR&cids=".to_owned() + &id,
            400,
            "missing:amount",
            "amount",
        ),
        (
            format!("id=1&amount=x&currency=EUR&cids={id}"),
            400,
            "invalid:amount",
            "amount",
        ),
        (
            format!("id=1&amount=1&currency=EUR&cids={id}-{id}"),
            400,
            "duplicate_click_in_request",
            "cids",
        ),
        (
            format!("id=1&amount=1&currency=EUR&cids={}", many.join("-")),
            400,
            "too_many_click_ids",
            "cids",
        ),
        (
            format!("id=1&amount=1&currency=EUR&cids={forged}"),
            422,
            "unknown_click",
            "cids",
        ),
        (
            format!("id=1&amount=1&currency=EUR&cids={wrong}"),
            422,
            "wrong_program",
            "cids",
        ),
        (
            format!("id=1&amount=1&currency=EUR&cids={old}"),
            422,
            "click_expired",
            "cids",
        ),
        (
            format!("id=1&amount=1&currency=EUR&cids={ahead}"),
            422,
            "click_in_future",
            "cids",
        ),
        (
            format!("id=2&amount=1&currency=EUR&cids={id}"),
            409,
            "already_claimed",
            "cids",
        ),
        (
            format!("id=taken&amount=2&currency=EUR&cids={id}"),
            409,
            "conflicting_retry",
            "id",
        ),
    ];
    for (params, status, reason, param) in cases {
        let (got, body) = server.postback(&params).await;
        assert_eq!(got.as_u16(), status, "{reason}: {body}");
        assert_eq!(body["status"], "rejected", "{body}");
        assert_eq!(body["error"]["reason"], reason, "{body}");
        assert_eq!(body["error"]["param"], param, "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, body) = json_of(
        server
            .get(&format!(
                "/postback?key=wrong&id=1&amount=1&currency=EUR&cids={id}"
            ))
            .await,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["reason"]),
        (StatusCode::FORBIDDEN, &"bad_key".into())
    );
    let (_, body) = server
        .postback(&format!("id=1&amount=1&currency=EUR&cids={forged}"))
        .await;
    assert_eq!(body["ids"][0]["verdict"], "forged", "{body}");
    assert_eq!(
        server.ledger.stats().conversions,
        1,
        "rejections write nothing"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_postbacks_sharing_a_click_id_accept_exactly_one() {
    let server = Arc::new(start().await);
    let id = server.click("p").await;
    let tasks: Vec<_> = (0..24)
        .map(|order| {
            let server = Arc::clone(&server);
            let id = id.clone();
            tokio::spawn(async move {
                server
                    .postback(&format!("id=race-{order}&amount=5&currency=EUR&cids={id}"))
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => {
                assert_eq!(body["status"], "accepted");
                accepted += 1;
            }
            StatusCode::CONFLICT => assert_eq!(body["error"]["reason"], "already_claimed"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted, 1);
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test]
async fn limits_are_refused_with_json() {
    let server = start().await;
    let long = format!("/postback?key=k&pad={}", "x".repeat(limits::URL_BYTES_MAX));
    let (status, body) = json_of(server.get(&long).await).await;
    assert_eq!(status, StatusCode::URI_TOO_LONG);
    assert_eq!(body["error"]["param"], "url_bytes", "{body}");

    let big = server
        .client
        .post(format!("{}/postback", server.base))
        .body(vec![b'a'; limits::BODY_BYTES_MAX + 1])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["param"], "body_bytes", "{body}");

    let chunk = "b".repeat(limits::BODY_BYTES_MAX + 1);
    let chunked = format!(
        "POST /postback HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n\
         {:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let answer = raw_exchange(&server, chunked.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"body_bytes\""), "{answer}");

    let (status, body) = json_of(server.get("/nowhere").await).await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::NOT_FOUND, &"refused".into())
    );
    let delete = server
        .client
        .delete(format!("{}/postback", server.base))
        .send();
    assert_eq!(
        json_of(delete.await.unwrap()).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // Headers over the head limit, each small enough for hyper to parse.
    let mut request = server.client.get(format!("{}/healthz", server.base));
    for index in 0..90 {
        request = request.header(format!("x-filler-{index}"), "f".repeat(1000));
    }
    let (status, body) = json_of(request.send().await.unwrap()).await;
    assert_eq!(
        status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "{body}"
    );
    assert_eq!(body["error"]["param"], "head_bytes");
    server.stop().await;
}

/// Sends raw bytes on a new connection and reads until the server closes it or a
/// second passes.
async fn raw_exchange(server: &Running, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let _ = tokio::time::timeout(Duration::from_secs(1), read).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_slow_to_send_its_body_gets_a_408() {
    let server = start().await;
    let head = "POST /postback HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nkey=";
    let answer = raw_exchange(&server, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_cut_off() {
    let server = start().await;
    let started = std::time::Instant::now();
    let answer = raw_exchange(&server, b"GET /healthz HTTP/1.1\r\nhost: t\r\n").await;
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "closed after the header timeout, not at the test's own limit"
    );
    let counted = "clickledger_limit_refusals_total{limit=\"header_timeout\"}";
    let mut text = String::new();
    for _ in 0..50 {
        text = server.get("/metrics").await.text().await.unwrap();
        if text.contains(counted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(text.contains(counted), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_ledger_that_cannot_sync_answers_503_with_retry_after_and_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(3);
    let mut server = start_in_with(dir.path().to_owned(), Io::Simulated(Arc::clone(&disk))).await;
    let id = server.click("p").await;
    disk.set_faults(Faults {
        fail_syncs: true,
        ..Faults::default()
    });
    let response = server
        .get(&format!(
            "/postback?key={}&id=F1&amount=1&currency=EUR&cids={id}",
            server.key
        ))
        .await;
    assert_eq!(response.headers()["retry-after"], "5");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable");
    let (status, _) = json_of(server.get("/healthz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let response = server.get("/c/demo/p").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    // The run ends with the failure (its last sync fails too).
    let _ = server.stop.take().map(|stop| stop.send(()));
    let ended = server.task.take().unwrap().await.unwrap();
    assert!(ended.is_err(), "a failed ledger does not stop cleanly");
    let key = server.key.clone();
    drop(server);
    // The retry the 503 asked for, after a restart: safe whether or not the unsynced
    // record reached the file.
    let reopened = Ledger::open(dir.path(), Default::default()).unwrap();
    let query = format!("key={key}&id=F1&amount=1&currency=EUR&cids={id}");
    let retried = reopened.convert_query(&query, Timestamp::now()).unwrap();
    assert!(
        matches!(
            retried,
            clickledger::Outcome::Accepted(_) | clickledger::Outcome::Replayed(_)
        ),
        "{retried:?}"
    );
}

#[test]
fn a_start_that_cannot_listen_registers_no_demo_program() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig::new(taken.local_addr().unwrap(), dir.path().to_owned());
    let error = Server::open(config).err().expect("the port is taken");
    assert!(matches!(error, ServeError::Bind { .. }), "{error}");
    let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    assert!(
        ledger.programs().is_empty(),
        "a demo key was made and never shown"
    );
}

#[tokio::test]
async fn a_clean_stop_leaves_a_checkpoint_so_the_restart_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path().to_owned()).await;
    let id = server.click("p").await;
    let (status, _) = server
        .postback(&format!("id=K1&amount=1&currency=EUR&cids={id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
    let reopened = Ledger::open(dir.path(), Default::default()).unwrap();
    assert!(reopened.recovery().checkpoint.is_some(), "no checkpoint");
    assert_eq!(reopened.recovery().records, 0, "records replayed after it");
    let demo = reopened.program_id("demo").unwrap();
    assert_eq!(reopened.conversions(demo).len(), 1);
}

#[tokio::test]
async fn health_and_metrics_report_the_counts() {
    let server = start().await;
    let (status, body) = json_of(server.get("/healthz").await).await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &"ok".into()));
    let id = server.click("p").await;
    server
        .postback(&format!("id=M1&amount=1&currency=EUR&cids={id}"))
        .await;
    let text = server.get("/metrics").await.text().await.unwrap();
    for line in [
        "clickledger_clicks_total{kind=\"click\"}",
        "clickledger_postbacks_total{status=\"accepted\",reason=\"none\"}",
        "clickledger_request_duration_seconds_bucket{endpoint=\"postback\"",
        "clickledger_sync_duration_seconds_bucket",
        "clickledger_log_bytes",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shutdown_finishes_requests_in_flight_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_in(dir.path().to_owned()).await;
    let (stop, run) = (server.stop.take().unwrap(), server.task.take().unwrap());
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(server.click("p").await);
    }
    let server = Arc::new(server);
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(order, id)| {
            let url = format!(
                "{}/postback?key={}&id=S{order}&amount=3&currency=EUR&cids={id}",
                server.base, server.key
            );
            let client = server.client.clone();
            // Requests that find the socket closed fail: those are not acknowledged.
            tokio::spawn(async move {
                let response = client.get(url).send().await.ok()?;
                let ok = response.status() == StatusCode::OK;
                let body: Value = response.json().await.ok()?;
                ok.then(|| body["order_id"].as_str().map(str::to_owned))?
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(5)).await;
    stop.send(()).unwrap();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    run.await.unwrap().unwrap();
    drop(Arc::into_inner(server).unwrap());

    let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    let program = ledger.program_id("demo").unwrap();
    let stored: Vec<String> = ledger
        .conversions(program)
        .iter()
        .map(|conversion| conversion.order.order_id.clone())
        .collect();
    for order in &acknowledged {
        assert!(stored.contains(order), "acknowledged {order} lost");
    }
    for id in &ids {
        assert!(
            ledger.click(&id.parse().unwrap()).is_some(),
            "click {id} lost"
        );
    }
}

#[tokio::test]
async fn the_advertisers_half_round_trips_through_the_server() {
    use clickledger::advertiser::{click_id_from_url, postback_url, CollectedIds};
    let server = start().await;
    let response = server.get("/c/demo/partner-5").await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let mut collected = CollectedIds::new();
    collected.add(click_id_from_url(&location).unwrap());
    let order = clickledger::Order {
        amount_minor: Some(1999),
        vouchers: vec!["SPRING&10".into(), "VIP".into()],
        products: vec!["sku/1".into()],
        ..clickledger::Order::new("ADV-1", clickledger::Currency::parse("EUR").unwrap())
    };
    let endpoint = format!("{}/postback", server.base);
    let url = postback_url(&endpoint, &server.key, &order, collected.ids()).unwrap();
    let (status, body) = json_of(server.client.get(url).send().await.unwrap()).await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &"accepted".into()),
        "{body}"
    );
    assert_eq!(body["partner"], "partner-5");
    let stored = server
        .ledger
        .conversions(server.ledger.program_id("demo").unwrap());
    assert_eq!(stored[0].order, order);
    server.stop().await;
}

#[tokio::test]
async fn a_head_request_answers_like_a_get_but_mints_nothing() {
    let server = start().await;
    let head = |path: &str| server.client.head(format!("{}{path}", server.base)).send();
    let response = head("/c/demo/p?url=https%3A%2F%2Fshop.example%2Fx%3Fa%3D1")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "https://shop.example/x?a=1");
    let response = head("/i/demo/p").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/gif");
    assert!(response.headers().get("x-aecid").is_none());
    let response = head("/c/demo/p?url=https%3A%2F%2Fevil.example%2F")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let stats = server.ledger.stats();
    assert_eq!((stats.clicks, stats.impressions), (0, 0));
    server.stop().await;
}
