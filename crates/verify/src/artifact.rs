//! The thing that was signed: its bytes, or only its digest.

use signet_crypto::HashAlgorithm;

use crate::error::{fail, Check, VerifyError};

#[derive(Debug, Clone)]
pub enum Artifact<'a> {
    Bytes(&'a [u8]),
    /// A digest given instead of the artifact (`sha256:<hex>` on the CLI).
    Digest {
        algorithm: HashAlgorithm,
        digest: Vec<u8>,
    },
}

impl<'a> Artifact<'a> {
    /// Parses `sha256:<hex>` (also `sha384:`, `sha512:`).
    pub fn parse_digest(text: &str) -> Option<Artifact<'static>> {
        let (alg, hex_digest) = text.split_once(':')?;
        let algorithm = match alg {
            "sha256" => HashAlgorithm::Sha256,
            "sha384" => HashAlgorithm::Sha384,
            "sha512" => HashAlgorithm::Sha512,
            _ => return None,
        };
        let digest = hex::decode(hex_digest).ok()?;
        (digest.len() == algorithm.output_len()).then_some(Artifact::Digest { algorithm, digest })
    }

    /// The artifact's digest under `algorithm`; fails when only a digest
    /// under another algorithm is known.
    pub fn digest(&self, algorithm: HashAlgorithm) -> Result<Vec<u8>, VerifyError> {
        match self {
            Artifact::Bytes(bytes) => Ok(algorithm.digest(bytes)),
            Artifact::Digest {
                algorithm: have,
                digest,
            } if *have == algorithm => Ok(digest.clone()),
            Artifact::Digest { algorithm: have, .. } => fail(
                Check::ArtifactDigest,
                format!("the signature covers a {algorithm:?} digest, but only a {have:?} digest of the artifact was given"),
            ),
        }
    }
}
