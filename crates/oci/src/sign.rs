//! Signing an image: resolve the reference to a digest once, sign that
//! digest, and write the signature in the chosen layout(s).

use std::collections::BTreeMap;

use serde_json::Value;
use signet_sign::flow::{Content, Signed};
use signet_sign::SignError;

use crate::layout::legacy::{self, Appended};
use crate::layout::referrers::{self, Pushed, SIGN_PREDICATE_TYPE};
use crate::layout::Layout;
use crate::manifest::Descriptor;
use crate::{OciError, Reference, Registry};

/// Why signing an image failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageSignError {
    #[error(transparent)]
    Registry(#[from] OciError),
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// What was signed and written.
#[derive(Debug)]
pub struct SignReport {
    /// The image, pinned to the digest that was signed.
    pub image: Reference,
    pub subject: Descriptor,
    pub referrer: Option<Pushed>,
    pub legacy: Option<Appended>,
    /// Log indexes of the entries made.
    pub log_indexes: Vec<u64>,
    pub warnings: Vec<String>,
}

fn note(signed: &Signed, report: &mut SignReport) {
    report.warnings.extend(signed.warnings.iter().cloned());
    report.log_indexes.extend(
        signed
            .bundle
            .verification_material
            .tlog_entries
            .iter()
            .map(|e| e.log_index.0),
    );
}

/// Signs `reference` (resolved to a digest exactly once) with `sign`, which
/// runs signet's signing flow over the content it is given, and writes the
/// result in `layout`.
pub fn sign_image(
    registry: &Registry,
    reference: &Reference,
    layout: Layout,
    annotations: &BTreeMap<String, Value>,
    sign: &dyn Fn(Content<'_>) -> Result<Signed, SignError>,
) -> Result<SignReport, ImageSignError> {
    let subject = registry.resolve(reference)?;
    let image = reference.at_digest(&subject.digest);
    let mut report = SignReport {
        image: image.clone(),
        subject: subject.clone(),
        referrer: None,
        legacy: None,
        log_indexes: Vec::new(),
        warnings: Vec::new(),
    };
    if layout.writes_referrers() {
        let statement = referrers::sign_statement(&subject.digest, annotations);
        let signed = sign(Content::InToto(&statement))?;
        note(&signed, &mut report);
        let bundle = signed.bundle.to_json();
        report.referrer = Some(referrers::push(
            registry,
            &image,
            &subject,
            bundle.as_bytes(),
            SIGN_PREDICATE_TYPE,
        )?);
    }
    if layout.writes_legacy() {
        let payload = legacy::payload(&reference.repository_name(), &subject.digest, annotations);
        let signed = sign(Content::Blob(&payload))?;
        note(&signed, &mut report);
        let layer_annotations = legacy::annotations_from_bundle(&signed.bundle)?;
        report.legacy = Some(legacy::append(
            registry,
            &image,
            &subject.digest,
            &payload,
            layer_annotations,
        )?);
    }
    Ok(report)
}
