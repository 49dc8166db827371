//! `signet dev token`: fetch an ID token from a `signet dev oidc` issuer
//! (or the one `signet up` runs) and print it, for scripts:
//! `TOKEN=$(signet dev token --issuer URL --email alice@example.com)`.
//! DEV ONLY, like the issuer. The token goes to stdout and nowhere else.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Largest answer accepted from the issuer.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The dev issuer's URL (`signet up` prints it).
    #[arg(long, env = "SIGNET_DEV_OIDC_ISSUER")]
    issuer: String,
    /// The `sub` claim (default: the email).
    #[arg(long)]
    sub: Option<String>,
    /// The `email` claim (with `email_verified: true`). The CA `signet up`
    /// runs treats the dev issuer as an email issuer, so give one.
    #[arg(long)]
    email: Option<String>,
    /// The `aud` claim (default: sigstore).
    #[arg(long)]
    aud: Option<String>,
    /// Lifetime in seconds (default: the issuer's, 600).
    #[arg(long)]
    ttl: Option<u64>,
}

#[derive(Serialize)]
struct TokenRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u64>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: String,
}

/// Why no token was fetched.
#[derive(Debug, thiserror::Error)]
enum TokenError {
    #[error("give --sub or --email")]
    NoIdentity,
    #[error("HTTP client: {0}")]
    Client(String),
    #[error("request to {0} failed: {1}")]
    Request(String, String),
    #[error("{url} answered {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{0} answered something that is not a token response")]
    Malformed(String),
}

fn fetch(args: &TokenArgs) -> Result<Zeroizing<String>, TokenError> {
    if args.sub.is_none() && args.email.is_none() {
        return Err(TokenError::NoIdentity);
    }
    let url = format!("{}/token", args.issuer.trim_end_matches('/'));
    let body = serde_json::to_vec(&TokenRequest {
        sub: args.sub.as_deref(),
        email: args.email.as_deref(),
        aud: args.aud.as_deref(),
        ttl: args.ttl,
    })
    .map_err(|e| TokenError::Client(e.to_string()))?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TokenError::Client(e.to_string()))?;
    let response = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .map_err(|e| TokenError::Request(url.clone(), e.to_string()))?;
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    response
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| TokenError::Request(url.clone(), e.to_string()))?;
    let bytes = Zeroizing::new(bytes);
    if !(200..300).contains(&status) {
        let message: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
        return Err(TokenError::Status {
            url,
            status,
            message,
        });
    }
    let answer: TokenAnswer =
        signet_model::from_json_slice(&bytes).map_err(|_| TokenError::Malformed(url.clone()))?;
    Ok(Zeroizing::new(answer.id_token))
}

pub fn token(args: TokenArgs) -> ExitCode {
    match fetch(&args) {
        Ok(token) => {
            println!("{}", token.as_str());
            ExitCode::SUCCESS
        }
        Err(e @ TokenError::NoIdentity) => {
            eprintln!("signet: dev token: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("signet: dev token: {e}");
            ExitCode::FAILURE
        }
    }
}
