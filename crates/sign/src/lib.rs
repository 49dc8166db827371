//! Sigstore signing: the client half of signet.
//!
//! - [`keys`]: cosign-compatible key files (scrypt + NaCl secretbox around
//!   PKCS#8) and the [`Signer`] trait with an in-memory implementation.
//! - [`fulcio`], [`rekor`], [`tsa`]: clients of the certificate authority,
//!   the transparency log (v1 and v2 APIs) and RFC 3161 timestamp authorities.
//! - [`oidc`]: identity tokens from a flag, the environment or CI.
//! - [`bundle`]: assembling a Sigstore bundle v0.3 from the parts.
//! - [`flow`]: the whole signing flow, service selection from a signing
//!   config, and the local verification of the result before it is written.
//!
//! Secrets (passwords, private keys, identity tokens) are never logged or
//! put into error messages.

pub mod bundle;
pub mod error;
pub mod flow;
pub mod fulcio;
mod http;
pub mod keys;
pub mod oidc;
pub mod rekor;
pub mod signer;
#[cfg(test)]
mod test_server;
pub mod tsa;

pub use error::SignError;
pub use flow::{Content, SignOptions, SigningContext};
pub use keys::{generate_key_pair, load_private_key, EncryptedKeyPair};
pub use oidc::IdentityToken;
pub use signer::{InMemorySigner, Signer};
