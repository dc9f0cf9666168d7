//! The worker pool end to end, on both backends (SQLite + in-process queue,
//! PostgreSQL + Redis): jobs run once, retries with backoff, dead letters
//! and requeueing, panics and timeouts, delayed jobs, the sweeper re-ringing
//! a lost doorbell, the scheduler, `/metrics`, the live `queueStatus`
//! subscription, and the graceful drain on shutdown.

use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use switchyard::jobs::ledger::{enqueue, enqueue_many, insert, NewJob, ROWS_PER_INSERT};

use switchyard::auth::Scope;
use switchyard::{Config, Server};

use crate::helpers::{backends, for_each_backend, fresh_database, make_key, Backend, DbGuard, TestApp, WsClient};

const NOOP: &str = "diagnostic.noop";

/// The ledger row of job `id`.
async fn job_row(db: &impl ConnectionTrait, id: &str) -> entity::job::Model {
    entity::job::Entity::find_by_id(id).one(db).await.expect("job row readable").expect("job row exists")
}

/// Polls the ledger (every 50 ms) until job `id` is in `state`; panics with
/// the last row seen after `timeout`.
async fn wait_for_state(app: &TestApp, id: &str, state: &str, timeout: Duration) -> entity::job::Model {
    let deadline = Instant::now() + timeout;
    loop {
        let row = job_row(&app.state.db, id).await;
        if row.state == state {
            return row;
        }
        if Instant::now() >= deadline {
            panic!("[{}] job {id} not `{state}` after {timeout:?}: {row:?}", app.backend);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A delayed job finished no earlier than its run time allows (claims may
/// start up to 500 ms early).
fn assert_not_early(app: &TestApp, row: &entity::job::Model, run_at: chrono::DateTime<Utc>) {
    assert!(
        row.finished_at.unwrap() >= run_at - chrono::Duration::milliseconds(500),
        "[{}] {row:?} vs run_at {run_at}",
        app.backend
    );
}

/// Enqueues a workspace `diagnostic.noop` job.
async fn noop(app: &TestApp, payload: Value, max_attempts: u32) -> entity::job::Model {
    enqueue(
        &app.state,
        NewJob { kind: NOOP.into(), payload, workspace_id: Some(app.workspace_id.clone()), run_at: None, max_attempts },
    )
    .await
    .expect("job enqueued")
}

/// The workspace's events of `event_type` about `subject`, newest first.
async fn job_events(app: &TestApp, event_type: &str, subject: &str) -> Vec<Value> {
    let data = app
        .gql(
            &app.owner_key,
            "query($f: EventFilterInput) { events(first: 100, filter: $f) {
               edges { node { id type actor subjectId data } } } }",
            json!({ "f": { "eventTypes": [event_type] } }),
        )
        .await;
    data["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .filter(|n| n["subjectId"] == subject)
        .collect()
}

/// The entry for `diagnostic.noop` in a `queueStatus` payload.
fn noop_status(status: &Value) -> Value {
    status["kinds"]
        .as_array()
        .expect("kinds is a list")
        .iter()
        .find(|k| k["kind"] == NOOP)
        .cloned()
        .unwrap_or_else(|| panic!("no {NOOP} in {status}"))
}

const QUEUE_STATUS: &str = "{ queueStatus { backend liveWorkers
    kinds { kind pending delayed inFlight dead doneLastMinute failedLastMinute } } }";

const DEAD_JOBS: &str = "query($kind: String) { deadJobs(kind: $kind, first: 100) {
    edges { node { id kind status attempts maxAttempts lastError finishedAt } } } }";

const REQUEUE: &str = "mutation($ids: [ID!]) { requeueDeadJobs(input: { ids: $ids }) {
    requeued jobs { id status attempts } userErrors { field code } } }";

fn expected_queue_backend(app: &TestApp) -> &'static str {
    if app.state.redis.is_some() {
        "redis"
    } else {
        "embedded"
    }
}

#[tokio::test]
async fn many_jobs_each_run_exactly_once() {
    for_each_backend(&[], |app: TestApp| async move {
        let mut ids = Vec::new();
        for i in 0..30 {
            ids.push(noop(&app, json!({ "sleep_ms": (i % 5) * 20 }), 3).await.id);
        }
        let mut owners = std::collections::BTreeSet::new();
        for id in &ids {
            let row = wait_for_state(&app, id, "done", Duration::from_secs(15)).await;
            assert_eq!(row.attempts, 1, "[{}] ran more than once: {row:?}", app.backend);
            assert!(row.finished_at.is_some(), "[{}] {row:?}", app.backend);
            assert!(row.last_error.is_none(), "[{}] {row:?}", app.backend);
            let owner = row
                .lease_owner
                .clone()
                .unwrap_or_else(|| panic!("[{}] done job without lease_owner: {row:?}", app.backend));
            assert!(owner.starts_with('w'), "[{}] worker id {owner}", app.backend);
            owners.insert(owner);
        }
        // One server, one worker pool.
        assert_eq!(owners.len(), 1, "[{}] {owners:?}", app.backend);
        // Still done a moment later: no duplicate doorbell re-ran anything.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for id in &ids {
            let row = job_row(&app.state.db, id).await;
            assert_eq!((row.state.as_str(), row.attempts), ("done", 1), "[{}] {row:?}", app.backend);
        }
    })
    .await;
}

#[tokio::test]
async fn failing_job_is_retried_until_it_succeeds() {
    for_each_backend(&[], |app: TestApp| async move {
        let job = noop(&app, json!({ "fail_attempts": 2, "retry_delay_ms": 200 }), 5).await;
        let row = wait_for_state(&app, &job.id, "done", Duration::from_secs(15)).await;
        assert_eq!(row.attempts, 3, "[{}] {row:?}", app.backend);
        assert_eq!(row.max_attempts, 5);
        assert!(row.last_error.is_none(), "[{}] cleared on success: {row:?}", app.backend);
        // Two failed attempts 200 ms apart before the third succeeded.
        let took = row.finished_at.unwrap() - row.created_at;
        assert!(
            took >= chrono::Duration::milliseconds(350),
            "[{}] retries did not wait their delay: {took}",
            app.backend
        );

        let events = job_events(&app, "job.completed", &job.id).await;
        assert_eq!(events.len(), 1, "[{}] {events:?}", app.backend);
        let e = &events[0];
        assert_eq!(e["subjectId"], job.id.as_str());
        assert_eq!(e["actor"], "system");
        assert_eq!(e["data"]["kind"], NOOP, "{e}");
        assert_eq!(e["data"]["attempts"], 3, "{e}");
        assert!(job_events(&app, "job.failed", &job.id).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn job_out_of_attempts_is_dead_listed_and_can_be_requeued() {
    for_each_backend(&[], |app: TestApp| async move {
        let job = noop(&app, json!({ "fail_attempts": 10, "retry_delay_ms": 100 }), 2).await;
        let dead = wait_for_state(&app, &job.id, "dead", Duration::from_secs(15)).await;
        assert_eq!(dead.attempts, 2, "[{}] {dead:?}", app.backend);
        // The handler's message (the worker stores the error's Display,
        // which for an internal error is prefixed "internal error: ").
        assert!(
            dead.last_error.as_deref().is_some_and(|e| e.ends_with("diagnostic failure on attempt 2")),
            "[{}] {dead:?}",
            app.backend
        );
        let first_finish = dead.finished_at.expect("dead jobs have finished_at");

        let failed = job_events(&app, "job.failed", &job.id).await;
        assert_eq!(failed.len(), 1, "[{}] {failed:?}", app.backend);
        assert_eq!(failed[0]["data"]["error"].as_str(), dead.last_error.as_deref(), "[{}] {failed:?}", app.backend);
        assert_eq!(failed[0]["data"]["attempts"], 2);
        assert!(job_events(&app, "job.completed", &job.id).await.is_empty());

        // Listed over GraphQL for the owner.
        let list = app.gql(&app.owner_key, DEAD_JOBS, json!({ "kind": NOOP })).await;
        let nodes: Vec<Value> =
            list["deadJobs"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
        let node = nodes
            .iter()
            .find(|n| n["id"] == job.id.as_str())
            .unwrap_or_else(|| panic!("[{}] {} not in {list}", app.backend, job.id));
        assert_eq!(node["status"], "DEAD");
        assert_eq!(node["attempts"], 2);
        assert_eq!(node["maxAttempts"], 2);
        assert_eq!(node["lastError"].as_str(), dead.last_error.as_deref());
        let other_kind = app.gql(&app.owner_key, DEAD_JOBS, json!({ "kind": "maintenance.prune" })).await;
        assert_eq!(other_kind["deadJobs"]["edges"], json!([]), "[{}] kind filter", app.backend);

        // The queue figures show it.
        let status = app.gql(&app.owner_key, QUEUE_STATUS, json!({})).await;
        assert_eq!(status["queueStatus"]["backend"], expected_queue_backend(&app));
        let k = noop_status(&status["queueStatus"]);
        assert!(k["dead"].as_u64().unwrap() >= 1, "[{}] {status}", app.backend);
        assert!(k["failedLastMinute"].as_u64().unwrap() >= 1, "[{}] {status}", app.backend);

        // Owner only.
        let (_, collab) = app.collaborator_key("collab-jobs@example.com").await;
        app.gql_err(Some(&collab), QUEUE_STATUS, json!({}), "FORBIDDEN").await;
        app.gql_err(Some(&collab), DEAD_JOBS, json!({}), "FORBIDDEN").await;
        app.gql_err(Some(&collab), REQUEUE, json!({ "ids": [job.id] }), "FORBIDDEN").await;
        let still = job_row(&app.state.db, &job.id).await;
        assert_eq!(still.state, "dead", "[{}] a collaborator requeued it", app.backend);

        // Requeue: it runs again from fresh attempts and dies again.
        let none = app.gql(&app.owner_key, REQUEUE, json!({ "ids": [] })).await;
        assert_eq!(
            none["requeueDeadJobs"],
            json!({ "requeued": 0, "jobs": [], "userErrors": [{ "field": ["input", "ids"], "code": "INVALID" }] }),
            "[{}]",
            app.backend
        );
        let out = app.gql(&app.owner_key, REQUEUE, json!({ "ids": [job.id] })).await;
        assert_eq!(out["requeueDeadJobs"]["requeued"], 1, "[{}] {out}", app.backend);
        assert_eq!(out["requeueDeadJobs"]["userErrors"], json!([]), "[{}] {out}", app.backend);
        assert_eq!(
            out["requeueDeadJobs"]["jobs"],
            json!([{ "id": job.id, "status": "QUEUED", "attempts": 0 }]),
            "[{}]",
            app.backend
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        let again = loop {
            let row = job_row(&app.state.db, &job.id).await;
            if row.state == "dead" && row.finished_at.is_some_and(|t| t > first_finish) {
                break row;
            }
            assert!(Instant::now() < deadline, "[{}] requeued job did not die again: {row:?}", app.backend);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(again.attempts, 2, "[{}] {again:?}", app.backend);
        assert_eq!(again.last_error, dead.last_error, "[{}]", app.backend);
        let failed = job_events(&app, "job.failed", &job.id).await;
        assert_eq!(failed.len(), 2, "[{}] {failed:?}", app.backend);
    })
    .await;
}

#[tokio::test]
async fn panicking_job_is_recorded_and_retried() {
    for_each_backend(&[], |app: TestApp| async move {
        // Panics on the first attempt, succeeds on the second.
        let job = noop(&app, json!({ "panic": true, "fail_attempts": 1, "retry_delay_ms": 100 }), 3).await;
        let row = wait_for_state(&app, &job.id, "done", Duration::from_secs(15)).await;
        assert_eq!(row.attempts, 2, "[{}] {row:?}", app.backend);

        // Panics on every attempt, one attempt allowed: the panic is what is kept.
        let job = noop(&app, json!({ "panic": true, "fail_attempts": 5 }), 1).await;
        let row = wait_for_state(&app, &job.id, "dead", Duration::from_secs(15)).await;
        assert_eq!(row.attempts, 1, "[{}] {row:?}", app.backend);
        let err = row.last_error.clone().unwrap_or_default();
        assert!(err.starts_with("panicked: diagnostic panic on attempt 1"), "[{}] {row:?}", app.backend);

        // The pool survived the panics.
        let after = noop(&app, json!({}), 1).await;
        wait_for_state(&app, &after.id, "done", Duration::from_secs(15)).await;
    })
    .await;
}

#[tokio::test]
async fn job_over_its_time_limit_fails() {
    for_each_backend(&[], |app: TestApp| async move {
        let job = noop(&app, json!({ "sleep_ms": 3000, "timeout_ms": 200 }), 1).await;
        let row = wait_for_state(&app, &job.id, "dead", Duration::from_secs(15)).await;
        assert_eq!(row.attempts, 1, "[{}] {row:?}", app.backend);
        let err = row.last_error.clone().unwrap_or_default();
        assert!(err.starts_with("timed out after"), "[{}] {row:?}", app.backend);
        // Cut short, not slept through.
        let took = row.finished_at.unwrap() - row.created_at;
        assert!(
            took < chrono::Duration::milliseconds(2500),
            "[{}] the timeout did not stop the run: {took}",
            app.backend
        );
    })
    .await;
}

/// `enqueue_many` past one INSERT's worth of rows: every job is written
/// and rung (the sweeper's grace is far longer than the test, so a missing
/// doorbell would leave its job queued), each runs once, and a delayed one
/// among them still waits for its time.
#[tokio::test]
async fn jobs_enqueued_together_each_run_once_and_a_delayed_one_waits() {
    for_each_backend(&["--sweep-grace-seconds", "600"], |app: TestApp| async move {
        let run_at = Utc::now() + chrono::Duration::seconds(3);
        let job =
            |run_at| NewJob { kind: NOOP.into(), payload: json!({}), workspace_id: None, run_at, max_attempts: 1 };
        let mut new: Vec<NewJob> = (0..ROWS_PER_INSERT + 20).map(|_| job(None)).collect();
        new.insert(7, job(Some(run_at)));
        let rows = enqueue_many(&app.state, new).await.expect("enqueued");
        assert_eq!(rows.len(), ROWS_PER_INSERT + 21, "[{}]", app.backend);
        let delayed = rows.iter().find(|r| r.run_at == run_at).expect("the delayed row").id.clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        for row in rows.iter().filter(|r| r.id != delayed) {
            let left = deadline.saturating_duration_since(Instant::now());
            let done = wait_for_state(&app, &row.id, "done", left).await;
            assert_eq!(done.attempts, 1, "[{}] {done:?}", app.backend);
        }
        let early = job_row(&app.state.db, &delayed).await;
        if Utc::now() < run_at - chrono::Duration::milliseconds(500) {
            assert_eq!(early.state, "queued", "[{}] ran before its time: {early:?}", app.backend);
        }
        let done = wait_for_state(&app, &delayed, "done", Duration::from_secs(10)).await;
        assert_not_early(&app, &done, run_at);
    })
    .await;
}

/// Bookkeeping (claims, completions, attempt and call logs) commits without
/// waiting for the WAL flush on PostgreSQL; everything else keeps waiting.
#[tokio::test]
async fn only_bookkeeping_commits_without_waiting_for_the_disk() {
    for_each_backend(&[], |app: TestApp| async move {
        if app.state.db.get_database_backend() != sea_orm::DbBackend::Postgres {
            return;
        }
        let setting = |db: &sea_orm::DatabaseConnection| {
            let db = db.clone();
            async move {
                let show = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SHOW synchronous_commit");
                let row = db.query_one(show).await.expect("SHOW").expect("a row");
                row.try_get::<String>("", "synchronous_commit").expect("the setting")
            }
        };
        assert_eq!(setting(&app.state.bookkeeping).await, "off");
        assert_eq!(setting(&app.state.writer).await, "on");
        assert_eq!(setting(&app.state.db).await, "on");
    })
    .await;
}

#[tokio::test]
async fn delayed_job_waits_for_its_run_time() {
    for_each_backend(&[], |app: TestApp| async move {
        let run_at = Utc::now() + chrono::Duration::seconds(2);
        let job = enqueue(
            &app.state,
            NewJob { kind: NOOP.into(), payload: json!({}), workspace_id: None, run_at: Some(run_at), max_attempts: 1 },
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let early = job_row(&app.state.db, &job.id).await;
        assert_eq!(
            (early.state.as_str(), early.attempts),
            ("queued", 0),
            "[{}] ran before its time: {early:?}",
            app.backend
        );
        let row = wait_for_state(&app, &job.id, "done", Duration::from_secs(4)).await;
        assert_eq!(row.attempts, 1, "[{}] {row:?}", app.backend);
        assert_not_early(&app, &row, run_at);
    })
    .await;
}

#[tokio::test]
async fn sweeper_rings_for_a_job_nobody_queued() {
    for_each_backend(&[], |app: TestApp| async move {
        let job = insert(
            &app.state.writer,
            app.state.sweep_grace(),
            NewJob {
                kind: NOOP.into(),
                payload: json!({}),
                workspace_id: Some(app.workspace_id.clone()),
                run_at: None,
                max_attempts: 1,
            },
        )
        .await
        .unwrap();
        // No doorbell: nothing runs it before the sweep grace (2 s) passes.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let early = job_row(&app.state.db, &job.id).await;
        assert_eq!((early.state.as_str(), early.attempts), ("queued", 0), "[{}] {early:?}", app.backend);
        let row = wait_for_state(&app, &job.id, "done", Duration::from_secs(6)).await;
        assert_eq!(row.attempts, 1, "[{}] {row:?}", app.backend);
    })
    .await;
}

#[tokio::test]
async fn scheduler_fires_the_prune_schedule_on_start() {
    for_each_backend(&[], |app: TestApp| async move {
        let deadline = Instant::now() + Duration::from_secs(15);
        let job = loop {
            let rows = entity::job::Entity::find()
                .filter(entity::job::Column::Kind.eq("maintenance.prune"))
                .all(&app.state.db)
                .await
                .unwrap();
            if let Some(done) = rows.iter().find(|r| r.state == "done") {
                break done.clone();
            }
            assert!(Instant::now() < deadline, "[{}] no done prune job: {rows:?}", app.backend);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(job.workspace_id, None, "[{}] a system job", app.backend);
        assert_eq!(job.max_attempts, 3);
        let schedule = entity::schedule::Entity::find_by_id("maintenance.prune")
            .one(&app.state.db)
            .await
            .unwrap()
            .expect("schedule row");
        assert_eq!(schedule.last_job_id.as_deref(), Some(job.id.as_str()));
        assert_eq!(schedule.every_seconds, 3600);
        assert!(
            schedule.next_run_at > Utc::now() + chrono::Duration::minutes(50),
            "[{}] next run pushed an hour out: {schedule:?}",
            app.backend
        );
        // Fired once, not on every sweep.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let count = entity::job::Entity::find()
            .filter(entity::job::Column::Kind.eq("maintenance.prune"))
            .all(&app.state.db)
            .await
            .unwrap()
            .len();
        assert_eq!(count, 1, "[{}]", app.backend);
    })
    .await;
}

/// The value of the sample line that starts with `series ` (name and labels).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_jobs_requests_and_queue_depth() {
    for_each_backend(&[], |app: TestApp| async move {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(noop(&app, json!({}), 1).await.id);
        }
        let failing = noop(&app, json!({ "fail_attempts": 1 }), 1).await;
        for id in &ids {
            wait_for_state(&app, id, "done", Duration::from_secs(15)).await;
        }
        wait_for_state(&app, &failing.id, "dead", Duration::from_secs(15)).await;
        app.gql(&app.owner_key, QUEUE_STATUS, json!({})).await;

        let get = || async {
            let resp = app.client.get(format!("{}/metrics", app.url)).send().await.unwrap();
            assert_eq!(resp.status(), 200, "[{}]", app.backend);
            let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
            assert!(ct.starts_with("application/openmetrics-text"), "[{}] {ct}", app.backend);
            resp.text().await.unwrap()
        };
        let body = get().await;
        let done = sample(&body, "switchyard_jobs_total{kind=\"diagnostic.noop\",outcome=\"done\"}");
        assert!(done.is_some_and(|v| v >= 3.0), "[{}] {body}", app.backend);
        let failed = sample(&body, "switchyard_jobs_total{kind=\"diagnostic.noop\",outcome=\"failed\"}");
        assert!(failed.is_some_and(|v| v >= 1.0), "[{}] {body}", app.backend);
        assert!(
            body.lines().any(|l| l.starts_with("switchyard_http_requests_total{")
                && l.contains("method=\"POST\"")
                && l.contains("route=\"/graphql\"")
                && l.contains("status=\"200\"")),
            "[{}] {body}",
            app.backend
        );
        assert!(
            sample(&body, "switchyard_queue_pending{kind=\"diagnostic.noop\"}").is_some(),
            "[{}] {body}",
            app.backend
        );
        assert!(
            sample(&body, "switchyard_queue_dead{kind=\"diagnostic.noop\"}").is_some_and(|v| v >= 1.0),
            "[{}] {body}",
            app.backend
        );
        assert!(sample(&body, "switchyard_live_workers").is_some_and(|v| v >= 1.0), "[{}] {body}", app.backend);
        assert!(body.trim_end().ends_with("# EOF"), "[{}] OpenMetrics ends with # EOF", app.backend);
        // The scrape itself is counted, under its route.
        let body = get().await;
        assert!(
            body.lines().any(|l| l.starts_with("switchyard_http_requests_total{") && l.contains("route=\"/metrics\"")),
            "[{}] {body}",
            app.backend
        );
    })
    .await;
}

/// The `queueStatus` payload of a graphql-transport-ws message.
fn status_of(msg: &Value) -> Value {
    assert_eq!(msg["type"], "next", "{msg}");
    assert!(msg["payload"].get("errors").is_none(), "{msg}");
    msg["payload"]["data"]["queueStatus"].clone()
}

const SUBSCRIBE_STATUS: &str =
    "subscription { queueStatus { backend liveWorkers at kinds { kind pending doneLastMinute } } }";

#[tokio::test]
async fn queue_status_subscription_streams_updates() {
    for_each_backend(&[], |app: TestApp| async move {
        let auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        ws.subscribe("q", SUBSCRIBE_STATUS, json!({})).await;
        let first = ws
            .next_json_within(Duration::from_secs(2))
            .await
            .unwrap_or_else(|| panic!("[{}] no status at once", app.backend));
        let first = status_of(&first);
        assert_eq!(first["backend"], expected_queue_backend(&app), "{first}");
        assert!(first["liveWorkers"].as_u64().unwrap() >= 1, "[{}] {first}", app.backend);
        let done0 = noop_status(&first)["doneLastMinute"].as_u64().unwrap();

        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(noop(&app, json!({}), 1).await.id);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut last_at = first["at"].as_str().unwrap().to_string();
        let mut updates = 0;
        loop {
            let msg = ws.next_json().await.unwrap_or_else(|| panic!("[{}] the status stream stopped", app.backend));
            let status = status_of(&msg);
            let at = status["at"].as_str().unwrap().to_string();
            assert!(at >= last_at, "[{}] {at} after {last_at}", app.backend);
            last_at = at;
            updates += 1;
            if noop_status(&status)["doneLastMinute"].as_u64().unwrap() >= done0 + 5 {
                break;
            }
            assert!(Instant::now() < deadline, "[{}] doneLastMinute never grew by 5: {status}", app.backend);
        }
        assert!(updates >= 1);

        // Owner only, here too.
        let (_, collab) = app.collaborator_key("collab-ws@example.com").await;
        let auth = json!({ "Authorization": format!("Bearer {collab}") });
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        ws.subscribe("q", SUBSCRIBE_STATUS, json!({})).await;
        let msg = ws.next_json().await.unwrap_or_else(|| panic!("[{}] no answer for the collaborator", app.backend));
        let code = match msg["type"].as_str() {
            Some("error") => msg["payload"][0]["extensions"]["code"].clone(),
            Some("next") => msg["payload"]["errors"][0]["extensions"]["code"].clone(),
            _ => Value::Null,
        };
        assert_eq!(code, "FORBIDDEN", "[{}] {msg}", app.backend);
    })
    .await;
}

/// Like `TestApp::spawn`, with a shutdown grace period of `grace` seconds.
/// (`TestApp::spawn` already passes `--shutdown-grace-seconds`, and clap
/// rejects the flag given twice, so extra args cannot override it.)
async fn spawn_with_grace(backend: &Backend, grace: u64) -> (TestApp, Server, DbGuard, tempfile::TempDir) {
    let (db_url, guard) = fresh_database(backend).await;
    let key_dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db_url,
        "--secret-key-file",
        &key_dir.path().join("secret.key").display().to_string(),
        "--database-max-connections",
        "5",
        "--shutdown-grace-seconds",
        &grace.to_string(),
        "--sweep-interval-seconds",
        "1",
        "--sweep-grace-seconds",
        "2",
        "--visibility-timeout-seconds",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some((url, prefix)) = &guard.redis {
        args.extend(["--redis-url".into(), url.clone(), "--redis-prefix".into(), prefix.clone()]);
    }
    let server = switchyard::start(Config::from_args(args).unwrap()).await.expect("server starts");
    let state = server.state.clone();
    let owner = entity::user::Entity::find().one(&state.db).await.unwrap().expect("owner");
    let ws = entity::workspace::Entity::find().one(&state.db).await.unwrap().expect("workspace");
    let (_, owner_key) = make_key(&state, &ws.id, &owner.id, &Scope::ALL).await;
    let app = TestApp {
        url: format!("http://{}", server.addr),
        metrics_addr: server.metrics_addr,
        state,
        client: reqwest::Client::new(),
        owner_key,
        owner_id: owner.id,
        workspace_id: ws.id,
        setup_url: server.setup_url.clone(),
        backend: format!("{backend:?}").split('(').next().unwrap_or("?").to_string(),
    };
    (app, server, guard, key_dir)
}

/// Job `id` as the ledger holds it after the server stopped (its pools are
/// closed, so over a fresh connection); then drops the test database.
async fn row_after_stop(app: &TestApp, guard: DbGuard, id: &str) -> entity::job::Model {
    let db = Database::connect(app.state.config.database_url.as_str()).await.unwrap();
    let row = job_row(&db, id).await;
    db.close().await.ok();
    guard.cleanup().await;
    row
}

#[tokio::test]
async fn shutdown_lets_running_jobs_finish_within_the_grace_period() {
    for backend in backends() {
        // Grace period 5 s; the job needs 800 ms.
        let (app, server, guard) = TestApp::spawn(&backend, &[]).await;
        let job = noop(&app, json!({ "sleep_ms": 800 }), 3).await;
        wait_for_state(&app, &job.id, "running", Duration::from_secs(15)).await;
        server.stop().await;
        let row = row_after_stop(&app, guard, &job.id).await;
        assert_eq!((row.state.as_str(), row.attempts), ("done", 1), "[{}] not drained: {row:?}", app.backend);
    }
}

#[tokio::test]
async fn shutdown_hands_back_jobs_that_outlive_the_grace_period() {
    for backend in backends() {
        // Grace period 1 s; the job needs 20 s.
        let (app, server, guard, _key_dir) = spawn_with_grace(&backend, 1).await;
        let job = noop(&app, json!({ "sleep_ms": 20000 }), 3).await;
        wait_for_state(&app, &job.id, "running", Duration::from_secs(15)).await;
        let stopping = Instant::now();
        server.stop().await;
        let took = stopping.elapsed();
        let row = row_after_stop(&app, guard, &job.id).await;
        assert!(took < Duration::from_secs(5), "[{}] stop waited for the job: {took:?}", app.backend);
        // Queued again, due now, and the interrupted attempt not counted.
        assert_eq!(
            (row.state.as_str(), row.attempts, row.lease_owner.as_deref()),
            ("queued", 0, None),
            "[{}] not handed back: {row:?}",
            app.backend
        );
    }
}

/// The index details of PostgreSQL's plan for `id IN (ids) AND (queued and
/// due, or running with its lease out)`, the shape of a claim, with the
/// state compared as `state` says.
async fn claim_plan(
    db: &sea_orm::DatabaseConnection,
    ids: &[String],
    state: impl Fn(&'static str) -> sea_orm::sea_query::SimpleExpr,
) -> String {
    use sea_orm::{Condition, QueryTrait, Statement};
    let now = Utc::now();
    let q = entity::job::Entity::find()
        .filter(entity::job::Column::Id.is_in(ids.iter().cloned()))
        .filter(
            Condition::any()
                .add(Condition::all().add(state("queued")).add(entity::job::Column::RunAt.lte(now)))
                .add(Condition::all().add(state("running")).add(entity::job::Column::VisibleAt.lte(now))),
        )
        .build(sea_orm::DbBackend::Postgres);
    let explain = Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        format!("EXPLAIN {}", q.sql),
        q.values.map(|v| v.0).unwrap_or_default(),
    );
    let rows = db.query_all(explain).await.expect("plan");
    rows.iter().map(|r| r.try_get::<String>("", "QUERY PLAN").expect("plan line")).collect::<Vec<_>>().join("\n")
}

/// PostgreSQL: the ledger's filters beside a list of ids look the ids up by
/// the primary key even when the statistics, taken while every job was
/// done, know nothing of the thousands queued since (a burst on a new
/// database). A plain equality reads the state index instead, that is
/// every queued job's entry, for each claim.
#[tokio::test]
async fn a_claim_on_postgresql_looks_its_ids_up_by_key_whatever_the_statistics_say() {
    use migration::MigratorTrait;
    let Some(backend) = backends().into_iter().find(|b| matches!(b, Backend::Postgres(_))) else { return };
    let (url, guard) = fresh_database(&backend).await;
    let db = Database::connect(url.as_str()).await.expect("connect");
    migration::Migrator::up(&db, None).await.expect("migrations");
    let rows = |prefix: &str, state: &str, n: u32| {
        format!(
            "INSERT INTO job (id, kind, payload, state, attempts, max_attempts, run_at, visible_at, created_at, \
             updated_at) SELECT '{prefix}' || i, '{NOOP}', '{{}}', '{state}', 0, 1, now(), now(), now(), now() \
             FROM generate_series(1, {n}) AS i"
        )
    };
    db.execute_unprepared(&rows("job_done_", "done", 2_000)).await.expect("done jobs");
    db.execute_unprepared("ANALYZE job").await.expect("analyze");
    db.execute_unprepared(&rows("job_queued_", "queued", 20_000)).await.expect("queued jobs");
    let ids: Vec<String> = (1..=50).map(|i| format!("job_queued_{i}")).collect();

    let plain = claim_plan(&db, &ids, |s| entity::job::Column::State.eq(s)).await;
    assert!(plain.contains("ix_job_state_visible"), "the trap this guards against is gone?\n{plain}");
    let worded = claim_plan(&db, &ids, |s| switchyard::db::eq_beside_ids(&db, entity::job::Column::State, s)).await;
    assert!(worded.contains("job_pkey"), "{worded}");
    assert!(!worded.contains("ix_job_"), "{worded}");
    db.close().await.expect("close");
    guard.cleanup().await;
}
