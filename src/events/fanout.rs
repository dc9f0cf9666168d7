//! Live subscriptions at scale: one dispatcher per process between the
//! [`EventBus`] and every live subscription.
//!
//! The dispatcher is the bus's only subscriber for live GraphQL streams. For
//! each event it looks up the subscriptions of the event's workspace (a hash
//! lookup: other workspaces' subscribers are never woken), runs each one's
//! cheap filter on the shared [`Envelope`], and hands the matching ones the
//! same `Arc` through a bounded queue of their own (a [`Mailbox`]). A
//! subscriber whose queue is full (its socket is not being read fast
//! enough) is dropped and told so through its `too_slow` token: the
//! WebSocket closes with [`TOO_SLOW_CODE`] instead of losing events
//! silently, and never holds up the others.
//!
//! Each event handed out carries a [`Round`]: when the last subscriber it
//! was handed to has taken it, the time since the dispatcher got it is
//! observed as `switchyard_live_fanout_seconds`.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::task::AtomicWaker;
use futures_util::Stream;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{Envelope, EventBus};
use crate::metrics::Metrics;

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
    mailbox: Arc<Mailbox>,
    /// Cancelled when this subscriber is dropped for being too slow.
    too_slow: CancellationToken,
}

impl Drop for Subscriber {
    /// However it leaves the registry (too slow, the dispatcher lagging or
    /// gone), its stream ends once it has read what is queued.
    fn drop(&mut self) {
        self.mailbox.close();
    }
}

/// One dispatched event's progress: when `left` reaches zero, the last
/// subscriber it was handed to has taken it (an event no subscription
/// matched is not counted).
struct Round {
    at: Instant,
    left: AtomicUsize,
    handed: AtomicBool,
    metrics: Arc<Metrics>,
}

impl Round {
    fn done_one(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 && self.handed.load(Ordering::Acquire) {
            self.metrics.live_fanout(self.at.elapsed());
        }
    }
}

/// A subscription's queue, shared by the dispatcher (which pushes) and the
/// subscription's stream (which takes). A mutex-guarded deque and one
/// waker: a live socket waits here for most of its life, and tokio's
/// bounded channel reserved about 800 bytes for each (cache-padded
/// counters and a first block of 32 slots), 8 MB for 10,000 subscribers;
/// this costs about a tenth of that, and its deque grows only as far as
/// events actually wait (and shrinks back once they are taken).
#[derive(Default)]
struct Mailbox {
    state: Mutex<MailboxState>,
    waker: AtomicWaker,
}

#[derive(Default)]
struct MailboxState {
    queued: VecDeque<(Arc<Envelope>, Arc<Round>)>,
    closed: bool,
}

impl Drop for Mailbox {
    /// What nobody took counts as taken: no round waits for a stream that is gone.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for (_, round) in st.queued.drain(..) {
            round.done_one();
        }
    }
}

/// Room a drained mailbox keeps; a burst's larger deque is given back.
const KEPT_SLOTS: usize = 8;

/// What became of an event offered to a mailbox.
enum Offer {
    Taken,
    Full,
}

impl Mailbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, MailboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn offer(&self, event: &Arc<Envelope>, round: &Arc<Round>) -> Offer {
        {
            let mut st = self.lock();
            if st.queued.len() >= SUBSCRIBER_QUEUE {
                return Offer::Full;
            }
            round.left.fetch_add(1, Ordering::AcqRel);
            round.handed.store(true, Ordering::Release);
            st.queued.push_back((event.clone(), round.clone()));
        }
        self.waker.wake();
        Offer::Taken
    }

    fn close(&self) {
        self.lock().closed = true;
        self.waker.wake();
    }

    /// The next event; `Some(None)` once closed and empty; `None` when
    /// there is nothing yet.
    fn take(&self) -> Option<Option<Arc<Envelope>>> {
        let mut st = self.lock();
        match st.queued.pop_front() {
            Some((event, round)) => {
                if st.queued.is_empty() && st.queued.capacity() > 4 * KEPT_SLOTS {
                    st.queued.shrink_to(KEPT_SLOTS);
                }
                drop(st);
                round.done_one();
                Some(Some(event))
            }
            None if st.closed => Some(None),
            None => None,
        }
    }
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
    metrics: Arc<Metrics>,
    registry: Arc<Mutex<Registry>>,
    shutdown: CancellationToken,
    /// Set once the dispatcher runs (started by the first subscription, so
    /// that it is spawned inside the server's runtime).
    started: OnceLock<()>,
}

impl Fanout {
    pub fn new(bus: Arc<dyn EventBus>, metrics: Arc<Metrics>, shutdown: CancellationToken) -> Self {
        Self { bus, metrics, registry: Arc::default(), shutdown, started: OnceLock::new() }
    }

    /// Every event of `workspace_id` that `accept` keeps, from now on. When
    /// the subscription falls [`SUBSCRIBER_QUEUE`] events behind, its stream
    /// ends and `too_slow` is cancelled.
    pub fn subscribe(&self, workspace_id: &str, accept: Accept, too_slow: CancellationToken) -> Subscription {
        self.started.get_or_init(|| {
            // Subscribe to the bus before any subscriber is registered, so no
            // event published after `subscribe` returns can be missed.
            let rx = self.bus.receiver();
            let dispatcher = dispatch(rx, Arc::downgrade(&self.registry), self.metrics.clone(), self.shutdown.clone());
            tokio::spawn(dispatcher);
        });
        let mailbox = Arc::new(Mailbox::default());
        let mut reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let id = reg.next_id;
        reg.next_id += 1;
        let subscriber = Subscriber { accept, mailbox: mailbox.clone(), too_slow };
        reg.by_workspace.entry(workspace_id.to_string()).or_default().insert(id, subscriber);
        Subscription { mailbox, workspace_id: workspace_id.to_string(), id, registry: Arc::downgrade(&self.registry) }
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
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        let received = tokio::select! {
            r = rx.recv() => r,
            _ = shutdown.cancelled() => return close_all(&registry),
        };
        let Some(registry) = registry.upgrade() else { return };
        let mut reg = registry.lock().unwrap_or_else(|e| e.into_inner());
        match received {
            Ok(event) => {
                let Some(subs) = reg.by_workspace.get_mut(&event.workspace_id) else { continue };
                // The dispatcher holds one share of the round until every
                // subscriber has been offered the event.
                let round = Arc::new(Round {
                    at: Instant::now(),
                    left: AtomicUsize::new(1),
                    handed: AtomicBool::new(false),
                    metrics: metrics.clone(),
                });
                subs.retain(|_, s| {
                    if !(s.accept)(&event) {
                        return true;
                    }
                    match s.mailbox.offer(&event, &round) {
                        Offer::Taken => true,
                        Offer::Full => {
                            tracing::warn!(queued = SUBSCRIBER_QUEUE, "subscriber too slow; closing it");
                            s.too_slow.cancel();
                            false
                        }
                    }
                });
                if subs.is_empty() {
                    reg.by_workspace.remove(&event.workspace_id);
                }
                round.done_one();
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // The dispatcher itself fell behind the bus: every subscriber
                // may have missed events, so none is left believing otherwise.
                tracing::error!(skipped = n, "event dispatcher lagged; closing every subscriber");
                for s in reg.by_workspace.drain().flat_map(|(_, subs)| subs.into_values()) {
                    s.too_slow.cancel();
                }
            }
            Err(broadcast::error::RecvError::Closed) => {
                drop(reg);
                return close_all(&Arc::downgrade(&registry));
            }
        }
    }
}

/// Ends every subscription (once it has read what is queued for it): no
/// more events will come.
fn close_all(registry: &Weak<Mutex<Registry>>) {
    if let Some(registry) = registry.upgrade() {
        let drained: Vec<_> = registry.lock().unwrap_or_else(|e| e.into_inner()).by_workspace.drain().collect();
        drop(drained);
    }
}

/// One subscription's events; unregisters itself when dropped.
pub struct Subscription {
    mailbox: Arc<Mailbox>,
    workspace_id: String,
    id: u64,
    registry: Weak<Mutex<Registry>>,
}

impl Stream for Subscription {
    type Item = Arc<Envelope>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(next) = self.mailbox.take() {
            return Poll::Ready(next);
        }
        self.mailbox.waker.register(cx.waker());
        // Looked at again after registering, so a push in between is not missed.
        match self.mailbox.take() {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
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
        let metrics = Arc::new(Metrics::default());
        let fanout = Fanout::new(bus.clone(), metrics.clone(), CancellationToken::new());
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
        // Every "x" round is over once the fast one took it and the slow
        // one's leftovers went with its stream.
        let text = metrics.render(&[], 0);
        let rounds: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("switchyard_live_fanout_seconds_count "))
            .and_then(|v| v.trim().parse().ok())
            .expect("the fan-out histogram is rendered");
        assert!(rounds >= total as u64, "{rounds} rounds observed, at least {total} expected");
    }
}
