//! Reading a webhook's JSON by path, so that every refusal names the key
//! that was missing or of the wrong type (`issue.fields.reporter.accountId`),
//! never just "bad payload".

use serde_json::Value;

/// What was wrong with a payload, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` {problem}")]
pub struct PayloadError {
    pub path: String,
    pub problem: String,
}

/// A JSON value and the path it was reached by.
#[derive(Debug, Clone)]
pub struct At<'a> {
    pub value: &'a Value,
    path: String,
}

/// The body parsed as JSON; malformed JSON is named with its position.
pub fn parse(body: &[u8]) -> Result<Value, PayloadError> {
    serde_json::from_slice(body).map_err(|e| PayloadError { path: "(body)".into(), problem: format!("is not JSON: {e}") })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> At<'a> {
    /// The payload's root; `path` is what its keys are shown under
    /// (empty: the keys themselves).
    pub fn root(value: &'a Value, path: &str) -> Self {
        At { value, path: path.to_owned() }
    }

    pub fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn error(&self, key: &str, problem: impl Into<String>) -> PayloadError {
        PayloadError { path: self.path_of(key), problem: problem.into() }
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> PayloadError {
        self.error(key, format!("must be {want}, not {}", kind(got)))
    }

    /// The member `key`, absent and null alike `None`; refused when this is not an object.
    pub fn get(&self, key: &str) -> Result<Option<&'a Value>, PayloadError> {
        match self.value {
            Value::Object(m) => Ok(m.get(key).filter(|v| !v.is_null())),
            other => {
                let path = if self.path.is_empty() { "(body)".to_owned() } else { self.path.clone() };
                Err(PayloadError { path, problem: format!("must be an object, not {}", kind(other)) })
            }
        }
    }

    /// The object `key`, if present.
    pub fn opt_object(&self, key: &str) -> Result<Option<At<'a>>, PayloadError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) if v.is_object() => Ok(Some(At { value: v, path: self.path_of(key) })),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    /// The object `key`, required.
    pub fn object(&self, key: &str) -> Result<At<'a>, PayloadError> {
        self.opt_object(key)?.ok_or_else(|| self.error(key, "missing"))
    }

    /// The string `key`, if present.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, PayloadError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// The string `key`, required and not blank.
    pub fn str(&self, key: &str) -> Result<&'a str, PayloadError> {
        match self.opt_str(key)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(self.error(key, "is empty")),
            None => Err(self.error(key, "missing")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_refusal_names_its_path() {
        let v = json!({ "issue": { "key": 41, "fields": { "summary": "", "reporter": null } } });
        let root = At::root(&v, "");
        let issue = root.object("issue").unwrap();
        assert_eq!(issue.str("key").unwrap_err().to_string(), "`issue.key` must be a string, not a number");
        let fields = issue.object("fields").unwrap();
        assert_eq!(fields.str("summary").unwrap_err().to_string(), "`issue.fields.summary` is empty");
        assert_eq!(fields.object("reporter").unwrap_err().to_string(), "`issue.fields.reporter` missing");
        assert_eq!(fields.opt_str("description").unwrap(), None);
        assert!(parse(b"{not json").unwrap_err().to_string().contains("is not JSON"));
        let list = json!([1]);
        assert!(At::root(&list, "").get("x").unwrap_err().to_string().contains("must be an object, not an array"));
    }
}
