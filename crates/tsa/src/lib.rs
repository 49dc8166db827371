//! signet's RFC 3161 timestamp authority (`signet tsa serve`).
//!
//! [`asn1`] holds the request/response/TSTInfo types; [`authority`] turns a
//! DER `TimeStampReq` into a DER `TimeStampResp` (a CMS SignedData token
//! with an ESS signingCertificateV2 attribute, RFC 5816); [`keys`] loads or
//! creates the signing key and certificate chain; [`server`] serves it over
//! HTTP (axum) as sigstore/timestamp-authority does; [`trust`] emits the
//! trusted-root and signing-config entries that make it usable.

pub mod asn1;
pub mod authority;
pub mod keys;
pub mod server;
pub mod trust;

pub use authority::{FailInfo, Reply, TimestampAuthorityService, TsaError};

/// The default TSA policy OID (Sigstore's), as text.
pub const DEFAULT_POLICY: &str = "1.3.6.1.4.1.57264.2";
/// The default TSA policy OID.
pub const DEFAULT_POLICY_OID: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap(DEFAULT_POLICY);
