//! The client files `signet up` writes for its stack: a `trusted_root.json`
//! (the log's `tlogs[]`, the CA's `certificateAuthorities[]` and
//! `ctlogs[]`, and with `--tsa` the TSA's `timestampAuthorities[]`), a
//! `signing_config.json` (v0.2: CA, OIDC issuer, Rekor v1 log, the TSA if
//! any) and a ClientTrustConfig holding both, in the shapes signet,
//! sigstore-python and sigstore-js read.

use signet_ca::trust::{timestamp, TrustPieces};
use signet_model::signing_config::{
    Service, ServiceConfiguration, CLIENT_TRUST_CONFIG_V0_1, SIGNING_CONFIG_V0_2,
};
use signet_model::trust_root::{
    CertificateAuthority, TimeRange, TransparencyLogInstance, MEDIA_TYPE_V0_1,
};
use signet_model::{ClientTrustConfig, SigningConfig, TrustedRoot};

/// The operator named in every entry of the generated files.
pub const OPERATOR: &str = "signet up (local)";

/// Where the stack's services answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackUrls {
    pub log: String,
    pub ca: String,
    pub oidc: String,
    /// The timestamp authority's base URL, when the stack runs one.
    pub tsa: Option<String>,
}

/// The trusted root of the stack: its log, CA and CT key, and its timestamp
/// authorities (none without `--tsa`).
pub fn trusted_root(
    mut log: TransparencyLogInstance,
    ca: &TrustPieces,
    tsas: &[CertificateAuthority],
) -> TrustedRoot {
    log.operator.get_or_insert_with(|| OPERATOR.to_string());
    let mut root = TrustedRoot {
        media_type: MEDIA_TYPE_V0_1.to_string(),
        tlogs: vec![log],
        certificate_authorities: vec![],
        ctlogs: vec![],
        timestamp_authorities: tsas.to_vec(),
    };
    ca.add_to(&mut root);
    for ca in &mut root.certificate_authorities {
        ca.operator.get_or_insert_with(|| OPERATOR.to_string());
    }
    for ct in &mut root.ctlogs {
        ct.operator.get_or_insert_with(|| OPERATOR.to_string());
    }
    for tsa in &mut root.timestamp_authorities {
        tsa.operator.get_or_insert_with(|| OPERATOR.to_string());
    }
    root
}

fn service(url: &str, major_api_version: u32, valid_from: i64) -> Service {
    Service {
        url: url.to_string(),
        major_api_version,
        valid_for: Some(TimeRange {
            start: Some(timestamp(valid_from)),
            end: None,
        }),
        operator: Some(OPERATOR.to_string()),
    }
}

/// Signing config v0.2: Fulcio API v1 (`/api/v2/signingCert`), the dev
/// OIDC issuer, the log as Rekor v1, and the timestamp authority when the
/// stack runs one (without, Rekor v1 entries carry a signed integrated
/// time). Services are valid from `valid_from` (unix seconds).
pub fn signing_config(urls: &StackUrls, valid_from: i64) -> SigningConfig {
    SigningConfig {
        media_type: SIGNING_CONFIG_V0_2.to_string(),
        ca_urls: vec![service(&urls.ca, 1, valid_from)],
        oidc_urls: vec![service(&urls.oidc, 1, valid_from)],
        rekor_tlog_urls: vec![service(&urls.log, 1, valid_from)],
        rekor_tlog_config: Some(ServiceConfiguration {
            selector: "ANY".into(),
            count: None,
        }),
        tsa_urls: urls
            .tsa
            .iter()
            .map(|base| {
                let mut s = signet_tsa::trust::signing_config_service(base, valid_from);
                s.operator = Some(OPERATOR.to_string());
                s
            })
            .collect(),
        tsa_config: Some(ServiceConfiguration {
            selector: "ANY".into(),
            count: None,
        }),
    }
}

/// Both in one ClientTrustConfig (sigstore-python's `--trust-config`).
pub fn client_trust_config(root: &TrustedRoot, config: &SigningConfig) -> ClientTrustConfig {
    ClientTrustConfig {
        media_type: CLIENT_TRUST_CONFIG_V0_1.to_string(),
        trusted_root: root.clone(),
        signing_config: config.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_model::bundle::LogId;
    use signet_model::encoding::Base64;
    use signet_model::trust_root::PublicKey;

    fn urls() -> StackUrls {
        StackUrls {
            log: "http://127.0.0.1:1".into(),
            ca: "http://127.0.0.1:2".into(),
            oidc: "http://127.0.0.1:3".into(),
            tsa: None,
        }
    }

    #[test]
    fn signing_config_round_trips_and_selects_our_services() {
        let config = signing_config(&urls(), 1_700_000_000);
        let json = serde_json::to_vec(&config).unwrap();
        let again = SigningConfig::from_json(&json).unwrap();
        assert_eq!(again, config);
        let now = 1_700_000_100;
        let ca = SigningConfig::select(&again.ca_urls, &[1], now);
        assert_eq!(ca[0].url, "http://127.0.0.1:2");
        let logs = SigningConfig::select(&again.rekor_tlog_urls, &[1, 2], now);
        assert_eq!(logs[0].major_api_version, 1);
        assert!(SigningConfig::select(&again.ca_urls, &[1], 1_600_000_000).is_empty());
        assert!(again.tsa_urls.is_empty());

        let with_tsa = StackUrls {
            tsa: Some("http://127.0.0.1:4".into()),
            ..urls()
        };
        let config = signing_config(&with_tsa, 1_700_000_000);
        let tsas = SigningConfig::select(&config.tsa_urls, &[1], now);
        assert_eq!(tsas[0].url, "http://127.0.0.1:4/api/v1/timestamp");
        assert_eq!(tsas[0].operator.as_deref(), Some(OPERATOR));
    }

    #[test]
    fn trust_config_holds_both_halves() {
        let log = TransparencyLogInstance {
            base_url: "http://127.0.0.1:1".into(),
            hash_algorithm: Some("SHA2_256".into()),
            public_key: PublicKey {
                raw_bytes: Some(Base64(vec![1, 2, 3])),
                key_details: Some("PKIX_ECDSA_P256_SHA_256".into()),
                valid_for: Some(TimeRange {
                    start: Some(timestamp(1_700_000_000)),
                    end: None,
                }),
            },
            log_id: LogId {
                key_id: Base64(vec![9; 32]),
            },
            checkpoint_key_id: None,
            operator: None,
        };
        let pieces = TrustPieces {
            certificate_authorities: vec![],
            ctlogs: vec![],
        };
        let root = trusted_root(log, &pieces, &[]);
        assert_eq!(root.tlogs[0].operator.as_deref(), Some(OPERATOR));
        let doc = client_trust_config(&root, &signing_config(&urls(), 1_700_000_000));
        let json = serde_json::to_vec(&doc).unwrap();
        let again = ClientTrustConfig::from_json(&json).unwrap();
        assert_eq!(again, doc);
    }
}
