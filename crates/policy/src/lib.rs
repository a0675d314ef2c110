//! `writ-policy`: Writ's policy-as-code decisions, evaluated with Cedar.
//!
//! Writ asks Cedar a handful of questions (see [`PolicyAction`]) about plain input
//! facts: about one entitlement of a request ([`DecisionQuery`], answered by
//! [`PolicyEngine::decide`]), or about the service as a whole ([`AdminAction`],
//! answered by [`PolicyEngine::decide_admin`]). The app layer maps its domain
//! types to these, so this crate does not depend on the domain crate.
//!
//! A [`PolicyEngine`] is loaded once from a policy directory (`writ.cedarschema` +
//! `*.cedar`), validated strictly against the schema, and then answers decisions.
//! Each decision evaluates only the slice of policies that can apply to its action
//! and entitlement (see `slice`), so latency does not grow with the number of
//! per-entitlement policies.

mod decide;
pub mod demo;
mod engine;
mod entities;
mod error;
mod input;
mod load;
mod reads;
mod report;
mod slice;

#[cfg(test)]
mod equivalence_tests;
#[cfg(test)]
mod test_support;

pub use engine::PolicyEngine;
pub use error::{Diagnostics, Located, PolicyError};
pub use input::{AdminAction, Decision, DecisionQuery, EntitlementFacts, IdentityFacts, PolicyAction, Relation, RequestContext};
pub use report::{CheckReport, FileSummary, PolicySummary};
