//! How SCIM resources map to Writ's identities and groups, both ways, with
//! no I/O: a User's `userName` is the identity id, `active` its status,
//! the enterprise `manager` its manager; a Group is a Writ group whose
//! members are the identities holding it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use writ_core::identity::{Identity, IdentityKind, IdentityStatus};
use writ_core::ids::{GroupId, IdentityId};
use writ_core::scim::schema::{self, ENTERPRISE_USER};
use writ_core::scim::{ScimError, ScimType};

use crate::ports::{ScimGroupRecord, ScimUserRow};

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The user `clean` (a sanitized User) names: its `userName` as a Writ
/// identity id.
pub fn user_id(clean: &Value) -> Result<IdentityId, ScimError> {
    let name =
        clean.get("userName").and_then(Value::as_str).ok_or_else(|| ScimError::invalid_value("`userName` is required: the Writ identity id of the person"))?;
    IdentityId::parse(name).map_err(|e| ScimError::invalid_value(format!("`userName` `{name}` cannot be a Writ identity id: {e}")))
}

/// The manager `clean` names, if any.
pub fn manager(clean: &Value, user: &IdentityId) -> Result<Option<IdentityId>, ScimError> {
    let Some(v) = clean.get(ENTERPRISE_USER).and_then(|e| e.get("manager")).and_then(|m| m.get("value")).and_then(Value::as_str) else {
        return Ok(None);
    };
    let m = IdentityId::parse(v).map_err(|e| ScimError::invalid_value(format!("`{ENTERPRISE_USER}:manager.value` `{v}` is not a user id: {e}")))?;
    if &m == user {
        return Err(ScimError::invalid_value(format!("`{user}` cannot be their own manager")));
    }
    Ok(Some(m))
}

/// The name Writ shows: `displayName`, else the formatted name, else the
/// given and family names.
pub fn display_name(clean: &Value) -> String {
    if let Some(d) = clean.get("displayName").and_then(Value::as_str).filter(|d| !d.trim().is_empty()) {
        return d.trim().to_owned();
    }
    let name = clean.get("name");
    if let Some(f) = name.and_then(|n| n.get("formatted")).and_then(Value::as_str).filter(|f| !f.trim().is_empty()) {
        return f.trim().to_owned();
    }
    let part = |k: &str| name.and_then(|n| n.get(k)).and_then(Value::as_str).unwrap_or("").trim().to_owned();
    [part("givenName"), part("familyName")].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The identity a User `clean` makes of `current` (or of nobody, for a new
/// one). `active` absent keeps the current status; groups, attributes and
/// kind are Writ's.
pub fn identity_from(clean: &Value, id: &IdentityId, current: Option<&Identity>) -> Result<Identity, ScimError> {
    let status = match clean.get("active").and_then(Value::as_bool) {
        Some(true) => IdentityStatus::Active,
        Some(false) => IdentityStatus::Disabled,
        None => current.map_or(IdentityStatus::Active, |c| c.status),
    };
    Ok(Identity {
        id: id.clone(),
        kind: IdentityKind::Person,
        status,
        display_name: display_name(clean),
        owner: None,
        manager: manager(clean, id)?,
        groups: current.map(|c| c.groups.clone()).unwrap_or_default(),
        attributes: current.map(|c| c.attributes.clone()).unwrap_or_default(),
        owner_left: None,
    })
}

/// What the SCIM record keeps of a sanitized User: everything but what the
/// identity holds (`userName`, `active`) and `externalId` (a column).
pub fn user_attributes(clean: &Value) -> Value {
    let mut v = clean.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("userName");
        o.remove("active");
        o.remove("externalId");
    }
    v
}

pub fn external_id(clean: &Value) -> Option<String> {
    clean.get("externalId").and_then(Value::as_str).map(str::to_owned)
}

/// The Writ group id a Group named `display_name` gets at creation: the
/// name with every character other than a letter, digit, `.`, `_` or `-`
/// made `-`, and leading ones dropped.
pub fn group_id_for(display_name: &str) -> Result<GroupId, ScimError> {
    let mapped: String = display_name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).collect();
    let trimmed = mapped.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let cut: String = trimmed.chars().take(128).collect();
    GroupId::parse(&cut).map_err(|e| ScimError::invalid_value(format!("`displayName` `{display_name}` gives no Writ group id ({e}): use letters or digits")))
}

/// The member ids a sanitized Group names; refuses members that are not Users.
pub fn member_ids(clean: &Value) -> Result<BTreeSet<IdentityId>, ScimError> {
    let mut out = BTreeSet::new();
    for m in clean.get("members").and_then(Value::as_array).into_iter().flatten() {
        if let Some(t) = m.get("type").and_then(Value::as_str).filter(|t| !t.eq_ignore_ascii_case("User")) {
            return Err(ScimError::invalid_value(format!("a member of type `{t}`: Writ's groups hold Users only (groups do not nest)")));
        }
        let v = m.get("value").and_then(Value::as_str).ok_or_else(|| ScimError::invalid_value("every member needs a `value`: the id of a User"))?;
        out.insert(IdentityId::parse(v).map_err(|e| ScimError::invalid_value(format!("member `{v}` is not a user id: {e}")))?);
    }
    Ok(out)
}

/// What the record of a Group keeps: its attributes but the name and the
/// members (which are the identities' groups).
pub fn group_attributes(clean: &Value) -> Value {
    let mut v = clean.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("displayName");
        o.remove("members");
        o.remove("externalId");
    }
    v
}

/// `W/"…"`: the weak entity tag of a version.
pub fn etag(version: &str) -> String {
    format!("W/\"{version}\"")
}

/// A user's version: its identity's and its record's, both of which a
/// SCIM write changes.
pub fn user_version(row: &ScimUserRow) -> String {
    format!("{}-{}", row.version, row.record.as_ref().map_or(0, |(_, v)| *v))
}

/// A User as SCIM returns it. `groups` are the SCIM groups it is in.
pub fn user_resource(row: &ScimUserRow, groups: &BTreeMap<GroupId, ScimGroupRecord>, base: &str) -> Value {
    let i = &row.identity;
    let mut doc: Map<String, Value> = row.record.as_ref().and_then(|(r, _)| r.attributes.as_object().cloned()).unwrap_or_default();
    let mut schemas = vec![json!(schema::USER)];
    doc.insert("id".into(), json!(i.id));
    doc.insert("userName".into(), json!(i.id));
    doc.insert("active".into(), json!(i.is_active()));
    if row.record.is_none() && !i.display_name.is_empty() {
        doc.insert("displayName".into(), json!(i.display_name));
    }
    if let Some(e) = row.record.as_ref().and_then(|(r, _)| r.external_id.clone()) {
        doc.insert("externalId".into(), json!(e));
    }
    // The manager is Writ's (it may have been set otherwise since).
    let mut ext: Map<String, Value> = doc.remove(ENTERPRISE_USER).and_then(|e| e.as_object().cloned()).unwrap_or_default();
    match &i.manager {
        None => {
            ext.remove("manager");
        }
        Some(m) => {
            let same = ext.get("manager").and_then(|x| x.get("value")).and_then(Value::as_str) == Some(m.as_str());
            if !same {
                ext.insert("manager".into(), json!({ "value": m, "$ref": format!("{base}/Users/{m}") }));
            }
        }
    }
    if !ext.is_empty() {
        schemas.push(json!(ENTERPRISE_USER));
        doc.insert(ENTERPRISE_USER.into(), Value::Object(ext));
    }
    let member_of: Vec<Value> = i
        .groups
        .iter()
        .filter_map(|g| groups.get(g))
        .map(|g| json!({ "value": g.id, "$ref": format!("{base}/Groups/{}", g.id), "display": g.display_name, "type": "direct" }))
        .collect();
    if !member_of.is_empty() {
        doc.insert("groups".into(), Value::Array(member_of));
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    let mut meta = json!({ "resourceType": "User", "location": format!("{base}/Users/{}", i.id), "version": etag(&user_version(row)) });
    if let Some((r, _)) = &row.record {
        meta["created"] = json!(time(r.created_at));
        meta["lastModified"] = json!(time(r.updated_at));
    }
    doc.insert("meta".into(), meta);
    Value::Object(doc)
}

/// A Group as SCIM returns it, with its members.
pub fn group_resource(g: &ScimGroupRecord, version: u64, members: &[IdentityId], base: &str) -> Value {
    let mut doc: Map<String, Value> = g.attributes.as_object().cloned().unwrap_or_default();
    doc.insert("schemas".into(), json!([schema::GROUP]));
    doc.insert("id".into(), json!(g.id));
    doc.insert("displayName".into(), json!(g.display_name));
    if let Some(e) = &g.external_id {
        doc.insert("externalId".into(), json!(e));
    }
    if !members.is_empty() {
        let m: Vec<Value> = members.iter().map(|m| json!({ "value": m, "$ref": format!("{base}/Users/{m}"), "type": "User" })).collect();
        doc.insert("members".into(), Value::Array(m));
    }
    doc.insert(
        "meta".into(),
        json!({ "resourceType": "Group", "created": time(g.created_at), "lastModified": time(g.updated_at),
                "location": format!("{base}/Groups/{}", g.id), "version": etag(&version.to_string()) }),
    );
    Value::Object(doc)
}

/// `userName` may be given on a replacement only unchanged: it is the
/// identity id.
pub fn check_same_user_name(clean: &Value, id: &IdentityId) -> Result<(), ScimError> {
    match clean.get("userName").and_then(Value::as_str) {
        Some(n) if n != id.as_str() => Err(ScimError::bad(
            ScimType::Mutability,
            format!("`userName` cannot change from `{id}` to `{n}`: it is the Writ identity id, which the audit log refers to; create a new user instead"),
        )),
        _ => Ok(()),
    }
}

/// The `If-Match` precondition: `W/"v"`, `"v"` or `*`.
pub fn check_if_match(if_match: Option<&str>, current: &str) -> Result<(), ScimError> {
    let Some(want) = if_match else { return Ok(()) };
    let ok = want.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/").trim_matches('"') == current);
    if ok {
        Ok(())
    } else {
        Err(ScimError::precondition(format!("the resource is at version {}, not the one in If-Match ({want}): read it again", etag(current))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_name_must_be_a_writ_identity_id() {
        assert_eq!(user_id(&json!({ "userName": "ann@example.com" })).unwrap().as_str(), "ann@example.com");
        let e = user_id(&json!({ "userName": "ann smith" })).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("cannot be a Writ identity id"), "{e}");
        assert!(user_id(&json!({})).unwrap_err().detail.contains("required"));
    }

    #[test]
    fn a_user_maps_to_a_person_with_status_name_and_manager() {
        let clean = json!({ "userName": "ann", "active": false, "name": { "givenName": "Ann", "familyName": "Lee" },
                            ENTERPRISE_USER: { "manager": { "value": "mona" } } });
        let id = user_id(&clean).unwrap();
        let i = identity_from(&clean, &id, None).unwrap();
        assert_eq!((i.kind, i.status, i.display_name.as_str()), (IdentityKind::Person, IdentityStatus::Disabled, "Ann Lee"));
        assert_eq!(i.manager.unwrap().as_str(), "mona");
        let own = json!({ "userName": "ann", ENTERPRISE_USER: { "manager": { "value": "ann" } } });
        assert!(identity_from(&own, &id, None).unwrap_err().detail.contains("own manager"));
        // `active` absent keeps the status; groups stay Writ's.
        let mut current = identity_from(&json!({ "userName": "ann", "active": false }), &id, None).unwrap();
        current.groups.insert(GroupId::parse("ops").unwrap());
        let next = identity_from(&json!({ "userName": "ann", "displayName": "A" }), &id, Some(&current)).unwrap();
        assert_eq!(next.status, IdentityStatus::Disabled);
        assert!(next.groups.contains(&GroupId::parse("ops").unwrap()));
    }

    #[test]
    fn group_ids_come_from_the_display_name() {
        assert_eq!(group_id_for("security").unwrap().as_str(), "security");
        assert_eq!(group_id_for("Payments Team (EU)").unwrap().as_str(), "Payments-Team--EU-");
        assert_eq!(group_id_for("  ops").unwrap().as_str(), "ops");
        assert!(group_id_for("!!!").is_err());
    }

    #[test]
    fn members_are_users_only() {
        let ids = member_ids(&json!({ "members": [{ "value": "ann" }, { "value": "bob", "type": "User" }] })).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(member_ids(&json!({ "members": [{ "value": "g", "type": "Group" }] })).unwrap_err().detail.contains("do not nest"));
    }

    #[test]
    fn if_match_compares_versions() {
        assert!(check_if_match(None, "3").is_ok());
        assert!(check_if_match(Some("W/\"3\""), "3").is_ok());
        assert!(check_if_match(Some("*"), "3").is_ok());
        assert_eq!(check_if_match(Some("W/\"2\""), "3").unwrap_err().status, 412);
    }
}
