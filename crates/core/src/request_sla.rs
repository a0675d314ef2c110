//! Approval service levels. A stage with an `sla` starts its clock when it
//! opens (at submission for a track's first stage, at the approval that
//! passed the one before for the others). At its reminder point its
//! approvers are reminded; at its SLA it is escalated, which lets the
//! escalation's people approve it too. Each step happens at most once per
//! stage, the reminder first, and only while the stage waits: the request
//! pending and not yet lapsed, the stage the open one of its track.
//!
//! ```text
//!   open ──remind_after──▶ reminded ──sla──▶ escalated ──(approvals)──▶ passed
//! ```

use chrono::{DateTime, Utc};

use super::{Request, RequestState};
use crate::catalog::{ApproverRule, Deadline, EscalateTo};
use crate::ids::{EntitlementId, IdentityId};
use crate::review::{Escalated, Escalation, Verdict};
use crate::DomainError;

/// A step of a stage's service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChaseStep {
    Remind,
    Escalate,
}

impl ChaseStep {
    pub fn as_str(self) -> &'static str {
        match self {
            ChaseStep::Remind => "remind",
            ChaseStep::Escalate => "escalate",
        }
    }
}

/// A step that is due on one open stage, with what it takes to carry it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaseDue {
    pub entitlement: EntitlementId,
    pub stage: String,
    pub step: ChaseStep,
    pub approvers: ApproverRule,
    /// The entitlement's owners (copied at submission): an escalation to
    /// `manager` of an owners' stage goes to their managers.
    pub owners: Vec<IdentityId>,
    pub opened_at: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub escalate_to: EscalateTo,
}

/// An open stage with a service level.
struct Clocked {
    track: usize,
    stage: usize,
    deadline: Deadline,
    opened_at: DateTime<Utc>,
}

impl Clocked {
    fn remind_at(&self) -> DateTime<Utc> {
        self.opened_at + self.deadline.remind_after
    }
    fn due_at(&self) -> DateTime<Utc> {
        self.opened_at + self.deadline.sla
    }
}

fn illegal(state: &str, action: &'static str) -> DomainError {
    DomainError::IllegalTransition { entity: "approval stage", state: state.to_owned(), action }
}

impl Request {
    /// When stage `si` of track `ti` opened: at submission for the first,
    /// else at the approval that passed the stage before it.
    fn stage_opened_at(&self, ti: usize, si: usize) -> DateTime<Utc> {
        let Some(prev) = si.checked_sub(1) else { return self.created_at };
        let track = &self.tracks[ti];
        let name = &track.stages[prev].spec.name;
        self.reviews
            .iter()
            .filter(|r| r.verdict == Verdict::Approve && r.counted.iter().any(|c| c.entitlement == track.entitlement && &c.stage == name))
            .map(|r| r.at)
            .max()
            .unwrap_or(self.created_at)
    }

    /// The open stages that have a service level, while the request is pending.
    fn clocked(&self) -> Vec<Clocked> {
        if self.state != RequestState::Pending {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            let Some(si) = t.current() else { continue };
            let Some(deadline) = t.stages[si].spec.deadline() else { continue };
            out.push(Clocked { track: ti, stage: si, deadline, opened_at: self.stage_opened_at(ti, si) });
        }
        out
    }

    /// The steps due at `now`, in the order they must be taken (a stage
    /// first reminded, then escalated, when both are due). Nothing once the
    /// request is decided, withdrawn or lapsed.
    pub fn chases_due(&self, now: DateTime<Utc>) -> Vec<ChaseDue> {
        if now >= self.lapses_at {
            return Vec::new();
        }
        let mut due = Vec::new();
        for c in self.clocked() {
            let (track, stage) = (&self.tracks[c.track], &self.tracks[c.track].stages[c.stage]);
            let step = |step| ChaseDue {
                entitlement: track.entitlement.clone(),
                stage: stage.spec.name.clone(),
                step,
                approvers: stage.spec.approvers.clone(),
                owners: track.owners.clone(),
                opened_at: c.opened_at,
                remind_at: c.remind_at(),
                due_at: c.due_at(),
                escalate_to: c.deadline.escalate_to.clone(),
            };
            if stage.reminded_at.is_none() && now >= c.remind_at() {
                due.push(step(ChaseStep::Remind));
            }
            if stage.escalated.is_none() && now >= c.due_at() {
                due.push(step(ChaseStep::Escalate));
            }
        }
        due
    }

    /// When the next step comes due, if one will (for the store's index:
    /// the sweep reads only the requests it has something to do for).
    pub fn next_chase_at(&self) -> Option<DateTime<Utc>> {
        self.clocked()
            .into_iter()
            .filter_map(|c| {
                let stage = &self.tracks[c.track].stages[c.stage];
                if stage.reminded_at.is_none() {
                    Some(c.remind_at())
                } else if stage.escalated.is_none() {
                    Some(c.due_at())
                } else {
                    None
                }
            })
            .min()
    }

    /// The earliest SLA of its open stages, while it is pending.
    pub fn sla_due_at(&self) -> Option<DateTime<Utc>> {
        self.clocked().iter().map(Clocked::due_at).min()
    }

    /// Pending with a stage waiting past its SLA.
    pub fn past_sla(&self, now: DateTime<Utc>) -> bool {
        self.sla_due_at().is_some_and(|d| now >= d)
    }

    /// The open stage `stage` of `entitlement`'s track, with its clock.
    fn clocked_stage(&self, entitlement: &EntitlementId, stage: &str, now: DateTime<Utc>, action: &'static str) -> Result<Clocked, DomainError> {
        if self.state != RequestState::Pending {
            return Err(self.illegal(action));
        }
        if now >= self.lapses_at {
            return Err(DomainError::Lapsed { at: self.lapses_at.to_rfc3339() });
        }
        let ti = self
            .tracks
            .iter()
            .position(|t| &t.entitlement == entitlement)
            .ok_or_else(|| DomainError::invalid("entitlement", format!("`{entitlement}` is not part of request `{}`", self.id)))?;
        let track = &self.tracks[ti];
        let Some(si) = track.stages.iter().position(|s| s.spec.name == stage) else {
            return Err(DomainError::invalid("stage", format!("`{entitlement}` has no stage `{stage}`")));
        };
        match track.current() {
            Some(open) if open == si => {}
            Some(open) if open < si => return Err(illegal("not yet open", action)),
            _ => return Err(illegal("passed", action)),
        }
        let deadline = track.stages[si]
            .spec
            .deadline()
            .ok_or_else(|| DomainError::invalid("stage", format!("`{entitlement}` stage `{stage}` has no `sla`: nothing to remind or escalate")))?;
        Ok(Clocked { track: ti, stage: si, deadline, opened_at: self.stage_opened_at(ti, si) })
    }

    /// Records that the approvers of open stage `stage` were reminded: once,
    /// from its reminder point on.
    pub fn remind_stage(&mut self, entitlement: &EntitlementId, stage: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        let c = self.clocked_stage(entitlement, stage, now, "remind")?;
        let progress = &self.tracks[c.track].stages[c.stage];
        if progress.reminded_at.is_some() {
            return Err(illegal("reminded", "remind"));
        }
        if now < c.remind_at() {
            return Err(illegal("within its reminder time", "remind"));
        }
        self.tracks[c.track].stages[c.stage].reminded_at = Some(now);
        self.updated_at = now;
        self.version += 1;
        Ok(())
    }

    /// Records that open stage `stage` passed its SLA and was escalated to
    /// `to`, who may approve it from now on: once, after the reminder, from
    /// its SLA on. `to` must be of the kind the stage configures; the
    /// requester and the subject are left out of it (they can never approve).
    pub fn escalate_stage(&mut self, entitlement: &EntitlementId, stage: &str, to: Escalated, now: DateTime<Utc>) -> Result<(), DomainError> {
        let c = self.clocked_stage(entitlement, stage, now, "escalate")?;
        let progress = &self.tracks[c.track].stages[c.stage];
        if progress.escalated.is_some() {
            return Err(illegal("escalated", "escalate"));
        }
        if progress.reminded_at.is_none() {
            return Err(illegal("not reminded", "escalate"));
        }
        if now < c.due_at() {
            return Err(illegal("within its SLA", "escalate"));
        }
        let to = match (&c.deadline.escalate_to, to) {
            (EscalateTo::Manager, Escalated::Managers { mut people }) => {
                people.retain(|p| p != &self.requester && p != &self.subject);
                people.sort();
                people.dedup();
                Escalated::Managers { people }
            }
            (EscalateTo::Group(want), Escalated::Group { group }) if want == &group => Escalated::Group { group },
            (want, got) => {
                return Err(DomainError::invalid("escalate_to", format!("`{entitlement}` stage `{stage}` escalates to `{want}`, not to {got}")));
            }
        };
        self.tracks[c.track].stages[c.stage].escalated = Some(Escalation { at: now, to });
        self.updated_at = now;
        self.version += 1;
        Ok(())
    }
}
