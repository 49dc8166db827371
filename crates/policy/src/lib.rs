//! signet's policy layer: what an image must carry to be admitted.
//!
//! - [`rego`]: Rego conditions over in-toto attestations (cosign's
//!   `verify-attestation --policy`, and a policy file's required
//!   attestations), evaluated with `regorus` under a time limit.

pub mod rego;
