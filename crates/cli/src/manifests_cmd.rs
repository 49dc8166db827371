//! `signet verify-manifests PATH|- --policy FILE [--pin]`: the GitOps
//! gate. Every image of every workload in the manifests (a file, a
//! directory searched recursively for *.yaml, *.yml and *.json, or stdin,
//! e.g. `kustomize build | signet verify-manifests -`) is verified against
//! the policy, each distinct (image, namespace) once.
//!
//! `--pin` rewrites the files in place (stdin: prints the result), each
//! verified image pinned to its digest (`repo:tag@sha256:…`, see
//! `signet_gate::workload`), only when every image was allowed; comments
//! and formatting are kept.
//!
//! Exit status: 0 all allowed, 1 an image denied, 2 bad usage, an
//! unreadable manifest or policy, 3 a registry error (and nothing denied).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use serde_json::{json, Value};
use signet_gate::engine::{Engine, EngineOptions, ImageDecision, Outcome};
use signet_gate::workload::ManifestText;

use crate::oci_cmd::RegistryArgs;
use crate::policy_cmd;
use crate::trust_source::TrustArgs;

pub(crate) const EXIT_DENIED: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_REGISTRY: u8 = 3;

/// Largest manifest file (or stdin) read.
const MAX_MANIFEST_BYTES: u64 = 32 * 1024 * 1024;
/// Most files taken from a directory.
const MAX_FILES: usize = 10_000;

#[derive(Args)]
pub struct VerifyManifestsArgs {
    /// A manifest file, a directory (recursive: *.yaml, *.yml, *.json), or
    /// `-` for stdin.
    path: String,
    /// The policy file.
    #[arg(long)]
    policy: PathBuf,
    /// Rewrite the manifests with every image pinned to its verified
    /// digest (stdin: print them), when all images were allowed.
    #[arg(long)]
    pin: bool,
    /// `text`, `json` or `sarif` (SARIF 2.1.0, for code scanning).
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif"])]
    output: String,
    /// The namespace of objects that name none.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Images verified at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// A gate's exit: a code and a message.
pub(crate) struct Stop(pub u8, pub String);

/// The engine the CLI gates share: policy, trust root and registry from
/// the flags; no decision cache (each run decides each image once).
pub(crate) fn engine(
    policy: &Path,
    trust: &TrustArgs,
    registry: &RegistryArgs,
) -> Result<Engine, Stop> {
    let policy = signet_gate::admission::load_policy(policy).map_err(|e| Stop(EXIT_USAGE, e))?;
    let verifier = crate::verify_cmd::verifier(trust).map_err(|e| Stop(EXIT_USAGE, e.0))?;
    let registry = crate::oci_cmd::registry(registry).map_err(|f| Stop(EXIT_USAGE, f.message))?;
    Ok(Engine::new(
        Arc::new(registry),
        Arc::new(verifier),
        policy,
        EngineOptions {
            decision_ttl: std::time::Duration::ZERO,
            resolve_ttl: std::time::Duration::ZERO,
            allow_on_error: false,
        },
    ))
}

/// The exit code for a set of decisions: 1 when something was denied,
/// else 3 when something could not be checked, else 0.
pub(crate) fn exit_code<'a>(decisions: impl IntoIterator<Item = &'a ImageDecision>) -> u8 {
    let mut code = 0;
    for d in decisions {
        if !d.allowed {
            if d.outcome == Outcome::Error {
                code = code.max(EXIT_REGISTRY);
            } else {
                return EXIT_DENIED;
            }
        }
    }
    code
}

fn read_bounded(reader: impl Read, what: &str) -> Result<String, Stop> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Stop(EXIT_USAGE, format!("cannot read {what}: {e}")))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(Stop(
            EXIT_USAGE,
            format!("{what} is larger than {MAX_MANIFEST_BYTES} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|_| Stop(EXIT_USAGE, format!("{what} is not UTF-8")))
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The manifest files under `root` (symlinked directories not followed),
/// sorted.
pub(crate) fn manifest_files(root: &Path) -> Result<Vec<PathBuf>, Stop> {
    let meta = std::fs::metadata(root)
        .map_err(|e| Stop(EXIT_USAGE, format!("cannot read {}: {e}", root.display())))?;
    if meta.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Stop(EXIT_USAGE, format!("cannot read {}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if (kind.is_file() || kind.is_symlink()) && is_manifest(&path) {
                out.push(path);
                if out.len() > MAX_FILES {
                    return Err(Stop(
                        EXIT_USAGE,
                        format!("more than {MAX_FILES} manifest files"),
                    ));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The manifests to check: (name, parsed text).
pub(crate) fn read_manifests(path: &str) -> Result<Vec<(String, ManifestText)>, Stop> {
    let texts: Vec<(String, String)> = if path == "-" {
        vec![(
            "<stdin>".to_string(),
            read_bounded(std::io::stdin().lock(), "stdin")?,
        )]
    } else {
        manifest_files(Path::new(path))?
            .into_iter()
            .map(|p| {
                let name = p.display().to_string();
                let file = std::fs::File::open(&p)
                    .map_err(|e| Stop(EXIT_USAGE, format!("cannot read {name}: {e}")))?;
                Ok((name.clone(), read_bounded(file, &name)?))
            })
            .collect::<Result<_, Stop>>()?
    };
    texts
        .into_iter()
        .map(|(name, text)| {
            ManifestText::parse(text)
                .map(|m| (name.clone(), m))
                .map_err(|e| Stop(EXIT_USAGE, format!("{name}: {e}")))
        })
        .collect()
}

pub fn run(args: VerifyManifestsArgs) -> ExitCode {
    match verify_manifests(&args) {
        Ok(code) => ExitCode::from(code),
        Err(Stop(code, message)) => {
            eprintln!("signet: verify-manifests: {message}");
            ExitCode::from(code)
        }
    }
}

struct Row<'a> {
    file: &'a str,
    line: Option<usize>,
    workload: String,
    container: &'a str,
    decision: &'a ImageDecision,
}

fn verify_manifests(args: &VerifyManifestsArgs) -> Result<u8, Stop> {
    let manifests = read_manifests(&args.path)?;
    let engine = engine(&args.policy, &args.trust, &args.registry)?;
    let namespace_of = |ns: &Option<String>| ns.clone().unwrap_or_else(|| args.namespace.clone());
    let pairs: Vec<(String, String)> = manifests
        .iter()
        .flat_map(|(_, m)| &m.workloads)
        .flat_map(|(_, w)| {
            w.images
                .iter()
                .map(|u| (u.image.clone(), namespace_of(&w.namespace)))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let decisions = engine.decide_many(&pairs, usize::from(args.concurrency));
    let by_pair: BTreeMap<&(String, String), &ImageDecision> =
        pairs.iter().zip(decisions.iter()).collect();
    let mut rows = Vec::new();
    for (file, m) in &manifests {
        for (doc, w) in &m.workloads {
            for u in &w.images {
                let key = (u.image.clone(), namespace_of(&w.namespace));
                if let Some(d) = by_pair.get(&key) {
                    rows.push(Row {
                        file,
                        line: m.line_of(*doc, &u.path),
                        workload: w.id(),
                        container: &u.container,
                        decision: d,
                    });
                }
            }
        }
    }
    let code = exit_code(decisions.iter());
    let pin_to_stdout = args.pin && args.path == "-" && code == 0;
    let report = match args.output.as_str() {
        "json" => json!({
            "allowed": code == 0,
            "images": decisions,
            "workloads": rows.iter().map(|r| json!({
                "file": r.file, "line": r.line, "workload": r.workload,
                "container": r.container, "image": r.decision.image,
                "outcome": r.decision.outcome, "allowed": r.decision.allowed,
                "digest": r.decision.digest,
            })).collect::<Vec<_>>(),
        })
        .to_string(),
        "sarif" => sarif(&rows).to_string(),
        _ => rows
            .iter()
            .map(|r| {
                format!(
                    "{}{}: {} container {}: {}",
                    r.file,
                    r.line.map(|l| format!(":{l}")).unwrap_or_default(),
                    r.workload,
                    r.container,
                    r.decision.summary()
                )
            })
            .chain(std::iter::once(format!(
                "{} image(s) in {} workload(s): {}",
                decisions.len(),
                rows.iter()
                    .map(|r| (r.file, r.workload.as_str()))
                    .collect::<BTreeSet<_>>()
                    .len(),
                match code {
                    0 => "all allowed",
                    EXIT_DENIED => "DENIED",
                    _ => "could not be checked (registry error)",
                }
            )))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    if pin_to_stdout {
        eprintln!("{report}");
    } else {
        println!("{report}");
    }
    if args.pin {
        if code != 0 {
            eprintln!(
                "signet: verify-manifests: --pin: nothing rewritten, not every image was allowed"
            );
            return Ok(code);
        }
        let digests: BTreeMap<String, String> = decisions
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Pass | Outcome::Warn))
            .filter_map(|d| d.digest.clone().map(|g| (d.image.clone(), g)))
            .collect();
        // Every file is pinned in memory first: one that cannot be edited
        // leaves all of them untouched.
        let mut pinned = Vec::new();
        for (file, m) in &manifests {
            let text = m
                .pin(&digests)
                .map_err(|e| Stop(EXIT_USAGE, format!("--pin: {file}: {e}")))?;
            pinned.push((file, text != m.text, text));
        }
        for (file, changed, text) in pinned {
            if pin_to_stdout {
                print!("{text}");
            } else if changed {
                write_atomically(Path::new(file), &text)
                    .map_err(|e| Stop(EXIT_USAGE, format!("--pin: cannot write {file}: {e}")))?;
                eprintln!("signet: pinned {file}");
            }
        }
    }
    Ok(code)
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn sarif(rows: &[Row<'_>]) -> Value {
    let rules = [
        ("signet/image-denied", "An image the policy denies"),
        (
            "signet/image-unchecked",
            "An image that could not be verified",
        ),
        (
            "signet/image-warning",
            "An image the policy admits with warnings",
        ),
    ];
    let results: Vec<Value> = rows
        .iter()
        .filter_map(|r| {
            let d = r.decision;
            let (rule, level) = match (d.allowed, d.outcome) {
                (false, Outcome::Error) => ("signet/image-unchecked", "error"),
                (false, _) => ("signet/image-denied", "error"),
                (true, Outcome::Warn) => ("signet/image-warning", "warning"),
                _ => return None,
            };
            Some(json!({
                "ruleId": rule,
                "level": level,
                "message": {"text": format!("{} container {}: {}", r.workload, r.container, d.summary())},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": r.file},
                    "region": {"startLine": r.line.unwrap_or(1)},
                }}],
            }))
        })
        .collect();
    let rules: Vec<Value> = rules
        .iter()
        .map(|(id, text)| json!({"id": id, "shortDescription": {"text": text}}))
        .collect();
    policy_cmd::sarif_log(json!(rules), results, None)
}
