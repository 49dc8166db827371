//! The log's Prometheus metrics, served at `GET /metrics`: requests by
//! route and status, append and commit latency, what the sequencer
//! committed, and the tree size. Route labels are the router's route
//! templates (never the raw path), so their number is bounded.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use signet_metrics::{CounterVec, Histogram};

use crate::api::Ctx;

/// Counters shared by the handlers and the sequencer.
#[derive(Default)]
pub struct LogMetrics {
    /// `route`, `method`, `code`.
    pub requests: CounterVec,
    /// Appends (v1 and v2 writes), from request to answer: verification,
    /// waiting for the batch to be durable, answer.
    pub append_latency: Histogram,
    /// One batch's storage commit (one transaction, one fsync).
    pub commit_latency: Histogram,
    /// `result` = `committed` | `failed`: batches, and their entries.
    pub batches: CounterVec,
    pub entries: CounterVec,
    /// Checked submissions by `kind`, `version` and `outcome` = `logged` |
    /// `duplicate` (refused ones are 4xx in `requests`).
    pub submissions: CounterVec,
}

impl std::fmt::Debug for LogMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogMetrics")
    }
}

impl LogMetrics {
    /// A batch of `entries` new entries whose commit took `took`.
    pub fn batch(&self, entries: usize, took: Duration, ok: bool) {
        let result = [("result", if ok { "committed" } else { "failed" })];
        self.commit_latency.observe(took);
        self.batches.inc(&result);
        self.entries.add(&result, entries as u64);
    }

    /// The Prometheus text exposition, with the tree size of `head_size`
    /// and the sequencer's queue.
    pub fn render(&self, head_size: u64, sequencing: bool, queue_depth: usize) -> String {
        let mut out = String::new();
        self.requests.render(
            &mut out,
            "signet_log_http_requests_total",
            "HTTP requests by route template, method and status code.",
            "counter",
        );
        self.append_latency.render(
            &mut out,
            "signet_log_append_seconds",
            "Appends from request to answer (the entry is durable when it is answered).",
        );
        self.commit_latency.render(
            &mut out,
            "signet_log_commit_seconds",
            "Storage commit of one batch (one transaction, one fsync).",
        );
        self.batches.render(
            &mut out,
            "signet_log_batches_total",
            "Batches the sequencer committed or failed to commit.",
            "counter",
        );
        self.entries.render(
            &mut out,
            "signet_log_entries_total",
            "New entries in committed or failed batches.",
            "counter",
        );
        self.submissions.render(
            &mut out,
            "signet_log_submissions_total",
            "Checked submissions by entry kind and version: logged, or a duplicate of an entry.",
            "counter",
        );
        let _ = writeln!(
            out,
            "# HELP signet_log_queue_depth Submissions waiting for the sequencer.\n\
             # TYPE signet_log_queue_depth gauge\nsignet_log_queue_depth {queue_depth}"
        );
        let _ = writeln!(
            out,
            "# HELP signet_log_tree_size Entries in the latest committed checkpoint.\n\
             # TYPE signet_log_tree_size gauge\nsignet_log_tree_size {head_size}"
        );
        let _ = writeln!(
            out,
            "# HELP signet_log_sequencer_active Whether this replica is the sequencer.\n\
             # TYPE signet_log_sequencer_active gauge\nsignet_log_sequencer_active {}",
            u8::from(sequencing)
        );
        out
    }
}

/// Middleware: counts every request by route template and status, and
/// times appends.
pub async fn track(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().clone();
    let append = method == Method::POST && route.ends_with("/log/entries");
    let started = Instant::now();
    let response = next.run(request).await;
    if append {
        ctx.metrics.append_latency.observe(started.elapsed());
    }
    ctx.metrics.requests.inc(&[
        ("route", &route),
        ("method", method.as_str()),
        ("code", response.status().as_str()),
    ]);
    response
}

/// `GET /metrics`.
pub async fn serve(State(ctx): State<Ctx>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ctx.metrics.render(
            ctx.head().size,
            ctx.sequencer.is_active(),
            ctx.sequencer.queue_depth(),
        ),
    )
        .into_response()
}
