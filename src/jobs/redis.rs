//! The Redis backend of the queue: one stream per job kind read by the
//! consumer group `workers` (`XREADGROUP`), lapsed leases reclaimed with
//! `XAUTOCLAIM` and extended with `XCLAIM … JUSTID`, delayed messages in a
//! sorted set moved to the stream by a Lua script (atomically), dead letters
//! in a capped stream. Every key lives under the configured prefix.
//!
//! A Redis that lost its data (restart without persistence, `FLUSHALL`)
//! answers `NOGROUP`: the group is recreated and the sweeper refills the
//! streams from the ledger.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::{self, Script, Value};
use deadpool_redis::{Connection, Pool};

use super::queue::{now_ms, DeadLetter, Delivery, KindStats, Message, Queue, WORKER_TTL};
use crate::error::{Error, Result};

const GROUP: &str = "workers";

/// A stream entry as Redis returns it: id and flat field/value list.
pub type Entry = (String, Vec<String>);
const DEAD_LETTER_CAP: usize = 10_000;
/// Outcome counters are kept per 10-second bucket; six make a minute.
const BUCKET_MS: i64 = 10_000;

/// Moves due members of delayed sets to their streams, atomically; KEYS
/// are pairs (delayed set, stream), one per kind, so one call serves every
/// kind a worker leases. Returns {moved, when the earliest member left is
/// due (ms since the epoch), or -1 when none is left}.
const PROMOTE: &str = r#"
local moved = 0
local next = -1
for i = 1, #KEYS, 2 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
  for _, m in ipairs(due) do
    redis.call('XADD', KEYS[i + 1], '*', 'm', m)
    redis.call('ZREM', KEYS[i], m)
  end
  moved = moved + #due
  local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  if #first > 0 then
    local at = tonumber(first[2])
    if next < 0 or at < next then next = at end
  end
end
return {moved, next}
"#;

/// Most members one promotion moves per kind.
const PROMOTE_MAX: usize = 1000;

/// How far ahead a process sets a timer to promote a delayed message (see
/// [`Wakes`]). Later ones are promoted by the leases, which block no longer
/// than the earliest due they know of and start again at least every
/// second in the worker loops; so no timer sleeps long, and replaced
/// timers do not pile up behind a far-off retry.
const WAKE_AHEAD_MS: i64 = 2_000;

/// How long past the earliest due a blocked lease waits for the timer's
/// wake-up before it promotes by itself (the timer's process may be gone):
/// with the timers doing the waking, idle leases do not all run a
/// promotion at every due time.
const LEASE_FALLBACK: Duration = Duration::from_millis(50);

/// Makes delayed messages visible when they fall due, not up to a
/// lease's whole wait later. A delayed message reaches its stream only
/// through [`PROMOTE`], which each lease runs before it blocks on the
/// streams (`XREADGROUP … BLOCK`); a message that falls due while the
/// lease blocks would wait for the block to end (a second), and at a
/// steady load where new records keep joining one delayed processing job,
/// nothing else wakes the lease: the pipeline ran a second behind. So a
/// lease blocks no longer than the earliest delayed message it knows of,
/// and a process that delays a message promotes its kind when it falls
/// due (an `XADD` that wakes a blocked lease in any process). One timer
/// per kind at a time, for the earliest due within [`WAKE_AHEAD_MS`]; each
/// promotion schedules the next one. A timer lost with its process costs
/// little: the member stays in its set, and a lease blocked on its kind
/// promotes it [`LEASE_FALLBACK`] after it fell due.
struct Wakes {
    pool: Pool,
    promote: Script,
    /// Per kind, when the earliest scheduled promotion runs (ms since the epoch).
    at: std::sync::Mutex<HashMap<String, i64>>,
}

impl Wakes {
    /// Promotes `kind` at `due` (ms since the epoch), unless a promotion
    /// of that kind is already set for then or earlier.
    fn schedule(self: &Arc<Self>, keys: (String, String), kind: &str, due: i64) {
        if due - now_ms() > WAKE_AHEAD_MS {
            return;
        }
        {
            let mut at = self.at.lock().unwrap_or_else(|e| e.into_inner());
            if at.get(kind).is_some_and(|&t| t <= due) {
                return;
            }
            at.insert(kind.to_string(), due);
        }
        let (wakes, kind) = (self.clone(), kind.to_string());
        tokio::spawn(async move {
            let wait = Duration::from_millis((due - now_ms()).max(0) as u64);
            tokio::time::sleep(wait).await;
            {
                let mut at = wakes.at.lock().unwrap_or_else(|e| e.into_inner());
                if at.get(&kind) == Some(&due) {
                    at.remove(&kind);
                }
            }
            match wakes.run(&keys).await {
                Ok(next) if next >= 0 => wakes.schedule(keys, &kind, next),
                Ok(_) => {}
                // The next lease (in any process) promotes it instead.
                Err(e) => tracing::debug!(kind, cause = %e, "could not promote delayed jobs"),
            }
        });
    }

    /// One promotion of one kind; when its next member is due, or -1.
    async fn run(&self, (delayed, stream): &(String, String)) -> Result<i64> {
        let mut conn = self.pool.get().await?;
        let (_, next): (i64, i64) =
            self.promote.key(delayed).key(stream).arg(now_ms()).arg(PROMOTE_MAX).invoke_async(&mut conn).await?;
        Ok(next)
    }
}

/// A pool of Redis connections whose response timeout (30 s) outlasts the
/// blocking reads of the lease loop (the client's default is 500 ms).
pub fn pool(url: &str) -> Result<Pool> {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
    let manager = deadpool_redis::Manager::new_with_config(url, config)?;
    Pool::builder(manager).max_size(32).runtime(deadpool_redis::Runtime::Tokio1).build().map_err(Error::internal)
}

pub struct RedisQueue {
    /// The kinds whose consumer group this process has created (or found);
    /// a NOGROUP after that means Redis lost its data. Per kind: each
    /// batching kind leases on its own, with its own first lease.
    groups_ready: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Where the next XAUTOCLAIM scan of each stream starts, so lapsed
    /// entries behind many live ones are reached too.
    claim_cursors: std::sync::Mutex<HashMap<String, String>>,
    /// When each stream was last scanned for lapsed leases: a lease lapses
    /// only after the visibility timeout, so scanning on every lease (a
    /// round trip per kind) is needless; a quarter of it is often enough.
    claimed_at: std::sync::Mutex<HashMap<String, std::time::Instant>>,
    pool: Pool,
    prefix: String,
    visibility: Duration,
    /// The timers of delayed messages; its `promote` script serves the leases too.
    wakes: Arc<Wakes>,
}

impl RedisQueue {
    pub fn new(pool: Pool, prefix: &str, visibility: Duration) -> Self {
        Self {
            groups_ready: Default::default(),
            claim_cursors: Default::default(),
            claimed_at: Default::default(),
            pool: pool.clone(),
            prefix: prefix.to_string(),
            visibility,
            wakes: Arc::new(Wakes { pool, promote: Script::new(PROMOTE), at: Default::default() }),
        }
    }

    fn stream(&self, kind: &str) -> String {
        format!("{}:q:{kind}", self.prefix)
    }
    fn delayed(&self, kind: &str) -> String {
        format!("{}:delayed:{kind}", self.prefix)
    }
    fn dead(&self, kind: &str) -> String {
        format!("{}:dead:{kind}", self.prefix)
    }
    fn counter(&self, kind: &str, ok: bool, bucket: i64) -> String {
        format!("{}:stats:{kind}:{}:{bucket}", self.prefix, if ok { "done" } else { "failed" })
    }
    fn workers(&self) -> String {
        format!("{}:workers", self.prefix)
    }

    async fn conn(&self) -> Result<Connection> {
        Ok(self.pool.get().await?)
    }

    async fn ensure_groups(&self, conn: &mut Connection, kinds: &[String]) -> Result<()> {
        for kind in kinds {
            let r: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(self.stream(kind))
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(conn)
                .await;
            match r {
                Ok(()) => {}
                Err(e) if e.to_string().contains("BUSYGROUP") => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn decode(id: String, fields: Vec<String>, deliveries: u32) -> Option<Delivery> {
        let raw = fields.chunks(2).find(|kv| kv[0] == "m").and_then(|kv| kv.get(1))?;
        match serde_json::from_str::<Message>(raw) {
            Ok(message) => Some(Delivery { message, receipt: id, deliveries }),
            Err(e) => {
                tracing::warn!(entry = %id, cause = %e, "dropping an unreadable queue entry");
                None
            }
        }
    }

    /// Whether `kind`'s stream is due a scan for lapsed leases (and, if so,
    /// notes the scan).
    fn reclaim_due(&self, kind: &str) -> bool {
        let now = std::time::Instant::now();
        let mut at = self.claimed_at.lock().unwrap_or_else(|e| e.into_inner());
        match at.get(kind) {
            Some(last) if now.duration_since(*last) < self.visibility / 4 => false,
            _ => {
                at.insert(kind.to_string(), now);
                true
            }
        }
    }

    /// Messages whose lease lapsed (idle longer than the visibility timeout).
    async fn reclaim(&self, conn: &mut Connection, consumer: &str, kind: &str, max: usize) -> Result<Vec<Delivery>> {
        let start = self
            .claim_cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(kind)
            .cloned()
            .unwrap_or_else(|| "0-0".into());
        let reply: redis::RedisResult<(String, Vec<Entry>, Vec<String>)> = redis::cmd("XAUTOCLAIM")
            .arg(self.stream(kind))
            .arg(GROUP)
            .arg(consumer)
            .arg(self.visibility.as_millis() as u64)
            .arg(&start)
            .arg("COUNT")
            .arg(max)
            .query_async(conn)
            .await;
        let (next, entries, _) = match reply {
            Ok(r) => r,
            Err(e) if e.to_string().contains("NOGROUP") => return Ok(vec![]),
            Err(e) => return Err(e.into()),
        };
        // Redis answers 0-0 once the scan has wrapped around.
        self.claim_cursors.lock().unwrap_or_else(|e| e.into_inner()).insert(kind.to_string(), next);
        let mut out = Vec::new();
        for (id, fields) in entries {
            // How often it was handed out: XPENDING on exactly this entry.
            let pending: Vec<(String, String, u64, u32)> = redis::cmd("XPENDING")
                .arg(self.stream(kind))
                .arg(GROUP)
                .arg(&id)
                .arg(&id)
                .arg(1)
                .query_async(conn)
                .await
                .unwrap_or_default();
            let deliveries = pending.first().map_or(2, |p| p.3);
            out.extend(Self::decode(id, fields, deliveries));
        }
        Ok(out)
    }

    async fn read_new(
        &self,
        conn: &mut Connection,
        consumer: &str,
        kinds: &[String],
        max: usize,
        block: Option<Duration>,
    ) -> redis::RedisResult<Vec<Delivery>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(GROUP).arg(consumer).arg("COUNT").arg(max);
        if let Some(b) = block {
            cmd.arg("BLOCK").arg(b.as_millis().max(1) as u64);
        }
        cmd.arg("STREAMS");
        for k in kinds {
            cmd.arg(self.stream(k));
        }
        for _ in kinds {
            cmd.arg(">");
        }
        let reply: Option<Vec<(String, Vec<Entry>)>> = cmd.query_async(conn).await?;
        Ok(reply
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(_, entries)| entries)
            .filter_map(|(id, fields)| Self::decode(id, fields, 1))
            .collect())
    }

    /// Promotes `kind` when a message delayed until `due` falls due (see [`Wakes`]).
    fn wake_at(&self, kind: &str, due: i64) {
        self.wakes.schedule((self.delayed(kind), self.stream(kind)), kind, due);
    }

    fn stream_of(&self, d: &Delivery) -> String {
        self.stream(&d.message.kind)
    }

    /// A MULTI pipeline that acks and deletes a delivered entry; retry and
    /// bury add their own step to the same transaction.
    fn settle(&self, d: &Delivery) -> redis::Pipeline {
        let stream = self.stream_of(d);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XACK")
            .arg(&stream)
            .arg(GROUP)
            .arg(&d.receipt)
            .ignore()
            .cmd("XDEL")
            .arg(&stream)
            .arg(&d.receipt)
            .ignore();
        pipe
    }
}

fn int(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Int(i)) => (*i).max(0) as u64,
        Some(Value::BulkString(b)) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
        _ => 0,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::BulkString(b)) => String::from_utf8(b.clone()).ok(),
        Some(Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Queue for RedisQueue {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn push(&self, msg: &Message, delay: Duration) -> Result<()> {
        let body = serde_json::to_string(msg).map_err(Error::internal)?;
        let mut conn = self.conn().await?;
        if delay.is_zero() {
            let _: String = redis::cmd("XADD")
                .arg(self.stream(&msg.kind))
                .arg("*")
                .arg("m")
                .arg(body)
                .query_async(&mut conn)
                .await?;
        } else {
            let due = now_ms() + delay.as_millis() as i64;
            let _: i64 =
                redis::cmd("ZADD").arg(self.delayed(&msg.kind)).arg(due).arg(body).query_async(&mut conn).await?;
            self.wake_at(&msg.kind, due);
        }
        Ok(())
    }

    async fn lease(&self, consumer: &str, kinds: &[String], max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        if kinds.is_empty() || max == 0 {
            tokio::time::sleep(wait).await;
            return Ok(vec![]);
        }
        let mut conn = self.conn().await?;
        let new: Vec<String> = {
            let ready = self.groups_ready.lock().unwrap_or_else(|e| e.into_inner());
            kinds.iter().filter(|k| !ready.contains(*k)).cloned().collect()
        };
        if !new.is_empty() {
            self.ensure_groups(&mut conn, &new).await?;
            self.groups_ready.lock().unwrap_or_else(|e| e.into_inner()).extend(new);
        }
        let give_up = std::time::Instant::now() + wait;
        let mut out = Vec::new();
        let mut first = true;
        loop {
            let mut promote = self.wakes.promote.prepare_invoke();
            for kind in kinds {
                promote.key(self.delayed(kind)).key(self.stream(kind));
            }
            let (_, next): (i64, i64) = promote.arg(now_ms()).arg(PROMOTE_MAX).invoke_async(&mut conn).await?;
            // After the promotion, so that its failure loses nothing reclaimed.
            if std::mem::take(&mut first) {
                for kind in kinds {
                    if out.len() < max && self.reclaim_due(kind) {
                        out.extend(self.reclaim(&mut conn, consumer, kind, max - out.len()).await?);
                    }
                }
            }
            if out.len() >= max {
                return Ok(out);
            }
            // Blocks no longer than until just after the earliest delayed
            // message is due (see [`Wakes`]); then promotes again and goes
            // on waiting.
            let left = give_up.saturating_duration_since(std::time::Instant::now());
            let until_due =
                (next >= 0).then(|| Duration::from_millis((next - now_ms()).max(0) as u64) + LEASE_FALLBACK);
            let block = (out.is_empty() && !left.is_zero()).then(|| until_due.map_or(left, |d| d.min(left)));
            match self.read_new(&mut conn, consumer, kinds, max - out.len(), block).await {
                Ok(new) => out.extend(new),
                Err(e) if e.to_string().contains("NOGROUP") => {
                    // The stream or its group vanished (Redis restarted or was
                    // flushed): recreate it; the sweeper re-rings what was lost.
                    tracing::warn!("queue consumer group missing; recreating it");
                    self.ensure_groups(&mut conn, kinds).await?;
                    out.extend(self.read_new(&mut conn, consumer, kinds, max - out.len(), None).await?);
                }
                Err(e) => return Err(e.into()),
            }
            if !out.is_empty() || block.is_none() || std::time::Instant::now() >= give_up {
                return Ok(out);
            }
        }
    }

    async fn push_many(&self, msgs: &[Message]) -> Result<()> {
        if msgs.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for msg in msgs {
            let body = serde_json::to_string(msg).map_err(Error::internal)?;
            pipe.cmd("XADD").arg(self.stream(&msg.kind)).arg("*").arg("m").arg(body).ignore();
        }
        let mut conn = self.conn().await?;
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    async fn ack(&self, d: &Delivery) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: () = self.settle(d).query_async(&mut conn).await?;
        Ok(())
    }

    async fn ack_many(&self, ds: &[Delivery]) -> Result<()> {
        let mut by_stream: HashMap<String, Vec<&str>> = HashMap::new();
        for d in ds {
            by_stream.entry(self.stream_of(d)).or_default().push(&d.receipt);
        }
        if by_stream.is_empty() {
            return Ok(());
        }
        // One MULTI for the lot: XACK and XDEL take many ids each.
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (stream, ids) in &by_stream {
            pipe.cmd("XACK").arg(stream).arg(GROUP).arg(ids).ignore();
            pipe.cmd("XDEL").arg(stream).arg(ids).ignore();
        }
        let mut conn = self.conn().await?;
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    async fn extend(&self, consumer: &str, d: &Delivery) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: Vec<String> = redis::cmd("XCLAIM")
            .arg(self.stream_of(d))
            .arg(GROUP)
            .arg(consumer)
            .arg(0)
            .arg(&d.receipt)
            .arg("JUSTID")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn retry(&self, d: &Delivery, delay: Duration) -> Result<()> {
        let body = serde_json::to_string(&d.message).map_err(Error::internal)?;
        let stream = self.stream_of(d);
        let mut conn = self.conn().await?;
        let mut pipe = self.settle(d);
        let due = now_ms() + delay.as_millis() as i64;
        if delay.is_zero() {
            pipe.cmd("XADD").arg(&stream).arg("*").arg("m").arg(body).ignore();
        } else {
            pipe.cmd("ZADD").arg(self.delayed(&d.message.kind)).arg(due).arg(body).ignore();
        }
        let _: () = pipe.query_async(&mut conn).await?;
        if !delay.is_zero() {
            self.wake_at(&d.message.kind, due);
        }
        Ok(())
    }

    async fn bury(&self, d: &Delivery, error: &str) -> Result<()> {
        let body = serde_json::to_string(&d.message).map_err(Error::internal)?;
        let mut conn = self.conn().await?;
        let _: () = self
            .settle(d)
            .cmd("XADD")
            .arg(self.dead(&d.message.kind))
            .arg("MAXLEN")
            .arg("~")
            .arg(DEAD_LETTER_CAP)
            .arg("*")
            .arg("m")
            .arg(body)
            .arg("e")
            .arg(error)
            .arg("t")
            .arg(now_ms())
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn dead_letters(&self, kind: &str, limit: usize) -> Result<Vec<DeadLetter>> {
        let mut conn = self.conn().await?;
        let entries: Vec<Entry> = redis::cmd("XREVRANGE")
            .arg(self.dead(kind))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut conn)
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|(_, f)| {
                let map: HashMap<&str, &str> =
                    f.chunks(2).filter(|kv| kv.len() == 2).map(|kv| (kv[0].as_str(), kv[1].as_str())).collect();
                Some(DeadLetter {
                    message: serde_json::from_str(map.get("m")?).ok()?,
                    error: map.get("e").unwrap_or(&"").to_string(),
                    at_ms: map.get("t").and_then(|t| t.parse().ok()).unwrap_or(0),
                })
            })
            .collect())
    }

    async fn clear_dead(&self, kind: &str) -> Result<()> {
        let mut conn = self.conn().await?;
        let _: i64 = redis::cmd("DEL").arg(self.dead(kind)).query_async(&mut conn).await?;
        Ok(())
    }

    async fn record_outcome(&self, kind: &str, ok: bool) -> Result<()> {
        self.record_outcomes(kind, ok, 1).await
    }

    async fn record_outcomes(&self, kind: &str, ok: bool, n: u64) -> Result<()> {
        let key = self.counter(kind, ok, now_ms() / BUCKET_MS);
        let mut conn = self.conn().await?;
        let _: () = redis::pipe()
            .cmd("INCRBY")
            .arg(&key)
            .arg(n)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(120)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn heartbeat(&self, worker_id: &str) -> Result<()> {
        let mut conn = self.conn().await?;
        let now = now_ms();
        let _: () = redis::pipe()
            .cmd("ZADD")
            .arg(self.workers())
            .arg(now)
            .arg(worker_id)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(self.workers())
            .arg("-inf")
            .arg(now - WORKER_TTL.as_millis() as i64)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn live_workers(&self) -> Result<u64> {
        let mut conn = self.conn().await?;
        let since = now_ms() - WORKER_TTL.as_millis() as i64;
        Ok(redis::cmd("ZCOUNT").arg(self.workers()).arg(since).arg("+inf").query_async(&mut conn).await?)
    }

    async fn stats(&self, kinds: &[String]) -> Result<Vec<KindStats>> {
        let mut conn = self.conn().await?;
        let now = now_ms();
        let bucket = now / BUCKET_MS;
        let mut out = Vec::new();
        for kind in kinds {
            let groups: Vec<HashMap<String, Value>> = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(self.stream(kind))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            let group = groups.into_iter().find(|g| text(g.get("name")).as_deref() == Some(GROUP));
            let (in_flight, lag, last_id) = match &group {
                Some(g) => {
                    (int(g.get("pending")), g.get("lag").map(|v| int(Some(v))), text(g.get("last-delivered-id")))
                }
                None => (0, None, None),
            };
            let len: u64 = redis::cmd("XLEN").arg(self.stream(kind)).query_async(&mut conn).await.unwrap_or(0);
            let pending = lag.unwrap_or(len.saturating_sub(in_flight));
            let oldest: Vec<Entry> = if pending > 0 {
                let start = last_id.map_or("-".to_string(), |id| format!("({id}"));
                redis::cmd("XRANGE")
                    .arg(self.stream(kind))
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default()
            } else {
                vec![]
            };
            let oldest_pending_age = oldest
                .first()
                .and_then(|(id, _)| id.split('-').next()?.parse::<i64>().ok())
                .map(|ms| Duration::from_millis((now - ms).max(0) as u64));
            let mut counts = [0u64; 2];
            for (i, ok) in [true, false].into_iter().enumerate() {
                let keys: Vec<String> = (0..6).map(|b| self.counter(kind, ok, bucket - b)).collect();
                let vals: Vec<Option<u64>> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
                counts[i] = vals.into_iter().flatten().sum();
            }
            out.push(KindStats {
                kind: kind.clone(),
                pending,
                delayed: redis::cmd("ZCARD").arg(self.delayed(kind)).query_async(&mut conn).await?,
                in_flight,
                dead: redis::cmd("XLEN").arg(self.dead(kind)).query_async(&mut conn).await?,
                done_last_minute: counts[0],
                failed_last_minute: counts[1],
                oldest_pending_age,
            });
        }
        Ok(out)
    }
}
