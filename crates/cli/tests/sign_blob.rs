//! `signet generate-key-pair`, `sign-blob --key`, `attest-blob --key` and
//! `verify-blob --key`, end to end through the binary, against the real
//! transparency log (`signet-log`, started in-process:
//! crates/sign/tests/support/real_log.rs).

#[path = "../../sign/tests/support/real_log.rs"]
mod real_log;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use real_log::TestLog;

fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sign-blob-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn signet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signet"))
        .current_dir(dir)
        .args(args)
        .env("COSIGN_PASSWORD", "test password")
        .env("SIGNET_OFFLINE", "1")
        .env_remove("SIGSTORE_ID_TOKEN")
        .output()
        .unwrap()
}

fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "status {:?}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn key_pair_sign_attest_verify() {
    let log = TestLog::start();
    let dir = workdir("key");
    std::fs::write(dir.join("root.json"), &log.trusted_root).unwrap();
    std::fs::write(dir.join("signing.json"), &log.signing_config).unwrap();
    std::fs::write(dir.join("a.txt"), b"artifact\n").unwrap();

    ok(&signet(
        &dir,
        &["generate-key-pair", "--output-key-prefix", "k"],
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("k.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwritten.
    assert_eq!(
        signet(&dir, &["generate-key-pair", "--output-key-prefix", "k"])
            .status
            .code(),
        Some(2)
    );

    let trust = [
        "--trusted-root",
        "root.json",
        "--signing-config",
        "signing.json",
    ];
    let mut sign = vec![
        "sign-blob",
        "a.txt",
        "--key",
        "k.key",
        "--bundle",
        "a.sigstore.json",
    ];
    sign.extend(trust);
    ok(&signet(&dir, &sign));
    let verify = [
        "verify-blob",
        "a.txt",
        "--bundle",
        "a.sigstore.json",
        "--key",
        "k.pub",
        "--trusted-root",
        "root.json",
    ];
    ok(&signet(&dir, &verify));

    std::fs::write(
        dir.join("predicate.json"),
        br#"{"buildDefinition":{"buildType":"x"}}"#,
    )
    .unwrap();
    let mut attest = vec![
        "attest-blob",
        "a.txt",
        "--predicate",
        "predicate.json",
        "--type",
        "slsaprovenance1",
        "--key",
        "k.key",
        "--bundle",
        "a.att.json",
    ];
    attest.extend(trust);
    ok(&signet(&dir, &attest));
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("a.att.json")).unwrap()).unwrap();
    assert_eq!(
        bundle["dsseEnvelope"]["payloadType"],
        "application/vnd.in-toto+json"
    );
    ok(&signet(
        &dir,
        &[
            "verify-blob",
            "a.txt",
            "--bundle",
            "a.att.json",
            "--key",
            "k.pub",
            "--trusted-root",
            "root.json",
        ],
    ));

    // A wrong password is a clear usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_signet"))
        .current_dir(&dir)
        .args(&sign)
        .env("COSIGN_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong password"));
}

#[test]
fn sign_bundle_rejects_a_malformed_token_without_network() {
    let dir = workdir("token");
    std::fs::write(dir.join("a.txt"), b"x").unwrap();
    let out = signet(
        &dir,
        &[
            "sign-bundle",
            "--identity-token",
            "not-a-jwt",
            "--bundle",
            "b.json",
            "a.txt",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("identity token"), "{stderr}");
    assert!(
        !stderr.contains("not-a-jwt"),
        "the token must not be echoed: {stderr}"
    );
    assert!(!dir.join("b.json").exists());
}
