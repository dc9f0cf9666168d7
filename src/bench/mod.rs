//! Benchmarks, run with `switchyard bench …` (build with `--release`).
//! Targets are loopback only and every loop is bounded by a request count.
//!
//! `bench http` starts two child processes of this same binary — the real
//! server (`serve`, on a fresh SQLite file unless `--database-url` names
//! PostgreSQL) and a bare axum route answering 202 — and drives both from
//! this process with the same client, so the figures are ratios measured in
//! one run: authenticated GraphQL and unauthenticated GraphQL against the
//! bare route. It also reports start-up time to ready and idle RSS.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde_json::json;
use tokio::process::{Child, Command};

mod actions;
mod charts;
mod connections;
mod delivery;
mod ingest;
mod jobs;
mod pipeline;
mod plugins;
mod subscriptions;

use crate::config::{BenchCommand, Config};
use crate::error::{Error, Result};

pub async fn run(config: Config, cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Http { requests, concurrency, rounds } => http(config, requests, concurrency, rounds).await,
        BenchCommand::Jobs { jobs } => jobs::run(config, jobs).await,
        BenchCommand::Delivery { end_to_end: true, rates, seconds, .. } => pipeline::run(config, rates, seconds).await,
        BenchCommand::Delivery { events, .. } => delivery::run(config, events).await,
        BenchCommand::Ingest { requests, concurrency } => ingest::run(config, requests, concurrency).await,
        BenchCommand::Subscriptions { subscribers, events, distinct, server_exe } => {
            if let Some(exe) = server_exe {
                let _ = SERVER_EXE.set(exe);
            }
            subscriptions::run(config, subscribers, events, distinct).await
        }
        BenchCommand::Connections { requests, concurrency, rounds } => {
            connections::run(config, requests, concurrency, rounds).await
        }
        BenchCommand::Actions { runs, concurrency, events } => actions::run(config, runs, concurrency, events).await,
        BenchCommand::Plugins { events, concurrency, rounds } => {
            plugins::run(config, events, concurrency, rounds).await
        }
        BenchCommand::Charts { rows, runs } => charts::run(config, rows, runs).await,
        BenchCommand::BareServer { port } => bare_server(port).await,
    }
}

/// The baselines: `/bare`, one axum route that answers 202 with a tiny JSON
/// body; and `/forward`, about the least a server can do to call a provider
/// for a client (one request in, one GET out through one shared reqwest
/// client, the provider's status and body back), the practical ceiling of
/// `bench connections`. Its client, like the server's outgoing one, follows
/// no redirects and uses no proxy.
async fn bare_server(port: u16) -> Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(Error::internal)?;
    let app = Router::new()
        .route("/bare", post(|| async { (StatusCode::ACCEPTED, axum::Json(json!({ "success": true }))) }))
        .route("/forward", post(forward))
        .with_state(client);
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await.map_err(Error::internal)?;
    axum::serve(listener, app).await.map_err(Error::internal)
}

/// The query of `/forward`.
#[derive(serde::Deserialize)]
struct ForwardTo {
    to: String,
}

/// `/forward?to=URL`: sends a GET to the URL (plain `http://127.0.0.1`, no
/// credentials in it: the bench's own provider) with the request's
/// `authorization`, and answers with the provider's status and body.
async fn forward(
    axum::extract::State(client): axum::extract::State<reqwest::Client>,
    axum::extract::Query(ForwardTo { to }): axum::extract::Query<ForwardTo>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && u.host_str() == Some("127.0.0.1") && u.username().is_empty() && u.password().is_none()
    };
    let Some(target) = url::Url::parse(&to).ok().filter(loopback) else {
        return (StatusCode::BAD_REQUEST, "`to` must be an http://127.0.0.1 URL without credentials").into_response();
    };
    let mut req = client.get(target);
    if let Some(auth) = headers.get("authorization") {
        req = req.header("authorization", auth);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            match resp.bytes().await {
                Ok(body) => (status, body).into_response(),
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::internal)?;
    Ok(l.local_addr().map_err(Error::internal)?.port())
}

/// Kills the child when dropped, so an early error leaves no process behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

/// The binary started as the server: this one, unless a bench was told to
/// measure another build (`bench subscriptions --server-exe`, for a
/// before-and-after comparison).
static SERVER_EXE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// A histogram's `_sum` and `_count` from a server's `/metrics`.
async fn histogram_totals(client: &reqwest::Client, addr: &str, name: &str) -> Option<(f64, f64)> {
    let text = client.get(format!("http://{addr}/metrics")).send().await.ok()?.text().await.ok()?;
    let value = |suffix: &str| -> Option<f64> {
        let prefix = format!("{name}{suffix} ");
        text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).and_then(|v| v.trim().parse().ok())
    };
    Some((value("_sum")?, value("_count")?))
}

fn server_exe() -> Result<std::path::PathBuf> {
    match SERVER_EXE.get() {
        Some(p) => Ok(p.clone()),
        None => std::env::current_exe().map_err(Error::internal),
    }
}

/// The log filter of the servers a bench starts: their default (the figures
/// are what a user gets), unless `SWITCHYARD_BENCH_SERVER_LOG` names another
/// (e.g. `warn,sqlx::query=info` to see each statement's time while a bench
/// runs).
fn server_log() -> Option<String> {
    std::env::var("SWITCHYARD_BENCH_SERVER_LOG").ok()
}

/// A server command with the bench's log filter.
fn server_command(exe: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(exe);
    match server_log() {
        Some(filter) => cmd.env("SWITCHYARD_LOG", filter),
        // Not the bench's own filter: the server's default.
        None => cmd.env_remove("SWITCHYARD_LOG"),
    };
    cmd
}

fn spawn(args: &[&str]) -> Result<ChildGuard> {
    let exe = server_exe()?;
    server_command(exe)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map(ChildGuard)
        .map_err(Error::internal)
}

/// Polls `url` until it answers 200 (at most 60 s).
async fn wait_ready(client: &reqwest::Client, url: &str) -> Result<Duration> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return Ok(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(Error::internal(format!("{url} did not become ready within 60 s")))
}

/// CPU time (user + system) all threads of `pid` have used so far, in ns.
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Phase {
    name: &'static str,
    rps: f64,
    p50: Duration,
    p99: Duration,
}

/// Sends `requests` POSTs (GETs when `body` is `null`) with `concurrency`
/// workers; every answer must have `expect` status and no GraphQL errors,
/// else the phase fails. `key` is a
/// bearer secret, or a session cookie (`sy_session=…`, sent with the CSRF
/// header as the bundled pages do).
async fn drive(
    name: &'static str,
    client: &reqwest::Client,
    url: &str,
    body: serde_json::Value,
    key: Option<&str>,
    (requests, concurrency): (usize, usize),
    expect: u16,
) -> Result<Phase> {
    let get = body.is_null();
    let body = Arc::new(body.to_string());
    let auth = key.map(|k| match k.starts_with("sy_session=") {
        true => ("cookie", k.to_string()),
        false => ("authorization", format!("Bearer {k}")),
    });
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let n = requests / concurrency + usize::from(w < requests % concurrency);
        let (client, url, body, auth) = (client.clone(), url.to_string(), body.clone(), auth.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                let mut req = match get {
                    true => client.get(&url),
                    false => client.post(&url).header("content-type", "application/json").body(body.to_string()),
                };
                if let Some((name, value)) = &auth {
                    req = req.header(*name, value).header("x-switchyard-csrf", "1");
                }
                let resp = req.send().await.map_err(Error::internal)?;
                let status = resp.status().as_u16();
                let text = resp.text().await.map_err(Error::internal)?;
                if status != expect || text.contains("\"errors\"") {
                    return Err(Error::internal(format!("unexpected answer {status}: {text}")));
                }
                lat.push(t.elapsed());
            }
            Ok::<_, Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for w in workers {
        all.extend(w.await.map_err(Error::internal)??);
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Ok(Phase { name, rps: all.len() as f64 / elapsed.as_secs_f64(), p50: pct(0.50), p99: pct(0.99) })
}

/// A `switchyard serve` child on a fresh database (or the configured
/// PostgreSQL, plus Redis when configured) and an owner API key for it.
struct ServerChild {
    _child: ChildGuard,
    _dir: TempDir,
    addr: String,
    key: String,
    /// A one-time setup link of the owner (for a browser session).
    setup_link: String,
    startup: Duration,
    pid: u32,
    /// (Redis URL, key prefix) when the server used Redis.
    redis: Option<(String, String)>,
    /// (the configured URL, the bench database's name) on PostgreSQL.
    postgres: Option<(String, String)>,
    /// The database URL the server was started with (benches read what
    /// it wrote from there).
    db_url: String,
}

impl ServerChild {
    /// Stops the server, deletes its Redis keys and drops its database.
    async fn finish(mut self) -> Result<()> {
        let redis = self.redis.clone();
        let postgres = self.postgres.take();
        let _ = self._child.0.kill().await;
        drop(self);
        if let Some((url, prefix)) = redis {
            wipe(&url, &prefix).await?;
        }
        if let Some((url, name)) = postgres {
            drop_postgres(&url, &name).await?;
        }
        Ok(())
    }
}

/// Creates `sy_bench_<ulid>` beside the configured database; returns its
/// URL and name.
async fn fresh_postgres(url: &str) -> Result<(String, String)> {
    use sea_orm::ConnectionTrait;
    let name = format!("sy_bench_{}", ulid::Ulid::new().to_string().to_lowercase());
    let db = sea_orm::Database::connect(url).await?;
    db.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
    let base = url.rsplit_once('/').map(|(b, _)| b).ok_or_else(|| Error::invalid("database URL has no path"))?;
    Ok((format!("{base}/{name}"), name))
}

/// Drops a database [`fresh_postgres`] made (`url` is the server's).
async fn drop_postgres(url: &str, name: &str) -> Result<()> {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(url).await?;
    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await?;
    Ok(())
}

/// Runs `phase` on a database of its own: a fresh PostgreSQL database
/// (dropped afterwards, whatever the outcome) when `url` is PostgreSQL's,
/// else `url` itself. `phase` gets the URL to use.
async fn on_fresh_database<T>(url: &str, phase: impl AsyncFnOnce(&str) -> Result<T>) -> Result<T> {
    if !url.starts_with("postgres") {
        return phase(url).await;
    }
    let (fresh, name) = fresh_postgres(url).await?;
    let out = phase(&fresh).await;
    let dropped = drop_postgres(url, &name).await;
    let out = out?;
    dropped.map(|()| out)
}

/// Deletes the bench's temp folder on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts the bare route and the real server (its owner key with `scopes`),
/// runs `measure` against them (the server, the bare route's URL), then
/// finishes the server whatever the outcome, so a run that failed halfway
/// leaves no database or Redis keys behind; the run's error comes first.
async fn with_servers(
    config: &Config,
    client: &reqwest::Client,
    scopes: &str,
    measure: impl AsyncFnOnce(&ServerChild, &str) -> Result<()>,
) -> Result<()> {
    let bare_port = free_port()?;
    let _bare = spawn(&["bench", "bare-server", "--port", &bare_port.to_string()])?;
    let server = start_server(config, client, scopes).await?;
    let outcome = measure(&server, &format!("http://127.0.0.1:{bare_port}/bare")).await;
    let finished = server.finish().await;
    outcome.and(finished)
}

async fn start_server(config: &Config, client: &reqwest::Client, scopes: &str) -> Result<ServerChild> {
    let dir = std::env::temp_dir().join(format!("switchyard-bench-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).map_err(Error::internal)?;
    // A database of its own on PostgreSQL too, so earlier runs' rows never
    // count, dropped when the bench ends.
    let fresh = match config.is_postgres() {
        true => Some(fresh_postgres(&config.database_url).await?),
        false => None,
    };
    let db_url = if let Some((url, _)) = &fresh {
        url.clone()
    } else {
        format!("sqlite://{}?mode=rwc", dir.join("bench.db").display())
    };
    let key_file = dir.join("bench.key").display().to_string();
    let prefix = format!("sy_bench_{}", ulid::Ulid::new().to_string().to_lowercase());
    let port = free_port()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port)).to_string();
    let mut common = vec!["--database-url", db_url.as_str(), "--secret-key-file", key_file.as_str()];
    if let Some(r) = &config.redis_url {
        common.extend(["--redis-url", r.as_str(), "--redis-prefix", prefix.as_str()]);
    }
    // Bench receivers listen on 127.0.0.1, which the SSRF guard refuses
    // unless told otherwise; the connection cap is lowered to fit the
    // open-file limit the bench set.
    let mut serve_args = vec![
        "serve",
        "--listen",
        addr.as_str(),
        "--rate-limit-per-minute",
        "100000000",
        "--oauth-rate-limit-per-minute",
        "100000000",
        "--allow-private-targets",
        "true",
        "--max-connections",
        "100000",
    ];
    serve_args.extend(common.iter().copied());
    let child = spawn(&serve_args)?;
    let startup = wait_ready(client, &format!("http://{addr}/readyz")).await?;
    let pid = child.0.id().unwrap_or(0);
    let exe = server_exe()?;
    let mut key_args = vec!["admin", "create-api-key", "--email", "owner@localhost", "--scopes", scopes];
    key_args.extend(common.iter().copied());
    let out = std::process::Command::new(exe)
        .args(&key_args)
        .env("SWITCHYARD_LOG", "warn")
        .output()
        .map_err(Error::internal)?;
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !key.starts_with("sk_") {
        return Err(Error::internal(format!("could not create a key: {}", String::from_utf8_lossy(&out.stderr))));
    }
    let mut link_args = vec!["admin", "setup-link", "--email", "owner@localhost"];
    link_args.extend(common.iter().copied());
    let exe = server_exe()?;
    let out = std::process::Command::new(exe)
        .args(&link_args)
        .env("SWITCHYARD_LOG", "warn")
        .env("SWITCHYARD_PUBLIC_URL", format!("http://{addr}"))
        .output()
        .map_err(Error::internal)?;
    let setup_link = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.contains("/setup?token="))
        .map(str::to_string)
        .ok_or_else(|| Error::internal(format!("no setup link: {}", String::from_utf8_lossy(&out.stderr))))?;
    let redis = config.redis_url.clone().map(|r| (r, prefix));
    let postgres = fresh.map(|(_, name)| (config.database_url.clone(), name));
    Ok(ServerChild { _child: child, _dir: TempDir(dir), addr, key, setup_link, startup, pid, redis, postgres, db_url })
}

async fn http(config: Config, requests: usize, concurrency: usize, rounds: usize) -> Result<()> {
    if requests == 0 || concurrency == 0 || requests > 1_000_000 || !(1..=20).contains(&rounds) {
        return Err(Error::invalid("--requests must be 1..=1000000, --concurrency at least 1 and --rounds 1..=20"));
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().map_err(Error::internal)?;
    let load = (requests, concurrency, rounds);
    with_servers(&config, &client, "read,write,admin", async |server, bare| {
        http_phases(&config, &client, server, bare, load).await
    })
    .await
}

/// The measured part of [`http`], against a started server.
async fn http_phases(
    config: &Config,
    client: &reqwest::Client,
    server: &ServerChild,
    bare: &str,
    (requests, concurrency, rounds): (usize, usize, usize),
) -> Result<()> {
    let (addr, key, startup) = (server.addr.clone(), server.key.clone(), server.startup);
    // Idle means before anything ran: a sign-in's Argon2 hash (19 MiB) is
    // freed when it ends but stays resident until the allocator's next
    // purge, seconds later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_kib(server.pid);
    let session = sign_in(client, &addr, &server.setup_link).await?;

    let query = json!({ "query": "{ serverInfo { version } }" });
    let gql = format!("http://{addr}/graphql");
    wait_ready(client, &format!("http://{addr}/healthz")).await?;
    // Warm up connections and caches, then measure.
    let warm = (requests / 10).clamp(concurrency, 2_000);
    drive("warm-up", client, bare, json!({}), None, (warm, concurrency), 202).await?;
    drive("warm-up", client, &gql, query.clone(), Some(&key), (warm, concurrency), 200).await?;
    let oauth = OAuthBench::start(client, &addr, &session).await?;
    drive("warm-up", client, &gql, query.clone(), Some(&oauth.token), (warm, concurrency), 200).await?;
    let introspect = format!("http://{addr}/oauth/introspect");
    let introspection = oauth.introspection_body();
    let load = (requests.div_ceil(rounds), concurrency);
    // Seed 002's REST routes against the GraphQL operation doing the same
    // (webhooks created disabled, so no event fans out to thousands of them).
    let rest_keys = format!("http://{addr}/v1/api-keys");
    let rest_hooks = format!("http://{addr}/v1/webhooks");
    let gql_keys = json!({ "query": "{ apiKeys(first: 20) { totalCount edges { node { id name prefix scopes createdAt expiresAt lastUsedAt usageCount } } } }" });
    let hook = json!({ "url": "http://127.0.0.1:9/hook", "events": ["api_key.created"], "active": false });
    let gql_hook = json!({
        "query": "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id url } userErrors { message } } }",
        "variables": { "i": { "url": "http://127.0.0.1:9/hook", "eventTypes": ["api_key.created"], "enabled": false } },
    });
    let specs: [(&'static str, &str, &serde_json::Value, Option<&str>, u16); 10] = [
        ("bare axum route (202)", bare, &json!({}), None, 202),
        ("GraphQL, unauthenticated", &gql, &query, None, 200),
        ("GraphQL, API key", &gql, &query, Some(&key), 200),
        ("GraphQL, browser session", &gql, &query, Some(&session), 200),
        ("GraphQL, OAuth token", &gql, &query, Some(&oauth.token), 200),
        ("OAuth introspection", &introspect, &introspection, None, 200),
        ("REST GET /v1/api-keys", &rest_keys, &serde_json::Value::Null, Some(&key), 200),
        ("GraphQL apiKeys(first: 20)", &gql, &gql_keys, Some(&key), 200),
        ("REST POST /v1/webhooks", &rest_hooks, &hook, Some(&key), 201),
        ("GraphQL createWebhook", &gql, &gql_hook, Some(&key), 200),
    ];
    // rounds × phases: (phase, ratio to the bare route of its round, the
    // server's CPU time per request in µs).
    let mut runs: Vec<Vec<(Phase, f64, Option<f64>)>> = Vec::new();
    for _ in 0..rounds {
        let mut round = Vec::new();
        for (name, url, body, key, expect) in specs {
            let cpu = cpu_ns(server.pid);
            let phase = drive(name, client, url, body.clone(), key, load, expect).await?;
            // The bare route is served by another child process.
            let cpu = cpu
                .zip(cpu_ns(server.pid))
                .filter(|_| url != bare)
                .map(|(a, b)| b.saturating_sub(a) as f64 / 1000.0 / load.0 as f64);
            round.push((phase, cpu));
        }
        let base = round[0].0.rps;
        runs.push(
            round
                .into_iter()
                .map(|(p, cpu)| {
                    let ratio = p.rps / base;
                    (p, ratio, cpu)
                })
                .collect(),
        );
    }
    println!(
        "switchyard bench http: {requests} requests per phase in {rounds} round(s), {concurrency} connections, storage {}",
        if config.is_postgres() { "postgres" } else { "sqlite" }
    );
    println!(
        "{:<28} {:>10} {:>9} {:>10} {:>10} {:>12}   ratio per round",
        "phase", "req/s", "ratio", "p50", "p99", "server CPU"
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    for i in 0..specs.len() {
        let mut of_phase: Vec<&Phase> = runs.iter().map(|r| &r[i].0).collect();
        of_phase.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let p = of_phase[of_phase.len() / 2];
        let ratio = median(runs.iter().map(|r| r[i].1).collect()).unwrap_or(0.0);
        let cpu = median(runs.iter().filter_map(|r| r[i].2).collect())
            .map_or("n/a".to_string(), |us| format!("{us:.1} µs/req"));
        let each: Vec<String> = runs.iter().map(|r| format!("{:.3}", r[i].1)).collect();
        println!(
            "{:<28} {:>10.0} {:>9.3} {:>10.2?} {:>10.2?} {:>12}   {}",
            p.name,
            p.rps,
            ratio,
            p.p50,
            p.p99,
            cpu,
            each.join(" ")
        );
    }
    // The goal is stated against the same query unauthenticated: req/s per
    // round, and the server's CPU time per request (which a neighbour's load
    // hardly moves) as a steadier second view.
    for i in 2..5 {
        let each: Vec<f64> = runs.iter().map(|r| r[i].0.rps / r[1].0.rps).collect();
        let list: Vec<String> = each.iter().map(|r| format!("{r:.3}")).collect();
        let cpu = median(runs.iter().filter_map(|r| Some(r[1].2? / r[i].2?)).collect())
            .map_or(String::new(), |r| format!("; by server CPU per request: {r:.3}"));
        println!(
            "{} / unauthenticated: {:.3} (median; per round {}){cpu}",
            specs[i].0,
            median(each).unwrap_or(0.0),
            list.join(" ")
        );
    }
    // Issue 24: each REST route against its GraphQL twin.
    for (rest, graphql) in [(6, 7), (8, 9)] {
        let each: Vec<f64> = runs.iter().map(|r| r[rest].0.rps / r[graphql].0.rps).collect();
        let list: Vec<String> = each.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "{} / {}: {:.3} (median; per round {})",
            specs[rest].0,
            specs[graphql].0,
            median(each).unwrap_or(0.0),
            list.join(" ")
        );
    }
    println!("start-up to ready: {startup:.2?}");
    match (idle_rss, rss_kib(server.pid)) {
        (Some(idle), Some(after)) => println!(
            "idle RSS after start-up: {:.1} MiB; after the phases: {:.1} MiB",
            idle as f64 / 1024.0,
            after as f64 / 1024.0
        ),
        _ => println!("idle RSS: unavailable (no /proc)"),
    }
    Ok(())
}

/// An OAuth app registered through the owner's session, and an access
/// token it got with client credentials.
struct OAuthBench {
    client_id: String,
    secret: String,
    token: String,
}

impl OAuthBench {
    async fn start(client: &reqwest::Client, addr: &str, session: &str) -> Result<Self> {
        let create = json!({
            "query": "mutation($i: CreateOAuthAppInput!) { createOAuthApp(input: $i) { oauthApp { clientId } secret userErrors { message } } }",
            "variables": { "i": { "name": "bench", "redirectUris": ["http://127.0.0.1/cb"], "scopes": ["READ"] } },
        });
        let answer: serde_json::Value = client
            .post(format!("http://{addr}/graphql"))
            .header("cookie", session)
            .header("x-switchyard-csrf", "1")
            .json(&create)
            .send()
            .await
            .map_err(Error::internal)?
            .json()
            .await
            .map_err(Error::internal)?;
        let out = &answer["data"]["createOAuthApp"];
        let (Some(client_id), Some(secret)) = (out["oauthApp"]["clientId"].as_str(), out["secret"].as_str()) else {
            return Err(Error::internal(format!("could not register an OAuth app: {answer}")));
        };
        let token: serde_json::Value = client
            .post(format!("http://{addr}/oauth/token"))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(Error::internal)?
            .json()
            .await
            .map_err(Error::internal)?;
        let access = token["access_token"].as_str().ok_or_else(|| Error::internal(format!("no token: {token}")))?;
        Ok(Self { client_id: client_id.into(), secret: secret.into(), token: access.into() })
    }

    /// An RFC 7662 request for the token, client-authenticated in the body.
    fn introspection_body(&self) -> serde_json::Value {
        json!({ "client_id": self.client_id, "client_secret": self.secret, "token": self.token })
    }
}

/// Redeems the owner's setup link; returns the session cookie (`sy_session=…`).
async fn sign_in(client: &reqwest::Client, addr: &str, link: &str) -> Result<String> {
    let token = link.split("token=").nth(1).ok_or_else(|| Error::internal("no setup token"))?;
    let resp = client
        .post(format!("http://{addr}/auth/setup"))
        .header("x-switchyard-csrf", "1")
        .json(&json!({ "token": token, "password": "bench password, long enough" }))
        .send()
        .await
        .map_err(Error::internal)?;
    let cookie = resp.headers().get("set-cookie").and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next());
    cookie.map(str::to_string).ok_or_else(|| Error::internal(format!("setup failed: {}", resp.status())))
}

/// Server flags shared by the job and delivery benches: the defaults a user
/// gets, but for the address, storage, key file, role and Redis prefix.
fn base_args(db: &str, redis: Option<&str>, prefix: &str, key_file: &str, role: &str) -> Vec<String> {
    let mut a: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        db,
        "--secret-key-file",
        key_file,
        "--role",
        role,
        "--redis-prefix",
        prefix,
        // The benches' receivers listen on 127.0.0.1.
        "--allow-private-targets",
        "true",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(r) = redis {
        a.extend(["--redis-url".to_string(), r.to_string()]);
    }
    a
}

/// This process's server from `args` plus `workers` worker child processes
/// (the same flags with role `worker`), once the workers report alive.
async fn cluster(args: &[String], workers: usize) -> Result<(crate::Server, Vec<Child>)> {
    let cfg = Config::from_args(args.iter().cloned()).map_err(Error::internal)?;
    let server = crate::start(cfg).await?;
    let mut children = Vec::new();
    for _ in 0..workers {
        let exe = std::env::current_exe().map_err(Error::internal)?;
        let mut child_args = vec!["serve".to_string()];
        child_args.extend(args.iter().cloned().map(|a| if a == "api" { "worker".to_string() } else { a }));
        children.push(
            server_command(exe)
                .args(&child_args)
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(Error::internal)?,
        );
    }
    let ready = Instant::now();
    while workers > 0
        && server.state.queue.live_workers().await? < workers as u64
        && ready.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((server, children))
}

async fn stop_cluster(server: crate::Server, children: Vec<Child>) {
    for mut c in children {
        let _ = c.kill().await;
    }
    server.stop().await;
}

/// Deletes every Redis key under `prefix`.
async fn wipe(url: &str, prefix: &str) -> Result<()> {
    use deadpool_redis::redis;
    let pool = crate::jobs::redis::pool(url)?;
    let mut c = pool.get().await?;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut c).await?;
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(&keys).query_async(&mut c).await?;
    }
    Ok(())
}
