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
mod read;
mod rows;
mod sqlite_native;
pub mod verify_pipeline;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use writ_app::ports::StoreError;

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
}

/// The file path in a `sqlite:` URL.
fn sqlite_file(url: &str) -> std::path::PathBuf {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    std::path::PathBuf::from(rest.split('?').next().unwrap_or_default())
}

impl SqlStore {
    /// Connects, creates the SQLite file if needed, and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
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
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // WAL lets readers run beside the writer; NORMAL sync in WAL
                            // mode is durable across application crashes (an OS crash can
                            // lose the last transactions, never corrupt the file).
                            conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                                .await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(opts.clone())
        };
        let cannot_open = |e: sqlx::Error| StoreError::Database(format!("cannot open `{}`: {e}", redact(&url)));
        let (writer, reader) = match backend {
            Backend::Sqlite => (pool(1).await.map_err(cannot_open)?, pool(4).await.map_err(cannot_open)?),
            Backend::Postgres => {
                let p = pool(16).await.map_err(cannot_open)?;
                (p.clone(), p)
            }
        };
        let sqlite_path = (backend == Backend::Sqlite).then(|| sqlite_file(&url));
        let mut store = SqlStore { backend, writer, reader, sqlite_path, native_writer: None };
        store.migrate().await?;
        if let Some(path) = &store.sqlite_path {
            store.native_writer = Some(std::sync::Arc::new(sqlite_native::NativeWriter::start(path)?));
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
            .map_err(|e| StoreError::Database(format!("cannot open `{}`: {e}", redact(&url))))?;
        let sqlite_path = (backend == Backend::Sqlite).then(|| sqlite_file(&url));
        Ok(SqlStore { backend, writer: pool.clone(), reader: pool, sqlite_path, native_writer: None })
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

    /// Closes every connection. On SQLite it first folds the write-ahead log into
    /// the database file, so the file alone holds everything (for backups).
    pub async fn close(&self) {
        if let Some(writer) = self.native_writer.clone() {
            // Joining waits for queued commits: not on a runtime thread.
            if tokio::task::spawn_blocking(move || writer.close()).await.is_err() {
                tracing::error!("the SQLite writer could not be stopped cleanly");
            }
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
