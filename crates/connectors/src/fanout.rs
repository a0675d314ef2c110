//! Several notifiers behind the one the app takes (the webhook and Slack):
//! each notification goes to every one. A retry (after a transient failure
//! of one) skips those that already took it, as far as this node remembers,
//! so a Slack channel is not posted the same approval twice because the
//! webhook was down.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use writ_app::ports::{Notification, Notifier, NotifyError};

pub struct Fanout {
    notifiers: Vec<Arc<dyn Notifier>>,
    /// (notification id, notifier index) delivered while another failed transiently.
    delivered: Mutex<HashSet<(String, usize)>>,
}

impl Fanout {
    /// `None` for no notifier, the notifier itself for one, else a fan-out.
    pub fn of(mut notifiers: Vec<Arc<dyn Notifier>>) -> Option<Arc<dyn Notifier>> {
        match notifiers.len() {
            0 => None,
            1 => notifiers.pop(),
            _ => Some(Arc::new(Fanout { notifiers, delivered: Mutex::default() })),
        }
    }
}

#[async_trait]
impl Notifier for Fanout {
    fn describe(&self) -> String {
        self.notifiers.iter().map(|n| n.describe()).collect::<Vec<_>>().join(" and ")
    }

    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        let mut transient = Vec::new();
        let mut permanent = Vec::new();
        for (i, notifier) in self.notifiers.iter().enumerate() {
            let key = (n.id.clone(), i);
            if self.delivered.lock().expect("no panic holds it").contains(&key) {
                continue;
            }
            match notifier.deliver(n).await {
                Ok(()) => {
                    self.delivered.lock().expect("no panic holds it").insert(key);
                }
                Err(NotifyError::Transient(e)) => transient.push(e),
                Err(NotifyError::Permanent(e)) => permanent.push(e),
            }
        }
        let errors: Vec<String> = transient.iter().chain(&permanent).cloned().collect();
        if !transient.is_empty() {
            // Retried: remember who already has it.
            return Err(NotifyError::Transient(errors.join("; ")));
        }
        self.delivered.lock().expect("no panic holds it").retain(|(id, _)| id != &n.id);
        if permanent.is_empty() {
            Ok(())
        } else {
            Err(NotifyError::Permanent(errors.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Sink {
        calls: AtomicUsize,
        fail_first: usize,
    }

    #[async_trait]
    impl Notifier for Sink {
        fn describe(&self) -> String {
            "sink".into()
        }
        async fn deliver(&self, _: &Notification) -> Result<(), NotifyError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if call < self.fail_first {
                Err(NotifyError::Transient("down".into()))
            } else {
                Ok(())
            }
        }
    }

    fn notification() -> Notification {
        Notification {
            id: "n1".into(),
            kind: writ_app::ports::NotificationKind::ApprovalNeeded,
            at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            request: None,
            event: "request.awaiting_review".into(),
            payload: serde_json::json!({}),
            summary: "s".into(),
        }
    }

    #[tokio::test]
    async fn a_retry_goes_only_to_the_notifier_that_failed() {
        let up = Arc::new(Sink { calls: AtomicUsize::new(0), fail_first: 0 });
        let flaky = Arc::new(Sink { calls: AtomicUsize::new(0), fail_first: 1 });
        let fanout = Fanout::of(vec![up.clone(), flaky.clone()]).unwrap();
        assert!(matches!(fanout.deliver(&notification()).await, Err(NotifyError::Transient(_))));
        fanout.deliver(&notification()).await.unwrap();
        assert_eq!((up.calls.load(Ordering::SeqCst), flaky.calls.load(Ordering::SeqCst)), (1, 2));
        assert_eq!(fanout.describe(), "sink and sink");
        assert!(Fanout::of(Vec::new()).is_none());
    }
}
