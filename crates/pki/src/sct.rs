//! Embedded Signed Certificate Timestamps (RFC 6962 §3.2–3.3).
//!
//! Fulcio submits a precertificate to a CT log and embeds the log's SCTs in
//! the final certificate under extension `1.3.6.1.4.1.11129.2.4.2`. The log
//! signed the precertificate's TBSCertificate, which is the final TBS without
//! that extension; [`Certificate::tbs_der_without_extension`] rebuilds it by
//! splicing the original bytes, so it is byte-identical to what was signed.
//!
//! Not supported: precertificates issued by a separate "Precertificate
//! Signing Certificate" (RFC 6962 §3.1); Fulcio does not use one.

use const_oid::ObjectIdentifier;
use der::asn1::OctetStringRef;
use der::Decode;
use signet_crypto::{PublicKey, SignatureScheme};

use crate::cert::Certificate;

/// The embedded SCT list extension.
pub const SCT_LIST_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// Most SCTs read from one list; more is treated as malformed.
pub const MAX_SCTS: usize = 64;

/// A CT log the trust root lists.
#[derive(Debug, Clone)]
pub struct CtLog {
    /// SHA-256 of the log's DER SubjectPublicKeyInfo (the trust root's
    /// `logId.keyId`).
    pub log_id: [u8; 32],
    pub key: PublicKey,
    /// Start of the log's validity (inclusive, unix secs).
    pub valid_from: Option<i64>,
    /// End of the log's validity (inclusive, unix secs).
    pub valid_until: Option<i64>,
}

/// Why no embedded SCT verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SctError {
    #[error("the certificate has no embedded SCT list extension ({SCT_LIST_OID})")]
    NoSctExtension,
    #[error("malformed embedded SCT list: {0}")]
    Malformed(String),
    #[error("no embedded SCT is from a trusted CT log")]
    NoTrustedLog,
    #[error(
        "SCT from log {} has an unsupported version {version}",
        hex::encode(log_id)
    )]
    UnsupportedVersion { log_id: [u8; 32], version: u8 },
    #[error(
        "SCT from log {} uses unsupported algorithm (hash {hash}, signature {signature})",
        hex::encode(log_id)
    )]
    UnsupportedAlgorithm {
        log_id: [u8; 32],
        hash: u8,
        signature: u8,
    },
    #[error("SCT signature from log {} does not verify", hex::encode(log_id))]
    BadSignature { log_id: [u8; 32] },
    #[error(
        "SCT from log {} has timestamp {timestamp_ms} ms, outside the log's validity",
        hex::encode(log_id)
    )]
    OutsideLogValidity { log_id: [u8; 32], timestamp_ms: u64 },
}

impl SctError {
    /// How far an SCT got before failing; the furthest is reported when none
    /// verifies.
    fn progress(&self) -> u8 {
        match self {
            SctError::NoSctExtension | SctError::Malformed(_) | SctError::NoTrustedLog => 0,
            SctError::UnsupportedVersion { .. } | SctError::UnsupportedAlgorithm { .. } => 1,
            SctError::BadSignature { .. } => 2,
            SctError::OutsideLogValidity { .. } => 3,
        }
    }
}

/// One SCT as serialized in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    pub version: u8,
    pub log_id: [u8; 32],
    /// Milliseconds since the unix epoch.
    pub timestamp_ms: u64,
    /// The SCT's `CtExtensions` (opaque, signed over).
    pub extensions: Vec<u8>,
    /// TLS HashAlgorithm code.
    pub hash_algorithm: u8,
    /// TLS SignatureAlgorithm code.
    pub signature_algorithm: u8,
    pub signature: Vec<u8>,
}

/// An SCT that verified with a trusted log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSct {
    /// Index of the log in the `logs` given to [`verify_embedded_scts`].
    pub log_index: usize,
    pub sct: Sct,
}

/// A bounds-checked reader over TLS-encoded bytes.
struct Tls<'a> {
    buf: &'a [u8],
}

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], SctError> {
        if self.buf.len() < n {
            return Err(SctError::Malformed(format!("truncated {what}")));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &str) -> Result<u8, SctError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<usize, SctError> {
        let b = self.take(2, what)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn u64(&mut self, what: &str) -> Result<u64, SctError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    /// A `u16`-length-prefixed opaque.
    fn vec16(&mut self, what: &str) -> Result<&'a [u8], SctError> {
        let n = self.u16(what)?;
        self.take(n, what)
    }
    fn end(&self, what: &str) -> Result<(), SctError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(SctError::Malformed(format!(
                "{} trailing bytes after {what}",
                self.buf.len()
            )))
        }
    }
}

/// Parses the `extnValue` contents of the SCT list extension: a DER OCTET
/// STRING wrapping a TLS `SignedCertificateTimestampList`.
pub fn parse_sct_list(ext_value: &[u8]) -> Result<Vec<Sct>, SctError> {
    let inner = OctetStringRef::from_der(ext_value)
        .map_err(|e| SctError::Malformed(format!("not a DER OCTET STRING: {e}")))?;
    let mut outer = Tls {
        buf: inner.as_bytes(),
    };
    let list = outer.vec16("SCT list")?;
    outer.end("SCT list")?;
    if list.is_empty() {
        return Err(SctError::Malformed("empty SCT list".into()));
    }
    let mut list = Tls { buf: list };
    let mut scts = Vec::new();
    while !list.buf.is_empty() {
        if scts.len() == MAX_SCTS {
            return Err(SctError::Malformed(format!("more than {MAX_SCTS} SCTs")));
        }
        let mut one = Tls {
            buf: list.vec16("serialized SCT")?,
        };
        let version = one.u8("SCT version")?;
        let mut log_id = [0u8; 32];
        log_id.copy_from_slice(one.take(32, "SCT log id")?);
        let timestamp_ms = one.u64("SCT timestamp")?;
        let extensions = one.vec16("SCT extensions")?.to_vec();
        let hash_algorithm = one.u8("SCT hash algorithm")?;
        let signature_algorithm = one.u8("SCT signature algorithm")?;
        let signature = one.vec16("SCT signature")?.to_vec();
        one.end("SCT")?;
        scts.push(Sct {
            version,
            log_id,
            timestamp_ms,
            extensions,
            hash_algorithm,
            signature_algorithm,
            signature,
        });
    }
    Ok(scts)
}

/// The signature scheme of a TLS (HashAlgorithm, SignatureAlgorithm) pair.
fn scheme(hash: u8, signature: u8) -> Option<SignatureScheme> {
    Some(match (hash, signature) {
        (4, 3) => SignatureScheme::EcdsaSha256,
        (5, 3) => SignatureScheme::EcdsaSha384,
        (6, 3) => SignatureScheme::EcdsaSha512,
        (4, 1) => SignatureScheme::RsaPkcs1Sha256,
        (5, 1) => SignatureScheme::RsaPkcs1Sha384,
        (6, 1) => SignatureScheme::RsaPkcs1Sha512,
        (8, 7) => SignatureScheme::Ed25519,
        _ => return None,
    })
}

/// The bytes a log signs for a precertificate SCT (RFC 6962 §3.2).
///
/// Requires (as [`parse_sct_list`] and [`verify_embedded_scts`] ensure)
/// `sct.extensions.len() < 2^16` and `precert_tbs.len() < 2^24`.
fn precert_signed_data(sct: &Sct, issuer_key_hash: &[u8; 32], precert_tbs: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(precert_tbs.len() + sct.extensions.len() + 64);
    out.push(sct.version);
    out.push(0); // signature_type = certificate_timestamp
    out.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type = precert_entry
    out.extend_from_slice(issuer_key_hash);
    let len = precert_tbs.len() as u32; // < 2^24, checked by the caller
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(precert_tbs);
    out.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
    out.extend_from_slice(&sct.extensions);
    out
}

fn within(log: &CtLog, timestamp_ms: u64) -> bool {
    let secs = i64::try_from(timestamp_ms / 1000).unwrap_or(i64::MAX);
    log.valid_from.is_none_or(|from| from <= secs)
        && log.valid_until.is_none_or(|until| secs <= until)
}

/// Verifies the SCTs embedded in `leaf` (issued by `issuer`) against the
/// trusted `logs`, and returns those that verified: from a known log, with a
/// valid signature over the precertificate entry, and with a timestamp
/// inside that log's validity window. SCTs that fail are ignored if another
/// verifies; if none does, the error is that of the SCT that got furthest
/// (validity > signature > algorithm/version > unknown log).
pub fn verify_embedded_scts(
    leaf: &Certificate,
    issuer: &Certificate,
    logs: &[CtLog],
) -> Result<Vec<VerifiedSct>, SctError> {
    let (_, value) = leaf
        .extension(&SCT_LIST_OID)
        .ok_or(SctError::NoSctExtension)?;
    let scts = parse_sct_list(value)?;
    let precert_tbs = leaf
        .tbs_der_without_extension(&SCT_LIST_OID)
        .map_err(|e| SctError::Malformed(e.to_string()))?
        .ok_or(SctError::NoSctExtension)?;
    if precert_tbs.len() >= 1 << 24 {
        return Err(SctError::Malformed("TBSCertificate too large".into()));
    }
    let issuer_key_hash = signet_crypto::sha256(issuer.spki_der());

    let mut verified = Vec::new();
    let mut worst: Option<SctError> = None;
    for sct in scts {
        match verify_one(&sct, logs, &issuer_key_hash, &precert_tbs) {
            Ok(log_index) => verified.push(VerifiedSct { log_index, sct }),
            Err(e) => {
                if worst.as_ref().is_none_or(|w| e.progress() > w.progress()) {
                    worst = Some(e);
                }
            }
        }
    }
    if verified.is_empty() {
        return Err(worst.unwrap_or(SctError::NoTrustedLog));
    }
    Ok(verified)
}

fn verify_one(
    sct: &Sct,
    logs: &[CtLog],
    issuer_key_hash: &[u8; 32],
    precert_tbs: &[u8],
) -> Result<usize, SctError> {
    let log_id = sct.log_id;
    let mut candidates = logs
        .iter()
        .enumerate()
        .filter(|(_, l)| l.log_id == log_id)
        .peekable();
    if candidates.peek().is_none() {
        return Err(SctError::NoTrustedLog);
    }
    if sct.version != 0 {
        return Err(SctError::UnsupportedVersion {
            log_id,
            version: sct.version,
        });
    }
    let scheme = scheme(sct.hash_algorithm, sct.signature_algorithm).ok_or(
        SctError::UnsupportedAlgorithm {
            log_id,
            hash: sct.hash_algorithm,
            signature: sct.signature_algorithm,
        },
    )?;
    let data = precert_signed_data(sct, issuer_key_hash, precert_tbs);
    let mut err = SctError::BadSignature { log_id };
    // Several trust-root entries may share a log id (e.g. key rotation
    // windows); any one accepting suffices.
    for (index, log) in candidates {
        if log.key.verify_with(scheme, &data, &sct.signature).is_err() {
            continue;
        }
        if !within(log, sct.timestamp_ms) {
            err = SctError::OutsideLogValidity {
                log_id,
                timestamp_ms: sct.timestamp_ms,
            };
            continue;
        }
        return Ok(index);
    }
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::testutil::*;
    use der::Encode;
    use x509_cert::ext::Extension;

    const NB: u64 = 1_700_000_000;
    const TS_MS: u64 = 1_700_000_100_123;

    struct Setup {
        ca: Certificate,
        log_key: Key,
        log: CtLog,
    }

    fn setup() -> (Setup, Key) {
        let ca_key = Key::new();
        let ca = root("ca", &ca_key, NB - 1000, NB + 10_000);
        let log_key = Key::new();
        let pk = PublicKey::from_spki_der(&log_key.spki).unwrap();
        let log = CtLog {
            log_id: pk.sha256_id(),
            key: pk,
            valid_from: None,
            valid_until: None,
        };
        (Setup { ca, log_key, log }, ca_key)
    }

    fn tls_sct(sct: &Sct) -> Vec<u8> {
        let mut b = vec![sct.version];
        b.extend_from_slice(&sct.log_id);
        b.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
        b.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
        b.extend_from_slice(&sct.extensions);
        b.push(sct.hash_algorithm);
        b.push(sct.signature_algorithm);
        b.extend_from_slice(&(sct.signature.len() as u16).to_be_bytes());
        b.extend_from_slice(&sct.signature);
        b
    }

    fn list_ext_value(scts: &[Sct]) -> Vec<u8> {
        let mut list = Vec::new();
        for s in scts {
            let one = tls_sct(s);
            list.extend_from_slice(&(one.len() as u16).to_be_bytes());
            list.extend_from_slice(&one);
        }
        let mut tls = (list.len() as u16).to_be_bytes().to_vec();
        tls.extend_from_slice(&list);
        der::asn1::OctetString::new(tls).unwrap().to_der().unwrap()
    }

    /// An SCT over the precertificate TBS `precert_tbs` signed by `log_key`.
    fn make_sct(
        log_key: &Key,
        log_id: [u8; 32],
        issuer: &Certificate,
        precert_tbs: &[u8],
        extensions: Vec<u8>,
    ) -> Sct {
        let mut sct = Sct {
            version: 0,
            log_id,
            timestamp_ms: TS_MS,
            extensions,
            hash_algorithm: 4,
            signature_algorithm: 3,
            signature: vec![],
        };
        let ikh = signet_crypto::sha256(issuer.spki_der());
        sct.signature = log_key.sign(&precert_signed_data(&sct, &ikh, precert_tbs));
        sct
    }

    fn sct_ext(value: Vec<u8>) -> Extension {
        ext("1.3.6.1.4.1.11129.2.4.2", false, value)
    }

    /// A leaf whose SCT list extension (inserted between keyUsage and EKU)
    /// holds what `scts` makes of the precertificate TBS.
    fn leaf(_s: &Setup, ca_key: &Key, scts: impl FnOnce(&[u8]) -> Vec<u8>) -> Certificate {
        let key = Key::new();
        let pre = tbs("leaf", "ca", &key, NB, NB + 600, leaf_exts());
        let pre_der = pre.to_der().unwrap();
        let mut exts = leaf_exts();
        exts.insert(1, sct_ext(scts(&pre_der)));
        sign(tbs("leaf", "ca", &key, NB, NB + 600, exts), ca_key)
    }

    fn good_leaf(s: &Setup, ca_key: &Key, extensions: Vec<u8>) -> Certificate {
        leaf(s, ca_key, |pre| {
            list_ext_value(&[make_sct(&s.log_key, s.log.log_id, &s.ca, pre, extensions)])
        })
    }

    #[test]
    fn verifies_with_and_without_sct_extensions() {
        let (s, ca_key) = setup();
        for exts in [vec![], vec![0x00, 0x00, 0x05, 1, 2, 3, 4, 5]] {
            let l = good_leaf(&s, &ca_key, exts.clone());
            let v = verify_embedded_scts(&l, &s.ca, std::slice::from_ref(&s.log)).unwrap();
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].log_index, 0);
            assert_eq!(v[0].sct.extensions, exts);
            assert_eq!(v[0].sct.timestamp_ms, TS_MS);
        }
    }

    #[test]
    fn missing_extension() {
        let (s, ca_key) = setup();
        let l = sign(
            tbs("leaf", "ca", &Key::new(), NB, NB + 600, leaf_exts()),
            &ca_key,
        );
        assert_eq!(
            verify_embedded_scts(&l, &s.ca, std::slice::from_ref(&s.log)),
            Err(SctError::NoSctExtension)
        );
    }

    #[test]
    fn malformed_lists() {
        let (s, ca_key) = setup();
        let good = make_sct(&s.log_key, s.log.log_id, &s.ca, b"x", vec![]);
        let one = tls_sct(&good);
        let wrap = |tls: Vec<u8>| der::asn1::OctetString::new(tls).unwrap().to_der().unwrap();
        let with_len = |body: &[u8]| {
            let mut v = (body.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(body);
            v
        };
        let cases: Vec<Vec<u8>> = vec![
            // not an OCTET STRING
            vec![0x05, 0x00],
            // empty list
            wrap(vec![0, 0]),
            // list length larger than the data
            wrap(vec![0, 9, 0]),
            // trailing bytes after the list
            wrap([with_len(&with_len(&one)), vec![0]].concat()),
            // an SCT with trailing bytes inside its own length
            wrap(with_len(&with_len(&[one.clone(), vec![0]].concat()))),
            // a truncated SCT
            wrap(with_len(&with_len(&one[..40]))),
        ];
        for (i, value) in cases.into_iter().enumerate() {
            let l = leaf(&s, &ca_key, |_| value);
            assert!(
                matches!(
                    verify_embedded_scts(&l, &s.ca, std::slice::from_ref(&s.log)),
                    Err(SctError::Malformed(_))
                ),
                "case {i}"
            );
        }
        let too_many = vec![good; MAX_SCTS + 1];
        assert!(matches!(
            parse_sct_list(&list_ext_value(&too_many)),
            Err(SctError::Malformed(_))
        ));
    }

    #[test]
    fn unknown_log_is_rejected() {
        let (s, ca_key) = setup();
        let l = good_leaf(&s, &ca_key, vec![]);
        let other = CtLog {
            log_id: [7; 32],
            ..s.log.clone()
        };
        assert_eq!(
            verify_embedded_scts(&l, &s.ca, &[other]),
            Err(SctError::NoTrustedLog)
        );
        assert_eq!(
            verify_embedded_scts(&l, &s.ca, &[]),
            Err(SctError::NoTrustedLog)
        );
    }

    #[test]
    fn wrong_log_key_is_rejected() {
        let (s, ca_key) = setup();
        let l = good_leaf(&s, &ca_key, vec![]);
        let wrong = CtLog {
            key: PublicKey::from_spki_der(&Key::new().spki).unwrap(),
            ..s.log.clone()
        };
        assert_eq!(
            verify_embedded_scts(&l, &s.ca, &[wrong]),
            Err(SctError::BadSignature {
                log_id: s.log.log_id
            })
        );
    }

    #[test]
    fn wrong_issuer_is_rejected() {
        let (s, ca_key) = setup();
        let l = good_leaf(&s, &ca_key, vec![]);
        let other_ca = root("ca", &Key::new(), NB, NB + 10);
        assert_eq!(
            verify_embedded_scts(&l, &other_ca, std::slice::from_ref(&s.log)),
            Err(SctError::BadSignature {
                log_id: s.log.log_id
            })
        );
    }

    #[test]
    fn sct_over_other_tbs_is_rejected() {
        let (s, ca_key) = setup();
        let l = leaf(&s, &ca_key, |pre| {
            let mut other = pre.to_vec();
            let last = other.len() - 1;
            other[last] ^= 1;
            list_ext_value(&[make_sct(&s.log_key, s.log.log_id, &s.ca, &other, vec![])])
        });
        assert_eq!(
            verify_embedded_scts(&l, &s.ca, std::slice::from_ref(&s.log)),
            Err(SctError::BadSignature {
                log_id: s.log.log_id
            })
        );
    }

    #[test]
    fn tampered_sct_fields_are_rejected() {
        let (s, ca_key) = setup();
        let tweaks: Vec<fn(&mut Sct)> =
            vec![|s| s.timestamp_ms += 1, |s| s.extensions = vec![1], |s| {
                s.signature[10] ^= 1
            }];
        for tweak in tweaks {
            let l = leaf(&s, &ca_key, |pre| {
                let mut sct = make_sct(&s.log_key, s.log.log_id, &s.ca, pre, vec![]);
                tweak(&mut sct);
                list_ext_value(&[sct])
            });
            assert_eq!(
                verify_embedded_scts(&l, &s.ca, std::slice::from_ref(&s.log)),
                Err(SctError::BadSignature {
                    log_id: s.log.log_id
                })
            );
        }
    }

    #[test]
    fn unsupported_version_and_algorithm() {
        let (s, ca_key) = setup();
        let l = leaf(&s, &ca_key, |pre| {
            let mut sct = make_sct(&s.log_key, s.log.log_id, &s.ca, pre, vec![]);
            sct.version = 1;
            list_ext_value(&[sct])
        });
        assert_eq!(
            verify_embedded_scts(&l, &s.ca, std::slice::from_ref(&s.log)),
            Err(SctError::UnsupportedVersion {
                log_id: s.log.log_id,
                version: 1
            })
        );
        let l = leaf(&s, &ca_key, |pre| {
            let mut sct = make_sct(&s.log_key, s.log.log_id, &s.ca, pre, vec![]);
            sct.hash_algorithm = 2; // sha1
            list_ext_value(&[sct])
        });
        assert_eq!(
            verify_embedded_scts(&l, &s.ca, std::slice::from_ref(&s.log)),
            Err(SctError::UnsupportedAlgorithm {
                log_id: s.log.log_id,
                hash: 2,
                signature: 3
            })
        );
    }

    #[test]
    fn log_validity_window_is_inclusive() {
        let (s, ca_key) = setup();
        let l = good_leaf(&s, &ca_key, vec![]);
        let secs = (TS_MS / 1000) as i64;
        let log = |from, until| CtLog {
            valid_from: from,
            valid_until: until,
            ..s.log.clone()
        };
        verify_embedded_scts(&l, &s.ca, &[log(Some(secs), Some(secs))]).unwrap();
        for l2 in [log(Some(secs + 1), None), log(None, Some(secs - 1))] {
            assert_eq!(
                verify_embedded_scts(&l, &s.ca, &[l2]),
                Err(SctError::OutsideLogValidity {
                    log_id: s.log.log_id,
                    timestamp_ms: TS_MS
                })
            );
        }
        // A second entry for the same log id with a window that fits wins.
        let v = verify_embedded_scts(
            &l,
            &s.ca,
            &[log(None, Some(secs - 1)), log(Some(secs), None)],
        )
        .unwrap();
        assert_eq!(v[0].log_index, 1);
    }

    #[test]
    fn one_good_sct_suffices_and_bad_ones_are_dropped() {
        let (s, ca_key) = setup();
        let l = leaf(&s, &ca_key, |pre| {
            let good = make_sct(&s.log_key, s.log.log_id, &s.ca, pre, vec![]);
            let mut bad = good.clone();
            bad.signature[12] ^= 1;
            let unknown = make_sct(&s.log_key, [9; 32], &s.ca, pre, vec![]);
            list_ext_value(&[bad, unknown, good])
        });
        let v = verify_embedded_scts(&l, &s.ca, std::slice::from_ref(&s.log)).unwrap();
        assert_eq!(v.len(), 1);
        // When none verifies, the furthest failure is reported.
        let l = leaf(&s, &ca_key, |pre| {
            let mut bad = make_sct(&s.log_key, s.log.log_id, &s.ca, pre, vec![]);
            bad.signature[12] ^= 1;
            let unknown = make_sct(&s.log_key, [9; 32], &s.ca, pre, vec![]);
            list_ext_value(&[unknown, bad])
        });
        assert_eq!(
            verify_embedded_scts(&l, &s.ca, std::slice::from_ref(&s.log)),
            Err(SctError::BadSignature {
                log_id: s.log.log_id
            })
        );
    }
}
