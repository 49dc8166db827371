//! The log's signing key: a PKCS#8 PEM file, generated on first start.

use std::io::Write as _;
use std::path::Path;

use signet_model::bundle::LogId;
use signet_model::encoding::Base64;
use signet_model::encoding::Timestamp;
use signet_model::trust_root::{PublicKey as TrustKey, TimeRange, TransparencyLogInstance};
use signet_tlog::{generate_pkcs8, NoteSigner, SignerKind};

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: not a PEM \"PRIVATE KEY\" (PKCS#8) document")]
    NotPkcs8(String),
    #[error("{path}: {source}")]
    Signer {
        path: String,
        source: signet_tlog::SignerError,
    },
}

/// Loads the PKCS#8 PEM key at `path`, or generates one of `kind` there
/// (mode 0600) if the file does not exist.
pub fn load_or_generate(
    path: &Path,
    kind: SignerKind,
    origin: &str,
) -> Result<NoteSigner, KeyError> {
    let shown = path.display().to_string();
    let io = |source| KeyError::Io {
        path: shown.clone(),
        source,
    };
    if !path.exists() {
        let der = generate_pkcs8(kind).map_err(|source| KeyError::Signer {
            path: shown.clone(),
            source,
        })?;
        let pem_text = crate::entry::pem_lf("PRIVATE KEY", &der);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(io)?;
        f.write_all(pem_text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let block = pem::parse(&text).map_err(|_| KeyError::NotPkcs8(shown.clone()))?;
    if block.tag() != "PRIVATE KEY" {
        return Err(KeyError::NotPkcs8(shown));
    }
    NoteSigner::from_pkcs8_der(origin, block.contents()).map_err(|source| KeyError::Signer {
        path: shown,
        source,
    })
}

/// The `tlogs[]` entry of a `trusted_root.json` for this log.
pub fn trust_instance(
    signer: &NoteSigner,
    base_url: &str,
    valid_from: i64,
) -> TransparencyLogInstance {
    TransparencyLogInstance {
        base_url: base_url.trim_end_matches('/').to_string(),
        hash_algorithm: Some("SHA2_256".into()),
        public_key: TrustKey {
            raw_bytes: Some(Base64(signer.public_key().spki_der().to_vec())),
            key_details: signer.public_key().key_details().map(str::to_string),
            valid_for: Some(TimeRange {
                start: Timestamp::from_unix(valid_from).ok(),
                end: None,
            }),
        },
        log_id: LogId {
            key_id: Base64(signer.log_id().to_vec()),
        },
        checkpoint_key_id: None,
        operator: None,
    }
}
