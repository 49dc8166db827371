//! A real OCI registry for tests: Debian's `docker-registry` (distribution
//! 2.8) on 127.0.0.1:<free port> with a temp storage dir, optionally
//! behind htpasswd basic auth, and test images written as OCI layouts and
//! pushed with `skopeo copy`. Stopped (by PID) when dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "apt-get update && apt-get install -y docker-registry skopeo apache2-utils";

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The registry peers, or `None` when SIGNET_SKIP_PEERS=1. A missing peer
/// otherwise fails the test with the install command.
pub fn peers() -> Option<()> {
    if std::env::var("SIGNET_SKIP_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("SIGNET_SKIP_PEERS=1: skipping a test that needs docker-registry and skopeo");
        return None;
    }
    for program in ["docker-registry", "skopeo", "htpasswd"] {
        assert!(
            which(program).is_some(),
            "peer missing: `{program}` is not on PATH. Install the peers with `bash scripts/test.sh` \
             (or: {INSTALL}), or set SIGNET_SKIP_PEERS=1 to skip"
        );
    }
    Some(())
}

pub struct TestRegistry {
    child: Option<Child>,
    pub host: String,
    pub dir: PathBuf,
    /// `user:password` when basic auth is on.
    pub creds: Option<(String, String)>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl TestRegistry {
    /// Starts a registry in `dir`; with `auth`, behind basic auth for
    /// `(user, password)`.
    pub fn start(dir: &Path, auth: Option<(&str, &str)>) -> TestRegistry {
        Self::start_with(dir, auth, false)
    }

    /// Starts a registry serving TLS for 127.0.0.1 with a certificate from
    /// a fresh private CA (`ca.pem` in `dir`, made with `openssl`).
    pub fn start_tls(dir: &Path) -> TestRegistry {
        Self::start_with(dir, None, true)
    }

    /// The CA certificate of a TLS registry.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn start_with(dir: &Path, auth: Option<(&str, &str)>, tls: bool) -> TestRegistry {
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.join("storage").display()
        );
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .unwrap();
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: signet-test\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        if tls {
            // A private CA and a leaf for 127.0.0.1 that it signs.
            let openssl = |args: &[&str]| {
                let out = Command::new("openssl")
                    .current_dir(dir)
                    .args(args)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "openssl: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ];
            let mut ca = vec!["req", "-x509"];
            ca.extend_from_slice(&ec);
            ca.extend_from_slice(&[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=signet test CA",
            ]);
            openssl(&ca);
            let mut csr = vec!["req"];
            csr.extend_from_slice(&ec);
            csr.extend_from_slice(&[
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ]);
            openssl(&csr);
            std::fs::write(
                dir.join("leaf.ext"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "cert.pem",
                "-days",
                "1",
                "-extfile",
                "leaf.ext",
            ]);
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            ));
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut registry = TestRegistry {
            child: Some(child),
            host,
            dir: dir.to_path_buf(),
            creds: auth.map(|(u, p)| (u.to_string(), p.to_string())),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(&registry.host).is_ok() {
                break;
            }
            if let Some(status) = registry.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "docker-registry exited with {status}: {}",
                    std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `host/repo:tag`.
    pub fn image(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host)
    }

    /// Pushes a small test image whose single file holds `content` to
    /// `repo:tag`, returning its manifest digest (`sha256:…`) as the
    /// registry reports it (skopeo may rewrite the manifest on the way).
    pub fn push_image(&self, repo: &str, tag: &str, content: &str) -> String {
        let layout = self.dir.join(
            format!(
                "layout-{repo}-{tag}-{}",
                signet_model::encoding::encode_hex(&signet_crypto::sha256(content.as_bytes())[..4])
            )
            .replace('/', "_"),
        );
        write_oci_layout(&layout, tag, content);
        let image = format!("docker://{}", self.image(repo, tag));
        let skopeo = |args: &[&str], creds_flag: &str| {
            let mut cmd = Command::new("skopeo");
            cmd.arg("--insecure-policy").args(args);
            if let Some((u, p)) = &self.creds {
                cmd.arg(creds_flag).arg(format!("{u}:{p}"));
            }
            cmd
        };
        let out = skopeo(&["copy", "--dest-tls-verify=false"], "--dest-creds")
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(&image)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = skopeo(
            &["inspect", "--tls-verify=false", "--format", "{{.Digest}}"],
            "--creds",
        )
        .arg(&image)
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    signet_model::encoding::encode_hex(signet_crypto::sha256(bytes))
}

/// A ustar archive holding one file.
fn tar_with(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put =
        |h: &mut [u8; 512], at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(&mut header, 0, name.as_bytes());
    put(&mut header, 100, b"0000644\0");
    put(&mut header, 108, b"0000000\0");
    put(&mut header, 116, b"0000000\0");
    put(
        &mut header,
        124,
        format!("{:011o}\0", content.len()).as_bytes(),
    );
    put(&mut header, 136, b"00000000000\0");
    put(&mut header, 148, b"        ");
    header[156] = b'0';
    put(&mut header, 257, b"ustar\0");
    put(&mut header, 263, b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Writes an OCI image layout at `dir` with one image tagged `tag`;
/// returns the manifest digest.
pub fn write_oci_layout(dir: &Path, tag: &str, content: &str) -> String {
    let _ = std::fs::remove_dir_all(dir);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let layer = tar_with("hello.txt", content.as_bytes());
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "config": {},
    })
    .to_string();
    let (config_digest, config_size) = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
    })
    .to_string();
    let (manifest_digest, manifest_size) = put(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    })
    .to_string();
    std::fs::write(dir.join("index.json"), index).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest_digest
}
