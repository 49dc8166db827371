//! Choice of the root that bootstraps a refresh.

use tough::schema::{Root, Signed};

/// Picks the root to start the TUF root chain from.
///
/// Returns `cached` when it parses, is signed by a threshold of its own
/// root keys, and has a strictly higher version than `embedded`; otherwise
/// `embedded`. The cached root was written by tough after it verified the
/// chain up to it, so starting there only skips re-walking known versions.
/// A corrupt or older cache falls back to the embedded trust anchor, from
/// which tough walks forward again. (Whichever is chosen, tough verifies
/// it again before use.)
pub(crate) fn choose_root<'a>(embedded: &'a [u8], cached: Option<&'a [u8]>) -> &'a [u8] {
    let Some(cached) = cached else {
        return embedded;
    };
    match (self_verified_version(cached), version(embedded)) {
        (Some(c), Some(e)) if c > e => cached,
        // Embedded root unparsable: tough will report it; a valid cached
        // root cannot be trusted more than the anchor it descends from.
        _ => embedded,
    }
}

fn version(bytes: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Signed<Root>>(bytes)
        .ok()
        .map(|r| r.signed.version.get())
}

fn self_verified_version(bytes: &[u8]) -> Option<u64> {
    let root = serde_json::from_slice::<Signed<Root>>(bytes).ok()?;
    root.signed.verify_role(&root).ok()?;
    Some(root.signed.version.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    static PG: &[u8] = include_bytes!("../../../testdata/trust/public-good/root.json");
    static STAGING: &[u8] = include_bytes!("../../../testdata/trust/staging/root.json");

    #[test]
    fn no_cache_means_embedded() {
        assert_eq!(choose_root(PG, None), PG);
    }

    #[test]
    fn newer_valid_cache_wins_older_or_corrupt_loses() {
        // staging root v14 < public-good v15: both self-verify.
        assert_eq!(choose_root(STAGING, Some(PG)), PG);
        assert_eq!(choose_root(PG, Some(STAGING)), PG);
        assert_eq!(choose_root(STAGING, Some(b"{not json")), STAGING);
    }

    #[test]
    fn cache_with_broken_signature_is_ignored() {
        // Same root with its version bumped: signatures no longer match.
        let mut v: serde_json::Value = serde_json::from_slice(PG).expect("json");
        v["signed"]["version"] = serde_json::json!(999);
        let forged = serde_json::to_vec(&v).expect("ser");
        assert_eq!(choose_root(STAGING, Some(&forged)), STAGING);
    }
}
