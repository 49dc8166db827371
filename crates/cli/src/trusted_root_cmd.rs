//! `signet trusted-root create`: a `trusted_root.json` for a real
//! deployment, from the services' URLs, keys and certificate chains, in
//! cosign's `trusted-root create` flag style:
//!
//! ```text
//! signet trusted-root create \
//!   --fulcio "url=https://fulcio.example.com,certificate-chain=fulcio-chain.pem" \
//!   --rekor  "url=https://rekor.example.com,public-key=rekor.pub,start-time=2026-01-01T00:00:00Z" \
//!   --ctfe   "url=https://ctfe.example.com,public-key=ctfe.pub,start-time=2026-01-01T00:00:00Z" \
//!   --tsa    "url=https://tsa.example.com/api/v1/timestamp,certificate-chain=tsa-chain.pem" \
//!   --out trusted_root.json
//! ```
//!
//! Each flag may repeat (key rotation: one entry per key, with its
//! `start-time`/`end-time`). Certificate chains are leaf (issuing CA, or
//! TSA signing certificate) first, root last, and must chain by signature;
//! their validity starts at the latest `notBefore` unless `start-time` says
//! otherwise. Keys have no such date, so `start-time` is required for them:
//! a key trusted from before it existed would vouch for forged history.
//! The result is checked by loading it into signet's verifier before it is
//! written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use const_oid::db::rfc4519;
use signet_crypto::PublicKey;
use signet_model::bundle::LogId;
use signet_model::encoding::{Base64, Timestamp};
use signet_model::trust_root::{
    CertChain, CertificateAuthority, DistinguishedName, PublicKey as TrustKey, TimeRange,
    TransparencyLogInstance, MEDIA_TYPE_V0_1,
};
use signet_model::TrustedRoot;
use signet_pki::cert::{name_attribute, Certificate};

use crate::sign_cmd::{read_file, usage, write_output, Failure};

#[derive(Subcommand)]
pub enum TrustedRootCommand {
    /// Build a trusted_root.json from service URLs, keys and chains.
    Create(CreateArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// A certificate authority: `url=URL,certificate-chain=PEM[,start-time=T][,end-time=T][,operator=NAME]`.
    #[arg(long, value_name = "SPEC")]
    fulcio: Vec<String>,
    /// A transparency log: `url=URL,public-key=PEM,start-time=T[,end-time=T][,operator=NAME]`.
    #[arg(long, value_name = "SPEC")]
    rekor: Vec<String>,
    /// A certificate transparency log: `url=URL,public-key=PEM,start-time=T[,end-time=T][,operator=NAME]`.
    #[arg(long, value_name = "SPEC")]
    ctfe: Vec<String>,
    /// A timestamp authority: `url=URL,certificate-chain=PEM[,start-time=T][,end-time=T][,operator=NAME]`.
    #[arg(long, value_name = "SPEC")]
    tsa: Vec<String>,
    /// Where to write the trusted root (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(command: TrustedRootCommand) -> ExitCode {
    let TrustedRootCommand::Create(args) = command;
    match create(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("signet: trusted-root create: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// One `key=value,…` flag, parsed.
struct Spec {
    flag: &'static str,
    fields: BTreeMap<String, String>,
}

const FIELDS: [&str; 6] = [
    "url",
    "certificate-chain",
    "public-key",
    "start-time",
    "end-time",
    "operator",
];

impl Spec {
    fn parse(flag: &'static str, text: &str, allowed: &[&str]) -> Result<Spec, Failure> {
        let mut fields = BTreeMap::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| usage(format!("--{flag} {text:?}: {part:?} is not KEY=VALUE")))?;
            let k = k.trim();
            if !FIELDS.contains(&k) || !allowed.contains(&k) {
                return Err(usage(format!(
                    "--{flag}: unknown field {k:?} (expected {})",
                    allowed.join(", ")
                )));
            }
            if fields.insert(k.to_string(), v.trim().to_string()).is_some() {
                return Err(usage(format!("--{flag}: {k} given twice")));
            }
        }
        Ok(Spec { flag, fields })
    }

    fn required(&self, key: &str) -> Result<&str, Failure> {
        self.fields
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| usage(format!("--{}: {key}= is required", self.flag)))
    }

    fn time(&self, key: &str) -> Result<Option<Timestamp>, Failure> {
        self.fields
            .get(key)
            .map(|t| Timestamp::parse(t).map_err(|e| usage(format!("--{}: {key}: {e}", self.flag))))
            .transpose()
    }

    /// `validFor`: `start` (or `default_start`) to `end-time`.
    fn valid_for(&self, default_start: Option<i64>) -> Result<TimeRange, Failure> {
        let start = match (self.time("start-time")?, default_start) {
            (Some(t), _) => t,
            (None, Some(unix)) => Timestamp::from_unix(unix).map_err(usage)?,
            (None, None) => {
                return Err(usage(format!(
                    "--{}: start-time= is required for a key (when it began to sign)",
                    self.flag
                )))
            }
        };
        let end = self.time("end-time")?;
        if let Some(end) = &end {
            if end.unix <= start.unix {
                return Err(usage(format!(
                    "--{}: end-time {} is not after start-time {}",
                    self.flag, end.text, start.text
                )));
            }
        }
        Ok(TimeRange {
            start: Some(start),
            end,
        })
    }

    fn url(&self) -> Result<String, Failure> {
        let url = self.required("url")?;
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| usage(format!("--{}: url {url:?}: {e}", self.flag)))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(usage(format!(
                "--{}: url {url:?} is not http(s)",
                self.flag
            )));
        }
        Ok(url.trim_end_matches('/').to_string())
    }

    fn key(&self) -> Result<PublicKey, Failure> {
        let path = PathBuf::from(self.required("public-key")?);
        let text = String::from_utf8(read_file(&path, "public key")?)
            .map_err(|_| usage(format!("{} is not PEM text", path.display())))?;
        PublicKey::from_pem(&text)
            .map_err(|e| usage(format!("{}: not a PEM public key: {e}", path.display())))
    }

    /// The chain, leaf first, each certificate signed by the next.
    fn chain(&self) -> Result<Vec<Certificate>, Failure> {
        let path = PathBuf::from(self.required("certificate-chain")?);
        let text = String::from_utf8(read_file(&path, "certificate chain")?)
            .map_err(|_| usage(format!("{} is not PEM text", path.display())))?;
        let chain = Certificate::from_pem_chain(&text)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
        if chain.is_empty() {
            return Err(usage(format!("{}: no certificates", path.display())));
        }
        for pair in chain.windows(2) {
            pair[0].verify_issued_by(&pair[1]).map_err(|e| {
                usage(format!(
                    "{}: not a chain (leaf first, root last): {e}",
                    path.display()
                ))
            })?;
        }
        if let Some(root) = chain.last() {
            if root.is_self_issued() {
                root.verify_issued_by(root).map_err(|e| {
                    usage(format!("{}: root is not self-signed: {e}", path.display()))
                })?;
            }
        }
        Ok(chain)
    }

    fn operator(&self) -> Option<String> {
        self.fields.get("operator").cloned()
    }
}

fn authority(spec: &Spec) -> Result<CertificateAuthority, Failure> {
    let chain = spec.chain()?;
    let latest_not_before = chain.iter().map(Certificate::not_before).max();
    let root = chain.last();
    Ok(CertificateAuthority {
        subject: root.map(|r| {
            let subject = &r.x509().tbs_certificate.subject;
            DistinguishedName {
                organization: name_attribute(subject, rfc4519::O),
                common_name: name_attribute(subject, rfc4519::CN),
            }
        }),
        uri: Some(spec.url()?),
        cert_chain: CertChain::from_der(chain.iter().map(|c| c.der())),
        valid_for: Some(spec.valid_for(latest_not_before)?),
        operator: spec.operator(),
    })
}

/// A log entry; RFC 6962 / Rekor log IDs are the SHA-256 of the key's DER.
fn log(spec: &Spec) -> Result<TransparencyLogInstance, Failure> {
    let key = spec.key()?;
    Ok(TransparencyLogInstance {
        base_url: spec.url()?,
        hash_algorithm: Some("SHA2_256".into()),
        public_key: TrustKey {
            raw_bytes: Some(Base64(key.spki_der().to_vec())),
            key_details: key.key_details().map(str::to_string),
            valid_for: Some(spec.valid_for(None)?),
        },
        log_id: LogId {
            key_id: Base64(key.sha256_id().to_vec()),
        },
        checkpoint_key_id: None,
        operator: spec.operator(),
    })
}

fn create(args: &CreateArgs) -> Result<(), Failure> {
    let authority_fields = [
        "url",
        "certificate-chain",
        "start-time",
        "end-time",
        "operator",
    ];
    let log_fields = ["url", "public-key", "start-time", "end-time", "operator"];
    let mut root = TrustedRoot {
        media_type: MEDIA_TYPE_V0_1.to_string(),
        tlogs: vec![],
        certificate_authorities: vec![],
        ctlogs: vec![],
        timestamp_authorities: vec![],
    };
    for text in &args.fulcio {
        let ca = authority(&Spec::parse("fulcio", text, &authority_fields)?)?;
        let chain: Vec<Certificate> = ca
            .cert_chain
            .certificates
            .iter()
            .filter_map(|c| Certificate::from_der(&c.raw_bytes.0).ok())
            .collect();
        signet_pki::chain::check_ca_chain(&chain)
            .map_err(|e| usage(format!("--fulcio: not a CA chain: {e}")))?;
        root.certificate_authorities.push(ca);
    }
    for text in &args.tsa {
        root.timestamp_authorities
            .push(authority(&Spec::parse("tsa", text, &authority_fields)?)?);
    }
    for text in &args.rekor {
        root.tlogs
            .push(log(&Spec::parse("rekor", text, &log_fields)?)?);
    }
    for text in &args.ctfe {
        root.ctlogs
            .push(log(&Spec::parse("ctfe", text, &log_fields)?)?);
    }
    if root.tlogs.is_empty() && root.timestamp_authorities.is_empty() {
        return Err(usage(
            "give at least one --rekor or --tsa: without a log or a timestamp authority no signature can be dated",
        ));
    }
    if root.certificate_authorities.is_empty() && !root.ctlogs.is_empty() {
        return Err(usage(
            "--ctfe without --fulcio: CT logs only vouch for CA certificates",
        ));
    }
    let json = serde_json::to_vec_pretty(&root)
        .map_err(|e| usage(format!("serializing the trusted root: {e}")))?;
    // What is written must be what signet (and any Sigstore client) loads.
    let reparsed = TrustedRoot::from_json(&json)
        .map_err(|e| usage(format!("the trusted root does not parse back: {e}")))?;
    signet_verify::TrustMaterial::from_trusted_root(&reparsed).map_err(|e| {
        usage(format!(
            "the verifier refuses the trusted root: {}",
            e.reason
        ))
    })?;
    match &args.out {
        Some(path) => {
            write_output(path, &json)?;
            eprintln!(
                "signet: wrote {} ({} CA, {} log, {} CT log, {} TSA entries)",
                path.display(),
                root.certificate_authorities.len(),
                root.tlogs.len(),
                root.ctlogs.len(),
                root.timestamp_authorities.len()
            );
        }
        None => println!("{}", String::from_utf8_lossy(&json)),
    }
    Ok(())
}
