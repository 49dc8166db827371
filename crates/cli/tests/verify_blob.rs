//! `signet verify-blob`: exit codes, JSON output and the flags around them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/conformance")
        .join(rel)
}

fn signet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signet"))
        .env("SIGNET_OFFLINE", "1")
        .env("SIGNET_TUF_CACHE", "/nonexistent/signet-test-cache")
        .args(args)
        .output()
        .expect("run signet")
}

fn happy_bundle() -> String {
    data("bundle-verify/happy-path-v0.3/bundle.sigstore.json")
        .display()
        .to_string()
}

fn artifact() -> String {
    data("a.txt").display().to_string()
}

#[test]
fn json_output_reports_identity_and_log_entry() {
    let out = signet(&[
        "verify-blob",
        &artifact(),
        "--bundle",
        &happy_bundle(),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        "--output",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["verified"], true);
    assert_eq!(doc["result"]["issuer"], ISSUER);
    assert_eq!(doc["result"]["subject"][0], IDENTITY);
    assert_eq!(
        doc["result"]["logEntries"][0][0],
        "https://rekor.sigstore.dev"
    );
    assert_eq!(doc["result"]["signingTimes"][0]["source"], "log");
}

#[test]
fn rejection_names_the_check_in_json_and_exits_1() {
    let out = signet(&[
        "verify-blob",
        &artifact(),
        "--bundle",
        &happy_bundle(),
        "--certificate-identity-regexp",
        "^https://github\\.com/someone-else/",
        "--certificate-oidc-issuer",
        ISSUER,
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["verified"], false);
    assert_eq!(doc["check"], "identity");
}

#[test]
fn regexp_identity_is_unanchored_like_cosign() {
    let out = signet(&[
        "verify-blob",
        &artifact(),
        "--bundle",
        &happy_bundle(),
        "--certificate-identity-regexp",
        "sigstore-conformance/extremely-dangerous",
        "--certificate-oidc-issuer-regexp",
        "^https://token\\.actions\\.githubusercontent\\.com$",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ci_claims_are_enforced() {
    let base = [
        "verify-blob".to_string(),
        artifact(),
        "--bundle".into(),
        happy_bundle(),
        "--certificate-identity".into(),
        IDENTITY.into(),
        "--certificate-oidc-issuer".into(),
        ISSUER.into(),
    ];
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        signet(&args)
    };
    let ok = run(&["--certificate-github-workflow-ref", "refs/heads/main"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = run(&["--source-repository-ref", "refs/heads/release"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("identity"));
}

#[test]
fn usage_errors_exit_2() {
    // No identity and no key.
    let out = signet(&["verify-blob", &artifact(), "--bundle", &happy_bundle()]);
    assert_eq!(out.status.code(), Some(2));
    // Unreadable trusted root.
    let out = signet(&[
        "verify-blob",
        &artifact(),
        "--bundle",
        &happy_bundle(),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        "--trusted-root",
        "/nonexistent/trusted_root.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // A bad regular expression.
    let out = signet(&[
        "verify-blob",
        &artifact(),
        "--bundle",
        &happy_bundle(),
        "--certificate-identity-regexp",
        "(",
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn malformed_bundle_is_a_verdict_not_a_crash() {
    let dir = std::env::temp_dir().join(format!("signet-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("bad.json");
    std::fs::write(&bundle, b"{\"mediaType\": 42").unwrap();
    let out = signet(&[
        "verify-blob",
        &artifact(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bundle-format"));
    std::fs::remove_dir_all(&dir).ok();
}
