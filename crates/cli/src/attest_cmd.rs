//! Image attestation verbs: `attest IMAGE` and `verify-attestation
//! IMAGE...`, as cosign's.
//!
//! `attest` resolves the tag to a digest once, signs an in-toto statement
//! about it (DSSE; keyless or `--key`) and writes it as an OCI 1.1
//! referrer (default) and/or in cosign's `sha256-<hex>.att` tag.
//! `verify-attestation` reads both layouts, verifies each attestation
//! under the identity policy, keeps those of the requested predicate type,
//! and evaluates the `--policy` Rego module on each verified statement; an
//! image passes when one attestation passes all of that. Exit status: 0
//! attested/verified, 1 failed or rejected, 2 bad usage or input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use signet_oci::attest::{attest_image, cosign_predicate, timestamp_now, AttestReport};
use signet_oci::sign::ImageSignError;
use signet_oci::verify::{Accepted, Candidate, ImageMaterial, Rejected};
use signet_oci::{Layout, OciError};
use signet_policy::rego::Condition;
use signet_sign::flow::{Content, SignOptions, SigningContext};
use signet_verify::{SignerPolicy, Verifier};

use crate::oci_cmd::{self, RegistryArgs};
use crate::provenance;
use crate::sign_cmd::{self, Failure, SignTrustArgs, SignerArgs, Who};
use crate::trust_source::TrustArgs;
use crate::verify_cmd::IdentityArgs;

/// The predicate type `--generate` makes.
const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

#[derive(Args, Debug)]
pub struct AttestImageArgs {
    /// The image (`registry/repo:tag` or `…@sha256:…`).
    image: String,
    /// The predicate file: JSON, except for `--type custom` (any text,
    /// wrapped as cosign does) and `--type spdx` (SPDX tag-value text).
    #[arg(long, required_unless_present = "generate")]
    predicate: Option<PathBuf>,
    /// Predicate type: slsaprovenance, slsaprovenance02, slsaprovenance1,
    /// link, spdx, spdxjson, cyclonedx, vuln, openvex, custom, or a URI.
    #[arg(long = "type", default_value = "custom")]
    predicate_type: String,
    /// Make the predicate: SLSA v1 provenance from the CI environment
    /// (GitHub Actions or GitLab CI); needs `--type slsaprovenance1`.
    #[arg(long, conflicts_with = "predicate")]
    generate: bool,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    trust: SignTrustArgs,
    /// Where to write the attestation: `referrers` (a Sigstore bundle as
    /// an OCI 1.1 referrer), `legacy` (cosign's `sha256-<hex>.att` tag),
    /// or `both`.
    #[arg(long, default_value = "referrers", value_parser = ["referrers", "legacy", "both"])]
    layout: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct VerifyAttestationArgs {
    /// The images to verify.
    #[arg(required = true)]
    images: Vec<String>,
    /// The predicate type required (a cosign name, as for `attest`, or a
    /// URI).
    #[arg(long = "type", default_value = "custom")]
    predicate_type: String,
    /// A Rego module each attestation's statement must satisfy (its
    /// `allow` true and its `deny` set empty), as cosign's `--policy`.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// `text` (default) or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

fn layout(name: &str) -> Layout {
    match name {
        "legacy" => Layout::Legacy,
        "both" => Layout::Both,
        _ => Layout::Referrers,
    }
}

/// The statement's predicate: generated, or from the file as cosign reads it.
fn predicate(args: &AttestImageArgs, predicate_type: &str) -> Result<Value, Failure> {
    if args.generate {
        if predicate_type != SLSA_PROVENANCE_V1 {
            return Err(sign_cmd::usage(format!(
                "--generate makes SLSA v1 provenance: give --type slsaprovenance1, not {:?}",
                args.predicate_type
            )));
        }
        return provenance::generate(&provenance::process_env())
            .map_err(|e| sign_cmd::usage(format!("--generate: {e}")));
    }
    let Some(path) = &args.predicate else {
        return Err(sign_cmd::usage("give --predicate FILE or --generate"));
    };
    let raw = sign_cmd::read_file(path, "predicate")?;
    cosign_predicate(&args.predicate_type, predicate_type, &raw, &timestamp_now())
        .map_err(|e| sign_cmd::usage(format!("predicate {}: {e}", path.display())))
}

fn report_attested(report: &AttestReport) {
    oci_cmd::report_written(
        &format!("attested {} ({})", report.image, report.predicate_type),
        &report.image,
        oci_cmd::Written {
            warnings: &report.warnings,
            log_indexes: &report.log_indexes,
            referrer: report.referrer.as_ref(),
            subject: &report.subject,
            legacy: report.legacy.as_ref(),
        },
        "attestation",
        "attestation",
    );
}

pub fn attest(args: AttestImageArgs) -> ExitCode {
    let result = (|| {
        let image = oci_cmd::reference(&args.image)?;
        let predicate_type = sign_cmd::predicate_type_uri(&args.predicate_type)?;
        let predicate = predicate(&args, &predicate_type)?;
        let registry = oci_cmd::registry(&args.registry)?;
        let (root, config) = sign_cmd::trust_material(&args.trust)?;
        let context = SigningContext::new(&config, &root, SignOptions::default())?;
        let who = Who::load(&args.signer, &context)?;
        let sign = |content: Content<'_>| who.sign(&context, content);
        let report = attest_image(
            &registry,
            &image,
            layout(&args.layout),
            &predicate_type,
            &predicate,
            &sign,
        )
        .map_err(|e| match e {
            ImageSignError::Registry(e) => oci_cmd::registry_failure(e),
            ImageSignError::Sign(e) => Failure::from(e),
        })?;
        report_attested(&report);
        println!("{}", report.image);
        Ok(())
    })();
    oci_cmd::finish("attest", result)
}

/// One image's attestations judged: which passed, which did not and why.
struct Judged {
    given: String,
    digest: Option<signet_oci::Digest>,
    passed: Vec<Accepted>,
    /// Each rejection, with whether the candidate was listed with the
    /// requested predicate type (its failure says more than another
    /// type's).
    rejected: Vec<(Rejected, bool)>,
    /// Registry failure: nothing could be judged.
    error: Option<OciError>,
}

/// Verifies every attestation of `material` under `policy`, keeps those of
/// `predicate_type`, and evaluates `condition` on each one's statement.
fn judge(
    material: &ImageMaterial,
    verifier: &Verifier,
    policy: &SignerPolicy,
    predicate_type: &str,
    condition: Option<&Condition>,
) -> (Vec<Accepted>, Vec<(Rejected, bool)>) {
    let mut passed = Vec::new();
    let mut rejected = Vec::new();
    for candidate in &material.attestations {
        let listed = candidate.listed_predicate_type.as_deref() == Some(predicate_type);
        match check(
            candidate,
            verifier,
            policy,
            &material.digest,
            predicate_type,
            condition,
        ) {
            Ok(a) => passed.push(a),
            Err(r) => rejected.push((r, listed)),
        }
    }
    (passed, rejected)
}

fn check(
    candidate: &Candidate,
    verifier: &Verifier,
    policy: &SignerPolicy,
    digest: &signet_oci::Digest,
    predicate_type: &str,
    condition: Option<&Condition>,
) -> Result<Accepted, Rejected> {
    let accepted = candidate.verify_attestation(verifier, policy, digest, predicate_type)?;
    let Some(condition) = condition else {
        return Ok(accepted);
    };
    let rego = |reason: String| Rejected {
        source: candidate.source.clone(),
        check: "rego".into(),
        reason,
    };
    let statement = candidate
        .statement_json()
        .ok_or_else(|| rego("the verified statement is not JSON".into()))?;
    match condition.evaluate(&statement) {
        Ok(outcome) if outcome.allowed => Ok(accepted),
        Ok(outcome) => Err(rego(format!(
            "{} denied: {}",
            condition.name(),
            outcome.reasons.join("; ")
        ))),
        Err(e) => Err(rego(e.to_string())),
    }
}

impl Judged {
    /// The check and reason to report for a failed image. Preferred: a
    /// Rego denial, then a failure of an attestation listed with the
    /// requested type, then any check but a type mismatch.
    fn failure(&self, predicate_type: &str) -> Option<(String, String)> {
        if let Some(e) = &self.error {
            return Some(("registry".into(), e.to_string()));
        }
        if !self.passed.is_empty() {
            return None;
        }
        let digest = self
            .digest
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        let rank = |(r, listed): &(Rejected, bool)| match (r.check.as_str(), listed) {
            ("rego", _) => 0,
            (_, true) => 1,
            ("predicate-type", false) => 3,
            _ => 2,
        };
        let Some(first) = self.rejected.iter().min_by_key(|r| rank(r)) else {
            return Some((
                "no-attestations".into(),
                format!("no attestations found for {digest}"),
            ));
        };
        let (r, _) = first;
        if r.check == "predicate-type" {
            return Some((
                r.check.clone(),
                format!(
                    "no attestation of type {predicate_type} for {digest}; found: {}",
                    self.rejected
                        .iter()
                        .map(|(o, _)| format!("{}: {}", o.source, o.reason))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ));
        }
        let others: String = self
            .rejected
            .iter()
            .filter(|o| !std::ptr::eq(*o, first))
            .map(|(o, _)| format!("; {}: {}: {}", o.source, o.check, o.reason))
            .collect();
        Some((
            r.check.clone(),
            format!("{}: {}{others}", r.source, r.reason),
        ))
    }

    fn signer(a: &Accepted) -> String {
        match (&a.verified.subject, &a.verified.issuer) {
            (Some(s), Some(i)) => format!("{} ({i})", s.join(", ")),
            (Some(s), None) => s.join(", "),
            _ => "key".to_string(),
        }
    }

    /// Whether it passed, its text line, and its JSON document.
    fn describe(&self, predicate_type: &str) -> (bool, String, Value) {
        let given = &self.given;
        let rejected: Vec<&Rejected> = self.rejected.iter().map(|(r, _)| r).collect();
        match self.failure(predicate_type) {
            None => {
                let digest = self
                    .digest
                    .as_ref()
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                let which: Vec<String> = self
                    .passed
                    .iter()
                    .map(|a| format!("{} by {}", a.source, Self::signer(a)))
                    .collect();
                (
                    true,
                    format!(
                        "{given}: verified {digest}: {} attestation(s) of type {predicate_type}: {}",
                        self.passed.len(),
                        which.join("; ")
                    ),
                    json!({
                        "image": given,
                        "digest": digest,
                        "verified": true,
                        "predicateType": predicate_type,
                        "attestations": self.passed,
                        "rejected": rejected,
                    }),
                )
            }
            Some((check, reason)) => {
                let digest = self.digest.as_ref().map(|d| d.to_string());
                let line = match &digest {
                    Some(d) => format!("{given}: verification failed for {d}: {check}: {reason}"),
                    None => format!("{given}: verification failed: {check}: {reason}"),
                };
                (
                    false,
                    line,
                    json!({
                        "image": given,
                        "digest": digest,
                        "verified": false,
                        "predicateType": predicate_type,
                        "check": check,
                        "reason": reason,
                        "rejected": rejected,
                    }),
                )
            }
        }
    }
}

pub fn verify_attestation(args: VerifyAttestationArgs) -> ExitCode {
    let setup = (|| {
        let references = oci_cmd::references(&args.images)?;
        let predicate_type = sign_cmd::predicate_type_uri(&args.predicate_type)?;
        let condition = match &args.policy {
            Some(path) => {
                let source =
                    String::from_utf8(sign_cmd::read_file(path, "policy")?).map_err(|_| {
                        sign_cmd::usage(format!("policy {} is not text", path.display()))
                    })?;
                let name = path.display().to_string();
                Some(
                    Condition::compile(&name, &source)
                        .map_err(|e| sign_cmd::usage(e.to_string()))?,
                )
            }
            None => None,
        };
        let (policy, verifier, registry) =
            oci_cmd::verifying(&args.identity, &args.trust, &args.registry)?;
        Ok((
            references,
            predicate_type,
            condition,
            policy,
            verifier,
            registry,
        ))
    })();
    let (references, predicate_type, condition, policy, verifier, registry) = match setup {
        Ok(s) => s,
        Err(f) => return oci_cmd::finish("verify-attestation", Err(f)),
    };
    let verdicts = references.iter().map(|(given, reference)| {
        let judged = match signet_oci::verify::collect(&registry, reference, given) {
            Ok(material) => {
                let (passed, rejected) = judge(
                    &material,
                    &verifier,
                    &policy,
                    &predicate_type,
                    condition.as_ref(),
                );
                Judged {
                    given: given.clone(),
                    digest: Some(material.digest.clone()),
                    passed,
                    rejected,
                    error: None,
                }
            }
            Err(e) => Judged {
                given: given.clone(),
                digest: None,
                passed: Vec::new(),
                rejected: Vec::new(),
                error: Some(e),
            },
        };
        judged.describe(&predicate_type)
    });
    oci_cmd::print_verdicts(&args.output, verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_oci::verify::Source;
    use signet_oci::Digest;

    fn rejected(check: &str, listed: bool, n: u8) -> (Rejected, bool) {
        (
            Rejected {
                source: Source::File {
                    path: format!("a{n}"),
                },
                check: check.into(),
                reason: format!("reason {n}"),
            },
            listed,
        )
    }

    fn judged(rejected: Vec<(Rejected, bool)>) -> Judged {
        Judged {
            given: "img".into(),
            digest: Some(Digest::of(b"x")),
            passed: Vec::new(),
            rejected,
            error: None,
        }
    }

    #[test]
    fn failure_prefers_rego_then_the_requested_type() {
        let j = judged(vec![
            rejected("predicate-type", false, 1),
            rejected("identity", false, 2),
            rejected("rego", true, 3),
        ]);
        let (check, reason) = j.failure("T").unwrap();
        assert_eq!(check, "rego");
        assert!(reason.starts_with("file a3: reason 3"), "{reason}");
        assert!(reason.contains("file a2: identity: reason 2"), "{reason}");
        let j = judged(vec![
            rejected("identity", false, 1),
            rejected("certificate-chain", true, 2),
        ]);
        assert_eq!(j.failure("T").unwrap().0, "certificate-chain");
    }

    #[test]
    fn only_other_types_names_the_requested_one() {
        let j = judged(vec![rejected("predicate-type", false, 1)]);
        let (check, reason) = j.failure("https://slsa.dev/provenance/v1").unwrap();
        assert_eq!(check, "predicate-type");
        assert!(
            reason.contains("no attestation of type https://slsa.dev/provenance/v1"),
            "{reason}"
        );
        let (check, _) = judged(Vec::new()).failure("T").unwrap();
        assert_eq!(check, "no-attestations");
    }
}
