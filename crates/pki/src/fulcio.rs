//! The identity Fulcio binds into a code-signing certificate: the subject
//! alternative names and Sigstore's `1.3.6.1.4.1.57264.1.*` extensions.
//!
//! Encodings (fulcio `docs/oid-info.md`): `.1.1`–`.1.6` hold the raw string
//! bytes (no DER); `.1.7` is an OtherName SAN whose value is a UTF8String;
//! `.1.8`–`.1.23` hold a DER UTF8String.

use const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME;
use const_oid::ObjectIdentifier;
use der::asn1::Utf8StringRef;
use der::Decode;
use x509_cert::ext::pkix::name::GeneralName;

use crate::cert::Certificate;

/// Sigstore's OtherName SAN type (a username).
pub const OTHER_NAME_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
/// Issuer (deprecated): raw string.
pub const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Issuer (V2): DER UTF8String.
pub const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");

/// Most SAN entries read from one certificate.
pub const MAX_SAN_ENTRIES: usize = 64;

/// Why a certificate's Fulcio identity could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FulcioError {
    #[error("the certificate has no subjectAltName extension")]
    NoSubjectAltName,
    #[error("the subjectAltName extension is malformed: {0}")]
    MalformedSubjectAltName(String),
    #[error("the subjectAltName extension has more than {MAX_SAN_ENTRIES} entries")]
    TooManySubjectAltNames,
    #[error("the subjectAltName extension has no email, URI or Sigstore OtherName entry")]
    NoUsableSubjectAltName,
    #[error("Fulcio extension {oid} is malformed: {reason}")]
    MalformedExtension {
        oid: ObjectIdentifier,
        reason: String,
    },
    #[error("issuer extensions disagree: {ISSUER_V1} says {v1:?}, {ISSUER_V2} says {v2:?}")]
    IssuerMismatch { v1: String, v2: String },
}

/// One subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectAltName {
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
    /// dNSName.
    Dns(String),
    /// otherName of type `1.3.6.1.4.1.57264.1.7`, a UTF8String.
    OtherName(String),
}

impl SubjectAltName {
    /// The name as a string, whatever its kind.
    pub fn value(&self) -> &str {
        match self {
            SubjectAltName::Email(s)
            | SubjectAltName::Uri(s)
            | SubjectAltName::Dns(s)
            | SubjectAltName::OtherName(s) => s,
        }
    }
}

/// The optional Fulcio extensions besides the issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FulcioExtensions {
    /// `.1.2` GitHub Workflow Trigger (deprecated, raw).
    pub github_workflow_trigger: Option<String>,
    /// `.1.3` GitHub Workflow SHA (deprecated, raw).
    pub github_workflow_sha: Option<String>,
    /// `.1.4` GitHub Workflow Name (deprecated, raw).
    pub github_workflow_name: Option<String>,
    /// `.1.5` GitHub Workflow Repository (deprecated, raw).
    pub github_workflow_repository: Option<String>,
    /// `.1.6` GitHub Workflow Ref (deprecated, raw).
    pub github_workflow_ref: Option<String>,
    /// `.1.9`
    pub build_signer_uri: Option<String>,
    /// `.1.10`
    pub build_signer_digest: Option<String>,
    /// `.1.11`
    pub runner_environment: Option<String>,
    /// `.1.12`
    pub source_repository_uri: Option<String>,
    /// `.1.13`
    pub source_repository_digest: Option<String>,
    /// `.1.14`
    pub source_repository_ref: Option<String>,
    /// `.1.15`
    pub source_repository_identifier: Option<String>,
    /// `.1.16`
    pub source_repository_owner_uri: Option<String>,
    /// `.1.17`
    pub source_repository_owner_identifier: Option<String>,
    /// `.1.18`
    pub build_config_uri: Option<String>,
    /// `.1.19`
    pub build_config_digest: Option<String>,
    /// `.1.20`
    pub build_trigger: Option<String>,
    /// `.1.21`
    pub run_invocation_uri: Option<String>,
    /// `.1.22`
    pub source_repository_visibility_at_signing: Option<String>,
    /// `.1.23`
    pub deployment_environment: Option<String>,
}

/// The identity of a Fulcio certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulcioIdentity {
    /// The SAN entries signet understands, in certificate order (never empty).
    pub san: Vec<SubjectAltName>,
    /// The OIDC issuer: `.1.8` if present, else `.1.1`.
    pub issuer: Option<String>,
    pub extensions: FulcioExtensions,
}

impl FulcioIdentity {
    /// The SAN values as strings.
    pub fn san_values(&self) -> Vec<&str> {
        self.san.iter().map(SubjectAltName::value).collect()
    }
}

/// OIDs of the Fulcio extensions besides the issuer.
pub mod oids {
    use const_oid::ObjectIdentifier;
    pub const GITHUB_WORKFLOW_TRIGGER: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.2");
    pub const GITHUB_WORKFLOW_SHA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.3");
    pub const GITHUB_WORKFLOW_NAME: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.4");
    pub const GITHUB_WORKFLOW_REPOSITORY: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.5");
    pub const GITHUB_WORKFLOW_REF: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.6");
    pub const BUILD_SIGNER_URI: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.9");
    pub const BUILD_SIGNER_DIGEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.10");
    pub const RUNNER_ENVIRONMENT: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.11");
    pub const SOURCE_REPOSITORY_URI: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.12");
    pub const SOURCE_REPOSITORY_DIGEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.13");
    pub const SOURCE_REPOSITORY_REF: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.14");
    pub const SOURCE_REPOSITORY_IDENTIFIER: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.15");
    pub const SOURCE_REPOSITORY_OWNER_URI: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.16");
    pub const SOURCE_REPOSITORY_OWNER_IDENTIFIER: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.17");
    pub const BUILD_CONFIG_URI: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.18");
    pub const BUILD_CONFIG_DIGEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.19");
    pub const BUILD_TRIGGER: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.20");
    pub const RUN_INVOCATION_URI: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.21");
    pub const SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.22");
    pub const DEPLOYMENT_ENVIRONMENT: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.23");
}

/// A raw-string (`.1.1`–`.1.6`) extension value.
fn raw_string(cert: &Certificate, oid: ObjectIdentifier) -> Result<Option<String>, FulcioError> {
    let Some((_, value)) = cert.extension(&oid) else {
        return Ok(None);
    };
    String::from_utf8(value.to_vec())
        .map(Some)
        .map_err(|e| FulcioError::MalformedExtension {
            oid,
            reason: format!("not UTF-8: {e}"),
        })
}

/// A DER UTF8String (`.1.8`–`.1.23`) extension value.
fn der_string(cert: &Certificate, oid: ObjectIdentifier) -> Result<Option<String>, FulcioError> {
    let Some((_, value)) = cert.extension(&oid) else {
        return Ok(None);
    };
    Utf8StringRef::from_der(value)
        .map(|s| Some(s.as_str().to_owned()))
        .map_err(|e| FulcioError::MalformedExtension {
            oid,
            reason: format!("not a DER UTF8String: {e}"),
        })
}

/// The subject alternative names of `cert` that signet understands
/// (rfc822Name, URI, dNSName, Sigstore OtherName); other kinds are skipped.
/// Errors if the extension is absent, malformed, or yields no usable name.
pub fn subject_alt_names(cert: &Certificate) -> Result<Vec<SubjectAltName>, FulcioError> {
    let (_, value) = cert
        .extension(&ID_CE_SUBJECT_ALT_NAME)
        .ok_or(FulcioError::NoSubjectAltName)?;
    let names = x509_cert::ext::pkix::SubjectAltName::from_der(value)
        .map_err(|e| FulcioError::MalformedSubjectAltName(e.to_string()))?;
    if names.0.len() > MAX_SAN_ENTRIES {
        return Err(FulcioError::TooManySubjectAltNames);
    }
    let mut out = Vec::with_capacity(names.0.len());
    for name in &names.0 {
        match name {
            GeneralName::Rfc822Name(s) => out.push(SubjectAltName::Email(s.to_string())),
            GeneralName::UniformResourceIdentifier(s) => {
                out.push(SubjectAltName::Uri(s.to_string()))
            }
            GeneralName::DnsName(s) => out.push(SubjectAltName::Dns(s.to_string())),
            GeneralName::OtherName(other) if other.type_id == OTHER_NAME_SAN => {
                let s = other.value.decode_as::<Utf8StringRef<'_>>().map_err(|e| {
                    FulcioError::MalformedSubjectAltName(format!(
                        "OtherName {OTHER_NAME_SAN} is not a UTF8String: {e}"
                    ))
                })?;
                out.push(SubjectAltName::OtherName(s.as_str().to_owned()));
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(FulcioError::NoUsableSubjectAltName);
    }
    Ok(out)
}

/// The SAN values of `cert` as strings (see [`subject_alt_names`]).
pub fn san_strings(cert: &Certificate) -> Result<Vec<String>, FulcioError> {
    Ok(subject_alt_names(cert)?
        .into_iter()
        .map(|s| match s {
            SubjectAltName::Email(v)
            | SubjectAltName::Uri(v)
            | SubjectAltName::Dns(v)
            | SubjectAltName::OtherName(v) => v,
        })
        .collect())
}

/// Reads the Fulcio identity of `cert`. Every Fulcio extension present
/// must be well formed; if both issuer extensions are present they must
/// agree.
pub fn identity(cert: &Certificate) -> Result<FulcioIdentity, FulcioError> {
    let san = subject_alt_names(cert)?;
    let v1 = raw_string(cert, ISSUER_V1)?;
    let v2 = der_string(cert, ISSUER_V2)?;
    let issuer = match (v1, v2) {
        (Some(v1), Some(v2)) if v1 != v2 => return Err(FulcioError::IssuerMismatch { v1, v2 }),
        (_, Some(v2)) => Some(v2),
        (v1, None) => v1,
    };
    let raw = |oid| raw_string(cert, oid);
    let der = |oid| der_string(cert, oid);
    let extensions = FulcioExtensions {
        github_workflow_trigger: raw(oids::GITHUB_WORKFLOW_TRIGGER)?,
        github_workflow_sha: raw(oids::GITHUB_WORKFLOW_SHA)?,
        github_workflow_name: raw(oids::GITHUB_WORKFLOW_NAME)?,
        github_workflow_repository: raw(oids::GITHUB_WORKFLOW_REPOSITORY)?,
        github_workflow_ref: raw(oids::GITHUB_WORKFLOW_REF)?,
        build_signer_uri: der(oids::BUILD_SIGNER_URI)?,
        build_signer_digest: der(oids::BUILD_SIGNER_DIGEST)?,
        runner_environment: der(oids::RUNNER_ENVIRONMENT)?,
        source_repository_uri: der(oids::SOURCE_REPOSITORY_URI)?,
        source_repository_digest: der(oids::SOURCE_REPOSITORY_DIGEST)?,
        source_repository_ref: der(oids::SOURCE_REPOSITORY_REF)?,
        source_repository_identifier: der(oids::SOURCE_REPOSITORY_IDENTIFIER)?,
        source_repository_owner_uri: der(oids::SOURCE_REPOSITORY_OWNER_URI)?,
        source_repository_owner_identifier: der(oids::SOURCE_REPOSITORY_OWNER_IDENTIFIER)?,
        build_config_uri: der(oids::BUILD_CONFIG_URI)?,
        build_config_digest: der(oids::BUILD_CONFIG_DIGEST)?,
        build_trigger: der(oids::BUILD_TRIGGER)?,
        run_invocation_uri: der(oids::RUN_INVOCATION_URI)?,
        source_repository_visibility_at_signing: der(
            oids::SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING,
        )?,
        deployment_environment: der(oids::DEPLOYMENT_ENVIRONMENT)?,
    };
    Ok(FulcioIdentity {
        san,
        issuer,
        extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::testutil::*;
    use der::asn1::{Any, Ia5String, Utf8StringRef};
    use der::Encode;
    use x509_cert::ext::pkix::name::OtherName;
    use x509_cert::ext::Extension;

    fn leaf(exts: Vec<Extension>) -> Certificate {
        let key = Key::new();
        sign(
            tbs("", "ca", &key, 1_700_000_000, 1_700_000_600, exts),
            &key,
        )
    }

    fn san_ext(names: Vec<GeneralName>) -> Extension {
        let der = x509_cert::ext::pkix::SubjectAltName(names)
            .to_der()
            .unwrap();
        ext("2.5.29.17", true, der)
    }

    fn utf8(s: &str) -> Vec<u8> {
        Utf8StringRef::new(s).unwrap().to_der().unwrap()
    }

    fn other_name(value: Any) -> GeneralName {
        GeneralName::OtherName(OtherName {
            type_id: OTHER_NAME_SAN,
            value,
        })
    }

    fn email(s: &str) -> GeneralName {
        GeneralName::Rfc822Name(Ia5String::new(s).unwrap())
    }

    #[test]
    fn reads_all_san_kinds_and_extensions() {
        let names = vec![
            email("a@example.com"),
            GeneralName::UniformResourceIdentifier(Ia5String::new("https://x/y").unwrap()),
            GeneralName::DnsName(Ia5String::new("example.com").unwrap()),
            other_name(Any::encode_from(&Utf8StringRef::new("user!").unwrap()).unwrap()),
            // Other kinds are skipped.
            GeneralName::IpAddress(der::asn1::OctetString::new(vec![127, 0, 0, 1]).unwrap()),
        ];
        let mut exts = vec![
            san_ext(names),
            ext("1.3.6.1.4.1.57264.1.1", false, b"https://issuer".to_vec()),
            ext("1.3.6.1.4.1.57264.1.8", false, utf8("https://issuer")),
        ];
        for arc in 2..=6 {
            exts.push(ext(
                &format!("1.3.6.1.4.1.57264.1.{arc}"),
                false,
                format!("raw{arc}").into_bytes(),
            ));
        }
        for arc in 9..=23 {
            exts.push(ext(
                &format!("1.3.6.1.4.1.57264.1.{arc}"),
                false,
                utf8(&format!("der{arc}")),
            ));
        }
        let id = identity(&leaf(exts)).unwrap();
        assert_eq!(
            id.san,
            vec![
                SubjectAltName::Email("a@example.com".into()),
                SubjectAltName::Uri("https://x/y".into()),
                SubjectAltName::Dns("example.com".into()),
                SubjectAltName::OtherName("user!".into()),
            ]
        );
        assert_eq!(
            id.san_values(),
            vec!["a@example.com", "https://x/y", "example.com", "user!"]
        );
        assert_eq!(id.issuer.as_deref(), Some("https://issuer"));
        let e = &id.extensions;
        let got = [
            &e.github_workflow_trigger,
            &e.github_workflow_sha,
            &e.github_workflow_name,
            &e.github_workflow_repository,
            &e.github_workflow_ref,
        ];
        for (i, v) in got.iter().enumerate() {
            assert_eq!(v.as_deref(), Some(format!("raw{}", i + 2).as_str()));
        }
        let got = [
            &e.build_signer_uri,
            &e.build_signer_digest,
            &e.runner_environment,
            &e.source_repository_uri,
            &e.source_repository_digest,
            &e.source_repository_ref,
            &e.source_repository_identifier,
            &e.source_repository_owner_uri,
            &e.source_repository_owner_identifier,
            &e.build_config_uri,
            &e.build_config_digest,
            &e.build_trigger,
            &e.run_invocation_uri,
            &e.source_repository_visibility_at_signing,
            &e.deployment_environment,
        ];
        for (i, v) in got.iter().enumerate() {
            assert_eq!(v.as_deref(), Some(format!("der{}", i + 9).as_str()));
        }
    }

    #[test]
    fn issuer_sources() {
        let san = || san_ext(vec![email("a@b")]);
        let v1 = || ext("1.3.6.1.4.1.57264.1.1", false, b"https://one".to_vec());
        let v2 = |s: &str| ext("1.3.6.1.4.1.57264.1.8", false, utf8(s));
        let id = identity(&leaf(vec![san(), v1()])).unwrap();
        assert_eq!(id.issuer.as_deref(), Some("https://one"));
        assert_eq!(id.extensions, FulcioExtensions::default());
        let id = identity(&leaf(vec![san(), v2("https://two")])).unwrap();
        assert_eq!(id.issuer.as_deref(), Some("https://two"));
        assert_eq!(identity(&leaf(vec![san()])).unwrap().issuer, None);
        assert_eq!(
            identity(&leaf(vec![san(), v1(), v2("https://two")])).unwrap_err(),
            FulcioError::IssuerMismatch {
                v1: "https://one".into(),
                v2: "https://two".into()
            }
        );
    }

    #[test]
    fn malformed_extension_values_are_rejected() {
        let san = || san_ext(vec![email("a@b")]);
        // Legacy raw string that is not UTF-8.
        let err = identity(&leaf(vec![
            san(),
            ext("1.3.6.1.4.1.57264.1.1", false, vec![0xff, 0xfe]),
        ]))
        .unwrap_err();
        assert!(matches!(err, FulcioError::MalformedExtension { oid, .. } if oid == ISSUER_V1));
        // V2 value given raw instead of as a DER UTF8String.
        let err = identity(&leaf(vec![
            san(),
            ext("1.3.6.1.4.1.57264.1.8", false, b"https://raw".to_vec()),
        ]))
        .unwrap_err();
        assert!(matches!(err, FulcioError::MalformedExtension { oid, .. } if oid == ISSUER_V2));
        // A DER string of another type (PrintableString) is refused too.
        let err = identity(&leaf(vec![
            san(),
            ext("1.3.6.1.4.1.57264.1.12", false, vec![0x13, 0x01, b'x']),
        ]))
        .unwrap_err();
        assert!(matches!(
            err,
            FulcioError::MalformedExtension { oid, .. } if oid == oids::SOURCE_REPOSITORY_URI
        ));
    }

    #[test]
    fn subject_alt_name_problems() {
        assert_eq!(
            identity(&leaf(vec![])).unwrap_err(),
            FulcioError::NoSubjectAltName
        );
        assert!(matches!(
            identity(&leaf(vec![ext("2.5.29.17", false, vec![0x04, 0x00])])).unwrap_err(),
            FulcioError::MalformedSubjectAltName(_)
        ));
        let ip = GeneralName::IpAddress(der::asn1::OctetString::new(vec![1, 2, 3, 4]).unwrap());
        assert_eq!(
            identity(&leaf(vec![san_ext(vec![ip])])).unwrap_err(),
            FulcioError::NoUsableSubjectAltName
        );
        let bad_other = other_name(Any::encode_from(&7u8).unwrap());
        assert!(matches!(
            identity(&leaf(vec![san_ext(vec![bad_other])])).unwrap_err(),
            FulcioError::MalformedSubjectAltName(_)
        ));
        let many = vec![email("a@b"); MAX_SAN_ENTRIES + 1];
        assert_eq!(
            identity(&leaf(vec![san_ext(many)])).unwrap_err(),
            FulcioError::TooManySubjectAltNames
        );
    }

    #[test]
    fn san_strings_lists_values() {
        let c = leaf(vec![san_ext(vec![email("a@b"), email("c@d")])]);
        assert_eq!(san_strings(&c).unwrap(), vec!["a@b", "c@d"]);
    }
}
