//! `switchyard bench subscriptions`: how many live subscribers one server
//! process holds and how fast an event reaches all of them.
//!
//! For each level it starts a `switchyard serve` child (so its RSS is its
//! own), connects N `graphql-transport-ws` clients from this process, each
//! subscribing `subscription { events { type } }` with an API key in
//! `connection_init`, sends one warm-up `updateProfile` mutation (every
//! subscriber must hear it: this proves all subscriptions are registered),
//! reads the server's RSS, then sends the measured mutation and reports the
//! time from sending it until each subscriber received its event: p50 and
//! the slowest. Server side, it reports the event's fan-out time from the
//! server's `/metrics` (`switchyard_live_fanout_seconds`: from the
//! dispatcher getting the event until the last subscription took it to
//! write to its socket), which leaves out the time this process, on the
//! same cores, takes to read 10,000 sockets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use ws_client::tungstenite::client::IntoClientRequest;
use ws_client::tungstenite::protocol::WebSocketConfig;
use ws_client::tungstenite::Message;

use super::{rss_kib, start_server, ServerChild};
use crate::config::Config;
use crate::error::{Error, Result};

/// Most subscribers one level may connect.
const MAX_SUBSCRIBERS: usize = 50_000;
/// Sockets connecting at once.
const CONNECTING: usize = 256;
/// How long every subscriber gets to hear an event before the run fails.
const DEADLINE: Duration = Duration::from_secs(60);

pub async fn run(config: Config, levels: Vec<usize>) -> Result<()> {
    if levels.is_empty() || levels.len() > 8 || levels.iter().any(|&n| n == 0 || n > MAX_SUBSCRIBERS) {
        return Err(Error::invalid(format!(
            "--subscribers takes 1 to 8 levels, each from 1 to {MAX_SUBSCRIBERS} (e.g. 1000,10000)"
        )));
    }
    let widest = levels.iter().copied().max().unwrap_or(1);
    // This process and the server child (which inherits the limit) each
    // hold one socket per subscriber.
    let needed = widest as u64 + 1024;
    let limit = rlimit::increase_nofile_limit(needed).map_err(Error::internal)?;
    if limit < needed {
        return Err(Error::invalid(format!(
            "{widest} subscribers need about {needed} open files, but this shell allows {limit}: raise it (ulimit -n {needed})"
        )));
    }
    let client = reqwest::Client::builder().build().map_err(Error::internal)?;
    println!(
        "switchyard bench subscriptions: storage {}{}",
        if config.is_postgres() { "postgres" } else { "sqlite" },
        if config.redis_url.is_some() { " + redis" } else { "" }
    );
    println!(
        "{:>11} {:>12} {:>12} {:>14} {:>10} {:>10} {:>10} {:>14}",
        "subscribers", "idle RSS", "RSS after", "per subscriber", "connect", "p50", "max", "server fan-out"
    );
    for n in levels {
        let server = start_server(&config, &client, "read,write").await?;
        let outcome = level(&client, &server, n).await;
        let finished = server.finish().await;
        outcome.and(finished)?;
    }
    Ok(())
}

/// One level: connect `n`, warm up, measure; prints one row.
async fn level(client: &reqwest::Client, server: &ServerChild, n: usize) -> Result<()> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(server.pid).unwrap_or(0);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let url = format!("ws://{}/graphql/ws", server.addr);
    let key = Arc::new(server.key.clone());
    let mut subscribers = Vec::with_capacity(n);
    let connects = futures_util::stream::iter(0..n)
        .map(|_| subscribe(url.clone(), key.clone(), tx.clone()))
        .buffer_unordered(CONNECTING);
    futures_util::pin_mut!(connects);
    while let Some(handle) = connects.next().await {
        subscribers.push(handle?);
    }
    let connect = started.elapsed();
    // The warm-up event: once all heard it, every subscription is live.
    mutate(client, server, "warm-up").await?;
    collect(&mut rx, n, Instant::now()).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(server.pid).unwrap_or(0);
    let fanout = "switchyard_live_fanout_seconds";
    let before_fanout = super::histogram_totals(client, &server.addr, fanout).await;
    let sent = Instant::now();
    mutate(client, server, "measured").await?;
    let mut lat = collect(&mut rx, n, sent).await?;
    lat.sort();
    // One more event counted: its fan-out time is what the sum grew by.
    let server_side = match (before_fanout, super::histogram_totals(client, &server.addr, fanout).await) {
        (Some((s0, c0)), Some((s1, c1))) if c1 - c0 == 1.0 => format!("{:.2?}", Duration::from_secs_f64(s1 - s0)),
        _ => "n/a".to_string(),
    };
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!(
        "{:>11} {:>8.1} MiB {:>8.1} MiB {:>11.1} KiB {:>10.2?} {:>10.2?} {:>10.2?} {:>14}",
        n,
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per,
        connect,
        lat[lat.len() / 2],
        lat[lat.len() - 1],
        server_side
    );
    for s in subscribers {
        s.abort();
    }
    Ok(())
}

/// Changes the owner's name, which emits `user.updated` to every subscriber.
async fn mutate(client: &reqwest::Client, server: &ServerChild, name: &str) -> Result<()> {
    let body = json!({
        "query": "mutation($n: String!) { updateProfile(input: { name: $n }) { user { id } } }",
        "variables": { "n": name },
    });
    let resp: serde_json::Value = client
        .post(format!("http://{}/graphql", server.addr))
        .bearer_auth(&server.key)
        .json(&body)
        .send()
        .await
        .map_err(Error::internal)?
        .json()
        .await
        .map_err(Error::internal)?;
    match resp.get("errors") {
        Some(e) => Err(Error::internal(format!("updateProfile failed: {e}"))),
        None => Ok(()),
    }
}

/// Waits for `n` receipts; returns each one's delay after `since`.
async fn collect(rx: &mut mpsc::UnboundedReceiver<Instant>, n: usize, since: Instant) -> Result<Vec<Duration>> {
    let mut lat = Vec::with_capacity(n);
    while lat.len() < n {
        match tokio::time::timeout_at((since + DEADLINE).into(), rx.recv()).await {
            Ok(Some(at)) => lat.push(at.saturating_duration_since(since)),
            _ => {
                return Err(Error::internal(format!(
                    "only {} of {n} subscribers heard the event in {DEADLINE:?}",
                    lat.len()
                )))
            }
        }
    }
    Ok(lat)
}

/// Connects one subscriber and subscribes; its task then reports the time
/// of each event it receives.
async fn subscribe(
    url: String,
    key: Arc<String>,
    heard: mpsc::UnboundedSender<Instant>,
) -> Result<tokio::task::JoinHandle<()>> {
    let mut req = url.as_str().into_client_request().map_err(Error::internal)?;
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().map_err(Error::internal)?);
    let addr = req.uri().authority().map(|a| a.to_string()).unwrap_or_default();
    let tcp = TcpStream::connect(addr).await.map_err(Error::internal)?;
    tcp.set_nodelay(true).map_err(Error::internal)?;
    // Small buffers here too: the bench holds as many sockets as the server.
    let conf = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut ws, _) = ws_client::client_async_with_config(req, tcp, Some(conf)).await.map_err(Error::internal)?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    ws.send(Message::text(init.to_string())).await.map_err(Error::internal)?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("connection_ack") => break,
            Some(Ok(Message::Text(t))) => return Err(Error::internal(format!("unexpected message: {t}"))),
            Some(Ok(_)) => continue,
            other => return Err(Error::internal(format!("connection_init failed: {other:?}"))),
        }
    }
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { events { type } }" } });
    ws.send(Message::text(sub.to_string())).await.map_err(Error::internal)?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg {
                if t.contains("\"next\"") {
                    let _ = heard.send(Instant::now());
                }
            }
        }
    }))
}
