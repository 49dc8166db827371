//! The CA's HTTP API (axum): Fulcio v2 `signingCert`, `trustBundle`,
//! `configuration`, and legacy v1 `signingCert` / `rootCert`.
//!
//! Every request body is capped at [`MAX_BODY_BYTES`] (413 with a JSON
//! error past it) and parsed with signet's JSON depth bound; every refusal
//! is a 4xx JSON [`ApiError`] and issues nothing.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::api::{
    ApiError, CertificateChain, Configuration, CreateSigningCertificateRequest, LegacyRequest,
    OidcIssuer, SignedCertificateEmbeddedSct, SigningCertificate, TrustBundle,
};
use crate::ca::{pem_certificate, CertificateAuthority, IssuedChain};
use crate::config::CaConfig;
use crate::identity::{self, IdentityError};
use crate::keys::{self, KeyPaths};
use crate::oidc::{OidcError, OidcOptions, OidcVerifier};
use crate::request_key::{self, KeyRequestError};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a request needs.
#[derive(Debug)]
pub struct CaServer {
    pub ca: CertificateAuthority,
    pub oidc: OidcVerifier,
    pub config: CaConfig,
}

impl CaServer {
    pub fn new(
        ca: CertificateAuthority,
        config: CaConfig,
        options: OidcOptions,
    ) -> Result<CaServer, OidcError> {
        let oidc = OidcVerifier::new(&config, options)?;
        Ok(CaServer { ca, oidc, config })
    }
}

/// The routes, with body limit and timeout.
pub fn router(state: Arc<CaServer>) -> Router {
    Router::new()
        .route("/api/v2/signingCert", post(v2_signing_cert))
        .route("/api/v2/trustBundle", get(trust_bundle))
        .route("/api/v2/configuration", get(configuration))
        .route("/api/v1/signingCert", post(v1_signing_cert))
        .route("/api/v1/rootCert", get(root_cert))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::map_response(json_payload_too_large))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// Serves `state` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<CaServer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// tower-http answers an oversized `Content-Length` with a plain-text 413;
/// make it the same JSON error as every other refusal.
async fn json_payload_too_large(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return too_large().into_response();
    }
    resp
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::new(rejection.status(), "bad_body", rejection.body_text())
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    signet_model::from_json_slice(body)
        .map_err(|e| ApiError::bad_request("malformed_request", format!("malformed request: {e}")))
}

/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn oidc_error(e: OidcError) -> ApiError {
    let reason = match &e {
        OidcError::Missing => {
            return ApiError::new(StatusCode::UNAUTHORIZED, "missing_token", e.to_string())
        }
        OidcError::Fetch(_) => {
            return ApiError::new(StatusCode::BAD_GATEWAY, "issuer_unavailable", e.to_string())
        }
        OidcError::Malformed(_) => "malformed_token",
        OidcError::UnknownIssuer(_) => "unknown_issuer",
        OidcError::Algorithm(_) => "unsupported_token_algorithm",
        OidcError::BadSignature => "invalid_token_signature",
        OidcError::Expired => "expired_token",
        OidcError::NotYetValid => "token_not_yet_valid",
        OidcError::WrongAudience(_) => "wrong_audience",
        OidcError::MissingClaim(_) | OidcError::InvalidClaims(_) => "invalid_token_claims",
    };
    ApiError::bad_request(reason, e.to_string())
}

fn identity_error(e: IdentityError) -> ApiError {
    ApiError::bad_request("invalid_identity", e.to_string())
}

fn key_error(e: KeyRequestError) -> ApiError {
    let reason = match &e {
        KeyRequestError::BadPublicKey(_) => "invalid_public_key",
        KeyRequestError::InsecureKey(_) => "insecure_public_key",
        KeyRequestError::BadCsr(_) => "invalid_csr",
        KeyRequestError::BadSignature(_) => "invalid_signature",
        KeyRequestError::AlgorithmNotPermitted(_) => "algorithm_not_permitted",
    };
    ApiError::bad_request(reason, e.to_string())
}

/// How the caller proves its key.
enum KeyMaterial {
    Csr(Vec<u8>),
    PublicKey { content: Vec<u8>, proof: Vec<u8> },
}

/// Token → principal → key → certificate.
async fn issue(
    state: &CaServer,
    token: &str,
    material: KeyMaterial,
) -> Result<IssuedChain, ApiError> {
    let verified = state.oidc.verify(token).await.map_err(oidc_error)?;
    let principal =
        identity::principal(&verified.issuer, &verified.claims).map_err(identity_error)?;
    let key = match material {
        KeyMaterial::Csr(csr) => request_key::parse_csr(&csr).map_err(key_error)?,
        KeyMaterial::PublicKey { content, proof } => {
            let key = request_key::parse_public_key(&content).map_err(key_error)?;
            request_key::verify_proof_of_possession(&key, &proof, &principal.name)
                .map_err(key_error)?;
            key
        }
    };
    let issued = state
        .ca
        .issue(&principal, &key, crate::unix_now())
        .map_err(|e| {
            eprintln!("signet-ca: issuance failed: {e}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ca_error",
                "error communicating with CA backend",
            )
        })?;
    eprintln!(
        "signet-ca: issued certificate serial={} san={:?} issuer={}",
        signet_model::encoding::encode_hex(
            issued.leaf.x509().tbs_certificate.serial_number.as_bytes()
        ),
        principal.san,
        principal.issuer
    );
    Ok(issued)
}

fn log_refusal(route: &str, e: &ApiError) {
    eprintln!("signet-ca: {route} refused ({}): {}", e.reason, e.message);
}

async fn v2_signing_cert(
    State(state): State<Arc<CaServer>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SigningCertificate>, ApiError> {
    let result = async {
        let body = body.map_err(body_error)?;
        let req: CreateSigningCertificateRequest = parse_body(&body)?;
        let token = req
            .credentials
            .and_then(|c| c.oidc_identity_token)
            .filter(|t| !t.is_empty())
            .or_else(|| bearer(&headers))
            .unwrap_or_default();
        let material = match (req.certificate_signing_request, req.public_key_request) {
            (Some(csr), _) if !csr.is_empty() => KeyMaterial::Csr(csr.0),
            (_, Some(pkr)) => KeyMaterial::PublicKey {
                content: pkr
                    .public_key
                    .and_then(|k| k.content)
                    .unwrap_or_default()
                    .into_bytes(),
                proof: pkr.proof_of_possession.map(|p| p.0).unwrap_or_default(),
            },
            _ => {
                return Err(ApiError::bad_request(
                    "missing_key",
                    "give certificateSigningRequest or publicKeyRequest",
                ))
            }
        };
        issue(&state, &token, material).await
    }
    .await;
    let issued = result.inspect_err(|e| log_refusal("v2 signingCert", e))?;
    Ok(Json(SigningCertificate {
        signed_certificate_embedded_sct: SignedCertificateEmbeddedSct {
            chain: CertificateChain {
                certificates: issued.pem_certificates(),
            },
        },
    }))
}

/// PEM blocks joined by newlines, trimmed, as Fulcio's legacy API writes.
fn pem_chain_response(status: StatusCode, pems: &[String]) -> Response {
    let text = pems.iter().map(|p| p.trim()).collect::<Vec<_>>().join("\n");
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pem-certificate-chain"),
        )],
        text,
    )
        .into_response()
}

async fn v1_signing_cert(
    State(state): State<Arc<CaServer>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let result = async {
        let body = body.map_err(body_error)?;
        let req: LegacyRequest = parse_body(&body)?;
        let token = bearer(&headers).unwrap_or_default();
        let material = match (req.certificate_signing_request, req.public_key) {
            (Some(csr), _) if !csr.is_empty() => KeyMaterial::Csr(csr.0),
            (_, Some(key)) => KeyMaterial::PublicKey {
                content: key.content.map(|c| c.0).unwrap_or_default(),
                proof: req.signed_email_address.map(|p| p.0).unwrap_or_default(),
            },
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_public_key",
                    "public key not provided",
                ))
            }
        };
        issue(&state, &token, material).await
    }
    .await;
    let issued = result.inspect_err(|e| log_refusal("v1 signingCert", e))?;
    Ok(pem_chain_response(
        StatusCode::CREATED,
        &issued.pem_certificates(),
    ))
}

async fn trust_bundle(State(state): State<Arc<CaServer>>) -> Json<TrustBundle> {
    Json(TrustBundle {
        chains: vec![CertificateChain {
            certificates: state.ca.chain().iter().map(pem_certificate).collect(),
        }],
    })
}

async fn root_cert(State(state): State<Arc<CaServer>>) -> Response {
    let pems: Vec<String> = state.ca.chain().iter().map(pem_certificate).collect();
    pem_chain_response(StatusCode::OK, &pems)
}

async fn configuration(State(state): State<Arc<CaServer>>) -> Json<Configuration> {
    Json(Configuration {
        issuers: state
            .config
            .oidc_issuers
            .iter()
            .map(|i| OidcIssuer {
                issuer_url: i.issuer_url.clone(),
                audience: i.client_id.clone(),
                challenge_claim: i.kind.challenge_claim().to_string(),
                spiffe_trust_domain: i.spiffe_trust_domain.clone(),
                issuer_type: i.kind.as_str().to_string(),
                subject_domain: i.subject_domain.clone(),
                skip_email_verification: i.skip_email_verification,
            })
            .collect(),
    })
}

/// What `signet ca serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub keys: KeyPaths,
    /// A CA key held elsewhere (PKCS#11); then `keys.ca_key` is unused and
    /// `keys.ca_chain` must exist.
    pub ca_signer: Option<Arc<dyn crate::signer::CaSigner>>,
    pub config: CaConfig,
    /// The URL clients reach the CA at (for the trust root's `uri`).
    pub public_url: Option<String>,
    /// The CT log's name in the trust root.
    pub ctlog_url: Option<String>,
    /// Where to write the trust-root pieces (JSON), if anywhere.
    pub trust_pieces_out: Option<PathBuf>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Ca(#[from] crate::ca::CaError),
    #[error(transparent)]
    Ct(#[from] crate::ct::CtError),
    #[error(transparent)]
    Oidc(#[from] OidcError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Loads or creates the keys, binds, writes the trust pieces, and serves
/// until Ctrl-C. `on_ready` receives the bound address.
pub async fn run(opts: ServeOptions, on_ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let material = match &opts.ca_signer {
        Some(signer) => keys::load_with_signer(&opts.keys, signer.clone())?,
        None => keys::load_or_create(&opts.keys, crate::unix_now())?,
    };
    if material.generated {
        eprintln!(
            "signet-ca: generated a new root and intermediate CA in {}",
            opts.keys
                .ca_chain
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    let ct = crate::ct::CtLogSigner::new(material.ct_signer)?;
    let ca = CertificateAuthority::new(material.signer, material.chain, ct)?;
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let public_url = opts.public_url.unwrap_or_else(|| format!("http://{addr}"));
    let ctlog_url = opts.ctlog_url.unwrap_or_else(|| format!("{public_url}/ct"));
    if let Some(path) = &opts.trust_pieces_out {
        let pieces = crate::trust::TrustPieces::for_ca(&ca, &public_url, &ctlog_url);
        let json = serde_json::to_string_pretty(&pieces).map_err(std::io::Error::other)?;
        std::fs::write(path, json)?;
    }
    if opts.config.oidc_issuers.is_empty() {
        eprintln!("signet-ca: warning: no OIDC issuers configured; every request will be refused");
    }
    let state = Arc::new(CaServer::new(ca, opts.config, OidcOptions::default())?);
    on_ready(addr);
    serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// [`run`] on a new multi-threaded runtime.
pub fn run_blocking(
    opts: ServeOptions,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(opts, on_ready))
}
