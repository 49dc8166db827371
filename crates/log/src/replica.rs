//! Several `signet log serve` replicas over one PostgreSQL database.
//!
//! Design (the simplest one that stays correct when a replica dies):
//!
//! * **One sequencer**: every replica runs a supervisor that, every
//!   [`POLL`], tries the PostgreSQL session-level advisory lock
//!   ([`PostgresStorage::try_lead`]). The holder starts a sequencer and
//!   advertises its internal URL in the `sequencer` table; the lock session
//!   is also the one every batch commits on, so a replica whose session is
//!   gone can commit nothing (see `storage/postgres.rs`). An advisory lock
//!   rather than a lease row: PostgreSQL frees it the moment the holder's
//!   session ends (crash, `kill -9`, lost connection), with no clocks, TTLs
//!   or renewals, and a holder cannot outlive it.
//! * **Followers serve reads** from the database (entries, tiles, proofs);
//!   their tree head follows the latest stored checkpoint (polled every
//!   [`POLL`], and re-read after each write they forward, so a client that
//!   wrote through a follower reads its entry there at once).
//! * **Followers forward writes**: `POST /api/v1/log/entries` and
//!   `/api/v2/log/entries` are proxied to the advertised URL and the
//!   sequencer's answer is returned unchanged. While no replica holds the
//!   lock (between a crash and the next poll) writes answer 503 and clients
//!   retry.
//! * **Failover**: when the sequencer dies, its session ends, the next
//!   follower to poll takes the lock, loads the committed state and goes on.
//!   A sequencer that finds its session dead stands down to follower.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use signet_tlog::{Checkpoint, Note, NoteSigner};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::api::{ApiError, LogContext};
use crate::sequencer::{SequencerConfig, SequencerHandle, TreeHead};
use crate::storage::postgres::PostgresStorage;
use crate::storage::Storage;
use crate::{Config, RunningLog, ServeError};

/// How often a replica checks the lock and the latest checkpoint.
pub const POLL: Duration = Duration::from_millis(100);
/// Marks a forwarded write, so that it is never forwarded twice.
const FORWARDED: &str = "x-signet-forwarded";
/// Longest wait for the sequencer to answer a forwarded write.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the shared database.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/db` (no TLS: loopback or a private net).
    pub url: String,
    /// The URL other replicas forward writes to; default `http://<bound
    /// address>`.
    pub advertise_url: Option<String>,
}

/// One replica: what the supervisor and the write forwarder share.
pub struct Replica {
    storage: Arc<PostgresStorage>,
    handle: SequencerHandle,
    signer: Arc<NoteSigner>,
    sequencer: SequencerConfig,
    advertise_url: String,
    max_body: usize,
}

/// The tree head a stored checkpoint note describes.
pub fn head_from_note(note: String) -> Option<TreeHead> {
    let checkpoint = Checkpoint::from_note(&Note::parse(&note).ok()?).ok()?;
    Some(TreeHead {
        size: checkpoint.size(),
        root: *checkpoint.root_hash(),
        checkpoint: note.into(),
    })
}

fn unavailable(message: impl Into<String>) -> Response {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response()
}

impl Replica {
    /// Follower: adopts the latest stored checkpoint.
    async fn refresh(&self) {
        match self.storage.latest_checkpoint().await {
            Ok(Some(note)) => {
                if let Some(head) = head_from_note(note) {
                    self.handle.observe(head);
                }
            }
            Ok(None) => {}
            Err(e) => eprintln!("signet-log: reading the latest checkpoint: {e}"),
        }
    }

    /// One round of the supervisor: keep, lose or take the sequencer role.
    async fn step(&self, task: &mut Option<tokio::task::JoinHandle<()>>) {
        if self.handle.is_active() {
            if self.storage.still_leading().await {
                return;
            }
            eprintln!("signet-log: lost the sequencer lock; following");
            self.handle.deactivate();
            if let Some(mut t) = task.take() {
                // The task drains its queue; one that does not end in time
                // is stopped, so no sequencer of this term is left to
                // answer (or publish a head) once the lock is taken again.
                if tokio::time::timeout(FORWARD_TIMEOUT, &mut t).await.is_err() {
                    t.abort();
                    let _ = t.await;
                }
            }
            self.storage.resign().await;
        }
        match self.storage.try_lead(&self.advertise_url).await {
            Ok(true) => {
                let storage: Arc<dyn Storage> = self.storage.clone();
                match self
                    .handle
                    .activate(storage, self.signer.clone(), self.sequencer.clone())
                    .await
                {
                    Ok(t) => {
                        eprintln!(
                            "signet-log: this replica ({}) is the sequencer",
                            self.advertise_url
                        );
                        *task = Some(t);
                    }
                    Err(e) => {
                        eprintln!("signet-log: cannot start the sequencer: {e}");
                        self.storage.resign().await;
                    }
                }
            }
            Ok(false) => self.refresh().await,
            Err(e) => eprintln!("signet-log: sequencer lock: {e}"),
        }
    }

    /// Proxies a write to the sequencer and returns its answer.
    async fn forward(&self, req: Request) -> Response {
        let url = match self.storage.sequencer_url().await {
            Ok(Some(u)) if u != self.advertise_url => u,
            Ok(_) => return unavailable("no sequencer at the moment; retry"),
            Err(e) => return ApiError::from(e).into_response(),
        };
        let Some((host, port)) = url::Url::parse(&url).ok().and_then(|u| {
            Some((
                u.host_str()?.trim_matches(['[', ']']).to_string(),
                u.port_or_known_default()?,
            ))
        }) else {
            return unavailable(format!("bad sequencer URL {url}"));
        };
        let (parts, body) = req.into_parts();
        let body = match axum::body::to_bytes(body, self.max_body).await {
            Ok(b) => b,
            Err(_) => {
                return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                    .into_response()
            }
        };
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let mut out = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, format!("{host}:{port}"))
            .header(FORWARDED, "1");
        if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
            out = out.header(header::CONTENT_TYPE, ct);
        }
        let Ok(out) = out.body(Body::from(body)) else {
            return unavailable("cannot build the forwarded request");
        };
        let answer = tokio::time::timeout(FORWARD_TIMEOUT, async {
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            let resp = sender
                .send_request(out)
                .await
                .map_err(std::io::Error::other)?;
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(Body::new(body), usize::MAX)
                .await
                .map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>((parts, bytes))
        })
        .await;
        let (parts, bytes) = match answer {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return unavailable(format!("sequencer at {url}: {e}; retry")),
            Err(_) => return unavailable(format!("sequencer at {url} timed out")),
        };
        // The sequencer has committed: let reads here see it at once.
        if parts.status.is_success() || parts.status == StatusCode::CONFLICT {
            self.refresh().await;
        }
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() = parts.status;
        for name in [header::CONTENT_TYPE, header::LOCATION, header::ETAG] {
            if let Some(v) = parts.headers.get(&name) {
                resp.headers_mut().insert(name, v.clone());
            }
        }
        resp.headers_mut()
            .insert("x-signet-sequencer", HeaderValue::from_static("forwarded"));
        resp
    }
}

/// Middleware: writes to a replica that is not the sequencer go to the one
/// that is.
async fn forward_writes(State(replica): State<Arc<Replica>>, req: Request, next: Next) -> Response {
    let is_write = req.method() == Method::POST
        && matches!(
            req.uri().path(),
            "/api/v1/log/entries" | "/api/v2/log/entries"
        );
    if !is_write || replica.handle.is_active() {
        return next.run(req).await;
    }
    if req.headers().contains_key(FORWARDED) {
        return unavailable("this replica is no longer the sequencer; retry");
    }
    replica.forward(req).await
}

/// Runs the supervisor (after a first [`Replica::step`] that started
/// `task` or not) until `stop`, then gives up the lock.
async fn supervise(
    replica: Arc<Replica>,
    mut task: Option<tokio::task::JoinHandle<()>>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(POLL) => {}
        }
        replica.step(&mut task).await;
    }
    replica.handle.deactivate();
    if let Some(t) = task {
        let _ = t.await;
    }
    replica.storage.resign().await;
}

/// Starts a replica over PostgreSQL on `listener`: it becomes the sequencer
/// if no other replica is, and follows otherwise.
pub(crate) async fn start(
    config: &Config,
    postgres: &PostgresConfig,
    listener: TcpListener,
    signer: Arc<NoteSigner>,
    sequencer: SequencerConfig,
) -> Result<RunningLog, ServeError> {
    let storage = Arc::new(PostgresStorage::connect(&postgres.url).await?);
    storage
        .init(&signet_model::encoding::encode_hex(signer.log_id()))
        .await?;
    let metrics = sequencer.metrics.clone();
    let addr = listener.local_addr()?;
    let advertise_url = postgres
        .advertise_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    let handle = SequencerHandle::standby(TreeHead {
        size: 0,
        root: signet_tlog::merkle::empty_root(),
        checkpoint: "".into(),
    });
    let replica = Arc::new(Replica {
        storage: storage.clone(),
        handle: handle.clone(),
        signer: signer.clone(),
        sequencer,
        advertise_url,
        max_body: config.max_body,
    });
    // Lead or follow before serving, so the first answers have a head.
    let mut task = None;
    replica.step(&mut task).await;
    let (stop_tx, stop_rx) = oneshot::channel();
    let supervisor = tokio::spawn(supervise(replica.clone(), task, stop_rx));
    let context = Arc::new(LogContext::new(
        storage,
        signer,
        handle,
        config.public_url.trim_end_matches('/').to_string(),
        metrics,
    ));
    let app = crate::router(context.clone(), config.max_body).layer(
        axum::middleware::from_fn_with_state(replica, forward_writes),
    );
    let (shutdown, rx) = oneshot::channel::<()>();
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
        sequencer: supervisor,
        stop_supervisor: Some(stop_tx),
    })
}
