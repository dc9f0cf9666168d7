//! Webhooks end to end, on both backends: every delivery goes over real HTTP
//! to a small receiver in this file (bound to 127.0.0.1:0) that records what
//! arrives and answers with a programmable sequence of status codes.
//! Signatures are checked with the `standardwebhooks` crate, unmodified.
//! Covered: signing and custom headers, retry schedules, 410 Gone, the
//! per-webhook rate limit, auto-disable, the SSRF guard (at creation and at
//! delivery time), reserved headers, test sends, the `deliveryLogs`
//! subscription, manual retries, the outbox surviving a stopped process, and
//! tenancy.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{json, Value};
use switchyard::Config;

use crate::helpers::{backends, for_each_backend, TestApp, WsClient};

// ---------------------------------------------------------------------------
// The receiver
// ---------------------------------------------------------------------------

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct ReceiverState {
    hits: Vec<Hit>,
    /// Status codes for the next requests, in order; then `default_status`.
    replies: VecDeque<u16>,
    default_status: u16,
    /// A `Retry-After` value sent with every non-2xx answer.
    retry_after: Option<String>,
}

/// A local HTTP endpoint that records every request.
#[derive(Clone)]
struct Receiver {
    base: String,
    state: Arc<Mutex<ReceiverState>>,
}

async fn record(
    State(st): State<Arc<Mutex<ReceiverState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut s = st.lock().unwrap();
    s.hits.push(Hit { method, path: uri.path().to_string(), headers, body, at: Instant::now() });
    let code = StatusCode::from_u16(s.replies.pop_front().unwrap_or(s.default_status)).unwrap();
    match s.retry_after.clone().filter(|_| !code.is_success()) {
        Some(after) => (code, [("retry-after", after)]).into_response(),
        None => code.into_response(),
    }
}

impl Receiver {
    /// A receiver answering `replies` in order, then `default_status`.
    async fn start(default_status: u16, replies: &[u16]) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState {
            hits: Vec::new(),
            replies: replies.iter().copied().collect(),
            default_status,
            retry_after: None,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("receiver binds");
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().fallback(record).with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver { base: format!("http://{addr}"), state }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.lock().unwrap().hits.clone()
    }

    fn count(&self) -> usize {
        self.state.lock().unwrap().hits.len()
    }

    fn set_default(&self, status: u16) {
        self.state.lock().unwrap().default_status = status;
    }

    fn set_retry_after(&self, value: Option<&str>) {
        self.state.lock().unwrap().retry_after = value.map(str::to_string);
    }

    fn push_replies(&self, replies: &[u16]) {
        self.state.lock().unwrap().replies.extend(replies.iter().copied());
    }

    /// Waits until at least `n` requests arrived; panics after `timeout`.
    async fn wait_for(&self, n: usize, timeout: Duration, backend: &str) -> Vec<Hit> {
        let deadline = Instant::now() + timeout;
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            if Instant::now() >= deadline {
                panic!("[{backend}] receiver got {} of {n} requests after {timeout:?}: {hits:?}", hits.len());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Asserts that the count stays at `n` for `window`.
    async fn stays_at(&self, n: usize, window: Duration, backend: &str) {
        let deadline = Instant::now() + window;
        while Instant::now() < deadline {
            let count = self.count();
            assert_eq!(count, n, "[{backend}] unexpected requests: {:?}", self.hits());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Verifies a request with the Standard Webhooks library.
fn verify(secret: &str, hit: &Hit) -> Result<(), standardwebhooks::WebhookError> {
    standardwebhooks::Webhook::new(secret)?.verify(&hit.body, &hit.headers)
}

/// A fresh `whsec_…` secret (32 random bytes).
fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

// ---------------------------------------------------------------------------
// GraphQL helpers
// ---------------------------------------------------------------------------

const WEBHOOK_FIELDS: &str = "id url description eventTypes headers enabled disabledReason rateLimitPerMinute
    retryPolicy { kind delaysSeconds } timeoutSeconds failingSince lastSuccessAt";

const DELIVERY_FIELDS: &str =
    "id webhookId eventId eventType payload status attempts lastStatusCode lastError createdAt deliveredAt";

const ATTEMPT_FIELDS: &str =
    "id deliveryId webhookId attempt success responseCode responseTimeMs responseBody requestHeaders error createdAt";

fn create_query() -> String {
    format!(
        "mutation($i: CreateWebhookInput!) {{ createWebhook(input: $i) {{ secret webhook {{ {WEBHOOK_FIELDS} }}
            userErrors {{ field message code }} }} }}"
    )
}

/// Creates a webhook; returns (id, secret, webhook).
async fn create_webhook(app: &TestApp, input: Value) -> (String, String, Value) {
    let data = app.gql(&app.owner_key, &create_query(), json!({ "i": input })).await;
    let out = &data["createWebhook"];
    assert_eq!(out["userErrors"], json!([]), "[{}] {out}", app.backend);
    let id = out["webhook"]["id"].as_str().expect("webhook id").to_string();
    let secret = out["secret"].as_str().expect("secret").to_string();
    (id, secret, out["webhook"].clone())
}

/// A createWebhook that must fail with the top-level error `code`; returns it.
async fn create_webhook_err(app: &TestApp, key: &str, input: Value, code: &str) -> Value {
    app.gql_err(Some(key), &create_query(), json!({ "i": input }), code).await
}

/// A createWebhook refused with user errors; returns the first as
/// (field path after `input`, message, code), e.g. `("url", "…", "INVALID")`.
async fn create_webhook_refused(app: &TestApp, input: Value) -> (String, String, String) {
    let payload = app.mutate_refused(&app.owner_key, "createWebhook", input, "secret webhook { id }").await;
    user_error_of(&payload)
}

/// The first user error of a payload as (field path after `input`, message, code).
fn user_error_of(payload: &Value) -> (String, String, String) {
    let e = &payload["userErrors"][0];
    let path: Vec<&str> =
        e["field"].as_array().map(|f| f.iter().skip(1).filter_map(|p| p.as_str()).collect()).unwrap_or_default();
    (path.join("."), e["message"].as_str().unwrap_or("").into(), e["code"].as_str().unwrap_or("").into())
}

async fn get_webhook(app: &TestApp, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ webhook(id: $id) {{ {WEBHOOK_FIELDS} }} }}");
    app.gql(&app.owner_key, &q, json!({ "id": id })).await["webhook"].clone()
}

async fn webhook_count(app: &TestApp) -> u64 {
    app.gql(&app.owner_key, "{ webhooks(first: 100) { totalCount } }", json!({})).await["webhooks"]["totalCount"]
        .as_u64()
        .unwrap()
}

/// The webhook's deliveries, oldest first.
async fn deliveries(app: &TestApp, webhook_id: &str) -> Vec<Value> {
    let q = format!(
        "query($f: DeliveryFilterInput) {{ deliveries(first: 100, filter: $f) {{ totalCount nodes {{ {DELIVERY_FIELDS} }} }} }}"
    );
    let data = app.gql(&app.owner_key, &q, json!({ "f": { "webhookId": webhook_id } })).await;
    let mut nodes = data["deliveries"]["nodes"].as_array().unwrap().clone();
    assert_eq!(data["deliveries"]["totalCount"].as_u64(), Some(nodes.len() as u64), "{data}");
    nodes.reverse();
    nodes
}

async fn get_delivery(app: &TestApp, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ delivery(id: $id) {{ {DELIVERY_FIELDS} }} }}");
    app.gql(&app.owner_key, &q, json!({ "id": id })).await["delivery"].clone()
}

/// Polls until the webhook has `n` deliveries; returns them, oldest first.
async fn wait_deliveries(app: &TestApp, webhook_id: &str, n: usize, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let list = deliveries(app, webhook_id).await;
        if list.len() >= n {
            return list;
        }
        if Instant::now() >= deadline {
            panic!("[{}] {} of {n} deliveries after {timeout:?}: {list:?}", app.backend, list.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until delivery `id` has `status`; panics with the last one seen.
async fn wait_delivery_status(app: &TestApp, id: &str, status: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let d = get_delivery(app, id).await;
        if d["status"] == status {
            return d;
        }
        if Instant::now() >= deadline {
            let job = job_of(app, id).await;
            panic!("[{}] delivery {id} not `{status}` after {timeout:?}: {d}\n  its job: {job:?}", app.backend);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ledger row of the job that sends delivery `id` (for failure messages).
async fn job_of(app: &TestApp, id: &str) -> Option<entity::job::Model> {
    let d = entity::delivery::Entity::find_by_id(id).one(&app.state.db).await.ok()??;
    entity::job::Entity::find_by_id(d.job_id).one(&app.state.db).await.ok()?
}

/// Polls until webhook `id` is inactive.
async fn wait_disabled(app: &TestApp, id: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let w = get_webhook(app, id).await;
        if w["enabled"] == false {
            return w;
        }
        if Instant::now() >= deadline {
            panic!("[{}] webhook {id} still active after {timeout:?}: {w}", app.backend);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The attempt log of one delivery, oldest first.
async fn attempts_of(app: &TestApp, delivery_id: &str) -> Vec<Value> {
    let q = format!(
        "query($f: DeliveryAttemptFilterInput) {{ deliveryAttempts(first: 100, filter: $f) {{ nodes {{ {ATTEMPT_FIELDS} }} }} }}"
    );
    let data = app.gql(&app.owner_key, &q, json!({ "f": { "deliveryId": delivery_id } })).await;
    let mut nodes = data["deliveryAttempts"]["nodes"].as_array().unwrap().clone();
    nodes.reverse();
    nodes
}

/// The workspace's events of one type, newest first.
async fn events_of_type(app: &TestApp, event_type: &str) -> Vec<Value> {
    let data = app
        .gql(
            &app.owner_key,
            "query($f: EventFilterInput) { events(first: 100, filter: $f) {
               edges { node { id type actor subjectId data } } } }",
            json!({ "f": { "eventTypes": [event_type] } }),
        )
        .await;
    data["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

// ---------------------------------------------------------------------------
// 1. Signed delivery
// ---------------------------------------------------------------------------

#[tokio::test]
async fn events_are_delivered_signed_with_custom_headers() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[]).await;
        let (wh, secret, created) = create_webhook(
            &app,
            json!({ "url": rx.url("/hook"), "eventTypes": ["api_key.*"], "headers": { "X-Team": "ops" } }),
        )
        .await;
        assert!(secret.starts_with("whsec_"), "[{b}] {secret}");
        assert!(created["enabled"] == true && created["eventTypes"] == json!(["api_key.*"]), "[{b}] {created}");
        assert_eq!(created["url"], rx.url("/hook"));
        assert_eq!(
            created["retryPolicy"]["delaysSeconds"],
            json!([5, 300, 1800, 7200, 18000, 36000, 36000]),
            "[{b}] default"
        );
        // The secret is not readable afterwards.
        let (_, _, body) = app
            .gql_raw(Some(&app.owner_key), "query($id: ID!) { webhook(id: $id) { secret } }", json!({ "id": wh }))
            .await;
        assert!(body["errors"].is_array(), "[{b}] secret readable: {body}");
        // Creating the webhook was not an api_key event: nothing sent yet.
        rx.stays_at(0, Duration::from_millis(300), &b).await;

        let (key_id, _) = app.create_key(&app.owner_key, "hooked", &["READ"]).await;
        let hits = rx.wait_for(1, Duration::from_secs(10), &b).await;
        let hit = &hits[0];
        assert_eq!(hit.method, Method::POST, "[{b}]");
        assert_eq!(hit.path, "/hook", "[{b}]");
        assert_eq!(hit.header("x-team"), Some("ops"), "[{b}] {:?}", hit.headers);
        assert_eq!(hit.header("content-type"), Some("application/json"), "[{b}] {:?}", hit.headers);
        let body = hit.json();
        assert_eq!(body["event"], "api_key.created", "[{b}] {body}");
        assert_eq!(body["type"], "api_key.created", "[{b}] {body}");
        let evt = body["id"].as_str().unwrap_or_else(|| panic!("[{b}] no event id: {body}"));
        let logged = app.gql(&app.owner_key, "query($id: ID!) { event(id: $id) { type } }", json!({ "id": evt })).await;
        assert_eq!(logged["event"]["type"], "api_key.created", "[{b}] the body's id is the logged event's");
        let ts = body["timestamp"].as_str().expect("timestamp");
        let ts = chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("[{b}] {ts}: {e}"));
        assert!((Utc::now() - ts.to_utc()).num_seconds().abs() < 60, "[{b}] {ts}");
        assert_eq!(body["data"]["id"], key_id.as_str(), "[{b}] {body}");
        assert_eq!(body["data"]["name"], "hooked", "[{b}] {body}");

        // Standard Webhooks verification, with the library, unmodified.
        verify(&secret, hit).unwrap_or_else(|e| panic!("[{b}] signature does not verify: {e}: {:?}", hit.headers));
        assert!(verify(&random_secret(), hit).is_err(), "[{b}] verified with a different secret");
        let mut tampered = hit.clone();
        tampered.body = Bytes::from(String::from_utf8_lossy(&hit.body).replace("hooked", "hacked"));
        assert!(verify(&secret, &tampered).is_err(), "[{b}] verified a tampered body");
        let dlv_id = hit.header("webhook-id").expect("webhook-id").to_string();

        // Exactly one request.
        rx.stays_at(1, Duration::from_secs(1), &b).await;

        let list = deliveries(&app, &wh).await;
        assert_eq!(list.len(), 1, "[{b}] {list:?}");
        let d = wait_delivery_status(&app, list[0]["id"].as_str().unwrap(), "SUCCEEDED", Duration::from_secs(5)).await;
        assert_eq!(d["id"], dlv_id.as_str(), "[{b}] webhook-id is the delivery id");
        assert_eq!(d["attempts"], 1, "[{b}] {d}");
        assert_eq!(d["eventType"], "api_key.created");
        assert_eq!(d["lastStatusCode"], 200);
        assert!(d["deliveredAt"].is_string(), "[{b}] {d}");
        assert!(d["eventId"].is_string(), "[{b}] {d}");
        assert_eq!(d["payload"], body, "[{b}] the payload is the exact body sent");

        let atts = attempts_of(&app, &dlv_id).await;
        assert_eq!(atts.len(), 1, "[{b}] {atts:?}");
        let a = &atts[0];
        assert_eq!(a["attempt"], 1);
        assert_eq!(a["responseCode"], 200, "[{b}] {a}");
        assert_eq!(a["success"], true, "[{b}] {a}");
        assert!(a["error"].is_null(), "[{b}] {a}");
        let h = &a["requestHeaders"];
        assert_eq!(h["webhook-signature"], "<redacted>", "[{b}] {a}");
        assert_eq!(h["webhook-id"], dlv_id.as_str(), "[{b}] {a}");
        // Custom header values are sealed: the log keeps only the name.
        assert_eq!(h["X-Team"], "<redacted>", "[{b}] {a}");
        let shown =
            app.gql(&app.owner_key, "query($id: ID!) { webhook(id: $id) { headers } }", json!({ "id": wh })).await;
        assert_eq!(shown["webhook"]["headers"], json!({ "X-Team": "***" }), "[{b}] header values are never returned");
        assert!(!a.to_string().contains(&secret), "[{b}] secret in the attempt log");
        let sig = hit.header("webhook-signature").unwrap();
        assert!(!a.to_string().contains(&sig[3..]), "[{b}] signature in the attempt log");

        // A success is recorded on the webhook.
        let w = get_webhook(&app, &wh).await;
        assert!(w["lastSuccessAt"].is_string() && w["failingSince"].is_null(), "[{b}] {w}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 2. Retries follow the schedule
// ---------------------------------------------------------------------------

#[tokio::test]
async fn failed_attempts_are_retried_on_the_custom_schedule() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[500, 500]).await;
        let (wh, secret, created) = create_webhook(
            &app,
            json!({ "url": rx.url("/retry"), "eventTypes": ["api_key.created"],
                    "retryPolicy": { "kind": "CUSTOM", "delaysSeconds": [1, 1] } }),
        )
        .await;
        assert_eq!(created["retryPolicy"]["delaysSeconds"], json!([1, 1]), "[{b}] {created}");

        app.create_key(&app.owner_key, "retried", &["READ"]).await;
        let hits = rx.wait_for(3, Duration::from_secs(15), &b).await;
        for pair in hits.windows(2) {
            let gap = pair[1].at - pair[0].at;
            // 1 s ± 20 % jitter; the default schedule would wait 5 s.
            assert!(gap >= Duration::from_millis(780), "[{b}] retried too soon: {gap:?}");
            assert!(gap < Duration::from_secs(4), "[{b}] retried too late: {gap:?}");
        }
        // Every attempt is signed afresh, with the same message id.
        for h in &hits {
            verify(&secret, h).unwrap_or_else(|e| panic!("[{b}] {e}"));
        }
        let ids: Vec<_> = hits.iter().map(|h| h.header("webhook-id").unwrap().to_string()).collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "[{b}] {ids:?}");
        assert_eq!(hits[0].body, hits[2].body, "[{b}] the body is the same on every attempt");

        let list = deliveries(&app, &wh).await;
        assert_eq!(list.len(), 1, "[{b}] {list:?}");
        let d = wait_delivery_status(&app, &ids[0], "SUCCEEDED", Duration::from_secs(5)).await;
        assert_eq!(d["attempts"], 3, "[{b}] {d}");
        let atts = attempts_of(&app, &ids[0]).await;
        let summary: Vec<(i64, bool, Option<i64>)> = atts
            .iter()
            .map(|a| (a["attempt"].as_i64().unwrap(), a["success"].as_bool().unwrap(), a["responseCode"].as_i64()))
            .collect();
        assert_eq!(summary, vec![(1, false, Some(500)), (2, false, Some(500)), (3, true, Some(200))], "[{b}]");
        assert!(atts[0]["error"].as_str().is_some_and(|e| e.contains("500")), "[{b}] {:?}", atts[0]);
        // No fourth attempt.
        rx.stays_at(3, Duration::from_millis(1500), &b).await;

        // The named policies report their schedule.
        let (_, _, collab) = create_webhook(
            &app,
            json!({ "url": rx.url("/c"), "eventTypes": ["member.added"], "retryPolicy": { "kind": "COLLABORATOR" } }),
        )
        .await;
        assert_eq!(collab["retryPolicy"]["delaysSeconds"], json!([60, 60, 60]), "[{b}] {collab}");
        // A schedule out of bounds is refused.
        let err = create_webhook_refused(
            &app,
            json!({ "url": rx.url("/c"), "eventTypes": ["member.added"], "retryPolicy": { "kind": "CUSTOM", "delaysSeconds": [86401] } }),
        )
        .await;
        assert_eq!((err.0.as_str(), err.2.as_str()), ("retryPolicy.delaysSeconds", "LIMIT_EXCEEDED"), "[{b}] {err:?}");
        // Delays belong to a CUSTOM policy only.
        let err = create_webhook_refused(
            &app,
            json!({ "url": rx.url("/c"), "eventTypes": ["member.added"], "retryPolicy": { "kind": "DEFAULT", "delaysSeconds": [1] } }),
        )
        .await;
        assert_eq!((err.0.as_str(), err.2.as_str()), ("retryPolicy.delaysSeconds", "INVALID"), "[{b}] {err:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 3. 410 Gone disables the webhook
// ---------------------------------------------------------------------------

#[tokio::test]
async fn gone_disables_the_webhook_without_retrying() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(410, &[]).await;
        let (wh, _, _) = create_webhook(
            &app,
            json!({ "url": rx.url("/gone"), "eventTypes": ["api_key.*"], "retryPolicy": { "kind": "CUSTOM", "delaysSeconds": [1, 1] } }),
        )
        .await;
        app.create_key(&app.owner_key, "gone", &["READ"]).await;
        rx.wait_for(1, Duration::from_secs(10), &b).await;

        let w = wait_disabled(&app, &wh, Duration::from_secs(5)).await;
        let reason = w["disabledReason"].as_str().unwrap_or("");
        assert!(reason.contains("410"), "[{b}] {w}");

        let disabled = events_of_type(&app, "webhook.disabled").await;
        assert_eq!(disabled.len(), 1, "[{b}] {disabled:?}");
        assert_eq!(disabled[0]["subjectId"], wh.as_str(), "[{b}] {disabled:?}");
        assert_eq!(disabled[0]["actor"], "system", "[{b}] {disabled:?}");

        let list = deliveries(&app, &wh).await;
        assert_eq!(list.len(), 1, "[{b}] {list:?}");
        let d = wait_delivery_status(&app, list[0]["id"].as_str().unwrap(), "FAILED", Duration::from_secs(5)).await;
        assert_eq!(d["attempts"], 1, "[{b}] {d}");
        assert_eq!(d["lastStatusCode"], 410, "[{b}] {d}");
        // The schedule would retry after ~1 s; 410 means never.
        rx.stays_at(1, Duration::from_secs(3), &b).await;
        let d = get_delivery(&app, d["id"].as_str().unwrap()).await;
        assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("FAILED"), Some(1)), "[{b}] {d}");

        // A disabled webhook gets no new deliveries.
        app.create_key(&app.owner_key, "after", &["READ"]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(deliveries(&app, &wh).await.len(), 1, "[{b}]");
        assert_eq!(rx.count(), 1, "[{b}]");

        // Enabling it again clears the record; deliveries resume.
        rx.set_default(200);
        let w = app
            .mutate(&app.owner_key, "updateWebhook", json!({ "id": wh, "enabled": true }), &format!("webhook {{ {WEBHOOK_FIELDS} }}"))
            .await["webhook"]
            .clone();
        assert_eq!(w["enabled"], true, "[{b}] {w}");
        assert!(w["disabledReason"].is_null() && w["failingSince"].is_null(), "[{b}] {w}");
        app.create_key(&app.owner_key, "revived", &["READ"]).await;
        let list = wait_deliveries(&app, &wh, 2, Duration::from_secs(5)).await;
        wait_delivery_status(&app, list[1]["id"].as_str().unwrap(), "SUCCEEDED", Duration::from_secs(10)).await;
        assert_eq!(rx.count(), 2, "[{b}]");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 4. The rate limit delays, never drops
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rate_limit_delays_deliveries_without_dropping_them() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[]).await;
        let (wh, _, created) = create_webhook(
            &app,
            json!({ "url": rx.url("/slow"), "eventTypes": ["api_key.created"], "rateLimitPerMinute": 2 }),
        )
        .await;
        assert_eq!(created["rateLimitPerMinute"], 2);
        for i in 0..3 {
            app.create_key(&app.owner_key, &format!("burst-{i}"), &["READ"]).await;
        }
        rx.wait_for(2, Duration::from_secs(5), &b).await;
        let list = wait_deliveries(&app, &wh, 3, Duration::from_secs(2)).await;
        assert_eq!(list.len(), 3, "[{b}] {list:?}");
        // Let the two sent ones record their outcome.
        let deadline = Instant::now() + Duration::from_secs(5);
        while deliveries(&app, &wh).await.iter().filter(|d| d["status"] == "SUCCEEDED").count() < 2 {
            assert!(Instant::now() < deadline, "[{b}] {:?}", deliveries(&app, &wh).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The third waits for the window: pending, no attempt spent, for 3 s.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            let list = deliveries(&app, &wh).await;
            assert_eq!(list.len(), 3, "[{b}] a delivery was dropped: {list:?}");
            let waiting: Vec<&Value> = list.iter().filter(|d| d["status"] != "SUCCEEDED").collect();
            assert_eq!(waiting.len(), 1, "[{b}] {list:?}");
            assert_eq!(waiting[0]["status"], "PENDING", "[{b}] {list:?}");
            assert_eq!(waiting[0]["attempts"], 0, "[{b}] {list:?}");
            assert_eq!(rx.count(), 2, "[{b}] the limit let a third through: {:?}", rx.hits());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let waiting = deliveries(&app, &wh).await.into_iter().find(|d| d["status"] == "PENDING").unwrap();
        assert!(attempts_of(&app, waiting["id"].as_str().unwrap()).await.is_empty(), "[{b}] attempt logged");
    })
    .await;
}

#[tokio::test]
async fn a_webhook_may_have_a_much_higher_limit_or_none() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[]).await;
        let input = json!({ "url": rx.url("/fast"), "eventTypes": ["user.updated"], "rateLimitPerMinute": 1_000_000 });
        let (wh, _, created) = create_webhook(&app, input).await;
        assert_eq!(created["rateLimitPerMinute"], 1_000_000, "[{b}]");
        let err = create_webhook_refused(
            &app,
            json!({ "url": rx.url("/x"), "eventTypes": ["user.updated"], "rateLimitPerMinute": 1_000_001 }),
        )
        .await;
        assert_eq!(err.0, "rateLimitPerMinute", "[{b}] {err:?}");

        // `null` clears the limit (the field may be empty).
        let none = app
            .mutate(
                &app.owner_key,
                "updateWebhook",
                json!({ "id": wh, "rateLimitPerMinute": null }),
                "webhook { rateLimitPerMinute }",
            )
            .await;
        assert!(none["webhook"]["rateLimitPerMinute"].is_null(), "[{b}] {none}");

        // 120 events at once: past the default 100 a minute, all delivered.
        let rename = "mutation($n: String!) { updateProfile(input: { name: $n }) { user { name } } }";
        for i in 0..120 {
            app.gql(&app.owner_key, rename, json!({ "n": format!("Owner {i}") })).await;
        }
        rx.wait_for(120, Duration::from_secs(30), &b).await;
    })
    .await;
}

#[tokio::test]
async fn a_receiver_that_asks_for_a_break_gets_it() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[503]).await;
        rx.set_retry_after(Some("3"));
        let (wh, _, _) = create_webhook(
            &app,
            json!({ "url": rx.url("/busy"), "eventTypes": ["api_key.created"],
                    "retryPolicy": { "kind": "CUSTOM", "delaysSeconds": [1, 10] } }),
        )
        .await;
        app.create_key(&app.owner_key, "first", &["READ"]).await;
        let hits = rx.wait_for(2, Duration::from_secs(10), &b).await;
        let gap = hits[1].at - hits[0].at;
        // The schedule says 1 s; the 503 asked for 3 s.
        assert!(gap >= Duration::from_millis(2900), "[{b}] Retry-After not honoured: {gap:?}");
        assert!(gap < Duration::from_secs(6), "[{b}] waited past what was asked: {gap:?}");

        // A 429 without Retry-After rests the receiver for at least 60 s.
        rx.set_retry_after(None);
        rx.push_replies(&[429]);
        app.create_key(&app.owner_key, "second", &["READ"]).await;
        rx.wait_for(3, Duration::from_secs(5), &b).await;
        let throttled = rx.hits()[2].header("webhook-id").unwrap().to_string();
        // The 429's attempt is recorded after the receiver answered it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut d = get_delivery(&app, &throttled).await;
        while d["attempts"] != 1 {
            assert!(Instant::now() < deadline, "[{b}] {d}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            d = get_delivery(&app, &throttled).await;
        }
        assert_eq!(d["status"], "PENDING", "[{b}] {d}");
        let mut job = job_of(&app, &throttled).await.expect("the delivery's job");
        let deadline = Instant::now() + Duration::from_secs(5);
        while job.attempts < 1 || job.state != "queued" {
            assert!(Instant::now() < deadline, "[{b}] {job:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            job = job_of(&app, &throttled).await.unwrap();
        }
        let wait = job.run_at - chrono::Utc::now();
        assert!(wait > chrono::Duration::seconds(55), "[{b}] retried after {wait} only");
        // Meanwhile the webhook's other deliveries wait, spending no attempt.
        app.create_key(&app.owner_key, "third", &["READ"]).await;
        let list = wait_deliveries(&app, &wh, 3, Duration::from_secs(3)).await;
        rx.stays_at(3, Duration::from_secs(2), &b).await;
        let newest = list.iter().find(|d| d["id"] != throttled && d["status"] == "PENDING").expect("a waiting one");
        assert_eq!(newest["attempts"], 0, "[{b}] {list:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 5. A webhook failing for too long is disabled
// ---------------------------------------------------------------------------

#[tokio::test]
async fn webhook_failing_for_the_configured_days_is_disabled() {
    // 0.00001 days ≈ 0.86 s.
    for_each_backend(&["--webhook-disable-after-days", "0.00001"], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(500, &[]).await;
        let (wh, _, _) = create_webhook(
            &app,
            json!({ "url": rx.url("/down"), "eventTypes": ["api_key.*"], "retryPolicy": { "kind": "CUSTOM", "delaysSeconds": [1, 1, 1] } }),
        )
        .await;
        app.create_key(&app.owner_key, "doomed", &["READ"]).await;
        let w = wait_disabled(&app, &wh, Duration::from_secs(10)).await;
        let reason = w["disabledReason"].as_str().unwrap_or("");
        assert!(reason.contains("days"), "[{b}] {w}");
        let disabled = events_of_type(&app, "webhook.disabled").await;
        assert_eq!(disabled.len(), 1, "[{b}] {disabled:?}");
        assert_eq!(disabled[0]["subjectId"], wh.as_str());

        // The streak had to last ~0.86 s: the first failure alone does not disable.
        let hits = rx.hits();
        assert!(hits.len() >= 2, "[{b}] disabled after the first failure already ({} requests)", hits.len());
        let streak = hits.last().unwrap().at - hits[0].at;
        assert!(streak >= Duration::from_millis(800), "[{b}] disabled after a streak of {streak:?}");
        assert!(w["failingSince"].is_string(), "[{b}] disabled for failing, without a failure streak: {w}");

        // Nothing more is sent once it is disabled; the delivery does not stay pending.
        let n = rx.count();
        let list = deliveries(&app, &wh).await;
        let id = list[0]["id"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let d = get_delivery(&app, &id).await;
            if d["status"] != "PENDING" {
                assert!(d["status"] == "CANCELLED" || d["status"] == "FAILED", "[{b}] {d}");
                break;
            }
            assert!(Instant::now() < deadline, "[{b}] delivery still pending: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rx.stays_at(n, Duration::from_millis(1500), &b).await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// 6. The SSRF guard
// ---------------------------------------------------------------------------

#[tokio::test]
async fn ssrf_guard_refuses_private_targets_at_creation_and_at_delivery() {
    for_each_backend(&["--allow-private-targets", "false"], |app: TestApp| async move {
        let b = app.backend.clone();
        for url in [
            "http://127.0.0.1:9/x",
            "http://10.0.0.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:9/x",
            "http://localhost:9/x",
        ] {
            let err = create_webhook_refused(&app, json!({ "url": url, "eventTypes": ["api_key.*"] })).await;
            let (field, msg, _) = err.clone();
            assert_eq!(field, "url", "[{b}] {url}: {err:?}");
            assert!(msg.contains("SSRF") || msg.contains("resolve"), "[{b}] {url}: {err:?}");
        }
        assert_eq!(webhook_count(&app).await, 0, "[{b}]");

        // Rows written behind the API's back (or targets whose address
        // changed) are still refused when sending: by IP literal and by name.
        let rx = Receiver::start(200, &[]).await;
        let now = Utc::now();
        let mut ids = Vec::new();
        for url in [rx.url("/ssrf"), format!("http://localhost:{}/ssrf", rx.port())] {
            let id = switchyard::ids::new_id("wh");
            entity::webhook::ActiveModel {
                id: Set(id.clone()),
                workspace_id: Set(app.workspace_id.clone()),
                url: Set(url),
                endpoint_id: Set(None),
                description: Set(String::new()),
                events: Set(json!(["api_key.*"])),
                headers: Set(json!({})),
                secret_enc: Set(app.state.secret.encrypt(&random_secret()).unwrap()),
                previous_secret_enc: Set(None),
                previous_secret_expires_at: Set(None),
                active: Set(true),
                disabled_reason: Set(None),
                rate_limit_per_minute: Set(100),
                retry_schedule: Set(json!([])),
                timeout_ms: Set(5000),
                failing_since: Set(None),
                last_success_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&app.state.writer)
            .await
            .expect("webhook row inserted");
            ids.push(id);
        }
        app.create_key(&app.owner_key, "probe", &["READ"]).await;
        for wh in &ids {
            let list = wait_deliveries(&app, wh, 1, Duration::from_secs(5)).await;
            let d =
                wait_delivery_status(&app, list[0]["id"].as_str().unwrap(), "FAILED", Duration::from_secs(10)).await;
            let atts = attempts_of(&app, d["id"].as_str().unwrap()).await;
            assert_eq!(atts.len(), 1, "[{b}] {atts:?}");
            assert_eq!(atts[0]["success"], false, "[{b}] {:?}", atts[0]);
            assert!(atts[0]["responseCode"].is_null(), "[{b}] {:?}", atts[0]);
            let error = atts[0]["error"].as_str().unwrap_or("");
            assert!(error.contains("SSRF"), "[{b}] {wh}: {:?}", atts[0]);
        }
        // testWebhook goes through the same guard.
        let data =
            app.mutate(&app.owner_key, "testWebhook", json!({ "id": ids[0] }), "attempt { success error }").await;
        assert_eq!(data["attempt"]["success"], false, "[{b}] {data}");
        assert!(data["attempt"]["error"].as_str().unwrap_or("").contains("SSRF"), "[{b}] {data}");
        assert_eq!(rx.count(), 0, "[{b}] the guard let a request through: {:?}", rx.hits());
    })
    .await;
}

// ---------------------------------------------------------------------------
// 7. Reserved headers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn custom_headers_cannot_override_signing_headers() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[]).await;
        for (name, value) in [
            ("webhook-signature", "x"),
            ("Webhook-Id", "dlv_fake"),
            ("webhook-timestamp", "0"),
            ("Content-Type", "text/plain"),
        ] {
            let err = create_webhook_refused(
                &app,
                json!({ "url": rx.url("/h"), "eventTypes": ["api_key.*"], "headers": { name: value } }),
            )
            .await;
            let (field, msg, _) = err.clone();
            assert_eq!(field, "headers", "[{b}] {name}: {err:?}");
            assert!(msg.contains(name), "[{b}] {name}: {err:?}");
        }
        assert_eq!(webhook_count(&app).await, 0, "[{b}] something was created");

        // Nor through an update.
        let (wh, _, _) = create_webhook(&app, json!({ "url": rx.url("/h"), "eventTypes": ["api_key.*"] })).await;
        let refused = app
            .mutate_refused(
                &app.owner_key,
                "updateWebhook",
                json!({ "id": wh, "headers": { "webhook-signature": "x" } }),
                "webhook { id }",
            )
            .await;
        assert_eq!(user_error_of(&refused).0, "headers", "[{b}] {refused}");
        // More than 20 headers is a limit, not a typo.
        let many: serde_json::Map<String, Value> = (0..21).map(|i| (format!("X-H{i}"), json!("v"))).collect();
        let refused = app
            .mutate_refused(&app.owner_key, "updateWebhook", json!({ "id": wh, "headers": many }), "webhook { id }")
            .await;
        assert_eq!(user_error_of(&refused).2, "LIMIT_EXCEEDED", "[{b}] {refused}");
        assert_eq!(get_webhook(&app, &wh).await["headers"], json!({}), "[{b}]");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 8. testWebhook
// ---------------------------------------------------------------------------

#[tokio::test]
async fn test_webhook_sends_a_signed_test_message_now() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[]).await;
        let (wh, secret, _) = create_webhook(&app, json!({ "url": rx.url("/t"), "eventTypes": ["member.*"] })).await;
        let q =
            format!("mutation($id: ID!) {{ testWebhook(input: {{ id: $id }}) {{ attempt {{ {ATTEMPT_FIELDS} }} }} }}");
        let data = app.gql(&app.owner_key, &q, json!({ "id": wh })).await;
        let a = &data["testWebhook"]["attempt"];
        assert_eq!(a["success"], true, "[{b}] {a}");
        assert_eq!(a["responseCode"], 200, "[{b}] {a}");
        assert_eq!(a["webhookId"], wh.as_str(), "[{b}] {a}");
        assert_eq!(a["attempt"], 1, "[{b}] {a}");
        assert_eq!(a["requestHeaders"]["webhook-signature"], "<redacted>", "[{b}] {a}");

        // Sent synchronously: already there.
        let hits = rx.hits();
        assert_eq!(hits.len(), 1, "[{b}] {hits:?}");
        let body = hits[0].json();
        assert_eq!(body["event"], "webhook.test", "[{b}] {body}");
        assert_eq!(body["data"]["webhook_id"], wh.as_str(), "[{b}] {body}");
        verify(&secret, &hits[0]).unwrap_or_else(|e| panic!("[{b}] {e}"));
        assert_eq!(hits[0].header("webhook-id"), a["deliveryId"].as_str(), "[{b}]");

        // It is logged as a delivery.
        let d = get_delivery(&app, a["deliveryId"].as_str().unwrap()).await;
        assert_eq!(d["eventType"], "webhook.test", "[{b}] {d}");
        assert_eq!(d["status"], "SUCCEEDED", "[{b}] {d}");

        // After a rotation both secrets sign for the grace period (24 h by
        // default), so receivers can switch without rejecting anything.
        let rotate = "mutation($id: ID!, $g: Int) { rotateWebhookSecret(input: { id: $id, graceSeconds: $g }) {
            secret webhook { previousSecretExpiresAt } } }";
        let rotated = app.gql(&app.owner_key, rotate, json!({ "id": wh })).await;
        let second = rotated["rotateWebhookSecret"]["secret"].as_str().unwrap().to_string();
        assert!(second.starts_with("whsec_") && second != secret, "[{b}] {rotated}");
        let until = rotated["rotateWebhookSecret"]["webhook"]["previousSecretExpiresAt"].as_str().unwrap_or("");
        let until = chrono::DateTime::parse_from_rfc3339(until).unwrap_or_else(|e| panic!("[{b}] {rotated}: {e}"));
        let grace = until.to_utc() - Utc::now();
        assert!(grace > chrono::Duration::hours(23) && grace <= chrono::Duration::hours(24), "[{b}] {rotated}");
        let data = app.gql(&app.owner_key, &q, json!({ "id": wh })).await;
        assert_eq!(data["testWebhook"]["attempt"]["success"], true, "[{b}] {data}");
        let hits = rx.hits();
        assert_eq!(hits.len(), 2, "[{b}]");
        verify(&second, &hits[1]).unwrap_or_else(|e| panic!("[{b}] new secret: {e}"));
        verify(&secret, &hits[1]).unwrap_or_else(|e| panic!("[{b}] old secret during the grace period: {e}"));
        assert!(verify(&random_secret(), &hits[1]).is_err(), "[{b}]");

        // Without a grace period the replaced secret stops signing at once.
        let rotated = app.gql(&app.owner_key, rotate, json!({ "id": wh, "g": 0 })).await;
        let third = rotated["rotateWebhookSecret"]["secret"].as_str().unwrap().to_string();
        assert!(rotated["rotateWebhookSecret"]["webhook"]["previousSecretExpiresAt"].is_null(), "[{b}] {rotated}");
        let data = app.gql(&app.owner_key, &q, json!({ "id": wh })).await;
        assert_eq!(data["testWebhook"]["attempt"]["success"], true, "[{b}] {data}");
        let hits = rx.hits();
        assert_eq!(hits.len(), 3, "[{b}]");
        verify(&third, &hits[2]).unwrap_or_else(|e| panic!("[{b}] newest secret: {e}"));
        assert!(verify(&second, &hits[2]).is_err(), "[{b}] the replaced secret still signs");
        assert!(verify(&secret, &hits[2]).is_err(), "[{b}] the first secret still signs");

        // A failing endpoint gives a failed attempt, not an error.
        rx.push_replies(&[503]);
        let data = app.gql(&app.owner_key, &q, json!({ "id": wh })).await;
        assert_eq!(data["testWebhook"]["attempt"]["success"], false, "[{b}] {data}");
        assert_eq!(data["testWebhook"]["attempt"]["responseCode"], 503, "[{b}] {data}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 9. The deliveryLogs subscription
// ---------------------------------------------------------------------------

#[tokio::test]
async fn delivery_logs_stream_attempts_live() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[]).await;
        let (wh, _, _) = create_webhook(&app, json!({ "url": rx.url("/live"), "eventTypes": ["api_key.created"] })).await;
        // A second webhook whose attempts the filter must keep out.
        let (other, _, _) =
            create_webhook(&app, json!({ "url": rx.url("/other"), "eventTypes": ["api_key.created"] })).await;
        let auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        ws.subscribe(
            "1",
            "subscription($w: ID) { deliveryLogs(webhookId: $w) { deliveryId webhookId success responseCode attempt } }",
            json!({ "w": wh }),
        )
        .await;
        // The subscription goes live asynchronously: cause events until one arrives.
        let mut msg = None;
        for i in 0..10 {
            app.create_key(&app.owner_key, &format!("live-{i}"), &["READ"]).await;
            if let Some(m) = ws.next_json_within(Duration::from_secs(2)).await {
                msg = Some(m);
                break;
            }
        }
        let msg = msg.unwrap_or_else(|| panic!("[{b}] deliveryLogs never delivered"));
        assert_eq!(msg["type"], "next", "[{b}] {msg}");
        assert_eq!(msg["id"], "1", "[{b}] {msg}");
        let a = &msg["payload"]["data"]["deliveryLogs"];
        assert_eq!(a["success"], true, "[{b}] {msg}");
        assert_eq!(a["responseCode"], 200, "[{b}] {msg}");
        assert_eq!(a["attempt"], 1, "[{b}] {msg}");
        assert_eq!(a["webhookId"], wh.as_str(), "[{b}] {msg}");
        let d = get_delivery(&app, a["deliveryId"].as_str().unwrap()).await;
        assert_eq!(d["webhookId"], wh.as_str(), "[{b}] {d}");

        // Failures stream too; the other webhook's attempts never do.
        rx.set_default(500);
        app.create_key(&app.owner_key, "failing", &["READ"]).await;
        let mut seen_failure = false;
        while let Some(m) = ws.next_json_within(Duration::from_secs(3)).await {
            let a = &m["payload"]["data"]["deliveryLogs"];
            assert_eq!(a["webhookId"], wh.as_str(), "[{b}] filter leaked {other}: {m}");
            if a["success"] == false {
                assert_eq!(a["responseCode"], 500, "[{b}] {m}");
                seen_failure = true;
                break;
            }
        }
        assert!(seen_failure, "[{b}] the failed attempt was not streamed");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 10. Manual retries
// ---------------------------------------------------------------------------

const RETRY: &str =
    "mutation($id: ID!) { retryDelivery(input: { id: $id }) { delivery { id status } userErrors { field code } } }";

#[tokio::test]
async fn failed_deliveries_can_be_retried_by_hand() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[500]).await;
        let (wh, _, created) = create_webhook(
            &app,
            json!({ "url": rx.url("/again"), "eventTypes": ["api_key.created"], "retryPolicy": { "kind": "CUSTOM", "delaysSeconds": [] } }),
        )
        .await;
        assert_eq!(created["retryPolicy"]["delaysSeconds"], json!([]), "[{b}] {created}");

        app.create_key(&app.owner_key, "first", &["READ"]).await;
        let first = wait_deliveries(&app, &wh, 1, Duration::from_secs(5)).await[0]["id"].as_str().unwrap().to_string();
        let d = wait_delivery_status(&app, &first, "FAILED", Duration::from_secs(10)).await;
        assert_eq!(d["attempts"], 1, "[{b}] {d}");
        assert_eq!(d["lastStatusCode"], 500, "[{b}] {d}");
        rx.stays_at(1, Duration::from_millis(1500), &b).await; // no retries

        // Retry it by hand; the receiver now answers 200.
        let data = app.gql(&app.owner_key, RETRY, json!({ "id": first })).await;
        assert_eq!(data["retryDelivery"]["delivery"]["status"], "PENDING", "[{b}] {data}");
        wait_delivery_status(&app, &first, "SUCCEEDED", Duration::from_secs(10)).await;
        assert_eq!(rx.count(), 2, "[{b}]");
        let atts = attempts_of(&app, &first).await;
        let results: Vec<bool> = atts.iter().map(|a| a["success"].as_bool().unwrap()).collect();
        assert_eq!(results, vec![false, true], "[{b}] {atts:?}");
        // The same message id, so receivers can deduplicate.
        let hits = rx.hits();
        assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"), "[{b}]");

        // A succeeded delivery cannot be retried.
        let refused = app.gql(&app.owner_key, RETRY, json!({ "id": first })).await;
        assert_eq!(
            refused["retryDelivery"],
            json!({ "delivery": null, "userErrors": [{ "field": ["input", "id"], "code": "INVALID" }] }),
            "[{b}]"
        );

        // Another failure, retried in bulk.
        rx.push_replies(&[500]);
        app.create_key(&app.owner_key, "second", &["READ"]).await;
        let list = wait_deliveries(&app, &wh, 2, Duration::from_secs(5)).await;
        let second = list[1]["id"].as_str().unwrap().to_string();
        assert_ne!(second, first);
        wait_delivery_status(&app, &second, "FAILED", Duration::from_secs(10)).await;
        let data = app
            .gql(
                &app.owner_key,
                "mutation($w: ID!) { retryFailedDeliveries(input: { webhookId: $w }) { retried } }",
                json!({ "w": wh }),
            )
            .await;
        assert_eq!(data["retryFailedDeliveries"]["retried"], 1, "[{b}] {data}");
        wait_delivery_status(&app, &second, "SUCCEEDED", Duration::from_secs(10)).await;
        assert_eq!(rx.count(), 4, "[{b}] {:?}", rx.hits());
        // Nothing left to retry.
        let data = app
            .gql(
                &app.owner_key,
                "mutation($w: ID!) { retryFailedDeliveries(input: { webhookId: $w }) { retried } }",
                json!({ "w": wh }),
            )
            .await;
        assert_eq!(data["retryFailedDeliveries"]["retried"], 0, "[{b}] {data}");
        let first_again = get_delivery(&app, &first).await;
        assert_eq!(first_again["status"], "SUCCEEDED", "[{b}] {first_again}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 11. The outbox survives a stopped process
// ---------------------------------------------------------------------------

#[tokio::test]
async fn deliveries_written_before_a_stop_are_sent_after_a_restart() {
    for backend in backends() {
        // An api-role process runs no jobs: the delivery is written, not sent.
        let (app, server, guard) = TestApp::spawn(&backend, &["--role", "api"]).await;
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[]).await;
        let (wh, secret, _) =
            create_webhook(&app, json!({ "url": rx.url("/later"), "eventTypes": ["api_key.*"] })).await;
        let (key_id, _) = app.create_key(&app.owner_key, "before-stop", &["READ"]).await;
        let list = deliveries(&app, &wh).await;
        assert_eq!(list.len(), 1, "[{b}] {list:?}");
        assert_eq!(list[0]["status"], "PENDING", "[{b}] {list:?}");
        assert_eq!(list[0]["attempts"], 0, "[{b}] {list:?}");
        let dlv = list[0]["id"].as_str().unwrap().to_string();
        rx.stays_at(0, Duration::from_millis(1500), &b).await;

        let cfg = app.state.config.clone();
        server.stop().await;

        // A second process on the same database, key and Redis prefix.
        let args = crate::helpers::server_args(&cfg, "all", "127.0.0.1:0");
        let server2 = switchyard::start(Config::from_args(args).expect("valid config")).await.expect("restart");
        let app2 = TestApp { url: format!("http://{}", server2.addr), state: server2.state.clone(), ..app.clone() };

        let hits = rx.wait_for(1, Duration::from_secs(10), &b).await;
        assert_eq!(hits[0].header("webhook-id"), Some(dlv.as_str()), "[{b}]");
        assert_eq!(hits[0].json()["data"]["id"], key_id.as_str(), "[{b}]");
        verify(&secret, &hits[0]).unwrap_or_else(|e| panic!("[{b}] {e}"));
        let d = wait_delivery_status(&app2, &dlv, "SUCCEEDED", Duration::from_secs(5)).await;
        assert_eq!(d["attempts"], 1, "[{b}] {d}");
        rx.stays_at(1, Duration::from_secs(1), &b).await;

        server2.stop().await;
        guard.cleanup().await;
    }
}

// ---------------------------------------------------------------------------
// 12. Tenancy and roles
// ---------------------------------------------------------------------------

#[tokio::test]
async fn webhooks_are_invisible_to_other_workspaces_and_owner_only() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let rx = Receiver::start(200, &[]).await;
        let (wh, _, _) = create_webhook(&app, json!({ "url": rx.url("/mine"), "eventTypes": ["api_key.*"] })).await;
        app.create_key(&app.owner_key, "mine", &["READ"]).await;
        let dlv = wait_deliveries(&app, &wh, 1, Duration::from_secs(5)).await[0]["id"].as_str().unwrap().to_string();
        wait_delivery_status(&app, &dlv, "SUCCEEDED", Duration::from_secs(10)).await;
        let sent = rx.count();

        let (_, other) = app.other_workspace("other@example.com").await;
        app.gql_null(&other, "query($id: ID!) { webhook(id: $id) { id } }", json!({ "id": wh }), "webhook").await;
        app.gql_null(&other, "query($id: ID!) { delivery(id: $id) { id } }", json!({ "id": dlv }), "delivery").await;
        let cases: [(&str, Value); 5] = [
            ("updateWebhook", json!({ "id": wh, "description": "pwned", "enabled": false })),
            ("deleteWebhook", json!({ "id": wh })),
            ("testWebhook", json!({ "id": wh })),
            ("rotateWebhookSecret", json!({ "id": wh })),
            ("retryDelivery", json!({ "id": dlv })),
        ];
        for (name, input) in cases.iter() {
            let got = app.user_error(&other, name, input.clone()).await;
            assert_eq!(got, ("input.id".into(), "NOT_FOUND".into()), "[{b}] {name}");
        }
        // Their lists are empty, and ours are untouched.
        let theirs = app
            .gql(
                &other,
                "query($w: ID) { webhooks { totalCount } deliveries(filter: { webhookId: $w }) { totalCount }
                   deliveryAttempts(filter: { webhookId: $w }) { totalCount } }",
                json!({ "w": wh }),
            )
            .await;
        assert_eq!(theirs["webhooks"]["totalCount"], 0, "[{b}] {theirs}");
        assert_eq!(theirs["deliveries"]["totalCount"], 0, "[{b}] {theirs}");
        assert_eq!(theirs["deliveryAttempts"]["totalCount"], 0, "[{b}] {theirs}");
        let got = app.user_error(&other, "retryFailedDeliveries", json!({ "webhookId": wh })).await;
        assert_eq!(got, ("input.webhookId".into(), "NOT_FOUND".into()), "[{b}]");
        let w = get_webhook(&app, &wh).await;
        assert_eq!((w["enabled"].as_bool(), w["description"].as_str()), (Some(true), Some("")), "[{b}] {w}");
        assert_eq!(rx.count(), sent, "[{b}] another workspace's testWebhook sent something");

        // Their events do not reach our webhook.
        app.create_key(&other, "theirs", &["READ"]).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(deliveries(&app, &wh).await.len(), 1, "[{b}]");
        assert_eq!(rx.count(), sent, "[{b}]");

        // Webhooks are for owners.
        let (_, collab) = app.collaborator_key("collab@example.com").await;
        create_webhook_err(&app, &collab, json!({ "url": rx.url("/c"), "eventTypes": ["api_key.*"] }), "FORBIDDEN")
            .await;
        app.gql_err(Some(&collab), "{ webhooks { totalCount } }", json!({}), "FORBIDDEN").await;
        app.gql_err(Some(&collab), "query($id: ID!) { webhook(id: $id) { id } }", json!({ "id": wh }), "FORBIDDEN")
            .await;
        assert_eq!(webhook_count(&app).await, 1, "[{b}]");
    })
    .await;
}
