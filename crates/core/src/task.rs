//! Manual fulfilment: for targets without an API, a person in the fulfiller group
//! puts the access in place by hand and records evidence of what they did.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::Identity;
use crate::ids::{EntitlementId, GrantId, GroupId, IdentityId, RequestId, TaskId};
use crate::DomainError;

/// What the fulfiller is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskPurpose {
    /// Put the access in place.
    #[default]
    Grant,
    /// Take away the access of `grant` (it expired or was revoked).
    Revoke { grant: GrantId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskState {
    Open,
    Done { by: IdentityId, evidence: String, at: DateTime<Utc> },
    Cancelled { at: DateTime<Utc> },
}

impl TaskState {
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskState::Open => "open",
            TaskState::Done { .. } => "done",
            TaskState::Cancelled { .. } => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilmentTask {
    id: TaskId,
    request_id: RequestId,
    subject: IdentityId,
    entitlement: EntitlementId,
    fulfiller_group: GroupId,
    created_at: DateTime<Utc>,
    #[serde(default)]
    purpose: TaskPurpose,
    state: TaskState,
    version: u64,
}

impl FulfilmentTask {
    pub fn open(id: TaskId, request_id: RequestId, subject: IdentityId, entitlement: EntitlementId, fulfiller_group: GroupId, now: DateTime<Utc>) -> Self {
        Self { id, request_id, subject, entitlement, fulfiller_group, created_at: now, purpose: TaskPurpose::Grant, state: TaskState::Open, version: 0 }
    }

    /// A task to take away by hand the access of `grant`, on a manual target.
    pub fn open_revocation(id: TaskId, grant: &crate::grant::Grant, fulfiller_group: GroupId, now: DateTime<Utc>) -> Self {
        Self {
            purpose: TaskPurpose::Revoke { grant: grant.id() },
            ..Self::open(id, grant.request_id(), grant.subject().clone(), grant.entitlement().clone(), fulfiller_group, now)
        }
    }

    pub fn purpose(&self) -> &TaskPurpose {
        &self.purpose
    }

    pub fn id(&self) -> TaskId {
        self.id
    }
    pub fn request_id(&self) -> RequestId {
        self.request_id
    }
    pub fn subject(&self) -> &IdentityId {
        &self.subject
    }
    pub fn entitlement(&self) -> &EntitlementId {
        &self.entitlement
    }
    pub fn fulfiller_group(&self) -> &GroupId {
        &self.fulfiller_group
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    pub fn state(&self) -> &TaskState {
        &self.state
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn is_open(&self) -> bool {
        self.state == TaskState::Open
    }

    /// Records that `by` put the access in place. `approvers` are the request's
    /// approvers: none of them may fulfil it (approver ≠ fulfiller).
    pub fn complete<'a>(
        &mut self,
        by: &Identity,
        evidence: &str,
        mut approvers: impl Iterator<Item = &'a IdentityId>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if !self.is_open() {
            return Err(DomainError::IllegalTransition { entity: "task", state: self.state.as_str().into(), action: "complete" });
        }
        by.require_accountable("fulfil")?;
        if !by.in_group(&self.fulfiller_group) {
            return Err(DomainError::NotAFulfiller { fulfiller: by.id.to_string(), group: self.fulfiller_group.to_string() });
        }
        if by.id == self.subject {
            return Err(DomainError::Forbidden { who: by.id.to_string(), action: "fulfil this task", reason: "nobody provisions their own access".into() });
        }
        if approvers.any(|a| a == &by.id) {
            return Err(DomainError::FulfillerIsApprover { fulfiller: by.id.to_string() });
        }
        let evidence = crate::text::required(
            "evidence",
            evidence,
            crate::text::MAX_EVIDENCE,
            "describe what was changed in the target (e.g. the command run and its output)",
        )?;
        self.state = TaskState::Done { by: by.id.clone(), evidence, at: now };
        self.version += 1;
        Ok(())
    }

    /// The request ended before fulfilment (e.g. cancelled).
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if !self.is_open() {
            return Err(DomainError::IllegalTransition { entity: "task", state: self.state.as_str().into(), action: "cancel" });
        }
        self.state = TaskState::Cancelled { at: now };
        self.version += 1;
        Ok(())
    }
}
