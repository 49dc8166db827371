//! `signet bench admission`: an open-loop load generator for the
//! admission webhook. AdmissionReviews for a Pod are sent at a fixed
//! `--rate` for `--duration` over keep-alive HTTPS connections, whatever
//! the answers' latency: sending never waits for answers, so a server
//! that falls behind shows it (no coordinated omission). A request's
//! latency is counted from when it was sent; how late each was sent
//! against its schedule (the timer's millisecond granularity, or a
//! generator that cannot keep up) is reported apart as the dispatch lag,
//! so that the generator's own pacing error is not charged to the server.
//! Requests that would exceed `--max-in-flight` are not sent and are
//! reported as `skipped`.
//!
//! Cached: every review names the same image. `--uncached`: the reviews
//! cycle through the `--image` list (distinct images/digests); run the
//! server with `--cache-ttl 0 --resolve-ttl 0` to measure every request
//! against the registry.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::bench_cmd::BoxError;

/// Upper bounds (ms) of the report's latency histogram.
const BUCKETS_MS: [f64; 13] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 10000.0,
];

#[derive(Args)]
pub struct AdmissionBenchArgs {
    /// The webhook endpoint (`https://127.0.0.1:PORT/validate` or `/mutate`).
    #[arg(long)]
    url: String,
    /// The CA certificate (PEM) the webhook's certificate chains to.
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Requests per second.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate: u32,
    /// How long to send.
    #[arg(long, default_value = "10s", value_parser = signet_gate::parse_duration)]
    duration: Duration,
    /// The image(s) the reviews name; the first only, unless --uncached.
    #[arg(long = "image", required = true)]
    images: Vec<String>,
    /// Cycle through all --image values (one per request).
    #[arg(long)]
    uncached: bool,
    /// The reviews' namespace.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Most requests outstanding at once.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    allowed: u64,
    denied: u64,
    errors: u64,
    first_error: Option<String>,
}

fn review(uid: &str, image: &str, namespace: &str) -> String {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "bench", "namespace": namespace},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    })
    .to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

pub fn admission_bench(args: AdmissionBenchArgs) -> Result<(), BoxError> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .pool_max_idle_per_host(args.max_in_flight);
    if let Some(path) = &args.cacert {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        builder = builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem)?);
    }
    let client = builder.build()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let total = ((f64::from(args.rate) * args.duration.as_secs_f64()).round() as u64).max(1);
    let images: Vec<String> = if args.uncached {
        args.images.clone()
    } else {
        args.images[..1].to_vec()
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (sent, skipped, wall, mut lags) = runtime.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(args.max_in_flight.max(1)));
        let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
        // Warm the connection pool with one request outside the timing.
        let _ = client
            .post(&args.url)
            .body(review("warmup", &images[0], &args.namespace))
            .send()
            .await;
        let start = Instant::now();
        let (mut sent, mut skipped) = (0u64, 0u64);
        let mut lags = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for i in 0..total {
            let scheduled = start + interval.mul_f64(i as f64);
            tokio::time::sleep_until(scheduled).await;
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                skipped += 1;
                continue;
            };
            sent += 1;
            let uid = format!("bench-{i}");
            let body = review(&uid, &images[(i as usize) % images.len()], &args.namespace);
            let request = client
                .post(&args.url)
                .header("content-type", "application/json")
                .body(body);
            let sent_at = Instant::now();
            lags.push(sent_at.saturating_duration_since(scheduled));
            let tally = tally.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let outcome = async {
                    let r = request.send().await.map_err(|e| e.to_string())?;
                    let status = r.status();
                    let bytes = r.bytes().await.map_err(|e| e.to_string())?;
                    if !status.is_success() {
                        return Err(format!("HTTP {status}"));
                    }
                    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                    if doc["response"]["uid"] != uid.as_str() {
                        return Err("the answer names another uid".to_string());
                    }
                    doc["response"]["allowed"]
                        .as_bool()
                        .ok_or_else(|| "no decision in the answer".to_string())
                }
                .await;
                let latency = sent_at.elapsed();
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                match outcome {
                    Ok(allowed) => {
                        t.latencies.push(latency);
                        if allowed {
                            t.allowed += 1;
                        } else {
                            t.denied += 1;
                        }
                    }
                    Err(e) => {
                        t.errors += 1;
                        t.first_error.get_or_insert(e);
                    }
                }
            });
        }
        // Wait for the stragglers (each is bounded by the client timeout).
        let _ = permits
            .acquire_many(u32::try_from(args.max_in_flight.max(1)).unwrap_or(u32::MAX))
            .await;
        (sent, skipped, start.elapsed(), lags)
    });
    let t = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    let mut sorted = t.latencies.clone();
    sorted.sort();
    lags.sort();
    let answered = sorted.len() as u64;
    let achieved = answered as f64 / wall.as_secs_f64().max(1e-9);
    let mut histogram = Vec::new();
    for le in BUCKETS_MS {
        let n = sorted
            .iter()
            .filter(|d| d.as_secs_f64() * 1000.0 <= le)
            .count();
        histogram.push(json!({"le_ms": le, "count": n}));
    }
    histogram.push(json!({"le_ms": "+Inf", "count": answered}));
    let report = json!({
        "mode": if args.uncached { "uncached" } else { "cached" },
        "url": args.url,
        "images": images.len(),
        "target_rate": args.rate,
        "duration_s": args.duration.as_secs_f64(),
        "scheduled": total,
        "sent": sent,
        "skipped": skipped,
        "answered": answered,
        "errors": t.errors,
        "first_error": t.first_error,
        "allowed": t.allowed,
        "denied": t.denied,
        "achieved_rate": (achieved * 10.0).round() / 10.0,
        "latency_ms": {
            "p50": percentile(&sorted, 0.50),
            "p90": percentile(&sorted, 0.90),
            "p99": percentile(&sorted, 0.99),
            "max": sorted.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
        },
        "dispatch_lag_ms": {
            "p50": percentile(&lags, 0.50),
            "p99": percentile(&lags, 0.99),
            "max": lags.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
        },
        "histogram": histogram,
    });
    if args.output == "json" {
        println!("{report}");
    } else {
        let l = &report["latency_ms"];
        println!(
            "admission bench ({}): {} scheduled at {}/s over {:.1}s; {answered} answered ({} allowed, {} denied), {} errors, {skipped} skipped",
            report["mode"].as_str().unwrap_or_default(),
            total,
            args.rate,
            args.duration.as_secs_f64(),
            t.allowed,
            t.denied,
            t.errors,
        );
        println!(
            "achieved {achieved:.1} answers/s (wall {:.2}s)",
            wall.as_secs_f64()
        );
        println!(
            "latency from send: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            l["p50"].as_f64().unwrap_or_default(),
            l["p90"].as_f64().unwrap_or_default(),
            l["p99"].as_f64().unwrap_or_default(),
            l["max"].as_f64().unwrap_or_default(),
        );
        let d = &report["dispatch_lag_ms"];
        println!(
            "dispatch lag behind schedule (generator): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            d["p50"].as_f64().unwrap_or_default(),
            d["p99"].as_f64().unwrap_or_default(),
            d["max"].as_f64().unwrap_or_default(),
        );
        let mut prev = 0u64;
        for b in report["histogram"].as_array().into_iter().flatten() {
            let count = b["count"].as_u64().unwrap_or(0);
            if count > prev {
                println!("  <= {} ms: {}", b["le_ms"], count - prev);
            }
            prev = count;
        }
        if let Some(e) = &t.first_error {
            println!("first error: {e}");
        }
    }
    Ok(())
}
