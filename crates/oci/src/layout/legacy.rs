//! cosign's legacy signature layout (cosign `specs/SIGNATURE_SPEC.md`):
//! tag `sha256-<hex>.sig` in the image's repository, an OCI image manifest
//! with one layer per signature. Each layer is a simple-signing payload
//! naming the image digest; its annotations carry the signature, the
//! certificate (and chain), and the Rekor SET bundle.
//!
//! Attestations (cosign `specs/ATTESTATION_SPEC.md`, `cosign attest`) use
//! the same shape at tag `sha256-<hex>.att`: each layer is a DSSE envelope
//! (`application/vnd.dsse.envelope.v1+json`) over an in-toto statement,
//! with a `predicateType` annotation, an empty signature annotation (the
//! signature is inside the envelope), and the same certificate, chain and
//! Rekor bundle annotations (a `dsse` entry for cosign v3 and signet).
//!
//! Appending a signature or attestation re-reads the manifest and keeps
//! every layer that is there; an identical layer is not added twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use signet_model::bundle::{
    HashOutput, InclusionPromise, KindVersion, LogId, MessageSignature, PublicKeyIdentifier,
    Rfc3161SignedTimestamp, TimestampVerificationData, TransparencyLogEntry, VerificationMaterial,
    X509Certificate, X509CertificateChain,
};
use signet_model::dsse::Envelope;
use signet_model::encoding::{Base64, Int64};
use signet_model::{Bundle, BundleVersion};

use crate::manifest::{Descriptor, Manifest, OCI_CONFIG, OCI_MANIFEST};
use crate::registry::MAX_BLOB_BYTES;
use crate::{Digest, OciError, Reference, Registry};

pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
pub const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// Legacy attestations (DSSE envelopes), listed by `tree`.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The predicate type of a legacy attestation layer (an annotation; the
/// signed statement is what counts).
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// `sha256-<hex>.sig`.
pub fn signature_tag(image: &Digest) -> String {
    format!("{}.sig", image.tag_form())
}

/// `sha256-<hex>.att`.
pub fn attestation_tag(image: &Digest) -> String {
    format!("{}.att", image.tag_form())
}

/// `sha256-<hex>.sbom`.
pub fn sbom_tag(image: &Digest) -> String {
    format!("{}.sbom", image.tag_form())
}

/// The simple-signing payload for `image`, as cosign writes it (`optional`
/// is `null` without annotations).
pub fn payload(
    docker_reference: &str,
    image: &Digest,
    annotations: &BTreeMap<String, Value>,
) -> Vec<u8> {
    let optional = if annotations.is_empty() {
        Value::Null
    } else {
        Value::Object(annotations.clone().into_iter().collect())
    };
    let doc = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": image.to_string()},
            "type": SIMPLE_SIGNING_TYPE,
        },
        "optional": optional,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// The claims of a simple-signing payload that verification uses.
#[derive(Debug, Clone, PartialEq)]
pub struct SimpleSigning {
    pub docker_reference: Option<String>,
    pub manifest_digest: String,
    pub type_: String,
    pub optional: Option<Value>,
}

/// A member of a JSON object, matched case-insensitively (cosign decodes
/// payloads with Go's encoding/json, which does the same).
fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Parses a simple-signing payload.
pub fn parse_payload(bytes: &[u8]) -> Result<SimpleSigning, String> {
    let doc: Value = signet_model::from_json_slice(bytes).map_err(|e| e.to_string())?;
    let critical = member(&doc, "critical").ok_or("no critical section")?;
    let manifest_digest = member(critical, "image")
        .and_then(|i| member(i, "docker-manifest-digest"))
        .and_then(Value::as_str)
        .ok_or("no critical.image.docker-manifest-digest")?
        .to_string();
    let type_ = member(critical, "type")
        .and_then(Value::as_str)
        .ok_or("no critical.type")?
        .to_string();
    let docker_reference = member(critical, "identity")
        .and_then(|i| member(i, "docker-reference"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(SimpleSigning {
        docker_reference,
        manifest_digest,
        type_,
        optional: member(&doc, "optional").filter(|v| !v.is_null()).cloned(),
    })
}

/// The `dev.sigstore.cosign/bundle` annotation: a Rekor v1 entry's SET and
/// the fields it signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    pub signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    pub payload: RekorPayload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RekorPayload {
    /// Base64 of the canonicalized entry body.
    pub body: String,
    #[serde(rename = "integratedTime")]
    pub integrated_time: i64,
    #[serde(rename = "logIndex")]
    pub log_index: i64,
    /// Hex of the log's key ID.
    #[serde(rename = "logID")]
    pub log_id: String,
}

#[derive(Serialize, Deserialize)]
struct Rfc3161Annotation {
    #[serde(rename = "SignedRFC3161Timestamp")]
    signed: String,
}

fn pem_of(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The layer annotations of a signature or attestation, from the bundle
/// signet's signing flow made (logged in Rekor v1): for a message
/// signature over a simple-signing payload, the signature; for a DSSE
/// envelope (an attestation layer), an empty signature annotation, as
/// cosign writes it (the signature is in the envelope). The certificate
/// and chain annotations come together, the chain empty when the bundle
/// has only the leaf (cosign's `static.WithCertChain`).
pub fn annotations_from_bundle(bundle: &Bundle) -> Result<BTreeMap<String, String>, OciError> {
    let unusable = |why: &str| OciError::Config(format!("cannot write the legacy layout: {why}"));
    let signature = match (&bundle.message_signature, &bundle.dsse_envelope) {
        (Some(message), _) => signet_model::encoding::encode_base64(&message.signature),
        (None, Some(_)) => String::new(),
        (None, None) => return Err(unusable("the bundle holds no signature")),
    };
    let mut out = BTreeMap::new();
    out.insert(SIGNATURE_ANNOTATION.to_string(), signature);
    let certs = bundle.certificates();
    if let Some((leaf, chain)) = certs.split_first() {
        out.insert(
            CERTIFICATE_ANNOTATION.to_string(),
            pem_of("CERTIFICATE", leaf),
        );
        let text: String = chain.iter().map(|c| pem_of("CERTIFICATE", c)).collect();
        out.insert(CHAIN_ANNOTATION.to_string(), text);
    }
    let entry = bundle
        .verification_material
        .tlog_entries
        .iter()
        .find(|e| e.inclusion_promise.is_some() && e.integrated_time.is_some())
        .ok_or_else(|| {
            unusable(
                "it needs a log entry with a signed entry timestamp (Rekor v1); \
                 sign with the referrers layout for a Rekor v2 log",
            )
        })?;
    let (Some(promise), Some(time)) = (&entry.inclusion_promise, entry.integrated_time) else {
        return Err(unusable("log entry without a promise"));
    };
    let rekor = RekorBundle {
        signed_entry_timestamp: signet_model::encoding::encode_base64(
            &promise.signed_entry_timestamp,
        ),
        payload: RekorPayload {
            body: signet_model::encoding::encode_base64(&entry.canonicalized_body),
            integrated_time: i64::try_from(time.0).map_err(|_| unusable("integrated time"))?,
            log_index: i64::try_from(entry.log_index.0).map_err(|_| unusable("log index"))?,
            log_id: signet_model::encoding::encode_hex(&entry.log_id.key_id.0),
        },
    };
    out.insert(
        BUNDLE_ANNOTATION.to_string(),
        serde_json::to_string(&rekor).unwrap_or_default(),
    );
    if let Some(ts) = bundle
        .verification_material
        .timestamp_verification_data
        .as_ref()
        .and_then(|t| t.rfc3161_timestamps.first())
    {
        let a = Rfc3161Annotation {
            signed: signet_model::encoding::encode_base64(&ts.signed_timestamp),
        };
        out.insert(
            RFC3161_ANNOTATION.to_string(),
            serde_json::to_string(&a).unwrap_or_default(),
        );
    }
    Ok(out)
}

fn pem_certificates(text: &str, what: &str) -> Result<Vec<X509Certificate>, String> {
    let blocks = pem::parse_many(text).map_err(|e| format!("{what}: {e}"))?;
    if blocks.len() > signet_model::bundle::MAX_REPEATED {
        return Err(format!("{what}: too many certificates"));
    }
    blocks
        .into_iter()
        .map(|b| {
            if b.tag() == "CERTIFICATE" {
                Ok(X509Certificate {
                    raw_bytes: Base64(b.into_contents()),
                })
            } else {
                Err(format!("{what}: a {} block, not a CERTIFICATE", b.tag()))
            }
        })
        .collect()
}

/// Rebuilds what a legacy signature layer says as a Sigstore bundle, for
/// the verifier (v0.1: a message signature over the simple-signing
/// payload, and the certificate and chain or a key and the Rekor entry
/// with its SET, from the annotations).
pub fn bundle_from_layer(
    payload: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<Bundle, String> {
    let signature = annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or("no signature annotation")?;
    let signature = signet_model::encoding::decode_base64(signature.trim())
        .map_err(|e| format!("signature annotation is not base64: {e}"))?;
    let message = MessageSignature {
        message_digest: Some(HashOutput {
            algorithm: "SHA2_256".into(),
            digest: Base64(signet_crypto::sha256(payload).to_vec()),
        }),
        signature: Base64(signature),
    };
    Ok(Bundle {
        media_type: BundleVersion::V0_1.media_type().to_string(),
        verification_material: material_from_annotations(annotations)?,
        message_signature: Some(message),
        dsse_envelope: None,
    })
}

/// Rebuilds what a legacy attestation layer (`.att`) says as a Sigstore
/// bundle: its DSSE envelope, with the material of its annotations as for
/// [`bundle_from_layer`] (the signature annotation, empty, is not used).
pub fn bundle_from_attestation_layer(
    envelope: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<Bundle, String> {
    let envelope: Envelope =
        signet_model::from_json_slice(envelope).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    Ok(Bundle {
        media_type: BundleVersion::V0_1.media_type().to_string(),
        verification_material: material_from_annotations(annotations)?,
        message_signature: None,
        dsse_envelope: Some(envelope),
    })
}

/// The certificate (and chain) or key, the Rekor entry and the RFC 3161
/// timestamp a legacy layer's annotations carry.
fn material_from_annotations(
    annotations: &BTreeMap<String, String>,
) -> Result<VerificationMaterial, String> {
    let mut material = VerificationMaterial::default();
    match annotations
        .get(CERTIFICATE_ANNOTATION)
        .filter(|c| !c.trim().is_empty())
    {
        Some(cert) => {
            let mut certificates = pem_certificates(cert, "certificate annotation")?;
            if certificates.len() != 1 {
                return Err("the certificate annotation must hold exactly one certificate".into());
            }
            if let Some(chain) = annotations
                .get(CHAIN_ANNOTATION)
                .filter(|c| !c.trim().is_empty())
            {
                certificates.extend(pem_certificates(chain, "chain annotation")?);
            }
            material.x509_certificate_chain = Some(X509CertificateChain { certificates });
        }
        None => material.public_key = Some(PublicKeyIdentifier { hint: None }),
    }
    if let Some(raw) = annotations.get(BUNDLE_ANNOTATION) {
        let rekor: RekorBundle = signet_model::from_json_slice(raw.as_bytes())
            .map_err(|e| format!("bundle annotation: {e}"))?;
        let body = signet_model::encoding::decode_base64(&rekor.payload.body)
            .map_err(|e| format!("bundle annotation body: {e}"))?;
        let kind: Value = signet_model::from_json_slice(&body)
            .map_err(|e| format!("bundle annotation body: {e}"))?;
        let kind_version = KindVersion {
            kind: kind
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            version: kind
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        };
        let non_negative = |v: i64, what: &str| {
            u64::try_from(v)
                .map(Int64)
                .map_err(|_| format!("bundle annotation: negative {what}"))
        };
        material.tlog_entries.push(TransparencyLogEntry {
            log_index: non_negative(rekor.payload.log_index, "logIndex")?,
            log_id: LogId {
                key_id: Base64(
                    hex::decode(&rekor.payload.log_id)
                        .map_err(|_| "bundle annotation: logID is not hex".to_string())?,
                ),
            },
            kind_version,
            integrated_time: Some(non_negative(
                rekor.payload.integrated_time,
                "integratedTime",
            )?),
            inclusion_promise: Some(InclusionPromise {
                signed_entry_timestamp: Base64(
                    signet_model::encoding::decode_base64(&rekor.signed_entry_timestamp)
                        .map_err(|e| format!("bundle annotation SET: {e}"))?,
                ),
            }),
            inclusion_proof: None,
            canonicalized_body: Base64(body),
        });
    }
    if let Some(raw) = annotations.get(RFC3161_ANNOTATION) {
        let ts: Rfc3161Annotation = signet_model::from_json_slice(raw.as_bytes())
            .map_err(|e| format!("timestamp annotation: {e}"))?;
        let der = signet_model::encoding::decode_base64(&ts.signed)
            .map_err(|e| format!("timestamp annotation: {e}"))?;
        material.timestamp_verification_data = Some(TimestampVerificationData {
            rfc3161_timestamps: vec![Rfc3161SignedTimestamp {
                signed_timestamp: Base64(der),
            }],
        });
    }
    Ok(material)
}

/// One signature (or attestation) layer read from a `.sig` (`.att`)
/// manifest.
#[derive(Debug, Clone)]
pub struct Layer {
    pub descriptor: Descriptor,
    /// The payload blob (the envelope, for attestations), checked against
    /// the descriptor's digest.
    pub payload: Result<Vec<u8>, String>,
}

/// The signature manifest of `image`, if there is one.
pub fn read_manifest(
    registry: &Registry,
    repo: &Reference,
    image: &Digest,
) -> Result<Option<Manifest>, OciError> {
    read_manifest_at(registry, repo, &signature_tag(image))
}

/// The manifest at `tag` (a `.sig`, `.att` or `.sbom` tag), if there is one.
pub fn read_manifest_at(
    registry: &Registry,
    repo: &Reference,
    tag: &str,
) -> Result<Option<Manifest>, OciError> {
    match registry.get_manifest(repo, tag) {
        Ok(m) => Manifest::from_json(&m.bytes).map(Some),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every signature layer of `image` (none when the tag does not exist).
pub fn read(registry: &Registry, repo: &Reference, image: &Digest) -> Result<Vec<Layer>, OciError> {
    read_layers(
        registry,
        repo,
        &signature_tag(image),
        SIMPLE_SIGNING_MEDIA_TYPE,
    )
}

/// Every attestation layer (DSSE envelope) of `image`'s `.att` tag (none
/// when the tag does not exist).
pub fn read_attestations(
    registry: &Registry,
    repo: &Reference,
    image: &Digest,
) -> Result<Vec<Layer>, OciError> {
    read_layers(registry, repo, &attestation_tag(image), DSSE_MEDIA_TYPE)
}

fn read_layers(
    registry: &Registry,
    repo: &Reference,
    tag: &str,
    media_type: &str,
) -> Result<Vec<Layer>, OciError> {
    let Some(manifest) = read_manifest_at(registry, repo, tag)? else {
        return Ok(Vec::new());
    };
    super::check_count(tag, manifest.layers.len())?;
    let mut bytes_left = super::MAX_ATTACHMENT_BYTES;
    Ok(manifest
        .layers
        .into_iter()
        .filter(|l| l.media_type == media_type)
        .map(|descriptor| {
            let payload = if descriptor.size > MAX_BLOB_BYTES {
                Err(format!("payload of {} bytes is too large", descriptor.size))
            } else {
                super::take_bytes(&mut bytes_left, descriptor.size).and_then(|()| {
                    registry
                        .get_blob(repo, &descriptor.digest, descriptor.size.max(1))
                        .map_err(|e| e.to_string())
                })
            };
            Layer {
                descriptor,
                payload,
            }
        })
        .collect())
}

/// The image config cosign gives a signature image: the layers' digests
/// as `diff_ids` (the layers are uncompressed).
fn config_for(layers: &[Descriptor]) -> Vec<u8> {
    let doc = serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
        },
        "config": {},
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// What [`append`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Written at the tag; the manifest now has this many layers.
    Written { tag: String, layers: usize },
    /// The same payload with the same annotations was already there.
    AlreadyPresent { tag: String },
}

/// Adds a signature layer to `image`'s `.sig` manifest, keeping every
/// layer already there.
pub fn append(
    registry: &Registry,
    repo: &Reference,
    image: &Digest,
    payload: &[u8],
    annotations: BTreeMap<String, String>,
) -> Result<Appended, OciError> {
    append_layer(
        registry,
        repo,
        signature_tag(image),
        SIMPLE_SIGNING_MEDIA_TYPE,
        payload,
        annotations,
    )
}

/// Adds an attestation layer (a DSSE envelope, as JSON) to `image`'s
/// `.att` manifest, keeping every attestation already there.
pub fn append_attestation(
    registry: &Registry,
    repo: &Reference,
    image: &Digest,
    envelope: &[u8],
    annotations: BTreeMap<String, String>,
) -> Result<Appended, OciError> {
    append_layer(
        registry,
        repo,
        attestation_tag(image),
        DSSE_MEDIA_TYPE,
        envelope,
        annotations,
    )
}

/// Read-modify-write attempts when a concurrent writer replaced the
/// manifest between our read and write.
const APPEND_ATTEMPTS: usize = 4;

fn append_layer(
    registry: &Registry,
    repo: &Reference,
    tag: String,
    media_type: &str,
    payload: &[u8],
    annotations: BTreeMap<String, String>,
) -> Result<Appended, OciError> {
    let mut layer = Descriptor::of(media_type, payload);
    layer.annotations = annotations;
    let present = |layers: &[Descriptor]| {
        layers
            .iter()
            .any(|l| l.digest == layer.digest && l.annotations == layer.annotations)
    };
    let mut uploaded = false;
    for _ in 0..APPEND_ATTEMPTS {
        let mut layers = match read_manifest_at(registry, repo, &tag)? {
            Some(m) => m.layers,
            None => Vec::new(),
        };
        if present(&layers) {
            return Ok(if uploaded {
                Appended::Written {
                    tag,
                    layers: layers.len(),
                }
            } else {
                Appended::AlreadyPresent { tag }
            });
        }
        if !uploaded {
            registry.put_blob(repo, payload)?;
        }
        layers.push(layer.clone());
        let count = layers.len();
        let config = config_for(&layers);
        registry.put_blob(repo, &config)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_string()),
            artifact_type: None,
            config: Descriptor::of(OCI_CONFIG, &config),
            layers,
            subject: None,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        };
        registry.put_manifest(repo, &tag, OCI_MANIFEST, &manifest.to_json())?;
        uploaded = true;
        // Another writer may have replaced the manifest between our read
        // and write; if our layer is gone, merge again.
        let after = read_manifest_at(registry, repo, &tag)?.map(|m| m.layers);
        if after.as_deref().is_some_and(present) {
            return Ok(Appended::Written { tag, layers: count });
        }
    }
    Err(OciError::Malformed {
        what: format!("legacy manifest {tag}"),
        why: "concurrent writers kept replacing it; the layer could not be added".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_cosigns() {
        let d = Digest::of(b"image");
        let p = payload("reg.example/app", &d, &BTreeMap::new());
        assert_eq!(
            String::from_utf8(p.clone()).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"reg.example/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        let parsed = parse_payload(&p).unwrap();
        assert_eq!(parsed.manifest_digest, d.to_string());
        assert_eq!(parsed.type_, SIMPLE_SIGNING_TYPE);
        assert_eq!(parsed.optional, None);
        let mut a = BTreeMap::new();
        a.insert("env".to_string(), Value::String("prod".into()));
        let parsed = parse_payload(&payload("r/a", &d, &a)).unwrap();
        assert_eq!(parsed.optional.unwrap()["env"], "prod");
    }

    #[test]
    fn spec_example_with_capitalised_key_parses() {
        let raw = br#"{"critical":{"identity":{"docker-reference":"testing/manifest"},"image":{"Docker-manifest-digest":"sha256:20be"},"type":"cosign container image signature"},"optional":{"creator":"atomic"}}"#;
        assert_eq!(parse_payload(raw).unwrap().manifest_digest, "sha256:20be");
        assert!(parse_payload(br#"{"critical":{}}"#).is_err());
    }

    #[test]
    fn spec_bundle_annotation_rebuilds_a_v01_bundle() {
        // The bundle example of SIGNATURE_SPEC.md (shape only).
        let body = signet_model::encoding::encode_base64(
            br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}"#,
        );
        let rekor = format!(
            r#"{{"SignedEntryTimestamp":"MEUCIQ==","Payload":{{"body":"{body}","integratedTime":1624396085,"logIndex":5179,"logID":"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"}}}}"#
        );
        let mut a = BTreeMap::new();
        a.insert(SIGNATURE_ANNOTATION.to_string(), "MEUCIQ==".to_string());
        a.insert(BUNDLE_ANNOTATION.to_string(), rekor);
        let b = bundle_from_layer(b"payload", &a).unwrap();
        b.validate().unwrap();
        let e = &b.verification_material.tlog_entries[0];
        assert_eq!(e.kind_version.kind, "hashedrekord");
        assert_eq!(e.log_index.0, 5179);
        assert_eq!(e.integrated_time.unwrap().0, 1624396085);
        assert!(b.verification_material.public_key.is_some());
        // And back to annotations.
        let again = annotations_from_bundle(&b).unwrap();
        let rt: RekorBundle = serde_json::from_str(&again[BUNDLE_ANNOTATION]).unwrap();
        assert_eq!(rt.payload.log_index, 5179);
        assert_eq!(rt.payload.body, body);
        assert!(bundle_from_layer(b"p", &BTreeMap::new()).is_err());
    }

    #[test]
    fn attestation_layer_round_trip() {
        // A keyed DSSE attestation as signet's flow makes it, with a
        // cosign-shaped dsse entry in the bundle annotation.
        let body = signet_model::encoding::encode_base64(
            br#"{"apiVersion":"0.0.1","kind":"dsse","spec":{}}"#,
        );
        let rekor = format!(
            r#"{{"SignedEntryTimestamp":"MEUCIQ==","Payload":{{"body":"{body}","integratedTime":1700000000,"logIndex":7,"logID":"c0d2"}}}}"#
        );
        let mut a = BTreeMap::new();
        a.insert(SIGNATURE_ANNOTATION.to_string(), String::new());
        a.insert(BUNDLE_ANNOTATION.to_string(), rekor);
        let envelope = br#"{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"MEUCIQ=="}]}"#;
        let b = bundle_from_attestation_layer(envelope, &a).unwrap();
        b.validate().unwrap();
        let env = b.dsse_envelope.as_ref().unwrap();
        assert_eq!(&env.payload[..], b"{}");
        assert!(b.message_signature.is_none());
        assert_eq!(
            b.verification_material.tlog_entries[0].kind_version.kind,
            "dsse"
        );
        // The layer as cosign writes it: the envelope's JSON, field for field.
        assert_eq!(serde_json::to_vec(env).unwrap(), envelope.to_vec());
        // Back to annotations: the signature annotation stays empty.
        let again = annotations_from_bundle(&b).unwrap();
        assert_eq!(again[SIGNATURE_ANNOTATION], "");
        assert!(again.contains_key(BUNDLE_ANNOTATION));
        assert!(!again.contains_key(CERTIFICATE_ANNOTATION));
        assert!(bundle_from_attestation_layer(b"not json", &a).is_err());
    }
}
