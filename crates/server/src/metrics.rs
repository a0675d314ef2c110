//! Prometheus text-format metrics: requests by state (read from the store at
//! scrape time), policy decisions by outcome, and latency histograms for HTTP
//! calls and policy decisions. Hand-written: a few atomics cover what we need
//! without pulling in a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use writ_app::ports::DecisionObserver;

/// A histogram with fixed upper bounds, in seconds.
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(), count: AtomicU64::new(0), sum_nanos: AtomicU64::new(0) }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

const HTTP_BOUNDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const POLICY_BOUNDS: &[f64] = &[0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01];

pub struct Metrics {
    http: Mutex<BTreeMap<(String, String), Histogram>>,
    policy: Histogram,
    decisions: Mutex<BTreeMap<(String, bool), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self { http: Mutex::new(BTreeMap::new()), policy: Histogram::new(POLICY_BOUNDS), decisions: Mutex::new(BTreeMap::new()) }
    }
}

impl Metrics {
    /// `route` is the matched route template (never the raw path, which holds ids).
    pub fn observe_http(&self, method: &str, route: &str, elapsed: Duration) {
        let mut map = self.http.lock().expect("metrics lock");
        map.entry((method.to_owned(), route.to_owned())).or_insert_with(|| Histogram::new(HTTP_BOUNDS)).observe(elapsed);
    }

    /// Renders everything; `request_counts` comes from the store.
    pub fn render(&self, request_counts: &[(String, u64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP writ_requests Access requests by state.\n# TYPE writ_requests gauge\n");
        for state in writ_core::request::RequestState::ALL {
            let n = request_counts.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "writ_requests{{state=\"{}\"}} {n}", state.as_str());
        }
        out.push_str("# HELP writ_policy_decisions_total Policy decisions by action and outcome.\n# TYPE writ_policy_decisions_total counter\n");
        for ((action, allowed), n) in self.decisions.lock().expect("metrics lock").iter() {
            let outcome = if *allowed { "allow" } else { "deny" };
            let _ = writeln!(out, "writ_policy_decisions_total{{action=\"{action}\",outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP writ_policy_decision_seconds Policy decision latency.\n# TYPE writ_policy_decision_seconds histogram\n");
        self.policy.render(&mut out, "writ_policy_decision_seconds", "");
        out.push_str("# HELP writ_http_request_seconds HTTP API latency by method and route.\n# TYPE writ_http_request_seconds histogram\n");
        for ((method, route), h) in self.http.lock().expect("metrics lock").iter() {
            h.render(&mut out, "writ_http_request_seconds", &format!("method=\"{method}\",route=\"{route}\""));
        }
        out
    }
}

/// The exceptions to look at: grants whose access is being removed, those of
/// them overdue, break-glass uses whose review is overdue or rejected, and
/// non-human identities whose owner left (and those of them overdue).
pub fn render_exceptions(revoking: u64, overdue: u64, break_glass: u64, owner_left: (u64, u64)) -> String {
    let (flagged, flagged_overdue) = owner_left;
    format!(
        "# HELP writ_grants_revoking Grants whose access is being removed from the target.\n# TYPE writ_grants_revoking gauge\nwrit_grants_revoking {revoking}\n\
         # HELP writ_grants_revocation_overdue Revoking grants past the configured window (removal_overdue_after).\n# TYPE writ_grants_revocation_overdue gauge\nwrit_grants_revocation_overdue {overdue}\n\
         # HELP writ_break_glass_exceptions Break-glass uses whose post-event review is overdue, or that were rejected and not resolved.\n# TYPE writ_break_glass_exceptions gauge\nwrit_break_glass_exceptions {break_glass}\n\
         # HELP writ_identities_owner_left Non-human identities whose owner left, waiting for a new owner or to be disabled.\n# TYPE writ_identities_owner_left gauge\nwrit_identities_owner_left {flagged}\n\
         # HELP writ_identities_owner_left_overdue Of those, the ones past their deadline (owner_left_within).\n# TYPE writ_identities_owner_left_overdue gauge\nwrit_identities_owner_left_overdue {flagged_overdue}\n"
    )
}

/// Counters kept by the audit log itself (durable, the same on every node).
pub fn render_intake(rerouted: u64, triage: (u64, u64)) -> String {
    let (triaged, agreed) = triage;
    format!(
        "# HELP writ_requests_rerouted_total Requests filed as a help-desk type that named access, sent down the governed path instead.\n# TYPE writ_requests_rerouted_total counter\nwrit_requests_rerouted_total {rerouted}\n\
         # HELP writ_tickets_triaged_total Tickets whose type a person chose in triage.\n# TYPE writ_tickets_triaged_total counter\nwrit_tickets_triaged_total {triaged}\n\
         # HELP writ_tickets_triage_agreed_total Of those, the ones where the person chose the type the classifier predicted (production categorisation accuracy = agreed / triaged).\n# TYPE writ_tickets_triage_agreed_total counter\nwrit_tickets_triage_agreed_total {agreed}\n"
    )
}

/// Approval service levels: pending requests waiting at a stage past its
/// SLA now, and the reminders and escalations ever recorded (from the audit
/// log, so the same on every node).
pub fn render_approval_sla(past_sla: u64, reminded: u64, escalated: u64) -> String {
    format!(
        "# HELP writ_requests_pending_past_sla Pending requests with an open approval stage past its SLA.\n# TYPE writ_requests_pending_past_sla gauge\nwrit_requests_pending_past_sla {past_sla}\n\
         # HELP writ_approval_reminders_total Approval stages whose approvers were reminded (at the stage's remind_after).\n# TYPE writ_approval_reminders_total counter\nwrit_approval_reminders_total {reminded}\n\
         # HELP writ_approval_escalations_total Approval stages escalated past their SLA.\n# TYPE writ_approval_escalations_total counter\nwrit_approval_escalations_total {escalated}\n"
    )
}

/// The last finished reconciliation of each target: its match rate and its
/// observations by situation.
pub fn render_reconciliation(latest: &[writ_app::ports::ReconcileRun]) -> String {
    let mut out = String::from(
        "# HELP writ_reconcile_match_rate Share of live entitlements that trace to an approved grant, at the target's last reconciliation.\n# TYPE writ_reconcile_match_rate gauge\n",
    );
    for r in latest {
        out += &format!("writ_reconcile_match_rate{{target=\"{}\"}} {}\n", r.target, r.match_rate);
    }
    out += "# HELP writ_reconcile_observations Observations by situation at the target's last reconciliation.\n# TYPE writ_reconcile_observations gauge\n";
    for r in latest {
        for s in writ_core::reconcile::Situation::ALL {
            out += &format!("writ_reconcile_observations{{target=\"{}\",situation=\"{}\"}} {}\n", r.target, s.as_str(), r.counts.get(s));
        }
    }
    out
}

impl DecisionObserver for Metrics {
    fn observe(&self, action: &str, allowed: bool, elapsed: Duration) {
        self.policy.observe(elapsed);
        *self.decisions.lock().expect("metrics lock").entry((action.to_owned(), allowed)).or_insert(0) += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.observe_http("GET", "/v1/requests/{id}", Duration::from_millis(3));
        m.observe("request", true, Duration::from_micros(20));
        m.observe("request", false, Duration::from_micros(20));
        let text = m.render(&[("pending".into(), 4)]);
        assert!(text.contains("writ_requests{state=\"pending\"} 4"));
        assert!(text.contains("writ_requests{state=\"active\"} 0"));
        assert!(text.contains("writ_policy_decisions_total{action=\"request\",outcome=\"deny\"} 1"));
        assert!(text.contains("writ_http_request_seconds_bucket{method=\"GET\",route=\"/v1/requests/{id}\",le=\"0.005\"} 1"));
        assert!(text.contains("writ_policy_decision_seconds_count 2"));
    }
}
