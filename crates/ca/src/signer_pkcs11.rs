//! A [`CaSigner`] whose private key stays in a PKCS#11 token (an HSM, or
//! SoftHSM2 for tests). The PKCS#11 work (URI parsing, login, finding the
//! key, `CKM_ECDSA`, raw `r || s` to DER) is signet-sign's
//! [`signet_sign::pkcs11`], shared with the signing client's `--key
//! pkcs11:…`; this is the CA's view of it.
//!
//! The key is named by a PKCS#11 URI (RFC 7512), e.g.
//! `pkcs11:token=signet;object=ca-key;pin-value=1234`. Supported keys are
//! ECDSA P-256 and P-384: the message is hashed here (SHA-256 / SHA-384)
//! and the token signs the digest.

use std::path::Path;

use aws_lc_rs::digest;
use signet_crypto::PublicKey;
pub use signet_sign::pkcs11::{raw_ecdsa_to_der, Pkcs11Error, Pkcs11Uri, PIN_ENV};
use signet_sign::pkcs11::{EcCurve, Pkcs11Key};

use crate::signer::{CaSigner, SigAlg, SignerError};

impl From<Pkcs11Error> for SignerError {
    fn from(e: Pkcs11Error) -> SignerError {
        SignerError::BadKey(e.to_string())
    }
}

/// An ECDSA key in a PKCS#11 token, signing certificates for the CA.
#[derive(Debug)]
pub struct Pkcs11Signer {
    key: Pkcs11Key,
    alg: SigAlg,
}

impl Pkcs11Signer {
    /// Opens the key `uri` names in `module` (or the URI's `module-path`).
    /// The PIN is the URI's `pin-value`, else `$SIGNET_PKCS11_PIN`, else
    /// no login (for tokens whose keys need none).
    pub fn open(uri: &Pkcs11Uri, module: Option<&Path>) -> Result<Pkcs11Signer, Pkcs11Error> {
        let key = Pkcs11Key::open(uri, module)?;
        let alg = match key.curve() {
            EcCurve::P256 => SigAlg::EcdsaSha256,
            EcCurve::P384 => SigAlg::EcdsaSha384,
        };
        Ok(Pkcs11Signer { key, alg })
    }
}

impl CaSigner for Pkcs11Signer {
    fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    fn algorithm(&self) -> SigAlg {
        self.alg
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let digest = digest::digest(self.key.curve().hash(), message);
        self.key
            .sign_digest(digest.as_ref())
            .map_err(|e| SignerError::Sign(e.to_string()))
    }
}
