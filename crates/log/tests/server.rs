//! End-to-end tests: a log served in-process on 127.0.0.1:0, real signed
//! entries, and the responses checked with signet-verify and signet-tlog.

use std::time::Duration;

use serde_json::{json, Value};
use signet_crypto::PublicKey;
use signet_log::entry::pem_lf;
use signet_log::{start, Config, RunningLog};
use signet_model::bundle::Bundle;
use signet_model::encoding::{decode_base64, encode_base64};
use signet_tlog::{merkle, Checkpoint, Note, SignerKind};
use signet_verify::{Artifact, Options, SignerPolicy, Verifier};
use tokio::net::TcpListener;

mod common;
use common::{append_all, hashedrekord, http, self_signed, tlog_entry, trust, Key};

// ----- keys, certificates, entries -----------------------------------------

const INTOTO: &str = "application/vnd.in-toto+json";

/// An in-toto statement with these subjects.
fn statement_of(subjects: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://example.com/test/v1",
        "predicate": {}
    }))
    .unwrap()
}

fn statement(artifact: &[u8]) -> Vec<u8> {
    statement_of(vec![
        json!({"name": "a.txt", "digest": {"sha256": signet_model::encoding::encode_hex(signet_crypto::sha256(artifact))}}),
    ])
}

/// A DSSE envelope over `payload` (an in-toto statement) signed by `key`.
fn signed_envelope(key: &Key, payload: &[u8]) -> Value {
    let sig = key.sign(&signet_model::dsse::pae(INTOTO, payload));
    json!({
        "payload": encode_base64(payload),
        "payloadType": INTOTO,
        "signatures": [{"sig": encode_base64(&sig), "keyid": ""}]
    })
}

/// A signed DSSE envelope over an in-toto statement for `artifact`.
fn envelope(key: &Key, artifact: &[u8]) -> Value {
    signed_envelope(key, &statement(artifact))
}

fn dsse(key: &Key, env: &Value) -> Vec<u8> {
    dsse_naming(&key.pem(), env)
}

/// A dsse 0.0.1 entry of `env` naming `verifier_pem` (key or certificate).
fn dsse_naming(verifier_pem: &str, env: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {
            "envelope": env.to_string(),
            "verifiers": [encode_base64(verifier_pem.as_bytes())]
        }}
    }))
    .unwrap()
}

fn intoto(key: &Key, env: &Value) -> Vec<u8> {
    let payload_text = env["payload"].as_str().unwrap();
    let sig_text = env["signatures"][0]["sig"].as_str().unwrap();
    serde_json::to_vec(&json!({
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {"content": {
            "envelope": {
                "payload": encode_base64(payload_text.as_bytes()),
                "payloadType": INTOTO,
                "signatures": [{
                    "sig": encode_base64(sig_text.as_bytes()),
                    "publicKey": encode_base64(key.pem().as_bytes())
                }]
            },
            "hash": {"algorithm": "sha256", "value": signet_model::encoding::encode_hex(signet_crypto::sha256(env.to_string().as_bytes()))}
        }}
    }))
    .unwrap()
}

// ----- server and trust ----------------------------------------------------

async fn serve(dir: &std::path::Path, kind: SignerKind) -> RunningLog {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::new(dir, format!("http://{addr}"));
    config.key_kind = kind;
    config.batch_interval = Duration::from_millis(2);
    config.max_body = 16 * 1024;
    start(&config, listener).await.unwrap()
}

/// Restarts on the same data dir and key, on a new port with the same
/// public URL (so the origin is unchanged).
async fn restart(dir: &std::path::Path, public_url: &str) -> RunningLog {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = Config::new(dir, public_url);
    config.batch_interval = Duration::from_millis(2);
    start(&config, listener).await.unwrap()
}

fn message_bundle(entry: Value, artifact: &[u8], sig: &str) -> Bundle {
    let json = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": [entry]},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": encode_base64(&signet_crypto::sha256(artifact))},
            "signature": sig
        }
    });
    Bundle::from_json(json.to_string().as_bytes()).unwrap()
}

fn dsse_bundle(entry: Value, env: &Value) -> Bundle {
    let json = json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": [entry]},
        "dsseEnvelope": {
            "payload": env["payload"], "payloadType": env["payloadType"],
            "signatures": [{"sig": env["signatures"][0]["sig"]}]
        }
    });
    Bundle::from_json(json.to_string().as_bytes()).unwrap()
}

async fn size(log: &RunningLog) -> u64 {
    http(log.addr, "GET", "/api/v1/log", None).await.json()["treeSize"]
        .as_u64()
        .unwrap()
}

// ----- tests ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_entries_verify_with_signet_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), SignerKind::EcdsaP256).await;
    let verifier = Verifier::new(trust(&log), Options::default());
    let key = Key::new();
    let policy = SignerPolicy::Key(key.public());

    // hashedrekord 0.0.1 with a key.
    let artifact = b"hello, transparency";
    let req = hashedrekord(&key, artifact, &key.pem());
    let r = http(log.addr, "POST", "/api/v1/log/entries", Some(&req)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (uuid, entry) = tlog_entry(&r.json());
    assert_eq!(r.headers["location"], format!("/api/v1/log/entries/{uuid}"));
    assert_eq!(r.headers["etag"], uuid);
    assert_eq!(r.headers["content-type"], "application/json");
    let sig =
        serde_json::from_slice::<Value>(&req).unwrap()["spec"]["signature"]["content"].clone();
    let bundle = message_bundle(entry, artifact, sig.as_str().unwrap());
    let verified = verifier
        .verify(&bundle, &Artifact::Bytes(artifact), &policy)
        .unwrap();
    assert_eq!(verified.log_entries.len(), 1);
    // A different artifact is rejected.
    assert!(verifier
        .verify(&bundle, &Artifact::Bytes(b"other"), &policy)
        .is_err());

    // dsse 0.0.1.
    let env = envelope(&key, artifact);
    let r = http(
        log.addr,
        "POST",
        "/api/v1/log/entries",
        Some(&dsse(&key, &env)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (_, entry) = tlog_entry(&r.json());
    verifier
        .verify(
            &dsse_bundle(entry, &env),
            &Artifact::Bytes(artifact),
            &policy,
        )
        .unwrap();

    // intoto 0.0.2 (same envelope, another kind: another leaf).
    let r = http(
        log.addr,
        "POST",
        "/api/v1/log/entries",
        Some(&intoto(&key, &env)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (_, entry) = tlog_entry(&r.json());
    verifier
        .verify(
            &dsse_bundle(entry, &env),
            &Artifact::Bytes(artifact),
            &policy,
        )
        .unwrap();

    // hashedrekord with a self-signed certificate: the log part verifies
    // with the same code signet-verify runs.
    let cert = self_signed(&key, "Signer@Example.com");
    let req = hashedrekord(&key, b"cert-signed", &pem_lf("CERTIFICATE", &cert));
    let r = http(log.addr, "POST", "/api/v1/log/entries", Some(&req)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (cert_uuid, entry) = tlog_entry(&r.json());
    let entry: signet_model::bundle::TransparencyLogEntry = serde_json::from_value(entry).unwrap();
    let trust = trust(&log);
    let v = signet_verify::tlog::verify_entry(&entry, &trust, i64::MAX / 2).unwrap();
    assert!(v.signed_time.is_some());
    assert_eq!(size(&log).await, 4);

    // Search: by artifact digest, by key, by certificate email.
    let digest = signet_model::encoding::encode_hex(signet_crypto::sha256(b"cert-signed"));
    let r = http(
        log.addr,
        "POST",
        "/api/v1/index/retrieve",
        Some(
            json!({"hash": format!("sha256:{digest}")})
                .to_string()
                .as_bytes(),
        ),
    )
    .await;
    assert_eq!(r.json(), json!([cert_uuid]));
    let r = http(
        log.addr,
        "POST",
        "/api/v1/index/retrieve",
        Some(
            json!({"email": "signer@example.com"})
                .to_string()
                .as_bytes(),
        ),
    )
    .await;
    assert_eq!(r.json(), json!([cert_uuid]));
    let r = http(log.addr, "POST", "/api/v1/index/retrieve",
        Some(json!({"publicKey": {"format": "x509", "content": encode_base64(key.pem().as_bytes())}}).to_string().as_bytes())).await;
    assert_eq!(r.json().as_array().unwrap().len(), 4);

    // Reads: by UUID, by index, retrieve; the public key.
    let r = http(
        log.addr,
        "GET",
        &format!("/api/v1/log/entries/{uuid}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let (_, by_uuid) = tlog_entry(&r.json());
    assert_eq!(by_uuid["inclusionProof"]["treeSize"], "4");
    let r = http(log.addr, "GET", "/api/v1/log/entries?logIndex=0", None).await;
    assert_eq!(r.json().as_object().unwrap().keys().next().unwrap(), &uuid);
    let r = http(
        log.addr,
        "POST",
        "/api/v1/log/entries/retrieve",
        Some(
            json!({"entryUUIDs": [uuid], "logIndexes": [3, 99]})
                .to_string()
                .as_bytes(),
        ),
    )
    .await;
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    // By proposed entry, as Rekor: a logged one is found by its canonical
    // form, one never logged is not, one that could not be logged is a 400.
    let retrieve = |entries: Vec<Value>| {
        let body = json!({ "entries": entries }).to_string();
        async move {
            http(
                log.addr,
                "POST",
                "/api/v1/log/entries/retrieve",
                Some(body.as_bytes()),
            )
            .await
        }
    };
    let logged: Value = serde_json::from_slice(&req).unwrap();
    let r = retrieve(vec![logged]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let found = r.json();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert!(found[0].get(&cert_uuid).is_some());
    let never = serde_json::from_slice(&hashedrekord(&key, b"never logged", &key.pem())).unwrap();
    assert_eq!(retrieve(vec![never]).await.json(), json!([]));
    let forged = serde_json::from_slice(&hashedrekord(&Key::new(), b"x", &key.pem())).unwrap();
    assert_eq!(retrieve(vec![forged]).await.status, 400);
    let r = http(log.addr, "GET", "/api/v1/log/publicKey", None).await;
    assert_eq!(
        PublicKey::from_pem(std::str::from_utf8(&r.body).unwrap()).unwrap(),
        *log.context.signer.public_key()
    );
    log.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_bad_input_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), SignerKind::EcdsaP256).await;
    let key = Key::new();
    let req = hashedrekord(&key, b"once", &key.pem());
    let first = http(log.addr, "POST", "/api/v1/log/entries", Some(&req)).await;
    assert_eq!(first.status, 201);
    let (uuid, _) = tlog_entry(&first.json());
    let again = http(log.addr, "POST", "/api/v1/log/entries", Some(&req)).await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.headers["location"],
        format!("/api/v1/log/entries/{uuid}")
    );
    assert_eq!(again.json()["code"], 409);

    // Concurrent duplicates land in one batch: one 201, the rest 409.
    let req2 = hashedrekord(&key, b"racing", &key.pem());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let req2 = req2.clone();
        let addr = log.addr;
        tasks.push(tokio::spawn(async move {
            http(addr, "POST", "/api/v1/log/entries", Some(&req2))
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(size(&log).await, 2);

    let other = Key::new();
    let mut bad_sig: Value =
        serde_json::from_slice(&hashedrekord(&other, b"x", &key.pem())).unwrap();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"{not json".to_vec(), 400),
        (b"[".repeat(200), 400),
        (
            br#"{"apiVersion":"0.0.1","kind":"rpm","spec":{}}"#.to_vec(),
            400,
        ),
        (
            br#"{"apiVersion":"9.9.9","kind":"hashedrekord","spec":{}}"#.to_vec(),
            400,
        ),
        (serde_json::to_vec(&bad_sig).unwrap(), 400),
        (
            {
                bad_sig["spec"]["data"]["hash"]["value"] = json!("abcd");
                serde_json::to_vec(&bad_sig).unwrap()
            },
            400,
        ),
        (
            {
                let env = envelope(&key, b"a");
                let mut d: Value = serde_json::from_slice(&dsse(&other, &env)).unwrap();
                d["spec"]["proposedContent"]["verifiers"] =
                    json!([encode_base64(other.pem().as_bytes())]);
                serde_json::to_vec(&d).unwrap()
            },
            400,
        ),
        (vec![b' '; 20 * 1024], 413),
    ];
    // An Ed25519 key signs hashedrekord digests as Ed25519ph over SHA-512:
    // over SHA-256 it is refused saying so, and a pure Ed25519 signature
    // of a SHA-512 digest does not verify as Ed25519ph.
    let ed_seed = [9u8; 32];
    let ed_digest = signet_crypto::sha512(b"ed");
    let (_, ed_raw) = signet_crypto::sign_ed25519ph(&ed_seed, &ed_digest);
    let ed_pem = pem_lf(
        "PUBLIC KEY",
        PublicKey::from_raw_ed25519(&ed_raw).unwrap().spki_der(),
    );
    let mut ed_entry = bad_sig.clone();
    ed_entry["spec"]["data"]["hash"]["value"] = json!(signet_model::encoding::encode_hex(
        signet_crypto::sha256(b"ed")
    ));
    let pure = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&ed_seed)
        .unwrap()
        .sign(&ed_digest);
    ed_entry["spec"]["signature"] = json!({
        "content": encode_base64(pure.as_ref()),
        "publicKey": {"content": encode_base64(ed_pem.as_bytes())}
    });
    let mut pure_sha512 = ed_entry.clone();
    pure_sha512["spec"]["data"]["hash"] =
        json!({"algorithm": "sha512", "value": signet_model::encoding::encode_hex(ed_digest)});
    let mut cases = cases;
    cases.push((serde_json::to_vec(&ed_entry).unwrap(), 400));
    cases.push((serde_json::to_vec(&pure_sha512).unwrap(), 400));
    let refused = cases.len();
    for (body, status) in cases {
        let r = http(log.addr, "POST", "/api/v1/log/entries", Some(&body)).await;
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["code"], status);
    }
    let r = http(
        log.addr,
        "POST",
        "/api/v1/log/entries",
        Some(&serde_json::to_vec(&ed_entry).unwrap()),
    )
    .await;
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("Ed25519ph") && message.contains("SHA-512"),
        "{message}"
    );
    assert_eq!(size(&log).await, 2);

    // The metrics saw all of it: 2 created, 8 duplicates, the refusals,
    // and only the two new entries committed.
    let metrics = http(log.addr, "GET", "/metrics", None).await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    let route = r#"route="/api/v1/log/entries",method="POST""#;
    assert!(
        text.contains(&format!(
            "signet_log_http_requests_total{{{route},code=\"201\"}} 2\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "signet_log_http_requests_total{{{route},code=\"409\"}} 8\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "signet_log_append_seconds_count {}\n",
            11 + refused
        )),
        "{text}"
    );
    assert!(
        text.contains("signet_log_entries_total{result=\"committed\"} 2\n"),
        "{text}"
    );
    assert!(!text.contains("result=\"failed\""), "{text}");
    assert!(text.contains("signet_log_tree_size 2\n"), "{text}");
    assert!(text.contains("signet_log_sequencer_active 1\n"), "{text}");
    assert!(text.contains("signet_log_queue_depth 0\n"), "{text}");
    let kind = r#"kind="hashedrekord",version="0.0.1""#;
    for (outcome, count) in [("logged", 2), ("duplicate", 8)] {
        let line =
            format!("signet_log_submissions_total{{{kind},outcome=\"{outcome}\"}} {count}\n");
        assert!(text.contains(&line), "{line} in {text}");
    }
    let r = http(
        log.addr,
        "GET",
        &format!("/api/v1/log/entries/{}", "0".repeat(64)),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = http(log.addr, "GET", "/api/v1/log/entries?logIndex=2", None).await;
    assert_eq!(r.status, 404);
    log.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_restart_and_tiles_match_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), SignerKind::EcdsaP256).await;
    let public_url = log.context.public_url.clone();
    let key = Key::new();
    // 300 entries: a full level-0 tile and a partial one.
    append_all(log.addr, &key, (0..300).map(|i| format!("artifact {i}"))).await;
    let before = http(log.addr, "GET", "/api/v1/log", None).await.json();
    assert_eq!(before["treeSize"], 300);
    let old_note = before["signedTreeHead"].as_str().unwrap().to_string();
    let verifier = log.context.signer.verifier().unwrap();
    log.stop().await.unwrap();

    let log = restart(dir.path(), &public_url).await;
    let trust = trust(&log);
    let info = http(log.addr, "GET", "/api/v1/log", None).await.json();
    assert_eq!(info["treeSize"], 300);
    assert_eq!(info["signedTreeHead"].as_str().unwrap(), old_note);

    // Every entry is still there with a valid proof.
    let mut leaves = Vec::new();
    for i in 0..300u64 {
        let r = http(
            log.addr,
            "GET",
            &format!("/api/v1/log/entries?logIndex={i}"),
            None,
        )
        .await;
        assert_eq!(r.status, 200);
        let (uuid, entry) = tlog_entry(&r.json());
        let entry: signet_model::bundle::TransparencyLogEntry =
            serde_json::from_value(entry).unwrap();
        if i % 37 == 0 {
            signet_verify::tlog::verify_entry(&entry, &trust, i64::MAX / 2).unwrap();
        }
        leaves.push(merkle::leaf_hash(&entry.canonicalized_body));
        assert_eq!(signet_model::encoding::encode_hex(leaves[i as usize]), uuid);
    }

    // Append more; the new checkpoint is consistent with the old one.
    for i in 0..5u32 {
        let req = hashedrekord(&key, format!("after restart {i}").as_bytes(), &key.pem());
        let r = http(log.addr, "POST", "/api/v1/log/entries", Some(&req)).await;
        assert_eq!(r.status, 201);
        let (_, e) = tlog_entry(&r.json());
        leaves.push(merkle::leaf_hash(
            &decode_base64(e["canonicalizedBody"].as_str().unwrap()).unwrap(),
        ));
    }
    let r = http(
        log.addr,
        "GET",
        "/api/v1/log/proof?firstSize=300&lastSize=305",
        None,
    )
    .await
    .json();
    let hashes: Vec<merkle::Hash> = r["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    let old = Checkpoint::from_note(&Note::parse(&old_note).unwrap()).unwrap();
    let new_note = Note::parse(
        &String::from_utf8(
            http(log.addr, "GET", "/checkpoint", None)
                .await
                .body
                .clone(),
        )
        .unwrap(),
    )
    .unwrap();
    verifier.verify(&new_note).unwrap();
    let new = Checkpoint::from_note(&new_note).unwrap();
    assert_eq!(new.size(), 305);
    assert_eq!(
        signet_model::encoding::encode_hex(new.root_hash()),
        r["rootHash"].as_str().unwrap()
    );
    merkle::verify_consistency(300, 305, old.root_hash(), new.root_hash(), &hashes).unwrap();
    assert_eq!(*new.root_hash(), merkle::root(&leaves));

    // Tiles: level 0 full tile, partial tile, level 1, entry bundles.
    let t = http(log.addr, "GET", "/tile/0/000", None).await;
    assert_eq!(t.status, 200);
    assert!(t.headers["cache-control"].contains("immutable"));
    let want: Vec<u8> = leaves[..256].iter().flatten().copied().collect();
    assert_eq!(t.body, want);
    let t = http(log.addr, "GET", "/tile/0/001.p/49", None).await;
    assert_eq!(
        t.body,
        leaves[256..305]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<u8>>()
    );
    let t = http(log.addr, "GET", "/tile/0/001.p/10", None).await;
    assert_eq!(t.body.len(), 320);
    assert_eq!(
        http(log.addr, "GET", "/tile/0/001.p/50", None).await.status,
        404
    );
    assert_eq!(http(log.addr, "GET", "/tile/0/001", None).await.status, 404);
    let t = http(log.addr, "GET", "/tile/1/000.p/1", None).await;
    assert_eq!(t.body, merkle::root(&leaves[..256]).to_vec());
    let t = http(log.addr, "GET", "/tile/entries/001.p/49", None).await;
    let bodies = signet_log::tiles::split_bundle(&t.body).unwrap();
    assert_eq!(bodies.len(), 49);
    for (i, b) in bodies.iter().enumerate() {
        assert_eq!(merkle::leaf_hash(b), leaves[256 + i]);
    }
    assert_eq!(
        http(log.addr, "GET", "/tile/0/x000/001", None).await.status,
        404
    );
    log.stop().await.unwrap();
}

/// Proof reads between batches: each read takes the right-edge tiles of
/// its head, which the read path caches and which the next batch widens;
/// every entry's proof must verify against every later head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_read_between_batches_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), SignerKind::EcdsaP256).await;
    let trust = trust(&log);
    let key = Key::new();
    // 300 entries cross a level-0 tile boundary (256).
    let mut appended = 0u64;
    for round in 0..6u64 {
        let count = if round == 3 { 250 } else { 10 };
        append_all(
            log.addr,
            &key,
            (0..count).map(|i| format!("entry {round}/{i}")),
        )
        .await;
        appended += count;
        for index in [0, appended / 2, appended - 1] {
            let r = http(
                log.addr,
                "GET",
                &format!("/api/v1/log/entries?logIndex={index}"),
                None,
            )
            .await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let (_, entry) = tlog_entry(&r.json());
            let entry: signet_model::bundle::TransparencyLogEntry =
                serde_json::from_value(entry).unwrap();
            let proof = entry.inclusion_proof.as_ref().unwrap();
            assert_eq!(proof.tree_size.0, appended);
            signet_verify::tlog::verify_entry(&entry, &trust, i64::MAX / 2).unwrap();
        }
    }
    log.stop().await.unwrap();
}

/// Rekor reads an Ed25519 key in hashedrekord 0.0.1 as Ed25519ph over a
/// SHA-512 digest; so does this log, and the entry it answers verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashedrekord_with_an_ed25519ph_signature() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), SignerKind::EcdsaP256).await;
    let trust = trust(&log);
    let digest = signet_crypto::sha512(b"an artifact signed with Ed25519ph");
    let (sig, raw) = signet_crypto::sign_ed25519ph(&[3u8; 32], &digest);
    let pem = pem_lf(
        "PUBLIC KEY",
        PublicKey::from_raw_ed25519(&raw).unwrap().spki_der(),
    );
    let req = serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha512", "value": signet_model::encoding::encode_hex(digest)}},
            "signature": {
                "content": encode_base64(&sig),
                "publicKey": {"content": encode_base64(pem.as_bytes())}
            }
        }
    }))
    .unwrap();
    let r = http(log.addr, "POST", "/api/v1/log/entries", Some(&req)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (_, entry) = tlog_entry(&r.json());
    let entry: signet_model::bundle::TransparencyLogEntry = serde_json::from_value(entry).unwrap();
    signet_verify::tlog::verify_entry(&entry, &trust, i64::MAX / 2).unwrap();
    let body: Value = serde_json::from_slice(&entry.canonicalized_body).unwrap();
    assert_eq!(body["spec"]["data"]["hash"]["algorithm"], "sha512");
    assert_eq!(
        body["spec"]["signature"]["publicKey"]["content"],
        encode_base64(pem.as_bytes())
    );
    assert_eq!(
        http(log.addr, "POST", "/api/v1/log/entries", Some(&req))
            .await
            .status,
        409
    );

    // The same signature over another digest does not verify.
    let mut other: Value = serde_json::from_slice(&req).unwrap();
    other["spec"]["data"]["hash"]["value"] = json!(signet_model::encoding::encode_hex(
        signet_crypto::sha512(b"other")
    ));
    let r = http(
        log.addr,
        "POST",
        "/api/v1/log/entries",
        Some(&serde_json::to_vec(&other).unwrap()),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("does not verify"));
    assert_eq!(size(&log).await, 1);
    log.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_entries_with_an_ed25519_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), SignerKind::Ed25519).await;
    let trust = trust(&log);
    let key = Key::new();
    let artifact = b"v2 artifact";
    let digest = signet_crypto::sha256(artifact);
    // hashedrekord 0.0.2 signs the digest (prehashed ECDSA = over the artifact).
    let req = json!({"hashedRekordRequestV002": {
        "digest": encode_base64(&digest),
        "signature": {
            "content": encode_base64(&key.sign(artifact)),
            "verifier": {"publicKey": {"rawBytes": encode_base64(&key.spki)}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}
        }
    }});
    let r = http(
        log.addr,
        "POST",
        "/api/v2/log/entries",
        Some(req.to_string().as_bytes()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let entry: signet_model::bundle::TransparencyLogEntry =
        serde_json::from_slice(&r.body).unwrap();
    assert_eq!(entry.kind_version.version, "0.0.2");
    signet_verify::tlog::verify_entry(&entry, &trust, i64::MAX / 2).unwrap();
    // The same request again answers the same entry.
    let again = http(
        log.addr,
        "POST",
        "/api/v2/log/entries",
        Some(req.to_string().as_bytes()),
    )
    .await;
    assert_eq!(again.status, 200);

    // dsse 0.0.2.
    let env = envelope(&key, artifact);
    let req = json!({"dsseRequestV002": {
        "envelope": env,
        "verifiers": [{"publicKey": {"rawBytes": encode_base64(&key.spki)}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}]
    }});
    let r = http(
        log.addr,
        "POST",
        "/api/v2/log/entries",
        Some(req.to_string().as_bytes()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let entry: signet_model::bundle::TransparencyLogEntry =
        serde_json::from_slice(&r.body).unwrap();
    assert_eq!(entry.kind_version.kind, "dsse");
    signet_verify::tlog::verify_entry(&entry, &trust, i64::MAX / 2).unwrap();

    // A bad signature is refused.
    let bad = json!({"hashedRekordRequestV002": {
        "digest": encode_base64(&digest),
        "signature": {
            "content": encode_base64(&key.sign(b"something else")),
            "verifier": {"publicKey": {"rawBytes": encode_base64(&key.spki)}}
        }
    }});
    let r = http(
        log.addr,
        "POST",
        "/api/v2/log/entries",
        Some(bad.to_string().as_bytes()),
    )
    .await;
    assert_eq!(r.status, 400);

    // An Ed25519 key (Ed25519ph is over SHA-512; v2 digests are SHA-256):
    // refused, saying where it would be taken.
    let (sig, raw) = signet_crypto::sign_ed25519ph(&[5u8; 32], &signet_crypto::sha512(artifact));
    let ed = json!({"hashedRekordRequestV002": {
        "digest": encode_base64(&digest),
        "signature": {
            "content": encode_base64(&sig),
            "verifier": {"publicKey": {"rawBytes": encode_base64(PublicKey::from_raw_ed25519(&raw).unwrap().spki_der())}}
        }
    }});
    let r = http(
        log.addr,
        "POST",
        "/api/v2/log/entries",
        Some(ed.to_string().as_bytes()),
    )
    .await;
    assert_eq!(r.status, 400);
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("hashedrekord 0.0.1"), "{message}");
    log.stop().await.unwrap();
}

#[test]
fn print_trust_entry_has_the_log_id() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(dir.path(), "https://log.example.com/");
    let instance = config.trust_instance().unwrap();
    let signer = config.signer().unwrap();
    assert_eq!(instance.base_url, "https://log.example.com");
    assert_eq!(
        instance.log_id.key_id.0,
        signer.public_key().sha256_id().to_vec()
    );
    assert_eq!(signer.name(), "log.example.com");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("signer.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// `POST /api/v1/index/retrieve` with `body`: the UUIDs found.
async fn search(log: &RunningLog, body: Value) -> Vec<String> {
    let r = http(
        log.addr,
        "POST",
        "/api/v1/index/retrieve",
        Some(body.to_string().as_bytes()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    serde_json::from_value(r.json()).unwrap()
}

/// A dsse 0.0.1 entry over an in-toto statement with these subject
/// digests, signed by `key` and naming `verifier_pem` (key or certificate).
fn dsse_with_subjects(key: &Key, verifier_pem: &str, digests: &[Value]) -> Vec<u8> {
    let subjects = digests
        .iter()
        .enumerate()
        .map(|(i, d)| json!({"name": format!("s{i}"), "digest": d}))
        .collect();
    dsse_naming(verifier_pem, &signed_envelope(key, &statement_of(subjects)))
}

/// In-toto subjects are the signer's to choose: however many there are,
/// they cannot push the signer's key or email out of the index, and a
/// subject digest named like another kind of key (`email`, `key`, `uri`)
/// does not land in that key's space.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_cannot_crowd_out_or_pose_as_identities() {
    let dir = tempfile::tempdir().unwrap();
    // The default body limit (128 KiB): the statement is large.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = Config::new(
        dir.path(),
        format!("http://{}", listener.local_addr().unwrap()),
    );
    config.batch_interval = Duration::from_millis(2);
    let log = start(&config, listener).await.unwrap();

    // More subjects than the old cap of 256 keys per entry, which cut the
    // sorted keys and could drop the signer's own.
    let signer = Key::new();
    let cert = pem_lf("CERTIFICATE", &self_signed(&signer, "owner@example.com"));
    let digest =
        |i: usize| signet_model::encoding::encode_hex(signet_crypto::sha256(&i.to_be_bytes()));
    let many: Vec<Value> = (0..300).map(|i| json!({"sha256": digest(i)})).collect();
    let r = http(
        log.addr,
        "POST",
        "/api/v1/log/entries",
        Some(&dsse_with_subjects(&signer, &cert, &many)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (crowded, _) = tlog_entry(&r.json());
    let signer_key =
        json!({"publicKey": {"format": "x509", "content": encode_base64(signer.pem().as_bytes())}});
    assert_eq!(
        search(&log, json!({"email": "owner@example.com"})).await,
        vec![crowded.clone()]
    );
    assert_eq!(
        search(&log, signer_key.clone()).await,
        vec![crowded.clone()]
    );
    for i in [0, 299] {
        let found = search(&log, json!({"hash": format!("sha256:{}", digest(i))})).await;
        assert_eq!(found, vec![crowded.clone()], "subject {i}");
    }

    // Another signer's subjects named like identity keys index nothing.
    let attacker = Key::new();
    let victim = signet_model::encoding::encode_hex(signer.public().sha256_id());
    let posing = [
        json!({"email": victim}),
        json!({"EMAIL": victim}),
        json!({"key": victim}),
        json!({"uri": victim}),
        json!({"sha256": "not hex"}),
        json!({"sha256": "abcdef"}),
        json!({"SHA256": digest(1000)}),
    ];
    let r = http(
        log.addr,
        "POST",
        "/api/v1/log/entries",
        Some(&dsse_with_subjects(&attacker, &attacker.pem(), &posing)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (posed, _) = tlog_entry(&r.json());
    assert!(search(&log, json!({"email": victim})).await.is_empty());
    assert_eq!(search(&log, signer_key).await, vec![crowded]);
    // The well-formed SHA-256 digest among them is indexed.
    assert_eq!(
        search(&log, json!({"hash": format!("sha256:{}", digest(1000))})).await,
        vec![posed]
    );
    log.stop().await.unwrap();
}

/// Entry IDs and query strings that do not parse are 4xx with Rekor's JSON
/// error, never a dropped connection or plain text; an 80-digit UUID must
/// carry this log's tree ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ids_and_queries_answer_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), SignerKind::EcdsaP256).await;
    let key = Key::new();
    let r = http(
        log.addr,
        "POST",
        "/api/v1/log/entries",
        Some(&hashedrekord(&key, b"an entry", &key.pem())),
    )
    .await;
    assert_eq!(r.status, 201);
    let (uuid, _) = tlog_entry(&r.json());

    // 80 bytes once decoded, with a two-byte character across byte 16.
    let non_ascii = format!("{}%C3%A9{}", "a".repeat(15), "a".repeat(63));
    for (method, path, body) in [
        ("GET", format!("/api/v1/log/entries/{non_ascii}"), None),
        ("GET", "/api/v1/log/entries/xyz".to_string(), None),
        ("GET", "/api/v1/log/entries?logIndex=-1".to_string(), None),
        ("GET", "/api/v1/log/entries".to_string(), None),
        ("GET", "/api/v1/log/proof?lastSize=abc".to_string(), None),
        (
            "POST",
            "/api/v1/log/entries/retrieve".to_string(),
            Some(json!({"entryUUIDs": [format!("{}é{}", "a".repeat(15), "a".repeat(63))]})),
        ),
    ] {
        let body = body.map(|b| b.to_string().into_bytes());
        let r = http(log.addr, method, &path, body.as_deref()).await;
        assert_eq!(r.status, 400, "{method} {path}");
        assert_eq!(r.headers["content-type"], "application/json", "{path}");
        assert_eq!(r.json()["code"], 400, "{path}");
        assert!(r.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // The tree ID prefix: this log's finds the entry, another's does not.
    let tree = format!("{:016x}", log.context.tree_id());
    let r = http(
        log.addr,
        "GET",
        &format!("/api/v1/log/entries/{tree}{uuid}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let other = format!("{:016x}", log.context.tree_id() ^ 1);
    let r = http(
        log.addr,
        "GET",
        &format!("/api/v1/log/entries/{other}{uuid}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], 404);
    log.stop().await.unwrap();
}

/// A key with more entries than one search returns: `and` with a rarer key
/// is still exact, and a search that would need the cut list is refused
/// with a reason instead of answering part of the matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_beyond_the_result_limit_is_exact_or_refused() {
    use signet_log::api::rekor_v1::MAX_SEARCH_RESULTS;
    use signet_log::entry::{digest_index, key_index, Prepared};
    use signet_model::rekor::{
        EntryBody, HashedRekordData, HashedRekordSignature, HashedRekordV001, HexHash, PemContent,
    };

    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), SignerKind::EcdsaP256).await;
    let busy = Key::new();
    let digest =
        |i: usize| signet_model::encoding::encode_hex(signet_crypto::sha256(&i.to_be_bytes()));
    // Entries as the sequencer takes them (it does not verify signatures;
    // the handlers do, and these tests are about the index).
    let entry = |i: usize| {
        let body = EntryBody::HashedRekordV001(HashedRekordV001 {
            data: HashedRekordData {
                hash: HexHash {
                    algorithm: "sha256".into(),
                    value: digest(i),
                },
            },
            signature: HashedRekordSignature {
                content: signet_model::encoding::Base64(vec![0]),
                public_key: PemContent {
                    content: signet_model::encoding::Base64(busy.pem().into_bytes()),
                },
            },
        });
        let keys = vec![
            digest_index("sha256", &digest(i)),
            key_index(&busy.public()),
        ];
        Prepared::new(body, keys, Vec::new()).unwrap()
    };
    let total = MAX_SEARCH_RESULTS + 1;
    let mut last_uuid = String::new();
    for chunk in (0..total).collect::<Vec<_>>().chunks(1024) {
        let mut tasks = Vec::new();
        for &i in chunk {
            let (ctx, prepared) = (log.context.clone(), entry(i));
            let uuid = signet_model::encoding::encode_hex(prepared.leaf_hash);
            if i == total - 1 {
                last_uuid = uuid;
            }
            tasks.push(tokio::spawn(
                async move { ctx.submit(prepared).await.is_ok() },
            ));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }
    }
    assert_eq!(size(&log).await, total as u64);

    let busy_key = json!({"format": "x509", "content": encode_base64(busy.pem().as_bytes())});
    // Exact: the newest entry of the busy key, found through its digest.
    let found = search(
        &log,
        json!({"hash": format!("sha256:{}", digest(total - 1)), "publicKey": busy_key, "operator": "and"}),
    )
    .await;
    assert_eq!(found, vec![last_uuid]);
    // Exact the other way: that digest under another key matches nothing.
    let other = json!({"format": "x509", "content": encode_base64(Key::new().pem().as_bytes())});
    let found = search(
        &log,
        json!({"hash": format!("sha256:{}", digest(total - 1)), "publicKey": other, "operator": "and"}),
    )
    .await;
    assert!(found.is_empty());
    // Refused, not cut: the busy key alone, or in an "or".
    for body in [
        json!({"publicKey": busy_key}),
        json!({"hash": format!("sha256:{}", digest(0)), "publicKey": busy_key, "operator": "or"}),
    ] {
        let r = http(
            log.addr,
            "POST",
            "/api/v1/index/retrieve",
            Some(body.to_string().as_bytes()),
        )
        .await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.json()["message"].as_str().unwrap().contains("narrow"));
    }
    log.stop().await.unwrap();
}

/// Rekor v2 hashedrekord digests are of the hash the key's details name,
/// the entry records the key's own details, and a request whose
/// `keyDetails` contradicts its key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_entries_record_the_keys_own_details() {
    let trust_of = trust;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_ASN1_SIGNING, RSA_PKCS1_SHA256,
    };

    let dir = tempfile::tempdir().unwrap();
    let log = serve(dir.path(), SignerKind::EcdsaP256).await;
    let trust = trust(&log);
    let rng = SystemRandom::new();
    let post = |req: Value| {
        let addr = log.addr;
        async move {
            http(
                addr,
                "POST",
                "/api/v2/log/entries",
                Some(req.to_string().as_bytes()),
            )
            .await
        }
    };
    let request = |digest: &[u8], sig: &[u8], spki: &[u8], details: Option<&str>| {
        let mut verifier = json!({"publicKey": {"rawBytes": encode_base64(spki)}});
        if let Some(d) = details {
            verifier["keyDetails"] = json!(d);
        }
        json!({"hashedRekordRequestV002": {
            "digest": encode_base64(digest),
            "signature": {"content": encode_base64(sig), "verifier": verifier}
        }})
    };

    // P-384 signs SHA-384 digests.
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &rng).unwrap();
    let p384 = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let p384_spki = p384.public_key().as_der().unwrap().as_ref().to_vec();
    let artifact = b"a P-384 artifact";
    let sig = p384.sign(&rng, artifact).unwrap().as_ref().to_vec();
    let r = post(request(
        &signet_crypto::sha384(artifact),
        &sig,
        &p384_spki,
        Some("PKIX_ECDSA_P384_SHA_384"),
    ))
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let entry: signet_model::bundle::TransparencyLogEntry =
        serde_json::from_slice(&r.body).unwrap();
    signet_verify::tlog::verify_entry(&entry, &trust, i64::MAX / 2).unwrap();
    let body: Value = serde_json::from_slice(&entry.canonicalized_body).unwrap();
    let spec = &body["spec"]["hashedRekordV002"];
    assert_eq!(spec["data"]["algorithm"], "SHA2_384");
    assert_eq!(
        spec["signature"]["verifier"]["keyDetails"],
        "PKIX_ECDSA_P384_SHA_384"
    );
    // signet-verify takes the entry's SHA-384 digest (a Rekor v2 bundle's
    // trusted time would come from a TSA; none is asked for here).
    let bundle = Bundle::from_json(
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": [serde_json::from_slice::<Value>(&r.body).unwrap()]},
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_384", "digest": encode_base64(&signet_crypto::sha384(artifact))},
                "signature": encode_base64(&sig)
            }
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let verifier = Verifier::new(
        trust_of(&log),
        Options {
            time_threshold: 0,
            ..Options::default()
        },
    );
    let policy = SignerPolicy::Key(PublicKey::from_spki_der(&p384_spki).unwrap());
    verifier
        .verify(&bundle, &Artifact::Bytes(artifact), &policy)
        .unwrap();
    let wrong = verifier.verify(&bundle, &Artifact::Bytes(b"another artifact"), &policy);
    assert!(wrong.is_err());
    // A SHA-256 digest for that key, or details naming another algorithm:
    // refused with the reason.
    let r = post(request(
        &signet_crypto::sha256(artifact),
        &sig,
        &p384_spki,
        None,
    ))
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("SHA2_384"));
    let r = post(request(
        &signet_crypto::sha384(artifact),
        &sig,
        &p384_spki,
        Some("PKIX_ECDSA_P256_SHA_256"),
    ))
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("does not match"));

    // RSA is named by its size.
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa3072).unwrap();
    let rsa_spki = rsa.public_key().as_der().unwrap().as_ref().to_vec();
    let mut rsa_sig = vec![0; rsa.public_modulus_len()];
    rsa.sign(&RSA_PKCS1_SHA256, &rng, artifact, &mut rsa_sig)
        .unwrap();
    let r = post(request(
        &signet_crypto::sha256(artifact),
        &rsa_sig,
        &rsa_spki,
        None,
    ))
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let entry: signet_model::bundle::TransparencyLogEntry =
        serde_json::from_slice(&r.body).unwrap();
    let body: Value = serde_json::from_slice(&entry.canonicalized_body).unwrap();
    assert_eq!(
        body["spec"]["hashedRekordV002"]["signature"]["verifier"]["keyDetails"],
        "PKIX_RSA_PKCS1V15_3072_SHA256"
    );
    log.stop().await.unwrap();
}
