//! One run for many sockets: live subscriptions that must give the same
//! answers share one execution, and each answer is serialised once.
//!
//! Subscriptions are the same when the caller, the document, the operation
//! name and the variables are: a dashboard open in many tabs, or many
//! clients of one API key. Such subscriptions share a [`Group`]: one
//! async-graphql stream, run by a task of its own, that serialises each
//! answer once and hands the same bytes to every member's bounded queue (a
//! [`Mailbox`]); each socket only wraps them in its protocol's envelope.
//!
//! The first of its kind runs alone, on its own socket's task, as any
//! operation does: a group (its task, registry entry and mailbox) costs
//! more memory than a run, and 10,000 different subscriptions must fit as
//! well as 10,000 of one kind. The registry only remembers lone runs by a
//! hash of their key; a subscription whose hash is there starts a group
//! (so N of a kind make two runs), and later ones join it. A hash shared by
//! two different keys only starts a group early.
//!
//! A group takes new members only until it has answered once. A stream may
//! begin with answers meant for the subscriber that started it (an error, a
//! replay of missed events, a first snapshot); a subscription arriving later
//! starts a new group (which the ones after it join) instead of missing
//! them. Groups of live event streams still gather every socket that
//! subscribed between two events.
//!
//! A member whose queue is full is dropped and its connection closes as too
//! slow, without holding up the others. The event's fan-out round (see
//! `events::fanout`) ends when the last member took the answer.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use async_graphql::{Data, Response};
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Principal;
use crate::events::fanout::{Carried, Counted, Mailbox, Offer, Round, TooSlow, SUBSCRIBER_QUEUE};

/// What one operation of a socket answers.
pub enum Answer {
    /// An answer of this operation alone, serialised by the socket.
    Own(Box<Response>),
    /// An answer shared with other sockets, serialised once.
    Shared(Arc<Delivery>),
}

/// One answer of a shared run, as every member receives it.
pub struct Delivery {
    /// The answer as JSON (a GraphQL response: `{"data": …}`).
    pub payload: Box<str>,
    /// The fan-out rounds of the events behind it; each member holds a
    /// share of each until it takes the answer.
    rounds: Vec<Arc<Round>>,
}

impl Counted for Arc<Delivery> {
    fn taken(&self) {
        for round in &self.rounds {
            round.done_one();
        }
    }
}

/// What makes two subscriptions the same.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    caller: Arc<Principal>,
    query: String,
    operation: Option<String>,
    /// The variables as JSON (object keys in the order sent).
    variables: String,
}

impl Key {
    /// `None` if the variables do not serialise (then nothing is shared).
    pub fn new(caller: Arc<Principal>, request: &async_graphql::Request) -> Option<Self> {
        Some(Key {
            caller,
            query: request.query.clone(),
            operation: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).ok()?,
        })
    }
}

#[derive(Default)]
struct Registry {
    groups: HashMap<Arc<Key>, Arc<Group>>,
    /// The hashes of the keys of subscriptions running alone.
    alone: HashSet<u64>,
}

type Groups = Mutex<Registry>;

/// The shared runs of this process, by what makes them the same.
#[derive(Clone, Default)]
pub struct Shared(Arc<Groups>);

/// A subscription running alone, remembered in the registry while it lives.
struct Alone {
    hash: u64,
    groups: Weak<Groups>,
}

impl Drop for Alone {
    fn drop(&mut self) {
        let Some(groups) = self.groups.upgrade() else { return };
        lock(&groups).alone.remove(&self.hash);
    }
}

struct Group {
    /// Also the registry's key (one copy for both).
    key: Arc<Key>,
    state: Mutex<GroupState>,
    /// Cancelled when the last member leaves: the run stops.
    unwatched: CancellationToken,
}

#[derive(Default)]
struct GroupState {
    members: HashMap<u64, Member>,
    next_id: u64,
    /// Set with the first answer: from then on, no new member.
    sealed: bool,
    /// The run is over or stopping.
    ended: bool,
}

struct Member {
    mailbox: Arc<Mailbox<Arc<Delivery>>>,
    /// The member's connection: cancelled when it falls too far behind.
    too_slow: CancellationToken,
}

impl Drop for Member {
    /// However it leaves the group, its stream ends once it has read what is queued.
    fn drop(&mut self) {
        self.mailbox.close();
    }
}

impl Group {
    fn lock(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(self: &Arc<Self>, st: &mut GroupState, too_slow: CancellationToken, groups: &Arc<Groups>) -> Joined {
        let mailbox = Arc::new(Mailbox::default());
        let id = st.next_id;
        st.next_id += 1;
        st.members.insert(id, Member { mailbox: mailbox.clone(), too_slow });
        Joined { group: self.clone(), id, mailbox, groups: Arc::downgrade(groups) }
    }

    /// Takes the group out of the registry, if it is still the one there.
    fn forget(self: &Arc<Self>, registry: &mut Registry) {
        if registry.groups.get(&*self.key).is_some_and(|g| Arc::ptr_eq(g, self)) {
            registry.groups.remove(&*self.key);
        }
    }
}

fn lock(groups: &Groups) -> std::sync::MutexGuard<'_, Registry> {
    groups.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The answers of a subscription of `key`: from the group of `key`
    /// that still takes members, else from a new group if one like it runs
    /// alone, else from a run of its own. `start` starts a run: with the
    /// data a group's run needs in its session (the rounds it carries, its
    /// own too-slow token), or with `None` for a run alone, which uses the
    /// connection's session. `too_slow` is the joining connection's.
    pub fn join(
        &self,
        key: Key,
        too_slow: CancellationToken,
        tasks: &TaskTracker,
        start: impl FnOnce(Option<Data>) -> BoxStream<'static, Response>,
    ) -> BoxStream<'static, Answer> {
        let mut registry = lock(&self.0);
        if let Some(group) = registry.groups.get(&key) {
            let mut st = group.lock();
            if !st.sealed && !st.ended {
                return group.add(&mut st, too_slow, &self.0).boxed();
            }
        }
        let hash = registry.alone.hasher().hash_one(&key);
        if registry.alone.insert(hash) {
            drop(registry);
            let alone = Alone { hash, groups: Arc::downgrade(&self.0) };
            // Remembered for as long as its answers are kept.
            return own(start(None))
                .map(move |answer| {
                    let _remembered = &alone;
                    answer
                })
                .boxed();
        }
        let key = Arc::new(key);
        let group = Arc::new(Group { key: key.clone(), state: Mutex::default(), unwatched: CancellationToken::new() });
        let joined = group.add(&mut group.lock(), too_slow, &self.0);
        registry.groups.insert(key, group.clone());
        drop(registry);

        let (carried, run_too_slow) = (Carried::default(), TooSlow::default());
        let mut data = Data::default();
        data.insert(carried.clone());
        data.insert(run_too_slow.clone());
        let answers = start(Some(data));
        tasks.spawn(run(group, answers, carried, run_too_slow.0, Arc::downgrade(&self.0)));
        joined.boxed()
    }

    /// Shared runs going on in this process.
    pub fn len(&self) -> usize {
        lock(&self.0).groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A group's run: each answer serialised once and handed to every member.
async fn run(
    group: Arc<Group>,
    mut answers: BoxStream<'static, Response>,
    carried: Carried,
    too_slow: CancellationToken,
    groups: Weak<Groups>,
) {
    loop {
        let next = tokio::select! {
            biased;
            _ = group.unwatched.cancelled() => break,
            next = AssertUnwindSafe(answers.next()).catch_unwind() => next,
        };
        let (answer, last) = match next {
            Ok(Some(answer)) => (answer, false),
            Ok(None) => break,
            // A resolver panicked: the members hear of an internal error,
            // as one subscriber alone would, and the run is over.
            Err(_) => (panicked_answer(), true),
        };
        let payload = match serde_json::to_string(&answer) {
            Ok(json) => json.into_boxed_str(),
            Err(e) => {
                tracing::error!(error = %e, "a subscription's answer does not serialise");
                continue;
            }
        };
        let delivery = Arc::new(Delivery { payload, rounds: carried.take() });
        if !hand_out(&group, &delivery) || last {
            break;
        }
    }
    // Over: no one joins any more, and the members' streams end (as too
    // slow, when the run itself fell behind its events).
    if let Some(groups) = groups.upgrade() {
        group.forget(&mut lock(&groups));
    }
    let members = {
        let mut st = group.lock();
        st.ended = true;
        std::mem::take(&mut st.members)
    };
    if too_slow.is_cancelled() {
        for m in members.values() {
            m.too_slow.cancel();
        }
    }
}

/// Answers of an operation that runs on its own (on its socket's task); a
/// resolver that panics ends it with an internal error, as it ends a
/// group's run, instead of ending the socket.
pub fn own(answers: impl Stream<Item = Response> + Send + 'static) -> BoxStream<'static, Answer> {
    AssertUnwindSafe(answers)
        .catch_unwind()
        // A panic is the stream's last item.
        .map(|answer| Answer::Own(Box::new(answer.unwrap_or_else(|_| panicked_answer()))))
        .boxed()
}

/// What a subscription answers when a resolver panicked: an internal
/// error, after which it ends.
fn panicked_answer() -> Response {
    tracing::error!("a subscription's run panicked");
    let failed = async_graphql::ServerError::new("Internal server error", None);
    super::errors::annotate_response(Response::from_errors(vec![failed]))
}

/// Offers one answer to every member; drops (as too slow) those whose
/// queue is full. Whether any member is left. The group is locked only to
/// list the members and to drop the slow ones, so that joining and leaving
/// (of this group or, through the registry, of any) never wait for the
/// offers to 10,000 sockets.
fn hand_out(group: &Group, delivery: &Arc<Delivery>) -> bool {
    let mailboxes: Vec<(u64, Arc<Mailbox<Arc<Delivery>>>)> = {
        let mut st = group.lock();
        st.sealed = true;
        st.members.iter().map(|(id, m)| (*id, m.mailbox.clone())).collect()
    };
    let mut full = Vec::new();
    for (id, mailbox) in &mailboxes {
        // A member that left meanwhile gets it too; its mailbox is dropped
        // unread, which ends its shares.
        if let Offer::Full = mailbox.offer(delivery.clone(), |d| d.rounds.iter().for_each(|r| r.join())) {
            full.push(*id);
        }
    }
    drop(mailboxes);
    // The run's own share of each round: every member has joined it.
    for round in &delivery.rounds {
        round.done_one();
    }
    let mut st = group.lock();
    for id in full {
        if let Some(m) = st.members.remove(&id) {
            tracing::warn!(queued = SUBSCRIBER_QUEUE, "subscriber too slow; closing it");
            m.too_slow.cancel();
        }
    }
    !st.members.is_empty()
}

/// A member's answers; leaves the group when dropped (the last one out
/// stops the run).
pub struct Joined {
    group: Arc<Group>,
    id: u64,
    mailbox: Arc<Mailbox<Arc<Delivery>>>,
    groups: Weak<Groups>,
}

impl Stream for Joined {
    type Item = Answer;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Answer>> {
        self.mailbox.poll_take(cx).map(|next| {
            next.map(|delivery| {
                delivery.taken();
                Answer::Shared(delivery)
            })
        })
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        let last = {
            let mut st = self.group.lock();
            st.members.remove(&self.id);
            let last = st.members.is_empty() && !st.ended;
            st.ended |= last;
            last
        };
        if last {
            self.group.unwatched.cancel();
            // A subscription arriving meanwhile saw it ended and started
            // another group: `forget` leaves that one in place.
            if let Some(groups) = self.groups.upgrade() {
                self.group.forget(&mut lock(&groups));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Credential, Role};

    fn key(variables: &str) -> Key {
        let caller = Arc::new(Principal {
            workspace_id: "ws_1".into(),
            user_id: "usr_1".into(),
            role: Role::Owner,
            scopes: Default::default(),
            credential: Credential::ApiKey {
                id: "ak_1".into(),
                environment: crate::services::api_keys::Environment::Test,
            },
        });
        Key { caller, query: "subscription { x }".into(), operation: None, variables: variables.into() }
    }

    /// A run whose answers are sent through the returned channel; it
    /// checks whether it is started for a group or alone.
    fn source(
        grouped: bool,
    ) -> (tokio::sync::mpsc::UnboundedSender<Response>, impl FnOnce(Option<Data>) -> BoxStream<'static, Response>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (tx, move |data: Option<Data>| {
            assert_eq!(data.is_some(), grouped, "started for a group: {}", data.is_some());
            tokio_stream_from(rx)
        })
    }

    fn tokio_stream_from(mut rx: tokio::sync::mpsc::UnboundedReceiver<Response>) -> BoxStream<'static, Response> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
    }

    /// An answer's JSON, and whether it was shared.
    fn payload(a: Answer) -> (String, bool) {
        match a {
            Answer::Shared(d) => (d.payload.to_string(), true),
            Answer::Own(r) => (serde_json::to_string(&*r).unwrap(), false),
        }
    }

    fn x(i: usize) -> Response {
        Response::new(async_graphql::value!({ "x": i }))
    }

    fn shared_x(i: usize) -> (String, bool) {
        (format!(r#"{{"data":{{"x":{i}}}}}"#), true)
    }

    #[tokio::test]
    async fn the_first_runs_alone_and_the_same_subscriptions_after_it_share_one_run_until_it_answers() {
        let (shared, tasks) = (Shared::default(), TaskTracker::new());
        let token = CancellationToken::new;
        let (alone_tx, alone_start) = source(false);
        let mut a = shared.join(key("{}"), token(), &tasks, alone_start);
        assert_eq!(shared.len(), 0, "the first of its kind runs alone");
        let (tx, start) = source(true);
        let mut b = shared.join(key("{}"), token(), &tasks, start);
        let mut c = shared.join(key("{}"), token(), &tasks, |_| panic!("c joins b's run"));
        let (_other_tx, other) = source(false);
        let _d = shared.join(key(r#"{"v":1}"#), token(), &tasks, other);
        assert_eq!(shared.len(), 1, "one group; other variables run alone");

        alone_tx.send(x(0)).unwrap();
        assert_eq!(payload(a.next().await.unwrap()), (r#"{"data":{"x":0}}"#.into(), false));
        tx.send(x(1)).unwrap();
        assert_eq!(payload(b.next().await.unwrap()), shared_x(1));
        assert_eq!(payload(c.next().await.unwrap()), shared_x(1));

        // The group has answered: a newcomer starts another.
        let (late_tx, late_start) = source(true);
        let mut late = shared.join(key("{}"), token(), &tasks, late_start);
        tx.send(x(2)).unwrap();
        assert_eq!(payload(b.next().await.unwrap()), shared_x(2));
        assert_eq!(payload(c.next().await.unwrap()), shared_x(2));
        late_tx.send(x(3)).unwrap();
        assert_eq!(payload(late.next().await.unwrap()), shared_x(3));

        // One member leaving leaves the run to the other; the last one stops it.
        drop(b);
        tx.send(x(4)).unwrap();
        assert_eq!(payload(c.next().await.unwrap()), shared_x(4));
        drop(c);
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while !tx.is_closed() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the run stops once nobody listens");

        // With the lone one gone too, the next of its kind runs alone again.
        drop((a, late));
        let (_again_tx, again) = source(false);
        let _again = shared.join(key("{}"), token(), &tasks, again);
        assert_eq!(shared.len(), 0);
    }

    #[tokio::test]
    async fn a_full_member_is_dropped_as_too_slow_and_the_others_go_on() {
        let (shared, tasks) = (Shared::default(), TaskTracker::new());
        let (_alone_tx, alone) = source(false);
        let _alone = shared.join(key("{}"), CancellationToken::new(), &tasks, alone);
        let (tx, start) = source(true);
        let (slow_token, fast_token) = (CancellationToken::new(), CancellationToken::new());
        let slow = shared.join(key("{}"), slow_token.clone(), &tasks, start);
        let mut fast = shared.join(key("{}"), fast_token.clone(), &tasks, |_| panic!("shared"));
        for i in 0..SUBSCRIBER_QUEUE + 1 {
            tx.send(x(i)).unwrap();
            assert_eq!(payload(fast.next().await.unwrap()), shared_x(i));
        }
        assert!(slow_token.is_cancelled(), "the member that read nothing is told it is too slow");
        assert!(!fast_token.is_cancelled());
        drop(slow);
        // The run ends: the one still reading gets what is queued, then the end.
        drop(tx);
        assert!(fast.next().await.is_none());
        assert!(!fast_token.is_cancelled(), "an ended run is not a slow one");
    }
}
