use aws_lc_rs::digest::Digest;
use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::ObjectIdentifier;
use der::Decode;
use spki::SubjectPublicKeyInfoRef;

use crate::{CryptoError, HashAlgorithm};

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// The DER of an Ed25519 SubjectPublicKeyInfo (RFC 8410) up to the raw key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The kinds of public key signet accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
    Ed25519,
    /// RSA of 2048 to 8192 bits (aws-lc-rs refuses anything smaller).
    Rsa,
}

/// A signature algorithm: key family plus the hash it signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    EcdsaSha256,
    EcdsaSha384,
    EcdsaSha512,
    Ed25519,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
}

impl SignatureScheme {
    /// The scheme named by an X.509 / CMS `signatureAlgorithm` OID.
    ///
    /// RSASSA-PSS (`1.2.840.113549.1.1.10`) carries its hash in parameters,
    /// so it is not resolved here.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Some(match oid.to_string().as_str() {
            "1.2.840.10045.4.3.2" => SignatureScheme::EcdsaSha256,
            "1.2.840.10045.4.3.3" => SignatureScheme::EcdsaSha384,
            "1.2.840.10045.4.3.4" => SignatureScheme::EcdsaSha512,
            "1.3.101.112" => SignatureScheme::Ed25519,
            "1.2.840.113549.1.1.11" => SignatureScheme::RsaPkcs1Sha256,
            "1.2.840.113549.1.1.12" => SignatureScheme::RsaPkcs1Sha384,
            "1.2.840.113549.1.1.13" => SignatureScheme::RsaPkcs1Sha512,
            _ => return None,
        })
    }

    /// The hash this scheme signs with; `None` for Ed25519 (pure EdDSA).
    pub fn hash(self) -> Option<HashAlgorithm> {
        use SignatureScheme::*;
        match self {
            EcdsaSha256 | RsaPkcs1Sha256 | RsaPssSha256 => Some(HashAlgorithm::Sha256),
            EcdsaSha384 | RsaPkcs1Sha384 | RsaPssSha384 => Some(HashAlgorithm::Sha384),
            EcdsaSha512 | RsaPkcs1Sha512 | RsaPssSha512 => Some(HashAlgorithm::Sha512),
            Ed25519 => None,
        }
    }
}

/// A public key, parsed once and ready to verify many signatures.
///
/// Invariant: `spki` is the DER SubjectPublicKeyInfo the key was built from,
/// and `parsed` is that key under its default scheme.
#[derive(Clone)]
pub struct PublicKey {
    kind: KeyKind,
    spki: Box<[u8]>,
    parsed: ParsedPublicKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}
impl Eq for PublicKey {}

fn algorithm_for(
    kind: KeyKind,
    scheme: SignatureScheme,
) -> Result<&'static dyn VerificationAlgorithm, CryptoError> {
    use KeyKind as K;
    use SignatureScheme as S;
    Ok(match (kind, scheme) {
        (K::EcdsaP256, S::EcdsaSha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (K::EcdsaP256, S::EcdsaSha384) => &signature::ECDSA_P256_SHA384_ASN1,
        (K::EcdsaP256, S::EcdsaSha512) => &signature::ECDSA_P256_SHA512_ASN1,
        (K::EcdsaP384, S::EcdsaSha256) => &signature::ECDSA_P384_SHA256_ASN1,
        (K::EcdsaP384, S::EcdsaSha384) => &signature::ECDSA_P384_SHA384_ASN1,
        (K::EcdsaP384, S::EcdsaSha512) => &signature::ECDSA_P384_SHA512_ASN1,
        (K::EcdsaP521, S::EcdsaSha256) => &signature::ECDSA_P521_SHA256_ASN1,
        (K::EcdsaP521, S::EcdsaSha384) => &signature::ECDSA_P521_SHA384_ASN1,
        (K::EcdsaP521, S::EcdsaSha512) => &signature::ECDSA_P521_SHA512_ASN1,
        (K::Ed25519, S::Ed25519) => &signature::ED25519,
        (K::Rsa, S::RsaPkcs1Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (K::Rsa, S::RsaPkcs1Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (K::Rsa, S::RsaPkcs1Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (K::Rsa, S::RsaPssSha256) => &signature::RSA_PSS_2048_8192_SHA256,
        (K::Rsa, S::RsaPssSha384) => &signature::RSA_PSS_2048_8192_SHA384,
        (K::Rsa, S::RsaPssSha512) => &signature::RSA_PSS_2048_8192_SHA512,
        (key, scheme) => return Err(CryptoError::SchemeMismatch { scheme, key }),
    })
}

impl KeyKind {
    /// The scheme Sigstore uses with this key when nothing else is said:
    /// the curve's own hash for ECDSA, PKCS#1 v1.5 with SHA-256 for RSA.
    pub fn default_scheme(self) -> SignatureScheme {
        match self {
            KeyKind::EcdsaP256 => SignatureScheme::EcdsaSha256,
            KeyKind::EcdsaP384 => SignatureScheme::EcdsaSha384,
            KeyKind::EcdsaP521 => SignatureScheme::EcdsaSha512,
            KeyKind::Ed25519 => SignatureScheme::Ed25519,
            KeyKind::Rsa => SignatureScheme::RsaPkcs1Sha256,
        }
    }
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        let info = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
        let kind = match info.algorithm.oid {
            EC_PUBLIC_KEY => {
                let curve: ObjectIdentifier = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| CryptoError::MalformedKey("EC key without named curve".into()))?;
                match curve {
                    P256 => KeyKind::EcdsaP256,
                    P384 => KeyKind::EcdsaP384,
                    P521 => KeyKind::EcdsaP521,
                    other => return Err(CryptoError::UnsupportedKey(format!("EC curve {other}"))),
                }
            }
            RSA_ENCRYPTION => KeyKind::Rsa,
            ED25519 => KeyKind::Ed25519,
            other => return Err(CryptoError::UnsupportedKey(format!("algorithm {other}"))),
        };
        let alg = algorithm_for(kind, kind.default_scheme())?;
        let parsed =
            ParsedPublicKey::new(alg, der).map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
        Ok(PublicKey {
            kind,
            spki: der.into(),
            parsed,
        })
    }

    /// An Ed25519 key from its raw 32 bytes (RFC 8032), as C2SP verifier
    /// keys and Rekor v2 carry it.
    pub fn from_raw_ed25519(raw: &[u8]) -> Result<Self, CryptoError> {
        if raw.len() != crate::ed25519ph::PUBLIC_KEY_LEN {
            return Err(CryptoError::MalformedKey(format!(
                "an Ed25519 key is 32 bytes, not {}",
                raw.len()
            )));
        }
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(raw);
        Self::from_spki_der(&spki)
    }

    /// The raw 32 bytes of an Ed25519 key; `None` for any other kind.
    pub fn raw_ed25519(&self) -> Option<[u8; 32]> {
        if self.kind != KeyKind::Ed25519 {
            return None;
        }
        let info = SubjectPublicKeyInfoRef::from_der(&self.spki).ok()?;
        <[u8; 32]>::try_from(info.subject_public_key.as_bytes()?).ok()
    }

    /// Parses a bare PKCS#1 `RSAPublicKey` (as trust roots list keys of type
    /// `PKCS1_RSA_*`), by wrapping it into a SubjectPublicKeyInfo.
    pub fn from_pkcs1_rsa_der(der: &[u8]) -> Result<Self, CryptoError> {
        use der::Encode;
        let info = spki::SubjectPublicKeyInfoOwned {
            algorithm: spki::AlgorithmIdentifierOwned {
                oid: RSA_ENCRYPTION,
                parameters: Some(der::asn1::Null.into()),
            },
            subject_public_key: der::asn1::BitString::from_bytes(der)
                .map_err(|e| CryptoError::MalformedKey(e.to_string()))?,
        };
        let spki = info
            .to_der()
            .map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
        let key = Self::from_spki_der(&spki)?;
        if key.kind != KeyKind::Rsa {
            return Err(CryptoError::MalformedKey("not an RSA key".into()));
        }
        Ok(key)
    }

    /// Parses a PEM `PUBLIC KEY` block (the format of cosign's `.pub` files).
    pub fn from_pem(text: &str) -> Result<Self, CryptoError> {
        let block = pem::parse(text).map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(CryptoError::MalformedKey(format!(
                "expected a PUBLIC KEY PEM block, found {}",
                block.tag()
            )));
        }
        Self::from_spki_der(block.contents())
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Sigstore's `PublicKeyDetails` name for this key under its default
    /// scheme: ECDSA with its curve's hash, pure Ed25519, RSA PKCS#1 v1.5
    /// with SHA-256 named by modulus size. `None` for an RSA size Sigstore
    /// has no name for (it names 2048, 3072 and 4096 bits).
    pub fn key_details(&self) -> Option<&'static str> {
        Some(match self.kind {
            KeyKind::EcdsaP256 => "PKIX_ECDSA_P256_SHA_256",
            KeyKind::EcdsaP384 => "PKIX_ECDSA_P384_SHA_384",
            KeyKind::EcdsaP521 => "PKIX_ECDSA_P521_SHA_512",
            KeyKind::Ed25519 => "PKIX_ED25519",
            KeyKind::Rsa => {
                let key = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&self.spki).ok()?;
                match key.key_size_bits() {
                    2048 => "PKIX_RSA_PKCS1V15_2048_SHA256",
                    3072 => "PKIX_RSA_PKCS1V15_3072_SHA256",
                    4096 => "PKIX_RSA_PKCS1V15_4096_SHA256",
                    _ => return None,
                }
            }
        })
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo: Rekor's log ID and the
    /// trust root's `keyId` for logs.
    pub fn sha256_id(&self) -> [u8; 32] {
        crate::sha256(&self.spki)
    }

    /// PEM encoding of the SubjectPublicKeyInfo.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki.to_vec()))
    }

    /// Verifies `sig` over `msg` with the key's default scheme.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        self.parsed
            .verify_sig(msg, sig)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Verifies `sig` over `msg` with an explicit scheme.
    pub fn verify_with(
        &self,
        scheme: SignatureScheme,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        if scheme == self.kind.default_scheme() {
            return self.verify(msg, sig);
        }
        let alg = algorithm_for(self.kind, scheme)?;
        UnparsedPublicKey::new(alg, &self.spki[..])
            .verify(msg, sig)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// Verifies an Ed25519ph (RFC 8032 HashEdDSA) signature over a SHA-512
    /// digest: what an Ed25519 key signs in a Rekor hashedrekord entry.
    /// Any other key kind is a scheme mismatch.
    pub fn verify_ed25519ph(&self, digest: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let raw = self.raw_ed25519().ok_or(CryptoError::SchemeMismatch {
            scheme: SignatureScheme::Ed25519,
            key: self.kind,
        })?;
        crate::ed25519ph::verify(&raw, digest, sig)
    }

    /// Verifies `sig` over a message of which only the digest is known.
    ///
    /// Ed25519 signs the message itself, so it cannot verify a digest.
    pub fn verify_prehashed(
        &self,
        hash: HashAlgorithm,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        let scheme = match (self.kind, hash) {
            (KeyKind::Rsa, HashAlgorithm::Sha256) => SignatureScheme::RsaPkcs1Sha256,
            (KeyKind::Rsa, HashAlgorithm::Sha384) => SignatureScheme::RsaPkcs1Sha384,
            (KeyKind::Rsa, HashAlgorithm::Sha512) => SignatureScheme::RsaPkcs1Sha512,
            (KeyKind::Ed25519, _) => {
                return Err(CryptoError::SchemeMismatch {
                    scheme: SignatureScheme::Ed25519,
                    key: KeyKind::Ed25519,
                })
            }
            (_, HashAlgorithm::Sha256) => SignatureScheme::EcdsaSha256,
            (_, HashAlgorithm::Sha384) => SignatureScheme::EcdsaSha384,
            (_, HashAlgorithm::Sha512) => SignatureScheme::EcdsaSha512,
        };
        let alg = algorithm_for(self.kind, scheme)?;
        let digest = Digest::import_less_safe(digest, hash.aws()).map_err(|_| {
            CryptoError::BadDigestLength {
                alg: hash,
                got: digest.len(),
            }
        })?;
        if scheme == self.kind.default_scheme() {
            return self
                .parsed
                .verify_digest_sig(&digest, sig)
                .map_err(|_| CryptoError::BadSignature);
        }
        UnparsedPublicKey::new(alg, &self.spki[..])
            .verify_digest(&digest, sig)
            .map_err(|_| CryptoError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    fn p256() -> (EcdsaKeyPair, PublicKey) {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let kp =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
                .unwrap();
        use aws_lc_rs::encoding::AsDer;
        let spki = kp.public_key().as_der().unwrap();
        let pk = PublicKey::from_spki_der(spki.as_ref()).unwrap();
        (kp, pk)
    }

    #[test]
    fn ecdsa_roundtrip_and_tamper() {
        let (kp, pk) = p256();
        assert_eq!(pk.kind(), KeyKind::EcdsaP256);
        let rng = SystemRandom::new();
        let sig = kp.sign(&rng, b"hello").unwrap();
        pk.verify(b"hello", sig.as_ref()).unwrap();
        assert_eq!(
            pk.verify(b"hellO", sig.as_ref()),
            Err(CryptoError::BadSignature)
        );
        let digest = crate::sha256(b"hello");
        pk.verify_prehashed(HashAlgorithm::Sha256, &digest, sig.as_ref())
            .unwrap();
        let wrong = crate::sha256(b"other");
        assert!(pk
            .verify_prehashed(HashAlgorithm::Sha256, &wrong, sig.as_ref())
            .is_err());
        assert!(pk
            .verify_prehashed(HashAlgorithm::Sha256, &digest[..31], sig.as_ref())
            .is_err());
    }

    #[test]
    fn pem_roundtrip() {
        let (_, pk) = p256();
        let again = PublicKey::from_pem(&pk.to_pem()).unwrap();
        assert_eq!(again, pk);
        assert!(PublicKey::from_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
        .is_err());
    }

    #[test]
    fn ed25519_and_scheme_mismatch() {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        use aws_lc_rs::encoding::AsDer;
        let spki = kp.public_key().as_der().unwrap();
        let pk = PublicKey::from_spki_der(spki.as_ref()).unwrap();
        assert_eq!(pk.kind(), KeyKind::Ed25519);
        let sig = kp.sign(b"note");
        pk.verify(b"note", sig.as_ref()).unwrap();
        assert!(pk.verify(b"notE", sig.as_ref()).is_err());
        assert!(matches!(
            pk.verify_with(SignatureScheme::EcdsaSha256, b"note", sig.as_ref()),
            Err(CryptoError::SchemeMismatch { .. })
        ));
    }

    #[test]
    fn ed25519ph_through_a_public_key() {
        let seed = [7u8; 32];
        let digest = crate::sha512(b"artifact");
        let (sig, raw) = crate::sign_ed25519ph(&seed, &digest);
        let pk = PublicKey::from_raw_ed25519(&raw).unwrap();
        assert_eq!(pk.raw_ed25519(), Some(raw));
        assert!(PublicKey::from_raw_ed25519(&raw[..31]).is_err());
        pk.verify_ed25519ph(&digest, &sig).unwrap();
        assert_eq!(
            pk.verify_ed25519ph(&crate::sha512(b"other"), &sig),
            Err(CryptoError::BadSignature)
        );
        // Ed25519ph is not pure Ed25519, in either direction.
        assert!(pk.verify(&digest, &sig).is_err());
        let (_, ecdsa) = p256();
        assert!(matches!(
            ecdsa.verify_ed25519ph(&digest, &sig),
            Err(CryptoError::SchemeMismatch { .. })
        ));
    }

    #[test]
    fn pkcs1_rsa_keys_are_wrapped() {
        // The PKCS#1 CT log key of the sigstage trust root.
        let pkcs1 = include_str!("../tests/data/pkcs1_rsa.b64");
        use base64_engine::decode;
        let der = decode(pkcs1.trim());
        let key = PublicKey::from_pkcs1_rsa_der(&der).unwrap();
        assert_eq!(key.kind(), KeyKind::Rsa);
        assert!(PublicKey::from_pkcs1_rsa_der(&der[..der.len() - 1]).is_err());
    }

    #[test]
    fn key_details_name_the_curve_and_the_rsa_size() {
        let (_, ecdsa) = p256();
        assert_eq!(ecdsa.key_details(), Some("PKIX_ECDSA_P256_SHA_256"));
        for (size, name) in [
            (
                aws_lc_rs::rsa::KeySize::Rsa2048,
                "PKIX_RSA_PKCS1V15_2048_SHA256",
            ),
            (
                aws_lc_rs::rsa::KeySize::Rsa3072,
                "PKIX_RSA_PKCS1V15_3072_SHA256",
            ),
        ] {
            let pair = aws_lc_rs::rsa::KeyPair::generate(size).unwrap();
            use aws_lc_rs::encoding::AsDer;
            let spki = pair.public_key().as_der().unwrap();
            let key = PublicKey::from_spki_der(spki.as_ref()).unwrap();
            assert_eq!(key.key_details(), Some(name));
        }
        // A 2560-bit modulus: a valid key Sigstore has no name for.
        let mut pkcs1 = vec![0x30, 0x82, 0x01, 0x4a, 0x02, 0x82, 0x01, 0x41, 0x00];
        pkcs1.extend(std::iter::repeat_n(0xc0, 319));
        pkcs1.push(0xc1);
        pkcs1.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        let odd = PublicKey::from_pkcs1_rsa_der(&pkcs1).unwrap();
        assert_eq!(odd.kind(), KeyKind::Rsa);
        assert_eq!(odd.key_details(), None);
    }

    /// A tiny standard-alphabet base64 decoder for test data.
    mod base64_engine {
        pub fn decode(text: &str) -> Vec<u8> {
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut out = Vec::new();
            let mut acc = 0u32;
            let mut bits = 0;
            for c in text.bytes().filter(|c| *c != b'=') {
                let v = alphabet.iter().position(|a| *a == c).unwrap() as u32;
                acc = (acc << 6) | v;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                }
            }
            out
        }
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(PublicKey::from_spki_der(b"not der").is_err());
        assert!(PublicKey::from_spki_der(&[]).is_err());
    }
}
