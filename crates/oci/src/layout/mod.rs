//! Where signatures live in a registry: cosign's legacy `.sig` tags and
//! the OCI 1.1 referrers of the current layout.

pub mod legacy;
pub mod referrers;

/// Most attachments read from one place of an image (its `.sig` tag, its
/// `.att` tag, its bundle referrers), as cosign's `maxLayers`: more is an
/// error, not hours of downloads.
pub const MAX_ATTACHMENTS: usize = 1000;
/// Most bytes of attachment payloads read from one place of an image, all
/// together; payloads beyond it are reported unreadable, not fetched.
pub const MAX_ATTACHMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Refuses more than [`MAX_ATTACHMENTS`] attachments in `what`.
fn check_count(what: &str, count: usize) -> Result<(), crate::OciError> {
    if count > MAX_ATTACHMENTS {
        return Err(crate::OciError::Malformed {
            what: what.to_string(),
            why: format!(
                "{count} attachments, more than the {MAX_ATTACHMENTS} read from one place"
            ),
        });
    }
    Ok(())
}

/// Takes `size` bytes from what is left of [`MAX_ATTACHMENT_BYTES`], or
/// says why a payload of that size is not read.
fn take_bytes(left: &mut u64, size: u64) -> Result<(), String> {
    if size > *left {
        return Err(format!(
            "payload of {size} bytes is past the {MAX_ATTACHMENT_BYTES} bytes read from one place"
        ));
    }
    *left -= size;
    Ok(())
}

/// Which layout(s) `sign` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A Sigstore bundle (DSSE over an in-toto statement) as an OCI 1.1
    /// referrer: cosign v3's default.
    Referrers,
    /// cosign's `.sig` tag with a simple-signing layer: what cosign v2,
    /// skopeo/podman, Kyverno and policy-controller read.
    Legacy,
    /// Both.
    Both,
}

impl Layout {
    pub fn writes_referrers(self) -> bool {
        matches!(self, Layout::Referrers | Layout::Both)
    }

    pub fn writes_legacy(self) -> bool {
        matches!(self, Layout::Legacy | Layout::Both)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_budget_is_shared_and_spent_once() {
        let mut left = MAX_ATTACHMENT_BYTES;
        take_bytes(&mut left, MAX_ATTACHMENT_BYTES - 10).unwrap();
        take_bytes(&mut left, 10).unwrap();
        assert_eq!(left, 0);
        assert!(take_bytes(&mut left, 1).is_err());
        // A refused payload takes nothing.
        let mut left = 5;
        assert!(take_bytes(&mut left, 6).is_err());
        assert_eq!(left, 5);
        assert!(check_count("x", MAX_ATTACHMENTS).is_ok());
        assert!(check_count("x", MAX_ATTACHMENTS + 1).is_err());
    }
}
