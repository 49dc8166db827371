//! Real cosign-generated key files (tests/data, see NOTICE) decrypt.

use signet_sign::{keys, SignError, Signer};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn sigstore_labelled_key_from_cosign() {
    let signer = keys::load_private_key(&data("sigstore.key"), b"hello").unwrap();
    let sig = signer.sign(b"payload").unwrap();
    signer.public_key().verify(b"payload", &sig).unwrap();
    assert!(matches!(
        keys::load_private_key(&data("sigstore.key"), b"hellO"),
        Err(SignError::WrongPassword)
    ));
}

#[test]
fn older_cosign_labelled_keys() {
    // PKCS#8 inside.
    let signer = keys::load_private_key(&data("cosign-rsa.key"), b"hello").unwrap();
    signer.sign(b"x").unwrap();
    // scrypt N=65536 and an RFC 5915 EC key inside (cosign itself refuses
    // to load this one after decrypting; signet accepts the EC key).
    let der = keys::decrypt_private_key(&data("cosign-ec.key"), b"hello").unwrap();
    assert_eq!(der[0], 0x30);
    assert!(keys::load_private_key(&data("cosign-ec.key"), b"hello").is_ok());
    assert!(matches!(
        keys::decrypt_private_key(&data("cosign-ec.key"), b""),
        Err(SignError::WrongPassword)
    ));
}
