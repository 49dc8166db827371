//! The signing flow: choose services from a signing config, get a
//! certificate (keyless) or use a managed key, sign, timestamp, log,
//! assemble a bundle, and verify it locally before handing it out.
//!
//! Service selection follows the signing config v0.2: services valid now
//! with the highest supported `majorApiVersion` (CA 1, Rekor 1 or 2, TSA
//! 1), newest first, as many as the `ANY`/`ALL`/`EXACT` selector asks.
//! Rekor v1 entries carry a signed integrated time (SET); Rekor v2 entries
//! do not, so a Rekor v2 signature needs an RFC 3161 timestamp.

use std::time::Duration;

use signet_model::dsse::{self, Envelope};
use signet_model::intoto::{self, Statement};
use signet_model::signing_config::{Service, ServiceConfiguration};
use signet_model::{Bundle, SigningConfig, TrustedRoot};
use signet_verify::{
    Artifact, IdentityPolicy, Matcher, Options, SignerPolicy, TrustMaterial, Verifier,
};

use crate::bundle::{assemble, key_hint, SignedContent, SignerMaterial};
use crate::fulcio::FulcioClient;
use crate::http::HttpClient;
use crate::oidc::IdentityToken;
use crate::rekor::{self, RekorClient};
use crate::signer::{InMemorySigner, Signer};
use crate::tsa::TsaClient;
use crate::SignError;

/// Knobs of the flow.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// "Now" in unix seconds, for service selection; `None` reads the clock.
    pub now: Option<i64>,
    /// Bound on each HTTP request.
    pub timeout: Duration,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            now: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What to sign.
#[derive(Debug, Clone, Copy)]
pub enum Content<'a> {
    /// An artifact's bytes: a message signature over their SHA-256.
    Blob(&'a [u8]),
    /// An in-toto statement (JSON), signed as a DSSE envelope as is.
    InToto(&'a [u8]),
}

/// Who signs.
pub enum Identity<'a> {
    /// Keyless: an ephemeral key certified by the CA for this identity.
    Keyless(&'a IdentityToken),
    /// A managed key (cosign key file, and later PKCS#11 or KMS).
    Key(&'a dyn Signer),
}

/// A signed bundle, and what went wrong without failing the signature.
#[derive(Debug)]
pub struct Signed {
    pub bundle: Bundle,
    /// E.g. a timestamp authority that did not answer while a Rekor v1 SET
    /// already provides a signing time.
    pub warnings: Vec<String>,
}

/// Services chosen from a signing config, and the trust to check the
/// result against.
pub struct SigningContext {
    ca: Option<FulcioClient>,
    rekors: Vec<RekorClient>,
    tsas: Vec<TsaClient>,
    oidc_url: Option<String>,
    verifier: Verifier,
    http: HttpClient,
    now: i64,
}

impl std::fmt::Debug for SigningContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningContext")
            .field("ca", &self.ca)
            .field("rekors", &self.rekors)
            .field("tsas", &self.tsas)
            .finish_non_exhaustive()
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Applies a service selector to candidates (already sorted newest first).
fn apply_selector<'a>(
    what: &str,
    candidates: Vec<&'a Service>,
    config: Option<&ServiceConfiguration>,
) -> Result<Vec<&'a Service>, SignError> {
    let selector = config.map_or("ANY", |c| c.selector.as_str());
    match selector {
        "ANY" | "SERVICE_SELECTOR_UNDEFINED" | "" => Ok(candidates.into_iter().take(1).collect()),
        "ALL" => Ok(candidates),
        "EXACT" => {
            let count = config.and_then(|c| c.count).unwrap_or(1) as usize;
            if candidates.len() < count {
                return Err(SignError::Config(format!(
                    "{what}: EXACT {count} services asked for, {} usable",
                    candidates.len()
                )));
            }
            Ok(candidates.into_iter().take(count).collect())
        }
        other => Err(SignError::Config(format!(
            "{what}: unknown selector {other:?}"
        ))),
    }
}

impl SigningContext {
    /// Chooses services from `config`; `root` is the trust the result must
    /// verify under (it must describe the same instance).
    pub fn new(
        config: &SigningConfig,
        root: &TrustedRoot,
        options: SignOptions,
    ) -> Result<Self, SignError> {
        let now = options.now.unwrap_or_else(now_unix);
        let http = HttpClient::new(options.timeout)?;
        let ca = SigningConfig::select(&config.ca_urls, &[1], now)
            .first()
            .map(|s| FulcioClient::new(&s.url, http.clone()));
        let oidc_url = SigningConfig::select(&config.oidc_urls, &[1], now)
            .first()
            .map(|s| s.url.clone());
        let rekor_candidates = SigningConfig::select(&config.rekor_tlog_urls, &[1, 2], now);
        let rekors = apply_selector(
            "transparency logs",
            rekor_candidates,
            config.rekor_tlog_config.as_ref(),
        )?
        .into_iter()
        .map(|s| RekorClient::new(&s.url, s.major_api_version, http.clone()))
        .collect::<Result<Vec<_>, _>>()?;
        if rekors.is_empty() {
            return Err(SignError::Config(
                "the signing config names no usable transparency log".into(),
            ));
        }
        let tsa_candidates = SigningConfig::select(&config.tsa_urls, &[1], now);
        let tsas: Vec<TsaClient> = apply_selector(
            "timestamp authorities",
            tsa_candidates,
            config.tsa_config.as_ref(),
        )?
        .into_iter()
        .map(|s| TsaClient::new(&s.url, http.clone()))
        .collect();
        if tsas.is_empty() && rekors.iter().any(|r| r.major_version() == 2) {
            return Err(SignError::Config(
                "Rekor v2 gives no signed time: the signing config must name a timestamp authority"
                    .into(),
            ));
        }
        let trust = TrustMaterial::from_trusted_root(root)
            .map_err(|e| SignError::Config(format!("trusted root: {e}")))?;
        let verifier = Verifier::new(
            trust,
            Options {
                tlog_threshold: rekors.len(),
                ..Options::default()
            },
        );
        Ok(SigningContext {
            ca,
            rekors,
            tsas,
            oidc_url,
            verifier,
            http,
            now,
        })
    }

    /// The OIDC issuer the signing config names (for messages).
    pub fn oidc_url(&self) -> Option<&str> {
        self.oidc_url.as_deref()
    }

    /// The HTTP client the services share (for the OIDC ambient flow).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Signs `content` as `identity`, and verifies the bundle before
    /// returning it.
    pub fn sign(&self, identity: Identity<'_>, content: Content<'_>) -> Result<Signed, SignError> {
        let ephemeral;
        let (signer, material, policy): (&dyn Signer, SignerMaterial, SignerPolicy) = match identity
        {
            Identity::Keyless(token) => {
                token.check_fresh(self.now)?;
                let ca = self.ca.as_ref().ok_or_else(|| {
                    SignError::Config("the signing config names no certificate authority".into())
                })?;
                ephemeral = InMemorySigner::generate_p256()?;
                let issued = ca.signing_certificate(&ephemeral, token)?;
                let policy = SignerPolicy::Identity(certified_for(token)?);
                (&ephemeral, SignerMaterial::Certificate(issued.leaf), policy)
            }
            Identity::Key(signer) => {
                let public = signer.public_key();
                let material = SignerMaterial::PublicKey {
                    hint: Some(key_hint(public.spki_der())),
                };
                (signer, material, SignerPolicy::Key(public))
            }
        };
        let public = signer.public_key();
        let verifier_der = match &material {
            SignerMaterial::Certificate(der) => rekor::Verifier::Certificate(der),
            SignerMaterial::PublicKey { .. } => rekor::Verifier::PublicKey(public.spki_der()),
        };

        // Sign.
        let (signed, artifact_digest) = match content {
            Content::Blob(bytes) => {
                let sha256 = signet_crypto::sha256(bytes);
                let signature = signer.sign_prehashed(&sha256)?;
                (SignedContent::Message { sha256, signature }, sha256)
            }
            Content::InToto(statement_json) => {
                let statement = Statement::from_json(statement_json)
                    .map_err(|e| SignError::Other(format!("in-toto statement: {e}")))?;
                let subject = first_sha256_subject(&statement)?;
                let pae = dsse::pae(intoto::PAYLOAD_TYPE, statement_json);
                let signature = signer.sign(&pae)?;
                let envelope = Envelope {
                    payload: statement_json.to_vec().into(),
                    payload_type: intoto::PAYLOAD_TYPE.to_string(),
                    signatures: vec![dsse::Signature {
                        sig: signature.into(),
                        keyid: None,
                    }],
                };
                (SignedContent::Dsse(envelope), subject)
            }
        };

        // Timestamp the signature.
        let mut warnings = Vec::new();
        let mut timestamps = Vec::new();
        let needs_timestamp = self.rekors.iter().any(|r| r.major_version() == 2);
        for tsa in &self.tsas {
            match tsa.timestamp(signed.signature()) {
                Ok(der) => timestamps.push(der),
                Err(e) if !needs_timestamp => {
                    warnings.push(format!("no timestamp from {}: {e}", tsa.url()))
                }
                Err(e) => return Err(e),
            }
        }

        // Log it.
        let key_details = || {
            signer.key_details().ok_or_else(|| {
                SignError::Config(
                    "Rekor v2 logs only keys Sigstore names (ECDSA P-256/384/521, Ed25519, \
                     RSA of 2048, 3072 or 4096 bits); use a Rekor v1 log for this key"
                        .into(),
                )
            })
        };
        let mut entries = Vec::with_capacity(self.rekors.len());
        for log in &self.rekors {
            let request = match (&signed, log.major_version()) {
                (SignedContent::Message { sha256, signature }, 1) => {
                    rekor::hashedrekord_v001(sha256, signature, verifier_der)
                }
                (SignedContent::Message { sha256, signature }, _) => {
                    rekor::hashedrekord_v002_request(
                        sha256,
                        signature,
                        verifier_der,
                        key_details()?,
                    )
                }
                (SignedContent::Dsse(envelope), 1) => rekor::dsse_v001(envelope, verifier_der)?,
                (SignedContent::Dsse(envelope), _) => rekor::hashedrekord_v002_request(
                    &signet_crypto::sha256(&envelope.pae()),
                    signed.signature(),
                    verifier_der,
                    key_details()?,
                ),
            };
            entries.push(log.create_entry(&request)?);
        }

        let bundle = assemble(material, signed, entries, timestamps);
        let artifact = match content {
            Content::Blob(bytes) => Artifact::Bytes(bytes),
            Content::InToto(_) => Artifact::Digest {
                algorithm: signet_crypto::HashAlgorithm::Sha256,
                digest: artifact_digest.to_vec(),
            },
        };
        self.verifier
            .verify(&bundle, &artifact, &policy)
            .map_err(|e| SignError::SelfCheck {
                check: e.check.to_string(),
                reason: e.reason.clone(),
            })?;
        Ok(Signed { bundle, warnings })
    }
}

/// The digest the self-check verifies a statement against: its first
/// subject with a SHA-256 digest.
fn first_sha256_subject(statement: &Statement) -> Result<[u8; 32], SignError> {
    statement
        .subject
        .iter()
        .find_map(|s| s.digest.get("sha256"))
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| {
            SignError::Other("the in-toto statement has no subject with a sha256 digest".into())
        })
}

/// What the certificate for `token` must say: issued for the token's
/// issuer or its federated upstream (see
/// [`IdentityToken::certificate_issuers`]); any SAN, since that is
/// whatever the CA derived from the token.
fn certified_for(token: &IdentityToken) -> Result<IdentityPolicy, SignError> {
    let regex =
        |pattern: &str| Matcher::regex(pattern).map_err(|e| SignError::Other(e.to_string()));
    let issuers: Vec<String> = token.certificate_issuers().map(regex::escape).collect();
    Ok(IdentityPolicy::new(
        regex("^")?,
        regex(&format!("^(?:{})$", issuers.join("|")))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_may_name_the_token_issuer_or_its_federated_upstream() {
        use base64::Engine;
        let token = |claims: serde_json::Value| {
            let part = |v: &serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            let jwt = format!(
                "{}.{}.sig",
                part(&serde_json::json!({"alg": "none"})),
                part(&claims)
            );
            IdentityToken::parse(&jwt).unwrap()
        };
        let identity = |issuer: &str| signet_pki::fulcio::FulcioIdentity {
            san: vec![signet_pki::fulcio::SubjectAltName::Email(
                "a@example.com".into(),
            )],
            issuer: Some(issuer.into()),
            extensions: Default::default(),
        };
        let dex = token(serde_json::json!({
            "iss": "https://oauth2.sigstore.dev/auth", "sub": "x",
            "federated_claims": {"connector_id": "https://github.com/login/oauth", "user_id": "1"}
        }));
        let policy = certified_for(&dex).unwrap();
        policy
            .check(&identity("https://oauth2.sigstore.dev/auth"))
            .unwrap();
        policy
            .check(&identity("https://github.com/login/oauth"))
            .unwrap();
        for other in [
            "https://accounts.google.com",
            "https://github.com/login/oauthX",
            "https://github_com/login/oauth",
        ] {
            assert!(policy.check(&identity(other)).is_err(), "{other} accepted");
        }

        let plain = certified_for(&token(
            serde_json::json!({"iss": "https://a.example", "sub": "x"}),
        ))
        .unwrap();
        plain.check(&identity("https://a.example")).unwrap();
        assert!(plain.check(&identity("https://a_example")).is_err());
    }

    fn config(json: serde_json::Value) -> SigningConfig {
        SigningConfig::from_json(json.to_string().as_bytes()).unwrap()
    }

    fn root() -> TrustedRoot {
        TrustedRoot::from_json(
            &std::fs::read(format!(
                "{}/../../testdata/trust/public-good/trusted_root.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap()
    }

    fn service(url: &str, version: u32) -> serde_json::Value {
        serde_json::json!({"url": url, "majorApiVersion": version, "validFor": {"start": "2020-01-01T00:00:00Z"}})
    }

    #[test]
    fn public_good_config_selects_one_of_each() {
        let raw = std::fs::read(format!(
            "{}/../../testdata/trust/public-good/signing_config.v0.2.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let ctx = SigningContext::new(
            &SigningConfig::from_json(&raw).unwrap(),
            &root(),
            SignOptions {
                now: Some(1_790_000_000),
                ..SignOptions::default()
            },
        )
        .unwrap();
        assert_eq!(ctx.rekors.len(), 1);
        assert_eq!(ctx.rekors[0].major_version(), 1);
        assert_eq!(ctx.tsas.len(), 1);
        assert!(ctx.ca.is_some());
        assert_eq!(ctx.oidc_url(), Some("https://oauth2.sigstore.dev/auth"));
    }

    #[test]
    fn rekor_v2_is_preferred_and_needs_a_tsa() {
        let mt = signet_model::signing_config::SIGNING_CONFIG_V0_2;
        let both = config(serde_json::json!({
            "mediaType": mt,
            "rekorTlogUrls": [service("https://v1", 1), service("https://v2", 2)],
            "tsaUrls": [service("https://tsa/api/v1/timestamp", 1)],
            "rekorTlogConfig": {"selector": "ANY"},
        }));
        let ctx = SigningContext::new(&both, &root(), SignOptions::default()).unwrap();
        assert_eq!(ctx.rekors[0].base_url(), "https://v2");
        let no_tsa = config(serde_json::json!({
            "mediaType": mt,
            "rekorTlogUrls": [service("https://v2", 2)],
        }));
        let err = SigningContext::new(&no_tsa, &root(), SignOptions::default()).unwrap_err();
        assert!(err.to_string().contains("timestamp authority"), "{err}");
        let exact = config(serde_json::json!({
            "mediaType": mt,
            "rekorTlogUrls": [service("https://v1", 1)],
            "rekorTlogConfig": {"selector": "EXACT", "count": 2},
        }));
        assert!(SigningContext::new(&exact, &root(), SignOptions::default()).is_err());
        let none = config(serde_json::json!({"mediaType": mt}));
        assert!(SigningContext::new(&none, &root(), SignOptions::default()).is_err());
    }
}
