//! `signet attest IMAGE` and `verify-attestation IMAGE...` end to end
//! through the binary, against a REAL registry (Debian's docker-registry,
//! distribution 2.8: no referrers API, so the referrers tag schema is
//! used), test images pushed with skopeo, and a private Sigstore stack
//! (`signet up`: our log, CA and dev OIDC issuer).

mod support {
    pub mod cli;
    pub mod registry;
    pub mod up;
}

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use signet_oci::layout::{legacy, referrers};
use signet_oci::manifest::{Manifest, OCI_MANIFEST};
use signet_oci::{Digest, Reference, Registry};
use support::cli::*;
use support::up::*;

const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

/// The sources (`layout` of each accepted attestation) of a passing
/// verdict.
fn layouts(doc: &Value) -> Vec<String> {
    doc["attestations"]
        .as_array()
        .unwrap_or_else(|| panic!("no attestations: {doc}"))
        .iter()
        .map(|a| a["source"]["layout"].as_str().unwrap().to_string())
        .collect()
}

/// `verify-attestation IMAGE --type KIND --key k.pub --trusted-root ROOT`
/// (and `--policy P`): a text report, or with `json` JSON.
fn verify_key_report(
    dir: &Path,
    root: &str,
    image: &str,
    kind: &str,
    policy: Option<&str>,
    json: bool,
) -> Output {
    let mut args = vec![
        "verify-attestation",
        image,
        "--type",
        kind,
        "--key",
        "k.pub",
        "--trusted-root",
        root,
    ];
    if json {
        args.extend_from_slice(&["--output", "json"]);
    }
    if let Some(p) = policy {
        args.extend_from_slice(&["--policy", p]);
    }
    sig(dir, &args)
}

/// [`verify_key_report`] in JSON: the exit code and the image's verdict.
fn verify_key(
    dir: &Path,
    root: &str,
    image: &str,
    kind: &str,
    policy: Option<&str>,
) -> (Option<i32>, Value) {
    let out = verify_key_report(dir, root, image, kind, policy, true);
    let doc = json_out(&out);
    (out.status.code(), doc[0].clone())
}

/// The `.att` manifest of `image`.
fn att_manifest(registry: &Registry, image: &str, digest: &str) -> Manifest {
    let r = Reference::parse(image).unwrap();
    let d = Digest::parse(digest).unwrap();
    legacy::read_manifest_at(registry, &r, &legacy::attestation_tag(&d))
        .unwrap()
        .unwrap_or_else(|| panic!("no .att manifest for {image}"))
}

const PROVENANCE: &str = r#"{
  "buildDefinition": {
    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
    "externalParameters": {"workflow": {"ref": "refs/heads/main",
      "repository": "https://github.com/myorg/app", "path": ".github/workflows/release.yml"}},
    "resolvedDependencies": [{"uri": "git+https://github.com/myorg/app@refs/heads/main",
      "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}}]
  },
  "runDetails": {"builder": {"id": "https://github.com/myorg/app/.github/workflows/release.yml@refs/heads/main"},
    "metadata": {"invocationId": "https://github.com/myorg/app/actions/runs/1/attempts/1"}}
}"#;

/// Passes when the provenance's workflow repository is under myorg.
const REPO_POLICY: &str = r#"
package provenance
import rego.v1
default allow := false
allow if {
    input.predicateType == "https://slsa.dev/provenance/v1"
    startswith(input.predicate.buildDefinition.externalParameters.workflow.repository, "https://github.com/myorg/")
}
"#;

/// Denies, with a message naming the builder, anything built by myorg's
/// release workflow.
const DENY_POLICY: &str = r#"
package provenance
import rego.v1
deny contains msg if {
    endswith(input.predicate.runDetails.builder.id, "release.yml@refs/heads/main")
    msg := sprintf("builder %s is not allowed", [input.predicate.runDetails.builder.id])
}
"#;

#[test]
fn key_attestations_in_both_layouts_with_rego() {
    let Some((dir, up, reg, root, signing)) = keyed_stack("attest-key") else {
        return;
    };
    std::fs::write(dir.join("prov.json"), PROVENANCE).unwrap();
    std::fs::write(dir.join("allow.rego"), REPO_POLICY).unwrap();
    std::fs::write(dir.join("deny.rego"), DENY_POLICY).unwrap();
    std::fs::write(
        dir.join("vuln.json"),
        r#"{"scanner": {"uri": "pkg:github/aquasecurity/trivy", "version": "0.50.0", "result": []}}"#,
    )
    .unwrap();

    let app = reg.image("team/app", "v1");
    let app_digest = reg.push_image("team/app", "v1", "app v1");
    let other = reg.image("team/other", "v1");
    let other_digest = reg.push_image("team/other", "v1", "other v1");

    let attest = |image: &str, predicate: &str, kind: &str, layout: &str| {
        sig(
            &dir,
            &[
                "attest",
                image,
                "--predicate",
                predicate,
                "--type",
                kind,
                "--key",
                "k.key",
                "--layout",
                layout,
                "--trusted-root",
                &root,
                "--signing-config",
                &signing,
            ],
        )
    };
    let verify = |image: &str, kind: &str, policy: Option<&str>| {
        verify_key(&dir, &root, image, kind, policy)
    };
    // Nothing attested yet.
    let (code, doc) = verify(&app, "slsaprovenance1", None);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["check"], "no-attestations", "{doc}");
    assert_eq!(doc["digest"], app_digest.as_str());

    // Attest in both layouts: one signature, written twice.
    let out = attest(&app, "prov.json", "slsaprovenance1", "both");
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&app_digest),
        "attest prints the attested digest"
    );

    // The legacy layer is cosign's: a DSSE envelope with its annotations
    // and a dsse Rekor entry in the bundle annotation.
    let registry = client();
    let att = att_manifest(&registry, &app, &app_digest);
    assert_eq!(att.layers.len(), 1);
    let layer = &att.layers[0];
    assert_eq!(layer.media_type, "application/vnd.dsse.envelope.v1+json");
    assert_eq!(layer.annotations["predicateType"], SLSA_V1);
    assert_eq!(layer.annotations["dev.cosignproject.cosign/signature"], "");
    assert!(!layer
        .annotations
        .contains_key("dev.sigstore.cosign/certificate"));
    let rekor: Value =
        serde_json::from_str(&layer.annotations["dev.sigstore.cosign/bundle"]).unwrap();
    let body =
        signet_model::encoding::decode_base64(rekor["Payload"]["body"].as_str().unwrap()).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["kind"], "dsse", "{body}");
    assert_eq!(body["apiVersion"], "0.0.1", "{body}");
    let app_ref = Reference::parse(&app).unwrap();
    let envelope = registry
        .get_blob(&app_ref, &layer.digest, layer.size)
        .unwrap();
    // cosign (VerifyBundle) matches the entry's envelope hash against the
    // layer's bytes: they are the envelope exactly as logged.
    assert_eq!(
        body["spec"]["envelopeHash"]["value"],
        signet_model::encoding::encode_hex(signet_crypto::sha256(&envelope)),
        "{body}"
    );
    assert_eq!(body["spec"]["envelopeHash"]["algorithm"], "sha256");
    let envelope: Value = serde_json::from_slice(&envelope).unwrap();
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    let statement =
        signet_model::encoding::decode_base64(envelope["payload"].as_str().unwrap()).unwrap();
    let statement: Value = serde_json::from_slice(&statement).unwrap();
    assert_eq!(statement["predicateType"], SLSA_V1);
    assert_eq!(
        statement["subject"][0]["name"],
        format!("{}/team/app", reg.host)
    );
    assert_eq!(
        format!(
            "sha256:{}",
            statement["subject"][0]["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        app_digest
    );
    // … and the referrer is listed with its predicate type.
    let app_d = Digest::parse(&app_digest).unwrap();
    let listed = referrers::bundles(&registry, &app_ref, &app_d).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].predicate_type.as_deref(), Some(SLSA_V1));

    // Both verify.
    let (code, doc) = verify(&app, "slsaprovenance1", None);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["digest"], app_digest.as_str());
    assert_eq!(layouts(&doc), ["referrer", "legacy"], "{doc}");
    let out = verify_key_report(&dir, &root, &app, "slsaprovenance1", None, false);
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "verified {app_digest}: 2 attestation(s) of type {SLSA_V1}: referrer "
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("legacy {}.att layer", app_d.tag_form())),
        "{text}"
    );

    // A Rego condition that passes, and one that denies.
    let (code, doc) = verify(&app, "slsaprovenance1", Some("allow.rego"));
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(layouts(&doc).len(), 2, "{doc}");
    let (code, doc) = verify(&app, "slsaprovenance1", Some("deny.rego"));
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["verified"], false);
    assert_eq!(doc["check"], "rego", "{doc}");
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "builder https://github.com/myorg/app/.github/workflows/release.yml@refs/heads/main is not allowed"
        ),
        "{reason}"
    );
    assert_eq!(rejected_checks(&doc), ["rego", "rego"], "{doc}");
    // The text report says the same.
    let out = verify_key_report(
        &dir,
        &root,
        &app,
        "slsaprovenance1",
        Some("deny.rego"),
        false,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("verification failed for {app_digest}: rego:")),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("is not allowed"), "{}", stderr(&out));

    // No attestation of the type asked for: the failure names the type.
    let (code, doc) = verify(&app, "vuln", None);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["check"], "predicate-type", "{doc}");
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("no attestation of type {VULN}")),
        "{reason}"
    );
    assert!(reason.contains(SLSA_V1), "{reason}");

    // A second attestation of another type: both coexist in both layouts.
    ok(&attest(&app, "vuln.json", "vuln", "both"));
    let att = att_manifest(&registry, &app, &app_digest);
    let types: Vec<&str> = att
        .layers
        .iter()
        .map(|l| l.annotations["predicateType"].as_str())
        .collect();
    assert_eq!(types, [SLSA_V1, VULN]);
    assert_eq!(
        referrers::bundles(&registry, &app_ref, &app_d)
            .unwrap()
            .len(),
        2
    );
    let (code, doc) = verify(&app, "vuln", None);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(layouts(&doc), ["referrer", "legacy"], "{doc}");
    let (code, doc) = verify(&app, "slsaprovenance1", Some("allow.rego"));
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(layouts(&doc).len(), 2, "{doc}");
    // The other type's attestations are reported as such, not as passes.
    let checks = rejected_checks(&doc);
    assert_eq!(checks, ["predicate-type", "predicate-type"], "{doc}");
    // A URI works as the type too.
    let (code, _) = verify(&app, VULN, None);
    assert_eq!(code, Some(0));

    // tree lists the .att tag with both types and the two referrers.
    let out = sig(&dir, &["tree", &app, "--output", "json"]);
    ok(&out);
    let tree = json_out(&out);
    assert_eq!(
        tree["attestations"]["layers"].as_array().unwrap().len(),
        2,
        "{tree}"
    );
    let referrer_types: Vec<&str> = tree["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["predicateType"].as_str().unwrap())
        .collect();
    assert_eq!(referrer_types, [SLSA_V1, VULN], "{tree}");
    let out = sig(&dir, &["tree", &app]);
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{}.att", app_d.tag_form())),
        "{text}"
    );
    assert!(text.contains(&format!("({VULN})")), "{text}");

    // Attesting again with the same content adds a new signature (a new
    // log entry), never dropping the others.
    ok(&attest(&app, "prov.json", "slsaprovenance1", "legacy"));
    assert_eq!(att_manifest(&registry, &app, &app_digest).layers.len(), 3);

    // Attestations copied from another image: app's .att manifest put at
    // other's .att tag, and app's referrer bundle pushed as other's
    // referrer. Both name app's digest in their statement.
    let other_ref = Reference::parse(&other).unwrap();
    let other_d = Digest::parse(&other_digest).unwrap();
    let m = att_manifest(&registry, &app, &app_digest);
    for d in m.layers.iter().chain(std::iter::once(&m.config)) {
        let blob = registry.get_blob(&app_ref, &d.digest, 1 << 20).unwrap();
        registry.put_blob(&other_ref, &blob).unwrap();
    }
    registry
        .put_manifest(
            &other_ref,
            &legacy::attestation_tag(&other_d),
            OCI_MANIFEST,
            &m.to_json(),
        )
        .unwrap();
    let found = referrers::bundles(&registry, &app_ref, &app_d).unwrap();
    let bundle = found[0].bundle.clone().unwrap();
    let subject = registry.resolve(&other_ref.at_digest(&other_d)).unwrap();
    referrers::push(&registry, &other_ref, &subject, &bundle, SLSA_V1).unwrap();
    let (code, doc) = verify(&other, "slsaprovenance1", None);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["digest"], other_digest.as_str());
    assert_eq!(doc["check"], "statement-subject", "{doc}");
    // Every one (two legacy slsa layers, the legacy vuln layer, the
    // referrer) fails the subject check before its type is looked at.
    assert_eq!(rejected_checks(&doc), ["statement-subject"; 4], "{doc}");

    // Many images at once: one passes, one fails.
    let out = sig(
        &dir,
        &[
            "verify-attestation",
            &app,
            &other,
            "--type",
            "slsaprovenance1",
            "--key",
            "k.pub",
            "--trusted-root",
            &root,
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let doc = json_out(&out);
    assert_eq!(doc[0]["verified"], true, "{doc}");
    assert_eq!(doc[1]["verified"], false, "{doc}");

    // Usage errors exit 2: an unknown type, a policy that does not compile.
    let out = sig(
        &dir,
        &[
            "verify-attestation",
            &app,
            "--type",
            "nonsense",
            "--key",
            "k.pub",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    std::fs::write(dir.join("broken.rego"), "package p\nallow if {").unwrap();
    let out = sig(
        &dir,
        &[
            "verify-attestation",
            &app,
            "--type",
            "slsaprovenance1",
            "--key",
            "k.pub",
            "--policy",
            "broken.rego",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("broken.rego"), "{}", stderr(&out));
    std::fs::write(dir.join("list.json"), "[1, 2]").unwrap();
    let out = attest(&app, "list.json", "slsaprovenance1", "both");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    drop((reg, up));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keyless_attestations_and_identity() {
    let Some((dir, up, reg)) = stack("attest-keyless") else {
        return;
    };
    let image = reg.image("keyless/app", "v1");
    let digest = reg.push_image("keyless/app", "v1", "keyless attest v1");
    let token = up.token(EMAIL);
    let trust = path(&up.trust_config).to_string();
    let root = path(&up.trusted_root).to_string();
    // cosign's custom type: the file's text as predicate.Data.
    std::fs::write(dir.join("data.txt"), "foobar").unwrap();
    ok(&keyless(
        &dir,
        &[
            "attest",
            &image,
            "--predicate",
            "data.txt",
            "--layout",
            "both",
        ],
        &token,
        &trust,
    ));
    // cosign's own example policy, in Rego v0 syntax.
    std::fs::write(
        dir.join("cosign.rego"),
        "package signature\n\ndefault allow = false\n\nallow {\n  input.predicate.Data == \"foobar\"\n}\n",
    )
    .unwrap();
    let verify = |identity: &str, policy: &str| {
        let out = verify_keyless(
            &dir,
            "verify-attestation",
            &image,
            &root,
            (identity, &up.oidc_url),
            &["--policy", policy],
        );
        let doc = json_out(&out);
        (out.status.code(), doc[0].clone(), out)
    };
    let (code, doc, _) = verify(EMAIL, "cosign.rego");
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["digest"], digest.as_str());
    assert_eq!(
        doc["predicateType"],
        "https://cosign.sigstore.dev/attestation/v1"
    );
    assert_eq!(layouts(&doc), ["referrer", "legacy"], "{doc}");
    assert_eq!(
        doc["attestations"][0]["verified"]["subject"][0], EMAIL,
        "{doc}"
    );

    // The legacy layer carries the certificate and the (empty) chain.
    let registry = client();
    let att = att_manifest(&registry, &image, &digest);
    let a = &att.layers[0].annotations;
    assert!(
        a["dev.sigstore.cosign/certificate"].starts_with("-----BEGIN CERTIFICATE-----"),
        "{a:?}"
    );
    assert!(a.contains_key("dev.sigstore.cosign/chain"), "{a:?}");
    assert_eq!(a["dev.cosignproject.cosign/signature"], "");

    // Wrong identity: the identity check, for both layouts.
    let (code, doc, out) = verify("mallory@example.com", "cosign.rego");
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["check"], "identity", "{doc}");
    assert_eq!(rejected_checks(&doc), ["identity", "identity"], "{doc}");
    assert!(!stderr(&out).contains(&token));

    // The data does not match cosign's policy.
    std::fs::write(
        dir.join("other.rego"),
        "package signature\n\ndefault allow = false\n\nallow {\n  input.predicate.Data == \"other\"\n}\n",
    )
    .unwrap();
    let (code, doc, _) = verify(EMAIL, "other.rego");
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["check"], "rego", "{doc}");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("data.signature.allow is not true"),
        "{doc}"
    );
    drop((reg, up));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generated_github_provenance() {
    let Some((dir, up, reg, root, signing)) = keyed_stack("attest-generate") else {
        return;
    };
    let image = reg.image("ci/app", "v1");
    let digest = reg.push_image("ci/app", "v1", "ci app v1");
    let github = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "myorg/app"),
        ("GITHUB_REPOSITORY_ID", "1234"),
        ("GITHUB_REPOSITORY_OWNER_ID", "56"),
        ("GITHUB_SHA", "89abcdef0123456789abcdef0123456789abcdef"),
        ("GITHUB_REF", "refs/tags/v1.2.3"),
        (
            "GITHUB_WORKFLOW_REF",
            "myorg/app/.github/workflows/release.yml@refs/tags/v1.2.3",
        ),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_EVENT_NAME", "push"),
        ("RUNNER_ENVIRONMENT", "github-hosted"),
    ];
    let attest = [
        "attest",
        image.as_str(),
        "--type",
        "slsaprovenance1",
        "--generate",
        "--key",
        "k.key",
        "--trusted-root",
        &root,
        "--signing-config",
        &signing,
        "--layout",
        "both",
    ];
    // Outside CI: a clear usage error, nothing written.
    let out = sig(&dir, &attest);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not running in a supported CI system"),
        "{}",
        stderr(&out)
    );
    // In a GitHub Actions run that lacks a variable: named.
    let out = signet_env(&dir, &attest, &github[..3]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("GITHUB_SHA"), "{}", stderr(&out));
    // --generate is SLSA v1 provenance only.
    let mut wrong_type = attest.to_vec();
    wrong_type[3] = "slsaprovenance";
    let out = signet_env(&dir, &wrong_type, &github);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // In the (fake) GitHub Actions run.
    ok(&signet_env(&dir, &attest, &github));
    std::fs::write(dir.join("repo.rego"), REPO_POLICY).unwrap();
    std::fs::write(
        dir.join("tag.rego"),
        r#"
package release
import rego.v1
deny contains msg if {
    not startswith(input.predicate.buildDefinition.externalParameters.workflow.ref, "refs/tags/v")
    msg := "not built from a version tag"
}
deny contains msg if {
    input.predicate.buildDefinition.internalParameters.github.runner_environment != "github-hosted"
    msg := "not built on a GitHub-hosted runner"
}
deny contains msg if {
    input.predicate.buildDefinition.externalParameters.workflow.repository != "https://github.com/otherorg/app"
    msg := sprintf("built from %s, not otherorg/app", [input.predicate.buildDefinition.externalParameters.workflow.repository])
}
"#,
    )
    .unwrap();
    let verify = |policy: &str| verify_key(&dir, &root, &image, "slsaprovenance1", Some(policy));
    let (code, doc) = verify("repo.rego");
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["digest"], digest.as_str());
    assert_eq!(layouts(&doc), ["referrer", "legacy"], "{doc}");
    // Only the repository clause fails, and its message says why.
    let (code, doc) = verify("tag.rego");
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["check"], "rego", "{doc}");
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.contains("built from https://github.com/myorg/app, not otherorg/app"),
        "{reason}"
    );
    assert!(!reason.contains("version tag"), "{reason}");
    assert!(!reason.contains("GitHub-hosted"), "{reason}");
    drop((reg, up));
    let _ = std::fs::remove_dir_all(&dir);
}
