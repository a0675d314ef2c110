//! Movers: an identity whose groups or manager change keeps no access by
//! inertia. Every grant it holds is decided again against the current policy,
//! as its request would be decided now; what policy would no longer allow is
//! sent to the entitlement's owners for review (a request of origin
//! [`Origin::Moved`]) or removed at once, as `on_move` says. Never silently
//! kept: each grant's new decision is an audit event on its own chain.
//!
//! A review approved gives a new grant for the rest of the old one's time,
//! verified on the target like any other, and the old grant ends then; a
//! review denied or lapsed revokes the old grant through the normal removal
//! path.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use writ_core::break_glass::Origin;
use writ_core::duration::AccessDuration;
use writ_core::grant::{Grant, GrantState};
use writ_core::identity::Identity;
use writ_core::ids::{GrantId, IdentityId, RequestId};
use writ_core::request::{Request, RequestDraft, RequestState};
use writ_policy::{DecisionQuery, PolicyAction};

use crate::events::{self, about, general};
use crate::facts::{self, Parties};
use crate::ports::{Change, Versioned};
use crate::{AppError, Writ};

/// What happens to a grant policy no longer allows after its holder moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMove {
    /// Its owners review it: keep (a new grant) or remove.
    #[default]
    Review,
    /// It is revoked at once.
    Remove,
}

impl OnMove {
    pub fn parse(s: &str) -> Result<OnMove, String> {
        match s {
            "review" => Ok(OnMove::Review),
            "remove" => Ok(OnMove::Remove),
            other => Err(format!("`{other}` is not a reaction to a move: write `review` (the owners decide) or `remove`")),
        }
    }
}

/// The name moves are reviewed under: the requester of a `moved` review.
pub const MOVER: &str = "system";

/// Whether `before` → `after` is a move: the same identity, still active,
/// with other groups or another manager.
pub fn is_move(before: &Identity, after: &Identity) -> bool {
    before.is_active() && after.is_active() && (before.groups != after.groups || before.manager != after.manager)
}

impl Writ {
    /// Adds to `change` the consequences of `before` becoming `after` (a
    /// move, see [`is_move`]), written by `who` from `source`: every grant
    /// `after` holds decided again, and the reaction to each refusal.
    pub(crate) async fn redecide_after_move(
        &self,
        before: &Identity,
        after: &Identity,
        who: &str,
        source: Option<&str>,
        now: DateTime<Utc>,
        change: &mut Change,
    ) -> Result<(), AppError> {
        let standing = self.store.standing(&after.id).await?;
        let manager = self.subject_manager(after).await?;
        let mut outcomes = Vec::new();
        for mut g in standing.grants.into_iter().filter(|g| g.subject() == &after.id && g.is_in_force(now)) {
            let original = self.load_request(g.request_id()).await?;
            let refusal = self.refusal_now(&original, &g, after, manager.as_ref()).await?;
            let outcome = match refusal {
                None => json!({ "grant": g.id(), "entitlement": g.entitlement(), "allowed": true, "outcome": "kept" }),
                Some(why) => {
                    let already = standing.requests.iter().find(|r| r.state() == RequestState::Pending && r.origin() == &Origin::Moved { grant: g.id() });
                    let (outcome, review) = match (self.settings.on_move, already) {
                        (OnMove::Review, Some(open)) => ("review already open", Some(open.id())),
                        (OnMove::Review, None) => ("review", Some(self.open_move_review(&g, after, &why, who, now, change)?)),
                        (OnMove::Remove, _) => {
                            let loaded = g.version();
                            let by = IdentityId::parse(who).unwrap_or_else(|_| IdentityId::parse(MOVER).expect("a valid name"));
                            crate::expiry::request_revocation(&mut g, &by, &format!("`{}` moved: {why}", after.id), now, json!({ "source": source }), change)?;
                            self.start_removal(&g, now, change).await?;
                            change.grants.push(Versioned::update(g.clone(), loaded));
                            ("removed", None)
                        }
                    };
                    json!({ "grant": g.id(), "entitlement": g.entitlement(), "allowed": false, "reason": why, "outcome": outcome, "review_request": review })
                }
            };
            change.events.push(about(g.request_id(), events::GRANT_REDECIDED, who, now, json!({ "source": source, "subject": after.id, "decision": outcome })));
            outcomes.push(outcome);
        }
        change.events.push(general(
            events::IDENTITY_MOVED,
            who,
            now,
            json!({
                "identity": after.id,
                "source": source,
                "groups": { "from": before.groups, "to": after.groups },
                "manager": { "from": before.manager, "to": after.manager },
                "grants": outcomes,
            }),
        ));
        Ok(())
    }

    /// Why policy would not give `g` to `subject` (as it is after the move)
    /// if its request were asked now, if it would not. The principal is
    /// the request's requester while it is an active identity (a manager
    /// who asked for a report), else the subject itself.
    async fn refusal_now(&self, original: &Request, g: &Grant, subject: &Identity, manager: Option<&IdentityId>) -> Result<Option<String>, AppError> {
        let Ok(ent) = self.catalog.entitlement(g.entitlement()) else {
            return Ok(Some(format!("`{}` is no longer in the catalog", g.entitlement())));
        };
        let requester = match original.requester() {
            r if r == &subject.id => None,
            r => self.store.identity(r).await?.filter(Identity::is_active),
        };
        let principal = requester.as_ref().unwrap_or(subject);
        let parties = Parties { request: original, subject: Some(subject), subject_manager: manager };
        let relations = parties.relations(principal, g.entitlement(), facts::fulfiller_group(&self.catalog, g.entitlement().target()));
        let d = self.decide(&DecisionQuery {
            action: PolicyAction::Request,
            principal: facts::identity(principal),
            subject: facts::identity(subject),
            entitlement: facts::entitlement(ent),
            context: facts::context(original, None, relations),
        });
        if d.allowed {
            return Ok(None);
        }
        let by = if d.policy_ids.is_empty() { "no policy permits it".to_owned() } else { format!("policies {}", d.policy_ids.join(", ")) };
        Ok(Some(format!("policy no longer allows `{}` to hold `{}` ({by})", subject.id, g.entitlement())))
    }

    /// Opens (in `change`) the owners' review of `g`, for the rest of its time.
    fn open_move_review(&self, g: &Grant, subject: &Identity, why: &str, who: &str, now: DateTime<Utc>, change: &mut Change) -> Result<RequestId, AppError> {
        // Whole minutes, rounded up: the review keeps at most what is left.
        let left = (g.expires_at() - now).num_seconds().max(60);
        let duration = AccessDuration::from_secs((left + 59) / 60 * 60)?;
        let draft = RequestDraft {
            requester: IdentityId::parse(MOVER).expect("a valid name"),
            subject: subject.id.clone(),
            entitlements: vec![g.entitlement().clone()],
            justification: format!(
                "`{}` moved (groups or manager changed, by `{who}`) and {why}. Approve to keep it until {}; deny to remove it now. Lapsed, it is removed.",
                subject.id,
                g.expires_at().to_rfc3339()
            ),
            duration,
            ticket: None,
            request_type: None,
        };
        let req = Request::open(RequestId::from_uuid(Uuid::new_v4()), draft, &self.catalog, now, self.settings.lapse_after)?
            .with_origin(Origin::Moved { grant: g.id() })
            .reviewed_by_owners();
        change.events.push(crate::submit::submitted(&req, MOVER, now));
        change.events.push(crate::notify::awaiting_review(&req, now));
        let id = req.id();
        change.requests.push(Versioned::new(req));
        Ok(id)
    }

    /// A `moved` review that ended without approval (denied or lapsed):
    /// the grant it was about is revoked. Anything else: nothing to do.
    pub(crate) async fn settle_unapproved_move(&self, req: &Request, by: &IdentityId, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        let Origin::Moved { grant } = req.origin() else { return Ok(()) };
        let Some(mut g) = self.store.grant(*grant).await? else { return Ok(()) };
        if g.state() != &GrantState::Active {
            return Ok(());
        }
        let loaded = g.version();
        let reason = format!("the review after `{}` moved ended {} (request {})", g.subject(), req.state().as_str(), req.id());
        crate::expiry::request_revocation(&mut g, by, &reason, now, json!({ "review_request": req.id() }), change)?;
        self.start_removal(&g, now, change).await?;
        change.grants.push(Versioned::update(g, loaded));
        Ok(())
    }

    /// When the grant of an approved `moved` review starts: the grant it
    /// replaces ends at once, in Writ only (the access stays: the new grant
    /// holds it, verified on the target).
    pub(crate) async fn supersede_moved_grant(&self, req: &Request, replacement: GrantId, now: DateTime<Utc>, change: &mut Change) -> Result<(), AppError> {
        let Origin::Moved { grant } = req.origin() else { return Ok(()) };
        let Some(mut g) = self.store.grant(*grant).await? else { return Ok(()) };
        if g.state() != &GrantState::Active {
            return Ok(());
        }
        let loaded = g.version();
        let reason = format!("replaced by grant {replacement} after its owners' review (request {})", req.id());
        g.begin_revocation(IdentityId::parse(MOVER).expect("a valid name"), &reason, now)?;
        g.finish_removal(now)?;
        change.events.push(about(
            g.request_id(),
            events::GRANT_ENDED_COVERED,
            "system",
            now,
            json!({ "grant": g.id(), "entitlement": g.entitlement(), "covered_by": replacement, "review_request": req.id() }),
        ));
        change.grants.push(Versioned::update(g, loaded));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use writ_core::identity::{IdentityKind, IdentityStatus};
    use writ_core::ids::GroupId;

    use super::*;

    fn person(groups: &[&str], manager: Option<&str>, status: IdentityStatus) -> Identity {
        Identity {
            id: IdentityId::parse("alice").unwrap(),
            kind: IdentityKind::Person,
            status,
            display_name: "Alice".into(),
            owner: None,
            manager: manager.map(|m| IdentityId::parse(m).unwrap()),
            groups: groups.iter().map(|g| GroupId::parse(g).unwrap()).collect::<BTreeSet<_>>(),
            attributes: Default::default(),
            owner_left: None,
        }
    }

    #[test]
    fn a_move_is_a_change_of_groups_or_manager_of_an_identity_that_stays_active() {
        let a = IdentityStatus::Active;
        let before = person(&["eng"], Some("mona"), a);
        assert!(is_move(&before, &person(&["payments"], Some("mona"), a)));
        assert!(is_move(&before, &person(&["eng"], Some("max"), a)));
        assert!(is_move(&before, &person(&["eng"], None, a)));
        assert!(!is_move(&before, &person(&["eng"], Some("mona"), a)), "nothing that matters changed");
        assert!(!is_move(&before, &person(&["payments"], Some("mona"), IdentityStatus::Disabled)), "a leaver, not a mover");
        assert!(!is_move(&person(&["eng"], Some("mona"), IdentityStatus::Disabled), &person(&["payments"], Some("mona"), a)), "re-enabled: nothing is held");
    }

    #[test]
    fn on_move_is_review_or_remove() {
        assert_eq!(OnMove::parse("review"), Ok(OnMove::Review));
        assert_eq!(OnMove::parse("remove"), Ok(OnMove::Remove));
        assert!(OnMove::parse("keep").unwrap_err().contains("`keep`"));
        assert_eq!(OnMove::default(), OnMove::Review);
    }
}
