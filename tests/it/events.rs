//! The event log: the `events` query (order, actor, filters, paging, errors)
//! and the live `events` subscription over both WebSocket protocols,
//! including tenancy and authentication of the socket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{for_each_backend, wait_for_runs, TestApp, WsClient};

const EVENTS: &str = "query($first: Int, $after: String, $f: EventFilterInput) {
    events(first: $first, after: $after, filter: $f) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage endCursor }
      edges { cursor node { id type actor subjectId createdAt data } } } }";

const SUBSCRIBE: &str =
    "subscription($types: [String!]) { events(eventTypes: $types) { id type actor subjectId data } }";

/// The id of the API key `key` (as the server reports it).
async fn key_id(app: &TestApp, key: &str) -> String {
    app.gql(key, "{ viewer { apiKeyId } }", json!({})).await["viewer"]["apiKeyId"].as_str().unwrap().to_string()
}

fn nodes(conn: &Value) -> Vec<Value> {
    conn["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

fn types(conn: &Value) -> Vec<String> {
    nodes(conn).iter().map(|n| n["type"].as_str().unwrap().to_string()).collect()
}

/// The `events` payload of a subscription message of either protocol.
fn event_of(msg: &Value, protocol: &str) -> Value {
    let kind = if protocol == "graphql-ws" { "data" } else { "next" };
    assert_eq!(msg["type"], kind, "{msg}");
    assert!(msg["payload"].get("errors").is_none(), "{msg}");
    msg["payload"]["data"]["events"].clone()
}

/// Creates keys with `key` until `ws` receives a message (at most 10 tries,
/// 1 s each), which proves the subscription is live. Returns the message and
/// the ids of the keys created. An event committed before this call (the
/// set-up's own, relayed late through Redis) is skipped: it proves nothing.
async fn create_until_received(app: &TestApp, key: &str, ws: &mut WsClient) -> (Value, Vec<String>) {
    let since = format!("evt_{}", ulid::Ulid::new());
    let mut ids = Vec::new();
    for i in 0..10 {
        let (id, _) = app.create_key(key, &format!("live-{i}"), &["READ"]).await;
        ids.push(id);
        while let Some(msg) = ws.next_json_within(Duration::from_secs(1)).await {
            let event_id = msg["payload"]["data"]["events"]["id"].as_str();
            if event_id.is_none_or(|e| e >= since.as_str()) {
                return (msg, ids);
            }
        }
    }
    panic!("[{}] the subscription never delivered an event", app.backend);
}

/// Opens a WebSocket speaking `protocol` without sending anything.
async fn open_socket(app: &TestApp, protocol: &'static str) -> WsClient {
    let mut req = app.ws_url().into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (socket, resp) = tokio_tungstenite::connect_async(req).await.expect("websocket connects");
    assert_eq!(resp.headers()["sec-websocket-protocol"], protocol);
    WsClient { socket, protocol }
}

#[tokio::test]
async fn key_changes_are_logged_newest_first_with_actor_and_subject() {
    for_each_backend(&[], |app: TestApp| async move {
        let caller = key_id(&app, &app.owner_key).await;
        let before = app.gql(&app.owner_key, EVENTS, json!({})).await["events"]["totalCount"].as_u64().unwrap();

        let (id, _) = app.create_key(&app.owner_key, "logged", &["READ"]).await;
        app.mutate(&app.owner_key, "updateApiKey", json!({ "id": id, "name": "renamed" }), "apiKey { id }").await;
        app.mutate(&app.owner_key, "deleteApiKey", json!({ "id": id }), "deletedId").await;

        let conn = app.gql(&app.owner_key, EVENTS, json!({ "first": 3 })).await["events"].clone();
        assert_eq!(conn["totalCount"], before + 3, "[{}] {conn}", app.backend);
        assert_eq!(types(&conn), ["api_key.deleted", "api_key.updated", "api_key.created"], "[{}]", app.backend);
        for n in nodes(&conn) {
            assert_eq!(n["actor"], caller.as_str(), "[{}] {n}", app.backend);
            assert_eq!(n["subjectId"], id.as_str(), "[{}] {n}", app.backend);
            assert!(n["id"].as_str().unwrap().starts_with("evt_"), "{n}");
        }
        let all = nodes(&conn);
        assert_eq!(all[1]["data"]["name"], "renamed", "[{}] {}", app.backend, all[1]);
        assert_eq!(all[2]["data"]["name"], "logged", "[{}] {}", app.backend, all[2]);
        // Newest first: ids and times never increase down the list.
        for w in all.windows(2) {
            assert!(w[0]["id"].as_str() > w[1]["id"].as_str(), "{} / {}", w[0], w[1]);
            assert!(w[0]["createdAt"].as_str() >= w[1]["createdAt"].as_str(), "{} / {}", w[0], w[1]);
        }

        // One event by id.
        let one = app
            .gql(
                &app.owner_key,
                "query($id: ID!) { event(id: $id) { id type subjectId } }",
                json!({ "id": all[0]["id"] }),
            )
            .await;
        assert_eq!(one["event"], json!({ "id": all[0]["id"], "type": "api_key.deleted", "subjectId": id }));
    })
    .await;
}

#[tokio::test]
async fn events_filter_by_type_pattern_and_time() {
    for_each_backend(&[], |app: TestApp| async move {
        let (id, _) = app.create_key(&app.owner_key, "filtered", &["READ"]).await;
        app.mutate(&app.owner_key, "updateApiKey", json!({ "id": id, "enabled": false }), "apiKey { id }")
        .await;
        let all = app.gql(&app.owner_key, EVENTS, json!({ "first": 100 })).await["events"].clone();
        let total = all["totalCount"].as_u64().unwrap();
        assert_eq!(total as usize, nodes(&all).len());
        let api_key_count = types(&all).iter().filter(|t| t.starts_with("api_key.")).count();
        let user_count = types(&all).iter().filter(|t| t.starts_with("user.")).count();
        assert!(api_key_count >= 2 && user_count >= 1, "[{}] {all}", app.backend);
        assert!(api_key_count + user_count < total as usize, "[{}] other families exist too: {all}", app.backend);

        let keys = app.gql(&app.owner_key, EVENTS, json!({ "f": { "eventTypes": ["api_key.*"] }, "first": 100 })).await;
        let keys = &keys["events"];
        assert_eq!(keys["totalCount"], api_key_count, "[{}] {keys}", app.backend);
        assert!(types(keys).iter().all(|t| t.starts_with("api_key.")), "[{}] {keys}", app.backend);
        assert_eq!(types(keys)[..2], ["api_key.updated", "api_key.created"]);

        let users = app.gql(&app.owner_key, EVENTS, json!({ "f": { "eventTypes": ["user.*"] }, "first": 100 })).await;
        let users = &users["events"];
        assert_eq!(users["totalCount"], user_count, "[{}] {users}", app.backend);
        assert!(types(users).iter().all(|t| t.starts_with("user.")), "[{}] {users}", app.backend);

        let exact = app.gql(&app.owner_key, EVENTS, json!({ "f": { "eventTypes": ["api_key.updated"] } })).await;
        assert_eq!(exact["events"]["totalCount"], 1, "[{}] {exact}", app.backend);
        assert_eq!(nodes(&exact["events"])[0]["subjectId"], id.as_str());

        // Time windows: `since` is inclusive, `until` exclusive.
        let newest = nodes(&all)[0].clone();
        assert_eq!(newest["type"], "api_key.updated");
        let since = app.gql(&app.owner_key, EVENTS, json!({ "f": { "since": newest["createdAt"] } })).await;
        assert_eq!(since["events"]["totalCount"], 1, "[{}] since {}: {since}", app.backend, newest["createdAt"]);
        assert_eq!(nodes(&since["events"])[0]["id"], newest["id"]);
        let until =
            app.gql(&app.owner_key, EVENTS, json!({ "f": { "until": newest["createdAt"] }, "first": 100 })).await;
        assert_eq!(
            until["events"]["totalCount"],
            total - 1,
            "[{}] until {}: {until}",
            app.backend,
            newest["createdAt"]
        );
        assert!(!nodes(&until["events"]).iter().any(|n| n["id"] == newest["id"]));

        let future = app.gql(&app.owner_key, EVENTS, json!({ "f": { "since": "2999-01-01T00:00:00Z" } })).await;
        assert_eq!(future["events"]["totalCount"], 0, "[{}] {future}", app.backend);
        assert_eq!(future["events"]["edges"], json!([]));
        let past = app.gql(&app.owner_key, EVENTS, json!({ "f": { "until": "2000-01-01T00:00:00Z" } })).await;
        assert_eq!(past["events"]["totalCount"], 0, "[{}] {past}", app.backend);
        let wide = app
            .gql(
                &app.owner_key,
                EVENTS,
                json!({ "f": { "since": "2000-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z", "eventTypes": ["*"] } }),
            )
            .await;
        assert_eq!(wide["events"]["totalCount"], total, "[{}] {wide}", app.backend);
    })
    .await;
}

#[tokio::test]
async fn events_page_with_first_and_after() {
    for_each_backend(&[], |app: TestApp| async move {
        for name in ["p1", "p2", "p3", "p4"] {
            app.create_key(&app.owner_key, name, &["READ"]).await;
        }
        let all = app.gql(&app.owner_key, EVENTS, json!({ "first": 100 })).await["events"].clone();
        let total = all["totalCount"].as_u64().unwrap();
        let all_ids: Vec<Value> = nodes(&all).iter().map(|n| n["id"].clone()).collect();
        assert!(total >= 7, "[{}] set-up events plus four: {all}", app.backend);
        assert_eq!(all["pageInfo"]["hasNextPage"], false);

        let mut seen = Vec::new();
        let mut after = Value::Null;
        let mut pages = 0;
        loop {
            let page = app.gql(&app.owner_key, EVENTS, json!({ "first": 2, "after": after })).await["events"].clone();
            pages += 1;
            assert_eq!(page["totalCount"], total, "[{}] totalCount is for all pages: {page}", app.backend);
            assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
            let edges = page["edges"].as_array().unwrap();
            assert!(!edges.is_empty() && edges.len() <= 2, "{page}");
            for e in edges {
                assert_eq!(e["cursor"], e["node"]["id"], "{e}");
                seen.push(e["node"]["id"].clone());
            }
            assert_eq!(page["pageInfo"]["endCursor"], edges.last().unwrap()["cursor"]);
            let more = page["pageInfo"]["hasNextPage"].as_bool().unwrap();
            assert_eq!(more, (seen.len() as u64) < total, "[{}] {page}", app.backend);
            if !more {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(pages, total.div_ceil(2));
        assert_eq!(seen, all_ids, "[{}] the pages together are the whole list, in order", app.backend);

        // Paging composes with a filter.
        let f = json!({ "eventTypes": ["api_key.created"] });
        let p1 = app.gql(&app.owner_key, EVENTS, json!({ "first": 3, "f": f })).await["events"].clone();
        assert_eq!(p1["totalCount"], 5, "[{}] the owner key plus four: {p1}", app.backend);
        assert_eq!(p1["pageInfo"]["hasNextPage"], true);
        let p2 = app
            .gql(&app.owner_key, EVENTS, json!({ "first": 3, "f": f, "after": p1["pageInfo"]["endCursor"] }))
            .await["events"]
            .clone();
        assert_eq!(nodes(&p2).len(), 2, "{p2}");
        assert_eq!(p2["pageInfo"]["hasNextPage"], false);
        let names: Vec<Value> = nodes(&p1).iter().chain(nodes(&p2).iter()).map(|n| n["data"]["name"].clone()).collect();
        assert_eq!(names, json!(["p4", "p3", "p2", "p1", "test"]).as_array().unwrap().clone());
    })
    .await;
}

#[tokio::test]
async fn unknown_type_patterns_and_event_ids_are_rejected() {
    for_each_backend(&[], |app: TestApp| async move {
        let err = app
            .gql_err(Some(&app.owner_key), EVENTS, json!({ "f": { "eventTypes": ["nope.*"] } }), "INVALID_REQUEST")
            .await;
        assert_eq!(err["extensions"]["details"][0]["field"], "eventTypes", "{err}");
        app.gql_err(
            Some(&app.owner_key),
            EVENTS,
            json!({ "f": { "eventTypes": ["api_key.*", "nope"] } }),
            "INVALID_REQUEST",
        )
        .await;
        let unknown = format!("evt_{}", ulid::Ulid::new());
        let q = "query($id: ID!) { event(id: $id) { id } }";
        app.gql_null(&app.owner_key, q, json!({ "id": unknown }), "event").await;
        app.gql_null(&app.owner_key, q, json!({ "id": "garbage" }), "event").await;
        // A real id of another kind is not an event either.
        let (key, _) = app.create_key(&app.owner_key, "not an event", &["READ"]).await;
        app.gql_null(&app.owner_key, q, json!({ "id": key }), "event").await;
        // The same query without credentials.
        app.gql_err(None, EVENTS, json!({}), "UNAUTHORIZED").await;
    })
    .await;
}

/// The next frame must be a close frame (within 5 s); returns its code and reason.
async fn next_close(ws: &mut WsClient) -> (u16, String) {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.socket.next())
            .await
            .expect("the server answers within 5 s")
            .expect("a frame, not the end of the stream")
            .expect("a readable frame");
        match msg {
            Message::Close(Some(frame)) => return (u16::from(frame.code), frame.reason.to_string()),
            Message::Text(t) => panic!("expected a close frame, got {t}"),
            Message::Close(None) => panic!("a close frame without a code"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn a_subscriber_receives_new_events_over_graphql_transport_ws() {
    for_each_backend(&[], |app: TestApp| async move {
        let caller = key_id(&app, &app.owner_key).await;
        let auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        ws.subscribe("1", SUBSCRIBE, json!({})).await;
        let (msg, ids) = create_until_received(&app, &app.owner_key, &mut ws).await;
        assert_eq!(msg["id"], "1", "{msg}");
        let evt = event_of(&msg, "graphql-transport-ws");
        assert_eq!(evt["type"], "api_key.created", "[{}] {msg}", app.backend);
        assert_eq!(evt["actor"], caller.as_str());
        assert!(ids.iter().any(|id| evt["subjectId"] == id.as_str()), "{msg} / {ids:?}");

        // Now that it is live, each change arrives, in order.
        let (id, _) = app.create_key(&app.owner_key, "next", &["READ"]).await;
        let created = event_of(&ws.next_json().await.expect("api_key.created"), "graphql-transport-ws");
        assert_eq!(created["type"], "api_key.created");
        assert_eq!(created["subjectId"], id.as_str());
        assert_eq!(created["data"]["name"], "next");
        app.mutate(&app.owner_key, "deleteApiKey", json!({ "id": id }), "deletedId").await;
        let deleted = event_of(&ws.next_json().await.expect("api_key.deleted"), "graphql-transport-ws");
        assert_eq!(deleted["type"], "api_key.deleted");
        assert_eq!(deleted["subjectId"], id.as_str());

        // The delivered event is the logged one.
        let logged = app
            .gql(
                &app.owner_key,
                "query($id: ID!) { event(id: $id) { type subjectId } }",
                json!({ "id": deleted["id"] }),
            )
            .await;
        assert_eq!(logged["event"], json!({ "type": "api_key.deleted", "subjectId": id }));

        // Stopping the subscription is acknowledged; no more events follow.
        ws.send(json!({ "id": "1", "type": "complete" })).await;
        app.create_key(&app.owner_key, "after complete", &["READ"]).await;
        if let Some(m) = ws.next_json_within(Duration::from_secs(1)).await {
            assert_ne!(m["type"], "next", "[{}] an event after `complete`: {m}", app.backend);
        }
    })
    .await;
}

#[tokio::test]
async fn a_subscriber_receives_new_events_over_legacy_graphql_ws() {
    for_each_backend(&[], |app: TestApp| async move {
        let auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-ws", auth).await;
        ws.subscribe("s", SUBSCRIBE, json!({})).await;
        let (msg, ids) = create_until_received(&app, &app.owner_key, &mut ws).await;
        assert_eq!(msg["id"], "s", "{msg}");
        let evt = event_of(&msg, "graphql-ws");
        assert_eq!(evt["type"], "api_key.created", "[{}] {msg}", app.backend);
        assert!(ids.iter().any(|id| evt["subjectId"] == id.as_str()), "{msg} / {ids:?}");
    })
    .await;
}

#[tokio::test]
async fn a_subscription_filtered_by_type_skips_other_events() {
    for_each_backend(&[], |app: TestApp| async move {
        let auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let mut all = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth.clone()).await;
        all.subscribe("all", SUBSCRIBE, json!({})).await;
        let mut deletions = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        deletions.subscribe("del", SUBSCRIBE, json!({ "types": ["api_key.deleted"] })).await;
        create_until_received(&app, &app.owner_key, &mut all).await;
        // Make sure the filtered one is live too: wait until a deletion arrives.
        let mut got = None;
        for _ in 0..10 {
            let (id, _) = app.create_key(&app.owner_key, "doomed", &["READ"]).await;
            app.mutate(&app.owner_key, "deleteApiKey", json!({ "id": id }), "deletedId").await;
            if let Some(m) = deletions.next_json_within(Duration::from_secs(1)).await {
                got = Some((m, id));
                break;
            }
        }
        let (m, _) = got.expect("the filtered subscription delivers deletions");
        assert_eq!(event_of(&m, "graphql-transport-ws")["type"], "api_key.deleted", "{m}");
        // Drain whatever deletions may still be queued from earlier tries.
        while deletions.next_json_within(Duration::from_millis(300)).await.is_some() {}

        let (id, _) = app.create_key(&app.owner_key, "kept", &["READ"]).await;
        if let Some(m) = deletions.next_json_within(Duration::from_secs(1)).await {
            panic!("[{}] a creation reached the deletions-only subscriber: {m}", app.backend);
        }
        app.mutate(&app.owner_key, "deleteApiKey", json!({ "id": id }), "deletedId").await;
        let m = deletions.next_json().await.expect("the deletion");
        let evt = event_of(&m, "graphql-transport-ws");
        assert_eq!((evt["type"].as_str(), evt["subjectId"].as_str()), (Some("api_key.deleted"), Some(id.as_str())));

        // An unknown pattern is refused when subscribing.
        let auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let mut bad = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        bad.subscribe("x", SUBSCRIBE, json!({ "types": ["nope.*"] })).await;
        let m = bad.next_json().await.expect("an error for the bad pattern");
        let errors = subscription_errors(&m);
        assert_eq!(errors[0]["extensions"]["code"], "INVALID_REQUEST", "{m}");
    })
    .await;
}

/// The errors of a failed subscription: graphql-transport-ws `error`
/// (payload: the errors), or a `next`/`data` whose payload has only errors.
fn subscription_errors(msg: &Value) -> Vec<Value> {
    match msg["type"].as_str() {
        Some("error") => msg["payload"].as_array().cloned().unwrap_or_default(),
        Some("next") | Some("data") => {
            assert!(msg["payload"]["data"].is_null(), "no data with the errors: {msg}");
            msg["payload"]["errors"].as_array().cloned().unwrap_or_default()
        }
        _ => panic!("expected an error message, got {msg}"),
    }
}

#[tokio::test]
async fn a_subscriber_of_another_workspace_receives_nothing() {
    for_each_backend(&[], |app: TestApp| async move {
        let (b_ws, b_key) = app.other_workspace("owner-b@example.com").await;
        assert_ne!(b_ws, app.workspace_id);
        let a_auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let b_auth = json!({ "Authorization": format!("Bearer {}", b_key) });
        let mut a = WsClient::connect(&app.ws_url(), "graphql-transport-ws", a_auth).await;
        let mut b = WsClient::connect(&app.ws_url(), "graphql-transport-ws", b_auth).await;
        a.subscribe("a", SUBSCRIBE, json!({})).await;
        b.subscribe("b", SUBSCRIBE, json!({})).await;
        // Both are live: each sees its own workspace's change.
        create_until_received(&app, &app.owner_key, &mut a).await;
        let (m, b_ids) = create_until_received(&app, &b_key, &mut b).await;
        assert!(b_ids.iter().any(|id| event_of(&m, "graphql-transport-ws")["subjectId"] == id.as_str()), "{m}");
        // Drain: A's earlier changes must not be what B got, and nothing else is queued.
        while b.next_json_within(Duration::from_millis(300)).await.is_some() {}
        while a.next_json_within(Duration::from_millis(300)).await.is_some() {}

        let (a_id, _) = app.create_key(&app.owner_key, "A only", &["READ"]).await;
        let seen = event_of(&a.next_json().await.expect("A's subscriber gets A's event"), "graphql-transport-ws");
        assert_eq!(seen["subjectId"], a_id.as_str());
        if let Some(m) = b.next_json_within(Duration::from_secs(1)).await {
            panic!("[{}] workspace B received workspace A's event: {m}", app.backend);
        }
    })
    .await;
}

#[tokio::test]
async fn a_subscription_without_credentials_is_unauthorized() {
    for_each_backend(&[], |app: TestApp| async move {
        for protocol in ["graphql-transport-ws", "graphql-ws"] {
            let mut ws = WsClient::connect(&app.ws_url(), protocol, json!({})).await;
            ws.subscribe("1", SUBSCRIBE, json!({})).await;
            let m = ws.next_json().await.expect("an answer to the subscription");
            let errors = subscription_errors(&m);
            assert_eq!(errors[0]["extensions"]["code"], "UNAUTHORIZED", "[{}] {protocol}: {m}", app.backend);
            assert_eq!(m["id"], "1");
            // The subscription is over: `complete`, and no event is delivered.
            let done = ws.next_json().await.expect("complete");
            assert_eq!(done, json!({ "type": "complete", "id": "1" }), "[{}] {protocol}", app.backend);
            app.create_key(&app.owner_key, "unseen", &["READ"]).await;
            assert_eq!(ws.next_json_within(Duration::from_secs(1)).await, None, "[{}] {protocol}", app.backend);
        }
    })
    .await;
}

#[tokio::test]
async fn connection_init_with_an_invalid_key_is_refused() {
    for_each_backend(&[], |app: TestApp| async move {
        for bad in ["Bearer sk_test_wrong", "Bearer nonsense", "sk_live_000000000000000000000000"] {
            // graphql-transport-ws: the server closes the socket with 4403 (Forbidden) and no ack.
            let mut ws = open_socket(&app, "graphql-transport-ws").await;
            ws.send(json!({ "type": "connection_init", "payload": { "Authorization": bad } })).await;
            let (code, reason) = next_close(&mut ws).await;
            assert_eq!(code, 4403, "[{}] {bad}: {reason}", app.backend);
            assert_eq!(reason, "Invalid API key", "[{}] {bad}", app.backend);
            // Nothing more: a subscription sent now gets no data.
            let _ = ws
                .socket
                .send(Message::Text(
                    json!({ "id": "1", "type": "subscribe",
                "payload": { "query": SUBSCRIBE } })
                    .to_string()
                    .into(),
                ))
                .await;
            app.create_key(&app.owner_key, "unseen", &["READ"]).await;
            let after = ws.next_json_within(Duration::from_millis(500)).await;
            assert!(after.is_none() || after.as_ref().unwrap()["type"] == "__close", "{after:?}");

            // Legacy graphql-ws: a connection_error carrying the reason.
            let mut ws = open_socket(&app, "graphql-ws").await;
            ws.send(json!({ "type": "connection_init", "payload": { "authorization": bad } })).await;
            let m = ws.next_json().await.expect("the server answers the init");
            assert_eq!(m["type"], "connection_error", "[{}] {bad}: {m}", app.backend);
            assert_eq!(m["payload"]["message"], "Invalid API key", "{m}");
            let after = ws.next_json_within(Duration::from_millis(500)).await;
            assert!(after.is_none() || after.as_ref().unwrap()["type"] == "__close", "{after:?}");
        }

        // A key that was valid but is disabled is refused too.
        let (id, secret) = app.create_key(&app.owner_key, "disabled", &["READ"]).await;
        app.mutate(&app.owner_key, "updateApiKey", json!({ "id": id, "enabled": false }), "apiKey { id }").await;
        let mut ws = open_socket(&app, "graphql-transport-ws").await;
        ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {secret}") } })).await;
        let (code, reason) = next_close(&mut ws).await;
        assert_eq!((code, reason.as_str()), (4403, "API key is disabled"), "[{}]", app.backend);
    })
    .await;
}

/// Publishes `n` non-live events straight on the bus, each with `pad` bytes
/// of data and `subject` as its subject, a few at a time so a subscriber that
/// keeps reading keeps up.
async fn flood(app: &TestApp, subject: &str, n: usize, pad: usize) {
    let padding = "x".repeat(pad);
    for batch in 0..n.div_ceil(16) {
        let events = (batch * 16..((batch + 1) * 16).min(n))
            .map(|i| {
                let data = json!({ "n": i, "pad": padding });
                let mut e = switchyard::events::Envelope::live(
                    app.workspace_id.clone(),
                    "user.updated",
                    "system",
                    Some(subject.to_string()),
                    data,
                );
                e.live_only = false;
                e
            })
            .collect();
        app.state.bus.publish(events);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A `graphql-transport-ws` client whose socket takes in little before
/// the server has to wait for it (a 16 KB receive buffer, no autotuning).
async fn connect_with_small_window(app: &TestApp, init: Value) -> WsClient {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(16 * 1024).unwrap();
    let tcp = sock.connect(app.url.trim_start_matches("http://").parse().unwrap()).await.unwrap();
    let mut req = app.ws_url().into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (socket, _) = tokio_tungstenite::client_async(req, stream).await.expect("websocket connects");
    let mut c = WsClient { socket, protocol: "graphql-transport-ws" };
    c.send(json!({ "type": "connection_init", "payload": init })).await;
    assert_eq!(c.next_json().await.expect("connection_ack")["type"], "connection_ack");
    c
}

#[tokio::test]
async fn a_lagging_subscriber_is_closed_without_slowing_the_others() {
    for_each_backend(&[], |app: TestApp| async move {
        // The other one runs its own subscription, or shares the lagging one's run.
        for fast_query in ["subscription { events { subjectId } }", "subscription { events { subjectId data } }"] {
            lagging_subscriber_goes_alone(&app, fast_query).await;
        }
    })
    .await;
}

async fn lagging_subscriber_goes_alone(app: &TestApp, fast_query: &str) {
    // The last round's subscriptions are gone.
    wait_for_runs(app, 0).await;
    {
        let init = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let mut slow = connect_with_small_window(app, init.clone()).await;
        let mut fast = WsClient::connect(&app.ws_url(), "graphql-transport-ws", init.clone()).await;
        let slow_query = "subscription { events { subjectId data } }";
        let shared = fast_query == slow_query;
        // The first of its kind runs alone: one goes first, so that the
        // slow and the fast one share the next run.
        let mut first = WsClient::connect(&app.ws_url(), "graphql-transport-ws", init.clone()).await;
        if shared {
            first.subscribe("1", slow_query, json!({})).await;
            wait_for_runs(app, 1).await;
        }
        slow.subscribe("1", slow_query, json!({})).await;
        fast.subscribe("1", fast_query, json!({})).await;
        // Both have joined before the first probe is answered.
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(first);
        // Both subscriptions are live once each has heard a probe.
        let mut live = (false, false);
        for _ in 0..10 {
            flood(app, "probe", 1, 0).await;
            live.0 |= slow.next_json_within(Duration::from_secs(1)).await.is_some();
            live.1 |= fast.next_json_within(Duration::from_secs(1)).await.is_some();
            if live == (true, true) {
                break;
            }
        }
        assert_eq!(live, (true, true), "[{}] both subscriptions are live", app.backend);
        let runs = if shared { 1 } else { 2 };
        wait_for_runs(app, runs).await;
        assert_eq!(app.state.live.len(), runs, "[{}] {fast_query}", app.backend);

        // The slow one stops reading while events of 8 KB arrive: far more
        // than its queue and the sockets' buffers hold.
        const EVENTS: usize = 2_000;
        let reader = tokio::spawn(async move {
            let mut heard = 0;
            while heard < EVENTS {
                let Some(msg) = fast.next_json_within(Duration::from_secs(20)).await else { break };
                if msg["type"] == "next" && msg["payload"]["data"]["events"]["subjectId"] == "flood" {
                    heard += 1;
                }
            }
            (heard, fast)
        });
        flood(app, "flood", EVENTS, 8 * 1024).await;
        // Reading again, it finds what was sent before it fell behind, then
        // the close code, not a stream with a silent gap.
        let code = slow.closed_within(Duration::from_secs(30)).await;
        assert_eq!(code, Some(4408), "[{}] the lagging subscriber is closed as too slow", app.backend);
        let (heard, mut fast) = reader.await.unwrap();
        assert_eq!(heard, EVENTS, "[{}] the subscriber that kept reading heard every event", app.backend);
        // And it is still subscribed.
        flood(app, "after", 1, 0).await;
        let next = fast.next_json().await.expect("the fast subscriber still hears events");
        assert_eq!(next["payload"]["data"]["events"]["subjectId"], "after", "{next}");
    }
}

#[tokio::test]
async fn sockets_with_the_same_subscription_share_one_run_and_leave_it_alone() {
    for_each_backend(&[], |app: TestApp| async move {
        let init = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let query = "subscription { events { subjectId } }";
        let subject = |m: &Value| m["payload"]["data"]["events"]["subjectId"].as_str().map(str::to_string);
        // One caller, one document, no variables: the first runs alone, the
        // next ones share one run, whatever the protocol.
        let mut a = WsClient::connect(&app.ws_url(), "graphql-transport-ws", init.clone()).await;
        let mut b = WsClient::connect(&app.ws_url(), "graphql-ws", init.clone()).await;
        let mut c = WsClient::connect(&app.ws_url(), "graphql-transport-ws", init.clone()).await;
        a.subscribe("1", query, json!({})).await;
        wait_for_runs(&app, 1).await;
        b.subscribe("b \"7\"", query, json!({})).await;
        c.subscribe("c", query, json!({})).await;
        // All have joined before the first probe is answered.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut live = [false; 3];
        for _ in 0..10 {
            flood(&app, "probe", 1, 0).await;
            for (heard, ws) in live.iter_mut().zip([&mut a, &mut b, &mut c]) {
                *heard |= ws.next_json_within(Duration::from_secs(1)).await.is_some();
            }
            if live == [true; 3] {
                break;
            }
        }
        assert_eq!(live, [true; 3], "[{}] the three subscriptions are live", app.backend);
        assert_eq!(app.state.live.len(), 2, "[{}] a alone, b and c in one run", app.backend);

        // A socket subscribing after the run has answered starts one of its own.
        let mut late = WsClient::connect(&app.ws_url(), "graphql-transport-ws", init).await;
        late.subscribe("9", query, json!({})).await;
        let mut heard = false;
        for _ in 0..10 {
            flood(&app, "late probe", 1, 0).await;
            heard |= late.next_json_within(Duration::from_secs(1)).await.is_some();
            if heard {
                break;
            }
        }
        assert!(heard, "[{}] the late subscription is live", app.backend);
        assert_eq!(app.state.live.len(), 3, "[{}] the late socket runs its own", app.backend);
        for ws in [&mut a, &mut b, &mut c, &mut late] {
            while ws.next_json_within(Duration::from_millis(200)).await.is_some() {}
        }

        // Each socket gets the answer in its own envelope, with its own id.
        flood(&app, "one", 1, 0).await;
        let (from_a, from_b, from_c) =
            (a.next_json().await.unwrap(), b.next_json().await.unwrap(), c.next_json().await.unwrap());
        assert_eq!((from_a["type"].as_str(), from_a["id"].as_str()), (Some("next"), Some("1")), "{from_a}");
        assert_eq!((from_b["type"].as_str(), from_b["id"].as_str()), (Some("data"), Some("b \"7\"")), "{from_b}");
        assert_eq!((from_c["type"].as_str(), from_c["id"].as_str()), (Some("next"), Some("c")), "{from_c}");
        assert_eq!(
            [subject(&from_a), subject(&from_b), subject(&from_c)],
            [Some("one".into()), Some("one".into()), Some("one".into())]
        );
        assert_eq!(subject(&late.next_json().await.unwrap()).as_deref(), Some("one"));

        // One member stopping leaves the run to the other.
        c.send(json!({ "type": "complete", "id": "c" })).await;
        assert_eq!(c.next_json().await, Some(json!({ "type": "complete", "id": "c" })));
        flood(&app, "two", 1, 0).await;
        assert_eq!(subject(&b.next_json().await.unwrap()).as_deref(), Some("two"), "[{}]", app.backend);
        assert_eq!(c.next_json_within(Duration::from_millis(500)).await, None, "[{}] c stopped", app.backend);
        assert_eq!(app.state.live.len(), 3, "[{}] b's run goes on", app.backend);
        // The last member leaving stops the run.
        drop(b);
        wait_for_runs(&app, 2).await;
        assert_eq!(app.state.live.len(), 2, "[{}] a's and the late socket's runs are left", app.backend);

        // graphql-transport-ws: an id in use may not be subscribed again.
        late.subscribe("9", query, json!({})).await;
        assert_eq!(late.closed_within(Duration::from_secs(5)).await, Some(4409), "[{}]", app.backend);
    })
    .await;
}

#[tokio::test]
async fn a_subscriber_that_reconnects_with_after_misses_nothing_and_sees_nothing_twice() {
    for_each_backend(&[], |app: TestApp| async move {
        let auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let query = "subscription($after: ID) { events(eventTypes: [\"api_key.*\"], after: $after) { id type data } }";
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth.clone()).await;
        ws.subscribe("1", query, json!({})).await;
        let (msg, _) = create_until_received(&app, &app.owner_key, &mut ws).await;
        let last_seen = msg["payload"]["data"]["events"]["id"].as_str().unwrap().to_string();
        drop(ws); // the connection is lost

        // While away: three keys are made.
        let mut made = Vec::new();
        for i in 0..3 {
            made.push(app.create_key(&app.owner_key, &format!("away-{i}"), &["READ"]).await.0);
        }
        // Back, resuming after the last event seen: the three first, in order, then live ones.
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        ws.subscribe("1", query, json!({ "after": last_seen })).await;
        let mut got = Vec::new();
        for _ in 0..3 {
            let msg = ws.next_json_within(Duration::from_secs(5)).await.expect("a missed event");
            got.push(msg["payload"]["data"]["events"]["data"]["id"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(got, made, "the missed events, oldest first");
        let (live, _) = app.create_key(&app.owner_key, "live-again", &["READ"]).await;
        let msg = ws.next_json_within(Duration::from_secs(5)).await.expect("a live event");
        assert_eq!(msg["payload"]["data"]["events"]["data"]["id"], live.as_str(), "{msg}");
        assert!(ws.next_json_within(Duration::from_millis(300)).await.is_none(), "nothing twice");

        // A bad cursor is refused with a clear error.
        ws.subscribe("2", query, json!({ "after": "nope" })).await;
        let msg = ws.next_json_within(Duration::from_secs(5)).await.expect("an error");
        assert_eq!(msg["id"], "2", "{msg}");
        assert_eq!(msg["payload"]["errors"][0]["extensions"]["details"][0]["field"], "after", "{msg}");
    })
    .await;
}

#[tokio::test]
async fn real_events_match_the_catalogs_schemas() {
    for_each_backend(&[], |app: TestApp| async move {
        let k = app.owner_key.clone();
        // A bit of everything: keys, webhooks, members, the workspace, apps, connections, records.
        let (key, _) = app.create_key(&k, "contract", &["READ"]).await;
        app.mutate(&k, "updateApiKey", json!({ "id": key, "enabled": false }), "apiKey { id }").await;
        app.mutate(&k, "rollApiKey", json!({ "id": key }), "secret").await;
        app.mutate(&k, "deleteApiKey", json!({ "id": key }), "deletedId").await;
        let wh = app
            .mutate(
                &k,
                "createWebhook",
                json!({ "url": "https://example.com/hook", "eventTypes": ["*"] }),
                "webhook { id }",
            )
            .await["webhook"]["id"]
            .clone();
        app.mutate(&k, "updateWebhook", json!({ "id": wh, "eventTypes": ["record.*"] }), "webhook { id }").await;
        app.mutate(&k, "rotateWebhookSecret", json!({ "id": wh }), "secret").await;
        app.mutate(&k, "deleteWebhook", json!({ "id": wh }), "deletedId").await;
        app.mutate(&k, "updateWorkspace", json!({ "name": "Contract Co" }), "workspace { id }").await;
        app.invite_and_accept(&k, "contract@example.com", "COLLABORATOR").await;
        let oauth = json!({ "name": "Reports", "redirectUris": ["https://r.example.com/cb"], "scopes": ["READ"] });
        let appid = app.mutate(&k, "createOAuthApp", oauth, "oauthApp { id }").await["oauthApp"]["id"].clone();
        app.mutate(&k, "rollOAuthAppSecret", json!({ "id": appid }), "secret").await;
        app.mutate(&k, "deleteOAuthApp", json!({ "id": appid }), "deletedId").await;
        let made = app
            .mutate(&k, "createConnection", json!({ "provider": "incoming_webhooks" }), "connection { id } incomingUrl")
            .await;
        let url = made["incomingUrl"].as_str().unwrap().to_string();
        assert_eq!(app.client.post(&url).json(&json!({ "n": 1 })).send().await.unwrap().status(), 202);
        app.mutate(&k, "deleteConnection", json!({ "id": made["connection"]["id"] }), "deletedId").await;
        app.mutate(&k, "createDataEndpoint", json!({ "slug": "orders", "name": "Orders" }), "dataEndpoint { id }")
            .await;
        let secret = app.mutate(&k, "createDataKey", json!({ "name": "k" }), "secret").await["secret"].clone();
        let posted = app
            .client
            .post(format!("{}/api/v1/data/orders", app.url))
            .bearer_auth(secret.as_str().unwrap())
            .json(&json!({ "amount": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);

        let q = "{ events(first: 100) { nodes { type data } } }";
        let mut events = Vec::new();
        for _ in 0..100 {
            events = app.gql(&k, q, json!({})).await["events"]["nodes"].as_array().unwrap().clone();
            if events.iter().any(|e| e["type"] == "record.created") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut seen = std::collections::BTreeSet::new();
        for e in &events {
            let name = e["type"].as_str().unwrap();
            let doc = switchyard::events::catalog::get(name).unwrap_or_else(|| panic!("{name} is not in the catalog"));
            let v = jsonschema::validator_for(&doc.schema()).unwrap();
            let problems: Vec<String> = v.iter_errors(&e["data"]).map(|p| p.to_string()).collect();
            assert!(problems.is_empty(), "[{}] {name}: {problems:?} in {}", app.backend, e["data"]);
            seen.insert(name.to_string());
        }
        assert!(seen.len() >= 19, "[{}] only {seen:?}", app.backend);

        // The catalog through the API, schemas included.
        let types = app.gql(&k, "{ eventTypes { name description ownersOnly schema example } }", json!({})).await;
        let list = types["eventTypes"].as_array().unwrap();
        assert_eq!(list.len(), switchyard::events::EventType::ALL.len());
        let created = list.iter().find(|t| t["name"] == "record.created").unwrap();
        assert_eq!(created["schema"]["required"], json!(["data", "endpoint_id", "environment", "id"]));
        assert_eq!(created["ownersOnly"], false);
    })
    .await;
}

#[tokio::test]
async fn an_events_actor_is_an_object() {
    for_each_backend(&[], |app: TestApp| async move {
        let k = app.owner_key.clone();
        app.create_key(&k, "by-key", &["READ"]).await;
        let (_, cookie) = app.invite_and_accept(&k, "actor@example.com", "OWNER").await;
        app.gql_session(&cookie, "mutation { updateWorkspace(input: { name: \"By a person\" }) { workspace { id } } }", json!({}))
            .await;
        let q = "{ events(first: 20) { nodes { type actor actedBy { __typename ... on User { email } ... on ApiKeyActor { id } ... on SystemActor { name } } } } }";
        let out = app.gql(&k, q, json!({})).await;
        let nodes = out["events"]["nodes"].as_array().unwrap();
        let by_key = nodes.iter().find(|e| e["type"] == "api_key.created").unwrap();
        assert_eq!(by_key["actedBy"]["__typename"], "ApiKeyActor", "{out}");
        assert_eq!(by_key["actedBy"]["id"], by_key["actor"]);
        let by_user = nodes.iter().find(|e| e["type"] == "workspace.updated").unwrap();
        assert_eq!(by_user["actedBy"], json!({ "__typename": "User", "email": "actor@example.com" }), "{out}");
    })
    .await;
}
