//! `sk_test_…` and `sk_live_…` API keys "differ only in the records they
//! see": each reads, lists, resolves and streams the records of its own
//! environment alone, while a browser session sees both.

use std::time::Duration;

use serde_json::{json, Value};

use crate::data::{call, processed, setup, ORDER};
use crate::helpers::{for_each_backend, TestApp, WsClient};

/// A new `sk_live_…` key of the owner with `READ` and `WRITE`.
async fn live_api_key(app: &TestApp) -> String {
    let input = json!({ "name": "prod", "scopes": ["READ", "WRITE"], "environment": "LIVE" });
    let out = app.mutate(&app.owner_key, "createApiKey", input, "secret").await;
    let secret = out["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("sk_live_"), "{secret}");
    secret
}

/// Sends `ORDER` with a data key and waits until it is processed; returns its id.
async fn processed_record(app: &TestApp, data_key: &str) -> String {
    let (status, body) =
        call(app, "POST", "/api/v1/data/orders", Some(data_key), Some(ORDER), "application/json").await;
    assert_eq!(status, 202, "[{}] {body}", app.backend);
    let id = body["id"].as_str().unwrap().to_string();
    processed(app, data_key, &id, "processed").await;
    id
}

/// The ids a `records` query answered, with its `totalCount`.
fn ids(conn: &Value) -> (i64, Vec<String>) {
    let nodes = conn["nodes"].as_array().unwrap();
    (conn["totalCount"].as_i64().unwrap(), nodes.iter().map(|n| n["id"].as_str().unwrap().to_string()).collect())
}

const LISTS: &str = "query($e: ID!) {
    all: records { totalCount nodes { id } }
    test: records(filter: { environment: TEST }) { totalCount nodes { id } }
    live: records(filter: { environment: LIVE }) { totalCount nodes { id } }
    dataEndpoint(id: $e) { records { totalCount nodes { id } } }
    viewer { recordsEnvironment }
}";

/// What `key` may see of a workspace holding one record of each
/// environment: `mine` is the record of the key's own environment, `other`
/// the one it must never see.
async fn sees_only(app: &TestApp, key: &str, endpoint: &str, env: &str, mine: &str, other: &str) {
    let b = &app.backend;
    let data = app.gql(key, LISTS, json!({ "e": endpoint })).await;
    assert_eq!(data["viewer"]["recordsEnvironment"], env, "[{b}] {data}");
    assert_eq!(ids(&data["all"]), (1, vec![mine.to_string()]), "[{b}] {env}: records {data}");
    assert_eq!(ids(&data["dataEndpoint"]["records"]), (1, vec![mine.to_string()]), "[{b}] {env}: {data}");
    // A filter for the other environment finds nothing, without an error.
    let (own, foreign) = if env == "TEST" { ("test", "live") } else { ("live", "test") };
    assert_eq!(ids(&data[own]), (1, vec![mine.to_string()]), "[{b}] {env}: {data}");
    assert_eq!(ids(&data[foreign]), (0, vec![]), "[{b}] {env}: {data}");

    let one = "query($id: ID!) { record(id: $id) { id environment } }";
    let found = app.gql(key, one, json!({ "id": mine })).await;
    assert_eq!(found["record"]["environment"], env, "[{b}] {found}");
    app.gql_null(key, one, json!({ "id": other }), "record").await;
    app.gql_null(key, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": other }), "node").await;
    let nodes = app.gql(key, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": [mine, other] })).await;
    assert_eq!(nodes["nodes"], json!([{ "id": mine }, null]), "[{b}] {env}: {nodes}");

    // Record events carry the record's data: only those of its own records.
    let q = r#"{ events(filter: { eventTypes: ["record.*"] }) { totalCount nodes { id subjectId } } }"#;
    let events = app.gql(key, q, json!({})).await["events"].clone();
    let subjects: Vec<&str> =
        events["nodes"].as_array().unwrap().iter().map(|e| e["subjectId"].as_str().unwrap()).collect();
    assert_eq!((events["totalCount"].as_i64(), subjects), (Some(1), vec![mine]), "[{b}] {env}: {events}");
}

/// The id of the `record.created` event of a record, read by the owner's session.
async fn event_of(app: &TestApp, cookie: &str, record: &str) -> String {
    let q = r#"{ events(filter: { eventTypes: ["record.created"] }) { nodes { id subjectId } } }"#;
    let body = app.gql_session(cookie, q, json!({})).await;
    let nodes = body["data"]["events"]["nodes"].as_array().unwrap().clone();
    let e = nodes.iter().find(|e| e["subjectId"] == record).unwrap_or_else(|| panic!("no event of {record}: {body}"));
    e["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_api_key_reads_lists_and_resolves_only_records_of_its_environment() {
    for_each_backend(&[], |app: TestApp| async move {
        let (endpoint, test_data_key, live_data_key) = setup(&app, json!({})).await;
        let test_id = processed_record(&app, &test_data_key).await;
        let live_id = processed_record(&app, &live_data_key).await;
        let live_key = live_api_key(&app).await;

        // `owner_key` is the owner's `sk_test_…` key with every scope.
        sees_only(&app, &app.owner_key, &endpoint, "TEST", &test_id, &live_id).await;
        sees_only(&app, &live_key, &endpoint, "LIVE", &live_id, &test_id).await;
        // Asked again, from the auth cache: the same answers.
        sees_only(&app, &live_key, &endpoint, "LIVE", &live_id, &test_id).await;

        // The owner's browser session (the dashboard, the console) sees both.
        let (_, cookie) = app.invite_and_accept(&app.owner_key, "second-owner@example.com", "OWNER").await;
        let body = app.gql_session(&cookie, LISTS, json!({ "e": endpoint })).await;
        assert!(body.get("errors").is_none(), "[{}] {body}", app.backend);
        let data = &body["data"];
        assert_eq!(data["viewer"]["recordsEnvironment"], Value::Null, "[{}] {data}", app.backend);
        assert_eq!(data["all"]["totalCount"], 2, "[{}] {data}", app.backend);
        assert_eq!(ids(&data["test"]), (1, vec![test_id.clone()]), "[{}] {data}", app.backend);
        assert_eq!(ids(&data["live"]), (1, vec![live_id.clone()]), "[{}] {data}", app.backend);

        // An event of the other environment's record is null by id too.
        let (test_event, live_event) =
            (event_of(&app, &cookie, &test_id).await, event_of(&app, &cookie, &live_id).await);
        let one = "query($id: ID!) { event(id: $id) { id } }";
        app.gql_null(&app.owner_key, one, json!({ "id": live_event }), "event").await;
        app.gql_null(&live_key, one, json!({ "id": test_event }), "event").await;
        let own = app.gql(&live_key, one, json!({ "id": live_event })).await;
        assert_eq!(own["event"]["id"], live_event.as_str(), "[{}] {own}", app.backend);
    })
    .await;
}

#[tokio::test]
async fn record_status_streams_only_records_of_the_keys_environment() {
    for_each_backend(&[], |app: TestApp| async move {
        let (endpoint, test_data_key, live_data_key) = setup(&app, json!({})).await;
        let live_key = live_api_key(&app).await;
        let subscribe = |key: String| {
            let (url, endpoint) = (app.ws_url(), endpoint.clone());
            async move {
                let auth = json!({ "Authorization": format!("Bearer {key}") });
                let mut ws = WsClient::connect(&url, "graphql-transport-ws", auth).await;
                let q = "subscription($e: ID) { recordStatus(endpointId: $e) { id environment } }";
                ws.subscribe("1", q, json!({ "e": endpoint })).await;
                ws
            }
        };
        let mut test_ws = subscribe(app.owner_key.clone()).await;
        let mut live_ws = subscribe(live_key).await;
        // The events stream too: a record event carries the record's data.
        let auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let mut events_ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        let q = r#"subscription { events(eventTypes: ["record.*"]) { subjectId } }"#;
        events_ws.subscribe("1", q, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        // The other environment's record is processed first: were it sent,
        // it would be the first message on the socket.
        let live_id = processed_record(&app, &live_data_key).await;
        let test_id = processed_record(&app, &test_data_key).await;
        for (ws, id, env) in [(&mut test_ws, &test_id, "TEST"), (&mut live_ws, &live_id, "LIVE")] {
            let msg = ws.next_json_within(Duration::from_secs(15)).await.expect("a status update");
            assert_eq!(msg["type"], "next", "[{}] {msg}", app.backend);
            let r = &msg["payload"]["data"]["recordStatus"];
            assert_eq!((r["id"].as_str(), r["environment"].as_str()), (Some(id.as_str()), Some(env)), "{msg}");
        }
        let msg = events_ws.next_json_within(Duration::from_secs(15)).await.expect("a record event");
        assert_eq!(msg["payload"]["data"]["events"]["subjectId"], test_id.as_str(), "[{}] {msg}", app.backend);
        let extra = live_ws.next_json_within(Duration::from_millis(500)).await;
        assert!(extra.is_none(), "[{}] a live key was sent a sandbox record: {extra:?}", app.backend);
    })
    .await;
}
