//! Note signature verification: published vectors from other implementations,
//! and round trips with freshly generated keys.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use signet_crypto::PublicKey;
use signet_tlog::{Checkpoint, CosignatureVerifier, Note, NoteError, NoteSignature, NoteVerifier};

/// Splits a C2SP verifier key `name+hexhint+base64(type || key)` into its
/// name, hint, type byte, and an Ed25519 SPKI public key.
fn vkey(s: &str) -> (String, [u8; 4], u8, PublicKey) {
    let mut parts = s.splitn(3, '+');
    let name = parts.next().unwrap().to_owned();
    let hint_hex = parts.next().unwrap();
    let hint: [u8; 4] = hex::decode(hint_hex).unwrap().try_into().unwrap();
    let raw = STANDARD.decode(parts.next().unwrap()).unwrap();
    let (ty, key) = raw.split_first().unwrap();
    (name, hint, *ty, PublicKey::from_raw_ed25519(key).unwrap())
}

/// The example of golang.org/x/mod/sumdb/note (note.go package doc and
/// note_test.go).
#[test]
fn go_sumdb_note_vector() {
    let (name, hint, ty, key) =
        vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    assert_eq!(ty, 0x01);
    let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    let signed = format!("{text}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n");
    let v = NoteVerifier::ed25519_c2sp(name, key).unwrap();
    assert_eq!(v.key_hint(), hint, "C2SP key ID derivation");
    let note = Note::parse(&signed).unwrap();
    assert_eq!(note.text(), text);
    assert_eq!(note.serialize(), signed);
    v.verify(&note).unwrap();

    let tampered = Note::parse(&signed.replace("cryptography", "cryptographY")).unwrap();
    assert_eq!(
        v.verify(&tampered),
        Err(NoteError::BadSignature {
            name: "PeterNeumann".into()
        })
    );
}

/// A checkpoint of the arche2025h1.staging.ct.transparency.dev log with its
/// Ed25519 note signature, an RFC 6962 tree-head signature (type 0x05, not
/// supported here and ignored), and four tlog-cosignature/v1 witness
/// cosignatures; the verifier keys are the log's and the remora.n621.de
/// witness's published keys.
const ARCHE_CHECKPOINT: &str = "arche2025h1.staging.ct.transparency.dev
1432088532
U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=

— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==
";

#[test]
fn real_checkpoint_with_witness_cosignature() {
    let note = Note::parse(ARCHE_CHECKPOINT).unwrap();
    assert_eq!(note.serialize(), ARCHE_CHECKPOINT);
    assert_eq!(note.signatures().len(), 6);
    let cp = Checkpoint::from_note(&note).unwrap();
    assert_eq!(cp.origin(), "arche2025h1.staging.ct.transparency.dev");
    assert_eq!(cp.size(), 1432088532);

    let (name, hint, ty, key) = vkey(
        "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f",
    );
    assert_eq!(ty, 0x01);
    let log = NoteVerifier::ed25519_c2sp(name, key).unwrap();
    assert_eq!(log.key_hint(), hint);
    log.verify(&note).unwrap();

    let (name, hint, ty, key) =
        vkey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2");
    assert_eq!(ty, 0x04);
    let witness = CosignatureVerifier::new(name.clone(), key.clone()).unwrap();
    assert_eq!(witness.key_hint(), hint, "cosignature key ID derivation");
    assert_eq!(witness.verify(&note), Ok(1_779_573_024));
    // The same key as a plain Ed25519 note key has another key ID, so the
    // cosignature line is not taken for a note signature.
    let as_note_key = NoteVerifier::ed25519_c2sp(name, key).unwrap();
    assert!(matches!(
        as_note_key.verify(&note),
        Err(NoteError::NoMatchingSignature { .. })
    ));

    // Changing the size invalidates both.
    let clobbered = Note::parse(&ARCHE_CHECKPOINT.replace("1432088532", "42")).unwrap();
    assert!(matches!(
        log.verify(&clobbered),
        Err(NoteError::BadSignature { .. })
    ));
    assert!(matches!(
        witness.verify(&clobbered),
        Err(NoteError::BadSignature { .. })
    ));
}

fn ed25519() -> (Ed25519KeyPair, PublicKey) {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let pk = PublicKey::from_spki_der(kp.public_key().as_der().unwrap().as_ref()).unwrap();
    (kp, pk)
}

fn p256() -> (EcdsaKeyPair, PublicKey) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let pk = PublicKey::from_spki_der(kp.public_key().as_der().unwrap().as_ref()).unwrap();
    (kp, pk)
}

const TEXT: &str = "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

#[test]
fn ed25519_sign_and_verify() {
    let (kp, pk) = ed25519();
    let v = NoteVerifier::ed25519_c2sp("example.com/log", pk).unwrap();
    let sig = kp.sign(TEXT.as_bytes()).as_ref().to_vec();
    let line = NoteSignature::new("example.com/log", v.key_hint(), sig.clone()).unwrap();
    let note = Note::new(TEXT, vec![line.clone()]).unwrap();
    let wire = note.serialize();
    let parsed = Note::parse(&wire).unwrap();
    assert_eq!(parsed, note);
    v.verify(&parsed).unwrap();

    // Same key, other name: ignored, so nothing matches.
    let other_name = NoteVerifier::new("example.com/other", v.key_hint(), v.key().clone()).unwrap();
    assert!(matches!(
        other_name.verify(&parsed),
        Err(NoteError::NoMatchingSignature { .. })
    ));
    // A second matching line that does not verify spoils the note, even
    // though another matching line verifies.
    let mut bad = sig;
    bad[0] ^= 1;
    let bad_line = NoteSignature::new("example.com/log", v.key_hint(), bad).unwrap();
    let note = Note::new(TEXT, vec![line, bad_line]).unwrap();
    assert!(matches!(
        v.verify(&note),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn ecdsa_sign_and_verify() {
    let (kp, pk) = p256();
    let v = NoteVerifier::rekor_ecdsa("rekor.example.dev", pk.clone()).unwrap();
    assert_eq!(v.key_hint()[..], pk.sha256_id()[..4]);
    let sig = kp.sign(&SystemRandom::new(), TEXT.as_bytes()).unwrap();
    let line =
        NoteSignature::new("rekor.example.dev", v.key_hint(), sig.as_ref().to_vec()).unwrap();
    let unrelated = NoteSignature::new("rekor.example.dev", [0; 4], vec![1, 2, 3]).unwrap();
    let note = Note::new(TEXT, vec![unrelated, line]).unwrap();
    v.verify(&Note::parse(&note.serialize()).unwrap()).unwrap();

    let other_text = Note::new(TEXT.replace('5', "6"), note.signatures().to_vec()).unwrap();
    assert!(matches!(
        v.verify(&other_text),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn constructors_reject_wrong_keys_and_names() {
    let (_, ed) = ed25519();
    let (_, ec) = p256();
    assert!(matches!(
        NoteVerifier::ed25519_c2sp("log", ec.clone()),
        Err(NoteError::UnsupportedKey(_))
    ));
    assert!(matches!(
        NoteVerifier::rekor_ecdsa("log", ed.clone()),
        Err(NoteError::UnsupportedKey(_))
    ));
    assert!(matches!(
        CosignatureVerifier::new("w", ec.clone()),
        Err(NoteError::UnsupportedKey(_))
    ));
    for bad in ["", "a b", "a+b", "a\nb"] {
        assert_eq!(
            NoteVerifier::new(bad, [0; 4], ed.clone()).unwrap_err(),
            NoteError::InvalidKeyName(bad.into())
        );
    }
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rsa = PublicKey::from_spki_der(rsa.public_key().as_der().unwrap().as_ref()).unwrap();
    assert!(matches!(
        NoteVerifier::new("log", [0; 4], rsa),
        Err(NoteError::UnsupportedKey(_))
    ));
}

#[test]
fn cosignature_sign_and_verify() {
    let (kp, pk) = ed25519();
    let w = CosignatureVerifier::new("witness.example/w1", pk).unwrap();
    let ts: u64 = 1_700_000_000;
    let msg = format!("cosignature/v1\ntime {ts}\n{TEXT}");
    let mut sig = ts.to_be_bytes().to_vec();
    sig.extend_from_slice(kp.sign(msg.as_bytes()).as_ref());
    let line = NoteSignature::new("witness.example/w1", w.key_hint(), sig.clone()).unwrap();
    let note = Note::new(TEXT, vec![line]).unwrap();
    assert_eq!(w.verify(&note), Ok(ts));

    // Timestamp not matching the signed one.
    let mut wrong_ts = sig.clone();
    wrong_ts[7] ^= 1;
    let note = Note::new(
        TEXT,
        vec![NoteSignature::new("witness.example/w1", w.key_hint(), wrong_ts).unwrap()],
    )
    .unwrap();
    assert!(matches!(
        w.verify(&note),
        Err(NoteError::BadSignature { .. })
    ));

    // Wrong length and out-of-range timestamp.
    let short = NoteSignature::new("witness.example/w1", w.key_hint(), sig[..71].to_vec()).unwrap();
    assert!(matches!(
        w.verify(&Note::new(TEXT, vec![short]).unwrap()),
        Err(NoteError::MalformedCosignature(_))
    ));
    let mut huge = sig;
    huge[0] = 0x80;
    let huge = NoteSignature::new("witness.example/w1", w.key_hint(), huge).unwrap();
    assert!(matches!(
        w.verify(&Note::new(TEXT, vec![huge]).unwrap()),
        Err(NoteError::MalformedCosignature(_))
    ));
}
