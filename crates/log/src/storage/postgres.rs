//! The PostgreSQL backend, for several `signet log serve` replicas sharing
//! one log (one database per log).
//!
//! * Tables as in SQLite (`entries`, `tiles`, `search`, `checkpoints`,
//!   `meta`) plus `sequencer(url)`, the internal URL of the current
//!   sequencer. The schema is created on start, under a transaction-level
//!   advisory lock so that replicas starting together do not race.
//! * One transaction per batch; its statements are pipelined (UNNEST of
//!   arrays: one statement per table, whatever the batch size). PostgreSQL's
//!   default `synchronous_commit = on` makes the commit durable.
//! * **Exactly one sequencer**: a replica becomes the sequencer by taking
//!   the session-level advisory lock [`SEQUENCER_LOCK`] on its *writer*
//!   connection, and every batch is committed on that same connection.
//!   PostgreSQL releases the lock only when that session ends, and a batch
//!   cannot commit on a session that has ended, so two sequencers can never
//!   both commit: the lock is a fence, not a lease that could expire under a
//!   slow writer. A crashed replica's session ends (its socket closes, or
//!   TCP keepalive finds it dead) and another replica takes the lock. As a
//!   second guard each commit checks, in its transaction, that the stored
//!   tree is the size the batch starts from.
//! * Reads go through a few shared connections (tokio-postgres pipelines
//!   concurrent queries on one connection), reconnected when they break.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use signet_tlog::merkle::Hash;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::{hashes_from_blob, to_u64, Batch, LogState, Storage, StorageError, StoredEntry};
use crate::tiles::{right_edge, MAX_TILE_LEVEL};
use crate::tree::TileKey;

const READERS: usize = 4;

/// The advisory lock key the sequencer holds (`"sgntlog1"` as a big-endian
/// integer). One log per database.
pub const SEQUENCER_LOCK: i64 = 0x7367_6e74_6c6f_6731;
/// The advisory lock key that serialises schema creation.
const SCHEMA_LOCK: i64 = 0x7367_6e74_6c6f_6730;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    idx BIGINT PRIMARY KEY,
    leaf_hash BYTEA NOT NULL UNIQUE,
    body BYTEA NOT NULL,
    integrated_time BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tiles (
    level SMALLINT NOT NULL,
    idx BIGINT NOT NULL,
    hashes BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS search (
    key TEXT NOT NULL,
    idx BIGINT NOT NULL,
    PRIMARY KEY (key, idx)
);
CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sequencer (
    id INT PRIMARY KEY CHECK (id = 1),
    url TEXT NOT NULL,
    since BIGINT NOT NULL
);
";

type Param<'a> = (&'a (dyn ToSql + Sync), Type);

fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

/// A write error: lost connections and terminated sessions are
/// `Unavailable` (the client may retry, on whichever replica leads next).
fn write_error(e: tokio_postgres::Error) -> StorageError {
    let lost = e.is_closed()
        || e.code()
            .is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P"));
    if lost {
        StorageError::Unavailable(e.to_string())
    } else {
        StorageError::Backend(e.to_string())
    }
}

fn to_i64(v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::Backend(format!("{v} does not fit BIGINT")))
}

fn to_entry(row: &tokio_postgres::Row) -> Result<StoredEntry, StorageError> {
    let idx: i64 = row.try_get(0).map_err(backend)?;
    let leaf: &[u8] = row.try_get(1).map_err(backend)?;
    Ok(StoredEntry {
        index: to_u64(idx)?,
        leaf_hash: Hash::try_from(leaf)
            .map_err(|_| StorageError::Corrupt("leaf hash is not 32 bytes".into()))?,
        body: row.try_get(2).map_err(backend)?,
        integrated_time: row.try_get(3).map_err(backend)?,
    })
}

/// The writer session: the connection that holds (or tries for) the
/// sequencer lock.
struct Writer {
    client: Option<Client>,
    /// Whether `client`'s session holds [`SEQUENCER_LOCK`].
    leading: bool,
}

/// The PostgreSQL backend.
pub struct PostgresStorage {
    config: tokio_postgres::Config,
    readers: Vec<RwLock<Arc<Client>>>,
    next_reader: AtomicUsize,
    writer: tokio::sync::Mutex<Writer>,
}

/// The settings of every session to `url`: a connect timeout and TCP
/// keepalives on both ends. The server's end matters for failover: the
/// sequencer lock goes only when PostgreSQL ends the session, and a replica
/// cut off from the network is found dead by the server's keepalive, which
/// by default takes about two hours; here about 25 s (probes after 10 s
/// idle, 3 of them 5 s apart). Options the URL gives are kept.
pub fn connection_config(url: &str) -> Result<tokio_postgres::Config, StorageError> {
    const SERVER_KEEPALIVES: &str =
        "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3";
    let mut config: tokio_postgres::Config = url.parse().map_err(backend)?;
    config
        .connect_timeout(Duration::from_secs(10))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10));
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {SERVER_KEEPALIVES}"),
        _ => SERVER_KEEPALIVES.to_string(),
    };
    config.options(&options);
    Ok(config)
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, StorageError> {
    let (client, connection) = config.connect(NoTls).await.map_err(backend)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("signet-log: postgres connection: {e}");
        }
    });
    Ok(client)
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user@host:port/db` or key=value
    /// form; no TLS) and creates the schema if needed.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let config = connection_config(url)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(RwLock::new(Arc::new(connect(&config).await?)));
        }
        let storage = PostgresStorage {
            config,
            readers,
            next_reader: AtomicUsize::new(0),
            writer: tokio::sync::Mutex::new(Writer {
                client: None,
                leading: false,
            }),
        };
        storage.create_schema().await?;
        Ok(storage)
    }

    async fn create_schema(&self) -> Result<(), StorageError> {
        let mut client = connect(&self.config).await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .await
            .map_err(backend)?;
        tx.batch_execute(SCHEMA).await.map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    /// A reader connection, reconnected if it broke.
    async fn reader(&self) -> Result<Arc<Client>, StorageError> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let current = self.readers[i]
            .read()
            .map_err(|_| backend("reader slot poisoned"))?
            .clone();
        if !current.is_closed() {
            return Ok(current);
        }
        let fresh = Arc::new(connect(&self.config).await?);
        *self.readers[i]
            .write()
            .map_err(|_| backend("reader slot poisoned"))? = fresh.clone();
        Ok(fresh)
    }

    async fn query(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<tokio_postgres::Row>, StorageError> {
        self.reader()
            .await?
            .query_typed(sql, params)
            .await
            .map_err(backend)
    }

    /// Tries to become the sequencer: takes [`SEQUENCER_LOCK`] on the
    /// writer session (without waiting) and, if it got it, records
    /// `advertise_url` as the sequencer's address. `Ok(true)` while this
    /// replica holds the lock.
    pub async fn try_lead(&self, advertise_url: &str) -> Result<bool, StorageError> {
        let mut w = self.writer.lock().await;
        if w.client.as_ref().is_none_or(Client::is_closed) {
            w.leading = false;
            w.client = Some(connect(&self.config).await?);
        }
        if w.leading {
            return Ok(true);
        }
        let Some(client) = w.client.as_ref() else {
            return Ok(false);
        };
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&SEQUENCER_LOCK])
            .await
            .map_err(backend)?
            .try_get(0)
            .map_err(backend)?;
        if got {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            client
                .execute(
                    "INSERT INTO sequencer (id, url, since) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO UPDATE SET url = excluded.url, since = excluded.since",
                    &[&advertise_url, &now],
                )
                .await
                .map_err(backend)?;
            w.leading = true;
        }
        Ok(got)
    }

    /// Whether this replica still holds the sequencer lock: its writer
    /// session answers (a dead session has lost the lock).
    pub async fn still_leading(&self) -> bool {
        let w = self.writer.lock().await;
        match (&w.client, w.leading) {
            (Some(c), true) => matches!(
                tokio::time::timeout(Duration::from_secs(5), c.simple_query("SELECT 1")).await,
                Ok(Ok(_))
            ),
            _ => false,
        }
    }

    /// Gives up the sequencer lock (closes the writer session).
    pub async fn resign(&self) {
        let mut w = self.writer.lock().await;
        w.client = None;
        w.leading = false;
    }

    /// The internal URL of the current (or last) sequencer.
    pub async fn sequencer_url(&self) -> Result<Option<String>, StorageError> {
        let rows = self
            .query("SELECT url FROM sequencer WHERE id = 1", &[])
            .await?;
        rows.first()
            .map(|r| r.try_get(0).map_err(backend))
            .transpose()
    }
}

#[async_trait::async_trait]
impl Storage for PostgresStorage {
    async fn init(&self, log_id: &str) -> Result<(), StorageError> {
        let client = self.reader().await?;
        client
            .execute(
                "INSERT INTO meta (key, value) VALUES ('log_id', $1) ON CONFLICT (key) DO NOTHING",
                &[&log_id],
            )
            .await
            .map_err(backend)?;
        let row = client
            .query_one("SELECT value FROM meta WHERE key = 'log_id'", &[])
            .await
            .map_err(backend)?;
        let stored: String = row.try_get(0).map_err(backend)?;
        if stored == log_id {
            Ok(())
        } else {
            Err(StorageError::WrongLog(stored))
        }
    }

    async fn load_state(&self) -> Result<LogState, StorageError> {
        // One snapshot: the sequencer may be committing meanwhile (when a
        // standby replica reads), and the edge must match the checkpoint.
        let mut client = connect(&self.config).await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(backend)?;
        let latest = tx
            .query_opt(
                "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(backend)?;
        let (size, checkpoint) = match latest {
            Some(r) => (
                to_u64(r.try_get(0).map_err(backend)?)?,
                Some(r.try_get::<_, String>(1).map_err(backend)?),
            ),
            None => (0, None),
        };
        let entries: i64 = tx
            .query_one("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries", &[])
            .await
            .map_err(backend)?
            .try_get(0)
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
            let row = tx
                .query_opt(
                    "SELECT hashes FROM tiles WHERE level = $1 AND idx = $2",
                    &[&i16::from(level), &to_i64(index)?],
                )
                .await
                .map_err(backend)?;
            let tile = match row {
                Some(r) => hashes_from_blob(r.try_get::<_, &[u8]>(0).map_err(backend)?)?,
                None => Vec::new(),
            };
            if tile.len() != width {
                return Err(StorageError::Corrupt(format!(
                    "right-edge tile {level}/{index} is not {width} wide"
                )));
            }
            edge.insert((level, index), tile);
        }
        tx.commit().await.map_err(backend)?;
        Ok(LogState {
            size,
            checkpoint,
            edge,
        })
    }

    async fn commit_batch(&self, batch: Batch) -> Result<(), StorageError> {
        let mut w = self.writer.lock().await;
        if !w.leading {
            return Err(StorageError::Unavailable(
                "this replica does not hold the sequencer lock".into(),
            ));
        }
        let client = w
            .client
            .as_mut()
            .ok_or_else(|| StorageError::Unavailable("no writer session".into()))?;
        let start = batch.size - batch.entries.len() as u64;
        let mut idx = Vec::with_capacity(batch.entries.len());
        let mut leaves = Vec::with_capacity(batch.entries.len());
        let mut bodies = Vec::with_capacity(batch.entries.len());
        let mut times = Vec::with_capacity(batch.entries.len());
        let mut keys = Vec::new();
        let mut key_idx = Vec::new();
        for e in &batch.entries {
            let i = to_i64(e.index)?;
            idx.push(i);
            leaves.push(&e.leaf_hash[..]);
            bodies.push(&e.body[..]);
            times.push(e.integrated_time);
            for k in &e.index_keys {
                keys.push(k.as_str());
                key_idx.push(i);
            }
        }
        let mut tile_levels = Vec::with_capacity(batch.tiles.len());
        let mut tile_idx = Vec::with_capacity(batch.tiles.len());
        let mut tile_blobs = Vec::with_capacity(batch.tiles.len());
        for ((level, index), hashes) in &batch.tiles {
            tile_levels.push(i16::from(*level));
            tile_idx.push(to_i64(*index)?);
            tile_blobs.push(hashes.iter().flatten().copied().collect::<Vec<u8>>());
        }
        let size = to_i64(batch.size)?;

        let entry_params: [Param<'_>; 4] = [
            (&idx, Type::INT8_ARRAY),
            (&leaves, Type::BYTEA_ARRAY),
            (&bodies, Type::BYTEA_ARRAY),
            (&times, Type::INT8_ARRAY),
        ];
        let search_params: [Param<'_>; 2] =
            [(&keys, Type::TEXT_ARRAY), (&key_idx, Type::INT8_ARRAY)];
        let tile_params: [Param<'_>; 3] = [
            (&tile_levels, Type::INT2_ARRAY),
            (&tile_idx, Type::INT8_ARRAY),
            (&tile_blobs, Type::BYTEA_ARRAY),
        ];
        // The fence: the stored tree is the one this batch extends (a new
        // log has no checkpoint; its first batch is the size-0 one). Checked
        // by the statement that writes the checkpoint, so that it holds
        // whatever order the pipelined statements run in.
        let expected: i64 = if batch.size == 0 { -1 } else { to_i64(start)? };
        let checkpoint_params: [Param<'_>; 3] = [
            (&size, Type::INT8),
            (&batch.checkpoint, Type::TEXT),
            (&expected, Type::INT8),
        ];

        let tx = client.transaction().await.map_err(write_error)?;
        // Statements are sent back to back (pipelined) and run in order.
        let (_, _, _, fenced) = tokio::try_join!(
            tx.query_typed(
                "INSERT INTO entries (idx, leaf_hash, body, integrated_time) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[], $3::BYTEA[], $4::BIGINT[])",
                &entry_params,
            ),
            tx.query_typed(
                "INSERT INTO search (key, idx) SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[]) \
                 ON CONFLICT DO NOTHING",
                &search_params,
            ),
            tx.query_typed(
                "INSERT INTO tiles (level, idx, hashes) \
                 SELECT * FROM UNNEST($1::SMALLINT[], $2::BIGINT[], $3::BYTEA[]) \
                 ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
                &tile_params,
            ),
            tx.query_typed(
                "INSERT INTO checkpoints (size, note) SELECT $1, $2 \
                 WHERE (SELECT COALESCE(MAX(size), -1) FROM checkpoints) = $3 \
                 ON CONFLICT (size) DO UPDATE SET note = excluded.note RETURNING size",
                &checkpoint_params,
            ),
        )
        .map_err(write_error)?;
        if fenced.len() != 1 {
            // Dropping `tx` rolls back.
            return Err(StorageError::Unavailable(format!(
                "the stored tree is not at {expected}, which this batch extends: \
                 another sequencer?"
            )));
        }
        tx.commit().await.map_err(write_error)
    }

    async fn indexes_by_leaf_hash(
        &self,
        leaves: &[Hash],
    ) -> Result<Vec<Option<u64>>, StorageError> {
        if leaves.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<&[u8]> = leaves.iter().map(|l| &l[..]).collect();
        let rows = self
            .query(
                "SELECT leaf_hash, idx FROM entries WHERE leaf_hash = ANY($1)",
                &[(&wanted, Type::BYTEA_ARRAY)],
            )
            .await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let leaf: &[u8] = r.try_get(0).map_err(backend)?;
            let idx: i64 = r.try_get(1).map_err(backend)?;
            found.insert(leaf.to_vec(), to_u64(idx)?);
        }
        Ok(leaves.iter().map(|l| found.get(&l[..]).copied()).collect())
    }

    async fn entry_by_index(&self, index: u64) -> Result<Option<StoredEntry>, StorageError> {
        let idx = to_i64(index)?;
        let rows = self
            .query(
                "SELECT idx, leaf_hash, body, integrated_time FROM entries WHERE idx = $1",
                &[(&idx, Type::INT8)],
            )
            .await?;
        rows.first().map(to_entry).transpose()
    }

    async fn entries_range(
        &self,
        start: u64,
        count: u64,
    ) -> Result<Vec<StoredEntry>, StorageError> {
        let lo = to_i64(start)?;
        let hi = to_i64(start.saturating_add(count))?;
        let rows = self
            .query(
                "SELECT idx, leaf_hash, body, integrated_time FROM entries \
                 WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[(&lo, Type::INT8), (&hi, Type::INT8)],
            )
            .await?;
        rows.iter().map(to_entry).collect()
    }

    async fn tile(&self, key: TileKey) -> Result<Option<Vec<Hash>>, StorageError> {
        let level = i16::from(key.0);
        let idx = to_i64(key.1)?;
        let rows = self
            .query(
                "SELECT hashes FROM tiles WHERE level = $1 AND idx = $2",
                &[(&level, Type::INT2), (&idx, Type::INT8)],
            )
            .await?;
        rows.first()
            .map(|r| hashes_from_blob(r.try_get::<_, &[u8]>(0).map_err(backend)?))
            .transpose()
    }

    async fn search(&self, key: &str, limit: usize) -> Result<Vec<u64>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .query(
                "SELECT idx FROM search WHERE key = $1 ORDER BY idx LIMIT $2",
                &[(&key, Type::TEXT), (&limit, Type::INT8)],
            )
            .await?;
        rows.iter()
            .map(|r| to_u64(r.try_get(0).map_err(backend)?))
            .collect()
    }

    async fn has_search_key(&self, index: u64, key: &str) -> Result<bool, StorageError> {
        let idx = to_i64(index)?;
        let rows = self
            .query(
                "SELECT 1 FROM search WHERE key = $1 AND idx = $2",
                &[(&key, Type::TEXT), (&idx, Type::INT8)],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn latest_checkpoint(&self) -> Result<Option<String>, StorageError> {
        let rows = self
            .query(
                "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )
            .await?;
        rows.first()
            .map(|r| r.try_get(0).map_err(backend))
            .transpose()
    }
}
