//! `switchyard bench subscriptions`: how many live subscribers one server
//! process holds and how fast an event reaches all of them.
//!
//! For each level it starts a `switchyard serve` child (so its RSS is its
//! own), connects N `graphql-transport-ws` clients from this process, each
//! subscribing `subscription { events { type } }` with an API key in
//! `connection_init` (with `--distinct`, `events { t17: type }`, an alias of
//! its own per subscriber, so that none shares another's run), sends
//! warm-up `updateProfile` mutations until every subscriber has heard one
//! (a subscription is live only once the server has run its `subscribe`,
//! which the client is not told of), reads the server's RSS, then sends
//! `--events` measured mutations, one at a time (each once every subscriber heard the one before). For each it
//! takes the time from sending it until each subscriber received its event:
//! the row shows the median of the events' p50s and, as "median / worst" over the
//! events, the time until the last subscriber heard it. Server side, it
//! reports each event's fan-out time from the server's `/metrics`
//! (`switchyard_live_fanout_seconds`: from the dispatcher getting the event
//! until the last subscription took it to write to its socket), which
//! leaves out the time this process, on the same cores, takes to read
//! 10,000 sockets.

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
/// Most measured events per level.
const MAX_EVENTS: usize = 50;
/// How long every subscriber gets to hear an event before the run fails.
const DEADLINE: Duration = Duration::from_secs(60);

pub async fn run(config: Config, levels: Vec<usize>, events: usize, distinct: bool) -> Result<()> {
    if levels.is_empty() || levels.len() > 8 || levels.iter().any(|&n| n == 0 || n > MAX_SUBSCRIBERS) {
        return Err(Error::invalid(format!(
            "--subscribers takes 1 to 8 levels, each from 1 to {MAX_SUBSCRIBERS} (e.g. 1000,10000)"
        )));
    }
    if !(1..=MAX_EVENTS).contains(&events) {
        return Err(Error::invalid(format!("--events takes 1 to {MAX_EVENTS}")));
    }
    let widest = levels.iter().copied().max().unwrap_or(1);
    // This process and the server child (which inherits the limit) each
    // hold one socket per subscriber; the bare baseline holds both ends of
    // each in this process, and is left out ("n/a") where that is too many.
    let needed = widest as u64 + 1024;
    let limit = rlimit::increase_nofile_limit(2 * widest as u64 + 1024).map_err(Error::internal)?;
    if limit < needed {
        return Err(Error::invalid(format!(
            "{widest} subscribers need about {needed} open files, but this shell allows {limit}: raise it (ulimit -n {needed})"
        )));
    }
    let client = reqwest::Client::builder().build().map_err(Error::internal)?;
    println!(
        "switchyard bench subscriptions: storage {}{}, {}",
        if config.is_postgres() { "postgres" } else { "sqlite" },
        if config.redis_url.is_some() { " + redis" } else { "" },
        if distinct { "a document of its own per subscriber" } else { "one document for all subscribers" }
    );
    println!(
        "{:>11} {:>12} {:>12} {:>14} {:>10} {:>10} {:>18} {:>18} {:>18} {:>6}",
        "subscribers",
        "idle RSS",
        "RSS after",
        "per subscriber",
        "connect",
        "p50",
        "last heard",
        "server fan-out",
        "bare fan-out",
        "ratio"
    );
    for n in levels {
        let mut floor = match 2 * n as u64 + 1024 <= limit {
            true => bare(n, events).await?,
            false => vec![],
        };
        let server = start_server(&config, &client, "read,write").await?;
        let outcome = level(&client, &server, (n, distinct), events, &mut floor).await;
        let finished = server.finish().await;
        outcome.and(finished)?;
    }
    Ok(())
}

/// One level: connect `n` (each with a document of its own when
/// `distinct`), warm up, measure; prints one row.
async fn level(
    client: &reqwest::Client,
    server: &ServerChild,
    (n, distinct): (usize, bool),
    events: usize,
    floor: &mut [Duration],
) -> Result<()> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(server.pid).unwrap_or(0);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let url = format!("ws://{}/graphql/ws", server.addr);
    let key = Arc::new(server.key.clone());
    let mut subscribers = Vec::with_capacity(n);
    let query = |i: usize| match distinct {
        true => format!("subscription {{ events {{ t{i}: type }} }}"),
        false => "subscription { events { type } }".to_string(),
    };
    let connects = futures_util::stream::iter(0..n)
        .map(|i| subscribe(url.clone(), key.clone(), query(i), (i, tx.clone())))
        .buffer_unordered(CONNECTING);
    futures_util::pin_mut!(connects);
    while let Some(handle) = connects.next().await {
        subscribers.push(handle?);
    }
    let connect = started.elapsed();
    warm_up(client, server, &mut rx, n).await?;
    let after = rss_kib(server.pid).unwrap_or(0);
    // `events` measured events, one after another (each once every
    // subscriber heard the one before): the median and the worst of each figure.
    let fanout = "switchyard_live_fanout_seconds";
    let (mut p50s, mut slowest, mut server_side) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..events {
        let before_fanout = super::histogram_totals(client, &server.addr, fanout).await;
        let sent = Instant::now();
        mutate(client, server, &format!("measured {i}")).await?;
        let mut lat = collect(&mut rx, n, sent).await?;
        lat.sort();
        p50s.push(lat[lat.len() / 2]);
        slowest.push(lat[lat.len() - 1]);
        // One more event counted: its fan-out time is what the sum grew by.
        if let (Some((s0, c0)), Some((s1, c1))) =
            (before_fanout, super::histogram_totals(client, &server.addr, fanout).await)
        {
            if c1 - c0 == 1.0 {
                server_side.push(Duration::from_secs_f64(s1 - s0));
            }
        }
    }
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    let ratio = match (median(&mut server_side), median(floor)) {
        (Some(server), Some(bare)) if !bare.is_zero() => format!("{:.2}", server.as_secs_f64() / bare.as_secs_f64()),
        _ => "n/a".into(),
    };
    println!(
        "{:>11} {:>8.1} MiB {:>8.1} MiB {:>11.1} KiB {:>10.2?} {:>10} {:>18} {:>18} {:>18} {:>6}",
        n,
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per,
        connect,
        median_and_worst(&mut p50s).0,
        median_and_worst(&mut slowest).1,
        median_and_worst(&mut server_side).1,
        median_and_worst(floor).1,
        ratio,
    );
    for s in subscribers {
        s.abort();
    }
    Ok(())
}

/// The median of `figures` (sorted in place).
fn median(figures: &mut [Duration]) -> Option<Duration> {
    figures.sort();
    figures.get(figures.len() / 2).copied()
}

/// The median of `figures` (sorted in place), and "median / worst" (the
/// median alone for one figure, "n/a" for none).
fn median_and_worst(figures: &mut [Duration]) -> (String, String) {
    let Some(mid) = median(figures) else { return ("n/a".into(), "n/a".into()) };
    let worst = figures[figures.len() - 1];
    match figures.len() {
        1 => (format!("{mid:.2?}"), format!("{mid:.2?}")),
        _ => (format!("{mid:.2?}"), format!("{mid:.2?} / {worst:.2?}")),
    }
}

/// What the server's `next` message for one event takes on the wire: a
/// WebSocket text frame (2-byte header, unmasked) around its JSON.
fn next_frame() -> Vec<u8> {
    let json = br#"{"id":"1","type":"next","payload":{"data":{"events":{"type":"user.updated"}}}}"#;
    let mut frame = vec![0x81, json.len() as u8];
    frame.extend_from_slice(json);
    frame
}

/// The floor the server's fan-out is compared with, measured in this
/// process just before: `n` plain TCP connections on 127.0.0.1, a task per
/// accepted socket waiting on one broadcast channel (as each WebSocket's
/// task waits for its subscription's events), and per event those tasks
/// write the bytes of the server's `next` message, while a task per
/// client socket reads them, as a subscriber does. For each of `events`
/// events: from the broadcast until the last task wrote.
async fn bare(n: usize, events: usize) -> Result<Vec<Duration>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::broadcast;
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await.map_err(Error::internal)?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    let frame: Arc<[u8]> = next_frame().into();
    // (sent at, writers left, the last writer's report)
    type Round = (Instant, Arc<std::sync::atomic::AtomicUsize>, mpsc::UnboundedSender<Duration>);
    let (events_tx, _) = broadcast::channel::<Round>(4);
    let (heard_tx, mut heard) = mpsc::unbounded_channel::<Receipt>();
    // Aborted when dropped, however this returns.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (mut client, (mut server, _)) =
            tokio::try_join!(TcpStream::connect(addr), listener.accept()).map_err(Error::internal)?;
        server.set_nodelay(true).map_err(Error::internal)?;
        let (mut rx, frame) = (events_tx.subscribe(), frame.clone());
        tasks.spawn(async move {
            while let Ok((sent, left, done)) = rx.recv().await {
                if server.write_all(&frame).await.is_err() {
                    return;
                }
                if left.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
                    let _ = done.send(sent.elapsed());
                }
            }
        });
        let heard = heard_tx.clone();
        tasks.spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok(read) = client.read(&mut buf).await {
                if read == 0 || heard.send((i, Instant::now())).is_err() {
                    return;
                }
            }
        });
    }
    let mut took = Vec::with_capacity(events);
    for _ in 0..events {
        let (done_tx, mut done) = mpsc::unbounded_channel();
        let sent = Instant::now();
        let left = Arc::new(std::sync::atomic::AtomicUsize::new(n));
        events_tx.send((sent, left, done_tx)).map_err(Error::internal)?;
        let last = tokio::time::timeout(DEADLINE, done.recv()).await.ok().flatten();
        took.push(last.ok_or_else(|| Error::internal("the bare fan-out did not finish"))?);
        collect(&mut heard, n, sent).await?;
    }
    Ok(took)
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

/// Warm-up events, until each of the `n` subscribers has heard one: a
/// subscription is live once the server has run its `subscribe`, which a
/// client is not told of, so the last ones to subscribe may miss the first.
/// Returns once the receipts have stopped coming.
async fn warm_up(
    client: &reqwest::Client,
    server: &ServerChild,
    rx: &mut mpsc::UnboundedReceiver<Receipt>,
    n: usize,
) -> Result<()> {
    const ROUNDS: usize = 10;
    let mut heard = vec![false; n];
    let mut left = n;
    for round in 0..ROUNDS {
        mutate(client, server, &format!("warm-up {round}")).await?;
        let until = Instant::now() + Duration::from_secs(5);
        left -= receipts(rx, &mut heard, left, until).await.len();
        if left == 0 {
            break;
        }
    }
    if left > 0 {
        return Err(Error::internal(format!("{left} of {n} subscribers heard none of {ROUNDS} warm-up events")));
    }
    // The other subscribers' receipts of the last round.
    while tokio::time::timeout(Duration::from_millis(500), rx.recv()).await.is_ok_and(|r| r.is_some()) {}
    Ok(())
}

/// A subscriber's receipt of an event: which one, and when.
type Receipt = (usize, Instant);

/// Takes receipts until `wanted` subscribers not yet marked in `heard` have
/// one (and marks them) or `until` passes; a second receipt from a marked
/// subscriber is not counted. Returns the new receipts' times.
async fn receipts(
    rx: &mut mpsc::UnboundedReceiver<Receipt>,
    heard: &mut [bool],
    wanted: usize,
    until: Instant,
) -> Vec<Instant> {
    let mut times = Vec::with_capacity(wanted);
    while times.len() < wanted {
        match tokio::time::timeout_at(until.into(), rx.recv()).await {
            Ok(Some((i, at))) if !std::mem::replace(&mut heard[i], true) => times.push(at),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    times
}

/// Waits for a receipt from each of the `n` subscribers; returns each
/// one's delay after `since`.
async fn collect(rx: &mut mpsc::UnboundedReceiver<Receipt>, n: usize, since: Instant) -> Result<Vec<Duration>> {
    let times = receipts(rx, &mut vec![false; n], n, since + DEADLINE).await;
    if times.len() < n {
        return Err(Error::internal(format!(
            "only {} of {n} subscribers heard the event in {DEADLINE:?}",
            times.len()
        )));
    }
    Ok(times.into_iter().map(|at| at.saturating_duration_since(since)).collect())
}

/// Connects one subscriber and subscribes; its task then reports the time
/// of each event it receives.
async fn subscribe(
    url: String,
    key: Arc<String>,
    query: String,
    (index, heard): (usize, mpsc::UnboundedSender<Receipt>),
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
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    ws.send(Message::text(sub.to_string())).await.map_err(Error::internal)?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg {
                if t.contains("\"next\"") {
                    let _ = heard.send((index, Instant::now()));
                }
            }
        }
    }))
}
