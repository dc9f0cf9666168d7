//! The event bus across processes: committed events are PUBLISHed to one
//! Redis channel, and every process (the publisher too) feeds what it
//! receives to its local subscribers. A subscription on process A therefore
//! sees work done on process B. Events are live-only here; the `event` table
//! is the durable record.

use std::sync::Arc;
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
    outbox: mpsc::UnboundedSender<Vec<Envelope>>,
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
        let (outbox, mut rx) = mpsc::unbounded_channel::<Vec<Envelope>>();

        // One publisher task keeps events in commit order.
        let (pub_channel, pub_local, stop) = (channel.clone(), local.clone(), shutdown.clone());
        tasks.spawn(async move {
            loop {
                let batch = tokio::select! {
                    b = rx.recv() => match b { Some(b) => b, None => break },
                    _ = stop.cancelled() => break,
                };
                if let Err(e) = publish(&pool, &pub_channel, &batch).await {
                    // Redis is away: at least this process's subscribers hear it.
                    tracing::warn!(cause = %e, "could not publish events to Redis; delivering locally");
                    pub_local.publish(batch);
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
                                let payload: Vec<u8> = msg.get_payload_bytes().to_vec();
                                match serde_json::from_slice::<Vec<Envelope>>(&payload) {
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

async fn publish(pool: &Pool, channel: &str, batch: &[Envelope]) -> Result<()> {
    let body = serde_json::to_string(batch).map_err(Error::internal)?;
    let mut conn = pool.get().await?;
    let _: i64 = redis::cmd("PUBLISH").arg(channel).arg(body).query_async(&mut conn).await?;
    Ok(())
}

impl EventBus for RedisBus {
    fn publish(&self, events: Vec<Envelope>) {
        if events.is_empty() {
            return;
        }
        if let Err(mpsc::error::SendError(batch)) = self.outbox.send(events) {
            // Shutting down: the publisher is gone; keep local delivery.
            self.local.publish(batch);
        }
    }

    fn subscribe(&self) -> EventStream {
        self.local.subscribe()
    }

    fn receiver(&self) -> tokio::sync::broadcast::Receiver<Arc<Envelope>> {
        self.local.receiver()
    }
}
