//! Attribute paths (RFC 7644 §3.10): `userName`, `name.givenName`,
//! `emails.value`, or the same prefixed by a schema URN, e.g.
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.

use serde_json::{Map, Value};

use super::schema;
use super::{get_ci, ScimError};

/// A parsed attribute path. `urn` is set only for an extension schema (a
/// path prefixed by the resource's core schema is the same as one without);
/// `attr` is empty when the path names a whole extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

fn is_attr_name(s: &str) -> bool {
    s == "$ref" || (s.starts_with(|c: char| c.is_ascii_alphabetic()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

impl AttrPath {
    /// A top-level attribute of the core schema.
    pub fn simple(attr: &str) -> Self {
        AttrPath { urn: None, attr: attr.to_owned(), sub: None }
    }

    pub fn parse(raw: &str) -> Result<Self, ScimError> {
        let bad = |why: &str| ScimError::invalid_path(format!("`{raw}` is not an attribute path: {why}"));
        let (urn, rest) = if raw.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            match schema::split_urn(raw) {
                Some((urn, rest)) => (urn, rest),
                None => return Err(bad("it names a schema this server does not have (see /Schemas)")),
            }
        } else {
            (None, raw)
        };
        if rest.is_empty() {
            return match urn {
                Some(u) if schema::is_extension(&u) => Ok(AttrPath { urn: Some(u), attr: String::new(), sub: None }),
                _ => Err(bad("a core schema is not an attribute")),
            };
        }
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        if !is_attr_name(attr) || sub.is_some_and(|s| !is_attr_name(s)) {
            return Err(bad("an attribute name starts with a letter and has only letters, digits, `_` and `-`"));
        }
        Ok(AttrPath { urn, attr: attr.to_owned(), sub: sub.map(str::to_owned) })
    }

    /// The same path without its sub-attribute.
    pub fn parent(&self) -> AttrPath {
        AttrPath { sub: None, ..self.clone() }
    }

    /// The object holding the path's attribute in `resource`: the resource
    /// itself, or its extension's object.
    pub fn container<'a>(&self, resource: &'a Value) -> Option<&'a Map<String, Value>> {
        let root = resource.as_object()?;
        match &self.urn {
            None => Some(root),
            Some(urn) => get_ci(root, urn)?.as_object(),
        }
    }

    /// Every value the path reaches in `resource`, multi-valued attributes
    /// flattened (`emails.value` reaches each email's value).
    pub fn values<'a>(&self, resource: &'a Value) -> Vec<&'a Value> {
        let Some(container) = self.container(resource) else { return Vec::new() };
        if self.attr.is_empty() {
            return self.urn.as_ref().and_then(|u| get_ci(resource.as_object()?, u)).into_iter().collect();
        }
        let Some(v) = get_ci(container, &self.attr) else { return Vec::new() };
        let top: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        match &self.sub {
            None => top,
            Some(sub) => top
                .into_iter()
                .filter_map(|v| v.as_object().and_then(|o| get_ci(o, sub)))
                .flat_map(|v| match v {
                    Value::Array(items) => items.iter().collect::<Vec<_>>(),
                    other => vec![other],
                })
                .collect(),
        }
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}")?;
            if !self.attr.is_empty() {
                write!(f, ":")?;
            }
        }
        write!(f, "{}", self.attr)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse_with_and_without_schema_urns() {
        assert_eq!(AttrPath::parse("userName").unwrap(), AttrPath::simple("userName"));
        let p = AttrPath::parse("name.givenName").unwrap();
        assert_eq!((p.attr.as_str(), p.sub.as_deref()), ("name", Some("givenName")));
        assert_eq!(AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap(), AttrPath::simple("userName"));
        let m = AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").unwrap();
        assert_eq!(m.urn.as_deref(), Some(schema::ENTERPRISE_USER));
        assert_eq!((m.attr.as_str(), m.sub.as_deref()), ("manager", Some("value")));
        let whole = AttrPath::parse(schema::ENTERPRISE_USER).unwrap();
        assert!(whole.attr.is_empty());
        for bad in ["", "9lives", "a.b.c", "urn:example:unknown:attr", "user name", "name."] {
            let e = AttrPath::parse(bad).unwrap_err();
            assert_eq!(e.scim_type, Some(super::super::ScimType::InvalidPath), "{bad}");
        }
    }

    #[test]
    fn values_flatten_multi_valued_attributes_and_ignore_case() {
        let r = json!({ "emails": [{ "value": "a@x" }, { "value": "b@x" }], "UserName": "ann",
                        schema::ENTERPRISE_USER: { "manager": { "value": "bob" } } });
        let emails = AttrPath::parse("emails.value").unwrap();
        assert_eq!(emails.values(&r), vec![&json!("a@x"), &json!("b@x")]);
        assert_eq!(AttrPath::parse("userName").unwrap().values(&r), vec![&json!("ann")]);
        let m = AttrPath::parse(&format!("{}:manager.value", schema::ENTERPRISE_USER)).unwrap();
        assert_eq!(m.values(&r), vec![&json!("bob")]);
        assert!(AttrPath::parse("title").unwrap().values(&r).is_empty());
    }
}
