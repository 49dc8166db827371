//! `signet up`: a private Sigstore stack (log, CA, DEV ONLY OIDC issuer)
//! in one process, until Ctrl-C or SIGTERM. See [`crate::stack`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::stack::{self, RunningStack, StackOptions};

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where the log, the CA keys and the client files live; restarting
    /// with the same directory keeps the keys, the log and the ports.
    #[arg(long, default_value = "signet-up")]
    data_dir: PathBuf,
    /// Address to listen on (loopback only: the OIDC issuer is DEV ONLY).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Log port (0: any free port; default: the last run's, else any).
    #[arg(long)]
    log_port: Option<u16>,
    /// CA port (0: any free port; default: the last run's, else any).
    #[arg(long)]
    ca_port: Option<u16>,
    /// OIDC issuer port (0: any free port; default: the last run's, else any).
    #[arg(long)]
    oidc_port: Option<u16>,
    /// Also run an RFC 3161 timestamp authority and name it in the trusted
    /// root and signing config.
    #[arg(long)]
    tsa: bool,
    /// TSA port (0: any free port; default: the last run's, else any).
    #[arg(long, requires = "tsa")]
    tsa_port: Option<u16>,
    /// Once everything is up, write the URLs and file paths here as JSON
    /// (for scripts and tests; written atomically).
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

/// The `--ready-file` document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready<'a> {
    pub pid: u32,
    pub data_dir: &'a Path,
    pub log_url: &'a str,
    pub ca_url: &'a str,
    pub oidc_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsa_url: Option<&'a str>,
    pub trusted_root: &'a Path,
    pub signing_config: &'a Path,
    pub trust_config: &'a Path,
}

pub fn up(args: UpArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let opts = StackOptions {
        data_dir: args.data_dir.clone(),
        host: args.host,
        log_port: args.log_port,
        ca_port: args.ca_port,
        oidc_port: args.oidc_port,
        tsa: args.tsa,
        tsa_port: args.tsa_port,
    };
    runtime.block_on(async move {
        let running = match stack::start(&opts).await {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        if let Some(path) = &args.ready_file {
            if let Err(e) = write_ready(path, &running) {
                let _ = running.stop().await;
                return fail(e);
            }
        }
        print_banner(&running);
        shutdown_signal().await;
        eprintln!("signet up: stopping");
        match running.stop().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        }
    })
}

fn write_ready(path: &Path, running: &RunningStack) -> Result<(), stack::StackError> {
    let ready = Ready {
        pid: std::process::id(),
        data_dir: &running.data_dir,
        log_url: &running.urls.log,
        ca_url: &running.urls.ca,
        oidc_url: &running.urls.oidc,
        tsa_url: running.urls.tsa.as_deref(),
        trusted_root: &running.files.trusted_root,
        signing_config: &running.files.signing_config,
        trust_config: &running.files.trust_config,
    };
    let json = serde_json::to_vec_pretty(&ready).map_err(|e| stack::StackError::Io {
        what: "encoding the ready file".into(),
        source: std::io::Error::other(e),
    })?;
    stack::write_atomically(path, &json)
}

/// Shell-quotes `text` if it needs it.
fn sh(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn print_banner(running: &RunningStack) {
    let urls = &running.urls;
    let files = &running.files;
    let root = sh(&files.trusted_root.display().to_string());
    let trust = sh(&files.trust_config.display().to_string());
    let email = "alice@example.com";
    let tsa = urls.tsa.as_ref().map_or(String::new(), |t| {
        format!("\x20 timestamp auth.   {t}   (RFC 3161, /api/v1/timestamp)\n")
    });
    println!(
        "signet up: a private Sigstore stack\n\
         \x20 transparency log  {log}   (Rekor v1 and v2 APIs)\n\
         \x20 certificate auth. {ca}   (Fulcio API)\n\
         \x20 OIDC issuer       {oidc}   DEV ONLY: mints tokens for ANY identity\n\
         {tsa}\x20 data directory    {dir}\n\
         \x20 trusted root      {root}\n\
         \x20 signing config    {config}\n\
         \x20 trust config      {trust}\n\
         \n\
         Sign and verify (in another shell):\n\
         \x20 TOKEN=$(signet dev token --issuer {oidc} --email {email})\n\
         \x20 signet sign-blob FILE --bundle FILE.sigstore.json --identity-token \"$TOKEN\" --trust-config {trust}\n\
         \x20 signet verify-blob FILE --bundle FILE.sigstore.json --trusted-root {root} \\\n\
         \x20     --certificate-identity {email} --certificate-oidc-issuer {oidc}\n\
         sigstore-python takes the same files:\n\
         \x20 sigstore --trust-config {trust} sign --identity-token \"$TOKEN\" --bundle FILE.sigstore.json FILE\n\
         \x20 sigstore --trust-config {trust} verify identity --offline --bundle FILE.sigstore.json \\\n\
         \x20     --cert-identity {email} --cert-oidc-issuer {oidc} FILE\n\
         \n\
         Stop with Ctrl-C; restart with the same --data-dir to keep keys, log and URLs.",
        log = urls.log,
        ca = urls.ca,
        oidc = urls.oidc,
        dir = running.data_dir.display(),
        config = files.signing_config.display(),
    );
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("signet: up: {e}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::sh;

    #[test]
    fn shell_quoting() {
        assert_eq!(sh("/tmp/a/trust.json"), "/tmp/a/trust.json");
        assert_eq!(sh("/tmp/my dir/x"), "'/tmp/my dir/x'");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }
}
