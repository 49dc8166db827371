//! C2SP tlog-tiles read path: `/checkpoint`, `/tile/<L>/<N>[.p/<W>]` and
//! `/tile/entries/<N>[.p/<W>]`.
//!
//! A tile of a given width never changes, so every tile answer is
//! cacheable forever; only the checkpoint moves.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{ApiError, Ctx};
use crate::tiles::{push_bundle_entry, TileId, TILE_WIDTH};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*rest}", get(tile))
}

async fn checkpoint(State(ctx): State<Ctx>) -> Response {
    let head = ctx.head();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        head.checkpoint.to_string(),
    )
        .into_response()
}

fn bytes(data: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        data,
    )
        .into_response()
}

async fn tile(State(ctx): State<Ctx>, Path(rest): Path<String>) -> Result<Response, ApiError> {
    let id = TileId::parse(&rest).ok_or_else(|| ApiError::not_found("no such tile"))?;
    let width = usize::from(id.width);
    let size = ctx.head().size;
    match id.level {
        Some(level) => {
            // Only widths the committed tree has reached exist.
            let nodes = crate::tiles::nodes_at_tile_level(size, level);
            if id
                .index
                .saturating_mul(TILE_WIDTH)
                .saturating_add(width as u64)
                > nodes
            {
                return Err(ApiError::not_found("no such tile"));
            }
            let hashes = ctx
                .storage
                .tile((level, id.index))
                .await?
                .filter(|t| t.len() >= width)
                .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "tile missing"))?;
            Ok(bytes(hashes[..width].iter().flatten().copied().collect()))
        }
        None => {
            let start = id.index.saturating_mul(TILE_WIDTH);
            if start.saturating_add(width as u64) > size {
                return Err(ApiError::not_found("no such entry bundle"));
            }
            let entries = ctx.storage.entries_range(start, width as u64).await?;
            if entries.len() != width {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "entries missing",
                ));
            }
            let mut out = Vec::new();
            for e in &entries {
                if !push_bundle_entry(&mut out, &e.body) {
                    return Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "entry too large for a bundle",
                    ));
                }
            }
            Ok(bytes(out))
        }
    }
}
