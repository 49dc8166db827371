//! Exhaustive cross-check for small trees: generated proofs verify, agree
//! with a literal transcription of the RFC 9162 verification algorithms, and
//! every single-bit mutation of a proof hash fails.
//!
//! Mutating the index or a size is compared against the RFC algorithm:
//! changing the leaf index always fails, but a tree size can sometimes be
//! changed without effect, because the proof's computation depends on the
//! size only through its shape (e.g. leaf 0 of a 5-leaf tree and of a
//! 7-leaf tree hash the same way). That is inherent to RFC 9162; the root is
//! only meaningful together with the size it was signed for.

use signet_tlog::{
    consistency_proof, inclusion_proof, leaf_hash, node_hash, root, verify_consistency,
    verify_inclusion, Hash,
};

const MAX_SIZE: u64 = 70;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

/// Root by pairing level by level, carrying an odd last node up unchanged:
/// an independent formulation of RFC 9162 MTH.
fn level_root(leaves: &[Hash]) -> Hash {
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node_hash(l, r),
                [single] => *single,
                _ => unreachable!(),
            })
            .collect();
    }
    level[0]
}

/// RFC 9162 §2.1.3.2, transcribed literally.
fn rfc_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while !(f & 1 == 1 || f == 0) {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &r == root
}

/// RFC 9162 §2.1.4.2, transcribed literally, plus the edge cases the RFC
/// leaves to the caller (as transparency-dev/merkle resolves them).
fn rfc_consistency(first: u64, second: u64, h1: &Hash, h2: &Hash, proof: &[Hash]) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && h1 == h2;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *h1);
    }
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while !(f & 1 == 1 || f == 0) {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    &fr == h1 && &sr == h2 && s == 0
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut h = *h;
    h[bit / 8] ^= 1 << (bit % 8);
    h
}

#[test]
fn roots_match_independent_formulation() {
    let all = leaves(MAX_SIZE);
    for n in 1..=MAX_SIZE as usize {
        assert_eq!(root(&all[..n]), level_root(&all[..n]), "size {n}");
    }
}

#[test]
fn inclusion_proofs_exhaustive() {
    let all = leaves(MAX_SIZE);
    let mut size_aliases = 0usize;
    for size in 1..=MAX_SIZE {
        let tree = &all[..size as usize];
        let r = root(tree);
        for index in 0..size {
            let leaf = &tree[index as usize];
            let proof = inclusion_proof(tree, index).unwrap();
            verify_inclusion(index, size, leaf, &proof, &r).unwrap();
            assert!(rfc_inclusion(index, size, leaf, &proof, &r));

            for (pos, h) in proof.iter().enumerate() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[pos] = flip(h, bit);
                    assert!(verify_inclusion(index, size, leaf, &bad, &r).is_err());
                }
            }
            for bit in 0..256 {
                assert!(verify_inclusion(index, size, &flip(leaf, bit), &proof, &r).is_err());
                assert!(verify_inclusion(index, size, leaf, &proof, &flip(&r, bit)).is_err());
            }
            for bit in 0..64 {
                let i2 = index ^ (1 << bit);
                let ours = verify_inclusion(i2, size, leaf, &proof, &r).is_ok();
                assert!(!ours, "index {index}->{i2} size {size} accepted");
                assert!(!rfc_inclusion(i2, size, leaf, &proof, &r));

                let s2 = size ^ (1 << bit);
                let ours = verify_inclusion(index, s2, leaf, &proof, &r).is_ok();
                let rfc = rfc_inclusion(index, s2, leaf, &proof, &r);
                assert_eq!(ours, rfc, "index {index} size {size}->{s2}");
                size_aliases += usize::from(ours);
            }
            let mut longer = proof.clone();
            longer.push(r);
            assert!(verify_inclusion(index, size, leaf, &longer, &r).is_err());
            if let Some((_, shorter)) = proof.split_last() {
                assert!(verify_inclusion(index, size, leaf, shorter, &r).is_err());
            }
        }
    }
    // Sizes that share a proof shape with the true size exist (see module doc).
    assert!(size_aliases > 0);
}

#[test]
fn consistency_proofs_exhaustive() {
    let all = leaves(MAX_SIZE);
    let roots: Vec<Hash> = (0..=MAX_SIZE as usize).map(|n| root(&all[..n])).collect();
    let mut new_size_aliases = 0usize;
    for new in 1..=MAX_SIZE {
        let new_root = &roots[new as usize];
        for old in 1..=new {
            let old_root = &roots[old as usize];
            let proof = consistency_proof(&all, old, new).unwrap();
            verify_consistency(old, new, old_root, new_root, &proof).unwrap();
            assert!(rfc_consistency(old, new, old_root, new_root, &proof));

            for (pos, h) in proof.iter().enumerate() {
                for bit in 0..256 {
                    let mut bad = proof.clone();
                    bad[pos] = flip(h, bit);
                    assert!(verify_consistency(old, new, old_root, new_root, &bad).is_err());
                }
            }
            for bit in 0..256 {
                let (o, n) = (flip(old_root, bit), flip(new_root, bit));
                assert!(verify_consistency(old, new, &o, new_root, &proof).is_err());
                assert!(verify_consistency(old, new, old_root, &n, &proof).is_err());
            }
            for bit in 0..64 {
                let o2 = old ^ (1 << bit);
                let ours = verify_consistency(o2, new, old_root, new_root, &proof).is_ok();
                let rfc = rfc_consistency(o2, new, old_root, new_root, &proof);
                assert_eq!(ours, rfc, "old {old}->{o2} new {new}");

                let n2 = new ^ (1 << bit);
                let ours = verify_consistency(old, n2, old_root, new_root, &proof).is_ok();
                let rfc = rfc_consistency(old, n2, old_root, new_root, &proof);
                assert_eq!(ours, rfc, "old {old} new {new}->{n2}");
                new_size_aliases += usize::from(ours);
            }
            let mut longer = proof.clone();
            longer.push(*new_root);
            assert!(verify_consistency(old, new, old_root, new_root, &longer).is_err());
            if let Some((_, shorter)) = proof.split_last() {
                assert!(verify_consistency(old, new, old_root, new_root, shorter).is_err());
            }
        }
    }
    // As for inclusion proofs, some new sizes share the proof's shape.
    assert!(new_size_aliases > 0);
}

/// Unlike the new size, the old size is pinned down by the old root: no
/// single-bit change of it is ever accepted.
#[test]
fn old_size_mutations_are_rejected() {
    let all = leaves(MAX_SIZE);
    let mut accepted = Vec::new();
    for new in 2..=MAX_SIZE {
        let new_root = root(&all[..new as usize]);
        for old in 1..new {
            let old_root = root(&all[..old as usize]);
            let proof = consistency_proof(&all, old, new).unwrap();
            for bit in 0..64 {
                let o2 = old ^ (1 << bit);
                if verify_consistency(o2, new, &old_root, &new_root, &proof).is_ok() {
                    accepted.push((old, o2, new));
                }
            }
        }
    }
    assert_eq!(accepted, vec![], "old-size mutations accepted");
}
