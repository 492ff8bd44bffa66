//! Arbitrary bytes as a postback query: never a panic; every input is either a valid
//! postback or a typed error, and a valid one survives re-encoding unchanged.
#![no_main]

use clickledger::Postback;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(postback) = Postback::from_query_bytes(data) {
        let reencoded = Postback::from_query(&postback.to_query())
            .unwrap_or_else(|error| panic!("re-encoded postback fails to parse: {error}"));
        let mut expected = postback;
        expected.ignored_params.clear();
        assert_eq!(reencoded, expected);
    }
});
