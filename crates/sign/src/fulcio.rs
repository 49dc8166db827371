//! Fulcio v2 client: a short-lived code-signing certificate for an
//! ephemeral key, in exchange for an identity token.
//!
//! The request is the CSR form of `POST /api/v2/signingCert`, as
//! sigstore-python sends it: `{"certificateSigningRequest": base64(PEM)}`
//! with the token as bearer. The CSR has an empty subject (Fulcio takes the
//! identity from the token) and a critical `basicConstraints CA:FALSE`
//! extension request; its signature is the proof of possession.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use const_oid::ObjectIdentifier;
use der::asn1::{BitString, OctetString, SetOfVec};
use der::{Decode, Encode, EncodePem};
use signet_pki::cert::Certificate;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};

use crate::http::{join, HttpClient};
use crate::oidc::IdentityToken;
use crate::signer::Signer;
use crate::SignError;

const SERVICE: &str = "Fulcio";
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// Most certificates accepted in a returned chain.
const MAX_CHAIN: usize = 10;

fn der_err(e: der::Error) -> SignError {
    SignError::Crypto(format!("building the CSR: {e}"))
}

/// Builds a PEM PKCS#10 request for the signer's key, signed by it.
pub fn build_csr(signer: &dyn Signer) -> Result<String, SignError> {
    let public = signer.public_key();
    let spki = SubjectPublicKeyInfoOwned::from_der(public.spki_der()).map_err(der_err)?;
    let basic = BasicConstraints {
        ca: false,
        path_len_constraint: None,
    };
    let extension = Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
        critical: true,
        extn_value: OctetString::new(basic.to_der().map_err(der_err)?).map_err(der_err)?,
    };
    let attribute: Attribute = ExtensionReq(vec![extension]).try_into().map_err(der_err)?;
    let mut attributes = SetOfVec::new();
    attributes.insert(attribute).map_err(der_err)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: Name::default(),
        public_key: spki,
        attributes,
    };
    let tbs = info.to_der().map_err(der_err)?;
    let signature = signer.sign(&tbs)?;
    let algorithm = match public.kind() {
        signet_crypto::KeyKind::EcdsaP256 => AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        },
        signet_crypto::KeyKind::Rsa => AlgorithmIdentifierOwned {
            oid: SHA256_WITH_RSA,
            parameters: Some(der::asn1::Null.into()),
        },
        other => {
            return Err(SignError::UnsupportedKey(format!(
                "cannot request a certificate for a {other:?} key"
            )))
        }
    };
    let request = CertReq {
        info,
        algorithm,
        signature: BitString::from_bytes(&signature).map_err(der_err)?,
    };
    request.to_pem(der::pem::LineEnding::LF).map_err(der_err)
}

/// A certificate Fulcio issued: the leaf and the rest of its chain (DER).
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub leaf: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
}

/// A Fulcio v2 instance.
#[derive(Debug, Clone)]
pub struct FulcioClient {
    base_url: String,
    http: HttpClient,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigningCertResponse {
    signed_certificate_embedded_sct: Option<CertificateWithChain>,
    signed_certificate_detached_sct: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct CertificateWithChain {
    chain: Chain,
}

#[derive(serde::Deserialize)]
struct Chain {
    certificates: Vec<String>,
}

impl FulcioClient {
    pub fn new(base_url: &str, http: HttpClient) -> Self {
        FulcioClient {
            base_url: base_url.to_string(),
            http,
        }
    }

    /// The request body for a CSR.
    pub fn request_body(csr_pem: &str) -> Vec<u8> {
        serde_json::json!({ "certificateSigningRequest": STANDARD.encode(csr_pem) })
            .to_string()
            .into_bytes()
    }

    /// Requests a certificate for `signer`'s key. The returned leaf is
    /// checked to certify exactly that key.
    pub fn signing_certificate(
        &self,
        signer: &dyn Signer,
        token: &IdentityToken,
    ) -> Result<IssuedCertificate, SignError> {
        let csr = build_csr(signer)?;
        let url = join(&self.base_url, "/api/v2/signingCert");
        let auth = zeroize::Zeroizing::new(format!("Bearer {}", token.raw()));
        let response = self.http.post(
            SERVICE,
            &url,
            "application/json",
            &[("Authorization", &auth), ("Accept", "application/json")],
            Self::request_body(&csr),
        )?;
        if !response.is_success() {
            return Err(SignError::Http {
                service: SERVICE.into(),
                status: response.status,
                message: response.error_message(),
            });
        }
        let issued = parse_response(&response.body)?;
        let leaf = Certificate::from_der(&issued.leaf)
            .map_err(|e| SignError::response(SERVICE, format!("leaf certificate: {e}")))?;
        if leaf.spki_der() != signer.public_key().spki_der() {
            return Err(SignError::response(
                SERVICE,
                "the issued certificate is for another key",
            ));
        }
        Ok(issued)
    }
}

/// Reads `signedCertificateEmbeddedSct.chain.certificates` (PEM, leaf
/// first).
pub fn parse_response(body: &[u8]) -> Result<IssuedCertificate, SignError> {
    let response: SigningCertResponse = signet_model::from_json_slice(body)
        .map_err(|e| SignError::response(SERVICE, e.to_string()))?;
    let Some(embedded) = response.signed_certificate_embedded_sct else {
        let why = if response.signed_certificate_detached_sct.is_some() {
            "the certificate came with a detached SCT; signet needs an embedded SCT"
        } else {
            "no signedCertificateEmbeddedSct in the answer"
        };
        return Err(SignError::response(SERVICE, why));
    };
    let pems = embedded.chain.certificates;
    if pems.is_empty() || pems.len() > MAX_CHAIN {
        return Err(SignError::response(
            SERVICE,
            format!("certificate chain of {} certificates", pems.len()),
        ));
    }
    let mut ders = Vec::with_capacity(pems.len());
    for text in &pems {
        // An entry may itself hold several PEM blocks; take them all.
        let blocks =
            pem::parse_many(text).map_err(|e| SignError::response(SERVICE, e.to_string()))?;
        for block in blocks {
            if block.tag() != "CERTIFICATE" {
                return Err(SignError::response(
                    SERVICE,
                    format!("unexpected PEM block {}", block.tag()),
                ));
            }
            ders.push(block.into_contents());
        }
    }
    if ders.is_empty() || ders.len() > MAX_CHAIN {
        return Err(SignError::response(SERVICE, "bad certificate chain"));
    }
    let leaf = ders.remove(0);
    Ok(IssuedCertificate { leaf, chain: ders })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::InMemorySigner;

    #[test]
    fn csr_is_self_signed_with_empty_subject() {
        let signer = InMemorySigner::generate_p256().unwrap();
        let pem_text = build_csr(&signer).unwrap();
        assert!(pem_text.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let block = pem::parse(&pem_text).unwrap();
        let req = CertReq::from_der(block.contents()).unwrap();
        assert!(req.info.subject.0.is_empty());
        assert_eq!(
            req.info.public_key.to_der().unwrap(),
            signer.public_key().spki_der()
        );
        let tbs = req.info.to_der().unwrap();
        signer
            .public_key()
            .verify(&tbs, req.signature.raw_bytes())
            .unwrap();
        assert_eq!(req.algorithm.oid, ECDSA_WITH_SHA256);
        // The extension request carries basicConstraints CA:FALSE, critical.
        let attr = req.info.attributes.iter().next().unwrap();
        assert_eq!(attr.oid, const_oid::db::rfc5912::ID_EXTENSION_REQ);
        let body = FulcioClient::request_body(&pem_text);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let csr_b64 = v["certificateSigningRequest"].as_str().unwrap();
        assert_eq!(STANDARD.decode(csr_b64).unwrap(), pem_text.as_bytes());
    }

    #[test]
    fn response_chain_is_read_leaf_first() {
        let dir = format!(
            "{}/../../testdata/conformance/bundle-verify/happy-path-v0.3",
            env!("CARGO_MANIFEST_DIR")
        );
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/bundle.sigstore.json")).unwrap())
                .unwrap();
        let leaf_b64 = bundle["verificationMaterial"]["certificate"]["rawBytes"]
            .as_str()
            .unwrap();
        let leaf = STANDARD.decode(leaf_b64).unwrap();
        let leaf_pem = pem::encode(&pem::Pem::new("CERTIFICATE", leaf.clone()));
        let body = serde_json::json!({
            "signedCertificateEmbeddedSct": {"chain": {"certificates": [leaf_pem.clone(), leaf_pem]}}
        });
        let issued = parse_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(issued.leaf, leaf);
        assert_eq!(issued.chain.len(), 1);
        let detached = serde_json::json!({"signedCertificateDetachedSct": {}});
        let err = parse_response(detached.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("detached"), "{err}");
        assert!(parse_response(b"{}").is_err());
    }

    #[test]
    fn request_carries_the_token_and_a_foreign_key_is_refused() {
        let dir = format!(
            "{}/../../testdata/conformance/bundle-verify/happy-path-v0.3",
            env!("CARGO_MANIFEST_DIR")
        );
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/bundle.sigstore.json")).unwrap())
                .unwrap();
        let leaf = STANDARD
            .decode(
                bundle["verificationMaterial"]["certificate"]["rawBytes"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let leaf_pem = pem::encode(&pem::Pem::new("CERTIFICATE", leaf));
        let answer = serde_json::json!({
            "signedCertificateEmbeddedSct": {"chain": {"certificates": [leaf_pem]}}
        });
        let (url, seen) =
            crate::test_server::serve_once("201 Created", answer.to_string().into_bytes());
        let http = HttpClient::new(std::time::Duration::from_secs(10)).unwrap();
        let token = crate::oidc::IdentityToken::parse(&crate::oidc::tests::jwt(
            &serde_json::json!({"iss": "https://issuer", "sub": "me"}),
        ))
        .unwrap();
        let signer = InMemorySigner::generate_p256().unwrap();
        let err = FulcioClient::new(&url, http)
            .signing_certificate(&signer, &token)
            .unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");
        let (head, body) = seen.lock().unwrap().clone().unwrap();
        assert!(
            head.starts_with("POST /api/v2/signingCert HTTP/1.1"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("authorization: bearer {}", token.raw()).to_ascii_lowercase()),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["certificateSigningRequest"].is_string());
    }

    #[test]
    fn http_errors_carry_the_service_message() {
        let (url, _) = crate::test_server::serve_once(
            "401 Unauthorized",
            br#"{"code":16,"message":"There was an error processing the identity token"}"#.to_vec(),
        );
        let http = HttpClient::new(std::time::Duration::from_secs(10)).unwrap();
        let token = crate::oidc::IdentityToken::parse(&crate::oidc::tests::jwt(
            &serde_json::json!({"iss": "https://issuer", "sub": "me"}),
        ))
        .unwrap();
        let signer = InMemorySigner::generate_p256().unwrap();
        let err = FulcioClient::new(&url, http)
            .signing_certificate(&signer, &token)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("401") && text.contains("identity token"),
            "{text}"
        );
        assert!(!text.contains(token.raw()));
    }
}
