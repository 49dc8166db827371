//! Signing verbs: `sign-blob`, `attest-blob`, `generate-key-pair`, and the
//! conformance verb `sign-bundle`.
//!
//! Where to sign comes from `--signing-config` (+ `--trusted-root`), or a
//! ClientTrustConfig (`--trust-config`), or, with neither, the public-good
//! instance. Every bundle is verified against the trusted root before it is
//! written. Exit status: 0 signed, 1 signing failed, 2 bad usage or input.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use signet_model::intoto::{Statement, Subject, STATEMENT_V1};
use signet_model::{Bundle, ClientTrustConfig, SigningConfig, TrustedRoot};
use signet_sign::custody::KeyRef;
use signet_sign::flow::{Content, Identity, SignOptions, Signed, SigningContext};
use signet_sign::kms::{AwsKmsClient, AwsKmsSigner};
use signet_sign::oidc::IdentityToken;
use signet_sign::{keys, SignError, Signer};
use zeroize::Zeroizing;

use crate::trust_source::{trusted_root_bytes, TrustArgs};

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// The public-good signing config, embedded like the trusted root.
const PUBLIC_GOOD_SIGNING_CONFIG: &[u8] =
    include_bytes!("../../../testdata/trust/public-good/signing_config.v0.2.json");

/// Where to sign, and what to trust.
#[derive(Args, Debug)]
pub struct SignTrustArgs {
    #[command(flatten)]
    trust: TrustArgs,
    /// A signing_config.json (v0.2) naming the CA, logs and timestamp
    /// authorities to sign with (default: Sigstore's public-good instance).
    #[arg(long)]
    signing_config: Option<PathBuf>,
    /// A ClientTrustConfig (trusted root + signing config in one file),
    /// as sigstore-python's `--trust-config`.
    #[arg(long, conflicts_with_all = ["signing_config", "trusted_root"])]
    trust_config: Option<PathBuf>,
}

/// Who signs.
#[derive(Args, Debug)]
pub struct SignerArgs {
    /// An OIDC identity token (else SIGSTORE_ID_TOKEN, else GitHub Actions'
    /// ambient token).
    #[arg(long, conflicts_with = "key")]
    pub(crate) identity_token: Option<String>,
    /// The signing key: a cosign private key file (password from
    /// COSIGN_PASSWORD, else a prompt on the terminal), a PKCS#11 URI
    /// (`pkcs11:token=T;object=K[;pin-value=P]`, module from module-path= or
    /// SIGNET_PKCS11_MODULE), or an AWS KMS key (`awskms:///KEY_ID|ARN|alias/NAME`,
    /// `awskms://HOST:PORT/KEY`; credentials from AWS_* variables).
    #[arg(long, value_name = "KEY")]
    pub(crate) key: Option<String>,
    /// Skip confirmation prompts (accepted for cosign compatibility; signet
    /// does not prompt before uploading).
    #[arg(long, short = 'y')]
    yes: bool,
    #[command(flatten)]
    pub(crate) sign_in: crate::sign_in::SignInArgs,
}

#[derive(Args, Debug)]
pub struct SignBlobArgs {
    /// The file to sign.
    file: PathBuf,
    /// Where to write the Sigstore bundle.
    #[arg(long)]
    bundle: PathBuf,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    trust: SignTrustArgs,
}

#[derive(Args, Debug)]
pub struct AttestBlobArgs {
    /// The file the attestation is about (its SHA-256 is the subject).
    file: PathBuf,
    /// The predicate, a JSON file.
    #[arg(long)]
    predicate: PathBuf,
    /// Predicate type: slsaprovenance, slsaprovenance02, slsaprovenance1,
    /// spdx, spdxjson, cyclonedx, vuln, openvex, custom, or a URI.
    #[arg(long = "type", default_value = "custom")]
    predicate_type: String,
    /// Where to write the Sigstore bundle.
    #[arg(long)]
    bundle: PathBuf,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    trust: SignTrustArgs,
}

/// `public-key --key SPEC [--outfile F]`, as cosign's.
#[derive(Args, Debug)]
pub struct PublicKeyArgs {
    /// A cosign key file, a pkcs11: URI or an awskms:// URI (as `sign-blob
    /// --key`).
    #[arg(long, value_name = "KEY")]
    key: String,
    /// Write the PEM here instead of standard output.
    #[arg(long)]
    outfile: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GenerateKeyPairArgs {
    /// Writes PREFIX.key (private, mode 0600) and PREFIX.pub.
    #[arg(long, default_value = "cosign")]
    output_key_prefix: String,
    /// Create the key in a KMS instead (`awskms://[HOST:PORT]/alias/NAME`:
    /// an ECC_NIST_P256 signing key under that alias, kept if the alias
    /// exists); only PREFIX.pub is written.
    #[arg(long, value_name = "URI")]
    kms: Option<String>,
}

/// `sign-bundle [--in-toto] --identity-token T --bundle B [--trusted-root T]
/// [--signing-config S] FILE`, as the Sigstore conformance suite calls it.
#[derive(Args, Debug)]
pub struct SignBundleArgs {
    #[arg(long)]
    identity_token: String,
    #[arg(long)]
    bundle: PathBuf,
    /// FILE is an in-toto statement (JSON) to sign as a DSSE envelope.
    #[arg(long)]
    in_toto: bool,
    #[command(flatten)]
    trust: SignTrustArgs,
    file: PathBuf,
}

/// A failure and its exit status.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_USAGE,
        message: message.into(),
    }
}

impl From<SignError> for Failure {
    fn from(e: SignError) -> Self {
        let code = match e {
            SignError::WrongPassword
            | SignError::KeyFormat(_)
            | SignError::UnsupportedKey(_)
            | SignError::KeyAccess(_)
            | SignError::Token(_)
            | SignError::NoToken(_)
            | SignError::Config(_) => EXIT_USAGE,
            _ => EXIT_FAILED,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

fn finish(verb: &str, result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("signet: {verb}: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

pub(crate) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| usage(format!("cannot read {what} {}: {e}", path.display())))
}

/// The trusted root and signing config to use.
pub(crate) fn trust_material(
    args: &SignTrustArgs,
) -> Result<(TrustedRoot, SigningConfig), Failure> {
    if let Some(path) = &args.trust_config {
        let config = ClientTrustConfig::from_json(&read_file(path, "trust config")?)
            .map_err(|e| usage(format!("trust config {}: {e}", path.display())))?;
        return Ok((config.trusted_root, config.signing_config));
    }
    let signing_config = match &args.signing_config {
        Some(path) => SigningConfig::from_json(&read_file(path, "signing config")?)
            .map_err(|e| usage(format!("signing config {}: {e}", path.display())))?,
        None if args.trust.trusted_root.is_some() => {
            return Err(usage(
                "--trusted-root names a private instance: say where to sign with \
                 --signing-config (or give both in --trust-config)",
            ))
        }
        None => SigningConfig::from_json(PUBLIC_GOOD_SIGNING_CONFIG)
            .map_err(|e| usage(format!("embedded signing config: {e}")))?,
    };
    let (bytes, source) = trusted_root_bytes(&args.trust).map_err(usage)?;
    let root = TrustedRoot::from_json(&bytes)
        .map_err(|e| usage(format!("trusted root ({source}): {e}")))?;
    Ok((root, signing_config))
}

/// The key password: COSIGN_PASSWORD if set (even empty), else a prompt
/// (twice when `confirm`) on the terminal.
pub(crate) fn password(confirm: bool) -> Result<Zeroizing<String>, Failure> {
    if let Ok(p) = std::env::var("COSIGN_PASSWORD") {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "no password: set COSIGN_PASSWORD (stdin is not a terminal to prompt on)",
        ));
    }
    let prompt = |text: &str| {
        rpassword::prompt_password(text)
            .map(Zeroizing::new)
            .map_err(|e| usage(format!("reading the password: {e}")))
    };
    let first = prompt("Enter password for private key: ")?;
    if confirm {
        let again = prompt("Enter password for private key again: ")?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(first.as_bytes(), again.as_bytes())
            .is_err()
        {
            return Err(usage("the passwords do not match"));
        }
    }
    Ok(first)
}

/// The signer the flags name, loaded once for however many signatures
/// are made with it.
pub(crate) enum Who {
    Key(Box<dyn Signer>),
    Token(IdentityToken),
}

/// Opens the signer a `--key` value names: a cosign key file (asking for
/// its password), a PKCS#11 token key or an AWS KMS key.
pub(crate) fn load_signer(spec: &str) -> Result<Box<dyn Signer>, Failure> {
    let key = KeyRef::parse(spec)?;
    if let Some(remote) = key.open_remote() {
        return Ok(remote?);
    }
    let KeyRef::File(path) = key else {
        return Err(usage(format!("cannot open key {spec}")));
    };
    let pem_text = Zeroizing::new(
        String::from_utf8(read_file(&path, "key")?)
            .map_err(|_| usage(format!("key {} is not PEM text", path.display())))?,
    );
    let password = password(false)?;
    let key = keys::load_private_key(&pem_text, password.as_bytes())?;
    Ok(Box::new(key))
}

impl Who {
    /// Loads the key `--key` names, or finds the identity token.
    pub(crate) fn load(args: &SignerArgs, context: &SigningContext) -> Result<Who, Failure> {
        match &args.key {
            Some(spec) => Ok(Who::Key(load_signer(spec)?)),
            None => Ok(Who::Token(crate::sign_in::identity_token(args, context)?)),
        }
    }

    pub(crate) fn sign(
        &self,
        context: &SigningContext,
        content: Content<'_>,
    ) -> Result<Signed, SignError> {
        match self {
            Who::Key(k) => context.sign(Identity::Key(k.as_ref()), content),
            Who::Token(t) => context.sign(Identity::Keyless(t), content),
        }
    }
}

/// Signs `content` with the signer the flags name, and writes the bundle.
fn sign_and_write(
    signer: &SignerArgs,
    trust: &SignTrustArgs,
    content: Content<'_>,
    out: &Path,
) -> Result<(), Failure> {
    // A malformed or unsupported --key is reported before any network use.
    if let Some(spec) = &signer.key {
        KeyRef::parse(spec)?;
    }
    let (root, config) = trust_material(trust)?;
    let context = SigningContext::new(&config, &root, SignOptions::default())?;
    let signed = Who::load(signer, &context)?.sign(&context, content)?;
    write_bundle(&signed, out)
}

fn write_bundle(signed: &Signed, out: &Path) -> Result<(), Failure> {
    for warning in &signed.warnings {
        eprintln!("signet: warning: {warning}");
    }
    write_output(out, signed.bundle.to_json().as_bytes())?;
    eprintln!(
        "signet: wrote {}{}",
        out.display(),
        describe(&signed.bundle)
    );
    Ok(())
}

fn describe(bundle: &Bundle) -> String {
    bundle
        .verification_material
        .tlog_entries
        .iter()
        .map(|e| format!(" (log index {})", e.log_index.0))
        .collect()
}

pub(crate) fn write_output(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure {
        code: EXIT_FAILED,
        message: format!("cannot write {}: {e}", path.display()),
    })
}

pub fn sign_blob(args: SignBlobArgs) -> ExitCode {
    let result = (|| {
        let bytes = read_file(&args.file, "file")?;
        sign_and_write(
            &args.signer,
            &args.trust,
            Content::Blob(&bytes),
            &args.bundle,
        )
    })();
    finish("sign-blob", result)
}

/// cosign's predicate type names (cosign's `options.PredicateTypeMap`),
/// for `attest-blob`, `attest` and `verify-attestation`.
pub(crate) fn predicate_type_uri(name: &str) -> Result<String, Failure> {
    Ok(match name {
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "link" => "https://in-toto.io/Link/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "openvex" => "https://openvex.dev/ns",
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        uri if uri.contains("://") => uri,
        other => {
            return Err(usage(format!(
                "unknown predicate type {other:?} (a cosign name or a URI)"
            )))
        }
    }
    .to_string())
}

/// An in-toto statement about `file` with the given predicate.
fn statement(
    file: &Path,
    bytes: &[u8],
    predicate_type: String,
    predicate: serde_json::Value,
) -> Statement {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Statement {
        type_: STATEMENT_V1.to_string(),
        subject: vec![Subject {
            name,
            digest: [(
                "sha256".to_string(),
                signet_model::encoding::encode_hex(signet_crypto::sha256(bytes)),
            )]
            .into_iter()
            .collect(),
        }],
        predicate_type,
        predicate: Some(predicate),
    }
}

pub fn attest_blob(args: AttestBlobArgs) -> ExitCode {
    let result = (|| {
        let bytes = read_file(&args.file, "file")?;
        let predicate_type = predicate_type_uri(&args.predicate_type)?;
        let predicate = signet_oci::attest::cosign_predicate(
            &args.predicate_type,
            &predicate_type,
            &read_file(&args.predicate, "predicate")?,
            &signet_oci::attest::timestamp_now(),
        )
        .map_err(|e| usage(format!("predicate {}: {e}", args.predicate.display())))?;
        let statement = statement(&args.file, &bytes, predicate_type, predicate);
        let json =
            serde_json::to_vec(&statement).map_err(|e| usage(format!("in-toto statement: {e}")))?;
        sign_and_write(
            &args.signer,
            &args.trust,
            Content::InToto(&json),
            &args.bundle,
        )
    })();
    finish("attest-blob", result)
}

/// Creates `path` for writing, refusing to overwrite; `private` files get
/// mode 0600 from the start.
fn create_new(path: &Path, private: bool) -> Result<std::fs::File, Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    options.open(path).map_err(|e| {
        let message = if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} already exists; not overwriting it", path.display())
        } else {
            format!("cannot create {}: {e}", path.display())
        };
        usage(message)
    })
}

/// `generate-key-pair --kms awskms://…/alias/NAME`: creates (or finds) the
/// KMS key and writes its public key to PREFIX.pub.
fn generate_kms_key(uri: &str, prefix: &str) -> Result<(), Failure> {
    let uri = match KeyRef::parse(uri)? {
        KeyRef::AwsKms(uri) => uri,
        _ => {
            return Err(usage(format!(
                "--kms {uri}: signet creates keys in AWS KMS only (awskms://…/alias/NAME)"
            )))
        }
    };
    if !uri.key_id.starts_with("alias/") {
        return Err(usage(
            "--kms: name the new key by an alias (awskms://[HOST:PORT]/alias/NAME); \
             AWS assigns key IDs",
        ));
    }
    let pub_path = PathBuf::from(format!("{prefix}.pub"));
    if pub_path.exists() {
        return Err(usage(format!(
            "{} already exists; not overwriting it",
            pub_path.display()
        )));
    }
    let client = AwsKmsClient::from_env(&uri)?;
    let signer = match client.get_public_key(&uri.key_id) {
        Ok(_) => {
            eprintln!("signet: {} exists already; using it", uri.key_id);
            AwsKmsSigner::with_client(client, &uri.key_id)?
        }
        Err(SignError::Http { status: 400, .. }) => {
            let id = client.create_key("ECC_NIST_P256", "signet signing key")?;
            client.create_alias(&uri.key_id, &id)?;
            eprintln!("signet: created AWS KMS key {id} as {}", uri.key_id);
            AwsKmsSigner::with_client(client, &id)?
        }
        Err(e) => return Err(e.into()),
    };
    create_new(&pub_path, false)?
        .write_all(signer.public_key().to_pem().as_bytes())
        .map_err(|e| Failure {
            code: EXIT_FAILED,
            message: format!("cannot write {}: {e}", pub_path.display()),
        })?;
    eprintln!("signet: public key written to {}", pub_path.display());
    Ok(())
}

pub fn generate_key_pair(args: GenerateKeyPairArgs) -> ExitCode {
    let result = (|| {
        if let Some(uri) = &args.kms {
            return generate_kms_key(uri, &args.output_key_prefix);
        }
        let key_path = PathBuf::from(format!("{}.key", args.output_key_prefix));
        let pub_path = PathBuf::from(format!("{}.pub", args.output_key_prefix));
        for path in [&key_path, &pub_path] {
            if path.exists() {
                return Err(usage(format!(
                    "{} already exists; not overwriting it",
                    path.display()
                )));
            }
        }
        let password = password(true)?;
        let pair = keys::generate_key_pair(password.as_bytes())?;
        let write = |path: &Path, text: &str, private: bool| {
            create_new(path, private)?
                .write_all(text.as_bytes())
                .map_err(|e| Failure {
                    code: EXIT_FAILED,
                    message: format!("cannot write {}: {e}", path.display()),
                })
        };
        write(&key_path, &pair.private_pem, true)?;
        write(&pub_path, &pair.public_pem, false)?;
        eprintln!(
            "signet: private key written to {}, public key to {}",
            key_path.display(),
            pub_path.display()
        );
        Ok(())
    })();
    finish("generate-key-pair", result)
}

/// `public-key`: the PEM public key of any signer `--key` can name.
pub fn public_key(args: PublicKeyArgs) -> ExitCode {
    let result = (|| {
        let pem_text = load_signer(&args.key)?.public_key().to_pem();
        match &args.outfile {
            Some(path) => {
                write_output(path, pem_text.as_bytes())?;
                eprintln!("signet: public key written to {}", path.display());
            }
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(pem_text.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(|e| Failure {
                        code: EXIT_FAILED,
                        message: format!("writing to standard output: {e}"),
                    })?;
            }
        }
        Ok(())
    })();
    finish("public-key", result)
}

pub fn sign_bundle(args: SignBundleArgs) -> ExitCode {
    let result = (|| {
        let bytes = read_file(&args.file, "file")?;
        let content = if args.in_toto {
            Content::InToto(&bytes)
        } else {
            Content::Blob(&bytes)
        };
        let signer = SignerArgs {
            identity_token: Some(args.identity_token.clone()),
            key: None,
            yes: true,
            sign_in: crate::sign_in::SignInArgs::never(),
        };
        sign_and_write(&signer, &args.trust, content, &args.bundle)
    })();
    finish("sign-bundle", result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicate_types() {
        assert_eq!(
            predicate_type_uri("slsaprovenance1").ok().as_deref(),
            Some("https://slsa.dev/provenance/v1")
        );
        assert_eq!(
            predicate_type_uri("https://example.com/p/v1")
                .ok()
                .as_deref(),
            Some("https://example.com/p/v1")
        );
        assert!(predicate_type_uri("nonsense").is_err());
    }

    #[test]
    fn statements_name_the_file_digest() {
        let s = statement(
            Path::new("/tmp/a.txt"),
            b"abc",
            "https://slsa.dev/provenance/v1".into(),
            serde_json::json!({}),
        );
        let json = serde_json::to_vec(&s).unwrap();
        let again = Statement::from_json(&json).unwrap();
        assert_eq!(again.subject[0].name, "a.txt");
        assert!(again.has_subject_digest(
            "sha256",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        ));
    }
}
