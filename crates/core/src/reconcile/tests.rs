use std::collections::{BTreeMap, HashMap};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

fn gid(n: u128) -> GrantId {
    GrantId::from_uuid(Uuid::from_u128(n))
}

fn id(s: &str) -> IdentityId {
    IdentityId::parse(s).unwrap()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn grant(n: u128, account: &str, resource: &str, standing: Standing, expected: &[(&str, &str)]) -> LedgerGrant {
    LedgerGrant { grant: gid(n), subject: id(account), account: account.into(), resource: resource.into(), standing, expected: map(expected) }
}

fn human(name: &str) -> (String, AccountHolder) {
    (name.into(), AccountHolder { identity: id(name), human: true, has_active_owner: false })
}

fn service(name: &str, owned: bool) -> (String, AccountHolder) {
    (name.into(), AccountHolder { identity: id(name), human: false, has_active_owner: owned })
}

fn live(account: &str, resource: &str, detail: &[(&str, &str)]) -> LiveEntitlement {
    LiveEntitlement { account: account.into(), resource: resource.into(), detail: map(detail) }
}

fn run(ledger: Vec<LedgerGrant>, accounts: Vec<(String, AccountHolder)>, ignore: Vec<IgnoreRule>, rows: Vec<LiveEntitlement>) -> (Vec<Observation>, Counts) {
    let mut c = Classifier::new(ledger, accounts, ignore);
    let mut out = Vec::new();
    let mut sink = |o: Observation| out.push(o);
    for row in rows {
        c.observe(row, &mut sink);
    }
    let counts = c.finish(&mut sink);
    (out, counts)
}

/// The one observation, checking there is exactly one.
fn only(obs: Vec<Observation>) -> Observation {
    assert_eq!(obs.len(), 1, "{obs:#?}");
    obs.into_iter().next().unwrap()
}

fn has(note: &str, part: &str) {
    assert!(note.contains(part), "note {note:?} should contain {part:?}");
}

// One test per situation, note included.

#[test]
fn matched_row_names_its_grant_and_approved_scope() {
    let (obs, counts) = run(
        vec![grant(1, "alice", "payments_ro", Standing::Active, &[("admin_option", "false")])],
        vec![human("alice")],
        vec![],
        vec![live("alice", "payments_ro", &[("admin_option", "false"), ("valid_until", "infinity")])],
    );
    let o = only(obs);
    assert_eq!(o.situation, Situation::Matched);
    assert_eq!((o.grant, o.identity), (Some(gid(1)), Some(id("alice"))));
    assert_eq!(o.expected, map(&[("admin_option", "false")]));
    assert_eq!(o.live_detail.len(), 2);
    has(&o.note, &format!("held as approved by {}", gid(1)));
    assert_eq!((counts.matched, counts.total_live()), (1, 1));
}

#[test]
fn identity_comes_from_the_registry_and_long_names_work_too() {
    let long = "svc-billing-reconciler@payments.example";
    let registry = vec![("asmith".to_owned(), AccountHolder { identity: id("alice.smith"), human: true, has_active_owner: false }), service(long, true)];
    let ledger = vec![grant(1, "asmith", "r", Standing::Active, &[]), grant(2, long, "r", Standing::Active, &[])];
    let (obs, counts) = run(ledger, registry, vec![], vec![live("asmith", "r", &[]), live(long, "r", &[])]);
    assert_eq!(obs[0].identity, Some(id("alice.smith")));
    assert_eq!((obs[1].situation, obs[1].identity.clone()), (Situation::Matched, Some(id(long))));
    assert_eq!(counts.matched, 2);
}

#[test]
fn index_entries_stay_compact() {
    // A million grants and accounts: these sizes are the index's memory.
    assert_eq!(std::mem::size_of::<IndexedGrant>(), 36);
    assert_eq!(std::mem::size_of::<Name>(), 24);
    let long = "x".repeat(INLINE_NAME + 1);
    for s in ["", "alice", &"y".repeat(INLINE_NAME), &long] {
        assert_eq!(Name::new(s).as_str(), s);
    }
    assert!(matches!(Name::new(&long), Name::Boxed(_)));
}

#[test]
fn unapproved_row_has_no_grant_behind_it() {
    let (obs, _) = run(
        vec![grant(1, "alice", "payments_ro", Standing::Active, &[])],
        vec![human("alice")],
        vec![],
        vec![live("alice", "payments_ro", &[]), live("alice", "payments_rw", &[])],
    );
    let o = obs.into_iter().find(|o| o.resource == "payments_rw").unwrap();
    assert_eq!((o.situation, o.grant), (Situation::Unapproved, None));
    assert_eq!(o.note, "no grant for `alice` on `payments_rw`");
}

#[test]
fn missing_grant_is_reported_once_at_the_end_with_its_subject() {
    let mut g = grant(1, "alice", "payments_ro", Standing::Active, &[("admin_option", "false")]);
    g.subject = id("alice.smith");
    let (obs, counts) = run(vec![g], vec![human("alice")], vec![], vec![]);
    let o = only(obs);
    assert_eq!(o.situation, Situation::Missing);
    assert_eq!((o.grant, o.identity), (Some(gid(1)), Some(id("alice.smith"))));
    assert_eq!(o.expected, map(&[("admin_option", "false")]));
    has(&o.note, &format!("{} for `alice` on `payments_ro` is active, but the target does not show it", gid(1)));
    assert_eq!((counts.missing, counts.total_live()), (1, 0));
    assert_eq!(counts.match_rate(), 1.0, "nothing live");
}

#[test]
fn expired_but_live_says_the_grants_ended() {
    let (obs, _) = run(
        vec![grant(1, "alice", "payments_ro", Standing::Ended, &[]), grant(2, "alice", "payments_ro", Standing::Ended, &[])],
        vec![human("alice")],
        vec![],
        vec![live("alice", "payments_ro", &[])],
    );
    let o = only(obs);
    assert_eq!((o.situation, o.grant), (Situation::ExpiredButLive, Some(gid(1))));
    has(&o.note, &format!("`alice` still holds `payments_ro`, but {} has ended (as have 1 other)", gid(1)));
    has(&o.note, "no active grant remains");
}

#[test]
fn expired_but_live_says_when_removal_is_in_progress() {
    let (obs, _) = run(
        vec![grant(1, "alice", "payments_ro", Standing::Ended, &[]), grant(2, "alice", "payments_ro", Standing::Revoking, &[])],
        vec![human("alice")],
        vec![],
        vec![live("alice", "payments_ro", &[])],
    );
    let o = only(obs);
    assert_eq!((o.situation, o.grant), (Situation::ExpiredButLive, Some(gid(2))), "the grant being removed explains it");
    has(&o.note, "removal is in progress");
}

#[test]
fn scope_mismatch_names_each_differing_key() {
    let (obs, counts) = run(
        vec![grant(1, "alice", "payments_ro", Standing::Active, &[("admin_option", "false"), ("schema", "payments")])],
        vec![human("alice")],
        vec![],
        vec![live("alice", "payments_ro", &[("admin_option", "true")])],
    );
    let o = only(obs);
    assert_eq!((o.situation, o.grant), (Situation::ScopeMismatch, Some(gid(1))));
    has(&o.note, "`alice` holds `payments_ro` but not with the scope");
    has(&o.note, "`admin_option` is `true`, approved `false`; `schema` is absent, approved `payments`");
    assert_eq!((counts.scope_mismatch, counts.missing), (1, 0), "held, so not missing");
}

#[test]
fn unknown_identity_for_an_unregistered_account() {
    let (obs, _) = run(vec![], vec![human("alice")], vec![], vec![live("mallory", "payments_ro", &[])]);
    let o = only(obs);
    assert_eq!((o.situation, o.identity), (Situation::UnknownIdentity, None));
    assert_eq!(o.note, "`mallory` maps to no identity in the registry");
}

#[test]
fn unknown_identity_for_a_non_human_identity_without_active_owner() {
    let ledger = vec![grant(1, "svc-a", "payments_ro", Standing::Active, &[]), grant(2, "svc-b", "payments_ro", Standing::Active, &[])];
    let (obs, counts) =
        run(ledger, vec![service("svc-a", false), service("svc-b", true)], vec![], vec![live("svc-a", "payments_ro", &[]), live("svc-b", "payments_ro", &[])]);
    let orphan = obs.iter().find(|o| o.account == "svc-a").unwrap();
    assert_eq!(orphan.situation, Situation::UnknownIdentity);
    assert_eq!(orphan.grant, Some(gid(1)), "its grant is accounted for here, not as missing");
    assert_eq!(orphan.note, "`svc-a` belongs to non-human identity `svc-a`, which has no active owner");
    assert_eq!(obs.iter().find(|o| o.account == "svc-b").unwrap().situation, Situation::Matched);
    assert_eq!(counts.missing, 0);
}

#[test]
fn ignored_rows_are_reported_with_their_rule() {
    let rules = vec![IgnoreRule::new(None, Some("pg_*")).unwrap(), IgnoreRule::new(Some("postgres"), Some("*_admin")).unwrap()];
    let (obs, counts) =
        run(vec![], vec![human("alice")], rules, vec![live("alice", "pg_monitor", &[]), live("postgres", "db_admin", &[]), live("alice", "db_admin", &[])]);
    assert_eq!(obs[0].situation, Situation::Ignored);
    assert_eq!(obs[0].note, "ignored by the rule on resource `pg_*`");
    assert_eq!(obs[1].situation, Situation::Ignored);
    assert_eq!(obs[1].note, "ignored by the rule on account `postgres`, resource `*_admin`");
    assert_eq!(obs[2].situation, Situation::Unapproved, "every field of a rule must match");
    assert_eq!((counts.ignored, counts.unapproved), (2, 1));
    assert_eq!(counts.match_rate(), 0.0, "ignored rows are left out of the rate");
}

// Precedence: Ignored > UnknownIdentity > Matched | ScopeMismatch > ExpiredButLive > Unapproved.

#[test]
fn ignored_comes_before_unknown_identity_and_covers_a_grant() {
    let (obs, counts) = run(
        vec![grant(1, "ghost", "pg_read", Standing::Active, &[])],
        vec![],
        vec![IgnoreRule::new(Some("gh*"), None).unwrap()],
        vec![live("ghost", "pg_read", &[])],
    );
    let o = only(obs);
    assert_eq!((o.situation, o.grant), (Situation::Ignored, Some(gid(1))));
    assert_eq!(counts.missing, 0);
}

#[test]
fn unknown_identity_comes_before_matched() {
    let (obs, _) = run(vec![grant(1, "bob", "payments_ro", Standing::Active, &[])], vec![], vec![], vec![live("bob", "payments_ro", &[])]);
    let o = only(obs);
    assert_eq!((o.situation, o.grant), (Situation::UnknownIdentity, Some(gid(1))));
}

#[test]
fn an_active_grant_comes_before_ended_ones() {
    let ledger = vec![grant(1, "alice", "r", Standing::Ended, &[]), grant(2, "alice", "r", Standing::Active, &[("k", "v")])];
    let (obs, _) = run(ledger.clone(), vec![human("alice")], vec![], vec![live("alice", "r", &[("k", "v")])]);
    assert_eq!(only(obs).situation, Situation::Matched);
    let (obs, _) = run(ledger, vec![human("alice")], vec![], vec![live("alice", "r", &[("k", "other")])]);
    let o = only(obs);
    assert_eq!((o.situation, o.grant), (Situation::ScopeMismatch, Some(gid(2))), "a held access with an active grant is a mismatch, not expired");
}

#[test]
fn expired_comes_before_unapproved() {
    let (obs, _) = run(vec![grant(1, "alice", "r", Standing::Ended, &[])], vec![human("alice")], vec![], vec![live("alice", "r", &[])]);
    assert_eq!(only(obs).situation, Situation::ExpiredButLive);
}

#[test]
fn any_active_grant_whose_scope_fits_matches() {
    let ledger =
        vec![grant(1, "alice", "r", Standing::Active, &[("admin_option", "false")]), grant(2, "alice", "r", Standing::Active, &[("admin_option", "true")])];
    let (obs, counts) = run(ledger, vec![human("alice")], vec![], vec![live("alice", "r", &[("admin_option", "true")])]);
    let o = only(obs);
    assert_eq!((o.situation, o.grant), (Situation::Matched, Some(gid(2))));
    assert_eq!(o.expected, map(&[("admin_option", "true")]));
    has(&o.note, "also covers 1 other active grant");
    assert_eq!(counts.missing, 0, "one access covers both overlapping grants");
}

#[test]
fn duplicate_rows_do_not_make_a_grant_missing() {
    let (obs, counts) =
        run(vec![grant(1, "alice", "r", Standing::Active, &[])], vec![human("alice")], vec![], vec![live("alice", "r", &[]), live("alice", "r", &[])]);
    assert_eq!(obs.len(), 2);
    assert!(obs.iter().all(|o| o.situation == Situation::Matched && o.grant == Some(gid(1))));
    assert_eq!((counts.matched, counts.missing), (2, 0));
}

// Redis selectors matching no profile (resource "").

fn selector(account: &str, rules: &str) -> LiveEntitlement {
    live(account, "", &[("rules", rules)])
}

#[test]
fn unknown_selector_pairs_with_an_active_grant_the_target_does_not_show() {
    let (obs, counts) =
        run(vec![grant(1, "alice", "cache_read", Standing::Active, &[])], vec![human("alice")], vec![], vec![selector("alice", "~cache:* +@all")]);
    let o = only(obs);
    assert_eq!(o.situation, Situation::ScopeMismatch);
    assert_eq!((o.grant, o.resource.as_str()), (Some(gid(1)), "cache_read"));
    assert_eq!(o.live_detail, map(&[("rules", "~cache:* +@all")]));
    has(&o.note, "selector matching no known profile (rules `~cache:* +@all`)");
    has(&o.note, "taken as `cache_read` held with other rules");
    assert_eq!((counts.scope_mismatch, counts.missing, counts.unapproved, counts.total_live()), (1, 0, 0, 1));
}

#[test]
fn unknown_selector_without_a_free_grant_is_unapproved() {
    let (obs, counts) = run(
        vec![grant(1, "alice", "cache_read", Standing::Active, &[]), grant(2, "alice", "cache_write", Standing::Ended, &[])],
        vec![human("alice")],
        vec![],
        vec![live("alice", "cache_read", &[]), selector("alice", "+@all")],
    );
    let o = obs.into_iter().find(|o| o.resource.is_empty()).unwrap();
    assert_eq!((o.situation, o.grant), (Situation::Unapproved, None));
    has(&o.note, "no active grant is left that it could stand for");
    assert_eq!((counts.matched, counts.unapproved, counts.missing), (1, 1, 0));
}

#[test]
fn selectors_pair_with_grants_in_sorted_order_whatever_the_stream_order() {
    let ledger = vec![
        grant(9, "alice", "cache_write", Standing::Active, &[]),
        grant(5, "alice", "cache_read", Standing::Active, &[]),
        grant(7, "alice", "cache_admin", Standing::Active, &[]),
    ];
    let rows = vec![selector("alice", "b"), selector("alice", "a")];
    let (mut forward, _) = run(ledger.clone(), vec![human("alice")], vec![], rows.clone());
    let (mut backward, counts) = run(ledger, vec![human("alice")], vec![], rows.into_iter().rev().collect());
    assert_eq!(forward, backward, "emitted in the same order too");
    forward.sort();
    backward.sort();
    let by_rules = |rules: &str| forward.iter().find(|o| o.live_detail.get("rules").map(String::as_str) == Some(rules)).unwrap();
    assert_eq!(by_rules("a").resource, "cache_admin");
    assert_eq!(by_rules("b").resource, "cache_read");
    let missing = forward.iter().find(|o| o.situation == Situation::Missing).unwrap();
    assert_eq!((missing.resource.as_str(), missing.grant), ("cache_write", Some(gid(9))));
    assert_eq!((counts.scope_mismatch, counts.missing), (2, 1));
}

#[test]
fn selectors_of_ignored_or_unknown_accounts_are_not_paired() {
    let ledger = vec![grant(1, "alice", "cache_read", Standing::Active, &[]), grant(2, "svc", "cache_read", Standing::Active, &[])];
    let (obs, counts) = run(
        ledger,
        vec![human("alice"), service("svc", false)],
        vec![IgnoreRule::new(Some("alice"), Some("*")).unwrap()],
        vec![selector("alice", "+@all"), selector("svc", "+@all")],
    );
    assert_eq!(obs.iter().find(|o| o.account == "alice" && o.resource.is_empty()).unwrap().situation, Situation::Ignored);
    assert_eq!(obs.iter().find(|o| o.account == "svc" && o.resource.is_empty()).unwrap().situation, Situation::UnknownIdentity);
    assert_eq!((counts.missing, counts.scope_mismatch), (2, 0));
}

// Ignore rules.

#[test]
fn patterns_match_names_prefixes_and_suffixes() {
    let p = |s: &str| Pattern::parse(s).unwrap();
    assert!(p("pg_*").matches("pg_monitor") && p("pg_*").matches("pg_") && !p("pg_*").matches("xpg_a"));
    assert!(p("*_admin").matches("db_admin") && !p("*_admin").matches("db_admin2"));
    assert!(p("postgres").matches("postgres") && !p("postgres").matches("postgres2"));
    assert!(p("*").matches("anything") && p("*").matches(""));
    for s in ["pg_*", "*_admin", "postgres", "*"] {
        assert_eq!(p(s).to_string(), s, "round trip");
    }
}

#[test]
fn bad_patterns_and_rules_are_refused_with_a_clear_error() {
    let err = |s: &str| Pattern::parse(s).unwrap_err();
    assert_eq!(err(""), IgnoreRuleError::EmptyPattern);
    assert_eq!(err("pg*x"), IgnoreRuleError::WildcardInMiddle("pg*x".into()));
    assert_eq!(err("*pg*"), IgnoreRuleError::SeveralWildcards("*pg*".into()));
    assert_eq!(err("**"), IgnoreRuleError::SeveralWildcards("**".into()));
    has(&err("pg*x").to_string(), "ignore pattern `pg*x` has `*` in the middle");
    has(&err("*pg*").to_string(), "more than one `*`");
    has(&err("").to_string(), "is empty");
    assert_eq!(IgnoreRule::new(None, None).unwrap_err(), IgnoreRuleError::Unconstrained);
    assert_eq!(IgnoreRule::new(Some("a*b"), None).unwrap_err(), IgnoreRuleError::WildcardInMiddle("a*b".into()));
}

#[test]
fn ignore_rules_read_from_config_refuse_unknown_keys_and_empty_rules() {
    let rule: IgnoreRule = serde_json::from_str(r#"{"account": "monitoring_*"}"#).unwrap();
    assert_eq!(rule, IgnoreRule::new(Some("monitoring_*"), None).unwrap());
    assert_eq!(serde_json::to_string(&rule).unwrap(), r#"{"account":"monitoring_*"}"#);
    for bad in [r#"{}"#, r#"{"acount": "x"}"#, r#"{"resource": "a*b"}"#, r#"{"account": ""}"#] {
        assert!(serde_json::from_str::<IgnoreRule>(bad).is_err(), "{bad}");
    }
    let e = serde_json::from_str::<IgnoreRule>(r#"{"resource": "a*b"}"#).unwrap_err().to_string();
    has(&e, "in the middle");
}

// Output types.

#[test]
fn situations_and_counts_serialise_in_snake_case() {
    assert_eq!(serde_json::to_string(&Situation::ExpiredButLive).unwrap(), r#""expired_but_live""#);
    for s in Situation::ALL {
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
    }
    let c = Counts { matched: 3, missing: 1, ignored: 1, unapproved: 1, ..Counts::default() };
    assert_eq!((c.total(), c.total_live()), (6, 5));
    assert_eq!(c.match_rate(), 0.75);
    assert_eq!(Counts::default().match_rate(), 1.0);
    assert_eq!(Counts { ignored: 2, ..Counts::default() }.match_rate(), 1.0, "only ignored rows: nothing to judge");
}

#[test]
fn standing_follows_the_grant_state() {
    assert_eq!(Standing::from(&GrantState::Active), Standing::Active);
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(Standing::from(&GrantState::Expired { at }), Standing::Ended);
}

#[test]
fn classifier_can_run_inside_a_scan_sink() {
    // `Connector::scan` takes a `Send` sink.
    fn send<T: Send>() {}
    send::<Classifier>();
}

// Properties over random ledgers and targets.

/// `bob…` is longer than an inline name.
const ACCOUNTS: [&str; 5] = ["ann", "bob.with.a.rather.long.name@example", "svc", "orphan", "ghost"];
const RESOURCES: [&str; 4] = ["r1", "r2", "pg_x", ""];
const STANDINGS: [Standing; 3] = [Standing::Active, Standing::Revoking, Standing::Ended];

fn registry() -> Vec<(String, AccountHolder)> {
    vec![human(ACCOUNTS[0]), human(ACCOUNTS[1]), service("svc", true), service("orphan", false)]
    // `ghost` is unknown
}

fn scope(choice: usize) -> BTreeMap<String, String> {
    match choice {
        0 => BTreeMap::new(),
        1 => map(&[("admin", "false")]),
        _ => map(&[("admin", "true")]),
    }
}

fn ledger_strategy() -> impl Strategy<Value = Vec<LedgerGrant>> {
    prop::collection::vec((0..5usize, 0..3usize, 0..3usize, 0..3usize), 0..14).prop_map(|gs| {
        gs.into_iter()
            .enumerate()
            .map(|(n, (a, r, s, e))| LedgerGrant {
                grant: gid(n as u128 + 1),
                subject: id(ACCOUNTS[a]),
                account: ACCOUNTS[a].into(),
                resource: RESOURCES[r].into(),
                standing: STANDINGS[s],
                expected: scope(e),
            })
            .collect()
    })
}

fn rows_strategy() -> impl Strategy<Value = Vec<LiveEntitlement>> {
    prop::collection::vec((0..5usize, 0..4usize, 0..3usize), 0..16).prop_map(|rows| {
        rows.into_iter().map(|(a, r, d)| LiveEntitlement { account: ACCOUNTS[a].into(), resource: RESOURCES[r].into(), detail: scope(d) }).collect()
    })
}

fn ignore_strategy() -> impl Strategy<Value = Vec<IgnoreRule>> {
    prop_oneof![
        Just(vec![]),
        Just(vec![IgnoreRule::new(None, Some("pg_*")).unwrap()]),
        Just(vec![IgnoreRule::new(Some("gh*"), None).unwrap()]),
        Just(vec![IgnoreRule::new(Some("*n"), Some("r1")).unwrap()]),
    ]
}

/// Every active grant's access is accounted for exactly once: by the
/// observations of the rows that showed it, or else by exactly one `Missing`
/// or paired `ScopeMismatch`.
fn check_accounting(ledger: &[LedgerGrant], rows: &[LiveEntitlement], obs: &[Observation]) -> Result<(), TestCaseError> {
    let mut active: HashMap<(&str, &str), Vec<GrantId>> = HashMap::new();
    for g in ledger.iter().filter(|g| g.standing == Standing::Active) {
        active.entry((&g.account, &g.resource)).or_default().push(g.grant);
    }
    for ((account, resource), grants) in &active {
        let shown = rows.iter().filter(|r| (r.account.as_str(), r.resource.as_str()) == (*account, *resource)).count();
        let about: Vec<&Observation> = obs
            .iter()
            .filter(|o| (o.account.as_str(), o.resource.as_str()) == (*account, *resource))
            .filter(|o| o.grant.is_some_and(|g| grants.contains(&g)))
            .collect();
        if shown > 0 {
            prop_assert_eq!(about.len(), shown, "each row on {}/{} names one of its active grants", account, resource);
            prop_assert!(about.iter().all(|o| o.situation != Situation::Missing));
        } else {
            prop_assert_eq!(about.len(), 1, "{}/{} unshown: one observation: {:#?}", account, resource, obs);
            prop_assert!(matches!(about[0].situation, Situation::Missing | Situation::ScopeMismatch));
        }
    }
    for o in obs.iter().filter(|o| o.situation == Situation::Missing) {
        let g = ledger.iter().find(|g| Some(g.grant) == o.grant).expect("a missing grant is in the ledger");
        prop_assert_eq!(g.standing, Standing::Active);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_row_and_every_active_grant_is_accounted_for_once(
        ledger in ledger_strategy(),
        (rows, shuffled) in rows_strategy().prop_flat_map(|rows| (Just(rows.clone()), Just(rows).prop_shuffle())),
        ignore in ignore_strategy(),
    ) {
        let (mut obs, counts) = run(ledger.clone(), registry(), ignore.clone(), rows.clone());

        let missing = obs.iter().filter(|o| o.situation == Situation::Missing).count();
        prop_assert_eq!(obs.len() - missing, rows.len(), "one observation per live row");
        prop_assert_eq!(counts.total_live(), rows.len() as u64);
        prop_assert_eq!(counts.total(), obs.len() as u64);
        for s in Situation::ALL {
            prop_assert_eq!(counts.get(s), obs.iter().filter(|o| o.situation == s).count() as u64, "{}", s);
        }
        check_accounting(&ledger, &rows, &obs)?;

        let (mut again, counts_again) = run(ledger, registry(), ignore, shuffled);
        obs.sort();
        again.sort();
        prop_assert_eq!(obs, again, "the order of the rows does not matter");
        prop_assert_eq!(counts, counts_again);
    }
}
