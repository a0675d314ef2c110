//! Background work: jobs (provisioning, removals, notifications, scheduled
//! reconciliation), lapsing requests that waited too long, noting overdue
//! removals and break-glass reviews, and signing audit checkpoints. Failures
//! are logged and retried on the next tick, never fatal.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::serve::App;

const LAPSE_EVERY: Duration = Duration::from_secs(5);
/// How often the job queue is polled, and finished jobs are reaped.
const JOBS_EVERY: Duration = Duration::from_millis(250);
/// Grants expired at once; a full batch is followed at once by the next.
const JOBS_BATCH: u32 = 128;
/// Jobs this node runs at once. A job that ends frees its place for the next
/// one at the next poll: a long job (a reconciliation scan) holds one place,
/// never the others.
const JOBS_IN_FLIGHT: usize = 128;
/// At shutdown, how long jobs under way may take to record their outcome.
/// Those still running after are dropped: their claims lapse after
/// `job_lease` and the jobs run again (they are idempotent).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub async fn run(app: App, checkpoint_every: Duration, shutdown: watch::Receiver<bool>) {
    // Jobs run on their own task: a slow target must not delay checkpoints.
    let jobs = tokio::spawn(run_jobs(app.clone(), shutdown.clone()));
    run_periodic(app, checkpoint_every, shutdown).await;
    let _ = jobs.await;
}

/// The job worker: keeps up to [`JOBS_IN_FLIGHT`] jobs running, and claims
/// more as each ends, until `shutdown`. Each job renews its claim while it
/// runs ([`writ_app::Writ::run_job`]).
pub async fn run_jobs(app: App, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(JOBS_EVERY);
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tick.tick() => loop {
                reap(&mut running);
                // Expired grants first: their removal jobs can then be claimed
                // in this round. Keep going while the expiries filled a batch
                // or the claim filled every free place, so a backlog drains at
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
                let room = JOBS_IN_FLIGHT.saturating_sub(running.len());
                let claimed = if room == 0 {
                    0
                } else {
                    match app.writ.claim_due_jobs(u32::try_from(room).unwrap_or(u32::MAX)).await {
                        Ok(jobs) => {
                            let n = jobs.len();
                            for job in jobs {
                                let writ = app.writ.clone();
                                running.spawn(async move { writ.run_job(&job).await });
                            }
                            n
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "claiming jobs failed");
                            0
                        }
                    }
                };
                if expired < JOBS_BATCH as usize && (room == 0 || claimed < room) {
                    break;
                }
            },
        }
    }
    if running.is_empty() {
        return;
    }
    tracing::info!(jobs = running.len(), "waiting for the jobs under way to record their outcome");
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(done) = running.join_next().await {
            log_panic(done);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(jobs = running.len(), "jobs still running at shutdown were stopped; their claims lapse after `job_lease` and they run again");
        running.shutdown().await;
    }
}

/// Collects the jobs that ended since the last poll, freeing their places.
fn reap(running: &mut JoinSet<()>) {
    while let Some(done) = running.try_join_next() {
        log_panic(done);
    }
}

fn log_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!(error = %e, "a job panicked; its claim lapses and it runs again");
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
