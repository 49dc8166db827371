//! Interop with sigstore-js against the stack `signet up` runs:
//! `@sigstore/verify` (an independent verifier) checks signet's bundles
//! against our trusted_root.json, and `@sigstore/cli` 0.8 `attest` signs
//! with our CA (Fulcio v2 publicKeyRequest + proofOfPossession) and log
//! (Rekor v1, intoto 0.0.2); signet verifies the result.
//!
//! The packages come from SIGNET_PEER_NODE_DIR (scripts/test.sh installs
//! them and exports it). Without them the test fails, unless
//! SIGNET_SKIP_PEERS=1.

mod support {
    pub mod up;
}

use std::path::Path;

use support::up::*;

const VERIFY_JS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/sigstore_js_verify.js"
);

fn js_verify(
    node_dir: &Path,
    dir: &Path,
    up: &Up,
    bundle: &str,
    file: &str,
    identity: &str,
) -> std::process::Output {
    run(
        dir,
        "node",
        &[
            VERIFY_JS,
            path(node_dir),
            path(&up.trusted_root),
            bundle,
            file,
            identity,
            if identity == "--key" {
                "k.pub"
            } else {
                &up.oidc_url
            },
        ],
        &[],
    )
}

fn kind_of(dir: &Path, bundle: &str) -> String {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(bundle)).unwrap()).unwrap();
    let kv = &doc["verificationMaterial"]["tlogEntries"][0]["kindVersion"];
    format!(
        "{} {}",
        kv["kind"].as_str().unwrap(),
        kv["version"].as_str().unwrap()
    )
}

#[test]
fn sigstore_js_verifies_signet_bundles_and_signs_against_the_stack() {
    let Some(node_dir) = node_dir() else {
        return;
    };
    let dir = workdir("interop-node");
    let up = Up::start(&dir.join("stack"));
    std::fs::write(dir.join("a.txt"), b"signed by signet\n").unwrap();
    std::fs::write(dir.join("other.txt"), b"never signed\n").unwrap();
    let token = up.token(EMAIL);
    let trust = path(&up.trust_config).to_string();

    // @sigstore/verify checks signet's keyless message signature and DSSE
    // attestation, and rejects a wrong file or identity.
    ok(&signet(
        &dir,
        &[
            "sign-blob",
            "a.txt",
            "--bundle",
            "a.json",
            "--identity-token",
            &token,
            "--trust-config",
            &trust,
        ],
    ));
    let out = js_verify(&node_dir, &dir, &up, "a.json", "a.txt", EMAIL);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("verified alice@example.com"));
    fails(&js_verify(
        &node_dir,
        &dir,
        &up,
        "a.json",
        "other.txt",
        EMAIL,
    ));
    fails(&js_verify(
        &node_dir,
        &dir,
        &up,
        "a.json",
        "a.txt",
        "mallory@example.com",
    ));
    std::fs::write(
        dir.join("predicate.json"),
        br#"{"buildDefinition":{"buildType":"x"}}"#,
    )
    .unwrap();
    ok(&signet(
        &dir,
        &[
            "attest-blob",
            "a.txt",
            "--predicate",
            "predicate.json",
            "--type",
            "slsaprovenance1",
            "--bundle",
            "a.att.json",
            "--identity-token",
            &token,
            "--trust-config",
            &trust,
        ],
    ));
    ok(&js_verify(
        &node_dir,
        &dir,
        &up,
        "a.att.json",
        "a.txt",
        EMAIL,
    ));
    // (For DSSE, @sigstore/verify checks the envelope and leaves matching
    // the statement's subject to the caller, so no wrong-file case here.)
    fails(&js_verify(
        &node_dir,
        &dir,
        &up,
        "a.att.json",
        "a.txt",
        "mallory@example.com",
    ));

    // A managed key: @sigstore/verify finds it by the bundle's key hint.
    ok(&signet(
        &dir,
        &["generate-key-pair", "--output-key-prefix", "k"],
    ));
    ok(&signet(
        &dir,
        &[
            "sign-blob",
            "a.txt",
            "--key",
            "k.key",
            "--bundle",
            "k.json",
            "--trust-config",
            &trust,
        ],
    ));
    ok(&js_verify(&node_dir, &dir, &up, "k.json", "a.txt", "--key"));
    fails(&js_verify(
        &node_dir,
        &dir,
        &up,
        "k.json",
        "other.txt",
        "--key",
    ));

    // @sigstore/cli attests (token only through CI=true SIGSTORE_ID_TOKEN).
    let digest = signet_model::encoding::encode_hex(signet_crypto::sha256(b"signed by signet\n"));
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a.txt", "digest": {"sha256": digest}}],
        "predicateType": "https://example.com/predicate/v1",
        "predicate": {"k": "v"}
    });
    std::fs::write(dir.join("statement.json"), statement.to_string()).unwrap();
    let cli = node_dir.join("node_modules/.bin/sigstore");
    ok(&run(
        &dir,
        &cli,
        &[
            "attest",
            "statement.json",
            "--fulcio-url",
            &up.ca_url,
            "--rekor-url",
            &up.log_url,
            "--oidc-issuer",
            &up.oidc_url,
            "--timeout",
            "30",
            "-o",
            "js.att.json",
        ],
        &[("CI", "true"), ("SIGSTORE_ID_TOKEN", &token)],
    ));
    assert_eq!(kind_of(&dir, "js.att.json"), "intoto 0.0.2");
    ok(&signet(
        &dir,
        &[
            "verify-blob",
            "a.txt",
            "--bundle",
            "js.att.json",
            "--trusted-root",
            path(&up.trusted_root),
            "--certificate-identity",
            EMAIL,
            "--certificate-oidc-issuer",
            &up.oidc_url,
        ],
    ));
    let out = signet(
        &dir,
        &[
            "verify-blob",
            "other.txt",
            "--bundle",
            "js.att.json",
            "--trusted-root",
            path(&up.trusted_root),
            "--certificate-identity",
            EMAIL,
            "--certificate-oidc-issuer",
            &up.oidc_url,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    ok(&js_verify(
        &node_dir,
        &dir,
        &up,
        "js.att.json",
        "a.txt",
        EMAIL,
    ));
    up.stop();
}
