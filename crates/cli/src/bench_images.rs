//! `signet bench images`: verify many signed images in a real registry,
//! cold and warm.
//!
//! 1. A private signing stack (`signet up`'s log, CA and dev OIDC issuer)
//!    starts in-process on 127.0.0.1, in a temporary data directory.
//! 2. `--count` small distinct images (a one-file tar layer and a config)
//!    are pushed to `--registry` with signet's own registry client, and
//!    each is signed keyless against the stack (a CA certificate and a log
//!    entry per image, written as an OCI 1.1 referrer by default). None of
//!    this is timed.
//! 3. Cold: what a new `signet verify` process does — a new registry
//!    client (no pooled connections, scheme probe again), the trusted root
//!    read and parsed again — then `verify_many` over every image by tag.
//! 4. Warm: the same client and verifier again (`--warm-runs` times):
//!    connections pooled, trust material parsed once.
//! 5. Baselines from the same run, so the results read as ratios of the
//!    machine: the registry round trips alone (the same requests, nothing
//!    verified) and the verification alone (the same bundles, already in
//!    memory, on one core).
//!
//! Loopback registries use plain HTTP; others need
//! `--allow-insecure-registry` or TLS. The registry is written to: use a
//! scratch one.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};
use signet_crypto::HashAlgorithm;
use signet_model::{Bundle, SigningConfig, TrustedRoot};
use signet_oci::layout::{legacy, referrers};
use signet_oci::manifest::{Descriptor, Manifest, OCI_CONFIG, OCI_MANIFEST};
use signet_oci::verify::ImageVerdict;
use signet_oci::{Layout, OciError, Reference, Registry, RegistryOptions};
use signet_sign::flow::{Content, Identity, SignOptions, SigningContext};
use signet_sign::oidc::IdentityToken;
use signet_verify::{
    Artifact, IdentityPolicy, Matcher, Options, SignerPolicy, TrustMaterial, Verifier,
};

use crate::bench_cmd::{rate, BoxError};
use crate::stack::{self, StackOptions};

/// The identity the bench signs as (the dev issuer certifies anyone).
const BENCH_EMAIL: &str = "bench@example.com";
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

#[derive(Args)]
pub struct ImagesBenchArgs {
    /// The registry to push to and verify from (HOST:PORT). It is written
    /// to: use a scratch registry.
    #[arg(long)]
    registry: String,
    /// Images to push, sign and verify.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    count: u32,
    /// Images verified at the same time (as `signet verify --concurrency`).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Warm runs; each is reported, and the best and median summarised.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    warm_runs: u16,
    /// Where the signatures go: `referrers` (default), `legacy` or `both`.
    #[arg(long, default_value = "referrers", value_parser = ["referrers", "legacy", "both"])]
    layout: String,
    /// Repository for the images (default: `signet-bench/run-<pid>-<time>`,
    /// new for every run).
    #[arg(long)]
    repository: Option<String>,
    /// Allow plain HTTP to a registry that is not on a loopback address.
    #[arg(long)]
    allow_insecure_registry: bool,
    /// `text` (default) or `json` (one document on stdout, for scripts).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs `job(i)` for `i` in `0..n` on `workers` threads; the first error
/// stops the others and is returned. Results are in index order.
fn parallel<T, F>(n: usize, workers: usize, job: F) -> Result<Vec<T>, BoxError>
where
    T: Send,
    F: Fn(usize) -> Result<T, BoxError> + Sync,
{
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<BoxError>> = Mutex::new(None);
    let slots: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, n.max(1)) {
            scope.spawn(|| loop {
                let stop = failed.lock().map_or(true, |f| f.is_some());
                let i = next.fetch_add(1, Ordering::SeqCst);
                if stop || i >= n {
                    break;
                }
                match job(i) {
                    Ok(v) => {
                        if let Ok(mut s) = slots.lock() {
                            s[i] = Some(v);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    slots
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.ok_or_else(|| format!("job {i} did not run").into()))
        .collect()
}

/// A ustar archive holding one small file.
fn tar_with(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let mut put = |at: usize, bytes: &[u8]| {
        let end = (at + bytes.len()).min(header.len());
        header[at..end].copy_from_slice(&bytes[..end - at]);
    };
    put(0, &name.as_bytes()[..name.len().min(99)]);
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", content.len()).as_bytes());
    put(136, b"00000000000\0");
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    let checksum = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(checksum.as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Pushes image `i` (a one-file layer and a config, both distinct per
/// image) to `repo:tag`; returns the manifest digest.
fn push_image(
    registry: &Registry,
    repo: &Reference,
    tag: &str,
    i: usize,
    run: &str,
) -> Result<String, OciError> {
    let layer = tar_with(
        "hello.txt",
        format!("signet bench {run} image {i}\n").as_bytes(),
    );
    let layer_digest = registry.put_blob(repo, &layer)?;
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
        "config": {"Labels": {"dev.signet.bench": format!("{run}/{i}")}},
    }))
    .map_err(|e| OciError::Config(format!("image config: {e}")))?;
    registry.put_blob(repo, &config)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        artifact_type: None,
        config: Descriptor::of(OCI_CONFIG, &config),
        layers: vec![Descriptor::of(LAYER_TAR, &layer)],
        subject: None,
        annotations: BTreeMap::new(),
        extra: BTreeMap::new(),
    };
    let put = registry.put_manifest(repo, tag, OCI_MANIFEST, &manifest.to_json())?;
    Ok(put.digest.to_string())
}

/// An ID token for `email` from the dev issuer at `issuer`.
fn dev_token(issuer: &str, email: &str) -> Result<IdentityToken, BoxError> {
    let url = format!("{}/token", issuer.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json!({ "email": email }).to_string())
        .send()
        .map_err(|e| format!("token request to {url}: {e}"))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    response.take(64 * 1024).read_to_end(&mut body)?;
    if status != 200 {
        return Err(format!("{url} answered {status}").into());
    }
    let doc: Value = signet_model::from_json_slice(&body)
        .map_err(|e| format!("{url} answered something that is not a token response: {e}"))?;
    let raw = doc["id_token"]
        .as_str()
        .ok_or_else(|| format!("{url} answered without an id_token"))?;
    Ok(IdentityToken::parse(raw)?)
}

/// The trust material a fresh `signet verify --trusted-root FILE` builds.
fn load_verifier(path: &std::path::Path) -> Result<Verifier, BoxError> {
    let raw = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let root = TrustedRoot::from_json(&raw).map_err(|e| format!("trusted root: {e}"))?;
    let material =
        TrustMaterial::from_trusted_root(&root).map_err(|e| format!("trusted root: {e}"))?;
    Ok(Verifier::new(material, Options::default()))
}

fn registry_options(args: &ImagesBenchArgs) -> RegistryOptions {
    RegistryOptions {
        allow_insecure: args.allow_insecure_registry,
        ..RegistryOptions::default()
    }
}

/// One timed pass of `verify_many`.
#[derive(Debug, Clone)]
struct Pass {
    elapsed: Duration,
    verified: usize,
    /// The first failure, for the report: (image, check, reason).
    first_failure: Option<(String, String, String)>,
}

impl Pass {
    fn of(
        elapsed: Duration,
        results: &[Result<ImageVerdict, OciError>],
        refs: &[(String, Reference)],
    ) -> Pass {
        let mut verified = 0;
        let mut first_failure = None;
        for ((given, _), r) in refs.iter().zip(results) {
            match r {
                Ok(v) if v.passed() => verified += 1,
                Ok(v) => {
                    let (check, reason) = v.failure().unwrap_or_default();
                    first_failure.get_or_insert((given.clone(), check, reason));
                }
                Err(e) => {
                    first_failure.get_or_insert((given.clone(), "registry".into(), e.to_string()));
                }
            }
        }
        Pass {
            elapsed,
            verified,
            first_failure,
        }
    }

    fn json(&self, count: usize) -> Value {
        json!({
            "wallSeconds": self.elapsed.as_secs_f64(),
            "imagesPerSecond": rate(count, self.elapsed),
            "verified": self.verified,
            "failed": count - self.verified.min(count),
            "firstFailure": self.first_failure.as_ref().map(|(image, check, reason)| {
                json!({"image": image, "check": check, "reason": reason})
            }),
        })
    }
}

fn verify_pass(
    registry: &Registry,
    verifier: &Verifier,
    policy: &SignerPolicy,
    refs: &[(String, Reference)],
    concurrency: usize,
) -> Pass {
    let t = Instant::now();
    let results =
        signet_oci::verify::verify_many(registry, verifier, policy, refs, concurrency, &|_, _| {});
    Pass::of(t.elapsed(), &results, refs)
}

/// What the fetch baseline collected for one image: the bundles and what
/// each is verified against.
struct Fetched {
    digest: signet_oci::Digest,
    referrers: Vec<Vec<u8>>,
    legacy: Vec<(Vec<u8>, BTreeMap<String, String>)>,
}

/// The registry round trips `verify_image` makes, nothing verified.
fn fetch_all(
    registry: &Registry,
    refs: &[(String, Reference)],
    concurrency: usize,
) -> Result<(Duration, Vec<Fetched>), BoxError> {
    let t = Instant::now();
    let fetched = parallel(refs.len(), concurrency, |i| {
        let (_, reference) = &refs[i];
        let digest = registry.resolve(reference)?.digest;
        let image = reference.at_digest(&digest);
        let referrers = referrers::bundles(registry, &image, &digest)?
            .into_iter()
            .filter_map(|r| r.bundle.ok())
            .collect();
        let legacy = legacy::read(registry, &image, &digest)?
            .into_iter()
            .filter_map(|l| Some((l.payload.ok()?, l.descriptor.annotations)))
            .collect();
        Ok(Fetched {
            digest,
            referrers,
            legacy,
        })
    })?;
    Ok((t.elapsed(), fetched))
}

/// Verifies every fetched bundle in memory on this thread (parse and
/// verify, as `verify_image` does); returns the time and the number of
/// signatures verified.
fn verify_in_memory(
    verifier: &Verifier,
    policy: &SignerPolicy,
    fetched: &[Fetched],
) -> Result<(Duration, usize), BoxError> {
    let t = Instant::now();
    let mut n = 0;
    for f in fetched {
        let artifact = Artifact::Digest {
            algorithm: HashAlgorithm::Sha256,
            digest: f.digest.bytes().to_vec(),
        };
        for raw in &f.referrers {
            let bundle = Bundle::from_json(raw)?;
            verifier
                .verify(&bundle, &artifact, policy)
                .map_err(|e| format!("baseline verification of {}: {e}", f.digest))?;
            n += 1;
        }
        for (payload, annotations) in &f.legacy {
            let bundle = legacy::bundle_from_layer(payload, annotations)?;
            verifier
                .verify(&bundle, &Artifact::Bytes(payload), policy)
                .map_err(|e| format!("baseline verification of {}: {e}", f.digest))?;
            n += 1;
        }
    }
    Ok((t.elapsed(), n))
}

fn median(sorted: &[Duration]) -> Duration {
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

pub fn images_bench(args: ImagesBenchArgs) -> Result<(), BoxError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let count = usize::try_from(args.count)?;
    let concurrency = usize::from(args.concurrency);
    let layout = match args.layout.as_str() {
        "legacy" => Layout::Legacy,
        "both" => Layout::Both,
        _ => Layout::Referrers,
    };
    let run = format!("{}-{}", std::process::id(), unix_now());
    let repository = args
        .repository
        .clone()
        .unwrap_or_else(|| format!("signet-bench/run-{run}"));
    let base = Reference::parse(&format!("{}/{repository}:latest", args.registry))
        .map_err(|e| format!("--registry/--repository: {e}"))?;
    let text = args.output == "text";
    let say = |line: String| {
        if text {
            println!("{line}");
        }
    };
    say(format!(
        "signet bench images: {cores} cores; registry {}, {count} images in {repository}, \
         concurrency {concurrency}, layout {}",
        args.registry, args.layout
    ));

    // The private stack, on this runtime's threads while this thread does
    // blocking HTTP.
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let running = runtime.block_on(stack::start(&StackOptions {
        data_dir: dir.path().join("stack"),
        host: std::net::IpAddr::from([127, 0, 0, 1]),
        log_port: Some(0),
        ca_port: Some(0),
        oidc_port: Some(0),
        tsa: false,
        tsa_port: None,
    }))?;
    let result = bench_with_stack(&args, &running, count, concurrency, layout, &base, &say);
    let stopped = runtime.block_on(running.stop());
    let report = result?;
    stopped?;
    if !text {
        println!("{report}");
    }
    let all = |k: &str| report[k]["verified"].as_u64() == Some(count as u64);
    let warm_ok = report["warm"]["runs"].as_array().is_some_and(|r| {
        r.iter()
            .all(|p| p["verified"].as_u64() == Some(count as u64))
    });
    if !(all("cold") && warm_ok) {
        return Err("not every image verified (see the report)".into());
    }
    Ok(())
}

fn bench_with_stack(
    args: &ImagesBenchArgs,
    running: &stack::RunningStack,
    count: usize,
    concurrency: usize,
    layout: Layout,
    base: &Reference,
    say: &dyn Fn(String),
) -> Result<Value, BoxError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let root_bytes = std::fs::read(&running.files.trusted_root)?;
    let root = TrustedRoot::from_json(&root_bytes).map_err(|e| format!("trusted root: {e}"))?;
    let config = SigningConfig::from_json(&std::fs::read(&running.files.signing_config)?)
        .map_err(|e| format!("signing config: {e}"))?;
    let context = SigningContext::new(&config, &root, SignOptions::default())?;
    let token = dev_token(&running.urls.oidc, BENCH_EMAIL)?;

    // Push and sign (not timed against the target).
    let setup = Registry::new(registry_options(args))?;
    let run = base.repository.replace('/', "_");
    let t = Instant::now();
    let refs: Vec<(String, Reference)> = parallel(count, concurrency, |i| {
        let tag = format!("v{i}");
        push_image(&setup, base, &tag, i, &run)?;
        let r = base.at_tag(&tag);
        Ok((r.to_string(), r))
    })?;
    let pushed = t.elapsed();
    let t = Instant::now();
    let no_annotations = BTreeMap::new();
    let sign = |content: Content<'_>| context.sign(Identity::Keyless(&token), content);
    parallel(count, concurrency, |i| {
        signet_oci::sign::sign_image(&setup, &refs[i].1, layout, &no_annotations, &sign)
            .map_err(|e| format!("signing {}: {e}", refs[i].0))?;
        Ok(())
    })?;
    let signed = t.elapsed();
    drop(setup);
    say(format!(
        "setup (not timed below): pushed {count} images in {pushed:.2?}, signed them keyless \
         (certificate + log entry each) in {signed:.2?}"
    ));

    let policy = SignerPolicy::Identity(IdentityPolicy::new(
        Matcher::exact(BENCH_EMAIL.to_string()),
        Matcher::exact(running.urls.oidc.clone()),
    ));

    // Cold: a new client and trust parsed again, inside the timing.
    let t = Instant::now();
    let verifier = load_verifier(&running.files.trusted_root)?;
    let registry = Registry::new(registry_options(args))?;
    let cold_setup = t.elapsed();
    let mut cold = verify_pass(&registry, &verifier, &policy, &refs, concurrency);
    cold.elapsed += cold_setup;
    say(format!(
        "cold (new client, trusted root parsed, no pooled connections): {}/{count} verified in \
         {:.3?}: {:.0} images/s",
        cold.verified,
        cold.elapsed,
        rate(count, cold.elapsed)
    ));

    // Warm: the same client and verifier.
    let mut warm = Vec::new();
    for n in 1..=args.warm_runs {
        let pass = verify_pass(&registry, &verifier, &policy, &refs, concurrency);
        say(format!(
            "warm run {n} (same client and verifier): {}/{count} verified in {:.3?}: {:.0} images/s",
            pass.verified,
            pass.elapsed,
            rate(count, pass.elapsed)
        ));
        warm.push(pass);
    }
    let mut warm_times: Vec<Duration> = warm.iter().map(|p| p.elapsed).collect();
    warm_times.sort();
    let warm_best = warm_times.first().copied().unwrap_or_default();
    let warm_median = median(&warm_times);

    // Baselines: the registry alone, then the verification alone.
    let (fetch_time, fetched) = fetch_all(&registry, &refs, concurrency)?;
    let (floor, signatures) = verify_in_memory(&verifier, &policy, &fetched)?;
    let secs = |d: Duration| d.as_secs_f64().max(1e-9);
    say(format!(
        "baseline, registry only (same warm client, same requests, nothing verified, \
         concurrency {concurrency}): {fetch_time:.3?}: {:.0} images/s",
        rate(count, fetch_time)
    ));
    say(format!(
        "baseline, verification only (same {signatures} bundles in memory, parse + verify, \
         1 core): {floor:.3?}: {:.0} images/s; ideal on {cores} cores {:.3?}",
        rate(count, floor),
        floor / u32::try_from(cores).unwrap_or(1)
    ));
    say(format!(
        "warm median {warm_median:.3?} ({:.0} images/s) = {:.2} x registry-only, {:.2} x \
         1-core verification, {:.2} x (registry-only + 1-core verification); cold = {:.2} x warm median",
        rate(count, warm_median),
        secs(warm_median) / secs(fetch_time),
        secs(warm_median) / secs(floor),
        secs(warm_median) / (secs(fetch_time) + secs(floor)),
        secs(cold.elapsed) / secs(warm_median),
    ));
    if let Some((image, check, reason)) = cold
        .first_failure
        .as_ref()
        .or_else(|| warm.iter().find_map(|p| p.first_failure.as_ref()))
    {
        say(format!("first failure: {image}: {check}: {reason}"));
    }
    Ok(json!({
        "cores": cores,
        "registry": args.registry,
        "repository": base.repository,
        "count": count,
        "concurrency": concurrency,
        "layout": args.layout,
        "setup": {
            "pushSeconds": pushed.as_secs_f64(),
            "signSeconds": signed.as_secs_f64(),
        },
        "cold": cold.json(count),
        "warm": {
            "runs": warm.iter().map(|p| p.json(count)).collect::<Vec<_>>(),
            "bestSeconds": warm_best.as_secs_f64(),
            "medianSeconds": warm_median.as_secs_f64(),
            "imagesPerSecond": rate(count, warm_median),
        },
        "baseline": {
            "registryOnlySeconds": fetch_time.as_secs_f64(),
            "verifyOnlyOneCoreSeconds": floor.as_secs_f64(),
            "signaturesVerified": signatures,
        },
        "ratios": {
            "warmOverRegistryOnly": secs(warm_median) / secs(fetch_time),
            "warmOverVerifyOnly": secs(warm_median) / secs(floor),
            "warmOverSum": secs(warm_median) / (secs(fetch_time) + secs(floor)),
            "coldOverWarm": secs(cold.elapsed) / secs(warm_median),
        },
    }))
}
