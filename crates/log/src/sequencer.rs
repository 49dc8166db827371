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
use std::sync::{Arc, RwLock};
use std::time::Duration;

use signet_tlog::checkpoint::Checkpoint;
use signet_tlog::merkle::Hash;
use signet_tlog::NoteSigner;
use tokio::sync::{mpsc, oneshot, watch};

use crate::entry::Prepared;
use crate::storage::{Batch, NewEntry, Storage, StorageError};
use crate::tree::{EdgeTiles, Plan, TreeError};
use crate::witness::{cosign_note, Witness};

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
        match e {
            StorageError::Unavailable(_) => SequencerError::Unavailable(e.to_string()),
            _ => SequencerError::Storage(e.to_string()),
        }
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
    /// Co-located witnesses that cosign every checkpoint (once per batch).
    pub witnesses: Arc<[Witness]>,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            batch_size: 1024,
            batch_interval: Duration::from_millis(50),
            queue: 4096,
            witnesses: Arc::from(Vec::new()),
        }
    }
}

/// A handle to submit entries and watch the tree head.
///
/// A handle is either *active* (a sequencer task runs behind it) or on
/// *standby* (a replica that is not the sequencer: [`submit`] answers
/// `Unavailable`, and the head is advanced from storage with
/// [`SequencerHandle::observe`]). Replicas switch with
/// [`SequencerHandle::activate`] / [`SequencerHandle::deactivate`]; every
/// clone sees the switch. The sequencer task ends when it is deactivated or
/// when every handle is dropped.
///
/// [`submit`]: SequencerHandle::submit
#[derive(Clone)]
pub struct SequencerHandle {
    tx: Arc<RwLock<Option<mpsc::Sender<Submission>>>>,
    head: watch::Receiver<TreeHead>,
    head_tx: Arc<watch::Sender<TreeHead>>,
}

impl SequencerHandle {
    /// A handle with no sequencer behind it, starting at `head`.
    pub fn standby(head: TreeHead) -> Self {
        let (head_tx, head) = watch::channel(head);
        SequencerHandle {
            tx: Arc::new(RwLock::new(None)),
            head,
            head_tx: Arc::new(head_tx),
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Submission>> {
        self.tx.read().ok().and_then(|t| t.clone())
    }

    /// Submits an entry and waits until it is durably logged.
    pub async fn submit(&self, entry: Prepared) -> Result<Outcome, SequencerError> {
        let (reply, rx) = oneshot::channel();
        let tx = self.sender().ok_or_else(|| {
            SequencerError::Unavailable("this replica is not the sequencer".into())
        })?;
        tx.try_send(Submission { entry, reply })
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

    /// Whether a sequencer runs behind this handle.
    pub fn is_active(&self) -> bool {
        self.sender().is_some_and(|t| !t.is_closed())
    }

    /// Standby: adopts a head committed by another replica, if it is newer.
    /// (Heads only move forward.)
    pub fn observe(&self, head: TreeHead) {
        self.head_tx.send_if_modified(|h| {
            let newer = head.size > h.size || (head.size == h.size && h.checkpoint.is_empty());
            if newer {
                *h = head;
            }
            newer
        });
    }

    /// Loads the committed state and starts a sequencer behind this handle
    /// (the caller must be the only writer of `storage`). Returns the task.
    pub async fn activate(
        &self,
        storage: Arc<dyn Storage>,
        signer: Arc<NoteSigner>,
        config: SequencerConfig,
    ) -> Result<tokio::task::JoinHandle<()>, SequencerError> {
        let (edge, head) = load(&*storage, &signer, &config.witnesses).await?;
        self.head_tx.send_replace(head);
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let seq = Sequencer {
            storage,
            signer,
            edge,
            head: self.head_tx.clone(),
            config,
        };
        let task = tokio::spawn(seq.run(rx));
        if let Ok(mut slot) = self.tx.write() {
            *slot = Some(tx);
        }
        Ok(task)
    }

    /// Stops accepting submissions; the sequencer task finishes the
    /// submissions already queued and ends.
    pub fn deactivate(&self) {
        if let Ok(mut slot) = self.tx.write() {
            *slot = None;
        }
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Signs the checkpoint for `size`/`root`, with a cosignature from each
/// witness.
pub fn sign_checkpoint(
    signer: &NoteSigner,
    witnesses: &[Witness],
    size: u64,
    root: Hash,
) -> Result<String, SequencerError> {
    let text = Checkpoint::new(signer.name(), size, root, Vec::new())
        .map_err(|e| SequencerError::Unavailable(format!("checkpoint: {e}")))?
        .to_text();
    let note = signer
        .sign_note(text)
        .map_err(|e| SequencerError::Unavailable(format!("signing: {e}")))?;
    let note = cosign_note(&note, witnesses, now_unix().max(0) as u64)
        .map_err(|e| SequencerError::Unavailable(format!("cosigning: {e}")))?;
    Ok(note.serialize())
}

/// A stored checkpoint with fresh cosignatures from `witnesses` (a log may
/// restart with other witnesses than those of its last batch).
fn recosign(stored: String, witnesses: &[Witness]) -> Result<String, SequencerError> {
    if witnesses.is_empty() {
        return Ok(stored);
    }
    let note = signet_tlog::Note::parse(&stored)
        .map_err(|e| SequencerError::Unavailable(format!("stored checkpoint: {e}")))?;
    Ok(cosign_note(&note, witnesses, now_unix().max(0) as u64)
        .map_err(|e| SequencerError::Unavailable(format!("cosigning: {e}")))?
        .serialize())
}

struct Sequencer {
    storage: Arc<dyn Storage>,
    signer: Arc<NoteSigner>,
    edge: EdgeTiles,
    head: Arc<watch::Sender<TreeHead>>,
    config: SequencerConfig,
}

/// Loads the log state, signs an initial checkpoint for a new log, and
/// starts the sequencer task. The task ends when every handle is dropped.
pub async fn start(
    storage: Arc<dyn Storage>,
    signer: Arc<NoteSigner>,
    config: SequencerConfig,
) -> Result<(SequencerHandle, tokio::task::JoinHandle<()>), SequencerError> {
    let handle = SequencerHandle::standby(TreeHead {
        size: 0,
        root: signet_tlog::merkle::empty_root(),
        checkpoint: "".into(),
    });
    let task = handle.activate(storage, signer, config).await?;
    Ok((handle, task))
}

/// The committed state; a new log gets its size-0 checkpoint committed.
async fn load(
    storage: &dyn Storage,
    signer: &NoteSigner,
    witnesses: &[Witness],
) -> Result<(EdgeTiles, TreeHead), SequencerError> {
    let state = storage.load_state().await?;
    let edge = EdgeTiles::new(state.size, state.edge)?;
    let root = edge.root()?;
    let checkpoint = match state.checkpoint {
        Some(c) => recosign(c, witnesses)?,
        None => {
            let note = sign_checkpoint(signer, witnesses, 0, root)?;
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
    /// Group commit: a batch is whatever is queued when the sequencer is
    /// free, plus what keeps arriving, until the queue stays empty across a
    /// scheduler yield, the batch is full, or `batch_interval` has passed
    /// since its first entry. So an idle log commits one entry at once (no
    /// waiting for company), and a busy one amortises each commit over all
    /// that arrived while the previous one was being made durable.
    async fn run(mut self, mut rx: mpsc::Receiver<Submission>) {
        let max = self.config.batch_size.max(1);
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + self.config.batch_interval;
            let mut idle = false;
            while batch.len() < max && tokio::time::Instant::now() < deadline {
                match rx.try_recv() {
                    Ok(s) => {
                        batch.push(s);
                        idle = false;
                    }
                    Err(mpsc::error::TryRecvError::Empty) if !idle => {
                        // Let handlers that are about to submit do so.
                        idle = true;
                        tokio::task::yield_now().await;
                    }
                    Err(_) => break,
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
                match load(&*self.storage, &self.signer, &self.config.witnesses).await {
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
        let checkpoint = sign_checkpoint(&self.signer, &self.config.witnesses, size, root)?;
        // Proofs before take_changed: tiles completed in this batch are
        // still in `edge` until then.
        // The proofs of a batch share most of their nodes: hash each once.
        let mut memo = HashMap::new();
        let mut proofs = HashMap::new();
        for index in assigned.iter().flatten() {
            proofs.insert(
                *index,
                edge.resolve_memo(&Plan::inclusion(*index, size)?, &mut memo)?,
            );
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
