//! `signet bench log`: load-test an in-process transparency log on
//! loopback.
//!
//! 1. Baseline, single core: P-256 verifies/s, and full entry preparation
//!    (parse + canonicalise + verify, what every append costs the server)
//!    per second — so the results below read as ratios of the hardware.
//! 2. `--entries` hashedrekord entries with real ECDSA signatures, each over
//!    its own artifact, signed BEFORE timing starts.
//! 3. The loopback HTTP floor: the same clients GET `/checkpoint` (served
//!    from memory) as fast as they can: what HTTP alone costs here.
//! 4. `--clients` concurrent keep-alive HTTP/1.1 clients POST them to
//!    `/api/v1/log/entries` (or `/api/v2/log/entries` with `--api v2`, whose
//!    answers carry no SET): durable appends/s (201s per second of wall
//!    time) and time-to-integrate p50/p99 (client-observed 201 latency: the
//!    entry is committed and its inclusion proof signed when the answer
//!    comes).
//! 5. The same clients read `GET /api/v1/log/entries?logIndex=N` (entry
//!    with an inclusion proof against the latest checkpoint): reads/s.
//!
//! Bounded by `--entries`, `--reads` and `--max-seconds`; binds 127.0.0.1
//! only. The server and the clients share the machine (and one tokio
//! runtime), so the numbers are a lower bound for a dedicated server.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1_SIGNING,
};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use signet_model::encoding::encode_base64;
use tokio::net::TcpStream;

pub use crate::bench_ca::CaBenchArgs;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Load-test an in-process `signet log serve` on loopback.
    Log(LogBenchArgs),
    /// Load-test an in-process `signet ca serve` (with a dev OIDC issuer)
    /// on loopback.
    Ca(CaBenchArgs),
    /// Push, sign (keyless, against an in-process private stack) and
    /// verify many images in a registry, cold and warm.
    Images(crate::bench_images::ImagesBenchArgs),
    /// Send AdmissionReviews to a running `signet admission serve` at a
    /// fixed rate and report latency percentiles.
    Admission(crate::bench_admission::AdmissionBenchArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchStorage {
    Sqlite,
    Postgres,
}

/// Which write API the log bench appends through.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchApi {
    /// `POST /api/v1/log/entries`, hashedrekord 0.0.1: answered with a SET
    /// (one more P-256 signature per entry).
    V1,
    /// `POST /api/v2/log/entries`, hashedrekord 0.0.2: no SET.
    V2,
}

#[derive(Args)]
pub struct LogBenchArgs {
    /// Write API to append through.
    #[arg(long, value_enum, default_value = "v1")]
    api: BenchApi,
    /// Concurrent clients (one keep-alive connection each).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Entries to append (pre-signed before timing).
    #[arg(long, default_value_t = 20_000)]
    entries: usize,
    /// Proof reads after the appends.
    #[arg(long, default_value_t = 20_000)]
    reads: usize,
    /// Upper bound on each timed phase, in seconds.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// Sequencer batch size.
    #[arg(long, default_value_t = 1024)]
    batch_size: usize,
    /// Sequencer batch interval, in milliseconds.
    #[arg(long, default_value_t = 50)]
    batch_interval: u64,
    #[arg(long, value_enum, default_value = "sqlite")]
    storage: BenchStorage,
    /// Type of the log's signing key (SETs and checkpoints), when the bench
    /// generates it (a --data-dir keeps the key it already holds).
    #[arg(long, value_enum, default_value = "ecdsa")]
    key_type: crate::log_cmd::KeyType,
    /// postgres://user@host:port/db for --storage postgres (a fresh
    /// database: the bench appends to it).
    #[arg(long, env = "SIGNET_LOG_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Entries to log before timing, handed straight to the sequencer (no
    /// HTTP, no signature check), so that the timed appends run against
    /// indexes of a realistic size instead of an empty log.
    #[arg(long, default_value_t = 0)]
    preload: u64,
    /// Keep the SQLite log in this directory (appending to the log already
    /// there, if any) instead of a temporary one: to inspect it, fsck it,
    /// or time opening a large log.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

pub fn run(cmd: BenchCommand) -> ExitCode {
    match cmd {
        BenchCommand::Log(args) => match log_bench(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("signet: bench log: {e}");
                ExitCode::FAILURE
            }
        },
        BenchCommand::Ca(args) => match crate::bench_ca::ca_bench(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("signet: bench ca: {e}");
                ExitCode::FAILURE
            }
        },
        BenchCommand::Images(args) => match crate::bench_images::images_bench(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("signet: bench images: {e}");
                ExitCode::FAILURE
            }
        },
        BenchCommand::Admission(args) => match crate::bench_admission::admission_bench(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("signet: bench admission: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Per-second rate of `n` operations in `d`.
pub(crate) fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

struct Signer {
    pair: EcdsaKeyPair,
    spki: Vec<u8>,
    pem: String,
}

fn signer() -> Result<Signer, BoxError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| "key generation failed")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .map_err(|_| "key parsing failed")?;
    let spki = pair.public_key().as_der()?.as_ref().to_vec();
    let pem = signet_log::entry::pem_lf("PUBLIC KEY", &spki);
    Ok(Signer { pair, spki, pem })
}

/// A hashedrekord request (0.0.1 for v1, 0.0.2 for v2) for `artifact`,
/// signed now.
fn hashedrekord(s: &Signer, artifact: &[u8], api: BenchApi) -> Result<String, BoxError> {
    let sig = s
        .pair
        .sign(&SystemRandom::new(), artifact)
        .map_err(|_| "signing failed")?;
    if api == BenchApi::V2 {
        return Ok(json!({"hashedRekordRequestV002": {
            "digest": encode_base64(&signet_crypto::sha256(artifact)),
            "signature": {
                "content": encode_base64(sig.as_ref()),
                "verifier": {
                    "publicKey": {"rawBytes": encode_base64(&s.spki)},
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256"
                }
            }
        }})
        .to_string());
    }
    Ok(json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": signet_model::encoding::encode_hex(signet_crypto::sha256(artifact))}},
            "signature": {
                "content": encode_base64(sig.as_ref()),
                "publicKey": {"content": encode_base64(s.pem.as_bytes())}
            }
        }
    })
    .to_string())
}

/// Most preloaded entries waiting for the sequencer at once (below its
/// queue bound, so that none is refused).
const PRELOAD_IN_FLIGHT: usize = 3072;

/// A hashedrekord entry of the usual shape (one of the bench's keys, a
/// fresh artifact digest, a signature-sized blob) for `--preload`: it goes
/// straight to the sequencer, which does not check signatures.
fn preload_entry(
    s: &Signer,
    key_index: &str,
    run_id: u32,
    i: u64,
) -> Result<signet_log::entry::Prepared, signet_log::entry::EntryError> {
    use signet_model::rekor::{
        EntryBody, HashedRekordData, HashedRekordSignature, HashedRekordV001, HexHash, PemContent,
    };
    let digest = signet_crypto::sha256(format!("preload {run_id} artifact {i}").as_bytes());
    let digest_hex = signet_model::encoding::encode_hex(digest);
    let mut signature = vec![0x30, 0x45, 0x02, 0x21, 0x00];
    signature.extend_from_slice(&signet_crypto::sha512(&digest)[..64]);
    let body = EntryBody::HashedRekordV001(HashedRekordV001 {
        data: HashedRekordData {
            hash: HexHash {
                algorithm: "sha256".into(),
                value: digest_hex.clone(),
            },
        },
        signature: HashedRekordSignature {
            content: signet_model::encoding::Base64(signature),
            public_key: PemContent {
                content: signet_model::encoding::Base64(s.pem.as_bytes().to_vec()),
            },
        },
    });
    signet_log::entry::Prepared::new(
        body,
        vec![
            signet_log::entry::digest_index("sha256", &digest_hex),
            key_index.to_string(),
        ],
        Vec::new(),
    )
}

/// Logs `n` synthetic entries through the sequencer; returns the time taken.
async fn preload(
    log: &signet_log::RunningLog,
    signers: &[Signer],
    n: u64,
) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let run_id = std::process::id();
    let key_indexes = signers
        .iter()
        .map(|s| {
            Ok(signet_log::entry::key_index(
                &signet_crypto::PublicKey::from_spki_der(&s.spki)?,
            ))
        })
        .collect::<Result<Vec<String>, BoxError>>()?;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        if tasks.len() >= PRELOAD_IN_FLIGHT {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
        let k = i as usize % signers.len();
        let entry = preload_entry(&signers[k], &key_indexes[k], run_id, i)?;
        let sequencer = log.context.sequencer.clone();
        tasks.spawn(async move { sequencer.submit(entry).await.map(|_| ()) });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}

/// Single-core baseline: P-256 verifies/s and entry preparations/s.
fn baseline(s: &Signer, requests: &[String], api: BenchApi) -> Result<(f64, f64), BoxError> {
    let n = requests.len().clamp(1, 2000);
    let msgs: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("baseline {i}").into_bytes())
        .collect();
    let sigs = msgs
        .iter()
        .map(|m| {
            s.pair
                .sign(&SystemRandom::new(), m)
                .map_err(|_| "signing failed")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, s.pair.public_key().as_ref());
    let t = Instant::now();
    for (m, sig) in msgs.iter().zip(&sigs) {
        key.verify(m, sig.as_ref())
            .map_err(|_| "baseline verify failed")?;
    }
    let verifies = rate(n, t.elapsed());
    let t = Instant::now();
    for r in &requests[..n] {
        match api {
            BenchApi::V1 => signet_log::entry::prepare_v1(r.as_bytes())?,
            BenchApi::V2 => signet_log::entry::prepare_v2(r.as_bytes())?,
        };
    }
    let prepares = rate(n, t.elapsed());
    Ok((verifies, prepares))
}

/// One keep-alive HTTP/1.1 connection of the load generator.
///
/// Deliberately minimal (one request in flight, `Content-Length` answers
/// only), like wrk or h2load: the load generator shares the machine with
/// the server it measures, so every cycle it spends is taken from the
/// server. The server side is the real stack (hyper, axum).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// Bounds on what the load generator reads back.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

async fn connect(addr: std::net::SocketAddr) -> Result<Conn, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(Conn {
        stream,
        buf: Vec::with_capacity(16 * 1024),
    })
}

/// The end of the response head (`\r\n\r\n`) in `buf`, if it is there.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Status code and `Content-Length` of a response head.
fn parse_head(head: &[u8]) -> Result<(u16, usize), BoxError> {
    let text = std::str::from_utf8(head)?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("malformed status line")?;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>()?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err("chunked answers are not supported by the load generator".into());
            }
        }
    }
    let length = length.ok_or("answer without Content-Length")?;
    if length > MAX_RESPONSE_BODY {
        return Err("answer body too large".into());
    }
    Ok((status, length))
}

/// One HTTP/1.1 request as it goes on the wire; built before a timed
/// phase where it can be, so that the load generator takes as little of
/// the cores it shares with the server as it can.
pub(crate) type RawRequest = Arc<[u8]>;

pub(crate) fn raw_request(method: &str, path: &str, body: &str) -> RawRequest {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    req.into()
}

async fn request(conn: &mut Conn, req: &[u8]) -> Result<u16, BoxError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.stream.write_all(req).await?;

    conn.buf.clear();
    let (status, head_len, body_len) = loop {
        if let Some(end) = head_end(&conn.buf) {
            let (status, len) = parse_head(&conn.buf[..end])?;
            break (status, end, len);
        }
        if conn.buf.len() > MAX_RESPONSE_HEAD {
            return Err("answer head too large".into());
        }
        conn.buf.reserve(16 * 1024);
        if conn.stream.read_buf(&mut conn.buf).await? == 0 {
            return Err("connection closed".into());
        }
    };
    while conn.buf.len() < head_len + body_len {
        conn.buf.reserve(head_len + body_len - conn.buf.len());
        if conn.stream.read_buf(&mut conn.buf).await? == 0 {
            return Err("connection closed mid-answer".into());
        }
    }
    Ok(status)
}

/// CPU time (user + system) this process has used so far, from
/// `/proc/self/stat` (Linux; counted in USER_HZ = 100 ticks a second, the
/// kernel's fixed ABI for that file); `None` elsewhere.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks.saturating_mul(10)))
}

/// Outcome of one timed phase.
#[derive(Default)]
pub(crate) struct Phase {
    pub(crate) ok: usize,
    pub(crate) failed: usize,
    pub(crate) latencies: Vec<Duration>,
    pub(crate) elapsed: Duration,
}

/// Runs `clients` workers that each take the next job index until `jobs`
/// are done or `limit` passes; `ok_status` counts as success.
pub(crate) async fn phase<F>(
    addr: std::net::SocketAddr,
    clients: usize,
    jobs: usize,
    limit: Duration,
    ok_status: u16,
    job: F,
) -> Result<Phase, BoxError>
where
    F: Fn(usize) -> RawRequest + Send + Sync + 'static,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let result = Arc::new(Mutex::new(Phase::default()));
    let start = Instant::now();
    let deadline = start + limit;
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (job, next, result) = (job.clone(), next.clone(), result.clone());
        let mut conn = connect(addr).await?;
        tasks.push(tokio::spawn(async move {
            let mut local = Phase::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs || Instant::now() > deadline {
                    break;
                }
                let req = job(i);
                let t = Instant::now();
                match request(&mut conn, &req).await {
                    Ok(s) if s == ok_status => {
                        local.ok += 1;
                        local.latencies.push(t.elapsed());
                    }
                    Ok(_) => local.failed += 1,
                    Err(_) => {
                        local.failed += 1;
                        match connect(addr).await {
                            Ok(c) => conn = c,
                            Err(_) => break,
                        }
                    }
                }
            }
            if let Ok(mut r) = result.lock() {
                r.ok += local.ok;
                r.failed += local.failed;
                r.latencies.extend(local.latencies);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed();
    let mut phase = std::mem::take(&mut *result.lock().map_err(|_| "poisoned")?);
    phase.elapsed = elapsed;
    phase.latencies.sort();
    Ok(phase)
}

fn log_bench(args: LogBenchArgs) -> Result<(), BoxError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("signet bench log: {cores} cores, client and server on this machine (loopback)");
    let signers = (0..16).map(|_| signer()).collect::<Result<Vec<_>, _>>()?;
    let t = Instant::now();
    let run_id = std::process::id();
    let requests: Vec<String> = (0..args.entries)
        .map(|i| {
            let s = &signers[i % signers.len()];
            hashedrekord(
                s,
                format!("bench {run_id} artifact {i}").as_bytes(),
                args.api,
            )
        })
        .collect::<Result<_, _>>()?;
    println!(
        "prepared {} signed hashedrekord entries in {:.2?} (not timed below)",
        requests.len(),
        t.elapsed()
    );
    let (verifies, prepares) = baseline(&signers[0], &requests, args.api)?;
    println!("baseline, 1 core: {verifies:.0} P-256 verifies/s; {prepares:.0} entry preparations/s (parse + canonicalise + verify)");

    let temp = tempfile::tempdir()?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut config = signet_log::Config::new(&dir, format!("http://{addr}"));
        config.batch_size = args.batch_size.max(1);
        config.batch_interval = Duration::from_millis(args.batch_interval);
        config.key_kind = args.key_type.signer_kind();
        let storage_name = match args.storage {
            BenchStorage::Sqlite => "SQLite (embedded, synchronous=FULL)".to_string(),
            BenchStorage::Postgres => {
                let url = args
                    .postgres_url
                    .clone()
                    .ok_or("--storage postgres needs --postgres-url")?;
                config.postgres = Some(signet_log::replica::PostgresConfig {
                    url,
                    advertise_url: None,
                });
                "PostgreSQL".to_string()
            }
        };
        let t = Instant::now();
        let log = signet_log::start(&config, listener).await?;
        println!("opened the log in {:.2?}", t.elapsed());
        if args.preload > 0 {
            let took = preload(&log, &signers, args.preload).await?;
            println!(
                "preloaded {} entries through the sequencer in {took:.2?} ({:.0}/s; not timed below)",
                args.preload,
                rate(args.preload as usize, took)
            );
        }
        println!(
            "storage {storage_name}; log key {}; batch size {}, interval {} ms; {} clients; POST {}",
            // The key the log holds (a --data-dir keeps its own).
            match log.context.signer.kind() {
                signet_tlog::SignerKind::EcdsaP256 => "ECDSA P-256",
                signet_tlog::SignerKind::Ed25519 => "Ed25519",
            },
            args.batch_size,
            args.batch_interval,
            args.clients,
            match args.api {
                BenchApi::V1 => "/api/v1/log/entries (hashedrekord 0.0.1, answered with a SET)",
                BenchApi::V2 => "/api/v2/log/entries (hashedrekord 0.0.2, no SET)",
            }
        );
        let limit = Duration::from_secs(args.max_seconds);
        // The floor of the loopback HTTP round trip on these cores: the
        // cheapest route (the checkpoint, from memory), same clients.
        let checkpoint = raw_request("GET", "/checkpoint", "");
        let floor = phase(addr, args.clients, args.entries, limit, 200, move |_| {
            checkpoint.clone()
        })
        .await?;
        let round_trips = rate(floor.ok, floor.elapsed);
        println!(
            "HTTP floor: {} x GET /checkpoint ({} failed) in {:.2?}: {round_trips:.0} round trips/s \
             (client and server on these cores, no work behind the route)",
            floor.ok, floor.failed, floor.elapsed
        );
        let path = match args.api {
            BenchApi::V1 => "/api/v1/log/entries",
            BenchApi::V2 => "/api/v2/log/entries",
        };
        let requests: Arc<Vec<RawRequest>> = Arc::new(
            requests
                .iter()
                .map(|body| raw_request("POST", path, body))
                .collect(),
        );
        let reqs = requests.clone();
        let committed = [("result", "committed")];
        let metrics = log.context.metrics.clone();
        let batches_before = metrics.batches.get(&committed);
        let entries_before = metrics.entries.get(&committed);
        let cpu_before = process_cpu();
        let writes = phase(addr, args.clients, reqs.len(), limit, 201, move |i| {
            reqs[i].clone()
        })
        .await?;
        let cpu = cpu_before.zip(process_cpu()).map(|(a, b)| b.saturating_sub(a));
        let ratio = |r: f64| {
            format!(
                "{:.2} of single-core verify, {:.2} of single-core prepare",
                r / verifies,
                r / prepares
            )
        };
        let appends = rate(writes.ok, writes.elapsed);
        println!(
            "appends: {} x 201 ({} failed) in {:.2?}: {appends:.0} durable appends/s ({})",
            writes.ok,
            writes.failed,
            writes.elapsed,
            ratio(appends)
        );
        println!(
            "an append costs the CPU of {:.1} empty round trips",
            round_trips / appends.max(1e-9)
        );
        if let Some(cpu) = cpu.filter(|_| writes.ok > 0) {
            // Busy time, unlike the rate, does not count what other tenants
            // of a shared machine take.
            let per_append = cpu.as_secs_f64() / writes.ok as f64;
            println!(
                "CPU time per append (client and server, user + system): {:.0} µs; \
                 {cores} cores would do {:.0} appends/s at that cost",
                per_append * 1e6,
                cores as f64 / per_append
            );
        }
        println!(
            "time to integrate (client-observed 201): p50 {:.1?}, p99 {:.1?}, max {:.1?}",
            percentile(&writes.latencies, 0.50),
            percentile(&writes.latencies, 0.99),
            writes.latencies.last().copied().unwrap_or_default()
        );
        let batches = metrics.batches.get(&committed).saturating_sub(batches_before);
        let entries = metrics.entries.get(&committed).saturating_sub(entries_before);
        if batches > 0 {
            println!(
                "commits: {batches} batches, {:.1} entries each on average",
                entries as f64 / batches as f64
            );
        }
        let size = log.context.head().size.max(1);
        let reads = phase(addr, args.clients, args.reads, limit, 200, move |i| {
            // A fixed stride over the tree: every read hits a different leaf.
            let index = (i as u64).wrapping_mul(7919) % size;
            raw_request("GET", &format!("/api/v1/log/entries?logIndex={index}"), "")
        })
        .await?;
        println!(
            "proof reads: {} x 200 ({} failed) in {:.2?}: {:.0} inclusion-proof reads/s, p50 {:.1?}, p99 {:.1?}",
            reads.ok,
            reads.failed,
            reads.elapsed,
            rate(reads.ok, reads.elapsed),
            percentile(&reads.latencies, 0.50),
            percentile(&reads.latencies, 0.99)
        );
        log.stop().await?;
        Ok::<(), BoxError>(())
    })
}
