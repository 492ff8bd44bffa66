//! The built `clickledger serve` binary as an operator runs it: a SIGTERM while
//! postbacks are in flight ends it with status 0 and loses nothing it acknowledged; a
//! `kill -9` loses no acknowledged postback and no click older than the click sync
//! interval; a second server on the same data directory is refused with a message that
//! says why; programs are made and re-keyed with `clickledger program` between runs.
//! (Endpoint behaviour is tested in-process in `src/bin/clickledger/serve/tests.rs`.)

mod serial;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clickledger::Ledger;

/// A server child process and what its banner said.
struct Served {
    child: Child,
    base: String,
    key: String,
}

/// Starts the binary on an ephemeral loopback port and reads its banner, which holds a
/// key on the start that registers the demo program.
fn serve(data: &Path) -> Served {
    serve_with(data, &[], true)
}

fn serve_with(data: &Path, flags: &[&str], with_key: bool) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(flags)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut base, mut key) = (String::new(), String::new());
    while base.is_empty() || (with_key && key.is_empty()) {
        let line = lines.next().expect("the banner ended early").unwrap();
        if let Some(rest) = line.strip_prefix("clickledger serving on ") {
            base = rest.split_whitespace().next().unwrap().to_owned();
        }
        if let Some((_, shown)) = line.split_once("shown this once: ") {
            key = shown.trim().to_owned();
        }
    }
    Served { child, base, key }
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_with_postbacks_in_flight_exits_0_and_keeps_everything_acknowledged() {
    let _serial = serial::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (clicks, acknowledged) = runtime.block_on(async {
        let mut clicks = Vec::new();
        for _ in 0..100 {
            let url = format!("{}/c/demo/p", served.base);
            let response = client.get(url).send().await.unwrap();
            let location = response.headers()["location"].to_str().unwrap();
            clicks.push(location.rsplit("aecid=").next().unwrap().to_owned());
        }
        let tasks: Vec<_> = clicks
            .iter()
            .enumerate()
            .map(|(order, id)| {
                let url = format!(
                    "{}/postback?key={}&id=T{order}&amount=7&currency=EUR&cids={id}",
                    served.base, served.key
                );
                let client = client.clone();
                tokio::spawn(async move {
                    let response = client.get(url).send().await.ok()?;
                    let ok = response.status() == reqwest::StatusCode::OK;
                    let body: serde_json::Value = response.json().await.ok()?;
                    ok.then(|| body["order_id"].as_str().map(str::to_owned))?
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        terminate(&served.child);
        let mut acknowledged = Vec::new();
        for task in tasks {
            acknowledged.extend(task.await.unwrap());
        }
        (clicks, acknowledged)
    });
    eprintln!("acknowledged {} of {}", acknowledged.len(), clicks.len());
    let status = served.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");

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
    for id in &clicks {
        assert!(
            ledger.click(&id.parse().unwrap()).is_some(),
            "click {id} lost"
        );
    }
}

#[test]
fn a_second_server_on_the_same_directory_is_refused_and_the_first_keeps_serving() {
    let _serial = serial::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut first = serve(dir.path());
    let second = Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains("is in use by another process") && message.contains("--data"),
        "{message}"
    );
    assert!(
        second.stdout.is_empty(),
        "the second start printed a banner"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let health = runtime.block_on(async {
        let url = format!("{}/healthz", first.base);
        reqwest::get(url).await.unwrap().status()
    });
    assert_eq!(health, reqwest::StatusCode::OK);
    terminate(&first.child);
    assert!(first.child.wait().unwrap().success());
}

fn clickledger(args: &[&str], data: &Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

fn shown_key(stdout: &str) -> String {
    stdout.trim_end().rsplit(' ').next().unwrap().to_owned()
}

#[test]
fn programs_are_made_and_rekeyed_from_the_cli_while_the_server_is_stopped() {
    let _serial = serial::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let create = ["program", "create", "shoes", "--domain", "shop.example"];
    let (ok, stdout, stderr) = clickledger(&create, dir.path());
    assert!(ok, "{stderr}");
    let old_key = shown_key(&stdout);
    assert_eq!(old_key.len(), 32, "{stdout}");

    let mut served = serve_with(dir.path(), &["--no-demo"], false);
    let (ok, _, stderr) = clickledger(&["program", "rotate-key", "shoes"], dir.path());
    assert!(!ok && stderr.contains("in use"), "{stderr}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let click = |base: String| {
        let client = client.clone();
        async move {
            let url = format!("{base}/c/shoes/p?url=https%3A%2F%2Fshop.example%2Fx");
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::FOUND);
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            location.rsplit("aecid=").next().unwrap().to_owned()
        }
    };
    let id = runtime.block_on(click(served.base.clone()));
    terminate(&served.child);
    assert!(served.child.wait().unwrap().success());

    let (ok, stdout, stderr) = clickledger(&["program", "rotate-key", "shoes"], dir.path());
    assert!(ok, "{stderr}");
    let new_key = shown_key(&stdout);
    assert_ne!(new_key, old_key);

    let mut served = serve_with(dir.path(), &["--no-demo"], false);
    let statuses = runtime.block_on(async {
        let mut statuses = Vec::new();
        for key in [&old_key, &new_key] {
            let url = format!(
                "{}/postback?key={key}&id=K1&amount=1&currency=EUR&cids={id}",
                served.base
            );
            statuses.push(client.get(url).send().await.unwrap().status().as_u16());
        }
        statuses
    });
    assert_eq!(
        statuses,
        [403, 200],
        "the old key is refused, the new one accepted"
    );
    terminate(&served.child);
    assert!(served.child.wait().unwrap().success());
}

#[test]
fn kill_9_loses_no_acknowledged_postback_nor_a_click_older_than_the_sync_interval() {
    let _serial = serial::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve_with(dir.path(), &["--click-sync-ms", "50"], true);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (claimed, clicked) = runtime.block_on(async {
        let click = || async {
            let url = format!("{}/c/demo/p", served.base);
            let response = client.get(url).send().await.unwrap();
            let location = response.headers()["location"].to_str().unwrap();
            location.rsplit("aecid=").next().unwrap().to_owned()
        };
        let mut claimed = Vec::new();
        for order in 0..10 {
            let id = click().await;
            let url = format!(
                "{}/postback?key={}&id=K{order}&amount=2&currency=EUR&cids={id}",
                served.base, served.key
            );
            assert_eq!(client.get(url).send().await.unwrap().status(), 200);
            claimed.push(id);
        }
        // Clicks after the last postback are covered by no postback's sync: only the
        // click syncer makes them durable. Give it its interval.
        let mut clicked = Vec::new();
        for _ in 0..10 {
            clicked.push(click().await);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        (claimed, clicked)
    });
    served.child.kill().unwrap();
    served.child.wait().unwrap();

    let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    let program = ledger.program_id("demo").unwrap();
    assert_eq!(ledger.conversions(program).len(), claimed.len());
    for id in claimed.iter().chain(&clicked) {
        assert!(
            ledger.click(&id.parse().unwrap()).is_some(),
            "click {id} lost"
        );
    }
}
