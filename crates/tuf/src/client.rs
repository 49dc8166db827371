//! Refreshing TUF metadata and fetching verified targets.

use crate::bootstrap::choose_root;
use crate::cache::Cache;
use crate::config::{TufConfig, MAX_TARGET_SIZE};
use crate::error::{from_tough, Stage, TufError};
use crate::name::SafeName;
use crate::runtime;
use std::time::Duration;
use tough::{
    DefaultTransport, ExpirationEnforcement, HttpTransportBuilder, IntoVec, Limits,
    RepositoryLoader, TargetName,
};

/// Size limits for metadata downloads (endless-data protection).
const LIMITS: Limits = Limits {
    max_root_size: 1024 * 1024,
    max_targets_size: 16 * 1024 * 1024,
    max_timestamp_size: 1024 * 1024,
    max_snapshot_size: 4 * 1024 * 1024,
    max_root_updates: 1024,
};

/// Refreshes TUF metadata and returns the verified bytes of target `name`.
///
/// Blocking; runs tough on a private runtime (see [`fetch_target_async`]
/// for async callers). On success the bytes are also stored in the cache,
/// where [`cached_target`] finds them later.
///
/// Guarantees on `Ok`: the metadata chain from the trusted root was
/// verified (signatures, thresholds, versions, expiry, sizes), `name` is
/// listed in the signed targets metadata with a length of at most
/// [`MAX_TARGET_SIZE`], and the returned bytes have exactly the signed
/// length and SHA-256.
pub fn fetch_target(config: &TufConfig, name: &str) -> Result<Vec<u8>, TufError> {
    let name = SafeName::parse(name)?;
    runtime::block_on(fetch_target_async(config, name.as_str()))
}

/// Async form of [`fetch_target`]; needs a tokio runtime with I/O and time
/// drivers enabled.
pub async fn fetch_target_async(config: &TufConfig, name: &str) -> Result<Vec<u8>, TufError> {
    let name = SafeName::parse(name)?;
    let cache = Cache::new(&config.cache_dir);
    let datastore = cache.ensure_metadata_dir()?;
    let cached_root = cache.cached_root();
    let root = choose_root(config.embedded_root, cached_root.as_deref());

    let repo = RepositoryLoader::new(
        &root,
        config.metadata_url.clone(),
        config.targets_url.clone(),
    )
    .transport(transport())
    .limits(LIMITS)
    .datastore(datastore)
    .expiration_enforcement(ExpirationEnforcement::Safe)
    .load()
    .await
    .map_err(|e| from_tough(e, Stage::Metadata))?;

    let missing = || TufError::MissingTarget {
        name: name.as_str().to_owned(),
    };
    let target_name = TargetName::new(name.as_str()).map_err(|_| missing())?;
    let length = repo
        .targets()
        .signed
        .find_target(&target_name, false)
        .map_err(|_| missing())?
        .length;
    if length > MAX_TARGET_SIZE {
        return Err(TufError::TargetTooLarge {
            name: name.as_str().to_owned(),
            length,
            limit: MAX_TARGET_SIZE,
        });
    }

    let stage = Stage::Target(name.as_str());
    let stream = repo
        .read_target(&target_name)
        .await
        .map_err(|e| from_tough(e, stage))?
        .ok_or_else(missing)?;
    // tough stops at `length` bytes and checks the SHA-256 at end of stream.
    let bytes = stream.into_vec().await.map_err(|e| from_tough(e, stage))?;
    if bytes.len() as u64 != length {
        return Err(TufError::TargetIntegrity {
            name: name.as_str().to_owned(),
            detail: format!("got {} bytes, signed length is {length}", bytes.len()),
        });
    }

    cache.store_target(&name, &bytes)?;
    Ok(bytes)
}

/// The last verified copy of target `name`, without touching the network.
///
/// `None` when no refresh has stored it yet, or `name` is not a valid
/// target name. The copy was verified when it was fetched; it may be
/// older than what the repository now serves.
pub fn cached_target(config: &TufConfig, name: &str) -> Option<Vec<u8>> {
    let name = SafeName::parse(name).ok()?;
    Cache::new(&config.cache_dir).read_target(&name)
}

/// How long ago [`cached_target`]'s copy was verified, if there is one.
pub fn cached_target_age(config: &TufConfig, name: &str) -> Option<std::time::Duration> {
    let name = SafeName::parse(name).ok()?;
    Cache::new(&config.cache_dir).target_age(&name)
}

/// HTTP(S) and `file:` transport. HTTPS uses rustls with the aws-lc-rs
/// provider and the platform's certificate verifier.
fn transport() -> DefaultTransport {
    DefaultTransport::new_with_http_settings(
        HttpTransportBuilder::new()
            .crypto_provider(rustls::crypto::aws_lc_rs::default_provider())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // One retry: an offline machine should fall back quickly.
            .tries(2)
            .initial_backoff(Duration::from_millis(200)),
    )
}
