//! The trust-root entries that make this CA's certificates verifiable: one
//! `certificateAuthorities[]` entry (the chain, valid from the latest
//! notBefore in it) and one `ctlogs[]` entry (the CT key, its log ID and
//! validity). `signet up` merges them with the log's and TSA's entries into
//! a `trusted_root.json`.

use serde::{Deserialize, Serialize};
use signet_model::bundle::LogId;
use signet_model::encoding::{Base64, Timestamp};
use signet_model::trust_root::{
    CertChain, CertificateAuthority as CaEntry, DistinguishedName, PublicKey, TimeRange,
    TransparencyLogInstance, TrustedRoot, MEDIA_TYPE_V0_1,
};

use crate::ca::CertificateAuthority;

/// The `keyDetails` of the CT log key.
pub const CT_KEY_DETAILS: &str = "PKIX_ECDSA_P256_SHA_256";

/// This CA's entries for a trusted root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustPieces {
    pub certificate_authorities: Vec<CaEntry>,
    pub ctlogs: Vec<TransparencyLogInstance>,
}

/// An RFC 3339 timestamp for `unix` seconds.
pub fn timestamp(unix: i64) -> Timestamp {
    let text = time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    match text {
        Some(text) => Timestamp { text, unix },
        None => Timestamp {
            text: "1970-01-01T00:00:00Z".into(),
            unix: 0,
        },
    }
}

impl TrustPieces {
    /// The entries for `ca`, whose API is served at `ca_url`; `ctlog_url`
    /// names the CT log (no server needs to answer there).
    pub fn for_ca(ca: &CertificateAuthority, ca_url: &str, ctlog_url: &str) -> TrustPieces {
        let chain = ca.chain();
        let start = chain.iter().map(|c| c.not_before()).max().unwrap_or(0);
        let subject = chain.last().map(|root| DistinguishedName {
            organization: Some("signet".into()),
            common_name: signet_pki::cert::name_attribute(
                &root.x509().tbs_certificate.subject,
                const_oid::db::rfc4519::CN,
            ),
        });
        let ca_entry = CaEntry {
            subject,
            uri: Some(ca_url.to_string()),
            cert_chain: CertChain::from_der(chain.iter().map(|c| c.der())),
            valid_for: Some(TimeRange {
                start: Some(timestamp(start)),
                end: None,
            }),
            operator: None,
        };
        let ct = ca.ct_log();
        let ctlog = TransparencyLogInstance {
            base_url: ctlog_url.to_string(),
            hash_algorithm: Some("SHA2_256".into()),
            public_key: PublicKey {
                raw_bytes: Some(Base64(ct.public_key().spki_der().to_vec())),
                key_details: Some(CT_KEY_DETAILS.into()),
                valid_for: Some(TimeRange {
                    start: Some(timestamp(start)),
                    end: None,
                }),
            },
            log_id: LogId {
                key_id: Base64(ct.log_id().to_vec()),
            },
            checkpoint_key_id: None,
            operator: None,
        };
        TrustPieces {
            certificate_authorities: vec![ca_entry],
            ctlogs: vec![ctlog],
        }
    }

    /// Adds these entries to `root`.
    pub fn add_to(&self, root: &mut TrustedRoot) {
        root.certificate_authorities
            .extend(self.certificate_authorities.iter().cloned());
        root.ctlogs.extend(self.ctlogs.iter().cloned());
    }

    /// A trusted root holding only these entries (no logs, no TSAs).
    pub fn to_trusted_root(&self) -> TrustedRoot {
        let mut root = TrustedRoot {
            media_type: MEDIA_TYPE_V0_1.to_string(),
            tlogs: vec![],
            certificate_authorities: vec![],
            ctlogs: vec![],
            timestamp_authorities: vec![],
        };
        self.add_to(&mut root);
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        let t = timestamp(1_700_000_000);
        assert_eq!(t.text, "2023-11-14T22:13:20Z");
        assert_eq!(Timestamp::parse(&t.text).unwrap().unix, 1_700_000_000);
    }
}
