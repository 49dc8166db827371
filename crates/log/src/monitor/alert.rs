//! Alerts: what a monitor reports, as a log line and as the JSON it POSTs
//! to a webhook.

use serde::Serialize;

/// Exit status: nothing found.
pub const EXIT_OK: u8 = 0;
/// Exit status: the log could not be polled (network, HTTP error, state).
pub const EXIT_ERROR: u8 = 1;
/// Exit status: bad arguments or configuration.
pub const EXIT_USAGE: u8 = 2;
/// Exit status: a watched identity or key appeared in the log.
pub const EXIT_WATCHED: u8 = 3;
/// Exit status: the log misbehaved: an inconsistent (forked, rolled back)
/// or unverifiable checkpoint, a missing witness cosignature, or an entry
/// not proven to be in the verified tree.
pub const EXIT_LOG_MISBEHAVIOUR: u8 = 4;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The new checkpoint is not consistent with the last verified one
    /// (different root at the same size, smaller tree, failed or refused
    /// consistency proof, changed origin), or an entry is not in the tree.
    Inconsistent,
    /// The checkpoint is malformed or not signed by the log's key.
    BadCheckpoint,
    /// A required witness's cosignature is missing or does not verify.
    WitnessMissing,
    /// A certificate SAN matched `--watch-identity`.
    WatchedIdentity,
    /// A `--watch-key` key signed an entry.
    WatchedKey,
}

impl AlertKind {
    pub fn severity(self) -> &'static str {
        match self {
            AlertKind::Inconsistent | AlertKind::BadCheckpoint | AlertKind::WitnessMissing => {
                "critical"
            }
            AlertKind::WatchedIdentity | AlertKind::WatchedKey => "warning",
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            AlertKind::Inconsistent | AlertKind::BadCheckpoint | AlertKind::WitnessMissing => {
                EXIT_LOG_MISBEHAVIOUR
            }
            AlertKind::WatchedIdentity | AlertKind::WatchedKey => EXIT_WATCHED,
        }
    }
}

/// A checkpoint in an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointInfo {
    pub size: u64,
    /// Hex.
    pub root_hash: String,
    /// The note as served (the evidence, for a fork: two signed notes).
    pub note: String,
}

/// The entry an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryInfo {
    pub index: u64,
    /// Hex leaf hash (Rekor's entry UUID).
    pub uuid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The matching SAN, for a watched identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The pattern it matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Hex SHA-256 of the DER SPKI, for a watched key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub kind: AlertKind,
    pub severity: &'static str,
    /// The log's URL.
    pub log: String,
    pub origin: String,
    pub message: String,
    /// POSIX time the monitor raised it.
    pub time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryInfo>,
    /// The checkpoint just fetched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointInfo>,
    /// The last verified checkpoint (for an inconsistency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<CheckpointInfo>,
}

impl Alert {
    pub fn new(kind: AlertKind, log: &str, origin: &str, message: impl Into<String>) -> Alert {
        Alert {
            kind,
            severity: kind.severity(),
            log: log.to_string(),
            origin: origin.to_string(),
            message: message.into(),
            time: super::now_unix(),
            entry: None,
            checkpoint: None,
            previous: None,
        }
    }

    /// The log line: `ALERT <severity> <kind>: <message>`.
    pub fn line(&self) -> String {
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        format!(
            "ALERT {} {kind}: {} (log {})",
            self.severity, self.message, self.log
        )
    }

    /// The webhook body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The exit status for a set of alerts: the most serious one's.
pub fn exit_code(alerts: &[Alert]) -> u8 {
    alerts
        .iter()
        .map(|a| a.kind.exit_code())
        .max()
        .unwrap_or(EXIT_OK)
}
