//! What reconciliation does about what it finds, per target and situation,
//! from config. Every reaction leaves evidence; `report` only reports.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::Situation;

/// One reaction to an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reaction {
    /// Only report it (the default for every situation).
    #[default]
    Report,
    /// Remove the live access through the normal revocation path (a removal
    /// job that reads back), recorded on a request of its own.
    Revoke,
    /// Put a missing grant's access back in place, with read-back.
    Reprovision,
    /// Open a request for the access, for the entitlement's owners to review.
    Review,
    /// Record the existing access as a grant, with the configured approver
    /// and reason: to bring an organisation's current state under Writ.
    Adopt,
}

impl Reaction {
    pub fn as_str(self) -> &'static str {
        match self {
            Reaction::Report => "report",
            Reaction::Revoke => "revoke",
            Reaction::Reprovision => "reprovision",
            Reaction::Review => "review",
            Reaction::Adopt => "adopt",
        }
    }

    /// The reactions that make sense for `situation`.
    pub fn allowed_for(situation: Situation) -> &'static [Reaction] {
        use Reaction::*;
        match situation {
            Situation::Unapproved => &[Report, Revoke, Review, Adopt],
            Situation::Missing => &[Report, Reprovision],
            Situation::ExpiredButLive => &[Report, Revoke],
            Situation::ScopeMismatch => &[Report, Review],
            Situation::UnknownIdentity => &[Report, Revoke],
            Situation::Matched | Situation::Ignored => &[Report],
        }
    }
}

impl fmt::Display for Reaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("reaction `{reaction}` does not apply to `{situation}`: use one of {allowed}")]
pub struct ReactionError {
    pub situation: Situation,
    pub reaction: Reaction,
    pub allowed: String,
}

/// A target's reactions, by situation. Matched and ignored rows are only
/// ever reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, try_from = "RawReactions")]
pub struct Reactions {
    pub unapproved: Reaction,
    pub missing: Reaction,
    pub expired_but_live: Reaction,
    pub scope_mismatch: Reaction,
    pub unknown_identity: Reaction,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawReactions {
    unapproved: Reaction,
    missing: Reaction,
    expired_but_live: Reaction,
    scope_mismatch: Reaction,
    unknown_identity: Reaction,
}

impl TryFrom<RawReactions> for Reactions {
    type Error = ReactionError;
    fn try_from(r: RawReactions) -> Result<Self, ReactionError> {
        let reactions = Reactions {
            unapproved: r.unapproved,
            missing: r.missing,
            expired_but_live: r.expired_but_live,
            scope_mismatch: r.scope_mismatch,
            unknown_identity: r.unknown_identity,
        };
        reactions.check()?;
        Ok(reactions)
    }
}

impl Reactions {
    pub fn for_situation(&self, s: Situation) -> Reaction {
        match s {
            Situation::Unapproved => self.unapproved,
            Situation::Missing => self.missing,
            Situation::ExpiredButLive => self.expired_but_live,
            Situation::ScopeMismatch => self.scope_mismatch,
            Situation::UnknownIdentity => self.unknown_identity,
            Situation::Matched | Situation::Ignored => Reaction::Report,
        }
    }

    /// Each reaction must apply to its situation.
    pub fn check(&self) -> Result<(), ReactionError> {
        for s in Situation::ALL {
            let r = self.for_situation(s);
            let allowed = Reaction::allowed_for(s);
            if !allowed.contains(&r) {
                let names: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
                return Err(ReactionError { situation: s, reaction: r, allowed: names.join(", ") });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_situation_reports_by_default_and_bad_pairs_are_named() {
        let r = Reactions::default();
        assert!(Situation::ALL.iter().all(|s| r.for_situation(*s) == Reaction::Report));
        let r = Reactions { missing: Reaction::Adopt, ..Reactions::default() };
        let e = r.check().unwrap_err().to_string();
        assert_eq!(e, "reaction `adopt` does not apply to `missing`: use one of `report`, `reprovision`");
        let ok = Reactions { unapproved: Reaction::Adopt, missing: Reaction::Reprovision, expired_but_live: Reaction::Revoke, ..Reactions::default() };
        ok.check().unwrap();
    }
}
