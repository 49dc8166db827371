//! The SQLite backend's lookup index (leaf hash → index, search key →
//! indexes), kept off the commit path as sorted runs, LSM-style.
//!
//! Why: in a B-tree keyed by a hash every insert lands on a random page, so
//! once the index outgrows the page cache each entry of a batch dirties its
//! own 4 KiB page, written to the WAL and again to the database file (14.5
//! KiB of disk writes per entry at a million entries, which made the log
//! I/O-bound). Here the commit path only appends the entry (and its search
//! keys) to the `entries` table, sequentially; the index is:
//!
//! * a memory tier: the records of committed entries from
//!   [`RunIndex::indexed_upto`] on, in a hash map;
//! * immutable run files under `<data-dir>/index/`, each the sorted records
//!   of one contiguous range of entries. When the memory tier holds
//!   `run_entries` entries (default [`DEFAULT_RUN_ENTRIES`]) a background
//!   thread writes it out as a run;
//!   runs are merged pairwise (a binary counter: a run is merged into the
//!   one before it once it is as large), so there are O(log n) of them and
//!   each record is rewritten O(log n) times, sequentially.
//!
//! A record is a 32-byte key and a `u64` index: leaf hashes are their own
//! key, a search key `k` is keyed by SHA-256 of a domain tag and `k` (a
//! leaf hash is SHA-256 of `0x00 ‖ body`, so the two never collide).
//!
//! Runs are derived data: `entries` holds each leaf hash and search keys,
//! and is the only thing commits make durable. At start-up the runs that
//! cover the log contiguously from 0 are kept (each checked against its
//! SHA-256), leftovers of an interrupted flush or merge are removed, and
//! the entries after the last run are read back into memory. A run that
//! is missing or damaged is rebuilt from `entries`.
//!
//! Invariant: every committed entry is in exactly one of the memory tier
//! and the runs, and a lookup sees both in one consistent state (the run
//! list and the memory tier are read under one lock).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::StorageError;

/// A record's key: a leaf hash, or [`search_key`] of a search key.
pub(crate) type Key = [u8; 32];
type Record = (Key, u64);

/// Entries the memory tier holds, by default, before it is written out as
/// a run: about 320 bytes of memory each for a 3-key entry shape.
pub const DEFAULT_RUN_ENTRIES: u64 = 65_536;

const RECORD: usize = 40;
/// Records per block: a lookup reads one or two blocks of a run.
const BLOCK_RECORDS: usize = 102;
const BLOCK: usize = RECORD * BLOCK_RECORDS;
/// Footer: magic, record count (u64 BE), SHA-256 of the records.
const MAGIC: &[u8; 8] = b"SGNTRUN1";
const FOOTER: usize = 8 + 8 + 32;

/// The record key of a search key (see the module docs).
pub(crate) fn search_key(key: &str) -> Key {
    let mut input = Vec::with_capacity(24 + key.len());
    input.extend_from_slice(b"signet-log search key\n");
    input.extend_from_slice(key.as_bytes());
    signet_crypto::sha256(&input)
}

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(format!("index run {}: {what}: {e}", path.display()))
}

/// A Bloom filter of a run's keys, so that a lookup of a key the run does
/// not hold (every duplicate check of a new entry) reads nothing. Keys are
/// SHA-256 outputs, so their own bits are the hash functions. Blocked: all
/// probes of a key fall in one 64-byte block (one cache miss per insert or
/// lookup, which is what opening a large run costs), for a slightly higher
/// false-positive rate than a plain filter (about 1 % at 10 bits per key).
struct Bloom {
    blocks: Vec<[u64; 8]>,
}

const BLOOM_BITS_PER_KEY: u64 = 10;
const BLOOM_PROBES: u32 = 7;

impl Bloom {
    fn new(keys: u64) -> Bloom {
        let blocks = (keys.saturating_mul(BLOOM_BITS_PER_KEY) / 512).max(1);
        Bloom {
            blocks: vec![[0; 8]; usize::try_from(blocks).unwrap_or(usize::MAX)],
        }
    }

    /// The block of `key`, and the (word, bit mask) of each probe in it:
    /// bytes 0..8 pick the block, bytes 8..16 give 7 bit positions of 9 bits.
    fn probes(&self, key: &Key) -> (usize, impl Iterator<Item = (usize, u64)>) {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&key[..8]);
        b.copy_from_slice(&key[8..16]);
        let (h1, h2) = (u64::from_le_bytes(a), u64::from_le_bytes(b));
        let block = (h1 % self.blocks.len() as u64) as usize;
        let probes = (0..BLOOM_PROBES).map(move |i| {
            let bit = (h2 >> (9 * i)) & 511;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        });
        (block, probes)
    }

    fn insert(&mut self, key: &Key) {
        let (block, probes) = self.probes(key);
        let words = &mut self.blocks[block];
        for (word, mask) in probes {
            words[word] |= mask;
        }
    }

    fn may_contain(&self, key: &Key) -> bool {
        let (block, mut probes) = self.probes(key);
        let words = &self.blocks[block];
        probes.all(|(word, mask)| words[word] & mask != 0)
    }
}

/// What a run keeps in memory, built from its records in order (when it
/// is written and when it is opened).
struct Shape {
    /// The first key of each block.
    fences: Vec<Key>,
    bloom: Bloom,
    count: u64,
    last: Option<Record>,
}

impl Shape {
    fn new(expected: u64) -> Shape {
        Shape {
            fences: Vec::new(),
            bloom: Bloom::new(expected),
            count: 0,
            last: None,
        }
    }

    /// Adds the next record; false if it does not sort after the last.
    fn push(&mut self, r: Record) -> bool {
        if self.last.is_some_and(|l| l >= r) {
            return false;
        }
        self.last = Some(r);
        if self.count.is_multiple_of(BLOCK_RECORDS as u64) {
            self.fences.push(r.0);
        }
        self.bloom.insert(&r.0);
        self.count += 1;
        true
    }
}

/// One immutable run file: the sorted records of entries `first..end`.
struct Run {
    first: u64,
    end: u64,
    path: PathBuf,
    file: File,
    records: u64,
    /// The first key of each block.
    fences: Vec<Key>,
    bloom: Bloom,
}

impl Run {
    fn name(first: u64, end: u64) -> String {
        format!("{first:020}-{end:020}.run")
    }

    fn parse_name(name: &str) -> Option<(u64, u64)> {
        let stem = name.strip_suffix(".run")?;
        let (a, b) = stem.split_once('-')?;
        let (first, end) = (a.parse().ok()?, b.parse().ok()?);
        (first < end).then_some((first, end))
    }

    /// Writes `records` (sorted by key, then index; about `expected` of
    /// them, which sizes the Bloom filter) as the run of entries
    /// `first..end` in `dir`, durably, and opens it.
    fn write(
        dir: &Path,
        first: u64,
        end: u64,
        expected: u64,
        records: impl Iterator<Item = Result<Record, StorageError>>,
    ) -> Result<Run, StorageError> {
        let path = dir.join(Run::name(first, end));
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(|e| io_err("create", &tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut shape = Shape::new(expected);
        for r in records {
            let r = r?;
            if !shape.push(r) {
                return Err(StorageError::Corrupt(format!(
                    "index run {}: records out of order",
                    path.display()
                )));
            }
            let mut buf = [0u8; RECORD];
            buf[..32].copy_from_slice(&r.0);
            buf[32..].copy_from_slice(&r.1.to_be_bytes());
            digest.update(&buf);
            out.write_all(&buf).map_err(|e| io_err("write", &tmp, e))?;
        }
        out.write_all(MAGIC).map_err(|e| io_err("write", &tmp, e))?;
        out.write_all(&shape.count.to_be_bytes())
            .map_err(|e| io_err("write", &tmp, e))?;
        out.write_all(digest.finish().as_ref())
            .map_err(|e| io_err("write", &tmp, e))?;
        let file = out
            .into_inner()
            .map_err(|e| io_err("write", &tmp, e.error()))?;
        file.sync_all().map_err(|e| io_err("sync", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err("rename", &tmp, e))?;
        sync_dir(dir)?;
        let file = File::open(&path).map_err(|e| io_err("open", &path, e))?;
        Ok(Run {
            first,
            end,
            path,
            file,
            records: shape.count,
            fences: shape.fences,
            bloom: shape.bloom,
        })
    }

    /// Opens and checks a run: length, footer, digest and order. `None`
    /// when it is damaged (it is then rebuilt from the entries).
    fn open(path: &Path, first: u64, end: u64) -> Result<Option<Run>, StorageError> {
        let file = File::open(path).map_err(|e| io_err("open", path, e))?;
        let len = file.metadata().map_err(|e| io_err("stat", path, e))?.len();
        let Some(body) = len.checked_sub(FOOTER as u64) else {
            return Ok(None);
        };
        if body % RECORD as u64 != 0 {
            return Ok(None);
        }
        let records = body / RECORD as u64;
        let mut footer = [0u8; FOOTER];
        file.read_exact_at(&mut footer, body)
            .map_err(|e| io_err("read", path, e))?;
        if &footer[..8] != MAGIC || footer[8..16] != records.to_be_bytes() {
            return Ok(None);
        }
        let mut shape = Shape::new(records);
        for r in read_records(&file, path, records) {
            match r {
                Ok(r) if r.1 >= first && r.1 < end && shape.push(r) => {}
                // Out of order or range, or not the digest written.
                Ok(_) | Err(StorageError::Corrupt(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(Some(Run {
            first,
            end,
            path: path.to_path_buf(),
            file,
            records,
            fences: shape.fences,
            bloom: shape.bloom,
        }))
    }

    /// Appends to `out` the indexes stored under `key`, ascending, until
    /// `out` holds `limit`.
    fn lookup(&self, key: &Key, out: &mut Vec<u64>, limit: usize) -> Result<(), StorageError> {
        if !self.bloom.may_contain(key) {
            return Ok(());
        }
        // The first block that starts at or after `key`; the key's records
        // may begin at the end of the block before it.
        let mut block = self.fences.partition_point(|f| f < key).saturating_sub(1);
        let mut buf = [0u8; BLOCK];
        while block < self.fences.len() && out.len() < limit {
            let start = block as u64 * BLOCK_RECORDS as u64;
            let n = (self.records - start).min(BLOCK_RECORDS as u64) as usize;
            let bytes = &mut buf[..n * RECORD];
            self.file
                .read_exact_at(bytes, start * RECORD as u64)
                .map_err(|e| io_err("read", &self.path, e))?;
            for chunk in bytes.chunks_exact(RECORD) {
                let (k, v) = decode(chunk);
                if &k > key {
                    return Ok(());
                }
                if &k == key {
                    out.push(v);
                    if out.len() >= limit {
                        return Ok(());
                    }
                }
            }
            block += 1;
        }
        Ok(())
    }

    /// Its records in order (for a merge), checked against its digest.
    fn iter(&self) -> impl Iterator<Item = Result<Record, StorageError>> + '_ {
        read_records(&self.file, &self.path, self.records)
    }
}

/// The `records` records of a run file in order, read in chunks of 64
/// blocks with positioned reads (so that a merge retried after a failure
/// starts over), then checked against the digest in the footer: a run
/// damaged since it was written ends in [`StorageError::Corrupt`] (a merge
/// fails instead of passing the damage on under a fresh digest).
fn read_records<'a>(
    file: &'a File,
    path: &'a Path,
    records: u64,
) -> impl Iterator<Item = Result<Record, StorageError>> + 'a {
    let mut digest = Some(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256));
    let mut chunk = vec![0u8; 64 * BLOCK];
    let (mut next, mut filled, mut used) = (0u64, 0usize, 0usize);
    std::iter::from_fn(move || {
        if used == filled {
            if next == records {
                // The end: check the digest once.
                let digest = digest.take()?;
                let mut stored = [0u8; 32];
                return match file.read_exact_at(&mut stored, records * RECORD as u64 + 16) {
                    Err(e) => Some(Err(io_err("read", path, e))),
                    Ok(()) if digest.finish().as_ref() == stored => None,
                    Ok(()) => Some(Err(StorageError::Corrupt(format!(
                        "index run {} changed since it was written",
                        path.display()
                    )))),
                };
            }
            let n = (records - next).min(64 * BLOCK_RECORDS as u64) as usize;
            let bytes = &mut chunk[..n * RECORD];
            if let Err(e) = file.read_exact_at(bytes, next * RECORD as u64) {
                return Some(Err(io_err("read", path, e)));
            }
            if let Some(d) = digest.as_mut() {
                d.update(bytes);
            }
            next += n as u64;
            (filled, used) = (n * RECORD, 0);
        }
        let record = decode(&chunk[used..used + RECORD]);
        used += RECORD;
        Some(Ok(record))
    })
}

fn decode(buf: &[u8]) -> Record {
    let mut key = [0u8; 32];
    key.copy_from_slice(&buf[..32]);
    let mut index = [0u8; 8];
    index.copy_from_slice(&buf[32..RECORD]);
    (key, u64::from_be_bytes(index))
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("sync", dir, e))
}

/// Merges two sorted record streams (their index ranges are disjoint).
fn merge<'a>(
    a: impl Iterator<Item = Result<Record, StorageError>> + 'a,
    b: impl Iterator<Item = Result<Record, StorageError>> + 'a,
) -> impl Iterator<Item = Result<Record, StorageError>> + 'a {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(Ok(x)), Some(Ok(y))) => {
            if x <= y {
                a.next()
            } else {
                b.next()
            }
        }
        // An error comes out first; then whichever stream is left.
        (Some(Err(_)), _) | (_, None) => a.next(),
        _ => b.next(),
    })
}

#[derive(Default)]
struct Tiers {
    /// Runs in index order, covering `0..memory_start` without gaps.
    runs: Arc<Vec<Arc<Run>>>,
    /// The records of entries `memory_start..memory_end`, in commit order.
    memory: Vec<Record>,
    memory_map: HashMap<Key, Vec<u64>>,
    memory_start: u64,
    memory_end: u64,
}

impl Tiers {
    fn add(&mut self, end: u64, records: impl IntoIterator<Item = Record>) {
        for (key, index) in records {
            self.memory.push((key, index));
            self.memory_map.entry(key).or_default().push(index);
        }
        self.memory_end = self.memory_end.max(end);
    }
}

/// The index: memory tier plus runs. Lookups and `add` are cheap; `flush`
/// and `merge` do the file work and are called from one thread at a time
/// (the storage's indexer thread, or start-up).
pub(crate) struct RunIndex {
    dir: PathBuf,
    run_entries: u64,
    tiers: RwLock<Tiers>,
}

impl RunIndex {
    /// Opens the runs in `dir` (created if needed) that cover entries
    /// `0..n` contiguously, `n` at most `entries` (the log's size: a run
    /// past it belongs to a database that was since restored from an
    /// older copy), and removes the rest. The caller then adds the entries
    /// from [`RunIndex::indexed_upto`] on.
    pub(crate) fn open(
        dir: &Path,
        entries: u64,
        run_entries: u64,
    ) -> Result<RunIndex, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))?;
        let mut found = Vec::new();
        for item in std::fs::read_dir(dir).map_err(|e| io_err("list", dir, e))? {
            let item = item.map_err(|e| io_err("list", dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            match Run::parse_name(&name) {
                Some((first, end)) => found.push((first, end, item.path())),
                None => {
                    // A `.tmp` of an interrupted flush or merge.
                    let _ = std::fs::remove_file(item.path());
                }
            }
        }
        // Widest first at each start, so a merged run wins over the runs
        // it replaced when a crash left both.
        found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut runs = Vec::new();
        let mut covered = 0;
        for (first, end, path) in found {
            if first == covered && end <= entries {
                if let Some(run) = Run::open(&path, first, end)? {
                    covered = end;
                    runs.push(Arc::new(run));
                    continue;
                }
                eprintln!(
                    "signet-log: index run {} is damaged; rebuilding it from the entries",
                    path.display()
                );
            }
            let _ = std::fs::remove_file(&path);
        }
        Ok(RunIndex {
            dir: dir.to_path_buf(),
            run_entries: run_entries.max(1),
            tiers: RwLock::new(Tiers {
                runs: Arc::new(runs),
                memory_start: covered,
                memory_end: covered,
                ..Tiers::default()
            }),
        })
    }

    fn tiers(&self) -> Result<std::sync::RwLockReadGuard<'_, Tiers>, StorageError> {
        self.tiers
            .read()
            .map_err(|_| StorageError::Backend("index lock poisoned".into()))
    }

    fn tiers_mut(&self) -> Result<std::sync::RwLockWriteGuard<'_, Tiers>, StorageError> {
        self.tiers
            .write()
            .map_err(|_| StorageError::Backend("index lock poisoned".into()))
    }

    /// Entries below this are in runs; the caller adds the rest.
    pub(crate) fn indexed_upto(&self) -> Result<u64, StorageError> {
        Ok(self.tiers()?.memory_start)
    }

    /// Adds the records of committed entries up to `end` (exclusive).
    /// Returns whether the memory tier is due to be flushed.
    pub(crate) fn add(
        &self,
        end: u64,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<bool, StorageError> {
        let mut t = self.tiers_mut()?;
        t.add(end, records);
        Ok(t.memory_end - t.memory_start >= self.run_entries)
    }

    /// The indexes under `key`, ascending, at most `limit`.
    pub(crate) fn get(&self, key: &Key, limit: usize) -> Result<Vec<u64>, StorageError> {
        let (runs, recent) = {
            let t = self.tiers()?;
            (t.runs.clone(), t.memory_map.get(key).cloned())
        };
        let mut out = Vec::new();
        for run in runs.iter() {
            if out.len() >= limit {
                break;
            }
            run.lookup(key, &mut out, limit)?;
        }
        out.extend(recent.unwrap_or_default());
        out.truncate(limit);
        Ok(out)
    }

    /// Writes the memory tier out as a run (if it holds any entries) and
    /// then merges runs while the newest is as large as the one before.
    pub(crate) fn flush(&self) -> Result<(), StorageError> {
        let (first, end, mut records) = {
            let t = self.tiers()?;
            (t.memory_start, t.memory_end, t.memory.clone())
        };
        if end > first {
            records.sort_unstable();
            let run = Run::write(
                &self.dir,
                first,
                end,
                records.len() as u64,
                records.iter().map(|r| Ok(*r)),
            )?;
            let mut t = self.tiers_mut()?;
            let mut runs = t.runs.as_ref().clone();
            runs.push(Arc::new(run));
            t.runs = Arc::new(runs);
            // The memory tier only ever grows at its end, so the flushed
            // records are its first `records.len()`.
            let flushed: Vec<Record> = t.memory.drain(..records.len()).collect();
            for (key, _) in flushed {
                if let Some(v) = t.memory_map.get_mut(&key) {
                    // Ascending (added in index order): drop those below `end`.
                    let n = v.partition_point(|i| *i < end);
                    v.drain(..n);
                    if v.is_empty() {
                        t.memory_map.remove(&key);
                    }
                }
            }
            t.memory_start = end;
        }
        self.merge()
    }

    fn merge(&self) -> Result<(), StorageError> {
        loop {
            let runs = self.tiers()?.runs.clone();
            let [.., older, newer] = runs.as_slice() else {
                return Ok(());
            };
            if newer.end - newer.first < older.end - older.first {
                return Ok(());
            }
            let merged = Run::write(
                &self.dir,
                older.first,
                newer.end,
                older.records + newer.records,
                merge(older.iter(), newer.iter()),
            )?;
            {
                let mut t = self.tiers_mut()?;
                let mut next = t.runs.as_ref().clone();
                // Only this thread changes the run list, so its last two
                // are still the merged ones.
                match next.as_slice() {
                    [.., a, b] if Arc::ptr_eq(a, older) && Arc::ptr_eq(b, newer) => {}
                    _ => {
                        return Err(StorageError::Backend(
                            "index runs changed during a merge".into(),
                        ))
                    }
                }
                next.truncate(next.len() - 2);
                next.push(Arc::new(merged));
                t.runs = Arc::new(next);
            }
            // Lookups still holding the old list keep their open files.
            for old in [older, newer] {
                if let Err(e) = std::fs::remove_file(&old.path) {
                    eprintln!("signet-log: removing {}: {e}", old.path.display());
                }
            }
        }
    }

    #[cfg(test)]
    fn run_ranges(&self) -> Vec<(u64, u64)> {
        self.tiers()
            .unwrap()
            .runs
            .iter()
            .map(|r| (r.first, r.end))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u64) -> Key {
        signet_crypto::sha256(format!("leaf {i}").as_bytes())
    }

    /// Entry `i` has its leaf hash, a unique artifact key and one of three
    /// shared keys (many records under one key, across blocks and runs).
    fn records(i: u64) -> Vec<Record> {
        vec![
            (leaf(i), i),
            (search_key(&format!("sha256:{i}")), i),
            (search_key(&format!("key:{}", i % 3)), i),
        ]
    }

    fn add_entries(index: &RunIndex, range: std::ops::Range<u64>) {
        for i in range {
            if index.add(i + 1, records(i)).unwrap() {
                index.flush().unwrap();
            }
        }
    }

    fn check(index: &RunIndex, n: u64) {
        for i in (0..n).step_by(7).chain(n.saturating_sub(3)..n) {
            assert_eq!(index.get(&leaf(i), 1).unwrap(), [i], "leaf {i}");
            assert_eq!(
                index.get(&search_key(&format!("sha256:{i}")), 10).unwrap(),
                [i]
            );
        }
        assert!(index.get(&leaf(n), 1).unwrap().is_empty());
        let all: Vec<u64> = (0..n).filter(|i| i % 3 == 1).collect();
        assert_eq!(
            index.get(&search_key("key:1"), usize::MAX).unwrap(),
            all,
            "a shared key spans blocks and runs, in order"
        );
        assert_eq!(index.get(&search_key("key:1"), 5).unwrap(), all[..5]);
    }

    #[test]
    fn lookups_see_the_memory_tier_and_every_run() {
        let dir = tempfile::tempdir().unwrap();
        let index = RunIndex::open(dir.path(), u64::MAX, 50).unwrap();
        add_entries(&index, 0..1234);
        let runs = index.run_ranges();
        // A binary counter of 50-entry runs: 1234 = 24 flushes + 34.
        assert_eq!(runs, [(0, 800), (800, 1200)]);
        check(&index, 1234);
        // Before any run exists: memory only.
        let dir = tempfile::tempdir().unwrap();
        let index = RunIndex::open(dir.path(), u64::MAX, 50).unwrap();
        add_entries(&index, 0..20);
        assert!(index.run_ranges().is_empty());
        check(&index, 20);
    }

    #[test]
    fn reopening_keeps_whole_runs_and_drops_leftovers_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let index = RunIndex::open(dir.path(), u64::MAX, 50).unwrap();
        add_entries(&index, 0..1234);
        drop(index);
        // A crash after a merge wrote its output but before it removed
        // its inputs, and an interrupted write.
        std::fs::write(dir.path().join(Run::name(800, 1000)), b"stale").unwrap();
        std::fs::write(dir.path().join("x.tmp"), b"partial").unwrap();
        let index = RunIndex::open(dir.path(), u64::MAX, 50).unwrap();
        assert_eq!(index.run_ranges(), [(0, 800), (800, 1200)]);
        assert_eq!(index.indexed_upto().unwrap(), 1200);
        add_entries(&index, 1200..1234);
        check(&index, 1234);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        drop(index);

        // One flipped bit in the second run: it is dropped (and its
        // entries must be added again), the first is kept.
        let path = dir.path().join(Run::name(800, 1200));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let index = RunIndex::open(dir.path(), u64::MAX, 50).unwrap();
        assert_eq!(index.run_ranges(), [(0, 800)]);
        assert_eq!(index.indexed_upto().unwrap(), 800);
        add_entries(&index, 800..1234);
        check(&index, 1234);

        // Runs past the log's size (an older database restored) are dropped.
        drop(index);
        let index = RunIndex::open(dir.path(), 1000, 50).unwrap();
        assert_eq!(index.run_ranges(), [(0, 800)]);
        add_entries(&index, 800..1234);
        check(&index, 1234);

        // A damaged first run drops everything after it too.
        drop(index);
        let path = dir.path().join(Run::name(0, 800));
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 40).unwrap();
        let index = RunIndex::open(dir.path(), u64::MAX, 50).unwrap();
        assert!(index.run_ranges().is_empty());
        assert_eq!(index.indexed_upto().unwrap(), 0);
    }

    /// Against a plain model (key -> ascending indexes): random entries
    /// over a small key space (so keys repeat across entries, blocks and
    /// runs), runs of random sizes, reopenings, and lookups with random
    /// limits, including keys never added.
    #[test]
    fn lookups_match_a_model_through_flushes_merges_and_reopenings() {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let key = |k: u64| search_key(&format!("k{k}"));
        let dir = tempfile::tempdir().unwrap();
        let mut model: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        let mut run_entries = 1 + next(40);
        let mut index = RunIndex::open(dir.path(), 0, run_entries).unwrap();
        let mut size = 0u64;
        for step in 0..60 {
            for _ in 0..next(80) {
                let mut keys: Vec<u64> = (0..1 + next(4)).map(|_| next(300)).collect();
                keys.sort();
                keys.dedup();
                for k in &keys {
                    model.entry(*k).or_default().push(size);
                }
                let due = index
                    .add(size + 1, keys.iter().map(|k| (key(*k), size)))
                    .unwrap();
                size += 1;
                if due {
                    index.flush().unwrap();
                }
            }
            if next(5) == 0 {
                // A restart: runs kept, the rest added again (as the
                // storage does from its entries).
                drop(index);
                run_entries = 1 + next(40);
                index = RunIndex::open(dir.path(), size, run_entries).unwrap();
                let from = index.indexed_upto().unwrap();
                for i in from..size {
                    let records: Vec<Record> = model
                        .iter()
                        .filter(|(_, v)| v.contains(&i))
                        .map(|(k, _)| (key(*k), i))
                        .collect();
                    if index.add(i + 1, records).unwrap() {
                        index.flush().unwrap();
                    }
                }
            }
            for _ in 0..50 {
                let k = next(320);
                let limit = [1, 3, 1000][next(3) as usize];
                let mut want = model.get(&k).cloned().unwrap_or_default();
                want.truncate(limit);
                assert_eq!(
                    index.get(&key(k), limit).unwrap(),
                    want,
                    "step {step} key {k}"
                );
            }
        }
        assert!(index.run_ranges().len() > 1, "{:?}", index.run_ranges());
    }

    #[test]
    fn the_bloom_filter_keeps_every_key_and_passes_few_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut records: Vec<Record> = (0..5000).flat_map(records).collect();
        records.sort();
        let run = Run::write(
            dir.path(),
            0,
            5000,
            records.len() as u64,
            records.iter().map(|r| Ok(*r)),
        )
        .unwrap();
        let reopened = Run::open(&dir.path().join(Run::name(0, 5000)), 0, 5000)
            .unwrap()
            .unwrap();
        for r in [&run, &reopened] {
            assert!(records.iter().all(|(k, _)| r.bloom.may_contain(k)));
            let passed = (5000..15000)
                .filter(|i| r.bloom.may_contain(&leaf(*i)))
                .count();
            // About 1 % expected; all of them without the filter.
            assert!(passed < 300, "{passed} of 10000 absent keys passed");
            let mut out = Vec::new();
            r.lookup(&leaf(6000), &mut out, 1).unwrap();
            assert!(out.is_empty());
        }
    }

    #[test]
    fn a_merge_reads_its_runs_from_the_start_and_refuses_a_changed_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut records: Vec<Record> = (0..3000).flat_map(records).collect();
        records.sort();
        let run = Run::write(dir.path(), 0, 3000, 9000, records.iter().map(|r| Ok(*r))).unwrap();
        // Twice: a retried merge reads the same records.
        for _ in 0..2 {
            let read: Vec<Record> = run.iter().map(Result::unwrap).collect();
            assert_eq!(read, records);
        }
        // One record changed under the open run: the iteration ends in an
        // error, after the records.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join(Run::name(0, 3000)))
            .unwrap();
        f.write_all_at(&[0xff], 40 * 1234 + 35).unwrap();
        let last = run.iter().last().unwrap();
        assert!(
            matches!(&last, Err(StorageError::Corrupt(m)) if m.contains("changed")),
            "{last:?}"
        );
    }

    #[test]
    fn a_run_refuses_records_out_of_order() {
        let dir = tempfile::tempdir().unwrap();
        let records = [(leaf(2), 2), (leaf(1), 1)];
        let mut sorted = records;
        sorted.sort();
        let reversed = [sorted[1], sorted[0]];
        assert!(matches!(
            Run::write(dir.path(), 1, 3, 2, reversed.iter().map(|r| Ok(*r))),
            Err(StorageError::Corrupt(_))
        ));
        let run = Run::write(dir.path(), 1, 3, 2, sorted.iter().map(|r| Ok(*r))).unwrap();
        let mut out = Vec::new();
        run.lookup(&leaf(2), &mut out, 10).unwrap();
        assert_eq!(out, [2]);
        // Records outside the run's range make it damaged on open.
        let path = dir.path().join(Run::name(1, 3));
        std::fs::rename(&path, dir.path().join(Run::name(2, 3))).unwrap();
        assert!(Run::open(&dir.path().join(Run::name(2, 3)), 2, 3)
            .unwrap()
            .is_none());
    }
}
