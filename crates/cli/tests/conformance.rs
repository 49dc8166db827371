//! The offline verification cases of the Sigstore conformance suite, run
//! through the same CLI protocol the suite uses:
//! `signet verify-bundle --bundle B (--key K | --certificate-identity I
//! --certificate-oidc-issuer U) [--trusted-root T] FILE_OR_sha256:HEX`.
//!
//! Every case runs twice, by path and by digest. A positive case must exit
//! 0; a `_fail` case must exit 1 (a verdict, not a usage error) with the
//! reason class this file expects, so that a crash or an unknown flag never
//! counts as a correct rejection.

use std::path::{Path, PathBuf};
use std::process::Command;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/conformance/bundle-verify")
}

/// The check each negative case must fail, by the defect its name
/// describes. Where a case also carries incidental defects, the first
/// check the pipeline runs that catches one is named.
fn expected_check(case: &str) -> &'static [&'static str] {
    match case {
        "bundle-empty-certificate-chain_fail"
        | "bundle-malformed-json_fail"
        | "bundle-negative-log-index_fail"
        | "bundle-unknown-version_fail"
        | "bundle-invalid-base64-signature_fail"
        | "rekor2-no-inclusion-proof_fail" => &["bundle-format"],
        "bundle-from-wrong-instance_fail" => &["tlog-unknown-log", "certificate-chain"],
        "bundle-with-root-cert_fail" => &["certificate-chain", "signer-material"],
        "checkpoint-bad-keyhint_fail"
        | "checkpoint-wrong-roothash_fail"
        | "invalid-checkpoint-signature_fail"
        | "rekor2-checkpoint-missing-log-signature_fail"
        | "rekor2-checkpoint-missing-origin_fail"
        | "rekor2-checkpoint-missing-root-hash_fail"
        | "rekor2-checkpoint-missing-size_fail"
        | "rekor2-checkpoint-no-matching-signature_fail" => &["checkpoint"],
        "dsse-invalid-sig_fail" | "rekor2-dsse-invalid-sig_fail" | "signature-mismatch_fail" => {
            &["signature"]
        }
        // The key file holds no valid key at all.
        "managed-key-wrong-key_fail" => &["signer-material", "signature"],
        // The log entry names another key than the certificate's; the
        // body was altered, so the log's SET over it no longer verifies.
        "incorrect-public-key_fail" => &["set", "tlog-body", "signature"],
        "dsse-mismatch-envelope_fail"
        | "dsse-mismatch-sig_fail"
        | "rekor2-dsse-mismatch-envelope_fail"
        | "rekor2-dsse-mismatch-sig_fail"
        | "intoto-log-entry-mismatch_fail"
        | "wrong-hashedrekord-entry_fail"
        | "wrong-hashedrekord-cert-and-sig_fail"
        | "wrong-hashedrekord-artifact_fail" => &["tlog-body"],
        "inclusion-proof-corrupted-hash_fail" => &["inclusion-proof"],
        // A v0.2 proof without its (required) checkpoint.
        "invalid-inclusion-proof_fail" => &["inclusion-proof", "bundle-format"],
        // Its integrated time was in the future when the case was made; it
        // is also after the certificate expired, which stays true.
        "integrated-time-in-future_fail" => &["integrated-time", "certificate-validity"],
        "intoto-expired-certificate_fail"
        | "intoto-set-outside-signing-cert-validity_fail"
        | "intoto-tsa-timestamp-outside-cert-validity_fail"
        | "rekor2-timestamp-with-incorrect-time_fail" => &["certificate-validity"],
        "intoto-missing-inclusion-proof_fail" => &["bundle-format"],
        "invalid-ct-key_fail" => &["sct"],
        "managed-key-no-key_fail" => &["signer-material"],
        "message-digest-mismatch_fail" => &["artifact-digest"],
        "rekor2-no-timestamp_fail" => &["threshold"],
        "rekor2-timestamp-outside-trust-root-tsa-validity_fail"
        | "rekor2-timestamp-outside-tsa-cert-validity_fail"
        | "rekor2-timestamp-payload-mismatch_fail"
        | "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail"
        | "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail" => &["timestamp"],
        "set-invalid-signature_fail" => &["set"],
        "trust-root-tlog-missing-validity-start_fail" => &["tlog-unknown-log"],
        "wrong-material_fail" => &["artifact-digest"],
        _ => &[],
    }
}

struct Run {
    code: Option<i32>,
    stderr: String,
}

fn run_case(dir: &Path, by_digest: bool) -> Run {
    let artifact = if dir.join("artifact").exists() {
        dir.join("artifact")
    } else {
        cases_dir().join("a.txt")
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet"));
    // Deterministic trust: no TUF refresh, no cache of this machine's.
    cmd.env("SIGNET_OFFLINE", "1")
        .env("SIGNET_TUF_CACHE", dir.join("no-such-cache"));
    cmd.arg("verify-bundle")
        .arg("--bundle")
        .arg(dir.join("bundle.sigstore.json"));
    if dir.join("key.pub").exists() {
        cmd.arg("--key").arg(dir.join("key.pub"));
    } else {
        let identity = std::fs::read_to_string(dir.join("identity"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| DEFAULT_IDENTITY.to_string());
        let issuer = std::fs::read_to_string(dir.join("issuer"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| DEFAULT_ISSUER.to_string());
        cmd.arg("--certificate-identity")
            .arg(identity)
            .arg("--certificate-oidc-issuer")
            .arg(issuer);
    }
    if dir.join("trusted_root.json").exists() {
        cmd.arg("--trusted-root").arg(dir.join("trusted_root.json"));
    }
    if by_digest {
        let data = std::fs::read(&artifact).expect("artifact");
        cmd.arg(format!(
            "sha256:{}",
            signet_model::encoding::encode_hex(signet_crypto::sha256(&data))
        ));
    } else {
        cmd.arg(&artifact);
    }
    let out = cmd.output().expect("run signet");
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The check named in `signet: verification failed: <check>: <reason>`.
fn failed_check(stderr: &str) -> Option<&str> {
    let rest = stderr.split("verification failed: ").nth(1)?;
    rest.split(':').next()
}

#[test]
fn conformance_bundle_verify_cases() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("conformance data")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 70,
        "expected 70 cases, found {}",
        cases.len()
    );

    let mut failures = Vec::new();
    let mut runs = 0;
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let must_fail = name.ends_with("_fail");
        for by_digest in [false, true] {
            runs += 1;
            let mode = if by_digest { "digest" } else { "path" };
            let run = run_case(dir, by_digest);
            if !must_fail {
                if run.code != Some(0) {
                    failures.push(format!("{name} ({mode}): rejected: {}", run.stderr.trim()));
                }
                continue;
            }
            if run.code != Some(1) {
                failures.push(format!(
                    "{name} ({mode}): expected exit 1, got {:?}: {}",
                    run.code,
                    run.stderr.trim()
                ));
                continue;
            }
            let expected = expected_check(&name);
            match failed_check(&run.stderr) {
                Some(check) if expected.contains(&check) => {}
                other => failures.push(format!(
                    "{name} ({mode}): rejected for {other:?}, expected one of {expected:?}: {}",
                    run.stderr.trim()
                )),
            }
        }
    }
    assert_eq!(runs, 140);
    assert!(
        failures.is_empty(),
        "{} of {runs} conformance runs wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
