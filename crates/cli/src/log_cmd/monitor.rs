//! `signet log monitor`: follow a transparency log (see the Monitor section
//! of crates/log/README.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use signet_log::monitor::alert::{EXIT_ERROR, EXIT_USAGE};
use signet_log::monitor::watch::Watchlist;
use signet_log::monitor::{
    parse_duration, run as run_monitor, state, LogPolicy, Monitor, MonitorConfig,
    DEFAULT_MAX_ENTRIES,
};

#[derive(Args)]
pub struct MonitorArgs {
    /// The log's base URL (`signet log serve`, or any Rekor v1).
    url: String,
    #[command(flatten)]
    key: LogKeyArgs,
    /// State file; default: ~/.local/state/signet/monitor/<origin>.json.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Time between polls (e.g. 30s, 5m, 1h).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    interval: Duration,
    /// Poll once and exit: 0 nothing found, 1 log unreachable, 2 bad
    /// arguments, 3 watched identity/key appeared, 4 inconsistent or
    /// unverifiable checkpoint (or missing witness cosignature).
    #[arg(long)]
    once: bool,
    /// Read the C2SP tiles (`/checkpoint`, `/tile/...`) instead of Rekor v1.
    #[arg(long)]
    tiles: bool,
    /// Alert when a certificate SAN matches this regular expression
    /// (unanchored). Repeatable.
    #[arg(long = "watch-identity", value_name = "REGEX")]
    watch_identity: Vec<String>,
    /// Alert when this key (PEM public key or certificate file) signs an
    /// entry. Repeatable.
    #[arg(long = "watch-key", value_name = "PEM")]
    watch_key: Vec<PathBuf>,
    /// POST each alert as JSON to this URL.
    #[arg(long)]
    webhook: Option<String>,
    /// Most entries fetched and scanned per poll.
    #[arg(long, default_value_t = DEFAULT_MAX_ENTRIES)]
    max_entries: u64,
    /// First entry to scan when there is no state yet (default: only
    /// entries logged from now on).
    #[arg(long)]
    start_index: Option<u64>,
    /// Timeout of each HTTP request.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// How long the log may serve a newer checkpoint without a consistency
    /// proof (polls fail meanwhile) before that is an `inconsistent` alert.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    proof_grace: Duration,
}

/// Which log's checkpoints to accept: its key and the witnesses that must
/// cosign (shared by `log monitor` and `log fsck`).
#[derive(Args)]
pub struct LogKeyArgs {
    /// trusted_root.json naming the log (its `baseUrl` must be URL).
    #[arg(long, conflicts_with = "log_key")]
    trusted_root: Option<PathBuf>,
    /// The log's PEM public key (instead of --trusted-root).
    #[arg(long)]
    log_key: Option<PathBuf>,
    /// Checkpoint key name (origin); default: URL without its scheme.
    #[arg(long)]
    origin: Option<String>,
    /// NAME=KEYFILE: every checkpoint must carry a valid cosignature from
    /// this witness (Ed25519 PEM public key or C2SP vkey). Repeatable.
    #[arg(long = "require-witness", value_name = "NAME=KEYFILE")]
    require_witness: Vec<String>,
}

impl LogKeyArgs {
    /// The checkpoint policy for the log at `url`.
    pub fn policy(&self, url: &str) -> Result<LogPolicy, String> {
        let mut policy = match (&self.trusted_root, &self.log_key) {
            (Some(root), None) => {
                let json = std::fs::read(root).map_err(|e| format!("{}: {e}", root.display()))?;
                LogPolicy::from_trusted_root(&json, url, self.origin.as_deref())
            }
            (None, Some(key)) => {
                let origin = self
                    .origin
                    .clone()
                    .unwrap_or_else(|| signet_log::origin_of(url));
                LogPolicy::from_key_pem(&read(key)?, &origin)
            }
            _ => return Err("one of --trusted-root and --log-key is required".into()),
        }
        .map_err(|e| e.to_string())?;
        for spec in &self.require_witness {
            let (name, file) = spec
                .split_once('=')
                .ok_or_else(|| format!("--require-witness {spec:?}: expected NAME=KEYFILE"))?;
            policy
                .require_witness(name, &read(&PathBuf::from(file))?)
                .map_err(|e| e.to_string())?;
        }
        Ok(policy)
    }
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("signet: log monitor: {msg}");
    ExitCode::from(EXIT_USAGE)
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn config(args: &MonitorArgs) -> Result<MonitorConfig, String> {
    let policy = args.key.policy(&args.url)?;
    let mut keys = Vec::new();
    for path in &args.watch_key {
        keys.push((path.display().to_string(), read(path)?));
    }
    let watch = Watchlist::new(&args.watch_identity, &keys).map_err(|e| e.to_string())?;
    let state_path = match &args.state {
        Some(p) => p.clone(),
        None => state::default_path(policy.origin()).map_err(|e| e.to_string())?,
    };
    let mut config = MonitorConfig::new(args.url.clone(), policy, state_path);
    config.tiles = args.tiles;
    config.watch = watch;
    config.webhook = args.webhook.clone();
    config.max_entries = args.max_entries.max(1);
    config.timeout = args.timeout;
    config.start_index = args.start_index;
    config.proof_grace = args.proof_grace;
    Ok(config)
}

pub fn run(args: MonitorArgs) -> ExitCode {
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let monitor = match Monitor::new(config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("signet: log monitor: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("signet: log monitor: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let code = runtime.block_on(async {
        let once = args.once;
        tokio::select! {
            code = run_monitor(monitor, args.interval, once) => code,
            _ = tokio::signal::ctrl_c(), if !once => 0,
        }
    });
    ExitCode::from(code)
}
