#![no_main]
//! Rekor entry bodies: canonical re-encoding is stable.
use libfuzzer_sys::fuzz_target;
use signet_model::rekor::EntryBody;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = EntryBody::parse(data) {
        let canonical = body.canonical_json();
        let again = EntryBody::parse(canonical.as_bytes()).expect("re-parse");
        assert_eq!(again.canonical_json(), canonical);
    }
});
