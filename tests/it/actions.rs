//! Actions (seed 000's "API execute" workflows) against the local test
//! provider of the connections tests: the seed's two-step Instagram
//! example, templates checked at save time, the provider's rate window, an
//! event trigger, schedules firing once per tick, a broken connection that
//! pauses runs and a reconnect that resumes them.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::connections::{come_back, configure, custom_rest, param, provider, start, ProviderLog};
use crate::helpers::{for_each_backend, wait_for_runs, TestApp, WsClient};

const CREATE: &str = "mutation($i: CreateActionInput!) { createAction(input: $i) {
    action { id name enabled steps { key kind provider method path body url seconds } pausedReason
             triggers { id kind cron cronDescription timezone everySeconds nextRunAt eventType endpointId active } }
    signingSecret userErrors { field message code } } }";
const RUN: &str = "mutation($i: RunActionInput!) { runAction(input: $i) { run { id status trigger } userErrors { field message code } } }";
const RUN_Q: &str = "query($id: ID!) { actionRun(id: $id) { id status trigger error currentStep waitUntil input event revision
    action { name }
    steps { key kind status attempts request httpStatus: response { status } response { status body truncated } error waitUntil callId } } }";

/// Connects Instagram as a new owner signed in a browser (returns its
/// session cookie); its API base URL is the test provider's root, whose
/// API lives under `/api`.
async fn instagram(app: &TestApp, base: &str) -> String {
    let (_, cookie) = app.invite_and_accept(&app.owner_key, "ig@example.com", "OWNER").await;
    configure(app, &cookie, "instagram", base).await;
    reconnect(app, &cookie).await;
    cookie
}

/// The connect flow (again): authorize, come back with a good code.
async fn reconnect(app: &TestApp, cookie: &str) {
    let asked = start(app, cookie, "instagram").await;
    let (status, body) =
        come_back(app, cookie, "instagram", json!({ "code": "good-code", "state": param(&asked, "state") })).await;
    assert_eq!(status, 200, "[{}] {body}", app.backend);
}

async fn create(app: &TestApp, input: Value) -> Value {
    let out = app.gql(&app.owner_key, CREATE, json!({ "i": input })).await;
    let made = out["createAction"].clone();
    assert_eq!(made["userErrors"], json!([]), "[{}] {out}", app.backend);
    made
}

async fn run(app: &TestApp, key: &str, id: &str, input: Value) -> String {
    let out = app.gql(key, RUN, json!({ "i": { "id": id, "input": input } })).await;
    assert_eq!(out["runAction"]["userErrors"], json!([]), "{out}");
    out["runAction"]["run"]["id"].as_str().unwrap().to_string()
}

/// Polls a run until `done(run)` holds (bounded); returns it.
async fn wait_run(app: &TestApp, id: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let seen = app.gql(&app.owner_key, RUN_Q, json!({ "id": id })).await["actionRun"].clone();
        if done(&seen) {
            return seen;
        }
        assert!(started.elapsed() < limit, "[{}] the run never got there: {seen}", app.backend);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ended(r: &Value) -> bool {
    matches!(r["status"].as_str(), Some("SUCCEEDED" | "FAILED" | "CANCELLED"))
}

/// The seed's example: create a media container, then publish it.
fn publish_steps() -> Value {
    json!([
        { "key": "create_media", "kind": "API_EXECUTE", "provider": "instagram", "method": "POST", "path": "/api/media",
          "body": { "image_url": "{{ input.image_url }}", "caption": "{{ input.caption }}" } },
        { "key": "publish", "kind": "API_EXECUTE", "provider": "instagram", "method": "POST", "path": "/api/media_publish",
          "body": { "creation_id": "{{ steps.create_media.response.body.id }}" } }
    ])
}

fn api_paths(log: &ProviderLog) -> Vec<(String, String)> {
    log.api_hits.lock().unwrap().iter().filter(|(p, _)| p.starts_with("/api/media")).cloned().collect()
}

#[tokio::test]
async fn the_seeds_instagram_example_posts_in_two_steps_the_second_fed_by_the_first() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        instagram(&app, &base).await;
        let made = create(&app, json!({ "name": "Post to Instagram", "steps": publish_steps() })).await;
        let action = &made["action"];
        assert_eq!(action["steps"][1]["method"], "POST");
        assert!(made["signingSecret"].as_str().unwrap().starts_with("whsec_"));
        assert!(action["pausedReason"].is_null(), "{made}");
        let id = action["id"].as_str().unwrap().to_string();

        // Watch it live while it runs.
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", json!({ "authorization": format!("Bearer {}", app.owner_key) })).await;
        ws.subscribe("runs", "subscription($a: ID) { actionRuns(actionId: $a) { id status currentStep revision } }", json!({ "a": id })).await;

        // A collaborator may run it (but not define one).
        let (_, collab) = app.collaborator_key("runner@example.com").await;
        let input = json!({ "image_url": "https://example.com/a.jpg", "caption": "Hello from Switchyard" });
        let run_id = run(&app, &collab, &id, input.clone()).await;
        let done = wait_run(&app, &run_id, Duration::from_secs(20), ended).await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        assert_eq!(done["trigger"], "MANUAL");
        assert_eq!(done["currentStep"], 2);
        assert_eq!(done["input"], input);
        let steps = done["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2);
        assert!(steps.iter().all(|s| s["status"] == "SUCCEEDED" && s["attempts"] == 1 && s["callId"].is_string()), "{done}");
        let first: Value = serde_json::from_str(steps[0]["response"]["body"].as_str().unwrap()).unwrap();
        assert_eq!(first["id"], "17895695668004550");
        let second: Value = serde_json::from_str(steps[1]["response"]["body"].as_str().unwrap()).unwrap();
        assert_eq!(second["creation_id"], "17895695668004550", "step 1's id fed step 2: {done}");
        assert_eq!(steps[0]["request"]["body"], json!(r#"{"caption":"Hello from Switchyard","image_url":"https://example.com/a.jpg"}"#));
        let idem = steps[1]["request"]["headers"].as_array().unwrap();
        assert!(idem.iter().any(|h| h[0] == "Idempotency-Key" && h[1] == format!("{run_id}.publish")), "{done}");

        // The provider saw both calls, in order, with the connection's token.
        let hits = api_paths(&log);
        assert_eq!(hits, vec![("/api/media".to_string(), "Bearer at-1".to_string()), ("/api/media_publish".into(), "Bearer at-1".into())]);
        assert!(!done.to_string().contains("at-1"), "no token in the run");

        // The live stream saw each state the run went through, in order,
        // as it stood then (not as it stands when the subscriber reads it):
        // running, its first step done, succeeded; each write moved the
        // run's revision on by one (queued at 0), the last one read back.
        let statuses = run_states(&mut ws).await;
        let tail = &statuses[statuses.len().saturating_sub(3)..];
        let expected = [("RUNNING", 0, 1), ("RUNNING", 1, 2), ("SUCCEEDED", 2, 3)].map(|(s, i, r)| (s.to_string(), i, r));
        assert_eq!(tail, expected, "{statuses:?}");
        assert_eq!(done["revision"], 3, "{done}");

        // Its end is an event; the runs are listed by action and status.
        let events = app.gql(&app.owner_key, "{ events(first: 5, filter: {eventTypes: [\"action.run_succeeded\"]}) { edges { node { type data } } } }", json!({})).await;
        let evt = &events["events"]["edges"][0]["node"];
        assert_eq!(evt["data"]["run_id"], run_id.as_str(), "{events}");
        assert_eq!(evt["data"]["action_name"], "Post to Instagram");
        let listed = app
            .gql(&app.owner_key, "query($a: ID) { actionRuns(filter: {actionId: $a, status: SUCCEEDED}) { totalCount edges { node { id } } } }", json!({ "a": id }))
            .await;
        assert_eq!(listed["actionRuns"]["totalCount"], 1, "{listed}");

        // A 4xx fails the run with the provider's message; nothing after it runs.
        let bad = create(&app, json!({ "name": "Bad", "steps": [
            { "key": "bad", "kind": "API_EXECUTE", "provider": "instagram", "path": "/api/bad" },
            { "key": "never", "kind": "API_EXECUTE", "provider": "instagram", "path": "/api/items" } ] })).await;
        let run_id = run(&app, &app.owner_key, bad["action"]["id"].as_str().unwrap(), json!({})).await;
        let failed = wait_run(&app, &run_id, Duration::from_secs(20), ended).await;
        assert_eq!(failed["status"], "FAILED", "{failed}");
        assert!(failed["error"].as_str().unwrap().contains("Invalid parameter"), "{failed}");
        assert_eq!(failed["steps"].as_array().unwrap().len(), 1);
        assert_eq!(failed["steps"][0]["response"]["status"], 400);

        // A template that names a missing input fails at run time, in words.
        let run_id = run(&app, &app.owner_key, &id, json!({ "caption": "no image" })).await;
        let failed = wait_run(&app, &run_id, Duration::from_secs(20), ended).await;
        assert_eq!(failed["status"], "FAILED");
        assert!(failed["error"].as_str().unwrap().contains("Template error"), "{failed}");

        // The provider stops taking the token: the first step refreshes it
        // once and is sent again; the second goes with the new token.
        *log.current_access.lock().unwrap() = "revoked".into();
        let before = api_paths(&log).len();
        let run_id = run(&app, &app.owner_key, &id, input).await;
        let done = wait_run(&app, &run_id, Duration::from_secs(20), ended).await;
        assert_eq!(done["status"], "SUCCEEDED", "[{}] {done}", app.backend);
        assert_eq!(*log.refreshes.lock().unwrap(), 1);
        assert_eq!(api_paths(&log)[before..], [
            ("/api/media".to_string(), "Bearer at-1".to_string()),
            ("/api/media".into(), "Bearer at-2".into()),
            ("/api/media_publish".into(), "Bearer at-2".into()),
        ]);
        assert!(!done.to_string().contains("at-2"), "no token in the run");
    })
    .await;
}

/// Runs started by hand at the same moment are written, and end, together
/// (on SQLite in shared transactions): each caller gets a run of its own,
/// each run is written once, with its job, runs once, and ends with one
/// event.
#[tokio::test]
async fn runs_started_together_are_each_written_once_and_each_run_once() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        instagram(&app, &base).await;
        let steps = json!([{ "key": "create_media", "kind": "API_EXECUTE", "provider": "instagram", "method": "POST",
            "path": "/api/media", "body": { "image_url": "https://example.com/a.jpg", "caption": "{{ input.n }}" } }]);
        let made = create(&app, json!({ "name": "Many at once", "steps": steps })).await;
        let id = made["action"]["id"].as_str().unwrap().to_string();
        const RUNS: usize = 40;
        let started = futures_util::future::join_all((0..RUNS).map(|n| {
            let (app, id) = (&app, id.clone());
            async move { run(app, &app.owner_key, &id, json!({ "n": format!("run-{n}") })).await }
        }))
        .await;
        let distinct: std::collections::HashSet<_> = started.iter().collect();
        assert_eq!(distinct.len(), RUNS, "[{}] each caller got a run of its own", app.backend);
        for (n, run_id) in started.iter().enumerate() {
            let done = wait_run(&app, run_id, Duration::from_secs(30), ended).await;
            assert_eq!(done["status"], "SUCCEEDED", "[{}] {done}", app.backend);
            // Its own input, in its own request.
            let sent = done["steps"][0]["request"]["body"].as_str().unwrap_or_default().to_string();
            assert!(sent.contains(&format!("\"run-{n}\"")), "[{}] {done}", app.backend);
        }
        let listed = app
            .gql(
                &app.owner_key,
                "query($a: ID) { actionRuns(filter: {actionId: $a}) { totalCount } }",
                json!({ "a": id }),
            )
            .await;
        assert_eq!(listed["actionRuns"]["totalCount"], RUNS, "[{}] {listed}", app.backend);
        // Each run made its one call, and its end is one event.
        assert_eq!(api_paths(&log).len(), RUNS, "[{}]", app.backend);
        let events = app
            .gql(
                &app.owner_key,
                "{ events(first: 100, filter: {eventTypes: [\"action.run_succeeded\"]}) { edges { node { data } } } }",
                json!({}),
            )
            .await;
        let mut ended: Vec<String> = events["events"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["data"]["run_id"].as_str().unwrap().to_string())
            .collect();
        ended.sort();
        let mut expected = started.clone();
        expected.sort();
        assert_eq!(ended, expected, "[{}] one run_succeeded event per run", app.backend);
    })
    .await;
}

/// SQLite's group commit of run writes (`progress`), when one write of a
/// batch fails: the batch is rolled back and each write applied alone, so
/// only the bad write's caller gets an error, and every start is written
/// exactly once (with its job) and answered with its own run. The writer
/// is held while the writes queue, so they meet in one batch.
#[tokio::test]
async fn a_failing_write_in_a_batch_of_run_writes_fails_only_its_caller() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
    use switchyard::services::actions::progress::NewRun;
    use switchyard::services::actions::runs::Origin;

    for_each_backend(&[], |app| async move {
        if app.state.writer.get_database_backend() != sea_orm::DbBackend::Sqlite {
            return; // PostgreSQL writes runs side by side, not in batches
        }
        let (base, _log) = provider().await;
        instagram(&app, &base).await;
        let made = create(&app, json!({ "name": "Batch", "steps": publish_steps() })).await;
        let id = made["action"]["id"].as_str().unwrap().to_string();
        let action = entity::action::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().unwrap();
        let st = app.state.clone();
        let start = |n: usize| {
            let (st, action) = (st.clone(), action.clone());
            tokio::spawn(async move {
                let origin = Origin { kind: "manual", trigger_id: None, actor: "system".into(), event: None };
                let input = json!({ "n": n, "image_url": "https://example.com/a.jpg", "caption": "batched" });
                let new = NewRun { grace: st.sweep_grace(), action, origin, input, paused: None };
                st.run_progress.start(&st, new).await
            })
        };
        let held = app.state.writer.begin().await.unwrap();
        let mut starts: Vec<_> = (0..10).map(start).collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A status may not be NULL: this update fails in any batch.
        let bad = entity::action_run::Entity::update_many()
            .col_expr(entity::action_run::Column::Status, Expr::value(Option::<String>::None))
            .filter(entity::action_run::Column::ActionId.eq(&id));
        let failing = {
            let st = st.clone();
            tokio::spawn(async move { st.run_progress.write(&st, bad).await })
        };
        starts.extend((10..20).map(start));
        tokio::time::sleep(Duration::from_millis(100)).await;
        held.rollback().await.unwrap();

        assert!(failing.await.unwrap().is_err(), "the bad update failed");
        let mut runs = Vec::new();
        for (n, s) in starts.into_iter().enumerate() {
            let (run, job) = s.await.unwrap().expect("every start was written");
            assert_eq!(run.input["n"], n, "each caller got its own run");
            assert_eq!(job.expect("with its job").payload["run_id"], run.id.as_str());
            runs.push(run.id);
        }
        let rows = entity::action_run::Entity::find()
            .filter(entity::action_run::Column::ActionId.eq(&id))
            .count(&app.state.db)
            .await
            .unwrap();
        assert_eq!(rows, 20, "each start written once");
        for run_id in &runs {
            let done = wait_run(&app, run_id, Duration::from_secs(30), ended).await;
            assert_eq!(done["status"], "SUCCEEDED", "{done}");
        }
    })
    .await;
}

#[tokio::test]
async fn templates_paths_connections_and_triggers_are_checked_when_an_action_is_saved() {
    for_each_backend(&[], |app| async move {
        let (base, _log) = provider().await;
        instagram(&app, &base).await;
        let step = |extra: Value| {
            let mut s = json!({ "key": "one", "kind": "API_EXECUTE", "provider": "instagram", "method": "POST", "path": "/api/media" });
            s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            s
        };
        let cases = [
            (json!({ "steps": [step(json!({ "body": { "caption": "{{ input.caption " } }))] }), "input.steps.0.body"),
            (json!({ "steps": [step(json!({ "body": { "x": "{{ secrets.token }}" } }))] }), "input.steps.0.body"),
            (json!({ "steps": [step(json!({ "body": { "x": "{{ steps.later.response.body }}" } }))] }), "input.steps.0.body"),
            (json!({ "steps": [step(json!({ "path": "https://evil.example/steal" }))] }), "input.steps.0.path"),
            (json!({ "steps": [step(json!({ "path": "//evil.example/steal" }))] }), "input.steps.0.path"),
            (json!({ "steps": [step(json!({ "provider": "shopify" }))] }), "input.steps.0.provider"),
            (json!({ "steps": [step(json!({ "provider": "nope" }))] }), "input.steps.0.provider"),
            (json!({ "steps": [step(json!({ "headers": [{ "name": "Authorization", "value": "Bearer x" }] }))] }), "input.steps.0.headers"),
            (json!({ "steps": [step(json!({ "key": "Bad Key" }))] }), "input.steps.0.key"),
            (json!({ "steps": [step(json!({})), step(json!({}))] }), "input.steps.1.key"),
            (json!({ "steps": [{ "key": "wait", "kind": "DELAY", "seconds": 0 }] }), "input.steps.0.seconds"),
            (json!({ "steps": [{ "key": "hook", "kind": "WEBHOOK", "url": "ftp://x" }] }), "input.steps.0.url"),
            // A template may fill a URL's path and query, never its host.
            (json!({ "steps": [{ "key": "hook", "kind": "WEBHOOK", "url": "{{ input.url }}" }] }), "input.steps.0.url"),
            (json!({ "steps": [{ "key": "hook", "kind": "WEBHOOK", "url": "https://{{ input.host }}/x" }] }), "input.steps.0.url"),
            (json!({ "steps": [{ "key": "hook", "kind": "WEBHOOK", "url": "https://h.example/{{ input.x" }] }), "input.steps.0.url"),
            (json!({ "steps": [] }), "input.steps"),
            (json!({ "steps": [step(json!({}))], "triggers": [{ "cron": "61 * * * *" }] }), "input.triggers.0.cron"),
            (json!({ "steps": [step(json!({}))], "triggers": [{ "cron": "0 9 * * 1", "timezone": "Mars/Base" }] }), "input.triggers.0.timezone"),
            (json!({ "steps": [step(json!({}))], "triggers": [{ "eventType": "nothing.here" }] }), "input.triggers.0.eventType"),
            (json!({ "steps": [step(json!({}))], "triggers": [{ "eventType": "action.run_failed" }] }), "input.triggers.0.eventType"),
            (json!({ "steps": [step(json!({}))], "triggers": [{ "cron": "* * * * *", "eventType": "record.created" }] }), "input.triggers.0.kind"),
            (json!({ "steps": [step(json!({}))], "triggers": [{ "everySeconds": 0 }] }), "input.triggers.0.everySeconds"),
        ];
        for (mut input, field) in cases {
            input["name"] = json!("Refused");
            let (at, _) = app.user_error(&app.owner_key, "createAction", input.clone()).await;
            assert_eq!(at, field, "[{}] {input}", app.backend);
        }
        let listed = app.gql(&app.owner_key, "{ actions { totalCount } }", json!({})).await;
        assert_eq!(listed["actions"]["totalCount"], 0, "nothing refused was saved");

        // A good one: a cron in a time zone, described in words; an event trigger.
        let made = create(&app, json!({ "name": "Weekly", "steps": [step(json!({ "body": { "n": "{{ input.n }}" } }))],
            "triggers": [{ "cron": "0 9 * * MON", "timezone": "Europe/Paris" }, { "eventType": "record.*" }] })).await;
        let t = &made["action"]["triggers"];
        assert_eq!(t[0]["kind"], "SCHEDULE");
        assert_eq!(t[0]["timezone"], "Europe/Paris");
        let next: chrono::DateTime<chrono::Utc> = t[0]["nextRunAt"].as_str().unwrap().parse().unwrap();
        let paris = next.with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!((paris.format("%a %H:%M").to_string()), "Mon 09:00", "{made}");
        assert!(t[0]["cronDescription"].as_str().unwrap().contains("09:00"), "{made}");
        assert_eq!(t[1]["kind"], "EVENT");
        let id = made["action"]["id"].as_str().unwrap();
        // A page of actions: each gets its own triggers and state (read in one batch).
        create(&app, json!({ "name": "Plain", "steps": [step(json!({}))] })).await;
        let listed = app.gql(&app.owner_key, "{ actions(orderBy: OLDEST_FIRST) { edges { node { name pausedReason triggers { kind } } } } }", json!({})).await;
        let nodes: Vec<Value> = listed["actions"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
        assert_eq!(nodes.len(), 2, "{listed}");
        assert_eq!((nodes[0]["name"].as_str(), nodes[0]["triggers"].as_array().unwrap().len()), (Some("Weekly"), 2), "{listed}");
        assert_eq!((nodes[1]["name"].as_str(), nodes[1]["triggers"].as_array().unwrap().len()), (Some("Plain"), 0), "{listed}");
        assert!(nodes.iter().all(|n| n["pausedReason"].is_null()), "{listed}");

        // Collaborators may not define actions; disabled actions do not run.
        let (_, collab) = app.collaborator_key("c@example.com").await;
        let update = crate::helpers::mutation_query("updateAction", "action { id }");
        app.gql_err(Some(&collab), &update, json!({ "i": { "id": id, "name": "Mine" } }), "FORBIDDEN").await;
        // `null` on a field that cannot be empty: INVALID, and nothing changes.
        for field in ["name", "description", "enabled", "steps", "triggers"] {
            let got = app.user_error(&app.owner_key, "updateAction", json!({ "id": id, field: null })).await;
            assert_eq!(got, (format!("input.{field}"), "INVALID".into()), "{field}");
        }
        let kept = app.gql(&app.owner_key, "query($id: ID!) { action(id: $id) { name triggers { kind } } }", json!({ "id": id })).await;
        assert_eq!((kept["action"]["name"].as_str(), kept["action"]["triggers"].as_array().unwrap().len()), (Some("Weekly"), 2), "{kept}");
        let out = app.mutate(&app.owner_key, "updateAction", json!({ "id": id, "enabled": false }), "action { enabled triggers { active } }").await;
        assert_eq!(out["action"]["triggers"][0]["active"], false);
        let (at, _) = app.user_error(&app.owner_key, "runAction", json!({ "id": id })).await;
        assert_eq!(at, "input.id");
        // Enabled again, its schedule goes on from now: the tick it missed
        // while off (here: yesterday) does not fire at once.
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
        entity::action_trigger::Entity::update_many()
            .col_expr(entity::action_trigger::Column::NextRunAt, sea_orm::sea_query::Expr::value(yesterday))
            .filter(entity::action_trigger::Column::ActionId.eq(id))
            .exec(&app.state.writer)
            .await
            .unwrap();
        let out = app.mutate(&app.owner_key, "updateAction", json!({ "id": id, "enabled": true }), "action { triggers { active nextRunAt } }").await;
        let next: chrono::DateTime<chrono::Utc> = out["action"]["triggers"][0]["nextRunAt"].as_str().unwrap().parse().unwrap();
        assert!(next > chrono::Utc::now() && out["action"]["triggers"][0]["active"] == true, "{out}");
        let paris = next.with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!(paris.format("%a %H:%M").to_string(), "Mon 09:00", "{out}");
        let out = app.mutate(&app.owner_key, "deleteAction", json!({ "id": id }), "deletedId").await;
        assert_eq!(out["deletedId"], id);
        app.gql_null(&app.owner_key, "query($id: ID!) { action(id: $id) { id } }", json!({ "id": id }), "action").await;
    })
    .await;
}

#[tokio::test]
async fn a_run_that_meets_the_providers_window_waits_and_resumes_when_it_opens() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let key = app.owner_key.clone();
        custom_rest(&app, &base, Some((2, 2))).await;
        let steps: Vec<Value> = (0..3)
            .map(|n| json!({ "key": format!("get_{n}"), "kind": "API_EXECUTE", "provider": "custom_rest", "path": format!("/items?n={n}") }))
            .collect();
        let made = create(&app, json!({ "name": "Three calls", "steps": steps })).await;
        let hits_before = log.api_hits.lock().unwrap().len();
        let run_id = run(&app, &key, made["action"]["id"].as_str().unwrap(), json!({})).await;
        let waiting = wait_run(&app, &run_id, Duration::from_secs(10), |r| r["status"] == "WAITING" || ended(r)).await;
        assert_eq!(waiting["status"], "WAITING", "the third call waits for the window: {waiting}");
        assert!(waiting["waitUntil"].is_string());
        assert_eq!(waiting["steps"][2]["status"], "WAITING");
        assert_eq!(waiting["steps"][2]["attempts"], 0, "nothing went out to collect a 429");
        let done = wait_run(&app, &run_id, Duration::from_secs(15), ended).await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        let items: Vec<String> = log.api_hits.lock().unwrap()[hits_before..].iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(items, vec!["/api/items?n=0", "/api/items?n=1", "/api/items?n=2"], "each step once, in order");
    })
    .await;
}

#[tokio::test]
async fn a_step_meeting_5xx_waits_2_then_4_seconds_between_attempts_and_then_succeeds() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let key = app.owner_key.clone();
        custom_rest(&app, &base, None).await;
        // `/api/sick` answers 503 six times: each attempt is three requests
        // (the connection's two quick retries), so two attempts fail.
        let made = create(
            &app,
            json!({ "name": "Sick", "steps": [
            { "key": "get", "kind": "API_EXECUTE", "provider": "custom_rest", "path": "/sick" }] }),
        )
        .await;
        let run_id = run(&app, &key, made["action"]["id"].as_str().unwrap(), json!({})).await;
        let mut waits = Vec::new();
        for attempt in 1..=2 {
            let seen = wait_run(&app, &run_id, Duration::from_secs(15), |r| {
                ended(r) || (r["status"] == "WAITING" && r["steps"][0]["attempts"] == attempt)
            })
            .await;
            assert_eq!(seen["status"], "WAITING", "[{}] attempt {attempt} waits: {seen}", app.backend);
            let step = &seen["steps"][0];
            assert!(step["error"].as_str().unwrap_or_default().contains("trying again"), "{seen}");
            let until = chrono::DateTime::parse_from_rfc3339(seen["waitUntil"].as_str().unwrap()).unwrap();
            waits.push((until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds());
        }
        // 2 s after the first failed attempt, 4 s after the second (less the time the poll took to see it).
        assert!((1_000..=2_000).contains(&waits[0]), "[{}] first wait {} ms", app.backend, waits[0]);
        assert!((3_000..=4_000).contains(&waits[1]), "[{}] second wait {} ms", app.backend, waits[1]);
        let done = wait_run(&app, &run_id, Duration::from_secs(15), ended).await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        assert_eq!(done["steps"][0]["attempts"], 3, "{done}");
        let hits: Vec<String> =
            log.api_hits.lock().unwrap().iter().filter(|(p, _)| p == "/api/sick").map(|(p, _)| p.clone()).collect();
        assert_eq!(hits.len(), 7, "three requests for each failed attempt, one for the last");
    })
    .await;
}

#[tokio::test]
async fn a_provider_that_keeps_answering_429_holds_no_worker_and_fails_the_step_after_five_attempts() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let key = app.owner_key.clone();
        let connection = custom_rest(&app, &base, None).await;
        let hits = |after: &str| {
            let path = format!("/api/always429?after={after}");
            log.api_hits.lock().unwrap().iter().filter(|(p, _)| *p == path).count()
        };
        let step = |after: u32| json!([{ "key": "get", "kind": "API_EXECUTE", "provider": "custom_rest", "path": format!("/always429?after={after}") }]);

        // A long Retry-After is not slept in the worker: the run waits for it, one request made.
        let long = create(&app, json!({ "name": "Long wait", "steps": step(30) })).await;
        let started = Instant::now();
        let run_id = run(&app, &key, long["action"]["id"].as_str().unwrap(), json!({})).await;
        let seen = wait_run(&app, &run_id, Duration::from_secs(10), |r| r["status"] == "WAITING" || ended(r)).await;
        assert!(started.elapsed() < Duration::from_secs(8), "[{}] the worker slept: {:?}", app.backend, started.elapsed());
        assert_eq!(seen["status"], "WAITING", "{seen}");
        assert_eq!(seen["steps"][0]["attempts"], 1, "a 429 counts as an attempt: {seen}");
        assert!(seen["steps"][0]["error"].as_str().unwrap().contains("429"), "{seen}");
        let until = chrono::DateTime::parse_from_rfc3339(seen["waitUntil"].as_str().unwrap()).unwrap();
        let wait = (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
        assert!((20..=30).contains(&wait), "[{}] waits for the Retry-After: {wait} s", app.backend);
        assert_eq!(hits("30"), 1);
        let out = app.mutate(&key, "cancelActionRun", json!({ "id": run_id }), "run { status }").await;
        assert_eq!(out["run"]["status"], "CANCELLED");

        // A short one is slept twice in place, then the run waits; five such attempts and the step fails.
        let short = create(&app, json!({ "name": "Always limited", "steps": step(1) })).await;
        let run_id = run(&app, &key, short["action"]["id"].as_str().unwrap(), json!({})).await;
        let done = wait_run(&app, &run_id, Duration::from_secs(40), ended).await;
        assert_eq!(done["status"], "FAILED", "{done}");
        assert_eq!(done["steps"][0]["attempts"], 5, "{done}");
        assert!(done["error"].as_str().unwrap().contains("still answered HTTP 429"), "{done}");
        assert_eq!(hits("1"), 15, "three requests an attempt");
        // Each attempt is in the connection's call log as the 429 it met (the first run's too).
        let q = "query($id: ID!) { connection(id: $id) { calls(first: 50) { edges { node { status httpStatus attempts error } } } } }";
        let seen = app.gql(&key, q, json!({ "id": connection })).await;
        let calls = seen["connection"]["calls"]["edges"].as_array().unwrap().clone();
        assert_eq!(calls.len(), 6, "{seen}");
        assert!(calls.iter().all(|c| c["node"]["status"] == "FAILED" && c["node"]["httpStatus"] == 429), "{seen}");
        assert_eq!(calls.iter().filter(|c| c["node"]["attempts"] == 3).count(), 5, "{seen}");
    })
    .await;
}

#[tokio::test]
async fn a_retry_that_finds_the_window_full_keeps_its_cause_and_holds_no_worker() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let key = app.owner_key.clone();
        // One call in 20 s: the quick retry of a 502 finds no slot for longer
        // than a worker sleeps (10 s), though within the step's time (30 s).
        custom_rest(&app, &base, Some((1, 20))).await;
        let made = create(
            &app,
            json!({ "name": "Flaky", "steps": [
            { "key": "get", "kind": "API_EXECUTE", "provider": "custom_rest", "path": "/flaky" }] }),
        )
        .await;
        let started = Instant::now();
        let run_id = run(&app, &key, made["action"]["id"].as_str().unwrap(), json!({})).await;
        let seen = wait_run(&app, &run_id, Duration::from_secs(10), |r| r["status"] == "WAITING" || ended(r)).await;
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "[{}] the worker waited for the window: {:?}",
            app.backend,
            started.elapsed()
        );
        assert_eq!(seen["status"], "WAITING", "{seen}");
        let error = seen["steps"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains("HTTP 502") && error.contains("trying again"), "the 502 stands, not a 429: {seen}");
        assert_eq!(seen["steps"][0]["attempts"], 1, "{seen}");
        let flaky = log.api_hits.lock().unwrap().iter().filter(|(p, _)| p == "/api/flaky").count();
        assert_eq!(flaky, 1, "the retry did not go out past the window");
        let out = app.mutate(&key, "cancelActionRun", json!({ "id": run_id }), "run { status }").await;
        assert_eq!(out["run"]["status"], "CANCELLED");
    })
    .await;
}

/// A receiver that keeps what it got (body and headers).
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    // What arrives, with the path it came to as `x-received-path`.
    let hook = axum::routing::post(move |uri: axum::http::Uri, mut headers: axum::http::HeaderMap, body: String| {
        let keep = keep.clone();
        async move {
            headers.insert("x-received-path", uri.path().parse().unwrap());
            keep.lock().unwrap().push((headers, body));
            "ok"
        }
    });
    let router = axum::Router::new().route("/hook", hook.clone()).route("/hook/{*rest}", hook);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn an_event_trigger_runs_on_each_record_of_its_endpoint_with_the_events_data() {
    for_each_backend(&[], |app| async move {
        let (endpoint, test_key, _) = crate::data::setup(&app, json!({})).await;
        let other = app
            .mutate(
                &app.owner_key,
                "createDataEndpoint",
                json!({ "slug": "other", "name": "Other" }),
                "dataEndpoint { id }",
            )
            .await;
        assert!(other["dataEndpoint"]["id"].is_string());
        let (url, got) = receiver().await;
        let made = create(
            &app,
            json!({ "name": "Forward orders",
            // A template may fill the URL's path (its host is fixed).
            "steps": [{ "key": "notify", "kind": "WEBHOOK", "url": format!("{url}/{{{{ event.data.data.order_id }}}}"),
                        "body": { "order": "{{ event.data.data.order_id }}", "amount": "{{ event.data.data.amount }}",
                                  "text": "Order {{ event.data.data.order_id }} of {{ event.data.data.amount }}" } }],
            "triggers": [{ "eventType": "record.created", "endpointId": endpoint }] }),
        )
        .await;
        let secret = made["signingSecret"].as_str().unwrap().to_string();
        let (status, body) = crate::data::call(
            &app,
            "POST",
            "/api/v1/data/orders",
            Some(&test_key),
            Some(crate::data::ORDER),
            "application/json",
        )
        .await;
        assert_eq!(status, 202, "{body}");
        let started = Instant::now();
        while got.lock().unwrap().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(20), "[{}] the action never ran", app.backend);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (headers, body) = got.lock().unwrap()[0].clone();
        // The reference library verifies the signature.
        let wh = standardwebhooks::Webhook::new(&secret).unwrap();
        wh.verify(body.as_bytes(), &headers).expect("a valid Standard Webhooks signature");
        let sent: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(sent, json!({ "order": "ORD-2024-001", "amount": 45000, "text": "Order ORD-2024-001 of 45000" }));
        assert_eq!(headers["x-received-path"], "/hook/ORD-2024-001");
        let runs = app
            .gql(&app.owner_key, "{ actionRuns { totalCount edges { node { status trigger event } } } }", json!({}))
            .await;
        let node = &runs["actionRuns"]["edges"][0]["node"];
        assert_eq!(node["trigger"], "EVENT", "{runs}");
        assert_eq!(node["event"]["type"], "record.created");

        // Records of another endpoint start nothing.
        let key = app.mutate(&app.owner_key, "createDataKey", json!({ "name": "k2" }), "secret").await;
        let (status, _) = crate::data::call(
            &app,
            "POST",
            "/api/v1/data/other",
            key["secret"].as_str(),
            Some("{\"a\":1}"),
            "application/json",
        )
        .await;
        assert_eq!(status, 202);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let runs = app.gql(&app.owner_key, "{ actionRuns { totalCount } }", json!({})).await;
        assert_eq!(runs["actionRuns"]["totalCount"], 1, "{runs}");
        assert_eq!(got.lock().unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_schedule_fires_once_per_tick_even_when_schedulers_race() {
    use sea_orm::EntityTrait;
    for_each_backend(&["--action-schedule-interval-seconds", "1"], |app| async move {
        let (url, got) = receiver().await;
        let made = create(
            &app,
            json!({ "name": "Every second",
            "steps": [{ "key": "ping", "kind": "WEBHOOK", "url": url, "body": { "run": "{{ run.id }}" } }],
            "triggers": [{ "everySeconds": 1 }] }),
        )
        .await;
        let id = made["action"]["id"].as_str().unwrap().to_string();
        let count = || async {
            app.gql(&app.owner_key, "{ actionRuns { totalCount } }", json!({})).await["actionRuns"]["totalCount"]
                .as_i64()
                .unwrap()
        };

        // Left to the scheduler (once it has started): about one run a second, each posting once.
        let started = Instant::now();
        while count().await == 0 {
            assert!(started.elapsed() < Duration::from_secs(15), "[{}] the schedule never fired", app.backend);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(4000)).await;
        app.mutate(&app.owner_key, "updateAction", json!({ "id": id, "enabled": false }), "action { id }").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let n = count().await;
        assert!(
            (2..=7).contains(&n),
            "[{}] {n} runs in ~5 s of 1 s ticks (each within a sweep of its tick)",
            app.backend
        );
        let started = Instant::now();
        while got.lock().unwrap().len() < n as usize {
            assert!(started.elapsed() < Duration::from_secs(10), "[{}] not every run posted", app.backend);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ids: std::collections::BTreeSet<String> = got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str::<Value>(b).unwrap()["run"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), n as usize, "one post per run, none twice");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(count().await, n, "a disabled action's schedule stops");

        // Several schedulers at once on one due tick: one run.
        let due = chrono::Utc::now() - chrono::Duration::seconds(1);
        entity::action_trigger::Entity::update_many()
            .col_expr(entity::action_trigger::Column::NextRunAt, sea_orm::sea_query::Expr::value(due))
            .col_expr(entity::action_trigger::Column::Active, sea_orm::sea_query::Expr::value(true))
            .exec(&app.state.writer)
            .await
            .unwrap();
        let racing = futures_util::future::join_all(
            (0..6).map(|_| switchyard::services::actions::triggers::fire_due(&app.state)),
        )
        .await;
        let fired: usize = racing.into_iter().map(|r| r.unwrap()).sum();
        assert!(fired <= 1, "[{}] {fired} runs for one tick", app.backend);
        assert_eq!(count().await, n + 1, "[{}] one run for the tick (by the racers or the scheduler)", app.backend);
    })
    .await;
}

/// `(status, currentStep, revision)` of each `actionRuns` answer on `ws`
/// until one has ended (at most 5 s between answers).
async fn run_states(ws: &mut WsClient) -> Vec<(String, i64, i64)> {
    let mut states = Vec::new();
    while let Some(msg) = ws.next_json_within(Duration::from_secs(5)).await {
        let run = &msg["payload"]["data"]["actionRuns"];
        let status = run["status"].as_str().unwrap_or_default().to_string();
        let (step, revision) = (run["currentStep"].as_i64().unwrap_or(-1), run["revision"].as_i64().unwrap_or(-1));
        states.push((status.clone(), step, revision));
        if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&status.as_str()) {
            break;
        }
    }
    states
}

#[tokio::test]
async fn a_broken_connection_pauses_runs_and_connecting_again_resumes_them() {
    // The scheduler's own pass (which also resumes stranded runs) is kept
    // out of the way: the test calls `resume_stranded` itself.
    for_each_backend(&["--action-schedule-interval-seconds", "60"], |app| async move {
        let (base, log) = provider().await;
        let cookie = instagram(&app, &base).await;
        let made = create(&app, json!({ "name": "Publish", "steps": publish_steps() })).await;
        let id = made["action"]["id"].as_str().unwrap().to_string();
        // An action started by events, which go on while the connection is broken.
        let on_key = create(&app, json!({ "name": "On key", "triggers": [{ "eventType": "api_key.created" }],
            "steps": [{ "key": "ping", "kind": "API_EXECUTE", "provider": "instagram", "method": "GET", "path": "/api/items" }] }))
        .await;
        let on_key = on_key["action"]["id"].as_str().unwrap().to_string();
        // The runs a filter finds, newest first: `{ id trigger }` each.
        let runs = |f: Value| {
            let app = app.clone();
            async move {
                let q = "query($f: ActionRunFilter) { actionRuns(filter: $f) { edges { node { id trigger } } } }";
                let seen = app.gql(&app.owner_key, q, json!({ "f": f })).await;
                seen["actionRuns"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect::<Vec<_>>()
            }
        };
        // The provider stops taking the token and refuses the refresh: the connection breaks.
        *log.current_access.lock().unwrap() = "revoked".into();
        *log.valid_refresh.lock().unwrap() = "revoked".into();
        let input = json!({ "image_url": "https://example.com/a.jpg", "caption": "Hi" });
        let run_id = run(&app, &app.owner_key, &id, input.clone()).await;
        let paused = wait_run(&app, &run_id, Duration::from_secs(20), |r| r["status"] == "PAUSED" || ended(r)).await;
        assert_eq!(paused["status"], "PAUSED", "{paused}");
        assert!(paused["error"].as_str().unwrap().contains("reconnected"), "{paused}");
        let a =
            app.gql(&app.owner_key, "query($id: ID!) { action(id: $id) { pausedReason } }", json!({ "id": id })).await;
        assert!(a["action"]["pausedReason"].as_str().unwrap().contains("reconnected"), "{a}");
        // A run started meanwhile waits paused, without calling anything.
        let hits = log.api_hits.lock().unwrap().len();
        let second = run(&app, &app.owner_key, &id, input).await;
        let r = wait_run(&app, &second, Duration::from_secs(5), |r| r["status"] != "QUEUED").await;
        assert_eq!(r["status"], "PAUSED");
        // So does one an event starts: the event is not lost, its run waits.
        let key = "mutation { createApiKey(input: { name: \"meanwhile\", scopes: [READ] }) { secret } }";
        app.gql(&app.owner_key, key, json!({})).await;
        let evented = runs(json!({ "actionId": on_key })).await;
        assert_eq!(evented.len(), 1, "[{}] {evented:?}", app.backend);
        assert_eq!(evented[0]["trigger"], "EVENT");
        let third_id = evented[0]["id"].as_str().unwrap().to_string();
        let r = wait_run(&app, &third_id, Duration::from_secs(5), |r| r["status"] != "QUEUED").await;
        assert_eq!(r["status"], "PAUSED", "[{}] {r}", app.backend);
        assert_eq!(log.api_hits.lock().unwrap().len(), hits);

        // Connecting again resumes all three; a subscriber hears the
        // resumed run queued again before it runs.
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", json!({ "authorization": format!("Bearer {}", app.owner_key) })).await;
        ws.subscribe("run", "subscription($r: ID) { actionRuns(runId: $r) { id status currentStep revision } }", json!({ "r": second })).await;
        wait_for_runs(&app, 1).await;
        *log.current_access.lock().unwrap() = "at-1".into();
        reconnect(&app, &cookie).await;
        for id in [&run_id, &second, &third_id] {
            let done = wait_run(&app, id, Duration::from_secs(20), ended).await;
            assert_eq!(done["status"], "SUCCEEDED", "[{}] {done}", app.backend);
            assert!(done["error"].is_null());
        }
        let heard = run_states(&mut ws).await;
        let states: Vec<(&str, i64)> = heard.iter().map(|(s, i, _)| (s.as_str(), *i)).collect();
        assert_eq!(states, [("QUEUED", 0), ("RUNNING", 0), ("RUNNING", 1), ("SUCCEEDED", 2)], "[{}]", app.backend);
        // Started paused (0), resumed (1), then one per write.
        let revisions: Vec<i64> = heard.iter().map(|(_, _, r)| *r).collect();
        assert_eq!(revisions, [1, 2, 3, 4], "[{}] {heard:?}", app.backend);

        // A run that paused just after a reconnect's hook passed it (here:
        // the connection mended with no event) is resumed by the scheduler
        // once it has been paused a while and its connections are usable.
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        *log.current_access.lock().unwrap() = "revoked".into();
        *log.valid_refresh.lock().unwrap() = "revoked".into();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let between = chrono::Utc::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let third =
            run(&app, &app.owner_key, &id, json!({ "image_url": "https://example.com/c.jpg", "caption": "3" })).await;
        let paused = wait_run(&app, &third, Duration::from_secs(20), |r| r["status"] == "PAUSED" || ended(r)).await;
        assert_eq!(paused["status"], "PAUSED", "{paused}");
        let resume = || switchyard::services::actions::triggers::resume_stranded(&app.state);
        assert_eq!(resume().await.unwrap(), 0, "its connection is still broken");
        *log.current_access.lock().unwrap() = "at-1".into();
        entity::connection::Entity::update_many()
            .col_expr(entity::connection::Column::Status, Expr::value("connected"))
            .filter(entity::connection::Column::WorkspaceId.eq(&app.workspace_id))
            .exec(&app.state.writer)
            .await
            .unwrap();
        assert_eq!(resume().await.unwrap(), 0, "paused only just now: the reconnect's own hook has the first go");
        entity::action_run::Entity::update_many()
            .col_expr(
                entity::action_run::Column::UpdatedAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
            )
            .filter(entity::action_run::Column::Id.eq(&third))
            .exec(&app.state.writer)
            .await
            .unwrap();
        assert_eq!(resume().await.unwrap(), 1);
        let done = wait_run(&app, &third, Duration::from_secs(20), ended).await;
        assert_eq!(done["status"], "SUCCEEDED", "[{}] {done}", app.backend);

        // Runs by when they were started: `since` includes its instant, `until` does not.
        let third_at = app.gql(&app.owner_key, "query($id: ID!) { actionRun(id: $id) { createdAt } }", json!({ "id": third })).await;
        let third_at = third_at["actionRun"]["createdAt"].as_str().unwrap().to_string();
        let ids = |f: Value| async move {
            runs(f).await.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        };
        let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        assert_eq!(ids(json!({ "actionId": id, "since": at(between) })).await, vec![third.clone()]);
        assert_eq!(ids(json!({ "actionId": id, "until": at(between) })).await, vec![second.clone(), run_id.clone()]);
        assert_eq!(ids(json!({ "actionId": id, "since": third_at })).await, vec![third.clone()]);
        assert_eq!(ids(json!({ "actionId": id, "until": third_at })).await, vec![second.clone(), run_id.clone()]);
        let all = ids(json!({ "since": at(between - chrono::Duration::hours(1)), "until": at(chrono::Utc::now()) })).await;
        assert_eq!(all.len(), 4, "[{}] {all:?}", app.backend);
        assert!(ids(json!({ "since": at(chrono::Utc::now() + chrono::Duration::seconds(1)) })).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_waiting_run_can_be_cancelled_and_an_ended_one_cannot() {
    for_each_backend(&[], |app| async move {
        let (url, got) = receiver().await;
        let made = create(
            &app,
            json!({ "name": "Later", "steps": [
            { "key": "pause", "kind": "DELAY", "seconds": 2 },
            { "key": "ping", "kind": "WEBHOOK", "url": url, "body": { "n": 1 } } ] }),
        )
        .await;
        let run_id = run(&app, &app.owner_key, made["action"]["id"].as_str().unwrap(), json!({})).await;
        let waiting = wait_run(&app, &run_id, Duration::from_secs(10), |r| r["status"] == "WAITING" || ended(r)).await;
        assert_eq!(waiting["status"], "WAITING", "{waiting}");
        assert_eq!(waiting["steps"][0]["status"], "WAITING");
        let out = app.mutate(&app.owner_key, "cancelActionRun", json!({ "id": run_id }), "run { status }").await;
        assert_eq!(out["run"]["status"], "CANCELLED");
        tokio::time::sleep(Duration::from_millis(3000)).await;
        let after = wait_run(&app, &run_id, Duration::from_secs(1), |_| true).await;
        assert_eq!(after["status"], "CANCELLED", "the delay's end resumed nothing: {after}");
        assert!(got.lock().unwrap().is_empty(), "the step after the cancel never ran");
        let (at, _) = app.user_error(&app.owner_key, "cancelActionRun", json!({ "id": run_id })).await;
        assert_eq!(at, "input.id");
    })
    .await;
}

#[tokio::test]
async fn a_plugin_step_runs_an_installed_plugins_action_and_feeds_the_next_step() {
    for_each_backend(&[], |app| async move {
        let stand_in = crate::plugins::Receiver::start(json!({
            "location": { "name": "Oslo", "country": "Norway" },
            "current": { "temp_c": -3.5, "condition": { "text": "Snow" }, "last_updated": "2026-12-07 10:00" }
        }))
        .await;
        let config = json!({ "api_key": "wk-key-123456", "default_city": "Beijing", "base_url": format!("{}/v1", stand_in.url) });
        app.mutate(&app.owner_key, "installPlugin", json!({ "pluginId": "plugin_weather_v1.0.0", "config": config }), "plugin { id }").await;
        let (url, got) = receiver().await;
        let made = create(&app, json!({ "name": "Weather report", "steps": [
            { "key": "weather", "kind": "PLUGIN", "plugin": "weather", "pluginAction": "current", "body": { "city": "{{ input.city }}" } },
            { "key": "post", "kind": "WEBHOOK", "url": url,
              "body": { "text": "{{ steps.weather.response.body.city }}: {{ steps.weather.response.body.condition }}",
                        "temp": "{{ steps.weather.response.body.temp_c }}" } } ] })).await;
        assert!(made["action"]["steps"][0]["key"] == "weather", "{made}");
        let run_id = run(&app, &app.owner_key, made["action"]["id"].as_str().unwrap(), json!({ "city": "Oslo" })).await;
        let done = wait_run(&app, &run_id, Duration::from_secs(20), ended).await;
        assert_eq!(done["status"], "SUCCEEDED", "[{}] {done}", app.backend);
        let hits = stand_in.hits.lock().unwrap().clone();
        assert_eq!(hits.len(), 1);
        assert!(hits[0].uri.contains("q=Oslo"), "{:?}", hits[0].uri);
        let (_, body) = got.lock().unwrap()[0].clone();
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({ "text": "Oslo: Snow", "temp": -3.5 }));
        assert!(!done.to_string().contains("wk-key-123456"), "no plugin secret in the run");

        // Saving a step of a plugin that is not installed is refused.
        let (at, code) = app
            .user_error(&app.owner_key, "createAction", json!({ "name": "x", "steps": [
                { "key": "a", "kind": "PLUGIN", "plugin": "chat_notifier", "pluginAction": "post_message" } ] }))
            .await;
        assert_eq!((at.as_str(), code.as_str()), ("input.steps.0.plugin", "NOT_FOUND"));
        // So is an action the installed plugin does not have, naming the ones it has.
        let refused = app
            .mutate_refused(&app.owner_key, "createAction", json!({ "name": "x", "steps": [
                { "key": "a", "kind": "PLUGIN", "plugin": "weather", "pluginAction": "nope" } ] }), "")
            .await;
        let e = &refused["userErrors"][0];
        assert_eq!((e["field"].clone(), e["code"].clone()), (json!(["input", "steps", "0", "pluginAction"]), json!("INVALID")), "{refused}");
        assert!(e["message"].as_str().unwrap().contains("has no action `nope` (it has: current"), "{refused}");
    })
    .await;
}

/// Action runs have a pool of their own (`RunAction::own_slots`): with the
/// process's shared pool cut to one slot, four runs still wait on their
/// provider at the same time. The provider holds each request until four
/// are in (at most 10 s), and keeps the most it saw at once.
#[tokio::test]
async fn action_runs_do_not_queue_behind_the_shared_worker_pool() {
    for_each_backend(&["--worker-concurrency", "1"], |app| async move {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        const RUNS: usize = 4;
        #[derive(Clone, Default)]
        struct Gate {
            in_flight: Arc<AtomicUsize>,
            most: Arc<AtomicUsize>,
            all_in: Arc<tokio::sync::Notify>,
        }
        let gate = Gate::default();
        let held = |axum::extract::State(g): axum::extract::State<Gate>| async move {
            // Listening before counting in, so the last one's call is heard.
            let all_in = g.all_in.notified();
            let now = g.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            g.most.fetch_max(now, Ordering::SeqCst);
            if now >= RUNS {
                g.all_in.notify_waiters();
            } else {
                let _ = tokio::time::timeout(Duration::from_secs(10), all_in).await;
            }
            g.in_flight.fetch_sub(1, Ordering::SeqCst);
            axum::Json(json!({ "ok": true }))
        };
        let router = axum::Router::new()
            .route("/api", axum::routing::any(|| async { axum::Json(json!({ "ok": true })) }))
            .route("/api/gate", axum::routing::post(held))
            .with_state(gate.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        custom_rest(&app, &base, None).await;
        let made = create(
            &app,
            json!({ "name": "Held", "steps": [
                { "key": "held", "kind": "API_EXECUTE", "provider": "custom_rest", "method": "POST", "path": "/gate",
                  "body": { "n": "{{ input.n }}" } }] }),
        )
        .await;
        let id = made["action"]["id"].as_str().unwrap().to_string();
        let mut runs = Vec::new();
        for n in 0..RUNS {
            runs.push(run(&app, &app.owner_key, &id, json!({ "n": n.to_string() })).await);
        }
        for run_id in &runs {
            let done = wait_run(&app, run_id, Duration::from_secs(60), ended).await;
            assert_eq!(done["status"], "SUCCEEDED", "[{}] {done}", app.backend);
        }
        assert_eq!(
            gate.most.load(Ordering::SeqCst),
            RUNS,
            "[{}] every run waited on the provider at once, not one after another",
            app.backend
        );
    })
    .await;
}
