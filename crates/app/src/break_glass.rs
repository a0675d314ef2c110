//! Break-glass: emergency access granted at once, without approval, when policy
//! allows `break_glass` for that entitlement, identity and duration (the demo
//! policy bounds the duration). It is loud (an audit event, an error-level log,
//! a notification) and owes a post-event review by a named reviewer before a
//! deadline; a late or rejecting review is an exception until settled, and a
//! rejection ends the access the use still holds. It never
//! bypasses the audit log, separation of duties or expiry: the grant it makes
//! expires like any other.

use serde_json::json;
use writ_core::break_glass::{Origin, PostReview, UseVerdict};
use writ_core::identity::Identity;
use writ_core::ids::{IdentityId, RequestId};
use writ_core::request::{Request, RequestDraft};
use writ_policy::PolicyAction;

use crate::events::{self, about};
use crate::ports::{Change, Cursor, GrantFilter, Page, RequestFilter, Versioned};
use crate::service::MAX_ATTEMPTS;
use crate::{AppError, Writ};

impl Writ {
    /// `actor` breaks the glass: `draft` is granted at once if policy allows
    /// `break_glass` for every entitlement. A refusal is recorded as a denied
    /// request (an attempt is evidence too) and returned like one.
    pub async fn break_glass(&self, actor: &Identity, mut draft: RequestDraft) -> Result<Request, AppError> {
        // Whatever type the caller named, a use is of the `break_glass` type
        // (its mandatory fields are checked).
        draft.request_type = Some(writ_core::ids::RequestTypeId::parse("break_glass")?);
        self.on_fresh_holdings(|| self.break_glass_once(actor, draft.clone())).await
    }

    async fn break_glass_once(&self, actor: &Identity, draft: RequestDraft) -> Result<Request, AppError> {
        let (mut o, refused) = self.open_checked(actor, draft, Origin::BreakGlass, PolicyAction::BreakGlass, "break the glass").await?;
        if !refused {
            // A use policy allows, but not yet: nothing is recorded. (One
            // policy refuses is recorded as denied, below.)
            self.refuse_repeated_break_glass(&o.req).await?;
        }
        // Nothing is committed yet: a use nobody could review is refused.
        let review = PostReview::open(self.break_glass_reviewers(&o.req), o.now + self.settings.break_glass_review_within)?;
        let (req, now) = (&mut o.req, o.now);
        if refused {
            tracing::warn!(request = %req.id(), actor = %actor.id, reason = req.outcome_reason().unwrap_or(""), "break-glass refused");
        } else {
            let (reviewers, due_at) = (review.reviewers.clone(), review.due_at);
            req.approve_break_glass(review, now)?;
            tracing::error!(
                request = %req.id(), actor = %actor.id, subject = %req.subject(), entitlements = ?req.entitlements(),
                duration = %req.duration(), reason = req.justification(), review_due_at = %due_at,
                "BREAK-GLASS used: access granted without approval"
            );
            let policy_ids: Vec<String> = req.decisions().iter().flat_map(|d| d.policy_ids.clone()).collect();
            o.change.events.push(about(
                req.id(),
                events::BREAK_GLASS_USED,
                actor.id.as_str(),
                now,
                json!({
                    "subject": req.subject(),
                    "entitlements": req.entitlements(),
                    "duration": req.duration(),
                    "reason": req.justification(),
                    "ticket": req.ticket(),
                    "reviewers": reviewers,
                    "review_due_at": due_at,
                    "policy_ids": policy_ids,
                }),
            ));
            o.change.events.push(about(req.id(), events::REQUEST_APPROVED, "policy", now, json!({ "reason": "break-glass" })));
            self.start_fulfilment(req, now, &mut o.change).await?;
        }
        self.record_opening(o).await
    }

    /// Refuses a new use while the subject holds
    /// `break_glass_max_unreviewed` uses of one of the same entitlements
    /// whose review is still open: break-glass is for an emergency, not a
    /// way around approval, and each use must be looked at before the next.
    async fn refuse_repeated_break_glass(&self, draft: &Request) -> Result<(), AppError> {
        let limit = self.settings.break_glass_max_unreviewed as usize;
        let standing = self.store.standing(draft.subject()).await?;
        for e in draft.entitlements() {
            let open: Vec<&Request> = standing
                .requests
                .iter()
                .filter(|r| r.subject() == draft.subject() && r.entitlements().contains(e) && r.post_review().is_some_and(|p| p.is_open()))
                .collect();
            if open.len() >= limit {
                let ids: Vec<String> = open.iter().map(|r| format!("`{}`", r.id())).collect();
                return Err(AppError::Forbidden {
                    who: draft.requester().to_string(),
                    action: format!("break the glass for `{e}` again"),
                    reason: format!(
                        "`{}` already holds {} break-glass use(s) of it whose review is still open ({}; limit `break_glass_max_unreviewed` = {limit}): \
                         one of the named reviewers must review it first (`writ break-glass review`), or ask through a normal request",
                        draft.subject(),
                        open.len(),
                        ids.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// Who reviews a break-glass use: the owners of its entitlements, except
    /// whoever broke the glass and whoever got the access.
    fn break_glass_reviewers(&self, req: &Request) -> Vec<IdentityId> {
        let mut reviewers: Vec<IdentityId> = req
            .entitlements()
            .iter()
            .filter_map(|e| self.catalog.entitlement(e).ok())
            .flat_map(|ent| ent.owners.iter().cloned())
            .filter(|o| o != req.requester() && o != req.subject())
            .collect();
        reviewers.sort();
        reviewers.dedup();
        reviewers
    }

    /// A named reviewer accepts or rejects break-glass use `id`, with a note.
    /// A rejection also ends the access the use still holds (removed from the
    /// target as any revocation is); the rejection stays an exception until
    /// resolved.
    pub async fn review_break_glass(&self, actor: &Identity, id: RequestId, verdict: UseVerdict, note: &str) -> Result<Request, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut req = self.load_request(id).await?;
            let loaded = req.version();
            let now = self.clock.now();
            let late = req.post_review().is_some_and(|r| now >= r.due_at);
            req.review_break_glass(actor, verdict, note, now)?;
            let mut change = Change::default();
            change.events.push(about(
                id,
                events::BREAK_GLASS_REVIEWED,
                actor.id.as_str(),
                now,
                json!({
                    "verdict": verdict,
                    "note": note.trim(),
                    "late": late,
                }),
            ));
            if verdict == UseVerdict::Reject {
                let held = self.every_grant(GrantFilter { request: Some(id), active_only: true, ..Default::default() }).await?;
                for mut g in held.into_iter().filter(|g| g.state() == &writ_core::grant::GrantState::Active) {
                    let reason = format!("break-glass use rejected: {}", note.trim());
                    let g_loaded = g.version();
                    crate::expiry::request_revocation(&mut g, &actor.id, &reason, now, json!({}), &mut change)?;
                    self.end_or_remove(&mut g, now, &mut change).await?;
                    change.grants.push(Versioned::update(g, g_loaded));
                }
                // And nothing it has not yet put in place ever comes.
                self.stop_fulfilment(&mut req, &format!("break-glass use rejected: {}", note.trim()), actor.id.as_str(), now, &mut change).await?;
            }
            change.requests.push(Versioned::update(req.clone(), loaded));
            if self.committed(change).await? {
                return Ok(req);
            }
        }
        Err(AppError::Conflict { what: "request", id: id.to_string() })
    }

    /// A named reviewer settles a rejected break-glass use `id`, saying what was done.
    pub async fn resolve_break_glass(&self, actor: &Identity, id: RequestId, note: &str) -> Result<Request, AppError> {
        self.settle_break_glass(id, |req, now| {
            req.resolve_break_glass(actor, note, now)?;
            Ok(about(id, events::BREAK_GLASS_RESOLVED, actor.id.as_str(), now, json!({ "note": note.trim() })))
        })
        .await
    }

    /// Loads request `id`, applies `step` (which returns the event recording
    /// it) and commits, reapplying after a lost version race.
    async fn settle_break_glass(
        &self,
        id: RequestId,
        step: impl Fn(&mut Request, chrono::DateTime<chrono::Utc>) -> Result<writ_core::audit::NewEvent, writ_core::DomainError>,
    ) -> Result<Request, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut req = self.load_request(id).await?;
            let loaded = req.version();
            let now = self.clock.now();
            let event = step(&mut req, now)?;
            let change = Change { events: vec![event], requests: vec![Versioned::update(req.clone(), loaded)], ..Change::default() };
            if self.committed(change).await? {
                return Ok(req);
            }
        }
        Err(AppError::Conflict { what: "request", id: id.to_string() })
    }

    /// A page of the break-glass uses whose review is still open (awaiting,
    /// overdue, or rejected and unresolved) that policy lets `actor` see,
    /// newest first; with `exceptions_only`, just the overdue and rejected ones.
    pub async fn open_break_glass(&self, actor: &Identity, exceptions_only: bool, limit: u32, after: Option<Cursor>) -> Result<Page<Request>, AppError> {
        let filter = RequestFilter { break_glass_open: true, after, limit, ..Default::default() };
        let now = self.clock.now();
        self.visible_requests(actor, filter, |r| r.post_review().is_some_and(|p| p.is_open() && (!exceptions_only || p.status(now).is_exception()))).await
    }

    /// How many break-glass uses are exceptions now (for a metric).
    pub async fn break_glass_exceptions(&self) -> Result<u64, AppError> {
        Ok(self.store.break_glass_exception_count(self.clock.now()).await?)
    }

    /// Records, once per use, each break-glass review that missed its deadline:
    /// an audit event, an error-level log and (through the event) a
    /// notification. Called by the server's periodic worker.
    pub async fn note_overdue_reviews(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut open: Vec<Request> = Vec::new();
        loop {
            // Every exception, page by page: one left out would never be noted.
            let page = self.store.break_glass_exceptions(now, open.last().map(Request::id), crate::service::PAGE).await?;
            let done = page.len() < crate::service::PAGE as usize;
            open.extend(page);
            if done {
                break;
            }
        }
        let mut noted = 0;
        for mut req in open {
            let loaded = req.version();
            let now = self.clock.now();
            if req.note_review_overdue(now).is_err() {
                continue;
            }
            let review = req.post_review().expect("noted above");
            tracing::error!(request = %req.id(), requester = %req.requester(), due_at = %review.due_at, reviewers = ?review.reviewers, "break-glass review overdue");
            let event = about(
                req.id(),
                events::BREAK_GLASS_REVIEW_OVERDUE,
                "system",
                now,
                json!({
                    "requester": req.requester(),
                    "subject": req.subject(),
                    "entitlements": req.entitlements(),
                    "due_at": review.due_at,
                    "reviewers": review.reviewers,
                }),
            );
            let change = Change { events: vec![event], requests: vec![Versioned::update(req, loaded)], ..Change::default() };
            if self.committed(change).await? {
                noted += 1;
            }
        }
        Ok(noted)
    }
}
