//! Every list pages with a cursor: a page says when there is more with a
//! `Link: <…>; rel="next"` header, following the links yields each item
//! exactly once, `limit` and `cursor` are checked (a 400 naming the
//! parameter, never a silent clamp), nothing is left unseen past some
//! number of rows (the review queue), and `/openapi.json` says all of it.

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use chrono::TimeDelta;
use common::{harness, Harness};
use serde_json::{json, Value};
use uuid::Uuid;
use writ_app::ports::{Change, Versioned};
use writ_core::duration::AccessDuration;
use writ_core::ids::{EntitlementId, IdentityId, RequestId};
use writ_core::request::{Request, RequestDraft};

const PAYMENTS: &str = "pg-prod/payments_readonly";

impl Harness {
    /// `who` asks for payments read access for themself; the request's id.
    async fn ask(&self, who: &str, why: &str) -> String {
        let body = json!({ "entitlements": [PAYMENTS], "justification": why, "duration": "1h" });
        let (status, v) = self.post(who, "/v1/requests", body).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    /// Follows the `Link` headers from `first` to the end: every item, and
    /// how many pages it took. Each page holds at most `limit` items.
    async fn walk(&self, who: &str, first: &str, limit: usize) -> (Vec<Value>, usize) {
        let (mut items, mut pages, mut uri) = (Vec::new(), 0, first.to_owned());
        loop {
            let (status, next, v) = self.get_page(who, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {v}");
            let page = v.as_array().unwrap_or_else(|| panic!("{uri}: not an array: {v}"));
            assert!(page.len() <= limit, "{uri}: {} items", page.len());
            items.extend(page.iter().cloned());
            pages += 1;
            assert!(pages < 1000, "the links end");
            match next {
                Some(n) => {
                    let path = first.split('?').next().unwrap();
                    assert!(n.starts_with(&format!("{path}?")), "the same path: {n}");
                    uri = n;
                }
                None => return (items, pages),
            }
        }
    }
}

fn ids(items: &[Value], field: &str) -> Vec<String> {
    items.iter().map(|v| v[field].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn requests_page_through_their_link_headers_each_exactly_once_newest_first() {
    let h = harness().await;
    let mut created = BTreeSet::new();
    for i in 0..23 {
        created.insert(h.ask("alice", &format!("paging {i}")).await);
    }

    let (items, pages) = h.walk("alice", "/v1/requests?state=pending&limit=5", 5).await;
    assert_eq!(pages, 5, "23 in pages of 5: the fifth holds 3 and links nowhere");
    let seen = ids(&items, "id");
    assert_eq!(seen.len(), 23, "no request twice: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created, "every request");
    let created_at = |r: &Value| chrono::DateTime::parse_from_rfc3339(r["created_at"].as_str().unwrap()).unwrap();
    let order: Vec<_> = items.iter().map(|r| (created_at(r), r["id"].as_str().unwrap().to_owned())).collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    assert_eq!(order, sorted, "newest first, then by id");

    // The link keeps the query, with the cursor set.
    let (_, next, _) = h.get_page("alice", "/v1/requests?state=pending&limit=5").await;
    let next = next.unwrap();
    assert!(next.starts_with("/v1/requests?state=pending&limit=5&cursor="), "{next}");

    // A page that ends the list says so: no link, not even when it is full.
    assert_eq!(h.walk("alice", "/v1/requests?limit=23", 23).await.1, 1);
    assert_eq!(h.walk("alice", "/v1/requests?limit=22", 22).await.1, 2);

    // Someone who may see none of them walks a short list, not 23 rows' worth of pages.
    let (items, pages) = h.walk("bob", "/v1/requests?limit=2", 2).await;
    assert_eq!((items.len(), pages), (0, 1));
}

#[tokio::test]
async fn tasks_and_the_audit_log_page_through_their_link_headers() {
    let h = harness().await;
    let mut requests = BTreeSet::new();
    for i in 0..5 {
        let id = h.ask("alice", &format!("tasks {i}")).await;
        for who in ["olivia", "sam", "sue"] {
            let (status, v) = h.post(who, &format!("/v1/requests/{id}/approve"), json!({})).await;
            assert_eq!(status, StatusCode::OK, "{who}: {v}");
        }
        requests.insert(id);
    }
    let (items, pages) = h.walk("dana", "/v1/tasks?limit=2", 2).await;
    assert_eq!(pages, 3);
    let tasks = ids(&items, "id");
    assert_eq!(tasks.iter().collect::<BTreeSet<_>>().len(), 5, "no task twice: {tasks:?}");
    assert_eq!(ids(&items, "request_id").into_iter().collect::<BTreeSet<_>>(), requests);

    // The log: contiguous from 1 to its head, each event once; the link
    // carries the cursor in place of `after`.
    let (items, _) = h.walk("audrey", "/v1/audit/events?limit=7", 7).await;
    let seqs: Vec<u64> = items.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.len() > 20);
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let (_, next, _) = h.get_page("audrey", "/v1/audit/events?after=3&limit=2").await;
    assert_eq!(next.as_deref(), Some("/v1/audit/events?limit=2&cursor=5"));
    let (items, _) = h.walk("audrey", "/v1/audit/events?after=3&limit=2", 2).await;
    assert_eq!(items.first().unwrap()["seq"], 4);
    assert_eq!(items.len(), seqs.len() - 3);

    // The registry, by id: each identity once, in order, whatever the page size.
    let (all, pages) = h.walk("audrey", "/v1/identities?limit=4", 4).await;
    let names = ids(&all, "id");
    assert!(names.len() > 8 && pages > 2, "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "by id, none twice");
    assert_eq!(ids(&h.walk("audrey", "/v1/identities?limit=1000", 1000).await.0, "id"), names);
}

#[tokio::test]
async fn limit_and_cursor_out_of_their_bounds_are_a_400_naming_them() {
    let h = harness().await;
    h.ask("alice", "bounds").await;
    let lists = [
        ("alice", "/v1/requests", 1000),
        ("olivia", "/v1/requests/queue", 1000),
        ("dana", "/v1/tasks", 1000),
        ("alice", "/v1/grants", 1000),
        ("alice", "/v1/break-glass", 1000),
        ("audrey", "/v1/reconcile/runs", 1000),
        ("audrey", "/v1/audit/events", 10_000),
        ("audrey", "/v1/identities", 1000),
        ("audrey", "/v1/identities/owner-left", 1000),
    ];
    let error = |v: &Value| v["message"].as_str().unwrap_or_else(|| panic!("no message: {v}")).to_owned();
    for (who, path, max) in lists {
        for limit in [0, max + 1] {
            let (status, v) = h.get(who, &format!("{path}?limit={limit}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?limit={limit}: {v}");
            assert!(error(&v).contains(&format!("`limit` must be from 1 to {max}")), "{path}: {v}");
        }
        let (status, v) = h.get(who, &format!("{path}?limit={max}")).await;
        assert_eq!(status, StatusCode::OK, "{path}?limit={max}: {v}");
        let (status, v) = h.get(who, &format!("{path}?limit=ten")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(error(&v).contains("limit"), "{path}: {v}");
        // The log's cursor is a `seq`; the others' a time and an id.
        let bad: &[&str] = if path == "/v1/audit/events" { &["nonsense", "1.5", "-1"] } else { &["nonsense", "12", "x.req-1", "1700000000000.req%20x"] };
        for cursor in bad {
            let (status, v) = h.get(who, &format!("{path}?cursor={cursor}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?cursor={cursor}: {v}");
            assert!(error(&v).contains("`cursor`"), "{path}?cursor={cursor}: {v}");
        }
    }
    // A cursor of another list is refused too.
    let request_cursor = format!("1700000000000.{}", RequestId::from_uuid(Uuid::from_u128(7)));
    let (status, v) = h.get("dana", &format!("/v1/tasks?cursor={request_cursor}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(error(&v).contains("`cursor`"), "{v}");
    let (status, _) = h.get("alice", &format!("/v1/requests?cursor={request_cursor}")).await;
    assert_eq!(status, StatusCode::OK, "a request cursor for requests");
    // `after` and `cursor` are both lower bounds: the events come after both.
    for query in ["after=1&cursor=20", "after=20&cursor=1"] {
        let (status, v) = h.get("audrey", &format!("/v1/audit/events?{query}&limit=1")).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v[0]["seq"], 21, "{query}: {v}");
    }
    let (status, v) = h.get("audrey", "/v1/audit/events?after=-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(error(&v).contains("`after` must be 0 or more"), "{v}");
}

/// A reviewer's queue is found among every pending request: 1,100 newer
/// ones they may not review come first, read and skipped page after page.
#[tokio::test]
async fn the_review_queue_finds_a_request_behind_more_than_a_thousand_others() {
    let h = harness().await;
    let wanted = h.ask("alice", "behind the crowd").await;
    let writ = &h.app.writ;
    let now = writ.clock().now();
    let olivia = IdentityId::parse("olivia").unwrap();
    let crowd: Vec<Versioned<Request>> = (0..1100)
        .map(|i| {
            let draft = RequestDraft {
                requester: olivia.clone(),
                subject: olivia.clone(),
                entitlements: vec![EntitlementId::parse(PAYMENTS).unwrap()],
                justification: format!("crowd {i}"),
                duration: AccessDuration::parse("1h").unwrap(),
                ticket: None,
                request_type: None,
            };
            let at = now + TimeDelta::minutes(1) + TimeDelta::milliseconds(i);
            Versioned::new(Request::open(RequestId::from_uuid(Uuid::new_v4()), draft, writ.catalog(), at, TimeDelta::days(1)).unwrap())
        })
        .collect();
    writ.store().commit(Change { requests: crowd, ..Default::default() }).await.unwrap();

    // Olivia owns the entitlement but may not review her own requests.
    let (status, next, queue) = h.get_page("olivia", "/v1/requests/queue").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert_eq!(ids(queue.as_array().unwrap(), "id"), vec![wanted.clone()]);
    assert_eq!(next, None, "the queue ends there");
    let (items, pages) = h.walk("olivia", "/v1/requests/queue?limit=1", 1).await;
    assert_eq!((ids(&items, "id"), pages), (vec![wanted.clone()], 1));

    // Sam (security, the second stage) may review none of them yet; the
    // auditor lists all 1,101 pending requests, 1,000 on the first page.
    let (_, next, queue) = h.get_page("sam", "/v1/requests/queue").await;
    assert_eq!((queue, next), (json!([]), None));
    let (items, pages) = h.walk("audrey", "/v1/requests?state=pending&limit=1000", 1000).await;
    assert_eq!((items.len(), pages), (1101, 2));
    assert!(ids(&items, "id").contains(&wanted));
}

#[tokio::test]
async fn openapi_documents_limit_cursor_the_link_header_and_the_400() {
    let h = harness().await;
    let (status, doc) = h.call(None, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for (path, max) in [
        ("/v1/requests", 1000),
        ("/v1/requests/queue", 1000),
        ("/v1/tasks", 1000),
        ("/v1/grants", 1000),
        ("/v1/break-glass", 1000),
        ("/v1/reconcile/runs", 1000),
        ("/v1/audit/events", 10_000),
        ("/v1/identities", 1000),
        ("/v1/identities/owner-left", 1000),
    ] {
        let op = &doc["paths"][path]["get"];
        let params = op["parameters"].as_array().unwrap_or_else(|| panic!("{path}: no parameters: {op}"));
        let param = |name: &str| params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{path}: no `{name}`: {op}")).clone();
        let limit = param("limit");
        assert_eq!(limit["in"], "query", "{path}: {limit}");
        assert_eq!((limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()), (Some(1), Some(max)), "{path}: {limit}");
        let cursor = param("cursor");
        assert_eq!(cursor["in"], "query", "{path}: {cursor}");
        assert!(cursor["description"].as_str().unwrap().contains("Link"), "{path}: {cursor}");
        let link = &op["responses"]["200"]["headers"]["Link"];
        assert!(link["description"].as_str().is_some_and(|d| d.contains("rel=\"next\"")), "{path}: {link}");
        assert!(op["responses"]["400"].is_object(), "{path}: no 400 in {op}");
    }
}
