//! Crash test of `signet log serve` (SQLite): the real binary under
//! concurrent load is killed with SIGKILL at pseudo-random moments, then
//! restarted on the same data dir. After every restart:
//!
//! * every entry that was answered 201 is in the log, at its index, with a
//!   valid inclusion proof against the new checkpoint;
//! * the new checkpoint is signed by the log and consistent with the one
//!   before the crash (`GET /api/v1/log/proof`).
//!
//! The moments are drawn from a seed printed at the start; set
//! `SIGNET_CRASH_SEED` to replay one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};
use signet_crypto::PublicKey;
use signet_model::encoding::{decode_base64, encode_base64};
use signet_tlog::{merkle, Checkpoint, Note, NoteVerifier};

const ROUNDS: usize = 12;
const CLIENTS: usize = 6;
const ORIGIN: &str = "crash.test";

/// xorshift64*: deterministic for a seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Resp {
    status: u16,
    body: Vec<u8>,
}

/// One HTTP/1.1 request (`Connection: close`); `None` if the server is gone.
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Option<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n")?;
            let len = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).ok()?, 16).ok()?;
            if len == 0 {
                break;
            }
            out.extend_from_slice(rest.get(nl + 2..nl + 2 + len)?);
            rest = rest.get(nl + 4 + len..)?;
        }
        body = out;
    }
    Some(Resp { status, body })
}

fn json_of(r: &Resp) -> Value {
    serde_json::from_slice(&r.body).expect("JSON")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(dir: &std::path::Path) -> Server {
        for _ in 0..5 {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_signet"))
                .args(["log", "serve", "--data-dir"])
                .arg(dir)
                .args(["--listen", &addr.to_string()])
                .args(["--public-url", &format!("http://{ORIGIN}")])
                .args(["--batch-interval", "5"])
                // Index runs written and merged all the time, so kills
                // land in the middle of them too.
                .args(["--index-run-entries", "16"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn signet");
            let mut server = Server { child, addr };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Some(r) = http(addr, "GET", "/api/v1/log", b"") {
                    if r.status == 200 {
                        return server;
                    }
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // port taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            server.kill();
        }
        panic!("signet log serve did not start");
    }

    fn kill(&mut self) {
        // Child::kill is SIGKILL on Unix: no shutdown code runs.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Key {
    pair: EcdsaKeyPair,
    pem: String,
}

fn hashedrekord(key: &Key, artifact: &[u8]) -> Vec<u8> {
    let sig = key.pair.sign(&SystemRandom::new(), artifact).unwrap();
    serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": signet_model::encoding::encode_hex(signet_crypto::sha256(artifact))}},
            "signature": {
                "content": encode_base64(sig.as_ref()),
                "publicKey": {"content": encode_base64(key.pem.as_bytes())}
            }
        }
    }))
    .unwrap()
}

/// An acknowledged entry: leaf hash and index.
type Ack = (merkle::Hash, u64);

fn hashes(v: &Value) -> Vec<merkle::Hash> {
    v.as_array()
        .expect("hashes")
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

/// The log's checkpoint, verified.
fn checkpoint(addr: SocketAddr, verifier: &NoteVerifier) -> (Checkpoint, String) {
    let r = http(addr, "GET", "/checkpoint", b"").expect("checkpoint");
    let text = String::from_utf8(r.body).unwrap();
    let note = Note::parse(&text).unwrap();
    verifier
        .verify(&note)
        .expect("checkpoint signed by the log");
    (Checkpoint::from_note(&note).unwrap(), text)
}

fn check_included(addr: SocketAddr, cp: &Checkpoint, (leaf, index): &Ack) {
    let r = http(
        addr,
        "GET",
        &format!(
            "/api/v1/log/entries/{}",
            signet_model::encoding::encode_hex(leaf)
        ),
        b"",
    )
    .expect("entry");
    assert_eq!(
        r.status,
        200,
        "acknowledged entry {index} lost: {}",
        String::from_utf8_lossy(&r.body)
    );
    let v = json_of(&r);
    let e = v.as_object().unwrap().values().next().unwrap();
    assert_eq!(e["logIndex"].as_u64(), Some(*index));
    let body = decode_base64(e["body"].as_str().unwrap()).unwrap();
    assert_eq!(merkle::leaf_hash(&body), *leaf);
    let p = &e["verification"]["inclusionProof"];
    let size = p["treeSize"].as_u64().unwrap();
    // No writes while checking: the proof is against `cp`.
    assert_eq!(size, cp.size());
    merkle::verify_inclusion(*index, size, leaf, &hashes(&p["hashes"]), cp.root_hash())
        .expect("inclusion proof against the checkpoint");
}

/// `signet log fsck` over the restarted log: every stored tile rebuilt
/// from the stored entries, and the root the signed checkpoint's.
fn fsck_is_clean(addr: SocketAddr, log_key_pem: &std::path::Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["log", "fsck", &format!("http://{addr}"), "--origin", ORIGIN])
        .arg("--log-key")
        .arg(log_key_pem)
        .output()
        .expect("run signet log fsck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(", 0 problems"),
        "fsck: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{stdout}");
}

#[test]
fn acknowledged_entries_survive_sigkill() {
    let started = Instant::now();
    let seed = std::env::var("SIGNET_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash test seed: {seed} (SIGNET_CRASH_SEED={seed} to replay)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();

    let rnd = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rnd).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
    let pem = signet_log::entry::pem_lf("PUBLIC KEY", &spki);
    let key = Arc::new(Key { pair, pem });

    let mut server = Server::start(dir.path());
    let log_key = http(server.addr, "GET", "/api/v1/log/publicKey", b"").unwrap();
    let log_key = PublicKey::from_pem(std::str::from_utf8(&log_key.body).unwrap()).unwrap();
    let log_key_pem = dir.path().join("log-key.pem");
    std::fs::write(&log_key_pem, log_key.to_pem()).unwrap();
    let verifier = NoteVerifier::rekor_ecdsa(ORIGIN, log_key).unwrap();
    let (mut previous, _) = checkpoint(server.addr, &verifier);
    let mut all_acks: Vec<Ack> = Vec::new();
    let mut counter = 0u64;

    for round in 0..ROUNDS {
        let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (acks, stop, key, addr) = (acks.clone(), stop.clone(), key.clone(), server.addr);
            let base = counter + (c as u64) * 1_000_000;
            clients.push(std::thread::spawn(move || {
                let mut n = base;
                while !stop.load(Ordering::Relaxed) {
                    let req = hashedrekord(&key, format!("round {round} entry {n}").as_bytes());
                    n += 1;
                    let Some(r) = http(addr, "POST", "/api/v1/log/entries", &req) else {
                        continue; // killed mid-request: not acknowledged
                    };
                    if r.status == 201 {
                        let v = json_of(&r);
                        let e = v.as_object().unwrap().values().next().unwrap();
                        let body = decode_base64(e["body"].as_str().unwrap()).unwrap();
                        let index = e["logIndex"].as_u64().unwrap();
                        acks.lock().unwrap().push((merkle::leaf_hash(&body), index));
                    }
                }
            }));
        }
        counter += CLIENTS as u64 * 1_000_000;
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        let acks = std::mem::take(&mut *acks.lock().unwrap());

        server = Server::start(dir.path());
        let (cp, _) = checkpoint(server.addr, &verifier);
        assert!(cp.size() >= previous.size(), "the tree shrank");
        if previous.size() > 0 {
            let r = http(
                server.addr,
                "GET",
                &format!(
                    "/api/v1/log/proof?firstSize={}&lastSize={}",
                    previous.size(),
                    cp.size()
                ),
                b"",
            )
            .unwrap();
            merkle::verify_consistency(
                previous.size(),
                cp.size(),
                previous.root_hash(),
                cp.root_hash(),
                &hashes(&json_of(&r)["hashes"]),
            )
            .expect("checkpoint consistent with the one before the crash");
        }
        for ack in &acks {
            check_included(server.addr, &cp, ack);
        }
        fsck_is_clean(server.addr, &log_key_pem);
        println!(
            "round {round}: {} acknowledged, tree {} -> {}",
            acks.len(),
            previous.size(),
            cp.size()
        );
        all_acks.extend(acks);
        previous = cp;
    }
    // Every acknowledged entry, against the final checkpoint.
    let (cp, _) = checkpoint(server.addr, &verifier);
    let mut indexes: Vec<u64> = all_acks.iter().map(|a| a.1).collect();
    indexes.sort();
    indexes.dedup();
    assert_eq!(indexes.len(), all_acks.len(), "two entries at one index");
    for ack in &all_acks {
        check_included(server.addr, &cp, ack);
    }
    assert!(
        all_acks.len() > ROUNDS,
        "too little load: {}",
        all_acks.len()
    );
    println!(
        "{} acknowledged entries in {} rounds survived, final size {}, {:?}",
        all_acks.len(),
        ROUNDS,
        cp.size(),
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}
