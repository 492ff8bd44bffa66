//! Arbitrary text to the click ID parser: never a panic; valid IDs round-trip through
//! their canonical text, and only 24 hex digits are ever accepted.
#![no_main]

use clickledger::ClickId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(id) = ClickId::parse(text) {
        assert_eq!(text.len(), 24);
        assert!(text.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_eq!(id.to_string(), text.to_ascii_lowercase());
        assert_eq!(ClickId::parse(&id.to_string()), Ok(id));
    }
});
