//! The real transparency log (`signet-log`), started in-process on
//! 127.0.0.1:0 with a temporary data directory, for signing tests; and a
//! lying front for it.
//!
//! [`TestLog::substituting_proxy`] is the one double left: a front that
//! logs a *different* valid entry (another key, another artifact) in the
//! real log instead of the one proposed, and hands back the real log's
//! answer for it. Everything in that answer is genuinely signed by the log;
//! only the entry is not the signer's, which is the lie a signer must catch.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use signet_sign::Signer;

/// Most requests one proxy serves before its thread ends.
const MAX_PROXY_REQUESTS: usize = 16;

pub struct TestLog {
    pub url: String,
    /// A trusted_root.json trusting only this log.
    pub trusted_root: String,
    /// A signing_config v0.2 naming only this log (Rekor v1).
    pub signing_config: String,
    runtime: tokio::runtime::Runtime,
    log: Option<signet_log::RunningLog>,
    _dir: tempfile::TempDir,
}

impl TestLog {
    pub fn start() -> TestLog {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = signet_log::Config::new(dir.path(), url.clone());
        let log = runtime
            .block_on(signet_log::start(&config, listener))
            .unwrap();
        let tlog = config.trust_instance().unwrap();
        let trusted_root = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [tlog],
            "certificateAuthorities": [],
            "ctlogs": [],
            "timestampAuthorities": []
        })
        .to_string();
        let signing_config = Self::signing_config_for(&url);
        TestLog {
            url,
            trusted_root,
            signing_config,
            runtime,
            log: Some(log),
            _dir: dir,
        }
    }

    /// A signing config v0.2 naming `url` as the Rekor v1 log.
    pub fn signing_config_for(url: &str) -> String {
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "rekorTlogUrls": [{"url": url, "majorApiVersion": 1,
                               "validFor": {"start": "2020-01-01T00:00:00Z"}}],
            "rekorTlogConfig": {"selector": "ANY"}
        })
        .to_string()
    }

    /// The body (decoded JSON) of the entry at `index`, read back from the
    /// log's Rekor v1 API.
    pub fn entry_body(&self, index: u64) -> serde_json::Value {
        let url = format!("{}/api/v1/log/entries?logIndex={index}", self.url);
        let answer: serde_json::Value = reqwest::blocking::get(&url).unwrap().json_or_panic();
        let (_, entry) = answer.as_object().unwrap().iter().next().unwrap();
        let body = signet_model::encoding::decode_base64(entry["body"].as_str().unwrap()).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// A front for this log that logs another signer's entry instead of
    /// the proposed one (see the module docs). Returns its URL.
    pub fn substituting_proxy(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = format!("{}/api/v1/log/entries", self.url);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(MAX_PROXY_REQUESTS) {
                let Ok(stream) = stream else { continue };
                let _ = substitute(stream, &upstream);
            }
        });
        url
    }
}

trait JsonOrPanic {
    fn json_or_panic(self) -> serde_json::Value;
}

impl JsonOrPanic for reqwest::blocking::Response {
    fn json_or_panic(self) -> serde_json::Value {
        let status = self.status();
        let mut body = Vec::new();
        self.take(1 << 20).read_to_end(&mut body).unwrap();
        assert!(
            status.is_success(),
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).unwrap()
    }
}

/// Reads one request, logs a substitute entry upstream, relays the answer.
fn substitute(stream: std::net::TcpStream, upstream: &str) -> std::io::Result<()> {
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

    // Another key's signature over another artifact: a valid entry.
    let other = signet_sign::InMemorySigner::generate_p256().unwrap();
    let digest = signet_crypto::sha256(b"somebody else's artifact");
    let signature = other.sign_prehashed(&digest).unwrap();
    let spki = other.public_key().spki_der().to_vec();
    let entry = signet_sign::rekor::hashedrekord_v001(
        &digest,
        &signature,
        signet_sign::rekor::Verifier::PublicKey(&spki),
    );
    let response = reqwest::blocking::Client::new()
        .post(upstream)
        .header("content-type", "application/json")
        .body(entry.to_string())
        .send();
    let (status, answer) = match response {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().unwrap_or_default())
        }
        Err(e) => (502, format!(r#"{{"code":502,"message":"{e}"}}"#)),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}

impl Drop for TestLog {
    fn drop(&mut self) {
        if let Some(log) = self.log.take() {
            let _ = self.runtime.block_on(log.stop());
        }
    }
}
