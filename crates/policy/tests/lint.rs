//! Loading and linting policy files, and the JSON Schema
//! (schemas/policy.v1.schema.json) agreeing with the model.

use std::path::{Path, PathBuf};

use signet_policy::{Finding, Policy, PolicyError, Severity};

const GOOD: &str = r#"
apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {name: good}
spec:
  rules:
  - name: ci
    images: ["registry.example.com/team/*"]
    authorities:
    - name: github-ci
      keyless:
        issuer: https://token.actions.githubusercontent.com
        subjectRegExp: ^https://github\.com/myorg/.+$
      notBefore: 2026-01-01T00:00:00Z
      notAfter: 2027-01-01T00:00:00Z
"#;

const KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7IRoRQYJL2A+Pb60jkD5VQ4Wmzfz\n5L+uOGRQHPfyAn87oDmNslbx/RvkkCSL9Clfm6Yt2XbgnH28+EJGotyRtw==\n-----END PUBLIC KEY-----\n";

fn errors(yaml: &str, dir: &Path) -> Vec<Finding> {
    match Policy::from_yaml(yaml, dir) {
        Ok(p) => panic!("loaded, with lint {:?}", p.lint()),
        Err(e) => {
            let f = e.findings();
            assert!(!f.is_empty());
            assert!(f.iter().all(|f| f.severity == Severity::Error));
            f
        }
    }
}

#[track_caller]
fn assert_error(yaml: &str, path: &str, fragment: &str) {
    let dir = tempfile::tempdir().unwrap();
    let found = errors(yaml, dir.path());
    assert!(
        found
            .iter()
            .any(|f| f.path.starts_with(path) && f.to_string().contains(fragment)),
        "no error at {path:?} mentioning {fragment:?}: {found:#?}"
    );
}

fn good_with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replace(from, to)
}

#[test]
fn a_good_policy_loads_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = Policy::from_yaml(GOOD, dir.path()).unwrap();
    assert_eq!(p.name, "good");
    assert_eq!(p.rules.len(), 1);
    assert_eq!(p.rules[0].threshold, 1);
    assert_eq!(p.version().len(), 64);
    assert!(
        p.lint_at(1_770_000_000).is_empty(),
        "{:?}",
        p.lint_at(1_770_000_000)
    );
}

#[test]
fn unknown_fields_are_errors_with_a_line() {
    let yaml = good_with(
        "    authorities:\n",
        "    authoritys: []\n    authorities:\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let found = errors(&yaml, dir.path());
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("unknown field `authoritys`"),
        "{found:?}"
    );
    assert_eq!(found[0].line, Some(9), "{found:?}");
    // Typos deeper down too.
    assert_error(
        &good_with("subjectRegExp:", "subjectRegexp:"),
        "",
        "unknown field `subjectRegexp`",
    );
}

/// YAML keeps the last of two equal keys; a claim given twice is refused
/// instead, so the policy cannot say one thing and enforce another.
#[test]
fn a_claim_given_twice_is_an_error() {
    let twice = "        subjectRegExp: ^https://github\\.com/myorg/.+$\n        claims:\n          sourceRepositoryURI: https://github.com/myorg/app\n          sourceRepositoryURI: https://github.com/evil/app\n";
    assert_error(
        &good_with(
            "        subjectRegExp: ^https://github\\.com/myorg/.+$\n",
            twice,
        ),
        "",
        "given twice",
    );
}

#[test]
fn wrong_api_version_or_kind() {
    assert_error(
        &good_with("signet.dev/v1", "signet.dev/v2"),
        "apiVersion",
        "signet.dev/v1",
    );
    assert_error(
        &good_with("ImagePolicy", "ClusterImagePolicy"),
        "kind",
        "ImagePolicy",
    );
}

#[test]
fn bad_globs_and_regexps() {
    assert_error(
        &good_with("registry.example.com/team/*", "team/*"),
        "spec.rules[0].images[0]",
        "registry",
    );
    assert_error(
        &good_with(
            "registry.example.com/team/*",
            "registry.example.com/team/app:v1",
        ),
        "spec.rules[0].images[0]",
        "tag or digest",
    );
    assert_error(
        &good_with("^https://github\\.com/myorg/.+$", "^(unclosed"),
        "spec.rules[0].authorities[0].keyless.subjectRegExp",
        "invalid regular expression",
    );
    assert_error(
        &good_with(
            "    authorities:\n",
            "    namespaces: [\"Prod\"]\n    authorities:\n",
        ),
        "spec.rules[0].namespaces[0]",
        "lowercase",
    );
}

#[test]
fn thresholds_must_be_reachable_and_nonzero() {
    assert_error(
        &good_with("    authorities:\n", "    threshold: 2\n    authorities:\n"),
        "spec.rules[0].threshold",
        "can never be met",
    );
    assert_error(
        &good_with("    authorities:\n", "    threshold: 0\n    authorities:\n"),
        "spec.rules[0].threshold",
        "unsigned",
    );
}

#[test]
fn empty_windows_are_errors() {
    assert_error(
        &good_with(
            "notAfter: 2027-01-01T00:00:00Z",
            "notAfter: 2026-01-01T00:00:00Z",
        ),
        "spec.rules[0].authorities[0]",
        "not after notBefore",
    );
    assert_error(
        &good_with("2027-01-01T00:00:00Z", "next year"),
        "spec.rules[0].authorities[0].notAfter",
        "RFC 3339",
    );
}

#[test]
fn identities_need_issuer_and_subject_and_known_claims() {
    assert_error(
        &good_with(
            "        issuer: https://token.actions.githubusercontent.com\n",
            "",
        ),
        "spec.rules[0].authorities[0].keyless",
        "`issuer` or `issuerRegExp` is required",
    );
    assert_error(
        &good_with(
            "        issuer: https://token.actions.githubusercontent.com\n",
            "        issuer: https://token.actions.githubusercontent.com\n        issuerRegExp: ^x$\n",
        ),
        "spec.rules[0].authorities[0].keyless",
        "not both",
    );
    assert_error(
        &good_with(
            "        subjectRegExp:",
            "        claims: {sourceRepo: x}\n        subjectRegExp:",
        ),
        "spec.rules[0].authorities[0].keyless.claims",
        "unknown claim \"sourceRepo\"",
    );
}

const WITH_ATTESTATION: &str = r#"
    attestations:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      authorities: [github-cii]
"#;

#[test]
fn attestation_authorities_must_exist_and_rego_must_compile() {
    let yaml = format!("{GOOD}{WITH_ATTESTATION}");
    assert_error(
        &yaml,
        "spec.rules[0].attestations[0].authorities",
        "no authority named \"github-cii\"",
    );
    let yaml = format!(
        "{GOOD}{}",
        WITH_ATTESTATION.replace(
            "[github-cii]",
            "[github-ci]\n      policy: {rego: 'package p\nallow if {'}"
        )
    );
    assert_error(&yaml, "spec.rules[0].attestations[0].policy", "Rego");
    let yaml = format!(
        "{GOOD}{}",
        WITH_ATTESTATION.replace(
            "[github-cii]",
            "[github-ci]\n      policy: {path: missing.rego}"
        )
    );
    assert_error(
        &yaml,
        "spec.rules[0].attestations[0].policy.path",
        "cannot read Rego module",
    );
}

#[test]
fn keys_resolve_relative_to_the_policy_and_kms_needs_the_public_half() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/release.pub"), KEY_PEM).unwrap();
    let key_rule = |key: &str| {
        format!(
            "apiVersion: signet.dev/v1\nkind: ImagePolicy\nmetadata: {{name: k}}\nspec:\n  rules:\n  - name: r\n    images: [\"reg.io/a\"]\n    authorities:\n    - name: release\n      key: {key}\n"
        )
    };
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, key_rule("{path: keys/release.pub}")).unwrap();
    let p = Policy::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.rules[0].authorities[0].description,
        "key keys/release.pub"
    );

    let kms = key_rule("{kms: \"awskms:///alias/release\"}");
    let found = errors(&kms, dir.path());
    assert!(
        found[0].message.contains("needs the key's public half"),
        "{found:?}"
    );
    // With the public half beside it, it loads.
    let ok = key_rule("{kms: \"awskms:///alias/release\", path: keys/release.pub}");
    let p = Policy::from_yaml(&ok, dir.path()).unwrap();
    assert!(p.rules[0].authorities[0]
        .description
        .contains("awskms:///alias/release"));
    assert!(
        errors(&key_rule("{pkcs11: \"pkcs11:token=x\"}"), dir.path())[0]
            .message
            .contains("public half")
    );
    // Not a key.
    std::fs::write(dir.path().join("keys/bad.pub"), "not a key").unwrap();
    let found = errors(&key_rule("{path: keys/bad.pub}"), dir.path());
    assert!(
        found[0].message.contains("not a usable public key"),
        "{found:?}"
    );
    // Missing file.
    let found = errors(&key_rule("{path: keys/none.pub}"), dir.path());
    assert!(found[0].message.contains("cannot read key"), "{found:?}");
}

#[test]
fn version_covers_referenced_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.pub"), KEY_PEM).unwrap();
    let yaml = "apiVersion: signet.dev/v1\nkind: ImagePolicy\nmetadata: {name: k}\nspec:\n  rules:\n  - name: r\n    images: [\"reg.io/a\"]\n    authorities:\n    - name: release\n      key: {path: k.pub}\n";
    let v1 = Policy::from_yaml(yaml, dir.path())
        .unwrap()
        .version()
        .to_string();
    assert_eq!(v1, Policy::from_yaml(yaml, dir.path()).unwrap().version());
    // Another key in the same file name: another version.
    let other = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkGljHDU9+xaUU8HikDyjV8ThQYzi\nbViRUiEns/pGnCDMxlppuTGdm3YbwNXvUcxj81nUCi92LQRIpF8pacL0Ng==\n-----END PUBLIC KEY-----\n";
    std::fs::write(dir.path().join("k.pub"), other).unwrap();
    assert_ne!(v1, Policy::from_yaml(yaml, dir.path()).unwrap().version());
    std::fs::write(dir.path().join("k.pub"), KEY_PEM).unwrap();
    let edited = yaml.replace("name: k}", "name: k2}");
    assert_ne!(
        v1,
        Policy::from_yaml(&edited, dir.path()).unwrap().version()
    );
}

#[test]
fn warnings_shadowed_rules_expired_exemptions_unanchored() {
    let yaml = r#"
apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {name: w}
spec:
  rules:
  - name: all-of-ghcr
    images: ["ghcr.io/myorg/**"]
    authorities:
    - name: k
      keyless: {issuer: https://issuer.example, subjectRegExp: "@example.com"}
  - name: app
    images: ["ghcr.io/myorg/app", "ghcr.io/myorg/team/*"]
    authorities:
    - name: k
      keyless: {issuer: https://issuer.example, subject: a@example.com}
  - name: other
    images: ["ghcr.io/other/*"]
    authorities:
    - name: k
      keyless: {issuer: https://issuer.example, subject: a@example.com}
    - name: alternation
      keyless: {issuer: https://issuer.example, subjectRegExp: '^https://github\.com/myorg/app/x@refs/heads/main|refs/tags/v.*$'}
    - name: grouped
      keyless: {issuer: https://issuer.example, subjectRegExp: '^https://github\.com/myorg/app/x@(refs/heads/main|refs/tags/v.*)$'}
  exemptions:
  - images: ["docker.io/library/busybox:*"]
    reason: old
    expires: 2020-01-01T00:00:00Z
"#;
    let dir = tempfile::tempdir().unwrap();
    let p = Policy::from_yaml(yaml, dir.path()).unwrap();
    let lint = p.lint_at(1_770_000_000);
    assert!(lint.iter().all(|f| f.severity == Severity::Warning));
    let at = |path: &str, fragment: &str| {
        lint.iter()
            .any(|f| f.path.starts_with(path) && f.message.contains(fragment))
    };
    assert!(at("spec.rules[1]", "unreachable"), "{lint:#?}");
    assert!(!at("spec.rules[2]", "unreachable"), "{lint:#?}");
    assert!(at("spec.exemptions[0]", "expired"), "{lint:#?}");
    assert!(
        at(
            "spec.rules[0].authorities[0].keyless.subjectRegExp",
            "not anchored"
        ),
        "{lint:#?}"
    );
    // ^a|b$ anchors each end of one branch only.
    assert!(
        at(
            "spec.rules[2].authorities[1].keyless.subjectRegExp",
            "top-level '|'"
        ),
        "{lint:#?}"
    );
    assert!(
        !at("spec.rules[2].authorities[2]", "top-level"),
        "{lint:#?}"
    );
}

#[test]
fn limits_are_enforced() {
    let big = format!(
        "{GOOD}# {}\n",
        "x".repeat(signet_policy::policy::MAX_POLICY_BYTES)
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(errors(&big, dir.path())[0].message.contains("larger than"));
    let mut many = String::from(
        "apiVersion: signet.dev/v1\nkind: ImagePolicy\nmetadata: {name: m}\nspec:\n  rules:\n",
    );
    for i in 0..=signet_policy::policy::MAX_RULES {
        many.push_str(&format!(
            "  - name: r{i}\n    images: [\"reg.io/a{i}\"]\n    authorities: [{{name: k, keyless: {{issuer: i, subject: s}}}}]\n"
        ));
    }
    assert!(errors(&many, dir.path())[0].message.contains("more than"));
}

#[test]
fn load_reports_unreadable_files() {
    match Policy::load("/nonexistent/policy.yaml") {
        Err(PolicyError::Io { .. }) => {}
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// The JSON Schema.

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(workspace().join("schemas/policy.v1.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn as_json(yaml: &str) -> serde_json::Value {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    serde_json::to_value(v).unwrap()
}

/// Every policy shipped in the repository: the fixtures' examples, the
/// CLI tests' policies, and each `apiVersion: signet.dev/v1` YAML block of
/// docs/policy.md.
fn shipped_policies() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![
        workspace().join("crates/policy/tests/fixtures"),
        workspace().join("testdata/policy"),
    ];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.file_name().is_some_and(|n| n == "policy.yaml") {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    let docs = std::fs::read_to_string(workspace().join("docs/policy.md")).unwrap();
    for (i, block) in docs.split("```yaml\n").skip(1).enumerate() {
        let block = block.split("```").next().unwrap();
        if block.contains("apiVersion: signet.dev/v1") {
            out.push((format!("docs/policy.md block {i}"), block.to_string()));
        }
    }
    out
}

#[test]
fn shipped_policies_validate_and_load() {
    let v = schema();
    let policies = shipped_policies();
    assert!(
        policies.len() >= 3,
        "{:?}",
        policies.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    for (name, yaml) in policies {
        let doc = as_json(&yaml);
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        // The model parses it too (keys may be generated at test time, so
        // only the parse is checked here, not the load).
        serde_yaml::from_str::<signet_policy::model::PolicyDoc>(&yaml)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn model_and_schema_agree() {
    let v = schema();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.pub"), KEY_PEM).unwrap();
    let authority = |body: &str| {
        GOOD.replace(
            "      keyless:\n        issuer: https://token.actions.githubusercontent.com\n        subjectRegExp: ^https://github\\.com/myorg/.+$\n",
            body,
        )
    };
    let good = [
        GOOD.to_string(),
        authority("      key: {path: k.pub}\n"),
        authority("      key: {kms: \"awskms:///alias/x\", path: k.pub}\n"),
        authority("      keyless: {issuerRegExp: ^x$, subject: s, claims: {buildTrigger: push}, claimsRegExp: {sourceRepositoryRef: ^refs/}}\n"),
        good_with("  rules:\n", "  mode: warn\n  default: allow\n  exemptions: [{images: [\"docker.io/library/a:*\"], reason: r, expires: 2030-01-01T00:00:00Z}]\n  rules:\n"),
    ];
    for yaml in &good {
        assert!(v.is_valid(&as_json(yaml)), "schema refuses {yaml}");
        Policy::from_yaml(yaml, dir.path()).unwrap_or_else(|e| panic!("model refuses {yaml}: {e}"));
    }
    let bad = [
        good_with("metadata: {name: good}", "metadata: {name: good, owner: me}"),
        good_with("kind: ImagePolicy", "kind: Policy"),
        good_with("apiVersion: signet.dev/v1", "apiVersion: v1"),
        good_with("  rules:\n", "  mode: audit\n  rules:\n"),
        good_with("  rules:\n", "  default: maybe\n  rules:\n"),
        good_with("    authorities:\n", "    threshold: 0\n    authorities:\n"),
        good_with("    authorities:\n", "    threshold: -1\n    authorities:\n"),
        good_with("    authorities:\n", "    threshold: two\n    authorities:\n"),
        good_with("    authorities:\n", "    namespaces: []\n    authorities:\n"),
        good_with("    images: [\"registry.example.com/team/*\"]\n", "    images: []\n"),
        good_with("    images: [\"registry.example.com/team/*\"]\n", ""),
        good_with("    images: [\"registry.example.com/team/*\"]\n", "    images: [nginx]\n"),
        good_with("  - name: ci\n", "  - nom: ci\n"),
        authority(""),
        authority("      keyless: {issuer: i}\n"),
        authority("      keyless: {subject: s}\n"),
        authority("      keyless: {issuer: i, issuerRegExp: j, subject: s}\n"),
        authority("      keyless: {issuer: i, subject: s, claims: {repo: x}}\n"),
        authority("      keyless: {issuer: i, subject: s}\n      key: {path: k.pub}\n"),
        authority("      key: {kms: \"awskms:///alias/x\"}\n"),
        authority("      key: {path: k.pub, pem: x}\n"),
        authority("      key: {}\n"),
        authority("      key: {path: k.pub, kms: a, pkcs11: b}\n"),
        good_with("notBefore: 2026-01-01T00:00:00Z", "notBefore: yesterday"),
        format!("{GOOD}    attestations: [{{name: a}}]\n"),
        format!("{GOOD}    attestations: [{{name: a, predicateType: t, authorities: []}}]\n"),
        format!("{GOOD}    attestations: [{{name: a, predicateType: t, policy: {{}}}}]\n"),
        format!("{GOOD}    attestations: [{{name: a, predicateType: t, policy: {{path: a.rego, rego: x}}}}]\n"),
        good_with("  rules:\n", "  exemptions: [{images: [\"docker.io/library/a\"]}]\n  rules:\n"),
        good_with("  rules:\n", "  exemptions: [{images: [\"docker.io/library/a\"], reason: \"  \"}]\n  rules:\n"),
        good_with("  rules:\n", "  exemptions: [{images: [\"docker.io/library/a\"], reason: r, until: x}]\n  rules:\n"),
    ];
    for yaml in &bad {
        let schema_ok = match serde_yaml::from_str::<serde_yaml::Value>(yaml) {
            Ok(_) => v.is_valid(&as_json(yaml)),
            Err(_) => false,
        };
        assert!(!schema_ok, "the schema accepts {yaml}");
        assert!(
            Policy::from_yaml(yaml, dir.path()).is_err(),
            "the model accepts {yaml}"
        );
    }
}
