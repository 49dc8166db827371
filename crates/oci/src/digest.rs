//! Content digests (`sha256:<hex>`), the only algorithm signet writes and
//! the only one it trusts for content addressing.

use std::fmt;

use crate::OciError;

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:<hex>`; other algorithms are refused.
    pub fn parse(text: &str) -> Result<Self, OciError> {
        let hex_part = text
            .strip_prefix("sha256:")
            .ok_or_else(|| OciError::Digest(text.to_string()))?;
        if hex_part.len() != 64
            || !hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(OciError::Digest(text.to_string()));
        }
        Ok(Digest {
            hex: hex_part.to_string(),
        })
    }

    /// The SHA-256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest {
            hex: signet_model::encoding::encode_hex(signet_crypto::sha256(bytes)),
        }
    }

    pub fn from_sha256(raw: [u8; 32]) -> Self {
        Digest {
            hex: signet_model::encoding::encode_hex(raw),
        }
    }

    /// The lowercase hex of the hash.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The raw hash bytes.
    pub fn bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // The hex was validated at construction.
        if let Ok(raw) = hex::decode(&self.hex) {
            out.copy_from_slice(&raw);
        }
        out
    }

    /// `sha256-<hex>`: the digest as a tag, as cosign's `.sig` tags and the
    /// OCI referrers tag schema spell it.
    pub fn tag_form(&self) -> String {
        format!("sha256-{}", self.hex)
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Digest::of(bytes) == *self
    }

    /// Fails unless `bytes` hash to this digest.
    pub fn check(&self, bytes: &[u8], what: &str) -> Result<(), OciError> {
        let actual = Digest::of(bytes);
        if actual == *self {
            Ok(())
        } else {
            Err(OciError::DigestMismatch {
                what: what.to_string(),
                expected: self.to_string(),
                actual: actual.to_string(),
            })
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_forms() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert!(d.tag_form().starts_with("sha256-ba78"));
        assert!(d.matches(b"abc"));
        assert!(d.check(b"abd", "x").is_err());
        for bad in [
            "sha256:abc",
            "sha512:00",
            "ba78",
            &d.to_string().to_uppercase(),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }
}
