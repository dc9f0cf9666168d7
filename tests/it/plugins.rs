//! Plugins end to end, on both backends: the marketplace, installing with
//! a config checked against the manifest (field details), secrets masked
//! everywhere (GraphQL, events, the call log, at rest), the weather action
//! against a local stand-in, the chat notifier's hook posting matching
//! events to a local Slack-compatible receiver and stopping when the
//! plugin is turned off or uninstalled, the HTTP forwarder's Standard
//! Webhooks signatures checked with the `standardwebhooks` crate, custom
//! manifests and upgrades in place, and tenancy.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp};

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A local HTTP endpoint that records every request and answers with
/// `status` and `reply`.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    pub status: Arc<AtomicU16>,
    /// Requests still to answer 500 before `status` applies again: a test
    /// that wants "one failure, then success" says so before the request is
    /// made instead of racing it by changing `status` after seeing a hit.
    pub fail_next: Arc<AtomicU32>,
    /// The status of those failing answers (500 unless set).
    pub fail_status: Arc<AtomicU16>,
    /// The `Retry-After` those failing answers carry, if set.
    pub fail_retry_after: Arc<Mutex<Option<String>>>,
    pub reply: Arc<Mutex<Value>>,
    /// Milliseconds to wait before answering (the request is recorded on arrival).
    pub delay_ms: Arc<AtomicU64>,
}

impl Receiver {
    pub async fn start(reply: Value) -> Receiver {
        let r = Receiver {
            url: String::new(),
            hits: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            fail_next: Arc::new(AtomicU32::new(0)),
            fail_status: Arc::new(AtomicU16::new(500)),
            fail_retry_after: Arc::default(),
            reply: Arc::new(Mutex::new(reply)),
            delay_ms: Arc::new(AtomicU64::new(0)),
        };
        async fn handle(
            State(r): State<Receiver>,
            uri: Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> (StatusCode, HeaderMap, String) {
            // The answer is decided on arrival, before the hit is visible to the test.
            let failing = r.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
            let status = if failing {
                StatusCode::from_u16(r.fail_status.load(Ordering::SeqCst)).unwrap()
            } else {
                StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap()
            };
            let mut answer = HeaderMap::new();
            if let Some(wait) = r.fail_retry_after.lock().unwrap().as_ref().filter(|_| failing) {
                answer.insert("retry-after", wait.parse().unwrap());
            }
            let reply = r.reply.lock().unwrap().to_string();
            r.hits.lock().unwrap().push(Hit { uri: uri.to_string(), headers, body });
            tokio::time::sleep(Duration::from_millis(r.delay_ms.load(Ordering::SeqCst))).await;
            (status, answer, reply)
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let r = Receiver { url, ..r };
        let router = axum::Router::new().fallback(handle).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        r
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (at most `wait`).
    pub async fn wait_for(&self, n: usize, wait: Duration) -> Vec<Hit> {
        let until = Instant::now() + wait;
        loop {
            let hits = self.hits();
            if hits.len() >= n || Instant::now() > until {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const PLUGIN: &str = "plugin { id pluginId key name version author source status config installedAt }";

async fn install(app: &TestApp, plugin_id: &str, config: Value) -> Value {
    let out =
        app.mutate(&app.owner_key, "installPlugin", json!({ "pluginId": plugin_id, "config": config }), PLUGIN).await;
    out["plugin"].clone()
}

async fn events_of(app: &TestApp, types: &str) -> Vec<Value> {
    let q = format!(r#"{{ events(filter: {{eventTypes: ["{types}"]}}) {{ edges {{ node {{ type data }} }} }} }}"#);
    let data = app.gql(&app.owner_key, &q, json!({})).await;
    data["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

async fn calls_of(app: &TestApp, id: &str) -> Vec<Value> {
    let q = "query($id: ID!) { plugin(id: $id) { calls(first: 50) { edges { node { id kind name status httpStatus attempts durationMs error result eventId } } } } }";
    let data = app.gql(&app.owner_key, q, json!({ "id": id })).await;
    data["plugin"]["calls"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

async fn run_action(app: &TestApp, plugin: &str, action: &str, input: Value) -> Value {
    let body = app
        .mutation_raw(
            Some(&app.owner_key),
            "runPluginAction",
            json!({ "pluginId": plugin, "action": action, "input": input }),
            "result",
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["runPluginAction"].clone()
}

#[tokio::test]
async fn the_weather_plugin_installs_with_a_checked_config_and_runs_against_a_local_stand_in() {
    for_each_backend(&[], |app| async move {
        let listed = app.gql(&app.owner_key, "{ marketplacePlugins { pluginId key source secretFields actions { name } hooks { name } } }", json!({})).await;
        let ids: Vec<&str> = listed["marketplacePlugins"].as_array().unwrap().iter().map(|p| p["pluginId"].as_str().unwrap()).collect();
        assert_eq!(ids, ["plugin_weather_v1.0.0", "plugin_chat_notifier_v1.0.0", "plugin_http_forwarder_v1.0.0"]);
        assert_eq!(listed["marketplacePlugins"][0]["secretFields"], json!(["api_key"]));

        // A bad config: one user error per field, nothing installed, the secret not repeated.
        let refused = app
            .mutate_refused(&app.owner_key, "installPlugin",
                json!({ "pluginId": "plugin_weather_v1.0.0", "config": { "api_key": "", "default_city": 7, "extra": 1 } }), PLUGIN)
            .await;
        let fields: Vec<String> = refused["userErrors"].as_array().unwrap().iter()
            .map(|e| e["field"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect::<Vec<_>>().join("."))
            .collect();
        assert!(fields.contains(&"input.config.api_key".to_string()), "{refused}");
        assert!(fields.contains(&"input.config.default_city".to_string()), "{refused}");
        let missing = app.mutate_refused(&app.owner_key, "installPlugin",
            json!({ "pluginId": "plugin_weather_v1.0.0", "config": { "default_city": "Oslo" } }), PLUGIN).await;
        assert_eq!(missing["userErrors"][0]["field"], json!(["input", "config", "api_key"]), "{missing}");
        assert_eq!(missing["userErrors"][0]["message"], "Required field is missing");
        let (field, code) = app.user_error(&app.owner_key, "installPlugin", json!({ "pluginId": "plugin_nope_v1.0.0" })).await;
        assert_eq!((field.as_str(), code.as_str()), ("input.pluginId", "NOT_FOUND"));

        let stand_in = Receiver::start(json!({
            "location": { "name": "Oslo", "country": "Norway" },
            "current": { "temp_c": -3.5, "condition": { "text": "Snow" }, "last_updated": "2026-12-07 10:00" }
        })).await;
        let secret_key = "wk-secret-key-12345";
        let p = install(&app, "plugin_weather_v1.0.0",
            json!({ "api_key": secret_key, "default_city": "Beijing", "base_url": format!("{}/v1", stand_in.url) })).await;
        assert_eq!(p["config"], json!({ "api_key": "***", "default_city": "Beijing", "base_url": format!("{}/v1", stand_in.url) }));
        assert_eq!((p["status"].as_str(), p["version"].as_str(), p["author"].as_str()), (Some("ACTIVE"), Some("1.0.0"), Some("Switchyard")));
        let id = p["id"].as_str().unwrap().to_string();
        // At rest the key is encrypted; in the event it is masked.
        let row = entity::plugin::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().unwrap();
        assert!(!row.config.to_string().contains(secret_key) && !row.secrets_enc.clone().unwrap().contains(secret_key));
        let installed = events_of(&app, "plugin.installed").await;
        assert_eq!(installed[0]["data"]["config"]["api_key"], "***", "{installed:?}");
        assert!(!format!("{installed:?}").contains(secret_key));
        // Twice is refused.
        let (field, code) = app.user_error(&app.owner_key, "installPlugin",
            json!({ "pluginId": "plugin_weather_v1.0.0", "config": { "api_key": "x", "default_city": "y" } })).await;
        assert_eq!((field.as_str(), code.as_str()), ("input.pluginId", "TAKEN"));

        // The action: the stand-in sees the key and the city; the result is the manifest's pick.
        let out = run_action(&app, &id, "current", json!({ "city": "Oslo" })).await;
        assert_eq!(out["result"], json!({ "city": "Oslo", "country": "Norway", "temp_c": -3.5, "condition": "Snow", "observed_at": "2026-12-07 10:00" }), "{out}");
        let hit = &stand_in.hits()[0];
        assert_eq!(hit.uri, format!("/v1/current.json?key={secret_key}&q=Oslo"));
        // No input: the default city; by key and manifest id as well as plg_ id.
        run_action(&app, "weather", "current", json!({})).await;
        assert!(stand_in.hits()[1].uri.ends_with("&q=Beijing"), "{:?}", stand_in.hits()[1].uri);
        // The function the actions engine calls.
        let direct = switchyard::services::plugins::call_action_now(&app.state, &app.workspace_id, "plugin_weather_v1.0.0", "current", json!({ "city": "Rome" })).await.unwrap();
        assert_eq!(direct["city"], "Oslo");
        assert!(stand_in.hits()[2].uri.ends_with("&q=Rome"));
        let err = switchyard::services::plugins::call_action_now(&app.state, &app.workspace_id, "weather", "forecast", json!({})).await.unwrap_err();
        assert!(err.details()[0].error.contains("no action `forecast`"), "{:?}", err.details());

        // Bad input, a failing provider: user errors; the failure is logged with the key scrubbed.
        let bad = run_action(&app, &id, "current", json!({ "city": 5 })).await;
        assert_eq!(bad["userErrors"][0]["field"], json!(["input", "input", "city"]), "{bad}");
        stand_in.status.store(503, Ordering::SeqCst);
        let failed = run_action(&app, &id, "current", json!({})).await;
        assert!(failed["result"].is_null() && failed["userErrors"][0]["message"].as_str().unwrap().contains("HTTP 503"), "{failed}");
        let log = calls_of(&app, &id).await;
        assert_eq!(log.len(), 4, "{log:?}");
        assert_eq!((log[0]["status"].as_str(), log[0]["httpStatus"].as_i64(), log[0]["attempts"].as_i64()), (Some("FAILED"), Some(503), Some(3)));
        assert_eq!((log[1]["status"].as_str(), log[1]["kind"].as_str()), (Some("SUCCEEDED"), Some("ACTION")));
        assert!(log[1]["durationMs"].as_i64().is_some());
        assert!(!format!("{log:?}").contains(secret_key));
        // A transport failure: its error names no URL, and the key would be scrubbed from it anyway.
        app.mutate(&app.owner_key, "updatePluginConfig",
            json!({ "id": id, "config": { "api_key": "***", "default_city": "Beijing", "base_url": "http://127.0.0.1:9/v1" } }), PLUGIN).await;
        run_action(&app, &id, "current", json!({})).await;
        let log = calls_of(&app, &id).await;
        assert!(log[0]["error"].as_str().is_some() && !format!("{log:?}").contains(secret_key), "{log:?}");

        // `***` kept the stored key; inactive refuses.
        stand_in.status.store(200, Ordering::SeqCst);
        app.mutate(&app.owner_key, "updatePluginConfig",
            json!({ "id": id, "config": { "api_key": "***", "default_city": "Paris", "base_url": format!("{}/v1", stand_in.url) } }), PLUGIN).await;
        run_action(&app, &id, "current", json!({})).await;
        assert_eq!(stand_in.hits().last().unwrap().uri, format!("/v1/current.json?key={secret_key}&q=Paris"));
        app.mutate(&app.owner_key, "setPluginStatus", json!({ "id": id, "status": "INACTIVE" }), PLUGIN).await;
        let off = run_action(&app, &id, "current", json!({})).await;
        assert!(off["userErrors"][0]["message"].as_str().unwrap().contains("inactive"), "{off}");
        let listed = app.gql(&app.owner_key, "{ a: plugins(status: ACTIVE) { totalCount } i: plugins(status: INACTIVE) { totalCount edges { node { id } } } }", json!({})).await;
        assert_eq!((listed["a"]["totalCount"].as_i64(), listed["i"]["totalCount"].as_i64()), (Some(0), Some(1)), "{listed}");

        // Tenancy: another workspace sees nothing and cannot run it.
        let (_, other) = app.other_workspace("plugins-other@example.com").await;
        app.gql_null(&other, "query($id: ID!) { plugin(id: $id) { id } }", json!({ "id": id }), "plugin").await;
        app.gql_null(&other, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id }), "node").await;
        let (field, code) = app.user_error(&other, "uninstallPlugin", json!({ "id": id })).await;
        assert_eq!((field.as_str(), code.as_str()), ("input.id", "NOT_FOUND"));

        // Uninstall: the row and its secrets go; an event says so.
        app.mutate(&app.owner_key, "uninstallPlugin", json!({ "id": id }), "uninstalledId").await;
        assert!(entity::plugin::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().is_none());
        assert_eq!(events_of(&app, "plugin.uninstalled").await.len(), 1);
    })
    .await;
}

const RUN: &str = "result call { id kind status httpStatus attempts error result } userErrors { field message code }";

/// `runPluginAction` with `wait` (default timeout); the payload.
async fn run_action_waiting(app: &TestApp, plugin: &str, action: &str, input: Value, wait: bool) -> Value {
    let body = app
        .mutation_raw(
            Some(&app.owner_key),
            "runPluginAction",
            json!({ "pluginId": plugin, "action": action, "input": input, "wait": wait }),
            RUN,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["runPluginAction"].clone()
}

#[tokio::test]
async fn an_action_call_is_a_job_retried_after_a_503_and_can_be_left_queued() {
    for_each_backend(&[], |app| async move {
        let stand_in = Receiver::start(json!({
            "location": { "name": "Oslo", "country": "Norway" },
            "current": { "temp_c": 1.5, "condition": { "text": "Rain" }, "last_updated": "2026-12-10 08:00" }
        }))
        .await;
        install(
            &app,
            "plugin_weather_v1.0.0",
            json!({ "api_key": "wk-key-6789", "default_city": "Oslo", "base_url": format!("{}/v1", stand_in.url) }),
        )
        .await;

        // The target answers 503 once: the job engine tries again after its
        // backoff, and the caller, waiting, gets the result of the retry.
        stand_in.fail_status.store(503, Ordering::SeqCst);
        stand_in.fail_next.store(1, Ordering::SeqCst);
        let out = run_action_waiting(&app, "weather", "current", json!({ "city": "Oslo" }), true).await;
        assert_eq!(out["userErrors"], json!([]), "{out}");
        assert_eq!(
            (out["result"]["city"].as_str(), out["result"]["condition"].as_str()),
            (Some("Oslo"), Some("Rain")),
            "{out}"
        );
        let call = &out["call"];
        assert_eq!(
            (call["status"].as_str(), call["kind"].as_str(), call["attempts"].as_i64(), call["httpStatus"].as_i64()),
            (Some("SUCCEEDED"), Some("ACTION"), Some(2), Some(200)),
            "{out}"
        );
        assert_eq!(call["result"], out["result"]);
        assert_eq!(stand_in.fail_next.load(Ordering::SeqCst), 0, "the 503 was given");
        let hits = stand_in.hits();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].uri, hits[1].uri, "the retry asks the same");
        // The call is settled before its job is marked done: the caller
        // may read the ledger in between, so wait (5 s at most) for it.
        let mut jobs: Vec<entity::job::Model> = Vec::new();
        for _ in 0..100 {
            jobs = entity::job::Entity::find()
                .filter(entity::job::Column::Kind.eq("plugin.action"))
                .all(&app.state.db)
                .await
                .unwrap();
            if jobs.iter().all(|j| j.state == "done") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!((jobs[0].state.as_str(), jobs[0].attempts), ("done", 2), "{jobs:?}");
        assert_eq!(jobs[0].payload["call_id"], call["id"]);
        assert!(!jobs[0].payload.to_string().contains("Oslo"), "the input waits encrypted: {:?}", jobs[0].payload);

        // Not waited for: the queued call comes back at once, and ends later.
        // The target holds its answer, so the call read back through the
        // API before it ends is still the queued one.
        stand_in.delay_ms.store(1500, Ordering::SeqCst);
        let queued = run_action_waiting(&app, "weather", "current", json!({ "city": "Bergen" }), false).await;
        assert_eq!(
            (queued["call"]["status"].as_str(), queued["result"].is_null(), queued["userErrors"].clone()),
            (Some("QUEUED"), true, json!([])),
            "{queued}"
        );
        let id = queued["call"]["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("pcl_"));
        let q = "query($id: ID!) { pluginCall(id: $id) { id status attempts result } }";
        let read = app.gql(&app.owner_key, q, json!({ "id": id })).await["pluginCall"].clone();
        assert_eq!(
            (read["status"].as_str(), read["attempts"].as_i64(), read["result"].is_null()),
            (Some("QUEUED"), Some(0), true),
            "{read}"
        );
        stand_in.delay_ms.store(0, Ordering::SeqCst);
        let until = Instant::now() + Duration::from_secs(45);
        let ended = loop {
            let c = app.gql(&app.owner_key, q, json!({ "id": id })).await["pluginCall"].clone();
            if c["status"] != "QUEUED" || Instant::now() > until {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!((ended["status"].as_str(), ended["attempts"].as_i64()), (Some("SUCCEEDED"), Some(1)), "{ended}");
        assert_eq!(ended["result"]["city"], "Oslo");
        assert!(stand_in.hits().last().unwrap().uri.ends_with("&q=Bergen"));

        // Any other error status ends the call at once: no retry.
        stand_in.status.store(404, Ordering::SeqCst);
        let before = stand_in.hits().len();
        let failed = run_action_waiting(&app, "weather", "current", json!({}), true).await;
        assert!(
            failed["result"].is_null() && failed["userErrors"][0]["message"].as_str().unwrap().contains("HTTP 404"),
            "{failed}"
        );
        assert_eq!(
            (failed["call"]["status"].as_str(), failed["call"]["attempts"].as_i64()),
            (Some("FAILED"), Some(1)),
            "{failed}"
        );
        assert_eq!(stand_in.hits().len(), before + 1);

        // Checked before anything is queued.
        let (field, _) = app
            .user_error(
                &app.owner_key,
                "runPluginAction",
                json!({ "pluginId": "weather", "action": "current", "timeoutSeconds": 0 }),
            )
            .await;
        assert_eq!(field, "input.timeoutSeconds");
        let (field, _) = app
            .user_error(
                &app.owner_key,
                "runPluginAction",
                json!({ "pluginId": "weather", "action": "nope", "wait": false }),
            )
            .await;
        assert_eq!(field, "input.action");
        let bad = run_action_waiting(&app, "weather", "current", json!({ "city": 5 }), false).await;
        assert_eq!(
            (bad["userErrors"][0]["field"].clone(), bad["call"].is_null()),
            (json!(["input", "input", "city"]), true),
            "{bad}"
        );
        let jobs = entity::job::Entity::find().all(&app.state.db).await.unwrap();
        assert_eq!(jobs.iter().filter(|j| j.kind == "plugin.action").count(), 3, "refused requests queue nothing");
    })
    .await;
}

#[tokio::test]
async fn an_action_caller_waits_from_its_request_and_hears_of_every_end() {
    for_each_backend(&[], |app| async move {
        let stand_in = Receiver::start(json!({ "location": { "name": "Oslo" } })).await;
        let config =
            json!({ "api_key": "wk-key-6789", "default_city": "Oslo", "base_url": format!("{}/v1", stand_in.url) });
        install(&app, "plugin_weather_v1.0.0", config).await;
        let q = "query($id: ID!) { pluginCall(id: $id) { id status attempts error } }";

        // The target is slower than the wait: the call comes back QUEUED
        // when the wait (counted from the request) ends, and ends later.
        stand_in.delay_ms.store(4000, Ordering::SeqCst);
        let asked = Instant::now();
        let body = app
            .mutation_raw(
                Some(&app.owner_key),
                "runPluginAction",
                json!({ "pluginId": "weather", "action": "current", "timeoutSeconds": 1 }),
                RUN,
            )
            .await;
        let waited = asked.elapsed();
        let out = body["data"]["runPluginAction"].clone();
        assert_eq!(
            (out["call"]["status"].as_str(), out["userErrors"].clone(), out["result"].is_null()),
            (Some("QUEUED"), json!([]), true),
            "{body}"
        );
        assert!(waited >= Duration::from_millis(900) && waited < Duration::from_millis(3000), "waited {waited:?}");
        let id = out["call"]["id"].as_str().unwrap().to_string();
        let until = Instant::now() + Duration::from_secs(30);
        let ended = loop {
            let c = app.gql(&app.owner_key, q, json!({ "id": id })).await["pluginCall"].clone();
            if c["status"] != "QUEUED" || Instant::now() > until {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(ended["status"], "SUCCEEDED", "{ended}");
        stand_in.delay_ms.store(0, Ordering::SeqCst);

        // Another workspace does not see the call.
        let (_, other) = app.other_workspace("plugin-calls-other@example.com").await;
        app.gql_null(&other, q, json!({ "id": id }), "pluginCall").await;

        // Turned off between two attempts: the call is skipped, and the
        // waiting caller is told so.
        stand_in.fail_status.store(503, Ordering::SeqCst);
        stand_in.fail_next.store(1, Ordering::SeqCst);
        let before = stand_in.hits().len();
        let run = run_action_waiting(&app, "weather", "current", json!({ "city": "Rome" }), true);
        let turn_off = async {
            stand_in.wait_for(before + 1, Duration::from_secs(20)).await;
            app.mutate(
                &app.owner_key,
                "setPluginStatus",
                json!({ "id": "weather", "status": "INACTIVE" }),
                "plugin { status }",
            )
            .await
        };
        let (skipped, off) = tokio::join!(run, turn_off);
        assert_eq!(off["plugin"]["status"], "INACTIVE");
        assert_eq!(
            (skipped["call"]["status"].as_str(), skipped["result"].is_null()),
            (Some("SKIPPED"), true),
            "{skipped}"
        );
        let message = skipped["userErrors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("was not made") && message.contains("turned off"), "{skipped}");
        assert_eq!(stand_in.hits().len(), before + 1, "no second attempt");
    })
    .await;
}

#[tokio::test]
async fn an_action_call_gives_up_after_three_attempts_and_its_errors_never_show_the_input() {
    for_each_backend(&[], |app| async move {
        let stand_in = Receiver::start(json!({})).await;
        install(&app, "plugin_weather_v1.0.0",
            json!({ "api_key": "wk-key-6789", "default_city": "Oslo", "base_url": format!("{}/v1", stand_in.url) })).await;

        // 503 every time: three attempts, then the call fails saying so.
        stand_in.status.store(503, Ordering::SeqCst);
        let out = run_action_waiting(&app, "weather", "current", json!({}), true).await;
        assert_eq!((out["call"]["status"].as_str(), out["call"]["attempts"].as_i64()), (Some("FAILED"), Some(3)), "{out}");
        let error = out["call"]["error"].as_str().unwrap();
        assert!(error.starts_with("Gave up after 3 attempts") && error.contains("HTTP 503"), "{out}");
        assert!(out["userErrors"][0]["message"].as_str().unwrap().contains("Gave up after 3 attempts"), "{out}");
        assert_eq!(stand_in.hits().len(), 3);

        // An unreachable target: the transport's error names no URL, so
        // neither the key nor the input the URL was built from shows in
        // the call, its job or the caller's error.
        let secret = "sk_live_TOPSECRET4242";
        app.mutate(&app.owner_key, "updatePluginConfig",
            json!({ "id": "weather", "config": { "api_key": "***", "default_city": "Oslo", "base_url": "http://127.0.0.1:1/v1" } }),
            "plugin { id }").await;
        let out = run_action_waiting(&app, "weather", "current", json!({ "city": secret }), true).await;
        assert_eq!(out["call"]["status"], "FAILED", "{out}");
        let error = out["call"]["error"].as_str().unwrap();
        assert!(error.contains("could not be reached"), "{out}");
        let job = entity::job::Entity::find().all(&app.state.db).await.unwrap().into_iter()
            .filter(|j| j.kind == "plugin.action").max_by(|a, b| a.id.cmp(&b.id)).unwrap();
        for shown in [out.to_string(), job.last_error.clone().unwrap_or_default()] {
            assert!(!shown.contains(secret) && !shown.contains("TOPSECRET") && !shown.contains("wk-key-6789"), "{shown}");
            assert!(!shown.contains("current.json"), "no URL: {shown}");
        }
    })
    .await;
}

#[tokio::test]
async fn plugin_calls_to_disallowed_addresses_are_refused_by_the_ssrf_guard_and_reach_nothing() {
    // The guard as in production: no loopback, private or link-local targets.
    for_each_backend(&["--allow-private-targets", "false"], |app| async move {
        let target = Receiver::start(json!({})).await;
        let port = target.url.rsplit(':').next().unwrap().to_string();
        install(&app, "plugin_weather_v1.0.0",
            json!({ "api_key": "wk-ssrf-key-1234", "default_city": "Oslo", "base_url": format!("{}/v1", target.url) })).await;

        // An action at a loopback literal, a name resolving to loopback, and the metadata address:
        // each refused before sending, failed at its first attempt (a refusal is not retried).
        for (base_url, why) in [
            (format!("{}/v1", target.url), "loopback address"),
            (format!("http://localhost:{port}/v1"), "loopback address"),
            ("http://169.254.169.254/latest".to_string(), "link-local or metadata address"),
        ] {
            app.mutate(&app.owner_key, "updatePluginConfig",
                json!({ "id": "weather", "config": { "api_key": "***", "default_city": "Oslo", "base_url": base_url } }), "plugin { id }").await;
            let out = run_action_waiting(&app, "weather", "current", json!({}), true).await;
            let call = &out["call"];
            assert_eq!((call["kind"].as_str(), call["status"].as_str(), call["attempts"].as_i64(), call["httpStatus"].clone()),
                (Some("ACTION"), Some("FAILED"), Some(1), Value::Null), "{base_url}: {out}");
            let error = call["error"].as_str().unwrap();
            assert!(error.contains("SSRF guard") && error.contains(why), "{base_url}: {out}");
            assert!(out["userErrors"][0]["message"].as_str().unwrap().contains("SSRF guard"), "{base_url}: {out}");
            assert!(!out.to_string().contains("wk-ssrf-key-1234"), "{out}");
        }

        // A hook posting to a loopback receiver: its call fails with the refusal, once.
        let p = install(&app, "plugin_chat_notifier_v1.0.0",
            json!({ "webhook_url": format!("{}/services/T000/B000/XXXX", target.url), "events": ["api_key.created"] })).await;
        let id = p["id"].as_str().unwrap().to_string();
        app.create_key(&app.owner_key, "ssrf", &["READ"]).await;
        let calls = settled_calls(&app, &id, 1).await;
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!((calls[0]["kind"].as_str(), calls[0]["status"].as_str(), calls[0]["attempts"].as_i64(), calls[0]["httpStatus"].clone()),
            (Some("HOOK"), Some("FAILED"), Some(1), Value::Null), "{calls:?}");
        let error = calls[0]["error"].as_str().unwrap();
        assert!(error.contains("SSRF guard") && error.contains("loopback address"), "{calls:?}");
        assert!(target.hits().is_empty(), "the guard let a request through: {:?}", target.hits());
    })
    .await;
}

/// Waits until a plugin's hook calls have all left `QUEUED`.
async fn settled_calls(app: &TestApp, id: &str, n: usize) -> Vec<Value> {
    let until = Instant::now() + Duration::from_secs(45);
    loop {
        let calls = calls_of(app, id).await;
        if (calls.len() >= n && calls.iter().all(|c| c["status"] != "QUEUED")) || Instant::now() > until {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_chat_notifier_posts_matching_events_and_stops_when_off_or_uninstalled() {
    for_each_backend(&[], |app| async move {
        let chat = Receiver::start(json!("ok")).await;
        let hook_url = format!("{}/services/T000/B000/XXXX", chat.url);
        let p = install(&app, "plugin_chat_notifier_v1.0.0",
            json!({ "webhook_url": hook_url, "channel": "#alerts", "username": "Switchyard", "events": ["api_key.created"] })).await;
        assert_eq!(p["config"]["webhook_url"], "***");
        let id = p["id"].as_str().unwrap().to_string();

        // A matching event posts once; another type does not.
        let (key_id, _) = app.create_key(&app.owner_key, "ci", &["READ"]).await;
        app.mutate(&app.owner_key, "deleteApiKey", json!({ "id": key_id }), "deletedId").await;
        let hits = chat.wait_for(1, Duration::from_secs(45)).await;
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].uri, "/services/T000/B000/XXXX");
        let body = hits[0].json();
        assert_eq!((body["channel"].as_str(), body["username"].as_str()), (Some("#alerts"), Some("Switchyard")));
        assert!(body["text"].as_str().unwrap().contains("*api_key.created*"), "{body}");
        assert!(body["text"].as_str().unwrap().contains(&key_id), "{body}");
        let calls = settled_calls(&app, &id, 1).await;
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!((calls[0]["kind"].as_str(), calls[0]["status"].as_str(), calls[0]["httpStatus"].as_i64()), (Some("HOOK"), Some("SUCCEEDED"), Some(200)));
        assert!(calls[0]["eventId"].as_str().unwrap().starts_with("evt_"));

        // The receiver fails once: the hook is retried by the job engine until it answers.
        // (The failure is armed before the call, not by flipping the status once the
        // test sees the hit: on a loaded machine the retry could come before the flip.)
        chat.fail_next.store(1, Ordering::SeqCst);
        app.create_key(&app.owner_key, "ci2", &["READ"]).await;
        let hits = chat.wait_for(3, Duration::from_secs(45)).await;
        if hits.len() != 3 {
            let jobs = entity::job::Entity::find().all(&app.state.db).await.unwrap();
            let hook_jobs: Vec<_> = jobs.iter().filter(|j| j.kind == "plugin.hook").map(|j| (&j.state, j.attempts, &j.last_error, j.run_at)).collect();
            panic!("one failure, then the retry: {} hits; calls {:?}; jobs {hook_jobs:?}", hits.len(), calls_of(&app, &id).await);
        }
        assert_eq!(chat.fail_next.load(Ordering::SeqCst), 0, "the failing answer was given");
        assert_eq!(hits[1].body, hits[2].body, "the retry sends the same message");
        let calls = settled_calls(&app, &id, 2).await;
        assert_eq!((calls[0]["status"].as_str(), calls[0]["attempts"].as_i64()), (Some("SUCCEEDED"), Some(2)), "{calls:?}");
        assert_eq!(calls[0]["httpStatus"].as_i64(), Some(200), "{calls:?}");

        // Off: no call at all.
        app.mutate(&app.owner_key, "setPluginStatus", json!({ "id": id, "status": "INACTIVE" }), PLUGIN).await;
        app.create_key(&app.owner_key, "ci3", &["READ"]).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(chat.hits().len(), 3);
        assert_eq!(calls_of(&app, &id).await.len(), 2);
        // On again, then uninstalled: stops at once.
        app.mutate(&app.owner_key, "setPluginStatus", json!({ "id": id, "status": "ACTIVE" }), PLUGIN).await;
        app.create_key(&app.owner_key, "ci4", &["READ"]).await;
        assert_eq!(chat.wait_for(4, Duration::from_secs(45)).await.len(), 4);
        app.mutate(&app.owner_key, "uninstallPlugin", json!({ "id": id }), "uninstalledId").await;
        app.create_key(&app.owner_key, "ci5", &["READ"]).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(chat.hits().len(), 4);
        // The secret URL appears in no event.
        let all = events_of(&app, "plugin.*").await;
        assert!(all.len() >= 4 && !format!("{all:?}").contains("XXXX"), "{all:?}");

        // The post_message action.
        let p = install(&app, "plugin_chat_notifier_v1.0.0", json!({ "webhook_url": hook_url, "events": [] })).await;
        let out = run_action(&app, p["id"].as_str().unwrap(), "post_message", json!({ "text": "hello" })).await;
        assert_eq!(out["result"], "ok", "{out}");
        assert_eq!(chat.hits().last().unwrap().json(), json!({ "text": "hello" }));
    })
    .await;
}

#[tokio::test]
async fn the_http_forwarder_signs_with_standard_webhooks() {
    for_each_backend(&[], |app| async move {
        let target = Receiver::start(json!({ "received": true })).await;
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let bad = app.mutate_refused(&app.owner_key, "installPlugin",
            json!({ "pluginId": "plugin_http_forwarder_v1.0.0", "config": { "url": target.url, "secret": "not-a-secret" } }), PLUGIN).await;
        assert_eq!(bad["userErrors"][0]["field"], json!(["input", "config", "secret"]), "{bad}");
        assert!(!bad.to_string().contains("not-a-secret"), "the secret is not repeated: {bad}");
        let p = install(&app, "plugin_http_forwarder_v1.0.0",
            json!({ "url": format!("{}/in", target.url), "secret": secret, "events": ["api_key.*"] })).await;
        assert_eq!(p["config"]["secret"], "***");

        let (key_id, _) = app.create_key(&app.owner_key, "fwd", &["READ"]).await;
        let hits = target.wait_for(1, Duration::from_secs(45)).await;
        assert_eq!(hits.len(), 1);
        let wh = standardwebhooks::Webhook::new(secret).unwrap();
        wh.verify(&hits[0].body, &hits[0].headers).expect("a valid Standard Webhooks signature");
        let body = hits[0].json();
        assert_eq!((body["type"].as_str(), body["data"]["id"].as_str()), (Some("api_key.created"), Some(key_id.as_str())), "{body}");
        assert_eq!(hits[0].headers["webhook-id"].to_str().unwrap(), body["id"].as_str().unwrap(), "the event id names the message");

        let out = run_action(&app, "http_forwarder", "forward", json!({ "order": 42 })).await;
        assert_eq!(out["result"], json!({ "received": true }), "{out}");
        let last = target.hits().last().unwrap().clone();
        assert_eq!(last.json(), json!({ "order": 42 }));
        wh.verify(&last.body, &last.headers).expect("actions are signed too");
    })
    .await;
}

fn custom_manifest(version: &str, extra_required: bool) -> Value {
    let mut m = json!({
        "id": format!("plugin_echo_v{version}"),
        "name": "Echo",
        "description": "Posts its input to a URL.",
        "version": version,
        "author": "Tests",
        "config_schema": {
            "type": "object",
            "properties": { "url": { "type": "string" }, "token": { "type": "string", "writeOnly": true } },
            "required": ["url", "token"]
        },
        "actions": [{ "name": "echo", "method": "POST", "url": "{{config.url}}",
                      "headers": { "authorization": "Bearer {{config.token}}" }, "body": "{{input}}" }],
    });
    if extra_required {
        m["config_schema"]["properties"]["region"] = json!({ "type": "string", "enum": ["eu", "us"] });
        m["config_schema"]["required"] = json!(["url", "token", "region"]);
        m["actions"][0]["url"] = json!("{{config.url}}/{{config.region}}");
    }
    m
}

#[tokio::test]
async fn custom_manifests_are_checked_and_newer_versions_upgrade_in_place() {
    for_each_backend(&[], |app| async move {
        let target = Receiver::start(json!({ "ok": 1 })).await;
        // A bad manifest: details by path.
        let mut bad = custom_manifest("1.0.0", false);
        bad["actions"][0]["url"] = json!("{{config.nope}}");
        bad["hooks"] = json!([{ "name": "h", "events": ["no.such"], "method": "POST", "url": "{{config.url}}" }]);
        bad.as_object_mut().unwrap().remove("author");
        let refused = app.mutate_refused(&app.owner_key, "addPluginManifest", json!({ "manifest": bad }), "plugin { pluginId }").await;
        assert_eq!(refused["userErrors"][0]["field"], json!(["input", "manifest"]), "{refused}");
        bad["author"] = json!("Tests");
        let refused = app.mutate_refused(&app.owner_key, "addPluginManifest", json!({ "manifest": bad }), "plugin { pluginId }").await;
        let fields: Vec<Value> = refused["userErrors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
        assert!(fields.contains(&json!(["input", "manifest", "actions", "0"])), "{refused}");
        assert!(fields.contains(&json!(["input", "manifest", "hooks", "0", "events"])), "{refused}");

        let added = app.mutate(&app.owner_key, "addPluginManifest", json!({ "manifest": custom_manifest("1.0.0", false) }), "plugin { pluginId key source secretFields }").await;
        assert_eq!(added["plugin"], json!({ "pluginId": "plugin_echo_v1.0.0", "key": "echo", "source": "CUSTOM", "secretFields": ["token"] }));
        let p = app.mutate(&app.owner_key, "installPlugin",
            json!({ "pluginId": "plugin_echo_v1.0.0", "source": "CUSTOM", "config": { "url": target.url, "token": "tok-123456" } }), PLUGIN).await;
        let id = p["plugin"]["id"].as_str().unwrap().to_string();
        assert_eq!(p["plugin"]["source"], "CUSTOM");
        run_action(&app, &id, "echo", json!({ "a": 1 })).await;
        assert_eq!(target.hits()[0].headers["authorization"], "Bearer tok-123456");

        // v1.1.0 needs a field the old config lacks: refused with it named; given it, upgraded in place.
        app.mutate(&app.owner_key, "addPluginManifest", json!({ "manifest": custom_manifest("1.1.0", true) }), "plugin { pluginId }").await;
        let upgrade = json!({ "pluginId": "plugin_echo_v1.1.0", "source": "CUSTOM", "config": {} });
        let refused = app.mutate_refused(&app.owner_key, "installPlugin", upgrade.clone(), PLUGIN).await;
        assert_eq!(refused["userErrors"][0]["field"], json!(["input", "config", "region"]), "{refused}");
        let up = app.mutate(&app.owner_key, "installPlugin",
            json!({ "pluginId": "plugin_echo_v1.1.0", "source": "CUSTOM", "config": { "region": "eu" } }), PLUGIN).await;
        assert_eq!((up["plugin"]["id"].as_str(), up["plugin"]["version"].as_str()), (Some(id.as_str()), Some("1.1.0")));
        assert_eq!(up["plugin"]["config"], json!({ "url": target.url, "token": "***", "region": "eu" }));
        run_action(&app, &id, "echo", json!({})).await;
        let last = target.hits().last().unwrap().clone();
        assert_eq!((last.uri.as_str(), last.headers["authorization"].to_str().unwrap()), ("/eu", "Bearer tok-123456"), "the secret carried over");
        let installed = events_of(&app, "plugin.installed").await;
        assert_eq!(installed[0]["data"]["previous_version"], "1.0.0", "{installed:?}");
        // An older (or the same) version is refused.
        let (field, code) = app.user_error(&app.owner_key, "installPlugin",
            json!({ "pluginId": "plugin_echo_v1.0.0", "source": "CUSTOM", "config": { "url": "http://x", "token": "t" } })).await;
        assert_eq!((field.as_str(), code.as_str()), ("input.pluginId", "TAKEN"));
        // v1.2.0 drops `region` and takes no field it does not name: the old
        // value is left behind (nothing could be sent to remove it), while a
        // field it does not know, given now, is still refused.
        let mut v12 = custom_manifest("1.2.0", false);
        v12["config_schema"]["additionalProperties"] = json!(false);
        app.mutate(&app.owner_key, "addPluginManifest", json!({ "manifest": v12 }), "plugin { pluginId }").await;
        let (field, _) = app.user_error(&app.owner_key, "installPlugin",
            json!({ "pluginId": "plugin_echo_v1.2.0", "source": "CUSTOM", "config": { "zone": "x" } })).await;
        assert_eq!(field, "input.config", "an unknown field given now is refused");
        let up = app.mutate(&app.owner_key, "installPlugin",
            json!({ "pluginId": "plugin_echo_v1.2.0", "source": "CUSTOM", "config": {} }), PLUGIN).await;
        assert_eq!((up["plugin"]["version"].as_str(), &up["plugin"]["config"]), (Some("1.2.0"), &json!({ "url": target.url, "token": "***" })));
        run_action(&app, &id, "echo", json!({})).await;
        assert_eq!(target.hits().last().unwrap().headers["authorization"], "Bearer tok-123456", "the secret carried over");
        // v1.3.0 no longer marks `token` secret: its stored value is not
        // carried over into the clear (nor shown, nor put in the event).
        let mut v13 = custom_manifest("1.3.0", false);
        v13["config_schema"]["properties"]["token"] = json!({ "type": "string" });
        v13["config_schema"]["required"] = json!(["url"]);
        app.mutate(&app.owner_key, "addPluginManifest", json!({ "manifest": v13 }), "plugin { pluginId }").await;
        let up = app.mutate(&app.owner_key, "installPlugin",
            json!({ "pluginId": "plugin_echo_v1.3.0", "source": "CUSTOM", "config": {} }), PLUGIN).await;
        assert_eq!(up["plugin"]["config"], json!({ "url": target.url }), "{up}");
        assert!(!events_of(&app, "plugin.installed").await.iter().any(|e| e.to_string().contains("tok-123456")));
    })
    .await;
}
