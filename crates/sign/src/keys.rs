//! cosign-compatible key files.
//!
//! A private key file is a PEM block labelled `ENCRYPTED SIGSTORE PRIVATE
//! KEY` (cosign before v2 wrote `ENCRYPTED COSIGN PRIVATE KEY`; both are
//! read) whose content is the JSON document of go-securesystemslib's
//! `encrypted` package:
//!
//! ```json
//! {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":B64},
//!  "cipher":{"name":"nacl/secretbox","nonce":B64},
//!  "ciphertext":B64}
//! ```
//!
//! The scrypt output (32 bytes) keys an XSalsa20-Poly1305 secretbox around
//! the PKCS#8 DER of the private key. The public key file is a plain
//! `PUBLIC KEY` PEM block.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::signer::{InMemorySigner, Signer};
use crate::SignError;

/// The label cosign v2+ writes.
pub const SIGSTORE_PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The label of older cosign key files, still read.
pub const COSIGN_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
pub const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// scrypt cost written into new key files (go-securesystemslib's
/// "standard" parameters, what cosign writes today).
const SCRYPT_LOG_N: u8 = 16;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
/// Accepted when reading: N from 2^15 (the older "legacy" cost) to 2^18,
/// r = 8, p = 1. Anything else is refused before any work is done, so a
/// tampered file cannot make us spend gigabytes of memory.
const MIN_LOG_N: u32 = 15;
const MAX_LOG_N: u32 = 18;

const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// A key file's JSON is a few hundred bytes; RSA keys reach a few KiB.
const MAX_KEY_FILE: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct EncryptedData {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
}

/// Go's `encoding/json` writes `[]byte` as standard padded base64.
mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// A freshly generated key pair in cosign's file formats.
pub struct EncryptedKeyPair {
    /// `ENCRYPTED SIGSTORE PRIVATE KEY` PEM (safe to store: encrypted).
    pub private_pem: String,
    /// `PUBLIC KEY` PEM.
    pub public_pem: String,
}

impl std::fmt::Debug for EncryptedKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedKeyPair")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

fn random(len: usize) -> Result<Vec<u8>, SignError> {
    let mut out = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut out)
        .map_err(|_| SignError::Crypto("no randomness available".into()))?;
    Ok(out)
}

fn derive_key(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
) -> Result<Zeroizing<[u8; KEY_LEN]>, SignError> {
    let params = scrypt::Params::new(log_n, r, p, KEY_LEN)
        .map_err(|e| SignError::KeyFormat(format!("scrypt parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    scrypt::scrypt(password, salt, &params, &mut key[..])
        .map_err(|e| SignError::Crypto(format!("scrypt: {e}")))?;
    Ok(key)
}

/// Generates an ECDSA P-256 key pair, as `cosign generate-key-pair` does.
/// An empty password is allowed (cosign allows it too), but not advised.
pub fn generate_key_pair(password: &[u8]) -> Result<EncryptedKeyPair, SignError> {
    let signer = InMemorySigner::generate_p256()?;
    encrypt_key_pair(&signer, password)
}

/// Writes an in-memory key in cosign's formats, encrypted under `password`.
pub fn encrypt_key_pair(
    signer: &InMemorySigner,
    password: &[u8],
) -> Result<EncryptedKeyPair, SignError> {
    let pkcs8 = signer.to_pkcs8_der()?;
    let private_pem = encrypt_private_key(&pkcs8, password)?;
    Ok(EncryptedKeyPair {
        private_pem,
        public_pem: signer.public_key().to_pem(),
    })
}

/// Encrypts PKCS#8 DER into an `ENCRYPTED SIGSTORE PRIVATE KEY` PEM.
pub fn encrypt_private_key(pkcs8_der: &[u8], password: &[u8]) -> Result<String, SignError> {
    let salt = random(SALT_LEN)?;
    let nonce = random(NONCE_LEN)?;
    let key = derive_key(password, &salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)?;
    let cipher = XSalsa20Poly1305::new_from_slice(&key[..])
        .map_err(|_| SignError::Crypto("secretbox key".into()))?;
    let ciphertext = cipher
        .encrypt(crypto_secretbox::Nonce::from_slice(&nonce), pkcs8_der)
        .map_err(|_| SignError::Crypto("secretbox encryption".into()))?;
    let data = EncryptedData {
        kdf: Kdf {
            name: "scrypt".into(),
            params: ScryptParams {
                n: 1u64 << SCRYPT_LOG_N,
                r: SCRYPT_R,
                p: SCRYPT_P,
            },
            salt,
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce,
        },
        ciphertext,
    };
    let json = serde_json::to_vec(&data).map_err(|e| SignError::Other(format!("key JSON: {e}")))?;
    Ok(pem::encode_config(
        &pem::Pem::new(SIGSTORE_PRIVATE_KEY_LABEL, json),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    ))
}

/// Decrypts a cosign private key file (either label) and returns the
/// PKCS#8 DER inside, wiped from memory when dropped.
pub fn decrypt_private_key(
    pem_text: &str,
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SignError> {
    if pem_text.len() > MAX_KEY_FILE * 2 {
        return Err(SignError::KeyFormat("key file is too large".into()));
    }
    let block = pem::parse(pem_text).map_err(|e| SignError::KeyFormat(format!("PEM: {e}")))?;
    match block.tag() {
        SIGSTORE_PRIVATE_KEY_LABEL | COSIGN_PRIVATE_KEY_LABEL => {}
        other => {
            return Err(SignError::KeyFormat(format!(
                "unsupported PEM type {other:?} (expected {SIGSTORE_PRIVATE_KEY_LABEL:?} or {COSIGN_PRIVATE_KEY_LABEL:?})"
            )))
        }
    }
    if block.contents().len() > MAX_KEY_FILE {
        return Err(SignError::KeyFormat("key file is too large".into()));
    }
    let data: EncryptedData = signet_model::from_json_slice(block.contents())
        .map_err(|e| SignError::KeyFormat(format!("encrypted key JSON: {e}")))?;
    if data.kdf.name != "scrypt" {
        return Err(SignError::KeyFormat(format!(
            "unknown key derivation {:?}",
            data.kdf.name
        )));
    }
    if data.cipher.name != "nacl/secretbox" {
        return Err(SignError::KeyFormat(format!(
            "unknown cipher {:?}",
            data.cipher.name
        )));
    }
    let ScryptParams { n, r, p } = data.kdf.params;
    let log_n = n.trailing_zeros();
    if !n.is_power_of_two() || !(MIN_LOG_N..=MAX_LOG_N).contains(&log_n) || r != 8 || p != 1 {
        return Err(SignError::KeyFormat(format!(
            "unexpected scrypt parameters N={n} r={r} p={p}"
        )));
    }
    if data.cipher.nonce.len() != NONCE_LEN {
        return Err(SignError::KeyFormat(
            "secretbox nonce is not 24 bytes".into(),
        ));
    }
    if data.kdf.salt.is_empty() || data.kdf.salt.len() > 1024 {
        return Err(SignError::KeyFormat("bad scrypt salt length".into()));
    }
    let log_n = u8::try_from(log_n).map_err(|_| SignError::KeyFormat("scrypt N".into()))?;
    let key = derive_key(password, &data.kdf.salt, log_n, r, p)?;
    let cipher = XSalsa20Poly1305::new_from_slice(&key[..])
        .map_err(|_| SignError::Crypto("secretbox key".into()))?;
    // Poly1305 authenticates the ciphertext; its tag comparison is
    // constant-time. A failure means a wrong password or altered file.
    let plaintext = cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&data.cipher.nonce),
            &data.ciphertext[..],
        )
        .map_err(|_| SignError::WrongPassword)?;
    Ok(Zeroizing::new(plaintext))
}

/// Loads a cosign private key file into a signer.
pub fn load_private_key(pem_text: &str, password: &[u8]) -> Result<InMemorySigner, SignError> {
    let der = decrypt_private_key(pem_text, password)?;
    InMemorySigner::from_pkcs8(&der)
}

/// Base64 of a public key's DER: how cosign prints key hints elsewhere.
pub fn public_key_b64(signer: &dyn Signer) -> String {
    STANDARD.encode(signer.public_key().spki_der())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let pair = generate_key_pair(b"correct horse").unwrap();
        assert!(pair
            .private_pem
            .starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let signer = load_private_key(&pair.private_pem, b"correct horse").unwrap();
        let public = signet_crypto::PublicKey::from_pem(&pair.public_pem).unwrap();
        assert_eq!(signer.public_key(), public);
        let sig = signer.sign(b"msg").unwrap();
        public.verify(b"msg", &sig).unwrap();

        let err = load_private_key(&pair.private_pem, b"wrong").unwrap_err();
        assert!(matches!(err, SignError::WrongPassword), "{err}");
        assert!(err.to_string().contains("wrong password"));

        // The JSON has cosign's shape and cost.
        let block = pem::parse(&pair.private_pem).unwrap();
        let v: serde_json::Value = serde_json::from_slice(block.contents()).unwrap();
        assert_eq!(v["kdf"]["name"], "scrypt");
        assert_eq!(v["kdf"]["params"]["N"], 65536);
        assert_eq!(v["kdf"]["params"]["r"], 8);
        assert_eq!(v["kdf"]["params"]["p"], 1);
        assert_eq!(v["cipher"]["name"], "nacl/secretbox");
        assert_eq!(
            STANDARD
                .decode(v["cipher"]["nonce"].as_str().unwrap())
                .unwrap()
                .len(),
            24
        );
        assert_eq!(
            STANDARD
                .decode(v["kdf"]["salt"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn older_label_and_bad_inputs() {
        let pair = generate_key_pair(b"").unwrap();
        let old = pair
            .private_pem
            .replace(SIGSTORE_PRIVATE_KEY_LABEL, COSIGN_PRIVATE_KEY_LABEL);
        assert!(load_private_key(&old, b"").is_ok());
        let other = pair
            .private_pem
            .replace(SIGSTORE_PRIVATE_KEY_LABEL, "PRIVATE KEY");
        assert!(matches!(
            load_private_key(&other, b""),
            Err(SignError::KeyFormat(_))
        ));
        assert!(load_private_key("not pem", b"").is_err());
    }

    #[test]
    fn hostile_parameters_are_refused_before_work() {
        let json = br#"{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AAAA"},"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAA"}"#;
        let text = pem::encode(&pem::Pem::new(SIGSTORE_PRIVATE_KEY_LABEL, json.to_vec()));
        let err = load_private_key(&text, b"x").unwrap_err();
        assert!(err.to_string().contains("scrypt parameters"), "{err}");
    }
}
