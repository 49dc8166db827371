//! Ed25519ph (RFC 8032 §5.1, HashEdDSA with an empty context): Ed25519
//! over a SHA-512 digest, which is how Rekor reads an Ed25519 key in a
//! hashedrekord entry (a signature over a digest). aws-lc implements it,
//! aws-lc-rs does not expose it yet, so these are the only direct calls
//! into aws-lc-sys; both are the same library build.

use crate::CryptoError;

pub(crate) const PUBLIC_KEY_LEN: usize = 32;
const SIGNATURE_LEN: usize = 64;
const DIGEST_LEN: usize = 64;

/// Verifies an Ed25519ph signature by a raw 32-byte key over a SHA-512
/// digest.
pub(crate) fn verify(
    public_key: &[u8; PUBLIC_KEY_LEN],
    digest: &[u8],
    sig: &[u8],
) -> Result<(), CryptoError> {
    let digest: &[u8; DIGEST_LEN] =
        digest
            .try_into()
            .map_err(|_| CryptoError::BadDigestLength {
                alg: crate::HashAlgorithm::Sha512,
                got: digest.len(),
            })?;
    let sig: &[u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| CryptoError::BadSignature)?;
    // SAFETY: every pointer is to an array of exactly the length the C
    // function reads (64-byte digest, 64-byte signature, 32-byte key); the
    // context is empty (null, 0), which the function accepts.
    let ok = unsafe {
        aws_lc_sys::ED25519ph_verify_digest(
            digest.as_ptr(),
            sig.as_ptr(),
            public_key.as_ptr(),
            std::ptr::null(),
            0,
        )
    };
    if ok == 1 {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// Signs a SHA-512 digest with Ed25519ph under the key derived from a
/// 32-byte Ed25519 seed (the PKCS#8 private key). For signers and test
/// fixtures that must produce what Rekor accepts in a hashedrekord entry.
/// Returns the signature and the raw public key.
pub fn sign_ed25519ph(seed: &[u8; 32], digest: &[u8; DIGEST_LEN]) -> ([u8; 64], [u8; 32]) {
    let mut public_key = [0u8; PUBLIC_KEY_LEN];
    let mut private_key = [0u8; 64];
    let mut sig = [0u8; SIGNATURE_LEN];
    // SAFETY: output buffers are exactly the sizes aws-lc writes (32-byte
    // public key, 64-byte expanded private key, 64-byte signature); inputs
    // are fixed-size arrays of the lengths it reads; empty context.
    unsafe {
        aws_lc_sys::ED25519_keypair_from_seed(
            public_key.as_mut_ptr(),
            private_key.as_mut_ptr(),
            seed.as_ptr(),
        );
        aws_lc_sys::ED25519ph_sign_digest(
            sig.as_mut_ptr(),
            digest.as_ptr(),
            private_key.as_ptr(),
            std::ptr::null(),
            0,
        );
    }
    (sig, public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8032 §7.3, "TEST abc".
    const SEED: &str = "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42";
    const PUBLIC: &str = "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf";
    const SIGNATURE: &str = "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
                             31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406";

    #[test]
    fn rfc8032_vector_signs_and_verifies() {
        let seed: [u8; 32] = unhex(SEED).try_into().unwrap();
        let digest = crate::sha512(b"abc");
        let (sig, public_key) = sign_ed25519ph(&seed, &digest);
        assert_eq!(public_key.to_vec(), unhex(PUBLIC));
        assert_eq!(sig.to_vec(), unhex(SIGNATURE));
        verify(&public_key, &digest, &sig).unwrap();
    }

    #[test]
    fn wrong_digest_key_or_signature_fails() {
        let public_key: [u8; 32] = unhex(PUBLIC).try_into().unwrap();
        let sig = unhex(SIGNATURE);
        let digest = crate::sha512(b"abc");
        assert_eq!(
            verify(&public_key, &crate::sha512(b"abd"), &sig),
            Err(CryptoError::BadSignature)
        );
        let mut bad = sig.clone();
        bad[5] ^= 1;
        assert_eq!(
            verify(&public_key, &digest, &bad),
            Err(CryptoError::BadSignature)
        );
        let mut other_key = public_key;
        other_key[0] ^= 1;
        assert!(verify(&other_key, &digest, &sig).is_err());
        assert!(verify(&public_key, &digest[..32], &sig).is_err());
        assert!(verify(&public_key, &digest, &sig[..63]).is_err());
        // A pure Ed25519 signature of the same bytes is not an Ed25519ph one.
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
        let kp = Ed25519KeyPair::from_seed_unchecked(&unhex(SEED)).unwrap();
        assert_eq!(kp.public_key().as_ref(), &public_key[..]);
        let pure = kp.sign(&digest);
        assert_eq!(
            verify(&public_key, &digest, pure.as_ref()),
            Err(CryptoError::BadSignature)
        );
    }
}
