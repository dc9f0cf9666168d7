//! `switchyard bench ingest`: accepted records per second and latency of
//! `POST /api/v1/data/{slug}` (key check, schema validation, quota count,
//! record + job committed, doorbell rung) against a bare axum route answering
//! 202 with no work, in the same run, at each of several connection levels;
//! after each level it waits until every accepted record reached
//! `processed`, so the next level's bare route does not share the machine
//! with that backlog.
//!
//! The headline is the capacity ratio: each route at the level where it
//! does best. A 202 waits for a durable commit, so ingest needs more
//! requests in flight than the bare route before the machine is busy (at 64
//! connections the bare route saturates both cores while ingest leaves a
//! sixth of them idle, waiting on commits); each level's own ratio is
//! printed too.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{drive, with_servers, ServerChild};
use crate::config::Config;
use crate::error::{Error, Result};

const ORDER: &str = r#"{"order_id": "ORD-2024-001", "amount": 45000, "items": ["Item A", "Item B"], "paid": true}"#;

/// A GraphQL request with an API key that must succeed; its `data`.
pub(super) async fn gql(
    client: &reqwest::Client,
    addr: &str,
    key: &str,
    query: &str,
    variables: Value,
) -> Result<Value> {
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
    let (sum, count) = super::histogram_totals(client, addr, "switchyard_ingest_batch_size").await?;
    (count > 0.0).then(|| sum / count)
}

/// Waits until `accepted` records have reached `processed` (at most 10
/// minutes); returns how long that took.
async fn processed(client: &reqwest::Client, addr: &str, key: &str, accepted: u64) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let q = "{ records(filter: { status: PROCESSED }) { totalCount } }";
        let done = gql(client, addr, key, q, json!({})).await?["records"]["totalCount"].as_u64().unwrap_or(0);
        if done >= accepted {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(Error::internal(format!("only {done} of {accepted} records processed after 10 minutes")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Most connections one level may open: the phase's client and the server
/// each hold that many sockets, which must fit the usual limit of 1024 open
/// files per process.
const MAX_CONNECTIONS: usize = 512;

/// Raises this process's soft limit on open files to its hard limit (the
/// servers it starts inherit it) and checks that a level of `connections`
/// fits: a phase's client may briefly hold more sockets than it has
/// workers, while the previous phase's are still closing.
fn open_files_for(connections: usize) -> Result<()> {
    let needed = 3 * connections as u64 + 256;
    let limit = rlimit::increase_nofile_limit(needed.max(4096)).map_err(Error::internal)?;
    if limit < needed {
        return Err(Error::invalid(format!(
            "{connections} connections need about {needed} open files, but this shell allows {limit}: \
             raise it (ulimit -n {needed}) or pass a lower --concurrency"
        )));
    }
    Ok(())
}

/// A client of its own for one phase, so its connections close with it and
/// no phase holds sockets of another.
fn load_client(connections: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder().pool_max_idle_per_host(connections).build().map_err(Error::internal)
}

pub async fn run(config: Config, requests: usize, levels: Vec<usize>) -> Result<()> {
    if requests == 0 || requests > 1_000_000 {
        return Err(Error::invalid("--requests must be 1..=1000000"));
    }
    if levels.is_empty() || levels.len() > 8 || levels.iter().any(|&c| c == 0 || c > MAX_CONNECTIONS.min(requests)) {
        return Err(Error::invalid(format!(
            "--concurrency takes 1 to 8 levels, each from 1 to {MAX_CONNECTIONS} and at most --requests (e.g. 64,256,512)"
        )));
    }
    let widest = levels.iter().copied().max().unwrap_or(1);
    open_files_for(widest)?;
    // Set-up, progress and metrics: a few connections of their own.
    let client = reqwest::Client::builder().build().map_err(Error::internal)?;
    with_servers(&config, &client, "read,write,admin", async |server, bare| {
        measure(&config, &client, server, bare, requests, &levels).await
    })
    .await
}

/// The measured part of [`run`], against a started server.
async fn measure(
    config: &Config,
    client: &reqwest::Client,
    server: &ServerChild,
    bare: &str,
    requests: usize,
    levels: &[usize],
) -> Result<()> {
    let widest = levels.iter().copied().max().unwrap_or(1);
    let (addr, key) = (server.addr.clone(), server.key.clone());
    let schema = json!({ "type": "object", "required": ["order_id", "amount"],
        "properties": { "order_id": { "type": "string" }, "amount": { "type": "number" } } });
    gql(
        client,
        &addr,
        &key,
        "mutation($s: JSON) { createDataEndpoint(input: { slug: \"orders\", name: \"Orders\", schema: $s }) { dataEndpoint { id } } }",
        json!({ "s": schema }),
    )
    .await?;
    let k = gql(client, &addr, &key, "mutation { createDataKey(input: { name: \"bench\" }) { secret } }", json!({}))
        .await?;
    let data_key = k["createDataKey"]["secret"].as_str().ok_or_else(|| Error::internal("no data key"))?.to_string();
    // The bare server needs a moment to bind; the warm-up tolerates no error.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let ingest = format!("http://{addr}/api/v1/data/orders");
    let order: Value = serde_json::from_str(ORDER).map_err(Error::internal)?;
    let warm = (requests / 10).min(2_000).max(widest);
    drive("warm-up", &load_client(widest)?, bare, json!({}), None, (warm, widest), 202).await?;
    drive("warm-up", &load_client(widest)?, &ingest, order.clone(), Some(&data_key), (warm, widest), 202).await?;
    let mut accepted = warm as u64;
    processed(client, &addr, &key, accepted).await?;
    println!(
        "switchyard bench ingest: {requests} requests per phase, storage {}{}",
        if config.is_postgres() { "postgres" } else { "sqlite" },
        if config.redis_url.is_some() { " + redis" } else { "" },
    );
    println!("{:<28} {:>11} {:>10} {:>9} {:>10} {:>10}", "phase", "connections", "req/s", "ratio", "p50", "p99");
    // Each level: the bare route, then ingest right after it, so both see
    // the same machine; the ratio is against the bare route of that level.
    let (mut best_bare, mut best_ingest) = ((0f64, 0), (0f64, 0));
    for &connections in levels {
        let load = (requests, connections);
        let base = drive("bare axum route (202)", &load_client(connections)?, bare, json!({}), None, load, 202).await?;
        let data = drive(
            "POST /api/v1/data/orders",
            &load_client(connections)?,
            &ingest,
            order.clone(),
            Some(&data_key),
            load,
            202,
        )
        .await?;
        for p in [&base, &data] {
            let ratio = p.rps / base.rps;
            println!(
                "{:<28} {:>11} {:>10.0} {:>9.3} {:>10.2?} {:>10.2?}",
                p.name, connections, p.rps, ratio, p.p50, p.p99
            );
        }
        if base.rps > best_bare.0 {
            best_bare = (base.rps, connections);
        }
        if data.rps > best_ingest.0 {
            best_ingest = (data.rps, connections);
        }
        // Every accepted record must be processed; the next level starts
        // only then, so no level's bare route shares the machine with the
        // backlog of the level before.
        accepted += requests as u64;
        let after = processed(client, &addr, &key, accepted).await?;
        println!(
            "{:<28} {:>11} all {accepted} records accepted so far ({requests} at this level) processed \
             {after:.1?} after the last 202",
            "", ""
        );
    }
    if levels.len() > 1 {
        // Throughput as capacity: each route at the level where it does best.
        // A 202 waits for a durable commit, so ingest needs more requests in
        // flight than the bare route to keep the machine busy.
        let ((ingest_rps, ingest_at), (bare_rps, bare_at)) = (best_ingest, best_bare);
        println!(
            "capacity (each route at its best level): ingest {ingest_rps:.0} req/s ({ingest_at} connections), \
             bare {bare_rps:.0} req/s ({bare_at} connections), ratio {:.3}",
            ingest_rps / bare_rps
        );
    }
    if let Some(avg) = batch_average(client, &addr).await {
        println!("records per group-commit transaction: {avg:.1} on average");
    }
    Ok(())
}
