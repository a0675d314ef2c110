//! The only crate that speaks SQL: SQLite (the embedded default) and PostgreSQL,
//! behind the `writ_app::ports::Store` port.
//!
//! One code path serves both backends through `sqlx::Any`; the SQL is the common
//! subset (`$n` placeholders, `ON CONFLICT`, `RETURNING`). Each backend has its
//! own migrations folder. Aggregates are stored as JSON documents beside the
//! columns queries filter on; the audit log is stored column by column, because
//! its hash covers those exact values.

mod audit;
mod commit;
mod pg_auth_cache;
mod pg_writer;
mod read;
mod rows;
mod scim;
mod sqlite_native;
pub mod verify_pipeline;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use writ_app::ports::StoreError;

/// How hard SQLite works to make a COMMIT survive an operating-system crash or
/// a power cut (`PRAGMA synchronous`). It changes nothing on PostgreSQL, whose
/// durability is the server's own `synchronous_commit`.
///
/// `Full` is the default because Writ answers an approval only after its
/// COMMIT, and what follows the answer assumes the commit stands: the job
/// worker grants real access on a target, and signed checkpoints hand out the
/// log's size and head hash. In WAL mode, `Normal` syncs the log only at
/// checkpoints, so an OS crash can take back transactions already answered:
/// an approval the requester was told about, access on a target with no
/// event that explains it, a log shorter than a checkpoint already signed.
/// `Full` syncs the write-ahead log at every COMMIT; the writer's group commit
/// (see `sqlite_native`) pays that sync once per group of queued changes, not
/// once per change. Choose `Normal` only where losing the last acknowledged
/// changes after an OS crash is acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSynchronous {
    /// Sync at WAL checkpoints only: survives Writ crashing, not the OS.
    Normal,
    /// Sync the write-ahead log at every COMMIT: an answered change survives an OS crash.
    #[default]
    Full,
    /// `Full`, and in rollback-journal modes also the directory after a COMMIT
    /// deletes its journal. Writ runs in WAL mode, where it adds little.
    Extra,
}

/// A `sqlite_synchronous` value that is none of the allowed ones.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}` is not a SQLite synchronous setting: write `full` (the default), `normal` or `extra`")]
pub struct UnknownSqliteSynchronous(pub String);

impl SqliteSynchronous {
    /// The value for `PRAGMA synchronous = …`.
    pub fn pragma_value(self) -> &'static str {
        match self {
            SqliteSynchronous::Normal => "NORMAL",
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Extra => "EXTRA",
        }
    }

    /// The number `PRAGMA synchronous` reads back for this setting.
    pub fn level(self) -> i64 {
        match self {
            SqliteSynchronous::Normal => 1,
            SqliteSynchronous::Full => 2,
            SqliteSynchronous::Extra => 3,
        }
    }
}

impl FromStr for SqliteSynchronous {
    type Err = UnknownSqliteSynchronous;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(SqliteSynchronous::Normal),
            "full" => Ok(SqliteSynchronous::Full),
            "extra" => Ok(SqliteSynchronous::Extra),
            _ => Err(UnknownSqliteSynchronous(s.to_owned())),
        }
    }
}

/// How [`SqlStore::open_with`] sets up the connections it opens.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOptions {
    /// Applied to every SQLite connection the store opens (ignored on PostgreSQL).
    pub sqlite_synchronous: SqliteSynchronous,
}

/// The settings of every SQLite connection Writ opens, sqlx's and the native
/// writer's alike. WAL lets readers run beside the writer.
pub(crate) fn sqlite_pragmas(synchronous: SqliteSynchronous) -> String {
    format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;", synchronous.pragma_value())
}

/// `PRAGMA synchronous` as SQLite reports it on each kind of connection a
/// SQLite store uses (1 NORMAL, 2 FULL, 3 EXTRA; see [`SqliteSynchronous::level`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteSynchronousInForce {
    /// The native writer's connection, which commits every change (read back when it started).
    pub native_writer: i64,
    /// The sqlx writing connection (migrations and rare writes).
    pub sqlx_writer: i64,
    /// A reading connection.
    pub reader: i64,
}

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from the URL scheme, with an error that says what to write.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Database(format!(
                "unsupported database URL `{}`: write `sqlite:///path/to/writ.db` or `postgres://user@host:5432/dbname`",
                redact(url)
            )))
        }
    }
}

/// Hides the password of a URL, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `detail` with what to do when it is a refused TLS certificate. (The
/// connectors say the same for targets; the store does not depend on them.)
fn with_tls_advice(detail: String) -> String {
    if detail.contains("certificate") || detail.contains("UnknownIssuer") || detail.contains("NotValidForName") {
        format!(
            "{detail}; the database's TLS certificate was not accepted: add `sslrootcert=<PEM file of the CA that signed it>` to `database_url` \
             (with `sslmode=verify-full`), and connect by a name the certificate holds"
        )
    } else {
        detail
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A Writ store on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    backend: Backend,
    /// Writes go through here. On SQLite it holds one connection: SQLite allows
    /// one writer at a time anyway, and a single writer avoids busy-waiting.
    writer: AnyPool,
    /// Reads. On SQLite (WAL) they run beside the writer.
    reader: AnyPool,
    /// The database file, on SQLite: whole-log reads open it natively.
    sqlite_path: Option<std::path::PathBuf>,
    /// On SQLite, changes are committed by this thread rather than through
    /// `writer` (see `sqlite_native`); `writer` keeps migrations and rare writes.
    native_writer: Option<std::sync::Arc<sqlite_native::NativeWriter>>,
    /// On PostgreSQL, changes are committed by this task, several per
    /// transaction when they queue up (see `pg_writer`).
    pg_writer: Option<std::sync::Arc<pg_writer::PgWriter>>,
    /// On SQLite, the token lookup of every API call (see `sqlite_native`).
    token_reader: Option<std::sync::Arc<sqlite_native::TokenReader>>,
    /// On PostgreSQL, the token lookups already made (see `pg_auth_cache`),
    /// and the task that keeps them right.
    auth_cache: Option<std::sync::Arc<pg_auth_cache::AuthCache>>,
    auth_listener: Option<std::sync::Arc<pg_auth_cache::Listener>>,
}

/// The file path in a `sqlite:` URL.
fn sqlite_file(url: &str) -> std::path::PathBuf {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    std::path::PathBuf::from(rest.split('?').next().unwrap_or_default())
}

impl SqlStore {
    /// Connects, creates the SQLite file if needed, and applies migrations, with
    /// the default [`StoreOptions`].
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// [`open`](Self::open) with `options`.
    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut url = url.to_owned();
        if backend == Backend::Sqlite && (url.contains(":memory:") || url.contains("mode=memory")) {
            return Err(StoreError::Database(format!(
                "`{url}` is an in-memory SQLite database, which Writ does not support (its audit log would vanish): give a file, e.g. `sqlite://writ-data/writ.db`"
            )));
        }
        if backend == Backend::Sqlite && !url.contains("mode=") {
            url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
        }
        let opts = AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Database(format!("bad database URL `{}`: {e}", redact(&url))))?;
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                // sqlx pings every connection it hands out. On SQLite that
                // is a hand-off to the connection's thread before every
                // query, for a local file that cannot go stale: no ping.
                // PostgreSQL keeps it, so a restarted server costs no request.
                .test_before_acquire(backend != Backend::Sqlite)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute(sqlite_pragmas(options.sqlite_synchronous).as_str()).await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(opts.clone())
        };
        let cannot_open = |e: sqlx::Error| StoreError::Database(format!("cannot open `{}`: {}", redact(&url), with_tls_advice(e.to_string())));
        let (writer, reader) = match backend {
            Backend::Sqlite => (pool(1).await.map_err(cannot_open)?, pool(4).await.map_err(cannot_open)?),
            Backend::Postgres => {
                let p = pool(16).await.map_err(cannot_open)?;
                (p.clone(), p)
            }
        };
        let sqlite_path = (backend == Backend::Sqlite).then(|| sqlite_file(&url));
        let mut store =
            SqlStore { backend, writer, reader, sqlite_path, native_writer: None, pg_writer: None, token_reader: None, auth_cache: None, auth_listener: None };
        store.migrate().await?;
        if let Some(path) = &store.sqlite_path {
            store.native_writer = Some(std::sync::Arc::new(sqlite_native::NativeWriter::start(path, options.sqlite_synchronous)?));
            store.token_reader = Some(std::sync::Arc::new(sqlite_native::TokenReader::new(path)));
        }
        if backend == Backend::Postgres {
            let cache = std::sync::Arc::new(pg_auth_cache::AuthCache::default());
            store.pg_writer = Some(std::sync::Arc::new(pg_writer::PgWriter::start(&url, cache.clone())?));
            store.auth_listener = Some(std::sync::Arc::new(pg_auth_cache::Listener(tokio::spawn(pg_auth_cache::listen(url.clone(), cache.clone())))));
            store.auth_cache = Some(cache);
        }
        Ok(store)
    }

    /// Opens an existing database for reading only (no file is created and no
    /// migration runs), e.g. for offline audit verification.
    pub async fn open_read_only(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut url = url.to_owned();
        if backend == Backend::Sqlite {
            let path = sqlite_file(&url);
            if !path.exists() {
                return Err(StoreError::Database(format!(
                    "`{}` does not exist: give the path of Writ's SQLite database, e.g. `sqlite://writ-data/writ.db`",
                    path.display()
                )));
            }
            url.push_str(if url.contains('?') { "&mode=ro" } else { "?mode=ro" });
        }
        let opts = AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Database(format!("bad database URL `{}`: {e}", redact(&url))))?;
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Database(format!("cannot open `{}`: {}", redact(&url), with_tls_advice(e.to_string()))))?;
        let sqlite_path = (backend == Backend::Sqlite).then(|| sqlite_file(&url));
        Ok(SqlStore {
            backend,
            writer: pool.clone(),
            reader: pool,
            sqlite_path,
            native_writer: None,
            pg_writer: None,
            token_reader: None,
            auth_cache: None,
            auth_listener: None,
        })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator.run(&self.writer).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What SQLite reports for `PRAGMA synchronous` on this store's connections;
    /// `None` on PostgreSQL or a read-only store (which commits nothing).
    pub async fn sqlite_synchronous_in_force(&self) -> Result<Option<SqliteSynchronousInForce>, StoreError> {
        let Some(native) = &self.native_writer else { return Ok(None) };
        let level = |pool: &AnyPool| {
            let pool = pool.clone();
            async move { sqlx::query_scalar::<_, i64>("PRAGMA synchronous").fetch_one(&pool).await.map_err(db_err) }
        };
        Ok(Some(SqliteSynchronousInForce { native_writer: native.synchronous(), sqlx_writer: level(&self.writer).await?, reader: level(&self.reader).await? }))
    }

    /// Closes every connection. On SQLite it first folds the write-ahead log into
    /// the database file, so the file alone holds everything (for backups).
    pub async fn close(&self) {
        if let Some(reader) = &self.token_reader {
            reader.close();
        }
        if let Some(writer) = self.native_writer.clone() {
            // Joining waits for queued commits: not on a runtime thread.
            if tokio::task::spawn_blocking(move || writer.close()).await.is_err() {
                tracing::error!("the SQLite writer could not be stopped cleanly");
            }
        }
        if let Some(writer) = &self.pg_writer {
            writer.close().await;
        }
        if let Some(listener) = &self.auth_listener {
            listener.0.abort();
        }
        if self.backend == Backend::Sqlite {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await {
                tracing::warn!(error = %e, "could not fold the SQLite write-ahead log into the database file");
            }
        }
        self.writer.close().await;
        self.reader.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url_says_what_to_write() {
        assert_eq!(Backend::from_url("sqlite:///tmp/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        let e = Backend::from_url("mysql://root:hunter2@h/db").unwrap_err().to_string();
        assert!(e.contains("sqlite:///") && e.contains("postgres://"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[tokio::test]
    async fn in_memory_sqlite_is_refused_with_what_to_write_instead() {
        let e = SqlStore::open("sqlite::memory:").await.err().expect("refused").to_string();
        assert!(e.contains("in-memory") && e.contains("sqlite://writ-data/writ.db"), "{e}");
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:///x.db"), "sqlite:///x.db");
    }
}
