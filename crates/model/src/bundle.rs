//! Sigstore bundle (`sigstore_bundle.proto`), versions 0.1 to 0.3.

use serde::{Deserialize, Serialize};

use crate::dsse::Envelope;
use crate::encoding::{Base64, Int64};
use crate::{invalid, ModelError};

/// The bundle versions signet understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleVersion {
    V0_1,
    V0_2,
    V0_3,
}

impl BundleVersion {
    /// Reads the version out of a bundle media type; both spellings of 0.3
    /// are accepted.
    pub fn from_media_type(media_type: &str) -> Result<Self, ModelError> {
        match media_type {
            "application/vnd.dev.sigstore.bundle+json;version=0.1" => Ok(BundleVersion::V0_1),
            "application/vnd.dev.sigstore.bundle+json;version=0.2" => Ok(BundleVersion::V0_2),
            "application/vnd.dev.sigstore.bundle+json;version=0.3"
            | "application/vnd.dev.sigstore.bundle.v0.3+json" => Ok(BundleVersion::V0_3),
            other => Err(ModelError::UnsupportedMediaType(other.to_string())),
        }
    }

    /// The media type signet writes for this version.
    pub fn media_type(self) -> &'static str {
        match self {
            BundleVersion::V0_1 => "application/vnd.dev.sigstore.bundle+json;version=0.1",
            BundleVersion::V0_2 => "application/vnd.dev.sigstore.bundle+json;version=0.2",
            BundleVersion::V0_3 => "application/vnd.dev.sigstore.bundle.v0.3+json",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<MessageSignature>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
}

/// The signed content of a bundle: exactly one of the two forms.
#[derive(Debug, Clone, Copy)]
pub enum Content<'a> {
    Message(&'a MessageSignature),
    Dsse(&'a Envelope),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<X509CertificateChain>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<X509Certificate>,
    #[serde(default)]
    pub tlog_entries: Vec<TransparencyLogEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<TimestampVerificationData>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyIdentifier {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct X509Certificate {
    pub raw_bytes: Base64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct X509CertificateChain {
    #[serde(default)]
    pub certificates: Vec<X509Certificate>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimestampVerificationData {
    #[serde(default)]
    pub rfc3161_timestamps: Vec<Rfc3161SignedTimestamp>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rfc3161SignedTimestamp {
    pub signed_timestamp: Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_digest: Option<HashOutput>,
    pub signature: Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HashOutput {
    /// `SHA2_256`, `SHA2_384`, `SHA2_512`.
    pub algorithm: String,
    pub digest: Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransparencyLogEntry {
    /// protojson omits a zero int64, so an absent index is index 0 (as in
    /// every protobuf JSON reader).
    #[serde(default)]
    pub log_index: Int64,
    pub log_id: LogId,
    pub kind_version: KindVersion,
    /// Absent in Rekor v2 entries, whose time comes from a timestamp authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrated_time: Option<Int64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inclusion_promise: Option<InclusionPromise>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<InclusionProof>,
    #[serde(default)]
    pub canonicalized_body: Base64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    pub key_id: Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindVersion {
    pub kind: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionPromise {
    pub signed_entry_timestamp: Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    /// Absent means 0 (see [`TransparencyLogEntry::log_index`]): the first
    /// entry of a log or of a Rekor shard.
    #[serde(default)]
    pub log_index: Int64,
    pub root_hash: Base64,
    pub tree_size: Int64,
    #[serde(default)]
    pub hashes: Vec<Base64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub envelope: String,
}

/// Bound on repeated fields of a bundle, far above anything a real client
/// writes, so that a hostile bundle cannot make the verifier loop for long.
pub const MAX_REPEATED: usize = 64;

impl Bundle {
    /// Parses and structurally validates a bundle (see [`Bundle::validate`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let bundle: Bundle = crate::from_json_slice(bytes)?;
        bundle.validate()?;
        Ok(bundle)
    }

    pub fn to_json(&self) -> String {
        // Serializing plain data structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn version(&self) -> Result<BundleVersion, ModelError> {
        BundleVersion::from_media_type(&self.media_type)
    }

    pub fn content(&self) -> Result<Content<'_>, ModelError> {
        match (&self.message_signature, &self.dsse_envelope) {
            (Some(m), None) => Ok(Content::Message(m)),
            (None, Some(e)) => Ok(Content::Dsse(e)),
            (Some(_), Some(_)) => Err(invalid(
                "bundle content",
                "both messageSignature and dsseEnvelope are set",
            )),
            (None, None) => Err(invalid(
                "bundle content",
                "neither messageSignature nor dsseEnvelope is set",
            )),
        }
    }

    /// The structural rules of the bundle format, per version:
    /// - exactly one of public key hint, certificate chain, certificate;
    /// - a certificate chain is never empty, and v0.3 uses `certificate`;
    /// - v0.1 entries carry an inclusion promise; from v0.2 on every entry
    ///   carries an inclusion proof with a checkpoint;
    /// - exactly one content, and bounded repeated fields.
    pub fn validate(&self) -> Result<(), ModelError> {
        let version = self.version()?;
        self.content()?;
        let vm = &self.verification_material;
        let forms = [
            vm.public_key.is_some(),
            vm.x509_certificate_chain.is_some(),
            vm.certificate.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if forms != 1 {
            return Err(invalid(
                "verification material",
                "exactly one of publicKey, x509CertificateChain and certificate must be set",
            ));
        }
        if let Some(chain) = &vm.x509_certificate_chain {
            if chain.certificates.is_empty() {
                return Err(invalid("certificate chain", "empty"));
            }
            if chain.certificates.len() > MAX_REPEATED {
                return Err(invalid("certificate chain", "too many certificates"));
            }
            if version >= BundleVersion::V0_3 {
                return Err(invalid(
                    "verification material",
                    "v0.3 bundles carry a single certificate, not a chain",
                ));
            }
        }
        if vm.tlog_entries.len() > MAX_REPEATED {
            return Err(invalid("tlog entries", "too many"));
        }
        if let Some(ts) = &vm.timestamp_verification_data {
            if ts.rfc3161_timestamps.len() > MAX_REPEATED {
                return Err(invalid("timestamps", "too many"));
            }
        }
        for entry in &vm.tlog_entries {
            if version == BundleVersion::V0_1 && entry.inclusion_promise.is_none() {
                return Err(invalid(
                    "tlog entry",
                    "v0.1 bundles need an inclusion promise",
                ));
            }
            if version >= BundleVersion::V0_2 {
                match &entry.inclusion_proof {
                    None => {
                        return Err(invalid(
                            "tlog entry",
                            "v0.2+ bundles need an inclusion proof",
                        ))
                    }
                    Some(p) if p.checkpoint.is_none() => {
                        return Err(invalid("inclusion proof", "no checkpoint"))
                    }
                    Some(p) if p.hashes.len() > MAX_REPEATED => {
                        return Err(invalid("inclusion proof", "too many hashes"))
                    }
                    _ => {}
                }
            }
            if entry.canonicalized_body.is_empty() {
                return Err(invalid("tlog entry", "empty canonicalizedBody"));
            }
        }
        if let Some(Envelope { signatures, .. }) = &self.dsse_envelope {
            if signatures.len() > MAX_REPEATED {
                return Err(invalid("DSSE envelope", "too many signatures"));
            }
        }
        Ok(())
    }

    /// DER certificates of the verification material, leaf first.
    pub fn certificates(&self) -> Vec<&[u8]> {
        let vm = &self.verification_material;
        if let Some(c) = &vm.certificate {
            return vec![&c.raw_bytes[..]];
        }
        vm.x509_certificate_chain
            .iter()
            .flat_map(|chain| chain.certificates.iter().map(|c| &c.raw_bytes[..]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conformance(case: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../testdata/conformance/bundle-verify/{case}/bundle.sigstore.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn every_positive_conformance_bundle_round_trips() {
        let dir = format!(
            "{}/../../testdata/conformance/bundle-verify",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if name.ends_with("_fail") || !entry.path().is_dir() {
                continue;
            }
            let raw = conformance(&name);
            let bundle = Bundle::from_json(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
            let again = Bundle::from_json(bundle.to_json().as_bytes()).unwrap();
            assert_eq!(bundle, again, "{name}");
            let mut original: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            crate::strip_nulls(&mut original);
            let written: serde_json::Value = serde_json::from_str(&bundle.to_json()).unwrap();
            assert_eq!(original, written, "{name}: serialization differs");
            seen += 1;
        }
        assert!(seen >= 20, "only {seen} positive cases found");
    }

    #[test]
    fn an_omitted_zero_log_index_reads_as_zero() {
        // As protojson (sigstore-go, cosign) writes the first entry of a
        // shard: no "logIndex" in the inclusion proof.
        let raw = conformance("intoto-with-custom-trust-root");
        let bundle = Bundle::from_json(&raw).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        let entry = &mut json["verificationMaterial"]["tlogEntries"][0];
        assert_eq!(entry["inclusionProof"]["logIndex"], "0");
        entry["inclusionProof"]
            .as_object_mut()
            .unwrap()
            .remove("logIndex");
        let omitted = Bundle::from_json(json.to_string().as_bytes()).unwrap();
        assert_eq!(omitted, bundle);

        // And a whole entry at index 0.
        json["verificationMaterial"]["tlogEntries"][0]
            .as_object_mut()
            .unwrap()
            .remove("logIndex");
        let bundle = Bundle::from_json(json.to_string().as_bytes()).unwrap();
        assert_eq!(
            bundle.verification_material.tlog_entries[0].log_index,
            Int64(0)
        );
    }

    #[test]
    fn structural_defects_are_rejected() {
        for case in [
            "bundle-malformed-json_fail",
            "bundle-unknown-version_fail",
            "bundle-negative-log-index_fail",
            "bundle-empty-certificate-chain_fail",
        ] {
            assert!(Bundle::from_json(&conformance(case)).is_err(), "{case}");
        }
    }

    #[test]
    fn both_media_types_of_v0_3() {
        assert_eq!(
            BundleVersion::from_media_type("application/vnd.dev.sigstore.bundle+json;version=0.3")
                .unwrap(),
            BundleVersion::V0_3
        );
        assert_eq!(
            BundleVersion::from_media_type(BundleVersion::V0_3.media_type()).unwrap(),
            BundleVersion::V0_3
        );
        assert!(BundleVersion::from_media_type("application/json").is_err());
    }

    #[test]
    fn v0_2_without_inclusion_proof_is_rejected() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&conformance("happy-path-v0.2")).unwrap();
        v["verificationMaterial"]["tlogEntries"][0]
            .as_object_mut()
            .unwrap()
            .remove("inclusionProof");
        let err = Bundle::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("inclusion proof"), "{err}");
    }

    #[test]
    fn two_contents_are_rejected() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&conformance("happy-path-v0.3")).unwrap();
        v["dsseEnvelope"] = serde_json::json!({"payload":"","payloadType":"x","signatures":[]});
        assert!(Bundle::from_json(v.to_string().as_bytes()).is_err());
    }
}
