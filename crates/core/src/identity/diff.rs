//! The difference between the registry as stored and as an identities file
//! declares it (`writ identity apply`). The file is the whole truth for the
//! organisation: what it lists is created or updated, and an active identity
//! it leaves out is disabled, never deleted (its history stays in the audit
//! log, and re-enabling it is one line in the file).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::{Identity, IdentityStatus};
use crate::ids::IdentityId;
use crate::DomainError;

/// A field of an identity that a file can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdentityField {
    Kind,
    Status,
    DisplayName,
    Owner,
    Manager,
    Groups,
    Attributes,
}

impl IdentityField {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityField::Kind => "kind",
            IdentityField::Status => "status",
            IdentityField::DisplayName => "display_name",
            IdentityField::Owner => "owner",
            IdentityField::Manager => "manager",
            IdentityField::Groups => "groups",
            IdentityField::Attributes => "attributes",
        }
    }
}

/// One field's value before and after, as JSON (a word, a text, an id or
/// `null`, a list of groups, a map of attributes).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: IdentityField,
    pub from: Value,
    pub to: Value,
}

/// An identity that exists and changes: as it will be, and what changes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityUpdate {
    pub identity: Identity,
    pub fields: Vec<FieldChange>,
}

/// What applying a file changes, each list in id order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentityDiff {
    /// In the file, not in the registry.
    pub created: Vec<Identity>,
    /// In both, with at least one field different.
    pub changed: Vec<IdentityUpdate>,
    /// Active in the registry and absent from the file.
    pub disabled: Vec<IdentityUpdate>,
    /// In both and already as the file says.
    pub unchanged: usize,
}

impl IdentityDiff {
    /// Whether applying it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.changed.is_empty() && self.disabled.is_empty()
    }

    /// Every identity to write, as it will be.
    pub fn writes(&self) -> Vec<Identity> {
        let updates = self.changed.iter().chain(&self.disabled).map(|u| u.identity.clone());
        self.created.iter().cloned().chain(updates).collect()
    }

    /// Whether `id` is active now and will not be after applying it.
    pub fn disables(&self, id: &IdentityId) -> bool {
        self.changed.iter().chain(&self.disabled).any(|u| &u.identity.id == id && !u.identity.is_active())
    }
}

/// Refuses a list that names one identity twice: which record would win is
/// not for Writ to guess.
pub fn check_unique(identities: &[Identity]) -> Result<(), DomainError> {
    let mut seen = BTreeSet::new();
    match identities.iter().find(|i| !seen.insert(&i.id)) {
        Some(twice) => Err(DomainError::invalid(format!("identity `{}`", twice.id), "it is listed twice: keep one record per identity")),
        None => Ok(()),
    }
}

/// What making the registry `stored` into what `desired` declares changes.
/// Refuses (and so changes nothing) a file that names an identity twice,
/// or leaves any identity breaking [`Identity::validate`] (a reserved name,
/// a non-human identity without a person as owner), checked against the
/// registry as it would be: the file's identities, and those it leaves out
/// that one of them owns.
pub fn diff<'a>(stored: impl IntoIterator<Item = &'a Identity>, desired: &[Identity]) -> Result<IdentityDiff, DomainError> {
    check_unique(desired)?;
    let stored: BTreeMap<&IdentityId, &Identity> = stored.into_iter().map(|i| (&i.id, i)).collect();
    let wanted: BTreeMap<&IdentityId, &Identity> = desired.iter().map(|i| (&i.id, i)).collect();
    let mut out = IdentityDiff::default();
    for (id, want) in &wanted {
        match stored.get(id) {
            None => out.created.push((*want).clone()),
            Some(have) => match fields(have, want) {
                changes if changes.is_empty() => out.unchanged += 1,
                changes => out.changed.push(IdentityUpdate { identity: (*want).clone(), fields: changes }),
            },
        }
    }
    for have in stored.values().filter(|have| !wanted.contains_key(&have.id) && have.is_active()) {
        let identity = Identity { status: IdentityStatus::Disabled, ..(*have).clone() };
        out.disabled.push(IdentityUpdate { fields: fields(have, &identity), identity });
    }
    let after: BTreeMap<&IdentityId, &Identity> =
        stored.iter().map(|(id, i)| (*id, *i)).chain(out.disabled.iter().map(|u| (&u.identity.id, &u.identity))).chain(wanted.clone()).collect();
    // An owner left out of the file is disabled, not deleted: still known, so
    // what it owns stays valid unless the file changes the owner itself.
    let owned_left_out = after.values().copied().filter(|i| !wanted.contains_key(&i.id) && i.owner.as_ref().is_some_and(|o| wanted.contains_key(o)));
    for i in desired.iter().chain(owned_left_out) {
        i.validate(|id| after.get(id).copied())?;
    }
    Ok(out)
}

/// The fields that differ between `from` and `to`, in [`IdentityField`] order.
fn fields(from: &Identity, to: &Identity) -> Vec<FieldChange> {
    let pairs = [
        (IdentityField::Kind, json!(from.kind), json!(to.kind)),
        (IdentityField::Status, json!(from.status), json!(to.status)),
        (IdentityField::DisplayName, json!(from.display_name), json!(to.display_name)),
        (IdentityField::Owner, json!(from.owner), json!(to.owner)),
        (IdentityField::Manager, json!(from.manager), json!(to.manager)),
        (IdentityField::Groups, json!(from.groups), json!(to.groups)),
        (IdentityField::Attributes, json!(from.attributes), json!(to.attributes)),
    ];
    pairs.into_iter().filter(|(_, a, b)| a != b).map(|(field, from, to)| FieldChange { field, from, to }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{test_person as person, IdentityKind};
    use crate::ids::GroupId;

    fn bot(id: &str, owner: &str) -> Identity {
        Identity { kind: IdentityKind::ServiceAccount, owner: Some(IdentityId::parse(owner).unwrap()), ..person(id) }
    }

    fn ids(list: &[Identity]) -> Vec<&str> {
        list.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn identities_only_in_the_file_are_created() {
        let stored = [person("alice")];
        let d = diff(&stored, &[person("alice"), person("bob")]).unwrap();
        assert_eq!(ids(&d.created), ["bob"]);
        assert!(d.changed.is_empty() && d.disabled.is_empty());
        assert_eq!(d.unchanged, 1);
        assert_eq!(ids(&d.writes()), ["bob"]);
    }

    #[test]
    fn changed_fields_are_named_with_their_values_before_and_after() {
        let mut alice = person("alice");
        alice.groups.insert(GroupId::parse("eng").unwrap());
        let mut wanted = person("alice");
        wanted.display_name = "Alice".into();
        wanted.manager = Some(IdentityId::parse("mona").unwrap());
        wanted.groups.insert(GroupId::parse("ops").unwrap());
        wanted.attributes.insert("team".into(), "payments".into());

        let d = diff(&[alice, person("mona")], &[wanted.clone(), person("mona")]).unwrap();

        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].identity, wanted);
        let got: Vec<(&str, Value, Value)> = d.changed[0].fields.iter().map(|f| (f.field.as_str(), f.from.clone(), f.to.clone())).collect();
        assert_eq!(
            got,
            [
                ("display_name", json!(""), json!("Alice")),
                ("manager", Value::Null, json!("mona")),
                ("groups", json!(["eng"]), json!(["ops"])),
                ("attributes", json!({}), json!({ "team": "payments" })),
            ]
        );
        assert_eq!(d.unchanged, 1);
    }

    #[test]
    fn active_identities_absent_from_the_file_are_disabled_not_deleted() {
        let stored = [person("alice"), person("bob")];
        let d = diff(&stored, &[person("alice")]).unwrap();
        assert_eq!(d.disabled.len(), 1);
        let bob = &d.disabled[0];
        assert_eq!(bob.identity, Identity { status: IdentityStatus::Disabled, ..person("bob") });
        assert_eq!(bob.fields, [FieldChange { field: IdentityField::Status, from: json!("active"), to: json!("disabled") }]);
        assert!(d.disables(&bob.identity.id) && !d.disables(&IdentityId::parse("alice").unwrap()));
    }

    #[test]
    fn already_disabled_identities_absent_from_the_file_are_left_alone() {
        let gone = Identity { status: IdentityStatus::Disabled, ..person("gone") };
        let d = diff(&[person("alice"), gone], &[person("alice")]).unwrap();
        assert!(d.is_empty(), "{d:?}");
        assert!(d.writes().is_empty());
        assert_eq!(d.unchanged, 1);
    }

    #[test]
    fn a_file_equal_to_the_registry_changes_nothing() {
        let stored = [person("alice"), bot("svc", "alice")];
        let d = diff(&stored, &stored).unwrap();
        assert!(d.is_empty());
        assert_eq!(d.unchanged, 2);
    }

    #[test]
    fn disabling_by_the_file_itself_is_a_status_change() {
        let off = Identity { status: IdentityStatus::Disabled, ..person("alice") };
        let d = diff(&[person("alice")], std::slice::from_ref(&off)).unwrap();
        assert_eq!(d.changed[0].fields[0].field, IdentityField::Status);
        assert!(d.disables(&off.id));
    }

    #[test]
    fn a_file_naming_an_identity_twice_is_refused() {
        let e = diff(&[] as &[Identity], &[person("alice"), person("bob"), person("alice")]).unwrap_err().to_string();
        assert!(e.contains("`alice`") && e.contains("twice"), "{e}");
    }

    #[test]
    fn a_file_breaking_the_owner_rule_or_taking_a_reserved_name_is_refused() {
        let e = diff(&[] as &[Identity], &[bot("svc", "nobody")]).unwrap_err().to_string();
        assert!(e.contains("`svc`") && e.contains("not a known identity"), "{e}");
        let e = diff(&[] as &[Identity], &[person("system")]).unwrap_err().to_string();
        assert!(e.contains("reserved"), "{e}");
        // The owner left out is disabled, still known: its service account stays valid.
        let d = diff(&[person("alice"), bot("svc", "alice")], &[bot("svc", "alice")]).unwrap();
        assert_eq!(d.disabled.len(), 1);
        // An owner the file turns into a machine, owning one the file leaves out.
        let e = diff(&[person("alice"), bot("svc", "alice")], &[bot("alice", "mona"), person("mona")]).unwrap_err().to_string();
        assert!(e.contains("`svc`") && e.contains("not a person"), "{e}");
    }
}
