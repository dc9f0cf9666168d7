//! The data API under concurrent load and across a crash: requests that
//! share a group commit each get their own answer (202, 404 or 429), the
//! monthly quota holds exactly, every accepted record is processed, and
//! records accepted by a process killed with SIGKILL are processed by the
//! next one.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use switchyard::Config;
use tokio::process::Command;

use crate::data::{call, processed, setup, ORDER};
use crate::helpers::{backends, for_each_backend, server_args, TestApp};

/// Fires `n` POSTs at once; returns each answer.
async fn burst(app: &TestApp, key: &str, n: usize) -> Vec<(u16, Value)> {
    let calls = (0..n).map(|_| call(app, "POST", "/api/v1/data/orders", Some(key), Some(ORDER), "application/json"));
    futures_util::future::join_all(calls).await
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_the_quota_holds_exactly() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let (endpoint, key, _) = setup(&app, json!({ "monthlyQuota": 25 })).await;
        // 40 creates and 5 replaces of records that do not exist, all at once.
        let missing = (0..5).map(|i| {
            let path = format!("/api/v1/data/orders/rec_01ZZZZZZZZZZZZZZZZZZZZZZZ{i}");
            let app = app.clone();
            let key = key.clone();
            async move { call(&app, "PUT", &path, Some(&key), Some(ORDER), "application/json").await }
        });
        let (creates, replaces) = tokio::join!(burst(&app, &key, 40), futures_util::future::join_all(missing));
        for (s, body) in &replaces {
            assert_eq!(
                (*s, &body["success"], &body["error"]),
                (404, &json!(false), &json!("Record not found")),
                "[{b}]"
            );
        }
        let accepted: Vec<String> = creates
            .iter()
            .filter(|(s, _)| *s == 202)
            .map(|(_, body)| body["id"].as_str().unwrap().to_string())
            .collect();
        let refused: Vec<&Value> = creates.iter().filter(|(s, _)| *s == 429).map(|(_, body)| body).collect();
        assert_eq!(accepted.len(), 25, "[{b}] exactly the quota is accepted: {creates:?}");
        assert_eq!(refused.len(), 15, "[{b}] the rest is refused: {creates:?}");
        assert!(
            refused.iter().all(|r| r["success"] == false && r["error"].as_str().unwrap().contains("quota")),
            "[{b}]"
        );
        assert_eq!(accepted.iter().collect::<BTreeSet<_>>().len(), 25, "[{b}] every id is distinct");
        // Refused changes wrote nothing and counted nothing.
        let q = "query($id: ID!) { dataEndpoint(id: $id) { usageThisMonth } records { totalCount } }";
        let v = app.gql(&app.owner_key, q, json!({ "id": endpoint })).await;
        assert_eq!(v["dataEndpoint"]["usageThisMonth"], 25, "[{b}] {v}");
        assert_eq!(v["records"]["totalCount"], 25, "[{b}] {v}");
        // Every accepted record is processed, once, with its own body (read
        // through GraphQL: a REST read would count against the spent quota).
        let started = Instant::now();
        let q = "{ records(first: 100, filter: { status: PROCESSED }) { edges { node { id data } } } }";
        let done = loop {
            let v = app.gql(&app.owner_key, q, json!({})).await;
            let edges = v["records"]["edges"].as_array().unwrap().clone();
            if edges.len() == 25 {
                break edges;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "[{b}] only {} processed", edges.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(done.iter().all(|e| e["node"]["data"]["order_id"] == "ORD-2024-001"), "[{b}] {done:?}");
        let live = app.state.db.clone();
        let events = entity::event::Entity::find()
            .filter(entity::event::Column::EventType.eq("record.created"))
            .all(&live)
            .await
            .unwrap();
        let subjects: BTreeSet<_> = events.iter().filter_map(|e| e.subject_id.clone()).collect();
        assert_eq!(events.len(), 25, "[{b}] one record.created per record");
        assert_eq!(subjects, accepted.iter().cloned().collect(), "[{b}]");
    })
    .await;
}

#[tokio::test]
async fn records_accepted_just_before_a_kill_are_processed_after_restart() {
    for backend in backends() {
        // Set up the endpoint and key, then hand the database to a real
        // process that accepts records and runs no jobs.
        let (app, server, guard) = TestApp::spawn(&backend, &["--role", "api"]).await;
        let b = app.backend.clone();
        let (_, key, _) = setup(&app, json!({})).await;
        let cfg = app.state.config.clone();
        server.stop().await;

        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let mut victim = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("serve")
            .args(server_args(&cfg, "api", &listen))
            .env("SWITCHYARD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("server binary starts");
        let url = format!("http://{listen}");
        let started = Instant::now();
        while app.client.get(format!("{url}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
            assert!(started.elapsed() < Duration::from_secs(20), "[{b}] the server binary never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let remote = TestApp { url: url.clone(), ..app.clone() };
        let answers = burst(&remote, &key, 30).await;
        assert!(answers.iter().all(|(s, _)| *s == 202), "[{b}] {answers:?}");
        victim.start_kill().unwrap(); // SIGKILL, right after the last 202: no drain
        let _ = victim.wait().await;
        let ids: Vec<String> = answers.iter().map(|(_, a)| a["id"].as_str().unwrap().to_string()).collect();

        // The next process (jobs included) finds them in the ledger.
        let server2 = switchyard::start(Config::from_args(server_args(&cfg, "all", "127.0.0.1:0")).unwrap())
            .await
            .expect("restart");
        let app2 = TestApp { url: format!("http://{}", server2.addr), state: server2.state.clone(), ..app.clone() };
        for id in &ids {
            let r = processed(&app2, &key, id, "processed").await;
            assert_eq!(r["data"]["amount"], 45000, "[{b}] {r}");
        }
        // No job had started, so the batches shared one waiting job (two
        // at most: PostgreSQL runs two group commits at once).
        // A job's records are committed before the job is marked done.
        let started = Instant::now();
        let jobs = loop {
            let jobs = entity::job::Entity::find()
                .filter(entity::job::Column::Kind.eq("record.process"))
                .all(&app2.state.db)
                .await
                .unwrap();
            if jobs.iter().all(|j| j.state == "done") || started.elapsed() > Duration::from_secs(30) {
                break jobs;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!((1..=2).contains(&jobs.len()), "[{b}] {} processing jobs for 30 records", jobs.len());
        assert!(jobs.iter().all(|j| j.state == "done" && j.attempts == 1), "[{b}] {jobs:?}");
        server2.stop().await;
        guard.cleanup().await;
    }
}

#[tokio::test]
async fn a_job_of_many_chunks_applies_every_record_once_in_order() {
    for backend in backends() {
        // No jobs run while the records arrive, so they pile up in one or
        // two waiting jobs, each far more than one chunk (500 records on
        // PostgreSQL, 200 on SQLite).
        let (app, server, guard) = TestApp::spawn(&backend, &["--role", "api"]).await;
        let b = app.backend.clone();
        let (_, key, _) = setup(&app, json!({})).await;
        let mut ids = BTreeSet::new();
        for _ in 0..12 {
            for (s, body) in burst(&app, &key, 100).await {
                assert_eq!(s, 202, "[{b}] {body}");
                ids.insert(body["id"].as_str().unwrap().to_string());
            }
        }
        let cfg = app.state.config.clone();
        server.stop().await;
        let worker = switchyard::start(Config::from_args(server_args(&cfg, "all", "127.0.0.1:0")).unwrap())
            .await
            .expect("start with jobs");
        let started = Instant::now();
        // A job's records are committed before the job is marked done, so
        // wait for both.
        let (records, jobs) = loop {
            let records = entity::record::Entity::find().all(&worker.state.db).await.unwrap();
            let jobs = entity::job::Entity::find()
                .filter(entity::job::Column::Kind.eq("record.process"))
                .all(&worker.state.db)
                .await
                .unwrap();
            if records.iter().all(|r| r.state == "processed") && jobs.iter().all(|j| j.state == "done") {
                break (records, jobs);
            }
            assert!(started.elapsed() < Duration::from_secs(60), "[{b}] not every record was processed: {jobs:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(records.iter().map(|r| r.id.clone()).collect::<BTreeSet<_>>(), ids, "[{b}]");
        assert!(records.iter().all(|r| r.data.as_ref().is_some_and(|d| d["amount"] == 45000)), "[{b}]");
        let mut per_job = std::collections::BTreeMap::<&str, usize>::new();
        for r in &records {
            *per_job.entry(r.job_id.as_deref().unwrap_or("")).or_default() += 1;
        }
        assert!(per_job.values().any(|&n| n > 500), "[{b}] records per job: {per_job:?}");
        assert!(jobs.iter().all(|j| j.attempts == 1), "[{b}] {jobs:?}");
        // One record.created each: no record applied twice, none skipped.
        let events = entity::event::Entity::find()
            .filter(entity::event::Column::EventType.eq("record.created"))
            .all(&worker.state.db)
            .await
            .unwrap();
        let subjects: BTreeSet<_> = events.iter().filter_map(|e| e.subject_id.clone()).collect();
        assert_eq!((events.len(), subjects), (ids.len(), ids.clone()), "[{b}]");
        worker.stop().await;
        guard.cleanup().await;
    }
}

#[tokio::test]
async fn a_key_disabled_through_one_process_is_refused_at_once_by_another() {
    // Two processes share PostgreSQL and Redis; each caches data keys.
    let Some(backend) = backends().into_iter().find(|b| matches!(b, crate::helpers::Backend::Postgres(_))) else {
        return eprintln!("a_key_disabled_through_one_process: skipped (needs SWITCHYARD_TEST_DATABASE_URL)");
    };
    let (app, server, guard) = TestApp::spawn(&backend, &[]).await;
    if guard.redis.is_none() {
        server.stop().await;
        guard.cleanup().await;
        return eprintln!("a_key_disabled_through_one_process: skipped (needs SWITCHYARD_TEST_REDIS_URL)");
    }
    let (endpoint, key, _) = setup(&app, json!({})).await;
    let cfg = app.state.config.clone();
    let other = switchyard::start(Config::from_args(server_args(&cfg, "api", "127.0.0.1:0")).unwrap()).await.unwrap();
    let there = TestApp { url: format!("http://{}", other.addr), state: other.state.clone(), ..app.clone() };
    let post = |app: TestApp, key: String| async move {
        call(&app, "POST", "/api/v1/data/orders", Some(&key), Some(ORDER), "application/json").await
    };
    // Both processes now hold the key and the endpoint in their caches.
    assert_eq!(post(there.clone(), key.clone()).await.0, 202);
    assert_eq!(post(app.clone(), key.clone()).await.0, 202);
    let keys = app.gql(&app.owner_key, "{ dataKeys { edges { node { id environment } } } }", json!({})).await;
    let test_id =
        keys["dataKeys"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["environment"] == "TEST").unwrap()
            ["node"]["id"]
            .clone();
    let set =
        "mutation($id: ID!, $on: Boolean!) { updateDataKey(input: { id: $id, enabled: $on }) { dataKey { enabled } } }";
    app.gql(&app.owner_key, set, json!({ "id": test_id, "on": false })).await;
    // The other process hears of it over Redis within moments, far inside
    // the cache's 10 s lifetime.
    let started = Instant::now();
    loop {
        let (s, body) = post(there.clone(), key.clone()).await;
        if s == 401 {
            assert_eq!(body["error"], "API key disabled by the owner", "{body}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "the other process still accepts the key: {s} {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Endpoint changes travel the same way.
    app.gql(&app.owner_key, set, json!({ "id": test_id, "on": true })).await;
    app.mutate(&app.owner_key, "updateDataEndpoint", json!({ "id": endpoint, "enabled": false }), "").await;
    let started = Instant::now();
    loop {
        let (s, body) = post(there.clone(), key.clone()).await;
        if s == 403 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the other process still sees the endpoint enabled: {s} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    other.stop().await;
    server.stop().await;
    guard.cleanup().await;
}
