//! Writ's pure domain core: identities, the catalog, requests settled by reviews,
//! grants, separation-of-duties rules and the audit chain.
//!
//! Boundary: no I/O, no async, no SQL and no clock reads. Every function that needs
//! the time takes it as an argument, so the state machines are deterministic.

pub mod audit;
pub mod break_glass;
pub mod catalog;
pub mod duration;
pub mod error;
pub mod flow;
pub mod fulfilment;
pub mod grant;
pub mod identity;
pub mod ids;
pub mod reconcile;
pub mod request;
pub mod request_type;
pub mod review;
pub mod scim;
pub mod sod;
pub mod task;
pub mod text;
pub mod ticket;
pub mod token;

pub use error::DomainError;
