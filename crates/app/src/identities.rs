//! Registering identities, enabling and disabling them.

use serde_json::json;
use writ_core::identity::{owner_left_after, Identity, IdentityStatus};
use writ_core::ids::IdentityId;
use writ_policy::AdminAction;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use writ_core::grant::GrantState;

use crate::events::{self, general};
use crate::ports::{Change, Cursor, Page, StoreError, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

mod apply;

/// Which stored identities a write reads: those it names (a write never
/// needs more), or the whole registry (a file that is the whole truth).
#[derive(Clone, Copy)]
enum Reading<'a> {
    Ids(&'a [IdentityId]),
    Registry,
}

impl Writ {
    /// Every identity with its stored version, if policy allows `read_audit`
    /// (the audit log records every identity change, so whoever may read it
    /// sees the registry anyway).
    /// A page of `limit` by id, after `after` (a cursor of this list: its id
    /// is the last identity's; its time means nothing here).
    pub async fn list_identities(&self, actor: &Identity, after: Option<Cursor>, limit: u32) -> Result<Page<(Identity, u64)>, AppError> {
        self.authorize(actor, AdminAction::ReadAudit, "list identities")?;
        let after = after.map(|c| IdentityId::parse(c.id())).transpose()?;
        // One more than asked says whether a next page exists.
        let mut items = self.store.identities_page(after.as_ref(), limit.saturating_add(1)).await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = if more { items.last().map(|(i, _)| Cursor::of_identity(&i.id)) } else { None };
        Ok(Page { items, next })
    }

    /// Creates or replaces identities, checking the owner rule against the registry as
    /// it will be. `actor` is `None` for the operator (e.g. `writ init`); anyone else
    /// needs policy to allow `manage_identities`. Each record replaces the one
    /// stored, compared-and-swapped against the version read in the same attempt.
    ///
    /// Disabling an identity withdraws everything it has under way, in the same
    /// commit: its unsettled requests (by it or for it) are withdrawn with their
    /// open tasks, every grant it holds starts its removal through the
    /// normal path (read back, evidence, overdue if the target is down), and
    /// every token it authenticates with is revoked.
    /// Re-enabling restores nothing: access is requested anew.
    pub async fn upsert_identities(&self, actor: Option<&Identity>, batch: Vec<Identity>) -> Result<(), AppError> {
        let ids: Vec<IdentityId> = batch.iter().map(|i| i.id.clone()).collect();
        self.write_identities(actor, None, Reading::Ids(&ids), |_| Ok((batch.clone(), ()))).await.map(|_| ())
    }

    /// `actor` enables or disables identity `id`: a change of that field alone,
    /// reapplied on the identity as it is now if someone else wrote it meanwhile.
    /// With `expected_version` (the version the caller read), a write made
    /// since is a conflict instead: a stale view never wins. Returns the
    /// identity and its new version.
    pub async fn set_identity_status(
        &self,
        actor: &Identity,
        id: &IdentityId,
        status: IdentityStatus,
        expected_version: Option<u64>,
    ) -> Result<(Identity, u64), AppError> {
        let (written, ()) = self
            .write_identities(Some(actor), None, Reading::Ids(std::slice::from_ref(id)), |stored| {
                let (current, version) = stored.get(id).ok_or_else(|| AppError::NotFound { what: "identity", id: id.to_string() })?;
                if let Some(read) = expected_version.filter(|e| e != version) {
                    return Err(AppError::Stale { what: "identity", id: id.to_string(), read, stored: *version });
                }
                Ok((vec![Identity { status, ..current.clone() }], ()))
            })
            .await?;
        written.into_iter().next().ok_or_else(|| AppError::NotFound { what: "identity", id: id.to_string() })
    }

    /// Writes the identities `make` returns (with a value of its own) from
    /// the identities `reading` names as stored now (id → identity and
    /// version), from `source` when not Writ's own API, each
    /// compared-and-swapped against the version read; on a lost race, reads
    /// again and asks `make` again. An empty batch commits nothing.
    async fn write_identities<T>(
        &self,
        actor: Option<&Identity>,
        source: Option<&str>,
        reading: Reading<'_>,
        make: impl Fn(&BTreeMap<IdentityId, (Identity, u64)>) -> Result<(Vec<Identity>, T), AppError>,
    ) -> Result<(Vec<(Identity, u64)>, T), AppError> {
        if let Some(a) = actor {
            self.authorize(a, AdminAction::ManageIdentities, "manage identities")?;
        }
        let who = actor.map_or("operator".to_owned(), |a| a.id.to_string());
        for _ in 0..MAX_ATTEMPTS {
            let stored = match reading {
                Reading::Ids(ids) => self.identities_versioned_by(ids).await?,
                Reading::Registry => self.store.identities_versioned().await?.into_iter().map(|(i, v)| (i.id.clone(), (i, v))).collect(),
            };
            let (batch, made) = make(&stored)?;
            if batch.is_empty() {
                return Ok((Vec::new(), made));
            }
            let mut change = Change::default();
            let written = self.stage_identities(&who, source, &stored, batch, &mut change).await?;
            match self.commit(change).await {
                Ok(_) => return Ok((written, made)),
                // Someone wrote (or created) one of them meanwhile: read again.
                Err(StoreError::VersionConflict { .. } | StoreError::Duplicate { what: "identity", .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict { what: "identity batch", id: "(several)".into() })
    }

    /// Identities `ids` as stored now, by id, with their versions.
    pub(crate) async fn identities_versioned_by(&self, ids: &[IdentityId]) -> Result<BTreeMap<IdentityId, (Identity, u64)>, AppError> {
        Ok(self.store.identities_by_id(ids).await?.into_iter().map(|(i, v)| (i.id.clone(), (i, v))).collect())
    }

    /// Adds to `change` the writing of `batch` by `who` (from `source`, when
    /// not Writ's own API), each compared-and-swapped against its version in
    /// `stored` (absent: created). Checks the owner rule on the batch and on
    /// every identity it owns, reading only those and the batch's owners (a
    /// write never reads the whole registry), adds an audit event per
    /// identity, and withdraws everything of each identity it disables.
    /// Returns the identities with the versions they will have.
    pub(crate) async fn stage_identities(
        &self,
        who: &str,
        source: Option<&str>,
        stored: &BTreeMap<IdentityId, (Identity, u64)>,
        batch: Vec<Identity>,
        change: &mut Change,
    ) -> Result<Vec<(Identity, u64)>, AppError> {
        let changing: BTreeSet<IdentityId> = batch.iter().map(|i| i.id.clone()).collect();
        let owners: Vec<IdentityId> = batch
            .iter()
            .filter_map(|i| i.owner.clone())
            .filter(|o| !changing.contains(o) && !stored.contains_key(o))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut after: BTreeMap<IdentityId, Identity> = stored.iter().map(|(id, (i, _))| (id.clone(), i.clone())).collect();
        let changing_ids: Vec<IdentityId> = changing.iter().cloned().collect();
        // What the batch owns, with versions: a leaver's are flagged below.
        let owned = self.store.identities_owned_by(&changing_ids).await?;
        let around = self.store.identities_by_id(&owners).await?.into_iter().chain(owned.iter().cloned());
        for (i, _) in around {
            after.entry(i.id.clone()).or_insert(i);
        }
        for i in &batch {
            after.insert(i.id.clone(), i.clone());
        }
        // The batch, and every identity it owns: an owner may not stop
        // being a person while it owns someone.
        for i in after.values().filter(|i| changing.contains(&i.id) || i.owner.as_ref().is_some_and(|o| changing.contains(o))) {
            i.validate(|id| after.get(id))?;
        }
        let now = self.clock.now();
        let mut batch = batch;
        for i in &mut batch {
            let flag = stored.get(&i.id).and_then(|(old, _)| old.owner_left.as_ref());
            let owner_is_active_person = i.owner.as_ref().and_then(|o| after.get(o)).is_some_and(|o| o.kind.is_human() && o.is_active());
            i.owner_left = owner_left_after(flag, i, owner_is_active_person);
            if let (Some(flag), None) = (flag, &i.owner_left) {
                let how = if i.is_active() { format!("new owner `{}`", i.owner.as_ref().map_or("?".into(), ToString::to_string)) } else { "disabled".into() };
                change.events.push(general(
                    events::IDENTITY_OWNER_LEFT_SETTLED,
                    who,
                    now,
                    json!({ "identity": i.id, "owner": flag.owner, "settled_by": how, "was_due_at": flag.due_at, "source": source }),
                ));
            }
        }
        for i in &batch {
            let mut payload = events::to_value(i);
            if let (Some(s), Some(p)) = (source, payload.as_object_mut()) {
                p.insert("source".into(), json!(s));
            }
            change.events.push(general(events::IDENTITY_UPSERTED, who, now, payload));
            let was_active = stored.get(&i.id).is_some_and(|(old, _)| old.is_active());
            if was_active && !i.is_active() {
                self.withdraw_everything(&i.id, who, now, change).await?;
                if i.kind.is_human() {
                    self.flag_owned_by_leaver(i, &owned, &changing, who, source, now, change);
                }
            }
            if let Some((old, _)) = stored.get(&i.id).filter(|(old, _)| crate::mover::is_move(old, i)) {
                self.redecide_after_move(old, i, who, source, now, change).await?;
            }
        }
        let written: Vec<(Identity, u64)> = batch.iter().map(|i| (i.clone(), stored.get(&i.id).map_or(1, |(_, v)| v + 1))).collect();
        change.identities.extend(batch.into_iter().map(|i| Versioned { expected_version: stored.get(&i.id).map(|(_, v)| *v), value: i }));
        Ok(written)
    }

    /// Adds to `change` the consequences of disabling `identity`, done by `who`.
    async fn withdraw_everything(&self, identity: &IdentityId, who: &str, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        let standing = self.store.standing(identity).await?;
        let reason = format!("`{identity}` was disabled by `{who}`");
        for mut req in standing.requests {
            // Whatever it still owes stops; what is in place is removed below
            // (when the disabled identity holds it).
            let loaded = req.version();
            self.stop_fulfilment(&mut req, &reason, who, now, change).await?;
            if req.version() != loaded {
                change.requests.push(Versioned::update(req, loaded));
            }
        }
        let by = IdentityId::parse(who).unwrap_or_else(|_| identity.clone());
        for mut g in standing.grants.into_iter().filter(|g| g.state() == &GrantState::Active) {
            let loaded = g.version();
            crate::expiry::request_revocation(&mut g, &by, &reason, now, json!({}), change)?;
            self.start_removal(&g, now, change).await?;
            change.grants.push(Versioned::update(g, loaded));
        }
        // A disabled identity's tokens are refused anyway (only an active one
        // authenticates); revoked, they stay dead if it is enabled again.
        self.revoke_every_token(identity, who, now, change).await?;
        tracing::warn!(identity = %identity, by = who, "identity disabled: its requests withdrawn and its access being removed");
        Ok(())
    }
}
