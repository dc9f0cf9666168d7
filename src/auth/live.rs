//! Open WebSockets keep their caller's credential, not the caller (see
//! [`LiveCaller`]). One task per process re-checks the callers of all of
//! them, whenever a credential changes anywhere (the auth cache's
//! invalidations, from every process) and every
//! `SWITCHYARD_WS_RECHECK_SECONDS` (for expiries), and tells a socket when
//! its caller no longer works or may do less than the widest caller it has
//! served: the socket then closes with 4403.
//!
//! Each distinct credential is resolved once per round, however many
//! sockets share it, and a socket costs an entry in a map instead of a task
//! of its own (a thousand-odd bytes each, which 10,000 live subscribers
//! felt). The task runs only while sockets are watched.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{LiveCaller, Principal};
use crate::state::AppState;

/// Credentials resolved at once during a round.
const RESOLVING: usize = 8;

/// Closes a connection with 4403 and says why. Its token may be shared
/// with the connection's other reasons to close (see `rest::graphql`).
#[derive(Clone)]
pub struct Revoked {
    token: CancellationToken,
    /// [`NOT_REVOKED`], [`REVOKED`] or [`NARROWED`].
    why: Arc<AtomicU8>,
}

const NOT_REVOKED: u8 = 0;
const REVOKED: u8 = 1;
const NARROWED: u8 = 2;

impl Revoked {
    /// Cancels `token` when the caller loses power.
    pub fn new(token: CancellationToken) -> Self {
        Self { token, why: Arc::new(AtomicU8::new(NOT_REVOKED)) }
    }

    /// The credential stopped working.
    fn revoke(&self) {
        self.why.store(REVOKED, Ordering::SeqCst);
        self.token.cancel();
    }

    /// The credential works but may do less than when subscriptions started.
    fn narrow(&self) {
        self.why.store(NARROWED, Ordering::SeqCst);
        self.token.cancel();
    }

    /// Why the connection was closed with 4403, if it was.
    pub fn reason(&self) -> Option<&'static str> {
        match self.why.load(Ordering::SeqCst) {
            NARROWED => Some("permissions changed"),
            REVOKED => Some("credentials revoked"),
            _ => None,
        }
    }
}

/// The watched sockets of one process.
#[derive(Default)]
pub struct LiveWatch {
    sockets: Arc<Mutex<Sockets>>,
}

#[derive(Default)]
struct Sockets {
    next_id: u64,
    open: HashMap<u64, Watched>,
    /// Whether the re-checking task runs (it stops when no socket is left).
    running: bool,
}

struct Watched {
    caller: LiveCaller,
    /// The widest caller this socket has served so far.
    widest: Arc<Principal>,
    revoked: Revoked,
}

/// A socket's place in the watch: dropping it (when the connection ends)
/// stops its re-checks.
pub struct Watching {
    id: u64,
    sockets: Weak<Mutex<Sockets>>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Some(sockets) = self.sockets.upgrade() {
            lock(&sockets).open.remove(&self.id);
        }
    }
}

fn lock(sockets: &Mutex<Sockets>) -> MutexGuard<'_, Sockets> {
    sockets.lock().unwrap_or_else(|e| e.into_inner())
}

impl LiveWatch {
    /// Watches a socket whose caller, resolved from `caller`, was `initial`;
    /// `revoked` is cancelled when the caller loses power.
    pub fn watch(&self, app: &AppState, caller: LiveCaller, initial: Arc<Principal>, revoked: Revoked) -> Watching {
        let (id, start) = {
            let mut s = lock(&self.sockets);
            let id = s.next_id;
            s.next_id += 1;
            s.open.insert(id, Watched { caller, widest: initial, revoked });
            (id, !std::mem::replace(&mut s.running, true))
        };
        if start {
            // Subscribed here, so a change before the task's first poll is not
            // missed; spawned with the lock released (a task dropped at once
            // takes it to say it stopped).
            let changes = app.auth_cache.changes();
            let running = Running { sockets: self.sockets.clone(), stopped: false };
            app.tasks.spawn(recheck(app.clone(), running, changes));
        }
        Watching { id, sockets: Arc::downgrade(&self.sockets) }
    }
}

/// Held by the re-checking task: however it ends (even by a panic), the
/// next `watch` starts another.
struct Running {
    sockets: Arc<Mutex<Sockets>>,
    /// Already marked as not running, under the lock that saw no socket.
    stopped: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.stopped {
            lock(&self.sockets).running = false;
        }
    }
}

async fn recheck(app: AppState, mut running: Running, mut changes: tokio::sync::watch::Receiver<u64>) {
    let every = Duration::from_secs(app.config.ws_recheck_seconds);
    let sockets = running.sockets.clone();
    loop {
        let changed = async {
            if changes.changed().await.is_err() {
                // No more change notes (the cache is going away): the timer still runs.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = changed => {}
            _ = app.shutdown.cancelled() => return,
        }
        let (callers, cutoff): (Vec<LiveCaller>, u64) = {
            let mut s = lock(&sockets);
            if s.open.is_empty() {
                // Stopped under the lock `watch` takes: a socket registered
                // after this starts a new task.
                s.running = false;
                running.stopped = true;
                return;
            }
            let distinct: HashSet<&LiveCaller> = s.open.values().map(|w| &w.caller).collect();
            (distinct.into_iter().cloned().collect(), s.next_id)
        };
        let verdicts: HashMap<LiveCaller, Option<Arc<Principal>>> = futures_util::stream::iter(callers)
            .map(|caller| {
                let app = &app;
                async move {
                    // A resolution that panics counts as storage trouble: one
                    // bad credential must not end the watch of every socket.
                    let now = AssertUnwindSafe(caller.resolve(app)).catch_unwind().await;
                    (caller, now.unwrap_or_else(|_| Err(crate::Error::internal("credential re-check panicked"))))
                }
            })
            .buffer_unordered(RESOLVING)
            .take_until(app.shutdown.cancelled())
            // Storage trouble: that caller is looked at again next round.
            .filter_map(|(caller, now)| std::future::ready(now.ok().map(|now| (caller, now))))
            .collect()
            .await;
        // A socket registered during the round keeps its own start: what was
        // resolved before it existed may be older than its caller.
        lock(&sockets).open.retain(|id, w| match verdicts.get(&w.caller) {
            _ if *id >= cutoff => true,
            None => true,
            Some(Some(now)) if now.covers(&w.widest) => {
                w.widest = now.clone();
                true
            }
            Some(Some(_)) => {
                w.revoked.narrow();
                false
            }
            Some(None) => {
                w.revoked.revoke();
                false
            }
        });
    }
}
