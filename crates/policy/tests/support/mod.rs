//! A synthetic Sigstore world for policy tests, built in memory with fresh
//! keys: one Fulcio-like CA (P-384 root and intermediate) issuing keyless
//! leaves with any SAN, issuer and CI claims, with embedded SCTs from a
//! CT log; one Rekor v1 log (P-256) signing SETs and checkpoints; and a
//! trusted root naming them. Bundles (v0.3, DSSE in-toto statements about
//! an image digest) are signed at any integrated time, so that authority
//! windows can be tested. Built from signet-testkit's pieces (as is
//! crates/verify/tests/support), with one CA and log shared by every
//! bundle of a world.

#![allow(dead_code)]

use der::Encode;

use signet_model::bundle::{Bundle, BundleVersion};
use signet_model::dsse::{Envelope, Signature as DsseSignature};
use signet_model::encoding::Base64;
use signet_model::intoto;
use signet_model::trust_root::TrustedRoot;
use signet_oci::verify::{Candidate, ImageMaterial, Source};
use signet_oci::Digest;
use signet_testkit::{ext, oids, pem_of, utf8_der, Ca, CaProfile, LogEntry};
use signet_verify::{Options, TrustMaterial, Verifier};

pub use signet_testkit::{Key, YEAR};

pub const DAY: i64 = 24 * 3600;
/// 2026-01-01T00:00:00Z.
pub const JAN_2026: i64 = 1_767_225_600;
/// Trust starts long before any test's signing times.
pub const TRUST_START: i64 = JAN_2026 - 5 * YEAR;
pub const REKOR_HOST: &str = "rekor.policy.test";
pub const CT_URL: &str = "https://ctfe.policy.test/test";
pub const FULCIO: CaProfile = CaProfile {
    org: "signet-policy-test",
    root_cn: "root",
    intermediate_cn: "intermediate",
    uri: "https://fulcio.policy.test",
};

pub const SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
pub const SLSA: &str = "https://slsa.dev/provenance/v1";
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

pub const OID_BUILD_SIGNER_URI: &str = oids::BUILD_SIGNER_URI;
pub const OID_SOURCE_REPOSITORY_URI: &str = oids::SOURCE_REPOSITORY_URI;
pub const OID_SOURCE_REPOSITORY_REF: &str = oids::SOURCE_REPOSITORY_REF;

/// Who signs a bundle.
pub enum Signer<'a> {
    /// A fresh ephemeral key with a leaf for this identity; `claims` are
    /// (OID, value) of Fulcio's v2 extensions.
    Keyless {
        san_uri: &'a str,
        issuer: &'a str,
        claims: &'a [(&'a str, &'a str)],
    },
    /// A managed key.
    Key(&'a Key),
}

impl Signer<'_> {
    /// A GitHub Actions-like identity of `repo`'s release workflow.
    pub fn github(san_uri: &'static str) -> Signer<'static> {
        Signer::Keyless {
            san_uri,
            issuer: GITHUB_ISSUER,
            claims: &[],
        }
    }
}

/// One CA, CT log and Rekor log, shared by every bundle of the world.
pub struct World {
    ca: Ca,
    ct_key: Key,
    rekor_key: Key,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

/// An image digest made from a label.
pub fn image_digest(label: &str) -> Digest {
    Digest::of(label.as_bytes())
}

impl World {
    pub fn new() -> World {
        World {
            ca: Ca::new(FULCIO, (TRUST_START, JAN_2026 + 20 * YEAR)),
            ct_key: Key::p256(),
            rekor_key: Key::p256(),
        }
    }

    pub fn trusted_root(&self) -> TrustedRoot {
        let valid_for = (Some(TRUST_START), None);
        signet_testkit::trusted_root(
            &self.ca,
            valid_for,
            (&format!("https://{REKOR_HOST}"), &self.rekor_key, valid_for),
            (CT_URL, &self.ct_key, valid_for),
        )
    }

    /// A verifier trusting this world, with "now" at `now`.
    pub fn verifier(&self, now: i64) -> Verifier {
        Verifier::new(
            TrustMaterial::from_trusted_root(&self.trusted_root()).expect("trust"),
            Options {
                now: Some(now),
                ..Options::default()
            },
        )
    }

    fn leaf(
        &self,
        leaf_key: &Key,
        san_uri: &str,
        issuer: &str,
        claims: &[(&str, &str)],
        at: i64,
    ) -> Vec<u8> {
        let mut exts = signet_testkit::code_signing_exts(san_uri, issuer);
        for (o, v) in claims {
            exts.push(ext(o, false, utf8_der(v)));
        }
        let ca_key = &self.ca.intermediate_key;
        let stamp = u64::try_from(at - 30).expect("time") * 1000;
        self.ca
            .issue(leaf_key, (at - 30, at + 570), exts, |precert| {
                let precert_tbs = precert.to_der().expect("precert");
                let log_id = self.ct_key.log_id();
                Some(signet_testkit::sct_list(
                    &log_id,
                    &self.ct_key,
                    &ca_key.spki,
                    &precert_tbs,
                    stamp,
                ))
            })
    }

    /// A v0.3 bundle (JSON) of `statement` signed by `signer`, logged at
    /// `integrated_time`.
    pub fn sign_statement(
        &self,
        statement: &serde_json::Value,
        signer: &Signer<'_>,
        integrated_time: i64,
    ) -> Vec<u8> {
        let ephemeral;
        let (key, leaf_der) = match signer {
            Signer::Keyless {
                san_uri,
                issuer,
                claims,
            } => {
                ephemeral = Key::p256();
                let leaf = self.leaf(&ephemeral, san_uri, issuer, claims, integrated_time);
                (&ephemeral, Some(leaf))
            }
            Signer::Key(k) => (*k, None),
        };
        let verifier_pem = match &leaf_der {
            Some(der) => pem_of("CERTIFICATE", der),
            None => key.pem(),
        };
        let payload = serde_json::to_vec(statement).expect("statement");
        let pae = signet_model::dsse::pae(intoto::PAYLOAD_TYPE, &payload);
        let envelope = Envelope {
            payload: Base64(payload),
            payload_type: intoto::PAYLOAD_TYPE.to_string(),
            signatures: vec![DsseSignature {
                sig: Base64(key.sign(&pae)),
                keyid: None,
            }],
        };
        let body = signet_testkit::dsse_body(&envelope, &verifier_pem);
        let body_bytes = signet_model::canonical::to_string(&body.to_value()).into_bytes();
        let entry = LogEntry::new(&self.rekor_key, REKOR_HOST, "42", integrated_time).log(
            body.kind(),
            body.version(),
            body_bytes,
        );
        let vm = signet_testkit::verification_material(
            BundleVersion::V0_3,
            leaf_der.as_deref(),
            &self.ca.intermediate_der,
            key,
            entry,
        );
        let bundle = Bundle {
            media_type: BundleVersion::V0_3.media_type().to_string(),
            verification_material: vm,
            message_signature: None,
            dsse_envelope: Some(envelope),
        };
        bundle.to_json().into_bytes()
    }

    /// An image signature (cosign's sign predicate) of `digest`.
    pub fn signature(&self, digest: &Digest, signer: &Signer<'_>, at: i64) -> Vec<u8> {
        self.sign_statement(
            &statement(digest, SIGN_PREDICATE_TYPE, serde_json::json!({})),
            signer,
            at,
        )
    }

    /// An attestation of `predicate_type` about `digest`.
    pub fn attestation(
        &self,
        digest: &Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
        signer: &Signer<'_>,
        at: i64,
    ) -> Vec<u8> {
        self.sign_statement(&statement(digest, predicate_type, predicate), signer, at)
    }
}

pub fn statement(
    digest: &Digest,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "_type": intoto::STATEMENT_V1,
        "subject": [{"name": "image", "digest": {"sha256": digest.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// Material for `digest` from bundles, as a registry would list them.
pub fn material(
    reference: &str,
    digest: &Digest,
    signatures: &[Vec<u8>],
    attestations: &[Vec<u8>],
) -> ImageMaterial {
    let cands = |list: &[Vec<u8>], what: &str| {
        list.iter()
            .enumerate()
            .map(|(i, raw)| {
                Candidate::bundle(
                    Source::File {
                        path: format!("{what}-{i}.json"),
                    },
                    raw,
                    None,
                )
            })
            .collect()
    };
    ImageMaterial {
        reference: reference.to_string(),
        digest: digest.clone(),
        signatures: cands(signatures, "sig"),
        attestations: cands(attestations, "att"),
    }
}
