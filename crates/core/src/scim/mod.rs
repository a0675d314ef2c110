//! The protocol side of inbound SCIM 2.0 (RFC 7643, RFC 7644), with no I/O:
//! the schemas Writ serves (`schema`), attribute paths (`path`), list filters
//! (`filter`), PATCH operations (`patch`), and SCIM's error shape (`error`).
//! Resources are handled as JSON documents: a filter is evaluated on the
//! resource as it would be returned, and a PATCH edits that document, which
//! is then checked and mapped like a replacement (the app does the mapping).

pub mod error;
pub mod filter;
pub mod patch;
pub mod path;
pub mod schema;

pub use error::{ScimError, ScimType};
pub use filter::Filter;
pub use path::AttrPath;

/// Looks `key` up in a JSON object without regard to case: SCIM attribute
/// names are case-insensitive (RFC 7643 §2.1).
pub fn get_ci<'a>(obj: &'a serde_json::Map<String, serde_json::Value>, key: &str) -> Option<&'a serde_json::Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The key under which `key` is stored in `obj`, compared without regard to case.
pub fn key_ci(obj: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    if obj.contains_key(key) {
        return Some(key.to_owned());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// `resource` with only the attributes a list or read asked for
/// (`attributes`), or without those it excluded (`excludedAttributes`), as
/// RFC 7644 §3.4.2.5 says: `id` and `schemas` are always returned.
pub fn project(resource: &serde_json::Value, attributes: &[AttrPath], excluded: &[AttrPath]) -> serde_json::Value {
    use serde_json::{Map, Value};
    let Some(obj) = resource.as_object() else { return resource.clone() };
    let always = |k: &str| k.eq_ignore_ascii_case("id") || k.eq_ignore_ascii_case("schemas");
    // The key of `obj` holding path `p`'s attribute: its extension, or itself.
    let holder = |p: &AttrPath| match &p.urn {
        Some(u) => key_ci(obj, u),
        None => key_ci(obj, &p.attr),
    };
    if !attributes.is_empty() {
        let mut out = Map::new();
        for (k, v) in obj.iter().filter(|(k, _)| always(k)) {
            out.insert(k.clone(), v.clone());
        }
        for p in attributes {
            let Some(k) = holder(p) else { continue };
            let v = &obj[&k];
            let picked = match (&p.urn, p.attr.is_empty()) {
                (Some(_), true) => Some(v.clone()),
                (Some(_), false) => pick(v, &p.attr, p.sub.as_deref()).map(|x| {
                    let mut ext = out.get(&k).and_then(Value::as_object).cloned().unwrap_or_default();
                    merge(&mut ext, x);
                    Value::Object(ext)
                }),
                (None, _) => match &p.sub {
                    None => Some(v.clone()),
                    Some(s) => sub_only(v, s).map(|x| merge_value(out.get(&k), x)),
                },
            };
            if let Some(x) = picked {
                out.insert(k, x);
            }
        }
        return Value::Object(out);
    }
    let mut out = obj.clone();
    for p in excluded {
        let Some(k) = holder(p) else { continue };
        if always(&k) {
            continue;
        }
        match (&p.urn, p.attr.is_empty(), &p.sub) {
            (Some(_), true, _) => {
                out.remove(&k);
            }
            (Some(_), false, sub) => {
                if let Some(ext) = out.get_mut(&k).and_then(Value::as_object_mut) {
                    remove_path(ext, &p.attr, sub.as_deref());
                }
            }
            (None, _, sub) => remove_path(&mut out, &p.attr, sub.as_deref()),
        }
    }
    Value::Object(out)
}

fn pick(ext: &serde_json::Value, attr: &str, sub: Option<&str>) -> Option<serde_json::Map<String, serde_json::Value>> {
    let o = ext.as_object()?;
    let k = key_ci(o, attr)?;
    let v = match sub {
        None => o[&k].clone(),
        Some(s) => sub_only(&o[&k], s)?,
    };
    let mut m = serde_json::Map::new();
    m.insert(k, v);
    Some(m)
}

fn merge(into: &mut serde_json::Map<String, serde_json::Value>, from: serde_json::Map<String, serde_json::Value>) {
    into.extend(from);
}

fn merge_value(existing: Option<&serde_json::Value>, new: serde_json::Value) -> serde_json::Value {
    match (existing, new) {
        (Some(serde_json::Value::Object(a)), serde_json::Value::Object(b)) => {
            let mut a = a.clone();
            a.extend(b);
            serde_json::Value::Object(a)
        }
        (_, n) => n,
    }
}

/// Of a complex value (or each of a multi-valued one), only sub-attribute `s`.
fn sub_only(v: &serde_json::Value, s: &str) -> Option<serde_json::Value> {
    use serde_json::Value;
    let one = |x: &Value| -> Option<Value> {
        let o = x.as_object()?;
        let k = key_ci(o, s)?;
        let mut m = serde_json::Map::new();
        m.insert(k.clone(), o[&k].clone());
        Some(Value::Object(m))
    };
    match v {
        Value::Array(items) => Some(Value::Array(items.iter().filter_map(one).collect())),
        other => one(other),
    }
}

fn remove_path(obj: &mut serde_json::Map<String, serde_json::Value>, attr: &str, sub: Option<&str>) {
    let Some(k) = key_ci(obj, attr) else { return };
    match sub {
        None => {
            obj.remove(&k);
        }
        Some(s) => {
            let strip = |x: &mut serde_json::Value| {
                if let Some(o) = x.as_object_mut() {
                    if let Some(sk) = key_ci(o, s) {
                        o.remove(&sk);
                    }
                }
            };
            match obj.get_mut(&k) {
                Some(serde_json::Value::Array(items)) => items.iter_mut().for_each(strip),
                Some(v) => strip(v),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_keeps_id_and_schemas_and_honours_sub_attributes() {
        let r = json!({ "schemas": ["s"], "id": "ann", "userName": "ann", "name": { "givenName": "A", "familyName": "L" },
                        "emails": [{ "value": "a@x", "type": "work" }], "meta": { "version": "1" },
                        schema::ENTERPRISE_USER: { "department": "Ops", "manager": { "value": "bob" } } });
        let p = |s: &str| AttrPath::parse(s).unwrap();
        assert_eq!(project(&r, &[p("userName")], &[]), json!({ "schemas": ["s"], "id": "ann", "userName": "ann" }));
        assert_eq!(project(&r, &[p("name.givenName"), p("emails.value")], &[])["name"], json!({ "givenName": "A" }));
        assert_eq!(project(&r, &[p("emails.value")], &[])["emails"], json!([{ "value": "a@x" }]));
        let ext = format!("{}:department", schema::ENTERPRISE_USER);
        assert_eq!(project(&r, &[p(&ext)], &[])[schema::ENTERPRISE_USER], json!({ "department": "Ops" }));
        let out = project(&r, &[], &[p("meta"), p("id"), p("name.familyName")]);
        assert!(out.get("meta").is_none() && out.get("id").is_some());
        assert_eq!(out["name"], json!({ "givenName": "A" }));
    }
}
