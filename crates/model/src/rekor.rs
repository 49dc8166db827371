//! Rekor entry bodies: the `canonicalizedBody` a log hashes into its tree.
//!
//! Kinds: `hashedrekord` 0.0.1 and 0.0.2, `dsse` 0.0.1 and 0.0.2, `intoto`
//! 0.0.2. Field names follow Rekor's `openapi.yaml` (v1) and
//! `rekor-tiles` protos (v2).

use serde::{Deserialize, Serialize};

use crate::encoding::Base64;
use crate::{invalid, ModelError};

/// A parsed entry body, by kind and version.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryBody {
    HashedRekordV001(HashedRekordV001),
    HashedRekordV002(HashedRekordV002),
    DsseV001(DsseV001),
    DsseV002(DsseV002),
    IntotoV002(IntotoV002),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<S> {
    api_version: String,
    kind: String,
    spec: S,
}

/// `{algorithm, value}` with a lowercase hex value (Rekor v1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HexHash {
    pub algorithm: String,
    pub value: String,
}

/// `{algorithm, digest}` with base64 bytes (Rekor v2, protobuf `HashOutput`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashOutput {
    pub algorithm: String,
    pub digest: Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashedRekordV001 {
    pub data: HashedRekordData,
    pub signature: HashedRekordSignature,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashedRekordData {
    pub hash: HexHash,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HashedRekordSignature {
    pub content: Base64,
    pub public_key: PemContent,
}

/// Base64 of a PEM document (a certificate or a public key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PemContent {
    pub content: Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HashedRekordV002 {
    pub data: HashOutput,
    pub signature: SignatureV002,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureV002 {
    pub content: Base64,
    pub verifier: Verifier,
}

/// Rekor v2's verifier: a DER public key or a DER certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verifier {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<RawBytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate: Option<RawBytes>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawBytes {
    pub raw_bytes: Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DsseV001 {
    pub envelope_hash: HexHash,
    pub payload_hash: HexHash,
    pub signatures: Vec<DsseV001Signature>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DsseV001Signature {
    pub signature: Base64,
    /// Base64 of the PEM certificate or key.
    pub verifier: Base64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DsseV002 {
    pub payload_hash: HashOutput,
    pub signatures: Vec<SignatureV002>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntotoV002 {
    pub content: IntotoContent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntotoContent {
    pub envelope: IntotoEnvelope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<HexHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<HexHash>,
}

/// Rekor's intoto envelope: `payload` and each `sig` are base64 of the
/// *base64 text* of the DSSE fields (they were encoded twice), and
/// `publicKey` is base64 of a PEM document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntotoEnvelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Base64>,
    pub payload_type: String,
    pub signatures: Vec<IntotoSignature>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntotoSignature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    pub public_key: Base64,
    pub sig: Base64,
}

/// Rekor v2 specs are wrapped in one member named after their type: read
/// as `T = HashedRekordV002`, written as `T = &HashedRekordV002`.
#[derive(Serialize, Deserialize)]
struct HashedRekordV002Spec<T> {
    #[serde(rename = "hashedRekordV002")]
    inner: T,
}

#[derive(Serialize, Deserialize)]
struct DsseV002Spec<T> {
    #[serde(rename = "dsseV002")]
    inner: T,
}

/// Most signatures an entry may carry before we refuse to look at it.
const MAX_SIGNATURES: usize = 64;

impl EntryBody {
    /// Parses a canonicalized body and checks it declares `kind`/`version`
    /// as given (the bundle's `kindVersion`), when given.
    pub fn parse(body: &[u8]) -> Result<Self, ModelError> {
        if body.len() > crate::MAX_DOCUMENT_BYTES {
            return Err(ModelError::TooLarge {
                limit: crate::MAX_DOCUMENT_BYTES,
            });
        }
        crate::check_depth(body, crate::MAX_JSON_DEPTH)?;
        // The spec is parsed once, straight into its type, once the kind
        // and version are known.
        let head: Envelope<&serde_json::value::RawValue> = serde_json::from_slice(body)?;
        let spec = head.spec.get();
        let parsed = match (head.kind.as_str(), head.api_version.as_str()) {
            ("hashedrekord", "0.0.1") => EntryBody::HashedRekordV001(serde_json::from_str(spec)?),
            ("hashedrekord", "0.0.2") => EntryBody::HashedRekordV002(
                serde_json::from_str::<HashedRekordV002Spec<HashedRekordV002>>(spec)?.inner,
            ),
            ("dsse", "0.0.1") => EntryBody::DsseV001(serde_json::from_str(spec)?),
            ("dsse", "0.0.2") => {
                EntryBody::DsseV002(serde_json::from_str::<DsseV002Spec<DsseV002>>(spec)?.inner)
            }
            ("intoto", "0.0.2") => EntryBody::IntotoV002(serde_json::from_str(spec)?),
            (kind, version) => {
                return Err(invalid(
                    "log entry body",
                    format!("unsupported kind {kind} version {version}"),
                ))
            }
        };
        let signatures = match &parsed {
            EntryBody::DsseV001(d) => d.signatures.len(),
            EntryBody::DsseV002(d) => d.signatures.len(),
            EntryBody::IntotoV002(i) => i.content.envelope.signatures.len(),
            _ => 1,
        };
        if signatures > MAX_SIGNATURES {
            return Err(invalid("log entry body", "too many signatures"));
        }
        Ok(parsed)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            EntryBody::HashedRekordV001(_) | EntryBody::HashedRekordV002(_) => "hashedrekord",
            EntryBody::DsseV001(_) | EntryBody::DsseV002(_) => "dsse",
            EntryBody::IntotoV002(_) => "intoto",
        }
    }

    pub fn version(&self) -> &'static str {
        match self {
            EntryBody::HashedRekordV001(_) | EntryBody::DsseV001(_) => "0.0.1",
            EntryBody::HashedRekordV002(_) | EntryBody::DsseV002(_) | EntryBody::IntotoV002(_) => {
                "0.0.2"
            }
        }
    }

    /// The body as a JSON value in Rekor's shape (kind, apiVersion, spec).
    pub fn to_value(&self) -> serde_json::Value {
        let spec = match self {
            EntryBody::HashedRekordV001(s) => serde_json::to_value(s),
            EntryBody::HashedRekordV002(s) => {
                serde_json::to_value(s).map(|v| serde_json::json!({ "hashedRekordV002": v }))
            }
            EntryBody::DsseV001(s) => serde_json::to_value(s),
            EntryBody::DsseV002(s) => {
                serde_json::to_value(s).map(|v| serde_json::json!({ "dsseV002": v }))
            }
            EntryBody::IntotoV002(s) => serde_json::to_value(s),
        }
        .unwrap_or_default();
        serde_json::json!({ "apiVersion": self.version(), "kind": self.kind(), "spec": spec })
    }

    /// RFC 8785 canonical JSON of the body: what a log stores and hashes.
    ///
    /// Written straight from the typed body, without a JSON value in
    /// between (this runs once per append): every struct of a body declares
    /// its fields in RFC 8785 order (sorted by UTF-16 code units; the names
    /// are ASCII), no body holds a map or a float, and serde_json escapes
    /// strings exactly as RFC 8785 does, so compact serde_json output is
    /// the canonical form. `canonical_json_is_the_generic_canonical_form`
    /// holds this to [`crate::canonical::to_string`] for every field.
    pub fn canonical_json(&self) -> String {
        fn write<S: Serialize>(body: &EntryBody, spec: S) -> String {
            serde_json::to_string(&Envelope {
                api_version: body.version().to_string(),
                kind: body.kind().to_string(),
                spec,
            })
            .unwrap_or_default()
        }
        match self {
            EntryBody::HashedRekordV001(s) => write(self, s),
            EntryBody::HashedRekordV002(s) => write(self, HashedRekordV002Spec { inner: s }),
            EntryBody::DsseV001(s) => write(self, s),
            EntryBody::DsseV002(s) => write(self, DsseV002Spec { inner: s }),
            EntryBody::IntotoV002(s) => write(self, s),
        }
    }
}

/// RFC 8785 JSON of `{body, integratedTime, logID, logIndex}`: what a
/// Rekor v1 signed entry timestamp (SET) signs. The keys are written in
/// their sorted order and no value needs escaping (base64, hex, integers),
/// so the canonical form is written directly rather than through a JSON
/// value: this runs once per verified bundle and once per served entry.
pub fn set_payload(body: &[u8], integrated_time: u64, log_id: &[u8], log_index: u64) -> String {
    set_payload_of_base64(
        &crate::encoding::encode_base64(body),
        integrated_time,
        log_id,
        log_index,
    )
}

/// [`set_payload`] for a body already in base64 (a log encodes it once for
/// both the SET and the answer).
pub fn set_payload_of_base64(
    body_base64: &str,
    integrated_time: u64,
    log_id: &[u8],
    log_index: u64,
) -> String {
    format!(
        r#"{{"body":"{body_base64}","integratedTime":{integrated_time},"logID":"{}","logIndex":{log_index}}}"#,
        crate::encoding::encode_hex(log_id),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn set_payload_is_rfc8785() {
        let body = b"{\"kind\":\"hashedrekord\"}";
        let value = serde_json::json!({
            "logIndex": 42u64,
            "logID": "ab01",
            "integratedTime": 1_700_000_000u64,
            "body": crate::encoding::encode_base64(body),
        });
        assert_eq!(
            super::set_payload(body, 1_700_000_000, &[0xab, 0x01], 42),
            crate::canonical::to_string(&value)
        );
    }

    use super::*;
    use crate::bundle::Bundle;

    #[test]
    fn conformance_bodies_parse_and_reencode_exactly() {
        let dir = format!(
            "{}/../../testdata/conformance/bundle-verify",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut kinds = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with("_fail") || !path.is_dir() {
                continue;
            }
            let bundle =
                Bundle::from_json(&std::fs::read(path.join("bundle.sigstore.json")).unwrap())
                    .unwrap();
            for e in &bundle.verification_material.tlog_entries {
                let body = EntryBody::parse(&e.canonicalized_body)
                    .unwrap_or_else(|err| panic!("{name}: {err}"));
                assert_eq!(body.kind(), e.kind_version.kind, "{name}");
                assert_eq!(body.version(), e.kind_version.version, "{name}");
                assert_eq!(
                    body.canonical_json().as_bytes(),
                    &e.canonicalized_body[..],
                    "{name}: canonical re-encoding differs"
                );
                kinds.insert(format!("{} {}", body.kind(), body.version()));
            }
        }
        for k in [
            "hashedrekord 0.0.1",
            "hashedrekord 0.0.2",
            "dsse 0.0.1",
            "intoto 0.0.2",
        ] {
            assert!(kinds.contains(k), "no conformance entry of {k}");
        }
    }

    /// Every body shape, with every optional field present and absent and
    /// strings that need escaping: the direct writer and the generic
    /// canonicalizer agree byte for byte.
    #[test]
    fn canonical_json_is_the_generic_canonical_form() {
        let text = "x\u{1}\n\"\\/\u{7f}é€\u{2028}😀";
        let hex = |a: &str| HexHash {
            algorithm: a.into(),
            value: text.into(),
        };
        let out = |a: &str| HashOutput {
            algorithm: a.into(),
            digest: Base64(b"digest".to_vec()),
        };
        let raw = |b: &[u8]| RawBytes {
            raw_bytes: Base64(b.to_vec()),
        };
        let verifiers = [
            Verifier {
                key_details: Some(text.into()),
                public_key: Some(raw(b"key")),
                x509_certificate: Some(raw(b"cert")),
            },
            Verifier {
                key_details: None,
                public_key: None,
                x509_certificate: None,
            },
        ];
        let mut bodies = vec![EntryBody::HashedRekordV001(HashedRekordV001 {
            data: HashedRekordData {
                hash: hex("sha256"),
            },
            signature: HashedRekordSignature {
                content: Base64(b"sig".to_vec()),
                public_key: PemContent {
                    content: Base64(b"pem".to_vec()),
                },
            },
        })];
        for verifier in verifiers {
            let signature = SignatureV002 {
                content: Base64(b"sig".to_vec()),
                verifier,
            };
            bodies.push(EntryBody::HashedRekordV002(HashedRekordV002 {
                data: out(text),
                signature: signature.clone(),
            }));
            bodies.push(EntryBody::DsseV002(DsseV002 {
                payload_hash: out("SHA2_256"),
                signatures: vec![signature.clone(), signature],
            }));
        }
        bodies.push(EntryBody::DsseV001(DsseV001 {
            envelope_hash: hex("sha256"),
            payload_hash: hex(text),
            signatures: vec![
                DsseV001Signature {
                    signature: Base64(b"a".to_vec()),
                    verifier: Base64(b"b".to_vec()),
                };
                2
            ],
        }));
        for present in [true, false] {
            let some = |v: HexHash| present.then_some(v);
            bodies.push(EntryBody::IntotoV002(IntotoV002 {
                content: IntotoContent {
                    envelope: IntotoEnvelope {
                        payload: present.then(|| Base64(b"payload".to_vec())),
                        payload_type: text.into(),
                        signatures: vec![IntotoSignature {
                            keyid: present.then(|| text.to_string()),
                            public_key: Base64(b"pem".to_vec()),
                            sig: Base64(b"sig".to_vec()),
                        }],
                    },
                    hash: some(hex("sha256")),
                    payload_hash: some(hex("sha256")),
                },
            }));
        }
        for body in bodies {
            let generic = crate::canonical::to_string(&body.to_value());
            assert_eq!(body.canonical_json(), generic);
            assert_eq!(EntryBody::parse(generic.as_bytes()).unwrap(), body);
        }
    }

    #[test]
    fn dsse_v002_round_trips() {
        let body = br#"{"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{"payloadHash":{"algorithm":"SHA2_256","digest":"AAAA"},"signatures":[{"content":"AAAA","verifier":{"keyDetails":"PKIX_ED25519","publicKey":{"rawBytes":"AAAA"}}}]}}}"#;
        let parsed = EntryBody::parse(body).unwrap();
        assert!(matches!(parsed, EntryBody::DsseV002(_)));
        assert_eq!(parsed.canonical_json().as_bytes(), &body[..]);
    }

    #[test]
    fn unknown_kinds_and_bad_shapes_are_rejected() {
        assert!(EntryBody::parse(br#"{"apiVersion":"0.0.1","kind":"rpm","spec":{}}"#).is_err());
        assert!(
            EntryBody::parse(br#"{"apiVersion":"0.0.9","kind":"hashedrekord","spec":{}}"#).is_err()
        );
        assert!(EntryBody::parse(
            br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{}}}"#
        )
        .is_err());
        assert!(EntryBody::parse(b"not json").is_err());
    }
}
