//! The one HTTP client of the signing services: rustls on aws-lc-rs,
//! timeouts, and response bodies read with a size bound.

use std::io::Read;
use std::time::Duration;

use crate::SignError;

/// Largest response body accepted from any service (certificate chains,
/// log entries and timestamps are a few KiB).
pub const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

const USER_AGENT: &str = concat!("signet/", env!("CARGO_PKG_VERSION"));

/// A response: status and bounded body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub location: Option<String>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A short, printable excerpt of an error body (services answer
    /// `{"code":…,"message":…}`), for error messages.
    pub fn error_message(&self) -> String {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            message: Option<String>,
        }
        if let Ok(ErrorBody { message: Some(m) }) = serde_json::from_slice(&self.body) {
            return truncate(&m);
        }
        truncate(&String::from_utf8_lossy(&self.body))
    }
}

fn truncate(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A blocking HTTP client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: reqwest::blocking::Client,
}

impl HttpClient {
    /// `timeout` bounds each whole request (Rekor v2 answers only once the
    /// entry is in the tree, which can take seconds).
    pub fn new(timeout: Duration) -> Result<Self, SignError> {
        let inner = reqwest::blocking::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SignError::Other(format!("HTTP client: {e}")))?;
        Ok(HttpClient { inner })
    }

    /// POSTs `body` with the given content type and headers; `service`
    /// names the peer in errors. Header values are never logged.
    pub fn post(
        &self,
        service: &str,
        url: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response, SignError> {
        let mut request = self
            .inner
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().map_err(|e| {
            SignError::service(
                service,
                format!("request to {url} failed: {}", without_url(&e)),
            )
        })?;
        read(service, response)
    }

    /// GETs `url` with headers.
    pub fn get(
        &self,
        service: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, SignError> {
        let mut request = self.inner.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().map_err(|e| {
            SignError::service(
                service,
                format!("request to {url} failed: {}", without_url(&e)),
            )
        })?;
        read(service, response)
    }
}

/// reqwest errors print the URL, which for GitHub's token endpoint carries
/// a query we would rather not echo twice; keep only the cause.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

fn read(service: &str, response: reqwest::blocking::Response) -> Result<Response, SignError> {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    response
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| SignError::service(service, format!("reading the response: {e}")))?;
    if body.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(SignError::response(
            service,
            format!("response is larger than {MAX_RESPONSE_BYTES} bytes"),
        ));
    }
    Ok(Response {
        status,
        body,
        location,
    })
}

/// Joins a service base URL and an API path (`https://x/` + `/api/v1/…`).
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
