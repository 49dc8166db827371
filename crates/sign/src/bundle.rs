//! Assembling a Sigstore bundle v0.3 from the parts of a signature.

use signet_model::bundle::{
    Bundle, BundleVersion, HashOutput, MessageSignature, PublicKeyIdentifier,
    Rfc3161SignedTimestamp, TimestampVerificationData, TransparencyLogEntry, VerificationMaterial,
    X509Certificate,
};
use signet_model::dsse::Envelope;
use signet_model::encoding::Base64;

/// Who signed, as the bundle records it.
#[derive(Debug, Clone)]
pub enum SignerMaterial {
    /// The DER leaf certificate (a v0.3 bundle carries the leaf only).
    Certificate(Vec<u8>),
    /// A managed key, named by a hint (the verifier is given the key).
    PublicKey { hint: Option<String> },
}

/// What was signed.
#[derive(Debug, Clone)]
pub enum SignedContent {
    /// A signature over an artifact's SHA-256 digest (hashedrekord).
    Message {
        sha256: [u8; 32],
        signature: Vec<u8>,
    },
    /// A signed DSSE envelope.
    Dsse(Envelope),
}

impl SignedContent {
    /// The signature bytes (what a timestamp authority countersigns).
    pub fn signature(&self) -> &[u8] {
        match self {
            SignedContent::Message { signature, .. } => signature,
            SignedContent::Dsse(envelope) => envelope
                .signatures
                .first()
                .map(|s| &s.sig.0[..])
                .unwrap_or_default(),
        }
    }
}

/// The hint cosign-style bundles give a managed key: base64 of the SHA-256
/// of its DER SubjectPublicKeyInfo.
pub fn key_hint(spki_der: &[u8]) -> String {
    signet_model::encoding::encode_base64(&signet_crypto::sha256(spki_der))
}

/// Builds a v0.3 bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`).
/// `timestamps` are DER `TimeStampResp`s.
pub fn assemble(
    signer: SignerMaterial,
    content: SignedContent,
    tlog_entries: Vec<TransparencyLogEntry>,
    timestamps: Vec<Vec<u8>>,
) -> Bundle {
    let (certificate, public_key) = match signer {
        SignerMaterial::Certificate(der) => (
            Some(X509Certificate {
                raw_bytes: Base64(der),
            }),
            None,
        ),
        SignerMaterial::PublicKey { hint } => (None, Some(PublicKeyIdentifier { hint })),
    };
    let timestamp_verification_data = if timestamps.is_empty() {
        None
    } else {
        Some(TimestampVerificationData {
            rfc3161_timestamps: timestamps
                .into_iter()
                .map(|der| Rfc3161SignedTimestamp {
                    signed_timestamp: Base64(der),
                })
                .collect(),
        })
    };
    let (message_signature, dsse_envelope) = match content {
        SignedContent::Message { sha256, signature } => (
            Some(MessageSignature {
                message_digest: Some(HashOutput {
                    algorithm: "SHA2_256".into(),
                    digest: Base64(sha256.to_vec()),
                }),
                signature: Base64(signature),
            }),
            None,
        ),
        SignedContent::Dsse(envelope) => (None, Some(envelope)),
    };
    Bundle {
        media_type: BundleVersion::V0_3.media_type().to_string(),
        verification_material: VerificationMaterial {
            public_key,
            x509_certificate_chain: None,
            certificate,
            tlog_entries,
            timestamp_verification_data,
        },
        message_signature,
        dsse_envelope,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reassembling a conformance bundle from its parts gives it back.
    #[test]
    fn reassembles_conformance_bundles() {
        for case in [
            "happy-path-v0.3-new-mediaType",
            "rekor2-happy-path",
            "rekor2-dsse-happy-path",
        ] {
            let path = format!(
                "{}/../../testdata/conformance/bundle-verify/{case}/bundle.sigstore.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let original = Bundle::from_json(&std::fs::read(path).unwrap()).unwrap();
            let vm = &original.verification_material;
            let content = match (&original.message_signature, &original.dsse_envelope) {
                (Some(m), None) => SignedContent::Message {
                    sha256: m.message_digest.as_ref().unwrap().digest.0[..]
                        .try_into()
                        .unwrap(),
                    signature: m.signature.0.clone(),
                },
                (None, Some(e)) => SignedContent::Dsse(e.clone()),
                _ => unreachable!(),
            };
            let timestamps = vm
                .timestamp_verification_data
                .iter()
                .flat_map(|t| {
                    t.rfc3161_timestamps
                        .iter()
                        .map(|t| t.signed_timestamp.0.clone())
                })
                .collect();
            let rebuilt = assemble(
                SignerMaterial::Certificate(original.certificates()[0].to_vec()),
                content,
                vm.tlog_entries.clone(),
                timestamps,
            );
            rebuilt.validate().unwrap();
            let mut expected = original.clone();
            expected.media_type = BundleVersion::V0_3.media_type().into();
            assert_eq!(rebuilt, expected, "{case}");
        }
    }

    #[test]
    fn key_bundles_carry_a_hint() {
        let b = assemble(
            SignerMaterial::PublicKey {
                hint: Some(key_hint(b"spki")),
            },
            SignedContent::Message {
                sha256: [0; 32],
                signature: vec![1],
            },
            vec![],
            vec![],
        );
        assert!(b.verification_material.certificate.is_none());
        assert_eq!(
            b.verification_material
                .public_key
                .unwrap()
                .hint
                .unwrap()
                .len(),
            44
        );
    }
}
