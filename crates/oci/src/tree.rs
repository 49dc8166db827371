//! What is attached to an image: legacy signature, attestation and SBOM
//! tags, and OCI 1.1 referrers.

use crate::layout::legacy;
use crate::layout::referrers::{self, Listing, PREDICATE_TYPE_ANNOTATION};
use crate::manifest::{Descriptor, Manifest};
use crate::{Digest, OciError, Reference, Registry};

/// One legacy tag and its layers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaggedArtifacts {
    pub tag: String,
    pub layers: Vec<Descriptor>,
}

/// One referrer.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerEntry {
    pub digest: Digest,
    pub artifact_type: Option<String>,
    pub predicate_type: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tree {
    pub reference: String,
    pub digest: Digest,
    pub signatures: Option<TaggedArtifacts>,
    pub attestations: Option<TaggedArtifacts>,
    pub sboms: Option<TaggedArtifacts>,
    pub referrers: Vec<ReferrerEntry>,
    /// `api` or `tag-schema`.
    pub referrers_listing: String,
}

fn tagged(
    registry: &Registry,
    image: &Reference,
    tag: String,
) -> Result<Option<TaggedArtifacts>, OciError> {
    match registry.get_manifest(image, &tag) {
        Ok(m) => Ok(Some(TaggedArtifacts {
            tag,
            layers: Manifest::from_json(&m.bytes)?.layers,
        })),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Lists everything attached to the image `reference` names.
pub fn tree(registry: &Registry, reference: &Reference) -> Result<Tree, OciError> {
    let digest = registry.resolve(reference)?.digest;
    let image = reference.at_digest(&digest);
    let (entries, listing) = referrers::list(registry, &image, &digest)?;
    Ok(Tree {
        reference: reference.to_string(),
        signatures: tagged(registry, &image, legacy::signature_tag(&digest))?,
        attestations: tagged(registry, &image, legacy::attestation_tag(&digest))?,
        sboms: tagged(registry, &image, legacy::sbom_tag(&digest))?,
        referrers: entries
            .into_iter()
            .map(|d| ReferrerEntry {
                predicate_type: d.annotations.get(PREDICATE_TYPE_ANNOTATION).cloned(),
                digest: d.digest,
                artifact_type: d.artifact_type,
            })
            .collect(),
        referrers_listing: match listing {
            Listing::Api => "api".into(),
            Listing::TagSchema => "tag-schema".into(),
        },
        digest,
    })
}
