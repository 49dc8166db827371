//! Certificate path validation against the CAs of a Sigstore trust root.
//!
//! Sigstore semantics: the trust root is the only source of CA certificates.
//! A [`ChainVerifier`] is built once from the trusted CAs; it checks each
//! CA's own chain then (issued-by signatures, self-signed root, CA flags,
//! keyCertSign, path length) and remembers the outcome, so that verifying a
//! leaf costs one signature verification (the leaf by its issuing CA
//! certificate) plus comparisons.
//!
//! Policy for CA certificates carried by a bundle (the `x509CertificateChain`
//! of v0.1/v0.2 bundles, after the leaf): they never add trust and are never
//! used to build the path.
//! - A self-issued certificate (a root) in the bundle is refused outright
//!   ([`ChainError::BundleContainsRoot`]), even one identical to a trusted
//!   root: a bundle must not carry its own trust anchor (the conformance
//!   suite's `bundle-with-root-cert_fail`).
//! - Every other one must be byte-identical to a certificate of the trusted
//!   CA chain the leaf validates against
//!   ([`ChainError::UntrustedBundleCertificate`]). A bundle that repeats the
//!   trusted intermediate therefore verifies; one that carries any other
//!   certificate does not.

use const_oid::db::rfc5280::{
    ANY_EXTENDED_KEY_USAGE, ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS,
    ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE, ID_CE_NAME_CONSTRAINTS, ID_CE_SUBJECT_ALT_NAME,
    ID_CE_SUBJECT_KEY_IDENTIFIER, ID_KP_CODE_SIGNING, ID_KP_TIME_STAMPING,
};
use const_oid::ObjectIdentifier;

use crate::cert::{CertError, Certificate};

/// Most certificates a trusted CA chain may list.
pub const MAX_CA_CHAIN: usize = 8;

/// Most certificates a bundle may carry besides the leaf.
pub const MAX_BUNDLE_INTERMEDIATES: usize = 8;

/// A certificate authority as Sigstore's `trusted_root.json` lists it.
#[derive(Debug, Clone)]
pub struct TrustedCa {
    /// As listed: the issuing certificate first, the self-signed root last.
    pub chain: Vec<Certificate>,
    /// Start of the CA's validity in the trust root (inclusive, unix secs).
    pub valid_from: Option<i64>,
    /// End of the CA's validity in the trust root (inclusive, unix secs).
    pub valid_until: Option<i64>,
}

/// What the leaf certificate must be good for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// extendedKeyUsage id-kp-codeSigning (1.3.6.1.5.5.7.3.3): Fulcio leaves.
    CodeSigning,
    /// extendedKeyUsage id-kp-timeStamping (1.3.6.1.5.5.7.3.8): TSA leaves.
    TimeStamping,
}

impl Purpose {
    /// The extendedKeyUsage purpose OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Purpose::CodeSigning => ID_KP_CODE_SIGNING,
            Purpose::TimeStamping => ID_KP_TIME_STAMPING,
        }
    }
}

/// Why a trusted CA's own chain cannot be used. Found once, at
/// [`ChainVerifier::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaDefect {
    #[error("the CA chain is empty")]
    Empty,
    #[error("the CA chain has more than {MAX_CA_CHAIN} certificates")]
    TooLong,
    #[error("certificate {index} of the CA chain is not issued by certificate {}: {source}", index + 1)]
    NotIssuedByNext { index: usize, source: CertError },
    #[error("the last certificate of the CA chain is not self-signed: {0}")]
    RootNotSelfSigned(CertError),
    #[error("certificate {0} of the CA chain lacks basicConstraints cA=TRUE")]
    NotCa(usize),
    #[error("certificate {0} of the CA chain lacks keyUsage keyCertSign")]
    NoKeyCertSign(usize),
    #[error("certificate {index} of the CA chain has pathLenConstraint {limit} but {below} CA certificates below it")]
    PathLenExceeded {
        index: usize,
        limit: u8,
        below: usize,
    },
    #[error("certificate {index} of the CA chain has an unsupported critical extension {oid}")]
    UnknownCriticalExtension { index: usize, oid: ObjectIdentifier },
    #[error("certificate {0} of the CA chain has nameConstraints, which signet does not enforce")]
    NameConstraints(usize),
}

/// Why a leaf certificate does not chain to a trusted CA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("the leaf certificate is a CA (basicConstraints cA=TRUE)")]
    LeafIsCa,
    #[error("the leaf certificate has an unsupported critical extension {0}")]
    UnknownCriticalExtension(ObjectIdentifier),
    #[error("the leaf certificate has nameConstraints, which signet does not enforce")]
    LeafNameConstraints,
    #[error("the leaf certificate has no keyUsage extension")]
    MissingKeyUsage,
    #[error("the leaf certificate's keyUsage lacks digitalSignature")]
    NoDigitalSignature,
    #[error("the leaf certificate has no extendedKeyUsage extension")]
    MissingExtendedKeyUsage,
    #[error("the leaf certificate's extendedKeyUsage lacks {purpose:?} ({})", purpose.oid())]
    WrongExtendedKeyUsage { purpose: Purpose },
    #[error("the leaf certificate is not valid at {at}: valid from {not_before} to {not_after}")]
    LeafNotValidAt {
        at: i64,
        not_before: i64,
        not_after: i64,
    },
    #[error("the bundle carries more than {MAX_BUNDLE_INTERMEDIATES} chain certificates")]
    TooManyBundleCertificates,
    #[error("chain certificate {index} of the bundle is a self-issued (root) certificate")]
    BundleContainsRoot { index: usize },
    #[error(
        "chain certificate {index} of the bundle is not a certificate of the trusted CA chain"
    )]
    UntrustedBundleCertificate { index: usize },
    #[error("no trusted CA has a certificate named as the leaf's issuer")]
    NoTrustedIssuer,
    #[error("trusted CA {ca_index} is unusable: {defect}")]
    CaUnusable { ca_index: usize, defect: CaDefect },
    #[error("trusted CA {ca_index} is not valid at {at} (trust root validity {valid_from:?} to {valid_until:?})")]
    CaNotValidAt {
        ca_index: usize,
        at: i64,
        valid_from: Option<i64>,
        valid_until: Option<i64>,
    },
    #[error("certificate {cert_index} of trusted CA {ca_index} is not valid at {at}: valid from {not_before} to {not_after}")]
    CaCertNotValidAt {
        ca_index: usize,
        cert_index: usize,
        at: i64,
        not_before: i64,
        not_after: i64,
    },
    #[error("certificate {cert_index} of trusted CA {ca_index} has an extendedKeyUsage that excludes {purpose:?}")]
    CaExtendedKeyUsage {
        ca_index: usize,
        cert_index: usize,
        purpose: Purpose,
    },
    #[error(
        "the leaf certificate's signature does not verify with trusted CA {ca_index}: {source}"
    )]
    LeafSignature { ca_index: usize, source: CertError },
    #[error("no trusted CA accepts the leaf certificate: {}", display_all(.0))]
    NoCaAccepted(Vec<ChainError>),
}

fn display_all(errors: &[ChainError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A leaf that chains to a trusted CA.
#[derive(Debug, Clone)]
pub struct VerifiedChain {
    /// Index of the CA (in the list given to [`ChainVerifier::new`]).
    pub ca_index: usize,
    /// The certificate that issued the leaf (the CA chain's first).
    pub issuer: Certificate,
}

#[derive(Debug, Clone)]
struct CaEntry {
    ca: TrustedCa,
    /// The outcome of checking the CA's own chain, once.
    status: Result<(), CaDefect>,
}

/// Validates leaf certificates against a fixed set of trusted CAs.
///
/// Invariant: `cas[i].status` is the outcome of [`check_ca_chain`] on
/// `cas[i].ca.chain`; only CAs with `Ok` status are ever used to accept a
/// leaf.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    cas: Vec<CaEntry>,
    /// Leaves whose signature by a CA's first certificate already verified.
    issued: IssuedMemo,
}

/// `(CA index, SHA-256 of leaf DER)` pairs of leaves that are trust material
/// themselves (a timestamp authority's signing certificate), whose issuing
/// signature was verified once, at construction. Leaves from bundles are
/// never added: each bundle's own certificate is always checked.
///
/// Invariant: a pair is only present after `verify_issued_by` succeeded
/// against `cas[index].ca.chain[0]`, which never changes for a verifier.
#[derive(Debug, Clone, Default)]
struct IssuedMemo(std::collections::HashSet<(usize, [u8; 32])>);

/// Extensions signet understands (or, for the identifiers, may ignore).
fn is_known_extension(oid: &ObjectIdentifier) -> bool {
    [
        ID_CE_KEY_USAGE,
        ID_CE_EXT_KEY_USAGE,
        ID_CE_BASIC_CONSTRAINTS,
        ID_CE_SUBJECT_ALT_NAME,
        ID_CE_AUTHORITY_KEY_IDENTIFIER,
        ID_CE_SUBJECT_KEY_IDENTIFIER,
    ]
    .contains(oid)
}

/// Checks one CA's own chain: each certificate issued by the next, the last
/// self-signed, every one a CA with keyCertSign, no unknown critical
/// extension or nameConstraints, and every pathLenConstraint respected by
/// the CA certificates below it (self-issued ones not counted, RFC 5280
/// §6.1.4 (l)).
pub fn check_ca_chain(chain: &[Certificate]) -> Result<(), CaDefect> {
    let last = chain.last().ok_or(CaDefect::Empty)?;
    if chain.len() > MAX_CA_CHAIN {
        return Err(CaDefect::TooLong);
    }
    for (index, cert) in chain.iter().enumerate() {
        if !cert.is_ca() {
            return Err(CaDefect::NotCa(index));
        }
        if !cert.key_usage().is_some_and(|ku| ku.key_cert_sign()) {
            return Err(CaDefect::NoKeyCertSign(index));
        }
        for ext in cert.extensions() {
            if ext.oid == ID_CE_NAME_CONSTRAINTS {
                return Err(CaDefect::NameConstraints(index));
            }
            if ext.critical && !is_known_extension(&ext.oid) {
                return Err(CaDefect::UnknownCriticalExtension {
                    index,
                    oid: ext.oid,
                });
            }
        }
        if let Some(limit) = cert.basic_constraints().and_then(|bc| bc.path_len) {
            let below = chain[..index]
                .iter()
                .filter(|c| !c.is_self_issued())
                .count();
            if below > usize::from(limit) {
                return Err(CaDefect::PathLenExceeded {
                    index,
                    limit,
                    below,
                });
            }
        }
    }
    for (index, pair) in chain.windows(2).enumerate() {
        pair[0]
            .verify_issued_by(&pair[1])
            .map_err(|source| CaDefect::NotIssuedByNext { index, source })?;
    }
    last.verify_issued_by(last)
        .map_err(CaDefect::RootNotSelfSigned)?;
    Ok(())
}

impl ChainVerifier {
    /// Checks every CA's own chain once; broken CAs are kept (so that errors
    /// can name them) but never accept a leaf.
    /// As [`ChainVerifier::new`], and verifies once the issuing signature of
    /// `known_leaves`: certificates that are themselves trust material (a
    /// timestamp authority's signing certificate), so that validating them
    /// again later costs no signature. Every other check still runs.
    pub fn with_known_leaves(cas: Vec<TrustedCa>, known_leaves: &[Certificate]) -> ChainVerifier {
        let mut verifier = ChainVerifier::new(cas);
        let mut issued = IssuedMemo::default();
        for leaf in known_leaves {
            for (ca_index, entry) in verifier.cas.iter().enumerate() {
                let Some(issuer) = entry.ca.chain.first() else {
                    continue;
                };
                if entry.status.is_ok() && leaf.verify_issued_by(issuer).is_ok() {
                    issued
                        .0
                        .insert((ca_index, signet_crypto::sha256(leaf.der())));
                }
            }
        }
        verifier.issued = issued;
        verifier
    }

    pub fn new(cas: Vec<TrustedCa>) -> ChainVerifier {
        let cas = cas
            .into_iter()
            .map(|ca| CaEntry {
                status: check_ca_chain(&ca.chain),
                ca,
            })
            .collect();
        ChainVerifier {
            cas,
            issued: IssuedMemo::default(),
        }
    }

    /// The CAs, in the order given.
    pub fn cas(&self) -> impl ExactSizeIterator<Item = &TrustedCa> {
        self.cas.iter().map(|e| &e.ca)
    }

    /// The outcome of checking CA `index`'s own chain; `None` if out of range.
    pub fn ca_status(&self, index: usize) -> Option<Result<(), &CaDefect>> {
        self.cas.get(index).map(|e| e.status.as_ref().map(|_| ()))
    }

    /// Validates `leaf` at `at` (unix seconds) for `purpose`.
    ///
    /// The leaf must: not be a CA; carry no critical extension other than
    /// keyUsage, extendedKeyUsage, basicConstraints, subjectAltName and the
    /// key identifiers, and no nameConstraints; have keyUsage with
    /// digitalSignature and extendedKeyUsage with the purpose; be valid at
    /// `at`; and be signed by the first certificate of a usable trusted CA
    /// whose trust-root window and every certificate contain `at`, and whose
    /// certificates' extendedKeyUsage (where present) allow the purpose.
    /// `intermediates_from_bundle` must hold no root and otherwise only
    /// certificates of that CA's chain (see the module docs).
    pub fn verify(
        &self,
        leaf: &Certificate,
        intermediates_from_bundle: &[Certificate],
        at: i64,
        purpose: Purpose,
    ) -> Result<VerifiedChain, ChainError> {
        check_leaf(leaf, at, purpose)?;
        if intermediates_from_bundle.len() > MAX_BUNDLE_INTERMEDIATES {
            return Err(ChainError::TooManyBundleCertificates);
        }
        if let Some(index) = intermediates_from_bundle
            .iter()
            .position(Certificate::is_self_issued)
        {
            return Err(ChainError::BundleContainsRoot { index });
        }

        let mut failures = Vec::new();
        for (ca_index, entry) in self.cas.iter().enumerate() {
            let Some(issuer) = entry.ca.chain.first() else {
                continue;
            };
            if issuer.subject_der() != leaf.issuer_der() {
                continue;
            }
            match self.try_ca(
                ca_index,
                entry,
                leaf,
                intermediates_from_bundle,
                at,
                purpose,
            ) {
                Ok(v) => return Ok(v),
                Err(e) => failures.push(e),
            }
        }
        match failures.len() {
            0 => Err(ChainError::NoTrustedIssuer),
            1 => Err(failures.remove(0)),
            _ => Err(ChainError::NoCaAccepted(failures)),
        }
    }

    fn try_ca(
        &self,
        ca_index: usize,
        entry: &CaEntry,
        leaf: &Certificate,
        bundle: &[Certificate],
        at: i64,
        purpose: Purpose,
    ) -> Result<VerifiedChain, ChainError> {
        if let Err(defect) = &entry.status {
            return Err(ChainError::CaUnusable {
                ca_index,
                defect: defect.clone(),
            });
        }
        let ca = &entry.ca;
        if ca.valid_from.is_some_and(|from| at < from)
            || ca.valid_until.is_some_and(|until| at > until)
        {
            return Err(ChainError::CaNotValidAt {
                ca_index,
                at,
                valid_from: ca.valid_from,
                valid_until: ca.valid_until,
            });
        }
        for (cert_index, cert) in ca.chain.iter().enumerate() {
            if !cert.is_valid_at(at) {
                return Err(ChainError::CaCertNotValidAt {
                    ca_index,
                    cert_index,
                    at,
                    not_before: cert.not_before(),
                    not_after: cert.not_after(),
                });
            }
            if let Some(eku) = cert.extended_key_usage() {
                if !eku.contains(&purpose.oid()) && !eku.contains(&ANY_EXTENDED_KEY_USAGE) {
                    return Err(ChainError::CaExtendedKeyUsage {
                        ca_index,
                        cert_index,
                        purpose,
                    });
                }
            }
        }
        if let Some(index) = bundle.iter().position(|b| !ca.chain.contains(b)) {
            return Err(ChainError::UntrustedBundleCertificate { index });
        }
        let issuer = &ca.chain[0];
        let known = !self.issued.0.is_empty()
            && self
                .issued
                .0
                .contains(&(ca_index, signet_crypto::sha256(leaf.der())));
        if !known {
            leaf.verify_issued_by(issuer)
                .map_err(|source| ChainError::LeafSignature { ca_index, source })?;
        }
        Ok(VerifiedChain {
            ca_index,
            issuer: issuer.clone(),
        })
    }
}

/// The checks on the leaf alone.
/// The leaf's own part of [`ChainVerifier::verify`] (everything but its
/// issuer); also what a pinned timestamping certificate must pass.
pub(crate) fn check_leaf(leaf: &Certificate, at: i64, purpose: Purpose) -> Result<(), ChainError> {
    if leaf.is_ca() {
        return Err(ChainError::LeafIsCa);
    }
    for ext in leaf.extensions() {
        if ext.oid == ID_CE_NAME_CONSTRAINTS {
            return Err(ChainError::LeafNameConstraints);
        }
        if ext.critical && !is_known_extension(&ext.oid) {
            return Err(ChainError::UnknownCriticalExtension(ext.oid));
        }
    }
    let ku = leaf.key_usage().ok_or(ChainError::MissingKeyUsage)?;
    if !ku.digital_signature() {
        return Err(ChainError::NoDigitalSignature);
    }
    let eku = leaf
        .extended_key_usage()
        .ok_or(ChainError::MissingExtendedKeyUsage)?;
    if !eku.contains(&purpose.oid()) {
        return Err(ChainError::WrongExtendedKeyUsage { purpose });
    }
    if !leaf.is_valid_at(at) {
        return Err(ChainError::LeafNotValidAt {
            at,
            not_before: leaf.not_before(),
            not_after: leaf.not_after(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::testutil::*;
    use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
    use x509_cert::ext::Extension;

    const NB: u64 = 1_700_000_000;
    const NA: u64 = 1_700_000_600;
    const AT: i64 = 1_700_000_300;

    struct Pki {
        root_key: Key,
        root: Certificate,
        int_key: Key,
        int: Certificate,
    }

    fn ca_exts(path_len: Option<u8>) -> Vec<Extension> {
        vec![
            basic_constraints(true, path_len),
            key_usage(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
        ]
    }

    fn pki() -> Pki {
        let root_key = Key::new();
        let root = root("root", &root_key, NB - 10_000, NA + 10_000);
        let int_key = Key::new();
        let int = intermediate(
            "int",
            &int_key,
            "root",
            &root_key,
            NB - 5_000,
            NA + 5_000,
            Some(0),
        );
        Pki {
            root_key,
            root,
            int_key,
            int,
        }
    }

    fn trusted(p: &Pki) -> TrustedCa {
        TrustedCa {
            chain: vec![p.int.clone(), p.root.clone()],
            valid_from: None,
            valid_until: None,
        }
    }

    fn leaf_with(p: &Pki, exts: Vec<Extension>) -> Certificate {
        sign(tbs("leaf", "int", &Key::new(), NB, NA, exts), &p.int_key)
    }

    fn leaf(p: &Pki) -> Certificate {
        leaf_with(p, leaf_exts())
    }

    fn verify_one(p: &Pki, leaf: &Certificate) -> Result<VerifiedChain, ChainError> {
        ChainVerifier::new(vec![trusted(p)]).verify(leaf, &[], AT, Purpose::CodeSigning)
    }

    #[test]
    fn happy_path() {
        let p = pki();
        let mut exts = leaf_exts();
        // A non-critical unknown (Fulcio-like) extension is fine.
        exts.push(ext("1.3.6.1.4.1.57264.1.8", false, vec![0x0C, 0x01, b'x']));
        // A critical subjectAltName is known.
        exts.push(ext("2.5.29.17", true, vec![0x30, 0x03, 0x81, 0x01, b'a']));
        let l = leaf_with(&p, exts);
        let v = verify_one(&p, &l).unwrap();
        assert_eq!(v.ca_index, 0);
        assert_eq!(v.issuer, p.int);
        // Validity bounds are inclusive.
        let cv = ChainVerifier::new(vec![trusted(&p)]);
        cv.verify(&l, &[], NB as i64, Purpose::CodeSigning).unwrap();
        cv.verify(&l, &[], NA as i64, Purpose::CodeSigning).unwrap();
        assert_eq!(cv.ca_status(0), Some(Ok(())));
    }

    #[test]
    fn leaf_that_is_a_ca_is_rejected() {
        let p = pki();
        let mut exts = leaf_exts();
        exts.push(basic_constraints(true, None));
        assert_eq!(
            verify_one(&p, &leaf_with(&p, exts)).unwrap_err(),
            ChainError::LeafIsCa
        );
        // cA=FALSE is fine.
        let mut exts = leaf_exts();
        exts.push(basic_constraints(false, None));
        verify_one(&p, &leaf_with(&p, exts)).unwrap();
    }

    #[test]
    fn unknown_critical_extension_is_rejected() {
        let p = pki();
        let mut exts = leaf_exts();
        exts.push(ext("1.2.3.4", true, vec![0x05, 0x00]));
        assert_eq!(
            verify_one(&p, &leaf_with(&p, exts)).unwrap_err(),
            ChainError::UnknownCriticalExtension(ObjectIdentifier::new_unwrap("1.2.3.4"))
        );
    }

    #[test]
    fn name_constraints_on_leaf_are_rejected() {
        let p = pki();
        let mut exts = leaf_exts();
        exts.push(ext("2.5.29.30", false, vec![0x30, 0x00]));
        assert_eq!(
            verify_one(&p, &leaf_with(&p, exts)).unwrap_err(),
            ChainError::LeafNameConstraints
        );
    }

    #[test]
    fn key_usage_is_required() {
        let p = pki();
        let l = leaf_with(&p, vec![eku(&[CODE_SIGNING])]);
        assert_eq!(verify_one(&p, &l).unwrap_err(), ChainError::MissingKeyUsage);
        let l = leaf_with(
            &p,
            vec![
                key_usage(KeyUsage(KeyUsages::KeyEncipherment.into())),
                eku(&[CODE_SIGNING]),
            ],
        );
        assert_eq!(
            verify_one(&p, &l).unwrap_err(),
            ChainError::NoDigitalSignature
        );
    }

    #[test]
    fn extended_key_usage_is_required() {
        let p = pki();
        let ds = key_usage(KeyUsage(KeyUsages::DigitalSignature.into()));
        let l = leaf_with(&p, vec![ds.clone()]);
        assert_eq!(
            verify_one(&p, &l).unwrap_err(),
            ChainError::MissingExtendedKeyUsage
        );
        let l = leaf_with(&p, vec![ds.clone(), eku(&[TIME_STAMPING])]);
        assert_eq!(
            verify_one(&p, &l).unwrap_err(),
            ChainError::WrongExtendedKeyUsage {
                purpose: Purpose::CodeSigning
            }
        );
        let cv = ChainVerifier::new(vec![trusted(&p)]);
        cv.verify(&l, &[], AT, Purpose::TimeStamping).unwrap();
        assert_eq!(
            cv.verify(&leaf(&p), &[], AT, Purpose::TimeStamping)
                .unwrap_err(),
            ChainError::WrongExtendedKeyUsage {
                purpose: Purpose::TimeStamping
            }
        );
    }

    #[test]
    fn leaf_outside_validity_is_rejected() {
        let p = pki();
        let l = leaf(&p);
        let cv = ChainVerifier::new(vec![trusted(&p)]);
        for at in [NB as i64 - 1, NA as i64 + 1] {
            assert_eq!(
                cv.verify(&l, &[], at, Purpose::CodeSigning).unwrap_err(),
                ChainError::LeafNotValidAt {
                    at,
                    not_before: NB as i64,
                    not_after: NA as i64
                }
            );
        }
    }

    #[test]
    fn ca_trust_root_window_is_inclusive() {
        let p = pki();
        let l = leaf(&p);
        let ca = |from, until| TrustedCa {
            valid_from: from,
            valid_until: until,
            ..trusted(&p)
        };
        let ok =
            |c: TrustedCa| ChainVerifier::new(vec![c]).verify(&l, &[], AT, Purpose::CodeSigning);
        ok(ca(Some(AT), Some(AT))).unwrap();
        assert!(matches!(
            ok(ca(Some(AT + 1), None)),
            Err(ChainError::CaNotValidAt { ca_index: 0, .. })
        ));
        assert!(matches!(
            ok(ca(None, Some(AT - 1))),
            Err(ChainError::CaNotValidAt { ca_index: 0, .. })
        ));
    }

    #[test]
    fn expired_ca_certificate_is_rejected() {
        let p = pki();
        // An intermediate that expired before the signing time.
        let int = intermediate(
            "int",
            &p.int_key,
            "root",
            &p.root_key,
            NB - 5000,
            AT as u64 - 1,
            Some(0),
        );
        let ca = TrustedCa {
            chain: vec![int, p.root.clone()],
            valid_from: None,
            valid_until: None,
        };
        let err = ChainVerifier::new(vec![ca])
            .verify(&leaf(&p), &[], AT, Purpose::CodeSigning)
            .unwrap_err();
        assert!(matches!(
            err,
            ChainError::CaCertNotValidAt {
                ca_index: 0,
                cert_index: 0,
                ..
            }
        ));
    }

    #[test]
    fn ca_extended_key_usage_must_allow_purpose() {
        let p = pki();
        let mut exts = ca_exts(Some(0));
        exts.push(eku(&[CODE_SIGNING]));
        let int = sign(
            tbs("int", "root", &p.int_key, NB - 50, NA + 50, exts),
            &p.root_key,
        );
        let cv = ChainVerifier::new(vec![TrustedCa {
            chain: vec![int, p.root.clone()],
            valid_from: None,
            valid_until: None,
        }]);
        cv.verify(&leaf(&p), &[], AT, Purpose::CodeSigning).unwrap();
        let tsa = leaf_with(
            &p,
            vec![
                key_usage(KeyUsage(KeyUsages::DigitalSignature.into())),
                eku(&[TIME_STAMPING]),
            ],
        );
        assert_eq!(
            cv.verify(&tsa, &[], AT, Purpose::TimeStamping).unwrap_err(),
            ChainError::CaExtendedKeyUsage {
                ca_index: 0,
                cert_index: 0,
                purpose: Purpose::TimeStamping
            }
        );
    }

    #[test]
    fn bundle_certificates_must_be_trusted_ones() {
        let p = pki();
        let l = leaf(&p);
        let cv = ChainVerifier::new(vec![trusted(&p)]);
        cv.verify(&l, std::slice::from_ref(&p.int), AT, Purpose::CodeSigning)
            .unwrap();
        // No root in the bundle, not even the trusted one.
        assert_eq!(
            cv.verify(
                &l,
                &[p.int.clone(), p.root.clone()],
                AT,
                Purpose::CodeSigning
            )
            .unwrap_err(),
            ChainError::BundleContainsRoot { index: 1 }
        );
        // A look-alike intermediate (same names, other key) is refused.
        let fake = intermediate("int", &Key::new(), "root", &p.root_key, NB, NA, None);
        assert_eq!(
            cv.verify(&l, &[fake], AT, Purpose::CodeSigning)
                .unwrap_err(),
            ChainError::UntrustedBundleCertificate { index: 0 }
        );
        let many = vec![p.int.clone(); MAX_BUNDLE_INTERMEDIATES + 1];
        assert_eq!(
            cv.verify(&l, &many, AT, Purpose::CodeSigning).unwrap_err(),
            ChainError::TooManyBundleCertificates
        );
    }

    #[test]
    fn leaf_signed_by_another_key_is_rejected() {
        let p = pki();
        let l = sign(
            tbs("leaf", "int", &Key::new(), NB, NA, leaf_exts()),
            &Key::new(),
        );
        assert!(matches!(
            verify_one(&p, &l).unwrap_err(),
            ChainError::LeafSignature {
                ca_index: 0,
                source: CertError::BadSignature(_)
            }
        ));
    }

    #[test]
    fn known_leaves_skip_only_their_own_signature() {
        let p = pki();
        let known = leaf(&p);
        let forged = sign(
            tbs("leaf", "int", &Key::new(), NB, NA, leaf_exts()),
            &Key::new(),
        );
        // A forged "known" leaf is not remembered: it still fails.
        let cv =
            ChainVerifier::with_known_leaves(vec![trusted(&p)], &[known.clone(), forged.clone()]);
        cv.verify(&known, &[], AT, Purpose::CodeSigning).unwrap();
        assert!(matches!(
            cv.verify(&forged, &[], AT, Purpose::CodeSigning)
                .unwrap_err(),
            ChainError::LeafSignature { .. }
        ));
        // Every other check still runs for a known leaf.
        assert!(matches!(
            cv.verify(&known, &[], NA as i64 + 1, Purpose::CodeSigning)
                .unwrap_err(),
            ChainError::LeafNotValidAt { .. }
        ));
        assert!(matches!(
            cv.verify(&known, &[], AT, Purpose::TimeStamping)
                .unwrap_err(),
            ChainError::WrongExtendedKeyUsage { .. }
        ));
        // Other leaves are verified in full.
        let other = leaf(&p);
        cv.verify(&other, &[], AT, Purpose::CodeSigning).unwrap();
    }

    #[test]
    fn unknown_issuer_is_rejected() {
        let p = pki();
        let l = sign(
            tbs("leaf", "elsewhere", &Key::new(), NB, NA, leaf_exts()),
            &p.int_key,
        );
        assert_eq!(verify_one(&p, &l).unwrap_err(), ChainError::NoTrustedIssuer);
        // The root itself is not an issuing certificate of this CA.
        let l = sign(
            tbs("leaf", "root", &Key::new(), NB, NA, leaf_exts()),
            &p.root_key,
        );
        assert_eq!(verify_one(&p, &l).unwrap_err(), ChainError::NoTrustedIssuer);
    }

    #[test]
    fn every_candidate_ca_is_tried_and_reported() {
        let p = pki();
        let l = leaf(&p);
        let expired = TrustedCa {
            valid_until: Some(AT - 1),
            ..trusted(&p)
        };
        // The first CA refuses, the second accepts.
        let cv = ChainVerifier::new(vec![expired.clone(), trusted(&p)]);
        assert_eq!(
            cv.verify(&l, &[], AT, Purpose::CodeSigning)
                .unwrap()
                .ca_index,
            1
        );
        let cv = ChainVerifier::new(vec![expired.clone(), expired]);
        assert!(matches!(
            cv.verify(&l, &[], AT, Purpose::CodeSigning).unwrap_err(),
            ChainError::NoCaAccepted(v) if v.len() == 2
        ));
    }

    fn defect(chain: Vec<Certificate>) -> CaDefect {
        check_ca_chain(&chain).unwrap_err()
    }

    #[test]
    fn ca_chain_defects() {
        let p = pki();
        assert_eq!(defect(vec![]), CaDefect::Empty);
        assert_eq!(
            defect(vec![p.root.clone(); MAX_CA_CHAIN + 1]),
            CaDefect::TooLong
        );
        assert!(matches!(
            defect(vec![p.root.clone(), p.int.clone()]),
            CaDefect::NotIssuedByNext { index: 0, .. }
        ));
        assert!(matches!(
            defect(vec![p.int.clone()]),
            CaDefect::RootNotSelfSigned(CertError::IssuerNameMismatch)
        ));
        // Self-issued but signed by another key.
        let other = sign(
            tbs("root", "root", &p.root_key, NB, NA, ca_exts(None)),
            &Key::new(),
        );
        assert!(matches!(
            defect(vec![other]),
            CaDefect::RootNotSelfSigned(CertError::BadSignature(_))
        ));
        let not_ca = sign(
            tbs(
                "int",
                "root",
                &p.int_key,
                NB,
                NA,
                vec![key_usage(KeyUsage(KeyUsages::KeyCertSign.into()))],
            ),
            &p.root_key,
        );
        assert_eq!(defect(vec![not_ca, p.root.clone()]), CaDefect::NotCa(0));
        let ca_false = sign(
            tbs(
                "int",
                "root",
                &p.int_key,
                NB,
                NA,
                vec![
                    basic_constraints(false, None),
                    key_usage(KeyUsage(KeyUsages::KeyCertSign.into())),
                ],
            ),
            &p.root_key,
        );
        assert_eq!(defect(vec![ca_false, p.root.clone()]), CaDefect::NotCa(0));
        let no_ku = sign(
            tbs(
                "int",
                "root",
                &p.int_key,
                NB,
                NA,
                vec![basic_constraints(true, None)],
            ),
            &p.root_key,
        );
        assert_eq!(
            defect(vec![no_ku, p.root.clone()]),
            CaDefect::NoKeyCertSign(0)
        );
        let crl_only = sign(
            tbs(
                "int",
                "root",
                &p.int_key,
                NB,
                NA,
                vec![
                    basic_constraints(true, None),
                    key_usage(KeyUsage(KeyUsages::CRLSign.into())),
                ],
            ),
            &p.root_key,
        );
        assert_eq!(
            defect(vec![crl_only, p.root.clone()]),
            CaDefect::NoKeyCertSign(0)
        );
        let mut exts = ca_exts(None);
        exts.push(ext("1.2.3.4", true, vec![0x05, 0x00]));
        let crit = sign(tbs("int", "root", &p.int_key, NB, NA, exts), &p.root_key);
        assert!(matches!(
            defect(vec![crit, p.root.clone()]),
            CaDefect::UnknownCriticalExtension { index: 0, .. }
        ));
        let mut exts = ca_exts(None);
        exts.push(ext("2.5.29.30", true, vec![0x30, 0x00]));
        let nc = sign(tbs("int", "root", &p.int_key, NB, NA, exts), &p.root_key);
        assert_eq!(
            defect(vec![nc, p.root.clone()]),
            CaDefect::NameConstraints(0)
        );
    }

    #[test]
    fn path_length_is_enforced() {
        let p = pki();
        // root (pathlen 1) -> int (pathlen 0) -> int2: int2 is below int, which
        // allows no CA below it.
        let k2 = Key::new();
        let int2 = intermediate("int2", &k2, "int", &p.int_key, NB - 100, NA + 100, None);
        assert_eq!(
            defect(vec![int2.clone(), p.int.clone(), p.root.clone()]),
            CaDefect::PathLenExceeded {
                index: 1,
                limit: 0,
                below: 1
            }
        );
        // With pathlen 1 on the middle certificate the chain is fine; the
        // root's own pathlen 1 is then exceeded by two CAs below it.
        let int1 = intermediate(
            "int",
            &p.int_key,
            "root",
            &p.root_key,
            NB - 100,
            NA + 100,
            Some(1),
        );
        assert_eq!(
            defect(vec![int2.clone(), int1.clone(), p.root.clone()]),
            CaDefect::PathLenExceeded {
                index: 2,
                limit: 1,
                below: 2
            }
        );
        let root_key = &p.root_key;
        let big_root = sign(
            tbs(
                "root",
                "root",
                root_key,
                NB - 10_000,
                NA + 10_000,
                ca_exts(Some(2)),
            ),
            root_key,
        );
        check_ca_chain(&[int2, int1, big_root]).unwrap();
    }

    #[test]
    fn broken_ca_is_named_in_errors() {
        let p = pki();
        let broken = TrustedCa {
            chain: vec![p.int.clone()],
            valid_from: None,
            valid_until: None,
        };
        let cv = ChainVerifier::new(vec![broken]);
        assert!(cv.ca_status(0).unwrap().is_err());
        assert!(matches!(
            cv.verify(&leaf(&p), &[], AT, Purpose::CodeSigning)
                .unwrap_err(),
            ChainError::CaUnusable {
                ca_index: 0,
                defect: CaDefect::RootNotSelfSigned(_)
            }
        ));
    }
}
