//! Applying an identities file (`identities/apply.rs`, with `identity::diff`
//! in the core): the file is the whole truth, a dry run commits nothing, only
//! what changes is written (each an audit event with source `file`), the same
//! file twice writes nothing, and a bad file or caller changes nothing.

use serde_json::Value;
use writ_app::tokens::Unauthenticated;
use writ_app::AppError;
use writ_core::grant::GrantState;
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::token::{TokenDraft, TokenRefusal};
use writ_core::DomainError;

use crate::harness::*;

/// The registry of the harness as a file would declare it, without `left_out`.
fn file_without(left_out: &[&str]) -> Vec<Identity> {
    registry().into_iter().filter(|i| !left_out.contains(&i.id.as_str())).collect()
}

impl World {
    /// The payloads of the audit events after position `after`.
    async fn payloads_after(&self, after: u64) -> Vec<(String, String, Value)> {
        let events = self.store.audit_events(after, 1000).await.unwrap();
        events.into_iter().map(|e| (e.actor, e.kind, serde_json::from_str(&e.payload).unwrap())).collect()
    }
}

#[tokio::test]
async fn applying_a_file_creates_updates_and_disables_the_active_identities_it_leaves_out() {
    let w = World::new().await;
    let (before, _) = w.head().await;
    let mut file = file_without(&["bob"]);
    file.push(person("carol", &["oncall"], Some("mona")));
    let alice = file.iter_mut().find(|i| i.id.as_str() == "alice").unwrap();
    alice.display_name = "Alice Liddell".into();

    let diff = w.writ.apply_identities(Some(&w.who("sam").await), file, false).await.unwrap();

    assert_eq!(diff.created.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["carol"]);
    assert_eq!(diff.changed.len(), 1);
    assert_eq!(diff.changed[0].fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(), ["display_name"]);
    assert_eq!(diff.disabled.iter().map(|u| u.identity.id.as_str()).collect::<Vec<_>>(), ["bob"]);
    assert_eq!(diff.unchanged, registry().len() - 2);
    assert_eq!(w.who("carol").await.manager, Some(id("mona")));
    assert_eq!(w.who("alice").await.display_name, "Alice Liddell");
    assert_eq!(w.who("bob").await.status, IdentityStatus::Disabled, "disabled, not deleted");
    let written = w.payloads_after(before).await;
    assert_eq!(written.len(), 3, "one event per identity that changed: {written:?}");
    for (actor, kind, payload) in &written {
        assert_eq!((actor.as_str(), kind.as_str(), &payload["source"]), ("sam", "identity.upserted", &Value::from("file")), "{payload}");
    }
}

#[tokio::test]
async fn a_dry_run_reports_the_changes_and_commits_nothing() {
    let w = World::new().await;
    let head = w.head().await;
    let mut file = file_without(&["bob"]);
    file.push(person("carol", &[], None));

    let dry = w.writ.apply_identities(None, file.clone(), true).await.unwrap();

    assert_eq!((dry.created.len(), dry.disabled.len()), (1, 1));
    assert_eq!(w.head().await, head);
    assert!(w.store.identity(&id("carol")).await.unwrap().is_none());
    assert_eq!(w.who("bob").await.status, IdentityStatus::Active);
    // What it reported is what the real apply does.
    assert_eq!(w.writ.apply_identities(None, file, false).await.unwrap(), dry);
}

#[tokio::test]
async fn applying_the_same_file_twice_writes_nothing_the_second_time() {
    let w = World::new().await;
    let mut file = file_without(&["svc"]);
    file.push(person("carol", &[], None));
    w.writ.apply_identities(None, file.clone(), false).await.unwrap();
    let head = w.head().await;

    let again = w.writ.apply_identities(None, file.clone(), false).await.unwrap();

    assert!(again.is_empty(), "{again:?}");
    assert_eq!(again.unchanged, file.len());
    assert_eq!(w.head().await, head, "no event the second time");
}

#[tokio::test]
async fn an_identity_the_file_leaves_out_loses_its_access_and_its_tokens() {
    let w = World::new().await;
    let (held, _) = w.holding_read("bob", "4h").await;
    let pending = w.submit("bob", "bob", &[WRITE], "4h").await.unwrap();
    let draft = TokenDraft { name: "laptop".into(), lifetime: None, scope: None };
    let (_, secret) = w.writ.create_token(&w.who("bob").await, None, draft).await.unwrap();

    w.writ.apply_identities(Some(&w.who("sam").await), file_without(&["bob"]), false).await.unwrap();

    assert!(matches!(w.grant(held.id()).await.state(), GrantState::Revoking { .. }), "its removal started");
    assert_eq!(w.request(pending.id()).await.state(), writ_core::request::RequestState::Cancelled);
    assert!(matches!(w.writ.authenticate(&secret).await.unwrap(), Err(Unauthenticated::Refused(TokenRefusal::Revoked { .. }))), "its token is revoked");
}

#[tokio::test]
async fn a_bad_file_changes_nothing() {
    let w = World::new().await;
    let head = w.head().await;
    let twice = [file_without(&[]), vec![person("alice", &[], None)]].concat();
    let orphan = [file_without(&["bob"]), vec![machine("bot2", IdentityKind::ApiKey, "nobody", &[])]].concat();
    let reserved = [file_without(&["bob"]), vec![person("system", &[], None)]].concat();
    // Oscar owns `svc`: he may not stop being a person while he does.
    let mut oscar_a_machine = file_without(&[]);
    oscar_a_machine.iter_mut().filter(|i| i.id.as_str() == "oscar").for_each(|i| *i = machine("oscar", IdentityKind::ServiceAccount, "olivia", &[]));

    for (file, why) in [(twice, "twice"), (orphan, "not a known identity"), (reserved, "reserved"), (oscar_a_machine, "not a person")] {
        for dry_run in [true, false] {
            let e = w.writ.apply_identities(None, file.clone(), dry_run).await.unwrap_err();
            assert!(matches!(&e, AppError::Domain(DomainError::Invalid { reason, .. }) if reason.contains(why)), "{why}: {e:?}");
        }
    }
    assert_eq!(w.head().await, head);
    assert_eq!(w.who("bob").await.status, IdentityStatus::Active);
}

#[tokio::test]
async fn only_those_policy_allows_manage_identities_apply_a_file_and_never_to_disable_themselves() {
    let w = World::new().await;
    let head = w.head().await;

    let e = w.writ.apply_identities(Some(&w.who("bob").await), file_without(&[]), true).await.unwrap_err();
    assert!(matches!(&e, AppError::Forbidden { who, .. } if who == "bob"), "{e:?}");
    let e = w.writ.apply_identities(Some(&w.who("sam").await), file_without(&["sam"]), false).await.unwrap_err();
    assert!(matches!(&e, AppError::Domain(DomainError::Invalid { reason, .. }) if reason.contains("who is applying it")), "{e:?}");

    assert_eq!(w.head().await, head);
    assert_eq!(w.who("sam").await.status, IdentityStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_applied_while_someone_else_writes_is_read_again_and_applied_whole() {
    let w = World::new().await;
    let (before, _) = w.head().await;
    let mut file = file_without(&[]);
    file.iter_mut().filter(|i| i.id.as_str() == "alice").for_each(|i| i.display_name = "Alice Liddell".into());
    let mut moved = w.who("alice").await;
    moved.groups.insert(group("payments"));
    let wanted = file.iter().find(|i| i.id.as_str() == "alice").unwrap().clone();
    // Both read alice before either commits: one loses the race.
    w.clock.meet(2);

    let (applied, upserted) = {
        let (w1, w2, sam, other) = (w.writ.clone(), w.writ.clone(), w.who("sam").await, moved.clone());
        let a = tokio::spawn(async move { w1.apply_identities(Some(&sam), file, false).await });
        let b = tokio::spawn(async move { w2.upsert_identities(None, vec![other]).await });
        (a.await.unwrap(), b.await.unwrap())
    };

    assert!(w.clock.met(), "the two writes did not race");
    let diff = applied.unwrap();
    upserted.unwrap();
    let fields: Vec<&str> = diff.changed[0].fields.iter().map(|f| f.field.as_str()).collect();
    if fields == ["display_name"] {
        // The file committed first; the other write was reapplied on top.
        assert_eq!(w.who("alice").await, moved);
    } else {
        // The file was read again over the other write, and undid it.
        assert_eq!(fields, ["display_name", "groups"]);
        assert_eq!(w.who("alice").await, wanted);
    }
    // Each write is also a move (alice's groups change), recorded beside it.
    let upserts = w.payloads_after(before).await.into_iter().filter(|(_, kind, _)| kind == "identity.upserted").count();
    assert_eq!(upserts, 2, "each write committed once");
}
