//! The server as a whole: the committed schema, the command line, health
//! probes and request ids, the embedded pages, graceful shutdown, the admin
//! commands and the secret key file.

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard::Config;

use crate::helpers::{backends, for_each_backend, fresh_database, TestApp, WsClient};

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");

fn schema_file() -> String {
    std::fs::read_to_string(SCHEMA_FILE).expect("schema.graphql is in the repository")
}

/// Runs the real binary with `args`, without any `SWITCHYARD_*` variables
/// from the test's environment.
pub(crate) fn switchyard(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHYARD_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("the switchyard binary runs")
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

/// Names of the types an SDL document defines (top-level definitions).
fn sdl_type_names(sdl: &str) -> BTreeSet<String> {
    sdl.lines()
        .filter_map(|l| {
            // Definitions start at the first column; descriptions are indented.
            let mut words = l.split(' ');
            match words.next() {
                Some("type" | "input" | "enum" | "scalar" | "interface" | "union") => {
                    words.next().map(|w| w.trim_end_matches('{').to_string())
                }
                _ => None,
            }
        })
        .collect()
}

#[tokio::test]
async fn the_committed_schema_is_the_served_schema() {
    let file = schema_file();
    assert!(
        file == switchyard::graphql::sdl(),
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql` and commit it"
    );
    let defined = sdl_type_names(&file);
    assert!(defined.contains("ApiKey") && defined.contains("SubscriptionRoot"), "{defined:?}");

    for_each_backend(&[], |app: TestApp| {
        let defined = defined.clone();
        async move {
            let data = app
                .gql(
                    &app.owner_key,
                    "{ __schema { queryType { name } mutationType { name } subscriptionType { name } types { name } } }",
                    json!({}),
                )
                .await;
            let s = &data["__schema"];
            assert_eq!(
                (s["queryType"]["name"].as_str(), s["mutationType"]["name"].as_str()),
                (Some("QueryRoot"), Some("MutationRoot"))
            );
            assert_eq!(s["subscriptionType"]["name"], "SubscriptionRoot");
            let builtin = ["String", "Int", "Float", "Boolean", "ID"];
            let served: BTreeSet<String> = s["types"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string())
                .filter(|n| !n.starts_with("__") && !builtin.contains(&n.as_str()))
                .collect();
            assert_eq!(
                served, defined,
                "[{}] the running server's types differ from schema.graphql: run `cargo run -- schema > schema.graphql`",
                app.backend
            );
        }
    })
    .await;
}

#[tokio::test]
async fn the_binary_prints_the_schema_and_its_help() {
    for backend in backends() {
        let (db_url, guard) = fresh_database(&backend).await;
        let out = switchyard(&["schema", "--database-url", &db_url]);
        assert!(out.status.success(), "[{backend:?}] {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            stdout(&out) == schema_file(),
            "[{backend:?}] `switchyard schema` differs from schema.graphql: run `cargo run -- schema > schema.graphql`"
        );

        let out = switchyard(&["--help"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let help = stdout(&out);
        assert!(help.contains("SWITCHYARD_DATABASE_URL"), "{help}");
        assert!(help.contains("--database-url"), "{help}");
        let commands: BTreeSet<&str> = help
            .lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for c in ["serve", "migrate", "schema", "admin"] {
            assert!(commands.contains(c), "`{c}` missing from the commands {commands:?} in:\n{help}");
        }

        let out = switchyard(&["admin", "--help"]);
        assert!(out.status.success());
        let admin = stdout(&out);
        for c in ["create-user", "create-api-key", "setup-link"] {
            assert!(admin.contains(c), "`{c}` missing from:\n{admin}");
        }
        // An unknown command fails with a usage error.
        let out = switchyard(&["frobnicate"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
        guard.cleanup().await;
    }
}

#[tokio::test]
async fn health_probes_answer_and_every_response_has_a_request_id() {
    for_each_backend(&[], |app: TestApp| async move {
        let mut ids = BTreeSet::new();
        for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
            let resp = app.client.get(format!("{}{path}", app.url)).send().await.unwrap();
            assert_eq!(resp.status(), 200, "[{}] {path}", app.backend);
            let id = resp.headers().get("x-request-id").expect("x-request-id").to_str().unwrap().to_string();
            assert!(ulid::Ulid::from_string(&id).is_ok(), "a ULID request id: {id}");
            ids.insert(id);
            assert_eq!(resp.text().await.unwrap(), body, "[{}] {path}", app.backend);
        }
        let (status, headers, _) = app.gql_raw(Some(&app.owner_key), "{ viewer { role } }", json!({})).await;
        assert_eq!(status, 200);
        ids.insert(headers["x-request-id"].to_str().unwrap().to_string());
        let (status, headers, _) = app.gql_raw(None, "{ viewer { role } }", json!({})).await;
        assert_eq!(status, 401, "no credential and only UNAUTHORIZED errors");
        ids.insert(headers["x-request-id"].to_str().unwrap().to_string());
        let resp = app.client.get(format!("{}/no-such-page", app.url)).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        ids.insert(resp.headers()["x-request-id"].to_str().unwrap().to_string());
        assert_eq!(ids.len(), 5, "each response has its own id: {ids:?}");

        // A request id sent by the client is kept.
        let resp =
            app.client.get(format!("{}/healthz", app.url)).header("x-request-id", "trace-me-123").send().await.unwrap();
        assert_eq!(resp.headers()["x-request-id"], "trace-me-123");
    })
    .await;
}

#[tokio::test]
async fn the_playground_and_sign_in_pages_are_served_offline() {
    for_each_backend(&[], |app: TestApp| async move {
        let get = |path: &str| app.client.get(format!("{}{path}", app.url)).send();
        let resp = get("/playground").await.unwrap();
        assert_eq!(resp.status(), 200, "[{}]", app.backend);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = resp.text().await.unwrap();
        assert!(html.contains("graphiql"), "{html}");
        assert!(html.contains("/playground/vendor/graphiql.min.js"), "the page loads the vendored bundle");

        let resp = get("/playground/vendor/graphiql.min.js").await.unwrap();
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.contains("javascript"), "{ct}");
        let bytes = resp.bytes().await.unwrap();
        let on_disk = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/playground/vendor/graphiql.min.js")).unwrap();
        assert!(
            bytes == on_disk,
            "the served bundle is the vendored file ({} vs {} bytes)",
            bytes.len(),
            on_disk.len()
        );

        let resp = get("/playground/vendor/graphiql.min.css").await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/css"));

        for missing in
            ["/playground/vendor/nope.js", "/playground/vendor/VERSIONS.txt", "/playground/vendor/..%2FCargo.toml"]
        {
            assert_eq!(get(missing).await.unwrap().status(), 404, "{missing}");
        }

        for (path, text) in [("/login", "Sign in"), ("/setup", "password"), ("/invite", "Accept invitation")] {
            let resp = get(path).await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
            let html = resp.text().await.unwrap();
            assert!(html.contains(text), "{path}: {html}");
        }

        // `/` and `GET /graphql` lead to the playground.
        for path in ["/", "/graphql"] {
            let resp = get(path).await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            assert_eq!(resp.url().path(), "/playground", "{path}");
        }
    })
    .await;
}

#[tokio::test]
async fn graceful_shutdown_closes_subscriptions_and_stops_listening() {
    for backend in backends() {
        let (app, server, guard) = TestApp::spawn(&backend, &[]).await;
        let auth = json!({ "Authorization": format!("Bearer {}", app.owner_key) });
        let mut ws = WsClient::connect(&app.ws_url(), "graphql-transport-ws", auth).await;
        ws.subscribe("1", "subscription { events { type } }", json!({})).await;
        // Wait until the subscription is live.
        let mut live = false;
        for i in 0..10 {
            app.create_key(&app.owner_key, &format!("k{i}"), &["READ"]).await;
            if let Some(m) = ws.next_json_within(Duration::from_secs(1)).await {
                assert_eq!(m["type"], "next", "{m}");
                live = true;
                break;
            }
        }
        assert!(live, "[{backend:?}] the subscription never delivered an event");
        while ws.next_json_within(Duration::from_millis(300)).await.is_some() {}
        let ready = app.client.get(format!("{}/readyz", app.url)).send().await.unwrap();
        assert_eq!(ready.status(), 200);

        // The open subscription must not hold shutdown up for the grace period (5 s).
        let started = Instant::now();
        server.stop().await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(4), "[{backend:?}] stop took {took:?}");

        // The server closes the socket with 1001 (going away); the
        // subscription gets no `complete` before that.
        let m = ws.next_json().await.expect("a close frame after shutdown");
        assert_eq!(m, json!({ "type": "__close", "code": 1001 }), "[{backend:?}]");

        // Nothing listens any more.
        let err = reqwest::Client::new()
            .get(format!("{}/healthz", app.url))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect_err("the server no longer accepts connections");
        assert!(err.is_connect(), "[{backend:?}] {err}");
        guard.cleanup().await;
    }
}

#[tokio::test]
async fn admin_commands_create_a_user_and_a_key_that_the_server_accepts() {
    for backend in backends() {
        let (db_url, guard) = fresh_database(&backend).await;
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("k").display().to_string();
        let db_flags = ["--database-url", db_url.as_str(), "--secret-key-file", key_file.as_str()];

        let mut args = vec!["admin", "create-user", "--email", "a@b.c", "--new-workspace", "W"];
        args.extend(db_flags);
        let out = switchyard(&args);
        assert!(out.status.success(), "[{backend:?}] {}", String::from_utf8_lossy(&out.stderr));
        let text = stdout(&out);
        assert!(text.contains("a@b.c"), "{text}");
        let link = text.split_whitespace().find(|w| w.contains("/setup?token=")).unwrap_or_else(|| panic!("{text}"));
        assert!(link.starts_with("http://") && link.len() > "http://x/setup?token=".len() + 20, "{link}");

        let mut args = vec!["admin", "create-api-key", "--email", "a@b.c"];
        args.extend(db_flags);
        let out = switchyard(&args);
        assert!(out.status.success(), "[{backend:?}] {}", String::from_utf8_lossy(&out.stderr));
        let secret = stdout(&out).trim().to_string();
        assert!(secret.starts_with("sk_test_") && !secret.contains(char::is_whitespace), "stdout: {secret:?}");

        // An unknown user is an error, with nothing on stdout.
        let mut args = vec!["admin", "create-api-key", "--email", "nobody@b.c"];
        args.extend(db_flags);
        let out = switchyard(&args);
        assert!(!out.status.success());
        assert_eq!(stdout(&out), "");

        let mut flags: Vec<&str> = db_flags.to_vec();
        flags.extend(["--listen", "127.0.0.1:0"]);
        let server = switchyard::start(Config::from_args(flags).unwrap()).await.expect("server starts");
        assert_eq!(server.setup_url, None, "[{backend:?}] no first-start owner on a database that has users");
        let resp = reqwest::Client::new()
            .post(format!("http://{}/graphql", server.addr))
            .bearer_auth(&secret)
            .json(&json!({ "query": "{ viewer { user { email } workspace { name } role scopes credential } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["data"]["viewer"],
            json!({ "user": { "email": "a@b.c" }, "workspace": { "name": "W" }, "role": "OWNER",
                    "scopes": ["READ", "WRITE", "ADMIN"], "credential": "API_KEY" }),
            "[{backend:?}] {body}"
        );
        server.stop().await;
        guard.cleanup().await;
    }
}

#[tokio::test]
async fn the_secret_key_file_is_created_private_and_reused() {
    for backend in backends() {
        let (db_url, guard) = fresh_database(&backend).await;
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("secret.key");
        let args = [
            "--database-url",
            db_url.as_str(),
            "--secret-key-file",
            key_path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ];
        assert!(!key_path.exists());
        let server = switchyard::start(Config::from_args(args).unwrap()).await.expect("server starts");
        let meta = std::fs::metadata(&key_path).expect("the key file is created on first start");
        assert!(meta.len() >= 32, "{} bytes", meta.len());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "[{backend:?}]");
        }
        let owner = server.state.db.clone();
        let user = {
            use sea_orm::EntityTrait;
            entity::user::Entity::find().one(&owner).await.unwrap().expect("the first owner")
        };
        let ws = {
            use sea_orm::EntityTrait;
            entity::workspace::Entity::find().one(&owner).await.unwrap().expect("the first workspace")
        };
        let (_, secret) =
            crate::helpers::make_key(&server.state, &ws.id, &user.id, &switchyard::auth::Scope::ALL).await;
        let bytes = std::fs::read(&key_path).unwrap();
        server.stop().await;

        // A restart reads the same key, so existing API keys keep working.
        let server = switchyard::start(Config::from_args(args).unwrap()).await.expect("server restarts");
        assert_eq!(std::fs::read(&key_path).unwrap(), bytes, "the key file is not rewritten");
        let resp = reqwest::Client::new()
            .post(format!("http://{}/graphql", server.addr))
            .bearer_auth(&secret)
            .json(&json!({ "query": "{ viewer { user { id } } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "[{backend:?}] the key made before the restart still works");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["data"]["viewer"]["user"]["id"], user.id.as_str(), "{body}");
        server.stop().await;
        guard.cleanup().await;
    }
}

/// The introspection query GraphiQL sends on load (graphql-js
/// `getIntrospectionQuery()`): the depth and complexity limits must let it
/// through, or the playground has no schema.
#[tokio::test]
async fn graphiqls_introspection_query_passes_the_limits() {
    const INTROSPECTION: &str = r#"query IntrospectionQuery {
      __schema {
        queryType { name } mutationType { name } subscriptionType { name }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description
      fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
    }"#;
    for_each_backend(&[], |app: TestApp| async move {
        let (status, _, body) = app.gql_raw(None, INTROSPECTION, json!({})).await;
        assert_eq!(status, 200);
        assert!(body.get("errors").is_none(), "[{}] {body}", app.backend);
        assert!(body["data"]["__schema"]["types"].as_array().is_some_and(|t| t.len() > 50));
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_loads_the_connections_panel_script() {
    for_each_backend(&[], |app: TestApp| async move {
        let get = |path: &str| app.client.get(format!("{}{path}", app.url)).send();
        let html = get("/dashboard").await.unwrap().text().await.unwrap();
        for marker in
            ["id=\"connections-panel\"", "id=\"psettings-form\"", "<script src=\"/playground/connections.js\">"]
        {
            assert!(html.contains(marker), "[{}] {marker}", app.backend);
        }
        let resp = get("/playground/connections.js").await.unwrap();
        assert_eq!(resp.status(), 200, "[{}]", app.backend);
        assert!(resp.headers()["content-type"].to_str().unwrap().contains("javascript"));
        let served = resp.text().await.unwrap();
        let on_disk =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/playground/connections.js")).unwrap();
        assert_eq!(served, on_disk, "the served script is the file in playground/");
        // The OAuth callback page sends the browser back to the panel.
        let page = get("/connect/instagram/callback").await.unwrap().text().await.unwrap();
        assert!(page.contains("/dashboard#connections-panel"), "[{}] the callback returns to the panel", app.backend);
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_holds_the_management_areas() {
    // Issue 25's API keys, webhooks, data endpoints, members and events areas:
    // one delimited block each in the dashboard, and its script served as on disk.
    for_each_backend(&[], |app: TestApp| async move {
        let get = |path: &str| app.client.get(format!("{}{path}", app.url)).send();
        let html = get("/dashboard").await.unwrap().text().await.unwrap();
        for area in ["api-keys", "webhooks", "data-endpoints", "members", "events"] {
            let (open, close) = (format!("<!-- area: {area} -->"), format!("<!-- /area: {area} -->"));
            let start = html.find(&open).unwrap_or_else(|| panic!("[{}] no block for {area}", app.backend));
            let end = html.find(&close).unwrap_or_else(|| panic!("[{}] {area}'s block is not closed", app.backend));
            assert!(html[start..end].contains(&format!("data-area=\"{area}\"")), "[{}] {area}", app.backend);
            assert!(html.contains(&format!("<script src=\"/playground/{area}.js\">")), "[{}] {area}", app.backend);
            let resp = get(&format!("/playground/{area}.js")).await.unwrap();
            assert_eq!(resp.status(), 200, "[{}] {area}", app.backend);
            assert!(resp.headers()["content-type"].to_str().unwrap().contains("javascript"));
            let on_disk =
                std::fs::read_to_string(format!("{}/playground/{area}.js", env!("CARGO_MANIFEST_DIR"))).unwrap();
            assert_eq!(resp.text().await.unwrap(), on_disk, "[{}] {area}.js is the file in playground/", app.backend);
        }
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_loads_the_actions_panel_script() {
    for_each_backend(&[], |app: TestApp| async move {
        let get = |path: &str| app.client.get(format!("{}{path}", app.url)).send();
        let html = get("/dashboard").await.unwrap().text().await.unwrap();
        for marker in ["id=\"actions-panel\"", "id=\"runs-rows\"", "<script src=\"/playground/actions.js\">"] {
            assert!(html.contains(marker), "[{}] {marker}", app.backend);
        }
        let resp = get("/playground/actions.js").await.unwrap();
        assert_eq!(resp.status(), 200, "[{}]", app.backend);
        assert!(resp.headers()["content-type"].to_str().unwrap().contains("javascript"));
        let served = resp.text().await.unwrap();
        let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/playground/actions.js")).unwrap();
        assert_eq!(served, on_disk, "the served script is the file in playground/");
    })
    .await;
}

#[tokio::test]
async fn the_dashboard_loads_the_oauth_panels_script() {
    for_each_backend(&[], |app: TestApp| async move {
        let get = |path: &str| app.client.get(format!("{}{path}", app.url)).send();
        let html = get("/dashboard").await.unwrap().text().await.unwrap();
        for marker in ["id=\"oauth-panel\"", "id=\"authorized-panel\"", "<script src=\"/playground/oauth-apps.js\">"] {
            assert!(html.contains(marker), "[{}] {marker}", app.backend);
        }
        let resp = get("/playground/oauth-apps.js").await.unwrap();
        assert_eq!(resp.status(), 200, "[{}]", app.backend);
        assert!(resp.headers()["content-type"].to_str().unwrap().contains("javascript"));
        let served = resp.text().await.unwrap();
        let on_disk =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/playground/oauth-apps.js")).unwrap();
        assert_eq!(served, on_disk, "the served script is the file in playground/");
    })
    .await;
}
