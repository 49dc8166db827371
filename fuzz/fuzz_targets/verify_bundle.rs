#![no_main]
//! The whole pipeline on arbitrary bundles: it may reject, never panic.
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_model::{Bundle, TrustedRoot};
use signet_verify::{
    Artifact, IdentityPolicy, Matcher, Options, SignerPolicy, TrustMaterial, Verifier,
};

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let raw = include_bytes!("../../testdata/trust/public-good/trusted_root.json");
        let root = TrustedRoot::from_json(raw).expect("embedded root");
        let trust = TrustMaterial::from_trusted_root(&root).expect("trust material");
        Verifier::new(
            trust,
            Options {
                now: Some(1_767_225_600),
                ..Options::default()
            },
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = Bundle::from_json(data) else {
        return;
    };
    let policy = SignerPolicy::Identity(IdentityPolicy::new(
        Matcher::exact("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"),
        Matcher::exact("https://token.actions.githubusercontent.com"),
    ));
    let _ = verifier().verify(&bundle, &Artifact::Bytes(b"DO NOT MODIFY ME!\n"), &policy);
});
