//! Group commit of changes: every grant and revoke of a connector goes
//! through one task, which applies in one transaction whatever queued up
//! while the previous transaction ran (up to [`MAX_BATCH`]).
//!
//! Why: on a durable target each commit waits for a flush of the target's
//! WAL, and a `REVOKE` invalidates every backend's role cache; a burst of
//! removals (10,000 grants ending in the same minute) paid both once per
//! grant. A lone change is a batch of one, so there is one way a change is
//! made, and it has the same checks, locks and answers as before:
//!
//! - The transaction takes the advisory lock of every account in it, in key
//!   order (so batches of several nodes never wait on each other in a cycle),
//!   then reads every (account, role) pair in one query, then plans each
//!   change from its own row. A refusal (no such role, Writ's own role, a
//!   superuser as service account, ...) answers that change only.
//! - A batch holds at most one change per service account (or other
//!   non-human account): such a change's plan depends on the account's other
//!   memberships (the last revoke makes it `NOLOGIN`; a grant moves its
//!   `VALID UNTIL`), which another change to it would alter. A person's
//!   account is never changed itself, so a batch may hold several changes
//!   of one person, of different roles (a leaver's 100 grants go at once).
//!   Later changes wait for the next batch, in order.
//! - If the batch's statements fail as a whole with a permanent error (one
//!   `GRANT` the target refuses), nothing of it is committed and each half is
//!   applied again, down to the change at fault, which fails alone. A
//!   transient error (target down, timeout) answers every change of the
//!   batch: each job retries.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use writ_app::ports::{Applied, ConnectorError, Order};
use writ_core::identity::IdentityKind;

use super::{exec_raw, quote_ident, shown, Check, Inner, ValidUntil};

/// The most changes one transaction applies.
const MAX_BATCH: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Grant,
    Revoke,
}

impl Kind {
    /// The answer when the target already is as asked.
    fn unchanged(self) -> Applied {
        match self {
            Kind::Grant => Applied::AlreadyPresent,
            Kind::Revoke => Applied::AlreadyAbsent,
        }
    }
}

/// A change waiting for its batch, and where its outcome goes.
pub(super) struct Pending {
    pub kind: Kind,
    pub order: Order,
    pub reply: oneshot::Sender<Result<Applied, ConnectorError>>,
}

type Outcome = Result<Applied, ConnectorError>;

/// The change task: runs until every sender (the connector) is gone.
pub(super) async fn run(inner: Arc<Inner>, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let mut waiting: VecDeque<Pending> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv().await {
                Some(p) => waiting.push_back(p),
                None => return,
            }
        }
        while waiting.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => waiting.push_back(p),
                Err(_) => break,
            }
        }
        let batch = take_batch(&mut waiting);
        inner.apply_batch(batch).await;
    }
}

/// Up to [`MAX_BATCH`] changes in queue order, at most one per non-human
/// account and one per (person, role); the others stay queued in their order.
fn take_batch(waiting: &mut VecDeque<Pending>) -> Vec<Pending> {
    let mut taken = BTreeSet::new();
    let mut batch = Vec::new();
    let mut rest = VecDeque::with_capacity(waiting.len());
    for p in waiting.drain(..) {
        let o = &p.order;
        let role = if o.account.kind == IdentityKind::Person { o.resource.clone() } else { String::new() };
        // Once a change of an account waits, later ones of it wait too (order).
        let blocked = rest.iter().any(|r: &Pending| r.order.account.name == o.account.name);
        if batch.len() < MAX_BATCH && !blocked && taken.insert((o.account.name.clone(), role)) {
            batch.push(p);
        } else {
            rest.push_back(p);
        }
    }
    *waiting = rest;
    batch
}

impl Inner {
    /// Applies a batch and answers each of its changes.
    async fn apply_batch(&self, batch: Vec<Pending>) {
        let changes: Vec<(Kind, &Order)> = batch.iter().map(|p| (p.kind, &p.order)).collect();
        let outcomes = self.apply_or_split(&changes).await;
        for (p, outcome) in batch.into_iter().zip(outcomes) {
            // The job that asked may have given up (shutdown): nothing to tell.
            let _ = p.reply.send(outcome);
        }
    }

    /// Each change's outcome. A batch the target refuses as a whole is split
    /// in halves, each applied again, until the change at fault fails alone:
    /// one bad change costs a few more transactions, not one per change.
    async fn apply_or_split(&self, changes: &[(Kind, &Order)]) -> Vec<Outcome> {
        match self.apply(changes).await {
            Ok(outcomes) => outcomes,
            Err(e) if changes.len() > 1 && !e.is_transient() => {
                tracing::debug!(target_id = %self.target, changes = changes.len(), error = %e, "postgres: a batch of changes was refused; applying each half again");
                let (first, second) = changes.split_at(changes.len() / 2);
                let mut outcomes = Box::pin(self.apply_or_split(first)).await;
                outcomes.extend(Box::pin(self.apply_or_split(second)).await);
                outcomes
            }
            Err(e) => vec![Err(e); changes.len()],
        }
    }

    /// Applies `changes` in one transaction. `Ok` holds each change's
    /// outcome (a refusal of one leaves the others standing); `Err` means
    /// nothing was committed.
    async fn apply(&self, changes: &[(Kind, &Order)]) -> Result<Vec<Outcome>, ConnectorError> {
        let accounts: Vec<&str> = changes.iter().map(|(_, o)| o.account.name.as_str()).collect();
        let orders: Vec<&Order> = changes.iter().map(|(_, o)| *o).collect();
        let mut tx = self.begin(&accounts).await?;
        let checks = self.check(&mut tx, &orders).await?;
        let mut outcomes = Vec::with_capacity(changes.len());
        let mut sql = String::new();
        // Revokes whose membership must be looked at again after the statements.
        let mut recheck: Vec<&Order> = Vec::new();
        for ((kind, o), c) in changes.iter().zip(&checks) {
            let planned = match kind {
                Kind::Grant => self.plan_grant(o, c),
                Kind::Revoke => self.plan_revoke(o, c),
            };
            outcomes.push(match planned {
                Ok(Some(statements)) => {
                    sql.push_str(&statements);
                    if *kind == Kind::Revoke && c.server_version >= 160_000 {
                        recheck.push(o);
                    }
                    Ok(Applied::Changed)
                }
                Ok(None) => Ok(kind.unchanged()),
                Err(e) => Err(e),
            });
        }
        if sql.is_empty() {
            tx.rollback().await.map_err(|e| self.error(e))?;
            return Ok(outcomes);
        }
        exec_raw(&mut tx, &sql).await.map_err(|e| self.error(e))?;
        if !recheck.is_empty() {
            // From PostgreSQL 16 a membership can be granted by several roles,
            // and REVOKE only removes Writ's own grant of it.
            let after = self.check(&mut tx, &recheck).await?;
            if let Some((o, _)) = recheck.iter().zip(&after).find(|(_, c)| c.is_member) {
                let refusal = self.refuse(format!(
                    "{} keeps {} after REVOKE: the membership was also granted by another role (REVOKE … GRANTED BY that role)",
                    shown(&o.account.name),
                    shown(&o.resource)
                ));
                // Dropping `tx` rolls back. Alone, the refusal is this change's
                // answer; in a batch, the halves are applied again.
                return if changes.len() == 1 { Ok(vec![Err(refusal)]) } else { Err(refusal) };
            }
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        for ((kind, o), outcome) in changes.iter().zip(&outcomes) {
            if matches!(outcome, Ok(Applied::Changed)) {
                let done = if *kind == Kind::Grant { "postgres: granted" } else { "postgres: revoked" };
                tracing::info!(target_id = %self.target, account = %o.account.name, role = %o.resource, "{done}");
            }
        }
        Ok(outcomes)
    }

    /// The statements that put `o` in place, `None` if it already is.
    fn plan_grant(&self, o: &Order, c: &Check) -> Result<Option<String>, ConnectorError> {
        let account = quote_ident(&o.account.name);
        let role = quote_ident(&o.resource);
        if !c.role_exists {
            return Err(self.no_role(o));
        }
        if c.is_self {
            return Err(self.not_self(o));
        }
        let mut sql = String::new();
        if o.account.kind == IdentityKind::Person {
            if !c.account_exists {
                return Err(self.refuse(format!("no login role {} on target `{}`", shown(&o.account.name), self.target)));
            }
            if !c.can_login {
                return Err(self.refuse(format!(
                    "role {} on target `{}` cannot log in (NOLOGIN): a person's account must be a login role",
                    shown(&o.account.name),
                    self.target
                )));
            }
        } else {
            if c.superuser {
                return Err(self.refuse(format!("{} is a superuser role; Writ does not manage it as a service account", shown(&o.account.name))));
            }
            if c.has_members {
                return Err(self.refuse(format!("{} is a group role (other roles are its members), not a service account", shown(&o.account.name))));
            }
            let wanted = ValidUntil::of_order(o.expires_at);
            let current = c.valid_until.unwrap_or(ValidUntil::Never);
            let active = c.account_exists && c.can_login && c.memberships > 0;
            // While the account holds other grants, VALID UNTIL covers the latest.
            let valid_until = if active { current.max(wanted) } else { wanted };
            let literal = valid_until
                .literal()
                .ok_or_else(|| self.refuse(format!("expiry {:?} is outside the years PostgreSQL's VALID UNTIL accepts here (1-9999)", o.expires_at)))?;
            if !c.account_exists {
                sql.push_str(&format!("CREATE ROLE {account} LOGIN VALID UNTIL {literal};"));
            } else if !c.can_login || current != valid_until {
                sql.push_str(&format!("ALTER ROLE {account} LOGIN VALID UNTIL {literal};"));
            }
        }
        if !c.is_member {
            sql.push_str(&format!("GRANT {role} TO {account};"));
        }
        Ok((!sql.is_empty()).then_some(sql))
    }

    /// The statements that take `o` away, `None` if it is already gone.
    fn plan_revoke(&self, o: &Order, c: &Check) -> Result<Option<String>, ConnectorError> {
        if !(c.account_exists && c.role_exists && c.is_member) {
            return Ok(None);
        }
        if c.is_self {
            return Err(self.not_self(o));
        }
        let account = quote_ident(&o.account.name);
        let mut sql = format!("REVOKE {} FROM {account};", quote_ident(&o.resource));
        if o.account.kind != IdentityKind::Person && !c.superuser && c.memberships <= 1 && c.can_login {
            // Its last membership: the service account can no longer log in.
            sql.push_str(&format!("ALTER ROLE {account} NOLOGIN;"));
        }
        Ok(Some(sql))
    }
}

#[cfg(test)]
mod tests {
    use writ_app::ports::Account;
    use writ_core::ids::{EntitlementId, IdentityId, RequestId};

    use super::*;

    fn pending(account: &str, role: &str) -> (Pending, oneshot::Receiver<Outcome>) {
        let (reply, rx) = oneshot::channel();
        let kind = if account.starts_with("svc") { IdentityKind::ServiceAccount } else { IdentityKind::Person };
        let order = Order {
            request: RequestId::parse("req-00000000000000000000000000000001").unwrap(),
            subject: IdentityId::parse("alice").unwrap(),
            account: Account { name: account.into(), kind },
            entitlement: EntitlementId::parse(&format!("pg/{role}")).unwrap(),
            resource: role.into(),
            expires_at: None,
        };
        (Pending { kind: Kind::Revoke, order, reply }, rx)
    }

    fn names(batch: &[Pending]) -> Vec<(String, String)> {
        batch.iter().map(|p| (p.order.account.name.clone(), p.order.resource.clone())).collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect()
    }

    #[test]
    fn a_batch_holds_one_change_per_service_account_and_keeps_each_accounts_order() {
        let mut waiting: VecDeque<Pending> =
            [("svc-a", "r1"), ("b", "r1"), ("svc-a", "r2"), ("c", "r1"), ("svc-a", "r3")].into_iter().map(|(a, r)| pending(a, r).0).collect();
        assert_eq!(names(&take_batch(&mut waiting)), pairs(&[("svc-a", "r1"), ("b", "r1"), ("c", "r1")]));
        assert_eq!(names(&take_batch(&mut waiting)), pairs(&[("svc-a", "r2")]));
        assert_eq!(names(&take_batch(&mut waiting)), pairs(&[("svc-a", "r3")]));
        assert!(waiting.is_empty());
    }

    #[test]
    fn a_batch_holds_several_roles_of_one_person_but_each_pair_once_in_order() {
        let mut waiting: VecDeque<Pending> =
            [("p", "r1"), ("p", "r2"), ("p", "r1"), ("p", "r3"), ("q", "r1")].into_iter().map(|(a, r)| pending(a, r).0).collect();
        // The second (p, r1) waits, and so does p's r3 queued after it.
        assert_eq!(names(&take_batch(&mut waiting)), pairs(&[("p", "r1"), ("p", "r2"), ("q", "r1")]));
        assert_eq!(names(&take_batch(&mut waiting)), pairs(&[("p", "r1"), ("p", "r3")]));
        assert!(waiting.is_empty());
    }

    #[test]
    fn a_batch_is_capped() {
        let mut waiting: VecDeque<Pending> = (0..MAX_BATCH + 5).map(|i| pending(&format!("u{i}"), "r").0).collect();
        assert_eq!(take_batch(&mut waiting).len(), MAX_BATCH);
        assert_eq!(waiting.len(), 5);
        assert_eq!(waiting.front().map(|p| p.order.account.name.as_str()), Some(format!("u{MAX_BATCH}").as_str()));
    }
}
