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
use writ_server::witness::Witness;
use writ_testkit::{HttpsReceiver, TestCa};

async fn with_witness(url: &str) -> Harness {
    with_witness_ca(url, "").await
}

/// The demo config with `url` as its witness, trusting `ca_file` (empty: the public roots).
async fn with_witness_ca(url: &str, ca_file: &str) -> Harness {
    let (url, ca_file) = (url.to_owned(), ca_file.to_owned());
    harness_with(
        move |policies| {
            let config = policies.parent().unwrap().join("writ.toml");
            let text = std::fs::read_to_string(&config).unwrap();
            assert!(text.contains("audit_witness_url = \"\"") && text.contains("audit_witness_ca_file = \"\""), "the demo config names the keys");
            let text = text
                .replace("audit_witness_url = \"\"", &format!("audit_witness_url = \"{url}\""))
                .replace("audit_witness_ca_file = \"\"", &format!("audit_witness_ca_file = \"{ca_file}\""));
            std::fs::write(&config, text).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_reach_an_https_witness_that_its_ca_vouches_for_and_no_other() {
    let ca = TestCa::new("witness").unwrap();
    let receiver = HttpsReceiver::start(&ca).unwrap();
    let url = format!("{}/checkpoints", receiver.base_url());
    let h = with_witness_ca(&url, &ca.ca_file().display().to_string()).await;
    let cp = sign(&h).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let hit: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    let published: Checkpoint = serde_json::from_str(hit["body"].as_str().unwrap()).unwrap();
    assert_eq!(published, cp);

    let other = TestCa::new("other").unwrap();
    let witness = Witness::new(None, Some(url.parse().unwrap()), Some(other.ca_file())).unwrap();
    let e = witness.publish(&cp).await.expect_err("a witness signed by another CA must be refused").to_string();
    assert!(e.contains(&url) && e.contains("certificate") && e.contains("`audit_witness_ca_file`"), "{e}");
    assert_eq!(receiver.received().len(), 1, "nothing reached the witness");
}
