//! HTTP APIs over one [`LogContext`]: Rekor v1 (`/api/v1`), Rekor v2
//! (`/api/v2`) and the C2SP tlog-tiles read path (`/checkpoint`, `/tile`).

pub mod rekor_v1;
pub mod rekor_v2;
pub mod tiles;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use signet_tlog::merkle::Hash;
use signet_tlog::NoteSigner;

use crate::entry::{EntryError, Prepared};
use crate::metrics::LogMetrics;
use crate::sequencer::{Outcome, SequencerError, SequencerHandle, TreeHead};
use crate::storage::{Storage, StorageError, StoredEntry};
use crate::tree::{Plan, TileKey, TreeError};

/// Tiles kept in memory for proofs (8 KiB each: at most 32 MiB).
const TILE_CACHE_TILES: usize = 4096;

/// An error answered as Rekor's `{"code": N, "message": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.status.as_u16(), "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

impl From<EntryError> for ApiError {
    fn from(e: EntryError) -> Self {
        match e {
            EntryError::Invalid(_) => Self::bad_request(e.to_string()),
            EntryError::TooLarge(_) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        eprintln!("signet-log: storage error: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage error")
    }
}

impl From<TreeError> for ApiError {
    fn from(e: TreeError) -> Self {
        match e {
            TreeError::IndexOutOfRange { .. } | TreeError::BadSizes { .. } => {
                Self::bad_request(e.to_string())
            }
            _ => {
                eprintln!("signet-log: tree error: {e}");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "tree error")
            }
        }
    }
}

impl From<SequencerError> for ApiError {
    fn from(e: SequencerError) -> Self {
        match e {
            SequencerError::Unavailable(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            _ => {
                eprintln!("signet-log: {e}");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "could not log the entry")
            }
        }
    }
}

/// A request body, with the size limit's rejection answered as JSON 413.
/// An axum extractor's rejection (answered in plain text by default).
pub trait Rejection {
    fn status(&self) -> StatusCode;
    fn body_text(&self) -> String;
}

macro_rules! rejection {
    ($($t:ty),*) => {$(
        impl Rejection for $t {
            fn status(&self) -> StatusCode {
                <$t>::status(self)
            }
            fn body_text(&self) -> String {
                <$t>::body_text(self)
            }
        }
    )*};
}
rejection!(BytesRejection, QueryRejection, PathRejection);

/// An extracted body, query or path, or Rekor's JSON error saying why not.
pub fn extracted<T>(value: Result<T, impl Rejection>) -> Result<T, ApiError> {
    value.map_err(|e| ApiError::new(e.status(), e.body_text()))
}

/// What every handler shares.
pub struct LogContext {
    pub storage: Arc<dyn Storage>,
    pub signer: Arc<NoteSigner>,
    pub sequencer: SequencerHandle,
    /// Base URL clients use, without a trailing slash.
    pub public_url: String,
    pub metrics: Arc<LogMetrics>,
    tile_cache: Mutex<HashMap<TileKey, Arc<Vec<Hash>>>>,
}

impl LogContext {
    pub fn new(
        storage: Arc<dyn Storage>,
        signer: Arc<NoteSigner>,
        sequencer: SequencerHandle,
        public_url: String,
        metrics: Arc<LogMetrics>,
    ) -> Self {
        LogContext {
            storage,
            signer,
            sequencer,
            public_url,
            metrics,
            tile_cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn head(&self) -> TreeHead {
        self.sequencer.head()
    }

    /// Hands a checked entry to the sequencer, counting it by kind.
    pub async fn submit(&self, entry: Prepared) -> Result<Outcome, ApiError> {
        let kind = entry.body.kind();
        let version = entry.body.version();
        let outcome = self.sequencer.submit(entry).await?;
        let outcome_label = match outcome {
            Outcome::Logged(_) => "logged",
            Outcome::Duplicate { .. } => "duplicate",
        };
        self.metrics.submissions.inc(&[
            ("kind", kind),
            ("version", version),
            ("outcome", outcome_label),
        ]);
        Ok(outcome)
    }

    /// A tile of the committed tree at least `min_width` wide. Hashes
    /// below a tile's width never change as it grows, so the widest copy
    /// seen serves every read that needs no more: full tiles, and the
    /// right-edge partial tiles until the next batch widens them.
    async fn tile(&self, key: TileKey, min_width: usize) -> Result<Arc<Vec<Hash>>, ApiError> {
        if let Some(t) = self
            .tile_cache
            .lock()
            .ok()
            .and_then(|c| c.get(&key).filter(|t| t.len() >= min_width).cloned())
        {
            return Ok(t);
        }
        let tile = match self.storage.tile(key).await? {
            Some(t) if t.len() >= min_width => Arc::new(t),
            found => {
                let width = found.map_or(0, |t| t.len());
                return Err(StorageError::Corrupt(format!(
                    "tile {}/{} is {width} wide, a committed tree needs {min_width}",
                    key.0, key.1
                ))
                .into());
            }
        };
        if let Ok(mut cache) = self.tile_cache.lock() {
            // Bounded and boring: start over when full.
            if cache.len() >= TILE_CACHE_TILES {
                cache.clear();
            }
            let wider = cache.get(&key).is_none_or(|t| t.len() < tile.len());
            if wider {
                cache.insert(key, tile.clone());
            }
        }
        Ok(tile)
    }

    /// The hashes of `plan`, from stored tiles.
    pub async fn hashes(&self, plan: &Plan) -> Result<Vec<Hash>, ApiError> {
        let mut tiles: HashMap<TileKey, Arc<Vec<Hash>>> = HashMap::new();
        for (key, min_width) in plan.tiles() {
            tiles.insert(key, self.tile(key, min_width).await?);
        }
        Ok(plan.resolve(|k| tiles.get(&k).map(|t| t.as_slice()))?)
    }

    /// The root of the tree of `size` (≤ the committed size).
    pub async fn root(&self, size: u64) -> Result<Hash, ApiError> {
        if size == 0 {
            return Ok(signet_tlog::merkle::empty_root());
        }
        Ok(self.hashes(&Plan::root(size)).await?[0])
    }

    /// Rekor's tree ID of this log: the first 8 bytes of the log ID, as a
    /// positive int64 (the prefix of 80-digit entry UUIDs).
    pub fn tree_id(&self) -> u64 {
        let id = self.signer.log_id();
        u64::from_be_bytes([id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]]) >> 1
    }

    /// The entry with this UUID (hex leaf hash, optionally prefixed by this
    /// log's 16-hex-digit tree ID as Rekor v1 writes them).
    pub async fn entry_by_uuid(&self, uuid: &str) -> Result<StoredEntry, ApiError> {
        // Checked before any slicing: a length in bytes says nothing about
        // character boundaries.
        if !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request("an entry UUID is hex"));
        }
        let hex_hash = match uuid.len() {
            64 => uuid,
            80 => {
                let (tree, hash) = uuid.split_at(16);
                if u64::from_str_radix(tree, 16).ok() != Some(self.tree_id()) {
                    return Err(ApiError::not_found(format!(
                        "tree ID {tree} is not this log's ({:016x})",
                        self.tree_id()
                    )));
                }
                hash
            }
            _ => {
                return Err(ApiError::bad_request(
                    "an entry UUID is 64 or 80 hex digits",
                ))
            }
        };
        let leaf: Hash = hex::decode(hex_hash)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| ApiError::bad_request("an entry UUID is hex"))?;
        self.entry_by_leaf(leaf).await
    }

    /// The entry whose leaf hash this is.
    pub async fn entry_by_leaf(&self, leaf: Hash) -> Result<StoredEntry, ApiError> {
        let index = self
            .storage
            .indexes_by_leaf_hash(&[leaf])
            .await?
            .into_iter()
            .next()
            .flatten()
            .ok_or_else(|| ApiError::not_found("no such entry"))?;
        self.entry_by_index(index).await
    }

    pub async fn entry_by_index(&self, index: u64) -> Result<StoredEntry, ApiError> {
        let head = self.head();
        if index >= head.size {
            return Err(ApiError::not_found("no such entry"));
        }
        self.storage
            .entry_by_index(index)
            .await?
            .ok_or_else(|| ApiError::not_found("no such entry"))
    }

    /// An inclusion proof of `index` in the current head.
    pub async fn inclusion(&self, index: u64) -> Result<(TreeHead, Vec<Hash>), ApiError> {
        let head = self.head();
        let proof = self.hashes(&Plan::inclusion(index, head.size)?).await?;
        Ok((head, proof))
    }
}

pub type Ctx = Arc<LogContext>;
