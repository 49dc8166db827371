//! One X.509 certificate, parsed once, with the facts signet checks cached.
//!
//! A [`Certificate`] owns its DER and the parsed `x509_cert::Certificate`,
//! and at construction works out everything later checks need: the validity
//! window as unix seconds, the subject public key (parsed through
//! `signet-crypto`), the raw DER of the TBS, issuer, subject and SPKI, and
//! the decoded basicConstraints, keyUsage and extendedKeyUsage extensions.
//! A certificate that cannot give all of these is rejected by
//! [`Certificate::from_der`], so holders never meet a half-understood one.

use std::ops::Range;
use std::sync::Arc;

use const_oid::db::rfc5280::{ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Header, Reader, SliceReader};
use signet_crypto::{CryptoError, PublicKey, SignatureScheme};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

/// Most extensions a certificate may carry; more is treated as malformed.
/// Real certificates carry around ten; this bounds every per-extension loop.
pub const MAX_EXTENSIONS: usize = 64;

/// Most certificates [`Certificate::from_pem_chain`] accepts in one text.
pub const MAX_PEM_CHAIN: usize = 32;

/// Why a certificate could not be parsed or was not issued by another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("malformed certificate DER: {0}")]
    Malformed(String),
    #[error("certificate DER is followed by {0} trailing bytes")]
    TrailingData(usize),
    #[error("certificate PEM: {0}")]
    Pem(String),
    #[error("certificate subject public key cannot be used: {0}")]
    PublicKey(CryptoError),
    #[error(
        "certificate's outer signatureAlgorithm ({outer}) differs from the one in its TBSCertificate ({inner})"
    )]
    SignatureAlgorithmMismatch {
        outer: ObjectIdentifier,
        inner: ObjectIdentifier,
    },
    #[error("unsupported certificate signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(ObjectIdentifier),
    #[error("certificate signature BIT STRING has unused bits")]
    SignatureUnusedBits,
    #[error("certificate has more than {MAX_EXTENSIONS} extensions")]
    TooManyExtensions,
    #[error("certificate carries extension {0} more than once")]
    DuplicateExtension(ObjectIdentifier),
    #[error("certificate extension {oid} is malformed: {reason}")]
    MalformedExtension {
        oid: ObjectIdentifier,
        reason: String,
    },
    #[error("certificate notBefore ({not_before}) is after its notAfter ({not_after})")]
    InvertedValidity { not_before: i64, not_after: i64 },
    #[error("certificate's issuer name does not match the subject name of the candidate issuer")]
    IssuerNameMismatch,
    #[error("certificate signature does not verify with the issuer's key: {0}")]
    BadSignature(CryptoError),
}

fn malformed(e: impl std::fmt::Display) -> CertError {
    CertError::Malformed(e.to_string())
}

/// One TLV inside a DER buffer, as byte offsets into that buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv {
    /// The (single) tag byte; der 0.7 only knows low tag numbers.
    pub tag: u8,
    pub start: usize,
    pub value_start: usize,
    pub end: usize,
}

impl Tlv {
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// Reads the TLV that starts at `at` in `buf`. The header must be DER
/// (definite, minimal length) and the value must fit in `buf`.
pub(crate) fn read_tlv(buf: &[u8], at: usize) -> Result<Tlv, CertError> {
    let rest = buf.get(at..).ok_or_else(|| malformed("offset past end"))?;
    let mut r = SliceReader::new(rest).map_err(malformed)?;
    let header = Header::decode(&mut r).map_err(malformed)?;
    let header_len = usize::try_from(r.position()).map_err(malformed)?;
    let value_len = usize::try_from(header.length).map_err(malformed)?;
    let tag = *rest.first().ok_or_else(|| malformed("empty TLV"))?;
    let value_start = at + header_len;
    let end = value_start
        .checked_add(value_len)
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| malformed("TLV value runs past its container"))?;
    Ok(Tlv {
        tag,
        start: at,
        value_start,
        end,
    })
}

/// Appends a DER header: `tag`, then the definite length `len` in its
/// minimal form.
pub(crate) fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// Tag of the `[0]`, `[1]`, `[2]`, `[3]` context-specific fields in a TBS.
const TAG_VERSION: u8 = 0xA0;
const TAG_EXTENSIONS: u8 = 0xA3;

/// Byte ranges (into the certificate DER) of the parts of the TBS we keep raw.
#[derive(Debug, Clone)]
struct RawLayout {
    tbs: Tlv,
    issuer: Range<usize>,
    subject: Range<usize>,
    spki: Range<usize>,
    /// The `[3]` wrapper and the SEQUENCE OF Extension inside it.
    extensions: Option<(Tlv, Tlv)>,
}

fn raw_layout(der: &[u8]) -> Result<RawLayout, CertError> {
    let outer = read_tlv(der, 0)?;
    let tbs = read_tlv(der, outer.value_start)?;
    let mut at = tbs.value_start;
    let next = |at: &mut usize| -> Result<Tlv, CertError> {
        if *at >= tbs.end {
            return Err(malformed("TBSCertificate ends early"));
        }
        let t = read_tlv(&der[..tbs.end], *at)?;
        *at = t.end;
        Ok(t)
    };
    let mut field = next(&mut at)?;
    if field.tag == TAG_VERSION {
        field = next(&mut at)?;
    }
    let _serial = field;
    let _signature = next(&mut at)?;
    let issuer = next(&mut at)?.range();
    let _validity = next(&mut at)?;
    let subject = next(&mut at)?.range();
    let spki = next(&mut at)?.range();
    let mut extensions = None;
    // At most issuerUniqueID, subjectUniqueID and extensions remain.
    for _ in 0..3 {
        if at >= tbs.end {
            break;
        }
        let t = next(&mut at)?;
        if t.tag == TAG_EXTENSIONS {
            let seq = read_tlv(&der[..t.end], t.value_start)?;
            extensions = Some((t, seq));
        }
    }
    if at != tbs.end {
        return Err(malformed("unexpected fields at the end of TBSCertificate"));
    }
    Ok(RawLayout {
        tbs,
        issuer,
        subject,
        spki,
        extensions,
    })
}

/// basicConstraints as the certificate states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicConstraintsInfo {
    pub ca: bool,
    pub path_len: Option<u8>,
}

/// An extension as it appears in the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionRef {
    pub oid: ObjectIdentifier,
    pub critical: bool,
    /// The contents of `extnValue` (the DER of the extension's own value).
    pub value: Vec<u8>,
}

#[derive(Debug)]
struct Inner {
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
    layout: RawLayout,
    not_before: i64,
    not_after: i64,
    public_key: PublicKey,
    signature_scheme: Option<SignatureScheme>,
    signature: Vec<u8>,
    extensions: Vec<ExtensionRef>,
    basic_constraints: Option<BasicConstraintsInfo>,
    key_usage: Option<KeyUsage>,
    extended_key_usage: Option<Vec<ObjectIdentifier>>,
}

/// A parsed X.509 certificate. Cloning is cheap (shared).
///
/// Invariants, established by [`Certificate::from_der`]:
/// - `der()` is exactly the input, one DER `Certificate` and nothing after;
/// - `tbs_der()`, `issuer_der()`, `subject_der()`, `spki_der()` are slices of
///   `der()` (the bytes as signed, not a re-encoding);
/// - the inner and outer signature AlgorithmIdentifiers are equal;
/// - the signature BIT STRING has no unused bits;
/// - `not_before() <= not_after()`;
/// - the subject public key parses with `signet-crypto`;
/// - no extension appears twice, there are at most [`MAX_EXTENSIONS`], and
///   basicConstraints, keyUsage and extendedKeyUsage, when present, decode.
#[derive(Clone)]
pub struct Certificate(Arc<Inner>);

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tbs = &self.0.parsed.tbs_certificate;
        f.debug_struct("Certificate")
            .field("subject", &tbs.subject.to_string())
            .field("issuer", &tbs.issuer.to_string())
            .field("serial", &tbs.serial_number.to_string())
            .field("not_before", &self.0.not_before)
            .field("not_after", &self.0.not_after)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.0.der == other.0.der
    }
}
impl Eq for Certificate {}

impl Certificate {
    /// Parses one DER certificate; see the type's invariants for what is
    /// checked.
    pub fn from_der(der: &[u8]) -> Result<Certificate, CertError> {
        let outer = read_tlv(der, 0)?;
        if outer.end != der.len() {
            return Err(CertError::TrailingData(der.len() - outer.end));
        }
        let parsed = x509_cert::Certificate::from_der(der).map_err(malformed)?;
        let layout = raw_layout(der)?;
        let tbs = &parsed.tbs_certificate;

        if parsed.signature_algorithm != tbs.signature {
            return Err(CertError::SignatureAlgorithmMismatch {
                outer: parsed.signature_algorithm.oid,
                inner: tbs.signature.oid,
            });
        }
        let signature = parsed
            .signature
            .as_bytes()
            .ok_or(CertError::SignatureUnusedBits)?
            .to_vec();
        let signature_scheme = scheme_of(&parsed.signature_algorithm);

        let not_before = unix_secs(tbs.validity.not_before)?;
        let not_after = unix_secs(tbs.validity.not_after)?;
        if not_before > not_after {
            return Err(CertError::InvertedValidity {
                not_before,
                not_after,
            });
        }

        let public_key =
            PublicKey::from_spki_der(&der[layout.spki.clone()]).map_err(CertError::PublicKey)?;

        let raw_exts = tbs.extensions.as_deref().unwrap_or(&[]);
        if raw_exts.len() > MAX_EXTENSIONS {
            return Err(CertError::TooManyExtensions);
        }
        let mut extensions: Vec<ExtensionRef> = Vec::with_capacity(raw_exts.len());
        for e in raw_exts {
            if extensions.iter().any(|seen| seen.oid == e.extn_id) {
                return Err(CertError::DuplicateExtension(e.extn_id));
            }
            extensions.push(ExtensionRef {
                oid: e.extn_id,
                critical: e.critical,
                value: e.extn_value.as_bytes().to_vec(),
            });
        }
        let decode_ext = |oid: ObjectIdentifier| extensions.iter().find(|e| e.oid == oid);
        let bad = |oid: ObjectIdentifier, e: der::Error| CertError::MalformedExtension {
            oid,
            reason: e.to_string(),
        };
        let basic_constraints = match decode_ext(ID_CE_BASIC_CONSTRAINTS) {
            Some(e) => {
                let bc = BasicConstraints::from_der(&e.value)
                    .map_err(|err| bad(ID_CE_BASIC_CONSTRAINTS, err))?;
                Some(BasicConstraintsInfo {
                    ca: bc.ca,
                    path_len: bc.path_len_constraint,
                })
            }
            None => None,
        };
        let key_usage = match decode_ext(ID_CE_KEY_USAGE) {
            Some(e) => Some(KeyUsage::from_der(&e.value).map_err(|err| bad(ID_CE_KEY_USAGE, err))?),
            None => None,
        };
        let extended_key_usage = match decode_ext(ID_CE_EXT_KEY_USAGE) {
            Some(e) => Some(
                ExtendedKeyUsage::from_der(&e.value)
                    .map_err(|err| bad(ID_CE_EXT_KEY_USAGE, err))?
                    .0,
            ),
            None => None,
        };

        Ok(Certificate(Arc::new(Inner {
            der: der.to_vec(),
            parsed,
            layout,
            not_before,
            not_after,
            public_key,
            signature_scheme,
            signature,
            extensions,
            basic_constraints,
            key_usage,
            extended_key_usage,
        })))
    }

    /// Parses every `CERTIFICATE` block of a PEM text, in order. Other block
    /// types, an empty text, or more than [`MAX_PEM_CHAIN`] blocks are errors.
    pub fn from_pem_chain(text: &str) -> Result<Vec<Certificate>, CertError> {
        let blocks = pem::parse_many(text).map_err(|e| CertError::Pem(e.to_string()))?;
        if blocks.is_empty() {
            return Err(CertError::Pem("no PEM block found".into()));
        }
        if blocks.len() > MAX_PEM_CHAIN {
            return Err(CertError::Pem(format!(
                "{} PEM blocks, at most {MAX_PEM_CHAIN} accepted",
                blocks.len()
            )));
        }
        blocks
            .iter()
            .map(|b| {
                if b.tag() != "CERTIFICATE" {
                    return Err(CertError::Pem(format!(
                        "expected a CERTIFICATE block, found {}",
                        b.tag()
                    )));
                }
                Certificate::from_der(b.contents())
            })
            .collect()
    }

    /// The certificate's DER, exactly as given.
    pub fn der(&self) -> &[u8] {
        &self.0.der
    }

    /// The parsed certificate.
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.0.parsed
    }

    /// The DER TBSCertificate, as signed.
    pub fn tbs_der(&self) -> &[u8] {
        &self.0.der[self.0.layout.tbs.range()]
    }

    /// The DER of the issuer Name, as it appears in the certificate.
    pub fn issuer_der(&self) -> &[u8] {
        &self.0.der[self.0.layout.issuer.clone()]
    }

    /// The DER of the subject Name, as it appears in the certificate.
    pub fn subject_der(&self) -> &[u8] {
        &self.0.der[self.0.layout.subject.clone()]
    }

    /// The DER SubjectPublicKeyInfo, as it appears in the certificate.
    pub fn spki_der(&self) -> &[u8] {
        &self.0.der[self.0.layout.spki.clone()]
    }

    /// The subject public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.0.public_key
    }

    /// notBefore, in unix seconds.
    pub fn not_before(&self) -> i64 {
        self.0.not_before
    }

    /// notAfter, in unix seconds (the certificate is valid during that second).
    pub fn not_after(&self) -> i64 {
        self.0.not_after
    }

    /// Whether `at` (unix seconds) is within `not_before..=not_after`.
    pub fn is_valid_at(&self, at: i64) -> bool {
        self.0.not_before <= at && at <= self.0.not_after
    }

    /// The subject and issuer names are byte-identical.
    pub fn is_self_issued(&self) -> bool {
        self.subject_der() == self.issuer_der()
    }

    /// basicConstraints, if present.
    pub fn basic_constraints(&self) -> Option<BasicConstraintsInfo> {
        self.0.basic_constraints
    }

    /// basicConstraints is present with `cA = TRUE`.
    pub fn is_ca(&self) -> bool {
        self.0.basic_constraints.is_some_and(|bc| bc.ca)
    }

    /// keyUsage, if present.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.0.key_usage
    }

    /// The extendedKeyUsage purposes, if the extension is present.
    pub fn extended_key_usage(&self) -> Option<&[ObjectIdentifier]> {
        self.0.extended_key_usage.as_deref()
    }

    /// All extensions, in certificate order.
    pub fn extensions(&self) -> &[ExtensionRef] {
        &self.0.extensions
    }

    /// The extension with this OID: its criticality and `extnValue` contents.
    pub fn extension(&self, oid: &ObjectIdentifier) -> Option<(bool, &[u8])> {
        self.0
            .extensions
            .iter()
            .find(|e| e.oid == *oid)
            .map(|e| (e.critical, e.value.as_slice()))
    }

    /// The OID of the signatureAlgorithm.
    pub fn signature_algorithm_oid(&self) -> ObjectIdentifier {
        self.0.parsed.signature_algorithm.oid
    }

    /// The signature scheme the issuer signed with.
    pub fn signature_scheme(&self) -> Result<SignatureScheme, CertError> {
        self.0
            .signature_scheme
            .ok_or(CertError::UnsupportedSignatureAlgorithm(
                self.signature_algorithm_oid(),
            ))
    }

    /// The signature bytes (the signatureValue BIT STRING contents).
    pub fn signature(&self) -> &[u8] {
        &self.0.signature
    }

    /// Checks that `issuer` issued this certificate: this certificate's issuer
    /// Name is byte-identical to `issuer`'s subject Name, and the signature
    /// over the TBSCertificate verifies with `issuer`'s key under this
    /// certificate's signatureAlgorithm. (Inner/outer algorithm agreement is
    /// established at parse time.) Says nothing about CA-ness or validity.
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<(), CertError> {
        if self.issuer_der() != issuer.subject_der() {
            return Err(CertError::IssuerNameMismatch);
        }
        let scheme = self.signature_scheme()?;
        issuer
            .public_key()
            .verify_with(scheme, self.tbs_der(), self.signature())
            .map_err(CertError::BadSignature)
    }

    /// The DER TBSCertificate with the extension `oid` removed (and the
    /// extensions field dropped if it becomes empty), built by splicing the
    /// original bytes so every other byte is as signed. `None` if the
    /// certificate has no such extension.
    pub fn tbs_der_without_extension(
        &self,
        oid: &ObjectIdentifier,
    ) -> Result<Option<Vec<u8>>, CertError> {
        let der = &self.0.der;
        let layout = &self.0.layout;
        let Some((wrapper, seq)) = layout.extensions else {
            return Ok(None);
        };
        let mut at = seq.value_start;
        let mut found = None;
        for _ in 0..=MAX_EXTENSIONS {
            if at >= seq.end {
                break;
            }
            let ext = read_tlv(&der[..seq.end], at)?;
            let first = read_tlv(&der[..ext.end], ext.value_start)?;
            let ext_oid = ObjectIdentifier::from_der(&der[first.range()]).map_err(malformed)?;
            if ext_oid == *oid {
                found = Some(ext);
                break;
            }
            at = ext.end;
        }
        let Some(ext) = found else {
            return Ok(None);
        };
        let seq_len = (seq.end - seq.value_start) - (ext.end - ext.start);
        let mut exts = Vec::new();
        if seq_len > 0 {
            let mut content = Vec::with_capacity(seq_len);
            content.extend_from_slice(&der[seq.value_start..ext.start]);
            content.extend_from_slice(&der[ext.end..seq.end]);
            let mut seq_bytes = Vec::with_capacity(seq_len + 6);
            push_header(&mut seq_bytes, seq.tag, content.len());
            seq_bytes.extend_from_slice(&content);
            push_header(&mut exts, wrapper.tag, seq_bytes.len());
            exts.extend_from_slice(&seq_bytes);
        }
        let tbs = layout.tbs;
        let mut content = Vec::with_capacity(tbs.end - tbs.value_start);
        content.extend_from_slice(&der[tbs.value_start..wrapper.start]);
        content.extend_from_slice(&exts);
        content.extend_from_slice(&der[wrapper.end..tbs.end]);
        let mut out = Vec::with_capacity(content.len() + 6);
        push_header(&mut out, tbs.tag, content.len());
        out.extend_from_slice(&content);
        Ok(Some(out))
    }
}

/// Resolves a certificate signatureAlgorithm. Only parameter-less forms
/// (absent or, for RSA PKCS#1, NULL) are accepted; RSASSA-PSS is not.
fn scheme_of(alg: &spki::AlgorithmIdentifierOwned) -> Option<SignatureScheme> {
    let scheme = SignatureScheme::from_oid(&alg.oid)?;
    let params_ok = match (&alg.parameters, scheme) {
        (None, _) => true,
        (
            Some(p),
            SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPkcs1Sha384
            | SignatureScheme::RsaPkcs1Sha512,
        ) => p.to_der().ok().as_deref() == Some(&[0x05, 0x00][..]),
        (Some(_), _) => false,
    };
    params_ok.then_some(scheme)
}

fn unix_secs(t: x509_cert::time::Time) -> Result<i64, CertError> {
    i64::try_from(t.to_unix_duration().as_secs()).map_err(malformed)
}

/// The first value of attribute `oid` (e.g. `const_oid::db::rfc4519::CN`)
/// in `name`, read as a DirectoryString (UTF8String, PrintableString or
/// IA5String). Walks the RDNs rather than splitting the name's text form,
/// so a value containing a comma is read whole.
pub fn name_attribute(name: &x509_cert::name::Name, oid: ObjectIdentifier) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == oid)
        .find_map(|atv| {
            atv.value
                .decode_as::<der::asn1::Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_string())
                .or_else(|_| {
                    atv.value
                        .decode_as::<der::asn1::PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_string())
                })
                .or_else(|_| {
                    atv.value
                        .decode_as::<der::asn1::Ia5StringRef<'_>>()
                        .map(|s| s.as_str().to_string())
                })
                .ok()
        })
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Mints certificates for tests: build a `TbsCertificate` with x509-cert
    //! types, sign it with an aws-lc-rs P-256 key, and optionally tamper.

    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use der::asn1::{BitString, OctetString};
    use der::{Decode, Encode};
    use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use std::str::FromStr;
    use x509_cert::ext::Extension;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::{Time, Validity};
    use x509_cert::TbsCertificate;

    use super::Certificate;

    pub const ECDSA_SHA256: der::asn1::ObjectIdentifier =
        der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

    /// A P-256 key pair with its DER SPKI.
    pub struct Key {
        pub pair: EcdsaKeyPair,
        pub spki: Vec<u8>,
    }

    impl Key {
        pub fn new() -> Key {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .expect("keygen");
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
                .expect("pkcs8");
            let spki = pair.public_key().as_der().expect("spki").as_ref().to_vec();
            Key { pair, spki }
        }

        pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
            self.pair
                .sign(&SystemRandom::new(), msg)
                .expect("sign")
                .as_ref()
                .to_vec()
        }
    }

    pub fn name(cn: &str) -> Name {
        Name::from_str(&format!("CN={cn},O=signet-test")).expect("name")
    }

    pub fn time(unix: u64) -> Time {
        Time::UtcTime(
            der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(unix))
                .expect("utc"),
        )
    }

    pub fn ext(oid: &str, critical: bool, value: Vec<u8>) -> Extension {
        Extension {
            extn_id: der::asn1::ObjectIdentifier::new_unwrap(oid),
            critical,
            extn_value: OctetString::new(value).expect("octets"),
        }
    }

    /// A TBS for `subject` issued by `issuer`, valid `nb..=na`, with `exts`.
    pub fn tbs(
        subject: &str,
        issuer: &str,
        subject_key: &Key,
        nb: u64,
        na: u64,
        exts: Vec<Extension>,
    ) -> TbsCertificate {
        TbsCertificate {
            version: x509_cert::Version::V3,
            serial_number: SerialNumber::new(&[0x01, 0x23]).expect("serial"),
            signature: AlgorithmIdentifierOwned {
                oid: ECDSA_SHA256,
                parameters: None,
            },
            issuer: name(issuer),
            validity: Validity {
                not_before: time(nb),
                not_after: time(na),
            },
            subject: name(subject),
            subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(&subject_key.spki)
                .expect("spki"),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: if exts.is_empty() { None } else { Some(exts) },
        }
    }

    /// Signs `tbs` with `key` (outer algorithm = the TBS's) and returns DER.
    pub fn sign_der(tbs: TbsCertificate, key: &Key) -> Vec<u8> {
        let tbs_der = tbs.to_der().expect("tbs der");
        let sig = key.sign(&tbs_der);
        let cert = x509_cert::Certificate {
            signature_algorithm: tbs.signature.clone(),
            tbs_certificate: tbs,
            signature: BitString::from_bytes(&sig).expect("bits"),
        };
        cert.to_der().expect("cert der")
    }

    pub fn sign(tbs: TbsCertificate, key: &Key) -> Certificate {
        Certificate::from_der(&sign_der(tbs, key)).expect("minted cert parses")
    }

    /// Extension encodings.
    pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> Extension {
        let bc = x509_cert::ext::pkix::BasicConstraints {
            ca,
            path_len_constraint: path_len,
        };
        ext("2.5.29.19", true, bc.to_der().expect("bc"))
    }

    pub fn key_usage(ku: x509_cert::ext::pkix::KeyUsage) -> Extension {
        ext("2.5.29.15", true, ku.to_der().expect("ku"))
    }

    pub fn eku(oids: &[&str]) -> Extension {
        let eku = x509_cert::ext::pkix::ExtendedKeyUsage(
            oids.iter()
                .map(|o| der::asn1::ObjectIdentifier::new_unwrap(o))
                .collect(),
        );
        ext("2.5.29.37", false, eku.to_der().expect("eku"))
    }

    pub const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
    pub const TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

    /// A self-signed root CA.
    pub fn root(cn: &str, key: &Key, nb: u64, na: u64) -> Certificate {
        use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
        sign(
            tbs(
                cn,
                cn,
                key,
                nb,
                na,
                vec![
                    basic_constraints(true, Some(1)),
                    key_usage(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
                ],
            ),
            key,
        )
    }

    /// An intermediate CA issued by `issuer_cn` / `issuer_key`.
    pub fn intermediate(
        cn: &str,
        key: &Key,
        issuer_cn: &str,
        issuer_key: &Key,
        nb: u64,
        na: u64,
        path_len: Option<u8>,
    ) -> Certificate {
        use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
        sign(
            tbs(
                cn,
                issuer_cn,
                key,
                nb,
                na,
                vec![
                    basic_constraints(true, path_len),
                    key_usage(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
                ],
            ),
            issuer_key,
        )
    }

    /// The extensions of a typical Fulcio code-signing leaf.
    pub fn leaf_exts() -> Vec<Extension> {
        use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
        vec![
            key_usage(KeyUsage(KeyUsages::DigitalSignature.into())),
            eku(&[CODE_SIGNING]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use der::asn1::BitString;

    const NB: u64 = 1_700_000_000;
    const NA: u64 = 1_700_000_600;

    fn pair() -> (Key, Certificate, Key) {
        let ca_key = Key::new();
        let ca = root("ca", &ca_key, NB - 1000, NA + 1000);
        (ca_key, ca, Key::new())
    }

    #[test]
    fn parses_and_caches() {
        let (ca_key, ca, leaf_key) = pair();
        let leaf = sign(tbs("leaf", "ca", &leaf_key, NB, NA, leaf_exts()), &ca_key);
        assert_eq!(leaf.not_before(), NB as i64);
        assert_eq!(leaf.not_after(), NA as i64);
        assert!(leaf.is_valid_at(NB as i64) && leaf.is_valid_at(NA as i64));
        assert!(!leaf.is_valid_at(NA as i64 + 1) && !leaf.is_valid_at(NB as i64 - 1));
        assert_eq!(leaf.spki_der(), &leaf_key.spki[..]);
        assert_eq!(leaf.public_key().spki_der(), &leaf_key.spki[..]);
        assert_eq!(leaf.issuer_der(), ca.subject_der());
        assert!(!leaf.is_ca() && ca.is_ca());
        assert!(ca.is_self_issued() && !leaf.is_self_issued());
        assert!(leaf.key_usage().unwrap().digital_signature());
        assert_eq!(
            leaf.extended_key_usage().unwrap(),
            &[ObjectIdentifier::new_unwrap(CODE_SIGNING)]
        );
        let (crit, val) = leaf.extension(&ID_CE_KEY_USAGE).unwrap();
        assert!(crit);
        assert_eq!(KeyUsage::from_der(val).unwrap(), leaf.key_usage().unwrap());
        assert_eq!(
            leaf.tbs_der(),
            leaf.x509().tbs_certificate.to_der().unwrap()
        );
        assert_eq!(leaf.signature_scheme(), Ok(SignatureScheme::EcdsaSha256));
        leaf.verify_issued_by(&ca).unwrap();
        ca.verify_issued_by(&ca).unwrap();
    }

    #[test]
    fn wrong_issuer_name_is_rejected() {
        let (ca_key, ca, leaf_key) = pair();
        let leaf = sign(tbs("leaf", "other", &leaf_key, NB, NA, vec![]), &ca_key);
        assert_eq!(
            leaf.verify_issued_by(&ca),
            Err(CertError::IssuerNameMismatch)
        );
    }

    #[test]
    fn wrong_issuer_key_is_rejected() {
        let (_, ca, leaf_key) = pair();
        let leaf = sign(tbs("leaf", "ca", &leaf_key, NB, NA, vec![]), &Key::new());
        assert!(matches!(
            leaf.verify_issued_by(&ca),
            Err(CertError::BadSignature(_))
        ));
    }

    #[test]
    fn mismatched_signature_algorithms_are_rejected() {
        let (ca_key, _, leaf_key) = pair();
        let t = tbs("leaf", "ca", &leaf_key, NB, NA, vec![]);
        let sig = ca_key.sign(&t.to_der().unwrap());
        let cert = x509_cert::Certificate {
            signature_algorithm: spki::AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3"),
                parameters: None,
            },
            tbs_certificate: t,
            signature: BitString::from_bytes(&sig).unwrap(),
        };
        assert!(matches!(
            Certificate::from_der(&cert.to_der().unwrap()),
            Err(CertError::SignatureAlgorithmMismatch { .. })
        ));
    }

    #[test]
    fn unsupported_signature_algorithm_is_reported_at_verification() {
        let (ca_key, ca, leaf_key) = pair();
        let mut t = tbs("leaf", "ca", &leaf_key, NB, NA, vec![]);
        // md5WithRSAEncryption
        t.signature.oid = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.4");
        let leaf = sign(t, &ca_key);
        assert!(matches!(
            leaf.verify_issued_by(&ca),
            Err(CertError::UnsupportedSignatureAlgorithm(_))
        ));
    }

    #[test]
    fn signature_with_unused_bits_is_rejected() {
        let (ca_key, _, leaf_key) = pair();
        let t = tbs("leaf", "ca", &leaf_key, NB, NA, vec![]);
        let sig = ca_key.sign(&t.to_der().unwrap());
        let cert = x509_cert::Certificate {
            signature_algorithm: t.signature.clone(),
            tbs_certificate: t,
            signature: BitString::new(1, sig).unwrap(),
        };
        assert_eq!(
            Certificate::from_der(&cert.to_der().unwrap()),
            Err(CertError::SignatureUnusedBits)
        );
    }

    #[test]
    fn algorithm_parameters_must_be_absent_for_ecdsa() {
        let (ca_key, ca, leaf_key) = pair();
        let mut t = tbs("leaf", "ca", &leaf_key, NB, NA, vec![]);
        t.signature.parameters = Some(der::asn1::Null.into());
        let leaf = sign(t, &ca_key);
        assert!(matches!(
            leaf.verify_issued_by(&ca),
            Err(CertError::UnsupportedSignatureAlgorithm(_))
        ));
    }

    #[test]
    fn trailing_data_and_garbage_are_rejected() {
        let (ca_key, _, leaf_key) = pair();
        let mut der = sign_der(tbs("leaf", "ca", &leaf_key, NB, NA, vec![]), &ca_key);
        Certificate::from_der(&der).unwrap();
        der.push(0);
        assert_eq!(Certificate::from_der(&der), Err(CertError::TrailingData(1)));
        assert!(matches!(
            Certificate::from_der(b"\x30\x03abc"),
            Err(CertError::Malformed(_))
        ));
        assert!(matches!(
            Certificate::from_der(&[]),
            Err(CertError::Malformed(_))
        ));
    }

    #[test]
    fn unusable_public_key_is_rejected() {
        let (ca_key, _, leaf_key) = pair();
        let mut t = tbs("leaf", "ca", &leaf_key, NB, NA, vec![]);
        // An EC key on secp256k1, which signet-crypto does not accept.
        t.subject_public_key_info.algorithm.parameters =
            Some(der::Any::from(ObjectIdentifier::new_unwrap("1.3.132.0.10")));
        let der = sign_der(t, &ca_key);
        assert!(matches!(
            Certificate::from_der(&der),
            Err(CertError::PublicKey(_))
        ));
    }

    #[test]
    fn inverted_validity_is_rejected() {
        let (ca_key, _, leaf_key) = pair();
        let der = sign_der(tbs("leaf", "ca", &leaf_key, NA, NB, vec![]), &ca_key);
        assert!(matches!(
            Certificate::from_der(&der),
            Err(CertError::InvertedValidity { .. })
        ));
    }

    #[test]
    fn duplicate_extension_is_rejected() {
        let (ca_key, _, leaf_key) = pair();
        let mut exts = leaf_exts();
        exts.push(exts[0].clone());
        let der = sign_der(tbs("leaf", "ca", &leaf_key, NB, NA, exts), &ca_key);
        assert_eq!(
            Certificate::from_der(&der),
            Err(CertError::DuplicateExtension(ID_CE_KEY_USAGE))
        );
    }

    #[test]
    fn malformed_known_extension_is_rejected() {
        let (ca_key, _, leaf_key) = pair();
        for oid in ["2.5.29.15", "2.5.29.37", "2.5.29.19"] {
            let exts = vec![ext(oid, false, vec![0x04, 0x00])];
            let der = sign_der(tbs("leaf", "ca", &leaf_key, NB, NA, exts), &ca_key);
            assert!(
                matches!(
                    Certificate::from_der(&der),
                    Err(CertError::MalformedExtension { oid: o, .. }) if o.to_string() == oid
                ),
                "{oid}"
            );
        }
    }

    #[test]
    fn too_many_extensions_are_rejected() {
        let (ca_key, _, leaf_key) = pair();
        let exts = (0..=MAX_EXTENSIONS)
            .map(|i| ext(&format!("1.2.3.{i}"), false, vec![0x05, 0x00]))
            .collect();
        let der = sign_der(tbs("leaf", "ca", &leaf_key, NB, NA, exts), &ca_key);
        assert_eq!(
            Certificate::from_der(&der),
            Err(CertError::TooManyExtensions)
        );
    }

    #[test]
    fn pem_chain() {
        let (ca_key, ca, leaf_key) = pair();
        let leaf = sign(tbs("leaf", "ca", &leaf_key, NB, NA, vec![]), &ca_key);
        let text = [&leaf, &ca]
            .iter()
            .map(|c| pem::encode(&pem::Pem::new("CERTIFICATE", c.der().to_vec())))
            .collect::<String>();
        let chain = Certificate::from_pem_chain(&text).unwrap();
        assert_eq!(chain, vec![leaf, ca]);
        assert!(matches!(
            Certificate::from_pem_chain(""),
            Err(CertError::Pem(_))
        ));
        let key = pem::encode(&pem::Pem::new("PUBLIC KEY", leaf_key.spki.clone()));
        assert!(matches!(
            Certificate::from_pem_chain(&key),
            Err(CertError::Pem(_))
        ));
    }

    #[test]
    fn extension_removal_splices_bytes() {
        let (ca_key, _, leaf_key) = pair();
        let mut exts = leaf_exts();
        let extra = ext("1.3.6.1.4.1.11129.2.4.2", false, vec![0x04, 0x01, 0xAA]);
        exts.insert(1, extra);
        let with = sign(tbs("leaf", "ca", &leaf_key, NB, NA, exts), &ca_key);
        let without = sign(tbs("leaf", "ca", &leaf_key, NB, NA, leaf_exts()), &ca_key);
        let oid = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
        assert_eq!(
            with.tbs_der_without_extension(&oid).unwrap().unwrap(),
            without.tbs_der()
        );
        assert_eq!(without.tbs_der_without_extension(&oid).unwrap(), None);
        // Removing the only extension drops the extensions field.
        let only = vec![ext("1.3.6.1.4.1.11129.2.4.2", false, vec![0x05, 0x00])];
        let with = sign(tbs("leaf", "ca", &leaf_key, NB, NA, only), &ca_key);
        let none = sign(tbs("leaf", "ca", &leaf_key, NB, NA, vec![]), &ca_key);
        assert_eq!(
            with.tbs_der_without_extension(&oid).unwrap().unwrap(),
            none.tbs_der()
        );
    }
}

#[cfg(test)]
mod name_tests {

    #[test]
    fn name_attributes_are_read_from_the_rdns() {
        use std::str::FromStr;
        let name = x509_cert::name::Name::from_str("CN=Example\\, Inc. root,O=signet").unwrap();
        assert_eq!(
            super::name_attribute(&name, const_oid::db::rfc4519::CN).as_deref(),
            Some("Example, Inc. root")
        );
        assert_eq!(
            super::name_attribute(&name, const_oid::db::rfc4519::O).as_deref(),
            Some("signet")
        );
        assert_eq!(
            super::name_attribute(&name, const_oid::db::rfc4519::OU),
            None
        );
    }
}
