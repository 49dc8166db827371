//! Where a TUF repository lives, which root bootstraps trust in it, and
//! where verified material is cached.

use std::path::{Path, PathBuf};
use url::Url;

/// Largest target this crate will download, in bytes (16 MiB).
///
/// Sigstore's `trusted_root.json` is tens of kilobytes; a target whose
/// signed length exceeds this is refused before any download starts.
pub const MAX_TARGET_SIZE: u64 = 16 * 1024 * 1024;

const PUBLIC_GOOD_URL: &str = "https://tuf-repo-cdn.sigstore.dev/";
const PUBLIC_GOOD_TARGETS_URL: &str = "https://tuf-repo-cdn.sigstore.dev/targets/";
const STAGING_URL: &str = "https://tuf-repo-cdn.sigstage.dev/";
const STAGING_TARGETS_URL: &str = "https://tuf-repo-cdn.sigstage.dev/targets/";

static PUBLIC_GOOD_ROOT: &[u8] = include_bytes!("../../../testdata/trust/public-good/root.json");
static STAGING_ROOT: &[u8] = include_bytes!("../../../testdata/trust/staging/root.json");

/// One TUF repository and the local state used to talk to it.
///
/// Invariants the client relies on:
/// - `embedded_root` is a TUF `root.json` obtained out of band (shipped in
///   the binary); it is the trust anchor. It may be expired: the client
///   walks the root chain forward from it before checking expiry.
/// - `cache_dir` belongs to this repository alone (one directory per
///   repository); it holds TUF metadata used for rollback protection and
///   the last verified copy of each target.
#[derive(Debug, Clone)]
pub struct TufConfig {
    /// Base URL of the TUF metadata (`root.json`, `timestamp.json`, …).
    pub metadata_url: Url,
    /// Base URL of the targets directory.
    pub targets_url: Url,
    /// Directory for cached metadata and verified targets; created on demand.
    pub cache_dir: PathBuf,
    /// The TUF root to bootstrap from when the cache holds no newer one.
    pub embedded_root: &'static [u8],
}

impl TufConfig {
    /// A configuration for any repository.
    pub fn new(
        metadata_url: Url,
        targets_url: Url,
        cache_dir: impl Into<PathBuf>,
        embedded_root: &'static [u8],
    ) -> Self {
        Self {
            metadata_url,
            targets_url,
            cache_dir: cache_dir.into(),
            embedded_root,
        }
    }

    /// Sigstore's public-good instance (`tuf-repo-cdn.sigstore.dev`).
    pub fn public_good(cache_dir: impl Into<PathBuf>) -> Self {
        Self::new(
            fixed_url(PUBLIC_GOOD_URL),
            fixed_url(PUBLIC_GOOD_TARGETS_URL),
            cache_dir,
            PUBLIC_GOOD_ROOT,
        )
    }

    /// Sigstore's staging instance (`tuf-repo-cdn.sigstage.dev`).
    pub fn staging(cache_dir: impl Into<PathBuf>) -> Self {
        Self::new(
            fixed_url(STAGING_URL),
            fixed_url(STAGING_TARGETS_URL),
            cache_dir,
            STAGING_ROOT,
        )
    }
}

/// Parses one of this module's URL constants.
#[allow(clippy::expect_used)]
fn fixed_url(s: &'static str) -> Url {
    // The inputs are compile-time constants covered by unit tests, not
    // input-derived data.
    Url::parse(s).expect("built-in TUF URL is valid")
}

/// The conventional cache directory for a repository:
/// `$XDG_CACHE_HOME/signet/tuf/<host>`, else `~/.cache/signet/tuf/<host>`.
///
/// `<host>` is the metadata URL's host (with `_<port>` when one is given),
/// reduced to `[A-Za-z0-9.-]` so it is always a single safe path component;
/// `file:` URLs use `local`. Returns `None` when neither `XDG_CACHE_HOME`
/// (absolute) nor `HOME` is set.
pub fn default_cache_dir(metadata_url: &Url) -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    cache_dir_from(xdg.as_deref(), home.as_deref(), metadata_url)
}

fn cache_dir_from(xdg: Option<&Path>, home: Option<&Path>, url: &Url) -> Option<PathBuf> {
    let base = match xdg.filter(|p| p.is_absolute()) {
        Some(xdg) => xdg.to_path_buf(),
        None => home.filter(|p| !p.as_os_str().is_empty())?.join(".cache"),
    };
    Some(base.join("signet").join("tuf").join(host_component(url)))
}

fn host_component(url: &Url) -> String {
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h,
        _ => return "local".to_owned(),
    };
    let mut out: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Some(port) = url.port() {
        out.push('_');
        out.push_str(&port.to_string());
    }
    // Never "." or ".." (or any all-dot name) as a path component.
    if out.chars().all(|c| c == '.') {
        out = "local".to_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_configs_are_well_formed() {
        let pg = TufConfig::public_good("/c");
        assert_eq!(
            pg.metadata_url.as_str(),
            "https://tuf-repo-cdn.sigstore.dev/"
        );
        assert_eq!(
            pg.targets_url.as_str(),
            "https://tuf-repo-cdn.sigstore.dev/targets/"
        );
        assert!(!pg.embedded_root.is_empty());
        let st = TufConfig::staging("/c");
        assert_eq!(
            st.metadata_url.host_str(),
            Some("tuf-repo-cdn.sigstage.dev")
        );
        assert_ne!(pg.embedded_root, st.embedded_root);
    }

    #[test]
    fn embedded_roots_parse_and_self_verify() {
        for root in [PUBLIC_GOOD_ROOT, STAGING_ROOT] {
            let signed: tough::schema::Signed<tough::schema::Root> =
                serde_json::from_slice(root).expect("embedded root parses");
            signed
                .signed
                .verify_role(&signed)
                .expect("embedded root is signed by its own threshold");
        }
    }

    #[test]
    fn cache_dir_prefers_absolute_xdg() {
        let url = Url::parse("https://tuf-repo-cdn.sigstore.dev/").expect("url");
        assert_eq!(
            cache_dir_from(Some(Path::new("/x")), Some(Path::new("/h")), &url),
            Some(PathBuf::from("/x/signet/tuf/tuf-repo-cdn.sigstore.dev"))
        );
        assert_eq!(
            cache_dir_from(Some(Path::new("rel")), Some(Path::new("/h")), &url),
            Some(PathBuf::from(
                "/h/.cache/signet/tuf/tuf-repo-cdn.sigstore.dev"
            ))
        );
        assert_eq!(cache_dir_from(None, None, &url), None);
    }

    #[test]
    fn host_component_is_one_safe_segment() {
        let url = Url::parse("http://127.0.0.1:8080/repo/").expect("url");
        assert_eq!(host_component(&url), "127.0.0.1_8080");
        let url = Url::parse("http://[::1]:9/").expect("url");
        assert_eq!(host_component(&url), "___1__9");
        let url = Url::parse("file:///tmp/repo/").expect("url");
        assert_eq!(host_component(&url), "local");
    }
}
