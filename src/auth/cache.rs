//! Verified credentials (API keys, OAuth access tokens and browser sessions), cached with the
//! [`Principal`] they resolve to, so a request or a WebSocket operation
//! costs a keyed hash and a map lookup instead of two database reads.
//!
//! Only successful resolutions are cached (a flood of wrong tokens cannot
//! fill it), each until the credential's own expiry at the latest. Every
//! change that could alter an answer (a key updated, rolled or deleted, a
//! role changed, a member removed, a session ended, a password changed)
//! calls [`invalidate`] after its commit: this process forgets everything at
//! once and tells the others through the event bus (a live-only message, as
//! the data cache does). The time-to-live
//! (`SWITCHYARD_AUTH_CACHE_SECONDS`) bounds how stale a copy can be if that
//! message is lost.
//!
//! Entries are keyed by a generation that every clear bumps, so a lookup
//! that read the database before a clear can never store its stale answer
//! where a lookup after the clear would find it. Open WebSockets watch the
//! generation ([`AuthCache::changes`]) and re-check their caller when it
//! moves.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use tokio::sync::watch;

use crate::auth::Principal;
use crate::crypto::TokenDigest;
use crate::state::AppState;

/// The bus message that empties every process's cache.
pub const INVALIDATE: &str = "cache.auth_invalidate";

/// Credentials kept at most.
const CAPACITY: u64 = 100_000;

#[derive(Clone)]
struct Entry {
    /// Shared with the requests it authenticates: a hit copies a pointer.
    principal: Arc<Principal>,
    /// The credential's own expiry, if it has one.
    valid_until: Option<DateTime<Utc>>,
}

/// Which kind of credential a cache key names (their hashes share one map).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ApiKey,
    Session,
    OAuthToken,
}

pub struct AuthCache {
    /// Bumped by every clear; part of every key.
    generation: AtomicU64,
    /// By (generation, kind, token hash); `None` when caching is off.
    entries: Option<Cache<(u64, Kind, TokenDigest), Entry, DigestHasher>>,
    /// Carries the generation to the WebSocket watchers.
    changes: watch::Sender<u64>,
}

impl AuthCache {
    /// A cache whose entries live at most `ttl` (zero: nothing is cached,
    /// but watchers still hear of changes).
    pub fn new(ttl: Duration) -> Self {
        let entries = (!ttl.is_zero())
            .then(|| Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build_with_hasher(DigestHasher));
        Self { generation: AtomicU64::new(0), entries, changes: watch::Sender::new(0) }
    }

    /// The generation to pass to [`AuthCache::keep`] after a database read.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The cached principal of a credential, if it is cached and unexpired.
    pub fn get(&self, kind: Kind, hash: &TokenDigest) -> Option<Arc<Principal>> {
        let entries = self.entries.as_ref()?;
        let entry = entries.get(&(self.generation(), kind, *hash))?;
        match entry.valid_until {
            Some(t) if t <= Utc::now() => None,
            _ => Some(entry.principal),
        }
    }

    /// Stores what a database read at `generation` found.
    pub fn keep(
        &self,
        generation: u64,
        kind: Kind,
        hash: TokenDigest,
        principal: &Arc<Principal>,
        valid_until: Option<DateTime<Utc>>,
    ) {
        if let Some(entries) = &self.entries {
            entries.insert((generation, kind, hash), Entry { principal: Arc::clone(principal), valid_until });
        }
    }

    /// Forgets every entry (in this process) and wakes the watchers.
    pub fn clear(&self) {
        let next = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
        self.changes.send_replace(next);
    }

    /// Changes whenever the cache is cleared: a credential somewhere may
    /// have lost (or gained) power.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// Hashes the cache's keys by folding what they carry into one word: the
/// digest's bytes are already an HMAC under the server's secret, uniform
/// and beyond a client's choosing, so mixing them again (SipHash, the
/// default) would only cost time on every request.
#[derive(Clone, Copy, Default)]
struct DigestHasher;

impl BuildHasher for DigestHasher {
    type Hasher = Folding;

    fn build_hasher(&self) -> Folding {
        Folding(0)
    }
}

/// See [`DigestHasher`]: each write is folded in with a multiply-rotate, so
/// the generation and the kind still move the hash.
struct Folding(u64);

impl Folding {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
}

impl Hasher for Folding {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Drops every cached credential, here and (through the bus) in every other
/// process, and makes open WebSockets re-check their callers. Call it after
/// the change commits.
pub fn invalidate(st: &AppState, workspace_id: &str) {
    st.auth_cache.clear();
    st.announce(workspace_id, INVALIDATE);
}

/// Empties the cache whenever another process says so; ends on shutdown.
pub fn spawn_listener(st: &AppState) {
    st.on_note(INVALIDATE, |st| st.auth_cache.clear());
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::auth::{Credential, Role};

    fn digest(token: &str) -> TokenDigest {
        crate::crypto::SecretKey::for_tests([1; 32]).token_digest(token)
    }

    fn principal(role: Role) -> Arc<Principal> {
        Arc::new(Principal {
            workspace_id: "ws_1".into(),
            user_id: "usr_1".into(),
            role,
            scopes: BTreeSet::new(),
            credential: Credential::Session { id: "ses_1".into() },
        })
    }

    #[test]
    fn a_read_from_before_a_clear_is_never_found_after_it() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let before = cache.generation();
        cache.clear();
        cache.keep(before, Kind::Session, digest("h"), &principal(Role::Owner), None);
        assert!(cache.get(Kind::Session, &digest("h")).is_none());
        cache.keep(cache.generation(), Kind::Session, digest("h"), &principal(Role::Collaborator), None);
        assert_eq!(cache.get(Kind::Session, &digest("h")).map(|p| p.role), Some(Role::Collaborator));
        assert!(cache.get(Kind::ApiKey, &digest("h")).is_none(), "kinds do not share entries");
    }

    #[test]
    fn an_expired_credential_is_not_served() {
        let cache = AuthCache::new(Duration::from_secs(60));
        let past = Utc::now() - chrono::Duration::seconds(1);
        cache.keep(cache.generation(), Kind::ApiKey, digest("h"), &principal(Role::Owner), Some(past));
        assert!(cache.get(Kind::ApiKey, &digest("h")).is_none());
    }

    #[test]
    fn a_clear_wakes_watchers_and_a_zero_ttl_caches_nothing() {
        let cache = AuthCache::new(Duration::ZERO);
        let rx = cache.changes();
        cache.keep(cache.generation(), Kind::ApiKey, digest("h"), &principal(Role::Owner), None);
        assert!(cache.get(Kind::ApiKey, &digest("h")).is_none());
        cache.clear();
        assert!(rx.has_changed().unwrap());
    }
}
