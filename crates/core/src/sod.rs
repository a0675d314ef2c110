//! Separation of duties across grants: toxic combinations of entitlements.
//! (The per-request duties, no self-review and approver ≠ fulfiller, live in
//! `request` and `task`, where the acts happen.)

use std::collections::BTreeMap;

use crate::catalog::Catalog;
use crate::ids::{EntitlementId, GrantId};
use crate::DomainError;

/// Refuses `requested` if, together with what the subject already holds (`held`,
/// entitlement → grant), it would complete a toxic combination. The error names the
/// combination, the requested entitlement and the grant already held.
pub fn check_toxic(catalog: &Catalog, requested: &[EntitlementId], held: &BTreeMap<EntitlementId, GrantId>) -> Result<(), DomainError> {
    for combo in catalog.toxic_combinations() {
        let Some(asked) = requested.iter().find(|e| combo.entitlements.contains(*e)) else {
            continue;
        };
        let complete = combo.entitlements.iter().all(|e| requested.contains(e) || held.contains_key(e));
        if !complete {
            continue;
        }
        let other = combo.entitlements.iter().find(|e| *e != asked).expect("a combination has two or more entitlements");
        let via = match held.get(other) {
            Some(g) => format!(" (already held through grant `{g}`)"),
            None => " (both are in this request)".to_owned(),
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
