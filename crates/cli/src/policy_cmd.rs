//! `signet policy lint|test|explain`: policy files (docs/policy.md).
//!
//! - `lint FILE`: load errors and warnings; exit 1 on any error.
//! - `test FILE --fixtures DIR`: run the policy repository's offline test
//!   cases; exit 1 if any case's expectation fails.
//! - `explain FILE IMAGE [--namespace NS]`: what applies to an image and
//!   what it would need, without fetching anything.
//!
//! Exit status 2: bad usage, an unreadable or invalid policy (for `test`
//! and `explain`), an unreadable fixtures directory or trusted root.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use signet_model::TrustedRoot;
use signet_policy::{match_rule, Decision, Match, Outcome, Policy, PolicyError, Request, Severity};

use crate::trust_source::{trusted_root_bytes, TrustArgs};

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Check a policy file: errors (exit 1) and warnings.
    Lint(LintArgs),
    /// Run a policy's offline test cases (a fixtures directory of
    /// case.yaml + signatures/*.json + attestations/*.json).
    Test(TestArgs),
    /// Show which rule applies to an image and what it requires.
    Explain(ExplainArgs),
}

#[derive(Args, Debug)]
pub struct LintArgs {
    /// The policy file.
    file: PathBuf,
    /// `text` (default) or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    /// The policy file.
    file: PathBuf,
    /// The fixtures directory: one directory per case.
    #[arg(long)]
    fixtures: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// `text` (default) or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The policy file.
    file: PathBuf,
    /// The image reference.
    image: String,
    /// The Kubernetes namespace to evaluate for.
    #[arg(long)]
    namespace: Option<String>,
}

pub fn run(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Lint(a) => lint(a),
        PolicyCommand::Test(a) => test(a),
        PolicyCommand::Explain(a) => explain(a),
    }
}

/// Prints why a policy did not load; the exit status for it.
pub(crate) fn load_failure(file: &std::path::Path, e: &PolicyError) -> ExitCode {
    for f in e.findings() {
        eprintln!("signet: {}: {f}", file.display());
    }
    ExitCode::from(EXIT_USAGE)
}

fn lint(args: LintArgs) -> ExitCode {
    let findings = match Policy::load(&args.file) {
        Ok(p) => p.lint(),
        Err(e @ PolicyError::Io { .. }) => return load_failure(&args.file, &e),
        Err(e) => e.findings(),
    };
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    if args.output == "json" {
        println!(
            "{}",
            json!({
                "file": args.file.display().to_string(),
                "errors": errors,
                "warnings": warnings,
                "findings": findings,
            })
        );
    } else {
        for f in &findings {
            println!("{}: {f}", args.file.display());
        }
        println!(
            "{}: {errors} error(s), {warnings} warning(s)",
            args.file.display()
        );
    }
    if errors > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn test(args: TestArgs) -> ExitCode {
    let policy = match Policy::load(&args.file) {
        Ok(p) => p,
        Err(e) => return load_failure(&args.file, &e),
    };
    let root = match trusted_root_bytes(&args.trust)
        .and_then(|(raw, _)| TrustedRoot::from_json(&raw).map_err(|e| format!("trusted root: {e}")))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signet: policy test: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let results = match signet_policy::fixtures::run(&policy, &args.fixtures, &root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signet: policy test: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let failed = results.iter().filter(|r| !r.ok).count();
    if args.output == "json" {
        println!(
            "{}",
            json!({
                "policy": policy.name,
                "policyVersion": policy.version(),
                "passed": results.len() - failed,
                "failed": failed,
                "cases": results,
            })
        );
    } else {
        for r in &results {
            let got = r
                .decision
                .as_ref()
                .map(|d| {
                    format!(
                        "{}{}",
                        d.outcome,
                        if d.allowed { " (allowed)" } else { " (denied)" }
                    )
                })
                .unwrap_or_else(|| "no decision".into());
            let expected = r.expect.map(|e| e.to_string()).unwrap_or_default();
            println!(
                "{} {}: expected {expected}, got {got}",
                if r.ok { "ok  " } else { "FAIL" },
                r.name
            );
            for p in &r.problems {
                println!("     ! {p}");
            }
            if let Some(d) = &r.decision {
                for reason in &d.reasons {
                    println!("       {reason}");
                }
            }
        }
        println!("{} passed, {failed} failed", results.len() - failed);
    }
    if failed > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn window(a: &signet_policy::Authority) -> String {
    let t = |x: Option<i64>| x.map(signet_policy::policy::rfc3339);
    match (t(a.not_before), t(a.not_after)) {
        (None, None) => String::new(),
        (nb, na) => format!(
            ", signed from {} until {}",
            nb.unwrap_or_else(|| "any time".into()),
            na.unwrap_or_else(|| "any time".into())
        ),
    }
}

fn explain(args: ExplainArgs) -> ExitCode {
    let policy = match Policy::load(&args.file) {
        Ok(p) => p,
        Err(e) => return load_failure(&args.file, &e),
    };
    let ns = args.namespace.as_deref();
    println!("policy {} (version {})", policy.name, policy.version());
    match match_rule(&policy, &args.image, ns) {
        Match::Exempt(e) => {
            println!(
                "{}: exempt by {}: {}{}",
                args.image,
                e.path,
                e.reason,
                e.expires
                    .map(|t| format!(" (expires {})", signet_policy::policy::rfc3339(t)))
                    .unwrap_or_default()
            );
        }
        Match::NoRule { allowed } => {
            println!(
                "{}: no rule applies; {}",
                args.image,
                if allowed {
                    "the default allows it"
                } else {
                    "denied (the default, or an invalid reference)"
                }
            );
        }
        Match::Rule(r) => {
            println!(
                "{}: rule {:?} applies (mode {:?}): {} of {} authorities must have signed it",
                args.image,
                r.name,
                r.mode,
                r.threshold,
                r.authorities.len()
            );
            for a in &r.authorities {
                println!("  authority {}: {}{}", a.name, a.description, window(a));
            }
            for att in &r.attestations {
                let by: Vec<&str> = att
                    .authorities
                    .iter()
                    .filter_map(|&i| r.authorities.get(i).map(|a| a.name.as_str()))
                    .collect();
                println!(
                    "  attestation {}: {} signed by {}{}",
                    att.name,
                    att.predicate_type,
                    by.join(" or "),
                    att.condition
                        .as_ref()
                        .map(|c| format!(", passing {}", c.name()))
                        .unwrap_or_default()
                );
            }
        }
    }
    ExitCode::SUCCESS
}

/// `signet verify --policy FILE IMAGE...`: the CI gate.
pub(crate) struct Gate<'a> {
    pub images: &'a [String],
    pub policy: &'a std::path::Path,
    pub namespace: Option<&'a str>,
    pub trust: &'a TrustArgs,
    pub registry: &'a signet_oci::Registry,
    pub output: &'a str,
    pub concurrency: usize,
}

/// Exit status when an image could not be fetched (and none was denied).
const EXIT_REGISTRY: u8 = 3;

/// One image's result: a decision, or why its material could not be had.
type GateResult = Result<Decision, String>;

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) fn gate(g: Gate<'_>) -> ExitCode {
    let policy = match Policy::load(g.policy) {
        Ok(p) => p,
        Err(e) => return load_failure(g.policy, &e),
    };
    let mut references = Vec::new();
    for image in g.images {
        match signet_oci::Reference::parse(image) {
            Ok(r) => references.push((image.clone(), r)),
            Err(e) => {
                eprintln!("signet: verify: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    let verifier = match crate::verify_cmd::verifier(g.trust) {
        Ok(v) => v,
        Err(crate::verify_cmd::UsageError(m)) => {
            eprintln!("signet: verify: {m}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let now = now_unix();
    let decide = |given: &str, reference: &signet_oci::Reference| -> GateResult {
        let request = Request {
            image: given,
            namespace: g.namespace,
        };
        if let Some(d) = signet_policy::decide_unverified(&policy, &request, now) {
            return Ok(d);
        }
        let material =
            signet_oci::verify::collect(g.registry, reference, given).map_err(|e| e.to_string())?;
        Ok(signet_policy::evaluate(
            &policy, &request, &material, &verifier, now,
        ))
    };
    let results = run_concurrently(&references, g.concurrency, &decide);

    let denied = results.iter().any(|r| matches!(r, Ok(d) if !d.allowed));
    let errors = results.iter().any(Result::is_err);
    match g.output {
        "json" => {
            let docs: Vec<serde_json::Value> = references
                .iter()
                .zip(&results)
                .map(|((given, _), r)| match r {
                    Ok(d) => serde_json::to_value(d).unwrap_or_default(),
                    Err(e) => json!({
                        "image": given, "allowed": false, "outcome": "error",
                        "failure": "registry", "reasons": [format!("registry: {e}")],
                    }),
                })
                .collect();
            println!("{}", serde_json::Value::Array(docs));
        }
        "sarif" => println!("{}", sarif(&policy, g.policy, &references, &results)),
        _ => {}
    }
    // The text report goes to stderr for denials and warnings whatever the
    // output format, so that a CI log shows them.
    for ((given, _), r) in references.iter().zip(&results) {
        let text = g.output == "text";
        match r {
            Err(e) => eprintln!("signet: verify: {given}: registry error: {e}"),
            Ok(d) => {
                let head = format!(
                    "{given}: {}{}{}",
                    d.outcome,
                    d.rule
                        .as_ref()
                        .map(|r| format!(" (rule {r})"))
                        .unwrap_or_default(),
                    d.digest
                        .as_ref()
                        .map(|x| format!(" {x}"))
                        .unwrap_or_default()
                );
                let body: String = d.reasons.iter().map(|r| format!("\n    {r}")).collect();
                if !d.allowed {
                    eprintln!("signet: verify: denied: {head}{body}");
                } else if d.outcome == Outcome::Warn {
                    eprintln!("signet: verify: warning: {head}{body}");
                } else if text {
                    println!("{head}{body}");
                }
            }
        }
    }
    if denied {
        ExitCode::from(EXIT_FAILED)
    } else if errors {
        ExitCode::from(EXIT_REGISTRY)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `decide` over `references`, `concurrency` at a time, keeping order.
fn run_concurrently(
    references: &[(String, signet_oci::Reference)],
    concurrency: usize,
    decide: &(dyn Fn(&str, &signet_oci::Reference) -> GateResult + Sync),
) -> Vec<GateResult> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let total = references.len();
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<GateResult>>> = Mutex::new((0..total).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, total.max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((given, reference)) = references.get(i) else {
                    break;
                };
                let result = decide(given, reference);
                if let Ok(mut s) = slots.lock() {
                    s[i] = Some(result);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("a verification worker stopped".into())))
        .collect()
}

/// SARIF rules: one per kind of failure.
const SARIF_RULES: [(&str, &str, &str); 5] = [
    (
        "threshold",
        "Not enough authorities signed the image",
        "Fewer of the rule's authorities have a verified signature of the image, made inside their validity window, than the rule's threshold.",
    ),
    (
        "attestation",
        "A required attestation is missing or rejected",
        "No attestation of the required predicate type is verified by an allowed authority, or its Rego condition denies it.",
    ),
    (
        "no-rule",
        "No rule names the image",
        "No rule of the policy matches the image and the policy's default denies it.",
    ),
    (
        "invalid-image",
        "Invalid image reference",
        "The image reference cannot be parsed, or the material found is not for it.",
    ),
    (
        "registry",
        "The image could not be fetched",
        "The registry could not be reached, refused access, or does not have the image.",
    ),
];

/// A SARIF 2.1.0 log: one run, a result per denied or warned image (and
/// per image that could not be fetched).
fn sarif(
    policy: &Policy,
    policy_path: &std::path::Path,
    references: &[(String, signet_oci::Reference)],
    results: &[GateResult],
) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = SARIF_RULES
        .iter()
        .map(|(id, short, full)| {
            json!({
                "id": id,
                "name": id,
                "shortDescription": {"text": short},
                "fullDescription": {"text": full},
                "defaultConfiguration": {"level": "error"},
                "helpUri": "https://github.com/signet-dev/signet/blob/main/docs/policy.md",
            })
        })
        .collect();
    let rule_index = |id: &str| SARIF_RULES.iter().position(|(r, _, _)| *r == id);
    let mut out = Vec::new();
    for ((given, _), r) in references.iter().zip(results) {
        let (id, level, text, props) = match r {
            Err(e) => (
                "registry",
                "error",
                format!("{given}: registry error: {e}"),
                json!({"image": given}),
            ),
            Ok(d) if d.allowed && d.outcome != Outcome::Warn => continue,
            Ok(d) => (
                d.failure.map(|f| f.id()).unwrap_or("threshold"),
                if d.allowed { "warning" } else { "error" },
                format!("{given}: {}: {}", d.outcome, d.explanation()),
                json!({
                    "image": given,
                    "digest": d.digest,
                    "rule": d.rule,
                    "outcome": d.outcome,
                    "satisfied": d.satisfied,
                    "policy": d.policy,
                    "policyVersion": d.policy_version,
                }),
            ),
        };
        let fqn = match r {
            Ok(Decision {
                digest: Some(digest),
                ..
            }) => format!("{given}@{digest}"),
            _ => given.clone(),
        };
        let mut result = json!({
            "ruleId": id,
            "level": level,
            "kind": "fail",
            "message": {"text": text},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": policy_path.display().to_string()}},
                "logicalLocations": [{"name": given, "fullyQualifiedName": fqn, "kind": "resource"}],
            }],
            "properties": props,
        });
        if let Some(i) = rule_index(id) {
            result["ruleIndex"] = json!(i);
        }
        out.push(result);
    }
    sarif_log(
        json!(rules),
        out,
        Some(json!({"policy": policy.name, "policyVersion": policy.version()})),
    )
}

/// A SARIF 2.1.0 log of one signet run: the driver's `rules`, the
/// `results` and the run's `properties` (if any).
pub(crate) fn sarif_log(
    rules: serde_json::Value,
    results: Vec<serde_json::Value>,
    properties: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut run = json!({
        "tool": {"driver": {
            "name": "signet",
            "version": env!("CARGO_PKG_VERSION"),
            "informationUri": "https://github.com/signet-dev/signet",
            "rules": rules,
        }},
        "results": results,
    });
    if let Some(properties) = properties {
        run["properties"] = properties;
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    })
}
