//! RFC 3161 timestamp authority client.
//!
//! Request: a DER `TimeStampReq` over the SHA-256 of the signature bytes,
//! with a random nonce and `certReq` set (so the token embeds the TSA's
//! certificate), POSTed as `application/timestamp-query`. The DER
//! `TimeStampResp` answer goes into the bundle as is
//! (`rfc3161Timestamps[].signedTimestamp`), once its imprint and nonce are
//! checked to be ours; its signature is checked by the verifier afterwards.

use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, Uint};
use der::{Encode, Sequence};
use signet_pki::timestamp::TimestampToken;
use spki::AlgorithmIdentifierOwned;

use crate::http::HttpClient;
use crate::SignError;

const SERVICE: &str = "timestamp authority";
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// `MessageImprint ::= SEQUENCE { hashAlgorithm, hashedMessage }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// `TimeStampReq` (RFC 3161 §2.4.1), without policy and extensions.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    req_policy: Option<ObjectIdentifier>,
    #[asn1(optional = "true")]
    nonce: Option<Uint>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
}

/// A request ready to send, and the nonce it carries.
#[derive(Debug, Clone)]
pub struct TimestampRequest {
    pub der: Vec<u8>,
    /// The nonce as unsigned big-endian bytes, without leading zeros.
    pub nonce: Vec<u8>,
}

fn der_err(e: der::Error) -> SignError {
    SignError::Crypto(format!("timestamp request: {e}"))
}

/// Builds the DER `TimeStampReq` for `signature` with the given nonce
/// (unsigned big-endian).
pub fn build_request(signature: &[u8], nonce: &[u8]) -> Result<TimestampRequest, SignError> {
    let digest = signet_crypto::sha256(signature);
    let nonce = Uint::new(nonce).map_err(der_err)?;
    let request = TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: SHA256,
                parameters: Some(der::asn1::Null.into()),
            },
            hashed_message: OctetString::new(digest.to_vec()).map_err(der_err)?,
        },
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
    };
    Ok(TimestampRequest {
        der: request.to_der().map_err(der_err)?,
        nonce: nonce.as_bytes().to_vec(),
    })
}

/// A random 64-bit nonce, as unsigned big-endian bytes.
fn random_nonce() -> Result<Vec<u8>, SignError> {
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| SignError::Crypto("no randomness available".into()))?;
    // Never zero-length once leading zeros are stripped.
    nonce[0] |= 0x01;
    Ok(nonce.to_vec())
}

/// The content octets of the unsigned integer `bytes` as a DER INTEGER:
/// minimal, with a leading 0x00 when the top bit is set (else it would be
/// negative). An echoed nonce must be exactly this: comparing without the
/// sign would take a negative number for ours.
fn der_integer_content(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let magnitude = &bytes[first..];
    match magnitude.first() {
        None => vec![0],
        Some(b) if b & 0x80 != 0 => [&[0u8][..], magnitude].concat(),
        Some(_) => magnitude.to_vec(),
    }
}

/// Checks that a `TimeStampResp` grants a token over `signature` with our
/// nonce. The token's signature is not checked here (the verifier does,
/// against the trusted root).
pub fn check_response(
    response_der: &[u8],
    signature: &[u8],
    nonce: &[u8],
) -> Result<(), SignError> {
    let token = TimestampToken::parse_response(response_der)
        .map_err(|e| SignError::response(SERVICE, e.to_string()))?;
    let info = token.tst_info();
    if info.hash_algorithm.digest(signature) != info.hashed_message {
        return Err(SignError::response(
            SERVICE,
            "the timestamp is not over our signature",
        ));
    }
    if info.nonce.as_deref() != Some(der_integer_content(nonce).as_slice()) {
        return Err(SignError::response(
            SERVICE,
            "the timestamp's nonce is not ours",
        ));
    }
    Ok(())
}

/// An RFC 3161 timestamp authority at a full URL (signing configs name
/// e.g. `https://timestamp.sigstore.dev/api/v1/timestamp`).
#[derive(Debug, Clone)]
pub struct TsaClient {
    url: String,
    http: HttpClient,
}

impl TsaClient {
    pub fn new(url: &str, http: HttpClient) -> Self {
        TsaClient {
            url: url.to_string(),
            http,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Timestamps `signature`; returns the DER `TimeStampResp`.
    pub fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, SignError> {
        let request = build_request(signature, &random_nonce()?)?;
        let response = self.http.post(
            SERVICE,
            &self.url,
            "application/timestamp-query",
            &[("Accept", "application/timestamp-reply")],
            request.der,
        )?;
        if !response.is_success() {
            return Err(SignError::Http {
                service: SERVICE.into(),
                status: response.status,
                message: response.error_message(),
            });
        }
        check_response(&response.body, signature, &request.nonce)?;
        Ok(response.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;

    #[test]
    fn request_der_is_rfc3161() {
        let request = build_request(b"signature", &[0x80, 0, 0, 0, 0, 0, 0, 1]).unwrap();
        let digest = signet_crypto::sha256(b"signature");
        // SEQUENCE { INTEGER 1, SEQUENCE { SEQUENCE { OID sha256, NULL },
        // OCTET STRING digest }, INTEGER nonce (leading 00: positive),
        // BOOLEAN TRUE }
        let mut expected = vec![
            0x30, 0x44, 0x02, 0x01, 0x01, 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
        ];
        expected.extend_from_slice(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]);
        expected.extend_from_slice(&[0x05, 0x00, 0x04, 0x20]);
        expected.extend_from_slice(&digest);
        expected.extend_from_slice(&[0x02, 0x09, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 1]);
        expected.extend_from_slice(&[0x01, 0x01, 0xff]);
        assert_eq!(request.der, expected);
        let parsed = TimeStampReq::from_der(&request.der).unwrap();
        assert!(parsed.cert_req);
        assert_eq!(request.nonce, vec![0x80, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn nonces_compare_as_signed_integers() {
        // Positive, top bit set: a leading zero octet.
        assert_eq!(der_integer_content(&[0x80, 0, 1]), [0x00, 0x80, 0, 1]);
        // Leading zeros of the unsigned form go; the value does not change.
        assert_eq!(der_integer_content(&[0, 0, 0x12]), [0x12]);
        assert_eq!(der_integer_content(&[0, 0x80]), [0x00, 0x80]);
        assert_eq!(der_integer_content(&[0, 0]), [0x00]);
        // So the negative number 80 00 01 is not our 0x800001.
        assert_ne!(der_integer_content(&[0x80, 0, 1]), [0x80, 0, 1]);
    }

    #[test]
    fn conformance_timestamp_is_checked_against_signature() {
        let path = format!(
            "{}/../../testdata/conformance/bundle-verify/rekor2-happy-path/bundle.sigstore.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let bundle = signet_model::Bundle::from_json(&std::fs::read(path).unwrap()).unwrap();
        let ts = &bundle
            .verification_material
            .timestamp_verification_data
            .as_ref()
            .unwrap()
            .rfc3161_timestamps[0]
            .signed_timestamp;
        let signature = &bundle.message_signature.as_ref().unwrap().signature;
        let token = TimestampToken::parse_response(ts).unwrap();
        let nonce = token.tst_info().nonce.clone().unwrap_or_default();
        check_response(ts, signature, &nonce).unwrap();
        assert!(check_response(ts, b"other signature", &nonce).is_err());
        assert!(check_response(ts, signature, &[0x42]).is_err());
    }
}
/// OpenSSL, a real RFC 3161 implementation, reads our request the same
/// way (skipped where `openssl` is not installed).
#[cfg(test)]
mod openssl_peer {
    #[test]
    fn openssl_parses_the_request() {
        let request = super::build_request(b"sig", &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let dir = std::env::temp_dir().join(format!("signet-tsreq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("req.der");
        std::fs::write(&path, &request.der).unwrap();
        let output = match std::process::Command::new("openssl")
            .args(["ts", "-query", "-text", "-in"])
            .arg(&path)
            .output()
        {
            Ok(output) => output,
            Err(_) => {
                eprintln!("openssl not installed; skipping");
                return;
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        assert!(output.status.success());
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(text.contains("Version: 1"), "{text}");
        assert!(text.contains("Hash Algorithm: sha256"), "{text}");
        assert!(text.contains("Nonce: 0x0102030405060708"), "{text}");
        assert!(text.contains("Certificate required: yes"), "{text}");
        // sha256("sig") = a543997d84f12798…
        assert!(text.contains("a5 43 99 7d 84 f1 27 98"), "{text}");
    }
}
