//! The in-process queue of the embedded default: the same semantics as the
//! Redis backend (delays, leases with visibility timeout, reclaim, dead
//! letters, last-minute counters), held in memory. Messages lost with the
//! process are re-rung by the sweeper from the ledger.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::queue::{now_ms, DeadLetter, Delivery, KindStats, Message, Queue, WORKER_TTL};
use crate::error::{Error, Result};

struct Leased {
    message: Message,
    consumer: String,
    deadline: Instant,
    deliveries: u32,
}

#[derive(Default)]
struct Inner {
    seq: u64,
    /// kind → (receipt, message, deliveries so far, enqueued at).
    ready: HashMap<String, VecDeque<(u64, Message, u32, Instant)>>,
    /// (due, seq) → message.
    delayed: BTreeMap<(Instant, u64), Message>,
    in_flight: HashMap<u64, Leased>,
    dead: HashMap<String, VecDeque<DeadLetter>>,
    /// kind → timestamps of outcomes (ok?) in the last minute.
    outcomes: HashMap<String, VecDeque<(Instant, bool)>>,
    workers: HashMap<String, Instant>,
}

pub struct EmbeddedQueue {
    inner: Mutex<Inner>,
    notify: Notify,
    visibility: Duration,
}

const DEAD_LETTER_CAP: usize = 10_000;

impl EmbeddedQueue {
    pub fn new(visibility: Duration) -> Self {
        Self { inner: Mutex::new(Inner::default()), notify: Notify::new(), visibility }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn receipt(d: &Delivery) -> Result<u64> {
        d.receipt.parse().map_err(|_| Error::internal("foreign receipt"))
    }
}

impl Inner {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Moves due delayed messages to ready and lapsed leases back to ready.
    fn promote(&mut self, now: Instant) {
        while let Some((&(due, seq), _)) = self.delayed.first_key_value() {
            if due > now {
                break;
            }
            let msg = self.delayed.remove(&(due, seq)).expect("first key exists");
            self.ready.entry(msg.kind.clone()).or_default().push_back((seq, msg, 0, due));
        }
        let lapsed: Vec<u64> = self.in_flight.iter().filter(|(_, l)| l.deadline <= now).map(|(k, _)| *k).collect();
        for r in lapsed {
            let l = self.in_flight.remove(&r).expect("listed above");
            self.ready.entry(l.message.kind.clone()).or_default().push_front((r, l.message, l.deliveries, now));
        }
    }

    fn push(&mut self, msg: Message, delay: Duration) {
        let seq = self.next_seq();
        let now = Instant::now();
        if delay.is_zero() {
            self.ready.entry(msg.kind.clone()).or_default().push_back((seq, msg, 0, now));
        } else {
            self.delayed.insert((now + delay, seq), msg);
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let delayed = self.delayed.keys().next().map(|(t, _)| *t);
        let lease = self.in_flight.values().map(|l| l.deadline).min();
        delayed.into_iter().chain(lease).min()
    }
}

#[async_trait::async_trait]
impl Queue for EmbeddedQueue {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn push(&self, msg: &Message, delay: Duration) -> Result<()> {
        self.lock().push(msg.clone(), delay);
        self.notify.notify_waiters();
        Ok(())
    }

    async fn lease(&self, consumer: &str, kinds: &[String], max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let give_up = Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            let wake = {
                let mut inner = self.lock();
                let now = Instant::now();
                inner.promote(now);
                let mut out = Vec::new();
                for kind in kinds {
                    while out.len() < max {
                        let Some((receipt, message, deliveries, _)) =
                            inner.ready.get_mut(kind).and_then(|q| q.pop_front())
                        else {
                            break;
                        };
                        let deliveries = deliveries + 1;
                        inner.in_flight.insert(
                            receipt,
                            Leased {
                                message: message.clone(),
                                consumer: consumer.to_string(),
                                deadline: now + self.visibility,
                                deliveries,
                            },
                        );
                        out.push(Delivery { message, receipt: receipt.to_string(), deliveries });
                    }
                }
                if !out.is_empty() || now >= give_up {
                    return Ok(out);
                }
                inner.next_wakeup().map_or(give_up, |t| t.min(give_up))
            };
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn ack(&self, d: &Delivery) -> Result<()> {
        self.lock().in_flight.remove(&Self::receipt(d)?);
        Ok(())
    }

    async fn extend(&self, consumer: &str, d: &Delivery) -> Result<()> {
        let receipt = Self::receipt(d)?;
        if let Some(l) = self.lock().in_flight.get_mut(&receipt) {
            if l.consumer == consumer {
                l.deadline = Instant::now() + self.visibility;
            }
        }
        Ok(())
    }

    async fn retry(&self, d: &Delivery, delay: Duration) -> Result<()> {
        {
            let mut inner = self.lock();
            inner.in_flight.remove(&Self::receipt(d)?);
            inner.push(d.message.clone(), delay);
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn bury(&self, d: &Delivery, error: &str) -> Result<()> {
        let mut inner = self.lock();
        inner.in_flight.remove(&Self::receipt(d)?);
        let list = inner.dead.entry(d.message.kind.clone()).or_default();
        list.push_front(DeadLetter { message: d.message.clone(), error: error.to_string(), at_ms: now_ms() });
        list.truncate(DEAD_LETTER_CAP);
        Ok(())
    }

    async fn dead_letters(&self, kind: &str, limit: usize) -> Result<Vec<DeadLetter>> {
        Ok(self.lock().dead.get(kind).map(|l| l.iter().take(limit).cloned().collect()).unwrap_or_default())
    }

    async fn clear_dead(&self, kind: &str) -> Result<()> {
        self.lock().dead.remove(kind);
        Ok(())
    }

    async fn record_outcome(&self, kind: &str, ok: bool) -> Result<()> {
        self.record_outcomes(kind, ok, 1).await
    }

    async fn push_many(&self, msgs: &[Message]) -> Result<()> {
        {
            let mut inner = self.lock();
            for m in msgs {
                inner.push(m.clone(), Duration::ZERO);
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn ack_many(&self, ds: &[Delivery]) -> Result<()> {
        let mut inner = self.lock();
        for d in ds {
            inner.in_flight.remove(&Self::receipt(d)?);
        }
        Ok(())
    }

    async fn record_outcomes(&self, kind: &str, ok: bool, n: u64) -> Result<()> {
        let now = Instant::now();
        let mut inner = self.lock();
        let q = inner.outcomes.entry(kind.to_string()).or_default();
        q.extend((0..n).map(|_| (now, ok)));
        while q.front().is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(60)) {
            q.pop_front();
        }
        Ok(())
    }

    async fn heartbeat(&self, worker_id: &str) -> Result<()> {
        self.lock().workers.insert(worker_id.to_string(), Instant::now());
        Ok(())
    }

    async fn live_workers(&self) -> Result<u64> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.workers.retain(|_, t| now.duration_since(*t) < WORKER_TTL);
        Ok(inner.workers.len() as u64)
    }

    async fn stats(&self, kinds: &[String]) -> Result<Vec<KindStats>> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.promote(now);
        Ok(kinds
            .iter()
            .map(|kind| {
                let ready = inner.ready.get(kind);
                let recent = inner
                    .outcomes
                    .get(kind)
                    .into_iter()
                    .flatten()
                    .filter(|(t, _)| now.duration_since(*t) <= Duration::from_secs(60));
                let (done, failed) = recent.fold((0, 0), |(d, f), (_, ok)| if *ok { (d + 1, f) } else { (d, f + 1) });
                KindStats {
                    kind: kind.clone(),
                    pending: ready.map_or(0, |q| q.len() as u64),
                    delayed: inner.delayed.values().filter(|m| &m.kind == kind).count() as u64,
                    in_flight: inner.in_flight.values().filter(|l| &l.message.kind == kind).count() as u64,
                    dead: inner.dead.get(kind).map_or(0, |l| l.len() as u64),
                    done_last_minute: done,
                    failed_last_minute: failed,
                    oldest_pending_age: ready
                        .and_then(|q| q.iter().map(|(_, _, _, at)| *at).min())
                        .map(|t| now.duration_since(t)),
                }
            })
            .collect())
    }
}
