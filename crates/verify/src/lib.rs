//! Offline verification of Sigstore material.
//!
//! Material (a bundle and an artifact) + trust material + a signer policy
//! go in; a [`Verified`] record or a [`VerifyError`] naming the failed
//! [`Check`] comes out. Pure functions: no network, no files, no clock
//! unless the caller leaves `Options::now` unset.
//!
//! The shape follows sigstore-go: trust material is prepared once
//! ([`TrustMaterial`]), then each bundle runs through small named checks.

pub mod artifact;
mod body;
pub mod error;
pub mod policy;
mod signer;
pub mod tlog;
pub mod trust;
mod verifier;

pub use artifact::Artifact;
pub use error::{Check, VerifyError};
pub use policy::{Claim, IdentityPolicy, Matcher, SignerPolicy};
pub use trust::TrustMaterial;
pub use verifier::{Options, SigningTime, Verified, Verifier};
