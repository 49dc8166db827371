//! `signet policy test`: a policy repository's own test cases, run
//! offline.
//!
//! A fixtures directory holds one directory per case:
//!
//! ```text
//! fixtures/
//!   signed-by-ci/
//!     case.yaml            # what is asked and what is expected
//!     signatures/*.json    # Sigstore bundles: image signatures
//!     attestations/*.json  # Sigstore bundles: attestations
//! ```
//!
//! `case.yaml`:
//!
//! ```yaml
//! image: registry.example.com/team/app@sha256:…   # the digest the bundles are about
//! namespace: prod-eu          # optional
//! now: 2026-06-01T00:00:00Z   # optional: the evaluation time (exemptions, log time checks)
//! expect: pass                # pass | fail | warn | exempt | no-rule
//! allowed: true               # optional, checked when given
//! rule: our-services          # optional, checked when given
//! reasons: ["authority github-ci"]   # optional: each must appear in the explanation
//! ```
//!
//! The bundles become the image's material as
//! [`Candidate::bundle`] with a [`Source::File`], exactly as if a
//! registry had listed them, and are verified against the trusted root
//! the caller gives.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use signet_model::TrustedRoot;
use signet_oci::verify::{Candidate, ImageMaterial, Source};
use signet_oci::Digest;
use signet_verify::{Options, TrustMaterial, Verifier};

use crate::eval::{evaluate, match_rule_at, Decision, Match, Outcome, Request};
use crate::glob::ImageName;
use crate::policy::{now_unix, parse_time, Policy};

pub const CASE_FILE: &str = "case.yaml";
pub const MAX_CASES: usize = 1000;
pub const MAX_BUNDLES: usize = 64;
pub const MAX_BUNDLE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaseDoc {
    pub image: String,
    #[serde(default)]
    pub namespace: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub now: Option<String>,
    pub expect: Outcome,
    #[serde(default)]
    pub allowed: Option<bool>,
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    /// Whether the decision met every expectation.
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Unmet expectations, or why the case could not run.
    pub problems: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("fixtures {path}: {reason}")]
    Dir { path: PathBuf, reason: String },
    #[error("trusted root: {0}")]
    Trust(String),
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{}: larger than {limit} bytes", path.display()));
    }
    Ok(bytes)
}

/// The `*.json` bundles of `dir` (absent = none), sorted by name.
fn bundles(dir: &Path) -> Result<Vec<Candidate>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    if paths.len() > MAX_BUNDLES {
        return Err(format!(
            "{}: more than {MAX_BUNDLES} bundles",
            dir.display()
        ));
    }
    paths
        .iter()
        .map(|p| {
            let raw = read_bounded(p, MAX_BUNDLE_BYTES)?;
            let source = Source::File {
                path: p.display().to_string(),
            };
            Ok(Candidate::bundle(source, &raw, None))
        })
        .collect()
}

/// The case directories under `dir` (those with a `case.yaml`), sorted.
pub fn cases(dir: &Path) -> Result<Vec<PathBuf>, FixtureError> {
    let bad = |reason: String| FixtureError::Dir {
        path: dir.to_path_buf(),
        reason,
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(CASE_FILE).is_file())
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(bad(format!(
            "no cases: expected directories holding a {CASE_FILE}"
        )));
    }
    if out.len() > MAX_CASES {
        return Err(bad(format!("more than {MAX_CASES} cases")));
    }
    Ok(out)
}

/// Runs one case directory.
pub fn run_case(policy: &Policy, case_dir: &Path, root: &TrustedRoot) -> CaseResult {
    let name = case_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| case_dir.display().to_string());
    let mut result = CaseResult {
        name,
        ok: false,
        expect: None,
        decision: None,
        problems: Vec::new(),
    };
    let case: CaseDoc = match read_bounded(&case_dir.join(CASE_FILE), 64 * 1024)
        .and_then(|b| serde_yaml::from_slice(&b).map_err(|e| format!("{CASE_FILE}: {e}")))
    {
        Ok(c) => c,
        Err(e) => {
            result.problems.push(e);
            return result;
        }
    };
    result.expect = Some(case.expect);
    let now = match case.now.as_deref().map(parse_time) {
        None => now_unix(),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            result.problems.push(format!("now: {e}"));
            return result;
        }
    };
    let request = Request {
        image: &case.image,
        namespace: case.namespace.as_deref(),
    };
    let decision = match match_rule_at(policy, &case.image, request.namespace, now) {
        Match::Rule(_) => {
            let digest = ImageName::parse(&case.image)
                .ok()
                .and_then(|n| n.digest)
                .and_then(|d| Digest::parse(&d).ok());
            let Some(digest) = digest else {
                result.problems.push(format!(
                    "image {:?} must name the digest its bundles are about (…@sha256:…)",
                    case.image
                ));
                return result;
            };
            let material = bundles(&case_dir.join("signatures")).and_then(|signatures| {
                Ok(ImageMaterial {
                    reference: case.image.clone(),
                    digest,
                    signatures,
                    attestations: bundles(&case_dir.join("attestations"))?,
                })
            });
            let material = match material {
                Ok(m) => m,
                Err(e) => {
                    result.problems.push(e);
                    return result;
                }
            };
            let trust = match TrustMaterial::from_trusted_root(root) {
                Ok(t) => t,
                Err(e) => {
                    result.problems.push(format!("trusted root: {e}"));
                    return result;
                }
            };
            let verifier = Verifier::new(
                trust,
                Options {
                    now: Some(now),
                    ..Options::default()
                },
            );
            evaluate(policy, &request, &material, &verifier, now)
        }
        _ => match crate::eval::decide_unverified(policy, &request, now) {
            Some(d) => d,
            None => {
                result.problems.push("internal error: no decision".into());
                return result;
            }
        },
    };
    if decision.outcome != case.expect {
        result.problems.push(format!(
            "expected {}, got {}",
            case.expect, decision.outcome
        ));
    }
    if let Some(allowed) = case.allowed {
        if decision.allowed != allowed {
            result.problems.push(format!(
                "expected allowed: {allowed}, got {}",
                decision.allowed
            ));
        }
    }
    if let Some(rule) = &case.rule {
        if decision.rule.as_deref() != Some(rule.as_str()) {
            result
                .problems
                .push(format!("expected rule {rule:?}, got {:?}", decision.rule));
        }
    }
    let explanation = decision.explanation();
    for r in &case.reasons {
        if !explanation.contains(r.as_str()) {
            result
                .problems
                .push(format!("the explanation does not mention {r:?}"));
        }
    }
    result.ok = result.problems.is_empty();
    result.decision = Some(decision);
    result
}

/// Runs every case under `dir`.
pub fn run(
    policy: &Policy,
    dir: &Path,
    root: &TrustedRoot,
) -> Result<Vec<CaseResult>, FixtureError> {
    // The root is checked once up front so that a bad one is one error,
    // not one per case.
    TrustMaterial::from_trusted_root(root).map_err(|e| FixtureError::Trust(e.to_string()))?;
    Ok(cases(dir)?
        .iter()
        .map(|c| run_case(policy, c, root))
        .collect())
}
