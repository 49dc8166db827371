//! Interop with sigstore-python 4.x (a real, independent Sigstore client)
//! against the stack `signet up` runs: it signs and attests with our CA and
//! log through trust_config.json, and verifies offline; signet verifies its
//! bundles; it verifies signet's.
//!
//! The peer comes from SIGNET_PEER_SIGSTORE_PYTHON (scripts/test.sh
//! installs it and exports it). Without it the test fails, unless
//! SIGNET_SKIP_PEERS=1.

mod support {
    pub mod up;
}

use std::path::Path;

use support::up::*;

fn verify_with_python(
    sigstore: &Path,
    dir: &Path,
    up: &Up,
    bundle: &str,
    file: &str,
    identity: &str,
) -> std::process::Output {
    run(
        dir,
        sigstore,
        &[
            "--trust-config",
            path(&up.trust_config),
            "verify",
            "identity",
            "--offline",
            "--cert-identity",
            identity,
            "--cert-oidc-issuer",
            &up.oidc_url,
            "--bundle",
            bundle,
            file,
        ],
        &[],
    )
}

fn verify_with_signet(dir: &Path, up: &Up, bundle: &str, file: &str) -> std::process::Output {
    signet(
        dir,
        &[
            "verify-blob",
            file,
            "--bundle",
            bundle,
            "--trusted-root",
            path(&up.trusted_root),
            "--certificate-identity",
            EMAIL,
            "--certificate-oidc-issuer",
            &up.oidc_url,
        ],
    )
}

#[test]
fn sigstore_python_signs_and_verifies_against_the_stack() {
    let Some(sigstore) = sigstore_python() else {
        return;
    };
    let dir = workdir("interop-python");
    let up = Up::start(&dir.join("stack"));
    std::fs::write(dir.join("py.txt"), b"signed by sigstore-python\n").unwrap();
    std::fs::write(dir.join("signet.txt"), b"signed by signet\n").unwrap();
    std::fs::write(dir.join("other.txt"), b"never signed\n").unwrap();
    let token = up.token(EMAIL);
    let trust = path(&up.trust_config).to_string();

    // sigstore-python signs with our CA (Fulcio v2 CSR) and log (Rekor v1,
    // hashedrekord 0.0.1), then verifies its own bundle offline.
    ok(&run(
        &dir,
        &sigstore,
        &[
            "--trust-config",
            &trust,
            "sign",
            "--identity-token",
            &token,
            "--bundle",
            "py.json",
            "py.txt",
        ],
        &[],
    ));
    ok(&verify_with_python(
        &sigstore, &dir, &up, "py.json", "py.txt", EMAIL,
    ));
    // signet verifies sigstore-python's bundle, and rejects it for another
    // file or identity.
    ok(&verify_with_signet(&dir, &up, "py.json", "py.txt"));
    assert_eq!(
        verify_with_signet(&dir, &up, "py.json", "other.txt")
            .status
            .code(),
        Some(1)
    );

    // sigstore-python verifies signet's bundle, and rejects a wrong identity
    // and a wrong file.
    ok(&signet(
        &dir,
        &[
            "sign-blob",
            "signet.txt",
            "--bundle",
            "signet.json",
            "--identity-token",
            &token,
            "--trust-config",
            &trust,
        ],
    ));
    ok(&verify_with_python(
        &sigstore,
        &dir,
        &up,
        "signet.json",
        "signet.txt",
        EMAIL,
    ));
    fails(&verify_with_python(
        &sigstore,
        &dir,
        &up,
        "signet.json",
        "signet.txt",
        "mallory@example.com",
    ));
    fails(&verify_with_python(
        &sigstore,
        &dir,
        &up,
        "signet.json",
        "other.txt",
        EMAIL,
    ));

    // Attestations (DSSE, dsse 0.0.1 entries) both ways.
    std::fs::write(
        dir.join("provenance.json"),
        br#"{"buildDefinition":{"buildType":"https://example.com/build/v1","externalParameters":{}},
            "runDetails":{"builder":{"id":"https://example.com/builder"}}}"#,
    )
    .unwrap();
    ok(&run(
        &dir,
        &sigstore,
        &[
            "--trust-config",
            &trust,
            "attest",
            "--identity-token",
            &token,
            "--predicate-type",
            "https://slsa.dev/provenance/v1",
            "--predicate",
            "provenance.json",
            "--bundle",
            "py.att.json",
            "py.txt",
        ],
        &[],
    ));
    ok(&verify_with_signet(&dir, &up, "py.att.json", "py.txt"));
    fails(&verify_with_signet(&dir, &up, "py.att.json", "other.txt"));
    ok(&signet(
        &dir,
        &[
            "attest-blob",
            "signet.txt",
            "--predicate",
            "provenance.json",
            "--type",
            "slsaprovenance1",
            "--bundle",
            "signet.att.json",
            "--identity-token",
            &token,
            "--trust-config",
            &trust,
        ],
    ));
    ok(&verify_with_python(
        &sigstore,
        &dir,
        &up,
        "signet.att.json",
        "signet.txt",
        EMAIL,
    ));
    up.stop();
}
