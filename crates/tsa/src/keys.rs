//! The authority's key and chain: from PEM files, or generated once into a
//! data directory (a P-256 signing key, a self-signed P-256 root, and a TSA
//! certificate with a critical timeStamping-only extendedKeyUsage and
//! keyUsage digitalSignature). Private keys are written with mode 0600.

use std::path::{Path, PathBuf};

use const_oid::db::rfc5280::{ID_CE_EXT_KEY_USAGE, ID_KP_TIME_STAMPING};
use der::{Decode, Encode};
use signet_ca::certgen::{self, CaCertSpec, CertBuildError};
use signet_ca::signer::{pkcs8_pem, CaSigner, Curve, SignerError};
use signet_ca::FileSigner;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::{Certificate, TbsCertificate};

/// Certificates are valid from this long before creation.
pub const BACKDATE_SECS: i64 = 5 * 60;
/// …for this long (10 years).
pub const VALIDITY_SECS: i64 = 10 * 365 * 24 * 60 * 60;
const ROOT_NAME: &str = "CN=signet-tsa-root,O=signet";
const LEAF_NAME: &str = "CN=signet-tsa,O=signet";

/// Why the key material could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Key { path: PathBuf, source: SignerError },
    #[error("{path}: not a PEM certificate chain: {why}")]
    Chain { path: PathBuf, why: String },
    #[error("only one of {0} and {1} exists; remove it or supply both")]
    Partial(PathBuf, PathBuf),
    #[error("building a certificate: {0}")]
    Build(#[from] CertBuildError),
    #[error("generating a key: {0}")]
    Generate(SignerError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The files of a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPaths {
    pub root_key: PathBuf,
    pub key: PathBuf,
    pub chain: PathBuf,
}

impl KeyPaths {
    pub fn in_dir(dir: &Path) -> KeyPaths {
        KeyPaths {
            root_key: dir.join("tsa-root.key"),
            key: dir.join("tsa.key"),
            chain: dir.join("tsa-chain.pem"),
        }
    }
}

/// A loaded signing key and its chain (signing certificate first).
#[derive(Debug)]
pub struct TsaMaterial {
    pub signer: FileSigner,
    pub chain: Vec<Certificate>,
    /// True when the key and chain were created just now.
    pub generated: bool,
}

/// PEM text of certificates (LF line ends).
pub fn pem_chain(chain: &[Certificate]) -> Result<String, der::Error> {
    let mut out = String::new();
    for cert in chain {
        out.push_str(&signet_ca::ca::pem_lf("CERTIFICATE", &cert.to_der()?));
    }
    Ok(out)
}

/// Loads a PKCS#8 PEM key and a PEM chain (leaf first).
pub fn load(key: &Path, chain: &Path) -> Result<TsaMaterial, KeyError> {
    let text = std::fs::read_to_string(key).map_err(io_err(key))?;
    let signer = FileSigner::from_pkcs8_pem(&text).map_err(|source| KeyError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    let text = std::fs::read_to_string(chain).map_err(io_err(chain))?;
    let chain_err = |why: String| KeyError::Chain {
        path: chain.to_path_buf(),
        why,
    };
    // signet-pki's parser (x509-cert's load_pem_chain panics on some
    // inputs, e.g. an empty file).
    let certs: Vec<Certificate> = signet_pki::cert::Certificate::from_pem_chain(&text)
        .map_err(|e| chain_err(e.to_string()))?
        .iter()
        .map(|c| c.x509().clone())
        .collect();
    if certs.is_empty() {
        return Err(chain_err("no certificates".into()));
    }
    Ok(TsaMaterial {
        signer,
        chain: certs,
        generated: false,
    })
}

/// A TSA leaf for `subject_spki`, issued by `issuer`.
fn leaf_certificate(
    subject_spki: &[u8],
    issuer: &dyn CaSigner,
    not_before: i64,
    not_after: i64,
) -> Result<Vec<u8>, CertBuildError> {
    let exts = vec![
        certgen::key_usage_ext(KeyUsage(KeyUsages::DigitalSignature.into()))?,
        certgen::extension(
            ID_CE_EXT_KEY_USAGE,
            true,
            ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING]).to_der()?,
        )?,
        certgen::basic_constraints_ext(false, None)?,
        certgen::ski_ext(subject_spki)?,
        certgen::aki_ext(issuer.public_key().spki_der())?,
    ];
    let tbs = TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: certgen::random_serial()?,
        signature: issuer.algorithm().algorithm_identifier(),
        issuer: certgen::name(ROOT_NAME)?,
        validity: certgen::validity(not_before, not_after)?,
        subject: certgen::name(LEAF_NAME)?,
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(subject_spki)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    };
    certgen::sign_certificate(tbs, issuer)
}

/// A new root and TSA certificate, with their keys' PKCS#8 DER.
pub struct Generated {
    pub root_pkcs8: Vec<u8>,
    pub signer: FileSigner,
    pub signer_pkcs8: Vec<u8>,
    /// TSA certificate first, root last.
    pub chain: Vec<Certificate>,
}

/// Generates a P-256 root and a P-256 TSA key and certificate, valid from
/// `now - BACKDATE_SECS` for [`VALIDITY_SECS`].
pub fn generate(now: i64) -> Result<Generated, KeyError> {
    let (root, root_pkcs8) = FileSigner::generate(Curve::P256).map_err(KeyError::Generate)?;
    let (signer, signer_pkcs8) = FileSigner::generate(Curve::P256).map_err(KeyError::Generate)?;
    let (nb, na) = (now - BACKDATE_SECS, now + VALIDITY_SECS);
    let root_der = certgen::ca_certificate(
        &CaCertSpec {
            subject: ROOT_NAME,
            subject_spki: root.public_key().spki_der(),
            not_before: nb,
            not_after: na,
            path_len: Some(0),
            code_signing_eku: false,
        },
        ROOT_NAME,
        &root,
    )?;
    let leaf_der = leaf_certificate(signer.public_key().spki_der(), &root, nb, na)?;
    let parse = |der: &[u8]| {
        Certificate::from_der(der).map_err(|e| KeyError::Chain {
            path: PathBuf::from("(generated)"),
            why: e.to_string(),
        })
    };
    Ok(Generated {
        root_pkcs8,
        signer,
        signer_pkcs8,
        chain: vec![parse(&leaf_der)?, parse(&root_der)?],
    })
}

/// Loads the key and chain from `paths`, or creates both (and the root
/// key) when neither exists.
pub fn load_or_create(paths: &KeyPaths, now: i64) -> Result<TsaMaterial, KeyError> {
    match (paths.key.exists(), paths.chain.exists()) {
        (true, true) => load(&paths.key, &paths.chain),
        (false, false) => {
            let new = generate(now)?;
            let wp = |path: &Path, der: &[u8]| {
                signet_ca::keys::write_private(path, pkcs8_pem(der).as_bytes()).map_err(|e| {
                    KeyError::Io {
                        path: path.to_path_buf(),
                        source: std::io::Error::other(e.to_string()),
                    }
                })
            };
            wp(&paths.root_key, &new.root_pkcs8)?;
            wp(&paths.key, &new.signer_pkcs8)?;
            let pem = pem_chain(&new.chain).map_err(|e| KeyError::Chain {
                path: paths.chain.clone(),
                why: e.to_string(),
            })?;
            std::fs::write(&paths.chain, pem).map_err(io_err(&paths.chain))?;
            Ok(TsaMaterial {
                signer: new.signer,
                chain: new.chain,
                generated: true,
            })
        }
        (true, false) => Err(KeyError::Partial(paths.key.clone(), paths.chain.clone())),
        (false, true) => Err(KeyError::Partial(paths.chain.clone(), paths.key.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_loads_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = KeyPaths::in_dir(dir.path());
        let first = load_or_create(&paths, 1_700_000_000).unwrap();
        assert!(first.generated);
        assert_eq!(first.chain.len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [&paths.key, &paths.root_key] {
                let mode = std::fs::metadata(p).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", p.display());
            }
        }
        let again = load_or_create(&paths, 1_700_000_100).unwrap();
        assert!(!again.generated);
        assert_eq!(again.chain, first.chain);
        std::fs::remove_file(&paths.chain).unwrap();
        assert!(matches!(
            load_or_create(&paths, 1_700_000_100),
            Err(KeyError::Partial(..))
        ));
    }
}
