#![no_main]
//! Bundle and trust-root parsing: never panic, and what parses serializes
//! to something that parses to the same value.
use libfuzzer_sys::fuzz_target;
use signet_model::{Bundle, TrustedRoot};

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::from_json(data) {
        let again = Bundle::from_json(bundle.to_json().as_bytes()).expect("re-parse");
        assert_eq!(again, bundle);
    }
    let _ = TrustedRoot::from_json(data);
});
