//! C2SP signed notes (<https://c2sp.org/signed-note>): parsing and
//! byte-exact serialization. Signature verification lives in
//! [`crate::verifier`].
//!
//! ```text
//! <text, one or more lines, each ending in \n>
//! <blank line>
//! — <key name> <base64(4-byte key hint || signature)>\n   (one or more)
//! ```
//!
//! Parsing is strict, so that [`Note::serialize`] reproduces the input
//! exactly: the base64 must be canonical standard base64 with padding, there
//! is exactly one space after the em dash and one between name and base64.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Largest note [`Note::parse`] accepts, in bytes. The spec asks verifiers to
/// accept at least 16 signatures of up to ~5 kB (post-quantum) each.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// Most signature lines [`Note::parse`] accepts (the spec's floor is 16).
pub const MAX_SIGNATURES: usize = 100;

const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note is malformed, or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error("note contains a control character other than newline at byte {offset}")]
    ControlCharacter { offset: usize },
    #[error("note text is empty")]
    EmptyText,
    #[error("note does not end with a newline")]
    MissingTrailingNewline,
    #[error("note has no blank line between text and signatures")]
    MissingSeparator,
    #[error("note has no signature lines")]
    NoSignatures,
    #[error("note has more than {max} signatures")]
    TooManySignatures { max: usize },
    /// Signature line `line` (1-based, among signature lines) is malformed.
    #[error("signature line {line}: {reason}")]
    MalformedSignatureLine { line: usize, reason: &'static str },
    #[error("invalid key name {0:?}: must be non-empty, without spaces or '+'")]
    InvalidKeyName(String),
    #[error("signature must be non-empty")]
    EmptySignature,
    /// No signature line carries the verifier's key name and key hint.
    #[error("no signature from key {name:?} with hint {key_hint:02x?}")]
    NoMatchingSignature { name: String, key_hint: [u8; 4] },
    /// A signature line from the verifier's key did not verify.
    #[error("signature from key {name:?} does not verify")]
    BadSignature { name: String },
    /// The key cannot be used for this kind of note signature.
    #[error("unsupported key for note signatures: {0}")]
    UnsupportedKey(&'static str),
    /// A cosignature is not `8-byte timestamp || 64-byte Ed25519 signature`,
    /// or its timestamp exceeds 2^63 - 1.
    #[error("malformed cosignature: {0}")]
    MalformedCosignature(&'static str),
}

/// One signature line of a note.
///
/// Invariant: `name` is a valid key name (see [`is_valid_key_name`]) and
/// `signature` is non-empty, so the line re-parses to the same value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_hint: [u8; 4],
    signature: Vec<u8>,
}

impl NoteSignature {
    /// Builds a signature line, checking the key name and that the signature
    /// is non-empty.
    pub fn new(
        name: impl Into<String>,
        key_hint: [u8; 4],
        signature: Vec<u8>,
    ) -> Result<Self, NoteError> {
        let name = name.into();
        if !is_valid_key_name(&name) {
            return Err(NoteError::InvalidKeyName(name));
        }
        if signature.is_empty() {
            return Err(NoteError::EmptySignature);
        }
        Ok(NoteSignature {
            name,
            key_hint,
            signature,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key ID ("key hint") that prefixes the signature.
    pub fn key_hint(&self) -> [u8; 4] {
        self.key_hint
    }

    /// The signature bytes, without the key hint.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Parses one line (without its newline). `line_no` is for errors only.
    fn parse_line(line: &str, line_no: usize) -> Result<Self, NoteError> {
        let bad = |reason| NoteError::MalformedSignatureLine {
            line: line_no,
            reason,
        };
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(bad("does not start with an em dash and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(bad("no space between key name and signature"))?;
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName(name.to_owned()));
        }
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| bad("signature is not canonical standard base64"))?;
        if raw.len() < 5 {
            return Err(bad("signature is shorter than a key hint plus one byte"));
        }
        let (hint, sig) = raw.split_at(4);
        let mut key_hint = [0u8; 4];
        key_hint.copy_from_slice(hint);
        Ok(NoteSignature {
            name: name.to_owned(),
            key_hint,
            signature: sig.to_vec(),
        })
    }

    fn write_line(&self, out: &mut String) {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_hint);
        raw.extend_from_slice(&self.signature);
        out.push_str(SIG_PREFIX);
        out.push_str(&self.name);
        out.push(' ');
        out.push_str(&STANDARD.encode(raw));
        out.push('\n');
    }
}

/// A key name per the spec: non-empty, no Unicode white space, no `+`,
/// and, as for the whole note, no ASCII control character.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < '\u{20}')
}

/// A signed note.
///
/// Invariants: `text` is non-empty, ends with `\n`, and has no control
/// characters other than `\n`; `signatures` has between 1 and
/// [`MAX_SIGNATURES`] entries. Hence [`Note::serialize`] output re-parses to
/// an equal note (provided it fits [`MAX_NOTE_BYTES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

fn check_controls(s: &str) -> Result<(), NoteError> {
    match s.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter { offset }),
        None => Ok(()),
    }
}

impl Note {
    /// Builds a note from a text and its signatures, checking the invariants.
    pub fn new(text: impl Into<String>, signatures: Vec<NoteSignature>) -> Result<Self, NoteError> {
        let text = text.into();
        if text.is_empty() {
            return Err(NoteError::EmptyText);
        }
        if !text.ends_with('\n') {
            return Err(NoteError::MissingTrailingNewline);
        }
        check_controls(&text)?;
        if signatures.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        Ok(Note { text, signatures })
    }

    /// Parses a signed note.
    ///
    /// The text is everything up to and including the newline before the
    /// *last* blank line; every line after it must be a signature line.
    pub fn parse(input: &str) -> Result<Self, NoteError> {
        if input.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                size: input.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        check_controls(input)?;
        if !input.ends_with('\n') {
            return Err(NoteError::MissingTrailingNewline);
        }
        let sep = input.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
        let (text, sig_block) = (&input[..sep + 1], &input[sep + 2..]);
        if sig_block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let mut signatures = Vec::new();
        // sig_block ends with '\n' (input does and the separator is before it),
        // so the final split piece is empty and every other piece is a line.
        let mut lines = sig_block.split('\n');
        let last = lines.next_back();
        debug_assert_eq!(last, Some(""));
        for (i, line) in lines.enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            signatures.push(NoteSignature::parse_line(line, i + 1)?);
        }
        Note::new(text, signatures)
    }

    /// The signed text, ending with `\n`: the exact bytes signatures cover.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The note in wire form; `Note::parse(&n.serialize()) == Ok(n)`.
    pub fn serialize(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 128 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for sig in &self.signatures {
            sig.write_line(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";

    #[test]
    fn parses_spec_example() {
        let n = Note::parse(SPEC_EXAMPLE).unwrap();
        assert_eq!(
            n.text(),
            "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
        );
        assert_eq!(n.signatures().len(), 1);
        let s = &n.signatures()[0];
        assert_eq!(s.name(), "quasimodo.example/salvatore");
        assert_eq!(s.key_hint(), [0x36, 0x7b, 0xa0, 0x4b]);
        assert_eq!(s.signature().len(), 64);
        assert_eq!(n.serialize(), SPEC_EXAMPLE);
    }

    #[test]
    fn rejects_malformed() {
        let ok = "a\n\n— k AAAAAAA=\n";
        Note::parse(ok).unwrap();
        let cases: &[(&str, NoteError)] = &[
            ("a\n\n— k AAAAAAA=", NoteError::MissingTrailingNewline),
            ("a\n— k AAAAAAA=\n", NoteError::MissingSeparator),
            ("a\n\n", NoteError::NoSignatures),
            ("\n\n", NoteError::NoSignatures),
            (
                "a\r\n\n— k AAAAAAA=\n",
                NoteError::ControlCharacter { offset: 1 },
            ),
            (
                "a\t\n\n— k AAAAAAA=\n",
                NoteError::ControlCharacter { offset: 1 },
            ),
            (
                "a\n\n- k AAAAAAA=\n",
                NoteError::MalformedSignatureLine {
                    line: 1,
                    reason: "does not start with an em dash and a space",
                },
            ),
            (
                "a\n\n—  k AAAAAAA=\n",
                NoteError::InvalidKeyName(String::new()),
            ),
            (
                "a\n\n— k+1 AAAAAAA=\n",
                NoteError::InvalidKeyName("k+1".into()),
            ),
            (
                "a\n\n— k\u{a0}1 AAAAAAA=\n",
                NoteError::InvalidKeyName("k\u{a0}1".into()),
            ),
            (
                "a\n\n— k AAAAAA==\n",
                NoteError::MalformedSignatureLine {
                    line: 1,
                    reason: "signature is shorter than a key hint plus one byte",
                },
            ),
            (
                "a\n\n— k AAAAAAA\n",
                NoteError::MalformedSignatureLine {
                    line: 1,
                    reason: "signature is not canonical standard base64",
                },
            ),
            (
                "a\n\n— k AAAAAAB=\n",
                NoteError::MalformedSignatureLine {
                    line: 1,
                    reason: "signature is not canonical standard base64",
                },
            ),
            (
                "a\n\n— k AAAAAAA= \n",
                NoteError::MalformedSignatureLine {
                    line: 1,
                    reason: "signature is not canonical standard base64",
                },
            ),
            (
                "a\n\n— k AAAAAAA=\n— k\n",
                NoteError::MalformedSignatureLine {
                    line: 2,
                    reason: "no space between key name and signature",
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Note::parse(input).as_ref(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn last_blank_line_separates() {
        // The text may itself contain blank lines; a trailing blank line in the
        // text is kept.
        let n = Note::parse("a\n\nb\n\n\n— k AAAAAAA=\n").unwrap();
        assert_eq!(n.text(), "a\n\nb\n\n");
        assert_eq!(n.serialize(), "a\n\nb\n\n\n— k AAAAAAA=\n");
        // A blank line among the signatures makes the earlier ones text.
        let n = Note::parse("a\n\n— k AAAAAAA=\n\n— k AAAAAAA=\n").unwrap();
        assert_eq!(n.text(), "a\n\n— k AAAAAAA=\n");
    }

    #[test]
    fn signature_count_is_bounded() {
        let line = "— k AAAAAAA=\n";
        let ok = format!("a\n\n{}", line.repeat(MAX_SIGNATURES));
        assert_eq!(Note::parse(&ok).unwrap().signatures().len(), MAX_SIGNATURES);
        let too_many = format!("a\n\n{}", line.repeat(MAX_SIGNATURES + 1));
        assert_eq!(
            Note::parse(&too_many),
            Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES
            })
        );
        let huge = format!("{}\n\n{line}", "a".repeat(MAX_NOTE_BYTES));
        assert!(matches!(
            Note::parse(&huge),
            Err(NoteError::TooLarge { .. })
        ));
    }

    #[test]
    fn constructors_check_invariants() {
        let sig = NoteSignature::new("k", [1, 2, 3, 4], vec![5]).unwrap();
        assert_eq!(
            NoteSignature::new("a b", [0; 4], vec![1]),
            Err(NoteError::InvalidKeyName("a b".into()))
        );
        assert_eq!(
            NoteSignature::new("k", [0; 4], vec![]),
            Err(NoteError::EmptySignature)
        );
        assert_eq!(Note::new("", vec![sig.clone()]), Err(NoteError::EmptyText));
        assert_eq!(
            Note::new("x", vec![sig.clone()]),
            Err(NoteError::MissingTrailingNewline)
        );
        assert_eq!(Note::new("x\n", vec![]), Err(NoteError::NoSignatures));
        let n = Note::new("x\n", vec![sig]).unwrap();
        assert_eq!(Note::parse(&n.serialize()).unwrap(), n);
    }
}
