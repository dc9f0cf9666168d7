//! `switchyard bench connections`: `callConnection` through the server to
//! a provider on 127.0.0.1 in this process, against a plain reqwest loop to
//! the same provider, in interleaved rounds of one run. The connection is a
//! custom REST API with a rate window of its own (10,000,000 calls per
//! hour), so every call takes a slot as calls to catalog providers do;
//! every call is logged as a user's would be. Reports req/s, p50 and p99 of
//! each, the throughput ratio and the p50 overhead; and, as a practical
//! ceiling on the same machine, the bare server's forwarding route (one
//! request in, one out to the same provider, nothing else).

use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use axum::Router;
use serde_json::json;

use super::ingest::gql;
use super::{drive, with_servers, Phase, ServerChild};
use crate::config::Config;
use crate::error::{Error, Result};

const PROVIDER_KEY: &str = "k-bench";

/// The provider: a small JSON answer to the right bearer key, 401 otherwise.
async fn provider() -> Result<String> {
    let answer = |headers: HeaderMap| async move {
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some(v) if v == format!("Bearer {PROVIDER_KEY}") => {
                (StatusCode::OK, axum::Json(json!({ "data": [{ "id": 1, "name": "item" }] })))
            }
            _ => (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "bad key" }))),
        }
    };
    let app = Router::new().route("/api", any(answer)).route("/api/items", any(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(Error::internal)?;
    let url = format!("http://{}/api", listener.local_addr().map_err(Error::internal)?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

pub async fn run(config: Config, requests: usize, concurrency: usize, rounds: usize) -> Result<()> {
    if !(100..=1_000_000).contains(&requests) || !(1..=512).contains(&concurrency) || !(1..=10).contains(&rounds) {
        return Err(Error::invalid("--requests 100..=1000000, --concurrency 1..=512, --rounds 1..=10"));
    }
    let base = provider().await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(1024).no_proxy().build().map_err(Error::internal)?;
    let storage = if config.is_postgres() { "PostgreSQL" } else { "SQLite" };
    let queue = if config.redis_url.is_some() { "Redis" } else { "in-process" };
    println!(
        "switchyard bench connections: {storage}, {queue} rate windows; {requests} calls x {concurrency} concurrent, {rounds} rounds"
    );
    with_servers(&config, &client, "read,write,admin", async |server: &ServerChild, bare: &str| {
        let id = set_up(&client, server, &base).await?;
        let call = json!({
            "query": "mutation($i: CallConnectionInput!) { callConnection(input: $i) { call { status } } }",
            "variables": { "i": { "connectionId": id, "method": "GET", "path": "/items" } },
        });
        let graphql = format!("http://{}/graphql", server.addr);
        let items = format!("{base}/items");
        // The ceiling: the bare server's forwarding route, sent the same
        // body as the mutation (uploaded, not read), calling the same provider.
        let bare = bare.strip_suffix("/bare").unwrap_or(bare);
        let forward = url::Url::parse_with_params(&format!("{bare}/forward"), [("to", &items)])
            .map_err(Error::internal)?
            .to_string();
        let load = (requests, concurrency);
        // Warm every path (pools, caches) before measuring.
        drive("warm-up", &client, &items, json!({}), Some(PROVIDER_KEY), (200, concurrency), 200).await?;
        drive("warm-up", &client, &forward, call.clone(), Some(PROVIDER_KEY), (200, concurrency), 200).await?;
        drive("warm-up", &client, &graphql, call.clone(), Some(&server.key), (200, concurrency), 200).await?;
        let (mut plain, mut bare_forward, mut through) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            plain.push(drive("plain", &client, &items, json!({}), Some(PROVIDER_KEY), load, 200).await?);
            bare_forward.push(drive("forward", &client, &forward, call.clone(), Some(PROVIDER_KEY), load, 200).await?);
            through.push(drive("call", &client, &graphql, call.clone(), Some(&server.key), load, 200).await?);
        }
        let succeeded = succeeded(&client, server, &id).await?;
        let expected = (requests * rounds + 200) as u64;
        if succeeded < expected {
            return Err(Error::internal(format!("only {succeeded} of {expected} calls succeeded")));
        }
        let (p, f, c) = (median(&mut plain), median(&mut bare_forward), median(&mut through));
        println!("{:<38} {:>10} {:>10} {:>10}", "median of rounds", "req/s", "p50", "p99");
        println!("{:<38} {:>10.0} {:>10.2?} {:>10.2?}", "plain reqwest → provider", p.rps, p.p50, p.p99);
        println!("{:<38} {:>10.0} {:>10.2?} {:>10.2?}", "bare forwarding route → provider", f.rps, f.p50, f.p99);
        println!("{:<38} {:>10.0} {:>10.2?} {:>10.2?}", "callConnection → server → provider", c.rps, c.p50, c.p99);
        println!(
            "throughput ratio {:.2} (goal ≥ 0.5); p50 overhead {:.2?} (goal ≤ 2 ms); every call succeeded and was logged ({succeeded})",
            c.rps / p.rps,
            c.p50.saturating_sub(p.p50)
        );
        println!(
            "ceiling: a bare forwarding route (no GraphQL, no key check, no rate window, no log) reaches {:.2} of the \
             plain loop, p50 overhead {:.2?}; callConnection reaches {:.2} of it",
            f.rps / p.rps,
            f.p50.saturating_sub(p.p50),
            c.rps / f.rps
        );
        Ok(())
    })
    .await
}

/// The connection and its window; returns its id.
async fn set_up(client: &reqwest::Client, server: &ServerChild, base: &str) -> Result<String> {
    let (addr, key) = (server.addr.as_str(), server.key.as_str());
    let create = "mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } userErrors { message } } }";
    let made = gql(
        client,
        addr,
        key,
        create,
        json!({ "i": { "provider": "custom_rest", "apiKey": PROVIDER_KEY, "baseUrl": base } }),
    )
    .await?;
    let id = made["createConnection"]["connection"]["id"]
        .as_str()
        .ok_or_else(|| Error::internal(format!("no connection: {made}")))?
        .to_string();
    let set = "mutation($i: SetProviderSettingsInput!) { setProviderSettings(input: $i) { userErrors { message } } }";
    let window =
        json!({ "i": { "provider": "custom_rest", "rateLimit": { "requests": 10_000_000, "perSeconds": 3600 } } });
    gql(client, addr, key, set, window).await?;
    Ok(id)
}

async fn succeeded(client: &reqwest::Client, server: &ServerChild, id: &str) -> Result<u64> {
    let q = "query($id: ID!) { connection(id: $id) { stats { succeededLastDay } } }";
    let out = gql(client, &server.addr, &server.key, q, json!({ "id": id })).await?;
    out["connection"]["stats"]["succeededLastDay"].as_u64().ok_or_else(|| Error::internal(format!("no stats: {out}")))
}

/// The round with the median throughput.
fn median(phases: &mut [Phase]) -> &Phase {
    phases.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    &phases[phases.len() / 2]
}
