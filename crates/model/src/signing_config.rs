//! Signing configuration v0.2 and ClientTrustConfig
//! (`sigstore_trustroot.proto`).

use serde::{Deserialize, Serialize};

use crate::trust_root::{TimeRange, TrustedRoot};
use crate::ModelError;

pub const SIGNING_CONFIG_V0_2: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";
pub const CLIENT_TRUST_CONFIG_V0_1: &str =
    "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningConfig {
    pub media_type: String,
    #[serde(default)]
    pub ca_urls: Vec<Service>,
    #[serde(default)]
    pub oidc_urls: Vec<Service>,
    #[serde(default)]
    pub rekor_tlog_urls: Vec<Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekor_tlog_config: Option<ServiceConfiguration>,
    #[serde(default)]
    pub tsa_urls: Vec<Service>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa_config: Option<ServiceConfiguration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub url: String,
    pub major_api_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for: Option<TimeRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConfiguration {
    /// `ALL`, `ANY` or `EXACT`.
    pub selector: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// Both halves a client needs: what to trust and where to sign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTrustConfig {
    pub media_type: String,
    pub trusted_root: TrustedRoot,
    pub signing_config: SigningConfig,
}

impl SigningConfig {
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let config: SigningConfig = crate::from_json_slice(bytes)?;
        if config.media_type != SIGNING_CONFIG_V0_2 {
            return Err(ModelError::UnsupportedMediaType(config.media_type));
        }
        Ok(config)
    }

    /// Services valid at `now` (unix seconds) with the highest API version
    /// among `supported`, newest first: the order a client should try them.
    pub fn select<'a>(services: &'a [Service], supported: &[u32], now: i64) -> Vec<&'a Service> {
        let valid = |s: &&Service| {
            supported.contains(&s.major_api_version)
                && s.valid_for.as_ref().is_none_or(|r| {
                    r.start.as_ref().is_none_or(|t| t.unix <= now)
                        && r.end.as_ref().is_none_or(|t| now <= t.unix)
                })
        };
        let best = services
            .iter()
            .filter(valid)
            .map(|s| s.major_api_version)
            .max();
        let mut out: Vec<&Service> = services
            .iter()
            .filter(valid)
            .filter(|s| Some(s.major_api_version) == best)
            .collect();
        out.sort_by_key(|s| {
            std::cmp::Reverse(
                s.valid_for
                    .as_ref()
                    .and_then(|r| r.start.as_ref())
                    .map_or(i64::MIN, |t| t.unix),
            )
        });
        out
    }
}

impl ClientTrustConfig {
    pub fn from_json(bytes: &[u8]) -> Result<Self, ModelError> {
        let config: ClientTrustConfig = crate::from_json_slice(bytes)?;
        if config.media_type != CLIENT_TRUST_CONFIG_V0_1 {
            return Err(ModelError::UnsupportedMediaType(config.media_type));
        }
        if config.signing_config.media_type != SIGNING_CONFIG_V0_2 {
            return Err(ModelError::UnsupportedMediaType(
                config.signing_config.media_type,
            ));
        }
        config.trusted_root.check_media_type()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public_good_config() -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../testdata/trust/public-good/signing_config.v0.2.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn signing_config_round_trips() {
        for instance in ["public-good", "staging"] {
            let raw = std::fs::read(format!(
                "{}/../../testdata/trust/{instance}/signing_config.v0.2.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let config = SigningConfig::from_json(&raw).unwrap();
            let original: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            assert_eq!(original, serde_json::to_value(&config).unwrap());
        }
    }

    #[test]
    fn selection_prefers_supported_and_valid() {
        let config = SigningConfig::from_json(&public_good_config()).unwrap();
        let now = 1_790_000_000;
        let cas = SigningConfig::select(&config.ca_urls, &[1], now);
        assert!(!cas.is_empty());
        assert!(SigningConfig::select(&config.ca_urls, &[99], now).is_empty());
    }

    #[test]
    fn client_trust_config_round_trips() {
        let root = std::fs::read(format!(
            "{}/../../testdata/trust/public-good/trusted_root.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let doc = format!(
            r#"{{"mediaType":"{CLIENT_TRUST_CONFIG_V0_1}","trustedRoot":{},"signingConfig":{}}}"#,
            String::from_utf8(root).unwrap(),
            String::from_utf8(public_good_config()).unwrap()
        );
        let config = ClientTrustConfig::from_json(doc.as_bytes()).unwrap();
        let again =
            ClientTrustConfig::from_json(serde_json::to_string(&config).unwrap().as_bytes())
                .unwrap();
        assert_eq!(config, again);
        assert!(
            ClientTrustConfig::from_json(doc.replace("v0.1+json", "v9+json").as_bytes()).is_err()
        );
    }
}
