//! One typed configuration, loaded in layers: defaults, then the TOML file, then
//! `WRIT_*` environment variables; secrets may come from `*_FILE` variables. It is
//! validated at start, and every error names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use writ_core::duration::AccessDuration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the server listens. Keep it on loopback unless a TLS proxy fronts it.
    pub listen: String,
    /// Directory for the SQLite database and the audit signing key.
    pub data_dir: PathBuf,
    /// `sqlite:///path/writ.db` or `postgres://user@host/db`; empty means SQLite in `data_dir`.
    pub database_url: String,
    /// The catalog file (targets, entitlements, toxic combinations).
    pub catalog: PathBuf,
    /// The policy directory (`writ.cedarschema` and `*.cedar`).
    pub policies: PathBuf,
    /// How long a pending request waits for reviews before it lapses, e.g. `7d`.
    pub lapse_after: String,
    /// How often the server signs a checkpoint of the audit log, e.g. `1m`.
    pub checkpoint_every: String,
    /// How long a grant's access may stay not proved removed (the target
    /// failing) before the grant is listed as overdue, e.g. `15m`.
    pub removal_overdue_after: String,
    /// How long a node holds a claimed job; a node that dies mid-job loses its
    /// claims after this, and another node runs them, e.g. `2m`.
    pub job_lease: String,
    /// How long after a break-glass use its post-event review is due, e.g. `24h`.
    pub break_glass_review_within: String,
    /// How many break-glass uses of one entitlement a subject may hold whose
    /// post-event review is still open; one more is refused until a review
    /// settles one (1 to 100).
    pub break_glass_max_unreviewed: u32,
    /// What happens to a grant policy no longer allows once its holder moved
    /// (groups or manager changed): `review` (the entitlement's owners
    /// decide; lapsed, it is removed) or `remove` (revoked at once).
    pub on_move: String,
    /// How long the manager of a person who left has to give each non-human
    /// identity that person owned a new owner (or disable it) before it is
    /// overdue, e.g. `14d`.
    pub owner_left_within: String,
    /// This node's name in the evidence of the jobs it runs; several nodes may
    /// share one PostgreSQL. Empty: `<hostname>-<pid>`.
    pub node_id: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How long the server works on one request before it answers `timeout`
    /// (503), e.g. `30s`. A change the request started may still complete.
    pub request_timeout: String,
    /// Most TCP connections served at once (1 to 65536); further ones wait in
    /// the operating system's accept queue until one closes.
    pub max_connections: u32,
    /// A connection that moves no byte either way for this long is closed,
    /// freeing its slot of `max_connections`, e.g. `2m`. Longer than
    /// `request_timeout`, so a slow answer is still sent.
    pub idle_timeout: String,
    /// SQLite's `PRAGMA synchronous` on every connection: `full` (an answered
    /// change survives an OS crash), `normal` (faster; an OS crash can lose the
    /// last answered changes) or `extra`. Ignored on PostgreSQL.
    pub sqlite_synchronous: String,
    /// A directory every signed audit checkpoint is also written to, one new
    /// file each, never rewritten (ideally on another machine's storage):
    /// `writ audit verify --witness DIR` then catches a log cut together with
    /// its newest checkpoints. Empty: none.
    pub audit_witness_dir: String,
    /// An http(s) URL every signed checkpoint is POSTed to as JSON (a
    /// witness service). Empty: none.
    pub audit_witness_url: String,
    /// With an https `audit_witness_url`: the CA (PEM) the witness's
    /// certificate must chain to, trusted instead of the public web roots.
    /// Empty: the public roots.
    pub audit_witness_ca_file: String,
    /// The Ed25519 key file this node signs checkpoints with. Empty: its own
    /// key in `data_dir` (created on first start). Several nodes may share one
    /// file, or each keep its own and the verifier trust each public key.
    pub audit_signing_key_file: String,
    /// How to reach each target the catalog fulfils through a connector:
    /// `[targets.<id>]` with `kind` and connection settings (secrets by
    /// `password_env`/`password_file`). Only from the file: a table.
    #[serde(default, skip_serializing)]
    pub targets: std::collections::BTreeMap<String, writ_connectors::TargetConfig>,
    /// Where notifications go: `[notifications]` with `webhook_url` and the
    /// HMAC secret by `secret_env`/`secret_file`. Absent: none are sent.
    #[serde(default, skip_serializing)]
    pub notifications: Option<writ_connectors::webhook::WebhookConfig>,
    /// Reconciliation: `[reconcile]` with `every` and `max_actions`, and per
    /// target `[reconcile.targets.<id>]` (reactions, ignore rules, adoption).
    #[serde(default, skip_serializing)]
    pub reconcile: ReconcileConfig,
    /// Inbound SCIM 2.0 at `/scim/v2`: `[scim]` with the provider's bearer
    /// token (`token_file` or `token_sha256`) and optionally `base_url`.
    /// Absent: no SCIM endpoint.
    #[serde(default, skip_serializing)]
    pub scim: Option<crate::scim::ScimConfig>,
    /// API tokens: `[tokens]` with `max_lifetime_person` (default `365d`,
    /// also a person's token's expiry when none is asked for) and
    /// `max_lifetime_non_human` (default `90d`; such tokens must be given an
    /// expiry).
    #[serde(default, skip_serializing)]
    pub tokens: TokensConfig,
    /// Sign-in with the organisation's OpenID provider: `[oidc]` with
    /// `issuer`, `client_id`, `identity_claim` (default `preferred_username`)
    /// and `session_lifetime` (default `8h`). Absent: no single sign-on.
    #[serde(default, skip_serializing)]
    pub oidc: Option<crate::oidc::OidcConfig>,
    /// Tickets taken in as free text: `[intake]` with `classifier`
    /// (`standard`, `off` or a model file) and the routing thresholds.
    #[serde(default, skip_serializing)]
    pub intake: crate::intake::IntakeConfig,
    /// Tickets from Request Tracker (REST 2.0): `[request_tracker]` with
    /// `url`, the token (`token_env`/`token_file`), `queue`, `actor`.
    /// Absent: none.
    #[serde(default, skip_serializing)]
    pub request_tracker: Option<writ_connectors::request_tracker::RequestTrackerConfig>,
}

/// `[tokens]`: the longest a token may last; empty keeps the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    #[serde(default)]
    pub max_lifetime_person: String,
    #[serde(default)]
    pub max_lifetime_non_human: String,
}

impl TokensConfig {
    fn resolve(&self) -> Result<writ_core::token::TokenLimits, ConfigError> {
        let defaults = writ_core::token::TokenLimits::default();
        let dur = |key: &'static str, v: &str, default: AccessDuration| match v.trim() {
            "" => Ok(default),
            v => AccessDuration::parse(v).map_err(|e| ConfigError::Invalid { key, reason: format!("{e} (under `[tokens]`)") }),
        };
        Ok(writ_core::token::TokenLimits {
            person: dur("max_lifetime_person", &self.max_lifetime_person, defaults.person)?,
            non_human: dur("max_lifetime_non_human", &self.max_lifetime_non_human, defaults.non_human)?,
        })
    }
}

/// `[reconcile]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    /// Reconcile every target this often (e.g. `1h`); empty or absent: only
    /// on demand (`writ reconcile`).
    #[serde(default)]
    pub every: String,
    /// Most reactions one run carries out (default 1000).
    #[serde(default)]
    pub max_actions: Option<u64>,
    #[serde(default)]
    pub targets: std::collections::BTreeMap<String, TargetReconcileConfig>,
}

/// `[reconcile.targets.<id>]`: what to do about each situation (`report`,
/// `revoke`, `reprovision`, `review`, `adopt`; default `report`), what never
/// to touch, and who approves adopted access.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetReconcileConfig {
    #[serde(default)]
    pub unapproved: writ_core::reconcile::Reaction,
    #[serde(default)]
    pub missing: writ_core::reconcile::Reaction,
    #[serde(default)]
    pub expired_but_live: writ_core::reconcile::Reaction,
    #[serde(default)]
    pub scope_mismatch: writ_core::reconcile::Reaction,
    #[serde(default)]
    pub unknown_identity: writ_core::reconcile::Reaction,
    /// `[{ account = "postgres" }, { resource = "pg_*" }]`: reported as ignored.
    #[serde(default)]
    pub ignore: Vec<writ_core::reconcile::IgnoreRule>,
    pub adopt_approver: Option<String>,
    pub adopt_reason: Option<String>,
}

impl ReconcileConfig {
    /// Checks it against the targets Writ can read, and builds the app's settings.
    pub fn resolve(
        &self,
        readable: &[writ_core::ids::TargetId],
    ) -> Result<(std::collections::BTreeMap<writ_core::ids::TargetId, writ_app::reconcile::TargetReconcile>, Option<chrono::TimeDelta>), ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { key: "reconcile", reason };
        let every = match self.every.trim() {
            "" => None,
            e => Some(AccessDuration::parse(e).map_err(|err| invalid(format!("every: {err}")))?.as_delta()),
        };
        let mut targets = std::collections::BTreeMap::new();
        for (name, t) in &self.targets {
            let id = writ_core::ids::TargetId::parse(name).map_err(|e| invalid(format!("targets.{name}: {e}")))?;
            if !readable.contains(&id) {
                let names: Vec<String> = readable.iter().map(|t| format!("`{t}`")).collect();
                return Err(invalid(format!("targets.{name}: not a target with a connector (those are: {})", names.join(", "))));
            }
            let reactions = writ_core::reconcile::Reactions {
                unapproved: t.unapproved,
                missing: t.missing,
                expired_but_live: t.expired_but_live,
                scope_mismatch: t.scope_mismatch,
                unknown_identity: t.unknown_identity,
            };
            reactions.check().map_err(|e| invalid(format!("targets.{name}: {e}")))?;
            let adopt = match (&t.adopt_approver, &t.adopt_reason) {
                (Some(a), Some(r)) => Some(writ_app::reconcile::Adoption {
                    approver: writ_core::ids::IdentityId::parse(a).map_err(|e| invalid(format!("targets.{name}.adopt_approver: {e}")))?,
                    reason: r.clone(),
                }),
                (None, None) => None,
                _ => return Err(invalid(format!("targets.{name}: give both `adopt_approver` and `adopt_reason`, or neither"))),
            };
            let tr = writ_app::reconcile::TargetReconcile { reactions, ignore: t.ignore.clone(), adopt };
            tr.check(name).map_err(invalid)?;
            targets.insert(id, tr);
        }
        Ok((targets, every))
    }
}

/// Every key, for messages about unknown ones.
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "catalog",
    "policies",
    "lapse_after",
    "checkpoint_every",
    "removal_overdue_after",
    "job_lease",
    "break_glass_review_within",
    "break_glass_max_unreviewed",
    "on_move",
    "owner_left_within",
    "node_id",
    "max_body_bytes",
    "request_timeout",
    "max_connections",
    "idle_timeout",
    "sqlite_synchronous",
    "audit_witness_dir",
    "audit_witness_url",
    "audit_witness_ca_file",
    "audit_signing_key_file",
];

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7878".into(),
            data_dir: PathBuf::from("writ-data"),
            database_url: String::new(),
            catalog: PathBuf::from("catalog.toml"),
            policies: PathBuf::from("policies"),
            lapse_after: "7d".into(),
            checkpoint_every: "1m".into(),
            removal_overdue_after: "15m".into(),
            job_lease: "2m".into(),
            break_glass_review_within: "24h".into(),
            break_glass_max_unreviewed: 1,
            on_move: "review".into(),
            owner_left_within: "14d".into(),
            node_id: String::new(),
            max_body_bytes: 64 * 1024,
            request_timeout: "30s".into(),
            max_connections: 1024,
            idle_timeout: "2m".into(),
            sqlite_synchronous: "full".into(),
            audit_witness_dir: String::new(),
            audit_witness_url: String::new(),
            audit_witness_ca_file: String::new(),
            audit_signing_key_file: String::new(),
            targets: Default::default(),
            notifications: None,
            reconcile: ReconcileConfig::default(),
            scim: None,
            tokens: TokensConfig::default(),
            oidc: None,
            intake: crate::intake::IntakeConfig::default(),
            request_tracker: None,
        }
    }
}

/// A configuration error that names the key and says what to write.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: {0}")]
    Load(String),
    #[error("config key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("cannot read `{var}` (from `{var}_FILE` = `{path}`): {source}")]
    SecretFile { var: String, path: String, source: std::io::Error },
}

/// Validated, derived settings.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub listen: SocketAddr,
    pub database_url: String,
    pub catalog: PathBuf,
    pub policies: PathBuf,
    pub data_dir: PathBuf,
    pub lapse_after: AccessDuration,
    pub checkpoint_every: AccessDuration,
    pub removal_overdue_after: AccessDuration,
    pub job_lease: AccessDuration,
    pub break_glass_review_within: AccessDuration,
    pub break_glass_max_unreviewed: u32,
    pub node_id: String,
    pub request_timeout: std::time::Duration,
    pub max_connections: usize,
    pub idle_timeout: std::time::Duration,
    pub sqlite_synchronous: writ_store::SqliteSynchronous,
    pub audit_witness_dir: Option<PathBuf>,
    pub audit_witness_url: Option<reqwest::Url>,
    pub audit_witness_ca_file: Option<PathBuf>,
    pub audit_signing_key_file: Option<PathBuf>,
    pub tokens: writ_core::token::TokenLimits,
    pub on_move: writ_app::mover::OnMove,
    pub owner_left_within: AccessDuration,
}

impl Config {
    /// Loads defaults, then `file` (if it exists), then `WRIT_*` variables. A
    /// variable `WRIT_X_FILE=path` sets `x` from the contents of `path`.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    pub fn load_from(file: &Path, vars: impl Iterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if file.exists() {
            fig = fig.merge(Toml::file(file));
        } else if file != Path::new("") {
            return Err(ConfigError::Load(format!("`{}` does not exist: run `writ init` to create a demo configuration, or pass --config", file.display())));
        }
        // `WRIT_LISTEN=…` sets `listen`; `WRIT_DATABASE_URL_FILE=/run/secrets/db` sets
        // `database_url` from that file, so secrets need not sit in the environment.
        for (k, v) in vars {
            let Some(rest) = k.strip_prefix("WRIT_") else { continue };
            if matches!(rest, "CONFIG" | "SERVER" | "LOG" | "LOG_FORMAT") || rest.starts_with("TOKEN") {
                continue; // the CLI's own variables, and the demo's WRIT_TOKEN_<NAME>s
            }
            let (key, value) = match rest.strip_suffix("_FILE") {
                Some(name) => {
                    let text =
                        std::fs::read_to_string(&v).map_err(|source| ConfigError::SecretFile { var: format!("WRIT_{name}"), path: v.clone(), source })?;
                    (name.to_lowercase(), text.trim_end().to_owned())
                }
                None => (rest.to_lowercase(), v),
            };
            if !KEYS.contains(&key.as_str()) {
                return Err(ConfigError::Load(format!(
                    "unknown environment variable `{k}`: Writ's keys are {}",
                    KEYS.iter().map(|k| format!("WRIT_{}", k.to_uppercase())).collect::<Vec<_>>().join(", ")
                )));
            }
            fig = match key.as_str() {
                "max_body_bytes" => {
                    let n: usize =
                        value.parse().map_err(|_| ConfigError::Invalid { key: "max_body_bytes", reason: format!("`{value}` is not a number of bytes") })?;
                    fig.merge(Serialized::default(&key, n))
                }
                "max_connections" => {
                    let n: u32 = value.parse().map_err(|_| ConfigError::Invalid {
                        key: "max_connections",
                        reason: format!("`{value}` is not a number of connections: write e.g. `1024`"),
                    })?;
                    fig.merge(Serialized::default(&key, n))
                }
                _ => fig.merge(Serialized::default(&key, value)),
            };
        }
        let mut cfg: Config = fig.extract().map_err(|e| ConfigError::Load(e.to_string()))?;
        // Relative paths in the file are relative to the file's directory.
        if let Some(base) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            for p in [&mut cfg.data_dir, &mut cfg.catalog, &mut cfg.policies] {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
            if let Some(p) = cfg.scim.as_mut().and_then(|s| s.token_file.as_mut()).filter(|p| p.is_relative()) {
                *p = base.join(&*p);
            }
            for p in [&mut cfg.audit_witness_dir, &mut cfg.audit_witness_ca_file, &mut cfg.audit_signing_key_file] {
                if !p.is_empty() && Path::new(p.as_str()).is_relative() {
                    *p = base.join(p.as_str()).display().to_string();
                }
            }
        }
        Ok(cfg)
    }

    /// Checks every key and derives the settings the server runs with.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let listen = self
            .listen
            .parse()
            .map_err(|_| ConfigError::Invalid { key: "listen", reason: format!("`{}` is not an address: write e.g. `127.0.0.1:7878`", self.listen) })?;
        let dur = |key: &'static str, v: &str| AccessDuration::parse(v).map_err(|e| ConfigError::Invalid { key, reason: e.to_string() });
        if self.max_body_bytes < 1024 || self.max_body_bytes > 16 * 1024 * 1024 {
            return Err(ConfigError::Invalid { key: "max_body_bytes", reason: "must be between 1024 and 16777216".into() });
        }
        if !(1..=100).contains(&self.break_glass_max_unreviewed) {
            return Err(ConfigError::Invalid {
                key: "break_glass_max_unreviewed",
                reason: format!("`{}` must be between 1 and 100", self.break_glass_max_unreviewed),
            });
        }
        if !(1..=65_536).contains(&self.max_connections) {
            return Err(ConfigError::Invalid { key: "max_connections", reason: format!("`{}` must be between 1 and 65536", self.max_connections) });
        }
        let secs = |key: &'static str, v: &str| dur(key, v).map(|d| std::time::Duration::from_secs(d.secs().unsigned_abs()));
        let request_timeout = secs("request_timeout", &self.request_timeout)?;
        let idle_timeout = secs("idle_timeout", &self.idle_timeout)?;
        if idle_timeout <= request_timeout {
            return Err(ConfigError::Invalid {
                key: "idle_timeout",
                reason: format!(
                    "`{}` must be longer than `request_timeout` (`{}`): a connection waiting for a slow answer would be closed before it is sent",
                    self.idle_timeout, self.request_timeout
                ),
            });
        }
        let sqlite_synchronous = self
            .sqlite_synchronous
            .parse()
            .map_err(|e: writ_store::UnknownSqliteSynchronous| ConfigError::Invalid { key: "sqlite_synchronous", reason: e.to_string() })?;
        let database_url =
            if self.database_url.is_empty() { format!("sqlite://{}", self.data_dir.join("writ.db").display()) } else { self.database_url.clone() };
        writ_store::Backend::from_url(&database_url).map_err(|e| ConfigError::Invalid { key: "database_url", reason: e.to_string() })?;
        Ok(Resolved {
            listen,
            database_url,
            catalog: self.catalog.clone(),
            policies: self.policies.clone(),
            data_dir: self.data_dir.clone(),
            lapse_after: dur("lapse_after", &self.lapse_after)?,
            checkpoint_every: dur("checkpoint_every", &self.checkpoint_every)?,
            removal_overdue_after: dur("removal_overdue_after", &self.removal_overdue_after)?,
            job_lease: dur("job_lease", &self.job_lease)?,
            break_glass_review_within: dur("break_glass_review_within", &self.break_glass_review_within)?,
            break_glass_max_unreviewed: self.break_glass_max_unreviewed,
            node_id: self.node_id()?,
            request_timeout,
            max_connections: self.max_connections as usize,
            idle_timeout,
            sqlite_synchronous,
            audit_witness_dir: Some(self.audit_witness_dir.trim()).filter(|d| !d.is_empty()).map(PathBuf::from),
            audit_witness_url: self.witness_url()?,
            audit_witness_ca_file: self.witness_ca_file()?,
            audit_signing_key_file: Some(self.audit_signing_key_file.trim()).filter(|f| !f.is_empty()).map(PathBuf::from),
            tokens: self.tokens.resolve()?,
            owner_left_within: dur("owner_left_within", &self.owner_left_within)?,
            on_move: writ_app::mover::OnMove::parse(self.on_move.trim()).map_err(|reason| ConfigError::Invalid { key: "on_move", reason })?,
        })
    }

    /// `audit_witness_ca_file`, if set: only beside an https witness URL.
    fn witness_ca_file(&self) -> Result<Option<PathBuf>, ConfigError> {
        let raw = self.audit_witness_ca_file.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        if !self.audit_witness_url.trim().starts_with("https://") {
            return Err(ConfigError::Invalid {
                key: "audit_witness_ca_file",
                reason: "it is the CA of an https witness: set `audit_witness_url` to an `https://` URL, or remove it".into(),
            });
        }
        Ok(Some(PathBuf::from(raw)))
    }

    /// One warning per connection that would cross the network without
    /// verified TLS: the database, each target, the webhook, the witness.
    /// Loopback and unix sockets are fine (see `writ_connectors::tls::transport`).
    pub fn plaintext_warnings(&self) -> Vec<String> {
        use writ_connectors::tls::plaintext_warning;
        let mut warnings: Vec<String> = Vec::new();
        warnings.extend(plaintext_warning("the database (`database_url`)", &self.database_url, false, None));
        for (id, target) in &self.targets {
            warnings.extend(target.plaintext_warning(id));
        }
        if let Some(n) = &self.notifications {
            warnings.extend(plaintext_warning("the webhook (`[notifications] webhook_url`)", &n.webhook_url, false, Some("ca_file")));
        }
        if let Some(rt) = &self.request_tracker {
            warnings.extend(plaintext_warning("Request Tracker (`[request_tracker] url`)", &rt.url, false, Some("ca_file")));
        }
        warnings.extend(plaintext_warning("the audit witness (`audit_witness_url`)", &self.audit_witness_url, false, Some("audit_witness_ca_file")));
        warnings
    }

    /// `audit_witness_url`, if set: an absolute http(s) URL without credentials.
    fn witness_url(&self) -> Result<Option<reqwest::Url>, ConfigError> {
        let raw = self.audit_witness_url.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let bad = |reason: String| ConfigError::Invalid { key: "audit_witness_url", reason };
        let url = reqwest::Url::parse(raw).map_err(|e| bad(format!("not a URL ({e}): write e.g. `https://witness.example.com/checkpoints`")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!("scheme `{}`: use http or https", url.scheme())));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("credentials in the URL would be logged: the witness needs none (checkpoints are signed)".into()));
        }
        Ok(Some(url))
    }

    /// The configured node name, or `<hostname>-<pid>`.
    fn node_id(&self) -> Result<String, ConfigError> {
        let id = self.node_id.trim();
        if id.is_empty() {
            let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
            let host = if host.is_empty() { "writ".to_owned() } else { host };
            return Ok(format!("{host}-{}", std::process::id()));
        }
        if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(ConfigError::Invalid { key: "node_id", reason: format!("`{id}`: use 1 to 64 letters, digits, `-`, `_` or `.`") });
        }
        Ok(id.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn layers_apply_in_order_and_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("writ.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nlapse_after = \"2d\"\n").unwrap();
        let secret = dir.path().join("db-url");
        std::fs::write(&secret, "postgres://writ:s3cret@127.0.0.1/writ\n").unwrap();
        let cfg = Config::load_from(
            &file,
            vars(&[("WRIT_LISTEN", "127.0.0.1:9001"), ("WRIT_DATABASE_URL_FILE", secret.to_str().unwrap()), ("WRIT_TOKEN_ALICE", "x")]),
        )
        .unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9001", "environment beats the file");
        assert_eq!(cfg.lapse_after, "2d", "the file beats defaults");
        assert_eq!(cfg.database_url, "postgres://writ:s3cret@127.0.0.1/writ");
        assert_eq!(cfg.catalog, dir.path().join("catalog.toml"));
    }

    #[test]
    fn hardening_and_durability_have_safe_defaults_and_can_be_set() {
        let r = Config::default().resolve().unwrap();
        assert_eq!(r.request_timeout, std::time::Duration::from_secs(30));
        assert_eq!(r.max_connections, 1024);
        assert_eq!(r.sqlite_synchronous, writ_store::SqliteSynchronous::Full);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("writ.toml");
        std::fs::write(&file, "request_timeout = \"1m30s\"\nsqlite_synchronous = \"normal\"\n").unwrap();
        let cfg = Config::load_from(&file, vars(&[("WRIT_MAX_CONNECTIONS", "8")])).unwrap();
        let r = cfg.resolve().unwrap();
        assert_eq!(r.request_timeout, std::time::Duration::from_secs(90));
        assert_eq!(r.max_connections, 8);
        assert_eq!(r.sqlite_synchronous, writ_store::SqliteSynchronous::Normal);
        let e = Config::load_from(&file, vars(&[("WRIT_MAX_CONNECTIONS", "many")])).unwrap_err().to_string();
        assert!(e.contains("`max_connections`"), "{e}");
    }

    #[test]
    fn token_lifetimes_default_and_can_be_capped() {
        assert_eq!(Config::default().resolve().unwrap().tokens, writ_core::token::TokenLimits::default());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("writ.toml");
        std::fs::write(&file, "[tokens]\nmax_lifetime_non_human = \"7d\"\n").unwrap();
        let r = Config::load_from(&file, vars(&[])).unwrap().resolve().unwrap();
        assert_eq!(r.tokens.non_human, AccessDuration::parse("7d").unwrap());
        assert_eq!(r.tokens.person, writ_core::token::TokenLimits::default().person);
        std::fs::write(&file, "[tokens]\nmax_lifetime_person = \"forever\"\n").unwrap();
        let e = Config::load_from(&file, vars(&[])).unwrap().resolve().unwrap_err().to_string();
        assert!(e.contains("`max_lifetime_person`") && e.contains("[tokens]"), "{e}");
    }

    #[test]
    fn the_key_list_matches_the_struct() {
        let v = serde_json::to_value(Config::default()).unwrap();
        let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut keys = KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn errors_name_the_key() {
        let bad = |f: fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.resolve().unwrap_err().to_string()
        };
        assert!(bad(|c| c.listen = "nowhere".into()).contains("`listen`"));
        assert!(bad(|c| c.lapse_after = "soon".into()).contains("`lapse_after`"));
        assert!(bad(|c| c.database_url = "mysql://x".into()).contains("`database_url`"));
        assert!(bad(|c| c.max_body_bytes = 1).contains("`max_body_bytes`"));
        assert!(bad(|c| c.node_id = "node one".into()).contains("`node_id`"));
        assert!(bad(|c| c.break_glass_review_within = "later".into()).contains("`break_glass_review_within`"));
        assert!(bad(|c| c.break_glass_max_unreviewed = 0).contains("`break_glass_max_unreviewed`"));
        assert!(bad(|c| c.owner_left_within = "a fortnight".into()).contains("`owner_left_within`"));
        let e = bad(|c| c.on_move = "keep".into());
        assert!(e.contains("`on_move`") && e.contains("`review`") && e.contains("`remove`"), "{e}");
        assert!(bad(|c| c.request_timeout = "a while".into()).contains("`request_timeout`"));
        assert!(bad(|c| c.request_timeout = "0s".into()).contains("`request_timeout`"));
        assert!(bad(|c| c.max_connections = 0).contains("`max_connections`"));
        assert!(bad(|c| c.max_connections = 65_537).contains("`max_connections`"));
        assert!(bad(|c| c.audit_witness_url = "ftp://witness.example.com".into()).contains("`audit_witness_url`"));
        assert!(bad(|c| c.audit_witness_url = "https://user:pw@witness.example.com".into()).contains("credentials"));
        assert!(bad(|c| c.audit_witness_ca_file = "ca.pem".into()).contains("`audit_witness_ca_file`"), "a CA without an https witness");
        let e = bad(|c| c.sqlite_synchronous = "off".into());
        assert!(e.contains("`sqlite_synchronous`") && e.contains("`full`") && e.contains("`normal`") && e.contains("`extra`"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("writ.toml");
        std::fs::write(&file, "listn = \"x\"\n").unwrap();
        let e = Config::load_from(&file, vars(&[])).unwrap_err().to_string();
        assert!(e.contains("listn"), "{e}");
        let e = Config::load_from(&dir.path().join("missing.toml"), vars(&[])).unwrap_err().to_string();
        assert!(e.contains("writ init"), "{e}");
        std::fs::write(&file, "").unwrap();
        let e = Config::load_from(&file, vars(&[("WRIT_LISTN", "x")])).unwrap_err().to_string();
        assert!(e.contains("unknown environment variable `WRIT_LISTN`") && e.contains("WRIT_LISTEN"), "{e}");
    }

    #[test]
    fn connections_to_other_machines_without_verified_tls_are_warned_about_and_loopback_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("writ.toml");
        std::fs::write(
            &file,
            r#"
database_url = "postgres://writ@db.internal:5432/writ"
audit_witness_url = "http://witness.internal/checkpoints"

[targets.pg-local]
kind = "postgres"
url = "postgres://writ@127.0.0.1:5432/postgres"

[targets.pg-verified]
kind = "postgres"
url = "postgres://writ@pg.internal:5432/postgres"
ca_file = "/etc/writ/pg-ca.pem"

[targets.corp-ldap]
kind = "ldap"
url = "ldap://ldap.internal:389/"
bind_dn = "cn=writ,dc=corp"
people_dn = "ou=people,dc=corp"
groups_dn = "ou=groups,dc=corp"
services_dn = "ou=services,dc=corp"

[targets.cache]
kind = "redis"
url = "redis://cache.internal:6379/"

[targets.okta]
kind = "scim"
base_url = "https://scim.example.com/v2"

[notifications]
webhook_url = "http://[::1]:9000/hook"
secret_env = "X"
"#,
        )
        .unwrap();
        let warnings = Config::load_from(&file, vars(&[])).unwrap().plaintext_warnings();
        let joined = warnings.join("\n");
        assert_eq!(warnings.len(), 4, "{joined}");
        for expected in ["`database_url`", "db.internal", "target `corp-ldap`", "target `cache`", "`audit_witness_url`"] {
            assert!(joined.contains(expected), "{expected} in {joined}");
        }
        for quiet in ["pg-local", "pg-verified", "okta", "webhook"] {
            assert!(!joined.contains(quiet), "{quiet} in {joined}");
        }
        assert!(!joined.contains("writ@"), "no user names or URLs, only hosts: {joined}");
        assert!(Config::default().plaintext_warnings().is_empty(), "the default (SQLite) is local");
    }
}
