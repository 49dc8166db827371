//! Image verbs: `sign IMAGE`, `verify IMAGE...`, `tree IMAGE`.
//!
//! A tag is resolved to a digest exactly once per command and that digest
//! is what is signed, verified and reported. `sign` writes the current
//! layout (a Sigstore bundle as an OCI 1.1 referrer) unless `--layout
//! legacy|both` (or `--legacy`) asks for cosign's `.sig` tag; `verify`
//! reads both. Exit status: 0 signed/verified, 1 failed or rejected, 2 bad
//! usage or input.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};
use signet_oci::layout::legacy::Appended;
use signet_oci::layout::referrers::Pushed;
use signet_oci::manifest::Descriptor;
use signet_oci::verify::ImageVerdict;
use signet_oci::{
    Credential, CredentialSource, Layout, OciError, Reference, Registry, RegistryOptions,
};
use signet_sign::flow::{Content, SignOptions, SigningContext};
use signet_verify::{SignerPolicy, Verifier};

use crate::sign_cmd::{self, Failure, SignTrustArgs, SignerArgs, Who};
use crate::trust_source::TrustArgs;
use crate::verify_cmd::{self, IdentityArgs, UsageError};

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// How to reach registries.
#[derive(Args, Debug)]
pub struct RegistryArgs {
    /// A PEM file of CA certificates to trust for registry TLS (in
    /// addition to the system's).
    #[arg(long)]
    registry_cacert: Option<PathBuf>,
    /// Allow plain HTTP to registries that are not on a loopback address
    /// (loopback registries may always use it). TLS certificates are still
    /// verified whenever TLS is used: give --registry-cacert for a private CA.
    #[arg(long, alias = "allow-http-registry")]
    allow_insecure_registry: bool,
    /// Registry username (default: ~/.docker/config.json and its
    /// credential helpers).
    #[arg(long, env = "SIGNET_REGISTRY_USERNAME", requires = "registry_password")]
    registry_username: Option<String>,
    /// Registry password; prefer the environment variable.
    #[arg(long, env = "SIGNET_REGISTRY_PASSWORD", hide_env_values = true)]
    registry_password: Option<String>,
}

#[derive(Args, Debug)]
pub struct SignImageArgs {
    /// The image (`registry/repo:tag` or `…@sha256:…`).
    image: String,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    trust: SignTrustArgs,
    /// Annotations to sign with the image (KEY=VALUE, repeatable): the
    /// statement subject's annotations, or the simple-signing `optional`.
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// Where to write the signature: `referrers` (a Sigstore bundle as an
    /// OCI 1.1 referrer, cosign v3's default), `legacy` (cosign's
    /// `sha256-<hex>.sig` tag), or `both`.
    #[arg(long, default_value = "referrers", value_parser = ["referrers", "legacy", "both"])]
    layout: String,
    /// Same as `--layout legacy`.
    #[arg(long, conflicts_with = "layout")]
    legacy: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct VerifyImageArgs {
    /// The images to verify.
    #[arg(required = true)]
    images: Vec<String>,
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// A policy file (`signet.dev/v1` `ImagePolicy`, docs/policy.md): the
    /// policy decides who must have signed each image and which
    /// attestations it needs, instead of the identity flags. Exit status:
    /// 0 all allowed (warnings printed), 1 any denied, 2 usage or policy
    /// file error, 3 registry or network error (and none denied).
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer",
        "certificate_oidc_issuer_regexp", "certificate_github_workflow_trigger",
        "certificate_github_workflow_sha", "certificate_github_workflow_name",
        "certificate_github_workflow_repository", "certificate_github_workflow_ref",
        "source_repository_uri", "source_repository_ref", "build_signer_uri", "build_trigger",
        "key",
    ])]
    policy: Option<PathBuf>,
    /// With --policy: the Kubernetes namespace to evaluate the images for
    /// (rules that list `namespaces` apply only to a matching one).
    #[arg(long, requires = "policy")]
    namespace: Option<String>,
    /// `text` (default), `json`, or `sarif` (SARIF 2.1.0; with --policy).
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif"])]
    output: String,
    /// Images verified at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct TreeArgs {
    /// The image.
    image: String,
    /// `text` (default) or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub(crate) fn failed(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_FAILED,
        message: message.into(),
    }
}

pub(crate) fn registry_failure(e: OciError) -> Failure {
    let code = match e {
        OciError::Reference { .. } | OciError::Config(_) | OciError::Credentials(_) => EXIT_USAGE,
        _ => EXIT_FAILED,
    };
    Failure {
        code,
        message: e.to_string(),
    }
}

pub(crate) fn registry(args: &RegistryArgs) -> Result<Registry, Failure> {
    let mut options = RegistryOptions {
        allow_insecure: args.allow_insecure_registry,
        ..RegistryOptions::default()
    };
    if let Some(path) = &args.registry_cacert {
        options
            .ca_certs_pem
            .push(sign_cmd::read_file(path, "registry CA certificate")?);
    }
    if let (Some(user), Some(pass)) = (&args.registry_username, &args.registry_password) {
        options.credentials =
            CredentialSource::Explicit(Credential::new(user.clone(), pass.clone()));
    }
    Registry::new(options).map_err(registry_failure)
}

pub(crate) fn reference(text: &str) -> Result<Reference, Failure> {
    Reference::parse(text).map_err(registry_failure)
}

/// `-a key=value` flags as JSON strings.
pub(crate) fn annotations(flags: &[String]) -> Result<BTreeMap<String, Value>, Failure> {
    flags
        .iter()
        .map(|f| {
            f.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .ok_or_else(|| sign_cmd::usage(format!("annotation {f:?} is not KEY=VALUE")))
        })
        .collect()
}

/// Where `sign` or `attest` wrote `image`'s signature: the parts of their
/// reports that say so.
pub(crate) struct Written<'a> {
    pub warnings: &'a [String],
    pub log_indexes: &'a [u64],
    pub referrer: Option<&'a Pushed>,
    pub subject: &'a Descriptor,
    pub legacy: Option<&'a Appended>,
}

/// Prints (to stderr) the warnings, the referrer pushed and the legacy
/// tag written: `done` is what happened ("signed IMAGE"), `noun` what the
/// legacy manifest's layers are ("signature"), `already` what is named
/// when the same one was there ("legacy signature").
pub(crate) fn report_written(
    done: &str,
    image: &Reference,
    written: Written<'_>,
    noun: &str,
    already: &str,
) {
    for warning in written.warnings {
        eprintln!("signet: warning: {warning}");
    }
    let logs: String = written
        .log_indexes
        .iter()
        .map(|i| format!(" (log index {i})"))
        .collect();
    if let Some(pushed) = written.referrer {
        eprintln!(
            "signet: {done}: referrer {}{}{logs}",
            pushed.digest,
            if pushed.fallback_index {
                format!(
                    ", listed in the referrers tag {}",
                    written.subject.digest.tag_form()
                )
            } else {
                String::new()
            }
        );
    }
    match written.legacy {
        Some(Appended::Written { tag, layers }) => {
            eprintln!("signet: {done}: legacy {noun} at tag {tag} ({layers} {noun}(s)){logs}")
        }
        Some(Appended::AlreadyPresent { tag }) => {
            eprintln!("signet: {image}: the same {already} is already at tag {tag}")
        }
        None => {}
    }
}

/// The images given, each with its parsed reference.
pub(crate) fn references(images: &[String]) -> Result<Vec<(String, Reference)>, Failure> {
    images
        .iter()
        .map(|i| reference(i).map(|r| (i.clone(), r)))
        .collect()
}

/// What verifying images needs from the flags: the signers accepted, the
/// verifier for the trusted root, and the registry client.
pub(crate) fn verifying(
    identity: &IdentityArgs,
    trust: &TrustArgs,
    registry_args: &RegistryArgs,
) -> Result<(SignerPolicy, Verifier, Registry), Failure> {
    let policy = match verify_cmd::signer_policy(identity) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            return Err(failed(format!(
                "verification failed: {}: {}",
                e.check, e.reason
            )))
        }
        Err(UsageError(m)) => return Err(sign_cmd::usage(m)),
    };
    let verifier = verify_cmd::verifier(trust).map_err(|UsageError(m)| sign_cmd::usage(m))?;
    Ok((policy, verifier, registry(registry_args)?))
}

pub(crate) fn finish(verb: &str, result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("signet: {verb}: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

pub fn sign(args: SignImageArgs) -> ExitCode {
    let result = (|| {
        let image = reference(&args.image)?;
        let layout = match (args.legacy, args.layout.as_str()) {
            (true, _) | (false, "legacy") => Layout::Legacy,
            (false, "both") => Layout::Both,
            _ => Layout::Referrers,
        };
        let annotations = annotations(&args.annotations)?;
        let registry = registry(&args.registry)?;
        let (root, config) = sign_cmd::trust_material(&args.trust)?;
        let context = SigningContext::new(&config, &root, SignOptions::default())?;
        let who = Who::load(&args.signer, &context)?;
        let sign = |content: Content<'_>| who.sign(&context, content);
        let report = signet_oci::sign::sign_image(&registry, &image, layout, &annotations, &sign)
            .map_err(|e| match e {
            signet_oci::sign::ImageSignError::Registry(e) => registry_failure(e),
            signet_oci::sign::ImageSignError::Sign(e) => Failure::from(e),
        })?;
        report_written(
            &format!("signed {}", report.image),
            &report.image,
            Written {
                warnings: &report.warnings,
                log_indexes: &report.log_indexes,
                referrer: report.referrer.as_ref(),
                subject: &report.subject,
                legacy: report.legacy.as_ref(),
            },
            "signature",
            "legacy signature",
        );
        println!("{}", report.image);
        Ok(())
    })();
    finish("sign", result)
}

/// One image's line of the text report, and its JSON document.
fn describe(given: &str, result: &Result<ImageVerdict, OciError>) -> (bool, String, Value) {
    match result {
        Err(e) => (
            false,
            format!("{given}: verification failed: registry: {e}"),
            json!({"image": given, "verified": false, "check": "registry", "reason": e.to_string()}),
        ),
        Ok(v) => match v.failure() {
            None => {
                let signers: Vec<String> = v
                    .accepted
                    .iter()
                    .map(|a| {
                        let who = match (&a.verified.subject, &a.verified.issuer) {
                            (Some(s), Some(i)) => format!("{} ({i})", s.join(", ")),
                            (Some(s), None) => s.join(", "),
                            _ => "key".to_string(),
                        };
                        format!("{} by {who}", a.source)
                    })
                    .collect();
                (
                    true,
                    format!(
                        "{given}: verified {}: {} of {} signature(s): {}",
                        v.digest,
                        v.accepted.len(),
                        v.accepted.len() + v.rejected.len(),
                        signers.join("; ")
                    ),
                    json!({
                        "image": given,
                        "digest": v.digest,
                        "verified": true,
                        "signatures": v.accepted,
                        "rejected": v.rejected,
                    }),
                )
            }
            Some((check, reason)) => (
                false,
                format!(
                    "{given}: verification failed for {}: {check}: {reason}",
                    v.digest
                ),
                json!({
                    "image": given,
                    "digest": v.digest,
                    "verified": false,
                    "check": check,
                    "reason": reason,
                    "rejected": v.rejected,
                }),
            ),
        },
    }
}

pub fn verify(args: VerifyImageArgs) -> ExitCode {
    if let Some(policy) = &args.policy {
        let registry = match registry(&args.registry) {
            Ok(r) => r,
            Err(f) => return finish("verify", Err(f)),
        };
        return crate::policy_cmd::gate(crate::policy_cmd::Gate {
            images: &args.images,
            policy,
            namespace: args.namespace.as_deref(),
            trust: &args.trust,
            registry: &registry,
            output: &args.output,
            concurrency: usize::from(args.concurrency),
        });
    }
    if args.output == "sarif" {
        return finish(
            "verify",
            Err(sign_cmd::usage("--output sarif needs --policy")),
        );
    }
    let setup = (|| {
        let references = references(&args.images)?;
        let (policy, verifier, registry) = verifying(&args.identity, &args.trust, &args.registry)?;
        Ok((references, policy, verifier, registry))
    })();
    let (references, policy, verifier, registry) = match setup {
        Ok(s) => s,
        Err(f) => return finish("verify", Err(f)),
    };
    let tty = std::io::stderr().is_terminal() && references.len() > 1;
    let progress = |done: usize, total: usize| {
        if tty {
            eprint!("\rverifying: {done}/{total} images");
        }
    };
    let results = signet_oci::verify::verify_many(
        &registry,
        &verifier,
        &policy,
        &references,
        usize::from(args.concurrency),
        &progress,
    );
    if tty {
        eprint!("\r\x1b[K");
    }
    print_verdicts(
        &args.output,
        references
            .iter()
            .zip(&results)
            .map(|((given, _), result)| describe(given, result)),
    )
}

/// Prints each image's verdict `(ok, line, doc)` as it comes: the line
/// (stdout when it passed, stderr when not), or with `output` `json` the
/// docs as one array at the end. Exit 0 when all passed, else 1.
pub(crate) fn print_verdicts(
    output: &str,
    verdicts: impl Iterator<Item = (bool, String, Value)>,
) -> ExitCode {
    let mut all_ok = true;
    let mut docs = Vec::new();
    for (ok, line, doc) in verdicts {
        all_ok &= ok;
        if output == "json" {
            docs.push(doc);
        } else if ok {
            println!("{line}");
        } else {
            eprintln!("signet: {line}");
        }
    }
    if output == "json" {
        println!("{}", Value::Array(docs));
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn print_tagged(
    title: &str,
    tagged: &Option<signet_oci::tree::TaggedArtifacts>,
    image: &Reference,
) {
    if let Some(t) = tagged {
        println!(
            "└── {title} for an image tag: {}/{}:{}",
            image.registry, image.repository, t.tag
        );
        for layer in &t.layers {
            let extra = layer
                .annotations
                .get("predicateType")
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            println!("   └── 🍒 {}{extra}", layer.digest);
        }
    }
}

pub fn tree(args: TreeArgs) -> ExitCode {
    let result = (|| {
        let image = reference(&args.image)?;
        let registry = registry(&args.registry)?;
        let tree = signet_oci::tree::tree(&registry, &image).map_err(registry_failure)?;
        if args.output == "json" {
            println!("{}", serde_json::to_string(&tree).unwrap_or_default());
            return Ok(());
        }
        println!(
            "📦 Supply Chain Security Related artifacts for an image: {}@{}",
            image, tree.digest
        );
        print_tagged("🔐 Signatures", &tree.signatures, &image);
        print_tagged("💾 Attestations", &tree.attestations, &image);
        print_tagged("📦 SBOMs", &tree.sboms, &image);
        if !tree.referrers.is_empty() {
            println!("└── 🔗 Referrers ({}):", tree.referrers_listing);
            for r in &tree.referrers {
                println!(
                    "   └── 🍒 {} {}{}",
                    r.digest,
                    r.artifact_type.as_deref().unwrap_or("(no artifactType)"),
                    r.predicate_type
                        .as_deref()
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default()
                );
            }
        }
        if tree.signatures.is_none()
            && tree.attestations.is_none()
            && tree.sboms.is_none()
            && tree.referrers.is_empty()
        {
            println!("No Supply Chain Security Related Artifacts found for image {image}");
        }
        Ok(())
    })();
    finish("tree", result)
}
