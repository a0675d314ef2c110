//! Request types: what kind of change a request asks for, the fields it must
//! carry, and which path it takes. A governed type (application access,
//! privileged access, a service account…) goes through policy, approval,
//! provisioning and read-back; a help-desk type (password reset, account
//! unlock, a hardware fault…) is recorded and closed on a fast path that can
//! never grant or widen access. Anything that would change access is
//! governed, whatever type it arrived as ([`RequestType::route_for`]).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::RequestTypeId;
use crate::DomainError;

/// The path a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Policy decision, approval by named approvers, provisioning, read-back.
    Governed,
    /// Recorded, the requester's identity proofed, closed: never grants access.
    HelpDesk,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Governed => "governed",
            Route::HelpDesk => "help_desk",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field a request type may make mandatory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// At least one catalog entitlement.
    Entitlement,
    Justification,
    Duration,
    /// A service-desk ticket reference (e.g. `INC0012345`).
    Ticket,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Entitlement => "entitlement",
            Field::Justification => "justification",
            Field::Duration => "duration",
            Field::Ticket => "ticket",
        }
    }
}

/// What a request of some type carries, for the mandatory-field check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Carried {
    pub entitlements: bool,
    pub justification: bool,
    pub duration: bool,
    pub ticket: bool,
}

/// One request type of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestType {
    pub id: RequestTypeId,
    #[serde(default)]
    pub description: String,
    pub route: Route,
    /// Fields a request of this type must carry.
    #[serde(default)]
    pub mandatory: BTreeSet<Field>,
}

impl RequestType {
    /// Checks the type's own rules: a governed type names what it changes
    /// (an entitlement, why and for how long); a help-desk type cannot make
    /// an entitlement mandatory, since it never grants one.
    pub fn check(&self) -> Result<(), DomainError> {
        let field = || format!("request type `{}`", self.id);
        match self.route {
            Route::Governed => {
                let missing: Vec<&str> = [Field::Entitlement, Field::Justification, Field::Duration]
                    .into_iter()
                    .filter(|f| !self.mandatory.contains(f))
                    .map(Field::as_str)
                    .collect();
                if !missing.is_empty() {
                    return Err(DomainError::invalid(
                        field(),
                        format!("a governed type must make `entitlement`, `justification` and `duration` mandatory (missing: {})", missing.join(", ")),
                    ));
                }
            }
            Route::HelpDesk => {
                if self.mandatory.contains(&Field::Entitlement) {
                    return Err(DomainError::invalid(field(), "a help-desk type never grants access, so it cannot make `entitlement` mandatory"));
                }
            }
        }
        Ok(())
    }

    /// The first mandatory field `carried` lacks, as an error naming it.
    pub fn require(&self, carried: Carried) -> Result<(), DomainError> {
        for f in &self.mandatory {
            let has = match f {
                Field::Entitlement => carried.entitlements,
                Field::Justification => carried.justification,
                Field::Duration => carried.duration,
                Field::Ticket => carried.ticket,
            };
            if !has {
                return Err(DomainError::invalid(f.as_str(), format!("a `{}` request must carry one", self.id)));
            }
        }
        Ok(())
    }

    /// The path a request of this type takes when it asks for `entitlements`:
    /// a help-desk type that names any entitlement would change access, so
    /// it is governed (re-routed); a governed type stays governed.
    pub fn route_for(&self, names_entitlements: bool) -> Route {
        match (self.route, names_entitlements) {
            (Route::HelpDesk, true) => Route::Governed,
            (route, _) => route,
        }
    }

    /// The types every catalog has unless it declares its own: seven
    /// governed, seven help-desk.
    pub fn standard() -> Vec<RequestType> {
        use Field::{Duration, Entitlement, Justification, Ticket};
        let governed = [
            ("application_access", "Access to an application, system, data or group", &[][..]),
            ("privileged_access", "Administrative or elevated access", &[Ticket][..]),
            ("access_removal", "Remove access someone holds", &[][..]),
            ("service_account", "A non-human account for a workload", &[Ticket][..]),
            ("api_key", "An API key or token for an existing identity", &[][..]),
            ("ai_agent_tool_access", "What an AI agent may do", &[Ticket][..]),
            ("break_glass", "Emergency access during an incident", &[][..]),
        ];
        let help_desk = [
            ("password_reset", "A forgotten or expired password on one's own account"),
            ("account_unlock", "An account locked after failed sign-ins"),
            ("mfa_replacement", "A lost or new second factor"),
            ("hardware", "A device or peripheral"),
            ("software_fault", "Software that fails, or installing it on one's own device"),
            ("network_fault", "Connection problems"),
            ("how_to", "A question"),
        ];
        let id = |s: &str| RequestTypeId::parse(s).expect("a valid built-in name");
        let mut all: Vec<RequestType> = governed
            .into_iter()
            .map(|(name, description, extra)| RequestType {
                id: id(name),
                description: description.into(),
                route: Route::Governed,
                mandatory: [Entitlement, Justification, Duration].into_iter().chain(extra.iter().copied()).collect(),
            })
            .collect();
        all.extend(help_desk.into_iter().map(|(name, description)| RequestType {
            id: id(name),
            description: description.into(),
            route: Route::HelpDesk,
            mandatory: [Justification].into_iter().collect(),
        }));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard(name: &str) -> RequestType {
        RequestType::standard().into_iter().find(|t| t.id.as_str() == name).unwrap()
    }

    #[test]
    fn the_standard_types_pass_their_own_rules() {
        let all = RequestType::standard();
        assert_eq!(all.iter().filter(|t| t.route == Route::Governed).count(), 7);
        assert_eq!(all.iter().filter(|t| t.route == Route::HelpDesk).count(), 7);
        for t in &all {
            t.check().unwrap();
        }
    }

    #[test]
    fn a_governed_type_must_name_what_it_changes_and_a_help_desk_type_cannot() {
        let mut t = standard("application_access");
        t.mandatory.remove(&Field::Duration);
        let e = t.check().unwrap_err().to_string();
        assert!(e.contains("application_access") && e.contains("duration"), "{e}");
        let mut t = standard("password_reset");
        t.mandatory.insert(Field::Entitlement);
        assert!(t.check().unwrap_err().to_string().contains("never grants access"));
    }

    #[test]
    fn a_missing_mandatory_field_is_named() {
        let t = standard("privileged_access");
        let all = Carried { entitlements: true, justification: true, duration: true, ticket: true };
        t.require(all).unwrap();
        let e = t.require(Carried { ticket: false, ..all }).unwrap_err().to_string();
        assert!(e.contains("ticket") && e.contains("privileged_access"), "{e}");
        standard("application_access").require(Carried { ticket: false, ..all }).unwrap();
    }

    #[test]
    fn a_help_desk_type_that_names_access_is_governed() {
        let t = standard("password_reset");
        assert_eq!(t.route_for(false), Route::HelpDesk);
        assert_eq!(t.route_for(true), Route::Governed);
        assert_eq!(standard("api_key").route_for(false), Route::Governed);
    }

    #[test]
    fn types_read_from_a_catalog_refuse_unknown_keys() {
        let t: RequestType = serde_json::from_str(r#"{"id": "x", "route": "help_desk", "mandatory": ["ticket"]}"#).unwrap();
        assert_eq!(t.route, Route::HelpDesk);
        assert!(serde_json::from_str::<RequestType>(r#"{"id": "x", "route": "help_desk", "mandatry": []}"#).is_err());
        assert!(serde_json::from_str::<RequestType>(r#"{"id": "x", "route": "sideways"}"#).is_err());
    }
}
