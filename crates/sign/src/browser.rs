//! Interactive sign-in: the OAuth 2.0 authorization-code flow with PKCE
//! that cosign and sigstore-python run against Sigstore's OIDC issuer,
//! for a person at a terminal.
//!
//! The client listens on a loopback port (RFC 8252 §7.3), sends the
//! browser to the issuer's authorization endpoint with a fresh `state`,
//! `nonce` and S256 code challenge, receives the code on
//! `http://localhost:PORT/auth/callback`, and redeems it with the code
//! verifier. The ID token's `nonce` must be ours: a token obtained for
//! another sign-in is refused.
//!
//! Invariants: the callback is accepted only with our `state` (compared
//! in constant time); the listener accepts a bounded number of
//! connections, reads a bounded request, and gives up after the timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

use crate::http::{join, HttpClient};
use crate::oidc::IdentityToken;
use crate::SignError;

/// Sigstore's public OAuth client (a public client: no secret).
pub const DEFAULT_CLIENT_ID: &str = "sigstore";
/// The callback path sigstore clients register.
pub const CALLBACK_PATH: &str = "/auth/callback";
/// Longest request line (with query) read from the browser.
const MAX_REQUEST_LINE: u64 = 16 * 1024;
/// Connections the listener serves before giving up (favicon requests,
/// stray local clients).
const MAX_CONNECTIONS: usize = 32;

const SERVICE: &str = "OIDC sign-in";

/// How to run the flow.
pub struct BrowserFlow<'a> {
    /// The issuer (its discovery document gives the endpoints).
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// How long to wait for the sign-in to complete.
    pub timeout: Duration,
    /// Shows the authorization URL to the person (opens a browser and/or
    /// prints it).
    pub open: &'a dyn Fn(&str),
}

#[derive(serde::Deserialize)]
struct Discovery {
    authorization_endpoint: String,
    token_endpoint: String,
}

fn random_b64(bytes: usize) -> Result<String, SignError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| SignError::Crypto("no randomness".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn flow_error(message: impl Into<String>) -> SignError {
    SignError::service(SERVICE, message.into())
}

/// Runs the sign-in and returns the ID token.
pub fn sign_in(http: &HttpClient, flow: &BrowserFlow<'_>) -> Result<IdentityToken, SignError> {
    let discovery_url = join(flow.issuer, "/.well-known/openid-configuration");
    let response = http.get(SERVICE, &discovery_url, &[("Accept", "application/json")])?;
    if !response.is_success() {
        return Err(SignError::Http {
            service: SERVICE.into(),
            status: response.status,
            message: format!("discovery at {discovery_url}: {}", response.error_message()),
        });
    }
    let discovery: Discovery = signet_model::from_json_slice(&response.body)
        .map_err(|e| SignError::response(SERVICE, format!("discovery document: {e}")))?;

    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| flow_error(format!("cannot listen on loopback: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| flow_error(e.to_string()))?
        .port();
    let redirect_uri = format!("http://localhost:{port}{CALLBACK_PATH}");
    let state = random_b64(32)?;
    let nonce = random_b64(32)?;
    let verifier = Zeroizing::new(random_b64(32)?);
    let challenge = URL_SAFE_NO_PAD.encode(signet_crypto::sha256(verifier.as_bytes()));

    let mut url = url::Url::parse(&discovery.authorization_endpoint)
        .map_err(|e| SignError::response(SERVICE, format!("authorization_endpoint: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", flow.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid email")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    (flow.open)(url.as_str());

    let code = Zeroizing::new(wait_for_code(&listener, &state, flow.timeout)?);
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("client_id", flow.client_id)
        .append_pair("code_verifier", &verifier)
        .finish();
    let form = Zeroizing::new(form);
    let response = http.post(
        SERVICE,
        &discovery.token_endpoint,
        "application/x-www-form-urlencoded",
        &[("Accept", "application/json")],
        form.as_bytes().to_vec(),
    )?;
    if !response.is_success() {
        return Err(SignError::Http {
            service: SERVICE.into(),
            status: response.status,
            message: format!("redeeming the code: {}", oauth_error(&response.body)),
        });
    }
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        id_token: String,
    }
    let answer: TokenAnswer = signet_model::from_json_slice(&response.body)
        .map_err(|e| SignError::response(SERVICE, format!("token answer: {e}")))?;
    let raw = Zeroizing::new(answer.id_token);
    let token = IdentityToken::parse(&raw)?;
    if token.nonce.as_deref() != Some(nonce.as_str()) {
        return Err(flow_error(
            "the ID token's nonce is not the one this sign-in sent",
        ));
    }
    Ok(token)
}

/// `error_description` (or `error`) of an OAuth error answer.
fn oauth_error(body: &[u8]) -> String {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    doc.get("error_description")
        .or_else(|| doc.get("error"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect())
}

/// Serves the loopback callback until it brings a code with our `state`.
fn wait_for_code(
    listener: &TcpListener,
    state: &str,
    timeout: Duration,
) -> Result<String, SignError> {
    let deadline = Instant::now() + timeout;
    listener
        .set_nonblocking(true)
        .map_err(|e| flow_error(e.to_string()))?;
    let mut served = 0;
    while served < MAX_CONNECTIONS {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(flow_error(format!(
                        "no sign-in completed within {} s",
                        timeout.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => return Err(flow_error(format!("loopback listener: {e}"))),
        };
        served += 1;
        match handle_callback(stream, state) {
            Callback::Code(code) => return Ok(code),
            Callback::Denied(why) => return Err(flow_error(format!("sign-in failed: {why}"))),
            Callback::Ignored => continue,
        }
    }
    Err(flow_error("too many requests on the loopback callback"))
}

enum Callback {
    Code(String),
    Denied(String),
    Ignored,
}

fn respond(mut stream: &TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><title>signet</title><p>{text}</p><p>You may close this window.</p>"
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn handle_callback(stream: TcpStream, state: &str) -> Callback {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    let mut reader = BufReader::new((&stream).take(MAX_REQUEST_LINE));
    if reader.read_line(&mut line).is_err() {
        return Callback::Ignored;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let Ok(url) = url::Url::parse(&format!("http://localhost{target}")) else {
        respond(&stream, "400 Bad Request", "Malformed request.");
        return Callback::Ignored;
    };
    if url.path() != CALLBACK_PATH {
        respond(&stream, "404 Not Found", "Not found.");
        return Callback::Ignored;
    }
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => got_state = Some(v.into_owned()),
            "error" | "error_description" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    let state_ok = got_state.is_some_and(|s| {
        aws_lc_rs::constant_time::verify_slices_are_equal(s.as_bytes(), state.as_bytes()).is_ok()
    });
    if !state_ok {
        // Not our sign-in (or forged): keep waiting for the real one.
        respond(&stream, "400 Bad Request", "Unexpected sign-in state.");
        return Callback::Ignored;
    }
    match (code, error) {
        (Some(code), None) => {
            respond(&stream, "200 OK", "Signed in to signet.");
            Callback::Code(code)
        }
        (_, Some(e)) => {
            respond(&stream, "200 OK", "Sign-in failed.");
            Callback::Denied(e)
        }
        (None, None) => {
            respond(&stream, "400 Bad Request", "No code in the callback.");
            Callback::Denied("the callback carried no code".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_with_another_state_is_ignored_and_ours_is_taken() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let browser = std::thread::spawn(move || {
            let send = |target: &str| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                write!(s, "GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                answer
            };
            let a = send("/favicon.ico");
            let b = send("/auth/callback?code=evil&state=wrong");
            let c = send("/auth/callback?code=good&state=ours");
            (a, b, c)
        });
        let code = wait_for_code(&listener, "ours", Duration::from_secs(10)).unwrap();
        assert_eq!(code, "good");
        let (a, b, c) = browser.join().unwrap();
        assert!(a.starts_with("HTTP/1.1 404"));
        assert!(b.starts_with("HTTP/1.1 400"));
        assert!(c.starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn an_error_callback_fails_and_silence_times_out() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            write!(
                s,
                "GET /auth/callback?error=access_denied&state=s HTTP/1.1\r\n\r\n"
            )
            .unwrap();
            let mut sink = String::new();
            let _ = s.read_to_string(&mut sink);
        });
        let err = wait_for_code(&listener, "s", Duration::from_secs(10)).unwrap_err();
        assert!(err.to_string().contains("access_denied"), "{err}");

        let quiet = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let err = wait_for_code(&quiet, "s", Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("no sign-in"), "{err}");
    }

    /// A provider that answers the code exchange with a token minted for
    /// another sign-in (a nonce that is not ours): the flow must refuse it.
    #[test]
    fn a_token_with_another_nonce_is_refused() {
        let provider = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let base = format!("http://127.0.0.1:{}", provider.local_addr().unwrap().port());
        let claims = serde_json::json!({
            "iss": base, "sub": "alice", "email": "alice@example.com",
            "aud": "sigstore", "exp": 4_000_000_000u64, "nonce": "someone-elses-nonce"
        });
        let token = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let discovery = serde_json::json!({
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
        })
        .to_string();
        std::thread::spawn(move || {
            for answer in [
                discovery,
                serde_json::json!({ "id_token": token }).to_string(),
            ] {
                let (mut s, _) = provider.accept().unwrap();
                let mut request = [0u8; 8192];
                let _ = s.read(&mut request).unwrap();
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
            }
        });
        // The "browser": follows the authorization URL straight back to the
        // callback with a code and our state.
        let open = |url: &str| {
            let url = url::Url::parse(url).unwrap();
            let query: std::collections::HashMap<String, String> =
                url.query_pairs().into_owned().collect();
            let callback = url::Url::parse(&query["redirect_uri"]).unwrap();
            let port = callback.port().unwrap();
            let state = query["state"].clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                write!(
                    s,
                    "GET /auth/callback?code=c&state={state} HTTP/1.1\r\nHost: localhost\r\n\r\n"
                )
                .unwrap();
                let mut sink = String::new();
                let _ = s.read_to_string(&mut sink);
            });
        };
        let http = HttpClient::new(Duration::from_secs(10)).unwrap();
        let flow = BrowserFlow {
            issuer: &base,
            client_id: "sigstore",
            timeout: Duration::from_secs(10),
            open: &open,
        };
        let err = sign_in(&http, &flow).unwrap_err();
        assert!(err.to_string().contains("nonce"), "{err}");
    }
}
