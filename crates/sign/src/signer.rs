//! Who signs: the [`Signer`] trait, and an in-memory key.
//!
//! Every signature signet makes is over a SHA-256 digest (hashedrekord
//! entries, DSSE PAEs and the Fulcio proof of possession all use SHA-256),
//! so a signer only has to sign digests. That is what hardware and cloud
//! signers (PKCS#11 tokens, KMS) offer, so they slot in behind the same
//! trait.

use aws_lc_rs::digest::{Digest, SHA256};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PKCS1_SHA256,
};
use signet_crypto::PublicKey;
use zeroize::Zeroizing;

use crate::SignError;

/// Something that holds a private key and signs SHA-256 digests with it.
///
/// Invariant of implementations: a signature returned by
/// [`Signer::sign_prehashed`] verifies under [`Signer::public_key`] with
/// `PublicKey::verify_prehashed(Sha256, digest, sig)`.
pub trait Signer: Send + Sync {
    /// The public half of the key.
    fn public_key(&self) -> PublicKey;

    /// The protobuf-specs `PublicKeyDetails` name of the key and scheme
    /// (Rekor v2 entries name it), e.g. `PKIX_ECDSA_P256_SHA_256`; `None`
    /// for a key Sigstore has no name for (RSA other than 2048, 3072 or
    /// 4096 bits), which Rekor v1 can still log.
    fn key_details(&self) -> Option<&'static str>;

    /// Signs a SHA-256 digest: DER ECDSA, or PKCS#1 v1.5 for RSA.
    fn sign_prehashed(&self, sha256_digest: &[u8; 32]) -> Result<Vec<u8>, SignError>;

    /// Signs a message (its SHA-256 digest).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_prehashed(&signet_crypto::sha256(message))
    }
}

/// A private key held in process memory (a cosign key file, or the
/// ephemeral key of a keyless signature).
pub struct InMemorySigner {
    key: Key,
    public: PublicKey,
}

enum Key {
    EcdsaP256(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl std::fmt::Debug for InMemorySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemorySigner")
            .field("key_details", &self.key_details())
            .finish_non_exhaustive()
    }
}

fn crypto(what: &str) -> SignError {
    SignError::Crypto(what.to_string())
}

impl InMemorySigner {
    /// A fresh ECDSA P-256 key (what cosign generates, and what a keyless
    /// signature uses once).
    pub fn generate_p256() -> Result<Self, SignError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .map_err(|_| crypto("generating a P-256 key"))?;
        Self::from_ecdsa(pair)
    }

    /// A key from its PKCS#8 DER (what cosign key files hold): ECDSA P-256
    /// or RSA (2048 to 8192 bits). RFC 5915 `EC PRIVATE KEY` DER is also
    /// accepted for P-256.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SignError> {
        if let Ok(pair) = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            return Self::from_ecdsa(pair);
        }
        if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
            let public = pair
                .public_key()
                .as_der()
                .map_err(|_| crypto("encoding the RSA public key"))?;
            let public = PublicKey::from_spki_der(public.as_ref())
                .map_err(|e| SignError::UnsupportedKey(e.to_string()))?;
            return Ok(InMemorySigner {
                key: Key::Rsa(pair),
                public,
            });
        }
        Err(SignError::UnsupportedKey(
            "signet signs with ECDSA P-256 or RSA keys (PKCS#8); this key is neither".into(),
        ))
    }

    fn from_ecdsa(pair: EcdsaKeyPair) -> Result<Self, SignError> {
        let public = pair
            .public_key()
            .as_der()
            .map_err(|_| crypto("encoding the public key"))?;
        let public = PublicKey::from_spki_der(public.as_ref())
            .map_err(|e| SignError::UnsupportedKey(e.to_string()))?;
        Ok(InMemorySigner {
            key: Key::EcdsaP256(pair),
            public,
        })
    }

    /// The private key as PKCS#8 v1 DER, wiped from memory when dropped.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, SignError> {
        let doc = match &self.key {
            Key::EcdsaP256(pair) => pair
                .to_pkcs8v1()
                .map_err(|_| crypto("encoding the private key"))?
                .as_ref()
                .to_vec(),
            Key::Rsa(pair) => AsDer::as_der(pair)
                .map_err(|_| crypto("encoding the private key"))?
                .as_ref()
                .to_vec(),
        };
        Ok(Zeroizing::new(doc))
    }
}

impl Signer for InMemorySigner {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    fn key_details(&self) -> Option<&'static str> {
        // Both key types sign SHA-256 digests, their default scheme.
        self.public.key_details()
    }

    fn sign_prehashed(&self, sha256_digest: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        let digest = Digest::import_less_safe(sha256_digest, &SHA256)
            .map_err(|_| crypto("importing the digest"))?;
        match &self.key {
            Key::EcdsaP256(pair) => pair
                .sign_digest(&digest)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| crypto("ECDSA signing")),
            Key::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign_digest(&RSA_PKCS1_SHA256, &digest, &mut sig)
                    .map_err(|_| crypto("RSA signing"))?;
                Ok(sig)
            }
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::EcdsaP256(pair) => pair
                .sign(&rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| crypto("ECDSA signing")),
            Key::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| crypto("RSA signing"))?;
                Ok(sig)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_crypto::HashAlgorithm;

    #[test]
    fn p256_signs_messages_and_digests() {
        let signer = InMemorySigner::generate_p256().unwrap();
        let key = signer.public_key();
        assert_eq!(key.kind(), signet_crypto::KeyKind::EcdsaP256);
        let sig = signer.sign(b"hello").unwrap();
        key.verify(b"hello", &sig).unwrap();
        let digest = signet_crypto::sha256(b"hello");
        let sig = signer.sign_prehashed(&digest).unwrap();
        key.verify_prehashed(HashAlgorithm::Sha256, &digest, &sig)
            .unwrap();
        key.verify(b"hello", &sig).unwrap();
        assert!(key.verify(b"hellO", &sig).is_err());
        assert_eq!(signer.key_details(), Some("PKIX_ECDSA_P256_SHA_256"));
    }

    #[test]
    fn rsa_key_details_are_named_by_modulus_size() {
        use aws_lc_rs::encoding::AsDer;
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        let signer = InMemorySigner::from_pkcs8(der.as_ref()).unwrap();
        assert_eq!(signer.key_details(), Some("PKIX_RSA_PKCS1V15_2048_SHA256"));
    }

    #[test]
    fn pkcs8_round_trip() {
        let signer = InMemorySigner::generate_p256().unwrap();
        let der = signer.to_pkcs8_der().unwrap();
        let again = InMemorySigner::from_pkcs8(&der).unwrap();
        assert_eq!(again.public_key(), signer.public_key());
        assert!(InMemorySigner::from_pkcs8(b"garbage").is_err());
    }
}
