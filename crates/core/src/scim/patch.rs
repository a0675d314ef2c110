//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations applied
//! to a resource as a JSON document, including the forms identity providers
//! send: an operation without a path whose value holds the attributes
//! (Okta's `{"op":"replace","value":{"active":false}}`), capitalised
//! operation names and string booleans (Entra ID's
//! `{"op":"Replace","path":"active","value":"False"}`), value filters
//! (`members[value eq "…"]`, `emails[type eq "work"].value`) and a `remove`
//! of `members` with the members to remove as its value. The result is
//! checked by the caller as a replacement would be.

use serde_json::{Map, Value};

use super::filter::{CompareOp, Filter};
use super::schema::{self, Kind, Mutability};
use super::{get_ci, key_ci, AttrPath, ScimError, ScimType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

/// Where an operation applies: an attribute, optionally some of its values
/// (`[filter]`) and a sub-attribute of those.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

impl PatchPath {
    pub fn parse(raw: &str) -> Result<Self, ScimError> {
        let Some(open) = raw.find('[') else {
            let p = AttrPath::parse(raw)?;
            let sub = p.sub.clone();
            return Ok(PatchPath { attr: p.parent(), filter: None, sub });
        };
        let close = raw.rfind(']').filter(|&c| c > open).ok_or_else(|| ScimError::invalid_path(format!("path `{raw}`: a `[` is not closed by `]`")))?;
        let attr = AttrPath::parse(&raw[..open])?;
        if attr.sub.is_some() || attr.attr.is_empty() {
            return Err(ScimError::invalid_path(format!("path `{raw}`: a value filter applies to an attribute, not a sub-attribute")));
        }
        let filter = Filter::parse(&raw[open + 1..close]).map_err(|e| ScimError::invalid_path(format!("path `{raw}`: {}", e.detail)))?;
        let sub = match &raw[close + 1..] {
            "" => None,
            rest => match rest.strip_prefix('.') {
                Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$') => Some(s.to_owned()),
                _ => return Err(ScimError::invalid_path(format!("path `{raw}`: after `]` only `.subAttribute` may follow"))),
            },
        };
        Ok(PatchPath { attr, filter: Some(filter), sub })
    }

    fn full(&self) -> AttrPath {
        AttrPath { sub: self.sub.clone(), ..self.attr.clone() }
    }
}

/// The operations of a PATCH request body (`PatchOp`).
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let syntax = |why: String| ScimError::bad(ScimType::InvalidSyntax, why);
    let obj = body.as_object().ok_or_else(|| syntax("a PATCH body must be a JSON object with `schemas` and `Operations`".into()))?;
    if let Some(schemas) = get_ci(obj, "schemas") {
        let named = schemas.as_array().is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(schema::PATCH_OP))));
        if !named {
            return Err(syntax(format!("`schemas` of a PATCH body must be [\"{}\"]", schema::PATCH_OP)));
        }
    }
    let ops = get_ci(obj, "Operations").and_then(Value::as_array).ok_or_else(|| syntax("a PATCH body needs `Operations`: a list of operations".into()))?;
    if ops.is_empty() {
        return Err(syntax("`Operations` is empty: give at least one".into()));
    }
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            let o = o.as_object().ok_or_else(|| syntax(format!("Operations[{i}] must be an object with `op`, `path` and `value`")))?;
            let op = match get_ci(o, "op").and_then(Value::as_str).map(str::to_ascii_lowercase).as_deref() {
                Some("add") => Op::Add,
                Some("remove") => Op::Remove,
                Some("replace") => Op::Replace,
                _ => return Err(syntax(format!("Operations[{i}].op must be `add`, `remove` or `replace`"))),
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.is_empty() => None,
                Some(Value::String(p)) => Some(PatchPath::parse(p)?),
                Some(_) => return Err(ScimError::invalid_path(format!("Operations[{i}].path must be a string"))),
            };
            let value = get_ci(o, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(ScimError::invalid_value(format!("Operations[{i}] ({op:?}) needs a `value`")));
            }
            if op == Op::Remove && path.is_none() {
                return Err(ScimError::bad(ScimType::NoTarget, format!("Operations[{i}]: `remove` needs a `path` naming what to remove")));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// Applies `ops` in order to `resource` (a `kind` as returned). Read-only
/// attributes named in a pathless operation's value are skipped (clients
/// echo `id` or `meta`); a path naming one is a `mutability` error.
pub fn apply(kind: Kind, resource: &mut Value, ops: &[Operation]) -> Result<(), ScimError> {
    for op in ops {
        match &op.path {
            None => {
                let value = op
                    .value
                    .as_ref()
                    .and_then(Value::as_object)
                    .ok_or_else(|| ScimError::invalid_value("an operation without a `path` needs a `value` that is an object of attributes"))?;
                for (k, v) in value {
                    if schema::is_extension(k) && v.is_object() {
                        let urn = schema::split_urn(k).and_then(|(u, _)| u);
                        for (k2, v2) in v.as_object().into_iter().flatten() {
                            let p = PatchPath { attr: AttrPath { urn: urn.clone(), attr: k2.clone(), sub: None }, filter: None, sub: None };
                            apply_one(kind, resource, op.op, &p, Some(v2), true)?;
                        }
                        continue;
                    }
                    if k.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    let p = PatchPath::parse(k)?;
                    apply_one(kind, resource, op.op, &p, Some(v), true)?;
                }
            }
            Some(p) => apply_one(kind, resource, op.op, p, op.value.as_ref(), false)?,
        }
    }
    Ok(())
}

fn apply_one(kind: Kind, resource: &mut Value, op: Op, p: &PatchPath, value: Option<&Value>, pathless: bool) -> Result<(), ScimError> {
    let root = resource.as_object_mut().ok_or_else(|| ScimError::invalid_value("the resource is not an object"))?;
    // A whole extension.
    if p.attr.attr.is_empty() {
        let urn = p.attr.urn.clone().unwrap_or_default();
        return match op {
            Op::Remove => {
                if let Some(k) = key_ci(root, &urn) {
                    root.remove(&k);
                }
                Ok(())
            }
            Op::Add | Op::Replace => {
                let v = value.and_then(Value::as_object).ok_or_else(|| ScimError::invalid_value(format!("the value for `{urn}` must be an object")))?;
                // Its attributes, as in an operation without a path (a
                // client may echo the extension's `schemas`).
                for (k, x) in v {
                    let sub = PatchPath { attr: AttrPath { urn: Some(urn.clone()), attr: k.clone(), sub: None }, filter: None, sub: None };
                    apply_one(kind, resource, op, &sub, Some(x), true)?;
                }
                Ok(())
            }
        };
    }
    let Some(def) = kind.find(&p.attr) else {
        if pathless {
            return Ok(());
        }
        return Err(ScimError::invalid_path(format!("`{}` is not an attribute of a {} (see /Schemas)", p.attr, kind.name())));
    };
    let leaf_def = if p.sub.is_some() { kind.find(&p.full()) } else { Some(def) };
    if def.mutability == Mutability::ReadOnly || leaf_def.is_some_and(|d| d.mutability == Mutability::ReadOnly) {
        if pathless {
            return Ok(());
        }
        return Err(ScimError::bad(ScimType::Mutability, format!("`{}` is read-only", p.full())));
    }
    let container: &mut Map<String, Value> = match &p.attr.urn {
        None => root,
        Some(urn) => {
            let k = key_ci(root, urn).unwrap_or_else(|| urn.clone());
            let entry = root.entry(k).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            entry.as_object_mut().expect("made an object")
        }
    };
    let key = key_ci(container, def.name).unwrap_or_else(|| def.name.to_owned());
    match (&p.filter, &p.sub) {
        (None, None) => whole(container, &key, def.multi, op, value),
        (None, Some(sub)) => {
            let slot = container.entry(key.clone()).or_insert(Value::Null);
            match slot {
                Value::Array(items) => {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        set_sub(item, sub, op, value);
                    }
                }
                _ if op == Op::Remove => {
                    if let Value::Object(o) = slot {
                        set_sub(o, sub, op, value);
                    }
                }
                _ => {
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    set_sub(slot.as_object_mut().expect("an object"), sub, op, value);
                }
            }
            drop_if_empty(container, &key);
            Ok(())
        }
        (Some(filter), sub) => filtered(kind, container, &key, &p.attr, filter, sub.as_deref(), op, value),
    }
}

/// An operation on a whole attribute.
fn whole(container: &mut Map<String, Value>, key: &str, multi: bool, op: Op, value: Option<&Value>) -> Result<(), ScimError> {
    match op {
        Op::Remove => {
            // `remove` of `members` with a value (Entra ID): remove those values.
            if let (true, Some(v)) = (multi, value) {
                let gone: Vec<Value> = as_list(v);
                if let Some(Value::Array(items)) = container.get_mut(key) {
                    items.retain(|i| !gone.iter().any(|g| same_item(i, g)));
                }
                drop_if_empty(container, key);
            } else {
                container.remove(key);
            }
        }
        Op::Add if multi => {
            let slot = container.entry(key.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let items = slot.as_array_mut().expect("an array");
            for v in as_list(value.unwrap_or(&Value::Null)) {
                if !items.iter().any(|i| same_item(i, &v)) {
                    items.push(v);
                }
            }
        }
        Op::Add | Op::Replace => {
            let v = value.cloned().unwrap_or(Value::Null);
            match (container.get_mut(key), &v) {
                // A complex attribute: the sub-attributes given replace
                // theirs, the others stay (RFC 7644 §3.5.2.1 and §3.5.2.3).
                (Some(Value::Object(existing)), Value::Object(new)) if !multi => {
                    for (k, x) in new {
                        let k = key_ci(existing, k).unwrap_or_else(|| k.clone());
                        existing.insert(k, x.clone());
                    }
                }
                _ => {
                    container.insert(key.to_owned(), if multi && !v.is_array() && !v.is_null() { Value::Array(vec![v]) } else { v });
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn filtered(
    kind: Kind,
    container: &mut Map<String, Value>,
    key: &str,
    attr: &AttrPath,
    filter: &Filter,
    sub: Option<&str>,
    op: Op,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let items = match container.get_mut(key) {
        Some(Value::Array(items)) => items,
        _ if op == Op::Remove => return Ok(()),
        _ => {
            container.insert(key.to_owned(), Value::Array(Vec::new()));
            container.get_mut(key).and_then(Value::as_array_mut).expect("an array")
        }
    };
    let matching: Vec<usize> = (0..items.len()).filter(|&i| filter.matches_element(kind, attr, &items[i])).collect();
    match op {
        Op::Remove => {
            match sub {
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matching.contains(&i);
                        i += 1;
                        keep
                    });
                }
                Some(s) => {
                    for &i in &matching {
                        if let Some(o) = items[i].as_object_mut() {
                            set_sub(o, s, op, value);
                        }
                    }
                }
            }
            drop_if_empty(container, key);
        }
        Op::Add | Op::Replace => {
            if matching.is_empty() {
                // Nothing matches: the element the filter describes is made
                // (Entra ID replaces `emails[type eq "work"].value` on a user
                // without one), when the filter says what it is.
                let mut made =
                    equalities(filter).ok_or_else(|| ScimError::bad(ScimType::NoTarget, format!("no value of `{attr}` matches the filter `{filter}`")))?;
                match (sub, value) {
                    (Some(s), Some(v)) => {
                        made.insert(s.to_owned(), v.clone());
                    }
                    (None, Some(Value::Object(o))) => made.extend(o.clone()),
                    _ => return Err(ScimError::invalid_value(format!("the value for `{attr}[…]` must be an object"))),
                }
                items.push(Value::Object(made));
                return Ok(());
            }
            for &i in &matching {
                let Some(o) = items[i].as_object_mut() else { continue };
                match (sub, value) {
                    (Some(s), _) => set_sub(o, s, Op::Replace, value),
                    (None, Some(Value::Object(new))) => {
                        for (k, x) in new {
                            let k = key_ci(o, k).unwrap_or_else(|| k.clone());
                            o.insert(k, x.clone());
                        }
                    }
                    _ => return Err(ScimError::invalid_value(format!("the value for `{attr}[…]` must be an object"))),
                }
            }
        }
    }
    Ok(())
}

/// The sub-attributes a filter of `eq`s joined by `and` fixes.
fn equalities(f: &Filter) -> Option<Map<String, Value>> {
    match f {
        Filter::Compare { path, op: CompareOp::Eq, value } => {
            let mut m = Map::new();
            m.insert(path.sub.clone().unwrap_or_else(|| path.attr.clone()), value.clone());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = equalities(a)?;
            m.extend(equalities(b)?);
            Some(m)
        }
        _ => None,
    }
}

fn set_sub(o: &mut Map<String, Value>, sub: &str, op: Op, value: Option<&Value>) {
    let k = key_ci(o, sub).unwrap_or_else(|| sub.to_owned());
    match (op, value) {
        (Op::Remove, _) | (_, None) => {
            o.remove(&k);
        }
        (_, Some(v)) => {
            o.insert(k, v.clone());
        }
    }
}

fn drop_if_empty(container: &mut Map<String, Value>, key: &str) {
    let empty = match container.get(key) {
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        container.remove(key);
    }
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// Two values of a multi-valued attribute are the same one when equal, or
/// when both are objects with the same `value`.
fn same_item(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a.as_object().and_then(|o| get_ci(o, "value")), b.as_object().and_then(|o| get_ci(o, "value"))) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(kind: Kind, mut r: Value, ops: Value) -> Result<Value, ScimError> {
        let ops = parse(&json!({ "schemas": [schema::PATCH_OP], "Operations": ops }))?;
        apply(kind, &mut r, &ops)?;
        Ok(r)
    }

    fn ann() -> Value {
        json!({ "id": "ann", "userName": "ann", "active": true, "name": { "givenName": "Ann", "familyName": "Smith" },
                "emails": [{ "value": "ann@work", "type": "work" }] })
    }

    #[test]
    fn okta_deactivates_with_a_pathless_replace_and_entra_with_a_string_boolean() {
        let r = patch(Kind::User, ann(), json!([{ "op": "replace", "value": { "active": false, "id": "ann" } }])).unwrap();
        assert_eq!(r["active"], false);
        let r = patch(Kind::User, ann(), json!([{ "op": "Replace", "path": "active", "value": "False" }])).unwrap();
        assert_eq!(r["active"], "False", "kept as sent: the schema check turns it into a boolean");
    }

    #[test]
    fn add_replace_and_remove_on_simple_complex_and_multi_valued_attributes() {
        let r = patch(Kind::User, ann(), json!([{ "op": "add", "path": "title", "value": "Boss" }])).unwrap();
        assert_eq!(r["title"], "Boss");
        let r = patch(Kind::User, ann(), json!([{ "op": "replace", "path": "name", "value": { "givenName": "Anne" } }])).unwrap();
        assert_eq!(r["name"], json!({ "givenName": "Anne", "familyName": "Smith" }), "a complex replace keeps the sub-attributes not given");
        let r = patch(Kind::User, ann(), json!([{ "op": "replace", "path": "name.familyName", "value": "Jones" }])).unwrap();
        assert_eq!(r["name"]["familyName"], "Jones");
        let r = patch(Kind::User, ann(), json!([{ "op": "add", "path": "emails", "value": [{ "value": "ann@home", "type": "home" }] }])).unwrap();
        assert_eq!(r["emails"].as_array().unwrap().len(), 2);
        let r = patch(Kind::User, r, json!([{ "op": "add", "path": "emails", "value": [{ "value": "ann@home", "type": "home" }] }])).unwrap();
        assert_eq!(r["emails"].as_array().unwrap().len(), 2, "adding a value already there changes nothing");
        let r = patch(Kind::User, r, json!([{ "op": "remove", "path": "emails[type eq \"home\"]" }])).unwrap();
        assert_eq!(r["emails"], json!([{ "value": "ann@work", "type": "work" }]));
        let r = patch(Kind::User, r, json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@w" }])).unwrap();
        assert_eq!(r["emails"], json!([{ "value": "a@w", "type": "work" }]));
        let r = patch(Kind::User, r, json!([{ "op": "remove", "path": "name.givenName" }, { "op": "remove", "path": "title" }])).unwrap();
        assert_eq!(r["name"], json!({ "familyName": "Smith" }));
        assert!(r.get("title").is_none());
        let r = patch(Kind::User, r, json!([{ "op": "remove", "path": "emails" }])).unwrap();
        assert!(r.get("emails").is_none());
    }

    #[test]
    fn entra_replaces_a_filtered_value_that_does_not_exist_yet_by_making_it() {
        let r =
            patch(Kind::User, json!({ "userName": "ann" }), json!([{ "op": "Add", "path": "emails[type eq \"work\"].value", "value": "ann@work" }])).unwrap();
        assert_eq!(r["emails"], json!([{ "type": "work", "value": "ann@work" }]));
        let e = patch(Kind::User, json!({}), json!([{ "op": "replace", "path": "emails[value co \"x\"].type", "value": "work" }])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn the_manager_is_set_through_the_enterprise_extension_in_every_form() {
        let ext = schema::ENTERPRISE_USER;
        let r = patch(Kind::User, ann(), json!([{ "op": "replace", "path": format!("{ext}:manager"), "value": "bob" }])).unwrap();
        assert_eq!(r[ext]["manager"], "bob", "Entra ID's string form, made an object by the schema check");
        let r = patch(Kind::User, ann(), json!([{ "op": "add", "path": format!("{ext}:manager.value"), "value": "bob" }])).unwrap();
        assert_eq!(r[ext]["manager"], json!({ "value": "bob" }));
        let r = patch(Kind::User, ann(), json!([{ "op": "replace", "value": { ext: { "manager": { "value": "carl" } } } }])).unwrap();
        assert_eq!(r[ext]["manager"], json!({ "value": "carl" }));
        let r = patch(Kind::User, r, json!([{ "op": "remove", "path": format!("{ext}:manager") }])).unwrap();
        assert!(r[ext].get("manager").is_none());
        let r = patch(Kind::User, r, json!([{ "op": "add", "path": ext, "value": { "department": "Ops" } }])).unwrap();
        assert_eq!(r[ext]["department"], "Ops");
    }

    #[test]
    fn group_members_are_added_and_removed_as_okta_and_entra_send_them() {
        let g = json!({ "id": "g1", "displayName": "ops", "members": [{ "value": "ann" }, { "value": "bob" }] });
        let r = patch(Kind::Group, g.clone(), json!([{ "op": "add", "path": "members", "value": [{ "value": "carl", "display": "Carl" }] }])).unwrap();
        assert_eq!(r["members"].as_array().unwrap().len(), 3);
        let r = patch(Kind::Group, r, json!([{ "op": "remove", "path": "members[value eq \"ann\"]" }])).unwrap();
        let ids: Vec<&str> = r["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
        assert_eq!(ids, ["bob", "carl"]);
        let r = patch(Kind::Group, r, json!([{ "op": "Remove", "path": "members", "value": [{ "value": "bob" }] }])).unwrap();
        assert_eq!(r["members"], json!([{ "value": "carl", "display": "Carl" }]));
        let r = patch(Kind::Group, r, json!([{ "op": "remove", "path": "members[value eq \"nobody\"]" }])).unwrap();
        assert_eq!(r["members"].as_array().unwrap().len(), 1, "removing a non-member changes nothing");
        let r = patch(Kind::Group, g, json!([{ "op": "replace", "value": { "id": "g1", "displayName": "ops-2" } }])).unwrap();
        assert_eq!(r["displayName"], "ops-2");
    }

    #[test]
    fn bad_operations_are_refused_with_the_right_scim_type() {
        let cases = [
            (json!([{ "op": "move", "path": "title", "value": "x" }]), ScimType::InvalidSyntax),
            (json!([{ "op": "remove" }]), ScimType::NoTarget),
            (json!([{ "op": "add", "path": "title" }]), ScimType::InvalidValue),
            (json!([{ "op": "replace", "path": "id", "value": "x" }]), ScimType::Mutability),
            (json!([{ "op": "replace", "path": "groups", "value": [] }]), ScimType::Mutability),
            (json!([{ "op": "replace", "path": "nonsense", "value": 1 }]), ScimType::InvalidPath),
            (json!([{ "op": "replace", "path": "emails[type eq", "value": 1 }]), ScimType::InvalidPath),
            (json!([]), ScimType::InvalidSyntax),
        ];
        for (ops, t) in cases {
            let e = patch(Kind::User, ann(), ops.clone()).unwrap_err();
            assert_eq!(e.scim_type, Some(t), "{ops}: {e}");
        }
        let e = parse(&json!({ "schemas": ["urn:x"], "Operations": [] })).unwrap_err();
        assert!(e.detail.contains("PatchOp"), "{e}");
    }
}
