//! The log over a REAL PostgreSQL server (a private cluster per test, see
//! `pg/mod.rs`): the behaviours of server.rs (appends, proofs, dedupe,
//! restart), then two replicas on one database: writes through either land
//! in one tree, and when the sequencer's session dies another takes over.

mod common;
mod pg;

use std::time::Duration;

use common::{hashedrekord, http, tlog_entry, trust, Key};
use serde_json::{json, Value};
use signet_log::replica::PostgresConfig;
use signet_log::{start, Config, RunningLog};
use signet_model::encoding::{decode_base64, encode_base64};
use signet_tlog::{merkle, Checkpoint, Note};
use tokio::net::TcpListener;

const PUBLIC_URL: &str = "http://log.test";

async fn replica(dir: &std::path::Path, url: &str) -> RunningLog {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = Config::new(dir, PUBLIC_URL);
    config.batch_interval = Duration::from_millis(2);
    config.max_body = 16 * 1024;
    config.postgres = Some(PostgresConfig {
        url: url.to_string(),
        advertise_url: None,
    });
    start(&config, listener).await.unwrap()
}

async fn info(log: &RunningLog) -> Value {
    http(log.addr, "GET", "/api/v1/log", None).await.json()
}

/// A follower learns of writes that went through other replicas by polling
/// the database (`replica::POLL`), so its view may lag briefly: wait,
/// bounded, until it shows `size`.
async fn info_at_size(log: &RunningLog, size: u64) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = info(log).await;
        if v["treeSize"] == size || tokio::time::Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(signet_log::replica::POLL).await;
    }
}

fn hashes(v: &Value) -> Vec<merkle::Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

/// Checks `GET /api/v1/log/proof` from `old` (a checkpoint note) to the
/// log's current checkpoint, and returns the current one.
async fn check_consistent(log: &RunningLog, old: &str) -> String {
    let new_note =
        String::from_utf8(http(log.addr, "GET", "/checkpoint", None).await.body).unwrap();
    let old_cp = Checkpoint::from_note(&Note::parse(old).unwrap()).unwrap();
    let new_cp = Checkpoint::from_note(&Note::parse(&new_note).unwrap()).unwrap();
    log.context
        .signer
        .verifier()
        .unwrap()
        .verify(&Note::parse(&new_note).unwrap())
        .unwrap();
    if old_cp.size() > 0 && old_cp.size() < new_cp.size() {
        let r = http(
            log.addr,
            "GET",
            &format!(
                "/api/v1/log/proof?firstSize={}&lastSize={}",
                old_cp.size(),
                new_cp.size()
            ),
            None,
        )
        .await
        .json();
        merkle::verify_consistency(
            old_cp.size(),
            new_cp.size(),
            old_cp.root_hash(),
            new_cp.root_hash(),
            &hashes(&r["hashes"]),
        )
        .unwrap();
    } else {
        assert!(old_cp.size() <= new_cp.size());
    }
    new_note
}

/// POSTs until a non-503 answer (a replica may be between sequencers).
async fn post_retry(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> common::Resp {
    for _ in 0..100 {
        let r = http(addr, "POST", path, Some(body)).await;
        if r.status != 503 {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("still 503 after 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_appends_proofs_dedupe_and_restart() {
    let Some(cluster) = pg::Cluster::start() else {
        return;
    };
    let url = cluster.database("log");
    let dir = tempfile::tempdir().unwrap();
    let log = replica(dir.path(), &url).await;
    assert!(log.context.sequencer.is_active());
    let key = Key::new();

    // 300 entries, sent concurrently: a full level-0 tile and a partial one.
    let mut tasks = Vec::new();
    let mut requests = Vec::new();
    for i in 0..300u32 {
        let req = hashedrekord(&key, format!("artifact {i}").as_bytes(), &key.pem());
        requests.push(req.clone());
        let addr = log.addr;
        tasks.push(tokio::spawn(async move {
            http(addr, "POST", "/api/v1/log/entries", Some(&req)).await
        }));
    }
    let trust_material = trust(&log);
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        if i % 50 == 0 {
            let (_, entry) = tlog_entry(&r.json());
            let entry: signet_model::bundle::TransparencyLogEntry =
                serde_json::from_value(entry).unwrap();
            signet_verify::tlog::verify_entry(&entry, &trust_material, i64::MAX / 2).unwrap();
        }
    }

    // Dedupe: v1 answers 409 with the location, v2 the existing entry.
    let r = http(log.addr, "POST", "/api/v1/log/entries", Some(&requests[7])).await;
    assert_eq!(r.status, 409);
    assert!(r.headers["location"].starts_with("/api/v1/log/entries/"));
    let racing = hashedrekord(&key, b"racing", &key.pem());
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let racing = racing.clone();
        let addr = log.addr;
        tasks.push(tokio::spawn(async move {
            http(addr, "POST", "/api/v1/log/entries", Some(&racing))
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
    let digest = signet_crypto::sha256(b"v2 artifact");
    let v2 = json!({"hashedRekordRequestV002": {
        "digest": encode_base64(&digest),
        "signature": {
            "content": encode_base64(&key.sign(b"v2 artifact")),
            "verifier": {"publicKey": {"rawBytes": encode_base64(&key.spki)}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}
        }
    }})
    .to_string();
    let r = http(log.addr, "POST", "/api/v2/log/entries", Some(v2.as_bytes())).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = http(log.addr, "POST", "/api/v2/log/entries", Some(v2.as_bytes())).await;
    assert_eq!(r.status, 200);
    let bad = hashedrekord(&Key::new(), b"x", &key.pem());
    assert_eq!(
        http(log.addr, "POST", "/api/v1/log/entries", Some(&bad))
            .await
            .status,
        400
    );
    let before = info(&log).await;
    assert_eq!(before["treeSize"], 302);
    let old_note = before["signedTreeHead"].as_str().unwrap().to_string();
    log.stop().await.unwrap();

    // Restart on the same database: same tree, every entry provable.
    let log = replica(dir.path(), &url).await;
    let trust_material = trust(&log);
    let after = info(&log).await;
    assert_eq!(after["signedTreeHead"].as_str().unwrap(), old_note);
    let mut leaves = Vec::new();
    for i in 0..302u64 {
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
        if i % 29 == 0 {
            signet_verify::tlog::verify_entry(&entry, &trust_material, i64::MAX / 2).unwrap();
        }
        leaves.push(merkle::leaf_hash(&entry.canonicalized_body));
        assert_eq!(signet_model::encoding::encode_hex(leaves[i as usize]), uuid);
    }
    for i in 0..5u32 {
        let req = hashedrekord(&key, format!("after restart {i}").as_bytes(), &key.pem());
        let r = http(log.addr, "POST", "/api/v1/log/entries", Some(&req)).await;
        assert_eq!(r.status, 201);
        let (_, e) = tlog_entry(&r.json());
        leaves.push(merkle::leaf_hash(
            &decode_base64(e["canonicalizedBody"].as_str().unwrap()).unwrap(),
        ));
    }
    let new_note = check_consistent(&log, &old_note).await;
    let new = Checkpoint::from_note(&Note::parse(&new_note).unwrap()).unwrap();
    assert_eq!(*new.root_hash(), merkle::root(&leaves));
    let t = http(log.addr, "GET", "/tile/0/000", None).await;
    assert_eq!(
        t.body,
        leaves[..256].iter().flatten().copied().collect::<Vec<u8>>()
    );
    // Search works from PostgreSQL too.
    let r = http(
        log.addr,
        "POST",
        "/api/v1/index/retrieve",
        Some(
            json!({"publicKey": {"format": "x509", "content": encode_base64(key.pem().as_bytes())}})
                .to_string()
                .as_bytes(),
        ),
    )
    .await;
    // Every entry was signed by `key`: all of them, not a cut list.
    let found: std::collections::BTreeSet<String> = serde_json::from_value(r.json()).unwrap();
    let logged: std::collections::BTreeSet<String> = leaves
        .iter()
        .map(signet_model::encoding::encode_hex)
        .collect();
    assert_eq!(found, logged);
    // The per-entry membership check a search falls back to.
    let key_search = signet_log::entry::key_index(&key.public());
    let storage = &log.context.storage;
    assert!(storage.has_search_key(0, &key_search).await.unwrap());
    assert!(!storage
        .has_search_key(0, "email:nobody@example.com")
        .await
        .unwrap());
    assert!(!storage
        .has_search_key(u64::MAX >> 2, &key_search)
        .await
        .unwrap());
    log.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_tree_and_fail_over() {
    let Some(cluster) = pg::Cluster::start() else {
        return;
    };
    let url = cluster.database("log");
    let dir = tempfile::tempdir().unwrap();
    let a = replica(dir.path(), &url).await;
    let b = replica(dir.path(), &url).await;
    assert!(a.context.sequencer.is_active());
    assert!(!b.context.sequencer.is_active());
    let first_note = info(&a).await["signedTreeHead"]
        .as_str()
        .unwrap()
        .to_string();
    let key = std::sync::Arc::new(Key::new());

    // Writes through both replicas, concurrently.
    let mut tasks = Vec::new();
    for i in 0..80u32 {
        let req = hashedrekord(&key, format!("replicated {i}").as_bytes(), &key.pem());
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        tasks.push(tokio::spawn(async move {
            post_retry(addr, "/api/v1/log/entries", &req).await
        }));
    }
    let trust_material = trust(&a);
    let mut indexes = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let (_, entry) = tlog_entry(&r.json());
        let entry: signet_model::bundle::TransparencyLogEntry =
            serde_json::from_value(entry).unwrap();
        signet_verify::tlog::verify_entry(&entry, &trust_material, i64::MAX / 2).unwrap();
        indexes.push(entry.log_index.0);
    }
    indexes.sort();
    assert_eq!(indexes, (0..80).collect::<Vec<u64>>());
    // The follower reads what it forwarded, and both agree on the tree.
    let (ia, ib) = (info_at_size(&a, 80).await, info_at_size(&b, 80).await);
    assert_eq!(ia["treeSize"], 80);
    assert_eq!(ia["rootHash"], ib["rootHash"]);
    let r = http(b.addr, "GET", "/api/v1/log/entries?logIndex=79", None).await;
    assert_eq!(r.status, 200);
    let note = check_consistent(&b, &first_note).await;

    // The sequencer's database session dies (as when its process is
    // killed): its lock is gone, it can commit nothing more, and a replica
    // takes over; writes through either replica go on in the same tree.
    let admin = cluster.url("postgres");
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let killed = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted AND objid = $1::bigint::oid",
            &[&(signet_log::storage::postgres::SEQUENCER_LOCK & 0xffff_ffff)],
        )
        .await
        .unwrap();
    assert_eq!(killed.len(), 1);
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let req = hashedrekord(&key, format!("after failover {i}").as_bytes(), &key.pem());
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        tasks.push(tokio::spawn(async move {
            post_retry(addr, "/api/v1/log/entries", &req).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().status, 201);
    }
    let note = check_consistent(&a, &note).await;
    assert_eq!(info_at_size(&b, 120).await["treeSize"], 120);

    // The sequencer stops for good: the other replica takes over.
    let (leader, follower) = if a.context.sequencer.is_active() {
        (a, b)
    } else {
        (b, a)
    };
    leader.stop().await.unwrap();
    let req = hashedrekord(&key, b"after the leader left", &key.pem());
    let r = post_retry(follower.addr, "/api/v1/log/entries", &req).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert!(follower.context.sequencer.is_active());
    let (_, e) = tlog_entry(&r.json());
    assert_eq!(e["logIndex"], "120");
    check_consistent(&follower, &note).await;
    // The tree both sequencers wrote, rebuilt from its entries, is the
    // tree the database holds and the checkpoint signs.
    let policy = signet_log::monitor::LogPolicy::from_key_pem(
        &follower.context.signer.public_key().to_pem(),
        follower.context.signer.name(),
    )
    .unwrap();
    let report = signet_log::fsck::fsck(&signet_log::fsck::FsckConfig {
        url: format!("http://{}", follower.addr),
        policy,
        timeout: Duration::from_secs(10),
        concurrency: 4,
    })
    .await
    .unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.entries, 121);
    follower.stop().await.unwrap();
}

/// Sessions ask the server to probe them after 10 s idle: a replica cut off
/// from the network loses the sequencer lock in about 25 s, not hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_kept_alive_from_the_server_side() {
    let Some(cluster) = pg::Cluster::start() else {
        return;
    };
    let url = cluster.database("keepalive");
    let config = signet_log::storage::postgres::connection_config(&format!(
        "{url}?options=-c%20application_name%3Dsignet-test"
    ))
    .unwrap();
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let show = |name: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .unwrap();
            row.get::<_, String>(0)
        }
    };
    assert_eq!(show("tcp_keepalives_idle").await, "10");
    assert_eq!(show("tcp_keepalives_interval").await, "5");
    assert_eq!(show("tcp_keepalives_count").await, "3");
    // Options the URL gives are kept.
    assert_eq!(show("application_name").await, "signet-test");
}
