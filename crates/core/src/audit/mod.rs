//! The tamper-evident audit chain.
//!
//! Every event is sealed with a SHA-256 hash over a versioned, length-prefixed
//! encoding of its contents and of the previous event's hash, so editing,
//! deleting, inserting or reordering stored rows breaks the chain at a position
//! the [`ChainVerifier`] names. Signed [`Checkpoint`]s kept outside the database
//! cover what the chain alone cannot: a cut-off tail or a fully re-sealed log.
//!
//! The byte formats are specified in `docs/audit-format.md` so that anyone can
//! write an independent verifier. They are versioned ([`ENCODING_VERSION`]) and
//! never change in place: payloads are stored and hashed as canonical JSON text,
//! so renaming a Rust field never changes a past hash.
//!
//! Boundary: pure functions and data; the caller supplies every timestamp and
//! the signing key, and stores the rows.

mod batch;
mod checkpoint;
mod encoding;
mod event;
mod hash;
mod merkle;
mod tamper;
mod verify;

pub use batch::EventBatch;
pub use checkpoint::{key_fingerprint, sign_checkpoint, Checkpoint};
pub use encoding::{canonical_json, checkpoint_message, event_hash, CHECKPOINT_DOMAIN, CHECKPOINT_MESSAGE_LEN, ENCODING_VERSION, EVENT_DOMAIN};
pub use event::{seal, seal_after, AuditEvent, EventRef, NewEvent, SYSTEM_ACTOR};
pub use hash::{decode_hex_array, EventHash, HexError};
pub use merkle::{inclusion_proof, merkle_leaf, merkle_node, merkle_root, verify_inclusion};
pub use tamper::Tamper;
pub use verify::{verify_chain, ChainVerifier, VerifyReport, REORDER_SEARCH_WINDOW};
