//! Live subscriptions at scale: one dispatcher per process between the
//! [`EventBus`] and every live subscription.
//!
//! The dispatcher is the bus's only subscriber for live GraphQL streams. For
//! each event it looks up the subscriptions of the event's workspace (a hash
//! lookup: other workspaces' subscribers are never woken), runs each one's
//! cheap filter on the shared [`Envelope`], and hands the matching ones the
//! same `Arc` through a bounded queue of their own. A subscriber whose queue
//! is full (its socket is not being read fast enough) is dropped and told
//! so through its `too_slow` token: the WebSocket closes with
//! [`TOO_SLOW_CODE`] instead of losing events silently, and never holds up
//! the others.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::{Envelope, EventBus};

/// Events one subscription may have waiting before it counts as too slow.
pub const SUBSCRIBER_QUEUE: usize = 256;

/// The WebSocket close code of a subscriber that fell too far behind.
pub const TOO_SLOW_CODE: u16 = 4408;
/// The close reason that goes with [`TOO_SLOW_CODE`].
pub const TOO_SLOW_REASON: &str = "subscriber too slow";

/// Put in a WebSocket connection's GraphQL data: cancelled when one of
/// its subscriptions falls too far behind, so the socket closes with
/// [`TOO_SLOW_CODE`].
#[derive(Clone, Default)]
pub struct TooSlow(pub CancellationToken);

/// Which events of its workspace a subscription wants; runs in the
/// dispatcher, so it must be quick and must not block.
pub type Accept = Box<dyn Fn(&Envelope) -> bool + Send + Sync>;

struct Subscriber {
    accept: Accept,
    tx: mpsc::Sender<Arc<Envelope>>,
    /// Cancelled when this subscriber is dropped for being too slow.
    too_slow: CancellationToken,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    /// Subscribers by workspace, then by id.
    by_workspace: HashMap<String, HashMap<u64, Subscriber>>,
}

/// The registry of live subscriptions and the dispatcher feeding them.
pub struct Fanout {
    bus: Arc<dyn EventBus>,
    registry: Arc<Mutex<Registry>>,
    shutdown: CancellationToken,
    /// Set once the dispatcher runs (started by the first subscription, so
    /// that it is spawned inside the server's runtime).
    started: OnceLock<()>,
}

impl Fanout {
    pub fn new(bus: Arc<dyn EventBus>, shutdown: CancellationToken) -> Self {
        Self { bus, registry: Arc::default(), shutdown, started: OnceLock::new() }
    }

    /// Every event of `workspace_id` that `accept` keeps, from now on. When
    /// the subscription falls [`SUBSCRIBER_QUEUE`] events behind, its stream
    /// ends and `too_slow` is cancelled.
    pub fn subscribe(&self, workspace_id: &str, accept: Accept, too_slow: CancellationToken) -> Subscription {
        self.started.get_or_init(|| {
            // Subscribe to the bus before any subscriber is registered, so no
            // event published after `subscribe` returns can be missed.
            let rx = self.bus.receiver();
            tokio::spawn(dispatch(rx, Arc::downgrade(&self.registry), self.shutdown.clone()));
        });
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let id = reg.next_id;
        reg.next_id += 1;
        reg.by_workspace.entry(workspace_id.to_string()).or_default().insert(id, Subscriber { accept, tx, too_slow });
        Subscription { rx, workspace_id: workspace_id.to_string(), id, registry: Arc::downgrade(&self.registry) }
    }

    /// Live subscriptions in this process.
    pub fn len(&self) -> usize {
        let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        reg.by_workspace.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Hands each event to the matching subscribers; drops the ones that lag.
async fn dispatch(
    mut rx: broadcast::Receiver<Arc<Envelope>>,
    registry: Weak<Mutex<Registry>>,
    shutdown: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            r = rx.recv() => r,
            _ = shutdown.cancelled() => return,
        };
        let Some(registry) = registry.upgrade() else { return };
        let mut reg = registry.lock().unwrap_or_else(|e| e.into_inner());
        match received {
            Ok(event) => {
                let Some(subs) = reg.by_workspace.get_mut(&event.workspace_id) else { continue };
                subs.retain(|_, s| {
                    if !(s.accept)(&event) {
                        return true;
                    }
                    match s.tx.try_send(event.clone()) {
                        Ok(()) => true,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            tracing::warn!(queued = SUBSCRIBER_QUEUE, "subscriber too slow; closing it");
                            s.too_slow.cancel();
                            false
                        }
                        // The stream is gone; its drop unregisters it too.
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                    }
                });
                if subs.is_empty() {
                    reg.by_workspace.remove(&event.workspace_id);
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // The dispatcher itself fell behind the bus: every subscriber
                // may have missed events, so none is left believing otherwise.
                tracing::error!(skipped = n, "event dispatcher lagged; closing every subscriber");
                for s in reg.by_workspace.drain().flat_map(|(_, subs)| subs.into_values()) {
                    s.too_slow.cancel();
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// One subscription's events; unregisters itself when dropped.
pub struct Subscription {
    rx: mpsc::Receiver<Arc<Envelope>>,
    workspace_id: String,
    id: u64,
    registry: Weak<Mutex<Registry>>,
}

impl Stream for Subscription {
    type Item = Arc<Envelope>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Some(registry) = self.registry.upgrade() else { return };
        let mut reg = registry.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(subs) = reg.by_workspace.get_mut(&self.workspace_id) {
            subs.remove(&self.id);
            if subs.is_empty() {
                reg.by_workspace.remove(&self.workspace_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::BroadcastBus;
    use futures_util::StreamExt;

    fn event(workspace: &str, kind: &str) -> Envelope {
        Envelope::live(workspace.to_string(), kind, "system", None, serde_json::Value::Null)
    }

    #[tokio::test]
    async fn filters_by_workspace_and_drops_only_the_slow() {
        let bus: Arc<dyn EventBus> = Arc::new(BroadcastBus::new(4096));
        let fanout = Fanout::new(bus.clone(), CancellationToken::new());
        let (fast_slow, slow_slow) = (CancellationToken::new(), CancellationToken::new());
        let mut fast = fanout.subscribe("ws_a", Box::new(|e| e.event_type == "x"), fast_slow.clone());
        let slow = fanout.subscribe("ws_a", Box::new(|_| true), slow_slow.clone());
        let mut other = fanout.subscribe("ws_b", Box::new(|_| true), CancellationToken::new());
        let total = SUBSCRIBER_QUEUE + 10;
        let reader = tokio::spawn(async move {
            let mut n = 0;
            while n < total {
                let e = fast.next().await.expect("fast stream ended");
                assert_eq!((e.workspace_id.as_str(), e.event_type.as_str()), ("ws_a", "x"));
                n += 1;
            }
            fast
        });
        for i in 0..total {
            bus.publish(vec![event("ws_a", "x"), event("ws_a", "y")]);
            if i % 32 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let fast = tokio::time::timeout(std::time::Duration::from_secs(5), reader).await.unwrap().unwrap();
        assert!(slow_slow.is_cancelled(), "the slow subscriber is told");
        assert!(!fast_slow.is_cancelled(), "the fast one is not");
        // The slow one is unregistered; ws_b saw nothing.
        assert_eq!(fanout.len(), 2);
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), other.next()).await.is_err());
        drop((fast, slow, other));
        assert!(fanout.is_empty());
    }
}
