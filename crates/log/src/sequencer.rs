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
use crate::metrics::LogMetrics;
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
    reply: Reply,
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
    /// Where commits are counted and timed.
    pub metrics: Arc<LogMetrics>,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            batch_size: 1024,
            batch_interval: Duration::from_millis(50),
            queue: 4096,
            witnesses: Arc::from(Vec::new()),
            metrics: Arc::new(LogMetrics::default()),
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

    /// Submissions waiting for the sequencer (0 on standby).
    pub fn queue_depth(&self) -> usize {
        self.sender()
            .map_or(0, |t| t.max_capacity().saturating_sub(t.capacity()))
    }

    /// Whether a sequencer runs behind this handle.
    pub fn is_active(&self) -> bool {
        self.sender().is_some_and(|t| !t.is_closed())
    }

    /// Standby: adopts a head committed by another replica, if it is newer.
    /// (Heads only move forward.)
    pub fn observe(&self, head: TreeHead) {
        advance(&self.head_tx, head);
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
        advance(&self.head_tx, head);
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let seq = Sequencer {
            storage,
            signer,
            edge,
            head: self.head_tx.clone(),
            config,
            stale: false,
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

/// Publishes `head` if it is newer than the published one. Every head is
/// published through here: heads only move forward, even when a sequencer
/// of an earlier term (a replica that lost its lock and took it again)
/// finishes a commit after the current one published a larger tree.
fn advance(published: &watch::Sender<TreeHead>, head: TreeHead) {
    published.send_if_modified(|h| {
        let newer = head.size > h.size || (head.size == h.size && h.checkpoint.is_empty());
        if newer {
            *h = head;
        }
        newer
    });
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
    /// A commit failed and reloading the state after it failed too: `edge`
    /// may be behind storage, so nothing is sequenced until a reload works.
    stale: bool,
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

/// A sequenced batch, ready to commit.
struct Sequenced {
    /// `None` when every submission was a duplicate: nothing to write.
    batch: Option<Batch>,
    outcomes: Vec<Outcome>,
    /// The tree after this batch.
    edge: EdgeTiles,
    head: TreeHead,
    /// Leaves this batch adds, by index: the next batch is deduplicated
    /// against them while they are not yet visible in storage.
    leaves: HashMap<Hash, u64>,
}

type CommitResult = Result<Result<(), StorageError>, tokio::task::JoinError>;

type Reply = oneshot::Sender<Result<Outcome, SequencerError>>;

/// A batch whose commit is under way; its submitters are answered once it
/// is durable.
struct InFlight {
    commit: tokio::task::JoinHandle<Result<(), StorageError>>,
    replies: Vec<Reply>,
    sequenced: Sequenced,
}

impl Sequencer {
    /// Group commit, pipelined. A batch closes when it holds `batch_size`
    /// entries or `batch_interval` has passed since its first, or earlier:
    /// with no commit under way, once the queue stays empty across a
    /// scheduler yield, so an idle log commits one entry at once (no
    /// waiting for company). While batch k is being made durable, batch
    /// k+1 takes everything that arrives until k's commit ends (durable or
    /// failed); then k is answered and k+1 is sequenced and committed. So a busy log
    /// alternates two batches of about equal size, each commit amortised
    /// over all that arrived during the one before (closing k+1 at the
    /// first empty queue instead made it a handful of entries, whose own
    /// commit the next large batch then had to wait for). Every batch is
    /// answered only once it is durable itself.
    ///
    /// A batch that is full, or whose `batch_interval` has passed, before
    /// k is durable is deduplicated and sequenced on top of k at once, and
    /// its commit starts once k's has succeeded. If k's commit fails, k and
    /// the batch sequenced on top of it are both answered with the error,
    /// and the state is reloaded from storage (which holds all of k or none
    /// of it); a batch still gathering is sequenced on the reloaded state.
    async fn run(mut self, mut rx: mpsc::Receiver<Submission>) {
        let mut in_flight: Option<InFlight> = None;
        loop {
            let first = match in_flight.as_mut() {
                None => rx.recv().await,
                Some(f) => tokio::select! {
                    biased;
                    done = &mut f.commit => {
                        if let Some(f) = in_flight.take() {
                            self.finish(f, done).await;
                        }
                        continue;
                    }
                    next = rx.recv() => next,
                },
            };
            let Some(first) = first else { break };
            let (batch, below_done) = self
                .gather(first, &mut rx, in_flight.as_mut().map(|f| &mut f.commit))
                .await;
            if let Some(done) = below_done {
                // The batch below ended while this one gathered: answer it
                // first, and sequence this one on the tree as committed (or
                // as reloaded, if that commit failed).
                if let Some(f) = in_flight.take() {
                    self.finish(f, done).await;
                }
            }
            if self.stale {
                if let Err(e) = self.reload().await {
                    let replies = batch.into_iter().map(|s| s.reply).collect();
                    answer_all(replies, &e);
                    continue;
                }
            }
            let sequenced = self
                .sequence(&batch, in_flight.as_ref().map(|f| &f.sequenced))
                .await;
            let replies: Vec<Reply> = batch.into_iter().map(|s| s.reply).collect();
            let below_ok = match in_flight.take() {
                Some(mut f) => {
                    let done = (&mut f.commit).await;
                    self.finish(f, done).await
                }
                None => true,
            };
            match sequenced {
                Ok(_) if !below_ok => {
                    let e = SequencerError::Unavailable(
                        "the batch before this one failed to commit".into(),
                    );
                    answer_all(replies, &e);
                }
                Ok(mut sequenced) => {
                    let storage = self.storage.clone();
                    let metrics = self.config.metrics.clone();
                    let batch = sequenced.batch.take();
                    let commit = tokio::spawn(async move {
                        let Some(batch) = batch else { return Ok(()) };
                        let (entries, started) = (batch.entries.len(), std::time::Instant::now());
                        let result = storage.commit_batch(batch).await;
                        metrics.batch(entries, started.elapsed(), result.is_ok());
                        result
                    });
                    in_flight = Some(InFlight {
                        commit,
                        replies,
                        sequenced,
                    });
                }
                Err(e) => answer_all(replies, &e),
            }
        }
        if let Some(mut f) = in_flight.take() {
            let done = (&mut f.commit).await;
            self.finish(f, done).await;
        }
    }

    /// A batch: `first` and what keeps arriving (see [`Sequencer::run`]).
    /// With `below` (the commit under way), gathering also ends when that
    /// commit does, and its result is returned with the batch.
    async fn gather(
        &self,
        first: Submission,
        rx: &mut mpsc::Receiver<Submission>,
        mut below: Option<&mut tokio::task::JoinHandle<Result<(), StorageError>>>,
    ) -> (Vec<Submission>, Option<CommitResult>) {
        let max = self.config.batch_size.max(1);
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + self.config.batch_interval;
        let mut idle = false;
        while batch.len() < max && tokio::time::Instant::now() < deadline {
            match rx.try_recv() {
                Ok(s) => {
                    batch.push(s);
                    idle = false;
                }
                Err(mpsc::error::TryRecvError::Empty) if below.is_some() => {
                    let Some(commit) = below.as_mut() else { break };
                    tokio::select! {
                        biased;
                        done = &mut **commit => {
                            while batch.len() < max {
                                match rx.try_recv() {
                                    Ok(s) => batch.push(s),
                                    Err(_) => break,
                                }
                            }
                            return (batch, Some(done));
                        }
                        next = rx.recv() => match next {
                            Some(s) => batch.push(s),
                            None => break,
                        },
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) if !idle => {
                    // Let handlers that are about to submit do so.
                    idle = true;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        (batch, None)
    }

    /// Answers a batch whose commit has ended: the outcomes if it is
    /// durable, else the error (and the state is reloaded). Returns whether
    /// it was durable.
    async fn finish(&mut self, f: InFlight, done: CommitResult) -> bool {
        let error = match done {
            Ok(Ok(())) => {
                if f.sequenced.appends() {
                    advance(&self.head, f.sequenced.head);
                }
                self.edge = f.sequenced.edge;
                for (reply, outcome) in f.replies.into_iter().zip(f.sequenced.outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                return true;
            }
            Ok(Err(e)) => SequencerError::from(e),
            Err(e) => SequencerError::Storage(format!("commit task: {e}")),
        };
        // Storage holds all of the batch or none of it: resync.
        if let Err(reload) = self.reload().await {
            self.stale = true;
            eprintln!("signet-log: cannot reload state after a failed commit: {reload}")
        }
        answer_all(f.replies, &error);
        false
    }

    /// Reloads the committed state from storage (after a failed commit).
    async fn reload(&mut self) -> Result<(), SequencerError> {
        let (edge, head) = load(&*self.storage, &self.signer, &self.config.witnesses).await?;
        self.edge = edge;
        advance(&self.head, head);
        self.stale = false;
        Ok(())
    }

    /// Sequences one batch on top of the committed tree, or of `below` (the
    /// batch still being committed); returns one outcome per submission.
    async fn sequence(
        &self,
        batch: &[Submission],
        below: Option<&Sequenced>,
    ) -> Result<Sequenced, SequencerError> {
        let leaves: Vec<Hash> = batch.iter().map(|s| s.entry.leaf_hash).collect();
        let stored = self.storage.indexes_by_leaf_hash(&leaves).await?;

        let (mut edge, below_leaves) = match below {
            Some(b) => (b.edge.clone(), Some(&b.leaves)),
            None => (self.edge.clone(), None),
        };
        let start = edge.size();
        let time = now_unix();
        // Per submission: Ok(new index) or Err(existing index).
        let mut assigned: Vec<Result<u64, u64>> = Vec::with_capacity(batch.len());
        let mut in_batch: HashMap<Hash, u64> = HashMap::new();
        let mut entries = Vec::new();
        for (s, existing) in batch.iter().zip(stored) {
            let leaf = &s.entry.leaf_hash;
            let earlier = existing
                .or_else(|| below_leaves.and_then(|b| b.get(leaf).copied()))
                .or_else(|| in_batch.get(leaf).copied());
            if let Some(index) = earlier {
                assigned.push(Err(index));
                continue;
            }
            let index = edge.size();
            edge.append(*leaf)?;
            in_batch.insert(*leaf, index);
            assigned.push(Ok(index));
            entries.push(NewEntry {
                index,
                leaf_hash: *leaf,
                body: s.entry.canonical.clone(),
                integrated_time: time,
                index_keys: s.entry.index_keys.clone(),
            });
        }
        let duplicates_only = |assigned: Vec<Result<u64, u64>>| {
            assigned
                .into_iter()
                .map(|a| Outcome::Duplicate {
                    index: a.unwrap_or_else(|i| i),
                })
                .collect()
        };
        if entries.is_empty() {
            let head = match below {
                Some(b) => b.head.clone(),
                None => self.head.borrow().clone(),
            };
            return Ok(Sequenced {
                batch: None,
                outcomes: duplicates_only(assigned),
                edge,
                head,
                leaves: in_batch,
            });
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
        let head = TreeHead {
            size,
            root,
            checkpoint: checkpoint.clone().into(),
        };
        let outcomes = assigned
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
            .collect();
        Ok(Sequenced {
            batch: Some(Batch {
                entries,
                tiles,
                size,
                checkpoint,
            }),
            outcomes,
            edge,
            head,
            leaves: in_batch,
        })
    }
}

impl Sequenced {
    /// Whether this batch appends entries (and so moves the head).
    fn appends(&self) -> bool {
        self.outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Logged(_)))
    }
}

fn answer_all(replies: Vec<Reply>, error: &SequencerError) {
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    //! The pipeline's own guarantees, against a storage whose commits are
    //! slow (so that a second batch is sequenced while the first is still
    //! being written) and can be made to fail.

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    use signet_model::encoding::Base64;
    use signet_model::rekor::{
        EntryBody, HashedRekordData, HashedRekordSignature, HashedRekordV001, HexHash, PemContent,
    };
    use signet_tlog::signer::{generate_pkcs8, SignerKind};

    use super::*;
    use crate::storage::sqlite::SqliteStorage;
    use crate::storage::{LogState, StoredEntry};
    use crate::tree::TileKey;

    const COMMIT_DELAY: Duration = Duration::from_millis(150);

    /// SQLite behind a commit that takes `COMMIT_DELAY` and fails if
    /// `fail` was set when it started (without writing anything), or
    /// writes and then reports failure if `fail_after_write` was; loading
    /// the state fails while `fail_loads` is set.
    struct SlowStorage {
        inner: SqliteStorage,
        fail: AtomicBool,
        fail_after_write: AtomicBool,
        fail_loads: AtomicBool,
    }

    #[async_trait::async_trait]
    impl Storage for SlowStorage {
        async fn init(&self, log_id: &str) -> Result<(), StorageError> {
            self.inner.init(log_id).await
        }
        async fn load_state(&self) -> Result<LogState, StorageError> {
            if self.fail_loads.load(Ordering::SeqCst) {
                return Err(StorageError::Backend("injected load failure".into()));
            }
            self.inner.load_state().await
        }
        async fn commit_batch(&self, batch: Batch) -> Result<(), StorageError> {
            let fail = self.fail.load(Ordering::SeqCst);
            let fail_after_write = self.fail_after_write.load(Ordering::SeqCst);
            tokio::time::sleep(COMMIT_DELAY).await;
            if fail {
                return Err(StorageError::Backend("injected failure".into()));
            }
            self.inner.commit_batch(batch).await?;
            if fail_after_write {
                return Err(StorageError::Backend(
                    "injected failure after writing".into(),
                ));
            }
            Ok(())
        }
        async fn indexes_by_leaf_hash(
            &self,
            leaves: &[Hash],
        ) -> Result<Vec<Option<u64>>, StorageError> {
            self.inner.indexes_by_leaf_hash(leaves).await
        }
        async fn entry_by_index(&self, index: u64) -> Result<Option<StoredEntry>, StorageError> {
            self.inner.entry_by_index(index).await
        }
        async fn entries_range(
            &self,
            start: u64,
            count: u64,
        ) -> Result<Vec<StoredEntry>, StorageError> {
            self.inner.entries_range(start, count).await
        }
        async fn tile(&self, key: TileKey) -> Result<Option<Vec<Hash>>, StorageError> {
            self.inner.tile(key).await
        }
        async fn search(&self, key: &str, limit: usize) -> Result<Vec<u64>, StorageError> {
            self.inner.search(key, limit).await
        }
        async fn has_search_key(&self, index: u64, key: &str) -> Result<bool, StorageError> {
            self.inner.has_search_key(index, key).await
        }
        async fn latest_checkpoint(&self) -> Result<Option<String>, StorageError> {
            self.inner.latest_checkpoint().await
        }
    }

    /// An entry the sequencer takes as it comes (it does not verify).
    fn entry(n: u8) -> Prepared {
        let body = EntryBody::HashedRekordV001(HashedRekordV001 {
            data: HashedRekordData {
                hash: HexHash {
                    algorithm: "sha256".into(),
                    value: signet_model::encoding::encode_hex([n; 32]),
                },
            },
            signature: HashedRekordSignature {
                content: Base64(vec![n]),
                public_key: PemContent {
                    content: Base64(b"key".to_vec()),
                },
            },
        });
        let canonical = body.canonical_json().into_bytes();
        Prepared {
            leaf_hash: signet_tlog::merkle::leaf_hash(&canonical),
            body,
            canonical,
            index_keys: Vec::new(),
        }
    }

    /// A sequencer over [`SlowStorage`] that closes batches at
    /// `batch_size` entries (or when the commit below ends).
    async fn start_slow(
        dir: &std::path::Path,
        batch_size: usize,
    ) -> (
        SequencerHandle,
        Arc<SlowStorage>,
        tokio::task::JoinHandle<()>,
        Arc<LogMetrics>,
    ) {
        let storage = Arc::new(SlowStorage {
            inner: SqliteStorage::open(dir, 10).unwrap(),
            fail: AtomicBool::new(false),
            fail_after_write: AtomicBool::new(false),
            fail_loads: AtomicBool::new(false),
        });
        let der = generate_pkcs8(SignerKind::EcdsaP256).unwrap();
        let signer = Arc::new(NoteSigner::from_pkcs8_der("log.example", &der).unwrap());
        let config = SequencerConfig {
            batch_size,
            // Longer than any test waits: batches close on size or commits.
            batch_interval: COMMIT_DELAY * 10,
            ..SequencerConfig::default()
        };
        let metrics = config.metrics.clone();
        let (handle, task) = start(storage.clone(), signer, config).await.unwrap();
        (handle, storage, task, metrics)
    }

    fn logged_index(o: &Result<Outcome, SequencerError>) -> Option<u64> {
        match o {
            Ok(Outcome::Logged(l)) => Some(l.index),
            _ => None,
        }
    }

    /// A head only replaces a smaller one (or the placeholder of the same
    /// size): a late finish of an earlier term cannot move it back.
    #[test]
    fn published_heads_only_move_forward() {
        let head = |size: u64, note: &str| TreeHead {
            size,
            root: [size as u8; 32],
            checkpoint: Arc::from(note),
        };
        let (tx, rx) = watch::channel(head(0, ""));
        advance(&tx, head(0, "empty tree"));
        assert_eq!(&*rx.borrow().checkpoint, "empty tree");
        advance(&tx, head(9, "nine"));
        advance(&tx, head(5, "five, from a sequencer of an earlier term"));
        assert_eq!(rx.borrow().size, 9);
        advance(&tx, head(9, "nine, signed again"));
        assert_eq!(&*rx.borrow().checkpoint, "nine");
        advance(&tx, head(12, "twelve"));
        assert_eq!(rx.borrow().size, 12);
    }

    /// Everything that arrives while a batch commits is the next batch,
    /// committed once: not a first arrival alone, with the rest waiting
    /// for a third commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_arrives_during_a_commit_is_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (seq, _storage, _task, metrics) = start_slow(dir.path(), 1024).await;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for n in 1..=5u8 {
            let seq = seq.clone();
            tasks.push(tokio::spawn(async move { seq.submit(entry(n)).await }));
            tokio::time::sleep(COMMIT_DELAY / 8).await;
        }
        // Entries 2..=5 were taken off the queue into the next batch.
        assert_eq!(seq.queue_depth(), 0);
        for t in tasks {
            assert!(logged_index(&t.await.unwrap()).is_some());
        }
        let committed = [("result", "committed")];
        assert_eq!(metrics.batches.get(&committed), 2);
        assert_eq!(metrics.entries.get(&committed), 5);
        assert_eq!(seq.head().size, 5);
        assert!(started.elapsed() >= COMMIT_DELAY * 2);
    }

    /// A batch that fills up while the one below commits is sequenced on
    /// top of it at once; what arrives after it waits in the queue.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn submissions_queue_while_two_batches_are_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let (seq, _storage, _task, metrics) = start_slow(dir.path(), 2).await;
        assert_eq!(seq.queue_depth(), 0);
        let mut tasks = Vec::new();
        // Entry 1 is batch 1 (committing), 2 and 3 batch 2 (full, waiting
        // on it); the sequencer takes no more until batch 1 is durable.
        for n in 1..=6u8 {
            let seq = seq.clone();
            tasks.push(tokio::spawn(async move { seq.submit(entry(n)).await }));
            if n == 1 {
                tokio::time::sleep(COMMIT_DELAY / 5).await;
            }
        }
        tokio::time::sleep(COMMIT_DELAY / 10).await;
        assert_eq!(seq.queue_depth(), 3);
        for t in tasks {
            assert!(logged_index(&t.await.unwrap()).is_some());
        }
        assert_eq!(seq.queue_depth(), 0);
        assert_eq!(seq.head().size, 6);
        // [1], [2, 3], [4, 5], [6].
        let committed = [("result", "committed")];
        assert_eq!(metrics.batches.get(&committed), 4);
    }

    /// Whether the second batch was sequenced on top of the first while it
    /// committed (full at 2) or after it (gathering until it is durable),
    /// a duplicate of an entry of the first is answered with its index,
    /// and only once the first is durable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_duplicate_of_an_entry_still_being_committed_is_answered_after_it() {
        for batch_size in [2, 1024] {
            let dir = tempfile::tempdir().unwrap();
            let (seq, storage, _task, _) = start_slow(dir.path(), batch_size).await;
            let started = Instant::now();
            let first = tokio::spawn({
                let seq = seq.clone();
                async move { seq.submit(entry(1)).await }
            });
            // Batch 1 is now being committed; these form batch 2.
            tokio::time::sleep(COMMIT_DELAY / 3).await;
            let (again, other) = tokio::join!(seq.submit(entry(1)), seq.submit(entry(2)));
            let first = first.await.unwrap();

            assert_eq!(logged_index(&first), Some(0));
            assert!(
                matches!(again, Ok(Outcome::Duplicate { index: 0 })),
                "batch size {batch_size}: {again:?}"
            );
            assert_eq!(logged_index(&other), Some(1));
            // Nothing of batch 2 (not even the duplicate) was answered
            // before batch 1 was durable, and batch 2 waited for its own
            // commit.
            assert!(
                started.elapsed() >= COMMIT_DELAY * 2,
                "{:?}",
                started.elapsed()
            );
            assert_eq!(seq.head().size, 2);
            let stored = storage.inner.load_state().await.unwrap();
            assert_eq!(stored.size, 2);
            assert_eq!(
                storage
                    .inner
                    .indexes_by_leaf_hash(&[entry(1).leaf_hash, entry(2).leaf_hash])
                    .await
                    .unwrap(),
                vec![Some(0), Some(1)]
            );
        }
    }

    /// A batch still gathering when the commit below fails is sequenced on
    /// the reloaded state and committed: its entries are not failed for
    /// another batch's error.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_gathered_during_a_failed_commit_starts_from_the_reloaded_state() {
        let dir = tempfile::tempdir().unwrap();
        let (seq, storage, _task, metrics) = start_slow(dir.path(), 1024).await;
        storage.fail.store(true, Ordering::SeqCst);
        let first = tokio::spawn({
            let seq = seq.clone();
            async move { seq.submit(entry(1)).await }
        });
        tokio::time::sleep(COMMIT_DELAY / 3).await;
        let after = tokio::spawn({
            let seq = seq.clone();
            async move { seq.submit(entry(2)).await }
        });
        // The commit under way has read `fail` already.
        tokio::time::sleep(COMMIT_DELAY / 3).await;
        storage.fail.store(false, Ordering::SeqCst);
        let first = first.await.unwrap();
        assert!(
            matches!(first, Err(SequencerError::Storage(_))),
            "{first:?}"
        );
        assert_eq!(logged_index(&after.await.unwrap()), Some(0));
        assert_eq!(seq.head().size, 1);
        assert_eq!(storage.inner.load_state().await.unwrap().size, 1);
        assert_eq!(metrics.batches.get(&[("result", "failed")]), 1);
        assert_eq!(metrics.batches.get(&[("result", "committed")]), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_the_batch_sequenced_on_top_of_it() {
        let dir = tempfile::tempdir().unwrap();
        // Batches of one: entry 2's is full at once, so it is sequenced
        // on top of entry 1's while that commits.
        let (seq, storage, _task, metrics) = start_slow(dir.path(), 1).await;
        storage.fail.store(true, Ordering::SeqCst);
        let first = tokio::spawn({
            let seq = seq.clone();
            async move { seq.submit(entry(1)).await }
        });
        tokio::time::sleep(COMMIT_DELAY / 3).await;
        let on_top = seq.submit(entry(2)).await;
        let first = first.await.unwrap();
        assert!(
            matches!(first, Err(SequencerError::Storage(_))),
            "{first:?}"
        );
        assert!(on_top.is_err(), "{on_top:?}");
        assert_eq!(seq.head().size, 0);

        // The state was reloaded: the next entries start again at 0.
        storage.fail.store(false, Ordering::SeqCst);
        assert_eq!(logged_index(&seq.submit(entry(2)).await), Some(0));
        assert_eq!(logged_index(&seq.submit(entry(1)).await), Some(1));
        assert_eq!(storage.inner.load_state().await.unwrap().size, 2);
        // Counted: one batch (of one entry) failed, two committed; the batch
        // sequenced on top of the failed one never reached storage.
        let failed = [("result", "failed")];
        let committed = [("result", "committed")];
        assert_eq!(metrics.batches.get(&failed), 1);
        assert_eq!(metrics.entries.get(&failed), 1);
        assert_eq!(metrics.batches.get(&committed), 2);
        assert_eq!(metrics.entries.get(&committed), 2);
        assert_eq!(metrics.commit_latency.count(), 3);
    }

    /// A commit that wrote but reported failure, with the reload after it
    /// failing too: the sequencer's tree may be behind storage, so it
    /// sequences nothing until a reload works (rather than give new entries
    /// indexes that storage already holds).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_is_sequenced_on_a_state_that_could_not_be_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (seq, storage, _task, metrics) = start_slow(dir.path(), 1024).await;
        storage.fail_after_write.store(true, Ordering::SeqCst);
        storage.fail_loads.store(true, Ordering::SeqCst);
        assert!(seq.submit(entry(1)).await.is_err());
        storage.fail_after_write.store(false, Ordering::SeqCst);
        let refused = seq.submit(entry(2)).await;
        assert!(
            matches!(&refused, Err(SequencerError::Storage(m)) if m.contains("injected load failure")),
            "{refused:?}"
        );
        // Entry 2 never reached storage: one failed batch, none committed.
        assert_eq!(metrics.batches.get(&[("result", "failed")]), 1);
        assert_eq!(metrics.batches.get(&[("result", "committed")]), 0);

        storage.fail_loads.store(false, Ordering::SeqCst);
        assert_eq!(logged_index(&seq.submit(entry(2)).await), Some(1));
        assert!(matches!(
            seq.submit(entry(1)).await,
            Ok(Outcome::Duplicate { index: 0 })
        ));
        assert_eq!(seq.head().size, 2);
    }
}
