//! Checks of one transparency log entry against the trust root: the log is
//! known, the proof leads to a checkpoint the log signed, the promise (SET)
//! is the log's, and the integrated time is plausible.

use signet_model::bundle::TransparencyLogEntry;
use signet_model::rekor::EntryBody;
use signet_tlog::checkpoint::Checkpoint;
use signet_tlog::merkle;
use signet_tlog::note::Note;
use signet_tlog::verifier::NoteVerifier;

use crate::error::{fail, Check, VerifyError};
use crate::trust::{TrustMaterial, TrustedLog};

/// How far in the future an integrated time may lie, for clock skew
/// between the log and this machine.
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;

/// A log entry whose proofs verified.
#[derive(Debug)]
pub struct VerifiedEntry<'t> {
    pub log: &'t TrustedLog,
    pub body: EntryBody,
    /// The integrated time, only when the log signed it (SET verified).
    pub signed_time: Option<i64>,
    pub log_index: u64,
}

pub fn verify_entry<'t>(
    entry: &TransparencyLogEntry,
    trust: &'t TrustMaterial,
    now: i64,
) -> Result<VerifiedEntry<'t>, VerifyError> {
    let Some(log) = trust.tlog(&entry.log_id.key_id) else {
        return fail(
            Check::TlogUnknownLog,
            format!(
                "log ID {} is not in the trusted root",
                signet_model::encoding::encode_hex(&entry.log_id.key_id[..])
            ),
        );
    };
    let body = EntryBody::parse(&entry.canonicalized_body)
        .map_err(|e| VerifyError::new(Check::TlogBody, format!("unreadable entry body: {e}")))?;
    if body.kind() != entry.kind_version.kind || body.version() != entry.kind_version.version {
        return fail(
            Check::TlogBody,
            format!(
                "entry says {} {} but its body is {} {}",
                entry.kind_version.kind,
                entry.kind_version.version,
                body.kind(),
                body.version()
            ),
        );
    }
    if entry.inclusion_promise.is_none() && entry.inclusion_proof.is_none() {
        return fail(
            Check::InclusionProof,
            "entry has neither an inclusion proof nor an inclusion promise",
        );
    }
    let integrated_time = entry.integrated_time.map(|t| t.0).filter(|t| *t > 0);
    let mut signed_time = None;
    if let Some(promise) = &entry.inclusion_promise {
        let Some(time) = integrated_time else {
            return fail(Check::Set, "inclusion promise without an integrated time");
        };
        check_set(entry, log, time, &promise.signed_entry_timestamp)?;
        signed_time = Some(time as i64);
    }
    if let Some(proof) = &entry.inclusion_proof {
        check_inclusion(entry, log, proof)?;
        // Without a SET nothing signs the entry's own index; only the proof
        // does (Rekor v2 logs are not sharded, so the two must agree).
        if entry.inclusion_promise.is_none() && proof.log_index != entry.log_index {
            return fail(
                Check::InclusionProof,
                format!(
                    "entry log index {} is not the proven index {}",
                    entry.log_index.0, proof.log_index.0
                ),
            );
        }
    }
    if let Some(time) = integrated_time {
        let time = i64::try_from(time)
            .map_err(|_| VerifyError::new(Check::IntegratedTime, "integrated time overflows"))?;
        if time > now + MAX_CLOCK_SKEW_SECS {
            return fail(
                Check::IntegratedTime,
                format!("integrated time {time} is in the future (now {now})"),
            );
        }
        if !log.window.contains(time) {
            return fail(
                Check::IntegratedTime,
                format!(
                    "integrated time {time} is outside the validity of log key {}",
                    log.base_url
                ),
            );
        }
    }
    Ok(VerifiedEntry {
        log,
        body,
        signed_time,
        log_index: entry.log_index.0,
    })
}

/// The SET is the log's signature over the RFC 8785 JSON of
/// `{body, integratedTime, logID, logIndex}`.
fn check_set(
    entry: &TransparencyLogEntry,
    log: &TrustedLog,
    integrated_time: u64,
    set: &[u8],
) -> Result<(), VerifyError> {
    let payload = signet_model::rekor::set_payload(
        &entry.canonicalized_body,
        integrated_time,
        &log.log_id,
        entry.log_index.0,
    );
    log.key.verify(payload.as_bytes(), set).map_err(|e| {
        VerifyError::new(
            Check::Set,
            format!(
                "signed entry timestamp does not verify with {}: {e}",
                log.base_url
            ),
        )
    })
}

fn check_inclusion(
    entry: &TransparencyLogEntry,
    log: &TrustedLog,
    proof: &signet_model::bundle::InclusionProof,
) -> Result<(), VerifyError> {
    let root: [u8; 32] = proof
        .root_hash
        .0
        .as_slice()
        .try_into()
        .map_err(|_| VerifyError::new(Check::InclusionProof, "root hash is not 32 bytes"))?;
    let mut hashes = Vec::with_capacity(proof.hashes.len());
    for h in &proof.hashes {
        let h: [u8; 32] =
            h.0.as_slice().try_into().map_err(|_| {
                VerifyError::new(Check::InclusionProof, "proof hash is not 32 bytes")
            })?;
        hashes.push(h);
    }
    let leaf = merkle::leaf_hash(&entry.canonicalized_body);
    merkle::verify_inclusion(proof.log_index.0, proof.tree_size.0, &leaf, &hashes, &root)
        .map_err(|e| VerifyError::new(Check::InclusionProof, e.to_string()))?;

    let Some(envelope) = proof.checkpoint.as_ref().map(|c| c.envelope.as_str()) else {
        // v0.1 bundles may carry a proof without a checkpoint; the SET
        // (required there) is then what binds the entry to the log.
        if entry.inclusion_promise.is_some() {
            return Ok(());
        }
        return fail(Check::Checkpoint, "inclusion proof without a checkpoint");
    };
    let note = Note::parse(envelope)
        .map_err(|e| VerifyError::new(Check::Checkpoint, format!("malformed signed note: {e}")))?;
    let checkpoint = Checkpoint::from_note(&note)
        .map_err(|e| VerifyError::new(Check::Checkpoint, format!("malformed checkpoint: {e}")))?;
    let Some(hint) = log
        .log_id
        .get(..4)
        .and_then(|h| <[u8; 4]>::try_from(h).ok())
    else {
        return fail(Check::TrustRoot, "log ID shorter than a key hint");
    };
    // The checkpoint must be this log's: its origin is the log's name (Rekor
    // v1 appends " - <tree ID>"), and the log signs under that name.
    let origin = checkpoint.origin();
    let own_origin = origin == log.checkpoint_name
        || origin
            .strip_prefix(log.checkpoint_name.as_str())
            .is_some_and(|rest| rest.starts_with(" - "));
    if !own_origin {
        return fail(
            Check::Checkpoint,
            format!(
                "checkpoint origin {origin:?} is not log {}",
                log.checkpoint_name
            ),
        );
    }
    NoteVerifier::new(log.checkpoint_name.as_str(), hint, log.key.clone())
        .and_then(|verifier| verifier.verify(&note))
        .map_err(|e| {
            VerifyError::new(
                Check::Checkpoint,
                format!("checkpoint is not signed by {}: {e}", log.base_url),
            )
        })?;
    if *checkpoint.root_hash() != root || checkpoint.size() != proof.tree_size.0 {
        return fail(
            Check::Checkpoint,
            format!(
                "checkpoint (size {}, root {}) does not match the proof (size {}, root {})",
                checkpoint.size(),
                signet_model::encoding::encode_hex(checkpoint.root_hash()),
                proof.tree_size.0,
                signet_model::encoding::encode_hex(root)
            ),
        );
    }
    Ok(())
}
