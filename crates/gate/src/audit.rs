//! Images running in a cluster: pods listed through a kubeconfig
//! (`GET /api/v1/pods`, all namespaces, paged), the alert sent about
//! non-compliant ones, and the gauges about them.
//!
//! The kubeconfig's current context (or the one named) gives the server,
//! its CA (`certificate-authority[-data]`), and the credential: a bearer
//! token (`token`, `tokenFile`), a client certificate
//! (`client-certificate[-data]` + `client-key[-data]`), or one of these
//! from an exec credential plugin ([`crate::kube_exec`]). Legacy
//! auth-provider plugins are not run. Plain HTTP is refused except to a
//! loopback server. Tokens are never printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::{ImageDecision, Outcome};
use crate::workload;

/// Largest page of pods read.
const MAX_PAGE_BYTES: u64 = 64 * 1024 * 1024;
/// Most pages followed.
const MAX_PAGES: usize = 1000;
/// Pods asked for per page.
const PAGE_SIZE: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("Kubernetes API: {0}")]
    Api(String),
}

/// One container of one running pod.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Running {
    pub namespace: String,
    /// `Pod/NAME` (or the manifest workload's id).
    pub workload: String,
    pub container: String,
    /// The image as the pod spec names it.
    pub image: String,
    /// The digest the node actually runs (from the container status'
    /// `imageID`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_digest: Option<String>,
}

impl Running {
    /// What to verify: the running digest when known (pinned onto the
    /// image as written), else the image.
    pub fn reference(&self) -> String {
        match &self.running_digest {
            Some(d) => workload::pinned(&self.image, d).unwrap_or_else(|| self.image.clone()),
            None => self.image.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct KubeConfig {
    #[serde(default)]
    clusters: Vec<Named<ClusterEntry>>,
    #[serde(default)]
    users: Vec<Named<UserEntry>>,
    #[serde(default)]
    contexts: Vec<Named<ContextEntry>>,
    #[serde(rename = "current-context", default)]
    current_context: String,
}

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterEntry {
    server: String,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
    exec: Option<crate::kube_exec::ExecConfig>,
    auth_provider: Option<serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct ContextEntry {
    cluster: String,
    #[serde(default)]
    user: String,
}

/// A Kubernetes API client from a kubeconfig.
pub struct KubeClient {
    server: String,
    token: Option<String>,
    client: reqwest::blocking::Client,
}

impl std::fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeClient")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// The default kubeconfig: `$KUBECONFIG` (its first entry), else
/// `~/.kube/config`.
pub fn default_kubeconfig() -> Option<PathBuf> {
    if let Some(k) = std::env::var_os("KUBECONFIG").filter(|k| !k.is_empty()) {
        return std::env::split_paths(&k).next();
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config"))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

impl KubeClient {
    /// A client for `context` (default: the current one) of `path`.
    pub fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<KubeClient, AuditError> {
        let err = |reason: String| AuditError::Kubeconfig {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let config: KubeConfig =
            serde_yaml::from_str(&text).map_err(|e| err(format!("not a kubeconfig: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let file = |p: &str| -> Result<Vec<u8>, AuditError> {
            let p = base.join(p);
            std::fs::read(&p).map_err(|e| err(format!("{}: {e}", p.display())))
        };
        let data = |d: &str| -> Result<Vec<u8>, AuditError> {
            base64::engine::general_purpose::STANDARD
                .decode(d.trim())
                .map_err(|e| err(format!("bad base64 data: {e}")))
        };
        let name = context.unwrap_or(&config.current_context);
        let ctx = config
            .contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| err(format!("no context {name:?}")))?;
        let cluster = config
            .clusters
            .iter()
            .find(|c| c.name == ctx.value.cluster)
            .ok_or_else(|| err(format!("no cluster {:?}", ctx.value.cluster)))?;
        let user = config.users.iter().find(|u| u.name == ctx.value.user);
        let server = cluster.value.server.trim_end_matches('/').to_string();
        let url = url::Url::parse(&server).map_err(|e| err(format!("server {server:?}: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => {
                return Err(err(format!(
                    "server {server:?}: only https (or http to a loopback address)"
                )))
            }
        }
        if cluster.value.insecure_skip_tls_verify {
            return Err(err(
                "insecure-skip-tls-verify is not supported: give the cluster's CA".into(),
            ));
        }
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        let ca = match (
            &cluster.value.certificate_authority_data,
            &cluster.value.certificate_authority,
        ) {
            (Some(d), _) => Some(data(d)?),
            (None, Some(p)) => Some(file(p)?),
            _ => None,
        };
        if let Some(pem) = &ca {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| err(format!("cluster CA: {e}")))?;
            // The cluster's CA only: a public CA has no business here.
            builder = builder.tls_certs_only(certs);
        }
        let mut token = None;
        if let Some(u) = user {
            let u = &u.value;
            let static_credential = u.token.is_some()
                || u.token_file.is_some()
                || u.client_key_data.is_some()
                || u.client_key.is_some();
            if u.auth_provider.is_some() && u.exec.is_none() && !static_credential {
                return Err(err(
                    "auth-provider plugins are not run: use an exec plugin, a token or a client certificate".into(),
                ));
            }
            token = match (&u.token, &u.token_file) {
                (Some(t), _) => Some(t.trim().to_string()),
                (None, Some(f)) => Some(String::from_utf8_lossy(&file(f)?).trim().to_string()),
                _ => None,
            };
            let mut cert = match (&u.client_certificate_data, &u.client_certificate) {
                (Some(d), _) => Some(data(d)?),
                (None, Some(p)) => Some(file(p)?),
                _ => None,
            };
            let mut key = match (&u.client_key_data, &u.client_key) {
                (Some(d), _) => Some(data(d)?),
                (None, Some(p)) => Some(file(p)?),
                _ => None,
            };
            // A credential written in the kubeconfig wins over its plugin.
            if let (Some(exec), false) = (&u.exec, static_credential) {
                let cluster_info = crate::kube_exec::ClusterInfo {
                    server: &server,
                    certificate_authority_data: ca.as_deref(),
                };
                match crate::kube_exec::run(exec, base, &cluster_info).map_err(err)? {
                    crate::kube_exec::Credential::Token(t) => token = Some(t),
                    crate::kube_exec::Credential::ClientCertificate { cert: c, key: k } => {
                        cert = Some(c);
                        key = Some(k);
                    }
                }
            }
            if let (Some(mut cert), Some(key)) = (cert, key) {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                let identity = reqwest::Identity::from_pem(&cert)
                    .map_err(|e| err(format!("client certificate: {e}")))?;
                builder = builder.identity(identity);
            }
        }
        let client = builder
            .build()
            .map_err(|e| err(format!("HTTP client: {e}")))?;
        Ok(KubeClient {
            server,
            token,
            client,
        })
    }

    fn get(&self, path_and_query: &str) -> Result<Value, AuditError> {
        let mut request = self.client.get(format!("{}{path_and_query}", self.server));
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        let response = request
            .header("accept", "application/json")
            .send()
            .map_err(|e| AuditError::Api(format!("GET {path_and_query}: {e}")))?;
        let status = response.status();
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(response, MAX_PAGE_BYTES + 1),
            &mut body,
        )
        .map_err(|e| AuditError::Api(format!("GET {path_and_query}: {e}")))?;
        if body.len() as u64 > MAX_PAGE_BYTES {
            return Err(AuditError::Api(format!(
                "GET {path_and_query}: answer larger than {MAX_PAGE_BYTES} bytes"
            )));
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_default();
            return Err(AuditError::Api(format!(
                "GET {path_and_query}: {status} {message}"
            )));
        }
        serde_json::from_slice(&body)
            .map_err(|e| AuditError::Api(format!("GET {path_and_query}: not JSON: {e}")))
    }

    /// Every container of every pod in every namespace.
    pub fn running_images(&self) -> Result<Vec<Running>, AuditError> {
        let mut out = Vec::new();
        let mut cont: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut path = format!("/api/v1/pods?limit={PAGE_SIZE}");
            if let Some(c) = &cont {
                path.push_str("&continue=");
                path.push_str(
                    &url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>(),
                );
            }
            let page = self.get(&path)?;
            for pod in page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                out.extend(pod_images(pod));
            }
            cont = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if cont.is_none() {
                return Ok(out);
            }
        }
        Err(AuditError::Api(format!(
            "more than {MAX_PAGES} pages of pods"
        )))
    }
}

/// The containers of one pod object, with their running digests.
pub fn pod_images(pod: &Value) -> Vec<Running> {
    let mut pod = pod.clone();
    // List items carry no kind.
    pod["kind"] = json!("Pod");
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    for field in [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ] {
        for s in pod["status"][field]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if let (Some(name), Some(id)) = (s["name"].as_str(), s["imageID"].as_str()) {
                if let Some((_, d)) = id.rsplit_once('@') {
                    if d.starts_with("sha256:") && d.len() == 71 {
                        digests.insert(name.to_string(), d.to_string());
                    }
                }
            }
        }
    }
    // A Pod is no List: there is no nesting to refuse.
    workload::workloads(&pod)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|w| {
            let id = format!("Pod/{}", w.name);
            let namespace = namespace.clone();
            let digests = &digests;
            w.images
                .into_iter()
                .map(move |u| Running {
                    namespace: namespace.clone(),
                    workload: id.clone(),
                    running_digest: digests.get(&u.container).cloned(),
                    container: u.container,
                    image: u.image,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One finding: a running image and its decision.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    #[serde(flatten)]
    pub running: Running,
    pub decision: ImageDecision,
}

impl Finding {
    /// Not compliant: denied, or only warned about, or not checkable.
    pub fn non_compliant(&self) -> bool {
        !self.decision.allowed || self.decision.outcome == Outcome::Warn
    }
}

/// The gauges: distinct images by outcome, and running containers by
/// outcome, as Prometheus text.
pub fn render_gauges(findings: &[Finding], timestamp: u64) -> String {
    let mut images: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    let mut containers: BTreeMap<&str, u64> = BTreeMap::new();
    for o in Outcome::ALL {
        images.entry(o.as_str()).or_default();
        containers.entry(o.as_str()).or_insert(0);
    }
    for f in findings {
        let o = f.decision.outcome.as_str();
        images
            .entry(o)
            .or_default()
            .insert(f.decision.image.as_str());
        *containers.entry(o).or_insert(0) += 1;
    }
    let mut out = String::new();
    out.push_str("# HELP signet_audit_images Distinct running images by policy outcome.\n");
    out.push_str("# TYPE signet_audit_images gauge\n");
    for (o, set) in &images {
        out.push_str(&format!(
            "signet_audit_images{{outcome=\"{o}\"}} {}\n",
            set.len()
        ));
    }
    out.push_str("# HELP signet_audit_containers Running containers by policy outcome.\n");
    out.push_str("# TYPE signet_audit_containers gauge\n");
    for (o, n) in &containers {
        out.push_str(&format!("signet_audit_containers{{outcome=\"{o}\"}} {n}\n"));
    }
    out.push_str("# HELP signet_audit_last_run_timestamp_seconds When the last audit finished.\n");
    out.push_str("# TYPE signet_audit_last_run_timestamp_seconds gauge\n");
    out.push_str(&format!(
        "signet_audit_last_run_timestamp_seconds {timestamp}\n"
    ));
    out
}

/// Gauges of whether the audits run: `signet_audit_last_run_ok` (1 when
/// the latest audit, and its publishing, succeeded; the image and
/// container gauges are then that audit's, else the last successful one's)
/// and `signet_audit_failed_runs_total`. Without them a failing audit
/// would go on showing its last, perhaps all-compliant, counts.
pub fn render_run_status(last_ok: bool, failed_runs: u64) -> String {
    format!(
        "# HELP signet_audit_last_run_ok Whether the latest audit succeeded (1) or failed (0).\n\
         # TYPE signet_audit_last_run_ok gauge\n\
         signet_audit_last_run_ok {}\n\
         # HELP signet_audit_failed_runs_total Audits that failed (listing, verifying or publishing).\n\
         # TYPE signet_audit_failed_runs_total counter\n\
         signet_audit_failed_runs_total {failed_runs}\n",
        u8::from(last_ok)
    )
}

/// The alert about non-compliant images in `production` namespaces, or
/// `None` when there is none.
pub fn alert(findings: &[Finding], production: &[String]) -> Option<Value> {
    let hits: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.non_compliant() && crate::glob_any(production, &f.running.namespace))
        .collect();
    if hits.is_empty() {
        return None;
    }
    let lines: Vec<String> = hits
        .iter()
        .map(|f| {
            format!(
                "{}/{} container {}: {}",
                f.running.namespace,
                f.running.workload,
                f.running.container,
                f.decision.summary()
            )
        })
        .collect();
    Some(json!({
        "source": "signet audit",
        "severity": "critical",
        "summary": format!("{} non-compliant container(s) running in production namespaces", hits.len()),
        "text": lines.join("\n"),
        "findings": hits,
    }))
}

/// POSTs `alert` as JSON to `url` (bounded: 10 s).
pub fn send_alert(url: &str, alert: &Value) -> Result<(), String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(alert.to_string())
        .send()
        .map_err(|e| format!("alert webhook: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("alert webhook answered {}", response.status()))
    }
}

/// Serves `gauges` (Prometheus text, replaced by the caller after each
/// audit) at `GET /metrics` over plain HTTP.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    gauges: std::sync::Arc<std::sync::Mutex<String>>,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = gauges.lock().map(|g| g.clone()).unwrap_or_default();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        text,
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_and_running_digests() {
        let d = format!("sha256:{}", "b".repeat(64));
        let pod = json!({
            "metadata": {"name": "web-1", "namespace": "prod"},
            "spec": {"containers": [{"name": "web", "image": "r/web:1"}],
                     "initContainers": [{"name": "init", "image": "r/init:1"}]},
            "status": {"containerStatuses": [{"name": "web", "imageID": format!("docker-pullable://r/web@{d}")}]}
        });
        let found = pod_images(&pod);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].workload, "Pod/web-1");
        assert_eq!(found[0].reference(), format!("r/web:1@{d}"));
        assert_eq!(found[1].reference(), "r/init:1");
    }

    #[test]
    fn alerts_only_for_production() {
        let f = |ns: &str, allowed: bool| Finding {
            running: Running {
                namespace: ns.into(),
                workload: "Pod/p".into(),
                container: "c".into(),
                image: "r/a:1".into(),
                running_digest: None,
            },
            decision: ImageDecision::error("r/a:1", None, "x".into(), allowed),
        };
        let prod = vec!["prod*".to_string(), "production*".to_string()];
        assert!(alert(&[f("dev", false)], &prod).is_none());
        let a = alert(&[f("dev", false), f("prod-eu", false)], &prod).unwrap();
        assert_eq!(a["findings"].as_array().unwrap().len(), 1);
        let g = render_gauges(&[f("prod", false)], 7);
        assert!(g.contains("signet_audit_images{outcome=\"error\"} 1\n"));
        assert!(g.contains("signet_audit_images{outcome=\"pass\"} 0\n"));
    }

    /// A one-context kubeconfig at `path`: cluster `server`, user `user`
    /// (a YAML flow mapping).
    fn write_kubeconfig(path: &Path, server: &str, user: &str) {
        std::fs::write(
            path,
            format!("apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {{cluster: k, user: u}}\nclusters:\n- name: k\n  cluster: {{server: \"{server}\"}}\nusers:\n- name: u\n  user: {user}\n"),
        )
        .unwrap();
    }

    #[test]
    fn kubeconfig_exec_plugins_give_the_credential() {
        let dir = tempfile::tempdir().unwrap();
        crate::kube_exec::tests::plugin(
            dir.path(),
            "get-token",
            r#"printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"from-plugin"}}'"#,
        );
        let path = dir.path().join("config");
        let write = |user: &str| write_kubeconfig(&path, "https://127.0.0.1:6443", user);
        write("{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./get-token}}");
        let c = KubeClient::from_kubeconfig(&path, None).unwrap();
        assert_eq!(c.token.as_deref(), Some("from-plugin"));
        assert!(!format!("{c:?}").contains("from-plugin"));
        // A token written in the kubeconfig wins over the plugin.
        write("{token: written, exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./get-token}}");
        let c = KubeClient::from_kubeconfig(&path, None).unwrap();
        assert_eq!(c.token.as_deref(), Some("written"));
        // A failing plugin fails the kubeconfig, naming the plugin.
        write("{exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/false}}");
        let e = KubeClient::from_kubeconfig(&path, None).unwrap_err();
        assert!(e.to_string().contains("/bin/false"), "{e}");
        // Legacy auth providers are still not run.
        write("{auth-provider: {name: gcp}}");
        let e = KubeClient::from_kubeconfig(&path, None).unwrap_err();
        assert!(e.to_string().contains("auth-provider"), "{e}");
    }

    #[test]
    fn kubeconfig_refuses_plain_http_to_remote_servers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let write = |server: &str| write_kubeconfig(&path, server, "{token: secret-token}");
        write("http://example.com");
        assert!(KubeClient::from_kubeconfig(&path, None).is_err());
        write("http://127.0.0.1:6443");
        let c = KubeClient::from_kubeconfig(&path, None).unwrap();
        assert!(!format!("{c:?}").contains("secret-token"));
        assert!(KubeClient::from_kubeconfig(&path, Some("other")).is_err());
    }
}
