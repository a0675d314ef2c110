//! Leavers' non-human identities: when a person is disabled, every active
//! service account, API key or AI agent they own is flagged to their
//! manager, who must give it a new owner or disable it by a deadline
//! (`owner_left_within`). Flagged ones are listed (paged, by deadline) and
//! counted; one past its deadline is recorded overdue once (an audit event
//! and a notification) and stays listed until settled. Nothing else
//! happens to it: its access stays as granted, on the owner's manager's
//! watch (disabling it is the way to take everything away).
//!
//! The flag lives on the identity (`Identity::owner_left`) and only Writ
//! sets or clears it (`writ_core::identity::owner_left_after`, applied to
//! every identity write in `identities.rs`).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::json;
use writ_core::identity::{Identity, OwnerLeft};
use writ_core::ids::IdentityId;
use writ_policy::AdminAction;

use crate::events::{self, general};
use crate::ports::{Change, Cursor, Page, Versioned};
use crate::{AppError, Writ};

/// Flagged identities read per round of the overdue check.
const OVERDUE_BATCH: u32 = 500;

impl Writ {
    /// Flags (in `change`) every active non-human identity `leaver` owns and
    /// the batch does not write itself: the leaver's manager is asked to
    /// give it a new owner or disable it within `owner_left_within`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn flag_owned_by_leaver(
        &self,
        leaver: &Identity,
        owned: &[(Identity, u64)],
        changing: &BTreeSet<IdentityId>,
        who: &str,
        source: Option<&str>,
        now: DateTime<Utc>,
        change: &mut Change,
    ) {
        let theirs = owned.iter().filter(|(o, _)| o.owner.as_ref() == Some(&leaver.id) && !o.kind.is_human() && o.is_active() && o.owner_left.is_none());
        for (o, version) in theirs.filter(|(o, _)| !changing.contains(&o.id)) {
            let flag = OwnerLeft::new(leaver, now, self.settings.owner_left_within);
            change.events.push(general(
                events::IDENTITY_OWNER_LEFT,
                who,
                now,
                json!({ "identity": o.id, "kind": o.kind.as_str(), "owner": leaver.id, "flagged_to": flag.flagged_to, "due_at": flag.due_at, "source": source }),
            ));
            tracing::warn!(identity = %o.id, owner = %leaver.id, flagged_to = ?flag.flagged_to, due_at = %flag.due_at, "a non-human identity's owner left");
            change.identities.push(Versioned { expected_version: Some(*version), value: Identity { owner_left: Some(flag), ..o.clone() } });
        }
    }

    /// Identities whose owner left, by deadline (only the overdue ones if
    /// `overdue_only`), a page of `limit` after `after`; policy decides
    /// (`read_audit`, as for the registry).
    pub async fn owner_left_identities(
        &self,
        actor: &Identity,
        overdue_only: bool,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Page<(Identity, u64)>, AppError> {
        self.authorize(actor, AdminAction::ReadAudit, "list identities whose owner left")?;
        let due_by = overdue_only.then(|| self.clock.now());
        // One more than asked says whether a next page exists.
        let mut items = self.store.owner_left_identities(due_by, after.as_ref(), limit.saturating_add(1)).await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = more.then(|| items.last().and_then(|(i, _)| i.owner_left.as_ref().map(|f| Cursor::new(f.due_at, &i.id)))).flatten();
        Ok(Page { items, next })
    }

    /// How many identities are flagged as their owner having left, and how
    /// many of them are overdue (for a metric).
    pub async fn owner_left_counts(&self) -> Result<(u64, u64), AppError> {
        Ok(self.store.owner_left_counts(self.clock.now()).await?)
    }

    /// Records, once per identity, each owner-left flag past its deadline:
    /// an audit event, an error-level log and (through the event) a
    /// notification. Called by the server's periodic worker; the version
    /// check lets one node record each.
    pub async fn note_overdue_owner_left(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut noted = 0;
        let mut after = None;
        loop {
            let due = self.store.owner_left_identities(Some(now), after.as_ref(), OVERDUE_BATCH).await?;
            let full = due.len() == OVERDUE_BATCH as usize;
            after = due.last().and_then(|(i, _)| i.owner_left.as_ref().map(|f| Cursor::new(f.due_at, &i.id)));
            for (i, version) in due {
                let Some(flag) = i.owner_left.clone().filter(|f| !f.overdue_noted) else { continue };
                tracing::error!(identity = %i.id, owner = %flag.owner, due_at = %flag.due_at, flagged_to = ?flag.flagged_to, "a non-human identity whose owner left is overdue for a new owner");
                let mut change = Change::default();
                change.events.push(general(
                    events::IDENTITY_OWNER_LEFT_OVERDUE,
                    "system",
                    now,
                    json!({ "identity": i.id, "owner": flag.owner, "flagged_to": flag.flagged_to, "since": flag.at, "due_at": flag.due_at }),
                ));
                let flag = OwnerLeft { overdue_noted: true, ..flag };
                change.identities.push(Versioned { expected_version: Some(version), value: Identity { owner_left: Some(flag), ..i } });
                // Losing the race means it was written meanwhile: look again next round.
                if self.committed(change).await? {
                    noted += 1;
                }
            }
            if !full {
                return Ok(noted);
            }
        }
    }
}
