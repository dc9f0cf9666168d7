//! `switchyard bench delivery --end-to-end`: the whole pipeline as a user
//! meets it. Records are posted to `POST /api/v1/data/{slug}` at fixed
//! offered loads (and as fast as 16 senders go); each is processed, its
//! `record.created` event fans out to one webhook, and a receiver on
//! 127.0.0.1 in this process verifies the Standard Webhooks signature and
//! notes the time. Latency is post → receipt of the same record; delivered
//! per second counts receipts over the phase. The server is a child process
//! with the defaults a user gets (the webhook has no rate limit of its own,
//! as a trusted receiver would be set up).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::ingest::gql;
use super::{with_servers, ServerChild};
use crate::config::Config;
use crate::delivery::signing;
use crate::error::{Error, Result};

/// Senders of the "as fast as possible" phase.
const FLOOD_SENDERS: usize = 16;
/// Longest wait for a phase's last deliveries.
const DRAIN: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Book {
    /// Record id → when its POST was sent.
    sent: HashMap<String, Instant>,
    /// Record id → when its delivery arrived (first arrival only).
    received: HashMap<String, Instant>,
    /// Deliveries whose signature did not verify.
    forged: usize,
}

#[derive(Clone)]
struct Receiver {
    book: Arc<Mutex<Book>>,
    secret: Arc<Mutex<String>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (id, ts, sig) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let secret = r.secret.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let expected = ts.parse().ok().and_then(|ts| signing::sign(&secret, &id, ts, &body).ok());
    let valid = expected.is_some_and(|e| sig.split(' ').any(|s| crate::crypto::ct_eq(s, &e)));
    let record = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["data"]["id"].as_str().map(String::from));
    let mut book = r.book.lock().unwrap_or_else(|e| e.into_inner());
    match (valid, record) {
        (true, Some(rec)) => {
            book.received.entry(rec).or_insert(at);
        }
        _ => book.forged += 1,
    }
    StatusCode::NO_CONTENT
}

pub async fn run(config: Config, rates: Vec<u32>, seconds: u64) -> Result<()> {
    if rates.is_empty() || rates.len() > 8 || rates.iter().any(|r| *r > 5_000) {
        return Err(Error::invalid("--rates takes 1 to 8 loads of at most 5000/s (0 = as fast as possible)"));
    }
    if !(1..=60).contains(&seconds) {
        return Err(Error::invalid("--seconds must be between 1 and 60"));
    }
    let receiver = Receiver { book: Arc::default(), secret: Arc::default() };
    let app = Router::new().route("/hook", post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(Error::internal)?;
    let hook = format!("http://{}/hook", listener.local_addr().map_err(Error::internal)?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().map_err(Error::internal)?;
    let storage = if config.is_postgres() { "PostgreSQL" } else { "SQLite" };
    let queue = if config.redis_url.is_some() { "Redis" } else { "in-process queue" };
    println!("switchyard bench delivery --end-to-end: {storage}, {queue}; {seconds} s per load");
    println!("{:<16} {:>9} {:>12} {:>10} {:>10} {:>10}", "offered", "posted", "delivered/s", "p50", "p99", "max");
    with_servers(&config, &client, "read,write,admin", async |server: &ServerChild, _bare: &str| {
        let data_key = set_up(&client, server, &hook, &receiver).await?;
        let url = format!("http://{}/api/v1/data/orders", server.addr);
        let mut stages = Vec::new();
        for &rate in &rates {
            *receiver.book.lock().unwrap_or_else(|e| e.into_inner()) = Book::default();
            let started = Instant::now();
            let posted = match rate {
                0 => flood(&client, &url, &data_key, &receiver, Duration::from_secs(seconds)).await?,
                r => paced(&client, &url, &data_key, &receiver, r, Duration::from_secs(seconds)).await?,
            };
            let since = chrono::Utc::now() - chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
            let report = drain(&receiver, posted, started).await;
            let label = if rate == 0 { "as fast as 16 go".to_string() } else { format!("{rate}/s") };
            println!("{label:<16} {report}");
            stages.push((label, since));
        }
        // Where the time went, from the server's own timestamps.
        let mut options = sea_orm::ConnectOptions::new(server.db_url.clone());
        options.sqlx_logging(false).max_connections(1);
        let db = sea_orm::Database::connect(options).await?;
        println!("\nwhere the time goes (server clock, p50 / p99): record accepted → its delivery row (ingest commit, processing, fan-out) | delivery row → attempt answered (delivery queue, claim, HTTP)");
        for (i, (label, since)) in stages.iter().enumerate() {
            let until = stages.get(i + 1).map(|(_, t)| *t);
            println!("{label:<16} {}", stage_split(&db, *since, until).await?);
        }
        Ok(())
    })
    .await
}

/// An endpoint without a schema, a data key and a webhook on `record.created`.
async fn set_up(client: &reqwest::Client, server: &ServerChild, hook: &str, r: &Receiver) -> Result<String> {
    let (addr, key) = (server.addr.as_str(), server.key.as_str());
    let ep = "mutation { createDataEndpoint(input: { slug: \"orders\", name: \"Orders\" }) { dataEndpoint { id } } }";
    gql(client, addr, key, ep, json!({})).await?;
    let k =
        gql(client, addr, key, "mutation { createDataKey(input: { name: \"bench\" }) { secret } }", json!({})).await?;
    let data_key = k["createDataKey"]["secret"].as_str().ok_or_else(|| Error::internal("no data key"))?.to_string();
    let wh = "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret } }";
    let input = json!({ "i": { "url": hook, "eventTypes": ["record.created"], "rateLimitPerMinute": null } });
    let created = gql(client, addr, key, wh, input).await?;
    let secret = created["createWebhook"]["secret"].as_str().ok_or_else(|| Error::internal("no secret"))?;
    *r.secret.lock().unwrap_or_else(|e| e.into_inner()) = secret.to_string();
    Ok(data_key)
}

/// One POST; notes its send time under the record id it got back.
async fn post_one(client: &reqwest::Client, url: &str, key: &str, r: &Receiver, n: u64) -> Result<()> {
    let body = json!({ "order_id": format!("ORD-{n}"), "amount": 45000, "paid": true }).to_string();
    let at = Instant::now();
    let resp = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(Error::internal)?;
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.map_err(Error::internal)?;
    let id = answer["id"].as_str().filter(|_| status == 202);
    let id = id.ok_or_else(|| Error::internal(format!("unexpected answer {status}: {answer}")))?;
    r.book.lock().unwrap_or_else(|e| e.into_inner()).sent.insert(id.to_string(), at);
    Ok(())
}

/// Posts at `rate` per second for `length`, each POST on a task of its own
/// started on schedule (an open loop: a slow answer delays no later post).
async fn paced(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    r: &Receiver,
    rate: u32,
    length: Duration,
) -> Result<u64> {
    let total = (rate as u64 * length.as_secs()).max(1);
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        tokio::time::sleep_until(start + every.mul_f64(n as f64)).await;
        let (client, url, key, r) = (client.clone(), url.to_string(), key.to_string(), r.clone());
        tasks.spawn(async move { post_one(&client, &url, &key, &r, n).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(Error::internal)??;
    }
    Ok(total)
}

/// [`FLOOD_SENDERS`] senders posting back to back for `length`.
async fn flood(client: &reqwest::Client, url: &str, key: &str, r: &Receiver, length: Duration) -> Result<u64> {
    let until = Instant::now() + length;
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..FLOOD_SENDERS as u64 {
        let (client, url, key, r) = (client.clone(), url.to_string(), key.to_string(), r.clone());
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                post_one(&client, &url, &key, &r, s * 10_000_000 + n).await?;
                n += 1;
            }
            Ok::<u64, Error>(n)
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done.map_err(Error::internal)??;
    }
    Ok(total)
}

/// Waits (at most [`DRAIN`]) for every posted record's delivery; one line
/// of figures.
async fn drain(r: &Receiver, posted: u64, started: Instant) -> String {
    let deadline = Instant::now() + DRAIN;
    loop {
        let arrived = r.book.lock().unwrap_or_else(|e| e.into_inner()).received.len() as u64;
        if arrived >= posted || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let book = r.book.lock().unwrap_or_else(|e| e.into_inner());
    let mut latencies: Vec<Duration> = book
        .received
        .iter()
        .filter_map(|(id, at)| book.sent.get(id).map(|s| at.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    let last = book.received.values().max().copied().unwrap_or(started);
    let rate = latencies.len() as f64 / last.saturating_duration_since(started).as_secs_f64().max(1e-3);
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
    let fmt = |d: Option<&Duration>| d.map(|d| format!("{d:.1?}")).unwrap_or_else(|| "-".into());
    let mut line =
        format!("{posted:>9} {rate:>12.0} {:>10} {:>10} {:>10}", fmt(pct(0.50)), fmt(pct(0.99)), fmt(latencies.last()));
    if (latencies.len() as u64) < posted {
        line.push_str(&format!("  ({} of {posted} delivered within {DRAIN:?})", latencies.len()));
    }
    if book.forged > 0 {
        line.push_str(&format!("  ({} bad signatures)", book.forged));
    }
    line
}

/// p50 / p99 of the two halves of the pipeline for the deliveries made in
/// [since, until): record.created_at → delivery.created_at, and
/// delivery.created_at → its first attempt's created_at (set once answered).
async fn stage_split(
    db: &sea_orm::DatabaseConnection,
    since: chrono::DateTime<chrono::Utc>,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<String> {
    use entity::{delivery, delivery_attempt, record};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut q = delivery::Entity::find().filter(delivery::Column::CreatedAt.gte(since));
    if let Some(u) = until {
        q = q.filter(delivery::Column::CreatedAt.lt(u));
    }
    let deliveries = q.all(db).await?;
    let mut fan = Vec::new();
    let mut send = Vec::new();
    for chunk in deliveries.chunks(500) {
        let ids: Vec<&str> = chunk.iter().filter_map(|d| d.payload["data"]["id"].as_str()).collect();
        let records: HashMap<String, chrono::DateTime<chrono::Utc>> = record::Entity::find()
            .filter(record::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|r| (r.id, r.created_at))
            .collect();
        let attempts: HashMap<String, chrono::DateTime<chrono::Utc>> = delivery_attempt::Entity::find()
            .filter(delivery_attempt::Column::DeliveryId.is_in(chunk.iter().map(|d| d.id.as_str())))
            .filter(delivery_attempt::Column::Attempt.eq(1))
            .all(db)
            .await?
            .into_iter()
            .map(|a| (a.delivery_id, a.created_at))
            .collect();
        for d in chunk {
            let ms = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
                (b - a).num_microseconds().unwrap_or(0) as f64 / 1000.0
            };
            if let Some(r) = d.payload["data"]["id"].as_str().and_then(|id| records.get(id)) {
                fan.push(ms(*r, d.created_at));
            }
            if let Some(a) = attempts.get(&d.id) {
                send.push(ms(d.created_at, *a));
            }
        }
    }
    let pct = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1))).copied().unwrap_or(0.0);
        format!("{:.1} / {:.1} ms", at(0.5), at(0.99))
    };
    Ok(format!("{:>22} | {:>22}   ({} deliveries)", pct(&mut fan), pct(&mut send), deliveries.len()))
}
