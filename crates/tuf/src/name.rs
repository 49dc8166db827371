//! Validation of target names.

use crate::error::TufError;

/// Longest target name accepted, in bytes.
const MAX_NAME_LEN: usize = 255;

/// A target name that is safe both as a TUF target name and as a single
/// file name inside the cache directory.
///
/// Invariant: non-empty, at most 255 bytes, only `[A-Za-z0-9._-]`, and
/// does not start with `.` (so never `.`, `..`, a hidden file, or a path
/// with separators). Sigstore's targets (`trusted_root.json`,
/// `signing_config.v0.2.json`, …) all satisfy this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SafeName<'a>(&'a str);

impl<'a> SafeName<'a> {
    pub(crate) fn parse(name: &'a str) -> Result<Self, TufError> {
        let reason = if name.is_empty() {
            Some("empty")
        } else if name.len() > MAX_NAME_LEN {
            Some("longer than 255 bytes")
        } else if name.starts_with('.') {
            Some("starts with '.'")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            Some("only ASCII letters, digits, '.', '_' and '-' are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(TufError::InvalidTargetName {
                name: name.chars().take(64).collect(),
                reason,
            }),
            None => Ok(Self(name)),
        }
    }

    pub(crate) fn as_str(&self) -> &'a str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_sigstore_targets() {
        for n in [
            "trusted_root.json",
            "signing_config.v0.2.json",
            "rekor.pub",
            "ctfe_2022.pub",
        ] {
            assert_eq!(SafeName::parse(n).map(|s| s.as_str()).ok(), Some(n));
        }
    }

    #[test]
    fn rejects_paths_and_oddities() {
        for n in [
            "", ".", "..", ".hidden", "a/b", "../x", "a\\b", "a b", "é.json",
        ] {
            assert!(
                matches!(SafeName::parse(n), Err(TufError::InvalidTargetName { .. })),
                "{n:?} should be rejected"
            );
        }
        assert!(SafeName::parse(&"a".repeat(256)).is_err());
    }
}
