//! Approval service levels: a pending request whose open stage waits past
//! its reminder point has its approvers reminded, and past its SLA is
//! escalated (to the managers of the people the stage names, or to a named
//! group, as the catalog says), each step once per stage, an audit event
//! and, through the event, a notification. The core decides what is due
//! (`Request::chases_due`) and records each step; this sweep reads only the
//! requests with a step due (the store's `chase_at` index), page by page.

use chrono::{DateTime, Utc};
use serde_json::json;
use writ_core::catalog::{ApproverRule, EscalateTo};
use writ_core::ids::IdentityId;
use writ_core::request::{ChaseDue, ChaseStep, Request};
use writ_core::review::Escalated;

use crate::events::{self, about};
use crate::ports::{Change, Versioned};
use crate::service::PAGE;
use crate::{AppError, Writ};

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chased {
    /// Stages whose approvers were reminded.
    pub reminded: usize,
    /// Stages escalated past their SLA.
    pub escalated: usize,
}

impl Writ {
    /// Reminds the approvers of every open stage past its reminder point and
    /// escalates every one past its SLA, once each, one commit per request.
    /// Called by the server's periodic worker; running it again writes
    /// nothing until another step comes due. Several nodes may run it: the
    /// version check lets one of them record each request's steps.
    pub async fn chase_overdue_stages(&self) -> Result<Chased, AppError> {
        let now = self.clock.now();
        let mut chased = Chased::default();
        let mut after = None;
        loop {
            // Every request with a step due, page by page: one left out would never be chased.
            let page = self.store.due_chases(now, after, PAGE).await?;
            let full = page.len() == PAGE as usize;
            after = page.last().map(Request::id);
            for req in page {
                let id = req.id();
                match self.chase(req, now).await {
                    Ok(Some(done)) => {
                        chased.reminded += done.reminded;
                        chased.escalated += done.escalated;
                    }
                    // Lost a race (reviewed meanwhile): looked at again next round.
                    Ok(None) => {}
                    Err(e) => tracing::error!(request = %id, error = %e, "chasing an overdue approval stage failed"),
                }
            }
            if !full {
                return Ok(chased);
            }
        }
    }

    /// Takes the steps due on `req` at `now` and commits them with their
    /// events; `None` when another change to the request won the race.
    async fn chase(&self, mut req: Request, now: DateTime<Utc>) -> Result<Option<Chased>, AppError> {
        let loaded = req.version();
        let mut change = Change::default();
        let mut done = Chased::default();
        for due in req.chases_due(now) {
            let base = json!({
                "entitlement": due.entitlement,
                "stage": due.stage,
                "approvers": due.approvers.to_string(),
                "requester": req.requester(),
                "subject": req.subject(),
                "opened_at": due.opened_at,
                "due_at": due.due_at,
            });
            let (kind, to) = match due.step {
                ChaseStep::Remind => {
                    req.remind_stage(&due.entitlement, &due.stage, now)?;
                    done.reminded += 1;
                    (events::REQUEST_STAGE_REMINDED, json!({ "to": due.approvers.to_string() }))
                }
                ChaseStep::Escalate => {
                    let to = self.escalation_of(&req, &due).await?;
                    req.escalate_stage(&due.entitlement, &due.stage, to, now)?;
                    let track = req.tracks().iter().find(|t| t.entitlement == due.entitlement).expect("the request's own track");
                    let recorded = track.stages.iter().find(|s| s.spec.name == due.stage).and_then(|s| s.escalated.as_ref()).expect("just escalated");
                    tracing::warn!(request = %req.id(), entitlement = %due.entitlement, stage = %due.stage, due_at = %due.due_at, to = %recorded.to, "approval stage past its SLA: escalated");
                    done.escalated += 1;
                    (
                        events::REQUEST_STAGE_ESCALATED,
                        json!({ "escalate_to": due.escalate_to.to_string(), "to": recorded.to.to_string(), "escalated": recorded.to }),
                    )
                }
            };
            let mut payload = base;
            if let (Some(p), serde_json::Value::Object(extra)) = (payload.as_object_mut(), to) {
                p.extend(extra);
            }
            change.events.push(about(req.id(), kind, "system", now, payload));
        }
        if change.events.is_empty() {
            return Ok(Some(done));
        }
        change.requests.push(Versioned::update(req, loaded));
        Ok(self.committed(change).await?.then_some(done))
    }

    /// Whom stage `due` is escalated to now: a named group, or the managers
    /// (active people) of the people the stage names: the entitlement's
    /// owners, or the subject's manager.
    async fn escalation_of(&self, req: &Request, due: &ChaseDue) -> Result<Escalated, AppError> {
        let named: Vec<IdentityId> = match (&due.escalate_to, &due.approvers) {
            (EscalateTo::Group(group), _) => return Ok(Escalated::Group { group: group.clone() }),
            (EscalateTo::Manager, ApproverRule::EntitlementOwners) => due.owners.clone(),
            (EscalateTo::Manager, ApproverRule::SubjectManager) => match self.store.identity(req.subject()).await? {
                Some(subject) => self.subject_manager(&subject).await?.into_iter().collect(),
                None => Vec::new(),
            },
            // The catalog refuses it; nobody to name.
            (EscalateTo::Manager, ApproverRule::Group(_)) => Vec::new(),
        };
        let managers: Vec<IdentityId> = self.store.identities_by_id(&named).await?.into_iter().filter_map(|(i, _)| i.manager).collect();
        let people = self.store.identities_by_id(&managers).await?.into_iter().filter(|(m, _)| m.is_active() && m.kind.is_human()).map(|(m, _)| m.id).collect();
        Ok(Escalated::Managers { people })
    }

    /// How many pending requests wait at a stage past its SLA (for a metric).
    pub async fn pending_past_sla(&self) -> Result<u64, AppError> {
        Ok(self.store.past_sla_count(self.clock.now()).await?)
    }
}
