//! Images in OCI registries: signet's registry client and cosign's two
//! signature layouts.
//!
//! - [`registry`] / [`transport`] / [`auth`]: distribution-spec v2 over
//!   rustls (aws-lc-rs), with Basic and Bearer-token auth, docker's
//!   config.json and credential helpers, a private CA, plain HTTP only for
//!   loopback hosts unless allowed, bounded retries and bounded bodies.
//! - [`layout::legacy`]: cosign's `sha256-<hex>.sig` simple-signing layout
//!   and its `sha256-<hex>.att` attestations.
//! - [`layout::referrers`]: a Sigstore bundle as an OCI 1.1 referrer, with
//!   the referrers tag schema where the registry lacks the referrers API.
//! - [`sign`], [`attest`], [`verify`], [`tree`]: the image verbs on top.

pub mod attest;
pub mod auth;
pub mod digest;
pub mod error;
pub mod layout;
pub mod manifest;
pub mod reference;
pub mod registry;
pub mod sign;
pub mod transport;
pub mod tree;
pub mod verify;

pub use auth::{Credential, CredentialSource};
pub use digest::Digest;
pub use error::OciError;
pub use layout::Layout;
pub use reference::Reference;
pub use registry::Registry;
pub use transport::RegistryOptions;
