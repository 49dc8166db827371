//! Helpers shared by the log's integration tests: a minimal HTTP/1.1
//! client, signing keys, hashedrekord requests, trust material for a
//! running log, and the bundle entry of a v1 response.

#![allow(dead_code)]

use std::collections::HashMap;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};
use signet_crypto::PublicKey;
use signet_log::entry::pem_lf;
use signet_log::RunningLog;
use signet_model::encoding::{decode_base64, encode_base64};
use signet_model::trust_root::TrustedRoot;
use signet_verify::TrustMaterial;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Requests in flight at once, across every test of a binary.
static IN_FLIGHT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(32);

pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Resp {
    // A burst of connections beyond the listen backlog is reset by the
    // kernel before the server sees it (somaxconn was 128 before Linux
    // 5.4): tests stay concurrent, a bounded number at a time.
    let _permit = IN_FLIGHT.acquire().await.unwrap();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let _ = s.write_all(body).await;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw).await;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let len = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap(), 16).unwrap();
            if len == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + len]);
            rest = &rest[nl + 4 + len..];
        }
        body = out;
    }
    Resp {
        status,
        headers,
        body,
    }
}

pub struct Key {
    pub pair: EcdsaKeyPair,
    pub spki: Vec<u8>,
}

impl Key {
    pub fn new() -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
        Key { pair, spki }
    }
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), msg)
            .unwrap()
            .as_ref()
            .to_vec()
    }
    pub fn pem(&self) -> String {
        pem_lf("PUBLIC KEY", &self.spki)
    }
    pub fn public(&self) -> PublicKey {
        PublicKey::from_spki_der(&self.spki).unwrap()
    }
}

/// Appends one hashedrekord entry per artifact, signed by `key`, all at
/// once; each must be answered 201.
#[allow(dead_code)] // not every test binary appends concurrently
pub async fn append_all(
    addr: std::net::SocketAddr,
    key: &Key,
    artifacts: impl IntoIterator<Item = String>,
) {
    let mut tasks = Vec::new();
    for artifact in artifacts {
        let req = hashedrekord(key, artifact.as_bytes(), &key.pem());
        tasks.push(tokio::spawn(async move {
            http(addr, "POST", "/api/v1/log/entries", Some(&req))
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
}

pub fn hashedrekord(key: &Key, artifact: &[u8], verifier_pem: &str) -> Vec<u8> {
    let digest = signet_crypto::sha256(artifact);
    let sig = key.sign(artifact);
    serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": signet_model::encoding::encode_hex(digest)}},
            "signature": {
                "content": encode_base64(&sig),
                "publicKey": {"content": encode_base64(verifier_pem.as_bytes())}
            }
        }
    }))
    .unwrap()
}

pub fn trust(log: &RunningLog) -> TrustMaterial {
    let mut instance = signet_log::keys::trust_instance(
        &log.context.signer,
        &log.context.public_url,
        1_600_000_000,
    );
    instance.base_url = log.context.public_url.clone();
    let root = TrustedRoot {
        media_type: signet_model::trust_root::MEDIA_TYPE_V0_1.into(),
        tlogs: vec![instance],
        certificate_authorities: vec![],
        ctlogs: vec![],
        timestamp_authorities: vec![],
    };
    let json = root.to_json_pretty();
    TrustMaterial::from_trusted_root(&TrustedRoot::from_json(json.as_bytes()).unwrap()).unwrap()
}

/// The bundle `tlogEntries[]` item for a v1 `{uuid: LogEntry}` response.
pub fn tlog_entry(resp: &Value) -> (String, Value) {
    let (uuid, e) = resp.as_object().unwrap().iter().next().unwrap();
    let body = decode_base64(e["body"].as_str().unwrap()).unwrap();
    let parsed = signet_model::rekor::EntryBody::parse(&body).unwrap();
    let p = &e["verification"]["inclusionProof"];
    let b64hex = |v: &Value| encode_base64(&hex::decode(v.as_str().unwrap()).unwrap());
    let entry = json!({
        "logIndex": e["logIndex"].to_string(),
        "logId": {"keyId": b64hex(&e["logID"])},
        "kindVersion": {"kind": parsed.kind(), "version": parsed.version()},
        "integratedTime": e["integratedTime"].to_string(),
        "inclusionPromise": {"signedEntryTimestamp": e["verification"]["signedEntryTimestamp"]},
        "inclusionProof": {
            "logIndex": p["logIndex"].to_string(),
            "rootHash": b64hex(&p["rootHash"]),
            "treeSize": p["treeSize"].to_string(),
            "hashes": p["hashes"].as_array().unwrap().iter().map(b64hex).collect::<Vec<_>>(),
            "checkpoint": {"envelope": p["checkpoint"]}
        },
        "canonicalizedBody": e["body"],
    });
    (uuid.clone(), entry)
}

/// A self-signed certificate for `key` with an email SAN.
pub fn self_signed(key: &Key, email: &str) -> Vec<u8> {
    use der::asn1::{BitString, Ia5String, OctetString};
    use der::{Decode, Encode};
    use std::str::FromStr;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::Extension;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use x509_cert::time::{Time, Validity};

    let time = |unix: u64| {
        Time::UtcTime(
            der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(unix)).unwrap(),
        )
    };
    let san = SubjectAltName(vec![GeneralName::Rfc822Name(
        Ia5String::new(email).unwrap(),
    )]);
    let alg = AlgorithmIdentifierOwned {
        oid: der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
        parameters: None,
    };
    let tbs = x509_cert::TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: SerialNumber::new(&[0x01]).unwrap(),
        signature: alg.clone(),
        issuer: Name::from_str("CN=signet-log-test").unwrap(),
        validity: Validity {
            not_before: time(1_600_000_000),
            not_after: time(2_000_000_000),
        },
        subject: Name::from_str("CN=signet-log-test").unwrap(),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(&key.spki).unwrap(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(vec![Extension {
            extn_id: der::asn1::ObjectIdentifier::new_unwrap("2.5.29.17"),
            critical: false,
            extn_value: OctetString::new(san.to_der().unwrap()).unwrap(),
        }]),
    };
    let sig = key.sign(&tbs.to_der().unwrap());
    x509_cert::Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&sig).unwrap(),
    }
    .to_der()
    .unwrap()
}
