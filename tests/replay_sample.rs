//! The TalkingData sample replays to exact counts, and a reopened ledger still holds them.
//!
//! This runs the `clickledger` binary as a user would: `replay talkingdata` on the shared
//! 100,000-row sample (`<crate>/../shared/data/talkingdata/train_sample.csv`) into a new
//! directory, then `stats` on that directory. Every one of the sample's 227 downloads is
//! posted back once (accepted), again (replayed), as a new order on the same click
//! (already_claimed) and with a forged ID (unknown_click); no other answer may appear. Reopening must find the same 100,000 clicks and 227
//! conversions, which proves they reached the log and are read back from it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SAMPLE_CLICKS: u64 = 100_000;
const SAMPLE_CONVERSIONS: u64 = 227;

/// The shared sample, or a failure that says where it was looked for and why.
fn sample_path() -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/talkingdata/train_sample.csv");
    assert!(
        path.is_file(),
        "the TalkingData sample is not at {}. This test needs the team's shared/ directory \
         beside the checkout (shared/data/talkingdata/train_sample.csv; CI always has it).",
        path.display()
    );
    path
}

fn clickledger(arguments: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(arguments)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "clickledger {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

#[test]
fn sample_replays_to_exact_counts_and_reopens_with_them() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("ledger");
    let data = data.to_str().unwrap();
    let sample = sample_path();

    let summary = json(&clickledger(&[
        "replay",
        "talkingdata",
        sample.to_str().unwrap(),
        "--data",
        data,
        "--json",
    ]));
    assert_eq!(summary["clicks"], SAMPLE_CLICKS);
    assert_eq!(summary["conversions_expected"], SAMPLE_CONVERSIONS);
    assert_eq!(summary["postbacks"], 4 * SAMPLE_CONVERSIONS);
    assert_eq!(summary["accepted"], SAMPLE_CONVERSIONS);
    assert_eq!(summary["replayed"], SAMPLE_CONVERSIONS);
    assert_eq!(
        summary["rejected"],
        serde_json::json!({ "already_claimed": 227, "unknown_click": 227 })
    );
    assert_eq!(summary["forged"], SAMPLE_CONVERSIONS);
    assert_eq!(summary["unexpected"], 0);
    assert_eq!(summary["check"]["passed"], true);
    assert_eq!(
        (summary["programs"].as_u64(), summary["partners"].as_u64()),
        (Some(161), Some(161))
    );

    let stats = json(&clickledger(&["stats", "--data", data, "--json"]));
    assert_eq!(stats["clicks"], SAMPLE_CLICKS);
    assert_eq!(stats["conversions"], SAMPLE_CONVERSIONS);
    assert_eq!(stats["claimed_ids"], SAMPLE_CONVERSIONS);
    assert_eq!(stats["programs"], 161);
    let per_program = stats["per_program"].as_array().unwrap();
    let conversions: u64 = per_program
        .iter()
        .map(|p| p["conversions"].as_u64().unwrap())
        .sum();
    assert_eq!(conversions, SAMPLE_CONVERSIONS);
}

#[test]
fn table_output_shows_the_counts_and_a_passed_check() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("ledger");
    let sample = sample_path();
    let output = clickledger(&[
        "replay",
        "talkingdata",
        sample.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let table = String::from_utf8(output.stdout).unwrap();
    for line in [
        "  clicks recorded                  100,000\n",
        "  accepted                             227\n",
        "  replayed                             227\n",
        "  rejected already_claimed             227\n",
        "  rejected unknown_click               227\n",
        "  IDs found forged                     227\n",
        "  unexpected answers                     0\n",
    ] {
        assert!(table.contains(line), "missing {line:?} in:\n{table}");
    }
    assert!(
        table.ends_with("(conversions in the input): ok\n"),
        "{table}"
    );
}

#[test]
fn replay_refuses_a_directory_that_is_not_empty_and_leaves_it_alone() {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("keep.txt"), b"mine").unwrap();
    // The directory is checked before the input is opened: the input need not exist.
    let output = Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(["replay", "talkingdata", "never-read.csv", "--data"])
        .arg(scratch.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    let entries = std::fs::read_dir(scratch.path()).unwrap().count();
    assert_eq!(entries, 1);
}

#[test]
fn unusable_file_is_refused_with_its_line_and_column_and_writes_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let csv = scratch.path().join("bad.csv");
    std::fs::write(
        &csv,
        "ip,app,device,os,channel,click_time,attributed_time,is_attributed\r\n\
         1,1,1,1,1,2017-11-07 00:00:00,,0\r\n\
         1,1,1,1,1,2017-13-01 00:00:00,,0\r\n",
    )
    .unwrap();
    let data = scratch.path().join("ledger");
    let output = Command::new(env!("CARGO_BIN_EXE_clickledger"))
        .args(["replay", "talkingdata"])
        .arg(&csv)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "line 3, column click_time: expected YYYY-MM-DD HH:MM:SS, found \"2017-13-01 00:00:00\""
        ),
        "{stderr}"
    );
    assert!(!data.exists(), "nothing is written");
}
