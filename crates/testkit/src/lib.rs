//! Building blocks of a synthetic Sigstore world, made in memory with fresh
//! keys on every run: ECDSA keys, X.509 certificates (a Fulcio-like CA with
//! a P-384 root and intermediate, code-signing leaves with embedded SCTs),
//! RFC 6962 SCT lists, Rekor v1 log entries (a small Merkle tree, a SET and
//! a signed checkpoint) and trusted roots naming all of them.
//!
//! Shared by the test suites of signet-verify and signet-policy, each of
//! which composes its own world from these pieces. Everything here is built
//! from the formats' building blocks (x509-cert, der, aws-lc-rs), never from
//! signet's own issuing code, so the world stays independent of the code
//! under test.

use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING,
};
use der::asn1::{BitString, Ia5String, ObjectIdentifier, OctetString, Utf8StringRef};
use der::Encode;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::TbsCertificate;

use signet_crypto::{sha256, PublicKey};
use signet_model::bundle::{
    BundleVersion, Checkpoint as CheckpointEnvelope, InclusionPromise, InclusionProof, KindVersion,
    LogId, PublicKeyIdentifier, TransparencyLogEntry, VerificationMaterial, X509Certificate,
    X509CertificateChain,
};
use signet_model::dsse::Envelope;
use signet_model::encoding::{encode_base64, Base64, Int64, Timestamp};
use signet_model::rekor::{DsseV001, DsseV001Signature, EntryBody, HexHash};
use signet_model::trust_root::{
    CertChain, CertificateAuthority, DistinguishedName, PublicKey as TrustedKey, TimeRange,
    TransparencyLogInstance, TrustedRoot, MEDIA_TYPE_V0_1,
};
use signet_tlog::checkpoint::Checkpoint;
use signet_tlog::merkle;
use signet_tlog::note::{Note, NoteSignature};

pub const YEAR: i64 = 365 * 24 * 3600;

/// Object identifiers the world's certificates use.
pub mod oids {
    pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
    pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
    pub const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
    pub const SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";
    /// Fulcio's extensions.
    pub const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
    pub const GITHUB_WORKFLOW_TRIGGER: &str = "1.3.6.1.4.1.57264.1.2";
    pub const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
    pub const BUILD_SIGNER_URI: &str = "1.3.6.1.4.1.57264.1.9";
    pub const SOURCE_REPOSITORY_URI: &str = "1.3.6.1.4.1.57264.1.12";
    pub const SOURCE_REPOSITORY_REF: &str = "1.3.6.1.4.1.57264.1.14";
    pub const BUILD_TRIGGER: &str = "1.3.6.1.4.1.57264.1.20";
}

// ---------------------------------------------------------------------------
// Keys.

/// An ECDSA key pair (P-256 or P-384) with its DER SubjectPublicKeyInfo.
pub struct Key {
    pair: EcdsaKeyPair,
    pub spki: Vec<u8>,
    /// The X.509 signatureAlgorithm of certificates this key signs.
    sig_oid: &'static str,
}

impl Key {
    fn generate(alg: &'static EcdsaSigningAlgorithm, sig_oid: &'static str) -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("keygen");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("pkcs8");
        let spki = pair.public_key().as_der().expect("spki").as_ref().to_vec();
        Key {
            pair,
            spki,
            sig_oid,
        }
    }

    pub fn p256() -> Key {
        Key::generate(&ECDSA_P256_SHA256_ASN1_SIGNING, oids::ECDSA_SHA256)
    }

    pub fn p384() -> Key {
        Key::generate(&ECDSA_P384_SHA384_ASN1_SIGNING, oids::ECDSA_SHA384)
    }

    /// An ASN.1 DER ECDSA signature over `msg` with the curve's hash.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), msg)
            .expect("sign")
            .as_ref()
            .to_vec()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::from_spki_der(&self.spki).expect("own key parses")
    }

    /// SHA-256 of the SPKI: a log's ID.
    pub fn log_id(&self) -> [u8; 32] {
        sha256(&self.spki)
    }

    pub fn pem(&self) -> String {
        pem_of("PUBLIC KEY", &self.spki)
    }
}

pub fn pem_of(tag: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(tag, der.to_vec()))
}

// ---------------------------------------------------------------------------
// Certificates.

pub fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

pub fn ext(oid_str: &str, critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid(oid_str),
        critical,
        extn_value: OctetString::new(value).expect("octets"),
    }
}

/// The DER of a UTF8String: the value of Fulcio's v2 extensions.
pub fn utf8_der(s: &str) -> Vec<u8> {
    Utf8StringRef::new(s).expect("utf8").to_der().expect("der")
}

pub fn name(cn: &str, org: &str) -> Name {
    Name::from_str(&format!("CN={cn},O={org}")).expect("name")
}

/// UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5).
pub fn time(unix: i64) -> Time {
    let secs = u64::try_from(unix).expect("positive time");
    let d = std::time::Duration::from_secs(secs);
    if unix < 2_524_608_000 {
        Time::UtcTime(der::asn1::UtcTime::from_unix_duration(d).expect("utc"))
    } else {
        Time::GeneralTime(der::asn1::GeneralizedTime::from_unix_duration(d).expect("gt"))
    }
}

pub fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("rng");
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::new(&bytes).expect("serial")
}

pub fn tbs(
    subject: Name,
    issuer: &Name,
    subject_key: &Key,
    issuer_key: &Key,
    serial: SerialNumber,
    (not_before, not_after): (i64, i64),
    exts: Vec<Extension>,
) -> TbsCertificate {
    TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: serial,
        signature: AlgorithmIdentifierOwned {
            oid: oid(issuer_key.sig_oid),
            parameters: None,
        },
        issuer: issuer.clone(),
        validity: Validity {
            not_before: time(not_before),
            not_after: time(not_after),
        },
        subject,
        subject_public_key_info: SubjectPublicKeyInfoOwned::try_from(&subject_key.spki[..])
            .expect("spki"),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: if exts.is_empty() { None } else { Some(exts) },
    }
}

/// Signs `tbs` with `key`; returns the certificate's DER.
pub fn sign_cert(tbs: TbsCertificate, key: &Key) -> Vec<u8> {
    let tbs_der = tbs.to_der().expect("tbs der");
    let signature = key.sign(&tbs_der);
    x509_cert::Certificate {
        signature_algorithm: tbs.signature.clone(),
        tbs_certificate: tbs,
        signature: BitString::from_bytes(&signature).expect("bits"),
    }
    .to_der()
    .expect("cert der")
}

/// A CA's basic constraints and key usage.
pub fn ca_exts(path_len: u8) -> Vec<Extension> {
    let bc = BasicConstraints {
        ca: true,
        path_len_constraint: Some(path_len),
    };
    let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    vec![
        ext("2.5.29.19", true, bc.to_der().expect("bc")),
        ext("2.5.29.15", true, ku.to_der().expect("ku")),
    ]
}

/// Who a CA is: its organization (also the trust root's operator), the
/// common names of its root and intermediate, and its URL.
#[derive(Debug, Clone, Copy)]
pub struct CaProfile {
    pub org: &'static str,
    pub root_cn: &'static str,
    pub intermediate_cn: &'static str,
    pub uri: &'static str,
}

/// A Fulcio-like CA: a self-signed P-384 root and a P-384 intermediate
/// under it.
pub struct Ca {
    pub profile: CaProfile,
    pub root_key: Key,
    pub root_der: Vec<u8>,
    pub intermediate_key: Key,
    pub intermediate_der: Vec<u8>,
    pub intermediate_name: Name,
}

impl Ca {
    /// Root and intermediate both valid for `validity`. Two `Ca`s made
    /// with the same profile differ only in keys (and serials).
    pub fn new(profile: CaProfile, validity: (i64, i64)) -> Ca {
        let root_key = Key::p384();
        let intermediate_key = Key::p384();
        let root_name = name(profile.root_cn, profile.org);
        let intermediate_name = name(profile.intermediate_cn, profile.org);
        let root_der = sign_cert(
            tbs(
                root_name.clone(),
                &root_name,
                &root_key,
                &root_key,
                random_serial(),
                validity,
                ca_exts(1),
            ),
            &root_key,
        );
        let intermediate_der = sign_cert(
            tbs(
                intermediate_name.clone(),
                &root_name,
                &intermediate_key,
                &root_key,
                random_serial(),
                validity,
                ca_exts(0),
            ),
            &root_key,
        );
        Ca {
            profile,
            root_key,
            root_der,
            intermediate_key,
            intermediate_der,
            intermediate_name,
        }
    }

    /// Issues a leaf for `leaf_key` with `exts`, under a fresh serial. The
    /// leaf is built once without the SCT extension (the precertificate
    /// TBS a CT log signs), given to `sct`, then again with identical
    /// fields and the SCT list `sct` returns (if any) appended last.
    pub fn issue(
        &self,
        leaf_key: &Key,
        validity: (i64, i64),
        mut exts: Vec<Extension>,
        sct: impl FnOnce(&TbsCertificate) -> Option<Vec<u8>>,
    ) -> Vec<u8> {
        let serial = random_serial();
        let make = |exts: Vec<Extension>| {
            tbs(
                Name::default(),
                &self.intermediate_name,
                leaf_key,
                &self.intermediate_key,
                serial.clone(),
                validity,
                exts,
            )
        };
        if let Some(list) = sct(&make(exts.clone())) {
            let value = OctetString::new(list)
                .expect("octets")
                .to_der()
                .expect("der");
            exts.push(ext(oids::SCT_LIST, false, value));
        }
        sign_cert(make(exts), &self.intermediate_key)
    }
}

/// A keyless code-signing leaf's extensions as Fulcio writes them: key
/// usage, code-signing EKU, the SAN URI, and the OIDC issuer (v1 raw and
/// v2 UTF8String). Callers append further claims.
pub fn code_signing_exts(san_uri: &str, oidc_issuer: &str) -> Vec<Extension> {
    let san = SubjectAltName(vec![GeneralName::UniformResourceIdentifier(
        Ia5String::new(san_uri).expect("ia5"),
    )]);
    vec![
        ext(
            "2.5.29.15",
            true,
            KeyUsage(KeyUsages::DigitalSignature.into())
                .to_der()
                .expect("ku"),
        ),
        ext(
            "2.5.29.37",
            false,
            ExtendedKeyUsage(vec![oid(oids::CODE_SIGNING)])
                .to_der()
                .expect("eku"),
        ),
        ext("2.5.29.17", true, san.to_der().expect("san")),
        ext(oids::ISSUER_V1, false, oidc_issuer.as_bytes().to_vec()),
        ext(oids::ISSUER_V2, false, utf8_der(oidc_issuer)),
    ]
}

/// The TLS-encoded SCT list (RFC 6962 §3.3) with one SCT by `signer` at
/// `timestamp_ms`, claiming to be from the log `log_id`, over the
/// precertificate `precert_tbs` issued by the key `issuer_spki`.
pub fn sct_list(
    log_id: &[u8; 32],
    signer: &Key,
    issuer_spki: &[u8],
    precert_tbs: &[u8],
    timestamp_ms: u64,
) -> Vec<u8> {
    // The signed data: digitally-signed struct of RFC 6962 §3.2.
    let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
    signed.extend_from_slice(&timestamp_ms.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes()); // precert_entry
    signed.extend_from_slice(&sha256(issuer_spki));
    let len = u32::try_from(precert_tbs.len()).expect("tbs size");
    signed.extend_from_slice(&len.to_be_bytes()[1..]);
    signed.extend_from_slice(precert_tbs);
    signed.extend_from_slice(&0u16.to_be_bytes()); // no CT extensions
    let signature = signer.sign(&signed);

    let mut sct = vec![0u8]; // v1
    sct.extend_from_slice(log_id);
    sct.extend_from_slice(&timestamp_ms.to_be_bytes());
    sct.extend_from_slice(&0u16.to_be_bytes());
    sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
    sct.extend_from_slice(&u16::try_from(signature.len()).expect("sig").to_be_bytes());
    sct.extend_from_slice(&signature);

    let mut list = u16::try_from(sct.len())
        .expect("sct")
        .to_be_bytes()
        .to_vec();
    list.extend_from_slice(&sct);
    let mut out = u16::try_from(list.len())
        .expect("list")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(&list);
    out
}

// ---------------------------------------------------------------------------
// Signed content and bundles.

/// The dsse 0.0.1 entry body of `envelope`, naming `verifier_pem` (a
/// certificate or public key) as each signature's verifier.
pub fn dsse_body(envelope: &Envelope, verifier_pem: &str) -> EntryBody {
    let envelope_json = serde_json::to_value(envelope).expect("envelope");
    EntryBody::DsseV001(DsseV001 {
        envelope_hash: HexHash {
            algorithm: "sha256".into(),
            value: signet_model::encoding::encode_hex(sha256(
                signet_model::canonical::to_string(&envelope_json).as_bytes(),
            )),
        },
        payload_hash: HexHash {
            algorithm: "sha256".into(),
            value: signet_model::encoding::encode_hex(sha256(&envelope.payload.0)),
        },
        signatures: envelope
            .signatures
            .iter()
            .map(|s| DsseV001Signature {
                signature: s.sig.clone(),
                verifier: Base64(verifier_pem.as_bytes().to_vec()),
            })
            .collect(),
    })
}

/// A bundle's verification material: with a leaf, the leaf (v0.3) or the
/// leaf and `intermediate_der` (v0.1, v0.2); without, a public key hint
/// for `signer_key`.
pub fn verification_material(
    version: BundleVersion,
    leaf_der: Option<&[u8]>,
    intermediate_der: &[u8],
    signer_key: &Key,
    entry: TransparencyLogEntry,
) -> VerificationMaterial {
    VerificationMaterial {
        public_key: leaf_der.is_none().then(|| PublicKeyIdentifier {
            hint: Some(encode_base64(&signer_key.log_id())),
        }),
        x509_certificate_chain: match (leaf_der, version) {
            (Some(leaf), BundleVersion::V0_1 | BundleVersion::V0_2) => Some(X509CertificateChain {
                certificates: vec![
                    X509Certificate {
                        raw_bytes: Base64(leaf.to_vec()),
                    },
                    X509Certificate {
                        raw_bytes: Base64(intermediate_der.to_vec()),
                    },
                ],
            }),
            _ => None,
        },
        certificate: match (leaf_der, version) {
            (Some(leaf), BundleVersion::V0_3) => Some(X509Certificate {
                raw_bytes: Base64(leaf.to_vec()),
            }),
            _ => None,
        },
        tlog_entries: vec![entry],
        timestamp_verification_data: None,
    }
}

// ---------------------------------------------------------------------------
// The log.

/// How an entry is logged by a Rekor v1-like log: in a Merkle tree of
/// `tree_size` leaves at `tree_index` (the others filler), with a SET over
/// the global `log_index` and a checkpoint signed as a note. Every other
/// field is a way to get the entry wrong while it is still signed.
pub struct LogEntry<'a> {
    /// The log's key: signs the SET and the checkpoint, names the log.
    pub key: &'a Key,
    /// The log's host: the checkpoint's origin's prefix and signer name.
    pub host: &'a str,
    /// The checkpoint origin's tree ID.
    pub tree_id: &'a str,
    pub tree_size: u64,
    pub tree_index: u64,
    /// The global index the SET signs (and the entry carries, with a SET).
    pub log_index: u64,
    pub integrated_time: i64,
    pub with_promise: bool,
    pub with_proof: bool,
    /// The integrated time the SET signs; `None` is the entry's.
    pub set_time: Option<i64>,
    /// Sign the SET with this key rather than the log's.
    pub set_key: Option<&'a Key>,
    /// Sign the checkpoint with this key (under the log's name and key
    /// hint) rather than the log's.
    pub checkpoint_key: Option<&'a Key>,
    pub checkpoint_origin: Option<String>,
    pub checkpoint_root: Option<[u8; 32]>,
    /// The whole checkpoint text (signed as given).
    pub checkpoint_text: Option<String>,
    /// The tree size the proof and the checkpoint claim.
    pub claimed_tree_size: Option<u64>,
}

impl<'a> LogEntry<'a> {
    /// A valid entry at `integrated_time`, at index 3 of a tree of 7 (so
    /// its proof has several hashes), with a SET and a proof.
    pub fn new(key: &'a Key, host: &'a str, tree_id: &'a str, integrated_time: i64) -> Self {
        LogEntry {
            key,
            host,
            tree_id,
            tree_size: 7,
            tree_index: 3,
            log_index: 3,
            integrated_time,
            with_promise: true,
            with_proof: true,
            set_time: None,
            set_key: None,
            checkpoint_key: None,
            checkpoint_origin: None,
            checkpoint_root: None,
            checkpoint_text: None,
            claimed_tree_size: None,
        }
    }

    /// Logs `body` (an entry of `kind` and `version`).
    pub fn log(&self, kind: &str, version: &str, body: Vec<u8>) -> TransparencyLogEntry {
        let log_id = self.key.log_id();
        let leaves: Vec<merkle::Hash> = (0..self.tree_size)
            .map(|i| {
                if i == self.tree_index {
                    merkle::leaf_hash(&body)
                } else {
                    merkle::leaf_hash(format!("another entry, number {i}").as_bytes())
                }
            })
            .collect();
        let root = merkle::root(&leaves);
        let hashes = merkle::inclusion_proof(&leaves, self.tree_index).expect("proof");
        assert!(!hashes.is_empty());
        let tree_size = self.claimed_tree_size.unwrap_or(self.tree_size);

        let text = self.checkpoint_text.clone().unwrap_or_else(|| {
            let origin = self
                .checkpoint_origin
                .clone()
                .unwrap_or_else(|| format!("{} - {}", self.host, self.tree_id));
            Checkpoint::new(
                origin,
                tree_size,
                self.checkpoint_root.unwrap_or(root),
                vec![],
            )
            .expect("checkpoint")
            .to_text()
        });
        let note_key = self.checkpoint_key.unwrap_or(self.key);
        let hint = [log_id[0], log_id[1], log_id[2], log_id[3]];
        let note = Note::new(
            text.clone(),
            vec![NoteSignature::new(self.host, hint, note_key.sign(text.as_bytes())).expect("sig")],
        )
        .expect("note");

        let set_payload = serde_json::json!({
            "body": encode_base64(&body),
            "integratedTime": self.set_time.unwrap_or(self.integrated_time),
            "logID": signet_model::encoding::encode_hex(log_id),
            "logIndex": self.log_index,
        });
        let set_key = self.set_key.unwrap_or(self.key);
        let set = set_key.sign(signet_model::canonical::to_string(&set_payload).as_bytes());

        TransparencyLogEntry {
            // Sharded Rekor v1 entries carry a global index (signed by the
            // SET) unlike the proof's; without a SET (Rekor v2) the two are
            // one.
            log_index: Int64(if self.with_promise {
                self.log_index
            } else {
                self.tree_index
            }),
            log_id: LogId {
                key_id: Base64(log_id.to_vec()),
            },
            kind_version: KindVersion {
                kind: kind.to_string(),
                version: version.to_string(),
            },
            integrated_time: Some(Int64(
                u64::try_from(self.integrated_time).expect("positive time"),
            )),
            inclusion_promise: self.with_promise.then_some(InclusionPromise {
                signed_entry_timestamp: Base64(set),
            }),
            inclusion_proof: self.with_proof.then(|| InclusionProof {
                log_index: Int64(self.tree_index),
                root_hash: Base64(root.to_vec()),
                tree_size: Int64(tree_size),
                hashes: hashes.iter().map(|h| Base64(h.to_vec())).collect(),
                checkpoint: Some(CheckpointEnvelope {
                    envelope: note.serialize(),
                }),
            }),
            canonicalized_body: Base64(body),
        }
    }
}

// ---------------------------------------------------------------------------
// The trusted root.

/// A validity window in Unix seconds: (start, end), either open.
pub type Window = (Option<i64>, Option<i64>);

pub fn range((start, end): Window) -> Option<TimeRange> {
    let ts = |t: i64| Timestamp::from_unix(t).expect("timestamp");
    Some(TimeRange {
        start: start.map(ts),
        end: end.map(ts),
    })
}

/// A P-256 transparency log (Rekor or CT) at `url`.
pub fn log_instance(
    url: &str,
    key: &Key,
    valid_for: Window,
    operator: &str,
) -> TransparencyLogInstance {
    TransparencyLogInstance {
        base_url: url.to_string(),
        hash_algorithm: Some("SHA2_256".into()),
        public_key: TrustedKey {
            raw_bytes: Some(Base64(key.spki.clone())),
            key_details: Some("PKIX_ECDSA_P256_SHA_256".into()),
            valid_for: range(valid_for),
        },
        log_id: LogId {
            key_id: Base64(key.log_id().to_vec()),
        },
        checkpoint_key_id: None,
        operator: Some(operator.into()),
    }
}

/// A trusted root naming `ca`, one Rekor log and one CT log, each as
/// (URL, key, validity); all operated by the CA's organization.
pub fn trusted_root(
    ca: &Ca,
    ca_valid_for: Window,
    (rekor_url, rekor_key, tlog_valid_for): (&str, &Key, Window),
    (ct_url, ct_key, ctlog_valid_for): (&str, &Key, Window),
) -> TrustedRoot {
    let operator = ca.profile.org;
    TrustedRoot {
        media_type: MEDIA_TYPE_V0_1.to_string(),
        tlogs: vec![log_instance(rekor_url, rekor_key, tlog_valid_for, operator)],
        certificate_authorities: vec![CertificateAuthority {
            subject: Some(DistinguishedName {
                organization: Some(operator.into()),
                common_name: Some(ca.profile.intermediate_cn.into()),
            }),
            uri: Some(ca.profile.uri.into()),
            cert_chain: CertChain::from_der([&ca.intermediate_der, &ca.root_der]),
            valid_for: range(ca_valid_for),
            operator: Some(operator.into()),
        }],
        ctlogs: vec![log_instance(ct_url, ct_key, ctlog_valid_for, operator)],
        timestamp_authorities: vec![],
    }
}
