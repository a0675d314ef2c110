//! Ignore rules: accounts and resources reconciliation must not touch, named
//! in config. Rows they match are reported as `Ignored`, never skipped.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why an ignore rule or pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IgnoreRuleError {
    #[error("an ignore pattern is empty: write a name, or a name with one `*` at its start or end (`pg_*`, `*_admin`)")]
    EmptyPattern,
    #[error("ignore pattern `{0}` has `*` in the middle: `*` may only start or end a pattern (`pg_*`, `*_admin`)")]
    WildcardInMiddle(String),
    #[error("ignore pattern `{0}` has more than one `*`: a pattern holds at most one, at its start or end (`pg_*`, `*_admin`)")]
    SeveralWildcards(String),
    #[error("an ignore rule must name an account, a resource or both: one with neither would ignore everything")]
    Unconstrained,
}

/// A name, or a name with one `*` at its start or end. `*` alone matches any
/// name, the empty resource of an unknown Redis selector included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Pattern {
    Any,
    Exact(String),
    Prefix(String),
    Suffix(String),
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Self, IgnoreRuleError> {
        match s.matches('*').count() {
            _ if s.is_empty() => Err(IgnoreRuleError::EmptyPattern),
            0 => Ok(Pattern::Exact(s.to_owned())),
            1 if s == "*" => Ok(Pattern::Any),
            1 if s.ends_with('*') => Ok(Pattern::Prefix(s[..s.len() - 1].to_owned())),
            1 if s.starts_with('*') => Ok(Pattern::Suffix(s[1..].to_owned())),
            1 => Err(IgnoreRuleError::WildcardInMiddle(s.to_owned())),
            _ => Err(IgnoreRuleError::SeveralWildcards(s.to_owned())),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(n) => name == n,
            Pattern::Prefix(p) => name.starts_with(p.as_str()),
            Pattern::Suffix(s) => name.ends_with(s.as_str()),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Any => f.write_str("*"),
            Pattern::Exact(n) => f.write_str(n),
            Pattern::Prefix(p) => write!(f, "{p}*"),
            Pattern::Suffix(s) => write!(f, "*{s}"),
        }
    }
}

impl FromStr for Pattern {
    type Err = IgnoreRuleError;
    fn from_str(s: &str) -> Result<Self, IgnoreRuleError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Pattern {
    type Error = IgnoreRuleError;
    fn try_from(s: String) -> Result<Self, IgnoreRuleError> {
        Self::parse(&s)
    }
}

impl From<Pattern> for String {
    fn from(p: Pattern) -> String {
        p.to_string()
    }
}

/// Live rows to report as `Ignored`: a row is ignored if every field the rule
/// gives matches. A rule gives at least one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "IgnoreRuleFields")]
pub struct IgnoreRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Pattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<Pattern>,
}

/// The rule as written in config. Unknown keys are refused: a misspelt
/// `resource` would otherwise widen the rule to every resource of the account.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreRuleFields {
    account: Option<Pattern>,
    resource: Option<Pattern>,
}

impl TryFrom<IgnoreRuleFields> for IgnoreRule {
    type Error = IgnoreRuleError;
    fn try_from(f: IgnoreRuleFields) -> Result<Self, IgnoreRuleError> {
        if f.account.is_none() && f.resource.is_none() {
            return Err(IgnoreRuleError::Unconstrained);
        }
        Ok(IgnoreRule { account: f.account, resource: f.resource })
    }
}

impl IgnoreRule {
    /// Parses a rule from its patterns.
    pub fn new(account: Option<&str>, resource: Option<&str>) -> Result<Self, IgnoreRuleError> {
        IgnoreRule::try_from(IgnoreRuleFields { account: account.map(Pattern::parse).transpose()?, resource: resource.map(Pattern::parse).transpose()? })
    }

    pub fn account(&self) -> Option<&Pattern> {
        self.account.as_ref()
    }

    pub fn resource(&self) -> Option<&Pattern> {
        self.resource.as_ref()
    }

    pub fn matches(&self, account: &str, resource: &str) -> bool {
        self.account.as_ref().is_none_or(|p| p.matches(account)) && self.resource.as_ref().is_none_or(|p| p.matches(resource))
    }
}

impl fmt::Display for IgnoreRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.account, &self.resource) {
            (Some(a), Some(r)) => write!(f, "account `{a}`, resource `{r}`"),
            (Some(a), None) => write!(f, "account `{a}`"),
            (None, Some(r)) => write!(f, "resource `{r}`"),
            (None, None) => f.write_str("(nothing)"),
        }
    }
}
