//! The event bus across processes: committed events are PUBLISHed to one
//! Redis channel, and every process feeds what it receives from other
//! processes to its local subscribers. A subscription on process A therefore
//! sees work done on process B. Events are live-only here; the `event` table
//! is the durable record.
//!
//! A process hands its own events to its local subscribers at once, without
//! the round trip through Redis, and drops their echo when it arrives: it
//! keeps a fingerprint of each message it sent until the echo comes back
//! ([`Echoes`]). Reading an echo back cost as much as a tenth of the work of
//! accepting a record (`bench ingest`), for events its subscribers had
//! already been given.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::redis;
use deadpool_redis::Pool;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{BroadcastBus, Envelope, EventBus, EventStream};
use crate::error::{Error, Result};

pub struct RedisBus {
    outbox: mpsc::UnboundedSender<Vec<Arc<Envelope>>>,
    local: Arc<BroadcastBus>,
}

impl RedisBus {
    /// Starts the publisher and the listener tasks on `tasks`; both stop on `shutdown`.
    pub async fn start(
        url: &str,
        pool: Pool,
        prefix: &str,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Self> {
        let client = redis::Client::open(url).map_err(Error::from)?;
        let channel = format!("{prefix}:events");
        let local = Arc::new(BroadcastBus::new(4096));
        let echoes = Arc::new(Echoes::default());
        let (outbox, mut rx) = mpsc::unbounded_channel::<Vec<Arc<Envelope>>>();

        // One publisher task keeps events in commit order.
        let (pub_channel, pub_echoes, stop) = (channel.clone(), echoes.clone(), shutdown.clone());
        tasks.spawn(async move {
            loop {
                let batch = tokio::select! {
                    b = rx.recv() => match b { Some(b) => b, None => break },
                    _ = stop.cancelled() => break,
                };
                if let Err(e) = publish(&pool, &pub_channel, &pub_echoes, &batch).await {
                    // This process's subscribers have heard it already.
                    tracing::warn!(cause = %e, "could not publish events to Redis; other processes miss them");
                }
            }
        });

        // The listener reconnects with backoff until shutdown.
        let (sub_local, stop) = (local.clone(), shutdown);
        tasks.spawn(async move {
            let mut backoff = Duration::from_millis(100);
            while !stop.is_cancelled() {
                match client.get_async_pubsub().await {
                    Ok(mut ps) => {
                        if let Err(e) = ps.subscribe(&channel).await {
                            tracing::warn!(cause = %e, "event subscription to Redis failed");
                        } else {
                            backoff = Duration::from_millis(100);
                            let mut messages = ps.on_message();
                            loop {
                                let msg = tokio::select! {
                                    m = messages.next() => match m { Some(m) => m, None => break },
                                    _ = stop.cancelled() => return,
                                };
                                let payload = msg.get_payload_bytes();
                                if echoes.take(payload) {
                                    continue;
                                }
                                match serde_json::from_slice::<Vec<Envelope>>(payload) {
                                    Ok(batch) => sub_local.publish(batch),
                                    Err(e) => tracing::warn!(cause = %e, "unreadable event message"),
                                }
                            }
                            tracing::warn!("Redis event subscription closed; reconnecting");
                        }
                    }
                    Err(e) => tracing::warn!(cause = %e, retry_in = ?backoff, "cannot reach Redis for events"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        Ok(Self { outbox, local })
    }
}

async fn publish(pool: &Pool, channel: &str, echoes: &Echoes, batch: &[Arc<Envelope>]) -> Result<()> {
    struct Batch<'a>(&'a [Arc<Envelope>]);
    impl serde::Serialize for Batch<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|e| &**e))
        }
    }
    let body = serde_json::to_vec(&Batch(batch)).map_err(Error::internal)?;
    // Kept before it is sent, so the echo always finds it.
    let sent = echoes.expect(&body);
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(e) => {
            // Never sent: no echo will come.
            echoes.forget(sent);
            return Err(e.into());
        }
    };
    // A failure past this point may still have published it: kept, so an
    // echo is not taken for another process's message (and forgotten with
    // the next echo if none comes).
    let _: i64 = redis::cmd("PUBLISH").arg(channel).arg(body).query_async(&mut conn).await?;
    Ok(())
}

/// The messages this process sent whose echo has not come back yet, oldest
/// first, each as its length and a 128-bit hash of its text (XXH3 with a
/// seed of this process's own, never shown, so no sender can aim at a
/// fingerprint; hashing both ways costs a few hundred instructions per
/// event where std's SipHash cost thousands).
/// One channel carries them in the order they were sent, so an echo that
/// arrives means every message kept before it will never come back (sent
/// while the listener was away): those are forgotten with it.
#[derive(Default)]
struct Echoes {
    seed: Seed,
    sent: Mutex<VecDeque<Fingerprint>>,
}

struct Seed(u64);

impl Default for Seed {
    fn default() -> Self {
        Self(rand::random())
    }
}

type Fingerprint = (usize, u128);

/// Most echoes awaited at once (a listener far behind, or away): past it
/// the oldest are forgotten, and their echoes, should they still come, are
/// read as another process's messages.
const ECHOES: usize = 4096;

impl Echoes {
    fn fingerprint(&self, text: &[u8]) -> Fingerprint {
        (text.len(), xxhash_rust::xxh3::xxh3_128_with_seed(text, self.seed.0))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Fingerprint>> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Awaits the echo of `text`; returns its fingerprint.
    fn expect(&self, text: &[u8]) -> Fingerprint {
        let print = self.fingerprint(text);
        let mut sent = self.lock();
        if sent.len() == ECHOES {
            sent.pop_front();
        }
        sent.push_back(print);
        print
    }

    /// Stops awaiting a message that was never sent (the newest awaited).
    fn forget(&self, print: Fingerprint) {
        let mut sent = self.lock();
        if let Some(at) = sent.iter().rposition(|p| *p == print) {
            sent.remove(at);
        }
    }

    /// Whether `payload` is the echo of a message this process sent (and
    /// then forgets it, and every one kept before it).
    fn take(&self, payload: &[u8]) -> bool {
        let mut sent = self.lock();
        if sent.is_empty() {
            return false;
        }
        let print = self.fingerprint(payload);
        let Some(at) = sent.iter().position(|p| *p == print) else { return false };
        sent.drain(..=at);
        true
    }
}

impl EventBus for RedisBus {
    fn publish(&self, events: Vec<Envelope>) {
        if events.is_empty() {
            return;
        }
        // Heard here at once; the other processes through Redis.
        let events: Vec<Arc<Envelope>> = events.into_iter().map(Arc::new).collect();
        self.local.publish_shared(&events);
        // Shutting down when this fails: the publisher is gone.
        let _ = self.outbox.send(events);
    }

    fn subscribe(&self) -> EventStream {
        self.local.subscribe()
    }

    fn receiver(&self) -> tokio::sync::broadcast::Receiver<Arc<Envelope>> {
        self.local.receiver()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn an_echo_is_taken_once_and_other_messages_are_not() {
        let echoes = Echoes::default();
        echoes.expect(b"[1]");
        echoes.expect(b"[2]");
        assert!(!echoes.take(b"[3]"), "another process's message");
        assert!(!echoes.take(b"[1] "), "same start, other text");
        assert!(echoes.take(b"[1]"));
        assert!(!echoes.take(b"[1]"), "an echo is taken once");
        assert!(echoes.take(b"[2]"));
        assert!(echoes.lock().is_empty());
    }

    #[test]
    fn an_echo_forgets_the_messages_sent_before_it_that_never_came_back() {
        let echoes = Echoes::default();
        for m in [b"[1]", b"[2]", b"[3]"] {
            echoes.expect(m);
        }
        assert!(echoes.take(b"[2]"));
        assert!(!echoes.take(b"[1]"), "lost while the listener was away: forgotten");
        assert_eq!(echoes.lock().len(), 1);
    }

    #[test]
    fn a_message_never_sent_is_not_awaited_and_the_oldest_go_past_the_bound() {
        let echoes = Echoes::default();
        let kept = echoes.expect(b"[1]");
        let unsent = echoes.expect(b"[2]");
        echoes.forget(unsent);
        assert_eq!(*echoes.lock(), [kept]);
        for n in 0..ECHOES {
            echoes.expect(n.to_string().as_bytes());
        }
        assert_eq!(echoes.lock().len(), ECHOES);
        assert!(!echoes.take(b"[1]"), "the oldest was forgotten");
        assert!(echoes.take((ECHOES - 1).to_string().as_bytes()));
    }

    fn event(n: usize, data: serde_json::Value) -> Envelope {
        Envelope::live("ws_1".into(), "test.note", "system", Some(format!("n{n}")), data)
    }

    /// Every event heard within `wait` (the stream ends quietly after it).
    async fn heard(mut stream: EventStream, wait: Duration) -> Vec<Arc<Envelope>> {
        let mut out = Vec::new();
        while let Ok(Some(e)) = tokio::time::timeout(wait, stream.next()).await {
            out.push(e);
        }
        out
    }

    async fn bus(url: &str, prefix: &str, stop: &CancellationToken, tasks: &TaskTracker) -> RedisBus {
        let pool = crate::jobs::redis::pool(url).unwrap();
        RedisBus::start(url, pool, prefix, stop.clone(), tasks).await.unwrap()
    }

    /// With `SWITCHYARD_TEST_REDIS_URL`: a process hears its own events
    /// once (a large batch too), and the other process hears them all.
    #[tokio::test]
    async fn own_events_are_heard_once_and_other_processes_hear_them() {
        let Some(url) = std::env::var("SWITCHYARD_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) else {
            return eprintln!("skipped: needs SWITCHYARD_TEST_REDIS_URL");
        };
        let prefix = format!("sy_test_bus_{}", ulid::Ulid::new().to_string().to_lowercase());
        let (stop, tasks) = (CancellationToken::new(), TaskTracker::new());
        let (a, b) = (bus(&url, &prefix, &stop, &tasks).await, bus(&url, &prefix, &stop, &tasks).await);
        // Both listeners subscribed before anything is sent.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (on_a, on_b) = (a.subscribe(), b.subscribe());
        // 20 MiB in one message: larger than any bound on bytes kept.
        let big = serde_json::Value::String("x".repeat(4 << 20));
        for n in 0..20 {
            a.publish(vec![event(n, serde_json::json!({ "n": n }))]);
        }
        a.publish((20..25).map(|n| event(n, big.clone())).collect());
        let wait = Duration::from_millis(700);
        let (on_a, on_b) = tokio::join!(heard(on_a, wait), heard(on_b, wait));
        let ids = |heard: &[Arc<Envelope>]| heard.iter().filter_map(|e| e.subject_id.clone()).collect::<Vec<_>>();
        let all: Vec<String> = (0..25).map(|n| format!("n{n}")).collect();
        assert_eq!(ids(&on_a), all, "the publisher hears each of its events once, in order");
        assert_eq!(ids(&on_b), all, "another process hears them all, in order");
        stop.cancel();
        tasks.close();
        tasks.wait().await;
    }

    /// Redis unreachable: the process's own subscribers still hear it.
    #[tokio::test]
    async fn own_events_are_heard_with_redis_away() {
        let url = "redis://127.0.0.1:9";
        let (stop, tasks) = (CancellationToken::new(), TaskTracker::new());
        let a = bus(url, "sy_test_away", &stop, &tasks).await;
        let on_a = a.subscribe();
        a.publish(vec![event(1, serde_json::json!({}))]);
        let heard = heard(on_a, Duration::from_millis(300)).await;
        assert_eq!(heard.len(), 1);
        stop.cancel();
        tasks.close();
        tasks.wait().await;
    }
}
