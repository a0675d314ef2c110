//! API tokens: creating, listing and revoking them, and authenticating by one.
//!
//! Tokens are random 256-bit secrets shown once; only their SHA-256 hash is
//! stored. A plain hash suffices (no salt, no slow KDF) because the secret has
//! full entropy. Neither the secret nor the hash ever reaches an audit event,
//! a list or a log: events describe a token by its record ([`token_event`]).
//!
//! Who may do what (policy's `manage_identities` is the administrators'):
//! - create: a person for itself; the owner of a non-human identity for it;
//!   an administrator for anyone. A person never mints a token for another
//!   person without being an administrator, and a non-human identity never
//!   mints its own (its expiry would then never bind).
//! - list: the tokens a caller authenticates with or answers for; an
//!   administrator's list holds every token.
//! - revoke: the token's identity, its owner, the owner of its non-human
//!   identity, or an administrator.
//!
//! A scoped token does none of these (`Operation::ManageTokens`, checked by
//! the server before any use-case runs).

use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use writ_core::identity::Identity;
use writ_core::ids::{IdentityId, TokenId};
use writ_core::token::{Token, TokenDraft, TokenRefusal, TokenScope};
use writ_policy::AdminAction;

use chrono::{DateTime, Utc};

use crate::events::{self, general};
use crate::ports::{Change, Cursor, Page, StoreError, TokenFilter, TokenWrite, Versioned};
use crate::service::{MAX_ATTEMPTS, PAGE};
use crate::{AppError, Writ};

/// Prefix that makes a leaked Writ token easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "writ_";

/// The longest text taken as a token: anything longer is not one of ours.
const MAX_TOKEN_LEN: usize = 200;

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new secret: the prefix and 256 random bits in hex.
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("{TOKEN_PREFIX}{}", hex::encode(raw))
}

/// Who a token authenticated, and through which token.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub identity: Identity,
    pub token: Token,
}

impl Authenticated {
    pub fn scope(&self) -> Option<TokenScope> {
        self.token.scope
    }
}

/// Why a bearer token was not accepted. The message speaks of the token
/// presented only: it says nothing of any other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    #[error("unknown token: check `WRIT_TOKEN` (or --token), or create a new one with `writ token create` (or ask whoever manages your identity)")]
    Unknown,
    #[error(transparent)]
    Refused(#[from] TokenRefusal),
}

/// An audit event's description of a token: never its secret nor its hash.
fn token_event(t: &Token) -> Value {
    json!({
        "token": t.id,
        "identity": t.identity,
        "owner": t.owner,
        "created_by": t.created_by,
        "name": t.name,
        "scope": t.scope,
        "expires_at": t.expires_at,
    })
}

/// Who vouched for a sign-in: the OpenID provider (its issuer URL) and the
/// subject it named (the claim Writ maps to an identity).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub provider: String,
    pub subject: String,
    /// The SHA-256 hex of the ID token presented ([`token_hash`]): one ID
    /// token buys one Writ token.
    pub id_token_hash: String,
}

/// Why a proven sign-in gets no token: said to the person signing in.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SignInRefused {
    #[error("the provider vouched for `{0}`, but Writ has no identity `{0}`: ask a Writ administrator to add you (an identity source or `writ init`)")]
    Unknown(IdentityId),
    #[error("this sign-in was already exchanged for a token (an ID token is good for one): sign in again")]
    AlreadyUsed,
    #[error("`{0}` is disabled in Writ: ask a Writ administrator to enable it")]
    Disabled(IdentityId),
    #[error("`{0}` is a {1}, not a person: only people sign in; give a {1} a token (`writ token create --for {0} --name NAME --expires 30d`)")]
    NotAPerson(IdentityId, &'static str),
}

impl Writ {
    /// The identity behind a bearer token, with the token, or why not: an
    /// unknown, revoked or expired token. One indexed read; a use is recorded
    /// (a write) at most once a minute per token. Whether the identity is
    /// active is the caller's check (it says so differently: 403).
    pub async fn authenticate(&self, secret: &str) -> Result<Result<Authenticated, Unauthenticated>, AppError> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > MAX_TOKEN_LEN {
            return Ok(Err(Unauthenticated::Unknown));
        }
        let Some((token, identity)) = self.store.token_by_hash(&token_hash(secret)).await? else {
            return Ok(Err(Unauthenticated::Unknown));
        };
        let now = self.clock.now();
        if let Err(refusal) = token.usable(now) {
            return Ok(Err(refusal.into()));
        }
        if token.use_worth_recording(now) {
            // Best effort: a failed note of last use must not refuse the call.
            if let Err(e) = self.store.record_token_use(token.id, now).await {
                tracing::warn!(token = %token.id, error = %e, "could not record a token's last use");
            }
        }
        Ok(Ok(Authenticated { identity, token }))
    }

    /// `actor` creates a token for `subject` (itself when `None`); see the
    /// module's comment for who may. Returns the record and the secret, which
    /// is never shown again. The token and its `token.issued` event are one commit.
    pub async fn create_token(&self, actor: &Identity, subject: Option<&IdentityId>, draft: TokenDraft) -> Result<(Token, String), AppError> {
        actor.require_active("create a token")?;
        let subject = match subject {
            Some(id) if id != &actor.id => self.identity(id).await?,
            _ => actor.clone(),
        };
        let mine = subject.id == actor.id && subject.kind.is_human();
        let owned = !subject.kind.is_human() && subject.owner.as_ref() == Some(&actor.id) && actor.kind.is_human();
        if !mine && !owned {
            let what = if subject.id == actor.id {
                format!("create a token for itself (a {} gets its tokens from its owner or an administrator)", subject.kind.as_str())
            } else {
                format!("create a token for `{}`", subject.id)
            };
            self.authorize(actor, AdminAction::ManageIdentities, &what)?;
        }
        self.issue(&subject, actor.id.as_str(), draft).await
    }

    /// The operator (`writ init`) issues a token for `identity`.
    pub async fn issue_token_as_operator(&self, identity: &IdentityId, draft: TokenDraft) -> Result<(Token, String), AppError> {
        let subject = self.identity(identity).await?;
        self.issue(&subject, "operator", draft).await
    }

    /// A person who proved to the organisation's OpenID provider that they
    /// are `identity` gets a session token (`draft`: its name and lifetime).
    /// Refused (the inner `Err`) unless `identity` is a known, active person.
    /// The `token.issued` event names the provider and the subject it
    /// vouched for; the proof itself (the ID token) is never kept.
    pub async fn issue_token_signed_in(
        &self,
        identity: &IdentityId,
        via: &SignedIn,
        draft: TokenDraft,
    ) -> Result<Result<(Token, String), SignInRefused>, AppError> {
        let Some(subject) = self.store.identity(identity).await? else { return Ok(Err(SignInRefused::Unknown(identity.clone()))) };
        if !subject.kind.is_human() {
            return Ok(Err(SignInRefused::NotAPerson(identity.clone(), subject.kind.as_str())));
        }
        if !subject.is_active() {
            return Ok(Err(SignInRefused::Disabled(identity.clone())));
        }
        let extra = json!({ "provider": via.provider, "subject": via.subject });
        match self.issue_with(&subject, subject.id.as_str(), draft, Some((extra, via.id_token_hash.clone()))).await {
            Err(AppError::Store(StoreError::Duplicate { what: "token", .. })) => Ok(Err(SignInRefused::AlreadyUsed)),
            other => other.map(Ok),
        }
    }

    async fn issue(&self, subject: &Identity, actor: &str, draft: TokenDraft) -> Result<(Token, String), AppError> {
        self.issue_with(subject, actor, draft, None).await
    }

    /// Issues a token; `signed_in`, when present, is what goes into the event
    /// as `signed_in_with` and the hash of the ID token it was exchanged for.
    async fn issue_with(&self, subject: &Identity, actor: &str, draft: TokenDraft, signed_in: Option<(Value, String)>) -> Result<(Token, String), AppError> {
        let now = self.clock.now();
        let token = Token::issue(TokenId::from_uuid(uuid::Uuid::new_v4()), subject, actor, draft, &self.settings.tokens, now)?;
        let secret = new_token();
        let (via, proof) = signed_in.unzip();
        let change = Change {
            events: vec![general(events::TOKEN_ISSUED, actor, now, {
                let mut payload = token_event(&token);
                if let Some(via) = via {
                    payload["signed_in_with"] = via;
                }
                payload
            })],
            tokens: vec![TokenWrite::Issue { token: token.clone(), hash: token_hash(&secret), proof }],
            ..Default::default()
        };
        self.commit(change).await?;
        tracing::info!(token = %token.id, identity = %token.identity, by = actor, "token issued");
        Ok((token, secret))
    }

    /// A page of the tokens `actor` may see, newest first: those it
    /// authenticates with or answers for, or every token for an administrator.
    pub async fn list_tokens(&self, actor: &Identity, after: Option<Cursor>, limit: u32) -> Result<Page<Token>, AppError> {
        let limit = crate::query::page_limit(limit)?;
        let admin = self.admin_decision(actor, AdminAction::ManageIdentities).allowed;
        let filter = TokenFilter { involving: (!admin).then(|| actor.id.clone()), after, limit: limit.saturating_add(1), ..Default::default() };
        let rows = self.store.tokens(&filter).await?;
        Ok(crate::query::trimmed(rows, limit, Cursor::of_token))
    }

    /// `actor` revokes token `id`, at once: the next call with it is refused.
    /// Revoking a revoked token is a conflict (409) that says when it was.
    pub async fn revoke_token(&self, actor: &Identity, id: TokenId, reason: &str) -> Result<Token, AppError> {
        let not_found = || AppError::NotFound { what: "token", id: id.to_string() };
        for _ in 0..MAX_ATTEMPTS {
            let token = self.store.token(id).await?.ok_or_else(not_found)?;
            let answerable = token.identity == actor.id || token.owner == actor.id || self.owns(actor, &token.identity).await?;
            if !answerable && !self.admin_decision(actor, AdminAction::ManageIdentities).allowed {
                // Someone else's token: as if it did not exist, unless policy
                // lets the caller manage identities.
                return Err(not_found());
            }
            let now = self.clock.now();
            let revoked = token.revoke(actor.id.as_str(), reason, now)?;
            let mut change = Change::default();
            push_revocation(&mut change, &token, revoked.clone(), actor.id.as_str(), now);
            if self.committed(change).await? {
                return Ok(revoked);
            }
        }
        Err(AppError::Conflict { what: "token", id: id.to_string() })
    }

    /// Whether `actor` (a person) owns non-human identity `id`.
    async fn owns(&self, actor: &Identity, id: &IdentityId) -> Result<bool, AppError> {
        if !actor.kind.is_human() {
            return Ok(false);
        }
        Ok(self.store.identity(id).await?.is_some_and(|i| !i.kind.is_human() && i.owner.as_ref() == Some(&actor.id)))
    }

    /// The operator revokes every unrevoked token of `identity` named `name`
    /// (`writ init --force` replacing the demo's tokens). Returns how many.
    pub async fn revoke_tokens_named(&self, identity: &IdentityId, name: &str, reason: &str) -> Result<usize, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let mut change = Change::default();
            let live = self.unrevoked_tokens(identity).await?;
            let named: Vec<Token> = live.into_iter().filter(|t| t.name == name).collect();
            for t in &named {
                let revoked = t.revoke("operator", reason, now)?;
                push_revocation(&mut change, t, revoked, "operator", now);
            }
            if named.is_empty() || self.committed(change).await? {
                return Ok(named.len());
            }
        }
        Err(AppError::Conflict { what: "tokens of", id: identity.to_string() })
    }

    /// Adds to `change` the revocation of every token of `identity` not yet
    /// revoked (disabling it): re-enabling it later brings none back.
    pub(crate) async fn revoke_every_token(&self, identity: &IdentityId, who: &str, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        let reason = format!("`{identity}` was disabled by `{who}`");
        for t in self.unrevoked_tokens(identity).await? {
            let revoked = t.revoke(who, &reason, now)?;
            push_revocation(change, &t, revoked, who, now);
        }
        Ok(())
    }

    /// Every token of `identity` not revoked, walked page by page.
    async fn unrevoked_tokens(&self, identity: &IdentityId) -> Result<Vec<Token>, StoreError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let filter = TokenFilter { identity: Some(identity.clone()), unrevoked_only: true, after, limit: PAGE, ..Default::default() };
            let page = self.store.tokens(&filter).await?;
            let full = page.len() == PAGE as usize;
            after = page.last().map(Cursor::of_token);
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }
}

/// The revocation of `before` (now `after`) and its `token.revoked` event.
fn push_revocation(change: &mut Change, before: &Token, after: Token, actor: &str, now: DateTime<Utc>) {
    let mut payload = token_event(&after);
    payload["reason"] = json!(after.revoked.as_ref().map_or("", |r| r.reason.as_str()));
    change.events.push(general(events::TOKEN_REVOKED, actor, now, payload));
    change.tokens.push(TokenWrite::Update(Versioned::update(after, before.version)));
}
