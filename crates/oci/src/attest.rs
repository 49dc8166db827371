//! Attesting an image: resolve the reference to a digest once, sign an
//! in-toto statement about that digest as a DSSE envelope (one signature,
//! one log entry), and write it in the chosen layout(s):
//!
//! - current: the bundle as an OCI 1.1 referrer annotated with the
//!   predicate type (what `cosign attest` writes with the new bundle
//!   format);
//! - legacy: a layer of cosign's `sha256-<hex>.att` manifest holding the
//!   envelope, with the annotations `cosign attest` writes (see
//!   [`crate::layout::legacy`]).
//!
//! The statement and predicate follow `cosign attest`
//! (`pkg/cosign/attestation`): the subject is the repository and the
//! image's sha256; cosign's `custom` type wraps the predicate file as
//! `{"Data": <text>, "Timestamp": <RFC 3339>}`, `spdx` takes it as a
//! string, every other type as a JSON object.

use std::collections::BTreeMap;

use serde_json::Value;
use signet_sign::flow::{Content, Signed};
use signet_sign::SignError;

use crate::layout::legacy::{self, Appended, PREDICATE_TYPE_ANNOTATION};
use crate::layout::referrers::{self, Pushed};
use crate::layout::Layout;
use crate::manifest::Descriptor;
use crate::sign::ImageSignError;
use crate::{Digest, OciError, Reference, Registry};

/// cosign's `custom` predicate type.
pub const CUSTOM_PREDICATE_TYPE: &str = "https://cosign.sigstore.dev/attestation/v1";

/// What was attested and written.
#[derive(Debug)]
pub struct AttestReport {
    /// The image, pinned to the digest that was attested.
    pub image: Reference,
    pub subject: Descriptor,
    pub predicate_type: String,
    pub referrer: Option<Pushed>,
    pub legacy: Option<Appended>,
    /// Log indexes of the entries made.
    pub log_indexes: Vec<u64>,
    pub warnings: Vec<String>,
}

/// The in-toto v1 statement about `image`: one subject named
/// `repository_name` with the image's sha256.
pub fn statement(
    repository_name: &str,
    image: &Digest,
    predicate_type: &str,
    predicate: &Value,
) -> Vec<u8> {
    let doc = serde_json::json!({
        "_type": signet_model::intoto::STATEMENT_V1,
        "subject": [{
            "name": repository_name,
            "digest": {"sha256": image.hex()},
        }],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// The current time as cosign stamps custom predicates (RFC 3339, UTC,
/// whole seconds).
pub fn timestamp_now() -> String {
    referrers::now_rfc3339()
}

/// The predicate `cosign attest --type NAME --predicate FILE` puts in the
/// statement: `type_name` as given on the command line, `type_uri` what it
/// maps to, `raw` the file's bytes, `timestamp` for the custom type.
pub fn cosign_predicate(
    type_name: &str,
    type_uri: &str,
    raw: &[u8],
    timestamp: &str,
) -> Result<Value, String> {
    if type_uri == CUSTOM_PREDICATE_TYPE {
        return Ok(serde_json::json!({
            "Data": String::from_utf8_lossy(raw),
            "Timestamp": timestamp,
        }));
    }
    if type_name == "spdx" {
        return Ok(Value::String(String::from_utf8_lossy(raw).into_owned()));
    }
    let value: Value = signet_model::from_json_slice(raw).map_err(|e| e.to_string())?;
    if !value.is_object() {
        return Err(format!(
            "a predicate of type {type_uri} must be a JSON object"
        ));
    }
    Ok(value)
}

/// Attests `reference` (resolved to a digest exactly once): signs the
/// statement with `predicate_type` and `predicate` about that digest with
/// `sign` (signet's signing flow over the content it is given), and writes
/// it in `layout`. The legacy layout needs a Rekor v1 entry (its SET goes
/// in the bundle annotation); that is checked before anything is written.
pub fn attest_image(
    registry: &Registry,
    reference: &Reference,
    layout: Layout,
    predicate_type: &str,
    predicate: &Value,
    sign: &dyn Fn(Content<'_>) -> Result<Signed, SignError>,
) -> Result<AttestReport, ImageSignError> {
    let subject = registry.resolve(reference)?;
    let image = reference.at_digest(&subject.digest);
    let statement = statement(
        &reference.repository_name(),
        &subject.digest,
        predicate_type,
        predicate,
    );
    let signed = sign(Content::InToto(&statement))?;
    let legacy_layer = if layout.writes_legacy() {
        let envelope = signed.bundle.dsse_envelope.as_ref().ok_or_else(|| {
            OciError::Config("the signing flow did not make a DSSE envelope".into())
        })?;
        let envelope = serde_json::to_vec(envelope)
            .map_err(|e| OciError::Config(format!("DSSE envelope: {e}")))?;
        let mut annotations: BTreeMap<String, String> =
            legacy::annotations_from_bundle(&signed.bundle)?;
        annotations.insert(
            PREDICATE_TYPE_ANNOTATION.to_string(),
            predicate_type.to_string(),
        );
        Some((envelope, annotations))
    } else {
        None
    };
    let mut report = AttestReport {
        image: image.clone(),
        subject: subject.clone(),
        predicate_type: predicate_type.to_string(),
        referrer: None,
        legacy: None,
        log_indexes: signed
            .bundle
            .verification_material
            .tlog_entries
            .iter()
            .map(|e| e.log_index.0)
            .collect(),
        warnings: signed.warnings.clone(),
    };
    if layout.writes_referrers() {
        let bundle = signed.bundle.to_json();
        report.referrer = Some(referrers::push(
            registry,
            &image,
            &subject,
            bundle.as_bytes(),
            predicate_type,
        )?);
    }
    if let Some((envelope, annotations)) = legacy_layer {
        report.legacy = Some(legacy::append_attestation(
            registry,
            &image,
            &subject.digest,
            &envelope,
            annotations,
        )?);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_names_the_repository_and_digest() {
        let d = Digest::of(b"image");
        let s = statement(
            "reg.example/team/app",
            &d,
            "https://slsa.dev/provenance/v1",
            &serde_json::json!({"a": 1}),
        );
        let parsed = signet_model::intoto::Statement::from_json(&s).unwrap();
        assert_eq!(parsed.type_, signet_model::intoto::STATEMENT_V1);
        assert_eq!(parsed.subject.len(), 1);
        assert_eq!(parsed.subject[0].name, "reg.example/team/app");
        assert!(parsed.has_subject_digest("sha256", d.hex()));
        assert_eq!(parsed.predicate_type, "https://slsa.dev/provenance/v1");
        assert_eq!(parsed.predicate, Some(serde_json::json!({"a": 1})));
    }

    #[test]
    fn predicates_as_cosign_builds_them() {
        let ts = "2024-01-02T03:04:05Z";
        // custom: the file's text wrapped with a timestamp, by name or URI.
        for (name, uri) in [
            ("custom", CUSTOM_PREDICATE_TYPE),
            (CUSTOM_PREDICATE_TYPE, CUSTOM_PREDICATE_TYPE),
        ] {
            let p = cosign_predicate(name, uri, b"foobar", ts).unwrap();
            assert_eq!(p, serde_json::json!({"Data": "foobar", "Timestamp": ts}));
        }
        // spdx (tag-value): the text as a string; spdxjson: the object.
        let p =
            cosign_predicate("spdx", "https://spdx.dev/Document", b"SPDXVersion: 2.3", ts).unwrap();
        assert_eq!(p, Value::String("SPDXVersion: 2.3".into()));
        let p = cosign_predicate(
            "spdxjson",
            "https://spdx.dev/Document",
            br#"{"spdxVersion":"SPDX-2.3"}"#,
            ts,
        )
        .unwrap();
        assert_eq!(p["spdxVersion"], "SPDX-2.3");
        // Everything else must be a JSON object.
        assert!(cosign_predicate(
            "slsaprovenance1",
            "https://slsa.dev/provenance/v1",
            b"[1]",
            ts
        )
        .is_err());
        assert!(cosign_predicate("vuln", "https://x/y", b"not json", ts).is_err());
    }
}
