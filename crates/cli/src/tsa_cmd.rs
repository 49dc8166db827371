//! `signet tsa serve`: an RFC 3161 timestamp authority.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use signet_tsa::server::{KeySource, ServeOptions};

#[derive(Subcommand)]
pub enum TsaCommand {
    /// Run an RFC 3161 timestamp authority (HTTP: POST /api/v1/timestamp,
    /// GET /api/v1/timestamp/certchain).
    Serve(ServeArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5557")]
    listen: SocketAddr,
    /// Directory for the generated signing key, root key and chain
    /// (created on first start). Ignored with --key and --cert-chain.
    #[arg(long, default_value = "signet-tsa")]
    data_dir: PathBuf,
    /// Signing key (PKCS#8 PEM, ECDSA P-256); needs --cert-chain.
    #[arg(long, requires = "cert_chain")]
    key: Option<PathBuf>,
    /// Certificate chain (PEM, signing certificate first); needs --key.
    /// At start a test timestamp must verify as clients would verify it
    /// (critical extendedKeyUsage of only timeStamping, certificates
    /// valid now, each issued by the next), or the server does not start.
    #[arg(long, requires = "key")]
    cert_chain: Option<PathBuf>,
    /// TSA policy OID written into every TSTInfo.
    #[arg(long, default_value = signet_tsa::DEFAULT_POLICY)]
    policy: String,
    /// Base URL clients reach the TSA at (default http://LISTEN).
    #[arg(long)]
    public_url: Option<String>,
    /// Write the trusted-root `timestampAuthorities` and signing-config
    /// `tsaUrls` entries (JSON) to this file.
    #[arg(long)]
    trust_pieces_out: Option<PathBuf>,
}

pub fn run(command: TsaCommand) -> ExitCode {
    match command {
        TsaCommand::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let policy = match args.policy.parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("signet: tsa serve: --policy {:?}: {e}", args.policy);
            return ExitCode::from(2);
        }
    };
    let keys = match (args.key, args.cert_chain) {
        (Some(key), Some(chain)) => KeySource::Files { key, chain },
        _ => KeySource::DataDir(args.data_dir),
    };
    let opts = ServeOptions {
        listen: args.listen,
        keys,
        policy,
        public_url: args.public_url,
        trust_pieces_out: args.trust_pieces_out,
    };
    match signet_tsa::server::run_blocking(opts, |addr| {
        println!("signet tsa: listening on http://{addr}");
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signet: tsa serve: {e}");
            ExitCode::FAILURE
        }
    }
}
