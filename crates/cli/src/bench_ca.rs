//! `signet bench ca`: load-test an in-process keyless CA on loopback.
//!
//! 1. A dev OIDC issuer (ES256 or RS256) and the CA (a fresh P-384 root
//!    and intermediate, or P-256 with `--ca-curve p256`; a P-256 CT key)
//!    start on 127.0.0.1.
//! 2. Before timing: `--certs` ID tokens (one identity each) and as many
//!    client P-256 keys with their proof of possession (a signature over
//!    the email) are made.
//! 3. `--clients` concurrent keep-alive HTTP/1.1 clients POST them to
//!    `/api/v2/signingCert`: certificates/s (200s per second of wall time,
//!    end to end: token verification, proof check, precertificate, SCT,
//!    final certificate and the CA's structural check of it) and the
//!    client-observed latency p50/p99.
//! 4. Baseline, same run, single core: the crypto one issuance needs, op
//!    by op, and the issuances/s that crypto alone allows on one core, so
//!    the result reads as a ratio of the hardware.
//!
//! The server and the clients share the machine (and one tokio runtime),
//! so the numbers are a lower bound for a dedicated server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair, RsaKeyPair,
    UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use clap::{Args, ValueEnum};
use serde_json::json;
use signet_ca::ca::CertificateAuthority;
use signet_ca::config::{CaConfig, IssuerConfig, IssuerType};
use signet_ca::ct::CtLogSigner;
use signet_ca::dev_oidc::{DevAlg, DevIssuer, TokenRequest};
use signet_ca::oidc::OidcOptions;
use signet_ca::server::CaServer;
use signet_model::encoding::encode_base64;
use tokio::sync::oneshot;

use crate::bench_cmd::{percentile, phase, rate, raw_request, BoxError, RawRequest};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenAlg {
    Es256,
    Rs256,
}

#[derive(Args)]
pub struct CaBenchArgs {
    /// Concurrent clients (one keep-alive connection each).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Certificates to request (tokens and keys made before timing).
    #[arg(long, default_value_t = 5_000)]
    certs: usize,
    /// Upper bound on the timed phase, in seconds.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// The dev issuer's token signing algorithm.
    #[arg(long, value_enum, default_value = "es256")]
    alg: TokenAlg,
    /// The curve of the generated root and issuing keys (Fulcio uses
    /// P-384; P-256 is several times cheaper to sign with).
    #[arg(long, value_enum, default_value = "p384")]
    ca_curve: CaCurve,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaCurve {
    P256,
    P384,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn ecdsa_pair(alg: &'static EcdsaSigningAlgorithm) -> Result<EcdsaKeyPair, BoxError> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new())
        .map_err(|_| "key generation failed")?;
    Ok(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).map_err(|_| "key parsing failed")?)
}

/// One request body: a fresh identity's token and a fresh key with its
/// proof of possession.
fn request_body(issuer: &DevIssuer, i: usize, run: u32) -> Result<String, BoxError> {
    let email = format!("bench-{run}-{i}@example.com");
    let req = TokenRequest {
        email: Some(email.clone()),
        ..Default::default()
    };
    let (token, _) = issuer.mint(&req, now())?;
    let key = ecdsa_pair(&ECDSA_P256_SHA256_ASN1_SIGNING)?;
    let spki = key.public_key().as_der()?.as_ref().to_vec();
    let pem = signet_log::entry::pem_lf("PUBLIC KEY", &spki);
    let proof = key
        .sign(&SystemRandom::new(), email.as_bytes())
        .map_err(|_| "signing failed")?;
    Ok(json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": pem},
            "proofOfPossession": encode_base64(proof.as_ref()),
        }
    })
    .to_string())
}

/// Mean seconds per call of `op` over `n` calls, single thread.
fn time_op(n: usize, mut op: impl FnMut(usize) -> Result<(), BoxError>) -> Result<f64, BoxError> {
    let t = Instant::now();
    for i in 0..n {
        op(i)?;
    }
    Ok(t.elapsed().as_secs_f64() / n.max(1) as f64)
}

fn ecdsa_sign_secs(alg: &'static EcdsaSigningAlgorithm, n: usize) -> Result<f64, BoxError> {
    let pair = ecdsa_pair(alg)?;
    let rng = SystemRandom::new();
    let msg = [7u8; 600];
    time_op(n, |_| {
        pair.sign(&rng, &msg).map_err(|_| "sign failed")?;
        Ok(())
    })
}

fn ecdsa_verify_secs(
    sign: &'static EcdsaSigningAlgorithm,
    verify: &'static EcdsaVerificationAlgorithm,
    n: usize,
) -> Result<f64, BoxError> {
    let pair = ecdsa_pair(sign)?;
    let msg = [7u8; 600];
    let sig = pair
        .sign(&SystemRandom::new(), &msg)
        .map_err(|_| "sign failed")?;
    let key = UnparsedPublicKey::new(verify, pair.public_key().as_ref());
    time_op(n, |_| {
        key.verify(&msg, sig.as_ref())
            .map_err(|_| "verify failed")?;
        Ok(())
    })
}

fn rs256_verify_secs(n: usize) -> Result<f64, BoxError> {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| "RSA keygen failed")?;
    let msg = [7u8; 600];
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), &msg, &mut sig)
        .map_err(|_| "RSA sign failed")?;
    let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref());
    time_op(n, |_| {
        key.verify(&msg, &sig).map_err(|_| "RSA verify failed")?;
        Ok(())
    })
}

/// The crypto of one issuance, single core: (label, count, seconds each).
/// The CA's in-memory keys verify their own signatures in the start-up
/// self-test, not per certificate (an HSM-held key would add one verify
/// of each).
fn baseline(alg: TokenAlg, curve: CaCurve) -> Result<Vec<(&'static str, u32, f64)>, BoxError> {
    let n = 2000;
    let token = match alg {
        TokenAlg::Es256 => (
            "ES256 token verify (P-256)",
            ecdsa_verify_secs(&ECDSA_P256_SHA256_ASN1_SIGNING, &ECDSA_P256_SHA256_ASN1, n)?,
        ),
        TokenAlg::Rs256 => ("RS256 token verify (RSA-2048)", rs256_verify_secs(n)?),
    };
    let p256_verify =
        ecdsa_verify_secs(&ECDSA_P256_SHA256_ASN1_SIGNING, &ECDSA_P256_SHA256_ASN1, n)?;
    let cert_sign = match curve {
        CaCurve::P384 => (
            "certificate sign, precert + final (P-384)",
            ecdsa_sign_secs(&ECDSA_P384_SHA384_ASN1_SIGNING, n)?,
        ),
        CaCurve::P256 => (
            "certificate sign, precert + final (P-256)",
            ecdsa_sign_secs(&ECDSA_P256_SHA256_ASN1_SIGNING, n)?,
        ),
    };
    Ok(vec![
        (token.0, 1, token.1),
        ("proof-of-possession verify (P-256)", 1, p256_verify),
        (cert_sign.0, 2, cert_sign.1),
        (
            "SCT sign (P-256)",
            1,
            ecdsa_sign_secs(&ECDSA_P256_SHA256_ASN1_SIGNING, n)?,
        ),
    ])
}

async fn start_issuer(
    alg: TokenAlg,
    ttl: u64,
    stops: &mut Vec<oneshot::Sender<()>>,
) -> Result<Arc<DevIssuer>, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let alg = match alg {
        TokenAlg::Es256 => DevAlg::Es256,
        TokenAlg::Rs256 => DevAlg::Rs256,
    };
    let issuer = Arc::new(DevIssuer::generate(&url, alg, ttl)?);
    let (tx, rx) = oneshot::channel();
    stops.push(tx);
    tokio::spawn(signet_ca::dev_oidc::serve(
        listener,
        issuer.clone(),
        async {
            let _ = rx.await;
        },
    ));
    Ok(issuer)
}

pub fn ca_bench(args: CaBenchArgs) -> Result<(), BoxError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("signet bench ca: {cores} cores, client and server on this machine (loopback)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut stops = Vec::new();
        let ttl = args.max_seconds.saturating_add(600);
        let issuer = start_issuer(args.alg, ttl, &mut stops).await?;

        let t = Instant::now();
        let run = std::process::id();
        let bodies = (0..args.certs)
            .map(|i| request_body(&issuer, i, run))
            .collect::<Result<Vec<_>, _>>()?;
        println!(
            "prepared {} tokens, keys and proofs in {:.2?} (not timed below)",
            bodies.len(),
            t.elapsed()
        );

        let curve = match args.ca_curve {
            CaCurve::P256 => signet_ca::signer::Curve::P256,
            CaCurve::P384 => signet_ca::signer::Curve::P384,
        };
        let generated = signet_ca::keys::generate_ca_on(now(), curve)?;
        let (ct_signer, _) = signet_ca::FileSigner::generate(signet_ca::signer::Curve::P256)?;
        let ct = CtLogSigner::new(Arc::new(ct_signer))?;
        let ca = CertificateAuthority::new(Arc::new(generated.signer), generated.chain, ct)?;
        let config = CaConfig {
            oidc_issuers: vec![IssuerConfig::new(issuer.issuer_url(), IssuerType::Email)],
        };
        let state = Arc::new(CaServer::new(ca, config, OidcOptions::default())?);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel();
        stops.push(tx);
        tokio::spawn(signet_ca::server::serve(listener, state, async {
            let _ = rx.await;
        }));

        // One request outside the timing, so the issuer's keys are fetched.
        let warm = phase(addr, 1, 1, Duration::from_secs(30), 200, {
            let req = raw_request(
                "POST",
                "/api/v2/signingCert",
                bodies.first().map_or("", String::as_str),
            );
            move |_| req.clone()
        })
        .await?;
        if warm.ok != 1 {
            return Err("the warm-up request was refused".into());
        }

        let requests: Arc<Vec<RawRequest>> = Arc::new(
            bodies
                .iter()
                .map(|body| raw_request("POST", "/api/v2/signingCert", body))
                .collect(),
        );
        let limit = Duration::from_secs(args.max_seconds);
        let result = phase(addr, args.clients, requests.len(), limit, 200, move |i| {
            requests[i].clone()
        })
        .await?;
        let certs = rate(result.ok, result.elapsed);

        let ops = baseline(args.alg, args.ca_curve)?;
        println!("baseline, 1 core, crypto per issuance:");
        let mut per_issue = 0.0;
        for (label, count, secs) in &ops {
            per_issue += f64::from(*count) * secs;
            println!(
                "  {count} x {label}: {:.1} µs each ({:.0}/s)",
                secs * 1e6,
                1.0 / secs
            );
        }
        let crypto_rate = 1.0 / per_issue.max(1e-12);
        println!(
            "  = {:.1} µs: {crypto_rate:.0} issuances/s of crypto alone on 1 core ({:.0} on {cores})",
            per_issue * 1e6,
            crypto_rate * cores as f64
        );
        println!(
            "issuance: {} x 200 ({} failed) in {:.2?} with {} clients: {certs:.0} certificates/s \
             ({:.2} of the 1-core crypto rate, {:.2} of the {cores}-core crypto rate)",
            result.ok,
            result.failed,
            result.elapsed,
            args.clients,
            certs / crypto_rate,
            certs / (crypto_rate * cores as f64)
        );
        println!(
            "latency (client-observed 200): p50 {:.1?}, p99 {:.1?}, max {:.1?}",
            percentile(&result.latencies, 0.50),
            percentile(&result.latencies, 0.99),
            result.latencies.last().copied().unwrap_or_default()
        );
        drop(stops);
        Ok::<(), BoxError>(())
    })
}
