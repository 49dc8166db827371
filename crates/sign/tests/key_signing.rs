//! Key-based signing end to end against the real transparency log
//! (`signet-log`, started in-process; tests/support/real_log.rs).

mod support {
    pub mod real_log;
}

use signet_model::{Bundle, SigningConfig, TrustedRoot};
use signet_sign::flow::{Content, Identity, SignOptions, SigningContext};
use signet_sign::{keys, SignError, Signer};
use signet_verify::{Artifact, Options, SignerPolicy, TrustMaterial, Verifier};
use support::real_log::TestLog;

fn context(log: &TestLog) -> (SigningContext, TrustedRoot) {
    context_via(log, &log.signing_config)
}

/// A context trusting `log`, signing through the services of `config`.
fn context_via(log: &TestLog, config: &str) -> (SigningContext, TrustedRoot) {
    let root = TrustedRoot::from_json(log.trusted_root.as_bytes()).unwrap();
    let config = SigningConfig::from_json(config.as_bytes()).unwrap();
    (
        SigningContext::new(&config, &root, SignOptions::default()).unwrap(),
        root,
    )
}

fn verify(root: &TrustedRoot, bundle: &Bundle, artifact: &Artifact<'_>, key: &dyn Signer) {
    let verifier = Verifier::new(
        TrustMaterial::from_trusted_root(root).unwrap(),
        Options::default(),
    );
    verifier
        .verify(bundle, artifact, &SignerPolicy::Key(key.public_key()))
        .unwrap();
}

#[test]
fn sign_blob_with_a_cosign_key() {
    let log = TestLog::start();
    let (ctx, root) = context(&log);
    let pair = keys::generate_key_pair(b"pw").unwrap();
    let key = keys::load_private_key(&pair.private_pem, b"pw").unwrap();
    let signed = ctx
        .sign(Identity::Key(&key), Content::Blob(b"hello, log"))
        .unwrap();
    let bundle = Bundle::from_json(signed.bundle.to_json().as_bytes()).unwrap();
    assert_eq!(
        bundle.media_type,
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert!(bundle.verification_material.public_key.is_some());
    let entry = &bundle.verification_material.tlog_entries[0];
    assert_eq!(entry.kind_version.kind, "hashedrekord");
    assert_eq!(entry.kind_version.version, "0.0.1");
    assert!(entry.inclusion_promise.is_some());
    verify(&root, &bundle, &Artifact::Bytes(b"hello, log"), &key);
    assert!(Verifier::new(
        TrustMaterial::from_trusted_root(&root).unwrap(),
        Options::default()
    )
    .verify(
        &bundle,
        &Artifact::Bytes(b"other"),
        &SignerPolicy::Key(key.public_key())
    )
    .is_err());

    // The logged entry has Rekor's hashedrekord 0.0.1 shape and names the
    // key as PEM.
    let logged = log.entry_body(0);
    assert_eq!(logged["kind"], "hashedrekord");
    assert_eq!(logged["spec"]["data"]["hash"]["algorithm"], "sha256");
    let pem_text = signet_model::encoding::decode_base64(
        logged["spec"]["signature"]["publicKey"]["content"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(pem_text).unwrap(),
        pair.public_pem.replace("\r\n", "\n")
    );
}

#[test]
fn attest_with_a_key_as_dsse() {
    let log = TestLog::start();
    let (ctx, root) = context(&log);
    let key = signet_sign::InMemorySigner::generate_p256().unwrap();
    let digest = signet_model::encoding::encode_hex(signet_crypto::sha256(b"artifact"));
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "artifact", "digest": {"sha256": digest}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {}}
    })
    .to_string();
    let signed = ctx
        .sign(Identity::Key(&key), Content::InToto(statement.as_bytes()))
        .unwrap();
    let entry = &signed.bundle.verification_material.tlog_entries[0];
    assert_eq!(entry.kind_version.kind, "dsse");
    assert_eq!(
        signed.bundle.dsse_envelope.as_ref().unwrap().payload.0,
        statement.as_bytes()
    );
    verify(&root, &signed.bundle, &Artifact::Bytes(b"artifact"), &key);
    let logged = log.entry_body(0);
    assert_eq!(logged["kind"], "dsse");
    assert_eq!(
        logged["spec"]["payloadHash"]["value"],
        signet_model::encoding::encode_hex(signet_crypto::sha256(statement.as_bytes()))
    );
}

#[test]
fn a_log_answering_another_entry_fails_loudly() {
    let log = TestLog::start();
    let proxy = log.substituting_proxy();
    let (ctx, _) = context_via(&log, &TestLog::signing_config_for(&proxy));
    let key = signet_sign::InMemorySigner::generate_p256().unwrap();
    let err = ctx
        .sign(Identity::Key(&key), Content::Blob(b"x"))
        .unwrap_err();
    assert!(matches!(err, SignError::SelfCheck { .. }), "{err}");
    assert!(err.to_string().contains("tlog-body"), "{err}");
}
