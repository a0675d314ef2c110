//! Separation of duties across grants: toxic combinations of entitlements.
//! (The per-request duties, no self-review and approver ≠ fulfiller, live in
//! `request` and `task`, where the acts happen.)
//!
//! The rule holds wherever access comes into being or widens: a subject's
//! *holdings* are not only the grants in force but every request that may
//! still put access in place (pending at submission, approved and not yet
//! fulfilled everywhere), so two halves of a toxic pair asked for side by
//! side cannot both end up active.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::fulfilment::TargetFulfilment;
use crate::grant::Grant;
use crate::ids::{EntitlementId, GrantId, RequestId};
use crate::request::{Request, RequestState};
use crate::DomainError;

/// Where a subject's (possible) access to an entitlement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// A grant that may still hold access (active or being removed).
    Grant(GrantId),
    /// A request that may still put the access in place.
    Request(RequestId, RequestState),
}

impl fmt::Display for Holding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holding::Grant(g) => write!(f, "already held through grant `{g}`"),
            Holding::Request(r, s) => write!(f, "asked for by {} request `{r}`", s.as_str()),
        }
    }
}

/// Which requests count as holdings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// Submission: pending requests count too, so the second half of a pair
    /// is refused while the first waits for review.
    PendingToo,
    /// Approval: only requests already approved. (A pending request for the
    /// other half is refused when it is approved in turn, so two requests
    /// raced past submission never deadlock each other.)
    ApprovedOnly,
    /// Fulfilment of a request that is itself approved: only approved
    /// requests filed before it (`filed`, then `id`, break the tie). Two
    /// approved halves of a pair fulfilled side by side (two jobs at once)
    /// would otherwise each count the other and both be refused, or the
    /// winner would be whichever job ran first: this way the one filed
    /// first goes through and the other is refused, whatever the order.
    ApprovedBefore { filed: DateTime<Utc>, id: RequestId },
}

/// What `subject` holds or may soon hold, entitlement → where from: `grants`
/// still holding access and `requests` not yet settled, except `exclude` (the
/// request being checked). An entitlement already in place through a request
/// is counted through its grant; one that failed counts no more.
pub fn holdings(grants: &[Grant], requests: &[Request], exclude: Option<RequestId>, counting: Counting) -> BTreeMap<EntitlementId, Holding> {
    let mut held = BTreeMap::new();
    for g in grants.iter().filter(|g| g.state().holds_access() && Some(g.request_id()) != exclude) {
        held.entry(g.entitlement().clone()).or_insert(Holding::Grant(g.id()));
    }
    for r in requests.iter().filter(|r| Some(r.id()) != exclude) {
        let counts = match r.state() {
            RequestState::Pending => counting == Counting::PendingToo,
            RequestState::Approved | RequestState::PartiallyFulfilled => match counting {
                Counting::ApprovedBefore { filed, id } => (r.created_at(), r.id()) < (filed, id),
                Counting::PendingToo | Counting::ApprovedOnly => true,
            },
            _ => false,
        };
        if !counts {
            continue;
        }
        for e in r.entitlements() {
            let owed = !matches!(r.fulfilment().get(e), Some(TargetFulfilment::Failed { .. } | TargetFulfilment::Done { .. }));
            if owed {
                held.entry(e.clone()).or_insert(Holding::Request(r.id(), r.state()));
            }
        }
    }
    held
}

/// Whether any toxic combination of `catalog` names one of `requested`. When
/// none does, [`check_toxic`] passes whatever the subject holds, so the
/// holdings need not be read.
pub fn names_any(catalog: &Catalog, requested: &[EntitlementId]) -> bool {
    catalog.toxic_combinations().iter().any(|combo| requested.iter().any(|e| combo.entitlements.contains(e)))
}

/// Refuses `requested` if, together with what the subject holds or may soon
/// hold (`held`, from [`holdings`]), it would complete a toxic combination.
/// The error names the combination, the requested entitlement and where the
/// other half comes from (a grant, or another request).
pub fn check_toxic(catalog: &Catalog, requested: &[EntitlementId], held: &BTreeMap<EntitlementId, Holding>) -> Result<(), DomainError> {
    for combo in catalog.toxic_combinations() {
        let Some(asked) = requested.iter().find(|e| combo.entitlements.contains(*e)) else {
            continue;
        };
        let complete = combo.entitlements.iter().all(|e| requested.contains(e) || held.contains_key(e));
        if !complete {
            continue;
        }
        // Name the other half: preferably one held elsewhere, as that is
        // what the reader must go and find.
        let others = || combo.entitlements.iter().filter(|e| *e != asked);
        let other =
            others().find(|e| held.contains_key(*e) && !requested.contains(e)).or_else(|| others().next()).expect("a combination has two or more entitlements");
        let via = match held.get(other) {
            Some(h) if !requested.contains(other) => format!(" ({h})"),
            _ => " (both are in this request)".to_owned(),
        };
        let why = if combo.reason.is_empty() { String::new() } else { format!("; {}", combo.reason) };
        return Err(DomainError::ToxicCombination {
            combination: combo.name.clone(),
            requested: asked.to_string(),
            held: other.to_string(),
            via: format!("{via}{why}"),
        });
    }
    Ok(())
}
