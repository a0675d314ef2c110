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

use crate::events::{self, general};
use crate::ports::Change;
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
    pub async fn upsert_identities(&self, actor: Option<&Identity>, batch: Vec<Identity>) -> Result<(), AppError> {
        if let Some(a) = actor {
            self.authorize(a, AdminAction::ManageIdentities, "manage identities")?;
        }
        if let Some(reserved) = batch.iter().find(|i| i.id.as_str() == crate::reconcile::RECONCILER) {
            // Reconciliation files its requests under this name: an identity
            // holding it would be their requester, and see them all.
            return Err(AppError::Domain(writ_core::DomainError::invalid(
                "identity",
                format!("`{}` is reserved for Writ's own reconciliation requests: choose another id", reserved.id),
            )));
        }
        let mut all = self.store.identities().await?;
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
        change.identities = batch;
        self.commit(change).await?;
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
