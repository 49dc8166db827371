//! Issuing a code-signing certificate with one embedded SCT, the way Fulcio
//! does (`pkg/ca/baseca`):
//!
//! 1. a precertificate: the leaf's TBS plus the critical poison extension,
//!    signed by the issuing CA;
//! 2. an SCT from the CA's CT log key over that TBS minus the poison;
//! 3. the final certificate: the same TBS with the SCT list extension where
//!    the poison was, signed by the issuing CA.
//!
//! Invariant: a certificate leaves [`CertificateAuthority::issue`] only
//! after `signet-pki` has verified it as a verifier would: its TBS minus
//! the SCT list equals the precertificate's TBS minus the poison, the SCT
//! verifies against the CT log key, the chain validates for code signing,
//! and the Fulcio identity reads back as the principal's.

use std::sync::Arc;

use signet_crypto::PublicKey;
use signet_pki::cert::Certificate;
use signet_pki::chain::{check_ca_chain, ChainVerifier, Purpose, TrustedCa};
use signet_pki::fulcio::SubjectAltName;
use signet_pki::sct::{verify_embedded_scts, CtLog, SCT_LIST_OID};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::TbsCertificate;

use crate::certgen::{self, CertBuildError, San, CT_POISON_OID};
use crate::ct::{sct_list_extension_value, CtError, CtLogSigner};
use crate::identity::Principal;
use crate::signer::CaSigner;

/// How long a leaf is valid (Fulcio: 10 minutes).
pub const LEAF_VALIDITY_SECS: i64 = 600;

/// Why the CA cannot be set up or could not issue.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("the CA chain is unusable: {0}")]
    Chain(String),
    #[error("the CA key does not match the issuing certificate")]
    KeyMismatch,
    #[error(transparent)]
    Build(#[from] CertBuildError),
    #[error(transparent)]
    Ct(#[from] CtError),
    #[error("the issued certificate failed self-verification: {0}")]
    SelfCheck(String),
}

/// A leaf and the chain above it.
#[derive(Debug, Clone)]
pub struct IssuedChain {
    pub leaf: Certificate,
    /// The issuing certificate first, the root last.
    pub chain: Vec<Certificate>,
}

impl IssuedChain {
    /// PEM of the leaf then each chain certificate (Fulcio's response order).
    pub fn pem_certificates(&self) -> Vec<String> {
        std::iter::once(&self.leaf)
            .chain(&self.chain)
            .map(pem_certificate)
            .collect()
    }
}

/// PEM text of one certificate.
pub fn pem_certificate(cert: &Certificate) -> String {
    pem_lf("CERTIFICATE", cert.der())
}

/// PEM with LF line endings (the `pem` crate defaults to CRLF).
pub fn pem_lf(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The issuing CA: its key, its chain and its CT log key.
#[derive(Debug)]
pub struct CertificateAuthority {
    signer: Arc<dyn CaSigner>,
    chain: Vec<Certificate>,
    issuer_name: Name,
    ct: CtLogSigner,
    verifier: ChainVerifier,
    ct_logs: Vec<CtLog>,
}

impl CertificateAuthority {
    /// `chain` lists the issuing certificate (whose key `signer` holds)
    /// first and the self-signed root last.
    pub fn new(
        signer: Arc<dyn CaSigner>,
        chain: Vec<Certificate>,
        ct: CtLogSigner,
    ) -> Result<CertificateAuthority, CaError> {
        check_ca_chain(&chain).map_err(|e| CaError::Chain(e.to_string()))?;
        let issuing = chain
            .first()
            .ok_or_else(|| CaError::Chain("empty".into()))?;
        if issuing.public_key() != signer.public_key() {
            return Err(CaError::KeyMismatch);
        }
        let issuer_name = issuing.x509().tbs_certificate.subject.clone();
        let verifier = ChainVerifier::new(vec![TrustedCa {
            chain: chain.clone(),
            valid_from: None,
            valid_until: None,
        }]);
        let ct_logs = vec![CtLog {
            log_id: ct.log_id(),
            key: ct.public_key().clone(),
            valid_from: None,
            valid_until: None,
        }];
        Ok(CertificateAuthority {
            signer,
            chain,
            issuer_name,
            ct,
            verifier,
            ct_logs,
        })
    }

    /// The CA chain: issuing certificate first, root last.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The CT log key.
    pub fn ct_log(&self) -> &CtLogSigner {
        &self.ct
    }

    /// Issues a certificate for `principal` binding `key`, at `now` (unix
    /// seconds), and verifies it before returning it.
    pub fn issue(
        &self,
        principal: &Principal,
        key: &PublicKey,
        now: i64,
    ) -> Result<IssuedChain, CaError> {
        let issuing = &self.chain[0];
        let mut extensions = vec![
            certgen::key_usage_ext(KeyUsage(KeyUsages::DigitalSignature.into()))?,
            certgen::code_signing_eku_ext()?,
            certgen::ski_ext(key.spki_der())?,
            certgen::aki_ext(issuing.spki_der())?,
            certgen::san_ext(&principal.san)?,
        ];
        extensions.extend(principal.x509_extensions()?);
        let mut tbs = TbsCertificate {
            version: x509_cert::Version::V3,
            serial_number: certgen::random_serial()?,
            signature: self.signer.algorithm().algorithm_identifier(),
            issuer: self.issuer_name.clone(),
            validity: certgen::validity(now, now + LEAF_VALIDITY_SECS)?,
            subject: Name::default(),
            subject_public_key_info: <SubjectPublicKeyInfoOwned as der::Decode>::from_der(
                key.spki_der(),
            )
            .map_err(CertBuildError::from)?,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: None,
        };

        // 1. The precertificate.
        let mut pre_exts = extensions.clone();
        pre_exts.push(certgen::poison_ext()?);
        tbs.extensions = Some(pre_exts);
        let precert_der = certgen::sign_certificate(tbs.clone(), self.signer.as_ref())?;
        let precert = Certificate::from_der(&precert_der)
            .map_err(|e| CaError::SelfCheck(format!("precertificate: {e}")))?;
        let precert_tbs = precert
            .tbs_der_without_extension(&CT_POISON_OID)
            .map_err(|e| CaError::SelfCheck(e.to_string()))?
            .ok_or_else(|| CaError::SelfCheck("precertificate lacks the poison".into()))?;

        // 2. The SCT, timestamped now (but not before the leaf's notBefore).
        let timestamp_ms = crate::unix_now_ms().max(u64::try_from(now).unwrap_or(0) * 1000);
        let sct = self
            .ct
            .sign_precert(issuing.spki_der(), &precert_tbs, timestamp_ms)?;

        // 3. The final certificate: the SCT list where the poison was.
        let mut final_exts = extensions;
        final_exts.push(certgen::extension(
            SCT_LIST_OID,
            false,
            sct_list_extension_value(&[sct])?,
        )?);
        tbs.extensions = Some(final_exts);
        let leaf_der = certgen::sign_certificate(tbs, self.signer.as_ref())?;
        let leaf =
            Certificate::from_der(&leaf_der).map_err(|e| CaError::SelfCheck(e.to_string()))?;

        self.self_check(&leaf, &precert_tbs, principal, now)?;
        Ok(IssuedChain {
            leaf,
            chain: self.chain.clone(),
        })
    }

    /// Verifies a fresh leaf exactly as a Sigstore verifier will.
    fn self_check(
        &self,
        leaf: &Certificate,
        precert_tbs: &[u8],
        principal: &Principal,
        now: i64,
    ) -> Result<(), CaError> {
        let fail = |what: &str, e: String| CaError::SelfCheck(format!("{what}: {e}"));
        let final_tbs = leaf
            .tbs_der_without_extension(&SCT_LIST_OID)
            .map_err(|e| fail("TBS", e.to_string()))?;
        if final_tbs.as_deref() != Some(precert_tbs) {
            return Err(fail("TBS", "differs from the precertificate's".into()));
        }
        let scts = verify_embedded_scts(leaf, &self.chain[0], &self.ct_logs)
            .map_err(|e| fail("SCT", e.to_string()))?;
        if scts.len() != 1 {
            return Err(fail("SCT", format!("{} SCTs", scts.len())));
        }
        self.verifier
            .verify(leaf, &[], now, Purpose::CodeSigning)
            .map_err(|e| fail("chain", e.to_string()))?;
        let id = signet_pki::fulcio::identity(leaf).map_err(|e| fail("identity", e.to_string()))?;
        let want = match &principal.san {
            San::Email(s) => SubjectAltName::Email(s.clone()),
            San::Uri(s) => SubjectAltName::Uri(s.clone()),
        };
        if id.san != [want] || id.issuer.as_deref() != Some(principal.issuer.as_str()) {
            return Err(fail("identity", "does not read back as issued".into()));
        }
        Ok(())
    }
}
