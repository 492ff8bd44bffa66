//! `clickledger checkpoint` writes a checkpoint that `stats` then opens from, and a
//! directory holding checkpoints is still one `simulate` may replace: the tool knows
//! `checkpoints/` as the ledger's own, and refuses a stranger in it.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn clickledger(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn json(output: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn checkpoint_then_stats_opens_from_it_and_simulate_still_replaces_the_ledger() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("ledger");
    json(&clickledger(
        &["simulate", "--clicks", "2000", "--json"],
        &data,
    ));

    let written = json(&clickledger(&["checkpoint", "--json"], &data));
    let path = written["path"].as_str().unwrap().to_owned();
    assert!(Path::new(&path).is_file(), "{path}");
    assert!(written["records_replayed_at_open"].as_u64().unwrap() > 2000);

    let stats = json(&clickledger(&["stats", "--json"], &data));
    assert_eq!(stats["checkpoint"].as_str(), Some(path.as_str()));
    assert_eq!(stats["records_replayed"].as_u64(), Some(0));
    assert_eq!(stats["clicks"].as_u64(), Some(2000));

    fs::write(data.join("checkpoints").join("notes.txt"), b"mine").unwrap();
    let refused = clickledger(&["simulate", "--clicks", "1000"], &data);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("notes.txt"));
    fs::remove_file(data.join("checkpoints").join("notes.txt")).unwrap();

    json(&clickledger(
        &["simulate", "--clicks", "1000", "--json"],
        &data,
    ));
    assert!(
        !data.join("checkpoints").exists(),
        "the old checkpoints went with the ledger"
    );
    let stats = json(&clickledger(&["stats", "--json"], &data));
    assert_eq!(stats["clicks"].as_u64(), Some(1000));
}
