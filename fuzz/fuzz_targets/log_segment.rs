//! Bytes as the body of a log segment, then open: never a panic; the open ends in a
//! usable ledger (possibly with a torn tail cut) or a typed error.
//!
//! Frame CRCs are seeded from the directory's secret, so raw bytes almost never form a
//! frame the log accepts. To reach record decoding and replay as well, an input whose
//! first byte is odd is read as payloads (each a 2-byte little-endian length, then that
//! many bytes), framed with the directory's seed; its last, incomplete piece is
//! appended raw, as a torn tail would be. An even first byte sends the rest raw.
#![no_main]

use clickledger::log::frame::append_frame;
use clickledger::log::segment::{segment_file_name, segment_header, LOG_DIR_NAME};
use clickledger::secret::{self, frame_seed};
use clickledger::{Ledger, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
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
    if let Ok(ledger) = Ledger::open(dir.path(), Options::default()) {
        let _ = ledger.stats();
        ledger.sync().expect("a ledger that opened accepts a sync");
    }
});

/// Frames each length-prefixed payload of `body` into `out`; the rest goes in raw.
fn frame_payloads(out: &mut Vec<u8>, mut body: &[u8], seed: clickledger::log::frame::FrameSeed) {
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
