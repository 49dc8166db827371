//! A complete, valid, synthetic Sigstore world, built in memory with fresh
//! keys on every run: a Fulcio-like CA (P-384 root and intermediate), a
//! keyless leaf with an embedded SCT from a synthetic CT log, a Rekor v1
//! log (P-256) that signs SETs and checkpoints over a small Merkle tree, a
//! trusted root naming all of them, and a bundle.
//!
//! A [`Spec`] describes the world; its defaults are valid, and each field
//! is one thing a test can get wrong *while everything downstream of it is
//! still signed validly* (the certificate is re-issued, the log entry
//! re-logged, the SET and checkpoint re-signed). Defects that need no
//! re-signing (a flipped proof hash, an unknown media type) are made by
//! editing the built [`World`]'s bundle, trusted root or policy directly.

#![allow(dead_code)]

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
    Bundle, BundleVersion, Checkpoint as CheckpointEnvelope, HashOutput, InclusionPromise,
    InclusionProof, KindVersion, LogId, MessageSignature, PublicKeyIdentifier,
    TransparencyLogEntry, VerificationMaterial, X509Certificate, X509CertificateChain,
};
use signet_model::dsse::{Envelope, Signature as DsseSignature};
use signet_model::encoding::{encode_base64, Base64, Int64, Timestamp};
use signet_model::intoto;
use signet_model::rekor::{
    DsseV001, DsseV001Signature, EntryBody, HashedRekordData, HashedRekordSignature,
    HashedRekordV001, HexHash, PemContent,
};
use signet_model::trust_root::{
    CertChain, CertificateAuthority, DistinguishedName, PublicKey as TrustedKey, TimeRange,
    TransparencyLogInstance, TrustedRoot, MEDIA_TYPE_V0_1,
};
use signet_tlog::checkpoint::Checkpoint;
use signet_tlog::merkle;
use signet_tlog::note::{Note, NoteSignature};
use signet_verify::{
    Artifact, Claim, IdentityPolicy, Matcher, Options, SignerPolicy, TrustMaterial, Verified,
    Verifier, VerifyError,
};

// ---------------------------------------------------------------------------
// Fixed facts of the world.

/// The signing time: the integrated time of the log entry.
pub const T0: i64 = 1_700_000_000;
/// The leaf is valid for ten minutes, from shortly before signing.
pub const LEAF_NOT_BEFORE: i64 = T0 - 30;
pub const LEAF_NOT_AFTER: i64 = LEAF_NOT_BEFORE + 600;
/// "Now" for verification: an hour after signing.
pub const NOW: i64 = T0 + 3600;
const YEAR: i64 = 365 * 24 * 3600;
/// Trust-root validity starts a year before signing.
pub const TRUST_START: i64 = T0 - YEAR;

pub const REKOR_HOST: &str = "rekor.signet.test";
pub const REKOR_TREE_ID: &str = "1193050959916656506";
pub const CT_URL: &str = "https://ctfe.signet.test/test";
pub const FULCIO_URL: &str = "https://fulcio.signet.test";
/// The Merkle tree the entry is logged in: `TREE_SIZE` leaves, the entry at
/// `TREE_INDEX` (so its proof has several hashes). The entry's global log
/// index differs from its index in the tree, as with Rekor's shards.
pub const TREE_SIZE: u64 = 7;
pub const TREE_INDEX: u64 = 3;
pub const LOG_INDEX: u64 = 100_000_000 + TREE_INDEX;

pub const SAN_URI: &str =
    "https://github.com/signet-dev/signet/.github/workflows/release.yml@refs/heads/main";
pub const OIDC_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const SOURCE_REPO: &str = "https://github.com/signet-dev/signet";
pub const ARTIFACT: &[u8] = b"signet release tarball, version 1.2.3\n";

const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const OID_GITHUB_WORKFLOW_TRIGGER: &str = "1.3.6.1.4.1.57264.1.2";
const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
const OID_SOURCE_REPOSITORY_URI: &str = "1.3.6.1.4.1.57264.1.12";
const OID_BUILD_TRIGGER: &str = "1.3.6.1.4.1.57264.1.20";
const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

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
        Key::generate(&ECDSA_P256_SHA256_ASN1_SIGNING, OID_ECDSA_SHA256)
    }

    pub fn p384() -> Key {
        Key::generate(&ECDSA_P384_SHA384_ASN1_SIGNING, OID_ECDSA_SHA384)
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

fn pem_of(tag: &str, der: &[u8]) -> String {
    pem::encode(&pem::Pem::new(tag, der.to_vec()))
}

// ---------------------------------------------------------------------------
// Certificates.

fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

fn ext(oid_str: &str, critical: bool, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid(oid_str),
        critical,
        extn_value: OctetString::new(value).expect("octets"),
    }
}

fn utf8_der(s: &str) -> Vec<u8> {
    Utf8StringRef::new(s).expect("utf8").to_der().expect("der")
}

fn name(cn: &str) -> Name {
    Name::from_str(&format!("CN={cn},O=signet-test")).expect("name")
}

fn time(unix: i64) -> Time {
    let secs = u64::try_from(unix).expect("positive time");
    Time::UtcTime(
        der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(secs)).expect("utc"),
    )
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("rng");
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::new(&bytes).expect("serial")
}

fn tbs(
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
fn sign_cert(tbs: TbsCertificate, key: &Key) -> Vec<u8> {
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

fn ca_exts(path_len: u8) -> Vec<Extension> {
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

/// A CA: a self-signed P-384 root and a P-384 intermediate under it.
pub struct Ca {
    pub root_key: Key,
    pub root_der: Vec<u8>,
    pub intermediate_key: Key,
    pub intermediate_der: Vec<u8>,
    pub intermediate_name: Name,
}

impl Ca {
    /// Root and intermediate valid from a year before signing for ten
    /// years. Two `Ca`s made with the same names differ only in keys.
    pub fn new() -> Ca {
        let root_key = Key::p384();
        let intermediate_key = Key::p384();
        let root_name = name("signet-test root");
        let intermediate_name = name("signet-test intermediate");
        let validity = (TRUST_START, T0 + 10 * YEAR);
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
            root_key,
            root_der,
            intermediate_key,
            intermediate_der,
            intermediate_name,
        }
    }
}

/// A PEM certificate unrelated to any world (a fresh self-signed CA).
pub fn unrelated_certificate_pem() -> String {
    pem_of("CERTIFICATE", &Ca::new().root_der)
}

/// What the leaf's embedded SCT is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SctMode {
    /// Signed by the trusted CT log over the precertificate.
    Valid,
    /// No SCT extension at all.
    Absent,
    /// A well-formed SCT from a CT log the trust root does not list.
    UnknownLog,
    /// Names the trusted CT log, but its signature is another key's.
    BadSignature,
    /// Signed by the trusted CT log, but over another precertificate (one
    /// with another serial number).
    OverOtherPrecert,
}

/// The TLS-encoded SCT list (RFC 6962 §3.3) with one SCT by `signer`,
/// claiming to be from the log `log_id`, over `precert_tbs`.
fn sct_list(log_id: &[u8; 32], signer: &Key, issuer_spki: &[u8], precert_tbs: &[u8]) -> Vec<u8> {
    let timestamp_ms = u64::try_from(LEAF_NOT_BEFORE).expect("time") * 1000 + 123;
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
// The description of a world.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `messageSignature` over the artifact, logged as hashedrekord 0.0.1.
    Message,
    /// A DSSE envelope with an in-toto statement, logged as dsse 0.0.1.
    Dsse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerKind {
    /// A Fulcio-like certificate; policy `SignerPolicy::Identity`.
    Keyless,
    /// A managed key: the bundle has a `publicKey` hint; policy
    /// `SignerPolicy::Key`.
    ManagedKey,
}

/// An edit of an entry body, as JSON.
pub type BodyEdit = Box<dyn Fn(&mut serde_json::Value)>;

/// A world's every knob. `Spec::default()` (= `Spec::new(Kind::Message)`)
/// is a valid v0.3 keyless message-signature world.
pub struct Spec {
    pub kind: Kind,
    pub signer: SignerKind,
    pub version: BundleVersion,
    pub artifact: Vec<u8>,

    // The certificate (keyless).
    pub san_uri: String,
    pub oidc_issuer: String,
    /// The `.1.12` source repository claim; `None` leaves it out.
    pub source_repository_uri: Option<String>,
    pub leaf_validity: (i64, i64),
    /// Issue the leaf from a CA that has the trusted CA's names but other
    /// keys (the SCT is then over that CA's key, as a log would sign it).
    pub leaf_from_rogue_ca: bool,
    pub sct: SctMode,

    // The signed content.
    /// The bundle's `messageDigest`; `None` is the artifact's SHA-256.
    pub message_digest: Option<Vec<u8>>,
    /// What the message signature (or the DSSE statement's subject) is
    /// over; `None` is the artifact itself.
    pub signed_artifact: Option<Vec<u8>>,
    /// Sign other bytes than the artifact (message) or the PAE (DSSE).
    pub sign_other_bytes: bool,
    pub payload_type: String,
    /// Add a second, valid signature to the DSSE envelope.
    pub second_dsse_signature: bool,

    // The log entry.
    /// Edits the entry body (as JSON) before it is canonicalized and
    /// logged; the edited body is what the log signs.
    pub body_edit: Option<BodyEdit>,
    /// Log the signer's bare public key as the entry's verifier, even for a
    /// keyless bundle (whose entry should name its certificate).
    pub body_names_bare_key: bool,
    pub integrated_time: i64,
    pub with_promise: bool,
    pub with_proof: bool,
    /// The integrated time the SET signs; `None` is the entry's.
    pub set_time: Option<i64>,
    pub set_signed_by_other_key: bool,
    /// Sign the checkpoint with another key (under the log's name and key
    /// hint).
    pub checkpoint_signed_by_other_key: bool,
    pub checkpoint_origin: Option<String>,
    pub checkpoint_root: Option<[u8; 32]>,
    /// The whole checkpoint text (signed as given).
    pub checkpoint_text: Option<String>,
    /// The tree size the proof and the checkpoint claim.
    pub claimed_tree_size: Option<u64>,

    // The trusted root.
    pub ca_valid_for: (Option<i64>, Option<i64>),
    pub tlog_valid_for: (Option<i64>, Option<i64>),
    pub ctlog_valid_for: (Option<i64>, Option<i64>),

    pub now: i64,
}

impl Default for Spec {
    fn default() -> Self {
        Spec::new(Kind::Message)
    }
}

impl Spec {
    pub fn new(kind: Kind) -> Spec {
        Spec {
            kind,
            signer: SignerKind::Keyless,
            version: BundleVersion::V0_3,
            artifact: ARTIFACT.to_vec(),
            san_uri: SAN_URI.to_string(),
            oidc_issuer: OIDC_ISSUER.to_string(),
            source_repository_uri: Some(SOURCE_REPO.to_string()),
            leaf_validity: (LEAF_NOT_BEFORE, LEAF_NOT_AFTER),
            leaf_from_rogue_ca: false,
            sct: SctMode::Valid,
            message_digest: None,
            signed_artifact: None,
            sign_other_bytes: false,
            payload_type: intoto::PAYLOAD_TYPE.to_string(),
            second_dsse_signature: false,
            body_edit: None,
            body_names_bare_key: false,
            integrated_time: T0,
            with_promise: true,
            with_proof: true,
            set_time: None,
            set_signed_by_other_key: false,
            checkpoint_signed_by_other_key: false,
            checkpoint_origin: None,
            checkpoint_root: None,
            checkpoint_text: None,
            claimed_tree_size: None,
            ca_valid_for: (Some(TRUST_START), None),
            tlog_valid_for: (Some(TRUST_START), None),
            ctlog_valid_for: (Some(TRUST_START), None),
            now: NOW,
        }
    }

    pub fn managed_key(kind: Kind) -> Spec {
        Spec {
            signer: SignerKind::ManagedKey,
            ..Spec::new(kind)
        }
    }

    pub fn build(self) -> World {
        World::build(self)
    }
}

// ---------------------------------------------------------------------------
// The built world.

pub struct World {
    pub trusted_root: TrustedRoot,
    pub bundle: Bundle,
    pub artifact: Vec<u8>,
    pub policy: SignerPolicy,
    pub options: Options,
    /// The signing key (the leaf's, or the managed key).
    pub signer_key: Key,
    /// DER of the leaf (keyless worlds).
    pub leaf_der: Option<Vec<u8>>,
    pub ca: Ca,
    pub rekor_key: Key,
    pub ct_key: Key,
}

/// The identity policy the default certificate satisfies.
pub fn default_identity_policy() -> IdentityPolicy {
    IdentityPolicy {
        subject: Matcher::exact(SAN_URI),
        issuer: Matcher::exact(OIDC_ISSUER),
        claims: vec![(Claim::SourceRepositoryUri, Matcher::exact(SOURCE_REPO))],
    }
}

fn range(r: (Option<i64>, Option<i64>)) -> Option<TimeRange> {
    let ts = |t: i64| Timestamp::from_unix(t).expect("timestamp");
    Some(TimeRange {
        start: r.0.map(ts),
        end: r.1.map(ts),
    })
}

impl World {
    fn build(spec: Spec) -> World {
        let ca = Ca::new();
        let ct_key = Key::p256();
        let rekor_key = Key::p256();
        let signer_key = Key::p256();

        let leaf_der = match spec.signer {
            SignerKind::Keyless => Some(leaf(&spec, &ca, &ct_key, &signer_key)),
            SignerKind::ManagedKey => None,
        };
        let verifier_pem = match &leaf_der {
            Some(der) if !spec.body_names_bare_key => pem_of("CERTIFICATE", der),
            _ => signer_key.pem(),
        };

        // The signed content, and its entry body.
        let signed_artifact = spec.signed_artifact.as_deref().unwrap_or(&spec.artifact);
        let (message_signature, dsse_envelope, body) = match spec.kind {
            Kind::Message => {
                let signature = if spec.sign_other_bytes {
                    signer_key.sign(b"some other artifact")
                } else {
                    signer_key.sign(signed_artifact)
                };
                let digest = spec
                    .message_digest
                    .clone()
                    .unwrap_or_else(|| sha256(signed_artifact).to_vec());
                let body = EntryBody::HashedRekordV001(HashedRekordV001 {
                    data: HashedRekordData {
                        hash: HexHash {
                            algorithm: "sha256".into(),
                            value: hex::encode(sha256(signed_artifact)),
                        },
                    },
                    signature: HashedRekordSignature {
                        content: Base64(signature.clone()),
                        public_key: PemContent {
                            content: Base64(verifier_pem.clone().into_bytes()),
                        },
                    },
                });
                let message = MessageSignature {
                    message_digest: Some(HashOutput {
                        algorithm: "SHA2_256".into(),
                        digest: Base64(digest),
                    }),
                    signature: Base64(signature),
                };
                (Some(message), None, body)
            }
            Kind::Dsse => {
                let statement = serde_json::json!({
                    "_type": intoto::STATEMENT_V1,
                    "subject": [{
                        "name": "signet-1.2.3.tar.gz",
                        "digest": { "sha256": hex::encode(sha256(signed_artifact)) },
                    }],
                    "predicateType": "https://slsa.dev/provenance/v1",
                    "predicate": { "buildDefinition": { "buildType": "https://signet.test/build" } },
                });
                let payload = serde_json::to_vec(&statement).expect("statement");
                let pae = signet_model::dsse::pae(&spec.payload_type, &payload);
                let sign = || {
                    if spec.sign_other_bytes {
                        signer_key.sign(&signet_model::dsse::pae(&spec.payload_type, b"{}"))
                    } else {
                        signer_key.sign(&pae)
                    }
                };
                let mut signatures = vec![DsseSignature {
                    sig: Base64(sign()),
                    keyid: None,
                }];
                if spec.second_dsse_signature {
                    signatures.push(DsseSignature {
                        sig: Base64(sign()),
                        keyid: None,
                    });
                }
                let envelope = Envelope {
                    payload: Base64(payload.clone()),
                    payload_type: spec.payload_type.clone(),
                    signatures,
                };
                let envelope_json = serde_json::to_value(&envelope).expect("envelope");
                let body = EntryBody::DsseV001(DsseV001 {
                    envelope_hash: HexHash {
                        algorithm: "sha256".into(),
                        value: hex::encode(sha256(
                            signet_model::canonical::to_string(&envelope_json).as_bytes(),
                        )),
                    },
                    payload_hash: HexHash {
                        algorithm: "sha256".into(),
                        value: hex::encode(sha256(&payload)),
                    },
                    signatures: envelope
                        .signatures
                        .iter()
                        .map(|s| DsseV001Signature {
                            signature: s.sig.clone(),
                            verifier: Base64(verifier_pem.clone().into_bytes()),
                        })
                        .collect(),
                });
                (None, Some(envelope), body)
            }
        };
        let mut body_json = body.to_value();
        if let Some(edit) = &spec.body_edit {
            edit(&mut body_json);
        }
        let body_bytes = signet_model::canonical::to_string(&body_json).into_bytes();

        let entry = log_entry(&spec, &rekor_key, body.kind(), body.version(), body_bytes);

        // The bundle.
        let vm = VerificationMaterial {
            public_key: (spec.signer == SignerKind::ManagedKey).then(|| PublicKeyIdentifier {
                hint: Some(encode_base64(&signer_key.log_id())),
            }),
            x509_certificate_chain: match (&leaf_der, spec.version) {
                (Some(leaf), BundleVersion::V0_1 | BundleVersion::V0_2) => {
                    Some(X509CertificateChain {
                        certificates: vec![
                            X509Certificate {
                                raw_bytes: Base64(leaf.clone()),
                            },
                            X509Certificate {
                                raw_bytes: Base64(ca.intermediate_der.clone()),
                            },
                        ],
                    })
                }
                _ => None,
            },
            certificate: match (&leaf_der, spec.version) {
                (Some(leaf), BundleVersion::V0_3) => Some(X509Certificate {
                    raw_bytes: Base64(leaf.clone()),
                }),
                _ => None,
            },
            tlog_entries: vec![entry],
            timestamp_verification_data: None,
        };
        let bundle = Bundle {
            media_type: spec.version.media_type().to_string(),
            verification_material: vm,
            message_signature,
            dsse_envelope,
        };

        let trusted_root = trusted_root(&spec, &ca, &rekor_key, &ct_key);
        let policy = match spec.signer {
            SignerKind::Keyless => SignerPolicy::Identity(default_identity_policy()),
            SignerKind::ManagedKey => SignerPolicy::Key(signer_key.public()),
        };
        World {
            trusted_root,
            bundle,
            artifact: spec.artifact.clone(),
            policy,
            options: Options {
                now: Some(spec.now),
                ..Options::default()
            },
            signer_key,
            leaf_der,
            ca,
            rekor_key,
            ct_key,
        }
    }

    pub fn verifier(&self) -> Result<Verifier, VerifyError> {
        let trust = TrustMaterial::from_trusted_root(&self.trusted_root)?;
        Ok(Verifier::new(trust, self.options.clone()))
    }

    pub fn verify(&self) -> Result<Verified, VerifyError> {
        self.verifier()?
            .verify(&self.bundle, &Artifact::Bytes(&self.artifact), &self.policy)
    }

    /// The identity policy of a keyless world (panics otherwise).
    pub fn identity_policy(&mut self) -> &mut IdentityPolicy {
        match &mut self.policy {
            SignerPolicy::Identity(p) => p,
            SignerPolicy::Key(_) => panic!("not a keyless world"),
        }
    }

    /// The first (only) log entry of the bundle.
    pub fn entry(&mut self) -> &mut TransparencyLogEntry {
        &mut self.bundle.verification_material.tlog_entries[0]
    }

    pub fn proof(&mut self) -> &mut InclusionProof {
        self.entry()
            .inclusion_proof
            .as_mut()
            .expect("inclusion proof")
    }
}

/// The keyless leaf: built once without the SCT extension (the
/// precertificate TBS the CT log signs), then again with identical fields
/// and the SCT extension appended last, signed by the intermediate.
fn leaf(spec: &Spec, ca: &Ca, ct_key: &Key, leaf_key: &Key) -> Vec<u8> {
    let rogue;
    let issuer = if spec.leaf_from_rogue_ca {
        rogue = Ca::new();
        &rogue
    } else {
        ca
    };
    let san = SubjectAltName(vec![GeneralName::UniformResourceIdentifier(
        Ia5String::new(&spec.san_uri).expect("ia5"),
    )]);
    let mut exts = vec![
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
            ExtendedKeyUsage(vec![oid(OID_CODE_SIGNING)])
                .to_der()
                .expect("eku"),
        ),
        ext("2.5.29.17", true, san.to_der().expect("san")),
        ext(OID_ISSUER_V1, false, spec.oidc_issuer.as_bytes().to_vec()),
        ext(OID_GITHUB_WORKFLOW_TRIGGER, false, b"push".to_vec()),
        ext(OID_ISSUER_V2, false, utf8_der(&spec.oidc_issuer)),
    ];
    if let Some(repo) = &spec.source_repository_uri {
        exts.push(ext(OID_SOURCE_REPOSITORY_URI, false, utf8_der(repo)));
    }
    exts.push(ext(OID_BUILD_TRIGGER, false, utf8_der("push")));

    let serial = random_serial();
    let make = |exts: Vec<Extension>| {
        tbs(
            Name::default(),
            &issuer.intermediate_name,
            leaf_key,
            &issuer.intermediate_key,
            serial.clone(),
            spec.leaf_validity,
            exts,
        )
    };
    let precert_tbs = make(exts.clone()).to_der().expect("precert tbs");
    let issuer_spki = issuer.intermediate_key.spki.as_slice();
    let list = match spec.sct {
        SctMode::Absent => None,
        SctMode::Valid => Some(sct_list(
            &ct_key.log_id(),
            ct_key,
            issuer_spki,
            &precert_tbs,
        )),
        SctMode::UnknownLog => {
            let other = Key::p256();
            Some(sct_list(&other.log_id(), &other, issuer_spki, &precert_tbs))
        }
        SctMode::BadSignature => Some(sct_list(
            &ct_key.log_id(),
            &Key::p256(),
            issuer_spki,
            &precert_tbs,
        )),
        SctMode::OverOtherPrecert => {
            let mut other = make(exts.clone());
            other.serial_number = random_serial();
            let other = other.to_der().expect("other precert tbs");
            Some(sct_list(&ct_key.log_id(), ct_key, issuer_spki, &other))
        }
    };
    if let Some(list) = list {
        let value = OctetString::new(list)
            .expect("octets")
            .to_der()
            .expect("der");
        exts.push(ext(OID_SCT_LIST, false, value));
    }
    sign_cert(make(exts), &issuer.intermediate_key)
}

/// Logs `body` in a tree of `TREE_SIZE` leaves at `TREE_INDEX`, and builds
/// the bundle's entry with its SET and checkpoint.
fn log_entry(
    spec: &Spec,
    rekor_key: &Key,
    kind: &str,
    version: &str,
    body: Vec<u8>,
) -> TransparencyLogEntry {
    let log_id = rekor_key.log_id();
    let other_key = Key::p256();

    let leaves: Vec<merkle::Hash> = (0..TREE_SIZE)
        .map(|i| {
            if i == TREE_INDEX {
                merkle::leaf_hash(&body)
            } else {
                merkle::leaf_hash(format!("another entry, number {i}").as_bytes())
            }
        })
        .collect();
    let root = merkle::root(&leaves);
    let hashes = merkle::inclusion_proof(&leaves, TREE_INDEX).expect("proof");
    assert!(!hashes.is_empty());
    let tree_size = spec.claimed_tree_size.unwrap_or(TREE_SIZE);

    let text = spec.checkpoint_text.clone().unwrap_or_else(|| {
        let origin = spec
            .checkpoint_origin
            .clone()
            .unwrap_or_else(|| format!("{REKOR_HOST} - {REKOR_TREE_ID}"));
        Checkpoint::new(
            origin,
            tree_size,
            spec.checkpoint_root.unwrap_or(root),
            vec![],
        )
        .expect("checkpoint")
        .to_text()
    });
    let note_key = if spec.checkpoint_signed_by_other_key {
        &other_key
    } else {
        rekor_key
    };
    let hint = [log_id[0], log_id[1], log_id[2], log_id[3]];
    let note = Note::new(
        text.clone(),
        vec![NoteSignature::new(REKOR_HOST, hint, note_key.sign(text.as_bytes())).expect("sig")],
    )
    .expect("note");

    let set_payload = serde_json::json!({
        "body": encode_base64(&body),
        "integratedTime": spec.set_time.unwrap_or(spec.integrated_time),
        "logID": hex::encode(log_id),
        "logIndex": LOG_INDEX,
    });
    let set_key = if spec.set_signed_by_other_key {
        &other_key
    } else {
        rekor_key
    };
    let set = set_key.sign(signet_model::canonical::to_string(&set_payload).as_bytes());

    TransparencyLogEntry {
        // Sharded Rekor v1 entries carry a global index (signed by the SET)
        // unlike the proof's; without a SET (Rekor v2) the two are one.
        log_index: Int64(if spec.with_promise {
            LOG_INDEX
        } else {
            TREE_INDEX
        }),
        log_id: LogId {
            key_id: Base64(log_id.to_vec()),
        },
        kind_version: KindVersion {
            kind: kind.to_string(),
            version: version.to_string(),
        },
        integrated_time: Some(Int64(
            u64::try_from(spec.integrated_time).expect("positive time"),
        )),
        inclusion_promise: spec.with_promise.then_some(InclusionPromise {
            signed_entry_timestamp: Base64(set),
        }),
        inclusion_proof: spec.with_proof.then(|| InclusionProof {
            log_index: Int64(TREE_INDEX),
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

fn trusted_root(spec: &Spec, ca: &Ca, rekor_key: &Key, ct_key: &Key) -> TrustedRoot {
    let log = |url: &str, key: &Key, valid_for| TransparencyLogInstance {
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
        operator: Some("signet-test".into()),
    };
    TrustedRoot {
        media_type: MEDIA_TYPE_V0_1.to_string(),
        tlogs: vec![log(
            &format!("https://{REKOR_HOST}"),
            rekor_key,
            spec.tlog_valid_for,
        )],
        certificate_authorities: vec![CertificateAuthority {
            subject: Some(DistinguishedName {
                organization: Some("signet-test".into()),
                common_name: Some("signet-test intermediate".into()),
            }),
            uri: Some(FULCIO_URL.into()),
            cert_chain: CertChain {
                certificates: vec![
                    X509Certificate {
                        raw_bytes: Base64(ca.intermediate_der.clone()),
                    },
                    X509Certificate {
                        raw_bytes: Base64(ca.root_der.clone()),
                    },
                ],
            },
            valid_for: range(spec.ca_valid_for),
            operator: Some("signet-test".into()),
        }],
        ctlogs: vec![log(CT_URL, ct_key, spec.ctlog_valid_for)],
        timestamp_authorities: vec![],
    }
}
