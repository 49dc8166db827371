//! Test fixtures: a local TUF repository built with tough's editor and
//! signed with keys generated here, and a tiny loopback HTTP server.

#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tough::editor::signed::{PathExists, SignedRole};
use tough::editor::RepositoryEditor;
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::{KeyHolder, RoleKeys, RoleType, Root};
use url::Url;

pub const TRUSTED_ROOT: &[u8] =
    br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[]}"#;
pub const SIGNING_CONFIG: &[u8] =
    br#"{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json"}"#;

/// A generated ECDSA P-256 key, stored as PKCS#8 DER in a file.
pub struct TestKey {
    pub path: PathBuf,
}

impl TestKey {
    pub fn generate(dir: &Path, name: &str) -> Self {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .expect("generate key");
        let path = dir.join(name);
        std::fs::write(&path, doc.as_ref()).expect("write key");
        Self { path }
    }

    fn sources(&self) -> Vec<Box<dyn KeySource>> {
        vec![Box::new(LocalKeySource {
            path: self.path.clone(),
        })]
    }
}

/// How to build a repository.
pub struct RepoSpec<'a> {
    pub key: &'a TestKey,
    pub version: u64,
    pub timestamp_expires: Timestamp,
    pub targets: Vec<(&'static str, &'static [u8])>,
}

impl<'a> RepoSpec<'a> {
    pub fn new(key: &'a TestKey) -> Self {
        Self {
            key,
            version: 1,
            timestamp_expires: in_days(7),
            targets: vec![
                ("trusted_root.json", TRUSTED_ROOT),
                ("signing_config.v0.2.json", SIGNING_CONFIG),
            ],
        }
    }
}

pub fn in_days(days: i64) -> Timestamp {
    Timestamp::now() + SignedDuration::from_hours(24 * days)
}

/// A repository on disk: `<dir>/metadata/` and `<dir>/targets/`.
pub struct LocalRepo {
    pub dir: PathBuf,
    /// The signed `root.json` (version 1) the client bootstraps from.
    pub root_json: Vec<u8>,
}

impl LocalRepo {
    pub fn build(dir: &Path, spec: &RepoSpec<'_>) -> Self {
        rt().block_on(build(dir, spec))
    }

    pub fn metadata_dir(&self) -> PathBuf {
        self.dir.join("metadata")
    }

    pub fn targets_dir(&self) -> PathBuf {
        self.dir.join("targets")
    }

    /// The on-disk file of target `name` (consistent snapshots: `<sha256>.<name>`).
    pub fn target_file(&self, name: &str) -> PathBuf {
        let suffix = format!(".{name}");
        std::fs::read_dir(self.targets_dir())
            .expect("targets dir")
            .map(|e| e.expect("entry").path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(&suffix))
            })
            .expect("target file present")
    }

    pub fn file_urls(&self) -> (Url, Url) {
        (
            Url::from_directory_path(self.metadata_dir()).expect("metadata url"),
            Url::from_directory_path(self.targets_dir()).expect("targets url"),
        )
    }

    pub fn leaked_root(&self) -> &'static [u8] {
        Box::leak(self.root_json.clone().into_boxed_slice())
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// An unsigned root (given version) trusting `key` for every top-level role.
async fn make_root(key: &TestKey, version: u64) -> Root {
    let signer = key.sources()[0].as_sign().await.expect("key source");
    let tuf_key = signer.tuf_key();
    let key_id = tuf_key.key_id().expect("key id");
    let roles = [
        RoleType::Root,
        RoleType::Snapshot,
        RoleType::Targets,
        RoleType::Timestamp,
    ]
    .into_iter()
    .map(|role| {
        (
            role,
            RoleKeys {
                keyids: vec![key_id.clone()],
                threshold: NonZeroU64::MIN,
                _extra: HashMap::new(),
            },
        )
    })
    .collect();
    Root {
        spec_version: "1.0.0".to_owned(),
        consistent_snapshot: true,
        version: NonZeroU64::new(version).expect("version > 0"),
        expires: in_days(365),
        keys: HashMap::from([(key_id, tuf_key)]),
        roles,
        _extra: HashMap::new(),
    }
}

/// Signs `root` with the root keys it lists, plus (for a rotation) the
/// keys of the previous root, as TUF requires of version N+1.
async fn sign_root(root: Root, key: &TestKey, previous: Option<(&Root, &TestKey)>) -> Vec<u8> {
    let rng = SystemRandom::new();
    let mut signed = SignedRole::new(
        root.clone(),
        &KeyHolder::Root(root.clone()),
        &key.sources(),
        &rng,
    )
    .await
    .expect("sign root");
    if let Some((prev_root, prev_key)) = previous {
        let cross = SignedRole::new(
            root,
            &KeyHolder::Root(prev_root.clone()),
            &prev_key.sources(),
            &rng,
        )
        .await
        .expect("cross-sign root");
        signed = signed
            .add_old_signatures(cross.signed().signatures.clone())
            .expect("merge signatures");
    }
    signed.buffer().clone()
}

/// Writes metadata and targets under `dir`, trusting the root at `root_path`.
async fn write_repo(dir: &Path, root_path: &Path, spec: &RepoSpec<'_>) {
    let keys = spec.key.sources();
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("src dir");
    let version = NonZeroU64::new(spec.version).expect("version > 0");
    let mut editor = RepositoryEditor::new(root_path).await.expect("editor");
    editor
        .targets_version(version)
        .expect("targets version")
        .targets_expires(in_days(30))
        .expect("targets expires")
        .snapshot_version(version)
        .snapshot_expires(in_days(30))
        .timestamp_version(version)
        .timestamp_expires(spec.timestamp_expires);
    for (name, bytes) in &spec.targets {
        let p = src.join(name);
        std::fs::write(&p, bytes).expect("write target src");
        editor.add_target_path(&p).await.expect("add target");
    }
    let signed = editor.sign(&keys).await.expect("sign repo");
    let targets = dir.join("targets");
    std::fs::create_dir_all(&targets).expect("targets dir");
    signed
        .write(dir.join("metadata"))
        .await
        .expect("write metadata");
    signed
        .copy_targets(&src, &targets, PathExists::Replace)
        .await
        .expect("copy targets");
}

async fn build(dir: &Path, spec: &RepoSpec<'_>) -> LocalRepo {
    let root = make_root(spec.key, 1).await;
    let root_json = sign_root(root, spec.key, None).await;
    std::fs::create_dir_all(dir).expect("repo dir");
    let root_path = dir.join("root.json");
    std::fs::write(&root_path, &root_json).expect("write root");
    write_repo(dir, &root_path, spec).await;
    LocalRepo {
        dir: dir.to_path_buf(),
        root_json,
    }
}

/// A repository whose root was rotated from `old` (version 1) to
/// `spec.key` (version 2, cross-signed by `old` if `cross_signed`, as TUF
/// requires). All other metadata is signed by the new key only.
/// `root_json` is the version 1 root; `metadata/2.root.json` carries the
/// rotation.
pub fn build_rotated(
    dir: &Path,
    old: &TestKey,
    spec: &RepoSpec<'_>,
    cross_signed: bool,
) -> LocalRepo {
    rt().block_on(async {
        let v1 = make_root(old, 1).await;
        let v1_json = sign_root(v1.clone(), old, None).await;
        let v2 = make_root(spec.key, 2).await;
        let previous = cross_signed.then_some((&v1, old));
        let v2_json = sign_root(v2, spec.key, previous).await;
        std::fs::create_dir_all(dir).expect("repo dir");
        let root_path = dir.join("root.json");
        std::fs::write(&root_path, &v2_json).expect("write root");
        write_repo(dir, &root_path, spec).await;
        LocalRepo {
            dir: dir.to_path_buf(),
            root_json: v1_json,
        }
    })
}

/// A minimal HTTP/1.1 file server on 127.0.0.1 with an ephemeral port.
/// Serves GET requests for files under `root`; everything else is 404.
/// Stops (and joins its thread) on [`Server::stop`] or drop.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    serve(conn, &root);
                }
            }
        });
        Self {
            addr,
            stop,
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}/{path}", self.addr)).expect("server url")
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept.
            let _ = TcpStream::connect(self.addr);
            let _ = handle.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(mut conn: TcpStream, root: &Path) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain headers (bounded).
    for _ in 0..100 {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next(), parts.next());
    let body = match (method, path) {
        (Some("GET"), Some(path)) if !path.contains("..") => {
            std::fs::read(root.join(path.trim_start_matches('/'))).ok()
        }
        _ => None,
    };
    let response = match body {
        Some(body) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = conn.write_all(&response);
    let _ = conn.flush();
}
