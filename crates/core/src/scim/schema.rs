//! The schemas Writ serves (RFC 7643 §7): the attributes of a User, of the
//! enterprise extension and of a Group that Writ keeps. They drive three
//! things: `/Schemas` says them, [`sanitize`] keeps only them from what a
//! client sends (checking each value's type), and filters compare by them
//! (case-exact or not).

use serde_json::{json, Map, Value};

use super::{get_ci, ScimError};
use crate::text::is_refused;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The most characters of one string value: far above any name or address,
/// low enough that a record stays small.
pub const MAX_STRING: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Complex,
    Reference,
    DateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

/// One attribute of a schema.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    /// `server` uniqueness (else none).
    pub unique: bool,
    pub sub: &'static [Attr],
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
}

const fn attr(name: &'static str, ty: Type, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        sub: &[],
        canonical: &[],
        reference_types: &[],
        description,
    }
}

const fn string(name: &'static str, description: &'static str) -> Attr {
    attr(name, Type::String, description)
}

const NAME_SUB: &[Attr] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name."),
    string("givenName", "The given name."),
    string("middleName", "The middle name(s)."),
    string("honorificPrefix", "The honorific prefix, e.g. `Ms.`."),
    string("honorificSuffix", "The honorific suffix, e.g. `III`."),
];

const EMAIL_SUB: &[Attr] = &[
    string("value", "The email address."),
    string("display", "A label for the address."),
    Attr { canonical: &["work", "home", "other"], ..string("type", "What the address is for.") },
    attr("primary", Type::Boolean, "Whether this is the preferred address."),
];

const USER_GROUP_SUB: &[Attr] = &[
    Attr { mutability: Mutability::ReadOnly, ..string("value", "The id of a Group the user is a member of.") },
    Attr { mutability: Mutability::ReadOnly, reference_types: &["Group"], ..attr("$ref", Type::Reference, "The Group's URI.") },
    Attr { mutability: Mutability::ReadOnly, ..string("display", "The Group's displayName.") },
    Attr { mutability: Mutability::ReadOnly, canonical: &["direct"], ..string("type", "How the user is a member: `direct`.") },
];

/// The core User attributes Writ keeps. `userName` is the Writ identity id,
/// so it cannot change once the user exists.
pub const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        case_exact: true,
        mutability: Mutability::Immutable,
        unique: true,
        ..string("userName", "The Writ identity id: 1 to 128 letters, digits, `.`, `_`, `-`, `@`, `+`, starting with a letter or digit; not one of Writ's reserved names. It cannot change.")
    },
    Attr { sub: NAME_SUB, ..attr("name", Type::Complex, "The user's name.") },
    string("displayName", "The name shown for the user in Writ."),
    string("nickName", "The casual name of the user."),
    string("title", "The user's title, e.g. `Vice President`."),
    attr("active", Type::Boolean, "Whether the user may act and hold access in Writ. `false` disables the identity: its pending requests are cancelled and its access removed."),
    Attr { multi: true, sub: EMAIL_SUB, ..attr("emails", Type::Complex, "Email addresses.") },
    Attr { multi: true, mutability: Mutability::ReadOnly, sub: USER_GROUP_SUB, ..attr("groups", Type::Complex, "The Groups the user is a member of (set through the Groups).") },
];

const MANAGER_SUB: &[Attr] = &[
    string("value", "The id (userName) of the user's manager."),
    Attr { reference_types: &["User"], ..attr("$ref", Type::Reference, "The manager's URI.") },
    Attr { mutability: Mutability::ReadOnly, ..string("displayName", "The manager's displayName.") },
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    string("employeeNumber", "The employee number."),
    string("costCenter", "The cost center."),
    string("organization", "The organization."),
    string("division", "The division."),
    string("department", "The department."),
    Attr {
        sub: MANAGER_SUB,
        ..attr("manager", Type::Complex, "The user's manager: Writ's manager of the identity (the approver of `subject_manager` stages).")
    },
];

const MEMBER_SUB: &[Attr] = &[
    Attr { mutability: Mutability::Immutable, case_exact: true, ..string("value", "The id of a member User.") },
    Attr { mutability: Mutability::Immutable, reference_types: &["User"], ..attr("$ref", Type::Reference, "The member's URI.") },
    Attr { mutability: Mutability::Immutable, canonical: &["User"], ..string("type", "The member's resource type: `User` (Groups do not nest).") },
    Attr { mutability: Mutability::ReadOnly, ..string("display", "The member's displayName.") },
];

/// The core Group attributes. A Group is a Writ group: its id in policies is
/// fixed when it is created (from its displayName), renaming it later
/// changes only the displayName.
pub const GROUP_ATTRS: &[Attr] = &[
    Attr { required: true, unique: true, ..string("displayName", "The group's name. At creation it also gives the Writ group id policies use: letters, digits, `.`, `_`, `-` kept, any other character becoming `-`.") },
    Attr { multi: true, sub: MEMBER_SUB, ..attr("members", Type::Complex, "The Users in the group.") },
];

/// Attributes of every resource (RFC 7643 §3.1).
pub const COMMON_ATTRS: &[Attr] = &[
    Attr { case_exact: true, mutability: Mutability::ReadOnly, unique: true, ..string("id", "The id Writ gives the resource.") },
    Attr { case_exact: true, ..string("externalId", "The provisioning client's id for the resource.") },
    Attr {
        mutability: Mutability::ReadOnly,
        sub: &[
            Attr { mutability: Mutability::ReadOnly, ..string("resourceType", "") },
            Attr { mutability: Mutability::ReadOnly, ..attr("created", Type::DateTime, "") },
            Attr { mutability: Mutability::ReadOnly, ..attr("lastModified", Type::DateTime, "") },
            Attr { mutability: Mutability::ReadOnly, ..attr("location", Type::Reference, "") },
            Attr { mutability: Mutability::ReadOnly, case_exact: true, ..string("version", "") },
        ],
        ..attr("meta", Type::Complex, "")
    },
];

/// The two kinds of resource Writ serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn schema(self) -> &'static str {
        match self {
            Kind::User => USER,
            Kind::Group => GROUP,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "/Users",
            Kind::Group => "/Groups",
        }
    }
    pub fn attrs(self) -> &'static [Attr] {
        match self {
            Kind::User => USER_ATTRS,
            Kind::Group => GROUP_ATTRS,
        }
    }
    /// The extension schemas this kind has, with their attributes.
    pub fn extensions(self) -> &'static [(&'static str, &'static [Attr])] {
        match self {
            Kind::User => &[(ENTERPRISE_USER, ENTERPRISE_ATTRS)],
            Kind::Group => &[],
        }
    }

    /// The definition of the attribute `path` names, if this kind has it.
    pub fn find(self, path: &super::AttrPath) -> Option<&'static Attr> {
        let attrs: &[Attr] = match &path.urn {
            None => self.attrs(),
            Some(u) => self.extensions().iter().find(|(urn, _)| urn.eq_ignore_ascii_case(u))?.1,
        };
        let top = attrs.iter().chain(if path.urn.is_none() { COMMON_ATTRS } else { &[] }).find(|a| a.name.eq_ignore_ascii_case(&path.attr))?;
        match &path.sub {
            None => Some(top),
            Some(s) => top.sub.iter().find(|a| a.name.eq_ignore_ascii_case(s)),
        }
    }
}

/// `raw` split into the schema URN it starts with and the rest (after the
/// `:`), if it starts with a known one. A core schema gives `None`: its
/// attributes are the resource's top level.
pub fn split_urn(raw: &str) -> Option<(Option<String>, &str)> {
    for urn in [USER, GROUP, ENTERPRISE_USER] {
        if let Some(rest) = raw.get(..urn.len()).filter(|p| p.eq_ignore_ascii_case(urn)).map(|_| &raw[urn.len()..]) {
            let rest = match rest.strip_prefix(':') {
                Some(r) => r,
                None if rest.is_empty() => rest,
                None => continue,
            };
            let named = if urn == ENTERPRISE_USER { Some(urn.to_owned()) } else { None };
            return Some((named, rest));
        }
    }
    None
}

pub fn is_extension(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(ENTERPRISE_USER)
}

/// What a client sent for a `kind`, keeping only the attributes the client
/// may write (unknown and read-only ones are ignored, as RFC 7644 §3.3
/// allows), under their canonical names, each value checked against its
/// type. A null value is an unassigned one (dropped).
pub fn sanitize(kind: Kind, raw: &Value) -> Result<Value, ScimError> {
    let obj = raw.as_object().ok_or_else(|| ScimError::bad(super::ScimType::InvalidSyntax, format!("a {} must be a JSON object", kind.name())))?;
    let mut out = clean_object(obj, kind.attrs(), "")?;
    if let Some(ext) = get_ci(obj, "externalId") {
        if let Some(v) = clean_value(&COMMON_ATTRS[1], ext, "externalId")? {
            out.insert("externalId".into(), v);
        }
    }
    for (urn, attrs) in kind.extensions() {
        match get_ci(obj, urn) {
            None | Some(Value::Null) => {}
            Some(Value::Object(ext)) => {
                let cleaned = clean_object(ext, attrs, urn)?;
                if !cleaned.is_empty() {
                    out.insert((*urn).to_owned(), Value::Object(cleaned));
                }
            }
            Some(_) => return Err(ScimError::invalid_value(format!("`{urn}` must be an object of the extension's attributes"))),
        }
    }
    Ok(Value::Object(out))
}

fn clean_object(obj: &Map<String, Value>, attrs: &'static [Attr], prefix: &str) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for a in attrs.iter().filter(|a| a.mutability != Mutability::ReadOnly) {
        let Some(v) = get_ci(obj, a.name) else { continue };
        let at = if prefix.is_empty() { a.name.to_owned() } else { format!("{prefix}:{}", a.name) };
        if let Some(v) = clean_value(a, v, &at)? {
            out.insert(a.name.to_owned(), v);
        }
    }
    Ok(out)
}

/// One attribute's value checked against its definition; `None` when unassigned.
pub fn clean_value(a: &'static Attr, v: &Value, at: &str) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    if a.multi {
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            // A single value where a list is due: taken as a list of one
            // (some clients send it so).
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            if let Some(c) = clean_single(a, item, &format!("{at}[{i}]"))? {
                out.push(c);
            }
        }
        return Ok(if out.is_empty() { None } else { Some(Value::Array(out)) });
    }
    clean_single(a, v, at)
}

fn clean_single(a: &'static Attr, v: &Value, at: &str) -> Result<Option<Value>, ScimError> {
    let wrong = |expected: &str| ScimError::invalid_value(format!("`{at}` must be {expected}, not `{}`", short(v)));
    match (a.ty, v) {
        (_, Value::Null) => Ok(None),
        (Type::String | Type::Reference | Type::DateTime, Value::String(s)) => {
            if let Some(c) = s.chars().find(|&c| is_refused(c)) {
                return Err(ScimError::invalid_value(format!("`{at}` contains the control character U+{:04X}: send plain text", u32::from(c))));
            }
            let n = s.chars().count();
            if n > MAX_STRING {
                return Err(ScimError::invalid_value(format!("`{at}` is {n} characters long; at most {MAX_STRING} are allowed")));
            }
            Ok(Some(Value::String(s.clone())))
        }
        (Type::String | Type::Reference | Type::DateTime, _) => Err(wrong("a string")),
        (Type::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(*b))),
        // Entra ID sends booleans as the strings "True" and "False".
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
        (Type::Boolean, _) => Err(wrong("true or false")),
        (Type::Complex, Value::Object(o)) => {
            let cleaned = clean_object(o, a.sub, at)?;
            Ok(if cleaned.is_empty() { None } else { Some(Value::Object(cleaned)) })
        }
        // A complex attribute given as its `value` alone (Entra ID sends
        // the manager so).
        (Type::Complex, Value::String(_)) if a.sub.iter().any(|s| s.name == "value") => clean_single(a, &json!({ "value": v }), at),
        (Type::Complex, _) => Err(wrong("an object")),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn attr_json(a: &Attr) -> Value {
    let mut o = json!({
        "name": a.name,
        "type": match a.ty { Type::String => "string", Type::Boolean => "boolean", Type::Complex => "complex", Type::Reference => "reference", Type::DateTime => "dateTime" },
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "mutability": match a.mutability { Mutability::ReadOnly => "readOnly", Mutability::ReadWrite => "readWrite", Mutability::Immutable => "immutable" },
        "returned": if a.name == "id" { "always" } else { "default" },
        "uniqueness": if a.unique { "server" } else { "none" },
    });
    let m = o.as_object_mut().expect("an object");
    if matches!(a.ty, Type::String | Type::Reference) {
        m.insert("caseExact".into(), json!(a.case_exact));
    }
    if !a.canonical.is_empty() {
        m.insert("canonicalValues".into(), json!(a.canonical));
    }
    if !a.reference_types.is_empty() {
        m.insert("referenceTypes".into(), json!(a.reference_types));
    }
    if !a.sub.is_empty() {
        m.insert("subAttributes".into(), Value::Array(a.sub.iter().map(attr_json).collect()));
    }
    o
}

fn schema_json(id: &str, name: &str, description: &str, attrs: &[Attr], base: &str) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
    })
}

/// Every schema `/Schemas` serves, as SCIM schema resources; `base` is the
/// service's URL (`…/scim/v2`).
pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_json(USER, "User", "A person in Writ.", USER_ATTRS, base),
        schema_json(ENTERPRISE_USER, "EnterpriseUser", "Enterprise attributes; the manager becomes Writ's manager.", ENTERPRISE_ATTRS, base),
        schema_json(GROUP, "Group", "A Writ group.", GROUP_ATTRS, base),
    ]
}

/// Every resource type `/ResourceTypes` serves.
pub fn resource_types(base: &str) -> Vec<Value> {
    [Kind::User, Kind::Group]
        .into_iter()
        .map(|k| {
            let extensions: Vec<Value> = k.extensions().iter().map(|(urn, _)| json!({ "schema": urn, "required": false })).collect();
            json!({
                "schemas": [RESOURCE_TYPE],
                "id": k.name(),
                "name": k.name(),
                "endpoint": k.endpoint(),
                "description": format!("{}s provisioned into Writ", k.name()),
                "schema": k.schema(),
                "schemaExtensions": extensions,
                "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", k.name()) },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_known_attributes_under_canonical_names_and_checks_types() {
        let raw = json!({
            "schemas": [USER], "USERNAME": "ann", "id": "ignored", "nonsense": 1, "active": "False",
            "name": { "givenName": "Ann", "unknown": "x" }, "emails": { "value": "ann@x" },
            "groups": [{ "value": "g" }],
            ENTERPRISE_USER: { "manager": "bob", "department": "Ops" }
        });
        let clean = sanitize(Kind::User, &raw).unwrap();
        assert_eq!(
            clean,
            json!({ "userName": "ann", "active": false, "name": { "givenName": "Ann" }, "emails": [{ "value": "ann@x" }],
                    ENTERPRISE_USER: { "manager": { "value": "bob" }, "department": "Ops" } })
        );
        let e = sanitize(Kind::User, &json!({ "userName": 3 })).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(super::super::ScimType::InvalidValue)));
        assert!(e.detail.contains("`userName` must be a string"), "{}", e.detail);
        let e = sanitize(Kind::User, &json!({ "displayName": "a\u{202e}b" })).unwrap_err();
        assert!(e.detail.contains("U+202E"), "{}", e.detail);
        assert!(sanitize(Kind::User, &json!({ "active": "maybe" })).is_err());
        assert!(sanitize(Kind::Group, &json!([])).is_err());
    }

    #[test]
    fn the_published_schemas_name_every_attribute() {
        let s = schemas("http://x/scim/v2");
        assert_eq!(s.len(), 3);
        let user = &s[0];
        let names: Vec<&str> = user["attributes"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"userName") && names.contains(&"emails") && names.contains(&"active"));
        assert_eq!(user["attributes"][0]["mutability"], "immutable");
        assert_eq!(resource_types("http://x")[0]["schemaExtensions"][0]["schema"], ENTERPRISE_USER);
    }
}
