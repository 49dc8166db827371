//! Where the trusted root comes from: a file, Sigstore's TUF repository, or
//! the copy embedded in the binary.

use std::path::PathBuf;
use std::time::Duration;

use signet_tuf::{resolve_target, Origin, Resolve, TufConfig, TRUSTED_ROOT_TARGET};

/// The public-good Sigstore trust root, embedded so that verification
/// works offline out of the box.
pub const PUBLIC_GOOD_TRUSTED_ROOT: &[u8] =
    include_bytes!("../../../testdata/trust/public-good/trusted_root.json");

/// A refreshed trust root younger than this is used without asking the
/// repository again (its TUF timestamp role is valid for days).
const REFRESH_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(clap::Args, Debug, Clone)]
pub struct TrustArgs {
    /// A trusted_root.json to use instead of Sigstore's public-good root.
    #[arg(long)]
    pub trusted_root: Option<PathBuf>,
    /// Make no network call: use the last TUF-verified public-good root, or
    /// the embedded one.
    #[arg(long, env = "SIGNET_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    pub offline: bool,
    /// Where TUF metadata and verified targets are cached
    /// (default: ~/.cache/signet/tuf/<host>).
    #[arg(long, env = "SIGNET_TUF_CACHE", hide = true)]
    pub tuf_cache: Option<PathBuf>,
}

fn tuf_config(args: &TrustArgs) -> Option<TufConfig> {
    let probe = TufConfig::public_good(PathBuf::new());
    let dir = match &args.tuf_cache {
        Some(dir) => dir.clone(),
        None => signet_tuf::default_cache_dir(&probe.metadata_url)?,
    };
    Some(TufConfig::public_good(dir))
}

/// The trusted root's bytes and a word on where they came from.
pub fn trusted_root_bytes(args: &TrustArgs) -> Result<(Vec<u8>, String), String> {
    if let Some(path) = &args.trusted_root {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read trusted root {}: {e}", path.display()))?;
        return Ok((bytes, path.display().to_string()));
    }
    let Some(config) = tuf_config(args) else {
        return Ok((
            PUBLIC_GOOD_TRUSTED_ROOT.to_vec(),
            "embedded public-good root".into(),
        ));
    };
    let how = Resolve {
        offline: args.offline,
        refresh_after: REFRESH_AFTER,
        embedded: PUBLIC_GOOD_TRUSTED_ROOT,
    };
    let resolved = resolve_target(&config, TRUSTED_ROOT_TARGET, &how).map_err(|e| {
        format!(
            "cannot refresh the trust root through TUF: {e}; not falling back to an older \
             copy, since this is how a freeze or rollback attack looks (--offline uses the \
             last verified copy, --trusted-root FILE a root of your choice)"
        )
    })?;
    let source = match resolved.origin {
        Origin::Refreshed => "public-good root (TUF, refreshed)",
        Origin::Cache => "public-good root (TUF cache)",
        Origin::Embedded => "embedded public-good root",
    };
    if let Some(e) = &resolved.unreachable {
        eprintln!(
            "signet: warning: could not reach the TUF repository to refresh the trust root ({e}); using the {source}"
        );
    }
    Ok((resolved.bytes, source.into()))
}
