//! The event bus across processes: committed events are PUBLISHed to one
//! Redis channel, and every process feeds what it receives from other
//! processes to its local subscribers. A subscription on process A therefore
//! sees work done on process B. Events are live-only here; the `event` table
//! is the durable record.
//!
//! A process hands its own events to its local subscribers at once, without
//! the round trip through Redis, and drops their echo when it arrives: it
//! keeps the text of each message it sent until the echo comes back
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
    let body: Arc<[u8]> = serde_json::to_vec(&Batch(batch)).map_err(Error::internal)?.into();
    // Kept before it is sent, so the echo always finds it.
    echoes.expect(body.clone());
    let mut conn = pool.get().await?;
    let _: i64 = redis::cmd("PUBLISH").arg(channel).arg(&*body).query_async(&mut conn).await?;
    Ok(())
}

/// The messages this process sent whose echo has not come back yet, oldest
/// first. One channel carries them in the order they were sent, so an echo
/// that arrives means every message kept before it will never come back
/// (sent while the listener was away): those are forgotten with it. A
/// message is told apart by its whole text, which holds its events' ids, so
/// another process's message is never taken for one of these.
#[derive(Default)]
struct Echoes {
    sent: Mutex<Sent>,
}

#[derive(Default)]
struct Sent {
    messages: VecDeque<Arc<[u8]>>,
    bytes: usize,
}

/// Most text kept for echoes not back yet (a listener far behind, or Redis
/// away): past it the oldest are forgotten, and their echoes, should they
/// still come, are read as another process's messages.
const ECHO_BYTES: usize = 16 << 20;

impl Echoes {
    fn expect(&self, body: Arc<[u8]>) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.bytes += body.len();
        sent.messages.push_back(body);
        while sent.bytes > ECHO_BYTES {
            match sent.messages.pop_front() {
                Some(old) => sent.bytes -= old.len(),
                None => break,
            }
        }
    }

    /// Whether `payload` is the echo of a message this process sent (and
    /// then forgets it, and every one kept before it).
    fn take(&self, payload: &[u8]) -> bool {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let Some(at) = sent.messages.iter().position(|m| **m == *payload) else { return false };
        let gone: usize = sent.messages.drain(..=at).map(|m| m.len()).sum();
        sent.bytes -= gone;
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

    fn body(text: &str) -> Arc<[u8]> {
        text.as_bytes().into()
    }

    #[test]
    fn an_echo_is_taken_once_and_other_messages_are_not() {
        let echoes = Echoes::default();
        echoes.expect(body("[1]"));
        echoes.expect(body("[2]"));
        assert!(!echoes.take(b"[3]"), "another process's message");
        assert!(echoes.take(b"[1]"));
        assert!(!echoes.take(b"[1]"), "an echo is taken once");
        assert!(echoes.take(b"[2]"));
        assert_eq!(echoes.sent.lock().unwrap().bytes, 0);
    }

    #[test]
    fn an_echo_forgets_the_messages_sent_before_it_that_never_came_back() {
        let echoes = Echoes::default();
        for m in ["[1]", "[2]", "[3]"] {
            echoes.expect(body(m));
        }
        assert!(echoes.take(b"[2]"));
        assert!(!echoes.take(b"[1]"), "lost while the listener was away: forgotten");
        let sent = echoes.sent.lock().unwrap();
        assert_eq!(sent.messages.len(), 1);
        assert_eq!(sent.bytes, 3);
    }

    #[test]
    fn the_oldest_echoes_are_forgotten_past_the_bound() {
        let echoes = Echoes::default();
        let big = vec![b'x'; ECHO_BYTES / 2 + 1];
        echoes.expect(big.clone().into());
        echoes.expect(big.clone().into());
        let sent = echoes.sent.lock().unwrap();
        assert_eq!(sent.messages.len(), 1);
        assert!(sent.bytes <= ECHO_BYTES);
    }
}
