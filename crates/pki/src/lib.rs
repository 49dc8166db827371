//! X.509 material of Sigstore.
