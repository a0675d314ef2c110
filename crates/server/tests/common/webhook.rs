//! A real HTTP receiver for Writ's webhooks, on a free loopback port: it
//! records every delivery (headers and raw body) and answers 503 to the first
//! `fail_first` of them, so tests can watch retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// The secret the test config gives Writ, and the receiver checks with.
pub const SECRET: &str = "test-webhook-secret-0123456789";

#[derive(Debug, Clone)]
pub struct Delivery {
    pub signature: String,
    pub delivery_id: String,
    pub event: String,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub deliveries: Arc<Mutex<Vec<Delivery>>>,
    pub fail_first: Arc<AtomicUsize>,
    /// Refuse everything with 410 Gone (a receiver that will never take it).
    pub refuse: Arc<std::sync::atomic::AtomicBool>,
    pub url: String,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let failing = r.fail_first.load(Ordering::SeqCst) > 0;
    if failing {
        r.fail_first.fetch_sub(1, Ordering::SeqCst);
    }
    let status = if r.refuse.load(Ordering::SeqCst) {
        StatusCode::GONE
    } else if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::NO_CONTENT
    };
    r.deliveries.lock().unwrap().push(Delivery {
        signature: header("writ-signature"),
        delivery_id: header("writ-delivery"),
        event: header("writ-event"),
        body: body.to_vec(),
        status: status.as_u16(),
    });
    status
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/writ", listener.local_addr().unwrap());
        let r = Receiver { url, ..Receiver::default() };
        let app = Router::new().route("/hooks/writ", post(receive)).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    /// The `[notifications]` table pointing at this receiver, its secret in
    /// a file in `dir`.
    pub fn config(&self, dir: &std::path::Path) -> String {
        let secret = dir.join("webhook.secret");
        std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
        format!("\n[notifications]\nwebhook_url = \"{}\"\nsecret_file = \"{}\"\n", self.url, secret.display())
    }

    /// Accepted deliveries of `kind`, each checked against its signature.
    pub fn accepted(&self, kind: &str) -> Vec<Delivery> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let all = self.deliveries.lock().unwrap().clone();
        all.into_iter()
            .filter(|d| d.status == 204 && d.event == kind)
            .inspect(|d| writ_connectors::webhook::verify(SECRET, &d.signature, &d.body, now, 300).unwrap_or_else(|e| panic!("{kind}: {e}")))
            .collect()
    }

    pub fn all(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}
