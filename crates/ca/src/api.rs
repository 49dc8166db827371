//! Fulcio's HTTP wire format (`fulcio.proto` via grpc-gateway, and the
//! legacy v1 API) and the JSON errors the server answers with.
//!
//! Field names are protobuf JSON (camelCase); the snake_case originals are
//! accepted too, as grpc-gateway does.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use signet_model::encoding::Base64;

/// `POST /api/v2/signingCert` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSigningCertificateRequest {
    #[serde(default)]
    pub credentials: Option<Credentials>,
    #[serde(default, alias = "certificate_signing_request")]
    pub certificate_signing_request: Option<Base64>,
    #[serde(default, alias = "public_key_request")]
    pub public_key_request: Option<PublicKeyRequest>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    #[serde(default, alias = "oidc_identity_token")]
    pub oidc_identity_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyRequest {
    #[serde(default, alias = "public_key")]
    pub public_key: Option<RequestPublicKey>,
    #[serde(default, alias = "proof_of_possession")]
    pub proof_of_possession: Option<Base64>,
}

/// `PublicKey`: the algorithm is informational (Fulcio infers it from the
/// key), so any JSON value is accepted for it.
#[derive(Debug, Default, Deserialize)]
pub struct RequestPublicKey {
    #[serde(default)]
    pub algorithm: Option<serde_json::Value>,
    #[serde(default)]
    pub content: Option<String>,
}

/// `POST /api/v1/signingCert` body (legacy).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyRequest {
    #[serde(default, alias = "public_key")]
    pub public_key: Option<LegacyPublicKey>,
    #[serde(default, alias = "signed_email_address")]
    pub signed_email_address: Option<Base64>,
    #[serde(default, alias = "certificate_signing_request")]
    pub certificate_signing_request: Option<Base64>,
}

/// Legacy `PublicKey`: `content` is bytes (base64 of PEM or DER).
#[derive(Debug, Default, Deserialize)]
pub struct LegacyPublicKey {
    #[serde(default)]
    pub algorithm: Option<String>,
    #[serde(default)]
    pub content: Option<Base64>,
}

/// `SigningCertificate` with an embedded SCT.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningCertificate {
    pub signed_certificate_embedded_sct: SignedCertificateEmbeddedSct,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedCertificateEmbeddedSct {
    pub chain: CertificateChain,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateChain {
    pub certificates: Vec<String>,
}

/// `GET /api/v2/trustBundle`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustBundle {
    pub chains: Vec<CertificateChain>,
}

/// `GET /api/v2/configuration`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Configuration {
    pub issuers: Vec<OidcIssuer>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcIssuer {
    pub issuer_url: String,
    pub audience: String,
    pub challenge_claim: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spiffe_trust_domain: Option<String>,
    pub issuer_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_domain: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_email_verification: bool,
}

/// A refused or failed request: an HTTP status, a stable machine-readable
/// reason, and a human message (which never contains the token or keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
}

/// The JSON body of an error (grpc-gateway's shape plus `reason`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The gRPC status code grpc-gateway would report.
    pub code: u32,
    pub message: String,
    pub reason: String,
}

impl ApiError {
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            reason,
            message: message.into(),
        }
    }

    pub fn bad_request(reason: &'static str, message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, reason, message)
    }

    fn grpc_code(&self) -> u32 {
        match self.status {
            StatusCode::BAD_REQUEST => 3,
            StatusCode::UNAUTHORIZED => 16,
            StatusCode::PAYLOAD_TOO_LARGE => 8,
            StatusCode::NOT_FOUND => 5,
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE => 14,
            _ => 13,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.grpc_code(),
            message: self.message,
            reason: self.reason.to_string(),
        };
        (self.status, axum::Json(body)).into_response()
    }
}
