//! The CA with its issuing key in a real SoftHSM2 token, through PKCS#11:
//! a file-based root certifies the token's public key, the CA issues over
//! HTTP, and the certificate verifies as a Sigstore verifier checks it
//! (chain, embedded SCT, Fulcio identity).
//!
//! Needs `softhsm2` and `opensc` (softhsm2-util, pkcs11-tool); fails with an
//! install hint without them unless SIGNET_SKIP_PEERS=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use serde_json::json;
use signet_ca::certgen::{self, CaCertSpec};
use signet_ca::signer::{Curve, FileSigner};
use signet_ca::{CaSigner, Pkcs11Error, Pkcs11Signer, Pkcs11Uri, SigAlg};
use signet_model::TrustedRoot;
use signet_pki::cert::Certificate;
use signet_pki::chain::Purpose;
use signet_pki::fulcio::{identity, SubjectAltName};
use signet_verify::TrustMaterial;

const PIN: &str = "1234";

fn module() -> PathBuf {
    std::env::var_os("SIGNET_SOFTHSM_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--help").output().is_ok()
}

/// Whether SoftHSM2 and OpenSC are here; panics with a hint if they are
/// not, unless peers are skipped.
fn softhsm_available() -> bool {
    if module().exists() && have("softhsm2-util") && have("pkcs11-tool") {
        return true;
    }
    if std::env::var("SIGNET_SKIP_PEERS").as_deref() == Ok("1") {
        eprintln!("skipping: SoftHSM2/OpenSC not installed and SIGNET_SKIP_PEERS=1");
        return false;
    }
    panic!(
        "SoftHSM2 and OpenSC are needed ({}, softhsm2-util, pkcs11-tool): \
         run scripts/test.sh, or `apt-get install softhsm2 opensc`; \
         or set SIGNET_SKIP_PEERS=1 to skip",
        module().display()
    );
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh token `signet` (user PIN 1234) in `dir`, with EC key pairs
/// `ca-key` (P-256, id 01) and `ca-key-384` (P-384, id 02).
fn init_token(dir: &Path) {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    // SoftHSM reads its configuration at C_Initialize, in this process too.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    run(Command::new("softhsm2-util").args([
        "--init-token",
        "--free",
        "--label",
        "signet",
        "--pin",
        PIN,
        "--so-pin",
        "5678",
    ]));
    for (curve, label, id) in [
        ("EC:prime256v1", "ca-key", "01"),
        ("EC:secp384r1", "ca-key-384", "02"),
    ] {
        run(Command::new("pkcs11-tool")
            .arg("--module")
            .arg(module())
            .args(["--login", "--pin", PIN, "--keypairgen", "--key-type", curve])
            .args(["--label", label, "--id", id]));
    }
}

/// Intermediate (the token's key, certified by a new file-based root) first,
/// root last.
fn chain_for(hsm: &dyn CaSigner) -> Vec<Certificate> {
    let (root, _) = FileSigner::generate(Curve::P384).unwrap();
    let (nb, na) = (now() - 300, now() + 3600);
    let root_name = "CN=signet-test-root,O=signet";
    let inter_name = "CN=signet-hsm-intermediate,O=signet";
    let root_cert = certgen::ca_certificate(
        &CaCertSpec {
            subject: root_name,
            subject_spki: root.public_key().spki_der(),
            not_before: nb,
            not_after: na,
            path_len: Some(1),
            code_signing_eku: false,
        },
        root_name,
        &root,
    )
    .unwrap();
    let inter_cert = certgen::ca_certificate(
        &CaCertSpec {
            subject: inter_name,
            subject_spki: hsm.public_key().spki_der(),
            not_before: nb,
            not_after: na,
            path_len: Some(0),
            code_signing_eku: true,
        },
        root_name,
        &root,
    )
    .unwrap();
    vec![
        Certificate::from_der(&inter_cert).unwrap(),
        Certificate::from_der(&root_cert).unwrap(),
    ]
}

/// Issues a certificate over HTTP with `hsm` as the CA key and checks it as
/// the verifier does.
async fn issue_and_verify(hsm: Arc<Pkcs11Signer>) {
    let chain = chain_for(hsm.as_ref());
    let signer: Arc<dyn CaSigner> = hsm;
    let stack = Stack::start_with(Some((signer, chain.clone()))).await;
    for _ in 0..3 {
        let key = ClientKey::new();
        let (status, answer) = stack
            .post_json(
                "/api/v2/signingCert",
                &csr_request(&stack.email_token(json!({})), &key.csr()),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        let pems = chain_of(&answer);
        let certs: Vec<Certificate> = pems
            .iter()
            .map(|p| Certificate::from_pem_chain(p).unwrap().remove(0))
            .collect();
        assert_eq!(certs.len(), 3, "leaf, intermediate, root");
        assert_eq!(certs[1], chain[0], "the HSM intermediate");
        let leaf = &certs[0];
        assert_eq!(leaf.spki_der(), key.spki);

        let text = stack.pieces.to_trusted_root().to_json_pretty();
        let root = TrustedRoot::from_json(text.as_bytes()).unwrap();
        let trust = TrustMaterial::from_trusted_root(&root).unwrap();
        let at = leaf.not_before() + 1;
        let verified = trust
            .cas
            .verify(leaf, &certs[1..2], at, Purpose::CodeSigning)
            .unwrap();
        let scts =
            signet_pki::sct::verify_embedded_scts(leaf, &verified.issuer, &trust.ctlogs).unwrap();
        assert_eq!(scts.len(), 1);
        let id = identity(leaf).unwrap();
        assert_eq!(id.san, [SubjectAltName::Email(EMAIL.into())]);
        assert_eq!(id.issuer.as_deref(), Some(stack.email_issuer.issuer_url()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn softhsm_key_issues_verifiable_certificates() {
    if !softhsm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    init_token(dir.path());
    let module = module();

    // Refusals first (before any session is logged in): wrong PIN, unknown token, unknown key, no module.
    let wrong = Pkcs11Uri::parse("pkcs11:token=signet;object=ca-key;pin-value=0000").unwrap();
    let err = Pkcs11Signer::open(&wrong, Some(&module)).unwrap_err();
    assert!(matches!(err, Pkcs11Error::Login(_)), "{err}");
    assert!(!err.to_string().contains("0000"));
    let none =
        Pkcs11Uri::parse(&format!("pkcs11:token=nope;object=ca-key;pin-value={PIN}")).unwrap();
    assert!(matches!(
        Pkcs11Signer::open(&none, Some(&module)),
        Err(Pkcs11Error::NoToken(_))
    ));
    let nokey =
        Pkcs11Uri::parse(&format!("pkcs11:token=signet;object=other;pin-value={PIN}")).unwrap();
    assert!(matches!(
        Pkcs11Signer::open(&nokey, Some(&module)),
        Err(Pkcs11Error::NoKey(_))
    ));
    assert!(matches!(
        Pkcs11Signer::open(&wrong, None),
        Err(Pkcs11Error::NoModule)
    ));

    // P-256 key by label, PIN in the URI.
    let uri = Pkcs11Uri::parse(&format!(
        "pkcs11:token=signet;object=ca-key;pin-value={PIN}"
    ))
    .unwrap();
    let p256 = Pkcs11Signer::open(&uri, Some(&module)).unwrap();
    assert_eq!(p256.algorithm(), SigAlg::EcdsaSha256);
    assert!(!format!("{p256:?}").contains(PIN));
    let sig = p256.sign(b"tbs").unwrap();
    p256.public_key().verify(b"tbs", &sig).unwrap();
    issue_and_verify(Arc::new(p256)).await;

    // P-384 key by id, module and PIN in the query.
    let uri = Pkcs11Uri::parse(&format!(
        "pkcs11:token=signet;id=%02?pin-value={PIN}&module-path={}",
        module.display()
    ))
    .unwrap();
    let p384 = Pkcs11Signer::open(&uri, None).unwrap();
    assert_eq!(p384.algorithm(), SigAlg::EcdsaSha384);
    // Many concurrent signatures share the session pool.
    let p384 = Arc::new(p384);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let s = p384.clone();
            std::thread::spawn(move || {
                for j in 0..8u8 {
                    let msg = [i, j];
                    let sig = s.sign(&msg).unwrap();
                    s.public_key().verify(&msg, &sig).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    issue_and_verify(p384).await;

    // PIN from the environment (the URI has none).
    std::env::set_var(signet_ca::signer_pkcs11::PIN_ENV, PIN);
    let uri = Pkcs11Uri::parse("pkcs11:token=signet;object=ca-key").unwrap();
    Pkcs11Signer::open(&uri, Some(&module)).unwrap();
    std::env::remove_var(signet_ca::signer_pkcs11::PIN_ENV);
}
