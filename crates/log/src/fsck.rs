//! `signet log fsck`: checks a whole log over its C2SP tiles read path, as
//! Tessera's fsck does. Every entry bundle is read, every leaf hashed, the
//! tree rebuilt from the leaves, and every hash tile the log serves
//! compared with the rebuilt one; the rebuilt root must be the root of the
//! log's signed checkpoint. Each body must also be an entry of a known kind
//! in canonical (RFC 8785) form, as the log stores them, and no leaf may be
//! logged twice (the log answers a duplicate with 409 instead). Duplicates
//! are found by the leaves' first 16 bytes: 24 bytes of memory per entry.
//!
//! Works against any tlog-tiles log (signet, Rekor v2) and so checks the
//! storage behind it, whatever the backend: run it after a crash, a restore
//! or a migration. Reads are bounded (tile and bundle sizes) and pipelined.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use signet_model::rekor::EntryBody;
use signet_tlog::merkle::{leaf_hash, Hash};
use signet_tlog::MAX_NOTE_BYTES;

use crate::monitor::http::{Http, HttpError};
use crate::monitor::source::{fetch_tile, MAX_BUNDLE_BYTES, MAX_TILE_BYTES};
use crate::monitor::LogPolicy;
use crate::tiles::{right_edge, split_bundle, MAX_TILE_LEVEL, TILE_WIDTH};
use crate::tree::{EdgeTiles, TileKey};

/// Problems listed in a report (the count goes on).
const MAX_LISTED: usize = 100;

/// What to check and how.
#[derive(Debug, Clone)]
pub struct FsckConfig {
    /// The log's tiles prefix (where `/checkpoint` is).
    pub url: String,
    pub policy: LogPolicy,
    pub timeout: Duration,
    /// Entry bundles (each with its level-0 tile) fetched at once.
    pub concurrency: usize,
}

/// The outcome of a check.
#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    /// The tree size of the checkpoint checked against.
    pub size: u64,
    pub entries: u64,
    /// Hash tiles compared.
    pub tiles: u64,
    /// The first [`MAX_LISTED`] problems found.
    pub problems: Vec<String>,
    pub problem_count: u64,
}

impl FsckReport {
    fn problem(&mut self, msg: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(msg);
        }
    }

    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }
}

/// Why a check could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    /// The log could not be read (retry later): exit 1.
    #[error(transparent)]
    Unreachable(HttpError),
    /// The log's checkpoint is not acceptable: exit 4.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// fsck itself failed (a fetch task died): exit 1.
    #[error("{0}")]
    Internal(String),
}

/// One entry bundle and its level-0 hash tile, as served (`None`: missing).
struct Fetched {
    bundle: Option<Vec<u8>>,
    tile: Option<Vec<u8>>,
}

/// Fetches in flight, in bundle order; those left when fsck stops early
/// are cancelled.
#[derive(Default)]
struct InFlight(VecDeque<tokio::task::JoinHandle<Result<Fetched, HttpError>>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Compares a served hash tile with the rebuilt one.
fn compare_tile(report: &mut FsckReport, key: TileKey, served: Option<&[u8]>, rebuilt: &[Hash]) {
    report.tiles += 1;
    let (level, index) = key;
    let Some(served) = served else {
        report.problem(format!("tile {level}/{index}: missing"));
        return;
    };
    // A wider tile than asked for is fine (a log may serve the full tile
    // for a partial one it no longer keeps): its prefix is compared.
    if served.len() < rebuilt.len() * 32 || served.len() % 32 != 0 {
        report.problem(format!(
            "tile {level}/{index}: {} bytes served, {} expected",
            served.len(),
            rebuilt.len() * 32
        ));
        return;
    }
    if let Some(i) = served
        .chunks_exact(32)
        .zip(rebuilt)
        .position(|(s, r)| s != r.as_slice())
    {
        report.problem(format!(
            "tile {level}/{index}: hash {i} is not the one rebuilt from the entries"
        ));
    }
}

/// Checks one entry's body: a known kind, in canonical form.
fn check_body(report: &mut FsckReport, index: u64, body: &[u8]) {
    match EntryBody::parse(body) {
        Ok(parsed) if parsed.canonical_json().as_bytes() == body => {}
        Ok(_) => report.problem(format!("entry {index}: body is not in canonical form")),
        Err(e) => report.problem(format!("entry {index}: body: {e}")),
    }
}

/// Checks the whole log at its current checkpoint.
pub async fn fsck(config: &FsckConfig) -> Result<FsckReport, FsckError> {
    let http = Http::new(config.timeout).map_err(FsckError::Unreachable)?;
    let base = config.url.trim_end_matches('/').to_string();
    let note = http
        .get(&format!("{base}/checkpoint"), MAX_NOTE_BYTES)
        .await
        .map_err(FsckError::Unreachable)?;
    let note = String::from_utf8(note)
        .map_err(|_| FsckError::Checkpoint("the checkpoint is not UTF-8".into()))?;
    let (parsed_note, checkpoint) = config
        .policy
        .verify_note(&note)
        .map_err(FsckError::Checkpoint)?;
    config
        .policy
        .verify_witnesses(&parsed_note)
        .map_err(FsckError::Checkpoint)?;
    let size = checkpoint.size();
    let mut report = FsckReport {
        size,
        ..FsckReport::default()
    };
    let bundles = size.div_ceil(TILE_WIDTH);
    let width_of = |b: u64| (size - b * TILE_WIDTH).min(TILE_WIDTH) as usize;
    let mut in_flight = InFlight::default();
    let mut next = 0u64;
    let mut edge = EdgeTiles::default();
    // First index of each leaf, by its first 16 bytes (a collision of 128
    // bits of SHA-256 is not a concern at any log size).
    let mut first_seen: HashMap<u128, u64> = HashMap::new();
    for b in 0..bundles {
        while next < bundles && in_flight.0.len() < config.concurrency.max(1) {
            let (http, base, width) = (http.clone(), base.clone(), width_of(next));
            let index = next;
            in_flight.0.push_back(tokio::spawn(async move {
                let bundle = fetch_tile(&http, &base, None, index, width, MAX_BUNDLE_BYTES).await?;
                let tile = fetch_tile(&http, &base, Some(0), index, width, MAX_TILE_BYTES).await?;
                Ok(Fetched { bundle, tile })
            }));
            next += 1;
        }
        let Some(task) = in_flight.0.pop_front() else {
            break;
        };
        let fetched = task
            .await
            .map_err(|e| FsckError::Internal(format!("fetch task: {e}")))?
            .map_err(FsckError::Unreachable)?;
        let width = width_of(b);
        let start = b * TILE_WIDTH;
        let leaves: Vec<Hash> = match fetched.bundle.as_deref().map(split_bundle) {
            None => {
                report.problem(format!("entry bundle {b}: missing"));
                return Ok(report);
            }
            Some(None) => {
                report.problem(format!("entry bundle {b}: malformed"));
                return Ok(report);
            }
            Some(Some(bodies)) if bodies.len() < width => {
                report.problem(format!(
                    "entry bundle {b}: {} entries, {width} expected",
                    bodies.len()
                ));
                return Ok(report);
            }
            Some(Some(bodies)) => bodies
                .iter()
                .take(width)
                .enumerate()
                .map(|(offset, body)| {
                    check_body(&mut report, start + offset as u64, body);
                    leaf_hash(body)
                })
                .collect(),
        };
        for (offset, leaf) in leaves.into_iter().enumerate() {
            let index = start + offset as u64;
            let mut prefix = [0u8; 16];
            prefix.copy_from_slice(&leaf[..16]);
            let first = *first_seen
                .entry(u128::from_be_bytes(prefix))
                .or_insert(index);
            if first != index {
                report.problem(format!(
                    "entry {index}: the same leaf as entry {first} (logged twice)"
                ));
            }
            edge.append(leaf)
                .map_err(|e| FsckError::Checkpoint(e.to_string()))?;
            report.entries += 1;
        }
        // Full tiles are final now: compare them (level 0 with what was
        // fetched beside the bundle, higher levels as they complete).
        for (key, hashes) in edge.take_changed() {
            if hashes.len() as u64 != TILE_WIDTH {
                continue;
            }
            if key == (0, b) {
                compare_tile(&mut report, key, fetched.tile.as_deref(), &hashes);
            } else {
                let served = fetch_tile(
                    &http,
                    &base,
                    Some(key.0),
                    key.1,
                    hashes.len(),
                    MAX_TILE_BYTES,
                )
                .await
                .map_err(FsckError::Unreachable)?;
                compare_tile(&mut report, key, served.as_deref(), &hashes);
            }
        }
        if width < TILE_WIDTH as usize {
            if let Some(hashes) = edge.tile((0, b)) {
                compare_tile(&mut report, (0, b), fetched.tile.as_deref(), hashes);
            }
        }
    }
    // The right edge above level 0: partial tiles of the final size.
    for level in 1..=MAX_TILE_LEVEL {
        let (index, width) = right_edge(size, level);
        if width == 0 {
            continue;
        }
        if let Some(hashes) = edge.tile((level, index)) {
            let served = fetch_tile(&http, &base, Some(level), index, width, MAX_TILE_BYTES)
                .await
                .map_err(FsckError::Unreachable)?;
            compare_tile(&mut report, (level, index), served.as_deref(), hashes);
        }
    }
    match edge.root() {
        Ok(root) if root == *checkpoint.root_hash() => {}
        Ok(_) => report.problem(format!(
            "the root rebuilt from the {size} entries is not the signed checkpoint's root"
        )),
        Err(e) => report.problem(format!("rebuilding the root: {e}")),
    }
    Ok(report)
}
