//! Verification throughput: signet against sigstore-verify (sigstore-rust),
//! and both against the cost of the raw signatures a bundle needs.
//!
//! Run: `cargo bench -p signet-verify --bench verify -- --warm-up-time 1 --measurement-time 3`
//!
//! * `signet/<case>/verify`: a warm `Verifier` (trust material built once),
//!   bundle parsed once; only `Verifier::verify` is timed.
//! * `signet/<case>/parse+verify`: the bundle JSON is parsed inside the
//!   timed loop too.
//! * `sigstore-verify/<case>/…`: the same for sigstore-verify's `Verifier`
//!   (built once). It has no "now" knob and reads the wall clock.
//! * `crypto/…`: raw aws-lc-rs ECDSA verification with keys parsed once;
//!   `crypto/floor-v0.3` does the signatures one Rekor v1 keyless bundle
//!   needs (1× P-384: the leaf certificate by the Fulcio intermediate;
//!   4× P-256: artifact signature, SCT, SET, checkpoint), over messages of
//!   the real sizes.
//!
//! Compare ratios from one run: absolute numbers on a shared machine are
//! noisy.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, ParsedPublicKey, ECDSA_P256_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_ASN1_SIGNING,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use signet_verify::{
    Artifact, IdentityPolicy, Matcher, Options, SignerPolicy, TrustMaterial, Verifier,
};
use sigstore_verify::VerificationPolicy;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// 2026-01-01T00:00:00Z: after every signing time in the cases used.
const NOW: i64 = 1_767_225_600;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

struct Case {
    name: &'static str,
    bundle: String,
    artifact: Vec<u8>,
    root: String,
}

fn load(name: &'static str) -> Case {
    let dir = testdata().join("conformance/bundle-verify").join(name);
    let root = if dir.join("trusted_root.json").exists() {
        dir.join("trusted_root.json")
    } else {
        testdata().join("trust/public-good/trusted_root.json")
    };
    Case {
        name,
        bundle: std::fs::read_to_string(dir.join("bundle.sigstore.json")).unwrap(),
        artifact: std::fs::read(testdata().join("conformance/bundle-verify/a.txt")).unwrap(),
        root: std::fs::read_to_string(root).unwrap(),
    }
}

fn bench_signet(c: &mut Criterion, case: &Case) {
    let root = signet_model::TrustedRoot::from_json(case.root.as_bytes()).unwrap();
    let verifier = Verifier::new(
        TrustMaterial::from_trusted_root(&root).unwrap(),
        Options {
            now: Some(NOW),
            ..Options::default()
        },
    );
    let policy = SignerPolicy::Identity(IdentityPolicy::new(
        Matcher::exact(IDENTITY),
        Matcher::exact(ISSUER),
    ));
    let artifact = Artifact::Bytes(&case.artifact);
    let bundle = signet_model::Bundle::from_json(case.bundle.as_bytes()).unwrap();
    verifier
        .verify(&bundle, &artifact, &policy)
        .unwrap_or_else(|e| panic!("signet rejects {}: {e:?}", case.name));

    let mut group = c.benchmark_group(format!("signet/{}", case.name));
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&bundle), &artifact, &policy)
                .unwrap()
        })
    });
    group.bench_function("parse+verify", |b| {
        b.iter(|| {
            let bundle =
                signet_model::Bundle::from_json(black_box(case.bundle.as_bytes())).unwrap();
            verifier.verify(&bundle, &artifact, &policy).unwrap()
        })
    });
    group.finish();
}

fn bench_sigstore(c: &mut Criterion, case: &Case) {
    use sigstore_verify::trust_root::TrustedRoot;
    use sigstore_verify::types::Bundle;
    let root = TrustedRoot::from_json(&case.root).unwrap();
    let verifier = sigstore_verify::Verifier::new(&root).unwrap();
    let policy = VerificationPolicy::new(IDENTITY, ISSUER);
    let bundle = Bundle::from_json(&case.bundle).unwrap();
    verifier
        .verify(case.artifact.as_slice(), &bundle, &policy)
        .unwrap_or_else(|e| panic!("sigstore-verify rejects {}: {e}", case.name));

    let mut group = c.benchmark_group(format!("sigstore-verify/{}", case.name));
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify", |b| {
        b.iter(|| {
            verifier
                .verify(case.artifact.as_slice(), black_box(&bundle), &policy)
                .unwrap()
        })
    });
    group.bench_function("parse+verify", |b| {
        b.iter(|| {
            let bundle = Bundle::from_json(black_box(&case.bundle)).unwrap();
            verifier
                .verify(case.artifact.as_slice(), &bundle, &policy)
                .unwrap()
        })
    });
    group.finish();
}

/// A key pair's parsed public key and a signature over `msg`.
struct Signed {
    key: ParsedPublicKey,
    msg: Vec<u8>,
    sig: Vec<u8>,
}

fn signed(alg: &'static EcdsaSigningAlgorithm, msg_len: usize) -> Signed {
    let verify_alg = if std::ptr::eq(alg, &ECDSA_P256_SHA256_ASN1_SIGNING) {
        &ECDSA_P256_SHA256_ASN1
    } else {
        &ECDSA_P384_SHA384_ASN1
    };
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap();
    let msg: Vec<u8> = (0..msg_len).map(|i| i as u8).collect();
    let sig = pair.sign(&rng, &msg).unwrap().as_ref().to_vec();
    let key = ParsedPublicKey::new(verify_alg, pair.public_key().as_ref()).unwrap();
    key.verify_sig(&msg, &sig).unwrap();
    Signed { key, msg, sig }
}

fn bench_crypto(c: &mut Criterion, v03: &Case) {
    // Message sizes of the happy-path-v0.3 bundle: the leaf certificate's
    // TBS (and the SCT's signed data, about as large), the SET's canonical
    // JSON (which embeds the base64 body), a checkpoint note.
    let bundle: serde_json::Value = serde_json::from_str(&v03.bundle).unwrap();
    let cert_len = bundle["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap()
        .len()
        * 3
        / 4;
    let body_b64_len = bundle["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
        .as_str()
        .unwrap()
        .len();

    let p256 = signed(&ECDSA_P256_SHA256_ASN1_SIGNING, 32);
    let p384 = signed(&ECDSA_P384_SHA384_ASN1_SIGNING, 32);
    let floor = [
        signed(&ECDSA_P384_SHA384_ASN1_SIGNING, cert_len), // leaf cert
        signed(&ECDSA_P256_SHA256_ASN1_SIGNING, 32),       // artifact (digest)
        signed(&ECDSA_P256_SHA256_ASN1_SIGNING, cert_len), // SCT
        signed(&ECDSA_P256_SHA256_ASN1_SIGNING, body_b64_len + 150), // SET
        signed(&ECDSA_P256_SHA256_ASN1_SIGNING, 200),      // checkpoint
    ];

    let mut group = c.benchmark_group("crypto");
    group.throughput(Throughput::Elements(1));
    group.bench_function("p256-verify", |b| {
        b.iter(|| {
            p256.key
                .verify_sig(black_box(&p256.msg), &p256.sig)
                .unwrap()
        })
    });
    group.bench_function("p384-verify", |b| {
        b.iter(|| {
            p384.key
                .verify_sig(black_box(&p384.msg), &p384.sig)
                .unwrap()
        })
    });
    group.bench_function("floor-v0.3", |b| {
        b.iter(|| {
            for s in &floor {
                s.key.verify_sig(black_box(&s.msg), &s.sig).unwrap();
            }
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let v03 = load("happy-path-v0.3");
    let rekor2 = load("rekor2-happy-path");
    for case in [&v03, &rekor2] {
        bench_signet(c, case);
        bench_sigstore(c, case);
    }
    bench_crypto(c, &v03);
}

criterion_group!(verify, benches);
criterion_main!(verify);
