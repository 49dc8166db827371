//! What the CLI tests share around the binary: running `signet` in a
//! test's directory (key password, offline, an empty docker config, none
//! of the caller's CI, AWS or PKCS#11 settings), reading its output, the anonymous registry client, a
//! stack with a registry and a key pair, signing an image with that key,
//! and a test CA with a server certificate for 127.0.0.1.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use signet_oci::{CredentialSource, Registry, RegistryOptions};

use super::registry::{peers, TestRegistry};
use super::up::{ok, path, signet_bin, workdir, Up};

/// `DIR/docker-empty`, created: a docker config with no credentials.
pub fn docker_empty(dir: &Path) -> PathBuf {
    let docker = dir.join("docker-empty");
    std::fs::create_dir_all(&docker).unwrap();
    docker
}

/// `signet ARGS` in `dir` with a key password, offline, an empty docker
/// config, none of the caller's CI, AWS or PKCS#11 settings (plus `envs`).
pub fn signet_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let docker = docker_empty(dir);
    let mut cmd = Command::new(signet_bin());
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    // Whatever CI the tests run in must not leak into --generate.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k == "CI" || k.starts_with("GITHUB_") || k.starts_with("GITLAB_") || k.starts_with("CI_")
        {
            cmd.env_remove(k);
        }
    }
    // Nor the caller's keys into `--key awskms://…` or `pkcs11:…`.
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_KMS",
        "SIGNET_PKCS11_PIN",
        "SIGNET_PKCS11_MODULE",
        "COSIGN_PKCS11_PIN",
        "COSIGN_PKCS11_MODULE_PATH",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("COSIGN_PASSWORD", "test password")
        .env("SIGNET_OFFLINE", "1")
        .env("DOCKER_CONFIG", &docker);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// [`signet_env`] with no extra environment.
pub fn sig(dir: &Path, args: &[&str]) -> Output {
    signet_env(dir, args, &[])
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout then stderr.
pub fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// stdout as JSON; a panic showing both streams if it is not.
pub fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// The checks every signature or attestation of `doc` (one image's JSON
/// verdict) was rejected with.
pub fn rejected_checks(doc: &Value) -> Vec<String> {
    doc["rejected"]
        .as_array()
        .unwrap_or_else(|| panic!("no rejected list: {doc}"))
        .iter()
        .map(|r| r["check"].as_str().unwrap().to_string())
        .collect()
}

/// The library's client, anonymous, for inspecting and tampering.
pub fn client() -> Registry {
    Registry::new(RegistryOptions {
        credentials: CredentialSource::None,
        ..RegistryOptions::default()
    })
    .unwrap()
}

/// `signet generate-key-pair`: k.key and k.pub in `dir`.
pub fn setup_key(dir: &Path) {
    ok(&sig(
        dir,
        &["generate-key-pair", "--output-key-prefix", "k"],
    ));
}

/// `signet sign IMAGE --key k.key` against a stack's root and signing
/// config.
pub fn sign_with_key(dir: &Path, image: &str, root: &str, signing: &str) -> Output {
    sig(
        dir,
        &[
            "sign",
            image,
            "--key",
            "k.key",
            "--trusted-root",
            root,
            "--signing-config",
            signing,
        ],
    )
}

/// `signet ARGS… --identity-token TOKEN --trust-config TRUST --yes`:
/// keyless signing or attesting against a stack.
pub fn keyless(dir: &Path, args: &[&str], token: &str, trust: &str) -> Output {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--identity-token", token, "--trust-config", trust, "--yes"]);
    sig(dir, &all)
}

/// `signet VERB IMAGE` (`verify` or `verify-attestation`) for the keyless
/// `identity` from `issuer` under `root`, with `extra` flags and JSON
/// output.
pub fn verify_keyless(
    dir: &Path,
    verb: &str,
    image: &str,
    root: &str,
    (identity, issuer): (&str, &str),
    extra: &[&str],
) -> Output {
    let mut args = vec![
        verb,
        image,
        "--trusted-root",
        root,
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--output", "json"]);
    sig(dir, &args)
}

/// For the test `name`: `None` (skip it) without the peers; else its
/// fresh directory (`workdir("NAME-PID")`), a private stack (`signet up`)
/// in it and a registry that wants `auth` (user, password) if given.
pub fn stack_with(name: &str, auth: Option<(&str, &str)>) -> Option<(PathBuf, Up, TestRegistry)> {
    peers()?;
    let dir = workdir(&format!("{name}-{}", std::process::id()));
    let up = Up::start(&dir.join("stack"));
    let reg = TestRegistry::start(&dir.join("registry"), auth);
    Some((dir, up, reg))
}

/// [`stack_with`] an anonymous registry.
pub fn stack(name: &str) -> Option<(PathBuf, Up, TestRegistry)> {
    stack_with(name, None)
}

/// `(dir, up, registry, root, signing)`: see [`keyed_stack`].
pub type KeyedStack = (PathBuf, Up, TestRegistry, String, String);

/// [`stack`] plus a key pair (k.key, k.pub) in the directory and the
/// stack's trusted root and signing config paths.
pub fn keyed_stack(name: &str) -> Option<KeyedStack> {
    keyed_stack_with(name, None)
}

/// [`keyed_stack`] with a registry that wants `auth` (user, password).
pub fn keyed_stack_with(name: &str, auth: Option<(&str, &str)>) -> Option<KeyedStack> {
    let (dir, up, reg) = stack_with(name, auth)?;
    setup_key(&dir);
    let root = path(&up.trusted_root).to_string();
    let signing = path(&up.signing_config).to_string();
    Some((dir, up, reg, root, signing))
}

/// A CA and a server certificate for localhost and 127.0.0.1 signed by
/// it, written to `DIR/NAMES`: (CA PEM, server PEM, server key).
pub fn test_certs(dir: &Path, names: [&str; 3]) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "signet test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    let [ca_name, cert_name, key_name] = names;
    let paths = (dir.join(ca_name), dir.join(cert_name), dir.join(key_name));
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}
