//! `signet log serve`: a Sigstore transparency log.
//!
//! Clients speak Rekor v1 (`/api/v1`) or Rekor v2 (`/api/v2`) unchanged;
//! the tree is kept as C2SP tlog-tiles and served read-only at `/tile` and
//! `/checkpoint`. The moving parts, each in one module:
//!
//! * [`entry`]: proposed entries → verified, canonical bodies;
//! * [`sequencer`]: the one task that batches, appends, signs one checkpoint
//!   per batch and commits it before anyone hears back;
//! * [`tree`] / [`tiles`]: the Merkle tree as tiles, and proofs from them;
//! * [`storage`]: one trait, with the embedded SQLite backend and a
//!   PostgreSQL one;
//! * [`replica`]: several replicas over PostgreSQL, one sequencer among them;
//! * [`api`]: the HTTP routes;
//! * [`keys`]: the signing key and the trusted-root entry for this log;
//! * [`witness`]: co-located witness cosignatures on every checkpoint;
//! * [`monitor`]: `signet log monitor`, which follows a log, checks its
//!   checkpoints are signed, cosigned and consistent, and watches entries.

pub mod api;
pub mod entry;
pub mod fsck;
pub mod keys;
pub mod metrics;
pub mod monitor;
pub mod replica;
pub mod sequencer;
pub mod storage;
pub mod tiles;
pub mod tree;
pub mod witness;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use signet_tlog::{NoteSigner, SignerKind};
use tokio::net::TcpListener;

use crate::api::LogContext;
use crate::sequencer::SequencerConfig;
use crate::storage::sqlite::SqliteStorage;
use crate::storage::Storage;

/// Default `--max-body`: 128 KiB.
pub const DEFAULT_MAX_BODY: usize = 128 * 1024;

/// How to run a log.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the database (and of the generated key).
    pub data_dir: PathBuf,
    /// PKCS#8 PEM key; default `<data_dir>/signer.pem`, generated if absent.
    pub signer_key: Option<PathBuf>,
    /// Kind of key to generate when there is none.
    pub key_kind: SignerKind,
    /// Base URL clients reach the log at, e.g. `http://127.0.0.1:3000`.
    pub public_url: String,
    /// Checkpoint origin (and note key name); default: `public_url` without
    /// its scheme, which is the name `signet-verify` expects.
    pub origin: Option<String>,
    pub batch_size: usize,
    pub batch_interval: Duration,
    pub max_body: usize,
    /// SQLite: entries the lookup index keeps in memory before writing a
    /// sorted run (see [`storage::runs`]).
    pub index_run_entries: u64,
    /// Ed25519 witness keys that cosign every checkpoint (`--witness-key`).
    pub witness_keys: Vec<witness::WitnessKey>,
    /// Keep the log in PostgreSQL (shared by replicas) instead of SQLite
    /// in `data_dir` (which still holds the generated key).
    pub postgres: Option<replica::PostgresConfig>,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>, public_url: impl Into<String>) -> Self {
        Config {
            data_dir: data_dir.into(),
            signer_key: None,
            key_kind: SignerKind::EcdsaP256,
            public_url: public_url.into(),
            origin: None,
            batch_size: 1024,
            batch_interval: Duration::from_millis(50),
            max_body: DEFAULT_MAX_BODY,
            index_run_entries: storage::runs::DEFAULT_RUN_ENTRIES,
            witness_keys: Vec::new(),
            postgres: None,
        }
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> String {
        self.origin
            .clone()
            .unwrap_or_else(|| origin_of(&self.public_url))
    }

    pub fn key_path(&self) -> PathBuf {
        self.signer_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signer.pem"))
    }

    /// Loads (or generates) the signing key.
    pub fn signer(&self) -> Result<NoteSigner, ServeError> {
        Ok(keys::load_or_generate(
            &self.key_path(),
            self.key_kind,
            &self.origin(),
        )?)
    }

    /// The `tlogs[]` entry of a trusted root for this log, valid from the
    /// key file's modification time.
    pub fn trust_instance(
        &self,
    ) -> Result<signet_model::trust_root::TransparencyLogInstance, ServeError> {
        let signer = self.signer()?;
        let since = std::fs::metadata(self.key_path())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(0);
        Ok(keys::trust_instance(&signer, &self.public_url, since))
    }
}

/// `https://log.example.com/` → `log.example.com`.
pub fn origin_of(url: &str) -> String {
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/')
        .to_string()
}

/// Why the log could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Sequencer(#[from] sequencer::SequencerError),
    #[error(transparent)]
    Witness(#[from] witness::WitnessError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The full router over a context.
pub fn router(ctx: Arc<LogContext>, max_body: usize) -> Router {
    Router::new()
        .merge(api::rekor_v1::routes())
        .merge(api::rekor_v2::routes())
        .merge(api::tiles::routes())
        .route("/metrics", axum::routing::get(metrics::serve))
        .route_layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(ctx)
}

/// A running log; [`RunningLog::stop`] shuts it down cleanly.
pub struct RunningLog {
    pub addr: SocketAddr,
    pub context: Arc<LogContext>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    sequencer: tokio::task::JoinHandle<()>,
    /// Replicas: stops the supervisor (which gives up the sequencer lock).
    stop_supervisor: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningLog {
    /// Stops accepting connections, finishes in-flight requests, and waits
    /// for the sequencer to finish its last batch.
    pub async fn stop(self) -> std::io::Result<()> {
        let RunningLog {
            context,
            shutdown,
            server,
            sequencer,
            stop_supervisor,
            ..
        } = self;
        let _ = shutdown.send(());
        drop(context);
        let served = server.await.map_err(std::io::Error::other)?;
        if let Some(stop) = stop_supervisor {
            let _ = stop.send(());
        }
        let _ = sequencer.await;
        served
    }
}

/// Opens storage, loads the key, starts the sequencer and serves on
/// `listener`.
pub async fn start(config: &Config, listener: TcpListener) -> Result<RunningLog, ServeError> {
    let signer = Arc::new(config.signer()?);
    let witnesses = config
        .witness_keys
        .iter()
        .map(witness::Witness::load)
        .collect::<Result<Vec<_>, _>>()?;
    let sequencer_config = SequencerConfig {
        batch_size: config.batch_size,
        batch_interval: config.batch_interval,
        witnesses: witnesses.into(),
        metrics: Arc::new(metrics::LogMetrics::default()),
        ..SequencerConfig::default()
    };
    if let Some(postgres) = &config.postgres {
        return replica::start(config, postgres, listener, signer, sequencer_config).await;
    }
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(
        &config.data_dir,
        config.index_run_entries,
    )?);
    storage
        .init(&signet_model::encoding::encode_hex(signer.log_id()))
        .await?;
    let metrics = sequencer_config.metrics.clone();
    let (handle, sequencer) =
        sequencer::start(storage.clone(), signer.clone(), sequencer_config).await?;
    let context = Arc::new(LogContext::new(
        storage,
        signer,
        handle,
        config.public_url.trim_end_matches('/').to_string(),
        metrics,
    ));
    let app = router(context.clone(), config.max_body);
    let addr = listener.local_addr()?;
    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Ok(RunningLog {
        addr,
        context,
        shutdown,
        server,
        sequencer,
        stop_supervisor: None,
    })
}

/// Runs the log on `listen` until Ctrl-C.
pub async fn serve(config: Config, listen: SocketAddr) -> Result<(), ServeError> {
    let listener = TcpListener::bind(listen).await?;
    let log = start(&config, listener).await?;
    eprintln!(
        "signet-log: serving {} on http://{} (origin {})",
        config.public_url,
        log.addr,
        config.origin()
    );
    for w in &config.witness_keys {
        eprintln!("signet-log: cosigning checkpoints as witness {}", w.name());
    }
    let _ = tokio::signal::ctrl_c().await;
    log.stop().await?;
    Ok(())
}
