//! `switchyard bench charts`: the console's delivery chart on a busy hub.
//! A server on a fresh PostgreSQL database; `--rows` deliveries, one
//! attempt each, spread evenly over the last 24 hours and written by
//! PostgreSQL itself (`INSERT … SELECT … FROM generate_series`, no client
//! round trip per row). The server's `charts.rollup` job would roll up the
//! closed buckets of that day within a minute; the bench does the same
//! catch-up itself (and times it, and one minute's steady-state run).
//! Then `deliveryTimeline` over GraphQL, timed `--runs` times: the default
//! view (the last hour, per minute), the last day per hour, the same day
//! read from the attempt log alone (no rollups: what they buy).

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::{Error, Result};

pub async fn run(config: Config, rows: u64, runs: usize) -> Result<()> {
    if !config.is_postgres() {
        return Err(Error::invalid("bench charts needs a postgres:// --database-url (it makes a database of its own)"));
    }
    if !(1_000..=20_000_000).contains(&rows) || !(3..=200).contains(&runs) {
        return Err(Error::invalid("--rows must be 1000..=20000000 and --runs 3..=200"));
    }
    let client = reqwest::Client::new();
    let server = super::start_server(&config, &client, "read,write,admin").await?;
    let outcome = measure(&config, &client, &server, rows, runs).await;
    let finished = server.finish().await;
    outcome.and(finished)
}

async fn measure(
    config: &Config,
    client: &reqwest::Client,
    server: &super::ServerChild,
    rows: u64,
    runs: usize,
) -> Result<()> {
    let gql = format!("http://{}/graphql", server.addr);
    let ask = |query: &'static str| {
        let (client, gql, key) = (client.clone(), gql.clone(), server.key.clone());
        async move {
            let resp = client.post(&gql).bearer_auth(&key).json(&json!({ "query": query })).send().await;
            let body: Value = resp.map_err(Error::internal)?.json().await.map_err(Error::internal)?;
            match body.get("errors") {
                Some(e) => Err(Error::internal(format!("GraphQL errors: {e}"))),
                None => Ok(body["data"].clone()),
            }
        }
    };
    let workspace = ask("{ viewer { workspace { id } } }").await?["viewer"]["workspace"]["id"]
        .as_str()
        .ok_or_else(|| Error::internal("no workspace id"))?
        .to_string();
    // Created disabled: the generated deliveries are history, nothing goes out.
    let hook =
        ask("mutation { createWebhook(input: { url: \"http://127.0.0.1:9/hook\", eventTypes: [\"api_key.created\"], \
         enabled: false }) { webhook { id } userErrors { message } } }")
        .await?;
    let webhook = hook["createWebhook"]["webhook"]["id"]
        .as_str()
        .ok_or_else(|| Error::internal(format!("no webhook: {hook}")))?
        .to_string();

    let name = server.postgres.as_ref().map(|(_, n)| n.clone()).ok_or_else(|| Error::internal("no bench database"))?;
    let base = config.database_url.rsplit_once('/').map(|(b, _)| b).ok_or_else(|| Error::invalid("no path"))?;
    // Its statements are slow on purpose (a million rows each): no slow-statement warnings.
    let mut options = sea_orm::ConnectOptions::new(format!("{base}/{name}"));
    options.sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;

    // The bench rolls up the generated day itself, to time it: the server's
    // own run of the job is put off, so it cannot do it first (or at once).
    let put_off = "UPDATE schedule SET next_run_at = now() + interval '1 day' WHERE kind = 'charts.rollup'";
    db.execute_unprepared(put_off).await?;
    println!("switchyard bench charts: {rows} deliveries (one attempt each) over the last 24 h, PostgreSQL");
    let started = Instant::now();
    generate(&db, &workspace, &webhook, rows).await?;
    println!("{:<52} {:>9.1} s", "bulk insert (generate_series) + ANALYZE", started.elapsed().as_secs_f64());

    use crate::services::charts::rollup;
    let started = Instant::now();
    let now = chrono::Utc::now();
    let done = rollup::roll_up(&db, now).await?;
    let took = started.elapsed();
    println!(
        "{:<52} {:>9.1} s  ({} buckets, {} rows)",
        "rollup catch-up of the generated day (charts.rollup)",
        took.as_secs_f64(),
        done.buckets,
        done.rows
    );
    // The job's every-minute run: the one minute closed since.
    let started = Instant::now();
    let done = rollup::roll_up(&db, now + chrono::Duration::seconds(60)).await?;
    println!(
        "{:<52} {:>6.1} ms  ({} bucket, {} rows)",
        "rollup of the next minute (the job's steady state)",
        ms(started.elapsed()),
        done.buckets,
        done.rows
    );

    const HOUR: &str = "{ deliveryTimeline { start succeeded failed p50ResponseTimeMs p99ResponseTimeMs } }";
    const DAY: &str =
        "{ deliveryTimeline(bucket: HOUR, buckets: 24) { start succeeded failed p50ResponseTimeMs p99ResponseTimeMs } }";
    // The last hour holds about rows / 24 attempts: the answer must add up to that.
    let data = ask(HOUR).await?;
    let buckets = data["deliveryTimeline"].as_array().cloned().unwrap_or_default();
    let total: i64 =
        buckets.iter().map(|b| b["succeeded"].as_i64().unwrap_or(0) + b["failed"].as_i64().unwrap_or(0)).sum();
    let expected = rows as i64 / 24;
    if buckets.len() < 59 || (total - expected).abs() > expected / 20 + 100 {
        return Err(Error::internal(format!(
            "the last hour has {} buckets, {total} attempts; {expected} expected",
            buckets.len()
        )));
    }
    println!("last hour: {} buckets, {total} attempts", buckets.len());

    println!("{:<52} {:>9} {:>9} {:>9}", "deliveryTimeline over GraphQL (HTTP)", "p50", "p90", "max");
    let hour = time(runs, || ask(HOUR)).await?;
    report("last hour per minute (the console's chart)", &hour);
    let day = time(runs, || ask(DAY)).await?;
    report("last 24 h per hour (the goal's query)", &day);
    // The same day from the attempt log alone: no rollup marks, so the
    // chart reads every row. Its answer must be the same.
    let rolled = ask(DAY).await?;
    db.execute_unprepared("DELETE FROM delivery_rollup_mark").await?;
    if ask(DAY).await? != rolled {
        return Err(Error::internal("the day read from the log differs from the one read from the rollups"));
    }
    let raw = time(runs.min(10), || ask(DAY)).await?;
    report("last 24 h per hour, from the log alone (no rollups)", &raw);
    rollup::roll_up(&db, now + chrono::Duration::seconds(60)).await?;
    let p50 = day[day.len() / 2];
    println!(
        "\ngoal: the chart over 24 h ≤ 200 ms at p50 → {:.1} ms: {}",
        ms(p50),
        if ms(p50) <= 200.0 { "met" } else { "NOT met" }
    );
    Ok(())
}

/// Writes `rows` deliveries with one attempt each, evenly spread over the
/// last 24 hours: 1 in 16 fails (HTTP 500), response times 20–419 ms with
/// 1 in 97 slow (2–3 s), like a receiver with a long tail.
async fn generate(db: &sea_orm::DatabaseConnection, workspace: &str, webhook: &str, rows: u64) -> Result<()> {
    use sea_orm::{DbBackend, Statement};
    let step_ms = 86_400_000.0 / rows as f64;
    let deliveries = format!(
        "INSERT INTO delivery (id, workspace_id, webhook_id, event_id, event_type, payload, state, attempts, \
           last_status_code, last_error, job_id, created_at, updated_at, delivered_at) \
         SELECT 'dlv_bench' || lpad(g::text, 17, '0'), $1, $2, NULL, 'bench.generated', '{{}}'::json, \
           CASE WHEN g % 16 = 0 THEN 'failed' ELSE 'succeeded' END, 1, \
           CASE WHEN g % 16 = 0 THEN 500 ELSE 200 END, NULL, 'job_bench' || lpad(g::text, 17, '0'), t, t, \
           CASE WHEN g % 16 = 0 THEN NULL ELSE t END \
         FROM (SELECT g, now() - g * interval '{step_ms} milliseconds' AS t FROM generate_series(1, $3::bigint) g) s"
    );
    let attempts = format!(
        "INSERT INTO delivery_attempt (id, workspace_id, delivery_id, webhook_id, attempt, success, status_code, \
           response_time_ms, response_body, request_headers, error, created_at) \
         SELECT 'att_bench' || lpad(g::text, 17, '0'), $1, 'dlv_bench' || lpad(g::text, 17, '0'), $2, 1, \
           g % 16 <> 0, CASE WHEN g % 16 = 0 THEN 500 ELSE 200 END, \
           CASE WHEN g % 97 = 0 THEN 2000 + (g * 7919) % 1000 ELSE 20 + (g * 7919) % 400 END, \
           '', '{{}}'::json, CASE WHEN g % 16 = 0 THEN 'HTTP 500' ELSE NULL END, \
           now() - g * interval '{step_ms} milliseconds' \
         FROM generate_series(1, $3::bigint) g"
    );
    for sql in [deliveries, attempts] {
        let values = [workspace.into(), webhook.into(), (rows as i64).into()];
        db.execute(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    }
    db.execute_unprepared("ANALYZE delivery; ANALYZE delivery_attempt").await?;
    Ok(())
}

/// Runs `f` once to warm up, then `runs` times; the sorted latencies.
async fn time<F, Fut>(runs: usize, f: F) -> Result<Vec<Duration>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Value>>,
{
    f().await?;
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await?;
        all.push(t.elapsed());
    }
    all.sort();
    Ok(all)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(name: &str, sorted: &[Duration]) {
    let at = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    println!("{name:<52} {:>6.1} ms {:>6.1} ms {:>6.1} ms", ms(at(0.5)), ms(at(0.9)), ms(sorted[sorted.len() - 1]));
}
