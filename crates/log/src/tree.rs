//! The log's Merkle tree, read from tiles: roots, RFC 9162 inclusion and
//! consistency proofs, and appends to the right edge.
//!
//! Every hash a proof needs is the hash of a range `[lo, hi)` of leaves,
//! which splits into complete subtrees ([`NodeId`]s). A complete subtree at
//! level `h` is either stored (when `h` is a multiple of the tile height) or
//! computed by hashing up `2^(h mod 8)` consecutive stored hashes of one tile
//! (as golang.org/x/mod/sumdb/tlog's `TileHashReader`). Reading is split in
//! two steps so that storage can be async: a [`Plan`] names the tiles it
//! needs ([`Plan::tiles`]), the caller fetches them, and [`Plan::resolve`]
//! hashes.
//!
//! Because the tree only grows and a partial tile is a prefix of its later
//! versions, tiles of the current tree serve proofs for every smaller size.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use signet_tlog::merkle::{empty_root, node_hash, Hash};

use crate::tiles::{right_edge, TILE_HEIGHT, TILE_WIDTH};

/// Why a tree computation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("invalid sizes: {first} must be between 1 and {second}")]
    BadSizes { first: u64, second: u64 },
    #[error("tile {level}/{index} is missing or narrower than {needed}")]
    MissingTile {
        level: u8,
        index: u64,
        needed: usize,
    },
    #[error("tree is full")]
    Full,
}

/// A complete subtree: `2^level` leaves starting at leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    pub level: u32,
    pub index: u64,
}

/// A (level, index) hash tile coordinate.
pub type TileKey = (u8, u64);

impl NodeId {
    /// The tile holding this node's stored ancestors-or-self, and the range
    /// of hashes within it whose subtree is this node.
    fn tile_span(&self) -> (TileKey, usize, usize) {
        let tile_level = self.level / TILE_HEIGHT;
        let r = self.level % TILE_HEIGHT;
        let start = self.index << r; // index at stored level
        let tile = start / TILE_WIDTH;
        let offset = (start % TILE_WIDTH) as usize;
        ((tile_level as u8, tile), offset, 1usize << r)
    }
}

/// Splits `[lo, hi)` into complete subtrees, left to right, with strictly
/// decreasing sizes when `lo` is aligned to a power of two ≥ `hi - lo`
/// (always the case for the ranges RFC 9162 proofs use).
fn decompose(mut lo: u64, hi: u64, out: &mut Vec<NodeId>) {
    while lo < hi {
        let mut level = if lo == 0 { 63 } else { lo.trailing_zeros() };
        while level > 0 && (1u64 << level) > hi - lo {
            level -= 1;
        }
        out.push(NodeId {
            level,
            index: lo >> level,
        });
        lo += 1u64 << level;
    }
}

/// Largest power of two strictly smaller than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Hashes to fetch and combine: each element of the result is the hash of
/// one range, given as its complete subtrees.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    ranges: Vec<Vec<NodeId>>,
}

impl Plan {
    fn push_range(&mut self, lo: u64, hi: u64) {
        let mut nodes = Vec::new();
        decompose(lo, hi, &mut nodes);
        self.ranges.push(nodes);
    }

    /// Plan for the root of the tree of `size` leaves (`size > 0`).
    pub fn root(size: u64) -> Plan {
        let mut p = Plan::default();
        if size > 0 {
            p.push_range(0, size);
        }
        p
    }

    /// Plan for the RFC 9162 inclusion proof of leaf `index` in `size`.
    pub fn inclusion(index: u64, size: u64) -> Result<Plan, TreeError> {
        if index >= size {
            return Err(TreeError::IndexOutOfRange { index, size });
        }
        let mut p = Plan::default();
        // PATH(m, D[lo:hi]) appends siblings bottom-up; iterate top-down
        // and reverse at the end.
        let (mut lo, mut hi) = (0u64, size);
        let mut rev = Vec::new();
        while hi - lo > 1 {
            let k = split_point(hi - lo);
            if index < lo + k {
                rev.push((lo + k, hi));
                hi = lo + k;
            } else {
                rev.push((lo, lo + k));
                lo += k;
            }
        }
        for (a, b) in rev.into_iter().rev() {
            p.push_range(a, b);
        }
        Ok(p)
    }

    /// Plan for the RFC 9162 consistency proof from `first` to `second`
    /// (`1 <= first <= second`).
    pub fn consistency(first: u64, second: u64) -> Result<Plan, TreeError> {
        if first == 0 || first > second {
            return Err(TreeError::BadSizes { first, second });
        }
        let mut p = Plan::default();
        // SUBPROOF(m, D[lo:hi], b), unrolled top-down, reversed at the end.
        let (mut m, mut lo, mut hi, mut b) = (first, 0u64, second, true);
        let mut rev = Vec::new();
        loop {
            let n = hi - lo;
            if m == n {
                if !b {
                    rev.push((lo, hi));
                }
                break;
            }
            let k = split_point(n);
            if m <= k {
                rev.push((lo + k, hi));
                hi = lo + k;
            } else {
                rev.push((lo, lo + k));
                m -= k;
                lo += k;
                b = false;
            }
        }
        for (a, c) in rev.into_iter().rev() {
            p.push_range(a, c);
        }
        Ok(p)
    }

    /// The tiles (and the minimum width of each) this plan reads.
    pub fn tiles(&self) -> BTreeMap<TileKey, usize> {
        let mut out: BTreeMap<TileKey, usize> = BTreeMap::new();
        for node in self.ranges.iter().flatten() {
            let (key, offset, count) = node.tile_span();
            let w = out.entry(key).or_default();
            *w = (*w).max(offset + count);
        }
        out
    }

    /// Hashes each range with tiles from `get`.
    pub fn resolve<'a, F>(&self, get: F) -> Result<Vec<Hash>, TreeError>
    where
        F: Fn(TileKey) -> Option<&'a [Hash]>,
    {
        let mut out = Vec::with_capacity(self.ranges.len());
        for range in &self.ranges {
            let mut acc: Option<Hash> = None;
            for node in range.iter().rev() {
                let h = node_from_tiles(node, &get)?;
                acc = Some(match acc {
                    None => h,
                    Some(right) => node_hash(&h, &right),
                });
            }
            out.push(acc.unwrap_or_else(empty_root));
        }
        Ok(out)
    }

    /// As [`Plan::resolve`], with the hashes of complete subtrees below a
    /// tile level kept in `memo` (they never change, so a memo may serve
    /// many plans: the proofs of one batch share most of their nodes).
    pub fn resolve_memo<'a, F>(
        &self,
        get: F,
        memo: &mut HashMap<NodeId, Hash>,
    ) -> Result<Vec<Hash>, TreeError>
    where
        F: Fn(TileKey) -> Option<&'a [Hash]>,
    {
        let mut out = Vec::with_capacity(self.ranges.len());
        for range in &self.ranges {
            let mut acc: Option<Hash> = None;
            for node in range.iter().rev() {
                let h = node_memo(node, &get, memo)?;
                acc = Some(match acc {
                    None => h,
                    Some(right) => node_hash(&h, &right),
                });
            }
            out.push(acc.unwrap_or_else(empty_root));
        }
        Ok(out)
    }

    /// Number of hashes the plan produces.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// The hash of a complete subtree, hashed up from its tile.
fn node_from_tiles<'a, F>(node: &NodeId, get: &F) -> Result<Hash, TreeError>
where
    F: Fn(TileKey) -> Option<&'a [Hash]>,
{
    let (key, offset, count) = node.tile_span();
    let missing = TreeError::MissingTile {
        level: key.0,
        index: key.1,
        needed: offset + count,
    };
    let tile = get(key).ok_or(missing.clone())?;
    let slice = tile.get(offset..offset + count).ok_or(missing)?;
    let mut level: Vec<Hash> = slice.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    Ok(level[0])
}

/// [`node_from_tiles`], memoised: a node between tile levels is the hash of
/// its two children.
fn node_memo<'a, F>(
    node: &NodeId,
    get: &F,
    memo: &mut HashMap<NodeId, Hash>,
) -> Result<Hash, TreeError>
where
    F: Fn(TileKey) -> Option<&'a [Hash]>,
{
    if node.level.is_multiple_of(TILE_HEIGHT) {
        return node_from_tiles(node, get);
    }
    if let Some(h) = memo.get(node) {
        return Ok(*h);
    }
    let left = NodeId {
        level: node.level - 1,
        index: node.index * 2,
    };
    let right = NodeId {
        level: node.level - 1,
        index: node.index * 2 + 1,
    };
    let h = node_hash(
        &node_memo(&left, get, memo)?,
        &node_memo(&right, get, memo)?,
    );
    memo.insert(*node, h);
    Ok(h)
}

/// The root of the tree of `size` leaves, from its tiles.
pub fn root_from_tiles<'a, F>(size: u64, get: F) -> Result<Hash, TreeError>
where
    F: Fn(TileKey) -> Option<&'a [Hash]>,
{
    if size == 0 {
        return Ok(empty_root());
    }
    Ok(Plan::root(size).resolve(get)?[0])
}

/// The tiles a writer has touched: the right edge of the tree plus every
/// tile completed since the edge was loaded.
///
/// Invariant: for the current `size`, `tiles` holds the right-edge tile of
/// every level that has one (width `right_edge(size, level).1 > 0`), with
/// exactly that width.
#[derive(Debug, Clone, Default)]
pub struct EdgeTiles {
    size: u64,
    tiles: BTreeMap<TileKey, Vec<Hash>>,
    /// Tiles changed since the last [`EdgeTiles::take_changed`].
    changed: BTreeSet<TileKey>,
}

impl EdgeTiles {
    /// Builds the edge of a tree of `size` leaves from its right-edge tiles
    /// (as loaded from storage). Checks the widths.
    pub fn new(size: u64, edge: BTreeMap<TileKey, Vec<Hash>>) -> Result<Self, TreeError> {
        for level in 0..=crate::tiles::MAX_TILE_LEVEL {
            let (index, width) = right_edge(size, level);
            if width == 0 {
                continue;
            }
            match edge.get(&(level, index)) {
                Some(t) if t.len() == width => {}
                _ => {
                    return Err(TreeError::MissingTile {
                        level,
                        index,
                        needed: width,
                    })
                }
            }
        }
        Ok(EdgeTiles {
            size,
            tiles: edge,
            changed: BTreeSet::new(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash, completing and propagating tiles as they fill.
    pub fn append(&mut self, leaf: Hash) -> Result<(), TreeError> {
        if self.size >= (1u64 << 56) {
            return Err(TreeError::Full);
        }
        let mut level: u8 = 0;
        let mut hash = leaf;
        loop {
            let (index, _) = right_edge(self.size, level);
            let tile = self.tiles.entry((level, index)).or_default();
            tile.push(hash);
            self.changed.insert((level, index));
            if tile.len() as u64 != TILE_WIDTH {
                break;
            }
            // A full tile: its root is the next stored level's new node.
            let mut row = tile.clone();
            while row.len() > 1 {
                row = row.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
            }
            hash = row[0];
            level += 1;
        }
        self.size += 1;
        Ok(())
    }

    /// A tile held here: the right edge, or one completed since the last
    /// [`EdgeTiles::take_changed`].
    pub fn tile(&self, key: TileKey) -> Option<&[Hash]> {
        self.tiles.get(&key).map(Vec::as_slice)
    }

    /// The root of the current tree.
    pub fn root(&self) -> Result<Hash, TreeError> {
        root_from_tiles(self.size, |k| self.tiles.get(&k).map(Vec::as_slice))
    }

    /// Hashes of a plan over tiles held here (proofs for recent leaves).
    pub fn resolve(&self, plan: &Plan) -> Result<Vec<Hash>, TreeError> {
        plan.resolve(|k| self.tiles.get(&k).map(Vec::as_slice))
    }

    /// [`EdgeTiles::resolve`] with a memo (see [`Plan::resolve_memo`]).
    pub fn resolve_memo(
        &self,
        plan: &Plan,
        memo: &mut HashMap<NodeId, Hash>,
    ) -> Result<Vec<Hash>, TreeError> {
        plan.resolve_memo(|k| self.tiles.get(&k).map(Vec::as_slice), memo)
    }

    /// The tiles changed since the last call, with their current contents,
    /// and forgets the full tiles that are no longer on the edge.
    pub fn take_changed(&mut self) -> Vec<(TileKey, Vec<Hash>)> {
        let changed = std::mem::take(&mut self.changed);
        let out: Vec<_> = changed
            .into_iter()
            .filter_map(|k| self.tiles.get(&k).map(|t| (k, t.clone())))
            .collect();
        self.tiles.retain(|_, t| (t.len() as u64) < TILE_WIDTH);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_tlog::merkle;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect()
    }

    /// All tiles of a tree, built by appending.
    fn all_tiles(hashes: &[Hash]) -> BTreeMap<TileKey, Vec<Hash>> {
        let mut edge = EdgeTiles::default();
        let mut all = BTreeMap::new();
        for h in hashes {
            edge.append(*h).unwrap();
            for (k, t) in edge.take_changed() {
                all.insert(k, t);
            }
        }
        all
    }

    fn check_size(hashes: &[Hash], tiles: &BTreeMap<TileKey, Vec<Hash>>, n: u64) {
        let get = |k: TileKey| tiles.get(&k).map(Vec::as_slice);
        let root = root_from_tiles(n, get).unwrap();
        assert_eq!(root, merkle::root(&hashes[..n as usize]), "root {n}");
        for i in [0, n / 3, n / 2, n.saturating_sub(2), n - 1] {
            let proof = Plan::inclusion(i, n).unwrap().resolve(get).unwrap();
            let expected = merkle::inclusion_proof(&hashes[..n as usize], i).unwrap();
            assert_eq!(proof, expected, "inclusion {i} in {n}");
            merkle::verify_inclusion(i, n, &hashes[i as usize], &proof, &root).unwrap();
        }
        for m in [1, n / 2, n.saturating_sub(1), n] {
            if m == 0 {
                continue;
            }
            let proof = Plan::consistency(m, n).unwrap().resolve(get).unwrap();
            let expected = merkle::consistency_proof(hashes, m, n).unwrap();
            assert_eq!(proof, expected, "consistency {m} -> {n}");
            let old = merkle::root(&hashes[..m as usize]);
            if m < n {
                merkle::verify_consistency(m, n, &old, &root, &proof).unwrap();
            }
        }
    }

    #[test]
    fn proofs_match_reference_for_small_trees() {
        let hashes = leaves(600);
        let tiles = all_tiles(&hashes);
        for n in 1..=600u64 {
            check_size(&hashes, &tiles, n);
        }
    }

    #[test]
    fn every_inclusion_proof_in_a_small_tree() {
        let hashes = leaves(70);
        let tiles = all_tiles(&hashes);
        let get = |k: TileKey| tiles.get(&k).map(Vec::as_slice);
        for n in 1..=70u64 {
            for i in 0..n {
                let p = Plan::inclusion(i, n).unwrap().resolve(get).unwrap();
                assert_eq!(
                    p,
                    merkle::inclusion_proof(&hashes[..n as usize], i).unwrap()
                );
            }
            for m in 1..=n {
                let p = Plan::consistency(m, n).unwrap().resolve(get).unwrap();
                assert_eq!(p, merkle::consistency_proof(&hashes, m, n).unwrap());
            }
        }
    }

    #[test]
    fn memoised_proofs_match_the_reference() {
        let hashes = leaves(65536 + 700);
        let tiles = all_tiles(&hashes);
        let get = |k: TileKey| tiles.get(&k).map(Vec::as_slice);
        // One memo across sizes and indexes, as the sequencer uses it.
        let mut memo = HashMap::new();
        for n in [1u64, 2, 255, 256, 257, 600, 65536, 65536 + 700] {
            for i in (0..n).step_by(97).chain([n - 1]) {
                let p = Plan::inclusion(i, n)
                    .unwrap()
                    .resolve_memo(get, &mut memo)
                    .unwrap();
                assert_eq!(
                    p,
                    merkle::inclusion_proof(&hashes[..n as usize], i).unwrap(),
                    "inclusion {i} in {n}"
                );
            }
        }
    }

    #[test]
    fn proofs_across_the_second_tile_level() {
        let hashes = leaves(65536 + 300);
        let tiles = all_tiles(&hashes);
        for n in [
            65535u64,
            65536,
            65537,
            65536 + 256,
            65536 + 257,
            65536 + 300,
        ] {
            check_size(&hashes, &tiles, n);
        }
    }

    #[test]
    fn edge_reload_matches_and_roots_track_appends() {
        let hashes = leaves(1000);
        let mut edge = EdgeTiles::default();
        for (i, h) in hashes.iter().enumerate() {
            edge.append(*h).unwrap();
            let _ = edge.take_changed();
            assert_eq!(edge.root().unwrap(), merkle::root(&hashes[..=i]));
        }
        // Reload from the right-edge tiles only.
        let all = all_tiles(&hashes);
        let mut edge_tiles = BTreeMap::new();
        for level in 0..=crate::tiles::MAX_TILE_LEVEL {
            let (index, width) = right_edge(1000, level);
            if width > 0 {
                edge_tiles.insert((level, index), all[&(level, index)].clone());
            }
        }
        let reloaded = EdgeTiles::new(1000, edge_tiles).unwrap();
        assert_eq!(reloaded.root().unwrap(), merkle::root(&hashes));
        assert!(EdgeTiles::new(1001, BTreeMap::new()).is_err());
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(Plan::inclusion(5, 5).is_err());
        assert!(Plan::consistency(0, 5).is_err());
        assert!(Plan::consistency(6, 5).is_err());
        let empty: BTreeMap<TileKey, Vec<Hash>> = BTreeMap::new();
        assert!(Plan::inclusion(0, 300)
            .unwrap()
            .resolve(|k| empty.get(&k).map(Vec::as_slice))
            .is_err());
    }
}
