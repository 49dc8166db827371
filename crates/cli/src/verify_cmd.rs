//! `verify-blob` and the conformance verb `verify-bundle`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::trust_source::{trusted_root_bytes, TrustArgs};
use clap::Args;
use signet_crypto::PublicKey;
use signet_model::{Bundle, TrustedRoot};
use signet_verify::{
    Artifact, Check, Claim, IdentityPolicy, Matcher, Options, SignerPolicy, TrustMaterial,
    Verified, Verifier, VerifyError,
};

/// Exit status for "verification failed" (usage errors exit 2, via clap).
const EXIT_REJECTED: u8 = 1;
const EXIT_USAGE: u8 = 2;

#[derive(Args, Debug)]
pub struct IdentityArgs {
    /// Expected certificate identity (SAN: email or URI), exact.
    #[arg(long)]
    certificate_identity: Option<String>,
    /// Expected certificate identity, as an RE2 regular expression.
    #[arg(long, conflicts_with = "certificate_identity")]
    certificate_identity_regexp: Option<String>,
    /// Expected OIDC issuer, exact.
    #[arg(long)]
    certificate_oidc_issuer: Option<String>,
    /// Expected OIDC issuer, as an RE2 regular expression.
    #[arg(long, conflicts_with = "certificate_oidc_issuer")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// GitHub workflow trigger claim (OID .1.2), as cosign.
    #[arg(long)]
    certificate_github_workflow_trigger: Option<String>,
    /// GitHub workflow SHA claim (OID .1.3), as cosign.
    #[arg(long)]
    certificate_github_workflow_sha: Option<String>,
    /// GitHub workflow name claim (OID .1.4), as cosign.
    #[arg(long)]
    certificate_github_workflow_name: Option<String>,
    /// GitHub workflow repository claim (OID .1.5), as cosign.
    #[arg(long)]
    certificate_github_workflow_repository: Option<String>,
    /// GitHub workflow ref claim (OID .1.6), as cosign.
    #[arg(long)]
    certificate_github_workflow_ref: Option<String>,
    /// Source repository URI claim (OID .1.12).
    #[arg(long)]
    source_repository_uri: Option<String>,
    /// Source repository ref claim (OID .1.14).
    #[arg(long)]
    source_repository_ref: Option<String>,
    /// Build signer URI claim (OID .1.9), e.g. the reusable workflow.
    #[arg(long)]
    build_signer_uri: Option<String>,
    /// Build trigger claim (OID .1.20).
    #[arg(long)]
    build_trigger: Option<String>,
    /// A public key (PEM file) instead of a certificate identity.
    #[arg(long, conflicts_with_all = ["certificate_identity", "certificate_identity_regexp"])]
    key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyBlobArgs {
    /// The signed file.
    file: PathBuf,
    /// The Sigstore bundle.
    #[arg(long)]
    bundle: PathBuf,
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// `text` (default) or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

#[derive(Args, Debug)]
pub struct VerifyBundleArgs {
    /// The signed file, or `sha256:<hex>` of it.
    file_or_digest: String,
    #[arg(long)]
    bundle: PathBuf,
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    trust: TrustArgs,
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

/// A problem with the command line or its inputs (exit 2), as opposed to a
/// verification that ran and said no (exit 1).
pub struct UsageError(pub(crate) String);

fn read(path: &Path, what: &str) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path)
        .map_err(|e| UsageError(format!("cannot read {what} {}: {e}", path.display())))
}

fn matcher(
    exact: &Option<String>,
    regexp: &Option<String>,
    what: &str,
) -> Result<Option<Matcher>, UsageError> {
    match (exact, regexp) {
        (Some(v), _) => Ok(Some(Matcher::exact(v.clone()))),
        (None, Some(r)) => Matcher::regex(r)
            .map(Some)
            .map_err(|e| UsageError(format!("invalid {what} regexp: {e}"))),
        (None, None) => Ok(None),
    }
}

/// The signer policy from the flags. A key file that holds no valid key is
/// a verdict (the signature cannot be from it), not a usage error.
pub(crate) fn signer_policy(
    args: &IdentityArgs,
) -> Result<Result<SignerPolicy, VerifyError>, UsageError> {
    if let Some(path) = &args.key {
        let pem = read(path, "key")?;
        let key = std::str::from_utf8(&pem)
            .map_err(|_| "not PEM text".to_string())
            .and_then(|text| PublicKey::from_pem(text).map_err(|e| e.to_string()));
        return Ok(key.map(SignerPolicy::Key).map_err(|e| {
            VerifyError::new(
                Check::SignerMaterial,
                format!("key {} is not a usable public key: {e}", path.display()),
            )
        }));
    }
    let subject = matcher(
        &args.certificate_identity,
        &args.certificate_identity_regexp,
        "identity",
    )?;
    let issuer = matcher(
        &args.certificate_oidc_issuer,
        &args.certificate_oidc_issuer_regexp,
        "issuer",
    )?;
    let (Some(subject), Some(issuer)) = (subject, issuer) else {
        return Err(UsageError(
            "give --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp], or --key"
                .into(),
        ));
    };
    let mut policy = IdentityPolicy::new(subject, issuer);
    let claims = [
        (
            Claim::GithubWorkflowTrigger,
            &args.certificate_github_workflow_trigger,
        ),
        (
            Claim::GithubWorkflowSha,
            &args.certificate_github_workflow_sha,
        ),
        (
            Claim::GithubWorkflowName,
            &args.certificate_github_workflow_name,
        ),
        (
            Claim::GithubWorkflowRepository,
            &args.certificate_github_workflow_repository,
        ),
        (
            Claim::GithubWorkflowRef,
            &args.certificate_github_workflow_ref,
        ),
        (Claim::SourceRepositoryUri, &args.source_repository_uri),
        (Claim::SourceRepositoryRef, &args.source_repository_ref),
        (Claim::BuildSignerUri, &args.build_signer_uri),
        (Claim::BuildTrigger, &args.build_trigger),
    ];
    for (claim, value) in claims {
        if let Some(v) = value {
            policy.claims.push((claim, Matcher::exact(v.clone())));
        }
    }
    Ok(Ok(SignerPolicy::Identity(policy)))
}

/// Builds the verifier for the chosen trust root.
pub fn verifier(trust: &TrustArgs) -> Result<Verifier, UsageError> {
    let (raw, _source) = trusted_root_bytes(trust).map_err(UsageError)?;
    let root =
        TrustedRoot::from_json(&raw).map_err(|e| UsageError(format!("trusted root: {e}")))?;
    let material = TrustMaterial::from_trusted_root(&root)
        .map_err(|e| UsageError(format!("trusted root: {e}")))?;
    Ok(Verifier::new(material, Options::default()))
}

enum Outcome {
    Verified(Box<Verified>),
    Rejected(VerifyError),
}

fn run(
    bundle_path: &Path,
    artifact: &Artifact<'_>,
    identity: &IdentityArgs,
    trust: &TrustArgs,
) -> Result<Outcome, UsageError> {
    let policy = match signer_policy(identity)? {
        Ok(policy) => policy,
        Err(rejected) => return Ok(Outcome::Rejected(rejected)),
    };
    let verifier = verifier(trust)?;
    let raw = read(bundle_path, "bundle")?;
    let bundle = match Bundle::from_json(&raw) {
        Ok(b) => b,
        Err(e) => {
            return Ok(Outcome::Rejected(VerifyError::new(
                Check::BundleFormat,
                e.to_string(),
            )))
        }
    };
    Ok(match verifier.verify(&bundle, artifact, &policy) {
        Ok(v) => Outcome::Verified(Box::new(v)),
        Err(e) => Outcome::Rejected(e),
    })
}

fn report(outcome: Result<Outcome, UsageError>, output: &str) -> ExitCode {
    match outcome {
        Err(UsageError(msg)) => {
            eprintln!("signet: {msg}");
            ExitCode::from(EXIT_USAGE)
        }
        Ok(Outcome::Verified(v)) => {
            if output == "json" {
                let doc = serde_json::json!({ "verified": true, "result": v });
                println!("{doc}");
            } else {
                eprintln!("Verified OK");
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Rejected(e)) => {
            if output == "json" {
                let doc =
                    serde_json::json!({ "verified": false, "check": e.check, "reason": e.reason });
                println!("{doc}");
            }
            eprintln!("signet: verification failed: {}: {}", e.check, e.reason);
            ExitCode::from(EXIT_REJECTED)
        }
    }
}

pub fn verify_blob(args: VerifyBlobArgs) -> ExitCode {
    let outcome = read(&args.file, "file").and_then(|data| {
        run(
            &args.bundle,
            &Artifact::Bytes(&data),
            &args.identity,
            &args.trust,
        )
    });
    report(outcome, &args.output)
}

pub fn verify_bundle(args: VerifyBundleArgs) -> ExitCode {
    let outcome = if args.file_or_digest.starts_with("sha256:") {
        match Artifact::parse_digest(&args.file_or_digest) {
            Some(artifact) => run(&args.bundle, &artifact, &args.identity, &args.trust),
            None => Err(UsageError(format!(
                "invalid digest {:?}",
                args.file_or_digest
            ))),
        }
    } else {
        read(Path::new(&args.file_or_digest), "file").and_then(|data| {
            run(
                &args.bundle,
                &Artifact::Bytes(&data),
                &args.identity,
                &args.trust,
            )
        })
    };
    report(outcome, &args.output)
}
