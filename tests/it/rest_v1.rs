//! Seed 002's REST API under `/v1`: api-keys, webhooks (test, logs,
//! retry), OAuth apps and the protocol routes under `/v1/oauth`, the
//! seed's error and pagination shapes, auth, rate-limit headers, usage
//! counting, tenancy, and the one OpenAPI document covering every route.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp};

/// `(status, headers, body)` of a `/v1` call with an optional bearer.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let mut req = app.client.request(method.parse().unwrap(), format!("{}{path}", app.url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts the seed's error shape and code.
fn assert_error(body: &Value, code: &str, ctx: &str) {
    assert_eq!(body["error"]["code"], code, "{ctx}: {body}");
    assert!(body["error"]["message"].is_string(), "{ctx}: {body}");
}

#[tokio::test]
async fn api_keys_round_trip_with_the_seeds_shapes() {
    for_each_backend(&[], |app| async move {
        let b = app.backend.clone();
        let key = app.owner_key.clone();

        // No or a bad credential: 401 in the seed's shape.
        let (s, h, body) = call(&app, "GET", "/v1/api-keys", None, None).await;
        assert_eq!(s, 401, "[{b}] {body}");
        assert_eq!(h["www-authenticate"], "Bearer");
        assert_error(&body, "UNAUTHORIZED", &b);
        let (s, _, body) = call(&app, "GET", "/v1/api-keys", Some("sk_test_nope"), None).await;
        assert_eq!(s, 401, "[{b}] {body}");

        // Create: 201, the secret once, the seed's fields.
        let (s, _, created) = call(
            &app,
            "POST",
            "/v1/api-keys",
            Some(&key),
            Some(json!({ "name": "我的API密钥", "description": "用于第三方应用集成", "permissions": ["read", "write"],
                         "expires_at": "2099-12-31T23:59:59Z" })),
        )
        .await;
        assert_eq!(s, 201, "[{b}] {created}");
        let id = created["id"].as_str().unwrap().to_string();
        let secret = created["key"].as_str().unwrap().to_string();
        assert!(id.starts_with("ak_") && secret.starts_with("sk_test_"), "[{b}] {created}");
        assert_eq!(created["prefix"], &secret[..12]);
        assert_eq!(created["permissions"], json!(["read", "write"]));
        assert_eq!(created["expires_at"], "2099-12-31T23:59:59Z");
        assert_eq!(created["usage_count"], 0);
        assert!(created["last_used_at"].is_null());

        // Bad input: 400 naming the field as this API spells it; nothing created.
        let (s, _, body) =
            call(&app, "POST", "/v1/api-keys", Some(&key), Some(json!({ "name": "x", "permissions": [] }))).await;
        assert_eq!(s, 400, "[{b}] {body}");
        assert_error(&body, "INVALID_REQUEST", &b);
        assert_eq!(body["error"]["details"]["field"], "permissions", "[{b}] {body}");
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/api-keys",
            Some(&key),
            Some(json!({ "name": "x", "expires_at": "2001-01-01T00:00:00Z" })),
        )
        .await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("expires_at")), "[{b}] {body}");
        let (s, _, body) = call(&app, "POST", "/v1/api-keys", Some(&key), Some(json!({ "name": 5 }))).await;
        assert_eq!(s, 400, "[{b}] {body}");
        let raw =
            app.client.post(format!("{}/v1/api-keys", app.url)).bearer_auth(&key).body("{}").send().await.unwrap();
        assert_eq!(raw.status(), 415);
        assert_eq!(raw.json::<Value>().await.unwrap()["error"]["code"], "INVALID_REQUEST");

        // List: pagination with total; the secret never again.
        let (s, h, list) = call(&app, "GET", "/v1/api-keys?page=1&limit=1", Some(&key), None).await;
        assert_eq!(s, 200, "[{b}] {list}");
        assert_eq!(list["pagination"], json!({ "page": 1, "limit": 1, "total": 2, "total_pages": 2 }), "[{b}]");
        assert_eq!(list["data"][0]["id"], id.as_str(), "newest first");
        assert!(list["data"][0].get("key").is_none());
        assert_eq!(h["ratelimit-limit"], "1000");
        let (_, _, page2) = call(&app, "GET", "/v1/api-keys?page=2&limit=1", Some(&key), None).await;
        assert_ne!(page2["data"][0]["id"], id.as_str());
        let (s, _, body) = call(&app, "GET", "/v1/api-keys?limit=0", Some(&key), None).await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("limit")), "[{b}] {body}");
        let (s, _, _) = call(&app, "GET", "/v1/api-keys?page=abc", Some(&key), None).await;
        assert_eq!(s, 400);

        // The new key works, and its requests are counted.
        let (s, _, _) = call(&app, "GET", &format!("/v1/api-keys/{id}"), Some(&secret), None).await;
        assert_eq!(s, 403, "[{b}] read+write without admin cannot manage keys");
        let (s, _, got) = call(&app, "GET", &format!("/v1/api-keys/{id}"), Some(&key), None).await;
        assert_eq!((s, got["name"].as_str()), (200, Some("我的API密钥")), "[{b}] {got}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, _, usage) = call(&app, "GET", &format!("/v1/api-keys/{id}/usage?days=7"), Some(&key), None).await;
            if usage["total"] == 1 {
                assert_eq!(usage["days"][0]["by_status_class"]["4xx"], 1, "[{b}] {usage}");
                let (_, _, got) = call(&app, "GET", &format!("/v1/api-keys/{id}"), Some(&key), None).await;
                assert_eq!(got["usage_count"], 1, "[{b}] {got}");
                break;
            }
            assert!(Instant::now() < deadline, "[{b}] usage never counted: {usage}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Update: partial; disabling stops the key; null removes the expiry.
        let (s, _, upd) = call(
            &app,
            "PUT",
            &format!("/v1/api-keys/{id}"),
            Some(&key),
            Some(json!({ "name": "renamed", "enabled": false, "expires_at": null })),
        )
        .await;
        assert_eq!(s, 200, "[{b}] {upd}");
        assert_eq!((upd["name"].as_str(), upd["enabled"].as_bool()), (Some("renamed"), Some(false)));
        assert!(upd["expires_at"].is_null() && upd["description"] == "用于第三方应用集成", "[{b}] {upd}");
        let (s, _, _) = call(&app, "GET", "/v1/webhooks", Some(&secret), None).await;
        assert_eq!(s, 401, "[{b}] a disabled key is refused");

        // Tenancy: another workspace's owner sees 404.
        let (_, other) = app.other_workspace("other@example.com").await;
        for (m, p) in [
            ("GET", format!("/v1/api-keys/{id}")),
            ("DELETE", format!("/v1/api-keys/{id}")),
            ("GET", format!("/v1/api-keys/{id}/usage")),
        ] {
            let (s, _, body) = call(&app, m, &p, Some(&other), None).await;
            assert_eq!(s, 404, "[{b}] {m} {p}: {body}");
            assert_error(&body, "NOT_FOUND", &b);
        }

        // Delete: 204, then gone.
        let (s, _, _) = call(&app, "DELETE", &format!("/v1/api-keys/{id}"), Some(&key), None).await;
        assert_eq!(s, 204);
        let (s, _, body) = call(&app, "GET", &format!("/v1/api-keys/{id}"), Some(&key), None).await;
        assert_eq!(s, 404, "[{b}] {body}");
        let (_, _, list) = call(&app, "GET", "/v1/api-keys", Some(&key), None).await;
        assert_eq!(list["pagination"]["total"], 1);

        // An Idempotency-Key makes a create happen once.
        let post = || {
            app.client
                .post(format!("{}/v1/api-keys", app.url))
                .bearer_auth(&key)
                .header("idempotency-key", "k-1")
                .json(&json!({ "name": "once" }))
        };
        let first: Value = post().send().await.unwrap().json().await.unwrap();
        let again = post().send().await.unwrap();
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap()["id"], first["id"]);
        let (_, _, list) = call(&app, "GET", "/v1/api-keys", Some(&key), None).await;
        assert_eq!(list["pagination"]["total"], 2, "[{b}] one key for two requests");
        let reused = app
            .client
            .post(format!("{}/v1/api-keys", app.url))
            .bearer_auth(&key)
            .header("idempotency-key", "k-1")
            .json(&json!({ "name": "other" }))
            .send()
            .await
            .unwrap();
        assert_eq!(reused.status(), 422);
        let body: Value = reused.json().await.unwrap();
        assert_eq!(body["error"]["details"]["field"], "Idempotency-Key", "[{b}] the seed's shape on /v1: {body}");
    })
    .await;
}

/// A local receiver answering the status it is told to.
#[derive(Clone, Default)]
struct Receiver {
    status: Arc<Mutex<u16>>,
    hits: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.hits.lock().unwrap().push((headers, body));
    StatusCode::from_u16(*r.status.lock().unwrap()).unwrap()
}

async fn start_receiver(status: u16) -> (Receiver, String) {
    let r = Receiver { status: Arc::new(Mutex::new(status)), ..Default::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(receive).with_state(r.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (r, format!("http://{addr}/hook"))
}

#[tokio::test]
async fn webhooks_are_created_tested_logged_and_retried() {
    for_each_backend(&[], |app| async move {
        let b = app.backend.clone();
        let key = app.owner_key.clone();
        let (receiver, url) = start_receiver(500).await;

        let (s, _, body) =
            call(&app, "POST", "/v1/webhooks", Some(&key), Some(json!({ "url": url, "events": ["no.such"] }))).await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("events")), "[{b}] {body}");
        // PostgreSQL cannot store a NUL character: refused on the field, not a 500.
        let nul = json!({ "url": url, "events": ["api_key.created"], "description": "a\u{0}b" });
        let (s, _, body) = call(&app, "POST", "/v1/webhooks", Some(&key), Some(nul)).await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("description")), "[{b}] {body}");

        // JSON Schema integers: 80.0 is 80; 0.5 is refused; the timeout is in seconds.
        let (s, _, w) = call(
            &app,
            "POST",
            "/v1/webhooks",
            Some(&key),
            Some(json!({ "url": url, "events": ["api_key.created"], "active": false, "timeout_seconds": 5.0,
                         "rate_limit_per_minute": 80.0 })),
        )
        .await;
        assert_eq!(
            (s, w["timeout_seconds"].as_i64(), w["rate_limit_per_minute"].as_i64()),
            (201, Some(5), Some(80)),
            "[{b}] {w}"
        );
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/webhooks",
            Some(&key),
            Some(json!({ "url": url, "events": ["api_key.created"], "timeout_seconds": 0.5 })),
        )
        .await;
        assert_eq!(s, 400, "[{b}] {body}");
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/webhooks",
            Some(&key),
            Some(json!({ "url": url, "events": ["api_key.created"], "timeout_seconds": 61 })),
        )
        .await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("timeout_seconds")), "[{b}] {body}");
        call(&app, "DELETE", &format!("/v1/webhooks/{}", w["id"].as_str().unwrap()), Some(&key), None).await;

        let (s, _, w) = call(
            &app,
            "POST",
            "/v1/webhooks",
            Some(&key),
            Some(json!({
                "url": url, "events": ["api_key.created"],
                "headers": { "X-Custom-Header": "value" }, "active": true,
            })),
        )
        .await;
        assert_eq!(s, 201, "[{b}] {w}");
        let id = w["id"].as_str().unwrap().to_string();
        let secret = w["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(w["headers"], json!({ "X-Custom-Header": "***" }), "[{b}] header values are never shown");

        let (_, _, list) = call(&app, "GET", "/v1/webhooks", Some(&key), None).await;
        assert_eq!(list["pagination"]["total"], 1, "[{b}] {list}");
        assert!(list["data"][0].get("secret").is_none());

        // Test: sent now, signed, answered with the attempt.
        let (s, _, log) = call(&app, "POST", &format!("/v1/webhooks/{id}/test"), Some(&key), None).await;
        assert_eq!(s, 200, "[{b}] {log}");
        assert_eq!((log["status"].as_str(), log["response_code"].as_i64()), (Some("failed"), Some(500)), "[{b}] {log}");
        assert_eq!(log["event"], "webhook.test");
        assert_eq!(log["payload"]["data"]["webhook_id"], id.as_str());
        assert!(log["response_time"].as_i64().is_some());
        let (headers, body) = receiver.hits.lock().unwrap()[0].clone();
        assert_eq!(headers["x-custom-header"], "value");
        let wh = standardwebhooks::Webhook::new(&secret).unwrap();
        wh.verify(&body, &headers).expect("the test message is signed with the webhook's secret");

        // Logs: the attempt with its payload, paginated.
        let (s, _, logs) =
            call(&app, "GET", &format!("/v1/webhooks/{id}/logs?page=1&limit=50"), Some(&key), None).await;
        assert_eq!(s, 200, "[{b}] {logs}");
        assert_eq!(logs["pagination"]["total"], 1);
        assert_eq!(logs["data"][0]["id"], log["id"]);
        assert_eq!(logs["data"][0]["webhook_id"], id.as_str());

        // Retry: the failed message goes again and now succeeds.
        *receiver.status.lock().unwrap() = 200;
        let (s, _, r) = call(&app, "POST", &format!("/v1/webhooks/{id}/retry"), Some(&key), None).await;
        assert_eq!((s, r["retried"].as_u64()), (200, Some(1)), "[{b}] {r}");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, _, logs) = call(&app, "GET", &format!("/v1/webhooks/{id}/logs"), Some(&key), None).await;
            let ok: Vec<&Value> =
                logs["data"].as_array().unwrap().iter().filter(|l| l["status"] == "success").collect();
            if let Some(l) = ok.first() {
                assert_eq!(l["response_code"], 200, "[{b}] {l}");
                assert_eq!(l["delivery_id"], log["delivery_id"], "[{b}] the same message");
                break;
            }
            assert!(Instant::now() < deadline, "[{b}] the retry never succeeded: {logs}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Update and delete; another workspace sees nothing.
        let (s, _, upd) =
            call(&app, "PUT", &format!("/v1/webhooks/{id}"), Some(&key), Some(json!({ "active": false }))).await;
        assert_eq!((s, upd["active"].as_bool()), (200, Some(false)), "[{b}] {upd}");
        let (s, _, body) = call(&app, "POST", &format!("/v1/webhooks/{id}/retry"), Some(&key), None).await;
        assert_eq!(s, 400, "[{b}] a disabled webhook is not retried: {body}");
        let (_, other) = app.other_workspace("other@example.com").await;
        for (m, p) in [
            ("GET", format!("/v1/webhooks/{id}")),
            ("POST", format!("/v1/webhooks/{id}/test")),
            ("GET", format!("/v1/webhooks/{id}/logs")),
            ("POST", format!("/v1/webhooks/{id}/retry")),
        ] {
            let (s, _, body) = call(&app, m, &p, Some(&other), None).await;
            assert_eq!(s, 404, "[{b}] {m} {p}: {body}");
        }
        let (s, _, _) = call(&app, "DELETE", &format!("/v1/webhooks/{id}"), Some(&key), None).await;
        assert_eq!(s, 204);
        let (s, _, _) = call(&app, "GET", &format!("/v1/webhooks/{id}/logs"), Some(&key), None).await;
        assert_eq!(s, 404, "[{b}] its log went with it");
    })
    .await;
}

#[tokio::test]
async fn oauth_apps_and_the_protocol_routes_under_v1() {
    for_each_backend(&[], |app| async move {
        let b = app.backend.clone();
        let key = app.owner_key.clone();
        let (s, _, created) = call(&app, "POST", "/v1/oauth/apps", Some(&key), Some(json!({
            "name": "我的应用", "description": "第三方应用集成",
            "redirect_uris": ["https://myapp.com/callback"], "scopes": ["read", "write"],
        }))).await;
        assert_eq!(s, 201, "[{b}] {created}");
        let client_id = created["client_id"].as_str().unwrap().to_string();
        let client_secret = created["client_secret"].as_str().unwrap().to_string();
        assert_eq!(created["redirect_uris"], json!(["https://myapp.com/callback"]));
        let (s, _, body) = call(&app, "POST", "/v1/oauth/apps", Some(&key), Some(json!({
            "name": "x", "redirect_uris": ["ftp://nope"], "scopes": ["read"],
        }))).await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("redirect_uris.0")), "[{b}] {body}");

        // The token endpoint under /v1, with the seed's JSON body.
        let tok: Value = app.client.post(format!("{}/v1/oauth/token", app.url))
            .json(&json!({ "grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret }))
            .send().await.unwrap().json().await.unwrap();
        let access = tok["access_token"].as_str().unwrap_or_else(|| panic!("[{b}] {tok}")).to_string();
        assert_eq!(tok["token_type"], "Bearer");

        // An access token works on /v1 with the OAuth rate limit.
        let (s, h, body) = call(&app, "GET", "/v1/webhooks", Some(&access), None).await;
        assert_eq!(s, 403, "[{b}] the app may not manage webhooks without admin: {body}");
        assert_eq!(h["ratelimit-limit"], "500", "[{b}] 500 a minute per OAuth grant");

        // Revoke under /v1: the token stops working at once.
        let r = app.client.post(format!("{}/v1/oauth/revoke", app.url))
            .form(&[("token", access.as_str()), ("client_id", &client_id), ("client_secret", &client_secret)])
            .send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (s, _, _) = call(&app, "GET", "/v1/webhooks", Some(&access), None).await;
        assert_eq!(s, 401, "[{b}] revoked");

        // Authorize under /v1 answers like /oauth/authorize.
        let q = format!("?response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Fmyapp.com%2Fcallback&scope=read&state=s");
        let v1 = app.client.get(format!("{}/v1/oauth/authorize{q}", app.url)).send().await.unwrap();
        let plain = app.client.get(format!("{}/oauth/authorize{q}", app.url)).send().await.unwrap();
        assert_eq!((v1.status(), v1.text().await.unwrap()), (plain.status(), plain.text().await.unwrap()));

        // Apps list, read, delete.
        let id = created["id"].as_str().unwrap();
        let (_, _, list) = call(&app, "GET", "/v1/oauth/apps", Some(&key), None).await;
        assert_eq!(list["pagination"]["total"], 1, "[{b}] {list}");
        assert!(list["data"][0].get("client_secret").is_none());
        let (s, _, _) = call(&app, "DELETE", &format!("/v1/oauth/apps/{id}"), Some(&key), None).await;
        assert_eq!(s, 204);
        let (s, _, _) = call(&app, "GET", &format!("/v1/oauth/apps/{id}"), Some(&key), None).await;
        assert_eq!(s, 404);
    })
    .await;
}

/// Routes of the router that the document leaves out on purpose: GraphQL,
/// browser pages and sign-in, health and metrics, the owner console
/// (cookie sessions, same origin), and the consent page's own calls.
const NOT_REST: &[&str] = &[
    "/graphql",
    "/auth/",
    "/playground",
    "/setup",
    "/healthz",
    "/metrics",
    "/api/v1/console/",
    "/oauth/authorize/",
    "/connect/",
    "/console",
    "/login",
    "/dashboard",
    "/invite",
    "/sandbox",
    "/readyz",
    "/$",
];

/// Every `.route("path", get(..).post(..))` under `src/rest`, as path → methods.
fn routes_in_source() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rest"), &mut files);
    let mut routes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for chunk in text.split(".route(\"").skip(1) {
            let Some((path, rest)) = chunk.split_once('"') else { continue };
            let call = rest.split(".route(").next().unwrap().split(".layer(").next().unwrap();
            let call = call.split(";").next().unwrap();
            let methods = routes.entry(path.to_string()).or_default();
            for m in ["get", "post", "put", "patch", "delete"] {
                if call.contains(&format!("{m}(")) {
                    methods.insert(m.to_string());
                }
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_rest_route_is_in_the_openapi_document() {
    let routes = routes_in_source();
    assert!(routes.contains_key("/v1/api-keys") && routes.contains_key("/api/v1/data/{slug}"), "{routes:?}");
    for_each_backend(&[], |app| {
        let routes = routes.clone();
        async move {
            let doc: Value =
                app.client.get(format!("{}/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
            assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
            let mut missing = Vec::new();
            for (path, methods) in &routes {
                if NOT_REST.iter().any(|p| path.starts_with(p) || (*p == "/$" && path == "/")) {
                    continue;
                }
                for m in methods {
                    if doc["paths"][path][m].is_null() {
                        missing.push(format!("{} {path}", m.to_uppercase()));
                    }
                }
            }
            assert!(missing.is_empty(), "routes missing from /openapi.json: {missing:?}");
            // And nothing documented that is not served.
            for path in doc["paths"].as_object().unwrap().keys() {
                assert!(routes.contains_key(path), "{path} is documented but not routed");
            }
            // Answers added by rule: every keyed operation documents 401, 403 and 429 (with
            // `Retry-After` and `RateLimit-*`), every data operation 401, 403 and its quota's 429.
            let answers = &doc["components"]["responses"];
            for h in ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
                assert_eq!(answers["RateLimited"]["headers"][h]["required"], true, "{h}");
            }
            assert_eq!(answers["QuotaExceeded"]["headers"]["Retry-After"]["required"], true);
            for (path, item) in doc["paths"].as_object().unwrap() {
                for (m, op) in item.as_object().unwrap() {
                    let security = op["security"].to_string();
                    let expect = match security.as_str() {
                        r#"[{"apiKey":[]}]"# => ["Unauthorized", "Forbidden", "RateLimited"],
                        r#"[{"dataKey":[]}]"# => ["DataUnauthorized", "DataForbidden", "QuotaExceeded"],
                        _ => {
                            assert!(
                                !path.starts_with("/v1/") || path.starts_with("/v1/oauth/"),
                                "{m} {path} has no key"
                            );
                            continue;
                        }
                    };
                    for (status, name) in ["401", "403", "429"].into_iter().zip(expect) {
                        let r = &op["responses"][status]["$ref"];
                        assert_eq!(r, &json!(format!("#/components/responses/{name}")), "{m} {path} {status}");
                    }
                    if security.contains("apiKey") {
                        let ok = op["responses"].as_object().unwrap().iter().find(|(s, _)| s.starts_with('2'));
                        let (_, ok) = ok.unwrap_or_else(|| panic!("{m} {path} documents a success"));
                        assert!(ok["headers"]["RateLimit-Remaining"]["schema"].is_object(), "{m} {path}");
                    }
                    let json_body = !op["requestBody"]["content"]["application/json"].is_null();
                    assert_eq!(json_body, !op["responses"]["415"].is_null(), "{m} {path} 415");
                }
            }
            // The data API's part, generated, with what the fuzzer relies on.
            let data: Value =
                app.client.get(format!("{}/api/v1/openapi.json", app.url)).send().await.unwrap().json().await.unwrap();
            let data_paths: Vec<&String> = data["paths"].as_object().unwrap().keys().collect();
            assert_eq!(data_paths, ["/api/v1/data/{slug}", "/api/v1/data/{slug}/{record_id}"]);
            for path in data_paths {
                assert_eq!(data["paths"][path], doc["paths"][path], "{path} is the same in both documents");
            }
            let post = &doc["paths"]["/api/v1/data/{slug}"]["post"];
            let callback = post["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "X-Webhook-Callback");
            let callback = callback.expect("the callback header is documented");
            assert_eq!((&callback["in"], &callback["schema"]["format"]), (&json!("header"), &json!("uri")));
            assert_eq!(callback["schema"]["minLength"], 1, "a blank URL is not one");
            let body = &doc["components"]["schemas"]["RecordBody"];
            assert_eq!(body["propertyNames"]["pattern"], switchyard::rest::NO_NUL);
            assert!(doc["components"]["schemas"]["RecordValue"]
                .to_string()
                .contains(switchyard::rest::NO_NUL.replace('\\', "\\\\").as_str()));
            let record = &doc["components"]["schemas"]["Record"];
            assert_eq!(record["properties"]["operation"]["$ref"], "#/components/schemas/RecordOperation");
            assert!(record["properties"]["operation"]["description"]
                .as_str()
                .unwrap()
                .contains("operation: \"delete\""));
            assert!(
                post["callbacks"]["recordResult"].is_object()
                    && doc["components"]["callbacks"]["recordResult"].is_object()
            );
            assert_eq!(doc["components"]["securitySchemes"]["dataKey"]["scheme"], "bearer");
        }
    })
    .await;
}

#[tokio::test]
async fn a_key_of_the_workspace_sees_its_endpoints_schemas_in_the_document() {
    for_each_backend(&[], |app| async move {
        let b = app.backend.clone();
        let (_, data_key, _) = crate::data::setup(&app, json!({})).await;
        let doc_with = |key: Option<String>| {
            let app = app.clone();
            async move {
                let mut req = app.client.get(format!("{}/openapi.json", app.url));
                if let Some(k) = key {
                    req = req.bearer_auth(k);
                }
                req.send().await.unwrap().json::<Value>().await.unwrap()
            }
        };
        let plain = doc_with(None).await;
        assert!(plain["paths"]["/api/v1/data/orders"].is_null(), "[{b}] no key, no endpoints");
        let other = doc_with(Some(app.other_workspace("o@example.com").await.1)).await;
        assert!(other["paths"]["/api/v1/data/orders"].is_null(), "[{b}] another workspace's key sees none");
        for key in [data_key.clone(), app.owner_key.clone()] {
            let doc = doc_with(Some(key)).await;
            let body =
                &doc["paths"]["/api/v1/data/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"];
            assert_eq!(body["allOf"][1]["$ref"], "#/components/schemas/Endpoint_orders", "[{b}] {body}");
            assert_eq!(
                doc["components"]["schemas"]["Endpoint_orders"]["required"],
                json!(["order_id", "amount"]),
                "[{b}]"
            );
            let item = &doc["paths"]["/api/v1/data/orders/{record_id}"];
            assert!(item["get"].is_object() && item["put"]["requestBody"]["content"].is_object(), "[{b}] {item}");
            for op in ["get", "put", "delete"] {
                let names = item[op]["parameters"].to_string();
                assert!(
                    !names.contains(r#""name":"slug""#) && names.contains("record_id"),
                    "[{b}] the slug is in the path"
                );
            }
        }

        // A blank callback header is not a URL.
        let blank = app
            .client
            .post(format!("{}/api/v1/data/orders", app.url))
            .bearer_auth(&data_key)
            .header("content-type", "application/json")
            .header("x-webhook-callback", " ")
            .body(crate::data::ORDER)
            .send()
            .await
            .unwrap();
        assert_eq!(blank.status(), 400, "[{b}]");
        assert_eq!(blank.json::<Value>().await.unwrap()["details"][0]["field"], "X-Webhook-Callback");

        // Right after a DELETE the record answers with the pending operation.
        let (s, q) = crate::data::call(
            &app,
            "POST",
            "/api/v1/data/orders",
            Some(&data_key),
            Some(crate::data::ORDER),
            "application/json",
        )
        .await;
        assert_eq!(s, 202, "[{b}] {q}");
        let id = q["id"].as_str().unwrap().to_string();
        crate::data::processed(&app, &data_key, &id, "processed").await;
        let (s, _) =
            crate::data::call(&app, "DELETE", &format!("/api/v1/data/orders/{id}"), Some(&data_key), None, "").await;
        assert_eq!(s, 202);
        let (s, rec) =
            crate::data::call(&app, "GET", &format!("/api/v1/data/orders/{id}"), Some(&data_key), None, "").await;
        assert!(s == 404 || rec["operation"] == "delete", "[{b}] {s} {rec}");
    })
    .await;
}

#[tokio::test]
async fn plugins_are_installed_listed_configured_and_uninstalled_as_the_seed_shows() {
    for_each_backend(&[], |app| async move {
        let b = app.backend.clone();
        let key = app.owner_key.clone();

        // Bad config: 400 with every field at fault; nothing installed.
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/plugins/install",
            Some(&key),
            Some(json!({ "plugin_id": "plugin_weather_v1.0.0", "config": { "api_key": "", "default_city": 7 } })),
        )
        .await;
        assert_eq!(s, 400, "[{b}] {body}");
        assert_error(&body, "INVALID_REQUEST", &b);
        let fields: Vec<&str> =
            body["error"]["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&"config.api_key") && fields.contains(&"config.default_city"), "[{b}] {body}");
        assert!(body["error"]["details"]["field"].is_string(), "[{b}] {body}");
        let (s, _, body) =
            call(&app, "POST", "/v1/plugins/install", Some(&key), Some(json!({ "plugin_id": "plugin_nope_v1.0.0" })))
                .await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("plugin_id")), "[{b}] {body}");
        let (s, _, body) = call(&app, "GET", "/v1/plugins", Some(&key), None).await;
        assert_eq!((s, body["pagination"]["total"].as_u64()), (200, Some(0)), "[{b}] {body}");

        // The seed's example: 201, the secret as `***`, the default city filled in.
        let (s, _, weather) = call(
            &app,
            "POST",
            "/v1/plugins/install",
            Some(&key),
            Some(json!({ "plugin_id": "plugin_weather_v1.0.0", "config": { "api_key": "weather_api_key" } })),
        )
        .await;
        assert_eq!(s, 201, "[{b}] {weather}");
        // `id` is the manifest id, as the seed shows it; the installation is `installation_id`.
        assert_eq!(weather["id"], "plugin_weather_v1.0.0", "[{b}] {weather}");
        let id = weather["installation_id"].as_str().unwrap().to_string();
        assert!(id.starts_with("plg_"), "[{b}] {weather}");
        assert_eq!(weather["plugin_id"], "plugin_weather_v1.0.0");
        assert_eq!((weather["status"].as_str(), weather["version"].as_str()), (Some("active"), Some("1.0.0")));
        assert_eq!(weather["config"]["api_key"], "***", "[{b}] {weather}");
        assert_eq!(weather["config"]["default_city"], "Beijing", "[{b}] {weather}");
        assert!(!weather.to_string().contains("weather_api_key"));
        for f in ["name", "description", "author", "installed_at"] {
            assert!(weather[f].is_string(), "[{b}] {f}: {weather}");
        }
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/plugins/install",
            Some(&key),
            Some(json!({ "plugin_id": "plugin_weather_v1.0.0", "config": { "api_key": "k" } })),
        )
        .await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("plugin_id")), "[{b}] installed twice");

        // A second plugin, then lists with the status filter and pagination.
        let (s, _, other) = call(
            &app,
            "POST",
            "/v1/plugins/install",
            Some(&key),
            Some(json!({ "plugin_id": "plugin_chat_notifier_v1.0.0", "source": "marketplace",
                         "config": { "webhook_url": "http://127.0.0.1:9/hook", "events": ["plugin.installed"] } })),
        )
        .await;
        assert_eq!((s, other["config"]["webhook_url"].as_str()), (201, Some("***")), "[{b}] {other}");
        let (s, _, list) = call(&app, "GET", "/v1/plugins?status=active&page=1&limit=1", Some(&key), None).await;
        assert_eq!(s, 200, "[{b}] {list}");
        assert_eq!(list["pagination"], json!({ "page": 1, "limit": 1, "total": 2, "total_pages": 2 }), "[{b}] {list}");
        assert_eq!(list["data"][0]["id"], other["id"], "[{b}] newest first");
        let (_, _, page2) = call(&app, "GET", "/v1/plugins?status=active&page=2&limit=1", Some(&key), None).await;
        assert_eq!(page2["data"][0]["installation_id"], id.as_str(), "[{b}] {page2}");

        // One plugin: the seed's shape, the secret as `***`, by id, manifest id or key; another workspace's key gets 404.
        let (s, _, one) = call(&app, "GET", &format!("/v1/plugins/{id}"), Some(&key), None).await;
        assert_eq!(s, 200, "[{b}] {one}");
        assert_eq!(
            (one["installation_id"].as_str(), one["config"]["api_key"].as_str()),
            (Some(id.as_str()), Some("***")),
            "[{b}] {one}"
        );
        assert_eq!(one["config"]["default_city"], "Beijing");
        assert!(!one.to_string().contains("weather_api_key"), "[{b}] {one}");
        for f in ["plugin_id", "key", "name", "version", "status", "source", "installed_at", "updated_at"] {
            assert!(!one[f].is_null(), "[{b}] {f}: {one}");
        }
        for by in ["plugin_weather_v1.0.0", "weather"] {
            let (s, _, p) = call(&app, "GET", &format!("/v1/plugins/{by}"), Some(&key), None).await;
            assert_eq!((s, p["installation_id"].as_str()), (200, Some(id.as_str())), "[{b}] {by}: {p}");
        }
        let (_, stranger) = app.other_workspace("stranger@example.com").await;
        let (s, _, body) = call(&app, "GET", &format!("/v1/plugins/{id}"), Some(&stranger), None).await;
        assert_eq!(s, 404, "[{b}] another workspace's plugin: {body}");
        assert_error(&body, "NOT_FOUND", &b);

        // Status: inactive, then the filter sees it.
        let (s, _, p) =
            call(&app, "PATCH", &format!("/v1/plugins/{id}/status"), Some(&key), Some(json!({ "status": "inactive" })))
                .await;
        assert_eq!((s, p["status"].as_str()), (200, Some("inactive")), "[{b}] {p}");
        let (_, _, list) = call(&app, "GET", "/v1/plugins?status=inactive", Some(&key), None).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1, "[{b}] {list}");
        assert_eq!(list["data"][0]["installation_id"], id.as_str());
        let (s, _, body) =
            call(&app, "PATCH", &format!("/v1/plugins/{id}/status"), Some(&key), Some(json!({ "status": "on" }))).await;
        assert_eq!(s, 400, "[{b}] {body}");
        let (s, _, body) = call(&app, "GET", "/v1/plugins?status=broken", Some(&key), None).await;
        assert_eq!(s, 400, "[{b}] {body}");

        // Config: the secret sent back as `***` keeps its value; a bad value is refused.
        let (s, _, p) = call(
            &app,
            "PUT",
            &format!("/v1/plugins/{id}/config"),
            Some(&key),
            Some(json!({ "config": { "api_key": "***", "default_city": "Shanghai" } })),
        )
        .await;
        assert_eq!(s, 200, "[{b}] {p}");
        assert_eq!(
            (p["config"]["api_key"].as_str(), p["config"]["default_city"].as_str()),
            (Some("***"), Some("Shanghai"))
        );
        use sea_orm::EntityTrait;
        let row = entity::plugin::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().unwrap();
        let full =
            switchyard::services::secret_config::full(&app.state, &row.config, row.secrets_enc.as_deref()).unwrap();
        assert_eq!(full["api_key"], "weather_api_key", "[{b}] the stored secret is kept");
        let (s, _, body) = call(
            &app,
            "PUT",
            &format!("/v1/plugins/{id}/config"),
            Some(&key),
            Some(json!({ "config": { "api_key": "***", "default_city": "" } })),
        )
        .await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("config.default_city")), "[{b}] {body}");

        // Uninstall: 204, then 404 in the seed's shape.
        let (s, _, _) = call(&app, "DELETE", "/v1/plugins/plugin_weather_v1.0.0", Some(&key), None).await;
        assert_eq!(s, 204, "[{b}] by its manifest id");
        let (s, _, body) = call(&app, "DELETE", &format!("/v1/plugins/{id}"), Some(&key), None).await;
        assert_eq!(s, 404, "[{b}] {body}");
        assert_error(&body, "NOT_FOUND", &b);
        let (s, _, body) = call(&app, "GET", &format!("/v1/plugins/{id}"), Some(&key), None).await;
        assert_eq!(s, 404, "[{b}] uninstalled: {body}");
        let (s, _, body) =
            call(&app, "PATCH", &format!("/v1/plugins/{id}/status"), Some(&key), Some(json!({ "status": "active" })))
                .await;
        assert_eq!(s, 404, "[{b}] {body}");
        let (s, _, body) = call(&app, "GET", "/v1/plugins", None, None).await;
        assert_eq!(s, 401, "[{b}] {body}");
    })
    .await;
}

#[tokio::test]
async fn integrations_are_created_tested_synced_updated_and_deleted() {
    for_each_backend(&[], |app| async move {
        let b = app.backend.clone();
        let key = app.owner_key.clone();
        let (slack, url) = start_receiver(200).await;
        let webhook_url = format!("{url}/services/T1/B1/SECRETPART");

        // Bad input: the fields as this API spells them.
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/integrations",
            Some(&key),
            Some(json!({ "name": "S", "service_type": "slack", "config": { "webhook_url": "ftp://x", "channel": 5 } })),
        )
        .await;
        assert_eq!(s, 400, "[{b}] {body}");
        let fields: Vec<&str> =
            body["error"]["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&"config.webhook_url") && fields.contains(&"config.channel"), "[{b}] {body}");
        let (s, _, body) = call(
            &app,
            "POST",
            "/v1/integrations",
            Some(&key),
            Some(json!({ "name": "S", "service_type": "slack", "config": { "webhook_url": webhook_url },
                         "settings": { "auto_sync": true, "sync_interval": 30 } })),
        )
        .await;
        assert_eq!(
            (s, body["error"]["details"]["field"].as_str()),
            (400, Some("settings.sync_interval")),
            "[{b}] {body}"
        );
        let (s, _, body) =
            call(&app, "POST", "/v1/integrations", Some(&key), Some(json!({ "name": "S", "service_type": "fax" })))
                .await;
        assert_eq!((s, body["error"]["details"]["field"].as_str()), (400, Some("service_type")), "[{b}] {body}");

        // The seed's example: 201, the webhook URL (the credential) as `***`.
        let (s, _, made) = call(
            &app,
            "POST",
            "/v1/integrations",
            Some(&key),
            Some(json!({ "name": "Slack集成", "service_type": "slack",
                         "config": { "webhook_url": webhook_url, "channel": "#general", "username": "TaiShangLaoJun",
                                     "events": ["api_key.created"] },
                         "settings": { "auto_sync": false, "sync_interval": 300 } })),
        )
        .await;
        assert_eq!(s, 201, "[{b}] {made}");
        let id = made["id"].as_str().unwrap().to_string();
        assert_eq!(made["config"]["webhook_url"], "***", "[{b}] {made}");
        assert_eq!(made["settings"], json!({ "auto_sync": false, "sync_interval": 300 }));
        assert_eq!((made["status"].as_str(), made["service_type"].as_str()), (Some("active"), Some("slack")));
        assert!(!made.to_string().contains("SECRETPART"));
        let (s, _, other) = call(
            &app,
            "POST",
            "/v1/integrations",
            Some(&key),
            Some(json!({ "name": "Hook", "service_type": "webhook", "config": { "url": url } })),
        )
        .await;
        assert_eq!(s, 201, "[{b}] {other}");

        // List with the seed's filters and pagination.
        let (s, _, list) =
            call(&app, "GET", "/v1/integrations?service_type=slack&status=active", Some(&key), None).await;
        assert_eq!(s, 200, "[{b}] {list}");
        assert_eq!(list["pagination"], json!({ "page": 1, "limit": 20, "total": 1, "total_pages": 1 }), "[{b}]");
        assert_eq!(list["data"][0]["id"], id.as_str());
        let (_, _, all) = call(&app, "GET", "/v1/integrations?page=2&limit=1", Some(&key), None).await;
        assert_eq!((all["data"][0]["id"].as_str(), all["pagination"]["total"].as_u64()), (Some(id.as_str()), Some(2)));
        let (s, _, one) = call(&app, "GET", &format!("/v1/integrations/{id}"), Some(&key), None).await;
        assert_eq!((s, one["name"].as_str()), (200, Some("Slack集成")), "[{b}] {one}");

        // Test: one Slack message now, the outcome recorded.
        let (s, _, t) = call(&app, "POST", &format!("/v1/integrations/{id}/test"), Some(&key), None).await;
        assert_eq!((s, t["ok"].as_bool(), t["status_code"].as_i64()), (200, Some(true), Some(200)), "[{b}] {t}");
        assert!(t["integration"]["last_test_at"].is_string(), "[{b}] {t}");
        let hit: Value = {
            let hits = slack.hits.lock().unwrap();
            assert_eq!(hits.len(), 1, "[{b}]");
            serde_json::from_slice(&hits[0].1).unwrap()
        };
        assert_eq!((hit["channel"].as_str(), hit["username"].as_str()), (Some("#general"), Some("TaiShangLaoJun")));
        *slack.status.lock().unwrap() = 404;
        let (s, _, t) = call(&app, "POST", &format!("/v1/integrations/{id}/test"), Some(&key), None).await;
        assert_eq!((s, t["ok"].as_bool(), t["status_code"].as_i64()), (200, Some(false), Some(404)), "[{b}] {t}");
        assert!(t["error"].as_str().unwrap().contains("404") && !t.to_string().contains("SECRETPART"), "[{b}] {t}");
        *slack.status.lock().unwrap() = 200;
        slack.hits.lock().unwrap().clear();

        // Sync: an event the filter selects is sent; 202 with the queued run.
        let (s, _, _) = call(&app, "POST", "/v1/api-keys", Some(&key), Some(json!({ "name": "synced" }))).await;
        assert_eq!(s, 201);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (s, _, run) = call(&app, "POST", &format!("/v1/integrations/{id}/sync"), Some(&key), None).await;
        assert_eq!(
            (s, run["status"].as_str(), run["trigger"].as_str()),
            (202, Some("queued"), Some("manual")),
            "[{b}] {run}"
        );
        assert!(run["id"].as_str().unwrap().starts_with("isr_"), "[{b}] {run}");
        let until = Instant::now() + Duration::from_secs(45);
        let synced = loop {
            let (_, _, i) = call(&app, "GET", &format!("/v1/integrations/{id}"), Some(&key), None).await;
            if i["last_sync_at"].is_string() || Instant::now() > until {
                break i;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(synced["last_error"].is_null() && synced["items_synced"].as_i64() >= Some(1), "[{b}] {synced}");

        // Its sync runs, paginated like the other lists; another workspace's key gets 404.
        let (s, _, runs) = call(&app, "GET", &format!("/v1/integrations/{id}/sync-runs"), Some(&key), None).await;
        assert_eq!(s, 200, "[{b}] {runs}");
        assert_eq!(runs["pagination"], json!({ "page": 1, "limit": 20, "total": 1, "total_pages": 1 }), "[{b}] {runs}");
        assert_eq!(
            (runs["data"][0]["id"].as_str(), runs["data"][0]["integration_id"].as_str()),
            (run["id"].as_str(), Some(id.as_str()))
        );
        assert_eq!(
            (runs["data"][0]["status"].as_str(), runs["data"][0]["trigger"].as_str()),
            (Some("succeeded"), Some("manual")),
            "[{b}] {runs}"
        );
        assert!(
            runs["data"][0]["finished_at"].is_string() && runs["data"][0]["items"].as_i64() >= Some(1),
            "[{b}] {runs}"
        );
        let (_, _, second) = call(&app, "POST", &format!("/v1/integrations/{id}/sync"), Some(&key), None).await;
        let (s, _, page) =
            call(&app, "GET", &format!("/v1/integrations/{id}/sync-runs?page=1&limit=1"), Some(&key), None).await;
        assert_eq!(s, 200, "[{b}] {page}");
        assert_eq!(page["pagination"], json!({ "page": 1, "limit": 1, "total": 2, "total_pages": 2 }), "[{b}] {page}");
        assert_eq!(page["data"][0]["id"], second["id"], "[{b}] newest first");
        let (_, _, page2) =
            call(&app, "GET", &format!("/v1/integrations/{id}/sync-runs?page=2&limit=1"), Some(&key), None).await;
        assert_eq!(page2["data"][0]["id"], run["id"], "[{b}] {page2}");
        let (s, _, body) =
            call(&app, "GET", &format!("/v1/integrations/{id}/sync-runs?limit=0"), Some(&key), None).await;
        assert_eq!(s, 400, "[{b}] {body}");
        let (_, stranger) = app.other_workspace("stranger@example.com").await;
        let (s, _, body) = call(&app, "GET", &format!("/v1/integrations/{id}/sync-runs"), Some(&stranger), None).await;
        assert_eq!(s, 404, "[{b}] another workspace's integration: {body}");
        assert_error(&body, "NOT_FOUND", &b);
        let until = Instant::now() + Duration::from_secs(45);
        while Instant::now() < until {
            let (_, _, r) =
                call(&app, "GET", &format!("/v1/integrations/{id}/sync-runs?limit=1"), Some(&key), None).await;
            if r["data"][0]["finished_at"].is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!slack.hits.lock().unwrap().is_empty(), "[{b}] the event reached the receiver");

        // Update: the secret sent back as `***` is kept; status inactive stops syncs.
        let (s, _, u) = call(
            &app,
            "PUT",
            &format!("/v1/integrations/{id}"),
            Some(&key),
            Some(json!({ "name": "Slack", "status": "inactive",
                         "config": { "webhook_url": "***", "channel": "#ops", "events": ["api_key.created"] } })),
        )
        .await;
        assert_eq!(s, 200, "[{b}] {u}");
        assert_eq!((u["name"].as_str(), u["status"].as_str()), (Some("Slack"), Some("inactive")));
        assert_eq!(u["config"]["webhook_url"], "***");
        assert_eq!(u["config"]["channel"], "#ops");
        let (s, _, body) = call(&app, "POST", &format!("/v1/integrations/{id}/sync"), Some(&key), None).await;
        assert_eq!(s, 400, "[{b}] an inactive integration does not sync: {body}");
        let (s, _, body) =
            call(&app, "PUT", &format!("/v1/integrations/{id}"), Some(&key), Some(json!({ "status": "error" }))).await;
        assert_eq!(s, 400, "[{b}] {body}");
        let (s, _, u) =
            call(&app, "PUT", &format!("/v1/integrations/{id}"), Some(&key), Some(json!({ "status": "active" }))).await;
        assert_eq!(s, 200, "[{b}] {u}");
        slack.hits.lock().unwrap().clear();
        let (s, _, t) = call(&app, "POST", &format!("/v1/integrations/{id}/test"), Some(&key), None).await;
        assert_eq!((s, t["ok"].as_bool()), (200, Some(true)), "[{b}] the kept secret still works: {t}");
        let hit: Value = serde_json::from_slice(&slack.hits.lock().unwrap()[0].1).unwrap();
        assert_eq!(hit["channel"], "#ops");

        // Delete: 204, then 404.
        let (s, _, _) = call(&app, "DELETE", &format!("/v1/integrations/{id}"), Some(&key), None).await;
        assert_eq!(s, 204, "[{b}]");
        for (m, p) in [
            ("GET", format!("/v1/integrations/{id}")),
            ("POST", format!("/v1/integrations/{id}/test")),
            ("GET", format!("/v1/integrations/{id}/sync-runs")),
        ] {
            let (s, _, body) = call(&app, m, &p, Some(&key), None).await;
            assert_eq!(s, 404, "[{b}] {m} {p}: {body}");
            assert_error(&body, "NOT_FOUND", &b);
        }
    })
    .await;
}
