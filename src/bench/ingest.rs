//! `switchyard bench ingest`: accepted records per second and latency of
//! `POST /api/v1/data/{slug}` (key check, schema validation, quota count,
//! record + job committed, doorbell rung) against a bare axum route answering
//! 202 with no work, in the same run; then it checks that every accepted
//! record reached `processed`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{drive, free_port, spawn, start_server};
use crate::config::Config;
use crate::error::{Error, Result};

const ORDER: &str = r#"{"order_id": "ORD-2024-001", "amount": 45000, "items": ["Item A", "Item B"], "paid": true}"#;

async fn gql(client: &reqwest::Client, addr: &str, key: &str, query: &str, variables: Value) -> Result<Value> {
    let body: Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .map_err(Error::internal)?
        .json()
        .await
        .map_err(Error::internal)?;
    if body.get("errors").is_some() {
        return Err(Error::internal(format!("GraphQL error: {body}")));
    }
    Ok(body["data"].clone())
}

/// The average group-commit batch, from the server's `/metrics`.
async fn batch_average(client: &reqwest::Client, addr: &str) -> Option<f64> {
    let text = client.get(format!("http://{addr}/metrics")).send().await.ok()?.text().await.ok()?;
    let value = |name: &str| -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok())
    };
    let (sum, count) = (value("switchyard_ingest_batch_size_sum ")?, value("switchyard_ingest_batch_size_count ")?);
    (count > 0.0).then(|| sum / count)
}

pub async fn run(config: Config, requests: usize, concurrency: usize) -> Result<()> {
    if requests == 0 || concurrency == 0 || requests > 1_000_000 {
        return Err(Error::invalid("--requests must be 1..=1000000 and --concurrency at least 1"));
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().map_err(Error::internal)?;
    let bare_port = free_port()?;
    let _bare = spawn(&["bench", "bare-server", "--port", &bare_port.to_string()])?;
    let server = start_server(&config, &client, "read,write,admin").await?;
    let (addr, key) = (server.addr.clone(), server.key.clone());
    let schema = json!({ "type": "object", "required": ["order_id", "amount"],
        "properties": { "order_id": { "type": "string" }, "amount": { "type": "number" } } });
    gql(
        &client,
        &addr,
        &key,
        "mutation($s: JSON) { createDataEndpoint(input: { slug: \"orders\", name: \"Orders\", schema: $s }) { dataEndpoint { id } } }",
        json!({ "s": schema }),
    )
    .await?;
    let k =
        gql(&client, &addr, &key, "mutation { createDataKey(input: { name: \"bench\" }) { key } }", json!({})).await?;
    let data_key = k["createDataKey"]["key"].as_str().ok_or_else(|| Error::internal("no data key"))?.to_string();
    // The bare server needs a moment to bind; the warm-up tolerates no error.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let bare = format!("http://127.0.0.1:{bare_port}/bare");
    let ingest = format!("http://{addr}/api/v1/data/orders");
    let order: Value = serde_json::from_str(ORDER).map_err(Error::internal)?;
    let warm = (requests / 10).clamp(concurrency, 2_000);
    drive("warm-up", &client, &bare, json!({}), None, (warm, concurrency), 202).await?;
    drive("warm-up", &client, &ingest, order.clone(), Some(&data_key), (warm, concurrency), 202).await?;
    let load = (requests, concurrency);
    let phases = [
        drive("bare axum route (202)", &client, &bare, json!({}), None, load, 202).await?,
        drive("POST /api/v1/data/orders", &client, &ingest, order, Some(&data_key), load, 202).await?,
    ];
    let base = phases[0].rps;
    println!(
        "switchyard bench ingest: {requests} requests per phase, {concurrency} connections, storage {}{}",
        if config.is_postgres() { "postgres" } else { "sqlite" },
        if config.redis_url.is_some() { " + redis" } else { "" },
    );
    println!("{:<28} {:>10} {:>9} {:>10} {:>10}", "phase", "req/s", "ratio", "p50", "p99");
    for p in &phases {
        println!("{:<28} {:>10.0} {:>9.3} {:>10.2?} {:>10.2?}", p.name, p.rps, p.rps / base, p.p50, p.p99);
    }
    if let Some(avg) = batch_average(&client, &addr).await {
        println!("records per group-commit transaction: {avg:.1} on average");
    }
    // Every accepted record must be processed.
    let accepted = (warm + requests) as u64;
    let started = Instant::now();
    loop {
        let q = "{ records(filter: { status: \"processed\" }) { totalCount } }";
        let done = gql(&client, &addr, &key, q, json!({})).await?["records"]["totalCount"].as_u64().unwrap_or(0);
        if done >= accepted {
            println!("all {accepted} accepted records processed {:.1?} after the last 202", started.elapsed());
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(Error::internal(format!("only {done} of {accepted} records processed after 10 minutes")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.finish().await?;
    Ok(())
}
