//! Merkle trees and signed checkpoints.
