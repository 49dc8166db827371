//! Keys that stay in a PKCS#11 token (an HSM, or SoftHSM2 for tests),
//! through the `cryptoki` crate: the one PKCS#11 core of signet, used by
//! the signing client ([`Pkcs11Signer`], a [`Signer`]) and by the CA
//! (`signet_ca::Pkcs11Signer`, its certificate-signing key).
//!
//! The key is named by a PKCS#11 URI (RFC 7512), e.g.
//! `pkcs11:token=signet;object=ca-key;pin-value=1234`. Supported keys are
//! ECDSA P-256 and P-384: the caller hashes, the token signs the digest
//! with `CKM_ECDSA`, and its raw `r || s` answer is re-encoded as the DER
//! `Ecdsa-Sig-Value` that X.509 and Sigstore want.
//!
//! The PIN (from the URI's `pin-value` or [`PIN_ENV`]) is handed to the
//! token once, at login, and is never stored in these types or printed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aws_lc_rs::digest;
use const_oid::ObjectIdentifier;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use signet_crypto::{HashAlgorithm, PublicKey};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use zeroize::Zeroizing;

use crate::{SignError, Signer};

/// Environment variable the PIN is read from when the URI has none.
pub const PIN_ENV: &str = "SIGNET_PKCS11_PIN";
/// cosign's name for the same (read after [`PIN_ENV`] by the client).
pub const COSIGN_PIN_ENV: &str = "COSIGN_PKCS11_PIN";
/// Environment variable naming the PKCS#11 module (library) for signing
/// keys whose URI has no `module-path`.
pub const MODULE_ENV: &str = "SIGNET_PKCS11_MODULE";
/// cosign's name for the same (read after [`MODULE_ENV`]).
pub const COSIGN_MODULE_ENV: &str = "COSIGN_PKCS11_MODULE_PATH";

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Why a PKCS#11 key could not be named, opened or used.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    #[error("invalid PKCS#11 URI: {0}")]
    Uri(String),
    #[error(
        "no PKCS#11 module: give module-path= in the URI (or set {MODULE_ENV} for \
         a signing key; signet ca serve: --pkcs11-module)"
    )]
    NoModule,
    #[error("loading PKCS#11 module {path}: {why}")]
    Module { path: PathBuf, why: String },
    #[error("PKCS#11: no token matches {0}")]
    NoToken(String),
    #[error("PKCS#11: {0} tokens match; name one with token= or serial=")]
    ManyTokens(usize),
    #[error("PKCS#11 login failed: {0}")]
    Login(String),
    #[error("PKCS#11: no private key matches {0}")]
    NoKey(String),
    #[error("PKCS#11: {0} private keys match; name one with object= or id=")]
    ManyKeys(usize),
    #[error("PKCS#11 key: {0}")]
    BadKey(String),
    #[error("PKCS#11: {0}")]
    Token(String),
}

/// A parsed `pkcs11:` URI. `Debug` never shows the PIN.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `serial=`: the token serial number.
    pub serial: Option<String>,
    /// `object=`: the key's `CKA_LABEL`.
    pub object: Option<String>,
    /// `id=`: the key's `CKA_ID` (percent-decoded bytes).
    pub id: Option<Vec<u8>>,
    /// `module-path=`: the PKCS#11 library.
    pub module_path: Option<PathBuf>,
    /// Wiped from memory when dropped.
    pin_value: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Uri")
            .field("token", &self.token)
            .field("serial", &self.serial)
            .field("object", &self.object)
            .field(
                "id",
                &self.id.as_ref().map(signet_model::encoding::encode_hex),
            )
            .field("module_path", &self.module_path)
            .field("pin", &self.pin_value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl std::fmt::Display for Pkcs11Uri {
    /// The URI without the PIN and module path, for messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(t) = &self.token {
            parts.push(format!("token={t}"));
        }
        if let Some(s) = &self.serial {
            parts.push(format!("serial={s}"));
        }
        if let Some(o) = &self.object {
            parts.push(format!("object={o}"));
        }
        if let Some(id) = &self.id {
            let enc: String = id.iter().map(|b| format!("%{b:02x}")).collect();
            parts.push(format!("id={enc}"));
        }
        write!(f, "pkcs11:{}", parts.join(";"))
    }
}

fn percent_decode(value: &str) -> Result<Vec<u8>, Pkcs11Error> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Pkcs11Error::Uri("bad percent-encoding".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn decode_text(value: &str) -> Result<String, Pkcs11Error> {
    String::from_utf8(percent_decode(value)?)
        .map_err(|_| Pkcs11Error::Uri("attribute value is not UTF-8".into()))
}

impl Pkcs11Uri {
    /// Whether `s` names a PKCS#11 key rather than a file.
    pub fn is_pkcs11(s: &str) -> bool {
        s.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
    }

    /// Parses `pkcs11:attr=value;...[?attr=value&...]`. Path attributes:
    /// `token`, `serial`, `object`, `id`, `type` (must be `private`);
    /// `pin-value` and `module-path` are accepted in the path or the query.
    pub fn parse(s: &str) -> Result<Pkcs11Uri, Pkcs11Error> {
        if !Self::is_pkcs11(s) {
            return Err(Pkcs11Error::Uri("must start with pkcs11:".into()));
        }
        let rest = &s[7..];
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Pkcs11Uri::default();
        let attrs = path
            .split(';')
            .chain(query.split('&'))
            .filter(|a| !a.is_empty());
        for attr in attrs {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| Pkcs11Error::Uri("an attribute has no '='".into()))?;
            let slot = match name {
                "token" => &mut uri.token,
                "serial" => &mut uri.serial,
                "object" => &mut uri.object,
                "pin-value" => {
                    uri.pin_value = Some(Zeroizing::new(decode_text(value)?));
                    continue;
                }
                "id" => {
                    uri.id = Some(percent_decode(value)?);
                    continue;
                }
                "module-path" => {
                    uri.module_path = Some(PathBuf::from(decode_text(value)?));
                    continue;
                }
                "type" => {
                    if value != "private" {
                        return Err(Pkcs11Error::Uri(format!(
                            "type={value}: a signing key must be type=private"
                        )));
                    }
                    continue;
                }
                other => {
                    return Err(Pkcs11Error::Uri(format!(
                        "unsupported attribute {other:?} (supported: token, serial, object, id, type, pin-value, module-path)"
                    )))
                }
            };
            *slot = Some(decode_text(value)?);
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(Pkcs11Error::Uri("name the key with object= or id=".into()));
        }
        Ok(uri)
    }

    /// Whether the URI carries a PIN.
    pub fn has_pin(&self) -> bool {
        self.pin_value.is_some()
    }
}

/// The curve of a token's EC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcCurve {
    P256,
    P384,
}

impl EcCurve {
    /// Bytes of a field element (and of `r` and `s`).
    pub fn field_len(self) -> usize {
        match self {
            EcCurve::P256 => 32,
            EcCurve::P384 => 48,
        }
    }

    /// The hash conventionally paired with the curve.
    pub fn hash(self) -> &'static digest::Algorithm {
        match self {
            EcCurve::P256 => &digest::SHA256,
            EcCurve::P384 => &digest::SHA384,
        }
    }
}

/// An open ECDSA key in a PKCS#11 token: signs digests, with a pool of
/// sessions so that it can be shared between threads.
pub struct Pkcs11Key {
    // Dropped last: sessions must close before the library is finalized.
    sessions: Mutex<Vec<Session>>,
    /// Keeps the login alive while the pool is empty.
    _anchor: Mutex<Session>,
    ctx: Pkcs11,
    slot: Slot,
    key: ObjectHandle,
    curve: EcCurve,
    public: PublicKey,
    label: String,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("key", &self.label)
            .field("curve", &self.curve)
            .finish_non_exhaustive()
    }
}

fn token_err(e: cryptoki::error::Error) -> Pkcs11Error {
    Pkcs11Error::Token(e.to_string())
}

fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, Pkcs11Error> {
    let mut found = Vec::new();
    for slot in ctx.get_slots_with_initialized_token().map_err(token_err)? {
        let info = ctx.get_token_info(slot).map_err(token_err)?;
        let label_ok = uri.token.as_deref().is_none_or(|t| info.label() == t);
        let serial_ok = uri
            .serial
            .as_deref()
            .is_none_or(|s| info.serial_number() == s);
        if label_ok && serial_ok {
            found.push(slot);
        }
    }
    match found.len() {
        0 => Err(Pkcs11Error::NoToken(uri.to_string())),
        1 => Ok(found[0]),
        n => Err(Pkcs11Error::ManyTokens(n)),
    }
}

fn find_objects(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<Vec<ObjectHandle>, Pkcs11Error> {
    let mut template = vec![Attribute::Class(class), Attribute::KeyType(KeyType::EC)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    session.find_objects(&template).map_err(token_err)
}

/// The `CKA_EC_POINT` value: DER OCTET STRING around the point (the
/// standard), or the bare uncompressed point (some tokens).
fn ec_point(raw: &[u8], field_len: usize) -> Result<Vec<u8>, Pkcs11Error> {
    let bare_len = 1 + 2 * field_len;
    if raw.len() == bare_len && raw[0] == 0x04 {
        return Ok(raw.to_vec());
    }
    let octets = OctetString::from_der(raw)
        .map_err(|e| Pkcs11Error::BadKey(format!("CKA_EC_POINT: {e}")))?;
    let point = octets.as_bytes();
    if point.len() != bare_len || point[0] != 0x04 {
        return Err(Pkcs11Error::BadKey(
            "CKA_EC_POINT is not an uncompressed point on the key's curve".into(),
        ));
    }
    Ok(point.to_vec())
}

/// The SPKI of the public key object matching the private key.
fn public_key_of(
    session: &Session,
    uri: &Pkcs11Uri,
    private: ObjectHandle,
) -> Result<(PublicKey, EcCurve), Pkcs11Error> {
    // Prefer the public object with the same CKA_ID, else the same label.
    let id = session
        .get_attributes(private, &[AttributeType::Id])
        .map_err(token_err)?
        .into_iter()
        .find_map(|a| match a {
            Attribute::Id(id) if !id.is_empty() => Some(id),
            _ => None,
        });
    let by = Pkcs11Uri {
        object: uri.object.clone(),
        id: id.or_else(|| uri.id.clone()),
        ..Pkcs11Uri::default()
    };
    let publics = find_objects(session, &by, ObjectClass::PUBLIC_KEY)?;
    let public = match publics.as_slice() {
        [one] => *one,
        [] => {
            return Err(Pkcs11Error::BadKey(format!(
                "no EC public key object beside {uri}"
            )))
        }
        _ => {
            return Err(Pkcs11Error::BadKey(format!(
                "several EC public key objects match {uri}"
            )))
        }
    };
    let attrs = session
        .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(token_err)?;
    let (mut params, mut point) = (None, None);
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let params = params.ok_or_else(|| Pkcs11Error::BadKey("no CKA_EC_PARAMS".into()))?;
    let point = point.ok_or_else(|| Pkcs11Error::BadKey("no CKA_EC_POINT".into()))?;
    let curve_oid = ObjectIdentifier::from_der(&params)
        .map_err(|_| Pkcs11Error::BadKey("CKA_EC_PARAMS is not a named curve".into()))?;
    let curve = match curve_oid {
        SECP256R1 => EcCurve::P256,
        SECP384R1 => EcCurve::P384,
        other => {
            return Err(Pkcs11Error::BadKey(format!(
                "curve {other} is not supported (P-256 or P-384)"
            )))
        }
    };
    let point = ec_point(&point, curve.field_len())?;
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: EC_PUBLIC_KEY,
            parameters: Some(curve_oid.into()),
        },
        subject_public_key: BitString::from_bytes(&point)
            .map_err(|e| Pkcs11Error::BadKey(e.to_string()))?,
    };
    let der = spki
        .to_der()
        .map_err(|e| Pkcs11Error::BadKey(e.to_string()))?;
    let key = PublicKey::from_spki_der(&der).map_err(|e| Pkcs11Error::BadKey(e.to_string()))?;
    Ok((key, curve))
}

impl Pkcs11Key {
    /// Opens the key `uri` names in `module` (or the URI's `module-path`).
    /// The PIN is the URI's `pin-value`, else `$SIGNET_PKCS11_PIN`, else
    /// no login (for tokens whose keys need none).
    pub fn open(uri: &Pkcs11Uri, module: Option<&Path>) -> Result<Pkcs11Key, Pkcs11Error> {
        let pin = uri
            .pin_value
            .clone()
            .or_else(|| std::env::var(PIN_ENV).ok().map(Zeroizing::new));
        Self::open_with_pin(uri, module, pin.map(|p| AuthPin::from(p.as_str())))
    }

    fn open_with_pin(
        uri: &Pkcs11Uri,
        module: Option<&Path>,
        pin: Option<AuthPin>,
    ) -> Result<Pkcs11Key, Pkcs11Error> {
        let module = module
            .or(uri.module_path.as_deref())
            .ok_or(Pkcs11Error::NoModule)?;
        let ctx = Pkcs11::new(module).map_err(|e| Pkcs11Error::Module {
            path: module.to_path_buf(),
            why: e.to_string(),
        })?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => {
                return Err(Pkcs11Error::Module {
                    path: module.to_path_buf(),
                    why: e.to_string(),
                })
            }
        }
        let slot = find_slot(&ctx, uri)?;
        let anchor = ctx.open_ro_session(slot).map_err(token_err)?;
        if let Some(pin) = &pin {
            match anchor.login(UserType::User, Some(pin)) {
                Ok(()) => {}
                Err(cryptoki::error::Error::Pkcs11(
                    cryptoki::error::RvError::UserAlreadyLoggedIn,
                    _,
                )) => {}
                Err(e) => return Err(Pkcs11Error::Login(e.to_string())),
            }
        }
        let keys = find_objects(&anchor, uri, ObjectClass::PRIVATE_KEY)?;
        let key = match keys.as_slice() {
            [one] => *one,
            [] => return Err(Pkcs11Error::NoKey(uri.to_string())),
            many => return Err(Pkcs11Error::ManyKeys(many.len())),
        };
        let (public, curve) = public_key_of(&anchor, uri, key)?;
        let opened = Pkcs11Key {
            sessions: Mutex::new(Vec::new()),
            _anchor: Mutex::new(anchor),
            ctx,
            slot,
            key,
            curve,
            public,
            label: uri.to_string(),
        };
        // The key must really be the one the public object describes.
        let probe = b"signet pkcs11 self-test";
        let digest = digest::digest(curve.hash(), probe);
        let signature = opened.sign_digest(digest.as_ref())?;
        opened.public.verify(probe, &signature).map_err(|_| {
            Pkcs11Error::BadKey("the private key does not match its public key object".into())
        })?;
        Ok(opened)
    }

    /// The public half, from the token's public key object.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key's curve.
    pub fn curve(&self) -> EcCurve {
        self.curve
    }

    /// Signs a digest (`CKM_ECDSA`); returns a DER `Ecdsa-Sig-Value`.
    pub fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        // A session is single-threaded: take one from the pool (or open
        // one; the login is the application's, shared by all sessions).
        let pooled = self.sessions.lock().ok().and_then(|mut pool| pool.pop());
        let session = match pooled {
            Some(s) => s,
            None => self
                .ctx
                .open_ro_session(self.slot)
                .map_err(|e| Pkcs11Error::Token(format!("C_OpenSession: {e}")))?,
        };
        let result = session
            .sign(&Mechanism::Ecdsa, self.key, digest)
            .map_err(|e| Pkcs11Error::Token(format!("C_Sign: {e}")))
            .and_then(|raw| raw_ecdsa_to_der(&raw, self.curve.field_len()));
        // A session that failed is dropped (closed), not reused.
        if result.is_ok() {
            if let Ok(mut pool) = self.sessions.lock() {
                pool.push(session);
            }
        }
        result
    }
}

/// `r || s` (each `field_len` bytes) as a DER `Ecdsa-Sig-Value`.
pub fn raw_ecdsa_to_der(raw: &[u8], field_len: usize) -> Result<Vec<u8>, Pkcs11Error> {
    if raw.len() != 2 * field_len || field_len == 0 || field_len > 66 {
        return Err(Pkcs11Error::Token(format!(
            "the token returned a {}-byte ECDSA signature, expected {}",
            raw.len(),
            2 * field_len
        )));
    }
    let (r, s) = raw.split_at(field_len);
    let mut body = Vec::with_capacity(2 * field_len + 8);
    for int in [r, s] {
        let start = int.iter().position(|&b| b != 0).unwrap_or(int.len() - 1);
        let trimmed = &int[start..];
        let pad = trimmed[0] & 0x80 != 0;
        body.push(0x02);
        body.push((trimmed.len() + usize::from(pad)) as u8);
        if pad {
            body.push(0);
        }
        body.extend_from_slice(trimmed);
    }
    // Up to P-384, at most 2 * (2 + 1 + 48) = 102 bytes: short-form length;
    // P-521 (66-byte fields) needs the long form.
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(0x30);
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The module for a client signing key: the URI's `module-path`, else
/// `$SIGNET_PKCS11_MODULE`, else `$COSIGN_PKCS11_MODULE_PATH`.
fn client_module(uri: &Pkcs11Uri) -> Option<PathBuf> {
    uri.module_path.clone().or_else(|| {
        [MODULE_ENV, COSIGN_MODULE_ENV]
            .iter()
            .find_map(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
            .map(PathBuf::from)
    })
}

/// A client [`Signer`] whose ECDSA P-256 key is in a PKCS#11 token (what
/// `--key pkcs11:…` names).
#[derive(Debug)]
pub struct Pkcs11Signer {
    key: Pkcs11Key,
}

impl From<Pkcs11Error> for SignError {
    fn from(e: Pkcs11Error) -> SignError {
        match e {
            Pkcs11Error::Token(_) => SignError::Crypto(e.to_string()),
            _ => SignError::KeyAccess(e.to_string()),
        }
    }
}

impl Pkcs11Signer {
    /// Opens the key `uri` names. Module: the URI's `module-path`, else
    /// `$SIGNET_PKCS11_MODULE`, else `$COSIGN_PKCS11_MODULE_PATH`. PIN: the
    /// URI's `pin-value`, else `$SIGNET_PKCS11_PIN`, else
    /// `$COSIGN_PKCS11_PIN`, else no login.
    pub fn open(uri: &Pkcs11Uri) -> Result<Pkcs11Signer, SignError> {
        let module = client_module(uri).ok_or(Pkcs11Error::NoModule)?;
        let pin = uri.pin_value.clone().or_else(|| {
            [PIN_ENV, COSIGN_PIN_ENV]
                .iter()
                .find_map(|name| std::env::var(name).ok().map(Zeroizing::new))
        });
        let key =
            Pkcs11Key::open_with_pin(uri, Some(&module), pin.map(|p| AuthPin::from(p.as_str())))?;
        if key.curve() != EcCurve::P256 {
            return Err(SignError::UnsupportedKey(format!(
                "{uri} is a {:?} key; signet signs with P-256 token keys",
                key.curve()
            )));
        }
        Ok(Pkcs11Signer { key })
    }
}

impl Signer for Pkcs11Signer {
    fn public_key(&self) -> PublicKey {
        self.key.public_key().clone()
    }

    fn key_details(&self) -> Option<&'static str> {
        Some("PKIX_ECDSA_P256_SHA_256")
    }

    fn sign_prehashed(&self, sha256_digest: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        let signature = self.key.sign_digest(sha256_digest)?;
        // Cheap, and catches a token that signed something else.
        self.key
            .public_key()
            .verify_prehashed(HashAlgorithm::Sha256, sha256_digest, &signature)
            .map_err(|_| {
                SignError::Crypto(
                    "the token's signature does not verify under its public key".into(),
                )
            })?;
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris_and_hides_the_pin() {
        let uri = Pkcs11Uri::parse("pkcs11:token=signet;object=ca%20key;id=%01%a0;pin-value=1234")
            .unwrap();
        assert_eq!(uri.token.as_deref(), Some("signet"));
        assert_eq!(uri.object.as_deref(), Some("ca key"));
        assert_eq!(uri.id.as_deref(), Some(&[1u8, 0xa0][..]));
        assert!(uri.has_pin());
        assert!(!format!("{uri:?}").contains("1234"));
        assert!(!uri.to_string().contains("1234"));
        let q = Pkcs11Uri::parse(
            "pkcs11:token=t;object=k?pin-value=99&module-path=/usr/lib/softhsm/libsofthsm2.so",
        )
        .unwrap();
        assert!(q.has_pin());
        assert_eq!(
            q.module_path.as_deref(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(
            client_module(&q).as_deref(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        for bad in [
            "file:x",
            "pkcs11:token=t",
            "pkcs11:object=k;slot-id=1",
            "pkcs11:object=%zz",
            "pkcs11:object",
            "pkcs11:object=k;type=public",
        ] {
            assert!(Pkcs11Uri::parse(bad).is_err(), "{bad}");
        }
        assert!(Pkcs11Uri::is_pkcs11("PKCS11:object=k"));
        assert!(!Pkcs11Uri::is_pkcs11("ca-key.pem"));
    }

    #[test]
    fn raw_signatures_become_der() {
        use aws_lc_rs::signature::{
            EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED_SIGNING,
        };
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &ECDSA_P256_SHA256_ASN1,
            pair.public_key().as_ref().to_vec(),
        );
        // Enough signatures that some r or s has a high bit or a leading zero.
        for i in 0..64u8 {
            let msg = [i; 8];
            let raw = pair.sign(&rng, &msg).unwrap();
            let der = raw_ecdsa_to_der(raw.as_ref(), 32).unwrap();
            public.verify(&msg, &der).unwrap();
        }
        let mut edge = vec![0u8; 64];
        edge[31] = 1;
        edge[32] = 0x80;
        assert_eq!(
            raw_ecdsa_to_der(&edge, 32).unwrap()[..5],
            [0x30, 0x26, 0x02, 0x01, 0x01]
        );
        assert!(raw_ecdsa_to_der(&[0; 63], 32).is_err());
        assert!(raw_ecdsa_to_der(&[], 0).is_err());
    }
}
