//! The Redis connector: an entitlement is a **profile** (a named set of ACL
//! rules from the target's config) held by an ACL user as one Redis 7
//! **selector** `(<rules>)`. Selectors combine, so a user can hold several
//! profiles and lose them one at a time.
//!
//! # Profiles and selectors
//! `profiles` maps a resource name to its rules (`cache_read = "+@read
//! ~cache:*"`). Rules are command, key and channel rules only; anything that
//! touches the user itself (`on`, `off`, `nopass`, `>pw`, `resetpass`,
//! `reset`, …) is refused when the connector is built. Each profile is sent as
//! the selector `(resetchannels <rules>)`, so it grants exactly the channels it
//! names whatever `acl-pubsub-default` says.
//!
//! Redis shows a selector in its own normal form (`+@read +@read ~a` comes
//! back as `~a resetchannels -@all +@read`), so to recognise a profile in
//! `ACL GETUSER`'s answer the connector asks Redis for each profile's normal
//! form once per connection: in one `MULTI`/`EXEC` it creates a throwaway user
//! `writ-profile-probe-<pid>-<nanos>` with the profile's selector, reads it
//! back and deletes it (no other client can see that user: the transaction is
//! atomic). A selector that matches no profile is reported as a
//! `LiveEntitlement` with resource `""` (no profile may be named `""`) and its
//! rules in `detail["rules"]`, so reconciliation flags it.
//!
//! # Accounts
//! - A **person**'s ACL user must exist; Writ only adds and removes selectors
//!   and never touches the user's own rules, passwords or on/off state.
//! - A **non-human** identity's user is created on its first grant with `on`
//!   and **no password** (and not `nopass`): nobody can authenticate as it until
//!   an operator sets a password. Writ never generates, sees or logs one. When
//!   its last profile is revoked the user is switched `off` rather than deleted
//!   (its password, set by an operator, survives until the next grant;
//!   `read_account` shows `enabled = "false"`).
//! - The `default` user (every unauthenticated client) and the user Writ
//!   connects as are never changed.
//!
//! # Changes
//! A grant appends one selector with `ACL SETUSER user (…)`; a revoke rebuilds
//! the user's selectors without that profile in one `ACL SETUSER user
//! clearselectors (…)(…)` command, so other selectors (other profiles, or ones
//! Writ does not know) survive unchanged. Changes by this connector are
//! serialised; Redis has no compare-and-set for ACLs, so a concurrent change by
//! another client between the read and the write of a revoke can be lost
//! (read-back and reconciliation show it).
//!
//! # Reading
//! `read_account` is one `ACL GETUSER` (binary-safe, structured). `scan` is one
//! `ACL LIST`: Redis 7.0 rebuilds a selector's description on every
//! `ACL GETUSER` (150-400 µs inside Redis per user, so 20-40 s for 100k users),
//! while `ACL LIST` caches each user's description after its first one (100k
//! users: ~15 s the first time after they were loaded, then ~0.05 s). Its lines
//! are parsed into the same selectors `ACL GETUSER` shows (tokens cannot
//! contain spaces: Redis refuses such patterns and names); a user whose line
//! has a parenthesis anywhere but around its selectors (a pattern like
//! `~a(b)*`) is read again with `ACL GETUSER` instead of being guessed at. The
//! scan has its own, longer timeout (`scan_timeout_secs`) for that first call.
//! All names travel as binary-safe RESP arguments.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, IntoConnectionInfo, RedisError, ServerErrorKind, Value};
use serde::Deserialize;
use tokio::sync::Mutex;
use writ_app::ports::{Account, AccountState, Applied, Connector, ConnectorError, ConnectorInfo, LiveEntitlement, Order};
use writ_core::identity::IdentityKind;
use writ_core::ids::TargetId;

use crate::secret::{Secret, SecretSource};

/// Users re-read per pipelined round trip by `scan` when their `ACL LIST`
/// line is ambiguous.
const GETUSER_BATCH: usize = 1_000;

/// `[targets.<id>]` with `kind = "redis"`:
///
/// ```toml
/// [targets.cache-prod]
/// kind = "redis"
/// url = "redis://cache.internal:6379/"   # no password here
/// username = "writ"                      # optional; else the `default` user
/// password_env = "WRIT_REDIS_PASSWORD"   # or password_file
/// connect_timeout_secs = 5               # optional
/// response_timeout_secs = 10             # optional
/// scan_timeout_secs = 120                # optional: the `ACL LIST` of a scan
/// ca_file = "/etc/writ/redis-ca.pem"     # optional, with rediss://: the CA of the server's certificate
///
/// [targets.cache-prod.profiles]
/// cache_read = "+@read ~cache:*"
/// cache_write = "+@write ~cache:*"
/// ```
///
/// TLS: `rediss://`; the server's certificate must chain to `ca_file` (PEM)
/// if given, else to the system's CAs. `#insecure` (no verification) is refused.
///
/// Unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawRedisConfig")]
pub struct RedisConfig {
    /// `redis://host:port/[db]`, without a password.
    pub url: String,
    /// The ACL user Writ authenticates as (`None`: `default`).
    pub username: Option<String>,
    pub password: SecretSource,
    /// Resource name → ACL rules.
    pub profiles: BTreeMap<String, String>,
    pub connect_timeout_secs: u64,
    /// Per command.
    pub response_timeout_secs: u64,
    /// For the one `ACL LIST` of a scan (slow the first time, see the module doc).
    pub scan_timeout_secs: u64,
    /// The CA (PEM) the server's certificate must chain to (`rediss://` only).
    pub ca_file: Option<std::path::PathBuf>,
}

impl RedisConfig {
    pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 5;
    pub const DEFAULT_RESPONSE_TIMEOUT_SECS: u64 = 10;
    pub const DEFAULT_SCAN_TIMEOUT_SECS: u64 = 120;

    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            username: None,
            password: SecretSource::default(),
            profiles: BTreeMap::new(),
            connect_timeout_secs: Self::DEFAULT_CONNECT_TIMEOUT_SECS,
            response_timeout_secs: Self::DEFAULT_RESPONSE_TIMEOUT_SECS,
            scan_timeout_secs: Self::DEFAULT_SCAN_TIMEOUT_SECS,
            ca_file: None,
        }
    }
}

/// The TOML shape (`SecretSource` spelled out: `flatten` would disable
/// `deny_unknown_fields`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedisConfig {
    url: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    password_file: Option<std::path::PathBuf>,
    #[serde(default)]
    profiles: BTreeMap<String, String>,
    #[serde(default)]
    connect_timeout_secs: Option<u64>,
    #[serde(default)]
    response_timeout_secs: Option<u64>,
    #[serde(default)]
    scan_timeout_secs: Option<u64>,
    #[serde(default)]
    ca_file: Option<std::path::PathBuf>,
}

impl From<RawRedisConfig> for RedisConfig {
    fn from(r: RawRedisConfig) -> Self {
        RedisConfig {
            url: r.url,
            username: r.username,
            password: SecretSource { env: r.password_env, file: r.password_file },
            profiles: r.profiles,
            connect_timeout_secs: r.connect_timeout_secs.unwrap_or(Self::DEFAULT_CONNECT_TIMEOUT_SECS),
            response_timeout_secs: r.response_timeout_secs.unwrap_or(Self::DEFAULT_RESPONSE_TIMEOUT_SECS),
            scan_timeout_secs: r.scan_timeout_secs.unwrap_or(Self::DEFAULT_SCAN_TIMEOUT_SECS),
            ca_file: r.ca_file,
        }
    }
}

/// A selector as `ACL GETUSER` describes it: Redis's normal form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Selector {
    commands: Vec<u8>,
    keys: Vec<u8>,
    channels: Vec<u8>,
}

impl Selector {
    /// The rules that recreate it exactly, as `ACL LIST` prints them: keys,
    /// then `&*` (every channel) or `resetchannels` and the channels (so the
    /// server's `acl-pubsub-default` cannot add any), then commands.
    fn rules(&self) -> Vec<u8> {
        let mut r = Vec::with_capacity(self.keys.len() + self.channels.len() + self.commands.len() + 16);
        if !self.keys.is_empty() {
            r.extend_from_slice(&self.keys);
            r.push(b' ');
        }
        if self.channels != b"&*" {
            r.extend_from_slice(b"resetchannels ");
        }
        if !self.channels.is_empty() {
            r.extend_from_slice(&self.channels);
            r.push(b' ');
        }
        r.extend_from_slice(&self.commands);
        r
    }

    /// `(rules)`: one `ACL SETUSER` argument.
    fn arg(&self) -> Vec<u8> {
        let mut a = Vec::with_capacity(self.commands.len() + self.keys.len() + self.channels.len() + 34);
        a.push(b'(');
        a.extend_from_slice(&self.rules());
        a.push(b')');
        a
    }
}

/// One ACL user as `ACL GETUSER` shows it.
#[derive(Debug, Clone, Default)]
struct User {
    flags: Vec<String>,
    passwords: usize,
    commands: Vec<u8>,
    keys: Vec<u8>,
    channels: Vec<u8>,
    selectors: Vec<Selector>,
}

impl User {
    fn enabled(&self) -> bool {
        self.flags.iter().any(|f| f == "on")
    }
}

/// Profiles as Redis writes them back, learnt once per connection.
#[derive(Debug, Default)]
struct Canon {
    profile_of: HashMap<Selector, String>,
}

#[derive(Clone)]
struct Live {
    con: MultiplexedConnection,
    canon: Arc<Canon>,
    generation: u64,
}

/// Why one attempt failed: Redis (classified by the caller, maybe retried) or
/// a refusal already worded.
enum Failure {
    Redis(RedisError),
    Refused(ConnectorError),
}

impl From<RedisError> for Failure {
    fn from(e: RedisError) -> Self {
        Failure::Redis(e)
    }
}

pub struct RedisConnector {
    target: TargetId,
    endpoint: String,
    client: redis::Client,
    config: AsyncConnectionConfig,
    scan_timeout: Duration,
    /// Profile name → its `(resetchannels rules)` argument.
    profiles: BTreeMap<String, String>,
    /// The user Writ authenticates as.
    admin: String,
    live: Mutex<Option<Live>>,
    generation: AtomicU64,
    /// Serialises read-modify-write changes.
    writes: Mutex<()>,
    /// Kept only to scrub it from error texts.
    secret: Option<Secret>,
}

impl fmt::Debug for RedisConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnector")
            .field("target", &self.target.as_str())
            .field("endpoint", &self.endpoint)
            .field("profiles", &self.profiles)
            .field("password", &self.secret.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// Why a profile rule is not allowed, if it is not.
fn rule_problem(rule: &str) -> Option<&'static str> {
    if rule.chars().any(|c| c.is_control() || matches!(c, '"' | '\'' | '(' | ')')) {
        return Some("quotes, parentheses and control characters are not allowed in profile rules");
    }
    let user_level = matches!(rule, "on" | "off" | "nopass" | "resetpass" | "reset" | "clearselectors" | "sanitize-payload" | "skip-sanitize-payload")
        || rule.starts_with(['>', '<', '#', '!']);
    if user_level {
        return Some("it changes the user itself (passwords, on/off, reset); a profile holds only command, key and channel rules");
    }
    let ok = matches!(rule, "allkeys" | "resetkeys" | "allchannels" | "resetchannels" | "allcommands" | "nocommands")
        || (rule.len() > 1 && rule.starts_with(['+', '-', '~', '&']))
        || ["%R~", "%W~", "%RW~"].iter().any(|p| rule.starts_with(p));
    (!ok).then_some("it is not a command (`+get`, `-@admin`), key (`~k*`, `%R~k*`) or channel (`&c*`) rule")
}

/// Why Redis cannot hold `name` exactly as an ACL user name, if it cannot
/// (`ACL SETUSER` refuses names with C `isspace` characters or NUL).
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("an empty name cannot name a Redis ACL user")
    } else if name.bytes().any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | b'\0')) {
        Some("Redis ACL user names cannot contain spaces, line breaks, tabs or NUL")
    } else {
        None
    }
}

fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(64).flat_map(char::escape_debug).collect();
    if name.chars().count() > 64 {
        s.push('…');
    }
    format!("`{s}`")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl RedisConnector {
    /// Checks the config (url, profiles) and loads the password; does not
    /// contact the target.
    pub fn new(target: &TargetId, config: &RedisConfig) -> Result<Self, ConnectorError> {
        let refuse = |detail: String| ConnectorError::Permanent { target: target.to_string(), detail };
        if config.url.contains("#insecure") {
            return Err(refuse(format!("target `{target}`: `#insecure` would accept any server certificate; give the server's CA as `ca_file` instead")));
        }
        let info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| refuse(format!("target `{target}`: invalid redis url: {}", e.detail().unwrap_or("cannot parse it"))))?;
        if info.redis_settings().password().is_some() {
            return Err(refuse(format!("target `{target}`: the url must not contain a password; give it as `password_env` or `password_file`")));
        }
        let username = match (info.redis_settings().username(), config.username.as_deref()) {
            (Some(a), Some(b)) if a != b => {
                return Err(refuse(format!("target `{target}`: the url names user `{a}` but `username` says `{b}`")));
            }
            (a, b) => b.or(a).map(str::to_owned),
        };
        let secret = config.password.load(target.as_str()).map_err(|e| crate::secret_error(e, target))?;
        let mut settings = info.redis_settings().clone();
        if let Some(u) = &username {
            settings = settings.set_username(u);
        }
        if let Some(s) = &secret {
            settings = settings.set_password(s.expose());
        }
        let info = info.set_redis_settings(settings);
        let tls = config.url.trim_start().starts_with("rediss://");
        let client = match &config.ca_file {
            None => redis::Client::open(info),
            Some(_) if !tls => return Err(refuse(format!("target `{target}`: `ca_file` is for TLS: use a `rediss://` url"))),
            Some(path) => {
                // Read (and checked) here so that a wrong file is a start-up error.
                let pem = crate::tls::read_ca_pem(path).map_err(|e| refuse(format!("target `{target}`: {e}")))?;
                redis::Client::build_with_tls(info, redis::TlsCertificates { client_tls: None, root_cert: Some(pem) })
            }
        }
        .map_err(|e| refuse(format!("target `{target}`: {e}")))?;

        let mut profiles = BTreeMap::new();
        let mut seen: HashMap<Vec<&str>, &str> = HashMap::new();
        for (name, rules) in &config.profiles {
            if name.is_empty() {
                return Err(refuse(format!("target `{target}`: a profile needs a name")));
            }
            let tokens: Vec<&str> = rules.split_ascii_whitespace().collect();
            if tokens.is_empty() {
                return Err(refuse(format!("target `{target}`: profile {} has no rules", shown(name))));
            }
            for t in &tokens {
                if let Some(why) = rule_problem(t) {
                    return Err(refuse(format!("target `{target}`: profile {} rule {}: {why}", shown(name), shown(t))));
                }
            }
            if let Some(other) = seen.insert(tokens.clone(), name) {
                return Err(refuse(format!(
                    "target `{target}`: profiles {} and {} have the same rules; Writ could not tell them apart",
                    shown(other),
                    shown(name)
                )));
            }
            profiles.insert(name.clone(), format!("(resetchannels {})", tokens.join(" ")));
        }
        if config.connect_timeout_secs == 0 || config.response_timeout_secs == 0 || config.scan_timeout_secs == 0 {
            return Err(refuse(format!("target `{target}`: timeouts must be at least 1 second")));
        }
        let endpoint = match &username {
            Some(u) => format!("{} (user `{u}`)", config.url),
            None => config.url.clone(),
        };
        Ok(RedisConnector {
            target: target.clone(),
            endpoint,
            client,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(config.connect_timeout_secs)))
                .set_response_timeout(Some(Duration::from_secs(config.response_timeout_secs))),
            scan_timeout: Duration::from_secs(config.scan_timeout_secs),
            profiles,
            admin: username.unwrap_or_else(|| "default".to_owned()),
            live: Mutex::new(None),
            generation: AtomicU64::new(0),
            writes: Mutex::new(()),
            secret,
        })
    }

    fn refuse(&self, detail: String) -> ConnectorError {
        ConnectorError::Permanent { target: self.target.to_string(), detail }
    }

    fn error(&self, e: &RedisError) -> ConnectorError {
        let transient = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_refusal()
            || e.is_connection_dropped()
            || matches!(
                e.kind(),
                ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::ReadOnly
                )
            );
        let mut detail = match (e.kind(), e.code(), e.detail()) {
            (ErrorKind::AuthenticationFailed, _, _) => {
                format!("cannot authenticate as `{}` (wrong password, or the user is off): {e}", self.admin)
            }
            (_, Some(code), Some(detail)) => format!("{code} {detail}"),
            _ => crate::tls::with_advice(e.to_string()),
        };
        if let Some(s) = &self.secret {
            if !s.expose().is_empty() {
                detail = detail.replace(s.expose(), "***");
            }
        }
        let target = self.target.to_string();
        if transient {
            ConnectorError::Transient { target, detail }
        } else {
            ConnectorError::Permanent { target, detail }
        }
    }

    /// The shared connection, opened (and the profiles' normal forms learnt)
    /// on first use or after a failure.
    async fn live(&self) -> Result<Live, ConnectorError> {
        let mut slot = self.live.lock().await;
        if let Some(live) = &*slot {
            return Ok(live.clone());
        }
        let mut con = self.client.get_multiplexed_async_connection_with_config(&self.config).await.map_err(|e| self.error(&e))?;
        let canon = self.learn_profiles(&mut con).await?;
        let live = Live { con, canon: Arc::new(canon), generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1 };
        *slot = Some(live.clone());
        Ok(live)
    }

    /// Forgets a broken connection (unless another call already replaced it).
    async fn drop_live(&self, generation: u64) {
        let mut slot = self.live.lock().await;
        if slot.as_ref().is_some_and(|l| l.generation == generation) {
            *slot = None;
        }
    }

    /// Asks Redis how it writes each profile's selector (see the module doc).
    async fn learn_profiles(&self, con: &mut MultiplexedConnection) -> Result<Canon, ConnectorError> {
        if self.profiles.is_empty() {
            return Ok(Canon::default());
        }
        static PROBES: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let probe = format!("writ-profile-probe-{}-{nanos}-{}", std::process::id(), PROBES.fetch_add(1, Ordering::Relaxed));
        let mut pipe = redis::pipe();
        pipe.atomic();
        for selector in self.profiles.values() {
            pipe.cmd("ACL").arg("SETUSER").arg(&probe).arg("reset").arg(selector);
            pipe.cmd("ACL").arg("GETUSER").arg(&probe);
        }
        pipe.cmd("ACL").arg("DELUSER").arg(&probe);
        let answers: Vec<Value> = pipe.ignore_errors().query_async(con).await.map_err(|e| self.error(&e))?;
        let mut canon = Canon::default();
        for (i, name) in self.profiles.keys().enumerate() {
            let refused = |why: String| self.refuse(format!("profile {}: Redis refused its rules: {why}", shown(name)));
            if let Some(Value::ServerError(e)) = answers.get(2 * i) {
                return Err(refused(format!("{} {}", e.code(), e.details().unwrap_or(""))));
            }
            let user = answers.get(2 * i + 1).cloned().map(parse_user).transpose().map_err(refused)?.flatten();
            let [selector] = user.map(|u| u.selectors).unwrap_or_default().try_into().map_err(|_| refused("no selector came back".into()))?;
            if let Some(other) = canon.profile_of.insert(selector, name.clone()) {
                return Err(self.refuse(format!(
                    "profiles {} and {} grant the same rules in Redis's terms; Writ could not tell them apart",
                    shown(&other),
                    shown(name)
                )));
            }
        }
        Ok(canon)
    }

    /// Runs `op` on the shared connection; if the connection turns out to be
    /// dead (e.g. the server restarted), reconnects and runs it once more
    /// (every operation reads before it writes, so a second run is safe).
    async fn run<'a, T, F, Fut>(&'a self, op: F) -> Result<T, ConnectorError>
    where
        F: Fn(Live) -> Fut,
        Fut: Future<Output = Result<T, Failure>> + 'a,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let live = self.live().await?;
            let generation = live.generation;
            match op(live).await {
                Ok(v) => return Ok(v),
                Err(Failure::Refused(e)) => return Err(e),
                Err(Failure::Redis(e)) => {
                    let broken = e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error();
                    if broken {
                        self.drop_live(generation).await;
                    }
                    if !(broken && e.is_connection_dropped() && attempt == 1) {
                        return Err(self.error(&e));
                    }
                }
            }
        }
    }

    fn check_account(&self, name: &str) -> Result<(), ConnectorError> {
        match name_problem(name) {
            Some(why) => Err(self.refuse(format!("account {}: {why}", shown(name)))),
            None => Ok(()),
        }
    }

    /// The checks of a grant or revoke: a name Redis holds, a user Writ may
    /// change, a configured profile. Returns the profile's selector argument.
    fn check_order<'a>(&'a self, o: &Order) -> Result<&'a str, ConnectorError> {
        self.check_account(&o.account.name)?;
        if o.account.name == "default" {
            return Err(self.refuse("the `default` user is every client that does not authenticate; Writ does not change it".into()));
        }
        if o.account.name == self.admin {
            return Err(self.refuse(format!("{} is the user Writ connects as; Writ does not change it", shown(&self.admin))));
        }
        self.profiles
            .get(&o.resource)
            .map(String::as_str)
            .ok_or_else(|| self.refuse(format!("no profile {} is configured for target `{}`", shown(&o.resource), self.target)))
    }

    fn state(&self, account: &str, user: Option<User>, canon: &Canon) -> AccountState {
        let Some(user) = user else {
            return AccountState::default();
        };
        let mut attributes = BTreeMap::new();
        attributes.insert("enabled".to_owned(), user.enabled().to_string());
        attributes.insert("flags".to_owned(), user.flags.join(" "));
        attributes.insert("passwords".to_owned(), user.passwords.to_string());
        attributes.insert("commands".to_owned(), text(&user.commands));
        attributes.insert("keys".to_owned(), text(&user.keys));
        attributes.insert("channels".to_owned(), text(&user.channels));
        let entitlements: BTreeSet<LiveEntitlement> = user.selectors.iter().map(|s| entitlement(account, s, canon)).collect();
        AccountState { exists: true, attributes, entitlements: entitlements.into_iter().collect() }
    }
}

fn entitlement(account: &str, s: &Selector, canon: &Canon) -> LiveEntitlement {
    LiveEntitlement {
        account: account.to_owned(),
        resource: canon.profile_of.get(s).cloned().unwrap_or_default(),
        detail: BTreeMap::from([("rules".to_owned(), text(&s.rules()))]),
    }
}

/// One `ACL LIST` line, split into its selectors.
#[derive(Debug, PartialEq, Eq)]
enum AclLine<'a> {
    Parsed {
        name: &'a [u8],
        selectors: Vec<Selector>,
    },
    /// A parenthesis inside a rule: read this user with `ACL GETUSER`.
    Ambiguous {
        name: &'a [u8],
    },
}

/// `user NAME flags… passwords… root-rules… (selector) (selector)…`: tokens
/// never contain spaces, rules never start with `(`, so selectors begin at the
/// first token that does; inside one, only its first token may open and only
/// its last close a parenthesis, else the line is ambiguous.
fn parse_acl_line(line: &[u8]) -> Option<AclLine<'_>> {
    let mut tokens = line.split(|b| *b == b' ');
    if tokens.next()? != b"user" {
        return None;
    }
    let name = tokens.next()?;
    let mut selectors = Vec::new();
    let mut open: Option<Vec<&[u8]>> = None;
    for t in tokens.skip_while(|t| !t.starts_with(b"(")) {
        let parens = t.iter().filter(|b| matches!(b, b'(' | b')')).count();
        match open.as_mut() {
            None if parens == 1 && t.len() > 1 && t[0] == b'(' => open = Some(vec![&t[1..]]),
            Some(rules) if parens == 0 => rules.push(t),
            Some(rules) if parens == 1 && t.ends_with(b")") => {
                rules.push(&t[..t.len() - 1]);
                match selector_of(rules) {
                    Some(s) => selectors.push(s),
                    None => return Some(AclLine::Ambiguous { name }),
                }
                open = None;
            }
            _ => return Some(AclLine::Ambiguous { name }),
        }
    }
    Some(if open.is_some() { AclLine::Ambiguous { name } } else { AclLine::Parsed { name, selectors } })
}

/// A selector's `ACL LIST` rules as the fields `ACL GETUSER` gives.
fn selector_of(rules: &[&[u8]]) -> Option<Selector> {
    let mut s = Selector { commands: Vec::new(), keys: Vec::new(), channels: Vec::new() };
    for r in rules {
        let field = match r.first()? {
            b'~' | b'%' => &mut s.keys,
            b'&' => &mut s.channels,
            b'+' | b'-' => &mut s.commands,
            _ if *r == b"resetchannels" => continue,
            _ => return None,
        };
        if !field.is_empty() {
            field.push(b' ');
        }
        field.extend_from_slice(r);
    }
    Some(s)
}

async fn get_user(con: &mut MultiplexedConnection, name: &str) -> Result<Option<User>, Failure> {
    let v: Value = redis::cmd("ACL").arg("GETUSER").arg(name).query_async(con).await?;
    parse_user(v).map_err(|why| Failure::Redis(RedisError::from((ErrorKind::UnexpectedReturnType, "ACL GETUSER", why))))
}

/// Key/value pairs of a RESP2 flat array or a RESP3 map.
fn pairs(v: Value) -> Option<Vec<(String, Value)>> {
    let items: Vec<(Value, Value)> = match v {
        Value::Map(m) => m,
        Value::Array(a) if a.len() % 2 == 0 => {
            let mut it = a.into_iter();
            std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
        }
        _ => return None,
    };
    items.into_iter().map(|(k, v)| Some((String::from_utf8(bytes(&k)?).ok()?, v))).collect()
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.clone().into_bytes()),
        Value::Okay => Some(b"OK".to_vec()),
        _ => None,
    }
}

fn list(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(a) | Value::Set(a) => Some(a),
        _ => None,
    }
}

fn parse_selector(v: Value) -> Option<Selector> {
    let mut s = Selector { commands: Vec::new(), keys: Vec::new(), channels: Vec::new() };
    for (k, v) in pairs(v)? {
        match k.as_str() {
            "commands" => s.commands = bytes(&v)?,
            "keys" => s.keys = bytes(&v)?,
            "channels" => s.channels = bytes(&v)?,
            _ => {}
        }
    }
    Some(s)
}

/// `ACL GETUSER`'s answer; `None` if the user does not exist.
fn parse_user(v: Value) -> Result<Option<User>, String> {
    if v == Value::Nil {
        return Ok(None);
    }
    let bad = || "unexpected ACL GETUSER answer".to_owned();
    let mut user = User::default();
    for (k, v) in pairs(v).ok_or_else(bad)? {
        match k.as_str() {
            "flags" => {
                user.flags = list(&v).ok_or_else(bad)?.iter().map(|f| bytes(f).map(|b| text(&b))).collect::<Option<_>>().ok_or_else(bad)?;
            }
            "passwords" => user.passwords = list(&v).map_or(0, <[Value]>::len),
            "commands" => user.commands = bytes(&v).ok_or_else(bad)?,
            "keys" => user.keys = bytes(&v).ok_or_else(bad)?,
            "channels" => user.channels = bytes(&v).ok_or_else(bad)?,
            "selectors" => {
                user.selectors = list(&v).ok_or_else(bad)?.iter().cloned().map(parse_selector).collect::<Option<_>>().ok_or_else(bad)?;
            }
            _ => {}
        }
    }
    Ok(Some(user))
}

impl RedisConnector {
    async fn grant_once(&self, o: &Order, selector: &str, live: Live) -> Result<Applied, Failure> {
        let mut con = live.con;
        let person = o.account.kind == IdentityKind::Person;
        let user = get_user(&mut con, &o.account.name).await?;
        if person && user.is_none() {
            return Err(Failure::Refused(self.refuse(format!("no ACL user {} on target `{}`", shown(&o.account.name), self.target))));
        }
        let held = user.as_ref().is_some_and(|u| u.selectors.iter().any(|s| live.canon.profile_of.get(s) == Some(&o.resource)));
        let enabled = user.as_ref().is_some_and(User::enabled);
        if held && (person || enabled) {
            return Ok(Applied::AlreadyPresent);
        }
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER").arg(&o.account.name);
        if !person {
            cmd.arg("on");
        }
        if !held {
            cmd.arg(selector);
        }
        let _: Value = cmd.query_async(&mut con).await?;
        Ok(Applied::Changed)
    }

    async fn revoke_once(&self, o: &Order, live: Live) -> Result<Applied, Failure> {
        let mut con = live.con;
        let person = o.account.kind == IdentityKind::Person;
        let Some(user) = get_user(&mut con, &o.account.name).await? else {
            return Ok(Applied::AlreadyAbsent);
        };
        let is_this = |s: &Selector| live.canon.profile_of.get(s) == Some(&o.resource);
        if !user.selectors.iter().any(is_this) {
            return Ok(Applied::AlreadyAbsent);
        }
        let remaining: Vec<&Selector> = user.selectors.iter().filter(|s| !is_this(s)).collect();
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER").arg(&o.account.name).arg("clearselectors");
        for s in &remaining {
            cmd.arg(s.arg());
        }
        if !person && !remaining.iter().any(|s| live.canon.profile_of.contains_key(*s)) {
            cmd.arg("off");
        }
        let _: Value = cmd.query_async(&mut con).await?;
        Ok(Applied::Changed)
    }

    async fn scan_once(&self, sink: &mut (dyn FnMut(LiveEntitlement) + Send), live: Live) -> Result<u64, Failure> {
        let mut con = live.con;
        con.set_response_timeout(self.scan_timeout);
        let lines: Vec<Vec<u8>> = redis::cmd("ACL").arg("LIST").query_async(&mut con).await?;
        let mut n = 0u64;
        let mut emit = |name: &[u8], selectors: &[Selector]| {
            let account = text(name);
            let held: BTreeSet<LiveEntitlement> = selectors.iter().map(|s| entitlement(&account, s, &live.canon)).collect();
            for e in held {
                sink(e);
                n += 1;
            }
        };
        let mut ambiguous = Vec::new();
        for line in &lines {
            match parse_acl_line(line) {
                Some(AclLine::Parsed { name, selectors }) => emit(name, &selectors),
                Some(AclLine::Ambiguous { name }) => ambiguous.push(name),
                None => {
                    let why = format!("unexpected ACL LIST line {}", shown(&text(line)));
                    return Err(Failure::Redis(RedisError::from((ErrorKind::UnexpectedReturnType, "ACL LIST", why))));
                }
            }
        }
        for batch in ambiguous.chunks(GETUSER_BATCH) {
            let mut pipe = redis::pipe();
            for name in batch {
                pipe.cmd("ACL").arg("GETUSER").arg(*name);
            }
            let answers: Vec<Value> = pipe.query_async(&mut con).await?;
            for (name, v) in batch.iter().zip(answers) {
                let bad = |why| Failure::Redis(RedisError::from((ErrorKind::UnexpectedReturnType, "ACL GETUSER", why)));
                if let Some(user) = parse_user(v).map_err(bad)? {
                    emit(name, &user.selectors);
                } // else deleted since ACL LIST
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl Connector for RedisConnector {
    fn info(&self) -> ConnectorInfo {
        ConnectorInfo {
            kind: "redis",
            target: self.target.to_string(),
            endpoint: self.endpoint.clone(),
            reads_live_state: true,
            manages_accounts: true,
            enforces_expiry: false,
        }
    }

    async fn read_account(&self, account: &Account) -> Result<AccountState, ConnectorError> {
        self.check_account(&account.name)?;
        self.run(|live| async move {
            let mut con = live.con.clone();
            let user = get_user(&mut con, &account.name).await?;
            Ok(self.state(&account.name, user, &live.canon))
        })
        .await
    }

    async fn scan(&self, sink: &mut (dyn FnMut(LiveEntitlement) + Send)) -> Result<u64, ConnectorError> {
        // A retry after a dropped connection would hand over entitlements twice.
        let live = self.live().await?;
        let generation = live.generation;
        match self.scan_once(sink, live).await {
            Ok(n) => Ok(n),
            Err(Failure::Refused(e)) => Err(e),
            Err(Failure::Redis(e)) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error() {
                    self.drop_live(generation).await;
                }
                Err(self.error(&e))
            }
        }
    }

    async fn grant(&self, o: &Order) -> Result<Applied, ConnectorError> {
        let selector = self.check_order(o)?;
        let _serial = self.writes.lock().await;
        let applied = self.run(|live| self.grant_once(o, selector, live)).await?;
        if applied == Applied::Changed {
            tracing::info!(target_id = %self.target, account = %o.account.name, profile = %o.resource, "redis: granted");
        }
        Ok(applied)
    }

    async fn revoke(&self, o: &Order) -> Result<Applied, ConnectorError> {
        self.check_order(o)?;
        let _serial = self.writes.lock().await;
        let applied = self.run(|live| self.revoke_once(o, live)).await?;
        if applied == Applied::Changed {
            tracing::info!(target_id = %self.target, account = %o.account.name, profile = %o.resource, "redis: revoked");
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TargetId {
        TargetId::parse("cache-test").unwrap()
    }

    fn config(profiles: &[(&str, &str)]) -> RedisConfig {
        let mut c = RedisConfig::new("redis://127.0.0.1:1/");
        c.profiles = profiles.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        c
    }

    #[test]
    fn profiles_hold_only_command_key_and_channel_rules() {
        for ok in ["+@read ~cache:*", "+get +config|get %R~a* %W~b* %RW~c &chan:* -@dangerous", "allkeys allcommands resetchannels"] {
            RedisConnector::new(&target(), &config(&[("p", ok)])).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in
            ["+@read nopass", ">secret", "<secret", "on", "off", "reset", "resetpass", "#abc", "!abc", "clearselectors", "(+get)", "~\"a b\"", "get", "", "+"]
        {
            let e = RedisConnector::new(&target(), &config(&[("p", bad)])).unwrap_err();
            assert!(!e.is_transient() && !e.to_string().contains("secret\""), "{bad}: {e}");
        }
        let e = RedisConnector::new(&target(), &config(&[("a", "+get ~x"), ("b", "+get  ~x")])).unwrap_err();
        assert!(e.to_string().contains("same rules"), "{e}");
    }

    #[test]
    fn names_redis_cannot_hold_are_refused() {
        for bad in ["", "a b", "new\nline", "tab\t", "nul\0", "vt\x0b"] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
        for ok in ["o'brien", "ünïcödé-名前", "(paren)", ">password", "x\x01y"] {
            assert!(name_problem(ok).is_none(), "{ok:?}");
        }
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_echoed() {
        for url in ["redis://:hunter2@127.0.0.1:6379/", "redis://writ:hunter2@127.0.0.1:6379/"] {
            let e = RedisConnector::new(&target(), &RedisConfig::new(url)).unwrap_err();
            assert!(e.to_string().contains("password_env") && !e.to_string().contains("hunter2"), "{e}");
        }
        let mut c = RedisConfig::new("redis://writ@127.0.0.1:6379/");
        c.username = Some("other".into());
        assert!(RedisConnector::new(&target(), &c).is_err());
    }

    #[test]
    fn config_refuses_unknown_keys() {
        let ok: crate::TargetConfig = serde_json::from_value(serde_json::json!({
            "kind": "redis", "url": "redis://127.0.0.1/", "username": "writ", "password_file": "/run/pw",
            "profiles": { "cache_read": "+@read ~cache:*" },
        }))
        .unwrap();
        let crate::TargetConfig::Redis(c) = ok else { panic!("{ok:?}") };
        assert_eq!(c.profiles["cache_read"], "+@read ~cache:*");
        let typo = serde_json::from_value::<crate::TargetConfig>(serde_json::json!({
            "kind": "redis", "url": "redis://127.0.0.1/", "profile": {},
        }))
        .unwrap_err();
        assert!(typo.to_string().contains("profile"), "{typo}");
    }

    #[test]
    fn getuser_answers_parse_in_resp2_and_resp3_shapes() {
        let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let sel2 = Value::Array(vec![b("commands"), b("-@all +get"), b("keys"), b("~x"), b("channels"), b("")]);
        let resp2 = Value::Array(vec![
            b("flags"),
            Value::Array(vec![b("on")]),
            b("passwords"),
            Value::Array(vec![]),
            b("commands"),
            b("-@all"),
            b("keys"),
            b(""),
            b("channels"),
            b(""),
            b("selectors"),
            Value::Array(vec![sel2]),
        ]);
        let u = parse_user(resp2).unwrap().unwrap();
        assert!(u.enabled());
        assert_eq!(u.selectors.len(), 1);
        assert_eq!(text(&u.selectors[0].arg()), "(~x resetchannels -@all +get)");
        let sel3 = Value::Map(vec![(b("commands"), b("-@all +@read")), (b("keys"), b("")), (b("channels"), b("&c"))]);
        let resp3 = Value::Map(vec![(b("flags"), Value::Set(vec![b("off")])), (b("selectors"), Value::Array(vec![sel3]))]);
        let u = parse_user(resp3).unwrap().unwrap();
        assert!(!u.enabled());
        assert_eq!(text(&u.selectors[0].rules()), "resetchannels &c -@all +@read");
        assert!(parse_user(Value::Nil).unwrap().is_none());
    }

    #[test]
    fn acl_list_lines_parse_into_getuser_selectors_or_are_flagged_ambiguous() {
        let sel = |keys: &str, channels: &str, commands: &str| Selector {
            keys: keys.as_bytes().to_vec(),
            channels: channels.as_bytes().to_vec(),
            commands: commands.as_bytes().to_vec(),
        };
        let parsed = |line: &'static str| match parse_acl_line(line.as_bytes()) {
            Some(AclLine::Parsed { name, selectors }) => (text(name), selectors),
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(parsed("user writ on #e180a3 ~* &* +@all"), ("writ".into(), vec![]));
        assert_eq!(
            parsed("user (paren) on resetchannels -@all (~cache:* %R~x resetchannels -@all +@read) (&* -@all +get) (resetchannels -@all)"),
            ("(paren)".into(), vec![sel("~cache:* %R~x", "", "-@all +@read"), sel("", "&*", "-@all +get"), sel("", "", "-@all")])
        );
        assert_eq!(parsed("user q off ~a(b resetchannels -@all (~q resetchannels &c &d -@all +lpush)").1, [sel("~q", "&c &d", "-@all +lpush")]);
        for ambiguous in [
            "user t6 off resetchannels -@all (~x resetchannels -@all +select|0))",
            "user t7 off resetchannels -@all (~b) resetchannels -@all +get)",
            "user t8 off resetchannels -@all (~a(b)* resetchannels -@all +get)",
            "user t9 off resetchannels -@all (~a resetchannels -@all +get",
            "user t10 off resetchannels -@all (~a nonsense -@all +get)",
        ] {
            assert!(matches!(parse_acl_line(ambiguous.as_bytes()), Some(AclLine::Ambiguous { .. })), "{ambiguous}");
        }
        assert_eq!(parse_acl_line(b"nonsense"), None);
        // What a parsed selector rebuilds to is what ACL LIST printed.
        assert_eq!(text(&sel("~k", "&*", "-@all +get").arg()), "(~k &* -@all +get)");
        assert_eq!(text(&sel("", "", "-@all").arg()), "(resetchannels -@all)");
    }

    #[test]
    fn debug_never_shows_the_password() {
        std::env::set_var("WRIT_REDIS_UNIT_TEST_PW", "s3cr3t-value");
        let mut c = config(&[("p", "+get ~x")]);
        c.password.env = Some("WRIT_REDIS_UNIT_TEST_PW".into());
        let c = RedisConnector::new(&target(), &c).unwrap();
        let dbg = format!("{c:?} {:?}", c.info());
        assert!(!dbg.contains("s3cr3t-value") && dbg.contains("***"), "{dbg}");
    }
}
