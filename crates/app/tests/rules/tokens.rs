//! API tokens (`tokens.rs`, with `Token` in the core): who may create and
//! revoke them for whom, the expiry rules, refusal of revoked and expired
//! tokens at once, lists, and what disabling an identity does to them.

use chrono::TimeDelta;
use writ_app::tokens::Unauthenticated;
use writ_app::{AppError, Settings};
use writ_core::duration::AccessDuration;
use writ_core::identity::IdentityStatus;
use writ_core::token::{Token, TokenDraft, TokenLimits, TokenRefusal, TokenScope};
use writ_core::DomainError;

use crate::harness::*;

fn draft(name: &str, expires: Option<&str>) -> TokenDraft {
    TokenDraft { name: name.into(), lifetime: expires.map(|e| AccessDuration::parse(e).unwrap()), scope: None }
}

impl World {
    async fn create(&self, actor: &str, subject: Option<&str>, expires: Option<&str>) -> Result<(Token, String), AppError> {
        let subject = subject.map(id);
        self.writ.create_token(&self.who(actor).await, subject.as_ref(), draft("laptop", expires)).await
    }

    async fn authenticates(&self, secret: &str) -> Result<String, Unauthenticated> {
        self.writ.authenticate(secret).await.unwrap().map(|a| a.identity.id.to_string())
    }
}

fn forbidden(r: Result<(Token, String), AppError>) -> bool {
    matches!(r, Err(AppError::Forbidden { .. }))
}

#[tokio::test]
async fn a_person_mints_tokens_for_itself_and_the_machines_it_owns_only() {
    let w = World::new().await;
    let (mine, secret) = w.create("alice", None, None).await.unwrap();
    assert_eq!((mine.identity.as_str(), mine.owner.as_str(), mine.created_by.as_str()), ("alice", "alice", "alice"));
    assert_eq!(w.authenticates(&secret).await.as_deref(), Ok("alice"));
    let (bots, _) = w.create("alice", Some("agent"), Some("30d")).await.unwrap();
    assert_eq!((bots.identity.as_str(), bots.owner.as_str()), ("agent", "alice"), "the owner answers for it");
    assert!(forbidden(w.create("alice", Some("bob"), None).await), "not for another person");
    assert!(forbidden(w.create("alice", Some("svc"), Some("1d")).await), "not for a machine someone else owns");
    assert!(forbidden(w.create("svc", None, Some("1d")).await), "a machine does not mint its own");
    // Policy's `manage_identities` (security): for anyone.
    let (for_bob, _) = w.create("sam", Some("bob"), None).await.unwrap();
    assert_eq!((for_bob.identity.as_str(), for_bob.owner.as_str(), for_bob.created_by.as_str()), ("bob", "bob", "sam"), "bob answers for his token");
    assert!(matches!(w.create("sam", Some("nobody"), None).await, Err(AppError::NotFound { .. })));
}

#[tokio::test]
async fn a_non_human_token_needs_an_expiry_within_the_cap() {
    let limits = TokenLimits { person: AccessDuration::parse("30d").unwrap(), non_human: AccessDuration::parse("7d").unwrap() };
    let w = World::with_settings(Settings { tokens: limits, ..Settings::default() }).await;
    let invalid = |r: Result<(Token, String), AppError>| matches!(r, Err(AppError::Domain(DomainError::Invalid { field, .. })) if field == "expires");
    assert!(invalid(w.create("alice", Some("agent"), None).await), "required");
    assert!(invalid(w.create("alice", Some("agent"), Some("8d")).await), "capped");
    let (t, _) = w.create("alice", Some("agent"), Some("7d")).await.unwrap();
    assert_eq!(t.expires_at, Some(t0() + TimeDelta::days(7)));
    assert!(invalid(w.create("alice", None, Some("31d")).await), "a person's too");
    assert_eq!(w.create("alice", None, None).await.unwrap().0.expires_at, Some(t0() + TimeDelta::days(30)), "a person's lasts the cap by default");
}

#[tokio::test]
async fn a_token_and_its_event_commit_together_and_the_event_holds_no_secret() {
    let w = World::new().await;
    let (size, _) = w.head().await;
    let (t, secret) = w.create("alice", Some("agent"), Some("1d")).await.unwrap();
    let events = w.store.audit_events(size, 10).await.unwrap();
    assert_eq!(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), vec!["token.issued"]);
    let payload = &events[0].payload;
    for field in [t.id.to_string(), "agent".into(), "alice".into(), "laptop".into()] {
        assert!(payload.contains(&field), "{payload} names {field}");
    }
    assert!(payload.contains("expires_at") && payload.contains("scope"), "{payload}");
    assert!(!payload.contains(&secret) && !payload.contains(&writ_app::tokens::token_hash(&secret)), "never the secret or its hash");
    assert_eq!(events[0].actor, "alice");
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_refused_at_once() {
    let w = World::new().await;
    let (t, secret) = w.create("alice", None, Some("2h")).await.unwrap();
    let (_, short) = w.create("alice", None, Some("1h")).await.unwrap();
    w.writ.revoke_token(&w.who("alice").await, t.id, "lost it").await.unwrap();
    assert!(matches!(w.authenticates(&secret).await, Err(Unauthenticated::Refused(TokenRefusal::Revoked { at })) if at == t0()));
    assert_eq!(w.authenticates(&short).await.as_deref(), Ok("alice"));
    w.clock.advance(TimeDelta::hours(1));
    assert!(matches!(w.authenticates(&short).await, Err(Unauthenticated::Refused(TokenRefusal::Expired { .. }))));
    assert_eq!(w.authenticates("writ_0000").await, Err(Unauthenticated::Unknown));
    assert_eq!(w.authenticates("not-ours").await, Err(Unauthenticated::Unknown));
    let msg = Unauthenticated::Refused(TokenRefusal::Expired { at: t0() }).to_string();
    assert!(msg.contains("expired") && msg.contains("writ token create"), "{msg}");
}

#[tokio::test]
async fn a_token_is_revoked_by_its_identity_its_owner_or_an_administrator_and_once() {
    let w = World::new().await;
    let (svc_token, _) = w.create("sam", Some("svc"), Some("1d")).await.unwrap();
    let (alices, _) = w.create("alice", None, None).await.unwrap();
    let bob = w.who("bob").await;
    assert!(matches!(w.writ.revoke_token(&bob, alices.id, "").await, Err(AppError::NotFound { .. })), "others' tokens are not even shown");
    assert!(matches!(w.writ.revoke_token(&bob, svc_token.id, "").await, Err(AppError::NotFound { .. })));
    // oscar owns svc: he answers for its tokens, whoever minted them, and lists them.
    assert_eq!(svc_token.owner.as_str(), "oscar");
    assert_eq!(w.writ.list_tokens(&w.who("oscar").await, None, 10).await.unwrap().items, vec![svc_token.clone()]);
    let revoked = w.writ.revoke_token(&w.who("oscar").await, svc_token.id, "rotated").await.unwrap();
    assert_eq!(revoked.revoked.as_ref().map(|r| (r.by.as_str(), r.reason.as_str())), Some(("oscar", "rotated")));
    let again = w.writ.revoke_token(&w.who("sam").await, svc_token.id, "").await;
    assert!(matches!(again, Err(AppError::Domain(DomainError::IllegalTransition { entity: "token", .. }))), "{again:?}");
    let (size, _) = w.head().await;
    w.writ.revoke_token(&w.who("sam").await, alices.id, "left the laptop on a train").await.unwrap();
    let events = w.store.audit_events(size, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].kind.as_str(), events[0].actor.as_str()), ("token.revoked", "sam"));
    assert!(events[0].payload.contains(&alices.id.to_string()) && events[0].payload.contains("train"));
}

#[tokio::test]
async fn a_list_holds_the_tokens_one_uses_or_answers_for_and_an_administrators_holds_all() {
    let w = World::new().await;
    let mut alices = Vec::new();
    for n in 0..3 {
        alices.push(w.create("alice", None, None).await.unwrap().0.id);
        alices.push(w.create("alice", Some("agent"), Some("1d")).await.unwrap().0.id);
        w.clock.advance(TimeDelta::seconds(n + 1));
    }
    let bobs = w.create("bob", None, None).await.unwrap().0.id;
    let walk = |who: &'static str| {
        let w = &w;
        async move {
            let actor = w.who(who).await;
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let page = w.writ.list_tokens(&actor, after, 2).await.unwrap();
                assert!(page.len() <= 2);
                all.extend(page.items.iter().map(|t| t.id));
                match page.next {
                    Some(c) => after = Some(c),
                    None => return all,
                }
            }
        }
    };
    let got = walk("alice").await;
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got.iter().all(|t| alices.contains(t)), "hers and her agent's, no one else's");
    assert_eq!(walk("bob").await, vec![bobs]);
    assert_eq!(walk("sam").await.len(), 7, "an administrator sees every token");
}

#[tokio::test]
async fn disabling_an_identity_revokes_its_tokens_for_good() {
    let w = World::new().await;
    let (t, secret) = w.create("alice", None, None).await.unwrap();
    let (bots, bot_secret) = w.create("alice", Some("agent"), Some("1d")).await.unwrap();
    let mut alice = w.who("alice").await;
    alice.status = IdentityStatus::Disabled;
    w.writ.upsert_identities(Some(&w.who("sam").await), vec![alice.clone()]).await.unwrap();
    let stored = w.store.token(t.id).await.unwrap().unwrap();
    assert!(stored.revoked.as_ref().is_some_and(|r| r.by == "sam" && r.reason.contains("disabled")), "{stored:?}");
    alice.status = IdentityStatus::Active;
    w.writ.upsert_identities(None, vec![alice]).await.unwrap();
    assert!(matches!(w.authenticates(&secret).await, Err(Unauthenticated::Refused(TokenRefusal::Revoked { .. }))), "re-enabling brings none back");
    assert_eq!(w.authenticates(&bot_secret).await.as_deref(), Ok("agent"), "the agent she owns is another identity");
    assert!(w.store.token(bots.id).await.unwrap().unwrap().revoked.is_none());
}

#[tokio::test]
async fn a_use_is_recorded_at_most_once_a_minute() {
    let w = World::new().await;
    let (t, secret) = w.create("alice", None, None).await.unwrap();
    let last_use = || async { w.store.token(t.id).await.unwrap().unwrap().last_used_at };
    assert_eq!(last_use().await, None);
    w.authenticates(&secret).await.unwrap();
    assert_eq!(last_use().await, Some(t0()));
    w.clock.advance(TimeDelta::seconds(30));
    w.authenticates(&secret).await.unwrap();
    assert_eq!(last_use().await, Some(t0()), "within the minute: no write");
    w.clock.advance(TimeDelta::seconds(30));
    w.authenticates(&secret).await.unwrap();
    assert_eq!(last_use().await, Some(t0() + TimeDelta::minutes(1)));
}

#[tokio::test]
async fn a_scope_travels_with_the_token() {
    let w = World::new().await;
    let d = TokenDraft { scope: Some(TokenScope::Request), ..draft("agent", Some("1d")) };
    let (_, secret) = w.writ.create_token(&w.who("alice").await, Some(&id("agent")), d).await.unwrap();
    let auth = w.writ.authenticate(&secret).await.unwrap().unwrap();
    assert_eq!(auth.scope(), Some(TokenScope::Request));
}

#[tokio::test]
async fn the_operator_revokes_the_tokens_it_replaces_by_name() {
    let w = World::new().await;
    let (_, old) = w.writ.issue_token_as_operator(&id("alice"), draft("writ init demo", None)).await.unwrap();
    let (_, other) = w.create("alice", None, None).await.unwrap();
    assert_eq!(w.writ.revoke_tokens_named(&id("alice"), "writ init demo", "replaced").await.unwrap(), 1);
    assert!(w.authenticates(&old).await.is_err());
    assert_eq!(w.authenticates(&other).await.as_deref(), Ok("alice"), "other tokens are kept");
    assert_eq!(w.writ.revoke_tokens_named(&id("alice"), "writ init demo", "replaced").await.unwrap(), 0, "idempotent for the operator");
}
