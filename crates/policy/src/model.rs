//! The policy file as written: `apiVersion: signet.dev/v1`, `kind:
//! ImagePolicy`. Every struct refuses unknown fields, so a misspelt key
//! is an error rather than a silently weaker policy. The compiled form
//! (patterns, matchers, keys, Rego) is in [`crate::policy`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const API_VERSION: &str = "signet.dev/v1";
pub const KIND: &str = "ImagePolicy";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: SpecDoc,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What a failed check does: deny the image, or only report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Warn,
}

/// What an image that no rule names gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    #[default]
    Deny,
    Allow,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecDoc {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub default: DefaultAction,
    #[serde(default)]
    pub rules: Vec<RuleDoc>,
    #[serde(default)]
    pub exemptions: Vec<ExemptionDoc>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleDoc {
    pub name: String,
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u64>,
    pub authorities: Vec<AuthorityDoc>,
    #[serde(default)]
    pub attestations: Vec<AttestationDoc>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthorityDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyless: Option<KeylessDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyDoc>,
    /// RFC 3339; signatures whose verified signing time is earlier do not
    /// count for this authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// RFC 3339; signatures whose verified signing time is this or later
    /// do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeylessDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_reg_exp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_reg_exp: Option<String>,
    /// Fulcio CI claims that must equal these values.
    #[serde(
        default,
        deserialize_with = "unique_claims",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub claims: BTreeMap<String, String>,
    /// Fulcio CI claims that must match these regular expressions.
    #[serde(
        default,
        deserialize_with = "unique_claims",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub claims_reg_exp: BTreeMap<String, String>,
}

/// A claim map in which a claim named twice is an error: YAML would keep
/// the last value silently, and a reviewer reading the first would be
/// wrong about what the policy requires (struct fields are refused twice
/// by serde already).
fn unique_claims<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Claims;
    impl<'de> serde::de::Visitor<'de> for Claims {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of claim names to strings")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((name, value)) = map.next_entry::<String, String>()? {
                if out.contains_key(&name) {
                    return Err(serde::de::Error::custom(format!(
                        "claim {name:?} is given twice"
                    )));
                }
                out.insert(name, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Claims)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyDoc {
    /// A PEM public key file, relative to the policy file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A PEM public key, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    /// A KMS key reference (`awskms://…`, `gcpkms://…`, …). Verification
    /// is offline: the reference names the key, `path` or `pem` must give
    /// its public half.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<String>,
    /// A PKCS#11 URI; as `kms`, it needs the public half beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttestationDoc {
    pub name: String,
    pub predicate_type: String,
    /// Which of the rule's authorities may sign it; absent = any of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorities: Option<Vec<String>>,
    /// A Rego condition over the statement; absent = a verified
    /// attestation of the type is enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<RegoDoc>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegoDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rego: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExemptionDoc {
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}
