//! The one error type of verification: which check failed, and why.

use std::fmt;

/// The named checks of the pipeline, in the order they run.
///
/// Every rejection names exactly one of these, so that callers (and tests)
/// can tell a bad signature from a malformed file or an unknown flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The bundle is not a well-formed bundle of a known version.
    BundleFormat,
    /// The trusted root cannot be used (bad keys, missing validity).
    TrustRoot,
    /// The bundle's verification material does not fit the policy
    /// (a key where an identity was required, no key given, …).
    SignerMaterial,
    /// The signing certificate does not chain to a trusted CA.
    CertificateChain,
    /// The signing certificate was not valid at the verified signing time.
    CertificateValidity,
    /// No valid embedded SCT from a trusted CT log.
    Sct,
    /// The certificate's identity does not match the policy.
    Identity,
    /// The artifact's digest does not match the signed digest.
    ArtifactDigest,
    /// The signature over the artifact or DSSE envelope is invalid.
    Signature,
    /// The in-toto statement does not name the artifact as a subject.
    StatementSubject,
    /// A log entry names a log the trust root does not know.
    TlogUnknownLog,
    /// A log entry's body does not match the bundle's content.
    TlogBody,
    /// The inclusion proof does not lead to the claimed root.
    InclusionProof,
    /// The checkpoint is malformed, not signed by the log, or does not
    /// match the inclusion proof.
    Checkpoint,
    /// The signed entry timestamp (inclusion promise) is invalid.
    Set,
    /// The integrated time is in the future or outside the log key's
    /// validity.
    IntegratedTime,
    /// An RFC 3161 timestamp is invalid or untrusted.
    Timestamp,
    /// Too few verified log entries or trusted times.
    Threshold,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::BundleFormat => "bundle-format",
            Check::TrustRoot => "trust-root",
            Check::SignerMaterial => "signer-material",
            Check::CertificateChain => "certificate-chain",
            Check::CertificateValidity => "certificate-validity",
            Check::Sct => "sct",
            Check::Identity => "identity",
            Check::ArtifactDigest => "artifact-digest",
            Check::Signature => "signature",
            Check::StatementSubject => "statement-subject",
            Check::TlogUnknownLog => "tlog-unknown-log",
            Check::TlogBody => "tlog-body",
            Check::InclusionProof => "inclusion-proof",
            Check::Checkpoint => "checkpoint",
            Check::Set => "set",
            Check::IntegratedTime => "integrated-time",
            Check::Timestamp => "timestamp",
            Check::Threshold => "threshold",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    pub check: Check,
    pub reason: String,
}

impl VerifyError {
    pub fn new(check: Check, reason: impl Into<String>) -> Self {
        VerifyError {
            check,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.reason)
    }
}

impl std::error::Error for VerifyError {}

/// Shorthand for building the error of one check.
pub(crate) fn fail<T>(check: Check, reason: impl Into<String>) -> Result<T, VerifyError> {
    Err(VerifyError::new(check, reason))
}
