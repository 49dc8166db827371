//! The verification pipeline: one bundle, one artifact, one signer policy,
//! against trust material built once.
//!
//! The checks run in a fixed order and the first failure is returned as a
//! [`VerifyError`] naming its [`Check`]. Nothing here does I/O.

use signet_crypto::HashAlgorithm;
use signet_model::bundle::{Bundle, Content, MessageSignature};
use signet_model::dsse::Envelope;
use signet_model::intoto::{self, Statement};
use signet_pki::cert::Certificate;
use signet_pki::chain::Purpose;
use signet_pki::fulcio::{self, FulcioIdentity};
use signet_pki::sct;
use signet_pki::timestamp;

use crate::artifact::Artifact;
use crate::body;
use crate::error::{fail, Check, VerifyError};
use crate::policy::SignerPolicy;
use crate::signer::Signer;
use crate::tlog::{self, VerifiedEntry};
use crate::trust::TrustMaterial;

/// Knobs of the pipeline; the defaults are Sigstore's.
#[derive(Debug, Clone)]
pub struct Options {
    /// Distinct logs whose entries must verify.
    pub tlog_threshold: usize,
    /// Distinct sources of trusted signing times required: logs that
    /// signed an integrated time, and RFC 3161 timestamp authorities.
    pub time_threshold: usize,
    /// Distinct CT logs whose embedded SCTs a keyless certificate must carry.
    pub sct_threshold: usize,
    /// "Now" in unix seconds; `None` reads the clock.
    pub now: Option<i64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tlog_threshold: 1,
            time_threshold: 1,
            sct_threshold: 1,
            now: None,
        }
    }
}

/// Where a trusted signing time came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "source")]
pub enum SigningTime {
    /// The integrated time a log signed (SET).
    Log { url: String, time: i64 },
    /// An RFC 3161 timestamp from a trusted authority.
    Timestamp { authority: usize, time: i64 },
}

impl SigningTime {
    pub fn time(&self) -> i64 {
        match self {
            SigningTime::Log { time, .. } | SigningTime::Timestamp { time, .. } => *time,
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    pub media_type: String,
    pub signing_times: Vec<SigningTime>,
    /// Log URL and index of each verified entry.
    pub log_entries: Vec<(String, u64)>,
    /// The certificate identity (keyless bundles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The in-toto statement of a DSSE bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<Statement>,
    #[serde(skip)]
    pub identity: Option<FulcioIdentity>,
}

/// A verifier bound to trust material. Build once, verify many bundles,
/// from many threads.
#[derive(Debug)]
pub struct Verifier {
    trust: TrustMaterial,
    options: Options,
}

fn hash_algorithm(name: &str) -> Result<HashAlgorithm, VerifyError> {
    match HashAlgorithm::from_proto_name(name) {
        Some(hash) => Ok(hash),
        None => fail(
            Check::BundleFormat,
            format!("unsupported message digest algorithm {name:?}"),
        ),
    }
}

/// How many distinct values `items` yields.
fn distinct<T: Ord>(items: impl Iterator<Item = T>) -> usize {
    items.collect::<std::collections::BTreeSet<T>>().len()
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Verifier {
    pub fn new(trust: TrustMaterial, options: Options) -> Self {
        Verifier { trust, options }
    }

    pub fn trust(&self) -> &TrustMaterial {
        &self.trust
    }

    pub fn verify(
        &self,
        bundle: &Bundle,
        artifact: &Artifact<'_>,
        policy: &SignerPolicy,
    ) -> Result<Verified, VerifyError> {
        let now = self.options.now.unwrap_or_else(now_unix);

        // 1. Format.
        bundle
            .validate()
            .map_err(|e| VerifyError::new(Check::BundleFormat, e.to_string()))?;
        let content = bundle
            .content()
            .map_err(|e| VerifyError::new(Check::BundleFormat, e.to_string()))?;

        // 2. Signer material against the policy.
        let (signer, extra_certs) = self.signer(bundle, policy)?;

        // 3. The signature over the artifact, and what it signs.
        let (signature_bytes, statement) = match content {
            Content::Message(m) => (check_message_signature(m, artifact, &signer)?, None),
            Content::Dsse(e) => {
                let (sig, statement) = check_dsse_signature(e, artifact, &signer)?;
                (sig, statement)
            }
        };

        // 4. Log entries: proofs, promises, and bodies that describe this
        //    very content.
        let mut entries: Vec<VerifiedEntry<'_>> = Vec::new();
        let tlog_entries = &bundle.verification_material.tlog_entries;
        for (i, entry) in tlog_entries.iter().enumerate() {
            // As sigstore-go: a repeated entry must not count twice toward
            // a threshold.
            if tlog_entries[..i]
                .iter()
                .any(|e| e.log_id == entry.log_id && e.log_index == entry.log_index)
            {
                return fail(Check::BundleFormat, "the same log entry appears twice");
            }
            let verified = tlog::verify_entry(entry, &self.trust, now)?;
            match content {
                Content::Message(m) => body::check_message(&verified.body, m, artifact, &signer)?,
                Content::Dsse(e) => body::check_dsse(&verified.body, e, &signer)?,
            }
            entries.push(verified);
        }
        // As sigstore-go, thresholds count independent witnesses: distinct
        // logs here, distinct logs and authorities for times, distinct CT
        // logs for SCTs. One log vouching twice (two entries, or one entry
        // with and without its promise) is one witness.
        let logs = distinct(entries.iter().map(|e| e.log.log_id.as_slice()));
        if logs < self.options.tlog_threshold {
            return fail(
                Check::Threshold,
                format!(
                    "verified log entries from {logs} distinct logs, {} required",
                    self.options.tlog_threshold
                ),
            );
        }

        // 5. Trusted times: log-signed integrated times and RFC 3161
        //    timestamps over the signature.
        let mut times: Vec<SigningTime> = entries
            .iter()
            .filter_map(|e| {
                e.signed_time.map(|time| SigningTime::Log {
                    url: e.log.base_url.clone(),
                    time,
                })
            })
            .collect();
        // As sigstore-go: a timestamp that does not verify is not counted
        // (a bundle may carry tokens of authorities this root does not
        // list), but if too few times remain, its failure is the reason.
        let mut timestamp_failure = None;
        if let Some(data) = &bundle.verification_material.timestamp_verification_data {
            let tokens = &data.rfc3161_timestamps;
            for (i, ts) in tokens.iter().enumerate() {
                if tokens[..i].contains(ts) {
                    return fail(Check::Timestamp, "the same timestamp appears twice");
                }
                match timestamp::verify_timestamp(
                    &ts.signed_timestamp,
                    signature_bytes,
                    &self.trust.tsas,
                ) {
                    Ok(v) if v.time > now + tlog::MAX_CLOCK_SKEW_SECS => {
                        timestamp_failure = Some(format!("timestamp {} is in the future", v.time));
                    }
                    Ok(v) => times.push(SigningTime::Timestamp {
                        authority: v.authority_index,
                        time: v.time,
                    }),
                    Err(e) => timestamp_failure = Some(e.to_string()),
                }
            }
        }
        let time_sources = distinct(times.iter().map(|t| match t {
            SigningTime::Log { url, .. } => (0, url.as_str(), 0),
            SigningTime::Timestamp { authority, .. } => (1, "", *authority),
        }));
        if time_sources < self.options.time_threshold {
            if let Some(reason) = timestamp_failure {
                return fail(Check::Timestamp, reason);
            }
            return fail(
                Check::Threshold,
                format!(
                    "trusted signing times from {time_sources} distinct logs or timestamp \
                     authorities, {} required",
                    self.options.time_threshold
                ),
            );
        }

        // 6. Keyless: the certificate, at every trusted time; its SCT; its
        //    identity.
        let mut identity = None;
        if let (Signer::Certificate(leaf), SignerPolicy::Identity(wanted)) = (&signer, policy) {
            for t in &times {
                if !leaf.is_valid_at(t.time()) {
                    return fail(
                        Check::CertificateValidity,
                        format!(
                            "signing certificate (valid {}..={}) was not valid at {} ({:?})",
                            leaf.not_before(),
                            leaf.not_after(),
                            t.time(),
                            t
                        ),
                    );
                }
            }
            let mut chain = None;
            for t in &times {
                chain = Some(
                    self.trust
                        .cas
                        .verify(leaf, &extra_certs, t.time(), Purpose::CodeSigning)
                        .map_err(|e| VerifyError::new(Check::CertificateChain, e.to_string()))?,
                );
            }
            let Some(chain) = chain else {
                return fail(Check::Threshold, "no trusted signing time");
            };
            let scts = sct::verify_embedded_scts(leaf, &chain.issuer, &self.trust.ctlogs)
                .map_err(|e| VerifyError::new(Check::Sct, e.to_string()))?;
            // By log ID, not trust-root entry: one log may be listed once
            // per validity window.
            let ct_logs = distinct(scts.iter().map(|s| s.sct.log_id));
            if ct_logs < self.options.sct_threshold {
                return fail(
                    Check::Sct,
                    format!(
                        "verified SCTs from {ct_logs} distinct CT logs, {} required",
                        self.options.sct_threshold
                    ),
                );
            }
            let id = fulcio::identity(leaf)
                .map_err(|e| VerifyError::new(Check::Identity, e.to_string()))?;
            wanted.check(&id)?;
            identity = Some(id);
        }

        Ok(Verified {
            media_type: bundle.media_type.clone(),
            signing_times: times,
            log_entries: entries
                .iter()
                .map(|e| (e.log.base_url.clone(), e.log_index))
                .collect(),
            subject: identity
                .as_ref()
                .map(|i| i.san_values().into_iter().map(str::to_string).collect()),
            issuer: identity.as_ref().and_then(|i| i.issuer.clone()),
            statement,
            identity,
        })
    }

    /// Picks the signer out of the verification material and checks that
    /// it is the kind the policy asks for.
    fn signer(
        &self,
        bundle: &Bundle,
        policy: &SignerPolicy,
    ) -> Result<(Signer, Vec<Certificate>), VerifyError> {
        let vm = &bundle.verification_material;
        match policy {
            SignerPolicy::Key(key) => {
                if vm.public_key.is_none() {
                    return fail(
                        Check::SignerMaterial,
                        "a key was given, but the bundle is signed with a certificate",
                    );
                }
                Ok((Signer::Key(key.clone()), Vec::new()))
            }
            SignerPolicy::Identity(_) => {
                if vm.public_key.is_some() {
                    return fail(
                        Check::SignerMaterial,
                        "the bundle is signed with a key, not a certificate: verify it with --key",
                    );
                }
                let ders = bundle.certificates();
                let Some((leaf_der, rest)) = ders.split_first() else {
                    return fail(Check::SignerMaterial, "the bundle has no certificate");
                };
                let leaf = Certificate::from_der(leaf_der).map_err(|e| {
                    VerifyError::new(Check::SignerMaterial, format!("signing certificate: {e}"))
                })?;
                let mut extra = Vec::with_capacity(rest.len());
                for der in rest {
                    let cert = Certificate::from_der(der).map_err(|e| {
                        VerifyError::new(Check::SignerMaterial, format!("chain certificate: {e}"))
                    })?;
                    extra.push(cert);
                }
                Ok((Signer::Certificate(leaf), extra))
            }
        }
    }
}

/// Checks a message signature; returns the signature bytes (what a
/// timestamp authority countersigns).
fn check_message_signature<'b>(
    message: &'b MessageSignature,
    artifact: &Artifact<'_>,
    signer: &Signer,
) -> Result<&'b [u8], VerifyError> {
    let algorithm = match &message.message_digest {
        Some(d) => hash_algorithm(&d.algorithm)?,
        None => HashAlgorithm::Sha256,
    };
    let digest = artifact.digest(algorithm)?;
    if let Some(d) = &message.message_digest {
        if d.digest.0 != digest {
            return fail(
                Check::ArtifactDigest,
                "the bundle's message digest is not the artifact's digest",
            );
        }
    }
    let key = signer.key();
    let result = match (key.kind(), artifact) {
        (signet_crypto::KeyKind::Ed25519, Artifact::Bytes(bytes)) => {
            key.verify(bytes, &message.signature)
        }
        (signet_crypto::KeyKind::Ed25519, Artifact::Digest { .. }) => return fail(
            Check::Signature,
            "an Ed25519 signature can only be verified against the artifact itself, not its digest",
        ),
        _ => key.verify_prehashed(algorithm, &digest, &message.signature),
    };
    result.map_err(|e| {
        VerifyError::new(
            Check::Signature,
            format!("signature over the artifact: {e}"),
        )
    })?;
    Ok(&message.signature)
}

/// Checks a DSSE envelope's one signature over its PAE, and that its
/// in-toto statement names the artifact.
fn check_dsse_signature<'b>(
    envelope: &'b Envelope,
    artifact: &Artifact<'_>,
    signer: &Signer,
) -> Result<(&'b [u8], Option<Statement>), VerifyError> {
    let [signature] = envelope.signatures.as_slice() else {
        return fail(
            Check::Signature,
            format!(
                "DSSE envelope must carry exactly one signature, it has {}",
                envelope.signatures.len()
            ),
        );
    };
    signer
        .key()
        .verify(&envelope.pae(), &signature.sig)
        .map_err(|e| VerifyError::new(Check::Signature, format!("DSSE signature: {e}")))?;
    if envelope.payload_type != intoto::PAYLOAD_TYPE {
        return fail(
            Check::StatementSubject,
            format!(
                "DSSE payload type {:?} is not an in-toto statement",
                envelope.payload_type
            ),
        );
    }
    let statement = Statement::from_json(&envelope.payload).map_err(|e| {
        VerifyError::new(Check::StatementSubject, format!("in-toto statement: {e}"))
    })?;
    let (alg_name, algorithm) = match artifact {
        Artifact::Digest {
            algorithm: HashAlgorithm::Sha384,
            ..
        } => ("sha384", HashAlgorithm::Sha384),
        Artifact::Digest {
            algorithm: HashAlgorithm::Sha512,
            ..
        } => ("sha512", HashAlgorithm::Sha512),
        _ => ("sha256", HashAlgorithm::Sha256),
    };
    let digest = signet_model::encoding::encode_hex(artifact.digest(algorithm)?);
    if !statement.has_subject_digest(alg_name, &digest) {
        return fail(
            Check::StatementSubject,
            format!("no subject of the in-toto statement has {alg_name}:{digest}"),
        );
    }
    Ok((&signature.sig, Some(statement)))
}
