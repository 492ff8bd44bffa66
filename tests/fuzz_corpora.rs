//! Runs every kept input of every fuzz target through the target's body, so `cargo
//! test` replays the corpora on the stable toolchain without cargo-fuzz: an input that
//! once found a fault, or that reaches a rare path, keeps being checked.
//!
//! The inputs are `fuzz/corpus/<target>/` (minimized by `cargo fuzz cmin`) and
//! `fuzz/seeds/<target>/` (made from the field cases and the TalkingData sample by the
//! ignored test `write_seeds`; see `fuzz/README.md`).

mod model;

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use clickledger::log::frame::{read_frame, FrameRead};
use clickledger::log::segment::{segment_file_name, LOG_DIR_NAME, SEGMENT_HEADER_BYTES};
use clickledger::{secret, ClickKind, Ledger, Options, ProgramSettings, Timestamp};
use model::script::{self, ClickSpec, IdChoice, Op, PostbackSpec, ProgramSpec, Request};
use model::targets;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("postback_query", targets::postback_query),
    ("click_id", targets::click_id),
    ("log_segment", targets::log_segment),
    ("claim_sequence", targets::claim_sequence),
];

#[test]
fn postback_query_corpus_passes() {
    replay("postback_query");
}

#[test]
fn click_id_corpus_passes() {
    replay("click_id");
}

#[test]
fn log_segment_corpus_passes() {
    replay("log_segment");
}

#[test]
fn claim_sequence_corpus_passes() {
    replay("claim_sequence");
}

/// Runs each input of `target`'s corpus and seeds; fails naming every input that panics.
fn replay(target: &str) {
    let (_, body) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target");
    let inputs = inputs_of(target);
    assert!(!inputs.is_empty(), "no corpus or seeds kept for {target}");
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            // A fuzzer running on the same corpus may remove an input meanwhile.
            let Ok(bytes) = std::fs::read(path) else {
                return false;
            };
            panic::catch_unwind(AssertUnwindSafe(|| body(&bytes))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    println!("{target}: {} inputs, {} failed", inputs.len(), failed.len());
    assert!(failed.is_empty(), "{target} fails on {failed:?}");
}

fn inputs_of(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs: Vec<PathBuf> = ["corpus", "seeds"]
        .iter()
        .filter_map(|kind| std::fs::read_dir(fuzz.join(kind).join(target)).ok())
        .flatten()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .collect();
    inputs.sort();
    inputs
}

/// Writes the seeds of `postback_query`, `click_id`, `log_segment` and the TalkingData
/// seed of `claim_sequence` (the field-case seeds of `claim_sequence` are kept by
/// `tests/claim_sequence.rs`). Run by hand: `cargo test --test fuzz_corpora -- --ignored`.
#[test]
#[ignore = "writes fuzz/seeds; run by hand when the cases or the formats change"]
fn write_seeds() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let queries = field_queries();
    let rows = talkingdata_rows(400);
    let mut postbacks = queries.clone();
    postbacks.extend(talkingdata_queries(&rows));
    write_all(
        &seeds.join("postback_query"),
        "query",
        postbacks.iter().map(|q| q.as_bytes().to_vec()),
    );
    let ids: Vec<Vec<u8>> = postbacks
        .iter()
        .filter_map(|query| query.split("cids=").nth(1))
        .flat_map(|cids| cids.split(['-', '&']).map(|id| id.as_bytes().to_vec()))
        .take(200)
        .collect();
    write_all(&seeds.join("click_id"), "id", ids.into_iter());
    write_all(
        &seeds.join("log_segment"),
        "talkingdata",
        talkingdata_segments(&rows).into_iter(),
    );
    let sequence = script::encode(&talkingdata_sequence(&rows));
    write_all(
        &seeds.join("claim_sequence"),
        "talkingdata",
        std::iter::once(sequence),
    );
}

fn write_all(directory: &Path, stem: &str, inputs: impl Iterator<Item = Vec<u8>>) {
    std::fs::create_dir_all(directory).expect("seed directory");
    for (index, input) in inputs.enumerate() {
        std::fs::write(directory.join(format!("{stem}-{index:03}")), input).expect("write seed");
    }
}

/// Every postback of the field cases, placeholders filled with IDs of the right shape.
fn field_queries() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/cases/field_cases.jsonl");
    let text = std::fs::read_to_string(path).expect("field cases");
    let ids: Vec<clickledger::ClickId> = (0..10u8)
        .map(|n| {
            let mut bytes = [0x5a; 12];
            bytes[0..4].copy_from_slice(&1_740_823_200u32.to_be_bytes());
            bytes[8] = n;
            clickledger::ClickId::from_bytes(bytes)
        })
        .collect();
    let mut queries = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON case");
        collect_postbacks(&value, &mut queries);
    }
    queries
        .into_iter()
        .filter_map(|query| model::template::substitute(&query, &ids).ok())
        .collect()
}

fn collect_postbacks(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(object) => {
            if let Some(serde_json::Value::String(query)) = object.get("postback") {
                out.push(query.clone());
            }
            object
                .values()
                .for_each(|inner| collect_postbacks(inner, out));
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|inner| collect_postbacks(inner, out))
        }
        _ => {}
    }
}

/// A row of the TalkingData sample: app, channel, click time, download time.
struct Row {
    app: u32,
    channel: u32,
    clicked: Timestamp,
    attributed: Option<Timestamp>,
}

/// The first `count` rows and every attributed row of the sample.
fn talkingdata_rows(count: usize) -> Vec<Row> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/talkingdata/train_sample.csv");
    let text = std::fs::read_to_string(path).expect("TalkingData sample");
    let time = |text: &str| Timestamp::parse_rfc3339(&format!("{}Z", text.replace(' ', "T"))).ok();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            Some(Row {
                app: fields.get(1)?.parse().ok()?,
                channel: fields.get(4)?.parse().ok()?,
                clicked: time(fields.get(5)?)?,
                attributed: fields.get(6).and_then(|text| time(text)),
            })
        })
        .enumerate()
        .filter(|(index, row)| *index < count || row.attributed.is_some())
        .map(|(_, row)| row)
        .collect()
}

/// Postbacks for the attributed rows, as `replay talkingdata` would send them.
fn talkingdata_queries(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|row| row.attributed.is_some())
        .take(40)
        .enumerate()
        .map(|(index, row)| {
            let mut bytes = [0x3c; 12];
            bytes[0..4].copy_from_slice(&row.clicked.unix().to_be_bytes());
            let id = clickledger::ClickId::from_bytes(bytes);
            format!(
                "key=app{}&id=td{index}&amount=0.99&currency=USD&cids={id}",
                row.app
            )
        })
        .collect()
}

/// Segment 1 of a ledger that recorded the rows: as framed payloads (odd first byte)
/// and as raw bytes (even first byte; their CRCs belong to another secret).
fn talkingdata_segments(rows: &[Row]) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    let mut programs = std::collections::HashMap::new();
    for row in rows.iter().take(120) {
        let program = *programs.entry(row.app).or_insert_with(|| {
            let settings = ProgramSettings::new(&format!("app{}", row.app));
            ledger
                .register_program_with_key(settings, &format!("app{}", row.app))
                .unwrap()
        });
        let partner = format!("channel{}", row.channel);
        let id = ledger
            .record_click(program, &partner, ClickKind::Click, row.clicked)
            .unwrap();
        if let Some(at) = row.attributed {
            let query = format!(
                "key=app{}&id=o{id}&amount=0.99&currency=USD&cids={id}",
                row.app
            );
            ledger.convert_query(&query, at).unwrap();
        }
    }
    drop(ledger);
    let key = secret::load(dir.path()).unwrap().unwrap();
    let seed = secret::frame_seed(&key);
    let bytes = std::fs::read(dir.path().join(LOG_DIR_NAME).join(segment_file_name(1))).unwrap();
    let mut framed = vec![1u8];
    let mut offset = SEGMENT_HEADER_BYTES;
    while let FrameRead::Valid {
        payload,
        frame_bytes,
    } = read_frame(&bytes[offset..], seed)
    {
        framed.extend((payload.len() as u16).to_le_bytes());
        framed.extend_from_slice(payload);
        offset += frame_bytes;
    }
    let mut raw = vec![0u8];
    raw.extend_from_slice(&bytes[SEGMENT_HEADER_BYTES..]);
    vec![framed, raw]
}

/// A claim sequence shaped like the sample: its apps as programs, channels as
/// partners, times moved into the encodable span, each download posted back.
fn talkingdata_sequence(rows: &[Row]) -> Vec<Op> {
    let first = rows.iter().map(|row| row.clicked.unix()).min().unwrap_or(0);
    let moved = |at: Timestamp| Timestamp::from_unix(script::TIME_BASE + (at.unix() - first));
    let mut apps: Vec<u32> = Vec::new();
    let mut ops = Vec::new();
    let mut clicks = 0u8;
    for row in rows
        .iter()
        .filter(|row| row.attributed.is_some())
        .take(8)
        .chain(rows.iter().take(30))
    {
        let program = match apps.iter().position(|app| *app == row.app) {
            Some(position) => position,
            None if apps.len() < 8 => {
                apps.push(row.app);
                ops.push(Op::RegisterProgram(ProgramSpec::standard()));
                apps.len() - 1
            }
            None => continue,
        };
        ops.push(Op::Click(ClickSpec {
            program: program as u8,
            partner: (row.channel % 256) as u8,
            impression: false,
            at: moved(row.clicked),
        }));
        if let Some(at) = row.attributed {
            ops.push(Op::Postback(Request::Built(PostbackSpec {
                key: program as u8,
                order: clicks,
                amount_minor: Some(99),
                currency: 3,
                payment: None,
                customer: None,
                ids: vec![IdChoice::Minted {
                    click: clicks,
                    upper: false,
                }],
                at: moved(at),
            })));
        }
        clicks += 1;
        if ops.len() >= script::OPS_MAX - 2 {
            break;
        }
    }
    ops.push(Op::Sync);
    ops
}
