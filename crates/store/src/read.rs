//! The read path, and the `Store` port implementation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use writ_app::ports::{
    Change, Claimed, Cursor, GrantFilter, HoldingsGuard, Job, JobClaim, LedgerRow, ReconcileRun, RequestFilter, RunFilter, RunObservation, Standing, Store,
    StoreError, TaskFilter, TicketFilter, TokenFilter,
};
use writ_core::audit::{AuditEvent, Checkpoint, EventHash};
use writ_core::grant::Grant;
use writ_core::identity::Identity;
use writ_core::ids::{GrantId, IdentityId, RequestId, RunId, TargetId, TaskId, TokenId};
use writ_core::request::Request;
use writ_core::task::FulfilmentTask;
use writ_core::token::Token;

use crate::rows::{doc, from_millis, ledger_row, millis, to_doc, token, TOKEN_COLUMNS};
use crate::{db_err, Backend, SqlStore};

fn limit(l: u32) -> i64 {
    i64::from(l)
}

/// A list's page size. There is no default: a limit of 0 is a caller's
/// mistake, said as such rather than read as some number of rows.
fn page_size(what: &str, l: u32) -> Result<i64, StoreError> {
    if l == 0 {
        return Err(StoreError::Database(format!("a page of {what} was asked for with a limit of 0: pass the page size")));
    }
    Ok(i64::from(l))
}

/// The parameters of a keyset condition on `(time column, id)`: whether
/// there is a cursor, its time and its id (see `Cursor`).
fn keyset(after: Option<&Cursor>) -> (i64, i64, String) {
    after.map_or((0, 0, String::new()), |c| (1, c.at_millis(), c.id().to_owned()))
}

impl SqlStore {
    /// The SQL condition a job of table `jobs` meets when it may be claimed
    /// as far as its queue goes: it has none, or no job of its queue was
    /// queued before it (see migration 0020 for the order on each backend).
    fn claimable_jobs(&self) -> &'static str {
        match self.backend() {
            crate::Backend::Postgres => "(queue = '' OR NOT EXISTS (SELECT 1 FROM jobs AS ahead WHERE ahead.queue = jobs.queue AND ahead.seq < jobs.seq))",
            crate::Backend::Sqlite => "(queue = '' OR NOT EXISTS (SELECT 1 FROM jobs AS ahead WHERE ahead.queue = jobs.queue AND ahead.rowid < jobs.rowid))",
        }
    }

    /// Who holds a claim on job `id` that still holds at `now`, read through `pool`.
    async fn holder(&self, id: &str, now: DateTime<Utc>, pool: &sqlx::AnyPool) -> Result<Option<JobClaim>, StoreError> {
        let row = sqlx::query("SELECT claimed_by, claimed_until FROM jobs WHERE id = $1 AND claimed_until > $2")
            .bind(id)
            .bind(millis(now))
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
        row.map(|r| {
            let until = from_millis("job claim", r.try_get("claimed_until").map_err(db_err)?)?;
            Ok(JobClaim { node: r.try_get("claimed_by").map_err(db_err)?, until })
        })
        .transpose()
    }

    async fn one_doc<T: serde::de::DeserializeOwned>(&self, what: &'static str, sql: &str, key: String) -> Result<Option<T>, StoreError> {
        let row = sqlx::query(sql).bind(key).fetch_optional(&self.reader).await.map_err(db_err)?;
        row.map(|r| doc(what, &r)).transpose()
    }

    /// The `n` of `sql`, a `COUNT(*) AS n` taking the time `at` as `$1`.
    async fn count_at(&self, sql: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let row = sqlx::query(sql).bind(millis(at)).fetch_one(&self.reader).await.map_err(db_err)?;
        row.try_get::<i64, _>("n").map(|n| n as u64).map_err(db_err)
    }

    /// The request documents of `sql`, a page by id taking the time `at`,
    /// the last id read (`after`) and the page size as `$1`, `$2`, `$3`.
    async fn requests_at(&self, sql: &str, at: DateTime<Utc>, after: Option<RequestId>, max: u32) -> Result<Vec<Request>, StoreError> {
        let rows = sqlx::query(sql)
            .bind(millis(at))
            .bind(after.map_or(String::new(), |r| r.to_string()))
            .bind(limit(max))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| doc("request", r)).collect()
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn commit(&self, change: Change) -> Result<Vec<AuditEvent>, StoreError> {
        self.commit_change(change).await
    }

    async fn identity(&self, id: &IdentityId) -> Result<Option<Identity>, StoreError> {
        self.one_doc("identity", "SELECT doc FROM identities WHERE id = $1", id.to_string()).await
    }

    async fn identities(&self) -> Result<Vec<Identity>, StoreError> {
        let rows = sqlx::query("SELECT doc FROM identities ORDER BY id").fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter().map(|r| doc("identity", r)).collect()
    }

    async fn identities_versioned(&self) -> Result<Vec<(Identity, u64)>, StoreError> {
        let rows = sqlx::query("SELECT doc, version FROM identities ORDER BY id").fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter().map(|r| Ok((doc("identity", r)?, r.try_get::<i64, _>("version").map_err(db_err)? as u64))).collect()
    }

    async fn identities_by_id(&self, ids: &[IdentityId]) -> Result<Vec<(Identity, u64)>, StoreError> {
        self.identities_in("SELECT doc, version FROM identities WHERE id IN ({}) ORDER BY id", ids).await
    }

    async fn identities_owned_by(&self, owners: &[IdentityId]) -> Result<Vec<(Identity, u64)>, StoreError> {
        self.identities_in("SELECT doc, version FROM identities WHERE owner IN ({}) ORDER BY id", owners).await
    }

    async fn identities_page(&self, after: Option<&IdentityId>, max: u32) -> Result<Vec<(Identity, u64)>, StoreError> {
        let rows = sqlx::query("SELECT doc, version FROM identities WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after.map_or(String::new(), ToString::to_string))
            .bind(limit(max))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| Ok((doc("identity", r)?, r.try_get::<i64, _>("version").map_err(db_err)? as u64))).collect()
    }

    async fn owner_left_identities(
        &self,
        due_by: Option<DateTime<Utc>>,
        after: Option<&writ_app::ports::Cursor>,
        max: u32,
    ) -> Result<Vec<(Identity, u64)>, StoreError> {
        let (after_at, after_id) = after.map_or((0, String::new()), |c| (c.at_millis(), c.id().to_owned()));
        let rows = sqlx::query(
            "SELECT doc, version FROM identities WHERE owner_left_due > 0 AND owner_left_due <= $1 \
             AND (owner_left_due > $2 OR (owner_left_due = $2 AND id > $3)) ORDER BY owner_left_due, id LIMIT $4",
        )
        .bind(due_by.map_or(i64::MAX, millis))
        .bind(after_at)
        .bind(after_id)
        .bind(limit(max))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| Ok((doc("identity", r)?, r.try_get::<i64, _>("version").map_err(db_err)? as u64))).collect()
    }

    async fn owner_left_counts(&self, now: DateTime<Utc>) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS flagged, COALESCE(SUM(CASE WHEN owner_left_due <= $1 THEN 1 ELSE 0 END), 0) AS overdue \
             FROM identities WHERE owner_left_due > 0",
        )
        .bind(millis(now))
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?;
        let count = |c: &str| row.try_get::<i64, _>(c).map(|n| n as u64).map_err(db_err);
        Ok((count("flagged")?, count("overdue")?))
    }

    async fn scim_users(&self, key: &writ_app::ports::ScimUserKey) -> Result<Vec<writ_app::ports::ScimUserRow>, StoreError> {
        self.read_scim_users(key).await
    }

    async fn scim_user_page(&self, offset: u64, limit: u32) -> Result<(u64, Vec<IdentityId>), StoreError> {
        self.read_scim_user_page(offset, limit).await
    }

    async fn scim_groups(&self, key: &writ_app::ports::ScimGroupKey) -> Result<Vec<(writ_app::ports::ScimGroupRecord, u64)>, StoreError> {
        self.read_scim_groups(key).await
    }

    async fn group_members(&self, groups: &[writ_core::ids::GroupId]) -> Result<Vec<(writ_core::ids::GroupId, IdentityId)>, StoreError> {
        self.read_group_members(groups).await
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<(Token, Identity)>, StoreError> {
        if let Some(native) = &self.token_reader {
            return native.by_hash(token_hash);
        }
        if let Some(hit) = self.auth_cache.as_ref().and_then(|c| c.get(token_hash)) {
            return Ok(Some(hit));
        }
        let generation = self.auth_cache.as_ref().map(|c| c.generation());
        // One indexed lookup (the hash is unique) joined to its identity.
        let sql = format!("SELECT {TOKEN_COLUMNS}, i.doc FROM tokens t JOIN identities i ON i.id = t.identity_id WHERE t.hash = $1");
        let row = sqlx::query(&sql).bind(token_hash).fetch_optional(&self.reader).await.map_err(db_err)?;
        let pair = row.map(|r| Ok::<_, StoreError>((token(&r)?, doc("identity", &r)?))).transpose()?;
        if let (Some(cache), Some(generation), Some(pair)) = (&self.auth_cache, generation, &pair) {
            cache.keep(token_hash, pair.clone(), generation);
        }
        Ok(pair)
    }

    async fn token(&self, id: TokenId) -> Result<Option<Token>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens t WHERE t.id = $1");
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.reader).await.map_err(db_err)?;
        row.map(|r| token(&r)).transpose()
    }

    async fn tokens(&self, f: &TokenFilter) -> Result<Vec<Token>, StoreError> {
        let (paged, at, id) = keyset(f.after.as_ref());
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens t WHERE ($1 = '' OR t.identity_id = $1 OR t.owner = $1) AND ($2 = '' OR t.identity_id = $2) \
             AND ($3 = 0 OR t.revoked_at = 0) AND ($5 = 0 OR t.created_at < $6 OR (t.created_at = $6 AND t.id > $7)) \
             ORDER BY t.created_at DESC, t.id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(f.involving.as_ref().map_or(String::new(), ToString::to_string))
            .bind(f.identity.as_ref().map_or(String::new(), ToString::to_string))
            .bind(i64::from(f.unrevoked_only))
            .bind(page_size("tokens", f.limit)?)
            .bind(paged)
            .bind(at)
            .bind(id)
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(token).collect()
    }

    async fn record_token_use(&self, id: TokenId, at: DateTime<Utc>) -> Result<(), StoreError> {
        // The condition makes racing calls write once, and never move it back.
        sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1 AND last_used_at <= $3")
            .bind(id.to_string())
            .bind(millis(at))
            .bind(millis(at - writ_core::token::LAST_USE_PRECISION))
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        if let Some(cache) = &self.auth_cache {
            cache.note_use(id, at);
        }
        Ok(())
    }

    async fn request(&self, id: RequestId) -> Result<Option<Request>, StoreError> {
        self.one_doc("request", "SELECT doc FROM requests WHERE id = $1", id.to_string()).await
    }

    async fn request_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM requests GROUP BY state ORDER BY state").fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>("state").map_err(db_err)?, r.try_get::<i64, _>("n").map_err(db_err)? as u64))).collect()
    }

    async fn requests(&self, f: &RequestFilter) -> Result<Vec<Request>, StoreError> {
        let (paged, at, id) = keyset(f.after.as_ref());
        let rows = sqlx::query(
            "SELECT doc FROM requests WHERE ($1 = '' OR state = $1) AND ($2 = '' OR requester = $2 OR subject = $2) \
             AND ($3 = 0 OR break_glass_open = 1) AND ($5 = 0 OR created_at < $6 OR (created_at = $6 AND id > $7)) \
             ORDER BY created_at DESC, id LIMIT $4",
        )
        .bind(f.state.map_or("", |s| s.as_str()))
        .bind(f.involving.as_ref().map_or(String::new(), ToString::to_string))
        .bind(i64::from(f.break_glass_open))
        .bind(page_size("requests", f.limit)?)
        .bind(paged)
        .bind(at)
        .bind(id)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| doc("request", r)).collect()
    }

    async fn claim_jobs(&self, now: DateTime<Utc>, lease: chrono::TimeDelta, max: u32, node: &str) -> Result<Vec<Job>, StoreError> {
        // On PostgreSQL, SKIP LOCKED lets several nodes claim side by side
        // without waiting on each other's rows; SQLite has a single writer.
        // Polled several times a second: look before taking the write lock.
        let claimable = self.claimable_jobs();
        let due = sqlx::query(&format!("SELECT id FROM jobs WHERE due_at <= $1 AND claimed_until <= $1 AND {claimable} LIMIT 1"))
            .bind(millis(now))
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let skip_locked = if self.backend() == crate::Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE jobs SET claimed_until = $1, claimed_by = $4 WHERE id IN \
             (SELECT id FROM jobs WHERE due_at <= $2 AND claimed_until <= $2 AND {claimable} ORDER BY due_at LIMIT $3{skip_locked}) \
             RETURNING doc"
        );
        let rows = sqlx::query(&sql).bind(millis(now + lease)).bind(millis(now)).bind(limit(max)).bind(node).fetch_all(&self.writer).await.map_err(db_err)?;
        let mut jobs: Vec<Job> = rows.iter().map(|r| doc("job", r)).collect::<Result<_, _>>()?;
        jobs.sort_by_key(|j| j.due_at);
        Ok(jobs)
    }

    async fn claim_job(&self, job: &Job, now: DateTime<Utc>, lease: chrono::TimeDelta, node: &str) -> Result<Claimed, StoreError> {
        // One statement, so two nodes cannot both take it: the upsert takes
        // the row only where no claim holds (PostgreSQL checks the WHERE on
        // the row it locked; SQLite has a single writer).
        let take = "INSERT INTO jobs (id, request_id, due_at, claimed_until, claimed_by, doc, queue) VALUES ($1, $2, $3, $4, $5, $6, $8) \
                    ON CONFLICT (id) DO UPDATE SET claimed_until = excluded.claimed_until, claimed_by = excluded.claimed_by \
                    WHERE jobs.claimed_until <= $7 RETURNING id";
        // A claim seen held may end before it is read: try again then.
        for _ in 0..3 {
            let taken = sqlx::query(take)
                .bind(job.id.as_str())
                .bind(job.request.map_or(String::new(), |r| r.to_string()))
                .bind(millis(job.due_at))
                .bind(millis(now + lease))
                .bind(node)
                .bind(to_doc(job))
                .bind(millis(now))
                .bind(job.queue.as_deref().unwrap_or_default())
                .fetch_optional(&self.writer)
                .await
                .map_err(db_err)?;
            if taken.is_some() {
                return Ok(Claimed::Taken);
            }
            if let Some(holder) = self.holder(&job.id, now, &self.writer).await? {
                return Ok(Claimed::HeldBy(holder));
            }
        }
        Err(StoreError::Database(format!("job `{}` changed hands three times while being claimed", job.id)))
    }

    async fn renew_claim(&self, id: &str, until: DateTime<Utc>, node: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE jobs SET claimed_until = $1 WHERE id = $2 AND claimed_by = $3")
            .bind(millis(until))
            .bind(id)
            .bind(node)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn job_claim(&self, id: &str, now: DateTime<Utc>) -> Result<Option<JobClaim>, StoreError> {
        self.holder(id, now, &self.reader).await
    }

    async fn due_expiries(&self, now: DateTime<Utc>, max: u32) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query("SELECT doc FROM grants WHERE state = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT $2")
            .bind(millis(now))
            .bind(limit(max))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| doc("grant", r)).collect()
    }

    async fn due_lapses(&self, now: DateTime<Utc>, max: u32) -> Result<Vec<RequestId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM requests WHERE state = 'pending' AND lapses_at <= $1 ORDER BY lapses_at LIMIT $2")
            .bind(millis(now))
            .bind(limit(max))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id").map_err(db_err)?;
                RequestId::parse(&id).map_err(|e| StoreError::Corrupt { what: "request", detail: e.to_string() })
            })
            .collect()
    }

    async fn task(&self, id: TaskId) -> Result<Option<FulfilmentTask>, StoreError> {
        self.one_doc("task", "SELECT doc FROM tasks WHERE id = $1", id.to_string()).await
    }

    async fn tasks(&self, f: &TaskFilter) -> Result<Vec<FulfilmentTask>, StoreError> {
        let (paged, at, id) = keyset(f.after.as_ref());
        let rows = sqlx::query(
            "SELECT doc FROM tasks WHERE ($1 = 0 OR is_open = 1) AND ($2 = '' OR request_id = $2) \
             AND ($4 = 0 OR created_at > $5 OR (created_at = $5 AND id > $6)) ORDER BY created_at, id LIMIT $3",
        )
        .bind(i64::from(f.open_only))
        .bind(f.request.map_or(String::new(), |r| r.to_string()))
        .bind(page_size("tasks", f.limit)?)
        .bind(paged)
        .bind(at)
        .bind(id)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| doc("task", r)).collect()
    }

    async fn grant(&self, id: GrantId) -> Result<Option<Grant>, StoreError> {
        self.one_doc("grant", "SELECT doc FROM grants WHERE id = $1", id.to_string()).await
    }

    async fn grants(&self, f: &GrantFilter) -> Result<Vec<Grant>, StoreError> {
        let (paged, at, id) = keyset(f.after.as_ref());
        let rows = sqlx::query(
            "SELECT doc FROM grants WHERE ($1 = '' OR subject = $1) AND ($2 = '' OR request_id = $2) AND ($3 = 0 OR is_active = 1) \
             AND ($4 = 0 OR state = 'revoking') AND ($6 = 0 OR (state = 'revoking' AND removal_since <= $7)) \
             AND ($8 = 0 OR expires_at > $9 OR (expires_at = $9 AND id > $10)) ORDER BY expires_at, id LIMIT $5",
        )
        .bind(f.subject.as_ref().map_or(String::new(), ToString::to_string))
        .bind(f.request.map_or(String::new(), |r| r.to_string()))
        .bind(i64::from(f.active_only))
        .bind(i64::from(f.revoking_only))
        .bind(page_size("grants", f.limit)?)
        .bind(i64::from(f.removal_started_by.is_some()))
        .bind(f.removal_started_by.map_or(0, millis))
        .bind(paged)
        .bind(at)
        .bind(id)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| doc("grant", r)).collect()
    }

    async fn standing(&self, identity: &IdentityId) -> Result<Standing, StoreError> {
        let id = identity.to_string();
        // The guard first: a change committed between this read and the
        // holdings' makes the guard stale (a retry), never the holdings.
        let version = sqlx::query("SELECT version FROM holdings_guards WHERE subject = $1")
            .bind(&id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .map(|r| r.try_get::<i64, _>("version").map_err(db_err))
            .transpose()?
            .unwrap_or(0);
        let grants = sqlx::query("SELECT doc FROM grants WHERE subject = $1 AND is_active = 1 ORDER BY expires_at, id")
            .bind(&id)
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        let requests = sqlx::query(
            "SELECT doc FROM requests WHERE (subject = $1 OR requester = $1) \
             AND (state IN ('pending', 'approved', 'partially_fulfilled') OR break_glass_open = 1) ORDER BY created_at, id",
        )
        .bind(&id)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(Standing {
            grants: grants.iter().map(|r| doc("grant", r)).collect::<Result<_, _>>()?,
            requests: requests.iter().map(|r| doc("request", r)).collect::<Result<_, _>>()?,
            guard: HoldingsGuard { subject: identity.clone(), version: version as u64 },
        })
    }

    async fn removal_counts(&self, overdue_since: DateTime<Utc>) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS revoking, COALESCE(SUM(CASE WHEN removal_since <= $1 THEN 1 ELSE 0 END), 0) AS overdue \
             FROM grants WHERE state = 'revoking'",
        )
        .bind(millis(overdue_since))
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?;
        let count = |c: &str| row.try_get::<i64, _>(c).map(|n| n as u64).map_err(db_err);
        Ok((count("revoking")?, count("overdue")?))
    }

    async fn overdue_removals(&self, since: DateTime<Utc>, after: Option<GrantId>, max: u32) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query("SELECT doc FROM grants WHERE state = 'revoking' AND removal_since <= $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(millis(since))
            .bind(after.map_or(String::new(), |g| g.to_string()))
            .bind(limit(max))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| doc("grant", r)).collect()
    }

    async fn break_glass_exception_count(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.count_at("SELECT COUNT(*) AS n FROM requests WHERE break_glass_open = 1 AND review_exception_at <= $1", now).await
    }

    async fn break_glass_exceptions(&self, now: DateTime<Utc>, after: Option<RequestId>, max: u32) -> Result<Vec<Request>, StoreError> {
        let sql = "SELECT doc FROM requests WHERE break_glass_open = 1 AND review_exception_at <= $1 AND id > $2 ORDER BY id LIMIT $3";
        self.requests_at(sql, now, after, max).await
    }

    async fn due_chases(&self, now: DateTime<Utc>, after: Option<RequestId>, max: u32) -> Result<Vec<Request>, StoreError> {
        self.requests_at("SELECT doc FROM requests WHERE state = 'pending' AND chase_at <= $1 AND id > $2 ORDER BY id LIMIT $3", now, after, max).await
    }

    async fn past_sla_count(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.count_at("SELECT COUNT(*) AS n FROM requests WHERE state = 'pending' AND sla_due_at <= $1", now).await
    }

    async fn ledger(&self, target: &TargetId) -> Result<Vec<LedgerRow>, StoreError> {
        // Columns only: a target's ledger may hold every grant ever made on it.
        if let Some(path) = self.sqlite_path.clone() {
            let target = target.as_str().to_owned();
            return tokio::task::spawn_blocking(move || crate::sqlite_native::read_ledger(&path, &target))
                .await
                .map_err(|e| StoreError::Database(format!("the ledger read stopped: {e}")))?;
        }
        // Each row is parsed as it arrives (`map`), while the database sends
        // the next ones, and its buffer is dropped at once.
        let rows = sqlx::query("SELECT id, request_id, subject, entitlement, state, drift FROM grants WHERE target = $1")
            .bind(target.as_str())
            .map(|row: sqlx::any::AnyRow| ledger_row(&row))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.into_iter().collect()
    }

    async fn run(&self, id: RunId) -> Result<Option<ReconcileRun>, StoreError> {
        self.one_doc("reconciliation run", "SELECT doc FROM reconcile_runs WHERE id = $1", id.to_string()).await
    }

    async fn runs(&self, f: &RunFilter) -> Result<Vec<ReconcileRun>, StoreError> {
        let (paged, at, id) = keyset(f.after.as_ref());
        let rows = sqlx::query(
            "SELECT doc FROM reconcile_runs WHERE ($1 = '' OR target = $1) \
             AND ($3 = 0 OR started_at < $4 OR (started_at = $4 AND id > $5)) ORDER BY started_at DESC, id LIMIT $2",
        )
        .bind(f.target.as_ref().map_or("", TargetId::as_str))
        .bind(page_size("reconciliation runs", f.limit)?)
        .bind(paged)
        .bind(at)
        .bind(id)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| doc("reconciliation run", r)).collect()
    }

    async fn run_observations(&self, id: RunId) -> Result<Vec<RunObservation>, StoreError> {
        let rows = sqlx::query("SELECT doc FROM reconcile_observations WHERE run_id = $1 ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| doc("reconciliation observation", r)).collect()
    }

    async fn audit_events(&self, after_seq: u64, max: u32) -> Result<Vec<AuditEvent>, StoreError> {
        self.audit_page(after_seq, max).await
    }

    async fn request_events(&self, id: RequestId) -> Result<Vec<AuditEvent>, StoreError> {
        self.events_of_request(id).await
    }

    async fn request_event_times(&self, kinds: &[&str], since: DateTime<Utc>) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError> {
        self.event_times(kinds, since).await
    }

    async fn ticket(&self, id: writ_core::ids::TicketId) -> Result<Option<writ_core::ticket::Ticket>, StoreError> {
        let row = sqlx::query("SELECT doc FROM tickets WHERE id = $1").bind(id.to_string()).fetch_optional(&self.reader).await.map_err(db_err)?;
        row.as_ref().map(|r| doc("ticket", r)).transpose()
    }

    async fn ticket_by_ref(&self, source: &str, external_ref: &str) -> Result<Option<writ_core::ticket::Ticket>, StoreError> {
        let row = sqlx::query("SELECT doc FROM tickets WHERE source = $1 AND external_ref = $2")
            .bind(source)
            .bind(external_ref)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        row.as_ref().map(|r| doc("ticket", r)).transpose()
    }

    async fn identities_with_attribute(&self, key: &str, value: &str) -> Result<Vec<Identity>, StoreError> {
        // The key becomes part of a JSON path on SQLite: only plain names
        // reach it, so no quote or dot can change the path's meaning.
        if key.is_empty() || key.len() > 64 || !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':')) {
            return Err(StoreError::Database(format!(
                "attribute name `{}` is not a plain name (letters, digits, `_`, `-`, `:`; at most 64): name the attribute that links the account",
                key.escape_debug()
            )));
        }
        let (sql, path) = match self.backend {
            Backend::Sqlite => ("SELECT doc FROM identities WHERE json_extract(doc, $1) = $2 ORDER BY id", format!("$.attributes.\"{key}\"")),
            Backend::Postgres => ("SELECT doc FROM identities WHERE (doc::jsonb -> 'attributes' ->> $1) = $2 ORDER BY id", key.to_owned()),
        };
        let rows = sqlx::query(sql).bind(path).bind(value).fetch_all(&self.reader).await.map_err(db_err)?;
        rows.iter().map(|r| doc("identity", r)).collect()
    }

    async fn tickets(&self, f: &TicketFilter) -> Result<Vec<writ_core::ticket::Ticket>, StoreError> {
        let (paged, at, id) = keyset(f.after.as_ref());
        let rows = sqlx::query(
            "SELECT doc FROM tickets WHERE ($1 = '' OR state = $1) AND ($3 = 0 OR created_at < $4 OR (created_at = $4 AND id > $5)) \
             ORDER BY created_at DESC, id LIMIT $2",
        )
        .bind(f.state.clone().unwrap_or_default())
        .bind(page_size("tickets", f.limit)?)
        .bind(paged)
        .bind(at)
        .bind(id)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| doc("ticket", r)).collect()
    }

    async fn triage_counts(&self) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n, COUNT(CASE WHEN triage_agreed = 1 THEN 1 END) AS agreed FROM tickets WHERE triage_agreed >= 0")
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)?;
        Ok((row.try_get::<i64, _>("n").map_err(db_err)? as u64, row.try_get::<i64, _>("agreed").map_err(db_err)? as u64))
    }

    async fn event_count(&self, kind: &str) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE kind = $1").bind(kind).fetch_one(&self.reader).await.map_err(db_err)?;
        Ok(row.try_get::<i64, _>("n").map_err(db_err)? as u64)
    }

    async fn audit_head(&self) -> Result<(u64, EventHash), StoreError> {
        self.head().await
    }

    async fn add_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        self.insert_checkpoint(cp).await
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.all_checkpoints().await
    }

    async fn close(&self) {
        SqlStore::close(self).await;
    }
}
