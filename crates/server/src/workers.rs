//! Background work: jobs (provisioning, removals, notifications), lapsing
//! requests that waited too long, noting overdue removals and break-glass
//! reviews, and signing audit checkpoints. Failures are logged and retried on the next
//! tick, never fatal.

use std::time::Duration;

use tokio::sync::watch;

use crate::serve::App;

const LAPSE_EVERY: Duration = Duration::from_secs(5);
/// How often the job queue is polled when it was empty.
const JOBS_EVERY: Duration = Duration::from_millis(250);
/// Jobs claimed at once; a full batch is followed at once by the next.
const JOBS_BATCH: u32 = 128;

pub async fn run(app: App, checkpoint_every: Duration, shutdown: watch::Receiver<bool>) {
    // Jobs run on their own task: a slow target must not delay checkpoints.
    let jobs = tokio::spawn(run_jobs(app.clone(), shutdown.clone()));
    run_periodic(app, checkpoint_every, shutdown).await;
    let _ = jobs.await;
}

async fn run_jobs(app: App, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(JOBS_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => loop {
                // Expired grants first: their removal jobs then run in this round.
                // Keep going while either queue was full, so a backlog drains at
                // once instead of one batch per tick.
                let expired = match app.writ.expire_due(JOBS_BATCH).await {
                    Ok(n) => {
                        if n > 0 {
                            tracing::info!(grants = n, "grants expired; removing their access");
                        }
                        n
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "expiring grants failed");
                        0
                    }
                };
                let ran = match app.writ.run_due_jobs(JOBS_BATCH).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::error!(error = %e, "claiming jobs failed");
                        0
                    }
                };
                if expired < JOBS_BATCH as usize && ran < JOBS_BATCH as usize {
                    break;
                }
            },
        }
    }
}

async fn run_periodic(app: App, checkpoint_every: Duration, mut shutdown: watch::Receiver<bool>) {
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
                // Deadlines that passed: each is recorded (and notified) once.
                if let Err(e) = app.writ.note_overdue_removals().await {
                    tracing::error!(error = %e, "checking for overdue removals failed");
                }
                if let Err(e) = app.writ.note_overdue_reviews().await {
                    tracing::error!(error = %e, "checking for overdue break-glass reviews failed");
                }
            }
            _ = checkpoint.tick() => {
                match app.sign_checkpoint().await {
                    Ok(Some(cp)) => tracing::info!(size = cp.size, head = %cp.head, "signed audit checkpoint"),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "signing a checkpoint failed"),
                }
            }
        }
    }
}
