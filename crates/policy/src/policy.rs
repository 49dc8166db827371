//! Loading a policy file: parse (unknown fields refused), check, resolve
//! keys and Rego modules relative to the file, and compile everything the
//! evaluation needs, so that a [`Policy`] that loaded can be evaluated
//! without further I/O or failure modes of its own.
//!
//! Anything that would make the policy mean less than it says is an
//! error and the policy does not load: a bad glob or regular expression,
//! an unknown claim, a threshold of 0 or above the number of authorities,
//! an empty validity window, an attestation naming an authority the rule
//! does not have, a key given only as a KMS or PKCS#11 reference, Rego
//! that does not compile. What is legal but suspicious is a warning from
//! [`Policy::lint`]: expired exemptions (ignored by evaluation), rules
//! shadowed by an earlier rule, unanchored regular expressions.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use signet_crypto::PublicKey;
use signet_verify::{Claim, IdentityPolicy, Matcher, SignerPolicy};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::glob::{ImagePattern, NamePattern};
use crate::model::{
    AttestationDoc, AuthorityDoc, DefaultAction, ExemptionDoc, KeyDoc, KeylessDoc, Mode, PolicyDoc,
    RuleDoc, API_VERSION, KIND,
};
use crate::rego::Condition;

/// Largest policy file accepted.
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;
/// Largest key or Rego file a policy may reference.
pub const MAX_REFERENCED_BYTES: u64 = 256 * 1024;
pub const MAX_RULES: usize = 256;
pub const MAX_AUTHORITIES: usize = 32;
pub const MAX_ATTESTATIONS: usize = 16;
pub const MAX_PATTERNS: usize = 256;
pub const MAX_EXEMPTIONS: usize = 1024;
/// Longest name, reason, predicate type or value accepted.
pub const MAX_STRING: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Where in the document: `spec.rules[0].authorities[1].keyless`.
    pub path: String,
    pub message: String,
    /// Line and column (1-based) where the YAML parser knows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Finding {
    fn error(path: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }

    fn warning(path: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(path, message)
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.severity)?;
        if let Some(line) = self.line {
            write!(f, "line {line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
            f.write_str(": ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a policy did not load.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy {file}: {}", .findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The file (or `<inline>`).
        file: String,
        /// Every error found (never empty).
        findings: Vec<Finding>,
    },
}

impl PolicyError {
    /// The errors as findings (an unreadable file is one).
    pub fn findings(&self) -> Vec<Finding> {
        match self {
            PolicyError::Io { path, source } => vec![Finding::error(
                "",
                format!("cannot read {}: {source}", path.display()),
            )],
            PolicyError::Invalid { findings, .. } => findings.clone(),
        }
    }
}

/// An identity whose signatures count for a rule.
#[derive(Debug)]
pub struct Authority {
    pub name: String,
    pub signer: SignerPolicy,
    /// Unix seconds; the verified signing time must be at or after this.
    pub not_before: Option<i64>,
    /// Unix seconds; the verified signing time must be before this.
    pub not_after: Option<i64>,
    /// Human description (`keyless alice@… from https://issuer`, `key keys/release.pub`).
    pub description: String,
}

impl Authority {
    /// Whether `t` lies in the authority's window; `Err` says why not.
    pub fn check_time(&self, t: i64) -> Result<(), String> {
        if let Some(nb) = self.not_before {
            if t < nb {
                return Err(format!(
                    "signed at {}, before the authority's notBefore {}",
                    rfc3339(t),
                    rfc3339(nb)
                ));
            }
        }
        if let Some(na) = self.not_after {
            if t >= na {
                return Err(format!(
                    "signed at {}, at or after the authority's notAfter {}",
                    rfc3339(t),
                    rfc3339(na)
                ));
            }
        }
        Ok(())
    }
}

/// A required attestation.
#[derive(Debug)]
pub struct AttestationRequirement {
    pub name: String,
    pub predicate_type: String,
    /// Indexes into the rule's authorities of those that may sign it.
    pub authorities: Vec<usize>,
    pub condition: Option<Condition>,
}

#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub images: Vec<ImagePattern>,
    /// `None`: every namespace, and requests without one.
    pub namespaces: Option<Vec<NamePattern>>,
    /// The rule's mode, or the policy's.
    pub mode: Mode,
    pub threshold: usize,
    pub authorities: Vec<Authority>,
    pub attestations: Vec<AttestationRequirement>,
}

#[derive(Debug)]
pub struct Exemption {
    /// `spec.exemptions[i]`.
    pub path: String,
    pub images: Vec<ImagePattern>,
    pub namespaces: Option<Vec<NamePattern>>,
    pub reason: String,
    /// Unix seconds; at or after it the exemption no longer applies.
    pub expires: Option<i64>,
}

impl Exemption {
    pub fn active(&self, now: i64) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

/// A loaded, compiled policy.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub mode: Mode,
    pub default: DefaultAction,
    pub rules: Vec<Rule>,
    pub exemptions: Vec<Exemption>,
    /// The file it was loaded from (`None` for [`Policy::from_yaml`]
    /// without a name).
    pub source: Option<PathBuf>,
    version: String,
    /// Warnings that do not depend on the clock, found at load.
    warnings: Vec<Finding>,
}

pub fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Parses an RFC 3339 time to unix seconds.
/// Whether `r` has a `|` outside every group and character class.
fn has_top_level_alternation(r: &str) -> bool {
    let (mut depth, mut in_class, mut escaped) = (0usize, false, false);
    for c in r.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            _ if in_class => {}
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '|' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

pub fn parse_time(text: &str) -> Result<i64, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (2026-01-01T00:00:00Z): {e}"))
}

/// The Fulcio claims by the names policy files use (Fulcio's own).
pub const CLAIMS: [(&str, Claim); 19] = [
    ("buildSignerURI", Claim::BuildSignerUri),
    ("buildSignerDigest", Claim::BuildSignerDigest),
    ("runnerEnvironment", Claim::RunnerEnvironment),
    ("sourceRepositoryURI", Claim::SourceRepositoryUri),
    ("sourceRepositoryDigest", Claim::SourceRepositoryDigest),
    ("sourceRepositoryRef", Claim::SourceRepositoryRef),
    (
        "sourceRepositoryIdentifier",
        Claim::SourceRepositoryIdentifier,
    ),
    ("sourceRepositoryOwnerURI", Claim::SourceRepositoryOwnerUri),
    (
        "sourceRepositoryOwnerIdentifier",
        Claim::SourceRepositoryOwnerIdentifier,
    ),
    ("buildConfigURI", Claim::BuildConfigUri),
    ("buildConfigDigest", Claim::BuildConfigDigest),
    ("buildTrigger", Claim::BuildTrigger),
    ("runInvocationURI", Claim::RunInvocationUri),
    (
        "sourceRepositoryVisibilityAtSigning",
        Claim::SourceRepositoryVisibilityAtSigning,
    ),
    ("githubWorkflowTrigger", Claim::GithubWorkflowTrigger),
    ("githubWorkflowSHA", Claim::GithubWorkflowSha),
    ("githubWorkflowName", Claim::GithubWorkflowName),
    ("githubWorkflowRepository", Claim::GithubWorkflowRepository),
    ("githubWorkflowRef", Claim::GithubWorkflowRef),
];

/// Builds the compiled policy, collecting every error.
struct Compiler<'a> {
    base_dir: &'a Path,
    errors: Vec<Finding>,
    warnings: Vec<Finding>,
    /// Referenced files' paths and bytes, in the order met (for the version).
    referenced: Vec<(String, Vec<u8>)>,
}

fn too_long(s: &str) -> bool {
    s.len() > MAX_STRING
}

impl Compiler<'_> {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Finding::error(path, message));
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Finding::warning(path, message));
    }

    fn read(&mut self, path: &str, relative: &str, what: &str) -> Option<Vec<u8>> {
        let full = self.base_dir.join(relative);
        let result = std::fs::File::open(&full).and_then(|f| {
            use std::io::Read;
            let mut bytes = Vec::new();
            f.take(MAX_REFERENCED_BYTES + 1).read_to_end(&mut bytes)?;
            Ok(bytes)
        });
        match result {
            Ok(bytes) if bytes.len() as u64 > MAX_REFERENCED_BYTES => {
                self.err(
                    path,
                    format!(
                        "{what} {} is larger than {MAX_REFERENCED_BYTES} bytes",
                        full.display()
                    ),
                );
                None
            }
            Ok(bytes) => {
                self.referenced.push((relative.to_string(), bytes.clone()));
                Some(bytes)
            }
            Err(e) => {
                self.err(path, format!("cannot read {what} {}: {e}", full.display()));
                None
            }
        }
    }

    fn time(&mut self, path: String, text: &Option<String>) -> Option<i64> {
        let text = text.as_ref()?;
        match parse_time(text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(path, e);
                None
            }
        }
    }

    fn patterns(&mut self, path: &str, texts: &[String], allow_tag: bool) -> Vec<ImagePattern> {
        if texts.is_empty() {
            self.err(format!("{path}.images"), "no image patterns");
        }
        if texts.len() > MAX_PATTERNS {
            self.err(
                format!("{path}.images"),
                format!("more than {MAX_PATTERNS} patterns"),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            match ImagePattern::parse(t, allow_tag) {
                Ok(p) => out.push(p),
                Err(e) => self.err(format!("{path}.images[{i}]"), e),
            }
        }
        out
    }

    fn namespaces(&mut self, path: &str, texts: &Option<Vec<String>>) -> Option<Vec<NamePattern>> {
        let texts = texts.as_ref()?;
        if texts.is_empty() {
            self.err(
                format!("{path}.namespaces"),
                "an empty list matches no namespace; leave `namespaces` out to match all",
            );
        }
        if texts.len() > MAX_PATTERNS {
            self.err(
                format!("{path}.namespaces"),
                format!("more than {MAX_PATTERNS} patterns"),
            );
            return Some(Vec::new());
        }
        let mut out = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            match NamePattern::parse(t) {
                Ok(p) => out.push(p),
                Err(e) => self.err(format!("{path}.namespaces[{i}]"), e),
            }
        }
        Some(out)
    }

    fn matcher(
        &mut self,
        path: &str,
        field: &str,
        exact: &Option<String>,
        regexp: &Option<String>,
    ) -> Option<(Matcher, String)> {
        match (exact, regexp) {
            (Some(_), Some(_)) => {
                self.err(path, format!("give `{field}` or `{field}RegExp`, not both"));
                None
            }
            (None, None) => {
                self.err(path, format!("`{field}` or `{field}RegExp` is required"));
                None
            }
            (Some(v), None) => {
                if v.is_empty() || too_long(v) {
                    self.err(format!("{path}.{field}"), "empty or too long");
                    return None;
                }
                Some((Matcher::exact(v.clone()), format!("{v:?}")))
            }
            (None, Some(r)) => self.regex(&format!("{path}.{field}RegExp"), r),
        }
    }

    fn regex(&mut self, path: &str, r: &str) -> Option<(Matcher, String)> {
        if r.is_empty() || too_long(r) {
            self.err(path, "empty or too long regular expression");
            return None;
        }
        match Matcher::regex(r) {
            Ok(m) => {
                if !(r.starts_with('^') && r.ends_with('$')) {
                    self.warn(
                        path,
                        format!(
                            "{r:?} is not anchored: it matches anywhere in the value; write ^…$ to match all of it"
                        ),
                    );
                } else if has_top_level_alternation(r) {
                    self.warn(
                        path,
                        format!(
                            "{r:?} has a top-level '|': ^ anchors only its first branch and $ only its last, so the others match anywhere; write ^(…|…)$"
                        ),
                    );
                }
                Some((m, format!("/{r}/")))
            }
            Err(e) => {
                self.err(path, format!("invalid regular expression: {e}"));
                None
            }
        }
    }

    fn keyless(&mut self, path: &str, k: &KeylessDoc) -> Option<(SignerPolicy, String)> {
        let issuer = self.matcher(path, "issuer", &k.issuer, &k.issuer_reg_exp);
        let subject = self.matcher(path, "subject", &k.subject, &k.subject_reg_exp);
        let mut claims = Vec::new();
        let known = || {
            CLAIMS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (name, value) in &k.claims {
            match CLAIMS.iter().find(|(n, _)| n == name) {
                Some((_, claim)) if !value.is_empty() && !too_long(value) => {
                    claims.push((*claim, Matcher::exact(value.clone())))
                }
                Some(_) => self.err(format!("{path}.claims.{name}"), "empty or too long value"),
                None => self.err(
                    format!("{path}.claims"),
                    format!("unknown claim {name:?} (known: {})", known()),
                ),
            }
        }
        for (name, value) in &k.claims_reg_exp {
            match CLAIMS.iter().find(|(n, _)| n == name) {
                Some((_, claim)) => {
                    if let Some((m, _)) = self.regex(&format!("{path}.claimsRegExp.{name}"), value)
                    {
                        claims.push((*claim, m));
                    }
                }
                None => self.err(
                    format!("{path}.claimsRegExp"),
                    format!("unknown claim {name:?} (known: {})", known()),
                ),
            }
        }
        let ((issuer, issuer_text), (subject, subject_text)) = (issuer?, subject?);
        let mut policy = IdentityPolicy::new(subject, issuer);
        policy.claims = claims;
        Some((
            SignerPolicy::Identity(policy),
            format!("keyless {subject_text} from {issuer_text}"),
        ))
    }

    fn key(&mut self, path: &str, k: &KeyDoc) -> Option<(SignerPolicy, String)> {
        if k.kms.is_some() && k.pkcs11.is_some() {
            self.err(path, "give `kms` or `pkcs11`, not both");
        }
        let reference = k.kms.as_deref().or(k.pkcs11.as_deref());
        let (pem, what) = match (&k.path, &k.pem) {
            (Some(_), Some(_)) => {
                self.err(path, "give `path` or `pem`, not both");
                return None;
            }
            (None, None) => {
                match reference {
                    Some(r) => self.err(
                        path,
                        format!(
                            "the key {r:?} cannot be resolved offline: verification needs the key's public half; \
                             add `path: FILE.pub` or `pem: …` beside the reference (e.g. from `signet public-key --key {r}`)"
                        ),
                    ),
                    None => self.err(path, "a key needs `path` or `pem`"),
                }
                return None;
            }
            (Some(p), None) => {
                let bytes = self.read(&format!("{path}.path"), p, "key")?;
                (bytes, format!("key {p}"))
            }
            (None, Some(pem)) => (pem.clone().into_bytes(), "key (inline PEM)".to_string()),
        };
        let parsed = std::str::from_utf8(&pem)
            .map_err(|_| "not PEM text".to_string())
            .and_then(|t| PublicKey::from_pem(t).map_err(|e| e.to_string()));
        match parsed {
            Ok(key) => {
                let what = match reference {
                    Some(r) => format!("{what} ({r})"),
                    None => what,
                };
                Some((SignerPolicy::Key(key), what))
            }
            Err(e) => {
                self.err(path, format!("not a usable public key: {e}"));
                None
            }
        }
    }

    fn authority(&mut self, path: &str, a: &AuthorityDoc) -> Option<Authority> {
        if a.name.is_empty() || too_long(&a.name) {
            self.err(format!("{path}.name"), "empty or too long");
        }
        let signer = match (&a.keyless, &a.key) {
            (Some(_), Some(_)) => {
                self.err(path, "give `keyless` or `key`, not both");
                None
            }
            (None, None) => {
                self.err(path, "an authority needs `keyless` or `key`");
                None
            }
            (Some(k), None) => self.keyless(&format!("{path}.keyless"), k),
            (None, Some(k)) => self.key(&format!("{path}.key"), k),
        };
        let not_before = self.time(format!("{path}.notBefore"), &a.not_before);
        let not_after = self.time(format!("{path}.notAfter"), &a.not_after);
        if let (Some(nb), Some(na)) = (not_before, not_after) {
            if na <= nb {
                self.err(
                    path,
                    format!(
                        "notAfter {} is not after notBefore {}: no signature can count",
                        rfc3339(na),
                        rfc3339(nb)
                    ),
                );
            }
        }
        let (signer, description) = signer?;
        Some(Authority {
            name: a.name.clone(),
            signer,
            not_before,
            not_after,
            description,
        })
    }

    fn attestation(
        &mut self,
        path: &str,
        a: &AttestationDoc,
        authorities: &[AuthorityDoc],
    ) -> Option<AttestationRequirement> {
        if a.name.is_empty() || too_long(&a.name) {
            self.err(format!("{path}.name"), "empty or too long");
        }
        if a.predicate_type.is_empty() || too_long(&a.predicate_type) {
            self.err(format!("{path}.predicateType"), "empty or too long");
        }
        let allowed = match &a.authorities {
            None => (0..authorities.len()).collect(),
            Some(names) => {
                if names.is_empty() {
                    self.err(
                        format!("{path}.authorities"),
                        "an empty list lets no authority sign it; leave it out to allow any of the rule's",
                    );
                }
                let mut out = Vec::new();
                for n in names {
                    match authorities.iter().position(|x| &x.name == n) {
                        Some(i) => out.push(i),
                        None => self.err(
                            format!("{path}.authorities"),
                            format!(
                                "no authority named {n:?} in this rule (it has: {})",
                                authorities
                                    .iter()
                                    .map(|x| x.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                    }
                }
                out
            }
        };
        let condition = match &a.policy {
            None => None,
            Some(p) => {
                let ppath = format!("{path}.policy");
                let (name, source) = match (&p.path, &p.rego) {
                    (Some(_), Some(_)) => {
                        self.err(&ppath, "give `path` or `rego`, not both");
                        return None;
                    }
                    (None, None) => {
                        self.err(&ppath, "`path` or `rego` is required");
                        return None;
                    }
                    (Some(file), None) => {
                        let bytes = self.read(&format!("{ppath}.path"), file, "Rego module")?;
                        match String::from_utf8(bytes) {
                            Ok(s) => (file.clone(), s),
                            Err(_) => {
                                self.err(&ppath, format!("{file} is not UTF-8"));
                                return None;
                            }
                        }
                    }
                    (None, Some(src)) => (ppath.clone(), src.clone()),
                };
                match Condition::compile(&name, &source) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.err(&ppath, e.to_string());
                        return None;
                    }
                }
            }
        };
        Some(AttestationRequirement {
            name: a.name.clone(),
            predicate_type: a.predicate_type.clone(),
            authorities: allowed,
            condition,
        })
    }

    fn rule(&mut self, path: &str, r: &RuleDoc, policy_mode: Mode) -> Option<Rule> {
        if r.name.is_empty() || too_long(&r.name) {
            self.err(format!("{path}.name"), "empty or too long");
        }
        let images = self.patterns(path, &r.images, false);
        let namespaces = self.namespaces(path, &r.namespaces);
        if r.authorities.is_empty() {
            self.err(
                format!("{path}.authorities"),
                "a rule needs at least one authority",
            );
        }
        if r.authorities.len() > MAX_AUTHORITIES {
            self.err(
                format!("{path}.authorities"),
                format!("more than {MAX_AUTHORITIES} authorities"),
            );
            return None;
        }
        if r.attestations.len() > MAX_ATTESTATIONS {
            self.err(
                format!("{path}.attestations"),
                format!("more than {MAX_ATTESTATIONS} attestations"),
            );
            return None;
        }
        let mut seen = BTreeSet::new();
        for (i, a) in r.authorities.iter().enumerate() {
            if !seen.insert(a.name.as_str()) {
                self.err(
                    format!("{path}.authorities[{i}].name"),
                    format!("authority name {:?} is used twice in this rule", a.name),
                );
            }
        }
        let threshold = r.threshold.unwrap_or(1);
        if threshold == 0 {
            self.err(
                format!("{path}.threshold"),
                "threshold 0 would admit unsigned images; the minimum is 1",
            );
        } else if threshold > r.authorities.len() as u64 {
            self.err(
                format!("{path}.threshold"),
                format!(
                    "threshold {threshold} is more than the rule's {} authorities: it can never be met",
                    r.authorities.len()
                ),
            );
        }
        let authorities: Vec<Option<Authority>> = r
            .authorities
            .iter()
            .enumerate()
            .map(|(i, a)| self.authority(&format!("{path}.authorities[{i}]"), a))
            .collect();
        let mut seen = BTreeSet::new();
        let mut attestations = Vec::new();
        for (i, a) in r.attestations.iter().enumerate() {
            if !seen.insert(a.name.as_str()) {
                self.err(
                    format!("{path}.attestations[{i}].name"),
                    format!("attestation name {:?} is used twice in this rule", a.name),
                );
            }
            attestations.push(self.attestation(
                &format!("{path}.attestations[{i}]"),
                a,
                &r.authorities,
            ));
        }
        Some(Rule {
            name: r.name.clone(),
            images,
            namespaces,
            mode: r.mode.unwrap_or(policy_mode),
            threshold: usize::try_from(threshold).unwrap_or(usize::MAX),
            authorities: authorities.into_iter().collect::<Option<Vec<_>>>()?,
            attestations: attestations.into_iter().collect::<Option<Vec<_>>>()?,
        })
    }

    fn exemption(&mut self, path: &str, e: &ExemptionDoc) -> Exemption {
        if e.reason.trim().is_empty() || too_long(&e.reason) {
            self.err(
                format!("{path}.reason"),
                "an exemption needs a reason (who decided, which ticket)",
            );
        }
        let expires = self.time(format!("{path}.expires"), &e.expires);
        if e.expires.is_none() {
            self.warn(
                path,
                "no `expires`: the exemption lasts until someone removes it",
            );
        }
        Exemption {
            path: path.to_string(),
            images: self.patterns(path, &e.images, true),
            namespaces: self.namespaces(path, &e.namespaces),
            reason: e.reason.clone(),
            expires,
        }
    }
}

/// Rules that an earlier rule shadows: every image and namespace the
/// later rule names is already taken by the earlier one.
fn shadowed(rules: &[Rule]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (j, later) in rules.iter().enumerate() {
        for earlier in &rules[..j] {
            let images = later
                .images
                .iter()
                .all(|q| earlier.images.iter().any(|p| p.covers(q)));
            let namespaces = match (&earlier.namespaces, &later.namespaces) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(e), Some(l)) => l.iter().all(|q| e.iter().any(|p| p.covers(q))),
            };
            if images && namespaces && !later.images.is_empty() {
                out.push(Finding::warning(
                    format!("spec.rules[{j}]"),
                    format!(
                        "rule {:?} is unreachable: rule {:?} comes first and takes every image it names (the first matching rule applies)",
                        later.name, earlier.name
                    ),
                ));
                break;
            }
        }
    }
    out
}

fn parse_finding(e: &serde_yaml::Error) -> Finding {
    let mut f = Finding::error("", e.to_string());
    if let Some(loc) = e.location() {
        f.line = Some(loc.line());
        f.column = Some(loc.column());
    }
    f
}

impl Policy {
    /// Loads the policy file at `path`; relative key and Rego paths are
    /// resolved against its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let io = |source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        {
            use std::io::Read;
            file.take(MAX_POLICY_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(io)?;
        }
        let name = path.display().to_string();
        let base = path.parent().unwrap_or(Path::new("."));
        let text = String::from_utf8(bytes).map_err(|_| PolicyError::Invalid {
            file: name.clone(),
            findings: vec![Finding::error("", "not UTF-8 text")],
        })?;
        let mut policy = Self::compile(&text, base, &name)?;
        policy.source = Some(path.to_path_buf());
        Ok(policy)
    }

    /// Loads a policy from its text; relative paths are resolved against
    /// `base_dir`.
    pub fn from_yaml(text: &str, base_dir: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        Self::compile(text, base_dir.as_ref(), "<inline>")
    }

    fn compile(text: &str, base_dir: &Path, file: &str) -> Result<Policy, PolicyError> {
        let invalid = |findings| PolicyError::Invalid {
            file: file.to_string(),
            findings,
        };
        if text.len() > MAX_POLICY_BYTES {
            return Err(invalid(vec![Finding::error(
                "",
                format!("larger than {MAX_POLICY_BYTES} bytes"),
            )]));
        }
        let doc: PolicyDoc =
            serde_yaml::from_str(text).map_err(|e| invalid(vec![parse_finding(&e)]))?;
        let mut c = Compiler {
            base_dir,
            errors: Vec::new(),
            warnings: Vec::new(),
            referenced: Vec::new(),
        };
        if doc.api_version != API_VERSION {
            c.err(
                "apiVersion",
                format!("{:?} is not {API_VERSION:?}", doc.api_version),
            );
        }
        if doc.kind != KIND {
            c.err("kind", format!("{:?} is not {KIND:?}", doc.kind));
        }
        if doc.metadata.name.is_empty() || too_long(&doc.metadata.name) {
            c.err("metadata.name", "empty or too long");
        }
        let spec = &doc.spec;
        if spec.rules.len() > MAX_RULES {
            c.err("spec.rules", format!("more than {MAX_RULES} rules"));
            return Err(invalid(c.errors));
        }
        if spec.exemptions.len() > MAX_EXEMPTIONS {
            c.err(
                "spec.exemptions",
                format!("more than {MAX_EXEMPTIONS} exemptions"),
            );
            return Err(invalid(c.errors));
        }
        let mut names = BTreeSet::new();
        for (i, r) in spec.rules.iter().enumerate() {
            if !names.insert(r.name.as_str()) {
                c.err(
                    format!("spec.rules[{i}].name"),
                    format!("rule name {:?} is used twice", r.name),
                );
            }
        }
        let rules: Vec<Option<Rule>> = spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| c.rule(&format!("spec.rules[{i}]"), r, spec.mode))
            .collect();
        let exemptions: Vec<Exemption> = spec
            .exemptions
            .iter()
            .enumerate()
            .map(|(i, e)| c.exemption(&format!("spec.exemptions[{i}]"), e))
            .collect();
        if spec.default == DefaultAction::Allow {
            c.warn(
                "spec.default",
                "default allow: images that no rule names are admitted unverified",
            );
        }
        if spec.rules.is_empty() {
            c.warn("spec.rules", "no rules: every image gets the default");
        }
        if !c.errors.is_empty() {
            return Err(invalid(c.errors));
        }
        let Some(rules) = rules.into_iter().collect::<Option<Vec<_>>>() else {
            // Every `None` recorded an error; this is a backstop.
            return Err(invalid(vec![Finding::error("spec.rules", "invalid rule")]));
        };
        let mut warnings = c.warnings;
        warnings.extend(shadowed(&rules));
        // The version: the file's bytes and every file it references.
        let mut material = Vec::new();
        let mut frame = |bytes: &[u8]| {
            material.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            material.extend_from_slice(bytes);
        };
        frame(b"signet-policy-v1");
        frame(text.as_bytes());
        for (path, bytes) in &c.referenced {
            frame(path.as_bytes());
            frame(bytes);
        }
        let version = signet_model::encoding::encode_hex(signet_crypto::sha256(&material));
        Ok(Policy {
            name: doc.metadata.name.clone(),
            mode: spec.mode,
            default: spec.default,
            rules,
            exemptions,
            source: None,
            version,
            warnings,
        })
    }

    /// SHA-256 (hex) of the policy file and every file it references: a
    /// key for caches of decisions.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Findings on a policy that loaded (so warnings only; load errors are
    /// in [`PolicyError::findings`]), with expired exemptions and
    /// authorities judged by the clock.
    pub fn lint(&self) -> Vec<Finding> {
        self.lint_at(now_unix())
    }

    /// [`Policy::lint`] at `now` (unix seconds).
    pub fn lint_at(&self, now: i64) -> Vec<Finding> {
        let mut out = self.warnings.clone();
        for e in &self.exemptions {
            if let Some(exp) = e.expires {
                if !e.active(now) {
                    out.push(Finding::warning(
                        &e.path,
                        format!(
                            "expired on {} and ignored: remove it, or renew it if it is still needed",
                            rfc3339(exp)
                        ),
                    ));
                }
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            for (j, a) in r.authorities.iter().enumerate() {
                if let Some(na) = a.not_after {
                    if na <= now {
                        out.push(Finding::warning(
                            format!("spec.rules[{i}].authorities[{j}]"),
                            format!(
                                "authority {:?} ended at {}: only signatures made before then count",
                                a.name,
                                rfc3339(na)
                            ),
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Lints the policy file at `path`: its load errors, or its warnings.
pub fn lint_file(path: impl AsRef<Path>) -> Vec<Finding> {
    match Policy::load(path) {
        Ok(p) => p.lint(),
        Err(e) => e.findings(),
    }
}
