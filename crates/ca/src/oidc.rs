//! OIDC ID token verification against the configured issuers.
//!
//! For a token: its unverified `iss` selects a configured issuer (unknown →
//! refused before any network access); that issuer's keys come from OIDC
//! discovery (`/.well-known/openid-configuration` → `jwks_uri`), cached and
//! refetched when a token names an unknown `kid` (at most once per
//! [`OidcOptions::min_refresh`]) or when older than
//! [`OidcOptions::max_age`]; then signature, `aud`, `iss`, `exp`/`nbf`
//! (with [`OidcOptions::leeway`] seconds of skew) and `iat` are checked.
//! Tokens are never logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::config::{CaConfig, IssuerConfig};

/// Longest token accepted.
pub const MAX_TOKEN_BYTES: usize = 32 * 1024;
/// Largest discovery document or JWKS read.
pub const MAX_FETCH_BYTES: usize = 256 * 1024;
/// Most keys used from one JWKS.
pub const MAX_JWKS_KEYS: usize = 64;

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("no identity token was provided")]
    Missing,
    #[error("the identity token is malformed: {0}")]
    Malformed(String),
    #[error("the identity token's issuer {0:?} is not a configured issuer")]
    UnknownIssuer(String),
    #[error("the identity token's algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("the identity token's signature does not verify with the issuer's keys")]
    BadSignature,
    #[error("the identity token has expired")]
    Expired,
    #[error("the identity token is not valid yet")]
    NotYetValid,
    #[error("the identity token's audience is not {0:?}")]
    WrongAudience(String),
    #[error("the identity token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the identity token's claims are invalid: {0}")]
    InvalidClaims(String),
    #[error("cannot fetch the issuer's keys: {0}")]
    Fetch(String),
}

impl OidcError {
    /// Whether the fault is the issuer's (or the network's) rather than the
    /// caller's.
    pub fn is_upstream(&self) -> bool {
        matches!(self, OidcError::Fetch(_))
    }
}

/// Tunables of token verification.
#[derive(Debug, Clone)]
pub struct OidcOptions {
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (seconds).
    pub leeway: u64,
    /// Least time between two key fetches for one issuer.
    pub min_refresh: Duration,
    /// Keys older than this are refetched before use.
    pub max_age: Duration,
    /// Timeout of each HTTP request to an issuer.
    pub http_timeout: Duration,
}

impl Default for OidcOptions {
    fn default() -> Self {
        OidcOptions {
            leeway: 60,
            min_refresh: Duration::from_secs(10),
            max_age: Duration::from_secs(3600),
            http_timeout: Duration::from_secs(10),
        }
    }
}

/// A token that verified, with its issuer's configuration.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub issuer: IssuerConfig,
    pub claims: Map<String, Value>,
}

#[derive(Default)]
struct KeyCache {
    keys: Vec<(Jwk, DecodingKey)>,
    /// When the last fetch started.
    fetched_at: Option<Instant>,
    /// Fetches finished (well or not): a caller that waited for one sees
    /// it changed and takes its result.
    fetches: u64,
}

struct IssuerState {
    config: IssuerConfig,
    cache: Mutex<KeyCache>,
    /// Held while the issuer's keys are fetched: one fetch at a time.
    refresh: Mutex<()>,
}

/// The cached keys, or why there are none.
fn cached(cache: &KeyCache, refreshed: bool) -> Result<(Vec<(Jwk, DecodingKey)>, bool), OidcError> {
    if cache.keys.is_empty() {
        // A fetch failed moments ago; do not hammer the issuer.
        return Err(OidcError::Fetch(
            "the issuer's keys are unavailable (a recent fetch failed)".into(),
        ));
    }
    Ok((cache.keys.clone(), refreshed))
}

/// Verifies ID tokens from the issuers of a [`CaConfig`].
pub struct OidcVerifier {
    issuers: HashMap<String, Arc<IssuerState>>,
    http: reqwest::Client,
    options: OidcOptions,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Selects aws-lc-rs as jsonwebtoken's crypto (idempotent).
pub(crate) fn install_jwt_crypto() {
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
}

/// Asymmetric algorithms accepted; HMAC and `none` never are.
fn accepted(alg: Algorithm) -> bool {
    use Algorithm::*;
    matches!(
        alg,
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384 | EdDSA
    )
}

/// The unverified `iss` claim, only to pick the issuer whose keys then
/// verify the token.
fn unverified_issuer(token: &str) -> Result<String, OidcError> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OidcError::Malformed(
            "not a JWS compact serialization".into(),
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| OidcError::Malformed(format!("payload: {e}")))?;
    let claims: Map<String, Value> = signet_model::from_json_slice(&bytes)
        .map_err(|e| OidcError::Malformed(format!("payload: {e}")))?;
    match claims.get("iss") {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(OidcError::MissingClaim("iss".into())),
    }
}

impl OidcVerifier {
    pub fn new(config: &CaConfig, options: OidcOptions) -> Result<OidcVerifier, OidcError> {
        install_jwt_crypto();
        let http = reqwest::Client::builder()
            .timeout(options.http_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| OidcError::Fetch(e.to_string()))?;
        let issuers = config
            .oidc_issuers
            .iter()
            .map(|c| {
                (
                    c.issuer_url.clone(),
                    Arc::new(IssuerState {
                        config: c.clone(),
                        cache: Mutex::new(KeyCache::default()),
                        refresh: Mutex::new(()),
                    }),
                )
            })
            .collect();
        Ok(OidcVerifier {
            issuers,
            http,
            options,
        })
    }

    /// Verifies `token`; see the module docs for what is checked.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, OidcError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(OidcError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(OidcError::Malformed("token too large".into()));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| OidcError::Malformed(e.to_string()))?;
        if !accepted(header.alg) {
            return Err(OidcError::Algorithm(format!("{:?}", header.alg)));
        }
        let iss = unverified_issuer(token)?;
        let state = self
            .issuers
            .get(&iss)
            .ok_or_else(|| OidcError::UnknownIssuer(iss.clone()))?;

        let mut validation = Validation::new(header.alg);
        validation.leeway = self.options.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&[state.config.client_id.as_str()]);
        validation.set_issuer(&[state.config.issuer_url.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);

        let kid = header.kid.as_deref();
        let (keys, refreshed) = self.keys_for(state, kid, false).await?;
        match self.decode_with(token, &keys, kid, header.alg, &validation, state) {
            // No cached key verifies: the issuer may have rotated its keys
            // under a token without a `kid` (or one reusing an old `kid`).
            // Look again, as go-oidc does, rate-limited like unknown kids.
            Err(OidcError::BadSignature) if !refreshed => {
                let (keys, refreshed) = self.keys_for(state, kid, true).await?;
                if !refreshed {
                    return Err(OidcError::BadSignature);
                }
                self.decode_with(token, &keys, kid, header.alg, &validation, state)
            }
            result => result,
        }
    }

    /// The token's claims under the first of `keys` whose signature verifies.
    fn decode_with(
        &self,
        token: &str,
        keys: &[(Jwk, DecodingKey)],
        kid: Option<&str>,
        alg: Algorithm,
        validation: &Validation,
        state: &IssuerState,
    ) -> Result<VerifiedToken, OidcError> {
        let mut last = OidcError::BadSignature;
        for key in keys.iter().filter(|(jwk, _)| usable(jwk, kid, alg)) {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.1, validation) {
                Ok(data) => {
                    check_iat(&data.claims, self.options.leeway)?;
                    return Ok(VerifiedToken {
                        issuer: state.config.clone(),
                        claims: data.claims,
                    });
                }
                Err(e) => {
                    let err = map_error(e.kind(), &state.config.client_id);
                    if err != OidcError::BadSignature {
                        // The signature verified (jsonwebtoken checks it
                        // first); the claims did not.
                        return Err(err);
                    }
                    last = err;
                }
            }
        }
        Err(last)
    }

    /// The issuer's keys, fetched if absent, stale, or (rate-limited by
    /// `min_refresh`) when no key has id `kid`, none is cached, or `again`
    /// asks for it; and whether they were fetched for this call (or by a
    /// fetch it waited for).
    ///
    /// The cache is never locked across the network: one fetch per issuer
    /// runs at a time (`refresh`), its start counts as the last attempt, and
    /// callers the cached keys serve are answered meanwhile, so a slow
    /// issuer plus tokens with made-up key IDs cannot queue up valid ones.
    async fn keys_for(
        &self,
        state: &IssuerState,
        kid: Option<&str>,
        again: bool,
    ) -> Result<(Vec<(Jwk, DecodingKey)>, bool), OidcError> {
        let (need, seen) = {
            let cache = state.cache.lock().await;
            let age = cache
                .fetched_at
                .map(|t| Instant::now().saturating_duration_since(t));
            let known = !cache.keys.is_empty()
                && kid.is_none_or(|k| {
                    cache
                        .keys
                        .iter()
                        .any(|(jwk, _)| jwk.common.key_id.as_deref() == Some(k))
                });
            let stale = age.is_none_or(|a| a > self.options.max_age);
            let may_refresh = age.is_none_or(|a| a >= self.options.min_refresh);
            let need = stale || ((again || !known) && may_refresh);
            // With no keys at all, wait for a fetch that may be running.
            if !need && !cache.keys.is_empty() {
                return cached(&cache, false);
            }
            (need, cache.fetches)
        };
        let _one_fetch = state.refresh.lock().await;
        {
            let mut cache = state.cache.lock().await;
            if cache.fetches != seen {
                // A fetch finished while this call waited: its result.
                return cached(&cache, true);
            }
            if !need {
                // None ran: a recent one failed; do not hammer the issuer.
                return cached(&cache, false);
            }
            cache.fetched_at = Some(Instant::now());
        }
        let fetched = self.fetch_keys(&state.config.issuer_url).await;
        let mut cache = state.cache.lock().await;
        cache.fetches += 1;
        match fetched {
            Ok(keys) => {
                cache.keys = keys;
                cached(&cache, true)
            }
            // Keep serving cached keys if a refresh fails.
            Err(e) if cache.keys.is_empty() => Err(e),
            Err(_) => cached(&cache, false),
        }
    }

    async fn fetch_json(&self, url: &str) -> Result<Map<String, Value>, OidcError> {
        let fetch = |e: reqwest::Error| OidcError::Fetch(format!("{url}: {e}"));
        let mut resp = self.http.get(url).send().await.map_err(fetch)?;
        if !resp.status().is_success() {
            return Err(OidcError::Fetch(format!("{url}: HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(fetch)? {
            if body.len() + chunk.len() > MAX_FETCH_BYTES {
                return Err(OidcError::Fetch(format!("{url}: response too large")));
            }
            body.extend_from_slice(&chunk);
        }
        signet_model::from_json_slice(&body).map_err(|e| OidcError::Fetch(format!("{url}: {e}")))
    }

    async fn fetch_keys(&self, issuer: &str) -> Result<Vec<(Jwk, DecodingKey)>, OidcError> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery = self.fetch_json(&discovery_url).await?;
        if discovery.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(OidcError::Fetch(format!(
                "{discovery_url}: discovery document names another issuer"
            )));
        }
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::Fetch(format!("{discovery_url}: no jwks_uri")))?;
        let jwks_url =
            url::Url::parse(jwks_uri).map_err(|e| OidcError::Fetch(format!("jwks_uri: {e}")))?;
        if !matches!(jwks_url.scheme(), "https" | "http") {
            return Err(OidcError::Fetch("jwks_uri is not http(s)".into()));
        }
        let jwks = self.fetch_json(jwks_url.as_str()).await?;
        let Some(Value::Array(entries)) = jwks.get("keys") else {
            return Err(OidcError::Fetch(format!("{jwks_uri}: no keys")));
        };
        let keys: Vec<(Jwk, DecodingKey)> = entries
            .iter()
            .take(MAX_JWKS_KEYS)
            .filter_map(|v| serde_json::from_value::<Jwk>(v.clone()).ok())
            .filter_map(|jwk| DecodingKey::from_jwk(&jwk).ok().map(|k| (jwk, k)))
            .collect();
        if keys.is_empty() {
            return Err(OidcError::Fetch(format!("{jwks_uri}: no usable keys")));
        }
        Ok(keys)
    }
}

/// Whether `jwk` may verify a token with header `kid` and `alg`.
fn usable(jwk: &Jwk, kid: Option<&str>, alg: Algorithm) -> bool {
    if let Some(kid) = kid {
        if jwk.common.key_id.as_deref() != Some(kid) {
            return false;
        }
    }
    if let Some(key_alg) = jwk.common.key_algorithm {
        if key_alg.to_string() != format!("{alg:?}") {
            return false;
        }
    }
    true
}

fn map_error(kind: &ErrorKind, audience: &str) -> OidcError {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidKeyFormat => OidcError::BadSignature,
        ErrorKind::ExpiredSignature => OidcError::Expired,
        ErrorKind::ImmatureSignature => OidcError::NotYetValid,
        ErrorKind::InvalidAudience => OidcError::WrongAudience(audience.to_string()),
        ErrorKind::InvalidIssuer => OidcError::UnknownIssuer("(mismatch)".into()),
        ErrorKind::MissingRequiredClaim(c) => OidcError::MissingClaim(c.clone()),
        ErrorKind::InvalidClaimFormat(c) => OidcError::InvalidClaims(c.clone()),
        other => OidcError::Malformed(format!("{other:?}")),
    }
}

/// `iat` must be present, a number, and not in the future (beyond skew).
fn check_iat(claims: &Map<String, Value>, leeway: u64) -> Result<(), OidcError> {
    let iat = claims
        .get("iat")
        .ok_or_else(|| OidcError::MissingClaim("iat".into()))?
        .as_f64()
        .ok_or_else(|| OidcError::InvalidClaims("iat is not a number".into()))?;
    let now = crate::unix_now() as f64;
    if iat > now + leeway as f64 {
        return Err(OidcError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_is_read_without_verification() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://x"}"#);
        assert_eq!(
            unverified_issuer(&format!("a.{payload}.c")).unwrap(),
            "https://x"
        );
        assert!(unverified_issuer("a.b").is_err());
        assert!(unverified_issuer(&format!("a.{}.c", URL_SAFE_NO_PAD.encode(b"{}"))).is_err());
    }

    #[test]
    fn hmac_and_none_are_refused() {
        assert!(!accepted(Algorithm::HS256));
        assert!(accepted(Algorithm::ES256));
    }

    /// A P-256 signing key, its JWK (no `kid`), and tokens it signs
    /// without a `kid` in the header.
    struct KidlessKey {
        pkcs8: Vec<u8>,
        jwk: Value,
    }

    impl KidlessKey {
        fn new() -> KidlessKey {
            use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .unwrap()
                .as_ref()
                .to_vec();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
            let point = pair.public_key().as_ref();
            let jwk = serde_json::json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            });
            KidlessKey { pkcs8, jwk }
        }

        fn token(&self, issuer: &str) -> String {
            self.token_with_kid(issuer, None)
        }

        fn token_with_kid(&self, issuer: &str, kid: Option<&str>) -> String {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let claims = serde_json::json!({
                "iss": issuer, "aud": crate::config::DEFAULT_AUDIENCE, "sub": "someone",
                "iat": now, "exp": now + 300,
            });
            let key = jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8);
            let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
            header.kid = kid.map(str::to_string);
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        }
    }

    /// How a test issuer behaves: the JWKS it serves (changeable); its
    /// discovery document fails while `down` is set, and waits for `gate`
    /// (after telling `entered`) while the test holds it.
    #[derive(Clone, Default)]
    struct Controls {
        jwks: std::sync::Arc<std::sync::Mutex<Value>>,
        down: std::sync::Arc<std::sync::atomic::AtomicBool>,
        gate: std::sync::Arc<tokio::sync::RwLock<()>>,
        entered: std::sync::Arc<tokio::sync::Notify>,
    }

    impl Controls {
        /// An issuer whose JWKS holds `key`.
        fn serving(key: &KidlessKey) -> Controls {
            Controls {
                jwks: std::sync::Arc::new(std::sync::Mutex::new(
                    serde_json::json!({"keys": [key.jwk]}),
                )),
                ..Controls::default()
            }
        }
    }

    async fn issuer(controls: Controls) -> String {
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let discovery = serde_json::json!({"issuer": url, "jwks_uri": format!("{url}/keys")});
        let jwks = controls.jwks.clone();
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let (discovery, controls) = (discovery.clone(), controls.clone());
                    async move {
                        controls.entered.notify_one();
                        let _open = controls.gate.read().await;
                        if controls.down.load(std::sync::atomic::Ordering::SeqCst) {
                            Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
                        } else {
                            Ok(axum::Json(discovery))
                        }
                    }
                }),
            )
            .route(
                "/keys",
                get(move || {
                    let jwks = jwks.lock().unwrap().clone();
                    async move { axum::Json(jwks) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// A verifier of the email issuer at `url` that may refetch its keys
    /// at once (`min_refresh` 0).
    fn verifier_for(url: &str) -> OidcVerifier {
        verifier_with(
            url,
            OidcOptions {
                min_refresh: Duration::ZERO,
                ..OidcOptions::default()
            },
        )
    }

    /// A verifier of email tokens from the issuer at `url`.
    fn verifier_with(url: &str, options: OidcOptions) -> OidcVerifier {
        let config = CaConfig {
            oidc_issuers: vec![crate::config::IssuerConfig::new(
                url,
                crate::config::IssuerType::Email,
            )],
        };
        OidcVerifier::new(&config, options).unwrap()
    }

    /// Tokens without a `kid` still verify after the issuer rotates its
    /// keys, and after a first fetch that failed (both rate-limited by
    /// `min_refresh`, here 0); a key the issuer never published does not.
    #[tokio::test]
    async fn keys_are_fetched_again_for_tokens_without_a_kid() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let (a, b) = (KidlessKey::new(), KidlessKey::new());
        let controls = Controls {
            down: Arc::new(AtomicBool::new(true)),
            ..Controls::serving(&a)
        };
        let (jwks, down) = (controls.jwks.clone(), controls.down.clone());
        let url = issuer(controls).await;
        let verifier = verifier_for(&url);

        // The first fetch fails; the next token looks again.
        assert!(matches!(
            verifier.verify(&a.token(&url)).await,
            Err(OidcError::Fetch(_))
        ));
        down.store(false, Ordering::SeqCst);
        verifier.verify(&a.token(&url)).await.unwrap();

        // Rotation: B replaces A.
        *jwks.lock().unwrap() = serde_json::json!({"keys": [b.jwk]});
        verifier.verify(&b.token(&url)).await.unwrap();
        assert_eq!(
            verifier.verify(&a.token(&url)).await.err(),
            Some(OidcError::BadSignature)
        );
        assert_eq!(
            verifier.verify(&KidlessKey::new().token(&url)).await.err(),
            Some(OidcError::BadSignature)
        );
    }

    /// The first tokens of an issuer arrive together: the ones that find
    /// the first fetch running wait for it, rather than fail as if it had
    /// failed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_during_the_first_fetch_wait_for_it() {
        let a = KidlessKey::new();
        let controls = Controls::serving(&a);
        let url = issuer(controls.clone()).await;
        // Default options: a waiting call must not hide a failure by
        // fetching again itself.
        let verifier = Arc::new(verifier_with(&url, OidcOptions::default()));
        let held = controls.gate.write().await;
        let spawn = || {
            let (verifier, token) = (verifier.clone(), a.token(&url));
            tokio::spawn(async move { verifier.verify(&token).await })
        };
        let first = spawn();
        tokio::time::timeout(Duration::from_secs(10), controls.entered.notified())
            .await
            .expect("the first token starts the fetch");
        let second = spawn();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(held);
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
    }

    /// A fetch in progress (a slow issuer, asked by a token with a made-up
    /// key ID) does not hold up tokens the cached keys verify.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cached_keys_serve_while_a_fetch_is_slow() {
        let a = KidlessKey::new();
        let controls = Controls::serving(&a);
        let url = issuer(controls.clone()).await;
        let verifier = Arc::new(verifier_for(&url));
        verifier.verify(&a.token(&url)).await.unwrap();

        let held = controls.gate.write().await;
        let forged = {
            let (verifier, token) = (verifier.clone(), a.token_with_kid(&url, Some("made-up")));
            tokio::spawn(async move { verifier.verify(&token).await })
        };
        tokio::time::timeout(Duration::from_secs(10), controls.entered.notified())
            .await
            .expect("the made-up key ID starts a fetch");
        let valid = tokio::time::timeout(Duration::from_secs(10), verifier.verify(&a.token(&url)))
            .await
            .expect("answered while the fetch waits");
        assert!(valid.is_ok(), "{valid:?}");
        drop(held);
        assert_eq!(forged.await.unwrap().err(), Some(OidcError::BadSignature));
    }
}
