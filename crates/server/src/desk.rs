//! Service desks Writ takes tickets from (`[request_tracker]`): the desk is
//! built and checked at start-up, and its queue is read every `poll_every`
//! by every node (a ticket is taken in once however many nodes read it:
//! its `(source, reference)` is unique).

use std::time::Duration;

use tokio::sync::watch;
use writ_app::desk::Polled;
use writ_app::AppError;
use writ_connectors::request_tracker::{RequestTracker, RequestTrackerConfig, SOURCE};
use writ_core::duration::AccessDuration;
use writ_core::identity::Identity;
use writ_core::ids::IdentityId;

use crate::serve::App;

/// How one desk's queue is read: as whom, matching requesters by which
/// identity attribute, how often.
#[derive(Debug, Clone)]
pub struct DeskPoll {
    pub source: String,
    pub actor: IdentityId,
    pub account_attribute: String,
    pub every: Duration,
}

/// The Request Tracker desk of `[request_tracker]`, checked: its settings,
/// its token, and its actor among `identities`.
pub fn request_tracker(config: Option<&RequestTrackerConfig>, identities: &[Identity]) -> anyhow::Result<Option<(RequestTracker, DeskPoll)>> {
    let Some(c) = config else { return Ok(None) };
    let desk = RequestTracker::new(c)?;
    let bad = |key: &str, why: String| anyhow::anyhow!("config: `[request_tracker] {key}`: {why}");
    let actor = IdentityId::parse(c.actor.trim()).map_err(|e| bad("actor", e.to_string()))?;
    if !identities.iter().any(|i| i.id == actor && i.is_active()) {
        return Err(bad("actor", format!("`{actor}` is not an active Writ identity: name the integration's identity (allowed `intake` by policy)")));
    }
    let every = AccessDuration::parse(c.poll_every.trim()).map_err(|e| bad("poll_every", format!("{e}: write e.g. `30s`")))?;
    if every.secs() < 1 {
        return Err(bad("poll_every", "at least `1s`".into()));
    }
    let attribute = c.account_attribute.trim().to_owned();
    if attribute.is_empty() {
        return Err(bad("account_attribute", "empty: name the identity attribute that holds a requester's RT address, e.g. `email`".into()));
    }
    let poll = DeskPoll { source: SOURCE.to_owned(), actor, account_attribute: attribute, every: Duration::from_secs(every.secs().unsigned_abs()) };
    Ok(Some((desk, poll)))
}

impl App {
    /// Reads every configured desk's queue once; what each poll did.
    pub async fn poll_desks(&self) -> Vec<(String, Result<Polled, AppError>)> {
        let mut done = Vec::new();
        for poll in self.desk_polls.iter() {
            let outcome = match self.writ.identity(&poll.actor).await {
                Ok(actor) => self.writ.poll_desk(&actor, &poll.source, &poll.account_attribute).await,
                Err(e) => Err(e),
            };
            done.push((poll.source.clone(), outcome));
        }
        done
    }
}

/// Reads the desks' queues on their schedule until `shutdown`.
pub async fn run_polls(app: App, mut shutdown: watch::Receiver<bool>) {
    let Some(every) = app.desk_polls.iter().map(|p| p.every).min() else { return };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                for (source, outcome) in app.poll_desks().await {
                    match outcome {
                        Ok(p) if p == Polled::default() => {}
                        Ok(p) => tracing::info!(desk = %source, taken = p.taken, refused = p.refused, already = p.already, "service desk read"),
                        Err(e) => tracing::warn!(desk = %source, error = %e, "reading the service desk failed; trying again next poll"),
                    }
                }
            }
        }
    }
}
