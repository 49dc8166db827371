//! `signet log serve`: run a transparency log (see crates/log/README.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use signet_log::{Config, DEFAULT_MAX_BODY};

mod fsck;
mod monitor;

#[derive(Subcommand)]
pub enum LogCommand {
    /// Serve a Rekor-compatible transparency log (v1 and v2 APIs, C2SP tiles).
    Serve(ServeArgs),
    /// Follow a log: verify and persist its checkpoints (signature, witness
    /// cosignatures, consistency) and alert on watched identities or keys.
    /// Exit codes: 0 nothing found, 1 log unreachable, 2 bad arguments,
    /// 3 watched identity/key appeared, 4 inconsistent or unverifiable log.
    Monitor(monitor::MonitorArgs),
    /// Check a whole log over its C2SP tiles: rebuild the tree from every
    /// entry, compare every hash tile the log serves and the signed
    /// checkpoint's root, and check each body is a canonical entry.
    /// Exit codes: 0 clean, 1 log unreachable, 2 bad arguments, 4 problems
    /// found (listed) or unacceptable checkpoint.
    Fsck(fsck::FsckArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    /// Embedded: `<data-dir>/log.db`.
    Sqlite,
    /// A PostgreSQL database shared by replicas (`--postgres-url`).
    Postgres,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KeyType {
    Ecdsa,
    Ed25519,
}

impl KeyType {
    pub fn signer_kind(self) -> signet_tlog::SignerKind {
        match self {
            KeyType::Ecdsa => signet_tlog::SignerKind::EcdsaP256,
            KeyType::Ed25519 => signet_tlog::SignerKind::Ed25519,
        }
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// Directory for the database and the generated signing key.
    #[arg(long, default_value = "signet-log-data")]
    data_dir: PathBuf,
    /// PKCS#8 PEM signing key (ECDSA P-256 or Ed25519); generated if absent.
    /// Default: <data-dir>/signer.pem.
    #[arg(long)]
    signer_key: Option<PathBuf>,
    /// Type of key to generate when the key file does not exist.
    #[arg(long, value_enum, default_value = "ecdsa")]
    key_type: KeyType,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// URL clients reach the log at (default: http://<listen>).
    #[arg(long)]
    public_url: Option<String>,
    /// Checkpoint origin (default: the public URL without its scheme).
    #[arg(long)]
    origin: Option<String>,
    /// Most entries per batch (one checkpoint and one fsync per batch).
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Longest wait, in milliseconds, for a batch to fill.
    #[arg(long, default_value_t = 50)]
    batch_interval: u64,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY)]
    max_body: usize,
    /// SQLite: entries the lookup index (leaf hashes, search keys) keeps
    /// in memory before writing them out as a sorted run under
    /// <data-dir>/index/. More means fewer, larger run writes.
    #[arg(long, default_value_t = signet_log::storage::runs::DEFAULT_RUN_ENTRIES)]
    index_run_entries: u64,
    /// Print this log's `tlogs[]` entry for a trusted_root.json and exit.
    #[arg(long)]
    print_trust: bool,
    /// Where the log is kept. With `postgres`, several replicas may share
    /// one database: one sequences, the others serve reads and forward
    /// writes to it (all replicas need the same --signer-key and
    /// --public-url).
    #[arg(long, value_enum, default_value = "sqlite")]
    storage: StorageKind,
    /// postgres://user@host:port/db (no TLS) for --storage postgres.
    #[arg(long, env = "SIGNET_LOG_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// URL other replicas forward writes to (default: http://<listen>).
    #[arg(long)]
    advertise_url: Option<String>,
    /// [NAME=]PATH of an Ed25519 PKCS#8 PEM witness key: the log adds its
    /// C2SP cosignature to every checkpoint (a co-located witness, for tests
    /// and air-gapped setups). NAME defaults to the file stem. Repeatable.
    #[arg(long = "witness-key", value_name = "[NAME=]PATH")]
    witness_keys: Vec<String>,
}

pub fn run(cmd: LogCommand) -> ExitCode {
    match cmd {
        LogCommand::Serve(args) => serve(args),
        LogCommand::Monitor(args) => monitor::run(args),
        LogCommand::Fsck(args) => fsck::run(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let mut config = Config::new(&args.data_dir, public_url);
    config.signer_key = args.signer_key.clone();
    config.key_kind = args.key_type.signer_kind();
    config.origin = args.origin.clone();
    config.batch_size = args.batch_size.max(1);
    config.batch_interval = Duration::from_millis(args.batch_interval);
    config.max_body = args.max_body;
    config.index_run_entries = args.index_run_entries;
    if args.storage == StorageKind::Postgres {
        let Some(url) = args.postgres_url.clone() else {
            return fail("--storage postgres needs --postgres-url");
        };
        config.postgres = Some(signet_log::replica::PostgresConfig {
            url,
            advertise_url: args.advertise_url.clone(),
        });
    }
    config.witness_keys = args
        .witness_keys
        .iter()
        .map(|a| signet_log::witness::WitnessKey::parse_arg(a))
        .collect();
    if args.print_trust {
        return match config.trust_instance() {
            Ok(instance) => match serde_json::to_string_pretty(&instance) {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            },
            Err(e) => fail(e),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    match runtime.block_on(signet_log::serve(config, args.listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("signet: log serve: {e}");
    ExitCode::from(2)
}
