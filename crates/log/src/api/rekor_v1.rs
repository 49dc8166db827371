//! Rekor v1 API (`sigstore/rekor` openapi.yaml), for cosign and other
//! clients that speak it unchanged.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use signet_model::encoding::{decode_base64, encode_base64, encode_hex, Hex32};
use signet_tlog::merkle::Hash;

use super::{extracted, ApiError, Ctx};
use crate::entry::{key_index, prepare_v1, searchable_digest, Signer};
use crate::sequencer::{Outcome, TreeHead};
use crate::storage::StoredEntry;
use crate::tiles::TILE_WIDTH;
use crate::tree::Plan;

/// Most entries one retrieve call may ask for (as Rekor).
pub const MAX_RETRIEVE: usize = 10;
/// Most UUIDs one index search returns; a search that matches more is an
/// error asking to narrow it (Rekor's API has no paging), never a cut list.
pub const MAX_SEARCH_RESULTS: usize = 10_000;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/api/v1/log", get(log_info))
        .route("/api/v1/log/publicKey", get(public_key))
        .route("/api/v1/log/proof", get(consistency))
        .route("/api/v1/log/entries", post(create).get(entry_by_index))
        .route("/api/v1/log/entries/retrieve", post(retrieve))
        .route("/api/v1/log/entries/{uuid}", get(entry_by_uuid))
        .route("/api/v1/index/retrieve", post(search_index))
}

fn uuid(leaf: &Hash) -> String {
    encode_hex(leaf)
}

/// The signed entry timestamp: the log's signature over the RFC 8785 JSON
/// of `{body, integratedTime, logID, logIndex}` (`body` in base64).
fn set(ctx: &Ctx, body: &str, time: i64, index: u64) -> Result<Vec<u8>, ApiError> {
    let time = u64::try_from(time).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "negative integrated time",
        )
    })?;
    let payload =
        signet_model::rekor::set_payload_of_base64(body, time, &ctx.signer.log_id(), index);
    ctx.signer
        .sign(payload.as_bytes())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// A Rekor v1 `LogEntry`, serialized straight from borrowed parts (fields
/// in RFC 8785 order, as Rekor writes them).
#[derive(Serialize)]
struct LogEntry {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: Hex32,
    #[serde(rename = "logIndex")]
    log_index: u64,
    verification: Verification,
}

#[derive(Serialize)]
struct Verification {
    #[serde(rename = "inclusionProof")]
    inclusion_proof: InclusionProof,
    #[serde(rename = "signedEntryTimestamp")]
    signed_entry_timestamp: String,
}

#[derive(Serialize)]
struct InclusionProof {
    checkpoint: String,
    hashes: Vec<Hex32>,
    #[serde(rename = "logIndex")]
    log_index: u64,
    #[serde(rename = "rootHash")]
    root_hash: Hex32,
    #[serde(rename = "treeSize")]
    tree_size: u64,
}

/// `{ "<uuid>": LogEntry }`.
type LogEntries = BTreeMap<String, LogEntry>;

fn log_entry(
    ctx: &Ctx,
    uuid: String,
    body: &[u8],
    time: i64,
    index: u64,
    head: &TreeHead,
    proof: &[Hash],
) -> Result<LogEntries, ApiError> {
    let body = encode_base64(body);
    let set = set(ctx, &body, time, index)?;
    let entry = LogEntry {
        body,
        integrated_time: time,
        log_id: Hex32::new(&ctx.signer.log_id()),
        log_index: index,
        verification: Verification {
            inclusion_proof: InclusionProof {
                checkpoint: head.checkpoint.to_string(),
                hashes: proof.iter().map(Hex32::new).collect(),
                log_index: index,
                root_hash: Hex32::new(&head.root),
                tree_size: head.size,
            },
            signed_entry_timestamp: encode_base64(&set),
        },
    };
    Ok(BTreeMap::from([(uuid, entry)]))
}

async fn stored_entry_json(ctx: &Ctx, e: &StoredEntry) -> Result<LogEntries, ApiError> {
    let (head, proof) = ctx.inclusion(e.index).await?;
    log_entry(
        ctx,
        uuid(&e.leaf_hash),
        &e.body,
        e.integrated_time,
        e.index,
        &head,
        &proof,
    )
}

fn location(uuid: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("/api/v1/log/entries/{uuid}"))
        .unwrap_or(HeaderValue::from_static("/api/v1/log/entries"))
}

async fn create(
    State(ctx): State<Ctx>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = extracted(body)?;
    let prepared = prepare_v1(&body)?;
    // Hex once per append: Location, ETag and the answer's key.
    let id = uuid(&prepared.leaf_hash);
    let canonical_body = prepared.canonical.clone();
    let mut headers = HeaderMap::new();
    headers.insert(header::LOCATION, location(&id));
    match ctx.submit(prepared).await? {
        Outcome::Logged(l) => {
            if let Ok(etag) = HeaderValue::from_str(&id) {
                headers.insert(header::ETAG, etag);
            }
            let value = log_entry(
                &ctx,
                id,
                &canonical_body,
                l.integrated_time,
                l.index,
                &l.head,
                &l.proof,
            )?;
            // Sized up front: the body in base64 and a proof of up to 64
            // hashes (axum's `Json` would start at 128 bytes and regrow).
            let mut answer = Vec::with_capacity(canonical_body.len() * 4 / 3 + 6 * 1024);
            serde_json::to_writer(&mut answer, &value)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok((StatusCode::CREATED, headers, answer).into_response())
        }
        Outcome::Duplicate { index } => {
            let err = ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "an equivalent entry already exists in the transparency log with UUID {id} at index {index}"
                ),
            );
            Ok((headers, err).into_response())
        }
    }
}

async fn entry_by_uuid(
    State(ctx): State<Ctx>,
    uuid: Result<Path<String>, PathRejection>,
) -> Result<Json<LogEntries>, ApiError> {
    let Path(uuid) = extracted(uuid)?;
    let e = ctx.entry_by_uuid(&uuid).await?;
    Ok(Json(stored_entry_json(&ctx, &e).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexQuery {
    log_index: u64,
}

async fn entry_by_index(
    State(ctx): State<Ctx>,
    query: Result<Query<IndexQuery>, QueryRejection>,
) -> Result<Json<LogEntries>, ApiError> {
    let Query(q) = extracted(query)?;
    let e = ctx.entry_by_index(q.log_index).await?;
    Ok(Json(stored_entry_json(&ctx, &e).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetrieveRequest {
    #[serde(default, rename = "entryUUIDs")]
    entry_uuids: Vec<String>,
    #[serde(default)]
    log_indexes: Vec<u64>,
    /// Proposed entries, found by their canonical form (as Rekor does).
    #[serde(default)]
    entries: Vec<Box<serde_json::value::RawValue>>,
}

async fn retrieve(
    State(ctx): State<Ctx>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Vec<LogEntries>>, ApiError> {
    let body = extracted(body)?;
    let req: RetrieveRequest = signet_model::from_json_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed request: {e}")))?;
    if req.entry_uuids.len() + req.log_indexes.len() + req.entries.len() > MAX_RETRIEVE {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_RETRIEVE} entries per request"
        )));
    }
    let mut out = Vec::new();
    for u in &req.entry_uuids {
        match ctx.entry_by_uuid(u).await {
            Ok(e) => out.push(stored_entry_json(&ctx, &e).await?),
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    for proposed in &req.entries {
        // Checked as an append would be: an entry that could not be logged
        // is a 400 saying why, not an empty answer.
        let leaf = prepare_v1(proposed.get().as_bytes())?.leaf_hash;
        match ctx.entry_by_leaf(leaf).await {
            Ok(e) => out.push(stored_entry_json(&ctx, &e).await?),
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    for &i in &req.log_indexes {
        match ctx.entry_by_index(i).await {
            Ok(e) => out.push(stored_entry_json(&ctx, &e).await?),
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct SearchPublicKey {
    format: String,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    #[serde(default)]
    hash: Option<String>,
    #[serde(default)]
    public_key: Option<SearchPublicKey>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    operator: Option<String>,
}

fn hash_key(hash: &str) -> Result<String, ApiError> {
    let (alg, value) = match hash.split_once(':') {
        Some((a, v)) => (a, v),
        None => ("sha256", hash),
    };
    if !matches!(alg, "sha256" | "sha384" | "sha512") {
        return Err(ApiError::bad_request("unsupported hash algorithm"));
    }
    searchable_digest(alg, value).ok_or_else(|| ApiError::bad_request("malformed hash"))
}

async fn search_index(
    State(ctx): State<Ctx>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Vec<String>>, ApiError> {
    let body = extracted(body)?;
    let req: SearchRequest = signet_model::from_json_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed request: {e}")))?;
    let mut keys = Vec::new();
    if let Some(h) = &req.hash {
        keys.push(hash_key(h)?);
    }
    if let Some(pk) = &req.public_key {
        if pk.format != "x509" {
            return Err(ApiError::bad_request("only x509 public keys are supported"));
        }
        let pem_bytes = pk
            .content
            .as_deref()
            .and_then(|c| decode_base64(c).ok())
            .ok_or_else(|| ApiError::bad_request("publicKey.content must be base64 PEM"))?;
        let signer = Signer::from_pem(&pem_bytes)?;
        keys.push(key_index(&signer.key));
    }
    if let Some(email) = &req.email {
        keys.push(format!("email:{}", email.to_lowercase()));
    }
    if keys.is_empty() {
        return Err(ApiError::bad_request(
            "at least one of hash, publicKey and email is required",
        ));
    }
    let and = match req.operator.as_deref() {
        None | Some("or") => false,
        Some("and") => true,
        Some(_) => return Err(ApiError::bad_request("operator must be \"and\" or \"or\"")),
    };
    // Each key's matches in the published tree, and whether that list is
    // all of them: a search never answers a silently cut list.
    let head = ctx.head();
    let mut lists = Vec::with_capacity(keys.len());
    for k in &keys {
        let mut found = ctx.storage.search(k, MAX_SEARCH_RESULTS + 1).await?;
        let complete = found.len() <= MAX_SEARCH_RESULTS;
        found.retain(|&i| i < head.size);
        lists.push((k, found.into_iter().collect::<BTreeSet<u64>>(), complete));
    }
    let too_many = || {
        ApiError::bad_request(format!(
            "more than {MAX_SEARCH_RESULTS} entries match; narrow the search \
             (another key with operator \"and\")"
        ))
    };
    let mut matches = BTreeSet::new();
    if and {
        // Candidates from the shortest complete list; membership in a list
        // that was cut is asked of the entry's own stored keys.
        let (first, candidates) = lists
            .iter()
            .enumerate()
            .filter(|(_, (_, _, complete))| *complete)
            .min_by_key(|(_, (_, found, _))| found.len())
            .map(|(i, (_, found, _))| (i, found))
            .ok_or_else(too_many)?;
        'candidates: for &index in candidates {
            for (j, (key, found, complete)) in lists.iter().enumerate() {
                let member = j == first
                    || if *complete {
                        found.contains(&index)
                    } else {
                        ctx.storage.has_search_key(index, key).await?
                    };
                if !member {
                    continue 'candidates;
                }
            }
            matches.insert(index);
        }
    } else {
        for (_, found, complete) in &lists {
            if !complete {
                return Err(too_many());
            }
            matches.extend(found);
        }
        if matches.len() > MAX_SEARCH_RESULTS {
            return Err(too_many());
        }
    }
    // UUIDs are leaf hashes: read from the level-0 tiles, not the entries.
    let mut uuids = Vec::with_capacity(matches.len());
    let mut tile: Option<(u64, std::sync::Arc<Vec<Hash>>)> = None;
    for index in matches {
        let n = index / TILE_WIDTH;
        if tile.as_ref().is_none_or(|(at, _)| *at != n) {
            let width = (head.size - n * TILE_WIDTH).min(TILE_WIDTH) as usize;
            tile = Some((n, ctx.tile((0, n), width).await?));
        }
        let leaf = tile
            .as_ref()
            .and_then(|(_, t)| t.get((index % TILE_WIDTH) as usize))
            .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "tile too short"))?;
        uuids.push(uuid(leaf));
    }
    Ok(Json(uuids))
}

async fn log_info(State(ctx): State<Ctx>) -> Json<Value> {
    let head = ctx.head();
    Json(json!({
        "rootHash": encode_hex(head.root),
        "treeSize": head.size,
        "signedTreeHead": &*head.checkpoint,
        "treeID": ctx.tree_id().to_string(),
        "inactiveShards": [],
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofQuery {
    #[serde(default)]
    first_size: Option<u64>,
    #[serde(default)]
    last_size: Option<u64>,
}

async fn consistency(
    State(ctx): State<Ctx>,
    query: Result<Query<ProofQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = extracted(query)?;
    let head = ctx.head();
    let first = q.first_size.unwrap_or(1);
    let last = q.last_size.unwrap_or(head.size);
    if last > head.size {
        return Err(ApiError::bad_request(format!(
            "lastSize {last} is beyond the tree size {}",
            head.size
        )));
    }
    let hashes = ctx.hashes(&Plan::consistency(first, last)?).await?;
    let root = ctx.root(last).await?;
    Ok(Json(json!({
        "rootHash": encode_hex(root),
        "hashes": hashes.iter().map(encode_hex).collect::<Vec<_>>(),
    })))
}

async fn public_key(State(ctx): State<Ctx>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        crate::entry::pem_lf("PUBLIC KEY", ctx.signer.public_key().spki_der()),
    )
        .into_response()
}
