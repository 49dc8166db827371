//! Registry credentials and the authentication flows of the distribution
//! spec: Basic, and Bearer tokens from the token endpoint a
//! `WWW-Authenticate` challenge names.
//!
//! Credentials come from explicit flags, or `~/.docker/config.json`
//! (`$DOCKER_CONFIG/config.json`): `credHelpers`, then `auths`, then
//! `credsStore`, as docker does. Helpers are run as
//! `docker-credential-<name> get` with the server on stdin. No secret is
//! ever put in a message or a `Debug` output.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::OciError;

/// A username and password (or token) for one registry.
#[derive(Clone)]
pub struct Credential {
    pub username: String,
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credential {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credential {
            username: username.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    /// The `Authorization: Basic …` value.
    pub(crate) fn basic_header(&self) -> Zeroizing<String> {
        let raw = Zeroizing::new(format!("{}:{}", self.username, self.password.as_str()));
        Zeroizing::new(format!("Basic {}", STANDARD.encode(raw.as_bytes())))
    }
}

/// Where credentials come from.
#[derive(Debug, Clone, Default)]
pub enum CredentialSource {
    /// Anonymous access only.
    None,
    /// The same credential for every registry (`--registry-username`).
    Explicit(Credential),
    /// A docker config file; `None` is `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`.
    #[default]
    DockerConfig,
    DockerConfigAt(PathBuf),
}

/// The parts of docker's config.json that concern authentication.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

/// Largest docker config or helper output read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The keys docker uses for a host in `auths`: the host itself, with a
/// scheme, and Docker Hub's historical index URL.
/// Docker Hub's names; docker keeps Hub credentials under [`HUB_SERVER`].
const HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// The server name `docker login` stores Docker Hub credentials under
/// (in `auths` and in credential helpers).
const HUB_SERVER: &str = "https://index.docker.io/v1/";

fn auth_keys_match(key: &str, host: &str) -> bool {
    let stripped = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let stripped = stripped.split('/').next().unwrap_or(stripped);
    if stripped == host {
        return true;
    }
    HUB_HOSTS.contains(&host) && HUB_HOSTS.contains(&stripped)
}

/// The server name to ask a credential helper for: Docker Hub's as docker
/// stores it, any other registry's host as is.
fn helper_server(host: &str) -> &str {
    if HUB_HOSTS.contains(&host) {
        HUB_SERVER
    } else {
        host
    }
}

impl CredentialSource {
    /// The credential for `host` (`host[:port]` of the registry API), if any.
    pub fn lookup(&self, host: &str) -> Result<Option<Credential>, OciError> {
        let path = match self {
            CredentialSource::None => return Ok(None),
            CredentialSource::Explicit(c) => return Ok(Some(c.clone())),
            CredentialSource::DockerConfig => match default_docker_config() {
                Some(p) => p,
                None => return Ok(None),
            },
            CredentialSource::DockerConfigAt(p) => p.clone(),
        };
        lookup_in_config(&path, host)
    }
}

fn read_config(path: &Path) -> Result<Option<DockerConfig>, OciError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(OciError::Credentials(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| OciError::Credentials(format!("cannot read {}: {e}", path.display())))?;
    let bytes = Zeroizing::new(bytes);
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(OciError::Credentials(format!(
            "{} is larger than {MAX_CONFIG_BYTES} bytes",
            path.display()
        )));
    }
    // serde_json's message names a position, never the content.
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| OciError::Credentials(format!("{} is not valid JSON: {e}", path.display())))
}

fn lookup_in_config(path: &Path, host: &str) -> Result<Option<Credential>, OciError> {
    let Some(config) = read_config(path)? else {
        return Ok(None);
    };
    if let Some((_, helper)) = config
        .cred_helpers
        .iter()
        .find(|(k, _)| auth_keys_match(k, host))
    {
        return run_helper(&format!("docker-credential-{helper}"), helper_server(host));
    }
    if let Some((key, entry)) = config.auths.iter().find(|(k, _)| auth_keys_match(k, host)) {
        if let Some(auth) = &entry.auth {
            let decoded = Zeroizing::new(STANDARD.decode(auth.trim()).map_err(|_| {
                OciError::Credentials(format!(
                    "auths[{key:?}].auth in {} is not base64",
                    path.display()
                ))
            })?);
            let text = std::str::from_utf8(&decoded).map_err(|_| {
                OciError::Credentials(format!(
                    "auths[{key:?}].auth in {} is not UTF-8",
                    path.display()
                ))
            })?;
            let (user, pass) = text.split_once(':').ok_or_else(|| {
                OciError::Credentials(format!(
                    "auths[{key:?}].auth in {} is not base64(user:password)",
                    path.display()
                ))
            })?;
            return Ok(Some(Credential::new(user, pass)));
        }
        if let (Some(user), Some(pass)) = (&entry.username, &entry.password) {
            return Ok(Some(Credential::new(user.clone(), pass.clone())));
        }
    }
    if let Some(store) = &config.creds_store {
        return run_helper(&format!("docker-credential-{store}"), helper_server(host));
    }
    Ok(None)
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs a docker credential helper: `PROGRAM get`, server on stdin,
/// `{"ServerURL","Username","Secret"}` on stdout. A helper that knows no
/// credential for the server is not an error (anonymous access).
pub fn run_helper(program: &str, host: &str) -> Result<Option<Credential>, OciError> {
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| OciError::Credentials(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is reported by its status.
        let _ = stdin.write_all(host.as_bytes());
    }
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| OciError::Credentials(format!("reading {program}'s answer: {e}")))?;
    }
    let out = Zeroizing::new(out);
    let status = child
        .wait()
        .map_err(|e| OciError::Credentials(format!("{program}: {e}")))?;
    if !status.success() {
        // "credentials not found in native keychain" is the usual reason;
        // the output is not echoed (it could hold anything).
        return Ok(None);
    }
    let answer: HelperAnswer = serde_json::from_slice(&out).map_err(|_| {
        OciError::Credentials(format!("{program} answered something that is not its JSON"))
    })?;
    if answer.username == "<token>" {
        return Err(OciError::Credentials(format!(
            "{program} returned an identity token for {host}; signet supports only username/password credentials"
        )));
    }
    Ok(Some(Credential {
        username: answer.username,
        password: Zeroizing::new(answer.secret),
    }))
}

/// An authentication scheme a registry asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `auth-param`s (`k="v", k2=v2`) after the scheme.
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut escaped = false;
            let mut end = quoted.len();
            for (i, c) in quoted.char_indices() {
                match (escaped, c) {
                    (true, c) => {
                        value.push(c);
                        escaped = false;
                    }
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = i + 1;
                        break;
                    }
                    (false, c) => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, value);
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

impl Challenge {
    /// The first challenge signet can answer in a `WWW-Authenticate` value.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => {
                let mut p = parse_params(params);
                Some(Challenge::Bearer {
                    realm: p.remove("realm")?,
                    service: p.remove("service"),
                    scope: p.remove("scope"),
                })
            }
            _ => None,
        }
    }
}

/// A bearer token from a token endpoint.
#[derive(Clone)]
pub struct Token(pub(crate) Zeroizing<String>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// Parses a token endpoint's answer (`token`, or OAuth2's `access_token`).
pub(crate) fn parse_token(body: &[u8]) -> Result<Token, OciError> {
    let answer: TokenAnswer = serde_json::from_slice(body)
        .map_err(|e| OciError::malformed("token endpoint answer", e))?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .map(|t| Token(Zeroizing::new(t)))
        .ok_or_else(|| OciError::malformed("token endpoint answer", "no token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            Challenge::parse("Basic realm=\"Registry\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/ubuntu:pull".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Bearer realm="https://r/t", scope="repository:a:pull,push""#),
            Some(Challenge::Bearer {
                realm: "https://r/t".into(),
                service: None,
                scope: Some("repository:a:pull,push".into()),
            })
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=\"x\""), None);
    }

    #[test]
    fn docker_config_auths_and_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            serde_json::json!({
                "auths": {
                    "https://reg.example:5000": {"auth": STANDARD.encode("alice:s3cret")},
                    "https://index.docker.io/v1/": {"auth": STANDARD.encode("bob:pw")},
                },
            })
            .to_string(),
        )
        .unwrap();
        let source = CredentialSource::DockerConfigAt(config.clone());
        let c = source.lookup("reg.example:5000").unwrap().unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.as_str(), "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            source
                .lookup("registry-1.docker.io")
                .unwrap()
                .unwrap()
                .username,
            "bob"
        );
        assert!(source.lookup("other.example").unwrap().is_none());

        // A credential helper, found on PATH by name.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let helper = dir.path().join("docker-credential-signettest");
            std::fs::write(
                &helper,
                "#!/bin/sh\nread host\n[ \"$1\" = get ] || exit 3\n[ \"$host\" = helped.example ] || exit 1\n\
                 printf '{\"ServerURL\":\"%s\",\"Username\":\"carol\",\"Secret\":\"hunter2\"}' \"$host\"\n",
            )
            .unwrap();
            std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
            let c = run_helper(helper.to_str().unwrap(), "helped.example")
                .unwrap()
                .unwrap();
            assert_eq!(
                (c.username.as_str(), c.password.as_str()),
                ("carol", "hunter2")
            );
            assert!(run_helper(helper.to_str().unwrap(), "unknown.example")
                .unwrap()
                .is_none());
        }
    }

    /// Credential helpers hold Docker Hub's credentials under the server
    /// name `docker login` uses, not the API host.
    #[test]
    fn helpers_are_asked_for_hub_by_its_login_server() {
        for hub in HUB_HOSTS {
            assert_eq!(helper_server(hub), "https://index.docker.io/v1/");
        }
        assert_eq!(helper_server("reg.example:5000"), "reg.example:5000");
        assert_eq!(helper_server("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn token_answers() {
        assert_eq!(
            parse_token(br#"{"token":"abc"}"#).unwrap().0.as_str(),
            "abc"
        );
        assert_eq!(
            parse_token(br#"{"access_token":"xyz","expires_in":60}"#)
                .unwrap()
                .0
                .as_str(),
            "xyz"
        );
        assert!(parse_token(br#"{"token":""}"#).is_err());
    }
}
