//! `signet`: sign and verify with Sigstore, and run the services behind it.

mod admission_cmd;
mod attest_cmd;
mod audit_cmd;
mod bench_admission;
mod bench_ca;
mod bench_cmd;
mod bench_images;
mod ca_cmd;
mod dev_token;
mod log_cmd;
mod manifests_cmd;
mod oci_cmd;
mod policy_cmd;
mod provenance;
mod sign_cmd;
mod sign_in;
mod stack;
mod stack_trust;
mod trust_source;
mod trusted_root_cmd;
mod tsa_cmd;
mod up_cmd;
mod verify_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "signet",
    version,
    about = "Sigstore signing and verification for OCI images and blobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign an image in a registry (keyless, or with --key).
    Sign(oci_cmd::SignImageArgs),
    /// Verify images' signatures in a registry (both layouts).
    Verify(oci_cmd::VerifyImageArgs),
    /// Attest an image: sign an in-toto statement about it (keyless, or
    /// with --key) as a referrer and/or cosign's .att tag.
    Attest(attest_cmd::AttestImageArgs),
    /// Verify images' attestations of a predicate type (both layouts),
    /// optionally against a Rego policy.
    VerifyAttestation(attest_cmd::VerifyAttestationArgs),
    /// List the signatures, attestations and referrers of an image.
    Tree(oci_cmd::TreeArgs),
    /// Verify a blob against a Sigstore bundle (cosign-compatible flags).
    VerifyBlob(verify_cmd::VerifyBlobArgs),
    /// Conformance-suite verb: verify a bundle for a file or `sha256:<hex>`.
    VerifyBundle(verify_cmd::VerifyBundleArgs),
    /// Conformance-suite verb: sign a file into a bundle.
    SignBundle(sign_cmd::SignBundleArgs),
    /// Sign a blob into a Sigstore bundle (keyless, or with --key).
    SignBlob(sign_cmd::SignBlobArgs),
    /// Sign an in-toto attestation about a blob (DSSE) into a bundle.
    AttestBlob(sign_cmd::AttestBlobArgs),
    /// Generate a cosign-compatible key pair (PREFIX.key, PREFIX.pub).
    GenerateKeyPair(sign_cmd::GenerateKeyPairArgs),
    /// Print the public key of a key file, pkcs11: or awskms:// key (PEM).
    PublicKey(sign_cmd::PublicKeyArgs),
    /// Verify every image of Kubernetes manifests against a policy (the
    /// GitOps gate); --pin rewrites them with verified digests.
    VerifyManifests(manifests_cmd::VerifyManifestsArgs),
    /// Report running (or listed) images that do not comply with a policy.
    Audit(audit_cmd::AuditArgs),
    /// The Kubernetes admission webhook.
    Admission {
        #[command(subcommand)]
        command: admission_cmd::AdmissionCommand,
    },
    /// Run a transparency log.
    Log {
        #[command(subcommand)]
        command: log_cmd::LogCommand,
    },
    /// Run a keyless certificate authority.
    Ca {
        #[command(subcommand)]
        command: ca_cmd::CaCommand,
    },
    /// Run an RFC 3161 timestamp authority.
    Tsa {
        #[command(subcommand)]
        command: tsa_cmd::TsaCommand,
    },
    /// Run a private Sigstore stack (log, CA, DEV ONLY OIDC issuer) and
    /// write the trusted root and signing config that trust it.
    Up(up_cmd::UpArgs),
    /// Benchmarks (loopback only).
    Bench {
        #[command(subcommand)]
        command: bench_cmd::BenchCommand,
    },
    /// Trusted roots for real deployments (`create`).
    TrustedRoot {
        #[command(subcommand)]
        command: trusted_root_cmd::TrustedRootCommand,
    },
    /// Policy files: lint, test against fixtures, explain.
    Policy {
        #[command(subcommand)]
        command: policy_cmd::PolicyCommand,
    },
    /// Development helpers (DEV ONLY).
    Dev {
        #[command(subcommand)]
        command: ca_cmd::DevCommand,
    },
}

/// The servers allocate per request (JSON, bodies, proofs); glibc's malloc
/// was 13 % of the log's CPU under load (crates/log/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sign(args) => oci_cmd::sign(args),
        Command::Verify(args) => oci_cmd::verify(args),
        Command::Policy { command } => policy_cmd::run(command),
        Command::TrustedRoot { command } => trusted_root_cmd::run(command),
        Command::Attest(args) => attest_cmd::attest(args),
        Command::VerifyAttestation(args) => attest_cmd::verify_attestation(args),
        Command::Tree(args) => oci_cmd::tree(args),
        Command::Ca { command } => ca_cmd::ca(command),
        Command::Dev { command } => ca_cmd::dev(command),
        Command::Bench { command } => bench_cmd::run(command),
        Command::Up(args) => up_cmd::up(args),
        Command::VerifyBlob(args) => verify_cmd::verify_blob(args),
        Command::VerifyBundle(args) => verify_cmd::verify_bundle(args),
        Command::Log { command } => log_cmd::run(command),
        Command::VerifyManifests(args) => manifests_cmd::run(args),
        Command::Admission { command } => admission_cmd::run(command),
        Command::Audit(args) => audit_cmd::run(args),
        Command::Tsa { command } => tsa_cmd::run(command),
        Command::SignBundle(args) => sign_cmd::sign_bundle(args),
        Command::SignBlob(args) => sign_cmd::sign_blob(args),
        Command::AttestBlob(args) => sign_cmd::attest_blob(args),
        Command::GenerateKeyPair(args) => sign_cmd::generate_key_pair(args),
        Command::PublicKey(args) => sign_cmd::public_key(args),
    }
}
