//! The one error type of registry access and signature layouts.
//!
//! Messages never carry credentials, tokens or response bodies beyond a
//! short excerpt of a registry's own error text.

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid image reference {input:?}: {why}")]
    Reference { input: String, why: String },
    #[error("invalid digest {0:?} (expected sha256:<64 hex digits>)")]
    Digest(String),
    #[error("{0}: not found")]
    NotFound(String),
    #[error("{what}: access denied by {registry} ({why})")]
    Denied {
        registry: String,
        what: String,
        why: String,
    },
    #[error("{what}: {registry} answered HTTP {status}: {message}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        message: String,
    },
    #[error("{what}: gave up after {attempts} attempts against {registry}: {last}")]
    GaveUp {
        registry: String,
        what: String,
        attempts: u32,
        last: String,
    },
    #[error("{what}: cannot reach {registry}: {why}")]
    Transport {
        registry: String,
        what: String,
        why: String,
    },
    #[error("{what} is larger than {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("malformed {what}: {why}")]
    Malformed { what: String, why: String },
    #[error("{what}: content digest is {actual}, expected {expected}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("registry credentials: {0}")]
    Credentials(String),
    #[error("{0}")]
    Insecure(String),
    #[error("registry client: {0}")]
    Config(String),
}

impl OciError {
    pub(crate) fn malformed(what: impl Into<String>, why: impl std::fmt::Display) -> Self {
        OciError::Malformed {
            what: what.into(),
            why: why.to_string(),
        }
    }

    /// Whether this is a "no such manifest/blob/tag" answer.
    pub fn is_not_found(&self) -> bool {
        matches!(self, OciError::NotFound(_))
    }
}
