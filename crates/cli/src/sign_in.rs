//! Where a keyless signature's identity token comes from: an explicit
//! token, the environment (SIGSTORE_ID_TOKEN, GitHub Actions), or, for a
//! person at a terminal, an interactive sign-in in the browser (OAuth 2.0
//! authorization code + PKCE against the signing config's OIDC issuer).

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Args, ValueEnum};
use signet_sign::browser::{self, BrowserFlow};
use signet_sign::flow::SigningContext;
use signet_sign::oidc::{self, IdentityToken, ProcessEnv};
use signet_sign::SignError;

use crate::sign_cmd::{usage, Failure, SignerArgs};

/// When to sign in interactively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OidcFlow {
    /// In the browser when no token is found and signet runs on a terminal.
    Auto,
    /// In the browser whenever no token is found (prints the URL to open).
    Browser,
    /// Never: fail when no token is found.
    None,
}

/// Interactive sign-in flags (cosign's names where cosign has them).
#[derive(Args, Debug)]
pub struct SignInArgs {
    /// The OIDC issuer to sign in with (default: the signing config's).
    #[arg(long)]
    oidc_issuer: Option<String>,
    /// The OAuth client ID to sign in as.
    #[arg(long, default_value = browser::DEFAULT_CLIENT_ID)]
    oidc_client_id: String,
    /// When to sign in interactively.
    #[arg(long, value_enum, default_value_t = OidcFlow::Auto)]
    oidc_flow: OidcFlow,
    /// How long to wait for the sign-in, in seconds.
    #[arg(long, default_value_t = 300)]
    oidc_timeout: u64,
}

impl SignInArgs {
    /// No interactive sign-in (the conformance verb, which always gets a
    /// token).
    pub(crate) fn never() -> Self {
        SignInArgs {
            oidc_issuer: None,
            oidc_client_id: browser::DEFAULT_CLIENT_ID.to_string(),
            oidc_flow: OidcFlow::None,
            oidc_timeout: 300,
        }
    }
}

/// Shows the person where to sign in: always prints the URL, and asks
/// `$BROWSER` (else xdg-open) to open it.
fn open_in_browser(url: &str) {
    eprintln!("signet: sign in with your browser at:\n\n    {url}\n");
    let program = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "xdg-open".to_string());
    let _ = std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// The identity token for a keyless signature.
pub(crate) fn identity_token(
    args: &SignerArgs,
    context: &SigningContext,
) -> Result<IdentityToken, Failure> {
    let found = oidc::detect(
        args.identity_token.as_deref(),
        &ProcessEnv,
        context.http(),
        context.oidc_url(),
    );
    let flags = &args.sign_in;
    let interactive = match flags.oidc_flow {
        OidcFlow::Auto => std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        OidcFlow::Browser => true,
        OidcFlow::None => false,
    };
    match found {
        Err(SignError::NoToken(_)) if interactive => {
            let issuer = flags
                .oidc_issuer
                .as_deref()
                .or(context.oidc_url())
                .ok_or_else(|| {
                    usage("no OIDC issuer to sign in with: give --oidc-issuer, or a signing config that lists one")
                })?;
            Ok(browser::sign_in(
                context.http(),
                &BrowserFlow {
                    issuer,
                    client_id: &flags.oidc_client_id,
                    timeout: Duration::from_secs(flags.oidc_timeout.max(1)),
                    open: &open_in_browser,
                },
            )?)
        }
        other => Ok(other?),
    }
}
