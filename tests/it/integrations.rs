//! Integrations end to end, on both backends: config checked per service
//! type (field details), secrets masked (GraphQL, events), a test that
//! makes one real call to a local Slack-compatible receiver, outbound syncs
//! that send the selected events in order without gaps or repeats and
//! resume after a failure, Standard Webhooks signatures checked with the
//! `standardwebhooks` crate, auto-sync on the schedule, live runs, delete
//! stopping the schedule, and tenancy. Inbound syncs store items by
//! external id; their paging, bounds and deletions are in [`inbound`].

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp, WsClient};
use crate::multiprocess::{graphql, owner_key, skip, Cluster};
use crate::plugins::Receiver;

mod inbound;

pub(super) const INTEGRATION: &str = "integration { id name serviceType config status settings { autoSync syncIntervalSeconds } lastTestAt lastTestStatusCode lastTestError lastSyncAt lastError itemsSynced }";

pub(super) async fn sync_now(app: &TestApp, id: &str) -> Value {
    let out = app.mutate(&app.owner_key, "syncIntegration", json!({ "id": id }), "run { id status trigger }").await;
    assert_eq!(out["run"]["status"], "QUEUED");
    let run_id = out["run"]["id"].as_str().unwrap().to_string();
    wait_run(app, &run_id).await
}

pub(super) async fn wait_run(app: &TestApp, run_id: &str) -> Value {
    let q = "query($id: ID!) { integrationRun(id: $id) { id status trigger items deleted error note cursorFrom cursorTo } }";
    let until = Instant::now() + Duration::from_secs(45);
    loop {
        let run = app.gql(&app.owner_key, q, json!({ "id": run_id })).await["integrationRun"].clone();
        let ended = ["SUCCEEDED", "FAILED", "SKIPPED", "PAUSED"].iter().any(|s| run["status"] == *s);
        if ended || Instant::now() > until {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Moves a paused run's pause a minute back, as if it had waited that long.
pub(super) async fn paused_a_minute_ago(app: &TestApp, run_id: &str) {
    use sea_orm::{ColumnTrait, QueryFilter};
    entity::integration_run::Entity::update_many()
        .col_expr(
            entity::integration_run::Column::FinishedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
        )
        .filter(entity::integration_run::Column::Id.eq(run_id))
        .exec(&app.state.writer)
        .await
        .unwrap();
}

pub(super) async fn integration(app: &TestApp, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ {} }}", INTEGRATION.replacen("integration {", "integration(id: $id) {", 1));
    app.gql(&app.owner_key, &q, json!({ "id": id })).await["integration"].clone()
}

/// Makes `n` `api_key.created` events; returns the keys' ids in order.
pub(super) async fn key_events(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = vec![];
    for i in 0..n {
        ids.push(app.create_key(&app.owner_key, &format!("k{i}"), &["READ"]).await.0);
    }
    // Events younger than the sync's settle time wait for the next run.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ids
}

fn subjects(hits: &[crate::plugins::Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| h.json()["text"].as_str().unwrap().split_whitespace().nth(1).unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn a_slack_integration_tests_and_syncs_events_in_order_without_gaps_or_repeats() {
    for_each_backend(&[], |app| async move {
        let slack = Receiver::start(json!("ok")).await;
        let url = format!("{}/services/T1/B1/SECRETPART", slack.url);
        // Bad config and settings: field details, nothing created.
        let bad = app.mutate_refused(&app.owner_key, "createIntegration",
            json!({ "name": "Slack", "serviceType": "slack", "config": { "webhook_url": "ftp://x", "channel": 5 } }), INTEGRATION).await;
        let fields: Vec<Value> = bad["userErrors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
        assert!(fields.contains(&json!(["input", "config", "webhook_url"])) && fields.contains(&json!(["input", "config", "channel"])), "{bad}");
        let (field, _) = app.user_error(&app.owner_key, "createIntegration",
            json!({ "name": "S", "serviceType": "slack", "config": { "webhook_url": url }, "settings": { "autoSync": true, "syncIntervalSeconds": 30 } })).await;
        assert_eq!(field, "input.settings.syncIntervalSeconds");
        let (field, _) = app.user_error(&app.owner_key, "createIntegration", json!({ "name": "S", "serviceType": "fax" })).await;
        assert_eq!(field, "input.serviceType");
        let (field, code) = app.user_error(&app.owner_key, "createIntegration",
            json!({ "name": "S", "serviceType": "slack", "config": { "webhook_url": url, "events": ["nope.*"] } })).await;
        assert_eq!((field.as_str(), code.as_str()), ("input.config.events", "UNKNOWN_EVENT_TYPE"));
        let (field, _) = app.user_error(&app.owner_key, "createIntegration", json!({ "name": "S", "serviceType": "stripe" })).await;
        assert_eq!(field, "input.serviceType", "a connected service needs the workspace's connection");

        let made = app.mutate(&app.owner_key, "createIntegration", json!({
            "name": "Slack集成", "serviceType": "slack",
            "config": { "webhook_url": url, "channel": "#general", "username": "TaiShangLaoJun", "events": ["api_key.created"] },
        }), INTEGRATION).await["integration"].clone();
        assert_eq!(made["config"], json!({ "webhook_url": "***", "channel": "#general", "username": "TaiShangLaoJun", "events": ["api_key.created"] }));
        assert_eq!((made["status"].as_str(), made["settings"]["autoSync"].as_bool()), (Some("ACTIVE"), Some(false)));
        let id = made["id"].as_str().unwrap().to_string();
        let row = entity::integration::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().unwrap();
        assert!(!row.config.to_string().contains("SECRETPART") && !row.secrets_enc.unwrap().contains("SECRETPART"));
        let evts = app.gql(&app.owner_key, r#"{ events(filter: {eventTypes: ["integration.*"]}) { edges { node { type data } } } }"#, json!({})).await;
        assert_eq!(evts["events"]["edges"][0]["node"]["data"]["config"]["webhook_url"], "***", "{evts}");
        assert!(!evts.to_string().contains("SECRETPART"));

        // The test posts one message and records the outcome.
        let tested = app.mutate(&app.owner_key, "testIntegration", json!({ "id": id }), &format!("ok {INTEGRATION}")).await;
        assert_eq!((tested["ok"].as_bool(), tested["integration"]["lastTestStatusCode"].as_i64()), (Some(true), Some(200)), "{tested}");
        let hit = slack.hits()[0].json();
        assert_eq!((hit["channel"].as_str(), hit["username"].as_str()), (Some("#general"), Some("TaiShangLaoJun")));
        assert!(hit["text"].as_str().unwrap().contains("test message"));
        slack.status.store(404, Ordering::SeqCst);
        let failed = app.mutate(&app.owner_key, "testIntegration", json!({ "id": id }), &format!("ok {INTEGRATION}")).await;
        assert_eq!((failed["ok"].as_bool(), failed["integration"]["lastTestStatusCode"].as_i64()), (Some(false), Some(404)));
        assert!(failed["integration"]["lastTestError"].as_str().unwrap().contains("404"));
        slack.status.store(200, Ordering::SeqCst);
        slack.hits.lock().unwrap().clear();

        // Three events (and others the filter leaves out): sent in order.
        let first = key_events(&app, 3).await;
        let run = sync_now(&app, &id).await;
        assert_eq!((run["status"].as_str(), run["items"].as_i64(), run["trigger"].as_str()), (Some("SUCCEEDED"), Some(3), Some("MANUAL")), "{run}");
        assert_eq!(subjects(&slack.hits()), first);
        // Again: nothing new, nothing sent.
        let again = sync_now(&app, &id).await;
        assert_eq!((again["items"].as_i64(), slack.hits().len()), (Some(0), 3), "{again}");
        assert_eq!(again["cursorFrom"], run["cursorTo"]);

        // A failure stops the run at the failing event; the next run resumes there.
        let second = key_events(&app, 2).await;
        slack.status.store(500, Ordering::SeqCst);
        let failed = sync_now(&app, &id).await;
        assert_eq!((failed["status"].as_str(), failed["items"].as_i64()), (Some("FAILED"), Some(0)), "{failed}");
        assert!(failed["error"].as_str().unwrap().contains("HTTP 500") && !failed.to_string().contains("SECRETPART"), "{failed}");
        let now = integration(&app, &id).await;
        assert_eq!(now["status"], "ERROR");
        assert!(now["lastError"].as_str().unwrap().contains("HTTP 500"));
        slack.status.store(200, Ordering::SeqCst);
        slack.hits.lock().unwrap().clear();
        let resumed = sync_now(&app, &id).await;
        assert_eq!((resumed["status"].as_str(), resumed["items"].as_i64()), (Some("SUCCEEDED"), Some(2)), "{resumed}");
        assert_eq!(subjects(&slack.hits()), second);
        let now = integration(&app, &id).await;
        assert_eq!((now["status"].as_str(), now["itemsSynced"].as_i64(), now["lastError"].as_str()), (Some("ACTIVE"), Some(5), None));
        let updated = app.gql(&app.owner_key, r#"{ events(filter: {eventTypes: ["integration.updated"]}) { edges { node { data } } } }"#, json!({})).await;
        let statuses: Vec<&str> = updated["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["data"]["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["active", "error"], "newest first: error, then active again");

        // The run history, newest first; an update keeps the stored secret when sent `***`.
        let runs = app.gql(&app.owner_key, "query($id: ID!) { integration(id: $id) { runs(first: 10) { totalCount edges { node { status items } } } } }", json!({ "id": id })).await;
        assert_eq!(runs["integration"]["runs"]["totalCount"], 4, "{runs}");
        let up = app.mutate(&app.owner_key, "updateIntegration",
            json!({ "id": id, "name": "Renamed", "config": { "webhook_url": "***", "channel": "#ops", "events": ["api_key.*"] } }), INTEGRATION).await;
        assert_eq!((up["integration"]["name"].as_str(), up["integration"]["config"]["webhook_url"].as_str()), (Some("Renamed"), Some("***")));
        // `null` on a field that cannot be empty: INVALID, and nothing changes.
        for field in ["name", "config", "settings", "status"] {
            let got = app.user_error(&app.owner_key, "updateIntegration", json!({ "id": id, field: null })).await;
            assert_eq!(got, (format!("input.{field}"), "INVALID".into()), "{field}");
        }
        assert_eq!(integration(&app, &id).await["name"], "Renamed");
        app.mutate(&app.owner_key, "testIntegration", json!({ "id": id }), "ok").await;
        let last = slack.hits().last().unwrap().clone();
        assert_eq!((last.uri.as_str(), last.json()["channel"].as_str()), ("/services/T1/B1/SECRETPART", Some("#ops")));

        // Filters: by type and status; tenancy.
        let listed = app.gql(&app.owner_key, r#"{ a: integrations(serviceType: "slack") { totalCount } b: integrations(serviceType: "webhook") { totalCount } c: integrations(status: ERROR) { totalCount } }"#, json!({})).await;
        assert_eq!((listed["a"]["totalCount"].as_i64(), listed["b"]["totalCount"].as_i64(), listed["c"]["totalCount"].as_i64()), (Some(1), Some(0), Some(0)));
        let (_, other) = app.other_workspace("integrations-other@example.com").await;
        app.gql_null(&other, "query($id: ID!) { integration(id: $id) { id } }", json!({ "id": id }), "integration").await;
        let (field, code) = app.user_error(&other, "syncIntegration", json!({ "id": id })).await;
        assert_eq!((field.as_str(), code.as_str()), ("input.id", "NOT_FOUND"));
    })
    .await;
}

#[tokio::test]
async fn a_rate_limited_outbound_sync_waits_out_a_short_retry_after_and_stops_without_failing_at_a_long_one() {
    for_each_backend(&[], |app| async move {
        let slack = Receiver::start(json!("ok")).await;
        let made = app.mutate(&app.owner_key, "createIntegration", json!({
            "name": "Slack", "serviceType": "slack",
            "config": { "webhook_url": format!("{}/services/T1/B1/X", slack.url), "events": ["api_key.created"] },
        }), INTEGRATION).await;
        let id = made["integration"]["id"].as_str().unwrap().to_string();

        // A 429 asking for a second: waited out in place, then every event sent.
        let first = key_events(&app, 2).await;
        slack.fail_status.store(429, Ordering::SeqCst);
        *slack.fail_retry_after.lock().unwrap() = Some("2".into());
        slack.fail_next.store(1, Ordering::SeqCst);
        let started = Instant::now();
        let run = sync_now(&app, &id).await;
        assert_eq!(
            (run["status"].as_str(), run["items"].as_i64(), &run["note"]),
            (Some("SUCCEEDED"), Some(2), &Value::Null),
            "{run}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(1950),
            "the second try came after the Retry-After (2 s, not the 1 s default)"
        );
        let hits = slack.hits();
        assert_eq!((hits.len(), subjects(&hits[1..])), (3, first), "the limited message is sent again, then the next");

        // Asked to wait two minutes: the run stops there without failing and
        // without asking again; the next run goes on from the same event.
        slack.hits.lock().unwrap().clear();
        let second = key_events(&app, 2).await;
        *slack.fail_retry_after.lock().unwrap() = Some("120".into());
        slack.fail_next.store(1, Ordering::SeqCst);
        let stopped = sync_now(&app, &id).await;
        assert_eq!((stopped["status"].as_str(), stopped["items"].as_i64()), (Some("SUCCEEDED"), Some(0)), "{stopped}");
        assert!(stopped["note"].as_str().unwrap().contains("asked to wait 120 s (HTTP 429)"), "{stopped}");
        assert_eq!(stopped["cursorTo"], run["cursorTo"], "the cursor stays before the limited event");
        assert_eq!(slack.hits().len(), 1, "one request, not a retry loop");
        let now = integration(&app, &id).await;
        assert_eq!((now["status"].as_str(), &now["lastError"]), (Some("ACTIVE"), &Value::Null), "{now}");
        slack.hits.lock().unwrap().clear();
        let resumed = sync_now(&app, &id).await;
        assert_eq!((resumed["status"].as_str(), resumed["items"].as_i64()), (Some("SUCCEEDED"), Some(2)), "{resumed}");
        assert_eq!(subjects(&slack.hits()), second);
    })
    .await;
}

#[tokio::test]
async fn a_scheduled_run_whose_job_dies_ends_failed_instead_of_running_forever() {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    use switchyard::jobs::Handler;
    for_each_backend(&[], |app| async move {
        let slack = Receiver::start(json!("ok")).await;
        let made = app
            .mutate(
                &app.owner_key,
                "createIntegration",
                json!({ "name": "Slack", "serviceType": "slack",
            "config": { "webhook_url": format!("{}/services/T1/B1/X", slack.url) } }),
                INTEGRATION,
            )
            .await;
        let id = made["integration"]["id"].as_str().unwrap().to_string();
        // A scheduled job (no run id in its payload) whose run was under way
        // when its last attempt timed out: the run is named after the job.
        let job = scheduled_tick(&app, &id);
        let run_id = format!("isr_{}", job.id.rsplit('_').next().unwrap());
        let run = entity::integration_run::Model {
            id: run_id.clone(),
            workspace_id: app.workspace_id.clone(),
            integration_id: id.clone(),
            trigger: "schedule".into(),
            status: "running".into(),
            items: 0,
            deleted: 0,
            cursor_from: None,
            cursor_to: None,
            error: None,
            note: None,
            created_at: chrono::Utc::now(),
            finished_at: None,
            job_id: Some(job.id.clone()),
        };
        run.into_active_model().insert(&app.state.writer).await.unwrap();
        let sync = switchyard::services::integrations::sync::IntegrationSync;
        sync.on_dead(&app.state, &job, "timed out after 300s").await.unwrap();
        let ended = wait_run(&app, &run_id).await;
        assert_eq!(
            (ended["status"].as_str(), ended["error"].as_str()),
            (Some("FAILED"), Some("timed out after 300s")),
            "{ended}"
        );
        assert_eq!(integration(&app, &id).await["status"], "ERROR");
    })
    .await;
}

#[tokio::test]
async fn a_webhook_integration_signs_auto_syncs_on_its_schedule_and_stops_when_deleted() {
    for_each_backend(&[], |app| async move {
        let target = Receiver::start(json!({})).await;
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let mut ws = WsClient::connect(
            &app.ws_url(),
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {}", app.owner_key) }),
        )
        .await;
        ws.subscribe("runs", "subscription { integrationRuns { id status trigger items } }", json!({})).await;

        let keys = key_events(&app, 2).await;
        // Created with auto-sync: its schedule fires at once (then every 60 s); the first
        // run finds nothing, as the integration starts with the events after its creation.
        let made = app
            .mutate(
                &app.owner_key,
                "createIntegration",
                json!({
                    "name": "Hook", "serviceType": "webhook",
                    "config": { "url": format!("{}/in", target.url), "secret": secret, "events": ["api_key.*"] },
                    "settings": { "autoSync": true, "syncIntervalSeconds": 60 },
                }),
                INTEGRATION,
            )
            .await["integration"]
            .clone();
        assert_eq!(made["config"]["secret"], "***");
        let id = made["id"].as_str().unwrap().to_string();
        let schedule = format!("integration.sync:{id}");
        assert!(entity::schedule::Entity::find_by_id(&schedule).one(&app.state.db).await.unwrap().is_some());
        // The live stream shows the scheduled run end.
        let until = Instant::now() + Duration::from_secs(45);
        let mut ended = None;
        while ended.is_none() && Instant::now() < until {
            if let Some(msg) = ws.next_json_within(Duration::from_secs(1)).await {
                let run = &msg["payload"]["data"]["integrationRuns"];
                if run["status"] == "SUCCEEDED" {
                    ended = Some(run.clone());
                }
            }
        }
        let ended = ended.expect("a scheduled run streamed live");
        assert_eq!((ended["trigger"].as_str(), ended["items"].as_i64()), (Some("SCHEDULE"), Some(0)), "{ended}");
        // A shorter interval takes effect at once: a schedule due in a day,
        // set to every 60 s, is due within 60 s (a longer one keeps its time).
        use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
        let row = entity::schedule::Entity::find_by_id(&schedule).one(&app.state.db).await.unwrap().unwrap();
        let mut later = row.into_active_model();
        later.next_run_at = Set(chrono::Utc::now() + chrono::Duration::days(1));
        later.every_seconds = Set(86_400);
        later.update(&app.state.writer).await.unwrap();
        let settings = |every: i64| json!({ "id": id, "settings": { "autoSync": true, "syncIntervalSeconds": every } });
        app.mutate(&app.owner_key, "updateIntegration", settings(60), INTEGRATION).await;
        let due = |row: Option<entity::schedule::Model>| row.unwrap().next_run_at - chrono::Utc::now();
        let soon = due(entity::schedule::Entity::find_by_id(&schedule).one(&app.state.db).await.unwrap());
        assert!(soon <= chrono::Duration::seconds(60), "due in {soon}");
        app.mutate(&app.owner_key, "updateIntegration", settings(3600), INTEGRATION).await;
        let kept = due(entity::schedule::Entity::find_by_id(&schedule).one(&app.state.db).await.unwrap());
        assert!(kept <= chrono::Duration::seconds(60), "a longer interval keeps the sooner time: due in {kept}");
        app.mutate(&app.owner_key, "updateIntegration", settings(60), INTEGRATION).await;
        assert!(target.hits().is_empty(), "events from before the integration are not sent");
        drop(keys);

        // New events go out signed, in order.
        let fresh = key_events(&app, 2).await;
        let run = sync_now(&app, &id).await;
        assert_eq!(run["items"], 2, "{run}");
        let hits = target.hits();
        let wh = standardwebhooks::Webhook::new(secret).unwrap();
        for (hit, key) in hits.iter().zip(&fresh) {
            wh.verify(&hit.body, &hit.headers).expect("signed with Standard Webhooks");
            let body = hit.json();
            assert_eq!(
                (body["type"].as_str(), body["data"]["id"].as_str()),
                (Some("api_key.created"), Some(key.as_str()))
            );
            assert_eq!(hit.headers["webhook-id"].to_str().unwrap(), body["id"].as_str().unwrap());
        }
        // Turning auto-sync off or deleting removes the schedule.
        app.mutate(&app.owner_key, "updateIntegration", json!({ "id": id, "status": "INACTIVE" }), INTEGRATION).await;
        assert!(entity::schedule::Entity::find_by_id(&schedule).one(&app.state.db).await.unwrap().is_none());
        let (field, _) = app.user_error(&app.owner_key, "syncIntegration", json!({ "id": id })).await;
        assert_eq!(field, "input.id", "an inactive integration does not sync");
        app.mutate(&app.owner_key, "updateIntegration", json!({ "id": id, "status": "ACTIVE" }), INTEGRATION).await;
        assert!(entity::schedule::Entity::find_by_id(&schedule).one(&app.state.db).await.unwrap().is_some());
        app.mutate(&app.owner_key, "deleteIntegration", json!({ "id": id }), "deletedId").await;
        assert!(entity::schedule::Entity::find_by_id(&schedule).one(&app.state.db).await.unwrap().is_none());
        app.gql_null(
            &app.owner_key,
            "query($id: ID!) { integration(id: $id) { id } }",
            json!({ "id": id }),
            "integration",
        )
        .await;
        let deleted = app
            .gql(
                &app.owner_key,
                r#"{ events(filter: {eventTypes: ["integration.deleted"]}) { totalCount } }"#,
                json!({}),
            )
            .await;
        assert_eq!(deleted["events"]["totalCount"], 1);
    })
    .await;
}

// ---------------------------------------------------------------------------
// Several processes (PostgreSQL and Redis; skipped without them)
// ---------------------------------------------------------------------------

const CREATE: &str = "mutation($i: CreateIntegrationInput!) { createIntegration(input: $i) { integration { id } userErrors { message } } }";

async fn runs_of(api: &switchyard::Server, id: &str) -> Vec<entity::integration_run::Model> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    entity::integration_run::Entity::find()
        .filter(entity::integration_run::Column::IntegrationId.eq(id))
        .order_by_asc(entity::integration_run::Column::Id)
        .all(&api.state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn auto_sync_runs_once_per_tick_with_two_worker_processes() {
    let Some(c) = Cluster::new().await else {
        return skip("auto_sync_runs_once_per_tick_with_two_worker_processes");
    };
    let api = c.api().await;
    let workers = vec![c.worker(), c.worker()];
    let key = owner_key(&api).await;
    let target = Receiver::start(json!({})).await;
    let client = reqwest::Client::new();
    let made = graphql(
        &client,
        &api,
        &key,
        CREATE,
        json!({ "i": {
        "name": "Hook", "serviceType": "webhook", "config": { "url": target.url, "events": ["api_key.*"] },
        "settings": { "autoSync": true, "syncIntervalSeconds": 60 } } }),
    )
    .await;
    let id = made["createIntegration"]["integration"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
    let schedule = format!("integration.sync:{id}");
    // Tick three times (each tick: the schedule falls due); every process's
    // scheduler sees it due, and exactly one run comes of each.
    for tick in 1..=3usize {
        let until = Instant::now() + Duration::from_secs(30);
        while runs_of(&api, &id).await.iter().filter(|r| r.status == "succeeded").count() < tick {
            assert!(Instant::now() < until, "tick {tick} never ran");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Let every scheduler have a look (they sweep each second) before the next tick.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(runs_of(&api, &id).await.len(), tick, "one run per tick");
        let row = entity::schedule::Entity::find_by_id(&schedule).one(&api.state.db).await.unwrap().unwrap();
        let mut due: entity::schedule::ActiveModel = row.into();
        due.next_run_at = sea_orm::Set(chrono::Utc::now());
        sea_orm::ActiveModelTrait::update(due, &api.state.db).await.unwrap();
    }
    let runs = runs_of(&api, &id).await;
    assert!(runs.iter().all(|r| r.trigger == "schedule"));
    c.finish(api, workers).await;
}

#[tokio::test]
async fn an_outbound_sync_killed_mid_run_resumes_from_its_cursor_without_repeating() {
    let Some(c) = Cluster::new().await else {
        return skip("an_outbound_sync_killed_mid_run_resumes_from_its_cursor_without_repeating");
    };
    let api = c.api().await;
    let key = owner_key(&api).await;
    let target = Receiver::start(json!({})).await;
    target.delay_ms.store(400, Ordering::SeqCst);
    let client = reqwest::Client::new();
    let made = graphql(
        &client,
        &api,
        &key,
        CREATE,
        json!({ "i": {
        "name": "Hook", "serviceType": "webhook", "config": { "url": target.url, "events": ["api_key.created"] } } }),
    )
    .await;
    let id = made["createIntegration"]["integration"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
    let create_key =
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } userErrors { message } } }";
    let mut keys = vec![];
    for n in 0..10 {
        let k =
            graphql(&client, &api, &key, create_key, json!({ "i": { "name": format!("k{n}"), "scopes": ["READ"] } }))
                .await;
        keys.push(k["createApiKey"]["apiKey"]["id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let sync =
        "mutation($i: SyncIntegrationInput!) { syncIntegration(input: $i) { run { id } userErrors { message } } }";
    let queued = graphql(&client, &api, &key, sync, json!({ "i": { "id": id } })).await;
    let run_id = queued["syncIntegration"]["run"]["id"].as_str().unwrap_or_else(|| panic!("{queued}")).to_string();
    // A worker sends a few, and is killed -9 while a request is in flight.
    let mut victim = c.worker();
    let until = Instant::now() + Duration::from_secs(30);
    while target.hits().len() < 4 {
        assert!(Instant::now() < until, "the sync never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    victim.start_kill().unwrap();
    victim.wait().await.unwrap();
    let at_kill = target.hits().len();
    assert!(at_kill < 10, "killed mid-run");
    let survivor = c.worker();
    let until = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let run = entity::integration_run::Entity::find_by_id(&run_id).one(&api.state.db).await.unwrap().unwrap();
        if run.status == "succeeded" || run.status == "failed" {
            break run;
        }
        assert!(Instant::now() < until, "the run was lost: {run:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run.status, "succeeded", "{run:?}");
    let hits = target.hits();
    let ids: Vec<String> = hits.iter().map(|h| h.json()["data"]["id"].as_str().unwrap().to_string()).collect();
    let mut first_seen: Vec<String> = vec![];
    for i in &ids {
        if !first_seen.contains(i) {
            first_seen.push(i.clone());
        }
    }
    assert_eq!(first_seen, keys, "every event, in order, none skipped");
    // At most the one in flight at the kill went twice (its cursor write never
    // happened), with the same `webhook-id`, so the receiver can drop it.
    let repeats = ids.len() - first_seen.len();
    assert!(repeats <= 1, "{repeats} repeats: {ids:?}");
    if repeats == 1 {
        assert_eq!(ids[at_kill - 1], ids[at_kill], "only the request in flight at the kill was repeated: {ids:?}");
    }
    c.finish(api, vec![victim, survivor]).await;
}

#[tokio::test]
async fn the_service_list_gives_each_type_its_config_schema_and_whether_its_connection_exists() {
    for_each_backend(&[], |app| async move {
        const Q: &str = "{ integrationServices { serviceType name direction configSchema secretFields needsConnection connected } }";
        let services = |data: Value| data["integrationServices"].as_array().unwrap().clone();
        let list = services(app.gql(&app.owner_key, Q, json!({})).await);
        let types: Vec<&str> = list.iter().map(|s| s["serviceType"].as_str().unwrap()).collect();
        assert_eq!(&types[..2], ["slack", "webhook"], "{types:?}");
        assert_eq!(list[0]["secretFields"], json!(["webhook_url"]));
        assert_eq!((list[0]["direction"].as_str(), list[0]["needsConnection"].as_bool(), list[0]["connected"].as_bool()),
            (Some("OUTBOUND"), Some(false), Some(true)));
        assert_eq!(list[0]["configSchema"]["required"], json!(["webhook_url"]));
        assert_eq!(list[1]["secretFields"], json!(["secret"]));
        // The catalog's services that take calls, once each; none that only calls us.
        let rest = list.iter().find(|s| s["serviceType"] == "custom_rest").expect("custom_rest is listed").clone();
        assert_eq!((rest["direction"].as_str(), rest["needsConnection"].as_bool(), rest["connected"].as_bool()),
            (Some("CONNECTION"), Some(true), Some(false)), "{rest}");
        assert!(rest["configSchema"]["properties"]["sync"].is_object());
        assert_eq!(types.iter().filter(|t| **t == "slack").count(), 1);
        let incoming = switchyard::services::connections::catalog::all().iter()
            .filter(|p| p.auth == switchyard::services::connections::catalog::AuthKind::None)
            .map(|p| p.key.as_str()).collect::<Vec<_>>();
        assert!(!incoming.is_empty() && incoming.iter().all(|k| !types.contains(k)), "{incoming:?}");
        // Every listed type is one `createIntegration` takes (it fails on the
        // missing connection or the config, never on the type).
        for t in &types {
            let (field, _) = app.user_error(&app.owner_key, "createIntegration", json!({ "name": "x", "serviceType": t, "config": { "nope": 1 } })).await;
            assert!(field.starts_with("input.config"), "{t}: {field}");
        }

        // Connected: the form knows before anything is refused.
        let service = Receiver::start(json!({ "me": "acct_1" })).await;
        app.mutate(&app.owner_key, "createConnection",
            json!({ "provider": "custom_rest", "apiKey": "ck_secret_123", "baseUrl": format!("{}/api", service.url) }), "connection { id }").await;
        let list = services(app.gql(&app.owner_key, Q, json!({})).await);
        let rest = list.iter().find(|s| s["serviceType"] == "custom_rest").unwrap();
        assert_eq!(rest["connected"].as_bool(), Some(true));
        // Any member may read it; another workspace's connection does not count.
        let (_, other) = app.other_workspace("services-other@example.com").await;
        let theirs = services(app.gql(&other, Q, json!({})).await);
        assert_eq!(theirs.iter().find(|s| s["serviceType"] == "custom_rest").unwrap()["connected"].as_bool(), Some(false));
    })
    .await;
}

#[tokio::test]
async fn a_connected_service_is_tested_through_the_workspaces_connection() {
    for_each_backend(&[], |app| async move {
        let service = Receiver::start(json!({ "me": "acct_1" })).await;
        let (field, _) = app.user_error(&app.owner_key, "createIntegration",
            json!({ "name": "API", "serviceType": "custom_rest", "config": { "test_path": "/me" } })).await;
        assert_eq!(field, "input.serviceType", "no connection yet");
        let made = app.mutate(&app.owner_key, "createConnection",
            json!({ "provider": "custom_rest", "apiKey": "ck_secret_123", "baseUrl": format!("{}/api", service.url) }), "connection { id }").await;
        assert!(made["connection"]["id"].as_str().is_some());
        let (field, _) = app.user_error(&app.owner_key, "createIntegration", json!({ "name": "API", "serviceType": "custom_rest",
            "config": { "test_path": "/me" }, "settings": { "autoSync": true, "syncIntervalSeconds": 300 } })).await;
        assert_eq!(field, "input.settings.autoSync", "a connected service has no event sync");
        let id = app.mutate(&app.owner_key, "createIntegration",
            json!({ "name": "API", "serviceType": "custom_rest", "config": { "test_path": "/me" } }), INTEGRATION).await["integration"]["id"]
            .as_str().unwrap().to_string();

        let tested = app.mutate(&app.owner_key, "testIntegration", json!({ "id": id }), &format!("ok {INTEGRATION}")).await;
        assert_eq!((tested["ok"].as_bool(), tested["integration"]["lastTestStatusCode"].as_i64()), (Some(true), Some(200)), "{tested}");
        let hit = service.hits().last().unwrap().clone();
        assert_eq!((hit.uri.as_str(), hit.headers["authorization"].to_str().unwrap()), ("/api/me", "Bearer ck_secret_123"));
        service.status.store(403, Ordering::SeqCst);
        let refused = app.mutate(&app.owner_key, "testIntegration", json!({ "id": id }), &format!("ok {INTEGRATION}")).await;
        assert_eq!((refused["ok"].as_bool(), refused["integration"]["lastTestStatusCode"].as_i64()), (Some(false), Some(403)), "{refused}");
        // The call went through the connection: it is in the connection's log.
        let calls = app.gql(&app.owner_key, "{ connections { edges { node { calls { totalCount } } } } }", json!({})).await;
        assert_eq!(calls["connections"]["edges"][0]["node"]["calls"]["totalCount"], 2, "{calls}");
        let (field, _) = app.user_error(&app.owner_key, "syncIntegration", json!({ "id": id })).await;
        assert_eq!(field, "input.id");
    })
    .await;
}

#[tokio::test]
async fn an_oauth_connected_service_is_tested_at_its_catalog_who_am_i_path_and_syncs_through_the_connection() {
    for_each_backend(&[], |app| async move {
        // Instagram connected through the real OAuth flow (the connections tests' provider).
        let (base, log) = crate::connections::provider().await;
        let connection = crate::connections::connected_instagram(&app, &base).await;
        let whoami = switchyard::services::connections::catalog::get("instagram").unwrap().account.clone().unwrap().path;
        assert_eq!(whoami, "/me?fields=username", "the catalog's who-am-I call this test relies on");
        app.mutate(&app.owner_key, "createDataEndpoint", json!({ "slug": "contacts", "name": "Contacts" }), "dataEndpoint { id }").await;
        let sync = json!({ "path": "/api/contacts", "items_pointer": "/data", "external_id_field": "id", "endpoint": "contacts" });
        let made = app.mutate(&app.owner_key, "createIntegration",
            json!({ "name": "Instagram", "serviceType": "instagram", "config": { "sync": sync } }), INTEGRATION).await["integration"].clone();
        assert!(made["config"].get("test_path").is_none(), "no test path of its own: {made}");
        let id = made["id"].as_str().unwrap().to_string();

        // The test makes the catalog's who-am-I call with the connection's token.
        let before = log.me_hits.lock().unwrap().len();
        let tested = app.mutate(&app.owner_key, "testIntegration", json!({ "id": id }), &format!("ok {INTEGRATION}")).await;
        assert_eq!((tested["ok"].as_bool(), tested["integration"]["lastTestStatusCode"].as_i64(), tested["integration"]["lastTestError"].clone()),
            (Some(true), Some(200), Value::Null), "{tested}");
        let me = log.me_hits.lock().unwrap().clone();
        assert_eq!(me[before..], [(whoami.clone(), "Bearer at-1".to_string())], "one who-am-I call: {me:?}");
        let q = "query($id: ID!) { connection(id: $id) { calls { edges { node { method path status httpStatus } } } } }";
        let calls = app.gql(&app.owner_key, q, json!({ "id": connection })).await;
        assert_eq!(calls["connection"]["calls"]["edges"][0]["node"],
            json!({ "method": "GET", "path": whoami, "status": "SUCCEEDED", "httpStatus": 200 }), "{calls}");

        // The inbound sync pulls the listing through the connection and stores each account.
        let run = sync_now(&app, &id).await;
        assert_eq!((run["status"].as_str(), run["items"].as_i64(), run["error"].clone()), (Some("SUCCEEDED"), Some(2), Value::Null), "{run}");
        assert_eq!(log.api_hits.lock().unwrap().clone(), [("/api/contacts".to_string(), "Bearer at-1".to_string())]);
        let records = settled_records(&app, 2).await;
        assert_eq!(records.iter().map(|r| r["data"].clone()).collect::<Vec<_>>(),
            [json!({ "id": "17841400001", "username": "ada" }), json!({ "id": "17841400002", "username": "grace" })], "{records:?}");
        let mut items: Vec<(String, String)> = entity::integration_item::Entity::find().all(&app.state.db).await.unwrap()
            .into_iter().filter(|i| i.integration_id == id).map(|i| (i.external_id, i.record_id)).collect();
        items.sort();
        let stored: Vec<(String, String)> = records.iter()
            .map(|r| (r["data"]["id"].as_str().unwrap().to_string(), r["id"].as_str().unwrap().to_string())).collect();
        assert_eq!(items, stored, "each account kept by its external id");

        // The provider stops taking the token: the sync's page refreshes it once and goes on.
        *log.current_access.lock().unwrap() = "revoked".into();
        let again = sync_now(&app, &id).await;
        assert_eq!((again["status"].as_str(), again["items"].as_i64()), (Some("SUCCEEDED"), Some(0)), "{again}");
        assert_eq!(*log.refreshes.lock().unwrap(), 1);
        assert_eq!(log.api_hits.lock().unwrap()[1..], [
            ("/api/contacts".to_string(), "Bearer at-1".to_string()),
            ("/api/contacts".to_string(), "Bearer at-2".to_string()),
        ]);
        assert_eq!(integration(&app, &id).await["itemsSynced"], 2);
    })
    .await;
}

/// An inbound Instagram sync of `/api/contacts` into a `contacts`
/// endpoint, over a connection an owner (`email`) made through the real
/// OAuth flow to the connections tests' provider.
struct Contacts {
    log: crate::connections::ProviderLog,
    /// The owner's session, to connect again.
    cookie: String,
    /// The connection's id.
    connection: String,
    /// The integration's id.
    id: String,
}

/// The job a scheduled tick of integration `id` runs as (no run id in
/// its payload), not written anywhere: for calling the handler directly.
fn scheduled_tick(app: &TestApp, id: &str) -> entity::job::Model {
    switchyard::jobs::ledger::row(
        Duration::from_secs(30),
        switchyard::jobs::ledger::NewJob {
            kind: "integration.sync".into(),
            payload: json!({ "integration_id": id }),
            workspace_id: Some(app.workspace_id.clone()),
            run_at: None,
            max_attempts: 3,
        },
    )
}

async fn instagram_contacts(app: &TestApp, email: &str) -> Contacts {
    let (base, log) = crate::connections::provider().await;
    let (_, cookie) = app.invite_and_accept(&app.owner_key, email, "OWNER").await;
    crate::connections::configure(app, &cookie, "instagram", &base).await;
    let connection = crate::connections::connect_instagram(app, &cookie).await;
    app.mutate(
        &app.owner_key,
        "createDataEndpoint",
        json!({ "slug": "contacts", "name": "Contacts" }),
        "dataEndpoint { id }",
    )
    .await;
    let sync =
        json!({ "path": "/api/contacts", "items_pointer": "/data", "external_id_field": "id", "endpoint": "contacts" });
    let made = app
        .mutate(
            &app.owner_key,
            "createIntegration",
            json!({ "name": "Instagram", "serviceType": "instagram", "config": { "sync": sync } }),
            INTEGRATION,
        )
        .await;
    let id = made["integration"]["id"].as_str().unwrap().to_string();
    Contacts { log, cookie, connection, id }
}

#[tokio::test]
async fn a_broken_connection_pauses_an_inbound_sync_and_connecting_again_resumes_it() {
    // The schedule is kept out of the way: the runs here are started by hand.
    for_each_backend(&[], |app| async move {
        let Contacts { log, cookie, id, .. } = instagram_contacts(&app, "pia@example.com").await;

        // The provider stops taking the token and refuses the refresh: the
        // connection breaks, and the run pauses instead of failing.
        *log.current_access.lock().unwrap() = "revoked".into();
        *log.valid_refresh.lock().unwrap() = "revoked".into();
        let first = sync_now(&app, &id).await;
        assert_eq!(
            (first["status"].as_str(), first["items"].as_i64(), first["error"].clone()),
            (Some("PAUSED"), Some(0), Value::Null),
            "[{}] {first}",
            app.backend
        );
        assert!(first["note"].as_str().unwrap().contains("needs to be reconnected"), "{first}");
        let i = integration(&app, &id).await;
        assert_eq!((i["status"].as_str(), i["lastError"].clone()), (Some("ACTIVE"), Value::Null), "not an error: {i}");
        // A second run pauses too, without calling anything.
        let hits = log.api_hits.lock().unwrap().len();
        let second = sync_now(&app, &id).await;
        assert_eq!(second["status"], "PAUSED", "{second}");
        assert_eq!(log.api_hits.lock().unwrap().len(), hits, "a broken connection is not called");
        // With auto-sync on, a tick meanwhile starts no run: one waits already.
        let auto = json!({ "id": id, "settings": { "autoSync": true, "syncIntervalSeconds": 3600 } });
        app.mutate(&app.owner_key, "updateIntegration", auto, INTEGRATION).await;
        let tick = scheduled_tick(&app, &id);
        use switchyard::jobs::Handler;
        switchyard::services::integrations::sync::IntegrationSync.run(&app.state, &tick).await.unwrap();
        let runs = app
            .gql(
                &app.owner_key,
                "query($id: ID!) { integration(id: $id) { runs { totalCount } } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(runs["integration"]["runs"]["totalCount"], 2, "no run for the tick: {runs}");
        // Auto-sync off again: the schedule's own first tick is due at once,
        // and on a busy machine it could otherwise run after the reconnect
        // below and start a run of its own (the second stays resumable: it
        // was started by hand).
        let off = json!({ "id": id, "settings": { "autoSync": false, "syncIntervalSeconds": 3600 } });
        app.mutate(&app.owner_key, "updateIntegration", off, INTEGRATION).await;

        // The second run superseded the first (skipped, not run twice);
        // connecting again resumes the second, under a job of its own, and
        // the live stream says at once that it is queued again.
        let mut ws = WsClient::connect(
            &app.ws_url(),
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {}", app.owner_key) }),
        )
        .await;
        ws.subscribe("runs", "subscription { integrationRuns { id status } }", json!({})).await;
        // Time for the subscription to be registered before the reconnect.
        tokio::time::sleep(Duration::from_millis(300)).await;
        *log.current_access.lock().unwrap() = "at-1".into();
        crate::connections::connect_instagram(&app, &cookie).await;
        let mut heard = Vec::new();
        let until = Instant::now() + Duration::from_secs(20);
        while !heard.contains(&"SUCCEEDED".to_string()) && Instant::now() < until {
            if let Some(msg) = ws.next_json_within(Duration::from_secs(1)).await {
                let run = &msg["payload"]["data"]["integrationRuns"];
                if run["id"] == second["id"] {
                    heard.push(run["status"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        assert_eq!(heard.first().map(String::as_str), Some("QUEUED"), "[{}] {heard:?}", app.backend);
        let resumed = wait_run(&app, second["id"].as_str().unwrap()).await;
        assert_eq!(
            (resumed["status"].as_str(), resumed["items"].as_i64(), resumed["note"].clone()),
            (Some("SUCCEEDED"), Some(2), Value::Null),
            "[{}] {resumed}",
            app.backend
        );
        let older = wait_run(&app, first["id"].as_str().unwrap()).await;
        assert_eq!(older["status"], "SKIPPED", "{older}");
        assert!(older["note"].as_str().unwrap().contains(second["id"].as_str().unwrap()), "{older}");
        assert_eq!(settled_records(&app, 2).await.len(), 2);
        assert_eq!(log.api_hits.lock().unwrap()[hits..], [("/api/contacts".to_string(), "Bearer at-1".to_string())]);
        assert_eq!(integration(&app, &id).await["itemsSynced"], 2);
    })
    .await;
}

#[tokio::test]
async fn a_paused_sync_whose_connection_came_back_without_an_event_is_resumed_by_the_sweep_never_by_its_old_job() {
    use sea_orm::{ColumnTrait, QueryFilter};
    use switchyard::jobs::Handler;
    use switchyard::services::integrations::paused::resume_stranded;
    for_each_backend(&[], |app| async move {
        let Contacts { log, connection, id, .. } = instagram_contacts(&app, "sweep@example.com").await;
        *log.current_access.lock().unwrap() = "revoked".into();
        *log.valid_refresh.lock().unwrap() = "revoked".into();
        let paused = sync_now(&app, &id).await;
        assert_eq!(paused["status"], "PAUSED", "[{}] {paused}", app.backend);
        let run_id = paused["id"].as_str().unwrap().to_string();
        let row = || async {
            entity::integration_run::Entity::find_by_id(&run_id).one(&app.state.db).await.unwrap().unwrap()
        };

        // The job that paused it, run again (a retry after its worker died), does nothing.
        let old_job =
            entity::job::Entity::find_by_id(row().await.job_id.unwrap()).one(&app.state.db).await.unwrap().unwrap();
        let hits = log.api_hits.lock().unwrap().len();
        switchyard::services::integrations::sync::IntegrationSync.run(&app.state, &old_job).await.unwrap();
        assert_eq!(row().await.status, "paused");
        assert_eq!(log.api_hits.lock().unwrap().len(), hits, "nothing called");

        // The connection works again without an event (mended in the database).
        *log.current_access.lock().unwrap() = "at-1".into();
        entity::connection::Entity::update_many()
            .col_expr(entity::connection::Column::Status, sea_orm::sea_query::Expr::value("connected"))
            .filter(entity::connection::Column::Id.eq(&connection))
            .exec(&app.state.writer)
            .await
            .unwrap();
        assert_eq!(resume_stranded(&app.state).await.unwrap(), 0, "paused only just now: left to a reconnect's hook");
        paused_a_minute_ago(&app, &run_id).await;
        // The server's own pass (every 30 s) may take it first.
        assert!(resume_stranded(&app.state).await.unwrap() <= 1);
        let resumed = wait_run(&app, &run_id).await;
        assert_eq!(
            (resumed["status"].as_str(), resumed["items"].as_i64()),
            (Some("SUCCEEDED"), Some(2)),
            "[{}] {resumed}",
            app.backend
        );
        assert_ne!(row().await.job_id.as_deref(), Some(old_job.id.as_str()), "resumed under a job of its own");
        assert_eq!(resume_stranded(&app.state).await.unwrap(), 0, "nothing left paused");
    })
    .await;
}

#[tokio::test]
async fn an_integration_calling_a_disallowed_address_is_refused_by_the_ssrf_guard_and_reaches_nothing() {
    // The guard as in production: no loopback, private or link-local targets.
    for_each_backend(&["--allow-private-targets", "false"], |app| async move {
        let slack = Receiver::start(json!("ok")).await;
        let port = slack.url.rsplit(':').next().unwrap().to_string();
        let id = app.mutate(&app.owner_key, "createIntegration", json!({ "name": "Slack", "serviceType": "slack",
            "config": { "webhook_url": format!("{}/services/T1/B1/SECRETPART", slack.url), "events": ["api_key.created"] } }), INTEGRATION)
            .await["integration"]["id"].as_str().unwrap().to_string();

        // The test call at a loopback literal, a name resolving to loopback, and the metadata address.
        for (url, why) in [
            (format!("{}/services/T1/B1/SECRETPART", slack.url), "loopback address"),
            (format!("http://localhost:{port}/services/T1/B1/SECRETPART"), "loopback address"),
            ("http://169.254.169.254/services/T1/B1/SECRETPART".to_string(), "link-local or metadata address"),
        ] {
            app.mutate(&app.owner_key, "updateIntegration",
                json!({ "id": id, "config": { "webhook_url": url, "events": ["api_key.created"] } }), INTEGRATION).await;
            let tested = app.mutate(&app.owner_key, "testIntegration", json!({ "id": id }), &format!("ok {INTEGRATION}")).await;
            let i = &tested["integration"];
            assert_eq!((tested["ok"].as_bool(), i["lastTestStatusCode"].clone()), (Some(false), Value::Null), "{url}: {tested}");
            assert!(i["lastTestAt"].is_string(), "{tested}");
            let error = i["lastTestError"].as_str().unwrap();
            assert!(error.contains("SSRF guard") && error.contains(why), "{url}: {tested}");
            assert!(!error.contains("SECRETPART"), "{tested}");
        }

        // A sync to the loopback receiver fails with the refusal too.
        app.mutate(&app.owner_key, "updateIntegration", json!({ "id": id,
            "config": { "webhook_url": format!("{}/services/T1/B1/SECRETPART", slack.url), "events": ["api_key.created"] } }), INTEGRATION).await;
        key_events(&app, 1).await;
        let run = sync_now(&app, &id).await;
        assert_eq!((run["status"].as_str(), run["items"].as_i64()), (Some("FAILED"), Some(0)), "{run}");
        // Final at once: not tried again after 250 ms and 1 s as a transport failure is.
        let row = entity::integration_run::Entity::find_by_id(run["id"].as_str().unwrap()).one(&app.state.db).await.unwrap().unwrap();
        let took = row.finished_at.unwrap() - row.created_at;
        assert!(took < chrono::Duration::milliseconds(1250), "the refusal was retried: the run took {took}");
        let error = run["error"].as_str().unwrap();
        assert!(error.contains("SSRF guard") && error.contains("loopback address") && !error.contains("SECRETPART"), "{run}");
        assert_eq!(integration(&app, &id).await["status"], "ERROR");
        assert!(slack.hits().is_empty(), "the guard let a request through: {:?}", slack.hits());
    })
    .await;
}

/// The live records of the workspace (where syncs write), oldest first,
/// once none is still queued.
pub(super) async fn settled_records(app: &TestApp, n: usize) -> Vec<Value> {
    let q = "{ records(first: 100, orderBy: OLDEST_FIRST) { edges { node { id status data } } } }";
    let key = app.live_key().await;
    let until = Instant::now() + Duration::from_secs(45);
    loop {
        let data = app.gql(&key, q, json!({})).await;
        let rows: Vec<Value> = data["records"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
        if (rows.len() >= n && rows.iter().all(|r| r["status"] == "PROCESSED")) || Instant::now() > until {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_inbound_sync_stores_items_by_external_id_and_twice_changes_nothing() {
    for_each_backend(&[], |app| async move {
        let service = Receiver::start(json!({ "data": { "items": [
            { "id": 1, "name": "Ada" }, { "id": "b2", "name": "Grace" }
        ] } })).await;
        app.mutate(&app.owner_key, "createConnection",
            json!({ "provider": "custom_rest", "apiKey": "ck_in_123456", "baseUrl": format!("{}/api", service.url) }), "connection { id }").await;
        let sync = json!({ "path": "/customers", "items_pointer": "/data/items", "external_id_field": "id", "endpoint": "customers" });
        let (field, _) = app.user_error(&app.owner_key, "createIntegration",
            json!({ "name": "CRM", "serviceType": "custom_rest", "config": { "sync": sync } })).await;
        assert_eq!(field, "input.config.sync.endpoint", "the data endpoint must exist");
        app.mutate(&app.owner_key, "createDataEndpoint", json!({ "slug": "customers", "name": "Customers" }), "dataEndpoint { id }").await;
        let id = app.mutate(&app.owner_key, "createIntegration",
            json!({ "name": "CRM", "serviceType": "custom_rest", "config": { "sync": sync } }), INTEGRATION).await["integration"]["id"]
            .as_str().unwrap().to_string();

        let first = sync_now(&app, &id).await;
        assert_eq!((first["status"].as_str(), first["items"].as_i64()), (Some("SUCCEEDED"), Some(2)), "{first}");
        let hit = service.hits().last().unwrap().clone();
        assert_eq!((hit.uri.as_str(), hit.headers["authorization"].to_str().unwrap()), ("/api/customers", "Bearer ck_in_123456"));
        let records = settled_records(&app, 2).await;
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records.iter().map(|r| r["data"].clone()).collect::<Vec<_>>(),
                   [json!({ "id": 1, "name": "Ada" }), json!({ "id": "b2", "name": "Grace" })]);

        // Twice: nothing changes.
        let second = sync_now(&app, &id).await;
        assert_eq!((second["status"].as_str(), second["items"].as_i64()), (Some("SUCCEEDED"), Some(0)), "{second}");
        assert_eq!(settled_records(&app, 2).await, records);

        // One item changes, one is new: one replaced in place, one created.
        *service.reply.lock().unwrap() = json!({ "data": { "items": [
            { "id": 1, "name": "Ada" }, { "id": "b2", "name": "Grace Hopper" }, { "id": 3, "name": "Edsger" }
        ] } });
        let third = sync_now(&app, &id).await;
        assert_eq!(third["items"], 2, "{third}");
        let after = settled_records(&app, 3).await;
        assert_eq!(after.len(), 3, "{after:?}");
        assert_eq!(after[1]["id"], records[1]["id"], "replaced by external id, not created again");
        let until = Instant::now() + Duration::from_secs(10);
        let mut latest = after.clone();
        while latest[1]["data"]["name"] != "Grace Hopper" && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            latest = settled_records(&app, 3).await;
        }
        assert_eq!(latest[1]["data"], json!({ "id": "b2", "name": "Grace Hopper" }));

        // A broken answer fails the run with its reason.
        *service.reply.lock().unwrap() = json!({ "data": {} });
        let broken = sync_now(&app, &id).await;
        assert_eq!(broken["status"], "FAILED");
        assert!(broken["error"].as_str().unwrap().contains("/data/items"), "{broken}");
        assert_eq!(integration(&app, &id).await["status"], "ERROR");
    })
    .await;
}
