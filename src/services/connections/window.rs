//! The proactive rate limit of calls through connections: each call takes
//! a slot in the provider's window (e.g. Instagram's 200 calls per user per
//! hour) for its connection, counted in Redis so every process sees the
//! same count, or in memory in the embedded mode. A call that finds the
//! window full does not go out to collect a 429: it learns how long until
//! the window resets and waits in the job queue. A provider's own 429
//! closes the window for its `Retry-After` too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_redis::redis::Script;
use deadpool_redis::Pool;

use crate::error::Result;

/// A provider's window: `requests` calls per `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub requests: u32,
    pub seconds: u32,
}

/// Where a connection's window stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The call may go out; `used` calls of the window so far, this one included.
    Taken { used: u32 },
    /// The window is full (or the provider asked to wait): try again after this long.
    Full { wait: Duration },
}

/// Counts calls per connection and window, across processes when Redis is used.
pub enum Windows {
    Memory(Mutex<HashMap<String, Counter>>),
    Redis { pool: Pool, prefix: String },
}

/// One connection's window in memory.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    started: Instant,
    length: Duration,
    used: u32,
    paused_until: Option<Instant>,
}

/// Takes a slot: counts the call unless the window is full or paused.
/// Returns `{used, 0}` when taken, `{-1, wait_ms}` when not.
const TAKE: &str = r"
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return {-1, pause} end
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); left = tonumber(ARGV[2]) end
if used > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return {-1, left}
end
return {used, 0}
";

impl Windows {
    pub fn memory() -> Self {
        Self::Memory(Mutex::new(HashMap::new()))
    }

    pub fn redis(pool: Pool, prefix: String) -> Self {
        Self::Redis { pool, prefix }
    }

    /// Takes a slot of `window` for the connection `key`.
    pub async fn take(&self, key: &str, window: Window) -> Result<Slot> {
        let length = Duration::from_secs(window.seconds.max(1) as u64);
        match self {
            Self::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                // Forget windows long over, so the map stays as small as the active set.
                if map.len() > 4096 {
                    map.retain(|_, c| now < c.started + c.length || c.paused_until.is_some_and(|p| now < p));
                }
                let c =
                    map.entry(key.to_string()).or_insert(Counter { started: now, length, used: 0, paused_until: None });
                if let Some(until) = c.paused_until.filter(|p| now < *p) {
                    return Ok(Slot::Full { wait: until - now });
                }
                if now >= c.started + c.length || c.length != length {
                    *c = Counter { started: now, length, used: 0, paused_until: None };
                }
                if c.used >= window.requests {
                    return Ok(Slot::Full { wait: (c.started + c.length).saturating_duration_since(now) });
                }
                c.used += 1;
                Ok(Slot::Taken { used: c.used })
            }
            Self::Redis { pool, prefix } => {
                let mut conn = pool.get().await?;
                let (used, wait): (i64, i64) = Script::new(TAKE)
                    .key(format!("{prefix}:cw:{key}"))
                    .key(format!("{prefix}:cw:pause:{key}"))
                    .arg(window.requests)
                    .arg(length.as_millis() as u64)
                    .invoke_async(&mut conn)
                    .await?;
                Ok(match used {
                    n if n > 0 => Slot::Taken { used: n as u32 },
                    _ => Slot::Full { wait: Duration::from_millis(wait.max(1) as u64) },
                })
            }
        }
    }

    /// Calls of the current window so far, for the dashboard.
    pub async fn used(&self, key: &str) -> Result<u32> {
        match self {
            Self::Memory(map) => {
                let map = map.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                Ok(map.get(key).filter(|c| now < c.started + c.length).map_or(0, |c| c.used))
            }
            Self::Redis { pool, prefix } => {
                let mut conn = pool.get().await?;
                let n: Option<u32> =
                    deadpool_redis::redis::cmd("GET").arg(format!("{prefix}:cw:{key}")).query_async(&mut conn).await?;
                Ok(n.unwrap_or(0))
            }
        }
    }

    /// Closes the connection's window for `wait` (the provider answered 429);
    /// a longer pause already in force stays.
    pub async fn pause(&self, key: &str, wait: Duration) -> Result<()> {
        match self {
            Self::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let c = map.entry(key.to_string()).or_insert(Counter {
                    started: now,
                    length: Duration::ZERO,
                    used: 0,
                    paused_until: None,
                });
                c.paused_until = Some(c.paused_until.map_or(now + wait, |p| p.max(now + wait)));
            }
            Self::Redis { pool, prefix } => {
                crate::auth::rate_limit::pause_in_redis(pool, &format!("{prefix}:cw:pause:{key}"), wait).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_window_says_how_long_until_it_resets_and_a_pause_holds_calls_back() {
        let w = Windows::memory();
        let win = Window { requests: 2, seconds: 60 };
        assert_eq!(w.take("a", win).await.unwrap(), Slot::Taken { used: 1 });
        assert_eq!(w.take("a", win).await.unwrap(), Slot::Taken { used: 2 });
        match w.take("a", win).await.unwrap() {
            Slot::Full { wait } => assert!(wait > Duration::from_secs(58) && wait <= Duration::from_secs(60)),
            other => panic!("expected a full window, got {other:?}"),
        }
        assert_eq!(w.used("a").await.unwrap(), 2, "a refused call is not counted");
        assert_eq!(w.take("b", win).await.unwrap(), Slot::Taken { used: 1 }, "connections are counted apart");
        w.pause("b", Duration::from_secs(5)).await.unwrap();
        assert!(matches!(w.take("b", win).await.unwrap(), Slot::Full { wait } if wait <= Duration::from_secs(5)));
    }
}
