//! What the store keeps for inbound SCIM beside Writ's identities: per user,
//! the SCIM attributes Writ's identity does not hold and whether the
//! provider deleted it; per group, its SCIM id, name and attributes. Group
//! membership itself is the identities' `groups`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use writ_core::identity::Identity;
use writ_core::ids::{GroupId, IdentityId};

use super::Versioned;

/// A person's SCIM record. Its id is the identity's (the SCIM `id` and
/// `userName` are the Writ identity id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimUserRecord {
    pub id: IdentityId,
    pub external_id: Option<String>,
    /// Deleted by the provider: the identity stays (disabled), the audit log
    /// refers to it; SCIM no longer shows it.
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The SCIM attributes as last written (checked against the schema),
    /// without those Writ's identity holds.
    pub attributes: serde_json::Value,
}

/// A SCIM group: a Writ group with a SCIM id and a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimGroupRecord {
    /// The SCIM id (a UUID Writ gives it).
    pub id: String,
    /// The Writ group id, fixed at creation.
    pub group: GroupId,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attributes: serde_json::Value,
}

/// The SCIM part of a [`super::Change`].
#[derive(Debug, Clone, Default)]
pub struct ScimChange {
    pub users: Vec<Versioned<ScimUserRecord>>,
    pub groups: Vec<Versioned<ScimGroupRecord>>,
    /// Groups to delete: their SCIM id, at the version read.
    pub deleted_groups: Vec<Versioned<String>>,
}

impl ScimChange {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty() && self.deleted_groups.is_empty()
    }
}

/// A person as SCIM sees it: the identity, its version, and its SCIM record
/// with the record's version if it has one (a person registered otherwise,
/// e.g. by `writ init`, has none until SCIM first writes it).
#[derive(Debug, Clone)]
pub struct ScimUserRow {
    pub identity: Identity,
    pub version: u64,
    pub record: Option<(ScimUserRecord, u64)>,
}

/// Which people to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimUserKey {
    /// Every person, by id.
    All,
    Ids(Vec<IdentityId>),
    ExternalId(String),
}

/// Which SCIM groups to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimGroupKey {
    /// Every one, by display name.
    All,
    Ids(Vec<String>),
    Groups(Vec<GroupId>),
    /// Compared without regard to case.
    DisplayName(String),
    ExternalId(String),
}
