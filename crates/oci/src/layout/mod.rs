//! Where signatures live in a registry: cosign's legacy `.sig` tags and
//! the OCI 1.1 referrers of the current layout.

pub mod legacy;
pub mod referrers;

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
