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
//! The only crypto provider is aws-lc-rs (tough's own, and rustls's for
//! HTTPS); `ring` is not in the dependency graph.
//!
//! ```no_run
//! use signet_tuf::{default_cache_dir, fetch_target, cached_target, TufConfig};
//!
//! let base = TufConfig::public_good(std::path::PathBuf::new());
//! let dir = default_cache_dir(&base.metadata_url).expect("no HOME");
//! let config = TufConfig::public_good(dir);
//! let bytes = match fetch_target(&config, "trusted_root.json") {
//!     Ok(bytes) => bytes,
//!     Err(_) => cached_target(&config, "trusted_root.json").expect("no cached copy"),
//! };
//! # let _ = bytes;
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod bootstrap;
mod cache;
mod client;
mod config;
mod error;
mod name;
mod runtime;

pub use client::{cached_target, cached_target_age, fetch_target, fetch_target_async};
pub use config::{default_cache_dir, TufConfig, MAX_TARGET_SIZE};
pub use error::TufError;

/// Name of the Sigstore trusted root target.
pub const TRUSTED_ROOT_TARGET: &str = "trusted_root.json";

/// Name of the Sigstore signing config target (present on newer repositories).
pub const SIGNING_CONFIG_TARGET: &str = "signing_config.v0.2.json";
