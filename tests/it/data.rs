//! The REST data API of seed 001, replayed: every request example, every
//! documented error in its exact shape, sandbox and live kept apart.

use std::time::{Duration, Instant};

use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp};

pub const SCHEMA: &str = r#"{"type": "object", "required": ["order_id", "amount"],
  "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}, "items": {"type": "array"}, "paid": {"type": "boolean"}}}"#;

/// Creates the `orders` endpoint and a test and a live data key.
pub async fn setup(app: &TestApp, extra: Value) -> (String, String, String) {
    let mut input =
        json!({ "slug": "orders", "name": "Orders", "schema": serde_json::from_str::<Value>(SCHEMA).unwrap() });
    input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let e = app.mutate(&app.owner_key, "createDataEndpoint", input, "secret dataEndpoint { id }").await;
    let endpoint = e["dataEndpoint"]["id"].as_str().unwrap().to_string();
    let key = |env: &str| {
        let env = env.to_string();
        async move {
            let k =
                app.mutate(&app.owner_key, "createDataKey", json!({ "name": "k", "environment": env }), "secret").await;
            k["secret"].as_str().unwrap().to_string()
        }
    };
    (endpoint, key("TEST").await, key("LIVE").await)
}

pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
    ctype: &str,
) -> (u16, Value) {
    let mut req = app.client.request(method.parse().unwrap(), format!("{}{path}", app.url));
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    if let Some(b) = body {
        req = req.header("content-type", ctype).body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

pub const ORDER: &str = r#"{"order_id": "ORD-2024-001", "amount": 45000, "items": ["Item A", "Item B"], "paid": true}"#;
const ORDER_V2: &str =
    r#"{"order_id": "ORD-2024-001", "amount": 50000, "items": ["Item A", "Item B", "Item C"], "paid": true}"#;

/// GETs a record until it is processed (bounded).
pub async fn processed(app: &TestApp, key: &str, id: &str, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = call(app, "GET", &format!("/api/v1/data/orders/{id}"), Some(key), None, "").await;
        if status == 200 && body["status"] == want {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "[{}] record never became {want}: {status} {body}",
            app.backend
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_seed_examples_create_read_replace_and_delete_a_record() {
    for_each_backend(&[], |app: TestApp| async move {
        let (_, test_key, _) = setup(&app, json!({})).await;
        let (status, body) =
            call(&app, "POST", "/api/v1/data/orders", Some(&test_key), Some(ORDER), "application/json").await;
        assert_eq!(status, 202, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("rec_"));
        assert_eq!(body, json!({ "success": true, "id": id, "message": "Request queued" }));

        let got = processed(&app, &test_key, &id, "processed").await;
        assert_eq!(got["data"], serde_json::from_str::<Value>(ORDER).unwrap());

        let (status, body) = call(
            &app,
            "PUT",
            &format!("/api/v1/data/orders/{id}"),
            Some(&test_key),
            Some(ORDER_V2),
            "application/json",
        )
        .await;
        assert_eq!((status, &body["id"], &body["message"]), (202, &json!(id), &json!("Request queued")));
        let start = Instant::now();
        loop {
            let got = processed(&app, &test_key, &id, "processed").await;
            if got["data"]["amount"] == 50000 {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(15));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let (status, body) =
            call(&app, "DELETE", &format!("/api/v1/data/orders/{id}"), Some(&test_key), None, "").await;
        assert_eq!((status, body["message"].as_str()), (202, Some("Request queued")));
        let start = Instant::now();
        loop {
            let (status, _) = call(&app, "GET", &format!("/api/v1/data/orders/{id}"), Some(&test_key), None, "").await;
            if status == 404 {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "never deleted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let events = app
            .gql(
                &app.owner_key,
                "{ events(filter: { eventTypes: [\"record.*\"] }) { edges { node { type subjectId } } } }",
                json!({}),
            )
            .await;
        let types: Vec<&str> =
            events["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["record.deleted", "record.updated", "record.created"]);
    })
    .await;
}

#[tokio::test]
async fn every_documented_error_has_its_status_and_shape() {
    for_each_backend(&[], |app: TestApp| async move {
        let (endpoint, test_key, _) = setup(&app, json!({ "monthlyQuota": 3 })).await;
        let post = |key: Option<String>, body: &'static str, ctype: &'static str| {
            let app = app.clone();
            async move { call(&app, "POST", "/api/v1/data/orders", key.as_deref(), Some(body), ctype).await }
        };
        // 401: missing, invalid.
        let (s, b) = post(None, ORDER, "application/json").await;
        assert_eq!((s, &b["success"], &b["error"]), (401, &json!(false), &json!("Missing API key")));
        let (s, _) = post(Some("tm_test_nope".into()), ORDER, "application/json").await;
        assert_eq!(s, 401);
        let (s, _) = post(Some(app.owner_key.clone()), ORDER, "application/json").await;
        assert_eq!(s, 401, "an sk_ key is not a data key");
        // 415.
        let (s, b) = post(Some(test_key.clone()), ORDER, "text/plain").await;
        assert_eq!((s, b["error"].as_str()), (415, Some("Content-Type must be application/json")));
        // 400: invalid JSON, and a missing required field, in the seed's shape.
        let (s, b) = post(Some(test_key.clone()), "{not json", "application/json").await;
        assert_eq!((s, b["error"].as_str()), (400, Some("Invalid JSON")));
        let (s, b) = post(Some(test_key.clone()), r#"{"amount": 1}"#, "application/json").await;
        assert_eq!(s, 400);
        assert_eq!(b["error"], "Validation failed");
        assert_eq!(b["details"], json!([{ "field": "order_id", "error": "Required field is missing" }]));
        // 400: a NUL character in a string (valid JSON, but not storable).
        let nul = r#"{"order_id": "A\u0000B", "amount": 1}"#;
        let (s, b) = post(Some(test_key.clone()), nul, "application/json").await;
        assert_eq!(s, 400);
        let nul_error = "Strings must not contain the NUL character (\\u0000)";
        assert_eq!(b["details"], json!([{ "field": "body", "error": nul_error }]));
        // 413 over 100 KB.
        let big = format!(r#"{{"order_id": "x", "amount": 1, "pad": "{}"}}"#, "a".repeat(110 * 1024));
        let resp = app
            .client
            .post(format!("{}/api/v1/data/orders", app.url))
            .header("authorization", format!("Bearer {test_key}"))
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 413);
        // 404: unknown endpoint and record.
        let (s, b) = call(&app, "POST", "/api/v1/data/nope", Some(&test_key), Some(ORDER), "application/json").await;
        assert_eq!((s, b["success"].as_bool()), (404, Some(false)));
        let (s, _) =
            call(&app, "GET", "/api/v1/data/orders/rec_01ZZZZZZZZZZZZZZZZZZZZZZZZ", Some(&test_key), None, "").await;
        assert_eq!(s, 404);
        // Nothing above was stored.
        let n = app.gql(&app.owner_key, "{ records { totalCount } }", json!({})).await;
        assert_eq!(n["records"]["totalCount"], 0);
        // 429 once the monthly quota (3, including the 404 GET) is used up.
        let mut last = (0, Value::Null);
        for _ in 0..3 {
            last = post(Some(test_key.clone()), ORDER, "application/json").await;
        }
        assert_eq!(last.0, 429, "{}", last.1);
        assert_eq!(last.1["success"], false);
        assert!(last.1["error"].as_str().unwrap().contains("quota"), "{}", last.1);
        // 403: disabled endpoint, expired subscription.
        let upd = |i: Value| app.mutate(&app.owner_key, "updateDataEndpoint", i, "dataEndpoint { id }");
        upd(json!({ "id": endpoint, "enabled": false, "monthlyQuota": null })).await;
        let (s, b) = post(Some(test_key.clone()), ORDER, "application/json").await;
        assert_eq!((s, b["error"].as_str()), (403, Some("Endpoint is not enabled")));
        upd(json!({ "id": endpoint, "enabled": true, "subscriptionExpiresAt": "2020-01-01T00:00:00Z" })).await;
        let (s, b) = post(Some(test_key.clone()), ORDER, "application/json").await;
        assert_eq!((s, b["error"].as_str()), (403, Some("Subscription expired")));
        // 401 for a key the owner disabled.
        upd(json!({ "id": endpoint, "subscriptionExpiresAt": null })).await;
        let keys = app.gql(&app.owner_key, "{ dataKeys { edges { node { id environment } } } }", json!({})).await;
        let test_id =
            keys["dataKeys"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["environment"] == "TEST").unwrap()
                ["node"]["id"]
                .clone();
        let off = app
            .mutate(&app.owner_key, "updateDataKey", json!({ "id": test_id, "enabled": false }), "dataKey { enabled }")
            .await;
        assert_eq!(off["dataKey"]["enabled"], false);
        let (s, b) = post(Some(test_key.clone()), ORDER, "application/json").await;
        assert_eq!((s, b["error"].as_str()), (401, Some("API key disabled by the owner")));
    })
    .await;
}

#[tokio::test]
async fn sandbox_and_live_records_never_mix() {
    for_each_backend(&[], |app: TestApp| async move {
        let (_, test_key, live_key) = setup(&app, json!({})).await;
        let (_, body) =
            call(&app, "POST", "/api/v1/data/orders", Some(&test_key), Some(ORDER), "application/json").await;
        let test_id = body["id"].as_str().unwrap().to_string();
        processed(&app, &test_key, &test_id, "processed").await;
        let (s, _) = call(&app, "GET", &format!("/api/v1/data/orders/{test_id}"), Some(&live_key), None, "").await;
        assert_eq!(s, 404, "a live key cannot read a sandbox record");
        let (s, _) = call(
            &app,
            "PUT",
            &format!("/api/v1/data/orders/{test_id}"),
            Some(&live_key),
            Some(ORDER_V2),
            "application/json",
        )
        .await;
        assert_eq!(s, 404);
        let live =
            app.gql(&app.owner_key, "{ records(filter: { environment: LIVE }) { totalCount } }", json!({})).await;
        assert_eq!(live["records"]["totalCount"], 0);
        let sandbox = app
            .gql(
                &app.owner_key,
                "{ records(filter: { environment: TEST }) { totalCount edges { node { status data } } } }",
                json!({}),
            )
            .await;
        assert_eq!(sandbox["records"]["totalCount"], 1);
        assert_eq!(sandbox["records"]["edges"][0]["node"]["data"]["amount"], 45000);
        // Syncing: only what changed since a time.
        let since = |t: chrono::DateTime<chrono::Utc>| {
            let q = "query($t: DateTime!) { records(filter: { updatedSince: $t }) { totalCount } }";
            app.gql(&app.owner_key, q, json!({ "t": t.to_rfc3339() }))
        };
        let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
        assert_eq!(since(hour_ago).await["records"]["totalCount"], 1);
        let later = chrono::Utc::now() + chrono::Duration::minutes(1);
        assert_eq!(since(later).await["records"]["totalCount"], 0);
    })
    .await;
}

/// A local receiver for callbacks: records (headers, body, time), answers
/// 500 to the first request and 200 after.
pub async fn callback_receiver(
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String, Instant)>>>) {
    use axum::routing::post;
    type Hits = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String, Instant)>>>;
    let hits: Hits = Default::default();
    let app =
        axum::Router::new()
            .route(
                "/cb",
                post(
                    |axum::extract::State(h): axum::extract::State<Hits>,
                     headers: axum::http::HeaderMap,
                     body: String| async move {
                        let mut v = h.lock().unwrap();
                        v.push((headers, body, Instant::now()));
                        if v.len() == 1 {
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            axum::http::StatusCode::OK
                        }
                    },
                ),
            )
            .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

#[tokio::test]
async fn the_callback_gets_the_signed_result_with_its_auth_header_and_is_retried() {
    for_each_backend(&["--collaborator-retry-seconds", "1"], |app: TestApp| async move {
        let e = app
            .mutate(&app.owner_key, "createDataEndpoint", json!({ "slug": "orders", "name": "Orders" }), "secret")
            .await;
        let secret = e["secret"].as_str().unwrap().to_string();
        let k = app.mutate(&app.owner_key, "createDataKey", json!({ "name": "k" }), "secret").await;
        let key = k["secret"].as_str().unwrap().to_string();
        let (url, hits) = callback_receiver().await;
        let resp = app
            .client
            .post(format!("{}/api/v1/data/orders", app.url))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .header("x-webhook-callback", &url)
            .header("x-webhook-auth-header", "X-Api-Token")
            .header("x-webhook-auth", "token-123")
            .body(ORDER)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
        let start = Instant::now();
        while hits.lock().unwrap().len() < 2 {
            assert!(start.elapsed() < Duration::from_secs(20), "[{}] the callback was not retried", app.backend);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let hits = hits.lock().unwrap().clone();
        let (headers, body, at) = &hits[1];
        assert!(at.duration_since(hits[0].2) >= Duration::from_millis(900), "retried after the configured gap");
        assert_eq!(headers["x-api-token"], "token-123");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (v["event"].as_str(), v["data"]["id"].as_str(), v["data"]["status"].as_str()),
            (Some("record.created"), Some(id.as_str()), Some("processed"))
        );
        assert_eq!(v["data"]["data"]["order_id"], "ORD-2024-001");
        standardwebhooks::Webhook::new(&secret)
            .unwrap()
            .verify(body.as_bytes(), headers)
            .expect("signed with the endpoint's secret");
        let start = Instant::now();
        loop {
            let r = app
                .gql(&app.owner_key, "query($id: ID!) { record(id: $id) { callbackStatus } }", json!({ "id": id }))
                .await;
            if r["record"]["callbackStatus"] == "DELIVERED" {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The auth value is sealed at rest.
        let row = entity::record::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().unwrap();
        assert!(!row.callback_auth_enc.unwrap().contains("token-123"));
    })
    .await;
}

/// Completes a setup link and returns the session cookie pair.
async fn session_for(app: &TestApp, setup_url: &str) -> String {
    let token = setup_url.split("token=").nth(1).unwrap();
    let resp = app
        .client
        .post(format!("{}/auth/setup", app.url))
        .header("x-switchyard-csrf", "1")
        .json(&json!({ "token": token, "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn the_production_console_is_owner_only_live_and_fires_no_webhooks() {
    for_each_backend(&[], |app: TestApp| async move {
        setup(&app, json!({})).await;
        let (url, hits) = callback_receiver().await;
        app.mutate(&app.owner_key, "createWebhook", json!({ "url": url, "eventTypes": ["record.*"] }), "secret").await;
        let owner = session_for(&app, app.setup_url.as_deref().unwrap()).await;
        let console = |cookie: String, csrf: bool| {
            let app = app.clone();
            async move {
                let mut req = app
                    .client
                    .post(format!("{}/api/v1/console/orders", app.url))
                    .header("cookie", cookie)
                    .header("content-type", "application/json")
                    .body(ORDER);
                if csrf {
                    req = req.header("x-switchyard-csrf", "1");
                }
                let resp = req.send().await.unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (s, _) = console(owner.clone(), false).await;
        assert_eq!(s, 403, "the CSRF header is required");
        let (s, body) = console(owner.clone(), true).await;
        assert_eq!((s, body["message"].as_str()), (202, Some("Request queued")), "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        let live_key = app.live_key().await;
        let start = Instant::now();
        loop {
            let r = app
                .gql(&live_key, "query($id: ID!) { record(id: $id) { status environment } }", json!({ "id": id }))
                .await;
            if r["record"]["status"] == "PROCESSED" {
                assert_eq!(r["record"]["environment"], "LIVE");
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "{r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The owner's test key sees sandbox records only.
        app.gql_null(&app.owner_key, "query($id: ID!) { record(id: $id) { id } }", json!({ "id": id }), "record").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(hits.lock().unwrap().is_empty(), "[{}] console writes must not fire webhooks", app.backend);
        let ev = app
            .gql(&app.owner_key, "{ events(filter: { eventTypes: [\"record.*\"] }) { totalCount } }", json!({}))
            .await;
        assert_eq!(ev["events"]["totalCount"], 0);

        // A collaborator, an API key, and nobody are refused.
        let (_, collab) = app.invite_and_accept(&app.owner_key, "c@example.com", "COLLABORATOR").await;
        let (s, body) = console(collab, true).await;
        assert_eq!((s, body["success"].as_bool()), (403, Some(false)), "{body}");
        let resp = app
            .client
            .post(format!("{}/api/v1/console/orders", app.url))
            .bearer_auth(&app.owner_key)
            .header("x-switchyard-csrf", "1")
            .header("content-type", "application/json")
            .body(ORDER)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        let (s, _) = console(String::new(), true).await;
        assert_eq!(s, 401);
    })
    .await;
}

#[tokio::test]
async fn record_status_streams_each_processed_change() {
    for_each_backend(&[], |app: TestApp| async move {
        let (endpoint, test_key, _) = setup(&app, json!({})).await;
        let mut ws = crate::helpers::WsClient::connect(
            &app.ws_url(),
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {}", app.owner_key) }),
        )
        .await;
        ws.subscribe(
            "1",
            "subscription($e: ID) { recordStatus(endpointId: $e) { id status operation data } }",
            json!({ "e": endpoint }),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, body) =
            call(&app, "POST", "/api/v1/data/orders", Some(&test_key), Some(ORDER), "application/json").await;
        let id = body["id"].as_str().unwrap();
        let msg = ws.next_json_within(Duration::from_secs(15)).await.expect("a status update");
        assert_eq!(msg["type"], "next", "{msg}");
        let r = &msg["payload"]["data"]["recordStatus"];
        assert_eq!(
            (r["id"].as_str(), r["status"].as_str(), r["operation"].as_str()),
            (Some(id), Some("PROCESSED"), Some("CREATE"))
        );
        assert_eq!(r["data"]["order_id"], "ORD-2024-001");
    })
    .await;
}

#[tokio::test]
async fn a_collaborator_webhook_gets_its_endpoints_results_with_three_retries() {
    for_each_backend(&["--collaborator-retry-seconds", "1"], |app: TestApp| async move {
        let (endpoint, test_key, _) = setup(&app, json!({})).await;
        // A second endpoint whose records the webhook must not see.
        app.mutate(&app.owner_key, "createDataEndpoint", json!({ "slug": "other", "name": "Other" }), "secret").await;
        let (url, hits) = callback_receiver().await;
        let out = &app
            .mutate(
                &app.owner_key,
                "createCollaboratorWebhook",
                json!({ "endpointId": endpoint, "url": url }),
                "secret webhook { endpointId retryPolicy { kind delaysSeconds } eventTypes }",
            )
            .await;
        assert_eq!(
            out["webhook"]["retryPolicy"],
            json!({ "kind": "COLLABORATOR", "delaysSeconds": [1, 1, 1] }),
            "3 retries at the configured gap"
        );
        assert_eq!(out["webhook"]["endpointId"], json!(endpoint));
        let secret = out["secret"].as_str().unwrap().to_string();
        let (s, _) =
            call(&app, "POST", "/api/v1/data/other", Some(&test_key), Some(r#"{"x": 1}"#), "application/json").await;
        assert_eq!(s, 202);
        let (_, body) =
            call(&app, "POST", "/api/v1/data/orders", Some(&test_key), Some(ORDER), "application/json").await;
        let id = body["id"].as_str().unwrap().to_string();
        // The receiver fails the first delivery; the retry comes a second later.
        let start = Instant::now();
        while hits.lock().unwrap().len() < 2 {
            assert!(start.elapsed() < Duration::from_secs(20), "[{}] no retry", app.backend);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let hits = hits.lock().unwrap().clone();
        assert_eq!(hits.len(), 2, "only the orders record, once retried");
        let (headers, body, _) = &hits[1];
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!((v["event"].as_str(), v["data"]["id"].as_str()), (Some("record.created"), Some(id.as_str())));
        standardwebhooks::Webhook::new(&secret).unwrap().verify(body.as_bytes(), headers).expect("signed");
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes_the_server_answers() {
    for_each_backend(&[], |app: TestApp| async move {
        let resp = app.client.get(format!("{}/api/v1/openapi.json", app.url)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let doc: Value = resp.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        let mut ops: Vec<String> = paths
            .iter()
            .flat_map(|(p, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| ["get", "post", "put", "delete"].contains(&k.as_str()))
                    .map(move |m| format!("{m} {p}"))
            })
            .collect();
        ops.sort();
        assert_eq!(
            ops,
            [
                "delete /api/v1/data/{slug}/{record_id}",
                "get /api/v1/data/{slug}/{record_id}",
                "post /api/v1/data/{slug}",
                "put /api/v1/data/{slug}/{record_id}"
            ]
        );
        // Each documented error status is one the server produces (see
        // every_documented_error_has_its_status_and_shape).
        let post = &paths["/api/v1/data/{slug}"]["post"]["responses"];
        for status in ["202", "400", "401", "403", "404", "413", "415", "429"] {
            assert!(post.get(status).is_some(), "POST documents {status}");
        }
    })
    .await;
}

#[tokio::test]
async fn the_sandbox_and_console_pages_are_served() {
    for_each_backend(&[], |app: TestApp| async move {
        for (path, marker) in [("/sandbox", "/api/v1/data/"), ("/console", "/api/v1/console/")] {
            let resp = app.client.get(format!("{}{path}", app.url)).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let html = resp.text().await.unwrap();
            assert!(html.contains(marker), "{path} calls {marker}");
        }
    })
    .await;
}
