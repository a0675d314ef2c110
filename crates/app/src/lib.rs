//! Use-cases of Writ and the ports they need.
//!
//! Boundary: this crate decides *what* happens (submit, review, fulfil, cancel,
//! lapse, checkpoint) by calling `writ-core` transitions and `writ-policy`
//! decisions; it reaches the outside world only through the traits in [`ports`].
//! Every use-case writes its state change and audit events in one [`ports::Change`],
//! which the store commits in one transaction with a version check.

pub mod authz;
pub mod break_glass;
pub mod desk;
pub mod error;
pub mod events;
pub mod expiry;
pub mod facts;
pub mod front_door;
pub mod fulfil;
pub mod identities;
pub mod intake;
pub mod mover;
pub mod notify;
pub mod owner_left;
pub mod ports;
pub mod query;
pub mod reconcile;
pub mod review;
pub mod scim;
pub mod service;
pub mod stage_sla;
pub mod submit;
pub mod tokens;

pub use error::AppError;
pub use service::{Settings, Writ};
