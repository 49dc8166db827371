//! Verifying signed notes with a known key.
//!
//! A verifier is configured with a key name, a 4-byte key hint and a public
//! key. Per the signed-note spec, signature lines whose (name, hint) differ
//! from the verifier's are ignored; lines that match must verify.
//!
//! Two key-hint conventions are in use by Sigstore logs:
//! * C2SP Ed25519 ([`NoteVerifier::ed25519_c2sp`], Rekor v2):
//!   `SHA-256(name || "\n" || 0x01 || 32-byte key)[:4]`;
//! * Rekor v1 ECDSA ([`NoteVerifier::rekor_ecdsa`]): `SHA-256(DER SPKI)[:4]`,
//!   which is also C2SP signature type 0x02. ECDSA note signatures are ASN.1
//!   DER over the note text hashed with SHA-256, whatever the curve.

use signet_crypto::{KeyKind, PublicKey, SignatureScheme};

use crate::note::{is_valid_key_name, Note, NoteError};

/// C2SP signed-note signature type for Ed25519.
const TYPE_ED25519: u8 = 0x01;
/// C2SP tlog-cosignature signature type for timestamped Ed25519 cosignatures.
const TYPE_COSIGNATURE_V1: u8 = 0x04;

/// The raw 32-byte Ed25519 key inside `key`'s SPKI, or an error if `key` is
/// not Ed25519.
fn raw_ed25519(key: &PublicKey) -> Result<[u8; 32], NoteError> {
    key.raw_ed25519()
        .ok_or(NoteError::UnsupportedKey("an Ed25519 key is required"))
}

/// `SHA-256(name || "\n" || sig_type || key)[:4]`, the C2SP key ID.
fn c2sp_key_id(name: &str, sig_type: u8, key: &[u8]) -> [u8; 4] {
    let mut buf = Vec::with_capacity(name.len() + 2 + key.len());
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'\n');
    buf.push(sig_type);
    buf.extend_from_slice(key);
    first4(&signet_crypto::sha256(&buf))
}

fn first4(h: &[u8; 32]) -> [u8; 4] {
    [h[0], h[1], h[2], h[3]]
}

fn check_name(name: String) -> Result<String, NoteError> {
    if is_valid_key_name(&name) {
        Ok(name)
    } else {
        Err(NoteError::InvalidKeyName(name))
    }
}

/// Verifies note signatures made by one log key.
///
/// Invariants: `name` is a valid key name; `scheme` is the note-signature
/// scheme for `key` (Ed25519, or ECDSA with SHA-256).
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    key_hint: [u8; 4],
    key: PublicKey,
    scheme: SignatureScheme,
}

impl NoteVerifier {
    /// A verifier with an explicit key hint. The key must be Ed25519 or ECDSA
    /// (P-256, P-384 or P-521; signatures over SHA-256).
    pub fn new(
        name: impl Into<String>,
        key_hint: [u8; 4],
        key: PublicKey,
    ) -> Result<Self, NoteError> {
        let scheme = match key.kind() {
            KeyKind::Ed25519 => SignatureScheme::Ed25519,
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 | KeyKind::EcdsaP521 => {
                SignatureScheme::EcdsaSha256
            }
            KeyKind::Rsa => {
                return Err(NoteError::UnsupportedKey(
                    "RSA keys cannot sign notes; use Ed25519 or ECDSA",
                ))
            }
        };
        Ok(NoteVerifier {
            name: check_name(name.into())?,
            key_hint,
            key,
            scheme,
        })
    }

    /// An Ed25519 verifier with the C2SP key ID
    /// `SHA-256(name || "\n" || 0x01 || raw key)[:4]` (Rekor v2 checkpoints).
    pub fn ed25519_c2sp(name: impl Into<String>, key: PublicKey) -> Result<Self, NoteError> {
        let name = check_name(name.into())?;
        let hint = c2sp_key_id(&name, TYPE_ED25519, &raw_ed25519(&key)?);
        Self::new(name, hint, key)
    }

    /// An ECDSA verifier with Rekor v1's key hint `SHA-256(DER SPKI)[:4]`
    /// (the first four bytes of the log ID).
    pub fn rekor_ecdsa(name: impl Into<String>, key: PublicKey) -> Result<Self, NoteError> {
        if !matches!(
            key.kind(),
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 | KeyKind::EcdsaP521
        ) {
            return Err(NoteError::UnsupportedKey("an ECDSA key is required"));
        }
        let hint = first4(&key.sha256_id());
        Self::new(name, hint, key)
    }

    /// The key name signature lines must carry.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key hint signature lines must carry.
    pub fn key_hint(&self) -> [u8; 4] {
        self.key_hint
    }

    /// The public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Verifies that `note` is signed by this key.
    ///
    /// Signature lines with another name or key hint are ignored. If none
    /// match, [`NoteError::NoMatchingSignature`]. Every matching line must
    /// verify over the note text (the spec's "SHOULD reject the whole note"
    /// when a known key's signature fails), else [`NoteError::BadSignature`].
    pub fn verify(&self, note: &Note) -> Result<(), NoteError> {
        let mut matched = false;
        for sig in note.signatures() {
            if sig.name() != self.name || sig.key_hint() != self.key_hint {
                continue;
            }
            matched = true;
            self.key
                .verify_with(self.scheme, note.text().as_bytes(), sig.signature())
                .map_err(|_| NoteError::BadSignature {
                    name: self.name.clone(),
                })?;
        }
        if matched {
            Ok(())
        } else {
            Err(NoteError::NoMatchingSignature {
                name: self.name.clone(),
                key_hint: self.key_hint,
            })
        }
    }
}

/// Verifies C2SP tlog-cosignature/v1 (timestamped Ed25519) witness
/// cosignatures on a checkpoint note.
///
/// Invariant: `key` is Ed25519 and `key_hint` is
/// `SHA-256(name || "\n" || 0x04 || raw key)[:4]`.
#[derive(Debug, Clone)]
pub struct CosignatureVerifier {
    name: String,
    key_hint: [u8; 4],
    key: PublicKey,
}

impl CosignatureVerifier {
    /// A cosignature verifier for the witness `name` with Ed25519 `key`.
    pub fn new(name: impl Into<String>, key: PublicKey) -> Result<Self, NoteError> {
        let name = check_name(name.into())?;
        let key_hint = c2sp_key_id(&name, TYPE_COSIGNATURE_V1, &raw_ed25519(&key)?);
        Ok(CosignatureVerifier {
            name,
            key_hint,
            key,
        })
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key hint cosignature lines must carry.
    pub fn key_hint(&self) -> [u8; 4] {
        self.key_hint
    }

    /// Verifies the witness's cosignature(s) on `note` and returns the
    /// cosignature timestamp (POSIX seconds; the latest, if several match).
    ///
    /// Each matching signature must be `8-byte big-endian timestamp ||
    /// 64-byte Ed25519 signature` over
    /// `"cosignature/v1\ntime <timestamp>\n" || note text`. Checking the
    /// timestamp against the clock is left to the caller.
    pub fn verify(&self, note: &Note) -> Result<u64, NoteError> {
        let mut latest = None;
        for sig in note.signatures() {
            if sig.name() != self.name || sig.key_hint() != self.key_hint {
                continue;
            }
            let raw = sig.signature();
            if raw.len() != 8 + 64 {
                return Err(NoteError::MalformedCosignature(
                    "expected an 8-byte timestamp and a 64-byte signature",
                ));
            }
            let (ts, ed_sig) = raw.split_at(8);
            let mut ts_bytes = [0u8; 8];
            ts_bytes.copy_from_slice(ts);
            let timestamp = u64::from_be_bytes(ts_bytes);
            if timestamp > i64::MAX as u64 {
                return Err(NoteError::MalformedCosignature(
                    "timestamp exceeds 2^63 - 1",
                ));
            }
            let msg = format!("cosignature/v1\ntime {timestamp}\n{}", note.text());
            self.key
                .verify(msg.as_bytes(), ed_sig)
                .map_err(|_| NoteError::BadSignature {
                    name: self.name.clone(),
                })?;
            latest = latest.max(Some(timestamp));
        }
        latest.ok_or_else(|| NoteError::NoMatchingSignature {
            name: self.name.clone(),
            key_hint: self.key_hint,
        })
    }
}
