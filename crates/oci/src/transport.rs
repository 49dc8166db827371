//! HTTP for the registry client: one reqwest client (rustls on aws-lc-rs),
//! the http-or-https decision per host, bounded bodies, retries with
//! exponential backoff on 429 and 5xx, and authentication on 401.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::Method;
use zeroize::Zeroizing;

use crate::auth::{parse_token, Challenge, Credential, CredentialSource, Token};
use crate::OciError;

const USER_AGENT: &str = concat!("signet/", env!("CARGO_PKG_VERSION"));

/// How the client talks to registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Extra trusted CA certificates (PEM) for registries with a private CA.
    pub ca_certs_pem: Vec<Vec<u8>>,
    /// Allow plain HTTP to any registry (it is always allowed for loopback
    /// hosts). Certificates are still verified whenever TLS is used.
    pub allow_insecure: bool,
    pub credentials: CredentialSource,
    /// Bound on each whole request.
    pub timeout: Duration,
    /// Attempts per request on 429, 5xx and connection failures.
    pub max_attempts: u32,
    /// First backoff; doubled per attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            ca_certs_pem: Vec::new(),
            allow_insecure: false,
            credentials: CredentialSource::DockerConfig,
            timeout: Duration::from_secs(60),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// What one host has told us so far.
#[derive(Default)]
struct HostState {
    scheme: Option<&'static str>,
    credential: Option<Option<Credential>>,
    /// The host asked for Basic auth: send it up front from now on.
    basic: bool,
    /// Bearer tokens by the scope they were asked for.
    tokens: HashMap<String, Token>,
}

/// A registry's answer: status, headers, bounded body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A short excerpt of the registry's error (`{"errors":[{"code","message"}]}`).
    pub fn error_message(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Errors {
            errors: Vec<ErrorItem>,
        }
        #[derive(serde::Deserialize)]
        struct ErrorItem {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        let text = match serde_json::from_slice::<Errors>(&self.body) {
            Ok(e) if !e.errors.is_empty() => e
                .errors
                .iter()
                .map(|i| format!("{} {}", i.code, i.message))
                .collect::<Vec<_>>()
                .join("; "),
            _ => String::from_utf8_lossy(&self.body).into_owned(),
        };
        let text = text.trim();
        match text.char_indices().nth(200) {
            Some((i, _)) => format!("{}…", &text[..i]),
            None if text.is_empty() => "(no message)".into(),
            None => text.to_string(),
        }
    }
}

/// One request, replayable across retries.
pub(crate) struct Request<'a> {
    pub method: Method,
    /// A path under the host (`/v2/…`) or an absolute URL on the same host
    /// (an upload location).
    pub target: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    /// What the request is for, in messages.
    pub what: &'a str,
    /// `repository:<name>:pull` or `…:pull,push`.
    pub scope: String,
    /// Largest body accepted.
    pub limit: u64,
}

pub(crate) struct Transport {
    client: Client,
    probe: Client,
    options: RegistryOptions,
    hosts: Mutex<HashMap<String, HostState>>,
}

/// Whether `host[:port]` is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// reqwest errors print the URL, which may carry a token endpoint's query;
/// keep only the cause chain.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether a request failed on the peer's TLS certificate (rustls reports
/// these as "invalid peer certificate: …").
fn is_certificate_error(e: &reqwest::Error) -> bool {
    describe(e).contains("certificate")
}

/// What a probe of a registry's `/v2/` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// Any HTTP answer.
    Answered,
    /// The TLS handshake failed on the server's certificate.
    CertificateError,
    /// No HTTP answer (refused, timed out, not the protocol spoken there).
    NoAnswer,
}

/// The scheme of a host where plain HTTP is allowed: HTTPS whenever it
/// answers, or fails on its certificate (an unknown CA must stay an error,
/// not become a downgrade); plain HTTP only when HTTPS gets no answer and
/// HTTP does, as go-containerregistry falls back. Asking HTTP first would
/// let port 80 (or whoever answers there) decide for a TLS registry on 443.
fn choose_scheme(https: Probe, http: impl FnOnce() -> Probe) -> &'static str {
    match https {
        Probe::Answered | Probe::CertificateError => "https",
        Probe::NoAnswer if http() == Probe::Answered => "http",
        Probe::NoAnswer => "https",
    }
}

fn build_client(
    options: &RegistryOptions,
    timeout: Duration,
    redirect: reqwest::redirect::Policy,
) -> Result<Client, OciError> {
    let mut builder = Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .redirect(redirect);
    for pem in &options.ca_certs_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| OciError::Config(format!("registry CA certificate: {}", describe(&e))))?;
        if certs.is_empty() {
            return Err(OciError::Config(
                "registry CA certificate file holds no certificate".into(),
            ));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| OciError::Config(format!("HTTP client: {}", describe(&e))))
}

impl Transport {
    pub fn new(options: RegistryOptions) -> Result<Self, OciError> {
        // Blob downloads redirect to storage; reqwest drops Authorization
        // when a redirect leaves the host. A probe takes what the host
        // itself answers, never where it points.
        let client = build_client(
            &options,
            options.timeout,
            reqwest::redirect::Policy::limited(5),
        )?;
        let probe = build_client(
            &options,
            Duration::from_secs(5),
            reqwest::redirect::Policy::none(),
        )?;
        Ok(Transport {
            client,
            probe,
            options,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    fn with_host<T>(&self, host: &str, f: impl FnOnce(&mut HostState) -> T) -> T {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        f(hosts.entry(host.to_string()).or_default())
    }

    fn plain_http_allowed(&self, host: &str) -> bool {
        self.options.allow_insecure || is_loopback(host)
    }

    /// `https://host`, or `http://host` where plain HTTP is allowed and
    /// the host does not speak TLS.
    pub fn base_url(&self, host: &str) -> String {
        if let Some(scheme) = self.with_host(host, |s| s.scheme) {
            return format!("{scheme}://{host}");
        }
        let scheme = if !self.plain_http_allowed(host) {
            "https"
        } else {
            let probe = |url: String| match self.probe.get(url).send() {
                Ok(_) => Probe::Answered,
                Err(e) if is_certificate_error(&e) => Probe::CertificateError,
                Err(_) => Probe::NoAnswer,
            };
            choose_scheme(probe(format!("https://{host}/v2/")), || {
                probe(format!("http://{host}/v2/"))
            })
        };
        self.with_host(host, |s| s.scheme = Some(scheme));
        format!("{scheme}://{host}")
    }

    fn credential(&self, host: &str) -> Result<Option<Credential>, OciError> {
        if let Some(c) = self.with_host(host, |s| s.credential.clone()) {
            return Ok(c);
        }
        let found = self.options.credentials.lookup(host)?;
        self.with_host(host, |s| s.credential = Some(found.clone()));
        Ok(found)
    }

    fn authorization(
        &self,
        host: &str,
        scope: &str,
    ) -> Result<Option<Zeroizing<String>>, OciError> {
        let (basic, token) = self.with_host(host, |s| (s.basic, s.tokens.get(scope).cloned()));
        if let Some(t) = token {
            return Ok(Some(Zeroizing::new(format!("Bearer {}", t.0.as_str()))));
        }
        if basic {
            return Ok(self.credential(host)?.map(|c| c.basic_header()));
        }
        Ok(None)
    }

    fn backoff(&self, attempt: u32, retry_after: Option<&str>) -> Duration {
        let exp = self
            .options
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let wanted = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or(exp);
        wanted.min(self.options.max_backoff)
    }

    /// Sends `request` to `host`, authenticating and retrying as needed.
    /// Statuses other than 401/403/429/5xx are returned to the caller.
    pub fn send(&self, host: &str, request: &Request<'_>) -> Result<Response, OciError> {
        let base = self.base_url(host);
        let url = if request.target.starts_with("http://") || request.target.starts_with("https://")
        {
            request.target.clone()
        } else {
            format!("{base}{}", request.target)
        };
        let max = self.options.max_attempts.max(1);
        let mut attempt = 0u32;
        let mut authenticated = false;
        loop {
            attempt += 1;
            let mut builder: RequestBuilder = self.client.request(request.method.clone(), &url);
            for (name, value) in &request.headers {
                builder = builder.header(*name, value);
            }
            if let Some(auth) = self.authorization(host, &request.scope)? {
                let mut value = HeaderValue::from_str(&auth).map_err(|_| {
                    OciError::Credentials("credential is not a valid header value".into())
                })?;
                value.set_sensitive(true);
                builder = builder.header(AUTHORIZATION, value);
            }
            if let Some(body) = &request.body {
                builder = builder.body(body.clone());
            }
            let response = match builder.send() {
                Ok(r) => r,
                // Certificate problems do not go away by asking again.
                Err(e) if attempt < max && !is_certificate_error(&e) => {
                    std::thread::sleep(self.backoff(attempt, None));
                    continue;
                }
                Err(e) if attempt == 1 => {
                    return Err(OciError::Transport {
                        registry: host.to_string(),
                        what: request.what.to_string(),
                        why: describe(&e),
                    })
                }
                Err(e) => {
                    return Err(OciError::GaveUp {
                        registry: host.to_string(),
                        what: request.what.to_string(),
                        attempts: attempt,
                        last: describe(&e),
                    })
                }
            };
            let status = response.status().as_u16();
            match status {
                401 if !authenticated => {
                    authenticated = true;
                    attempt -= 1;
                    let challenge = response
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(Challenge::parse);
                    self.authenticate(host, request, challenge)?;
                    continue;
                }
                401 | 403 => {
                    let r = read(host, request, response)?;
                    let why = if self.credential(host)?.is_some() {
                        format!(
                            "HTTP {status} with the configured credentials: {}",
                            r.error_message()
                        )
                    } else {
                        format!(
                            "HTTP {status}, no credentials configured (docker login, or --registry-username): {}",
                            r.error_message()
                        )
                    };
                    return Err(OciError::Denied {
                        registry: host.to_string(),
                        what: request.what.to_string(),
                        why,
                    });
                }
                429 | 500..=599 if attempt < max => {
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    std::thread::sleep(self.backoff(attempt, retry_after.as_deref()));
                    continue;
                }
                429 | 500..=599 => {
                    let r = read(host, request, response)?;
                    return Err(OciError::GaveUp {
                        registry: host.to_string(),
                        what: request.what.to_string(),
                        attempts: attempt,
                        last: format!("HTTP {status}: {}", r.error_message()),
                    });
                }
                _ => return read(host, request, response),
            }
        }
    }

    /// Answers a 401's challenge: Basic from now on, or a bearer token for
    /// this scope from the token endpoint.
    fn authenticate(
        &self,
        host: &str,
        request: &Request<'_>,
        challenge: Option<Challenge>,
    ) -> Result<(), OciError> {
        let denied = |why: String| OciError::Denied {
            registry: host.to_string(),
            what: request.what.to_string(),
            why,
        };
        match challenge {
            None => Err(denied(
                "HTTP 401 without a challenge signet can answer".into(),
            )),
            Some(Challenge::Basic) => {
                if self.credential(host)?.is_none() {
                    return Err(denied(
                        "the registry asks for a username and password; none configured \
                         (docker login, or --registry-username)"
                            .into(),
                    ));
                }
                self.with_host(host, |s| s.basic = true);
                Ok(())
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let token =
                    self.fetch_token(host, request, &realm, service.as_deref(), scope.as_deref())?;
                self.with_host(host, |s| {
                    s.tokens.insert(request.scope.clone(), token);
                });
                Ok(())
            }
        }
    }

    fn fetch_token(
        &self,
        host: &str,
        request: &Request<'_>,
        realm: &str,
        service: Option<&str>,
        challenge_scope: Option<&str>,
    ) -> Result<Token, OciError> {
        let mut url = url::Url::parse(realm).map_err(|e| OciError::malformed("token realm", e))?;
        let realm_host = url.host_str().unwrap_or_default().to_string();
        match url.scheme() {
            "https" => {}
            "http" if self.options.allow_insecure || is_loopback(&realm_host) => {}
            other => {
                return Err(OciError::Insecure(format!(
                    "{host} names a token endpoint over {other}: refusing to send credentials \
                     there (--allow-insecure-registry allows plain HTTP)"
                )))
            }
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(s) = service {
                query.append_pair("service", s);
            }
            // The scope this request needs; the challenge's if it says more.
            let scope = match challenge_scope {
                Some(s) if s.contains("push") || !request.scope.contains("push") => s,
                _ => request.scope.as_str(),
            };
            query.append_pair("scope", scope);
        }
        let mut builder = self.client.get(url);
        if let Some(c) = self.credential(host)? {
            let mut value = HeaderValue::from_str(&c.basic_header()).map_err(|_| {
                OciError::Credentials("credential is not a valid header value".into())
            })?;
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        let response = builder.send().map_err(|e| OciError::Transport {
            registry: realm_host.clone(),
            what: format!("token for {}", request.what),
            why: describe(&e),
        })?;
        let status = response.status().as_u16();
        let r = read(&realm_host, request, response)?;
        if !(200..300).contains(&status) {
            return Err(OciError::Denied {
                registry: host.to_string(),
                what: request.what.to_string(),
                why: format!(
                    "the token endpoint answered HTTP {status}: {}",
                    r.error_message()
                ),
            });
        }
        parse_token(&r.body)
    }
}

fn read(
    host: &str,
    request: &Request<'_>,
    response: reqwest::blocking::Response,
) -> Result<Response, OciError> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if request.method == Method::HEAD {
        return Ok(Response {
            status,
            headers,
            body: Vec::new(),
        });
    }
    if let Some(len) = response.content_length() {
        if len > request.limit {
            return Err(OciError::TooLarge {
                what: format!("{} (from {host})", request.what),
                limit: request.limit,
            });
        }
    }
    let mut body = Vec::new();
    response
        .take(request.limit + 1)
        .read_to_end(&mut body)
        .map_err(|e| OciError::Transport {
            registry: host.to_string(),
            what: request.what.to_string(),
            why: format!("reading the response: {e}"),
        })?;
    if body.len() as u64 > request.limit {
        return Err(OciError::TooLarge {
            what: format!("{} (from {host})", request.what),
            limit: request.limit,
        });
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:80",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "registry.example",
            "localhost.example:5000",
            "[::2]:1",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn plain_http_only_when_https_gets_no_answer() {
        let never = || -> Probe { panic!("HTTP must not be asked when HTTPS answered") };
        assert_eq!(choose_scheme(Probe::Answered, never), "https");
        assert_eq!(choose_scheme(Probe::CertificateError, never), "https");
        assert_eq!(choose_scheme(Probe::NoAnswer, || Probe::Answered), "http");
        assert_eq!(choose_scheme(Probe::NoAnswer, || Probe::NoAnswer), "https");
        assert_eq!(
            choose_scheme(Probe::NoAnswer, || Probe::CertificateError),
            "https"
        );
    }

    #[test]
    fn backoff_is_bounded() {
        let t = Transport::new(RegistryOptions::default()).unwrap();
        assert_eq!(t.backoff(1, None), Duration::from_millis(250));
        assert_eq!(t.backoff(3, None), Duration::from_secs(1));
        assert_eq!(t.backoff(30, None), Duration::from_secs(8));
        assert_eq!(t.backoff(1, Some("2")), Duration::from_secs(2));
        assert_eq!(t.backoff(1, Some("3600")), Duration::from_secs(8));
    }
}
