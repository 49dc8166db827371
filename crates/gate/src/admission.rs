//! The Kubernetes admission webhook: AdmissionReview v1
//! (`admission.k8s.io/v1`) over TLS.
//!
//! - `POST /validate`: allowed when every image of the object passes (or
//!   only warns: the warnings go back to the client); denied with the
//!   reasons otherwise.
//! - `POST /mutate`: the same decision, and, when allowed, a JSONPatch
//!   pinning every verified image of a new object (CREATE) to its digest
//!   (`repo:tag@sha256:…`).
//! - `GET /healthz`, `GET /readyz` (a policy and trust root are loaded),
//!   `GET /metrics` (Prometheus text).
//!
//! Fail closed: an image that cannot be checked within the deadline (a
//! registry that does not answer) is a denial naming why, unless
//! `--failure-policy ignore`. Bodies above [`MAX_BODY`] are refused (413)
//! and malformed reviews are a 400.
//!
//! Reload: the policy file and the TLS certificate and key are watched
//! (their contents polled) and reloaded on SIGHUP; the new policy is
//! swapped in atomically, requests in flight finish on the one they
//! started with, and a file that fails to load leaves the old one in
//! force.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::engine::{Engine, ImageDecision, Outcome, PolicyState};
use crate::metrics::{CounterVec, Histogram};
use crate::workload;

/// Largest request body: the API server's own limit on objects (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;
/// At most this many warnings go back to the client.
const MAX_WARNINGS: usize = 16;
/// Each warning is cut to this many characters.
const MAX_WARNING_CHARS: usize = 256;
/// Concurrent connections served.
const MAX_CONNECTIONS: usize = 4096;
/// A TLS handshake or request head that takes longer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which namespaces are checked.
#[derive(Debug, Clone)]
pub struct NamespaceFilter {
    /// Globs; empty = all.
    pub include: Vec<String>,
    /// Globs, applied after `include`.
    pub exclude: Vec<String>,
}

impl Default for NamespaceFilter {
    fn default() -> Self {
        NamespaceFilter {
            include: Vec::new(),
            exclude: vec!["kube-system".into()],
        }
    }
}

impl NamespaceFilter {
    pub fn checks(&self, namespace: &str) -> bool {
        (self.include.is_empty() || crate::glob_any(&self.include, namespace))
            && !crate::glob_any(&self.exclude, namespace)
    }
}

/// Counters of the server itself (the engine has its own).
#[derive(Default)]
pub struct ServerMetrics {
    /// `endpoint`, `allowed` (`true`|`false`|`invalid`).
    pub requests: CounterVec,
    pub latency: Histogram,
    /// `result` (`ok`|`error`).
    pub reloads: CounterVec,
}

/// Everything the handlers share.
pub struct AdmissionState {
    pub engine: Arc<Engine>,
    pub namespaces: NamespaceFilter,
    /// Per-request deadline for all of its images.
    pub timeout: Duration,
    /// Slots for uncached verifications (registry calls on the blocking
    /// pool). A verification keeps its slot until it ends, even after its
    /// request's deadline has passed, so that a flood of new images cannot
    /// pile up unbounded work behind answered requests.
    pub verifications: Arc<tokio::sync::Semaphore>,
    pub max_verifications: usize,
    pub metrics: ServerMetrics,
    pub ready: AtomicBool,
}

impl AdmissionState {
    pub fn new(
        engine: Arc<Engine>,
        namespaces: NamespaceFilter,
        timeout: Duration,
        max_verifications: usize,
    ) -> Self {
        let max_verifications = max_verifications.max(1);
        AdmissionState {
            engine,
            namespaces,
            timeout,
            verifications: Arc::new(tokio::sync::Semaphore::new(max_verifications)),
            max_verifications,
            metrics: ServerMetrics::default(),
            ready: AtomicBool::new(true),
        }
    }

    /// The Prometheus text exposition.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        self.engine.metrics.decisions.render(
            &mut out,
            "signet_admission_decisions_total",
            "Image decisions by outcome.",
            "counter",
        );
        self.engine.metrics.cache.render(
            &mut out,
            "signet_admission_cache_total",
            "Decision and tag-resolution cache lookups by result.",
            "counter",
        );
        self.metrics.requests.render(
            &mut out,
            "signet_admission_requests_total",
            "AdmissionReviews answered, by endpoint and whether allowed.",
            "counter",
        );
        self.metrics.latency.render(
            &mut out,
            "signet_admission_request_duration_seconds",
            "Time to answer an AdmissionReview.",
        );
        self.metrics.reloads.render(
            &mut out,
            "signet_admission_reloads_total",
            "Policy and certificate reloads by result.",
            "counter",
        );
        let policy = self.engine.policy();
        out.push_str("# HELP signet_admission_policy_info The policy in force.\n");
        out.push_str("# TYPE signet_admission_policy_info gauge\n");
        out.push_str(&format!(
            "signet_admission_policy_info{{version=\"{}\"}} 1\n",
            policy.version.replace(['\\', '"', '\n'], "_")
        ));
        out
    }
}

/// The routes.
pub fn router(state: Arc<AdmissionState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AdmissionState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        let version = state.engine.policy().version.clone();
        Json(json!({"ready": true, "policyVersion": version})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false})),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<AdmissionState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.render_metrics(),
    )
        .into_response()
}

async fn validate(
    State(state): State<Arc<AdmissionState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    review(state, body, false).await
}

async fn mutate(
    State(state): State<Arc<AdmissionState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    review(state, body, true).await
}

fn bad_request(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// A parsed AdmissionReview request.
struct ReviewRequest {
    uid: String,
    operation: String,
    namespace: String,
    object: Value,
    /// The object before an UPDATE (null otherwise).
    old_object: Value,
}

fn parse_review(body: &[u8]) -> Result<ReviewRequest, String> {
    let review: Value =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON AdmissionReview: {e}"))?;
    if review.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1") {
        return Err("apiVersion must be admission.k8s.io/v1".into());
    }
    if review.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
        return Err("kind must be AdmissionReview".into());
    }
    let request = review
        .get("request")
        .filter(|r| r.is_object())
        .ok_or("the review has no request")?;
    let uid = request
        .get("uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty() && u.len() <= 256)
        .ok_or("the request has no uid")?
        .to_string();
    let operation = request
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("CREATE")
        .to_string();
    let object = request.get("object").cloned().unwrap_or(Value::Null);
    if !(object.is_null() || object.is_object()) {
        return Err("request.object is not an object".into());
    }
    let old_object = request.get("oldObject").cloned().unwrap_or(Value::Null);
    if !(old_object.is_null() || old_object.is_object()) {
        return Err("request.oldObject is not an object".into());
    }
    let namespace = request
        .get("namespace")
        .and_then(Value::as_str)
        .or_else(|| {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
        })
        .unwrap_or_default()
        .to_string();
    Ok(ReviewRequest {
        uid,
        operation,
        namespace,
        object,
        old_object,
    })
}

async fn review(
    state: Arc<AdmissionState>,
    body: Result<Bytes, BytesRejection>,
    mutate: bool,
) -> Response {
    let started = Instant::now();
    let endpoint = if mutate { "mutate" } else { "validate" };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            state
                .metrics
                .requests
                .inc(&[("endpoint", endpoint), ("allowed", "invalid")]);
            return bad_request(e.status(), e.body_text());
        }
    };
    let request = match parse_review(&body) {
        Ok(r) => r,
        Err(e) => {
            state
                .metrics
                .requests
                .inc(&[("endpoint", endpoint), ("allowed", "invalid")]);
            return bad_request(StatusCode::BAD_REQUEST, e);
        }
    };
    let response = answer(&state, &request, mutate).await;
    let allowed = response
        .get("allowed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    state.metrics.requests.inc(&[
        ("endpoint", endpoint),
        ("allowed", if allowed { "true" } else { "false" }),
    ]);
    state.metrics.latency.observe(started.elapsed());
    Json(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    }))
    .into_response()
}

enum Pending {
    Done(Box<ImageDecision>),
    Task(tokio::task::JoinHandle<ImageDecision>),
}

/// Decides every distinct image of the request, within the deadline.
pub async fn decide_images(
    state: &AdmissionState,
    images: &[String],
    namespace: &str,
) -> Vec<ImageDecision> {
    let policy = state.engine.policy();
    let deadline = tokio::time::Instant::now() + state.timeout;
    let allow = state.engine.options().allow_on_error;
    // Cached and policy-only decisions are answered here; the rest go to
    // the blocking pool (registry calls), at once as far as there are free
    // verification slots.
    let tasks: Vec<_> = images
        .iter()
        .map(
            |image| match state.engine.decide_cached(&policy, image, namespace) {
                Some(d) => Pending::Done(Box::new(d)),
                None => {
                    let engine = state.engine.clone();
                    let policy = policy.clone();
                    let image = image.clone();
                    let namespace = namespace.to_string();
                    let slots = state.verifications.clone();
                    let max = state.max_verifications;
                    let timeout = state.timeout;
                    // Ends by the deadline whatever happens: waiting for a
                    // slot and the verification are both bounded by it.
                    Pending::Task(tokio::spawn(async move {
                        let Ok(Ok(slot)) =
                            tokio::time::timeout_at(deadline, slots.acquire_owned()).await
                        else {
                            return ImageDecision::error(
                                &image,
                                None,
                                format!(
                                    "busy: {max} image verifications are already running \
                                     and none ended before the deadline"
                                ),
                                allow,
                            );
                        };
                        let decided = image.clone();
                        let verification = tokio::task::spawn_blocking(move || {
                            let _slot = slot;
                            engine.decide(&policy, &decided, &namespace)
                        });
                        match tokio::time::timeout_at(deadline, verification).await {
                            Ok(Ok(d)) => d,
                            Ok(Err(e)) => ImageDecision::error(
                                &image,
                                None,
                                format!("internal error: {e}"),
                                allow,
                            ),
                            Err(_) => ImageDecision::error(
                                &image,
                                None,
                                format!(
                                    "no answer from the registry within the {}s deadline",
                                    timeout.as_secs_f64()
                                ),
                                allow,
                            ),
                        }
                    }))
                }
            },
        )
        .collect();
    let mut out = Vec::with_capacity(images.len());
    for (image, task) in images.iter().zip(tasks) {
        let task = match task {
            Pending::Task(task) => task,
            Pending::Done(done) => {
                out.push(*done);
                continue;
            }
        };
        out.push(task.await.unwrap_or_else(|e| {
            ImageDecision::error(image, None, format!("internal error: {e}"), allow)
        }));
    }
    out
}

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_WARNING_CHARS {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX_WARNING_CHARS - 1).collect();
        out.push('…');
        out
    }
}

async fn answer(state: &AdmissionState, request: &ReviewRequest, mutate: bool) -> Value {
    let allow = |warnings: Vec<String>| {
        let mut r = json!({"uid": request.uid, "allowed": true});
        if !warnings.is_empty() {
            r["warnings"] = json!(warnings);
        }
        r
    };
    let deny = |message: String| {
        json!({
            "uid": request.uid,
            "allowed": false,
            "status": {"code": 403, "reason": "Forbidden", "message": message},
        })
    };
    if matches!(request.operation.as_str(), "DELETE" | "CONNECT") || request.object.is_null() {
        return allow(Vec::new());
    }
    if !request.namespace.is_empty() && !state.namespaces.checks(&request.namespace) {
        return allow(Vec::new());
    }
    let workloads = match workload::workloads(&request.object) {
        Ok(w) => w,
        Err(why) => return deny(format!("signet: {why}")),
    };
    let images: Vec<String> = workloads
        .iter()
        .flat_map(|w| w.images.iter().map(|u| u.image.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if images.is_empty() {
        return allow(Vec::new());
    }
    let decisions = decide_images(state, &images, &request.namespace).await;
    let denied: Vec<&ImageDecision> = decisions.iter().filter(|d| !d.allowed).collect();
    if !denied.is_empty() {
        let message = format!(
            "signet: {} image(s) denied: {}",
            denied.len(),
            denied
                .iter()
                .map(|d| d.summary())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        return deny(message);
    }
    let warnings: Vec<String> = decisions
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Warn | Outcome::Error))
        .take(MAX_WARNINGS)
        .map(|d| clip(&format!("signet: {}", d.summary())))
        .collect();
    let mut response = allow(warnings);
    if mutate {
        let digests: BTreeMap<String, String> = decisions
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Pass | Outcome::Warn))
            .filter_map(|d| d.digest.clone().map(|g| (d.image.clone(), g)))
            .collect();
        let mut patch = workload::pin_patch(&workloads, &digests);
        if request.operation == "UPDATE" {
            // What the kubelet pulls must be what was verified, so a new or
            // changed image (`kubectl set image`, `kubectl debug`) is pinned
            // as on CREATE; one the update leaves as it was is not (changing
            // a running container's image string restarts it).
            patch.retain(|op| {
                op["path"].as_str().is_none_or(|path| {
                    request.old_object.pointer(path) != request.object.pointer(path)
                })
            });
        }
        if !patch.is_empty() {
            let encoded = base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(&patch).unwrap_or_default());
            response["patchType"] = json!("JSONPatch");
            response["patch"] = json!(encoded);
        }
    }
    response
}

// ---------------------------------------------------------------- loading

/// The files the server runs from, reloaded together.
#[derive(Debug, Clone)]
pub struct Sources {
    pub policy: PathBuf,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
}

impl Sources {
    /// A fingerprint of the three files' contents (or read errors).
    pub fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for p in [&self.policy, &self.tls_cert, &self.tls_key] {
            match std::fs::read(p) {
                Ok(bytes) => bytes.hash(&mut h),
                Err(e) => e.kind().to_string().hash(&mut h),
            }
        }
        h.finish()
    }
}

/// A policy file, loaded.
pub fn load_policy(path: &std::path::Path) -> Result<PolicyState, String> {
    signet_policy::Policy::load(path)
        .map(PolicyState::new)
        .map_err(|e| e.to_string())
}

/// A rustls server configuration (aws-lc-rs, TLS 1.2 and 1.3, HTTP/1.1)
/// from PEM files.
pub fn load_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_pem =
        std::fs::read(cert).map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("TLS key {}: {e}", key.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("TLS certificate {}: {e:?}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "TLS certificate {}: no certificate in it",
            cert.display()
        ));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("TLS key {}: {e:?}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reloads the policy and certificate when their files change (polled
/// every `interval`) or on SIGHUP, until `stop` fires. A failed load keeps
/// what is in force and is logged and counted.
pub async fn watch(
    state: Arc<AdmissionState>,
    tls: Arc<ArcSwap<rustls::ServerConfig>>,
    sources: Sources,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut last = sources.fingerprint();
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = tokio::time::sleep(interval) => false,
            _ = hangup => true,
            _ = stop.changed() => return,
        };
        let sources2 = sources.clone();
        let now = tokio::task::spawn_blocking(move || sources2.fingerprint())
            .await
            .unwrap_or(last);
        if !forced && now == last {
            continue;
        }
        last = now;
        let sources2 = sources.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let policy = load_policy(&sources2.policy)?;
            let config = load_tls(&sources2.tls_cert, &sources2.tls_key)?;
            Ok::<_, String>((policy, config))
        })
        .await
        .unwrap_or_else(|e| Err(format!("reload task failed: {e}")));
        match loaded {
            Ok((policy, config)) => {
                let version = policy.version.clone();
                state.engine.set_policy(policy);
                tls.store(config);
                state.metrics.reloads.inc(&[("result", "ok")]);
                eprintln!("signet admission: reloaded (policy version {version})");
            }
            Err(e) => {
                state.metrics.reloads.inc(&[("result", "error")]);
                eprintln!("signet admission: reload failed, keeping the previous policy: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------- serving

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then
/// stops accepting and waits (up to `drain`) for requests in flight.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ArcSwap<rustls::ServerConfig>>,
    router: Router,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    eprintln!("signet admission: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.load_full());
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                _ => return,
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(drain, graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_filter() {
        let f = NamespaceFilter::default();
        assert!(f.checks("default"));
        assert!(!f.checks("kube-system"));
        let f = NamespaceFilter {
            include: vec!["prod-*".into()],
            exclude: vec!["prod-sandbox".into()],
        };
        assert!(f.checks("prod-eu"));
        assert!(!f.checks("prod-sandbox"));
        assert!(!f.checks("dev"));
    }

    #[test]
    fn malformed_reviews() {
        for body in [
            &b"not json"[..],
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1"}}"#,
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"object":{}}}"#,
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","object":[1]}}"#,
        ] {
            assert!(parse_review(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let ok = parse_review(
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE","object":{"metadata":{"namespace":"team"}}}}"#,
        )
        .unwrap();
        assert_eq!(ok.uid, "u1");
        assert_eq!(ok.namespace, "team");
    }

    #[test]
    fn warnings_are_clipped() {
        let long = "x".repeat(1000);
        assert_eq!(clip(&long).chars().count(), MAX_WARNING_CHARS);
        assert_eq!(clip("short"), "short");
    }
}
