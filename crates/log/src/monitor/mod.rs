//! `signet log monitor`: follows a transparency log, checks every new
//! checkpoint, and watches new entries for identities and keys.
//!
//! One poll ([`Monitor::poll`]):
//!
//! 1. fetch the latest checkpoint (Rekor v1 `GET /api/v1/log`, or the
//!    tiles' `/checkpoint`) and verify its note signature with the log key
//!    ([`LogPolicy`]); its origin must be the key name (or, as Rekor v1,
//!    `<name> - <tree ID>`);
//! 2. verify the cosignature of every required witness (C2SP
//!    tlog-cosignature/v1, Ed25519);
//! 3. check it is consistent with the last verified checkpoint (same origin,
//!    no smaller tree, same root at the same size, RFC 9162 consistency
//!    proof otherwise). The first checkpoint ever seen is trusted on first
//!    use;
//! 4. persist it ([`state`]), then fetch up to `max_entries` new entries,
//!    each proven to be in the verified tree, and scan them ([`watch`]);
//! 5. report: every alert is logged, POSTed to the webhook, and sets the
//!    exit status ([`alert`]).
//!
//! A checkpoint that fails 1–3 is never persisted: the monitor keeps the
//! last good one and raises the alert again on every poll. Alerts are
//! delivered before the scan position is saved, so a crash re-raises them
//! (at least once) rather than losing them.

pub mod alert;
pub mod http;
pub mod source;
pub mod state;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

use signet_crypto::{KeyKind, PublicKey};
use signet_model::encoding::decode_base64;
use signet_model::rekor::EntryBody;
use signet_model::trust_root::TrustedRoot;
use signet_tlog::merkle::{empty_root, verify_consistency, Hash};
use signet_tlog::{Checkpoint, CosignatureVerifier, Note, NoteVerifier};

use self::alert::{Alert, AlertKind, CheckpointInfo, EntryInfo, EXIT_ERROR, EXIT_USAGE};
use self::http::{Http, HttpError};
use self::source::{Head, Source, SourceError};
use self::state::{State, StateError, STATE_VERSION};
use self::watch::{Hit, Watchlist};

/// Default most entries scanned per poll.
pub const DEFAULT_MAX_ENTRIES: u64 = 1000;
/// Default timeout of each HTTP request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`MonitorConfig::proof_grace`].
pub const DEFAULT_PROOF_GRACE: Duration = Duration::from_secs(3600);
/// How far in the future a cosignature's timestamp may be.
pub const MAX_COSIGNATURE_SKEW: u64 = 600;
/// Webhook delivery attempts per alert.
const WEBHOOK_ATTEMPTS: u32 = 3;

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn log_line(msg: &str) {
    eprintln!("signet log monitor: {msg}");
}

/// Why the monitor could not run or poll.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// Bad arguments: keys, trust root, patterns, URLs.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    State(#[from] StateError),
    /// The log could not be reached or answered with an error status.
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl MonitorError {
    /// [`alert::EXIT_USAGE`] for configuration errors, else
    /// [`alert::EXIT_ERROR`].
    pub fn exit_code(&self) -> u8 {
        match self {
            MonitorError::Config(_) => EXIT_USAGE,
            _ => EXIT_ERROR,
        }
    }
}

fn config_err<T>(msg: impl Into<String>) -> Result<T, MonitorError> {
    Err(MonitorError::Config(msg.into()))
}

/// What makes a checkpoint acceptable: the log's key (under its origin
/// name) and the witnesses that must have cosigned it.
#[derive(Debug, Clone)]
pub struct LogPolicy {
    verifier: NoteVerifier,
    witnesses: Vec<CosignatureVerifier>,
}

impl LogPolicy {
    /// A log key and the name it signs under. ECDSA keys use Rekor v1's key
    /// hint (`SHA-256(SPKI)[:4]`), Ed25519 keys the C2SP key ID.
    pub fn from_key(key: PublicKey, origin: &str) -> Result<LogPolicy, MonitorError> {
        let verifier = match key.kind() {
            KeyKind::Ed25519 => NoteVerifier::ed25519_c2sp(origin, key),
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 | KeyKind::EcdsaP521 => {
                NoteVerifier::rekor_ecdsa(origin, key)
            }
            KeyKind::Rsa => return config_err("an RSA key cannot sign checkpoints"),
        }
        .or_else(|e| config_err(format!("log key: {e}")))?;
        Ok(LogPolicy {
            verifier,
            witnesses: Vec::new(),
        })
    }

    /// A PEM public key (or certificate) and the origin.
    pub fn from_key_pem(pem_text: &str, origin: &str) -> Result<LogPolicy, MonitorError> {
        let block = pem::parse(pem_text).or_else(|e| config_err(format!("log key: {e}")))?;
        let key = match block.tag() {
            "PUBLIC KEY" => PublicKey::from_spki_der(block.contents())
                .or_else(|e| config_err(format!("log key: {e}")))?,
            "CERTIFICATE" => signet_pki::cert::Certificate::from_der(block.contents())
                .or_else(|e| config_err(format!("log key: {e}")))?
                .public_key()
                .clone(),
            other => return config_err(format!("log key: unsupported PEM block {other:?}")),
        };
        Self::from_key(key, origin)
    }

    /// The log of a `trusted_root.json` whose `baseUrl` is `url`; its
    /// checkpoint name is the URL without its scheme (as `signet-verify`),
    /// unless `origin` is given, and the key hint is the first four bytes of
    /// its log ID.
    pub fn from_trusted_root(
        json: &[u8],
        url: &str,
        origin: Option<&str>,
    ) -> Result<LogPolicy, MonitorError> {
        let root =
            TrustedRoot::from_json(json).or_else(|e| config_err(format!("trusted root: {e}")))?;
        let want = url.trim_end_matches('/');
        let now = now_unix();
        let current = |t: &&signet_model::trust_root::TransparencyLogInstance| {
            t.public_key
                .valid_for
                .as_ref()
                .and_then(|v| v.end.as_ref())
                .is_none_or(|end| end.unix >= now)
        };
        // The newest instance at this URL whose key is still valid (a
        // rotated-out key only verifies old checkpoints).
        let at_url = || {
            root.tlogs
                .iter()
                .rev()
                .filter(|t| t.base_url.trim_end_matches('/') == want)
        };
        let Some(log) = at_url().find(current).or_else(|| at_url().next()) else {
            return config_err(format!(
                "the trusted root has no transparency log at {want}"
            ));
        };
        let Some(raw) = &log.public_key.raw_bytes else {
            return config_err(format!("trusted root: {want} has no key"));
        };
        let key = PublicKey::from_spki_der(&raw.0)
            .or_else(|e| config_err(format!("trusted root: {want}: {e}")))?;
        let Some(hint) = log
            .log_id
            .key_id
            .0
            .get(..4)
            .and_then(|h| <[u8; 4]>::try_from(h).ok())
        else {
            return config_err(format!("trusted root: {want}: log ID too short"));
        };
        let name = origin.map_or_else(|| crate::origin_of(&log.base_url), str::to_owned);
        let verifier = NoteVerifier::new(name, hint, key)
            .or_else(|e| config_err(format!("trusted root: {want}: {e}")))?;
        Ok(LogPolicy {
            verifier,
            witnesses: Vec::new(),
        })
    }

    /// Requires a cosignature from witness `name`, whose key is a PEM
    /// Ed25519 public key or a C2SP vkey (`name+hint+base64(0x04||key)`).
    pub fn require_witness(&mut self, name: &str, key_text: &str) -> Result<(), MonitorError> {
        let text = key_text.trim();
        let key = if text.starts_with("-----BEGIN") {
            let block = pem::parse(text).or_else(|e| config_err(format!("witness {name}: {e}")))?;
            if block.tag() != "PUBLIC KEY" {
                return config_err(format!("witness {name}: expected a PEM PUBLIC KEY"));
            }
            PublicKey::from_spki_der(block.contents())
                .or_else(|e| config_err(format!("witness {name}: {e}")))?
        } else {
            vkey(name, text)?
        };
        let v = CosignatureVerifier::new(name, key)
            .or_else(|e| config_err(format!("witness {name}: {e}")))?;
        self.witnesses.push(v);
        Ok(())
    }

    /// The key name checkpoints are signed under.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// Parses `text` as a note, verifies the log's signature, and parses
    /// the checkpoint, whose origin must be the key name (or
    /// `<name> - <tree ID>`, as Rekor v1 writes it).
    pub fn verify_note(&self, text: &str) -> Result<(Note, Checkpoint), String> {
        let note = Note::parse(text).map_err(|e| format!("malformed checkpoint note: {e}"))?;
        self.verifier
            .verify(&note)
            .map_err(|e| format!("checkpoint signature: {e}"))?;
        let cp = Checkpoint::from_note(&note).map_err(|e| format!("malformed checkpoint: {e}"))?;
        let name = self.verifier.name();
        let ours = cp.origin() == name
            || cp
                .origin()
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(" - "));
        if !ours {
            return Err(format!(
                "checkpoint origin {:?} is not log {name:?}",
                cp.origin()
            ));
        }
        Ok((note, cp))
    }

    /// Every required witness must have cosigned `note`, not in the future.
    pub fn verify_witnesses(&self, note: &Note) -> Result<(), String> {
        let now = u64::try_from(now_unix()).unwrap_or(0);
        for w in &self.witnesses {
            let t = w
                .verify(note)
                .map_err(|e| format!("witness {}: {e}", w.name()))?;
            if t > now.saturating_add(MAX_COSIGNATURE_SKEW) {
                return Err(format!(
                    "witness {}: cosignature time {t} is in the future",
                    w.name()
                ));
            }
        }
        Ok(())
    }
}

/// A C2SP vkey `<name>+<hex key ID>+<base64(0x04 || 32-byte key)>`.
fn vkey(name: &str, text: &str) -> Result<PublicKey, MonitorError> {
    let bad = |why: &str| MonitorError::Config(format!("witness {name}: {why}"));
    // The name and the hex key ID have no '+'; the base64 key may.
    let mut parts = text.splitn(3, '+');
    let (Some(vname), Some(hint), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected a PEM public key or a vkey name+hint+key"));
    };
    if vname != name {
        return Err(bad(&format!("the vkey is for {vname:?}")));
    }
    let raw = decode_base64(b64).map_err(|_| bad("vkey key is not base64"))?;
    let Some((&0x04, key)) = raw.split_first() else {
        return Err(bad("vkey is not a cosignature/v1 (type 0x04) key"));
    };
    if key.len() != 32 {
        return Err(bad("vkey key is not 32 bytes"));
    }
    let public = PublicKey::from_raw_ed25519(key).map_err(|_| bad("invalid Ed25519 key"))?;
    let expected = CosignatureVerifier::new(name, public.clone())
        .map_err(|e| bad(&e.to_string()))?
        .key_hint();
    if hint != signet_model::encoding::encode_hex(expected) {
        return Err(bad("vkey key ID does not match its name and key"));
    }
    Ok(public)
}

/// How to monitor one log.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// The log's base URL.
    pub url: String,
    pub policy: LogPolicy,
    /// Read the tiles (`/checkpoint`, `/tile/...`) instead of Rekor v1.
    pub tiles: bool,
    /// Where the state lives; see [`state::default_path`].
    pub state_path: PathBuf,
    pub watch: Watchlist,
    pub webhook: Option<String>,
    /// Most entries fetched and scanned per poll.
    pub max_entries: u64,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
    /// First entry to scan when there is no state yet; default: the tree
    /// size at the first poll (only entries logged after it are scanned).
    pub start_index: Option<u64>,
    /// How long the log may serve a newer checkpoint without answering for
    /// a consistency proof before that is an `inconsistent` alert rather
    /// than a failed poll (a log hiding a fork behind an "outage").
    pub proof_grace: Duration,
}

impl MonitorConfig {
    pub fn new(url: impl Into<String>, policy: LogPolicy, state_path: PathBuf) -> Self {
        MonitorConfig {
            url: url.into(),
            policy,
            tiles: false,
            state_path,
            watch: Watchlist::default(),
            webhook: None,
            max_entries: DEFAULT_MAX_ENTRIES,
            timeout: DEFAULT_TIMEOUT,
            start_index: None,
            proof_grace: DEFAULT_PROOF_GRACE,
        }
    }
}

/// The result of one poll.
#[derive(Debug, Clone, Default)]
pub struct PollReport {
    pub alerts: Vec<Alert>,
    /// Size of the latest verified checkpoint (the last good one if this
    /// poll's checkpoint was refused).
    pub size: u64,
    /// Entries scanned in this poll.
    pub scanned: u64,
    /// Entries of the verified tree not scanned yet.
    pub remaining: u64,
    /// Scanned entries whose signers could not be read (other kinds).
    pub unreadable: u64,
    /// Webhook deliveries that failed after every attempt.
    pub webhook_failures: u64,
    /// Alerts already logged and posted (they are delivered in order).
    delivered: usize,
}

impl PollReport {
    /// [`alert::EXIT_OK`], [`alert::EXIT_WATCHED`] or
    /// [`alert::EXIT_LOG_MISBEHAVIOUR`].
    pub fn exit_code(&self) -> u8 {
        alert::exit_code(&self.alerts)
    }
}

/// A monitor of one log.
pub struct Monitor {
    config: MonitorConfig,
    http: Http,
    source: Source,
    state: Option<State>,
    /// The state's checkpoint, parsed.
    last: Option<Checkpoint>,
}

fn info(size: u64, root: &Hash, note: &str) -> CheckpointInfo {
    CheckpointInfo {
        size,
        root_hash: signet_model::encoding::encode_hex(root),
        note: note.to_string(),
    }
}

impl Monitor {
    /// Loads the state (if any) and checks it belongs to this log: same
    /// origin, and a checkpoint that verifies with the log's key.
    pub fn new(config: MonitorConfig) -> Result<Monitor, MonitorError> {
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            return config_err(format!("{}: the log URL must be http(s)", config.url));
        }
        if let Some(w) = &config.webhook {
            if !(w.starts_with("http://") || w.starts_with("https://")) {
                return config_err("the webhook URL must be http(s)");
            }
        }
        let http = Http::new(config.timeout)?;
        let source = Source::new(&config.url, config.tiles);
        let state = state::load(&config.state_path)?;
        let mut last = None;
        if let Some(s) = &state {
            let shown = config.state_path.display();
            if s.origin != config.policy.origin() {
                return config_err(format!(
                    "{shown}: the state is for log {:?}, not {:?}",
                    s.origin,
                    config.policy.origin()
                ));
            }
            let (_, cp) = config.policy.verify_note(&s.checkpoint).or_else(|e| {
                config_err(format!(
                    "{shown}: the saved checkpoint does not verify with the log key: {e}"
                ))
            })?;
            if cp.size() != s.size
                || signet_model::encoding::encode_hex(cp.root_hash()) != s.root_hash
            {
                return config_err(format!(
                    "{shown}: size/rootHash do not match the saved checkpoint"
                ));
            }
            last = Some(cp);
        }
        Ok(Monitor {
            config,
            http,
            source,
            state,
            last,
        })
    }

    /// The persisted state, if any checkpoint was verified yet.
    pub fn state(&self) -> Option<&State> {
        self.state.as_ref()
    }

    fn alert(&self, kind: AlertKind, message: impl Into<String>) -> Alert {
        Alert::new(kind, &self.config.url, self.config.policy.origin(), message)
    }

    fn previous_info(&self) -> Option<CheckpointInfo> {
        match (&self.state, &self.last) {
            (Some(s), Some(cp)) => Some(info(cp.size(), cp.root_hash(), &s.checkpoint)),
            _ => None,
        }
    }

    /// Polls once. `Err` only when the log could not be read (or the state
    /// not written); everything the log is to blame for is an alert.
    pub async fn poll(&mut self) -> Result<PollReport, MonitorError> {
        let mut report = PollReport {
            size: self.last.as_ref().map_or(0, Checkpoint::size),
            ..PollReport::default()
        };
        match self.check_head().await? {
            Err(alert) => report.alerts.push(*alert),
            Ok(head) => self.scan(head, &mut report).await?,
        }
        self.deliver(&mut report).await;
        if let (Some(s), true) = (&self.state, report.alerts.is_empty()) {
            log_line(&format!(
                "{}: tree size {}, scanned {} entries, {} to go",
                self.config.url, s.size, report.scanned, report.remaining
            ));
        }
        Ok(report)
    }

    /// Steps 1–3: the latest checkpoint, verified and consistent; the outer
    /// `Err` is an operational error, the inner one an alert.
    async fn check_head(&mut self) -> Result<Result<Head, Box<Alert>>, MonitorError> {
        let note_text = match self.source.checkpoint(&self.http).await {
            Ok(t) => t,
            Err(SourceError::Http(e)) => return Err(e.into()),
            Err(SourceError::Misbehaviour(m)) => {
                return Ok(Err(Box::new(self.alert(AlertKind::BadCheckpoint, m))))
            }
        };
        let (note, cp) = match self.config.policy.verify_note(&note_text) {
            Ok(v) => v,
            Err(m) => {
                let mut a = self.alert(AlertKind::BadCheckpoint, m);
                a.previous = self.previous_info();
                return Ok(Err(Box::new(a)));
            }
        };
        let current = info(cp.size(), cp.root_hash(), &note_text);
        if let Err(m) = self.config.policy.verify_witnesses(&note) {
            let mut a = self.alert(AlertKind::WitnessMissing, m);
            a.checkpoint = Some(current);
            return Ok(Err(Box::new(a)));
        }
        if cp.size() == 0 && *cp.root_hash() != empty_root() {
            let mut a = self.alert(
                AlertKind::BadCheckpoint,
                "a signed checkpoint of the empty tree with a root other than the empty tree's"
                    .to_string(),
            );
            a.checkpoint = Some(current);
            return Ok(Err(Box::new(a)));
        }
        // A checkpoint older than the saved one that is a prefix of it: a
        // cache or replica behind the log, not misbehaviour.
        let mut behind = false;
        if let Some(last) = &self.last {
            let problem = if cp.origin() != last.origin() {
                Some(format!(
                    "checkpoint origin changed from {:?} to {:?} (after a Rekor shard rotation, start a new --state)",
                    last.origin(),
                    cp.origin()
                ))
            } else if cp.size() < last.size() {
                behind = true;
                self.not_a_prefix(&cp, last).await?.map(|m| {
                    format!(
                        "the log served tree {} after tree {}: {m}",
                        cp.size(),
                        last.size()
                    )
                })
            } else if cp.size() == last.size() {
                (cp.root_hash() != last.root_hash()).then(|| {
                    format!(
                        "two different roots for tree size {}: the log is forked",
                        cp.size()
                    )
                })
            } else {
                match self.not_a_prefix(last, &cp).await {
                    Err(MonitorError::Http(e)) => {
                        return self.unproven(current, e);
                    }
                    other => other?,
                }
            };
            if let Some(m) = problem {
                let mut a = self.alert(AlertKind::Inconsistent, m);
                a.checkpoint = Some(current);
                a.previous = self.previous_info();
                return Ok(Err(Box::new(a)));
            }
            if behind {
                // Carry on from the saved checkpoint; nothing is saved.
                if let Some(state) = &self.state {
                    log_line(&format!(
                        "{}: served tree {} is behind the saved tree {} (consistent); continuing from the saved one",
                        self.config.url,
                        cp.size(),
                        last.size()
                    ));
                    return Ok(Ok(Head {
                        note: state.checkpoint.clone(),
                        checkpoint: last.clone(),
                    }));
                }
            }
        }
        // Accepted: persist before anything else.
        let next_index = match &self.state {
            Some(s) => s.next_index,
            None => self.config.start_index.unwrap_or(cp.size()).min(cp.size()),
        };
        self.save(&note_text, &cp, next_index)?;
        Ok(Ok(Head {
            note: note_text,
            checkpoint: cp,
        }))
    }

    /// Why `older` is not proven a prefix of `newer` (the log gives no
    /// consistency proof, or one that does not verify); `None` if it is.
    /// The empty tree is a prefix of every tree.
    async fn not_a_prefix(
        &self,
        older: &Checkpoint,
        newer: &Checkpoint,
    ) -> Result<Option<String>, MonitorError> {
        if older.size() == 0 {
            return Ok(None);
        }
        let (from, to) = (older.size(), newer.size());
        Ok(match self.source.consistency(&self.http, from, to).await {
            Err(SourceError::Http(e)) => return Err(e.into()),
            Err(SourceError::Misbehaviour(m)) => {
                Some(format!("no consistency proof from {from} to {to}: {m}"))
            }
            Ok(proof) => verify_consistency(from, to, older.root_hash(), newer.root_hash(), &proof)
                .err()
                .map(|e| format!("tree {to} is not consistent with tree {from}: {e}")),
        })
    }

    /// A newer checkpoint the log would not prove consistent (`why`): a
    /// failed poll while within [`MonitorConfig::proof_grace`] of the first
    /// such poll (remembered in the state), an `inconsistent` alert after.
    fn unproven(
        &mut self,
        current: CheckpointInfo,
        why: HttpError,
    ) -> Result<Result<Head, Box<Alert>>, MonitorError> {
        let Some(state) = self.state.as_mut() else {
            return Err(why.into());
        };
        let now = now_unix();
        let since = match state.unproven_since {
            Some(since) => since,
            None => {
                state.unproven_since = Some(now);
                state::save(&self.config.state_path, state)?;
                now
            }
        };
        let saved_size = state.size;
        let grace = i64::try_from(self.config.proof_grace.as_secs()).unwrap_or(i64::MAX);
        if now.saturating_sub(since) < grace {
            return Err(why.into());
        }
        let mut a = self.alert(
            AlertKind::Inconsistent,
            format!(
                "the log has served tree {} for {} s without a consistency proof from tree {saved_size}: {why}",
                current.size,
                now.saturating_sub(since),
            ),
        );
        a.checkpoint = Some(current);
        a.previous = self.previous_info();
        Ok(Err(Box::new(a)))
    }

    fn save(&mut self, note: &str, cp: &Checkpoint, next_index: u64) -> Result<(), MonitorError> {
        // Only a newer proven tree ends a wait for a proof.
        let unproven_since = self
            .state
            .as_ref()
            .filter(|s| cp.size() <= s.size)
            .and_then(|s| s.unproven_since);
        let mut state = State {
            version: STATE_VERSION,
            log_url: self.config.url.clone(),
            origin: self.config.policy.origin().to_string(),
            checkpoint: note.to_string(),
            size: cp.size(),
            root_hash: signet_model::encoding::encode_hex(cp.root_hash()),
            next_index,
            updated: self.state.as_ref().map_or(0, |s| s.updated),
            unproven_since,
        };
        // Unchanged state is not rewritten.
        if self.state.as_ref() != Some(&state) {
            state.updated = now_unix();
            state::save(&self.config.state_path, &state)?;
        }
        self.state = Some(state);
        self.last = Some(cp.clone());
        Ok(())
    }

    /// Steps 4–5: scan the next entries of `head`.
    async fn scan(&mut self, head: Head, report: &mut PollReport) -> Result<(), MonitorError> {
        report.size = head.size();
        let from = self.state.as_ref().map_or(head.size(), |s| s.next_index);
        if self.config.watch.is_empty() {
            // Nothing to look for: only the checkpoints matter.
            self.save(&head.note, &head.checkpoint, head.size())?;
            return Ok(());
        }
        let to = head
            .size()
            .min(from.saturating_add(self.config.max_entries.max(1)));
        let entries = match self
            .source
            .entries(&self.http, &self.config.policy, &head, from, to)
            .await
        {
            Ok(e) => e,
            Err(SourceError::Http(e)) => return Err(e.into()),
            Err(SourceError::Misbehaviour(m)) => {
                let mut a = self.alert(AlertKind::Inconsistent, m);
                a.checkpoint = Some(info(head.size(), head.root(), &head.note));
                report.alerts.push(a);
                report.remaining = head.size() - from;
                return Ok(());
            }
        };
        for (index, body) in &entries {
            report.scanned += 1;
            let hits = match self.config.watch.scan(body) {
                Ok(h) => h,
                Err(why) => {
                    report.unreadable += 1;
                    log_line(&format!("entry {index}: not scanned: {why}"));
                    continue;
                }
            };
            let kind = EntryBody::parse(body).ok().map(|b| b.kind().to_string());
            for hit in hits {
                let mut entry = EntryInfo {
                    index: *index,
                    uuid: signet_model::encoding::encode_hex(signet_tlog::leaf_hash(body)),
                    kind: kind.clone(),
                    identity: None,
                    pattern: None,
                    key_sha256: None,
                };
                let a = match hit {
                    Hit::Identity { pattern, san } => {
                        let msg = format!("entry {index} is signed by watched identity {san}");
                        entry.identity = Some(san);
                        entry.pattern = Some(pattern);
                        self.alert(AlertKind::WatchedIdentity, msg)
                    }
                    Hit::Key { sha256 } => {
                        let msg = format!("entry {index} is signed by watched key sha256:{sha256}");
                        entry.key_sha256 = Some(sha256);
                        self.alert(AlertKind::WatchedKey, msg)
                    }
                };
                report.alerts.push(Alert {
                    entry: Some(entry),
                    checkpoint: Some(info(head.size(), head.root(), &head.note)),
                    ..a
                });
            }
        }
        // Alerts first (at least once), then the new position.
        self.deliver(report).await;
        self.save(&head.note, &head.checkpoint, to)?;
        report.remaining = head.size() - to;
        Ok(())
    }

    /// Logs and POSTs the alerts not delivered yet.
    async fn deliver(&self, report: &mut PollReport) {
        let undelivered = report
            .alerts
            .iter()
            .skip(report.delivered)
            .cloned()
            .collect::<Vec<_>>();
        for a in &undelivered {
            log_line(&a.line());
            if let Some(url) = &self.config.webhook {
                if !self.post(url, a).await {
                    report.webhook_failures += 1;
                }
            }
        }
        report.delivered = report.alerts.len();
    }

    async fn post(&self, url: &str, alert: &Alert) -> bool {
        let body = alert.to_json();
        for attempt in 1..=WEBHOOK_ATTEMPTS {
            match self.http.post_json(url, body.clone()).await {
                Ok(()) => return true,
                Err(e) => {
                    // The webhook URL may carry a token: not logged.
                    log_line(&format!("webhook attempt {attempt} failed: {}", e.reason()));
                    if attempt < WEBHOOK_ATTEMPTS {
                        tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                    }
                }
            }
        }
        false
    }
}

/// Polls every `interval` (or once), and returns the exit status: with
/// `once`, the poll's; otherwise only a configuration error ends the loop.
pub async fn run(mut monitor: Monitor, interval: Duration, once: bool) -> u8 {
    loop {
        match monitor.poll().await {
            Ok(report) if once => return report.exit_code(),
            Ok(_) => {}
            Err(e) => {
                log_line(&format!("poll failed: {e}"));
                if once || matches!(e, MonitorError::Config(_)) {
                    return e.exit_code();
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Parses `30s`, `5m`, `1h`, `250ms` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 30s, 5m, 1h, 250ms"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("invalid duration unit in {s:?}: use ms, s, m or h")),
    };
    if d.is_zero() {
        return Err("the duration must be positive".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_tlog::{generate_pkcs8, NoteSigner, SignerKind};

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        for bad in ["", "0s", "s", "1d", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    fn signer(kind: SignerKind, name: &str) -> NoteSigner {
        NoteSigner::from_pkcs8_der(name, &generate_pkcs8(kind).unwrap()).unwrap()
    }

    #[test]
    fn policy_checks_signature_and_origin() {
        let root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        for kind in [SignerKind::EcdsaP256, SignerKind::Ed25519] {
            let s = signer(kind, "log.example");
            let p = LogPolicy::from_key(s.public_key().clone(), "log.example").unwrap();
            let good = s.sign_note(format!("log.example\n1\n{root}\n")).unwrap();
            p.verify_note(&good.serialize()).unwrap();
            let rekor = s
                .sign_note(format!("log.example - 123\n1\n{root}\n"))
                .unwrap();
            p.verify_note(&rekor.serialize()).unwrap();
            let other = s.sign_note(format!("other.example\n1\n{root}\n")).unwrap();
            assert!(p.verify_note(&other.serialize()).is_err());
            let stranger = signer(kind, "log.example")
                .sign_note(format!("log.example\n1\n{root}\n"))
                .unwrap();
            assert!(p.verify_note(&stranger.serialize()).is_err());
        }
    }

    #[test]
    fn witness_keys_as_pem_or_vkey() {
        // Enough keys that some base64 encodings contain '+'.
        for _ in 0..32 {
            witness_key_round_trip();
        }
    }

    fn witness_key_round_trip() {
        let der = generate_pkcs8(SignerKind::Ed25519).unwrap();
        let w = crate::witness::Witness::from_pkcs8_der("w.example/1", &der).unwrap();
        let s = signer(SignerKind::Ed25519, "log.example");
        let spki = s.public_key().clone(); // any Ed25519 key for the policy
        let mut p = LogPolicy::from_key(spki, "log.example").unwrap();
        // The witness's public key, as PEM and as a vkey.
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&der).unwrap();
        let raw = aws_lc_rs::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        let key = PublicKey::from_raw_ed25519(&raw).unwrap();
        let pem_text = crate::entry::pem_lf("PUBLIC KEY", key.spki_der());
        p.require_witness("w.example/1", &pem_text).unwrap();
        let mut data = vec![0x04];
        data.extend_from_slice(&raw);
        let vk = format!(
            "w.example/1+{}+{}",
            signet_model::encoding::encode_hex(w.key_hint()),
            signet_model::encoding::encode_base64(&data)
        );
        p.require_witness("w.example/1", &vk).unwrap();
        assert!(p.require_witness("w.example/2", &vk).is_err());
        let note = s
            .sign_note("log.example\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
            .unwrap();
        assert!(p.verify_witnesses(&note).is_err());
        let now = u64::try_from(now_unix()).unwrap();
        let cosigned = crate::witness::cosign_note(&note, std::slice::from_ref(&w), now).unwrap();
        p.verify_witnesses(&cosigned).unwrap();
        let future =
            crate::witness::cosign_note(&note, std::slice::from_ref(&w), now + 3600).unwrap();
        assert!(p.verify_witnesses(&future).is_err());
    }
}
