//! The body of each fuzz target, as a plain function of the input bytes. The fuzz crate
//! calls these from `fuzz_target!`, and `tests/fuzz_corpora.rs` runs every input of the
//! kept corpora through them, so `cargo test` replays the corpora without cargo-fuzz.

use clickledger::log::frame::{append_frame, FrameSeed};
use clickledger::log::segment::{segment_file_name, segment_header, LOG_DIR_NAME};
use clickledger::secret::{self, frame_seed};
use clickledger::{ClickId, Ledger, Options, Postback, PostbackError};

use super::harness::Harness;
use super::query::{encode_postback, Style};
use super::script;

/// Every parameter name an error may carry.
const PARAMS: [&str; 11] = [
    "query", "key", "id", "amount", "currency", "payment", "customer", "cv", "voucher", "product",
    "cids",
];

/// `postback_query`: arbitrary bytes as a query string. Never a panic; an error names a
/// postback parameter; a valid postback re-encoded by the independent encoder, in any
/// style, and by `Postback::to_query`, parses back to the same value.
pub fn postback_query(data: &[u8]) {
    let parsed = Postback::from_query_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(
            Postback::from_query(text),
            parsed,
            "text and bytes parse alike"
        );
    }
    let postback = match parsed {
        Err(error) => return check_error(&error),
        Ok(postback) => postback,
    };
    assert_eq!(postback.check(), Ok(()), "a parsed postback passes check");
    let mut expected = postback.clone();
    expected.ignored_params.clear();
    let seed = data
        .iter()
        .fold(0usize, |sum, byte| sum.wrapping_add(usize::from(*byte)));
    let style = Style {
        rotate: seed,
        lower_hex: seed & 1 == 1,
        upper_ids: seed & 2 == 2,
    };
    for query in [encode_postback(&postback, style), postback.to_query()] {
        let reparsed = Postback::from_query(&query)
            .unwrap_or_else(|error| panic!("re-encoded {query:?} fails: {error}"));
        assert_eq!(reparsed, expected, "re-encoded as {query:?}");
    }
}

fn check_error(error: &PostbackError) {
    assert!(
        PARAMS.contains(&error.param()),
        "error names {:?}",
        error.param()
    );
    assert!(!error.to_string().is_empty());
}

/// `click_id`: arbitrary text to the click ID parser. Only 24 hex digits parse, and a
/// parsed ID round-trips through its canonical (lower-case) text and its bytes.
pub fn click_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(id) = ClickId::parse(text) else {
        let is_id = text.len() == 24 && text.bytes().all(|byte| byte.is_ascii_hexdigit());
        assert!(!is_id, "24 hex digits refused: {text:?}");
        return;
    };
    assert_eq!(text.len(), 24);
    assert!(text.bytes().all(|byte| byte.is_ascii_hexdigit()));
    assert_eq!(id.to_string(), text.to_ascii_lowercase());
    assert_eq!(ClickId::parse(&id.to_string()), Ok(id));
    assert_eq!(ClickId::from_bytes(*id.as_bytes()), id);
}

/// `log_segment`: bytes as the body of segment 1 of a ledger, then open. Never a panic;
/// the open ends in a usable ledger or a typed error.
///
/// Frame CRCs are seeded from the directory's secret, so raw bytes almost never form a
/// frame the log accepts. To reach record decoding and replay as well, an input whose
/// first byte is odd is read as payloads (each a 2-byte little-endian length, then
/// that many bytes) framed with the directory's seed; its last, incomplete piece is
/// appended raw, as a torn tail would be. An even first byte sends the rest raw.
pub fn log_segment(input: &[u8]) {
    let Some((&mode, body)) = input.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    // A fresh ledger gives a valid secret and first segment.
    drop(Ledger::open(dir.path(), Options::default()).expect("fresh ledger"));
    let mut segment = segment_header(1).to_vec();
    if mode % 2 == 1 {
        let key = secret::load(dir.path()).expect("secret").expect("stored");
        frame_payloads(&mut segment, body, frame_seed(&key));
    } else {
        segment.extend_from_slice(body);
    }
    let path = dir.path().join(LOG_DIR_NAME).join(segment_file_name(1));
    std::fs::write(&path, &segment).expect("write segment");
    let Ok(ledger) = Ledger::open(dir.path(), Options::default()) else {
        return;
    };
    let stats = ledger.stats();
    ledger.sync().expect("a ledger that opened accepts a sync");
    drop(ledger);
    // What opened once opens again to the same state: a repair is complete.
    let again = Ledger::open(dir.path(), Options::default()).expect("reopen after a repair");
    assert!(
        again.recovery().torn_tail.is_none(),
        "the repair left a tail to cut"
    );
    assert_eq!(again.stats(), stats, "reopening changed the state");
}

/// Frames each length-prefixed payload of `body` into `out`; the rest goes in raw.
fn frame_payloads(out: &mut Vec<u8>, mut body: &[u8], seed: FrameSeed) {
    while let [low, high, rest @ ..] = body {
        let length = usize::from(u16::from_le_bytes([*low, *high]));
        let Some(payload) = rest.get(..length) else {
            break;
        };
        // Empty payloads cannot be framed; the fuzzer learns to avoid them.
        let _ = append_frame(out, seed, |buffer| buffer.extend_from_slice(payload));
        body = &rest[length..];
    }
    out.extend_from_slice(body);
}

/// `claim_sequence`: bytes decoded into operations, played on a ledger and the
/// reference model, compared after every step.
pub fn claim_sequence(data: &[u8]) {
    let ops = script::decode(data);
    drop(Harness::run(&ops));
}
