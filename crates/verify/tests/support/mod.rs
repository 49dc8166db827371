//! A complete, valid, synthetic Sigstore world, built in memory with fresh
//! keys on every run: a Fulcio-like CA (P-384 root and intermediate), a
//! keyless leaf with an embedded SCT from a synthetic CT log, a Rekor v1
//! log (P-256) that signs SETs and checkpoints over a small Merkle tree, a
//! trusted root naming all of them, and a bundle.
//!
//! A [`Spec`] describes the world; its defaults are valid, and each field
//! is one thing a test can get wrong *while everything downstream of it is
//! still signed validly* (the certificate is re-issued, the log entry
//! re-logged, the SET and checkpoint re-signed). Defects that need no
//! re-signing (a flipped proof hash, an unknown media type) are made by
//! editing the built [`World`]'s bundle, trusted root or policy directly.

#![allow(dead_code)]

use der::Encode;

use signet_crypto::sha256;
use signet_model::bundle::{
    Bundle, BundleVersion, HashOutput, InclusionProof, MessageSignature, TransparencyLogEntry,
};
use signet_model::dsse::{Envelope, Signature as DsseSignature};
use signet_model::encoding::Base64;
use signet_model::intoto;
use signet_model::rekor::{
    EntryBody, HashedRekordData, HashedRekordSignature, HashedRekordV001, HexHash, PemContent,
};
use signet_model::trust_root::TrustedRoot;
use signet_testkit::{ext, oids, utf8_der, Ca, CaProfile, LogEntry, YEAR};
use signet_verify::{
    Artifact, Claim, IdentityPolicy, Matcher, Options, SignerPolicy, TrustMaterial, Verified,
    Verifier, VerifyError,
};

pub use signet_testkit::{pem_of, Key};

// ---------------------------------------------------------------------------
// Fixed facts of the world.

/// The signing time: the integrated time of the log entry.
pub const T0: i64 = 1_700_000_000;
/// The leaf is valid for ten minutes, from shortly before signing.
pub const LEAF_NOT_BEFORE: i64 = T0 - 30;
pub const LEAF_NOT_AFTER: i64 = LEAF_NOT_BEFORE + 600;
/// "Now" for verification: an hour after signing.
pub const NOW: i64 = T0 + 3600;
/// Trust-root validity starts a year before signing.
pub const TRUST_START: i64 = T0 - YEAR;

pub const REKOR_HOST: &str = "rekor.signet.test";
pub const REKOR_TREE_ID: &str = "1193050959916656506";
pub const CT_URL: &str = "https://ctfe.signet.test/test";
pub const FULCIO_URL: &str = "https://fulcio.signet.test";
/// The Merkle tree the entry is logged in: `TREE_SIZE` leaves, the entry at
/// `TREE_INDEX` (so its proof has several hashes). The entry's global log
/// index differs from its index in the tree, as with Rekor's shards.
pub const TREE_SIZE: u64 = 7;
pub const TREE_INDEX: u64 = 3;
pub const LOG_INDEX: u64 = 100_000_000 + TREE_INDEX;

pub const SAN_URI: &str =
    "https://github.com/signet-dev/signet/.github/workflows/release.yml@refs/heads/main";
pub const OIDC_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const SOURCE_REPO: &str = "https://github.com/signet-dev/signet";
pub const ARTIFACT: &[u8] = b"signet release tarball, version 1.2.3\n";

/// The CA's names; its validity runs from a year before signing for ten
/// years.
pub const FULCIO: CaProfile = CaProfile {
    org: "signet-test",
    root_cn: "signet-test root",
    intermediate_cn: "signet-test intermediate",
    uri: FULCIO_URL,
};

/// A fresh CA. Two made by this differ only in keys.
pub fn test_ca() -> Ca {
    Ca::new(FULCIO, (TRUST_START, T0 + 10 * YEAR))
}

/// A PEM certificate unrelated to any world (a fresh self-signed CA).
pub fn unrelated_certificate_pem() -> String {
    pem_of("CERTIFICATE", &test_ca().root_der)
}

/// What the leaf's embedded SCT is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SctMode {
    /// Signed by the trusted CT log over the precertificate.
    Valid,
    /// No SCT extension at all.
    Absent,
    /// A well-formed SCT from a CT log the trust root does not list.
    UnknownLog,
    /// Names the trusted CT log, but its signature is another key's.
    BadSignature,
    /// Signed by the trusted CT log, but over another precertificate (one
    /// with another serial number).
    OverOtherPrecert,
    /// Two valid SCTs, both from the one trusted CT log (two timestamps).
    TwiceFromOneLog,
}

/// The SCT list of the leaf: one SCT by `signer`, claiming to be from the
/// log `log_id`, over `precert_tbs`, stamped shortly after the leaf's
/// default not-before.
fn sct_list(log_id: &[u8; 32], signer: &Key, issuer_spki: &[u8], precert_tbs: &[u8]) -> Vec<u8> {
    let timestamp_ms = u64::try_from(LEAF_NOT_BEFORE).expect("time") * 1000 + 123;
    signet_testkit::sct_list(log_id, signer, issuer_spki, precert_tbs, timestamp_ms)
}

// ---------------------------------------------------------------------------
// The description of a world.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `messageSignature` over the artifact, logged as hashedrekord 0.0.1.
    Message,
    /// A DSSE envelope with an in-toto statement, logged as dsse 0.0.1.
    Dsse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerKind {
    /// A Fulcio-like certificate; policy `SignerPolicy::Identity`.
    Keyless,
    /// A managed key: the bundle has a `publicKey` hint; policy
    /// `SignerPolicy::Key`.
    ManagedKey,
}

/// An edit of an entry body, as JSON.
pub type BodyEdit = Box<dyn Fn(&mut serde_json::Value)>;

/// A world's every knob. `Spec::default()` (= `Spec::new(Kind::Message)`)
/// is a valid v0.3 keyless message-signature world.
pub struct Spec {
    pub kind: Kind,
    pub signer: SignerKind,
    pub version: BundleVersion,
    pub artifact: Vec<u8>,

    // The certificate (keyless).
    pub san_uri: String,
    pub oidc_issuer: String,
    /// The `.1.12` source repository claim; `None` leaves it out.
    pub source_repository_uri: Option<String>,
    pub leaf_validity: (i64, i64),
    /// Issue the leaf from a CA that has the trusted CA's names but other
    /// keys (the SCT is then over that CA's key, as a log would sign it).
    pub leaf_from_rogue_ca: bool,
    pub sct: SctMode,

    // The signed content.
    /// The bundle's `messageDigest`; `None` is the artifact's SHA-256.
    pub message_digest: Option<Vec<u8>>,
    /// What the message signature (or the DSSE statement's subject) is
    /// over; `None` is the artifact itself.
    pub signed_artifact: Option<Vec<u8>>,
    /// Sign other bytes than the artifact (message) or the PAE (DSSE).
    pub sign_other_bytes: bool,
    pub payload_type: String,
    /// Add a second, valid signature to the DSSE envelope.
    pub second_dsse_signature: bool,

    // The log entry.
    /// Edits the entry body (as JSON) before it is canonicalized and
    /// logged; the edited body is what the log signs.
    pub body_edit: Option<BodyEdit>,
    /// Log the signer's bare public key as the entry's verifier, even for a
    /// keyless bundle (whose entry should name its certificate).
    pub body_names_bare_key: bool,
    pub integrated_time: i64,
    pub with_promise: bool,
    pub with_proof: bool,
    /// The integrated time the SET signs; `None` is the entry's.
    pub set_time: Option<i64>,
    pub set_signed_by_other_key: bool,
    /// Sign the checkpoint with another key (under the log's name and key
    /// hint).
    pub checkpoint_signed_by_other_key: bool,
    pub checkpoint_origin: Option<String>,
    pub checkpoint_root: Option<[u8; 32]>,
    /// The whole checkpoint text (signed as given).
    pub checkpoint_text: Option<String>,
    /// The tree size the proof and the checkpoint claim.
    pub claimed_tree_size: Option<u64>,

    // The trusted root.
    pub ca_valid_for: (Option<i64>, Option<i64>),
    pub tlog_valid_for: (Option<i64>, Option<i64>),
    pub ctlog_valid_for: (Option<i64>, Option<i64>),

    pub now: i64,
}

impl Default for Spec {
    fn default() -> Self {
        Spec::new(Kind::Message)
    }
}

impl Spec {
    pub fn new(kind: Kind) -> Spec {
        Spec {
            kind,
            signer: SignerKind::Keyless,
            version: BundleVersion::V0_3,
            artifact: ARTIFACT.to_vec(),
            san_uri: SAN_URI.to_string(),
            oidc_issuer: OIDC_ISSUER.to_string(),
            source_repository_uri: Some(SOURCE_REPO.to_string()),
            leaf_validity: (LEAF_NOT_BEFORE, LEAF_NOT_AFTER),
            leaf_from_rogue_ca: false,
            sct: SctMode::Valid,
            message_digest: None,
            signed_artifact: None,
            sign_other_bytes: false,
            payload_type: intoto::PAYLOAD_TYPE.to_string(),
            second_dsse_signature: false,
            body_edit: None,
            body_names_bare_key: false,
            integrated_time: T0,
            with_promise: true,
            with_proof: true,
            set_time: None,
            set_signed_by_other_key: false,
            checkpoint_signed_by_other_key: false,
            checkpoint_origin: None,
            checkpoint_root: None,
            checkpoint_text: None,
            claimed_tree_size: None,
            ca_valid_for: (Some(TRUST_START), None),
            tlog_valid_for: (Some(TRUST_START), None),
            ctlog_valid_for: (Some(TRUST_START), None),
            now: NOW,
        }
    }

    pub fn managed_key(kind: Kind) -> Spec {
        Spec {
            signer: SignerKind::ManagedKey,
            ..Spec::new(kind)
        }
    }

    pub fn build(self) -> World {
        World::build(self)
    }
}

// ---------------------------------------------------------------------------
// The built world.

pub struct World {
    pub trusted_root: TrustedRoot,
    pub bundle: Bundle,
    pub artifact: Vec<u8>,
    pub policy: SignerPolicy,
    pub options: Options,
    /// The signing key (the leaf's, or the managed key).
    pub signer_key: Key,
    /// DER of the leaf (keyless worlds).
    pub leaf_der: Option<Vec<u8>>,
    pub ca: Ca,
    pub rekor_key: Key,
    pub ct_key: Key,
}

/// The identity policy the default certificate satisfies.
pub fn default_identity_policy() -> IdentityPolicy {
    IdentityPolicy {
        subject: Matcher::exact(SAN_URI),
        issuer: Matcher::exact(OIDC_ISSUER),
        claims: vec![(Claim::SourceRepositoryUri, Matcher::exact(SOURCE_REPO))],
    }
}

impl World {
    fn build(spec: Spec) -> World {
        let ca = test_ca();
        let ct_key = Key::p256();
        let rekor_key = Key::p256();
        let signer_key = Key::p256();

        let leaf_der = match spec.signer {
            SignerKind::Keyless => Some(leaf(&spec, &ca, &ct_key, &signer_key)),
            SignerKind::ManagedKey => None,
        };
        let verifier_pem = match &leaf_der {
            Some(der) if !spec.body_names_bare_key => pem_of("CERTIFICATE", der),
            _ => signer_key.pem(),
        };

        // The signed content, and its entry body.
        let signed_artifact = spec.signed_artifact.as_deref().unwrap_or(&spec.artifact);
        let (message_signature, dsse_envelope, body) = match spec.kind {
            Kind::Message => {
                let signature = if spec.sign_other_bytes {
                    signer_key.sign(b"some other artifact")
                } else {
                    signer_key.sign(signed_artifact)
                };
                let digest = spec
                    .message_digest
                    .clone()
                    .unwrap_or_else(|| sha256(signed_artifact).to_vec());
                let body = EntryBody::HashedRekordV001(HashedRekordV001 {
                    data: HashedRekordData {
                        hash: HexHash {
                            algorithm: "sha256".into(),
                            value: signet_model::encoding::encode_hex(sha256(signed_artifact)),
                        },
                    },
                    signature: HashedRekordSignature {
                        content: Base64(signature.clone()),
                        public_key: PemContent {
                            content: Base64(verifier_pem.clone().into_bytes()),
                        },
                    },
                });
                let message = MessageSignature {
                    message_digest: Some(HashOutput {
                        algorithm: "SHA2_256".into(),
                        digest: Base64(digest),
                    }),
                    signature: Base64(signature),
                };
                (Some(message), None, body)
            }
            Kind::Dsse => {
                let statement = serde_json::json!({
                    "_type": intoto::STATEMENT_V1,
                    "subject": [{
                        "name": "signet-1.2.3.tar.gz",
                        "digest": { "sha256": signet_model::encoding::encode_hex(sha256(signed_artifact)) },
                    }],
                    "predicateType": "https://slsa.dev/provenance/v1",
                    "predicate": { "buildDefinition": { "buildType": "https://signet.test/build" } },
                });
                let payload = serde_json::to_vec(&statement).expect("statement");
                let pae = signet_model::dsse::pae(&spec.payload_type, &payload);
                let sign = || {
                    if spec.sign_other_bytes {
                        signer_key.sign(&signet_model::dsse::pae(&spec.payload_type, b"{}"))
                    } else {
                        signer_key.sign(&pae)
                    }
                };
                let mut signatures = vec![DsseSignature {
                    sig: Base64(sign()),
                    keyid: None,
                }];
                if spec.second_dsse_signature {
                    signatures.push(DsseSignature {
                        sig: Base64(sign()),
                        keyid: None,
                    });
                }
                let envelope = Envelope {
                    payload: Base64(payload.clone()),
                    payload_type: spec.payload_type.clone(),
                    signatures,
                };
                let body = signet_testkit::dsse_body(&envelope, &verifier_pem);
                (None, Some(envelope), body)
            }
        };
        let mut body_json = body.to_value();
        if let Some(edit) = &spec.body_edit {
            edit(&mut body_json);
        }
        let body_bytes = signet_model::canonical::to_string(&body_json).into_bytes();

        let entry = log_entry(&spec, &rekor_key, body.kind(), body.version(), body_bytes);

        // The bundle.
        let vm = signet_testkit::verification_material(
            spec.version,
            leaf_der.as_deref(),
            &ca.intermediate_der,
            &signer_key,
            entry,
        );
        let bundle = Bundle {
            media_type: spec.version.media_type().to_string(),
            verification_material: vm,
            message_signature,
            dsse_envelope,
        };

        let trusted_root = trusted_root(&spec, &ca, &rekor_key, &ct_key);
        let policy = match spec.signer {
            SignerKind::Keyless => SignerPolicy::Identity(default_identity_policy()),
            SignerKind::ManagedKey => SignerPolicy::Key(signer_key.public()),
        };
        World {
            trusted_root,
            bundle,
            artifact: spec.artifact.clone(),
            policy,
            options: Options {
                now: Some(spec.now),
                ..Options::default()
            },
            signer_key,
            leaf_der,
            ca,
            rekor_key,
            ct_key,
        }
    }

    pub fn verifier(&self) -> Result<Verifier, VerifyError> {
        let trust = TrustMaterial::from_trusted_root(&self.trusted_root)?;
        Ok(Verifier::new(trust, self.options.clone()))
    }

    pub fn verify(&self) -> Result<Verified, VerifyError> {
        self.verifier()?
            .verify(&self.bundle, &Artifact::Bytes(&self.artifact), &self.policy)
    }

    /// The identity policy of a keyless world (panics otherwise).
    pub fn identity_policy(&mut self) -> &mut IdentityPolicy {
        match &mut self.policy {
            SignerPolicy::Identity(p) => p,
            SignerPolicy::Key(_) => panic!("not a keyless world"),
        }
    }

    /// The first (only) log entry of the bundle.
    pub fn entry(&mut self) -> &mut TransparencyLogEntry {
        &mut self.bundle.verification_material.tlog_entries[0]
    }

    pub fn proof(&mut self) -> &mut InclusionProof {
        self.entry()
            .inclusion_proof
            .as_mut()
            .expect("inclusion proof")
    }
}

/// The keyless leaf, signed by the intermediate, its embedded SCT as
/// `spec.sct` says.
fn leaf(spec: &Spec, ca: &Ca, ct_key: &Key, leaf_key: &Key) -> Vec<u8> {
    let rogue;
    let issuer = if spec.leaf_from_rogue_ca {
        rogue = test_ca();
        &rogue
    } else {
        ca
    };
    let mut exts = signet_testkit::code_signing_exts(&spec.san_uri, &spec.oidc_issuer);
    exts.push(ext(oids::GITHUB_WORKFLOW_TRIGGER, false, b"push".to_vec()));
    if let Some(repo) = &spec.source_repository_uri {
        exts.push(ext(oids::SOURCE_REPOSITORY_URI, false, utf8_der(repo)));
    }
    exts.push(ext(oids::BUILD_TRIGGER, false, utf8_der("push")));

    let issuer_spki = issuer.intermediate_key.spki.as_slice();
    issuer.issue(leaf_key, spec.leaf_validity, exts, |precert| {
        let precert_tbs = precert.to_der().expect("precert tbs");
        match spec.sct {
            SctMode::Absent => None,
            SctMode::Valid => Some(sct_list(
                &ct_key.log_id(),
                ct_key,
                issuer_spki,
                &precert_tbs,
            )),
            SctMode::UnknownLog => {
                let other = Key::p256();
                Some(sct_list(&other.log_id(), &other, issuer_spki, &precert_tbs))
            }
            SctMode::BadSignature => Some(sct_list(
                &ct_key.log_id(),
                &Key::p256(),
                issuer_spki,
                &precert_tbs,
            )),
            SctMode::TwiceFromOneLog => {
                let at = |ms: u64| {
                    let t = u64::try_from(LEAF_NOT_BEFORE).expect("time") * 1000 + ms;
                    signet_testkit::sct_list(&ct_key.log_id(), ct_key, issuer_spki, &precert_tbs, t)
                };
                // Two one-SCT lists merged: the list length, then both SCTs
                // (a second apart, so that trust-root windows can split them).
                let (first, second) = (at(123), at(1_456));
                let inner = [&first[2..], &second[2..]].concat();
                let mut list = u16::try_from(inner.len())
                    .expect("list")
                    .to_be_bytes()
                    .to_vec();
                list.extend_from_slice(&inner);
                Some(list)
            }
            SctMode::OverOtherPrecert => {
                let mut other = precert.clone();
                other.serial_number = signet_testkit::random_serial();
                let other = other.to_der().expect("other precert tbs");
                Some(sct_list(&ct_key.log_id(), ct_key, issuer_spki, &other))
            }
        }
    })
}

/// Logs `body` in a tree of `TREE_SIZE` leaves at `TREE_INDEX`, and builds
/// the bundle's entry with its SET and checkpoint.
fn log_entry(
    spec: &Spec,
    rekor_key: &Key,
    kind: &str,
    version: &str,
    body: Vec<u8>,
) -> TransparencyLogEntry {
    let other_key = Key::p256();
    LogEntry {
        tree_size: TREE_SIZE,
        tree_index: TREE_INDEX,
        log_index: LOG_INDEX,
        with_promise: spec.with_promise,
        with_proof: spec.with_proof,
        set_time: spec.set_time,
        set_key: spec.set_signed_by_other_key.then_some(&other_key),
        checkpoint_key: spec.checkpoint_signed_by_other_key.then_some(&other_key),
        checkpoint_origin: spec.checkpoint_origin.clone(),
        checkpoint_root: spec.checkpoint_root,
        checkpoint_text: spec.checkpoint_text.clone(),
        claimed_tree_size: spec.claimed_tree_size,
        ..LogEntry::new(rekor_key, REKOR_HOST, REKOR_TREE_ID, spec.integrated_time)
    }
    .log(kind, version, body)
}

fn trusted_root(spec: &Spec, ca: &Ca, rekor_key: &Key, ct_key: &Key) -> TrustedRoot {
    signet_testkit::trusted_root(
        ca,
        spec.ca_valid_for,
        (
            &format!("https://{REKOR_HOST}"),
            rekor_key,
            spec.tlog_valid_for,
        ),
        (CT_URL, ct_key, spec.ctlog_valid_for),
    )
}
