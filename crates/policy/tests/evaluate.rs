//! Evaluation against material built in a synthetic Sigstore world
//! (tests/support): every rule of evaluation, positive and negative.

#![allow(clippy::cloned_ref_to_slice_refs)]

mod support;

use serde_json::json;
use signet_policy::{
    decide_unverified, evaluate, match_rule_at, Decision, FailureKind, Match, Outcome, Policy,
    Request,
};
use support::*;

const APP_WORKFLOW: &str =
    "https://github.com/myorg/app/.github/workflows/release.yml@refs/tags/v1.0.0";
const APP_REPO: &str = "https://github.com/myorg/app";
const IMAGE: &str = "registry.example.com/team/app";

/// Signing happens at this time in most tests; "now" is a day later.
const SIGNED: i64 = JAN_2026 + 30 * DAY;
const NOW: i64 = SIGNED + DAY;

fn github_app() -> Signer<'static> {
    Signer::Keyless {
        san_uri: APP_WORKFLOW,
        issuer: GITHUB_ISSUER,
        claims: &[
            (OID_SOURCE_REPOSITORY_URI, APP_REPO),
            (OID_SOURCE_REPOSITORY_REF, "refs/tags/v1.0.0"),
        ],
    }
}

struct Fixture {
    world: World,
    release_key: Key,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let release_key = Key::p256();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/release.pub"), release_key.pem()).unwrap();
        Fixture {
            world: World::new(),
            release_key,
            dir,
        }
    }

    fn policy(&self, yaml: &str) -> Policy {
        Policy::from_yaml(yaml, self.dir.path()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn decide(
        &self,
        policy: &Policy,
        image: &str,
        ns: Option<&str>,
        sigs: &[Vec<u8>],
        atts: &[Vec<u8>],
    ) -> Decision {
        let digest = image_digest(image);
        let reference = format!("{image}@{digest}");
        let material = material(&reference, &digest, sigs, atts);
        evaluate(
            policy,
            &Request {
                image: &reference,
                namespace: ns,
            },
            &material,
            &self.world.verifier(NOW),
            NOW,
        )
    }

    fn sig(&self, image: &str, signer: &Signer<'_>, at: i64) -> Vec<u8> {
        self.world.signature(&image_digest(image), signer, at)
    }
}

const BASE: &str = r#"
apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {name: test}
spec:
  default: deny
  rules:
  - name: our-services
    images: ["registry.example.com/team/*"]
    authorities:
    - name: github-ci
      keyless:
        issuer: https://token.actions.githubusercontent.com
        subjectRegExp: ^https://github\.com/myorg/.+/\.github/workflows/release\.yml@refs/tags/v.*$
        claims: {sourceRepositoryURI: https://github.com/myorg/app}
"#;

fn explanation(d: &Decision) -> String {
    d.reasons.join("\n")
}

#[track_caller]
fn assert_outcome(d: &Decision, outcome: Outcome, allowed: bool) {
    assert_eq!(d.outcome, outcome, "{}", explanation(d));
    assert_eq!(d.allowed, allowed, "{}", explanation(d));
}

#[track_caller]
fn assert_mentions(d: &Decision, fragment: &str) {
    let e = explanation(d);
    assert!(e.contains(fragment), "explanation lacks {fragment:?}:\n{e}");
}

#[test]
fn keyless_signature_by_the_ci_identity_passes() {
    let f = Fixture::new();
    let p = f.policy(BASE);
    let d = f.decide(&p, IMAGE, None, &[f.sig(IMAGE, &github_app(), SIGNED)], &[]);
    assert_outcome(&d, Outcome::Pass, true);
    assert_eq!(d.rule.as_deref(), Some("our-services"));
    assert_eq!(d.satisfied, vec!["github-ci"]);
    assert_eq!(d.digest, Some(image_digest(IMAGE).to_string()));
    assert!(d.failure.is_none());
    assert_mentions(&d, "authority github-ci");
    assert_mentions(&d, APP_WORKFLOW);
    assert_mentions(&d, "2026-01-31T00:00:00Z");
    assert_mentions(&d, "threshold met: 1 of 1");
    assert_eq!(d.policy_version, p.version());
    // Serializes for the gates' JSON output.
    let doc = serde_json::to_value(&d).unwrap();
    assert_eq!(doc["outcome"], "pass");
    assert_eq!(doc["allowed"], true);
}

#[test]
fn unsigned_image_fails_with_no_signatures() {
    let f = Fixture::new();
    let p = f.policy(BASE);
    let d = f.decide(&p, IMAGE, None, &[], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_eq!(d.failure, Some(FailureKind::Threshold));
    assert_mentions(&d, "no signatures found");
    assert_mentions(&d, "threshold not met: 0 of 1");
}

#[test]
fn wrong_issuer_fails_the_identity_check() {
    let f = Fixture::new();
    let p = f.policy(BASE);
    let signer = Signer::Keyless {
        san_uri: APP_WORKFLOW,
        issuer: "https://evil.example.com",
        claims: &[(OID_SOURCE_REPOSITORY_URI, APP_REPO)],
    };
    let d = f.decide(&p, IMAGE, None, &[f.sig(IMAGE, &signer, SIGNED)], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(
        &d,
        "identity: issuer \"https://evil.example.com\" does not match",
    );
    assert!(d.satisfied.is_empty());
}

#[test]
fn wrong_subject_fails_the_identity_check() {
    let f = Fixture::new();
    let p = f.policy(BASE);
    let signer = Signer::Keyless {
        san_uri: "https://github.com/myorg/app/.github/workflows/other.yml@refs/heads/main",
        issuer: GITHUB_ISSUER,
        claims: &[(OID_SOURCE_REPOSITORY_URI, APP_REPO)],
    };
    let d = f.decide(&p, IMAGE, None, &[f.sig(IMAGE, &signer, SIGNED)], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(&d, "identity: no subject alternative name matches");
}

#[test]
fn claim_mismatch_and_missing_claim_fail() {
    let f = Fixture::new();
    let p = f.policy(BASE);
    let fork = Signer::Keyless {
        san_uri: APP_WORKFLOW,
        issuer: GITHUB_ISSUER,
        claims: &[(OID_SOURCE_REPOSITORY_URI, "https://github.com/myorg/fork")],
    };
    let d = f.decide(&p, IMAGE, None, &[f.sig(IMAGE, &fork, SIGNED)], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(
        &d,
        "SourceRepositoryUri is \"https://github.com/myorg/fork\"",
    );

    let bare = Signer::Keyless {
        san_uri: APP_WORKFLOW,
        issuer: GITHUB_ISSUER,
        claims: &[],
    };
    let d = f.decide(&p, IMAGE, None, &[f.sig(IMAGE, &bare, SIGNED)], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(&d, "certificate has no SourceRepositoryUri claim");
}

#[test]
fn claim_regexp_matches() {
    let f = Fixture::new();
    let p = f.policy(&BASE.replace(
        "claims: {sourceRepositoryURI: https://github.com/myorg/app}",
        "claimsRegExp: {sourceRepositoryRef: '^refs/tags/v[0-9]+'}",
    ));
    let d = f.decide(&p, IMAGE, None, &[f.sig(IMAGE, &github_app(), SIGNED)], &[]);
    assert_outcome(&d, Outcome::Pass, true);
    let p = f.policy(&BASE.replace(
        "claims: {sourceRepositoryURI: https://github.com/myorg/app}",
        "claimsRegExp: {sourceRepositoryRef: '^refs/heads/main$'}",
    ));
    let d = f.decide(&p, IMAGE, None, &[f.sig(IMAGE, &github_app(), SIGNED)], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(&d, "SourceRepositoryRef is \"refs/tags/v1.0.0\"");
}

#[test]
fn identity_outside_its_window_does_not_count() {
    let f = Fixture::new();
    let window = |nb: &str, na: &str| {
        f.policy(&BASE.replace(
            "    - name: github-ci\n",
            &format!("    - name: github-ci\n      notBefore: {nb}\n      notAfter: {na}\n"),
        ))
    };
    // Signed on 2026-01-31: inside [2026-01-01, 2027-01-01).
    let inside = window("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
    let sig = f.sig(IMAGE, &github_app(), SIGNED);
    assert_outcome(
        &f.decide(&inside, IMAGE, None, &[sig.clone()], &[]),
        Outcome::Pass,
        true,
    );

    // The identity was rotated in on 2026-02-01: too early.
    let later = window("2026-02-01T00:00:00Z", "2027-01-01T00:00:00Z");
    let d = f.decide(&later, IMAGE, None, &[sig.clone()], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(&d, "signing-time-window: signed at 2026-01-31T00:00:00Z, before the authority's notBefore 2026-02-01T00:00:00Z");

    // Rotated out on 2026-01-15: too late.
    let earlier = window("2025-01-01T00:00:00Z", "2026-01-15T00:00:00Z");
    let d = f.decide(&earlier, IMAGE, None, &[sig], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(
        &d,
        "at or after the authority's notAfter 2026-01-15T00:00:00Z",
    );

    // notAfter is exclusive.
    let exact = window("2025-01-01T00:00:00Z", "2026-01-31T00:00:00Z");
    let d = f.decide(
        &exact,
        IMAGE,
        None,
        &[f.sig(IMAGE, &github_app(), SIGNED)],
        &[],
    );
    assert_outcome(&d, Outcome::Fail, false);
}

const TWO_OF_TWO: &str = r#"
apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {name: two}
spec:
  rules:
  - name: release
    images: ["registry.example.com/**"]
    threshold: 2
    authorities:
    - name: github-ci
      keyless:
        issuer: https://token.actions.githubusercontent.com
        subjectRegExp: ^https://github\.com/myorg/
    - name: release-key
      key: {path: keys/release.pub}
"#;

#[test]
fn threshold_counts_distinct_authorities() {
    let f = Fixture::new();
    let p = f.policy(TWO_OF_TWO);
    let keyless = f.sig(IMAGE, &github_app(), SIGNED);
    let keyed = f.sig(IMAGE, &Signer::Key(&f.release_key), SIGNED);

    let d = f.decide(&p, IMAGE, None, &[keyless.clone(), keyed.clone()], &[]);
    assert_outcome(&d, Outcome::Pass, true);
    assert_eq!(d.satisfied, vec!["github-ci", "release-key"]);
    assert_mentions(
        &d,
        "threshold met: 2 of 2 authorities satisfied (2 required)",
    );
    assert_mentions(&d, "signed by the key");

    // Only one of the two.
    let d = f.decide(&p, IMAGE, None, &[keyless.clone()], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_eq!(d.failure, Some(FailureKind::Threshold));
    assert_eq!(d.satisfied, vec!["github-ci"]);
    assert_mentions(
        &d,
        "authority release-key (key keys/release.pub): not satisfied",
    );
    assert_mentions(
        &d,
        "threshold not met: 1 of 2 authorities satisfied, 2 required",
    );

    // Two signatures by the same authority are one authority.
    let again = f.sig(IMAGE, &github_app(), SIGNED + 60);
    let d = f.decide(&p, IMAGE, None, &[keyless, again], &[]);
    assert_outcome(&d, Outcome::Fail, false);

    // A key that is not the release key.
    let other = Key::p256();
    let d = f.decide(
        &p,
        IMAGE,
        None,
        &[keyed, f.sig(IMAGE, &Signer::Key(&other), SIGNED)],
        &[],
    );
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(&d, "signer-material");
}

#[test]
fn signature_over_another_image_does_not_count() {
    let f = Fixture::new();
    let p = f.policy(BASE);
    let other = f.sig("registry.example.com/team/other", &github_app(), SIGNED);
    let d = f.decide(&p, IMAGE, None, &[other], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(&d, "statement-subject");
}

#[test]
fn attestation_as_signature_does_not_count() {
    let f = Fixture::new();
    let p = f.policy(BASE);
    let digest = image_digest(IMAGE);
    let att = f
        .world
        .attestation(&digest, SLSA, json!({}), &github_app(), SIGNED);
    let d = f.decide(&p, IMAGE, None, &[att], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(&d, "predicate-type");
}

#[test]
fn material_for_another_digest_is_refused() {
    let f = Fixture::new();
    let p = f.policy(BASE);
    let digest = image_digest(IMAGE);
    let other = image_digest("something else");
    let reference = format!("{IMAGE}@{other}");
    let m = material(
        &reference,
        &digest,
        &[f.sig(IMAGE, &github_app(), SIGNED)],
        &[],
    );
    let d = evaluate(
        &p,
        &Request {
            image: &reference,
            namespace: None,
        },
        &m,
        &f.world.verifier(NOW),
        NOW,
    );
    assert_outcome(&d, Outcome::Fail, false);
    assert_eq!(d.failure, Some(FailureKind::InvalidImage));
}

fn attest_policy(extra: &str) -> String {
    format!(
        r#"{TWO_OF_TWO}    attestations:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
{extra}"#
    )
    .replace("threshold: 2", "threshold: 1")
}

const PROVENANCE_REGO: &str = r#"
package provenance
import rego.v1
default allow := false
allow if {
    input.predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/myorg/app"
}
deny contains msg if {
    repo := input.predicate.buildDefinition.externalParameters.workflow.repository
    repo != "https://github.com/myorg/app"
    msg := sprintf("built from %s, not myorg/app", [repo])
}
"#;

fn provenance(repo: &str) -> serde_json::Value {
    json!({"buildDefinition": {"externalParameters": {"workflow": {"repository": repo}}}})
}

#[test]
fn required_attestation_present_passes_and_missing_fails() {
    let f = Fixture::new();
    let p = f.policy(&attest_policy("      authorities: [github-ci]\n"));
    let digest = image_digest(IMAGE);
    let sig = f.sig(IMAGE, &github_app(), SIGNED);
    let att = f
        .world
        .attestation(&digest, SLSA, provenance(APP_REPO), &github_app(), SIGNED);

    let d = f.decide(&p, IMAGE, None, &[sig.clone()], &[att.clone()]);
    assert_outcome(&d, Outcome::Pass, true);
    assert_mentions(
        &d,
        "attestation provenance (https://slsa.dev/provenance/v1): passed",
    );

    let d = f.decide(&p, IMAGE, None, &[sig.clone()], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_eq!(d.failure, Some(FailureKind::Attestation));
    assert_mentions(
        &d,
        "missing: no attestation of this type verified by github-ci",
    );

    // Another predicate type is not it.
    let sbom = f.world.attestation(
        &digest,
        "https://spdx.dev/Document",
        json!({}),
        &github_app(),
        SIGNED,
    );
    let d = f.decide(&p, IMAGE, None, &[sig.clone()], &[sbom]);
    assert_outcome(&d, Outcome::Fail, false);

    // Signed by an authority the attestation does not allow (the release
    // key is an authority of the rule, but not of this attestation).
    let by_key = f.world.attestation(
        &digest,
        SLSA,
        provenance(APP_REPO),
        &Signer::Key(&f.release_key),
        SIGNED,
    );
    let d = f.decide(&p, IMAGE, None, &[sig.clone()], &[by_key.clone()]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(
        &d,
        "attestation provenance (https://slsa.dev/provenance/v1): failed",
    );

    // With any authority allowed, the key's attestation is enough.
    let any = f.policy(&attest_policy(""));
    let d = f.decide(&any, IMAGE, None, &[sig], &[by_key]);
    assert_outcome(&d, Outcome::Pass, true);
}

#[test]
fn rego_condition_denies_with_its_messages() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.dir.path().join("policies")).unwrap();
    std::fs::write(
        f.dir.path().join("policies/provenance.rego"),
        PROVENANCE_REGO,
    )
    .unwrap();
    let p = f.policy(&attest_policy(
        "      policy: {path: policies/provenance.rego}\n",
    ));
    let digest = image_digest(IMAGE);
    let sig = f.sig(IMAGE, &github_app(), SIGNED);
    let good = f
        .world
        .attestation(&digest, SLSA, provenance(APP_REPO), &github_app(), SIGNED);
    let bad = f.world.attestation(
        &digest,
        SLSA,
        provenance("https://github.com/evil/app"),
        &github_app(),
        SIGNED,
    );
    let d = f.decide(&p, IMAGE, None, &[sig.clone()], &[good.clone()]);
    assert_outcome(&d, Outcome::Pass, true);
    assert_mentions(&d, "policy policies/provenance.rego allowed it");

    let d = f.decide(&p, IMAGE, None, &[sig.clone()], &[bad.clone()]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_eq!(d.failure, Some(FailureKind::Attestation));
    assert_mentions(
        &d,
        "denied it: built from https://github.com/evil/app, not myorg/app",
    );

    // One passing attestation among failing ones is enough.
    let d = f.decide(&p, IMAGE, None, &[sig], &[bad, good]);
    assert_outcome(&d, Outcome::Pass, true);

    // Inline Rego works the same.
    let inline = f.policy(&attest_policy(&format!(
        "      policy:\n        rego: |\n{}\n",
        PROVENANCE_REGO
            .lines()
            .map(|l| format!("          {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )));
    assert_eq!(inline.rules[0].attestations.len(), 1);
    assert!(inline.rules[0].attestations[0].condition.is_some());
}

#[test]
fn attestation_outside_the_authority_window_does_not_count() {
    let f = Fixture::new();
    let p = f.policy(&attest_policy("").replace(
        "    - name: github-ci\n",
        "    - name: github-ci\n      notBefore: 2026-01-15T00:00:00Z\n",
    ));
    let digest = image_digest(IMAGE);
    let sig = f.sig(IMAGE, &github_app(), SIGNED);
    let old = f
        .world
        .attestation(&digest, SLSA, provenance(APP_REPO), &github_app(), JAN_2026);
    let d = f.decide(&p, IMAGE, None, &[sig], &[old]);
    assert_outcome(&d, Outcome::Fail, false);
    assert_mentions(&d, "signing-time-window");
}

#[test]
fn warn_mode_allows_with_warn() {
    let f = Fixture::new();
    let rule_warn = f.policy(&BASE.replace(
        "    images: [\"registry.example.com/team/*\"]\n",
        "    images: [\"registry.example.com/team/*\"]\n    mode: warn\n",
    ));
    let d = f.decide(&rule_warn, IMAGE, None, &[], &[]);
    assert_outcome(&d, Outcome::Warn, true);
    assert_eq!(d.failure, Some(FailureKind::Threshold));
    assert_mentions(&d, "warn mode");

    // The policy's mode applies to rules without their own.
    let policy_warn =
        f.policy(&BASE.replace("  default: deny\n", "  default: deny\n  mode: warn\n"));
    let d = f.decide(&policy_warn, IMAGE, None, &[], &[]);
    assert_outcome(&d, Outcome::Warn, true);
    // And to unmatched images the default would deny.
    let d = decide_unverified(
        &policy_warn,
        &Request {
            image: "docker.io/library/nginx:1",
            namespace: None,
        },
        NOW,
    )
    .unwrap();
    assert_outcome(&d, Outcome::Warn, true);

    // A rule that enforces overrides a policy in warn mode.
    let enforce = f.policy(
        &BASE
            .replace("  default: deny\n", "  default: deny\n  mode: warn\n")
            .replace(
                "    images: [\"registry.example.com/team/*\"]\n",
                "    images: [\"registry.example.com/team/*\"]\n    mode: enforce\n",
            ),
    );
    let d = f.decide(&enforce, IMAGE, None, &[], &[]);
    assert_outcome(&d, Outcome::Fail, false);
}

const NAMESPACED: &str = r#"
apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {name: ns}
spec:
  default: deny
  rules:
  - name: prod
    images: ["registry.example.com/**"]
    namespaces: ["prod-*"]
    authorities:
    - name: release-key
      key: {path: keys/release.pub}
  exemptions:
  - images: ["docker.io/library/busybox:*"]
    reason: debug image, ticket SEC-123
    expires: 2026-12-31T00:00:00Z
  - images: ["registry.example.com/team/legacy"]
    reason: old, ticket SEC-9
    expires: 2026-01-15T00:00:00Z
"#;

#[test]
fn namespaces_select_rules() {
    let f = Fixture::new();
    let p = f.policy(NAMESPACED);
    let sig = f.sig(IMAGE, &Signer::Key(&f.release_key), SIGNED);
    let d = f.decide(&p, IMAGE, Some("prod-eu"), &[sig.clone()], &[]);
    assert_outcome(&d, Outcome::Pass, true);
    assert_eq!(d.rule.as_deref(), Some("prod"));

    // Not a prod namespace: no rule, the default denies — even though
    // the image is signed, the rule does not apply.
    let d = f.decide(&p, IMAGE, Some("dev"), &[sig.clone()], &[]);
    assert_outcome(&d, Outcome::NoRule, false);
    assert_eq!(d.failure, Some(FailureKind::NoRule));
    assert_mentions(
        &d,
        "no rule matches registry.example.com/team/app in namespace dev",
    );
    assert!(matches!(
        match_rule_at(&p, IMAGE, Some("dev"), NOW),
        Match::NoRule { allowed: false }
    ));
    // No namespace at all (a CI gate): rules with namespaces do not apply.
    let d = f.decide(&p, IMAGE, None, &[sig], &[]);
    assert_outcome(&d, Outcome::NoRule, false);
}

#[test]
fn exemptions_apply_until_they_expire() {
    let f = Fixture::new();
    let p = f.policy(NAMESPACED);
    // Active: exempt, no material needed.
    let m = match_rule_at(&p, "busybox:1.36", Some("prod-eu"), NOW);
    assert!(matches!(m, Match::Exempt(_)), "{m:?}");
    assert!(!m.needs_verification());
    let d = decide_unverified(
        &p,
        &Request {
            image: "busybox:1.36",
            namespace: Some("prod-eu"),
        },
        NOW,
    )
    .unwrap();
    assert_outcome(&d, Outcome::Exempt, true);
    assert_mentions(
        &d,
        "debug image, ticket SEC-123 (expires 2026-12-31T00:00:00Z)",
    );

    // Expired (2026-01-15 < NOW): the rule applies, and the unsigned
    // legacy image fails.
    let legacy = "registry.example.com/team/legacy";
    let m = match_rule_at(&p, legacy, Some("prod-eu"), NOW);
    assert!(matches!(m, Match::Rule(r) if r.name == "prod"), "{m:?}");
    let d = f.decide(&p, legacy, Some("prod-eu"), &[], &[]);
    assert_outcome(&d, Outcome::Fail, false);
    // Before it expired, it was exempt.
    let before = parse("2026-01-10T00:00:00Z");
    assert!(matches!(
        match_rule_at(&p, legacy, Some("prod-eu"), before),
        Match::Exempt(_)
    ));
    // Lint flags the expired one.
    let findings = p.lint_at(NOW);
    assert!(
        findings
            .iter()
            .any(|f| f.path == "spec.exemptions[1]" && f.message.contains("expired")),
        "{findings:?}"
    );
    assert!(!findings.iter().any(|f| f.path == "spec.exemptions[0]"));
}

fn parse(t: &str) -> i64 {
    signet_policy::policy::parse_time(t).unwrap()
}

#[test]
fn default_allow_and_invalid_references() {
    let f = Fixture::new();
    let p = f.policy(&BASE.replace("default: deny", "default: allow"));
    let d = decide_unverified(
        &p,
        &Request {
            image: "quay.io/other/thing:1",
            namespace: None,
        },
        NOW,
    )
    .unwrap();
    assert_outcome(&d, Outcome::NoRule, true);
    // A reference that does not parse is denied whatever the default.
    let d = decide_unverified(
        &p,
        &Request {
            image: "Not A Reference",
            namespace: None,
        },
        NOW,
    )
    .unwrap();
    assert!(!d.allowed);
    assert_eq!(d.failure, Some(FailureKind::InvalidImage));
    // A rule's image needs material.
    assert!(decide_unverified(
        &p,
        &Request {
            image: IMAGE,
            namespace: None
        },
        NOW
    )
    .is_none());
}

#[test]
fn first_matching_rule_applies() {
    let f = Fixture::new();
    let yaml = r#"
apiVersion: signet.dev/v1
kind: ImagePolicy
metadata: {name: order}
spec:
  rules:
  - name: key-only
    images: ["registry.example.com/team/app"]
    authorities:
    - name: release-key
      key: {path: keys/release.pub}
  - name: ci
    images: ["registry.example.com/team/*"]
    authorities:
    - name: github-ci
      keyless: {issuer: https://token.actions.githubusercontent.com, subjectRegExp: ^https://github\.com/myorg/}
"#;
    let p = f.policy(yaml);
    // The app is taken by the first rule: a CI signature is not enough.
    let d = f.decide(&p, IMAGE, None, &[f.sig(IMAGE, &github_app(), SIGNED)], &[]);
    assert_eq!(d.rule.as_deref(), Some("key-only"));
    assert_outcome(&d, Outcome::Fail, false);
    // Another image in the team falls to the second.
    let other = "registry.example.com/team/web";
    let d = f.decide(&p, other, None, &[f.sig(other, &github_app(), SIGNED)], &[]);
    assert_eq!(d.rule.as_deref(), Some("ci"));
    assert_outcome(&d, Outcome::Pass, true);
}
