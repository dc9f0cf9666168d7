//! Several real `switchyard` processes sharing one PostgreSQL and one Redis:
//! work is spread, nothing runs twice at once, a `kill -9` or a wiped Redis
//! loses nothing, and a subscription on one process sees work done on
//! another. These need both services: they run when
//! `SWITCHYARD_TEST_DATABASE_URL` and `SWITCHYARD_TEST_REDIS_URL` are set
//! (as in `.ci/run`) and say so and return otherwise.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use switchyard::jobs::ledger::{self as jobs, NewJob};
use switchyard::{Config, Server};
use tokio::process::{Child, Command};

use crate::helpers::{backends, fresh_database, make_key, process_args, wipe_redis_prefix, Backend, DbGuard, WsClient};

/// A PostgreSQL database and a Redis prefix shared by the processes of one test.
pub(crate) struct Cluster {
    db_url: String,
    redis_url: String,
    prefix: String,
    key_file: String,
    guard: DbGuard,
}

impl Cluster {
    pub(crate) async fn new() -> Option<Cluster> {
        let backend = backends().into_iter().find(|b| matches!(b, Backend::Postgres(_)))?;
        let (db_url, guard) = fresh_database(&backend).await;
        let Some((redis_url, prefix)) = guard.redis.clone() else {
            guard.cleanup().await;
            return None;
        };
        let key_file = std::env::temp_dir().join(format!("{prefix}.key")).display().to_string();
        Some(Cluster { db_url, redis_url, prefix, key_file, guard })
    }

    fn args(&self, role: &str) -> Vec<String> {
        let redis = Some((self.redis_url.as_str(), self.prefix.as_str()));
        let mut args = process_args(&self.db_url, &self.key_file, redis, role, "127.0.0.1:0");
        args.extend([
            "--worker-concurrency".into(),
            "4".into(),
            "--action-schedule-interval-seconds".into(),
            "1".into(),
        ]);
        args
    }

    /// The API process, in this test's own process (its state enqueues jobs).
    pub(crate) async fn api(&self) -> Server {
        switchyard::start(Config::from_args(self.args("api")).unwrap()).await.expect("api process starts")
    }

    /// A worker process: the real binary.
    pub(crate) fn worker(&self) -> Child {
        let mut args = vec!["serve".to_string()];
        args.extend(self.args("worker"));
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(&args)
            .env("SWITCHYARD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("worker binary starts")
    }

    pub(crate) async fn finish(self, api: Server, workers: Vec<Child>) {
        api.stop().await;
        for mut w in workers {
            let _ = w.kill().await;
        }
        let _ = std::fs::remove_file(&self.key_file);
        self.guard.cleanup().await;
    }
}

fn noop(payload: serde_json::Value, workspace: Option<String>) -> NewJob {
    NewJob { kind: "diagnostic.noop".into(), payload, workspace_id: workspace, run_at: None, max_attempts: 5 }
}

/// Waits until every listed job is done (or panics after `limit`).
async fn wait_all_done(api: &Server, ids: &[String], limit: Duration) -> Vec<entity::job::Model> {
    let start = Instant::now();
    loop {
        let rows = entity::job::Entity::find()
            .filter(entity::job::Column::Id.is_in(ids.to_vec()))
            .all(&api.state.db)
            .await
            .unwrap();
        let done = rows.iter().filter(|r| r.state == jobs::DONE).count();
        if done == ids.len() {
            return rows;
        }
        assert!(start.elapsed() < limit, "only {done} of {} jobs done after {limit:?}", ids.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pid_of(lease_owner: &Option<String>) -> Option<u32> {
    lease_owner.as_deref()?.strip_prefix('w')?.split('-').next()?.parse().ok()
}

pub(crate) fn skip(name: &str) {
    eprintln!("{name}: skipped (needs SWITCHYARD_TEST_DATABASE_URL and SWITCHYARD_TEST_REDIS_URL)");
}

#[tokio::test]
async fn two_worker_processes_share_the_jobs_and_none_runs_twice() {
    let Some(c) = Cluster::new().await else {
        return skip("two_worker_processes");
    };
    let api = c.api().await;
    let workers = vec![c.worker(), c.worker()];
    let pids: BTreeSet<u32> = workers.iter().filter_map(|w| w.id()).collect();
    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(jobs::enqueue(&api.state, noop(json!({ "sleep_ms": 40 }), None)).await.unwrap().id);
    }
    let rows = wait_all_done(&api, &ids, Duration::from_secs(90)).await;
    assert!(
        rows.iter().all(|r| r.attempts == 1),
        "a job ran more than once: {:?}",
        rows.iter().filter(|r| r.attempts != 1).collect::<Vec<_>>()
    );
    let used: BTreeSet<u32> = rows.iter().filter_map(|r| pid_of(&r.lease_owner)).collect();
    assert_eq!(used, pids, "both worker processes should have done some of the work");
    c.finish(api, workers).await;
}

#[tokio::test]
async fn a_job_on_a_killed_worker_completes_on_the_other() {
    let Some(c) = Cluster::new().await else {
        return skip("killed_worker");
    };
    let api = c.api().await;
    let mut workers = vec![c.worker(), c.worker()];
    let id = jobs::enqueue(&api.state, noop(json!({ "sleep_ms": 4000 }), None)).await.unwrap().id;
    let start = Instant::now();
    let holder = loop {
        let row = entity::job::Entity::find_by_id(&id).one(&api.state.db).await.unwrap().unwrap();
        if row.state == jobs::RUNNING {
            break pid_of(&row.lease_owner).expect("running job names its worker");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the job never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let victim = workers.iter_mut().find(|w| w.id() == Some(holder)).expect("the holder is one of ours");
    victim.start_kill().unwrap(); // SIGKILL: no drain, no hand-back
    victim.wait().await.unwrap();
    let rows = wait_all_done(&api, std::slice::from_ref(&id), Duration::from_secs(60)).await;
    assert_ne!(pid_of(&rows[0].lease_owner), Some(holder), "finished by the survivor");
    assert_eq!(rows[0].attempts, 2, "the killed attempt counts, the second succeeded");
    c.finish(api, workers).await;
}

#[tokio::test]
async fn every_job_completes_when_redis_is_wiped_mid_run() {
    let Some(c) = Cluster::new().await else {
        return skip("redis_wiped");
    };
    let api = c.api().await;
    let workers = vec![c.worker()];
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(jobs::enqueue(&api.state, noop(json!({ "sleep_ms": 60 }), None)).await.unwrap().id);
    }
    // Let some finish, then wipe every key of this deployment (what FLUSHALL
    // does to it; a real FLUSHALL would hit the other tests sharing Redis).
    let start = Instant::now();
    loop {
        let done = entity::job::Entity::find()
            .filter(entity::job::Column::Id.is_in(ids.clone()))
            .filter(entity::job::Column::State.eq(jobs::DONE))
            .all(&api.state.db)
            .await
            .unwrap()
            .len();
        if done >= 5 {
            assert!(done < ids.len(), "all jobs finished before the wipe; make them slower");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wipe_redis_prefix(&c.redis_url, &c.prefix).await;
    wait_all_done(&api, &ids, Duration::from_secs(90)).await;
    c.finish(api, workers).await;
}

#[tokio::test]
async fn a_subscription_on_one_process_sees_a_job_finished_on_another() {
    let Some(c) = Cluster::new().await else {
        return skip("cross_process_subscription");
    };
    let api = c.api().await;
    let workers = vec![c.worker()];
    let key = owner_key(&api).await;
    let url = format!("ws://{}/graphql/ws", api.addr);
    let mut client =
        WsClient::connect(&url, "graphql-transport-ws", json!({ "Authorization": format!("Bearer {key}") })).await;
    client.subscribe("1", "subscription { events(eventTypes: [\"job.*\"]) { type subjectId actor } }", json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ws = entity::workspace::Entity::find().one(&api.state.db).await.unwrap().expect("bootstrap workspace");
    let id = jobs::enqueue(&api.state, noop(json!({}), Some(ws.id.clone()))).await.unwrap().id;
    let msg = client.next_json_within(Duration::from_secs(30)).await.expect("an event arrives");
    assert_eq!(msg["type"], "next", "{msg}");
    assert_eq!(
        msg["payload"]["data"]["events"],
        json!({ "type": "job.completed", "subjectId": id, "actor": "system" })
    );
    // The job ran on the worker process, not here (this one has role api).
    let row = entity::job::Entity::find_by_id(&id).one(&api.state.db).await.unwrap().unwrap();
    assert_eq!(pid_of(&row.lease_owner), workers[0].id());
    c.finish(api, workers).await;
}

#[tokio::test]
async fn a_key_deleted_on_one_process_stops_working_on_another_within_a_second() {
    let Some(c) = Cluster::new().await else {
        return skip("a_key_deleted_on_one_process");
    };
    let (a, b) = (c.api().await, c.api().await);
    let owner = entity::user::Entity::find().one(&a.state.db).await.unwrap().expect("bootstrap owner");
    let ws = entity::workspace::Entity::find().one(&a.state.db).await.unwrap().expect("bootstrap workspace");
    let all = switchyard::auth::Scope::ALL;
    let (id, secret) = make_key(&a.state, &ws.id, &owner.id, &all).await;
    let (_, admin) = make_key(&a.state, &ws.id, &owner.id, &all).await;
    let client = reqwest::Client::new();
    let ask = |server: &Server, key: &str, query: &str| {
        client
            .post(format!("http://{}/graphql", server.addr))
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": { "id": id } }))
            .send()
    };
    // Process B verifies (and caches) the key, and holds a socket opened with it.
    let seen: serde_json::Value = ask(&b, &secret, "{ viewer { role } }").await.unwrap().json().await.unwrap();
    assert_eq!(seen["data"]["viewer"]["role"], "OWNER", "{seen}");
    let url = format!("ws://{}/graphql/ws", b.addr);
    let mut socket =
        WsClient::connect(&url, "graphql-transport-ws", json!({ "Authorization": format!("Bearer {secret}") })).await;

    let deleted =
        ask(&a, &admin, "mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedId } }").await.unwrap();
    assert_eq!(deleted.status(), 200);
    let start = Instant::now();
    loop {
        let resp = ask(&b, &secret, "{ viewer { role } }").await.unwrap();
        if resp.status() == 401 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(1), "process B still accepts the deleted key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(socket.closed_within(Duration::from_secs(2)).await, Some(4403), "B's socket must close");
    b.stop().await;
    c.finish(a, vec![]).await;
}

#[tokio::test]
async fn an_oauth_token_revoked_on_one_process_stops_working_on_another_within_a_second() {
    let Some(c) = Cluster::new().await else {
        return skip("an_oauth_token_revoked_on_one_process");
    };
    let (a, b) = (c.api().await, c.api().await);
    let owner = entity::user::Entity::find().one(&a.state.db).await.unwrap().expect("bootstrap owner");
    let ws = entity::workspace::Entity::find().one(&a.state.db).await.unwrap().expect("bootstrap workspace");
    let (_, admin) = make_key(&a.state, &ws.id, &owner.id, &switchyard::auth::Scope::ALL).await;
    let client = reqwest::Client::new();
    let create = json!({
        "query": "mutation($i: CreateOAuthAppInput!) { createOAuthApp(input: $i) { oauthApp { clientId } secret } }",
        "variables": { "i": { "name": "two processes", "redirectUris": ["https://app.example/cb"], "scopes": ["READ"] } },
    });
    let made: serde_json::Value = client
        .post(format!("http://{}/graphql", a.addr))
        .bearer_auth(&admin)
        .json(&create)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = made["data"]["createOAuthApp"]["oauthApp"]["clientId"].as_str().unwrap().to_string();
    let secret = made["data"]["createOAuthApp"]["secret"].as_str().unwrap().to_string();
    let token: serde_json::Value = client
        .post(format!("http://{}/oauth/token", a.addr))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_string();
    let ask = |server: &Server| {
        client
            .post(format!("http://{}/graphql", server.addr))
            .bearer_auth(&access)
            .json(&json!({ "query": "{ viewer { role } }" }))
            .send()
    };
    // Process B verifies (and caches) the token.
    assert_eq!(ask(&b).await.unwrap().status(), 200);
    let revoked = client
        .post(format!("http://{}/oauth/revoke", a.addr))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let start = Instant::now();
    while ask(&b).await.unwrap().status() != 401 {
        assert!(start.elapsed() < Duration::from_secs(1), "process B still accepts the revoked token");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.stop().await;
    c.finish(a, vec![]).await;
}

/// An API key with every scope of the bootstrap owner, in its workspace.
pub(crate) async fn owner_key(api: &Server) -> String {
    let owner = entity::user::Entity::find().one(&api.state.db).await.unwrap().expect("bootstrap owner");
    let ws = entity::workspace::Entity::find().one(&api.state.db).await.unwrap().expect("bootstrap workspace");
    make_key(&api.state, &ws.id, &owner.id, &switchyard::auth::Scope::ALL).await.1
}

/// A GraphQL request to `server` with the API key `key`; its `data` (no errors allowed).
pub(crate) async fn graphql(
    client: &reqwest::Client,
    server: &Server,
    key: &str,
    query: &str,
    variables: serde_json::Value,
) -> serde_json::Value {
    let req = client.post(format!("http://{}/graphql", server.addr)).bearer_auth(key);
    let v: serde_json::Value =
        req.json(&json!({ "query": query, "variables": variables })).send().await.unwrap().json().await.unwrap();
    assert!(v["errors"].is_null(), "{v}");
    v["data"].clone()
}

/// A provider whose `/api/items` takes `slow_ms` to answer; counts hits.
async fn slow_provider(slow_ms: u64) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router =
        axum::Router::new().route("/api", axum::routing::get(|| async { axum::Json(json!({ "ok": true })) })).route(
            "/api/items",
            axum::routing::get(move || {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(slow_ms)).await;
                    axum::Json(json!({ "items": [1, 2, 3] }))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, hits)
}

#[tokio::test]
async fn a_queued_connection_call_survives_a_killed_worker() {
    use std::sync::atomic::Ordering;
    let Some(c) = Cluster::new().await else {
        return skip("a_queued_connection_call_survives_a_killed_worker");
    };
    let api = c.api().await;
    let key = owner_key(&api).await;
    let (base, hits) = slow_provider(3000).await;
    let client = reqwest::Client::new();
    let gql = |query: &'static str, variables: serde_json::Value| graphql(&client, &api, &key, query, variables);
    let made = gql(
        "mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } userErrors { message } } }",
        json!({ "i": { "provider": "custom_rest", "apiKey": "k", "baseUrl": base } }),
    )
    .await;
    let id = made["createConnection"]["connection"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
    gql(
        "mutation($i: SetProviderSettingsInput!) { setProviderSettings(input: $i) { userErrors { message } } }",
        json!({ "i": { "provider": "custom_rest", "rateLimit": { "requests": 1, "perSeconds": 8 } } }),
    )
    .await;
    let call = "mutation($i: CallConnectionInput!) { callConnection(input: $i) { call { id status } userErrors { message } } }";
    let input = |wait: bool| json!({ "i": { "connectionId": id, "method": "GET", "path": "/items", "wait": wait } });
    // The first call uses the window; the second is queued (the API process runs no workers).
    let first = gql(call, input(true)).await;
    assert_eq!(first["callConnection"]["call"]["status"], "SUCCEEDED", "{first}");
    let queued = gql(call, input(false)).await;
    assert_eq!(queued["callConnection"]["call"]["status"], "QUEUED", "{queued}");
    let call_id = queued["callConnection"]["call"]["id"].as_str().unwrap().to_string();

    // A worker takes it once the window resets and is killed while the provider answers.
    let mut victim = c.worker();
    let start = Instant::now();
    while hits.load(Ordering::SeqCst) < 2 {
        assert!(start.elapsed() < Duration::from_secs(30), "the queued call never went out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    victim.start_kill().unwrap(); // SIGKILL mid-call
    victim.wait().await.unwrap();
    let survivor = c.worker();
    let status = "query($id: ID!) { connectionCall(id: $id) { status attempts responseBody } }";
    let seen = loop {
        let seen = gql(status, json!({ "id": call_id })).await;
        if seen["connectionCall"]["status"] != "QUEUED" {
            break seen;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "the queued call was lost: {seen}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(seen["connectionCall"]["status"], "SUCCEEDED", "{seen}");
    assert!(seen["connectionCall"]["responseBody"].as_str().unwrap().contains("items"));
    assert!(hits.load(Ordering::SeqCst) >= 3, "the killed attempt went out, and the call ran again (at least once)");
    c.finish(api, vec![victim, survivor]).await;
}

#[tokio::test]
async fn two_processes_answered_401_at_once_refresh_the_token_once() {
    let Some(c) = Cluster::new().await else {
        return skip("two_processes_answered_401_at_once_refresh_the_token_once");
    };
    let (a, b) = (c.api().await, c.api().await);
    let owner = entity::user::Entity::find().one(&a.state.db).await.unwrap().expect("bootstrap owner");
    let ws = entity::workspace::Entity::find().one(&a.state.db).await.unwrap().expect("bootstrap workspace");
    let (_, key) = make_key(&a.state, &ws.id, &owner.id, &switchyard::auth::Scope::ALL).await;
    let (base, log) = crate::connections::provider().await;
    let client = reqwest::Client::new();
    let set = graphql(
        &client,
        &a,
        &key,
        "mutation($i: SetProviderSettingsInput!) { setProviderSettings(input: $i) { userErrors { message } } }",
        json!({ "i": { "provider": "instagram", "clientId": "client-1", "clientSecret": "shh",
                       "tokenUrl": format!("{base}/token"), "apiBaseUrl": base } }),
    )
    .await;
    assert_eq!(set["setProviderSettings"]["userErrors"], json!([]), "{set}");
    // A connection whose access token the provider no longer takes.
    let now = chrono::Utc::now();
    let creds = json!({ "access_token": "stale", "refresh_token": "rt-1" }).to_string();
    let row = entity::connection::Model {
        id: switchyard::ids::new_id("con"),
        workspace_id: ws.id.clone(),
        provider: "instagram".into(),
        account: "@mybusiness".into(),
        status: "connected".into(),
        scopes: json!([]),
        credentials_enc: a.state.secret.encrypt(&creds).unwrap(),
        token_expires_at: Some(now + chrono::Duration::days(30)),
        auto_refresh: true,
        refresh_lease_until: None,
        created_by: owner.id.clone(),
        last_used_at: None,
        created_at: now,
        updated_at: now,
    };
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    row.clone().into_active_model().insert(&a.state.db).await.unwrap();
    let call = "mutation($i: CallConnectionInput!) { callConnection(input: $i) { call { status attempts } } }";
    let input = json!({ "i": { "connectionId": row.id, "method": "GET", "path": "/api/items" } });
    // Both processes get a 401 and refresh at the same time: one refresh reaches the provider.
    let (x, y) = tokio::join!(graphql(&client, &a, &key, call, input.clone()), graphql(&client, &b, &key, call, input));
    assert_eq!(x["callConnection"]["call"]["status"], "SUCCEEDED", "{x}");
    assert_eq!(y["callConnection"]["call"]["status"], "SUCCEEDED", "{y}");
    assert_eq!(*log.refreshes.lock().unwrap(), 1, "the rotating refresh token is spent once");
    let auth: Vec<String> = log.api_hits.lock().unwrap().iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(auth.iter().filter(|a| *a == "Bearer at-2").count(), 2, "both retried with the new token: {auth:?}");
    b.stop().await;
    c.finish(a, vec![]).await;
}

/// A provider with a fast `/api/fast` and a slow `/api/slow` (3 s); keeps
/// each hit's path and `Idempotency-Key`.
async fn two_speed_provider() -> (String, std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = hits.clone();
    let answer = move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
        let keep = keep.clone();
        async move {
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            keep.lock().unwrap().push((uri.path().to_string(), key));
            if uri.path() == "/api/slow" {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            axum::Json(json!({ "ok": true }))
        }
    };
    let router = axum::Router::new()
        .route("/api", axum::routing::any(answer.clone()))
        .route("/api/{*rest}", axum::routing::any(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, hits)
}

/// Connects `custom_rest` to `base` and makes an action of `steps` on it
/// (through the API process); returns the action's id.
async fn custom_rest_action(
    client: &reqwest::Client,
    api: &Server,
    key: &str,
    base: &str,
    name: &str,
    steps: serde_json::Value,
) -> String {
    let made = graphql(
        client,
        api,
        key,
        "mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } userErrors { message } } }",
        json!({ "i": { "provider": "custom_rest", "apiKey": "k", "baseUrl": base } }),
    )
    .await;
    assert!(made["createConnection"]["connection"]["id"].is_string(), "{made}");
    let action = graphql(
        client,
        api,
        key,
        "mutation($i: CreateActionInput!) { createAction(input: $i) { action { id } userErrors { field message } } }",
        json!({ "i": { "name": name, "steps": steps } }),
    )
    .await;
    action["createAction"]["action"]["id"].as_str().unwrap_or_else(|| panic!("{action}")).to_string()
}

#[tokio::test]
async fn an_action_run_on_a_killed_worker_resumes_at_its_step_without_repeating_a_finished_one() {
    let Some(c) = Cluster::new().await else {
        return skip("an_action_run_on_a_killed_worker_resumes_at_its_step_without_repeating_a_finished_one");
    };
    let api = c.api().await;
    let key = owner_key(&api).await;
    let (base, hits) = two_speed_provider().await;
    let client = reqwest::Client::new();
    let gql = |query: &'static str, variables: serde_json::Value| graphql(&client, &api, &key, query, variables);
    let action = custom_rest_action(&client, &api, &key, &base, "fast then slow", json!([
        { "key": "fast", "kind": "API_EXECUTE", "provider": "custom_rest", "method": "POST", "path": "/fast", "body": { "a": 1 } },
        { "key": "slow", "kind": "API_EXECUTE", "provider": "custom_rest", "method": "POST", "path": "/slow", "body": { "b": 2 } } ]))
    .await;
    let run = gql(
        "mutation($i: RunActionInput!) { runAction(input: $i) { run { id } userErrors { message } } }",
        json!({ "i": { "id": action } }),
    )
    .await;
    let run_id = run["runAction"]["run"]["id"].as_str().unwrap().to_string();

    // A worker takes it and is killed while the slow step's request is out.
    let mut victim = c.worker();
    let start = Instant::now();
    while !hits.lock().unwrap().iter().any(|(p, _)| p == "/api/slow") {
        assert!(start.elapsed() < Duration::from_secs(30), "the run never reached its second step");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    victim.start_kill().unwrap(); // SIGKILL mid-step
    victim.wait().await.unwrap();
    let survivor = c.worker();
    let q = "query($id: ID!) { actionRun(id: $id) { status currentStep steps { key status attempts } } }";
    let seen = loop {
        let seen = gql(q, json!({ "id": run_id })).await;
        if matches!(seen["actionRun"]["status"].as_str(), Some("SUCCEEDED" | "FAILED")) {
            break seen;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "the run was lost: {seen}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(seen["actionRun"]["status"], "SUCCEEDED", "{seen}");
    let hits = hits.lock().unwrap().clone();
    let fast: Vec<_> = hits.iter().filter(|(p, _)| p == "/api/fast").collect();
    let slow: Vec<_> = hits.iter().filter(|(p, _)| p == "/api/slow").collect();
    assert_eq!(fast.len(), 1, "the finished step did not run again: {hits:?}");
    assert_eq!(slow.len(), 2, "the step killed mid-request ran again: {hits:?}");
    assert_eq!(slow[0].1, slow[1].1, "with the same Idempotency-Key");
    assert_eq!(slow[0].1, format!("{run_id}.slow"));
    c.finish(api, vec![victim, survivor]).await;
}

#[tokio::test]
async fn an_action_runs_subscription_on_one_process_streams_a_run_that_another_runs() {
    let Some(c) = Cluster::new().await else {
        return skip("an_action_runs_subscription_on_one_process_streams_a_run_that_another_runs");
    };
    let api = c.api().await;
    let workers = vec![c.worker()];
    let key = owner_key(&api).await;
    let (base, hits) = two_speed_provider().await;
    let client = reqwest::Client::new();
    let gql = |query: &'static str, variables: serde_json::Value| graphql(&client, &api, &key, query, variables);
    let action = custom_rest_action(&client, &api, &key, &base, "one call", json!([
        { "key": "fast", "kind": "API_EXECUTE", "provider": "custom_rest", "method": "POST", "path": "/fast", "body": { "a": 1 } } ]))
    .await;
    let url = format!("ws://{}/graphql/ws", api.addr);
    let mut ws =
        WsClient::connect(&url, "graphql-transport-ws", json!({ "Authorization": format!("Bearer {key}") })).await;
    ws.subscribe(
        "runs",
        "subscription($a: ID) { actionRuns(actionId: $a) { id status currentStep } }",
        json!({ "a": action }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = gql(
        "mutation($i: RunActionInput!) { runAction(input: $i) { run { id } userErrors { message } } }",
        json!({ "i": { "id": action } }),
    )
    .await;
    let run_id = run["runAction"]["run"]["id"].as_str().unwrap().to_string();
    // Its states, as this process hears them from the worker's.
    let mut statuses = Vec::new();
    while let Some(msg) = ws.next_json_within(Duration::from_secs(30)).await {
        let r = &msg["payload"]["data"]["actionRuns"];
        assert_eq!(r["id"], run_id.as_str(), "{msg}");
        statuses.push(r["status"].as_str().unwrap_or_default().to_string());
        if matches!(statuses.last().map(String::as_str), Some("SUCCEEDED" | "FAILED")) {
            break;
        }
    }
    assert!(statuses.iter().any(|s| s == "RUNNING"), "{statuses:?}");
    assert_eq!(statuses.last().map(String::as_str), Some("SUCCEEDED"), "{statuses:?}");
    assert_eq!(hits.lock().unwrap().iter().filter(|(p, _)| p == "/api/fast").count(), 1);
    // The run's job ran on the worker process, not on this one (role api).
    let jobs = entity::job::Entity::find()
        .filter(entity::job::Column::Kind.eq("action.run"))
        .all(&api.state.db)
        .await
        .unwrap();
    assert!(!jobs.is_empty() && jobs.iter().all(|j| pid_of(&j.lease_owner) == workers[0].id()), "{jobs:?}");
    c.finish(api, workers).await;
}

#[tokio::test]
async fn a_schedule_with_two_worker_processes_starts_one_run_per_tick() {
    let Some(c) = Cluster::new().await else {
        return skip("a_schedule_with_two_worker_processes_starts_one_run_per_tick");
    };
    let api = c.api().await;
    let key = owner_key(&api).await;
    let (base, hits) = two_speed_provider().await;
    let client = reqwest::Client::new();
    let gql = |query: &'static str, variables: serde_json::Value| graphql(&client, &api, &key, query, variables);
    gql(
        "mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } userErrors { message } } }",
        json!({ "i": { "provider": "custom_rest", "apiKey": "k", "baseUrl": base } }),
    )
    .await;
    let workers = vec![c.worker(), c.worker()];
    let made = gql(
        "mutation($i: CreateActionInput!) { createAction(input: $i) { action { id } userErrors { field message } } }",
        json!({ "i": { "name": "tick", "triggers": [{ "everySeconds": 2 }],
                       "steps": [{ "key": "tick", "kind": "API_EXECUTE", "provider": "custom_rest", "method": "POST", "path": "/fast", "body": { "run": "{{ run.id }}" } }] } }),
    )
    .await;
    let id = made["createAction"]["action"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(9)).await;
    gql(
        "mutation($i: UpdateActionInput!) { updateAction(input: $i) { action { id } userErrors { message } } }",
        json!({ "i": { "id": id, "enabled": false } }),
    )
    .await;
    let elapsed = started.elapsed().as_secs();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs = gql("{ actionRuns(first: 100) { edges { node { id status input } } } }", json!({})).await;
    let edges = runs["actionRuns"]["edges"].as_array().unwrap().clone();
    let most = elapsed / 2 + 1;
    assert!(edges.len() >= 2 && edges.len() as u64 <= most, "{} runs for {most} ticks: {runs}", edges.len());
    assert!(edges.iter().all(|e| e["node"]["status"] == "SUCCEEDED"), "{runs}");
    // Each run serves its own tick, ticks two seconds apart.
    let mut ticks: Vec<chrono::DateTime<chrono::Utc>> =
        edges.iter().map(|e| e["node"]["input"]["scheduled_at"].as_str().unwrap().parse().unwrap()).collect();
    ticks.sort();
    assert!(ticks.windows(2).all(|w| (w[1] - w[0]).num_milliseconds() % 2000 == 0 && w[1] > w[0]), "{ticks:?}");
    let calls = hits.lock().unwrap().iter().filter(|(p, _)| p == "/api/fast").count();
    assert_eq!(calls, edges.len(), "one call per run, none twice");
    c.finish(api, workers).await;
}
