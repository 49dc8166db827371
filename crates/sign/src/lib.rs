//! Sigstore signing: the client half of signet.
//!
//! - [`keys`]: cosign-compatible key files (scrypt + NaCl secretbox around
//!   PKCS#8) and the [`Signer`] trait with an in-memory implementation.
//! - [`custody`]: what `--key` names (a key file, `pkcs11:`, `awskms://`);
//!   [`pkcs11`] and [`kms`] (AWS KMS, signed with [`sigv4`]) are the
//!   signers whose keys never leave the token or the cloud.
//! - [`fulcio`], [`rekor`], [`tsa`]: clients of the certificate authority,
//!   the transparency log (v1 and v2 APIs) and RFC 3161 timestamp authorities.
//! - [`oidc`]: identity tokens from a flag, the environment or CI.
//! - [`bundle`]: assembling a Sigstore bundle v0.3 from the parts.
//! - [`flow`]: the whole signing flow, service selection from a signing
//!   config, and the local verification of the result before it is written.
//!
//! Secrets (passwords, private keys, identity tokens) are never logged or
//! put into error messages.

pub mod browser;
pub mod bundle;
pub mod custody;
pub mod error;
pub mod flow;
pub mod fulcio;
mod http;
pub mod keys;
pub mod kms;
pub mod oidc;
pub mod pkcs11;
pub mod rekor;
pub mod signer;
pub mod sigv4;
#[cfg(test)]
mod test_server;
pub mod tsa;

pub use error::SignError;
pub use flow::{Content, SignOptions, SigningContext};
pub use http::HttpClient;
pub use keys::{generate_key_pair, load_private_key, EncryptedKeyPair};
pub use oidc::IdentityToken;
pub use signer::{InMemorySigner, Signer};
