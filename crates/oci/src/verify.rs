//! Verifying an image: resolve the reference once, collect its signatures
//! and attestations from both layouts, verify each with signet's verifier,
//! and pass when at least one satisfies the policy.
//!
//! Legacy signatures are rebuilt into a bundle (message signature over the
//! simple-signing payload, certificate or key, Rekor entry with its SET),
//! after checking that the payload names the resolved digest. Legacy
//! attestations (`.att` layers) are rebuilt the same way around their DSSE
//! envelope. Referrer bundles and legacy attestations are verified against
//! the digest itself: the in-toto statement must name it as subject; an
//! image signature must carry cosign's image-signature predicate type, an
//! attestation the type asked for.

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
    /// A bundle given directly (a policy test fixture, a file).
    File { path: String },
    /// A whole place (a `.sig`/`.att` tag, the referrers) whose content
    /// could not be used.
    Place { what: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Legacy { tag, layer } => write!(f, "legacy {tag} layer {layer}"),
            Source::Referrer { manifest } => write!(f, "referrer {manifest}"),
            Source::File { path } => write!(f, "file {path}"),
            Source::Place { what } => write!(f, "{what}"),
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

/// What a piece of signature material signs once unpacked.
#[derive(Debug, Clone)]
enum Signs {
    /// A simple-signing payload (legacy layout): a message signature over
    /// these bytes, already checked to name the image digest.
    Payload(Vec<u8>),
    /// An in-toto statement about the image digest (referrer bundles).
    Statement,
}

/// One signature or attestation found for an image, unpacked once so it
/// can be verified under as many signer policies as a caller has (a
/// policy's k-of-n authorities), each verification being pure.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub source: Source,
    /// The predicate type the registry listing claims (referrers only;
    /// informational, the verified statement is what counts).
    pub listed_predicate_type: Option<String>,
    prepared: Result<(Bundle, Signs), Rejected>,
}

/// Everything found for one image, resolved to its digest once.
#[derive(Debug, Clone)]
pub struct ImageMaterial {
    /// The reference as given.
    pub reference: String,
    pub digest: Digest,
    /// Image signatures (legacy `.sig` layers and signature referrers).
    pub signatures: Vec<Candidate>,
    /// Attestations (referrer bundles with another predicate type, and
    /// legacy `.att` layers).
    pub attestations: Vec<Candidate>,
}

impl Candidate {
    /// Unpacks one legacy signature layer, checking that its payload names
    /// `digest`.
    fn legacy(digest: &Digest, source: Source, layer: &legacy::Layer) -> Candidate {
        let prepared = (|| {
            let payload = layer
                .payload
                .as_ref()
                .map_err(|e| reject(source.clone(), "payload", e.clone()))?;
            let claims = legacy::parse_payload(payload).map_err(|e| {
                reject(
                    source.clone(),
                    "payload",
                    format!("not a simple-signing payload: {e}"),
                )
            })?;
            if claims.type_ != SIMPLE_SIGNING_TYPE {
                return Err(reject(
                    source.clone(),
                    "payload",
                    format!(
                        "payload type {:?} is not {SIMPLE_SIGNING_TYPE:?}",
                        claims.type_
                    ),
                ));
            }
            if claims.manifest_digest != digest.to_string() {
                return Err(reject(
                    source.clone(),
                    "image-digest",
                    format!(
                        "the signed payload names {}, not the image's {digest}",
                        claims.manifest_digest
                    ),
                ));
            }
            let bundle = legacy::bundle_from_layer(payload, &layer.descriptor.annotations)
                .map_err(|e| reject(source.clone(), "bundle-format", e))?;
            Ok((bundle, Signs::Payload(payload.clone())))
        })();
        Candidate {
            source,
            listed_predicate_type: None,
            prepared,
        }
    }

    /// Unpacks one legacy attestation layer (a DSSE envelope and the
    /// annotations cosign writes). That its statement names the image is
    /// checked at verification, as for referrer bundles.
    fn legacy_attestation(source: Source, layer: &legacy::Layer) -> Candidate {
        let prepared = layer
            .payload
            .as_ref()
            .map_err(|e| reject(source.clone(), "payload", e.clone()))
            .and_then(|envelope| {
                legacy::bundle_from_attestation_layer(envelope, &layer.descriptor.annotations)
                    .map_err(|e| reject(source.clone(), "bundle-format", e))
            })
            .map(|bundle| (bundle, Signs::Statement));
        Candidate {
            source,
            listed_predicate_type: layer
                .descriptor
                .annotations
                .get(legacy::PREDICATE_TYPE_ANNOTATION)
                .cloned(),
            prepared,
        }
    }

    /// The in-toto statement this material carries (a DSSE payload), as
    /// JSON: the input of Rego conditions. Only as trustworthy as a
    /// [`Candidate::verify`] that passed; `None` for simple-signing
    /// payloads and unreadable material.
    pub fn statement_json(&self) -> Option<serde_json::Value> {
        let (bundle, _) = self.prepared.as_ref().ok()?;
        let envelope = bundle.dsse_envelope.as_ref()?;
        signet_model::from_json_slice(&envelope.payload).ok()
    }

    /// Unpacks one referrer bundle.
    fn referrer(source: Source, referrer: &referrers::BundleReferrer) -> Candidate {
        match &referrer.bundle {
            Ok(raw) => Candidate::bundle(source, raw, referrer.predicate_type.clone()),
            Err(e) => Candidate {
                prepared: Err(reject(source.clone(), "bundle-format", e.clone())),
                source,
                listed_predicate_type: referrer.predicate_type.clone(),
            },
        }
    }

    /// A Sigstore bundle whose DSSE statement is about the image (a
    /// referrer's, or one read from a file).
    pub fn bundle(source: Source, raw: &[u8], listed_predicate_type: Option<String>) -> Candidate {
        let prepared = Bundle::from_json(raw)
            .map_err(|e| reject(source.clone(), "bundle-format", e.to_string()))
            .map(|bundle| (bundle, Signs::Statement));
        Candidate {
            source,
            listed_predicate_type,
            prepared,
        }
    }

    /// Verifies the material against `digest` under `policy`: signature,
    /// log and certificate checks by the verifier, then (for statements)
    /// that the statement is about `digest`. The predicate type is the
    /// caller's to judge (see [`Candidate::verify_signature`]).
    pub fn verify(
        &self,
        verifier: &Verifier,
        policy: &SignerPolicy,
        digest: &Digest,
    ) -> Result<Accepted, Rejected> {
        let (bundle, signs) = self.prepared.as_ref().map_err(Clone::clone)?;
        let image = Artifact::Digest {
            algorithm: HashAlgorithm::Sha256,
            digest: digest.bytes().to_vec(),
        };
        let artifact = match signs {
            Signs::Payload(payload) => Artifact::Bytes(payload),
            Signs::Statement => image,
        };
        let verified = verifier
            .verify(bundle, &artifact, policy)
            .map_err(|e| reject(self.source.clone(), e.check.name(), e.reason))?;
        if matches!(signs, Signs::Statement) && verified.statement.is_none() {
            return Err(reject(
                self.source.clone(),
                "predicate-type",
                "a message signature where an in-toto statement was expected",
            ));
        }
        Ok(Accepted {
            source: self.source.clone(),
            verified,
        })
    }

    /// [`Candidate::verify`], and that the material is an image signature
    /// (a simple-signing payload, or a statement with cosign's
    /// image-signature predicate type), not an attestation.
    pub fn verify_signature(
        &self,
        verifier: &Verifier,
        policy: &SignerPolicy,
        digest: &Digest,
    ) -> Result<Accepted, Rejected> {
        let accepted = self.verify(verifier, policy, digest)?;
        match &accepted.verified.statement {
            Some(s) if s.predicate_type != SIGN_PREDICATE_TYPE => Err(reject(
                self.source.clone(),
                "predicate-type",
                format!(
                    "an attestation of type {:?}, not an image signature",
                    s.predicate_type
                ),
            )),
            _ => Ok(accepted),
        }
    }

    /// [`Candidate::verify`], and that the verified statement's predicate
    /// type is `predicate_type` (check `predicate-type` otherwise).
    pub fn verify_attestation(
        &self,
        verifier: &Verifier,
        policy: &SignerPolicy,
        digest: &Digest,
        predicate_type: &str,
    ) -> Result<Accepted, Rejected> {
        let accepted = self.verify(verifier, policy, digest)?;
        match &accepted.verified.statement {
            Some(s) if s.predicate_type == predicate_type => Ok(accepted),
            Some(s) => Err(reject(
                self.source.clone(),
                "predicate-type",
                format!(
                    "an attestation of type {:?}, not {predicate_type:?}",
                    s.predicate_type
                ),
            )),
            None => Err(reject(
                self.source.clone(),
                "predicate-type",
                "a message signature, not an attestation",
            )),
        }
    }
}

/// Resolves `reference` once and collects every signature and attestation
/// of both layouts for the digest it names.
pub fn collect(
    registry: &Registry,
    reference: &Reference,
    given: &str,
) -> Result<ImageMaterial, OciError> {
    gather(registry, reference, given, true)
}

/// [`collect`]; the legacy `.att` tag is read only with
/// `legacy_attestations` (image-signature verification has no use for it).
fn gather(
    registry: &Registry,
    reference: &Reference,
    given: &str,
    legacy_attestations: bool,
) -> Result<ImageMaterial, OciError> {
    let subject = registry.resolve(reference)?;
    let digest = subject.digest;
    let image = reference.at_digest(&digest);
    let mut material = ImageMaterial {
        reference: given.to_string(),
        digest: digest.clone(),
        signatures: Vec::new(),
        attestations: Vec::new(),
    };
    // The three places are independent: ask the registry for them at once
    // (an uncached admission decision waits for the slowest, not the sum).
    // Results are taken in a fixed order, so the material is the same.
    let (referrers, legacy_signatures, legacy_attestations) = std::thread::scope(|scope| {
        let referrers = scope.spawn(|| referrers::bundles(registry, &image, &digest));
        let attestations = legacy_attestations
            .then(|| scope.spawn(|| legacy::read_attestations(registry, &image, &digest)));
        let signatures = legacy::read(registry, &image, &digest);
        // A panic in a read is not an answer: it goes on up, as it would
        // have without the threads.
        fn joined<T>(r: std::thread::Result<T>) -> T {
            r.unwrap_or_else(|p| std::panic::resume_unwind(p))
        }
        (
            joined(referrers.join()),
            signatures,
            attestations.map(|a| joined(a.join())),
        )
    });
    let (referrers, unusable) = usable(referrers, format!("the referrers of {digest}"))?;
    material.signatures.extend(unusable);
    for referrer in referrers {
        let source = Source::Referrer {
            manifest: referrer.manifest_digest.clone(),
        };
        let candidate = Candidate::referrer(source, &referrer);
        // The listing's annotation only sorts; verification decides.
        match referrer.predicate_type.as_deref() {
            Some(p) if p != SIGN_PREDICATE_TYPE => material.attestations.push(candidate),
            _ => material.signatures.push(candidate),
        }
    }
    let tag = legacy::signature_tag(&digest);
    let (legacy_signatures, unusable) = usable(legacy_signatures, format!("legacy {tag}"))?;
    material.signatures.extend(unusable);
    for layer in legacy_signatures {
        let source = Source::Legacy {
            tag: tag.clone(),
            layer: layer.descriptor.digest.clone(),
        };
        material
            .signatures
            .push(Candidate::legacy(&digest, source, &layer));
    }
    if let Some(legacy_attestations) = legacy_attestations {
        let tag = legacy::attestation_tag(&digest);
        let (legacy_attestations, unusable) = usable(legacy_attestations, format!("legacy {tag}"))?;
        material.attestations.extend(unusable);
        for layer in legacy_attestations {
            let source = Source::Legacy {
                tag: tag.clone(),
                layer: layer.descriptor.digest.clone(),
            };
            material
                .attestations
                .push(Candidate::legacy_attestation(source, &layer));
        }
    }
    Ok(material)
}

/// What one place held, or, when its content is unusable (a `.sig` tag
/// naming an index or garbage, too many attachments), nothing plus one
/// rejected candidate saying why: the other places are still verified, so
/// whoever can push one bad tag cannot hide the image's good signatures. A
/// registry that cannot be asked stays an error (the answer is unknown).
fn usable<T>(
    read: Result<Vec<T>, OciError>,
    place: String,
) -> Result<(Vec<T>, Option<Candidate>), OciError> {
    match read {
        Ok(found) => Ok((found, None)),
        Err(
            e @ (OciError::Malformed { .. }
            | OciError::TooLarge { .. }
            | OciError::DigestMismatch { .. }),
        ) => {
            let source = Source::Place { what: place };
            Ok((
                Vec::new(),
                Some(Candidate {
                    source: source.clone(),
                    listed_predicate_type: None,
                    prepared: Err(reject(source, "layout", e.to_string())),
                }),
            ))
        }
        Err(e) => Err(e),
    }
}

/// Verifies every signature of `material` under `policy`.
pub fn verify_signatures(
    material: &ImageMaterial,
    verifier: &Verifier,
    policy: &SignerPolicy,
) -> ImageVerdict {
    let mut verdict = ImageVerdict {
        reference: material.reference.clone(),
        digest: material.digest.clone(),
        accepted: Vec::new(),
        rejected: Vec::new(),
    };
    for candidate in &material.signatures {
        match candidate.verify_signature(verifier, policy, &material.digest) {
            Ok(a) => verdict.accepted.push(a),
            Err(r) => verdict.rejected.push(r),
        }
    }
    verdict
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
    let material = gather(registry, reference, given, false)?;
    Ok(verify_signatures(&material, verifier, policy))
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
