//! `switchyard bench jobs`: no-op jobs per second end to end (enqueue into
//! the ledger and the queue, lease, claim, run, complete), per backend, with
//! a raw Redis streams loop on the same Redis as the baseline.
//!
//! Each backend runs twice: with 16 producers enqueuing one job per durable
//! commit (`ledger::enqueue`), and with the same producers enqueuing
//! [`BATCH`] jobs per commit (`ledger::enqueue_many`, as a producer of many
//! jobs does). The first is bounded by the producers (each waits for its
//! own durable commit before the next: 16 in flight at a time), the second
//! by the engine.

use std::time::{Duration, Instant};

use deadpool_redis::redis;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::jobs::ledger::{self as jobs, NewJob, DONE, QUEUED, RUNNING};
use crate::state::AppState;

const KIND: &str = "diagnostic.noop";

/// Jobs per commit in the batched phases.
const BATCH: usize = 100;

/// How the producers enqueue: one job per commit, or [`BATCH`].
const MODES: [(usize, &str); 2] = [(1, "1 job/commit"), (BATCH, "100 jobs/commit")];

pub async fn run(config: Config, n: usize) -> Result<()> {
    if !(1..=200_000).contains(&n) {
        return Err(Error::invalid("--jobs must be between 1 and 200000"));
    }
    let dir = std::env::temp_dir().join(format!("switchyard-bench-jobs-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).map_err(Error::internal)?;
    let key_file = dir.join("bench.key").display().to_string();
    println!("switchyard bench jobs: {n} no-op jobs per phase");
    println!("{:<60} {:>10} {:>9}", "phase", "jobs/s", "ratio");

    // Embedded: SQLite file + in-process queue, one process.
    for (batch, mode) in MODES {
        let sqlite = format!("sqlite://{}?mode=rwc", dir.join(format!("bench-{batch}.db")).display());
        let embedded = phase(&super::base_args(&sqlite, None, "bench", &key_file, "all"), n, 0, batch).await?;
        let name = format!("embedded (SQLite, in-process queue, 1 proc), {mode}");
        println!("{name:<60} {embedded:>10.0} {:>9}", "-");
    }

    match (&config.redis_url, config.is_postgres()) {
        (Some(redis_url), true) => {
            let baseline = raw_streams(redis_url, n).await?;
            println!("{:<60} {:>10.0} {:>9.3}", "baseline: raw XADD/XREADGROUP/XACK loop", baseline, 1.0);
            for (batch, mode) in MODES {
                for workers in [1, 2] {
                    let prefix = format!("sy_bench_{}", ulid::Ulid::new().to_string().to_lowercase());
                    let rate = super::on_fresh_database(&config.database_url, async |db: &str| {
                        phase(&super::base_args(db, Some(redis_url), &prefix, &key_file, "api"), n, workers, batch)
                            .await
                    })
                    .await?;
                    let name = format!("redis + postgres, {workers} worker process(es), {mode}");
                    println!("{name:<60} {rate:>10.0} {:>9.3}", rate / baseline);
                    super::wipe(redis_url, &prefix).await?;
                }
            }
        }
        _ => println!("(set --redis-url and a postgres:// --database-url for the Redis phases)"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Starts this process's server with `args` plus `workers` worker child
/// processes, enqueues `n` jobs from 16 tasks, `batch` per commit, and waits
/// until all are done.
async fn phase(args: &[String], n: usize, workers: usize, batch: usize) -> Result<f64> {
    let (server, children) = super::cluster(args, workers).await?;
    let st = server.state.clone();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let st = st.clone();
        let count = n / 16 + usize::from(t < n % 16);
        tasks.push(tokio::spawn(async move {
            let noop =
                || NewJob { kind: KIND.into(), payload: json!({}), workspace_id: None, run_at: None, max_attempts: 3 };
            let mut left = count;
            while left > 0 {
                let take = left.min(batch);
                if take == 1 {
                    jobs::enqueue(&st, noop()).await?;
                } else {
                    jobs::enqueue_many(&st, (0..take).map(|_| noop()).collect()).await?;
                }
                left -= take;
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await.map_err(Error::internal)??;
    }
    let limit = Duration::from_secs(600);
    // Every job is in the ledger now: wait until none is left to run.
    while unfinished(&st).await? > 0 {
        if started.elapsed() > limit {
            return Err(Error::internal("jobs did not finish within 10 minutes"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let done = jobs::count(&st.db, KIND, DONE).await?;
    super::stop_cluster(server, children).await;
    if done != n as u64 {
        return Err(Error::internal(format!("{done} of {n} no-op jobs done (the others failed)")));
    }
    Ok(rate)
}

/// No-op jobs not done yet: read from the `(kind, state)` index, so a poll
/// costs what is left, not what is done.
async fn unfinished(st: &AppState) -> Result<u64> {
    Ok(entity::job::Entity::find()
        .filter(entity::job::Column::Kind.eq(KIND))
        .filter(entity::job::Column::State.is_in([QUEUED, RUNNING]))
        .count(&st.db)
        .await?)
}

/// The baseline: one producer XADDs `n` entries while one consumer reads
/// them with XREADGROUP (COUNT 100) and XACKs each batch.
async fn raw_streams(url: &str, n: usize) -> Result<f64> {
    let pool = crate::jobs::redis::pool(url)?;
    let stream = format!("sy_bench_raw_{}", ulid::Ulid::new());
    let mut c = pool.get().await?;
    let _: () =
        redis::cmd("XGROUP").arg("CREATE").arg(&stream).arg("g").arg("0").arg("MKSTREAM").query_async(&mut c).await?;
    let started = Instant::now();
    let producer = {
        let (pool, stream) = (pool.clone(), stream.clone());
        tokio::spawn(async move {
            let mut c = pool.get().await?;
            for i in 0..n {
                let _: String = redis::cmd("XADD").arg(&stream).arg("*").arg("m").arg(i).query_async(&mut c).await?;
            }
            Ok::<_, Error>(())
        })
    };
    let mut seen = 0;
    while seen < n {
        let reply: Option<Vec<(String, Vec<crate::jobs::redis::Entry>)>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("c")
            .arg("COUNT")
            .arg(100)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query_async(&mut c)
            .await?;
        let ids: Vec<String> = reply.unwrap_or_default().into_iter().flat_map(|(_, e)| e).map(|(id, _)| id).collect();
        if !ids.is_empty() {
            let _: i64 = redis::cmd("XACK").arg(&stream).arg("g").arg(&ids).query_async(&mut c).await?;
            seen += ids.len();
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(Error::internal("raw stream loop took over 5 minutes"));
        }
    }
    producer.await.map_err(Error::internal)??;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _: i64 = redis::cmd("DEL").arg(&stream).query_async(&mut c).await?;
    Ok(rate)
}
