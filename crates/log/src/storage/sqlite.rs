//! The embedded backend: one SQLite database, `<data-dir>/log.db`.
//!
//! * WAL mode, so readers never block the writer or each other.
//! * `synchronous=FULL`: every commit fsyncs the WAL before returning, so a
//!   batch acknowledged to clients survives power loss (NORMAL would only
//!   survive process crashes). One transaction and one fsync per batch, so
//!   the cost is amortised over up to `--batch-size` entries.
//! * One writer connection (the sequencer is the only writer) and a few
//!   reader connections; all calls run on tokio's blocking pool.
//! * Checkpoints (copying WAL frames back into the database file) run on a
//!   thread of their own, not inside the sequencer's commits: with random
//!   index keys a batch dirties about one page per entry and index, and
//!   copying those back (and syncing the database file) was a third of the
//!   commit time at a million entries, on the one thread every append
//!   waits for. PASSIVE checkpoints never block the writer,
//!   but under continuous commits the WAL is never found fully copied
//!   between two of them, so it would only grow: once it is past
//!   [`WAL_RESTART_FRAMES`], the writer's next commit first runs a RESTART
//!   checkpoint, which has little left to copy, and the WAL starts over
//!   (and is cut back to 4 × that size if a burst made it longer).
//!
//! Tables: `entries(idx, leaf_hash UNIQUE, body, integrated_time)`,
//! `tiles(level, idx, hashes)` (the current contents of each hash tile:
//! a partial tile grows in place, a full one never changes),
//! `search(key, idx)`, `checkpoints(size, note)` and `meta(key, value)`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use signet_tlog::merkle::Hash;

use super::{hashes_from_blob, to_u64, Batch, LogState, Storage, StorageError, StoredEntry};
use crate::tiles::{right_edge, MAX_TILE_LEVEL};
use crate::tree::TileKey;

const READERS: usize = 4;
/// How often the checkpointer copies committed WAL frames back.
#[cfg(not(test))]
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);
#[cfg(test)]
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(40);
/// WAL frames (4 KiB pages) beyond which the writer restarts the WAL, so
/// that the WAL file stays near 64 MiB.
#[cfg(not(test))]
const WAL_RESTART_FRAMES: i64 = 16_384;
#[cfg(test)]
const WAL_RESTART_FRAMES: i64 = 64;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL UNIQUE,
    body BLOB NOT NULL,
    integrated_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tiles (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS search (
    key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (key, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
";

/// The SQLite backend.
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Set by the checkpointer when the WAL is long: the writer restarts it.
    restart_wal: AtomicBool,
}

/// Checkpoints the WAL of `path` every [`CHECKPOINT_INTERVAL`] until
/// `inner` (the storage) is dropped, and asks the writer to restart the WAL
/// once it is longer than [`WAL_RESTART_FRAMES`].
fn checkpointer(path: std::path::PathBuf, inner: std::sync::Weak<Inner>) {
    let conn = match open(&path, READER_CACHE_KIB) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("signet-log: checkpointer: {e}; checkpoints fall back to the writer");
            if let Some(inner) = inner.upgrade() {
                if let Ok(w) = inner.writer.lock() {
                    let _ = w.pragma_update(None, "wal_autocheckpoint", 1000);
                }
            }
            return;
        }
    };
    loop {
        std::thread::sleep(CHECKPOINT_INTERVAL);
        let Some(inner) = inner.upgrade() else {
            return;
        };
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
            Ok(wal_frames) if wal_frames > WAL_RESTART_FRAMES => {
                inner.restart_wal.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => eprintln!("signet-log: checkpoint: {e}"),
        }
    }
}

fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

fn to_i64(v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::Backend(format!("{v} does not fit SQLite")))
}

fn hash_from_blob(blob: &[u8]) -> Result<Hash, StorageError> {
    Hash::try_from(blob).map_err(|_| StorageError::Corrupt("leaf hash is not 32 bytes".into()))
}

/// Page cache per connection, in KiB: the leaf-hash and search indexes
/// take random keys, so every insert and dedupe lookup touches a random
/// page; SQLite's default 2 MiB cache made those reads from the OS.
const WRITER_CACHE_KIB: i64 = 64 * 1024;
const READER_CACHE_KIB: i64 = 16 * 1024;

fn open(path: &Path, cache_kib: i64) -> Result<Connection, StorageError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.pragma_update(None, "cache_size", -cache_kib)
        .map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(backend)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    Ok(conn)
}

impl SqliteStorage {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let path = dir.join("log.db");
        let writer = open(&path, WRITER_CACHE_KIB)?;
        writer.execute_batch(SCHEMA).map_err(backend)?;
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(backend)?;
        // A WAL that grew (a burst the checkpointer could not keep up
        // with) is cut back when it restarts.
        writer
            .pragma_update(None, "journal_size_limit", 4 * WAL_RESTART_FRAMES * 4096)
            .map_err(backend)?;
        let readers = (0..READERS)
            .map(|_| open(&path, READER_CACHE_KIB).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let inner = Arc::new(Inner {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            restart_wal: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("signet-log-checkpointer".into())
            .spawn(move || checkpointer(path, weak))
            .map_err(backend)?;
        Ok(SqliteStorage { inner })
    }

    /// Runs `f` with a reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let i = inner.next_reader.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            let conn = inner.readers[i]
                .lock()
                .map_err(|_| backend("reader connection poisoned"))?;
            f(&conn)
        })
        .await
        .map_err(backend)?
    }

    /// Runs `f` with the writer connection on the blocking pool.
    async fn write<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner
                .writer
                .lock()
                .map_err(|_| backend("writer connection poisoned"))?;
            f(&mut conn)
        })
        .await
        .map_err(backend)?
    }
}

fn read_tile(conn: &Connection, key: TileKey) -> Result<Option<Vec<Hash>>, StorageError> {
    let blob: Option<Vec<u8>> = conn
        .prepare_cached("SELECT hashes FROM tiles WHERE level = ?1 AND idx = ?2")
        .map_err(backend)?
        .query_row(params![key.0, to_i64(key.1)?], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    blob.map(|b| hashes_from_blob(&b)).transpose()
}

fn row_to_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Vec<u8>, Vec<u8>, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_entry(row: (i64, Vec<u8>, Vec<u8>, i64)) -> Result<StoredEntry, StorageError> {
    Ok(StoredEntry {
        index: to_u64(row.0)?,
        leaf_hash: hash_from_blob(&row.1)?,
        body: row.2,
        integrated_time: row.3,
    })
}

#[async_trait::async_trait]
impl Storage for SqliteStorage {
    async fn init(&self, log_id: &str) -> Result<(), StorageError> {
        let log_id = log_id.to_string();
        self.write(move |conn| {
            let existing: Option<String> = conn
                .query_row("SELECT value FROM meta WHERE key = 'log_id'", [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?;
            match existing {
                Some(v) if v == log_id => Ok(()),
                Some(v) => Err(StorageError::WrongLog(v)),
                None => {
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('log_id', ?1)",
                        params![log_id],
                    )
                    .map_err(backend)?;
                    Ok(())
                }
            }
        })
        .await
    }

    async fn load_state(&self) -> Result<LogState, StorageError> {
        self.read(|conn| {
            let latest: Option<(i64, String)> = conn
                .query_row(
                    "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(backend)?;
            let (size, checkpoint) = match latest {
                Some((s, n)) => (to_u64(s)?, Some(n)),
                None => (0, None),
            };
            let entries: i64 = conn
                .query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries", [], |r| {
                    r.get(0)
                })
                .map_err(backend)?;
            if to_u64(entries)? != size {
                return Err(StorageError::Corrupt(format!(
                    "{entries} entries but the latest checkpoint is for {size}"
                )));
            }
            let mut edge = std::collections::BTreeMap::new();
            for level in 0..=MAX_TILE_LEVEL {
                let (index, width) = right_edge(size, level);
                if width == 0 {
                    continue;
                }
                match read_tile(conn, (level, index))? {
                    Some(t) if t.len() == width => {
                        edge.insert((level, index), t);
                    }
                    _ => {
                        return Err(StorageError::Corrupt(format!(
                            "right-edge tile {level}/{index} is not {width} wide"
                        )))
                    }
                }
            }
            Ok(LogState {
                size,
                checkpoint,
                edge,
            })
        })
        .await
    }

    async fn commit_batch(&self, batch: Batch) -> Result<(), StorageError> {
        let restart_wal = self.inner.restart_wal.swap(false, Ordering::Relaxed);
        self.write(move |conn| {
            if restart_wal {
                // The checkpointer has copied nearly all of the WAL back:
                // copy the rest and start it over. If that fails the WAL
                // just stays long; the batch is unaffected.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
                    eprintln!("signet-log: WAL restart: {e}");
                }
            }
            let tx = conn.transaction().map_err(backend)?;
            {
                let mut ins = tx
                    .prepare_cached(
                        "INSERT INTO entries (idx, leaf_hash, body, integrated_time) \
                         VALUES (?1, ?2, ?3, ?4)",
                    )
                    .map_err(backend)?;
                let mut search = tx
                    .prepare_cached("INSERT OR IGNORE INTO search (key, idx) VALUES (?1, ?2)")
                    .map_err(backend)?;
                for e in &batch.entries {
                    let idx = to_i64(e.index)?;
                    ins.execute(params![idx, &e.leaf_hash[..], &e.body, e.integrated_time])
                        .map_err(backend)?;
                    for k in &e.index_keys {
                        search.execute(params![k, idx]).map_err(backend)?;
                    }
                }
                let mut tile = tx
                    .prepare_cached(
                        "INSERT INTO tiles (level, idx, hashes) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
                    )
                    .map_err(backend)?;
                for ((level, index), hashes) in &batch.tiles {
                    let blob: Vec<u8> = hashes.iter().flatten().copied().collect();
                    tile.execute(params![level, to_i64(*index)?, blob])
                        .map_err(backend)?;
                }
                tx.execute(
                    "INSERT INTO checkpoints (size, note) VALUES (?1, ?2) \
                     ON CONFLICT (size) DO UPDATE SET note = excluded.note",
                    params![to_i64(batch.size)?, batch.checkpoint],
                )
                .map_err(backend)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn indexes_by_leaf_hash(
        &self,
        leaves: &[Hash],
    ) -> Result<Vec<Option<u64>>, StorageError> {
        let leaves = leaves.to_vec();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT idx FROM entries WHERE leaf_hash = ?1")
                .map_err(backend)?;
            leaves
                .iter()
                .map(|l| {
                    let idx: Option<i64> = stmt
                        .query_row(params![&l[..]], |r| r.get(0))
                        .optional()
                        .map_err(backend)?;
                    idx.map(to_u64).transpose()
                })
                .collect()
        })
        .await
    }

    async fn entry_by_index(&self, index: u64) -> Result<Option<StoredEntry>, StorageError> {
        let idx = to_i64(index)?;
        self.read(move |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT idx, leaf_hash, body, integrated_time FROM entries WHERE idx = ?1",
                )
                .map_err(backend)?
                .query_row(params![idx], row_to_entry)
                .optional()
                .map_err(backend)?;
            row.map(to_entry).transpose()
        })
        .await
    }

    async fn entries_range(
        &self,
        start: u64,
        count: u64,
    ) -> Result<Vec<StoredEntry>, StorageError> {
        let lo = to_i64(start)?;
        let hi = to_i64(start.saturating_add(count))?;
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT idx, leaf_hash, body, integrated_time FROM entries \
                     WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![lo, hi], row_to_entry)
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend).and_then(to_entry))
                .collect()
        })
        .await
    }

    async fn tile(&self, key: TileKey) -> Result<Option<Vec<Hash>>, StorageError> {
        self.read(move |conn| read_tile(conn, key)).await
    }

    async fn search(&self, key: &str, limit: usize) -> Result<Vec<u64>, StorageError> {
        let key = key.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT idx FROM search WHERE key = ?1 ORDER BY idx LIMIT ?2")
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![key, limit], |r| r.get::<_, i64>(0))
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend).and_then(to_u64)).collect()
        })
        .await
    }

    async fn latest_checkpoint(&self) -> Result<Option<String>, StorageError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::NewEntry;
    use crate::tree::EdgeTiles;

    /// Batches of entries with random-looking keys, committed with the
    /// checkpointer running: the WAL is restarted (so it stays short) and
    /// every entry, tile and checkpoint reads back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_and_restarted_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        storage.init("log").await.unwrap();
        let wal = dir.path().join("log.db-wal");
        let mut edge = EdgeTiles::default();
        let mut longest = 0;
        for batch in 0..60u64 {
            let mut entries = Vec::new();
            for i in 0..200u64 {
                let index = batch * 200 + i;
                let body = format!("entry {index}").into_bytes();
                let leaf_hash = signet_tlog::merkle::leaf_hash(&body);
                edge.append(leaf_hash).unwrap();
                entries.push(NewEntry {
                    index,
                    leaf_hash,
                    body,
                    integrated_time: 1,
                    index_keys: vec![format!(
                        "sha256:{}",
                        signet_model::encoding::encode_hex(leaf_hash)
                    )],
                });
            }
            let size = edge.size();
            storage
                .commit_batch(Batch {
                    entries,
                    tiles: edge.take_changed(),
                    size,
                    checkpoint: format!("checkpoint {size}"),
                })
                .await
                .unwrap();
            // Back to back, as under load: the WAL is never found fully
            // copied between two commits, so only a restart shortens it.
            longest = longest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        // Without restarts the WAL holds every page of the 60 batches
        // (44 MiB here; checked by disabling them); restarted, a few
        // batches' worth (4 to 5 MiB).
        assert!(longest <= 16 << 20, "WAL reached {longest} bytes");
        let state = storage.load_state().await.unwrap();
        assert_eq!(state.size, 12_000);
        assert_eq!(state.checkpoint.as_deref(), Some("checkpoint 12000"));
        let e = storage.entry_by_index(4321).await.unwrap().unwrap();
        assert_eq!(e.body, b"entry 4321");
        assert_eq!(
            storage.indexes_by_leaf_hash(&[e.leaf_hash]).await.unwrap(),
            [Some(4321)]
        );
        assert_eq!(
            EdgeTiles::new(state.size, state.edge)
                .unwrap()
                .root()
                .unwrap(),
            edge.root().unwrap()
        );
    }
}
