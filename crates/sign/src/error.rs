//! Why signing failed.

/// A signing failure. Messages never carry secrets: no password, key
/// material or identity token ever reaches them.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The password does not open the key file (or the file was altered).
    #[error("wrong password for the private key (or the key file is corrupted)")]
    WrongPassword,
    #[error("invalid key file: {0}")]
    KeyFormat(String),
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// The key `--key` names cannot be reached or opened: a bad or
    /// unsupported key URI, no such token or key, a failed login, missing
    /// cloud credentials, a KMS refusing access.
    #[error("{0}")]
    KeyAccess(String),
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
    #[error("identity token: {0}")]
    Token(String),
    #[error("no identity token: {0}")]
    NoToken(String),
    #[error("{service}: {message}")]
    Service { service: String, message: String },
    #[error("{service}: HTTP {status}: {message}")]
    Http {
        service: String,
        status: u16,
        message: String,
    },
    #[error("{service}: malformed response: {message}")]
    Response { service: String, message: String },
    #[error("signing configuration: {0}")]
    Config(String),
    #[error("the signed bundle does not verify ({check}): {reason}")]
    SelfCheck { check: String, reason: String },
    #[error("{0}")]
    Other(String),
}

impl SignError {
    pub(crate) fn response(service: &str, message: impl Into<String>) -> Self {
        SignError::Response {
            service: service.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn service(service: &str, message: impl Into<String>) -> Self {
        SignError::Service {
            service: service.to_string(),
            message: message.into(),
        }
    }
}
