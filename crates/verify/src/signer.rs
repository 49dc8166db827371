//! The signer a bundle presents: a certificate (keyless) or a bare key.

use signet_crypto::PublicKey;
use signet_pki::cert::Certificate;

#[derive(Debug, Clone)]
pub enum Signer {
    Certificate(Certificate),
    Key(PublicKey),
}

impl Signer {
    pub fn key(&self) -> &PublicKey {
        match self {
            Signer::Certificate(c) => c.public_key(),
            Signer::Key(k) => k,
        }
    }
}
