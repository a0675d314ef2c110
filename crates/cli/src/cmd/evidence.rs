//! The human rendering of `writ request show`: a request's whole evidence chain,
//! in the order it happened — the ask, the policy decisions, the approval stages
//! and reviews, the fulfilment, the grants, the outcome, and the audit events.

use serde_json::Value;
use writ_api::{AuditEventView, DecisionView, EvidenceView, FulfilmentView, GrantView, RequestView, ReviewView, StageView, TaskView};

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
    if r.post_review.is_some() {
        let lines = crate::cmd::break_glass::review_lines(r).into_iter().map(|l| format!("  {l}\n")).collect();
        out += &section("break-glass review", lines, "");
    } else {
        out += &section("reviews", r.reviews.iter().map(review).collect(), "no reviews yet");
    }
    out += &section("fulfilment", fulfilment(r, ev), "nothing to fulfil yet");
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
    match (r.origin.as_str(), &r.extends_grant, &r.extends_request) {
        ("extension", Some(g), Some(req)) => pairs.push(("extends", format!("grant {g} of request {req}"))),
        ("break_glass", ..) => pairs.push(("origin", "BREAK-GLASS (granted without approval)".to_owned())),
        _ => {}
    }
    if r.state == "pending" {
        pairs.push(("lapses", time(&r.lapses_at)));
    }
    pairs.push(("updated", format!("{} (version {})", time(&r.updated_at), r.version)));
    fields("  ", &pairs)
}

fn decision(d: &DecisionView) -> String {
    let verdict = if d.allowed { "allow" } else { "deny" };
    let by = if d.policy_ids.is_empty() { "no policy matched".to_owned() } else { format!("determined by {}", list(&d.policy_ids)) };
    let mut out = format!("  {}  {verdict}  {} on `{}` by {}: {by}\n", time(&d.at), one_line(&d.action), one_line(&d.entitlement), one_line(&d.principal),);
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
    let counted = if rv.counted.is_empty() { "counted toward no stage".to_owned() } else { format!("counted toward {}", list(&rv.counted)) };
    let reason = if rv.reason.trim().is_empty() { "(no reason given)".to_owned() } else { format!("\"{}\"", multi_line(rv.reason.trim(), "        ")) };
    format!("  {}  {} {}: {counted}\n      reason: {reason}\n", time(&rv.at), one_line(&rv.reviewer), verdict_word(&rv.verdict),)
}

fn verdict_word(v: &str) -> String {
    match v {
        "approve" => "approved".to_owned(),
        "deny" => "denied".to_owned(),
        other => one_line(other),
    }
}

/// Per entitlement where it stands, then the manual tasks, then every connector
/// attempt with its entitlement diff and verification, in order.
fn fulfilment(r: &RequestView, ev: &EvidenceView) -> Vec<String> {
    let mut items: Vec<String> = r.fulfilment.iter().map(target_status).collect();
    items.extend(ev.tasks.iter().map(task));
    items.extend(ev.events.iter().filter(|e| e.kind == "entitlement.verified" || e.kind == "entitlement.failed").map(connector_attempt));
    items
}

fn target_status(f: &FulfilmentView) -> String {
    let detail = match f.status.as_str() {
        "done" if f.read_back == Some(true) => "in place, verified by read-back from the target".to_owned(),
        "done" => "in place, attested by the fulfiller's evidence".to_owned(),
        "with_person" => format!("with a person (task {})", opt(f.task.as_deref())),
        "retrying" => format!("retrying: attempt {} failed, next at {}", f.attempts.unwrap_or(0), f.next_attempt_at.as_ref().map_or("-".to_owned(), time)),
        "failed" => "failed".to_owned(),
        "queued" => "queued for its connector".to_owned(),
        other => one_line(other),
    };
    let mut out = format!(
        "  `{}`: {detail}
",
        one_line(&f.entitlement)
    );
    if let Some(e) = &f.error {
        out += &format!(
            "      target said: {}
",
            multi_line(e, "        ")
        );
    }
    out
}

/// One connector attempt from its audit event: what was done, the account's
/// entitlements on the target before and after, and the verification.
fn connector_attempt(e: &AuditEventView) -> String {
    let p: Value = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    let mut out = format!(
        "  {}  {} `{}` for account `{}` via {}, attempt {}
",
        time(&e.at),
        if e.kind == "entitlement.verified" { "provisioned" } else { "failed" },
        one_line(&s("entitlement")),
        one_line(&s("account")),
        one_line(&e.actor),
        p.get("attempt").and_then(Value::as_u64).unwrap_or(1),
    );
    let held = |k: &str| -> Option<Vec<String>> {
        let state = p.get(k).filter(|v| !v.is_null())?;
        if state.get("exists").and_then(Value::as_bool) == Some(false) {
            return Some(vec![]);
        }
        let list = state.get("entitlements")?.as_array()?;
        Some(list.iter().filter_map(|x| x.get("resource").and_then(Value::as_str).map(one_line)).collect())
    };
    let show = |v: &Option<Vec<String>>| v.as_ref().map_or("(not read)".to_owned(), |l| if l.is_empty() { "(none)".to_owned() } else { l.join(", ") });
    let (before, after) = (held("before"), held("after"));
    let mut pairs = vec![("before", show(&before)), ("after", show(&after))];
    if let (Some(b), Some(a)) = (&before, &after) {
        let added: Vec<&String> = a.iter().filter(|x| !b.contains(x)).collect();
        let removed: Vec<&String> = b.iter().filter(|x| !a.contains(x)).collect();
        let diff: Vec<String> = added.iter().map(|x| format!("+{x}")).chain(removed.iter().map(|x| format!("-{x}"))).collect();
        pairs.push(("diff", if diff.is_empty() { "(no change)".to_owned() } else { diff.join(" ") }));
    }
    if e.kind == "entitlement.verified" {
        pairs.push(("applied", s("applied")));
        pairs.push(("verified", "yes: the read-back shows the approved access".to_owned()));
    } else {
        pairs.push(("error", s("error")));
        let retry = if p.get("retryable").and_then(Value::as_bool) == Some(true) { "yes, Writ retries" } else { "no" };
        pairs.push(("retryable", retry.to_owned()));
    }
    out += &fields("      ", &pairs);
    out
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
    let mut out = format!("  grant {}: `{}` for {}, {}\n", one_line(&g.id), one_line(&g.entitlement), one_line(&g.subject), one_line(&g.state),);
    let mut pairs = vec![("starts", time(&g.starts_at)), ("expires", time(&g.expires_at))];
    if let Some(r) = &g.removal {
        pairs.push(("ending", format!("{} since {}: access is being removed from the target", r.ending, time(&r.since))));
        if r.attempts > 0 {
            let next = r.next_attempt_at.as_ref().map_or("-".to_owned(), time);
            pairs.push(("removal", format!("{} failed attempts, next at {next}", r.attempts)));
        }
        if let Some(e) = &r.last_error {
            pairs.push(("target said", e.clone()));
        }
    }
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
