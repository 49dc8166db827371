//! Verifying an image: resolve the reference once, collect its signatures
//! from both layouts, verify each with signet's verifier, and pass when at
//! least one satisfies the policy.
//!
//! Legacy signatures are rebuilt into a bundle (message signature over the
//! simple-signing payload, certificate or key, Rekor entry with its SET),
//! after checking that the payload names the resolved digest. Referrer
//! bundles are verified against the digest itself: the in-toto statement
//! must name it as subject, with cosign's image-signature predicate type.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use signet_crypto::HashAlgorithm;
use signet_model::Bundle;
use signet_verify::{Artifact, SignerPolicy, Verified, Verifier};

use crate::layout::legacy::{self, SIMPLE_SIGNING_TYPE};
use crate::layout::referrers::{self, SIGN_PREDICATE_TYPE};
use crate::{Digest, OciError, Reference, Registry};

/// Where a signature was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "layout")]
pub enum Source {
    /// A layer of the `.sig` manifest.
    Legacy { tag: String, layer: Digest },
    /// An OCI 1.1 referrer holding a Sigstore bundle.
    Referrer { manifest: Digest },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Legacy { tag, layer } => write!(f, "legacy {tag} layer {layer}"),
            Source::Referrer { manifest } => write!(f, "referrer {manifest}"),
        }
    }
}

/// A signature that satisfied the policy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Accepted {
    pub source: Source,
    pub verified: Verified,
}

/// A signature that did not, and the check it failed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rejected {
    pub source: Source,
    pub check: String,
    pub reason: String,
}

/// The outcome for one image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageVerdict {
    /// The reference as given.
    pub reference: String,
    /// The digest it resolved to, which is what was verified.
    pub digest: Digest,
    pub accepted: Vec<Accepted>,
    pub rejected: Vec<Rejected>,
}

impl ImageVerdict {
    pub fn passed(&self) -> bool {
        !self.accepted.is_empty()
    }

    /// The check to report for a failed image: the first rejection's, or
    /// `no-signatures`.
    pub fn failure(&self) -> Option<(String, String)> {
        if self.passed() {
            return None;
        }
        match self.rejected.first() {
            None => Some((
                "no-signatures".into(),
                format!("no signatures found for {}", self.digest),
            )),
            Some(r) if self.rejected.len() == 1 => {
                Some((r.check.clone(), format!("{}: {}", r.source, r.reason)))
            }
            Some(r) => Some((
                r.check.clone(),
                format!(
                    "none of {} signatures verified; {}: {}{}",
                    self.rejected.len(),
                    r.source,
                    r.reason,
                    self.rejected[1..]
                        .iter()
                        .map(|o| format!("; {}: {}: {}", o.source, o.check, o.reason))
                        .collect::<String>()
                ),
            )),
        }
    }
}

fn reject(source: Source, check: &str, reason: impl Into<String>) -> Rejected {
    Rejected {
        source,
        check: check.to_string(),
        reason: reason.into(),
    }
}

/// Verifies one legacy signature layer against `digest`.
fn check_legacy(
    verifier: &Verifier,
    policy: &SignerPolicy,
    digest: &Digest,
    source: Source,
    layer: &legacy::Layer,
) -> Result<Accepted, Rejected> {
    let payload = match &layer.payload {
        Ok(p) => p,
        Err(e) => return Err(reject(source, "payload", e.clone())),
    };
    let claims = legacy::parse_payload(payload).map_err(|e| {
        reject(
            source.clone(),
            "payload",
            format!("not a simple-signing payload: {e}"),
        )
    })?;
    if claims.type_ != SIMPLE_SIGNING_TYPE {
        return Err(reject(
            source,
            "payload",
            format!(
                "payload type {:?} is not {SIMPLE_SIGNING_TYPE:?}",
                claims.type_
            ),
        ));
    }
    if claims.manifest_digest != digest.to_string() {
        return Err(reject(
            source,
            "image-digest",
            format!(
                "the signed payload names {}, not the image's {digest}",
                claims.manifest_digest
            ),
        ));
    }
    let bundle = legacy::bundle_from_layer(payload, &layer.descriptor.annotations)
        .map_err(|e| reject(source.clone(), "bundle-format", e))?;
    match verifier.verify(&bundle, &Artifact::Bytes(payload), policy) {
        Ok(verified) => Ok(Accepted { source, verified }),
        Err(e) => Err(reject(source, e.check.name(), e.reason)),
    }
}

/// Verifies one referrer bundle against `digest`.
fn check_referrer(
    verifier: &Verifier,
    policy: &SignerPolicy,
    digest: &Digest,
    source: Source,
    bundle: &Result<Vec<u8>, String>,
) -> Result<Accepted, Rejected> {
    let raw = bundle
        .as_ref()
        .map_err(|e| reject(source.clone(), "bundle-format", e.clone()))?;
    let bundle = Bundle::from_json(raw)
        .map_err(|e| reject(source.clone(), "bundle-format", e.to_string()))?;
    let artifact = Artifact::Digest {
        algorithm: HashAlgorithm::Sha256,
        digest: digest.bytes().to_vec(),
    };
    let verified = verifier
        .verify(&bundle, &artifact, policy)
        .map_err(|e| reject(source.clone(), e.check.name(), e.reason))?;
    match &verified.statement {
        Some(s) if s.predicate_type == SIGN_PREDICATE_TYPE => Ok(Accepted { source, verified }),
        Some(s) => Err(reject(
            source,
            "predicate-type",
            format!(
                "an attestation of type {:?}, not an image signature",
                s.predicate_type
            ),
        )),
        None => Err(reject(
            source,
            "predicate-type",
            "a message signature, not an image signature (in-toto statement)",
        )),
    }
}

/// Verifies the image `reference` names: resolved once, every signature
/// of both layouts checked.
pub fn verify_image(
    registry: &Registry,
    verifier: &Verifier,
    policy: &SignerPolicy,
    reference: &Reference,
    given: &str,
) -> Result<ImageVerdict, OciError> {
    let subject = registry.resolve(reference)?;
    let digest = subject.digest;
    let image = reference.at_digest(&digest);
    let mut verdict = ImageVerdict {
        reference: given.to_string(),
        digest: digest.clone(),
        accepted: Vec::new(),
        rejected: Vec::new(),
    };
    let mut record = |r: Result<Accepted, Rejected>| match r {
        Ok(a) => verdict.accepted.push(a),
        Err(r) => verdict.rejected.push(r),
    };
    for referrer in referrers::bundles(registry, &image, &digest)? {
        // Attestations share the referrers; only signatures count here.
        if referrer
            .predicate_type
            .as_deref()
            .is_some_and(|p| p != SIGN_PREDICATE_TYPE)
        {
            continue;
        }
        let source = Source::Referrer {
            manifest: referrer.manifest_digest.clone(),
        };
        record(check_referrer(
            verifier,
            policy,
            &digest,
            source,
            &referrer.bundle,
        ));
    }
    let tag = legacy::signature_tag(&digest);
    for layer in legacy::read(registry, &image, &digest)? {
        let source = Source::Legacy {
            tag: tag.clone(),
            layer: layer.descriptor.digest.clone(),
        };
        record(check_legacy(verifier, policy, &digest, source, &layer));
    }
    Ok(verdict)
}

/// Verifies many images, `concurrency` at a time; `progress(done, total)`
/// is called after each. Results are in the order of `references`.
pub fn verify_many(
    registry: &Registry,
    verifier: &Verifier,
    policy: &SignerPolicy,
    references: &[(String, Reference)],
    concurrency: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Result<ImageVerdict, OciError>> {
    let total = references.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<ImageVerdict, OciError>>>> =
        Mutex::new((0..total).map(|_| None).collect());
    let workers = concurrency.clamp(1, total.max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((given, reference)) = references.get(i) else {
                    break;
                };
                let result = verify_image(registry, verifier, policy, reference, given);
                if let Ok(mut slots) = results.lock() {
                    slots[i] = Some(result);
                }
                progress(done.fetch_add(1, Ordering::SeqCst) + 1, total);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(OciError::Config("a verification worker stopped".into()))))
        .collect()
}
