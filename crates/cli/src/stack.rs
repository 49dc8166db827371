//! The orchestration behind `signet up`: a transparency log, a keyless CA,
//! a DEV ONLY OIDC issuer and, with `--tsa`, an RFC 3161 timestamp
//! authority in one process, with their state under one
//! data directory, and the client files that trust them.
//!
//! Layout of the data directory:
//!
//! | path | what |
//! |---|---|
//! | `log/` | the log's database and signing key |
//! | `ca/` | the CA chain and keys, the CT key |
//! | `tsa/` | the TSA key, root key and chain (with `--tsa`) |
//! | `stack.json` | the ports of the last run, reused on restart so that URLs (and the log's checkpoint origin) stay the same |
//! | `trusted_root.json`, `signing_config.json`, `trust_config.json` | the client files |
//!
//! The OIDC issuer's key is new on every start (its tokens live minutes).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use signet_ca::ca::CertificateAuthority;
use signet_ca::config::{CaConfig, IssuerConfig, IssuerType};
use signet_ca::dev_oidc::{DevAlg, DevIssuer};
use signet_ca::keys::KeyPaths;
use signet_ca::oidc::OidcOptions;
use signet_ca::server::CaServer;
use signet_ca::trust::TrustPieces;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::stack_trust::{self, StackUrls};

/// Lifetime of the dev issuer's tokens unless a request asks otherwise.
pub const TOKEN_LIFETIME_SECS: u64 = 600;
const PORTS_FILE: &str = "stack.json";
pub const TRUSTED_ROOT_FILE: &str = "trusted_root.json";
pub const SIGNING_CONFIG_FILE: &str = "signing_config.json";
pub const TRUST_CONFIG_FILE: &str = "trust_config.json";

/// What to start. A port of `None` reuses the last run's port (from
/// `stack.json`), or takes an ephemeral one; `Some(0)` always takes an
/// ephemeral one.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub data_dir: PathBuf,
    pub host: IpAddr,
    pub log_port: Option<u16>,
    pub ca_port: Option<u16>,
    pub oidc_port: Option<u16>,
    /// Also run a timestamp authority (and name it in the client files).
    pub tsa: bool,
    pub tsa_port: Option<u16>,
}

/// Why the stack could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("the dev OIDC issuer mints tokens for anyone: refusing to serve it on non-loopback address {0}")]
    NotLoopback(IpAddr),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{service} port {port} (from the last run, in {file}) is busy: {source}; pass --{service}-port 0 \
         for a new port (bundles signed before then name the old log URL)"
    )]
    PortBusy {
        service: &'static str,
        port: u16,
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    State { path: String, why: String },
    #[error("log: {0}")]
    Log(#[from] signet_log::ServeError),
    #[error("CA keys: {0}")]
    CaKeys(#[from] signet_ca::keys::KeyError),
    #[error("CA: {0}")]
    Ca(#[from] signet_ca::CaError),
    #[error("CT key: {0}")]
    Ct(#[from] signet_ca::ct::CtError),
    #[error("CA configuration: {0}")]
    CaConfig(#[from] signet_ca::config::ConfigError),
    #[error("CA OIDC: {0}")]
    Oidc(#[from] signet_ca::oidc::OidcError),
    #[error("dev OIDC issuer: {0}")]
    DevOidc(#[from] signet_ca::dev_oidc::DevOidcError),
    #[error("TSA: {0}")]
    Tsa(#[from] signet_tsa::server::ServeError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StackError {
    let what = what.into();
    move |source| StackError::Io { what, source }
}

/// The ports of the last run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ports {
    log_port: u16,
    ca_port: u16,
    oidc_port: u16,
    /// 0 when the last run had no TSA (or predates it).
    #[serde(default)]
    tsa_port: u16,
}

fn read_ports(path: &Path) -> Result<Option<Ports>, StackError> {
    match std::fs::read(path) {
        Ok(bytes) => signet_model::from_json_slice(&bytes)
            .map(Some)
            .map_err(|e| StackError::State {
                path: path.display().to_string(),
                why: format!("not a ports file ({e}); delete it to start afresh"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("reading {}", path.display()))(e)),
    }
}

/// The client files written.
#[derive(Debug, Clone)]
pub struct StackFiles {
    pub trusted_root: PathBuf,
    pub signing_config: PathBuf,
    pub trust_config: PathBuf,
}

/// A running stack; [`RunningStack::stop`] shuts it down.
pub struct RunningStack {
    pub urls: StackUrls,
    pub files: StackFiles,
    pub data_dir: PathBuf,
    log: signet_log::RunningLog,
    shutdown: watch::Sender<bool>,
    servers: Vec<(&'static str, JoinHandle<std::io::Result<()>>)>,
}

impl std::fmt::Debug for RunningStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningStack")
            .field("urls", &self.urls)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// Binds `host:port`; a port remembered from the last run that is busy is
/// a clear error rather than a silent change of URL.
async fn bind(
    service: &'static str,
    host: IpAddr,
    asked: Option<u16>,
    saved: Option<u16>,
    ports_file: &Path,
) -> Result<TcpListener, StackError> {
    let port = asked.or(saved).unwrap_or(0);
    TcpListener::bind(SocketAddr::new(host, port))
        .await
        .map_err(|source| match (asked, saved) {
            (None, Some(port)) if port != 0 => StackError::PortBusy {
                service,
                port,
                file: ports_file.display().to_string(),
                source,
            },
            _ => StackError::Io {
                what: format!("binding the {service} to {host}:{port}"),
                source,
            },
        })
}

fn url_of(listener: &TcpListener, what: &str) -> Result<(String, u16), StackError> {
    let addr = listener
        .local_addr()
        .map_err(io(format!("address of the {what}")))?;
    Ok((format!("http://{addr}"), addr.port()))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that
/// a reader never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StackError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("writing {}", path.display())))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Starts the log, the CA and the dev OIDC issuer, and writes the client
/// files.
pub async fn start(opts: &StackOptions) -> Result<RunningStack, StackError> {
    if !opts.host.is_loopback() {
        return Err(StackError::NotLoopback(opts.host));
    }
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(io(format!("creating {}", opts.data_dir.display())))?;
    let data_dir = std::fs::canonicalize(&opts.data_dir)
        .map_err(io(format!("resolving {}", opts.data_dir.display())))?;
    let ports_file = data_dir.join(PORTS_FILE);
    let saved = read_ports(&ports_file)?;

    let log_listener = bind(
        "log",
        opts.host,
        opts.log_port,
        saved.map(|p| p.log_port),
        &ports_file,
    )
    .await?;
    let ca_listener = bind(
        "ca",
        opts.host,
        opts.ca_port,
        saved.map(|p| p.ca_port),
        &ports_file,
    )
    .await?;
    let oidc_listener = bind(
        "oidc",
        opts.host,
        opts.oidc_port,
        saved.map(|p| p.oidc_port),
        &ports_file,
    )
    .await?;
    let tsa_listener = if opts.tsa {
        let saved = saved.map(|p| p.tsa_port).filter(|p| *p != 0);
        Some(bind("tsa", opts.host, opts.tsa_port, saved, &ports_file).await?)
    } else {
        None
    };
    let (log_url, log_port) = url_of(&log_listener, "log")?;
    let (ca_url, ca_port) = url_of(&ca_listener, "CA")?;
    let (oidc_url, oidc_port) = url_of(&oidc_listener, "OIDC issuer")?;
    let (tsa_url, tsa_port) = match &tsa_listener {
        Some(l) => {
            let (url, port) = url_of(l, "TSA")?;
            (Some(url), port)
        }
        None => (None, saved.map_or(0, |p| p.tsa_port)),
    };
    let urls = StackUrls {
        log: log_url,
        ca: ca_url,
        oidc: oidc_url,
        tsa: tsa_url,
    };
    let ports = Ports {
        log_port,
        ca_port,
        oidc_port,
        tsa_port,
    };
    let ports_json = serde_json::to_vec_pretty(&ports)
        .map_err(|e| io("encoding the ports")(std::io::Error::other(e)))?;
    write_atomically(&ports_file, &ports_json)?;

    // The CA and its trust pieces.
    let now = unix_now();
    let material = signet_ca::keys::load_or_create(&KeyPaths::in_dir(&ca_dir(&data_dir)?), now)?;
    let ct = signet_ca::ct::CtLogSigner::new(material.ct_signer)?;
    let ca = CertificateAuthority::new(material.signer, material.chain, ct)?;
    let pieces = TrustPieces::for_ca(&ca, &urls.ca, &format!("{}/ct", urls.ca));
    let mut ca_config = CaConfig::default();
    ca_config
        .oidc_issuers
        .push(IssuerConfig::new(urls.oidc.clone(), IssuerType::Email));
    ca_config.validate()?;
    let ca_state = Arc::new(CaServer::new(ca, ca_config, OidcOptions::default())?);
    let issuer = Arc::new(DevIssuer::generate(
        &urls.oidc,
        DevAlg::Es256,
        TOKEN_LIFETIME_SECS,
    )?);

    // The TSA and its trusted-root entry.
    let tsa = match (&urls.tsa, tsa_listener) {
        (Some(url), Some(listener)) => {
            let keys = signet_tsa::server::KeySource::DataDir(data_dir.join("tsa"));
            let authority =
                signet_tsa::server::load_authority(&keys, signet_tsa::DEFAULT_POLICY_OID)?;
            let entry = signet_tsa::trust::trust_root_entry(authority.chain(), url)
                .map_err(signet_tsa::server::ServeError::from)?;
            Some((listener, Arc::new(authority), entry))
        }
        _ => None,
    };
    let tsa_entries: Vec<_> = tsa.iter().map(|(_, _, e)| e.clone()).collect();

    // The log.
    let log_dir = data_dir.join("log");
    std::fs::create_dir_all(&log_dir).map_err(io(format!("creating {}", log_dir.display())))?;
    let log_config = signet_log::Config::new(&log_dir, urls.log.clone());
    let log = signet_log::start(&log_config, log_listener).await?;
    let tlog = match log_config.trust_instance() {
        Ok(t) => t,
        Err(e) => {
            let _ = log.stop().await;
            return Err(e.into());
        }
    };

    let (shutdown, rx) = watch::channel(false);
    let until = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.changed().await;
    };
    let mut servers = vec![
        (
            "CA",
            tokio::spawn(signet_ca::server::serve(
                ca_listener,
                ca_state,
                until(rx.clone()),
            )),
        ),
        (
            "OIDC issuer",
            tokio::spawn(signet_ca::dev_oidc::serve(
                oidc_listener,
                issuer,
                until(rx.clone()),
            )),
        ),
    ];
    if let Some((listener, authority, _)) = tsa {
        servers.push((
            "TSA",
            tokio::spawn(signet_tsa::server::serve(listener, authority, until(rx))),
        ));
    }

    let files = StackFiles {
        trusted_root: data_dir.join(TRUSTED_ROOT_FILE),
        signing_config: data_dir.join(SIGNING_CONFIG_FILE),
        trust_config: data_dir.join(TRUST_CONFIG_FILE),
    };
    let running = RunningStack {
        urls,
        files,
        data_dir,
        log,
        shutdown,
        servers,
    };
    if let Err(e) = running.write_files(&tlog, &pieces, &tsa_entries) {
        let _ = running.stop().await;
        return Err(e);
    }
    Ok(running)
}

fn ca_dir(data_dir: &Path) -> Result<PathBuf, StackError> {
    let dir = data_dir.join("ca");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

impl RunningStack {
    fn write_files(
        &self,
        tlog: &signet_model::trust_root::TransparencyLogInstance,
        pieces: &TrustPieces,
        tsas: &[signet_model::trust_root::CertificateAuthority],
    ) -> Result<(), StackError> {
        let root = stack_trust::trusted_root(tlog.clone(), pieces, tsas);
        // Services are usable from when the oldest key became valid.
        let valid_from = root
            .tlogs
            .iter()
            .chain(&root.ctlogs)
            .filter_map(|t| t.public_key.valid_for.as_ref()?.start.as_ref())
            .map(|t| t.unix)
            .min()
            .unwrap_or_else(|| unix_now() - 3600);
        let config = stack_trust::signing_config(&self.urls, valid_from);
        let both = stack_trust::client_trust_config(&root, &config);
        write_atomically(&self.files.trusted_root, &pretty(&root)?)?;
        write_atomically(&self.files.signing_config, &pretty(&config)?)?;
        write_atomically(&self.files.trust_config, &pretty(&both)?)?;
        Ok(())
    }

    /// Stops the servers (in-flight requests finish) and waits for the
    /// log's last batch to be committed.
    pub async fn stop(self) -> Result<(), StackError> {
        let RunningStack {
            log,
            shutdown,
            servers,
            ..
        } = self;
        let _ = shutdown.send(true);
        let mut first_error = None;
        for (name, server) in servers {
            let result = server.await.map_err(std::io::Error::other).and_then(|r| r);
            if let Err(e) = result {
                first_error.get_or_insert(StackError::Io {
                    what: format!("stopping the {name}"),
                    source: e,
                });
            }
        }
        if let Err(e) = log.stop().await {
            first_error.get_or_insert(StackError::Io {
                what: "stopping the log".into(),
                source: e,
            });
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Pretty JSON with a final newline.
fn pretty<T: Serialize>(value: &T) -> Result<Vec<u8>, StackError> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| io("encoding JSON")(std::io::Error::other(e)))?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_model::{ClientTrustConfig, TrustedRoot};

    fn options(dir: &Path) -> StackOptions {
        StackOptions {
            data_dir: dir.to_path_buf(),
            host: IpAddr::from([127, 0, 0, 1]),
            log_port: None,
            ca_port: None,
            oidc_port: None,
            tsa: false,
            tsa_port: None,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_busy_remembered_port_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let ports = Ports {
            log_port: port,
            ca_port: 0,
            oidc_port: 0,
            tsa_port: 0,
        };
        std::fs::write(
            dir.path().join(PORTS_FILE),
            serde_json::to_vec(&ports).unwrap(),
        )
        .unwrap();
        let err = runtime().block_on(start(&options(dir.path()))).unwrap_err();
        assert!(
            matches!(err, StackError::PortBusy { service: "log", port: p, .. } if p == port),
            "{err}"
        );
        assert!(err.to_string().contains("--log-port 0"), "{err}");
    }

    #[test]
    fn a_garbled_ports_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PORTS_FILE), b"{not json").unwrap();
        let err = runtime().block_on(start(&options(dir.path()))).unwrap_err();
        assert!(matches!(err, StackError::State { .. }), "{err}");
    }

    #[test]
    fn non_loopback_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(&dir.path().join("stack"));
        opts.host = IpAddr::from([0, 0, 0, 0]);
        let err = runtime().block_on(start(&opts)).unwrap_err();
        assert!(matches!(err, StackError::NotLoopback(_)), "{err}");
        assert!(!dir.path().join("stack").exists());
    }

    #[test]
    fn starts_writes_the_client_files_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime();
        let running = rt.block_on(start(&options(dir.path()))).unwrap();
        let root =
            TrustedRoot::from_json(&std::fs::read(&running.files.trusted_root).unwrap()).unwrap();
        assert_eq!(root.tlogs[0].base_url, running.urls.log);
        assert_eq!(root.certificate_authorities.len(), 1);
        assert_eq!(root.ctlogs.len(), 1);
        let both =
            ClientTrustConfig::from_json(&std::fs::read(&running.files.trust_config).unwrap())
                .unwrap();
        assert_eq!(both.trusted_root, root);
        assert_eq!(both.signing_config.ca_urls[0].url, running.urls.ca);
        assert_eq!(both.signing_config.oidc_urls[0].url, running.urls.oidc);
        assert!(root.timestamp_authorities.is_empty());
        assert!(both.signing_config.tsa_urls.is_empty());
        rt.block_on(running.stop()).unwrap();
    }

    /// Timestamps `signature` at the signing config's TSA.
    fn timestamp(config: &signet_model::SigningConfig, signature: &[u8]) -> Vec<u8> {
        let request = signet_sign::tsa::build_request(signature, &[7; 8]).unwrap();
        let resp = reqwest::blocking::Client::new()
            .post(&config.tsa_urls[0].url)
            .header("Content-Type", "application/timestamp-query")
            .body(request.der)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let body = resp.bytes().unwrap().to_vec();
        signet_sign::tsa::check_response(&body, signature, &request.nonce).unwrap();
        body
    }

    #[test]
    fn with_tsa_its_timestamps_verify_under_the_written_root_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path());
        opts.tsa = true;
        let rt = runtime();
        let running = rt.block_on(start(&opts)).unwrap();
        let tsa_url = running.urls.tsa.clone().unwrap();
        let read = |running: &RunningStack| {
            ClientTrustConfig::from_json(&std::fs::read(&running.files.trust_config).unwrap())
                .unwrap()
        };
        let both = read(&running);
        assert_eq!(both.trusted_root.timestamp_authorities.len(), 1);
        assert_eq!(
            both.trusted_root.timestamp_authorities[0]
                .operator
                .as_deref(),
            Some(stack_trust::OPERATOR)
        );
        assert_eq!(
            both.signing_config.tsa_urls[0].url,
            format!("{tsa_url}/api/v1/timestamp")
        );
        let trust = signet_verify::TrustMaterial::from_trusted_root(&both.trusted_root).unwrap();
        let response = timestamp(&both.signing_config, b"sig");
        signet_pki::timestamp::verify_timestamp(&response, b"sig", &trust.tsas).unwrap();
        assert!(signet_pki::timestamp::verify_timestamp(&response, b"other", &trust.tsas).is_err());
        rt.block_on(running.stop()).unwrap();

        // A restart keeps the TSA's port and chain.
        let again = rt.block_on(start(&opts)).unwrap();
        assert_eq!(again.urls.tsa.as_deref(), Some(tsa_url.as_str()));
        let both_again = read(&again);
        assert_eq!(
            both_again.trusted_root.timestamp_authorities,
            both.trusted_root.timestamp_authorities
        );
        let response = timestamp(&both_again.signing_config, b"sig");
        signet_pki::timestamp::verify_timestamp(&response, b"sig", &trust.tsas).unwrap();
        rt.block_on(again.stop()).unwrap();
    }
}
