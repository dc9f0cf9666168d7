//! The accept loop behind every listener (the main one and the optional
//! metrics one). `axum::serve` offers no header-read timeout and no
//! connection cap, so this is a small loop of our own on hyper's HTTP/1
//! server, in the manner of mini-redis's `server.rs`:
//!
//! - at most `max_connections` connections are served at once; a permit is
//!   taken before `accept` and held by the connection's task, so over the
//!   cap new connections wait in the kernel's backlog;
//! - a client must send its request line and headers within
//!   `header_timeout` (slowloris), hyper's `header_read_timeout`;
//! - each request carries the peer address (`ConnectInfo<SocketAddr>`) for
//!   per-address rate limits;
//! - WebSocket upgrades work (`with_upgrades`); the connection's permit
//!   rides along in each request ([`ConnectionSlot`]), so an upgraded
//!   connection still counts against the cap while its handler keeps it;
//! - on shutdown the loop stops accepting, idle connections close, requests
//!   in flight finish, and the future resolves once every connection is done.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// What one listener allows its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send the request line and headers.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// One connection's place under `max_connections`, in every request's
/// extensions: it is freed when the connection ends and no handler still
/// holds a clone (a WebSocket task keeps one for the socket's lifetime).
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// Serves `app` on `listener` until `shutdown` is cancelled, then waits for
/// the open connections to finish.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot(Arc::new(permit));
        let held = slot.clone();
        let service = app.clone().map_request(move |mut req: axum::http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(slot.clone());
            req
        });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = held;
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, cause = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// A failed `accept`: errors of the one connection are skipped; anything
/// else (out of file descriptors) is logged and retried after a pause, so
/// the loop neither spins nor dies.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::warn!(cause = %e, "accept failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Raises this process's soft limit on open files to its hard limit (often
/// 1,024 against 524,288 or more): sockets in and out are files.
pub fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::debug!(cause = %e, "could not raise the open-file limit"),
    }
}

/// `wanted` connections, lowered to leave room under the process's open-file
/// limit for the database pools, Redis, outgoing requests and files.
pub fn fit_to_open_file_limit(wanted: usize, reserved: usize) -> usize {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => {
            let room = usize::try_from(soft).unwrap_or(usize::MAX).saturating_sub(reserved).max(16);
            if wanted > room {
                tracing::warn!(wanted, room, soft, "SWITCHYARD_MAX_CONNECTIONS lowered to fit the open-file limit");
            }
            wanted.min(room)
        }
        Err(_) => wanted,
    }
}
