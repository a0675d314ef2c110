//! The write path: one use-case's change, its audit events included, in one
//! transaction, guarded by version checks.

use sqlx::{Any, Row, Transaction};
use writ_app::ports::{Change, Delivery, HoldingsGuard, ReconcileRun, RunRecord, StoreError, TokenWrite, Versioned, DELIVERY_MEMORY};
use writ_core::audit::{seal, AuditEvent, EventHash, NewEvent};
use writ_core::grant::Drift;

use crate::rows::{millis, to_doc};
use crate::{db_err, SqlStore};

type Tx<'a> = Transaction<'a, Any>;

/// Audit events per INSERT statement: 8 parameters each stays far below SQLite's
/// and PostgreSQL's limits on bound parameters.
const EVENTS_PER_INSERT: usize = 200;

/// Columns of one `reconcile_observations` row.
const OBSERVATION_COLUMNS: usize = 4;

/// Observations per INSERT statement: a run may carry tens of thousands, and
/// one statement per row would be as many round trips on PostgreSQL.
const OBSERVATIONS_PER_INSERT: usize = 500;

// Bound parameters per statement stay within SQLite's limit (32,766 since
// 3.32), the lower of the two (PostgreSQL's is 65,535).
const _: () = assert!(EVENTS_PER_INSERT * 8 <= 32_766 && OBSERVATIONS_PER_INSERT * OBSERVATION_COLUMNS <= 32_766);

/// Turns a failed CAS into a typed conflict.
fn check_one(rows: u64, what: &'static str, id: String) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::VersionConflict { what, id })
    }
}

pub(crate) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).expect("versions and sequence numbers stay below 2^63")
}

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Null,
}

/// What a statement's outcome must be for the change to stand.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// Anything.
    Done,
    /// An INSERT of a new aggregate: a unique violation is a `Duplicate`.
    Inserted { what: &'static str },
    /// A compare-and-swap UPDATE: anything but one row is a `VersionConflict`.
    OneRow { what: &'static str },
}

/// One statement of a write plan, with `$n` placeholders. Each backend's
/// executor runs the same plan, so the SQL of a change is written once.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub sql: String,
    pub params: Vec<Param>,
    pub expect: Expect,
    /// The aggregate's id, for errors.
    pub id: String,
}

impl Stmt {
    pub(crate) fn new(sql: String, params: Vec<Param>) -> Self {
        Stmt { sql, params, expect: Expect::Done, id: String::new() }
    }

    /// Whether a statement that touched `rows` rows keeps the change valid.
    pub(crate) fn check_rows(&self, rows: u64) -> Result<(), StoreError> {
        match self.expect {
            Expect::OneRow { what } => check_one(rows, what, self.id.clone()),
            _ => Ok(()),
        }
    }

    /// The error for this statement breaking a unique constraint, when that has
    /// a meaning of its own (inserting an aggregate that exists).
    pub(crate) fn duplicate(&self) -> Option<StoreError> {
        match self.expect {
            Expect::Inserted { what } => Some(StoreError::Duplicate { what, id: self.id.clone() }),
            _ => None,
        }
    }
}

/// Bumps a subject's holdings guard from the version the change read: a new
/// row from 0, else an update only from that version (one row, or a conflict).
fn guard_stmt(guard: &HoldingsGuard) -> Stmt {
    let from = i64_of(guard.version);
    Stmt {
        sql: "INSERT INTO holdings_guards (subject, version) VALUES ($1, $2) \
              ON CONFLICT (subject) DO UPDATE SET version = excluded.version WHERE holdings_guards.version = $3"
            .into(),
        params: vec![Param::Text(guard.subject.to_string()), Param::Int(from + 1), Param::Int(from)],
        expect: Expect::OneRow { what: HoldingsGuard::CONFLICT },
        id: guard.subject.to_string(),
    }
}

/// "Not yet" and "never" in the `tokens` table's time columns (no NULLs: a
/// parameter is bound as text or a number, and PostgreSQL types a NULL).
pub(crate) const NOT_YET: i64 = 0;
pub(crate) const NEVER: i64 = i64::MAX;

/// A token issued (an INSERT: a duplicate id or hash is a `Duplicate`), or a
/// transition compared-and-swapped on its version. Only revocation changes a
/// stored token; `last_used_at` is written outside changes.
fn token_stmt(w: &TokenWrite) -> Stmt {
    match w {
        TokenWrite::Issue { token: t, hash, proof } => Stmt {
            sql: "INSERT INTO tokens (id, hash, identity_id, owner, name, scope, created_at, expires_at, revoked_at, revoked_by, revoke_reason, last_used_at, version, created_by, sign_in_proof) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                .into(),
            params: vec![
                Param::Text(t.id.to_string()),
                Param::Text(hash.clone()),
                Param::Text(t.identity.to_string()),
                Param::Text(t.owner.to_string()),
                Param::Text(t.name.clone()),
                Param::Text(t.scope.map_or("", |s| s.as_str()).to_owned()),
                Param::Int(millis(t.created_at)),
                Param::Int(t.expires_at.map_or(NEVER, millis)),
                Param::Int(t.revoked.as_ref().map_or(NOT_YET, |r| millis(r.at))),
                Param::Text(t.revoked.as_ref().map_or(String::new(), |r| r.by.clone())),
                Param::Text(t.revoked.as_ref().map_or(String::new(), |r| r.reason.clone())),
                Param::Int(t.last_used_at.map_or(NOT_YET, millis)),
                Param::Int(i64_of(t.version)),
                Param::Text(t.created_by.clone()),
                Param::Text(proof.clone().unwrap_or_default()),
            ],
            expect: Expect::Inserted { what: "token" },
            id: t.id.to_string(),
        },
        TokenWrite::Update(v) => {
            let t = &v.value;
            Stmt {
                sql: "UPDATE tokens SET revoked_at = $2, revoked_by = $3, revoke_reason = $4, version = $5 WHERE id = $1 AND version = $6".into(),
                params: vec![
                    Param::Text(t.id.to_string()),
                    Param::Int(t.revoked.as_ref().map_or(NOT_YET, |r| millis(r.at))),
                    Param::Text(t.revoked.as_ref().map_or(String::new(), |r| r.by.clone())),
                    Param::Text(t.revoked.as_ref().map_or(String::new(), |r| r.reason.clone())),
                    Param::Int(i64_of(t.version)),
                    Param::Int(i64_of(v.expected_version.unwrap_or(0))),
                ],
                expect: Expect::OneRow { what: "token" },
                id: t.id.to_string(),
            }
        }
    }
}

/// The statement that opens every write transaction. It locks the audit head
/// row: on PostgreSQL that serialises appends to the chain; on SQLite it takes
/// the write lock at once, so a transaction never has to upgrade a read.
pub(crate) const LOCK_HEAD: &str = "UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash";

pub(crate) fn head_of(seq: i64, hash: &str) -> Result<(u64, EventHash), StoreError> {
    let hash = hash.parse().map_err(|_| StoreError::Corrupt { what: "audit head", detail: "bad hash".into() })?;
    Ok((seq as u64, hash))
}

/// Everything `change` writes after the head was locked at `head`: aggregates,
/// the sealed events and the new head. Returns the statements and the events.
pub(crate) fn plan(change: Change, head: (u64, EventHash)) -> (Vec<Stmt>, Vec<AuditEvent>) {
    let (mut stmts, sealed, head) = plan_body(change, head);
    stmts.push(head_update(head));
    (stmts, sealed)
}

/// The head row's update to `head`: the last statement of a transaction that appended.
pub(crate) fn head_update(head: (u64, EventHash)) -> Stmt {
    Stmt::new("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1".into(), vec![Param::Int(i64_of(head.0)), Param::Text(head.1.to_string())])
}

/// [`plan`] without the head's update: the statements, the sealed events and
/// the head after them.
pub(crate) fn plan_body(change: Change, head: (u64, EventHash)) -> (Vec<Stmt>, Vec<AuditEvent>, (u64, EventHash)) {
    let (mut stmts, events) = plan_rows(change);
    let (sealed, head) = seal_all(events, head);
    stmts.extend(event_inserts(&sealed));
    (stmts, sealed, head)
}

/// Everything `change` writes but its audit events (aggregates, guards, jobs,
/// runs), and the events, still unsealed. The statements do not depend on the
/// head, so a writer that commits several changes in one transaction can plan
/// each once and seal every event of the group at its end.
pub(crate) fn plan_rows(change: Change) -> (Vec<Stmt>, Vec<NewEvent>) {
    let runs: usize = change.runs.iter().map(|r| 2 + r.observations.len() / OBSERVATIONS_PER_INSERT).sum();
    let mut stmts = Vec::with_capacity(5 + change.events.len() / EVENTS_PER_INSERT + runs);
    let at = change.events.first().map_or(0, |e| millis(e.at));
    for i in &change.identities {
        stmts.push(doc_stmt(identity_row(i, at)));
        membership_stmts(&i.value, &mut stmts);
    }
    crate::scim::stmts(&change.scim, &mut stmts);
    stmts.extend(change.requests.iter().map(request_row).map(doc_stmt));
    stmts.extend(change.tasks.iter().map(task_row).map(doc_stmt));
    stmts.extend(change.grants.iter().map(grant_row).map(doc_stmt));
    stmts.extend(change.tickets.iter().map(ticket_row).map(doc_stmt));
    stmts.extend(change.guards.iter().map(guard_stmt));
    stmts.extend(change.tokens.iter().map(token_stmt));
    // Queuing a job (again) releases any claim on it.
    for job in &change.jobs {
        stmts.push(Stmt::new(
            "INSERT INTO jobs (id, request_id, due_at, claimed_until, claimed_by, doc, queue) VALUES ($1, $2, $3, 0, '', $4, $5) \
             ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, claimed_until = 0, claimed_by = '', doc = excluded.doc"
                .into(),
            vec![
                Param::Text(job.id.clone()),
                Param::Text(job.request.map_or(String::new(), |r| r.to_string())),
                Param::Int(millis(job.due_at)),
                Param::Text(to_doc(job)),
                Param::Text(job.queue.clone().unwrap_or_default()),
            ],
        ));
    }
    for id in &change.finished_jobs {
        stmts.push(Stmt::new("DELETE FROM jobs WHERE id = $1".into(), vec![Param::Text(id.clone())]));
    }
    for record in &change.runs {
        run_stmts(record, &mut stmts);
    }
    for d in &change.deliveries {
        delivery_stmts(d, &mut stmts);
    }
    (stmts, change.events)
}

/// Seals `events` in order after `head`: the sealed events and the new head.
pub(crate) fn seal_all(events: Vec<NewEvent>, head: (u64, EventHash)) -> (Vec<AuditEvent>, (u64, EventHash)) {
    let (mut seq, mut prev) = head;
    let mut sealed = Vec::with_capacity(events.len());
    for ev in events {
        seq += 1;
        let e = seal(seq, prev, ev);
        prev = e.hash;
        sealed.push(e);
    }
    (sealed, (seq, prev))
}

/// The INSERTs of sealed events: one multi-row statement per chunk (on sqlx
/// each statement is a round trip to the database, or on SQLite to its
/// connection thread, so fewer is faster).
pub(crate) fn event_inserts(sealed: &[AuditEvent]) -> Vec<Stmt> {
    let mut stmts = Vec::with_capacity(sealed.len().div_ceil(EVENTS_PER_INSERT));
    for chunk in sealed.chunks(EVENTS_PER_INSERT) {
        let sql = format!("INSERT INTO audit_events (seq, at, actor, kind, request_id, payload, prev_hash, hash) VALUES {}", values_list(chunk.len(), 8));
        let mut params = Vec::with_capacity(chunk.len() * 8);
        for e in chunk {
            params.extend([
                Param::Int(i64_of(e.seq)),
                Param::Int(millis(e.at)),
                Param::Text(e.actor.clone()),
                Param::Text(e.kind.clone()),
                e.request_id.clone().map_or(Param::Null, Param::Text),
                Param::Text(e.payload.clone()),
                Param::Text(e.prev_hash.to_string()),
                Param::Text(e.hash.to_string()),
            ]);
        }
        stmts.push(Stmt::new(sql, params));
    }
    stmts
}

/// `($1, …, $cols), ($cols+1, …), …` for `rows` rows: the VALUES of a
/// multi-row INSERT.
pub(crate) fn values_list(rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 7);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * cols + c + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// A delivery's INSERT (a replay is a `Duplicate`), after forgetting the
/// deliveries of its source older than [`DELIVERY_MEMORY`].
fn delivery_stmts(d: &Delivery, stmts: &mut Vec<Stmt>) {
    let forget_before = millis(d.at - DELIVERY_MEMORY);
    stmts.push(Stmt::new(
        "DELETE FROM deliveries WHERE source = $1 AND received_at < $2".into(),
        vec![Param::Text(d.source.clone()), Param::Int(forget_before)],
    ));
    stmts.push(Stmt {
        sql: "INSERT INTO deliveries (source, delivery_id, received_at) VALUES ($1, $2, $3)".into(),
        params: vec![Param::Text(d.source.clone()), Param::Text(d.id.clone()), Param::Int(millis(d.at))],
        expect: Expect::Inserted { what: "delivery" },
        id: format!("{}:{}", d.source, d.id),
    });
}

/// A finished reconciliation run: its row (a duplicate id is a `Duplicate`),
/// then its observations, numbered in order, in multi-row INSERTs. Like the
/// audit events' batches, these need only succeed: the run's own INSERT comes
/// first and already refuses a run that exists.
fn run_stmts(record: &RunRecord, stmts: &mut Vec<Stmt>) {
    stmts.push(doc_stmt(run_row(&record.run)));
    let run_id = record.run.id.to_string();
    for (c, chunk) in record.observations.chunks(OBSERVATIONS_PER_INSERT).enumerate() {
        let sql = format!("INSERT INTO reconcile_observations (run_id, seq, situation, doc) VALUES {}", values_list(chunk.len(), OBSERVATION_COLUMNS));
        let mut params = Vec::with_capacity(chunk.len() * OBSERVATION_COLUMNS);
        for (i, o) in chunk.iter().enumerate() {
            let seq = c * OBSERVATIONS_PER_INSERT + i;
            params.extend([
                Param::Text(run_id.clone()),
                Param::Int(i64::try_from(seq).expect("a run's observations fit in memory")),
                Param::Text(o.observation.situation.as_str().to_owned()),
                Param::Text(to_doc(o)),
            ]);
        }
        stmts.push(Stmt::new(sql, params));
    }
}

impl SqlStore {
    pub(crate) async fn commit_change(&self, change: Change) -> Result<Vec<AuditEvent>, StoreError> {
        if let Some(writer) = &self.native_writer {
            return writer.commit(change).await;
        }
        if let Some(writer) = &self.pg_writer {
            return writer.commit(change).await;
        }
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let head = sqlx::query(LOCK_HEAD).fetch_one(&mut *tx).await.map_err(db_err)?;
        let head = head_of(head.try_get("seq").map_err(db_err)?, &head.try_get::<String, _>("hash").map_err(db_err)?)?;
        let (stmts, sealed) = plan(change, head);
        for stmt in &stmts {
            execute(&mut tx, stmt).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(sealed)
    }
}

pub(crate) async fn execute(tx: &mut Tx<'_>, stmt: &Stmt) -> Result<(), StoreError> {
    let mut q = sqlx::query(&stmt.sql);
    for p in &stmt.params {
        q = match p {
            Param::Text(t) => q.bind(t.as_str()),
            Param::Int(i) => q.bind(*i),
            Param::Null => q.bind(None::<String>),
        };
    }
    match q.execute(&mut **tx).await {
        Ok(done) => stmt.check_rows(done.rows_affected()),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(stmt.duplicate().unwrap_or_else(|| StoreError::Database(d.to_string()))),
        Err(e) => Err(db_err(e)),
    }
}

/// A value for one column.
pub(crate) enum Col {
    Text(String),
    Int(i64),
}

/// One aggregate row: its table, key, version, JSON document and the columns that
/// queries filter on. Table and column names are constants of this crate, never
/// user input, so building the SQL from them is safe.
pub(crate) struct DocRow {
    pub(crate) table: &'static str,
    pub(crate) what: &'static str,
    pub(crate) id: String,
    pub(crate) version: u64,
    pub(crate) expected: Option<u64>,
    pub(crate) doc: String,
    pub(crate) columns: Vec<(&'static str, Col)>,
}

/// Inserts a new aggregate, or updates it if it is still at the version it was
/// loaded at (compare-and-swap); a lost race is a `VersionConflict`.
pub(crate) fn doc_stmt(row: DocRow) -> Stmt {
    let names: Vec<&str> = row.columns.iter().map(|(n, _)| *n).collect();
    let sql = match row.expected {
        None => {
            let marks: Vec<String> = (4..4 + names.len()).map(|i| format!("${i}")).collect();
            format!("INSERT INTO {} (id, version, doc, {}) VALUES ($1, $2, $3, {})", row.table, names.join(", "), marks.join(", "))
        }
        Some(_) => {
            let sets: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{n} = ${}", i + 4)).collect();
            let k = names.len() + 4;
            format!("UPDATE {} SET version = $2, doc = $3, {} WHERE id = $1 AND version = ${k}", row.table, sets.join(", "))
        }
    };
    let mut params = vec![Param::Text(row.id.clone()), Param::Int(i64_of(row.version)), Param::Text(row.doc)];
    params.extend(row.columns.into_iter().map(|(_, c)| match c {
        Col::Text(t) => Param::Text(t),
        Col::Int(i) => Param::Int(i),
    }));
    let expect = match row.expected {
        None => Expect::Inserted { what: row.what },
        Some(expected) => {
            params.push(Param::Int(i64_of(expected)));
            Expect::OneRow { what: row.what }
        }
    };
    Stmt { sql, params, expect, id: row.id }
}

/// An identity carries no version of its own: it is the stored one plus one.
fn identity_row(i: &Versioned<writ_core::identity::Identity>, at: i64) -> DocRow {
    DocRow {
        table: "identities",
        what: "identity",
        id: i.value.id.to_string(),
        version: i.expected_version.map_or(1, |v| v + 1),
        expected: i.expected_version,
        doc: to_doc(&i.value),
        columns: vec![
            ("updated_at", Col::Int(at)),
            ("kind", Col::Text(i.value.kind.as_str().to_owned())),
            ("owner", Col::Text(i.value.owner.as_ref().map_or(String::new(), |o| o.to_string()))),
            ("owner_left_due", Col::Int(i.value.owner_left.as_ref().map_or(0, |f| millis(f.due_at)))),
        ],
    }
}

/// Rewrites `identity_groups` for one identity written: the table is the
/// identities' `groups`, indexed by group.
fn membership_stmts(i: &writ_core::identity::Identity, stmts: &mut Vec<Stmt>) {
    stmts.push(Stmt::new("DELETE FROM identity_groups WHERE identity_id = $1".into(), vec![Param::Text(i.id.to_string())]));
    let groups: Vec<&writ_core::ids::GroupId> = i.groups.iter().collect();
    for chunk in groups.chunks(500) {
        let sql = format!("INSERT INTO identity_groups (group_id, identity_id) VALUES {}", values_list(chunk.len(), 2));
        let params = chunk.iter().flat_map(|g| [Param::Text(g.to_string()), Param::Text(i.id.to_string())]).collect();
        stmts.push(Stmt::new(sql, params));
    }
}

fn request_row(r: &Versioned<writ_core::request::Request>) -> DocRow {
    let v = &r.value;
    DocRow {
        table: "requests",
        what: "request",
        id: v.id().to_string(),
        version: v.version(),
        expected: r.expected_version,
        doc: to_doc(v),
        columns: vec![
            ("state", Col::Text(v.state().as_str().to_owned())),
            ("requester", Col::Text(v.requester().to_string())),
            ("subject", Col::Text(v.subject().to_string())),
            ("created_at", Col::Int(millis(v.created_at()))),
            ("lapses_at", Col::Int(millis(v.lapses_at()))),
            ("break_glass_open", Col::Int(i64::from(v.post_review().is_some_and(|r| r.is_open())))),
            ("review_exception_at", Col::Int(v.post_review().and_then(|r| r.exception_from()).map_or(i64::MAX, millis))),
            ("chase_at", Col::Int(v.next_chase_at().map_or(i64::MAX, millis))),
            ("sla_due_at", Col::Int(v.sla_due_at().map_or(i64::MAX, millis))),
        ],
    }
}

fn task_row(t: &Versioned<writ_core::task::FulfilmentTask>) -> DocRow {
    let v = &t.value;
    DocRow {
        table: "tasks",
        what: "task",
        id: v.id().to_string(),
        version: v.version(),
        expected: t.expected_version,
        doc: to_doc(v),
        columns: vec![
            ("request_id", Col::Text(v.request_id().to_string())),
            ("is_open", Col::Int(i64::from(v.is_open()))),
            ("created_at", Col::Int(millis(v.created_at()))),
        ],
    }
}

fn ticket_row(t: &Versioned<writ_core::ticket::Ticket>) -> DocRow {
    let v = &t.value;
    DocRow {
        table: "tickets",
        what: "ticket",
        id: v.id().to_string(),
        version: v.version(),
        expected: t.expected_version,
        doc: to_doc(v),
        columns: vec![
            ("source", Col::Text(v.arrival().source.clone())),
            ("external_ref", Col::Text(v.arrival().external_ref.clone())),
            ("state", Col::Text(v.state().as_str().to_owned())),
            ("created_at", Col::Int(millis(v.created_at()))),
            ("triage_agreed", Col::Int(v.triage_choice().map_or(-1, |c| i64::from(c.agreed)))),
        ],
    }
}

fn grant_row(g: &Versioned<writ_core::grant::Grant>) -> DocRow {
    let v = &g.value;
    DocRow {
        table: "grants",
        what: "grant",
        id: v.id().to_string(),
        version: v.version(),
        expected: g.expected_version,
        doc: to_doc(v),
        columns: vec![
            ("request_id", Col::Text(v.request_id().to_string())),
            ("subject", Col::Text(v.subject().to_string())),
            ("is_active", Col::Int(i64::from(v.state().holds_access()))),
            ("state", Col::Text(v.state().as_str().to_owned())),
            ("expires_at", Col::Int(millis(v.expires_at()))),
            ("target", Col::Text(v.entitlement().target().to_string())),
            ("entitlement", Col::Text(v.entitlement().to_string())),
            ("drift", Col::Text(v.drift().map_or("", Drift::as_str).to_owned())),
            ("removal_since", Col::Int(v.removal_since().map_or(0, millis))),
        ],
    }
}

/// A run is written once and never updated: always an insert at version 0.
fn run_row(r: &ReconcileRun) -> DocRow {
    DocRow {
        table: "reconcile_runs",
        what: "reconciliation run",
        id: r.id.to_string(),
        version: 0,
        expected: None,
        doc: to_doc(r),
        columns: vec![("target", Col::Text(r.target.to_string())), ("started_at", Col::Int(millis(r.started_at)))],
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use writ_app::ports::{RunObservation, RunState};
    use writ_core::ids::{RunId, TargetId};
    use writ_core::reconcile::{Counts, Observation, Situation};

    use super::*;

    #[test]
    fn values_lists_number_parameters_row_by_row() {
        assert_eq!(values_list(1, 2), "($1, $2)");
        assert_eq!(values_list(3, 2), "($1, $2), ($3, $4), ($5, $6)");
    }

    #[test]
    fn a_run_is_one_insert_and_its_observations_a_few_batches_numbered_in_order() {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let observation = |i: usize| RunObservation {
            observation: Observation {
                situation: Situation::Unapproved,
                account: format!("a{i}"),
                resource: "r".into(),
                identity: None,
                grant: None,
                live_detail: Default::default(),
                expected: Default::default(),
                note: String::new(),
            },
            action: None,
        };
        let run = ReconcileRun {
            id: RunId::from_uuid(uuid::Uuid::from_u128(1)),
            target: TargetId::parse("pg-prod").unwrap(),
            by: "schedule".into(),
            started_at: at,
            finished_at: at,
            state: RunState::Done,
            live_rows: 0,
            counts: Counts::default(),
            match_rate: 1.0,
            reactions: Default::default(),
            actions: Default::default(),
            error: None,
        };
        let record = RunRecord { run, observations: (0..1_201).map(observation).collect() };
        let mut stmts = Vec::new();
        run_stmts(&record, &mut stmts);
        assert_eq!(stmts.len(), 1 + 3, "the run, then 500 + 500 + 201 observations");
        assert!(matches!(stmts[0].expect, Expect::Inserted { what: "reconciliation run" }) && stmts[0].sql.starts_with("INSERT INTO reconcile_runs"));
        let rows: Vec<usize> = stmts[1..].iter().map(|s| s.params.len() / OBSERVATION_COLUMNS).collect();
        assert_eq!(rows, vec![500, 500, 201]);
        let seqs: Vec<i64> = stmts[1..]
            .iter()
            .flat_map(|s| {
                s.params.chunks(OBSERVATION_COLUMNS).map(|row| match row[1] {
                    Param::Int(n) => n,
                    _ => panic!("seq"),
                })
            })
            .collect();
        assert_eq!(seqs, (0..1_201).collect::<Vec<i64>>());
        for s in &stmts[1..] {
            assert!(matches!(s.expect, Expect::Done));
            assert!(s.sql.ends_with(&format!("${})", s.params.len())), "as many placeholders as parameters");
        }
    }
}
