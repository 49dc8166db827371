//! signet's keyless certificate authority: a Fulcio-compatible CA
//! (`signet ca serve`) and a development OIDC issuer (`signet dev oidc`).
//!
//! The flow of one request, module by module:
//! [`api`] parses the HTTP body → [`oidc`] verifies the ID token against a
//! configured issuer ([`config`]) → [`identity`] maps its claims to a
//! [`identity::Principal`] exactly as Fulcio does → [`request_key`] parses
//! and checks the caller's key and proof of possession → [`ca`] issues a
//! precertificate, has [`ct`] sign an SCT over it, issues the final
//! certificate and verifies it with `signet-pki` before it leaves.
//! [`server`] wires this into axum; [`trust`] emits the trust-root entries
//! a client needs; [`signer`] and [`keys`] hold the CA's keys.

pub mod api;
pub mod ca;
pub mod certgen;
pub mod config;
pub mod ct;
pub mod dev_oidc;
pub mod identity;
pub mod keys;
pub mod oidc;
pub mod request_key;
pub mod server;
pub mod signer;
pub mod signer_pkcs11;
pub mod trust;

pub use ca::{CaError, CertificateAuthority, IssuedChain};
pub use config::{CaConfig, IssuerConfig, IssuerType};
pub use signer::{CaSigner, FileSigner, SigAlg, SignerError};
pub use signer_pkcs11::{Pkcs11Error, Pkcs11Signer, Pkcs11Uri};

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch now (0 if the clock is before 1970).
pub(crate) fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
