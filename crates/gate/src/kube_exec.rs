//! Kubernetes client credential plugins (`users[].user.exec` of a
//! kubeconfig, `client.authentication.k8s.io/v1` and `v1beta1`): how EKS
//! (`aws eks get-token`), GKE (`gke-gcloud-auth-plugin`), AKS (`kubelogin`)
//! and most managed clusters hand out credentials.
//!
//! As client-go does: the command (a bare name is looked up on `PATH`, a
//! relative path is taken from the kubeconfig's directory) runs with the
//! caller's environment plus the plugin's `env` and `KUBERNETES_EXEC_INFO`
//! (an `ExecCredential` request, with the cluster when
//! `provideClusterInfo` is set), no stdin (signet never runs a plugin
//! interactively, so `interactiveMode: Always` is refused) and the
//! caller's stderr (where plugins print their prompts and errors). Its
//! stdout must be an `ExecCredential` of the same API version whose
//! `status` has a bearer token or a client certificate and key. The
//! credential is never printed.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

/// Longest a plugin may run.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Largest `ExecCredential` read from a plugin.
const MAX_OUTPUT: u64 = 1 << 20;
const API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// A kubeconfig's `exec` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecConfig {
    pub api_version: String,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub interactive_mode: Option<String>,
    #[serde(default)]
    pub provide_cluster_info: bool,
    #[serde(default)]
    pub install_hint: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// What a plugin returned.
pub enum Credential {
    Token(String),
    /// PEM certificate (chain) and PEM private key.
    ClientCertificate {
        cert: Vec<u8>,
        key: Vec<u8>,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token(_) => f.write_str("Token(<redacted>)"),
            Credential::ClientCertificate { .. } => f.write_str("ClientCertificate(<redacted>)"),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    api_version: String,
    kind: String,
    status: Option<ExecStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecStatus {
    token: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
}

/// The cluster a plugin is asked about (`provideClusterInfo`).
pub struct ClusterInfo<'a> {
    pub server: &'a str,
    pub certificate_authority_data: Option<&'a [u8]>,
}

/// Runs the plugin of `exec` (from the kubeconfig in `kubeconfig_dir`)
/// and returns its credential.
pub fn run(
    exec: &ExecConfig,
    kubeconfig_dir: &Path,
    cluster: &ClusterInfo<'_>,
) -> Result<Credential, String> {
    if !API_VERSIONS.contains(&exec.api_version.as_str()) {
        return Err(format!(
            "exec plugin apiVersion {:?} is not supported (use {})",
            exec.api_version,
            API_VERSIONS.join(" or ")
        ));
    }
    if exec.interactive_mode.as_deref() == Some("Always") {
        return Err(
            "exec plugin needs interactiveMode Always; signet runs it without a terminal".into(),
        );
    }
    let mut spec = json!({"interactive": false});
    if exec.provide_cluster_info {
        let mut c = json!({"server": cluster.server});
        if let Some(ca) = cluster.certificate_authority_data {
            c["certificate-authority-data"] =
                json!(base64::engine::general_purpose::STANDARD.encode(ca));
        }
        spec["cluster"] = c;
    }
    let info = json!({"apiVersion": exec.api_version, "kind": "ExecCredential", "spec": spec});
    let program = if exec.command.contains('/') && Path::new(&exec.command).is_relative() {
        kubeconfig_dir.join(&exec.command)
    } else {
        exec.command.clone().into()
    };
    let mut command = Command::new(&program);
    command
        .args(&exec.args)
        .envs(exec.env.iter().map(|e| (&e.name, &e.value)))
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().map_err(|e| {
        let hint = exec
            .install_hint
            .as_deref()
            .map(|h| format!("\n{}", h.trim()))
            .unwrap_or_default();
        format!("exec plugin {:?}: {e}{hint}", exec.command)
    })?;
    // Read stdout on a thread so that a plugin that fills the pipe is not
    // deadlocked against our wait; past the bound it is stopped at once.
    let stdout = child.stdout.take();
    let too_long = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let too_long = too_long.clone();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(s) = stdout {
                let _ = s.take(MAX_OUTPUT + 1).read_to_end(&mut out);
            }
            if out.len() as u64 > MAX_OUTPUT {
                too_long.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            out
        })
    };
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if too_long.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "exec plugin {:?} did not finish within {TIMEOUT:?}",
                    exec.command
                ));
            }
            Err(e) => return Err(format!("exec plugin {:?}: {e}", exec.command)),
        }
    };
    let output = reader
        .join()
        .map_err(|_| format!("exec plugin {:?}: reading its output failed", exec.command))?;
    // Checked first: a plugin cut off by a closed pipe may also fail.
    if output.len() as u64 > MAX_OUTPUT {
        return Err(format!(
            "exec plugin {:?} printed more than {MAX_OUTPUT} bytes",
            exec.command
        ));
    }
    match status {
        Some(status) if status.success() => {}
        Some(status) => {
            return Err(format!("exec plugin {:?} failed: {status}", exec.command));
        }
        None => {
            return Err(format!("exec plugin {:?} was stopped", exec.command));
        }
    }
    parse(exec, &output)
}

fn parse(exec: &ExecConfig, output: &[u8]) -> Result<Credential, String> {
    let bad = |why: &str| format!("exec plugin {:?}: {why}", exec.command);
    let cred: ExecCredential = serde_json::from_slice(output)
        .map_err(|e| bad(&format!("output is not an ExecCredential: {e}")))?;
    if cred.kind != "ExecCredential" || cred.api_version != exec.api_version {
        return Err(bad(&format!(
            "output is a {} {}, not the {} ExecCredential asked for",
            cred.api_version, cred.kind, exec.api_version
        )));
    }
    let status = cred.status.ok_or_else(|| bad("output has no status"))?;
    match (
        status.token.filter(|t| !t.is_empty()),
        status.client_certificate_data,
        status.client_key_data,
    ) {
        (Some(token), _, _) => Ok(Credential::Token(token)),
        (None, Some(cert), Some(key)) => Ok(Credential::ClientCertificate {
            cert: cert.into_bytes(),
            key: key.into_bytes(),
        }),
        _ => Err(bad(
            "status has neither a token nor a client certificate and key",
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// An executable shell script `name` in `dir`; its command as a
    /// kubeconfig in `dir` names it.
    pub(crate) fn plugin(dir: &Path, name: &str, script: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        format!("./{name}")
    }

    fn config(command: &str) -> ExecConfig {
        ExecConfig {
            api_version: "client.authentication.k8s.io/v1".into(),
            command: command.into(),
            args: vec!["--region".into(), "eu".into()],
            env: vec![EnvVar {
                name: "PLUGIN_PREFIX".into(),
                value: "tok".into(),
            }],
            interactive_mode: Some("IfAvailable".into()),
            provide_cluster_info: true,
            install_hint: Some("install the plugin".into()),
        }
    }

    const CLUSTER: ClusterInfo<'static> = ClusterInfo {
        server: "https://k.example:6443",
        certificate_authority_data: Some(b"CA"),
    };

    #[test]
    fn a_plugin_gets_its_args_env_and_request_and_returns_a_token() {
        let dir = tempfile::tempdir().unwrap();
        // The token is made of what the plugin was given, so the test sees
        // that each part arrived.
        let cmd = plugin(
            dir.path(),
            "get-token",
            r#"for want in '"interactive":false' '"server":"https://k.example:6443"' '"certificate-authority-data":"Q0E="'; do
  case "$KUBERNETES_EXEC_INFO" in
    *"$want"*) ;;
    *) echo "no $want in $KUBERNETES_EXEC_INFO" >&2; exit 3 ;;
  esac
done
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s-%s"}}' "$PLUGIN_PREFIX" "$1" "$2""#,
        );
        let cred = run(&config(&cmd), dir.path(), &CLUSTER).unwrap();
        match cred {
            Credential::Token(t) => assert_eq!(t, "tok---region-eu"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            format!("{:?}", Credential::Token("s3cret".into())),
            "Token(<redacted>)"
        );
    }

    #[test]
    fn a_plugin_can_return_a_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = plugin(
            dir.path(),
            "get-cert",
            r#"printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"CERT","clientKeyData":"KEY"}}'"#,
        );
        match run(&config(&cmd), dir.path(), &CLUSTER).unwrap() {
            Credential::ClientCertificate { cert, key } => {
                assert_eq!(
                    (cert.as_slice(), key.as_slice()),
                    (&b"CERT"[..], &b"KEY"[..])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_plugins_and_answers_are_refused_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let answer = |name: &str, out: &str| plugin(dir.path(), name, &format!("printf '{out}'"));
        let cases = [
            (plugin(dir.path(), "fails", "exit 7"), "failed"),
            (answer("not-json", "hello"), "not an ExecCredential"),
            (
                answer(
                    "old-version",
                    r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}}"#,
                ),
                "not the client.authentication.k8s.io/v1 ExecCredential",
            ),
            (
                answer(
                    "empty",
                    r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}"#,
                ),
                "neither a token nor",
            ),
            ("./does-not-exist".to_string(), "install the plugin"),
            // Never stops printing: stopped once past the bound, not at
            // the 60 s limit (the whole test would take that long).
            (
                plugin(
                    dir.path(),
                    "endless",
                    "while :; do echo aaaaaaaaaaaaaaaa; done",
                ),
                "printed more than 1048576 bytes",
            ),
        ];
        for (cmd, why) in cases {
            let err = run(&config(&cmd), dir.path(), &CLUSTER).unwrap_err();
            assert!(err.contains(why), "{cmd}: {err}");
        }
        let mut always = config(&answer("x", "{}"));
        always.interactive_mode = Some("Always".into());
        assert!(run(&always, dir.path(), &CLUSTER)
            .unwrap_err()
            .contains("interactiveMode Always"));
        let mut alpha = config(&answer("y", "{}"));
        alpha.api_version = "client.authentication.k8s.io/v1alpha1".into();
        assert!(run(&alpha, dir.path(), &CLUSTER)
            .unwrap_err()
            .contains("not supported"));
    }
}
