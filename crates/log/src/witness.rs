//! A co-located witness: C2SP tlog-cosignature/v1 (timestamped Ed25519)
//! cosignatures added by the log itself to every checkpoint it publishes.
//!
//! A real witness is an independent party that cosigns a checkpoint only
//! after checking it is consistent with everything it saw before. A witness
//! key held by the log proves nothing of the sort; it exists to exercise
//! witness-aware clients (`signet log monitor --require-witness`) in tests
//! and in air-gapped setups where the "witness" is another process of the
//! same operator.
//!
//! Format (<https://c2sp.org/tlog-cosignature>): a note signature line
//! `— <name> base64(key ID || timestamp || signature)` where the key ID is
//! `SHA-256(name || "\n" || 0x04 || 32-byte key)[:4]`, the timestamp is an
//! 8-byte big-endian POSIX time and the signature is Ed25519 over
//! `"cosignature/v1\ntime <timestamp>\n" || checkpoint text`.

use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use signet_crypto::PublicKey;
use signet_tlog::note::is_valid_key_name;
use signet_tlog::{CosignatureVerifier, Note, NoteError, NoteSignature};

/// Why a witness key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: not a PEM \"PRIVATE KEY\" (PKCS#8) document")]
    NotPkcs8(String),
    #[error("{0}: a witness key must be an Ed25519 PKCS#8 key")]
    NotEd25519(String),
    #[error("invalid witness name {0:?}: must be non-empty, without spaces or '+'")]
    InvalidName(String),
    #[error("cosignature: {0}")]
    Note(#[from] NoteError),
}

/// Where a witness key is, and the name it cosigns under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    /// The cosigner name; default: the key file's stem.
    pub name: Option<String>,
    pub path: PathBuf,
}

impl WitnessKey {
    /// Parses `PATH` or `NAME=PATH` (an existing file named `PATH` wins, so
    /// paths containing `=` still work).
    pub fn parse_arg(arg: &str) -> WitnessKey {
        if !Path::new(arg).exists() {
            if let Some((name, path)) = arg.split_once('=') {
                if !name.is_empty() && !path.is_empty() {
                    return WitnessKey {
                        name: Some(name.to_string()),
                        path: PathBuf::from(path),
                    };
                }
            }
        }
        WitnessKey {
            name: None,
            path: PathBuf::from(arg),
        }
    }

    /// The cosigner name.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }
}

/// An Ed25519 cosigner.
///
/// Invariant: `verifier` is the [`CosignatureVerifier`] of `pair`'s public
/// key under `name`, so its key hint is the C2SP type-0x04 key ID.
pub struct Witness {
    pair: Ed25519KeyPair,
    verifier: CosignatureVerifier,
}

impl std::fmt::Debug for Witness {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.verifier.name())
            .field("key_hint", &self.verifier.key_hint())
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// A witness from a PKCS#8 (v1 or v2) Ed25519 private key.
    pub fn from_pkcs8_der(name: &str, der: &[u8]) -> Result<Witness, WitnessError> {
        if !is_valid_key_name(name) {
            return Err(WitnessError::InvalidName(name.to_string()));
        }
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| WitnessError::NotEd25519(name.to_string()))?;
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| WitnessError::NotEd25519(name.to_string()))?;
        let public = PublicKey::from_spki_der(spki.as_ref())
            .map_err(|_| WitnessError::NotEd25519(name.to_string()))?;
        let verifier = CosignatureVerifier::new(name, public)?;
        Ok(Witness { pair, verifier })
    }

    /// Loads the PKCS#8 PEM key `key.path`.
    pub fn load(key: &WitnessKey) -> Result<Witness, WitnessError> {
        let shown = key.path.display().to_string();
        let text = std::fs::read_to_string(&key.path).map_err(|source| WitnessError::Io {
            path: shown.clone(),
            source,
        })?;
        let block = pem::parse(&text).map_err(|_| WitnessError::NotPkcs8(shown.clone()))?;
        if block.tag() != "PRIVATE KEY" {
            return Err(WitnessError::NotPkcs8(shown));
        }
        Self::from_pkcs8_der(&key.name(), block.contents()).map_err(|e| match e {
            WitnessError::NotEd25519(_) => WitnessError::NotEd25519(shown),
            other => other,
        })
    }

    /// The cosigner name.
    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    /// The key ID cosignature lines carry.
    pub fn key_hint(&self) -> [u8; 4] {
        self.verifier.key_hint()
    }

    /// The verifier of this witness's cosignatures.
    pub fn verifier(&self) -> &CosignatureVerifier {
        &self.verifier
    }

    /// The cosignature line for checkpoint text `text` at POSIX `time`.
    pub fn cosign(&self, text: &str, time: u64) -> Result<NoteSignature, WitnessError> {
        let msg = format!("cosignature/v1\ntime {time}\n{text}");
        let sig = self.pair.sign(msg.as_bytes());
        let mut raw = Vec::with_capacity(8 + 64);
        raw.extend_from_slice(&time.to_be_bytes());
        raw.extend_from_slice(sig.as_ref());
        Ok(NoteSignature::new(self.name(), self.key_hint(), raw)?)
    }
}

/// `note` with a fresh cosignature from each witness at `time`; earlier
/// cosignatures by the same witnesses are replaced.
pub fn cosign_note(note: &Note, witnesses: &[Witness], time: u64) -> Result<Note, WitnessError> {
    if witnesses.is_empty() {
        return Ok(note.clone());
    }
    let ours = |s: &NoteSignature| {
        witnesses
            .iter()
            .any(|w| w.name() == s.name() && w.key_hint() == s.key_hint())
    };
    let mut lines: Vec<NoteSignature> = note
        .signatures()
        .iter()
        .filter(|s| !ours(s))
        .cloned()
        .collect();
    for w in witnesses {
        lines.push(w.cosign(note.text(), time)?);
    }
    Ok(Note::new(note.text(), lines)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_tlog::{generate_pkcs8, SignerKind};

    #[test]
    fn cosignatures_verify_and_replace_older_ones() {
        let der = generate_pkcs8(SignerKind::Ed25519).unwrap();
        let w = Witness::from_pkcs8_der("witness.example/w1", &der).unwrap();
        let log = signet_tlog::NoteSigner::from_pkcs8_der(
            "log.example",
            &generate_pkcs8(SignerKind::Ed25519).unwrap(),
        )
        .unwrap();
        let note = log
            .sign_note("log.example\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
            .unwrap();
        let once = cosign_note(&note, std::slice::from_ref(&w), 1_700_000_000).unwrap();
        assert_eq!(once.signatures().len(), 2);
        assert_eq!(w.verifier().verify(&once).unwrap(), 1_700_000_000);
        log.verifier().unwrap().verify(&once).unwrap();
        let twice = cosign_note(&once, std::slice::from_ref(&w), 1_700_000_001).unwrap();
        assert_eq!(twice.signatures().len(), 2);
        assert_eq!(w.verifier().verify(&twice).unwrap(), 1_700_000_001);
        // Another key under the same name does not verify these.
        let other = Witness::from_pkcs8_der(
            "witness.example/w1",
            &generate_pkcs8(SignerKind::Ed25519).unwrap(),
        )
        .unwrap();
        assert!(other.verifier().verify(&twice).is_err());
    }

    #[test]
    fn only_ed25519_keys_and_valid_names() {
        let ecdsa = generate_pkcs8(SignerKind::EcdsaP256).unwrap();
        assert!(matches!(
            Witness::from_pkcs8_der("w", &ecdsa),
            Err(WitnessError::NotEd25519(_))
        ));
        let ed = generate_pkcs8(SignerKind::Ed25519).unwrap();
        assert!(matches!(
            Witness::from_pkcs8_der("a b", &ed),
            Err(WitnessError::InvalidName(_))
        ));
    }

    #[test]
    fn arg_parsing() {
        let k = WitnessKey::parse_arg("w.example/1=/nonexistent/k.pem");
        assert_eq!(k.name.as_deref(), Some("w.example/1"));
        assert_eq!(k.path, PathBuf::from("/nonexistent/k.pem"));
        let k = WitnessKey::parse_arg("/nonexistent/wit1.pem");
        assert_eq!(k.name(), "wit1");
    }
}
