//! `trusted_root.json` (`sigstore_trustroot.proto`).

use serde::{Deserialize, Serialize};

use crate::bundle::{LogId, X509Certificate};
use crate::encoding::{Base64, Timestamp};
use crate::ModelError;

pub const MEDIA_TYPE_V0_1: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
pub const MEDIA_TYPE_V0_2: &str = "application/vnd.dev.sigstore.trustedroot.v0.2+json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedRoot {
    pub media_type: String,
    #[serde(default)]
    pub tlogs: Vec<TransparencyLogInstance>,
    #[serde(default)]
    pub certificate_authorities: Vec<CertificateAuthority>,
    #[serde(default)]
    pub ctlogs: Vec<TransparencyLogInstance>,
    #[serde(default)]
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransparencyLogInstance {
    pub base_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_algorithm: Option<String>,
    pub public_key: PublicKey,
    pub log_id: LogId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_key_id: Option<LogId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_bytes: Option<Base64>,
    /// `PKIX_ECDSA_P256_SHA_256`, `PKIX_ED25519`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<TimeRange>,
}

/// A validity window; both ends inclusive. `start` is required for trust
/// material to be usable, `end` absent means "still valid".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateAuthority {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<DistinguishedName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    pub cert_chain: CertChain,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<TimeRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DistinguishedName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertChain {
    #[serde(default)]
    pub certificates: Vec<X509Certificate>,
}

impl CertChain {
    /// A chain of DER certificates, in the order given (leaf-most first).
    pub fn from_der<D: AsRef<[u8]>>(chain: impl IntoIterator<Item = D>) -> Self {
        CertChain {
            certificates: chain
                .into_iter()
                .map(|der| X509Certificate {
                    raw_bytes: Base64(der.as_ref().to_vec()),
                })
                .collect(),
        }
    }
}

impl TrustedRoot {
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let root: TrustedRoot = crate::from_json_slice(bytes)?;
        root.check_media_type()?;
        Ok(root)
    }

    /// A root of a version this code knows: a later one's fields may mean
    /// something else, so it is refused wherever a root is read (a file, or
    /// the root inside a client trust config).
    pub fn check_media_type(&self) -> Result<(), ModelError> {
        if self.media_type != MEDIA_TYPE_V0_1 && self.media_type != MEDIA_TYPE_V0_2 {
            return Err(ModelError::UnsupportedMediaType(self.media_type.clone()));
        }
        Ok(())
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trust_root_round_trips() {
        let base = format!("{}/../../testdata", env!("CARGO_MANIFEST_DIR"));
        let mut paths = vec![
            format!("{base}/trust/public-good/trusted_root.json"),
            format!("{base}/trust/staging/trusted_root.json"),
        ];
        for entry in std::fs::read_dir(format!("{base}/conformance/bundle-verify")).unwrap() {
            let p = entry.unwrap().path().join("trusted_root.json");
            if p.exists() {
                paths.push(p.display().to_string());
            }
        }
        for p in paths {
            let raw = std::fs::read(&p).unwrap();
            let root = TrustedRoot::from_json(&raw).unwrap_or_else(|e| panic!("{p}: {e}"));
            let mut original: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            crate::strip_nulls(&mut original);
            let written: serde_json::Value = serde_json::from_str(&root.to_json_pretty()).unwrap();
            assert_eq!(original, written, "{p}");
        }
    }

    #[test]
    fn bad_times_and_media_types_are_rejected() {
        let raw = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",
          "tlogs":[{"baseUrl":"x","publicKey":{"validFor":{"start":"not a time"}},"logId":{"keyId":"AA=="}}]}"#;
        assert!(TrustedRoot::from_json(raw).is_err());
        assert!(TrustedRoot::from_json(br#"{"mediaType":"x"}"#).is_err());
    }
}
