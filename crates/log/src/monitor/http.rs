//! A bounded HTTP client: every request has a timeout, every response body
//! a size limit, and redirects are not followed.

use std::time::Duration;

use reqwest::StatusCode;

/// Why a request failed. `Status` and `Transport` are the network's (or the
/// server's operational) problems, not evidence about the log's contents.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: response body larger than {max} bytes")]
    TooLarge { url: String, max: usize },
}

impl HttpError {
    /// The error without the URL.
    pub fn reason(&self) -> String {
        match self {
            HttpError::Transport { reason, .. } => reason.clone(),
            HttpError::Status { status, .. } => format!("HTTP {status}"),
            HttpError::TooLarge { max, .. } => format!("response body larger than {max} bytes"),
        }
    }
}

/// An HTTP client with a per-request timeout.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
}

/// reqwest errors may print the URL with its query; keep the message short.
fn reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.without_url().to_string()
    }
}

impl Http {
    pub fn new(timeout: Duration) -> Result<Http, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("signet-log-monitor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Transport {
                url: String::new(),
                reason: reason(e),
            })?;
        Ok(Http { client })
    }

    /// GETs `url`; `Ok(None)` on 404; the body must fit `max` bytes.
    pub async fn get_opt(&self, url: &str, max: usize) -> Result<Option<Vec<u8>>, HttpError> {
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| HttpError::Transport {
                url: url.to_string(),
                reason: reason(e),
            })?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(HttpError::Status {
                url: url.to_string(),
                status: resp.status().as_u16(),
            });
        }
        read_bounded(url, resp, max).await.map(Some)
    }

    /// GETs `url`; any status but 2xx is an error.
    pub async fn get(&self, url: &str, max: usize) -> Result<Vec<u8>, HttpError> {
        self.get_opt(url, max)
            .await?
            .ok_or_else(|| HttpError::Status {
                url: url.to_string(),
                status: 404,
            })
    }

    /// POSTs a JSON body; any status but 2xx is an error. The answer is
    /// read (up to 64 KiB) and dropped.
    pub async fn post_json(&self, url: &str, body: Vec<u8>) -> Result<(), HttpError> {
        let resp = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| HttpError::Transport {
                url: url.to_string(),
                reason: reason(e),
            })?;
        let status = resp.status();
        let _ = read_bounded(url, resp, 64 << 10).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(HttpError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            })
        }
    }
}

async fn read_bounded(
    url: &str,
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, HttpError> {
    let too_large = || HttpError::TooLarge {
        url: url.to_string(),
        max,
    };
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| HttpError::Transport {
        url: url.to_string(),
        reason: reason(e),
    })? {
        if out.len() + chunk.len() > max {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
