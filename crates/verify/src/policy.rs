//! What a caller requires of a signer: a certificate identity or a key.

use regex::Regex;
use signet_crypto::PublicKey;
use signet_pki::fulcio::FulcioIdentity;

use crate::error::{fail, Check, VerifyError};

/// A string condition: equal, or matching an RE2-syntax regular
/// expression. Like cosign's `--certificate-identity-regexp`, a pattern is
/// not implicitly anchored: write `^…$` to match the whole value.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    pub fn exact(value: impl Into<String>) -> Self {
        Matcher::Exact(value.into())
    }

    pub fn regex(pattern: &str) -> Result<Self, regex::Error> {
        // Bound the compiled size so a hostile policy cannot blow up memory.
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map(Matcher::Regex)
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => expected == value,
            Matcher::Regex(re) => re.is_match(value),
        }
    }

    fn describe(&self) -> String {
        match self {
            Matcher::Exact(v) => format!("{v:?}"),
            Matcher::Regex(re) => format!("/{}/", re.as_str()),
        }
    }
}

/// The CI claims Fulcio writes into a certificate (OIDs
/// 1.3.6.1.4.1.57264.1.9 to .1.22), by the names cosign's flags use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    BuildSignerUri,
    BuildSignerDigest,
    RunnerEnvironment,
    SourceRepositoryUri,
    SourceRepositoryDigest,
    SourceRepositoryRef,
    SourceRepositoryIdentifier,
    SourceRepositoryOwnerUri,
    SourceRepositoryOwnerIdentifier,
    BuildConfigUri,
    BuildConfigDigest,
    BuildTrigger,
    RunInvocationUri,
    SourceRepositoryVisibilityAtSigning,
    /// Legacy GitHub workflow claims (.1.2 to .1.6).
    GithubWorkflowTrigger,
    GithubWorkflowSha,
    GithubWorkflowName,
    GithubWorkflowRepository,
    GithubWorkflowRef,
}

impl Claim {
    pub fn value(self, id: &FulcioIdentity) -> Option<&str> {
        let e = &id.extensions;
        let v = match self {
            Claim::BuildSignerUri => &e.build_signer_uri,
            Claim::BuildSignerDigest => &e.build_signer_digest,
            Claim::RunnerEnvironment => &e.runner_environment,
            Claim::SourceRepositoryUri => &e.source_repository_uri,
            Claim::SourceRepositoryDigest => &e.source_repository_digest,
            Claim::SourceRepositoryRef => &e.source_repository_ref,
            Claim::SourceRepositoryIdentifier => &e.source_repository_identifier,
            Claim::SourceRepositoryOwnerUri => &e.source_repository_owner_uri,
            Claim::SourceRepositoryOwnerIdentifier => &e.source_repository_owner_identifier,
            Claim::BuildConfigUri => &e.build_config_uri,
            Claim::BuildConfigDigest => &e.build_config_digest,
            Claim::BuildTrigger => &e.build_trigger,
            Claim::RunInvocationUri => &e.run_invocation_uri,
            Claim::SourceRepositoryVisibilityAtSigning => {
                &e.source_repository_visibility_at_signing
            }
            Claim::GithubWorkflowTrigger => &e.github_workflow_trigger,
            Claim::GithubWorkflowSha => &e.github_workflow_sha,
            Claim::GithubWorkflowName => &e.github_workflow_name,
            Claim::GithubWorkflowRepository => &e.github_workflow_repository,
            Claim::GithubWorkflowRef => &e.github_workflow_ref,
        };
        v.as_deref()
    }
}

/// A keyless signer: who (subject alternative name), vouched for by which
/// OIDC issuer, and optionally from which CI context.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    pub subject: Matcher,
    pub issuer: Matcher,
    pub claims: Vec<(Claim, Matcher)>,
}

impl IdentityPolicy {
    pub fn new(subject: Matcher, issuer: Matcher) -> Self {
        IdentityPolicy {
            subject,
            issuer,
            claims: Vec::new(),
        }
    }

    /// Passes when some SAN matches the subject, the issuer matches, and
    /// every required claim is present and matches.
    pub fn check(&self, id: &FulcioIdentity) -> Result<(), VerifyError> {
        let sans = id.san_values();
        if !sans.iter().any(|s| self.subject.matches(s)) {
            return fail(
                Check::Identity,
                format!(
                    "no subject alternative name matches {} (certificate has {:?})",
                    self.subject.describe(),
                    sans
                ),
            );
        }
        match &id.issuer {
            Some(issuer) if self.issuer.matches(issuer) => {}
            Some(issuer) => {
                return fail(
                    Check::Identity,
                    format!(
                        "issuer {issuer:?} does not match {}",
                        self.issuer.describe()
                    ),
                )
            }
            None => return fail(Check::Identity, "certificate names no OIDC issuer"),
        }
        for (claim, matcher) in &self.claims {
            match claim.value(id) {
                Some(v) if matcher.matches(v) => {}
                Some(v) => {
                    return fail(
                        Check::Identity,
                        format!("{claim:?} is {v:?}, expected {}", matcher.describe()),
                    )
                }
                None => {
                    return fail(
                        Check::Identity,
                        format!("certificate has no {claim:?} claim"),
                    )
                }
            }
        }
        Ok(())
    }
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum SignerPolicy {
    /// Keyless: a Fulcio certificate with this identity.
    Identity(IdentityPolicy),
    /// A managed key (`--key`); the bundle carries a key hint, not a
    /// certificate.
    Key(PublicKey),
}
