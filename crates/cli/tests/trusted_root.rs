//! `signet trusted-root create` builds, from a deployment's URLs, keys and
//! chains, a trusted root that verifies what that deployment signs; bad
//! inputs are refused with exit 2 and nothing written.

mod support {
    pub mod up;
}

use base64::Engine;
use serde_json::Value;
use support::up::*;

const EMAIL: &str = "root-builder@example.com";

/// PEM of base64 DER (checked by decoding), 64 columns.
fn pem(tag: &str, b64: &str) -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {tag}-----\n{}\n-----END {tag}-----\n",
        lines.join("\n")
    )
}

#[test]
fn a_created_root_verifies_the_deployment_and_bad_input_is_refused() {
    let dir = workdir("trusted-root-create");
    let up = Up::start(&dir.join("stack"));
    let reference: Value =
        serde_json::from_slice(&std::fs::read(&up.trusted_root).unwrap()).unwrap();

    // The deployment's pieces, as an operator would have them: PEM files.
    let ca = &reference["certificateAuthorities"][0];
    let chain: String = ca["certChain"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| pem("CERTIFICATE", c["rawBytes"].as_str().unwrap()))
        .collect();
    std::fs::write(dir.join("ca-chain.pem"), &chain).unwrap();
    let tlog = &reference["tlogs"][0];
    let ctlog = &reference["ctlogs"][0];
    for (log, file) in [(tlog, "rekor.pub"), (ctlog, "ctfe.pub")] {
        let der = log["publicKey"]["rawBytes"].as_str().unwrap();
        std::fs::write(dir.join(file), pem("PUBLIC KEY", der)).unwrap();
    }
    let start = "2020-01-01T00:00:00Z";
    let fulcio = format!("url={},certificate-chain=ca-chain.pem", up.ca_url);
    let rekor = format!("url={},public-key=rekor.pub,start-time={start}", up.log_url);
    let ctfe = format!("url=https://ct.example.com,public-key=ctfe.pub,start-time={start}");
    ok(&signet(
        &dir,
        &[
            "trusted-root",
            "create",
            "--fulcio",
            &fulcio,
            "--rekor",
            &rekor,
            "--ctfe",
            &ctfe,
            "--out",
            "created.json",
        ],
    ));
    let created: Value =
        serde_json::from_slice(&std::fs::read(dir.join("created.json")).unwrap()).unwrap();
    // Same log and CT log IDs and the same chain as the stack's own root.
    assert_eq!(created["tlogs"][0]["logId"], tlog["logId"]);
    assert_eq!(created["ctlogs"][0]["logId"], ctlog["logId"]);
    assert_eq!(
        created["certificateAuthorities"][0]["certChain"],
        ca["certChain"]
    );
    assert_eq!(
        created["tlogs"][0]["publicKey"]["keyDetails"],
        tlog["publicKey"]["keyDetails"]
    );

    // What the deployment signs verifies under the created root.
    std::fs::write(dir.join("a.txt"), b"signed by the deployment\n").unwrap();
    let token = up.token(EMAIL);
    ok(&signet(
        &dir,
        &[
            "sign-blob",
            "a.txt",
            "--bundle",
            "a.json",
            "--identity-token",
            &token,
            "--trust-config",
            path(&up.trust_config),
        ],
    ));
    let verify = |root: &str| up.verify_blob_under(root, &dir, ("a.txt", "a.json"), EMAIL, &[]);
    ok(&verify("created.json"));

    // A root whose log key starts after the signature: the entry is no
    // longer trusted.
    let late = format!(
        "url={},public-key=rekor.pub,start-time=2999-01-01T00:00:00Z",
        up.log_url
    );
    ok(&signet(
        &dir,
        &[
            "trusted-root",
            "create",
            "--fulcio",
            &fulcio,
            "--rekor",
            &late,
            "--ctfe",
            &ctfe,
            "--out",
            "late.json",
        ],
    ));
    assert_eq!(verify("late.json").status.code(), Some(1));

    // Bad input: exit 2, nothing written.
    let reversed: String = {
        let mut certs: Vec<String> = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .map(str::to_string)
            .collect();
        certs.reverse();
        certs.concat()
    };
    std::fs::write(dir.join("reversed.pem"), reversed).unwrap();
    let no_start = format!("url={},public-key=rekor.pub", up.log_url);
    let backwards = format!(
        "url={},public-key=rekor.pub,start-time=2026-01-02T00:00:00Z,end-time=2026-01-01T00:00:00Z",
        up.log_url
    );
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--rekor".into(), no_start], "start-time"),
        (vec!["--rekor".into(), backwards], "end-time"),
        (
            vec![
                "--rekor".into(),
                rekor.clone(),
                "--fulcio".into(),
                format!("url={},certificate-chain=reversed.pem", up.ca_url),
            ],
            "not a chain",
        ),
        (
            vec!["--rekor".into(), format!("{rekor},colour=blue")],
            "unknown field",
        ),
        (
            vec![
                "--rekor".into(),
                format!("url=ftp://x,public-key=rekor.pub,start-time={start}"),
            ],
            "http",
        ),
        (
            vec![
                "--rekor".into(),
                format!("url=https://x,public-key=ca-chain.pem,start-time={start}"),
            ],
            "public key",
        ),
        (vec!["--fulcio".into(), fulcio.clone()], "--rekor or --tsa"),
    ];
    for (flags, why) in cases {
        let _ = std::fs::remove_file(dir.join("bad.json"));
        let mut args: Vec<&str> = vec!["trusted-root", "create"];
        args.extend(flags.iter().map(String::as_str));
        args.extend(["--out", "bad.json"]);
        let out = signet(&dir, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(why), "{flags:?}: expected {why:?} in {err}");
        assert!(!dir.join("bad.json").exists(), "{flags:?} wrote a file");
    }
    up.stop();
}
