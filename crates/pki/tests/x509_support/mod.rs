//! Shared helpers for the X.509 / SCT integration tests: read a conformance
//! case's bundle and trust root into signet-pki types.
#![allow(dead_code)]

use std::path::PathBuf;

use base64::Engine;
use serde_json::Value;
use signet_crypto::PublicKey;
use signet_pki::cert::Certificate;
use signet_pki::chain::TrustedCa;
use signet_pki::sct::CtLog;

pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

pub fn case_dir(case: &str) -> PathBuf {
    testdata().join("conformance/bundle-verify").join(case)
}

fn json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .unwrap()
}

/// A conformance case: its bundle and the trust root that applies.
pub struct Case {
    pub bundle: Value,
    pub root: Value,
}

pub fn case(name: &str) -> Case {
    let dir = case_dir(name);
    let bundle = json(dir.join("bundle.sigstore.json"));
    let own = dir.join("trusted_root.json");
    let root = if own.exists() {
        json(own)
    } else {
        json(testdata().join("trust/public-good/trusted_root.json"))
    };
    Case { bundle, root }
}

impl Case {
    /// The leaf and the rest of the bundle's chain (v0.1/v0.2), or the v0.3
    /// single certificate.
    pub fn certs(&self) -> (Certificate, Vec<Certificate>) {
        let vm = &self.bundle["verificationMaterial"];
        let raws: Vec<Vec<u8>> = if let Some(c) = vm.get("certificate") {
            vec![b64(&c["rawBytes"])]
        } else {
            vm["x509CertificateChain"]["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| b64(&c["rawBytes"]))
                .collect()
        };
        let mut certs: Vec<Certificate> = raws
            .iter()
            .map(|d| Certificate::from_der(d).unwrap())
            .collect();
        let leaf = certs.remove(0);
        (leaf, certs)
    }

    /// The first tlog entry's integratedTime, if any.
    pub fn integrated_time(&self) -> Option<i64> {
        self.bundle["verificationMaterial"]["tlogEntries"][0]["integratedTime"]
            .as_str()
            .map(|s| s.parse().unwrap())
    }

    pub fn cas(&self) -> Vec<TrustedCa> {
        self.root["certificateAuthorities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ca| TrustedCa {
                chain: ca["certChain"]["certificates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| Certificate::from_der(&b64(&c["rawBytes"])).unwrap())
                    .collect(),
                valid_from: ca["validFor"]["start"].as_str().map(rfc3339),
                valid_until: ca["validFor"]["end"].as_str().map(rfc3339),
            })
            .collect()
    }

    pub fn ct_logs(&self) -> Vec<CtLog> {
        self.root["ctlogs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let id = b64(&l["logId"]["keyId"]);
                let pk = &l["publicKey"];
                let raw = b64(&pk["rawBytes"]);
                let der = if pk["keyDetails"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("PKCS1_")
                {
                    pkcs1_to_spki(&raw)
                } else {
                    raw
                };
                CtLog {
                    log_id: id.try_into().expect("32-byte log id"),
                    key: PublicKey::from_spki_der(&der).unwrap(),
                    valid_from: pk["validFor"]["start"].as_str().map(rfc3339),
                    valid_until: pk["validFor"]["end"].as_str().map(rfc3339),
                }
            })
            .collect()
    }
}

/// Wraps a PKCS#1 RSAPublicKey (the trust root's `PKCS1_RSA_*` keys) into
/// a SubjectPublicKeyInfo.
pub fn pkcs1_to_spki(pkcs1: &[u8]) -> Vec<u8> {
    use der::Encode;
    spki::SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"),
            parameters: Some(der::asn1::Null.into()),
        },
        subject_public_key: der::asn1::BitString::from_bytes(pkcs1).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` to unix seconds (fraction truncated).
pub fn rfc3339(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 { s[r].parse().unwrap() };
    assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (hh, mm, ss) = (n(11..13), n(14..16), n(17..19));
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

#[test]
fn rfc3339_parses() {
    assert_eq!(rfc3339("1970-01-01T00:00:00Z"), 0);
    assert_eq!(rfc3339("2022-12-31T23:59:59.999Z"), 1_672_531_199);
    assert_eq!(rfc3339("2024-03-01T00:00:00Z"), 1_709_251_200);
}
