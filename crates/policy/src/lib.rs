//! signet's policy layer: what an image must carry to be admitted.
//!
//! - [`model`]: the policy file as written (`apiVersion: signet.dev/v1`,
//!   `kind: ImagePolicy`), unknown fields refused; its JSON Schema is
//!   `schemas/policy.v1.schema.json` at the repository root.
//! - [`policy`]: loading and checking a file into a compiled [`Policy`]
//!   ([`Policy::load`], [`Policy::lint`], [`Policy::version`]).
//! - [`eval`]: [`match_rule`] (what applies to an image, before fetching
//!   anything) and [`evaluate`] (the [`Decision`] for an image given its
//!   signatures and attestations).
//! - [`fixtures`]: a policy repository's offline test cases
//!   (`signet policy test`).
//! - [`rego`]: Rego conditions over in-toto attestations (cosign's
//!   `verify-attestation --policy`, and a policy file's required
//!   attestations), evaluated with `regorus` under a time limit.
//!
//! See docs/policy.md for the file format.

pub mod eval;
pub mod fixtures;
pub mod glob;
pub mod model;
pub mod policy;
pub mod rego;

pub use eval::{
    decide_unverified, evaluate, match_rule, match_rule_at, Decision, FailureKind, Match, Outcome,
    Request,
};
pub use model::{DefaultAction, Mode};
pub use policy::{
    lint_file, AttestationRequirement, Authority, Exemption, Finding, Policy, PolicyError, Rule,
    Severity,
};
