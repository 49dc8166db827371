//! Certificates the CA issues verify as a Sigstore verifier checks them:
//! chain, embedded SCT and Fulcio identity, against a trusted root built
//! from the CA's own trust pieces.

mod common;

use common::*;
use serde_json::{json, Value};
use signet_model::TrustedRoot;
use signet_pki::cert::Certificate;
use signet_pki::chain::Purpose;
use signet_pki::fulcio::{identity, FulcioIdentity, SubjectAltName};
use signet_verify::TrustMaterial;

/// Checks `pems` (leaf first) exactly as the verifier does, with the
/// trusted root assembled from the CA's pieces (round-tripped through
/// JSON), and returns the identity.
fn verify_chain(stack: &Stack, pems: &[String], key_spki: &[u8]) -> FulcioIdentity {
    let text = stack.pieces.to_trusted_root().to_json_pretty();
    let root = TrustedRoot::from_json(text.as_bytes()).unwrap();
    let trust = TrustMaterial::from_trusted_root(&root).unwrap();
    assert!(trust.skipped.is_empty(), "{:?}", trust.skipped);

    let certs: Vec<Certificate> = pems
        .iter()
        .map(|p| Certificate::from_pem_chain(p).unwrap().remove(0))
        .collect();
    assert_eq!(certs.len(), 3, "leaf, intermediate, root");
    let leaf = &certs[0];
    assert_eq!(leaf.spki_der(), key_spki);
    assert_eq!(leaf.not_after() - leaf.not_before(), 600);
    assert!(leaf.x509().tbs_certificate.subject.0.is_empty());

    let at = leaf.not_before() + 1;
    let chain = trust
        .cas
        .verify(leaf, &certs[1..2], at, Purpose::CodeSigning)
        .unwrap();
    let scts = signet_pki::sct::verify_embedded_scts(leaf, &chain.issuer, &trust.ctlogs).unwrap();
    assert_eq!(scts.len(), 1, "exactly one SCT");
    let list =
        signet_pki::sct::parse_sct_list(leaf.extension(&signet_pki::sct::SCT_LIST_OID).unwrap().1)
            .unwrap();
    assert_eq!(list.len(), 1);
    // Critical extensions: KU, SAN only (and no poison in the final cert).
    let critical: Vec<String> = leaf
        .extensions()
        .iter()
        .filter(|e| e.critical)
        .map(|e| e.oid.to_string())
        .collect();
    assert_eq!(critical, ["2.5.29.15", "2.5.29.17"]);
    assert!(leaf
        .extension(&der::asn1::ObjectIdentifier::new_unwrap(
            "1.3.6.1.4.1.11129.2.4.3"
        ))
        .is_none());
    identity(leaf).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn csr_request_issues_a_verifiable_email_certificate() {
    let stack = Stack::start().await;
    let key = ClientKey::new();
    let (status, answer) = stack
        .post_json(
            "/api/v2/signingCert",
            &csr_request(&stack.email_token(json!({})), &key.csr()),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let id = verify_chain(&stack, &chain_of(&answer), &key.spki);
    assert_eq!(id.san, [SubjectAltName::Email(EMAIL.into())]);
    assert_eq!(id.issuer.as_deref(), Some(stack.email_issuer.issuer_url()));
}

#[tokio::test(flavor = "multi_thread")]
async fn public_key_request_with_proof_over_the_email() {
    let stack = Stack::start().await;
    let key = ClientKey::new();
    let body = key_request(
        &stack.email_token(json!({})),
        &key.pem(),
        &key.sign(EMAIL.as_bytes()),
    );
    let (status, answer) = stack.post_json("/api/v2/signingCert", &body).await;
    assert_eq!(status, 200, "{answer}");
    verify_chain(&stack, &chain_of(&answer), &key.spki);
}

#[tokio::test(flavor = "multi_thread")]
async fn token_in_the_authorization_header() {
    let stack = Stack::start().await;
    let key = ClientKey::new();
    let body = json!({"certificateSigningRequest": b64(&key.csr())});
    let token = stack.email_token(json!({}));
    let (status, bytes) = stack
        .post(
            "/api/v2/signingCert",
            serde_json::to_vec(&body).unwrap(),
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    verify_chain(&stack, &chain_of(&answer), &key.spki);
}

/// A branch name outside ASCII (legal in git) is percent-encoded in the
/// URI SAN, as Go's url package writes Fulcio's, not a 500.
#[tokio::test(flavor = "multi_thread")]
async fn a_non_ascii_ref_is_percent_encoded_in_the_san() {
    let stack = Stack::start().await;
    let key = ClientKey::new();
    let sub = "repo:octo/app:ref:refs/heads/fé";
    let mut claims = github_claims();
    claims["job_workflow_ref"] = json!("octo/app/.github/workflows/release.yml@refs/heads/fé");
    claims["ref"] = json!("refs/heads/fé");
    let req = signet_ca::dev_oidc::TokenRequest {
        sub: Some(sub.into()),
        claims: claims.as_object().cloned().unwrap(),
        ..Default::default()
    };
    let token = stack.github_issuer.mint(&req, now()).unwrap().0;
    let body = key_request(&token, &key.pem(), &key.sign(sub.as_bytes()));
    let (status, answer) = stack.post_json("/api/v2/signingCert", &body).await;
    assert_eq!(status, 200, "{answer}");
    let id = verify_chain(&stack, &chain_of(&answer), &key.spki);
    let signer = "https://github.com/octo/app/.github/workflows/release.yml@refs/heads/f%C3%A9";
    assert_eq!(id.san, [SubjectAltName::Uri(signer.into())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn github_actions_claims_become_fulcio_extensions() {
    let stack = Stack::start().await;
    let key = ClientKey::new();
    let sub = "repo:octo/app:ref:refs/heads/main";
    // Proof of possession for non-email issuers signs the `sub` claim.
    let body = key_request(&stack.github_token(), &key.pem(), &key.sign(sub.as_bytes()));
    let (status, answer) = stack.post_json("/api/v2/signingCert", &body).await;
    assert_eq!(status, 200, "{answer}");
    let id = verify_chain(&stack, &chain_of(&answer), &key.spki);
    let signer = "https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main";
    assert_eq!(id.san, [SubjectAltName::Uri(signer.into())]);
    let e = &id.extensions;
    assert_eq!(e.github_workflow_trigger.as_deref(), Some("push"));
    assert_eq!(e.github_workflow_repository.as_deref(), Some("octo/app"));
    assert_eq!(e.github_workflow_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(e.build_signer_uri.as_deref(), Some(signer));
    assert_eq!(
        e.source_repository_uri.as_deref(),
        Some("https://github.com/octo/app")
    );
    assert_eq!(
        e.source_repository_owner_uri.as_deref(),
        Some("https://github.com/octo")
    );
    assert_eq!(e.source_repository_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(e.build_trigger.as_deref(), Some("push"));
    assert_eq!(
        e.run_invocation_uri.as_deref(),
        Some("https://github.com/octo/app/actions/runs/42/attempts/1")
    );
    assert_eq!(
        e.source_repository_visibility_at_signing.as_deref(),
        Some("public")
    );

    // The same with a signet verifier identity policy, as `verify-blob` would.
    let leaf = Certificate::from_pem_chain(&chain_of(&answer)[0])
        .unwrap()
        .remove(0);
    let raw_issuer = leaf
        .extension(&signet_pki::fulcio::ISSUER_V1)
        .map(|(_, v)| v.to_vec())
        .unwrap();
    assert_eq!(raw_issuer, stack.github_issuer.issuer_url().as_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_v1_api_answers_a_pem_chain() {
    let stack = Stack::start().await;
    let key = ClientKey::new();
    let body = json!({
        "publicKey": {"algorithm": "ecdsa", "content": b64(key.pem().as_bytes())},
        "signedEmailAddress": b64(&key.sign(EMAIL.as_bytes())),
    });
    let token = stack.email_token(json!({}));
    let (status, bytes) = stack
        .post(
            "/api/v1/signingCert",
            serde_json::to_vec(&body).unwrap(),
            Some(&token),
        )
        .await;
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(status, 201, "{text}");
    let certs = Certificate::from_pem_chain(&text).unwrap();
    assert_eq!(certs.len(), 3);
    let pems: Vec<String> = certs
        .iter()
        .map(|c| pem::encode(&pem::Pem::new("CERTIFICATE", c.der().to_vec())))
        .collect();
    verify_chain(&stack, &pems, &key.spki);

    // DER key content works too.
    let body = json!({
        "publicKey": {"algorithm": "ecdsa", "content": b64(&key.spki)},
        "signedEmailAddress": b64(&key.sign(EMAIL.as_bytes())),
    });
    let (status, _) = stack
        .post(
            "/api/v1/signingCert",
            serde_json::to_vec(&body).unwrap(),
            Some(&token),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_bundle_and_configuration() {
    let stack = Stack::start().await;
    let bundle = get_json(&stack.http, &format!("{}/api/v2/trustBundle", stack.ca_url)).await;
    let chain = bundle["chains"][0]["certificates"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    let trusted = &stack.pieces.certificate_authorities[0]
        .cert_chain
        .certificates;
    for (pem_text, want) in chain.iter().zip(trusted) {
        let cert = Certificate::from_pem_chain(pem_text.as_str().unwrap())
            .unwrap()
            .remove(0);
        assert_eq!(cert.der(), &want.raw_bytes[..]);
    }

    let config = get_json(
        &stack.http,
        &format!("{}/api/v2/configuration", stack.ca_url),
    )
    .await;
    let issuers = config["issuers"].as_array().unwrap();
    assert_eq!(issuers.len(), 3);
    assert_eq!(issuers[0]["issuerUrl"], stack.email_issuer.issuer_url());
    assert_eq!(issuers[0]["audience"], "sigstore");
    assert_eq!(issuers[0]["challengeClaim"], "email");
    assert_eq!(issuers[1]["issuerType"], "github-workflow");
    assert_eq!(issuers[1]["challengeClaim"], "sub");
}

#[tokio::test(flavor = "multi_thread")]
async fn trusted_root_pieces_are_well_formed() {
    let stack = Stack::start().await;
    let ctlog = &stack.pieces.ctlogs[0];
    let key = ctlog.public_key.raw_bytes.as_ref().unwrap();
    assert_eq!(&ctlog.log_id.key_id[..], &signet_crypto::sha256(key)[..]);
    assert_eq!(
        ctlog.public_key.key_details.as_deref(),
        Some("PKIX_ECDSA_P256_SHA_256")
    );
    assert!(ctlog.public_key.valid_for.as_ref().unwrap().start.is_some());
    let ca = &stack.pieces.certificate_authorities[0];
    assert_eq!(ca.uri.as_deref(), Some(stack.ca_url.as_str()));
    assert!(ca.valid_for.as_ref().unwrap().start.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_issuer_serves_discovery_jwks_and_tokens() {
    let stack = Stack::start().await;
    let base = stack.email_issuer.issuer_url().to_string();
    let discovery = get_json(
        &stack.http,
        &format!("{base}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(discovery["issuer"], base.as_str());
    let jwks = get_json(&stack.http, discovery["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "no private key material"
    );

    // GET /token with extra claims, then use the token.
    let claims = serde_json::to_string(&json!({"groups": ["dev"]})).unwrap();
    let url = url::Url::parse_with_params(
        &format!("{base}/token"),
        &[("email", EMAIL), ("claims", claims.as_str())],
    )
    .unwrap();
    let answer = get_json(&stack.http, url.as_str()).await;
    let token = answer["id_token"].as_str().unwrap();
    let key = ClientKey::new();
    let (status, answer) = stack
        .post_json("/api/v2/signingCert", &csr_request(token, &key.csr()))
        .await;
    assert_eq!(status, 200, "{answer}");

    // POST /token with a JSON body.
    let answer = post_json_to(
        &stack.http,
        &format!("{base}/token"),
        &json!({"sub": "s", "email": EMAIL, "ttl": 30}),
    )
    .await;
    assert_eq!(answer["expires_in"], 30);
}
