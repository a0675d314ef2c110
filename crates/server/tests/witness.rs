//! Each signed checkpoint is POSTed to an http witness (here a real HTTP
//! receiver on 127.0.0.1); a witness that refuses does not stop signing. (The
//! witness directory is read back by `writ audit verify --witness` in the
//! CLI's scenario test.)

mod common;

use std::sync::atomic::Ordering;

use serde_json::json;
use writ_core::audit::Checkpoint;

use common::webhook::Receiver;
use common::{harness_with, Harness};

async fn with_witness(url: &str) -> Harness {
    let url = url.to_owned();
    harness_with(
        move |policies| {
            let config = policies.parent().unwrap().join("writ.toml");
            let text = std::fs::read_to_string(&config).unwrap();
            assert!(text.contains("audit_witness_url = \"\""), "the demo config names the key");
            std::fs::write(&config, text.replace("audit_witness_url = \"\"", &format!("audit_witness_url = \"{url}\""))).unwrap();
        },
        None,
    )
    .await
}

async fn sign(h: &Harness) -> Checkpoint {
    h.post("alice", "/v1/requests", json!({ "entitlements": ["pg-prod/analytics_read"], "justification": "weekly numbers", "duration": "1h" })).await;
    let (status, v) = h.call(Some("audrey"), "POST", "/v1/audit/checkpoints", None).await;
    assert!(status.is_success(), "{v}");
    serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signed_checkpoint_reaches_the_http_witness() {
    let witness = Receiver::start().await;
    let h = with_witness(&witness.url).await;
    let cp = sign(&h).await;
    let got = witness.all();
    assert_eq!(got.len(), 1, "{got:?}");
    let published: Checkpoint = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(published, cp);
    published.verify_signature().expect("a checkpoint anyone can check");
    assert_eq!(h.app.writ.store().audit_head().await.unwrap().0, cp.size, "it covers the whole log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_refuses_does_not_stop_signing() {
    let witness = Receiver::start().await;
    witness.refuse.store(true, Ordering::SeqCst);
    let h = with_witness(&witness.url).await;
    let cp = sign(&h).await;
    assert_eq!(witness.all().len(), 1, "it was tried");
    let stored = h.app.writ.store().checkpoints().await.unwrap();
    assert!(stored.contains(&cp), "signed and stored all the same");
}
