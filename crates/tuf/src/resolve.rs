//! Which copy of a trusted target to use: refreshed, cached or embedded.
//!
//! The one rule that matters: an earlier copy replaces a refresh only when
//! the repository could not be reached. Metadata that was reached and
//! refused (expired, badly signed, older than what was trusted) is what a
//! freeze or rollback attack looks like, so it is an error, never a quiet
//! step back to an older trust root.

use std::time::Duration;

use crate::client::{cached_target, cached_target_age, fetch_target};
use crate::config::TufConfig;
use crate::error::TufError;

/// How the caller wants a target resolved.
#[derive(Debug, Clone, Copy)]
pub struct Resolve<'a> {
    /// Make no network call: the last verified copy, else `embedded`.
    pub offline: bool,
    /// A verified copy younger than this is used without asking the
    /// repository again.
    pub refresh_after: Duration,
    /// The copy shipped with the program, for when nothing was verified yet.
    pub embedded: &'a [u8],
}

/// Where [`Resolved::bytes`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Verified through TUF just now.
    Refreshed,
    /// A copy an earlier refresh verified.
    Cache,
    /// The copy shipped with the program.
    Embedded,
}

/// A resolved target.
#[derive(Debug)]
pub struct Resolved {
    /// The target's bytes.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub origin: Origin,
    /// Why the repository was not used although a refresh was due: set
    /// only when it could not be reached (see [`TufError::is_unreachable`]).
    pub unreachable: Option<TufError>,
}

/// The target `name`: a fresh or (with `offline`) any cached copy, else a
/// refreshed one; if the repository cannot be reached, the cached or the
/// embedded copy with [`Resolved::unreachable`] set. Any other refresh
/// failure is returned as the error.
pub fn resolve_target(
    config: &TufConfig,
    name: &str,
    how: &Resolve<'_>,
) -> Result<Resolved, TufError> {
    let earlier = |unreachable: Option<TufError>| match cached_target(config, name) {
        Some(bytes) => Resolved {
            bytes,
            origin: Origin::Cache,
            unreachable,
        },
        None => Resolved {
            bytes: how.embedded.to_vec(),
            origin: Origin::Embedded,
            unreachable,
        },
    };
    let fresh = cached_target_age(config, name).is_some_and(|age| age < how.refresh_after);
    if how.offline || fresh {
        let resolved = earlier(None);
        // "Fresh" is about a cached copy; without one, refresh.
        if how.offline || resolved.origin == Origin::Cache {
            return Ok(resolved);
        }
    }
    match fetch_target(config, name) {
        Ok(bytes) => Ok(Resolved {
            bytes,
            origin: Origin::Refreshed,
            unreachable: None,
        }),
        Err(e) if e.is_unreachable() => Ok(earlier(Some(e))),
        Err(e) => Err(e),
    }
}
