//! RFC 3161 timestamp verification against the sigstore-conformance
//! `bundle-verify` cases that exercise timestamps.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use signet_pki::cert::Certificate;
use signet_pki::chain::ChainError;
use signet_pki::timestamp::{
    verify_timestamp, TimestampAuthority, TimestampError, TimestampToken, VerifiedTimestamp,
};

fn case_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/conformance/bundle-verify")
        .join(case)
}

fn read_json(case: &str, file: &str) -> Value {
    let path = case_dir(case).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Decodes base64 as protobuf JSON readers do; one case
/// (`rekor2-timestamp-with-incorrect-time_fail`) wraps its signedTimestamp at
/// 76 columns, and Go's decoder skips line breaks.
fn b64(v: &Value) -> Vec<u8> {
    let text: String = v
        .as_str()
        .expect("base64 string")
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    STANDARD.decode(text).unwrap()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` to unix seconds.
fn rfc3339(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    assert!(s.ends_with('Z'), "{s}");
    days_from_civil(n(0..4), n(5..7), n(8..10)) * 86_400
        + n(11..13) * 3600
        + n(14..16) * 60
        + n(17..19)
}

fn authorities(case: &str) -> Vec<TimestampAuthority> {
    let root = read_json(case, "trusted_root.json");
    root["timestampAuthorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            TimestampAuthority::new(
                a["certChain"]["certificates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| Certificate::from_der(&b64(&c["rawBytes"])).unwrap())
                    .collect(),
                a["validFor"]["start"].as_str().map(rfc3339),
                a["validFor"]["end"].as_str().map(rfc3339),
            )
        })
        .collect()
}

/// The bundle's single signed timestamp and the bytes it timestamps.
fn material(case: &str) -> (Vec<u8>, Vec<u8>) {
    let bundle = read_json(case, "bundle.sigstore.json");
    let stamps = bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        .as_array()
        .unwrap();
    assert_eq!(stamps.len(), 1, "{case}");
    let token = b64(&stamps[0]["signedTimestamp"]);
    let signed = if bundle["messageSignature"].is_object() {
        b64(&bundle["messageSignature"]["signature"])
    } else {
        b64(&bundle["dsseEnvelope"]["signatures"][0]["sig"])
    };
    (token, signed)
}

/// The bundle's signing (leaf) certificate.
fn bundle_leaf(case: &str) -> Certificate {
    let bundle = read_json(case, "bundle.sigstore.json");
    let vm = &bundle["verificationMaterial"];
    let raw = if vm["certificate"].is_object() {
        &vm["certificate"]["rawBytes"]
    } else {
        &vm["x509CertificateChain"]["certificates"][0]["rawBytes"]
    };
    Certificate::from_der(&b64(raw)).unwrap()
}

fn run(case: &str) -> Result<VerifiedTimestamp, TimestampError> {
    let (token, signed) = material(case);
    verify_timestamp(&token, &signed, &authorities(case))
}

/// The single authority's reason for rejecting.
fn only_failure(err: TimestampError) -> TimestampError {
    match err {
        TimestampError::Untrusted(mut failures) if failures.len() == 1 => failures.remove(0),
        other => panic!("expected one authority failure, got {other:?}"),
    }
}

const JUN_12_2025_12_02_20: i64 = 1_749_729_740;

#[test]
fn happy_path() {
    let ok = run("rekor2-happy-path").unwrap();
    assert_eq!(ok.time, JUN_12_2025_12_02_20);
    assert_eq!(ok.authority_index, 0);
    // The artifact's signing certificate was valid then.
    assert!(bundle_leaf("rekor2-happy-path").is_valid_at(ok.time));
}

#[test]
fn dsse_happy_path() {
    let ok = run("rekor2-dsse-happy-path").unwrap();
    assert_eq!(ok.time, rfc3339("2026-05-13T19:23:33Z"));
    assert!(bundle_leaf("rekor2-dsse-happy-path").is_valid_at(ok.time));
}

#[test]
fn with_embedded_cert() {
    let case = "rekor2-timestamp-with-embedded-cert";
    let (token, _) = material(case);
    assert!(!TimestampToken::parse_response(&token)
        .unwrap()
        .embedded_certificates()
        .is_empty());
    let ok = run(case).unwrap();
    assert_eq!(ok.time, rfc3339("2025-08-06T18:51:36Z"));
}

#[test]
fn without_embedded_cert() {
    let case = "rekor2-timestamp-without-embedded-cert";
    let (token, _) = material(case);
    assert!(TimestampToken::parse_response(&token)
        .unwrap()
        .embedded_certificates()
        .is_empty());
    let ok = run(case).unwrap();
    assert_eq!(ok.time, rfc3339("2025-08-06T19:03:51Z"));
}

#[test]
fn expired_chain_valid_at_gen_time() {
    // The TSA chain expired on 2025-08-07T15:37:08Z, after genTime.
    let case = "rekor2-timestamp-with-expired-cert-chain";
    let ok = run(case).unwrap();
    assert_eq!(ok.time, rfc3339("2025-08-07T15:32:26Z"));
    let authorities = authorities(case);
    assert!(authorities[0]
        .chain()
        .iter()
        .all(|c| c.not_after() < 1_800_000_000));
}

#[test]
fn authority_validity_end_is_inclusive() {
    let case = "trust-root-tsa-validity-end-inclusive";
    let authorities = authorities(case);
    assert_eq!(authorities[0].valid_until(), Some(JUN_12_2025_12_02_20));
    let ok = run(case).unwrap();
    assert_eq!(ok.time, JUN_12_2025_12_02_20);
    // One second less of validity and it fails.
    let (token, signed) = material(case);
    let shortened = vec![
        authorities[0].with_window(authorities[0].valid_from(), Some(JUN_12_2025_12_02_20 - 1))
    ];
    let err = verify_timestamp(&token, &signed, &shortened).unwrap_err();
    assert!(matches!(
        only_failure(err),
        TimestampError::OutsideAuthorityValidity { .. }
    ));
}

#[test]
fn outside_trust_root_validity() {
    let err = run("rekor2-timestamp-outside-trust-root-tsa-validity_fail").unwrap_err();
    assert_eq!(
        only_failure(err),
        TimestampError::OutsideAuthorityValidity {
            time: JUN_12_2025_12_02_20,
            valid_from: Some(rfc3339("2025-04-09T00:00:00Z")),
            valid_until: Some(rfc3339("2025-06-01T00:00:00Z")),
        }
    );
}

#[test]
fn outside_tsa_cert_validity() {
    let err = run("rekor2-timestamp-outside-tsa-cert-validity_fail").unwrap_err();
    assert_eq!(
        only_failure(err),
        TimestampError::CertificateNotValidAtTime {
            index: 0,
            not_before: rfc3339("2025-08-07T15:29:08Z"),
            not_after: rfc3339("2025-08-07T15:37:08Z"),
            time: rfc3339("2025-08-07T15:38:32Z"),
        }
    );
}

#[test]
fn payload_mismatch() {
    let err = run("rekor2-timestamp-payload-mismatch_fail").unwrap_err();
    assert!(
        matches!(err, TimestampError::MessageImprintMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn untrusted_tsa_with_embedded_cert() {
    let err = run("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail").unwrap_err();
    // The embedded freetsa.org certificate signed the token, but its issuer is
    // not the authority's CA.
    assert_eq!(
        only_failure(err),
        TimestampError::Chain(ChainError::NoTrustedIssuer)
    );
}

#[test]
fn untrusted_tsa_without_embedded_cert() {
    let err = run("rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail").unwrap_err();
    assert_eq!(only_failure(err), TimestampError::SignerIdMismatch);
}

#[test]
fn intoto_timestamp_outside_leaf_validity() {
    // The timestamp itself is sound; genTime (2023-02-02) is after the
    // artifact certificate expired (2023-02-01T00:10:00Z), which the
    // verification pipeline rejects.
    let case = "intoto-tsa-timestamp-outside-cert-validity_fail";
    let ok = run(case).unwrap();
    assert_eq!(ok.time, rfc3339("2023-02-02T00:00:00Z"));
    let leaf = bundle_leaf(case);
    assert_eq!(leaf.not_after(), rfc3339("2023-02-01T00:10:00Z"));
    assert!(!leaf.is_valid_at(ok.time));
}

#[test]
fn incorrect_time_is_outside_leaf_validity() {
    // The token verifies; its genTime (2025-07-15T10:33:31Z) is a month after
    // the artifact certificate's window (2025-06-12T12:02:16Z..=12:12:16Z),
    // which the verification pipeline rejects.
    let case = "rekor2-timestamp-with-incorrect-time_fail";
    let ok = run(case).unwrap();
    assert_eq!(ok.time, rfc3339("2025-07-15T10:33:31Z"));
    let leaf = bundle_leaf(case);
    assert_eq!(leaf.not_before(), rfc3339("2025-06-12T12:02:16Z"));
    assert_eq!(leaf.not_after(), rfc3339("2025-06-12T12:12:16Z"));
    assert!(!leaf.is_valid_at(ok.time));
}
