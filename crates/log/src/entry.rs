//! Proposed entries → checked, canonical entry bodies.
//!
//! Each proposed entry is parsed with size and depth bounds, its signatures
//! are verified against the key or certificate it names, and the body the
//! log stores is built server-side (never copied from client-computed
//! fields), then serialized as RFC 8785 JSON. The shapes follow Rekor
//! (`pkg/types/{hashedrekord,dsse,intoto}`) and rekor-tiles, so that the
//! bodies are exactly those `signet-verify` and other Sigstore clients
//! accept.
//!
//! Certificates are not chain-checked: like Rekor, the log records who
//! claims to have signed; verifiers decide whom to trust.

use signet_crypto::{HashAlgorithm, KeyKind, PublicKey};
use signet_model::dsse::pae;
use signet_model::encoding::{decode_base64, encode_base64, Base64};
use signet_model::intoto::{Statement, PAYLOAD_TYPE};
use signet_model::rekor::{
    DsseV001, DsseV001Signature, DsseV002, EntryBody, HashOutput, HashedRekordV001,
    HashedRekordV002, HexHash, IntotoContent, IntotoEnvelope, IntotoSignature, IntotoV002,
    RawBytes, SignatureV002, Verifier,
};
use signet_pki::cert::Certificate;
use signet_pki::fulcio::{subject_alt_names, SubjectAltName};
use signet_tlog::merkle::{leaf_hash, Hash};

use crate::tiles::MAX_ENTRY_BYTES;

/// Most signatures or verifiers a proposed entry may carry.
pub const MAX_SIGNATURES: usize = 16;
/// Most search keys an entry's own content adds to the index (signers'
/// keys, certificate SANs, artifact and payload digests); an entry that
/// needs more is refused, never partly indexed.
pub const MAX_INDEX_KEYS: usize = 256;
/// Most in-toto subject digests one entry adds to the index, on top of its
/// own keys: the first ones in statement order.
pub const MAX_SUBJECT_KEYS: usize = 1024;

/// Why a proposed entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Malformed, unsupported or unverifiable: HTTP 400.
    #[error("{0}")]
    Invalid(String),
    /// The canonical body would not fit an entry bundle: HTTP 413.
    #[error(
        "canonical entry body is {0} bytes, more than the {MAX_ENTRY_BYTES} a log entry may hold"
    )]
    TooLarge(usize),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, EntryError> {
    Err(EntryError::Invalid(msg.into()))
}

/// A checked entry, ready for the sequencer.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub body: EntryBody,
    /// RFC 8785 JSON of `body`: the leaf.
    pub canonical: Vec<u8>,
    pub leaf_hash: Hash,
    /// Search keys: `sha256:<hex>` artifact/payload digests, `key:<hex
    /// SHA-256 of SPKI>`, `email:<lowercase>`, `uri:<uri>`.
    pub index_keys: Vec<String>,
}

impl Prepared {
    /// A checked body with its search keys: canonical form, leaf hash,
    /// size bound, keys sorted and deduplicated. `own_keys` (signers and
    /// digests) are all indexed or the entry is refused; `subject_keys`
    /// come bounded from [`intoto_subject_keys`], so no subject can push
    /// out a signer's key.
    pub fn new(
        body: EntryBody,
        mut own_keys: Vec<String>,
        subject_keys: Vec<String>,
    ) -> Result<Self, EntryError> {
        let canonical = body.canonical_json().into_bytes();
        if canonical.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(canonical.len()));
        }
        own_keys.sort();
        own_keys.dedup();
        if own_keys.len() > MAX_INDEX_KEYS {
            return invalid(format!(
                "the entry names {} search keys (signers' keys, certificate SANs, digests); \
                 at most {MAX_INDEX_KEYS} are indexed per entry",
                own_keys.len()
            ));
        }
        let mut index_keys = own_keys;
        index_keys.extend(subject_keys);
        index_keys.sort();
        index_keys.dedup();
        Ok(Prepared {
            leaf_hash: leaf_hash(&canonical),
            body,
            canonical,
            index_keys,
        })
    }
}

/// The search key of a public key: `key:<hex SHA-256 of DER SPKI>`.
pub fn key_index(key: &PublicKey) -> String {
    format!(
        "key:{}",
        signet_model::encoding::encode_hex(key.sha256_id())
    )
}

/// The search key of a digest: `<alg>:<lowercase hex>`.
pub fn digest_index(alg: &str, hex_value: &str) -> String {
    format!(
        "{}:{}",
        alg.to_ascii_lowercase(),
        hex_value.to_ascii_lowercase()
    )
}

/// PEM as Go's `pem.Encode` writes it (LF line endings, 64 columns), which
/// is how Rekor stores keys and certificates.
pub fn pem_lf(tag: &str, der: &[u8]) -> String {
    let b64 = encode_base64(der);
    let mut out = format!("-----BEGIN {tag}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {tag}-----\n"));
    out
}

/// A signer named by an entry: a bare key or a certificate.
pub struct Signer {
    pub key: PublicKey,
    pub cert: Option<Certificate>,
}

impl Signer {
    /// Parses a PEM public key or certificate.
    pub fn from_pem(bytes: &[u8]) -> Result<Self, EntryError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| EntryError::Invalid("verifier is not PEM text".into()))?;
        let block = pem::parse(text)
            .map_err(|e| EntryError::Invalid(format!("verifier is not PEM: {e}")))?;
        match block.tag() {
            "CERTIFICATE" => Self::from_cert_der(block.contents()),
            "PUBLIC KEY" => Self::from_spki_der(block.contents()),
            other => invalid(format!("unsupported PEM block {other:?}")),
        }
    }

    pub fn from_cert_der(der: &[u8]) -> Result<Self, EntryError> {
        let cert = Certificate::from_der(der)
            .map_err(|e| EntryError::Invalid(format!("invalid certificate: {e}")))?;
        Ok(Signer {
            key: cert.public_key().clone(),
            cert: Some(cert),
        })
    }

    pub fn from_spki_der(der: &[u8]) -> Result<Self, EntryError> {
        let key = PublicKey::from_spki_der(der)
            .map_err(|e| EntryError::Invalid(format!("invalid public key: {e}")))?;
        Ok(Signer { key, cert: None })
    }

    /// The canonical PEM (certificate if any, else the key).
    pub fn pem(&self) -> String {
        match &self.cert {
            Some(c) => pem_lf("CERTIFICATE", c.der()),
            None => pem_lf("PUBLIC KEY", self.key.spki_der()),
        }
    }

    /// Search keys: the key, and a certificate's email and URI SANs.
    fn index_keys(&self, out: &mut Vec<String>) {
        out.push(key_index(&self.key));
        if let Some(cert) = &self.cert {
            for san in subject_alt_names(cert).unwrap_or_default() {
                match san {
                    SubjectAltName::Email(e) => out.push(format!("email:{}", e.to_lowercase())),
                    SubjectAltName::Uri(u) => out.push(format!("uri:{u}")),
                    _ => {}
                }
            }
        }
    }

    /// The key's Sigstore key details, which a Rekor v2 entry records.
    fn key_details(&self) -> Result<&'static str, EntryError> {
        self.key.key_details().ok_or_else(|| {
            EntryError::Invalid(
                "an RSA key has Sigstore key details at 2048, 3072 or 4096 bits only".into(),
            )
        })
    }

    /// Rekor v2 verifier: raw DER key or certificate plus key details.
    fn to_v2(&self) -> Result<Verifier, EntryError> {
        let (public_key, x509_certificate) = match &self.cert {
            Some(c) => (
                None,
                Some(RawBytes {
                    raw_bytes: Base64(c.der().to_vec()),
                }),
            ),
            None => (
                Some(RawBytes {
                    raw_bytes: Base64(self.key.spki_der().to_vec()),
                }),
                None,
            ),
        };
        Ok(Verifier {
            key_details: Some(self.key_details()?.to_string()),
            public_key,
            x509_certificate,
        })
    }
}

fn hash_algorithm(name: &str) -> Result<HashAlgorithm, EntryError> {
    HashAlgorithm::from_rekor_name(name)
        .ok_or_else(|| EntryError::Invalid(format!("unsupported hash algorithm {name:?}")))
}

fn decode_hex_digest(alg: HashAlgorithm, value: &str) -> Result<Vec<u8>, EntryError> {
    let digest = hex::decode(value)
        .map_err(|_| EntryError::Invalid(format!("digest {value:?} is not hex")))?;
    if digest.len() != alg.output_len() {
        return invalid(format!(
            "digest is {} bytes, {} expected for {alg:?}",
            digest.len(),
            alg.output_len()
        ));
    }
    Ok(digest)
}

/// The search key of a digest, if search can name it: `sha256`, `sha384`
/// or `sha512` (any case) and hex of that digest's length. Anything else
/// (an algorithm called `email`, say) has no key, so it cannot land in
/// another kind of key's space.
pub fn searchable_digest(alg: &str, hex_value: &str) -> Option<String> {
    let hash = HashAlgorithm::from_rekor_name(&alg.to_ascii_lowercase())?;
    let well_formed = hex_value.len() == 2 * hash.output_len()
        && hex_value.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| digest_index(alg, hex_value))
}

/// Statement subject digests of an in-toto payload, as search keys: the
/// searchable ones ([`searchable_digest`]), at most [`MAX_SUBJECT_KEYS`]
/// distinct keys, in statement order.
fn intoto_subject_keys(payload_type: &str, payload: &[u8]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    if payload_type != PAYLOAD_TYPE {
        return keys;
    }
    let Ok(statement) = Statement::from_json(payload) else {
        return keys;
    };
    let mut seen = std::collections::HashSet::new();
    for (alg, value) in statement.subject.iter().flat_map(|s| &s.digest) {
        if keys.len() == MAX_SUBJECT_KEYS {
            break;
        }
        if let Some(key) = searchable_digest(alg, value) {
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
    }
    keys
}

// ----- Rekor v1 proposed entries -------------------------------------------

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProposedEntry {
    api_version: String,
    kind: String,
    /// Parsed once the kind is known (the whole document's size and depth
    /// are bounded by the first parse).
    spec: Box<serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseSpec {
    proposed_content: Option<DsseProposedContent>,
}

#[derive(serde::Deserialize)]
struct DsseProposedContent {
    envelope: String,
    #[serde(default)]
    verifiers: Vec<Base64>,
}

/// A DSSE envelope as clients send it: base64 *strings* kept as text.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(serde::Deserialize)]
struct RawSignature {
    sig: String,
    #[serde(default)]
    #[allow(dead_code)]
    keyid: Option<String>,
}

fn parse_spec<T: serde::de::DeserializeOwned>(
    spec: &serde_json::value::RawValue,
    what: &str,
) -> Result<T, EntryError> {
    serde_json::from_str(spec.get())
        .map_err(|e| EntryError::Invalid(format!("malformed {what}: {e}")))
}

/// Checks a Rekor v1 proposed entry (`POST /api/v1/log/entries`).
pub fn prepare_v1(json: &[u8]) -> Result<Prepared, EntryError> {
    let proposed: ProposedEntry = signet_model::from_json_slice(json)
        .map_err(|e| EntryError::Invalid(format!("malformed proposed entry: {e}")))?;
    match (proposed.kind.as_str(), proposed.api_version.as_str()) {
        ("hashedrekord", "0.0.1") => hashedrekord_v001(parse_spec(&proposed.spec, "hashedrekord")?),
        ("dsse", "0.0.1") => dsse_v001(parse_spec(&proposed.spec, "dsse")?),
        ("intoto", "0.0.2") => intoto_v002(parse_spec(&proposed.spec, "intoto")?),
        (kind, version) => invalid(format!(
            "unsupported entry kind {kind:?} version {version:?}"
        )),
    }
}

/// Verifies a hashedrekord signature over a digest. An Ed25519 key cannot
/// have signed a digest with pure Ed25519 (which signs whole messages), so,
/// as Rekor does since 2024, it is read as Ed25519ph over a SHA-512 digest.
fn verify_digest_signature(
    signer: &Signer,
    alg: HashAlgorithm,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), EntryError> {
    if sig.is_empty() {
        return invalid("empty signature");
    }
    let verified = if signer.key.kind() == KeyKind::Ed25519 {
        if alg != HashAlgorithm::Sha512 {
            return invalid(format!(
                "an Ed25519 key signs hashedrekord digests as Ed25519ph, which is over \
                 SHA-512, not {alg:?}"
            ));
        }
        signer.key.verify_ed25519ph(digest, sig)
    } else {
        signer.key.verify_prehashed(alg, digest, sig)
    };
    verified.map_err(|e| EntryError::Invalid(format!("signature does not verify: {e}")))
}

fn hashedrekord_v001(spec: HashedRekordV001) -> Result<Prepared, EntryError> {
    let alg = hash_algorithm(&spec.data.hash.algorithm)?;
    let digest = decode_hex_digest(alg, &spec.data.hash.value)?;
    let signer = Signer::from_pem(&spec.signature.public_key.content)?;
    verify_digest_signature(&signer, alg, &digest, &spec.signature.content)?;
    let mut keys = vec![digest_index(
        &spec.data.hash.algorithm,
        &spec.data.hash.value,
    )];
    signer.index_keys(&mut keys);
    let body = HashedRekordV001 {
        data: signet_model::rekor::HashedRekordData {
            hash: HexHash {
                algorithm: spec.data.hash.algorithm,
                value: spec.data.hash.value.to_ascii_lowercase(),
            },
        },
        signature: signet_model::rekor::HashedRekordSignature {
            content: spec.signature.content,
            public_key: signet_model::rekor::PemContent {
                content: Base64(signer.pem().into_bytes()),
            },
        },
    };
    Prepared::new(EntryBody::HashedRekordV001(body), keys, Vec::new())
}

/// Verifies every DSSE signature with one of `signers`; returns, per
/// signature, the index of the signer that verified it.
fn verify_dsse(
    payload_type: &str,
    payload: &[u8],
    sigs: &[Vec<u8>],
    signers: &[Signer],
) -> Result<Vec<usize>, EntryError> {
    let message = pae(payload_type, payload);
    sigs.iter()
        .enumerate()
        .map(|(i, sig)| {
            signers
                .iter()
                .position(|s| s.key.verify(&message, sig).is_ok())
                .ok_or_else(|| {
                    EntryError::Invalid(format!(
                        "DSSE signature {i} is not verified by any verifier"
                    ))
                })
        })
        .collect()
}

fn dsse_v001(spec: DsseSpec) -> Result<Prepared, EntryError> {
    let Some(content) = spec.proposed_content else {
        return invalid("dsse entries must carry proposedContent");
    };
    let env: RawEnvelope = signet_model::from_json_slice(content.envelope.as_bytes())
        .map_err(|e| EntryError::Invalid(format!("malformed DSSE envelope: {e}")))?;
    if env.signatures.is_empty() || env.signatures.len() > MAX_SIGNATURES {
        return invalid(format!(
            "DSSE envelope must have 1 to {MAX_SIGNATURES} signatures"
        ));
    }
    if content.verifiers.is_empty() || content.verifiers.len() > MAX_SIGNATURES {
        return invalid(format!("1 to {MAX_SIGNATURES} verifiers are required"));
    }
    let payload = decode_base64(&env.payload)
        .map_err(|_| EntryError::Invalid("DSSE payload is not base64".into()))?;
    let sigs = env
        .signatures
        .iter()
        .map(|s| decode_base64(&s.sig))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| EntryError::Invalid("DSSE signature is not base64".into()))?;
    if sigs.iter().any(Vec::is_empty) {
        return invalid("empty DSSE signature");
    }
    let signers = content
        .verifiers
        .iter()
        .map(|v| Signer::from_pem(v))
        .collect::<Result<Vec<_>, _>>()?;
    let by_sig = verify_dsse(&env.payload_type, &payload, &sigs, &signers)?;

    let mut signatures: Vec<DsseV001Signature> = sigs
        .iter()
        .zip(&by_sig)
        .map(|(sig, &s)| DsseV001Signature {
            signature: Base64(sig.clone()),
            verifier: Base64(signers[s].pem().into_bytes()),
        })
        .collect();
    // Rekor sorts by the signature's base64 text.
    signatures.sort_by_key(|s| encode_base64(&s.signature));
    signatures.dedup_by(|a, b| a.signature == b.signature);

    let payload_hash = signet_model::encoding::encode_hex(signet_crypto::sha256(&payload));
    let envelope_hash =
        signet_model::encoding::encode_hex(signet_crypto::sha256(content.envelope.as_bytes()));
    let mut keys = vec![
        digest_index("sha256", &payload_hash),
        digest_index("sha256", &envelope_hash),
    ];
    for &s in &by_sig {
        signers[s].index_keys(&mut keys);
    }
    let subjects = intoto_subject_keys(&env.payload_type, &payload);
    let body = DsseV001 {
        envelope_hash: HexHash {
            algorithm: "sha256".into(),
            value: envelope_hash,
        },
        payload_hash: HexHash {
            algorithm: "sha256".into(),
            value: payload_hash,
        },
        signatures,
    };
    Prepared::new(EntryBody::DsseV001(body), keys, subjects)
}

fn intoto_v002(spec: IntotoV002) -> Result<Prepared, EntryError> {
    let content = spec.content;
    let env = content.envelope;
    let Some(hash) = content.hash else {
        return invalid("intoto entries must carry the envelope hash");
    };
    if hash.algorithm != "sha256" {
        return invalid("the envelope hash must be sha256");
    }
    decode_hex_digest(HashAlgorithm::Sha256, &hash.value)?;
    if env.payload_type.is_empty() {
        return invalid("missing payloadType");
    }
    if env.signatures.is_empty() || env.signatures.len() > MAX_SIGNATURES {
        return invalid(format!(
            "envelope must have 1 to {MAX_SIGNATURES} signatures"
        ));
    }
    // Rekor's intoto fields hold the base64 *text* of the DSSE fields.
    let text_field = |b: &Base64, what: &str| -> Result<Vec<u8>, EntryError> {
        std::str::from_utf8(b)
            .ok()
            .and_then(|t| decode_base64(t).ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| EntryError::Invalid(format!("{what} is not base64 text")))
    };
    let Some(payload_field) = env.payload.as_ref() else {
        return invalid("missing envelope payload");
    };
    let payload = text_field(payload_field, "payload")?;
    let mut signatures = Vec::with_capacity(env.signatures.len());
    let mut keys = Vec::new();
    let message = pae(&env.payload_type, &payload);
    for (i, s) in env.signatures.iter().enumerate() {
        let sig = text_field(&s.sig, "signature")?;
        let signer = Signer::from_pem(&s.public_key)?;
        signer
            .key
            .verify(&message, &sig)
            .map_err(|_| EntryError::Invalid(format!("DSSE signature {i} does not verify")))?;
        signer.index_keys(&mut keys);
        signatures.push(IntotoSignature {
            sig: Base64(encode_base64(&sig).into_bytes()),
            public_key: Base64(signer.pem().into_bytes()),
            keyid: s.keyid.clone().filter(|k| !k.is_empty()),
        });
    }
    let payload_hash = signet_model::encoding::encode_hex(signet_crypto::sha256(&payload));
    keys.push(digest_index("sha256", &payload_hash));
    let subjects = intoto_subject_keys(&env.payload_type, &payload);
    let body = IntotoV002 {
        content: IntotoContent {
            envelope: IntotoEnvelope {
                payload: Some(Base64(encode_base64(&payload).into_bytes())),
                payload_type: env.payload_type,
                signatures,
            },
            hash: Some(HexHash {
                algorithm: "sha256".into(),
                value: hash.value.to_ascii_lowercase(),
            }),
            payload_hash: Some(HexHash {
                algorithm: "sha256".into(),
                value: payload_hash,
            }),
        },
    };
    Prepared::new(EntryBody::IntotoV002(body), keys, subjects)
}

// ----- Rekor v2 (rekor-tiles) CreateEntryRequest ---------------------------

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateEntryRequest {
    hashed_rekord_request_v002: Option<HashedRekordRequestV002>,
    dsse_request_v002: Option<DsseRequestV002>,
}

#[derive(serde::Deserialize)]
struct HashedRekordRequestV002 {
    digest: Base64,
    signature: SignatureV002,
}

#[derive(serde::Deserialize)]
struct DsseRequestV002 {
    envelope: signet_model::dsse::Envelope,
    #[serde(default)]
    verifiers: Vec<Verifier>,
}

/// The signer a Rekor v2 verifier names; `keyDetails`, when given, must be
/// the key's own (the entry records the key's, and verifiers read it).
fn signer_from_v2(v: &Verifier) -> Result<Signer, EntryError> {
    let signer = match (&v.public_key, &v.x509_certificate) {
        (Some(k), None) => Signer::from_spki_der(&k.raw_bytes)?,
        (None, Some(c)) => Signer::from_cert_der(&c.raw_bytes)?,
        _ => return invalid("a verifier must have exactly one of publicKey and x509Certificate"),
    };
    let details = signer.key_details()?;
    match v.key_details.as_deref() {
        Some(given) if given != details => invalid(format!(
            "keyDetails {given} does not match the verifier's key ({details})"
        )),
        _ => Ok(signer),
    }
}

/// Checks a Rekor v2 `CreateEntryRequest` (`POST /api/v2/log/entries`).
pub fn prepare_v2(json: &[u8]) -> Result<Prepared, EntryError> {
    let req: CreateEntryRequest = signet_model::from_json_slice(json)
        .map_err(|e| EntryError::Invalid(format!("malformed CreateEntryRequest: {e}")))?;
    match (req.hashed_rekord_request_v002, req.dsse_request_v002) {
        (Some(h), None) => hashedrekord_v002(h),
        (None, Some(d)) => dsse_v002(d),
        _ => invalid("exactly one of hashedRekordRequestV002 and dsseRequestV002 is required"),
    }
}

fn hashedrekord_v002(req: HashedRekordRequestV002) -> Result<Prepared, EntryError> {
    let signer = signer_from_v2(&req.signature.verifier)?;
    // The digest is of the hash the key details name (as rekor-tiles).
    let Some(hash) = signer.key.kind().default_scheme().hash() else {
        return invalid(
            "Ed25519 keys sign hashedrekord digests as Ed25519ph, which this log takes \
             through /api/v1/log/entries (hashedrekord 0.0.1) only; use that, or a dsse entry",
        );
    };
    if req.digest.len() != hash.output_len() {
        return invalid(format!(
            "digest is {} bytes; the key signs {} digests ({} bytes)",
            req.digest.len(),
            hash.proto_name(),
            hash.output_len()
        ));
    }
    verify_digest_signature(&signer, hash, &req.digest, &req.signature.content)?;
    let mut keys = vec![digest_index(
        hash.rekor_name(),
        &signet_model::encoding::encode_hex(&req.digest.0),
    )];
    signer.index_keys(&mut keys);
    let body = HashedRekordV002 {
        data: HashOutput {
            algorithm: hash.proto_name().into(),
            digest: req.digest,
        },
        signature: SignatureV002 {
            content: req.signature.content,
            verifier: signer.to_v2()?,
        },
    };
    Prepared::new(EntryBody::HashedRekordV002(body), keys, Vec::new())
}

fn dsse_v002(req: DsseRequestV002) -> Result<Prepared, EntryError> {
    let env = req.envelope;
    if env.signatures.is_empty() || env.signatures.len() > MAX_SIGNATURES {
        return invalid(format!(
            "DSSE envelope must have 1 to {MAX_SIGNATURES} signatures"
        ));
    }
    if req.verifiers.is_empty() || req.verifiers.len() > MAX_SIGNATURES {
        return invalid(format!("1 to {MAX_SIGNATURES} verifiers are required"));
    }
    let signers = req
        .verifiers
        .iter()
        .map(signer_from_v2)
        .collect::<Result<Vec<_>, _>>()?;
    let sigs: Vec<Vec<u8>> = env.signatures.iter().map(|s| s.sig.0.clone()).collect();
    if sigs.iter().any(Vec::is_empty) {
        return invalid("empty DSSE signature");
    }
    let by_sig = verify_dsse(&env.payload_type, &env.payload, &sigs, &signers)?;
    let mut signatures: Vec<SignatureV002> = sigs
        .iter()
        .zip(&by_sig)
        .map(|(sig, &s)| {
            Ok(SignatureV002 {
                content: Base64(sig.clone()),
                verifier: signers[s].to_v2()?,
            })
        })
        .collect::<Result<_, EntryError>>()?;
    signatures.sort_by(|a, b| a.content.0.cmp(&b.content.0));
    signatures.dedup_by(|a, b| a.content == b.content);
    let payload_hash = signet_crypto::sha256(&env.payload);
    let mut keys = vec![digest_index(
        "sha256",
        &signet_model::encoding::encode_hex(payload_hash),
    )];
    for &s in &by_sig {
        signers[s].index_keys(&mut keys);
    }
    let subjects = intoto_subject_keys(&env.payload_type, &env.payload);
    let body = DsseV002 {
        payload_hash: HashOutput {
            algorithm: "SHA2_256".into(),
            digest: Base64(payload_hash.to_vec()),
        },
        signatures,
    };
    Prepared::new(EntryBody::DsseV002(body), keys, subjects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(digests: &[serde_json::Value]) -> Vec<u8> {
        let subjects: Vec<_> = digests
            .iter()
            .map(|d| serde_json::json!({"name": "", "digest": d}))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": subjects,
            "predicateType": "https://example.com/v1",
        }))
        .unwrap()
    }

    fn sha256_hex(i: usize) -> String {
        signet_model::encoding::encode_hex(signet_crypto::sha256(&i.to_be_bytes()))
    }

    #[test]
    fn subject_keys_stop_at_the_cap_in_statement_order() {
        let digests: Vec<_> = (0..MAX_SUBJECT_KEYS + 100)
            .map(|i| serde_json::json!({"sha256": sha256_hex(i)}))
            .collect();
        let keys = intoto_subject_keys(PAYLOAD_TYPE, &statement(&digests));
        assert_eq!(keys.len(), MAX_SUBJECT_KEYS);
        assert_eq!(keys[0], format!("sha256:{}", sha256_hex(0)));
        assert_eq!(
            keys[MAX_SUBJECT_KEYS - 1],
            format!("sha256:{}", sha256_hex(MAX_SUBJECT_KEYS - 1))
        );
        // Repeats do not use up the budget.
        let repeated: Vec<_> = (0..2000)
            .map(|i| serde_json::json!({"sha256": sha256_hex(i % 3)}))
            .collect();
        assert_eq!(
            intoto_subject_keys(PAYLOAD_TYPE, &statement(&repeated)).len(),
            3
        );
        // Another payload type is not read as a statement.
        assert!(intoto_subject_keys("text/plain", &statement(&digests)).is_empty());
    }

    #[test]
    fn only_searchable_digests_become_keys() {
        let hex = sha256_hex(7);
        for (alg, value) in [
            ("email", hex.as_str()),
            ("key", hex.as_str()),
            ("uri", hex.as_str()),
            ("sha1", &hex[..40]),
            ("sha256", &hex[..62]),
            ("sha256", "zz"),
            ("sha512", hex.as_str()),
        ] {
            assert_eq!(searchable_digest(alg, value), None, "{alg}:{value}");
        }
        assert_eq!(
            searchable_digest("SHA256", &hex.to_uppercase()),
            Some(format!("sha256:{hex}"))
        );
    }

    #[test]
    fn own_keys_are_all_indexed_or_the_entry_is_refused() {
        let body = EntryBody::HashedRekordV001(signet_model::rekor::HashedRekordV001 {
            data: signet_model::rekor::HashedRekordData {
                hash: signet_model::rekor::HexHash {
                    algorithm: "sha256".into(),
                    value: sha256_hex(1),
                },
            },
            signature: signet_model::rekor::HashedRekordSignature {
                content: signet_model::encoding::Base64(vec![1]),
                public_key: signet_model::rekor::PemContent {
                    content: signet_model::encoding::Base64(vec![2]),
                },
            },
        });
        let own: Vec<String> = (0..MAX_INDEX_KEYS).map(|i| format!("email:{i}")).collect();
        let subjects: Vec<String> = (0..10)
            .map(|i| format!("sha256:{}", sha256_hex(i)))
            .collect();
        let prepared = Prepared::new(body.clone(), own.clone(), subjects).unwrap();
        assert_eq!(prepared.index_keys.len(), MAX_INDEX_KEYS + 10);
        let mut too_many = own;
        too_many.push("email:one-more".into());
        assert!(matches!(
            Prepared::new(body, too_many, Vec::new()),
            Err(EntryError::Invalid(m)) if m.contains("search keys")
        ));
    }
}
