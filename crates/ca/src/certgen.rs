//! X.509 building blocks: names, times, serials, key identifiers, the
//! extensions the CA writes, and signing a TBSCertificate with a
//! [`CaSigner`].

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE,
    ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER, ID_KP_CODE_SIGNING,
};
use const_oid::ObjectIdentifier;
use der::asn1::{BitString, GeneralizedTime, Ia5String, OctetString, UtcTime};
use der::{Decode, Encode};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::TbsCertificate;

use crate::signer::{CaSigner, SignerError};

/// Why a certificate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CertBuildError {
    #[error("DER encoding: {0}")]
    Der(#[from] der::Error),
    #[error("invalid value for {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error("random number generator failed")]
    Rng,
}

/// The RFC 6962 precertificate poison extension (critical, value NULL).
pub const CT_POISON_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.3");

/// An extension with a DER value.
pub fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: Vec<u8>,
) -> Result<Extension, CertBuildError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value)?,
    })
}

/// A certificate time: UTCTime through 2049, GeneralizedTime after
/// (RFC 5280 §4.1.2.5).
pub fn x509_time(unix: i64) -> Result<Time, CertBuildError> {
    let secs = u64::try_from(unix).map_err(|_| CertBuildError::Invalid {
        what: "time",
        why: "before 1970".into(),
    })?;
    let d = std::time::Duration::from_secs(secs);
    // 2050-01-01T00:00:00Z
    if secs < 2_524_608_000 {
        Ok(Time::UtcTime(UtcTime::from_unix_duration(d)?))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_unix_duration(d)?))
    }
}

/// A validity window.
pub fn validity(not_before: i64, not_after: i64) -> Result<Validity, CertBuildError> {
    Ok(Validity {
        not_before: x509_time(not_before)?,
        not_after: x509_time(not_after)?,
    })
}

/// A random positive 128-bit serial number (no leading zero octet).
pub fn random_serial() -> Result<SerialNumber, CertBuildError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertBuildError::Rng)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::new(&bytes)?)
}

/// A name from `CN=…,O=…`-style text.
pub fn name(text: &str) -> Result<Name, CertBuildError> {
    use std::str::FromStr;
    Name::from_str(text).map_err(|e| CertBuildError::Invalid {
        what: "name",
        why: e.to_string(),
    })
}

/// The key identifier of a SubjectPublicKeyInfo: SHA-1 of the
/// subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1, as Go and OpenSSL do).
pub fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>, CertBuildError> {
    let info = SubjectPublicKeyInfoOwned::from_der(spki_der)?;
    Ok(signet_crypto::sha1_for_identifiers(info.subject_public_key.raw_bytes()).to_vec())
}

pub fn key_usage_ext(usages: KeyUsage) -> Result<Extension, CertBuildError> {
    extension(ID_CE_KEY_USAGE, true, usages.to_der()?)
}

pub fn code_signing_eku_ext() -> Result<Extension, CertBuildError> {
    extension(
        ID_CE_EXT_KEY_USAGE,
        false,
        ExtendedKeyUsage(vec![ID_KP_CODE_SIGNING]).to_der()?,
    )
}

pub fn basic_constraints_ext(ca: bool, path_len: Option<u8>) -> Result<Extension, CertBuildError> {
    extension(
        ID_CE_BASIC_CONSTRAINTS,
        true,
        BasicConstraints {
            ca,
            path_len_constraint: path_len,
        }
        .to_der()?,
    )
}

pub fn ski_ext(spki_der: &[u8]) -> Result<Extension, CertBuildError> {
    let id = SubjectKeyIdentifier(OctetString::new(key_identifier(spki_der)?)?);
    extension(ID_CE_SUBJECT_KEY_IDENTIFIER, false, id.to_der()?)
}

pub fn aki_ext(issuer_spki_der: &[u8]) -> Result<Extension, CertBuildError> {
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_identifier(issuer_spki_der)?)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    extension(ID_CE_AUTHORITY_KEY_IDENTIFIER, false, aki.to_der()?)
}

/// One subject alternative name of a leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
}

/// subjectAltName, critical because the leaf's subject is empty
/// (RFC 5280 §4.2.1.6).
pub fn san_ext(san: &San) -> Result<Extension, CertBuildError> {
    let ia5 = |s: &str| {
        Ia5String::new(s).map_err(|e| CertBuildError::Invalid {
            what: "subjectAltName",
            why: e.to_string(),
        })
    };
    let name = match san {
        San::Email(s) => GeneralName::Rfc822Name(ia5(s)?),
        San::Uri(s) => GeneralName::UniformResourceIdentifier(ia5(s)?),
    };
    extension(
        ID_CE_SUBJECT_ALT_NAME,
        true,
        x509_cert::ext::pkix::SubjectAltName(vec![name]).to_der()?,
    )
}

/// The poison extension of a precertificate.
pub fn poison_ext() -> Result<Extension, CertBuildError> {
    extension(CT_POISON_OID, true, der::asn1::Null.to_der()?)
}

/// Encodes `tbs`, signs it with `signer` and returns the certificate DER.
/// The TBS's `signature` field must already name the signer's algorithm.
pub fn sign_certificate(
    tbs: TbsCertificate,
    signer: &dyn CaSigner,
) -> Result<Vec<u8>, CertBuildError> {
    let tbs_der = tbs.to_der()?;
    let signature = signer.sign(&tbs_der)?;
    let cert = x509_cert::Certificate {
        signature_algorithm: tbs.signature.clone(),
        tbs_certificate: tbs,
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(cert.to_der()?)
}

/// What a CA certificate says about itself.
pub struct CaCertSpec<'a> {
    pub subject: &'a str,
    pub subject_spki: &'a [u8],
    pub not_before: i64,
    pub not_after: i64,
    pub path_len: Option<u8>,
    /// Add extendedKeyUsage codeSigning (Fulcio's intermediates carry it so
    /// that EKU chaining allows code-signing leaves).
    pub code_signing_eku: bool,
}

/// A CA certificate for `spec`, signed by `issuer` (named `issuer_name`,
/// with key `issuer_spki`); pass the subject's own values for a root.
pub fn ca_certificate(
    spec: &CaCertSpec<'_>,
    issuer_name: &str,
    issuer: &dyn CaSigner,
) -> Result<Vec<u8>, CertBuildError> {
    let issuer_spki = issuer.public_key().spki_der();
    let mut exts = vec![
        key_usage_ext(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))?,
        basic_constraints_ext(true, spec.path_len)?,
        ski_ext(spec.subject_spki)?,
        aki_ext(issuer_spki)?,
    ];
    if spec.code_signing_eku {
        exts.insert(1, code_signing_eku_ext()?);
    }
    let tbs = TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: random_serial()?,
        signature: issuer.algorithm().algorithm_identifier(),
        issuer: name(issuer_name)?,
        validity: validity(spec.not_before, spec.not_after)?,
        subject: name(spec.subject)?,
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spec.subject_spki)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    };
    sign_certificate(tbs, issuer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_switch_to_generalized_after_2049() {
        assert!(matches!(
            x509_time(1_700_000_000).unwrap(),
            Time::UtcTime(_)
        ));
        assert!(matches!(
            x509_time(2_600_000_000).unwrap(),
            Time::GeneralTime(_)
        ));
        assert!(x509_time(-1).is_err());
    }

    #[test]
    fn serials_are_positive_and_distinct() {
        let a = random_serial().unwrap();
        let b = random_serial().unwrap();
        assert_ne!(a, b);
        assert!(a.as_bytes()[0] & 0x80 == 0);
    }
}
