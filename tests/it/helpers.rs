//! One place for test set-up: a fresh database per test (a temp SQLite file,
//! or a new PostgreSQL database), the real server on a random port, an owner
//! API key, and small clients for GraphQL over HTTP and WebSocket.

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database, EntityTrait, QueryOrder};
use serde_json::{json, Value};
use switchyard::auth::Scope;
use switchyard::services::api_keys::{Environment, NewApiKey};
use switchyard::{AppState, Config, Server};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The password test accounts are created with.
pub const PASSWORD: &str = "a long enough password";

/// Which storage (and queue) a run uses.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded default: SQLite and the in-process queue.
    Sqlite,
    /// Production: PostgreSQL, plus Redis (queue, bus, rate limits) when
    /// `SWITCHYARD_TEST_REDIS_URL` is set.
    Postgres(String),
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The Redis the production runs use, if any.
pub fn redis_url() -> Option<String> {
    env("SWITCHYARD_TEST_REDIS_URL")
}

/// SQLite always; PostgreSQL (+ Redis) too when `SWITCHYARD_TEST_DATABASE_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if let Some(url) = env("SWITCHYARD_TEST_DATABASE_URL") {
        v.push(Backend::Postgres(url));
    }
    v
}

/// A Redis key prefix no other test uses.
pub fn redis_prefix() -> String {
    format!("sy_t_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Deletes every key under `prefix` (what a FLUSHALL does to this test,
/// without touching the other tests that share the Redis).
pub async fn wipe_redis_prefix(url: &str, prefix: &str) {
    let client = deadpool_redis::redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        deadpool_redis::redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.unwrap();
    if !keys.is_empty() {
        let _: i64 = deadpool_redis::redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
    }
}

/// Runs a test body once per backend, each on a fresh server and database.
pub async fn for_each_backend<F, Fut>(extra_args: &[&str], body: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        let (app, server, guard) = TestApp::spawn(&backend, extra_args).await;
        body(app).await;
        server.stop().await;
        guard.cleanup().await;
    }
}

/// Keeps a test's database alive and removes it afterwards.
pub struct DbGuard {
    _dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
    /// (Redis URL, key prefix) of a production run.
    pub redis: Option<(String, String)>,
}

impl DbGuard {
    pub async fn cleanup(self) {
        if let Some((url, prefix)) = &self.redis {
            wipe_redis_prefix(url, prefix).await;
        }
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(db) = Database::connect(admin_url.as_str()).await {
                let _ = db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            }
        }
    }
}

/// Creates the database a run uses; returns its URL and the guard.
pub async fn fresh_database(backend: &Backend) -> (String, DbGuard) {
    let dir = tempfile::tempdir().expect("temp dir");
    match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, DbGuard { _dir: dir, postgres: None, redis: None })
        }
        Backend::Postgres(admin_url) => {
            let name = format!("sy_t_{}", ulid::Ulid::new().to_string().to_lowercase());
            let db = Database::connect(admin_url.as_str()).await.expect("connect to the PostgreSQL test server");
            db.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
            let base = admin_url.rsplit_once('/').map(|(b, _)| b).expect("database URL has a path");
            let url = format!("{base}/{name}");
            let redis = redis_url().map(|r| (r, redis_prefix()));
            (url, DbGuard { _dir: dir, postgres: Some((admin_url.clone(), name)), redis })
        }
    }
}

/// The arguments of a server process on an existing test database.
pub fn server_args(cfg: &Config, role: &str, listen: &str) -> Vec<String> {
    let key_file = cfg.secret_key_file.display().to_string();
    let redis = cfg.redis_url.as_deref().map(|url| (url, cfg.redis_prefix.as_str()));
    process_args(&cfg.database_url, &key_file, redis, role, listen)
}

/// The arguments of a server process on a database, key file and (URL,
/// prefix) of Redis, with the short test timings.
pub fn process_args(
    db_url: &str,
    key_file: &str,
    redis: Option<(&str, &str)>,
    role: &str,
    listen: &str,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "--listen",
        listen,
        "--role",
        role,
        "--database-url",
        db_url,
        "--secret-key-file",
        key_file,
        "--database-max-connections",
        "5",
        "--sweep-interval-seconds",
        "1",
        "--sweep-grace-seconds",
        "2",
        "--visibility-timeout-seconds",
        "6",
        "--shutdown-grace-seconds",
        "5",
        "--allow-private-targets",
        "true",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some((url, prefix)) = redis {
        args.extend(["--redis-url".into(), url.to_string(), "--redis-prefix".into(), prefix.to_string()]);
    }
    args
}

/// A running test server plus an owner API key for its first workspace.
#[derive(Clone)]
pub struct TestApp {
    pub url: String,
    /// The metrics listener, when the test asked for one.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub state: AppState,
    pub client: reqwest::Client,
    /// An `sk_test_…` key of the owner with every scope.
    pub owner_key: String,
    pub owner_id: String,
    pub workspace_id: String,
    pub setup_url: Option<String>,
    pub backend: String,
}

impl TestApp {
    pub async fn spawn(backend: &Backend, extra_args: &[&str]) -> (TestApp, Server, DbGuard) {
        let (db_url, guard) = fresh_database(backend).await;
        let key_file = guard._dir.path().join("secret.key");
        let mut args: Vec<String> = vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--database-url".into(),
            db_url,
            "--secret-key-file".into(),
            key_file.display().to_string(),
            "--database-max-connections".into(),
            "5".into(),
            "--usage-flush-seconds".into(),
            "1".into(),
            "--shutdown-grace-seconds".into(),
            "5".into(),
            "--sweep-interval-seconds".into(),
            "1".into(),
            "--sweep-grace-seconds".into(),
            "2".into(),
            "--visibility-timeout-seconds".into(),
            "10".into(),
            "--queue-status-interval-ms".into(),
            "200".into(),
            // Test receivers listen on 127.0.0.1.
            "--allow-private-targets".into(),
            "true".into(),
        ];
        if let Some((url, prefix)) = &guard.redis {
            args.extend(["--redis-url".into(), url.clone(), "--redis-prefix".into(), prefix.clone()]);
        }
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let config = Config::from_args(args).expect("valid test config");
        let server = switchyard::start(config).await.expect("server starts");
        let state = server.state.clone();
        let owner = entity::user::Entity::find()
            .order_by_asc(entity::user::Column::Id)
            .one(&state.db)
            .await
            .unwrap()
            .expect("bootstrap created the owner");
        let ws = entity::workspace::Entity::find().one(&state.db).await.unwrap().expect("bootstrap workspace");
        let (_, owner_key) = make_key(&state, &ws.id, &owner.id, &Scope::ALL).await;
        let app = TestApp {
            url: format!("http://{}", server.addr),
            metrics_addr: server.metrics_addr,
            client: reqwest::Client::new(),
            owner_key,
            owner_id: owner.id,
            workspace_id: ws.id,
            setup_url: server.setup_url.clone(),
            backend: format!("{backend:?}").split('(').next().unwrap_or("?").to_string(),
            state,
        };
        (app, server, guard)
    }

    /// POST /graphql with an optional bearer key; returns (status, headers, body).
    pub async fn gql_raw(
        &self,
        key: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req =
            self.client.post(format!("{}/graphql", self.url)).json(&json!({ "query": query, "variables": variables }));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// A GraphQL request that must succeed; returns `data`.
    pub async fn gql(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, _, body) = self.gql_raw(Some(key), query, variables).await;
        assert_eq!(status, 200, "[{}] {body}", self.backend);
        assert!(body.get("errors").is_none(), "[{}] unexpected errors: {body}", self.backend);
        body["data"].clone()
    }

    /// A lookup that must answer `null` without errors ("not found or not
    /// yours"); `field` is the lookup's name in `data`.
    pub async fn gql_null(&self, key: &str, query: &str, variables: Value, field: &str) {
        let (status, _, body) = self.gql_raw(Some(key), query, variables).await;
        assert_eq!(status, 200, "[{}] {body}", self.backend);
        assert!(body.get("errors").is_none(), "[{}] unexpected errors: {body}", self.backend);
        assert!(
            body["data"].get(field).is_some_and(Value::is_null),
            "[{}] {field} should be null: {body}",
            self.backend
        );
    }

    /// A GraphQL request that must fail with `code`; returns the first error.
    pub async fn gql_err(&self, key: Option<&str>, query: &str, variables: Value, code: &str) -> Value {
        let (_, _, body) = self.gql_raw(key, query, variables).await;
        let err = body["errors"][0].clone();
        assert_eq!(err["extensions"]["code"], code, "[{}] {body}", self.backend);
        err
    }

    /// Runs the mutation `name(input: $i) { <selection> userErrors {…} }`
    /// and returns the whole response body (status must be 200).
    pub async fn mutation_raw(&self, key: Option<&str>, name: &str, input: Value, selection: &str) -> Value {
        let query = mutation_query(name, selection);
        let (status, _, body) = self.gql_raw(key, &query, json!({ "i": input })).await;
        assert_eq!(status, 200, "[{}] {name}: {body}", self.backend);
        body
    }

    /// A mutation that must succeed without errors or user errors; returns
    /// its payload.
    pub async fn mutate(&self, key: &str, name: &str, input: Value, selection: &str) -> Value {
        let body = self.mutation_raw(Some(key), name, input, selection).await;
        assert!(body.get("errors").is_none(), "[{}] {name}: unexpected errors: {body}", self.backend);
        let payload = body["data"][name].clone();
        assert_eq!(payload["userErrors"], json!([]), "[{}] {name}: unexpected user errors: {body}", self.backend);
        payload
    }

    /// A mutation that must answer user errors (and no top-level errors);
    /// returns the payload, whose other fields must all be null.
    pub async fn mutate_refused(&self, key: &str, name: &str, input: Value, selection: &str) -> Value {
        let body = self.mutation_raw(Some(key), name, input, selection).await;
        assert!(body.get("errors").is_none(), "[{}] {name}: unexpected errors: {body}", self.backend);
        let payload = body["data"][name].clone();
        let errors = payload["userErrors"].as_array().expect("userErrors");
        assert!(!errors.is_empty(), "[{}] {name}: user errors expected: {body}", self.backend);
        for (k, v) in payload.as_object().unwrap() {
            if k != "userErrors" && k != "requeued" && k != "retried" && k != "jobs" {
                assert!(v.is_null(), "[{}] {name}: {k} should be null with user errors: {body}", self.backend);
            }
        }
        payload
    }

    /// The first user error of a refused mutation, as `(field path, code)`,
    /// e.g. `("input.name", "INVALID")`.
    pub async fn user_error(&self, key: &str, name: &str, input: Value) -> (String, String) {
        let payload = self.mutate_refused(key, name, input, "").await;
        let e = &payload["userErrors"][0];
        let field = e["field"].as_array().map(|f| f.iter().map(|p| p.as_str().unwrap()).collect::<Vec<_>>().join("."));
        (field.unwrap_or_default(), e["code"].as_str().unwrap().to_string())
    }

    /// The membership id (`mem_…`) of a user of this workspace.
    pub async fn member_id(&self, key: &str, user_id: &str) -> String {
        let data = self.gql(key, "{ members(first: 100) { edges { node { id user { id } } } } }", json!({})).await;
        let edges = data["members"]["edges"].as_array().unwrap();
        let m = edges.iter().find(|e| e["node"]["user"]["id"] == user_id).expect("a member");
        m["node"]["id"].as_str().unwrap().to_string()
    }

    /// Creates a key through the API and returns (id, secret).
    pub async fn create_key(&self, key: &str, name: &str, scopes: &[&str]) -> (String, String) {
        let out =
            self.mutate(key, "createApiKey", json!({ "name": name, "scopes": scopes }), "secret apiKey { id }").await;
        (out["apiKey"]["id"].as_str().unwrap().to_string(), out["secret"].as_str().unwrap().to_string())
    }

    /// Adds a collaborator through the service layer and gives them a key.
    pub async fn collaborator_key(&self, email: &str) -> (String, String) {
        let (member, _) = switchyard::services::members::add_unchecked(
            &self.state,
            &self.workspace_id,
            "system",
            email,
            None,
            switchyard::auth::Role::Collaborator,
        )
        .await
        .expect("collaborator added");
        let (_, secret) = make_key(&self.state, &self.workspace_id, &member.user.id, &Scope::ALL).await;
        (member.user.id, secret)
    }

    /// POSTs JSON to an /auth route with the CSRF header (and a session
    /// cookie if given); returns (status, the `sy_session=…` pair of a
    /// Set-Cookie, body).
    pub async fn auth_post(&self, path: &str, body: Value, cookie: Option<&str>) -> (u16, Option<String>, Value) {
        let mut req = self.client.post(format!("{}{path}", self.url)).header("x-switchyard-csrf", "1").json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let cookie = resp
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
        (status, cookie, resp.json().await.unwrap_or(Value::Null))
    }

    /// POST /graphql as a browser session (cookie + CSRF header); returns the whole body.
    pub async fn gql_session(&self, cookie: &str, query: &str, variables: Value) -> Value {
        let resp = self
            .client
            .post(format!("{}/graphql", self.url))
            .header("cookie", cookie)
            .header("x-switchyard-csrf", "1")
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        resp.json().await.expect("a JSON body")
    }

    /// Invites `email` as `role` (`OWNER` or `COLLABORATOR`) with an owner's
    /// key; returns the invitation's token.
    pub async fn invite(&self, key: &str, email: &str, role: &str) -> String {
        let data = self.mutate(key, "inviteMember", json!({ "email": email, "role": role }), "acceptUrl").await;
        let url = data["acceptUrl"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/invite?token=", self.url)), "{url}");
        url.split("token=").nth(1).unwrap().to_string()
    }

    /// Invites a new address with an owner's key and accepts it as the
    /// invitee would (creating the account with [`PASSWORD`]); returns
    /// (user id, session cookie pair).
    pub async fn invite_and_accept(&self, key: &str, email: &str, role: &str) -> (String, String) {
        let token = self.invite(key, email, role).await;
        let (status, cookie, body) =
            self.auth_post("/auth/invite/accept", json!({ "token": token, "password": PASSWORD }), None).await;
        assert_eq!(status, 200, "[{}] {body}", self.backend);
        let cookie = cookie.expect("a session cookie");
        let me = self.gql_session(&cookie, "{ viewer { user { id } } }", json!({})).await;
        (me["data"]["viewer"]["user"]["id"].as_str().unwrap().to_string(), cookie)
    }

    /// A second workspace with its own owner; returns (workspace id, owner key).
    pub async fn other_workspace(&self, email: &str) -> (String, String) {
        let (ws, member, _) =
            switchyard::services::workspaces::create_with_owner(&self.state, "Other", email, None).await.unwrap();
        let (_, key) = make_key(&self.state, &ws.id, &member.user.id, &Scope::ALL).await;
        (ws.id, key)
    }

    /// A new `sk_live_…` key of the owner with every scope: `owner_key` is a
    /// test key and sees sandbox records only.
    pub async fn live_key(&self) -> String {
        make_key_in(&self.state, &self.workspace_id, &self.owner_id, &Scope::ALL, Environment::Live).await.1
    }

    pub fn ws_url(&self) -> String {
        format!("{}/graphql/ws", self.url.replace("http://", "ws://"))
    }
}

/// `mutation($i: NameInput!) { name(input: $i) { <selection> userErrors { field message code } } }`.
pub fn mutation_query(name: &str, selection: &str) -> String {
    let input = format!("{}{}Input", name[..1].to_uppercase(), &name[1..]);
    format!("mutation($i: {input}!) {{ {name}(input: $i) {{ {selection} userErrors {{ field message code }} }} }}")
}

/// Inserts a `sk_test_…` key directly (no caller check), as the admin command does.
pub async fn make_key(state: &AppState, ws: &str, user: &str, scopes: &[Scope]) -> (String, String) {
    make_key_in(state, ws, user, scopes, Environment::Test).await
}

/// [`make_key`] for either environment: an `sk_live_…` key is the one that
/// sees live records (those of live data keys, the console and syncs).
pub async fn make_key_in(
    state: &AppState,
    ws: &str,
    user: &str,
    scopes: &[Scope],
    environment: Environment,
) -> (String, String) {
    let input = NewApiKey {
        name: "test".into(),
        description: None,
        permissions: scopes.to_vec(),
        expires_at: None,
        environment,
    };
    let (key, secret) =
        switchyard::services::api_keys::insert(state, ws, user, "system", input).await.expect("key inserted");
    (key.id, secret)
}

/// A GraphQL WebSocket client speaking `protocol`.
pub struct WsClient {
    pub socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pub protocol: &'static str,
}

impl WsClient {
    /// Connects and completes `connection_init` with `payload`.
    pub async fn connect(url: &str, protocol: &'static str, payload: Value) -> WsClient {
        Self::connect_with(url, protocol, payload, &[]).await
    }

    /// [`WsClient::connect`] with extra upgrade-request headers (a cookie and
    /// its `Origin`, as a browser sends them).
    pub async fn connect_with(
        url: &str,
        protocol: &'static str,
        payload: Value,
        headers: &[(&'static str, &str)],
    ) -> WsClient {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
        for (name, value) in headers {
            req.headers_mut().insert(*name, value.parse().unwrap());
        }
        let (socket, resp) = tokio_tungstenite::connect_async(req).await.expect("websocket connects");
        assert_eq!(resp.headers()["sec-websocket-protocol"], protocol);
        let mut c = WsClient { socket, protocol };
        c.send(json!({ "type": "connection_init", "payload": payload })).await;
        let ack = c.next_json().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        c
    }

    pub async fn send(&mut self, v: Value) {
        self.socket.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    /// Starts a subscription with id `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == "graphql-ws" { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } })).await;
    }

    /// Runs a query or mutation over the socket (`graphql-transport-ws`) and
    /// returns its first `next` payload, or the close message if the server
    /// closed the connection instead.
    pub async fn execute(&mut self, id: &str, query: &str, variables: Value) -> Value {
        self.subscribe(id, query, variables).await;
        loop {
            let msg = self.next_json().await.expect("an answer or a close");
            match msg["type"].as_str() {
                Some("next") | Some("data") if msg["id"] == id => return msg["payload"].clone(),
                Some("error") if msg["id"] == id => return json!({ "errors": msg["payload"] }),
                Some("__close") => return msg,
                _ => continue,
            }
        }
    }

    /// Waits up to `wait` for the server to close the connection; its code.
    pub async fn closed_within(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(m) = self.next_json_within(deadline.saturating_duration_since(tokio::time::Instant::now())).await
        {
            if m["type"] == "__close" {
                return m["code"].as_u64().map(|c| c as u16);
            }
        }
        None
    }

    /// The next JSON message (skipping keep-alives), or `None` after 5 s or on close.
    pub async fn next_json(&mut self) -> Option<Value> {
        self.next_json_within(Duration::from_secs(5)).await
    }

    pub async fn next_json_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()??.ok()?;
            match msg {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "ka" || v["type"] == "ping" {
                        continue;
                    }
                    return Some(v);
                }
                Message::Close(frame) => {
                    return Some(json!({ "type": "__close", "code": frame.map(|f| u16::from(f.code)) }))
                }
                _ => continue,
            }
        }
    }
}

/// Waits until `n` runs of subscriptions listen for events in `app`'s
/// process; fails after 5 s.
pub async fn wait_for_runs(app: &TestApp, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.state.live.len() != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "[{}] {} runs listen, not {n}",
            app.backend,
            app.state.live.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
