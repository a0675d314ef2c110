//! Grants: the access an approved request produced. A grant's clock starts when the
//! access is actually in place, not when it was requested. History is never deleted:
//! an expired or revoked grant keeps its record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::AccessDuration;
use crate::ids::{EntitlementId, GrantId, IdentityId, RequestId};
use crate::DomainError;

/// Why a grant ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ending {
    /// It reached its expiry.
    Expiry,
    /// Someone ended it early, with a reason.
    Early { by: IdentityId, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GrantState {
    Active,
    /// Ended in Writ; the access is being removed from the target and is
    /// still there until a read-back (or a fulfiller's evidence) shows it gone.
    Revoking {
        since: DateTime<Utc>,
        ending: Ending,
        /// Failed removal attempts so far, the last error and the next try.
        attempts: u32,
        last_error: Option<String>,
        next_at: Option<DateTime<Utc>>,
        /// Being overdue was recorded (once: one event, one notification).
        #[serde(default)]
        overdue_noted: bool,
    },
    /// Reached its expiry and the removal was proved.
    Expired {
        at: DateTime<Utc>,
    },
    /// Ended early and the removal was proved.
    Revoked {
        at: DateTime<Utc>,
        by: IdentityId,
        reason: String,
    },
}

impl GrantState {
    pub fn as_str(&self) -> &'static str {
        match self {
            GrantState::Active => "active",
            GrantState::Revoking { .. } => "revoking",
            GrantState::Expired { .. } => "expired",
            GrantState::Revoked { .. } => "revoked",
        }
    }

    /// The access may still be on the target: active, or not yet proved removed.
    pub fn holds_access(&self) -> bool {
        matches!(self, GrantState::Active | GrantState::Revoking { .. })
    }
}

/// What reconciliation found on the target that contradicts the grant's
/// state: the access of an active grant gone, or an ended grant's access back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Drift {
    /// Active, but the target does not show the access (since `since`).
    Missing { since: DateTime<Utc> },
    /// Ended, but the target shows the access again (since `since`).
    LiveAfterEnd { since: DateTime<Utc> },
}

impl Drift {
    pub fn as_str(&self) -> &'static str {
        match self {
            Drift::Missing { .. } => "missing",
            Drift::LiveAfterEnd { .. } => "live_after_end",
        }
    }
}

/// A change in what the target shows of a grant: each is an event in the
/// grant's request's evidence chain, so the chain keeps telling the truth
/// after the request closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftChange {
    /// An active grant's access disappeared from the target.
    Disappeared,
    /// It is back (re-provisioned, or restored by hand).
    Restored,
    /// An ended grant's access is on the target again.
    Reappeared,
    /// That access is gone again.
    GoneAgain,
}

impl DriftChange {
    pub fn event_kind(self) -> &'static str {
        match self {
            DriftChange::Disappeared => "grant.access_disappeared",
            DriftChange::Restored => "grant.access_restored",
            DriftChange::Reappeared => "grant.access_reappeared",
            DriftChange::GoneAgain => "grant.access_gone_again",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    id: GrantId,
    request_id: RequestId,
    subject: IdentityId,
    entitlement: EntitlementId,
    starts_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    state: GrantState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    drift: Option<Drift>,
    version: u64,
}

impl Grant {
    /// Access went in place at `now`; it lasts `duration` from then.
    pub fn start(id: GrantId, request_id: RequestId, subject: IdentityId, entitlement: EntitlementId, duration: AccessDuration, now: DateTime<Utc>) -> Self {
        Self { id, request_id, subject, entitlement, starts_at: now, expires_at: now + duration.as_delta(), state: GrantState::Active, drift: None, version: 0 }
    }

    pub fn drift(&self) -> Option<&Drift> {
        self.drift.as_ref()
    }

    /// Records whether reconciliation saw the access on the target at `now`.
    /// Returns the change if this contradicts (or stops contradicting) the
    /// grant's state; a grant being revoked may still show either way.
    pub fn observe_on_target(&mut self, live: bool, now: DateTime<Utc>) -> Option<DriftChange> {
        let change = match (&self.state, live, self.drift) {
            (GrantState::Active, false, None) => {
                self.drift = Some(Drift::Missing { since: now });
                DriftChange::Disappeared
            }
            (GrantState::Active, true, Some(Drift::Missing { .. })) => {
                self.drift = None;
                DriftChange::Restored
            }
            (GrantState::Expired { .. } | GrantState::Revoked { .. }, true, None) => {
                self.drift = Some(Drift::LiveAfterEnd { since: now });
                DriftChange::Reappeared
            }
            (GrantState::Expired { .. } | GrantState::Revoked { .. }, false, Some(Drift::LiveAfterEnd { .. })) => {
                self.drift = None;
                DriftChange::GoneAgain
            }
            _ => return None,
        };
        self.version += 1;
        Some(change)
    }

    pub fn id(&self) -> GrantId {
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
    pub fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
    pub fn state(&self) -> &GrantState {
        &self.state
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    /// When its removal started, while it is revoking.
    pub fn removal_since(&self) -> Option<DateTime<Utc>> {
        match &self.state {
            GrantState::Revoking { since, .. } => Some(*since),
            _ => None,
        }
    }

    /// Active and not past its expiry at `now`.
    pub fn is_in_force(&self, now: DateTime<Utc>) -> bool {
        self.state == GrantState::Active && now < self.expires_at
    }

    fn illegal(&self, action: &'static str) -> DomainError {
        DomainError::IllegalTransition { entity: "grant", state: self.state.as_str().into(), action }
    }

    /// The grant reached its expiry: its access is to be removed.
    pub fn begin_expiry(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.state != GrantState::Active || now < self.expires_at {
            return Err(self.illegal("expire"));
        }
        self.begin_ending(Ending::Expiry, now);
        Ok(())
    }

    /// `by` ends the grant early, with a reason: its access is to be removed.
    pub fn begin_revocation(&mut self, by: IdentityId, reason: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.state != GrantState::Active {
            return Err(self.illegal("revoke"));
        }
        let reason = crate::text::required("reason", reason, crate::text::MAX_TEXT, "a revocation needs a reason")?;
        self.begin_ending(Ending::Early { by, reason }, now);
        Ok(())
    }

    fn begin_ending(&mut self, ending: Ending, now: DateTime<Utc>) {
        // A missing access is moot once the grant ends.
        self.drift = None;
        self.state = GrantState::Revoking { since: now, ending, attempts: 0, last_error: None, next_at: None, overdue_noted: false };
        self.version += 1;
    }

    /// A removal attempt failed; it is tried again at `next_at`.
    pub fn record_removal_failure(&mut self, error: &str, next_at: DateTime<Utc>) -> Result<(), DomainError> {
        let GrantState::Revoking { attempts, last_error, next_at: next, .. } = &mut self.state else {
            return Err(self.illegal("record a removal attempt of"));
        };
        *attempts += 1;
        *last_error = Some(error.to_owned());
        *next = Some(next_at);
        self.version += 1;
        Ok(())
    }

    /// Records, once, that the removal is overdue (`window` after it began).
    pub fn note_removal_overdue(&mut self, window: chrono::TimeDelta, now: DateTime<Utc>) -> Result<(), DomainError> {
        match &mut self.state {
            GrantState::Revoking { since, overdue_noted, .. } if !*overdue_noted && now - *since >= window => {
                *overdue_noted = true;
                self.version += 1;
                Ok(())
            }
            _ => Err(self.illegal("note an overdue removal of")),
        }
    }

    /// A person closes a removal the target keeps failing, attesting with
    /// `evidence` that the access is gone (e.g. removed by hand). Ends the grant
    /// like a proved removal; whether that is allowed yet is the caller's rule.
    pub fn close_removal_by_hand(&mut self, evidence: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        crate::text::required(
            "evidence",
            evidence,
            crate::text::MAX_EVIDENCE,
            "say how the access was removed (the command run, the ticket, what you checked)",
        )?;
        self.finish_removal(now)
    }

    /// The removal was proved (read back, or attested with evidence): the grant
    /// is expired or revoked, as its ending says.
    pub fn finish_removal(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        let GrantState::Revoking { ending, .. } = &self.state else {
            return Err(self.illegal("finish the removal of"));
        };
        self.state = match ending.clone() {
            Ending::Expiry => GrantState::Expired { at: now },
            Ending::Early { by, reason } => GrantState::Revoked { at: now, by, reason },
        };
        self.version += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    fn grant() -> Grant {
        Grant::start(
            GrantId::from_uuid(Uuid::from_u128(1)),
            RequestId::from_uuid(Uuid::from_u128(2)),
            IdentityId::parse("alice").unwrap(),
            EntitlementId::parse("pg-prod/readonly").unwrap(),
            AccessDuration::parse("1h").unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        )
    }

    #[test]
    fn the_clock_starts_when_access_is_in_place() {
        let g = grant();
        assert_eq!(g.expires_at() - g.starts_at(), TimeDelta::hours(1));
        assert!(g.is_in_force(g.starts_at()));
        assert!(!g.is_in_force(g.expires_at()));
    }

    #[test]
    fn expiry_and_revocation_keep_the_record_and_end_only_once_removal_is_proved() {
        let mut g = grant();
        assert!(g.begin_expiry(g.starts_at()).is_err(), "not before its time");
        let mut r = g.clone();
        assert!(r.begin_revocation(IdentityId::parse("sam").unwrap(), " ", g.starts_at()).is_err(), "needs a reason");
        r.begin_revocation(IdentityId::parse("sam").unwrap(), "left the team", g.starts_at()).unwrap();
        assert_eq!(r.state().as_str(), "revoking");
        assert!(r.state().holds_access(), "until the removal is proved");
        r.record_removal_failure("connection refused", g.starts_at() + TimeDelta::seconds(2)).unwrap();
        assert!(r.note_removal_overdue(TimeDelta::minutes(15), g.starts_at()).is_err(), "not yet overdue");
        r.note_removal_overdue(TimeDelta::minutes(15), g.starts_at() + TimeDelta::minutes(15)).unwrap();
        assert!(r.note_removal_overdue(TimeDelta::minutes(15), g.starts_at() + TimeDelta::minutes(16)).is_err(), "noted once");
        assert!(matches!(r.state(), GrantState::Revoking { attempts: 1, .. }));
        r.finish_removal(g.starts_at()).unwrap();
        assert_eq!(r.state().as_str(), "revoked");
        assert!(!r.state().holds_access());
        assert_eq!(r.expires_at(), g.expires_at());
        g.begin_expiry(g.expires_at()).unwrap();
        assert!(g.begin_revocation(IdentityId::parse("sam").unwrap(), "late", g.expires_at()).is_err());
        g.finish_removal(g.expires_at()).unwrap();
        assert_eq!(g.state().as_str(), "expired");
        assert!(g.finish_removal(g.expires_at()).is_err(), "ends once");
    }

    #[test]
    fn drift_is_recorded_once_per_change_and_only_when_it_contradicts_the_state() {
        let mut g = grant();
        let t = g.starts_at();
        assert_eq!(g.observe_on_target(true, t), None, "active and shown: nothing to say");
        assert_eq!(g.observe_on_target(false, t), Some(DriftChange::Disappeared));
        assert_eq!(g.observe_on_target(false, t), None, "said once");
        assert_eq!(g.observe_on_target(true, t), Some(DriftChange::Restored));
        g.begin_expiry(g.expires_at()).unwrap();
        assert_eq!(g.observe_on_target(true, t), None, "being removed: either is fine");
        g.finish_removal(g.expires_at()).unwrap();
        assert_eq!(g.observe_on_target(false, t), None);
        assert_eq!(g.observe_on_target(true, t), Some(DriftChange::Reappeared));
        assert_eq!(g.drift().map(Drift::as_str), Some("live_after_end"));
        assert_eq!(g.observe_on_target(false, t), Some(DriftChange::GoneAgain));
        assert_eq!(g.drift(), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Expire(i64),
        Revoke(i64),
        Fail,
        Finish,
        NoteOverdue(i64),
    }

    proptest! {
        /// No sequence of operations at any times revives an ended grant, ends one
        /// before its removal was proved, or changes it on a refused call.
        #[test]
        fn no_sequence_revives_or_corrupts_a_grant(ops in proptest::collection::vec(prop_oneof![
            (-120i64..240).prop_map(Op::Expire),
            (-120i64..240).prop_map(Op::Revoke),
            Just(Op::Fail),
            Just(Op::Finish),
            (-120i64..240).prop_map(Op::NoteOverdue),
        ], 1..20)) {
            let mut g = grant();
            for op in ops {
                let before = g.clone();
                let r = match op {
                    Op::Expire(m) => g.begin_expiry(g.starts_at() + TimeDelta::minutes(m)),
                    Op::Revoke(m) => g.begin_revocation(IdentityId::parse("sam").unwrap(), "why", g.starts_at() + TimeDelta::minutes(m)),
                    Op::Fail => g.record_removal_failure("down", g.expires_at()),
                    Op::Finish => g.finish_removal(g.expires_at()),
                    Op::NoteOverdue(m) => g.note_removal_overdue(TimeDelta::minutes(15), g.starts_at() + TimeDelta::minutes(m)),
                };
                match r {
                    Err(_) => prop_assert_eq!(&g, &before),
                    Ok(()) => {
                        prop_assert_eq!(g.version(), before.version() + 1);
                        prop_assert!(before.state().holds_access(), "an ended grant changed again");
                        if !g.state().holds_access() {
                            prop_assert_eq!(before.state().as_str(), "revoking", "ended without a proved removal");
                        }
                    }
                }
            }
        }
    }
}
