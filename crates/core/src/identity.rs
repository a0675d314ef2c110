//! People and non-human identities (service accounts, API keys, AI agents).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::{GroupId, IdentityId};
use crate::DomainError;

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

    /// Checks the rules that involve another identity: a non-human identity names an
    /// owner, and that owner is a person. `lookup` finds identities by id.
    pub fn validate<'a>(
        &self,
        lookup: impl Fn(&IdentityId) -> Option<&'a Identity>,
    ) -> Result<(), DomainError> {
        match (&self.owner, self.kind.is_human()) {
            (None, false) => Err(DomainError::invalid(
                format!("identity `{}`", self.id),
                format!("a {} must name an `owner` who is a person", self.kind.as_str()),
            )),
            (Some(owner), _) => match lookup(owner) {
                None => Err(DomainError::invalid(
                    format!("identity `{}`", self.id),
                    format!("owner `{owner}` is not a known identity"),
                )),
                Some(o) if !o.kind.is_human() => Err(DomainError::invalid(
                    format!("identity `{}`", self.id),
                    format!("owner `{owner}` is a {}, not a person", o.kind.as_str()),
                )),
                Some(_) => Ok(()),
            },
            (None, true) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(id: &str, kind: IdentityKind, owner: Option<&str>) -> Identity {
        Identity {
            id: IdentityId::parse(id).unwrap(),
            kind,
            status: IdentityStatus::Active,
            display_name: String::new(),
            owner: owner.map(|o| IdentityId::parse(o).unwrap()),
            manager: None,
            groups: BTreeSet::new(),
            attributes: BTreeMap::new(),
        }
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
    fn disabled_identities_cannot_act() {
        let mut a = ident("alice", IdentityKind::Person, None);
        assert!(a.require_active("request").is_ok());
        a.status = IdentityStatus::Disabled;
        let e = a.require_active("approve").unwrap_err().to_string();
        assert_eq!(e, "identity `alice` is disabled and cannot approve");
    }
}
