//! RFC 3161 timestamps as Sigstore bundles carry them.
//!
//! A bundle's `verificationMaterial.timestampVerificationData.rfc3161Timestamps[]
//! .signedTimestamp` is the DER of a `TimeStampResp` (RFC 3161 §2.4.2): a
//! `PKIStatusInfo` and the `timeStampToken`, a CMS `ContentInfo` holding
//! `SignedData` whose encapsulated content is a `TSTInfo`. What the TSA
//! timestamped (the `messageImprint`) is the hash of the bundle's signature
//! bytes: `messageSignature.signature`, or the DSSE envelope's
//! `signatures[0].sig`.
//!
//! [`TimestampToken::parse_response`] (or [`TimestampToken::parse_token`] for a
//! bare `ContentInfo`) decodes the structure once and checks what can be
//! checked without keys; [`TimestampToken::verify`] then checks, in order:
//!
//! 1. the message imprint equals the hash of the signed bytes;
//! 2. the `message-digest` signed attribute equals the hash of the `TSTInfo`
//!    DER under the SignerInfo's `digestAlgorithm`;
//! 3. the signing certificate: an embedded certificate the SignerInfo's `sid`
//!    identifies, or else the first certificate of an authority's chain (whose
//!    identity the `sid` must then name); the signature over the signed
//!    attributes (as a DER `SET OF`) verifies with its key, and the ESS
//!    signing-certificate attribute, when present, names it;
//! 4. per authority, until one accepts: the signing certificate has a
//!    critical extendedKeyUsage of exactly timeStamping (RFC 3161 §2.3);
//!    every certificate of the path (the signing certificate, then the
//!    authority's certificates above it) is valid at `genTime`; `genTime` lies
//!    inside the authority's `validFor` window (both ends inclusive); and the
//!    signing certificate chains to the authority's root through
//!    [`ChainVerifier`] with [`Purpose::TimeStamping`]. The certificates above
//!    the signer are the authority's chain after its first certificate when
//!    the signer *is* that first certificate, else the whole chain: with a
//!    trust root that lists the TSA leaf first (as Sigstore's do), an embedded
//!    certificate other than that leaf is therefore never accepted. An
//!    authority listing only its signing certificate pins it (no chain; the
//!    certificate must still pass the leaf checks: not a CA, no unknown
//!    critical extension, keyUsage digitalSignature).
//!
//! Certificates embedded in the token never add trust: only the one the `sid`
//! names is used, as the signer candidate.
//!
//! Comparing `genTime` with the validity of the *artifact's* signing
//! certificate is the verification pipeline's job, not this module's.

use const_oid::ObjectIdentifier;
use der::asn1::AnyRef;
use der::{Decode, Reader, SliceReader, Tagged};
use signet_crypto::{CryptoError, HashAlgorithm, SignatureScheme};

use crate::cert::Certificate;
use crate::chain::{ChainError, ChainVerifier, Purpose, TrustedCa};

/// `id-signedData` (RFC 5652).
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// `id-ct-TSTInfo` (RFC 3161).
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-contentType` signed attribute (RFC 5652 §11.1).
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest` signed attribute (RFC 5652 §11.2).
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// `id-aa-signingCertificate` (RFC 2634 §5.4, ESSCertID with SHA-1).
pub const ID_AA_SIGNING_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
/// `id-aa-signingCertificateV2` (RFC 5035, ESSCertIDv2).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-kp-timeStamping` (RFC 5280 §4.2.1.12).
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// `id-ce-extKeyUsage`.
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Most certificates read from `SignedData.certificates`; more is malformed.
pub const MAX_EMBEDDED_CERTIFICATES: usize = 16;
/// Most signed attributes read from the SignerInfo; more is malformed.
pub const MAX_SIGNED_ATTRIBUTES: usize = 32;
/// Most SignerInfos counted before giving up (exactly one is accepted).
const MAX_SIGNER_INFOS: usize = 8;
/// Most elements any other SEQUENCE / SET of the token may hold. TSTInfo,
/// the largest, has ten fields.
const MAX_FIELDS: usize = 16;

// DER tag bytes (universal and context-specific, low tag numbers).
const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_CTX0_PRIMITIVE: u8 = 0x80;
const TAG_CTX0: u8 = 0xA0;
const TAG_CTX1: u8 = 0xA1;

/// Why a timestamp could not be parsed or did not verify. Each check has its
/// own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("timestamp response status is {status}, not granted (0) or grantedWithMods (1)")]
    NotGranted { status: u64 },
    #[error("timestamp response carries no timeStampToken")]
    MissingToken,
    #[error("ContentInfo content type is {0}, not id-signedData")]
    NotSignedData(ObjectIdentifier),
    #[error("SignedData eContentType is {0}, not id-ct-TSTInfo")]
    NotTstInfo(ObjectIdentifier),
    #[error("SignedData has no eContent: the TSTInfo is missing")]
    MissingTstInfo,
    #[error("TSTInfo version is {0}, only v1 exists")]
    UnsupportedVersion(u64),
    #[error("unsupported message imprint hash algorithm {0}")]
    UnsupportedImprintAlgorithm(ObjectIdentifier),
    #[error("SignedData has {0} SignerInfos; exactly one is required")]
    SignerCount(usize),
    #[error("unsupported SignerInfo digestAlgorithm {0}")]
    UnsupportedDigestAlgorithm(ObjectIdentifier),
    #[error("SignerInfo has no signed attributes")]
    MissingSignedAttributes,
    #[error("signed attribute {0} is missing")]
    MissingSignedAttribute(&'static str),
    #[error("signed attribute {0} appears more than once")]
    DuplicateSignedAttribute(ObjectIdentifier),
    #[error("signed attribute {name} has {count} values; exactly one is required")]
    AttributeValueCount { name: &'static str, count: usize },
    #[error("content-type signed attribute is {0}, not id-ct-TSTInfo")]
    ContentTypeAttributeMismatch(ObjectIdentifier),
    #[error("unsupported SignerInfo signatureAlgorithm {0}")]
    UnsupportedSignatureAlgorithm(ObjectIdentifier),
    #[error("message imprint does not match the {algorithm:?} digest of the signed bytes")]
    MessageImprintMismatch { algorithm: HashAlgorithm },
    #[error(
        "message-digest signed attribute does not match the {algorithm:?} digest of the TSTInfo"
    )]
    MessageDigestMismatch { algorithm: HashAlgorithm },
    #[error("signature over the signed attributes does not verify: {0}")]
    BadSignature(CryptoError),
    #[error("the ESS signing-certificate attribute does not identify the signing certificate")]
    SigningCertificateMismatch,
    #[error("the SignerInfo sid does not identify the authority's signing certificate")]
    SignerIdMismatch,
    #[error("the timestamp authority has an empty certificate chain")]
    EmptyAuthorityChain,
    #[error(
        "the TSA signing certificate's extendedKeyUsage is absent or not critical (RFC 3161 §2.3)"
    )]
    EkuNotCritical,
    #[error("the TSA signing certificate's extendedKeyUsage is not exactly timeStamping (RFC 3161 §2.3)")]
    EkuNotTimeStamping,
    #[error(
        "certificate {index} of the TSA path is valid {not_before}..={not_after}, but genTime is {time}"
    )]
    CertificateNotValidAtTime {
        index: usize,
        not_before: i64,
        not_after: i64,
        time: i64,
    },
    #[error("the TSA signing certificate does not chain to the authority: {0}")]
    Chain(ChainError),
    #[error("genTime {time} is outside the authority's validity {valid_from:?}..={valid_until:?}")]
    OutsideAuthorityValidity {
        time: i64,
        valid_from: Option<i64>,
        valid_until: Option<i64>,
    },
    #[error("no timestamp authority to verify against")]
    NoAuthorities,
    #[error("no timestamp authority accepted the token: {}", list_failures(.0))]
    Untrusted(Vec<TimestampError>),
}

fn list_failures(failures: &[TimestampError]) -> String {
    failures
        .iter()
        .enumerate()
        .map(|(i, e)| format!("[authority {i}] {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn malformed(what: &'static str, reason: impl std::fmt::Display) -> TimestampError {
    TimestampError::Malformed {
        what,
        reason: reason.to_string(),
    }
}

/// A trusted timestamp authority, as `trusted_root.json` lists it.
///
/// `chain` is in trust-root order: the TSA signing certificate first, the root
/// last. `valid_from` / `valid_until` are the `validFor` window in unix
/// seconds, both inclusive; `None` leaves that end open.
///
/// The CA part of the chain is checked once, when the authority is built,
/// so that verifying a timestamp costs only the token's own signatures.
#[derive(Debug, Clone)]
pub struct TimestampAuthority {
    chain: Vec<Certificate>,
    valid_from: Option<i64>,
    valid_until: Option<i64>,
    /// Verifier over `chain[1..]`: for a signer that is `chain[0]` or is
    /// embedded in the token. Windows are checked apart, so none here.
    above_leaf: ChainVerifier,
    /// Verifier over the whole chain: for an embedded signer issued by
    /// `chain[0]` itself.
    whole: ChainVerifier,
}

impl TimestampAuthority {
    pub fn new(chain: Vec<Certificate>, valid_from: Option<i64>, valid_until: Option<i64>) -> Self {
        let ca = |certs: &[Certificate], known: &[Certificate]| {
            ChainVerifier::with_known_leaves(
                vec![TrustedCa {
                    chain: certs.to_vec(),
                    valid_from: None,
                    valid_until: None,
                }],
                known,
            )
        };
        // The authority's own signing certificate is trust material: its
        // issuing signature is checked here, once.
        let above_leaf = ca(
            chain.get(1..).unwrap_or_default(),
            chain.get(..1).unwrap_or_default(),
        );
        let whole = ca(&chain, &[]);
        TimestampAuthority {
            chain,
            valid_from,
            valid_until,
            above_leaf,
            whole,
        }
    }

    /// The chain in trust-root order, signing certificate first.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    pub fn valid_from(&self) -> Option<i64> {
        self.valid_from
    }

    pub fn valid_until(&self) -> Option<i64> {
        self.valid_until
    }

    /// The same authority with another validity window.
    pub fn with_window(&self, valid_from: Option<i64>, valid_until: Option<i64>) -> Self {
        TimestampAuthority {
            valid_from,
            valid_until,
            ..self.clone()
        }
    }
}

/// A timestamp that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// The TSTInfo `genTime`, in unix seconds (fractions of a second dropped).
    pub time: i64,
    /// Index into the authorities given to `verify` of the one that accepted.
    pub authority_index: usize,
}

/// The TSTInfo fields signet reads.
///
/// Invariant: `hash_algorithm` is what the messageImprint names; the length
/// of `hashed_message` is not checked at parse time (a wrong length fails the
/// imprint comparison).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfo {
    pub policy: ObjectIdentifier,
    pub hash_algorithm: HashAlgorithm,
    pub hashed_message: Vec<u8>,
    /// The serialNumber INTEGER contents (big-endian two's complement).
    pub serial_number: Vec<u8>,
    /// genTime in unix seconds, fractions of a second dropped.
    pub gen_time: i64,
    /// The nonce INTEGER contents, if any.
    pub nonce: Option<Vec<u8>>,
}

/// How the SignerInfo names its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SignerId {
    /// Issuer Name DER and serialNumber INTEGER contents, as in the token.
    IssuerAndSerial {
        issuer: Vec<u8>,
        serial: Vec<u8>,
    },
    SubjectKeyId(Vec<u8>),
}

/// The first ESSCertID(v2) of a signing-certificate attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EssCertId {
    /// `None` for ESSCertID (v1), whose hash is SHA-1.
    hash: Option<HashAlgorithm>,
    cert_hash: Vec<u8>,
    /// From `issuerSerial`, if present: the serialNumber contents, and the
    /// issuer's directoryName (Name DER; empty if the GeneralNames hold
    /// none, which then names no certificate).
    serial: Option<(Vec<u8>, Vec<u8>)>,
}

/// The parts of the single SignerInfo that verification needs.
///
/// Invariant: `signed_attrs` is the DER of the signed attributes exactly as
/// in the token, with the `[0] IMPLICIT` tag byte replaced by `SET OF` (0x31),
/// which is what the signature covers (RFC 5652 §5.4); the content-type
/// attribute was present, single-valued, and `id-ct-TSTInfo`.
#[derive(Debug, Clone)]
struct Signer {
    sid: SignerId,
    digest_algorithm: HashAlgorithm,
    signed_attrs: Vec<u8>,
    message_digest: Vec<u8>,
    ess_cert_id: Option<EssCertId>,
    signature_algorithm: ObjectIdentifier,
    signature: Vec<u8>,
}

/// A parsed RFC 3161 timestamp token.
///
/// Invariants, established by the parse functions: the ContentInfo is
/// SignedData whose eContentType is `id-ct-TSTInfo`; `tst_info_der` is the
/// eContent octets and decodes as a v1 TSTInfo into `tst_info` with a
/// supported imprint hash; there is exactly one SignerInfo, with a supported
/// digestAlgorithm and signed attributes (see `Signer`); `certificates` are
/// the embedded X.509 certificates that parsed, in token order (other
/// certificate choices and unparsable ones are skipped: they can never be the
/// signing certificate).
#[derive(Debug, Clone)]
pub struct TimestampToken {
    tst_info_der: Vec<u8>,
    tst_info: TstInfo,
    signer: Signer,
    certificates: Vec<Certificate>,
}

/// Verifies a Sigstore `signedTimestamp` (DER `TimeStampResp`) over
/// `signed_bytes` against `authorities`; see [`TimestampToken::verify`].
pub fn verify_timestamp(
    response_der: &[u8],
    signed_bytes: &[u8],
    authorities: &[TimestampAuthority],
) -> Result<VerifiedTimestamp, TimestampError> {
    TimestampToken::parse_response(response_der)?.verify(signed_bytes, authorities)
}

impl TimestampToken {
    /// Parses a DER `TimeStampResp`, the form Sigstore bundles carry. The
    /// status must be granted (0) or grantedWithMods (1) and the token present.
    pub fn parse_response(der: &[u8]) -> Result<TimestampToken, TimestampError> {
        let resp = single(der, "TimeStampResp")?;
        let mut fields = Fields::of(resp, TAG_SEQUENCE, "TimeStampResp")?;
        let status_info = fields.next(TAG_SEQUENCE, "TimeStampResp.status")?;
        let mut status_fields = Fields::of(status_info, TAG_SEQUENCE, "PKIStatusInfo")?;
        let status = status_fields.next(TAG_INTEGER, "PKIStatusInfo.status")?;
        let status = small_uint(status.value)
            .ok_or_else(|| malformed("PKIStatusInfo.status", "not a small non-negative INTEGER"))?;
        // statusString and failInfo are informative only.
        if status > 1 {
            return Err(TimestampError::NotGranted { status });
        }
        let token = fields
            .optional(TAG_SEQUENCE)
            .ok_or(TimestampError::MissingToken)?;
        fields.finish()?;
        Self::parse_token(token.raw)
    }

    /// Parses a DER `TimeStampToken` (a CMS `ContentInfo`).
    pub fn parse_token(der: &[u8]) -> Result<TimestampToken, TimestampError> {
        let content_info = single(der, "ContentInfo")?;
        let mut fields = Fields::of(content_info, TAG_SEQUENCE, "ContentInfo")?;
        let content_type = oid(fields.next(TAG_OID, "ContentInfo.contentType")?)?;
        if content_type != ID_SIGNED_DATA {
            return Err(TimestampError::NotSignedData(content_type));
        }
        let content = fields.next(TAG_CTX0, "ContentInfo.content")?;
        fields.finish()?;
        let mut explicit = Fields::of(content, TAG_CTX0, "ContentInfo.content")?;
        let signed_data = explicit.next(TAG_SEQUENCE, "SignedData")?;
        explicit.finish()?;
        parse_signed_data(signed_data)
    }

    /// The decoded TSTInfo.
    pub fn tst_info(&self) -> &TstInfo {
        &self.tst_info
    }

    /// The TSTInfo DER, as signed.
    pub fn tst_info_der(&self) -> &[u8] {
        &self.tst_info_der
    }

    /// The X.509 certificates embedded in the SignedData.
    pub fn embedded_certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    /// Verifies the token over `signed_bytes` against `authorities`, trying
    /// each in order; the first that accepts is reported. See the module
    /// documentation for the checks. Checks that do not depend on an
    /// authority fail with their own variant; when every authority rejects,
    /// [`TimestampError::Untrusted`] lists each one's reason, in order.
    pub fn verify(
        &self,
        signed_bytes: &[u8],
        authorities: &[TimestampAuthority],
    ) -> Result<VerifiedTimestamp, TimestampError> {
        let tst = &self.tst_info;
        if tst.hash_algorithm.digest(signed_bytes) != tst.hashed_message {
            return Err(TimestampError::MessageImprintMismatch {
                algorithm: tst.hash_algorithm,
            });
        }
        let signer = &self.signer;
        if signer.digest_algorithm.digest(&self.tst_info_der) != signer.message_digest {
            return Err(TimestampError::MessageDigestMismatch {
                algorithm: signer.digest_algorithm,
            });
        }
        let scheme = signature_scheme(signer.signature_algorithm, signer.digest_algorithm)?;

        // An embedded certificate the sid names is the signer whatever the
        // authority; its signature is checked once.
        let embedded = self
            .certificates
            .iter()
            .find(|c| signer_matches(&signer.sid, c));
        if let Some(cert) = embedded {
            self.check_signed_by(cert, scheme)?;
        }

        if authorities.is_empty() {
            return Err(TimestampError::NoAuthorities);
        }
        let mut failures = Vec::with_capacity(authorities.len());
        for (index, authority) in authorities.iter().enumerate() {
            match self.verify_with_authority(authority, embedded, scheme) {
                Ok(()) => {
                    return Ok(VerifiedTimestamp {
                        time: tst.gen_time,
                        authority_index: index,
                    })
                }
                Err(e) => failures.push(e),
            }
        }
        Err(TimestampError::Untrusted(failures))
    }

    /// The signature over the signed attributes verifies with `cert`'s key,
    /// and the ESS signing-certificate attribute, if any, names `cert`.
    fn check_signed_by(
        &self,
        cert: &Certificate,
        scheme: SignatureScheme,
    ) -> Result<(), TimestampError> {
        cert.public_key()
            .verify_with(scheme, &self.signer.signed_attrs, &self.signer.signature)
            .map_err(TimestampError::BadSignature)?;
        if let Some(ess) = &self.signer.ess_cert_id {
            if !ess_matches(ess, cert) {
                return Err(TimestampError::SigningCertificateMismatch);
            }
        }
        Ok(())
    }

    fn verify_with_authority(
        &self,
        authority: &TimestampAuthority,
        embedded: Option<&Certificate>,
        scheme: SignatureScheme,
    ) -> Result<(), TimestampError> {
        let (leaf, above_leaf) = authority
            .chain
            .split_first()
            .ok_or(TimestampError::EmptyAuthorityChain)?;
        let signer = match embedded {
            Some(cert) => cert,
            None => {
                if !signer_matches(&self.signer.sid, leaf) {
                    return Err(TimestampError::SignerIdMismatch);
                }
                self.check_signed_by(leaf, scheme)?;
                leaf
            }
        };
        // The authority's certificates above the signing certificate: the
        // chain after the signer if the signer is its first certificate, else
        // all of it (the signer must then be issued by its first).
        let (ca_chain, ca_verifier) = if signer == leaf {
            (above_leaf, &authority.above_leaf)
        } else {
            (authority.chain.as_slice(), &authority.whole)
        };

        check_signing_usage(signer)?;
        let time = self.tst_info.gen_time;
        let path = std::iter::once(signer).chain(ca_chain.iter());
        for (index, cert) in path.enumerate() {
            if !cert.is_valid_at(time) {
                return Err(TimestampError::CertificateNotValidAtTime {
                    index,
                    not_before: cert.not_before(),
                    not_after: cert.not_after(),
                    time,
                });
            }
        }
        let after_start = authority.valid_from.is_none_or(|from| from <= time);
        let before_end = authority.valid_until.is_none_or(|until| time <= until);
        if !(after_start && before_end) {
            return Err(TimestampError::OutsideAuthorityValidity {
                time,
                valid_from: authority.valid_from,
                valid_until: authority.valid_until,
            });
        }
        // An authority that lists only its signing certificate pins it; there
        // is no chain to check, but it must still be a signing certificate
        // (not a CA, no unknown critical extension, digitalSignature).
        if ca_chain.is_empty() {
            return crate::chain::check_leaf(signer, time, Purpose::TimeStamping)
                .map_err(TimestampError::Chain);
        }
        ca_verifier
            .verify(signer, &[], time, Purpose::TimeStamping)
            .map(|_| ())
            .map_err(TimestampError::Chain)
    }
}

/// The TSA signing certificate carries a critical extendedKeyUsage whose only
/// purpose is timeStamping (RFC 3161 §2.3).
fn check_signing_usage(cert: &Certificate) -> Result<(), TimestampError> {
    if !cert
        .extension(&ID_CE_EXT_KEY_USAGE)
        .is_some_and(|(critical, _)| critical)
    {
        return Err(TimestampError::EkuNotCritical);
    }
    if cert.extended_key_usage() != Some(&[ID_KP_TIME_STAMPING][..]) {
        return Err(TimestampError::EkuNotTimeStamping);
    }
    Ok(())
}

/// Whether `sid` names `cert`: issuer Name bytes and serial, or the
/// subjectKeyIdentifier extension value.
fn signer_matches(sid: &SignerId, cert: &Certificate) -> bool {
    match sid {
        SignerId::IssuerAndSerial { issuer, serial } => {
            cert.issuer_der() == issuer.as_slice()
                && cert.x509().tbs_certificate.serial_number.as_bytes() == serial.as_slice()
        }
        SignerId::SubjectKeyId(ski) => {
            const ID_CE_SUBJECT_KEY_IDENTIFIER: ObjectIdentifier =
                ObjectIdentifier::new_unwrap("2.5.29.14");
            cert.extension(&ID_CE_SUBJECT_KEY_IDENTIFIER)
                .and_then(|(_, value)| single(value, "subjectKeyIdentifier").ok())
                .is_some_and(|e| e.tag == TAG_OCTET_STRING && e.value == ski.as_slice())
        }
    }
}

fn ess_matches(ess: &EssCertId, cert: &Certificate) -> bool {
    let hash_ok = match ess.hash {
        Some(alg) => alg.digest(cert.der()) == ess.cert_hash,
        // ESSCertID (v1) is defined over SHA-1; it only confirms the
        // certificate the sid already chose, it grants no trust.
        None => signet_crypto::sha1_for_identifiers(cert.der()).as_slice() == ess.cert_hash,
    };
    let issuer_serial_ok = match &ess.serial {
        Some((serial, issuer)) => {
            cert.x509().tbs_certificate.serial_number.as_bytes() == serial.as_slice()
                && cert.issuer_der() == issuer.as_slice()
        }
        None => true,
    };
    hash_ok && issuer_serial_ok
}

/// The scheme of a SignerInfo signatureAlgorithm. A bare key algorithm
/// (`ecPublicKey`, `rsaEncryption`) takes its hash from `digest`.
fn signature_scheme(
    oid: ObjectIdentifier,
    digest: HashAlgorithm,
) -> Result<SignatureScheme, TimestampError> {
    use HashAlgorithm as H;
    use SignatureScheme as S;
    match oid {
        ID_EC_PUBLIC_KEY => Ok(match digest {
            H::Sha256 => S::EcdsaSha256,
            H::Sha384 => S::EcdsaSha384,
            H::Sha512 => S::EcdsaSha512,
        }),
        ID_RSA_ENCRYPTION => Ok(match digest {
            H::Sha256 => S::RsaPkcs1Sha256,
            H::Sha384 => S::RsaPkcs1Sha384,
            H::Sha512 => S::RsaPkcs1Sha512,
        }),
        other => SignatureScheme::from_oid(&other)
            .ok_or(TimestampError::UnsupportedSignatureAlgorithm(other)),
    }
}

fn hash_from_oid(oid: ObjectIdentifier) -> Option<HashAlgorithm> {
    match oid {
        ID_SHA256 => Some(HashAlgorithm::Sha256),
        ID_SHA384 => Some(HashAlgorithm::Sha384),
        ID_SHA512 => Some(HashAlgorithm::Sha512),
        _ => None,
    }
}

fn parse_signed_data(signed_data: Element<'_>) -> Result<TimestampToken, TimestampError> {
    let mut fields = Fields::of(signed_data, TAG_SEQUENCE, "SignedData")?;
    fields.next(TAG_INTEGER, "SignedData.version")?;
    fields.next(TAG_SET, "SignedData.digestAlgorithms")?;
    let encap = fields.next(TAG_SEQUENCE, "SignedData.encapContentInfo")?;
    let certificates = match fields.optional(TAG_CTX0) {
        Some(set) => embedded_certificates(set)?,
        None => Vec::new(),
    };
    let _crls = fields.optional(TAG_CTX1);
    let signer_infos = fields.next(TAG_SET, "SignedData.signerInfos")?;
    fields.finish()?;

    let mut encap = Fields::of(encap, TAG_SEQUENCE, "EncapsulatedContentInfo")?;
    let econtent_type = oid(encap.next(TAG_OID, "eContentType")?)?;
    if econtent_type != ID_CT_TST_INFO {
        return Err(TimestampError::NotTstInfo(econtent_type));
    }
    let econtent = encap
        .optional(TAG_CTX0)
        .ok_or(TimestampError::MissingTstInfo)?;
    encap.finish()?;
    let mut explicit = Fields::of(econtent, TAG_CTX0, "eContent")?;
    let tst_info_der = explicit.next(TAG_OCTET_STRING, "eContent")?.value;
    explicit.finish()?;
    let tst_info = parse_tst_info(tst_info_der)?;

    let infos = children(
        signer_infos.value,
        "SignedData.signerInfos",
        MAX_SIGNER_INFOS,
    )?;
    let [info] = infos.as_slice() else {
        return Err(TimestampError::SignerCount(infos.len()));
    };
    let signer = parse_signer_info(*info)?;

    Ok(TimestampToken {
        tst_info_der: tst_info_der.to_vec(),
        tst_info,
        signer,
        certificates,
    })
}

fn embedded_certificates(set: Element<'_>) -> Result<Vec<Certificate>, TimestampError> {
    let items = children(
        set.value,
        "SignedData.certificates",
        MAX_EMBEDDED_CERTIFICATES,
    )?;
    Ok(items
        .iter()
        .filter(|e| e.tag == TAG_SEQUENCE)
        .filter_map(|e| Certificate::from_der(e.raw).ok())
        .collect())
}

fn parse_tst_info(der: &[u8]) -> Result<TstInfo, TimestampError> {
    let tst = single(der, "TSTInfo")?;
    let mut fields = Fields::of(tst, TAG_SEQUENCE, "TSTInfo")?;
    let version = fields.next(TAG_INTEGER, "TSTInfo.version")?;
    match small_uint(version.value) {
        Some(1) => {}
        Some(v) => return Err(TimestampError::UnsupportedVersion(v)),
        None => {
            return Err(malformed(
                "TSTInfo.version",
                "not a small non-negative INTEGER",
            ))
        }
    }
    let policy = oid(fields.next(TAG_OID, "TSTInfo.policy")?)?;

    let imprint = fields.next(TAG_SEQUENCE, "TSTInfo.messageImprint")?;
    let mut imprint = Fields::of(imprint, TAG_SEQUENCE, "MessageImprint")?;
    let alg = algorithm_oid(imprint.next(TAG_SEQUENCE, "MessageImprint.hashAlgorithm")?)?;
    let hash_algorithm =
        hash_from_oid(alg).ok_or(TimestampError::UnsupportedImprintAlgorithm(alg))?;
    let hashed_message = imprint
        .next(TAG_OCTET_STRING, "MessageImprint.hashedMessage")?
        .value
        .to_vec();
    imprint.finish()?;

    let serial_number = fields
        .next(TAG_INTEGER, "TSTInfo.serialNumber")?
        .value
        .to_vec();
    let gen_time = generalized_time(fields.next(TAG_GENERALIZED_TIME, "TSTInfo.genTime")?.value)?;
    let _accuracy = fields.optional(TAG_SEQUENCE);
    let _ordering = fields.optional(TAG_BOOLEAN);
    let nonce = fields.optional(TAG_INTEGER).map(|n| n.value.to_vec());
    let _tsa = fields.optional(TAG_CTX0);
    let _extensions = fields.optional(TAG_CTX1);
    fields.finish()?;

    Ok(TstInfo {
        policy,
        hash_algorithm,
        hashed_message,
        serial_number,
        gen_time,
        nonce,
    })
}

fn parse_signer_info(info: Element<'_>) -> Result<Signer, TimestampError> {
    let mut fields = Fields::of(info, TAG_SEQUENCE, "SignerInfo")?;
    fields.next(TAG_INTEGER, "SignerInfo.version")?;
    let sid = if let Some(ias) = fields.optional(TAG_SEQUENCE) {
        let mut ias = Fields::of(ias, TAG_SEQUENCE, "IssuerAndSerialNumber")?;
        let issuer = ias.next(TAG_SEQUENCE, "IssuerAndSerialNumber.issuer")?.raw;
        let serial = ias
            .next(TAG_INTEGER, "IssuerAndSerialNumber.serialNumber")?
            .value;
        ias.finish()?;
        SignerId::IssuerAndSerial {
            issuer: issuer.to_vec(),
            serial: serial.to_vec(),
        }
    } else {
        let ski = fields.next(TAG_CTX0_PRIMITIVE, "SignerInfo.sid")?;
        SignerId::SubjectKeyId(ski.value.to_vec())
    };
    let digest_oid = algorithm_oid(fields.next(TAG_SEQUENCE, "SignerInfo.digestAlgorithm")?)?;
    let digest_algorithm =
        hash_from_oid(digest_oid).ok_or(TimestampError::UnsupportedDigestAlgorithm(digest_oid))?;
    let attrs = fields
        .optional(TAG_CTX0)
        .ok_or(TimestampError::MissingSignedAttributes)?;
    let signature_algorithm =
        algorithm_oid(fields.next(TAG_SEQUENCE, "SignerInfo.signatureAlgorithm")?)?;
    let signature = fields.next(TAG_OCTET_STRING, "SignerInfo.signature")?.value;
    let _unsigned = fields.optional(TAG_CTX1);
    fields.finish()?;

    // The signature covers the attributes' DER with the SET OF tag.
    let mut signed_attrs = attrs.raw.to_vec();
    if let Some(tag) = signed_attrs.first_mut() {
        *tag = TAG_SET;
    }

    let mut content_type = None;
    let mut message_digest = None;
    let mut ess_v1 = None;
    let mut ess_v2 = None;
    let mut seen: Vec<ObjectIdentifier> = Vec::new();
    for attr in children(attrs.value, "signedAttrs", MAX_SIGNED_ATTRIBUTES)? {
        let mut attr = Fields::of(attr, TAG_SEQUENCE, "Attribute")?;
        let attr_type = oid(attr.next(TAG_OID, "Attribute.attrType")?)?;
        let values = attr.next(TAG_SET, "Attribute.attrValues")?;
        attr.finish()?;
        if seen.contains(&attr_type) {
            return Err(TimestampError::DuplicateSignedAttribute(attr_type));
        }
        seen.push(attr_type);
        let slot = match attr_type {
            ID_CONTENT_TYPE => (&mut content_type, "content-type"),
            ID_MESSAGE_DIGEST => (&mut message_digest, "message-digest"),
            ID_AA_SIGNING_CERTIFICATE => (&mut ess_v1, "signing-certificate"),
            ID_AA_SIGNING_CERTIFICATE_V2 => (&mut ess_v2, "signing-certificate-v2"),
            _ => continue,
        };
        let values = children(values.value, "Attribute.attrValues", MAX_FIELDS)?;
        let [value] = values.as_slice() else {
            return Err(TimestampError::AttributeValueCount {
                name: slot.1,
                count: values.len(),
            });
        };
        *slot.0 = Some(*value);
    }

    let content_type =
        content_type.ok_or(TimestampError::MissingSignedAttribute("content-type"))?;
    if content_type.tag != TAG_OID {
        return Err(malformed("content-type attribute", "value is not an OID"));
    }
    let content_type = oid(content_type)?;
    if content_type != ID_CT_TST_INFO {
        return Err(TimestampError::ContentTypeAttributeMismatch(content_type));
    }
    let message_digest =
        message_digest.ok_or(TimestampError::MissingSignedAttribute("message-digest"))?;
    if message_digest.tag != TAG_OCTET_STRING {
        return Err(malformed(
            "message-digest attribute",
            "value is not an OCTET STRING",
        ));
    }
    let ess_cert_id = match (ess_v2, ess_v1) {
        (Some(v2), _) => Some(parse_ess(v2, true)?),
        (None, Some(v1)) => Some(parse_ess(v1, false)?),
        (None, None) => None,
    };

    Ok(Signer {
        sid,
        digest_algorithm,
        signed_attrs,
        message_digest: message_digest.value.to_vec(),
        ess_cert_id,
        signature_algorithm,
        signature: signature.to_vec(),
    })
}

/// GeneralName `directoryName` ([4], constructed).
const TAG_DIRECTORY_NAME: u8 = 0xA4;

/// The first ESSCertID(v2) of a SigningCertificate(V2) value: it identifies
/// the signing certificate (RFC 5035 §3).
fn parse_ess(value: Element<'_>, v2: bool) -> Result<EssCertId, TimestampError> {
    const WHAT: &str = "signing-certificate attribute";
    let mut outer = Fields::of(value, TAG_SEQUENCE, WHAT)?;
    let certs = outer.next(TAG_SEQUENCE, WHAT)?;
    let first = children(certs.value, WHAT, MAX_FIELDS)?
        .into_iter()
        .next()
        .ok_or_else(|| malformed(WHAT, "no ESSCertID"))?;
    let mut id = Fields::of(first, TAG_SEQUENCE, WHAT)?;
    let hash = if v2 {
        match id.optional(TAG_SEQUENCE) {
            // A hash this code cannot compute would leave the attribute
            // binding nothing: refused (RFC 5035), not skipped.
            Some(alg) => {
                let oid = algorithm_oid(alg)?;
                Some(hash_from_oid(oid).ok_or(TimestampError::UnsupportedDigestAlgorithm(oid))?)
            }
            None => Some(HashAlgorithm::Sha256),
        }
    } else {
        None
    };
    let cert_hash = id.next(TAG_OCTET_STRING, WHAT)?.value.to_vec();
    let serial = match id.optional(TAG_SEQUENCE) {
        Some(issuer_serial) => {
            let mut is = Fields::of(issuer_serial, TAG_SEQUENCE, WHAT)?;
            let mut names = Fields::of(is.next(TAG_SEQUENCE, WHAT)?, TAG_SEQUENCE, WHAT)?;
            // GeneralName directoryName: [4] EXPLICIT Name.
            let issuer = names
                .optional(TAG_DIRECTORY_NAME)
                .map_or_else(Vec::new, |dn| dn.value.to_vec());
            let serial = is.next(TAG_INTEGER, WHAT)?.value.to_vec();
            is.finish()?;
            Some((serial, issuer))
        }
        None => None,
    };
    id.finish()?;
    Ok(EssCertId {
        hash,
        cert_hash,
        serial,
    })
}

/// The OID of an AlgorithmIdentifier (its parameters are not interpreted,
/// but must be absent, NULL, or one element).
fn algorithm_oid(alg: Element<'_>) -> Result<ObjectIdentifier, TimestampError> {
    let mut fields = Fields::of(alg, TAG_SEQUENCE, "AlgorithmIdentifier")?;
    let id = oid(fields.next(TAG_OID, "AlgorithmIdentifier.algorithm")?)?;
    if fields.optional(TAG_NULL).is_none() {
        fields.any();
    }
    fields.finish()?;
    Ok(id)
}

/// Parses a DER GeneralizedTime value `YYYYMMDDHHMMSS[.f+]Z` into unix
/// seconds, dropping the fraction (RFC 3161 §2.4.2 allows one; DER forbids
/// trailing zeros in it and any other form).
fn generalized_time(v: &[u8]) -> Result<i64, TimestampError> {
    const WHAT: &str = "TSTInfo.genTime";
    let bad = || {
        malformed(
            WHAT,
            format!("not YYYYMMDDHHMMSS[.f]Z: {:?}", String::from_utf8_lossy(v)),
        )
    };
    let (body, zulu) = v.split_at(v.len().saturating_sub(1));
    if zulu != b"Z" || body.len() < 14 {
        return Err(bad());
    }
    let (whole, fraction) = body.split_at(14);
    if !whole.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    if let Some((dot, digits)) = fraction.split_first() {
        let digits_ok = !digits.is_empty()
            && digits.len() <= 9
            && digits.iter().all(u8::is_ascii_digit)
            && digits.last() != Some(&b'0');
        if *dot != b'.' || !digits_ok {
            return Err(bad());
        }
    }
    let num = |range: std::ops::Range<usize>| -> u16 {
        whole[range]
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
    };
    let narrow = |n: u16| u8::try_from(n).map_err(|_| bad());
    let dt = der::DateTime::new(
        num(0..4),
        narrow(num(4..6))?,
        narrow(num(6..8))?,
        narrow(num(8..10))?,
        narrow(num(10..12))?,
        narrow(num(12..14))?,
    )
    .map_err(|_| bad())?;
    i64::try_from(dt.unix_duration().as_secs()).map_err(|_| bad())
}

/// A non-negative INTEGER that fits in a u64, from its DER contents.
fn small_uint(value: &[u8]) -> Option<u64> {
    let (first, _) = value.split_first()?;
    if first & 0x80 != 0 {
        return None;
    }
    let significant = match value {
        [0, rest @ ..] if !rest.is_empty() => rest,
        v => v,
    };
    if significant.len() > 8 {
        return None;
    }
    Some(
        significant
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
    )
}

fn oid(e: Element<'_>) -> Result<ObjectIdentifier, TimestampError> {
    ObjectIdentifier::from_der(e.raw).map_err(|err| malformed("OBJECT IDENTIFIER", err))
}

/// One DER TLV: its (single) tag byte, contents, and the whole encoding.
#[derive(Debug, Clone, Copy)]
struct Element<'a> {
    tag: u8,
    value: &'a [u8],
    raw: &'a [u8],
}

impl<'a> Element<'a> {
    fn from_tlv(raw: &'a [u8], what: &'static str) -> Result<Self, TimestampError> {
        let any = AnyRef::from_der(raw).map_err(|e| malformed(what, e))?;
        Ok(Element {
            tag: u8::from(any.tag()),
            value: any.value(),
            raw,
        })
    }
}

/// `bytes` as exactly one DER TLV, nothing after it.
fn single<'a>(bytes: &'a [u8], what: &'static str) -> Result<Element<'a>, TimestampError> {
    let mut reader = SliceReader::new(bytes).map_err(|e| malformed(what, e))?;
    let raw = reader.tlv_bytes().map_err(|e| malformed(what, e))?;
    if !reader.is_finished() {
        return Err(malformed(what, "trailing bytes after the DER value"));
    }
    Element::from_tlv(raw, what)
}

/// The TLVs concatenated in `contents`, at most `max` of them.
fn children<'a>(
    contents: &'a [u8],
    what: &'static str,
    max: usize,
) -> Result<Vec<Element<'a>>, TimestampError> {
    let mut reader = SliceReader::new(contents).map_err(|e| malformed(what, e))?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        if out.len() == max {
            return Err(malformed(what, format!("more than {max} elements")));
        }
        let raw = reader.tlv_bytes().map_err(|e| malformed(what, e))?;
        out.push(Element::from_tlv(raw, what)?);
    }
    Ok(out)
}

/// A cursor over the fields of a constructed value.
struct Fields<'a> {
    items: std::vec::IntoIter<Element<'a>>,
    peeked: Option<Element<'a>>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    /// The fields of `e`, which must carry tag `tag`.
    fn of(e: Element<'a>, tag: u8, what: &'static str) -> Result<Self, TimestampError> {
        if e.tag != tag {
            return Err(malformed(
                what,
                format!("expected tag 0x{tag:02x}, found 0x{:02x}", e.tag),
            ));
        }
        let mut items = children(e.value, what, MAX_FIELDS)?.into_iter();
        let peeked = items.next();
        Ok(Fields {
            items,
            peeked,
            what,
        })
    }

    /// The next field, which must be present with tag `tag`.
    fn next(&mut self, tag: u8, field: &'static str) -> Result<Element<'a>, TimestampError> {
        self.optional(tag).ok_or_else(|| {
            malformed(
                field,
                format!("expected a field with tag 0x{tag:02x} in {}", self.what),
            )
        })
    }

    /// The next field if it has tag `tag`.
    fn optional(&mut self, tag: u8) -> Option<Element<'a>> {
        if self.peeked.is_some_and(|e| e.tag == tag) {
            self.any()
        } else {
            None
        }
    }

    /// The next field, whatever its tag.
    fn any(&mut self) -> Option<Element<'a>> {
        let current = self.peeked.take();
        self.peeked = self.items.next();
        current
    }

    /// No fields are left.
    fn finish(self) -> Result<(), TimestampError> {
        match self.peeked {
            None => Ok(()),
            Some(e) => Err(malformed(
                self.what,
                format!("unexpected field with tag 0x{:02x}", e.tag),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::testutil::{self, Key};
    use der::Encode;
    use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
    use x509_cert::ext::Extension;

    const NB: u64 = 1_700_000_000;
    const NA: u64 = 1_700_000_600;
    const AT: i64 = 1_700_000_300;
    const SIGNED: &[u8] = b"the artifact signature";
    /// Serial of the token, distinctive so tests can find it in the DER.
    const TOKEN_SERIAL: [u8; 4] = [0x5a, 0xa5, 0x5a, 0xa5];
    const TSA_SERIAL: [u8; 2] = [0x7e, 0x57];
    const TSA_SKI: [u8; 4] = [0x0b, 0xad, 0xf0, 0x0d];
    const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    const ID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(content);
        out
    }
    fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
        tlv(tag, &parts.concat())
    }
    fn seq(parts: &[&[u8]]) -> Vec<u8> {
        cons(TAG_SEQUENCE, parts)
    }
    fn oid_der(oid: ObjectIdentifier) -> Vec<u8> {
        oid.to_der().unwrap()
    }
    fn int(v: &[u8]) -> Vec<u8> {
        tlv(TAG_INTEGER, v)
    }
    fn alg(oid: ObjectIdentifier) -> Vec<u8> {
        seq(&[&oid_der(oid)])
    }
    fn attr(oid: ObjectIdentifier, values: &[&[u8]]) -> Vec<u8> {
        seq(&[&oid_der(oid), &cons(TAG_SET, values)])
    }
    fn gen_time(unix: i64) -> String {
        let dt =
            der::DateTime::from_unix_duration(std::time::Duration::from_secs(unix as u64)).unwrap();
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minutes(),
            dt.seconds()
        )
    }

    struct Pki {
        root_key: Key,
        root: Certificate,
        tsa_key: Key,
        tsa: Certificate,
    }

    fn tsa_cert(
        key: &Key,
        issuer_key: &Key,
        exts: Vec<Extension>,
        nb: u64,
        na: u64,
    ) -> Certificate {
        let mut tbs = testutil::tbs("tsa", "root", key, nb, na, exts);
        tbs.serial_number = x509_cert::serial_number::SerialNumber::new(&TSA_SERIAL).unwrap();
        testutil::sign(tbs, issuer_key)
    }

    fn tsa_exts(eku: &[&str], critical: bool) -> Vec<Extension> {
        let eku = x509_cert::ext::pkix::ExtendedKeyUsage(
            eku.iter()
                .map(|o| ObjectIdentifier::new_unwrap(o))
                .collect(),
        );
        vec![
            testutil::key_usage(KeyUsage(KeyUsages::DigitalSignature.into())),
            testutil::ext("2.5.29.37", critical, eku.to_der().unwrap()),
            testutil::ext(
                "2.5.29.14",
                false,
                der::asn1::OctetString::new(TSA_SKI.to_vec())
                    .unwrap()
                    .to_der()
                    .unwrap(),
            ),
        ]
    }

    fn pki() -> Pki {
        let root_key = Key::new();
        let root = testutil::root("root", &root_key, NB - 10_000, NA + 10_000);
        let tsa_key = Key::new();
        let tsa = tsa_cert(
            &tsa_key,
            &root_key,
            tsa_exts(&[testutil::TIME_STAMPING], true),
            NB,
            NA,
        );
        Pki {
            root_key,
            root,
            tsa_key,
            tsa,
        }
    }

    fn authority(pki: &Pki) -> TimestampAuthority {
        TimestampAuthority::new(vec![pki.tsa.clone(), pki.root.clone()], None, None)
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Sid {
        IssuerSerial,
        WrongSerial,
        Ski,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Ess {
        None,
        V2,
        V2WrongHash,
        /// An ESSCertIDv2 naming a hash algorithm nobody computes here.
        V2UnknownHash,
        V2WrongIssuer,
        V1,
        V1WrongSerial,
        V1WrongHash,
    }

    /// Knobs for minting a token; `Default` mints a good one.
    #[derive(Clone)]
    struct Spec {
        status: u8,
        token: bool,
        content_type: ObjectIdentifier,
        econtent_type: ObjectIdentifier,
        econtent: bool,
        tst_version: u8,
        imprint_alg: ObjectIdentifier,
        imprint: Vec<u8>,
        gen_time: String,
        embed: bool,
        signer_infos: usize,
        sid: Sid,
        digest_alg: ObjectIdentifier,
        signed_attrs: bool,
        content_type_attr: Option<ObjectIdentifier>,
        content_type_values: usize,
        message_digest_attr: bool,
        duplicate_message_digest: bool,
        ess: Ess,
        sig_alg: ObjectIdentifier,
    }

    impl Default for Spec {
        fn default() -> Spec {
            Spec {
                status: 0,
                token: true,
                content_type: ID_SIGNED_DATA,
                econtent_type: ID_CT_TST_INFO,
                econtent: true,
                tst_version: 1,
                imprint_alg: ID_SHA256,
                imprint: signet_crypto::sha256(SIGNED).to_vec(),
                gen_time: gen_time(AT),
                embed: true,
                signer_infos: 1,
                sid: Sid::IssuerSerial,
                digest_alg: ID_SHA256,
                signed_attrs: true,
                content_type_attr: Some(ID_CT_TST_INFO),
                content_type_values: 1,
                message_digest_attr: true,
                duplicate_message_digest: false,
                ess: Ess::V2,
                sig_alg: ID_ECDSA_SHA256,
            }
        }
    }

    struct Minted {
        der: Vec<u8>,
        signature: Vec<u8>,
    }

    fn mint(pki: &Pki, spec: &Spec) -> Minted {
        let tst_info = seq(&[
            &int(&[spec.tst_version]),
            &oid_der(ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.2")),
            &seq(&[
                &alg(spec.imprint_alg),
                &tlv(TAG_OCTET_STRING, &spec.imprint),
            ]),
            &int(&TOKEN_SERIAL),
            &tlv(TAG_GENERALIZED_TIME, spec.gen_time.as_bytes()),
            &seq(&[&int(&[1])]),
            &int(&[0x01, 0x02, 0x03]),
        ]);
        let digest = hash_from_oid(spec.digest_alg)
            .unwrap_or(HashAlgorithm::Sha256)
            .digest(&tst_info);

        let mut attrs: Vec<Vec<u8>> = Vec::new();
        if let Some(ct) = spec.content_type_attr {
            let value = oid_der(ct);
            let values: Vec<&[u8]> = vec![&value; spec.content_type_values];
            attrs.push(attr(ID_CONTENT_TYPE, &values));
        }
        if spec.message_digest_attr {
            attrs.push(attr(ID_MESSAGE_DIGEST, &[&tlv(TAG_OCTET_STRING, &digest)]));
        }
        if spec.duplicate_message_digest {
            attrs.push(attr(ID_MESSAGE_DIGEST, &[&tlv(TAG_OCTET_STRING, &digest)]));
        }
        let issuer_serial = seq(&[&seq(&[&tlv(0xA4, pki.tsa.issuer_der())]), &int(&TSA_SERIAL)]);
        match spec.ess {
            Ess::None => {}
            Ess::V2 | Ess::V2WrongHash | Ess::V2WrongIssuer => {
                let mut hash = signet_crypto::sha256(pki.tsa.der()).to_vec();
                if spec.ess == Ess::V2WrongHash {
                    hash[0] ^= 1;
                }
                let issuer_serial = if spec.ess == Ess::V2WrongIssuer {
                    seq(&[
                        &seq(&[&tlv(0xA4, pki.tsa.subject_der())]),
                        &int(&TSA_SERIAL),
                    ])
                } else {
                    issuer_serial
                };
                let id = seq(&[&tlv(TAG_OCTET_STRING, &hash), &issuer_serial]);
                attrs.push(attr(ID_AA_SIGNING_CERTIFICATE_V2, &[&seq(&[&seq(&[&id])])]));
            }
            Ess::V2UnknownHash => {
                let unknown = ObjectIdentifier::new_unwrap("1.2.3.4");
                let id = seq(&[&alg(unknown), &tlv(TAG_OCTET_STRING, &[0u8; 32])]);
                attrs.push(attr(ID_AA_SIGNING_CERTIFICATE_V2, &[&seq(&[&seq(&[&id])])]));
            }
            Ess::V1 | Ess::V1WrongSerial | Ess::V1WrongHash => {
                let serial: &[u8] = if spec.ess == Ess::V1WrongSerial {
                    &[9]
                } else {
                    &TSA_SERIAL
                };
                let issuer_serial = seq(&[&seq(&[&tlv(0xA4, pki.tsa.issuer_der())]), &int(serial)]);
                let mut hash = signet_crypto::sha1_for_identifiers(pki.tsa.der()).to_vec();
                if spec.ess == Ess::V1WrongHash {
                    hash[0] ^= 1;
                }
                let id = seq(&[&tlv(TAG_OCTET_STRING, &hash), &issuer_serial]);
                attrs.push(attr(ID_AA_SIGNING_CERTIFICATE, &[&seq(&[&seq(&[&id])])]));
            }
        }
        let attrs: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
        let signed_attrs_set = cons(TAG_SET, &attrs);
        let signature = pki.tsa_key.sign(&signed_attrs_set);
        let mut signed_attrs_field = signed_attrs_set.clone();
        signed_attrs_field[0] = TAG_CTX0;

        let sid = match spec.sid {
            Sid::IssuerSerial => seq(&[pki.tsa.issuer_der(), &int(&TSA_SERIAL)]),
            Sid::WrongSerial => seq(&[pki.tsa.issuer_der(), &int(&[0x01])]),
            Sid::Ski => tlv(TAG_CTX0_PRIMITIVE, &TSA_SKI),
        };
        let version = int(&[if spec.sid == Sid::Ski { 3 } else { 1 }]);
        let digest_alg = alg(spec.digest_alg);
        let sig_alg = alg(spec.sig_alg);
        let sig = tlv(TAG_OCTET_STRING, &signature);
        let mut info_parts: Vec<&[u8]> = vec![&version, &sid, &digest_alg];
        if spec.signed_attrs {
            info_parts.push(&signed_attrs_field);
        }
        info_parts.extend([sig_alg.as_slice(), sig.as_slice()]);
        let info = seq(&info_parts);
        let infos: Vec<&[u8]> = vec![&info; spec.signer_infos];

        let econtent = cons(TAG_CTX0, &[&tlv(TAG_OCTET_STRING, &tst_info)]);
        let mut encap_parts: Vec<&[u8]> = Vec::new();
        let econtent_type = oid_der(spec.econtent_type);
        encap_parts.push(&econtent_type);
        if spec.econtent {
            encap_parts.push(&econtent);
        }
        let encap = seq(&encap_parts);
        let certs = cons(TAG_CTX0, &[pki.tsa.der(), pki.root.der()]);
        let sd_version = int(&[3]);
        let digest_algs = cons(TAG_SET, &[&alg(spec.digest_alg)]);
        let signer_infos = cons(TAG_SET, &infos);
        let mut sd_parts: Vec<&[u8]> = vec![&sd_version, &digest_algs, &encap];
        if spec.embed {
            sd_parts.push(&certs);
        }
        sd_parts.push(&signer_infos);
        let signed_data = seq(&sd_parts);
        let content_info = seq(&[
            &oid_der(spec.content_type),
            &cons(TAG_CTX0, &[&signed_data]),
        ]);
        let status = seq(&[&int(&[spec.status])]);
        let der = if spec.token {
            seq(&[&status, &content_info])
        } else {
            seq(&[&status])
        };
        Minted { der, signature }
    }

    fn verify_spec(pki: &Pki, spec: &Spec) -> Result<VerifiedTimestamp, TimestampError> {
        verify_timestamp(&mint(pki, spec).der, SIGNED, &[authority(pki)])
    }

    fn parse_spec(pki: &Pki, spec: &Spec) -> Result<TimestampToken, TimestampError> {
        TimestampToken::parse_response(&mint(pki, spec).der)
    }

    /// Flips the last byte of the first occurrence of `needle` in `der`.
    fn flip(der: &[u8], needle: &[u8]) -> Vec<u8> {
        let at = der
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("needle present");
        let mut out = der.to_vec();
        out[at + needle.len() - 1] ^= 0x01;
        out
    }

    fn only_failure(result: Result<VerifiedTimestamp, TimestampError>) -> TimestampError {
        match result {
            Err(TimestampError::Untrusted(mut f)) if f.len() == 1 => f.remove(0),
            other => panic!("expected one authority failure, got {other:?}"),
        }
    }

    #[test]
    fn good_token_verifies_with_and_without_embedded_certificate() {
        let pki = pki();
        for embed in [true, false] {
            let spec = Spec {
                embed,
                ..Spec::default()
            };
            let token = parse_spec(&pki, &spec).unwrap();
            assert_eq!(
                token.embedded_certificates().len(),
                if embed { 2 } else { 0 }
            );
            assert_eq!(token.tst_info().gen_time, AT);
            assert_eq!(token.tst_info().serial_number, TOKEN_SERIAL);
            assert_eq!(token.tst_info().nonce.as_deref(), Some(&[1u8, 2, 3][..]));
            let ok = token.verify(SIGNED, &[authority(&pki)]).unwrap();
            assert_eq!(
                ok,
                VerifiedTimestamp {
                    time: AT,
                    authority_index: 0
                }
            );
        }
    }

    #[test]
    fn variants_that_verify() {
        let pki = pki();
        let ok = |spec: Spec| verify_spec(&pki, &spec).unwrap();
        ok(Spec {
            sid: Sid::Ski,
            ..Spec::default()
        });
        ok(Spec {
            sid: Sid::Ski,
            embed: false,
            ..Spec::default()
        });
        ok(Spec {
            ess: Ess::None,
            ..Spec::default()
        });
        ok(Spec {
            ess: Ess::V1,
            ..Spec::default()
        });
        // A bare key algorithm takes its hash from digestAlgorithm.
        ok(Spec {
            sig_alg: ID_EC_PUBLIC_KEY,
            ..Spec::default()
        });
        // A fraction of a second is dropped.
        let t = verify_spec(
            &pki,
            &Spec {
                gen_time: gen_time(AT).replace('Z', ".25Z"),
                ..Spec::default()
            },
        )
        .unwrap();
        assert_eq!(t.time, AT);
    }

    #[test]
    fn second_authority_can_accept() {
        let pki = pki();
        let other = self::pki();
        let ok = verify_timestamp(
            &mint(&pki, &Spec::default()).der,
            SIGNED,
            &[authority(&other), authority(&pki)],
        )
        .unwrap();
        assert_eq!(ok.authority_index, 1);
    }

    #[test]
    fn pinned_single_certificate_authority() {
        // An authority listing only the signing certificate pins it.
        let pki = pki();
        let pinned = TimestampAuthority::new(vec![pki.tsa.clone()], None, None);
        let der = mint(&pki, &Spec::default()).der;
        verify_timestamp(&der, SIGNED, &[pinned]).unwrap();
    }

    #[test]
    fn a_pinned_certificate_must_still_be_a_signing_certificate() {
        let pki = pki();
        let pinned_with = |exts: Vec<Extension>| {
            let tsa = tsa_cert(&pki.tsa_key, &pki.root_key, exts, NB, NA);
            TimestampAuthority::new(vec![tsa], None, None)
        };
        // No certificate in the token: the signer is the pinned one (the
        // ESS attribute would name the original certificate, so none).
        let der = mint(
            &pki,
            &Spec {
                embed: false,
                ess: Ess::None,
                ..Spec::default()
            },
        )
        .der;
        let good = pinned_with(tsa_exts(&[testutil::TIME_STAMPING], true));
        verify_timestamp(&der, SIGNED, &[good]).unwrap();
        // The same certificate, but a CA.
        let mut ca = tsa_exts(&[testutil::TIME_STAMPING], true);
        ca.push(testutil::basic_constraints(true, None));
        // No keyUsage at all.
        let mut no_ku = tsa_exts(&[testutil::TIME_STAMPING], true);
        no_ku.remove(0);
        for (exts, expected) in [
            (ca, ChainError::LeafIsCa),
            (no_ku, ChainError::MissingKeyUsage),
        ] {
            assert_eq!(
                only_failure(verify_timestamp(&der, SIGNED, &[pinned_with(exts)])),
                TimestampError::Chain(expected)
            );
        }
    }

    #[test]
    fn authority_listing_only_cas_accepts_embedded_leaf() {
        let pki = pki();
        let cas_only = TimestampAuthority::new(vec![pki.root.clone()], None, None);
        let der = mint(&pki, &Spec::default()).der;
        verify_timestamp(&der, SIGNED, std::slice::from_ref(&cas_only)).unwrap();
        // Without the embedded leaf, the root itself would have to sign.
        let der = mint(
            &pki,
            &Spec {
                embed: false,
                ..Spec::default()
            },
        )
        .der;
        assert_eq!(
            only_failure(verify_timestamp(&der, SIGNED, &[cas_only])),
            TimestampError::SignerIdMismatch
        );
    }

    // --- structure ---

    #[test]
    fn not_granted() {
        let pki = pki();
        let spec = Spec {
            status: 2,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki, &spec).unwrap_err(),
            TimestampError::NotGranted { status: 2 }
        );
        // grantedWithMods is accepted.
        parse_spec(
            &pki,
            &Spec {
                status: 1,
                ..Spec::default()
            },
        )
        .unwrap();
    }

    #[test]
    fn missing_token() {
        let spec = Spec {
            token: false,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki(), &spec).unwrap_err(),
            TimestampError::MissingToken
        );
    }

    #[test]
    fn not_signed_data() {
        let spec = Spec {
            content_type: ID_DATA,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki(), &spec).unwrap_err(),
            TimestampError::NotSignedData(ID_DATA)
        );
    }

    #[test]
    fn not_tst_info() {
        let spec = Spec {
            econtent_type: ID_DATA,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki(), &spec).unwrap_err(),
            TimestampError::NotTstInfo(ID_DATA)
        );
    }

    #[test]
    fn detached_content() {
        let spec = Spec {
            econtent: false,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki(), &spec).unwrap_err(),
            TimestampError::MissingTstInfo
        );
    }

    #[test]
    fn tst_info_version() {
        let spec = Spec {
            tst_version: 2,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki(), &spec).unwrap_err(),
            TimestampError::UnsupportedVersion(2)
        );
    }

    #[test]
    fn imprint_algorithm() {
        let spec = Spec {
            imprint_alg: ID_SHA1,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki(), &spec).unwrap_err(),
            TimestampError::UnsupportedImprintAlgorithm(ID_SHA1)
        );
    }

    #[test]
    fn signer_count() {
        let pki = pki();
        for n in [0, 2] {
            let spec = Spec {
                signer_infos: n,
                ..Spec::default()
            };
            assert_eq!(
                parse_spec(&pki, &spec).unwrap_err(),
                TimestampError::SignerCount(n)
            );
        }
    }

    #[test]
    fn digest_algorithm() {
        let spec = Spec {
            digest_alg: ID_SHA1,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki(), &spec).unwrap_err(),
            TimestampError::UnsupportedDigestAlgorithm(ID_SHA1)
        );
    }

    #[test]
    fn signed_attributes_required() {
        let spec = Spec {
            signed_attrs: false,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki(), &spec).unwrap_err(),
            TimestampError::MissingSignedAttributes
        );
    }

    #[test]
    fn content_type_attribute() {
        let pki = pki();
        let missing = Spec {
            content_type_attr: None,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki, &missing).unwrap_err(),
            TimestampError::MissingSignedAttribute("content-type")
        );
        let wrong = Spec {
            content_type_attr: Some(ID_DATA),
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki, &wrong).unwrap_err(),
            TimestampError::ContentTypeAttributeMismatch(ID_DATA)
        );
        let two_values = Spec {
            content_type_values: 2,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki, &two_values).unwrap_err(),
            TimestampError::AttributeValueCount {
                name: "content-type",
                count: 2
            }
        );
    }

    #[test]
    fn message_digest_attribute() {
        let pki = pki();
        let missing = Spec {
            message_digest_attr: false,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki, &missing).unwrap_err(),
            TimestampError::MissingSignedAttribute("message-digest")
        );
        let twice = Spec {
            duplicate_message_digest: true,
            ..Spec::default()
        };
        assert_eq!(
            parse_spec(&pki, &twice).unwrap_err(),
            TimestampError::DuplicateSignedAttribute(ID_MESSAGE_DIGEST)
        );
    }

    #[test]
    fn signature_algorithm() {
        let spec = Spec {
            sig_alg: ID_SHA1,
            ..Spec::default()
        };
        assert_eq!(
            verify_spec(&pki(), &spec).unwrap_err(),
            TimestampError::UnsupportedSignatureAlgorithm(ID_SHA1)
        );
    }

    #[test]
    fn malformed_input() {
        let pki = pki();
        let good = mint(&pki, &Spec::default()).der;
        let mut trailing = good.clone();
        trailing.push(0);
        for bad in [&b""[..], b"garbage", &trailing, &good[..good.len() - 1]] {
            assert!(
                matches!(
                    TimestampToken::parse_response(bad),
                    Err(TimestampError::Malformed { .. })
                ),
                "{bad:?}"
            );
        }
        for time in [
            "2023111422182Z",
            "20231114221820",
            "20231340221820Z",
            "20231114221820.Z",
        ] {
            let spec = Spec {
                gen_time: time.into(),
                ..Spec::default()
            };
            assert!(
                matches!(
                    parse_spec(&pki, &spec),
                    Err(TimestampError::Malformed {
                        what: "TSTInfo.genTime",
                        ..
                    })
                ),
                "{time}"
            );
        }
    }

    // --- mutations of a good token ---

    #[test]
    fn signed_bytes_mismatch() {
        let pki = pki();
        let der = mint(&pki, &Spec::default()).der;
        assert_eq!(
            verify_timestamp(&der, b"other bytes", &[authority(&pki)]).unwrap_err(),
            TimestampError::MessageImprintMismatch {
                algorithm: HashAlgorithm::Sha256
            }
        );
    }

    #[test]
    fn flipped_imprint() {
        let pki = pki();
        let der = flip(
            &mint(&pki, &Spec::default()).der,
            &signet_crypto::sha256(SIGNED),
        );
        assert_eq!(
            verify_timestamp(&der, SIGNED, &[authority(&pki)]).unwrap_err(),
            TimestampError::MessageImprintMismatch {
                algorithm: HashAlgorithm::Sha256
            }
        );
    }

    #[test]
    fn flipped_tst_info() {
        let pki = pki();
        let der = flip(&mint(&pki, &Spec::default()).der, &TOKEN_SERIAL);
        assert_eq!(
            verify_timestamp(&der, SIGNED, &[authority(&pki)]).unwrap_err(),
            TimestampError::MessageDigestMismatch {
                algorithm: HashAlgorithm::Sha256
            }
        );
    }

    #[test]
    fn flipped_signature() {
        let pki = pki();
        for embed in [true, false] {
            let minted = mint(
                &pki,
                &Spec {
                    embed,
                    ..Spec::default()
                },
            );
            // A byte inside r (the signature ends with s; its last byte is
            // flipped by `flip` on the whole signature, so use a prefix).
            let der = flip(&minted.der, &minted.signature[..10]);
            let result = verify_timestamp(&der, SIGNED, &[authority(&pki)]);
            let err = if embed {
                result.unwrap_err()
            } else {
                only_failure(result)
            };
            assert_eq!(err, TimestampError::BadSignature(CryptoError::BadSignature));
        }
    }

    #[test]
    fn ess_signing_certificate_mismatch() {
        let pki = pki();
        for ess in [
            Ess::V2WrongHash,
            Ess::V2WrongIssuer,
            Ess::V1WrongSerial,
            Ess::V1WrongHash,
        ] {
            let spec = Spec {
                ess,
                ..Spec::default()
            };
            assert_eq!(
                verify_spec(&pki, &spec).unwrap_err(),
                TimestampError::SigningCertificateMismatch
            );
        }
    }

    #[test]
    fn ess_with_a_hash_nobody_computes_is_refused() {
        let spec = Spec {
            ess: Ess::V2UnknownHash,
            ..Spec::default()
        };
        assert_eq!(
            verify_spec(&pki(), &spec).unwrap_err(),
            TimestampError::UnsupportedDigestAlgorithm(ObjectIdentifier::new_unwrap("1.2.3.4"))
        );
    }

    // --- trust ---

    #[test]
    fn no_authorities() {
        let pki = pki();
        let der = mint(&pki, &Spec::default()).der;
        assert_eq!(
            verify_timestamp(&der, SIGNED, &[]).unwrap_err(),
            TimestampError::NoAuthorities
        );
    }

    #[test]
    fn empty_authority_chain() {
        let pki = pki();
        let der = mint(&pki, &Spec::default()).der;
        let empty = TimestampAuthority::new(vec![], None, None);
        assert_eq!(
            only_failure(verify_timestamp(&der, SIGNED, &[empty])),
            TimestampError::EmptyAuthorityChain
        );
    }

    #[test]
    fn sid_must_name_the_authority_leaf() {
        let spec = Spec {
            embed: false,
            sid: Sid::WrongSerial,
            ..Spec::default()
        };
        assert_eq!(
            only_failure(verify_spec(&pki(), &spec)),
            TimestampError::SignerIdMismatch
        );
    }

    #[test]
    fn embedded_certificate_not_named_by_sid_is_not_used() {
        // The sid names no embedded certificate, so the authority's leaf is
        // the candidate, and the sid does not name it either.
        let spec = Spec {
            sid: Sid::WrongSerial,
            ..Spec::default()
        };
        assert_eq!(
            only_failure(verify_spec(&pki(), &spec)),
            TimestampError::SignerIdMismatch
        );
    }

    /// A PKI whose TSA leaf has the given extensions and validity.
    fn pki_with_leaf(exts: Vec<Extension>, nb: u64, na: u64) -> Pki {
        let mut pki = pki();
        pki.tsa = tsa_cert(&pki.tsa_key, &pki.root_key, exts, nb, na);
        pki
    }

    #[test]
    fn eku_must_be_critical() {
        let pki = pki_with_leaf(tsa_exts(&[testutil::TIME_STAMPING], false), NB, NA);
        assert_eq!(
            only_failure(verify_spec(&pki, &Spec::default())),
            TimestampError::EkuNotCritical
        );
    }

    #[test]
    fn eku_must_be_only_time_stamping() {
        let pki = pki();
        for eku in [
            &[testutil::CODE_SIGNING][..],
            &[testutil::TIME_STAMPING, testutil::CODE_SIGNING][..],
        ] {
            let pki = pki_with_leaf(tsa_exts(eku, true), NB, NA);
            assert_eq!(
                only_failure(verify_spec(&pki, &Spec::default())),
                TimestampError::EkuNotTimeStamping
            );
        }
        drop(pki);
    }

    #[test]
    fn gen_time_outside_signing_certificate_validity() {
        let pki = pki_with_leaf(tsa_exts(&[testutil::TIME_STAMPING], true), NB, NA);
        for (time, expect_ok) in [
            (NB as i64, true),
            (NA as i64, true),
            (NB as i64 - 1, false),
            (NA as i64 + 1, false),
        ] {
            let spec = Spec {
                gen_time: gen_time(time),
                ..Spec::default()
            };
            let result = verify_spec(&pki, &spec);
            if expect_ok {
                assert_eq!(result.unwrap().time, time);
            } else {
                assert_eq!(
                    only_failure(result),
                    TimestampError::CertificateNotValidAtTime {
                        index: 0,
                        not_before: NB as i64,
                        not_after: NA as i64,
                        time,
                    }
                );
            }
        }
    }

    #[test]
    fn gen_time_outside_root_validity() {
        let mut pki = pki();
        pki.root = testutil::root("root", &pki.root_key, NB + 1_000, NA + 10_000);
        assert_eq!(
            only_failure(verify_spec(&pki, &Spec::default())),
            TimestampError::CertificateNotValidAtTime {
                index: 1,
                not_before: NB as i64 + 1_000,
                not_after: NA as i64 + 10_000,
                time: AT,
            }
        );
    }

    #[test]
    fn gen_time_outside_authority_window() {
        let pki = pki();
        let der = mint(&pki, &Spec::default()).der;
        let window =
            |from: Option<i64>, until: Option<i64>| authority(&pki).with_window(from, until);
        for (from, until) in [(Some(AT), Some(AT)), (None, Some(AT)), (Some(AT), None)] {
            verify_timestamp(&der, SIGNED, &[window(from, until)]).unwrap();
        }
        for (from, until) in [(Some(AT + 1), None), (None, Some(AT - 1))] {
            assert_eq!(
                only_failure(verify_timestamp(&der, SIGNED, &[window(from, until)])),
                TimestampError::OutsideAuthorityValidity {
                    time: AT,
                    valid_from: from,
                    valid_until: until,
                }
            );
        }
    }

    #[test]
    fn leaf_must_chain_to_the_authority_root() {
        // Same names, different root key: the leaf's signature fails.
        let pki = pki();
        let impostor_key = Key::new();
        let impostor_root = testutil::root("root", &impostor_key, NB - 10_000, NA + 10_000);
        let authority = TimestampAuthority::new(vec![pki.tsa.clone(), impostor_root], None, None);
        let der = mint(&pki, &Spec::default()).der;
        assert!(matches!(
            only_failure(verify_timestamp(&der, SIGNED, &[authority])),
            TimestampError::Chain(ChainError::LeafSignature { .. })
        ));
    }

    #[test]
    fn embedded_certificate_from_another_pki_is_not_trusted() {
        // The token is signed by and embeds a certificate of another PKI.
        let pki = pki();
        let other = self::pki();
        let der = mint(&other, &Spec::default()).der;
        assert!(matches!(
            only_failure(verify_timestamp(&der, SIGNED, &[authority(&pki)])),
            TimestampError::Chain(_)
        ));
    }

    #[test]
    fn generalized_time_forms() {
        assert_eq!(generalized_time(b"19700101000000Z"), Ok(0));
        assert_eq!(generalized_time(b"20231114221320Z"), Ok(1_700_000_000));
        assert_eq!(
            generalized_time(b"20231114221320.999999999Z"),
            Ok(1_700_000_000)
        );
        for bad in [
            &b"20231114221320.10Z"[..],
            b"20231114221320.1234567891Z",
            b"20231114221320+0000",
            b"2023111422132Z",
            b"20230229000000Z",
            b"19691231235959Z",
            b"2023111422132aZ",
            b"",
        ] {
            assert!(generalized_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn small_uints() {
        assert_eq!(small_uint(&[0]), Some(0));
        assert_eq!(small_uint(&[1]), Some(1));
        assert_eq!(small_uint(&[0, 0x80]), Some(0x80));
        assert_eq!(small_uint(&[0x80]), None);
        assert_eq!(small_uint(&[]), None);
        assert_eq!(small_uint(&[1; 9]), None);
    }
}
