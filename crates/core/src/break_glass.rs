//! Where a request comes from, and the review after the fact that every
//! break-glass use owes.
//!
//! Break-glass grants access at once, without approval, when policy allows it
//! for that entitlement, identity and duration. In exchange it opens a
//! [`PostReview`]: one of the named reviewers must accept or reject the use by
//! a deadline. A review past its deadline, or one that rejects the use, is an
//! **exception** and stays listed until it is settled (the late review done, or
//! the rejected use resolved with a note).
//!
//! ```text
//!   awaiting ──accept──▶ accepted
//!      │ deadline passes ─▶ overdue ──accept──▶ accepted (late: an exception until then)
//!      └──reject──▶ rejected ──resolve(note)──▶ resolved
//!      overdue ──reject──▶ rejected
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::identity::Identity;
use crate::ids::{GrantId, IdentityId, RequestId, RunId};
use crate::DomainError;

/// How a request came to be.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Asked for, approved through its stages (or by policy).
    #[default]
    Standard,
    /// The holder of `grant` (from `request`) asks to keep the access longer:
    /// a new request through policy and approval, never an edit of the expiry.
    Extension { grant: GrantId, request: RequestId },
    /// Emergency access, granted at once and reviewed afterwards.
    BreakGlass,
    /// Opened by reconciliation `run` about access found on a target
    /// (`situation`): to remove it, to adopt it, or for its owners to review.
    Reconciliation { run: RunId, situation: String },
    /// Opened because the holder of `grant` moved (its groups or manager
    /// changed) and policy no longer allows that access: the entitlement's
    /// owners decide. Approved, a new grant (verified on the target) replaces
    /// `grant`; denied or lapsed, `grant` is revoked.
    Moved { grant: GrantId },
}

impl Origin {
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Standard => "standard",
            Origin::Extension { .. } => "extension",
            Origin::BreakGlass => "break_glass",
            Origin::Reconciliation { .. } => "reconciliation",
            Origin::Moved { .. } => "moved",
        }
    }
}

/// What the reviewer of a break-glass use concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UseVerdict {
    /// The emergency justified the access.
    Accept,
    /// It did not: an exception until someone resolves it.
    Reject,
}

/// A person's signed-off note, with when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub by: IdentityId,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// Where a post-event review stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Awaiting,
    Overdue,
    Accepted,
    Rejected,
    Resolved,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Awaiting => "awaiting",
            ReviewStatus::Overdue => "overdue",
            ReviewStatus::Accepted => "accepted",
            ReviewStatus::Rejected => "rejected",
            ReviewStatus::Resolved => "resolved",
        }
    }

    /// Overdue or rejected: listed as an exception until settled.
    pub fn is_exception(self) -> bool {
        matches!(self, ReviewStatus::Overdue | ReviewStatus::Rejected)
    }
}

/// The review a break-glass use owes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostReview {
    /// Who may do it (the entitlements' owners, never the one who broke the glass).
    pub reviewers: Vec<IdentityId>,
    pub due_at: DateTime<Utc>,
    pub verdict: Option<(UseVerdict, Note)>,
    /// How a rejected use was settled.
    pub resolution: Option<Note>,
    /// The deadline passing was recorded (once: one event, one notification).
    #[serde(default)]
    pub overdue_noted: bool,
}

fn note_text(text: &str, field: &str) -> Result<String, DomainError> {
    crate::text::required(field, text, crate::text::MAX_TEXT, "say what you checked")
}

impl PostReview {
    /// A review by any of `reviewers`, due at `due_at`. There must be someone.
    pub fn open(reviewers: Vec<IdentityId>, due_at: DateTime<Utc>) -> Result<Self, DomainError> {
        if reviewers.is_empty() {
            return Err(DomainError::invalid(
                "break-glass",
                "nobody could review this use afterwards: the entitlements' owners are only the people involved; add another owner in the catalog",
            ));
        }
        Ok(Self { reviewers, due_at, verdict: None, resolution: None, overdue_noted: false })
    }

    pub fn status(&self, now: DateTime<Utc>) -> ReviewStatus {
        match (&self.verdict, &self.resolution) {
            (Some((UseVerdict::Accept, _)), _) => ReviewStatus::Accepted,
            (Some((UseVerdict::Reject, _)), None) => ReviewStatus::Rejected,
            (Some((UseVerdict::Reject, _)), Some(_)) => ReviewStatus::Resolved,
            (None, _) if now >= self.due_at => ReviewStatus::Overdue,
            (None, _) => ReviewStatus::Awaiting,
        }
    }

    /// From when this review is an exception while it stays open: at once if
    /// rejected (until resolved), at its deadline while it awaits a verdict;
    /// never once accepted or resolved.
    pub fn exception_from(&self) -> Option<DateTime<Utc>> {
        match (&self.verdict, &self.resolution) {
            (Some((UseVerdict::Reject, _)), None) => Some(DateTime::UNIX_EPOCH),
            (None, _) => Some(self.due_at),
            _ => None,
        }
    }

    /// Still needs someone: not yet reviewed, or rejected and not resolved.
    pub fn is_open(&self) -> bool {
        self.verdict.is_none() || matches!(self.verdict, Some((UseVerdict::Reject, _))) && self.resolution.is_none()
    }

    /// `reviewer` must be one of the named reviewers and not involved in the use.
    fn check_reviewer(&self, reviewer: &Identity, involved: &[&IdentityId], action: &'static str) -> Result<(), DomainError> {
        reviewer.require_accountable(action)?;
        if involved.contains(&&reviewer.id) {
            return Err(DomainError::Forbidden {
                who: reviewer.id.to_string(),
                action,
                reason: "they broke the glass or hold the access: another reviewer must".into(),
            });
        }
        if !self.reviewers.contains(&reviewer.id) {
            let names: Vec<String> = self.reviewers.iter().map(|r| format!("`{r}`")).collect();
            return Err(DomainError::Forbidden { who: reviewer.id.to_string(), action, reason: format!("the named reviewers are {}", names.join(", ")) });
        }
        Ok(())
    }

    /// One of the named reviewers accepts or rejects the use, with a note.
    pub fn review(&mut self, reviewer: &Identity, involved: &[&IdentityId], verdict: UseVerdict, note: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.verdict.is_some() {
            return Err(DomainError::IllegalTransition { entity: "break-glass review", state: self.status(now).as_str().into(), action: "review" });
        }
        self.check_reviewer(reviewer, involved, "review this break-glass use")?;
        let text = note_text(note, "note")?;
        self.verdict = Some((verdict, Note { by: reviewer.id.clone(), text, at: now }));
        Ok(())
    }

    /// A rejected use is settled: a named reviewer says what was done about it.
    pub fn resolve(&mut self, by: &Identity, involved: &[&IdentityId], note: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.status(now) != ReviewStatus::Rejected {
            return Err(DomainError::IllegalTransition { entity: "break-glass review", state: self.status(now).as_str().into(), action: "resolve" });
        }
        self.check_reviewer(by, involved, "resolve this break-glass exception")?;
        let text = note_text(note, "note")?;
        self.resolution = Some(Note { by: by.id.clone(), text, at: now });
        Ok(())
    }

    /// Records, once, that the deadline passed without a review.
    pub fn note_overdue(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.overdue_noted || self.status(now) != ReviewStatus::Overdue {
            return Err(DomainError::IllegalTransition { entity: "break-glass review", state: self.status(now).as_str().into(), action: "note overdue" });
        }
        self.overdue_noted = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::test_person as person;

    fn at(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + min * 60, 0).unwrap()
    }

    fn review() -> PostReview {
        PostReview::open(vec![IdentityId::parse("olivia").unwrap(), IdentityId::parse("oscar").unwrap()], at(60)).unwrap()
    }

    #[test]
    fn nobody_to_review_is_refused() {
        let e = PostReview::open(vec![], at(60)).unwrap_err();
        assert!(e.to_string().contains("add another owner"), "{e}");
    }

    #[test]
    fn awaiting_then_overdue_then_accepted_late() {
        let mut r = review();
        assert_eq!(r.status(at(59)), ReviewStatus::Awaiting);
        assert_eq!(r.status(at(60)), ReviewStatus::Overdue);
        assert!(r.status(at(61)).is_exception());
        assert!(r.note_overdue(at(59)).is_err(), "not yet due");
        r.note_overdue(at(61)).unwrap();
        assert!(r.note_overdue(at(62)).is_err(), "noted once");
        r.review(&person("oscar"), &[], UseVerdict::Accept, "incident INC-7, access matched the fix", at(90)).unwrap();
        assert_eq!(r.status(at(90)), ReviewStatus::Accepted);
        assert!(!r.is_open());
    }

    #[test]
    fn a_rejection_stays_an_exception_until_resolved() {
        let mut r = review();
        r.review(&person("olivia"), &[], UseVerdict::Reject, "no incident was open", at(5)).unwrap();
        assert_eq!(r.status(at(5)), ReviewStatus::Rejected);
        assert!(r.is_open() && r.status(at(500)).is_exception());
        assert!(r.review(&person("oscar"), &[], UseVerdict::Accept, "x", at(6)).is_err(), "reviewed once");
        assert!(r.resolve(&person("oscar"), &[], "  ", at(7)).is_err(), "a note is needed");
        r.resolve(&person("oscar"), &[], "talked to bob; access revoked", at(7)).unwrap();
        assert_eq!(r.status(at(7)), ReviewStatus::Resolved);
        assert!(!r.is_open());
    }

    #[test]
    fn only_named_uninvolved_reviewers_review() {
        let mut r = review();
        let bob = IdentityId::parse("bob").unwrap();
        let e = r.review(&person("sam"), &[&bob], UseVerdict::Accept, "fine", at(1)).unwrap_err();
        assert!(e.to_string().contains("`olivia`, `oscar`"), "{e}");
        let olivia = IdentityId::parse("olivia").unwrap();
        let e = r.review(&person("olivia"), &[&olivia], UseVerdict::Accept, "fine", at(1)).unwrap_err();
        assert!(e.to_string().contains("another reviewer"), "{e}");
        assert!(r.review(&person("oscar"), &[&bob], UseVerdict::Accept, "", at(1)).is_err(), "a note is needed");
        assert_eq!(r.verdict, None, "nothing changed");
    }
}
