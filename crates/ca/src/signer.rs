//! The CA's signing keys behind one trait, so that a PKCS#11 (HSM) key can
//! replace the file-based one without touching certificate issuance.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING,
};
use const_oid::ObjectIdentifier;
use signet_crypto::{KeyKind, PublicKey};
use spki::AlgorithmIdentifierOwned;

/// Why a key could not be loaded or could not sign.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("unsupported or malformed private key: {0}")]
    BadKey(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// The signature algorithms a CA key signs certificates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// ecdsa-with-SHA256 (P-256 keys).
    EcdsaSha256,
    /// ecdsa-with-SHA384 (P-384 keys).
    EcdsaSha384,
}

impl SigAlg {
    /// The X.509 `signatureAlgorithm` OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            SigAlg::EcdsaSha256 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            SigAlg::EcdsaSha384 => ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3"),
        }
    }

    /// The `AlgorithmIdentifier` (ECDSA: parameters absent, RFC 5758).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }
}

/// A key that signs certificates (or SCTs) for the CA.
///
/// Invariant for implementors: `sign(m)` returns a DER signature over `m`
/// under [`CaSigner::algorithm`] that verifies with [`CaSigner::public_key`].
/// The CA treats the signer as opaque: a file key, a PKCS#11 object or a KMS
/// key all fit.
pub trait CaSigner: Send + Sync + std::fmt::Debug {
    /// The public half.
    fn public_key(&self) -> &PublicKey;
    /// The algorithm of the signatures [`CaSigner::sign`] makes.
    fn algorithm(&self) -> SigAlg;
    /// Signs `message` (e.g. DER TBSCertificate bytes); the hash is the
    /// signer's business.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;

    /// Whether signatures are computed in this process from a key whose
    /// public half is [`CaSigner::public_key`] by construction (an
    /// in-memory key). Such a signer cannot start signing with another
    /// key, so the CA verifies its signatures in a start-up self-test
    /// rather than on every certificate. Out-of-process signers (HSMs,
    /// KMS) answer `false`: the CA verifies every signature they make.
    fn in_process(&self) -> bool {
        false
    }
}

/// An ECDSA P-256 or P-384 key held in memory, loaded from PKCS#8.
pub struct FileSigner {
    pair: EcdsaKeyPair,
    alg: SigAlg,
    public: PublicKey,
}

impl std::fmt::Debug for FileSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSigner")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Which curve a new key is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

fn signing_alg(alg: SigAlg) -> &'static EcdsaSigningAlgorithm {
    match alg {
        SigAlg::EcdsaSha256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
        SigAlg::EcdsaSha384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
    }
}

impl FileSigner {
    /// Generates a key; returns it with its PKCS#8 DER (to be stored).
    pub fn generate(curve: Curve) -> Result<(FileSigner, Vec<u8>), SignerError> {
        let alg = match curve {
            Curve::P256 => SigAlg::EcdsaSha256,
            Curve::P384 => SigAlg::EcdsaSha384,
        };
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing_alg(alg), &SystemRandom::new())
            .map_err(|e| SignerError::BadKey(e.to_string()))?;
        let der = pkcs8.as_ref().to_vec();
        Ok((Self::from_pkcs8_der(&der)?, der))
    }

    /// Loads a PKCS#8 DER ECDSA P-256 or P-384 private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<FileSigner, SignerError> {
        for alg in [SigAlg::EcdsaSha256, SigAlg::EcdsaSha384] {
            let Ok(pair) = EcdsaKeyPair::from_pkcs8(signing_alg(alg), der) else {
                continue;
            };
            let spki = pair
                .public_key()
                .as_der()
                .map_err(|e| SignerError::BadKey(e.to_string()))?;
            let public = PublicKey::from_spki_der(spki.as_ref())
                .map_err(|e| SignerError::BadKey(e.to_string()))?;
            return Ok(FileSigner { pair, alg, public });
        }
        Err(SignerError::BadKey(
            "expected a PKCS#8 ECDSA P-256 or P-384 private key".into(),
        ))
    }

    /// Loads a PEM `PRIVATE KEY` (PKCS#8) block.
    pub fn from_pkcs8_pem(text: &str) -> Result<FileSigner, SignerError> {
        let block = pem::parse(text).map_err(|e| SignerError::BadKey(e.to_string()))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(SignerError::BadKey(format!(
                "expected a PRIVATE KEY (PKCS#8) PEM block, found {}",
                block.tag()
            )));
        }
        Self::from_pkcs8_der(block.contents())
    }

    /// The curve of this key.
    pub fn curve(&self) -> Curve {
        match self.public.kind() {
            KeyKind::EcdsaP384 => Curve::P384,
            _ => Curve::P256,
        }
    }
}

impl CaSigner for FileSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn algorithm(&self) -> SigAlg {
        self.alg
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|e| SignerError::Sign(e.to_string()))
    }

    fn in_process(&self) -> bool {
        true
    }
}

/// PEM text of a PKCS#8 private key.
pub fn pkcs8_pem(der: &[u8]) -> String {
    crate::ca::pem_lf("PRIVATE KEY", der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_reload() {
        for curve in [Curve::P256, Curve::P384] {
            let (signer, der) = FileSigner::generate(curve).unwrap();
            assert_eq!(signer.curve(), curve);
            let sig = signer.sign(b"tbs").unwrap();
            signer.public_key().verify(b"tbs", &sig).unwrap();
            let again = FileSigner::from_pkcs8_pem(&pkcs8_pem(&der)).unwrap();
            assert_eq!(again.public_key(), signer.public_key());
        }
        assert!(FileSigner::from_pkcs8_der(b"junk").is_err());
        assert!(!format!("{:?}", FileSigner::generate(Curve::P256).unwrap().0).contains("pair"));
    }
}
