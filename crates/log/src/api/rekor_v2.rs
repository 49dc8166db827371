//! Rekor v2 (rekor-tiles) write API: `POST /api/v2/log/entries` with a
//! `CreateEntryRequest` (hashedrekord 0.0.2, dsse 0.0.2), answered with a
//! `TransparencyLogEntry` as bundles carry it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use signet_model::bundle::{Checkpoint, InclusionProof, KindVersion, LogId, TransparencyLogEntry};
use signet_model::encoding::{Base64, Int64};
use signet_model::rekor::EntryBody;
use signet_tlog::merkle::Hash;

use super::{extracted, ApiError, Ctx};
use crate::entry::prepare_v2;
use crate::sequencer::{Outcome, TreeHead};

pub fn routes() -> Router<Ctx> {
    Router::new().route("/api/v2/log/entries", post(create))
}

/// The bundle form of a logged entry (no integrated time: Rekor v2 entries
/// get their time from a timestamp authority).
pub fn tlog_entry(
    ctx: &Ctx,
    body: &EntryBody,
    canonical: &[u8],
    index: u64,
    head: &TreeHead,
    proof: &[Hash],
) -> TransparencyLogEntry {
    TransparencyLogEntry {
        log_index: Int64(index),
        log_id: LogId {
            key_id: Base64(ctx.signer.log_id().to_vec()),
        },
        kind_version: KindVersion {
            kind: body.kind().into(),
            version: body.version().into(),
        },
        integrated_time: None,
        inclusion_promise: None,
        inclusion_proof: Some(InclusionProof {
            log_index: Int64(index),
            root_hash: Base64(head.root.to_vec()),
            tree_size: Int64(head.size),
            hashes: proof.iter().map(|h| Base64(h.to_vec())).collect(),
            checkpoint: Some(Checkpoint {
                envelope: head.checkpoint.to_string(),
            }),
        }),
        canonicalized_body: Base64(canonical.to_vec()),
    }
}

async fn create(
    State(ctx): State<Ctx>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TransparencyLogEntry>), ApiError> {
    let body = extracted(body)?;
    let prepared = prepare_v2(&body)?;
    let entry_body = prepared.body.clone();
    let canonical = prepared.canonical.clone();
    match ctx.submit(prepared).await? {
        Outcome::Logged(l) => Ok((
            StatusCode::CREATED,
            Json(tlog_entry(
                &ctx,
                &entry_body,
                &canonical,
                l.index,
                &l.head,
                &l.proof,
            )),
        )),
        // Idempotent: the same request again gets the existing entry.
        Outcome::Duplicate { index } => {
            let (head, proof) = ctx.inclusion(index).await?;
            Ok((
                StatusCode::OK,
                Json(tlog_entry(
                    &ctx,
                    &entry_body,
                    &canonical,
                    index,
                    &head,
                    &proof,
                )),
            ))
        }
    }
}
