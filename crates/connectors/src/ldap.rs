//! The LDAP connector (OpenLDAP and other RFC 4511 directories): access is
//! membership of a `groupOfNames` group.
//!
//! Layout on the directory (all configured, see [`LdapConfig`]):
//! - A resource `R` is the group `cn=R,<groups_dn>` (objectClass `groupOfNames`).
//!   Writ never creates or deletes groups.
//! - A person's account `A` is the existing entry `uid=A,<people_dn>`; Writ never
//!   creates, changes or removes it.
//! - A non-human account `A` (service account, API key, AI agent) is the entry
//!   `uid=A,<services_dn>` (objectClass `account` from the `cosine` schema),
//!   created on its first grant and deleted when its last membership of a group
//!   under `groups_dn` is revoked.
//! - Grant adds the account entry's DN to the group's `member`; revoke deletes it.
//!
//! **The placeholder member.** `groupOfNames` requires at least one `member`, so
//! the last real member cannot simply be deleted (`objectClassViolation`). When
//! that happens the revoke adds the placeholder and deletes the member in one
//! (atomic) modify. The placeholder is `empty_member` if configured, else the
//! group's own DN. Writ never removes a placeholder, and never reports as live
//! state either a group's own DN or `empty_member`.
//!
//! **Exact names.** Names go into DNs escaped per RFC 4514 and into filters per
//! RFC 4515. The directory matches `uid` and `cn` case-insensitively and ignores
//! insignificant spaces, so `uid=Alice` finds the entry `uid=alice`: before
//! changing anything, the connector reads the entry's stored DN and compares its
//! unescaped RDN value exactly with the requested name, and refuses (`Permanent`)
//! a name the directory holds under another spelling. A NUL character and the
//! empty name are refused before contacting the server; names the server
//! rejects (a DN over its length limit, say) are refused with its message.
//!
//! **Live state.** `read_account` reads the account entry (a base search) and the
//! groups under `groups_dn` whose `member` equals its DN. `scan` streams every
//! `groupOfNames` directly under `groups_dn` with the Simple Paged Results
//! control (`page_size` groups a page) and hands over one entitlement per member
//! value: the account is the member DN's first RDN value (`uid` or `cn`); a
//! member outside `people_dn` and `services_dn` also carries `detail.dn`, its
//! DN as stored. Groups are read one level below `groups_dn` only.
//!
//! **Transport.** Plain `ldap://` (or `ldapi://`) only: this build has no TLS
//! (no `ldaps://`, no StartTLS), so use it on a trusted network or a local
//! socket. One connection per target, opened and bound on first use (never in
//! [`LdapConnector::new`]) and opened again after it drops. The bind DN needs
//! write access to the groups and to `services_dn`, and a size limit that lets
//! a paged search return every group (`limits ... size.prtotal=unlimited`).
//!
//! **Errors.** Connection refused or dropped, timeouts, `busy`, `unavailable`,
//! `timeLimitExceeded` and `adminLimitExceeded` are `Transient`; every other
//! result code is `Permanent` with the server's own name and text. The bind
//! password never appears in an error or in `Debug`.

mod dn;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ldap3::adapters::PagedResults;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Mod, Scope, SearchEntry, SearchOptions};
use serde::Deserialize;
use tokio::sync::Mutex;
use writ_app::ports::{Account, AccountState, Applied, Connector, ConnectorError, ConnectorInfo, LiveEntitlement, Order};
use writ_core::identity::IdentityKind;
use writ_core::ids::TargetId;

use crate::secret::{Secret, SecretSource};
use dn::Dn;

const DEFAULT_PAGE_SIZE: u32 = 500;
const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 5;
const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// `[targets.<id>]` with `kind = "ldap"`.
///
/// ```toml
/// [targets.corp-ldap]
/// kind = "ldap"
/// url = "ldap://ldap.internal:389/"
/// bind_dn = "cn=writ,ou=system,dc=corp,dc=example"
/// password_env = "WRIT_LDAP_PASSWORD"      # or password_file = "/run/secrets/ldap"
/// people_dn = "ou=people,dc=corp,dc=example"
/// groups_dn = "ou=groups,dc=corp,dc=example"
/// services_dn = "ou=services,dc=corp,dc=example"
/// # empty_member = "cn=nobody,dc=corp,dc=example"  # placeholder; default: the group's own DN
/// # page_size = 500
/// # connect_timeout_secs = 5
/// # timeout_secs = 30                              # per operation (per reply while searching)
/// # starttls = true                                # with ldap://: StartTLS before the bind
/// # ca_file = "/etc/writ/ldap-ca.pem"              # the CA of the server's certificate
/// ```
///
/// TLS: `ldaps://` or `ldap://` with `starttls = true`; the server's
/// certificate must chain to `ca_file` (PEM) if given, else to the system's
/// CAs, and hold the URL's host name. No bind is sent before TLS is up.
///
/// The secret's fields are the ones of [`SecretSource`], spelled out here
/// rather than flattened so that unknown fields (typos) are still refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:port/`, `ldaps://host:port/` or `ldapi://…`.
    pub url: String,
    pub bind_dn: String,
    /// The environment variable holding the bind password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The file holding the bind password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Where persons' entries are: `uid=<account>,<people_dn>`.
    pub people_dn: String,
    /// Where the groups are: `cn=<resource>,<groups_dn>`.
    pub groups_dn: String,
    /// Where Writ creates entries for non-human accounts.
    pub services_dn: String,
    /// The member a group keeps when its last real member is revoked; default:
    /// the group's own DN.
    #[serde(default)]
    pub empty_member: Option<String>,
    /// Groups per page of a paged search (default 500).
    #[serde(default)]
    pub page_size: Option<u32>,
    #[serde(default)]
    pub connect_timeout_secs: Option<u64>,
    /// Per operation; while searching, per reply.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Upgrade an `ldap://` connection with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// The CA (PEM) the server's certificate must chain to.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl LdapConfig {
    /// Where the bind password comes from.
    pub fn password_source(&self) -> SecretSource {
        SecretSource { env: self.password_env.clone(), file: self.password_file.clone() }
    }
}

/// A configured base DN: as written, and parsed for comparisons.
#[derive(Debug)]
struct Base {
    dn: String,
    key: Key,
}

/// Which entries an account lives in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    People,
    Services,
}

pub struct LdapConnector {
    target: TargetId,
    url: String,
    bind_dn: String,
    password: Secret,
    people: Base,
    groups: Base,
    services: Base,
    empty_member: Option<Base>,
    page_size: i32,
    connect_timeout: Duration,
    timeout: Duration,
    starttls: bool,
    /// Trusting only `ca_file`; `None`: ldap3's default (the system's CAs).
    tls_config: Option<Arc<rustls::ClientConfig>>,
    conn: Mutex<Option<Ldap>>,
}

impl fmt::Debug for LdapConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConnector")
            .field("target", &self.target)
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("password", &self.password)
            .field("people_dn", &self.people.dn)
            .field("groups_dn", &self.groups.dn)
            .field("services_dn", &self.services.dn)
            .field("empty_member", &self.empty_member.as_ref().map(|b| &b.dn))
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// A name as it will be written, or why it cannot be.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("the {what} name is empty"));
    }
    if name.contains('\0') {
        return Err(format!("the {what} name {name:?} contains a NUL character, which Writ does not write into LDAP names"));
    }
    Ok(())
}

/// Result codes after which retrying may help.
fn rc_is_transient(rc: u32) -> bool {
    matches!(rc, 3 | 11 | 51 | 52)
}

fn rc_name(rc: u32) -> &'static str {
    match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        80 => "other",
        _ => "error",
    }
}

impl LdapConnector {
    /// Checks the configuration and loads the bind password; does not contact
    /// the server.
    pub fn new(target: &TargetId, config: &LdapConfig) -> Result<Self, ConnectorError> {
        let refuse = |detail: String| ConnectorError::Permanent { target: target.to_string(), detail };
        let url = config.url.trim();
        if !(url.starts_with("ldap://") || url.starts_with("ldaps://") || url.starts_with("ldapi://")) {
            return Err(refuse(format!("url `{url}`: use `ldap://`, `ldaps://` or `ldapi://`")));
        }
        if config.starttls && !url.starts_with("ldap://") {
            return Err(refuse(format!("url `{url}`: `starttls = true` upgrades an `ldap://` connection; `ldaps://` is TLS already, remove `starttls`")));
        }
        let tls_config = config.ca_file.as_deref().map(crate::tls::rustls_config).transpose().map_err(|e| refuse(e.to_string()))?;
        let password = config
            .password_source()
            .load(target.as_str())
            .map_err(|e| crate::secret_error(e, target))?
            .ok_or_else(|| refuse("the bind password is missing: give `password_env` or `password_file`".into()))?;
        let base = |field: &str, dn: &str| -> Result<Base, ConnectorError> {
            let parsed = Dn::parse(dn).map_err(|e| refuse(format!("{field} `{dn}`: {e}")))?;
            if parsed.0.is_empty() {
                return Err(refuse(format!("{field} is empty")));
            }
            Ok(Base { dn: dn.trim().to_owned(), key: parsed.key() })
        };
        base("bind_dn", &config.bind_dn)?;
        let page_size = config.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page_size == 0 || page_size > i32::MAX as u32 {
            return Err(refuse(format!("page_size {page_size} is out of range")));
        }
        Ok(LdapConnector {
            target: target.clone(),
            url: url.to_owned(),
            bind_dn: config.bind_dn.trim().to_owned(),
            password,
            people: base("people_dn", &config.people_dn)?,
            groups: base("groups_dn", &config.groups_dn)?,
            services: base("services_dn", &config.services_dn)?,
            empty_member: config.empty_member.as_deref().map(|dn| base("empty_member", dn)).transpose()?,
            page_size: page_size as i32,
            connect_timeout: Duration::from_secs(config.connect_timeout_secs.unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS)),
            timeout: Duration::from_secs(config.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS)),
            starttls: config.starttls,
            tls_config,
            conn: Mutex::new(None),
        })
    }

    fn permanent(&self, detail: impl Into<String>) -> ConnectorError {
        ConnectorError::Permanent { target: self.target.to_string(), detail: detail.into() }
    }

    /// A failed LDAP call: transport failures and timeouts are transient.
    fn fail(&self, what: &str, e: LdapError) -> ConnectorError {
        match e {
            LdapError::LdapResult { result } => self.refused(what, &result),
            LdapError::Io { .. }
            | LdapError::OpSend { .. }
            | LdapError::ResultRecv { .. }
            | LdapError::IdScrubSend { .. }
            | LdapError::MiscSend { .. }
            | LdapError::Timeout { .. }
            | LdapError::EndOfStream => {
                ConnectorError::Transient { target: self.target.to_string(), detail: crate::tls::with_advice(format!("{what}: {e} ({})", self.url)) }
            }
            other => self.permanent(format!("{what}: {other}")),
        }
    }

    /// An LDAP result that is not success, with the server's own words.
    fn refused(&self, what: &str, r: &LdapResult) -> ConnectorError {
        let mut detail = format!("{what}: {} (LDAP result {})", rc_name(r.rc), r.rc);
        if !r.text.is_empty() {
            detail.push_str(": ");
            detail.push_str(&r.text);
        }
        if rc_is_transient(r.rc) {
            ConnectorError::Transient { target: self.target.to_string(), detail }
        } else {
            self.permanent(detail)
        }
    }

    /// The connection, opened and bound if there is none or it dropped.
    async fn ldap(&self) -> Result<Ldap, ConnectorError> {
        let mut slot = self.conn.lock().await;
        if let Some(ldap) = slot.as_mut() {
            if !ldap.is_closed() {
                return Ok(ldap.clone());
            }
        }
        *slot = None;
        let mut settings = LdapConnSettings::new().set_conn_timeout(self.connect_timeout).set_starttls(self.starttls);
        if let Some(config) = &self.tls_config {
            settings = settings.set_config(config.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url).await.map_err(|e| self.fail("cannot connect", e))?;
        let target = self.target.to_string();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(target = %target, error = %e, "LDAP connection ended");
            }
        });
        let bound = ldap
            .with_timeout(self.timeout)
            .simple_bind(&self.bind_dn, self.password.expose())
            .await
            .map_err(|e| self.fail(&format!("bind as `{}`", self.bind_dn), e))?;
        if bound.rc != 0 {
            return Err(self.refused(&format!("bind as `{}`", self.bind_dn), &bound));
        }
        *slot = Some(ldap.clone());
        Ok(ldap)
    }

    fn base_of(&self, place: Place) -> &Base {
        match place {
            Place::People => &self.people,
            Place::Services => &self.services,
        }
    }

    fn place(kind: IdentityKind) -> Place {
        if kind.is_human() {
            Place::People
        } else {
            Place::Services
        }
    }

    fn account_dn(&self, name: &str, place: Place) -> String {
        format!("uid={},{}", ldap3::dn_escape(name), self.base_of(place).dn)
    }

    fn group_dn(&self, resource: &str) -> String {
        format!("cn={},{}", ldap3::dn_escape(resource), self.groups.dn)
    }

    /// The stored DN of the entry at `dn` (matching `filter`), if there is one.
    async fn lookup(&self, mut ldap: Ldap, dn: &str, filter: &str, what: &str) -> Result<Option<String>, ConnectorError> {
        let res =
            ldap.with_timeout(self.timeout).search(dn, Scope::Base, filter, vec!["1.1"]).await.map_err(|e| self.fail(&format!("read {what} `{dn}`"), e))?;
        match res.1.rc {
            0 => Ok(res.0.into_iter().next().map(|e| SearchEntry::construct(e).dn)),
            32 => Ok(None),
            _ => Err(self.refused(&format!("read {what} `{dn}`"), &res.1)),
        }
    }

    /// Checks that the entry the server found under `attr=name` holds exactly
    /// that name (the server matches names case-insensitively).
    fn exact(&self, stored: &str, attr: &str, name: &str, what: &str) -> Result<(), ConnectorError> {
        let parsed = Dn::parse(stored).map_err(|e| self.permanent(format!("the server returned the {what} DN `{stored}`: {e}")))?;
        match parsed.first_is(attr) {
            Some(value) if value == name => Ok(()),
            _ => Err(self.permanent(format!(
                "the directory holds the {what} `{stored}`, which it matches as the same name as {name:?}: \
                 Writ refuses a name the directory cannot tell apart exactly"
            ))),
        }
    }

    /// The group's stored DN, checked to be exactly `resource`; `None` if absent.
    async fn find_group(&self, ldap: Ldap, resource: &str) -> Result<Option<String>, ConnectorError> {
        let dn = self.group_dn(resource);
        let found = self.lookup(ldap, &dn, "(objectClass=groupOfNames)", "group").await?;
        if let Some(stored) = &found {
            self.exact(stored, "cn", resource, "group")?;
        }
        Ok(found)
    }

    /// The account's stored DN, checked to be exactly `name`; `None` if absent.
    async fn find_account(&self, ldap: Ldap, name: &str, place: Place) -> Result<Option<String>, ConnectorError> {
        let dn = self.account_dn(name, place);
        let found = self.lookup(ldap, &dn, "(objectClass=*)", "account").await?;
        if let Some(stored) = &found {
            self.exact(stored, "uid", name, "account")?;
        }
        Ok(found)
    }

    fn check(&self, what: &str, name: &str) -> Result<(), ConnectorError> {
        check_name(what, name).map_err(|d| self.permanent(d))
    }

    /// Streams the `groupOfNames` entries one level under `groups_dn` that
    /// match `filter` (ANDed), with `attrs`, page by page.
    async fn each_group(&self, filter: &str, attrs: Vec<&'static str>, f: &mut (dyn FnMut(SearchEntry) + Send)) -> Result<(), ConnectorError> {
        let mut ldap = self.ldap().await?;
        let filter = format!("(&(objectClass=groupOfNames){filter})");
        let what = format!("search the groups under `{}`", self.groups.dn);
        let mut stream = ldap
            .with_timeout(self.timeout)
            .streaming_search_with(PagedResults::new(self.page_size), &self.groups.dn, Scope::OneLevel, &filter, attrs)
            .await
            .map_err(|e| self.fail(&what, e))?;
        while let Some(entry) = stream.next().await.map_err(|e| self.fail(&what, e))? {
            if entry.is_ref() || entry.is_intermediate() {
                continue;
            }
            f(SearchEntry::construct(entry));
        }
        let res = stream.finish().await;
        if res.rc != 0 {
            return Err(self.refused(&what, &res));
        }
        Ok(())
    }

    /// The resource a group entry stands for: its `cn` RDN value.
    fn resource_of(group_dn: &str) -> Option<(Dn, String)> {
        let dn = Dn::parse(group_dn).ok()?;
        let cn = dn.first_is("cn")?.to_owned();
        Some((dn, cn))
    }

    /// The groups (resources) `account_dn` is a member of, sorted.
    async fn groups_of(&self, account_dn: &str) -> Result<Vec<String>, ConnectorError> {
        let mut found = Vec::new();
        let filter = format!("(member={})", ldap3::ldap_escape(account_dn));
        self.each_group(&filter, vec!["1.1"], &mut |e| {
            if let Some((_, cn)) = Self::resource_of(&e.dn) {
                found.push(cn);
            }
        })
        .await?;
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// Whether `account_dn` is a member of any group under `groups_dn`.
    async fn has_groups(&self, account_dn: &str) -> Result<bool, ConnectorError> {
        let mut ldap = self.ldap().await?;
        let filter = format!("(&(objectClass=groupOfNames)(member={}))", ldap3::ldap_escape(account_dn));
        let what = format!("search the groups of `{account_dn}`");
        let res = ldap
            .with_search_options(SearchOptions::new().sizelimit(1))
            .with_timeout(self.timeout)
            .search(&self.groups.dn, Scope::OneLevel, &filter, vec!["1.1"])
            .await
            .map_err(|e| self.fail(&what, e))?;
        match res.1.rc {
            0 | 4 => Ok(!res.0.is_empty()),
            _ => Err(self.refused(&what, &res.1)),
        }
    }

    /// The placeholder member of the group stored at `group_dn`.
    fn placeholder<'a>(&'a self, group_dn: &'a str) -> &'a str {
        self.empty_member.as_ref().map_or(group_dn, |b| b.dn.as_str())
    }

    async fn create_service_account(&self, ldap: Ldap, name: &str) -> Result<String, ConnectorError> {
        let dn = self.account_dn(name, Place::Services);
        let mut l = ldap.clone();
        let res = l
            .with_timeout(self.timeout)
            .add(
                &dn,
                vec![
                    ("objectClass", HashSet::from(["top", "account"])),
                    ("uid", HashSet::from([name])),
                    ("description", HashSet::from(["Non-human account managed by Writ"])),
                ],
            )
            .await
            .map_err(|e| self.fail(&format!("create the account `{dn}`"), e))?;
        match res.rc {
            0 => Ok(dn),
            // Created meanwhile (or a differently spelled name): look again.
            68 => self.find_account(ldap, name, Place::Services).await?.ok_or_else(|| self.refused(&format!("create the account `{dn}`"), &res)),
            _ => Err(self.refused(&format!("create the account `{dn}`"), &res)),
        }
    }

    /// How the scan treats members whose DN ends in `parent` (the text after
    /// the first RDN), computed once per distinct spelling of a parent.
    fn classify(&self, parent: &str) -> Parent {
        match Dn::parse(parent) {
            Ok(dn) => {
                let key = dn.key();
                Parent {
                    managed: key == self.people.key || key == self.services.key,
                    maybe_placeholder: key == self.groups.key || self.empty_member.as_ref().is_some_and(|b| b.key.get(1..) == Some(&key[..])),
                }
            }
            Err(_) => Parent { managed: false, maybe_placeholder: false },
        }
    }

    /// Reads one member value of a group for the scan: `None` for a placeholder.
    fn member_entitlement(&self, scan: &mut ScanState, group_key: &Key, resource: &str, member: &str) -> Option<LiveEntitlement> {
        let unparsed = || {
            let detail = BTreeMap::from([("dn".to_owned(), member.to_owned())]);
            Some(LiveEntitlement { account: member.to_owned(), resource: resource.to_owned(), detail })
        };
        let Ok((first, parent)) = Dn::split_first(member) else {
            return unparsed();
        };
        let class = match scan.parents.get(parent) {
            Some(c) => *c,
            None => {
                let c = self.classify(parent);
                scan.parents.insert(parent.to_owned(), c);
                c
            }
        };
        if class.maybe_placeholder {
            let key = Dn::parse(member).map(|d| d.key()).unwrap_or_default();
            if key == *group_key || self.empty_member.as_ref().is_some_and(|b| b.key == key) {
                return None;
            }
        }
        let account = match <[dn::Ava; 1]>::try_from(first) {
            Ok([ava]) if ava.is("uid") || ava.is("cn") => ava.value,
            _ => return unparsed(),
        };
        let detail = if class.managed { BTreeMap::new() } else { BTreeMap::from([("dn".to_owned(), member.to_owned())]) };
        Some(LiveEntitlement { account, resource: resource.to_owned(), detail })
    }
}

type Key = Vec<Vec<(String, String)>>;

/// What the scan knows about a parent DN spelling.
#[derive(Clone, Copy)]
struct Parent {
    /// `people_dn` or `services_dn`.
    managed: bool,
    /// `groups_dn` or the parent of `empty_member`: a member there may be a placeholder.
    maybe_placeholder: bool,
}

#[derive(Default)]
struct ScanState {
    parents: HashMap<String, Parent>,
}

#[async_trait]
impl Connector for LdapConnector {
    fn info(&self) -> ConnectorInfo {
        ConnectorInfo {
            kind: "ldap",
            target: self.target.to_string(),
            endpoint: format!("{} as {}", self.url, self.bind_dn),
            reads_live_state: true,
            manages_accounts: true,
            enforces_expiry: false,
        }
    }

    async fn read_account(&self, account: &Account) -> Result<AccountState, ConnectorError> {
        self.check("account", &account.name)?;
        let ldap = self.ldap().await?;
        let Some(dn) = self.find_account(ldap, &account.name, Self::place(account.kind)).await? else {
            return Ok(AccountState::default());
        };
        let entitlements = self
            .groups_of(&dn)
            .await?
            .into_iter()
            .map(|resource| LiveEntitlement { account: account.name.clone(), resource, detail: Default::default() })
            .collect();
        Ok(AccountState { exists: true, attributes: [("dn".to_owned(), dn)].into(), entitlements })
    }

    async fn scan(&self, sink: &mut (dyn FnMut(LiveEntitlement) + Send)) -> Result<u64, ConnectorError> {
        let mut n = 0u64;
        let mut state = ScanState::default();
        self.each_group("", vec!["member"], &mut |entry| {
            let Some((group, resource)) = Self::resource_of(&entry.dn) else {
                tracing::warn!(target = %self.target, dn = %entry.dn, "a group whose RDN is not a single `cn`: skipped");
                return;
            };
            let group_key = group.key();
            let values = entry.attrs.iter().filter(|(a, _)| a.eq_ignore_ascii_case("member")).flat_map(|(_, v)| v);
            for member in values {
                if let Some(e) = self.member_entitlement(&mut state, &group_key, &resource, member) {
                    sink(e);
                    n += 1;
                }
            }
        })
        .await?;
        Ok(n)
    }

    async fn grant(&self, order: &Order) -> Result<Applied, ConnectorError> {
        self.check("account", &order.account.name)?;
        self.check("resource", &order.resource)?;
        let place = Self::place(order.account.kind);
        let ldap = self.ldap().await?;
        let (group, account) = tokio::join!(self.find_group(ldap.clone(), &order.resource), self.find_account(ldap.clone(), &order.account.name, place));
        let Some(group) = group? else {
            return Err(self.permanent(format!("no group `{}` (objectClass groupOfNames) under `{}`", self.group_dn(&order.resource), self.groups.dn)));
        };
        let member = match (account?, place) {
            (Some(dn), _) => dn,
            (None, Place::People) => {
                return Err(self.permanent(format!("no entry `{}` under people_dn `{}`", self.account_dn(&order.account.name, place), self.people.dn)));
            }
            (None, Place::Services) => self.create_service_account(ldap.clone(), &order.account.name).await?,
        };
        let what = format!("add `{member}` to `{group}`");
        let mut l = ldap;
        let res =
            l.with_timeout(self.timeout).modify(&group, vec![Mod::Add("member", HashSet::from([member.as_str()]))]).await.map_err(|e| self.fail(&what, e))?;
        match res.rc {
            0 => Ok(Applied::Changed),
            20 => Ok(Applied::AlreadyPresent),
            _ => Err(self.refused(&what, &res)),
        }
    }

    async fn revoke(&self, order: &Order) -> Result<Applied, ConnectorError> {
        self.check("account", &order.account.name)?;
        self.check("resource", &order.resource)?;
        let place = Self::place(order.account.kind);
        let ldap = self.ldap().await?;
        let (group, account) = tokio::join!(self.find_group(ldap.clone(), &order.resource), self.find_account(ldap.clone(), &order.account.name, place));
        let (group, account) = (group?, account?);
        let Some(member) = account else {
            return Ok(Applied::AlreadyAbsent);
        };
        let mut changed = false;
        // A group that is gone holds nobody: the access is already absent.
        if let Some(group) = group {
            let what = format!("delete `{member}` from `{group}`");
            let mut l = ldap.clone();
            let res = l
                .with_timeout(self.timeout)
                .modify(&group, vec![Mod::Delete("member", HashSet::from([member.as_str()]))])
                .await
                .map_err(|e| self.fail(&what, e))?;
            changed = match res.rc {
                0 => true,
                16 => false,
                // The last member of a groupOfNames: swap in the placeholder, atomically.
                65 => {
                    let placeholder = self.placeholder(&group);
                    let res = l
                        .with_timeout(self.timeout)
                        .modify(&group, vec![Mod::Add("member", HashSet::from([placeholder])), Mod::Delete("member", HashSet::from([member.as_str()]))])
                        .await
                        .map_err(|e| self.fail(&what, e))?;
                    match res.rc {
                        0 => true,
                        16 => false,
                        _ => return Err(self.refused(&what, &res)),
                    }
                }
                _ => return Err(self.refused(&what, &res)),
            };
        }
        if place == Place::Services && !self.has_groups(&member).await? {
            let what = format!("delete the account `{member}`");
            let mut l = ldap;
            let res = l.with_timeout(self.timeout).delete(&member).await.map_err(|e| self.fail(&what, e))?;
            match res.rc {
                0 => changed = true,
                32 => {}
                _ => return Err(self.refused(&what, &res)),
            }
        }
        Ok(if changed { Applied::Changed } else { Applied::AlreadyAbsent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<LdapConfig, serde_json::Error> {
        serde_json::from_str(&format!(
            r#"{{"url":"ldap://127.0.0.1:1/","bind_dn":"cn=admin,dc=x","password_env":"WRIT_TEST_LDAP_PW_UNIT",
                "people_dn":"ou=people,dc=x","groups_dn":"ou=groups,dc=x","services_dn":"ou=services,dc=x"{extra}}}"#
        ))
    }

    #[test]
    fn config_refuses_typos_other_schemes_and_tls_settings_that_do_not_fit() {
        assert!(config("").is_ok());
        assert!(config(r#","pasword_env":"X""#).unwrap_err().to_string().contains("unknown field"));
        let target = TargetId::parse("corp-ldap").unwrap();
        let refused = |c: LdapConfig| LdapConnector::new(&target, &c).unwrap_err().to_string();
        let mut c = config("").unwrap();
        c.url = "http://h/".into();
        assert!(refused(c).contains("ldaps://"));
        let mut c = config(r#","starttls":true"#).unwrap();
        c.url = "ldaps://h/".into();
        let e = refused(c);
        assert!(e.contains("TLS already"), "{e}");
        let e = refused(config(r#","ca_file":"/nonexistent/ca.pem""#).unwrap());
        assert!(e.contains("corp-ldap") && e.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn refuses_nul_and_empty_names_before_writing() {
        assert!(check_name("account", "").is_err());
        assert!(check_name("account", "a\0b").is_err());
        assert!(check_name("account", " #a,b ").is_ok());
    }
}
