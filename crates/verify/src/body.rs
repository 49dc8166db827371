//! Does a log entry's body describe this bundle's content and signer?
//!
//! The log vouches only for what its body says; a bundle whose signature,
//! digest or signer differ from the body's is not covered by the entry.

use signet_crypto::HashAlgorithm;
use signet_model::bundle::MessageSignature;
use signet_model::dsse::Envelope;
use signet_model::encoding::decode_base64;
use signet_model::rekor::{EntryBody, Verifier};

use crate::artifact::Artifact;
use crate::error::{fail, Check, VerifyError};
use crate::signer::Signer;

fn mismatch<T>(what: &str) -> Result<T, VerifyError> {
    fail(
        Check::TlogBody,
        format!("log entry {what} does not match the bundle"),
    )
}

/// A PEM document from an entry body: a certificate must be the signing
/// certificate, a public key must be the signer's key.
fn check_pem_verifier(pem_text: &[u8], signer: &Signer) -> Result<(), VerifyError> {
    let text = std::str::from_utf8(pem_text)
        .map_err(|_| VerifyError::new(Check::TlogBody, "entry verifier is not PEM text"))?;
    let block = pem::parse(text)
        .map_err(|e| VerifyError::new(Check::TlogBody, format!("entry verifier: {e}")))?;
    // A keyless signature must be logged with its certificate, never the
    // bare key: monitors find identities in the log by certificate.
    let same = match (block.tag(), signer) {
        ("CERTIFICATE", Signer::Certificate(cert)) => cert.der() == block.contents(),
        ("PUBLIC KEY", Signer::Key(key)) => key.spki_der() == block.contents(),
        _ => false,
    };
    if same {
        Ok(())
    } else {
        mismatch("signer (certificate or key)")
    }
}

fn check_raw_verifier(verifier: &Verifier, signer: &Signer) -> Result<(), VerifyError> {
    let same = match (&verifier.x509_certificate, &verifier.public_key, signer) {
        (Some(logged), None, Signer::Certificate(cert)) => cert.der() == &logged.raw_bytes[..],
        (None, Some(logged), Signer::Key(key)) => key.spki_der() == &logged.raw_bytes[..],
        _ => false,
    };
    if same {
        Ok(())
    } else {
        mismatch("signer (certificate or key)")
    }
}

/// Whether a Rekor v1 digest (`sha256`, `sha384` or `sha512` and hex) is
/// that of the data `digest_with` hashes.
fn rekor_digest_of(
    algorithm: &str,
    value: &str,
    digest_with: impl Fn(HashAlgorithm) -> Option<Vec<u8>>,
) -> bool {
    HashAlgorithm::from_rekor_name(algorithm)
        .and_then(digest_with)
        .is_some_and(|d| value.eq_ignore_ascii_case(&signet_model::encoding::encode_hex(d)))
}

/// Whether a Rekor v2 digest (`SHA2_256`, `SHA2_384` or `SHA2_512` and
/// bytes) is that of the data `digest_with` hashes: the hash is the one the
/// signer's key details name, not always SHA-256.
fn proto_digest_of(
    algorithm: &str,
    digest: &[u8],
    digest_with: impl Fn(HashAlgorithm) -> Option<Vec<u8>>,
) -> bool {
    HashAlgorithm::from_proto_name(algorithm)
        .and_then(digest_with)
        .is_some_and(|d| d == digest)
}

/// Entry vs. a message signature over `artifact`.
pub fn check_message(
    body: &EntryBody,
    message: &MessageSignature,
    artifact: &Artifact,
    signer: &Signer,
) -> Result<(), VerifyError> {
    let artifact_digest = |h: HashAlgorithm| artifact.digest(h).ok();
    match body {
        EntryBody::HashedRekordV001(e) => {
            if !rekor_digest_of(&e.data.hash.algorithm, &e.data.hash.value, artifact_digest) {
                return mismatch("artifact digest");
            }
            if e.signature.content.0 != message.signature.0 {
                return mismatch("signature");
            }
            check_pem_verifier(&e.signature.public_key.content, signer)
        }
        EntryBody::HashedRekordV002(e) => {
            if !proto_digest_of(&e.data.algorithm, &e.data.digest, artifact_digest) {
                return mismatch("artifact digest");
            }
            if e.signature.content.0 != message.signature.0 {
                return mismatch("signature");
            }
            check_raw_verifier(&e.signature.verifier, signer)
        }
        other => fail(
            Check::TlogBody,
            format!(
                "a message signature cannot be logged as {} {}",
                other.kind(),
                other.version()
            ),
        ),
    }
}

/// Entry vs. a DSSE envelope (one signature, checked by the caller).
pub fn check_dsse(
    body: &EntryBody,
    envelope: &Envelope,
    signer: &Signer,
) -> Result<(), VerifyError> {
    let [signature] = envelope.signatures.as_slice() else {
        return fail(
            Check::Signature,
            "DSSE envelope must carry exactly one signature",
        );
    };
    let payload_digest = |h: HashAlgorithm| Some(h.digest(&envelope.payload));
    match body {
        EntryBody::DsseV001(e) => {
            if !rekor_digest_of(
                &e.payload_hash.algorithm,
                &e.payload_hash.value,
                payload_digest,
            ) {
                return mismatch("payload hash");
            }
            let [logged] = e.signatures.as_slice() else {
                return mismatch("signature count");
            };
            if logged.signature.0 != signature.sig.0 {
                return mismatch("signature");
            }
            check_pem_verifier(&logged.verifier, signer)
        }
        EntryBody::DsseV002(e) => {
            if !proto_digest_of(
                &e.payload_hash.algorithm,
                &e.payload_hash.digest,
                payload_digest,
            ) {
                return mismatch("payload hash");
            }
            let [logged] = e.signatures.as_slice() else {
                return mismatch("signature count");
            };
            if logged.content.0 != signature.sig.0 {
                return mismatch("signature");
            }
            check_raw_verifier(&logged.verifier, signer)
        }
        // Rekor v2 logs a DSSE signature as a hashedrekord over its PAE.
        EntryBody::HashedRekordV002(e) => {
            let pae = envelope.pae();
            if !proto_digest_of(&e.data.algorithm, &e.data.digest, |h| Some(h.digest(&pae))) {
                return mismatch("PAE digest");
            }
            if e.signature.content.0 != signature.sig.0 {
                return mismatch("signature");
            }
            check_raw_verifier(&e.signature.verifier, signer)
        }
        EntryBody::IntotoV002(e) => {
            let logged = &e.content.envelope;
            if logged.payload_type != envelope.payload_type {
                return mismatch("payload type");
            }
            // Rekor's intoto entries hold the base64 *text* of each field.
            let payload_text = logged.payload.as_ref().map(|p| p.0.as_slice());
            let payload = payload_text
                .and_then(|t| std::str::from_utf8(t).ok())
                .and_then(|t| decode_base64(t).ok());
            if payload.as_deref() != Some(&envelope.payload[..]) {
                return mismatch("payload");
            }
            if let Some(h) = &e.content.payload_hash {
                if !rekor_digest_of(&h.algorithm, &h.value, payload_digest) {
                    return mismatch("payload hash");
                }
            }
            let [logged_sig] = logged.signatures.as_slice() else {
                return mismatch("signature count");
            };
            let sig = std::str::from_utf8(&logged_sig.sig)
                .ok()
                .and_then(|t| decode_base64(t).ok());
            if sig.as_deref() != Some(&signature.sig[..]) {
                return mismatch("signature");
            }
            check_pem_verifier(&logged_sig.public_key, signer)
        }
        EntryBody::HashedRekordV001(_) => fail(
            Check::TlogBody,
            "a DSSE envelope cannot be logged as hashedrekord 0.0.1",
        ),
    }
}
