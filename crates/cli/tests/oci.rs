//! `signet sign IMAGE`, `verify IMAGE...` and `tree IMAGE` end to end
//! through the binary, against a REAL registry (Debian's docker-registry,
//! distribution 2.8: no referrers API, so the referrers tag schema is
//! used), test images pushed with skopeo, and a private Sigstore stack
//! (`signet up`: our log, CA and dev OIDC issuer).

mod support {
    pub mod cli;
    pub mod registry;
    pub mod up;
}

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use signet_oci::layout::{legacy, referrers};
use signet_oci::manifest::{Descriptor, Index, Manifest, OCI_MANIFEST};
use signet_oci::{Digest, Reference, Registry};
use support::cli::*;
use support::registry::{peers, TestRegistry};
use support::up::*;

/// Verifies with `--key k.pub --output json`; returns (exit code, document).
fn verify_key(dir: &Path, root: &str, images: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec![
        "verify",
        "--key",
        "k.pub",
        "--trusted-root",
        root,
        "--output",
        "json",
    ];
    args.extend_from_slice(images);
    let out = sig(dir, &args);
    (out.status.code(), json_out(&out))
}

#[test]
fn key_signatures_in_both_layouts_and_tampering() {
    let Some((dir, up, reg, root, signing)) = keyed_stack("oci-key") else {
        return;
    };
    let trust = [
        "--trusted-root",
        root.as_str(),
        "--signing-config",
        signing.as_str(),
    ];

    let app = reg.image("team/app", "v1");
    let app_digest = reg.push_image("team/app", "v1", "app v1");
    let other = reg.image("team/other", "v1");
    let other_digest = reg.push_image("team/other", "v1", "other v1");
    let unsigned = reg.image("team/unsigned", "v1");
    reg.push_image("team/unsigned", "v1", "unsigned v1");

    // Nothing signed yet.
    let (code, doc) = verify_key(&dir, &root, &[&app]);
    assert_eq!(code, Some(1));
    assert_eq!(doc[0]["check"], "no-signatures", "{doc}");
    assert_eq!(doc[0]["digest"], app_digest.as_str());

    // Current layout (default): a referrer, listed in the tag-schema index.
    let mut sign = vec!["sign", app.as_str(), "--key", "k.key", "-a", "env=test"];
    sign.extend_from_slice(&trust);
    let out = sig(&dir, &sign);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&app_digest),
        "sign prints the signed digest"
    );
    let (code, doc) = verify_key(&dir, &root, &[&app]);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc[0]["verified"], true);
    assert_eq!(doc[0]["digest"], app_digest.as_str());
    assert_eq!(doc[0]["signatures"][0]["source"]["layout"], "referrer");

    // A second signature: both are listed and both verify.
    ok(&sig(&dir, &sign));
    let registry = client();
    let app_ref = Reference::parse(&app).unwrap();
    let app_d = Digest::parse(&app_digest).unwrap();
    let index = Index::from_json(
        &registry
            .get_manifest(&app_ref, &referrers::fallback_tag(&app_d))
            .unwrap()
            .bytes,
    )
    .unwrap();
    assert_eq!(index.manifests.len(), 2, "{index:?}");
    let (code, doc) = verify_key(&dir, &root, &[&app]);
    assert_eq!(code, Some(0));
    assert_eq!(doc[0]["signatures"].as_array().unwrap().len(), 2, "{doc}");

    // Legacy layout, twice: one .sig manifest, two layers, all verify.
    let mut legacy_sign = sign.clone();
    legacy_sign.push("--legacy");
    ok(&sig(&dir, &legacy_sign));
    legacy_sign[5] = "env=again";
    ok(&sig(&dir, &legacy_sign));
    let sig_manifest = legacy::read_manifest(&registry, &app_ref, &app_d)
        .unwrap()
        .unwrap();
    assert_eq!(sig_manifest.layers.len(), 2);
    let (code, doc) = verify_key(&dir, &root, &[&app]);
    assert_eq!(code, Some(0));
    assert_eq!(doc[0]["signatures"].as_array().unwrap().len(), 4, "{doc}");

    // tree lists both layouts.
    let out = sig(&dir, &["tree", &app, "--output", "json"]);
    ok(&out);
    let tree = json_out(&out);
    assert_eq!(tree["signatures"]["layers"].as_array().unwrap().len(), 2);
    assert_eq!(tree["referrers"].as_array().unwrap().len(), 2);
    assert_eq!(tree["referrersListing"], "tag-schema");
    let out = sig(&dir, &["tree", &app]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains(".sig"));

    // Many images at once: one passes, one is unsigned.
    let (code, doc) = verify_key(&dir, &root, &[&app, &unsigned]);
    assert_eq!(code, Some(1));
    assert_eq!(doc[0]["verified"], true);
    assert_eq!(doc[1]["check"], "no-signatures");

    // Wrong key.
    ok(&sig(
        &dir,
        &["generate-key-pair", "--output-key-prefix", "wrong"],
    ));
    let out = sig(
        &dir,
        &[
            "verify",
            &app,
            "--key",
            "wrong.pub",
            "--trusted-root",
            &root,
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let doc = json_out(&out);
    assert_eq!(doc[0]["verified"], false);
    assert_eq!(doc[0]["check"], "signature", "{doc}");
    let checks = rejected_checks(&doc[0]);
    assert_eq!(checks.len(), 4, "{doc}");
    assert!(checks.iter().all(|c| c == "signature"), "{doc}");

    // Signature copied from another image: app's .sig manifest put at
    // other's .sig tag (cross-repo blobs are mounted by re-uploading).
    let other_ref = Reference::parse(&other).unwrap();
    let other_d = Digest::parse(&other_digest).unwrap();
    let (_, only_legacy) = copy_legacy(&registry, &app_ref, &app_d, &other_ref, &other_d);
    let (code, doc) = verify_key(&dir, &root, &[&other]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc[0]["check"], "image-digest", "{doc}");
    assert!(only_legacy > 0);
    // … and a referrer bundle copied to another image.
    copy_referrer(&registry, &app_ref, &app_d, &other_ref, &other_d);
    let (code, doc) = verify_key(&dir, &root, &[&other]);
    assert_eq!(code, Some(1), "{doc}");
    let checks: Vec<&str> = doc[0]["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["check"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&"statement-subject"), "{doc}");
    assert!(checks.contains(&"image-digest"), "{doc}");

    // Payload changed: the legacy layer's payload replaced (same
    // signature) on a fresh image.
    let victim = reg.image("team/victim", "v1");
    let victim_digest = reg.push_image("team/victim", "v1", "victim v1");
    let mut legacy_victim = vec!["sign", victim.as_str(), "--key", "k.key", "--legacy"];
    legacy_victim.extend_from_slice(&trust);
    ok(&sig(&dir, &legacy_victim));
    let (code, _) = verify_key(&dir, &root, &[&victim]);
    assert_eq!(code, Some(0));
    let victim_ref = Reference::parse(&victim).unwrap();
    let victim_d = Digest::parse(&victim_digest).unwrap();
    tamper_payload(&registry, &victim_ref, &victim_d);
    let (code, doc) = verify_key(&dir, &root, &[&victim]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc[0]["check"], "signature", "{doc}");

    // The tag moves to a new digest after signing: verifying the tag
    // reports the new digest as unsigned; the old digest still verifies.
    let new_digest = reg.push_image("team/app", "v1", "app v1, rebuilt");
    assert_ne!(new_digest, app_digest);
    let (code, doc) = verify_key(&dir, &root, &[&app]);
    assert_eq!(code, Some(1));
    assert_eq!(doc[0]["digest"], new_digest.as_str());
    assert_eq!(doc[0]["check"], "no-signatures");
    let pinned = format!("{}/team/app@{app_digest}", reg.host);
    let (code, doc) = verify_key(&dir, &root, &[&pinned]);
    assert_eq!(code, Some(0), "{doc}");
    // Text output names the verified digest.
    let out = sig(
        &dir,
        &["verify", &pinned, "--key", "k.pub", "--trusted-root", &root],
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("verified {app_digest}")));
    drop((reg, up));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Puts `from`'s `.sig` manifest (and its blobs) at `to`'s `.sig` tag.
fn copy_legacy(
    registry: &Registry,
    from: &Reference,
    from_d: &Digest,
    to: &Reference,
    to_d: &Digest,
) -> (Manifest, usize) {
    let m = legacy::read_manifest(registry, from, from_d)
        .unwrap()
        .unwrap();
    for d in m.layers.iter().chain(std::iter::once(&m.config)) {
        let blob = registry.get_blob(from, &d.digest, 1 << 20).unwrap();
        registry.put_blob(to, &blob).unwrap();
    }
    registry
        .put_manifest(to, &legacy::signature_tag(to_d), OCI_MANIFEST, &m.to_json())
        .unwrap();
    let n = m.layers.len();
    (m, n)
}

/// Pushes `from`'s first referrer bundle as a referrer of `to`.
fn copy_referrer(
    registry: &Registry,
    from: &Reference,
    from_d: &Digest,
    to: &Reference,
    to_d: &Digest,
) {
    let found = referrers::bundles(registry, from, from_d).unwrap();
    let bundle = found[0].bundle.clone().unwrap();
    let subject = registry.resolve(&to.at_digest(to_d)).unwrap();
    referrers::push(
        registry,
        to,
        &subject,
        &bundle,
        referrers::SIGN_PREDICATE_TYPE,
    )
    .unwrap();
}

/// Replaces the payload of `image`'s only legacy layer with one that names
/// the same digest but carries an extra claim; the signature stays.
fn tamper_payload(registry: &Registry, repo: &Reference, image: &Digest) {
    let mut m = legacy::read_manifest(registry, repo, image)
        .unwrap()
        .unwrap();
    let mut extra = BTreeMap::new();
    extra.insert("tampered".to_string(), Value::Bool(true));
    let payload = legacy::payload(&repo.repository_name(), image, &extra);
    registry.put_blob(repo, &payload).unwrap();
    let annotations = m.layers[0].annotations.clone();
    let mut layer = Descriptor::of(legacy::SIMPLE_SIGNING_MEDIA_TYPE, &payload);
    layer.annotations = annotations;
    m.layers[0] = layer;
    registry
        .put_manifest(
            repo,
            &legacy::signature_tag(image),
            OCI_MANIFEST,
            &m.to_json(),
        )
        .unwrap();
}

#[test]
fn keyless_signatures_and_identity_policy() {
    let Some((dir, up, reg)) = stack("oci-keyless") else {
        return;
    };
    let image = reg.image("keyless/app", "v1");
    let digest = reg.push_image("keyless/app", "v1", "keyless v1");
    let token = up.token(EMAIL);
    let trust = path(&up.trust_config).to_string();
    let root = path(&up.trusted_root).to_string();
    ok(&keyless(
        &dir,
        &["sign", &image, "--layout", "both"],
        &token,
        &trust,
    ));
    let verify = |identity: &str| {
        verify_keyless(&dir, "verify", &image, &root, (identity, &up.oidc_url), &[])
    };
    let out = verify(EMAIL);
    ok(&out);
    let doc = json_out(&out);
    assert_eq!(doc[0]["digest"], digest.as_str());
    let layouts: Vec<&str> = doc[0]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"]["layout"].as_str().unwrap())
        .collect();
    assert_eq!(layouts, ["referrer", "legacy"], "{doc}");

    let out = verify("mallory@example.com");
    assert_eq!(out.status.code(), Some(1));
    let doc = json_out(&out);
    assert_eq!(doc[0]["check"], "identity", "{doc}");
    assert!(!stderr(&out).contains(&token));
    drop((reg, up));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn basic_auth_registry_with_docker_config() {
    let Some((dir, up, reg, root, signing)) =
        keyed_stack_with("oci-auth", Some(("alice", "s3cret-pw")))
    else {
        return;
    };
    let image = reg.image("private/app", "v1");
    let digest = reg.push_image("private/app", "v1", "private v1");

    // Anonymous: refused, with a hint about credentials.
    let sign = [
        "sign",
        image.as_str(),
        "--key",
        "k.key",
        "--trusted-root",
        &root,
        "--signing-config",
        &signing,
    ];
    let out = sig(&dir, &sign);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("none configured"), "{}", stderr(&out));

    // docker's config.json `auths`.
    let docker = dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = signet_model::encoding::encode_base64(b"alice:s3cret-pw");
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"auths": {reg.host.clone(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let env = [("DOCKER_CONFIG", docker.to_str().unwrap())];
    let out = signet_env(&dir, &sign, &env);
    ok(&out);
    assert!(!stderr(&out).contains("s3cret"));
    let out = signet_env(
        &dir,
        &[
            "verify",
            &image,
            "--key",
            "k.pub",
            "--trusted-root",
            &root,
            "--output",
            "json",
        ],
        &env,
    );
    ok(&out);
    assert_eq!(json_out(&out)[0]["digest"], digest.as_str());

    // Explicit flags work too; a wrong password is refused without echoing it.
    let out = sig(
        &dir,
        &[
            "tree",
            &image,
            "--registry-username",
            "alice",
            "--registry-password",
            "s3cret-pw",
        ],
    );
    ok(&out);
    let out = sig(
        &dir,
        &[
            "tree",
            &image,
            "--registry-username",
            "alice",
            "--registry-password",
            "wrong-pw",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("wrong-pw"), "{}", stderr(&out));
    drop((reg, up));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn registry_with_a_private_ca() {
    if peers().is_none() {
        return;
    }
    let dir = workdir(&format!("oci-tls-{}", std::process::id()));
    let reg = TestRegistry::start_tls(&dir.join("registry"));
    let image = reg.image("tls/app", "v1");
    let digest = reg.push_image("tls/app", "v1", "tls v1");

    // The registry speaks TLS with a certificate no one trusts: refused.
    let out = sig(&dir, &["tree", &image, "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("certificate"), "{}", stderr(&out));
    // Trusted with --registry-cacert.
    let cert = reg.cert();
    let out = sig(
        &dir,
        &[
            "tree",
            &image,
            "--output",
            "json",
            "--registry-cacert",
            path(&cert),
        ],
    );
    ok(&out);
    assert_eq!(json_out(&out)["digest"], digest.as_str());
    drop(reg);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `signet verify IMAGE` keyless for EMAIL from `issuer` under `root`,
/// with JSON output.
fn verify_identity(dir: &Path, image: &str, root: &str, issuer: &str) -> Output {
    verify_keyless(dir, "verify", image, root, (EMAIL, issuer), &[])
}

#[test]
fn certificate_from_an_untrusted_ca_fails_the_chain_check() {
    if peers().is_none() {
        return;
    }
    let dir = workdir(&format!("oci-untrusted-ca-{}", std::process::id()));
    let signer_stack = Up::start(&dir.join("stack-a"));
    let other_stack = Up::start(&dir.join("stack-b"));
    let reg = TestRegistry::start(&dir.join("registry"), None);
    let image = reg.image("untrusted/app", "v1");
    let digest = reg.push_image("untrusted/app", "v1", "untrusted v1");
    let token = signer_stack.token(EMAIL);
    ok(&sig(
        &dir,
        &[
            "sign",
            &image,
            "--identity-token",
            &token,
            "--trust-config",
            path(&signer_stack.trust_config),
            "--layout",
            "both",
        ],
    ));
    let issuer = signer_stack.oidc_url.as_str();

    // Under the signing stack's own root both signatures verify.
    let out = verify_identity(&dir, &image, path(&signer_stack.trusted_root), issuer);
    ok(&out);
    assert_eq!(json_out(&out)[0]["signatures"].as_array().unwrap().len(), 2);

    // The other stack's root knows neither the log nor the CA: the first
    // foreign thing the verifier meets is the log entry.
    let out = verify_identity(&dir, &image, path(&other_stack.trusted_root), issuer);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json_out(&out);
    assert_eq!(doc[0]["digest"], digest.as_str());
    assert_eq!(doc[0]["check"], "tlog-unknown-log", "{doc}");

    // A root that trusts the signing stack's log but only the other
    // stack's CA (and CT log): the certificate is what is untrusted.
    let read = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let mut mixed = read(&other_stack.trusted_root);
    mixed["tlogs"] = read(&signer_stack.trusted_root)["tlogs"].clone();
    let mixed_path = dir.join("mixed_root.json");
    std::fs::write(&mixed_path, mixed.to_string()).unwrap();
    let out = verify_identity(&dir, &image, path(&mixed_path), issuer);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json_out(&out);
    assert_eq!(doc[0]["verified"], false);
    assert_eq!(doc[0]["check"], "certificate-chain", "{doc}");
    assert_eq!(
        rejected_checks(&doc[0]),
        ["certificate-chain", "certificate-chain"],
        "both layouts are rejected for the chain: {doc}"
    );
    // The text report names the check too.
    let out = sig(
        &dir,
        &[
            "verify",
            &image,
            "--trusted-root",
            path(&mixed_path),
            "--certificate-identity",
            EMAIL,
            "--certificate-oidc-issuer",
            issuer,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("certificate-chain"),
        "{}",
        stderr(&out)
    );
    drop((reg, signer_stack, other_stack));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A test CA, made two days ago, whose certificates the tests can date as
/// they like.
struct TestCa {
    ca: signet_ca::CertificateAuthority,
    principal: signet_ca::identity::Principal,
}

const DAY: i64 = 86_400;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl TestCa {
    fn new(issuer: &str) -> TestCa {
        let generated = signet_ca::keys::generate_ca(unix_now() - 3 * DAY).unwrap();
        let (ct_key, _) = signet_ca::FileSigner::generate(signet_ca::signer::Curve::P256).unwrap();
        let ct = signet_ca::ct::CtLogSigner::new(std::sync::Arc::new(ct_key)).unwrap();
        let ca = signet_ca::CertificateAuthority::new(
            std::sync::Arc::new(generated.signer),
            generated.chain,
            ct,
        )
        .unwrap();
        let claims = serde_json::json!({
            "iss": issuer, "sub": EMAIL, "email": EMAIL, "email_verified": true,
        });
        let principal = signet_ca::identity::principal(
            &signet_ca::IssuerConfig::new(issuer.to_string(), signet_ca::IssuerType::Email),
            claims.as_object().unwrap(),
        )
        .unwrap();
        TestCa { ca, principal }
    }

    /// `base` (a trusted root file) with this CA and its CT log added.
    fn trusted_root(&self, base: &Path, out: &Path) {
        let mut root = signet_model::TrustedRoot::from_json(&std::fs::read(base).unwrap()).unwrap();
        signet_ca::trust::TrustPieces::for_ca(
            &self.ca,
            "https://test-ca.invalid",
            "https://test-ct.invalid",
        )
        .add_to(&mut root);
        std::fs::write(out, serde_json::to_vec(&root).unwrap()).unwrap();
    }

    /// A v0.3 keyless bundle signing `image` as cosign does (DSSE over the
    /// image-signature statement), with a certificate issued at
    /// `issued_at`; logged in the Rekor v1 log at `log_url` when given,
    /// else with no log entry and no timestamp at all.
    fn bundle(
        &self,
        image: &Digest,
        issued_at: i64,
        log_url: Option<&str>,
    ) -> signet_model::Bundle {
        use signet_model::bundle::{VerificationMaterial, X509Certificate};
        use signet_model::{dsse, intoto};
        use signet_sign::Signer as _;
        let key = signet_sign::InMemorySigner::generate_p256().unwrap();
        let issued = self
            .ca
            .issue(&self.principal, &key.public_key(), issued_at)
            .unwrap();
        let statement = referrers::sign_statement(image, &BTreeMap::new());
        let sig = key
            .sign(&dsse::pae(intoto::PAYLOAD_TYPE, &statement))
            .unwrap();
        let envelope = dsse::Envelope {
            payload: statement.into(),
            payload_type: intoto::PAYLOAD_TYPE.to_string(),
            signatures: vec![dsse::Signature {
                sig: sig.into(),
                keyid: None,
            }],
        };
        let der = issued.leaf.der().to_vec();
        let mut tlog_entries = Vec::new();
        if let Some(log) = log_url {
            let request = signet_sign::rekor::dsse_v001(
                &envelope,
                signet_sign::rekor::Verifier::Certificate(&der),
            )
            .unwrap();
            let answer = reqwest::blocking::Client::new()
                .post(format!("{log}/api/v1/log/entries"))
                .header("Content-Type", "application/json")
                .body(request.to_string())
                .send()
                .unwrap();
            assert_eq!(answer.status().as_u16(), 201);
            let body = answer.bytes().unwrap();
            tlog_entries.push(signet_sign::rekor::log_entry_from_v1(&body).unwrap());
        }
        signet_model::Bundle {
            media_type: "application/vnd.dev.sigstore.bundle.v0.3+json".to_string(),
            verification_material: VerificationMaterial {
                public_key: None,
                x509_certificate_chain: None,
                certificate: Some(X509Certificate {
                    raw_bytes: der.into(),
                }),
                tlog_entries,
                timestamp_verification_data: None,
            },
            message_signature: None,
            dsse_envelope: Some(envelope),
        }
    }
}

/// Pushes `bundle` as an image-signature referrer of `repo@digest`.
fn push_bundle(
    registry: &Registry,
    repo: &Reference,
    digest: &Digest,
    bundle: &signet_model::Bundle,
) {
    let subject = registry.resolve(&repo.at_digest(digest)).unwrap();
    referrers::push(
        registry,
        repo,
        &subject,
        bundle.to_json().as_bytes(),
        referrers::SIGN_PREDICATE_TYPE,
    )
    .unwrap();
}

#[test]
fn expired_certificate_without_log_proof_is_rejected() {
    let Some((dir, up, reg)) = stack("oci-expired") else {
        return;
    };
    let test_ca = TestCa::new(&up.oidc_url);
    let root = dir.join("root_with_test_ca.json");
    test_ca.trusted_root(&up.trusted_root, &root);
    let root = path(&root).to_string();
    let registry = client();
    let now = unix_now();
    let image = |name: &str| {
        let digest = reg.push_image(&format!("expired/{name}"), "v1", name);
        let text = reg.image(&format!("expired/{name}"), "v1");
        let repo = Reference::parse(&text).unwrap();
        (text, repo, Digest::parse(&digest).unwrap())
    };

    // Control: a current certificate from the test CA, logged now,
    // verifies under this root: the CA, CT log and bundle form are sound.
    let (fresh, fresh_repo, fresh_d) = image("fresh");
    let bundle = test_ca.bundle(&fresh_d, now, Some(&up.log_url));
    push_bundle(&registry, &fresh_repo, &fresh_d, &bundle);
    let out = verify_identity(&dir, &fresh, &root, &up.oidc_url);
    ok(&out);

    // A certificate that expired two days ago (valid for minutes then),
    // with no log entry and no timestamp: nothing proves it was used while
    // valid, and the verifier refuses for want of that evidence.
    let (expired, expired_repo, expired_d) = image("expired");
    let bundle = test_ca.bundle(&expired_d, now - 2 * DAY, None);
    let leaf = signet_pki::cert::Certificate::from_der(
        &bundle
            .verification_material
            .certificate
            .as_ref()
            .unwrap()
            .raw_bytes
            .0,
    )
    .unwrap();
    assert!(leaf.not_after() < now - DAY, "the certificate has expired");
    assert!(bundle.verification_material.tlog_entries.is_empty());
    assert!(bundle
        .verification_material
        .timestamp_verification_data
        .is_none());
    push_bundle(&registry, &expired_repo, &expired_d, &bundle);
    let out = verify_identity(&dir, &expired, &root, &up.oidc_url);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json_out(&out);
    assert_eq!(doc[0]["verified"], false);
    assert_eq!(doc[0]["digest"], expired_d.to_string());
    assert_eq!(doc[0]["check"], "threshold", "{doc}");
    let reason = doc[0]["reason"].as_str().unwrap();
    assert!(reason.contains("from 0 distinct logs"), "{reason}");

    // The same expired certificate with a log entry made now: the log
    // proves a signing time, and the certificate was not valid then.
    let (late, late_repo, late_d) = image("late");
    let bundle = test_ca.bundle(&late_d, now - 2 * DAY, Some(&up.log_url));
    assert_eq!(bundle.verification_material.tlog_entries.len(), 1);
    push_bundle(&registry, &late_repo, &late_d, &bundle);
    let out = verify_identity(&dir, &late, &root, &up.oidc_url);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json_out(&out);
    assert_eq!(doc[0]["check"], "certificate-validity", "{doc}");
    drop((reg, up));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_images_pushes_signs_and_verifies_every_image() {
    if peers().is_none() {
        return;
    }
    let dir = workdir(&format!("oci-bench-{}", std::process::id()));
    let reg = TestRegistry::start(&dir.join("registry"), None);
    let out = sig(
        &dir,
        &[
            "bench",
            "images",
            "--registry",
            &reg.host,
            "--count",
            "5",
            "--concurrency",
            "2",
            "--warm-runs",
            "2",
            "--layout",
            "both",
            "--output",
            "json",
        ],
    );
    ok(&out);
    let report = json_out(&out);
    assert_eq!(report["count"], 5, "{report}");
    assert_eq!(report["concurrency"], 2);
    let repository = report["repository"].as_str().unwrap();
    assert!(repository.starts_with("signet-bench/"), "{report}");
    let passes: Vec<&Value> = std::iter::once(&report["cold"])
        .chain(report["warm"]["runs"].as_array().unwrap())
        .collect();
    assert_eq!(passes.len(), 3, "{report}");
    for pass in passes {
        assert_eq!(pass["verified"], 5, "{report}");
        assert_eq!(pass["failed"], 0, "{report}");
        assert!(pass["firstFailure"].is_null(), "{report}");
        assert!(pass["wallSeconds"].as_f64().unwrap() > 0.0);
        assert!(pass["imagesPerSecond"].as_f64().unwrap() > 0.0);
    }
    // Both layouts were written, and the in-memory baseline verified both
    // signatures of every image.
    assert_eq!(report["baseline"]["signaturesVerified"], 10, "{report}");
    for key in ["registryOnlySeconds", "verifyOnlyOneCoreSeconds"] {
        assert!(report["baseline"][key].as_f64().unwrap() > 0.0, "{report}");
    }
    for key in [
        "warmOverRegistryOnly",
        "warmOverVerifyOnly",
        "warmOverSum",
        "coldOverWarm",
    ] {
        assert!(report["ratios"][key].as_f64().unwrap() > 0.0, "{report}");
    }
    // The images are really there, each signed in both layouts.
    let registry = client();
    let image = Reference::parse(&format!("{}/{repository}:v4", reg.host)).unwrap();
    let digest = registry.resolve(&image).unwrap().digest;
    let pinned = image.at_digest(&digest);
    assert_eq!(
        referrers::bundles(&registry, &pinned, &digest)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(legacy::read(&registry, &pinned, &digest).unwrap().len(), 1);
    drop(reg);
    let _ = std::fs::remove_dir_all(&dir);
}
