//! API tokens with a lifecycle: who a token authenticates as, who answers for
//! it, what it may do (its scope), when it stops working.
//!
//! A token is *active* until it expires or is revoked; both end it for good.
//! Revoking is a transition ([`Token::revoke`]): revoking a revoked token is an
//! error (`IllegalTransition`, naming when it was revoked), not a silent
//! success, so a script learns it changed nothing and the audit log holds
//! exactly one revocation per token. Revoking an expired token is allowed: it
//! records that someone meant it dead.
//!
//! Expiry: a token for a non-human identity (service account, API key, AI
//! agent) must be given one, at most [`TokenLimits::non_human`]; a person's
//! token expires after at most [`TokenLimits::person`], which is also its
//! expiry when none is asked for. Tokens issued before expiry existed
//! (migration 0012) have none.
//!
//! Scopes narrow what a token may do, never widen it: policy still decides
//! for the identity behind it. See [`TokenScope`].

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::AccessDuration;
use crate::identity::Identity;
use crate::ids::{IdentityId, TokenId};
use crate::DomainError;

/// The most characters of a token's name.
pub const MAX_NAME: usize = 100;

/// How stale a token's `last_used_at` may be. Recording every use would make
/// every API call a write; once a minute per token says "in use" well enough.
pub const LAST_USE_PRECISION: TimeDelta = TimeDelta::minutes(1);

/// What a token may be limited to. A closed set: each scope is a list of the
/// [`Operation`]s it allows; an unscoped token may do whatever policy lets
/// its identity do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Reading only (a dashboard): every read policy allows the identity, no change.
    Read,
    /// Asking for access and following it (an AI agent): submit requests and
    /// extensions, cancel them, read the caller's own requests and grants and
    /// the catalog. Nothing else, not even others' requests policy would show.
    Request,
}

impl TokenScope {
    pub const ALL: [TokenScope; 2] = [TokenScope::Read, TokenScope::Request];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Request => "request",
        }
    }

    /// Parses `read` or `request`, saying which exist otherwise.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| DomainError::invalid("scope", format!("`{s}` is not a token scope: use `read` or `request`")))
    }

    /// Whether a token of this scope may do `op` (policy is asked afterwards).
    pub fn allows(self, op: Operation) -> bool {
        match self {
            TokenScope::Read => matches!(op, Operation::Read | Operation::ReadOwn),
            TokenScope::Request => matches!(op, Operation::ReadOwn | Operation::Submit | Operation::Cancel),
        }
    }

    /// Whether reads through this scope show only what involves the caller
    /// (its own requests and grants).
    pub fn own_only(self) -> bool {
        self == TokenScope::Request
    }

    /// `Ok` when the scope allows `op`, else a `Forbidden` naming both.
    pub fn check(self, op: Operation) -> Result<(), DomainError> {
        if self.allows(op) {
            return Ok(());
        }
        Err(DomainError::Forbidden {
            who: "this token".into(),
            action: op.as_str(),
            reason: format!(
                "its scope `{}` allows only {}; use a token whose scope allows `{}`, or one without a scope",
                self.as_str(),
                self.describe(),
                op.as_str()
            ),
        })
    }

    /// What the scope allows, in words.
    pub fn describe(self) -> &'static str {
        match self {
            TokenScope::Read => "reading",
            TokenScope::Request => "submitting and cancelling requests and reading the caller's own",
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an API call does, as far as a token's scope goes. Every endpoint
/// names one (the server's route table), so a scope is checked before the
/// handler runs, as policy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Read anything policy shows the caller (audit, queues, identities...).
    Read,
    /// Read what concerns the caller: who it is, the catalog, its own
    /// requests and grants (a scope may limit these to the caller's own).
    ReadOwn,
    /// Ask for access: a request or an extension.
    Submit,
    /// Withdraw a request.
    Cancel,
    /// Approve, deny, or review or resolve a break-glass use.
    Review,
    /// Use break-glass access.
    BreakGlass,
    /// Complete a fulfilment task.
    Fulfil,
    /// End a grant early or close its removal by hand.
    EndGrant,
    /// Enable or disable identities.
    ManageIdentities,
    /// Create or revoke tokens: never through a scoped token, so a scope
    /// cannot be escaped by minting an unscoped one.
    ManageTokens,
    /// Start a reconciliation.
    Reconcile,
    /// Sign an audit checkpoint.
    SignCheckpoint,
    /// Take tickets in and work them (triage, the help-desk path).
    Intake,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::ReadOwn => "read_own",
            Operation::Submit => "submit",
            Operation::Cancel => "cancel",
            Operation::Review => "review",
            Operation::BreakGlass => "break_glass",
            Operation::Fulfil => "fulfil",
            Operation::EndGrant => "end_grant",
            Operation::ManageIdentities => "manage_identities",
            Operation::ManageTokens => "manage_tokens",
            Operation::Reconcile => "reconcile",
            Operation::SignCheckpoint => "sign_checkpoint",
            Operation::Intake => "intake",
        }
    }
}

/// The longest a token may last (`[tokens]` in `writ.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    /// A person's token: the cap, and the expiry when none is asked for.
    pub person: AccessDuration,
    /// A non-human identity's token: the cap; an expiry must be asked for.
    pub non_human: AccessDuration,
}

impl Default for TokenLimits {
    fn default() -> Self {
        Self {
            person: AccessDuration::from_secs(365 * 86_400).expect("365d is a duration"),
            non_human: AccessDuration::from_secs(90 * 86_400).expect("90d is a duration"),
        }
    }
}

/// What someone asks for when creating a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDraft {
    /// Where it is used (`laptop`, `ci-deploy`): one line.
    pub name: String,
    /// How long it lasts from now; see the module's comment.
    pub lifetime: Option<AccessDuration>,
    pub scope: Option<TokenScope>,
}

/// Who ended a token, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub at: DateTime<Utc>,
    /// An identity, or `operator` for `writ init`.
    pub by: String,
    pub reason: String,
}

/// Where a token stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

/// Why a presented token does not authenticate. Said to whoever presented
/// it, who holds the secret: it tells them about this token only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("this token was revoked at {at}: it never works again; create a new one with `writ token create` (or ask whoever manages your identity)")]
    Revoked { at: DateTime<Utc> },
    #[error("this token expired at {at}: create a new one with `writ token create` (or ask whoever manages your identity)")]
    Expired { at: DateTime<Utc> },
}

/// A token's record. The secret is never part of it, nor its hash: this is
/// what lists show and audit events describe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub id: TokenId,
    /// Who it authenticates as.
    pub identity: IdentityId,
    /// Who answers for it: the person it authenticates as, or the owner of
    /// the non-human identity it authenticates as (at issue).
    pub owner: IdentityId,
    /// Who issued it: an identity, or `operator` (`writ init`).
    pub created_by: String,
    pub name: String,
    pub scope: Option<TokenScope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: Option<Revocation>,
    /// Within [`LAST_USE_PRECISION`].
    pub last_used_at: Option<DateTime<Utc>>,
    /// Bumped by each transition; the store compares and swaps on it.
    pub version: u64,
}

impl Token {
    /// A new token for `subject`, issued by `created_by`, as `draft` asks
    /// within `limits`. Fails on a disabled subject, a bad name, a missing
    /// expiry for a non-human identity or a lifetime over the cap.
    pub fn issue(id: TokenId, subject: &Identity, created_by: &str, draft: TokenDraft, limits: &TokenLimits, now: DateTime<Utc>) -> Result<Token, DomainError> {
        subject.require_active("receive a token")?;
        let name = crate::text::line("name", &draft.name, MAX_NAME, "name the token after where it is used, e.g. `laptop` or `ci-deploy`")?;
        let (cap, key) = if subject.kind.is_human() { (limits.person, "max_lifetime_person") } else { (limits.non_human, "max_lifetime_non_human") };
        let lifetime = match draft.lifetime {
            Some(asked) if asked > cap => {
                return Err(DomainError::invalid(
                    "expires",
                    format!("`{asked}` is longer than a {}'s token may last ({cap}, `[tokens] {key}`): ask for at most {cap}", subject.kind.as_str()),
                ))
            }
            Some(asked) => asked,
            None if subject.kind.is_human() => cap,
            None => {
                return Err(DomainError::invalid(
                    "expires",
                    format!("a token for {} `{}` must expire: give an expiry of at most {cap}, e.g. `30d`", subject.kind.as_str(), subject.id),
                ))
            }
        };
        // A non-human identity always names a person owner (Identity::validate).
        let owner = if subject.kind.is_human() { subject.id.clone() } else { subject.owner.clone().unwrap_or_else(|| subject.id.clone()) };
        Ok(Token {
            id,
            identity: subject.id.clone(),
            owner,
            created_by: created_by.to_owned(),
            name,
            scope: draft.scope,
            created_at: now,
            expires_at: Some(now + lifetime.as_delta()),
            revoked: None,
            last_used_at: None,
            version: 1,
        })
    }

    pub fn status(&self, now: DateTime<Utc>) -> TokenStatus {
        if self.revoked.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    /// `Ok` while the token may authenticate at `now`.
    pub fn usable(&self, now: DateTime<Utc>) -> Result<(), TokenRefusal> {
        if let Some(r) = &self.revoked {
            return Err(TokenRefusal::Revoked { at: r.at });
        }
        match self.expires_at {
            Some(at) if at <= now => Err(TokenRefusal::Expired { at }),
            _ => Ok(()),
        }
    }

    /// Ends the token for good: the next state, or `IllegalTransition` if it
    /// was revoked already (the message says when and by whom).
    pub fn revoke(&self, by: &str, reason: &str, now: DateTime<Utc>) -> Result<Token, DomainError> {
        if let Some(r) = &self.revoked {
            return Err(DomainError::IllegalTransition { entity: "token", state: format!("revoked (at {} by {})", r.at, r.by), action: "revoke" });
        }
        let reason = crate::text::optional("reason", reason, crate::text::MAX_TEXT)?;
        Ok(Token { revoked: Some(Revocation { at: now, by: by.to_owned(), reason }), version: self.version + 1, ..self.clone() })
    }

    /// Whether a use at `now` should be recorded: the last one recorded is
    /// older than [`LAST_USE_PRECISION`] (or none is).
    pub fn use_worth_recording(&self, now: DateTime<Utc>) -> bool {
        self.last_used_at.is_none_or(|t| now - t >= LAST_USE_PRECISION)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::identity::{IdentityKind, IdentityStatus};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn who(id: &str, kind: IdentityKind) -> Identity {
        Identity {
            id: IdentityId::parse(id).unwrap(),
            kind,
            status: IdentityStatus::Active,
            display_name: String::new(),
            owner: (!kind.is_human()).then(|| IdentityId::parse("alice").unwrap()),
            manager: None,
            groups: Default::default(),
            attributes: Default::default(),
            owner_left: None,
        }
    }

    fn draft(lifetime: Option<&str>) -> TokenDraft {
        TokenDraft { name: " laptop ".into(), lifetime: lifetime.map(|d| AccessDuration::parse(d).unwrap()), scope: None }
    }

    fn issue(subject: &Identity, lifetime: Option<&str>) -> Result<Token, DomainError> {
        Token::issue(TokenId::from_uuid(uuid::Uuid::from_u128(1)), subject, "sam", draft(lifetime), &TokenLimits::default(), t0())
    }

    #[test]
    fn a_person_token_expires_at_the_cap_unless_asked_sooner() {
        let alice = who("alice", IdentityKind::Person);
        let t = issue(&alice, None).unwrap();
        assert_eq!(t.name, "laptop");
        assert_eq!((t.owner.as_str(), t.created_by.as_str()), ("alice", "sam"), "a person answers for their own tokens");
        assert_eq!(t.expires_at, Some(t0() + TimeDelta::days(365)));
        assert_eq!(issue(&alice, Some("30d")).unwrap().expires_at, Some(t0() + TimeDelta::days(30)));
        let e = issue(&alice, Some("366d")).unwrap_err().to_string();
        assert!(e.contains("365d") && e.contains("max_lifetime_person"), "{e}");
    }

    #[test]
    fn a_non_human_token_must_expire_within_its_cap() {
        for kind in [IdentityKind::ServiceAccount, IdentityKind::ApiKey, IdentityKind::AiAgent] {
            let bot = who("bot", kind);
            let e = issue(&bot, None).unwrap_err().to_string();
            assert!(e.contains("must expire") && e.contains("90d"), "{e}");
            let e = issue(&bot, Some("91d")).unwrap_err().to_string();
            assert!(e.contains("max_lifetime_non_human"), "{e}");
            let t = issue(&bot, Some("90d")).unwrap();
            assert_eq!(t.expires_at, Some(t0() + TimeDelta::days(90)));
            assert_eq!(t.owner.as_str(), "alice", "the machine's owner answers for its tokens");
        }
    }

    #[test]
    fn a_disabled_identity_gets_no_token_and_names_are_one_line() {
        let mut alice = who("alice", IdentityKind::Person);
        alice.status = IdentityStatus::Disabled;
        assert!(matches!(issue(&alice, None), Err(DomainError::IdentityDisabled { .. })));
        let alice = who("alice", IdentityKind::Person);
        for bad in ["", "  ", "a\nb", "x\u{202e}y", &"n".repeat(MAX_NAME + 1)] {
            let d = TokenDraft { name: bad.into(), lifetime: None, scope: None };
            let e = Token::issue(TokenId::from_uuid(uuid::Uuid::nil()), &alice, "alice", d, &TokenLimits::default(), t0()).unwrap_err();
            assert!(e.to_string().contains("name"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn revoking_ends_the_token_once_and_for_all() {
        let t = issue(&who("alice", IdentityKind::Person), Some("1d")).unwrap();
        assert_eq!(t.usable(t0()), Ok(()));
        let later = t0() + TimeDelta::hours(1);
        let r = t.revoke("sam", "left the laptop on a train", later).unwrap();
        assert_eq!(r.version, t.version + 1);
        assert_eq!(r.status(later), TokenStatus::Revoked);
        assert_eq!(r.usable(later), Err(TokenRefusal::Revoked { at: later }));
        assert_eq!(t.status(later), TokenStatus::Active, "the old state is untouched");
        let again = r.revoke("sam", "", later).unwrap_err();
        assert!(matches!(again, DomainError::IllegalTransition { .. }) && again.to_string().contains("by sam"), "{again}");
        assert!(t.revoke("sam", "\u{1b}[2J", later).is_err(), "the reason follows the text rules");
    }

    #[test]
    fn a_token_expires_at_its_expiry_and_can_still_be_revoked() {
        let t = issue(&who("alice", IdentityKind::Person), Some("1h")).unwrap();
        let at = t0() + TimeDelta::hours(1);
        assert_eq!(t.usable(at - TimeDelta::milliseconds(1)), Ok(()));
        assert_eq!(t.usable(at), Err(TokenRefusal::Expired { at }));
        assert!(t.usable(at).unwrap_err().to_string().contains("expired"));
        assert_eq!(t.status(at), TokenStatus::Expired);
        assert_eq!(t.revoke("alice", "", at).unwrap().status(at), TokenStatus::Revoked);
    }

    #[test]
    fn scopes_allow_only_their_operations() {
        use Operation::*;
        let all = [Read, ReadOwn, Submit, Cancel, Review, BreakGlass, Fulfil, EndGrant, ManageIdentities, ManageTokens, Reconcile, SignCheckpoint];
        let allowed = |s: TokenScope| all.into_iter().filter(|&o| s.allows(o)).collect::<Vec<_>>();
        assert_eq!(allowed(TokenScope::Read), vec![Read, ReadOwn]);
        assert_eq!(allowed(TokenScope::Request), vec![ReadOwn, Submit, Cancel]);
        assert!(TokenScope::Request.own_only() && !TokenScope::Read.own_only());
        let e = TokenScope::Read.check(Submit).unwrap_err().to_string();
        assert!(e.contains("`read`") && e.contains("submit"), "{e}");
        for s in TokenScope::ALL {
            assert_eq!(TokenScope::parse(s.as_str()), Ok(s));
            assert!(!s.allows(ManageTokens), "no scope mints tokens");
        }
        assert!(TokenScope::parse("admin").unwrap_err().to_string().contains("`read` or `request`"));
    }

    #[test]
    fn uses_are_recorded_at_most_once_a_minute() {
        let mut t = issue(&who("alice", IdentityKind::Person), None).unwrap();
        assert!(t.use_worth_recording(t0()));
        t.last_used_at = Some(t0());
        assert!(!t.use_worth_recording(t0() + TimeDelta::seconds(59)));
        assert!(t.use_worth_recording(t0() + LAST_USE_PRECISION));
    }
}
