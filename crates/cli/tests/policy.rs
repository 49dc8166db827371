//! Policy files through the binary: `signet verify --policy` as a CI gate
//! against a REAL registry (docker-registry, images pushed with skopeo)
//! and a private Sigstore stack (`signet up`: keyless signing with its dev
//! OIDC issuer) plus cosign-key signing; `signet policy lint`; and
//! `signet policy test` over testdata/policy/ci, whose bundles are signed
//! here and whose expectations are the fixture files' own.

mod support {
    pub mod cli;
    pub mod registry;
    pub mod up;
}

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};
use support::cli::*;
use support::up::*;

const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

#[track_caller]
fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}

/// The gate's policy for the test registry `host` and the stack's issuer.
fn gate_policy(host: &str, issuer: &str) -> String {
    format!(
        r#"apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {{name: ci-gate}}
spec:
  default: deny
  rules:
  - name: releases
    images: ["{host}/release/*"]
    threshold: 2
    authorities:
    - name: alice
      keyless: {{issuer: "{issuer}", subject: alice@example.com}}
    - name: release-key
      key: {{path: k.pub}}
  - name: staging
    images: ["{host}/staging/*"]
    mode: warn
    authorities:
    - name: alice
      keyless: {{issuer: "{issuer}", subject: alice@example.com}}
  - name: team
    images: ["{host}/team/*"]
    authorities:
    - name: alice
      keyless: {{issuer: "{issuer}", subject: alice@example.com}}
  exemptions:
  - images: ["{host}/debug/*"]
    reason: debug tools, ticket SEC-1
    expires: 2999-01-01T00:00:00Z
"#
    )
}

/// SARIF 2.1.0's required structure (from the OASIS schema: sarifLog
/// needs `version` and `runs`; run needs `tool`; tool needs `driver`;
/// toolComponent needs `name`; reportingDescriptor needs `id`; result
/// needs `message`, a message needs `text` or `id`; `level` and `kind` are
/// enums; `ruleIndex` ≥ -1; locations and their parts have these shapes).
fn sarif_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["version", "runs"],
        "properties": {
            "$schema": {"type": "string"},
            "version": {"const": "2.1.0"},
            "runs": {"type": "array", "items": {"$ref": "#/$defs/run"}}
        },
        "$defs": {
            "message": {"type": "object", "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
                        "properties": {"text": {"type": "string"}}},
            "multiformatMessageString": {"type": "object", "required": ["text"]},
            "run": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {"type": "object", "required": ["driver"],
                             "properties": {"driver": {"$ref": "#/$defs/toolComponent"}}},
                    "results": {"type": "array", "items": {"$ref": "#/$defs/result"}},
                    "properties": {"type": "object"}
                }
            },
            "toolComponent": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "informationUri": {"type": "string", "format": "uri"},
                    "rules": {"type": "array", "items": {"$ref": "#/$defs/reportingDescriptor"}}
                }
            },
            "reportingDescriptor": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "shortDescription": {"$ref": "#/$defs/multiformatMessageString"},
                    "fullDescription": {"$ref": "#/$defs/multiformatMessageString"},
                    "defaultConfiguration": {"type": "object", "properties": {
                        "level": {"enum": ["none", "note", "warning", "error"]}}},
                    "helpUri": {"type": "string", "format": "uri"}
                }
            },
            "result": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "message": {"$ref": "#/$defs/message"},
                    "ruleId": {"type": "string"},
                    "ruleIndex": {"type": "integer", "minimum": -1},
                    "level": {"enum": ["none", "note", "warning", "error"]},
                    "kind": {"enum": ["notApplicable", "pass", "fail", "review", "open", "informational"]},
                    "locations": {"type": "array", "items": {"type": "object", "properties": {
                        "physicalLocation": {"type": "object", "properties": {
                            "artifactLocation": {"type": "object", "properties": {"uri": {"type": "string"}}}}},
                        "logicalLocations": {"type": "array", "items": {"type": "object", "properties": {
                            "name": {"type": "string"}, "fullyQualifiedName": {"type": "string"},
                            "kind": {"type": "string"}}}}
                    }}},
                    "properties": {"type": "object"}
                }
            }
        }
    })
}

#[test]
fn policy_gate_against_a_registry() {
    let Some((dir, up, reg, root, signing)) = keyed_stack("policy-gate") else {
        return;
    };
    let trust = path(&up.trust_config).to_string();
    let token = up.token(EMAIL);

    let push = |repo: &str| {
        let digest = reg.push_image(repo, "v1", &format!("{repo} v1"));
        (reg.image(repo, "v1"), digest)
    };
    let (app, app_digest) = push("team/app");
    let (unsigned, _) = push("team/unsigned");
    let (bob_signed, _) = push("team/bob");
    let (release, _) = push("release/app");
    let (half_release, _) = push("release/half");
    let (staging, _) = push("staging/app");
    let (debug, _) = push("debug/tools");
    let (other, _) = push("other/app");
    let keyless = |image: &str, token: &str| ok(&keyless(&dir, &["sign", image], token, &trust));
    let keyed = |image: &str| ok(&sign_with_key(&dir, image, &root, &signing));
    keyless(&app, &token);
    keyless(&bob_signed, &up.token("bob@example.com"));
    keyless(&release, &token);
    keyed(&release);
    keyed(&half_release);

    std::fs::write(
        dir.join("policy.yaml"),
        gate_policy(&reg.host, &up.oidc_url),
    )
    .unwrap();
    let verify = |images: &[&str], extra: &[&str]| {
        let mut args = vec!["verify", "--policy", "policy.yaml", "--trusted-root", &root];
        args.extend_from_slice(extra);
        args.extend_from_slice(images);
        sig(&dir, &args)
    };

    // Pass: keyless by alice.
    let out = verify(&[&app], &[]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains(&format!("{app}: pass (rule team) {app_digest}")),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("authority alice"), "{}", stdout(&out));
    assert!(stdout(&out).contains(EMAIL));

    // Fail with an explanation: unsigned, and signed by someone else.
    let out = verify(&[&unsigned], &[]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("denied"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no signatures found"),
        "{}",
        stderr(&out)
    );
    let out = verify(&[&bob_signed], &[]);
    assert_code(&out, 1);
    assert!(
        stderr(&out)
            .contains("identity: no subject alternative name matches \"alice@example.com\""),
        "{}",
        stderr(&out)
    );

    // 2 of 2, keyless + key; and only the key: 1 of 2.
    let out = verify(&[&release], &[]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("threshold met: 2 of 2"),
        "{}",
        stdout(&out)
    );
    let out = verify(&[&half_release], &[]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("threshold not met: 1 of 2"),
        "{}",
        stderr(&out)
    );

    // Warn: allowed, the warning printed.
    let out = verify(&[&staging], &[]);
    assert_code(&out, 0);
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(stderr(&out).contains("warn mode"), "{}", stderr(&out));

    // Exempt, and unmatched (default deny).
    let out = verify(&[&debug], &[]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("exempt"), "{}", stdout(&out));
    assert!(stdout(&out).contains("ticket SEC-1"));
    let out = verify(&[&other], &[]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("no rule matches"), "{}", stderr(&out));

    // JSON: one decision per image, in order.
    let all = [
        &app,
        &unsigned,
        &release,
        &half_release,
        &staging,
        &debug,
        &other,
    ];
    let all: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    let out = verify(&all, &["--output", "json", "--concurrency", "3"]);
    assert_code(&out, 1);
    let doc = json_out(&out);
    let outcomes: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["pass", "fail", "pass", "fail", "warn", "exempt", "no-rule"],
        "{doc}"
    );
    assert_eq!(doc[0]["digest"], app_digest.as_str());
    assert_eq!(doc[0]["satisfied"], json!(["alice"]));
    assert_eq!(doc[3]["failure"], "threshold");
    assert_eq!(doc[2]["satisfied"], json!(["alice", "release-key"]));

    // SARIF: valid structure, a result per denied or warned image.
    let out = verify(&all, &["--output", "sarif"]);
    assert_code(&out, 1);
    let sarif = json_out(&out);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&sarif_schema())
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{sarif}");
    let run = &sarif["runs"][0];
    assert_eq!(sarif["runs"].as_array().unwrap().len(), 1);
    assert_eq!(run["tool"]["driver"]["name"], "signet");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = results
        .iter()
        .map(|r| {
            let idx = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(
                rules[idx]["id"], r["ruleId"],
                "ruleIndex points at its rule"
            );
            (
                r["locations"][0]["logicalLocations"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                r["ruleId"].as_str().unwrap().to_string(),
                r["level"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (unsigned.clone(), "threshold".into(), "error".into()),
            (half_release.clone(), "threshold".into(), "error".into()),
            (staging.clone(), "threshold".into(), "warning".into()),
            (other.clone(), "no-rule".into(), "error".into()),
        ]
    );
    assert!(results[1]["message"]["text"]
        .as_str()
        .unwrap()
        .contains("threshold not met: 1 of 2"));

    // An image the registry does not have: exit 3 (nothing denied).
    let missing = format!("{}/team/missing:v1", reg.host);
    let out = verify(&[&app, &missing], &[]);
    assert_code(&out, 3);
    assert!(stderr(&out).contains("registry error"), "{}", stderr(&out));
    // A denial wins over a registry error.
    assert_code(&verify(&[&unsigned, &missing], &[]), 1);

    // Usage: identity flags with --policy, a bad policy, SARIF without one.
    let out = verify(&[&app], &["--certificate-identity", EMAIL]);
    assert_code(&out, 2);
    std::fs::write(
        dir.join("bad.yaml"),
        "apiVersion: signet.dev/v1\nkind: ImagePolicy\n",
    )
    .unwrap();
    let out = sig(&dir, &["verify", "--policy", "bad.yaml", &app]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("missing field"), "{}", stderr(&out));
    let out = sig(&dir, &["verify", "--policy", "nonexistent.yaml", &app]);
    assert_code(&out, 2);
    let out = sig(
        &dir,
        &["verify", "--key", "k.pub", "--output", "sarif", &app],
    );
    assert_code(&out, 2);

    drop((reg, up));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn policy_lint_reports_errors_and_warnings() {
    let dir = workdir(&format!("policy-lint-{}", std::process::id()));
    let good = r#"apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {name: lint}
spec:
  rules:
  - name: all
    images: ["ghcr.io/myorg/**"]
    authorities:
    - name: ci
      keyless: {issuer: https://token.actions.githubusercontent.com, subjectRegExp: "myorg"}
  - name: shadowed
    images: ["ghcr.io/myorg/app"]
    authorities:
    - name: ci
      keyless: {issuer: https://token.actions.githubusercontent.com, subject: x}
  exemptions:
  - images: ["docker.io/library/busybox:*"]
    reason: old
    expires: 2020-01-01T00:00:00Z
"#;
    std::fs::write(dir.join("good.yaml"), good).unwrap();
    let out = signet(&dir, &["policy", "lint", "good.yaml"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("0 error(s), 3 warning(s)"), "{text}");
    assert!(text.contains("unreachable"), "{text}");
    assert!(text.contains("expired on 2020-01-01T00:00:00Z"), "{text}");
    assert!(text.contains("not anchored"), "{text}");

    let bad = good
        .replace("  - name: all\n", "  - name: all\n    threshold: 3\n")
        .replace("notes", "x")
        .replace("subject: x}", "subject: x, subjectRegExp: y}");
    std::fs::write(dir.join("bad.yaml"), &bad).unwrap();
    let out = signet(&dir, &["policy", "lint", "bad.yaml", "--output", "json"]);
    assert_code(&out, 1);
    let doc = json_out(&out);
    assert_eq!(doc["errors"], 2, "{doc}");
    let messages: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("threshold 3")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("not both")),
        "{messages:?}"
    );

    // A YAML error names its line.
    std::fs::write(dir.join("typo.yaml"), good.replace("    authorities:\n    - name: ci\n      keyless: {issuer: https://token.actions.githubusercontent.com, subjectRegExp", "    authorities:\n    - name: ci\n      keyles: {issuer: https://token.actions.githubusercontent.com, subjectRegExp")).unwrap();
    let out = signet(&dir, &["policy", "lint", "typo.yaml"]);
    assert_code(&out, 1);
    assert!(stdout(&out).contains("line 10"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("unknown field `keyles`"),
        "{}",
        stdout(&out)
    );

    let out = signet(&dir, &["policy", "lint", "missing.yaml"]);
    assert_code(&out, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Make {
    blob: String,
    #[serde(default)]
    signatures: Vec<Item>,
    #[serde(default)]
    attestations: Vec<Item>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    signer: String,
    #[serde(default)]
    predicate: Option<String>,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/policy/ci")
}

#[test]
fn policy_test_runs_the_fixtures() {
    let dir = workdir(&format!("policy-fixtures-{}", std::process::id()));
    let up = Up::start(&dir.join("stack"));
    let repo = dir.join("repo");
    copy_dir(&testdata(), &repo);
    ok(&signet(
        &repo,
        &["generate-key-pair", "--output-key-prefix", "release"],
    ));
    std::fs::create_dir_all(repo.join("keys")).unwrap();
    std::fs::rename(repo.join("release.pub"), repo.join("keys/release.pub")).unwrap();
    let trust = path(&up.trust_config).to_string();
    let root = path(&up.trusted_root).to_string();
    let signing = path(&up.signing_config).to_string();
    let alice = up.token(EMAIL);
    let bob = up.token("bob@example.com");

    let cases: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(repo.join("cases"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    assert!(cases.len() >= 5);
    for case in &cases {
        let make: Make =
            serde_yaml::from_slice(&std::fs::read(case.join("make.yaml")).unwrap()).unwrap();
        let blob = case.join("blob.bin");
        std::fs::write(&blob, &make.blob).unwrap();
        let items = make
            .signatures
            .iter()
            .map(|i| ("signatures", i))
            .chain(make.attestations.iter().map(|i| ("attestations", i)));
        for (n, (kind, item)) in items.enumerate() {
            std::fs::create_dir_all(case.join(kind)).unwrap();
            let predicate = case.join(format!("predicate-{n}.json"));
            let (ptype, pbody) = match kind {
                "signatures" => (SIGN_PREDICATE_TYPE, "{}".to_string()),
                _ => ("slsaprovenance1", item.predicate.clone().unwrap()),
            };
            std::fs::write(&predicate, pbody).unwrap();
            let bundle = case.join(kind).join(format!("{n}.json"));
            let mut args = vec![
                "attest-blob",
                path(&blob),
                "--predicate",
                path(&predicate),
                "--type",
                ptype,
                "--bundle",
                path(&bundle),
            ];
            let signer: Vec<&str> = match item.signer.as_str() {
                "alice" => vec!["--identity-token", &alice, "--trust-config", &trust],
                "bob" => vec!["--identity-token", &bob, "--trust-config", &trust],
                "release-key" => vec![
                    "--key",
                    "release.key",
                    "--trusted-root",
                    &root,
                    "--signing-config",
                    &signing,
                ],
                x => panic!("unknown signer {x}"),
            };
            args.extend(signer);
            ok(&signet(&repo, &args));
        }
    }

    let run_test = |extra: &[&str]| {
        let mut args = vec![
            "policy",
            "test",
            "policy.yaml",
            "--fixtures",
            "cases",
            "--trusted-root",
            &root,
        ];
        args.extend_from_slice(extra);
        signet(&repo, &args)
    };
    let out = run_test(&[]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{} passed, 0 failed", cases.len())),
        "{text}"
    );
    assert!(
        text.contains("ok   pass-release-two-of-two: expected pass, got pass (allowed)"),
        "{text}"
    );
    let out = run_test(&["--output", "json"]);
    assert_code(&out, 0);
    let doc = json_out(&out);
    assert_eq!(doc["failed"], 0);
    assert_eq!(doc["cases"].as_array().unwrap().len(), cases.len());

    // A wrong expectation fails the run (exit 1) and says which.
    let case = repo.join("cases/fail-signed-by-bob/case.yaml");
    let text = std::fs::read_to_string(&case).unwrap();
    std::fs::write(&case, text.replace("expect: fail", "expect: pass")).unwrap();
    let out = run_test(&[]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("FAIL fail-signed-by-bob: expected pass, got fail (denied)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} passed, 1 failed", cases.len() - 1)),
        "{text}"
    );

    // Against another trust root (the embedded public-good one), nothing
    // signed here verifies: the passing cases fail.
    let out = signet(
        &repo,
        &[
            "policy",
            "test",
            "policy.yaml",
            "--fixtures",
            "cases",
            "--offline",
        ],
    );
    assert_code(&out, 1);
    assert!(
        stdout(&out).contains("FAIL pass-signed-and-attested"),
        "{}",
        stdout(&out)
    );

    // `explain` says what the rule needs.
    let out = signet(
        &repo,
        &[
            "policy",
            "explain",
            "policy.yaml",
            "registry.test/release/app:v2",
        ],
    );
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("rule \"releases\" applies"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("2 of 2 authorities"),
        "{}",
        stdout(&out)
    );

    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
}
