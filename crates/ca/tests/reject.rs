//! Bad input is refused with a 4xx JSON error naming the reason, and no
//! certificate is issued.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use der::asn1::{Any, BitString, ObjectIdentifier};
use der::Encode;
use serde_json::{json, Value};
use signet_ca::dev_oidc::{DevAlg, DevIssuer, TokenRequest};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// Asserts a refusal with `status` and `reason`, and that nothing was issued.
fn refused(status: u16, answer: &Value, want_status: u16, want_reason: &str) {
    assert_eq!(status, want_status, "{answer}");
    assert_eq!(answer["reason"], want_reason, "{answer}");
    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(answer.get("signedCertificateEmbeddedSct").is_none());
}

async fn csr_with_token(stack: &Stack, token: &str) -> (u16, Value) {
    let key = ClientKey::new();
    stack
        .post_json("/api/v2/signingCert", &csr_request(token, &key.csr()))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_token_with_altered_claims() {
    let stack = Stack::start().await;
    let token = stack.email_token(json!({}));
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["email"] = json!("mallory@example.com");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    let (status, answer) = csr_with_token(&stack, &forged).await;
    refused(status, &answer, 400, "invalid_token_signature");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_signed_by_a_foreign_key() {
    let stack = Stack::start().await;
    // Same issuer URL, a key the issuer never published.
    let impostor =
        DevIssuer::generate(stack.email_issuer.issuer_url(), DevAlg::Es256, 600).unwrap();
    let req = TokenRequest {
        email: Some(EMAIL.into()),
        ..Default::default()
    };
    let token = impostor.mint(&req, now()).unwrap().0;
    let (status, answer) = csr_with_token(&stack, &token).await;
    refused(status, &answer, 400, "invalid_token_signature");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_token() {
    let stack = Stack::start().await;
    let t = now();
    let token = stack.email_token(json!({"iat": t - 7200, "nbf": t - 7200, "exp": t - 3600}));
    let (status, answer) = csr_with_token(&stack, &token).await;
    refused(status, &answer, 400, "expired_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_within_skew_is_accepted() {
    let stack = Stack::start().await;
    let t = now();
    let token = stack.email_token(json!({"iat": t - 600, "exp": t - 30}));
    let (status, answer) = csr_with_token(&stack, &token).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn not_yet_valid_token() {
    let stack = Stack::start().await;
    let t = now();
    let token = stack.email_token(json!({"nbf": t + 3600, "exp": t + 7200}));
    let (status, answer) = csr_with_token(&stack, &token).await;
    refused(status, &answer, 400, "token_not_yet_valid");
    // Issued in the future (beyond skew).
    let token = stack.email_token(json!({"iat": t + 3600, "exp": t + 7200}));
    let (status, answer) = csr_with_token(&stack, &token).await;
    refused(status, &answer, 400, "token_not_yet_valid");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_audience() {
    let stack = Stack::start().await;
    let token = stack.email_token(json!({"aud": "not-sigstore"}));
    let (status, answer) = csr_with_token(&stack, &token).await;
    refused(status, &answer, 400, "wrong_audience");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_issuer() {
    let stack = Stack::start().await;
    let stranger = DevIssuer::generate("http://127.0.0.1:2", DevAlg::Es256, 600).unwrap();
    let req = TokenRequest {
        email: Some(EMAIL.into()),
        ..Default::default()
    };
    let token = stranger.mint(&req, now()).unwrap().0;
    let (status, answer) = csr_with_token(&stack, &token).await;
    refused(status, &answer, 400, "unknown_issuer");
    // A configured issuer's key cannot vouch for another issuer either.
    let token = stack.email_token(json!({"iss": "https://accounts.example.com"}));
    let (status, answer) = csr_with_token(&stack, &token).await;
    refused(status, &answer, 400, "unknown_issuer");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_issuer_is_an_upstream_error() {
    let stack = Stack::start().await;
    let down = DevIssuer::generate(DOWN_ISSUER, DevAlg::Es256, 600).unwrap();
    let req = TokenRequest {
        email: Some(EMAIL.into()),
        ..Default::default()
    };
    let token = down.mint(&req, now()).unwrap().0;
    for _ in 0..2 {
        let (status, answer) = csr_with_token(&stack, &token).await;
        refused(status, &answer, 502, "issuer_unavailable");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn symmetric_and_unsigned_tokens() {
    let stack = Stack::start().await;
    let payload = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({"iss": stack.email_issuer.issuer_url(), "sub": "x",
            "aud": "sigstore", "exp": now() + 600, "iat": now(), "email": EMAIL, "email_verified": true}))
        .unwrap(),
    );
    for header in [
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"none","typ":"JWT"}"#,
    ] {
        let token = format!("{}.{payload}.c2ln", URL_SAFE_NO_PAD.encode(header));
        let (status, answer) = csr_with_token(&stack, &token).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["reason"] == "unsupported_token_algorithm"
                || answer["reason"] == "malformed_token",
            "{answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unverified_email_is_refused() {
    let stack = Stack::start().await;
    let token = stack.email_token(json!({"email_verified": false}));
    let (status, answer) = csr_with_token(&stack, &token).await;
    refused(status, &answer, 400, "invalid_identity");
}

#[tokio::test(flavor = "multi_thread")]
async fn github_token_missing_a_required_claim() {
    let stack = Stack::start().await;
    let mut claims = github_claims();
    claims.as_object_mut().unwrap().remove("job_workflow_ref");
    let req = TokenRequest {
        sub: Some("repo:octo/app:ref:refs/heads/main".into()),
        claims: claims.as_object().cloned().unwrap(),
        ..Default::default()
    };
    let token = stack.github_issuer.mint(&req, now()).unwrap().0;
    let (status, answer) = csr_with_token(&stack, &token).await;
    refused(status, &answer, 400, "invalid_identity");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_token() {
    let stack = Stack::start().await;
    let key = ClientKey::new();
    let body = json!({"certificateSigningRequest": b64(&key.csr())});
    let (status, answer) = stack.post_json("/api/v2/signingCert", &body).await;
    refused(status, &answer, 401, "missing_token");
}

#[tokio::test(flavor = "multi_thread")]
async fn proof_of_possession_that_does_not_match() {
    let stack = Stack::start().await;
    let token = stack.email_token(json!({}));
    let key = ClientKey::new();
    // Signed over the wrong string.
    let body = key_request(&token, &key.pem(), &key.sign(b"bob@example.com"));
    let (status, answer) = stack.post_json("/api/v2/signingCert", &body).await;
    refused(status, &answer, 400, "invalid_signature");
    // Signed by another key.
    let other = ClientKey::new();
    let body = key_request(&token, &key.pem(), &other.sign(EMAIL.as_bytes()));
    let (status, answer) = stack.post_json("/api/v2/signingCert", &body).await;
    refused(status, &answer, 400, "invalid_signature");
    // Absent.
    let body = json!({"credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {"publicKey": {"content": key.pem()}}});
    let (status, answer) = stack.post_json("/api/v2/signingCert", &body).await;
    refused(status, &answer, 400, "invalid_signature");
}

fn spki(alg: &str, params: Option<Any>, key: Vec<u8>) -> Vec<u8> {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap(alg),
            parameters: params,
        },
        subject_public_key: BitString::from_bytes(&key).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// A P-224 key (curve secp224r1): not allowed by Fulcio's key policy.
fn p224_spki() -> Vec<u8> {
    let curve = ObjectIdentifier::new_unwrap("1.3.132.0.33");
    let mut point = vec![4u8];
    point.extend([7u8; 56]);
    spki(
        "1.2.840.10045.2.1",
        Some(Any::encode_from(&curve).unwrap()),
        point,
    )
}

/// An RSA-1024 key.
fn rsa1024_spki() -> Vec<u8> {
    let mut n = vec![0x00, 0xc1];
    n.extend([0x55u8; 127]);
    let mut body = vec![0x02, 0x81, n.len() as u8];
    body.extend(&n);
    body.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
    let mut seq = vec![0x30, 0x81, body.len() as u8];
    seq.extend(body);
    spki(
        "1.2.840.113549.1.1.1",
        Some(Any::from(der::asn1::Null)),
        seq,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn csr_with_a_weak_key() {
    let stack = Stack::start().await;
    let signer = ClientKey::new();
    for weak in [rsa1024_spki(), p224_spki()] {
        let csr = csr_with(&weak, |m| signer.sign(m));
        let (status, answer) = stack
            .post_json(
                "/api/v2/signingCert",
                &csr_request(&stack.email_token(json!({})), &csr),
            )
            .await;
        refused(status, &answer, 400, "insecure_public_key");
        // The same key in a publicKeyRequest.
        let key_pem = pem::encode(&pem::Pem::new("PUBLIC KEY", weak.clone()));
        let body = key_request(&stack.email_token(json!({})), &key_pem, b"sig");
        let (status, answer) = stack.post_json("/api/v2/signingCert", &body).await;
        refused(status, &answer, 400, "insecure_public_key");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn csr_with_an_invalid_signature() {
    let stack = Stack::start().await;
    let key = ClientKey::new();
    let other = ClientKey::new();
    let csr = csr_with(&key.spki, |m| other.sign(m));
    let (status, answer) = stack
        .post_json(
            "/api/v2/signingCert",
            &csr_request(&stack.email_token(json!({})), &csr),
        )
        .await;
    refused(status, &answer, 400, "invalid_signature");
    // Not a CSR at all.
    let (status, answer) = stack
        .post_json(
            "/api/v2/signingCert",
            &csr_request(&stack.email_token(json!({})), b"junk"),
        )
        .await;
    refused(status, &answer, 400, "invalid_csr");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_malformed_bodies() {
    let stack = Stack::start().await;
    let big = json!({"certificateSigningRequest": "A".repeat(70 * 1024)});
    let (status, bytes) = stack
        .post(
            "/api/v2/signingCert",
            serde_json::to_vec(&big).unwrap(),
            None,
        )
        .await;
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    refused(status, &answer, 413, "body_too_large");
    let (status, bytes) = stack
        .post(
            "/api/v1/signingCert",
            serde_json::to_vec(&big).unwrap(),
            None,
        )
        .await;
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    refused(status, &answer, 413, "body_too_large");

    let (status, bytes) = stack
        .post("/api/v2/signingCert", b"{not json".to_vec(), None)
        .await;
    refused(
        status,
        &serde_json::from_slice(&bytes).unwrap(),
        400,
        "malformed_request",
    );
    let deep = "[".repeat(200) + &"]".repeat(200);
    let (status, bytes) = stack
        .post("/api/v2/signingCert", deep.into_bytes(), None)
        .await;
    refused(
        status,
        &serde_json::from_slice(&bytes).unwrap(),
        400,
        "malformed_request",
    );
    // No key material at all.
    let body = json!({"credentials": {"oidcIdentityToken": stack.email_token(json!({}))}});
    let (status, answer) = stack.post_json("/api/v2/signingCert", &body).await;
    refused(status, &answer, 400, "missing_key");
}
