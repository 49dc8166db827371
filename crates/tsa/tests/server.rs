//! `signet tsa serve` end to end: the server in-process on 127.0.0.1:0,
//! signet-sign's TSA client, signet-pki's verifier, and OpenSSL as an
//! independent peer.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use der::asn1::{Int, OctetString};
use der::{Decode, Encode};
use signet_model::signing_config::{Service, SigningConfig, SIGNING_CONFIG_V0_2};
use signet_model::trust_root::{TrustedRoot, MEDIA_TYPE_V0_1};
use signet_pki::timestamp::{verify_timestamp, TimestampAuthority, TimestampError, TimestampToken};
use signet_sign::tsa::{build_request, check_response, TsaClient};
use signet_sign::{SignOptions, SigningContext};
use signet_tsa::asn1::{MessageImprint, TimeStampReq, TimeStampResp, ID_SHA256, ID_SHA512};
use signet_tsa::server::{load_authority, serve, KeySource, MAX_BODY_BYTES};
use signet_tsa::trust::{trust_pieces, TsaTrustPieces};
use spki::AlgorithmIdentifierOwned;

struct Server {
    base_url: String,
    pieces: TsaTrustPieces,
    chain_pem: String,
    dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let tsa = load_authority(
        &KeySource::DataDir(dir.path().join("tsa")),
        signet_tsa::DEFAULT_POLICY.parse().unwrap(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let pieces = trust_pieces(tsa.chain(), &base_url).unwrap();
    let chain_pem = signet_tsa::keys::pem_chain(tsa.chain()).unwrap();
    rt.spawn(serve(listener, Arc::new(tsa), std::future::pending()));
    Server {
        base_url,
        pieces,
        chain_pem,
        dir,
        _rt: rt,
    }
}

fn trusted_root(pieces: &TsaTrustPieces) -> TrustedRoot {
    TrustedRoot {
        media_type: MEDIA_TYPE_V0_1.into(),
        tlogs: vec![],
        certificate_authorities: vec![],
        ctlogs: vec![],
        timestamp_authorities: pieces.timestamp_authorities.clone(),
    }
}

/// The authority built straight from the emitted trust-root entry.
fn authority(pieces: &TsaTrustPieces) -> TimestampAuthority {
    let entry = &pieces.timestamp_authorities[0];
    let chain = entry
        .cert_chain
        .certificates
        .iter()
        .map(|c| signet_pki::cert::Certificate::from_der(&c.raw_bytes.0).unwrap())
        .collect();
    let start = entry
        .valid_for
        .as_ref()
        .unwrap()
        .start
        .as_ref()
        .unwrap()
        .unix;
    TimestampAuthority::new(chain, Some(start), None)
}

/// signet-sign's TSA client, chosen from a signing config carrying the
/// emitted `tsaUrls` entry.
fn client(pieces: &TsaTrustPieces) -> TsaClient {
    let config = SigningConfig {
        media_type: SIGNING_CONFIG_V0_2.into(),
        ca_urls: vec![],
        oidc_urls: vec![],
        rekor_tlog_urls: vec![Service {
            url: "http://127.0.0.1:9".into(),
            major_api_version: 1,
            valid_for: pieces.tsa_urls[0].valid_for.clone(),
            operator: None,
        }],
        rekor_tlog_config: None,
        tsa_urls: pieces.tsa_urls.clone(),
        tsa_config: None,
    };
    let ctx = SigningContext::new(&config, &trusted_root(pieces), SignOptions::default()).unwrap();
    TsaClient::new(&pieces.tsa_urls[0].url, ctx.http().clone())
}

fn post(url: &str, content_type: &str, body: Vec<u8>) -> (u16, Option<String>, Vec<u8>) {
    let resp = reqwest::blocking::Client::new()
        .post(url)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    (status, ct, resp.bytes().unwrap().to_vec())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn timestamp_from_signet_client_verifies_against_emitted_trust_root() {
    let server = start();
    assert_eq!(
        server.pieces.tsa_urls[0].url,
        format!("{}/api/v1/timestamp", server.base_url)
    );
    let signature = b"some signature bytes";
    let response = client(&server.pieces).timestamp(signature).unwrap();

    let authority = authority(&server.pieces);
    let verified =
        verify_timestamp(&response, signature, std::slice::from_ref(&authority)).unwrap();
    assert!((verified.time - unix_now()).abs() < 60, "{verified:?}");
    // The same through signet-verify's trusted-root loading.
    let trust =
        signet_verify::trust::TrustMaterial::from_trusted_root(&trusted_root(&server.pieces))
            .unwrap();
    verify_timestamp(&response, signature, &trust.tsas).unwrap();

    // Not over other bytes.
    assert!(matches!(
        verify_timestamp(&response, b"other bytes", &[authority]),
        Err(TimestampError::MessageImprintMismatch { .. })
    ));
    // Not under another authority.
    let other = start();
    assert!(verify_timestamp(&response, signature, &[self::authority(&other.pieces)]).is_err());

    let token = TimestampToken::parse_response(&response).unwrap();
    assert_eq!(
        token.tst_info().policy.to_string(),
        signet_tsa::DEFAULT_POLICY
    );
    assert!(token.tst_info().serial_number.len() >= 16);
    assert!(token.tst_info().serial_number[0] < 0x80);
    // certReq: the signing certificate is embedded.
    assert_eq!(token.embedded_certificates().len(), 1);
}

#[test]
fn nonce_is_echoed_and_serials_differ() {
    let server = start();
    let url = &server.pieces.tsa_urls[0].url;
    let nonce = [0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let request = build_request(b"sig", &nonce).unwrap();
    let (status, ct, body) = post(url, "application/timestamp-query", request.der.clone());
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("application/timestamp-reply"));
    check_response(&body, b"sig", &request.nonce).unwrap();
    let token = TimestampToken::parse_response(&body).unwrap();
    let echoed = token.tst_info().nonce.clone().unwrap();
    assert_eq!(echoed, [&[0u8][..], &nonce[..]].concat());
    // Another nonce is not ours.
    assert!(check_response(&body, b"sig", &[1, 2, 3]).is_err());

    let (_, _, second) = post(url, "application/timestamp-query", request.der);
    let second = TimestampToken::parse_response(&second).unwrap();
    assert_ne!(
        second.tst_info().serial_number,
        token.tst_info().serial_number
    );
}

fn request_der(oid: der::oid::ObjectIdentifier, digest: Vec<u8>, cert_req: bool) -> Vec<u8> {
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            },
            hashed_message: OctetString::new(digest).unwrap(),
        },
        req_policy: None,
        nonce: Some(Int::new(&[5]).unwrap()),
        cert_req,
        extensions: None,
    }
    .to_der()
    .unwrap()
}

/// Status and failInfo bit position of a rejection.
fn rejection(body: &[u8]) -> (u8, usize) {
    let resp = TimeStampResp::from_der(body).unwrap();
    assert!(resp.time_stamp_token.is_none());
    let bits = resp.status.fail_info.unwrap();
    let bit = bits.bits().position(|b| b).unwrap();
    (resp.status.status, bit)
}

#[test]
fn bad_requests_get_rejections() {
    let server = start();
    let url = &server.pieces.tsa_urls[0].url;
    let query = "application/timestamp-query";

    // Garbage DER: badDataFormat (bit 5).
    let (status, ct, body) = post(url, query, b"\x30\x03garbage".to_vec());
    assert_eq!(status, 400);
    assert_eq!(ct.as_deref(), Some("application/timestamp-reply"));
    assert_eq!(rejection(&body), (2, 5));
    assert!(matches!(
        TimestampToken::parse_response(&body),
        Err(TimestampError::NotGranted { status: 2 })
    ));

    // SHA-1: badAlg (bit 0).
    let sha1 = "1.3.14.3.2.26".parse().unwrap();
    let (status, _, body) = post(url, query, request_der(sha1, vec![0; 20], true));
    assert_eq!(status, 400);
    assert_eq!(rejection(&body), (2, 0));

    // A SHA-256 imprint of the wrong length: badDataFormat.
    let (status, _, body) = post(url, query, request_der(ID_SHA256, vec![0; 20], true));
    assert_eq!(status, 400);
    assert_eq!(rejection(&body), (2, 5));

    // SHA-512 without certReq is fine, and embeds no certificate.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, b"data");
    let (status, _, body) = post(
        url,
        query,
        request_der(ID_SHA512, digest.as_ref().to_vec(), false),
    );
    assert_eq!(status, 200);
    let token = TimestampToken::parse_response(&body).unwrap();
    assert!(token.embedded_certificates().is_empty());
    token.verify(b"data", &[authority(&server.pieces)]).unwrap();

    // Oversized: 413.
    let (status, _, _) = post(url, query, vec![0x30; MAX_BODY_BYTES + 1]);
    assert_eq!(status, 413);

    // Not a timestamp query: 415.
    let (status, _, _) = post(url, "application/json", b"{}".to_vec());
    assert_eq!(status, 415);
}

#[test]
fn cert_chain_is_served_as_pem() {
    let server = start();
    let resp =
        reqwest::blocking::get(format!("{}/api/v1/timestamp/certchain", server.base_url)).unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().unwrap();
    assert_eq!(text, server.chain_pem);
    let chain = signet_pki::cert::Certificate::from_pem_chain(&text).unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(
        chain[0].der(),
        &server.pieces.timestamp_authorities[0]
            .cert_chain
            .certificates[0]
            .raw_bytes
            .0[..]
    );
}

fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed (scripts/test.sh installs it)")
}

fn assert_openssl_verifies(server: &Server, dir: &Path) {
    let out = openssl(&["ts", "-reply", "-in", "resp.der", "-text"], dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Status: Granted."), "{text}");
    assert!(text.contains("Policy OID: 1.3.6.1.4.1.57264.2"), "{text}");

    let out = openssl(
        &[
            "ts",
            "-verify",
            "-data",
            "data.bin",
            "-in",
            "resp.der",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
        dir,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Verification: OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Other data does not verify.
    std::fs::write(dir.join("other.bin"), b"other").unwrap();
    let out = openssl(
        &[
            "ts",
            "-verify",
            "-data",
            "other.bin",
            "-in",
            "resp.der",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
        dir,
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Verification: OK"));
    let _ = server;
}

fn write_chain_files(server: &Server, dir: &Path) {
    let chain = signet_pki::cert::Certificate::from_pem_chain(&server.chain_pem).unwrap();
    let pem = |c: &signet_pki::cert::Certificate| signet_ca::ca::pem_lf("CERTIFICATE", c.der());
    std::fs::write(dir.join("tsa.pem"), pem(&chain[0])).unwrap();
    std::fs::write(dir.join("root.pem"), pem(&chain[1])).unwrap();
}

#[test]
fn openssl_parses_and_verifies_the_reply() {
    let server = start();
    let dir = server.dir.path().join("openssl");
    std::fs::create_dir_all(&dir).unwrap();
    write_chain_files(&server, &dir);

    // A reply to signet's own client: the imprint is SHA-256 of the data.
    let data = b"signature bytes to stamp";
    std::fs::write(dir.join("data.bin"), data).unwrap();
    let response = client(&server.pieces).timestamp(data).unwrap();
    std::fs::write(dir.join("resp.der"), &response).unwrap();
    assert_openssl_verifies(&server, &dir);

    // A reply to OpenSSL's own SHA-512 query.
    let out = openssl(
        &[
            "ts", "-query", "-data", "data.bin", "-sha512", "-cert", "-out", "req.tsq",
        ],
        &dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let query = std::fs::read(dir.join("req.tsq")).unwrap();
    let (status, _, body) = post(
        &server.pieces.tsa_urls[0].url,
        "application/timestamp-query",
        query,
    );
    assert_eq!(status, 200);
    std::fs::write(dir.join("resp.der"), &body).unwrap();
    assert_openssl_verifies(&server, &dir);
    let out = openssl(
        &[
            "ts",
            "-verify",
            "-queryfile",
            "req.tsq",
            "-in",
            "resp.der",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "tsa.pem",
        ],
        &dir,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verification: OK"));
}

#[test]
fn key_and_chain_files_load_and_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let policy = signet_tsa::DEFAULT_POLICY_OID;
    let generated = load_authority(&KeySource::DataDir(dir.path().into()), policy).unwrap();
    let paths = signet_tsa::keys::KeyPaths::in_dir(dir.path());
    let files = KeySource::Files {
        key: paths.key.clone(),
        chain: paths.chain.clone(),
    };
    let loaded = load_authority(&files, policy).unwrap();
    assert_eq!(loaded.chain(), generated.chain());
    // The root key does not match the TSA certificate.
    let wrong = KeySource::Files {
        key: paths.root_key.clone(),
        chain: paths.chain.clone(),
    };
    assert!(matches!(
        load_authority(&wrong, policy),
        Err(signet_tsa::server::ServeError::Tsa(
            signet_tsa::TsaError::KeyCertMismatch
        ))
    ));
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let empty = KeySource::Files {
        key: paths.key,
        chain: dir.path().join("empty.pem"),
    };
    assert!(load_authority(&empty, policy).is_err());
}
