//! The CA's configuration file: which OIDC issuers it trusts, and how each
//! issuer's tokens map to certificate identities. YAML or JSON:
//!
//! ```yaml
//! oidc_issuers:
//!   - issuer_url: https://token.actions.githubusercontent.com
//!     type: github-workflow
//!   - issuer_url: http://127.0.0.1:5556
//!     type: email
//!     client_id: sigstore      # the required `aud` (default "sigstore")
//!   - issuer_url: https://spire.example.org
//!     type: spiffe
//!     spiffe_trust_domain: example.org
//!   - issuer_url: https://auth.example.com
//!     type: uri
//!     subject_domain: https://example.com
//! ```
//!
//! Fulcio's field names (`IssuerURL`, `ClientID`, `Type`, `SPIFFETrustDomain`,
//! `SubjectDomain`) are accepted as aliases.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// Most issuers one configuration may list.
pub const MAX_ISSUERS: usize = 64;
/// The audience Sigstore clients request tokens for.
pub const DEFAULT_AUDIENCE: &str = "sigstore";

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge,
    #[error("malformed configuration: {0}")]
    Malformed(String),
    #[error("issuer {issuer}: {why}")]
    Issuer { issuer: String, why: String },
}

/// How an issuer's tokens become identities (Fulcio's issuer types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssuerType {
    /// SAN = the verified `email` claim; proof of possession signs the email.
    Email,
    /// GitHub Actions: SAN = `https://github.com/<job_workflow_ref>`.
    GithubWorkflow,
    /// GitLab CI: SAN = `https://<ci_config_ref_uri>`.
    GitlabPipeline,
    /// SPIFFE: SAN = `sub`, a SPIFFE ID in the configured trust domain.
    Spiffe,
    /// Kubernetes service account: SAN =
    /// `https://kubernetes.io/namespaces/<ns>/serviceaccounts/<sa>`.
    Kubernetes,
    /// SAN = `sub`, a URI on the configured subject domain.
    Uri,
}

impl IssuerType {
    /// Fulcio's name of the type (`/api/v2/configuration`'s `issuerType`).
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerType::Email => "email",
            IssuerType::GithubWorkflow => "github-workflow",
            IssuerType::GitlabPipeline => "gitlab-pipeline",
            IssuerType::Spiffe => "spiffe",
            IssuerType::Kubernetes => "kubernetes",
            IssuerType::Uri => "uri",
        }
    }

    /// The claim the proof of possession signs.
    pub fn challenge_claim(self) -> &'static str {
        match self {
            IssuerType::Email => "email",
            _ => "sub",
        }
    }
}

/// One trusted OIDC issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerConfig {
    /// Must equal the tokens' `iss` exactly.
    #[serde(alias = "IssuerURL", alias = "url")]
    pub issuer_url: String,
    /// The audience (`aud`) tokens must carry.
    #[serde(alias = "ClientID", default = "default_audience")]
    pub client_id: String,
    #[serde(rename = "type", alias = "Type")]
    pub kind: IssuerType,
    /// `spiffe` issuers: the trust domain every SPIFFE ID must be in.
    #[serde(alias = "SPIFFETrustDomain", default)]
    pub spiffe_trust_domain: Option<String>,
    /// `uri` issuers: scheme and host every subject URI must have.
    #[serde(alias = "SubjectDomain", default)]
    pub subject_domain: Option<String>,
    /// `email` issuers: accept tokens without `email_verified: true`.
    #[serde(alias = "SkipEmailVerification", default)]
    pub skip_email_verification: bool,
    /// `github-workflow` / `gitlab-pipeline`: the forge's base URL for the
    /// URIs in the certificate (default `https://github.com/`,
    /// `https://gitlab.com/`), for GitHub Enterprise or self-managed GitLab.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_audience() -> String {
    DEFAULT_AUDIENCE.to_string()
}

impl IssuerConfig {
    /// An issuer of `kind` at `url` with Sigstore's default audience.
    pub fn new(url: impl Into<String>, kind: IssuerType) -> IssuerConfig {
        IssuerConfig {
            issuer_url: url.into(),
            client_id: default_audience(),
            kind,
            spiffe_trust_domain: None,
            subject_domain: None,
            skip_email_verification: false,
            base_url: None,
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |why: &str| ConfigError::Issuer {
            issuer: self.issuer_url.clone(),
            why: why.to_string(),
        };
        let url = url::Url::parse(&self.issuer_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return Err(bad("issuer_url must be an http(s) URL with a host"));
        }
        if self.client_id.is_empty() {
            return Err(bad("client_id must not be empty"));
        }
        match self.kind {
            IssuerType::Spiffe if self.spiffe_trust_domain.as_deref().unwrap_or("").is_empty() => {
                return Err(bad("spiffe issuers need spiffe_trust_domain"))
            }
            IssuerType::Uri => {
                let domain = self
                    .subject_domain
                    .as_deref()
                    .ok_or_else(|| bad("uri issuers need subject_domain"))?;
                let d =
                    url::Url::parse(domain).map_err(|e| bad(&format!("subject_domain: {e}")))?;
                if d.host().is_none() {
                    return Err(bad("subject_domain must be a URL with a host"));
                }
                // As Fulcio: the issuer may only vouch for URIs under its
                // own registrable domain (same scheme, same last two labels).
                let top = |u: &url::Url| {
                    let host = u.host_str().unwrap_or("");
                    let labels: Vec<&str> = host.rsplit('.').take(2).collect();
                    labels.join(".")
                };
                if d.scheme() != url.scheme() || top(&d) != top(&url) {
                    return Err(bad(
                        "subject_domain must have the issuer_url's scheme and top-level domain",
                    ));
                }
            }
            _ => {}
        }
        if let Some(base) = &self.base_url {
            url::Url::parse(base).map_err(|e| bad(&format!("base_url: {e}")))?;
        }
        Ok(())
    }
}

/// The CA's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaConfig {
    #[serde(alias = "issuers", default)]
    pub oidc_issuers: Vec<IssuerConfig>,
}

impl CaConfig {
    /// Parses YAML (a superset of JSON) or, when `json` is set, JSON with
    /// signet's depth bound; then validates.
    pub fn parse(bytes: &[u8], json: bool) -> Result<CaConfig, ConfigError> {
        if bytes.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge);
        }
        let config: CaConfig = if json {
            signet_model::from_json_slice(bytes)
                .map_err(|e| ConfigError::Malformed(e.to_string()))?
        } else {
            signet_model::check_depth(bytes, signet_model::MAX_JSON_DEPTH)
                .map_err(|e| ConfigError::Malformed(e.to_string()))?;
            serde_yaml::from_slice(bytes).map_err(|e| ConfigError::Malformed(e.to_string()))?
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads a configuration file (`.json` as JSON, anything else as YAML).
    pub fn load(path: &Path) -> Result<CaConfig, ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() > MAX_CONFIG_BYTES as u64 {
            return Err(ConfigError::TooLarge);
        }
        let bytes = std::fs::read(path).map_err(read_err)?;
        let json = path.extension().is_some_and(|e| e == "json");
        Self::parse(&bytes, json)
    }

    /// Checks every issuer and that no issuer URL is listed twice.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.oidc_issuers.len() > MAX_ISSUERS {
            return Err(ConfigError::Malformed(format!(
                "more than {MAX_ISSUERS} issuers"
            )));
        }
        let mut seen = HashSet::new();
        for issuer in &self.oidc_issuers {
            issuer.check()?;
            if !seen.insert(issuer.issuer_url.as_str()) {
                return Err(ConfigError::Issuer {
                    issuer: issuer.issuer_url.clone(),
                    why: "listed twice".into(),
                });
            }
        }
        Ok(())
    }

    /// The configuration of the issuer whose URL is exactly `iss`.
    pub fn issuer(&self, iss: &str) -> Option<&IssuerConfig> {
        self.oidc_issuers.iter().find(|i| i.issuer_url == iss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_with_fulcio_aliases() {
        let yaml = b"oidc_issuers:\n  - issuer_url: https://a.example\n    type: email\n  - url: https://b.example\n    type: spiffe\n    spiffe_trust_domain: example.org\n    client_id: other\n";
        let c = CaConfig::parse(yaml, false).unwrap();
        assert_eq!(c.oidc_issuers.len(), 2);
        assert_eq!(c.oidc_issuers[0].client_id, "sigstore");
        assert_eq!(c.oidc_issuers[1].client_id, "other");
        let json = br#"{"issuers":[{"IssuerURL":"https://t.example","Type":"github-workflow","ClientID":"sigstore"}]}"#;
        let c = CaConfig::parse(json, true).unwrap();
        assert_eq!(
            c.issuer("https://t.example").unwrap().kind,
            IssuerType::GithubWorkflow
        );
        assert!(c.issuer("https://t.example/").is_none());
    }

    #[test]
    fn rejects_incomplete_issuers() {
        for bad in [
            "oidc_issuers: [{issuer_url: 'https://a', type: spiffe}]",
            "oidc_issuers: [{issuer_url: 'https://a', type: uri}]",
            "oidc_issuers: [{issuer_url: 'ftp://a', type: email}]",
            "oidc_issuers: [{issuer_url: 'https://a', type: nope}]",
            "oidc_issuers: [{issuer_url: 'https://a', type: email}, {issuer_url: 'https://a', type: email}]",
            // A URI issuer vouching for another organisation's domain, or
            // another scheme.
            "oidc_issuers: [{issuer_url: 'https://auth.attacker.net', type: uri, subject_domain: 'https://example.com'}]",
            "oidc_issuers: [{issuer_url: 'https://auth.example.com', type: uri, subject_domain: 'http://example.com'}]",
        ] {
            assert!(CaConfig::parse(bad.as_bytes(), false).is_err(), "{bad}");
        }
        let good = "oidc_issuers: [{issuer_url: 'https://auth.example.com', type: uri, subject_domain: 'https://example.com'}]";
        assert!(CaConfig::parse(good.as_bytes(), false).is_ok());
    }
}
