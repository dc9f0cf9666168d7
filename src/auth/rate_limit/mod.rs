//! Per-caller request rate limit (GCRA), answering with the numbers for
//! `RateLimit-*` headers. In one process the `governor` crate keeps the
//! state in memory; with Redis the same algorithm runs as a Lua script on a
//! key per caller, so the limit holds across every process, and each
//! process leases tokens in batches so a busy key costs no round trip per
//! request ([`leased`] documents how and the bound on overshoot).

pub(crate) mod leased;

pub use leased::LEASE_TTL;

use std::num::NonZeroU32;
use std::time::Duration;

use deadpool_redis::Pool;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter as Gcra};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// What a response should advertise about the caller's remaining budget.
#[derive(Debug, Clone, Copy)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
}

type Memory = Gcra<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;
type Direct = Gcra<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

pub enum RateLimiter {
    Memory {
        per_minute: u32,
        gcra: Box<Memory>,
        /// Keys with a limit of their own (`check_limit`), e.g. per webhook.
        varied: Mutex<HashMap<String, (u32, Arc<Direct>)>>,
        /// Keys held back until an instant ([`RateLimiter::pause`]).
        paused: Mutex<HashMap<String, std::time::Instant>>,
    },
    Redis {
        per_minute: u32,
        leased: Arc<leased::Leased>,
    },
}

impl RateLimiter {
    /// In-memory limiter: this process's view only.
    pub fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n.max(1)).expect("at least 1");
        Self::Memory {
            per_minute: n.get(),
            gcra: Box::new(Gcra::keyed(Quota::per_minute(n)).with_middleware::<StateInformationMiddleware>()),
            varied: Mutex::new(HashMap::new()),
            paused: Mutex::new(HashMap::new()),
        }
    }

    /// Redis limiter shared by every process; keys are `{prefix}:{key}`.
    pub fn redis(n: u32, pool: Pool, prefix: String) -> Self {
        Self::Redis { per_minute: n.max(1), leased: Arc::new(leased::Leased::new(pool, prefix)) }
    }

    /// Counts one request for `key` against the limiter's own limit;
    /// RATE_LIMITED with the wait when over.
    pub async fn check(&self, key: &str) -> Result<RateInfo> {
        match self {
            Self::Memory { gcra, per_minute, .. } => {
                let limit = *per_minute;
                match gcra.check_key(&key.to_string()) {
                    Ok(snapshot) => Ok(RateInfo { limit, remaining: snapshot.remaining_burst_capacity() }),
                    Err(not_until) => {
                        Err(over(limit, not_until.wait_time_from(DefaultClock::default().now()).as_secs_f64()))
                    }
                }
            }
            Self::Redis { per_minute, .. } => self.check_limit(key, *per_minute).await,
        }
    }

    /// Counts one request for `key` against `per_minute`, a limit of the
    /// key's own (e.g. a webhook's configured rate, or an OAuth token's).
    pub async fn check_limit(&self, key: &str, per_minute: u32) -> Result<RateInfo> {
        let limit = per_minute.max(1);
        match self {
            Self::Memory { varied, .. } => {
                let cell = {
                    let mut map = varied.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = map.entry(key.to_string()).or_insert_with(|| (0, Arc::new(direct(limit))));
                    if entry.0 != limit {
                        *entry = (limit, Arc::new(direct(limit)));
                    }
                    entry.1.clone()
                };
                match cell.check() {
                    Ok(snapshot) => Ok(RateInfo { limit, remaining: snapshot.remaining_burst_capacity() }),
                    Err(not_until) => {
                        Err(over(limit, not_until.wait_time_from(DefaultClock::default().now()).as_secs_f64()))
                    }
                }
            }
            Self::Redis { leased, .. } => leased.check(key, limit).await,
        }
    }

    /// Holds `key` back for `wait` (e.g. a receiver that answered 429 or
    /// timed out); a longer pause already in force stays.
    pub async fn pause(&self, key: &str, wait: Duration) -> Result<()> {
        match self {
            Self::Memory { paused, .. } => {
                let until = std::time::Instant::now() + wait;
                let mut map = paused.lock().unwrap_or_else(|e| e.into_inner());
                let now = std::time::Instant::now();
                map.retain(|_, t| *t > now);
                let entry = map.entry(key.to_string()).or_insert(until);
                *entry = (*entry).max(until);
            }
            Self::Redis { leased, .. } => {
                pause_in_redis(&leased.pool, &format!("{}:pause:{key}", leased.prefix), wait).await?;
            }
        }
        Ok(())
    }

    /// How long `key` is still held back by [`RateLimiter::pause`], if at all.
    pub async fn paused_for(&self, key: &str) -> Result<Option<Duration>> {
        match self {
            Self::Memory { paused, .. } => {
                let map = paused.lock().unwrap_or_else(|e| e.into_inner());
                let now = std::time::Instant::now();
                Ok(map.get(key).filter(|t| **t > now).map(|t| *t - now))
            }
            Self::Redis { leased, .. } => {
                let (pool, prefix) = (&leased.pool, &leased.prefix);
                let mut conn = pool.get().await?;
                let left: i64 = deadpool_redis::redis::cmd("PTTL")
                    .arg(format!("{prefix}:pause:{key}"))
                    .query_async(&mut conn)
                    .await?;
                Ok((left > 0).then(|| Duration::from_millis(left as u64)))
            }
        }
    }

    /// Drops in-memory state for keys back at full capacity (Redis keys
    /// expire) and gives expired leases' unused tokens back to Redis.
    pub async fn shrink(&self) {
        match self {
            // `varied` holds one small cell per webhook and is left as it is.
            Self::Memory { gcra, .. } => {
                gcra.retain_recent();
                gcra.shrink_to_fit();
            }
            Self::Redis { leased, .. } => leased.shrink().await,
        }
    }
}

/// Sets the Redis key `key` to expire after `wait`, unless a later expiry
/// is already set: a pause only ever grows.
pub(crate) async fn pause_in_redis(pool: &Pool, key: &str, wait: Duration) -> Result<()> {
    let mut conn = pool.get().await?;
    let ms = wait.as_millis().max(1) as i64;
    let left: i64 = deadpool_redis::redis::cmd("PTTL").arg(key).query_async(&mut conn).await?;
    if left < ms {
        let _: () = deadpool_redis::redis::cmd("SET").arg(key).arg(1).arg("PX").arg(ms).query_async(&mut conn).await?;
    }
    Ok(())
}

fn direct(per_minute: u32) -> Direct {
    let n = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
    Gcra::direct(Quota::per_minute(n)).with_middleware::<StateInformationMiddleware>()
}

fn over(limit: u32, secs: f64) -> Error {
    Error::RateLimited { retry_after_secs: secs.ceil().max(1.0) as u64, limit }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_burst_is_the_per_minute_limit_then_429() {
        let rl = RateLimiter::per_minute(3);
        assert_eq!(rl.check("a").await.unwrap().remaining, 2);
        rl.check("a").await.unwrap();
        assert_eq!(rl.check("a").await.unwrap().remaining, 0);
        match rl.check("a").await {
            Err(Error::RateLimited { retry_after_secs, limit }) => {
                assert_eq!(limit, 3);
                assert!((1..=20).contains(&retry_after_secs));
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
        assert!(rl.check("b").await.is_ok(), "keys are independent");
    }
}
