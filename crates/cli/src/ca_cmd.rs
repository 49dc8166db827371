//! `signet ca serve` (a Fulcio-compatible CA) and `signet dev oidc` (a
//! development OIDC issuer).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use signet_ca::config::{CaConfig, IssuerConfig, IssuerType};
use signet_ca::dev_oidc::{DevAlg, DevOidcOptions};
use signet_ca::keys::KeyPaths;
use signet_ca::server::ServeOptions;
use signet_ca::{CaSigner, Pkcs11Signer, Pkcs11Uri};

#[derive(Subcommand)]
pub enum CaCommand {
    /// Run a Fulcio-compatible keyless CA (HTTP: /api/v2/signingCert, ...).
    Serve(ServeArgs),
}

#[derive(Subcommand)]
pub enum DevCommand {
    /// DEV ONLY: run an OIDC issuer that mints tokens for any identity.
    Oidc(OidcArgs),
    /// DEV ONLY: fetch an ID token from a dev issuer and print it.
    Token(crate::dev_token::TokenArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5555")]
    listen: SocketAddr,
    /// Directory for generated keys and the CA chain.
    #[arg(long, default_value = "signet-ca")]
    data_dir: PathBuf,
    /// Issuing CA private key (PKCS#8 PEM); default DATA_DIR/ca-key.pem.
    /// With --ca-chain absent too, a new root and intermediate are created.
    /// Or a key in a token: pkcs11:token=LABEL;object=LABEL[;pin-value=PIN]
    /// (PIN also from $SIGNET_PKCS11_PIN), with --pkcs11-module.
    #[arg(long)]
    ca_key: Option<String>,
    /// PKCS#11 module for a pkcs11: --ca-key, e.g.
    /// /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long)]
    pkcs11_module: Option<PathBuf>,
    /// CA chain PEM, issuing certificate first, root last; default
    /// DATA_DIR/ca-chain.pem.
    #[arg(long)]
    ca_chain: Option<PathBuf>,
    /// CT log private key (PKCS#8 PEM, P-256); default DATA_DIR/ct-key.pem,
    /// created if absent.
    #[arg(long)]
    ct_key: Option<PathBuf>,
    /// Issuer configuration (YAML, or JSON if it ends in .json).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Trust an issuer at this URL (repeatable), of --oidc-issuer-type.
    #[arg(long)]
    oidc_issuer: Vec<String>,
    /// Type of the --oidc-issuer issuers.
    #[arg(long, value_enum, default_value = "email")]
    oidc_issuer_type: IssuerKind,
    /// Audience tokens of --oidc-issuer issuers must carry.
    #[arg(long, default_value = "sigstore")]
    audience: String,
    /// URL clients reach this CA at (for the trust root); default the
    /// listen address.
    #[arg(long)]
    public_url: Option<String>,
    /// Write this CA's trusted-root entries (certificateAuthorities,
    /// ctlogs) as JSON to this file on start.
    #[arg(long)]
    trust_pieces_out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum IssuerKind {
    Email,
    GithubWorkflow,
    GitlabPipeline,
    Spiffe,
    Kubernetes,
    Uri,
}

impl From<IssuerKind> for IssuerType {
    fn from(k: IssuerKind) -> IssuerType {
        match k {
            IssuerKind::Email => IssuerType::Email,
            IssuerKind::GithubWorkflow => IssuerType::GithubWorkflow,
            IssuerKind::GitlabPipeline => IssuerType::GitlabPipeline,
            IssuerKind::Spiffe => IssuerType::Spiffe,
            IssuerKind::Kubernetes => IssuerType::Kubernetes,
            IssuerKind::Uri => IssuerType::Uri,
        }
    }
}

#[derive(clap::Args)]
pub struct OidcArgs {
    /// Address to listen on (loopback only unless --allow-non-loopback).
    #[arg(long, default_value = "127.0.0.1:5556")]
    listen: SocketAddr,
    /// Allow a non-loopback listen address. The issuer signs tokens for
    /// anyone who asks.
    #[arg(long)]
    allow_non_loopback: bool,
    /// The issuer URL (`iss`); default http://LISTEN.
    #[arg(long)]
    issuer_url: Option<String>,
    /// Token signing algorithm.
    #[arg(long, value_enum, default_value = "es256")]
    alg: Alg,
    /// Default token lifetime in seconds.
    #[arg(long, default_value_t = 600)]
    token_lifetime: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Alg {
    Es256,
    Rs256,
}

pub fn ca(command: CaCommand) -> ExitCode {
    match command {
        CaCommand::Serve(args) => serve(args),
    }
}

pub fn dev(command: DevCommand) -> ExitCode {
    match command {
        DevCommand::Oidc(args) => oidc(args),
        DevCommand::Token(args) => crate::dev_token::token(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let mut config = match &args.config {
        Some(path) => match CaConfig::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("signet: ca serve: {e}");
                return ExitCode::from(2);
            }
        },
        None => CaConfig::default(),
    };
    for url in &args.oidc_issuer {
        let mut issuer = IssuerConfig::new(url.clone(), args.oidc_issuer_type.into());
        issuer.client_id = args.audience.clone();
        config.oidc_issuers.push(issuer);
    }
    if let Err(e) = config.validate() {
        eprintln!("signet: ca serve: {e}");
        return ExitCode::from(2);
    }
    let mut keys = KeyPaths::in_dir(&args.data_dir);
    let mut ca_signer = None;
    match args.ca_key {
        Some(k) if Pkcs11Uri::is_pkcs11(&k) => {
            let signer = Pkcs11Uri::parse(&k)
                .and_then(|uri| Pkcs11Signer::open(&uri, args.pkcs11_module.as_deref()));
            match signer {
                Ok(s) => {
                    let s: Arc<dyn CaSigner> = Arc::new(s);
                    ca_signer = Some(s);
                }
                Err(e) => {
                    eprintln!("signet: ca serve: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        Some(p) => keys.ca_key = PathBuf::from(p),
        None => {}
    }
    if ca_signer.is_none() && args.pkcs11_module.is_some() {
        eprintln!("signet: ca serve: --pkcs11-module needs a pkcs11: --ca-key");
        return ExitCode::from(2);
    }
    if let Some(p) = args.ca_chain {
        keys.ca_chain = p;
    }
    if let Some(p) = args.ct_key {
        keys.ct_key = p;
    }
    let opts = ServeOptions {
        listen: args.listen,
        keys,
        ca_signer,
        config,
        public_url: args.public_url,
        ctlog_url: None,
        trust_pieces_out: args.trust_pieces_out,
    };
    match signet_ca::server::run_blocking(opts, |addr| {
        println!("signet ca: listening on http://{addr}");
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signet: ca serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn oidc(args: OidcArgs) -> ExitCode {
    let opts = DevOidcOptions {
        listen: args.listen,
        allow_non_loopback: args.allow_non_loopback,
        issuer_url: args.issuer_url,
        alg: match args.alg {
            Alg::Es256 => DevAlg::Es256,
            Alg::Rs256 => DevAlg::Rs256,
        },
        token_lifetime: Duration::from_secs(args.token_lifetime),
    };
    match signet_ca::dev_oidc::run_blocking(opts, |url| {
        println!("signet dev oidc (DEV ONLY): issuer {url}");
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ signet_ca::dev_oidc::DevOidcError::NotLoopback(_)) => {
            eprintln!("signet: dev oidc: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("signet: dev oidc: {e}");
            ExitCode::FAILURE
        }
    }
}
