//! `switchyard bench plugins`: event → plugin hook call. The server runs the
//! HTTP forwarder plugin, hooked to `connection.webhook_received`, against
//! a receiver on 127.0.0.1 in this process. The events come from an
//! incoming-webhooks connection: each POST to its URL commits one event
//! before it is answered, the cheapest way to make an event from outside,
//! so the event source outruns the hooks and the figure is the hooks'
//! (the source's own rate is printed beside it). Each event's hook call (a
//! job, signed, through the outgoing client) reaches the receiver.
//! Latency is the receiver's clock at arrival minus the event's own
//! timestamp (one machine, one clock): idle (one event at a time) and
//! under load. Throughput is how fast hook calls drain a backlog, against
//! a plain reqwest loop posting the same body to the same receiver, in
//! interleaved rounds of the two (the ratio is the median round's).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::ingest::gql;
use super::{drive, with_servers, Phase, ServerChild};
use crate::config::Config;
use crate::error::{Error, Result};

/// The event type the forwarder is hooked to.
const EVENT: &str = "connection.webhook_received";

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

type Arrivals = Arc<Mutex<Vec<(DateTime<Utc>, Value)>>>;

/// The receiver: records each body with its arrival time, answers 200.
/// While `gate` says closed it holds each request until it opens (so a
/// backlog of hook calls builds up behind it).
async fn receiver(gate: tokio::sync::watch::Receiver<bool>) -> Result<(String, Arrivals)> {
    let seen: Arrivals = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let (log, mut gate) = (log.clone(), gate.clone());
            async move {
                let _ = gate.wait_for(|open| *open).await;
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                log.lock().unwrap_or_else(|e| e.into_inner()).push((Utc::now(), v));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(Error::internal)?;
    let url = format!("http://{}/hook", listener.local_addr().map_err(Error::internal)?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, seen))
}

/// Milliseconds from each hooked event to its arrival, sorted.
fn latencies(seen: &Arrivals, from: usize) -> Vec<f64> {
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<f64> = seen[from..]
        .iter()
        .filter(|(_, v)| v["type"] == EVENT)
        .filter_map(|(at, v)| {
            let sent = DateTime::parse_from_rfc3339(v["timestamp"].as_str()?).ok()?;
            Some((*at - sent.with_timezone(&Utc)).num_microseconds()? as f64 / 1000.0)
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

async fn wait_arrivals(seen: &Arrivals, n: usize, limit: Duration) -> Result<Instant> {
    let until = Instant::now() + limit;
    loop {
        if seen.lock().unwrap_or_else(|e| e.into_inner()).len() >= n {
            return Ok(Instant::now());
        }
        if Instant::now() > until {
            return Err(Error::internal(format!("only {} of {n} hook calls arrived", seen.lock().unwrap().len())));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub async fn run(config: Config, events: usize, concurrency: usize, rounds: usize) -> Result<()> {
    if !(10..=100_000).contains(&events) || !(1..=256).contains(&concurrency) || !(1..=20).contains(&rounds) {
        return Err(Error::invalid("--events 10..=100000, --concurrency 1..=256, --rounds 1..=20"));
    }
    let (gate, gate_rx) = tokio::sync::watch::channel(true);
    let (url, seen) = receiver(gate_rx).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(1024).build().map_err(Error::internal)?;
    let storage = if config.is_postgres() { "PostgreSQL" } else { "SQLite" };
    let queue = if config.redis_url.is_some() { "Redis" } else { "in-process" };
    println!(
        "switchyard bench plugins: {storage}, {queue} queue; {events} events x {concurrency} concurrent; \
         {rounds} round(s) of backlog drain vs plain loop"
    );
    with_servers(&config, &client, "read,write,admin", async |server: &ServerChild, _bare: &str| {
        install(&client, server, &url).await?;
        let hook = gql(
            &client,
            &server.addr,
            &server.key,
            "mutation($i: CreateConnectionInput!) { createConnection(input: $i) { incomingUrl userErrors { message } } }",
            json!({ "i": { "provider": "incoming_webhooks" } }),
        )
        .await?;
        let incoming = hook["createConnection"]["incomingUrl"]
            .as_str()
            .ok_or_else(|| Error::internal(format!("no incoming URL: {hook}")))?
            .to_string();
        let create = json!({ "order": "ORD-2024-001", "amount": 45000 });
        // Idle: one event at a time, each hook call awaited.
        let idle_n = 50.min(events);
        for i in 0..idle_n {
            drive("idle", &client, &incoming, create.clone(), None, (1, 1), 202).await?;
            wait_arrivals(&seen, i + 1, Duration::from_secs(30)).await?;
        }
        let idle = latencies(&seen, 0);
        // Under load.
        let from = seen.lock().unwrap_or_else(|e| e.into_inner()).len();
        let started = Instant::now();
        let made = drive("events", &client, &incoming, create.clone(), None, (events, concurrency), 202).await?;
        let done = wait_arrivals(&seen, from + events, Duration::from_secs(300)).await?;
        let hook_rps = events as f64 / (done - started).as_secs_f64();
        let loaded = latencies(&seen, from);
        let body = seen.lock().unwrap_or_else(|e| e.into_inner())[from].1.clone();
        // Rounds of: a backlog (the receiver holds every call while the
        // events are made, then lets them through; hook calls/s is how fast
        // the queue drains once the receiver answers, the hooks alone
        // whatever the event source's pace), then the plain loop posting the
        // same body to the same receiver.
        let mut runs: Vec<(f64, Phase)> = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let from_backlog = seen.lock().unwrap_or_else(|e| e.into_inner()).len();
            gate.send_replace(false);
            drive("backlog", &client, &incoming, create.clone(), None, (events, concurrency), 202).await?;
            let opened = Instant::now();
            gate.send_replace(true);
            let drained = wait_arrivals(&seen, from_backlog + events, Duration::from_secs(300)).await?;
            let drain_rps = events as f64 / (drained - opened).as_secs_f64();
            let plain = drive("plain", &client, &url, body.clone(), None, (events, concurrency), 200).await?;
            runs.push((drain_rps, plain));
        }
        let ratios: Vec<f64> = runs.iter().map(|(drain, plain)| drain / plain.rps).collect();
        let median_at = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let ratio = median_at(&ratios);
        let drain_rps = median_at(&runs.iter().map(|(d, _)| *d).collect::<Vec<_>>());
        let mut plains: Vec<&Phase> = runs.iter().map(|(_, p)| p).collect();
        plains.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let plain = plains[plains.len() / 2];
        println!("{:<44} {:>10} {:>10} {:>10}", "", "calls/s", "p50", "p99");
        println!("{:<44} {:>10.0} {:>10.2?} {:>10.2?}", "plain reqwest → receiver (median round)", plain.rps, plain.p50, plain.p99);
        println!(
            "{:<44} {:>10.0} {:>9.2}ms {:>9.2}ms",
            "event → plugin hook → receiver (load)",
            hook_rps,
            pct(&loaded, 0.5),
            pct(&loaded, 0.99)
        );
        println!("{:<44} {:>10.0}", format!("plugin hooks draining a backlog of {events} (median)"), drain_rps);
        println!("{:<44} {:>10} {:>9.2}ms {:>9.2}ms", "event → plugin hook → receiver (idle)", "", pct(&idle, 0.5), pct(&idle, 0.99));
        println!("{:<44} {:>10.0} {:>10.2?} {:>10.2?}", "(event source: incoming webhook POST)", made.rps, made.p50, made.p99);
        let each: Vec<String> = runs.iter().map(|(d, p)| format!("{d:.0}/{:.0} = {:.3}", p.rps, d / p.rps)).collect();
        println!("rounds (drain/plain): {}", each.join(", "));
        println!(
            "hook calls/s ratio {ratio:.2} of the plain loop draining a backlog (median of {rounds}; goal ≥ 0.3), \
             {:.2} end to end with the event source; idle p50 {:.2} ms (goal ≤ 20 ms); {} hook calls, every one arrived",
            hook_rps / plain.rps,
            pct(&idle, 0.5),
            idle.len() + loaded.len() + events * rounds
        );
        Ok(())
    })
    .await
}

/// The forwarder, hooked to [`EVENT`], posting to the receiver.
async fn install(client: &reqwest::Client, server: &ServerChild, url: &str) -> Result<()> {
    let q = "mutation($i: InstallPluginInput!) { installPlugin(input: $i) { plugin { id } userErrors { message } } }";
    let config = json!({ "url": url, "secret": SECRET, "events": [EVENT] });
    let out = gql(
        client,
        &server.addr,
        &server.key,
        q,
        json!({ "i": { "pluginId": "plugin_http_forwarder_v1.0.0", "config": config } }),
    )
    .await?;
    if out["installPlugin"]["plugin"]["id"].as_str().is_none() {
        return Err(Error::internal(format!("could not install the forwarder: {out}")));
    }
    Ok(())
}
