//! `signet policy test`'s engine over the example fixtures in
//! tests/fixtures/example: the bundles of each case are generated here
//! (from its make.yaml) in a synthetic Sigstore world; the expectations
//! are the fixture files' own, checked by `signet_policy::fixtures`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;
use signet_oci::Digest;
use signet_policy::fixtures::{self, CaseResult};
use signet_policy::{Outcome, Policy};
use support::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Make {
    #[serde(default)]
    signatures: Vec<Item>,
    #[serde(default)]
    attestations: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Item {
    signer: String,
    at: String,
    /// Sign this digest instead of the case image's.
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    predicate_type: Option<String>,
    #[serde(default)]
    repository: Option<String>,
}

const APP_WORKFLOW: &str =
    "https://github.com/myorg/app/.github/workflows/release.yml@refs/tags/v1.2.0";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/example")
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

struct Prepared {
    world: World,
    dir: tempfile::TempDir,
    policy: Policy,
}

/// Copies the example, writes a fresh release key, and generates every
/// case's bundles.
fn prepare() -> Prepared {
    let world = World::new();
    let release = Key::p256();
    let other = Key::p256();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&example(), dir.path());
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/release.pub"), release.pem()).unwrap();
    let app_claims = [(OID_SOURCE_REPOSITORY_URI, "https://github.com/myorg/app")];
    let fork_claims = [(OID_SOURCE_REPOSITORY_URI, "https://github.com/myorg/fork")];
    let signer = |name: &str| -> Signer<'_> {
        match name {
            "github-app" => Signer::Keyless {
                san_uri: APP_WORKFLOW,
                issuer: GITHUB_ISSUER,
                claims: &app_claims,
            },
            "github-fork" => Signer::Keyless {
                san_uri: APP_WORKFLOW,
                issuer: GITHUB_ISSUER,
                claims: &fork_claims,
            },
            "release-key" => Signer::Key(&release),
            "other-key" => Signer::Key(&other),
            x => panic!("unknown signer {x} in a make.yaml"),
        }
    };
    for case in fixtures::cases(&dir.path().join("cases")).unwrap() {
        let make: Make =
            serde_yaml::from_slice(&std::fs::read(case.join("make.yaml")).unwrap()).unwrap();
        let doc: fixtures::CaseDoc =
            serde_yaml::from_slice(&std::fs::read(case.join("case.yaml")).unwrap()).unwrap();
        let case_digest = doc
            .image
            .split_once('@')
            .map(|(_, d)| Digest::parse(d).unwrap());
        let digest_of = |item: &Item| {
            item.digest
                .as_deref()
                .map(|d| Digest::parse(d).unwrap())
                .or_else(|| case_digest.clone())
                .expect("a case with bundles names its digest")
        };
        let at = |item: &Item| signet_policy::policy::parse_time(&item.at).unwrap();
        for (i, item) in make.signatures.iter().enumerate() {
            let bundle = world.signature(&digest_of(item), &signer(&item.signer), at(item));
            let d = case.join("signatures");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{i}.json")), bundle).unwrap();
        }
        for (i, item) in make.attestations.iter().enumerate() {
            let predicate = json!({"buildDefinition": {"externalParameters": {"workflow": {
                "repository": item.repository.clone().unwrap_or_default()}}}});
            let bundle = world.attestation(
                &digest_of(item),
                item.predicate_type.as_deref().unwrap_or(SLSA),
                predicate,
                &signer(&item.signer),
                at(item),
            );
            let d = case.join("attestations");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{i}.json")), bundle).unwrap();
        }
    }
    let policy = Policy::load(dir.path().join("policy.yaml")).unwrap_or_else(|e| panic!("{e}"));
    Prepared { world, dir, policy }
}

fn report(results: &[CaseResult]) -> String {
    results
        .iter()
        .map(|r| {
            format!(
                "{} {}: {:?}\n    {}",
                if r.ok { "ok" } else { "FAIL" },
                r.name,
                r.problems,
                r.decision
                    .as_ref()
                    .map(|d| d.reasons.join("\n    "))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_example_case_meets_its_expectations() {
    let p = prepare();
    let results = fixtures::run(
        &p.policy,
        &p.dir.path().join("cases"),
        &p.world.trusted_root(),
    )
    .unwrap();
    let case_dirs = std::fs::read_dir(example().join("cases")).unwrap().count();
    assert_eq!(results.len(), case_dirs, "every case ran");
    assert!(results.iter().all(|r| r.ok), "{}", report(&results));
    // The fixtures exercise every outcome.
    let outcomes: BTreeSet<String> = results
        .iter()
        .filter_map(|r| r.decision.as_ref().map(|d| d.outcome.to_string()))
        .collect();
    assert_eq!(
        outcomes,
        ["exempt", "fail", "no-rule", "pass", "warn"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

#[test]
fn a_wrong_expectation_is_caught() {
    let p = prepare();
    let cases = p.dir.path().join("cases");
    // Flip every case's expectation: every case must then fail.
    for case in fixtures::cases(&cases).unwrap() {
        let path = case.join("case.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let flipped = if text.contains("expect: pass") {
            text.replace("expect: pass", "expect: fail")
        } else {
            text.replace("expect: ", "expect: pass\n#")
        };
        std::fs::write(&path, flipped).unwrap();
    }
    let results = fixtures::run(&p.policy, &cases, &p.world.trusted_root()).unwrap();
    for r in &results {
        assert!(!r.ok, "{} passed with a wrong expectation", r.name);
        assert!(
            r.problems.iter().any(|m| m.starts_with("expected ")),
            "{}: {:?}",
            r.name,
            r.problems
        );
    }
    // A reason that is not in the explanation is caught too.
    let one = cases.join("pass-ci-signed-with-provenance/case.yaml");
    let text = std::fs::read_to_string(&one).unwrap();
    std::fs::write(
        &one,
        text.replace("expect: fail", "expect: pass") + "- \"a reason nobody gives\"\n",
    )
    .unwrap();
    let r = fixtures::run_case(
        &p.policy,
        &cases.join("pass-ci-signed-with-provenance"),
        &p.world.trusted_root(),
    );
    assert_eq!(r.decision.as_ref().map(|d| d.outcome), Some(Outcome::Pass));
    assert!(!r.ok);
    assert_eq!(
        r.problems,
        vec!["the explanation does not mention \"a reason nobody gives\""]
    );
}

#[test]
fn bundles_under_another_trusted_root_fail() {
    let p = prepare();
    let stranger = World::new();
    let r = fixtures::run_case(
        &p.policy,
        &p.dir.path().join("cases/pass-ci-signed-with-provenance"),
        &stranger.trusted_root(),
    );
    assert!(!r.ok);
    assert_eq!(r.decision.as_ref().map(|d| d.outcome), Some(Outcome::Fail));
}

#[test]
fn bad_fixture_directories_are_errors() {
    let p = prepare();
    let empty = tempfile::tempdir().unwrap();
    assert!(fixtures::run(&p.policy, empty.path(), &p.world.trusted_root()).is_err());
    // A case without a digest for a rule's image cannot run.
    let case = empty.path().join("no-digest");
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(
        case.join("case.yaml"),
        "image: registry.example.com/team/app:v1\nexpect: pass\n",
    )
    .unwrap();
    let r = fixtures::run_case(&p.policy, &case, &p.world.trusted_root());
    assert!(!r.ok);
    assert!(
        r.problems[0].contains("must name the digest"),
        "{:?}",
        r.problems
    );
    // Unknown fields in case.yaml are refused.
    std::fs::write(
        case.join("case.yaml"),
        "image: busybox\nexpect: exempt\nexpected: pass\n",
    )
    .unwrap();
    let r = fixtures::run_case(&p.policy, &case, &p.world.trusted_root());
    assert!(!r.ok);
    assert!(r.problems[0].contains("unknown field"), "{:?}", r.problems);
}
