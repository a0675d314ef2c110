//! Domain values rendered as wire types.

use chrono::{DateTime, Utc};
use writ_api as api;
use writ_app::query::Evidence;
use writ_core::audit::{AuditEvent, Checkpoint};
use writ_core::break_glass::{Origin, PostReview, UseVerdict};
use writ_core::catalog::Entitlement;
use writ_core::grant::{Grant, GrantState};
use writ_core::identity::{Identity, IdentityDiff};
use writ_core::request::Request;
use writ_core::task::{FulfilmentTask, TaskState};

fn fulfilment(e: &writ_core::ids::EntitlementId, f: &writ_core::fulfilment::TargetFulfilment) -> api::FulfilmentView {
    use writ_core::fulfilment::TargetFulfilment as F;
    let mut v = api::FulfilmentView {
        entitlement: e.to_string(),
        status: f.as_str().to_owned(),
        error: None,
        attempts: None,
        next_attempt_at: None,
        at: None,
        read_back: None,
        task: None,
    };
    match f {
        F::Queued => {}
        F::WithPerson { task } => v.task = Some(task.to_string()),
        F::Retrying { attempts, error, next_at } => {
            v.attempts = Some(*attempts);
            v.error = Some(error.clone());
            v.next_attempt_at = Some(*next_at);
        }
        F::Done { at, read_back } => {
            v.at = Some(*at);
            v.read_back = Some(*read_back);
        }
        F::Failed { error, at } => {
            v.error = Some(error.clone());
            v.at = Some(*at);
        }
    }
    v
}

/// A request as the API shows it; `now` settles whether a break-glass review is overdue.
pub fn request(r: &Request, now: DateTime<Utc>) -> api::RequestView {
    let (extends_grant, extends_request) = match r.origin() {
        Origin::Extension { grant, request } => (Some(grant.to_string()), Some(request.to_string())),
        _ => (None, None),
    };
    let reviews_grant = match r.origin() {
        Origin::Moved { grant } => Some(grant.to_string()),
        _ => None,
    };
    api::RequestView {
        origin: r.origin().as_str().to_owned(),
        reviews_grant,
        extends_grant,
        extends_request,
        post_review: r.post_review().map(|p| post_review(p, now)),
        id: r.id().to_string(),
        state: r.state().as_str().to_owned(),
        requester: r.requester().to_string(),
        subject: r.subject().to_string(),
        entitlements: r.entitlements().iter().map(ToString::to_string).collect(),
        justification: r.justification().to_owned(),
        duration: r.duration().to_string(),
        ticket: r.ticket().map(str::to_owned),
        request_type: r.request_type().to_string(),
        rerouted: r.rerouted(),
        created_at: r.created_at(),
        lapses_at: r.lapses_at(),
        updated_at: r.updated_at(),
        outcome_reason: r.outcome_reason().map(str::to_owned),
        fulfilment: r.fulfilment().iter().map(|(e, f)| fulfilment(e, f)).collect(),
        stages: r
            .tracks()
            .iter()
            .flat_map(|t| {
                t.stages.iter().map(move |s| api::StageView {
                    entitlement: t.entitlement.to_string(),
                    name: s.spec.name.clone(),
                    approvers: s.spec.approvers.to_string(),
                    required: s.spec.required,
                    approvals: s.approvals.iter().map(ToString::to_string).collect(),
                    passed: s.is_passed(),
                    sla: s.spec.sla.map(|d| d.to_string()),
                    reminded_at: s.reminded_at,
                    escalated_to: s.escalated.as_ref().map(|e| e.to.to_string()),
                })
            })
            .collect(),
        reviews: r
            .reviews()
            .iter()
            .map(|rv| api::ReviewView {
                reviewer: rv.reviewer.to_string(),
                verdict: rv.verdict.as_str().to_owned(),
                reason: rv.reason.clone(),
                at: rv.at,
                counted: rv.counted.iter().map(|c| format!("{}/{}", c.entitlement, c.stage)).collect(),
            })
            .collect(),
        decisions: r
            .decisions()
            .iter()
            .map(|d| api::DecisionView {
                action: d.action.clone(),
                entitlement: d.entitlement.to_string(),
                principal: d.principal.to_string(),
                allowed: d.allowed,
                policy_ids: d.policy_ids.clone(),
                errors: d.errors.clone(),
                at: d.at,
                inputs: d.inputs.clone(),
            })
            .collect(),
        version: r.version(),
    }
}

pub fn task(t: &FulfilmentTask) -> api::TaskView {
    let (completed_by, completed_at, evidence) = match t.state() {
        TaskState::Done { by, evidence, at } => (Some(by.to_string()), Some(*at), Some(evidence.clone())),
        _ => (None, None, None),
    };
    api::TaskView {
        id: t.id().to_string(),
        request_id: t.request_id().to_string(),
        subject: t.subject().to_string(),
        entitlement: t.entitlement().to_string(),
        fulfiller_group: t.fulfiller_group().to_string(),
        purpose: match t.purpose() {
            writ_core::task::TaskPurpose::Grant => "grant".to_owned(),
            writ_core::task::TaskPurpose::Revoke { .. } => "revoke".to_owned(),
        },
        state: t.state().as_str().to_owned(),
        created_at: t.created_at(),
        completed_by,
        completed_at,
        evidence,
    }
}

/// `overdue`: whether a revoking grant is past the configured window (the app decides).
pub fn grant(g: &Grant, overdue: bool) -> api::GrantView {
    let ending = |e: &writ_core::grant::Ending| match e {
        writ_core::grant::Ending::Expiry => "expiry".to_owned(),
        writ_core::grant::Ending::Early { by, reason } => format!("revoked by `{by}`: {reason}"),
    };
    let removal = match g.state() {
        GrantState::Revoking { since, ending: why, attempts, last_error, next_at, .. } => Some(api::RemovalView {
            since: *since,
            ending: ending(why),
            attempts: *attempts,
            last_error: last_error.clone(),
            next_attempt_at: *next_at,
            overdue,
        }),
        _ => None,
    };
    let (ended_at, ended_reason) = match g.state() {
        GrantState::Active | GrantState::Revoking { .. } => (None, None),
        GrantState::Expired { at } => (Some(*at), Some("expired".to_owned())),
        GrantState::Revoked { at, by, reason } => (Some(*at), Some(format!("revoked by `{by}`: {reason}"))),
    };
    api::GrantView {
        id: g.id().to_string(),
        request_id: g.request_id().to_string(),
        subject: g.subject().to_string(),
        entitlement: g.entitlement().to_string(),
        state: g.state().as_str().to_owned(),
        starts_at: g.starts_at(),
        expires_at: g.expires_at(),
        ended_at,
        ended_reason,
        removal,
    }
}

pub fn event(e: &AuditEvent) -> api::AuditEventView {
    api::AuditEventView {
        seq: e.seq,
        at: e.at,
        actor: e.actor.clone(),
        kind: e.kind.clone(),
        request_id: e.request_id.clone(),
        payload: e.payload.clone(),
        prev_hash: e.prev_hash.to_string(),
        hash: e.hash.to_string(),
    }
}

pub fn checkpoint(c: &Checkpoint) -> api::CheckpointView {
    api::CheckpointView { size: c.size, head: c.head.to_string(), at: c.at, public_key: hex::encode(c.public_key), signature: hex::encode(c.signature) }
}

fn post_review(p: &PostReview, now: DateTime<Utc>) -> api::PostReviewView {
    let status = p.status(now);
    let verdict = p.verdict.as_ref();
    api::PostReviewView {
        status: status.as_str().to_owned(),
        exception: status.is_exception(),
        reviewers: p.reviewers.iter().map(ToString::to_string).collect(),
        due_at: p.due_at,
        verdict: verdict.map(|(v, _)| match v {
            UseVerdict::Accept => "accept".to_owned(),
            UseVerdict::Reject => "reject".to_owned(),
        }),
        reviewed_by: verdict.map(|(_, n)| n.by.to_string()),
        review_note: verdict.map(|(_, n)| n.text.clone()),
        reviewed_at: verdict.map(|(_, n)| n.at),
        resolved_by: p.resolution.as_ref().map(|n| n.by.to_string()),
        resolution_note: p.resolution.as_ref().map(|n| n.text.clone()),
        resolved_at: p.resolution.as_ref().map(|n| n.at),
    }
}

pub fn evidence(e: &Evidence, now: DateTime<Utc>, overdue: impl Fn(&Grant) -> bool) -> api::EvidenceView {
    api::EvidenceView {
        request: request(&e.request, now),
        tasks: e.tasks.iter().map(task).collect(),
        grants: e.grants.iter().map(|g| grant(g, overdue(g))).collect(),
        events: e.events.iter().map(event).collect(),
    }
}

pub fn entitlement(e: &Entitlement) -> api::CatalogEntitlement {
    api::CatalogEntitlement {
        id: e.id.to_string(),
        description: e.description.clone(),
        risk: e.risk.as_str().to_owned(),
        owners: e.owners.iter().map(ToString::to_string).collect(),
        max_duration: e.max_duration.to_string(),
        stages: e.stages.iter().map(|s| format!("{}: {} of {}", s.name, s.required, s.approvers)).collect(),
    }
}

/// An identity as the API shows it; `now` settles whether an owner-left flag is overdue.
pub fn identity(i: &Identity, version: u64, now: DateTime<Utc>) -> api::IdentityView {
    api::IdentityView {
        owner_left: i.owner_left.as_ref().map(|f| api::OwnerLeftView {
            owner: f.owner.to_string(),
            at: f.at,
            flagged_to: f.flagged_to.as_ref().map(ToString::to_string),
            due_at: f.due_at,
            overdue: f.is_overdue(now),
        }),
        id: i.id.to_string(),
        kind: i.kind.as_str().to_owned(),
        status: i.status.as_str().to_owned(),
        display_name: i.display_name.clone(),
        owner: i.owner.as_ref().map(ToString::to_string),
        manager: i.manager.as_ref().map(ToString::to_string),
        groups: i.groups.iter().map(ToString::to_string).collect(),
        version,
    }
}

/// An identity as an identities file's record (what `writ identity apply` sends).
pub fn identity_record(i: &Identity) -> api::IdentityRecord {
    api::IdentityRecord {
        id: i.id.to_string(),
        kind: i.kind.as_str().to_owned(),
        status: i.status.as_str().to_owned(),
        display_name: i.display_name.clone(),
        owner: i.owner.as_ref().map(ToString::to_string),
        manager: i.manager.as_ref().map(ToString::to_string),
        groups: i.groups.iter().map(ToString::to_string).collect(),
        attributes: i.attributes.clone(),
    }
}

pub fn identity_diff(d: &IdentityDiff, dry_run: bool) -> api::IdentityDiffView {
    api::IdentityDiffView {
        dry_run,
        created: d.created.iter().map(identity_record).collect(),
        changed: d
            .changed
            .iter()
            .map(|u| api::IdentityChangeView {
                id: u.identity.id.to_string(),
                changes: u.fields.iter().map(|f| api::FieldChangeView { field: f.field.as_str().to_owned(), from: f.from.clone(), to: f.to.clone() }).collect(),
            })
            .collect(),
        disabled: d.disabled.iter().map(|u| u.identity.id.to_string()).collect(),
        unchanged: d.unchanged as u64,
    }
}

pub fn run(r: &writ_app::ports::ReconcileRun) -> api::RunView {
    api::RunView {
        id: r.id.to_string(),
        target: r.target.to_string(),
        state: match r.state {
            writ_app::ports::RunState::Done => "done".into(),
            writ_app::ports::RunState::Failed => "failed".into(),
        },
        by: Some(r.by.clone()),
        started_at: Some(r.started_at),
        finished_at: Some(r.finished_at),
        live_rows: r.live_rows,
        counts: writ_core::reconcile::Situation::ALL.iter().map(|s| (s.as_str().to_owned(), r.counts.get(*s))).collect(),
        match_rate: (r.state == writ_app::ports::RunState::Done).then_some(r.match_rate),
        reactions: r.reactions.iter().map(|(s, a)| (s.clone(), a.as_str().to_owned())).collect(),
        actions: r.actions.clone(),
        error: r.error.clone(),
    }
}

/// A run still under way on this node: how far it got.
pub fn running(id: writ_core::ids::RunId, target: &writ_core::ids::TargetId, rows: u64) -> api::RunView {
    api::RunView {
        id: id.to_string(),
        target: target.to_string(),
        state: "running".into(),
        by: None,
        started_at: None,
        finished_at: None,
        live_rows: rows,
        counts: Default::default(),
        match_rate: None,
        reactions: Default::default(),
        actions: Default::default(),
        error: None,
    }
}

pub fn observation(o: &writ_app::ports::RunObservation) -> api::ObservationView {
    let ob = &o.observation;
    api::ObservationView {
        situation: ob.situation.as_str().to_owned(),
        account: ob.account.clone(),
        resource: ob.resource.clone(),
        identity: ob.identity.as_ref().map(ToString::to_string),
        grant: ob.grant.map(|g| g.to_string()),
        live_detail: ob.live_detail.clone(),
        expected: ob.expected.clone(),
        note: ob.note.clone(),
        action: o.action.as_ref().map(|a| api::ActionView {
            reaction: a.reaction.as_str().to_owned(),
            request: a.request.map(|r| r.to_string()),
            grant: a.grant.map(|g| g.to_string()),
            outcome: a.outcome.clone(),
        }),
    }
}

/// A token's record as of `now` (its status depends on the time).
pub fn token(t: &writ_core::token::Token, now: DateTime<Utc>) -> api::TokenView {
    api::TokenView {
        id: t.id.to_string(),
        identity: t.identity.to_string(),
        owner: t.owner.to_string(),
        created_by: t.created_by.clone(),
        name: t.name.clone(),
        scope: t.scope.map(|s| s.as_str().to_owned()),
        status: t.status(now).as_str().to_owned(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked.as_ref().map(|r| r.at),
        revoked_by: t.revoked.as_ref().map(|r| r.by.clone()),
        last_used_at: t.last_used_at,
    }
}

/// A ticket as the API shows it.
pub fn ticket(t: &writ_core::ticket::Ticket, catalog: &writ_core::catalog::Catalog) -> api::TicketView {
    use writ_core::ticket::TicketState as S;
    let state = t.state();
    let request_type = state.request_type().map(ToString::to_string);
    let route = state.request_type().and_then(|id| catalog.request_type(id).ok()).map(|k| k.route.as_str().to_owned());
    let (missing, request_id, proofed_by, resolution) = match state {
        S::NeedsDetails { missing, .. } => (missing.iter().map(|f| f.as_str().to_owned()).collect(), None, None, None),
        S::Filed { request, .. } => (Vec::new(), Some(request.to_string()), None, None),
        S::Proofed { proofing, .. } => (Vec::new(), None, Some(proofing.by.to_string()), None),
        S::Resolved { proofing, resolution, .. } => (Vec::new(), None, Some(proofing.by.to_string()), Some(resolution.clone())),
        S::Triage | S::HelpDesk { .. } => (Vec::new(), None, None, None),
    };
    let a = t.arrival();
    api::TicketView {
        id: t.id().to_string(),
        source: a.source.clone(),
        external_ref: a.external_ref.clone(),
        requester: a.requester.to_string(),
        subject: a.subject.clone(),
        body: a.body.clone(),
        state: state.as_str().to_owned(),
        request_type,
        route,
        predicted: t.prediction().map(|p| p.request_type.to_string()),
        confidence: t.prediction().map(|p| p.confidence),
        triaged_as: t.triage_choice().map(|c| c.chosen.to_string()),
        triage_agreed: t.triage_choice().map(|c| c.agreed),
        missing,
        request_id,
        rerouted: t.rerouted(),
        proofed_by,
        resolution,
        created_at: t.created_at(),
        updated_at: t.updated_at(),
        already_taken: false,
        not_filed: None,
    }
}
