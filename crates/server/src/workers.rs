//! Background work: jobs (provisioning, removals, notifications, scheduled
//! reconciliation), lapsing requests that waited too long, noting overdue
//! removals and break-glass reviews, reminding and escalating approval
//! stages past their service level, and signing audit checkpoints. Failures
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
    let desks = tokio::spawn(crate::desk::run_polls(app.clone(), shutdown.clone()));
    run_periodic(app, checkpoint_every, shutdown).await;
    let _ = jobs.await;
    let _ = desks.await;
}

/// When a backlog waits, the worker claims again as soon as this many places
/// are free, instead of waiting for the next poll: a burst of expiries (10,000
/// grants ending in the same minute) drains at the speed of the jobs, not at
/// [`JOBS_BATCH`] per [`JOBS_EVERY`]. Claiming in chunks keeps the claims (a
/// write each) few.
const REFILL_AT: usize = JOBS_IN_FLIGHT / 4;

/// The job worker: keeps up to [`JOBS_IN_FLIGHT`] jobs running, and claims
/// more as each ends, until `shutdown`. Each job renews its claim while it
/// runs ([`writ_app::Writ::run_job`]).
pub async fn run_jobs(app: App, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(JOBS_EVERY);
    let mut running: JoinSet<()> = JoinSet::new();
    // Whether the last round left work behind (a full batch of expiries, or a
    // claim that filled every free place): then a job ending is a reason to
    // look again at once.
    let mut backlog = false;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tick.tick() => {}
            Some(done) = running.join_next(), if backlog && !running.is_empty() => {
                log_panic(done);
                if JOBS_IN_FLIGHT - running.len() < REFILL_AT {
                    continue;
                }
            }
        }
        backlog = fill(&app, &mut running).await;
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

/// One round: reaps the jobs that ended, starts the removal of expired
/// grants and claims due jobs into the free places. Returns whether work was
/// left behind (more expiries due, or more jobs than places).
async fn fill(app: &App, running: &mut JoinSet<()>) -> bool {
    loop {
        reap(running);
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
        let more_expiries = expired >= JOBS_BATCH as usize;
        let more_jobs = room == 0 || claimed >= room;
        if !more_expiries && !more_jobs {
            return false;
        }
        if !more_expiries {
            // Every place is taken and jobs wait: look again as places free.
            return true;
        }
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
                if let Err(e) = app.writ.note_overdue_owner_left().await {
                    tracing::error!(error = %e, "checking for overdue owner-left identities failed");
                }
                match app.writ.chase_overdue_stages().await {
                    Ok(c) if c == Default::default() => {}
                    Ok(c) => tracing::info!(reminded = c.reminded, escalated = c.escalated, "approval stages chased"),
                    Err(e) => tracing::error!(error = %e, "chasing approval stages past their reminder or SLA failed"),
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
