//! Refresh Sigstore trust material through TUF, with an offline fallback.
//!
//! Sigstore publishes its `trusted_root.json` (and, on newer repositories,
//! `signing_config.v0.2.json`) as targets of a TUF repository. This crate
//! fetches them the way sigstore clients do:
//!
//! 1. bootstrap from the newest root we trust — the root shipped in the
//!    binary ([`TufConfig::embedded_root`]) or the root a previous refresh
//!    verified and stored in the cache, whichever has the higher version;
//! 2. let [`tough`] walk the root chain and verify timestamp, snapshot and
//!    targets metadata (signatures, thresholds, rollback, freeze and expiry
//!    protections are tough's);
//! 3. download the target, which tough checks against the length and
//!    SHA-256 listed in the signed targets metadata;
//! 4. store the verified bytes in the cache so [`cached_target`] can serve
//!    them when the network is unavailable.
//!
//! [`resolve_target`] is the policy callers use: a recent cached copy, else
//! a refresh; the last verified (or the embedded) copy only when the
//! repository cannot be reached. A repository that answers with metadata
//! that fails verification is an error, not a reason to step back to an
//! older trust root (that is how freeze and rollback attacks look).
//!
//! The cache directory is trusted storage, as in go-tuf and sigstore-go:
//! its root and targets were verified when written and are not verified
//! again. It is created readable by its owner only.
//!
//! The only crypto provider is aws-lc-rs (tough's own, and rustls's for
//! HTTPS); `ring` is not in the dependency graph.
//!
//! ```no_run
//! use signet_tuf::{default_cache_dir, resolve_target, Resolve, TufConfig};
//!
//! let base = TufConfig::public_good(std::path::PathBuf::new());
//! let dir = default_cache_dir(&base.metadata_url).expect("no HOME");
//! let config = TufConfig::public_good(dir);
//! let how = Resolve {
//!     offline: false,
//!     refresh_after: std::time::Duration::from_secs(24 * 3600),
//!     embedded: b"{}",
//! };
//! let resolved = resolve_target(&config, "trusted_root.json", &how).expect("refused");
//! if let Some(e) = &resolved.unreachable {
//!     eprintln!("warning: {e}; using an earlier copy");
//! }
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod bootstrap;
mod cache;
mod client;
mod config;
mod error;
mod name;
mod resolve;
mod runtime;

pub use client::{cached_target, cached_target_age, fetch_target, fetch_target_async};
pub use config::{default_cache_dir, TufConfig, MAX_TARGET_SIZE};
pub use error::TufError;
pub use resolve::{resolve_target, Origin, Resolve, Resolved};

/// Name of the Sigstore trusted root target.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";

/// Name of the Sigstore signing config target (present on newer repositories).
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";
