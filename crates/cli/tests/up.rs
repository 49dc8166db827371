//! `signet up` end to end through the binary: a dev token, keyless
//! `sign-blob` and `attest-blob`, key-based `sign-blob`, `verify-blob`
//! against the stack's trusted_root.json, and a restart that keeps keys,
//! log and URLs.

mod support {
    pub mod up;
}

use support::up::*;

fn log_index(bundle: &std::path::Path) -> u64 {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle).unwrap()).unwrap();
    doc["verificationMaterial"]["tlogEntries"][0]["logIndex"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn keyless_and_key_signing_against_the_stack() {
    let dir = workdir("up-signet");
    let up = Up::start(&dir.join("stack"));
    std::fs::write(dir.join("a.txt"), b"artifact\n").unwrap();
    let token = up.token(EMAIL);
    let trust = path(&up.trust_config).to_string();
    let root = path(&up.trusted_root).to_string();

    ok(&signet(
        &dir,
        &[
            "sign-blob",
            "a.txt",
            "--bundle",
            "a.sigstore.json",
            "--identity-token",
            &token,
            "--trust-config",
            &trust,
        ],
    ));
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("a.sigstore.json")).unwrap()).unwrap();
    assert!(bundle["verificationMaterial"]["certificate"].is_object());
    let verify = |file: &str, bundle: &str, identity: &str| {
        up.verify_blob(&dir, (file, bundle), identity, &["--output", "json"])
    };
    let out = verify("a.txt", "a.sigstore.json", EMAIL);
    ok(&out);
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["verified"], true, "{verdict}");

    // The wrong identity is rejected by the identity check.
    let out = verify("a.txt", "a.sigstore.json", "mallory@example.com");
    assert_eq!(out.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["check"], "identity", "{verdict}");
    // A tampered artifact is rejected.
    std::fs::write(dir.join("b.txt"), b"tampered\n").unwrap();
    assert_eq!(
        verify("b.txt", "a.sigstore.json", EMAIL).status.code(),
        Some(1)
    );
    // The public-good root does not trust the stack.
    let out = signet(
        &dir,
        &[
            "verify-blob",
            "a.txt",
            "--bundle",
            "a.sigstore.json",
            "--offline",
            "--certificate-identity",
            EMAIL,
            "--certificate-oidc-issuer",
            &up.oidc_url,
        ],
    );
    assert_eq!(out.status.code(), Some(1));

    // Keyless attestation (DSSE, logged as dsse 0.0.1).
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
    ok(&verify("a.txt", "a.att.json", EMAIL));
    fails(&verify("b.txt", "a.att.json", EMAIL));

    // A managed key, with the separate trusted root and signing config.
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
            "a.key.json",
            "--trusted-root",
            &root,
            "--signing-config",
            path(&up.signing_config),
        ],
    ));
    ok(&signet(
        &dir,
        &[
            "verify-blob",
            "a.txt",
            "--bundle",
            "a.key.json",
            "--key",
            "k.pub",
            "--trusted-root",
            &root,
        ],
    ));
    assert_eq!(
        [
            log_index(&dir.join("a.sigstore.json")),
            log_index(&dir.join("a.att.json")),
            log_index(&dir.join("a.key.json"))
        ],
        [0, 1, 2]
    );
    up.stop();
}

#[test]
fn a_restart_keeps_keys_log_and_urls() {
    let dir = workdir("up-restart");
    let data = dir.join("stack");
    // Ephemeral ports on the first run; the restart reuses them.
    let up = Up::start(&data);
    let first_root = std::fs::read(&up.trusted_root).unwrap();
    let first_urls = (up.log_url.clone(), up.ca_url.clone(), up.oidc_url.clone());
    std::fs::write(dir.join("a.txt"), b"before the restart\n").unwrap();
    let token = up.token(EMAIL);
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
            path(&up.trust_config),
        ],
    ));
    up.stop();

    let up = Up::start_with(&data, &[]);
    assert_eq!(
        (up.log_url.clone(), up.ca_url.clone(), up.oidc_url.clone()),
        first_urls
    );
    assert_eq!(std::fs::read(&up.trusted_root).unwrap(), first_root);
    ok(&up.verify_blob(&dir, ("a.txt", "a.json"), EMAIL, &[]));
    std::fs::write(dir.join("b.txt"), b"after the restart\n").unwrap();
    let token = up.token(EMAIL);
    ok(&signet(
        &dir,
        &[
            "sign-blob",
            "b.txt",
            "--bundle",
            "b.json",
            "--identity-token",
            &token,
            "--trust-config",
            path(&up.trust_config),
        ],
    ));
    assert_eq!(
        log_index(&dir.join("b.json")),
        1,
        "the log kept its first entry"
    );
    up.stop();
}

#[test]
fn dev_token_needs_an_identity_and_a_reachable_issuer() {
    let dir = workdir("up-token");
    let out = signet(&dir, &["dev", "token", "--issuer", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    let out = signet(
        &dir,
        &[
            "dev",
            "token",
            "--issuer",
            "http://127.0.0.1:9",
            "--email",
            EMAIL,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_non_loopback_host_is_refused() {
    let dir = workdir("up-host");
    let out = signet(
        &dir,
        &[
            "up",
            "--data-dir",
            "stack",
            "--host",
            "0.0.0.0",
            "--log-port",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-loopback"));
}

#[test]
fn with_tsa_keyless_bundles_carry_a_verified_rfc3161_timestamp() {
    let dir = workdir("up-tsa");
    let up = Up::start_with(
        &dir.join("stack"),
        &[
            "--log-port",
            "0",
            "--ca-port",
            "0",
            "--oidc-port",
            "0",
            "--tsa",
            "--tsa-port",
            "0",
        ],
    );
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&up.trusted_root).unwrap()).unwrap();
    assert_eq!(root["timestampAuthorities"].as_array().unwrap().len(), 1);
    std::fs::write(dir.join("a.txt"), b"artifact\n").unwrap();
    let token = up.token(EMAIL);
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
            path(&up.trust_config),
        ],
    ));
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("a.json")).unwrap()).unwrap();
    let stamps = &bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
    assert_eq!(stamps.as_array().map(Vec::len), Some(1), "{bundle}");
    let verify =
        |bundle: &str| up.verify_blob(&dir, ("a.txt", bundle), EMAIL, &["--output", "json"]);
    // The verified signing times: the log's, and the TSA's (authority 0).
    let timestamp_times = |bundle: &str| {
        let out = verify(bundle);
        ok(&out);
        let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(verdict["verified"], true, "{verdict}");
        verdict["result"]["signingTimes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["source"] == "timestamp")
            .count()
    };
    assert_eq!(timestamp_times("a.json"), 1);

    // A second token from the same authority over the same signature is the
    // same witness: the log and the TSA make two distinct time sources, not
    // three (as sigstore-go counts them).
    {
        use signet_verify::{
            Artifact, Check, IdentityPolicy, Matcher, Options, SignerPolicy, TrustMaterial,
            Verifier,
        };
        let root_json = std::fs::read(&up.trusted_root).unwrap();
        let signing: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&up.signing_config).unwrap()).unwrap();
        let tsa_url = signing["tsaUrls"][0]["url"].as_str().unwrap();
        let signature = signet_model::encoding::decode_base64(
            bundle["messageSignature"]["signature"].as_str().unwrap(),
        )
        .unwrap();
        let http = signet_sign::HttpClient::new(std::time::Duration::from_secs(30)).unwrap();
        let again = signet_sign::tsa::TsaClient::new(tsa_url, http)
            .timestamp(&signature)
            .unwrap();
        let mut twice = bundle.clone();
        twice["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "signedTimestamp": signet_model::encoding::encode_base64(&again)
            }));
        let twice = signet_model::Bundle::from_json(twice.to_string().as_bytes()).unwrap();
        let trust = || {
            let root = signet_model::TrustedRoot::from_json(&root_json).unwrap();
            TrustMaterial::from_trusted_root(&root).unwrap()
        };
        let policy = SignerPolicy::Identity(IdentityPolicy {
            subject: Matcher::exact(EMAIL),
            issuer: Matcher::exact(up.oidc_url.clone()),
            claims: Vec::new(),
        });
        let verify_with = |time_threshold: usize| {
            let options = Options {
                time_threshold,
                ..Options::default()
            };
            Verifier::new(trust(), options).verify(&twice, &Artifact::Bytes(b"artifact\n"), &policy)
        };
        let verified = verify_with(2).unwrap();
        assert_eq!(verified.signing_times.len(), 3);
        let err = verify_with(3).unwrap_err();
        assert_eq!(err.check, Check::Threshold, "{err}");
        assert!(err.reason.contains("2 distinct"), "{err}");
    }

    // A timestamp from another authority (one the root does not list) is
    // not counted (as sigstore-go: the log's time still verifies).
    let other = workdir("up-tsa-other");
    let other_up = Up::start_with(
        &other.join("stack"),
        &[
            "--log-port",
            "0",
            "--ca-port",
            "0",
            "--oidc-port",
            "0",
            "--tsa",
            "--tsa-port",
            "0",
        ],
    );
    let token = other_up.token(EMAIL);
    std::fs::copy(dir.join("a.txt"), other.join("a.txt")).unwrap();
    ok(&signet(
        &other,
        &[
            "sign-blob",
            "a.txt",
            "--bundle",
            "a.json",
            "--identity-token",
            &token,
            "--trust-config",
            path(&other_up.trust_config),
        ],
    ));
    let foreign: serde_json::Value =
        serde_json::from_slice(&std::fs::read(other.join("a.json")).unwrap()).unwrap();
    bundle["verificationMaterial"]["timestampVerificationData"] =
        foreign["verificationMaterial"]["timestampVerificationData"].clone();
    std::fs::write(dir.join("swapped.json"), bundle.to_string()).unwrap();
    assert_eq!(timestamp_times("swapped.json"), 0);
    other_up.stop();
    up.stop();
}

/// A signing config that names the log as Rekor v2 (and the stack's TSA):
/// signet writes a Rekor v2 entry (hashedrekord 0.0.2, no SET; a DSSE
/// envelope is logged as a hashedrekord over its PAE, as rekor-tiles asks)
/// plus an RFC 3161 timestamp, and the verifier accepts it with the TSA as
/// the only time source; without the timestamp it must fail.
#[test]
fn rekor_v2_entries_with_a_timestamp_against_our_own_log() {
    let dir = workdir("up-rekor-v2");
    let up = Up::start_with(
        &dir.join("stack"),
        &[
            "--log-port",
            "0",
            "--ca-port",
            "0",
            "--oidc-port",
            "0",
            "--tsa",
            "--tsa-port",
            "0",
        ],
    );
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&up.signing_config).unwrap()).unwrap();
    let logs = config["rekorTlogUrls"].as_array_mut().unwrap();
    assert_eq!(logs.len(), 1);
    logs[0]["majorApiVersion"] = serde_json::json!(2);
    std::fs::write(dir.join("signing_v2.json"), config.to_string()).unwrap();
    std::fs::write(dir.join("a.txt"), b"artifact for rekor v2\n").unwrap();
    std::fs::write(
        dir.join("statement.json"),
        serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "a.txt", "digest": {"sha256": hex_sha256(b"artifact for rekor v2\n")}}],
            "predicateType": "https://example.com/predicate/v1",
            "predicate": {"ok": true}
        })
        .to_string(),
    )
    .unwrap();
    let token = up.token(EMAIL);
    let sign = |extra: &[&str], out: &str| {
        let mut args = vec![
            "sign-bundle",
            "--identity-token",
            &token,
            "--bundle",
            out,
            "--trusted-root",
            path(&up.trusted_root),
            "--signing-config",
            "signing_v2.json",
        ];
        args.extend_from_slice(extra);
        ok(&signet(&dir, &args));
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(dir.join(out)).unwrap()).unwrap()
    };
    let verify = |bundle: &str, artifact: &str| {
        up.verify_blob(&dir, (artifact, bundle), EMAIL, &["--output", "json"])
    };
    for (extra, out, kind, artifact) in [
        (&["a.txt"][..], "v2.json", "hashedrekord", "a.txt"),
        (
            &["--in-toto", "statement.json"][..],
            "v2-dsse.json",
            "hashedrekord",
            "a.txt",
        ),
    ] {
        let bundle = sign(extra, out);
        let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
        assert_eq!(entry["kindVersion"]["kind"], kind, "{bundle}");
        assert_eq!(entry["kindVersion"]["version"], "0.0.2", "{bundle}");
        assert!(
            entry.get("inclusionPromise").is_none(),
            "v2 has no SET: {entry}"
        );
        assert!(entry["inclusionProof"]["checkpoint"]["envelope"].is_string());
        let stamps =
            &bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"];
        assert_eq!(stamps.as_array().map(Vec::len), Some(1), "{bundle}");
        let out = verify(out, artifact);
        ok(&out);
        let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sources: Vec<&str> = verdict["result"]["signingTimes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["source"].as_str())
            .collect();
        assert_eq!(sources, vec!["timestamp"], "{verdict}");

        // The v2 entry alone proves no time: without the timestamp the
        // certificate cannot be checked at signing time.
        let mut stripped = bundle.clone();
        stripped["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("timestampVerificationData");
        std::fs::write(dir.join("stripped.json"), stripped.to_string()).unwrap();
        let out = verify("stripped.json", artifact);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    up.stop();
}

fn hex_sha256(bytes: &[u8]) -> String {
    signet_model::encoding::encode_hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

/// No token anywhere: `--oidc-flow browser` signs in through the stack's
/// OIDC issuer (authorization code + PKCE on a loopback callback). The
/// test plays the person: it opens the printed URL as alice, and the
/// resulting bundle verifies for alice and the stack's issuer.
#[test]
fn interactive_browser_sign_in_signs_as_the_person() {
    use std::io::{BufRead, BufReader};
    let dir = workdir("up-browser");
    let up = Up::start(&dir.join("stack"));
    std::fs::write(dir.join("a.txt"), b"signed after a browser sign-in\n").unwrap();
    let mut child = std::process::Command::new(signet_bin())
        .current_dir(&dir)
        .args([
            "sign-blob",
            "a.txt",
            "--bundle",
            "a.json",
            "--trust-config",
            path(&up.trust_config),
            "--oidc-flow",
            "browser",
            "--oidc-timeout",
            "60",
        ])
        .env_remove("SIGSTORE_ID_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env("BROWSER", "true")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("signet exited without printing a sign-in URL")
            .unwrap();
        if let Some(u) = line.trim().strip_prefix("http://") {
            break format!("http://{u}");
        }
    };
    assert!(
        url.starts_with(&format!("{}/authorize?", up.oidc_url)),
        "{url}"
    );
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let browser = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser
        .get(format!("{url}&login_hint=alice%40example.com"))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 303);
    let callback = answer.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(browser.get(&callback).send().unwrap().status(), 200);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "sign-blob failed: {rest:?}");
    ok(&up.verify_blob(&dir, ("a.txt", "a.json"), "alice@example.com", &[]));
    // Without a token and without the browser flow: a clear failure.
    let out = signet(
        &dir,
        &[
            "sign-blob",
            "a.txt",
            "--bundle",
            "b.json",
            "--trust-config",
            path(&up.trust_config),
            "--oidc-flow",
            "none",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "no token is a usage error");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sign in interactively"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    up.stop();
}
