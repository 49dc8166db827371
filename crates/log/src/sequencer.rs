//! The sequencer: the one task that appends to the log.
//!
//! Submissions arrive on a bounded channel, each with a oneshot for the
//! answer. The sequencer gathers a batch (up to `batch_size` submissions, or
//! whatever arrived within `batch_interval` of the first), drops duplicates
//! (of stored entries and within the batch), assigns indexes and one
//! integrated time, grows the tiles in memory, signs ONE checkpoint, commits
//! everything in one storage transaction, and only then answers every
//! waiter, with an inclusion proof computed from the tiles it holds.
//!
//! Crash safety: the in-memory state (size, right-edge tiles) only advances
//! after a successful commit. If a commit fails, the sequencer reloads the
//! state from storage (which holds all of the batch or none of it) and
//! answers the batch with an error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use signet_tlog::checkpoint::Checkpoint;
use signet_tlog::merkle::Hash;
use signet_tlog::NoteSigner;
use tokio::sync::{mpsc, oneshot, watch};

use crate::entry::Prepared;
use crate::storage::{Batch, NewEntry, Storage, StorageError};
use crate::tree::{EdgeTiles, Plan, TreeError};

/// Why a submission was not logged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SequencerError {
    #[error("the log is not accepting entries: {0}")]
    Unavailable(String),
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("tree: {0}")]
    Tree(#[from] TreeError),
}

impl From<StorageError> for SequencerError {
    fn from(e: StorageError) -> Self {
        SequencerError::Storage(e.to_string())
    }
}

/// The latest committed tree head.
#[derive(Debug, Clone)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
    /// The signed checkpoint note for `size`.
    pub checkpoint: Arc<str>,
}

/// A durably logged entry.
#[derive(Debug, Clone)]
pub struct Logged {
    pub index: u64,
    pub integrated_time: i64,
    pub head: TreeHead,
    /// Inclusion proof of the entry in `head`.
    pub proof: Vec<Hash>,
}

/// The answer to one submission.
#[derive(Debug, Clone)]
pub enum Outcome {
    Logged(Logged),
    /// The same leaf is already in the log at this index.
    Duplicate {
        index: u64,
    },
}

struct Submission {
    entry: Prepared,
    reply: oneshot::Sender<Result<Outcome, SequencerError>>,
}

/// Tunables.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    pub batch_size: usize,
    pub batch_interval: Duration,
    /// Submissions that may wait for the sequencer before callers get 503.
    pub queue: usize,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            batch_size: 1024,
            batch_interval: Duration::from_millis(50),
            queue: 4096,
        }
    }
}

/// A handle to submit entries and watch the tree head.
#[derive(Clone)]
pub struct SequencerHandle {
    tx: mpsc::Sender<Submission>,
    head: watch::Receiver<TreeHead>,
}

impl SequencerHandle {
    /// Submits an entry and waits until it is durably logged.
    pub async fn submit(&self, entry: Prepared) -> Result<Outcome, SequencerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Submission { entry, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    SequencerError::Unavailable("too many pending submissions".into())
                }
                mpsc::error::TrySendError::Closed(_) => {
                    SequencerError::Unavailable("the sequencer has stopped".into())
                }
            })?;
        rx.await
            .map_err(|_| SequencerError::Unavailable("the sequencer has stopped".into()))?
    }

    /// The latest committed tree head.
    pub fn head(&self) -> TreeHead {
        self.head.borrow().clone()
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Signs the checkpoint for `size`/`root`.
pub fn sign_checkpoint(
    signer: &NoteSigner,
    size: u64,
    root: Hash,
) -> Result<String, SequencerError> {
    let text = Checkpoint::new(signer.name(), size, root, Vec::new())
        .map_err(|e| SequencerError::Unavailable(format!("checkpoint: {e}")))?
        .to_text();
    let note = signer
        .sign_note(text)
        .map_err(|e| SequencerError::Unavailable(format!("signing: {e}")))?;
    Ok(note.serialize())
}

struct Sequencer {
    storage: Arc<dyn Storage>,
    signer: Arc<NoteSigner>,
    edge: EdgeTiles,
    head: watch::Sender<TreeHead>,
    config: SequencerConfig,
}

/// Loads the log state, signs an initial checkpoint for a new log, and
/// starts the sequencer task. The task ends when every handle is dropped.
pub async fn start(
    storage: Arc<dyn Storage>,
    signer: Arc<NoteSigner>,
    config: SequencerConfig,
) -> Result<(SequencerHandle, tokio::task::JoinHandle<()>), SequencerError> {
    let (edge, head) = load(&*storage, &signer).await?;
    let (head_tx, head_rx) = watch::channel(head);
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let seq = Sequencer {
        storage,
        signer,
        edge,
        head: head_tx,
        config,
    };
    let task = tokio::spawn(seq.run(rx));
    Ok((SequencerHandle { tx, head: head_rx }, task))
}

/// The committed state; a new log gets its size-0 checkpoint committed.
async fn load(
    storage: &dyn Storage,
    signer: &NoteSigner,
) -> Result<(EdgeTiles, TreeHead), SequencerError> {
    let state = storage.load_state().await?;
    let edge = EdgeTiles::new(state.size, state.edge)?;
    let root = edge.root()?;
    let checkpoint = match state.checkpoint {
        Some(c) => c,
        None => {
            let note = sign_checkpoint(signer, 0, root)?;
            storage
                .commit_batch(Batch {
                    entries: Vec::new(),
                    tiles: Vec::new(),
                    size: 0,
                    checkpoint: note.clone(),
                })
                .await?;
            note
        }
    };
    let head = TreeHead {
        size: state.size,
        root,
        checkpoint: checkpoint.into(),
    };
    Ok((edge, head))
}

impl Sequencer {
    async fn run(mut self, mut rx: mpsc::Receiver<Submission>) {
        let max = self.config.batch_size.max(1);
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + self.config.batch_interval;
            while batch.len() < max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(s)) => batch.push(s),
                    Ok(None) | Err(_) => break,
                }
            }
            self.process(batch).await;
        }
    }

    async fn process(&mut self, batch: Vec<Submission>) {
        match self.sequence(&batch).await {
            Ok(outcomes) => {
                for (s, o) in batch.into_iter().zip(outcomes) {
                    let _ = s.reply.send(Ok(o));
                }
            }
            Err(e) => {
                // Storage holds all of the batch or none of it: resync.
                match load(&*self.storage, &self.signer).await {
                    Ok((edge, head)) => {
                        self.edge = edge;
                        self.head.send_replace(head);
                    }
                    Err(reload) => {
                        eprintln!("signet-log: cannot reload state after a failed commit: {reload}")
                    }
                }
                for s in batch {
                    let _ = s.reply.send(Err(e.clone()));
                }
            }
        }
    }

    /// Sequences and commits one batch; returns one outcome per submission.
    async fn sequence(&mut self, batch: &[Submission]) -> Result<Vec<Outcome>, SequencerError> {
        let leaves: Vec<Hash> = batch.iter().map(|s| s.entry.leaf_hash).collect();
        let stored = self.storage.indexes_by_leaf_hash(&leaves).await?;

        let start = self.edge.size();
        let mut edge = self.edge.clone();
        let time = now_unix();
        // Per submission: Ok(new index) or Err(existing index).
        let mut assigned: Vec<Result<u64, u64>> = Vec::with_capacity(batch.len());
        let mut in_batch: HashMap<Hash, u64> = HashMap::new();
        let mut entries = Vec::new();
        for (s, existing) in batch.iter().zip(stored) {
            if let Some(index) = existing.or_else(|| in_batch.get(&s.entry.leaf_hash).copied()) {
                assigned.push(Err(index));
                continue;
            }
            let index = edge.size();
            edge.append(s.entry.leaf_hash)?;
            in_batch.insert(s.entry.leaf_hash, index);
            assigned.push(Ok(index));
            entries.push(NewEntry {
                index,
                leaf_hash: s.entry.leaf_hash,
                body: s.entry.canonical.clone(),
                integrated_time: time,
                index_keys: s.entry.index_keys.clone(),
            });
        }
        if entries.is_empty() {
            return Ok(assigned
                .into_iter()
                .map(|a| Outcome::Duplicate {
                    index: a.unwrap_or_else(|i| i),
                })
                .collect());
        }

        let size = edge.size();
        let root = edge.root()?;
        let checkpoint = sign_checkpoint(&self.signer, size, root)?;
        // Proofs before take_changed: tiles completed in this batch are
        // still in `edge` until then.
        let mut proofs = HashMap::new();
        for index in assigned.iter().flatten() {
            proofs.insert(*index, edge.resolve(&Plan::inclusion(*index, size)?)?);
        }
        let tiles = edge.take_changed();
        debug_assert_eq!(entries.first().map(|e| e.index), Some(start));
        self.storage
            .commit_batch(Batch {
                entries,
                tiles,
                size,
                checkpoint: checkpoint.clone(),
            })
            .await?;

        // Durable: advance the in-memory state, then answer.
        self.edge = edge;
        let head = TreeHead {
            size,
            root,
            checkpoint: checkpoint.into(),
        };
        self.head.send_replace(head.clone());
        Ok(assigned
            .into_iter()
            .map(|a| match a {
                Ok(index) => Outcome::Logged(Logged {
                    index,
                    integrated_time: time,
                    head: head.clone(),
                    proof: proofs.remove(&index).unwrap_or_default(),
                }),
                Err(index) => Outcome::Duplicate { index },
            })
            .collect())
    }
}
