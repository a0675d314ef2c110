//! Read-side use-cases: the evidence chain of a request, lists, and the audit log.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use writ_core::audit::{sign_checkpoint, AuditEvent, Checkpoint};
use writ_core::grant::Grant;
use writ_core::identity::Identity;
use writ_core::ids::{RequestId, TargetId};
use writ_core::request::Request;
use writ_core::task::FulfilmentTask;
use writ_core::DomainError;
use writ_policy::AdminAction;

use crate::authz::{refusal, Directory};
use crate::facts::Parties;
use crate::ports::{Cursor, GrantFilter, Page, ReconcileRun, RequestFilter, RunFilter, RunState, TaskFilter};
use crate::service::PAGE;
use crate::{events, AppError, Writ};

/// The longest window the flow figures cover: a year.
pub const MAX_FLOW_WEEKS: u32 = 53;

/// See [`Writ::flow_figures`].
#[derive(Debug, Clone)]
pub struct FlowFigures {
    pub times: writ_core::flow::FlowTimes,
    /// Oldest first.
    pub weeks: Vec<writ_core::flow::Week>,
}

/// A page's limit: at least 1 (the server says its own maximum).
pub(crate) fn page_limit(limit: u32) -> Result<u32, AppError> {
    if limit == 0 {
        return Err(DomainError::invalid("limit", "must be at least 1").into());
    }
    Ok(limit)
}

/// `rows` read with a limit one above `limit`: a page of `limit` of them,
/// and a cursor when the one more shows the list goes on.
pub(crate) fn trimmed<T>(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Page<T> {
    if rows.len() <= limit as usize {
        return Page::last(rows);
    }
    rows.truncate(limit as usize);
    let next = rows.last().map(key);
    Page { items: rows, next }
}

/// Reading a list store page by store page for a use-case that keeps only
/// some of the rows (those the caller may see): the first store page is one
/// row more than the page asked for, and each next one twice the last, up to
/// [`PAGE`], so a list where most rows are kept costs one read, and one where
/// few are does not take a read per row.
struct Scan {
    /// The last row examined.
    after: Option<Cursor>,
    size: u32,
    exhausted: bool,
}

impl Scan {
    fn new(after: Option<Cursor>, limit: u32) -> Self {
        Self { after, size: limit.saturating_add(1).min(PAGE), exhausted: false }
    }

    /// How many rows to read next, unless the store has no more.
    fn next_size(&self) -> Option<u32> {
        (!self.exhausted).then_some(self.size)
    }

    /// Notes that a read of [`Scan::next_size`] rows returned `n`.
    fn read(&mut self, n: usize) {
        self.exhausted = n < self.size as usize;
        self.size = self.size.saturating_mul(2).min(PAGE);
    }

    /// A full page of `items`, the last kept one examined last: more may
    /// follow if the store page holds `more_read` rows after it, or the
    /// store was not exhausted.
    fn page<T>(self, items: Vec<T>, more_read: bool) -> Page<T> {
        let next = if more_read || !self.exhausted { self.after } else { None };
        Page { items, next }
    }
}

/// Everything known about one request: the aggregate (reviews, stages, decisions),
/// its fulfilment tasks, its grants and its audit events with their hashes.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub request: Request,
    pub tasks: Vec<FulfilmentTask>,
    pub grants: Vec<Grant>,
    pub events: Vec<AuditEvent>,
}

impl Writ {
    fn forbidden(actor: &Identity, action: &str, reason: &str) -> AppError {
        AppError::Forbidden { who: actor.id.to_string(), action: action.into(), reason: reason.into() }
    }

    /// The evidence chain of request `id`, if policy lets `actor` see it (`view`).
    pub async fn evidence(&self, actor: &Identity, id: RequestId) -> Result<Evidence, AppError> {
        let request = self.load_request(id).await?;
        if !self.can_view_request(actor, &request).await? {
            // Same answer as for a request that does not exist: ids are not probeable.
            return Err(AppError::NotFound { what: "request", id: id.to_string() });
        }
        let tasks = self.every_task(TaskFilter { request: Some(id), ..Default::default() }).await?;
        let grants = self.every_grant(GrantFilter { request: Some(id), ..Default::default() }).await?;
        let events = self.store.request_events(id).await?;
        Ok(Evidence { request, tasks, grants, events })
    }

    /// Every task matching `filter` (its cursor and limit aside), page by
    /// page: for a use-case that must see all of them.
    pub(crate) async fn every_task(&self, filter: TaskFilter) -> Result<Vec<FulfilmentTask>, AppError> {
        let mut all: Vec<FulfilmentTask> = Vec::new();
        loop {
            let page = self.store.tasks(&TaskFilter { after: all.last().map(Cursor::of_task), limit: PAGE, ..filter.clone() }).await?;
            let done = page.len() < PAGE as usize;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Every grant matching `filter` (its cursor and limit aside), page by page.
    pub(crate) async fn every_grant(&self, filter: GrantFilter) -> Result<Vec<Grant>, AppError> {
        let mut all: Vec<Grant> = Vec::new();
        loop {
            let page = self.store.grants(&GrantFilter { after: all.last().map(Cursor::of_grant), limit: PAGE, ..filter.clone() }).await?;
            let done = page.len() < PAGE as usize;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Every request matching `filter` (its cursor and limit aside), page by page.
    pub(crate) async fn every_request(&self, filter: RequestFilter) -> Result<Vec<Request>, AppError> {
        let mut all: Vec<Request> = Vec::new();
        loop {
            let page = self.store.requests(&RequestFilter { after: all.last().map(Cursor::of_request), limit: PAGE, ..filter.clone() }).await?;
            let done = page.len() < PAGE as usize;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// A page of the newest requests matching `filter` that policy lets
    /// `actor` see (`view`): up to `filter.limit` of them, after
    /// `filter.after`. Requests the caller may not see are read and skipped,
    /// page after page, so the page is short only where the list ends.
    pub async fn list_requests(&self, actor: &Identity, filter: RequestFilter) -> Result<Page<Request>, AppError> {
        self.visible_requests(actor, filter, |_| true).await
    }

    /// [`Writ::list_requests`], keeping only the requests `keep` admits too.
    pub(crate) async fn visible_requests(&self, actor: &Identity, filter: RequestFilter, keep: impl Fn(&Request) -> bool) -> Result<Page<Request>, AppError> {
        let limit = page_limit(filter.limit)?;
        let mut scan = Scan::new(filter.after.clone(), limit);
        let mut dir = Directory::default();
        let mut found = Vec::new();
        while let Some(size) = scan.next_size() {
            let rows = self.store.requests(&RequestFilter { after: scan.after.clone(), limit: size, ..filter.clone() }).await?;
            scan.read(rows.len());
            let mut rows = rows.into_iter().peekable();
            while let Some(r) = rows.next() {
                scan.after = Some(Cursor::of_request(&r));
                if keep(&r) && self.request_visible_in(&mut dir, actor, &r).await? {
                    found.push(r);
                    if found.len() == limit as usize {
                        return Ok(scan.page(found, rows.peek().is_some()));
                    }
                }
            }
        }
        Ok(Page::last(found))
    }

    /// A page of the pending requests the caller could review now: an open
    /// stage's rule (or its escalation) admits them, they have not reviewed it yet, it is neither
    /// theirs nor for them, and policy lets them see it. Newest first; every
    /// pending request is considered, page after page, until `limit` are
    /// found or none is left.
    pub async fn review_queue(&self, actor: &Identity, limit: u32, after: Option<Cursor>) -> Result<Page<Request>, AppError> {
        let limit = page_limit(limit)?;
        let pending = RequestFilter { state: Some(writ_core::request::RequestState::Pending), ..Default::default() };
        let mut scan = Scan::new(after, limit);
        let mut dir = Directory::default();
        let mut queue = Vec::new();
        while let Some(size) = scan.next_size() {
            let rows = self.store.requests(&RequestFilter { after: scan.after.clone(), limit: size, ..pending.clone() }).await?;
            scan.read(rows.len());
            let mut rows = rows.into_iter().peekable();
            while let Some(r) = rows.next() {
                scan.after = Some(Cursor::of_request(&r));
                if r.requester() == &actor.id || r.subject() == &actor.id || r.reviews().iter().any(|rv| rv.reviewer == actor.id) {
                    continue;
                }
                let (subject, manager) = self.parties_of(&mut dir, &r).await?;
                // The stage's rule, or its escalation, admits the actor.
                let admitted = r.tracks().iter().any(|t| t.current().is_some_and(|i| t.stages[i].admits(actor, &t.owners, manager.as_ref())));
                let parties = Parties { request: &r, subject: subject.as_ref(), subject_manager: manager.as_ref() };
                if admitted && self.request_visible(actor, &parties) {
                    queue.push(r);
                    if queue.len() == limit as usize {
                        return Ok(scan.page(queue, rows.peek().is_some()));
                    }
                }
            }
        }
        Ok(Page::last(queue))
    }

    /// A page of the fulfilment tasks matching `filter` that policy lets
    /// `actor` see (`view` on the task's entitlement; its fulfiller group are
    /// among the people involved), oldest first.
    pub async fn list_tasks(&self, actor: &Identity, filter: TaskFilter) -> Result<Page<FulfilmentTask>, AppError> {
        let limit = page_limit(filter.limit)?;
        let mut scan = Scan::new(filter.after.clone(), limit);
        let mut requests: HashMap<RequestId, Option<Request>> = HashMap::new();
        let mut dir = Directory::default();
        let mut visible = Vec::new();
        while let Some(size) = scan.next_size() {
            let rows = self.store.tasks(&TaskFilter { after: scan.after.clone(), limit: size, ..filter.clone() }).await?;
            scan.read(rows.len());
            let mut rows = rows.into_iter().peekable();
            while let Some(t) = rows.next() {
                scan.after = Some(Cursor::of_task(&t));
                if let Entry::Vacant(slot) = requests.entry(t.request_id()) {
                    slot.insert(self.store.request(t.request_id()).await?);
                }
                let Some(Some(req)) = requests.get(&t.request_id()) else { continue };
                if self.task_visible_in(&mut dir, actor, req, &t).await? {
                    visible.push(t);
                    if visible.len() == limit as usize {
                        return Ok(scan.page(visible, rows.peek().is_some()));
                    }
                }
            }
        }
        Ok(Page::last(visible))
    }

    /// A page of grants, by expiry. Everyone may list their own; listing
    /// another identity's, or everyone's, takes `read_audit`: the audit log
    /// records every grant, so whoever may read it sees them all anyway.
    /// Without a subject filter, the caller gets everyone's grants if policy
    /// allows that, else their own.
    pub async fn list_grants(&self, actor: &Identity, mut filter: GrantFilter) -> Result<Page<Grant>, AppError> {
        let limit = page_limit(filter.limit)?;
        let own = filter.subject.as_ref() == Some(&actor.id);
        if !own {
            let d = self.admin_decision(actor, AdminAction::ReadAudit);
            if !d.allowed {
                if filter.subject.is_some() {
                    let reason = format!("that takes `read_audit`, and {}", refusal(&d));
                    return Err(Self::forbidden(actor, "list grants of another identity", &reason));
                }
                filter.subject = Some(actor.id.clone());
            }
        }
        let rows = self.store.grants(&GrantFilter { limit: limit.saturating_add(1), ..filter }).await?;
        Ok(trimmed(rows, limit, Cursor::of_grant))
    }

    /// When a removal that started then became overdue: a grant revoking
    /// since this time or earlier is overdue now (see [`Writ::is_overdue`]).
    pub fn removal_overdue_since(&self) -> DateTime<Utc> {
        self.clock.now() - self.settings.removal_overdue_after
    }

    /// A page of finished reconciliation runs, newest first, if policy allows
    /// `read_audit` (a report shows who holds what, everywhere).
    pub async fn list_runs(&self, actor: &Identity, filter: RunFilter) -> Result<Page<ReconcileRun>, AppError> {
        self.authorize(actor, AdminAction::ReadAudit, "read reconciliation runs")?;
        let limit = page_limit(filter.limit)?;
        let rows = self.store.runs(&RunFilter { limit: limit.saturating_add(1), ..filter }).await?;
        Ok(trimmed(rows, limit, Cursor::of_run))
    }

    /// The newest run of `target` that finished (`done`), however many failed
    /// or are under way after it: read page by page until one is found.
    pub async fn last_finished_run(&self, target: &TargetId) -> Result<Option<ReconcileRun>, AppError> {
        let mut after = None;
        loop {
            let page = self.store.runs(&RunFilter { target: Some(target.clone()), after, limit: PAGE }).await?;
            if let Some(done) = page.iter().find(|r| r.state == RunState::Done) {
                return Ok(Some(done.clone()));
            }
            if page.len() < PAGE as usize {
                return Ok(None);
            }
            after = page.last().map(Cursor::of_run);
        }
    }

    /// Time to approve, provision and revoke for the requests whose steps
    /// fell in the last `weeks` whole weeks, and the same week by week, if
    /// policy allows `read_audit`. Read from the audit log's event times, so
    /// each figure names the requests behind it.
    pub async fn flow_figures(&self, actor: &Identity, weeks: u32) -> Result<FlowFigures, AppError> {
        use writ_core::flow::{self, FlowEvent, Step};
        self.authorize(actor, AdminAction::ReadAudit, "read the flow times")?;
        if !(1..=MAX_FLOW_WEEKS).contains(&weeks) {
            return Err(DomainError::invalid("weeks", format!("must be from 1 to {MAX_FLOW_WEEKS}, not {weeks}")).into());
        }
        let now = self.clock.now();
        let step_of = |kind: &str| match kind {
            events::REQUEST_SUBMITTED => Some(Step::Submitted),
            events::REQUEST_APPROVED => Some(Step::Approved),
            events::REQUEST_DENIED => Some(Step::Denied),
            events::REQUEST_LAPSED | events::REQUEST_CANCELLED => Some(Step::Dropped),
            events::REQUEST_ACTIVATED | events::REQUEST_PARTIALLY_FULFILLED => Some(Step::Provisioned),
            events::GRANT_EXPIRING | events::GRANT_REVOKING => Some(Step::RemovalStarted),
            events::GRANT_REMOVAL_VERIFIED => Some(Step::RemovalVerified),
            events::BREAK_GLASS_USED => Some(Step::BreakGlass),
            _ => None,
        };
        let kinds = [
            events::REQUEST_SUBMITTED,
            events::REQUEST_APPROVED,
            events::REQUEST_DENIED,
            events::REQUEST_LAPSED,
            events::REQUEST_CANCELLED,
            events::REQUEST_ACTIVATED,
            events::REQUEST_PARTIALLY_FULFILLED,
            events::GRANT_EXPIRING,
            events::GRANT_REVOKING,
            events::GRANT_REMOVAL_VERIFIED,
            events::BREAK_GLASS_USED,
        ];
        let rows = self.store.request_event_times(&kinds, flow::window_start(now, weeks)).await?;
        let events: Vec<FlowEvent> = rows.into_iter().filter_map(|(request, kind, at)| step_of(&kind).map(|step| FlowEvent { request, step, at })).collect();
        Ok(FlowFigures { times: flow::flow_times(&events, 5), weeks: flow::weekly(&events, now, weeks) })
    }

    /// A page of the audit log, in `seq` order after `after_seq`, if policy
    /// allows `read_audit`; the next page starts after the `seq` it gives.
    pub async fn audit_page(&self, actor: &Identity, after_seq: u64, limit: u32) -> Result<Page<AuditEvent, u64>, AppError> {
        self.authorize(actor, AdminAction::ReadAudit, "read the audit log")?;
        let limit = page_limit(limit)?;
        let mut events = self.store.audit_events(after_seq, limit.saturating_add(1)).await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next = if more { events.last().map(|e| e.seq) } else { None };
        Ok(Page { items: events, next })
    }

    /// Every signed checkpoint, if policy allows `read_audit`.
    pub async fn audit_checkpoints(&self, actor: &Identity) -> Result<Vec<Checkpoint>, AppError> {
        self.authorize(actor, AdminAction::ReadAudit, "read the audit log")?;
        Ok(self.store.checkpoints().await?)
    }

    /// Signs the current head of the log, unless nothing was appended since the last
    /// checkpoint. Returns the new checkpoint, if one was made.
    pub async fn checkpoint(&self, key: &ed25519_dalek::SigningKey) -> Result<Option<Checkpoint>, AppError> {
        let (size, head) = self.store.audit_head().await?;
        let last = self.store.checkpoints().await?.into_iter().map(|c| c.size).max();
        if size == 0 || last == Some(size) {
            return Ok(None);
        }
        let cp = sign_checkpoint(key, size, head, self.clock.now());
        self.store.add_checkpoint(&cp).await?;
        Ok(Some(cp))
    }
}
