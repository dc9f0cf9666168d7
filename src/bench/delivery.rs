//! `switchyard bench delivery`: events fanned out to one webhook whose
//! receiver (an axum route in this process, on 127.0.0.1) counts arrivals
//! and measures event-to-receipt latency from the body's timestamp.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use sea_orm::{EntityTrait, TransactionTrait};
use serde_json::json;

use crate::auth::{Credential, Principal, Role, Scope};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{self, EventType};
use crate::services::webhooks::{self, NewWebhook, RetryPolicy};
use crate::state::AppState;

#[derive(Default)]
struct Received {
    ids: HashSet<String>,
    latencies: Vec<Duration>,
}

type Receiver = Arc<Mutex<Received>>;

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> &'static str {
    let now = Utc::now();
    let sent = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["timestamp"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()));
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut r = r.lock().unwrap_or_else(|e| e.into_inner());
    if r.ids.insert(id) {
        if let Some(t) = sent {
            r.latencies.push((now - t.with_timezone(&Utc)).to_std().unwrap_or_default());
        }
    }
    "ok"
}

pub async fn run(config: Config, n: usize) -> Result<()> {
    if !(1..=100_000).contains(&n) {
        return Err(Error::invalid("--events must be between 1 and 100000"));
    }
    let received: Receiver = Arc::default();
    let app = Router::new().route("/hook", post(receive)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(Error::internal)?;
    let url = format!("http://{}/hook", listener.local_addr().map_err(Error::internal)?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = std::env::temp_dir().join(format!("switchyard-bench-delivery-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).map_err(Error::internal)?;
    let key_file = dir.join("bench.key").display().to_string();
    println!("switchyard bench delivery: {n} events per phase to a receiver on 127.0.0.1");
    println!("{:<44} {:>10} {:>9} {:>10} {:>10}", "phase", "per s", "ratio", "p50", "p99");

    let baseline = direct_loop(&url, n).await?;
    println!(
        "{:<44} {:>10.0} {:>9.3} {:>10} {:>10}",
        "baseline: reqwest loop straight to receiver", baseline, 1.0, "-", "-"
    );
    reset(&received);

    let sqlite = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let args = super::base_args(&sqlite, None, "bench", &key_file, "all");
    let (rate, p50, p99) = phase(&args, 0, &url, n, &received).await?;
    println!(
        "{:<44} {rate:>10.0} {:>9.3} {p50:>10.2?} {p99:>10.2?}",
        "embedded (SQLite, in-process queue)",
        rate / baseline
    );

    match (&config.redis_url, config.is_postgres()) {
        (Some(redis_url), true) => {
            for workers in [1, 2] {
                let prefix = format!("sy_bench_{}", ulid::Ulid::new().to_string().to_lowercase());
                let (rate, p50, p99) = super::on_fresh_database(&config.database_url, async |db: &str| {
                    phase(
                        &super::base_args(db, Some(redis_url), &prefix, &key_file, "api"),
                        workers,
                        &url,
                        n,
                        &received,
                    )
                    .await
                })
                .await?;
                let name = format!("redis + postgres, {workers} worker process(es)");
                println!("{name:<44} {rate:>10.0} {:>9.3} {p50:>10.2?} {p99:>10.2?}", rate / baseline);
                super::wipe(redis_url, &prefix).await?;
            }
        }
        _ => println!("(set --redis-url and a postgres:// --database-url for the Redis phases)"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn reset(r: &Receiver) {
    *r.lock().unwrap_or_else(|e| e.into_inner()) = Received::default();
}

/// The baseline: `n` signed-size JSON POSTs from 16 tasks, straight to the receiver.
async fn direct_loop(url: &str, n: usize) -> Result<f64> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (client, url) = (client.clone(), url.to_string());
        let count = n / 16 + usize::from(t < n % 16);
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                let body = json!({ "event": "bench", "timestamp": Utc::now().to_rfc3339(), "data": { "i": i } });
                client
                    .post(&url)
                    .header("webhook-id", format!("direct-{t}-{i}"))
                    .json(&body)
                    .send()
                    .await
                    .map_err(Error::internal)?;
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(Error::internal)??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// One phase: a webhook to the receiver, `n` events from 16 tasks, then
/// wait until the receiver has seen `n` distinct deliveries.
async fn phase(
    args: &[String],
    workers: usize,
    url: &str,
    n: usize,
    received: &Receiver,
) -> Result<(f64, Duration, Duration)> {
    let (server, children) = super::cluster(args, workers).await?;
    let st = server.state.clone();
    let owner = owner(&st).await?;
    let hook = NewWebhook {
        url: url.to_string(),
        endpoint_id: None,
        events: vec!["api_key.*".into()],
        description: None,
        headers: BTreeMap::new(),
        active: true,
        rate_limit_per_minute: Some(None),
        secret: None,
        retry_policy: RetryPolicy::Default,
        timeout_ms: None,
    };
    webhooks::create(&st, &owner, hook).await?;
    reset(received);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (st, owner) = (st.clone(), owner.clone());
        let count = n / 16 + usize::from(t < n % 16);
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                // The real path: an event row and its fan-out in one
                // transaction, then the doorbells.
                let txn = st.writer.begin().await?;
                let e = events::record(
                    &txn,
                    &owner.workspace_id,
                    EventType::ApiKeyUpdated,
                    "bench",
                    None,
                    json!({ "i": i }),
                )
                .await?;
                txn.commit().await?;
                st.publish(vec![e]);
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(Error::internal)??;
    }
    loop {
        let got = received.lock().unwrap_or_else(|e| e.into_inner()).ids.len();
        if got >= n {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(Error::internal(format!("only {got} of {n} deliveries arrived within 10 minutes")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut received.lock().unwrap_or_else(|e| e.into_inner()).latencies);
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    let (p50, p99) = (pct(0.5), pct(0.99));
    super::stop_cluster(server, children).await;
    Ok((rate, p50, p99))
}

/// The first-start owner, as a caller with every scope.
async fn owner(st: &AppState) -> Result<Principal> {
    let m = entity::membership::Entity::find().one(&st.db).await?.ok_or(Error::NotFound("Owner"))?;
    Ok(Principal {
        workspace_id: m.workspace_id,
        user_id: m.user_id,
        role: Role::Owner,
        scopes: Scope::ALL.into_iter().collect(),
        credential: Credential::ApiKey {
            id: "bench".into(),
            environment: crate::services::api_keys::Environment::Live,
        },
    })
}
