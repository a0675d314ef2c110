//! List filters (RFC 7644 §3.4.2.2): `userName eq "ann"`,
//! `emails[type eq "work" and value co "@example.com"]`,
//! `not (active eq false) or displayName sw "A"`. Parsed into a [`Filter`]
//! and evaluated on a resource as a JSON document. Precedence: `not`, then
//! `and`, then `or`; parentheses group.

use std::cmp::Ordering;

use serde_json::Value;

use super::schema::Kind;
use super::{AttrPath, ScimError};

/// The most characters of a filter, and the deepest nesting: a filter is
/// evaluated on every resource of a list, so its size is bounded.
pub const MAX_FILTER: usize = 4096;
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: some element of the multi-valued attribute
    /// matches the inner filter, whose paths are relative to the element.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Lit(Value),
    Open,
    Close,
    LBracket,
    RBracket,
}

fn tokenize(src: &str) -> Result<Vec<Tok>, ScimError> {
    let bad = |why: String| ScimError::invalid_filter(format!("filter `{src}`: {why}"));
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            '[' => {
                out.push(Tok::LBracket);
                i += 1
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1
            }
            '"' => {
                // A JSON string: find its end, honouring escapes, and let
                // serde_json decode it.
                let start = i;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(bad("a string is not closed: end it with `\"`".into())),
                        Some('\\') => i += 2,
                        Some('"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let literal: String = chars[start..i].iter().collect();
                let s: String = serde_json::from_str(&literal).map_err(|e| bad(format!("the string {literal} is not valid: {e}")))?;
                out.push(Tok::Str(s));
            }
            _ => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '\t' | '\n' | '\r' | '(' | ')' | '[' | ']' | '"') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.to_ascii_lowercase().as_str() {
                    "true" => Tok::Lit(Value::Bool(true)),
                    "false" => Tok::Lit(Value::Bool(false)),
                    "null" => Tok::Lit(Value::Null),
                    _ if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') => match serde_json::from_str::<serde_json::Number>(&word) {
                        Ok(n) => Tok::Lit(Value::Number(n)),
                        Err(_) => Tok::Word(word),
                    },
                    _ => Tok::Word(word),
                });
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn bad(&self, why: impl Into<String>) -> ScimError {
        ScimError::invalid_filter(format!("filter `{}`: {}", self.src, why.into()))
    }

    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn nested(&mut self, close: Tok, what: &str) -> Result<Filter, ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.bad(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let inner = self.or()?;
        self.depth -= 1;
        if self.toks.get(self.pos) != Some(&close) {
            return Err(self.bad(format!("{what} is not closed")));
        }
        self.pos += 1;
        Ok(inner)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.peek_word("not") {
            self.pos += 1;
            if self.toks.get(self.pos) != Some(&Tok::Open) {
                return Err(self.bad("`not` must be followed by a parenthesised filter, e.g. `not (active eq true)`"));
            }
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.nested(Tok::Close, "a `(`")?)));
        }
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                self.nested(Tok::Close, "a `(`")
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                let path = AttrPath::parse(&w).map_err(|e| self.bad(e.detail))?;
                if self.toks.get(self.pos) == Some(&Tok::LBracket) {
                    self.pos += 1;
                    if path.sub.is_some() || path.attr.is_empty() {
                        return Err(self.bad(format!("`{w}[...]`: a value filter applies to an attribute, not a sub-attribute")));
                    }
                    let inner = self.nested(Tok::RBracket, "a `[`")?;
                    return Ok(Filter::ValuePath { path, filter: Box::new(inner) });
                }
                let op = match self.toks.get(self.pos) {
                    Some(Tok::Word(o)) if o.eq_ignore_ascii_case("pr") => {
                        self.pos += 1;
                        return Ok(Filter::Present(path));
                    }
                    Some(Tok::Word(o)) => {
                        CompareOp::parse(o).ok_or_else(|| self.bad(format!("`{o}` is not an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")))?
                    }
                    _ => return Err(self.bad(format!("`{w}` must be followed by an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"))),
                };
                self.pos += 1;
                let value = match self.toks.get(self.pos) {
                    Some(Tok::Str(s)) => Value::String(s.clone()),
                    Some(Tok::Lit(v)) => v.clone(),
                    _ => return Err(self.bad(format!("`{w} {}` must be followed by a value: a \"string\", a number, true, false or null", op.as_str()))),
                };
                self.pos += 1;
                Ok(Filter::Compare { path, op, value })
            }
            Some(t) => Err(self.bad(format!("expected an attribute, `not` or `(`, found {t:?}"))),
            None => Err(self.bad("ends where an expression is expected")),
        }
    }
}

impl Filter {
    pub fn parse(src: &str) -> Result<Filter, ScimError> {
        if src.chars().count() > MAX_FILTER {
            return Err(ScimError::invalid_filter(format!("the filter is longer than {MAX_FILTER} characters")));
        }
        let toks = tokenize(src)?;
        let mut p = Parser { src, toks, pos: 0, depth: 0 };
        let f = p.or()?;
        if p.pos != p.toks.len() {
            return Err(p.bad(format!("unexpected {:?} after a complete expression (join expressions with `and` or `or`)", p.toks[p.pos])));
        }
        Ok(f)
    }

    /// Whether `resource` (a resource of `kind` as returned) matches.
    pub fn matches(&self, kind: Kind, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(kind, resource) && b.matches(kind, resource),
            Filter::Or(a, b) => a.matches(kind, resource) || b.matches(kind, resource),
            Filter::Not(f) => !f.matches(kind, resource),
            Filter::Present(path) => path.values(resource).into_iter().any(is_present),
            Filter::Compare { path, op, value } => {
                let case_exact = kind.find(path).is_some_and(|a| a.case_exact);
                let values = path.values(resource);
                let hit = values.iter().any(|v| compare(comparable(v, path), *op, value, case_exact));
                // `ne` on an absent attribute is true: nothing equals the value.
                hit || (*op == CompareOp::Ne && values.is_empty())
            }
            Filter::ValuePath { path, filter } => path.values(resource).into_iter().any(|element| filter.matches_element(kind, path, element)),
        }
    }

    /// Evaluates a value filter's inner expression on one element of the
    /// attribute `outer`: its paths name the element's sub-attributes.
    pub fn matches_element(&self, kind: Kind, outer: &AttrPath, element: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches_element(kind, outer, element) && b.matches_element(kind, outer, element),
            Filter::Or(a, b) => a.matches_element(kind, outer, element) || b.matches_element(kind, outer, element),
            Filter::Not(f) => !f.matches_element(kind, outer, element),
            Filter::Present(p) => sub_value(element, p).is_some_and(is_present),
            Filter::Compare { path, op, value } => {
                let full = AttrPath { urn: outer.urn.clone(), attr: outer.attr.clone(), sub: Some(path.attr.clone()) };
                let case_exact = kind.find(&full).is_some_and(|a| a.case_exact);
                match sub_value(element, path) {
                    Some(v) => compare(v, *op, value, case_exact),
                    None => *op == CompareOp::Ne,
                }
            }
            Filter::ValuePath { .. } => false,
        }
    }

    /// The attribute and value of a filter that is a single `eq` (what a
    /// store can look up by index), e.g. `userName eq "ann"`.
    pub fn as_equality(&self) -> Option<(&AttrPath, &str)> {
        match self {
            Filter::Compare { path, op: CompareOp::Eq, value: Value::String(s) } => Some((path, s)),
            _ => None,
        }
    }
}

/// Inside a value filter, a path is a sub-attribute of the element (written
/// as a plain attribute name).
fn sub_value<'a>(element: &'a Value, p: &AttrPath) -> Option<&'a Value> {
    let o = element.as_object()?;
    let name = match &p.sub {
        None => &p.attr,
        Some(s) => s,
    };
    super::get_ci(o, name)
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// A complex value compared as a whole is compared by its `value`
/// (`emails co "@x"`, `members eq "id"`).
fn comparable<'a>(v: &'a Value, path: &AttrPath) -> &'a Value {
    match v {
        Value::Object(o) if path.sub.is_none() => super::get_ci(o, "value").unwrap_or(v),
        _ => v,
    }
}

fn compare(actual: &Value, op: CompareOp, expected: &Value, case_exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = if case_exact { (a.clone(), e.clone()) } else { (a.to_lowercase(), e.to_lowercase()) };
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                // Times are written in one RFC 3339 form (UTC, milliseconds),
                // so they order as strings.
                CompareOp::Gt => a.cmp(&e) == Ordering::Greater,
                CompareOp::Ge => a.cmp(&e) != Ordering::Less,
                CompareOp::Lt => a.cmp(&e) == Ordering::Less,
                CompareOp::Le => a.cmp(&e) != Ordering::Greater,
            }
        }
        (Value::Bool(a), Value::Bool(e)) => match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        },
        (Value::Number(a), Value::Number(e)) => {
            let (Some(a), Some(e)) = (a.as_f64(), e.as_f64()) else { return false };
            match op {
                CompareOp::Eq => a == e,
                CompareOp::Ne => a != e,
                CompareOp::Gt => a > e,
                CompareOp::Ge => a >= e,
                CompareOp::Lt => a < e,
                CompareOp::Le => a <= e,
                _ => false,
            }
        }
        (a, Value::Null) => match op {
            CompareOp::Eq => a.is_null(),
            CompareOp::Ne => !a.is_null(),
            _ => false,
        },
        _ => op == CompareOp::Ne,
    }
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::And(a, b) => write!(f, "({a} and {b})"),
            Filter::Or(a, b) => write!(f, "({a} or {b})"),
            Filter::Not(x) => write!(f, "not ({x})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "ann", "userName": "ann", "externalId": "00u1", "displayName": "Ann Smith", "active": true,
            "emails": [{ "value": "ann@Example.com", "type": "work" }, { "value": "ann@home.org", "type": "home" }],
            "meta": { "lastModified": "2026-01-02T03:04:05.000Z" },
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "manager": { "value": "bob" } }
        })
    }

    fn m(f: &str) -> bool {
        Filter::parse(f).unwrap_or_else(|e| panic!("{f}: {e}")).matches(Kind::User, &user())
    }

    #[test]
    fn comparisons_on_the_attributes_identity_providers_filter_by() {
        assert!(m(r#"userName eq "ann""#));
        assert!(!m(r#"userName eq "ANN""#), "userName is case-exact");
        assert!(m(r#"USERNAME Eq "ann""#), "names and operators are not");
        assert!(m(r#"externalId eq "00u1""#));
        assert!(m(r#"displayName co "smith""#), "displayName is not case-exact");
        assert!(m(r#"displayName sw "Ann""#) && m(r#"displayName ew "ith""#));
        assert!(m(r#"emails.value eq "ann@example.com""#));
        assert!(m(r#"emails co "home.org""#), "a complex value compares by its value");
        assert!(m("active eq true") && !m("active eq false"));
        assert!(m("title ne \"x\"") && !m("title pr") && m("emails pr"));
        assert!(m(r#"meta.lastModified gt "2026-01-01T00:00:00.000Z""#));
        assert!(m(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "bob""#));
    }

    #[test]
    fn logic_value_filters_and_precedence() {
        assert!(m(r#"userName eq "x" or userName eq "ann" and active eq true"#));
        assert!(!m(r#"(userName eq "x" or userName eq "ann") and active eq false"#));
        assert!(m(r#"not (userName eq "x")"#));
        assert!(m(r#"emails[type eq "work" and value co "example"]"#));
        assert!(!m(r#"emails[type eq "home" and value co "example"]"#));
        let f = Filter::parse(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap();
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))), "{f}");
    }

    #[test]
    fn a_bad_filter_is_an_invalid_filter_error_that_says_why() {
        for (f, says) in [
            ("userName", "must be followed by an operator"),
            ("userName xx \"a\"", "not an operator"),
            ("userName eq", "must be followed by a value"),
            ("(userName eq \"a\"", "not closed"),
            ("userName eq \"a", "not closed"),
            ("userName eq \"a\" userName eq \"b\"", "after a complete expression"),
            ("not userName eq \"a\"", "parenthesised"),
            ("9x eq 1", "not an attribute path"),
            ("", "ends where"),
        ] {
            let e = Filter::parse(f).unwrap_err();
            assert_eq!(e.scim_type, Some(super::super::ScimType::InvalidFilter), "{f}");
            assert!(e.detail.contains(says), "{f}: {}", e.detail);
        }
        let deep = format!("{}a pr{}", "(".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&deep).unwrap_err().detail.contains("deeper"));
    }

    #[test]
    fn equality_is_recognised_for_index_lookups() {
        let f = Filter::parse(r#"userName eq "ann""#).unwrap();
        assert_eq!(f.as_equality().map(|(p, v)| (p.attr.as_str(), v)), Some(("userName", "ann")));
        assert!(Filter::parse("userName pr").unwrap().as_equality().is_none());
    }

    fn arb_filter() -> impl Strategy<Value = Filter> {
        let attr = prop::sample::select(vec!["userName", "displayName", "externalId", "emails.value", "active", "title"]);
        let value = prop_oneof![any::<bool>().prop_map(Value::Bool), "[a-zA-Z0-9 \"\\\\@.]{0,8}".prop_map(Value::String)];
        let op = prop::sample::select(vec![CompareOp::Eq, CompareOp::Ne, CompareOp::Co, CompareOp::Sw, CompareOp::Ew, CompareOp::Gt, CompareOp::Le]);
        let leaf = prop_oneof![
            (attr.clone(), op, value).prop_map(|(a, op, value)| Filter::Compare { path: AttrPath::parse(a).unwrap(), op, value }),
            attr.prop_map(|a| Filter::Present(AttrPath::parse(a).unwrap())),
        ];
        leaf.prop_recursive(4, 16, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                inner.prop_map(|a| Filter::Not(Box::new(a))),
            ]
        })
    }

    proptest! {
        /// What a filter prints parses back to the same filter.
        #[test]
        fn printed_filters_parse_back(f in arb_filter()) {
            let printed = f.to_string();
            prop_assert_eq!(Filter::parse(&printed).unwrap(), f);
        }

        /// Any input either parses or is refused as `invalidFilter`: never a panic.
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,40}") {
            if let Err(e) = Filter::parse(&s) {
                prop_assert_eq!(e.scim_type, Some(super::super::ScimType::InvalidFilter));
            }
        }
    }
}
