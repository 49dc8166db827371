//! Transparency-log primitives for signet.
//!
//! * [`merkle`]: RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and
//!   consistency proof verification, and (slice-based) proof generation.
//! * [`note`]: C2SP signed notes, parsed strictly and re-serialized
//!   byte for byte.
//! * [`checkpoint`]: C2SP tlog checkpoints, the text of a log's signed note.
//! * [`signer`]: signing notes with a log key (Ed25519 or ECDSA P-256).
//! * [`verifier`]: signature verification of notes with a log's key
//!   (Rekor v1 ECDSA and C2SP Ed25519 key hints) and of witness
//!   cosignatures.
//!
//! A typical check of a Rekor entry: parse the note, verify it with the
//! log's [`NoteVerifier`], parse its text as a [`Checkpoint`], then
//! [`verify_inclusion`] of the entry's leaf hash against the checkpoint's
//! size and root hash.

pub mod checkpoint;
pub mod merkle;
pub mod note;
pub mod signer;
pub mod verifier;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use merkle::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root,
    root_from_inclusion_proof, verify_consistency, verify_inclusion, Hash, MerkleError,
};
pub use note::{Note, NoteError, NoteSignature, MAX_NOTE_BYTES, MAX_SIGNATURES};
pub use signer::{generate_pkcs8, NoteSigner, SignerError, SignerKind};
pub use verifier::{CosignatureVerifier, NoteVerifier};
