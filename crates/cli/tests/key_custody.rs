//! `--key` beyond key files, end to end through the binary: a key in a
//! real SoftHSM2 token (`pkcs11:`), keys in AWS KMS as moto's server
//! speaks it (`awskms://`), `signet public-key`, and the KMS schemes that
//! are not supported yet. Signing goes to a private stack (`signet up`);
//! images to a real registry (Debian's docker-registry).
//!
//! Peers: softhsm2 + opensc (softhsm2-util, pkcs11-tool), moto's server
//! (SIGNET_PEER_MOTO, installed by scripts/test.sh), docker-registry +
//! skopeo. A missing peer fails with the install command unless
//! SIGNET_SKIP_PEERS=1.

mod support {
    pub mod cli;
    pub mod registry;
    pub mod up;
}

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use signet_sign::kms::{AwsCredentials, AwsKmsClient};
use support::cli::*;
use support::registry::{peers, TestRegistry};
use support::up::*;

const PIN: &str = "1234";

/// `--trusted-root R --signing-config S` of a stack.
fn trust(up: &Up) -> Vec<String> {
    vec![
        "--trusted-root".into(),
        path(&up.trusted_root).into(),
        "--signing-config".into(),
        path(&up.signing_config).into(),
    ]
}

/// Signs `file` with `key` into `bundle`, verifies it with `public`
/// (a PEM file), and checks that a tampered copy is rejected.
fn sign_verify_tamper(dir: &Path, up: &Up, key: &str, public: &str, envs: &[(&str, &str)]) {
    let file = "artifact.txt";
    std::fs::write(dir.join(file), format!("signed with {key}\n")).unwrap();
    let mut sign: Vec<String> = ["sign-blob", file, "--key", key, "--bundle", "b.json"]
        .map(String::from)
        .to_vec();
    sign.extend(trust(up));
    let sign: Vec<&str> = sign.iter().map(String::as_str).collect();
    ok(&signet_env(dir, &sign, envs));
    let root = path(&up.trusted_root);
    let verify = |f: &str| {
        signet_env(
            dir,
            &[
                "verify-blob",
                f,
                "--bundle",
                "b.json",
                "--key",
                public,
                "--trusted-root",
                root,
            ],
            &[],
        )
    };
    ok(&verify(file));
    std::fs::write(dir.join("tampered.txt"), format!("signed with {key}!\n")).unwrap();
    let out = verify("tampered.txt");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // The bundle's signature is over the file and by this key only: another
    // key's public half does not verify it.
    if !dir.join("other.pub").exists() {
        ok(&signet_env(
            dir,
            &["generate-key-pair", "--output-key-prefix", "other"],
            &[],
        ));
    }
    let out = signet_env(
        dir,
        &[
            "verify-blob",
            file,
            "--bundle",
            "b.json",
            "--key",
            "other.pub",
            "--trusted-root",
            root,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn unsupported_kms_schemes_are_usage_errors() {
    let dir = workdir(&format!("custody-schemes-{}", std::process::id()));
    std::fs::write(dir.join("a.txt"), b"a\n").unwrap();
    for (spec, scheme) in [
        (
            "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
            "gcpkms",
        ),
        ("hashivault://transit-key", "hashivault"),
        ("azurekms://v.vault.azure.net/k", "azurekms"),
    ] {
        let expected = format!(
            "{scheme}:// keys are not supported yet (supported: cosign key files, pkcs11:, awskms://)"
        );
        let out = signet_env(
            &dir,
            &["sign-blob", "a.txt", "--key", spec, "--bundle", "b.json"],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
        // Refused before the trust root is even looked at.
        assert!(!stderr(&out).contains("trust root"), "{}", stderr(&out));
        let out = signet_env(&dir, &["public-key", "--key", spec], &[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
        assert!(!dir.join("b.json").exists(), "nothing is written");
    }
    // A key file still works with public-key (it needs the password).
    ok(&signet_env(
        &dir,
        &["generate-key-pair", "--output-key-prefix", "k"],
        &[],
    ));
    let out = signet_env(&dir, &["public-key", "--key", "k.key"], &[]);
    ok(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(dir.join("k.pub")).unwrap()
    );
    let out = signet_env(
        &dir,
        &["public-key", "--key", "k.key"],
        &[("COSIGN_PASSWORD", "wrong")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

// ---------------------------------------------------------------- PKCS#11

fn softhsm_module() -> PathBuf {
    std::env::var_os("SIGNET_SOFTHSM_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--help").output().is_ok()
}

fn softhsm_available() -> bool {
    if std::env::var("SIGNET_SKIP_PEERS").as_deref() == Ok("1") {
        eprintln!("SIGNET_SKIP_PEERS=1: skipping a test that needs SoftHSM2 and OpenSC");
        return false;
    }
    assert!(
        softhsm_module().exists() && have("softhsm2-util") && have("pkcs11-tool"),
        "peer missing: SoftHSM2 and OpenSC ({}, softhsm2-util, pkcs11-tool). Install the peers \
         with `bash scripts/test.sh` (or: apt-get install softhsm2 opensc), or set \
         SIGNET_SKIP_PEERS=1 to skip",
        softhsm_module().display()
    );
    true
}

#[track_caller]
fn run_tool(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A token `signet-client` (user PIN 1234) in `dir` with EC key pairs
/// `signing-key` (P-256) and `big-key` (P-384); returns SOFTHSM2_CONF.
fn init_token(dir: &Path) -> PathBuf {
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
    run_tool(
        Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", "signet-client"])
            .args(["--pin", PIN, "--so-pin", "5678"]),
    );
    for (curve, label, id) in [
        ("EC:prime256v1", "signing-key", "01"),
        ("EC:secp384r1", "big-key", "02"),
    ] {
        run_tool(
            Command::new("pkcs11-tool")
                .env("SOFTHSM2_CONF", &conf)
                .arg("--module")
                .arg(softhsm_module())
                .args(["--login", "--pin", PIN, "--keypairgen", "--key-type", curve])
                .args(["--label", label, "--id", id]),
        );
    }
    conf
}

#[test]
fn pkcs11_token_key_signs_blobs_and_images() {
    if !softhsm_available() {
        return;
    }
    let dir = workdir(&format!("custody-pkcs11-{}", std::process::id()));
    let conf = init_token(&dir);
    let module = softhsm_module();
    let envs = [
        ("SOFTHSM2_CONF", path(&conf)),
        ("SIGNET_PKCS11_MODULE", module.to_str().unwrap()),
    ];
    let uri = format!("pkcs11:token=signet-client;object=signing-key;pin-value={PIN}");

    // The public key, from the token.
    let out = signet_env(&dir, &["public-key", "--key", &uri], &envs);
    ok(&out);
    let pem_text = String::from_utf8(out.stdout).unwrap();
    assert!(
        pem_text.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{pem_text}"
    );
    std::fs::write(dir.join("hsm.pub"), &pem_text).unwrap();
    // --outfile, and the module named in the URI instead of the environment.
    let in_uri = format!(
        "pkcs11:token=signet-client;object=signing-key?module-path={}&pin-value={PIN}",
        module.display()
    );
    ok(&signet_env(
        &dir,
        &["public-key", "--key", &in_uri, "--outfile", "again.pub"],
        &[("SOFTHSM2_CONF", path(&conf))],
    ));
    assert_eq!(
        std::fs::read_to_string(dir.join("again.pub")).unwrap(),
        pem_text
    );

    let up = Up::start(&dir.join("stack"));
    sign_verify_tamper(&dir, &up, &uri, "hsm.pub", &envs);
    // The PIN from the environment instead of the URI.
    let no_pin = "pkcs11:token=signet-client;object=signing-key";
    let out = signet_env(
        &dir,
        &["public-key", "--key", no_pin],
        &[envs[0], envs[1], ("SIGNET_PKCS11_PIN", PIN)],
    );
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), pem_text);

    // Clear usage errors: wrong PIN, no such key, a P-384 key, no module.
    for (spec, envs, needle) in [
        (
            "pkcs11:token=signet-client;object=signing-key;pin-value=0000".to_string(),
            &envs[..],
            "login failed",
        ),
        (
            format!("pkcs11:token=signet-client;object=nope;pin-value={PIN}"),
            &envs[..],
            "no private key matches pkcs11:token=signet-client;object=nope",
        ),
        (
            format!("pkcs11:token=signet-client;object=big-key;pin-value={PIN}"),
            &envs[..],
            "P-256",
        ),
        (uri.clone(), &envs[..1], "no PKCS#11 module"),
    ] {
        let out = signet_env(
            &dir,
            &[
                "sign-blob",
                "artifact.txt",
                "--key",
                &spec,
                "--bundle",
                "x.json",
            ],
            envs,
        );
        assert_eq!(out.status.code(), Some(2), "{spec}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{spec}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("pin-value"),
            "the PIN is never printed"
        );
    }

    // An image in a real registry, signed by the token's key.
    if peers().is_none() {
        return;
    }
    let reg = TestRegistry::start(&dir.join("registry"), None);
    let image = reg.image("team/hsm", "v1");
    let digest = reg.push_image("team/hsm", "v1", "signed by an HSM");
    let mut sign: Vec<String> = vec!["sign".into(), image.clone(), "--key".into(), uri.clone()];
    sign.extend(trust(&up));
    let sign: Vec<&str> = sign.iter().map(String::as_str).collect();
    let out = signet_env(&dir, &sign, &envs);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&digest));
    let verify = |key: &str| {
        signet_env(
            &dir,
            &[
                "verify",
                &image,
                "--key",
                key,
                "--trusted-root",
                path(&up.trusted_root),
                "--output",
                "json",
            ],
            &[],
        )
    };
    let out = verify("hsm.pub");
    ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc[0]["verified"], true, "{doc}");
    assert_eq!(doc[0]["digest"], digest.as_str(), "{doc}");
    // Another key does not verify the token's signature.
    let out = verify("other.pub");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

// ---------------------------------------------------------------- AWS KMS

fn moto_server() -> Option<PathBuf> {
    peer(
        "SIGNET_PEER_MOTO",
        "moto/bin/moto_server",
        "python3 -m venv target/peers/moto && target/peers/moto/bin/pip install 'moto[server]==5.2.5'",
    )
}

/// A moto server on 127.0.0.1:<free port>, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// `digest_fix`: run it through tests/support/moto_kms_digest.py (KMS
    /// Sign honouring MessageType=DIGEST, as AWS does); else plain moto.
    fn start(moto_server: &Path, dir: &Path, digest_fix: bool) -> Moto {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let log = std::fs::File::create(dir.join(format!("moto-{port}.log"))).unwrap();
        let mut cmd = if digest_fix {
            let bin = moto_server.parent().unwrap();
            let python = ["python3", "python"]
                .iter()
                .map(|p| bin.join(p))
                .find(|p| p.exists())
                .expect("no python beside moto_server");
            let mut cmd = Command::new(python);
            cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_kms_digest.py"));
            cmd
        } else {
            Command::new(moto_server)
        };
        let child = cmd
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited with {status}");
            }
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn client(&self) -> AwsKmsClient {
        AwsKmsClient::new(
            &format!("http://127.0.0.1:{}", self.port),
            "us-east-1",
            AwsCredentials::new("testing", "testing", None),
        )
        .unwrap()
    }

    fn uri(&self, key: &str) -> String {
        format!("awskms://127.0.0.1:{}/{key}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
];

#[test]
fn aws_kms_keys_sign_blobs() {
    let Some(moto_server) = moto_server() else {
        return;
    };
    let dir = workdir(&format!("custody-awskms-{}", std::process::id()));
    let moto = Moto::start(&moto_server, &dir, true);
    let up = Up::start(&dir.join("stack"));

    // generate-key-pair --kms creates a P-256 key under an alias.
    let alias = moto.uri("alias/signet-test");
    let out = signet_env(
        &dir,
        &[
            "generate-key-pair",
            "--kms",
            &alias,
            "--output-key-prefix",
            "kms",
        ],
        &AWS_ENV,
    );
    ok(&out);
    assert!(!dir.join("kms.key").exists(), "no private key file for KMS");
    let kms_pub = std::fs::read_to_string(dir.join("kms.pub")).unwrap();
    let out = signet_env(&dir, &["public-key", "--key", &alias], &AWS_ENV);
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), kms_pub);
    sign_verify_tamper(&dir, &up, &alias, "kms.pub", &AWS_ENV);
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("b.json")).unwrap()).unwrap();
    assert!(
        bundle["verificationMaterial"]["publicKey"].is_object(),
        "{bundle}"
    );

    // The same key by its key ID; and an RSA_2048 key.
    let client = moto.client();
    let p256_id = client.get_public_key("alias/signet-test").unwrap().key_id;
    let out = signet_env(
        &dir,
        &["public-key", "--key", &moto.uri(&p256_id)],
        &AWS_ENV,
    );
    ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), kms_pub);
    let rsa_id = client.create_key("RSA_2048", "signet test RSA").unwrap();
    let rsa = moto.uri(&rsa_id);
    let out = signet_env(
        &dir,
        &["public-key", "--key", &rsa, "--outfile", "rsa.pub"],
        &AWS_ENV,
    );
    ok(&out);
    assert_ne!(
        std::fs::read_to_string(dir.join("rsa.pub")).unwrap(),
        kms_pub
    );
    sign_verify_tamper(&dir, &up, &rsa, "rsa.pub", &AWS_ENV);

    // Errors: an unknown key, no credentials, no region, an encryption key.
    let sign = |key: &str, envs: &[(&str, &str)]| {
        signet_env(
            &dir,
            &[
                "sign-blob",
                "artifact.txt",
                "--key",
                key,
                "--bundle",
                "x.json",
            ],
            envs,
        )
    };
    let missing = moto.uri("0b0b0b0b-1111-2222-3333-444455556666");
    let out = sign(&missing, &AWS_ENV);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0b0b0b0b-1111-2222-3333-444455556666")
            && stderr(&out).contains("NotFoundException"),
        "{}",
        stderr(&out)
    );
    let out = sign(&alias, &AWS_ENV[2..]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no AWS credentials"),
        "{}",
        stderr(&out)
    );
    let out = sign(&alias, &AWS_ENV[..2]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no AWS region"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("testing"), "no secret is printed");
    assert!(!dir.join("x.json").exists());

    // Nothing listens on a port moto gave back: a transport failure, exit 1.
    drop(moto);
    let out = sign(&alias, &AWS_ENV);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("AWS KMS"), "{}", stderr(&out));
}

/// Released moto signs sha256(digest) when asked to sign a digest; signet
/// notices before anything is logged or written.
#[test]
fn a_kms_that_signs_something_else_is_caught() {
    let Some(moto_server) = moto_server() else {
        return;
    };
    let dir = workdir(&format!("custody-awskms-raw-{}", std::process::id()));
    let moto = Moto::start(&moto_server, &dir, false);
    let id = moto.client().create_key("ECC_NIST_P256", "t").unwrap();
    let up = Up::start(&dir.join("stack"));
    std::fs::write(dir.join("a.txt"), b"a\n").unwrap();
    let mut args: Vec<String> = [
        "sign-blob",
        "a.txt",
        "--key",
        &moto.uri(&id),
        "--bundle",
        "b.json",
    ]
    .map(String::from)
    .to_vec();
    args.extend(trust(&up));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = signet_env(&dir, &args, &AWS_ENV);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n(if this moto honours MessageType=DIGEST now, getmoto/moto#10202 was released: \
         drop tests/support/moto_kms_digest.py and this test)",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("does not verify over the digest sent"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("b.json").exists());
}
