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
