//! Every check of the verification pipeline can fail on its own.
//!
//! Each test builds a complete, valid, synthetic Sigstore world (see
//! `support`), changes exactly one thing (re-signing everything downstream
//! of it validly), and asserts that verification fails with the one check
//! that is about that thing. The baselines show that the unchanged worlds
//! verify, so that each failure is the defect's doing.

mod support;

use serde_json::json;
use signet_crypto::sha256;
use signet_model::bundle::{Rfc3161SignedTimestamp, TimestampVerificationData};
use signet_model::encoding::{encode_base64, Base64, Int64};
use signet_model::{Bundle, BundleVersion, TrustedRoot};
use signet_verify::{Check, Claim, Matcher, SignerPolicy, SigningTime, VerifyError};

use support::*;

/// Asserts that `world` fails verification with `check`.
#[track_caller]
fn assert_fails(world: &World, check: Check) {
    match world.verify() {
        Err(VerifyError { check: got, reason }) => {
            assert_eq!(got, check, "failed with the wrong check: {got}: {reason}")
        }
        Ok(v) => panic!("verified, but {check} should have failed: {v:?}"),
    }
}

/// As [`assert_fails`], and the reason mentions `fragment` (for checks
/// that several different defects lead to).
#[track_caller]
fn assert_fails_because(world: &World, check: Check, fragment: &str) {
    match world.verify() {
        Err(VerifyError { check: got, reason }) => {
            assert_eq!(got, check, "failed with the wrong check: {got}: {reason}");
            assert!(
                reason.contains(fragment),
                "{got} failed, but not because of {fragment:?}: {reason}"
            );
        }
        Ok(v) => panic!("verified, but {check} should have failed: {v:?}"),
    }
}

#[track_caller]
fn assert_verifies(world: &World) -> signet_verify::Verified {
    world
        .verify()
        .unwrap_or_else(|e| panic!("the world should verify: {e}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    signet_model::encoding::encode_hex(sha256(bytes))
}

// ---------------------------------------------------------------------------
// Baselines and positive variants.

#[test]
fn baseline_message_signature_verifies() {
    let world = Spec::new(Kind::Message).build();
    let v = assert_verifies(&world);
    assert_eq!(v.media_type, BundleVersion::V0_3.media_type());
    assert_eq!(
        v.signing_times,
        vec![SigningTime::Log {
            url: format!("https://{REKOR_HOST}"),
            time: T0
        }]
    );
    assert_eq!(
        v.log_entries,
        vec![(format!("https://{REKOR_HOST}"), LOG_INDEX)]
    );
    assert_eq!(v.subject, Some(vec![SAN_URI.to_string()]));
    assert_eq!(v.issuer.as_deref(), Some(OIDC_ISSUER));
    assert!(v.statement.is_none());
}

#[test]
fn baseline_dsse_verifies() {
    let world = Spec::new(Kind::Dsse).build();
    let v = assert_verifies(&world);
    let statement = v.statement.expect("statement");
    assert!(statement.has_subject_digest("sha256", &sha256_hex(ARTIFACT)));
    assert_eq!(v.subject, Some(vec![SAN_URI.to_string()]));
}

#[test]
fn baseline_managed_key_message_verifies() {
    let world = Spec::managed_key(Kind::Message).build();
    let v = assert_verifies(&world);
    assert!(v.subject.is_none() && v.issuer.is_none());
    assert_eq!(v.signing_times.len(), 1);
}

#[test]
fn baseline_managed_key_dsse_verifies() {
    let world = Spec::managed_key(Kind::Dsse).build();
    assert_verifies(&world);
}

#[test]
fn v0_2_bundle_with_certificate_chain_verifies() {
    for kind in [Kind::Message, Kind::Dsse] {
        let world = Spec {
            version: BundleVersion::V0_2,
            ..Spec::new(kind)
        }
        .build();
        assert!(world
            .bundle
            .verification_material
            .x509_certificate_chain
            .is_some());
        assert_verifies(&world);
    }
}

#[test]
fn v0_1_bundle_with_set_only_verifies() {
    let world = Spec {
        version: BundleVersion::V0_1,
        with_proof: false,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert!(world.bundle.verification_material.tlog_entries[0]
        .inclusion_proof
        .is_none());
    let v = assert_verifies(&world);
    assert_eq!(v.signing_times.len(), 1);
}

#[test]
fn identity_regexp_match_verifies() {
    let mut world = Spec::new(Kind::Message).build();
    let policy = world.identity_policy();
    policy.subject = Matcher::regex(
        r"^https://github\.com/signet-dev/signet/\.github/workflows/.+@refs/heads/main$",
    )
    .unwrap();
    policy.issuer = Matcher::regex(r"^https://token\.actions\.githubusercontent\.com$").unwrap();
    policy.claims = vec![(
        Claim::SourceRepositoryUri,
        Matcher::regex("^https://github.com/signet-dev/").unwrap(),
    )];
    assert_verifies(&world);
}

#[test]
fn integrated_time_within_clock_skew_verifies() {
    // "Now" is the signing time; the log's clock is 60 s ahead.
    let world = Spec {
        integrated_time: T0 + 60,
        now: T0,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_verifies(&world);
}

#[test]
fn synthetic_documents_round_trip_through_json() {
    for kind in [Kind::Message, Kind::Dsse] {
        let world = Spec::new(kind).build();
        let bundle = Bundle::from_json(world.bundle.to_json().as_bytes()).unwrap();
        assert_eq!(bundle, world.bundle);
        let root = TrustedRoot::from_json(world.trusted_root.to_json_pretty().as_bytes()).unwrap();
        assert_eq!(root, world.trusted_root);
    }
}

// ---------------------------------------------------------------------------
// BundleFormat

#[test]
fn unknown_media_type_fails_bundle_format() {
    let mut world = Spec::new(Kind::Message).build();
    world.bundle.media_type = "application/vnd.dev.sigstore.bundle+json;version=0.4".into();
    assert_fails(&world, Check::BundleFormat);
}

// ---------------------------------------------------------------------------
// SignerMaterial

#[test]
fn key_policy_on_certificate_bundle_fails_signer_material() {
    let mut world = Spec::new(Kind::Message).build();
    // Even the certificate's own key: the bundle is keyless.
    world.policy = SignerPolicy::Key(world.signer_key.public());
    assert_fails(&world, Check::SignerMaterial);
}

#[test]
fn identity_policy_on_key_bundle_fails_signer_material() {
    let mut world = Spec::managed_key(Kind::Message).build();
    world.policy = SignerPolicy::Identity(default_identity_policy());
    assert_fails(&world, Check::SignerMaterial);
}

// ---------------------------------------------------------------------------
// CertificateChain

#[test]
fn leaf_from_untrusted_ca_fails_certificate_chain() {
    // Same CA names, other keys: only the signature can tell.
    let world = Spec {
        leaf_from_rogue_ca: true,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::CertificateChain, "signature does not verify");
}

#[test]
fn ca_validity_excluding_signing_time_fails_certificate_chain() {
    let world = Spec {
        ca_valid_for: (Some(TRUST_START), Some(T0 - 1)),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(
        &world,
        Check::CertificateChain,
        "trusted CA 0 is not valid at",
    );
}

#[test]
fn ca_without_validity_start_fails_certificate_chain() {
    let world = Spec {
        ca_valid_for: (None, None),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::CertificateChain, "no trusted CA");
}

#[test]
fn v0_2_chain_with_foreign_intermediate_fails_certificate_chain() {
    let mut world = Spec {
        version: BundleVersion::V0_2,
        ..Spec::new(Kind::Message)
    }
    .build();
    let chain = world
        .bundle
        .verification_material
        .x509_certificate_chain
        .as_mut()
        .unwrap();
    chain.certificates[1].raw_bytes = Base64(test_ca().intermediate_der);
    assert_fails_because(
        &world,
        Check::CertificateChain,
        "not a certificate of the trusted CA chain",
    );
}

#[test]
fn v0_2_chain_carrying_its_root_fails_certificate_chain() {
    let mut world = Spec {
        version: BundleVersion::V0_2,
        ..Spec::new(Kind::Message)
    }
    .build();
    let root = world.ca.root_der.clone();
    let chain = world
        .bundle
        .verification_material
        .x509_certificate_chain
        .as_mut()
        .unwrap();
    chain
        .certificates
        .push(signet_model::bundle::X509Certificate {
            raw_bytes: Base64(root),
        });
    assert_fails_because(&world, Check::CertificateChain, "self-issued");
}

// ---------------------------------------------------------------------------
// CertificateValidity

#[test]
fn integrated_time_after_leaf_expiry_fails_certificate_validity() {
    let world = Spec {
        integrated_time: LEAF_NOT_AFTER + 1,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::CertificateValidity);
}

#[test]
fn integrated_time_before_leaf_validity_fails_certificate_validity() {
    let world = Spec {
        integrated_time: LEAF_NOT_BEFORE - 1,
        ..Spec::new(Kind::Dsse)
    }
    .build();
    assert_fails(&world, Check::CertificateValidity);
}

// ---------------------------------------------------------------------------
// IntegratedTime

#[test]
fn integrated_time_in_the_future_fails_integrated_time() {
    let world = Spec {
        integrated_time: NOW + 61,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::IntegratedTime);
}

#[test]
fn integrated_time_outside_log_key_validity_fails_integrated_time() {
    let before = Spec {
        tlog_valid_for: (Some(T0 + 1), None),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&before, Check::IntegratedTime);
    let after = Spec {
        tlog_valid_for: (Some(TRUST_START), Some(T0 - 1)),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&after, Check::IntegratedTime);
}

// ---------------------------------------------------------------------------
// Sct

#[test]
fn leaf_without_sct_fails_sct() {
    let world = Spec {
        sct: SctMode::Absent,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Sct, "no embedded SCT list");
}

#[test]
fn sct_from_unknown_ct_log_fails_sct() {
    let world = Spec {
        sct: SctMode::UnknownLog,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(
        &world,
        Check::Sct,
        "no embedded SCT is from a trusted CT log",
    );
}

#[test]
fn sct_with_bad_signature_fails_sct() {
    let world = Spec {
        sct: SctMode::BadSignature,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Sct, "does not verify");
}

#[test]
fn sct_over_another_precertificate_fails_sct() {
    let world = Spec {
        sct: SctMode::OverOtherPrecert,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Sct, "does not verify");
}

#[test]
fn sct_outside_ct_log_validity_fails_sct() {
    // The CT log's key is trusted only from the signing time on; the SCT
    // is from the leaf's issuance, half a minute earlier.
    let world = Spec {
        ctlog_valid_for: (Some(T0), None),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Sct, "outside the log's validity");
}

// ---------------------------------------------------------------------------
// Identity

#[test]
fn san_mismatch_fails_identity() {
    let world = Spec {
        san_uri: "https://github.com/mallory/signet/.github/workflows/release.yml@refs/heads/main"
            .into(),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::Identity);
}

#[test]
fn issuer_mismatch_fails_identity() {
    let world = Spec {
        oidc_issuer: "https://accounts.google.com".into(),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::Identity);
}

#[test]
fn regexp_san_mismatch_fails_identity() {
    let mut world = Spec::new(Kind::Message).build();
    world.identity_policy().subject =
        Matcher::regex(r"^https://github\.com/signet-dev/signet/.+@refs/tags/v.+$").unwrap();
    assert_fails(&world, Check::Identity);
}

#[test]
fn required_claim_missing_fails_identity() {
    let world = Spec {
        source_repository_uri: None,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::Identity);
}

#[test]
fn required_claim_different_fails_identity() {
    let world = Spec {
        source_repository_uri: Some("https://github.com/mallory/signet".into()),
        ..Spec::new(Kind::Dsse)
    }
    .build();
    assert_fails(&world, Check::Identity);
}

// ---------------------------------------------------------------------------
// ArtifactDigest

#[test]
fn message_digest_not_the_artifacts_fails_artifact_digest() {
    let world = Spec {
        message_digest: Some(sha256(b"another artifact").to_vec()),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::ArtifactDigest);
}

#[test]
fn bundle_of_another_artifact_fails_artifact_digest() {
    // A consistent bundle (digest, signature, log entry) for other bytes.
    let world = Spec {
        signed_artifact: Some(b"another artifact".to_vec()),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::ArtifactDigest);
}

// ---------------------------------------------------------------------------
// Signature

#[test]
fn wrong_signature_over_artifact_fails_signature() {
    let world = Spec {
        sign_other_bytes: true,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::Signature);
}

#[test]
fn wrong_signature_over_pae_fails_signature() {
    let world = Spec {
        sign_other_bytes: true,
        ..Spec::new(Kind::Dsse)
    }
    .build();
    assert_fails(&world, Check::Signature);
}

#[test]
fn dsse_with_two_signatures_fails_signature() {
    let world = Spec {
        second_dsse_signature: true,
        ..Spec::new(Kind::Dsse)
    }
    .build();
    assert_fails(&world, Check::Signature);
}

#[test]
fn managed_key_policy_with_another_key_fails_signature() {
    let mut world = Spec::managed_key(Kind::Message).build();
    world.policy = SignerPolicy::Key(Key::p256().public());
    assert_fails(&world, Check::Signature);
}

// ---------------------------------------------------------------------------
// StatementSubject

#[test]
fn statement_not_naming_the_artifact_fails_statement_subject() {
    let world = Spec {
        signed_artifact: Some(b"another artifact".to_vec()),
        ..Spec::new(Kind::Dsse)
    }
    .build();
    assert_fails(&world, Check::StatementSubject);
}

#[test]
fn non_in_toto_payload_type_fails_statement_subject() {
    let world = Spec {
        payload_type: "application/json".into(),
        ..Spec::new(Kind::Dsse)
    }
    .build();
    assert_fails(&world, Check::StatementSubject);
}

// ---------------------------------------------------------------------------
// TlogUnknownLog

#[test]
fn log_id_not_in_trust_root_fails_tlog_unknown_log() {
    let mut world = Spec::new(Kind::Message).build();
    world.entry().log_id.key_id = Base64(Key::p256().log_id().to_vec());
    assert_fails(&world, Check::TlogUnknownLog);
}

#[test]
fn log_key_without_validity_start_fails_tlog_unknown_log() {
    let world = Spec {
        tlog_valid_for: (None, None),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::TlogUnknownLog);

    let mut world = Spec::new(Kind::Message).build();
    world.trusted_root.tlogs[0].public_key.valid_for = None;
    assert_fails(&world, Check::TlogUnknownLog);
}

// ---------------------------------------------------------------------------
// TlogBody

#[test]
fn body_digest_differs_fails_tlog_body() {
    let other = sha256_hex(b"another artifact");
    let world = Spec {
        body_edit: Some(Box::new(move |b| {
            b["spec"]["data"]["hash"]["value"] = json!(other)
        })),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::TlogBody);
}

#[test]
fn body_signature_differs_fails_tlog_body() {
    let other = encode_base64(&Key::p256().sign(ARTIFACT));
    let world = Spec {
        body_edit: Some(Box::new(move |b| {
            b["spec"]["signature"]["content"] = json!(other)
        })),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::TlogBody);
}

#[test]
fn body_certificate_differs_fails_tlog_body() {
    let other = encode_base64(unrelated_certificate_pem().as_bytes());
    let world = Spec {
        body_edit: Some(Box::new(move |b| {
            b["spec"]["signature"]["publicKey"]["content"] = json!(other)
        })),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::TlogBody);
}

#[test]
fn body_public_key_differs_fails_tlog_body() {
    let other = encode_base64(Key::p256().pem().as_bytes());
    let world = Spec {
        body_edit: Some(Box::new(move |b| {
            b["spec"]["signature"]["publicKey"]["content"] = json!(other)
        })),
        ..Spec::managed_key(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::TlogBody);
}

#[test]
fn dsse_body_payload_hash_differs_fails_tlog_body() {
    let other = sha256_hex(b"{}");
    let world = Spec {
        body_edit: Some(Box::new(move |b| {
            b["spec"]["payloadHash"]["value"] = json!(other)
        })),
        ..Spec::new(Kind::Dsse)
    }
    .build();
    assert_fails(&world, Check::TlogBody);
}

#[test]
fn dsse_body_signature_differs_fails_tlog_body() {
    let other = encode_base64(&Key::p256().sign(b"x"));
    let world = Spec {
        body_edit: Some(Box::new(move |b| {
            b["spec"]["signatures"][0]["signature"] = json!(other)
        })),
        ..Spec::new(Kind::Dsse)
    }
    .build();
    assert_fails(&world, Check::TlogBody);
}

#[test]
fn dsse_body_verifier_differs_fails_tlog_body() {
    let other = encode_base64(unrelated_certificate_pem().as_bytes());
    let world = Spec {
        body_edit: Some(Box::new(move |b| {
            b["spec"]["signatures"][0]["verifier"] = json!(other)
        })),
        ..Spec::new(Kind::Dsse)
    }
    .build();
    assert_fails(&world, Check::TlogBody);
}

/// sigstore-go (`VerifyArtifactTransparencyLog`, `Certificate.CompareKey`)
/// requires the entry of a keyless bundle to name the very certificate; an
/// entry with only the leaf's bare key hides the identity from monitors
/// that search the log by certificate.
#[test]
fn keyless_entry_naming_the_bare_key_fails_tlog_body() {
    for kind in [Kind::Message, Kind::Dsse] {
        let world = Spec {
            body_names_bare_key: true,
            ..Spec::new(kind)
        }
        .build();
        assert_fails(&world, Check::TlogBody);
    }
}

#[test]
fn kind_version_not_the_bodys_fails_tlog_body() {
    let mut world = Spec::new(Kind::Message).build();
    world.entry().kind_version.version = "0.0.2".into();
    assert_fails(&world, Check::TlogBody);

    let mut world = Spec::new(Kind::Dsse).build();
    world.entry().kind_version.kind = "intoto".into();
    assert_fails(&world, Check::TlogBody);
}

// ---------------------------------------------------------------------------
// InclusionProof

#[test]
fn flipped_proof_hash_fails_inclusion_proof() {
    let mut world = Spec::new(Kind::Message).build();
    world.proof().hashes[1].0[7] ^= 0x01;
    assert_fails(&world, Check::InclusionProof);
}

#[test]
fn wrong_tree_size_fails_inclusion_proof() {
    // The log claims (in the proof and in its signed checkpoint) a size
    // whose proof has another shape.
    let world = Spec {
        claimed_tree_size: Some(4),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::InclusionProof);
}

#[test]
fn index_not_below_tree_size_fails_inclusion_proof() {
    let mut world = Spec::new(Kind::Message).build();
    world.proof().log_index = Int64(TREE_SIZE);
    assert_fails(&world, Check::InclusionProof);
}

// ---------------------------------------------------------------------------
// Checkpoint

#[test]
fn checkpoint_signed_by_another_key_fails_checkpoint() {
    let world = Spec {
        checkpoint_signed_by_other_key: true,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Checkpoint, "not signed by");
}

#[test]
fn checkpoint_root_not_the_proofs_fails_checkpoint() {
    let world = Spec {
        checkpoint_root: Some([0x42; 32]),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Checkpoint, "does not match the proof");
}

#[test]
fn proof_tree_size_not_the_checkpoints_fails_checkpoint() {
    // Size 8 gives index 3 a proof of the same shape as size 7, so the
    // proof itself still leads to the root; only the checkpoint, signed
    // for size 7, tells.
    let mut world = Spec::new(Kind::Message).build();
    world.proof().tree_size = Int64(TREE_SIZE + 1);
    assert_fails_because(&world, Check::Checkpoint, "does not match the proof");
}

#[test]
fn checkpoint_origin_of_another_log_fails_checkpoint() {
    let world = Spec {
        checkpoint_origin: Some(format!("rekor.other.test - {REKOR_TREE_ID}")),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Checkpoint, "origin");
}

#[test]
fn malformed_checkpoint_fails_checkpoint() {
    // A validly signed note whose text is not a checkpoint.
    let root = encode_base64(&[0x42; 32]);
    let world = Spec {
        checkpoint_text: Some(format!("{REKOR_HOST} - {REKOR_TREE_ID}\nseven\n{root}\n")),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Checkpoint, "malformed checkpoint");

    // Not a signed note at all.
    let mut world = Spec::new(Kind::Message).build();
    world.proof().checkpoint.as_mut().unwrap().envelope = "not a note".into();
    assert_fails_because(&world, Check::Checkpoint, "malformed signed note");
}

// ---------------------------------------------------------------------------
// Set

#[test]
fn set_signed_by_another_key_fails_set() {
    let world = Spec {
        set_signed_by_other_key: true,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Set, "signed entry timestamp does not verify");
}

#[test]
fn set_over_another_integrated_time_fails_set() {
    let world = Spec {
        set_time: Some(T0 + 1),
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails_because(&world, Check::Set, "signed entry timestamp does not verify");
}

#[test]
fn log_index_not_the_sets_fails_set() {
    let mut world = Spec::new(Kind::Message).build();
    world.entry().log_index = Int64(LOG_INDEX + 1);
    assert_fails_because(&world, Check::Set, "signed entry timestamp does not verify");
}

// ---------------------------------------------------------------------------
// Timestamp

fn garbage_timestamp() -> Option<TimestampVerificationData> {
    Some(TimestampVerificationData {
        rfc3161_timestamps: vec![Rfc3161SignedTimestamp {
            signed_timestamp: Base64(b"this is not an RFC 3161 token".to_vec()),
        }],
    })
}

#[test]
fn garbage_timestamp_as_the_only_time_fails_timestamp() {
    // No SET: the timestamp would be the only trusted time, and it is
    // garbage. Its failure, not the threshold, is the reason.
    let mut world = Spec {
        with_promise: false,
        ..Spec::new(Kind::Message)
    }
    .build();
    world
        .bundle
        .verification_material
        .timestamp_verification_data = garbage_timestamp();
    assert_fails(&world, Check::Timestamp);
}

#[test]
fn garbage_timestamp_beside_a_set_is_not_counted() {
    // As sigstore-go: a token that does not verify is left out, and the
    // SET's time suffices.
    let mut world = Spec::new(Kind::Message).build();
    world
        .bundle
        .verification_material
        .timestamp_verification_data = garbage_timestamp();
    let v = assert_verifies(&world);
    assert_eq!(v.signing_times.len(), 1);
}

#[test]
fn duplicate_timestamps_fail_timestamp() {
    let mut world = Spec::new(Kind::Message).build();
    let mut data = garbage_timestamp().unwrap();
    data.rfc3161_timestamps
        .push(data.rfc3161_timestamps[0].clone());
    world
        .bundle
        .verification_material
        .timestamp_verification_data = Some(data);
    assert_fails(&world, Check::Timestamp);
}

// ---------------------------------------------------------------------------
// Threshold

#[test]
fn no_tlog_entries_fails_threshold() {
    let mut world = Spec::new(Kind::Message).build();
    world.bundle.verification_material.tlog_entries.clear();
    assert_fails(&world, Check::Threshold);
}

/// sigstore-go refuses duplicate entries (same log, same index) because
/// "a malicious actor could use duplicates to bypass the threshold".
#[test]
fn duplicate_entry_does_not_meet_a_threshold_of_two() {
    let mut world = Spec::new(Kind::Message).build();
    world.options.tlog_threshold = 2;
    let entry = world.entry().clone();
    world.bundle.verification_material.tlog_entries.push(entry);
    assert_fails(&world, Check::BundleFormat);
}

/// Thresholds count distinct logs (as sigstore-go's verified log IDs): the
/// same entry again without its promise, under the proof's index, is the
/// same log's word twice.
#[test]
fn one_entry_with_and_without_its_promise_does_not_meet_a_threshold_of_two() {
    let mut world = Spec::new(Kind::Message).build();
    world.options.tlog_threshold = 2;
    let mut copy = world.entry().clone();
    copy.inclusion_promise = None;
    copy.log_index = copy.inclusion_proof.as_ref().unwrap().log_index;
    world.bundle.verification_material.tlog_entries.push(copy);
    assert_fails_because(&world, Check::Threshold, "1 distinct logs");
}

/// Two entries of the same content at two indexes of one log (a log that
/// took it twice, or a compromised one): one log, one witness, one
/// signed time.
#[test]
fn two_entries_from_one_log_are_one_log_and_one_time() {
    let two_entries = || {
        let mut world = Spec::new(Kind::Message).build();
        let first = world.entry().clone();
        let second = signet_testkit::LogEntry {
            tree_index: TREE_INDEX + 1,
            log_index: LOG_INDEX + 1,
            ..signet_testkit::LogEntry::new(&world.rekor_key, REKOR_HOST, REKOR_TREE_ID, T0)
        }
        .log(
            &first.kind_version.kind,
            &first.kind_version.version,
            first.canonicalized_body.0.clone(),
        );
        world.bundle.verification_material.tlog_entries.push(second);
        world
    };
    // Both entries verify on their own: the default thresholds pass.
    assert_verifies(&two_entries());
    let mut world = two_entries();
    world.options.tlog_threshold = 2;
    assert_fails_because(&world, Check::Threshold, "1 distinct logs");
    let mut world = two_entries();
    world.options.time_threshold = 2;
    assert_fails_because(&world, Check::Threshold, "1 distinct logs or timestamp");
}

/// Two SCTs from one CT log are one CT log's word.
#[test]
fn two_scts_from_one_ct_log_do_not_meet_an_sct_threshold_of_two() {
    let spec = || Spec {
        sct: SctMode::TwiceFromOneLog,
        ..Spec::new(Kind::Message)
    };
    assert_verifies(&spec().build());
    let mut world = spec().build();
    world.options.sct_threshold = 2;
    assert_fails_because(&world, Check::Sct, "1 distinct CT logs");
}

/// A trust root may list one CT log twice (a window each, as for a key
/// rotation); SCTs that land in the two windows are still one log's word.
#[test]
fn one_ct_log_listed_twice_is_still_one_ct_log() {
    let mut world = Spec {
        sct: SctMode::TwiceFromOneLog,
        ..Spec::new(Kind::Message)
    }
    .build();
    let mut second = world.trusted_root.ctlogs[0].clone();
    let first = &mut world.trusted_root.ctlogs[0];
    first.public_key.valid_for = signet_testkit::range((Some(TRUST_START), Some(LEAF_NOT_BEFORE)));
    second.public_key.valid_for = signet_testkit::range((Some(LEAF_NOT_BEFORE + 1), None));
    world.trusted_root.ctlogs.push(second);
    assert_verifies(&world);
    world.options.sct_threshold = 2;
    assert_fails_because(&world, Check::Sct, "1 distinct CT logs");
}

#[test]
fn unsigned_entry_index_other_than_the_proven_one_fails_inclusion_proof() {
    let mut world = Spec {
        with_promise: false,
        ..Spec::new(Kind::Message)
    }
    .build();
    world.entry().log_index.0 += 1;
    assert_fails_because(&world, Check::InclusionProof, "not the proven index");
}

#[test]
fn no_trusted_time_fails_threshold() {
    // A v0.3 entry with an inclusion proof and checkpoint, but no SET and
    // no timestamp: the integrated time is the log's word, unsigned.
    let world = Spec {
        with_promise: false,
        ..Spec::new(Kind::Message)
    }
    .build();
    assert_fails(&world, Check::Threshold);
}

// ----- checks whose failure had no test of its own --------------------------

#[test]
fn promise_without_an_integrated_time_fails_set() {
    let mut world = Spec::new(Kind::Message).build();
    world.entry().integrated_time = None;
    assert_fails_because(&world, Check::Set, "without an integrated time");
}

#[test]
fn proof_hashes_of_the_wrong_length_fail_inclusion_proof() {
    let mut world = Spec::new(Kind::Message).build();
    world
        .entry()
        .inclusion_proof
        .as_mut()
        .unwrap()
        .root_hash
        .0
        .pop();
    assert_fails_because(&world, Check::InclusionProof, "root hash is not 32 bytes");

    let mut world = Spec::new(Kind::Message).build();
    let proof = world.entry().inclusion_proof.as_mut().unwrap();
    assert!(!proof.hashes.is_empty());
    proof.hashes[0].0.push(0);
    assert_fails_because(&world, Check::InclusionProof, "proof hash is not 32 bytes");
}

/// A trusted log whose ID is shorter than a checkpoint key hint (the entry
/// naming the same ID, and no SET to fail first) is a broken trust root.
#[test]
fn log_id_shorter_than_a_key_hint_fails_trust_root() {
    let mut world = Spec {
        with_promise: false,
        ..Spec::new(Kind::Message)
    }
    .build();
    let short = Base64(world.entry().log_id.key_id.0[..3].to_vec());
    world.entry().log_id.key_id = short.clone();
    world.trusted_root.tlogs[0].log_id.key_id = short;
    assert_fails_because(&world, Check::TrustRoot, "shorter than a key hint");
}

#[test]
fn dsse_envelope_without_signatures_fails_signature() {
    let mut world = Spec::new(Kind::Dsse).build();
    world
        .bundle
        .dsse_envelope
        .as_mut()
        .unwrap()
        .signatures
        .clear();
    assert_fails(&world, Check::Signature);
}

// ----- entry bodies of other kinds and versions ----------------------------

use signet_model::rekor::{
    DsseV002, EntryBody, HashOutput, HashedRekordV002, RawBytes, SignatureV002,
    Verifier as LoggedVerifier,
};

/// Replaces the world's log entry by one (validly logged, with a SET and a
/// proof) whose body is `body`.
fn relog(world: &mut World, body: EntryBody) {
    let bytes = signet_model::canonical::to_string(&body.to_value()).into_bytes();
    let entry = signet_testkit::LogEntry::new(&world.rekor_key, REKOR_HOST, REKOR_TREE_ID, T0).log(
        body.kind(),
        body.version(),
        bytes,
    );
    world.bundle.verification_material.tlog_entries = vec![entry];
}

/// The keyless world's certificate as a Rekor v2 verifier.
fn cert_verifier(world: &World) -> LoggedVerifier {
    LoggedVerifier {
        key_details: Some("PKIX_ECDSA_P256_SHA_256".into()),
        public_key: None,
        x509_certificate: Some(RawBytes {
            raw_bytes: Base64(world.leaf_der.clone().unwrap()),
        }),
    }
}

fn hashedrekord_v002(world: &World) -> HashedRekordV002 {
    let signature = world
        .bundle
        .message_signature
        .as_ref()
        .unwrap()
        .signature
        .clone();
    HashedRekordV002 {
        data: HashOutput {
            algorithm: "SHA2_256".into(),
            digest: Base64(sha256(&world.artifact).to_vec()),
        },
        signature: SignatureV002 {
            content: signature,
            verifier: cert_verifier(world),
        },
    }
}

#[test]
fn hashedrekord_v002_entries_must_describe_the_message() {
    // As logged by a Rekor v2 log: verifies.
    let mut world = Spec::new(Kind::Message).build();
    let body = hashedrekord_v002(&world);
    relog(&mut world, EntryBody::HashedRekordV002(body));
    assert_verifies(&world);

    type Edit = Box<dyn Fn(&mut HashedRekordV002)>;
    let edits: [(&str, Edit); 4] = [
        ("artifact digest", Box::new(|b| b.data.digest.0[0] ^= 1)),
        // The same bytes under another algorithm's name.
        (
            "artifact digest",
            Box::new(|b| b.data.algorithm = "SHA2_384".into()),
        ),
        ("signature", Box::new(|b| b.signature.content.0[5] ^= 1)),
        // A verifier naming the certificate and a key.
        (
            "signer",
            Box::new(|b| {
                let cert = b.signature.verifier.x509_certificate.clone();
                b.signature.verifier.public_key = cert;
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut world = Spec::new(Kind::Message).build();
        let mut body = hashedrekord_v002(&world);
        edit(&mut body);
        relog(&mut world, EntryBody::HashedRekordV002(body));
        assert_fails_because(&world, Check::TlogBody, what);
    }
}

#[test]
fn dsse_v002_entries_must_describe_the_envelope() {
    let dsse_v002 = |world: &World| {
        let envelope = world.bundle.dsse_envelope.as_ref().unwrap();
        DsseV002 {
            payload_hash: HashOutput {
                algorithm: "SHA2_256".into(),
                digest: Base64(sha256(&envelope.payload).to_vec()),
            },
            signatures: vec![SignatureV002 {
                content: envelope.signatures[0].sig.clone(),
                verifier: cert_verifier(world),
            }],
        }
    };
    let mut world = Spec::new(Kind::Dsse).build();
    let body = dsse_v002(&world);
    relog(&mut world, EntryBody::DsseV002(body));
    assert_verifies(&world);

    let mut world = Spec::new(Kind::Dsse).build();
    let mut body = dsse_v002(&world);
    body.payload_hash.digest.0[0] ^= 1;
    relog(&mut world, EntryBody::DsseV002(body));
    assert_fails_because(&world, Check::TlogBody, "payload hash");

    let mut world = Spec::new(Kind::Dsse).build();
    let mut body = dsse_v002(&world);
    let extra = body.signatures[0].clone();
    body.signatures.push(extra);
    relog(&mut world, EntryBody::DsseV002(body));
    assert_fails_because(&world, Check::TlogBody, "signature count");
}

/// An entry of another kind than the bundle's content does not cover it,
/// however well it verifies as an entry.
#[test]
fn entries_of_the_other_content_kind_fail_tlog_body() {
    // A message signature logged as a DSSE entry.
    let mut world = Spec::new(Kind::Message).build();
    let dsse_world = Spec::new(Kind::Dsse).build();
    let body = dsse_world.bundle.verification_material.tlog_entries[0]
        .canonicalized_body
        .0
        .clone();
    let body = EntryBody::parse(&body).unwrap();
    relog(&mut world, body);
    assert_fails_because(&world, Check::TlogBody, "cannot be logged as dsse");

    // A DSSE envelope logged as hashedrekord 0.0.1.
    let mut world = Spec::new(Kind::Dsse).build();
    let message_world = Spec::new(Kind::Message).build();
    let body = message_world.bundle.verification_material.tlog_entries[0]
        .canonicalized_body
        .0
        .clone();
    let body = EntryBody::parse(&body).unwrap();
    relog(&mut world, body);
    assert_fails_because(
        &world,
        Check::TlogBody,
        "cannot be logged as hashedrekord 0.0.1",
    );
}

/// Pure Ed25519 signs the message itself: with only the artifact's digest
/// there is nothing it can be checked against.
#[test]
fn ed25519_signature_against_a_digest_only_artifact_fails_signature() {
    let mut world = Spec {
        signer: SignerKind::ManagedKey,
        ..Spec::new(Kind::Message)
    }
    .build();
    let (_, raw) = signet_crypto::sign_ed25519ph(&[7u8; 32], &[0u8; 64]);
    let ed25519 = signet_crypto::PublicKey::from_raw_ed25519(&raw).unwrap();
    world.policy = SignerPolicy::Key(ed25519);
    let digest_only = signet_verify::Artifact::Digest {
        algorithm: signet_crypto::HashAlgorithm::Sha256,
        digest: sha256(&world.artifact).to_vec(),
    };
    let err = world
        .verifier()
        .unwrap()
        .verify(&world.bundle, &digest_only, &world.policy)
        .unwrap_err();
    assert_eq!(err.check, Check::Signature, "{err}");
    assert!(err.reason.contains("not its digest"), "{err}");
}
