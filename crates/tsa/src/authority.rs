//! Turning a DER `TimeStampReq` into a DER `TimeStampResp`.
//!
//! The token is a CMS SignedData (version 3) over the DER TSTInfo, signed
//! with ECDSA P-256 / SHA-256 over the signed attributes (content-type,
//! message-digest, ESS signingCertificateV2 naming the SHA-256 of the
//! signing certificate, RFC 5816). genTime is whole seconds, UTC.

use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, GeneralizedTime, Int, OctetString, SetOfVec};
use der::{Decode, Encode, Tag, Tagged};
use signet_ca::signer::{CaSigner, SigAlg, SignerError};
use signet_ca::FileSigner;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

use crate::asn1::{
    EssCertIdV2, MessageImprint, PkiStatusInfo, SigningCertificateV2, TimeStampReq, TimeStampResp,
    TstInfo, ID_AA_SIGNING_CERTIFICATE_V2, ID_CONTENT_TYPE, ID_CT_TST_INFO, ID_ECDSA_WITH_SHA256,
    ID_MESSAGE_DIGEST, ID_SHA256, ID_SHA384, ID_SHA512, ID_SIGNED_DATA,
};

/// Longest nonce accepted, in INTEGER content octets.
pub const MAX_NONCE_BYTES: usize = 64;
/// Length of the TSTInfo serial number (random, positive).
pub const SERIAL_BYTES: usize = 20;

/// Why the authority could not be built or could not answer.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    #[error("DER encoding: {0}")]
    Der(#[from] der::Error),
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error("the random number generator failed")]
    Rng,
    #[error("the signing key must be ECDSA P-256 (ecdsa-with-SHA256)")]
    UnsupportedKey,
    #[error("the certificate chain is empty")]
    EmptyChain,
    #[error("the signing key does not match the chain's first (leaf) certificate")]
    KeyCertMismatch,
    #[error("the clock is before 1970 or past 9999")]
    Clock,
    /// A timestamp issued at start-up does not verify as clients would
    /// verify it (wrong extendedKeyUsage, an expired certificate, a chain
    /// that does not link up, …).
    #[error("a test timestamp from this key and chain does not verify: {0}")]
    SelfCheck(String),
}

/// RFC 3161 `PKIFailureInfo` bits the authority reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailInfo {
    /// Unrecognized or unsupported hash algorithm (bit 0).
    BadAlg,
    /// Transaction not permitted or supported (bit 2).
    BadRequest,
    /// The data submitted has the wrong format (bit 5).
    BadDataFormat,
    /// The requested policy is not supported (bit 15).
    UnacceptedPolicy,
    /// The requested extension is not supported (bit 16).
    UnacceptedExtension,
    /// The request cannot be handled due to system failure (bit 25).
    SystemFailure,
}

impl FailInfo {
    fn bit(self) -> usize {
        match self {
            FailInfo::BadAlg => 0,
            FailInfo::BadRequest => 2,
            FailInfo::BadDataFormat => 5,
            FailInfo::UnacceptedPolicy => 15,
            FailInfo::UnacceptedExtension => 16,
            FailInfo::SystemFailure => 25,
        }
    }

    /// The DER named-bit-list BIT STRING (trailing zero bits dropped).
    fn bit_string(self) -> Result<BitString, der::Error> {
        let bit = self.bit();
        let mut bytes = vec![0u8; bit / 8 + 1];
        if let Some(byte) = bytes.get_mut(bit / 8) {
            *byte = 0x80 >> (bit % 8);
        }
        let unused = u8::try_from(7 - bit % 8).map_err(|_| der::ErrorKind::Overflow)?;
        BitString::new(unused, bytes)
    }
}

/// The authority's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Status granted (0): the DER `TimeStampResp` with its token.
    Granted(Vec<u8>),
    /// Status rejection (2): why, and the DER `TimeStampResp` saying so.
    Rejected {
        fail_info: FailInfo,
        message: String,
        der: Vec<u8>,
    },
}

impl Reply {
    /// The DER `TimeStampResp`.
    pub fn der(&self) -> &[u8] {
        match self {
            Reply::Granted(der) => der,
            Reply::Rejected { der, .. } => der,
        }
    }
}

/// A DER `TimeStampResp` with status rejection (2), `fail_info` and
/// `message`.
pub fn rejection(fail_info: FailInfo, message: &str) -> Result<Vec<u8>, TsaError> {
    let resp = TimeStampResp {
        status: PkiStatusInfo {
            status: 2,
            status_string: Some(vec![message.to_string()]),
            fail_info: Some(fail_info.bit_string()?),
        },
        time_stamp_token: None,
    };
    Ok(resp.to_der()?)
}

/// A timestamp authority: a P-256 key, its certificate chain (signing
/// certificate first) and a policy.
#[derive(Debug)]
pub struct TimestampAuthorityService {
    signer: FileSigner,
    chain: Vec<Certificate>,
    /// SHA-256 of the signing certificate's DER (for ESS).
    leaf_hash: Vec<u8>,
    /// The signing certificate's notBefore and notAfter (unix seconds):
    /// no timestamp is issued outside them.
    leaf_validity: (i64, i64),
    policy: ObjectIdentifier,
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    }
}

/// The imprint length for a supported hash algorithm.
fn imprint_len(oid: ObjectIdentifier) -> Option<usize> {
    match oid {
        o if o == ID_SHA256 => Some(32),
        o if o == ID_SHA384 => Some(48),
        o if o == ID_SHA512 => Some(64),
        _ => None,
    }
}

fn random_serial() -> Result<Int, TsaError> {
    let mut bytes = [0u8; SERIAL_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TsaError::Rng)?;
    // Positive, and no leading zero octet to strip.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(Int::new(&bytes)?)
}

fn any_of<T: Encode>(value: &T) -> Result<Any, der::Error> {
    Any::from_der(&value.to_der()?)
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, der::Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

impl TimestampAuthorityService {
    /// An authority signing with `signer` (P-256) under `chain` (leaf
    /// first), stamping with `policy`.
    pub fn new(
        signer: FileSigner,
        chain: Vec<Certificate>,
        policy: ObjectIdentifier,
    ) -> Result<Self, TsaError> {
        if signer.algorithm() != SigAlg::EcdsaSha256 {
            return Err(TsaError::UnsupportedKey);
        }
        let leaf = chain.first().ok_or(TsaError::EmptyChain)?;
        let leaf_spki = leaf.tbs_certificate.subject_public_key_info.to_der()?;
        if leaf_spki != signer.public_key().spki_der() {
            return Err(TsaError::KeyCertMismatch);
        }
        let leaf_der = leaf.to_der()?;
        let parsed = signet_pki::cert::Certificate::from_der(&leaf_der)
            .map_err(|e| TsaError::SelfCheck(format!("unusable signing certificate: {e}")))?;
        let leaf_hash = signet_crypto::sha256(&leaf_der).to_vec();
        Ok(TimestampAuthorityService {
            signer,
            chain,
            leaf_hash,
            leaf_validity: (parsed.not_before(), parsed.not_after()),
            policy,
        })
    }

    /// Issues a timestamp at `now_unix` and verifies it as a client
    /// trusting this authority's chain would (signature, a critical
    /// extendedKeyUsage of exactly timeStamping, every certificate valid
    /// then, each issued by the next up to a self-signed root), so that a
    /// key and chain clients would refuse fail at start-up, not in their
    /// hands.
    pub fn self_check(&self, now_unix: u64) -> Result<(), TsaError> {
        const PROBE: &[u8] = b"signet-tsa start-up self-check";
        let request = TimeStampReq {
            version: 1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: ID_SHA256,
                    parameters: None,
                },
                hashed_message: OctetString::new(signet_crypto::sha256(PROBE).to_vec())?,
            },
            req_policy: None,
            nonce: None,
            cert_req: false,
            extensions: None,
        }
        .to_der()?;
        let der = match self.respond(&request, now_unix)? {
            Reply::Granted(der) => der,
            Reply::Rejected { message, .. } => return Err(TsaError::SelfCheck(message)),
        };
        let chain = self
            .chain
            .iter()
            .map(|c| {
                signet_pki::cert::Certificate::from_der(&c.to_der()?)
                    .map_err(|e| TsaError::SelfCheck(format!("unusable certificate: {e}")))
            })
            .collect::<Result<Vec<_>, TsaError>>()?;
        let authority = signet_pki::timestamp::TimestampAuthority::new(chain, None, None);
        signet_pki::timestamp::verify_timestamp(&der, PROBE, &[authority])
            .map(|_| ())
            .map_err(|e| TsaError::SelfCheck(e.to_string()))
    }

    /// The chain, signing certificate first.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    pub fn policy(&self) -> ObjectIdentifier {
        self.policy
    }

    /// Answers a DER `TimeStampReq` at `now_unix` (seconds). Malformed or
    /// unsupported requests get a rejection; `Err` only for failures of
    /// the authority itself (encoding, signing, randomness).
    pub fn respond(&self, request_der: &[u8], now_unix: u64) -> Result<Reply, TsaError> {
        let reject = |fail_info: FailInfo, message: String| -> Result<Reply, TsaError> {
            let der = rejection(fail_info, &message)?;
            Ok(Reply::Rejected {
                fail_info,
                message,
                der,
            })
        };
        let (not_before, not_after) = self.leaf_validity;
        let now = i64::try_from(now_unix).unwrap_or(i64::MAX);
        if now < not_before || now > not_after {
            // A clock outside the certificate's life (or an expired
            // certificate): such a token would not verify anywhere.
            return reject(
                FailInfo::SystemFailure,
                "the authority's signing certificate is not valid at this time".into(),
            );
        }
        let request = match TimeStampReq::from_der(request_der) {
            Ok(r) => r,
            Err(e) => {
                return reject(
                    FailInfo::BadDataFormat,
                    format!("malformed TimeStampReq: {e}"),
                )
            }
        };
        if request.version != 1 {
            return reject(
                FailInfo::BadDataFormat,
                format!("TimeStampReq version {} is not 1", request.version),
            );
        }
        let imprint = &request.message_imprint;
        let Some(len) = imprint_len(imprint.hash_algorithm.oid) else {
            return reject(
                FailInfo::BadAlg,
                format!(
                    "unsupported hash algorithm {} (SHA-256, SHA-384 or SHA-512 only)",
                    imprint.hash_algorithm.oid
                ),
            );
        };
        if let Some(params) = &imprint.hash_algorithm.parameters {
            // NULL has no content; anything else would be echoed into
            // the signed TSTInfo as invalid DER.
            if params.tag() != Tag::Null || !params.value().is_empty() {
                return reject(
                    FailInfo::BadAlg,
                    "hash algorithm parameters must be absent or NULL".into(),
                );
            }
        }
        if imprint.hashed_message.as_bytes().len() != len {
            return reject(
                FailInfo::BadDataFormat,
                format!(
                    "hashedMessage is {} bytes, not the {len} of its algorithm",
                    imprint.hashed_message.as_bytes().len()
                ),
            );
        }
        if let Some(policy) = request.req_policy {
            if policy != self.policy {
                return reject(
                    FailInfo::UnacceptedPolicy,
                    format!("policy {policy} is not this authority's ({})", self.policy),
                );
            }
        }
        if request.extensions.as_ref().is_some_and(|e| !e.is_empty()) {
            return reject(
                FailInfo::UnacceptedExtension,
                "request extensions are not supported".into(),
            );
        }
        if let Some(nonce) = &request.nonce {
            if nonce.as_bytes().len() > MAX_NONCE_BYTES {
                return reject(
                    FailInfo::BadDataFormat,
                    format!("the nonce is longer than {MAX_NONCE_BYTES} bytes"),
                );
            }
        }
        let gen_time = GeneralizedTime::from_unix_duration(Duration::from_secs(now_unix))
            .map_err(|_| TsaError::Clock)?;
        let tst = TstInfo {
            version: 1,
            policy: self.policy,
            message_imprint: request.message_imprint.clone(),
            serial_number: random_serial()?,
            gen_time,
            nonce: request.nonce.clone(),
        };
        let token = self.sign_token(&tst.to_der()?, request.cert_req)?;
        let resp = TimeStampResp {
            status: PkiStatusInfo {
                status: 0,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(token),
        };
        Ok(Reply::Granted(resp.to_der()?))
    }

    /// The CMS ContentInfo (SignedData) over `tst_der`.
    fn sign_token(&self, tst_der: &[u8], cert_req: bool) -> Result<ContentInfo, TsaError> {
        let leaf = self.chain.first().ok_or(TsaError::EmptyChain)?;
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(self.leaf_hash.clone())?,
            }],
        };
        let signed_attrs = SetOfVec::try_from(vec![
            attribute(ID_CONTENT_TYPE, any_of(&ID_CT_TST_INFO)?)?,
            attribute(
                ID_MESSAGE_DIGEST,
                any_of(&OctetString::new(signet_crypto::sha256(tst_der).to_vec())?)?,
            )?,
            attribute(ID_AA_SIGNING_CERTIFICATE_V2, any_of(&ess)?)?,
        ])?;
        // RFC 5652 §5.4: the signature covers the DER of the SET OF.
        let signature = self.signer.sign(&signed_attrs.to_der()?)?;
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: leaf.tbs_certificate.issuer.clone(),
                serial_number: leaf.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: sha256_alg(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ID_ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: OctetString::new(signature)?,
            unsigned_attrs: None,
        };
        let certificates = if cert_req {
            Some(CertificateSet(SetOfVec::try_from(vec![
                CertificateChoices::Certificate(leaf.clone()),
            ])?))
        } else {
            None
        };
        let signed_data = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![sha256_alg()])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(Any::new(Tag::OctetString, tst_der.to_vec())?),
            },
            certificates,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
        };
        Ok(ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: any_of(&signed_data)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutated_requests_never_panic() {
        let new = crate::keys::generate(1_700_000_000).unwrap();
        let tsa = TimestampAuthorityService::new(new.signer, new.chain, crate::DEFAULT_POLICY_OID)
            .unwrap();
        let request = signet_sign::tsa::build_request(b"sig", &[7; 8])
            .unwrap()
            .der;
        assert!(matches!(
            tsa.respond(&request, 1_700_000_100).unwrap(),
            Reply::Granted(_)
        ));
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..3000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut mutated = request.clone();
            let at = (state as usize) % mutated.len();
            mutated[at] = (state >> 32) as u8;
            if state & 0x100 != 0 {
                mutated.truncate(at);
            }
            let _ = tsa.respond(&mutated, 1_700_000_100).unwrap();
        }
    }

    const NOW: i64 = 1_700_000_000;

    fn service(chain: Vec<Certificate>, signer: FileSigner) -> TimestampAuthorityService {
        TimestampAuthorityService::new(signer, chain, crate::DEFAULT_POLICY_OID).unwrap()
    }

    /// A generated chain whose TSA certificate is edited, then signed
    /// again by the generated root.
    fn edited_leaf(edit: impl FnOnce(&mut x509_cert::TbsCertificate)) -> TimestampAuthorityService {
        let g = crate::keys::generate(NOW).unwrap();
        let root = FileSigner::from_pkcs8_der(&g.root_pkcs8).unwrap();
        let mut tbs = g.chain[0].tbs_certificate.clone();
        edit(&mut tbs);
        let leaf = signet_ca::certgen::sign_certificate(tbs, &root).unwrap();
        let chain = vec![Certificate::from_der(&leaf).unwrap(), g.chain[1].clone()];
        service(chain, g.signer)
    }

    fn self_check_error(tsa: &TimestampAuthorityService, at: i64) -> String {
        match tsa.self_check(at as u64) {
            Err(TsaError::SelfCheck(why)) => why,
            other => panic!("expected the self-check to fail, got {other:?}"),
        }
    }

    #[test]
    fn a_usable_key_and_chain_pass_the_self_check() {
        let g = crate::keys::generate(NOW).unwrap();
        service(g.chain, g.signer).self_check(NOW as u64).unwrap();
        // Still after editing nothing (the edit helper itself is sound).
        edited_leaf(|_| {}).self_check(NOW as u64).unwrap();
    }

    #[test]
    fn a_chain_clients_would_refuse_fails_the_self_check() {
        const EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
        let set_eku = |critical: bool, oids: Vec<ObjectIdentifier>| {
            move |tbs: &mut x509_cert::TbsCertificate| {
                for ext in tbs.extensions.iter_mut().flatten() {
                    if ext.extn_id == EKU {
                        ext.critical = critical;
                        ext.extn_value = OctetString::new(
                            x509_cert::ext::pkix::ExtendedKeyUsage(oids.clone())
                                .to_der()
                                .unwrap(),
                        )
                        .unwrap();
                    }
                }
            }
        };
        let timestamping = const_oid::db::rfc5280::ID_KP_TIME_STAMPING;
        let code_signing = const_oid::db::rfc5280::ID_KP_CODE_SIGNING;

        let why = self_check_error(&edited_leaf(set_eku(false, vec![timestamping])), NOW);
        assert!(why.contains("critical"), "{why}");
        let why = self_check_error(
            &edited_leaf(set_eku(true, vec![timestamping, code_signing])),
            NOW,
        );
        assert!(why.contains("timeStamping"), "{why}");

        // The TSA certificate is not issued by the chain's next one.
        let g = crate::keys::generate(NOW).unwrap();
        let other = crate::keys::generate(NOW).unwrap();
        let chain = vec![g.chain[0].clone(), other.chain[1].clone()];
        let why = self_check_error(&service(chain, g.signer), NOW);
        assert!(why.contains("does not chain"), "{why}");
    }

    #[test]
    fn no_timestamp_outside_the_signing_certificate_validity() {
        let g = crate::keys::generate(NOW).unwrap();
        let tsa = service(g.chain, g.signer);
        let request = signet_sign::tsa::build_request(b"sig", &[7; 8])
            .unwrap()
            .der;
        let after = NOW + crate::keys::VALIDITY_SECS + 1;
        let before = NOW - crate::keys::BACKDATE_SECS - 1;
        for at in [after, before, 0] {
            match tsa.respond(&request, at as u64).unwrap() {
                Reply::Rejected { fail_info, .. } => assert_eq!(fail_info, FailInfo::SystemFailure),
                Reply::Granted(_) => panic!("stamped at {at}, outside the certificate"),
            }
        }
        let why = self_check_error(&tsa, after);
        assert!(why.contains("not valid at this time"), "{why}");
    }

    #[test]
    fn null_hash_parameters_must_be_empty() {
        let g = crate::keys::generate(NOW).unwrap();
        let tsa = service(g.chain, g.signer);
        let request = |parameters: Option<Any>| {
            TimeStampReq {
                version: 1,
                message_imprint: MessageImprint {
                    hash_algorithm: AlgorithmIdentifierOwned {
                        oid: ID_SHA256,
                        parameters,
                    },
                    hashed_message: OctetString::new(vec![0; 32]).unwrap(),
                },
                req_policy: None,
                nonce: None,
                cert_req: false,
                extensions: None,
            }
            .to_der()
            .unwrap()
        };
        let at = NOW as u64;
        for ok in [None, Some(Any::from(der::asn1::Null))] {
            assert!(matches!(
                tsa.respond(&request(ok), at).unwrap(),
                Reply::Granted(_)
            ));
        }
        let null_with_content = Any::new(Tag::Null, vec![0]).unwrap();
        match tsa.respond(&request(Some(null_with_content)), at).unwrap() {
            Reply::Rejected { fail_info, .. } => assert_eq!(fail_info, FailInfo::BadAlg),
            Reply::Granted(_) => panic!("a NULL with content was accepted"),
        }
    }

    #[test]
    fn fail_info_bits_are_named_bit_lists() {
        let der = FailInfo::BadAlg.bit_string().unwrap().to_der().unwrap();
        assert_eq!(der, vec![0x03, 0x02, 0x07, 0x80]);
        let der = FailInfo::BadDataFormat
            .bit_string()
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(der, vec![0x03, 0x02, 0x02, 0x04]);
        let der = FailInfo::SystemFailure
            .bit_string()
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(der, vec![0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40]);
    }
}
