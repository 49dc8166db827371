//! Signing notes (checkpoints) with a log's private key: the counterpart of
//! [`crate::verifier::NoteVerifier`].
//!
//! Two key types, with the key-hint conventions Sigstore logs use:
//! * Ed25519: C2SP key ID `SHA-256(name || "\n" || 0x01 || raw key)[:4]`
//!   (Rekor v2); the log ID is the whole 32-byte hash.
//! * ECDSA P-256: Rekor v1's `SHA-256(DER SPKI)[:4]`; the log ID is the
//!   whole SHA-256 of the SPKI. Signatures are ASN.1 DER over SHA-256.
//!
//! In both cases the key hint is the first four bytes of the log ID, which
//! is what `signet-verify` expects of a trusted log.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use signet_crypto::{KeyKind, PublicKey};

use crate::note::{is_valid_key_name, Note, NoteError, NoteSignature};
use crate::verifier::NoteVerifier;

/// Why a signing key could not be loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    #[error("the private key is not a PKCS#8 Ed25519 or ECDSA P-256 key")]
    UnsupportedKey,
    #[error("invalid key name {0:?}")]
    InvalidKeyName(String),
    #[error("signing failed")]
    SigningFailed,
    #[error("key generation failed")]
    KeyGeneration,
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// The algorithm of a note signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerKind {
    Ed25519,
    EcdsaP256,
}

enum KeyPairKind {
    Ed25519(Ed25519KeyPair),
    EcdsaP256(EcdsaKeyPair),
}

/// Signs notes and arbitrary messages with one log key.
///
/// Invariants: `name` is a valid note key name; `public` is the public half
/// of `pair`; `log_id[..4]` is the key hint of every signature line.
pub struct NoteSigner {
    name: String,
    pair: KeyPairKind,
    public: PublicKey,
    log_id: [u8; 32],
}

impl std::fmt::Debug for NoteSigner {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .field("log_id", &self.log_id)
            .finish_non_exhaustive()
    }
}

/// Generates a new PKCS#8 (DER) private key of the given kind.
pub fn generate_pkcs8(kind: SignerKind) -> Result<Vec<u8>, SignerError> {
    let rng = SystemRandom::new();
    let doc = match kind {
        SignerKind::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng),
        SignerKind::EcdsaP256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        }
    }
    .map_err(|_| SignerError::KeyGeneration)?;
    Ok(doc.as_ref().to_vec())
}

impl NoteSigner {
    /// Loads a PKCS#8 DER private key (Ed25519 v1/v2 or ECDSA P-256) to sign
    /// under the key name `name` (for a log, its checkpoint origin).
    pub fn from_pkcs8_der(name: impl Into<String>, der: &[u8]) -> Result<Self, SignerError> {
        let name = name.into();
        if !is_valid_key_name(&name) {
            return Err(SignerError::InvalidKeyName(name));
        }
        let pair = if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            KeyPairKind::Ed25519(pair)
        } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            KeyPairKind::EcdsaP256(pair)
        } else {
            return Err(SignerError::UnsupportedKey);
        };
        let spki = match &pair {
            KeyPairKind::Ed25519(p) => p.public_key().as_der().map(|d| d.as_ref().to_vec()),
            KeyPairKind::EcdsaP256(p) => p.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| SignerError::UnsupportedKey)?;
        let public = PublicKey::from_spki_der(&spki).map_err(|_| SignerError::UnsupportedKey)?;
        // The verifier computes the same key IDs; build one to derive them.
        let log_id = match &pair {
            KeyPairKind::Ed25519(p) => {
                let raw = p.public_key().as_ref();
                let mut buf = Vec::with_capacity(name.len() + 2 + raw.len());
                buf.extend_from_slice(name.as_bytes());
                buf.push(b'\n');
                buf.push(0x01);
                buf.extend_from_slice(raw);
                signet_crypto::sha256(&buf)
            }
            KeyPairKind::EcdsaP256(_) => public.sha256_id(),
        };
        debug_assert!(matches!(
            public.kind(),
            KeyKind::Ed25519 | KeyKind::EcdsaP256
        ));
        Ok(NoteSigner {
            name,
            pair,
            public,
            log_id,
        })
    }

    /// The key name signature lines carry.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> SignerKind {
        match self.pair {
            KeyPairKind::Ed25519(_) => SignerKind::Ed25519,
            KeyPairKind::EcdsaP256(_) => SignerKind::EcdsaP256,
        }
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The log ID: C2SP key ID (Ed25519) or SHA-256 of the SPKI (ECDSA).
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// The 4-byte key hint: `log_id[..4]`.
    pub fn key_hint(&self) -> [u8; 4] {
        [
            self.log_id[0],
            self.log_id[1],
            self.log_id[2],
            self.log_id[3],
        ]
    }

    /// Signs `msg`: pure Ed25519, or ECDSA P-256 with SHA-256 (ASN.1 DER).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignerError> {
        match &self.pair {
            KeyPairKind::Ed25519(p) => Ok(p.sign(msg).as_ref().to_vec()),
            KeyPairKind::EcdsaP256(p) => p
                .sign(&SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SignerError::SigningFailed),
        }
    }

    /// Signs `text` (which must end with a newline) into a one-signature note.
    pub fn sign_note(&self, text: impl Into<String>) -> Result<Note, SignerError> {
        let text = text.into();
        let sig = self.sign(text.as_bytes())?;
        let line = NoteSignature::new(self.name.clone(), self.key_hint(), sig)?;
        Ok(Note::new(text, vec![line])?)
    }

    /// The verifier for this signer's notes.
    pub fn verifier(&self) -> Result<NoteVerifier, SignerError> {
        Ok(NoteVerifier::new(
            self.name.clone(),
            self.key_hint(),
            self.public.clone(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_notes_verify_with_rekor_convention() {
        let der = generate_pkcs8(SignerKind::EcdsaP256).unwrap();
        let s = NoteSigner::from_pkcs8_der("log.example", &der).unwrap();
        let note = s.sign_note("log.example\n1\nAAAA\n").unwrap();
        let v = NoteVerifier::rekor_ecdsa("log.example", s.public_key().clone()).unwrap();
        v.verify(&note).unwrap();
        assert_eq!(s.log_id(), s.public_key().sha256_id());
        let reparsed = Note::parse(&note.serialize()).unwrap();
        s.verifier().unwrap().verify(&reparsed).unwrap();
    }

    #[test]
    fn ed25519_notes_verify_with_c2sp_key_id() {
        let der = generate_pkcs8(SignerKind::Ed25519).unwrap();
        let s = NoteSigner::from_pkcs8_der("log.example", &der).unwrap();
        assert_eq!(s.kind(), SignerKind::Ed25519);
        let note = s.sign_note("log.example\n1\nAAAA\n").unwrap();
        let v = NoteVerifier::ed25519_c2sp("log.example", s.public_key().clone()).unwrap();
        assert_eq!(v.key_hint(), s.key_hint());
        v.verify(&note).unwrap();
    }

    #[test]
    fn bad_keys_and_names_are_rejected() {
        assert_eq!(
            NoteSigner::from_pkcs8_der("x", b"junk").unwrap_err(),
            SignerError::UnsupportedKey
        );
        let der = generate_pkcs8(SignerKind::Ed25519).unwrap();
        assert!(matches!(
            NoteSigner::from_pkcs8_der("bad name", &der),
            Err(SignerError::InvalidKeyName(_))
        ));
    }
}
