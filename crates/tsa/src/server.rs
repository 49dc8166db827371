//! The HTTP API (axum), as sigstore/timestamp-authority:
//! `POST /api/v1/timestamp` (DER `TimeStampReq` in, DER `TimeStampResp`
//! out) and `GET /api/v1/timestamp/certchain` (PEM chain).
//!
//! Bodies are capped at [`MAX_BODY_BYTES`] (413). A request that is not an
//! `application/timestamp-query` gets 415; a malformed or unsupported one
//! gets 400 with a DER `TimeStampResp` of status rejection and its
//! failInfo; a granted one 200.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use const_oid::ObjectIdentifier;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::authority::{rejection, FailInfo, Reply, TimestampAuthorityService, TsaError};
use crate::keys::{self, KeyError, KeyPaths};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const QUERY_TYPE: &str = "application/timestamp-query";
pub const REPLY_TYPE: &str = "application/timestamp-reply";

/// The routes, with body limit and timeout.
pub fn router(state: Arc<TimestampAuthorityService>) -> Router {
    Router::new()
        .route("/api/v1/timestamp", post(timestamp))
        .route("/api/v1/timestamp/certchain", get(cert_chain))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// Serves `state` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<TimestampAuthorityService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn text(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

fn der_reply(status: StatusCode, der: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, REPLY_TYPE)], der).into_response()
}

fn internal(e: &TsaError) -> Response {
    eprintln!("signet-tsa: {e}");
    match rejection(FailInfo::SystemFailure, "internal error") {
        Ok(der) => der_reply(StatusCode::INTERNAL_SERVER_ERROR, der),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
    }
}

async fn timestamp(
    State(state): State<Arc<TimestampAuthorityService>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let is_query = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(QUERY_TYPE));
    if !is_query {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the request must be {QUERY_TYPE}"),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            )
        }
        Err(rejection) => return text(rejection.status(), rejection.body_text()),
    };
    // ECDSA signing is short; no need for a blocking thread.
    match state.respond(&body, unix_now()) {
        Ok(Reply::Granted(der)) => der_reply(StatusCode::OK, der),
        Ok(Reply::Rejected { der, .. }) => der_reply(StatusCode::BAD_REQUEST, der),
        Err(e) => internal(&e),
    }
}

async fn cert_chain(State(state): State<Arc<TimestampAuthorityService>>) -> Response {
    match keys::pem_chain(state.chain()) {
        Ok(pem) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
            pem,
        )
            .into_response(),
        Err(e) => internal(&TsaError::Der(e)),
    }
}

/// Where the key material comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Created on first start in a data directory.
    DataDir(PathBuf),
    /// A PKCS#8 PEM key and a PEM chain (signing certificate first).
    Files { key: PathBuf, chain: PathBuf },
}

/// What `signet tsa serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub keys: KeySource,
    pub policy: ObjectIdentifier,
    /// The base URL clients reach the TSA at (default `http://<bound>`).
    pub public_url: Option<String>,
    /// Where to write the trust-root / signing-config pieces (JSON).
    pub trust_pieces_out: Option<PathBuf>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Tsa(#[from] TsaError),
    #[error("DER encoding: {0}")]
    Der(#[from] der::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Loads (or creates) the key material and builds the authority.
pub fn load_authority(
    keys: &KeySource,
    policy: ObjectIdentifier,
) -> Result<TimestampAuthorityService, ServeError> {
    let material = match keys {
        KeySource::DataDir(dir) => {
            let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
            let m = keys::load_or_create(&KeyPaths::in_dir(dir), now)?;
            if m.generated {
                eprintln!(
                    "signet-tsa: generated a new TSA key and certificate chain in {}",
                    dir.display()
                );
            }
            m
        }
        KeySource::Files { key, chain } => keys::load(key, chain)?,
    };
    let tsa = TimestampAuthorityService::new(material.signer, material.chain, policy)?;
    tsa.self_check(unix_now())?;
    Ok(tsa)
}

/// Loads the keys, binds, writes the trust pieces, and serves until
/// Ctrl-C. `on_ready` receives the bound address.
pub async fn run(opts: ServeOptions, on_ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let tsa = load_authority(&opts.keys, opts.policy)?;
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let public_url = opts.public_url.unwrap_or_else(|| format!("http://{addr}"));
    if let Some(path) = &opts.trust_pieces_out {
        let pieces = crate::trust::trust_pieces(tsa.chain(), &public_url)?;
        let json = serde_json::to_string_pretty(&pieces).map_err(std::io::Error::other)?;
        std::fs::write(path, json)?;
    }
    on_ready(addr);
    serve(listener, Arc::new(tsa), async {
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
