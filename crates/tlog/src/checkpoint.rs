//! C2SP transparency log checkpoints (<https://c2sp.org/tlog-checkpoint>):
//! the text of a signed note that names a log, a tree size and a root hash.
//!
//! ```text
//! <origin>\n
//! <tree size, decimal, no leading zeros>\n
//! <root hash, base64>\n
//! [<extension line>\n ...]
//! ```
//!
//! Parsing does not verify anything: a checkpoint means nothing until the
//! note carrying it has been verified with the log's key
//! ([`crate::NoteVerifier`]).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::merkle::Hash;
use crate::note::{Note, MAX_NOTE_BYTES};

/// Why a checkpoint text is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint text is {size} bytes, more than the {max} allowed")]
    TooLarge { size: usize, max: usize },
    #[error("checkpoint text contains a control character other than newline")]
    ControlCharacter,
    #[error("checkpoint text does not end with a newline")]
    MissingTrailingNewline,
    #[error("checkpoint has no origin line")]
    MissingOrigin,
    #[error("checkpoint has no tree size line")]
    MissingSize,
    #[error("checkpoint has no root hash line")]
    MissingRootHash,
    #[error("invalid tree size {0:?}: expected a decimal u64 without sign or leading zeros")]
    BadSize(String),
    #[error("invalid root hash {0:?}: expected canonical base64 of 32 bytes")]
    BadRootHash(String),
    /// Extension line `line` (1-based, counting from the first extension) is empty.
    #[error("extension line {line} is empty")]
    EmptyExtensionLine { line: usize },
    /// An origin or extension given to [`Checkpoint::new`] contains a newline.
    #[error("origin or extension line contains a newline")]
    EmbeddedNewline,
}

/// A log's tree head as stated by a checkpoint.
///
/// Invariants: `origin` and every extension are non-empty and contain no
/// newline or other ASCII control character, so
/// `Checkpoint::from_text(&c.to_text()) == Ok(c)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root_hash: Hash,
    extensions: Vec<String>,
}

fn parse_size(line: &str) -> Option<u64> {
    let canonical = line == "0"
        || (!line.is_empty() && !line.starts_with('0') && line.bytes().all(|b| b.is_ascii_digit()));
    if canonical {
        line.parse().ok()
    } else {
        None
    }
}

fn parse_root(line: &str) -> Option<Hash> {
    STANDARD.decode(line).ok()?.try_into().ok()
}

fn check_line(line: &str) -> Result<(), CheckpointError> {
    if line.bytes().any(|b| b == b'\n') {
        return Err(CheckpointError::EmbeddedNewline);
    }
    if line.bytes().any(|b| b < 0x20) {
        return Err(CheckpointError::ControlCharacter);
    }
    Ok(())
}

impl Checkpoint {
    /// Builds a checkpoint, checking the invariants.
    pub fn new(
        origin: impl Into<String>,
        size: u64,
        root_hash: Hash,
        extensions: Vec<String>,
    ) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        if origin.is_empty() {
            return Err(CheckpointError::MissingOrigin);
        }
        check_line(&origin)?;
        for (i, ext) in extensions.iter().enumerate() {
            if ext.is_empty() {
                return Err(CheckpointError::EmptyExtensionLine { line: i + 1 });
            }
            check_line(ext)?;
        }
        Ok(Checkpoint {
            origin,
            size,
            root_hash,
            extensions,
        })
    }

    /// Parses the text of a checkpoint note.
    ///
    /// Lines are positional. When there are fewer than three lines the error
    /// names the line that appears to be missing (judged by which of the
    /// remaining lines look like a size or a root hash); this only affects
    /// which error is returned, never whether one is.
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(CheckpointError::TooLarge {
                size: text.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        if text.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(CheckpointError::ControlCharacter);
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingTrailingNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        match lines.as_slice() {
            [origin, size, root, extensions @ ..] => {
                if origin.is_empty() {
                    return Err(CheckpointError::MissingOrigin);
                }
                if size.is_empty() {
                    return Err(CheckpointError::MissingSize);
                }
                let size =
                    parse_size(size).ok_or_else(|| CheckpointError::BadSize(size.to_string()))?;
                if root.is_empty() {
                    return Err(CheckpointError::MissingRootHash);
                }
                let root_hash = parse_root(root)
                    .ok_or_else(|| CheckpointError::BadRootHash(root.to_string()))?;
                let mut exts = Vec::with_capacity(extensions.len());
                for (i, ext) in extensions.iter().enumerate() {
                    if ext.is_empty() {
                        return Err(CheckpointError::EmptyExtensionLine { line: i + 1 });
                    }
                    exts.push((*ext).to_owned());
                }
                Ok(Checkpoint {
                    origin: (*origin).to_owned(),
                    size,
                    root_hash,
                    extensions: exts,
                })
            }
            short => Err(diagnose_short(short)),
        }
    }

    /// Parses the text of a (not yet verified) note.
    pub fn from_note(note: &Note) -> Result<Self, CheckpointError> {
        Self::from_text(note.text())
    }

    /// The checkpoint text, to be signed or compared byte for byte.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root_hash)
        );
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root hash of the tree.
    pub fn root_hash(&self) -> &Hash {
        &self.root_hash
    }

    /// The extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

/// Picks the most plausible "missing line" error for a text of fewer than
/// three lines.
fn diagnose_short(lines: &[&str]) -> CheckpointError {
    let is_size = |s: &&str| parse_size(s).is_some();
    let is_root = |s: &&str| parse_root(s).is_some();
    match lines {
        [] | [""] => CheckpointError::MissingOrigin,
        [first, ..] if is_size(first) || is_root(first) => CheckpointError::MissingOrigin,
        [_] => CheckpointError::MissingSize,
        [_, second] if is_root(second) => CheckpointError::MissingSize,
        _ => CheckpointError::MissingRootHash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn parses_spec_example() {
        let c = Checkpoint::from_text(SPEC).unwrap();
        assert_eq!(c.origin(), "example.com/behind-the-sofa");
        assert_eq!(c.size(), 20852163);
        assert_eq!(c.root_hash()[0], 0x0a);
        assert!(c.extensions().is_empty());
        assert_eq!(c.to_text(), SPEC);
    }

    #[test]
    fn extensions_round_trip() {
        let t = format!("{SPEC}Timestamp: 1689177396617352539\nother ext\n");
        let c = Checkpoint::from_text(&t).unwrap();
        assert_eq!(
            c.extensions(),
            ["Timestamp: 1689177396617352539", "other ext"]
        );
        assert_eq!(c.to_text(), t);
    }

    #[test]
    fn size_rules() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let with = |size: &str| Checkpoint::from_text(&format!("o\n{size}\n{root}\n"));
        assert_eq!(with("0").unwrap().size(), 0);
        assert_eq!(with("18446744073709551615").unwrap().size(), u64::MAX);
        for bad in [
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "18446744073709551616",
            "1e3",
            "0x10",
            "١",
        ] {
            assert_eq!(
                with(bad),
                Err(CheckpointError::BadSize(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(with(""), Err(CheckpointError::MissingSize));
    }

    #[test]
    fn root_rules() {
        let with = |root: &str| Checkpoint::from_text(&format!("o\n1\n{root}\n"));
        for bad in [
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I", // unpadded
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=", // non-canonical bits
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==", // 31 bytes
            "CsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=", // URL alphabet
        ] {
            assert_eq!(
                with(bad),
                Err(CheckpointError::BadRootHash(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(with(""), Err(CheckpointError::MissingRootHash));
    }

    #[test]
    fn structural_errors() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases = [
            (String::new(), CheckpointError::MissingTrailingNewline),
            ("\n".to_string(), CheckpointError::MissingOrigin),
            (format!("\n1\n{root}\n"), CheckpointError::MissingOrigin),
            (format!("1\n{root}\n"), CheckpointError::MissingOrigin),
            (format!("o\n{root}\n"), CheckpointError::MissingSize),
            ("o\n".to_string(), CheckpointError::MissingSize),
            ("o\n1\n".to_string(), CheckpointError::MissingRootHash),
            (
                format!("o\n1\n{root}"),
                CheckpointError::MissingTrailingNewline,
            ),
            (
                format!("o\n1\n{root}\n\n"),
                CheckpointError::EmptyExtensionLine { line: 1 },
            ),
            (
                format!("o\n1\n{root}\nx\n\ny\n"),
                CheckpointError::EmptyExtensionLine { line: 2 },
            ),
            (
                format!("o\r\n1\n{root}\n"),
                CheckpointError::ControlCharacter,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Checkpoint::from_text(&text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn new_checks_invariants() {
        let r = [7u8; 32];
        assert_eq!(
            Checkpoint::new("", 1, r, vec![]),
            Err(CheckpointError::MissingOrigin)
        );
        assert_eq!(
            Checkpoint::new("a\nb", 1, r, vec![]),
            Err(CheckpointError::EmbeddedNewline)
        );
        assert_eq!(
            Checkpoint::new("a", 1, r, vec![String::new()]),
            Err(CheckpointError::EmptyExtensionLine { line: 1 })
        );
        let c = Checkpoint::new("a b", 0, r, vec!["x".into()]).unwrap();
        assert_eq!(Checkpoint::from_text(&c.to_text()), Ok(c));
    }
}
