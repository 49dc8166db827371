//! Field encodings of the protobuf JSON mapping.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Bytes carried as base64 text.
///
/// Protobuf JSON parsers accept standard and URL-safe alphabets, with or
/// without padding; we accept the same and always write standard, padded.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Base64(pub Vec<u8>);

impl std::fmt::Debug for Base64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Base64({})", STANDARD.encode(&self.0))
    }
}

impl std::ops::Deref for Base64 {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Base64 {
    fn from(v: Vec<u8>) -> Self {
        Base64(v)
    }
}

/// Decodes base64 the way protobuf JSON does in Go (any alphabet, optional
/// padding, CR and LF ignored).
pub fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    if text.contains(['\r', '\n']) {
        let compact: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        return decode_base64(&compact);
    }
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
}

/// Standard, padded base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Lowercase hex. `hex::encode` builds its string one `char` at a time,
/// which was ≈ 3 % of the log's CPU per append (UUIDs, log IDs, proof
/// hashes); this writes the bytes in one pass.
pub fn encode_hex(bytes: impl AsRef<[u8]>) -> String {
    let bytes = bytes.as_ref();
    let mut out = vec![0; bytes.len() * 2];
    write_hex(bytes, &mut out);
    // Only ASCII digits were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes the lowercase hex of `bytes` into `out` (twice as long).
fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// The lowercase hex of a 32-byte hash, held inline: an answer with a
/// Merkle proof writes dozens of them, without a string each.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex32([u8; 64]);

impl Hex32 {
    pub fn new(hash: &[u8; 32]) -> Self {
        let mut out = [0; 64];
        write_hex(hash, &mut out);
        Hex32(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Hex32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Hex32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for Base64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode_base64(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        decode_base64(&text)
            .map(Base64)
            .map_err(|e| de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// A protobuf `int64`/`uint64`: a JSON string of decimal digits (numbers are
/// accepted too). Sigstore's indexes and times are never negative, so the
/// type is unsigned and "-1" is a parse error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Int64(pub u64);

impl Serialize for Int64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(d)
            .map_err(|_| de::Error::custom("expected a non-negative integer"))?
        {
            Raw::Number(n) => Ok(Int64(n)),
            Raw::Text(t) => {
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(de::Error::custom(format!(
                        "expected a non-negative integer, got {t:?}"
                    )));
                }
                t.parse()
                    .map(Int64)
                    .map_err(|e| de::Error::custom(format!("integer {t:?}: {e}")))
            }
        }
    }
}

/// An RFC 3339 timestamp (`google.protobuf.Timestamp` in JSON), kept as
/// written so that documents round-trip byte for byte.
///
/// Invariant: `unix` is the parsed value of `text`, in whole seconds
/// (fractions truncated toward the past).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    pub text: String,
    pub unix: i64,
}

impl Timestamp {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))?;
        Ok(Timestamp {
            text: text.to_string(),
            unix: t.unix_timestamp(),
        })
    }

    pub fn from_unix(unix: i64) -> Result<Self, String> {
        let t = time::OffsetDateTime::from_unix_timestamp(unix).map_err(|e| e.to_string())?;
        let text = t
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string())?;
        Ok(Timestamp { text, unix })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int64_rejects_negative_and_garbage() {
        assert_eq!(serde_json::from_str::<Int64>("\"42\"").unwrap(), Int64(42));
        assert_eq!(serde_json::from_str::<Int64>("42").unwrap(), Int64(42));
        assert!(serde_json::from_str::<Int64>("\"-1\"").is_err());
        assert!(serde_json::from_str::<Int64>("-1").is_err());
        assert!(serde_json::from_str::<Int64>("\"\"").is_err());
        assert!(serde_json::from_str::<Int64>("\"1e3\"").is_err());
        assert!(serde_json::from_str::<Int64>("\"99999999999999999999999\"").is_err());
    }

    #[test]
    fn hex_is_lowercase_and_matches_the_hex_crate() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(encode_hex(&bytes), hex::encode(&bytes));
        assert_eq!(encode_hex([0xABu8, 0x01]), "ab01");
        assert_eq!(encode_hex([]), "");
        let hash: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(Hex32::new(&hash).as_str(), hex::encode(hash));
        assert_eq!(
            serde_json::to_string(&Hex32::new(&hash)).unwrap(),
            format!("\"{}\"", hex::encode(hash))
        );
    }

    #[test]
    fn base64_alphabets() {
        assert_eq!(decode_base64("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_base64("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(serde_json::from_str::<Base64>("\"%%%\"").is_err());
        assert_eq!(decode_base64("+/\r\n8=").unwrap(), vec![0xfb, 0xff]);
        assert!(decode_base64("+/ 8=").is_err());
    }

    #[test]
    fn timestamps() {
        let t = Timestamp::parse("2021-01-12T11:53:27Z").unwrap();
        assert_eq!(t.unix, 1610452407);
        let t = Timestamp::parse("2021-01-12T11:53:27.999Z").unwrap();
        assert_eq!(t.unix, 1610452407);
        assert!(Timestamp::parse("yesterday").is_err());
        assert_eq!(
            Timestamp::from_unix(1610452407).unwrap().text,
            "2021-01-12T11:53:27Z"
        );
    }
}
