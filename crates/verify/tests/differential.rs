//! Differential test: signet-verify against sigstore-rust's `sigstore-verify`
//! (the oracle), on every conformance `bundle-verify` case and on bundles
//! mutated from the positive cases.
//!
//! Both verifiers get the same bundle bytes, the same artifact, the same
//! trusted root and the same signer policy (exact identity + exact issuer,
//! or a managed key), and their accept/reject verdicts are compared:
//!
//! * agree: both accept or both reject;
//! * signet stricter: signet rejects what the oracle accepts; allowed only
//!   when the `(case, mutation)` pair is listed in [`SIGNET_STRICTER`];
//! * oracle stricter: signet accepts what the oracle rejects; allowed only
//!   when listed, with its justification, in [`ORACLE_STRICTER`]. Such an
//!   entry means signet accepts something another verifier refuses, so each
//!   must be argued (e.g. "sigstore-go does the same").
//!
//! An allow-list entry that no longer matches a disagreement also fails the
//! test, so that the lists stay exact.
//!
//! Oracle API notes (sigstore-verify 0.15.1), documented here because they
//! bound what can be compared:
//! * The oracle has no "now" parameter: it reads the wall clock
//!   (`jiff::Timestamp::now()`) for the integrated-time-in-the-future check.
//!   So signet runs with `Options::now = None` (the wall clock) too.
//! * Its custom trust root is `sigstore_trust_root::TrustedRoot::from_json`
//!   then `Verifier::new(&root)`, which validates the whole root up front and
//!   can refuse it; a refused root counts as a rejection of the case.
//! * Its identity policy is `VerificationPolicy::new(identity, issuer)`
//!   (exact SAN value, exact issuer); managed keys go through
//!   `PublicKeyVerificationPolicy::new(DerPublicKey::from_pem(..))`.
//! * It has no thresholds knob (tlog/time/SCT thresholds are fixed at 1, or
//!   rather "every present entry must verify"), so signet uses its defaults.
//! * In managed-key mode the oracle does not require a tlog entry or a
//!   signed time at all (see `verify_public_key`): an empty `tlogEntries`
//!   fails only its structural bundle validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use signet_crypto::PublicKey;
use signet_verify::{
    Artifact, IdentityPolicy, Matcher, Options, SignerPolicy, TrustMaterial, Verifier,
};
use sigstore_verify::trust_root::TrustedRoot as OracleRoot;
use sigstore_verify::types::{Bundle as OracleBundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// `(case, mutation) -> why signet rejects what sigstore-verify accepts`.
/// `case` may be `*` (any case the mutation applies to).
const SIGNET_STRICTER: &[(&str, &str, &str)] = &[
    // Rekor v2 entries: the oracle verifies the Merkle path with the entry's
    // logIndex and the checkpoint's size and root, and finds the log key by
    // the checkpoint's key hint, so it never reads the proof's own root
    // hash, leaf index and tree size, nor the entry's logId. signet checks
    // every one of them, so a bundle that contradicts itself is refused.
    (
        "*",
        "proof-root-hash-byte",
        "Rekor v2: the proof's rootHash must equal the signed checkpoint's root; the oracle ignores the proof's copy",
    ),
    (
        "*",
        "proof-log-index+1",
        "Rekor v2: signet proves inclusion at the proof's logIndex; the oracle uses the entry's logIndex and ignores the proof's",
    ),
    (
        "*",
        "proof-tree-size+1",
        "Rekor v2: the proof's treeSize must equal the signed checkpoint's size; the oracle uses the checkpoint's only",
    ),
    (
        "*",
        "log-id-byte",
        "Rekor v2: signet picks the log by logId (as sigstore-go), so an unknown logId is an unknown log; the oracle picks the key by the checkpoint's key hint and ignores logId",
    ),
    (
        "*",
        "duplicate-timestamp",
        "the same RFC 3161 token twice would count twice towards the signing-time threshold; signet refuses the bundle (sigstore-go drops the duplicate), the oracle accepts it",
    ),
    (
        "*",
        "integrated-time-set",
        "Rekor v2 entry given a (unsigned) integratedTime outside the log key's validity window: signet still checks the window, the oracle ignores integratedTime on v2 entries. Harmless: the time is never trusted",
    ),
    (
        "*",
        "duplicate-tlog-entry",
        "the same log entry twice would count twice towards the log-entry threshold; signet refuses the bundle as malformed, the oracle verifies both copies and accepts",
    ),
    (
        "managed-key-and-trusted-root",
        "drop-inclusion-promise",
        "without the SET (and no RFC 3161 token) there is no trusted signing time; signet applies its time threshold to managed keys too (as sigstore-go), the oracle requires no signed time for managed keys",
    ),
    (
        "managed-key-happy-path",
        "drop-inclusion-promise",
        "a sharded Rekor v1 entry carries a global logIndex that only its SET signs; without the SET signet requires the entry's index to be the one the inclusion proof proves, and it is not",
    ),
    (
        "intoto-with-custom-trust-root",
        "drop-inclusion-promise",
        "a sharded Rekor v1 entry carries a global logIndex that only its SET signs; without the SET signet requires the entry's index to be the one the inclusion proof proves, and it is not",
    ),
];

/// `(case, mutation) -> why signet accepting what sigstore-verify rejects
/// is correct`. Every entry here is a place where signet is more lenient
/// than the oracle; each needs a justification, not just a shrug.
const ORACLE_STRICTER: &[(&str, &str, &str)] = &[
    (
        "*",
        "timestamp-last-byte",
        "an RFC 3161 token that does not verify is not counted, and the bundle passes on its other trusted time (the SET). This is sigstore-go's rule (VerifySignedTimestampWithThreshold counts verified tokens) and sigstore-python's; the oracle documents itself as deliberately stricter. Nothing unverified is trusted",
    ),
    (
        "*",
        "drop-checkpoint",
        "v0.1 bundles (the only ones where this disagrees: from v0.2 on both refuse a proof without checkpoint) are bound to the log by their required SET; signet accepts a checkpoint-less proof there, exactly as it (and the oracle) accept a v0.1 bundle with no proof at all. The oracle refuses the proof structurally. Nothing from the unsigned proof is trusted",
    ),
];

fn root_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cases_dir() -> PathBuf {
    root_dir().join("testdata/conformance/bundle-verify")
}

/// One conformance case's inputs.
struct Case {
    name: String,
    bundle: Vec<u8>,
    artifact: Vec<u8>,
    key_pem: Option<String>,
    identity: String,
    issuer: String,
    root: PathBuf,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn load_case(dir: &Path) -> Case {
    let artifact_path = if dir.join("artifact").exists() {
        dir.join("artifact")
    } else {
        cases_dir().join("a.txt")
    };
    let root = if dir.join("trusted_root.json").exists() {
        dir.join("trusted_root.json")
    } else {
        root_dir().join("testdata/trust/public-good/trusted_root.json")
    };
    Case {
        name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        bundle: std::fs::read(dir.join("bundle.sigstore.json")).expect("bundle"),
        artifact: std::fs::read(artifact_path).expect("artifact"),
        key_pem: std::fs::read_to_string(dir.join("key.pub")).ok(),
        identity: read_trimmed(&dir.join("identity")).unwrap_or_else(|| DEFAULT_IDENTITY.into()),
        issuer: read_trimmed(&dir.join("issuer")).unwrap_or_else(|| DEFAULT_ISSUER.into()),
        root,
    }
}

/// Both verifiers, built once per trusted root (or why they could not be).
struct Engines {
    signet: Result<Verifier, String>,
    oracle: Result<sigstore_verify::Verifier, String>,
}

fn engines(root: &Path) -> Engines {
    let raw = std::fs::read(root).expect("trusted root");
    let signet = signet_model::TrustedRoot::from_json(&raw)
        .map_err(|e| e.to_string())
        .and_then(|r| TrustMaterial::from_trusted_root(&r).map_err(|e| e.to_string()))
        .map(|t| Verifier::new(t, Options::default()));
    let oracle = std::str::from_utf8(&raw)
        .map_err(|e| e.to_string())
        .and_then(|s| OracleRoot::from_json(s).map_err(|e| e.to_string()))
        .and_then(|r| sigstore_verify::Verifier::new(&r).map_err(|e| e.to_string()));
    Engines { signet, oracle }
}

/// How the artifact is handed over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bytes,
    Sha256,
}

/// What a verifier is asked: the bundle bytes, the artifact, the policy.
struct Input<'a> {
    bundle: &'a [u8],
    artifact: &'a [u8],
    mode: Mode,
    key_pem: Option<&'a str>,
    identity: &'a str,
    issuer: &'a str,
}

type Verdict = Result<(), String>;

/// One comparison: (mutation name, bundle bytes, artifact bytes, mode,
/// identity, issuer).
type Run = (String, Vec<u8>, Vec<u8>, Mode, String, String);

fn run_signet(engines: &Engines, input: &Input<'_>) -> Verdict {
    let verifier = engines
        .signet
        .as_ref()
        .map_err(|e| format!("trusted root: {e}"))?;
    let policy = match input.key_pem {
        Some(pem) => SignerPolicy::Key(PublicKey::from_pem(pem).map_err(|e| format!("key: {e}"))?),
        None => SignerPolicy::Identity(IdentityPolicy::new(
            Matcher::exact(input.identity),
            Matcher::exact(input.issuer),
        )),
    };
    let bundle = signet_model::Bundle::from_json(input.bundle).map_err(|e| e.to_string())?;
    let artifact = match input.mode {
        Mode::Bytes => Artifact::Bytes(input.artifact),
        Mode::Sha256 => Artifact::Digest {
            algorithm: signet_crypto::HashAlgorithm::Sha256,
            digest: signet_crypto::sha256(input.artifact).to_vec(),
        },
    };
    verifier
        .verify(&bundle, &artifact, &policy)
        .map(|_| ())
        .map_err(|e| format!("{}: {}", e.check, e.reason))
}

fn run_oracle(engines: &Engines, input: &Input<'_>) -> Verdict {
    let verifier = engines
        .oracle
        .as_ref()
        .map_err(|e| format!("trusted root: {e}"))?;
    let json = std::str::from_utf8(input.bundle).map_err(|e| e.to_string())?;
    let bundle = OracleBundle::from_json(json).map_err(|e| e.to_string())?;
    let digest;
    let artifact: sigstore_verify::types::Artifact<'_> = match input.mode {
        Mode::Bytes => input.artifact.into(),
        Mode::Sha256 => {
            digest = Sha256Hash::new(signet_crypto::sha256(input.artifact));
            (&digest).into()
        }
    };
    let result = match input.key_pem {
        Some(pem) => {
            let key = DerPublicKey::from_pem(pem).map_err(|e| format!("key: {e}"))?;
            verifier.verify(artifact, &bundle, &PublicKeyVerificationPolicy::new(key))
        }
        None => verifier.verify(
            artifact,
            &bundle,
            &VerificationPolicy::new(input.identity, input.issuer),
        ),
    };
    result.map(|_| ()).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Mutations. Each takes the bundle JSON (and the artifact) and returns the
// mutated pair, or None when it does not apply to this bundle.

fn b64_flip(value: &mut Value, index: impl Fn(usize) -> usize) -> Option<()> {
    let text = value.as_str()?;
    let mut bytes = B64.decode(text).ok()?;
    if bytes.is_empty() {
        return None;
    }
    let i = index(bytes.len());
    bytes[i] ^= 0x01;
    *value = Value::String(B64.encode(bytes));
    Some(())
}

fn last(len: usize) -> usize {
    len - 1
}

fn middle(len: usize) -> usize {
    len / 2
}

fn signature(bundle: &mut Value) -> Option<&mut Value> {
    if bundle.get("messageSignature").is_some() {
        return bundle.pointer_mut("/messageSignature/signature");
    }
    bundle.pointer_mut("/dsseEnvelope/signatures/0/sig")
}

fn leaf_cert(bundle: &mut Value) -> Option<&mut Value> {
    let vm = bundle.get_mut("verificationMaterial")?;
    if vm.get("certificate").is_some() {
        return vm.pointer_mut("/certificate/rawBytes");
    }
    vm.pointer_mut("/x509CertificateChain/certificates/0/rawBytes")
}

fn entry(bundle: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    bundle
        .pointer_mut("/verificationMaterial/tlogEntries/0")?
        .as_object_mut()
}

fn with_body(bundle: &mut Value, f: impl FnOnce(&mut Vec<u8>) -> Option<()>) -> Option<()> {
    let body = entry(bundle)?.get_mut("canonicalizedBody")?;
    let mut bytes = B64.decode(body.as_str()?).ok()?;
    f(&mut bytes)?;
    *body = Value::String(B64.encode(bytes));
    Some(())
}

fn bump_string_int(value: &mut Value, by: i64) -> Option<()> {
    let n: i64 = match value {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    *value = Value::String((n + by).to_string());
    Some(())
}

type Mutation = fn(&mut Value, &mut Vec<u8>) -> Option<()>;

const MUTATIONS: &[(&str, Mutation)] = &[
    ("signature-last-byte", |b, _| b64_flip(signature(b)?, last)),
    ("certificate-tbs-byte", |b, _| {
        b64_flip(leaf_cert(b)?, middle)
    }),
    ("certificate-signature-byte", |b, _| {
        b64_flip(leaf_cert(b)?, last)
    }),
    ("body-middle-byte", |b, _| {
        with_body(b, |body| {
            let i = body.len() / 2;
            body[i] ^= 0x01;
            Some(())
        })
    }),
    // A semantic edit: the first base64- or hex-looking digest value in the
    // body loses its last character's low bit, keeping the JSON valid.
    ("body-digest-value", |b, _| {
        with_body(b, |body| {
            let text = std::str::from_utf8(body).ok()?;
            let key = ["\"value\":\"", "\"digest\":\""]
                .iter()
                .find_map(|k| text.find(k).map(|i| i + k.len()))?;
            let end = key + text[key..].find('"')?;
            // The last character before any base64 padding.
            let mut i = end - 1;
            while body[i] == b'=' {
                i -= 1;
            }
            body[i] = if body[i] == b'a' { b'b' } else { b'a' };
            Some(())
        })
    }),
    ("proof-hash-byte", |b, _| {
        b64_flip(
            entry(b)?
                .get_mut("inclusionProof")?
                .pointer_mut("/hashes/0")?,
            middle,
        )
    }),
    ("proof-root-hash-byte", |b, _| {
        b64_flip(
            entry(b)?.get_mut("inclusionProof")?.get_mut("rootHash")?,
            middle,
        )
    }),
    ("proof-log-index+1", |b, _| {
        bump_string_int(entry(b)?.get_mut("inclusionProof")?.get_mut("logIndex")?, 1)
    }),
    ("proof-tree-size+1", |b, _| {
        bump_string_int(entry(b)?.get_mut("inclusionProof")?.get_mut("treeSize")?, 1)
    }),
    ("set-last-byte", |b, _| {
        b64_flip(
            entry(b)?
                .get_mut("inclusionPromise")?
                .get_mut("signedEntryTimestamp")?,
            last,
        )
    }),
    // One character of the checkpoint's origin line (signed text).
    ("checkpoint-text", |b, _| {
        let envelope = entry(b)?
            .get_mut("inclusionProof")?
            .pointer_mut("/checkpoint/envelope")?;
        let mut text = envelope.as_str()?.as_bytes().to_vec();
        text[3] ^= 0x01;
        *envelope = Value::String(String::from_utf8(text).ok()?);
        Some(())
    }),
    // The checkpoint's (first) signature: a byte in its base64 blob.
    ("checkpoint-signature", |b, _| {
        let envelope = entry(b)?
            .get_mut("inclusionProof")?
            .pointer_mut("/checkpoint/envelope")?;
        let text = envelope.as_str()?.to_string();
        let (body, sigs) = text.split_once("\n\n")?;
        let first = sigs.lines().next()?;
        let (prefix, blob) = first.rsplit_once(' ')?;
        let mut raw = B64.decode(blob).ok()?;
        let i = raw.len() - 1;
        raw[i] ^= 0x01;
        let mut lines: Vec<String> = sigs.lines().map(str::to_string).collect();
        lines[0] = format!("{prefix} {}", B64.encode(raw));
        *envelope = Value::String(format!("{body}\n\n{}\n", lines.join("\n")));
        Some(())
    }),
    ("integrated-time+1", |b, _| {
        let t = entry(b)?.get_mut("integratedTime")?;
        if t.as_str() == Some("0") {
            return None;
        }
        bump_string_int(t, 1)
    }),
    // Rekor v2 entries carry no (or a zero) integrated time; give one.
    ("integrated-time-set", |b, _| {
        let e = entry(b)?;
        if e.get("integratedTime")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "0")
        {
            return None;
        }
        e.insert("integratedTime".into(), Value::String("1750000000".into()));
        Some(())
    }),
    ("log-index+1", |b, _| {
        bump_string_int(entry(b)?.get_mut("logIndex")?, 1)
    }),
    ("log-id-byte", |b, _| {
        b64_flip(entry(b)?.get_mut("logId")?.get_mut("keyId")?, middle)
    }),
    ("drop-tlog-entries", |b, _| {
        let entries = b.pointer_mut("/verificationMaterial/tlogEntries")?;
        if entries.as_array()?.is_empty() {
            return None;
        }
        *entries = Value::Array(Vec::new());
        Some(())
    }),
    ("duplicate-tlog-entry", |b, _| {
        let entries = b
            .pointer_mut("/verificationMaterial/tlogEntries")?
            .as_array_mut()?;
        let first = entries.first()?.clone();
        entries.push(first);
        Some(())
    }),
    ("drop-inclusion-promise", |b, _| {
        entry(b)?.remove("inclusionPromise").map(|_| ())
    }),
    ("drop-inclusion-proof", |b, _| {
        entry(b)?.remove("inclusionProof").map(|_| ())
    }),
    ("drop-checkpoint", |b, _| {
        entry(b)?
            .get_mut("inclusionProof")?
            .as_object_mut()?
            .remove("checkpoint")
            .map(|_| ())
    }),
    ("drop-timestamps", |b, _| {
        b.get_mut("verificationMaterial")?
            .as_object_mut()?
            .remove("timestampVerificationData")
            .map(|_| ())
    }),
    ("timestamp-last-byte", |b, _| {
        b64_flip(
            b.pointer_mut("/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp")?,
            last,
        )
    }),
    ("duplicate-timestamp", |b, _| {
        let tokens = b
            .pointer_mut("/verificationMaterial/timestampVerificationData/rfc3161Timestamps")?
            .as_array_mut()?;
        let first = tokens.first()?.clone();
        tokens.push(first);
        Some(())
    }),
    ("message-digest-byte", |b, _| {
        b64_flip(
            b.pointer_mut("/messageSignature/messageDigest/digest")?,
            middle,
        )
    }),
    ("drop-message-digest", |b, _| {
        b.get_mut("messageSignature")?
            .as_object_mut()?
            .remove("messageDigest")
            .map(|_| ())
    }),
    ("dsse-payload-byte", |b, _| {
        b64_flip(b.pointer_mut("/dsseEnvelope/payload")?, middle)
    }),
    ("media-type-unknown-version", |b, _| {
        *b.get_mut("mediaType")? =
            Value::String("application/vnd.dev.sigstore.bundle.v0.9+json".into());
        Some(())
    }),
    ("swap-artifact", |_, a| {
        a.extend_from_slice(b"!");
        Some(())
    }),
];

/// Policy mutations: same bundle, a different expected signer.
const POLICY_MUTATIONS: &[&str] = &["policy-wrong-identity", "policy-wrong-issuer"];

// ---------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    agree_accept: usize,
    agree_reject: usize,
    signet_stricter: usize,
    oracle_stricter: usize,
}

fn allowed<'a>(list: &'a [(&str, &str, &str)], case: &str, mutation: &str) -> Option<&'a str> {
    list.iter()
        .find(|(c, m, _)| (*c == "*" || *c == case) && *m == mutation)
        .map(|(_, _, why)| *why)
}

#[test]
fn differential_against_sigstore_verify() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("conformance data")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 70, "expected 70 cases, found {}", dirs.len());

    let mut engine_cache: BTreeMap<PathBuf, Engines> = BTreeMap::new();
    let mut tally = Tally::default();
    let mut per_mutation: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    // (which list, mutation, reason) -> (cases, one example of the loser's reason)
    let mut explained: BTreeMap<(&str, String, &str), (Vec<String>, String)> = BTreeMap::new();
    let mut used_allowances = std::collections::BTreeSet::new();

    for dir in &dirs {
        let case = load_case(dir);
        let engines = engine_cache
            .entry(case.root.clone())
            .or_insert_with(|| engines(&case.root));
        let positive = !case.name.ends_with("_fail");

        let mut runs: Vec<Run> = Vec::new();
        for (mode, label) in [(Mode::Bytes, "none"), (Mode::Sha256, "none/by-digest")] {
            runs.push((
                label.to_string(),
                case.bundle.clone(),
                case.artifact.clone(),
                mode,
                case.identity.clone(),
                case.issuer.clone(),
            ));
        }
        if positive {
            let parsed: Value = serde_json::from_slice(&case.bundle).expect("positive case JSON");
            for (name, mutate) in MUTATIONS {
                let mut bundle = parsed.clone();
                let mut artifact = case.artifact.clone();
                if mutate(&mut bundle, &mut artifact).is_none() {
                    continue;
                }
                runs.push((
                    name.to_string(),
                    serde_json::to_vec(&bundle).unwrap(),
                    artifact,
                    Mode::Bytes,
                    case.identity.clone(),
                    case.issuer.clone(),
                ));
            }
            if case.key_pem.is_none() {
                for name in POLICY_MUTATIONS {
                    let (identity, issuer) = match *name {
                        "policy-wrong-identity" => {
                            (format!("{}x", case.identity), case.issuer.clone())
                        }
                        _ => (case.identity.clone(), format!("{}x", case.issuer)),
                    };
                    runs.push((
                        name.to_string(),
                        case.bundle.clone(),
                        case.artifact.clone(),
                        Mode::Bytes,
                        identity,
                        issuer,
                    ));
                }
            }
        }

        for (mutation, bundle, artifact, mode, identity, issuer) in &runs {
            let input = Input {
                bundle,
                artifact,
                mode: *mode,
                key_pem: case.key_pem.as_deref(),
                identity,
                issuer,
            };
            let signet = run_signet(engines, &input);
            let oracle = run_oracle(engines, &input);
            let bucket = per_mutation.entry(mutation.clone()).or_default();
            // Allow-lists are keyed by the mutation without the mode suffix.
            let key = mutation.split('/').next().unwrap();
            match (&signet, &oracle) {
                (Ok(()), Ok(())) => {
                    tally.agree_accept += 1;
                    bucket.agree_accept += 1;
                }
                (Err(_), Err(_)) => {
                    tally.agree_reject += 1;
                    bucket.agree_reject += 1;
                }
                (Err(s), Ok(())) => {
                    tally.signet_stricter += 1;
                    bucket.signet_stricter += 1;
                    match allowed(SIGNET_STRICTER, &case.name, key) {
                        Some(why) => {
                            used_allowances.insert(("signet", case.name.clone(), key.to_string()));
                            let e = explained
                                .entry(("signet-stricter", key.to_string(), why))
                                .or_insert_with(|| (Vec::new(), format!("signet: {s}")));
                            e.0.push(case.name.clone());
                        }
                        None => failures.push(format!(
                            "signet REJECTS, oracle accepts: {} / {mutation}\n    signet: {s}",
                            case.name
                        )),
                    }
                }
                (Ok(()), Err(o)) => {
                    tally.oracle_stricter += 1;
                    bucket.oracle_stricter += 1;
                    match allowed(ORACLE_STRICTER, &case.name, key) {
                        Some(why) => {
                            used_allowances.insert(("oracle", case.name.clone(), key.to_string()));
                            let e = explained
                                .entry(("oracle-stricter", key.to_string(), why))
                                .or_insert_with(|| (Vec::new(), format!("oracle: {o}")));
                            e.0.push(case.name.clone());
                        }
                        None => failures.push(format!(
                            "signet ACCEPTS, oracle rejects: {} / {mutation}\n    oracle: {o}",
                            case.name
                        )),
                    }
                }
            }
        }
    }

    // Stale allow-list entries.
    for (which, list) in [("signet", SIGNET_STRICTER), ("oracle", ORACLE_STRICTER)] {
        for (case, mutation, _) in list {
            let used = used_allowances
                .iter()
                .any(|(w, c, m)| *w == which && (*case == "*" || c == case) && m == mutation);
            if !used {
                failures.push(format!(
                    "stale {which}-stricter allow-list entry ({case}, {mutation}): they agree now"
                ));
            }
        }
    }

    println!(
        "\n{:<30} {:>7} {:>7} {:>8} {:>8}",
        "mutation", "accept", "reject", "signet>", "oracle>"
    );
    for (name, t) in &per_mutation {
        println!(
            "{name:<30} {:>7} {:>7} {:>8} {:>8}",
            t.agree_accept, t.agree_reject, t.signet_stricter, t.oracle_stricter
        );
    }
    let total =
        tally.agree_accept + tally.agree_reject + tally.signet_stricter + tally.oracle_stricter;
    println!(
        "{:<30} {:>7} {:>7} {:>8} {:>8}",
        "TOTAL",
        tally.agree_accept,
        tally.agree_reject,
        tally.signet_stricter,
        tally.oracle_stricter
    );
    println!(
        "\n{total} runs: {} agree ({} both accept, {} both reject), {} signet-stricter, {} oracle-stricter",
        tally.agree_accept + tally.agree_reject,
        tally.agree_accept,
        tally.agree_reject,
        tally.signet_stricter,
        tally.oracle_stricter
    );
    for ((which, mutation, why), (cases, example)) in &explained {
        println!(
            "\n{which} {mutation} ({} runs): {why}\n  cases: {}\n  e.g. {example}",
            cases.len(),
            cases.join(", ")
        );
    }
    assert!(
        failures.is_empty(),
        "{} unexplained disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
