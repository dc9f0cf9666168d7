//! Connections (seed 000) against a small OAuth 2.0 provider written here
//! (axum on 127.0.0.1): the catalog, provider settings, the connect flow
//! through the HTTP routes with `state` bound to the session and PKCE, one
//! connection per service, and credentials that never leave the server.

use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use sha2::Digest;

use crate::helpers::{for_each_backend, TestApp};

/// The fields of a form body.
type Fields = Vec<(String, String)>;

/// What the provider saw of token requests.
#[derive(Clone, Default)]
pub(crate) struct ProviderLog {
    /// (client id and secret from Basic auth, the form fields).
    token_requests: Arc<Mutex<Vec<(String, Fields)>>>,
    /// The PKCE challenge the test's "browser" passed on, by code.
    challenges: Arc<Mutex<Vec<(String, String)>>>,
    /// The one refresh token the provider accepts now (it rotates on use).
    pub(crate) valid_refresh: Arc<Mutex<String>>,
    /// Refresh requests that reached the provider.
    pub(crate) refreshes: Arc<Mutex<usize>>,
    /// How long the token endpoint takes to answer a refresh, after it has
    /// already rotated the refresh token (200 ms unless a test says).
    pub(crate) refresh_delay_ms: Arc<Mutex<u64>>,
    /// The access token the API accepts now (a refresh replaces it).
    pub(crate) current_access: Arc<Mutex<String>>,
    /// API requests: (path and query, the authorization header).
    pub(crate) api_hits: Arc<Mutex<Vec<(String, String)>>>,
    /// Who-am-I requests to `/me`: (path and query, the authorization header).
    pub(crate) me_hits: Arc<Mutex<Vec<(String, String)>>>,
    /// Who `/me` says `at-1` is (`mybusiness` unless a test says).
    pub(crate) me_username: Arc<Mutex<String>>,
}

/// A provider: `/token` issues `at-1`/`rt-1` for code `good-code` to
/// `client-1:shh` (checking a PKCE verifier when one was challenged), and
/// `/me` answers who `at-1` is (and records who asked).
pub(crate) async fn provider() -> (String, ProviderLog) {
    let log = ProviderLog::default();
    *log.valid_refresh.lock().unwrap() = "rt-1".into();
    *log.current_access.lock().unwrap() = "at-1".into();
    *log.refresh_delay_ms.lock().unwrap() = 200;
    *log.me_username.lock().unwrap() = "mybusiness".into();
    let router = Router::new()
        .route(
            "/token",
            post(|State(log): State<ProviderLog>, headers: HeaderMap, Form(form): Form<Vec<(String, String)>>| async move {
                let basic = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Basic "))
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                log.token_requests.lock().unwrap().push((basic.clone(), form.clone()));
                let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                if field("grant_type").as_deref() == Some("refresh_token") {
                    let n = {
                        let mut count = log.refreshes.lock().unwrap();
                        *count += 1;
                        *count + 1
                    };
                    // Slow enough that a second refresher would overlap.
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    {
                        let mut valid = log.valid_refresh.lock().unwrap();
                        if basic != "client-1:shh" || field("refresh_token").as_deref() != Some(valid.as_str()) {
                            return (axum::http::StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant" })));
                        }
                        *valid = format!("rt-{n}");
                        *log.current_access.lock().unwrap() = format!("at-{n}");
                    }
                    // The old refresh token is spent; the answer takes its time.
                    let delay = (*log.refresh_delay_ms.lock().unwrap()).saturating_sub(200);
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    return (
                        axum::http::StatusCode::OK,
                        Json(json!({ "access_token": format!("at-{n}"), "refresh_token": format!("rt-{n}"),
                                     "token_type": "bearer", "expires_in": 5_184_000 })),
                    );
                }
                let code = field("code").unwrap_or_default();
                let challenge = log.challenges.lock().unwrap().iter().find(|(c, _)| *c == code).map(|(_, ch)| ch.clone());
                let verified = match (challenge, field("code_verifier")) {
                    (Some(ch), Some(v)) => {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes())) == ch
                    }
                    (None, None) => true,
                    _ => false,
                };
                if basic != "client-1:shh" || code != "good-code" || !verified {
                    return (axum::http::StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant" })));
                }
                (
                    axum::http::StatusCode::OK,
                    Json(json!({ "access_token": "at-1", "refresh_token": "rt-1", "token_type": "bearer",
                                 "expires_in": 5_184_000, "scope": "instagram_basic, instagram_content_publish" })),
                )
            }),
        )
        .route(
            "/me",
            get(|State(log): State<ProviderLog>, uri: axum::http::Uri, headers: HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
                log.me_hits.lock().unwrap().push((path, auth.unwrap_or_default().to_string()));
                let me = log.me_username.lock().unwrap().clone();
                match auth {
                    Some("Bearer at-1") => (axum::http::StatusCode::OK, Json(json!({ "username": me, "data": { "username": me } }))),
                    _ => (axum::http::StatusCode::UNAUTHORIZED, Json(json!({ "error": "bad token" }))),
                }
            }),
        )
        .route("/users/me", get(|| async { Json(json!({ "data": { "username": "tweeter" } })) }))
        .route("/api", axum::routing::any(api))
        .route("/api/{*rest}", axum::routing::any(api))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, log)
}

/// The provider's API: wants the current access token (or the direct
/// key `k-direct`). `/api/items` answers what it got; `/api/limited`
/// answers 429 (Retry-After: 1) to every other request; `/api/flaky` 500
/// to every other request; `/api/sick` 503 to its first six requests;
/// `/api/always429?after=N` answers 429 (Retry-After: N) every time;
/// `/api/slow` answers after 5 s; `/api/bad` 400; `/api/contacts` lists two accounts under `/data`.
async fn api(
    State(log): State<ProviderLog>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let hits = {
        let mut all = log.api_hits.lock().unwrap();
        all.push((path.clone(), auth.clone()));
        all.iter().filter(|(p, _)| p.split('?').next() == path.split('?').next()).count()
    };
    let current = log.current_access.lock().unwrap().clone();
    if auth != format!("Bearer {current}") && auth != "Bearer k-direct" {
        return (axum::http::StatusCode::UNAUTHORIZED, Json(json!({ "error": "expired token" }))).into_response();
    }
    match uri.path() {
        "/api/limited" if hits % 2 == 1 => {
            (axum::http::StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(json!({ "error": "slow down" }))).into_response()
        }
        "/api/flaky" if hits % 2 == 1 => (axum::http::StatusCode::BAD_GATEWAY, "upstream hiccup").into_response(),
        "/api/sick" if hits <= 6 => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down for a while").into_response(),
        "/api/always429" => {
            let after = uri.query().and_then(|q| q.strip_prefix("after=")).unwrap_or("1").to_string();
            (axum::http::StatusCode::TOO_MANY_REQUESTS, [("retry-after", after)], Json(json!({ "error": "slow down" })))
                .into_response()
        }
        "/api/slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            Json(json!({ "late": true })).into_response()
        }
        "/api/bad" => (axum::http::StatusCode::BAD_REQUEST, Json(json!({ "error": { "message": "Invalid parameter" } }))).into_response(),
        "/api/contacts" => Json(json!({ "data": [
            { "id": "17841400001", "username": "ada" }, { "id": "17841400002", "username": "grace" }
        ] }))
        .into_response(),
        // Instagram's two-step publish (seed 000): a container, then its publication.
        "/api/media" => Json(json!({ "id": "17895695668004550" })).into_response(),
        "/api/media_publish" => {
            let sent: Value = serde_json::from_str(&body).unwrap_or_default();
            Json(json!({ "id": "17920238422030506", "creation_id": sent["creation_id"] })).into_response()
        }
        _ => (
            [("x-provider", "test")],
            Json(json!({ "path": path, "body": body, "content_type": headers.get("content-type").and_then(|v| v.to_str().ok()) })),
        )
            .into_response(),
    }
}

/// A custom REST connection to the test provider's API (key `k-direct`),
/// with the workspace's own rate window when given; returns its id.
pub(crate) async fn custom_rest(app: &TestApp, base: &str, window: Option<(u32, u32)>) -> String {
    let made = app
        .gql(&app.owner_key, "mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } userErrors { message } } }",
             json!({ "i": { "provider": "custom_rest", "apiKey": "k-direct", "baseUrl": format!("{base}/api") } }))
        .await;
    let id = made["createConnection"]["connection"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
    if let Some((requests, per_seconds)) = window {
        let window = json!({ "i": { "provider": "custom_rest", "rateLimit": { "requests": requests, "perSeconds": per_seconds } } });
        let set = app.gql(&app.owner_key, SET, window).await;
        assert_eq!(set["setProviderSettings"]["userErrors"], json!([]), "{set}");
    }
    id
}

pub(crate) const SET: &str = "mutation($i: SetProviderSettingsInput!) { setProviderSettings(input: $i) {
    providerSettings { provider clientId clientSecret authorizeUrl } userErrors { field message code } } }";
const START: &str = "mutation($p: String!) { startConnection(input: {provider: $p}) { authorizeUrl userErrors { field message code } } }";

pub(crate) async fn configure(app: &TestApp, cookie: &str, provider: &str, base: &str) {
    let out = app
        .gql_session(
            cookie,
            SET,
            json!({ "i": { "provider": provider, "clientId": "client-1", "clientSecret": "shh",
                           "authorizeUrl": format!("{base}/authorize"), "tokenUrl": format!("{base}/token"), "apiBaseUrl": base } }),
        )
        .await;
    let s = &out["data"]["setProviderSettings"];
    assert_eq!(s["userErrors"], json!([]), "{out}");
    assert_eq!(s["providerSettings"]["clientSecret"], "***", "the secret is never shown");
}

/// Starts a connect as the signed-in owner; returns the authorize URL's parameters.
pub(crate) async fn start(app: &TestApp, cookie: &str, provider: &str) -> Vec<(String, String)> {
    let out = app.gql_session(cookie, START, json!({ "p": provider })).await;
    let url = out["data"]["startConnection"]["authorizeUrl"].as_str().unwrap_or_else(|| panic!("{out}")).to_string();
    url::form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes()).into_owned().collect()
}

pub(crate) fn param(pairs: &[(String, String)], name: &str) -> String {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

/// The browser coming back from the provider: the callback page, then its
/// same-origin post. Returns (status, body).
pub(crate) async fn come_back(app: &TestApp, cookie: &str, provider: &str, fields: Value) -> (u16, Value) {
    let page = app.client.get(format!("{}/connect/{provider}/callback?code=x&state=y", app.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let resp = app
        .client
        .post(format!("{}/connect/{provider}/finish", app.url))
        .header("cookie", cookie)
        .header("x-switchyard-csrf", "1")
        .json(&fields)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_owner_connects_a_service_over_oauth_once_per_workspace() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let (_, cookie) = app.invite_and_accept(&app.owner_key, "olive@example.com", "OWNER").await;

        // The catalog: the seed's eighteen services with their limits.
        let providers = app.gql(&app.owner_key, "{ providers { key authKind defaultScopes rateLimit { requests perSeconds per source } } }", json!({})).await;
        let list = providers["providers"].as_array().unwrap();
        assert_eq!(list.len(), 18);
        let insta = list.iter().find(|p| p["key"] == "instagram").unwrap();
        assert_eq!(insta["authKind"], "OAUTH2");
        assert_eq!(insta["rateLimit"]["requests"], 200);
        assert_eq!(insta["rateLimit"]["perSeconds"], 3600);

        // Without the workspace's OAuth client, nothing starts.
        let early = app.gql_session(&cookie, START, json!({ "p": "instagram" })).await;
        assert!(early["data"]["startConnection"]["userErrors"][0]["message"].as_str().unwrap().contains("client id"), "{early}");

        configure(&app, &cookie, "instagram", &base).await;
        let asked = start(&app, &cookie, "instagram").await;
        assert_eq!(param(&asked, "client_id"), "client-1");
        assert_eq!(param(&asked, "redirect_uri"), format!("{}/connect/instagram/callback", app.url));
        assert_eq!(param(&asked, "scope"), "instagram_basic,instagram_content_publish,instagram_manage_insights");
        let state = param(&asked, "state");
        assert!(state.len() >= 16);

        // Another session cannot finish this connect, and a made-up state fails.
        let (_, other_cookie) = app.invite_and_accept(&app.owner_key, "oscar@example.com", "OWNER").await;
        let (status, body) = come_back(&app, &other_cookie, "instagram", json!({ "code": "good-code", "state": state })).await;
        assert_eq!(status, 400, "{body}");
        let (status, _) = come_back(&app, &cookie, "instagram", json!({ "code": "good-code", "state": "made-up" })).await;
        assert_eq!(status, 400);

        // The provider said no: a clear error, nothing stored.
        let asked = start(&app, &cookie, "instagram").await;
        let (status, body) = come_back(&app, &cookie, "instagram", json!({ "error": "access_denied", "state": param(&asked, "state") })).await;
        assert_eq!(status, 400);
        assert!(body["error"].as_str().unwrap().contains("access_denied"), "{body}");

        // The real thing.
        let asked = start(&app, &cookie, "instagram").await;
        let (status, body) = come_back(&app, &cookie, "instagram", json!({ "code": "good-code", "state": param(&asked, "state") })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["connection"]["account"], "@mybusiness");
        let (basic, form) = log.token_requests.lock().unwrap().last().cloned().unwrap();
        assert_eq!(basic, "client-1:shh");
        assert!(form.contains(&("grant_type".into(), "authorization_code".into())));
        // The state was spent.
        let (status, _) = come_back(&app, &cookie, "instagram", json!({ "code": "good-code", "state": param(&asked, "state") })).await;
        assert_eq!(status, 400);

        let q = "{ connections { totalCount edges { node { id provider account status scopes autoRefresh tokenExpiresAt } } } }";
        let seen = app.gql(&app.owner_key, q, json!({})).await;
        assert_eq!(seen["connections"]["totalCount"], 1);
        let node = &seen["connections"]["edges"][0]["node"];
        assert_eq!(node["status"], "CONNECTED");
        assert_eq!(node["account"], "@mybusiness");
        // Instagram separates scopes with commas: each granted scope on its own.
        assert_eq!(node["scopes"], json!(["instagram_basic", "instagram_content_publish"]));
        assert_eq!(node["autoRefresh"], true);
        assert!(node["tokenExpiresAt"].is_string());

        // One per service.
        let again = app.gql_session(&cookie, START, json!({ "p": "instagram" })).await;
        let err = &again["data"]["startConnection"]["userErrors"][0];
        assert_eq!(err["message"], "Only one Instagram connection is allowed per workspace");
        assert_eq!(err["code"], "TAKEN");

        // Credentials are nowhere to be read: no field of a connection's
        // types is one, no value read through them (a call made with the
        // token included) or the events holds them, and the database has
        // them only encrypted.
        let made = call(&app, json!({ "connectionId": node["id"], "method": "GET", "path": "/api/contacts" })).await;
        assert_eq!(made["call"]["status"], "SUCCEEDED", "{made}");
        let everything = read_everything(&app).await;
        assert!(everything.contains("@mybusiness") && everything.contains("/api/contacts"), "{everything}");
        for secret in ["at-1", "rt-1", "\"shh\""] {
            assert!(!everything.contains(secret), "{secret} was readable: {everything}");
        }
        let row = entity::connection::Entity::find().one(&app.state.db).await.unwrap().unwrap();
        assert!(!row.credentials_enc.contains("at-1") && !row.credentials_enc.contains("rt-1"));
        assert!(app.state.secret.decrypt(&row.credentials_enc).unwrap().contains("rt-1"));

        // Removing it: gone, with an event.
        let id = node["id"].as_str().unwrap();
        let del = app
            .gql(&app.owner_key, "mutation($i: DeleteConnectionInput!) { deleteConnection(input: $i) { deletedId } }", json!({ "i": { "id": id } }))
            .await;
        assert_eq!(del["deleteConnection"]["deletedId"], id);
        let events = app.gql(&app.owner_key, r#"{ events(filter: {eventTypes: ["connection.*"]}) { edges { node { type } } } }"#, json!({})).await;
        let types: Vec<&str> = events["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["connection.deleted", "connection.created"]);
    })
    .await;
}

/// Everything a connection is read through, as one JSON text: every plain
/// field of the workspace's connections, their calls and stats, the
/// provider settings, and the events' data. First checks that no field of
/// those types is named like a credential.
async fn read_everything(app: &TestApp) -> String {
    let readable = readable_fields(app).await;
    for (ty, every, _) in &readable {
        for f in every {
            let n = f.to_lowercase();
            let holds = (n.contains("token") && !matches!(n.as_str(), "tokenexpiresat" | "tokenurl"))
                || ["credential", "password", "apikey", "authorization", "bearer"].iter().any(|w| n.contains(w))
                || (n.contains("secret") && n != "clientsecret")
                || (n.ends_with("key") && n != "key");
            assert!(!holds, "{ty}.{f} could hold a credential");
        }
    }
    let all = |ty: &str| readable.iter().find(|(t, _, _)| t == ty).unwrap().2.join(" ");
    let q = format!(
        "{{ connections {{ edges {{ node {{ {} calls {{ edges {{ node {{ {} responseHeaders {{ name value }} }} }} }} \
         stats {{ {} }} }} }} }} providerSettings {{ {} }} events {{ edges {{ node {{ data }} }} }} }}",
        all("ServiceConnection"),
        all("ConnectionCall"),
        all("ConnectionStats"),
        all("ProviderSettings")
    );
    app.gql(&app.owner_key, &q, json!({})).await.to_string()
}

/// The types a connection is read through, by introspection: each with
/// all its fields' names, and those a query can select as they are (scalar
/// or enum, no arguments).
type Readable = Vec<(String, Vec<String>, Vec<String>)>;

async fn readable_fields(app: &TestApp) -> Readable {
    let q = r#"{ __schema { types { name fields(includeDeprecated: true) { name args { name }
        type { kind ofType { kind ofType { kind ofType { kind } } } } } } } }"#;
    let schema = app.gql(&app.owner_key, q, json!({})).await;
    let wanted = ["ServiceConnection", "ConnectionCall", "ConnectionStats", "ProviderSettings", "Provider"];
    // A scalar or an enum under any NON_NULL and LIST wrappers.
    let leaf = |ty: &Value| {
        let mut ty = ty;
        while matches!(ty["kind"].as_str(), Some("NON_NULL" | "LIST")) {
            ty = &ty["ofType"];
        }
        matches!(ty["kind"].as_str(), Some("SCALAR" | "ENUM"))
    };
    let mut out = Vec::new();
    for t in schema["__schema"]["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if !wanted.contains(&name) {
            continue;
        }
        let fields = t["fields"].as_array().unwrap();
        let named = |f: &Value| f["name"].as_str().unwrap().to_string();
        let every: Vec<String> = fields.iter().map(named).collect();
        let plain: Vec<String> =
            fields.iter().filter(|f| leaf(&f["type"]) && f["args"].as_array().unwrap().is_empty()).map(named).collect();
        assert!(!plain.is_empty(), "{name}");
        out.push((name.to_string(), every, plain));
    }
    assert_eq!(out.len(), wanted.len(), "{out:?}");
    out
}

#[tokio::test]
async fn a_pkce_provider_gets_a_verifier_and_api_keys_cannot_start_a_connect() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let (_, cookie) = app.invite_and_accept(&app.owner_key, "pia@example.com", "OWNER").await;
        configure(&app, &cookie, "twitter", &base).await;
        let asked = start(&app, &cookie, "twitter").await;
        assert_eq!(param(&asked, "code_challenge_method"), "S256");
        assert_eq!(param(&asked, "scope"), "tweet.read tweet.write users.read offline.access");
        log.challenges.lock().unwrap().push(("good-code".into(), param(&asked, "code_challenge")));
        let (status, body) =
            come_back(&app, &cookie, "twitter", json!({ "code": "good-code", "state": param(&asked, "state") })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["connection"]["account"], "@tweeter");
        let (_, form) = log.token_requests.lock().unwrap().last().cloned().unwrap();
        assert!(form.iter().any(|(k, _)| k == "code_verifier"), "the verifier is sent");

        // TikTok calls its client id `client_key`.
        configure(&app, &cookie, "tiktok", &base).await;
        let asked = start(&app, &cookie, "tiktok").await;
        assert_eq!(param(&asked, "client_key"), "client-1");
        assert_eq!(param(&asked, "scope"), "user.info.basic,video.upload,video.list");

        // The state is bound to a browser session: an API key cannot start one.
        let out = app.gql_raw(Some(&app.owner_key), START, json!({ "p": "instagram" })).await.2;
        assert_eq!(out["errors"][0]["extensions"]["code"], "FORBIDDEN", "{out}");
        // Collaborators cannot connect or change settings.
        let (_, collab) = app.invite_and_accept(&app.owner_key, "cid@example.com", "COLLABORATOR").await;
        let out = app.gql_session(&collab, START, json!({ "p": "instagram" })).await;
        assert_eq!(out["errors"][0]["extensions"]["code"], "FORBIDDEN", "{out}");
        // Unknown providers and non-OAuth ones are user errors.
        let out = app.gql_session(&cookie, START, json!({ "p": "myspace" })).await;
        assert_eq!(out["data"]["startConnection"]["userErrors"][0]["field"], json!(["input", "provider"]));
        let out = app.gql_session(&cookie, START, json!({ "p": "stripe" })).await;
        assert!(out["data"]["startConnection"]["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not over OAuth"));
        // A store-specific provider needs its URLs first.
        let out = app
            .gql_session(&cookie, SET, json!({ "i": { "provider": "shopify", "clientId": "c", "clientSecret": "s" } }))
            .await;
        assert_eq!(out["data"]["setProviderSettings"]["userErrors"], json!([]));
        let out = app.gql_session(&cookie, START, json!({ "p": "shopify" })).await;
        assert!(
            out["data"]["startConnection"]["userErrors"][0]["message"].as_str().unwrap().contains("Shopify"),
            "{out}"
        );
    })
    .await;
}

#[tokio::test]
async fn tokens_are_refreshed_once_before_they_expire_and_a_refused_refresh_asks_for_the_user() {
    // Every token counts as due: refresh 70 days before expiry (tokens live 60).
    for_each_backend(&["--connection-refresh-before-seconds", "6048000"], |app| async move {
        use switchyard::services::connections::refresh::{refresh_due, Outcome};
        let (base, log) = provider().await;
        let (_, cookie) = app.invite_and_accept(&app.owner_key, "rita@example.com", "OWNER").await;
        configure(&app, &cookie, "instagram", &base).await;
        let id = connect_instagram(&app, &cookie).await;

        // Two refreshers at once: one refresh reaches the provider.
        let (a, b) = tokio::join!(refresh_due(&app.state), refresh_due(&app.state));
        let mut outcomes: Vec<Outcome> = a.unwrap().into_iter().chain(b.unwrap()).map(|(_, o)| o).collect();
        outcomes.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(outcomes, [Outcome::Refreshed, Outcome::Skipped]);
        assert_eq!(*log.refreshes.lock().unwrap(), 1, "the rotating refresh token is spent once");
        let row = entity::connection::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().unwrap();
        let creds = app.state.secret.decrypt(&row.credentials_enc).unwrap();
        assert!(creds.contains("rt-2") && creds.contains("at-2"), "the rotated tokens are kept");
        assert!(row.refresh_lease_until.is_none());

        // The provider stops accepting the refresh token: NEEDS_REAUTH and an event.
        *log.valid_refresh.lock().unwrap() = "revoked".into();
        let out = refresh_due(&app.state).await.unwrap();
        assert_eq!(out, [(id.clone(), Outcome::Broken)]);
        let seen =
            app.gql(&app.owner_key, "query($id: ID!) { connection(id: $id) { status } }", json!({ "id": id })).await;
        assert_eq!(seen["connection"]["status"], "NEEDS_REAUTH");
        let events = app
            .gql(
                &app.owner_key,
                r#"{ events(filter: {eventTypes: ["connection.*"]}) { edges { node { type } } } }"#,
                json!({}),
            )
            .await;
        let types: Vec<&str> =
            events["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["connection.broken", "connection.refreshed", "connection.created"]);
        assert!(refresh_due(&app.state).await.unwrap().is_empty(), "a broken connection is not retried");

        // Reconnecting keeps the connection's id.
        *log.valid_refresh.lock().unwrap() = "rt-1".into();
        assert_eq!(connect_instagram(&app, &cookie).await, id);
        let seen =
            app.gql(&app.owner_key, "query($id: ID!) { connection(id: $id) { status } }", json!({ "id": id })).await;
        assert_eq!(seen["connection"]["status"], "CONNECTED");
    })
    .await;
}

#[tokio::test]
async fn the_scheduled_job_refreshes_a_token_only_once_it_is_within_seven_days_of_expiring() {
    // The default margin (7 days); the scheduled scan every 10 s.
    for_each_backend(&["--connection-refresh-interval-seconds", "10"], |app| async move {
        let (base, log) = provider().await;
        let (_, cookie) = app.invite_and_accept(&app.owner_key, "rita@example.com", "OWNER").await;
        configure(&app, &cookie, "instagram", &base).await;
        let expiry = |app: TestApp, id: String| async move {
            let q = "query($id: ID!) { connection(id: $id) { tokenExpiresAt } }";
            let seen = app.gql(&app.owner_key, q, json!({ "id": id })).await;
            let at = seen["connection"]["tokenExpiresAt"].as_str().unwrap().to_string();
            chrono::DateTime::parse_from_rfc3339(&at).unwrap().with_timezone(&chrono::Utc)
        };
        let days_left = |t: chrono::DateTime<chrono::Utc>| (t - chrono::Utc::now()).num_hours() as f64 / 24.0;

        // A token for 60 days (as issued), then for 8: not due, through two scans.
        let id = connect_instagram(&app, &cookie).await;
        assert!((59.5..60.5).contains(&days_left(expiry(app.clone(), id.clone()).await)));
        // Moves the token's expiry closer, as time would, without waiting days.
        let expires_in = |days: i64| {
            let app = app.clone();
            let id = id.clone();
            async move {
                use sea_orm::sea_query::Expr;
                use sea_orm::{ColumnTrait, QueryFilter};
                let at = chrono::Utc::now() + chrono::Duration::days(days);
                entity::connection::Entity::update_many()
                    .col_expr(entity::connection::Column::TokenExpiresAt, Expr::value(at))
                    .filter(entity::connection::Column::Id.eq(&id))
                    .exec(&app.state.writer)
                    .await
                    .unwrap();
            }
        };

        expires_in(8).await;
        tokio::time::sleep(std::time::Duration::from_secs(21)).await;
        assert_eq!(*log.refreshes.lock().unwrap(), 0, "[{}] refreshed 8 days ahead", app.backend);

        // 6 days left: the next scan refreshes it, once.
        expires_in(6).await;
        let started = std::time::Instant::now();
        while *log.refreshes.lock().unwrap() == 0 {
            assert!(started.elapsed() < std::time::Duration::from_secs(40), "[{}] never refreshed", app.backend);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let started = std::time::Instant::now();
        while days_left(expiry(app.clone(), id.clone()).await) < 50.0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "[{}] the new expiry was not kept",
                app.backend
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // Two more scans (10 s apart) find nothing due.
        tokio::time::sleep(std::time::Duration::from_secs(21)).await;
        assert_eq!(*log.refreshes.lock().unwrap(), 1, "[{}] a fresh token is not refreshed again", app.backend);
    })
    .await;
}

#[tokio::test]
async fn a_refresh_whose_caller_goes_away_still_stores_the_rotated_tokens() {
    // Every token counts as due: refresh 70 days before expiry (tokens live 60).
    for_each_backend(&["--connection-refresh-before-seconds", "6048000"], |app| async move {
        use std::time::Duration;
        use switchyard::services::connections::refresh::{refresh_due, Outcome};
        let (base, log) = provider().await;
        let id = connected_instagram(&app, &base).await;
        // Waits until the stored refresh token is `want` and no lease is held.
        let stored = |want: &'static str| {
            let app = &app;
            let id = id.clone();
            async move {
                for _ in 0..60 {
                    let row = entity::connection::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().unwrap();
                    let creds: Value =
                        serde_json::from_str(&app.state.secret.decrypt(&row.credentials_enc).unwrap()).unwrap();
                    if creds["refresh_token"] == want && row.refresh_lease_until.is_none() {
                        return creds;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                panic!("[{}] the rotated refresh token {want} was never stored", app.backend);
            }
        };

        // The provider rotates the token, then answers slowly; the scheduled
        // run is cut off (a job timeout) before the answer arrives.
        *log.refresh_delay_ms.lock().unwrap() = 4000;
        let cut = tokio::time::timeout(Duration::from_millis(1500), refresh_due(&app.state)).await;
        assert!(cut.is_err(), "the run was cut off mid-refresh");
        assert_eq!(*log.refreshes.lock().unwrap(), 1);
        let creds = stored("rt-2").await;
        assert_eq!(creds["access_token"], "at-2");

        // A call answered 401 refreshes; its client hangs up mid-refresh.
        *log.current_access.lock().unwrap() = "something-else".into();
        let gone = tokio::time::timeout(
            Duration::from_millis(1500),
            app.gql(
                &app.owner_key,
                CALL,
                json!({ "i": { "connectionId": id, "method": "GET", "path": "/api/items" } }),
            ),
        )
        .await;
        assert!(gone.is_err(), "the client went away mid-refresh");
        let creds = stored("rt-3").await;
        assert_eq!(creds["access_token"], "at-3");

        // The rotated tokens work: a call goes through, the next refresh spends rt-3.
        *log.refresh_delay_ms.lock().unwrap() = 200;
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/api/items" })).await;
        assert_eq!(
            (out["call"]["status"].clone(), out["call"]["attempts"].clone()),
            (json!("SUCCEEDED"), json!(1)),
            "{out}"
        );
        assert_eq!(log.api_hits.lock().unwrap().last().unwrap().1, "Bearer at-3");
        assert_eq!(refresh_due(&app.state).await.unwrap(), [(id.clone(), Outcome::Refreshed)]);
        assert_eq!(stored("rt-4").await["access_token"], "at-4");
        let seen =
            app.gql(&app.owner_key, "query($id: ID!) { connection(id: $id) { status } }", json!({ "id": id })).await;
        assert_eq!(seen["connection"]["status"], "CONNECTED");
    })
    .await;
}

/// A key-checking service: `/account` (Stripe's "who am I") wants
/// `Bearer sk-good`, `/custom` wants `X-Api-Key: k1`, `/wc/system_status`
/// wants HTTP Basic `ck:cs`.
async fn keyed_service() -> String {
    let router = Router::new()
        .route(
            "/account",
            get(|headers: HeaderMap| async move {
                match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some("Bearer sk-good") => (axum::http::StatusCode::OK, Json(json!({ "id": "acct_123" }))),
                    _ => (axum::http::StatusCode::UNAUTHORIZED, Json(json!({ "error": "bad key" }))),
                }
            }),
        )
        .route(
            "/custom",
            get(|headers: HeaderMap| async move {
                match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
                    Some("k1") => axum::http::StatusCode::OK,
                    _ => axum::http::StatusCode::FORBIDDEN,
                }
            }),
        )
        .route(
            "/wc/system_status",
            get(|headers: HeaderMap| async move {
                let want = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ck:cs"));
                match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some(v) if v == want => (
                        axum::http::StatusCode::OK,
                        Json(json!({ "environment": { "site_url": "https://shop.example" } })),
                    ),
                    _ => (axum::http::StatusCode::UNAUTHORIZED, Json(json!({}))),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn key_and_password_services_are_checked_by_one_real_call_before_they_are_stored() {
    for_each_backend(&[], |app| async move {
        let base = keyed_service().await;
        let create = "mutation($i: CreateConnectionInput!) { createConnection(input: $i) {
            connection { id provider account status } userErrors { field message code } } }";
        let key = app.owner_key.clone();
        let count = |app: TestApp| async move {
            app.gql(&app.owner_key, "{ connections { totalCount } }", json!({})).await["connections"]["totalCount"].clone()
        };

        // A wrong key: refused, nothing stored.
        let bad = app.gql(&key, create, json!({ "i": { "provider": "stripe", "apiKey": "sk-bad", "baseUrl": base } })).await;
        let err = &bad["createConnection"]["userErrors"][0];
        assert!(err["message"].as_str().unwrap().contains("refused the credentials (HTTP 401)"), "{bad}");
        assert_eq!(count(app.clone()).await, 0);
        let missing = app.gql(&key, create, json!({ "i": { "provider": "stripe", "baseUrl": base } })).await;
        assert_eq!(missing["createConnection"]["userErrors"][0]["field"], json!(["input", "apiKey"]));

        // The right one: the account comes from the service's answer.
        let ok = app.gql(&key, create, json!({ "i": { "provider": "stripe", "apiKey": "sk-good", "baseUrl": base } })).await;
        assert_eq!(ok["createConnection"]["connection"]["account"], "acct_123", "{ok}");
        assert_eq!(ok["createConnection"]["connection"]["status"], "CONNECTED");
        let again = app.gql(&key, create, json!({ "i": { "provider": "stripe", "apiKey": "sk-good", "baseUrl": base } })).await;
        assert_eq!(again["createConnection"]["userErrors"][0]["message"], "Only one Stripe connection is allowed per workspace");

        // The key never goes in a header the transport sets (a `Host` would
        // redirect the call, a `Content-Length` hang it): refused before any call.
        for header in ["Host", "content-length", "Transfer-Encoding", "Connection", "Content-Type"] {
            let i = json!({ "provider": "custom_rest", "apiKey": "k1", "headerName": header, "baseUrl": format!("{base}/custom") });
            let out = app.gql(&key, create, json!({ "i": i })).await;
            let err = &out["createConnection"]["userErrors"][0];
            assert_eq!(err["field"], json!(["input", "headerName"]), "{header}: {out}");
            assert!(err["message"].as_str().unwrap().contains("set by the server"), "{out}");
        }
        // A custom REST API with its own header, and basic auth.
        let custom = app
            .gql(&key, create, json!({ "i": { "provider": "custom_rest", "apiKey": "k1", "headerName": "X-Api-Key", "baseUrl": format!("{base}/custom") } }))
            .await;
        assert_eq!(custom["createConnection"]["connection"]["account"], "127.0.0.1", "{custom}");
        let wrong = app.gql(&key, create, json!({ "i": { "provider": "woocommerce", "username": "ck", "password": "nope", "baseUrl": format!("{base}/wc") } })).await;
        assert!(wrong["createConnection"]["connection"].is_null(), "{wrong}");
        let woo = app.gql(&key, create, json!({ "i": { "provider": "woocommerce", "username": "ck", "password": "cs", "baseUrl": format!("{base}/wc") } })).await;
        assert_eq!(woo["createConnection"]["connection"]["account"], "https://shop.example", "{woo}");
        assert_eq!(count(app.clone()).await, 3);

        // Secrets stay encrypted and unreadable; OAuth services are not connected this way.
        for row in entity::connection::Entity::find().all(&app.state.db).await.unwrap() {
            assert!(!row.credentials_enc.contains("sk-good") && !row.credentials_enc.contains("cs\""));
        }
        let everything = read_everything(&app).await;
        assert!(everything.contains("acct_123"), "{everything}");
        for secret in ["sk-good", "\"k1\"", "\"cs\"", "Y2s6Y3M"] {
            assert!(!everything.contains(secret), "{secret} was readable: {everything}");
        }
        let oauth = app.gql(&key, create, json!({ "i": { "provider": "instagram", "apiKey": "x" } })).await;
        assert!(oauth["createConnection"]["userErrors"][0]["message"].as_str().unwrap().contains("startConnection"));
        let (_, collab) = app.collaborator_key("cora@example.com").await;
        app.gql_err(Some(&collab), create, json!({ "i": { "provider": "airtable", "apiKey": "x" } }), "FORBIDDEN").await;
    })
    .await;
}

#[tokio::test]
async fn the_ssrf_guard_keeps_connections_off_private_addresses() {
    for_each_backend(&["--allow-private-targets", "false"], |app| async move {
        let create = "mutation($i: CreateConnectionInput!) { createConnection(input: $i) {
            connection { id } userErrors { field message } } }";
        let count = || async {
            app.gql(&app.owner_key, "{ connections { totalCount } }", json!({})).await["connections"]["totalCount"]
                .clone()
        };
        // A key service whose base URL is private: refused before any call.
        let base = keyed_service().await;
        for url in [
            base.clone(),
            "http://10.0.0.1/api".into(),
            "http://169.254.169.254/latest".into(),
            "http://localhost:9".into(),
        ] {
            let out = app
                .gql(
                    &app.owner_key,
                    create,
                    json!({ "i": { "provider": "stripe", "apiKey": "sk-good", "baseUrl": url } }),
                )
                .await;
            let err = &out["createConnection"]["userErrors"][0];
            assert_eq!(err["field"], json!(["input", "baseUrl"]), "[{}] {url}: {out}", app.backend);
            assert!(err["message"].as_str().unwrap().contains("may call"), "[{}] {out}", app.backend);
        }
        assert_eq!(count().await, 0);

        // An OAuth provider whose token URL is private: the code is never
        // sent there, the browser lands on an error, nothing is stored.
        let (base, log) = provider().await;
        let (_, cookie) = app.invite_and_accept(&app.owner_key, "rita@example.com", "OWNER").await;
        configure(&app, &cookie, "instagram", &base).await;
        let asked = start(&app, &cookie, "instagram").await;
        let (status, body) =
            come_back(&app, &cookie, "instagram", json!({ "code": "good-code", "state": param(&asked, "state") }))
                .await;
        assert_ne!(status, 200, "[{}] {body}", app.backend);
        assert!(body.to_string().contains("SSRF guard"), "[{}] {body}", app.backend);
        assert!(log.token_requests.lock().unwrap().is_empty(), "[{}] the code reached a private address", app.backend);
        assert_eq!(count().await, 0);
    })
    .await;
}

#[tokio::test]
async fn incoming_webhooks_become_workspace_events_only_when_signed() {
    for_each_backend(&[], |app| async move {
        let create = "mutation($i: CreateConnectionInput!) { createConnection(input: $i) {
            connection { id provider } incomingUrl userErrors { field message } } }";
        let made = app
            .gql(&app.owner_key, create, json!({ "i": { "provider": "incoming_webhooks", "webhookSecret": "a long enough secret" } }))
            .await;
        let url = made["createConnection"]["incomingUrl"].as_str().unwrap_or_else(|| panic!("{made}")).to_string();
        assert!(url.starts_with(&format!("{}/hooks/con_", app.url)), "{url}");
        let body = br#"{"order":42}"#.to_vec();
        let hmac = |secret: &[u8], body: &[u8]| {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        };
        let post = |url: String, sig: Option<(&'static str, String)>, body: Vec<u8>| {
            let mut req = app.client.post(url).header("content-type", "application/json").body(body);
            if let Some((k, v)) = sig {
                req = req.header(k, v);
            }
            req.send()
        };
        let count = || async {
            let q = r#"{ events(filter: {eventTypes: ["connection.webhook_received"]}) { totalCount edges { node { data } } } }"#;
            app.gql(&app.owner_key, q, json!({})).await["events"].clone()
        };
        // Unsigned, wrongly signed, or a wrong token: 401, nothing recorded.
        assert_eq!(post(url.clone(), None, body.clone()).await.unwrap().status(), 401);
        let bad = Some(("x-hub-signature-256", hmac(b"another secret entirely", &body)));
        assert_eq!(post(url.clone(), bad, body.clone()).await.unwrap().status(), 401);
        let good = Some(("x-hub-signature-256", hmac(b"a long enough secret", &body)));
        let wrong_token = format!("{}x", url);
        assert_eq!(post(wrong_token, good.clone(), body.clone()).await.unwrap().status(), 401);
        assert_eq!(count().await["totalCount"], 0);
        // Signed: 202, and the event carries the payload.
        let resp = post(url.clone(), good, body.clone()).await.unwrap();
        assert_eq!(resp.status(), 202);
        let seen = count().await;
        assert_eq!(seen["totalCount"], 1);
        assert_eq!(seen["edges"][0]["node"]["data"]["payload"]["order"], 42, "{seen}");

        // A Standard Webhooks sender, signed by the reference library, in another workspace.
        let (_, other_key) = app.other_workspace("sw@example.com").await;
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let made = app.gql(&other_key, create, json!({ "i": { "provider": "incoming_webhooks", "webhookSecret": secret } })).await;
        let url = made["createConnection"]["incomingUrl"].as_str().unwrap().to_string();
        let wh = standardwebhooks::Webhook::new(secret).unwrap();
        let ts = chrono::Utc::now().timestamp();
        let sig = wh.sign("msg_1", ts, &body).unwrap();
        let resp = app
            .client
            .post(&url)
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
        let stale = app
            .client
            .post(&url)
            .header("webhook-id", "msg_2")
            .header("webhook-timestamp", (ts - 600).to_string())
            .header("webhook-signature", wh.sign("msg_2", ts - 600, &body).unwrap())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 401, "outside the five-minute tolerance");
        assert_eq!(count().await["totalCount"], 1, "the other workspace's event is not ours");
    })
    .await;
}

const CALL: &str = "mutation($i: CallConnectionInput!) { callConnection(input: $i) {
    call { id status httpStatus attempts durationMs queuedMs responseBody responseTruncated error runAfter path method }
    response { status body headers { name value } }
    userErrors { field message code } } }";

/// Connects Instagram through the provider; returns the connection id.
pub(crate) async fn connected_instagram(app: &TestApp, base: &str) -> String {
    let (_, cookie) = app.invite_and_accept(&app.owner_key, "cal@example.com", "OWNER").await;
    configure(app, &cookie, "instagram", base).await;
    connect_instagram(app, &cookie).await
}

/// The whole OAuth connect (or reconnect) of Instagram by the signed-in
/// owner, the provider granting it; returns the connection's id.
pub(crate) async fn connect_instagram(app: &TestApp, cookie: &str) -> String {
    let asked = start(app, cookie, "instagram").await;
    let (status, body) =
        come_back(app, cookie, "instagram", json!({ "code": "good-code", "state": param(&asked, "state") })).await;
    assert_eq!(status, 200, "{body}");
    body["connection"]["id"].as_str().unwrap().to_string()
}

/// A queued call's `fields` once it is no longer queued, read every 100 ms
/// up to `tries` times (the last read whatever it says).
async fn settled_call(app: &TestApp, key: &str, id: &str, fields: &str, tries: usize) -> Value {
    let q = format!("query($id: ID!) {{ connectionCall(id: $id) {{ {fields} }} }}");
    let mut seen = Value::Null;
    for _ in 0..tries {
        seen = app.gql(key, &q, json!({ "id": id })).await;
        if seen["connectionCall"]["status"] != "QUEUED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    seen
}

/// A queued call, read again (up to 10 s) until it carries a note (`error`).
async fn noted_call(app: &TestApp, id: &str) -> Value {
    let q = "query($id: ID!) { connectionCall(id: $id) { status error runAfter responseBody } }";
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = app.gql(&app.owner_key, q, json!({ "id": id })).await;
        if seen["connectionCall"]["error"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    seen
}

async fn call(app: &TestApp, input: Value) -> Value {
    let out = app.gql(&app.owner_key, CALL, json!({ "i": input })).await;
    out["callConnection"].clone()
}

#[tokio::test]
async fn calls_carry_the_connections_token_and_401_429_and_5xx_are_handled() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let id = connected_instagram(&app, &base).await;

        // A plain call: the token added by the server, the query encoded, the answer returned whole.
        let out = call(
            &app,
            json!({ "connectionId": id, "method": "POST", "path": "/api/items?a=1",
                    "query": [{ "name": "q", "value": "x y" }], "body": "{\"n\":1}" }),
        )
        .await;
        assert_eq!(out["userErrors"], json!([]), "{out}");
        assert_eq!(out["call"]["status"], "SUCCEEDED", "{out}");
        assert_eq!(out["call"]["path"], "/api/items?a=1&q=x+y");
        assert_eq!(out["call"]["attempts"], 1);
        let answer: Value = serde_json::from_str(out["response"]["body"].as_str().unwrap()).unwrap();
        assert_eq!(answer["path"], "/api/items?a=1&q=x+y");
        assert_eq!(answer["body"], "{\"n\":1}");
        assert_eq!(answer["content_type"], "application/json");
        assert!(out["response"]["headers"].as_array().unwrap().iter().any(|h| h["name"] == "x-provider"));
        assert_eq!(log.api_hits.lock().unwrap().last().unwrap().1, "Bearer at-1");

        // The provider stops taking the token: one refresh, then the call goes through.
        *log.current_access.lock().unwrap() = "something-else".into();
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/api/items" })).await;
        assert_eq!(out["call"]["status"], "SUCCEEDED", "{out}");
        assert_eq!(out["call"]["attempts"], 2);
        assert_eq!(*log.refreshes.lock().unwrap(), 1);
        assert_eq!(log.api_hits.lock().unwrap().last().unwrap().1, "Bearer at-2");

        // 429 with Retry-After: 1 → waits a second and tries again.
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/api/limited" })).await;
        assert_eq!(out["call"]["status"], "SUCCEEDED", "{out}");
        assert_eq!(out["call"]["attempts"], 2);
        assert!(out["call"]["durationMs"].as_i64().unwrap() >= 1000, "{out}");

        // 5xx → retried with backoff; 400 → the provider's error at once.
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/api/flaky" })).await;
        assert_eq!((out["call"]["status"].clone(), out["call"]["attempts"].clone()), (json!("SUCCEEDED"), json!(2)), "{out}");
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/api/bad" })).await;
        assert_eq!(out["call"]["status"], "FAILED");
        assert_eq!(out["call"]["httpStatus"], 400);
        assert_eq!(out["call"]["attempts"], 1);
        assert!(out["call"]["responseBody"].as_str().unwrap().contains("Invalid parameter"));
        assert_eq!(out["response"]["status"], 400);

        // Bad input changes nothing and reaches nobody.
        let hits = log.api_hits.lock().unwrap().len();
        for (input, field) in [
            (json!({ "connectionId": id, "method": "GET", "path": "//evil.example/x" }), "path"),
            (json!({ "connectionId": id, "method": "GET", "path": "api/items" }), "path"),
            (json!({ "connectionId": id, "method": "GET", "path": "/api/items", "headers": [{ "name": "Authorization", "value": "Bearer mine" }] }), "headers"),
            (json!({ "connectionId": id, "method": "GET", "path": "/api/items", "timeoutSeconds": 0 }), "timeoutSeconds"),
            (json!({ "connectionId": "con_01JD0000000000000000000000", "method": "GET", "path": "/x" }), "connectionId"),
        ] {
            let out = call(&app, input).await;
            assert!(out["call"].is_null(), "{out}");
            assert_eq!(out["userErrors"][0]["field"][1], field, "{out}");
        }
        assert_eq!(log.api_hits.lock().unwrap().len(), hits);

        // The log and the dashboard figures; no token anywhere in them.
        let q = "query($id: ID!) { connection(id: $id) {
            calls { totalCount edges { node { method path status httpStatus attempts responseBody } } }
            stats { callsLastDay succeededLastDay failedLastDay successRate quotaPerDay usageLabel windowUsed window { requests perSeconds } lastUsedAt } } }";
        let seen = app.gql(&app.owner_key, q, json!({ "id": id })).await;
        let c = &seen["connection"];
        assert_eq!(c["calls"]["totalCount"], 5, "{seen}");
        assert_eq!(c["calls"]["edges"][0]["node"]["path"], "/api/bad", "newest first");
        let stats = &c["stats"];
        assert_eq!((stats["callsLastDay"].clone(), stats["succeededLastDay"].clone()), (json!(5), json!(4)));
        assert_eq!(stats["successRate"], 0.8);
        assert_eq!(stats["quotaPerDay"], 4800, "Instagram: 200 calls per hour");
        assert_eq!(stats["usageLabel"], "5 / 4800");
        // Every request took a slot: the five calls' first tries and the
        // three retries (after the refresh, the 429 and the 502).
        assert_eq!(stats["windowUsed"], 8);
        assert!(stats["lastUsedAt"].is_string());
        let text = seen.to_string();
        assert!(!text.contains("at-1") && !text.contains("at-2") && !text.contains("rt-"), "{text}");
        let all = app.gql(&app.owner_key, "{ connectionStats { connection { id } stats { callsLastDay } } }", json!({})).await;
        assert_eq!(all["connectionStats"][0]["stats"]["callsLastDay"], 5);
        let calls = entity::connection_call::Entity::find().all(&app.state.db).await.unwrap();
        assert!(calls.iter().all(|c| c.request_enc.is_none()), "finished calls keep no request");

        // A collaborator may read the log but a read-only key may not call.
        let (_, collab) = app.collaborator_key("cole@example.com").await;
        let seen = app.gql(&collab, "query($id: ID!) { connection(id: $id) { calls { totalCount } } }", json!({ "id": id })).await;
        assert_eq!(seen["connection"]["calls"]["totalCount"], 5);

        // A provider slower than the caller's time: the call fails when the time is up.
        let started = std::time::Instant::now();
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/api/slow", "timeoutSeconds": 1 })).await;
        assert_eq!(out["call"]["status"], "FAILED", "{out}");
        assert!(out["call"]["error"].as_str().unwrap().contains("did not answer within"), "{out}");
        assert!(started.elapsed() < std::time::Duration::from_millis(2500), "{:?}", started.elapsed());
    })
    .await;
}

#[tokio::test]
async fn a_long_answer_is_returned_whole_and_logged_cut_at_a_character_boundary() {
    for_each_backend(&[], |app| async move {
        let (base, _log) = provider().await;
        let id = custom_rest(&app, &base, None).await;
        // The provider echoes the body: two-byte characters make the answer
        // longer than the log keeps, with the cut inside one of them unless it moves.
        let long = format!("xx{}", "é".repeat(3000));
        let out = call(&app, json!({ "connectionId": id, "method": "POST", "path": "/echo", "body": long })).await;
        assert_eq!(out["call"]["status"], "SUCCEEDED", "{out}");
        let whole: Value = serde_json::from_str(out["response"]["body"].as_str().unwrap()).unwrap();
        assert_eq!(whole["body"], long.as_str(), "the caller gets the whole answer");
        let logged = out["call"]["responseBody"].as_str().unwrap();
        let limit = switchyard::services::connections::call::LOGGED_BODY_BYTES;
        assert!(logged.len() <= limit && logged.len() >= limit - 1, "{} bytes logged", logged.len());
        assert!(out["response"]["body"].as_str().unwrap().starts_with(logged));
        assert_eq!(out["call"]["responseTruncated"], true);
        // As the log reads it later.
        let q = "query($id: ID!) { connectionCall(id: $id) { responseBody responseTruncated } }";
        let seen = app.gql(&app.owner_key, q, json!({ "id": out["call"]["id"] })).await;
        assert_eq!(seen["connectionCall"]["responseBody"].as_str(), Some(logged));
        assert_eq!(seen["connectionCall"]["responseTruncated"], true);
        // A short answer is kept whole.
        let out = call(&app, json!({ "connectionId": id, "method": "POST", "path": "/echo", "body": "short" })).await;
        assert_eq!(
            (out["call"]["responseBody"].clone(), out["call"]["responseTruncated"].clone()),
            (out["response"]["body"].clone(), json!(false)),
            "{out}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_connection_deleted_while_its_call_is_out_says_so() {
    for_each_backend(&[], |app| async move {
        let (base, _log) = provider().await;
        let id = custom_rest(&app, &base, None).await;
        // The provider takes 5 s to answer; the connection is deleted meanwhile.
        let caller = {
            let (app, id) = (app.clone(), id.clone());
            tokio::spawn(
                async move { call(&app, json!({ "connectionId": id, "method": "GET", "path": "/slow" })).await },
            )
        };
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let gone = app.mutate(&app.owner_key, "deleteConnection", json!({ "id": id }), "deletedId").await;
        assert_eq!(gone["deletedId"], id.as_str());
        let out = caller.await.unwrap();
        assert_eq!(out["userErrors"][0]["code"], "NOT_FOUND", "[{}] {out}", app.backend);
        assert_eq!(out["userErrors"][0]["message"], "The connection was deleted while the call was under way");
        assert!(out["call"].is_null(), "{out}");
    })
    .await;
}

#[tokio::test]
async fn a_queued_call_fails_once_it_has_made_ten_requests_that_all_met_429() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let key = app.owner_key.clone();
        let id = custom_rest(&app, &base, None).await;
        // The caller's second is up at the first 429 (it asks for one): the call is queued.
        let out = call(
            &app,
            json!({ "connectionId": id, "method": "GET", "path": "/always429?after=1", "timeoutSeconds": 1 }),
        )
        .await;
        assert_eq!(out["call"]["status"], "QUEUED", "{out}");
        let queued = out["call"]["id"].as_str().unwrap().to_string();
        // Its job sleeps two 1 s waits a run and queues it again after the third 429, until ten requests.
        let seen = settled_call(&app, &key, &queued, "status attempts error", 300).await;
        assert_eq!(seen["connectionCall"]["status"], "FAILED", "{seen}");
        assert_eq!(seen["connectionCall"]["attempts"], 10, "{seen}");
        assert!(
            seen["connectionCall"]["error"]
                .as_str()
                .unwrap()
                .contains("still rate limiting (HTTP 429) after 10 requests"),
            "{seen}"
        );
        let hits = log.api_hits.lock().unwrap().iter().filter(|(p, _)| p.starts_with("/api/always429")).count();
        assert_eq!(hits, 10);
    })
    .await;
}

#[tokio::test]
async fn the_proactive_limit_queues_calls_past_the_window_and_runs_them_after_it() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let key = app.owner_key.clone();
        // The workspace's own limit for its custom API: 2 calls per 2 seconds.
        let id = custom_rest(&app, &base, Some((2, 2))).await;
        let hits = || log.api_hits.lock().unwrap().iter().filter(|(p, _)| p.starts_with("/api/items")).count();

        for n in 0..2 {
            let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": format!("/items?n={n}") })).await;
            assert_eq!(out["call"]["status"], "SUCCEEDED", "{out}");
        }
        // The third does not go out: it is queued until the window resets.
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/items?n=2", "wait": false })).await;
        assert_eq!(out["call"]["status"], "QUEUED", "{out}");
        assert!(out["call"]["runAfter"].is_string());
        assert!(out["response"].is_null());
        let queued = out["call"]["id"].as_str().unwrap().to_string();
        assert_eq!(hits(), 2, "no call collected a 429");
        let row = entity::connection_call::Entity::find_by_id(&queued).one(&app.state.db).await.unwrap().unwrap();
        let stored = row.request_enc.clone().unwrap();
        assert!(!stored.contains("items"), "the queued request is encrypted");

        // The fourth waits for the reset itself.
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/items?n=3", "wait": true, "timeoutSeconds": 10 })).await;
        assert_eq!(out["call"]["status"], "SUCCEEDED", "{out}");
        assert!(out["call"]["queuedMs"].as_i64().unwrap() > 0, "{out}");

        // The queued one runs after the window, by the job engine.
        let seen = settled_call(&app, &key, &queued, "status httpStatus queuedMs responseBody", 100).await;
        assert_eq!(seen["connectionCall"]["status"], "SUCCEEDED", "{seen}");
        assert!(seen["connectionCall"]["queuedMs"].as_i64().unwrap() >= 500, "{seen}");
        assert!(seen["connectionCall"]["responseBody"].as_str().unwrap().contains("n=2"));
        assert_eq!(hits(), 4);
        let row = entity::connection_call::Entity::find_by_id(&queued).one(&app.state.db).await.unwrap().unwrap();
        assert!(row.request_enc.is_none(), "the request is dropped once it has run");
        // The dashboard, live over graphql-transport-ws: the four calls are counted.
        let auth = json!({ "Authorization": format!("Bearer {key}") });
        let mut ws = crate::helpers::WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        let live = "subscription { connectionStats(intervalSeconds: 1) { connection { id provider } stats { callsLastDay usageLabel window { requests perSeconds } } } }";
        ws.subscribe("1", live, json!({})).await;
        let msg = ws.next_json_within(std::time::Duration::from_secs(5)).await.expect("live stats");
        let entry = &msg["payload"]["data"]["connectionStats"][0];
        assert_eq!(entry["connection"]["id"], id.as_str(), "{msg}");
        assert_eq!(entry["stats"]["callsLastDay"], 4);
        assert_eq!(entry["stats"]["window"], json!({ "requests": 2, "perSeconds": 2 }));
        assert_eq!(entry["stats"]["usageLabel"], "4 / 86400");
        let again = ws.next_json_within(std::time::Duration::from_secs(5)).await.expect("a second update");
        assert_eq!(again["payload"]["data"]["connectionStats"][0]["stats"]["callsLastDay"], 4);

        // Another workspace sees none of it.
        let (_, other) = app.other_workspace("nosy@example.com").await;
        let q = "query($id: ID!) { connectionCall(id: $id) { status } }";
        app.gql_null(&other, q, json!({ "id": queued }), "connectionCall").await;
    })
    .await;
}

#[tokio::test]
async fn a_changed_setting_reaches_the_next_call_at_once_and_the_last_use_is_noted() {
    for_each_backend(&[], |app| async move {
        let (base, log) = provider().await;
        let id = custom_rest(&app, &base, None).await;
        let hits = || log.api_hits.lock().unwrap().iter().filter(|(p, _)| p.starts_with("/api/items")).count();
        let last_used = || async {
            let out = app
                .gql(&app.owner_key, "query($id: ID!) { connection(id: $id) { lastUsedAt } }", json!({ "id": id }))
                .await;
            out["connection"]["lastUsedAt"].clone()
        };
        assert_eq!(last_used().await, Value::Null);
        // No window of its own: calls go out (and the connection is read, and kept, by the first).
        for n in 0..2 {
            let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": format!("/items?n={n}") })).await;
            assert_eq!(out["call"]["status"], "SUCCEEDED", "{out}");
        }
        assert!(last_used().await.is_string(), "the first call notes the last use");
        // A window of one call an hour: the very next calls obey it.
        let window = json!({ "i": { "provider": "custom_rest", "rateLimit": { "requests": 1, "perSeconds": 3600 } } });
        let set = app.gql(&app.owner_key, SET, window).await;
        assert_eq!(set["setProviderSettings"]["userErrors"], json!([]), "{set}");
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/items?n=2" })).await;
        assert_eq!(out["call"]["status"], "SUCCEEDED", "{out}");
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/items?n=3", "wait": false })).await;
        assert_eq!(out["call"]["status"], "QUEUED", "the new window holds the fourth call: {out}");
        assert_eq!(hits(), 3);
        // Removed: the next call finds no connection.
        let del = app
            .gql(
                &app.owner_key,
                "mutation($i: DeleteConnectionInput!) { deleteConnection(input: $i) { deletedId } }",
                json!({ "i": { "id": id } }),
            )
            .await;
        assert_eq!(del["deleteConnection"]["deletedId"], id.as_str(), "{del}");
        let out = call(&app, json!({ "connectionId": id, "method": "GET", "path": "/items?n=4" })).await;
        assert_eq!(out["userErrors"][0]["code"], "NOT_FOUND", "{out}");
        assert_eq!(hits(), 3);
    })
    .await;
}

#[tokio::test]
async fn a_queued_call_waits_for_its_broken_connection_to_be_reconnected_then_runs() {
    // Every token counts as due: refresh 70 days before expiry (tokens live 60).
    for_each_backend(&["--connection-refresh-before-seconds", "6048000"], |app| async move {
        use switchyard::services::connections::refresh::{refresh_due, Outcome};
        let (base, log) = provider().await;
        let (_, cookie) = app.invite_and_accept(&app.owner_key, "rita@example.com", "OWNER").await;
        configure(&app, &cookie, "instagram", &base).await;
        let id = connect_instagram(&app, &cookie).await;
        let window = json!({ "i": { "provider": "instagram", "rateLimit": { "requests": 1, "perSeconds": 2 } } });
        let set = app.gql(&app.owner_key, SET, window).await;
        assert_eq!(set["setProviderSettings"]["userErrors"], json!([]), "{set}");
        let hits = || log.api_hits.lock().unwrap().iter().filter(|(p, _)| p.starts_with("/api/items")).count();
        // Call `n` fills the window, `n + 1` is queued behind it, then the
        // grant is withdrawn; returns the queued call's id.
        let queue_then_break = |n: u32| {
            let (app, id, log) = (&app, &id, &log);
            async move {
                let path = format!("/api/items?n={n}");
                let out = call(app, json!({ "connectionId": id, "method": "GET", "path": path })).await;
                assert_eq!(out["call"]["status"], "SUCCEEDED", "{out}");
                let path = format!("/api/items?n={}", n + 1);
                let out = call(app, json!({ "connectionId": id, "method": "GET", "path": path, "wait": false })).await;
                assert_eq!(out["call"]["status"], "QUEUED", "{out}");
                *log.valid_refresh.lock().unwrap() = "revoked".into();
                assert_eq!(refresh_due(&app.state).await.unwrap(), [(id.clone(), Outcome::Broken)]);
                out["call"]["id"].as_str().unwrap().to_string()
            }
        };

        // The grant is withdrawn before the window opens: the call waits, it does not fail.
        let queued = queue_then_break(1).await;
        let seen = noted_call(&app, &queued).await;
        assert_eq!(seen["connectionCall"]["status"], "QUEUED", "{seen}");
        assert_eq!(seen["connectionCall"]["error"], "Waiting for the Instagram connection to be reconnected", "{seen}");
        let run_after: chrono::DateTime<chrono::Utc> =
            seen["connectionCall"]["runAfter"].as_str().unwrap().parse().unwrap();
        assert!(run_after > chrono::Utc::now() + chrono::Duration::minutes(50), "it looks again in an hour: {seen}");
        assert_eq!(hits(), 1, "nothing went out with the withdrawn grant");

        // Reconnected (same id): the waiting call runs at once.
        *log.valid_refresh.lock().unwrap() = "rt-1".into();
        assert_eq!(connect_instagram(&app, &cookie).await, id);
        let seen = settled_call(&app, &app.owner_key, &queued, "status error responseBody", 100).await;
        assert_eq!(seen["connectionCall"]["status"], "SUCCEEDED", "{seen}");
        assert!(seen["connectionCall"]["responseBody"].as_str().unwrap().contains("n=2"), "{seen}");
        assert_eq!(seen["connectionCall"]["error"], Value::Null, "the note of the wait is gone: {seen}");
        assert_eq!(hits(), 2);

        // Broken again, with a call waiting; reconnected as another account:
        // the call meant for @mybusiness is not made as @otherbrand.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let queued = queue_then_break(3).await;
        noted_call(&app, &queued).await;
        *log.valid_refresh.lock().unwrap() = "rt-1".into();
        *log.me_username.lock().unwrap() = "otherbrand".into();
        assert_eq!(connect_instagram(&app, &cookie).await, id);
        let seen = settled_call(&app, &app.owner_key, &queued, "status error", 100).await;
        assert_eq!(seen["connectionCall"]["status"], "FAILED", "{seen}");
        let error = seen["connectionCall"]["error"].as_str().unwrap();
        assert!(error.contains("@otherbrand") && error.contains("not sent"), "{error}");
        assert_eq!(hits(), 3, "nothing went out for the other account");
    })
    .await;
}

#[tokio::test]
async fn a_log_row_whose_connection_is_gone_fails_alone_and_its_batch_is_kept() {
    for_each_backend(&[], |app| async move {
        let (base, _log) = provider().await;
        let id = custom_rest(&app, &base, None).await;
        let row = |n: u32, connection_id: &str| entity::connection_call::Model {
            id: format!("cal_{n:026}"),
            workspace_id: app.workspace_id.clone(),
            connection_id: connection_id.to_string(),
            method: "GET".into(),
            path: format!("/items?n={n}"),
            status: "succeeded".into(),
            http_status: Some(200),
            attempts: 1,
            duration_ms: Some(1),
            queued_ms: 0,
            request_enc: None,
            response_headers: None,
            response_body: Some("{}".into()),
            response_truncated: false,
            error: None,
            run_after: None,
            created_at: chrono::Utc::now(),
            finished_at: Some(chrono::Utc::now()),
        };
        let rows = vec![row(1, &id), row(2, "con_01JGONE0000000000000000000"), row(3, &id)];
        let out = app.state.call_log.commit_all(&app.state, rows).await;
        assert!(out[0].is_ok() && out[2].is_ok(), "{out:?}");
        assert!(out[1].is_err(), "the removed connection's row is refused: {out:?}");
        for (n, kept) in [(1, true), (2, false), (3, true)] {
            let found =
                entity::connection_call::Entity::find_by_id(format!("cal_{n:026}")).one(&app.state.db).await.unwrap();
            assert_eq!(found.is_some(), kept, "row {n}");
        }
    })
    .await;
}

/// Connection rate windows on Redis, shared by two processes (two
/// `Windows` on one prefix): a window of 1,000 calls a minute is leased in
/// blocks, yet together they never admit more than 1,000; a refused call
/// learns how long until the window ends, and while leases are out that
/// slots may come back sooner; slots a process leased and did not use go
/// back once its lease expires; and a window counted call by call (200 an
/// hour) admits exactly its limit too.
#[tokio::test]
async fn leased_rate_windows_never_admit_more_than_the_window_across_processes() {
    use std::time::Duration;
    use switchyard::services::connections::window::{Slot, Window, Windows, LEASE_TTL, RETURN_GRACE, RETURN_TAIL};
    let Some(url) = crate::helpers::redis_url() else { return };
    let prefix = crate::helpers::redis_prefix();
    let pool = || switchyard::jobs::redis::pool(&url).unwrap();
    let (a, b) = (Windows::redis(pool(), prefix.clone()), Windows::redis(pool(), prefix.clone()));
    let busy = Window { requests: 1_000, seconds: 60 };
    let (mut taken, mut refused) = (0u32, None);
    for i in 0..1_500 {
        let w = if i % 3 == 0 { &b } else { &a };
        match w.take("con_busy", busy).await.unwrap() {
            Slot::Taken { .. } => taken += 1,
            Slot::Full { wait, sooner } => refused = refused.or(Some((wait, sooner))),
        }
    }
    assert_eq!(taken, 1_000, "two processes together admitted {taken} calls of a 1,000 window");
    // A refusal says when the window ends and, leases being out, that
    // their unused slots may come back sooner.
    let (wait, sooner) = refused.expect("calls past the window were refused");
    assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60), "{wait:?}");
    let sooner = sooner.expect("leases were out when the window filled");
    assert!(sooner <= LEASE_TTL + RETURN_GRACE, "{sooner:?}");
    // Every slot was used, so none comes back; once the leases are long
    // expired, a refusal no longer says "sooner".
    tokio::time::sleep(LEASE_TTL + RETURN_GRACE + RETURN_TAIL).await;
    let late = b.take("con_busy", busy).await.unwrap();
    assert!(matches!(late, Slot::Full { wait, sooner: None } if wait > Duration::from_secs(45)), "{late:?}");

    // A window full only because another process holds slots it has not
    // used: the refused caller hears they may come back within a lease's
    // life, and they do, by that lease's own timer (no housekeeping tick).
    let lent = Window { requests: 600, seconds: 60 };
    let mut shown = false;
    for attempt in 0..3 {
        let key = format!("con_lent_{attempt}");
        let mut handed = 0;
        while a.used(&key).await.unwrap() <= handed {
            assert!(matches!(a.take(&key, lent).await.unwrap(), Slot::Taken { .. }));
            handed += 1;
            assert!(handed < 600, "{handed} calls in a row never leased slots ahead");
        }
        let leased_at = std::time::Instant::now();
        let mut filled = 0;
        let (wait, sooner) = loop {
            match b.take(&key, lent).await.unwrap() {
                Slot::Taken { .. } => filled += 1,
                Slot::Full { wait, sooner } => break (wait, sooner),
            }
            assert!(filled < 600, "the window never filled");
        };
        if leased_at.elapsed() > LEASE_TTL / 2 {
            continue; // too slow to tell: the lease may have expired while the window filled
        }
        assert!(wait > Duration::from_secs(50), "{wait:?}");
        let sooner = sooner.expect("a lease was out when the window filled");
        assert!(sooner <= LEASE_TTL + RETURN_GRACE, "{sooner:?}");
        tokio::time::sleep(sooner).await;
        assert!(
            matches!(b.take(&key, lent).await.unwrap(), Slot::Taken { .. }),
            "the other process's unused slots came back when its lease expired"
        );
        shown = true;
        break;
    }
    assert!(shown, "three tries all took over half a lease's life to fill the window");

    // A burst that stops leaves leased slots unused: they go back (by the
    // lease's timer; the housekeeping tick's `shrink` is the backstop).
    // (Leases grow while used up quickly: a few takes in a row are enough.)
    let fresh = Window { requests: 1_000, seconds: 60 };
    let mut calls = 0;
    while calls < 200 && a.used("con_burst").await.unwrap() <= calls {
        assert!(matches!(a.take("con_burst", fresh).await.unwrap(), Slot::Taken { .. }));
        calls += 1;
    }
    assert!(a.used("con_burst").await.unwrap() > calls, "{calls} calls in a row never leased slots ahead");
    tokio::time::sleep(LEASE_TTL + Duration::from_millis(100)).await;
    a.shrink().await;
    assert_eq!(a.used("con_burst").await.unwrap(), calls, "unused slots went back");

    // A 429 pauses the window: leased slots are not handed out meanwhile.
    let mut calls = 0;
    while calls < 200 && b.used("con_paused").await.unwrap() <= calls {
        assert!(matches!(b.take("con_paused", fresh).await.unwrap(), Slot::Taken { .. }));
        calls += 1;
    }
    b.pause("con_paused", Duration::from_secs(30)).await.unwrap();
    for w in [&a, &b] {
        assert!(
            matches!(w.take("con_paused", fresh).await.unwrap(), Slot::Full { wait, .. } if wait > Duration::from_secs(25))
        );
    }
    assert_eq!(b.used("con_paused").await.unwrap(), calls, "the paused process gave its slots back");

    // Instagram's window is counted call by call.
    let hourly = Window { requests: 200, seconds: 3_600 };
    for n in 1..=200u32 {
        let w = if n % 2 == 0 { &a } else { &b };
        assert_eq!(w.take("con_ig", hourly).await.unwrap(), Slot::Taken { used: n });
    }
    assert!(matches!(a.take("con_ig", hourly).await.unwrap(), Slot::Full { .. }));
    crate::helpers::wipe_redis_prefix(&url, &prefix).await;
}
