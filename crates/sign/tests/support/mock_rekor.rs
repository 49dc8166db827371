//! A TEST DOUBLE of a Rekor v1 log: only `POST /api/v1/log/entries`.
//!
//! This is a double of our own other half (the real log is `signet-log`,
//! crates/log): a test against it proves only that signet's signer and
//! signet's verifier agree on Rekor v1's wire format. Switch these tests to
//! the real `signet-log` server once it is available as a library.
//!
//! It answers like Rekor v1: a `{uuid: LogEntry}` whose body is the
//! canonicalized proposed entry, a signed entry timestamp over
//! `{body, integratedTime, logID, logIndex}`, and an inclusion proof in a
//! one-leaf tree with a checkpoint signed as a C2SP note. Each entry is
//! logged in a tree of its own (index 0, size 1): enough for the proofs to
//! verify, not a log. Serves on 127.0.0.1, a bounded number of requests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use signet_model::encoding::encode_base64;
use signet_model::rekor::EntryBody;

/// Most requests one mock serves before its thread ends.
const MAX_REQUESTS: usize = 32;

pub struct MockRekor {
    pub url: String,
    /// A trusted_root.json trusting only this log.
    pub trusted_root: String,
    /// A signing_config v0.2 naming only this log (Rekor v1).
    pub signing_config: String,
    /// Proposed entries received, as JSON.
    pub received: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    requests: Arc<AtomicUsize>,
}

struct Log {
    key: EcdsaKeyPair,
    log_id: [u8; 32],
    name: String,
    /// Answer with a body whose signature was altered.
    tamper: bool,
}

impl MockRekor {
    pub fn start() -> MockRekor {
        Self::start_with(false)
    }

    /// A log that answers with a different entry than proposed.
    pub fn start_tampering() -> MockRekor {
        Self::start_with(true)
    }

    fn start_with(tamper: bool) -> MockRekor {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let spki = key.public_key().as_der().unwrap().as_ref().to_vec();
        let log_id = signet_crypto::sha256(&spki);
        let trusted_root = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": encode_base64(&spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"}
                },
                "logId": {"keyId": encode_base64(&log_id)}
            }],
            "certificateAuthorities": [],
            "ctlogs": [],
            "timestampAuthorities": []
        })
        .to_string();
        let signing_config = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "rekorTlogUrls": [{"url": url, "majorApiVersion": 1,
                               "validFor": {"start": "2020-01-01T00:00:00Z"}}],
            "rekorTlogConfig": {"selector": "ANY"}
        })
        .to_string();
        let log = Arc::new(Log {
            key,
            log_id,
            name: addr.to_string(),
            tamper,
        });
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (r, n) = (received.clone(), requests.clone());
        let stop = Arc::new(AtomicBool::new(false));
        std::thread::spawn(move || {
            for stream in listener.incoming().take(MAX_REQUESTS) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                n.fetch_add(1, Ordering::Relaxed);
                let _ = serve(stream, &log, &r);
            }
        });
        MockRekor {
            url,
            trusted_root,
            signing_config,
            received,
            requests,
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

fn serve(
    stream: TcpStream,
    log: &Log,
    received: &std::sync::Mutex<Vec<serde_json::Value>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let (status, answer) = if request_line.starts_with("POST /api/v1/log/entries ") {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(proposed) => {
                received.lock().unwrap().push(proposed.clone());
                match integrate(log, &proposed) {
                    Ok(entry) => ("201 Created", entry.to_string()),
                    Err(e) => (
                        "400 Bad Request",
                        serde_json::json!({"code": 400, "message": e}).to_string(),
                    ),
                }
            }
            Err(e) => (
                "400 Bad Request",
                serde_json::json!({"code": 400, "message": e.to_string()}).to_string(),
            ),
        }
    } else {
        (
            "404 Not Found",
            r#"{"code":404,"message":"not found"}"#.to_string(),
        )
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}

/// The canonicalized body Rekor would store for a proposed entry.
fn canonical_body(proposed: &serde_json::Value) -> Result<String, String> {
    match (proposed["kind"].as_str(), proposed["apiVersion"].as_str()) {
        (Some("hashedrekord"), Some("0.0.1")) => {
            let body =
                EntryBody::parse(proposed.to_string().as_bytes()).map_err(|e| e.to_string())?;
            Ok(body.canonical_json())
        }
        (Some("dsse"), Some("0.0.1")) => {
            let content = &proposed["spec"]["proposedContent"];
            let envelope_text = content["envelope"].as_str().ok_or("no envelope")?;
            let envelope: signet_model::dsse::Envelope =
                serde_json::from_str(envelope_text).map_err(|e| e.to_string())?;
            let verifier = content["verifiers"][0].as_str().ok_or("no verifier")?;
            let body = serde_json::json!({
                "apiVersion": "0.0.1", "kind": "dsse",
                "spec": {
                    "envelopeHash": {"algorithm": "sha256",
                                     "value": hex::encode(signet_crypto::sha256(envelope_text.as_bytes()))},
                    "payloadHash": {"algorithm": "sha256",
                                    "value": hex::encode(signet_crypto::sha256(&envelope.payload))},
                    "signatures": envelope.signatures.iter().map(|s| serde_json::json!({
                        "signature": encode_base64(&s.sig), "verifier": verifier
                    })).collect::<Vec<_>>()
                }
            });
            Ok(signet_model::canonical::to_string(&body))
        }
        (kind, version) => Err(format!("unsupported kind {kind:?} {version:?}")),
    }
}

fn integrate(log: &Log, proposed: &serde_json::Value) -> Result<serde_json::Value, String> {
    let mut proposed = proposed.clone();
    if log.tamper {
        if let Some(sig) = proposed["spec"]["signature"]["content"].as_str() {
            let mut bytes = signet_model::encoding::decode_base64(sig).unwrap_or_default();
            if let Some(last) = bytes.last_mut() {
                *last ^= 1;
            }
            proposed["spec"]["signature"]["content"] = encode_base64(&bytes).into();
        }
    }
    let body = canonical_body(&proposed)?;
    let rng = SystemRandom::new();
    let integrated_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let log_id_hex = hex::encode(log.log_id);
    let body_b64 = encode_base64(body.as_bytes());
    let set_payload = serde_json::json!({
        "body": body_b64, "integratedTime": integrated_time,
        "logID": log_id_hex, "logIndex": 0
    });
    let set = log
        .key
        .sign(
            &rng,
            signet_model::canonical::to_string(&set_payload).as_bytes(),
        )
        .unwrap();
    let mut leaf = vec![0u8];
    leaf.extend_from_slice(body.as_bytes());
    let root = signet_crypto::sha256(&leaf);
    let note_text = format!("{} - 1\n1\n{}\n", log.name, encode_base64(&root));
    let note_sig = log.key.sign(&rng, note_text.as_bytes()).unwrap();
    let mut hinted = log.log_id[..4].to_vec();
    hinted.extend_from_slice(note_sig.as_ref());
    let checkpoint = format!(
        "{note_text}\n\u{2014} {} {}\n",
        log.name,
        encode_base64(&hinted)
    );
    let uuid = hex::encode(root);
    Ok(serde_json::json!({ uuid: {
        "body": body_b64,
        "integratedTime": integrated_time,
        "logID": log_id_hex,
        "logIndex": 0,
        "verification": {
            "signedEntryTimestamp": encode_base64(set.as_ref()),
            "inclusionProof": {
                "logIndex": 0, "treeSize": 1, "rootHash": hex::encode(root),
                "hashes": [], "checkpoint": checkpoint
            }
        }
    }}))
}
