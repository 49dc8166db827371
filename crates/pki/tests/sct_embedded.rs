//! Embedded SCT verification on the conformance bundles.

mod x509_support;

use signet_pki::chain::{ChainVerifier, Purpose};
use signet_pki::sct::{verify_embedded_scts, SctError};
use x509_support::case;

/// Verifies the case's leaf chain, then its embedded SCTs with the
/// trust root's CT logs.
fn scts(name: &str) -> Result<Vec<signet_pki::sct::VerifiedSct>, SctError> {
    let c = case(name);
    let (leaf, _) = c.certs();
    let at = c.integrated_time().unwrap_or(leaf.not_before() + 60);
    let chain = ChainVerifier::new(c.cas())
        .verify(&leaf, &[], at, Purpose::CodeSigning)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    verify_embedded_scts(&leaf, &chain.issuer, &c.ct_logs())
}

#[test]
fn happy_path_v0_3() {
    let v = scts("happy-path-v0.3").unwrap();
    assert_eq!(v.len(), 1);
    assert!(v[0].sct.extensions.is_empty());
}

#[test]
fn sct_with_extensions() {
    let v = scts("bundle-with-sct-with-extensions").unwrap();
    assert!(!v.is_empty());
    assert!(v.iter().any(|s| !s.sct.extensions.is_empty()));
}

#[test]
fn other_happy_paths() {
    for name in [
        "happy-path-v0.1",
        "rekor2-happy-path",
        "intoto-with-custom-trust-root",
    ] {
        match scts(name) {
            Ok(v) => assert!(!v.is_empty(), "{name}"),
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn invalid_ct_key_fails() {
    let err = scts("invalid-ct-key_fail").unwrap_err();
    assert!(
        matches!(err, SctError::NoTrustedLog | SctError::BadSignature { .. }),
        "{err}"
    );
}
