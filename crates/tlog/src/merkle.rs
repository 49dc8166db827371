//! RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs.
//!
//! Hashes are SHA-256 with the RFC 6962 domain separation: a leaf hash is
//! `SHA-256(0x00 || leaf)`, an interior node is `SHA-256(0x01 || left || right)`
//! and the root of the empty tree is `SHA-256("")`.
//!
//! The verifiers follow RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
//! (consistency), written in the "decomposed" form used by
//! transparency-dev/merkle: the expected proof length is derived from the
//! index and sizes first, so a proof of the wrong length is rejected before
//! any hashing, and every loop runs at most 128 times (two per bit of a `u64`).
//!
//! The generators ([`root`], [`inclusion_proof`], [`consistency_proof`]) are
//! the RFC's recursive definitions (`MTH`, `PATH`, `PROOF`) over a slice of
//! leaf hashes; they cost O(n) hashes per call and are meant for tests and for
//! a first log server, not for large trees.

/// A SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// Why a Merkle proof was rejected or could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// An inclusion proof was asked for a leaf outside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// The proof does not have the number of hashes its index and sizes imply.
    #[error("proof has {got} hashes, {expected} expected")]
    WrongProofLength { expected: usize, got: usize },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizeDecreased { old_size: u64, new_size: u64 },
    /// A consistency proof from the empty tree proves nothing; callers with no
    /// earlier tree head should skip the consistency check instead.
    #[error("a consistency proof from the empty tree is meaningless")]
    EmptyOldTree,
    /// The old root recomputed from a consistency proof differs from the one given.
    #[error("consistency proof does not reproduce the old root")]
    OldRootMismatch,
    /// The root recomputed from the proof differs from the expected root.
    #[error("computed root does not match the expected root")]
    RootMismatch,
    /// A generator was asked about a tree larger than the leaves it was given.
    #[error("tree size {size} exceeds the {available} leaves available")]
    SizeBeyondLeaves { size: u64, available: u64 },
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    signet_crypto::sha256(&[])
}

/// RFC 6962 leaf hash: `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut buf = Vec::with_capacity(leaf.len() + 1);
    buf.push(0x00);
    buf.extend_from_slice(leaf);
    signet_crypto::sha256(&buf)
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    signet_crypto::sha256(&buf)
}

/// Number of bits needed to write `x` (0 for 0); at most 64.
fn bit_len(x: u64) -> usize {
    (u64::BITS - x.leading_zeros()) as usize
}

/// Splits the audit path of leaf `index` in a tree of `size` leaves into its
/// "inner" part (levels below the point where the paths to `index` and to
/// `size - 1` diverge) and its "border" part (left siblings on the right
/// border above that point). Requires `index < size`. Both parts are ≤ 64.
fn decompose(index: u64, size: u64) -> (usize, usize) {
    let inner = bit_len(index ^ (size - 1));
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

/// Hashes `seed` up through `proof`, placing it left or right by the bits of
/// `index` (bit i gives the side at level i).
fn chain_inner(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        if (index >> i) & 1 == 0 {
            seed = node_hash(&seed, h);
        } else {
            seed = node_hash(h, &seed);
        }
    }
    seed
}

/// Like [`chain_inner`], but only folds in left siblings: the result is the
/// hash of the same subtree as it was before the right siblings existed.
fn chain_inner_right(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        if (index >> i) & 1 == 1 {
            seed = node_hash(h, &seed);
        }
    }
    seed
}

/// Folds in left siblings along the right border of the tree.
fn chain_border_right(mut seed: Hash, proof: &[Hash]) -> Hash {
    for h in proof {
        seed = node_hash(h, &seed);
    }
    seed
}

/// Recomputes the tree root from an inclusion proof (RFC 9162 §2.1.3.2).
///
/// Fails if `index >= tree_size` or the proof length differs from the one
/// implied by `index` and `tree_size`. The returned root still has to be
/// compared with a trusted one; [`verify_inclusion`] does both.
///
/// Note (inherent to RFC 9162): the computation depends on `tree_size` only
/// through the proof's shape, so the same proof and root can also "verify"
/// for some other sizes. The root must therefore come from a signed
/// checkpoint for exactly this `tree_size`.
pub fn root_from_inclusion_proof(
    index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
) -> Result<Hash, MerkleError> {
    if index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index,
            size: tree_size,
        });
    }
    let (inner, border) = decompose(index, tree_size);
    let expected = inner + border;
    if proof.len() != expected {
        return Err(MerkleError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (inner_part, border_part) = proof.split_at(inner);
    let r = chain_inner(*leaf_hash, inner_part, index);
    Ok(chain_border_right(r, border_part))
}

/// Verifies that `leaf_hash` is the leaf at `index` of the tree of
/// `tree_size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    let computed = root_from_inclusion_proof(index, tree_size, leaf_hash, proof)?;
    if &computed == root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// Verifies that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root`
/// (RFC 9162 §2.1.4.2).
///
/// Edge cases, as in transparency-dev/merkle:
/// * `old_size > new_size` → [`MerkleError::SizeDecreased`];
/// * `old_size == 0` → [`MerkleError::EmptyOldTree`] (even when `new_size` is
///   0): nothing is proven, and a client without an earlier tree head should
///   not call this;
/// * `old_size == new_size` → the proof must be empty and the roots equal.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizeDecreased { old_size, new_size });
    }
    if old_size == 0 {
        return Err(MerkleError::EmptyOldTree);
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(MerkleError::WrongProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    // Now 0 < old_size < new_size. The proof is, in effect, the suffix of the
    // inclusion proof of leaf old_size-1 in the new tree that starts at the
    // level of the largest perfect subtree ending at old_size, preceded by
    // that subtree's root unless it is the whole old tree.
    let (inner, border) = decompose(old_size - 1, new_size);
    let shift = old_size.trailing_zeros() as usize;
    // shift < inner because old_size < new_size.
    let inner = inner.saturating_sub(shift);
    let old_is_perfect = old_size.is_power_of_two();
    let start = usize::from(!old_is_perfect);
    let expected = start + inner + border;
    if proof.len() != expected {
        return Err(MerkleError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (seed, rest) = if old_is_perfect {
        (*old_root, proof)
    } else {
        // expected >= 1 here, so the proof is non-empty.
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => {
                return Err(MerkleError::WrongProofLength { expected, got: 0 });
            }
        }
    };
    let (inner_part, border_part) = rest.split_at(inner);
    let mask = (old_size - 1) >> shift;

    let old_computed = chain_border_right(chain_inner_right(seed, inner_part, mask), border_part);
    if &old_computed != old_root {
        return Err(MerkleError::OldRootMismatch);
    }
    let new_computed = chain_border_right(chain_inner(seed, inner_part, mask), border_part);
    if &new_computed != new_root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The largest power of two strictly below `n`; requires `n >= 2`.
fn split_point(n: usize) -> usize {
    let p = n.next_power_of_two();
    if p == n {
        n / 2
    } else {
        p / 2
    }
}

/// `MTH(D[n])` of RFC 9162 §2.1.1: the root of the tree over `leaf_hashes`.
/// Recursion depth is at most 64.
pub fn root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let (left, right) = leaf_hashes.split_at(split_point(leaf_hashes.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

fn to_usize(size: u64, available: usize) -> Result<usize, MerkleError> {
    match usize::try_from(size) {
        Ok(s) if s <= available => Ok(s),
        _ => Err(MerkleError::SizeBeyondLeaves {
            size,
            available: available as u64,
        }),
    }
}

/// `PATH(m, D[n])` of RFC 9162 §2.1.3.1 for the tree over all of
/// `leaf_hashes`: the audit path of leaf `index`, lowest level first.
pub fn inclusion_proof(leaf_hashes: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaf_hashes.len();
    let m = match usize::try_from(index) {
        Ok(m) if m < size => m,
        _ => {
            return Err(MerkleError::IndexOutOfRange {
                index,
                size: size as u64,
            })
        }
    };
    let mut proof = Vec::new();
    path(m, leaf_hashes, &mut proof);
    Ok(proof)
}

/// Appends `PATH(m, leaves)` to `out`; requires `m < leaves.len()`.
fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    let (left, right) = leaves.split_at(k);
    if m < k {
        path(m, left, out);
        out.push(root(right));
    } else {
        path(m - k, right, out);
        out.push(root(left));
    }
}

/// `PROOF(m, D[n])` of RFC 9162 §2.1.4.1: the consistency proof from the
/// tree of the first `old_size` leaves to the tree of the first `new_size`.
///
/// Follows the same edge-case rules as [`verify_consistency`]: `old_size`
/// must be in `1..=new_size`, and equal sizes give the empty proof.
pub fn consistency_proof(
    leaf_hashes: &[Hash],
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, MerkleError> {
    let n = to_usize(new_size, leaf_hashes.len())?;
    if old_size > new_size {
        return Err(MerkleError::SizeDecreased { old_size, new_size });
    }
    if old_size == 0 {
        return Err(MerkleError::EmptyOldTree);
    }
    let m = to_usize(old_size, n)?;
    let mut proof = Vec::new();
    if m < n {
        subproof(m, &leaf_hashes[..n], true, &mut proof);
    }
    Ok(proof)
}

/// Appends `SUBPROOF(m, leaves, b)` to `out`; requires `1 <= m <= leaves.len()`.
fn subproof(m: usize, leaves: &[Hash], b: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !b {
            out.push(root(leaves));
        }
        return;
    }
    let k = split_point(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        subproof(m, left, b, out);
        out.push(root(right));
    } else {
        subproof(m - k, right, false, out);
        out.push(root(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[i as u8])).collect()
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 6962 test vector: the leaf hash of the empty string.
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let l = leaves(1);
        assert_eq!(root(&l), l[0]);
        assert_eq!(inclusion_proof(&l, 0).unwrap(), Vec::<Hash>::new());
        verify_inclusion(0, 1, &l[0], &[], &l[0]).unwrap();
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn split_point_is_largest_power_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
    }

    #[test]
    fn rejects_bad_sizes() {
        let l = leaves(4);
        let r = root(&l);
        assert_eq!(
            verify_inclusion(4, 4, &l[0], &[], &r),
            Err(MerkleError::IndexOutOfRange { index: 4, size: 4 })
        );
        assert_eq!(
            verify_inclusion(0, 0, &l[0], &[], &r),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            verify_inclusion(u64::MAX, u64::MAX, &l[0], &[], &r),
            Err(MerkleError::IndexOutOfRange {
                index: u64::MAX,
                size: u64::MAX
            })
        );
        // Large but valid parameters only cost a length check.
        assert!(matches!(
            verify_inclusion(u64::MAX - 1, u64::MAX, &l[0], &[], &r),
            Err(MerkleError::WrongProofLength { .. })
        ));
        assert_eq!(
            verify_consistency(3, 2, &r, &r, &[]),
            Err(MerkleError::SizeDecreased {
                old_size: 3,
                new_size: 2
            })
        );
        assert_eq!(
            verify_consistency(0, 0, &r, &r, &[]),
            Err(MerkleError::EmptyOldTree)
        );
        verify_consistency(4, 4, &r, &r, &[]).unwrap();
        assert_eq!(
            verify_consistency(4, 4, &r, &r, &[r]),
            Err(MerkleError::WrongProofLength {
                expected: 0,
                got: 1
            })
        );
        assert_eq!(
            inclusion_proof(&l, 4),
            Err(MerkleError::IndexOutOfRange { index: 4, size: 4 })
        );
        assert_eq!(
            consistency_proof(&l, 1, 5),
            Err(MerkleError::SizeBeyondLeaves {
                size: 5,
                available: 4
            })
        );
        assert_eq!(consistency_proof(&l, 0, 3), Err(MerkleError::EmptyOldTree));
        assert_eq!(consistency_proof(&l, 2, 2), Ok(vec![]));
    }
}
