//! The proactive rate limit of calls through connections: each call takes
//! a slot in the provider's window (e.g. Instagram's 200 calls per user per
//! hour) for its connection, counted in Redis so every process sees the
//! same count, or in memory in the embedded mode. A call that finds the
//! window full does not go out to collect a 429: it learns how long until
//! the window resets and waits in the job queue. A provider's own 429
//! closes the window for its `Retry-After` too.
//!
//! **Leases (Redis).** A busy connection of a generous provider (Stripe's
//! 100 calls a second) would pay a Redis round trip per call. So, as the
//! API rate limiter does (`auth::rate_limit::leased`), a process takes
//! several slots of the window in one script call and hands them out from
//! memory: a lease starts at one slot (the plain per-call count) and
//! doubles while leases are used up within 50 ms of each other, up to a
//! twentieth of the window ([`MAX_SHARE`]); Redis never grants more than
//! half of what is free. Only windows of at least [`LEASE_FROM_RATE`] calls
//! a second are leased: Instagram's 200 an hour is counted call by call.
//!
//! **Bound.** Every slot is counted in Redis, in the window it is used in,
//! before its call goes out: a lease's slots are handed out only until
//! [`LEASE_TTL`] after it was taken and never past the end of the window
//! that counted them, so the provider never sees more calls in a window
//! than the window allows.
//!
//! **Unused slots.** Slots a process holds unused may make another process
//! find the window full early. They go back to Redis (to the same window
//! only) when their lease expires (a timer per lease), when the provider
//! answers 429 (its pause then reaches other processes' leases within
//! [`LEASE_TTL`]), or at the next housekeeping tick. So a call refused
//! while leases are out (or expired less than [`RETURN_TAIL`] ago) learns,
//! besides the window's end, that slots may come back sooner: when the
//! last lease has expired, plus [`RETURN_GRACE`] for its slots to land. A
//! caller waiting for its answer looks again then instead of sleeping to
//! the window's end, which may be an hour away; a queued call is not
//! rescheduled for it (each reschedule is a write), it runs at the end.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use deadpool_redis::redis::Script;
use deadpool_redis::Pool;

use crate::auth::rate_limit::leased::LeaseSize;
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
    /// The call may go out; about `used` calls of the window so far, this
    /// one included (exact unless slots are leased).
    Taken { used: u32 },
    /// The window is full (or the provider asked to wait): try again after
    /// `wait`. `sooner`: slots leased by some process and not used yet may
    /// come back this soon; worth a look by a caller waiting anyway.
    Full { wait: Duration, sooner: Option<Duration> },
}

/// Counts calls per connection and window, across processes when Redis is used.
pub enum Windows {
    Memory(Mutex<HashMap<String, Counter>>),
    Redis(RedisWindows),
}

/// One connection's window in memory.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    started: Instant,
    length: Duration,
    used: u32,
    paused_until: Option<Instant>,
}

/// How long leased slots may be handed out.
pub const LEASE_TTL: Duration = Duration::from_secs(1);
/// The largest lease is this fraction of the window.
const MAX_SHARE: u32 = 20;
/// Windows allowing fewer calls a second than this are counted call by call.
const LEASE_FROM_RATE: u32 = 10;
/// How long after the last lease of a window expires its unused slots
/// should be back (the holder's timer fires at expiry, a round trip later
/// they are in Redis).
pub const RETURN_GRACE: Duration = Duration::from_millis(100);
/// How long after that a refused call still hears `sooner`, in case the
/// slots are late (a loaded process, a slow Redis).
pub const RETURN_TAIL: Duration = Duration::from_secs(1);
/// How long a give-back may wait for a Redis connection.
const GIVE_BACK_TIMEOUT: Duration = Duration::from_secs(1);

/// Takes up to ARGV[3] slots of the window at KEYS[1] (a hash: `used`,
/// `ends`, ms on Redis's clock, and `lent`, when its last lease of more than
/// one slot expires) of ARGV[1] calls per ARGV[2] ms, unless the pause at
/// KEYS[2] holds. Grants at most half of what is free, at least one; a
/// lease lives ARGV[4] ms. Returns {used, ms until the window ends, granted,
/// its end, -1} or, refused, {-1, wait ms, 0, 0, sooner ms}: while leases
/// are out or expired less than ARGV[6] ms ago, `sooner` is ARGV[5] ms past
/// the last one's expiry, else -1.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return {-1, pause, 0, 0, -1} end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or '0')
local used = 0
if ends <= now then
  ends = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'used', 0, 'ends', ends, 'lent', 0)
  redis.call('PEXPIREAT', KEYS[1], ends)
else
  used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
end
local free = tonumber(ARGV[1]) - used
if free < 1 then
  local sooner = -1
  local lent = tonumber(redis.call('HGET', KEYS[1], 'lent') or '0')
  if lent + tonumber(ARGV[6]) > now then
    sooner = math.min(ends - now, math.max(lent - now, 0) + tonumber(ARGV[5]))
  end
  return {-1, ends - now, 0, 0, sooner}
end
local n = math.min(tonumber(ARGV[3]), math.max(1, math.floor(free / 2)))
redis.call('HINCRBY', KEYS[1], 'used', n)
if n > 1 then
  local lent = now + tonumber(ARGV[4])
  if lent > tonumber(redis.call('HGET', KEYS[1], 'lent') or '0') then
    redis.call('HSET', KEYS[1], 'lent', lent)
  end
end
return {used + n, ends - now, n, ends, -1}
",
    )
});

/// Gives ARGV[1] unused slots back to the window at KEYS[1], if it is still
/// the window that ends at ARGV[2].
static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if tonumber(redis.call('HGET', KEYS[1], 'ends') or '0') == tonumber(ARGV[2]) then
  if redis.call('HINCRBY', KEYS[1], 'used', -tonumber(ARGV[1])) < 0 then
    redis.call('HSET', KEYS[1], 'used', 0)
  end
end
return 0
",
    )
});

/// The Redis windows, with this process's leases.
pub struct RedisWindows {
    pool: Pool,
    prefix: String,
    /// Shared with the timers that give expired leases' slots back.
    leases: Arc<Mutex<HashMap<String, Lease>>>,
}

/// This process's lease of one connection's window.
#[derive(Default)]
struct Lease {
    /// The window the slots were taken under.
    window: Option<Window>,
    /// Slots counted in Redis and not handed out yet.
    left: u32,
    /// Until when they may be handed out.
    until: Option<Instant>,
    /// The end of the Redis window that counted them (its identity).
    ends: i64,
    /// Calls counted at the last lease, plus those handed out since.
    used: u32,
    /// How many slots the next lease asks for.
    sizing: LeaseSize,
    /// The provider asked this process to wait until then (a 429): nothing
    /// is handed out, and slots that land meanwhile go back.
    paused_until: Option<Instant>,
    /// Held while a lease is fetched: callers that find no slot wait for
    /// it instead of each asking Redis (and doubling the size) at once.
    fetch: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Lease {
    /// A slot from memory, if one may be handed out now.
    fn hand_out(&mut self, window: Window, now: Instant) -> Option<Slot> {
        if let Some(wait) = self.paused(now) {
            return Some(Slot::Full { wait, sooner: None });
        }
        if self.left == 0 || self.window != Some(window) || self.until.is_none_or(|u| now >= u) {
            return None;
        }
        self.left -= 1;
        self.used += 1;
        Some(Slot::Taken { used: self.used })
    }

    /// How long the provider's pause still holds, if it does.
    fn paused(&self, now: Instant) -> Option<Duration> {
        self.paused_until.filter(|u| now < *u).map(|u| u - now)
    }

    /// Takes the unused slots out of the lease: (how many, their window's end).
    fn unused(&mut self) -> Option<(u32, i64)> {
        let n = std::mem::take(&mut self.left);
        (n > 0).then_some((n, self.ends))
    }

    /// The size of the lease to ask for now (see the module docs).
    fn next_size(&mut self, window: Window, now: Instant) -> u32 {
        if window.requests / window.seconds.max(1) < LEASE_FROM_RATE {
            return 1;
        }
        self.sizing.next(now, window.requests / MAX_SHARE)
    }
}

impl RedisWindows {
    fn window_key(&self, key: &str) -> String {
        format!("{}:cwin:{key}", self.prefix)
    }

    fn pause_key(&self, key: &str) -> String {
        format!("{}:cw:pause:{key}", self.prefix)
    }

    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        lock(&self.leases)
    }

    async fn take(&self, key: &str, window: Window) -> Result<Slot> {
        let fetch = {
            let mut leases = self.leases();
            let lease = leases.entry(key.to_string()).or_default();
            if let Some(slot) = lease.hand_out(window, Instant::now()) {
                return Ok(slot);
            }
            lease.fetch.clone()
        };
        let _fetching = fetch.lock().await;
        let (want, back) = {
            let now = Instant::now();
            let mut leases = self.leases();
            let lease = leases.entry(key.to_string()).or_default();
            // Whoever held the fetch may have brought slots.
            if let Some(slot) = lease.hand_out(window, now) {
                return Ok(slot);
            }
            let back = lease.unused();
            (lease.next_size(window, now), back)
        };
        if let Some((n, ends)) = back {
            self.give_back(key, n, ends).await;
        }
        let length = Duration::from_secs(window.seconds.max(1) as u64);
        let mut conn = self.pool.get().await?;
        // Before the script reads Redis's clock: `until` must not reach
        // past the window's end by the round trip.
        let sent = Instant::now();
        let (used, ms, granted, ends, sooner): (i64, i64, i64, i64, i64) = TAKE
            .key(self.window_key(key))
            .key(self.pause_key(key))
            .arg(window.requests)
            .arg(length.as_millis() as u64)
            .arg(want)
            .arg(LEASE_TTL.as_millis() as u64)
            .arg(RETURN_GRACE.as_millis() as u64)
            .arg(RETURN_TAIL.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        drop(conn);
        if used <= 0 {
            let sooner = (sooner >= 0).then(|| Duration::from_millis(sooner.max(1) as u64));
            return Ok(Slot::Full { wait: Duration::from_millis(ms.max(1) as u64), sooner });
        }
        if granted > 1 {
            let until = sent + LEASE_TTL.min(Duration::from_millis(ms.max(0) as u64));
            let (back, held) = {
                let mut leases = self.leases();
                let lease = leases.entry(key.to_string()).or_default();
                if lease.paused(Instant::now()).is_some() {
                    // Slots that land during a pause go back at once.
                    (Some(((granted - 1) as u32, ends)), false)
                } else {
                    // Another call's lease may have landed meanwhile: one
                    // of the same window adds up, an older one goes back.
                    let older = match lease.ends == ends && lease.window == Some(window) {
                        true => None,
                        false => lease.unused(),
                    };
                    lease.left += (granted - 1) as u32;
                    lease.until = Some(until);
                    lease.ends = ends;
                    lease.window = Some(window);
                    lease.used = used as u32;
                    (older, true)
                }
            };
            if let Some((n, ends)) = back {
                self.give_back(key, n, ends).await;
            }
            if held {
                self.give_back_at(key, until);
            }
        }
        Ok(Slot::Taken { used: used as u32 })
    }

    /// Returns `n` unused slots to the window that ends at `ends`.
    async fn give_back(&self, key: &str, n: u32, ends: i64) {
        give_back(&self.pool, &self.window_key(key), n, ends).await;
    }

    /// When the lease of `key` that expires at `until` does, its unused
    /// slots go back, unless a newer lease took its place (whose own timer
    /// then does it).
    fn give_back_at(&self, key: &str, until: Instant) {
        let (pool, leases, window_key, key) =
            (self.pool.clone(), self.leases.clone(), self.window_key(key), key.to_string());
        tokio::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            let back = match lock(&leases).get_mut(&key) {
                Some(lease) if lease.until == Some(until) => lease.unused(),
                _ => None,
            };
            if let Some((n, ends)) = back {
                give_back(&pool, &window_key, n, ends).await;
            }
        });
    }

    /// Gives back the unused slots of expired leases, and forgets leases
    /// with nothing left that have not been used for a while.
    async fn shrink(&self) {
        let now = Instant::now();
        let mut back = Vec::new();
        self.leases().retain(|key, lease| {
            let expired = lease.until.is_none_or(|u| now >= u);
            if expired {
                if let Some((n, ends)) = lease.unused() {
                    back.push((key.clone(), n, ends));
                }
            }
            !(expired && lease.sizing.idle(now) && lease.paused(now).is_none())
        });
        for (key, n, ends) in back {
            self.give_back(&key, n, ends).await;
        }
    }
}

fn lock(leases: &Mutex<HashMap<String, Lease>>) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
    leases.lock().unwrap_or_else(|e| e.into_inner())
}

/// Returns `n` unused slots to the window at `window_key` that ends at
/// `ends`. Best effort: slots that do not make it back (within
/// [`GIVE_BACK_TIMEOUT`]) only count until that window ends.
async fn give_back(pool: &Pool, window_key: &str, n: u32, ends: i64) {
    let given = async {
        let mut conn = pool.get().await?;
        let _: i64 = GIVE_BACK.key(window_key).arg(n).arg(ends).invoke_async(&mut conn).await?;
        Ok::<_, crate::Error>(())
    };
    match tokio::time::timeout(GIVE_BACK_TIMEOUT, given).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(cause = %e, "could not give unused rate window slots back"),
        Err(_) => tracing::debug!("giving unused rate window slots back timed out"),
    }
}

impl Windows {
    pub fn memory() -> Self {
        Self::Memory(Mutex::new(HashMap::new()))
    }

    pub fn redis(pool: Pool, prefix: String) -> Self {
        Self::Redis(RedisWindows { pool, prefix, leases: Arc::default() })
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
                    return Ok(Slot::Full { wait: until - now, sooner: None });
                }
                if now >= c.started + c.length || c.length != length {
                    *c = Counter { started: now, length, used: 0, paused_until: None };
                }
                if c.used >= window.requests {
                    let wait = (c.started + c.length).saturating_duration_since(now);
                    return Ok(Slot::Full { wait, sooner: None });
                }
                c.used += 1;
                Ok(Slot::Taken { used: c.used })
            }
            Self::Redis(r) => r.take(key, window).await,
        }
    }

    /// Calls of the current window so far (slots leased included), for the dashboard.
    pub async fn used(&self, key: &str) -> Result<u32> {
        match self {
            Self::Memory(map) => {
                let map = map.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                Ok(map.get(key).filter(|c| now < c.started + c.length).map_or(0, |c| c.used))
            }
            Self::Redis(r) => {
                let mut conn = r.pool.get().await?;
                let n: Option<u32> = deadpool_redis::redis::cmd("HGET")
                    .arg(r.window_key(key))
                    .arg("used")
                    .query_async(&mut conn)
                    .await?;
                Ok(n.unwrap_or(0))
            }
        }
    }

    /// Closes the connection's window for `wait` (the provider answered 429);
    /// a longer pause already in force stays. This process's leased slots
    /// of it go back.
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
            Self::Redis(r) => {
                // Paused here first, then in Redis, and only then do the
                // slots go back: no other process can take them before
                // the pause holds.
                let back = {
                    let mut leases = r.leases();
                    let lease = leases.entry(key.to_string()).or_default();
                    let until = Instant::now() + wait;
                    lease.paused_until = Some(lease.paused_until.map_or(until, |p| p.max(until)));
                    lease.unused()
                };
                crate::auth::rate_limit::pause_in_redis(&r.pool, &r.pause_key(key), wait).await?;
                if let Some((n, ends)) = back {
                    r.give_back(key, n, ends).await;
                }
            }
        }
        Ok(())
    }

    /// Housekeeping: unused slots of expired leases go back to Redis (a
    /// backstop for the timers), and idle leases are forgotten.
    pub async fn shrink(&self) {
        if let Self::Redis(r) = self {
            r.shrink().await;
        }
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
            Slot::Full { wait, .. } => assert!(wait > Duration::from_secs(58) && wait <= Duration::from_secs(60)),
            other => panic!("expected a full window, got {other:?}"),
        }
        assert_eq!(w.used("a").await.unwrap(), 2, "a refused call is not counted");
        assert_eq!(w.take("b", win).await.unwrap(), Slot::Taken { used: 1 }, "connections are counted apart");
        w.pause("b", Duration::from_secs(5)).await.unwrap();
        assert!(matches!(w.take("b", win).await.unwrap(), Slot::Full { wait, .. } if wait <= Duration::from_secs(5)));
    }
}
