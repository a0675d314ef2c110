//! No request may panic or stall the server: a panicking handler is answered
//! 500 in the API's error shape, a slow one is answered `timeout`, and the
//! listener serves at most `max_connections` connections at once. Each test
//! runs the demo install's real router, hardened by `serve::harden`, with an
//! extra route that misbehaves.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use writ_server::config::Config;
use writ_server::serve::{harden, router, LimitedListener};

/// Upper bound for anything that must happen eventually; never a speed claim.
const LIVENESS: Duration = Duration::from_secs(60);

/// The demo install's real router, with `extra` routes added, hardened.
async fn demo_router(extra: Router, request_timeout: Duration) -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().unwrap();
    let report = writ_server::init::init(dir.path(), false).await.unwrap();
    let cfg = Config::load_from(&report.config, std::iter::empty()).unwrap();
    let (app, _) = writ_server::build(&cfg).await.unwrap();
    (dir, harden(router(app, cfg.max_body_bytes).merge(extra), request_timeout))
}

/// Serves `router` through a [`LimitedListener`] on 127.0.0.1, as `writ serve`
/// does, with the default idle timeout.
async fn serve(router: Router, max_connections: usize) -> String {
    serve_idle(router, max_connections, Duration::from_secs(120)).await
}

/// [`serve`] with connections closed after `idle_timeout` without traffic.
async fn serve_idle(router: Router, max_connections: usize, idle_timeout: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(LimitedListener::new(listener, max_connections, idle_timeout), router).await.unwrap() });
    format!("http://{addr}")
}

/// A handler that panics with something the caller must not see.
async fn boom() -> &'static str {
    panic!("secret detail: hunter2")
}

/// A handler slower than any timeout.
async fn never_answers() -> &'static str {
    std::future::pending().await
}

async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let res = tokio::time::timeout(LIVENESS, client.get(url).send()).await.expect("the server answers").expect("an HTTP answer");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

/// `{"error": code, "message": …}` and nothing else, like every API error.
fn assert_error_shape(body: &Value, code: &str) {
    let fields = body.as_object().expect("a JSON object");
    assert_eq!(fields.len(), 2, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test]
async fn a_panicking_handler_is_answered_500_as_json_and_the_server_keeps_serving() {
    let boom = Router::new().route("/boom", get(boom));
    let (_dir, router) = demo_router(boom, Duration::from_secs(30)).await;
    let base = serve(router, 16).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let (status, body) = get_json(&client, &format!("{base}/boom")).await;
        assert_eq!(status, 500);
        assert_error_shape(&body, "internal");
        assert!(!body.to_string().contains("hunter2"), "the panic's text stays in the log: {body}");
        let (status, health) = get_json(&client, &format!("{base}/healthz")).await;
        assert_eq!(status, 200, "{health}");
        assert_eq!(health["status"], "ok");
    }
}

#[tokio::test]
async fn a_handler_past_the_request_timeout_is_answered_timeout_as_json() {
    let slow = Router::new().route("/slow", get(never_answers));
    let (_dir, router) = demo_router(slow, Duration::from_secs(1)).await;
    let base = serve(router, 16).await;
    let client = reqwest::Client::new();
    let (status, body) = get_json(&client, &format!("{base}/slow")).await;
    assert_eq!(status, 503);
    assert_error_shape(&body, "timeout");
    assert!(body["message"].as_str().unwrap().contains("request_timeout"), "{body}");
    // A real route under the same timeout still answers normally.
    let (status, health) = get_json(&client, &format!("{base}/healthz")).await;
    assert_eq!(status, 200, "{health}");
}

#[tokio::test]
async fn the_timeout_and_the_panic_answers_also_hold_without_a_socket() {
    use tower::ServiceExt;
    let extra = Router::new()
        .route("/boom", get(boom))
        .route("/slow", get(never_answers))
        .route("/busy", get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy") }));
    let (_dir, router) = demo_router(extra, Duration::from_secs(1)).await;
    // A handler's own 503 (as `/healthz` gives when the database is down) keeps
    // its body: only the timeout's answer becomes the timeout error.
    let req = axum::http::Request::get("/busy").body(axum::body::Body::empty()).unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap(), "busy");
    for (path, status, code) in [("/boom", 500, "internal"), ("/slow", 503, "timeout")] {
        let req = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        let res = tokio::time::timeout(LIVENESS, router.clone().oneshot(req)).await.expect("answered").unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        assert_eq!(res.headers()["content-type"], "application/json", "{path}");
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        assert_error_shape(&serde_json::from_slice(&bytes).unwrap(), code);
    }
}

/// Sends a keep-alive `GET /healthz` on `stream`.
async fn send_healthz(stream: &mut TcpStream) {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: writ\r\n\r\n").await.unwrap();
}

/// Reads until the end of a response's head, and returns the head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "the server closed the connection mid-head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn with_one_connection_allowed_a_second_waits_until_the_first_closes() {
    let (_dir, router) = demo_router(Router::new(), Duration::from_secs(30)).await;
    let base = serve(router, 1).await;
    let addr = base.trim_start_matches("http://").to_owned();

    // The first connection is served, and stays open (keep-alive).
    let mut first = TcpStream::connect(&addr).await.unwrap();
    send_healthz(&mut first).await;
    let head = tokio::time::timeout(LIVENESS, read_head(&mut first)).await.expect("the first connection is served");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // The second one is taken by the kernel's accept queue but not served:
    // nothing comes back while the first is open. (A broken limit could only
    // make this pass by luck on a very slow machine, never fail a good one.)
    let mut second = TcpStream::connect(&addr).await.unwrap();
    send_healthz(&mut second).await;
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(&mut byte)).await;
    assert!(early.is_err(), "the second connection was answered while the first was open");

    // Once the first closes, the second is served; then a third after it.
    drop(first);
    // (Cancelling a read loses nothing, so the head starts from its first byte.)
    let head = tokio::time::timeout(LIVENESS, read_head(&mut second)).await.expect("the second connection is served once the first closes");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(second);
    let mut third = TcpStream::connect(&addr).await.unwrap();
    send_healthz(&mut third).await;
    let head = tokio::time::timeout(LIVENESS, read_head(&mut third)).await.expect("the slot is freed again");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout_and_frees_its_slot() {
    let (_dir, router) = demo_router(Router::new(), Duration::from_secs(1)).await;
    let base = serve_idle(router, 1, Duration::from_secs(2)).await;
    let addr = base.trim_start_matches("http://").to_owned();

    // A client takes the only slot and sends nothing, ever.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // Another one waits in the accept queue behind it.
    let mut waiting = TcpStream::connect(&addr).await.unwrap();
    send_healthz(&mut waiting).await;

    // The silent one is closed by the server (end of stream, or a reset)...
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(LIVENESS, silent.read(&mut byte)).await.expect("the server closes an idle connection");
    assert!(matches!(closed, Ok(0) | Err(_)), "the silent connection got data: {closed:?}");
    // ... and the waiting one is served in its slot.
    let head = tokio::time::timeout(LIVENESS, read_head(&mut waiting)).await.expect("the freed slot serves the next connection");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[test]
fn the_idle_timeout_must_outlast_the_request_timeout() {
    let cfg = Config { request_timeout: "30s".into(), idle_timeout: "30s".into(), ..Config::default() };
    let err = cfg.resolve().unwrap_err().to_string();
    assert!(err.contains("idle_timeout") && err.contains("request_timeout"), "{err}");
    let cfg = Config { request_timeout: "30s".into(), idle_timeout: "31s".into(), ..Config::default() };
    assert_eq!(cfg.resolve().unwrap().idle_timeout, Duration::from_secs(31));
}
