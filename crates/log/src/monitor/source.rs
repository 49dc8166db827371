//! Reading a log: its latest checkpoint, consistency proofs, and entries
//! proven to be in a verified tree. Two read paths:
//!
//! * Rekor v1: `GET /api/v1/log` (the `signedTreeHead`),
//!   `GET /api/v1/log/proof?firstSize=&lastSize=`,
//!   `GET /api/v1/log/entries?logIndex=` (each entry with an inclusion proof,
//!   which is checked and tied to the verified tree);
//! * C2SP tlog-tiles: `/checkpoint`, hash tiles (proofs are computed from
//!   them, then verified against the signed roots) and entry bundles.
//!
//! Errors are split: [`SourceError::Http`] is the network's (retry later),
//! [`SourceError::Misbehaviour`] is evidence against the log (a 2xx answer
//! that does not parse, or a proof that does not verify).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use signet_model::encoding::decode_base64;
use signet_tlog::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash};
use signet_tlog::{Checkpoint, MAX_NOTE_BYTES};

use super::http::{Http, HttpError};
use super::LogPolicy;
use crate::tiles::{nodes_at_tile_level, split_bundle, TileId, MAX_ENTRY_BYTES, TILE_WIDTH};
use crate::tree::{Plan, TileKey};

/// Largest `/api/v1/log` answer (it lists every inactive shard).
const MAX_LOG_INFO_BYTES: usize = 4 << 20;
/// Largest consistency proof answer.
const MAX_PROOF_BYTES: usize = 64 << 10;
/// Largest `/api/v1/log/entries?logIndex=` answer.
const MAX_ENTRY_RESPONSE_BYTES: usize = 1 << 20;
/// Most hashes in a proof (a tree of 2^64 leaves needs fewer).
const MAX_PROOF_HASHES: usize = 130;
/// Largest hash tile.
pub(crate) const MAX_TILE_BYTES: usize = TILE_WIDTH as usize * 32;
/// Largest entry bundle.
pub(crate) const MAX_BUNDLE_BYTES: usize = TILE_WIDTH as usize * (2 + MAX_ENTRY_BYTES);
/// Most tiles fetched for one call (32 MiB of hashes).
const MAX_TILES: usize = 4096;
/// Most verified tree sizes remembered during one scan (the largest is
/// always kept).
const MAX_PROOF_SIZES: usize = 32;

/// Why reading the log failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{0}")]
    Misbehaviour(String),
}

fn bad<T>(msg: impl Into<String>) -> Result<T, SourceError> {
    Err(SourceError::Misbehaviour(msg.into()))
}

/// A checkpoint whose note verified with the log's key.
#[derive(Debug, Clone)]
pub struct Head {
    /// The note as served.
    pub note: String,
    pub checkpoint: Checkpoint,
}

impl Head {
    pub fn size(&self) -> u64 {
        self.checkpoint.size()
    }
    pub fn root(&self) -> &Hash {
        self.checkpoint.root_hash()
    }
}

/// Which read path, and where.
#[derive(Debug, Clone)]
pub enum Source {
    RekorV1 {
        base: String,
        /// Entries of inactive shards precede the active tree's: global
        /// index = offset + tree index.
        shard_offset: u64,
    },
    Tiles {
        base: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogInfo {
    signed_tree_head: String,
    #[serde(default)]
    inactive_shards: Vec<InactiveShard>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InactiveShard {
    tree_size: u64,
}

#[derive(Deserialize)]
struct ProofResponse {
    hashes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryResponse {
    body: String,
    log_index: u64,
    verification: Option<Verification>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verification {
    inclusion_proof: Option<InclusionProof>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionProof {
    log_index: u64,
    root_hash: String,
    tree_size: u64,
    hashes: Vec<String>,
    #[serde(default)]
    checkpoint: Option<String>,
}

fn hex_hash(s: &str, what: &str) -> Result<Hash, SourceError> {
    match hex::decode(s).ok().and_then(|v| <Hash>::try_from(v).ok()) {
        Some(h) => Ok(h),
        None => bad(format!("{what} is not a hex SHA-256 hash")),
    }
}

fn hex_hashes(v: &[String], what: &str) -> Result<Vec<Hash>, SourceError> {
    if v.len() > MAX_PROOF_HASHES {
        return bad(format!("{what} has {} hashes", v.len()));
    }
    v.iter().map(|h| hex_hash(h, what)).collect()
}

fn utf8(data: Vec<u8>, what: &str) -> Result<String, SourceError> {
    String::from_utf8(data).or_else(|_| bad(format!("{what} is not UTF-8")))
}

/// The width of hash tile `key` in a tree of `size` leaves (0: none).
fn tile_width(size: u64, key: TileKey) -> usize {
    let nodes = nodes_at_tile_level(size, key.0);
    let start = key.1.saturating_mul(TILE_WIDTH);
    nodes.saturating_sub(start).min(TILE_WIDTH) as usize
}

/// Fetches a hash tile (`level`) or entry bundle (`None`) at `width`,
/// falling back to the full tile (whose prefix it is) if the partial one is
/// gone, as C2SP lets a log delete partial tiles once they are full.
/// `None` if neither exists.
pub(crate) async fn fetch_tile(
    http: &Http,
    base: &str,
    level: Option<u8>,
    index: u64,
    width: usize,
    max: usize,
) -> Result<Option<Vec<u8>>, HttpError> {
    let id = |w: usize| TileId {
        level,
        index,
        width: w as u16,
    };
    let url = format!("{base}/{}", id(width).path());
    if let Some(data) = http.get_opt(&url, max).await? {
        return Ok(Some(data));
    }
    if width < TILE_WIDTH as usize {
        let full = format!("{base}/{}", id(TILE_WIDTH as usize).path());
        return http.get_opt(&full, max).await;
    }
    Ok(None)
}

/// Hash tiles of one tree size, fetched on demand.
struct Tiles<'a> {
    http: &'a Http,
    base: &'a str,
    size: u64,
    tiles: HashMap<TileKey, Vec<Hash>>,
}

impl<'a> Tiles<'a> {
    fn new(http: &'a Http, base: &'a str, size: u64) -> Self {
        Tiles {
            http,
            base,
            size,
            tiles: HashMap::new(),
        }
    }

    async fn fetch(
        &self,
        level: Option<u8>,
        index: u64,
        width: usize,
        max: usize,
    ) -> Result<Vec<u8>, SourceError> {
        fetch_tile(self.http, self.base, level, index, width, max)
            .await?
            .ok_or_else(|| {
                let id = TileId {
                    level,
                    index,
                    width: width as u16,
                };
                HttpError::Status {
                    url: format!("{}/{}", self.base, id.path()),
                    status: 404,
                }
                .into()
            })
    }

    async fn load(&mut self, keys: impl IntoIterator<Item = TileKey>) -> Result<(), SourceError> {
        for key in keys {
            if self.tiles.contains_key(&key) {
                continue;
            }
            if self.tiles.len() >= MAX_TILES {
                return bad("too many tiles needed for one poll");
            }
            let width = tile_width(self.size, key);
            if width == 0 {
                return bad(format!("tile {}/{} is beyond the tree", key.0, key.1));
            }
            let data = self
                .fetch(Some(key.0), key.1, width, MAX_TILE_BYTES)
                .await?;
            if data.len() < width * 32 || data.len() % 32 != 0 {
                return bad(format!(
                    "tile {}/{} has {} bytes, expected {}",
                    key.0,
                    key.1,
                    data.len(),
                    width * 32
                ));
            }
            let hashes = data
                .chunks_exact(32)
                .take(width)
                .filter_map(|c| <Hash>::try_from(c).ok())
                .collect();
            self.tiles.insert(key, hashes);
        }
        Ok(())
    }

    async fn resolve(&mut self, plan: &Plan) -> Result<Vec<Hash>, SourceError> {
        self.load(plan.tiles().into_keys()).await?;
        plan.resolve(|k| self.tiles.get(&k).map(Vec::as_slice))
            .or_else(|e| bad(format!("tiles: {e}")))
    }
}

impl Source {
    pub fn new(url: &str, tiles: bool) -> Source {
        let base = url.trim_end_matches('/').to_string();
        if tiles {
            Source::Tiles { base }
        } else {
            Source::RekorV1 {
                base,
                shard_offset: 0,
            }
        }
    }

    /// The latest checkpoint note, as served (not yet verified).
    pub async fn checkpoint(&mut self, http: &Http) -> Result<String, SourceError> {
        match self {
            Source::Tiles { base } => {
                let data = http
                    .get(&format!("{base}/checkpoint"), MAX_NOTE_BYTES)
                    .await?;
                utf8(data, "the checkpoint")
            }
            Source::RekorV1 { base, shard_offset } => {
                let data = http
                    .get(&format!("{base}/api/v1/log"), MAX_LOG_INFO_BYTES)
                    .await?;
                let info: LogInfo = serde_json::from_slice(&data)
                    .or_else(|e| bad(format!("malformed /api/v1/log answer: {e}")))?;
                let mut offset: u64 = 0;
                for s in &info.inactive_shards {
                    offset = offset
                        .checked_add(s.tree_size)
                        .ok_or_else(|| SourceError::Misbehaviour("shard sizes overflow".into()))?;
                }
                *shard_offset = offset;
                Ok(info.signed_tree_head)
            }
        }
    }

    /// A consistency proof from `first` to `second` (0 < first < second).
    pub async fn consistency(
        &self,
        http: &Http,
        first: u64,
        second: u64,
    ) -> Result<Vec<Hash>, SourceError> {
        match self {
            Source::RekorV1 { base, .. } => {
                let url = format!("{base}/api/v1/log/proof?firstSize={first}&lastSize={second}");
                let data = http.get(&url, MAX_PROOF_BYTES).await?;
                let p: ProofResponse = serde_json::from_slice(&data)
                    .or_else(|e| bad(format!("malformed consistency proof: {e}")))?;
                hex_hashes(&p.hashes, "the consistency proof")
            }
            Source::Tiles { base } => {
                let plan = Plan::consistency(first, second)
                    .or_else(|e| bad(format!("consistency {first}..{second}: {e}")))?;
                Tiles::new(http, base, second).resolve(&plan).await
            }
        }
    }

    /// Entries `[from, to)` of `head`'s tree, each proven to be in it.
    pub async fn entries(
        &self,
        http: &Http,
        policy: &LogPolicy,
        head: &Head,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, SourceError> {
        if from >= to {
            return Ok(Vec::new());
        }
        if to > head.size() {
            return bad("entries beyond the tree");
        }
        match self {
            Source::Tiles { base } => tile_entries(http, base, head, from, to).await,
            Source::RekorV1 { .. } => {
                let mut roots = BTreeMap::from([(head.size(), *head.root())]);
                let mut out = Vec::new();
                for index in from..to {
                    let body = v1_entry(self, http, policy, head, index, &mut roots).await?;
                    out.push((index, body));
                }
                Ok(out)
            }
        }
    }
}

/// Entry `index` via Rekor v1, with its inclusion proof checked and the
/// proof's tree tied to the verified one (`roots`: sizes → roots known to be
/// consistent with it).
async fn v1_entry(
    source: &Source,
    http: &Http,
    policy: &LogPolicy,
    head: &Head,
    index: u64,
    roots: &mut BTreeMap<u64, Hash>,
) -> Result<Vec<u8>, SourceError> {
    let Source::RekorV1 { base, shard_offset } = source else {
        return bad("not a Rekor v1 log");
    };
    let global = shard_offset
        .checked_add(index)
        .ok_or_else(|| SourceError::Misbehaviour("log index overflows".into()))?;
    let url = format!("{base}/api/v1/log/entries?logIndex={global}");
    let data = http.get(&url, MAX_ENTRY_RESPONSE_BYTES).await?;
    let map: HashMap<String, EntryResponse> = serde_json::from_slice(&data)
        .or_else(|e| bad(format!("entry {index}: malformed answer: {e}")))?;
    let mut entries = map.into_values();
    let (Some(entry), None) = (entries.next(), entries.next()) else {
        return bad(format!("entry {index}: expected exactly one entry"));
    };
    if entry.log_index != global {
        return bad(format!(
            "asked for entry {global}, the log answered entry {}",
            entry.log_index
        ));
    }
    let body = decode_base64(&entry.body)
        .or_else(|_| bad(format!("entry {index}: body is not base64")))?;
    let Some(proof) = entry.verification.and_then(|v| v.inclusion_proof) else {
        return bad(format!("entry {index}: no inclusion proof"));
    };
    if proof.log_index != index {
        return bad(format!(
            "entry {index}: inclusion proof is for index {}",
            proof.log_index
        ));
    }
    let root = hex_hash(&proof.root_hash, "the inclusion proof's root")?;
    let hashes = hex_hashes(&proof.hashes, "the inclusion proof")?;
    let leaf = leaf_hash(&body);
    verify_inclusion(index, proof.tree_size, &leaf, &hashes, &root).or_else(|e| {
        bad(format!(
            "entry {index}: inclusion proof does not verify: {e}"
        ))
    })?;
    match roots.get(&proof.tree_size) {
        Some(known) if *known == root => return Ok(body),
        Some(_) => {
            return bad(format!(
                "entry {index}: inclusion proof has another root for tree size {} than the log's checkpoint",
                proof.tree_size
            ))
        }
        None => {}
    }
    // A tree of another size: it must be signed and consistent with ours.
    let Some(note) = proof.checkpoint else {
        return bad(format!(
            "entry {index}: inclusion proof for tree size {} has no checkpoint",
            proof.tree_size
        ));
    };
    let (_, cp) = policy
        .verify_note(&note)
        .or_else(|e| bad(format!("entry {index}: inclusion proof checkpoint: {e}")))?;
    if cp.size() != proof.tree_size || *cp.root_hash() != root {
        return bad(format!(
            "entry {index}: inclusion proof does not match its checkpoint"
        ));
    }
    // The same tree (a Rekor shard's tree ID is part of its origin).
    if cp.origin() != head.checkpoint.origin() {
        return bad(format!(
            "entry {index}: inclusion proof checkpoint is for {:?}, not {:?}",
            cp.origin(),
            head.checkpoint.origin()
        ));
    }
    let (&size, head_root) = roots
        .iter()
        .next_back()
        .ok_or_else(|| SourceError::Misbehaviour("no verified tree".into()))?;
    let head_root = *head_root;
    let (first, first_root, second, second_root) = if proof.tree_size < size {
        (proof.tree_size, root, size, head_root)
    } else {
        (size, head_root, proof.tree_size, root)
    };
    let hashes = source.consistency(http, first, second).await?;
    verify_consistency(first, second, &first_root, &second_root, &hashes).or_else(|e| {
        bad(format!(
            "entry {index}: tree {} is not consistent with tree {}: {e}",
            proof.tree_size, size
        ))
    })?;
    // Every verified root is consistent with the largest (transitively with
    // the scan's head), so forgetting smaller ones loses nothing but the
    // proof fetches they would save: a busy log moves on between requests.
    if roots.len() >= MAX_PROOF_SIZES {
        roots.pop_first();
    }
    roots.insert(proof.tree_size, root);
    Ok(body)
}

/// Entries from entry bundles, each with an inclusion proof computed from
/// the hash tiles and verified against `head`'s root.
async fn tile_entries(
    http: &Http,
    base: &str,
    head: &Head,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, Vec<u8>)>, SourceError> {
    let size = head.size();
    let mut tiles = Tiles::new(http, base, size);
    let mut out = Vec::new();
    let mut bundle_index = from / TILE_WIDTH;
    while bundle_index.saturating_mul(TILE_WIDTH) < to {
        let start = bundle_index * TILE_WIDTH;
        let width = size.saturating_sub(start).min(TILE_WIDTH) as usize;
        let data = tiles
            .fetch(None, bundle_index, width, MAX_BUNDLE_BYTES)
            .await?;
        let Some(bodies) = split_bundle(&data) else {
            return bad(format!("entry bundle {bundle_index} is malformed"));
        };
        if bodies.len() < width {
            return bad(format!(
                "entry bundle {bundle_index} has {} entries, expected {width}",
                bodies.len()
            ));
        }
        for (offset, body) in bodies.iter().take(width).enumerate() {
            let index = start + offset as u64;
            if index < from || index >= to {
                continue;
            }
            let plan =
                Plan::inclusion(index, size).or_else(|e| bad(format!("entry {index}: {e}")))?;
            let proof = tiles.resolve(&plan).await?;
            verify_inclusion(index, size, &leaf_hash(body), &proof, head.root()).or_else(|e| {
                bad(format!(
                    "entry {index} of the entry bundle is not in the tree: {e}"
                ))
            })?;
            out.push((index, body.to_vec()));
        }
        bundle_index += 1;
    }
    Ok(out)
}
