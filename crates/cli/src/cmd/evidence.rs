//! The human rendering of `writ request show`: a request's whole evidence chain,
//! in the order it happened — the ask, the policy decisions, the approval stages
//! and reviews, the fulfilment, the grants, the outcome, and the audit events.

use writ_api::{AuditEventView, DecisionView, EvidenceView, GrantView, RequestView, ReviewView, StageView, TaskView};

use crate::cmd::request::next_steps;
use crate::output::{fields, list, multi_line, one_line, opt, time, Table};

/// How many hex characters of an event hash are shown.
pub const HASH_PREFIX: usize = 16;

pub fn render(ev: &EvidenceView) -> String {
    let r = &ev.request;
    let mut out = format!("request {} ({})\n", one_line(&r.id), one_line(&r.state));
    out += &ask(r);
    out += &section("policy decisions", r.decisions.iter().map(decision).collect(), "no policy decisions recorded");
    out += &section("approval stages", stages(&r.stages), "no approval stages: policy needs no human approval");
    out += &section("reviews", r.reviews.iter().map(review).collect(), "no reviews yet");
    out += &section("fulfilment", ev.tasks.iter().map(task).collect(), "no fulfilment tasks");
    out += &section("grants", ev.grants.iter().map(grant).collect(), "no grants");
    out += &section("outcome", vec![outcome(r, &ev.tasks)], "");
    out += &section("audit events", events(&ev.events), "no audit events");
    out
}

fn section(title: &str, items: Vec<String>, empty: &str) -> String {
    let mut out = format!("\n{title}\n");
    if items.is_empty() {
        out += &format!("  {empty}\n");
    }
    for item in items {
        out += &item;
    }
    out
}

fn ask(r: &RequestView) -> String {
    let subject = if r.subject == r.requester { format!("{} (themself)", r.subject) } else { r.subject.clone() };
    let mut pairs = vec![
        ("requested by", r.requester.clone()),
        ("for", subject),
        ("entitlements", list(&r.entitlements)),
        ("justification", r.justification.clone()),
        ("duration", r.duration.clone()),
        ("ticket", opt(r.ticket.as_deref())),
        ("created", time(&r.created_at)),
    ];
    if r.state == "pending" {
        pairs.push(("lapses", time(&r.lapses_at)));
    }
    pairs.push(("updated", format!("{} (version {})", time(&r.updated_at), r.version)));
    fields("  ", &pairs)
}

fn decision(d: &DecisionView) -> String {
    let verdict = if d.allowed { "allow" } else { "deny" };
    let by = if d.policy_ids.is_empty() {
        "no policy matched".to_owned()
    } else {
        format!("determined by {}", list(&d.policy_ids))
    };
    let mut out = format!(
        "  {}  {verdict}  {} on `{}` by {}: {by}\n",
        time(&d.at),
        one_line(&d.action),
        one_line(&d.entitlement),
        one_line(&d.principal),
    );
    for e in &d.errors {
        out += &format!("      policy error: {}\n", multi_line(e, "        "));
    }
    out
}

fn stages(stages: &[StageView]) -> Vec<String> {
    let mut t = Table::new(&["entitlement", "stage", "approvers", "approvals", "status", "approved by"]);
    for s in stages {
        t.row([
            s.entitlement.clone(),
            s.name.clone(),
            s.approvers.clone(),
            format!("{} of {}", s.approvals.len(), s.required),
            (if s.passed { "passed" } else { "waiting" }).to_owned(),
            list(&s.approvals),
        ]);
    }
    if stages.is_empty() {
        return Vec::new();
    }
    t.render().lines().map(|l| format!("  {l}\n")).collect()
}

fn review(rv: &ReviewView) -> String {
    let counted = if rv.counted.is_empty() {
        "counted toward no stage".to_owned()
    } else {
        format!("counted toward {}", list(&rv.counted))
    };
    let reason = if rv.reason.trim().is_empty() {
        "(no reason given)".to_owned()
    } else {
        format!("\"{}\"", multi_line(rv.reason.trim(), "        "))
    };
    format!(
        "  {}  {} {}: {counted}\n      reason: {reason}\n",
        time(&rv.at),
        one_line(&rv.reviewer),
        verdict_word(&rv.verdict),
    )
}

fn verdict_word(v: &str) -> String {
    match v {
        "approve" => "approved".to_owned(),
        "deny" => "denied".to_owned(),
        other => one_line(other),
    }
}

fn task(t: &TaskView) -> String {
    let mut out = format!(
        "  task {}: `{}` for {} by group `{}`, {}\n",
        one_line(&t.id),
        one_line(&t.entitlement),
        one_line(&t.subject),
        one_line(&t.fulfiller_group),
        one_line(&t.state),
    );
    let mut pairs = vec![("opened", time(&t.created_at))];
    if let Some(by) = &t.completed_by {
        pairs.push(("completed by", by.clone()));
    }
    if let Some(at) = &t.completed_at {
        pairs.push(("completed", time(at)));
    }
    if let Some(e) = &t.evidence {
        pairs.push(("evidence", e.trim().to_owned()));
    }
    out += &fields("      ", &pairs);
    out
}

fn grant(g: &GrantView) -> String {
    let mut out = format!(
        "  grant {}: `{}` for {}, {}\n",
        one_line(&g.id),
        one_line(&g.entitlement),
        one_line(&g.subject),
        one_line(&g.state),
    );
    let mut pairs = vec![("starts", time(&g.starts_at)), ("expires", time(&g.expires_at))];
    if let Some(at) = &g.ended_at {
        pairs.push(("ended", time(at)));
    }
    if let Some(why) = &g.ended_reason {
        pairs.push(("ended because", why.clone()));
    }
    out += &fields("      ", &pairs);
    out
}

fn outcome(r: &RequestView, tasks: &[TaskView]) -> String {
    let mut out = format!("  {}\n", one_line(&r.state));
    for line in next_steps(r, tasks) {
        out += &format!("  {line}\n");
    }
    out
}

fn events(events: &[AuditEventView]) -> Vec<String> {
    if events.is_empty() {
        return Vec::new();
    }
    let mut t = Table::new(&["seq", "time", "kind", "actor", "hash"]);
    for e in events {
        t.row([e.seq.to_string(), time(&e.at), e.kind.clone(), e.actor.clone(), hash_prefix(&e.hash)]);
    }
    t.render().lines().map(|l| format!("  {l}\n")).collect()
}

/// The first [`HASH_PREFIX`] characters of a hash, enough to compare by eye.
pub fn hash_prefix(hash: &str) -> String {
    one_line(&hash.chars().take(HASH_PREFIX).collect::<String>())
}
