//! The CA's built-in certificate transparency "log": a P-256 key that signs
//! RFC 6962 SCTs over precertificates. No log server exists; the key is
//! listed under `ctlogs` of the trust root with `logId` = SHA-256 of its
//! DER SubjectPublicKeyInfo, which is all a verifier checks.

use std::sync::Arc;

use der::Encode;
use signet_crypto::KeyKind;

use crate::signer::{CaSigner, SigAlg, SignerError};

/// Why an SCT could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CtError {
    #[error("the CT log key must be ECDSA P-256 (SHA-256)")]
    WrongKey,
    #[error("precertificate TBS of {0} bytes is too large for an SCT")]
    TooLarge(usize),
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error("DER encoding: {0}")]
    Der(#[from] der::Error),
}

/// TLS `HashAlgorithm.sha256`.
const HASH_SHA256: u8 = 4;
/// TLS `SignatureAlgorithm.ecdsa`.
const SIG_ECDSA: u8 = 3;

/// Signs SCTs for precertificates.
///
/// Invariant: the key is ECDSA P-256 signing with SHA-256, and `log_id` is
/// SHA-256 of its DER SPKI.
#[derive(Debug, Clone)]
pub struct CtLogSigner {
    signer: Arc<dyn CaSigner>,
    log_id: [u8; 32],
}

impl CtLogSigner {
    /// See [`CaSigner::in_process`].
    pub fn in_process(&self) -> bool {
        self.signer.in_process()
    }

    pub fn new(signer: Arc<dyn CaSigner>) -> Result<CtLogSigner, CtError> {
        if signer.public_key().kind() != KeyKind::EcdsaP256
            || signer.algorithm() != SigAlg::EcdsaSha256
        {
            return Err(CtError::WrongKey);
        }
        let log_id = signer.public_key().sha256_id();
        Ok(CtLogSigner { signer, log_id })
    }

    /// The log ID: SHA-256 of the log key's DER SPKI.
    pub fn log_id(&self) -> [u8; 32] {
        self.log_id
    }

    /// The log's public key.
    pub fn public_key(&self) -> &signet_crypto::PublicKey {
        self.signer.public_key()
    }

    /// A v1 SCT (TLS-encoded `SignedCertificateTimestamp`, RFC 6962 §3.2)
    /// over the precertificate entry: `issuer_spki` is the DER SPKI of the
    /// certificate that issues the final certificate, `precert_tbs` the
    /// precertificate's TBSCertificate without the poison extension.
    pub fn sign_precert(
        &self,
        issuer_spki: &[u8],
        precert_tbs: &[u8],
        timestamp_ms: u64,
    ) -> Result<Vec<u8>, CtError> {
        if precert_tbs.len() >= 1 << 24 {
            return Err(CtError::TooLarge(precert_tbs.len()));
        }
        let issuer_key_hash = signet_crypto::sha256(issuer_spki);
        let mut signed = Vec::with_capacity(precert_tbs.len() + 64);
        signed.push(0); // sct_version v1
        signed.push(0); // signature_type certificate_timestamp
        signed.extend_from_slice(&timestamp_ms.to_be_bytes());
        signed.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
        signed.extend_from_slice(&issuer_key_hash);
        let len =
            u32::try_from(precert_tbs.len()).map_err(|_| CtError::TooLarge(precert_tbs.len()))?;
        signed.extend_from_slice(&len.to_be_bytes()[1..]);
        signed.extend_from_slice(precert_tbs);
        signed.extend_from_slice(&0u16.to_be_bytes()); // no CT extensions
        let signature = self.signer.sign(&signed)?;
        let sig_len =
            u16::try_from(signature.len()).map_err(|_| CtError::TooLarge(signature.len()))?;

        let mut sct = Vec::with_capacity(signature.len() + 48);
        sct.push(0);
        sct.extend_from_slice(&self.log_id);
        sct.extend_from_slice(&timestamp_ms.to_be_bytes());
        sct.extend_from_slice(&0u16.to_be_bytes());
        sct.push(HASH_SHA256);
        sct.push(SIG_ECDSA);
        sct.extend_from_slice(&sig_len.to_be_bytes());
        sct.extend_from_slice(&signature);
        Ok(sct)
    }
}

/// The value of the embedded SCT list extension (1.3.6.1.4.1.11129.2.4.2):
/// a DER OCTET STRING holding the TLS `SignedCertificateTimestampList`.
pub fn sct_list_extension_value(scts: &[Vec<u8>]) -> Result<Vec<u8>, CtError> {
    let mut list = Vec::new();
    for sct in scts {
        let len = u16::try_from(sct.len()).map_err(|_| CtError::TooLarge(sct.len()))?;
        list.extend_from_slice(&len.to_be_bytes());
        list.extend_from_slice(sct);
    }
    let total = u16::try_from(list.len()).map_err(|_| CtError::TooLarge(list.len()))?;
    let mut tls = total.to_be_bytes().to_vec();
    tls.extend_from_slice(&list);
    Ok(der::asn1::OctetString::new(tls)?.to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::{Curve, FileSigner};

    #[test]
    fn list_round_trips_through_signet_pki() {
        let (key, _) = FileSigner::generate(Curve::P256).unwrap();
        let log = CtLogSigner::new(Arc::new(key)).unwrap();
        let sct = log.sign_precert(b"issuer", b"tbs", 1234).unwrap();
        let value = sct_list_extension_value(&[sct]).unwrap();
        let parsed = signet_pki::sct::parse_sct_list(&value).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].log_id, log.log_id());
        assert_eq!(parsed[0].timestamp_ms, 1234);
    }

    #[test]
    fn p384_log_key_is_refused() {
        let (key, _) = FileSigner::generate(Curve::P384).unwrap();
        assert!(matches!(
            CtLogSigner::new(Arc::new(key)),
            Err(CtError::WrongKey)
        ));
    }
}
