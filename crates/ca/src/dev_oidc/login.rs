//! The dev issuer's interactive sign-in: OAuth 2.0 authorization code with
//! PKCE, for native apps on loopback redirect URIs (RFC 6749, 7636, 8252).
//!
//! `GET /authorize` without `login_hint` shows a form asking which identity
//! to sign in as (DEV ONLY: there is no password); with it, the issuer
//! redirects to the client's loopback `redirect_uri` with a single-use code.
//! The form-encoded `POST /token` redeems the code once, within
//! [`CODE_TTL_SECS`], for the same client and redirect URI, and only with
//! the verifier whose S256 hash is the challenge.
//!
//! Redirects go to loopback addresses only, so the issuer can never be
//! used to bounce a code to another host.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map};
use std::sync::Arc;

use super::{DevIssuer, TokenRequest};

/// How long a code may wait to be redeemed.
pub const CODE_TTL_SECS: i64 = 120;
/// Most codes outstanding at once (older ones are dropped first).
const MAX_PENDING_CODES: usize = 1024;

/// A code handed out and not yet redeemed.
#[derive(Debug, Clone)]
pub struct PendingCode {
    request: TokenRequest,
    challenge: String,
    redirect_uri: String,
    client_id: String,
    expires: i64,
}

/// `GET /authorize`'s query.
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login_hint: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description.into()})),
    )
        .into_response()
}

/// Whether `uri` is an `http` URL on a loopback host (RFC 8252 §7.3).
fn loopback_redirect(uri: &str) -> Option<url::Url> {
    let url = url::Url::parse(uri).ok()?;
    let loopback = match url.host()? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    (url.scheme() == "http" && loopback && url.fragment().is_none()).then_some(url)
}

fn html_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// The sign-in form: every OAuth parameter carried as a hidden field.
fn login_form(q: &AuthorizeQuery) -> Response {
    let hidden: String = [
        ("response_type", &q.response_type),
        ("client_id", &q.client_id),
        ("redirect_uri", &q.redirect_uri),
        ("scope", &q.scope),
        ("state", &q.state),
        ("nonce", &q.nonce),
        ("code_challenge", &q.code_challenge),
        ("code_challenge_method", &q.code_challenge_method),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value.as_ref().map(|v| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                html_escape(v)
            )
        })
    })
    .collect();
    Html(format!(
        "<!doctype html><title>signet dev oidc</title>\
         <h1>signet dev OIDC issuer — DEV ONLY</h1>\
         <p>This issuer signs tokens for any identity. Never trust it in production.</p>\
         <form method=\"get\" action=\"authorize\">{hidden}\
         <label>Sign in as (email) <input name=\"login_hint\" type=\"email\" required></label>\
         <button type=\"submit\">Sign in</button></form>"
    ))
    .into_response()
}

/// `GET /authorize`.
pub async fn authorize(
    State(issuer): State<Arc<DevIssuer>>,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    // Until the redirect URI is known to be loopback, errors are shown,
    // never redirected.
    let Some(redirect) = q.redirect_uri.as_deref().and_then(loopback_redirect) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri must be an http:// URL on a loopback host",
        );
    };
    if q.response_type.as_deref() != Some("code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    let Some(client_id) = q.client_id.clone().filter(|c| !c.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id missing",
        );
    };
    let challenge = match (&q.code_challenge, q.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) if c.len() == 43 && URL_SAFE_NO_PAD.decode(c).is_ok() => c.clone(),
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "a PKCE code_challenge with code_challenge_method=S256 is required",
            )
        }
    };
    let Some(login) = q.login_hint.clone().filter(|l| !l.trim().is_empty()) else {
        return login_form(&q);
    };
    let Some(code) = random_token() else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "no randomness",
        );
    };
    let mut claims = Map::new();
    if let Some(nonce) = &q.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    let pending = PendingCode {
        request: TokenRequest {
            sub: Some(login.clone()),
            email: Some(login),
            aud: Some(client_id.clone()),
            claims,
            ttl: None,
        },
        challenge,
        redirect_uri: redirect.to_string(),
        client_id,
        expires: crate::unix_now() + CODE_TTL_SECS,
    };
    if let Ok(mut codes) = issuer.codes.lock() {
        let now = crate::unix_now();
        codes.retain(|_, p| p.expires > now);
        if codes.len() >= MAX_PENDING_CODES {
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "too many sign-ins in progress",
            );
        }
        codes.insert(code.clone(), pending);
    }
    let mut target = redirect;
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .extend_pairs(q.state.as_deref().map(|s| ("state", s)));
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, target.to_string())],
    )
        .into_response()
}

/// The form-encoded `POST /token`: redeems an authorization code.
pub fn redeem(issuer: &DevIssuer, body: &Bytes) -> Response {
    let mut grant_type = None;
    let mut code = None;
    let mut redirect_uri = None;
    let mut client_id = None;
    let mut verifier = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        let slot = match k.as_ref() {
            "grant_type" => &mut grant_type,
            "code" => &mut code,
            "redirect_uri" => &mut redirect_uri,
            "client_id" => &mut client_id,
            "code_verifier" => &mut verifier,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("{k} given twice"),
            );
        }
    }
    if grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=authorization_code is supported",
        );
    }
    let (Some(code), Some(verifier)) = (code, verifier) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code and code_verifier are required",
        );
    };
    // Single use: the code is gone whether or not what follows succeeds.
    let pending = issuer.codes.lock().ok().and_then(|mut c| c.remove(&code));
    let Some(pending) = pending.filter(|p| p.expires > crate::unix_now()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown, used or expired code",
        );
    };
    let redirect_matches = redirect_uri
        .as_deref()
        .and_then(loopback_redirect)
        .is_some_and(|u| u.as_str() == pending.redirect_uri);
    if !redirect_matches || client_id.as_deref() != Some(pending.client_id.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "client_id or redirect_uri differ from the authorization request",
        );
    }
    let computed = URL_SAFE_NO_PAD.encode(signet_crypto::sha256(verifier.as_bytes()));
    if aws_lc_rs::constant_time::verify_slices_are_equal(
        computed.as_bytes(),
        pending.challenge.as_bytes(),
    )
    .is_err()
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        );
    }
    super::token_response(issuer, &pending.request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_redirects() {
        assert!(loopback_redirect("http://localhost:1234/auth/callback").is_some());
        assert!(loopback_redirect("http://127.0.0.1:9/cb").is_some());
        assert!(loopback_redirect("http://[::1]:9/cb").is_some());
        assert!(loopback_redirect("https://localhost/cb").is_none());
        assert!(loopback_redirect("http://evil.example/cb").is_none());
        assert!(loopback_redirect("http://localhost.evil.example/cb").is_none());
        assert!(loopback_redirect("http://127.0.0.1/cb#frag").is_none());
        assert!(loopback_redirect("not a url").is_none());
    }

    #[test]
    fn form_values_are_escaped() {
        assert_eq!(
            html_escape("\"><script>&'"),
            "&quot;&gt;&lt;script&gt;&amp;&#39;"
        );
    }
}
