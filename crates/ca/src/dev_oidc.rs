//! `signet dev oidc`: a development OIDC issuer. DEV ONLY: it mints a
//! real, signed ID token for whatever identity it is asked for, so it must
//! never be an issuer a production CA trusts. It listens on loopback unless
//! told otherwise, and says "DEV ONLY" on start and on every token.
//!
//! Endpoints: `GET /.well-known/openid-configuration`, `GET /jwks`, and
//! `GET /token?sub=&email=&aud=&claims=JSON&ttl=SECS` or `POST /token` with
//! the same fields as a JSON object (`claims` an object). The answer is
//! `{"id_token": JWT, "access_token": JWT, "token_type": "Bearer",
//! "expires_in": N}`. `claims` are merged last, so they can override any
//! standard claim (tests use this for expired or foreign tokens).
//!
//! For the interactive sign-in of `signet sign-blob` (and any OAuth 2.0
//! client), `GET /authorize` and a form-encoded `POST /token` speak the
//! authorization-code flow with PKCE (RFC 7636, S256 only) to loopback
//! redirect URIs only (RFC 8252): see [`login`].

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Reader, SliceReader};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::ApiError;
use crate::config::DEFAULT_AUDIENCE;

mod login;
use login::PendingCode;

/// Banner printed when the issuer starts.
pub const DEV_BANNER: &str = "DEV ONLY: signet dev oidc mints signed ID tokens for ANY identity \
on request. Never configure it as an issuer of a production CA.";
/// Longest token lifetime a request may ask for.
pub const MAX_TTL_SECS: u64 = 24 * 3600;
/// Largest `/token` request body.
pub const MAX_TOKEN_REQUEST_BYTES: usize = 64 * 1024;

/// Why the dev issuer failed.
#[derive(Debug, thiserror::Error)]
pub enum DevOidcError {
    #[error("key generation failed: {0}")]
    Key(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("refusing to listen on non-loopback address {0} without --allow-non-loopback")]
    NotLoopback(SocketAddr),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The signing algorithm of minted tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevAlg {
    Es256,
    Rs256,
}

impl DevAlg {
    fn jwt(self) -> Algorithm {
        match self {
            DevAlg::Es256 => Algorithm::ES256,
            DevAlg::Rs256 => Algorithm::RS256,
        }
    }
}

/// A development issuer: one signing key, its JWK, its URL.
pub struct DevIssuer {
    issuer_url: String,
    alg: DevAlg,
    key: EncodingKey,
    jwk: Jwk,
    kid: String,
    default_ttl: u64,
    /// Authorization codes handed out and not yet redeemed.
    codes: std::sync::Mutex<HashMap<String, PendingCode>>,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer_url", &self.issuer_url)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_inner_key(pkcs8: &[u8]) -> der::Result<Vec<u8>> {
    let mut reader = SliceReader::new(pkcs8)?;
    reader.sequence(|r| {
        let _version = u8::decode(r)?;
        let _algorithm = AnyRef::decode(r)?;
        let key = OctetStringRef::decode(r)?.as_bytes().to_vec();
        while !r.is_finished() {
            AnyRef::decode(r)?;
        }
        Ok(key)
    })
}

impl DevIssuer {
    /// A new issuer at `issuer_url` with a fresh key; tokens live
    /// `default_ttl` seconds unless a request says otherwise.
    pub fn generate(
        issuer_url: &str,
        alg: DevAlg,
        default_ttl: u64,
    ) -> Result<DevIssuer, DevOidcError> {
        crate::oidc::install_jwt_crypto();
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = match alg {
            DevAlg::Es256 => {
                let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &rng,
                )
                .map_err(|e| DevOidcError::Key(e.to_string()))?;
                EncodingKey::from_ec_der(pkcs8.as_ref())
            }
            DevAlg::Rs256 => {
                use aws_lc_rs::encoding::AsDer;
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|e| DevOidcError::Key(e.to_string()))?;
                let pkcs8 = pair
                    .as_der()
                    .map_err(|e| DevOidcError::Key(e.to_string()))?;
                let pkcs1 = pkcs8_inner_key(pkcs8.as_ref())
                    .map_err(|e| DevOidcError::Key(e.to_string()))?;
                EncodingKey::from_rsa_der(&pkcs1)
            }
        };
        let mut jwk = Jwk::from_encoding_key(&key, alg.jwt())
            .map_err(|e| DevOidcError::Key(e.to_string()))?;
        let thumbprint = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256);
        let kid = thumbprint.chars().take(16).collect::<String>();
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        Ok(DevIssuer {
            issuer_url: issuer_url.trim_end_matches('/').to_string(),
            alg,
            key,
            jwk,
            kid,
            default_ttl: default_ttl.clamp(1, MAX_TTL_SECS),
            codes: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The issuer URL (the tokens' `iss`).
    pub fn issuer_url(&self) -> &str {
        &self.issuer_url
    }

    /// The discovery document.
    pub fn discovery(&self) -> Value {
        let alg = format!("{:?}", self.alg.jwt());
        json!({
            "issuer": self.issuer_url,
            "jwks_uri": format!("{}/jwks", self.issuer_url),
            "token_endpoint": format!("{}/token", self.issuer_url),
            "authorization_endpoint": format!("{}/authorize", self.issuer_url),
            "response_types_supported": ["code", "id_token"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [alg],
            "claims_supported": ["sub", "email", "email_verified", "aud", "iss", "iat", "exp"],
        })
    }

    /// The JWKS (public key only).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// Mints a token for `req` at `now` (unix seconds).
    pub fn mint(&self, req: &TokenRequest, now: i64) -> Result<(String, u64), DevOidcError> {
        let ttl = req.ttl.unwrap_or(self.default_ttl).clamp(1, MAX_TTL_SECS);
        let mut claims = Map::new();
        let sub = req
            .sub
            .clone()
            .or_else(|| req.email.clone())
            .unwrap_or_else(|| "dev-user".to_string());
        claims.insert("iss".into(), json!(self.issuer_url));
        claims.insert("sub".into(), json!(sub));
        claims.insert(
            "aud".into(),
            json!(req.aud.clone().unwrap_or_else(|| DEFAULT_AUDIENCE.into())),
        );
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        claims.insert("exp".into(), json!(now.saturating_add(ttl as i64)));
        if let Some(email) = &req.email {
            claims.insert("email".into(), json!(email));
            claims.insert("email_verified".into(), json!(true));
        }
        for (k, v) in &req.claims {
            claims.insert(k.clone(), v.clone());
        }
        let mut header = Header::new(self.alg.jwt());
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| DevOidcError::Sign(e.to_string()))?;
        eprintln!(
            "signet dev oidc: DEV ONLY: minted a token for sub={:?} email={:?}",
            claims.get("sub").and_then(Value::as_str).unwrap_or(""),
            claims.get("email").and_then(Value::as_str).unwrap_or("")
        );
        Ok((token, ttl))
    }
}

/// What a `/token` request asks for.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub aud: Option<String>,
    /// Extra claims, merged last.
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub ttl: Option<u64>,
}

/// `/token`'s query string: `claims` is JSON text.
#[derive(Debug, Default, Deserialize)]
struct TokenQuery {
    sub: Option<String>,
    email: Option<String>,
    aud: Option<String>,
    claims: Option<String>,
    ttl: Option<u64>,
}

fn token_response(issuer: &DevIssuer, req: &TokenRequest) -> Response {
    match issuer.mint(req, crate::unix_now()) {
        Ok((token, ttl)) => Json(json!({
            "id_token": token,
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
        }))
        .into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "mint_failed",
            e.to_string(),
        )
        .into_response(),
    }
}

async fn token_get(State(issuer): State<Arc<DevIssuer>>, Query(q): Query<TokenQuery>) -> Response {
    let claims = match q.claims.as_deref() {
        None | Some("") => Map::new(),
        Some(text) => match signet_model::from_json_slice::<Map<String, Value>>(text.as_bytes()) {
            Ok(m) => m,
            Err(e) => {
                return ApiError::bad_request(
                    "bad_claims",
                    format!("claims must be a JSON object: {e}"),
                )
                .into_response()
            }
        },
    };
    let req = TokenRequest {
        sub: q.sub,
        email: q.email,
        aud: q.aud,
        claims,
        ttl: q.ttl,
    };
    token_response(&issuer, &req)
}

async fn token_post(
    State(issuer): State<Arc<DevIssuer>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return ApiError::new(e.status(), "bad_body", e.body_text()).into_response(),
    };
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form {
        return login::redeem(&issuer, &body);
    }
    let req: TokenRequest = if body.is_empty() {
        TokenRequest::default()
    } else {
        match signet_model::from_json_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return ApiError::bad_request("malformed_request", e.to_string()).into_response()
            }
        }
    };
    token_response(&issuer, &req)
}

/// The issuer's routes.
pub fn router(issuer: Arc<DevIssuer>) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(i): State<Arc<DevIssuer>>| async move { Json(i.discovery()) }),
        )
        .route(
            "/jwks",
            get(|State(i): State<Arc<DevIssuer>>| async move { Json(i.jwks()) }),
        )
        .route("/token", get(token_get).post(token_post))
        .route("/authorize", get(login::authorize))
        .with_state(issuer)
        .layer(DefaultBodyLimit::max(MAX_TOKEN_REQUEST_BYTES))
}

/// Serves `issuer` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    issuer: Arc<DevIssuer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(issuer))
        .with_graceful_shutdown(shutdown)
        .await
}

/// What `signet dev oidc` was asked to do.
#[derive(Debug, Clone)]
pub struct DevOidcOptions {
    pub listen: SocketAddr,
    pub allow_non_loopback: bool,
    /// The `iss` of minted tokens; default `http://<bound address>`.
    pub issuer_url: Option<String>,
    pub alg: DevAlg,
    pub token_lifetime: Duration,
}

/// Binds, announces itself loudly, and serves until Ctrl-C. `on_ready`
/// receives the issuer URL.
pub async fn run(opts: DevOidcOptions, on_ready: impl FnOnce(&str)) -> Result<(), DevOidcError> {
    if !opts.listen.ip().is_loopback() && !opts.allow_non_loopback {
        return Err(DevOidcError::NotLoopback(opts.listen));
    }
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let url = opts.issuer_url.unwrap_or_else(|| format!("http://{addr}"));
    let issuer = DevIssuer::generate(&url, opts.alg, opts.token_lifetime.as_secs())?;
    eprintln!("{DEV_BANNER}");
    eprintln!("signet dev oidc: DEV ONLY issuer {url} listening on {addr}");
    on_ready(issuer.issuer_url());
    serve(listener, Arc::new(issuer), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// [`run`] on a new multi-threaded runtime.
pub fn run_blocking(opts: DevOidcOptions, on_ready: impl FnOnce(&str)) -> Result<(), DevOidcError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(opts, on_ready))
}
