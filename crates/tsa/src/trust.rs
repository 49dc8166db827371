//! The entries that make this authority usable: a `timestampAuthorities[]`
//! entry of a `trusted_root.json` (the chain, signing certificate first,
//! valid from the latest notBefore in it) and a `tsaUrls[]` entry of a
//! signing config.

use der::Encode;
use serde::{Deserialize, Serialize};
use signet_model::signing_config::Service;
use signet_model::trust_root::{CertChain, CertificateAuthority, DistinguishedName, TimeRange};
use x509_cert::Certificate;

/// The path of the timestamp endpoint under a TSA's base URL.
pub const TIMESTAMP_PATH: &str = "/api/v1/timestamp";

/// This authority's entries for a trusted root and a signing config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TsaTrustPieces {
    pub timestamp_authorities: Vec<CertificateAuthority>,
    pub tsa_urls: Vec<Service>,
}

fn common_name(cert: &Certificate) -> Option<String> {
    signet_pki::cert::name_attribute(&cert.tbs_certificate.subject, const_oid::db::rfc4519::CN)
}

/// The start of `chain`'s common validity: its latest notBefore.
pub fn valid_from(chain: &[Certificate]) -> i64 {
    chain
        .iter()
        .map(|c| {
            i64::try_from(
                c.tbs_certificate
                    .validity
                    .not_before
                    .to_unix_duration()
                    .as_secs(),
            )
            .unwrap_or(i64::MAX)
        })
        .max()
        .unwrap_or(0)
}

/// The `timestampAuthorities[]` entry for `chain` (signing certificate
/// first), served at `base_url`.
pub fn trust_root_entry(
    chain: &[Certificate],
    base_url: &str,
) -> Result<CertificateAuthority, der::Error> {
    let ders = chain
        .iter()
        .map(|c| c.to_der())
        .collect::<Result<Vec<_>, der::Error>>()?;
    Ok(CertificateAuthority {
        subject: chain.last().map(|root| DistinguishedName {
            organization: Some("signet".into()),
            common_name: common_name(root),
        }),
        uri: Some(base_url.trim_end_matches('/').to_string()),
        cert_chain: CertChain::from_der(&ders),
        valid_for: Some(TimeRange {
            start: Some(signet_ca::trust::timestamp(valid_from(chain))),
            end: None,
        }),
        operator: None,
    })
}

/// The `tsaUrls[]` entry of a signing config for a TSA at `base_url`
/// (the full timestamp URL, major API version 1), valid from `start`.
pub fn signing_config_service(base_url: &str, start: i64) -> Service {
    Service {
        url: format!("{}{TIMESTAMP_PATH}", base_url.trim_end_matches('/')),
        major_api_version: 1,
        valid_for: Some(TimeRange {
            start: Some(signet_ca::trust::timestamp(start)),
            end: None,
        }),
        operator: None,
    }
}

/// Both entries for `chain` served at `base_url`.
pub fn trust_pieces(chain: &[Certificate], base_url: &str) -> Result<TsaTrustPieces, der::Error> {
    Ok(TsaTrustPieces {
        timestamp_authorities: vec![trust_root_entry(chain, base_url)?],
        tsa_urls: vec![signing_config_service(base_url, valid_from(chain))],
    })
}
