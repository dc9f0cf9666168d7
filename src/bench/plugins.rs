//! `switchyard bench plugins`: event → plugin hook call. The server runs the
//! HTTP forwarder plugin, hooked to `api_key.created`, against a receiver
//! on 127.0.0.1 in this process; each `createApiKey` makes one event whose
//! hook call (a job, signed, through the outgoing client) reaches the
//! receiver. Latency is the receiver's clock at arrival minus the event's
//! own timestamp (one machine, one clock): idle (one event at a time) and
//! under load. Throughput is hook calls per second under load, against a
//! plain reqwest loop posting the same body to the same receiver in the
//! same run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::ingest::gql;
use super::{drive, with_servers, ServerChild};
use crate::config::Config;
use crate::error::{Error, Result};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

type Arrivals = Arc<Mutex<Vec<(DateTime<Utc>, Value)>>>;

/// The receiver: records each body with its arrival time, answers 200.
async fn receiver() -> Result<(String, Arrivals)> {
    let seen: Arrivals = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let log = log.clone();
            async move {
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
        .filter(|(_, v)| v["type"] == "api_key.created")
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

pub async fn run(config: Config, events: usize, concurrency: usize) -> Result<()> {
    if !(10..=100_000).contains(&events) || !(1..=256).contains(&concurrency) {
        return Err(Error::invalid("--events 10..=100000, --concurrency 1..=256"));
    }
    let (url, seen) = receiver().await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(1024).build().map_err(Error::internal)?;
    let storage = if config.is_postgres() { "PostgreSQL" } else { "SQLite" };
    let queue = if config.redis_url.is_some() { "Redis" } else { "in-process" };
    println!("switchyard bench plugins: {storage}, {queue} queue; {events} events x {concurrency} concurrent");
    with_servers(&config, &client, "read,write,admin", async |server: &ServerChild, _bare: &str| {
        install(&client, server, &url).await?;
        let create = json!({
            "query": "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }",
            "variables": { "i": { "name": "bench", "scopes": ["READ"] } },
        });
        let graphql = format!("http://{}/graphql", server.addr);
        // Idle: one event at a time, each hook call awaited.
        let idle_n = 50.min(events);
        for i in 0..idle_n {
            drive("idle", &client, &graphql, create.clone(), Some(&server.key), (1, 1), 200).await?;
            wait_arrivals(&seen, i + 1, Duration::from_secs(30)).await?;
        }
        let idle = latencies(&seen, 0);
        // Under load.
        let from = seen.lock().unwrap_or_else(|e| e.into_inner()).len();
        let started = Instant::now();
        drive("events", &client, &graphql, create.clone(), Some(&server.key), (events, concurrency), 200).await?;
        let done = wait_arrivals(&seen, from + events, Duration::from_secs(300)).await?;
        let hook_rps = events as f64 / (done - started).as_secs_f64();
        let loaded = latencies(&seen, from);
        // The plain loop: the same body to the same receiver.
        let body = seen.lock().unwrap_or_else(|e| e.into_inner())[from].1.clone();
        let plain = drive("plain", &client, &url, body, None, (events, concurrency), 200).await?;
        println!("{:<40} {:>10} {:>10} {:>10}", "", "calls/s", "p50", "p99");
        println!("{:<40} {:>10.0} {:>10.2?} {:>10.2?}", "plain reqwest → receiver", plain.rps, plain.p50, plain.p99);
        println!(
            "{:<40} {:>10.0} {:>9.2}ms {:>9.2}ms",
            "event → plugin hook → receiver (load)",
            hook_rps,
            pct(&loaded, 0.5),
            pct(&loaded, 0.99)
        );
        println!("{:<40} {:>10} {:>9.2}ms {:>9.2}ms", "event → plugin hook → receiver (idle)", "", pct(&idle, 0.5), pct(&idle, 0.99));
        println!(
            "hook calls/s ratio {:.2} of the plain loop (goal ≥ 0.3); idle p50 {:.2} ms (goal ≤ 20 ms); {} hook calls, every one arrived",
            hook_rps / plain.rps,
            pct(&idle, 0.5),
            idle.len() + loaded.len()
        );
        Ok(())
    })
    .await
}

/// The forwarder, hooked to `api_key.created`, posting to the receiver.
async fn install(client: &reqwest::Client, server: &ServerChild, url: &str) -> Result<()> {
    let q = "mutation($i: InstallPluginInput!) { installPlugin(input: $i) { plugin { id } userErrors { message } } }";
    let config = json!({ "url": url, "secret": SECRET, "events": ["api_key.created"] });
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
