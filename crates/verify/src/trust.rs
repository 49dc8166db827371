//! Trust material, parsed and checked once: the keys of logs, CT logs and
//! timestamp authorities, and the CA chains, each with its validity window.
//!
//! Building a [`TrustMaterial`] does all the work that does not depend on a
//! bundle (key parsing, CA chain signatures), so that verifying a bundle
//! costs only that bundle's own signatures.

use signet_crypto::PublicKey;
use signet_model::encoding::Timestamp;
use signet_model::trust_root::{TimeRange, TransparencyLogInstance, TrustedRoot};
use signet_pki::cert::Certificate;
use signet_pki::chain::{ChainVerifier, TrustedCa};
use signet_pki::sct::CtLog;
use signet_pki::timestamp::TimestampAuthority;

use crate::error::{fail, Check, VerifyError};

/// A validity window in unix seconds, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: Option<i64>,
}

impl Window {
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && self.end.is_none_or(|end| t <= end)
    }

    /// A window from the trust root. Trust material must say when it
    /// starts being trusted; one without a start is not used.
    fn from_range(range: Option<&TimeRange>) -> Option<Window> {
        let range = range?;
        Some(Window {
            start: range.start.as_ref()?.unix,
            end: range.end.as_ref().map(|t: &Timestamp| t.unix),
        })
    }
}

/// A transparency log the trust root names.
#[derive(Debug, Clone)]
pub struct TrustedLog {
    pub base_url: String,
    /// The name the log signs its checkpoints under: its URL without the
    /// scheme (Rekor v1 prefixes its origin with it, then " - <tree ID>").
    pub checkpoint_name: String,
    pub log_id: Vec<u8>,
    pub key: PublicKey,
    pub window: Window,
}

#[derive(Debug)]
pub struct TrustMaterial {
    pub tlogs: Vec<TrustedLog>,
    pub ctlogs: Vec<CtLog>,
    pub cas: ChainVerifier,
    pub tsas: Vec<TimestampAuthority>,
    /// Trust-root entries that could not be used, and why.
    pub skipped: Vec<String>,
}

/// A usable log key, or why the instance is left out. Leaving a log out
/// only ever removes trust: its entries then fail as "unknown log".
fn log_key(instance: &TransparencyLogInstance) -> Result<TrustedLog, String> {
    let Some(window) = Window::from_range(instance.public_key.valid_for.as_ref()) else {
        // As sigstore-go: a key without a validity start is not trusted.
        return Err(format!("{}: key has no validity start", instance.base_url));
    };
    let Some(raw) = &instance.public_key.raw_bytes else {
        return Err(format!("{}: no key bytes", instance.base_url));
    };
    let pkcs1 = instance
        .public_key
        .key_details
        .as_deref()
        .is_some_and(|d| d.starts_with("PKCS1_RSA"));
    let key = if pkcs1 {
        PublicKey::from_pkcs1_rsa_der(raw)
    } else {
        PublicKey::from_spki_der(raw)
    }
    .map_err(|e| format!("{}: unusable public key: {e}", instance.base_url))?;
    let host = instance
        .base_url
        .split_once("://")
        .map_or(instance.base_url.as_str(), |(_, rest)| rest)
        .trim_end_matches('/');
    Ok(TrustedLog {
        base_url: instance.base_url.clone(),
        checkpoint_name: host.to_string(),
        log_id: instance.log_id.key_id.0.clone(),
        key,
        window,
    })
}

fn certificates(
    what: &str,
    certs: &[signet_model::bundle::X509Certificate],
) -> Result<Vec<Certificate>, VerifyError> {
    certs
        .iter()
        .map(|c| {
            Certificate::from_der(&c.raw_bytes)
                .map_err(|e| VerifyError::new(Check::TrustRoot, format!("{what}: {e}")))
        })
        .collect()
}

impl TrustMaterial {
    pub fn from_trusted_root(root: &TrustedRoot) -> Result<Self, VerifyError> {
        let mut skipped = Vec::new();
        let mut tlogs = Vec::new();
        for instance in &root.tlogs {
            match log_key(instance) {
                Ok(log) => tlogs.push(log),
                Err(why) => skipped.push(format!("transparency log {why}")),
            }
        }
        let mut ctlogs = Vec::new();
        for instance in &root.ctlogs {
            match log_key(instance) {
                Err(why) => skipped.push(format!("CT log {why}")),
                Ok(log) => {
                    let Ok(log_id) = <[u8; 32]>::try_from(log.log_id.as_slice()) else {
                        return fail(
                            Check::TrustRoot,
                            format!("CT log {}: log ID is not 32 bytes", instance.base_url),
                        );
                    };
                    ctlogs.push(CtLog {
                        log_id,
                        key: log.key,
                        valid_from: Some(log.window.start),
                        valid_until: log.window.end,
                    });
                }
            }
        }
        let mut cas = Vec::new();
        for ca in &root.certificate_authorities {
            let Some(window) = Window::from_range(ca.valid_for.as_ref()) else {
                continue;
            };
            let name = ca.uri.clone().unwrap_or_default();
            cas.push(TrustedCa {
                chain: certificates(&format!("CA {name}"), &ca.cert_chain.certificates)?,
                valid_from: Some(window.start),
                valid_until: window.end,
            });
        }
        let mut tsas = Vec::new();
        for tsa in &root.timestamp_authorities {
            let Some(window) = Window::from_range(tsa.valid_for.as_ref()) else {
                continue;
            };
            let name = tsa.uri.clone().unwrap_or_default();
            tsas.push(TimestampAuthority::new(
                certificates(&format!("TSA {name}"), &tsa.cert_chain.certificates)?,
                Some(window.start),
                window.end,
            ));
        }
        Ok(TrustMaterial {
            tlogs,
            ctlogs,
            cas: ChainVerifier::new(cas),
            tsas,
            skipped,
        })
    }

    /// The trusted log with this log ID, if any.
    pub fn tlog(&self, log_id: &[u8]) -> Option<&TrustedLog> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }
}
