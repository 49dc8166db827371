//! Rego conditions over attestations.
//!
//! A condition is one Rego module. Its input is the verified in-toto
//! statement (`_type`, `subject`, `predicateType`, `predicate`), as cosign's
//! `verify-attestation --policy` gives it. The module passes when its
//! `allow` rule is `true` and its `deny` set (if it defines one) is empty;
//! `deny` messages explain a failure. Both rule names are looked up in the
//! module's own package, so cosign's `package signature` policies work as
//! they are, and so does any other package name.
//!
//! Modules in Rego v1 syntax are accepted, and, as cosign's examples are
//! written in it, v0 syntax (`allow { … }`) when v1 parsing fails.
//!
//! Invariants: an evaluation that errors, exceeds [`EVAL_TIME_LIMIT`], or
//! yields anything but a boolean `allow` is a failure, never a pass.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};

/// Upper bound on one evaluation; Rego is Turing-incomplete but a
/// comprehension over a large predicate can still take long.
pub const EVAL_TIME_LIMIT: Duration = Duration::from_secs(2);

/// Largest module accepted.
pub const MAX_MODULE_BYTES: usize = 256 * 1024;

/// Why a condition could not be compiled or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum RegoError {
    #[error("Rego module {name}: {reason}")]
    Compile { name: String, reason: String },
    #[error("Rego module {name}: evaluation failed: {reason}")]
    Eval { name: String, reason: String },
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub allowed: bool,
    /// Why not: the `deny` messages, or a note that `allow` was not true.
    pub reasons: Vec<String>,
}

/// A compiled Rego module.
pub struct Condition {
    name: String,
    package: String,
    // The prepared engine; each evaluation works on a clone, so concurrent
    // evaluations never see each other's input.
    engine: Mutex<Engine>,
    has_allow: bool,
    has_deny: bool,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("name", &self.name)
            .field("package", &self.package)
            .finish_non_exhaustive()
    }
}

fn engine(v0: bool) -> Engine {
    let mut engine = Engine::new();
    engine.set_rego_v0(v0);
    engine.set_strict_builtin_errors(true);
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: EVAL_TIME_LIMIT,
        check_interval: NonZeroU32::MIN,
    });
    engine
}

/// Whether the module defines `rule`: probed with an empty input, a rule
/// that exists evaluates (possibly to `Undefined`); one that does not is
/// "not a valid rule path".
fn defines(engine: &Engine, package: &str, rule: &str) -> bool {
    let mut probe = engine.clone();
    probe.set_input(Value::new_object());
    match probe.eval_rule(format!("{package}.{rule}")) {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("not a valid rule path"),
    }
}

impl Condition {
    /// Compiles `source`; `name` names it in errors (a file name).
    pub fn compile(name: &str, source: &str) -> Result<Condition, RegoError> {
        let compile_error = |reason: String| RegoError::Compile {
            name: name.to_string(),
            reason,
        };
        if source.len() > MAX_MODULE_BYTES {
            return Err(compile_error(format!(
                "larger than {MAX_MODULE_BYTES} bytes"
            )));
        }
        let (engine, package) = {
            let mut v1 = engine(false);
            match v1.add_policy(name.to_string(), source.to_string()) {
                Ok(package) => (v1, package),
                Err(v1_error) => {
                    let mut v0 = engine(true);
                    match v0.add_policy(name.to_string(), source.to_string()) {
                        Ok(package) => (v0, package),
                        Err(_) => return Err(compile_error(v1_error.to_string())),
                    }
                }
            }
        };
        let has_allow = defines(&engine, &package, "allow");
        let has_deny = defines(&engine, &package, "deny");
        if !has_allow && !has_deny {
            return Err(compile_error(format!(
                "{package} defines neither an `allow` rule nor a `deny` set"
            )));
        }
        Ok(Condition {
            name: name.to_string(),
            package,
            engine: Mutex::new(engine),
            has_allow,
            has_deny,
        })
    }

    /// The module's name, as given to [`Condition::compile`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Evaluates the condition with `input` as the input document.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<Outcome, RegoError> {
        let eval_error = |reason: String| RegoError::Eval {
            name: self.name.clone(),
            reason,
        };
        let mut engine = self
            .engine
            .lock()
            .map_err(|_| eval_error("engine poisoned".into()))?
            .clone();
        let input =
            Value::from_json_str(&input.to_string()).map_err(|e| eval_error(e.to_string()))?;
        engine.set_input(input);
        let mut reasons = Vec::new();
        let mut allowed = true;
        if self.has_allow {
            match engine
                .eval_rule(format!("{}.allow", self.package))
                .map_err(|e| eval_error(e.to_string()))?
            {
                Value::Bool(true) => {}
                Value::Bool(false) | Value::Undefined => {
                    allowed = false;
                    reasons.push(format!("{}.allow is not true", self.package));
                }
                other => {
                    return Err(eval_error(format!(
                        "{}.allow is {}, not a boolean",
                        self.package,
                        other.to_json_str().unwrap_or_default()
                    )))
                }
            }
        }
        if self.has_deny {
            let deny = engine
                .eval_rule(format!("{}.deny", self.package))
                .map_err(|e| eval_error(e.to_string()))?;
            let messages = match deny {
                Value::Undefined => Vec::new(),
                Value::Set(set) => set.iter().map(message).collect(),
                Value::Array(items) => items.iter().map(message).collect(),
                other => {
                    return Err(eval_error(format!(
                        "{}.deny is {}, not a set of messages",
                        self.package,
                        other.to_json_str().unwrap_or_default()
                    )))
                }
            };
            if !messages.is_empty() {
                allowed = false;
                // The deny messages say more than "allow is not true".
                reasons = messages;
            }
        }
        Ok(Outcome { allowed, reasons })
    }
}

fn message(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => other.to_json_str().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provenance(repo: &str) -> serde_json::Value {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "img", "digest": {"sha256": "ab"}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"externalParameters": {"workflow": {"repository": repo}}},
                          "runDetails": {"builder": {"id": "https://github.com/actions/runner"}}}
        })
    }

    const V1: &str = r#"
package provenance
import rego.v1
default allow := false
allow if {
    input.predicateType == "https://slsa.dev/provenance/v1"
    glob.match("https://github.com/myorg/*", [], input.predicate.buildDefinition.externalParameters.workflow.repository)
}
"#;

    #[test]
    fn v1_allow_passes_and_fails() {
        let c = Condition::compile("p.rego", V1).unwrap();
        let ok = c
            .evaluate(&provenance("https://github.com/myorg/app"))
            .unwrap();
        assert!(ok.allowed, "{ok:?}");
        let bad = c
            .evaluate(&provenance("https://github.com/evil/app"))
            .unwrap();
        assert!(!bad.allowed);
        assert_eq!(bad.reasons, vec!["data.provenance.allow is not true"]);
    }

    #[test]
    fn cosign_v0_signature_package() {
        let src = "package signature\ndefault allow = false\nallow {\n input.predicate.Data == \"foobar\"\n}\n";
        let c = Condition::compile("cosign.rego", src).unwrap();
        let pass = json!({"predicateType": "x", "predicate": {"Data": "foobar"}});
        let fail = json!({"predicateType": "x", "predicate": {"Data": "other"}});
        assert!(c.evaluate(&pass).unwrap().allowed);
        assert!(!c.evaluate(&fail).unwrap().allowed);
    }

    #[test]
    fn deny_messages_explain_failure() {
        let src = r#"
package vulns
import rego.v1
deny contains msg if {
    some r in input.predicate.scanner.result
    r.severity == "CRITICAL"
    msg := sprintf("critical vulnerability %s", [r.id])
}
"#;
        let c = Condition::compile("v.rego", src).unwrap();
        let clean =
            json!({"predicate": {"scanner": {"result": [{"id": "CVE-1", "severity": "LOW"}]}}});
        let dirty = json!({"predicate": {"scanner": {"result": [{"id": "CVE-2", "severity": "CRITICAL"}]}}});
        assert!(c.evaluate(&clean).unwrap().allowed);
        let out = c.evaluate(&dirty).unwrap();
        assert!(!out.allowed);
        assert_eq!(out.reasons, vec!["critical vulnerability CVE-2"]);
    }

    #[test]
    fn non_boolean_allow_is_an_error_not_a_pass() {
        let src = "package p\nimport rego.v1\nallow := \"yes\"\n";
        let c = Condition::compile("p.rego", src).unwrap();
        assert!(c.evaluate(&json!({})).is_err());
    }

    #[test]
    fn module_without_allow_or_deny_is_rejected() {
        let err = Condition::compile("p.rego", "package p\nimport rego.v1\nx := 1\n").unwrap_err();
        assert!(err.to_string().contains("neither"), "{err}");
    }

    #[test]
    fn syntax_error_is_reported() {
        let err = Condition::compile("p.rego", "package p\nallow if {").unwrap_err();
        assert!(matches!(err, RegoError::Compile { .. }), "{err}");
    }

    #[test]
    fn runaway_evaluation_is_stopped() {
        let src = "package p\nimport rego.v1\nallow if {\n count([x | some a in numbers.range(1, 3000); some b in numbers.range(1, 3000); x := a * b]) > 0\n}\n";
        let c = Condition::compile("p.rego", src).unwrap();
        let started = std::time::Instant::now();
        let result = c.evaluate(&json!({}));
        assert!(result.is_err(), "{result:?}");
        assert!(started.elapsed() < EVAL_TIME_LIMIT * 10);
    }
}
