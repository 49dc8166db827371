//! `signet`: sign and verify with Sigstore, and run the services behind it.

mod trust_source;
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
    /// Verify a blob against a Sigstore bundle (cosign-compatible flags).
    VerifyBlob(verify_cmd::VerifyBlobArgs),
    /// Conformance-suite verb: verify a bundle for a file or `sha256:<hex>`.
    VerifyBundle(verify_cmd::VerifyBundleArgs),
    /// Conformance-suite verb: sign a file into a bundle.
    SignBundle(SignBundleArgs),
}

#[derive(clap::Args)]
struct SignBundleArgs {
    #[arg(long)]
    identity_token: Option<String>,
    #[arg(long)]
    bundle: Option<std::path::PathBuf>,
    #[arg(long)]
    trusted_root: Option<std::path::PathBuf>,
    #[arg(long)]
    signing_config: Option<std::path::PathBuf>,
    #[arg(long)]
    in_toto: bool,
    file: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::VerifyBlob(args) => verify_cmd::verify_blob(args),
        Command::VerifyBundle(args) => verify_cmd::verify_bundle(args),
        Command::SignBundle(_) => {
            eprintln!("signet: sign-bundle: signing is not implemented yet");
            ExitCode::from(2)
        }
    }
}
