//! Rekor clients: proposed entries, the v1 and v2 write APIs, and the
//! conversion of their answers into a bundle's `TransparencyLogEntry`.
//!
//! v1 (`POST /api/v1/log/entries`) takes a proposed entry (hashedrekord
//! 0.0.1 for a message signature, dsse 0.0.1 for an envelope, both exactly
//! as sigstore-python builds them) and answers `{uuid: LogEntry}` with a
//! signed entry timestamp (SET) and an inclusion proof.
//!
//! v2 (`POST /api/v2/log/entries`, sigstore/rekor-tiles) takes a
//! `CreateEntryRequest` (hashedrekord 0.0.2; a DSSE envelope is logged as a
//! hashedrekord over its PAE, as the rekor-tiles spec now asks, or as the
//! deprecated dsse 0.0.2) and answers a `TransparencyLogEntry` with an
//! inclusion proof but no SET: time must come from a timestamp authority.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use signet_model::bundle::{
    Checkpoint, InclusionPromise, InclusionProof, KindVersion, LogId, TransparencyLogEntry,
};
use signet_model::dsse::Envelope;
use signet_model::encoding::{decode_base64, Base64, Int64};

use crate::http::{join, HttpClient};
use crate::SignError;

const SERVICE: &str = "Rekor";
/// Most inclusion-proof hashes accepted (a tree of 2^64 leaves needs 64).
const MAX_PROOF_HASHES: usize = 64;

/// Who signed, as a Rekor entry names it.
#[derive(Debug, Clone, Copy)]
pub enum Verifier<'a> {
    /// A DER certificate (keyless).
    Certificate(&'a [u8]),
    /// A DER SubjectPublicKeyInfo (managed key).
    PublicKey(&'a [u8]),
}

impl Verifier<'_> {
    /// PEM text, as v1 entries carry it (then base64-encoded once more).
    pub fn pem(&self) -> String {
        let block = match self {
            Verifier::Certificate(der) => pem::Pem::new("CERTIFICATE", der.to_vec()),
            Verifier::PublicKey(der) => pem::Pem::new("PUBLIC KEY", der.to_vec()),
        };
        pem::encode_config(
            &block,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }

    /// The rekor-tiles `Verifier` message.
    fn v2(&self, key_details: &str) -> Value {
        match self {
            Verifier::Certificate(der) => json!({
                "x509Certificate": {"rawBytes": STANDARD.encode(der)},
                "keyDetails": key_details,
            }),
            Verifier::PublicKey(der) => json!({
                "publicKey": {"rawBytes": STANDARD.encode(der)},
                "keyDetails": key_details,
            }),
        }
    }
}

/// hashedrekord 0.0.1: a signature over an artifact with this SHA-256.
pub fn hashedrekord_v001(
    artifact_sha256: &[u8; 32],
    signature: &[u8],
    verifier: Verifier<'_>,
) -> Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": signet_model::encoding::encode_hex(artifact_sha256)}},
            "signature": {
                "content": STANDARD.encode(signature),
                "publicKey": {"content": STANDARD.encode(verifier.pem())},
            },
        },
    })
}

/// dsse 0.0.1: the envelope as JSON text and the verifiers as base64 PEM.
pub fn dsse_v001(envelope: &Envelope, verifier: Verifier<'_>) -> Result<Value, SignError> {
    let envelope_json = serde_json::to_string(envelope)
        .map_err(|e| SignError::Other(format!("DSSE envelope JSON: {e}")))?;
    Ok(json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {
                "envelope": envelope_json,
                "verifiers": [STANDARD.encode(verifier.pem())],
            },
        },
    }))
}

/// Rekor v2 hashedrekord 0.0.2 request over a SHA-256 digest (of the
/// artifact, or of a DSSE PAE).
pub fn hashedrekord_v002_request(
    sha256_digest: &[u8; 32],
    signature: &[u8],
    verifier: Verifier<'_>,
    key_details: &str,
) -> Value {
    json!({
        "hashedRekordRequestV002": {
            "digest": STANDARD.encode(sha256_digest),
            "signature": {
                "content": STANDARD.encode(signature),
                "verifier": verifier.v2(key_details),
            },
        },
    })
}

/// Rekor v2 dsse 0.0.2 request (deprecated by rekor-tiles in favour of a
/// hashedrekord over the PAE, still accepted by logs that know it).
pub fn dsse_v002_request(envelope: &Envelope, verifier: Verifier<'_>, key_details: &str) -> Value {
    json!({
        "dsseRequestV002": {
            "envelope": {
                "payload": STANDARD.encode(&envelope.payload.0),
                "payloadType": envelope.payload_type,
                "signatures": envelope.signatures.iter().map(|s| json!({
                    "sig": STANDARD.encode(&s.sig.0),
                    "keyid": s.keyid.clone().unwrap_or_default(),
                })).collect::<Vec<_>>(),
            },
            "verifiers": [verifier.v2(key_details)],
        },
    })
}

/// Rekor v1's `LogEntry`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEntryV1 {
    body: String,
    integrated_time: u64,
    #[serde(rename = "logID")]
    log_id: String,
    log_index: u64,
    verification: Option<VerificationV1>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationV1 {
    signed_entry_timestamp: Option<String>,
    inclusion_proof: Option<InclusionProofV1>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionProofV1 {
    log_index: u64,
    root_hash: String,
    tree_size: u64,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<String>,
}

fn bad(message: impl Into<String>) -> SignError {
    SignError::response(SERVICE, message)
}

fn hex_field(what: &str, text: &str) -> Result<Vec<u8>, SignError> {
    hex::decode(text).map_err(|_| bad(format!("{what} is not hex")))
}

/// Converts a v1 answer (`{uuid: LogEntry}`, exactly one entry) into a
/// bundle entry, as sigstore-python does: kind and version from the body,
/// `logId` from the hex `logID`, the SET as inclusion promise, hex hashes
/// of the proof as bytes, and the body as canonicalized body.
pub fn log_entry_from_v1(answer: &[u8]) -> Result<TransparencyLogEntry, SignError> {
    let map: std::collections::BTreeMap<String, LogEntryV1> =
        signet_model::from_json_slice(answer).map_err(|e| bad(e.to_string()))?;
    let mut entries = map.into_values();
    let (Some(entry), None) = (entries.next(), entries.next()) else {
        return Err(bad("expected exactly one log entry in the answer"));
    };
    let body = decode_base64(&entry.body).map_err(|_| bad("body is not base64"))?;
    let kind_version = kind_version(&body)?;
    let verification = entry
        .verification
        .ok_or_else(|| bad("the entry has no verification (SET and inclusion proof)"))?;
    let set = verification
        .signed_entry_timestamp
        .ok_or_else(|| bad("the entry has no signed entry timestamp"))?;
    let set = decode_base64(&set).map_err(|_| bad("signedEntryTimestamp is not base64"))?;
    let proof = verification
        .inclusion_proof
        .ok_or_else(|| bad("the entry has no inclusion proof"))?;
    if proof.hashes.len() > MAX_PROOF_HASHES {
        return Err(bad("inclusion proof has too many hashes"));
    }
    let hashes = proof
        .hashes
        .iter()
        .map(|h| hex_field("inclusion proof hash", h).map(Base64))
        .collect::<Result<Vec<_>, _>>()?;
    let checkpoint = proof
        .checkpoint
        .ok_or_else(|| bad("the inclusion proof has no checkpoint"))?;
    Ok(TransparencyLogEntry {
        log_index: Int64(entry.log_index),
        log_id: LogId {
            key_id: Base64(hex_field("logID", &entry.log_id)?),
        },
        kind_version,
        integrated_time: Some(Int64(entry.integrated_time)),
        inclusion_promise: Some(InclusionPromise {
            signed_entry_timestamp: Base64(set),
        }),
        inclusion_proof: Some(InclusionProof {
            log_index: Int64(proof.log_index),
            root_hash: Base64(hex_field("rootHash", &proof.root_hash)?),
            tree_size: Int64(proof.tree_size),
            hashes,
            checkpoint: Some(Checkpoint {
                envelope: checkpoint,
            }),
        }),
        canonicalized_body: Base64(body),
    })
}

/// Reads a v2 answer: a `TransparencyLogEntry` in protobuf JSON. A zero
/// `integratedTime` (proto3's default) means "none": v2 logs sign no time.
pub fn log_entry_from_v2(answer: &[u8]) -> Result<TransparencyLogEntry, SignError> {
    let mut entry: TransparencyLogEntry =
        signet_model::from_json_slice(answer).map_err(|e| bad(e.to_string()))?;
    if entry.inclusion_promise.is_none() && entry.integrated_time == Some(Int64(0)) {
        entry.integrated_time = None;
    }
    if entry.canonicalized_body.is_empty() {
        return Err(bad("the entry has no canonicalized body"));
    }
    if entry.inclusion_proof.is_none() {
        return Err(bad("the entry has no inclusion proof"));
    }
    Ok(entry)
}

fn kind_version(body: &[u8]) -> Result<KindVersion, SignError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Head {
        kind: String,
        api_version: String,
    }
    let head: Head =
        signet_model::from_json_slice(body).map_err(|e| bad(format!("entry body: {e}")))?;
    Ok(KindVersion {
        kind: head.kind,
        version: head.api_version,
    })
}

/// A Rekor instance, spoken to with its major API version (1 or 2).
#[derive(Debug, Clone)]
pub struct RekorClient {
    base_url: String,
    major_version: u32,
    http: HttpClient,
}

impl RekorClient {
    pub fn new(base_url: &str, major_version: u32, http: HttpClient) -> Result<Self, SignError> {
        if !matches!(major_version, 1 | 2) {
            return Err(SignError::Config(format!(
                "Rekor API version {major_version} is not supported"
            )));
        }
        Ok(RekorClient {
            base_url: base_url.to_string(),
            major_version,
            http,
        })
    }

    pub fn major_version(&self) -> u32 {
        self.major_version
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Submits a proposed entry (v1) or a `CreateEntryRequest` (v2) and
    /// returns the integrated entry. A v1 duplicate (409) is fetched from
    /// the `Location` the log names.
    pub fn create_entry(&self, request: &Value) -> Result<TransparencyLogEntry, SignError> {
        let path = if self.major_version == 1 {
            "/api/v1/log/entries"
        } else {
            "/api/v2/log/entries"
        };
        let url = join(&self.base_url, path);
        let response = self.http.post(
            SERVICE,
            &url,
            "application/json",
            &[("Accept", "application/json")],
            request.to_string().into_bytes(),
        )?;
        if self.major_version == 1 && response.status == 409 {
            if let Some(location) = &response.location {
                let location = if location.starts_with('/') {
                    join(&self.base_url, location)
                } else {
                    location.clone()
                };
                let existing =
                    self.http
                        .get(SERVICE, &location, &[("Accept", "application/json")])?;
                if existing.is_success() {
                    return log_entry_from_v1(&existing.body);
                }
            }
        }
        if !response.is_success() {
            return Err(SignError::Http {
                service: SERVICE.into(),
                status: response.status,
                message: response.error_message(),
            });
        }
        if self.major_version == 1 {
            log_entry_from_v1(&response.body)
        } else {
            log_entry_from_v2(&response.body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_model::rekor::EntryBody;
    use signet_model::Bundle;

    fn conformance(case: &str) -> Bundle {
        let path = format!(
            "{}/../../testdata/conformance/bundle-verify/{case}/bundle.sigstore.json",
            env!("CARGO_MANIFEST_DIR")
        );
        Bundle::from_json(&std::fs::read(path).unwrap()).unwrap()
    }

    /// The v1 `LogEntry` a log answered for a bundle entry, rebuilt in the
    /// shape of rekor's openapi.yaml (hex IDs and hashes, numbers).
    fn v1_answer(entry: &TransparencyLogEntry) -> Value {
        let proof = entry.inclusion_proof.as_ref().unwrap();
        let uuid =
            signet_model::encoding::encode_hex(signet_crypto::sha256(&entry.canonicalized_body));
        json!({ uuid: {
            "body": STANDARD.encode(&entry.canonicalized_body.0),
            "integratedTime": entry.integrated_time.unwrap().0,
            "logID": signet_model::encoding::encode_hex(&entry.log_id.key_id.0),
            "logIndex": entry.log_index.0,
            "verification": {
                "signedEntryTimestamp": STANDARD.encode(&entry.inclusion_promise.as_ref().unwrap().signed_entry_timestamp.0),
                "inclusionProof": {
                    "logIndex": proof.log_index.0,
                    "rootHash": signet_model::encoding::encode_hex(&proof.root_hash.0),
                    "treeSize": proof.tree_size.0,
                    "hashes": proof.hashes.iter().map(|h| signet_model::encoding::encode_hex(&h.0)).collect::<Vec<_>>(),
                    "checkpoint": proof.checkpoint.as_ref().unwrap().envelope,
                },
            },
        }})
    }

    #[test]
    fn v1_answers_convert_to_the_bundle_entries() {
        for case in [
            "happy-path-v0.3",
            "happy-path-intoto-in-dsse-v3",
            "managed-key-happy-path",
        ] {
            let bundle = conformance(case);
            let original = &bundle.verification_material.tlog_entries[0];
            let answer = v1_answer(original);
            let converted = log_entry_from_v1(answer.to_string().as_bytes()).unwrap();
            assert_eq!(&converted, original, "{case}");
        }
    }

    #[test]
    fn v1_answers_without_proofs_are_rejected() {
        let bundle = conformance("happy-path-v0.3");
        let mut answer = v1_answer(&bundle.verification_material.tlog_entries[0]);
        let key = answer.as_object().unwrap().keys().next().unwrap().clone();
        let mut no_set = answer.clone();
        no_set[&key]["verification"]
            .as_object_mut()
            .unwrap()
            .remove("signedEntryTimestamp");
        assert!(log_entry_from_v1(no_set.to_string().as_bytes()).is_err());
        answer[&key]["verification"]["inclusionProof"]
            .as_object_mut()
            .unwrap()
            .remove("checkpoint");
        assert!(log_entry_from_v1(answer.to_string().as_bytes()).is_err());
        assert!(log_entry_from_v1(b"{}").is_err());
    }

    #[test]
    fn v2_answers_are_bundle_entries() {
        let bundle = conformance("rekor2-happy-path");
        let original = &bundle.verification_material.tlog_entries[0];
        let answer = serde_json::to_string(original).unwrap();
        assert_eq!(&log_entry_from_v2(answer.as_bytes()).unwrap(), original);
    }

    /// The proposed hashedrekord 0.0.1 of a conformance bundle, once the
    /// log canonicalizes it, is byte for byte the body the log stored.
    #[test]
    fn hashedrekord_v001_matches_logged_body() {
        let bundle = conformance("happy-path-v0.3");
        let entry = &bundle.verification_material.tlog_entries[0];
        let message = bundle.message_signature.as_ref().unwrap();
        let digest: [u8; 32] = message.message_digest.as_ref().unwrap().digest.0[..]
            .try_into()
            .unwrap();
        let cert = bundle.certificates()[0];
        let proposed = hashedrekord_v001(&digest, &message.signature, Verifier::Certificate(cert));
        let parsed = EntryBody::parse(proposed.to_string().as_bytes()).unwrap();
        assert_eq!(
            parsed.canonical_json().as_bytes(),
            &entry.canonicalized_body[..]
        );
    }

    #[test]
    fn dsse_v001_shape() {
        let bundle = conformance("happy-path-intoto-in-dsse-v3");
        let envelope = bundle.dsse_envelope.as_ref().unwrap();
        let cert = bundle.certificates()[0];
        let proposed = dsse_v001(envelope, Verifier::Certificate(cert)).unwrap();
        assert_eq!(proposed["kind"], "dsse");
        assert_eq!(proposed["apiVersion"], "0.0.1");
        let content = &proposed["spec"]["proposedContent"];
        let inner: Envelope = serde_json::from_str(content["envelope"].as_str().unwrap()).unwrap();
        assert_eq!(&inner, envelope);
        let pem_text = STANDARD
            .decode(content["verifiers"][0].as_str().unwrap())
            .unwrap();
        let block = pem::parse(pem_text).unwrap();
        assert_eq!(block.tag(), "CERTIFICATE");
        assert_eq!(block.contents(), cert);
    }

    /// A v2 request carries what the logged hashedrekord 0.0.2 body says.
    #[test]
    fn hashedrekord_v002_request_matches_logged_body() {
        let bundle = conformance("rekor2-happy-path");
        let entry = &bundle.verification_material.tlog_entries[0];
        let EntryBody::HashedRekordV002(logged) =
            EntryBody::parse(&entry.canonicalized_body).unwrap()
        else {
            panic!("not hashedrekord 0.0.2");
        };
        let message = bundle.message_signature.as_ref().unwrap();
        let digest: [u8; 32] = logged.data.digest.0[..].try_into().unwrap();
        let cert = bundle.certificates()[0];
        let details = logged.signature.verifier.key_details.clone().unwrap();
        let request = hashedrekord_v002_request(
            &digest,
            &message.signature,
            Verifier::Certificate(cert),
            &details,
        );
        let inner = &request["hashedRekordRequestV002"];
        assert_eq!(inner["digest"], STANDARD.encode(digest));
        assert_eq!(
            inner["signature"]["content"],
            STANDARD.encode(&logged.signature.content.0)
        );
        assert_eq!(
            inner["signature"]["verifier"],
            serde_json::to_value(&logged.signature.verifier).unwrap()
        );
        let dsse = dsse_v002_request(
            &Envelope {
                payload: b"{}".to_vec().into(),
                payload_type: "application/vnd.in-toto+json".into(),
                signatures: vec![signet_model::dsse::Signature {
                    sig: b"sig".to_vec().into(),
                    keyid: None,
                }],
            },
            Verifier::PublicKey(b"key"),
            "PKIX_ECDSA_P256_SHA_256",
        );
        assert_eq!(dsse["dsseRequestV002"]["envelope"]["payload"], "e30=");
        assert_eq!(
            dsse["dsseRequestV002"]["verifiers"][0]["publicKey"]["rawBytes"],
            "a2V5"
        );
    }
}
