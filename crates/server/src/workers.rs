//! Background work: lapsing requests that waited too long, and signing audit
//! checkpoints. Failures are logged and retried on the next tick, never fatal.

use std::time::Duration;

use tokio::sync::watch;

use crate::serve::App;

const LAPSE_EVERY: Duration = Duration::from_secs(5);

pub async fn run(app: App, checkpoint_every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut lapse = tokio::time::interval(LAPSE_EVERY);
    let mut checkpoint = tokio::time::interval(checkpoint_every);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = lapse.tick() => {
                match app.writ.lapse_due().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(lapsed = n, "requests lapsed"),
                    Err(e) => tracing::error!(error = %e, "lapsing requests failed"),
                }
            }
            _ = checkpoint.tick() => {
                match app.writ.checkpoint(&app.signing_key).await {
                    Ok(Some(cp)) => tracing::info!(size = cp.size, head = %cp.head, "signed audit checkpoint"),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "signing a checkpoint failed"),
                }
            }
        }
    }
}
