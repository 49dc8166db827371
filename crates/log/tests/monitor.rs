//! `signet log monitor` against logs served in-process on 127.0.0.1:0:
//! following a growing log (Rekor v1 and tiles read paths), restarting from
//! the state file, forks, bad signatures, watched keys and identities (with a
//! webhook listener), and witness cosignatures.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use signet_log::entry::pem_lf;
use signet_log::monitor::alert::{AlertKind, EXIT_LOG_MISBEHAVIOUR, EXIT_OK, EXIT_WATCHED};
use signet_log::monitor::watch::Watchlist;
use signet_log::monitor::{state, LogPolicy, Monitor, MonitorConfig, PollReport};
use signet_log::witness::WitnessKey;
use signet_log::{start, Config, RunningLog};
use signet_model::encoding::encode_base64;
use signet_tlog::{generate_pkcs8, CosignatureVerifier, Note, SignerKind};
use tokio::net::TcpListener;

mod common;
use common::{append_all, hashedrekord, self_signed, Key};

// ----- keys and entries ----------------------------------------------------

/// A dsse 0.0.1 request: an in-toto statement about `artifact` signed by
/// `key`.
fn dsse(key: &Key, artifact: &[u8]) -> Vec<u8> {
    const INTOTO: &str = "application/vnd.in-toto+json";
    let payload = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a.txt", "digest": {"sha256": signet_model::encoding::encode_hex(signet_crypto::sha256(artifact))}}],
        "predicateType": "https://example.com/test/v1",
        "predicate": {}
    }))
    .unwrap();
    let sig = key.sign(&signet_model::dsse::pae(INTOTO, &payload));
    let env = json!({
        "payload": encode_base64(&payload),
        "payloadType": INTOTO,
        "signatures": [{"sig": encode_base64(&sig), "keyid": ""}]
    });
    serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {
            "envelope": env.to_string(),
            "verifiers": [encode_base64(key.pem().as_bytes())]
        }}
    }))
    .unwrap()
}

// ----- logs ----------------------------------------------------------------

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Starts a log on a fresh port. `key`: an existing signer key file;
/// `origin`: fixed so that two logs can share it.
async fn serve(
    dir: &Path,
    key: Option<&Path>,
    origin: &str,
    witnesses: &[WitnessKey],
) -> RunningLog {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::new(dir, format!("http://{addr}"));
    config.signer_key = key.map(Path::to_path_buf);
    config.origin = Some(origin.to_string());
    config.batch_interval = Duration::from_millis(2);
    config.witness_keys = witnesses.to_vec();
    start(&config, listener).await.unwrap()
}

fn url(log: &RunningLog) -> String {
    format!("http://{}", log.addr)
}

/// Submits a v1 entry; returns the response JSON.
async fn submit(log: &RunningLog, body: Vec<u8>) -> Value {
    let resp = client()
        .post(format!("{}/api/v1/log/entries", url(log)))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

async fn get_text(url: String) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn get_json(url: String) -> Value {
    let resp = client().get(url).send().await.unwrap();
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

/// `n` entries signed by fresh keys (in separate batches, so that the log
/// publishes several checkpoints).
async fn grow(log: &RunningLog, n: usize, tag: &str) {
    for i in 0..n {
        let k = Key::new();
        submit(
            log,
            hashedrekord(&k, format!("{tag}-{i}").as_bytes(), &k.pem()),
        )
        .await;
    }
}

/// `n` entries submitted 32 at a time (few batches).
async fn grow_fast(log: &RunningLog, n: usize, tag: &str) {
    let k = Key::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(32) {
        append_all(log.addr, &k, chunk.iter().map(|i| format!("{tag}-{i}"))).await;
    }
}

fn policy(log: &RunningLog) -> LogPolicy {
    LogPolicy::from_key_pem(
        &log.context.signer.public_key().to_pem(),
        log.context.signer.name(),
    )
    .unwrap()
}

fn monitor_config(log_url: &str, policy: LogPolicy, state: &Path) -> MonitorConfig {
    let mut c = MonitorConfig::new(log_url, policy, state.to_path_buf());
    c.timeout = Duration::from_secs(10);
    c
}

async fn poll(config: &MonitorConfig) -> PollReport {
    Monitor::new(config.clone()).unwrap().poll().await.unwrap()
}

fn kinds(report: &PollReport) -> Vec<AlertKind> {
    report.alerts.iter().map(|a| a.kind).collect()
}

fn saved(path: &Path) -> state::State {
    state::load(path).unwrap().unwrap()
}

/// A key file of `kind` (PKCS#8 PEM).
fn key_file(dir: &Path, name: &str, kind: SignerKind) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem_lf("PRIVATE KEY", &generate_pkcs8(kind).unwrap())).unwrap();
    path
}

/// The PEM public key of an Ed25519 PKCS#8 PEM key file.
fn ed25519_public_pem(key_file: &Path) -> String {
    let text = std::fs::read_to_string(key_file).unwrap();
    let der = pem::parse(text).unwrap().contents().to_vec();
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap();
    pem_lf("PUBLIC KEY", pair.public_key().as_der().unwrap().as_ref())
}

/// A test double of the log's network: serves fixed answers for
/// `/api/v1/log` and `/checkpoint`.
async fn fake_log(log_info: Value, checkpoint: String) -> String {
    let app = Router::new()
        .route(
            "/api/v1/log",
            get(move || {
                let v = log_info.clone();
                async move { axum::Json(v) }
            }),
        )
        .route(
            "/checkpoint",
            get(move || {
                let c = checkpoint.clone();
                async move { c }
            }),
        );
    serve_app(app).await
}

/// Serves `app` on a fresh loopback port; its base URL.
async fn serve_app(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Forwards a GET of `path_and_query` to the log at `real`.
async fn forward(real: &str, path_and_query: &str) -> (axum::http::StatusCode, Vec<u8>) {
    let resp = client()
        .get(format!("{real}{path_and_query}"))
        .send()
        .await
        .unwrap();
    let status = axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap();
    (status, resp.bytes().await.unwrap().to_vec())
}

/// A webhook receiver: every POSTed JSON body, in order.
async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                "ok"
            }
        }),
    );
    (format!("{}/hook", serve_app(app).await), got)
}

// ----- tests ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_growing_log_and_restarts_from_state() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(&dir.path().join("log"), None, "follow.test", &[]).await;
    let watched = Key::new();
    let watch = Watchlist::new(&[], &[("w".into(), watched.pem())]).unwrap();
    for tiles in [false, true] {
        let state_path = dir.path().join(format!("state-{tiles}.json"));
        let mut config = monitor_config(&url(&log), policy(&log), &state_path);
        config.tiles = tiles;
        config.watch = watch.clone();
        config.max_entries = 100;
        config.start_index = Some(0);

        // First poll: whatever the log holds now is trusted on first use.
        let r = poll(&config).await;
        assert_eq!(kinds(&r), [], "tiles={tiles}");
        let first = saved(&state_path);
        assert_eq!(first.origin, "follow.test");

        // The log grows across checkpoints; one monitor follows it, polls
        // capped at 100 entries.
        grow(&log, 3, &format!("a{tiles}")).await;
        let mut m = Monitor::new(config.clone()).unwrap();
        let r = m.poll().await.unwrap();
        assert_eq!(r.exit_code(), EXIT_OK);
        assert_eq!(r.size, first.size + 3);
        let s = saved(&state_path);
        assert_eq!(s.size, first.size + 3);
        assert_eq!(s.next_index, first.next_index + r.scanned);

        grow_fast(&log, 260, &format!("b{tiles}")).await;
        let mut total = r.scanned;
        loop {
            let r = m.poll().await.unwrap();
            assert_eq!(r.exit_code(), EXIT_OK, "{:?}", r.alerts);
            assert!(r.scanned <= 100);
            total += r.scanned;
            if r.remaining == 0 {
                break;
            }
        }
        drop(m);
        let s = saved(&state_path);
        assert_eq!(s.next_index, s.size);
        assert_eq!(total, s.size - first.next_index);

        // A new monitor resumes from the state: only new entries are
        // scanned, and consistency is proven from the saved checkpoint.
        grow(&log, 2, &format!("c{tiles}")).await;
        let r = poll(&config).await;
        assert_eq!(r.exit_code(), EXIT_OK);
        assert_eq!(r.scanned, 2);
        assert_eq!(saved(&state_path).size, s.size + 2);

        // Nothing new: nothing scanned, nothing rewritten.
        let before = std::fs::read(&state_path).unwrap();
        let r = poll(&config).await;
        assert_eq!((r.exit_code(), r.scanned), (EXIT_OK, 0));
        assert_eq!(std::fs::read(&state_path).unwrap(), before);
    }
    log.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detects_a_forked_log() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "signer.pem", SignerKind::EcdsaP256);
    let a = serve(&dir.path().join("a"), Some(&key), "fork.test", &[]).await;
    grow(&a, 3, "honest").await;
    for tiles in [false, true] {
        let state_path = dir.path().join(format!("state-{tiles}.json"));
        let mut config = monitor_config(&url(&a), policy(&a), &state_path);
        config.tiles = tiles;
        assert_eq!(poll(&config).await.exit_code(), EXIT_OK);
    }
    a.stop().await.unwrap();

    // Same key, same origin, other entries: a split view.
    let b = serve(&dir.path().join("b"), Some(&key), "fork.test", &[]).await;
    grow(&b, 3, "evil").await;
    for tiles in [false, true] {
        let state_path = dir.path().join(format!("state-{tiles}.json"));
        let good = saved(&state_path);
        assert_eq!(good.size, 3);
        let mut config = monitor_config(&url(&b), policy(&b), &state_path);
        config.tiles = tiles;

        // Same size, another root.
        let r = poll(&config).await;
        assert_eq!(kinds(&r), [AlertKind::Inconsistent]);
        assert_eq!(r.exit_code(), EXIT_LOG_MISBEHAVIOUR);
        let alert = &r.alerts[0];
        assert!(alert.message.contains("forked"), "{}", alert.message);
        // The evidence: both signed checkpoints.
        assert_eq!(alert.previous.as_ref().unwrap().note, good.checkpoint);
        assert_eq!(alert.checkpoint.as_ref().unwrap().size, 3);
        assert_ne!(alert.checkpoint.as_ref().unwrap().note, good.checkpoint);
        assert_eq!(saved(&state_path), good, "a bad checkpoint is never saved");
    }

    // A larger tree: no consistency proof can tie it to the old one.
    grow(&b, 2, "more-evil").await;
    for tiles in [false, true] {
        let state_path = dir.path().join(format!("state-{tiles}.json"));
        let good = saved(&state_path);
        let mut config = monitor_config(&url(&b), policy(&b), &state_path);
        config.tiles = tiles;
        let r = poll(&config).await;
        assert_eq!(kinds(&r), [AlertKind::Inconsistent], "tiles={tiles}");
        assert!(
            r.alerts[0].message.contains("not consistent"),
            "{}",
            r.alerts[0].message
        );
        // Raised again on every poll; the state stays on the good tree.
        let r = poll(&config).await;
        assert_eq!(r.exit_code(), EXIT_LOG_MISBEHAVIOUR);
        assert_eq!(saved(&state_path), good);
    }

    // A rollback: the state is still at size 3; a log of size 1 under the
    // same key must prove its tree a prefix of the saved one, and cannot.
    let c = serve(&dir.path().join("c"), Some(&key), "fork.test", &[]).await;
    grow(&c, 1, "small").await;
    let state_path = dir.path().join("state-false.json");
    let good = saved(&state_path);
    let config = monitor_config(&url(&c), policy(&c), &state_path);
    let err = Monitor::new(config).unwrap().poll().await.unwrap_err();
    assert!(err.to_string().contains("proof"), "{err}");
    assert_eq!(saved(&state_path), good);
    b.stop().await.unwrap();
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detects_bad_checkpoint_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(&dir.path().join("log"), None, "sig.test", &[]).await;
    grow(&log, 2, "x").await;
    let info: Value = get_json(format!("{}/api/v1/log", url(&log))).await;
    let note = info["signedTreeHead"].as_str().unwrap().to_string();

    // The same note with another root hash: the signature no longer covers
    // the text.
    let parsed = Note::parse(&note).unwrap();
    let mut lines: Vec<&str> = parsed.text().lines().collect();
    let forged_root = encode_base64(&[7u8; 32]);
    lines[2] = &forged_root;
    let tampered = note.replacen(parsed.text(), &format!("{}\n", lines.join("\n")), 1);
    assert_ne!(tampered, note);

    // A note signed by another key under the same name.
    let other = serve(&dir.path().join("other"), None, "sig.test", &[]).await;
    let stranger = get_text(format!("{}/checkpoint", url(&other))).await;

    for (bad, why) in [
        (tampered.as_str(), "does not verify"),
        (stranger.as_str(), "no signature"),
        ("not a note", "malformed"),
    ] {
        let mut info = info.clone();
        info["signedTreeHead"] = json!(bad);
        let fake = fake_log(info, bad.to_string()).await;
        for tiles in [false, true] {
            let state_path = dir.path().join(format!("state-{tiles}-{why}.json"));
            let mut config = monitor_config(&fake, policy(&log), &state_path);
            config.tiles = tiles;
            let r = poll(&config).await;
            assert_eq!(kinds(&r), [AlertKind::BadCheckpoint], "{why} tiles={tiles}");
            assert_eq!(r.exit_code(), EXIT_LOG_MISBEHAVIOUR);
            assert!(r.alerts[0].message.contains(why), "{}", r.alerts[0].message);
            assert!(state::load(&state_path).unwrap().is_none());
        }
    }

    // A state file tampered with is refused at start.
    let state_path = dir.path().join("state.json");
    let config = monitor_config(&url(&log), policy(&log), &state_path);
    assert_eq!(poll(&config).await.exit_code(), EXIT_OK);
    let mut s = saved(&state_path);
    s.checkpoint = tampered.clone();
    state::save(&state_path, &s).unwrap();
    assert!(Monitor::new(config).is_err());
    log.stop().await.unwrap();
    other.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_on_watched_keys_and_identities() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(&dir.path().join("log"), None, "watch.test", &[]).await;
    let (hook, received) = webhook().await;
    let watched = Key::new();
    let alice = Key::new();
    let watch = Watchlist::new(
        &[r"^alice@example\.com$".into()],
        &[("watched.pem".into(), watched.pem())],
    )
    .unwrap();
    grow(&log, 2, "before").await;

    for tiles in [false, true] {
        received.lock().unwrap().clear();
        let state_path = dir.path().join(format!("state-{tiles}.json"));
        let mut config = monitor_config(&url(&log), policy(&log), &state_path);
        config.tiles = tiles;
        config.watch = watch.clone();
        config.webhook = Some(hook.clone());

        // First run: entries already in the log are not scanned.
        let r = poll(&config).await;
        assert_eq!((r.exit_code(), r.scanned), (EXIT_OK, 0));
        let start = saved(&state_path).size;

        grow(&log, 1, &format!("noise-{tiles}")).await;
        let artifact = format!("watched-{tiles}");
        submit(
            &log,
            hashedrekord(&watched, artifact.as_bytes(), &watched.pem()),
        )
        .await;
        submit(&log, dsse(&watched, artifact.as_bytes())).await;
        let cert = pem_lf("CERTIFICATE", &self_signed(&alice, "alice@example.com"));
        submit(&log, hashedrekord(&alice, artifact.as_bytes(), &cert)).await;
        let bob = Key::new();
        let bob_cert = pem_lf("CERTIFICATE", &self_signed(&bob, "bob@example.com"));
        submit(&log, hashedrekord(&bob, artifact.as_bytes(), &bob_cert)).await;

        let r = poll(&config).await;
        assert_eq!(r.scanned, 5);
        assert_eq!(
            kinds(&r),
            [
                AlertKind::WatchedKey,
                AlertKind::WatchedKey,
                AlertKind::WatchedIdentity
            ]
        );
        assert_eq!(r.exit_code(), EXIT_WATCHED);
        let key_id = signet_model::encoding::encode_hex(signet_crypto::sha256(&watched.spki));
        let entries: Vec<_> = r.alerts.iter().map(|a| a.entry.clone().unwrap()).collect();
        assert_eq!(entries[0].index, start + 1);
        assert_eq!(entries[0].kind.as_deref(), Some("hashedrekord"));
        assert_eq!(entries[0].key_sha256.as_deref(), Some(key_id.as_str()));
        assert_eq!(entries[1].index, start + 2);
        assert_eq!(entries[1].kind.as_deref(), Some("dsse"));
        assert_eq!(entries[2].index, start + 3);
        assert_eq!(entries[2].identity.as_deref(), Some("alice@example.com"));

        // The webhook got the same alerts, as JSON.
        let got = received.lock().unwrap().clone();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0]["kind"], "watched_key");
        assert_eq!(got[0]["severity"], "warning");
        assert_eq!(got[0]["entry"]["keySha256"], key_id.as_str());
        assert_eq!(got[0]["entry"]["index"], start + 1);
        assert_eq!(got[2]["kind"], "watched_identity");
        assert_eq!(got[2]["entry"]["identity"], "alice@example.com");
        assert_eq!(got[2]["origin"], "watch.test");

        // Reported once: the next poll finds nothing.
        let r = poll(&config).await;
        assert_eq!((r.exit_code(), r.scanned), (EXIT_OK, 0));
        assert_eq!(received.lock().unwrap().len(), 3);
    }

    // Checkpoint alerts are posted too: a log under the same name whose
    // checkpoints the log key did not sign.
    received.lock().unwrap().clear();
    let other = serve(&dir.path().join("other"), None, "watch.test", &[]).await;
    let state_path = dir.path().join("state-false.json");
    let mut config = monitor_config(&url(&other), policy(&log), &state_path);
    config.webhook = Some(hook.clone());
    let r = poll(&config).await;
    assert_eq!(r.exit_code(), EXIT_LOG_MISBEHAVIOUR);
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["kind"], "bad_checkpoint");
    assert_eq!(got[0]["severity"], "critical");
    log.stop().await.unwrap();
    other.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn witness_cosignatures_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let w1 = key_file(dir.path(), "w1.pem", SignerKind::Ed25519);
    let w2 = key_file(dir.path(), "w2.pem", SignerKind::Ed25519);
    let witnesses = [
        WitnessKey {
            name: Some("witness.test/w1".into()),
            path: w1.clone(),
        },
        WitnessKey::parse_arg(w2.to_str().unwrap()),
    ];
    let log = serve(&dir.path().join("log"), None, "witnessed.test", &witnesses).await;
    let resp = submit(&log, {
        let k = Key::new();
        hashedrekord(&k, b"w", &k.pem())
    })
    .await;

    // Every published checkpoint carries both cosignatures.
    let w1_pem = ed25519_public_pem(&w1);
    let w2_pem = ed25519_public_pem(&w2);
    let v1 = CosignatureVerifier::new(
        "witness.test/w1",
        signet_crypto::PublicKey::from_pem(&w1_pem).unwrap(),
    )
    .unwrap();
    let v2 = CosignatureVerifier::new("w2", signet_crypto::PublicKey::from_pem(&w2_pem).unwrap())
        .unwrap();
    let info: Value = get_json(format!("{}/api/v1/log", url(&log))).await;
    let checkpoint = get_text(format!("{}/checkpoint", url(&log))).await;
    let entry = resp.as_object().unwrap().values().next().unwrap();
    for note in [
        info["signedTreeHead"].as_str().unwrap(),
        checkpoint.as_str(),
        entry["verification"]["inclusionProof"]["checkpoint"]
            .as_str()
            .unwrap(),
    ] {
        let n = Note::parse(note).unwrap();
        assert_eq!(n.signatures().len(), 3, "{note}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let t = v1.verify(&n).unwrap();
        assert!(t.abs_diff(now) < 60);
        v2.verify(&n).unwrap();
        log.context.signer.verifier().unwrap().verify(&n).unwrap();
    }

    let with_witness = |name: &str, pem: &str, tiles: bool, state: &str| {
        let mut p = policy(&log);
        p.require_witness(name, pem).unwrap();
        let mut c = monitor_config(&url(&log), p, &dir.path().join(state));
        c.tiles = tiles;
        c
    };
    for tiles in [false, true] {
        // The right witness key: accepted, and still as the log grows.
        let ok = with_witness("witness.test/w1", &w1_pem, tiles, &format!("ok-{tiles}"));
        assert_eq!(poll(&ok).await.exit_code(), EXIT_OK);
        grow(&log, 2, &format!("more-{tiles}")).await;
        let r = poll(&ok).await;
        assert_eq!(kinds(&r), []);
        assert_eq!(r.size, saved(&dir.path().join(format!("ok-{tiles}"))).size);

        // The name with another key, or a witness that did not cosign.
        for (name, pem) in [("witness.test/w1", &w2_pem), ("witness.test/w3", &w1_pem)] {
            let bad = with_witness(name, pem, tiles, &format!("bad-{tiles}-{name}"));
            let r = poll(&bad).await;
            assert_eq!(kinds(&r), [AlertKind::WitnessMissing], "{name}");
            assert_eq!(r.exit_code(), EXIT_LOG_MISBEHAVIOUR);
        }
    }
    log.stop().await.unwrap();

    // A log without witnesses fails the requirement; restarted with a
    // witness, its latest checkpoint is cosigned at once.
    let plain_dir = dir.path().join("plain");
    let plain = serve(&plain_dir, None, "plain.test", &[]).await;
    grow(&plain, 1, "p").await;
    let mut p = policy(&plain);
    p.require_witness("witness.test/w1", &w1_pem).unwrap();
    let config = monitor_config(&url(&plain), p.clone(), &dir.path().join("plain-state"));
    let r = poll(&config).await;
    assert_eq!(kinds(&r), [AlertKind::WitnessMissing]);
    plain.stop().await.unwrap();
    let witnessed = serve(&plain_dir, None, "plain.test", &witnesses[..1]).await;
    let config = monitor_config(&url(&witnessed), p, &dir.path().join("plain-state"));
    let r = poll(&config).await;
    assert_eq!(kinds(&r), []);
    assert_eq!(r.size, 1);
    witnessed.stop().await.unwrap();
}

/// A test double of the log's network that serves a stale `/api/v1/log`
/// (and `/checkpoint`, if given) and forwards everything else to the real
/// log.
async fn stale_proxy(real: String, log_info: Value, checkpoint: Option<String>) -> String {
    let real_for_checkpoint = real.clone();
    let app = Router::new()
        .route(
            "/api/v1/log",
            get(move || {
                let v = log_info.clone();
                async move { axum::Json(v) }
            }),
        )
        .route(
            "/checkpoint",
            get(move || {
                let (real, checkpoint) = (real_for_checkpoint.clone(), checkpoint.clone());
                async move {
                    match checkpoint {
                        Some(c) => c.into_bytes(),
                        None => forward(&real, "/checkpoint").await.1,
                    }
                }
            }),
        )
        .fallback(move |uri: axum::http::Uri| {
            let real = real.clone();
            async move {
                let pq = uri.path_and_query().map_or("/", |p| p.as_str());
                forward(&real, pq).await
            }
        });
    serve_app(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_entries_proven_against_a_newer_tree() {
    // Rekor v1 proves each entry against its latest tree, which may be newer
    // than the checkpoint the monitor verified: the newer checkpoint must be
    // signed and consistent with it.
    let dir = tempfile::tempdir().unwrap();
    let log = serve(&dir.path().join("log"), None, "newer.test", &[]).await;
    grow(&log, 2, "a").await;
    let state_path = dir.path().join("state.json");
    let watched = Key::new();
    let mut config = monitor_config(&url(&log), policy(&log), &state_path);
    config.watch = Watchlist::new(&[], &[("w".into(), watched.pem())]).unwrap();
    assert_eq!(poll(&config).await.exit_code(), EXIT_OK);

    grow(&log, 2, "b").await;
    submit(&log, hashedrekord(&watched, b"newer", &watched.pem())).await;
    let info: Value = get_json(format!("{}/api/v1/log", url(&log))).await;
    assert_eq!(info["treeSize"], 5);
    grow(&log, 3, "c").await;

    let proxy = stale_proxy(url(&log), info, None).await;
    let mut via_proxy = config.clone();
    via_proxy.url = proxy;
    let r = poll(&via_proxy).await;
    assert_eq!(r.size, 5);
    assert_eq!(r.scanned, 3);
    assert_eq!(kinds(&r), [AlertKind::WatchedKey]);
    assert_eq!(r.alerts[0].entry.as_ref().unwrap().index, 4);
    // The direct read path then catches up.
    let r = poll(&config).await;
    assert_eq!((r.exit_code(), r.size, r.scanned), (EXIT_OK, 8, 3));
    log.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_proofs_against_another_tree_of_the_log_are_refused() {
    // A newer tree's checkpoint, signed by the log's key, but of another
    // origin ("<name> - <tree ID>" is how Rekor names its shards).
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(serve(&dir.path().join("log"), None, "shard.test", &[]).await);
    grow(&log, 2, "a").await;
    let state_path = dir.path().join("state.json");
    let mut config = monitor_config(&url(&log), policy(&log), &state_path);
    config.watch = Watchlist::new(&[], &[("w".into(), Key::new().pem())]).unwrap();
    assert_eq!(poll(&config).await.exit_code(), EXIT_OK);
    grow(&log, 1, "b").await;
    let info: Value = get_json(format!("{}/api/v1/log", url(&log))).await;
    grow(&log, 1, "c").await;

    let (real, signer_log) = (url(&log), log.clone());
    let app = Router::new()
        .route(
            "/api/v1/log",
            get(move || {
                let v = info.clone();
                async move { axum::Json(v) }
            }),
        )
        .fallback(move |uri: axum::http::Uri| {
            let (real, log) = (real.clone(), signer_log.clone());
            async move {
                let pq = uri.path_and_query().map_or("/", |p| p.as_str());
                let (status, body) = forward(&real, pq).await;
                if !pq.starts_with("/api/v1/log/entries?logIndex=") {
                    return (status, body);
                }
                let mut answer: Value = serde_json::from_slice(&body).unwrap();
                for entry in answer.as_object_mut().unwrap().values_mut() {
                    let proof = &mut entry["verification"]["inclusionProof"];
                    let note = Note::parse(proof["checkpoint"].as_str().unwrap()).unwrap();
                    let text = note.text().replacen("shard.test\n", "shard.test - 99\n", 1);
                    let forged = log.context.signer.sign_note(text).unwrap().serialize();
                    proof["checkpoint"] = json!(forged);
                }
                (status, serde_json::to_vec(&answer).unwrap())
            }
        });
    let mut via_proxy = config.clone();
    via_proxy.url = serve_app(app).await;
    let r = poll(&via_proxy).await;
    assert_eq!(kinds(&r), [AlertKind::Inconsistent]);
    assert!(
        r.alerts[0].message.contains("\"shard.test - 99\""),
        "{}",
        r.alerts[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_behind_the_saved_one_is_no_alert_if_it_is_a_prefix() {
    // A cache or replica may serve an older signed checkpoint after a newer
    // one: proven a prefix of the saved tree, it is not misbehaviour.
    let dir = tempfile::tempdir().unwrap();
    let log = serve(&dir.path().join("log"), None, "behind.test", &[]).await;
    grow(&log, 3, "a").await;
    let old_info: Value = get_json(format!("{}/api/v1/log", url(&log))).await;
    let old_checkpoint = get_text(format!("{}/checkpoint", url(&log))).await;
    grow(&log, 2, "b").await;
    let proxy = stale_proxy(url(&log), old_info, Some(old_checkpoint)).await;
    for tiles in [false, true] {
        let state_path = dir.path().join(format!("state-{tiles}.json"));
        let mut config = monitor_config(&url(&log), policy(&log), &state_path);
        config.tiles = tiles;
        let r = poll(&config).await;
        assert_eq!((r.exit_code(), r.size), (EXIT_OK, 5), "tiles={tiles}");
        let before = saved(&state_path);

        let mut behind = config.clone();
        behind.url = proxy.clone();
        let r = poll(&behind).await;
        assert_eq!(kinds(&r), [], "tiles={tiles}");
        assert_eq!(r.exit_code(), EXIT_OK);
        let after = saved(&state_path);
        assert_eq!(
            (after.checkpoint, after.size, after.next_index),
            (before.checkpoint, before.size, before.next_index),
            "the state never moves back"
        );
    }
    log.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_empty_tree_must_have_the_empty_root() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(&dir.path().join("log"), None, "empty.test", &[]).await;
    let info: Value = get_json(format!("{}/api/v1/log", url(&log))).await;
    let signer = &log.context.signer;
    let empty = |root: signet_tlog::merkle::Hash| {
        let text = signet_tlog::Checkpoint::new("empty.test", 0, root, vec![])
            .unwrap()
            .to_text();
        signer.sign_note(text).unwrap().serialize()
    };
    for (root, alerts) in [
        (signet_tlog::merkle::empty_root(), vec![]),
        ([9u8; 32], vec![AlertKind::BadCheckpoint]),
    ] {
        let note = empty(root);
        let mut info = info.clone();
        info["signedTreeHead"] = json!(note);
        let fake = fake_log(info, note).await;
        for tiles in [false, true] {
            let state_path = dir
                .path()
                .join(format!("state-{tiles}-{}.json", alerts.len()));
            let mut config = monitor_config(&fake, policy(&log), &state_path);
            config.tiles = tiles;
            assert_eq!(kinds(&poll(&config).await), alerts, "tiles={tiles}");
        }
    }
    log.stop().await.unwrap();
}

/// A test double of the log's network that appends one entry to the real
/// log before forwarding each request for an entry, so that every entry's
/// inclusion proof comes from a tree of another size.
async fn growing_proxy(log: Arc<RunningLog>) -> String {
    let appended = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = Router::new().fallback(move |uri: axum::http::Uri| {
        let (log, appended) = (log.clone(), appended.clone());
        async move {
            let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            if pq.starts_with("/api/v1/log/entries?logIndex=") {
                let n = appended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let k = Key::new();
                submit(
                    &log,
                    hashedrekord(&k, format!("meanwhile-{n}").as_bytes(), &k.pem()),
                )
                .await;
            }
            forward(&url(&log), pq).await
        }
    });
    serve_app(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_grows_during_every_request_is_still_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(serve(&dir.path().join("log"), None, "busy.test", &[]).await);
    grow_fast(&log, 40, "before").await;
    let proxy = growing_proxy(log.clone()).await;
    let mut config = monitor_config(&proxy, policy(&log), &dir.path().join("state.json"));
    config.start_index = Some(0);
    let watched = Key::new();
    config.watch = Watchlist::new(&[], &[("w".into(), watched.pem())]).unwrap();
    let r = poll(&config).await;
    assert_eq!((kinds(&r), r.scanned), (vec![], 40));
    // Each of the 40 proofs was against another tree (more than the scan
    // keeps): the log grew by one entry per request.
    let info: Value = get_json(format!("{}/api/v1/log", url(&log))).await;
    assert_eq!(info["treeSize"], 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_tree_never_proven_is_an_alert_after_the_grace() {
    // A forked log can pass its new tree off as an outage by answering no
    // consistency proof; after `proof_grace` that is an alert.
    let dir = tempfile::tempdir().unwrap();
    let log = serve(&dir.path().join("log"), None, "grace.test", &[]).await;
    grow(&log, 2, "a").await;
    let real = url(&log);
    let no_proofs = Router::new().fallback(move |uri: axum::http::Uri| {
        let real = real.clone();
        async move {
            let pq = uri.path_and_query().map_or("/", |p| p.as_str());
            if pq.starts_with("/api/v1/log/proof") || pq.starts_with("/tile/") {
                return (axum::http::StatusCode::SERVICE_UNAVAILABLE, Vec::new());
            }
            forward(&real, pq).await
        }
    });
    let proxy = serve_app(no_proofs).await;
    let mut configs = Vec::new();
    for tiles in [false, true] {
        let mut config = monitor_config(
            &url(&log),
            policy(&log),
            &dir.path().join(format!("s-{tiles}")),
        );
        config.tiles = tiles;
        assert_eq!(poll(&config).await.exit_code(), EXIT_OK);
        configs.push(config);
    }
    grow(&log, 2, "b").await;
    for config in configs {
        let mut refused = config.clone();
        refused.url = proxy.clone();
        // Within the grace: a failed poll, and the wait is remembered.
        let err = Monitor::new(refused.clone())
            .unwrap()
            .poll()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
        let waiting = saved(&config.state_path);
        assert_eq!(waiting.size, 2);
        assert!(waiting.unproven_since.is_some());
        // Past it: an alert naming both trees.
        refused.proof_grace = Duration::ZERO;
        let r = poll(&refused).await;
        assert_eq!(
            kinds(&r),
            [AlertKind::Inconsistent],
            "tiles={}",
            config.tiles
        );
        assert!(
            r.alerts[0]
                .message
                .contains("without a consistency proof from tree 2"),
            "{}",
            r.alerts[0].message
        );
        // A proof ends the wait.
        let r = poll(&config).await;
        assert_eq!((r.exit_code(), r.size), (EXIT_OK, 4));
        assert_eq!(saved(&config.state_path).unproven_since, None);
    }
    log.stop().await.unwrap();
}

// ----- fsck ------------------------------------------------------------------

fn fsck_config(log: &RunningLog, policy: LogPolicy) -> signet_log::fsck::FsckConfig {
    signet_log::fsck::FsckConfig {
        url: url(log),
        policy,
        timeout: Duration::from_secs(10),
        concurrency: 4,
    }
}

/// Overwrites a stored row behind the running log (SQLite, WAL mode: the
/// log's readers see it at their next read).
fn tamper(dir: &Path, sql: &str, params: impl rusqlite::Params) {
    let db = rusqlite::Connection::open(dir.join("log.db")).unwrap();
    assert_eq!(db.execute(sql, params).unwrap(), 1, "{sql}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsck_rebuilds_the_tree_and_finds_what_was_tampered_with() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), None, "fsck.example", &[]).await;
    // Two full level-0 tiles and a partial one; a partial level-1 tile.
    grow_fast(&log, 600, "fsck").await;
    let config = fsck_config(&log, policy(&log));
    let report = signet_log::fsck::fsck(&config).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!((report.size, report.entries, report.tiles), (600, 600, 4));

    // A checkpoint under another key is refused outright.
    let other = signet_tlog::NoteSigner::from_pkcs8_der(
        "fsck.example",
        &generate_pkcs8(SignerKind::EcdsaP256).unwrap(),
    )
    .unwrap();
    let wrong = LogPolicy::from_key_pem(&other.public_key().to_pem(), "fsck.example").unwrap();
    let err = signet_log::fsck::fsck(&fsck_config(&log, wrong))
        .await
        .unwrap_err();
    assert!(
        matches!(err, signet_log::fsck::FsckError::Checkpoint(_)),
        "{err}"
    );

    // A stored level-1 hash that is not the root of its level-0 tile.
    tamper(
        dir.path(),
        "UPDATE tiles SET hashes = CAST(zeroblob(32) || substr(hashes, 33) AS BLOB) WHERE level = 1 AND idx = 0",
        [],
    );
    let report = signet_log::fsck::fsck(&config).await.unwrap();
    assert_eq!(
        report.problems,
        ["tile 1/0: hash 0 is not the one rebuilt from the entries"]
    );

    // An entry body changed under the tree: its leaf no longer matches the
    // stored level-0 tile, the rebuilt root is not the signed one, and the
    // body is not a canonical entry.
    tamper(
        dir.path(),
        "UPDATE entries SET body = CAST('{\"kind\": \"hashedrekord\"}' AS BLOB) WHERE idx = 300",
        [],
    );
    let report = signet_log::fsck::fsck(&config).await.unwrap();
    let problems = report.problems.join("\n");
    assert_eq!(report.problem_count, 4, "{problems}");
    assert!(problems.contains("entry 300: body"), "{problems}");
    assert!(
        problems.contains("tile 0/1: hash 44 is not the one rebuilt"),
        "{problems}"
    );
    assert!(problems.contains("tile 1/0: hash 0"), "{problems}");
    assert!(
        problems.contains("is not the signed checkpoint's root"),
        "{problems}"
    );

    // An entry stored twice (what the 409 for a duplicate prevents).
    tamper(
        dir.path(),
        "UPDATE entries SET body = (SELECT body FROM entries WHERE idx = 5) WHERE idx = 301",
        [],
    );
    let report = signet_log::fsck::fsck(&config).await.unwrap();
    let problems = report.problems.join("\n");
    assert_eq!(report.problem_count, 5, "{problems}");
    assert!(
        problems.contains("entry 301: the same leaf as entry 5 (logged twice)"),
        "{problems}"
    );
    log.stop().await.unwrap();
}
