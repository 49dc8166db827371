//! What `--key` names: a cosign key file, a key in a PKCS#11 token, or a
//! key in a cloud KMS. Parsing only; opening a file key needs its
//! password, which is the caller's business.

use std::path::PathBuf;

use crate::kms::{AwsKmsSigner, AwsKmsUri};
use crate::pkcs11::{Pkcs11Signer, Pkcs11Uri};
use crate::{SignError, Signer};

/// The key forms signet signs with, for messages.
pub const SUPPORTED: &str = "cosign key files, pkcs11:, awskms://";

/// KMS schemes cosign knows that signet does not implement yet.
const NOT_YET: &[&str] = &["gcpkms", "hashivault", "azurekms"];

/// A parsed `--key` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A cosign private key file (`ENCRYPTED SIGSTORE PRIVATE KEY`).
    File(PathBuf),
    /// `pkcs11:token=…;object=…`.
    Pkcs11(Pkcs11Uri),
    /// `awskms://[HOST:PORT]/KEY`.
    AwsKms(AwsKmsUri),
}

/// The scheme of `scheme://…` (RFC 3986 scheme characters), if any.
fn url_scheme(spec: &str) -> Option<&str> {
    let (scheme, _) = spec.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .then_some(scheme)
}

impl KeyRef {
    /// Parses a `--key` value. A `gcpkms://`, `hashivault://` or
    /// `azurekms://` key (or any other `scheme://`) is an error saying so,
    /// never read as a file name.
    pub fn parse(spec: &str) -> Result<KeyRef, SignError> {
        if spec.is_empty() {
            return Err(SignError::KeyAccess("--key is empty".into()));
        }
        if Pkcs11Uri::is_pkcs11(spec) {
            return Pkcs11Uri::parse(spec)
                .map(KeyRef::Pkcs11)
                .map_err(|e| SignError::KeyAccess(e.to_string()));
        }
        if AwsKmsUri::is_awskms(spec) {
            return AwsKmsUri::parse(spec).map(KeyRef::AwsKms);
        }
        if let Some(scheme) = url_scheme(spec) {
            let lower = scheme.to_ascii_lowercase();
            let message = if NOT_YET.contains(&lower.as_str()) {
                format!("{lower}:// keys are not supported yet (supported: {SUPPORTED})")
            } else {
                format!("{scheme}:// is not a key form signet knows (supported: {SUPPORTED})")
            };
            return Err(SignError::KeyAccess(message));
        }
        Ok(KeyRef::File(PathBuf::from(spec)))
    }

    /// Opens a token or KMS key; `None` for a file (which needs a
    /// password: see [`crate::keys::load_private_key`]).
    pub fn open_remote(&self) -> Option<Result<Box<dyn Signer>, SignError>> {
        match self {
            KeyRef::File(_) => None,
            KeyRef::Pkcs11(uri) => {
                Some(Pkcs11Signer::open(uri).map(|s| Box::new(s) as Box<dyn Signer>))
            }
            KeyRef::AwsKms(uri) => {
                Some(AwsKmsSigner::open(uri).map(|s| Box::new(s) as Box<dyn Signer>))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_forms() {
        assert_eq!(
            KeyRef::parse("cosign.key").unwrap(),
            KeyRef::File("cosign.key".into())
        );
        assert_eq!(
            KeyRef::parse("./keys/a:b.key").unwrap(),
            KeyRef::File("./keys/a:b.key".into())
        );
        assert!(matches!(
            KeyRef::parse("pkcs11:token=t;object=k").unwrap(),
            KeyRef::Pkcs11(_)
        ));
        assert!(matches!(
            KeyRef::parse("awskms:///alias/x").unwrap(),
            KeyRef::AwsKms(_)
        ));
        for (spec, scheme) in [
            (
                "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
                "gcpkms",
            ),
            ("hashivault://transit-key", "hashivault"),
            ("azurekms://vault.vault.azure.net/key", "azurekms"),
        ] {
            let e = KeyRef::parse(spec).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "{scheme}:// keys are not supported yet (supported: cosign key files, pkcs11:, awskms://)"
                )
            );
        }
        let e = KeyRef::parse("k8s://ns/secret").unwrap_err().to_string();
        assert!(e.contains("k8s://") && e.contains("supported"), "{e}");
        assert!(KeyRef::parse("pkcs11:token=t").is_err());
        assert!(KeyRef::parse("").is_err());
    }
}
