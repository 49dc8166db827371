//! Where the log keeps its state. One trait, one small file per backend.
//!
//! The sequencer is the only writer and writes with exactly one call per
//! batch, [`Storage::commit_batch`], which must be atomic and durable: after
//! it returns `Ok`, a crash loses nothing of the batch; after `Err` (or a
//! crash during the call), storage holds either all of it or none of it.
//! Readers see only committed batches. The trait is async so that networked
//! backends fit: `postgres.rs` (shared by replicas, see [`crate::replica`])
//! and the embedded `sqlite.rs`, which runs its blocking calls on tokio's
//! blocking pool.

pub mod postgres;
pub mod runs;
pub mod sqlite;

use std::collections::BTreeMap;

use signet_tlog::merkle::Hash;

use crate::tree::TileKey;

/// A storage failure. The message is for operators; clients see a 5xx.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("storage was initialised for another log ({0})")]
    WrongLog(String),
    /// Storage cannot take writes from this replica now (its database
    /// session is gone, or another replica is the sequencer); retryable.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// One new entry of a batch.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub index: u64,
    pub leaf_hash: Hash,
    /// The canonical entry body (the leaf).
    pub body: Vec<u8>,
    pub integrated_time: i64,
    /// Search keys (see [`crate::entry::IndexKey`]), deduplicated.
    pub index_keys: Vec<String>,
}

/// Everything one sequencer batch changes.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Entries with consecutive indexes starting at the old tree size.
    pub entries: Vec<NewEntry>,
    /// New or grown hash tiles, with their full current contents.
    pub tiles: Vec<(TileKey, Vec<Hash>)>,
    /// The new tree size (old size + entries).
    pub size: u64,
    /// The signed checkpoint note for `size`.
    pub checkpoint: String,
}

/// A stored entry.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub index: u64,
    pub leaf_hash: Hash,
    pub body: Vec<u8>,
    pub integrated_time: i64,
}

/// The state the sequencer resumes from.
#[derive(Debug, Clone, Default)]
pub struct LogState {
    pub size: u64,
    /// The latest signed checkpoint, `None` for a new log.
    pub checkpoint: Option<String>,
    /// The right-edge tile of each level that has one.
    pub edge: BTreeMap<TileKey, Vec<Hash>>,
}

/// Storage of one log.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Binds storage to a log (its log ID, hex), or checks it is that log's.
    async fn init(&self, log_id: &str) -> Result<(), StorageError>;

    /// The committed state: size, latest checkpoint, right-edge tiles.
    async fn load_state(&self) -> Result<LogState, StorageError>;

    /// Commits a batch atomically and durably (one transaction).
    async fn commit_batch(&self, batch: Batch) -> Result<(), StorageError>;

    /// The index of each leaf hash already in the log.
    async fn indexes_by_leaf_hash(&self, leaves: &[Hash])
        -> Result<Vec<Option<u64>>, StorageError>;

    async fn entry_by_index(&self, index: u64) -> Result<Option<StoredEntry>, StorageError>;

    /// Entries `start..start + count` that exist, in order (entry bundles).
    async fn entries_range(&self, start: u64, count: u64)
        -> Result<Vec<StoredEntry>, StorageError>;

    /// A hash tile as currently stored (any width up to 256).
    async fn tile(&self, key: TileKey) -> Result<Option<Vec<Hash>>, StorageError>;

    /// Indexes of entries with this search key, ascending, at most `limit`.
    async fn search(&self, key: &str, limit: usize) -> Result<Vec<u64>, StorageError>;

    /// Whether the entry at `index` has this search key (for searches whose
    /// other key matches more entries than one search returns).
    async fn has_search_key(&self, index: u64, key: &str) -> Result<bool, StorageError>;

    /// The latest signed checkpoint.
    async fn latest_checkpoint(&self) -> Result<Option<String>, StorageError>;
}

/// A stored index back to `u64`; a negative one means the store is corrupt.
pub(crate) fn to_u64(v: i64) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|_| StorageError::Corrupt(format!("negative index {v}")))
}

/// A stored tile (concatenated 32-byte hashes, at most 256) back to hashes.
pub(crate) fn hashes_from_blob(blob: &[u8]) -> Result<Vec<Hash>, StorageError> {
    if !blob.len().is_multiple_of(32) || blob.len() > 32 * 256 {
        return Err(StorageError::Corrupt(format!(
            "tile of {} bytes",
            blob.len()
        )));
    }
    Ok(blob
        .chunks_exact(32)
        .filter_map(|c| <Hash>::try_from(c).ok())
        .collect())
}
