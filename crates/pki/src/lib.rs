//! X.509 material of Sigstore: certificates and their chains, the identity
//! Fulcio binds into a certificate, embedded SCTs, and RFC 3161 timestamps.
//!
//! Every function here is pure: material and trusted material in, a result
//! out. The verification pipeline (`signet-verify`) decides which check runs
//! when; this crate knows how each check works.

pub mod cert;
pub mod chain;
pub mod fulcio;
pub mod sct;
pub mod timestamp;
