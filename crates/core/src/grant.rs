//! Grants: the access an approved request produced. A grant's clock starts when the
//! access is actually in place, not when it was requested. History is never deleted:
//! an expired or revoked grant keeps its record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::AccessDuration;
use crate::ids::{EntitlementId, GrantId, IdentityId, RequestId};
use crate::DomainError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GrantState {
    Active,
    Expired { at: DateTime<Utc> },
    Revoked { at: DateTime<Utc>, by: IdentityId, reason: String },
}

impl GrantState {
    pub fn as_str(&self) -> &'static str {
        match self {
            GrantState::Active => "active",
            GrantState::Expired { .. } => "expired",
            GrantState::Revoked { .. } => "revoked",
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
    version: u64,
}

impl Grant {
    /// Access went in place at `now`; it lasts `duration` from then.
    pub fn start(
        id: GrantId,
        request_id: RequestId,
        subject: IdentityId,
        entitlement: EntitlementId,
        duration: AccessDuration,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            request_id,
            subject,
            entitlement,
            starts_at: now,
            expires_at: now + duration.as_delta(),
            state: GrantState::Active,
            version: 0,
        }
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
    /// Active and not past its expiry at `now`.
    pub fn is_in_force(&self, now: DateTime<Utc>) -> bool {
        self.state == GrantState::Active && now < self.expires_at
    }

    fn illegal(&self, action: &'static str) -> DomainError {
        DomainError::IllegalTransition { entity: "grant", state: self.state.as_str().into(), action }
    }

    /// The grant reached its expiry.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.state != GrantState::Active || now < self.expires_at {
            return Err(self.illegal("expire"));
        }
        self.state = GrantState::Expired { at: now };
        self.version += 1;
        Ok(())
    }

    /// Ended early by `by`, with a reason.
    pub fn revoke(&mut self, by: IdentityId, reason: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.state != GrantState::Active {
            return Err(self.illegal("revoke"));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(DomainError::invalid("reason", "a revocation needs a reason"));
        }
        self.state = GrantState::Revoked { at: now, by, reason: reason.to_owned() };
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
    fn expiry_and_revocation_keep_the_record() {
        let mut g = grant();
        assert!(g.expire(g.starts_at()).is_err(), "not before its time");
        let mut r = g.clone();
        assert!(r.revoke(IdentityId::parse("sam").unwrap(), " ", g.starts_at()).is_err(), "needs a reason");
        r.revoke(IdentityId::parse("sam").unwrap(), "left the team", g.starts_at()).unwrap();
        assert_eq!(r.state().as_str(), "revoked");
        assert_eq!(r.expires_at(), g.expires_at());
        g.expire(g.expires_at()).unwrap();
        assert!(g.revoke(IdentityId::parse("sam").unwrap(), "late", g.expires_at()).is_err());
    }

    proptest! {
        /// No sequence of expire/revoke calls at any times leaves a grant in force
        /// after it ended, revives an ended grant, or changes it on a refused call.
        #[test]
        fn no_sequence_revives_or_corrupts_a_grant(ops in proptest::collection::vec((any::<bool>(), -120i64..240), 1..20)) {
            let mut g = grant();
            let mut ended = false;
            for (revoke, minutes) in ops {
                let before = g.clone();
                let at = g.starts_at() + TimeDelta::minutes(minutes);
                let r = if revoke { g.revoke(IdentityId::parse("sam").unwrap(), "why", at) } else { g.expire(at) };
                match r {
                    Err(_) => prop_assert_eq!(&g, &before),
                    Ok(()) => {
                        prop_assert!(!ended, "an ended grant changed again");
                        prop_assert_eq!(g.version(), before.version() + 1);
                        ended = true;
                    }
                }
                if ended {
                    prop_assert!(!g.is_in_force(at) && g.state() != &GrantState::Active);
                }
            }
        }
    }
}
