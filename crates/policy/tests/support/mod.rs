//! A synthetic Sigstore world for policy tests, built in memory with fresh
//! keys: one Fulcio-like CA (P-384 root and intermediate) issuing keyless
//! leaves with any SAN, issuer and CI claims, with embedded SCTs from a
//! CT log; one Rekor v1 log (P-256) signing SETs and checkpoints; and a
//! trusted root naming them. Bundles (v0.3, DSSE in-toto statements about
//! an image digest) are signed at any integrated time, so that authority
//! windows can be tested. Adapted from crates/verify/tests/support, with
//! one CA and log shared by every bundle of a world.

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

use signet_crypto::sha256;
use signet_model::bundle::{
    Bundle, BundleVersion, Checkpoint as CheckpointEnvelope, InclusionPromise, InclusionProof,
    KindVersion, LogId, PublicKeyIdentifier, TransparencyLogEntry, VerificationMaterial,
    X509Certificate,
};
use signet_model::dsse::{Envelope, Signature as DsseSignature};
use signet_model::encoding::{encode_base64, Base64, Int64, Timestamp};
use signet_model::intoto;
use signet_model::rekor::{DsseV001, DsseV001Signature, EntryBody, HexHash};
use signet_model::trust_root::{
    CertChain, CertificateAuthority, DistinguishedName, PublicKey as TrustedKey, TimeRange,
    TransparencyLogInstance, TrustedRoot, MEDIA_TYPE_V0_1,
};
use signet_oci::verify::{Candidate, ImageMaterial, Source};
use signet_oci::Digest;
use signet_tlog::checkpoint::Checkpoint;
use signet_tlog::merkle;
use signet_tlog::note::{Note, NoteSignature};
use signet_verify::{Options, TrustMaterial, Verifier};

pub const YEAR: i64 = 365 * 24 * 3600;
pub const DAY: i64 = 24 * 3600;
/// 2026-01-01T00:00:00Z.
pub const JAN_2026: i64 = 1_767_225_600;
/// Trust starts long before any test's signing times.
pub const TRUST_START: i64 = JAN_2026 - 5 * YEAR;
pub const REKOR_HOST: &str = "rekor.policy.test";
pub const CT_URL: &str = "https://ctfe.policy.test/test";

pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
pub const SLSA: &str = "https://slsa.dev/provenance/v1";
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

pub const OID_BUILD_SIGNER_URI: &str = "1.3.6.1.4.1.57264.1.9";
pub const OID_SOURCE_REPOSITORY_URI: &str = "1.3.6.1.4.1.57264.1.12";
pub const OID_SOURCE_REPOSITORY_REF: &str = "1.3.6.1.4.1.57264.1.14";

const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

const TREE_SIZE: u64 = 5;
const TREE_INDEX: u64 = 2;

pub struct Key {
    pair: EcdsaKeyPair,
    pub spki: Vec<u8>,
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

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), msg)
            .expect("sign")
            .as_ref()
            .to_vec()
    }

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
    Name::from_str(&format!("CN={cn},O=signet-policy-test")).expect("name")
}

fn time(unix: i64) -> Time {
    let secs = u64::try_from(unix).expect("positive time");
    let d = std::time::Duration::from_secs(secs);
    if unix < 2_524_608_000 {
        Time::UtcTime(der::asn1::UtcTime::from_unix_duration(d).expect("utc"))
    } else {
        Time::GeneralTime(der::asn1::GeneralizedTime::from_unix_duration(d).expect("gt"))
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("rng");
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::new(&bytes).expect("serial")
}

#[allow(clippy::too_many_arguments)]
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

fn sct_list(ct_key: &Key, issuer_spki: &[u8], precert_tbs: &[u8], at: i64) -> Vec<u8> {
    let timestamp_ms = u64::try_from(at).expect("time") * 1000;
    let mut signed = vec![0u8, 0u8];
    signed.extend_from_slice(&timestamp_ms.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes());
    signed.extend_from_slice(&sha256(issuer_spki));
    let len = u32::try_from(precert_tbs.len()).expect("tbs size");
    signed.extend_from_slice(&len.to_be_bytes()[1..]);
    signed.extend_from_slice(precert_tbs);
    signed.extend_from_slice(&0u16.to_be_bytes());
    let signature = ct_key.sign(&signed);
    let mut sct = vec![0u8];
    sct.extend_from_slice(&ct_key.log_id());
    sct.extend_from_slice(&timestamp_ms.to_be_bytes());
    sct.extend_from_slice(&0u16.to_be_bytes());
    sct.extend_from_slice(&[4, 3]);
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

/// Who signs a bundle.
pub enum Signer<'a> {
    /// A fresh ephemeral key with a leaf for this identity; `claims` are
    /// (OID, value) of Fulcio's v2 extensions.
    Keyless {
        san_uri: &'a str,
        issuer: &'a str,
        claims: &'a [(&'a str, &'a str)],
    },
    /// A managed key.
    Key(&'a Key),
}

impl Signer<'_> {
    /// A GitHub Actions-like identity of `repo`'s release workflow.
    pub fn github(san_uri: &'static str) -> Signer<'static> {
        Signer::Keyless {
            san_uri,
            issuer: GITHUB_ISSUER,
            claims: &[],
        }
    }
}

pub struct World {
    ca_root_key: Key,
    ca_root_der: Vec<u8>,
    ca_key: Key,
    ca_der: Vec<u8>,
    ca_name: Name,
    ct_key: Key,
    rekor_key: Key,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// An image digest made from a label.
pub fn image_digest(label: &str) -> Digest {
    Digest::of(label.as_bytes())
}

impl World {
    pub fn new() -> World {
        let ca_root_key = Key::p384();
        let ca_key = Key::p384();
        let root_name = name("root");
        let ca_name = name("intermediate");
        let validity = (TRUST_START, JAN_2026 + 20 * YEAR);
        let ca_root_der = sign_cert(
            tbs(
                root_name.clone(),
                &root_name,
                &ca_root_key,
                &ca_root_key,
                random_serial(),
                validity,
                ca_exts(1),
            ),
            &ca_root_key,
        );
        let ca_der = sign_cert(
            tbs(
                ca_name.clone(),
                &root_name,
                &ca_key,
                &ca_root_key,
                random_serial(),
                validity,
                ca_exts(0),
            ),
            &ca_root_key,
        );
        World {
            ca_root_key,
            ca_root_der,
            ca_key,
            ca_der,
            ca_name,
            ct_key: Key::p256(),
            rekor_key: Key::p256(),
        }
    }

    pub fn trusted_root(&self) -> TrustedRoot {
        let range = Some(TimeRange {
            start: Some(Timestamp::from_unix(TRUST_START).expect("ts")),
            end: None,
        });
        let log = |url: &str, key: &Key| TransparencyLogInstance {
            base_url: url.to_string(),
            hash_algorithm: Some("SHA2_256".into()),
            public_key: TrustedKey {
                raw_bytes: Some(Base64(key.spki.clone())),
                key_details: Some("PKIX_ECDSA_P256_SHA_256".into()),
                valid_for: range.clone(),
            },
            log_id: LogId {
                key_id: Base64(key.log_id().to_vec()),
            },
            checkpoint_key_id: None,
            operator: Some("signet-policy-test".into()),
        };
        TrustedRoot {
            media_type: MEDIA_TYPE_V0_1.to_string(),
            tlogs: vec![log(&format!("https://{REKOR_HOST}"), &self.rekor_key)],
            certificate_authorities: vec![CertificateAuthority {
                subject: Some(DistinguishedName {
                    organization: Some("signet-policy-test".into()),
                    common_name: Some("intermediate".into()),
                }),
                uri: Some("https://fulcio.policy.test".into()),
                cert_chain: CertChain {
                    certificates: vec![
                        X509Certificate {
                            raw_bytes: Base64(self.ca_der.clone()),
                        },
                        X509Certificate {
                            raw_bytes: Base64(self.ca_root_der.clone()),
                        },
                    ],
                },
                valid_for: range.clone(),
                operator: Some("signet-policy-test".into()),
            }],
            ctlogs: vec![log(CT_URL, &self.ct_key)],
            timestamp_authorities: vec![],
        }
    }

    /// A verifier trusting this world, with "now" at `now`.
    pub fn verifier(&self, now: i64) -> Verifier {
        Verifier::new(
            TrustMaterial::from_trusted_root(&self.trusted_root()).expect("trust"),
            Options {
                now: Some(now),
                ..Options::default()
            },
        )
    }

    fn leaf(
        &self,
        leaf_key: &Key,
        san_uri: &str,
        issuer: &str,
        claims: &[(&str, &str)],
        at: i64,
    ) -> Vec<u8> {
        let san = SubjectAltName(vec![GeneralName::UniformResourceIdentifier(
            Ia5String::new(san_uri).expect("ia5"),
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
            ext(OID_ISSUER_V1, false, issuer.as_bytes().to_vec()),
            ext(OID_ISSUER_V2, false, utf8_der(issuer)),
        ];
        for (o, v) in claims {
            exts.push(ext(o, false, utf8_der(v)));
        }
        let serial = random_serial();
        let validity = (at - 30, at + 570);
        let make = |exts: Vec<Extension>| {
            tbs(
                Name::default(),
                &self.ca_name,
                leaf_key,
                &self.ca_key,
                serial.clone(),
                validity,
                exts,
            )
        };
        let precert_tbs = make(exts.clone()).to_der().expect("precert");
        let list = sct_list(&self.ct_key, &self.ca_key.spki, &precert_tbs, at - 30);
        let value = OctetString::new(list)
            .expect("octets")
            .to_der()
            .expect("der");
        exts.push(ext(OID_SCT_LIST, false, value));
        sign_cert(make(exts), &self.ca_key)
    }

    /// A v0.3 bundle (JSON) of `statement` signed by `signer`, logged at
    /// `integrated_time`.
    pub fn sign_statement(
        &self,
        statement: &serde_json::Value,
        signer: &Signer<'_>,
        integrated_time: i64,
    ) -> Vec<u8> {
        let ephemeral;
        let (key, leaf_der) = match signer {
            Signer::Keyless {
                san_uri,
                issuer,
                claims,
            } => {
                ephemeral = Key::p256();
                let leaf = self.leaf(&ephemeral, san_uri, issuer, claims, integrated_time);
                (&ephemeral, Some(leaf))
            }
            Signer::Key(k) => (*k, None),
        };
        let verifier_pem = match &leaf_der {
            Some(der) => pem_of("CERTIFICATE", der),
            None => key.pem(),
        };
        let payload = serde_json::to_vec(statement).expect("statement");
        let pae = signet_model::dsse::pae(intoto::PAYLOAD_TYPE, &payload);
        let envelope = Envelope {
            payload: Base64(payload.clone()),
            payload_type: intoto::PAYLOAD_TYPE.to_string(),
            signatures: vec![DsseSignature {
                sig: Base64(key.sign(&pae)),
                keyid: None,
            }],
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
        let body_bytes = signet_model::canonical::to_string(&body.to_value()).into_bytes();
        let entry = self.log_entry(body.kind(), body.version(), body_bytes, integrated_time);
        let vm = VerificationMaterial {
            public_key: leaf_der.is_none().then(|| PublicKeyIdentifier {
                hint: Some(encode_base64(&key.log_id())),
            }),
            x509_certificate_chain: None,
            certificate: leaf_der.map(|der| X509Certificate {
                raw_bytes: Base64(der),
            }),
            tlog_entries: vec![entry],
            timestamp_verification_data: None,
        };
        let bundle = Bundle {
            media_type: BundleVersion::V0_3.media_type().to_string(),
            verification_material: vm,
            message_signature: None,
            dsse_envelope: Some(envelope),
        };
        bundle.to_json().into_bytes()
    }

    fn log_entry(
        &self,
        kind: &str,
        version: &str,
        body: Vec<u8>,
        integrated_time: i64,
    ) -> TransparencyLogEntry {
        let log_id = self.rekor_key.log_id();
        let leaves: Vec<merkle::Hash> = (0..TREE_SIZE)
            .map(|i| {
                if i == TREE_INDEX {
                    merkle::leaf_hash(&body)
                } else {
                    merkle::leaf_hash(format!("another entry {i}").as_bytes())
                }
            })
            .collect();
        let root = merkle::root(&leaves);
        let hashes = merkle::inclusion_proof(&leaves, TREE_INDEX).expect("proof");
        let text = Checkpoint::new(format!("{REKOR_HOST} - 42"), TREE_SIZE, root, vec![])
            .expect("checkpoint")
            .to_text();
        let hint = [log_id[0], log_id[1], log_id[2], log_id[3]];
        let note = Note::new(
            text.clone(),
            vec![
                NoteSignature::new(REKOR_HOST, hint, self.rekor_key.sign(text.as_bytes()))
                    .expect("sig"),
            ],
        )
        .expect("note");
        let set_payload = serde_json::json!({
            "body": encode_base64(&body),
            "integratedTime": integrated_time,
            "logID": hex::encode(log_id),
            "logIndex": TREE_INDEX,
        });
        let set = self
            .rekor_key
            .sign(signet_model::canonical::to_string(&set_payload).as_bytes());
        TransparencyLogEntry {
            log_index: Int64(TREE_INDEX),
            log_id: LogId {
                key_id: Base64(log_id.to_vec()),
            },
            kind_version: KindVersion {
                kind: kind.to_string(),
                version: version.to_string(),
            },
            integrated_time: Some(Int64(u64::try_from(integrated_time).expect("time"))),
            inclusion_promise: Some(InclusionPromise {
                signed_entry_timestamp: Base64(set),
            }),
            inclusion_proof: Some(InclusionProof {
                log_index: Int64(TREE_INDEX),
                root_hash: Base64(root.to_vec()),
                tree_size: Int64(TREE_SIZE),
                hashes: hashes.iter().map(|h| Base64(h.to_vec())).collect(),
                checkpoint: Some(CheckpointEnvelope {
                    envelope: note.serialize(),
                }),
            }),
            canonicalized_body: Base64(body),
        }
    }

    /// An image signature (cosign's sign predicate) of `digest`.
    pub fn signature(&self, digest: &Digest, signer: &Signer<'_>, at: i64) -> Vec<u8> {
        self.sign_statement(
            &statement(digest, SIGN_PREDICATE_TYPE, serde_json::json!({})),
            signer,
            at,
        )
    }

    /// An attestation of `predicate_type` about `digest`.
    pub fn attestation(
        &self,
        digest: &Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
        signer: &Signer<'_>,
        at: i64,
    ) -> Vec<u8> {
        self.sign_statement(&statement(digest, predicate_type, predicate), signer, at)
    }
}

pub fn statement(
    digest: &Digest,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "_type": intoto::STATEMENT_V1,
        "subject": [{"name": "image", "digest": {"sha256": digest.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// Material for `digest` from bundles, as a registry would list them.
pub fn material(
    reference: &str,
    digest: &Digest,
    signatures: &[Vec<u8>],
    attestations: &[Vec<u8>],
) -> ImageMaterial {
    let cands = |list: &[Vec<u8>], what: &str| {
        list.iter()
            .enumerate()
            .map(|(i, raw)| {
                Candidate::bundle(
                    Source::File {
                        path: format!("{what}-{i}.json"),
                    },
                    raw,
                    None,
                )
            })
            .collect()
    };
    ImageMaterial {
        reference: reference.to_string(),
        digest: digest.clone(),
        signatures: cands(signatures, "sig"),
        attestations: cands(attestations, "att"),
    }
}
