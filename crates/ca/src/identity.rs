//! OIDC claims → the identity a certificate binds, as Fulcio maps them
//! (`pkg/identity/*/principal.go`, `pkg/certificate/extensions.go`).
//!
//! Each issuer type yields a [`Principal`]: the SAN, the string the proof of
//! possession signs (Fulcio's `Principal.Name`), and the Fulcio extensions
//! in Fulcio's order: `.1.1` issuer (raw), `.1.2`–`.1.6` (raw, GitHub
//! only), `.1.8` issuer (UTF8String), `.1.9`–`.1.23` (UTF8String), `.1.24`
//! token subject (UTF8String). Empty values are omitted, as Fulcio does.

use const_oid::ObjectIdentifier;
use der::asn1::Utf8StringRef;
use der::Encode;
use serde_json::{Map, Value};
use signet_pki::fulcio::{oids, ISSUER_V1, ISSUER_V2};
use x509_cert::ext::Extension;

use crate::certgen::{extension, CertBuildError, San};
use crate::config::{IssuerConfig, IssuerType};

/// `.1.24` Token Subject: the raw `sub` claim.
pub const TOKEN_SUBJECT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.24");

/// Longest claim value copied into a certificate.
pub const MAX_CLAIM_LEN: usize = 2048;

/// Why a token's claims do not make an identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("missing {0} claim in ID token")]
    MissingClaim(&'static str),
    #[error("claim {claim}: {why}")]
    BadClaim { claim: &'static str, why: String },
    #[error("email_verified claim was false")]
    EmailNotVerified,
}

/// How a Fulcio extension's value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The string's bytes (`.1.1`–`.1.6`).
    Raw,
    /// A DER UTF8String (`.1.8` on).
    Utf8,
}

/// The identity one certificate binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// What the proof of possession must sign: the email for email
    /// issuers, the `sub` claim otherwise.
    pub name: String,
    pub san: San,
    /// The token's `iss`.
    pub issuer: String,
    /// Fulcio extensions in certificate order (issuer ones included).
    pub extensions: Vec<(ObjectIdentifier, Encoding, String)>,
}

impl Principal {
    /// The extensions as X.509 (all non-critical).
    pub fn x509_extensions(&self) -> Result<Vec<Extension>, CertBuildError> {
        self.extensions
            .iter()
            .map(|(oid, enc, value)| {
                let bytes = match enc {
                    Encoding::Raw => value.as_bytes().to_vec(),
                    Encoding::Utf8 => Utf8StringRef::new(value)?.to_der()?,
                };
                extension(*oid, false, bytes)
            })
            .collect()
    }
}

/// A non-empty string claim of bounded length, without control characters.
fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, IdentityError> {
    let value = optional_string_claim(claims, name)?;
    value.ok_or(IdentityError::MissingClaim(name))
}

fn optional_string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, IdentityError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => {
            if s.len() > MAX_CLAIM_LEN {
                return Err(IdentityError::BadClaim {
                    claim: name,
                    why: format!("longer than {MAX_CLAIM_LEN} bytes"),
                });
            }
            if s.chars().any(char::is_control) {
                return Err(IdentityError::BadClaim {
                    claim: name,
                    why: "contains control characters".into(),
                });
            }
            Ok(Some(s))
        }
        Some(_) => Err(IdentityError::BadClaim {
            claim: name,
            why: "not a string".into(),
        }),
    }
}

/// Go's `url.URL.JoinPath` on an absolute base: appends the elements,
/// then cleans the path (empty and `.` segments dropped, `..` resolved).
fn join_path(base: &str, elems: &[&str]) -> String {
    let (prefix, path) = match base.find("://") {
        Some(i) => {
            let rest = &base[i + 3..];
            match rest.find('/') {
                Some(j) => (&base[..i + 3 + j], &rest[j..]),
                None => (base, ""),
            }
        }
        None => ("", base),
    };
    let mut segments: Vec<&str> = Vec::new();
    let joined: Vec<&str> = std::iter::once(path).chain(elems.iter().copied()).collect();
    let all = joined.join("/");
    let trailing = all.ends_with('/');
    for seg in all.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("{prefix}/{}", segments.join("/"));
    if trailing && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Maps verified claims to the principal of issuer `cfg`.
pub fn principal(
    cfg: &IssuerConfig,
    claims: &Map<String, Value>,
) -> Result<Principal, IdentityError> {
    let issuer = string_claim(claims, "iss")?.to_string();
    let subject = string_claim(claims, "sub")?.to_string();
    let mut p = match cfg.kind {
        IssuerType::Email => email(cfg, claims, &subject)?,
        IssuerType::GithubWorkflow => github(cfg, claims, &subject)?,
        IssuerType::GitlabPipeline => gitlab(cfg, claims, &subject)?,
        IssuerType::Spiffe => spiffe(cfg, &subject)?,
        IssuerType::Kubernetes => kubernetes(claims, &subject)?,
        IssuerType::Uri => uri(cfg, &subject)?,
    };
    // Issuer extensions first and in the middle, subject last: Fulcio's
    // Render() order.
    let mut exts = vec![(ISSUER_V1, Encoding::Raw, issuer.clone())];
    let (raw, der): (Vec<_>, Vec<_>) = p
        .extensions
        .drain(..)
        .partition(|(_, enc, _)| *enc == Encoding::Raw);
    exts.extend(raw);
    exts.push((ISSUER_V2, Encoding::Utf8, issuer.clone()));
    exts.extend(der);
    exts.push((TOKEN_SUBJECT, Encoding::Utf8, subject));
    exts.retain(|(_, _, v)| !v.is_empty());
    p.extensions = exts;
    p.issuer = issuer;
    if let San::Uri(uri) = &p.san {
        p.san = San::Uri(escape_non_ascii(uri).into_owned());
    }
    Ok(p)
}

/// `uri` with every non-ASCII byte percent-encoded (its UTF-8, upper-case
/// hex): an IA5String holds ASCII only, and Fulcio's URI SANs are what Go's
/// `url.URL.String()` writes, which escapes them so (a GitHub ref
/// `refs/heads/fé` is `refs/heads/f%C3%A9`).
pub fn escape_non_ascii(uri: &str) -> std::borrow::Cow<'_, str> {
    if uri.is_ascii() {
        return uri.into();
    }
    let mut out = String::with_capacity(uri.len() * 3);
    for b in uri.bytes() {
        if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.into()
}

fn base(p: String, san: San) -> Principal {
    Principal {
        name: p,
        san,
        issuer: String::new(),
        extensions: Vec::new(),
    }
}

/// A plausible email address (Fulcio uses govalidator.IsEmail): one `@`,
/// a non-empty local part of printable ASCII, a dotted DNS domain.
fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'@' && b != b'"')
        && domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn email(
    cfg: &IssuerConfig,
    claims: &Map<String, Value>,
    _sub: &str,
) -> Result<Principal, IdentityError> {
    let address = string_claim(claims, "email")?;
    let verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    if !cfg.skip_email_verification && !verified {
        return Err(IdentityError::EmailNotVerified);
    }
    if !valid_email(address) {
        return Err(IdentityError::BadClaim {
            claim: "email",
            why: "email address is not valid".into(),
        });
    }
    Ok(base(address.to_string(), San::Email(address.to_string())))
}

fn github(
    cfg: &IssuerConfig,
    claims: &Map<String, Value>,
    sub: &str,
) -> Result<Principal, IdentityError> {
    let c = |n| string_claim(claims, n);
    let job_workflow_ref = c("job_workflow_ref")?;
    let sha = c("sha")?;
    let event_name = c("event_name")?;
    let repository = c("repository")?;
    let workflow = c("workflow")?;
    let git_ref = c("ref")?;
    let job_workflow_sha = c("job_workflow_sha")?;
    let runner_environment = c("runner_environment")?;
    let repository_id = c("repository_id")?;
    let repository_owner = c("repository_owner")?;
    let repository_owner_id = c("repository_owner_id")?;
    let repository_visibility = c("repository_visibility")?;
    let workflow_ref = c("workflow_ref")?;
    let workflow_sha = c("workflow_sha")?;
    let run_id = c("run_id")?;
    let run_attempt = c("run_attempt")?;

    let url = cfg.base_url.as_deref().unwrap_or("https://github.com/");
    let signer_uri = join_path(url, &[job_workflow_ref]);
    let mut p = base(sub.to_string(), San::Uri(signer_uri.clone()));
    use Encoding::{Raw, Utf8};
    p.extensions = vec![
        (oids::GITHUB_WORKFLOW_TRIGGER, Raw, event_name.into()),
        (oids::GITHUB_WORKFLOW_SHA, Raw, sha.into()),
        (oids::GITHUB_WORKFLOW_NAME, Raw, workflow.into()),
        (oids::GITHUB_WORKFLOW_REPOSITORY, Raw, repository.into()),
        (oids::GITHUB_WORKFLOW_REF, Raw, git_ref.into()),
        (oids::BUILD_SIGNER_URI, Utf8, signer_uri),
        (oids::BUILD_SIGNER_DIGEST, Utf8, job_workflow_sha.into()),
        (oids::RUNNER_ENVIRONMENT, Utf8, runner_environment.into()),
        (
            oids::SOURCE_REPOSITORY_URI,
            Utf8,
            join_path(url, &[repository]),
        ),
        (oids::SOURCE_REPOSITORY_DIGEST, Utf8, sha.into()),
        (oids::SOURCE_REPOSITORY_REF, Utf8, git_ref.into()),
        (
            oids::SOURCE_REPOSITORY_IDENTIFIER,
            Utf8,
            repository_id.into(),
        ),
        (
            oids::SOURCE_REPOSITORY_OWNER_URI,
            Utf8,
            join_path(url, &[repository_owner]),
        ),
        (
            oids::SOURCE_REPOSITORY_OWNER_IDENTIFIER,
            Utf8,
            repository_owner_id.into(),
        ),
        (
            oids::BUILD_CONFIG_URI,
            Utf8,
            join_path(url, &[workflow_ref]),
        ),
        (oids::BUILD_CONFIG_DIGEST, Utf8, workflow_sha.into()),
        (oids::BUILD_TRIGGER, Utf8, event_name.into()),
        (
            oids::RUN_INVOCATION_URI,
            Utf8,
            join_path(
                url,
                &[repository, "actions/runs", run_id, "attempts", run_attempt],
            ),
        ),
        (
            oids::SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING,
            Utf8,
            repository_visibility.into(),
        ),
    ];
    Ok(p)
}

fn gitlab(
    cfg: &IssuerConfig,
    claims: &Map<String, Value>,
    sub: &str,
) -> Result<Principal, IdentityError> {
    let c = |n| string_claim(claims, n);
    let project_path = c("project_path")?;
    let pipeline_source = c("pipeline_source")?;
    c("pipeline_id")?;
    let ci_config_ref_uri = c("ci_config_ref_uri")?;
    let job_id = c("job_id")?;
    let git_ref = c("ref")?;
    let ref_type = c("ref_type")?;
    let namespace_path = c("namespace_path")?;
    let namespace_id = c("namespace_id")?;
    let project_id = c("project_id")?;
    let sha = c("sha")?;
    let runner_environment = c("runner_environment")?;
    match claims.get("runner_id") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v != 0) => {}
        Some(Value::Number(_)) | None => return Err(IdentityError::MissingClaim("runner_id")),
        Some(_) => {
            return Err(IdentityError::BadClaim {
                claim: "runner_id",
                why: "not an integer".into(),
            })
        }
    }
    let ci_config_sha = optional_string_claim(claims, "ci_config_sha")?.unwrap_or("");
    let visibility = optional_string_claim(claims, "project_visibility")?.unwrap_or("");
    let full_ref = match ref_type {
        "branch" => format!("refs/heads/{git_ref}"),
        "tag" => format!("refs/tags/{git_ref}"),
        other => {
            return Err(IdentityError::BadClaim {
                claim: "ref_type",
                why: format!("unexpected ref_type: {other}"),
            })
        }
    };
    let url = cfg.base_url.as_deref().unwrap_or("https://gitlab.com/");
    let base_url = url::Url::parse(url).map_err(|e| IdentityError::BadClaim {
        claim: "base_url",
        why: e.to_string(),
    })?;
    // ci_config_ref_uri has no scheme ("gitlab.com/group/proj//.gitlab-ci.yml@refs/heads/main");
    // Fulcio prefixes https unless it names the issuer's own host.
    let config_uri = match ci_config_ref_uri.split_once("://") {
        Some((_, rest)) => {
            let host = rest.split('/').next().unwrap_or("");
            let scheme = if base_url.host_str() == Some(host) {
                base_url.scheme()
            } else {
                "https"
            };
            format!("{scheme}://{rest}")
        }
        None => format!("https://{ci_config_ref_uri}"),
    };
    let mut p = base(sub.to_string(), San::Uri(config_uri.clone()));
    use Encoding::Utf8;
    p.extensions = vec![
        (oids::BUILD_SIGNER_URI, Utf8, config_uri.clone()),
        (oids::BUILD_SIGNER_DIGEST, Utf8, ci_config_sha.into()),
        (oids::RUNNER_ENVIRONMENT, Utf8, runner_environment.into()),
        (
            oids::SOURCE_REPOSITORY_URI,
            Utf8,
            join_path(url, &[project_path]),
        ),
        (oids::SOURCE_REPOSITORY_DIGEST, Utf8, sha.into()),
        (oids::SOURCE_REPOSITORY_REF, Utf8, full_ref),
        (oids::SOURCE_REPOSITORY_IDENTIFIER, Utf8, project_id.into()),
        (
            oids::SOURCE_REPOSITORY_OWNER_URI,
            Utf8,
            join_path(url, &[namespace_path]),
        ),
        (
            oids::SOURCE_REPOSITORY_OWNER_IDENTIFIER,
            Utf8,
            namespace_id.into(),
        ),
        (oids::BUILD_CONFIG_URI, Utf8, config_uri),
        (oids::BUILD_CONFIG_DIGEST, Utf8, ci_config_sha.into()),
        (oids::BUILD_TRIGGER, Utf8, pipeline_source.into()),
        (
            oids::RUN_INVOCATION_URI,
            Utf8,
            join_path(url, &[project_path, "/-/jobs/", job_id]),
        ),
        (
            oids::SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING,
            Utf8,
            visibility.into(),
        ),
    ];
    // Fulcio's Render() writes .1.18/.1.19 after .1.17, not in field order.
    p.extensions.sort_by(|a, b| a.0.arcs().cmp(b.0.arcs()));
    Ok(p)
}

/// A SPIFFE ID (`spiffe://trust-domain/path`) and its trust domain.
fn spiffe_trust_domain(id: &str) -> Option<&str> {
    let rest = id.strip_prefix("spiffe://")?;
    let (td, path) = rest.split_once('/').unwrap_or((rest, ""));
    let td_ok = !td.is_empty()
        && td.len() <= 255
        && td
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
    let path_ok = path.is_empty()
        || path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        });
    (td_ok && path_ok).then_some(td)
}

fn spiffe(cfg: &IssuerConfig, sub: &str) -> Result<Principal, IdentityError> {
    let td = spiffe_trust_domain(sub).ok_or_else(|| IdentityError::BadClaim {
        claim: "sub",
        why: "invalid spiffe ID".into(),
    })?;
    let want = cfg.spiffe_trust_domain.as_deref().unwrap_or("");
    let want = want.strip_prefix("spiffe://").unwrap_or(want);
    if td != want {
        return Err(IdentityError::BadClaim {
            claim: "sub",
            why: format!(
                "spiffe ID trust domain {td} doesn't match configured trust domain {want}"
            ),
        });
    }
    Ok(base(sub.to_string(), San::Uri(sub.to_string())))
}

fn kubernetes(claims: &Map<String, Value>, sub: &str) -> Result<Principal, IdentityError> {
    let k8s = claims
        .get("kubernetes.io")
        .and_then(Value::as_object)
        .ok_or(IdentityError::MissingClaim("kubernetes.io"))?;
    let namespace = string_claim(k8s, "namespace")?;
    let sa = k8s
        .get("serviceaccount")
        .and_then(Value::as_object)
        .ok_or(IdentityError::MissingClaim("serviceaccount"))?;
    let sa_name = string_claim(sa, "name")?;
    for (claim, v) in [("namespace", namespace), ("serviceaccount.name", sa_name)] {
        if v.contains(['/', '?', '#', ' ']) {
            return Err(IdentityError::BadClaim {
                claim: if claim == "namespace" {
                    "namespace"
                } else {
                    "serviceaccount.name"
                },
                why: "not a Kubernetes name".into(),
            });
        }
    }
    let uri = format!("https://kubernetes.io/namespaces/{namespace}/serviceaccounts/{sa_name}");
    Ok(base(sub.to_string(), San::Uri(uri)))
}

fn uri(cfg: &IssuerConfig, sub: &str) -> Result<Principal, IdentityError> {
    if valid_email(sub) {
        return Err(IdentityError::BadClaim {
            claim: "sub",
            why: "uri subject should not be an email address".into(),
        });
    }
    let bad = |why: String| IdentityError::BadClaim { claim: "sub", why };
    // The host is checked on the parsed URL but the SAN is `sub` itself, so
    // they must not disagree: WHATWG parsing (the url crate) reads `\` as
    // `/` where RFC 3986 parsers (Go's, Python's) do not, which would let
    // `https://example.com\@evil.com/` pass as example.com.
    if sub.contains('\\') {
        return Err(bad("a URI subject must not contain a backslash".into()));
    }
    let subject = url::Url::parse(sub).map_err(|e| bad(e.to_string()))?;
    let domain = url::Url::parse(cfg.subject_domain.as_deref().unwrap_or(""))
        .map_err(|e| bad(format!("subject_domain: {e}")))?;
    if subject.scheme() != domain.scheme() {
        return Err(bad(format!(
            "subject URI scheme ({}) must match expected domain URI scheme ({})",
            subject.scheme(),
            domain.scheme()
        )));
    }
    if subject.host_str() != domain.host_str() {
        return Err(bad(format!(
            "subject hostname ({}) must match expected domain ({})",
            subject.host_str().unwrap_or(""),
            domain.host_str().unwrap_or("")
        )));
    }
    Ok(base(sub.to_string(), San::Uri(sub.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn join_path_matches_go() {
        assert_eq!(
            join_path(
                "https://github.com/",
                &["o/r/.github/workflows/x.yml@refs/heads/main"]
            ),
            "https://github.com/o/r/.github/workflows/x.yml@refs/heads/main"
        );
        assert_eq!(
            join_path("https://gitlab.com/", &["g/p", "/-/jobs/", "7"]),
            "https://gitlab.com/g/p/-/jobs/7"
        );
        assert_eq!(join_path("https://h", &["a/../b"]), "https://h/b");
    }

    #[test]
    fn email_principal() {
        let cfg = IssuerConfig::new("https://i", IssuerType::Email);
        let c = claims(
            json!({"iss":"https://i","sub":"123","email":"a@example.com","email_verified":true}),
        );
        let p = principal(&cfg, &c).unwrap();
        assert_eq!(p.name, "a@example.com");
        assert_eq!(p.san, San::Email("a@example.com".into()));
        let oids: Vec<String> = p.extensions.iter().map(|e| e.0.to_string()).collect();
        assert_eq!(
            oids,
            [
                "1.3.6.1.4.1.57264.1.1",
                "1.3.6.1.4.1.57264.1.8",
                "1.3.6.1.4.1.57264.1.24"
            ]
        );
        let c = claims(
            json!({"iss":"https://i","sub":"1","email":"a@example.com","email_verified":false}),
        );
        assert_eq!(principal(&cfg, &c), Err(IdentityError::EmailNotVerified));
        let c = claims(json!({"iss":"https://i","sub":"1","email":"nope","email_verified":true}));
        assert!(principal(&cfg, &c).is_err());
    }

    #[test]
    fn github_principal() {
        let cfg = IssuerConfig::new(
            "https://token.actions.githubusercontent.com",
            IssuerType::GithubWorkflow,
        );
        let mut c = claims(json!({
            "iss": "https://token.actions.githubusercontent.com",
            "sub": "repo:o/r:ref:refs/heads/main",
            "job_workflow_ref": "o/r/.github/workflows/rel.yml@refs/heads/main",
            "sha": "abc", "event_name": "push", "repository": "o/r", "workflow": "rel",
            "ref": "refs/heads/main", "job_workflow_sha": "def", "runner_environment": "github-hosted",
            "repository_id": "1", "repository_owner": "o", "repository_owner_id": "2",
            "repository_visibility": "public", "workflow_ref": "o/r/.github/workflows/rel.yml@refs/heads/main",
            "workflow_sha": "def", "run_id": "9", "run_attempt": "1"
        }));
        let p = principal(&cfg, &c).unwrap();
        assert_eq!(p.name, "repo:o/r:ref:refs/heads/main");
        assert_eq!(
            p.san,
            San::Uri("https://github.com/o/r/.github/workflows/rel.yml@refs/heads/main".into())
        );
        let get = |oid: ObjectIdentifier| {
            p.extensions
                .iter()
                .find(|e| e.0 == oid)
                .map(|e| e.2.as_str())
        };
        assert_eq!(
            get(oids::RUN_INVOCATION_URI),
            Some("https://github.com/o/r/actions/runs/9/attempts/1")
        );
        assert_eq!(
            get(oids::SOURCE_REPOSITORY_OWNER_URI),
            Some("https://github.com/o")
        );
        assert_eq!(p.extensions.len(), 1 + 5 + 1 + 14 + 1);
        c.remove("run_attempt");
        assert_eq!(
            principal(&cfg, &c),
            Err(IdentityError::MissingClaim("run_attempt"))
        );
    }

    #[test]
    fn gitlab_principal() {
        let cfg = IssuerConfig::new("https://gitlab.com", IssuerType::GitlabPipeline);
        let c = claims(json!({
            "iss": "https://gitlab.com", "sub": "project_path:g/p:ref_type:branch:ref:main",
            "project_path": "g/p", "project_id": "10", "pipeline_source": "push", "pipeline_id": "5",
            "ci_config_ref_uri": "gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main", "ci_config_sha": "s",
            "namespace_path": "g", "namespace_id": "3", "job_id": "77", "ref": "main", "ref_type": "branch",
            "sha": "abc", "runner_environment": "gitlab-hosted", "runner_id": 4, "project_visibility": "public"
        }));
        let p = principal(&cfg, &c).unwrap();
        assert_eq!(
            p.san,
            San::Uri("https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main".into())
        );
        let get = |oid: ObjectIdentifier| {
            p.extensions
                .iter()
                .find(|e| e.0 == oid)
                .map(|e| e.2.as_str())
        };
        assert_eq!(get(oids::SOURCE_REPOSITORY_REF), Some("refs/heads/main"));
        assert_eq!(
            get(oids::RUN_INVOCATION_URI),
            Some("https://gitlab.com/g/p/-/jobs/77")
        );
    }

    #[test]
    fn spiffe_kubernetes_uri() {
        let mut cfg = IssuerConfig::new("https://i", IssuerType::Spiffe);
        cfg.spiffe_trust_domain = Some("example.org".into());
        let c = claims(json!({"iss":"https://i","sub":"spiffe://example.org/ns/a"}));
        assert_eq!(
            principal(&cfg, &c).unwrap().san,
            San::Uri("spiffe://example.org/ns/a".into())
        );
        let c = claims(json!({"iss":"https://i","sub":"spiffe://evil.org/ns/a"}));
        assert!(principal(&cfg, &c).is_err());

        let cfg = IssuerConfig::new("https://k", IssuerType::Kubernetes);
        let c = claims(
            json!({"iss":"https://k","sub":"system:serviceaccount:ns:sa",
            "kubernetes.io":{"namespace":"ns","serviceaccount":{"name":"sa"}}}),
        );
        assert_eq!(
            principal(&cfg, &c).unwrap().san,
            San::Uri("https://kubernetes.io/namespaces/ns/serviceaccounts/sa".into())
        );

        let mut cfg = IssuerConfig::new("https://u", IssuerType::Uri);
        cfg.subject_domain = Some("https://example.com".into());
        let c = claims(json!({"iss":"https://u","sub":"https://example.com/users/1"}));
        assert!(principal(&cfg, &c).is_ok());
        let c = claims(json!({"iss":"https://u","sub":"https://other.com/users/1"}));
        assert!(principal(&cfg, &c).is_err());
        // The url crate reads this host as example.com, RFC 3986 parsers as
        // evil.com: refused rather than written into the SAN as is.
        let c = claims(json!({"iss":"https://u","sub":"https://example.com\\@evil.com/x"}));
        assert!(principal(&cfg, &c).is_err());
    }
}
