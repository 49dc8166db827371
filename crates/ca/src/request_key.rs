//! The caller's public key: from a CSR or a `publicKeyRequest`, checked for
//! strength (Fulcio's `goodkey`) and for proof of possession.

use const_oid::ObjectIdentifier;
use der::asn1::UintRef;
use der::{Decode, Reader, SliceReader};
use signet_crypto::{KeyKind, PublicKey, SignatureScheme};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::request::CertReq;

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// Smallest and largest RSA modulus accepted (bits).
pub const RSA_MIN_BITS: usize = 2048;
pub const RSA_MAX_BITS: usize = 4096;
/// Largest CSR or public key accepted (bytes, after base64).
pub const MAX_KEY_MATERIAL: usize = 16 * 1024;

/// Why the caller's key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRequestError {
    #[error("the public key could not be parsed: {0}")]
    BadPublicKey(String),
    #[error("the public key is insecure: {0}")]
    InsecureKey(String),
    #[error("the certificate signing request could not be parsed: {0}")]
    BadCsr(String),
    #[error("the signature could not be verified: {0}")]
    BadSignature(String),
    #[error("signing algorithm not permitted: {0}")]
    AlgorithmNotPermitted(String),
}

/// Fulcio's key policy: ECDSA P-256/P-384/P-521, Ed25519, RSA 2048–4096.
/// Runs on the raw SPKI so a weak key is named as such, not as malformed.
pub fn check_key_strength(spki_der: &[u8]) -> Result<(), KeyRequestError> {
    let info = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| KeyRequestError::BadPublicKey(e.to_string()))?;
    match info.algorithm.oid {
        EC_PUBLIC_KEY => {
            let curve: ObjectIdentifier = info
                .algorithm
                .parameters_oid()
                .map_err(|_| KeyRequestError::InsecureKey("EC key without a named curve".into()))?;
            if ![P256, P384, P521].contains(&curve) {
                return Err(KeyRequestError::InsecureKey(format!(
                    "unsupported elliptic curve {curve}"
                )));
            }
        }
        RSA_ENCRYPTION => {
            let bits = rsa_modulus_bits(info.subject_public_key.raw_bytes())?;
            if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                return Err(KeyRequestError::InsecureKey(format!(
                    "RSA key of {bits} bits (need {RSA_MIN_BITS} to {RSA_MAX_BITS})"
                )));
            }
        }
        ED25519 => {}
        other => {
            return Err(KeyRequestError::InsecureKey(format!(
                "unsupported key algorithm {other}"
            )))
        }
    }
    Ok(())
}

/// Bit length of the modulus of a PKCS#1 `RSAPublicKey`.
fn rsa_modulus_bits(pkcs1: &[u8]) -> Result<usize, KeyRequestError> {
    let bad = |e: der::Error| KeyRequestError::BadPublicKey(format!("RSA key: {e}"));
    let mut reader = SliceReader::new(pkcs1).map_err(bad)?;
    let modulus = reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            let _e = UintRef::decode(r)?;
            Ok(n)
        })
        .map_err(bad)?;
    let bytes = modulus.as_bytes();
    let Some(first) = bytes.first() else {
        return Ok(0);
    };
    Ok(bytes.len() * 8 - first.leading_zeros() as usize)
}

/// Parses and checks a key: strength first, then that signet can use it.
fn key_from_spki(spki_der: &[u8]) -> Result<PublicKey, KeyRequestError> {
    check_key_strength(spki_der)?;
    PublicKey::from_spki_der(spki_der).map_err(|e| KeyRequestError::BadPublicKey(e.to_string()))
}

/// A public key given as PEM `PUBLIC KEY` text or DER SPKI bytes (Fulcio's
/// `challenges.ParsePublicKey`).
pub fn parse_public_key(content: &[u8]) -> Result<PublicKey, KeyRequestError> {
    if content.is_empty() {
        return Err(KeyRequestError::BadPublicKey(
            "public key not provided".into(),
        ));
    }
    if content.len() > MAX_KEY_MATERIAL {
        return Err(KeyRequestError::BadPublicKey("public key too large".into()));
    }
    let der = match pem::parse(content) {
        Ok(block) if block.tag() == "PUBLIC KEY" => block.into_contents(),
        Ok(block) => {
            return Err(KeyRequestError::BadPublicKey(format!(
                "expected a PUBLIC KEY PEM block, found {}",
                block.tag()
            )))
        }
        Err(_) => content.to_vec(),
    };
    key_from_spki(&der)
}

/// Verifies the proof of possession: `proof` is the key's signature, under
/// its default scheme (Fulcio's `LoadDefaultVerifier`), over `name`.
pub fn verify_proof_of_possession(
    key: &PublicKey,
    proof: &[u8],
    name: &str,
) -> Result<(), KeyRequestError> {
    if proof.is_empty() {
        return Err(KeyRequestError::BadSignature(
            "no proof of possession".into(),
        ));
    }
    key.verify(name.as_bytes(), proof).map_err(|_| {
        KeyRequestError::BadSignature("the proof of possession does not verify".into())
    })
}

/// Parses a PKCS#10 CSR (PEM or DER), checks the key's strength and the
/// CSR's self-signature, and returns the key.
///
/// The signature algorithm must be the key's default one (ECDSA with the
/// curve's hash, RSA PKCS#1 v1.5 SHA-256, Ed25519), as Fulcio's algorithm
/// registry requires.
pub fn parse_csr(bytes: &[u8]) -> Result<PublicKey, KeyRequestError> {
    if bytes.len() > MAX_KEY_MATERIAL {
        return Err(KeyRequestError::BadCsr("CSR too large".into()));
    }
    let der = match pem::parse(bytes) {
        Ok(block)
            if matches!(
                block.tag(),
                "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"
            ) =>
        {
            block.into_contents()
        }
        Ok(block) => {
            return Err(KeyRequestError::BadCsr(format!(
                "expected a CERTIFICATE REQUEST PEM block, found {}",
                block.tag()
            )))
        }
        Err(_) => bytes.to_vec(),
    };
    let csr = CertReq::from_der(&der).map_err(|e| KeyRequestError::BadCsr(e.to_string()))?;
    let info_der = first_element(&der).map_err(|e| KeyRequestError::BadCsr(e.to_string()))?;
    let spki_der = der::Encode::to_der(&csr.info.public_key)
        .map_err(|e| KeyRequestError::BadCsr(e.to_string()))?;
    let key = key_from_spki(&spki_der)?;
    let scheme = SignatureScheme::from_oid(&csr.algorithm.oid).ok_or_else(|| {
        KeyRequestError::AlgorithmNotPermitted(format!(
            "CSR signature algorithm {}",
            csr.algorithm.oid
        ))
    })?;
    if scheme != key.kind().default_scheme()
        && !(key.kind() == KeyKind::Rsa && is_rsa_pkcs1(scheme))
    {
        return Err(KeyRequestError::AlgorithmNotPermitted(format!(
            "{scheme:?} with a {:?} key",
            key.kind()
        )));
    }
    let signature = csr
        .signature
        .as_bytes()
        .ok_or_else(|| KeyRequestError::BadCsr("signature is not whole bytes".into()))?;
    key.verify_with(scheme, info_der, signature)
        .map_err(|_| KeyRequestError::BadSignature("the CSR's signature does not verify".into()))?;
    Ok(key)
}

fn is_rsa_pkcs1(scheme: SignatureScheme) -> bool {
    matches!(
        scheme,
        SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPkcs1Sha384
            | SignatureScheme::RsaPkcs1Sha512
    )
}

/// The raw bytes of the first element of a DER SEQUENCE (the signed
/// `CertificationRequestInfo`), exactly as sent.
fn first_element(der: &[u8]) -> der::Result<&[u8]> {
    let mut outer = SliceReader::new(der)?;
    let header = der::Header::decode(&mut outer)?;
    header.tag.assert_eq(der::Tag::Sequence)?;
    let body = outer.read_slice(header.length)?;
    let mut inner = SliceReader::new(body)?;
    inner.tlv_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_modulus_length() {
        // SEQUENCE { INTEGER 0x00 0x80 0x00.. (1024 bits), INTEGER 3 }
        let mut n = vec![0x00, 0x80];
        n.extend(std::iter::repeat_n(0u8, 127));
        let mut body = vec![0x02, 0x81, n.len() as u8];
        body.extend(&n);
        body.extend([0x02, 0x01, 0x03]);
        let mut seq = vec![0x30, 0x81, body.len() as u8];
        seq.extend(body);
        assert_eq!(rsa_modulus_bits(&seq).unwrap(), 1024);
    }

    #[test]
    fn empty_and_garbage_keys() {
        assert!(matches!(
            parse_public_key(b""),
            Err(KeyRequestError::BadPublicKey(_))
        ));
        assert!(matches!(
            parse_public_key(b"xx"),
            Err(KeyRequestError::BadPublicKey(_))
        ));
        assert!(matches!(parse_csr(b"xx"), Err(KeyRequestError::BadCsr(_))));
    }
}
