//! The web portal's sign-in and session, against a real OpenID provider (npm
//! `oidc-provider`, started by writ-testkit) whose login pages the test
//! drives over HTTP: the code flow with PKCE, the state and nonce checks,
//! the session cookie (a Writ token), CSRF on sign-out, and the security
//! headers of every page.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;
use writ_testkit::oidc::CLIENT_ID;
use writ_testkit::OidcProvider;

use common::Harness;

async fn portal_for(op: &OidcProvider) -> Harness {
    let issuer = op.issuer();
    common::harness_with(
        move |policies| {
            let config = policies.parent().unwrap().join("writ.toml");
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&format!("\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"{CLIENT_ID}\"\n"));
            std::fs::write(&config, text).unwrap();
        },
        None,
    )
    .await
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    cookies: Vec<String>,
    csp: Option<String>,
    body: String,
}

async fn send(h: &Harness, method: &str, uri: &str, cookie: Option<&str>, form: Option<&str>) -> Page {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let body = match form {
        Some(f) => {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(f.to_owned())
        }
        None => Body::empty(),
    };
    let resp = h.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let cookies = headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let body = String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    Page { status, location: text(header::LOCATION), cookies, csp: text(header::CONTENT_SECURITY_POLICY), body }
}

/// The `name=value` part of the Set-Cookie for `name`.
fn cookie_of(page: &Page, name: &str) -> String {
    page.cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", page.cookies))
}

/// Signs `login` in through the portal: the session cookie (`writ_session=…`).
async fn sign_in(h: &Harness, op: &OidcProvider, login: &str) -> String {
    let start = send(h, "GET", "/portal/login", None, None).await;
    let auth_url = start.location.clone().expect("a redirect to the provider");
    assert!(auth_url.starts_with(&op.issuer()), "{auth_url}");
    for p in ["code_challenge_method=S256", "response_type=code", "nonce=", "state=", "redirect_uri=http%3A%2F%2F127.0.0.1%3A"] {
        assert!(auth_url.contains(p), "{p} missing in {auth_url}");
    }
    let pending = cookie_of(&start, "writ_signin");
    assert!(
        start.cookies[0].contains("HttpOnly") && start.cookies[0].contains("SameSite=Lax") && start.cookies[0].contains("Path=/portal"),
        "{:?}",
        start.cookies
    );
    let back = op.approve(&auth_url, login).unwrap();
    let path = back.split_once("/portal/callback").map(|(_, q)| format!("/portal/callback{q}")).unwrap_or_else(|| panic!("{back}"));
    let done = send(h, "GET", &path, Some(&pending), None).await;
    assert_eq!(done.location.as_deref(), Some("/portal"), "{}", done.body);
    cookie_of(&done, "writ_session")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_at_the_provider_and_out_with_the_session_revoked() {
    let op = OidcProvider::start().unwrap();
    let h = portal_for(&op).await;

    let anonymous = send(&h, "GET", "/portal", None, None).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert!(anonymous.body.contains("Sign in with"), "{}", anonymous.body);
    let csp = anonymous.csp.clone().expect("a CSP on every page");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");

    let session = sign_in(&h, &op, "alice").await;
    let home = send(&h, "GET", "/portal", Some(&session), None).await;
    assert!(home.body.contains("Signed in as") && home.body.contains("alice"), "{}", home.body);
    // The session is a Writ token named `portal`, listed like any other.
    let (_, tokens) = h.get("alice", "/v1/tokens").await;
    assert!(tokens.as_array().unwrap().iter().any(|t| t["name"] == "portal" && t["identity"] == "alice" && t["revoked"].is_null()), "{tokens}");

    // Sign-out needs the session's CSRF token: without it, or with another's, nothing happens.
    let refused = send(&h, "POST", "/portal/logout", Some(&session), Some("csrf=")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("CSRF"), "{}", refused.body);
    let other = sign_in(&h, &op, "bob").await;
    let bobs_csrf = writ_server::portal::csrf_token(other.trim_start_matches("writ_session="));
    let refused = send(&h, "POST", "/portal/logout", Some(&session), Some(&format!("csrf={bobs_csrf}"))).await;
    assert!(refused.body.contains("CSRF"), "{}", refused.body);
    assert!(send(&h, "GET", "/portal", Some(&session), None).await.body.contains("Signed in as"), "still signed in");

    let csrf = writ_server::portal::csrf_token(session.trim_start_matches("writ_session="));
    let out = send(&h, "POST", "/portal/logout", Some(&session), Some(&format!("csrf={csrf}"))).await;
    assert!(out.body.contains("Signed out"), "{}", out.body);
    assert!(out.cookies.iter().any(|c| c.starts_with("writ_session=;") && c.contains("Max-Age=0")), "{:?}", out.cookies);
    // The token itself is revoked: the old cookie opens nothing.
    let after = send(&h, "GET", "/portal", Some(&session), None).await;
    assert!(after.body.contains("Sign in with") && after.body.contains("revoked"), "{}", after.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_replayed_callback_opens_no_session() {
    let op = OidcProvider::start().unwrap();
    let h = portal_for(&op).await;
    let start = send(&h, "GET", "/portal/login", None, None).await;
    let auth_url = start.location.clone().unwrap();
    let pending = cookie_of(&start, "writ_signin");
    let back = op.approve(&auth_url, "alice").unwrap();
    let path = format!("/portal/callback{}", back.split_once("/portal/callback").unwrap().1);

    // Another browser (no sign-in cookie) cannot use the code.
    let stolen = send(&h, "GET", &path, None, None).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    assert!(stolen.body.contains("started no sign-in"), "{}", stolen.body);
    // The state must be this sign-in's.
    let forged = send(&h, "GET", &path.replace("state=", "state=x"), Some(&pending), None).await;
    assert!(forged.body.contains("another sign-in"), "{}", forged.body);
    assert!(!forged.cookies.iter().any(|c| c.starts_with("writ_session=writ_")), "{:?}", forged.cookies);
    // Used once, the code is spent at the provider.
    let first = send(&h, "GET", &path, Some(&pending), None).await;
    assert_eq!(first.location.as_deref(), Some("/portal"), "{}", first.body);
    let replay = send(&h, "GET", &path, Some(&pending), None).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert!(replay.body.contains("Sign-in failed"), "{}", replay.body);
    assert!(!replay.cookies.iter().any(|c| c.starts_with("writ_session=writ_")), "{:?}", replay.cookies);
    // The provider's own refusal is shown.
    let denied = send(&h, "GET", "/portal/callback?error=access_denied&error_description=no+thanks", Some(&pending), None).await;
    assert!(denied.body.contains("access_denied") && denied.body.contains("no thanks"), "{}", denied.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_single_sign_on_the_portal_says_how_to_configure_it() {
    let h = common::harness().await;
    let page = send(&h, "GET", "/portal", None, None).await;
    assert!(page.body.contains("[oidc]"), "{}", page.body);
    let css = send(&h, "GET", "/portal/assets/portal.css", None, None).await;
    assert!(css.body.contains("--accent"), "the stylesheet is served from the binary");
}

/// A form body (`application/x-www-form-urlencoded`) of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&")
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_finds_access_requests_it_and_follows_its_evidence_and_no_one_else_sees_it() {
    let op = OidcProvider::start().unwrap();
    let h = portal_for(&op).await;
    // Nothing without a session: the sign-in page, 401.
    for path in ["/portal/catalog", "/portal/requests", "/portal/requests/new?entitlement=pg-prod/analytics_read"] {
        let page = send(&h, "GET", path, None, None).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(page.body.contains("Sign in with"), "{path}: {}", page.body);
    }
    let alice = sign_in(&h, &op, "alice").await;
    let csrf = writ_server::portal::csrf_token(alice.trim_start_matches("writ_session="));

    let catalog = send(&h, "GET", "/portal/catalog", Some(&alice), None).await;
    assert!(catalog.body.contains("pg-prod/payments_readonly") && catalog.body.contains("ldap-corp/vpn-users"), "{}", catalog.body);
    let searched = send(&h, "GET", "/portal/catalog?q=vpn", Some(&alice), None).await;
    assert!(searched.body.contains("ldap-corp/vpn-users") && !searched.body.contains("pg-prod/payments_readonly"), "{}", searched.body);

    let form_page = send(&h, "GET", "/portal/requests/new?entitlement=pg-prod/analytics_read", Some(&alice), None).await;
    assert_eq!(form_page.status, StatusCode::OK);
    assert!(form_page.body.contains("name=\"justification\"") && form_page.body.contains(&csrf), "{}", form_page.body);
    let unknown = send(&h, "GET", "/portal/requests/new?entitlement=pg-prod/nope", Some(&alice), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Without the session's CSRF token nothing is filed.
    let fields = |csrf: &str, duration: &str| {
        form(&[
            ("csrf", csrf),
            ("entitlement", "pg-prod/analytics_read"),
            ("duration", duration),
            ("justification", "weekly dashboards <script>"),
            ("ticket", ""),
        ])
    };
    let (_, before) = h.get("alice", "/v1/requests").await;
    let forged = send(&h, "POST", "/portal/requests", Some(&alice), Some(&fields("", "2h"))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    // A refused input is shown on the form, kept as typed (and escaped).
    let bad = send(&h, "POST", "/portal/requests", Some(&alice), Some(&fields(&csrf, "forever"))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("Duration") && bad.body.contains("value=\"forever\""), "{}", bad.body);
    assert!(bad.body.contains("weekly dashboards &#60;script&#62;") || bad.body.contains("weekly dashboards &lt;script&gt;"), "escaped: {}", bad.body);
    // The kind of access is chosen on the form; one that needs a ticket says so.
    assert!(
        form_page.body.contains("name=\"request_type\"") && form_page.body.contains("Administrative or elevated access (a ticket is required)"),
        "{}",
        form_page.body
    );
    let privileged = |ticket: &str| {
        form(&[
            ("csrf", csrf.as_str()),
            ("entitlement", "pg-prod/analytics_read"),
            ("duration", "2h"),
            ("justification", "rotate the replica's admin password"),
            ("ticket", ticket),
            ("request_type", "privileged_access"),
        ])
    };
    let no_ticket = send(&h, "POST", "/portal/requests", Some(&alice), Some(&privileged(""))).await;
    assert_eq!(no_ticket.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_ticket.body);
    assert!(no_ticket.body.contains("ticket") && no_ticket.body.contains("privileged_access"), "{}", no_ticket.body);
    assert!(no_ticket.body.contains("value=\"privileged_access\" selected"), "the chosen kind is kept: {}", no_ticket.body);
    let (_, after_refusals) = h.get("alice", "/v1/requests").await;
    assert_eq!(before, after_refusals, "nothing was filed");
    let typed = send(&h, "POST", "/portal/requests", Some(&alice), Some(&privileged("CHG-77"))).await;
    assert_eq!(typed.status, StatusCode::SEE_OTHER, "{}", typed.body);
    let (_, shown) = h.get("alice", &format!("/v1/requests/{}", typed.location.unwrap().trim_start_matches("/portal/requests/"))).await;
    assert_eq!(shown["request"]["request_type"], "privileged_access", "{shown}");

    let filed = send(&h, "POST", "/portal/requests", Some(&alice), Some(&fields(&csrf, "2h"))).await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
    let at = filed.location.clone().unwrap();
    let id = at.trim_start_matches("/portal/requests/").to_owned();
    let (_, shown) = h.get("alice", &format!("/v1/requests/{id}")).await;
    assert_eq!(shown["request"]["requester"], "alice", "the same request the API shows: {shown}");

    let page = send(&h, "GET", &at, Some(&alice), None).await;
    assert!(page.body.contains("request.submitted") && page.body.contains("policy.decided"), "the evidence chain: {}", page.body);
    assert!(page.body.contains("Policy decisions") && page.body.contains("auto_approve"), "the decisions and the policies behind them: {}", page.body);
    let mine = send(&h, "GET", "/portal/requests", Some(&alice), None).await;
    assert!(mine.body.contains(&id), "{}", mine.body);

    // Another person editing the id into the URL sees what an unknown id shows.
    let bob = sign_in(&h, &op, "bob").await;
    let peek = send(&h, "GET", &at, Some(&bob), None).await;
    assert_eq!(peek.status, StatusCode::NOT_FOUND);
    let nothing = send(&h, "GET", "/portal/requests/req-00000000000000000000000000000001", Some(&bob), None).await;
    assert_eq!(
        (peek.status, peek.body.replace(&id, "X")),
        (nothing.status, nothing.body.replace("req-00000000000000000000000000000001", "X")),
        "indistinguishable"
    );
    assert!(!send(&h, "GET", "/portal/requests", Some(&bob), None).await.body.contains(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_reviews_from_the_inbox_and_a_holder_gives_access_up() {
    let op = OidcProvider::start().unwrap();
    let h = portal_for(&op).await;
    let alice = sign_in(&h, &op, "alice").await;
    let alice_csrf = writ_server::portal::csrf_token(alice.trim_start_matches("writ_session="));
    let file = |entitlement: &str| {
        form(&[("csrf", alice_csrf.as_str()), ("entitlement", entitlement), ("duration", "2h"), ("justification", "on call this week"), ("ticket", "")])
    };
    // The VPN needs alice's manager, mona.
    let filed = send(&h, "POST", "/portal/requests", Some(&alice), Some(&file("ldap-corp/vpn-users"))).await;
    let at = filed.location.clone().unwrap_or_else(|| panic!("{}", filed.body));
    let id = at.trim_start_matches("/portal/requests/").to_owned();
    assert!(!send(&h, "GET", &at, Some(&alice), None).await.body.contains("Your review"), "no review form for one's own request");

    let mona = sign_in(&h, &op, "mona").await;
    let mona_csrf = writ_server::portal::csrf_token(mona.trim_start_matches("writ_session="));
    let waiting = send(&h, "GET", "/portal/requests", Some(&alice), None).await;
    assert!(waiting.body.contains("manager: 1 of"), "where it waits, and for whom: {}", waiting.body);
    let inbox = send(&h, "GET", "/portal/inbox", Some(&mona), None).await;
    assert!(inbox.body.contains(&id), "{}", inbox.body);
    assert!(!send(&h, "GET", "/portal/inbox", Some(&alice), None).await.body.contains(&id), "not in the requester's own inbox");
    let page = send(&h, "GET", &at, Some(&mona), None).await;
    assert!(page.body.contains("Your review") && page.body.contains("value=\"approve\""), "{}", page.body);
    assert!(page.body.contains("alice holds now: nothing through Writ"), "the subject's current access: {}", page.body);
    // Someone without authority at the stage is refused, and it says why.
    let bob = sign_in(&h, &op, "bob").await;
    let bob_csrf = writ_server::portal::csrf_token(bob.trim_start_matches("writ_session="));
    let refused = send(&h, "POST", &format!("{at}/review"), Some(&bob), Some(&form(&[("csrf", &bob_csrf), ("verdict", "approve"), ("reason", "")]))).await;
    assert!(matches!(refused.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "{}: {}", refused.status, refused.body);
    // Without the CSRF token nothing is recorded.
    let forged = send(&h, "POST", &format!("{at}/review"), Some(&mona), Some(&form(&[("csrf", ""), ("verdict", "approve"), ("reason", "")]))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let (_, still) = h.get("mona", &format!("/v1/requests/{id}")).await;
    assert_eq!(still["request"]["state"], "pending");
    let approved =
        send(&h, "POST", &format!("{at}/review"), Some(&mona), Some(&form(&[("csrf", &mona_csrf), ("verdict", "approve"), ("reason", "on call")]))).await;
    assert_eq!((approved.status, approved.location.as_deref()), (StatusCode::SEE_OTHER, Some(at.as_str())), "{}", approved.body);
    let (_, now) = h.get("mona", &format!("/v1/requests/{id}")).await;
    assert_eq!(now["request"]["state"], "approved", "{now}");
    assert!(now["request"]["reviews"][0]["reviewer"] == "mona");

    // Analytics is auto-approved; its fulfiller (dana) puts it in place from her task list.
    let filed = send(&h, "POST", "/portal/requests", Some(&alice), Some(&file("pg-prod/analytics_read"))).await;
    let rid = filed.location.clone().unwrap().trim_start_matches("/portal/requests/").to_owned();
    let (_, tasks) = h.get("dana", "/v1/tasks").await;
    let task = tasks.as_array().unwrap().iter().find(|t| t["request_id"] == rid).unwrap_or_else(|| panic!("{tasks}"))["id"].as_str().unwrap().to_owned();
    let dana = sign_in(&h, &op, "dana").await;
    let dana_csrf = writ_server::portal::csrf_token(dana.trim_start_matches("writ_session="));
    assert!(send(&h, "GET", "/portal/tasks", Some(&dana), None).await.body.contains(&task));
    assert!(!send(&h, "GET", "/portal/tasks", Some(&alice), None).await.body.contains(&task), "only the fulfillers' groups see it");
    let empty = send(&h, "POST", &format!("/portal/tasks/{task}/complete"), Some(&dana), Some(&form(&[("csrf", &dana_csrf), ("evidence", " ")]))).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY, "evidence is required: {}", empty.body);
    let done =
        send(&h, "POST", &format!("/portal/tasks/{task}/complete"), Some(&dana), Some(&form(&[("csrf", &dana_csrf), ("evidence", "GRANT done, INC-9")]))).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let access = send(&h, "GET", "/portal/access", Some(&alice), None).await;
    assert!(access.body.contains("pg-prod/analytics_read") && access.body.contains("Give up"), "{}", access.body);
    assert!(access.body.contains(" min left)") || access.body.contains(" h left)"), "the time it has left: {}", access.body);
    let (_, grants) = h.get("alice", "/v1/grants").await;
    let grant = grants.as_array().unwrap().iter().find(|g| g["request_id"] == rid).unwrap()["id"].as_str().unwrap().to_owned();
    // Asking for longer opens a new request through approval (its owners').
    let asked = send(
        &h,
        "POST",
        &format!("/portal/grants/{grant}/extend"),
        Some(&alice),
        Some(&form(&[("csrf", &alice_csrf), ("duration", "2h"), ("justification", "the rollout slipped")])),
    )
    .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    let extension = asked.location.unwrap().trim_start_matches("/portal/requests/").to_owned();
    let (_, ext) = h.get("alice", &format!("/v1/requests/{extension}")).await;
    assert_eq!((ext["request"]["origin"].as_str(), ext["request"]["extends_grant"].as_str()), (Some("extension"), Some(grant.as_str())), "{ext}");
    // Nobody else can give it up through the portal.
    let theirs = send(&h, "POST", &format!("/portal/grants/{grant}/give-up"), Some(&bob), Some(&form(&[("csrf", &bob_csrf)]))).await;
    assert!(theirs.status.is_client_error(), "{}", theirs.body);
    let gone = send(&h, "POST", &format!("/portal/grants/{grant}/give-up"), Some(&alice), Some(&form(&[("csrf", &alice_csrf)]))).await;
    assert_eq!((gone.status, gone.location.as_deref()), (StatusCode::SEE_OTHER, Some("/portal/access")), "{}", gone.body);
    let (_, after) = h.get("alice", &format!("/v1/requests/{rid}")).await;
    assert!(after["grants"].as_array().unwrap().iter().any(|g| g["state"] == "revoking"), "its removal started: {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_used_and_reviewed_in_the_portal_as_policy_allows() {
    let op = OidcProvider::start().unwrap();
    let h = portal_for(&op).await;
    let use_it =
        |csrf: &str| form(&[("csrf", csrf), ("entitlement", "pg-prod/analytics_read"), ("duration", "1h"), ("justification", "INC-1234: dashboards down")]);
    // alice is not on call: her use is recorded denied by policy, and its page says so.
    let alice = sign_in(&h, &op, "alice").await;
    let alice_csrf = writ_server::portal::csrf_token(alice.trim_start_matches("writ_session="));
    let refused = send(&h, "POST", "/portal/break-glass", Some(&alice), Some(&use_it(&alice_csrf))).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER, "{}", refused.body);
    let denied = send(&h, "GET", refused.location.as_deref().unwrap(), Some(&alice), None).await;
    assert!(denied.body.contains("state-denied") && denied.body.contains("refused by policy"), "{}", denied.body);

    let bob = sign_in(&h, &op, "bob").await;
    let bob_csrf = writ_server::portal::csrf_token(bob.trim_start_matches("writ_session="));
    assert_eq!(send(&h, "POST", "/portal/break-glass", Some(&bob), Some(&use_it(""))).await.status, StatusCode::FORBIDDEN, "CSRF");
    let used = send(&h, "POST", "/portal/break-glass", Some(&bob), Some(&use_it(&bob_csrf))).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.body);
    let at = used.location.unwrap();
    let page = send(&h, "GET", &at, Some(&bob), None).await;
    assert!(page.body.contains("Break-glass review: awaiting") && !page.body.contains("Accept the use"), "{}", page.body);
    assert!(send(&h, "GET", "/portal/break-glass", Some(&bob), None).await.body.contains(at.trim_start_matches("/portal/requests/")));

    // One of its named reviewers accepts it.
    let id = at.trim_start_matches("/portal/requests/").to_owned();
    let (_, v) = h.get("sam", &format!("/v1/requests/{id}")).await;
    let reviewer = v["request"]["post_review"]["reviewers"][0].as_str().unwrap().to_owned();
    let r = sign_in(&h, &op, &reviewer).await;
    let r_csrf = writ_server::portal::csrf_token(r.trim_start_matches("writ_session="));
    assert!(send(&h, "GET", &at, Some(&r), None).await.body.contains("Accept the use"));
    let done = send(
        &h,
        "POST",
        &format!("/portal/break-glass/{id}/review"),
        Some(&r),
        Some(&form(&[("csrf", &r_csrf), ("verdict", "accept"), ("note", "INC-1234 was real")])),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let (_, v) = h.get("sam", &format!("/v1/requests/{id}")).await;
    assert_eq!(v["request"]["post_review"]["status"], "accepted", "{v}");
}

/// Every page and every form action of the portal, tried the way an attacker
/// would: without a session, and (forms) with a session but without its CSRF
/// token. Nothing is shown or done; the state of the store is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_or_form_opens_to_a_missing_session_or_a_missing_csrf_token() {
    let op = OidcProvider::start().unwrap();
    let h = portal_for(&op).await;
    let alice = sign_in(&h, &op, "alice").await;
    let (_, requests) = h.get("sam", "/v1/requests").await;
    let some_request = "req-00000000000000000000000000000001";
    let some_grant = "grant-00000000000000000000000000000001";
    let some_task = "task-00000000000000000000000000000001";
    let pages = [
        "/portal/catalog",
        "/portal/requests",
        "/portal/requests/new?entitlement=pg-prod/analytics_read",
        "/portal/inbox",
        "/portal/access",
        "/portal/tasks",
        "/portal/break-glass",
        "/portal/dashboard",
        "/portal/dashboard?weeks=4",
        "/portal/removals",
        "/portal/owner-left?overdue=1",
        "/portal/requests?scope=all&state=pending",
        "/portal/break-glass?exceptions=1",
        "/portal/access?cursor=x",
        "/portal/reconcile",
        "/portal/tickets",
        "/portal/tickets?state=help_desk",
    ];
    for page in pages.iter().map(|p| p.to_string()).chain([format!("/portal/requests/{some_request}")]) {
        let anonymous = send(&h, "GET", &page, None, None).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{page}");
        assert!(anonymous.body.contains("Sign in with") && !anonymous.body.contains("Sign out"), "{page}: {}", anonymous.body);
        let forged = send(&h, "GET", &page, Some("writ_session=writ_0000000000000000000000000000000000000000000000000000000000000000"), None).await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{page} with a made-up session");
    }
    let forms = [
        ("/portal/requests".to_owned(), "entitlement=pg-prod%2Fanalytics_read&duration=1h&justification=x".to_owned()),
        (format!("/portal/requests/{some_request}/review"), "verdict=approve&reason=x".to_owned()),
        (format!("/portal/grants/{some_grant}/give-up"), String::new()),
        (format!("/portal/grants/{some_grant}/extend"), "duration=1h&justification=x".to_owned()),
        (format!("/portal/tasks/{some_task}/complete"), "evidence=x".to_owned()),
        ("/portal/break-glass".to_owned(), "entitlement=pg-prod%2Fanalytics_read&duration=1h&justification=x".to_owned()),
        (format!("/portal/break-glass/{some_request}/review"), "verdict=accept&note=x".to_owned()),
        ("/portal/inbox".to_owned(), "verdict=approve&reason=x&id=req-00000000000000000000000000000001".to_owned()),
        ("/portal/tickets/tkt-00000000000000000000000000000001/proof".to_owned(), "method=x".to_owned()),
        ("/portal/tickets/tkt-00000000000000000000000000000001/details".to_owned(), "entitlements=pg-prod%2Fanalytics_read&duration=1h".to_owned()),
        ("/portal/logout".to_owned(), String::new()),
    ];
    let (head, _) = h.app.writ.store().audit_head().await.unwrap();
    for (action, body) in &forms {
        let anonymous = send(&h, "POST", action, None, Some(body)).await;
        assert!(matches!(anonymous.status, StatusCode::UNAUTHORIZED), "{action} without a session: {}", anonymous.status);
        let no_csrf = send(&h, "POST", action, Some(&alice), Some(body)).await;
        assert!(matches!(no_csrf.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{action} without CSRF: {} {}", no_csrf.status, no_csrf.body);
        let with_wrong = send(&h, "POST", action, Some(&alice), Some(&format!("csrf={}&{body}", "0".repeat(64)))).await;
        assert!(matches!(with_wrong.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{action} with a wrong CSRF token: {}", with_wrong.status);
    }
    assert_eq!(h.app.writ.store().audit_head().await.unwrap().0, head, "nothing was written");
    let (_, after) = h.get("sam", "/v1/requests").await;
    assert_eq!(requests, after);
    assert!(send(&h, "GET", "/portal", Some(&alice), None).await.body.contains("Sign out"), "alice is still signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_reviews_several_requests_at_once_each_decided_alone() {
    let op = OidcProvider::start().unwrap();
    let h = portal_for(&op).await;
    let mut ids = Vec::new();
    for who in ["alice", "bob"] {
        let session = sign_in(&h, &op, who).await;
        let csrf = writ_server::portal::csrf_token(session.trim_start_matches("writ_session="));
        let body = form(&[("csrf", &csrf), ("entitlement", "ldap-corp/vpn-users"), ("duration", "2h"), ("justification", "travel"), ("ticket", "")]);
        let filed = send(&h, "POST", "/portal/requests", Some(&session), Some(&body)).await;
        ids.push(filed.location.unwrap().trim_start_matches("/portal/requests/").to_owned());
    }
    let mona = sign_in(&h, &op, "mona").await;
    let csrf = writ_server::portal::csrf_token(mona.trim_start_matches("writ_session="));
    let inbox = send(&h, "GET", "/portal/inbox", Some(&mona), None).await;
    assert!(ids.iter().all(|id| inbox.body.contains(id)) && inbox.body.contains("Approve selected"), "{}", inbox.body);
    let stranger = "req-00000000000000000000000000000001";
    let picked = |csrf: &str| format!("csrf={csrf}&verdict=approve&reason=ok&id={}&id={}&id={stranger}", ids[0], ids[1]);
    let forged = send(&h, "POST", "/portal/inbox", Some(&mona), Some(&picked(""))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let done = send(&h, "POST", "/portal/inbox", Some(&mona), Some(&picked(&csrf))).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    for id in &ids {
        assert!(done.body.contains(&format!("`{id}`: approved")), "{}", done.body);
        let (_, v) = h.get("mona", &format!("/v1/requests/{id}")).await;
        assert_eq!(v["request"]["state"], "approved", "{v}");
    }
    assert!(done.body.contains(&format!("`{stranger}`")) && done.body.contains("not found"), "each one says what happened: {}", done.body);
    let none = send(&h, "POST", "/portal/inbox", Some(&mona), Some(&format!("csrf={csrf}&verdict=approve&reason=ok"))).await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", none.body);
}

/// Oversight's pages: the dashboard's flow times name the requests behind
/// them, each exception figure opens its list, and none of it opens to
/// someone policy does not let read the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_links_every_figure_to_its_evidence_for_oversight_only() {
    let op = OidcProvider::start().unwrap();
    let h = portal_for(&op).await;
    let alice = sign_in(&h, &op, "alice").await;
    let alice_csrf = writ_server::portal::csrf_token(alice.trim_start_matches("writ_session="));
    let filed = send(
        &h,
        "POST",
        "/portal/requests",
        Some(&alice),
        Some(&form(&[("csrf", &alice_csrf), ("entitlement", "ldap-corp/vpn-users"), ("duration", "2h"), ("justification", "travel"), ("ticket", "")])),
    )
    .await;
    let at = filed.location.clone().unwrap_or_else(|| panic!("{}", filed.body));
    let id = at.trim_start_matches("/portal/requests/").to_owned();

    // The manager's inbox shows, per request, what the subject holds now.
    let mona = sign_in(&h, &op, "mona").await;
    let mona_csrf = writ_server::portal::csrf_token(mona.trim_start_matches("writ_session="));
    let inbox = send(&h, "GET", "/portal/inbox", Some(&mona), None).await;
    assert!(inbox.body.contains("They hold now") && inbox.body.contains("nothing through Writ"), "{}", inbox.body);
    let approved =
        send(&h, "POST", &format!("{at}/review"), Some(&mona), Some(&form(&[("csrf", &mona_csrf), ("verdict", "approve"), ("reason", "travel")]))).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);

    let sam = sign_in(&h, &op, "sam").await;
    let dashboard = send(&h, "GET", "/portal/dashboard", Some(&sam), None).await;
    assert_eq!(dashboard.status, StatusCode::OK, "{}", dashboard.body);
    let body = &dashboard.body;
    assert!(body.contains("Time to approve") && body.contains("Time to provision") && body.contains("Time to revoke"), "{body}");
    assert!(body.contains(&format!("href=\"/portal/requests/{id}\"")), "the approval's time links to its request: {body}");
    for link in ["/portal/removals?overdue=1", "/portal/owner-left", "/portal/break-glass?exceptions=1", "/portal/requests?scope=all&amp;state=approved"] {
        assert!(body.contains(&format!("href=\"{link}")), "{link} in {body}");
    }
    assert!(body.contains("<svg class=\"chart\"") && body.contains("1 approved"), "the weekly chart, drawn on the server: {body}");
    assert_eq!(
        body.matches("<script").count(),
        body.matches("<script src=\"/portal/assets/portal.js\" defer></script>").count(),
        "no script but Writ's own file"
    );
    let weeks = send(&h, "GET", "/portal/dashboard?weeks=2", Some(&sam), None).await;
    assert_eq!(weeks.body.matches("<th scope=\"row\">20").count(), 4, "two weeks in the trend and two in the drift tables: {}", weeks.body);
    for bad in ["0", "54", "eight"] {
        let refused = send(&h, "GET", &format!("/portal/dashboard?weeks={bad}"), Some(&sam), None).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "weeks={bad}");
        assert!(refused.body.contains("from 1 to 53"), "{}", refused.body);
    }

    // Each figure's list: the approved requests of everyone for security...
    let all = send(&h, "GET", "/portal/requests?scope=all&state=approved", Some(&sam), None).await;
    assert!(all.body.contains(&id) && all.body.contains("Requests: approved"), "{}", all.body);
    assert!(!send(&h, "GET", "/portal/requests?scope=all&state=pending", Some(&sam), None).await.body.contains(&id), "filtered by state");
    let bad_state = send(&h, "GET", "/portal/requests?state=maybe", Some(&sam), None).await;
    assert_eq!(bad_state.status, StatusCode::BAD_REQUEST);
    assert!(bad_state.body.contains("`maybe` is not a request state"), "{}", bad_state.body);
    // ...but only what policy lets each person see: bob sees none of alice's.
    let bob = sign_in(&h, &op, "bob").await;
    let bobs = send(&h, "GET", "/portal/requests?scope=all", Some(&bob), None).await;
    assert_eq!(bobs.status, StatusCode::OK);
    assert!(!bobs.body.contains(&id), "{}", bobs.body);
    for page in ["/portal/removals", "/portal/removals?overdue=1", "/portal/owner-left", "/portal/dashboard?weeks=4"] {
        let refused = send(&h, "GET", page, Some(&bob), None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{page}: {}", refused.body);
        let shown = send(&h, "GET", page, Some(&sam), None).await;
        assert_eq!(shown.status, StatusCode::OK, "{page}: {}", shown.body);
    }

    // A grant given up is listed among the removals under way, with its
    // request. (Analytics is auto-approved; dana puts it in place.)
    let filed = send(
        &h,
        "POST",
        "/portal/requests",
        Some(&alice),
        Some(&form(&[("csrf", &alice_csrf), ("entitlement", "pg-prod/analytics_read"), ("duration", "2h"), ("justification", "reports"), ("ticket", "")])),
    )
    .await;
    let id = filed.location.clone().unwrap_or_else(|| panic!("{}", filed.body)).trim_start_matches("/portal/requests/").to_owned();
    let (_, tasks) = h.get("dana", "/v1/tasks").await;
    let task =
        tasks.as_array().unwrap().iter().find(|t| t["request_id"] == id.as_str()).unwrap_or_else(|| panic!("{tasks}"))["id"].as_str().unwrap().to_owned();
    let (status, body) = h.post("dana", &format!("/v1/tasks/{task}/complete"), serde_json::json!({ "evidence": "GRANT done" })).await;
    assert!(status.is_success(), "{body}");
    let (_, grants) = h.get("alice", "/v1/grants").await;
    let grant =
        grants.as_array().unwrap().iter().find(|g| g["request_id"] == id.as_str()).unwrap_or_else(|| panic!("{grants}"))["id"].as_str().unwrap().to_owned();
    let gone = send(&h, "POST", &format!("/portal/grants/{grant}/give-up"), Some(&alice), Some(&form(&[("csrf", &alice_csrf)]))).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
    let removals = send(&h, "GET", "/portal/removals", Some(&sam), None).await;
    assert!(removals.body.contains("pg-prod/analytics_read") && removals.body.contains(&format!("/portal/requests/{id}")), "{}", removals.body);
    assert!(!send(&h, "GET", "/portal/removals?overdue=1", Some(&sam), None).await.body.contains(&id), "not overdue yet");
    let bad_cursor = send(&h, "GET", "/portal/removals?cursor=nonsense", Some(&sam), None).await;
    assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST);
}

/// The help desk's page: a ticket the classifier was unsure of is routed by
/// a person (counted against the prediction), a help-desk ticket proofed and
/// resolved, one found to change access re-routed; the requester cannot
/// proof herself, and nobody outside intake and oversight sees the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_help_desk_routes_proofs_resolves_and_reroutes_tickets_in_the_portal() {
    use writ_core::ticket::Arrival;
    let op = OidcProvider::start().unwrap();
    let h = portal_for(&op).await;
    let w = &h.app.writ;
    let svc = w.identity(&writ_core::ids::IdentityId::parse("svc-service-desk").unwrap()).await.unwrap();
    let arrive = |r: &str, who: &str, subject: &str| Arrival {
        source: "request-tracker".into(),
        external_ref: r.into(),
        requester: writ_core::ids::IdentityId::parse(who).unwrap(),
        subject: subject.into(),
        body: String::new(),
    };
    let unsure = w.take_ticket(&svc, arrive("RT-1", "alice", "hello"), None, None).await.unwrap().ticket;
    assert_eq!(unsure.state().as_str(), "triage", "{:?}", unsure.prediction());
    let reset = w
        .take_ticket(&svc, arrive("RT-2", "alice", "reset my password"), Some(writ_core::ids::RequestTypeId::parse("password_reset").unwrap()), None)
        .await
        .unwrap()
        .ticket;
    let unlock = w
        .take_ticket(&svc, arrive("RT-3", "bob", "unlock my account"), Some(writ_core::ids::RequestTypeId::parse("account_unlock").unwrap()), None)
        .await
        .unwrap()
        .ticket;

    let helen = sign_in(&h, &op, "helen").await;
    let csrf = writ_server::portal::csrf_token(helen.trim_start_matches("writ_session="));
    let queue = send(&h, "GET", "/portal/tickets", Some(&helen), None).await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains(&format!("/portal/tickets/{}/triage", unsure.id())) && !queue.body.contains(&reset.id().to_string()),
        "triage first: {}",
        queue.body
    );

    let routed =
        send(&h, "POST", &format!("/portal/tickets/{}/triage", unsure.id()), Some(&helen), Some(&form(&[("csrf", &csrf), ("request_type", "how_to")]))).await;
    assert_eq!((routed.status, routed.location.as_deref()), (StatusCode::SEE_OTHER, Some("/portal/tickets?state=triage")), "{}", routed.body);
    assert_eq!(w.store().ticket(unsure.id()).await.unwrap().unwrap().state().as_str(), "help_desk");

    // alice cannot proof her own ticket (nor see the queue).
    let alice = sign_in(&h, &op, "alice").await;
    let alice_csrf = writ_server::portal::csrf_token(alice.trim_start_matches("writ_session="));
    assert_eq!(send(&h, "GET", "/portal/tickets?state=help_desk", Some(&alice), None).await.status, StatusCode::FORBIDDEN);
    let (head, _) = w.store().audit_head().await.unwrap();
    let own =
        send(&h, "POST", &format!("/portal/tickets/{}/proof", reset.id()), Some(&alice), Some(&form(&[("csrf", &alice_csrf), ("method", "it is me")]))).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.body);
    assert_eq!(w.store().audit_head().await.unwrap().0, head, "nothing written");

    let help_desk = send(&h, "GET", "/portal/tickets?state=help_desk", Some(&helen), None).await;
    assert!(help_desk.body.contains(&format!("/portal/tickets/{}/proof", reset.id())), "{}", help_desk.body);
    let blank = send(&h, "POST", &format!("/portal/tickets/{}/proof", reset.id()), Some(&helen), Some(&form(&[("csrf", &csrf), ("method", " ")]))).await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY, "a proof says how: {}", blank.body);
    assert!(blank.body.contains("role=\"alert\""), "{}", blank.body);
    let proofed = send(
        &h,
        "POST",
        &format!("/portal/tickets/{}/proof", reset.id()),
        Some(&helen),
        Some(&form(&[("csrf", &csrf), ("method", "called back on the number of record")])),
    )
    .await;
    assert_eq!(proofed.status, StatusCode::SEE_OTHER, "{}", proofed.body);
    let resolved = send(
        &h,
        "POST",
        &format!("/portal/tickets/{}/resolve", reset.id()),
        Some(&helen),
        Some(&form(&[("csrf", &csrf), ("resolution", "temporary password sent by SMS")])),
    )
    .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER, "{}", resolved.body);
    let shown = send(&h, "GET", "/portal/tickets?state=resolved", Some(&helen), None).await;
    assert!(shown.body.contains("temporary password sent by SMS"), "{}", shown.body);

    // An unlock that turns out to need access goes to the governed path; the help desk files nothing itself.
    let rerouted = send(
        &h,
        "POST",
        &format!("/portal/tickets/{}/reroute", unlock.id()),
        Some(&helen),
        Some(&form(&[("csrf", &csrf), ("request_type", "application_access")])),
    )
    .await;
    assert_eq!(rerouted.status, StatusCode::SEE_OTHER, "{}", rerouted.body);
    let waiting = send(&h, "GET", "/portal/tickets?state=needs_details", Some(&helen), None).await;
    assert!(waiting.body.contains(&format!("/portal/tickets/{}/details", unlock.id())), "{}", waiting.body);
    let to_help_desk = send(
        &h,
        "POST",
        &format!("/portal/tickets/{}/reroute", unlock.id()),
        Some(&helen),
        Some(&form(&[("csrf", &csrf), ("request_type", "password_reset")])),
    )
    .await;
    assert_eq!(to_help_desk.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", to_help_desk.body);
    let (_, grants) = h.get("sam", "/v1/grants").await;
    assert!(grants.as_array().unwrap().is_empty(), "nothing granted: {grants}");
}
