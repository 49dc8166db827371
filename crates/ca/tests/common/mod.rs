//! An in-process stack for the CA's tests: two development OIDC issuers
//! (email and GitHub-Actions-shaped) and the CA, each on 127.0.0.1:0.

#![allow(dead_code)]

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::Engine;
use der::asn1::BitString;
use der::{Decode, Encode};
use serde_json::{json, Value};
use signet_ca::ca::CertificateAuthority;
use signet_ca::config::{CaConfig, IssuerConfig, IssuerType};
use signet_ca::ct::CtLogSigner;
use signet_ca::dev_oidc::{DevAlg, DevIssuer, TokenRequest};
use signet_ca::keys::{self, KeyPaths};
use signet_ca::oidc::OidcOptions;
use signet_ca::server::CaServer;
use signet_ca::trust::TrustPieces;
use signet_ca::CaSigner;
use signet_pki::cert::Certificate;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use tokio::sync::oneshot;
use x509_cert::request::{CertReq, CertReqInfo};

pub const EMAIL: &str = "alice@example.com";
/// A configured issuer that never answers.
pub const DOWN_ISSUER: &str = "http://127.0.0.1:1";

pub struct Stack {
    pub ca_url: String,
    pub email_issuer: Arc<DevIssuer>,
    pub github_issuer: Arc<DevIssuer>,
    pub pieces: TrustPieces,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    _stops: Vec<oneshot::Sender<()>>,
}

async fn start_issuer(alg: DevAlg, stops: &mut Vec<oneshot::Sender<()>>) -> Arc<DevIssuer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let issuer = Arc::new(DevIssuer::generate(&url, alg, 600).unwrap());
    let (tx, rx) = oneshot::channel();
    stops.push(tx);
    tokio::spawn(signet_ca::dev_oidc::serve(
        listener,
        issuer.clone(),
        async {
            let _ = rx.await;
        },
    ));
    issuer
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(None).await
    }

    /// The stack with `ca_key` (the issuing key and its chain, issuing
    /// certificate first) instead of a generated file-based CA.
    pub async fn start_with(ca_key: Option<(Arc<dyn CaSigner>, Vec<Certificate>)>) -> Stack {
        let mut stops = Vec::new();
        let email_issuer = start_issuer(DevAlg::Es256, &mut stops).await;
        let github_issuer = start_issuer(DevAlg::Rs256, &mut stops).await;

        let dir = tempfile::tempdir().unwrap();
        let mut material = keys::load_or_create(&KeyPaths::in_dir(dir.path()), now()).unwrap();
        if let Some((signer, chain)) = ca_key {
            material.signer = signer;
            material.chain = chain;
        }
        let ct = CtLogSigner::new(material.ct_signer).unwrap();
        let ca = CertificateAuthority::new(material.signer, material.chain, ct).unwrap();
        let config = CaConfig {
            oidc_issuers: vec![
                IssuerConfig::new(email_issuer.issuer_url(), IssuerType::Email),
                IssuerConfig::new(github_issuer.issuer_url(), IssuerType::GithubWorkflow),
                // Configured, but nothing listens there.
                IssuerConfig::new(DOWN_ISSUER, IssuerType::Email),
            ],
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ca_url = format!("http://{}", listener.local_addr().unwrap());
        let pieces = TrustPieces::for_ca(&ca, &ca_url, &format!("{ca_url}/ct"));
        let state = Arc::new(CaServer::new(ca, config, OidcOptions::default()).unwrap());
        let (tx, rx) = oneshot::channel();
        stops.push(tx);
        tokio::spawn(signet_ca::server::serve(listener, state, async {
            let _ = rx.await;
        }));
        Stack {
            ca_url,
            email_issuer,
            github_issuer,
            pieces,
            http: reqwest::Client::new(),
            _dir: dir,
            _stops: stops,
        }
    }

    /// A token for `EMAIL` from the email issuer, with `extra` claims.
    pub fn email_token(&self, extra: Value) -> String {
        let req = TokenRequest {
            email: Some(EMAIL.into()),
            claims: extra.as_object().cloned().unwrap_or_default(),
            ..Default::default()
        };
        self.email_issuer.mint(&req, now()).unwrap().0
    }

    /// A GitHub-Actions-shaped token from the GitHub issuer.
    pub fn github_token(&self) -> String {
        let req = TokenRequest {
            sub: Some("repo:octo/app:ref:refs/heads/main".into()),
            claims: github_claims().as_object().cloned().unwrap(),
            ..Default::default()
        };
        self.github_issuer.mint(&req, now()).unwrap().0
    }

    pub async fn post(&self, path: &str, body: Vec<u8>, bearer: Option<&str>) -> (u16, Vec<u8>) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.ca_url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, bytes) = self
            .post(path, serde_json::to_vec(body).unwrap(), None)
            .await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn github_claims() -> Value {
    json!({
        "job_workflow_ref": "octo/app/.github/workflows/release.yml@refs/heads/main",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "event_name": "push",
        "repository": "octo/app",
        "workflow": "release",
        "ref": "refs/heads/main",
        "job_workflow_sha": "89abcdef0123456789abcdef0123456789abcdef",
        "runner_environment": "github-hosted",
        "repository_id": "1001",
        "repository_owner": "octo",
        "repository_owner_id": "2002",
        "repository_visibility": "public",
        "workflow_ref": "octo/app/.github/workflows/release.yml@refs/heads/main",
        "workflow_sha": "89abcdef0123456789abcdef0123456789abcdef",
        "run_id": "42",
        "run_attempt": "1"
    })
}

/// A signer's P-256 key.
pub struct ClientKey {
    pub pair: EcdsaKeyPair,
    pub spki: Vec<u8>,
}

impl ClientKey {
    pub fn new() -> ClientKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
        ClientKey { pair, spki }
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), msg)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    pub fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki.clone()))
    }

    pub fn csr(&self) -> Vec<u8> {
        csr_with(&self.spki, |m| self.sign(m))
    }
}

pub const ECDSA_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// A PEM CSR for `spki`, its info signed by `sign` (ecdsa-with-SHA256).
pub fn csr_with(spki: &[u8], sign: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: Default::default(),
        public_key: SubjectPublicKeyInfoOwned::from_der(spki).unwrap(),
        attributes: Default::default(),
    };
    let sig = sign(&info.to_der().unwrap());
    let req = CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned {
            oid: ECDSA_SHA256,
            parameters: None,
        },
        signature: BitString::from_bytes(&sig).unwrap(),
    };
    pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", req.to_der().unwrap())).into_bytes()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A v2 CSR-form request body.
pub fn csr_request(token: &str, csr_pem: &[u8]) -> Value {
    json!({
        "credentials": {"oidcIdentityToken": token},
        "certificateSigningRequest": b64(csr_pem),
    })
}

/// A v2 publicKeyRequest-form body.
pub fn key_request(token: &str, key_pem: &str, proof: &[u8]) -> Value {
    json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": key_pem},
            "proofOfPossession": b64(proof),
        }
    })
}

/// The PEM certificates of a v2 answer.
pub fn chain_of(answer: &Value) -> Vec<String> {
    answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .expect("a certificate chain")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// GET `url` and parse the JSON answer.
pub async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let bytes = http.get(url).send().await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// POST `body` as JSON to `url` and parse the JSON answer.
pub async fn post_json_to(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let bytes = http
        .post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
