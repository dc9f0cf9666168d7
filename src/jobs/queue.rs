//! The doorbell: a queue of messages that each name a ledger row to look at.
//! Two backends share these semantics (and one contract test suite):
//! Redis streams for production, an in-process queue for the embedded default.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// "Look at job `job_id` of kind `kind`." The payload stays in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub job_id: String,
    pub kind: String,
}

/// A message leased to one consumer until it is acked or its lease lapses
/// (then another consumer gets it: visibility-timeout reclaim).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Message,
    /// Backend handle for ack/extend (a stream entry id, or a sequence number).
    pub receipt: String,
    /// How many times this message has been handed out, this time included.
    pub deliveries: u32,
}

/// A message that was given up on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub message: Message,
    pub error: String,
    pub at_ms: i64,
}

/// Numbers for one kind of job, for `queueStatus` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindStats {
    pub kind: String,
    /// Waiting to be handed out.
    pub pending: u64,
    /// Waiting for their delay to pass.
    pub delayed: u64,
    /// Handed out and not yet acked.
    pub in_flight: u64,
    /// In the dead-letter list.
    pub dead: u64,
    /// Finished in the last 60 seconds.
    pub done_last_minute: u64,
    pub failed_last_minute: u64,
    /// Age of the oldest pending message.
    pub oldest_pending_age: Option<Duration>,
}

#[async_trait::async_trait]
pub trait Queue: Send + Sync + 'static {
    /// `redis` or `embedded`.
    fn backend(&self) -> &'static str;
    /// Adds a message, visible at once or after `delay`.
    async fn push(&self, msg: &Message, delay: Duration) -> Result<()>;
    /// Up to `max` visible messages of `kinds` for `consumer`, waiting at most
    /// `wait` when there are none. Reclaims messages whose lease lapsed and
    /// moves due delayed messages first.
    async fn lease(&self, consumer: &str, kinds: &[String], max: usize, wait: Duration) -> Result<Vec<Delivery>>;
    /// Adds several messages, visible at once, in one round trip where the
    /// backend allows it.
    async fn push_many(&self, msgs: &[Message]) -> Result<()> {
        for m in msgs {
            self.push(m, Duration::ZERO).await?;
        }
        Ok(())
    }
    /// Done with a message: it is gone.
    async fn ack(&self, d: &Delivery) -> Result<()>;
    /// Done with several messages (a settled batch), in one round trip where
    /// the backend allows it.
    async fn ack_many(&self, ds: &[Delivery]) -> Result<()> {
        for d in ds {
            self.ack(d).await?;
        }
        Ok(())
    }
    /// Keeps a message leased to `consumer` for another visibility timeout.
    async fn extend(&self, consumer: &str, d: &Delivery) -> Result<()>;
    /// Acks and puts the message back after `delay`, atomically.
    async fn retry(&self, d: &Delivery, delay: Duration) -> Result<()>;
    /// Acks and moves the message to the dead-letter list, atomically.
    async fn bury(&self, d: &Delivery, error: &str) -> Result<()>;
    /// The newest dead letters, newest first.
    async fn dead_letters(&self, kind: &str, limit: usize) -> Result<Vec<DeadLetter>>;
    /// Empties a kind's dead-letter list (after its jobs were requeued).
    async fn clear_dead(&self, kind: &str) -> Result<()>;
    /// Counts a finished job for the last-minute figures.
    async fn record_outcome(&self, kind: &str, ok: bool) -> Result<()>;
    /// Counts `n` finished jobs of one outcome at once.
    async fn record_outcomes(&self, kind: &str, ok: bool, n: u64) -> Result<()> {
        for _ in 0..n {
            self.record_outcome(kind, ok).await?;
        }
        Ok(())
    }
    /// Says worker `id` is alive (expires after 15 s without a beat).
    async fn heartbeat(&self, worker_id: &str) -> Result<()>;
    /// Workers seen in the last 15 s.
    async fn live_workers(&self) -> Result<u64>;
    async fn stats(&self, kinds: &[String]) -> Result<Vec<KindStats>>;
}

/// Seconds a worker heartbeat counts as alive.
pub const WORKER_TTL: Duration = Duration::from_secs(15);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
