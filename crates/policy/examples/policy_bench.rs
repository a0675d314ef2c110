//! Sliced vs whole-set decision latency.
//!
//!     cargo run --release -p writ-policy --example policy_bench
//!
//! Builds 1,000 policies over 10,000 entitlements in 100 targets (mostly
//! per-entitlement policies, some per-target, a few general ones), then times
//! `decide` and `decide_naive` over the same 20,000 random queries and checks
//! that they agree on every answer.

use std::time::{Duration, Instant};

use writ_policy::{demo, Decision, DecisionQuery, EntitlementFacts, IdentityFacts, PolicyAction, PolicyEngine, RequestContext};

const ENTITLEMENTS: usize = 10_000;
const TARGETS: usize = 100;
const QUERIES: usize = 20_000;
const RISKS: [&str; 4] = ["low", "medium", "high", "critical"];

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

fn entitlement(i: usize) -> EntitlementFacts {
    EntitlementFacts {
        id: format!("tgt{:03}/ent{i:05}", i % TARGETS),
        target: format!("tgt{:03}", i % TARGETS),
        risk: RISKS[i % 4].to_string(),
        owners: vec![format!("owner{}", i % 50)],
    }
}

/// Entitlements that get their own policies: every 11th, 900 of them.
fn scoped_entitlement(k: usize) -> usize {
    k * 11
}

fn policies() -> String {
    let mut out = String::new();
    // 20 general policies, shaped like the demo set.
    for (name, text) in demo::POLICIES {
        if *name != "auto_approve.cedar" {
            out.push_str(text);
        }
    }
    for k in 0..12 {
        out.push_str(&format!(
            "@id(\"general-{k}\") forbid (principal, action == Writ::Action::\"auto_approve\", resource)\n  \
             when {{ principal.attributes.contains(\"contractor={k}\") }};\n"
        ));
    }
    // 80 per-target policies.
    for t in 0..80 {
        let (effect, action, cond) = match t % 4 {
            0 => ("forbid", "request", "context.duration_secs > 30 * 86400"),
            1 => ("permit", "auto_approve", "resource.risk == \"low\" && context.subject_is_requester"),
            2 => ("forbid", "auto_approve", "context.entitlement_count > 5"),
            _ => ("forbid", "review", "resource.owners.contains(principal) && context.stage == \"owner\""),
        };
        out.push_str(&format!(
            "@id(\"target-{t}\") {effect} (principal, action == Writ::Action::\"{action}\", resource in Writ::Target::\"tgt{t:03}\")\n  when {{ {cond} }};\n"
        ));
    }
    // 900 per-entitlement policies.
    for k in 0..900 {
        let e = entitlement(scoped_entitlement(k));
        let (effect, action, cond) = match k % 3 {
            0 => ("permit", "auto_approve", format!("principal in Writ::Group::\"team{}\"", k % 20)),
            1 => ("permit", "auto_approve", "context.duration_secs <= 4 * 3600".to_string()),
            _ => ("forbid", "request", format!("!(principal in Writ::Group::\"team{}\")", k % 20)),
        };
        out.push_str(&format!(
            "@id(\"ent-{k}\") {effect} (principal, action == Writ::Action::\"{action}\", resource == Writ::Entitlement::\"{}\")\n  when {{ {cond} }};\n",
            e.id
        ));
    }
    out
}

fn query(rng: &mut Rng) -> DecisionQuery {
    let action = PolicyAction::ALL[[0, 0, 1, 1, 2, 3][rng.below(6)]];
    // Half the queries hit an entitlement that has its own policies.
    let ent = if rng.below(2) == 0 { scoped_entitlement(rng.below(900)) } else { rng.below(ENTITLEMENTS) };
    let user = rng.below(200);
    let identity = |id: String| IdentityFacts {
        id,
        kind: ["person", "person", "service_account", "ai_agent"][user % 4].into(),
        status: match user % 17 {
            0 => "disabled",
            _ => "active",
        }
        .into(),
        groups: vec![format!("team{}", user % 20), ["oncall", "security", "eng"][user % 3].into()],
        owner: None,
        manager: Some(format!("mgr{}", user % 10)),
        attributes: [("department".into(), "payments".into())].into(),
    };
    let principal = identity(format!("user{user}"));
    let subject = if rng.below(4) == 0 { identity(format!("user{}", (user + 1) % 200)) } else { principal.clone() };
    DecisionQuery {
        action,
        context: RequestContext {
            duration_secs: 3600 * (1 + rng.below(48) as i64),
            justification: "incident INC-1234 follow-up".into(),
            ticket: Some("CHG-42".into()),
            stage: (action == PolicyAction::Review).then(|| ["owner", "security"][rng.below(2)].into()),
            requester: principal.id.clone(),
            entitlement_count: 1 + rng.below(8) as i64,
            relations: if subject.id == principal.id { vec!["requester".into(), "subject".into()] } else { vec!["requester".into()] },
            request_type: "application_access".into(),
        },
        principal,
        subject,
        entitlement: entitlement(ent),
    }
}

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
    max: Duration,
}

fn run(queries: &[DecisionQuery], f: impl Fn(&DecisionQuery) -> Decision) -> (Vec<Decision>, Stats) {
    for q in queries.iter().take(1_000) {
        std::hint::black_box(f(q)); // warm-up
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let start = Instant::now();
        let d = f(q);
        times.push(start.elapsed());
        out.push(d);
    }
    times.sort();
    let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    (out, Stats { p50: at(0.50), p99: at(0.99), mean, max: times[times.len() - 1] })
}

fn main() {
    let text = policies();
    let start = Instant::now();
    let engine = PolicyEngine::from_sources(demo::SCHEMA, &[("bench.cedar", text)]).expect("bench policies are valid");
    println!("loaded {} policies in {:?} ({} entitlements, {} targets)", engine.policy_count(), start.elapsed(), ENTITLEMENTS, TARGETS);

    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let queries: Vec<DecisionQuery> = (0..QUERIES).map(|_| query(&mut rng)).collect();
    let sliced_sizes: usize = queries.iter().map(|q| engine.sliced_policy_count(q.action, &q.entitlement)).sum();
    println!("mean policies evaluated per decision: sliced {:.1}, naive {}", sliced_sizes as f64 / QUERIES as f64, engine.policy_count());

    let (sliced, s) = run(&queries, |q| engine.decide(q));
    let (naive, n) = run(&queries, |q| engine.decide_naive(q));

    let mut mismatches = 0;
    for (a, b) in sliced.iter().zip(&naive) {
        if a.allowed != b.allowed || a.policy_ids != b.policy_ids || a.errors != b.errors {
            mismatches += 1;
        }
    }
    let allowed = sliced.iter().filter(|d| d.allowed).count();
    println!("{QUERIES} queries: {allowed} allowed, {} denied", QUERIES - allowed);
    println!("{:<8} {:>10} {:>10} {:>10} {:>10}", "", "p50", "p99", "mean", "max");
    for (name, st) in [("sliced", &s), ("naive", &n)] {
        println!("{name:<8} {:>10.1?} {:>10.1?} {:>10.1?} {:>10.1?}", st.p50, st.p99, st.mean, st.max);
    }
    println!("speed-up (mean): {:.1}x", n.mean.as_secs_f64() / s.mean.as_secs_f64());
    if mismatches > 0 {
        eprintln!("MISMATCH: sliced and naive disagree on {mismatches} of {QUERIES} queries");
        std::process::exit(1);
    }
    println!("sliced and naive agree on all {QUERIES} answers");
}
