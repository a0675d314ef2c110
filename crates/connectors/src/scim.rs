//! The SCIM 2.0 connector (RFC 7643/7644): access is membership of a SCIM Group.
//!
//! - A resource `R` is the Group whose `displayName` is exactly `R`. Writ never
//!   creates or deletes groups; two groups with that exact name are refused as
//!   ambiguous.
//! - An account `A` is the User whose `userName` is exactly `A`. A person's user
//!   must exist. A non-human account's user is created (`POST /Users`, `active:
//!   true`) on its first grant and deleted (`DELETE /Users/<id>`) when its last
//!   group membership is revoked.
//! - Grant: `PATCH /Groups/<id>` `add` `members` `[{"value": <user id>}]`, after
//!   checking membership (`id eq … and members.value eq …`), so a grant of what
//!   is held answers `AlreadyPresent`. Revoke: `remove` `members[value eq "<id>"]`.
//!
//! **Exact names.** Names travel as JSON strings inside filters (`"` and `\`
//! escaped, control characters as `\uXXXX`), and the query is percent-encoded.
//! `userName` is `caseExact: false` (RFC 7643 §4.1.1): servers match it, and
//! hold it unique, case-insensitively (scim2-server does; `Alice` cannot be
//! created beside `alice`). The connector keeps only results whose `userName`
//! (or `displayName`) equals the requested name exactly, and refuses
//! (`Permanent`) an account the server holds under another spelling (`alice`
//! asked as `Alice`): the server cannot tell the two apart, so Writ does not act
//! on either through the other's name. The empty name is refused before
//! contacting the server.
//!
//! **Live state.** `read_account`: the user (`exists`; attributes `id` and, if
//! the server reports `active`, `enabled`) and the groups whose
//! `members.value` is its id. `scan` pages through `/Users` (`userName` only)
//! into a map from id to userName, then through `/Groups` (`displayName` and
//! `members`), handing over one entitlement per member that is a user, page by
//! page. Memory holds that map (one entry per user, not per membership) and one
//! page of groups. A member id missing from the map (a user created during the
//! scan) is looked up once; members that are groups (`type: "Group"`, nested
//! groups, not expanded) or unknown ids are skipped. Paging is by `startIndex`
//! and `count` (`page_size`, default 100; the server may return fewer): a
//! group added or removed during the scan can shift a page.
//!
//! **Errors.** Connection failures, timeouts, HTTP 408, 429 and 5xx are
//! `Transient`; other 4xx are `Permanent` with the server's `detail` (and
//! `scimType`). The bearer token is sent only in the `Authorization` header
//! (marked sensitive), never appears in an error or in `Debug`, and a
//! `base_url` carrying credentials is refused.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::{json, Value};
use writ_app::ports::{Account, AccountState, Applied, Connector, ConnectorError, ConnectorInfo, LiveEntitlement, Order};
use writ_core::ids::TargetId;

use crate::secret::{SecretError, SecretSource};

const DEFAULT_PAGE_SIZE: u32 = 100;
const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 5;
const DEFAULT_TIMEOUT_SECS: u64 = 30;
const SCIM_JSON: &str = "application/scim+json";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// `[targets.<id>]` with `kind = "scim"`.
///
/// ```toml
/// [targets.okta]
/// kind = "scim"
/// base_url = "https://scim.example.com/v2"
/// token_env = "WRIT_SCIM_TOKEN"             # or token_file = "/run/secrets/scim"
/// # page_size = 100
/// # connect_timeout_secs = 5
/// # timeout_secs = 30                       # per request
/// # ca_file = "/etc/writ/scim-ca.pem"       # https: trust only this CA (PEM)
/// ```
///
/// TLS: an `https://` base URL; the server's certificate must chain to
/// `ca_file` if given (and then only to it), else to the public web roots.
///
/// The bearer token is a secret like a password: it is loaded by
/// [`SecretSource`] from the variable or file named here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// The SCIM base URL, under which `/Users` and `/Groups` are.
    pub base_url: String,
    /// The environment variable holding the bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// The file holding the bearer token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Resources asked for per page (default 100).
    #[serde(default)]
    pub page_size: Option<u32>,
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
    /// Per request.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// The CA (PEM) the server's certificate must chain to (`https` only).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl ScimConfig {
    /// Where the bearer token comes from.
    pub fn token_source(&self) -> SecretSource {
        SecretSource { env: self.token_env.clone(), file: self.token_file.clone() }
    }
}

pub struct ScimConnector {
    target: TargetId,
    base: String,
    page_size: u32,
    http: reqwest::Client,
}

impl fmt::Debug for ScimConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScimConnector")
            .field("target", &self.target)
            .field("base_url", &self.base)
            .field("token", &"***")
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ListResponse<T> {
    #[serde(rename = "totalResults", default)]
    total_results: u64,
    #[serde(rename = "Resources", alias = "resources", default = "Vec::new")]
    resources: Vec<T>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(rename = "userName", default)]
    user_name: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

#[derive(Deserialize)]
struct Group {
    id: String,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Deserialize)]
struct Member {
    #[serde(default)]
    value: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// An HTTP answer, before it is judged.
struct Reply {
    status: StatusCode,
    /// Raw: parsed only if it is wanted.
    body: Vec<u8>,
}

/// A JSON string literal, as SCIM filters quote values (RFC 7644 §3.4.2.2).
fn quoted(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

fn secret_error(e: SecretError, target: &TargetId) -> ConnectorError {
    let detail = match e {
        SecretError::Both { target } => format!("target `{target}`: give the bearer token as `token_env` or `token_file`, not both"),
        SecretError::MissingEnv { target, var } => {
            format!("target `{target}`: environment variable `{var}` is not set (it should hold the SCIM bearer token)")
        }
        SecretError::File { target, path, reason } => format!("target `{target}`: cannot read the token file `{path}`: {reason}"),
    };
    ConnectorError::Permanent { target: target.to_string(), detail }
}

/// A transport error and its causes, without headers (so without the token)
/// and without the URL (the caller says what it was doing); with what to do
/// when it is a refused certificate.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    crate::tls::with_advice(s)
}

impl ScimConnector {
    /// Checks the configuration, loads the token and builds the HTTP client;
    /// does not contact the server.
    pub fn new(target: &TargetId, config: &ScimConfig) -> Result<Self, ConnectorError> {
        let refuse = |detail: String| ConnectorError::Permanent { target: target.to_string(), detail };
        let url = Url::parse(config.base_url.trim()).map_err(|e| refuse(format!("base_url `{}`: {e}", config.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refuse(format!("base_url `{url}`: only http and https are supported")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("base_url carries credentials: give the bearer token as `token_env` or `token_file`".into()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse(format!("base_url `{url}` has a query or fragment")));
        }
        let token = config
            .token_source()
            .load(target.as_str())
            .map_err(|e| secret_error(e, target))?
            .ok_or_else(|| refuse("the bearer token is missing: give `token_env` or `token_file`".into()))?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| refuse("the bearer token holds characters an HTTP header cannot carry".into()))?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static(SCIM_JSON));
        let page_size = config.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page_size == 0 {
            return Err(refuse("page_size must be at least 1".into()));
        }
        if config.ca_file.is_some() && url.scheme() != "https" {
            return Err(refuse(format!("base_url `{url}`: `ca_file` is for TLS: use an `https://` base_url")));
        }
        let http = crate::tls::http_client(reqwest::Client::builder(), config.ca_file.as_deref())
            .map_err(|e| refuse(e.to_string()))?
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs.unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS)))
            .timeout(Duration::from_secs(config.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS)))
            .build()
            .map_err(|e| refuse(format!("cannot build the HTTP client: {}", describe(e))))?;
        Ok(ScimConnector { target: target.clone(), base: url.as_str().trim_end_matches('/').to_owned(), page_size, http })
    }

    fn permanent(&self, detail: impl Into<String>) -> ConnectorError {
        ConnectorError::Permanent { target: self.target.to_string(), detail: detail.into() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, method: Method, path: &str, query: &[(&str, &str)], body: Option<&Value>, what: &str) -> Result<Reply, ConnectorError> {
        let mut req = self.http.request(method, self.url(path));
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(body) = body {
            req = req.header(CONTENT_TYPE, SCIM_JSON).body(body.to_string());
        }
        let transient =
            |e: reqwest::Error| ConnectorError::Transient { target: self.target.to_string(), detail: format!("{what}: {} ({})", describe(e), self.base) };
        let resp = req.send().await.map_err(transient)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transient)?.to_vec();
        Ok(Reply { status, body })
    }

    /// The error for an answer that is not a success, in the server's words.
    fn status_error(&self, what: &str, r: &Reply) -> ConnectorError {
        #[derive(Deserialize)]
        struct ScimError {
            #[serde(default)]
            detail: Option<String>,
            #[serde(rename = "scimType", default)]
            scim_type: Option<String>,
        }
        let said = match serde_json::from_slice::<ScimError>(&r.body) {
            Ok(ScimError { detail, scim_type }) => {
                let mut s = detail.unwrap_or_default();
                if let Some(t) = scim_type {
                    s = format!("{s} (scimType {t})");
                }
                s
            }
            Err(_) => String::from_utf8_lossy(&r.body).chars().take(300).collect(),
        };
        let detail = format!("{what}: HTTP {}: {}", r.status, said.trim());
        if r.status.is_server_error() || matches!(r.status, StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT) {
            ConnectorError::Transient { target: self.target.to_string(), detail }
        } else {
            self.permanent(detail)
        }
    }

    fn parse<T: DeserializeOwned>(&self, what: &str, r: &Reply) -> Result<T, ConnectorError> {
        serde_json::from_slice(&r.body).map_err(|e| self.permanent(format!("{what}: the server's answer is not the SCIM JSON expected: {e}")))
    }

    /// A successful answer's JSON, or the error.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        what: &str,
    ) -> Result<T, ConnectorError> {
        let r = self.send(method, path, query, body, what).await?;
        if !r.status.is_success() {
            return Err(self.status_error(what, &r));
        }
        self.parse(what, &r)
    }

    /// One page of a list (`GET /Users`, `/Groups`), from 1-based `start`.
    async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        filter: Option<&str>,
        attributes: &str,
        start: u64,
        count: u32,
        what: &str,
    ) -> Result<ListResponse<T>, ConnectorError> {
        let (start, count) = (start.to_string(), count.to_string());
        let mut query = vec![("startIndex", start.as_str()), ("count", count.as_str()), ("attributes", attributes)];
        if let Some(f) = filter {
            query.push(("filter", f));
        }
        self.call(Method::GET, path, &query, None, what).await
    }

    /// Every resource of a (small) filtered list.
    async fn all<T: DeserializeOwned>(&self, path: &str, filter: &str, attributes: &str, what: &str) -> Result<Vec<T>, ConnectorError> {
        let mut out = Vec::new();
        let mut start = 1;
        loop {
            let page: ListResponse<T> = self.page(path, Some(filter), attributes, start, self.page_size, what).await?;
            let n = page.resources.len() as u64;
            out.extend(page.resources);
            if n == 0 || start - 1 + n >= page.total_results {
                return Ok(out);
            }
            start += n;
        }
    }

    /// The user whose userName is exactly `name`; a user the server matches
    /// but spells differently is refused.
    async fn find_user(&self, name: &str) -> Result<Option<User>, ConnectorError> {
        let what = format!("look up the user {name:?}");
        let found: Vec<User> = self.all("/Users", &format!("userName eq {}", quoted(name)), "userName,active", &what).await?;
        let (exact, other): (Vec<User>, Vec<User>) = found.into_iter().partition(|u| u.user_name.as_deref() == Some(name));
        match (exact.len(), other.first()) {
            (1, _) => Ok(exact.into_iter().next()),
            (0, None) => Ok(None),
            (0, Some(u)) => Err(self.permanent(format!(
                "the server holds the user {:?}, which it matches as the same userName as {name:?} (SCIM userNames are case-insensitive): \
                 Writ refuses a name the server cannot tell apart exactly",
                u.user_name.as_deref().unwrap_or_default()
            ))),
            (n, _) => Err(self.permanent(format!("{what}: the server holds {n} users with exactly that userName"))),
        }
    }

    /// The id of the group whose displayName is exactly `name`.
    async fn find_group(&self, name: &str) -> Result<Option<String>, ConnectorError> {
        let what = format!("look up the group {name:?}");
        let found: Vec<Group> = self.all("/Groups", &format!("displayName eq {}", quoted(name)), "displayName", &what).await?;
        let mut exact = found.into_iter().filter(|g| g.display_name.as_deref() == Some(name));
        match (exact.next(), exact.next()) {
            (None, _) => Ok(None),
            (Some(g), None) => Ok(Some(g.id)),
            (Some(_), Some(_)) => Err(self.permanent(format!("{what}: several groups have exactly that displayName; Writ cannot tell which is meant"))),
        }
    }

    async fn is_member(&self, group: &str, user: &str) -> Result<bool, ConnectorError> {
        let filter = format!("id eq {} and members.value eq {}", quoted(group), quoted(user));
        let page: ListResponse<IgnoredAny> = self.page("/Groups", Some(&filter), "id", 1, 1, "check a group membership").await?;
        Ok(page.total_results > 0 || !page.resources.is_empty())
    }

    /// The names of the groups `user` (an id) is a member of, sorted.
    async fn groups_of(&self, user: &str) -> Result<Vec<String>, ConnectorError> {
        let filter = format!("members.value eq {}", quoted(user));
        let groups: Vec<Group> = self.all("/Groups", &filter, "displayName", "read the groups of a user").await?;
        let mut names: Vec<String> = groups.into_iter().filter_map(|g| g.display_name).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn has_groups(&self, user: &str) -> Result<bool, ConnectorError> {
        let filter = format!("members.value eq {}", quoted(user));
        let page: ListResponse<IgnoredAny> = self.page("/Groups", Some(&filter), "id", 1, 1, "check the groups of a user").await?;
        Ok(page.total_results > 0 || !page.resources.is_empty())
    }

    async fn create_user(&self, name: &str) -> Result<String, ConnectorError> {
        let what = format!("create the user {name:?}");
        let body = json!({ "schemas": [USER_SCHEMA], "userName": name, "active": true });
        let created: User = self.call(Method::POST, "/Users", &[], Some(&body), &what).await?;
        if created.user_name.as_deref().is_some_and(|n| n != name) {
            // Not the name asked for: take it back rather than leave a stray user.
            let _ = self.send(Method::DELETE, &format!("/Users/{}", path_segment(&created.id)), &[], None, &what).await;
            return Err(self.permanent(format!("{what}: the server stored it as {:?}", created.user_name.unwrap_or_default())));
        }
        Ok(created.id)
    }

    async fn patch_members(&self, group: &str, op: Value, what: &str) -> Result<(), ConnectorError> {
        let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": [op] });
        let r = self.send(Method::PATCH, &format!("/Groups/{}", path_segment(group)), &[], Some(&body), what).await?;
        if r.status.is_success() {
            Ok(())
        } else {
            Err(self.status_error(what, &r))
        }
    }

    fn check(&self, what: &str, name: &str) -> Result<(), ConnectorError> {
        if name.is_empty() {
            return Err(self.permanent(format!("the {what} name is empty")));
        }
        Ok(())
    }
}

/// An id as one URL path segment.
fn path_segment(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait]
impl Connector for ScimConnector {
    fn info(&self) -> ConnectorInfo {
        ConnectorInfo {
            kind: "scim",
            target: self.target.to_string(),
            endpoint: self.base.clone(),
            reads_live_state: true,
            manages_accounts: true,
            enforces_expiry: false,
        }
    }

    async fn read_account(&self, account: &Account) -> Result<AccountState, ConnectorError> {
        self.check("account", &account.name)?;
        let Some(user) = self.find_user(&account.name).await? else {
            return Ok(AccountState::default());
        };
        let entitlements = self
            .groups_of(&user.id)
            .await?
            .into_iter()
            .map(|resource| LiveEntitlement { account: account.name.clone(), resource, detail: BTreeMap::new() })
            .collect();
        let mut attributes = BTreeMap::from([("id".to_owned(), user.id)]);
        if let Some(active) = user.active {
            attributes.insert("enabled".to_owned(), active.to_string());
        }
        Ok(AccountState { exists: true, attributes, entitlements })
    }

    async fn scan(&self, sink: &mut (dyn FnMut(LiveEntitlement) + Send)) -> Result<u64, ConnectorError> {
        // id → userName (None: looked up and not a user).
        let mut names: HashMap<String, Option<String>> = HashMap::new();
        let mut start = 1;
        loop {
            let page: ListResponse<User> = self.page("/Users", None, "userName", start, self.page_size, "list the users").await?;
            let n = page.resources.len() as u64;
            for u in page.resources {
                names.insert(u.id, u.user_name);
            }
            if n == 0 || start - 1 + n >= page.total_results {
                break;
            }
            start += n;
        }
        let mut count = 0u64;
        let mut start = 1;
        loop {
            let page: ListResponse<Group> = self.page("/Groups", None, "displayName,members", start, self.page_size, "list the groups").await?;
            let n = page.resources.len() as u64;
            for g in page.resources {
                let Some(resource) = g.display_name else { continue };
                for m in g.members {
                    let Some(id) = m.value else { continue };
                    if m.kind.as_deref().is_some_and(|k| !k.eq_ignore_ascii_case("User")) {
                        continue;
                    }
                    if !names.contains_key(&id) {
                        let r =
                            self.send(Method::GET, &format!("/Users/{}", path_segment(&id)), &[("attributes", "userName")], None, "look up a member").await?;
                        let name = match r.status {
                            s if s.is_success() => self.parse::<User>("look up a member", &r)?.user_name,
                            StatusCode::NOT_FOUND => None,
                            _ => return Err(self.status_error("look up a member", &r)),
                        };
                        if name.is_none() {
                            tracing::debug!(target = %self.target, group = %resource, member = %id, "a group member that is not a user: skipped");
                        }
                        names.insert(id.clone(), name);
                    }
                    if let Some(Some(account)) = names.get(&id) {
                        sink(LiveEntitlement { account: account.clone(), resource: resource.clone(), detail: BTreeMap::new() });
                        count += 1;
                    }
                }
            }
            if n == 0 || start - 1 + n >= page.total_results {
                break;
            }
            start += n;
        }
        Ok(count)
    }

    async fn grant(&self, order: &Order) -> Result<Applied, ConnectorError> {
        self.check("account", &order.account.name)?;
        self.check("resource", &order.resource)?;
        let (group, user) = tokio::join!(self.find_group(&order.resource), self.find_user(&order.account.name));
        let Some(group) = group? else {
            return Err(self.permanent(format!("no group with the displayName {:?}", order.resource)));
        };
        let user = match user? {
            Some(u) => {
                if self.is_member(&group, &u.id).await? {
                    return Ok(Applied::AlreadyPresent);
                }
                u.id
            }
            None if order.account.kind.is_human() => {
                return Err(self.permanent(format!("no user with the userName {:?}", order.account.name)));
            }
            None => self.create_user(&order.account.name).await?,
        };
        let op = json!({ "op": "add", "path": "members", "value": [{ "value": user }] });
        self.patch_members(&group, op, &format!("add {:?} to the group {:?}", order.account.name, order.resource)).await?;
        Ok(Applied::Changed)
    }

    async fn revoke(&self, order: &Order) -> Result<Applied, ConnectorError> {
        self.check("account", &order.account.name)?;
        self.check("resource", &order.resource)?;
        let (group, user) = tokio::join!(self.find_group(&order.resource), self.find_user(&order.account.name));
        let (group, user) = (group?, user?);
        let Some(user) = user else {
            return Ok(Applied::AlreadyAbsent);
        };
        let mut changed = false;
        // A group that is gone holds nobody: the access is already absent.
        if let Some(group) = group {
            if self.is_member(&group, &user.id).await? {
                let op = json!({ "op": "remove", "path": format!("members[value eq {}]", quoted(&user.id)) });
                self.patch_members(&group, op, &format!("remove {:?} from the group {:?}", order.account.name, order.resource)).await?;
                changed = true;
            }
        }
        if !order.account.kind.is_human() && !self.has_groups(&user.id).await? {
            let what = format!("delete the user {:?}", order.account.name);
            let r = self.send(Method::DELETE, &format!("/Users/{}", path_segment(&user.id)), &[], None, &what).await?;
            match r.status {
                s if s.is_success() => changed = true,
                StatusCode::NOT_FOUND => {}
                _ => return Err(self.status_error(&what, &r)),
            }
        }
        Ok(if changed { Applied::Changed } else { Applied::AlreadyAbsent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_json_strings() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quoted("nul\0\n"), r#""nul\u0000\n""#);
        assert_eq!(quoted("名前"), "\"名前\"");
        assert_eq!(path_segment("ab/c d"), "ab%2Fc%20d");
    }

    #[test]
    fn config_refuses_typos_and_credentials_in_the_url() {
        let c: Result<ScimConfig, _> = serde_json::from_str(r#"{"base_url":"http://h/v2","tokn_env":"X"}"#);
        assert!(c.unwrap_err().to_string().contains("unknown field"));
        let target = TargetId::parse("okta").unwrap();
        let c: ScimConfig = serde_json::from_str(r#"{"base_url":"http://u:pw@h/v2","token_env":"X"}"#).unwrap();
        let e = ScimConnector::new(&target, &c).unwrap_err().to_string();
        assert!(e.contains("credentials") && !e.contains("pw@"), "{e}");
        let c: ScimConfig = serde_json::from_str(r#"{"base_url":"http://h/v2","token_env":"WRIT_TEST_SURELY_UNSET_SCIM"}"#).unwrap();
        let e = ScimConnector::new(&target, &c).unwrap_err().to_string();
        assert!(e.contains("WRIT_TEST_SURELY_UNSET_SCIM") && e.contains("bearer token"), "{e}");
    }
}
