//! The current layout (cosign v3): a Sigstore bundle as an OCI 1.1
//! referrer of the image. The referrer is an image manifest with
//! `subject` = the image, `artifactType` = the bundle media type, an empty
//! config, and one layer holding the bundle.
//!
//! Referrers are listed with `GET /v2/<name>/referrers/<digest>`; where
//! the registry lacks that API, through the referrers tag schema: an image
//! index at tag `sha256-<hex>` that lists them. signet maintains that
//! index when the registry does not answer `OCI-Subject` to the manifest
//! upload, by read-modify-write that never drops an entry, and re-reads it
//! afterwards so that a concurrent writer's update is merged, not lost.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifest::{
    Descriptor, Index, Manifest, EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST,
};
use crate::registry::MAX_BLOB_BYTES;
use crate::{Digest, OciError, Reference, Registry};

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The predicate type of a cosign v3 image signature.
pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
pub const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
pub const PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// Attempts at merging our entry into the referrers index when a
/// concurrent writer replaced it.
const INDEX_MERGE_ATTEMPTS: usize = 4;

/// The referrers tag schema's tag for `subject`: `sha256-<hex>`.
pub fn fallback_tag(subject: &Digest) -> String {
    subject.tag_form()
}

/// The in-toto statement cosign v3 signs for an image: the digest as the
/// only subject (with the user's annotations), predicate type
/// `https://sigstore.dev/cosign/sign/v1`, an empty predicate.
pub fn sign_statement(image: &Digest, annotations: &BTreeMap<String, Value>) -> Vec<u8> {
    let doc = serde_json::json!({
        "_type": signet_model::intoto::STATEMENT_V1,
        "subject": [{
            "digest": {"sha256": image.hex()},
            "annotations": annotations,
        }],
        "predicateType": SIGN_PREDICATE_TYPE,
        "predicate": {},
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// What [`push`] wrote.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The referrer manifest's digest.
    pub digest: Digest,
    /// Whether the referrers tag index was (also) updated.
    pub fallback_index: bool,
}

/// Pushes `bundle_json` as a referrer of `subject`.
pub fn push(
    registry: &Registry,
    repo: &Reference,
    subject: &Descriptor,
    bundle_json: &[u8],
    predicate_type: &str,
) -> Result<Pushed, OciError> {
    registry.put_blob(repo, EMPTY_JSON)?;
    registry.put_blob(repo, bundle_json)?;
    let mut annotations = BTreeMap::new();
    annotations.insert(CREATED_ANNOTATION.to_string(), now_rfc3339());
    annotations.insert(CONTENT_ANNOTATION.to_string(), "dsse-envelope".to_string());
    annotations.insert(
        PREDICATE_TYPE_ANNOTATION.to_string(),
        predicate_type.to_string(),
    );
    let subject = Descriptor {
        media_type: subject.media_type.clone(),
        digest: subject.digest.clone(),
        size: subject.size,
        artifact_type: None,
        annotations: BTreeMap::new(),
        extra: BTreeMap::new(),
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        artifact_type: Some(BUNDLE_MEDIA_TYPE.to_string()),
        config: Descriptor::of(OCI_EMPTY, EMPTY_JSON),
        layers: vec![Descriptor::of(BUNDLE_MEDIA_TYPE, bundle_json)],
        subject: Some(subject.clone()),
        annotations: annotations.clone(),
        extra: BTreeMap::new(),
    };
    let bytes = manifest.to_json();
    let put = registry.put_manifest(repo, &Digest::of(&bytes).to_string(), OCI_MANIFEST, &bytes)?;
    let mut entry = Descriptor::of(OCI_MANIFEST, &bytes);
    entry.artifact_type = Some(BUNDLE_MEDIA_TYPE.to_string());
    entry.annotations = annotations;
    let fallback_index = !put.indexes_subject;
    if fallback_index {
        add_to_index(registry, repo, &subject.digest, &entry)?;
    }
    Ok(Pushed {
        digest: put.digest,
        fallback_index,
    })
}

fn read_index(
    registry: &Registry,
    repo: &Reference,
    subject: &Digest,
) -> Result<Option<Index>, OciError> {
    match registry.get_manifest(repo, &fallback_tag(subject)) {
        Ok(m) => Index::from_json(&m.bytes).map(Some),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Adds `entry` to the referrers tag index of `subject`, keeping every
/// entry there, and checks by reading it back.
pub fn add_to_index(
    registry: &Registry,
    repo: &Reference,
    subject: &Digest,
    entry: &Descriptor,
) -> Result<(), OciError> {
    let tag = fallback_tag(subject);
    for _ in 0..INDEX_MERGE_ATTEMPTS {
        let mut index = read_index(registry, repo, subject)?.unwrap_or_else(Index::empty);
        if index.manifests.iter().any(|d| d.digest == entry.digest) {
            return Ok(());
        }
        index.manifests.push(entry.clone());
        registry.put_manifest(repo, &tag, OCI_INDEX, &index.to_json())?;
        // Another writer may have replaced the index between our read and
        // write; if our entry is gone, merge again.
        let after = read_index(registry, repo, subject)?.unwrap_or_else(Index::empty);
        if after.manifests.iter().any(|d| d.digest == entry.digest) {
            return Ok(());
        }
    }
    Err(OciError::Malformed {
        what: format!("referrers index {tag}"),
        why: "concurrent writers kept replacing it; the referrer is pushed but not listed".into(),
    })
}

/// Where a referrer listing came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Api,
    TagSchema,
}

/// The referrers of `subject`: the API's answer, else the tag schema's
/// index (empty when neither has any).
pub fn list(
    registry: &Registry,
    repo: &Reference,
    subject: &Digest,
) -> Result<(Vec<Descriptor>, Listing), OciError> {
    if let Some(index) = registry.referrers_api(repo, subject)? {
        return Ok((index.manifests, Listing::Api));
    }
    let index = read_index(registry, repo, subject)?.unwrap_or_else(Index::empty);
    Ok((index.manifests, Listing::TagSchema))
}

/// A Sigstore bundle found as a referrer.
#[derive(Debug, Clone)]
pub struct BundleReferrer {
    pub manifest_digest: Digest,
    pub predicate_type: Option<String>,
    /// The bundle bytes, or why they could not be read.
    pub bundle: Result<Vec<u8>, String>,
}

/// The referrers of `subject` that hold Sigstore bundles, with the bundle
/// of each. A referrer whose manifest does not name `subject` is reported
/// as unreadable.
pub fn bundles(
    registry: &Registry,
    repo: &Reference,
    subject: &Digest,
) -> Result<Vec<BundleReferrer>, OciError> {
    let (entries, _) = list(registry, repo, subject)?;
    let bundles: Vec<_> = entries
        .into_iter()
        .filter(|entry| {
            entry
                .artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with("application/vnd.dev.sigstore.bundle"))
        })
        .collect();
    super::check_count(&format!("referrers of {subject}"), bundles.len())?;
    let mut bytes_left = super::MAX_ATTACHMENT_BYTES;
    let mut out = Vec::new();
    for entry in bundles {
        let predicate_type = entry.annotations.get(PREDICATE_TYPE_ANNOTATION).cloned();
        let bundle = fetch_bundle(registry, repo, subject, &entry.digest, &mut bytes_left);
        out.push(BundleReferrer {
            manifest_digest: entry.digest,
            predicate_type,
            bundle,
        });
    }
    Ok(out)
}

fn fetch_bundle(
    registry: &Registry,
    repo: &Reference,
    subject: &Digest,
    manifest: &Digest,
    bytes_left: &mut u64,
) -> Result<Vec<u8>, String> {
    let fetched = registry
        .get_manifest(repo, &manifest.to_string())
        .map_err(|e| e.to_string())?;
    let m = Manifest::from_json(&fetched.bytes).map_err(|e| e.to_string())?;
    if m.subject.as_ref().map(|s| &s.digest) != Some(subject) {
        return Err(format!(
            "referrer {manifest} does not name {subject} as its subject"
        ));
    }
    let layer = m
        .layers
        .iter()
        .find(|l| {
            l.media_type
                .starts_with("application/vnd.dev.sigstore.bundle")
        })
        .ok_or_else(|| format!("referrer {manifest} has no bundle layer"))?;
    if layer.size > MAX_BLOB_BYTES {
        return Err(format!("bundle of {} bytes is too large", layer.size));
    }
    super::take_bytes(bytes_left, layer.size)?;
    registry
        .get_blob(repo, &layer.digest, layer.size.max(1))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_is_cosigns() {
        let d = Digest::of(b"image");
        let s = sign_statement(&d, &BTreeMap::new());
        let parsed = signet_model::intoto::Statement::from_json(&s).unwrap();
        assert_eq!(parsed.predicate_type, SIGN_PREDICATE_TYPE);
        assert!(parsed.has_subject_digest("sha256", d.hex()));
        let v: Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["predicate"], serde_json::json!({}));
        assert_eq!(v["subject"][0]["annotations"], serde_json::json!({}));
        assert!(v["subject"][0].get("name").is_none());
    }

    #[test]
    fn tags() {
        let d = Digest::of(b"x");
        assert_eq!(fallback_tag(&d), format!("sha256-{}", d.hex()));
        assert_eq!(
            crate::layout::legacy::signature_tag(&d),
            format!("sha256-{}.sig", d.hex())
        );
    }
}
