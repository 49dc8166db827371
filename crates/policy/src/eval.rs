//! Evaluating a policy for one image: which rule applies, which of its
//! authorities the image's signatures satisfy, whether the threshold is
//! met, whether each required attestation is there and passes its Rego
//! condition. Pure given the material: the verifier does no I/O, and the
//! clock is a parameter.
//!
//! Order: an unexpired exemption matching the image (and namespace)
//! wins; else the first rule whose images (and namespaces) match
//! applies; else the policy's default.
//!
//! An authority counts when at least one signature verifies under its
//! signer policy *and* every verified signing time of that signature lies
//! in the authority's `[notBefore, notAfter)` window. A verification
//! without a trusted signing time does not count.

use serde::Serialize;
use signet_oci::verify::{Accepted, Candidate, ImageMaterial};
use signet_verify::{SignerPolicy, Verified, Verifier};

use crate::glob::ImageName;
use crate::model::{DefaultAction, Mode};
use crate::policy::{now_unix, rfc3339, Authority, Exemption, Policy, Rule};

/// Signatures (and, separately, attestations) of one image that are
/// looked at; more are ignored, and the explanation says so.
pub const MAX_CANDIDATES: usize = 64;

/// What is being admitted.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The image reference as given (tag and/or digest).
    pub image: &'a str,
    /// The Kubernetes namespace, when there is one.
    pub namespace: Option<&'a str>,
}

/// What applies to an image, known before fetching anything.
#[derive(Debug, Clone, Copy)]
pub enum Match<'a> {
    /// This rule applies: verification is needed.
    Rule(&'a Rule),
    /// An unexpired exemption matches: admitted without verification.
    Exempt(&'a Exemption),
    /// No rule matches (or the reference is invalid): `allowed` is the
    /// policy's default (always `false` for an invalid reference).
    NoRule { allowed: bool },
}

impl Match<'_> {
    /// Whether the image's signatures must be fetched and evaluated.
    pub fn needs_verification(&self) -> bool {
        matches!(self, Match::Rule(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The rule is satisfied.
    Pass,
    /// The rule is not satisfied and it enforces: denied.
    Fail,
    /// The rule is not satisfied, but its mode is `warn`: allowed.
    Warn,
    /// An exemption applies: allowed unverified.
    Exempt,
    /// No rule applies: the default decides (`allowed`).
    NoRule,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Exempt => "exempt",
            Outcome::NoRule => "no-rule",
        })
    }
}

/// Why a decision failed, by kind (stable identifiers, e.g. SARIF rule ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Fewer authorities satisfied than the rule's threshold.
    Threshold,
    /// A required attestation is missing, unverified, or its Rego
    /// condition denies it.
    Attestation,
    /// No rule names the image and the default denies it.
    NoRule,
    /// The image reference is invalid, or the material is not the image's.
    InvalidImage,
}

impl FailureKind {
    pub fn id(self) -> &'static str {
        match self {
            FailureKind::Threshold => "threshold",
            FailureKind::Attestation => "attestation",
            FailureKind::NoRule => "no-rule",
            FailureKind::InvalidImage => "invalid-image",
        }
    }
}

/// The decision for one image.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The image as given.
    pub image: String,
    /// The digest verified (none for exempt and unmatched images, which
    /// are not fetched).
    pub digest: Option<String>,
    pub outcome: Outcome,
    pub allowed: bool,
    /// The rule that applied.
    pub rule: Option<String>,
    /// The explanation, one line per fact.
    pub reasons: Vec<String>,
    /// The authorities satisfied.
    pub satisfied: Vec<String>,
    /// What failed first (for failed and warned decisions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
    /// The policy's name and version.
    pub policy: String,
    pub policy_version: String,
}

impl Decision {
    fn new(policy: &Policy, image: &str) -> Decision {
        Decision {
            image: image.to_string(),
            digest: None,
            outcome: Outcome::NoRule,
            allowed: false,
            rule: None,
            reasons: Vec::new(),
            satisfied: Vec::new(),
            failure: None,
            policy: policy.name.clone(),
            policy_version: policy.version().to_string(),
        }
    }

    /// The explanation as one string.
    pub fn explanation(&self) -> String {
        self.reasons.join("; ")
    }
}

fn namespace_ok(patterns: &Option<Vec<crate::glob::NamePattern>>, ns: Option<&str>) -> bool {
    match (patterns, ns) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(p), Some(ns)) => p.iter().any(|p| p.matches(ns)),
    }
}

/// [`match_rule_at`] with the system clock.
pub fn match_rule<'a>(policy: &'a Policy, image: &str, namespace: Option<&str>) -> Match<'a> {
    match_rule_at(policy, image, namespace, now_unix())
}

/// What applies to `image` in `namespace` at `now` (unix seconds).
pub fn match_rule_at<'a>(
    policy: &'a Policy,
    image: &str,
    namespace: Option<&str>,
    now: i64,
) -> Match<'a> {
    let Ok(name) = ImageName::parse(image) else {
        return Match::NoRule { allowed: false };
    };
    for e in &policy.exemptions {
        if e.active(now)
            && namespace_ok(&e.namespaces, namespace)
            && e.images.iter().any(|p| p.matches(&name))
        {
            return Match::Exempt(e);
        }
    }
    for r in &policy.rules {
        if namespace_ok(&r.namespaces, namespace) && r.images.iter().any(|p| p.matches(&name)) {
            return Match::Rule(r);
        }
    }
    Match::NoRule {
        allowed: policy.default == DefaultAction::Allow,
    }
}

/// The decision for an image that needs no verification (exempt, no
/// rule, invalid reference), or `None` when a rule applies and the
/// image's material must be fetched for [`evaluate`].
pub fn decide_unverified(policy: &Policy, request: &Request<'_>, now: i64) -> Option<Decision> {
    let m = match_rule_at(policy, request.image, request.namespace, now);
    unverified(policy, request, m)
}

fn unverified(policy: &Policy, request: &Request<'_>, m: Match<'_>) -> Option<Decision> {
    let mut d = Decision::new(policy, request.image);
    match m {
        Match::Rule(_) => return None,
        Match::Exempt(e) => {
            d.outcome = Outcome::Exempt;
            d.allowed = true;
            let until = match e.expires {
                Some(t) => format!("expires {}", rfc3339(t)),
                None => "no expiry".to_string(),
            };
            d.reasons
                .push(format!("exempt by {}: {} ({until})", e.path, e.reason));
        }
        Match::NoRule { .. } => {
            let name = match ImageName::parse(request.image) {
                Ok(n) => n,
                Err(e) => {
                    d.outcome = Outcome::Fail;
                    d.failure = Some(FailureKind::InvalidImage);
                    d.reasons.push(format!("invalid image reference: {e}"));
                    return Some(d);
                }
            };
            let ns = request
                .namespace
                .map(|n| format!(" in namespace {n}"))
                .unwrap_or_default();
            match (policy.default, policy.mode) {
                (DefaultAction::Allow, _) => {
                    d.allowed = true;
                    d.reasons.push(format!(
                        "no rule matches {}{ns}; the policy's default allows it",
                        name.repository
                    ));
                }
                (DefaultAction::Deny, Mode::Enforce) => {
                    d.failure = Some(FailureKind::NoRule);
                    d.reasons.push(format!(
                        "no rule matches {}{ns}; the policy's default denies it",
                        name.repository
                    ));
                }
                (DefaultAction::Deny, Mode::Warn) => {
                    d.outcome = Outcome::Warn;
                    d.allowed = true;
                    d.failure = Some(FailureKind::NoRule);
                    d.reasons.push(format!(
                        "no rule matches {}{ns}; the policy's default would deny it (policy mode warn)",
                        name.repository
                    ));
                }
            }
        }
    }
    Some(d)
}

fn who(v: &Verified) -> String {
    match (&v.subject, &v.issuer) {
        (Some(s), Some(i)) => format!("{} (issuer {i})", s.join(", ")),
        (Some(s), None) => s.join(", "),
        _ => "the key".to_string(),
    }
}

/// Checks an accepted verification against the authority's window.
fn in_window(authority: &Authority, accepted: &Accepted) -> Result<String, String> {
    let times = &accepted.verified.signing_times;
    if times.is_empty() {
        return Err(
            "signing-time-window: no verified signing time to check the authority's window against"
                .into(),
        );
    }
    for t in times {
        authority
            .check_time(t.time())
            .map_err(|e| format!("signing-time-window: {e}"))?;
    }
    Ok(times
        .iter()
        .map(|t| rfc3339(t.time()))
        .collect::<Vec<_>>()
        .join(", "))
}

fn capped(list: &[Candidate]) -> &[Candidate] {
    &list[..list.len().min(MAX_CANDIDATES)]
}

/// Evaluates `policy` for the image `request` names, whose signatures
/// and attestations are `material`, at `now_unix` (for exemptions).
pub fn evaluate(
    policy: &Policy,
    request: &Request<'_>,
    material: &ImageMaterial,
    verifier: &Verifier,
    now_unix: i64,
) -> Decision {
    let m = match_rule_at(policy, request.image, request.namespace, now_unix);
    let rule = match m {
        Match::Rule(r) => r,
        other => {
            // `unverified` decides every non-rule match.
            return unverified(policy, request, other).unwrap_or_else(|| {
                let mut d = Decision::new(policy, request.image);
                d.outcome = Outcome::Fail;
                d.failure = Some(FailureKind::InvalidImage);
                d.reasons.push("internal error: no decision".into());
                d
            });
        }
    };
    let mut d = Decision::new(policy, request.image);
    d.rule = Some(rule.name.clone());
    d.digest = Some(material.digest.to_string());
    let fail = |mut d: Decision, kind: FailureKind| {
        d.failure = Some(kind);
        match rule.mode {
            Mode::Enforce => {
                d.outcome = Outcome::Fail;
                d.allowed = false;
            }
            Mode::Warn => {
                d.outcome = Outcome::Warn;
                d.allowed = true;
                d.reasons
                    .push(format!("rule {:?} is in warn mode: allowed", rule.name));
            }
        }
        d
    };
    // The material must be the image's: a pinned digest must be the one
    // the signatures were verified against.
    if let Ok(name) = ImageName::parse(request.image) {
        if let Some(pinned) = &name.digest {
            if *pinned != material.digest.to_string() {
                d.reasons.push(format!(
                    "the image is pinned to {pinned}, but the material is for {}",
                    material.digest
                ));
                return fail(d, FailureKind::InvalidImage);
            }
        }
    }
    let digest = &material.digest;
    for (what, list) in [
        ("signatures", &material.signatures),
        ("attestations", &material.attestations),
    ] {
        if list.len() > MAX_CANDIDATES {
            d.reasons.push(format!(
                "only the first {MAX_CANDIDATES} of {} {what} were considered",
                list.len()
            ));
        }
    }

    // Authorities: each needs one signature verified under it, in its window.
    let mut failures: Vec<String> = Vec::new();
    for authority in &rule.authorities {
        let mut satisfied_by = None;
        let mut why_not = Vec::new();
        for c in capped(&material.signatures) {
            match c.verify_signature(verifier, &authority.signer, digest) {
                Ok(a) => match in_window(authority, &a) {
                    Ok(times) => {
                        satisfied_by = Some(format!(
                            "{} signed by {} at {times}",
                            c.source,
                            who(&a.verified)
                        ));
                        break;
                    }
                    Err(e) => why_not.push(format!("{}: {e}", c.source)),
                },
                Err(r) => why_not.push(format!("{}: {}: {}", r.source, r.check, r.reason)),
            }
        }
        // An image signature listed among the attestations (a referrer
        // whose annotation says otherwise) still counts; their failures
        // are not noise worth reporting.
        if satisfied_by.is_none() {
            for c in capped(&material.attestations) {
                if let Ok(a) = c.verify_signature(verifier, &authority.signer, digest) {
                    match in_window(authority, &a) {
                        Ok(times) => {
                            satisfied_by = Some(format!(
                                "{} signed by {} at {times}",
                                c.source,
                                who(&a.verified)
                            ));
                            break;
                        }
                        Err(e) => why_not.push(format!("{}: {e}", c.source)),
                    }
                }
            }
        }
        match satisfied_by {
            Some(by) => {
                d.reasons.push(format!(
                    "authority {} ({}): satisfied by {by}",
                    authority.name, authority.description
                ));
                d.satisfied.push(authority.name.clone());
            }
            None => {
                let detail = if why_not.is_empty() {
                    format!("no signatures found for {digest}")
                } else {
                    why_not.join("; ")
                };
                failures.push(format!(
                    "authority {} ({}): not satisfied: {detail}",
                    authority.name, authority.description
                ));
            }
        }
    }
    d.reasons.extend(failures);
    let threshold_met = d.satisfied.len() >= rule.threshold;
    if threshold_met {
        d.reasons.push(format!(
            "threshold met: {} of {} authorities satisfied ({} required)",
            d.satisfied.len(),
            rule.authorities.len(),
            rule.threshold
        ));
    } else {
        d.reasons.push(format!(
            "threshold not met: {} of {} authorities satisfied, {} required",
            d.satisfied.len(),
            rule.authorities.len(),
            rule.threshold
        ));
    }

    // Attestations: each needs one verified by an allowed authority, of
    // its predicate type, in the authority's window, passing its Rego.
    let mut attestations_ok = true;
    for req in &rule.attestations {
        let mut passed = None;
        let mut why_not = Vec::new();
        let mut seen_type = false;
        let listed = capped(&material.attestations).iter().map(|c| (c, true));
        let unlisted = capped(&material.signatures).iter().map(|c| (c, false));
        'candidates: for (c, in_attestations) in listed.chain(unlisted) {
            let mut last_error = None;
            for &i in &req.authorities {
                let Some(authority) = rule.authorities.get(i) else {
                    continue;
                };
                let accepted = match c.verify(verifier, &authority.signer, digest) {
                    Ok(a) => a,
                    Err(r) => {
                        last_error = Some(format!("{}: {}: {}", r.source, r.check, r.reason));
                        continue;
                    }
                };
                let Some(statement) = &accepted.verified.statement else {
                    continue;
                };
                if statement.predicate_type != req.predicate_type {
                    // Another kind of attestation (or a signature): not
                    // this requirement's business.
                    continue 'candidates;
                }
                seen_type = true;
                let times = match in_window(authority, &accepted) {
                    Ok(t) => t,
                    Err(e) => {
                        why_not.push(format!("{} by {}: {e}", c.source, authority.name));
                        continue;
                    }
                };
                let by = format!(
                    "{} signed by authority {} at {times}",
                    c.source, authority.name
                );
                match &req.condition {
                    None => {
                        passed = Some(by);
                        break 'candidates;
                    }
                    Some(cond) => {
                        let input = match serde_json::to_value(statement) {
                            Ok(v) => v,
                            Err(e) => {
                                why_not.push(format!("{by}: statement: {e}"));
                                continue 'candidates;
                            }
                        };
                        match cond.evaluate(&input) {
                            Ok(o) if o.allowed => {
                                passed = Some(format!("{by}, policy {} allowed it", cond.name()));
                                break 'candidates;
                            }
                            Ok(o) => why_not.push(format!(
                                "{by}: policy {} denied it: {}",
                                cond.name(),
                                o.reasons.join("; ")
                            )),
                            Err(e) => why_not.push(format!("{by}: {e}")),
                        }
                        // The statement is the same whoever verified it.
                        continue 'candidates;
                    }
                }
            }
            if let Some(e) = last_error {
                let listed = c.listed_predicate_type.as_deref();
                if listed == Some(req.predicate_type.as_str())
                    || (in_attestations && listed.is_none())
                {
                    why_not.push(e);
                }
            }
        }
        match passed {
            Some(by) => d.reasons.push(format!(
                "attestation {} ({}): passed: {by}",
                req.name, req.predicate_type
            )),
            None => {
                attestations_ok = false;
                let names: Vec<&str> = req
                    .authorities
                    .iter()
                    .filter_map(|&i| rule.authorities.get(i).map(|a| a.name.as_str()))
                    .collect();
                let detail = if why_not.is_empty() {
                    if seen_type {
                        "no verified attestation passed".to_string()
                    } else {
                        format!(
                            "missing: no attestation of this type verified by {}",
                            names.join(" or ")
                        )
                    }
                } else {
                    why_not.join("; ")
                };
                d.reasons.push(format!(
                    "attestation {} ({}): failed: {detail}",
                    req.name, req.predicate_type
                ));
            }
        }
    }

    if !threshold_met {
        return fail(d, FailureKind::Threshold);
    }
    if !attestations_ok {
        return fail(d, FailureKind::Attestation);
    }
    d.outcome = Outcome::Pass;
    d.allowed = true;
    d
}

/// The signer policies of a rule's authorities (for callers that verify
/// by themselves).
pub fn signer_policies(rule: &Rule) -> Vec<(&str, &SignerPolicy)> {
    rule.authorities
        .iter()
        .map(|a| (a.name.as_str(), &a.signer))
        .collect()
}
