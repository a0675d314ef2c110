//! Typed, validated identifiers. Every name that later reaches SQL, LDAP or Redis
//! enters the system through one of these constructors, so the allowed alphabet is
//! decided once, here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

/// Checks a name against an alphabet and a length limit.
fn check_name(what: &'static str, s: &str, max: usize, extra: &[char]) -> Result<(), DomainError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || extra.contains(&c);
    if s.is_empty() || s.len() > max {
        return Err(DomainError::InvalidId { what, value: s.chars().take(64).collect(), reason: format!("must be 1 to {max} characters long") });
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) || !s.chars().all(valid_char) {
        let allowed: String = extra.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" ");
        return Err(DomainError::InvalidId {
            what,
            value: s.chars().take(64).collect(),
            reason: format!("must start with a letter or digit and use only letters, digits and {allowed}"),
        });
    }
    Ok(())
}

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $extra:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                check_name($what, s, $max, $extra)?;
                Ok(Self(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, DomainError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

name_id!(
    /// A person or non-human identity, e.g. `alice` or `svc-billing@payments`.
    IdentityId, "identity id", 128, &['.', '_', '-', '@', '+']
);
name_id!(
    /// A group of identities, e.g. `security`.
    GroupId, "group id", 128, &['.', '_', '-']
);
name_id!(
    /// A target system, e.g. `pg-prod`.
    TargetId, "target id", 63, &['_', '-']
);
name_id!(
    /// A request type of the catalog, e.g. `application_access` or `password_reset`.
    RequestTypeId, "request type", 63, &['_', '-']
);
name_id!(
    /// An entitlement's name on its target, e.g. `payments_readonly`.
    EntitlementName, "entitlement name", 63, &['_', '-', '.']
);

impl RequestTypeId {
    /// The type of a request that does not say: `application_access`.
    pub fn unstated() -> Self {
        Self("application_access".to_owned())
    }
}

/// An entitlement: a name on a target, written `target/name`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntitlementId {
    target: TargetId,
    name: EntitlementName,
}

impl EntitlementId {
    pub fn new(target: TargetId, name: EntitlementName) -> Self {
        Self { target, name }
    }
    /// Parses `target/name`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let Some((t, n)) = s.split_once('/') else {
            return Err(DomainError::InvalidId {
                what: "entitlement id",
                value: s.chars().take(64).collect(),
                reason: "must be written `target/name`, e.g. `pg-prod/payments_readonly`".into(),
            });
        };
        Ok(Self { target: TargetId::parse(t)?, name: EntitlementName::parse(n)? })
    }
    pub fn target(&self) -> &TargetId {
        &self.target
    }
    pub fn name(&self) -> &EntitlementName {
        &self.name
    }
}
impl fmt::Display for EntitlementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.target, self.name)
    }
}
impl fmt::Debug for EntitlementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntitlementId({self})")
    }
}
impl FromStr for EntitlementId {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}
impl TryFrom<String> for EntitlementId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}
impl From<EntitlementId> for String {
    fn from(id: EntitlementId) -> String {
        id.to_string()
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID made by the caller (the core never makes randomness itself).
            pub fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }
            /// Parses `<prefix>-<uuid>` or a bare UUID, the UUID as 32 hex
            /// digits or hyphenated (not braced, not a URN: one spelling less
            /// for the API's schema to state).
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                let raw = s.strip_prefix(concat!($prefix, "-")).unwrap_or(s);
                let plain = matches!(raw.len(), 32 | 36) && raw.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
                plain.then(|| Uuid::parse_str(raw).ok()).flatten().map(Self).ok_or_else(|| DomainError::InvalidId {
                    what: $what,
                    value: s.chars().take(64).collect(),
                    reason: concat!("must look like `", $prefix, "-` followed by a UUID").into(),
                })
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "-{}"), self.0.simple())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{self}")
            }
        }
        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, DomainError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

uuid_id!(
    /// A request for access.
    RequestId, "req", "request id"
);
uuid_id!(
    /// A grant: access that an approved request produced.
    GrantId, "grant", "grant id"
);
uuid_id!(
    /// A manual fulfilment task.
    TaskId, "task", "task id"
);
uuid_id!(
    /// One reconciliation run of one target.
    RunId, "rec", "reconciliation run id"
);
uuid_id!(
    /// A ticket taken in from a service desk, chat or the API as free text.
    TicketId, "tkt", "ticket id"
);
uuid_id!(
    /// An API token (its record, never its secret).
    TokenId, "tok", "token id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_the_documented_alphabet() {
        for ok in ["alice", "svc-billing@payments", "a.b_c+d", "A1"] {
            assert!(IdentityId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-alice", "al ice", "a'b", "a;b", "a\nb", "ü", &"x".repeat(129)] {
            assert!(IdentityId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entitlement_ids_round_trip() {
        let e = EntitlementId::parse("pg-prod/payments_readonly").unwrap();
        assert_eq!(e.target().as_str(), "pg-prod");
        assert_eq!(e.name().as_str(), "payments_readonly");
        assert_eq!(e.to_string(), "pg-prod/payments_readonly");
        let err = EntitlementId::parse("pg-prod").unwrap_err().to_string();
        assert!(err.contains("target/name"), "{err}");
        assert!(EntitlementId::parse("pg prod/x").is_err());
    }

    #[test]
    fn uuid_ids_display_with_prefix_and_parse_back() {
        let id = RequestId::from_uuid(Uuid::from_u128(7));
        let s = id.to_string();
        assert!(s.starts_with("req-"));
        assert_eq!(RequestId::parse(&s).unwrap(), id);
        assert!(RequestId::parse("req-nope").unwrap_err().to_string().contains("request id"));
        let hyphenated = Uuid::from_u128(7).hyphenated().to_string();
        assert_eq!(RequestId::parse(&hyphenated).unwrap(), id);
        for other_spelling in [format!("{{{hyphenated}}}"), format!("urn:uuid:{hyphenated}"), format!("req-{{{hyphenated}}}")] {
            assert!(RequestId::parse(&other_spelling).is_err(), "{other_spelling}");
        }
    }
}
