//! The Redis limiter, with local leases so that a busy key costs no Redis
//! round trip per request.
//!
//! Redis holds one GCRA state per key (its theoretical arrival time, TAT),
//! shared by every process. A process does not ask Redis about every
//! request: it takes a *lease* of n tokens in one script call (TAT += n·T,
//! exactly as if n requests had arrived at once) and hands them out from
//! memory. Tokens a lease has not handed out within [`LEASE_TTL`] are never
//! used: they go back to Redis (TAT −= k·T), as if never taken.
//!
//! **Sizing.** A key starts with leases of one token, which is the plain
//! per-request GCRA: one round trip per request and nothing held, so keys
//! used now and then behave exactly as before. When a key's next lease is
//! needed within [`SPAN`] of the previous one, the lease doubles, up to
//! `max(1, limit / MAX_SHARE)` (50 for 1000/min); when a lease lasted more
//! than 8 × [`SPAN`], it halves. Redis never grants more than half of what is
//! free (but at least one), so near the limit the processes share the rest
//! instead of one of them sitting on it. Once half a lease is handed out,
//! the next one is fetched in the background, so a steadily busy key never
//! waits for Redis. A refusal is remembered until the wait Redis gave, so a
//! caller over its limit costs no round trip either.
//!
//! **Bound.** Every token is counted in Redis before it is used, and used
//! within [`LEASE_TTL`] of that. So in any time window, the requests
//! admitted for a key across all processes are at most what the plain GCRA
//! admits in the same window stretched by [`LEASE_TTL`]: at most
//! `limit × LEASE_TTL / 60 s` more (17 for 1000/min, 9 for 500/min), however
//! many processes share the key, and never more than the tokens leased out
//! when the window began (processes × maximum lease). The other way round,
//! tokens one process holds unused may make another refuse early: at most
//! two leases per process, until they go back (at that key's next request
//! in the process after [`LEASE_TTL`], or at the next housekeeping tick,
//! every `--usage-flush-seconds`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use deadpool_redis::redis::Script;
use deadpool_redis::Pool;

use super::{over, RateInfo};
use crate::error::{Error, Result};

/// How long leased tokens may be handed out; the overshoot bound above is
/// one `LEASE_TTL` of refill.
pub const LEASE_TTL: Duration = Duration::from_secs(1);
/// A lease used up faster than this asks for twice as many tokens next time.
const SPAN: Duration = Duration::from_millis(50);
/// The largest lease is this fraction of the per-minute limit.
const MAX_SHARE: u32 = 20;

/// Takes up to ARGV[3] tokens from the GCRA state at KEYS[1] with emission
/// interval ARGV[1] ms and period ARGV[2] ms (the burst is the whole
/// per-minute budget, tolerance P − T, as with governor's
/// `Quota::per_minute`). Grants at most half of what is free, at least one.
/// Time is Redis's own clock, so processes with skewed clocks agree.
/// Returns {granted, free after} or {0, retry-after ms}.
const TAKE: &str = r#"
local t = tonumber(ARGV[1])
local p = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local free = math.floor((p - (tat - now)) / t + 1e-9)
if free < 1 then
  return {0, math.ceil(tat - now - (p - t))}
end
local n = math.min(want, math.max(1, math.floor(free / 2)))
local new_tat = tat + n * t
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
return {n, free - n}
"#;

/// Gives ARGV[1] unused tokens of emission interval ARGV[2] ms back to the
/// GCRA state at KEYS[1]: the state becomes what it would be had they never
/// been taken (a TAT in the past is a full budget, so the key goes).
const GIVE_BACK: &str = r#"
local back = tonumber(ARGV[1]) * tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local new_tat = tat - back
if new_tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now))
end
return 0
"#;

/// The Redis-backed limiter with this process's leases.
pub struct Leased {
    /// Redis, shared with the other processes.
    pub(super) pool: Pool,
    /// Keys are `{prefix}:{key}`.
    pub(super) prefix: String,
    take: Script,
    give_back: Script,
    /// This process's lease per key. Entries go in [`Leased::shrink`] once
    /// idle.
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

#[derive(Default)]
struct Slot {
    state: Mutex<State>,
    /// Held while a lease is fetched, so one key has one fetch at a time and
    /// callers that find no token wait for it instead of asking Redis too.
    fetch: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// The per-minute limit the tokens were leased under.
    limit: u32,
    /// Leased tokens not yet handed out, oldest first, each batch with the
    /// instant its tokens stop being usable.
    batches: VecDeque<(u32, Instant)>,
    /// What Redis had free after the last lease (for `RateLimit-Remaining`).
    free: u32,
    /// How many tokens the next lease asks for.
    sizing: LeaseSize,
    /// Redis refused until then; refuse locally until it passes.
    denied_until: Option<Instant>,
    /// A background fetch is under way.
    prefetching: bool,
}

impl State {
    fn tokens(&self) -> u32 {
        self.batches.iter().map(|(n, _)| n).sum()
    }

    /// Drops expired batches; returns how many tokens they held.
    fn expire(&mut self, now: Instant) -> u32 {
        let mut gone = 0;
        while let Some(&(n, until)) = self.batches.front() {
            if until > now {
                break;
            }
            gone += n;
            self.batches.pop_front();
        }
        gone
    }

    /// The size of the lease to ask for now (see the module docs).
    fn next_size(&mut self, now: Instant, limit: u32) -> u32 {
        self.sizing.next(now, (limit / MAX_SHARE).max(1))
    }
}

/// The size of a process's next lease of one key, shared with the
/// connection rate windows: it doubles while leases are asked for within
/// [`SPAN`] of each other, halves after one lasted more than 8 × `SPAN`,
/// and stays between 1 and a cap.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LeaseSize {
    size: u32,
    /// When the last lease was asked for.
    fetched_at: Option<Instant>,
}

impl LeaseSize {
    /// The size to ask for now, counting this as a lease asked for.
    pub(crate) fn next(&mut self, now: Instant, cap: u32) -> u32 {
        if let Some(at) = self.fetched_at {
            let since = now.saturating_duration_since(at);
            if since < SPAN {
                self.size = self.size.saturating_mul(2);
            } else if since > SPAN * 8 {
                self.size /= 2;
            }
        }
        self.size = self.size.clamp(1, cap.max(1));
        self.fetched_at = Some(now);
        self.size
    }

    /// No lease asked for lately (never, or more than 8 × `SPAN` ago).
    pub(crate) fn idle(&self, now: Instant) -> bool {
        self.fetched_at.is_none_or(|at| now.saturating_duration_since(at) > SPAN * 8)
    }
}

/// What the local state could do for one request.
enum Local {
    Granted { info: RateInfo, prefetch: bool },
    Refused(Error),
    Empty,
}

/// Redis's answer to a lease request.
enum Grant {
    Tokens { n: u32, free: u32 },
    Wait(Duration),
}

impl Leased {
    pub fn new(pool: Pool, prefix: String) -> Self {
        Self {
            pool,
            prefix,
            take: Script::new(TAKE),
            give_back: Script::new(GIVE_BACK),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request for `key` against `limit` per minute.
    pub async fn check(self: &Arc<Self>, key: &str, limit: u32) -> Result<RateInfo> {
        let slot = self.slot(key);
        match self.local(&slot, key, limit) {
            Local::Granted { info, prefetch } => {
                if prefetch {
                    self.prefetch(slot, key.to_string(), limit);
                }
                return Ok(info);
            }
            Local::Refused(e) => return Err(e),
            Local::Empty => {}
        }
        let _fetching = slot.fetch.lock().await;
        // Whoever held the fetch may have refilled (or been refused).
        match self.local(&slot, key, limit) {
            Local::Granted { info, .. } => return Ok(info),
            Local::Refused(e) => return Err(e),
            Local::Empty => {}
        }
        let (want, asked) = {
            let now = Instant::now();
            (lock(&slot.state).next_size(now, limit), now)
        };
        let grant = self.lease(key, limit, want).await?;
        let mut st = lock(&slot.state);
        if st.limit != limit {
            // The limit changed meanwhile: this request had its token; the
            // rest go back rather than serve the new limit.
            drop(st);
            return match grant {
                Grant::Tokens { n, free } => {
                    if n > 1 {
                        self.give_back_later(key, n - 1, limit);
                    }
                    Ok(RateInfo { limit, remaining: free })
                }
                Grant::Wait(wait) => Err(over(limit, wait.as_secs_f64())),
            };
        }
        apply(&mut st, grant, asked);
        let now = Instant::now();
        let gone = st.expire(now);
        if gone > 0 {
            self.give_back_later(key, gone, limit);
        }
        match take_one(&mut st, limit, now) {
            Local::Granted { info, .. } => Ok(info),
            Local::Refused(e) => Err(e),
            // Only a lease that took longer than LEASE_TTL to arrive: an
            // overloaded Redis, which an immediate retry would not help.
            Local::Empty => Err(over(limit, 1.0)),
        }
    }

    /// Returns every expired lease's unused tokens to Redis and forgets keys
    /// with nothing left.
    pub async fn shrink(&self) {
        let now = Instant::now();
        let mut back = Vec::new();
        {
            let mut slots = lock(&self.slots);
            slots.retain(|key, slot| {
                if Arc::strong_count(slot) > 1 {
                    return true;
                }
                let mut st = lock(&slot.state);
                let gone = st.expire(now);
                if gone > 0 {
                    back.push((key.clone(), gone, st.limit));
                }
                st.prefetching || !st.batches.is_empty() || st.denied_until.is_some_and(|t| t > now)
            });
        }
        for (key, n, limit) in back {
            if let Err(e) = self.give_back(&key, n, limit).await {
                tracing::debug!(cause = %e, "could not give rate-limit tokens back");
            }
        }
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        let mut slots = lock(&self.slots);
        if let Some(s) = slots.get(key) {
            return s.clone();
        }
        let s = Arc::new(Slot::default());
        slots.insert(key.to_string(), s.clone());
        s
    }

    /// Serves one request from this process's lease, if it can.
    fn local(self: &Arc<Self>, slot: &Slot, key: &str, limit: u32) -> Local {
        let now = Instant::now();
        let mut st = lock(&slot.state);
        if st.limit != limit {
            // A new limit (a webhook's rate changed): tokens leased under the
            // old one are dropped rather than given back at the wrong rate.
            *st = State { limit, ..State::default() };
        }
        let gone = st.expire(now);
        if gone > 0 {
            self.give_back_later(key, gone, limit);
        }
        take_one(&mut st, limit, now)
    }

    /// Fetches the next lease in the background (at most one at a time).
    fn prefetch(self: &Arc<Self>, slot: Arc<Slot>, key: String, limit: u32) {
        let this = self.clone();
        tokio::spawn(async move {
            let _fetching = slot.fetch.lock().await;
            let asked = Instant::now();
            let want = {
                let mut st = lock(&slot.state);
                let low = st.tokens() <= st.sizing.size / 2;
                let refused = st.denied_until.is_some_and(|t| t > asked);
                if st.limit != limit || !low || refused || st.batches.len() > 1 {
                    st.prefetching = false;
                    return;
                }
                st.next_size(asked, limit)
            };
            let grant = this.lease(&key, limit, want).await;
            let mut st = lock(&slot.state);
            st.prefetching = false;
            match grant {
                Ok(grant) if st.limit == limit => apply(&mut st, grant, asked),
                Ok(Grant::Tokens { n, .. }) => {
                    drop(st);
                    this.give_back_later(&key, n, limit);
                }
                Ok(Grant::Wait(_)) => {}
                Err(e) => tracing::debug!(cause = %e, "could not prefetch a rate-limit lease"),
            }
        });
    }

    /// Asks Redis for up to `want` tokens.
    async fn lease(&self, key: &str, limit: u32, want: u32) -> Result<Grant> {
        let mut conn = self.pool.get().await?;
        let (n, x): (i64, i64) = self
            .take
            .key(format!("{}:{key}", self.prefix))
            .arg(emission_ms(limit))
            .arg(60_000)
            .arg(want)
            .invoke_async(&mut conn)
            .await?;
        Ok(if n > 0 {
            Grant::Tokens { n: n as u32, free: x.max(0) as u32 }
        } else {
            Grant::Wait(Duration::from_millis(x.max(1) as u64))
        })
    }

    async fn give_back(&self, key: &str, n: u32, limit: u32) -> Result<()> {
        let mut conn = self.pool.get().await?;
        let _: i64 = self
            .give_back
            .key(format!("{}:{key}", self.prefix))
            .arg(n)
            .arg(emission_ms(limit))
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    fn give_back_later(self: &Arc<Self>, key: &str, n: u32, limit: u32) {
        let (this, key) = (self.clone(), key.to_string());
        tokio::spawn(async move {
            if let Err(e) = this.give_back(&key, n, limit).await {
                tracing::debug!(cause = %e, "could not give rate-limit tokens back");
            }
        });
    }
}

/// Records Redis's answer to a lease asked for at `asked` (the tokens'
/// lifetime counts from before Redis counted them).
fn apply(st: &mut State, grant: Grant, asked: Instant) {
    match grant {
        Grant::Tokens { n, free } => {
            st.batches.push_back((n, asked + LEASE_TTL));
            st.free = free;
            st.denied_until = None;
        }
        Grant::Wait(wait) => st.denied_until = Some(asked + wait),
    }
}

/// Hands out one leased token, or says why not.
fn take_one(st: &mut State, limit: u32, now: Instant) -> Local {
    let Some(front) = st.batches.front_mut() else {
        return match st.denied_until {
            Some(until) if until > now => Local::Refused(over(limit, (until - now).as_secs_f64())),
            _ => {
                st.denied_until = None;
                Local::Empty
            }
        };
    };
    front.0 -= 1;
    if front.0 == 0 {
        st.batches.pop_front();
    }
    let left = st.tokens();
    let prefetch = !st.prefetching && st.sizing.size > 1 && left <= st.sizing.size / 2 && st.batches.len() < 2;
    if prefetch {
        st.prefetching = true;
    }
    Local::Granted { info: RateInfo { limit, remaining: st.free.saturating_add(left) }, prefetch }
}

/// GCRA's emission interval T for `limit` per minute, in milliseconds.
fn emission_ms(limit: u32) -> f64 {
    60_000.0 / limit.max(1) as f64
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
