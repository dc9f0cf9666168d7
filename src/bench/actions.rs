//! `switchyard bench actions`: runs of a two-step action (create, then
//! publish with the first answer's id, as in seed 000's Instagram example)
//! against a provider on 127.0.0.1 in this process, and a plain reqwest loop
//! making the same two calls, in one run. Then, with the server idle, the
//! time from an event to its action's first provider call: a POST to an
//! incoming-webhooks connection (its `connection.webhook_received` event is
//! committed before the answer) starts an action whose first step carries
//! the event's number, so the provider knows which event it serves.
//! Reports runs/s of both, their ratio, and the event → first call p50/p99
//! (measured from the moment the POST is sent, so it includes that request).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::ingest::gql;
use super::{with_servers, ServerChild};
use crate::config::Config;
use crate::error::{Error, Result};

const PROVIDER_KEY: &str = "k-bench";

/// What the provider saw: when each numbered create first arrived, and how
/// many publishes.
#[derive(Clone, Default)]
struct Seen {
    first_call: Arc<Mutex<HashMap<u64, Instant>>>,
    published: Arc<AtomicUsize>,
}

async fn provider(seen: Seen) -> Result<String> {
    let create = |State(seen): State<Seen>, body: axum::Json<Value>| async move {
        let n = body["n"].as_u64().or_else(|| body["n"].as_str().and_then(|s| s.parse().ok())).unwrap_or(0);
        seen.first_call.lock().unwrap_or_else(|e| e.into_inner()).entry(n).or_insert_with(Instant::now);
        axum::Json(json!({ "id": format!("media-{n}") }))
    };
    let publish = |State(seen): State<Seen>, body: axum::Json<Value>| async move {
        seen.published.fetch_add(1, Ordering::SeqCst);
        axum::Json(json!({ "id": "post", "creation_id": body["creation_id"] }))
    };
    let app = Router::new()
        .route("/api", axum::routing::any(|| async { axum::Json(json!({ "ok": true })) }))
        .route("/api/create", post(create))
        .route("/api/publish", post(publish))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(Error::internal)?;
    let url = format!("http://{}/api", listener.local_addr().map_err(Error::internal)?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

fn steps(n: &str) -> Value {
    json!([
        { "key": "create", "kind": "API_EXECUTE", "provider": "custom_rest", "method": "POST", "path": "/create",
          "body": { "n": n } },
        { "key": "publish", "kind": "API_EXECUTE", "provider": "custom_rest", "method": "POST", "path": "/publish",
          "body": { "creation_id": "{{ steps.create.response.body.id }}" } }
    ])
}

pub async fn run(config: Config, runs: usize, concurrency: usize, events: usize) -> Result<()> {
    if !(10..=100_000).contains(&runs) || !(1..=256).contains(&concurrency) || !(1..=1000).contains(&events) {
        return Err(Error::invalid("--runs 10..=100000, --concurrency 1..=256, --events 1..=1000"));
    }
    let seen = Seen::default();
    let base = provider(seen.clone()).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(512).build().map_err(Error::internal)?;
    let storage = if config.is_postgres() { "PostgreSQL" } else { "SQLite" };
    let queue = if config.redis_url.is_some() { "Redis" } else { "in-process" };
    println!(
        "switchyard bench actions: {storage}, {queue} queue; {runs} runs x {concurrency} concurrent; {events} events"
    );
    with_servers(&config, &client, "read,write,admin", async |server: &ServerChild, _bare: &str| {
        let (addr, key) = (server.addr.as_str(), server.key.as_str());
        let create_conn = "mutation($i: CreateConnectionInput!) { createConnection(input: $i) {
            connection { id } incomingUrl userErrors { message } } }";
        let made = gql(&client, addr, key, create_conn,
            json!({ "i": { "provider": "custom_rest", "apiKey": PROVIDER_KEY, "baseUrl": base } })).await?;
        made["createConnection"]["connection"]["id"].as_str().ok_or_else(|| Error::internal(format!("{made}")))?;
        let hook = gql(&client, addr, key, create_conn, json!({ "i": { "provider": "incoming_webhooks" } })).await?;
        let incoming = hook["createConnection"]["incomingUrl"]
            .as_str()
            .ok_or_else(|| Error::internal(format!("no incoming URL: {hook}")))?
            .to_string();
        let set = "mutation($i: SetProviderSettingsInput!) { setProviderSettings(input: $i) { userErrors { message } } }";
        let window = json!({ "i": { "provider": "custom_rest", "rateLimit": { "requests": 10_000_000, "perSeconds": 3600 } } });
        gql(&client, addr, key, set, window).await?;
        let create_action = "mutation($i: CreateActionInput!) { createAction(input: $i) { action { id } userErrors { field message } } }";
        let manual = gql(&client, addr, key, create_action,
            json!({ "i": { "name": "bench manual", "steps": steps("{{ input.n }}") } })).await?;
        let manual = manual["createAction"]["action"]["id"]
            .as_str()
            .ok_or_else(|| Error::internal(format!("no action: {manual}")))?
            .to_string();
        let on_event = gql(&client, addr, key, create_action, json!({ "i": { "name": "bench event",
            "steps": steps("{{ event.data.payload.n }}"), "triggers": [{ "eventType": "connection.webhook_received" }] } })).await?;
        on_event["createAction"]["action"]["id"].as_str().ok_or_else(|| Error::internal(format!("{on_event}")))?;

        // Baseline: the two calls in a plain loop.
        let loop_rps = plain_loop(&client, &base, runs, concurrency, 100_000_000).await?;
        // The same work as action runs.
        let action_rps = action_runs(&client, server, &manual, &seen, runs, concurrency).await?;
        // Idle: event → first call.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut lat = Vec::with_capacity(events);
        for i in 0..events {
            let n = 10_000_000 + i as u64;
            let sent = Instant::now();
            let resp = client.post(&incoming).json(&json!({ "n": n })).send().await.map_err(Error::internal)?;
            if !resp.status().is_success() {
                return Err(Error::internal(format!("incoming webhook answered {}", resp.status())));
            }
            let deadline = sent + Duration::from_secs(10);
            let first = loop {
                if let Some(t) = seen.first_call.lock().unwrap_or_else(|e| e.into_inner()).get(&n) {
                    break *t;
                }
                if Instant::now() > deadline {
                    return Err(Error::internal(format!("event {n} started no call within 10 s")));
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            };
            lat.push(first.saturating_duration_since(sent));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        println!("{:<40} {:>10}", "", "runs/s");
        println!("{:<40} {:>10.0}", "plain loop: create + publish", loop_rps);
        println!("{:<40} {:>10.0}", "action runs (2 API_EXECUTE steps)", action_rps);
        println!("throughput ratio {:.2} (goal ≥ 0.3)", action_rps / loop_rps);
        println!(
            "event → first provider call, idle: p50 {:.2?}, p99 {:.2?} over {events} events (goal p50 ≤ 20 ms)",
            pct(0.5),
            pct(0.99)
        );
        Ok(())
    })
    .await
}

/// `runs` create-then-publish pairs from `concurrency` tasks; pairs/s.
async fn plain_loop(client: &reqwest::Client, base: &str, runs: usize, concurrency: usize, from: u64) -> Result<f64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let n = runs / concurrency + usize::from(w < runs % concurrency);
        let (client, base) = (client.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                let num = from + (w * 1_000_000 + i) as u64;
                let made: Value = client
                    .post(format!("{base}/create"))
                    .bearer_auth(PROVIDER_KEY)
                    .json(&json!({ "n": num }))
                    .send()
                    .await
                    .map_err(Error::internal)?
                    .json()
                    .await
                    .map_err(Error::internal)?;
                client
                    .post(format!("{base}/publish"))
                    .bearer_auth(PROVIDER_KEY)
                    .json(&json!({ "creation_id": made["id"] }))
                    .send()
                    .await
                    .map_err(Error::internal)?
                    .error_for_status()
                    .map_err(Error::internal)?;
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(Error::internal)??;
    }
    Ok(runs as f64 / started.elapsed().as_secs_f64())
}

/// `runs` runs of the action started from `concurrency` tasks; runs/s from
/// the first start to the last publish the provider saw.
async fn action_runs(
    client: &reqwest::Client,
    server: &ServerChild,
    action: &str,
    seen: &Seen,
    runs: usize,
    concurrency: usize,
) -> Result<f64> {
    let before = seen.published.load(Ordering::SeqCst);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let query = "mutation($i: RunActionInput!) { runAction(input: $i) { run { id } userErrors { message } } }";
    for w in 0..concurrency {
        let n = runs / concurrency + usize::from(w < runs % concurrency);
        let (client, addr, key, action) = (client.clone(), server.addr.clone(), server.key.clone(), action.to_string());
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                let input = json!({ "i": { "id": action, "input": { "n": 20_000_000 + w * 1_000_000 + i } } });
                let out = gql(&client, &addr, &key, query, input).await?;
                if out["runAction"]["run"]["id"].as_str().is_none() {
                    return Err(Error::internal(format!("run refused: {out}")));
                }
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(Error::internal)??;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen.published.load(Ordering::SeqCst) < before + runs {
        if Instant::now() > deadline {
            let done = seen.published.load(Ordering::SeqCst) - before;
            return Err(Error::internal(format!("only {done} of {runs} runs finished within 10 minutes")));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(runs as f64 / started.elapsed().as_secs_f64())
}
