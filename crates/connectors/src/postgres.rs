//! The PostgreSQL connector: an entitlement is membership in a role
//! (`GRANT role TO login`, `REVOKE role FROM login`), read back from
//! `pg_roles` and `pg_auth_members`.
//!
//! # Accounts
//! - A **person**'s account is an existing `LOGIN` role named `account.name`.
//!   Writ never creates, changes or removes it; granting to a person whose
//!   login role does not exist (or is `NOLOGIN`, i.e. a group role) is refused.
//! - A **non-human** identity's account is a `LOGIN` role Writ creates on its
//!   first grant, with `VALID UNTIL` set to the grant's expiry as a second line
//!   of defence; later grants move `VALID UNTIL` to the latest expiry held
//!   (a role without `VALID UNTIL` never expires, so it keeps none), and the
//!   first grant after it was disabled starts again from that grant's expiry.
//!   A role Writ finds already there (say, made by an operator with a
//!   password) is used as it is; superuser and group roles are refused.
//!   Writ creates it without a password: it cannot log in by password until an
//!   operator gives it one (or it authenticates another way, e.g. a client
//!   certificate). When its last membership is revoked the role becomes
//!   `NOLOGIN` (it is **not dropped**: a role may own objects or hold
//!   privileges a `DROP ROLE` would have to reassign, and a password an
//!   operator set must survive until the next grant). `read_account` then
//!   shows `enabled = "false"`.
//!
//! # Exactness
//! Names are only ever sent inside quoted identifiers (`"` doubled) or as bind
//! parameters, compared as `text` (never cast to `name`, which truncates).
//! Names PostgreSQL cannot hold exactly are refused before anything is sent:
//! empty, containing NUL, or longer than 63 bytes (PostgreSQL silently
//! truncates identifiers to `NAMEDATALEN - 1` bytes, so a longer name would
//! address a different role). `public` and `none` are refused too (reserved
//! role names). Built-in `pg_*` roles are neither granted nor reported.
//!
//! Each grant or revoke runs in one transaction that first takes an advisory
//! lock on the account (so concurrent Writ workers serialise per account),
//! then checks the membership, then changes it: `AlreadyPresent` and
//! `AlreadyAbsent` are decided from the catalogs, not from PostgreSQL notices.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgSslMode};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot, OnceCell};
use writ_app::ports::{Account, AccountState, Applied, Connector, ConnectorError, ConnectorInfo, LiveEntitlement, Order};
use writ_core::ids::TargetId;

use crate::secret::{Secret, SecretSource};

mod batch;

/// The longest name PostgreSQL holds exactly (`NAMEDATALEN - 1` in a standard build).
pub const MAX_NAME_BYTES: usize = 63;

/// Rows fetched per round trip by `scan`.
const SCAN_BATCH: usize = 10_000;

/// A pooled connection idle for longer than this is pinged before it is used again.
const IDLE_BEFORE_PING: std::time::Duration = std::time::Duration::from_secs(1);

/// First key of the advisory locks Writ takes (`WRIT` in ASCII).
const LOCK_CLASS: i32 = 0x5752_4954;

/// `[targets.<id>]` with `kind = "postgres"`:
///
/// ```toml
/// [targets.pg-prod]
/// kind = "postgres"
/// url = "postgres://writ_admin@db.internal:5432/postgres"   # no password here
/// password_env = "WRIT_PG_PROD_PASSWORD"                      # or password_file = "/run/secrets/pg"
/// connect_timeout_secs = 5                                     # optional
/// statement_timeout_secs = 30                                  # optional
/// max_connections = 4                                          # optional
/// ca_file = "/etc/writ/db-ca.pem"                              # optional: TLS, see below
/// ```
///
/// TLS: `ca_file` (PEM) is the CA the server's certificate must chain to (as
/// `sslrootcert=` in the URL would be, and in addition to the public web
/// roots, as sqlx loads them); with it and no `sslmode` in the URL, the mode
/// is `verify-full` (encrypted, certificate and host name checked). The URL's
/// own `sslmode`/`sslrootcert` work as in libpq.
///
/// Unknown keys are refused (a typo must not silently fall back to a default).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawPostgresConfig")]
pub struct PostgresConfig {
    /// `postgres://user@host:port/database[?sslmode=…]`, without a password.
    pub url: String,
    /// Where the admin role's password is (`password_env` / `password_file`).
    pub password: SecretSource,
    /// How long to wait for a connection (also when the target is down).
    pub connect_timeout_secs: u64,
    /// `statement_timeout` and `lock_timeout` of Writ's sessions.
    pub statement_timeout_secs: u64,
    pub max_connections: u32,
    /// The CA (PEM) the server's certificate must chain to.
    pub ca_file: Option<std::path::PathBuf>,
}

impl PostgresConfig {
    pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 5;
    pub const DEFAULT_STATEMENT_TIMEOUT_SECS: u64 = 30;
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;

    /// A config with the defaults and no password source.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            password: SecretSource::default(),
            connect_timeout_secs: Self::DEFAULT_CONNECT_TIMEOUT_SECS,
            statement_timeout_secs: Self::DEFAULT_STATEMENT_TIMEOUT_SECS,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            ca_file: None,
        }
    }
}

/// The TOML shape. `SecretSource` is spelled out rather than flattened because
/// serde's `flatten` disables `deny_unknown_fields`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostgresConfig {
    url: String,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    password_file: Option<std::path::PathBuf>,
    #[serde(default)]
    connect_timeout_secs: Option<u64>,
    #[serde(default)]
    statement_timeout_secs: Option<u64>,
    #[serde(default)]
    max_connections: Option<u32>,
    #[serde(default)]
    ca_file: Option<std::path::PathBuf>,
}

impl From<RawPostgresConfig> for PostgresConfig {
    fn from(r: RawPostgresConfig) -> Self {
        PostgresConfig {
            url: r.url,
            password: SecretSource { env: r.password_env, file: r.password_file },
            connect_timeout_secs: r.connect_timeout_secs.unwrap_or(Self::DEFAULT_CONNECT_TIMEOUT_SECS),
            statement_timeout_secs: r.statement_timeout_secs.unwrap_or(Self::DEFAULT_STATEMENT_TIMEOUT_SECS),
            max_connections: r.max_connections.unwrap_or(Self::DEFAULT_MAX_CONNECTIONS),
            ca_file: r.ca_file,
        }
    }
}

/// Changes (grants and revokes) go through a queue to one task per
/// connector, which applies what has queued up meanwhile in one transaction
/// (see `batch`): on a durable target each transaction waits for a flush, so
/// 10,000 removals due at once cost a few dozen flushes rather than 10,000.
pub struct PostgresConnector {
    inner: Arc<Inner>,
    /// Started on the first change, inside the runtime that makes it.
    changes: OnceLock<mpsc::UnboundedSender<batch::Pending>>,
}

/// What the connector's calls and its change task share.
struct Inner {
    target: TargetId,
    endpoint: String,
    options: PgConnectOptions,
    connect_timeout: Duration,
    max_connections: u32,
    /// Created on first use, inside the runtime that uses it.
    pool: OnceCell<PgPool>,
    /// Kept only to scrub it from error texts.
    secret: Option<Secret>,
}

impl fmt::Debug for PostgresConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConnector")
            .field("target", &self.inner.target.as_str())
            .field("endpoint", &self.inner.endpoint)
            .field("password", &self.inner.secret.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl PostgresConnector {
    /// Checks the config and loads the password; does not contact the target.
    pub fn new(target: &TargetId, config: &PostgresConfig) -> Result<Self, ConnectorError> {
        let refuse = |detail: String| ConnectorError::Permanent { target: target.to_string(), detail };
        if url_has_password(&config.url) {
            return Err(refuse(format!("target `{target}`: the url must not contain a password; give it as `password_env` or `password_file`")));
        }
        let mut options = PgConnectOptions::from_str(&config.url).map_err(|e| refuse(format!("target `{target}`: invalid postgres url: {e}")))?;
        if let Some(ca) = &config.ca_file {
            // Read now, so a wrong path is a start-up error rather than a
            // handshake failure on the first job.
            crate::tls::read_ca(ca).map_err(|e| refuse(format!("target `{target}`: {e}")))?;
            options = options.ssl_root_cert(ca);
            if !url_has_param(&config.url, "sslmode") {
                options = options.ssl_mode(PgSslMode::VerifyFull);
            }
        }
        let secret = config.password.load(target.as_str()).map_err(|e| crate::secret_error(e, target))?;
        if let Some(s) = &secret {
            options = options.password(s.expose());
        }
        if config.max_connections == 0 || config.connect_timeout_secs == 0 {
            return Err(refuse(format!("target `{target}`: max_connections and connect_timeout_secs must be at least 1")));
        }
        let timeout = format!("{}s", config.statement_timeout_secs);
        options = options.application_name("writ").options([("statement_timeout", timeout.as_str()), ("lock_timeout", timeout.as_str())]);
        let inner = Inner {
            target: target.clone(),
            endpoint: config.url.clone(),
            options,
            connect_timeout: Duration::from_secs(config.connect_timeout_secs),
            max_connections: config.max_connections,
            pool: OnceCell::new(),
            secret,
        };
        Ok(PostgresConnector { inner: Arc::new(inner), changes: OnceLock::new() })
    }

    /// Queues a change for the change task and waits for its outcome.
    async fn change(&self, kind: batch::Kind, order: &Order) -> Result<Applied, ConnectorError> {
        self.inner.check_order(order)?;
        let queue = self.changes.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(batch::run(self.inner.clone(), rx));
            tx
        });
        let (reply, outcome) = oneshot::channel();
        let stopped = || ConnectorError::Transient {
            target: self.inner.target.to_string(),
            detail: "the connector's change queue has stopped (the runtime is shutting down)".into(),
        };
        queue.send(batch::Pending { kind, order: order.clone(), reply }).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

impl Inner {
    async fn pool(&self) -> &PgPool {
        self.pool
            .get_or_init(|| async {
                PgPoolOptions::new()
                    .max_connections(self.max_connections)
                    .acquire_timeout(self.connect_timeout)
                    // sqlx pings every connection it hands out, a round trip
                    // before each query; a removal made 3 of them. Only a
                    // connection left idle can have gone stale (the target
                    // restarted, a firewall dropped it), so only those are pinged.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for > IDLE_BEFORE_PING {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_lazy_with(self.options.clone())
            })
            .await
    }

    fn refuse(&self, detail: String) -> ConnectorError {
        ConnectorError::Permanent { target: self.target.to_string(), detail }
    }

    /// A name PostgreSQL holds exactly, or a permanent refusal saying why.
    fn check_name(&self, what: &str, name: &str) -> Result<(), ConnectorError> {
        match name_problem(name) {
            None => Ok(()),
            Some(why) => Err(self.refuse(format!("{what} {}: {why}", shown(name)))),
        }
    }

    /// Maps a sqlx error to the port's error, never leaking the password.
    fn error(&self, e: sqlx::Error) -> ConnectorError {
        let (transient, detail) = classify(&e);
        let mut detail = detail;
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

    /// The [`Check`] of each order, in their order.
    async fn check(&self, tx: &mut sqlx::PgConnection, orders: &[&Order]) -> Result<Vec<Check>, ConnectorError> {
        let accounts: Vec<&str> = orders.iter().map(|o| o.account.name.as_str()).collect();
        let roles: Vec<&str> = orders.iter().map(|o| o.resource.as_str()).collect();
        let rows = sqlx::query(CHECK_SQL).bind(accounts).bind(roles).fetch_all(tx).await.map_err(|e| self.error(e))?;
        if rows.len() != orders.len() {
            return Err(self.refuse(format!("the membership check answered {} rows for {} changes", rows.len(), orders.len())));
        }
        rows.iter().map(|row| Check::from_row(row).map_err(|e| self.error(e))).collect()
    }
}

/// Why PostgreSQL cannot hold `name` exactly, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("an empty name cannot be a PostgreSQL role".into())
    } else if name.contains('\0') {
        Some("contains a NUL byte, which a PostgreSQL name cannot hold".into())
    } else if name.len() > MAX_NAME_BYTES {
        Some(format!(
            "is {} bytes long; PostgreSQL names hold at most {MAX_NAME_BYTES} bytes and silently truncate longer ones, \
             which would address a different role",
            name.len()
        ))
    } else if name == "public" || name == "none" {
        Some("is a reserved role name in PostgreSQL".into())
    } else {
        None
    }
}

/// `"name"` with `"` doubled: the only way a name reaches SQL text.
pub fn quote_ident(name: &str) -> String {
    let mut q = String::with_capacity(name.len() + 2);
    q.push('"');
    for c in name.chars() {
        if c == '"' {
            q.push('"');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// A name for messages: escaped (no line breaks or control characters) and
/// cut after 64 characters.
fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(64).flat_map(char::escape_debug).collect();
    if name.chars().count() > 64 {
        s.push('…');
    }
    format!("`{s}`")
}

/// Whether `postgres://user:PASSWORD@host/…` or `?password=` carries a secret.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority_and_path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority_and_path.split(['/', '#']).next().unwrap_or("");
    let in_userinfo = authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'));
    let in_query = query.split(['&', '#']).any(|kv| kv.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case("password")));
    in_userinfo || in_query
}

/// Whether the URL's query sets `key`.
fn url_has_param(url: &str, key: &str) -> bool {
    url.split_once('?').is_some_and(|(_, q)| q.split(['&', '#']).any(|kv| kv.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case(key))))
}

/// (transient, detail) for a sqlx error.
fn classify(e: &sqlx::Error) -> (bool, String) {
    use sqlx::Error as E;
    match e {
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let transient = code.starts_with("08") // connection exception
                || code.starts_with("53") // insufficient resources (too many connections, out of memory)
                || code.starts_with("57P") // admin/crash shutdown, cannot connect now
                || code == "57014" // statement timeout / cancelled
                || code == "55P03" // lock not available (lock_timeout)
                || code == "40001" // serialization failure
                || code == "40P01"; // deadlock
            (transient, format!("{} (SQLSTATE {code})", db.message()))
        }
        // sqlx reports a refused certificate as an I/O error of the handshake.
        E::Io(io) => (true, crate::tls::with_advice(format!("cannot reach the server: {io}"))),
        E::PoolTimedOut => (true, "no connection to the server within the connect timeout".into()),
        E::PoolClosed | E::WorkerCrashed => (true, e.to_string()),
        // A refused certificate may be replaced on the server: retried, with
        // what to do about it.
        E::Tls(t) => (true, crate::tls::with_advice(format!("TLS: {t}"))),
        E::Protocol(p) => (true, format!("protocol: {p}")),
        other => (false, other.to_string()),
    }
}

/// Whether `e` says the connection itself is gone (the server shut it down,
/// the socket broke), rather than anything about the statement.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c == "57P01" || c == "57P02"),
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        _ => false,
    }
}

/// `VALID UNTIL` as PostgreSQL holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ValidUntil {
    NegInfinity,
    At(i64), // microseconds since the epoch
    /// `infinity`, or no `VALID UNTIL` at all (which PostgreSQL treats alike).
    Never,
}

impl ValidUntil {
    fn of_order(expires_at: Option<DateTime<Utc>>) -> ValidUntil {
        expires_at.map_or(ValidUntil::Never, |t| ValidUntil::At(t.timestamp_micros()))
    }

    /// The literal for `VALID UNTIL '…'`, built only from digits.
    fn literal(self) -> Option<String> {
        match self {
            ValidUntil::Never => Some("'infinity'".into()),
            ValidUntil::NegInfinity => Some("'-infinity'".into()),
            ValidUntil::At(us) => {
                let t = DateTime::<Utc>::from_timestamp_micros(us)?;
                (1..=9999).contains(&t.year()).then(|| format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f+00")))
            }
        }
    }

    fn shown(self) -> String {
        match self {
            ValidUntil::Never => "infinity".into(),
            ValidUntil::NegInfinity => "-infinity".into(),
            ValidUntil::At(us) => DateTime::<Utc>::from_timestamp_micros(us).map_or_else(|| us.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }
}

/// From the `vu_null`, `vu_inf` and `vu_micros` columns of a role row;
/// `None`: no `VALID UNTIL` set.
fn valid_until_of(row: &PgRow) -> Result<Option<ValidUntil>, sqlx::Error> {
    if row.try_get::<Option<bool>, _>("vu_null")?.unwrap_or(true) {
        return Ok(None);
    }
    if let Some(us) = row.try_get::<Option<i64>, _>("vu_micros")? {
        return Ok(Some(ValidUntil::At(us)));
    }
    Ok(Some(if row.try_get::<Option<bool>, _>("vu_inf")?.unwrap_or(false) { ValidUntil::Never } else { ValidUntil::NegInfinity }))
}

/// What each grant or revoke of a batch needs to know, read under the
/// accounts' locks: one row per (account, role) pair of `$1` and `$2`, in
/// their order.
const CHECK_SQL: &str = "SELECT \
     r.oid IS NOT NULL AS role_exists, \
     a.oid IS NOT NULL AS account_exists, \
     coalesce(a.rolcanlogin, false) AS can_login, \
     coalesce(a.rolsuper, false) AS superuser, \
     a.rolvaliduntil IS NULL AS vu_null, \
     a.rolvaliduntil = 'infinity'::timestamptz AS vu_inf, \
     CASE WHEN isfinite(a.rolvaliduntil) THEN (extract(epoch FROM a.rolvaliduntil) * 1000000)::int8 END AS vu_micros, \
     EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = a.oid AND m.roleid = r.oid) AS is_member, \
     (SELECT count(DISTINCT m.roleid) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
        WHERE m.member = a.oid AND NOT starts_with(g.rolname::text, 'pg_')) AS memberships, \
     EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles x ON x.oid = m.member \
        WHERE m.roleid = a.oid AND x.rolname::text <> current_user::text) AS has_members, \
     o.account = current_user::text AS is_self, \
     current_setting('server_version_num')::int4 AS server_version \
   FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS o(account, role, i) \
   LEFT JOIN pg_roles a ON a.rolname = o.account \
   LEFT JOIN pg_roles r ON r.rolname = o.role \
   ORDER BY o.i";

struct Check {
    role_exists: bool,
    account_exists: bool,
    can_login: bool,
    superuser: bool,
    valid_until: Option<ValidUntil>,
    is_member: bool,
    /// Memberships of the account in roles other than `pg_*`.
    memberships: i64,
    /// Other roles (not Writ's own) are members of the account: it is a group.
    has_members: bool,
    is_self: bool,
    server_version: i32,
}

impl Check {
    fn from_row(row: &PgRow) -> Result<Check, sqlx::Error> {
        Ok(Check {
            role_exists: row.try_get("role_exists")?,
            account_exists: row.try_get("account_exists")?,
            can_login: row.try_get("can_login")?,
            superuser: row.try_get("superuser")?,
            valid_until: valid_until_of(row)?,
            is_member: row.try_get("is_member")?,
            memberships: row.try_get("memberships")?,
            has_members: row.try_get("has_members")?,
            is_self: row.try_get("is_self")?,
            server_version: row.try_get("server_version")?,
        })
    }
}

/// Everything about one role: one row per membership (role NULL if none).
/// `$1` the account.
const READ_SQL: &str = "SELECT a.rolcanlogin AS can_login, a.rolsuper AS superuser, \
     a.rolcanlogin AND coalesce(a.rolvaliduntil > now(), true) AS enabled, \
     a.rolvaliduntil IS NULL AS vu_null, \
     a.rolvaliduntil = 'infinity'::timestamptz AS vu_inf, \
     CASE WHEN isfinite(a.rolvaliduntil) THEN (extract(epoch FROM a.rolvaliduntil) * 1000000)::int8 END AS vu_micros, \
     r.rolname::text AS role, m.admin_option \
   FROM pg_roles a \
   LEFT JOIN pg_auth_members m ON m.member = a.oid \
   LEFT JOIN pg_roles r ON r.oid = m.roleid AND NOT starts_with(r.rolname::text, 'pg_') \
   WHERE a.rolname = $1::text";

/// Every direct membership but those of built-in roles and of Writ's own role,
/// as a cursor. Before PostgreSQL 16 `pg_auth_members` holds one row per
/// (role, member); from 16 one per grantor, hence the grouping there only (it
/// costs about a third of the query's time on 100k memberships).
fn scan_sql(server_version: u32) -> String {
    let (admin, group) = if server_version >= 160_000 { ("bool_or(am.admin_option)", " GROUP BY 1, 2") } else { ("am.admin_option", "") };
    format!(
        "DECLARE writ_scan NO SCROLL CURSOR FOR \
         SELECT m.rolname::text AS member, r.rolname::text AS role, {admin} AS admin_option \
         FROM pg_auth_members am \
         JOIN pg_roles r ON r.oid = am.roleid \
         JOIN pg_roles m ON m.oid = am.member \
         WHERE NOT starts_with(r.rolname::text, 'pg_') AND NOT starts_with(m.rolname::text, 'pg_') \
           AND m.rolname::text <> current_user::text{group}"
    )
}

/// A stable 32-bit key for the account's advisory lock (FNV-1a), the same in
/// every Writ process.
fn lock_key(account: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in account.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(h.to_ne_bytes())
}

/// Runs statements by the simple protocol (several per round trip; no
/// parameters, so only for SQL whose names are quoted identifiers).
async fn exec_raw(conn: &mut sqlx::PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(conn, sqlx::raw_sql(sql)).await.map(drop)
}

async fn fetch_raw(conn: &mut sqlx::PgConnection, sql: &str) -> Result<Vec<PgRow>, sqlx::Error> {
    sqlx::Executor::fetch_all(conn, sqlx::raw_sql(sql)).await
}

fn entitlement(account: &str, role: String, admin_option: bool) -> LiveEntitlement {
    LiveEntitlement { account: account.to_owned(), resource: role, detail: BTreeMap::from([("admin_option".to_owned(), admin_option.to_string())]) }
}

impl Inner {
    /// Opens the transaction of a batch of changes, holding the advisory
    /// lock of each account, taken in key order so that two batches (of this
    /// node or another) never wait on each other in a cycle.
    async fn begin(&self, accounts: &[&str]) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ConnectorError> {
        let pool = self.pool().await;
        let keys: std::collections::BTreeSet<i32> = accounts.iter().map(|a| lock_key(a)).collect();
        let keys: Vec<String> = keys.iter().map(i32::to_string).collect();
        let sql = format!(
            "BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, k) FROM (SELECT k FROM unnest(ARRAY[{}]::int4[]) AS k ORDER BY k) AS keys",
            keys.join(",")
        );
        self.on_live_connection(|| pool.begin_with(sql.clone())).await
    }

    /// Runs `first`, the first statement an operation sends on a pooled
    /// connection, again while it fails only because that connection had
    /// died (the target restarted while it sat in the pool): connections
    /// used within the last second are not pinged before use, so this is how
    /// a stale one is noticed. Nothing ran on the dead connection, so trying
    /// again changes nothing twice; each failure drops one stale connection,
    /// so at most `max_connections` more tries are needed.
    async fn on_live_connection<T, F, Fut>(&self, first: F) -> Result<T, ConnectorError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        let mut tries = 0;
        loop {
            match first().await {
                Err(e) if connection_lost(&e) && tries < self.max_connections => {
                    tries += 1;
                    tracing::debug!(target_id = %self.target, error = %e, "postgres: a pooled connection had died; trying another");
                }
                other => return other.map_err(|e| self.error(e)),
            }
        }
    }

    fn check_order(&self, o: &Order) -> Result<(), ConnectorError> {
        self.check_name("account", &o.account.name)?;
        self.check_name("role", &o.resource)?;
        if o.resource.starts_with("pg_") {
            return Err(self.refuse(format!("role {}: built-in `pg_*` roles are not managed by Writ (they are left out of read-back)", shown(&o.resource))));
        }
        Ok(())
    }

    fn no_role(&self, o: &Order) -> ConnectorError {
        self.refuse(format!("no role {} on target `{}`", shown(&o.resource), self.target))
    }

    fn not_self(&self, o: &Order) -> ConnectorError {
        self.refuse(format!("{} is the role Writ connects as; Writ does not change its own role", shown(&o.account.name)))
    }
}

#[async_trait]
impl Connector for PostgresConnector {
    /// Writ grants roles without `ADMIN OPTION`: a membership that can pass
    /// the role on is more than was approved.
    fn approved_scope(&self, _resource: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("admin_option".to_owned(), "false".to_owned())])
    }

    fn info(&self) -> ConnectorInfo {
        ConnectorInfo {
            kind: "postgres",
            target: self.inner.target.to_string(),
            endpoint: self.inner.endpoint.clone(),
            reads_live_state: true,
            manages_accounts: true,
            enforces_expiry: true,
        }
    }

    async fn read_account(&self, account: &Account) -> Result<AccountState, ConnectorError> {
        let this = &self.inner;
        this.check_name("account", &account.name)?;
        let pool = this.pool().await;
        let rows = this.on_live_connection(|| sqlx::query(READ_SQL).bind(&account.name).fetch_all(pool)).await?;
        let Some(first) = rows.first() else {
            return Ok(AccountState::default());
        };
        let decode = |e| this.error(e);
        let mut attributes = BTreeMap::new();
        attributes.insert("login".to_owned(), first.try_get::<bool, _>("can_login").map_err(decode)?.to_string());
        attributes.insert("enabled".to_owned(), first.try_get::<bool, _>("enabled").map_err(decode)?.to_string());
        attributes.insert("superuser".to_owned(), first.try_get::<bool, _>("superuser").map_err(decode)?.to_string());
        if let Some(vu) = valid_until_of(first).map_err(decode)? {
            attributes.insert("valid_until".to_owned(), vu.shown());
        }
        let mut held: BTreeMap<String, bool> = BTreeMap::new();
        for row in &rows {
            if let Some(role) = row.try_get::<Option<String>, _>("role").map_err(decode)? {
                let admin = row.try_get::<Option<bool>, _>("admin_option").map_err(decode)?.unwrap_or(false);
                *held.entry(role).or_default() |= admin;
            }
        }
        let entitlements = held.into_iter().map(|(role, admin)| entitlement(&account.name, role, admin)).collect();
        Ok(AccountState { exists: true, attributes, entitlements })
    }

    async fn scan(&self, sink: &mut (dyn FnMut(LiveEntitlement) + Send)) -> Result<u64, ConnectorError> {
        let this = &self.inner;
        // A cursor in a read-only transaction: one snapshot, SCAN_BATCH rows per
        // round trip, never more than that in memory. Every row will be read, so
        // the cursor is planned for all of them (the default plans for the
        // first 10%: nested loops, twice as slow here).
        let pool = this.pool().await;
        let mut tx =
            this.on_live_connection(|| pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL cursor_tuple_fraction = 1")).await?;
        let version = tx.server_version_num().unwrap_or(160_000);
        exec_raw(&mut tx, &scan_sql(version)).await.map_err(|e| this.error(e))?;
        let fetch = format!("FETCH FORWARD {SCAN_BATCH} FROM writ_scan");
        let mut n = 0u64;
        loop {
            let rows = fetch_raw(&mut tx, &fetch).await.map_err(|e| this.error(e))?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let decode = |e| this.error(e);
                let member: String = row.try_get("member").map_err(decode)?;
                let role: String = row.try_get("role").map_err(decode)?;
                let admin: bool = row.try_get("admin_option").map_err(decode)?;
                sink(entitlement(&member, role, admin));
                n += 1;
            }
        }
        tx.rollback().await.map_err(|e| this.error(e))?;
        Ok(n)
    }

    async fn grant(&self, o: &Order) -> Result<Applied, ConnectorError> {
        self.change(batch::Kind::Grant, o).await
    }

    async fn revoke(&self, o: &Order) -> Result<Applied, ConnectorError> {
        self.change(batch::Kind::Revoke, o).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TargetId {
        TargetId::parse("pg-test").unwrap()
    }

    #[test]
    fn quoting_doubles_quotes_and_nothing_else() {
        assert_eq!(quote_ident("alice"), "\"alice\"");
        assert_eq!(quote_ident("quote\"d"), "\"quote\"\"d\"");
        assert_eq!(quote_ident("'; DROP TABLE x; --"), "\"'; DROP TABLE x; --\"");
        assert_eq!(quote_ident("a\"\"b"), "\"a\"\"\"\"b\"");
    }

    #[test]
    fn names_postgres_cannot_hold_exactly_are_refused_with_the_reason() {
        assert!(name_problem(&"x".repeat(63)).is_none());
        assert!(name_problem(&"é".repeat(31)).is_none()); // 62 bytes
        let long = name_problem(&"é".repeat(32)).unwrap(); // 64 bytes in 32 characters
        assert!(long.contains("64 bytes") && long.contains("truncate"), "{long}");
        assert!(name_problem("nul\0byte").unwrap().contains("NUL"));
        assert!(name_problem("").is_some());
        assert!(name_problem("public").is_some() && name_problem("none").is_some());
        assert!(name_problem("PUBLIC").is_none() && name_problem("o'brien").is_none());
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_echoed() {
        for url in
            ["postgres://writ:hunter2@db:5432/postgres", "postgres://writ@db:5432/postgres?sslmode=disable&password=hunter2", "postgresql://writ:@db/postgres"]
        {
            let e = PostgresConnector::new(&target(), &PostgresConfig::new(url)).unwrap_err();
            let text = e.to_string();
            assert!(!e.is_transient() && text.contains("password_env") && !text.contains("hunter2"), "{text}");
        }
        assert!(!url_has_password("postgres://writ@db:5432/postgres"));
        assert!(!url_has_password("postgres://db/postgres?user=writ"));
        assert!(!url_has_password("postgres://writ@db/p@ss"), "an @ in the path is not userinfo");
    }

    #[test]
    fn config_refuses_unknown_keys_and_fills_defaults() {
        let ok: crate::TargetConfig = serde_json::from_value(serde_json::json!({
            "kind": "postgres", "url": "postgres://writ@db/postgres", "password_env": "PGPW",
        }))
        .unwrap();
        let crate::TargetConfig::Postgres(c) = ok else { panic!("{ok:?}") };
        assert_eq!(c.password.env.as_deref(), Some("PGPW"));
        assert_eq!(c.connect_timeout_secs, PostgresConfig::DEFAULT_CONNECT_TIMEOUT_SECS);
        let typo = serde_json::from_value::<crate::TargetConfig>(serde_json::json!({
            "kind": "postgres", "url": "postgres://writ@db/postgres", "pasword_env": "PGPW",
        }))
        .unwrap_err();
        assert!(typo.to_string().contains("pasword_env"), "{typo}");
    }

    #[test]
    fn valid_until_literals_are_exact_and_digits_only() {
        let t = DateTime::from_timestamp(4_102_444_800, 123_456_789).unwrap();
        assert_eq!(ValidUntil::of_order(Some(t)).literal().unwrap(), "'2100-01-01 00:00:00.123456+00'");
        assert_eq!(ValidUntil::of_order(None).literal().unwrap(), "'infinity'");
        assert_eq!(ValidUntil::of_order(Some(t)).shown(), "2100-01-01T00:00:00.123456Z");
        assert!(ValidUntil::At(1) < ValidUntil::Never && ValidUntil::NegInfinity < ValidUntil::At(i64::MIN));
    }

    #[test]
    fn debug_never_shows_the_password() {
        std::env::set_var("WRIT_PG_UNIT_TEST_PW", "s3cr3t-value");
        let mut cfg = PostgresConfig::new("postgres://writ@127.0.0.1:1/postgres");
        cfg.password.env = Some("WRIT_PG_UNIT_TEST_PW".into());
        let c = PostgresConnector::new(&target(), &cfg).unwrap();
        let dbg = format!("{c:?} {:?}", c.info());
        assert!(!dbg.contains("s3cr3t-value") && dbg.contains("***"), "{dbg}");
    }
}
