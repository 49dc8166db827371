//! One image's decision under a policy, shared by the admission webhook,
//! `verify-manifests` and `audit`.
//!
//! 1. The policy says whether the image needs verification at all
//!    (`match_rule`: exempt images and images no rule covers are decided
//!    without touching a registry).
//! 2. A tag is resolved to its digest once (cached for a short TTL: tags
//!    move); a digest-pinned reference is not resolved.
//! 3. The decision for (policy version, namespace, repository, digest) is
//!    cached for a longer TTL: what a digest carries changes only when
//!    someone signs it again, and a new policy is a new version. The
//!    repository and namespace are in the key because rules select on
//!    them: the same digest may be pushed to two repositories that two
//!    rules treat differently.
//! 4. Otherwise the signatures and attestations are collected
//!    (`signet_oci::verify::collect`) and the policy evaluated.
//!
//! A registry or reference error is a denial (fail closed), never cached.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;
use signet_oci::{Digest, Reference, Registry};
use signet_policy::Policy;
use signet_verify::Verifier;

use crate::cache::TtlCache;
use crate::metrics::CounterVec;

/// Entries kept per cache.
pub const CACHE_CAPACITY: usize = 65_536;

/// The outcome of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    Warn,
    Exempt,
    NoRule,
    /// The image could not be checked (bad reference, registry error).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Exempt => "exempt",
            Outcome::NoRule => "no-rule",
            Outcome::Error => "error",
        }
    }

    pub const ALL: [Outcome; 6] = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Warn,
        Outcome::Exempt,
        Outcome::NoRule,
        Outcome::Error,
    ];
}

/// What the gates report for one image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageDecision {
    /// As written.
    pub image: String,
    /// What it resolved to, when it was resolved.
    pub digest: Option<String>,
    pub outcome: Outcome,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub reasons: Vec<String>,
    /// The policy's own decision document, as it serialises it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Answered from the decision cache.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

impl ImageDecision {
    pub fn error(image: &str, digest: Option<String>, reason: String, allowed: bool) -> Self {
        ImageDecision {
            image: image.to_string(),
            digest,
            outcome: Outcome::Error,
            allowed,
            rule: None,
            reasons: vec![reason],
            detail: None,
            cached: false,
        }
    }

    /// One line for people: `image: outcome (reason; reason)`.
    pub fn summary(&self) -> String {
        let digest = self
            .digest
            .as_deref()
            .map(|d| format!(" {d}"))
            .unwrap_or_default();
        if self.reasons.is_empty() {
            format!("{}{digest}: {}", self.image, self.outcome.as_str())
        } else {
            format!(
                "{}{digest}: {}: {}",
                self.image,
                self.outcome.as_str(),
                self.reasons.join("; ")
            )
        }
    }
}

/// The policy the gates use, with what identifies it.
pub struct PolicyState {
    pub policy: Policy,
    pub version: String,
}

impl PolicyState {
    pub fn new(policy: Policy) -> Self {
        let version = policy.version().to_string();
        PolicyState { policy, version }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DecisionKey {
    version: String,
    namespace: String,
    repository: String,
    digest: String,
}

/// Cache and decision counters.
#[derive(Default)]
pub struct EngineMetrics {
    /// `outcome`.
    pub decisions: CounterVec,
    /// `cache` (`decision`|`resolve`), `result` (`hit`|`miss`).
    pub cache: CounterVec,
}

/// Settings of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Decision cache TTL (0 disables it).
    pub decision_ttl: Duration,
    /// Tag → digest cache TTL (0 disables it).
    pub resolve_ttl: Duration,
    /// Images that cannot be checked are allowed (`--failure-policy ignore`).
    pub allow_on_error: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            decision_ttl: Duration::from_secs(300),
            resolve_ttl: Duration::from_secs(30),
            allow_on_error: false,
        }
    }
}

/// Decides images under the current policy.
pub struct Engine {
    registry: Arc<Registry>,
    verifier: Arc<Verifier>,
    policy: ArcSwap<PolicyState>,
    decisions: TtlCache<DecisionKey, ImageDecision>,
    digests: TtlCache<String, Digest>,
    options: EngineOptions,
    pub metrics: EngineMetrics,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Engine {
    pub fn new(
        registry: Arc<Registry>,
        verifier: Arc<Verifier>,
        policy: PolicyState,
        options: EngineOptions,
    ) -> Engine {
        Engine {
            registry,
            verifier,
            policy: ArcSwap::from_pointee(policy),
            decisions: TtlCache::new(options.decision_ttl, CACHE_CAPACITY),
            digests: TtlCache::new(options.resolve_ttl, CACHE_CAPACITY),
            options,
            metrics: EngineMetrics::default(),
        }
    }

    /// The current policy; a caller holds it for a whole request so that
    /// a reload never mixes two policies in one answer.
    pub fn policy(&self) -> Arc<PolicyState> {
        self.policy.load_full()
    }

    /// Swaps in a new policy; requests already holding the old one finish
    /// with it. Decisions under the old version age out of the cache.
    pub fn set_policy(&self, policy: PolicyState) {
        self.policy.store(Arc::new(policy));
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    fn count(&self, d: &ImageDecision) {
        self.metrics
            .decisions
            .inc(&[("outcome", d.outcome.as_str())]);
    }

    fn cache_event(&self, cache: &str, hit: bool) {
        self.metrics.cache.inc(&[
            ("cache", cache),
            ("result", if hit { "hit" } else { "miss" }),
        ]);
    }

    /// The decision for `image` in `namespace` under `state` (blocking:
    /// registry calls).
    pub fn decide(&self, state: &PolicyState, image: &str, namespace: &str) -> ImageDecision {
        let d = self.decide_uncounted(state, image, namespace);
        self.count(&d);
        d
    }

    /// The decision if it needs no registry call (policy-only decisions,
    /// or both the tag and the decision cached), counted; `None`
    /// otherwise. Cheap: the admission server answers it on its async
    /// threads without a hop to the blocking pool.
    pub fn decide_cached(
        &self,
        state: &PolicyState,
        image: &str,
        namespace: &str,
    ) -> Option<ImageDecision> {
        let d = self.decide_inner(state, image, namespace, true)?;
        self.count(&d);
        Some(d)
    }

    fn decide_uncounted(&self, state: &PolicyState, image: &str, namespace: &str) -> ImageDecision {
        self.decide_inner(state, image, namespace, false)
            .unwrap_or_else(|| {
                ImageDecision::error(image, None, "internal: no decision".into(), false)
            })
    }

    fn decide_inner(
        &self,
        state: &PolicyState,
        image: &str,
        namespace: &str,
        offline: bool,
    ) -> Option<ImageDecision> {
        let fail = |digest: Option<String>, reason: String| {
            ImageDecision::error(image, digest, reason, self.options.allow_on_error)
        };
        let reference = match Reference::parse(image) {
            Ok(r) => r,
            // Not a registry problem: the image is denied, whatever the
            // failure policy.
            Err(e) => {
                return Some(ImageDecision {
                    outcome: Outcome::Fail,
                    ..ImageDecision::error(
                        image,
                        None,
                        format!("invalid image reference: {e}"),
                        false,
                    )
                })
            }
        };
        let request = signet_policy::Request {
            image,
            namespace: (!namespace.is_empty()).then_some(namespace),
        };
        let now = now_unix();
        if let Some(d) = signet_policy::decide_unverified(&state.policy, &request, now) {
            return Some(from_policy(d));
        }
        let mut resolved_from_cache = false;
        let digest = match &reference.digest {
            Some(d) => d.clone(),
            None => match self.digests.get(&image.to_string()) {
                Some(d) => {
                    resolved_from_cache = true;
                    d
                }
                None if offline => return None,
                None => {
                    if self.digests.enabled() {
                        self.cache_event("resolve", false);
                    }
                    match self.registry.resolve(&reference) {
                        Ok(desc) => {
                            self.digests.insert(image.to_string(), desc.digest.clone());
                            desc.digest
                        }
                        Err(e) => return Some(fail(None, format!("registry: {e}"))),
                    }
                }
            },
        };
        let key = DecisionKey {
            version: state.version.clone(),
            namespace: namespace.to_string(),
            repository: reference.repository_name(),
            digest: digest.to_string(),
        };
        if let Some(mut d) = self.decisions.get(&key) {
            if resolved_from_cache {
                self.cache_event("resolve", true);
            }
            self.cache_event("decision", true);
            d.image = image.to_string();
            d.cached = true;
            return Some(d);
        }
        if offline {
            return None;
        }
        if resolved_from_cache {
            self.cache_event("resolve", true);
        }
        if self.decisions.enabled() {
            self.cache_event("decision", false);
        }
        let material =
            match signet_oci::verify::collect(&self.registry, &reference.at_digest(&digest), image)
            {
                Ok(m) => m,
                Err(e) => return Some(fail(Some(digest.to_string()), format!("registry: {e}"))),
            };
        let mut decision =
            signet_policy::evaluate(&state.policy, &request, &material, &self.verifier, now);
        if decision.digest.is_none() {
            decision.digest = Some(digest.to_string());
        }
        let d = from_policy(decision);
        self.decisions.insert(key, d.clone());
        Some(d)
    }
}

impl Engine {
    /// Decides each distinct `(image, namespace)` once, `concurrency` at a
    /// time, under one policy snapshot; results in the order given.
    pub fn decide_many(
        &self,
        pairs: &[(String, String)],
        concurrency: usize,
    ) -> Vec<ImageDecision> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        let state = self.policy();
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<ImageDecision>>> =
            Mutex::new((0..pairs.len()).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..concurrency.clamp(1, pairs.len().max(1)) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((image, namespace)) = pairs.get(i) else {
                        break;
                    };
                    let d = self.decide(&state, image, namespace);
                    if let Ok(mut slots) = results.lock() {
                        slots[i] = Some(d);
                    }
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .zip(pairs)
            .map(|(d, (image, _))| {
                d.unwrap_or_else(|| {
                    ImageDecision::error(image, None, "a worker stopped".into(), false)
                })
            })
            .collect()
    }
}

/// The gates' form of the policy's decision.
fn from_policy(decision: signet_policy::Decision) -> ImageDecision {
    let outcome = match decision.outcome {
        signet_policy::Outcome::Pass => Outcome::Pass,
        signet_policy::Outcome::Fail => Outcome::Fail,
        signet_policy::Outcome::Warn => Outcome::Warn,
        signet_policy::Outcome::Exempt => Outcome::Exempt,
        signet_policy::Outcome::NoRule => Outcome::NoRule,
    };
    ImageDecision {
        detail: serde_json::to_value(&decision).ok(),
        image: decision.image,
        digest: decision.digest,
        outcome,
        allowed: decision.allowed,
        rule: decision.rule,
        reasons: decision.reasons,
        cached: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_summaries() {
        assert_eq!(Outcome::ALL.map(Outcome::as_str).len(), 6);
        let d = ImageDecision::error(
            "r/a:1",
            Some("sha256:ab".into()),
            "registry: down".into(),
            false,
        );
        assert_eq!(d.summary(), "r/a:1 sha256:ab: error: registry: down");
        assert!(!d.allowed);
    }
}
