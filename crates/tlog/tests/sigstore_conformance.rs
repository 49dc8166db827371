//! Checkpoints and inclusion proofs from the Sigstore conformance bundles in
//! /testdata/conformance/bundle-verify.
//!
//! The log key is found the way a client finds it: the entry's `logId.keyId`
//! selects the trusted root's `tlogs[]` entry. The note key name is the host
//! of that entry's `baseUrl`; the key hint is derived from the key with the
//! convention of its type, and the tests check that it equals the first four
//! bytes of the trusted root's `logId.keyId`.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;
use signet_crypto::{KeyKind, PublicKey};
use signet_tlog::{
    leaf_hash, verify_inclusion, Checkpoint, CheckpointError, Hash, MerkleError, Note, NoteError,
    NoteVerifier,
};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn case_dir(case: &str) -> PathBuf {
    testdata().join("conformance/bundle-verify").join(case)
}

fn bundle(case: &str) -> Value {
    read_json(&case_dir(case).join("bundle.sigstore.json"))
}

fn trusted_root(case: &str) -> Value {
    let local = case_dir(case).join("trusted_root.json");
    if local.exists() {
        read_json(&local)
    } else {
        read_json(&testdata().join("trust/public-good/trusted_root.json"))
    }
}

fn b64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn b64_hash(v: &Value) -> Hash {
    b64(v).try_into().unwrap()
}

fn num(v: &Value) -> u64 {
    v.as_str().unwrap().parse().unwrap()
}

/// The trusted root's log whose key ID equals `key_id`.
fn find_log<'a>(root: &'a Value, key_id: &[u8]) -> &'a Value {
    root["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| b64(&t["logId"]["keyId"]) == key_id)
        .expect("log of the entry is in the trusted root")
}

fn host(base_url: &str) -> &str {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    rest.split('/').next().unwrap()
}

/// The verifier for a trusted-root log entry, built with the convention of
/// its key type; checks that the derived key hint matches the log's key ID.
fn verifier_for(log: &Value) -> NoteVerifier {
    let key = PublicKey::from_spki_der(&b64(&log["publicKey"]["rawBytes"])).unwrap();
    let name = host(log["baseUrl"].as_str().unwrap()).to_owned();
    let verifier = match key.kind() {
        KeyKind::Ed25519 => NoteVerifier::ed25519_c2sp(name, key).unwrap(),
        _ => NoteVerifier::rekor_ecdsa(name, key).unwrap(),
    };
    let key_id = b64(&log["logId"]["keyId"]);
    assert_eq!(verifier.key_hint()[..], key_id[..4], "key hint convention");
    verifier
}

/// What each step of checking a bundle's tlog entry produced.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// Parsing the checkpoint envelope as a signed note (None: no checkpoint).
    note: Option<Result<(), NoteError>>,
    /// Parsing the note text as a checkpoint.
    checkpoint: Option<Result<(), CheckpointError>>,
    /// Verifying the note with the log's key.
    signature: Option<Result<(), NoteError>>,
    /// Verifying the inclusion proof against its own `rootHash`.
    inclusion: Result<(), MerkleError>,
    /// Whether the checkpoint's size and root equal the proof's.
    checkpoint_matches_proof: Option<bool>,
}

const OK: Option<Result<(), NoteError>> = Some(Ok(()));

fn check(case: &str) -> Outcome {
    let bundle = bundle(case);
    let root = trusted_root(case);
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    let proof = &entry["inclusionProof"];
    let log = find_log(&root, &b64(&entry["logId"]["keyId"]));

    let index = num(&proof["logIndex"]);
    let size = num(&proof["treeSize"]);
    let proof_root = b64_hash(&proof["rootHash"]);
    let hashes: Vec<Hash> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(b64_hash)
        .collect();
    let leaf = leaf_hash(&b64(&entry["canonicalizedBody"]));
    let inclusion = verify_inclusion(index, size, &leaf, &hashes, &proof_root);

    let mut out = Outcome {
        note: None,
        checkpoint: None,
        signature: None,
        inclusion,
        checkpoint_matches_proof: None,
    };
    let Some(envelope) = proof["checkpoint"]["envelope"].as_str() else {
        return out;
    };
    let note = match Note::parse(envelope) {
        Ok(n) => n,
        Err(e) => {
            out.note = Some(Err(e));
            return out;
        }
    };
    out.note = OK;
    assert_eq!(note.serialize(), envelope, "byte-exact round trip");
    match Checkpoint::from_note(&note) {
        Ok(cp) => {
            assert_eq!(cp.to_text(), note.text(), "byte-exact round trip");
            out.checkpoint = Some(Ok(()));
            out.checkpoint_matches_proof = Some(cp.size() == size && cp.root_hash() == &proof_root);
        }
        Err(e) => out.checkpoint = Some(Err(e)),
    }
    out.signature = Some(verifier_for(log).verify(&note));
    out
}

fn all_ok() -> Outcome {
    Outcome {
        note: OK,
        checkpoint: Some(Ok(())),
        signature: OK,
        inclusion: Ok(()),
        checkpoint_matches_proof: Some(true),
    }
}

#[test]
fn happy_paths_verify() {
    for case in [
        "happy-path-v0.3",
        "rekor2-happy-path",
        "rekor2-checkpoint-cosigned",
        "rekor2-checkpoint-two-sigs-from-origin",
        "rekor2-checkpoint-two-sigs-cosigned",
        "rekor2-checkpoint-origin-not-first",
        "rekor2-checkpoint-multiple-cosigs",
    ] {
        assert_eq!(check(case), all_ok(), "{case}");
    }
}

fn with(f: impl FnOnce(&mut Outcome)) -> Outcome {
    let mut o = all_ok();
    f(&mut o);
    o
}

/// The defective bundles, and the step(s) at which each fails. Steps are run
/// independently, so a bundle can fail more than one.
#[test]
fn defective_bundles_fail_at_the_right_step() {
    let bad_sig = |name: &str| Some(Err(NoteError::BadSignature { name: name.into() }));
    let v2 = "log2025-alpha1.rekor.sigstage.dev";
    let cases: Vec<(&str, Outcome)> = vec![
        // The text was edited after signing: the checkpoint is malformed and
        // the log signature no longer verifies.
        (
            "rekor2-checkpoint-missing-origin_fail",
            with(|o| {
                o.checkpoint = Some(Err(CheckpointError::MissingOrigin));
                o.signature = bad_sig(v2);
                o.checkpoint_matches_proof = None;
            }),
        ),
        (
            "rekor2-checkpoint-missing-size_fail",
            with(|o| {
                o.checkpoint = Some(Err(CheckpointError::MissingSize));
                o.signature = bad_sig(v2);
                o.checkpoint_matches_proof = None;
            }),
        ),
        (
            "rekor2-checkpoint-missing-root-hash_fail",
            with(|o| {
                o.checkpoint = Some(Err(CheckpointError::MissingRootHash));
                o.signature = bad_sig(v2);
                o.checkpoint_matches_proof = None;
            }),
        ),
        // No signature lines at all: not a signed note.
        (
            "rekor2-checkpoint-missing-log-signature_fail",
            with(|o| {
                o.note = Some(Err(NoteError::NoSignatures));
                o.checkpoint = None;
                o.signature = None;
                o.checkpoint_matches_proof = None;
            }),
        ),
        // Signed under another name (log2025-alpha1.rekor.github.dev).
        (
            "rekor2-checkpoint-no-matching-signature_fail",
            with(|o| {
                o.signature = Some(Err(NoteError::NoMatchingSignature {
                    name: v2.into(),
                    key_hint: [0xf3, 0x0d, 0x5a, 0x99],
                }))
            }),
        ),
        // Key hint c0d23d6a altered to c4d23d6a.
        (
            "checkpoint-bad-keyhint_fail",
            with(|o| {
                o.signature = Some(Err(NoteError::NoMatchingSignature {
                    name: "rekor.sigstore.dev".into(),
                    key_hint: [0xc0, 0xd2, 0x3d, 0x6a],
                }))
            }),
        ),
        (
            "invalid-checkpoint-signature_fail",
            with(|o| o.signature = bad_sig("rekor.sigstore.dev")),
        ),
        // A validly signed checkpoint for another tree size.
        (
            "checkpoint-wrong-roothash_fail",
            with(|o| o.checkpoint_matches_proof = Some(false)),
        ),
        (
            "inclusion-proof-corrupted-hash_fail",
            with(|o| o.inclusion = Err(MerkleError::RootMismatch)),
        ),
        // No checkpoint in this (v0.1-era) bundle; the proof is wrong.
        (
            "invalid-inclusion-proof_fail",
            Outcome {
                note: None,
                checkpoint: None,
                signature: None,
                inclusion: Err(MerkleError::RootMismatch),
                checkpoint_matches_proof: None,
            },
        ),
    ];
    for (case, want) in cases {
        assert_eq!(check(case), want, "{case}");
    }
}

/// Every bundle not named `_fail` that carries an inclusion proof passes all
/// tlog steps.
#[test]
fn all_passing_bundles_verify() {
    let mut cases: Vec<String> = std::fs::read_dir(testdata().join("conformance/bundle-verify"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|c| !c.ends_with("_fail"))
        .filter(|c| case_dir(c).join("bundle.sigstore.json").exists())
        .collect();
    cases.sort();
    let mut checked = 0;
    for case in cases {
        let b = bundle(&case);
        if b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"].is_null() {
            continue;
        }
        assert_eq!(check(&case), all_ok(), "{case}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} bundles checked");
}

/// Records the key-name conventions: Rekor v1 signs as the bare host name,
/// which is *not* the checkpoint origin; Rekor v2 signs as its origin.
#[test]
fn key_name_conventions() {
    let sig_name_and_origin = |case: &str| {
        let b = bundle(case);
        let env = b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
            ["envelope"]
            .as_str()
            .unwrap()
            .to_owned();
        let note = Note::parse(&env).unwrap();
        let cp = Checkpoint::from_note(&note).unwrap();
        (
            note.signatures()[0].name().to_owned(),
            cp.origin().to_owned(),
        )
    };
    let (name, origin) = sig_name_and_origin("happy-path-v0.3");
    assert_eq!(name, "rekor.sigstore.dev");
    assert_eq!(origin, "rekor.sigstore.dev - 2605736670972794746");
    let (name, origin) = sig_name_and_origin("rekor2-happy-path");
    assert_eq!(name, "log2025-alpha1.rekor.sigstage.dev");
    assert_eq!(origin, name);
}

/// The witness line of a cosigned checkpoint has the tlog-cosignature/v1
/// shape (8-byte timestamp + 64-byte Ed25519 signature). The trusted root
/// carries no witness keys, so it cannot be verified here.
#[test]
fn witness_cosignature_shape() {
    let b = bundle("rekor2-checkpoint-cosigned");
    let env = b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
        ["envelope"]
        .as_str()
        .unwrap();
    let note = Note::parse(env).unwrap();
    let witness = &note.signatures()[1];
    assert_eq!(witness.name(), "witness.example");
    assert_eq!(witness.signature().len(), 72);
    let ts = u64::from_be_bytes(witness.signature()[..8].try_into().unwrap());
    assert!(
        (1_700_000_000..2_000_000_000).contains(&ts),
        "timestamp {ts}"
    );
}
