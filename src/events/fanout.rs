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
//! observed as `switchyard_live_fanout_seconds`. A subscription that hands
//! its events on to others (one run of a GraphQL subscription shared by
//! many sockets) carries its rounds on ([`Carried`]), so a round still ends
//! at the last socket that took the event.

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
    mailbox: Arc<Mailbox<Handed>>,
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
pub struct Round {
    at: Instant,
    left: AtomicUsize,
    handed: AtomicBool,
    metrics: Arc<Metrics>,
}

impl Round {
    /// One more receiver holds a share of the round.
    pub fn join(&self) {
        self.left.fetch_add(1, Ordering::AcqRel);
        self.handed.store(true, Ordering::Release);
    }

    /// A receiver's share is over (it took the event, or is gone).
    pub fn done_one(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 && self.handed.load(Ordering::Acquire) {
            self.metrics.live_fanout(self.at.elapsed());
        }
    }
}

/// What a queue holds that counts towards rounds: taking it, or dropping it
/// untaken, ends its shares.
pub trait Counted {
    fn taken(&self);
}

/// An event as the dispatcher hands it to a subscription.
type Handed = (Arc<Envelope>, Arc<Round>);

impl Counted for Handed {
    fn taken(&self) {
        self.1.done_one();
    }
}

/// A subscriber's queue, shared by the one who pushes (the dispatcher, or
/// a shared run handing on its answers) and the subscriber's stream (which
/// takes). A mutex-guarded deque and one waker: a live socket waits here
/// for most of its life, and tokio's bounded channel reserved about 800
/// bytes for each (cache-padded counters and a first block of 32 slots), 8
/// MB for 10,000 subscribers; this costs about a tenth of that, and its
/// deque grows only as far as items actually wait (and shrinks back once
/// they are taken). At most [`SUBSCRIBER_QUEUE`] items wait.
pub struct Mailbox<T: Counted> {
    state: Mutex<MailboxState<T>>,
    waker: AtomicWaker,
}

struct MailboxState<T> {
    queued: VecDeque<T>,
    closed: bool,
}

impl<T: Counted> Default for Mailbox<T> {
    fn default() -> Self {
        Self { state: Mutex::new(MailboxState { queued: VecDeque::new(), closed: false }), waker: AtomicWaker::new() }
    }
}

impl<T: Counted> Drop for Mailbox<T> {
    /// What nobody took counts as taken: no round waits for a stream that is gone.
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for item in st.queued.drain(..) {
            item.taken();
        }
    }
}

/// Room a drained mailbox keeps; a burst's larger deque is given back.
const KEPT_SLOTS: usize = 8;

/// What became of an item offered to a mailbox.
pub enum Offer {
    Taken,
    /// [`SUBSCRIBER_QUEUE`] items wait already: the subscriber is too slow.
    Full,
}

impl<T: Counted> Mailbox<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, MailboxState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` unless the queue is full; `join` is called (to take a
    /// share of the item's rounds) only when it is queued.
    pub fn offer(&self, item: T, join: impl FnOnce(&T)) -> Offer {
        {
            let mut st = self.lock();
            if st.queued.len() >= SUBSCRIBER_QUEUE {
                return Offer::Full;
            }
            join(&item);
            st.queued.push_back(item);
        }
        self.waker.wake();
        Offer::Taken
    }

    /// No more items will come; the stream ends once it has taken the queued ones.
    pub fn close(&self) {
        self.lock().closed = true;
        self.waker.wake();
    }

    /// The next item, uncounted (see [`Counted`]); `Some(None)` once closed
    /// and empty; `None` when there is nothing yet.
    fn take(&self) -> Option<Option<T>> {
        let mut st = self.lock();
        match st.queued.pop_front() {
            Some(item) => {
                if st.queued.is_empty() && st.queued.capacity() > 4 * KEPT_SLOTS {
                    st.queued.shrink_to(KEPT_SLOTS);
                }
                Some(Some(item))
            }
            None if st.closed => Some(None),
            None => None,
        }
    }

    /// The next item, as a stream's `poll_next` wants it; uncounted, as
    /// from [`Self::take`].
    pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(next) = self.take() {
            return Poll::Ready(next);
        }
        self.waker.register(cx.waker());
        // Looked at again after registering, so a push in between is not missed.
        match self.take() {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }
}

/// The rounds of the events a subscription took and handed on, not yet
/// over: put in a shared run's GraphQL data, so that its subscription keeps
/// each event's share (instead of ending it when taking the event) until
/// the run has handed its answer to every socket (see [`Carried::take`]).
/// The run must take them after each answer, before it asks for the next:
/// the subscription ends what is still kept when asked again (events that
/// gave no answer), and whatever is left when it is dropped.
#[derive(Clone, Default)]
pub struct Carried(Arc<Kept>);

#[derive(Default)]
struct Kept(Mutex<Vec<Arc<Round>>>);

impl Kept {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Round>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        for round in self.0.get_mut().unwrap_or_else(|e| e.into_inner()).drain(..) {
            round.done_one();
        }
    }
}

impl Carried {
    fn keep(&self, round: Arc<Round>) {
        self.0.lock().push(round);
    }

    fn end_kept(&self) {
        for round in self.take() {
            round.done_one();
        }
    }

    /// The rounds kept since the last call, each still holding the
    /// subscription's share: the caller ends it once it has handed the
    /// event's answer on (and the receivers joined).
    pub fn take(&self) -> Vec<Arc<Round>> {
        std::mem::take(&mut *self.0.lock())
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
    /// ends and `too_slow` is cancelled. With `carried`, the events' rounds
    /// are kept there when taken, for whoever hands them on.
    pub fn subscribe(
        &self,
        workspace_id: &str,
        accept: Accept,
        too_slow: CancellationToken,
        carried: Option<Carried>,
    ) -> Subscription {
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
        Subscription {
            mailbox,
            workspace_id: workspace_id.to_string(),
            id,
            registry: Arc::downgrade(&self.registry),
            carried,
        }
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
                    match s.mailbox.offer((event.clone(), round.clone()), |(_, r)| r.join()) {
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
    mailbox: Arc<Mailbox<Handed>>,
    workspace_id: String,
    id: u64,
    registry: Weak<Mutex<Registry>>,
    carried: Option<Carried>,
}

impl Stream for Subscription {
    type Item = Arc<Envelope>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(carried) = &self.carried {
            // Asked for the next event, the run is done with the ones before:
            // rounds still kept are of events it dropped without answering.
            carried.end_kept();
        }
        self.mailbox.poll_take(cx).map(|next| {
            next.map(|(event, round)| {
                match &self.carried {
                    Some(carried) => carried.keep(round),
                    None => round.done_one(),
                }
                event
            })
        })
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
        let mut fast = fanout.subscribe("ws_a", Box::new(|e| e.event_type == "x"), fast_slow.clone(), None);
        let slow = fanout.subscribe("ws_a", Box::new(|_| true), slow_slow.clone(), None);
        let mut other = fanout.subscribe("ws_b", Box::new(|_| true), CancellationToken::new(), None);
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
