//! AWS Signature Version 4 (the `Authorization` header of AWS APIs),
//! written with aws-lc-rs's HMAC-SHA256 and SHA-256.
//!
//! Only what a JSON API call needs: a method, a path, an already
//! URI-encoded query, headers (which must include `host` and
//! `x-amz-date`), and the payload. Every header given is signed. The
//! secret key only ever enters the HMAC; it is not formatted anywhere.

use aws_lc_rs::{digest, hmac};

/// The algorithm name in the string to sign and the header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Who signs, for which region and service, at what time.
pub struct SigningParams<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// `YYYYMMDD'T'HHMMSS'Z'`, the value of the `x-amz-date` header.
    pub amz_date: &'a str,
}

/// A request as SigV4 sees it.
pub struct Request<'a> {
    pub method: &'a str,
    /// The URI-encoded path, `/` for none.
    pub path: &'a str,
    /// The URI-encoded query without `?` (`""` for none).
    pub query: &'a str,
    /// Every header to sign, `host` and `x-amz-date` included.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// What signing produced (the intermediate values, for tests and
/// debugging: none of them is secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signed_headers: String,
    pub signature: String,
    /// The `Authorization` header value.
    pub authorization: String,
}

fn sha256_hex(data: &[u8]) -> String {
    signet_model::encoding::encode_hex(digest::digest(&digest::SHA256, data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region),
/// service), "aws4_request")`.
pub fn signing_key(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut first = Vec::with_capacity(4 + secret_access_key.len());
    first.extend_from_slice(b"AWS4");
    first.extend_from_slice(secret_access_key.as_bytes());
    let k_date = hmac_sha256(&first, date.as_bytes());
    // The secret is in `first`; wipe it rather than leave it to the heap.
    zeroize::Zeroize::zeroize(&mut first);
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// Header value canonical form: trimmed, runs of spaces collapsed to one.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Query canonical form: parameters sorted by name, then value (the
/// pieces are taken as already URI-encoded).
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical request and the signed-headers list.
pub fn canonical_request(request: &Request<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = Vec::with_capacity(request.headers.len());
    for (name, value) in request.headers {
        let name = name.to_ascii_lowercase();
        let value = canonical_value(value);
        // Repeated headers: one line, values joined by commas in order.
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => headers.push((name, value)),
        }
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let header_lines: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        path,
        canonical_query(request.query),
        header_lines,
        signed_headers,
        sha256_hex(request.payload)
    );
    (canonical, signed_headers)
}

/// Signs `request`.
pub fn sign(params: &SigningParams<'_>, request: &Request<'_>) -> Signature {
    let (canonical_request, signed_headers) = canonical_request(request);
    let date = params.amz_date.get(..8).unwrap_or(params.amz_date);
    let scope = format!("{date}/{}/{}/aws4_request", params.region, params.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        params.amz_date,
        sha256_hex(canonical_request.as_bytes())
    );
    let key = signing_key(
        params.secret_access_key,
        date,
        params.region,
        params.service,
    );
    let signature =
        signet_model::encoding::encode_hex(hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        params.access_key_id
    );
    Signature {
        canonical_request,
        string_to_sign,
        signed_headers,
        signature,
        authorization,
    }
}

/// `x-amz-date` for a time in seconds since the Unix epoch (UTC).
pub fn amz_date(unix_seconds: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_seconds).ok()?;
    Some(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// `x-amz-date` for now.
pub fn amz_date_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    amz_date(t.unix_timestamp()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    //! AWS's published vectors: the aws-sig-v4-test-suite (credentials
    //! AKIDEXAMPLE, 2015-08-30 12:36:00 UTC, us-east-1, service `service`)
    //! and the IAM `ListUsers` example of the SigV4 documentation.

    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";

    fn params(service: &str) -> SigningParams<'_> {
        SigningParams {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: SECRET,
            region: "us-east-1",
            service,
            amz_date: DATE,
        }
    }

    fn suite(method: &str, query: &str, extra: &[(&str, &str)], payload: &[u8]) -> Signature {
        let mut headers = vec![("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)];
        headers.extend_from_slice(extra);
        sign(
            &params("service"),
            &Request {
                method,
                path: "/",
                query,
                headers: &headers,
                payload,
            },
        )
    }

    #[test]
    fn the_date_is_formatted_as_aws_wants() {
        assert_eq!(amz_date(1_440_938_160).as_deref(), Some(DATE));
        assert_eq!(amz_date_now().len(), 16);
    }

    #[test]
    fn get_vanilla() {
        let s = suite("GET", "", &[], b"");
        assert_eq!(
            s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn get_vanilla_query_order_key_case() {
        let s = suite("GET", "Param2=value2&Param1=value1", &[], b"");
        assert_eq!(
            s.signature,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn post_x_www_form_urlencoded() {
        let s = suite(
            "POST",
            "",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"Param1=value1",
        );
        assert_eq!(s.signed_headers, "content-type;host;x-amz-date");
        assert_eq!(
            s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"
        );
        assert_eq!(
            s.signature,
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    #[test]
    fn post_sts_header_before() {
        const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
        let s = suite("POST", "", &[("X-Amz-Security-Token", TOKEN)], b"");
        assert_eq!(s.signed_headers, "host;x-amz-date;x-amz-security-token");
        assert!(s
            .string_to_sign
            .ends_with("\nc237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"));
        assert_eq!(
            s.signature,
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
        );
    }

    #[test]
    fn iam_list_users_example() {
        assert_eq!(
            signet_model::encoding::encode_hex(signing_key(SECRET, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let s = sign(
            &params("iam"),
            &Request {
                method: "GET",
                path: "/",
                query: "Action=ListUsers&Version=2010-05-08",
                headers: &[
                    (
                        "Content-Type",
                        "application/x-www-form-urlencoded; charset=utf-8",
                    ),
                    ("Host", "iam.amazonaws.com"),
                    ("X-Amz-Date", DATE),
                ],
                payload: b"",
            },
        );
        assert_eq!(
            sha256_hex(s.canonical_request.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            s.signature,
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_names_sorted() {
        let (canonical, signed) = canonical_request(&Request {
            method: "POST",
            path: "",
            query: "",
            headers: &[("X-B", "  two   words "), ("a", "1"), ("x-b", "again")],
            payload: b"",
        });
        assert_eq!(signed, "a;x-b");
        assert!(canonical.starts_with("POST\n/\n\na:1\nx-b:two words,again\n\n"));
        // Any change to the payload changes the signature.
        let one = suite("POST", "", &[], b"{}");
        let two = suite("POST", "", &[], b"{ }");
        assert_ne!(one.signature, two.signature);
    }
}
