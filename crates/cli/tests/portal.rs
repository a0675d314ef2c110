//! The web portal in a real browser: Debian's headless Chromium (driven by
//! chromedriver through writ-testkit's `Browser`), a real `writ serve` and a
//! real OpenID provider. Each person signs in at the provider's own pages in a
//! browser of their own; the run saves a screenshot of every page under
//! `target/screenshots/<this test>/`.
//!
//! alice finds `pg-prod/payments_approve` in the catalog and requests it;
//! olivia (an owner) then sam (security) approve it from their inboxes; dana
//! (the DBA fulfillers' group) puts it in place from her task list with
//! evidence; alice follows the evidence timeline and gives the access up.
//! axe-core checks every page shown: no serious or critical accessibility
//! problem.

use serde_json::{json, Value};
use std::time::Duration;

use writ_testkit::browser::Browser;
use writ_testkit::OidcProvider;

#[path = "common/demo.rs"]
mod demo;
#[path = "common/server.rs"]
mod server;

use server::Server;

const WAIT: Duration = Duration::from_secs(10);
const ENTITLEMENT: &str = "pg-prod/payments_approve";

fn server_for(op: &OidcProvider) -> Server {
    Server::start_with_oidc(&op.issuer())
}

/// `login`'s own browser, signed in to the portal at the provider.
fn signed_in(s: &Server, op: &OidcProvider, login: &str) -> Browser {
    let b = Browser::start().unwrap_or_else(|e| panic!("{e}"));
    op.sign_in(&b, &format!("{}/portal/login", s.url), login).unwrap_or_else(|e| panic!("{e}"));
    b.wait_for("nav[aria-label='Portal']", WAIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(b.text(".who").unwrap().contains(login), "{}", b.page_text());
    b
}

/// A screenshot of the page, and axe-core's check of it: no serious or
/// critical accessibility problem.
fn shot(b: &Browser, name: &str) {
    b.screenshot(name).unwrap_or_else(|e| panic!("{e}"));
    let problems = b.accessibility_problems(&["serious", "critical"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(problems.is_empty(), "{name}: axe-core finds\n{}", problems.join("\n"));
}

fn must(r: Result<(), writ_testkit::browser::BrowserError>) {
    r.unwrap_or_else(|e| panic!("{e}"));
}

/// Waits until the page says `needle`: after a form is sent, the old page
/// stays until the answer arrives, so its elements prove nothing.
fn wait_for_text(b: &Browser, needle: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    while !b.page_text().contains(needle) {
        assert!(std::time::Instant::now() < deadline, "the page never said `{needle}`: {}", b.page_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_request_goes_from_the_catalog_through_two_approvals_and_fulfilment_to_giving_it_up() {
    let op = OidcProvider::start().unwrap();
    let s = server_for(&op);

    // alice requests it from the catalog.
    let alice = signed_in(&s, &op, "alice");
    shot(&alice, "alice-home");
    must(alice.goto(&format!("{}/portal/catalog?q=payments", s.url)));
    shot(&alice, "alice-catalog");
    must(alice.click("a[href^='/portal/requests/new'][href$='payments_approve']"));
    must(alice.wait_for("textarea#justification", WAIT));
    shot(&alice, "alice-request-form");
    // Validation as you type (assets/portal.js): the message says what is
    // wrong, and the form is not sent while a field is wrong.
    let hint = |b: &Browser, field: &str, expect: &str| {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let text = b.text(&format!("#{field}-hint")).unwrap();
            if text.contains(expect) && (!expect.is_empty() || text.is_empty()) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "#{field}-hint never said {expect:?}: {text:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    must(alice.fill("#duration", "forever"));
    hint(&alice, "duration", "is not a duration");
    must(alice.fill("#duration", "30d"));
    hint(&alice, "duration", "at most");
    shot(&alice, "alice-request-form-invalid");
    must(alice.click_button("Send the request"));
    hint(&alice, "justification", "Say why you need it");
    assert!(alice.current_url().unwrap().contains("/portal/requests/new"), "not sent while fields are wrong");
    must(alice.fill("#duration", "2h"));
    hint(&alice, "duration", "");
    must(alice.fill("#justification", "Release sign-off for payments batch 42"));
    must(alice.click_button("Send the request"));
    let at = alice.wait_for_url("the request's page", WAIT, |u| u.contains("/portal/requests/req-")).unwrap_or_else(|e| panic!("{e}"));
    let id = at.rsplit('/').next().unwrap().to_owned();
    assert!(alice.page_text().contains("pending"), "{}", alice.page_text());
    shot(&alice, "alice-request-pending");

    // The owner, then security, each from their inbox.
    for (who, stage) in [("olivia", "owner"), ("sam", "security")] {
        let b = signed_in(&s, &op, who);
        must(b.goto(&format!("{}/portal/inbox", s.url)));
        assert!(b.page_text().contains(&id) && b.page_text().contains(stage), "{who}: {}", b.page_text());
        shot(&b, &format!("{who}-inbox"));
        must(b.click(&format!("a[href='/portal/requests/{id}']")));
        must(b.wait_for("#reason", WAIT));
        must(b.fill("#reason", &format!("{stage} ok for batch 42")));
        shot(&b, &format!("{who}-review"));
        let reviews_before = b.page_text().matches("review.recorded").count();
        must(b.click("button[value='approve']"));
        let deadline = std::time::Instant::now() + WAIT;
        while b.page_text().matches("review.recorded").count() <= reviews_before {
            assert!(std::time::Instant::now() < deadline, "{who}'s review never showed: {}", b.page_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // The fulfiller puts it in place, with evidence.
    // The task is opened by the server's job worker once the request is approved.
    let dana = signed_in(&s, &op, "dana");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        must(dana.goto(&format!("{}/portal/tasks", s.url)));
        if dana.page_text().contains(ENTITLEMENT) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no task for dana: {}", dana.page_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    shot(&dana, "dana-tasks");
    must(dana.fill("textarea[name='evidence']", "GRANT payments_approve TO alice; checked with \\du, CHG-42"));
    must(dana.click_button("Done"));
    wait_for_text(&dana, "No open task");

    // alice sees the whole chain, then gives the access up.
    must(alice.goto(&format!("{}/portal/requests/{id}", s.url)));
    let chain = alice.page_text();
    for kind in ["request.submitted", "policy.decided", "review.recorded", "task.completed", "grant.started"] {
        assert!(chain.contains(kind), "{kind} missing: {chain}");
    }
    shot(&alice, "alice-evidence");
    must(alice.goto(&format!("{}/portal/access", s.url)));
    assert!(alice.page_text().contains(ENTITLEMENT), "{}", alice.page_text());
    shot(&alice, "alice-access");
    must(alice.click(&format!("button[aria-label='Give up {ENTITLEMENT}']")));
    wait_for_text(&alice, "revoking");
    shot(&alice, "alice-gave-up");
    let state = s.json("sam", &["request", "show", &id]);
    assert!(state["grants"].as_array().unwrap().iter().any(|g| g["state"] == "revoking"), "{state:#}");

    // Oversight's dashboard: for security, not for alice.
    let sam = signed_in(&s, &op, "sam");
    must(sam.goto(&format!("{}/portal/dashboard", s.url)));
    let figures = sam.page_text();
    assert!(figures.contains("Requests by state") && figures.contains("removals overdue"), "{figures}");
    assert!(figures.contains("Time to approve") && figures.contains(&id), "the approval's time and its request: {figures}");
    shot(&sam, "sam-dashboard");
    // Each figure opens the evidence behind it: the removal under way, the
    // approved requests, the identities whose owner left.
    must(sam.click("a[href='/portal/removals']"));
    wait_for_text(&sam, "Removals under way");
    assert!(sam.page_text().contains(ENTITLEMENT), "{}", sam.page_text());
    shot(&sam, "sam-removals");
    for (path, heading, name) in [
        ("/portal/requests?scope=all", "All requests", "sam-all-requests"),
        ("/portal/owner-left", "whose owner left", "sam-owner-left"),
        ("/portal/break-glass?exceptions=1", "overdue or rejected", "sam-break-glass-exceptions"),
        ("/portal/reconcile", "Reconciliation", "sam-runs"),
    ] {
        must(sam.goto(&format!("{}{path}", s.url)));
        assert!(sam.page_text().contains(heading), "{path}: {}", sam.page_text());
        shot(&sam, name);
    }
    must(alice.goto(&format!("{}/portal/dashboard", s.url)));
    assert!(alice.page_text().contains("Not for you"), "{}", alice.page_text());
    shot(&alice, "alice-not-for-you");
    must(alice.goto(&format!("{}/portal/requests", s.url)));
    assert!(alice.page_text().contains(&id), "{}", alice.page_text());
    shot(&alice, "alice-requests");
    // The sign-in page itself, to someone with no session.
    let anonymous = Browser::start().unwrap_or_else(|e| panic!("{e}"));
    must(anonymous.goto(&format!("{}/portal", s.url)));
    assert!(anonymous.page_text().contains("Sign in with"), "{}", anonymous.page_text());
    shot(&anonymous, "anonymous-sign-in");

    // The help desk's queue: a ticket the classifier is unsure of, routed by helen.
    let ticket = json!({ "source": "request-tracker", "external_ref": "RT-77", "requester": "alice", "subject": "hello", "body": "" });
    let taken: Value =
        reqwest::blocking::Client::new().post(format!("{}/v1/tickets", s.url)).bearer_auth(&s.tokens["sam"]).json(&ticket).send().unwrap().json().unwrap();
    assert_eq!(taken["state"], "triage", "{taken}");
    let helen = signed_in(&s, &op, "helen");
    must(helen.goto(&format!("{}/portal/tickets", s.url)));
    assert!(helen.page_text().contains("RT-77"), "{}", helen.page_text());
    shot(&helen, "helen-triage");
    must(helen.click_button("Route it"));
    wait_for_text(&helen, "No ticket in this state");
    must(helen.goto(&format!("{}/portal/tickets?state=help_desk", s.url)));
    assert!(helen.page_text().contains("RT-77"), "{}", helen.page_text());
    shot(&helen, "helen-help-desk");
}
