//! Arbitrary bytes as the body of a log segment, then open: never a panic; the open
//! ends in a usable ledger (possibly with a torn tail cut) or a typed error.
#![no_main]

use clickledger::log::segment::{segment_file_name, segment_header, LOG_DIR_NAME};
use clickledger::{Ledger, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let dir = tempfile::tempdir().expect("temporary directory");
    // A fresh ledger gives a valid secret and first segment.
    drop(Ledger::open(dir.path(), Options::default()).expect("fresh ledger"));
    let mut segment = segment_header(1).to_vec();
    segment.extend_from_slice(body);
    let path = dir.path().join(LOG_DIR_NAME).join(segment_file_name(1));
    std::fs::write(&path, &segment).expect("write segment");
    if let Ok(ledger) = Ledger::open(dir.path(), Options::default()) {
        let _ = ledger.stats();
        ledger.sync().expect("a ledger that opened accepts a sync");
    }
});
