//! On-disk layout of a repository's cache directory.
//!
//! ```text
//! <cache_dir>/metadata/   tough's datastore: root.json, timestamp.json,
//!                         snapshot.json, targets.json (rollback state)
//! <cache_dir>/targets/    last verified copy of each fetched target
//! ```

use crate::config::MAX_TARGET_SIZE;
use crate::error::TufError;
use crate::name::SafeName;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest cached `root.json` read back, in bytes (tough's own limit for
/// downloaded roots).
const MAX_ROOT_SIZE: u64 = 1024 * 1024;

/// Paths inside one repository's cache directory.
///
/// Invariant: a file under `targets/` is only ever created by
/// [`Cache::store_target`], which is only called with bytes tough has
/// verified, and is replaced atomically (write to a temporary file in the
/// same directory, then rename), so readers see either the previous
/// verified copy or the new one, never a partial file.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// tough's datastore directory.
    pub(crate) fn metadata_dir(&self) -> PathBuf {
        self.dir.join("metadata")
    }

    fn targets_dir(&self) -> PathBuf {
        self.dir.join("targets")
    }

    /// Creates the metadata directory (tough requires it to exist).
    pub(crate) fn ensure_metadata_dir(&self) -> Result<PathBuf, TufError> {
        let dir = self.metadata_dir();
        create_dir(&dir)?;
        Ok(dir)
    }

    /// The root a previous refresh verified and persisted, if any.
    pub(crate) fn cached_root(&self) -> Option<Vec<u8>> {
        read_bounded(&self.metadata_dir().join("root.json"), MAX_ROOT_SIZE)
    }

    /// The last verified copy of `name`, if any.
    pub(crate) fn read_target(&self, name: &SafeName<'_>) -> Option<Vec<u8>> {
        read_bounded(&self.targets_dir().join(name.as_str()), MAX_TARGET_SIZE)
    }

    /// How long ago the cached copy of `name` was verified and stored.
    pub(crate) fn target_age(&self, name: &SafeName<'_>) -> Option<std::time::Duration> {
        let modified = std::fs::metadata(self.targets_dir().join(name.as_str()))
            .and_then(|m| m.modified())
            .ok()?;
        modified.elapsed().ok()
    }

    /// Atomically replaces the cached copy of `name` with `bytes`.
    /// Callers must only pass bytes that passed TUF verification.
    pub(crate) fn store_target(&self, name: &SafeName<'_>, bytes: &[u8]) -> Result<(), TufError> {
        let dir = self.targets_dir();
        create_dir(&dir)?;
        let dest = dir.join(name.as_str());
        let io_err = |source| TufError::Cache {
            path: dest.clone(),
            source,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io_err)?;
        tmp.write_all(bytes).map_err(io_err)?;
        tmp.as_file().sync_all().map_err(io_err)?;
        tmp.persist(&dest).map_err(|e| io_err(e.error))?;
        Ok(())
    }
}

/// Creates `dir` and its missing parents, readable by their owner only
/// (the cache is trusted storage: whoever can write it chooses the root).
fn create_dir(dir: &Path) -> Result<(), TufError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| TufError::Cache {
        path: dir.to_path_buf(),
        source,
    })
}

/// Reads a regular file of at most `limit` bytes; `None` if it is missing,
/// unreadable, not a regular file, or larger than `limit`.
fn read_bounded(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > limit {
        return None;
    }
    let mut buf = Vec::new();
    // `take(limit + 1)` guards against the file growing after the check.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .ok()?;
    if buf.len() as u64 > limit {
        return None;
    }
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_read_round_trips_and_replaces() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(tmp.path());
        let name = SafeName::parse("trusted_root.json").expect("name");
        assert_eq!(cache.read_target(&name), None);
        cache.store_target(&name, b"one").expect("store");
        assert_eq!(cache.read_target(&name).as_deref(), Some(&b"one"[..]));
        cache.store_target(&name, b"two").expect("store");
        assert_eq!(cache.read_target(&name).as_deref(), Some(&b"two"[..]));
    }

    #[test]
    fn read_bounded_refuses_oversized_and_directories() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("f");
        std::fs::write(&p, b"12345").expect("write");
        assert_eq!(read_bounded(&p, 5).as_deref(), Some(&b"12345"[..]));
        assert_eq!(read_bounded(&p, 4), None);
        assert_eq!(read_bounded(tmp.path(), 1 << 20), None);
    }
}
