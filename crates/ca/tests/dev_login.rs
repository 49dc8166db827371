//! The dev issuer's authorization-code + PKCE sign-in, driven by signet's
//! browser-flow client with a scripted "browser" (an HTTP client that
//! follows the authorization URL like a person who typed an email).

use std::sync::Arc;
use std::time::Duration;

use signet_ca::dev_oidc::{self, DevAlg, DevIssuer};
use signet_sign::browser::{sign_in, BrowserFlow};
use signet_sign::HttpClient;

struct Issuer {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

fn start_issuer() -> Issuer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let issuer = Arc::new(DevIssuer::generate(&url, DevAlg::Es256, 600).unwrap());
    runtime.spawn(dev_oidc::serve(listener, issuer, std::future::pending()));
    Issuer {
        url,
        _runtime: runtime,
    }
}

fn browser() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Plays the person: opens the authorization URL signed in as `email`,
/// and follows the redirect to the client's loopback callback.
fn person(email: &'static str) -> impl Fn(&str) {
    move |url: &str| {
        let url = format!("{url}&login_hint={}", email.replace('@', "%40"));
        std::thread::spawn(move || {
            let b = browser();
            // Without a login hint the issuer shows its sign-in form.
            let form = b
                .get(url.split("&login_hint").next().unwrap())
                .send()
                .unwrap();
            assert_eq!(form.status(), 200);
            assert!(form.text().unwrap().contains("DEV ONLY"));
            let answer = b.get(&url).send().unwrap();
            assert_eq!(answer.status(), 303);
            let callback = answer.headers()["location"].to_str().unwrap().to_string();
            assert!(callback.starts_with("http://localhost:"), "{callback}");
            let done = b.get(&callback).send().unwrap();
            assert_eq!(done.status(), 200);
        });
    }
}

#[test]
fn browser_sign_in_yields_a_token_for_the_person() {
    let issuer = start_issuer();
    let http = HttpClient::new(Duration::from_secs(10)).unwrap();
    let open = person("alice@example.com");
    let token = sign_in(
        &http,
        &BrowserFlow {
            issuer: &issuer.url,
            client_id: "sigstore",
            timeout: Duration::from_secs(30),
            open: &open,
        },
    )
    .unwrap();
    assert_eq!(token.email.as_deref(), Some("alice@example.com"));
    assert_eq!(token.issuer, issuer.url);
}

/// Starts an authorization and returns (code, redirect_uri) without
/// redeeming it, for the negative cases.
fn authorize(issuer: &Issuer, verifier: &str, redirect: &str) -> reqwest::blocking::Response {
    use base64::Engine;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(signet_crypto::sha256(verifier.as_bytes()));
    let mut url = url::Url::parse(&format!("{}/authorize", issuer.url)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "sigstore")
        .append_pair("redirect_uri", redirect)
        .append_pair("state", "st")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", "bob@example.com");
    browser().get(url).send().unwrap()
}

fn code_of(answer: reqwest::blocking::Response) -> String {
    assert_eq!(answer.status(), 303);
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("state".into(), "st".into())));
    pairs.into_iter().find(|(k, _)| k == "code").unwrap().1
}

fn redeem(issuer: &Issuer, code: &str, verifier: &str, redirect: &str) -> (u16, serde_json::Value) {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect)
        .append_pair("client_id", "sigstore")
        .append_pair("code_verifier", verifier)
        .finish();
    let answer = browser()
        .post(format!("{}/token", issuer.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .unwrap();
    let status = answer.status().as_u16();
    (
        status,
        serde_json::from_slice(&answer.bytes().unwrap()).unwrap(),
    )
}

const VERIFIER: &str = "a-code-verifier-that-is-long-enough-for-pkce-0123456789";
const REDIRECT: &str = "http://127.0.0.1:9/auth/callback";

#[test]
fn codes_need_the_verifier_and_are_single_use() {
    let issuer = start_issuer();
    let code = code_of(authorize(&issuer, VERIFIER, REDIRECT));
    let (status, doc) = redeem(&issuer, &code, "wrong-verifier", REDIRECT);
    assert_eq!(status, 400, "{doc}");
    // A failed redemption burns the code too.
    let (status, doc) = redeem(&issuer, &code, VERIFIER, REDIRECT);
    assert_eq!(
        (status, doc["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let code = code_of(authorize(&issuer, VERIFIER, REDIRECT));
    let (status, doc) = redeem(
        &issuer,
        &code,
        VERIFIER,
        "http://127.0.0.1:10/auth/callback",
    );
    assert_eq!(status, 400, "another redirect_uri: {doc}");

    let code = code_of(authorize(&issuer, VERIFIER, REDIRECT));
    let (status, doc) = redeem(&issuer, &code, VERIFIER, REDIRECT);
    assert_eq!(status, 200, "{doc}");
    assert!(doc["id_token"].is_string());
    let (status, _) = redeem(&issuer, &code, VERIFIER, REDIRECT);
    assert_eq!(status, 400, "a code redeems once");
}

#[test]
fn only_loopback_redirects_and_pkce_are_accepted() {
    let issuer = start_issuer();
    let answer = authorize(&issuer, VERIFIER, "http://evil.example/auth/callback");
    assert_eq!(answer.status(), 400);
    assert!(answer.headers().get("location").is_none());
    let answer = authorize(&issuer, VERIFIER, "https://localhost/auth/callback");
    assert_eq!(answer.status(), 400);

    let no_pkce = browser()
        .get(format!(
            "{}/authorize?response_type=code&client_id=sigstore&redirect_uri={}&login_hint=x%40y",
            issuer.url,
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        ))
        .send()
        .unwrap();
    assert_eq!(no_pkce.status(), 400);
}
