//! Registering identities and issuing API tokens.
//!
//! Tokens are random 256-bit secrets shown once; only their SHA-256 hash is stored.
//! A plain hash suffices (no salt, no slow KDF) because the secret has full entropy.

use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use writ_core::identity::Identity;
use writ_core::ids::IdentityId;
use writ_policy::AdminAction;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use writ_core::grant::GrantState;

use crate::events::{self, about, general};
use crate::ports::{Change, TaskFilter, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

/// Prefix that makes a leaked Writ token easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "writ_";

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("{TOKEN_PREFIX}{}", hex::encode(raw))
}

impl Writ {
    /// Every identity, if policy allows `read_audit` (the audit log records every
    /// identity change, so whoever may read it sees the registry anyway).
    pub async fn list_identities(&self, actor: &Identity) -> Result<Vec<Identity>, AppError> {
        self.authorize(actor, AdminAction::ReadAudit, "list identities")?;
        Ok(self.store.identities().await?)
    }

    /// Creates or updates identities, checking the owner rule against the registry as
    /// it will be. `actor` is `None` for the operator (e.g. `writ init`); anyone else
    /// needs policy to allow `manage_identities`.
    ///
    /// Disabling an identity withdraws everything it has under way, in the same
    /// commit: its unsettled requests (by it or for it) are withdrawn with their
    /// open tasks, and every grant it holds starts its removal through the
    /// normal path (read back, evidence, overdue if the target is down).
    /// Re-enabling restores nothing: access is requested anew.
    pub async fn upsert_identities(&self, actor: Option<&Identity>, batch: Vec<Identity>) -> Result<(), AppError> {
        if let Some(a) = actor {
            self.authorize(a, AdminAction::ManageIdentities, "manage identities")?;
        }
        for _ in 0..MAX_ATTEMPTS {
            let mut all = self.store.identities().await?;
            let was_active: BTreeSet<IdentityId> = all.iter().filter(|i| i.is_active()).map(|i| i.id.clone()).collect();
            for i in &batch {
                all.retain(|x| x.id != i.id);
            }
            all.extend(batch.iter().cloned());
            for i in &batch {
                i.validate(|id| all.iter().find(|x| &x.id == id))?;
            }
            let now = self.clock.now();
            let who = actor.map_or("operator".to_owned(), |a| a.id.to_string());
            let mut change = Change::default();
            for i in &batch {
                change.events.push(general(events::IDENTITY_UPSERTED, &who, now, events::to_value(i)));
            }
            for i in batch.iter().filter(|i| !i.is_active() && was_active.contains(&i.id)) {
                self.withdraw_everything(&i.id, &who, now, &mut change).await?;
            }
            change.identities = batch.clone();
            if self.committed(change).await? {
                return Ok(());
            }
        }
        Err(AppError::Conflict { what: "identity batch", id: batch.iter().map(|i| i.id.to_string()).collect::<Vec<_>>().join(",") })
    }

    /// Adds to `change` the consequences of disabling `identity`, done by `who`.
    async fn withdraw_everything(&self, identity: &IdentityId, who: &str, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        let standing = self.store.standing(identity).await?;
        let reason = format!("`{identity}` was disabled by `{who}`");
        for mut req in standing.requests {
            let loaded = req.version();
            if req.withdraw(&reason, now).is_err() {
                continue; // access already in place: its grants are removed below
            }
            change.events.push(about(req.id(), events::REQUEST_CANCELLED, who, now, json!({ "reason": req.outcome_reason(), "disabled": identity })));
            for mut t in self.store.tasks(&TaskFilter { request: Some(req.id()), open_only: true, limit: 0 }).await? {
                let v = t.version();
                t.cancel(now)?;
                change.events.push(about(req.id(), events::TASK_CANCELLED, who, now, json!({ "task": t.id() })));
                change.tasks.push(Versioned::update(t, v));
            }
            change.requests.push(Versioned::update(req, loaded));
        }
        let by = IdentityId::parse(who).unwrap_or_else(|_| identity.clone());
        for mut g in standing.grants.into_iter().filter(|g| g.state() == &GrantState::Active) {
            let loaded = g.version();
            g.begin_revocation(by.clone(), &reason, now)?;
            change.events.push(about(
                g.request_id(),
                events::GRANT_REVOCATION_REQUESTED,
                who,
                now,
                json!({ "grant": g.id(), "entitlement": g.entitlement(), "reason": reason }),
            ));
            self.start_removal(&g, now, change).await?;
            change.grants.push(Versioned::update(g, loaded));
        }
        tracing::warn!(identity = %identity, by = who, "identity disabled: its requests withdrawn and its access being removed");
        Ok(())
    }

    /// Issues a new API token for `identity` and returns it; it is never shown again.
    pub async fn issue_token(&self, identity: &IdentityId, label: &str) -> Result<String, AppError> {
        self.identity(identity).await?;
        let token = new_token();
        let now = self.clock.now();
        self.store.add_token(&token_hash(&token), identity, label, now).await?;
        self.store
            .commit(Change {
                events: vec![general(events::TOKEN_ISSUED, "operator", now, json!({ "identity": identity, "label": label }))],
                ..Default::default()
            })
            .await?;
        Ok(token)
    }

    /// The identity behind a bearer token, if the token is known and the identity exists.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Identity>, AppError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
            return Ok(None);
        }
        Ok(self.store.token_identity(&token_hash(token)).await?)
    }
}
