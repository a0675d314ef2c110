//! Applying a declarative identities file (`writ identity apply`): the file
//! is the whole truth for the organisation, so the registry is made into
//! what it says ([`writ_core::identity::diff`]), through the same write as
//! every other identity change.

use writ_core::identity::{self, Identity, IdentityDiff};
use writ_core::DomainError;

use super::Reading;
use crate::{AppError, Writ};

/// The `source` of the audit events an applied file writes.
pub const SOURCE: &str = "file";

impl Writ {
    /// Makes the registry what `desired` declares: identities it lists are
    /// created or updated, active ones it leaves out are disabled (with
    /// everything disabling withdraws). Returns what changes; with `dry_run`,
    /// what would, committing nothing. Only the identities that change are
    /// written, each an audit event with source `file`, compared-and-swapped
    /// against the registry as read, so applying the same file again writes
    /// nothing. `actor` is `None` for the operator; anyone else needs policy
    /// to allow `manage_identities`, and may not disable itself (the file
    /// would lock out the one applying it).
    pub async fn apply_identities(&self, actor: Option<&Identity>, desired: Vec<Identity>, dry_run: bool) -> Result<IdentityDiff, AppError> {
        let (_, diff) = self
            .write_identities(actor, Some(SOURCE), Reading::Registry, |stored| {
                let diff = identity::diff(stored.values().map(|(i, _)| i), &desired)?;
                if let Some(me) = actor.filter(|me| diff.disables(&me.id)) {
                    return Err(DomainError::invalid(
                        format!("identity `{}`", me.id),
                        format!("the file disables `{}`, who is applying it: list `{}` as active, or have someone else apply it", me.id, me.id),
                    )
                    .into());
                }
                let writes = if dry_run { Vec::new() } else { diff.writes() };
                Ok((writes, diff))
            })
            .await?;
        Ok(diff)
    }
}
