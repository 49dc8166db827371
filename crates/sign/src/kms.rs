//! AWS KMS keys: `--key awskms:///KEY` and `--key awskms://HOST:PORT/KEY`
//! (cosign's URI forms), through a small client of the KMS JSON 1.1 API
//! (`TrentService.GetPublicKey`, `.Sign`, `.CreateKey`, `.CreateAlias`)
//! signed with [`crate::sigv4`].
//!
//! - KEY: a key ID, a key ARN, `alias/NAME` or an alias ARN.
//! - Credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and
//!   `AWS_SESSION_TOKEN` for temporary ones. Region: `AWS_REGION`, else
//!   `AWS_DEFAULT_REGION`, else the one in a key ARN.
//! - Endpoint: the URI's `HOST:PORT`, else `AWS_ENDPOINT_URL_KMS`, else
//!   `AWS_ENDPOINT_URL`, else `https://kms.REGION.amazonaws.com`. Plain
//!   HTTP only to loopback addresses (a local emulator).
//! - Signing sends the SHA-256 digest (`MessageType: DIGEST`) with
//!   `ECDSA_SHA_256` (ECC_NIST_P256 keys) or `RSASSA_PKCS1_V1_5_SHA_256`
//!   (RSA keys), and checks the answer against the public key before
//!   using it.
//!
//! Secrets (the secret key, the session token) never reach a message, a
//! log line or a `Debug` output.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use signet_crypto::{HashAlgorithm, KeyKind, PublicKey};
use zeroize::Zeroizing;

use crate::http::HttpClient;
use crate::{sigv4, SignError, Signer};

/// The URI scheme.
pub const SCHEME: &str = "awskms://";
const SERVICE: &str = "AWS KMS";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TIMEOUT: Duration = Duration::from_secs(30);
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A parsed `awskms://[HOST[:PORT]]/KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsKmsUri {
    /// `HOST:PORT` when the URI names an endpoint.
    pub endpoint: Option<String>,
    /// Key ID, key ARN, `alias/NAME` or alias ARN.
    pub key_id: String,
}

fn key_access(message: impl Into<String>) -> SignError {
    SignError::KeyAccess(message.into())
}

impl AwsKmsUri {
    /// Whether `s` is an `awskms://` URI.
    pub fn is_awskms(s: &str) -> bool {
        s.get(..SCHEME.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(SCHEME))
    }

    pub fn parse(s: &str) -> Result<AwsKmsUri, SignError> {
        if !Self::is_awskms(s) {
            return Err(key_access("an AWS KMS key URI starts with awskms://"));
        }
        let rest = &s[SCHEME.len()..];
        let (host, key) = rest.split_once('/').ok_or_else(|| {
            key_access("awskms:// URI without a key: awskms:///KEY or awskms://HOST:PORT/KEY")
        })?;
        let key_ok = |c: char| c.is_ascii_alphanumeric() || ":/_-".contains(c);
        if key.is_empty() || !key.chars().all(key_ok) {
            return Err(key_access(format!(
                "awskms:// key {key:?} is not a key ID, key ARN, alias/NAME or alias ARN"
            )));
        }
        if key.starts_with("alias/") && key.len() == "alias/".len() {
            return Err(key_access("awskms:// alias/ without a name"));
        }
        let host_ok = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
        if !host.chars().all(host_ok) {
            return Err(key_access(format!(
                "awskms:// endpoint {host:?} is not HOST or HOST:PORT"
            )));
        }
        Ok(AwsKmsUri {
            endpoint: (!host.is_empty()).then(|| host.to_string()),
            key_id: key.to_string(),
        })
    }

    /// The region of a key or alias ARN (`arn:aws:kms:REGION:ACCOUNT:…`).
    pub fn arn_region(&self) -> Option<&str> {
        let mut parts = self.key_id.strip_prefix("arn:")?.split(':');
        let region = parts.nth(2)?;
        (!region.is_empty()).then_some(region)
    }
}

impl std::fmt::Display for AwsKmsUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{SCHEME}{}/{}",
            self.endpoint.as_deref().unwrap_or(""),
            self.key_id
        )
    }
}

/// AWS credentials. `Debug` shows the access key ID only.
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl AwsCredentials {
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> Self {
        AwsCredentials {
            access_key_id: access_key_id.to_string(),
            secret_access_key: Zeroizing::new(secret_access_key.to_string()),
            session_token: session_token.map(|t| Zeroizing::new(t.to_string())),
        }
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Result<Self, SignError> {
        let missing = || {
            key_access(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                 (and AWS_SESSION_TOKEN for temporary credentials)",
            )
        };
        let id = env_nonempty("AWS_ACCESS_KEY_ID").ok_or_else(missing)?;
        let secret = Zeroizing::new(env_nonempty("AWS_SECRET_ACCESS_KEY").ok_or_else(missing)?);
        let token = env_nonempty("AWS_SESSION_TOKEN").map(Zeroizing::new);
        Ok(AwsCredentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: token,
        })
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The endpoint URL and the `host` header value reqwest will send for it.
fn endpoint(url: &str) -> Result<(String, String), SignError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| key_access(format!("AWS KMS endpoint {url:?}: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| key_access(format!("AWS KMS endpoint {url:?} has no host")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => {
            return Err(key_access(format!(
                "AWS KMS endpoint {url}: plain HTTP is only allowed to loopback addresses"
            )))
        }
        other => {
            return Err(key_access(format!(
                "AWS KMS endpoint {url}: scheme {other} (want https)"
            )))
        }
    }
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Ok((format!("{}://{authority}/", parsed.scheme()), authority))
}

/// A client of one KMS endpoint.
#[derive(Debug)]
pub struct AwsKmsClient {
    http: HttpClient,
    url: String,
    host: String,
    region: String,
    credentials: AwsCredentials,
}

/// What `GetPublicKey` says about a key.
#[derive(Debug, Clone)]
pub struct KmsPublicKey {
    pub key_id: String,
    pub public_key: PublicKey,
    pub key_spec: String,
    pub key_usage: String,
    pub signing_algorithms: Vec<String>,
}

fn string_field(doc: &Value, name: &str, action: &str) -> Result<String, SignError> {
    doc.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| SignError::response(SERVICE, format!("{action}: no {name}")))
}

fn blob_field(doc: &Value, name: &str, action: &str) -> Result<Vec<u8>, SignError> {
    B64.decode(string_field(doc, name, action)?)
        .map_err(|_| SignError::response(SERVICE, format!("{action}: {name} is not base64")))
}

impl AwsKmsClient {
    /// A client of `endpoint_url` (`https://…`, or `http://` to loopback).
    pub fn new(
        endpoint_url: &str,
        region: &str,
        credentials: AwsCredentials,
    ) -> Result<Self, SignError> {
        if region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(key_access(format!("AWS region {region:?} is not valid")));
        }
        let (url, host) = endpoint(endpoint_url)?;
        Ok(AwsKmsClient {
            http: HttpClient::new(TIMEOUT)?,
            url,
            host,
            region: region.to_string(),
            credentials,
        })
    }

    /// The client for `uri`, configured from the environment (see the
    /// module documentation).
    pub fn from_env(uri: &AwsKmsUri) -> Result<Self, SignError> {
        let region = env_nonempty("AWS_REGION")
            .or_else(|| env_nonempty("AWS_DEFAULT_REGION"))
            .or_else(|| uri.arn_region().map(str::to_string))
            .ok_or_else(|| {
                key_access(
                    "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or name the key by its ARN",
                )
            })?;
        let url = match &uri.endpoint {
            Some(host_port) => {
                let host = host_port
                    .rsplit_once(':')
                    .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
                    .map_or(host_port.as_str(), |(h, _)| h);
                let scheme = if is_loopback(host) { "http" } else { "https" };
                format!("{scheme}://{host_port}/")
            }
            None => env_nonempty("AWS_ENDPOINT_URL_KMS")
                .or_else(|| env_nonempty("AWS_ENDPOINT_URL"))
                .unwrap_or_else(|| format!("https://kms.{region}.amazonaws.com/")),
        };
        Self::new(&url, &region, AwsCredentials::from_env()?)
    }

    /// The endpoint requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// One API call; `Err` keeps the HTTP status and AWS's error code.
    fn call(&self, action: &str, body: &Value) -> Result<Value, SignError> {
        let payload = serde_json::to_vec(body)
            .map_err(|e| SignError::Other(format!("encoding the {action} request: {e}")))?;
        let amz_date = sigv4::amz_date_now();
        let target = format!("TrentService.{action}");
        let mut headers: Vec<(&str, &str)> = vec![
            ("content-type", CONTENT_TYPE),
            ("host", &self.host),
            ("x-amz-date", &amz_date),
            ("x-amz-target", &target),
        ];
        if let Some(token) = &self.credentials.session_token {
            headers.push(("x-amz-security-token", token.as_str()));
        }
        let signature = sigv4::sign(
            &sigv4::SigningParams {
                access_key_id: &self.credentials.access_key_id,
                secret_access_key: &self.credentials.secret_access_key,
                region: &self.region,
                service: "kms",
                amz_date: &amz_date,
            },
            &sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                payload: &payload,
            },
        );
        // reqwest sets Host and Content-Type itself (to the same values).
        let mut send: Vec<(&str, &str)> = headers
            .iter()
            .copied()
            .filter(|(name, _)| *name != "host" && *name != "content-type")
            .collect();
        send.push(("authorization", &signature.authorization));
        let response = self
            .http
            .post(SERVICE, &self.url, CONTENT_TYPE, &send, payload)?;
        if !response.is_success() {
            #[derive(serde::Deserialize)]
            struct AwsError {
                #[serde(rename = "__type")]
                kind: Option<String>,
                #[serde(alias = "Message")]
                message: Option<String>,
            }
            let detail = match serde_json::from_slice::<AwsError>(&response.body) {
                Ok(AwsError { kind, message }) => {
                    // `__type` may be `namespace#Code`.
                    let code = kind
                        .as_deref()
                        .map(|k| k.rsplit('#').next().unwrap_or(k).to_string());
                    match (code, message) {
                        (Some(c), Some(m)) => format!("{c}: {m}"),
                        (Some(c), None) => c,
                        (None, Some(m)) => m,
                        (None, None) => response.error_message(),
                    }
                }
                Err(_) => response.error_message(),
            };
            return Err(SignError::Http {
                service: format!("{SERVICE} {action}"),
                status: response.status,
                message: detail.chars().take(400).collect(),
            });
        }
        serde_json::from_slice(&response.body)
            .map_err(|e| SignError::response(SERVICE, format!("{action}: not JSON: {e}")))
    }

    /// `GetPublicKey`.
    pub fn get_public_key(&self, key_id: &str) -> Result<KmsPublicKey, SignError> {
        let doc = self.call("GetPublicKey", &json!({ "KeyId": key_id }))?;
        let der = blob_field(&doc, "PublicKey", "GetPublicKey")?;
        let public_key = PublicKey::from_spki_der(&der).map_err(|e| {
            SignError::UnsupportedKey(format!("AWS KMS key {key_id}: public key: {e}"))
        })?;
        let key_spec = doc
            .get("KeySpec")
            .or_else(|| doc.get("CustomerMasterKeySpec"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let signing_algorithms = doc
            .get("SigningAlgorithms")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(KmsPublicKey {
            key_id: doc
                .get("KeyId")
                .and_then(Value::as_str)
                .unwrap_or(key_id)
                .to_string(),
            public_key,
            key_spec,
            key_usage: doc
                .get("KeyUsage")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            signing_algorithms,
        })
    }

    /// `Sign` of a digest (`MessageType: DIGEST`).
    pub fn sign_digest(
        &self,
        key_id: &str,
        digest: &[u8],
        signing_algorithm: &str,
    ) -> Result<Vec<u8>, SignError> {
        let doc = self.call(
            "Sign",
            &json!({
                "KeyId": key_id,
                "Message": B64.encode(digest),
                "MessageType": "DIGEST",
                "SigningAlgorithm": signing_algorithm,
            }),
        )?;
        blob_field(&doc, "Signature", "Sign")
    }

    /// `CreateKey` of an asymmetric signing key (`KeyUsage: SIGN_VERIFY`),
    /// e.g. `ECC_NIST_P256` or `RSA_2048`; returns its key ID.
    pub fn create_key(&self, key_spec: &str, description: &str) -> Result<String, SignError> {
        let doc = self.call(
            "CreateKey",
            &json!({
                "KeySpec": key_spec,
                "KeyUsage": "SIGN_VERIFY",
                "Description": description,
            }),
        )?;
        doc.get("KeyMetadata")
            .and_then(|m| m.get("KeyId"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| SignError::response(SERVICE, "CreateKey: no KeyMetadata.KeyId"))
    }

    /// `CreateAlias`: `alias/NAME` for `key_id`.
    pub fn create_alias(&self, alias: &str, key_id: &str) -> Result<(), SignError> {
        self.call(
            "CreateAlias",
            &json!({ "AliasName": alias, "TargetKeyId": key_id }),
        )?;
        Ok(())
    }
}

/// A [`Signer`] whose key is in AWS KMS.
#[derive(Debug)]
pub struct AwsKmsSigner {
    client: AwsKmsClient,
    key_id: String,
    public: PublicKey,
    algorithm: &'static str,
    details: &'static str,
}

/// The signing algorithm and `PublicKeyDetails` for a KMS key spec.
fn scheme_for(key_spec: &str) -> Option<(&'static str, &'static str, KeyKind)> {
    Some(match key_spec {
        "ECC_NIST_P256" => (
            "ECDSA_SHA_256",
            "PKIX_ECDSA_P256_SHA_256",
            KeyKind::EcdsaP256,
        ),
        "RSA_2048" => (
            "RSASSA_PKCS1_V1_5_SHA_256",
            "PKIX_RSA_PKCS1V15_2048_SHA256",
            KeyKind::Rsa,
        ),
        "RSA_3072" => (
            "RSASSA_PKCS1_V1_5_SHA_256",
            "PKIX_RSA_PKCS1V15_3072_SHA256",
            KeyKind::Rsa,
        ),
        "RSA_4096" => (
            "RSASSA_PKCS1_V1_5_SHA_256",
            "PKIX_RSA_PKCS1V15_4096_SHA256",
            KeyKind::Rsa,
        ),
        _ => return None,
    })
}

impl AwsKmsSigner {
    /// Opens the key `uri` names (credentials and region from the
    /// environment) and fetches its public key.
    pub fn open(uri: &AwsKmsUri) -> Result<Self, SignError> {
        Self::with_client(AwsKmsClient::from_env(uri)?, &uri.key_id)
    }

    /// The key `key_id` through `client`.
    pub fn with_client(client: AwsKmsClient, key_id: &str) -> Result<Self, SignError> {
        let info = client.get_public_key(key_id).map_err(|e| match e {
            // The service answered, and said no: the key as named is unusable.
            SignError::Http {
                status: 400..=499,
                message,
                ..
            } => key_access(format!(
                "AWS KMS key {key_id} at {}: {message}",
                client.url()
            )),
            other => other,
        })?;
        if info.key_usage != "SIGN_VERIFY" {
            return Err(SignError::UnsupportedKey(format!(
                "AWS KMS key {key_id} has KeyUsage {}, not SIGN_VERIFY",
                info.key_usage
            )));
        }
        let (algorithm, details, kind) = scheme_for(&info.key_spec).ok_or_else(|| {
            SignError::UnsupportedKey(format!(
                "AWS KMS key {key_id} is {}; signet signs with ECC_NIST_P256 or RSA_2048/3072/4096 keys",
                info.key_spec
            ))
        })?;
        if info.public_key.kind() != kind
            || (!info.signing_algorithms.is_empty()
                && !info.signing_algorithms.iter().any(|a| a == algorithm))
        {
            return Err(SignError::UnsupportedKey(format!(
                "AWS KMS key {key_id}: its public key or signing algorithms do not match {}",
                info.key_spec
            )));
        }
        Ok(AwsKmsSigner {
            client,
            key_id: key_id.to_string(),
            public: info.public_key,
            algorithm,
            details,
        })
    }

    /// The KMS signing algorithm used.
    pub fn signing_algorithm(&self) -> &'static str {
        self.algorithm
    }
}

impl Signer for AwsKmsSigner {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    fn key_details(&self) -> Option<&'static str> {
        Some(self.details)
    }

    fn sign_prehashed(&self, sha256_digest: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        let signature = self
            .client
            .sign_digest(&self.key_id, sha256_digest, self.algorithm)?;
        self.public
            .verify_prehashed(HashAlgorithm::Sha256, sha256_digest, &signature)
            .map_err(|_| {
                SignError::service(
                    SERVICE,
                    format!(
                        "the signature from key {} does not verify over the digest sent \
                         (does the endpoint honour MessageType=DIGEST?)",
                        self.key_id
                    ),
                )
            })?;
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cosign_uri_forms() {
        let u = AwsKmsUri::parse("awskms:///1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
        assert_eq!(u.endpoint, None);
        assert_eq!(u.key_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
        let u = AwsKmsUri::parse("awskms://127.0.0.1:4566/alias/release").unwrap();
        assert_eq!(u.endpoint.as_deref(), Some("127.0.0.1:4566"));
        assert_eq!(u.key_id, "alias/release");
        assert_eq!(u.to_string(), "awskms://127.0.0.1:4566/alias/release");
        let u = AwsKmsUri::parse(
            "awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
        .unwrap();
        assert_eq!(u.arn_region(), Some("eu-west-1"));
        for bad in [
            "awskms://",
            "awskms://host",
            "awskms:///",
            "awskms:///alias/",
            "awskms:///key id",
            "awskms://ho st/key",
            "gcpkms://x/y",
        ] {
            assert!(AwsKmsUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_use_https_except_to_loopback() {
        assert_eq!(
            endpoint("http://127.0.0.1:4566").unwrap(),
            ("http://127.0.0.1:4566/".into(), "127.0.0.1:4566".into())
        );
        assert_eq!(
            endpoint("https://kms.eu-west-1.amazonaws.com").unwrap(),
            (
                "https://kms.eu-west-1.amazonaws.com/".into(),
                "kms.eu-west-1.amazonaws.com".into()
            )
        );
        assert_eq!(endpoint("http://[::1]:80").unwrap().1, "[::1]");
        assert!(endpoint("http://kms.example.com").is_err());
        assert!(endpoint("ftp://127.0.0.1").is_err());
    }

    #[test]
    fn credentials_never_print_secrets() {
        let c = AwsCredentials::new("AKIDEXAMPLE", "very-secret", Some("session-secret"));
        let text = format!("{c:?}");
        assert!(text.contains("AKIDEXAMPLE"));
        assert!(!text.contains("very-secret") && !text.contains("session-secret"));
    }

    #[test]
    fn key_specs_map_to_sigstore_details() {
        assert_eq!(
            scheme_for("ECC_NIST_P256").map(|s| s.1),
            Some("PKIX_ECDSA_P256_SHA_256")
        );
        assert_eq!(
            scheme_for("RSA_3072").map(|s| s.0),
            Some("RSASSA_PKCS1_V1_5_SHA_256")
        );
        assert!(scheme_for("ECC_SECG_P256K1").is_none());
        assert!(scheme_for("SYMMETRIC_DEFAULT").is_none());
    }
}
