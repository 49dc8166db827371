//! Public keys, signature verification and digests: the one place where
//! signet touches a crypto provider (aws-lc-rs).
//!
//! Every verifier in the workspace goes through [`PublicKey`], so that the
//! set of accepted algorithms is decided here, once.

mod digest;
mod ed25519ph;
mod key;

pub use digest::{sha1_for_identifiers, sha256, sha384, sha512, HashAlgorithm};
pub use ed25519ph::sign_ed25519ph;
pub use key::{KeyKind, PublicKey, SignatureScheme};

/// Why a key could not be used or a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed public key: {0}")]
    MalformedKey(String),
    #[error("unsupported key type: {0}")]
    UnsupportedKey(String),
    #[error("signature scheme {scheme:?} cannot be used with a {key:?} key")]
    SchemeMismatch {
        scheme: SignatureScheme,
        key: KeyKind,
    },
    #[error("invalid signature")]
    BadSignature,
    #[error("digest of {got} bytes does not fit {alg:?}")]
    BadDigestLength { alg: HashAlgorithm, got: usize },
}
