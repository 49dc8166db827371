#![no_main]
//! RFC 3161 responses and tokens from arbitrary DER.
use libfuzzer_sys::fuzz_target;
use signet_pki::timestamp::TimestampToken;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = TimestampToken::parse_response(data) {
        let _ = token.verify(b"signature", &[]);
    }
    let _ = TimestampToken::parse_token(data);
});
