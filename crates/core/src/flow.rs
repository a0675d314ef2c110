//! How long requests take through the governed path: time to approve,
//! provision and revoke (median, 95th percentile, the slowest ones), and the
//! same over time, week by week. Computed from the audit log's own event
//! times, so every figure can be traced to the events behind it.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

/// A step of the path, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The request was filed (`request.submitted`).
    Submitted,
    /// Its last stage approved it (`request.approved`).
    Approved,
    /// A review denied it (`request.denied`).
    Denied,
    /// Nobody reviewed it in time, or it was withdrawn (`request.lapsed`, `request.cancelled`).
    Dropped,
    /// Its access is in place and read back (`request.activated`, `request.partially_fulfilled`).
    Provisioned,
    /// The removal of a grant of it began: expiry or revocation (`grant.expiring`, `grant.revoking`).
    RemovalStarted,
    /// A removal was read back from the target (`grant.removal_verified`).
    RemovalVerified,
    /// Break-glass was used (`break_glass.used`).
    BreakGlass,
}

/// One audit event of a request, reduced to its step and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEvent {
    pub request: String,
    pub step: Step,
    pub at: DateTime<Utc>,
}

/// One measured span: how many requests, the median and 95th percentile
/// (nearest rank), and the slowest requests, slowest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    pub count: usize,
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub slowest: Vec<(String, Duration)>,
}

impl Timing {
    fn of(mut spans: Vec<(String, Duration)>, keep_slowest: usize) -> Timing {
        spans.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut ascending: Vec<Duration> = spans.iter().map(|(_, d)| *d).collect();
        ascending.reverse();
        let p50 = percentile(&ascending, 50);
        let p95 = percentile(&ascending, 95);
        let count = spans.len();
        spans.truncate(keep_slowest);
        Timing { count, p50, p95, slowest: spans }
    }
}

/// The `p`th percentile of `sorted` (ascending) by the nearest-rank method:
/// the smallest value at least `p` % of the values are at or below.
pub fn percentile(sorted: &[Duration], p: u32) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p.min(100) as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Time to approve, provision and revoke.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowTimes {
    /// Filed → approved by the last stage.
    pub approve: Timing,
    /// Approved → access in place and read back.
    pub provision: Timing,
    /// Removal begun (expiry or revocation) → removal read back; per request,
    /// to the last of its grants.
    pub revoke: Timing,
}

/// The spans of each request whose both ends are among `events`, with the
/// `keep_slowest` slowest of each kind.
pub fn flow_times(events: &[FlowEvent], keep_slowest: usize) -> FlowTimes {
    let per_request = by_request(events);
    let spans = |from: Step, to: Step, last_end: bool| {
        per_request
            .iter()
            .filter_map(|(id, steps)| {
                let start = steps.first_of(from)?;
                let end = if last_end { steps.last_of(to)? } else { steps.first_of(to)? };
                (end >= start).then(|| ((*id).to_owned(), end - start))
            })
            .collect::<Vec<_>>()
    };
    FlowTimes {
        approve: Timing::of(spans(Step::Submitted, Step::Approved, false), keep_slowest),
        provision: Timing::of(spans(Step::Approved, Step::Provisioned, false), keep_slowest),
        revoke: Timing::of(spans(Step::RemovalStarted, Step::RemovalVerified, true), keep_slowest),
    }
}

/// One week of the trend: what happened in it, and how fast approval was
/// for the requests approved in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Week {
    /// Its Monday.
    pub starts: NaiveDate,
    pub submitted: u64,
    pub approved: u64,
    pub denied: u64,
    pub dropped: u64,
    pub break_glass: u64,
    pub removals_verified: u64,
    pub approve_p50: Option<Duration>,
}

/// Where a window of `weeks` whole weeks (Monday to Sunday, UTC) ending
/// with the week holding `now` begins.
pub fn window_start(now: DateTime<Utc>, weeks: u32) -> DateTime<Utc> {
    first_monday(now, weeks).and_hms_opt(0, 0, 0).map_or(now, |t| t.and_utc())
}

fn first_monday(now: DateTime<Utc>, weeks: u32) -> NaiveDate {
    monday(now.date_naive()) - Duration::weeks(i64::from(weeks.max(1)) - 1)
}

/// The last `weeks` weeks up to the one holding `now`, oldest first, each
/// with its counts; every week is there, also those with nothing in them.
pub fn weekly(events: &[FlowEvent], now: DateTime<Utc>, weeks: u32) -> Vec<Week> {
    let first = first_monday(now, weeks);
    let mut out: Vec<Week> = (0..weeks.max(1))
        .map(|i| Week {
            starts: first + Duration::weeks(i64::from(i)),
            submitted: 0,
            approved: 0,
            denied: 0,
            dropped: 0,
            break_glass: 0,
            removals_verified: 0,
            approve_p50: None,
        })
        .collect();
    let len = out.len();
    let index = |at: DateTime<Utc>| {
        let days = (monday(at.date_naive()) - first).num_days();
        (days >= 0).then_some((days / 7) as usize).filter(|i| *i < len)
    };
    let mut approve_spans: Vec<Vec<Duration>> = vec![Vec::new(); out.len()];
    let per_request = by_request(events);
    for e in events {
        let Some(i) = index(e.at) else { continue };
        let w = &mut out[i];
        match e.step {
            Step::Submitted => w.submitted += 1,
            Step::Approved => {
                w.approved += 1;
                if let Some(start) = per_request.get(e.request.as_str()).and_then(|s| s.first_of(Step::Submitted)).filter(|s| *s <= e.at) {
                    approve_spans[i].push(e.at - start);
                }
            }
            Step::Denied => w.denied += 1,
            Step::Dropped => w.dropped += 1,
            Step::BreakGlass => w.break_glass += 1,
            Step::RemovalVerified => w.removals_verified += 1,
            Step::Provisioned | Step::RemovalStarted => {}
        }
    }
    for (w, mut spans) in out.iter_mut().zip(approve_spans) {
        spans.sort();
        w.approve_p50 = percentile(&spans, 50);
    }
    out
}

fn monday(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

/// The times each request reached each step.
struct Steps(Vec<(Step, DateTime<Utc>)>);

impl Steps {
    fn first_of(&self, step: Step) -> Option<DateTime<Utc>> {
        self.0.iter().filter(|(s, _)| *s == step).map(|(_, at)| *at).min()
    }
    fn last_of(&self, step: Step) -> Option<DateTime<Utc>> {
        self.0.iter().filter(|(s, _)| *s == step).map(|(_, at)| *at).max()
    }
}

fn by_request(events: &[FlowEvent]) -> HashMap<&str, Steps> {
    let mut map: HashMap<&str, Steps> = HashMap::new();
    for e in events {
        map.entry(e.request.as_str()).or_insert_with(|| Steps(Vec::new())).0.push((e.step, e.at));
    }
    map
}

/// `d` in words a reader takes in at a glance: `45 s`, `12 min`, `3.5 h`, `2.1 d`.
pub fn short_duration(d: Duration) -> String {
    let s = d.num_seconds();
    match s {
        ..=0 => format!("{} ms", d.num_milliseconds().max(0)),
        1..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{:.1} h", s as f64 / 3600.0),
        _ => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        // A Monday, 2025-11-03 00:00 UTC.
        DateTime::from_timestamp(1_762_128_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn ev(request: &str, step: Step, minutes: i64) -> FlowEvent {
        FlowEvent { request: request.into(), step, at: at(minutes) }
    }

    #[test]
    fn each_span_runs_from_its_first_start_to_its_end_and_the_slowest_are_named() {
        let events = vec![
            ev("a", Step::Submitted, 0),
            ev("a", Step::Approved, 30),
            ev("a", Step::Provisioned, 31),
            ev("b", Step::Submitted, 0),
            ev("b", Step::Approved, 120),
            ev("c", Step::Submitted, 10),
            // c is denied: no approval span.
            ev("c", Step::Denied, 20),
            // Two grants of d: the revocation lasts until the last removal is read back.
            ev("d", Step::RemovalStarted, 0),
            ev("d", Step::RemovalVerified, 2),
            ev("d", Step::RemovalVerified, 5),
            // An end before its start (clock skew between nodes) is left out, not negative.
            ev("e", Step::Approved, 10),
            ev("e", Step::Provisioned, 5),
        ];
        let t = flow_times(&events, 1);
        assert_eq!(t.approve.count, 2);
        assert_eq!(t.approve.p50, Some(Duration::minutes(30)));
        assert_eq!(t.approve.p95, Some(Duration::minutes(120)));
        assert_eq!(t.approve.slowest, vec![("b".to_owned(), Duration::minutes(120))]);
        assert_eq!(t.provision.count, 1);
        assert_eq!(t.provision.p50, Some(Duration::minutes(1)));
        assert_eq!(t.revoke.p50, Some(Duration::minutes(5)));
    }

    #[test]
    fn the_nearest_rank_percentile() {
        let v: Vec<Duration> = (1..=20).map(Duration::seconds).collect();
        assert_eq!(percentile(&v, 50), Some(Duration::seconds(10)));
        assert_eq!(percentile(&v, 95), Some(Duration::seconds(19)));
        assert_eq!(percentile(&v, 100), Some(Duration::seconds(20)));
        assert_eq!(percentile(&v[..1], 95), Some(Duration::seconds(1)));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn weeks_are_counted_from_monday_and_empty_weeks_are_shown() {
        let now = at(0) + Duration::days(15); // Wednesday of the third week
        let events = vec![
            ev("a", Step::Submitted, 0),
            ev("a", Step::Approved, 60),
            ev("b", Step::Submitted, 60 * 24 * 14),
            ev("b", Step::Denied, 60 * 24 * 14 + 5),
            ev("c", Step::BreakGlass, 60 * 24 * 15),
            // Before the window: not counted.
            ev("z", Step::Submitted, -60 * 24 * 30),
        ];
        let w = weekly(&events, now, 3);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].starts, at(0).date_naive());
        assert_eq!(window_start(now, 3), at(0));
        assert_eq!((w[0].submitted, w[0].approved, w[0].approve_p50), (1, 1, Some(Duration::hours(1))));
        assert_eq!((w[1].submitted, w[1].approved), (0, 0));
        assert_eq!((w[2].submitted, w[2].denied, w[2].break_glass), (1, 1, 1));
    }

    #[test]
    fn short_durations_read_at_a_glance() {
        assert_eq!(short_duration(Duration::milliseconds(250)), "250 ms");
        assert_eq!(short_duration(Duration::seconds(45)), "45 s");
        assert_eq!(short_duration(Duration::minutes(12)), "12 min");
        assert_eq!(short_duration(Duration::minutes(210)), "3.5 h");
        assert_eq!(short_duration(Duration::hours(50)), "2.1 d");
    }

    proptest! {
        #[test]
        fn percentiles_are_ordered_values_of_the_sample(mut v in prop::collection::vec(0i64..1_000_000, 1..200)) {
            v.sort();
            let d: Vec<Duration> = v.iter().map(|s| Duration::seconds(*s)).collect();
            let (p50, p95) = (percentile(&d, 50).unwrap(), percentile(&d, 95).unwrap());
            prop_assert!(d.contains(&p50) && d.contains(&p95));
            prop_assert!(d[0] <= p50 && p50 <= p95 && p95 <= d[d.len() - 1]);
        }
    }
}
