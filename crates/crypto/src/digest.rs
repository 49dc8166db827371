use aws_lc_rs::digest;

/// The hash functions Sigstore material names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    pub(crate) fn aws(self) -> &'static digest::Algorithm {
        match self {
            HashAlgorithm::Sha256 => &digest::SHA256,
            HashAlgorithm::Sha384 => &digest::SHA384,
            HashAlgorithm::Sha512 => &digest::SHA512,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        self.aws().output_len()
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.aws(), data).as_ref().to_vec()
    }

    /// The protobuf-specs `HashAlgorithm` name (`SHA2_256`, …).
    pub fn proto_name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "SHA2_256",
            HashAlgorithm::Sha384 => "SHA2_384",
            HashAlgorithm::Sha512 => "SHA2_512",
        }
    }

    /// The algorithm of a protobuf-specs `HashAlgorithm` name.
    pub fn from_proto_name(name: &str) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|h| h.proto_name() == name)
    }

    /// The algorithm of a Rekor v1 name (`sha256`, …; lowercase only).
    pub fn from_rekor_name(name: &str) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|h| h.rekor_name() == name)
    }

    /// The lowercase name Rekor v1 bodies and search keys use (`sha256`, …).
    pub fn rekor_name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

pub fn sha384(data: &[u8]) -> [u8; 48] {
    let mut out = [0u8; 48];
    out.copy_from_slice(digest::digest(&digest::SHA384, data).as_ref());
    out
}

/// SHA-1, only for identifiers that formats define with it (RFC 5280 key
/// identifiers, an RFC 2634 ESSCertID naming its certificate); never for a
/// signature or for anything trust rests on.
pub fn sha1_for_identifiers(data: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref());
    out
}

pub fn sha512(data: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out.copy_from_slice(digest::digest(&digest::SHA512, data).as_ref());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha1_for_identifiers_is_sha1() {
        // FIPS 180 example "abc".
        assert_eq!(
            super::sha1_for_identifiers(b"abc"),
            [
                0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
            ]
        );
    }
}
