//! Typed errors, and their translation from tough's.

use std::error::Error as StdError;
use std::path::PathBuf;
use tough::error::Error as ToughError;
use url::Url;

/// Why a TUF refresh or target fetch failed. Every message names what
/// failed (which role, which target, which URL, which file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TufError {
    /// The requested target name is not a plain file name.
    #[error("invalid target name {name:?}: {reason}")]
    InvalidTargetName {
        /// The name (truncated to 64 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The repository could not be reached or returned an error.
    #[error("network error fetching {url}: {detail}")]
    Network {
        /// The URL (credentials removed).
        url: String,
        /// The transport's explanation.
        detail: String,
    },

    /// Some metadata is past its expiry: the repository was not refreshed
    /// in time, or someone is replaying old metadata (freeze attack).
    #[error("TUF {role} metadata has expired (stale repository or freeze attack)")]
    Expired {
        /// The expired role (`root`, `timestamp`, `snapshot`, `targets`).
        role: String,
    },

    /// Metadata was not signed by a threshold of the trusted keys.
    #[error("TUF {role} metadata failed signature verification: {detail}")]
    Signature {
        /// The role whose signatures failed.
        role: String,
        /// What tough reported.
        detail: String,
    },

    /// Metadata is older than what was already trusted (rollback attack)
    /// or its version does not match what the snapshot/timestamp promised.
    #[error("TUF {role} metadata rejected as a rollback or version mismatch: {detail}")]
    Rollback {
        /// The role concerned.
        role: String,
        /// What tough reported.
        detail: String,
    },

    /// The signed targets metadata does not list this target.
    #[error("target {name:?} is not listed in the repository's signed targets metadata")]
    MissingTarget {
        /// The requested target.
        name: String,
    },

    /// The target's signed length exceeds [`crate::MAX_TARGET_SIZE`].
    #[error("target {name:?} is {length} bytes, over the {limit}-byte limit")]
    TargetTooLarge {
        /// The requested target.
        name: String,
        /// Its length according to the signed targets metadata.
        length: u64,
        /// The limit.
        limit: u64,
    },

    /// The downloaded target's hash or length does not match the signed
    /// targets metadata (tampered or corrupted target).
    #[error("target {name:?} does not match its signed hash/length: {detail}")]
    TargetIntegrity {
        /// The requested target.
        name: String,
        /// What tough reported.
        detail: String,
    },

    /// Metadata could not be parsed, or failed a hash/length check, or is
    /// otherwise inconsistent.
    #[error("invalid TUF metadata: {detail}")]
    Metadata {
        /// What tough reported.
        detail: String,
    },

    /// The system clock moved backwards since the last refresh.
    #[error("system clock check failed: {detail}")]
    Clock {
        /// What tough reported.
        detail: String,
    },

    /// Reading or writing the cache directory failed.
    #[error("TUF cache {}: {source}", path.display())]
    Cache {
        /// The file or directory concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The async runtime used by the blocking API could not be started.
    #[error("could not start the async runtime for TUF: {0}")]
    Runtime(#[source] std::io::Error),

    /// Any other failure reported by the TUF client.
    #[error("TUF client error: {detail}")]
    Client {
        /// What tough reported.
        detail: String,
    },
}

impl TufError {
    /// The repository could not be asked (network, or a local cache or
    /// runtime that would not work), as opposed to asked and refused.
    /// Only such failures may fall back to an earlier verified copy: a
    /// refused answer (expired, badly signed, rolled back, tampered) is
    /// what an attack looks like.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            TufError::Network { .. } | TufError::Cache { .. } | TufError::Runtime(_)
        )
    }
}

/// What was being done when tough failed; decides how ambiguous errors
/// (hash/size mismatches) are reported.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stage<'a> {
    /// Loading and verifying metadata.
    Metadata,
    /// Downloading the named target.
    Target(&'a str),
}

/// Translates a tough error into a [`TufError`].
pub(crate) fn from_tough(err: ToughError, stage: Stage<'_>) -> TufError {
    let detail = chain(&err);
    match err {
        ToughError::ExpiredMetadata { role, .. } => TufError::Expired {
            role: role.to_string(),
        },
        ToughError::VerifyMetadata { role, .. } => TufError::Signature {
            role: role.to_string(),
            detail,
        },
        ToughError::VerifyRoleMetadata { role, .. } => TufError::Signature { role, detail },
        ToughError::VerifyTrustedMetadata { .. } => TufError::Signature {
            role: "trusted root".to_owned(),
            detail,
        },
        ToughError::OlderMetadata { role, .. } | ToughError::VersionMismatch { role, .. } => {
            TufError::Rollback {
                role: role.to_string(),
                detail,
            }
        }
        ToughError::OlderSnapshotInTimestamp { .. } => TufError::Rollback {
            role: "snapshot".to_owned(),
            detail,
        },
        ToughError::SnapshotRoleRollback { role, .. } => TufError::Rollback { role, detail },
        ToughError::SystemTimeSteppedBackward { .. } => TufError::Clock { detail },
        ToughError::DatastoreCreate { path, source, .. }
        | ToughError::DatastoreOpen { path, source, .. }
        | ToughError::DatastoreRemove { path, source, .. } => TufError::Cache { path, source },
        ToughError::Transport { url, source, .. } => match integrity_failure(&source) {
            Some(check) => integrity(stage, check),
            None => TufError::Network {
                url: redact(&url),
                detail: chain(&source),
            },
        },
        ToughError::HashMismatch { .. } | ToughError::MaxSizeExceeded { .. } => {
            integrity(stage, detail)
        }
        ToughError::ParseMetadata { .. }
        | ToughError::ParseTrustedMetadata { .. }
        | ToughError::MetaMissing { .. }
        | ToughError::MissingSnapshotMeta { .. }
        | ToughError::SnapshotTargetsMetaMissing { .. }
        | ToughError::SpecVersion { .. }
        | ToughError::MaxUpdatesExceeded { .. } => TufError::Metadata { detail },
        _ => TufError::Client { detail },
    }
}

fn integrity(stage: Stage<'_>, detail: String) -> TufError {
    match stage {
        Stage::Target(name) => TufError::TargetIntegrity {
            name: name.to_owned(),
            detail,
        },
        Stage::Metadata => TufError::Metadata { detail },
    }
}

/// The message of tough's own hash or size check when a transport error
/// wraps one (tough reports those through the stream as transport errors).
fn integrity_failure(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(
            inner @ (ToughError::HashMismatch { .. } | ToughError::MaxSizeExceeded { .. }),
        ) = e.downcast_ref::<ToughError>()
        {
            return Some(inner.to_string());
        }
        cur = e.source();
    }
    None
}

/// The error and its sources as one line, skipping sources whose text the
/// outer messages already include.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !s.is_empty() && !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// A URL fit for messages: user name and password removed.
pub(crate) fn redact(url: &Url) -> String {
    let mut u = url.clone();
    // Both fail only for URLs that cannot carry credentials at all.
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_strips_credentials() {
        let url = Url::parse("https://user:secret@example.test/a").expect("url");
        assert_eq!(redact(&url), "https://example.test/a");
    }

    #[test]
    fn messages_name_what_failed() {
        let e = TufError::Expired {
            role: "timestamp".into(),
        };
        assert!(e.to_string().contains("timestamp metadata has expired"));
        let e = TufError::MissingTarget {
            name: "trusted_root.json".into(),
        };
        assert!(e
            .to_string()
            .contains("\"trusted_root.json\" is not listed"));
    }
}
