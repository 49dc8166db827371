//! Cross-check against an independent implementation: the `ct-merkle`
//! crate (RFC 6962 Merkle trees, by another author). For every tree size up
//! to MAX_SIZE, signet's root, inclusion proofs and consistency proofs must
//! be byte-identical to ct-merkle's, and each side's proofs must verify
//! with the other side's verifier; a corrupted proof must fail both.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use sha2::Sha256;
use signet_tlog::{
    consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion, Hash,
};

const MAX_SIZE: usize = 130;

fn data(i: usize) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

fn flatten(proof: &[Hash]) -> Vec<u8> {
    proof.iter().flat_map(|h| h.iter().copied()).collect()
}

fn hashes(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks(32)
        .map(|c| <[u8; 32]>::try_from(c).expect("ct-merkle proofs are 32-byte hashes"))
        .collect()
}

fn ct_root(tree: &MemoryBackedTree<Sha256, Vec<u8>>) -> (Hash, RootHash<Sha256>) {
    let r = tree.root();
    let bytes: Hash = r.as_bytes().as_slice().try_into().expect("SHA-256 root");
    (bytes, r)
}

#[test]
fn roots_and_inclusion_proofs_match_ct_merkle() {
    let mut tree = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    let mut leaves: Vec<Hash> = Vec::new();
    for n in 1..=MAX_SIZE {
        tree.push(data(n - 1));
        leaves.push(leaf_hash(&data(n - 1)));
        let (ct_root_bytes, ct_root) = ct_root(&tree);
        let ours = root(&leaves);
        assert_eq!(ours, ct_root_bytes, "root of size {n}");
        for i in 0..n {
            let theirs = tree.prove_inclusion(i);
            let mine = inclusion_proof(&leaves, i as u64).unwrap();
            assert_eq!(flatten(&mine), theirs.as_bytes(), "inclusion {i} of {n}");
            // Each verifies the other's proof.
            verify_inclusion(
                i as u64,
                n as u64,
                &leaves[i],
                &hashes(theirs.as_bytes()),
                &ours,
            )
            .unwrap();
            let mine_for_ct = InclusionProof::<Sha256>::try_from_bytes(flatten(&mine)).unwrap();
            ct_root
                .verify_inclusion(&data(i), i as u64, &mine_for_ct)
                .unwrap();
            // A corrupted proof fails on both sides.
            if !mine.is_empty() {
                let mut bad = mine.clone();
                bad[0][7] ^= 1;
                assert!(verify_inclusion(i as u64, n as u64, &leaves[i], &bad, &ours).is_err());
                let bad_ct = InclusionProof::<Sha256>::try_from_bytes(flatten(&bad)).unwrap();
                assert!(ct_root
                    .verify_inclusion(&data(i), i as u64, &bad_ct)
                    .is_err());
            }
        }
    }
}

#[test]
fn consistency_proofs_match_ct_merkle() {
    let all: Vec<Hash> = (0..MAX_SIZE).map(|i| leaf_hash(&data(i))).collect();
    let mut tree = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    let mut old_roots: Vec<RootHash<Sha256>> = Vec::new();
    for n in 1..=MAX_SIZE {
        tree.push(data(n - 1));
        let (_, new_root) = ct_root(&tree);
        old_roots.push(new_root.clone());
        let new_root_bytes = root(&all[..n]);
        for m in 1..n {
            let theirs = tree.prove_consistency(n - m);
            let mine = consistency_proof(&all, m as u64, n as u64).unwrap();
            assert_eq!(flatten(&mine), theirs.as_bytes(), "consistency {m} -> {n}");
            let old_root_bytes = root(&all[..m]);
            verify_consistency(
                m as u64,
                n as u64,
                &old_root_bytes,
                &new_root_bytes,
                &hashes(theirs.as_bytes()),
            )
            .unwrap();
            let mine_for_ct = ConsistencyProof::<Sha256>::try_from_bytes(flatten(&mine)).unwrap();
            new_root
                .verify_consistency(&old_roots[m - 1], &mine_for_ct)
                .unwrap();
            if !mine.is_empty() {
                let mut bad = mine.clone();
                let last = bad.len() - 1;
                bad[last][0] ^= 0x80;
                assert!(verify_consistency(
                    m as u64,
                    n as u64,
                    &old_root_bytes,
                    &new_root_bytes,
                    &bad
                )
                .is_err());
                let bad_ct = ConsistencyProof::<Sha256>::try_from_bytes(flatten(&bad)).unwrap();
                assert!(new_root
                    .verify_consistency(&old_roots[m - 1], &bad_ct)
                    .is_err());
            }
        }
    }
}
