//! On PostgreSQL, the token lookup of every API call without a round trip:
//! each node keeps the (token, identity) pairs it has read, and drops them
//! all whenever any node commits a change to tokens or identities.
//!
//! Why: a lookup is one round trip to the database on every call (0.3 ms at
//! the median, milliseconds at the tail under load), against a budget of
//! 50 µs. Tokens and identities change rarely next to how often they are
//! read.
//!
//! How it stays right:
//! - A commit that writes tokens or identities also runs
//!   `pg_notify('writ_auth', '')` in its transaction: PostgreSQL delivers it
//!   to every listening node once (and only if) the transaction commits. The
//!   committing node drops its own entries at once after the commit, so a
//!   revocation answered by a node holds on that node from its next call;
//!   other nodes drop theirs when the notification arrives (normally within
//!   a millisecond on the same network).
//! - A lookup that missed notes the cache's generation before reading the
//!   database and keeps what it read only if no drop happened meanwhile: a
//!   read older than a drop never outlives it.
//! - While the listening connection is down (or not yet up) nothing is kept
//!   and nothing is served from the cache: every lookup reads the database.
//!   Back up, the cache starts empty (notifications sent meanwhile are lost).
//! - Unknown tokens are never kept (a caller spraying guesses cannot fill
//!   it); at most [`MAX_ENTRIES`] are, beyond which it starts over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use writ_core::identity::Identity;
use writ_core::ids::TokenId;
use writ_core::token::Token;

/// The channel commits of tokens and identities notify.
pub(crate) const CHANNEL: &str = "writ_auth";

/// The statement a commit that writes tokens or identities runs.
pub(crate) const NOTIFY: &str = "SELECT pg_notify('writ_auth', '')";

/// The most pairs kept; one more empties the cache.
const MAX_ENTRIES: usize = 100_000;

/// How long to wait before listening again after the connection failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Entries {
    by_hash: HashMap<String, (Token, Identity)>,
    hash_of: HashMap<TokenId, String>,
}

#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<Entries>,
    /// Bumped by every drop.
    generation: AtomicU64,
    /// The listener is connected and listening: only then is the cache used.
    live: AtomicBool,
}

impl AuthCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, hash: &str) -> Option<(Token, Identity)> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        self.lock().by_hash.get(hash).cloned()
    }

    /// The generation to pass to [`AuthCache::keep`] after reading the database.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `pair`, read from the database since `generation` was taken,
    /// unless a drop happened meanwhile or the listener is down.
    pub(crate) fn keep(&self, hash: &str, pair: (Token, Identity), generation: u64) {
        let mut entries = self.lock();
        // Checked under the lock: a drop takes it too, so none can slip between.
        if !self.live.load(Ordering::Acquire) || self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.by_hash.len() >= MAX_ENTRIES {
            *entries = Entries::default();
        }
        entries.hash_of.insert(pair.0.id, hash.to_owned());
        entries.by_hash.insert(hash.to_owned(), pair);
    }

    /// Drops every pair (a token or an identity changed somewhere).
    pub(crate) fn drop_all(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        *entries = Entries::default();
    }

    /// The kept token `id` was used at `at` (and that use was recorded).
    pub(crate) fn note_use(&self, id: TokenId, at: DateTime<Utc>) {
        let mut entries = self.lock();
        let Some(hash) = entries.hash_of.get(&id).cloned() else { return };
        if let Some((token, _)) = entries.by_hash.get_mut(&hash) {
            token.last_used_at = Some(at);
        }
    }

    fn set_live(&self, live: bool) {
        // Either way it starts empty: what was kept may have missed a drop.
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        *entries = Entries::default();
        self.live.store(live, Ordering::Release);
    }
}

/// The listening task; it stops when the last store handle holding it goes.
pub(crate) struct Listener(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Listens on [`CHANNEL`] for as long as `cache` is used, dropping the
/// cache on every notification; reconnects after a failure.
pub(crate) async fn listen(url: String, cache: Arc<AuthCache>) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    cache.set_live(true);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(_)) => cache.drop_all(),
                            // The connection was lost and made again: what
                            // was notified meanwhile is lost, so drop all.
                            Ok(None) => cache.drop_all(),
                            Err(e) => {
                                tracing::warn!(error = %crate::redact(&e.to_string()), "token cache: lost the database notifications; reading every token from the database until back");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %crate::redact(&e.to_string()), "token cache: cannot listen for database notifications"),
            },
            Err(e) => tracing::warn!(error = %crate::redact(&e.to_string()), "token cache: cannot connect to listen for database notifications"),
        }
        cache.set_live(false);
        tokio::time::sleep(RELISTEN_AFTER).await;
    }
}

#[cfg(test)]
mod tests {
    use writ_core::identity::{IdentityKind, IdentityStatus};
    use writ_core::ids::IdentityId;

    use super::*;

    fn pair(n: u128) -> (Token, Identity) {
        let id = IdentityId::parse("alice").unwrap();
        let identity = Identity {
            id: id.clone(),
            kind: IdentityKind::Person,
            status: IdentityStatus::Active,
            display_name: String::new(),
            owner: None,
            manager: None,
            groups: Default::default(),
            attributes: Default::default(),
            owner_left: None,
        };
        let token = Token {
            id: TokenId::from_uuid(uuid::Uuid::from_u128(n)),
            identity: id.clone(),
            owner: id,
            created_by: "operator".into(),
            name: "t".into(),
            scope: None,
            created_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            expires_at: None,
            revoked: None,
            last_used_at: None,
            version: 1,
        };
        (token, identity)
    }

    #[test]
    fn nothing_is_kept_or_served_while_the_listener_is_down() {
        let c = AuthCache::default();
        c.keep("h", pair(1), c.generation());
        assert!(c.get("h").is_none());
        c.set_live(true);
        c.keep("h", pair(1), c.generation());
        assert!(c.get("h").is_some());
        c.set_live(false);
        assert!(c.get("h").is_none(), "down: not served");
        c.set_live(true);
        assert!(c.get("h").is_none(), "back: starts empty");
    }

    #[test]
    fn a_read_older_than_a_drop_is_not_kept() {
        let c = AuthCache::default();
        c.set_live(true);
        let before = c.generation();
        c.drop_all(); // a notification arrives while the read is under way
        c.keep("h", pair(1), before);
        assert!(c.get("h").is_none());
        c.keep("h", pair(1), c.generation());
        assert!(c.get("h").is_some());
        c.drop_all();
        assert!(c.get("h").is_none());
    }

    #[test]
    fn a_recorded_use_updates_the_kept_token() {
        let c = AuthCache::default();
        c.set_live(true);
        let (token, identity) = pair(7);
        c.keep("h", (token.clone(), identity), c.generation());
        let at = DateTime::from_timestamp(1_800_000_600, 0).unwrap();
        c.note_use(token.id, at);
        assert_eq!(c.get("h").unwrap().0.last_used_at, Some(at));
    }
}
