//! `signet audit`: which running (or about to run) images do not comply
//! with the policy. Images come from the Kubernetes API through a
//! kubeconfig (the default), from manifests (`--manifests PATH`), or from
//! a list (`--images FILE`: `IMAGE` or `NAMESPACE IMAGE` per line); each
//! distinct (image, namespace) is verified once. For running pods the
//! digest the node runs (the container status' `imageID`) is what is
//! verified.
//!
//! `--metrics-file` writes Prometheus gauges (`signet_audit_images{outcome}`)
//! for node_exporter's textfile collector; `--serve-metrics ADDR` serves
//! them and audits again every `--interval`. `--alert-webhook URL` POSTs a
//! JSON alert when a non-compliant image runs in a namespace matching
//! `--production-namespaces`.
//!
//! Exit status (one-shot): 0 all compliant, 1 something denied or warned
//! about, 2 bad usage, 3 a registry or Kubernetes API error.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use serde_json::json;
use signet_gate::audit::{self, Finding, KubeClient, Running};
use signet_gate::engine::{Engine, Outcome};

use crate::manifests_cmd::{self, Stop, EXIT_DENIED, EXIT_REGISTRY, EXIT_USAGE};
use crate::oci_cmd::RegistryArgs;
use crate::trust_source::TrustArgs;

/// Most lines read from `--images`.
const MAX_IMAGE_LINES: usize = 100_000;

#[derive(Args)]
pub struct AuditArgs {
    /// The policy file.
    #[arg(long)]
    policy: PathBuf,
    /// Audit the pods of a cluster through this kubeconfig (default:
    /// $KUBECONFIG, else ~/.kube/config), when neither --manifests nor
    /// --images is given or when this flag is.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long)]
    context: Option<String>,
    /// Audit the workloads of these manifests (file or directory).
    #[arg(long)]
    manifests: Option<String>,
    /// Audit the images listed in FILE (`IMAGE` or `NAMESPACE IMAGE` per
    /// line, `#` comments).
    #[arg(long)]
    images: Option<PathBuf>,
    /// The namespace of images that name none.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
    /// Write Prometheus gauges to FILE (atomically).
    #[arg(long)]
    metrics_file: Option<PathBuf>,
    /// Serve the gauges at http://ADDR/metrics and audit again every
    /// --interval (runs until stopped).
    #[arg(long)]
    serve_metrics: Option<SocketAddr>,
    /// How often --serve-metrics audits.
    #[arg(long, default_value = "5m", value_parser = signet_gate::parse_duration)]
    interval: Duration,
    /// POST a JSON alert here when a non-compliant image runs in a
    /// production namespace.
    #[arg(long)]
    alert_webhook: Option<String>,
    /// Which namespaces are production (comma-separated globs).
    #[arg(long, default_value = "prod*,production*")]
    production_namespaces: String,
    /// Images verified at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: AuditArgs) -> ExitCode {
    let result = (|| {
        let engine = manifests_cmd::engine(&args.policy, &args.trust, &args.registry)?;
        match args.serve_metrics {
            None => once(&args, &engine),
            Some(addr) => serve(&args, engine, addr),
        }
    })();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Stop(code, message)) => {
            eprintln!("signet: audit: {message}");
            ExitCode::from(code)
        }
    }
}

fn gather(args: &AuditArgs) -> Result<Vec<Running>, Stop> {
    let mut running = Vec::new();
    let from_kube =
        args.kubeconfig.is_some() || (args.manifests.is_none() && args.images.is_none());
    if from_kube {
        let path = args
            .kubeconfig
            .clone()
            .or_else(audit::default_kubeconfig)
            .ok_or_else(|| Stop(EXIT_USAGE, "no kubeconfig: give --kubeconfig".into()))?;
        let client = KubeClient::from_kubeconfig(&path, args.context.as_deref())
            .map_err(|e| Stop(EXIT_USAGE, e.to_string()))?;
        running.extend(
            client
                .running_images()
                .map_err(|e| Stop(EXIT_REGISTRY, e.to_string()))?,
        );
    }
    if let Some(path) = &args.manifests {
        for (file, m) in manifests_cmd::read_manifests(path)? {
            for (_, w) in &m.workloads {
                for u in &w.images {
                    running.push(Running {
                        namespace: w
                            .namespace
                            .clone()
                            .unwrap_or_else(|| args.namespace.clone()),
                        workload: format!("{file}: {}/{}", w.kind, w.name),
                        container: u.container.clone(),
                        image: u.image.clone(),
                        running_digest: None,
                    });
                }
            }
        }
    }
    if let Some(path) = &args.images {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Stop(EXIT_USAGE, format!("cannot read {}: {e}", path.display())))?;
        for (n, line) in text.lines().enumerate().take(MAX_IMAGE_LINES) {
            let line = line.split('#').next().unwrap_or_default().trim();
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (namespace, image) = match fields.as_slice() {
                [] => continue,
                [image] => (args.namespace.as_str(), *image),
                [ns, image] => (*ns, *image),
                _ => {
                    return Err(Stop(
                        EXIT_USAGE,
                        format!(
                            "{}:{}: expected IMAGE or NAMESPACE IMAGE",
                            path.display(),
                            n + 1
                        ),
                    ))
                }
            };
            running.push(Running {
                namespace: namespace.to_string(),
                workload: format!("{}:{}", path.display(), n + 1),
                container: String::new(),
                image: image.to_string(),
                running_digest: None,
            });
        }
    }
    Ok(running)
}

fn audit_once(args: &AuditArgs, engine: &Engine) -> Result<Vec<Finding>, Stop> {
    let running = gather(args)?;
    let pairs: Vec<(String, String)> = running
        .iter()
        .map(|r| (r.reference(), r.namespace.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let decisions = engine.decide_many(&pairs, usize::from(args.concurrency));
    let findings = running
        .into_iter()
        .filter_map(|r| {
            let key = (r.reference(), r.namespace.clone());
            let i = pairs.binary_search(&key).ok()?;
            Some(Finding {
                running: r,
                decision: decisions[i].clone(),
            })
        })
        .collect();
    Ok(findings)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes the gauges and sends the alert; returns the exit code.
fn publish(args: &AuditArgs, findings: &[Finding]) -> Result<u8, Stop> {
    if let Some(path) = &args.metrics_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, audit::render_gauges(findings, now()))
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Stop(EXIT_USAGE, format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(url) = &args.alert_webhook {
        let production = signet_gate::split_globs(&args.production_namespaces);
        if let Some(alert) = audit::alert(findings, &production) {
            match audit::send_alert(url, &alert) {
                Ok(()) => eprintln!("signet: audit: alert sent"),
                Err(e) => eprintln!("signet: audit: {e}"),
            }
        }
    }
    let mut code = 0;
    for f in findings {
        if f.non_compliant() {
            code = if f.decision.outcome == Outcome::Error {
                code.max(EXIT_REGISTRY)
            } else {
                EXIT_DENIED
            };
            if code == EXIT_DENIED {
                break;
            }
        }
    }
    Ok(code)
}

fn once(args: &AuditArgs, engine: &Engine) -> Result<u8, Stop> {
    let findings = audit_once(args, engine)?;
    if args.output == "json" {
        let bad: Vec<&Finding> = findings.iter().filter(|f| f.non_compliant()).collect();
        println!(
            "{}",
            json!({
                "compliant": bad.is_empty(),
                "containers": findings.len(),
                "nonCompliant": bad,
                "findings": findings,
            })
        );
    } else {
        for f in &findings {
            let line = format!(
                "{}/{} container {}: {}",
                f.running.namespace,
                f.running.workload,
                f.running.container,
                f.decision.summary()
            );
            if f.non_compliant() {
                println!("NON-COMPLIANT {line}");
            } else {
                println!("ok {line}");
            }
        }
        let bad = findings.iter().filter(|f| f.non_compliant()).count();
        println!(
            "{} container(s) audited, {bad} non-compliant",
            findings.len()
        );
    }
    publish(args, &findings)
}

fn serve(args: &AuditArgs, engine: Engine, addr: SocketAddr) -> Result<u8, Stop> {
    let gauges = Arc::new(Mutex::new(audit::render_gauges(&[], 0)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Stop(EXIT_USAGE, format!("runtime: {e}")))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| Stop(EXIT_USAGE, format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Stop(EXIT_USAGE, e.to_string()))?;
    eprintln!(
        "signet: audit: serving http://{local}/metrics, auditing every {:?}",
        args.interval
    );
    let served = gauges.clone();
    runtime.spawn(async move {
        if let Err(e) = audit::serve_metrics(listener, served).await {
            eprintln!("signet: audit: metrics server: {e}");
        }
    });
    let (mut counts, mut failed_runs) = (String::new(), 0u64);
    loop {
        let ok = match audit_once(args, &engine) {
            Ok(findings) => {
                let bad = findings.iter().filter(|f| f.non_compliant()).count();
                eprintln!(
                    "signet: audit: {} container(s), {bad} non-compliant",
                    findings.len()
                );
                counts = audit::render_gauges(&findings, now());
                match publish(args, &findings) {
                    Ok(_) => true,
                    Err(Stop(_, message)) => {
                        eprintln!("signet: audit: {message}");
                        false
                    }
                }
            }
            Err(Stop(_, message)) => {
                eprintln!("signet: audit: {message}");
                false
            }
        };
        failed_runs += u64::from(!ok);
        if let Ok(mut g) = gauges.lock() {
            *g = format!("{counts}{}", audit::render_run_status(ok, failed_runs));
        }
        std::thread::sleep(args.interval.max(Duration::from_secs(1)));
    }
}
