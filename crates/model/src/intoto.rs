//! in-toto Statement v1 (in-toto/attestation).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// Older statements still seen in the wild; accepted on read.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    pub predicate_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Algorithm name (`sha256`, …) to lowercase hex.
    pub digest: BTreeMap<String, String>,
}

impl Statement {
    pub fn from_json(bytes: &[u8]) -> Result<Self, crate::ModelError> {
        let s: Statement = crate::from_json_slice(bytes)?;
        if s.type_ != STATEMENT_V1 && s.type_ != STATEMENT_V01 {
            return Err(crate::invalid(
                "in-toto statement",
                format!("unknown _type {:?}", s.type_),
            ));
        }
        Ok(s)
    }

    /// Whether some subject names this digest (`alg` as in-toto spells it,
    /// e.g. `sha256`; hex compared case-insensitively).
    pub fn has_subject_digest(&self, alg: &str, hex_digest: &str) -> bool {
        self.subject.iter().any(|s| {
            s.digest
                .get(alg)
                .is_some_and(|d| d.eq_ignore_ascii_case(hex_digest))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_statement_parses() {
        let raw = std::fs::read(format!(
            "{}/../../testdata/conformance/statement.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let s = Statement::from_json(&raw).unwrap();
        assert_eq!(s.predicate_type, "https://slsa.dev/provenance/v1");
        assert!(s.has_subject_digest(
            "sha256",
            "a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf"
        ));
        assert!(!s.has_subject_digest("sha256", "00"));
        let again: Statement = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn wrong_type_is_rejected() {
        let raw = br#"{"_type":"x","subject":[],"predicateType":"p"}"#;
        assert!(Statement::from_json(raw).is_err());
    }
}
