//! What a monitor remembers between polls and restarts: the last verified
//! checkpoint and how far the entries have been scanned.
//!
//! Saved atomically: written to a temporary file in the same directory,
//! fsynced, renamed over the old file, and the directory fsynced, so a crash
//! leaves either the old state or the new one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Largest state file read (a checkpoint note is at most 1 MiB).
pub const MAX_STATE_BYTES: u64 = 2 << 20;

/// The state format version this code writes and reads.
pub const STATE_VERSION: u32 = 1;

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_STATE_BYTES} bytes")]
    TooLarge { path: String },
    #[error("{path}: not a monitor state file: {reason}")]
    Malformed { path: String, reason: String },
    #[error(
        "no state directory: set --state, $XDG_STATE_HOME or $HOME (default \
         ~/.local/state/signet/monitor/<origin>.json)"
    )]
    NoStateDir,
}

/// The persisted state of one monitored log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// The log's URL, as given to the monitor.
    pub log_url: String,
    /// The checkpoint key name (origin) the log signs under.
    pub origin: String,
    /// The last verified checkpoint note, as served (signatures included).
    pub checkpoint: String,
    /// Its tree size and root hash (hex), for humans and quick checks.
    pub size: u64,
    pub root_hash: String,
    /// Entries `[0, next_index)` have been scanned (or were skipped on the
    /// first run).
    pub next_index: u64,
    /// POSIX time of the last update.
    pub updated: i64,
    /// Since when (POSIX time) the log has served a newer checkpoint than
    /// this one without proving it consistent (see
    /// `MonitorConfig::proof_grace`); cleared once a newer one is proven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unproven_since: Option<i64>,
}

/// `$XDG_STATE_HOME/signet/monitor/<origin>.json`, else
/// `$HOME/.local/state/signet/monitor/<origin>.json`; the origin's
/// characters other than `[A-Za-z0-9._-]` become `_`.
pub fn default_path(origin: &str) -> Result<PathBuf, StateError> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("state"))
        })
        .ok_or(StateError::NoStateDir)?;
    Ok(base
        .join("signet")
        .join("monitor")
        .join(format!("{}.json", file_name_for(origin))))
}

/// `origin` as a safe file name.
pub fn file_name_for(origin: &str) -> String {
    let name: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.as_str() {
        "" | "." | ".." => format!("_{name}"),
        _ => name,
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the state at `path`; `None` if there is no file yet.
pub fn load(path: &Path) -> Result<Option<State>, StateError> {
    let shown = || path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let mut data = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_STATE_BYTES + 1),
        &mut data,
    )
    .map_err(io(path))?;
    if data.len() as u64 > MAX_STATE_BYTES {
        return Err(StateError::TooLarge { path: shown() });
    }
    let state: State = serde_json::from_slice(&data).map_err(|e| StateError::Malformed {
        path: shown(),
        reason: e.to_string(),
    })?;
    if state.version != STATE_VERSION {
        return Err(StateError::Malformed {
            path: shown(),
            reason: format!("unsupported version {}", state.version),
        });
    }
    if state.next_index > state.size {
        return Err(StateError::Malformed {
            path: shown(),
            reason: "nextIndex is beyond the tree size".into(),
        });
    }
    Ok(Some(state))
}

/// Writes `state` to `path` atomically (temporary file, fsync, rename,
/// directory fsync), creating the directory (mode 0700) if needed.
pub fn save(path: &Path, state: &State) -> Result<(), StateError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder.create(&dir).map_err(io(&dir))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state.json".into());
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let json = serde_json::to_vec_pretty(state).map_err(|e| StateError::Malformed {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename durable; not every platform can open a directory.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path)(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            version: STATE_VERSION,
            log_url: "http://127.0.0.1:1".into(),
            origin: "log.example".into(),
            checkpoint: "log.example\n0\nx\n\n— log.example AAAAAAA=\n".into(),
            size: 3,
            root_hash: "00".repeat(32),
            next_index: 2,
            updated: 1,
            unproven_since: None,
        }
    }

    #[test]
    fn round_trip_and_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b.json");
        assert_eq!(load(&path).unwrap(), None);
        let mut s = sample();
        save(&path, &s).unwrap();
        assert_eq!(load(&path).unwrap(), Some(s.clone()));
        s.next_index = 3;
        save(&path, &s).unwrap();
        assert_eq!(load(&path).unwrap(), Some(s));
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, b"{}").unwrap();
        assert!(matches!(load(&path), Err(StateError::Malformed { .. })));
        let mut s = sample();
        s.next_index = 4;
        std::fs::write(&path, serde_json::to_vec(&s).unwrap()).unwrap();
        assert!(matches!(load(&path), Err(StateError::Malformed { .. })));
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name_for("log.example.com/a b"), "log.example.com_a_b");
        assert_eq!(file_name_for(".."), "_..");
        assert_eq!(file_name_for("127.0.0.1:3000"), "127.0.0.1_3000");
    }
}
