//! `signet admission serve`: the Kubernetes admission webhook (see
//! `signet_gate::admission`).
//!
//! Exit status: 0 after a clean stop (SIGTERM/Ctrl-C, requests in flight
//! finished), 2 bad usage or a policy, certificate or trust root that does
//! not load.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use clap::{Args, Subcommand};
use signet_gate::admission::{self, AdmissionState, NamespaceFilter, Sources};
use signet_gate::engine::{Engine, EngineOptions};

use crate::oci_cmd::RegistryArgs;
use crate::trust_source::TrustArgs;

#[derive(Subcommand)]
pub enum AdmissionCommand {
    /// Serve the validating (/validate) and mutating (/mutate) webhook
    /// over TLS.
    Serve(ServeArgs),
}

fn duration(text: &str) -> Result<Duration, String> {
    signet_gate::parse_duration(text)
}

#[derive(Args)]
pub struct ServeArgs {
    /// The policy file (watched: a change is loaded without a restart, as
    /// on SIGHUP).
    #[arg(long)]
    policy: PathBuf,
    /// PEM certificate chain served (reloaded with the policy).
    #[arg(long)]
    tls_cert: PathBuf,
    /// PEM private key of the certificate.
    #[arg(long)]
    tls_key: PathBuf,
    /// Address to listen on (`0.0.0.0:8443` in a pod).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// How long a decision for (policy version, namespace, repository,
    /// digest) is reused; 0 disables the cache.
    #[arg(long, default_value = "5m", value_parser = duration)]
    cache_ttl: Duration,
    /// How long a tag's digest is reused; 0 resolves every time.
    #[arg(long, default_value = "30s", value_parser = duration)]
    resolve_ttl: Duration,
    /// Deadline for one review, below the API server's 10 s webhook
    /// timeout: an image not decided by then is denied (or allowed with
    /// --failure-policy ignore).
    #[arg(long, default_value = "8s", value_parser = duration)]
    timeout: Duration,
    /// What an image that cannot be checked (registry down, deadline)
    /// gets: `fail` denies it, `ignore` admits it with a warning.
    #[arg(long, default_value = "fail", value_parser = ["fail", "ignore"])]
    failure_policy: String,
    /// Only check these namespaces (comma-separated globs; default all).
    #[arg(long, value_delimiter = ',')]
    include_namespaces: Vec<String>,
    /// Never check these namespaces (comma-separated globs).
    #[arg(long, value_delimiter = ',', default_value = "kube-system")]
    exclude_namespaces: Vec<String>,
    /// Most uncached image verifications (registry calls) running at once.
    /// One keeps its slot until it ends, even past its request's deadline;
    /// an image that gets no slot before the deadline is decided as a
    /// failure (see --failure-policy).
    #[arg(long, default_value_t = 64)]
    max_verifications: usize,
    /// How often the policy and certificate files are checked for changes.
    #[arg(long, default_value = "2s", value_parser = duration)]
    reload_interval: Duration,
    /// Once listening, write `{"url": …, "port": …}` here (for scripts).
    #[arg(long)]
    ready_file: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(command: AdmissionCommand) -> ExitCode {
    match command {
        AdmissionCommand::Serve(args) => match serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("signet: admission serve: {message}");
                ExitCode::from(2)
            }
        },
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    if args.max_verifications == 0 {
        return Err("--max-verifications must be at least 1".into());
    }
    if args.timeout.is_zero() || args.timeout > Duration::from_secs(30) {
        return Err("--timeout must be above 0 and at most 30s (the API server's limit)".into());
    }
    if args.timeout >= Duration::from_secs(10) {
        eprintln!(
            "signet: admission serve: warning: --timeout {:?} is not below the API server's default 10 s webhook timeout",
            args.timeout
        );
    }
    let sources = Sources {
        policy: args.policy.clone(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
    };
    let policy = admission::load_policy(&sources.policy)?;
    let tls = admission::load_tls(&sources.tls_cert, &sources.tls_key)?;
    let verifier = crate::verify_cmd::verifier(&args.trust).map_err(|e| e.0)?;
    let registry = crate::oci_cmd::registry(&args.registry).map_err(|f| f.message)?;
    let options = EngineOptions {
        decision_ttl: args.cache_ttl,
        resolve_ttl: args.resolve_ttl,
        allow_on_error: args.failure_policy == "ignore",
    };
    let engine = Arc::new(Engine::new(
        Arc::new(registry),
        Arc::new(verifier),
        policy,
        options,
    ));
    let namespaces = NamespaceFilter {
        include: args.include_namespaces.clone(),
        exclude: args.exclude_namespaces.clone(),
    };
    let state = Arc::new(AdmissionState::new(
        engine,
        namespaces,
        args.timeout,
        args.max_verifications,
    ));
    let tls = Arc::new(ArcSwap::new(tls));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("listener: {e}"))?;
        let url = format!("https://{addr}");
        eprintln!(
            "signet admission: serving {url}/validate and {url}/mutate (policy version {})",
            state.engine.policy().version
        );
        if let Some(path) = &args.ready_file {
            let doc = serde_json::json!({"url": url, "port": addr.port()});
            std::fs::write(path, doc.to_string())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let watcher = tokio::spawn(admission::watch(
            state.clone(),
            tls.clone(),
            sources,
            args.reload_interval,
            stop_rx,
        ));
        let router = admission::router(state.clone());
        let result = admission::serve_tls(
            listener,
            tls,
            router,
            shutdown_signal(),
            Duration::from_secs(15),
        )
        .await;
        let _ = stop_tx.send(true);
        let _ = watcher.await;
        eprintln!("signet admission: stopped");
        result.map_err(|e| format!("server: {e}"))
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
