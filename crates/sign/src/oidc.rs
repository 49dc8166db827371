//! OIDC identity tokens: where they come from, and what they claim.
//!
//! Sources, in order: an explicit token (`--identity-token`), the
//! `SIGSTORE_ID_TOKEN` variable (also GitLab CI's documented variable for
//! Sigstore's audience), and GitHub Actions' ambient token
//! (`ACTIONS_ID_TOKEN_REQUEST_URL` + `ACTIONS_ID_TOKEN_REQUEST_TOKEN`,
//! audience `sigstore`). A person at a terminal signs in with the browser
//! instead: see [`crate::browser`].
//!
//! Claims are read *unverified*: Fulcio verifies the token; the client only
//! needs to know who it will be signing as. Tokens are bearer secrets: they
//! are never printed, and `Debug` redacts them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

use crate::http::HttpClient;
use crate::SignError;

/// Largest token accepted (real ones are 1-3 KiB).
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// A raw JWT and its unverified claims.
pub struct IdentityToken {
    raw: Zeroizing<String>,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// Expiry, unix seconds.
    pub expires: Option<i64>,
    pub audience: Vec<String>,
    /// The `nonce` of a token from an interactive sign-in.
    pub nonce: Option<String>,
    /// `federated_claims.connector_id`: the upstream provider behind a
    /// federating one (Sigstore's Dex at oauth2.sigstore.dev), which is
    /// what public Fulcio records as the certificate's issuer.
    pub federated_issuer: Option<String>,
}

impl std::fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityToken")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("email", &self.email)
            .field("expires", &self.expires)
            .field("federated_issuer", &self.federated_issuer)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    email: Option<String>,
    exp: Option<serde_json::Number>,
    aud: Option<Audience>,
    nonce: Option<String>,
    federated_claims: Option<FederatedClaims>,
}

#[derive(serde::Deserialize)]
struct FederatedClaims {
    connector_id: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl IdentityToken {
    /// Reads the claims of a compact JWS (`header.payload.signature`).
    pub fn parse(raw: &str) -> Result<Self, SignError> {
        let raw = raw.trim();
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(SignError::Token("token is too large".into()));
        }
        let mut parts = raw.split('.');
        let (Some(_header), Some(payload), Some(_sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SignError::Token(
                "not a JWT (expected three dot-separated parts)".into(),
            ));
        };
        let payload = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| SignError::Token("JWT payload is not base64url".into()))?;
        let claims: Claims = signet_model::from_json_slice(&payload)
            .map_err(|e| SignError::Token(format!("JWT claims: {e}")))?;
        let issuer = claims
            .iss
            .ok_or_else(|| SignError::Token("no `iss` claim".into()))?;
        let subject = claims
            .sub
            .ok_or_else(|| SignError::Token("no `sub` claim".into()))?;
        Ok(IdentityToken {
            raw: Zeroizing::new(raw.to_string()),
            issuer,
            subject,
            email: claims.email,
            // NumericDate may have a fraction (RFC 7519 §2); one out of
            // any plausible range is treated as no expiry claim (Fulcio
            // refuses such a token itself).
            expires: claims.exp.and_then(|n| {
                n.as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.abs() < 1e15).map(|f| f as i64))
            }),
            audience: match claims.aud {
                None => Vec::new(),
                Some(Audience::One(a)) => vec![a],
                Some(Audience::Many(a)) => a,
            },
            nonce: claims.nonce,
            federated_issuer: claims.federated_claims.and_then(|f| f.connector_id),
        })
    }

    /// The token itself, for the `Authorization` header of a Fulcio request.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The identity Fulcio will certify: the email for email-based issuers,
    /// otherwise the subject.
    pub fn identity(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.subject)
    }

    /// The issuers a certificate for this token may name: `iss`, and the
    /// federated upstream provider if there is one (public Fulcio records
    /// that one for Dex tokens; a CA without such a rule records `iss`).
    pub fn certificate_issuers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.issuer.as_str()).chain(self.federated_issuer.as_deref())
    }

    /// Fails if the token has expired at `now` (unix seconds): Fulcio would
    /// refuse it, and saying so here is clearer.
    pub fn check_fresh(&self, now: i64) -> Result<(), SignError> {
        match self.expires {
            Some(exp) if exp < now => Err(SignError::Token(format!(
                "the identity token of {} expired {} seconds ago; get a fresh one",
                self.issuer,
                now.saturating_sub(exp)
            ))),
            _ => Ok(()),
        }
    }
}

/// Where to look for a token, besides an explicit one. Injectable so that
/// tests need not touch the process environment.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

/// Finds an identity token: `explicit`, then `SIGSTORE_ID_TOKEN`, then
/// GitHub Actions' ambient credentials. `oidc_url` is the issuer the
/// signing config names, mentioned when nothing was found.
pub fn detect(
    explicit: Option<&str>,
    env: &dyn Environment,
    http: &HttpClient,
    oidc_url: Option<&str>,
) -> Result<IdentityToken, SignError> {
    if let Some(token) = explicit {
        return IdentityToken::parse(token);
    }
    if let Some(token) = env.var("SIGSTORE_ID_TOKEN") {
        return IdentityToken::parse(&token);
    }
    if let (Some(url), Some(bearer)) = (
        env.var("ACTIONS_ID_TOKEN_REQUEST_URL"),
        env.var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) {
        let bearer = Zeroizing::new(bearer);
        return github_actions_token(http, &url, &bearer);
    }
    Err(SignError::NoToken(format!(
        "pass --identity-token, set SIGSTORE_ID_TOKEN, or run in GitHub Actions with \
         `permissions: id-token: write`, or sign in interactively{} (on a terminal, or with \
         --oidc-flow browser)",
        oidc_url.map(|u| format!(" with {u}")).unwrap_or_default()
    )))
}

/// GitHub Actions: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore`
/// with the request token as bearer; the answer is `{"value": JWT}`.
fn github_actions_token(
    http: &HttpClient,
    request_url: &str,
    bearer: &str,
) -> Result<IdentityToken, SignError> {
    const SERVICE: &str = "GitHub Actions OIDC";
    let separator = if request_url.contains('?') { '&' } else { '?' };
    let url = format!("{request_url}{separator}audience=sigstore");
    let auth = Zeroizing::new(format!("bearer {bearer}"));
    let response = http.get(
        SERVICE,
        &url,
        &[("Authorization", &auth), ("Accept", "application/json")],
    )?;
    if !response.is_success() {
        return Err(SignError::Http {
            service: SERVICE.into(),
            status: response.status,
            message: "could not get an identity token (does the job have `id-token: write`?)"
                .into(),
        });
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        value: String,
    }
    let answer: Answer = signet_model::from_json_slice(&response.body)
        .map_err(|e| SignError::response(SERVICE, e.to_string()))?;
    let value = Zeroizing::new(answer.value);
    IdentityToken::parse(&value)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An unsigned JWT with the given claims (signature part is junk).
    pub fn jwt(claims: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.c2ln")
    }

    struct FakeEnv(HashMap<&'static str, String>);
    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    #[test]
    fn federated_issuer_and_odd_expiry_claims() {
        let t = IdentityToken::parse(&jwt(&serde_json::json!({
            "iss": "https://oauth2.sigstore.dev/auth", "sub": "x",
            "federated_claims": {"connector_id": "https://github.com/login/oauth"}
        })))
        .unwrap();
        assert_eq!(
            t.certificate_issuers().collect::<Vec<_>>(),
            [
                "https://oauth2.sigstore.dev/auth",
                "https://github.com/login/oauth"
            ]
        );
        let wrong_type = jwt(&serde_json::json!({
            "iss": "i", "sub": "s", "federated_claims": {"connector_id": 7}
        }));
        assert!(IdentityToken::parse(&wrong_type).is_err());

        // Far-off, fractional and extreme expiries neither panic nor wrap.
        for (exp, expected) in [
            (serde_json::json!(-1e300), None),
            (serde_json::json!(2000000000.5), Some(2_000_000_000)),
            (serde_json::json!(i64::MIN), Some(i64::MIN)),
        ] {
            let t = IdentityToken::parse(&jwt(
                &serde_json::json!({"iss": "i", "sub": "s", "exp": exp}),
            ))
            .unwrap();
            assert_eq!(t.expires, expected);
            let _ = t.check_fresh(i64::MAX);
        }
        let t = IdentityToken::parse(&jwt(
            &serde_json::json!({"iss": "i", "sub": "s", "exp": i64::MIN}),
        ))
        .unwrap();
        let err = t.check_fresh(1_800_000_000).unwrap_err().to_string();
        assert!(err.contains(&i64::MAX.to_string()), "{err}");
    }

    #[test]
    fn claims_are_read() {
        let t = IdentityToken::parse(&jwt(&serde_json::json!({
            "iss": "https://accounts.example", "sub": "123", "email": "a@example.com",
            "aud": "sigstore", "exp": 2000000000, "nonce": "n-1"
        })))
        .unwrap();
        assert_eq!(t.issuer, "https://accounts.example");
        assert_eq!(t.nonce.as_deref(), Some("n-1"));
        assert_eq!(t.identity(), "a@example.com");
        assert_eq!(t.audience, vec!["sigstore".to_string()]);
        assert!(t.check_fresh(1_900_000_000).is_ok());
        assert!(t.check_fresh(2_000_000_001).is_err());
        assert!(!format!("{t:?}").contains(t.raw()));
        let ci = IdentityToken::parse(&jwt(&serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com",
            "sub": "repo:o/r:ref:refs/heads/main", "aud": ["sigstore"]
        })))
        .unwrap();
        assert_eq!(ci.identity(), "repo:o/r:ref:refs/heads/main");
        assert_eq!(ci.nonce, None);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        assert!(IdentityToken::parse("abc").is_err());
        assert!(IdentityToken::parse("a.!!!.c").is_err());
        assert!(IdentityToken::parse(&jwt(&serde_json::json!({"sub": "x"}))).is_err());
    }

    #[test]
    fn sources_in_order() {
        let http = HttpClient::new(std::time::Duration::from_secs(1)).unwrap();
        let token = jwt(&serde_json::json!({"iss": "https://i", "sub": "env"}));
        let env = FakeEnv(HashMap::from([("SIGSTORE_ID_TOKEN", token)]));
        let explicit = jwt(&serde_json::json!({"iss": "https://i", "sub": "flag"}));
        assert_eq!(
            detect(Some(&explicit), &env, &http, None).unwrap().subject,
            "flag"
        );
        assert_eq!(detect(None, &env, &http, None).unwrap().subject, "env");
        let empty = FakeEnv(HashMap::new());
        let err = detect(
            None,
            &empty,
            &http,
            Some("https://oauth2.sigstore.dev/auth"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("SIGSTORE_ID_TOKEN"), "{err}");
    }

    #[test]
    fn github_actions_ambient_token() {
        let token = jwt(&serde_json::json!({
            "iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r:ref:refs/heads/main"
        }));
        let (url, seen) = crate::test_server::serve_once(
            "200 OK",
            serde_json::json!({"count": 1, "value": token})
                .to_string()
                .into_bytes(),
        );
        let env = FakeEnv(HashMap::from([
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("{url}/token?api-version=2.0"),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                "request-secret".to_string(),
            ),
        ]));
        let http = HttpClient::new(std::time::Duration::from_secs(10)).unwrap();
        let t = detect(None, &env, &http, None).unwrap();
        assert_eq!(t.issuer, "https://token.actions.githubusercontent.com");
        let (head, _) = seen.lock().unwrap().clone().unwrap();
        assert!(
            head.starts_with("GET /token?api-version=2.0&audience=sigstore HTTP/1.1"),
            "{head}"
        );
        assert!(head
            .to_ascii_lowercase()
            .contains("authorization: bearer request-secret"));
    }
}
