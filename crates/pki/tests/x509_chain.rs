//! Chain validation and Fulcio identity on the conformance bundles.

mod x509_support;

use signet_pki::chain::{ChainError, ChainVerifier, Purpose};
use signet_pki::fulcio::{self, SubjectAltName};
use x509_support::case;

/// The signing time the verifier would use: the tlog integrated time, or
/// (Rekor v2 entries have none) a minute into the certificate's validity.
fn signing_time(name: &str) -> i64 {
    let c = case(name);
    let (leaf, _) = c.certs();
    c.integrated_time().unwrap_or(leaf.not_before() + 60)
}

fn check_happy(name: &str) {
    let c = case(name);
    let (leaf, rest) = c.certs();
    let verifier = ChainVerifier::new(c.cas());
    for i in 0..verifier.cas().len() {
        assert_eq!(verifier.ca_status(i), Some(Ok(())), "{name}: CA {i}");
    }
    let at = signing_time(name);
    let v = verifier
        .verify(&leaf, &rest, at, Purpose::CodeSigning)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(v.issuer.subject_der(), leaf.issuer_der());
    // Also without the bundle's chain (v0.1 carries one).
    verifier
        .verify(&leaf, &[], at, Purpose::CodeSigning)
        .unwrap();

    let late = leaf.not_after() + 1;
    assert_eq!(
        verifier
            .verify(&leaf, &rest, late, Purpose::CodeSigning)
            .unwrap_err(),
        ChainError::LeafNotValidAt {
            at: late,
            not_before: leaf.not_before(),
            not_after: leaf.not_after()
        },
        "{name}"
    );
    // A Fulcio leaf is not a timestamping certificate.
    assert!(matches!(
        verifier.verify(&leaf, &rest, at, Purpose::TimeStamping),
        Err(ChainError::WrongExtendedKeyUsage { .. })
    ));
}

#[test]
fn happy_path_v0_3() {
    check_happy("happy-path-v0.3");
}

#[test]
fn happy_path_v0_1() {
    check_happy("happy-path-v0.1");
}

#[test]
fn rekor2_happy_path() {
    check_happy("rekor2-happy-path");
}

#[test]
fn intoto_with_custom_trust_root() {
    check_happy("intoto-with-custom-trust-root");
}

#[test]
fn bundle_with_root_cert_fails() {
    let c = case("bundle-with-root-cert_fail");
    let (leaf, rest) = c.certs();
    assert_eq!(rest.len(), 2);
    let verifier = ChainVerifier::new(c.cas());
    let at = c.integrated_time().unwrap();
    // The bundle carries a root (rest[0]); that alone is refused.
    assert!(rest[0].is_self_issued());
    assert_eq!(
        verifier
            .verify(&leaf, &rest, at, Purpose::CodeSigning)
            .unwrap_err(),
        ChainError::BundleContainsRoot { index: 0 }
    );
    // Its intermediate is not the trusted one either (same name and key,
    // another certificate).
    assert_eq!(
        verifier
            .verify(&leaf, &rest[1..], at, Purpose::CodeSigning)
            .unwrap_err(),
        ChainError::UntrustedBundleCertificate { index: 0 }
    );
    // The leaf itself chains to the trust root: the bundle's extra
    // certificates are the only problem.
    verifier
        .verify(&leaf, &[], at, Purpose::CodeSigning)
        .unwrap();
}

#[test]
fn intoto_expired_certificate_fails() {
    let c = case("intoto-expired-certificate_fail");
    let (leaf, rest) = c.certs();
    let verifier = ChainVerifier::new(c.cas());
    let at = c.integrated_time().unwrap();
    assert!(at < leaf.not_before());
    assert_eq!(
        verifier
            .verify(&leaf, &rest, at, Purpose::CodeSigning)
            .unwrap_err(),
        ChainError::LeafNotValidAt {
            at,
            not_before: leaf.not_before(),
            not_after: leaf.not_after()
        }
    );
}

#[test]
fn fulcio_identity_of_happy_path_v0_3() {
    let (leaf, _) = case("happy-path-v0.3").certs();
    let id = fulcio::identity(&leaf).unwrap();
    let san = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    assert_eq!(id.san, vec![SubjectAltName::Uri(san.into())]);
    assert_eq!(id.san_values(), vec![san]);
    assert_eq!(fulcio::san_strings(&leaf).unwrap(), vec![san.to_string()]);
    assert_eq!(
        id.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    let e = &id.extensions;
    assert_eq!(
        e.source_repository_uri.as_deref(),
        Some("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon")
    );
    assert_eq!(e.runner_environment.as_deref(), Some("github-hosted"));
    assert_eq!(e.github_workflow_ref.as_deref(), Some("refs/heads/main"));
}
