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
use signet_pki::fulcio::{SubjectAltName, ISSUER_V1, ISSUER_V2};
use signet_pki::sct::{parse_sct_list, verify_embedded_scts, CtLog, SCT_LIST_OID};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::TbsCertificate;

use crate::certgen::{self, CertBuildError, San, CT_POISON_OID};
use crate::ct::{sct_list_extension_value, CtError, CtLogSigner};
use crate::identity::{Encoding, Principal};
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

/// An email identity from `issuer`, with the issuer extensions Fulcio
/// writes (the start-up self-test's identity).
fn email_principal(email: &str, issuer: &str) -> Principal {
    Principal {
        name: email.into(),
        san: San::Email(email.into()),
        issuer: issuer.into(),
        extensions: vec![
            (ISSUER_V1, Encoding::Raw, issuer.into()),
            (ISSUER_V2, Encoding::Utf8, issuer.into()),
        ],
    }
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
    /// Verify the signatures of every certificate and SCT (out-of-process
    /// signers), or only those of the start-up self-test (in-memory keys).
    verify_every_signature: bool,
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
        let verify_every_signature = !(signer.in_process() && ct.in_process());
        let ca = CertificateAuthority {
            signer,
            chain,
            issuer_name,
            ct,
            verifier,
            ct_logs,
            verify_every_signature,
        };
        ca.self_test()?;
        Ok(ca)
    }

    /// Issues one certificate for a throw-away key and identity and checks
    /// it completely (signatures, chain, SCT, identity), so that a CA
    /// whose key, chain or CT key do not work together never starts.
    fn self_test(&self) -> Result<(), CaError> {
        let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        )
        .map_err(|e| CaError::SelfCheck(format!("self-test key: {e}")))?;
        let key = PublicKey::from_spki_der(
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
                aws_lc_rs::signature::KeyPair::public_key(&pair),
            )
            .map_err(|e| CaError::SelfCheck(format!("self-test key: {e}")))?
            .as_ref(),
        )
        .map_err(|e| CaError::SelfCheck(format!("self-test key: {e}")))?;
        let principal = email_principal(
            "self-test@signet.invalid",
            "https://signet.invalid/ca-self-test",
        );
        self.issue_checked(&principal, &key, crate::unix_now(), true)
            .map(|_| ())
            .map_err(|e| CaError::SelfCheck(format!("start-up self-test: {e}")))
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
        self.issue_checked(principal, key, now, self.verify_every_signature)
    }

    fn issue_checked(
        &self,
        principal: &Principal,
        key: &PublicKey,
        now: i64,
        verify_signatures: bool,
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

        self.self_check(&leaf, &precert_tbs, principal, now, verify_signatures)?;
        Ok(IssuedChain {
            leaf,
            chain: self.chain.clone(),
        })
    }

    /// Verifies a fresh leaf as a Sigstore verifier will. With
    /// `verify_signatures` false (in-memory keys, after the start-up
    /// self-test did it once), the certificate's and the SCT's signatures
    /// are not re-verified; everything structural still is.
    fn self_check(
        &self,
        leaf: &Certificate,
        precert_tbs: &[u8],
        principal: &Principal,
        now: i64,
        verify_signatures: bool,
    ) -> Result<(), CaError> {
        let fail = |what: &str, e: String| CaError::SelfCheck(format!("{what}: {e}"));
        let final_tbs = leaf
            .tbs_der_without_extension(&SCT_LIST_OID)
            .map_err(|e| fail("TBS", e.to_string()))?;
        if final_tbs.as_deref() != Some(precert_tbs) {
            return Err(fail("TBS", "differs from the precertificate's".into()));
        }
        if verify_signatures {
            let scts = verify_embedded_scts(leaf, &self.chain[0], &self.ct_logs)
                .map_err(|e| fail("SCT", e.to_string()))?;
            if scts.len() != 1 {
                return Err(fail("SCT", format!("{} SCTs", scts.len())));
            }
            self.verifier
                .verify(leaf, &[], now, Purpose::CodeSigning)
                .map_err(|e| fail("chain", e.to_string()))?;
        } else {
            let (_, list) = leaf
                .extension(&SCT_LIST_OID)
                .ok_or_else(|| fail("SCT", "no SCT list".into()))?;
            let scts = parse_sct_list(list).map_err(|e| fail("SCT", e.to_string()))?;
            if scts.len() != 1 || scts[0].log_id != self.ct.log_id() {
                return Err(fail("SCT", "not exactly one SCT by our CT log".into()));
            }
            if !leaf.is_valid_at(now) || leaf.issuer_der() != self.chain[0].subject_der() {
                return Err(fail("chain", "validity or issuer name".into()));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::{Curve, FileSigner, SigAlg, SignerError};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// An out-of-process signer that can be told to start signing with the
    /// wrong key (a misconfigured HSM slot, say).
    #[derive(Debug)]
    struct FlakyHsm {
        key: FileSigner,
        wrong: FileSigner,
        broken: AtomicBool,
    }

    impl CaSigner for FlakyHsm {
        fn public_key(&self) -> &PublicKey {
            self.key.public_key()
        }
        fn algorithm(&self) -> SigAlg {
            self.key.algorithm()
        }
        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
            if self.broken.load(Ordering::SeqCst) {
                self.wrong.sign(message)
            } else {
                self.key.sign(message)
            }
        }
    }

    fn ct() -> CtLogSigner {
        let (key, _) = FileSigner::generate(Curve::P256).unwrap();
        CtLogSigner::new(Arc::new(key)).unwrap()
    }

    fn principal() -> Principal {
        email_principal("a@example.com", "https://issuer.example")
    }

    fn client_key() -> PublicKey {
        let (key, _) = FileSigner::generate(Curve::P256).unwrap();
        key.public_key().clone()
    }

    #[test]
    fn in_memory_keys_are_checked_at_start_up_and_issue_valid_chains() {
        for curve in [Curve::P256, Curve::P384] {
            let generated = crate::keys::generate_ca_on(crate::unix_now(), curve).unwrap();
            let ca = CertificateAuthority::new(Arc::new(generated.signer), generated.chain, ct())
                .unwrap();
            assert!(!ca.verify_every_signature);
            let now = crate::unix_now();
            let issued = ca.issue(&principal(), &client_key(), now).unwrap();
            // What the CA no longer re-verifies per certificate, a
            // verifier does: the chain and the SCT verify.
            ca.verifier
                .verify(&issued.leaf, &[], now, Purpose::CodeSigning)
                .unwrap();
            assert_eq!(
                verify_embedded_scts(&issued.leaf, &ca.chain[0], &ca.ct_logs)
                    .unwrap()
                    .len(),
                1
            );
        }
    }

    #[test]
    fn an_out_of_process_signer_is_verified_on_every_certificate() {
        let generated = crate::keys::generate_ca(crate::unix_now()).unwrap();
        let (wrong, _) = FileSigner::generate(Curve::P384).unwrap();
        let hsm = Arc::new(FlakyHsm {
            key: generated.signer,
            wrong,
            broken: AtomicBool::new(false),
        });
        let ca = CertificateAuthority::new(hsm.clone(), generated.chain, ct()).unwrap();
        assert!(ca.verify_every_signature);
        ca.issue(&principal(), &client_key(), crate::unix_now())
            .unwrap();
        hsm.broken.store(true, Ordering::SeqCst);
        let err = ca
            .issue(&principal(), &client_key(), crate::unix_now())
            .unwrap_err();
        assert!(
            matches!(err, CaError::SelfCheck(ref m) if m.contains("chain")),
            "{err}"
        );
    }

    #[test]
    fn a_ca_that_cannot_issue_valid_certificates_does_not_start() {
        // Signs with another key than the one its certificate names: the
        // start-up self-test's chain verification catches it even for a
        // signer that claims to be in-process.
        #[derive(Debug)]
        struct Liar(FileSigner, FileSigner);
        impl CaSigner for Liar {
            fn public_key(&self) -> &PublicKey {
                self.0.public_key()
            }
            fn algorithm(&self) -> SigAlg {
                self.0.algorithm()
            }
            fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
                self.1.sign(message)
            }
            fn in_process(&self) -> bool {
                true
            }
        }
        let generated = crate::keys::generate_ca(crate::unix_now()).unwrap();
        let (other, _) = FileSigner::generate(Curve::P384).unwrap();
        let err = CertificateAuthority::new(
            Arc::new(Liar(generated.signer, other)),
            generated.chain,
            ct(),
        )
        .unwrap_err();
        assert!(
            matches!(err, CaError::SelfCheck(ref m) if m.contains("self-test")),
            "{err}"
        );
    }
}
