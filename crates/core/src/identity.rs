//! People and non-human identities (service accounts, API keys, AI agents).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{GroupId, IdentityId};
use crate::DomainError;

mod diff;

pub use diff::{check_unique, diff, FieldChange, IdentityDiff, IdentityField, IdentityUpdate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    Person,
    ServiceAccount,
    ApiKey,
    AiAgent,
}

impl IdentityKind {
    pub fn is_human(self) -> bool {
        self == IdentityKind::Person
    }
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Person => "person",
            IdentityKind::ServiceAccount => "service_account",
            IdentityKind::ApiKey => "api_key",
            IdentityKind::AiAgent => "ai_agent",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStatus {
    Active,
    Disabled,
}

impl IdentityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityStatus::Active => "active",
            IdentityStatus::Disabled => "disabled",
        }
    }
}

/// The actor names Writ writes into the audit log for itself: the operator at
/// the console, the workflow (`system`), policy, scheduled work, and each
/// connector kind (whose read-backs are evidence). An identity under one of
/// these names could pass its own acts off as Writ's, so none may take one.
pub const RESERVED_NAMES: &[&str] = &["operator", "system", "policy", "schedule", "writ", "postgres", "ldap", "redis", "scim", "manual", "webhook"];

/// Whether `name` is reserved for Writ's own actors: one of [`RESERVED_NAMES`],
/// or any name in the `writ-` namespace (reconciliation files its requests
/// as `writ-reconciler`). Compared without regard to case.
pub fn is_reserved_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    RESERVED_NAMES.contains(&lower.as_str()) || lower.starts_with("writ-")
}

/// Someone or something that can hold access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub id: IdentityId,
    pub kind: IdentityKind,
    pub status: IdentityStatus,
    #[serde(default)]
    pub display_name: String,
    /// The person accountable for a non-human identity.
    #[serde(default)]
    pub owner: Option<IdentityId>,
    #[serde(default)]
    pub manager: Option<IdentityId>,
    #[serde(default)]
    pub groups: BTreeSet<GroupId>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Set by Writ (whatever a writer sends) on a non-human identity whose
    /// owner left, until it has an active owner again or is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_left: Option<OwnerLeft>,
}

/// A non-human identity's owner was disabled (left): someone must give it a
/// new owner or disable it by `due_at`. Its owner's manager is asked to;
/// past the deadline it is overdue, listed and counted until settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerLeft {
    /// The owner who left.
    pub owner: IdentityId,
    pub at: DateTime<Utc>,
    /// Who is asked to settle it: the leaver's manager (none: nobody by name,
    /// the overdue list is then the only reminder).
    pub flagged_to: Option<IdentityId>,
    pub due_at: DateTime<Utc>,
    /// Being overdue was recorded (once: one event, one notification).
    #[serde(default)]
    pub overdue_noted: bool,
}

impl OwnerLeft {
    /// The flag a non-human identity gets when `leaver`, its owner, is disabled at `now`.
    pub fn new(leaver: &Identity, now: DateTime<Utc>, within: TimeDelta) -> OwnerLeft {
        OwnerLeft { owner: leaver.id.clone(), at: now, flagged_to: leaver.manager.clone(), due_at: now + within, overdue_noted: false }
    }

    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        now >= self.due_at
    }
}

/// How a write of `written` over `stored` settles `stored`'s owner-left flag:
/// kept while the identity is active and has no new active owner. A writer
/// (SCIM, a file, the API) never sets or clears the flag itself.
/// `owner_is_active_person` says whether `written`'s owner is one.
pub fn owner_left_after(stored: Option<&OwnerLeft>, written: &Identity, owner_is_active_person: bool) -> Option<OwnerLeft> {
    let flag = stored?;
    let new_owner = written.owner.as_ref().is_some_and(|o| o != &flag.owner) && owner_is_active_person;
    (written.is_active() && !new_owner).then(|| flag.clone())
}

impl Identity {
    pub fn is_active(&self) -> bool {
        self.status == IdentityStatus::Active
    }

    pub fn in_group(&self, g: &GroupId) -> bool {
        self.groups.contains(g)
    }

    /// Fails unless the identity is active: a disabled identity can neither request
    /// nor approve nor fulfil.
    pub fn require_active(&self, action: &'static str) -> Result<(), DomainError> {
        if self.is_active() {
            Ok(())
        } else {
            Err(DomainError::IdentityDisabled { identity: self.id.to_string(), action })
        }
    }

    /// Fails unless the identity is an active person. Reviewing, approving and
    /// fulfilling are acts of judgement someone answers for: an AI agent, an
    /// API key or a service account never does them, whatever policy says.
    pub fn require_accountable(&self, action: &'static str) -> Result<(), DomainError> {
        self.require_active(action)?;
        if self.kind.is_human() {
            Ok(())
        } else {
            Err(DomainError::NotAPerson { identity: self.id.to_string(), kind: self.kind.as_str(), action })
        }
    }

    /// Fails when the identity may not receive access: a disabled identity
    /// receives nothing, by any path.
    pub fn require_may_receive(&self) -> Result<(), DomainError> {
        if self.is_active() {
            Ok(())
        } else {
            Err(DomainError::SubjectDisabled { identity: self.id.to_string() })
        }
    }

    /// The owner whose manager stands in for this identity's: set only for a
    /// non-human identity without a manager of its own.
    pub fn manager_via_owner(&self) -> Option<&IdentityId> {
        if self.manager.is_some() || self.kind.is_human() {
            None
        } else {
            self.owner.as_ref()
        }
    }

    /// Who manages this identity: its own manager, or for a non-human identity
    /// without one, its owner's manager. `owner` is the identity that
    /// [`Identity::manager_via_owner`] named, looked up by the caller.
    pub fn effective_manager(&self, owner: Option<&Identity>) -> Option<IdentityId> {
        match self.manager_via_owner() {
            None => self.manager.clone(),
            Some(_) => owner.and_then(|o| o.manager.clone()),
        }
    }

    /// Checks the rules that involve another identity: a non-human identity names an
    /// owner, and that owner is a person. `lookup` finds identities by id.
    /// Refuses the names Writ itself acts under ([`is_reserved_name`]).
    pub fn validate<'a>(&self, lookup: impl Fn(&IdentityId) -> Option<&'a Identity>) -> Result<(), DomainError> {
        if is_reserved_name(self.id.as_str()) {
            return Err(DomainError::invalid(
                format!("identity `{}`", self.id),
                format!(
                    "`{}` is reserved: Writ's own actors use it in the audit log ({}, or any name starting `writ-`): choose another id",
                    self.id,
                    RESERVED_NAMES.join(", ")
                ),
            ));
        }
        match (&self.owner, self.kind.is_human()) {
            (None, false) => {
                Err(DomainError::invalid(format!("identity `{}`", self.id), format!("a {} must name an `owner` who is a person", self.kind.as_str())))
            }
            (Some(owner), _) => match lookup(owner) {
                None => Err(DomainError::invalid(format!("identity `{}`", self.id), format!("owner `{owner}` is not a known identity"))),
                Some(o) if !o.kind.is_human() => {
                    Err(DomainError::invalid(format!("identity `{}`", self.id), format!("owner `{owner}` is a {}, not a person", o.kind.as_str())))
                }
                Some(_) => Ok(()),
            },
            (None, true) => Ok(()),
        }
    }
}

/// An active person `id` with nothing else set: the start of the identities
/// the core's tests build.
#[cfg(test)]
pub(crate) fn test_person(id: &str) -> Identity {
    Identity {
        id: IdentityId::parse(id).unwrap(),
        kind: IdentityKind::Person,
        status: IdentityStatus::Active,
        display_name: String::new(),
        owner: None,
        manager: None,
        groups: BTreeSet::new(),
        attributes: BTreeMap::new(),
        owner_left: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(id: &str, kind: IdentityKind, owner: Option<&str>) -> Identity {
        Identity { kind, owner: owner.map(|o| IdentityId::parse(o).unwrap()), ..test_person(id) }
    }

    #[test]
    fn an_owner_left_flag_stays_until_a_new_active_owner_or_the_identity_is_disabled() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut leaver = ident("alice", IdentityKind::Person, None);
        leaver.manager = Some(IdentityId::parse("mona").unwrap());
        let flag = OwnerLeft::new(&leaver, t, TimeDelta::days(14));
        assert_eq!(flag.flagged_to, leaver.manager, "asked of the leaver's manager");
        assert!(!flag.is_overdue(t + TimeDelta::days(13)) && flag.is_overdue(t + TimeDelta::days(14)));

        let bot = ident("bot", IdentityKind::AiAgent, Some("alice"));
        assert_eq!(owner_left_after(Some(&flag), &bot, false), Some(flag.clone()), "same owner: still flagged");
        let renamed = Identity { display_name: "The bot".into(), ..bot.clone() };
        assert_eq!(owner_left_after(Some(&flag), &renamed, false), Some(flag.clone()), "any other change keeps it");
        let adopted = ident("bot", IdentityKind::AiAgent, Some("bob"));
        assert_eq!(owner_left_after(Some(&flag), &adopted, true), None, "a new active owner settles it");
        assert_eq!(owner_left_after(Some(&flag), &adopted, false), Some(flag.clone()), "a new owner who is not an active person does not");
        let disabled = Identity { status: IdentityStatus::Disabled, ..bot.clone() };
        assert_eq!(owner_left_after(Some(&flag), &disabled, false), None, "disabling settles it");
        let claimed = Identity { owner_left: Some(flag.clone()), ..adopted };
        assert_eq!(owner_left_after(None, &claimed, true), None, "a writer cannot set it");
    }

    #[test]
    fn non_human_identities_need_a_person_as_owner() {
        let alice = ident("alice", IdentityKind::Person, None);
        let bot = ident("bot", IdentityKind::AiAgent, Some("alice"));
        let orphan = ident("svc", IdentityKind::ServiceAccount, None);
        let owned_by_bot = ident("key", IdentityKind::ApiKey, Some("bot"));
        let all = [alice.clone(), bot.clone()];
        let lookup = |id: &IdentityId| all.iter().find(|i| &i.id == id);
        assert!(alice.validate(lookup).is_ok());
        assert!(bot.validate(lookup).is_ok());
        assert!(orphan.validate(lookup).unwrap_err().to_string().contains("must name an `owner`"));
        assert!(owned_by_bot.validate(lookup).unwrap_err().to_string().contains("not a person"));
    }

    #[test]
    fn a_non_human_identity_without_a_manager_is_managed_by_its_owners_manager() {
        let mut alice = ident("alice", IdentityKind::Person, None);
        alice.manager = Some(IdentityId::parse("mona").unwrap());
        let bot = ident("bot", IdentityKind::AiAgent, Some("alice"));
        assert_eq!(bot.manager_via_owner().map(IdentityId::as_str), Some("alice"));
        assert_eq!(bot.effective_manager(Some(&alice)).unwrap().as_str(), "mona");
        let mut managed_bot = bot.clone();
        managed_bot.manager = Some(IdentityId::parse("oscar").unwrap());
        assert_eq!(managed_bot.manager_via_owner(), None);
        assert_eq!(managed_bot.effective_manager(None).unwrap().as_str(), "oscar");
        assert_eq!(alice.manager_via_owner(), None);
        assert_eq!(alice.effective_manager(None).unwrap().as_str(), "mona");
    }

    #[test]
    fn writs_own_actor_names_are_refused_as_identities() {
        let nobody = |_: &IdentityId| -> Option<&Identity> { None };
        for name in ["operator", "System", "policy", "schedule", "writ-reconciler", "writ-anything", "postgres", "manual"] {
            let i = ident(name, IdentityKind::Person, None);
            let e = i.validate(nobody).unwrap_err().to_string();
            assert!(e.contains("Writ's own actors"), "{name}: {e}");
        }
        assert!(ident("writer", IdentityKind::Person, None).validate(nobody).is_ok());
    }

    #[test]
    fn only_active_people_are_accountable() {
        let mut alice = ident("alice", IdentityKind::Person, None);
        assert!(alice.require_accountable("review").is_ok());
        for kind in [IdentityKind::AiAgent, IdentityKind::ApiKey, IdentityKind::ServiceAccount] {
            let bot = ident("bot", kind, Some("alice"));
            let e = bot.require_accountable("approve").unwrap_err().to_string();
            assert!(e.contains(&format!("is a {}", kind.as_str())) && e.contains("only a person"), "{e}");
        }
        alice.status = IdentityStatus::Disabled;
        assert!(alice.require_accountable("review").unwrap_err().to_string().contains("disabled"));
        assert!(alice.require_may_receive().unwrap_err().to_string().contains("receives no access"));
    }

    #[test]
    fn disabled_identities_cannot_act() {
        let mut a = ident("alice", IdentityKind::Person, None);
        assert!(a.require_active("request").is_ok());
        a.status = IdentityStatus::Disabled;
        let e = a.require_active("approve").unwrap_err().to_string();
        assert_eq!(e, "identity `alice` is disabled and cannot approve");
    }
}
