//! Secrets never reach the logs. The whole server of a test runs on the
//! test's own thread (a current-thread runtime), so a subscriber set as
//! that thread's default sees every log line and span the server makes,
//! at TRACE, with each span's fields printed as it closes. Then an owner
//! signs in, sets a provider's client secret, connects over OAuth, calls
//! through the connection until a 401 makes it refresh the rotating
//! token, connects a key-based service, runs the weather plugin's action
//! (its key in the URL's query) and tests and syncs a Slack integration
//! (its secret webhook URL), each against a local stand-in that fails
//! too (an HTTP 500, a port that takes no connection): none of the
//! secrets involved may appear in what was logged.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::extract::Form;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::connections::{come_back, param, start};
use crate::helpers::{for_each_backend, PASSWORD};
use crate::plugins::Receiver;

/// A port nothing listens on: a request to it fails to connect.
const CLOSED: &str = "http://127.0.0.1:1";

const CLIENT_SECRET: &str = "cs-7Qm2ZrW9xKpL4vTn";
const ACCESS_1: &str = "at-9fK3mQ7wZx2LpR8v";
const REFRESH_1: &str = "rt-4HcV8nB1tY6uJ0sD";
const ACCESS_2: &str = "at-Wq5Ez1Rt7Yu3Io9P";
const REFRESH_2: &str = "rt-Lk8Jh2Gf6Ds4Aa0M";
const API_KEY: &str = "key-Zx3Cv7Bn1Mq5Wn9E";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WEBHOOK_HEADER: &str = "hdr-Pq4Rs8Tu2Vw6Xy0Z";
const PLUGIN_KEY: &str = "wk-Ab1Cd5Ef9Gh3Ij7K";
const SLACK_PART: &str = "sl-Rt6Yu0Io4Pa8Sd2F";
const HOOK_SECRET: &str = "hk-Gt5Hy9Ju3Ki7Lo1P";

/// Everything written to it, shared with the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The provider: `/token` trades `good-code` for the first token pair and
/// the first refresh token (once) for the second; `/me` names the account;
/// `/api/*` wants the second access token or the API key, and answers 401
/// to anything else (so the first call refreshes).
async fn provider() -> String {
    let token = |Form(form): Form<Vec<(String, String)>>| async move {
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        match (field("grant_type").as_str(), field("code").as_str(), field("refresh_token").as_str()) {
            ("authorization_code", "good-code", _) => (
                StatusCode::OK,
                Json(json!({ "access_token": ACCESS_1, "refresh_token": REFRESH_1, "token_type": "bearer",
                             "expires_in": 5_184_000 })),
            ),
            ("refresh_token", _, REFRESH_1) => (
                StatusCode::OK,
                Json(json!({ "access_token": ACCESS_2, "refresh_token": REFRESH_2, "token_type": "bearer",
                             "expires_in": 5_184_000 })),
            ),
            _ => (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant" }))),
        }
    };
    let bearer = |h: &HeaderMap| h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let me = move |h: HeaderMap| async move {
        match bearer(&h) {
            b if b == format!("Bearer {ACCESS_1}") || b == format!("Bearer {ACCESS_2}") => {
                (StatusCode::OK, Json(json!({ "username": "mybusiness" })))
            }
            _ => (StatusCode::UNAUTHORIZED, Json(json!({ "error": "bad token" }))),
        }
    };
    let api = move |h: HeaderMap| async move {
        match bearer(&h) {
            b if b == format!("Bearer {ACCESS_2}") || b == format!("Bearer {API_KEY}") => {
                (StatusCode::OK, Json(json!({ "items": [1, 2] })))
            }
            _ => (StatusCode::UNAUTHORIZED, Json(json!({ "error": "expired token" }))),
        }
    };
    let router = Router::new()
        .route("/token", post(token))
        .route("/me", get(me))
        .route("/api", any(api))
        .route("/api/{*rest}", any(api));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn tokens_and_secrets_never_reach_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    // Other tests run beside this one and hit the same call sites: one
    // first hit racing the line above can keep a cached "nobody listens".
    // Asking every call site again (here and once the server is up) closes
    // that window.
    tracing::callsite::rebuild_interest_cache();

    let seen_keys = Arc::new(Mutex::new(Vec::new()));
    let keys = seen_keys.clone();
    for_each_backend(&[], move |app| {
        let keys = keys.clone();
        async move {
            tracing::callsite::rebuild_interest_cache();
            let base = provider().await;
            let (_, cookie) = app.invite_and_accept(&app.owner_key, "logs@example.com", "OWNER").await;
            keys.lock().unwrap().extend([app.owner_key.clone(), cookie_value(&cookie)]);
            let set = app
                .gql_session(
                    &cookie,
                    crate::connections::SET,
                    json!({ "i": { "provider": "instagram", "clientId": "client-1", "clientSecret": CLIENT_SECRET,
                                   "authorizeUrl": format!("{base}/authorize"), "tokenUrl": format!("{base}/token"),
                                   "apiBaseUrl": base } }),
                )
                .await;
            assert_eq!(set["data"]["setProviderSettings"]["userErrors"], json!([]), "{set}");
            let asked = start(&app, &cookie, "instagram").await;
            let (status, body) =
                come_back(&app, &cookie, "instagram", json!({ "code": "good-code", "state": param(&asked, "state") }))
                    .await;
            assert_eq!(status, 200, "{body}");
            let id = body["connection"]["id"].as_str().unwrap().to_string();

            // The first call meets a 401, refreshes, and goes through with the new token.
            let call = "mutation($i: CallConnectionInput!) { callConnection(input: $i) {
                call { status httpStatus attempts } response { status body } userErrors { message } } }";
            let out = app
                .gql(&app.owner_key, call, json!({ "i": { "connectionId": id, "method": "GET", "path": "/api/items" } }))
                .await;
            assert_eq!(out["callConnection"]["call"]["status"], "SUCCEEDED", "{out}");
            assert_eq!(out["callConnection"]["call"]["attempts"], 2, "a 401, a refresh, a retry: {out}");

            // A key-based service, checked by one real call before it is stored.
            let create = "mutation($i: CreateConnectionInput!) { createConnection(input: $i) {
                connection { id } userErrors { message } } }";
            let made = app
                .gql(
                    &app.owner_key,
                    create,
                    json!({ "i": { "provider": "custom_rest", "apiKey": API_KEY, "baseUrl": format!("{base}/api") } }),
                )
                .await;
            let keyed = made["createConnection"]["connection"]["id"].as_str().unwrap_or_else(|| panic!("{made}"));
            let out = app
                .gql(&app.owner_key, call, json!({ "i": { "connectionId": keyed, "method": "GET", "path": "/items" } }))
                .await;
            assert_eq!(out["callConnection"]["call"]["status"], "SUCCEEDED", "{out}");

            // A webhook with its own secret and an authorization header for its receiver.
            let hook = app
                .gql(
                    &app.owner_key,
                    "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } userErrors { message } } }",
                    json!({ "i": { "url": format!("{base}/api/hook"), "eventTypes": ["api_key.created"],
                                   "secret": WEBHOOK_SECRET, "headers": { "Authorization": WEBHOOK_HEADER } } }),
                )
                .await;
            assert!(hook["createWebhook"]["webhook"]["id"].is_string(), "{hook}");
            // A plugin with a secret config field, sent in the URL's query of its action.
            let weather = Receiver::start(json!({ "location": { "name": "Oslo" }, "current": { "temp_c": 1.0 } })).await;
            let plugin = app
                .gql(
                    &app.owner_key,
                    "mutation($i: InstallPluginInput!) { installPlugin(input: $i) { plugin { id } userErrors { message } } }",
                    json!({ "i": { "pluginId": "plugin_weather_v1.0.0",
                                   "config": { "api_key": PLUGIN_KEY, "default_city": "Oslo", "base_url": format!("{}/v1", weather.url) } } }),
                )
                .await;
            assert!(plugin["installPlugin"]["plugin"]["id"].is_string(), "{plugin}");
            // The stand-in answers 500 once: the call is retried and goes through.
            weather.fail_next.store(1, Ordering::SeqCst);
            let run = "mutation($i: RunPluginActionInput!) { runPluginAction(input: $i) {
                result call { status attempts error } userErrors { message } } }";
            let input = json!({ "i": { "pluginId": "weather", "action": "current", "input": { "city": "Bergen" } } });
            let out = app.gql(&app.owner_key, run, input.clone()).await;
            assert_eq!(out["runPluginAction"]["call"]["status"], "SUCCEEDED", "{out}");
            assert_eq!(out["runPluginAction"]["call"]["attempts"], 2, "a 500, then the retry: {out}");
            let hits = weather.hits();
            assert_eq!(hits.len(), 2);
            assert!(hits.iter().all(|h| h.uri == format!("/v1/current.json?key={PLUGIN_KEY}&q=Bergen")), "{hits:?}");
            // Then a target that takes no connection: every attempt fails in the transport.
            let update = "mutation($i: UpdatePluginConfigInput!) { updatePluginConfig(input: $i) { plugin { id } userErrors { message } } }";
            let moved = app
                .gql(&app.owner_key, update, json!({ "i": { "id": "weather",
                     "config": { "api_key": "***", "default_city": "Oslo", "base_url": format!("{CLOSED}/v1") } } }))
                .await;
            assert_eq!(moved["updatePluginConfig"]["userErrors"], json!([]), "{moved}");
            let out = app.gql(&app.owner_key, run, input).await;
            assert_eq!(out["runPluginAction"]["call"]["status"], "FAILED", "{out}");
            assert!(out["runPluginAction"]["call"]["error"].as_str().unwrap().contains("could not be reached"), "{out}");

            // A Slack integration: its webhook URL is the credential.
            let slack = Receiver::start(json!("ok")).await;
            let hook_url = |origin: &str| format!("{origin}/services/T1/B1/{SLACK_PART}");
            let integration = "integration { id lastTestStatusCode lastTestError }";
            let made = app
                .mutate(&app.owner_key, "createIntegration", json!({ "name": "Slack", "serviceType": "slack",
                        "config": { "webhook_url": hook_url(&slack.url), "events": ["api_key.created"] } }), integration)
                .await;
            let slack_id = made["integration"]["id"].as_str().unwrap().to_string();
            let tested = app.mutate(&app.owner_key, "testIntegration", json!({ "id": slack_id }), &format!("ok {integration}")).await;
            assert_eq!(tested["ok"], true, "{tested}");
            slack.fail_next.store(1, Ordering::SeqCst);
            let tested = app.mutate(&app.owner_key, "testIntegration", json!({ "id": slack_id }), &format!("ok {integration}")).await;
            assert_eq!((tested["ok"].as_bool(), tested["integration"]["lastTestStatusCode"].as_i64()), (Some(false), Some(500)), "{tested}");
            // A sync whose sends all fail (500 three times), then one that goes through.
            let key_ids = crate::integrations::key_events(&app, 1).await;
            slack.fail_next.store(3, Ordering::SeqCst);
            let failed = crate::integrations::sync_now(&app, &slack_id).await;
            assert_eq!(failed["status"], "FAILED", "{failed}");
            let synced = crate::integrations::sync_now(&app, &slack_id).await;
            assert_eq!((synced["status"].as_str(), synced["items"].as_i64()), (Some("SUCCEEDED"), Some(1)), "{synced}");
            let hits = slack.hits();
            assert_eq!(hits.len(), 6, "two tests, three failed sends, one sent: {hits:?}");
            assert!(hits.iter().all(|h| h.uri == format!("/services/T1/B1/{SLACK_PART}")), "{hits:?}");
            assert!(hits[5].json()["text"].as_str().unwrap().contains(&key_ids[0]));
            // Its webhook URL at a port that takes no connection: the test fails in the transport.
            app.mutate(&app.owner_key, "updateIntegration",
                json!({ "id": slack_id, "config": { "webhook_url": hook_url(CLOSED), "events": ["api_key.created"] } }), integration).await;
            let tested = app.mutate(&app.owner_key, "testIntegration", json!({ "id": slack_id }), &format!("ok {integration}")).await;
            assert_eq!(tested["ok"], false, "{tested}");
            assert!(tested["integration"]["lastTestError"].as_str().unwrap().contains("could not be reached"), "{tested}");

            // An incoming-webhooks connection: its URL's token is a credential.
            let create_hook = "mutation($i: CreateConnectionInput!) { createConnection(input: $i) { incomingUrl userErrors { message } } }";
            let made = app
                .gql(&app.owner_key, create_hook, json!({ "i": { "provider": "incoming_webhooks", "webhookSecret": HOOK_SECRET } }))
                .await;
            let url = made["createConnection"]["incomingUrl"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
            let token = url.rsplit('/').next().unwrap().to_string();
            assert!(token.len() >= 20, "{url}");
            keys.lock().unwrap().push(token);
            let body = br#"{"order":42}"#.to_vec();
            let sign = |secret: &[u8]| {
                use hmac::Mac;
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
                mac.update(&body);
                format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
            };
            for (secret, status) in [(HOOK_SECRET.as_bytes(), 202), (b"not the secret".as_slice(), 401)] {
                let resp = app
                    .client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", sign(secret))
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), status);
            }
        }
    })
    .await;

    let logged = captured.text();
    // The capture saw the server at work, so finding nothing means something.
    for sign in [
        "callConnection",
        "connection_call",
        "setProviderSettings",
        "installPlugin",
        "createWebhook",
        "runPluginAction",
        "plugin.action",
        "testIntegration",
        "integration.sync",
    ] {
        assert!(logged.contains(sign), "the server's log lines were not captured (no {sign:?})");
    }
    // And so were the failures: the plugin's 500 and unreachable target, the Slack sync's 500.
    for sign in [
        "The target answered HTTP 500",
        "could not be reached",
        "failed: The service answered HTTP 500",
        "path=/hooks/{id}/{token}",
        "status=401",
    ] {
        assert!(logged.contains(sign), "the error paths were not logged (no {sign:?})");
    }
    let mut secrets: Vec<String> = [
        CLIENT_SECRET,
        ACCESS_1,
        REFRESH_1,
        ACCESS_2,
        REFRESH_2,
        API_KEY,
        WEBHOOK_SECRET,
        WEBHOOK_HEADER,
        PLUGIN_KEY,
        SLACK_PART,
        HOOK_SECRET,
        PASSWORD,
    ]
    .map(String::from)
    .to_vec();
    secrets.extend(seen_keys.lock().unwrap().iter().cloned());
    for secret in &secrets {
        if let Some(at) = logged.find(secret.as_str()) {
            let line_start = logged[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = logged[at..].find('\n').map_or(logged.len(), |i| at + i);
            panic!("a secret reached the logs ({} bytes logged):\n{}", logged.len(), &logged[line_start..line_end]);
        }
    }
}

/// The value of a `name=value` cookie header.
fn cookie_value(cookie: &str) -> String {
    let value = cookie.split(';').next().unwrap_or_default();
    value.split_once('=').map_or(value, |(_, v)| v).to_string()
}
