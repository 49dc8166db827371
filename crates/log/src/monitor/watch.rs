//! Watched identities and keys, and the scan of one entry body for them.
//!
//! Signers are read from hashedrekord (0.0.1, 0.0.2), dsse (0.0.1, 0.0.2),
//! intoto (0.0.2) and legacy rekord (0.0.1) bodies: each names a PEM or DER
//! public key or certificate. An identity matches when a regular expression
//! finds a match in one of the certificate's subject alternative names
//! (email, URI, DNS or Sigstore OtherName); as cosign's
//! `--certificate-identity-regexp`, the expression is not anchored (use
//! `^...$`). A key matches when its DER SubjectPublicKeyInfo equals a
//! watched key's, whether the entry names the key or a certificate for it.

use regex::Regex;
use serde_json::Value;
use signet_crypto::PublicKey;
use signet_model::encoding::decode_base64;
use signet_model::rekor::EntryBody;
use signet_pki::cert::Certificate;
use signet_pki::fulcio::san_strings;

/// Most signers looked at in one entry.
const MAX_SIGNERS: usize = 64;
/// Most PEM blocks looked at in one verifier.
const MAX_PEM_BLOCKS: usize = 8;
/// Largest regular expression (compiled size, bytes).
const MAX_REGEX_SIZE: usize = 1 << 20;

/// Why a watch list could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("--watch-identity {pattern:?}: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("--watch-key {what}: {reason}")]
    BadKey { what: String, reason: String },
}

/// What was found in an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    /// A certificate SAN matched a watched identity pattern.
    Identity { pattern: String, san: String },
    /// A watched key signed (or was certified): hex SHA-256 of its SPKI.
    Key { sha256: String },
}

/// Identity patterns and keys to look for.
#[derive(Debug, Clone, Default)]
pub struct Watchlist {
    identities: Vec<Regex>,
    /// DER SPKIs.
    keys: Vec<Vec<u8>>,
}

impl Watchlist {
    /// Compiles `patterns` and reads `key_pems` (each a PEM public key or
    /// certificate; `what` names it in errors).
    pub fn new(patterns: &[String], key_pems: &[(String, String)]) -> Result<Self, WatchError> {
        let mut identities = Vec::with_capacity(patterns.len());
        for p in patterns {
            let re = regex::RegexBuilder::new(p)
                .size_limit(MAX_REGEX_SIZE)
                .build()
                .map_err(|e| WatchError::BadPattern {
                    pattern: p.clone(),
                    reason: e.to_string(),
                })?;
            identities.push(re);
        }
        let mut keys = Vec::with_capacity(key_pems.len());
        for (what, text) in key_pems {
            let bad = |reason: String| WatchError::BadKey {
                what: what.clone(),
                reason,
            };
            let block = pem::parse(text).map_err(|e| bad(format!("not PEM: {e}")))?;
            let spki = match block.tag() {
                "PUBLIC KEY" => PublicKey::from_spki_der(block.contents())
                    .map_err(|e| bad(e.to_string()))?
                    .spki_der()
                    .to_vec(),
                "CERTIFICATE" => Certificate::from_der(block.contents())
                    .map_err(|e| bad(e.to_string()))?
                    .spki_der()
                    .to_vec(),
                other => return Err(bad(format!("unsupported PEM block {other:?}"))),
            };
            keys.push(spki);
        }
        Ok(Watchlist { identities, keys })
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty() && self.keys.is_empty()
    }

    /// The hits in one canonical entry body; `Err` (with a reason) if the
    /// body is of a kind whose signers cannot be read.
    pub fn scan(&self, body: &[u8]) -> Result<Vec<Hit>, String> {
        let signers = signers(body)?;
        let mut hits = Vec::new();
        let mut unreadable = 0;
        for s in signers.iter().take(MAX_SIGNERS) {
            let Some((spki, cert)) = s.parse() else {
                unreadable += 1;
                continue;
            };
            if self.keys.contains(&spki) {
                hits.push(Hit::Key {
                    sha256: signet_model::encoding::encode_hex(signet_crypto::sha256(&spki)),
                });
            }
            if let (Some(cert), false) = (cert, self.identities.is_empty()) {
                for san in san_strings(&cert).unwrap_or_default() {
                    for re in &self.identities {
                        if re.is_match(&san) {
                            hits.push(Hit::Identity {
                                pattern: re.as_str().to_string(),
                                san: san.clone(),
                            });
                        }
                    }
                }
            }
        }
        hits.dedup();
        // An entry whose signer cannot be read was not really scanned.
        if unreadable > 0 && hits.is_empty() {
            return Err(format!(
                "{unreadable} of its signers could not be read as a key or certificate"
            ));
        }
        Ok(hits)
    }
}

/// A signer as an entry names it.
enum Material {
    /// PEM text (certificate or public key).
    Pem(Vec<u8>),
    CertDer(Vec<u8>),
    SpkiDer(Vec<u8>),
}

impl Material {
    /// The DER SPKI and, for a certificate, the certificate.
    fn parse(&self) -> Option<(Vec<u8>, Option<Certificate>)> {
        match self {
            Material::CertDer(der) => {
                let c = Certificate::from_der(der).ok()?;
                Some((c.spki_der().to_vec(), Some(c)))
            }
            Material::SpkiDer(der) => Some((der.clone(), None)),
            Material::Pem(bytes) => {
                let text = std::str::from_utf8(bytes).ok()?;
                let blocks = pem::parse_many(text).ok()?;
                // The first certificate or key is the signer (a chain may
                // follow it).
                blocks
                    .iter()
                    .take(MAX_PEM_BLOCKS)
                    .find_map(|b| match b.tag() {
                        "CERTIFICATE" => Material::CertDer(b.contents().to_vec()).parse(),
                        "PUBLIC KEY" => Some((b.contents().to_vec(), None)),
                        _ => None,
                    })
            }
        }
    }
}

fn v2_material(v: &signet_model::rekor::Verifier) -> Option<Material> {
    if let Some(c) = &v.x509_certificate {
        return Some(Material::CertDer(c.raw_bytes.0.clone()));
    }
    v.public_key
        .as_ref()
        .map(|k| Material::SpkiDer(k.raw_bytes.0.clone()))
}

/// The signers an entry body names.
fn signers(body: &[u8]) -> Result<Vec<Material>, String> {
    match EntryBody::parse(body) {
        Ok(EntryBody::HashedRekordV001(h)) => {
            Ok(vec![Material::Pem(h.signature.public_key.content.0)])
        }
        Ok(EntryBody::HashedRekordV002(h)) => {
            Ok(v2_material(&h.signature.verifier).into_iter().collect())
        }
        Ok(EntryBody::DsseV001(d)) => Ok(d
            .signatures
            .into_iter()
            .map(|s| Material::Pem(s.verifier.0))
            .collect()),
        Ok(EntryBody::DsseV002(d)) => Ok(d
            .signatures
            .iter()
            .filter_map(|s| v2_material(&s.verifier))
            .collect()),
        Ok(EntryBody::IntotoV002(i)) => Ok(i
            .content
            .envelope
            .signatures
            .into_iter()
            .map(|s| Material::Pem(s.public_key.0))
            .collect()),
        Err(e) => legacy_rekord(body).ok_or_else(|| e.to_string()),
    }
}

/// `rekord` 0.0.1 (the kind before hashedrekord): `spec.signature.publicKey
/// .content` is base64 of a PEM key or certificate.
fn legacy_rekord(body: &[u8]) -> Option<Vec<Material>> {
    let v: Value = signet_model::from_json_slice(body).ok()?;
    if v.get("kind")?.as_str()? != "rekord" {
        return None;
    }
    let content = v
        .get("spec")?
        .get("signature")?
        .get("publicKey")?
        .get("content")?
        .as_str()?;
    Some(vec![Material::Pem(decode_base64(content).ok()?)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_patterns_and_keys_are_errors() {
        assert!(matches!(
            Watchlist::new(&["(".into()], &[]),
            Err(WatchError::BadPattern { .. })
        ));
        assert!(matches!(
            Watchlist::new(&[], &[("k".into(), "junk".into())]),
            Err(WatchError::BadKey { .. })
        ));
        assert!(Watchlist::new(&[], &[]).unwrap().is_empty());
    }

    #[test]
    fn unknown_kinds_are_reported() {
        let w = Watchlist::new(&[".*".into()], &[]).unwrap();
        assert!(w
            .scan(br#"{"kind":"rpm","apiVersion":"0.0.1","spec":{}}"#)
            .is_err());
        assert!(w.scan(b"not json").is_err());
    }

    #[test]
    fn a_signer_that_cannot_be_read_is_reported() {
        let w = Watchlist::new(&[".*".into()], &[]).unwrap();
        let body = |key_pem: &str| {
            serde_json::json!({
                "apiVersion": "0.0.1", "kind": "hashedrekord",
                "spec": {
                    "data": {"hash": {"algorithm": "sha256", "value": "ab".repeat(32)}},
                    "signature": {
                        "content": signet_model::encoding::encode_base64(b"sig"),
                        "publicKey": {"content": signet_model::encoding::encode_base64(key_pem.as_bytes())}
                    }
                }
            })
            .to_string()
        };
        let garbage = body("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n");
        let why = w.scan(garbage.as_bytes()).unwrap_err();
        assert!(why.contains("could not be read"), "{why}");
        // A readable key that matches nothing: scanned, no hits.
        let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        )
        .unwrap();
        let spki =
            aws_lc_rs::encoding::AsDer::as_der(aws_lc_rs::signature::KeyPair::public_key(&pair))
                .unwrap();
        let key = signet_crypto::PublicKey::from_spki_der(spki.as_ref())
            .unwrap()
            .to_pem();
        assert_eq!(w.scan(body(&key).as_bytes()).unwrap(), vec![]);
    }
}
