//! Starts `signet up` as a child process on ephemeral loopback ports,
//! waits for its `--ready-file`, and stops it (SIGTERM to its PID, then a
//! kill) when dropped. Also the peers' locations and small helpers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const EMAIL: &str = "alice@example.com";

pub fn signet_bin() -> &'static str {
    env!("CARGO_BIN_EXE_signet")
}

/// A fresh directory under the target dir for one test.
pub fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Up {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub log_url: String,
    pub ca_url: String,
    pub oidc_url: String,
    pub trusted_root: PathBuf,
    pub signing_config: PathBuf,
    pub trust_config: PathBuf,
    pub stdout_log: PathBuf,
}

impl Up {
    /// `signet up --data-dir DIR` with every port ephemeral.
    pub fn start(data_dir: &Path) -> Up {
        Self::start_with(
            data_dir,
            &["--log-port", "0", "--ca-port", "0", "--oidc-port", "0"],
        )
    }

    /// `signet up --data-dir DIR EXTRA…`.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Up {
        std::fs::create_dir_all(data_dir).unwrap();
        let ready = data_dir.with_extension("ready.json");
        let _ = std::fs::remove_file(&ready);
        let stdout_log = data_dir.with_extension("stdout.log");
        let stderr_log = data_dir.with_extension("stderr.log");
        let child = Command::new(signet_bin())
            .arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--ready-file")
            .arg(&ready)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_log).unwrap())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .unwrap();
        let mut up = Up {
            child: Some(child),
            data_dir: data_dir.to_path_buf(),
            log_url: String::new(),
            ca_url: String::new(),
            oidc_url: String::new(),
            trusted_root: PathBuf::new(),
            signing_config: PathBuf::new(),
            trust_config: PathBuf::new(),
            stdout_log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let doc: serde_json::Value = loop {
            if let Ok(bytes) = std::fs::read(&ready) {
                break serde_json::from_slice(&bytes).unwrap();
            }
            if let Some(status) = up.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "signet up exited with {status}: {}",
                    std::fs::read_to_string(&stderr_log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "signet up did not get ready");
            std::thread::sleep(Duration::from_millis(50));
        };
        let s = |k: &str| doc[k].as_str().unwrap().to_string();
        up.log_url = s("logUrl");
        up.ca_url = s("caUrl");
        up.oidc_url = s("oidcUrl");
        up.trusted_root = s("trustedRoot").into();
        up.signing_config = s("signingConfig").into();
        up.trust_config = s("trustConfig").into();
        up
    }

    /// A token for `email` from the stack's dev issuer, via `signet dev token`.
    pub fn token(&self, email: &str) -> String {
        let out = Command::new(signet_bin())
            .args(["dev", "token", "--issuer", &self.oidc_url, "--email", email])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// `signet verify-blob FILE --bundle BUNDLE` in `dir` under the
    /// stack's trusted root, for the keyless `identity` from its issuer
    /// (plus `extra` flags).
    pub fn verify_blob(
        &self,
        dir: &Path,
        files: (&str, &str),
        identity: &str,
        extra: &[&str],
    ) -> Output {
        self.verify_blob_under(path(&self.trusted_root), dir, files, identity, extra)
    }

    /// [`Up::verify_blob`] against another trusted root.
    pub fn verify_blob_under(
        &self,
        trusted_root: &str,
        dir: &Path,
        (file, bundle): (&str, &str),
        identity: &str,
        extra: &[&str],
    ) -> Output {
        let mut args = vec![
            "verify-blob",
            file,
            "--bundle",
            bundle,
            "--trusted-root",
            trusted_root,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &self.oidc_url,
        ];
        args.extend_from_slice(extra);
        signet(dir, &args)
    }

    /// Stops the stack with SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        terminate(&mut child);
        let status = wait_for(&mut child, Duration::from_secs(20)).expect("signet up did not stop");
        assert!(status.success(), "signet up exited with {status}");
    }
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

fn wait_for(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
            if wait_for(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Runs `program args` in `dir` with `envs`, returning its output.
pub fn run(
    dir: &Path,
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `signet ARGS` in `dir`, offline, with a key password set.
pub fn signet(dir: &Path, args: &[&str]) -> Output {
    run(
        dir,
        signet_bin(),
        args,
        &[
            ("COSIGN_PASSWORD", "test password"),
            ("SIGNET_OFFLINE", "1"),
        ],
    )
}

#[track_caller]
pub fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[track_caller]
pub fn fails(output: &Output) {
    assert!(
        !output.status.success(),
        "expected a failure\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Where a peer is, from `env` (exported by scripts/test.sh), else at
/// `default` under the workspace's target/peers if it exists. `None` only
/// when SIGNET_SKIP_PEERS=1; a missing peer otherwise fails the test with
/// the install command.
pub fn peer(env: &str, default: &str, install: &str) -> Option<PathBuf> {
    if std::env::var("SIGNET_SKIP_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("SIGNET_SKIP_PEERS=1: skipping a test that needs {env}");
        return None;
    }
    let candidate = match std::env::var_os(env) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/peers")
            .join(default),
    };
    assert!(
        candidate.exists(),
        "peer missing: {env} is unset or names nothing ({}). Install the peers with \
         `bash scripts/test.sh` (or: {install}), or set SIGNET_SKIP_PEERS=1 to skip",
        candidate.display()
    );
    Some(candidate)
}

/// sigstore-python's `sigstore` executable.
pub fn sigstore_python() -> Option<PathBuf> {
    peer(
        "SIGNET_PEER_SIGSTORE_PYTHON",
        "venv/bin/sigstore",
        "python3 -m venv target/peers/venv && target/peers/venv/bin/pip install sigstore==4.5.1",
    )
}

/// The directory whose node_modules holds @sigstore/verify and @sigstore/cli
/// (and `node` on PATH to run them).
pub fn node_dir() -> Option<PathBuf> {
    let dir = peer(
        "SIGNET_PEER_NODE_DIR",
        "node",
        "npm install --prefix target/peers/node @sigstore/verify@3.1.1 @sigstore/cli@0.8.1",
    )?;
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "peer missing: `node` (Node.js 20+) is not on PATH; install it (apt-get install nodejs npm), \
         or set SIGNET_SKIP_PEERS=1 to skip"
    );
    Some(dir)
}
