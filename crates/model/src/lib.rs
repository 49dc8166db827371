//! Sigstore wire formats, parsed and serialized exactly.
//!
//! These types are signet's own: the verifier, the transparency log and the
//! CA all speak through them. JSON follows the protobuf JSON mapping used by
//! `sigstore/protobuf-specs` (camelCase names, bytes as base64, 64-bit
//! integers as strings). Parsing checks structure and encodings; whether the
//! content is *trustworthy* is `signet-verify`'s job.

pub mod bundle;
pub mod canonical;
pub mod dsse;
pub mod encoding;
pub mod intoto;
pub mod rekor;
pub mod signing_config;
pub mod trust_root;

pub use bundle::{Bundle, BundleVersion};
pub use dsse::Envelope;
pub use signing_config::{ClientTrustConfig, SigningConfig};
pub use trust_root::TrustedRoot;

/// Why a document could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error("document is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("JSON nesting deeper than {limit}")]
    TooDeep { limit: usize },
}

pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> ModelError {
    ModelError::Invalid {
        what,
        why: why.into(),
    }
}

/// Largest document any parser here accepts (bundles and roots are a few KiB;
/// attestations with big predicates can reach a few MiB).
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;
/// Deepest JSON nesting accepted before serde sees the document.
pub const MAX_JSON_DEPTH: usize = 64;

/// Parses JSON from untrusted bytes with a size and nesting bound, so that a
/// hostile document cannot exhaust memory or the stack.
pub fn from_json_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ModelError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(ModelError::TooLarge {
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    check_depth(bytes, MAX_JSON_DEPTH)?;
    Ok(serde_json::from_slice(bytes)?)
}

/// Rejects JSON whose bracket nesting exceeds `limit`, without parsing it.
/// Brackets inside strings are skipped.
pub fn check_depth(bytes: &[u8], limit: usize) -> Result<(), ModelError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(ModelError::TooDeep { limit });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Drops `null` members recursively: protobuf JSON treats them as absent,
/// so documents are compared without them.
pub fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_bound() {
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(matches!(
            from_json_slice::<serde_json::Value>(deep.as_bytes()),
            Err(ModelError::TooDeep { .. })
        ));
        let quoted = format!("\"{}\"", "[".repeat(100));
        assert!(from_json_slice::<serde_json::Value>(quoted.as_bytes()).is_ok());
    }
}
