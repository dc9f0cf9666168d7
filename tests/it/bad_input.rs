//! Bad input of every kind: each case gets the right HTTP status and
//! `extensions.code`, and changes nothing. Also the rate limit, and internal
//! errors that never leak their cause.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use crate::helpers::{for_each_backend, make_key, TestApp};

const CREATE: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }";

/// What a failed request must leave alone: the number of keys, events and members.
async fn counts(app: &TestApp) -> Value {
    app.gql(&app.owner_key, "{ apiKeys { totalCount } events { totalCount } members { totalCount } }", json!({})).await
}

/// POST /graphql with a raw body and content type; returns (status, headers, body).
async fn post_raw(
    app: &TestApp,
    key: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, HeaderMap, Value) {
    let mut req = app.client.post(format!("{}/graphql", app.url)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json::<Value>().await.unwrap_or(Value::Null))
}

/// The first error's code, with the status, for one assertion.
fn outcome(status: u16, body: &Value) -> (u16, Option<&str>) {
    (status, body["errors"][0]["extensions"]["code"].as_str())
}

fn create_body(name: &str) -> Vec<u8> {
    json!({ "query": CREATE, "variables": { "i": { "name": name, "scopes": ["READ"] } } }).to_string().into_bytes()
}

#[tokio::test]
async fn malformed_bodies_are_refused_before_anything_runs() {
    for_each_backend(&[], |app: TestApp| async move {
        let before = counts(&app).await;
        let key = Some(app.owner_key.as_str());

        // Positive control: the same request, well-formed, creates a key.
        let (status, _, body) = post_raw(&app, key, Some("application/json"), create_body("control")).await;
        assert_eq!(status, 200, "[{}] {body}", app.backend);
        assert!(body["data"]["createApiKey"]["secret"].as_str().unwrap().starts_with("sk_test_"), "{body}");
        let before_bad = counts(&app).await;
        assert_ne!(before, before_bad, "the control request changed something");

        let mut truncated = create_body("truncated");
        truncated.truncate(truncated.len() - 5);
        let (status, _, body) = post_raw(&app, key, Some("application/json"), truncated).await;
        assert_eq!(outcome(status, &body), (400, Some("INVALID_REQUEST")), "[{}] malformed JSON: {body}", app.backend);

        let (status, _, body) = post_raw(&app, key, Some("application/json"), "[1, 2").await;
        assert_eq!(outcome(status, &body), (400, Some("INVALID_REQUEST")), "[{}] {body}", app.backend);

        for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
            let (status, _, body) = post_raw(&app, key, ct, create_body("wrong type")).await;
            assert_eq!(outcome(status, &body), (415, Some("INVALID_REQUEST")), "[{}] {ct:?}: {body}", app.backend);
        }
        // A charset parameter is fine.
        let (status, _, body) = post_raw(
            &app,
            key,
            Some("application/json; charset=utf-8"),
            json!({ "query": "{ viewer { role } }" }).to_string(),
        )
        .await;
        assert_eq!((status, &body["data"]["viewer"]["role"]), (200, &json!("OWNER")), "{body}");

        // 10 MB: far over the 1 MB default limit.
        let huge = json!({
            "query": format!("{CREATE} #{}", "x".repeat(10 * 1024 * 1024)),
            "variables": { "i": { "name": "huge", "scopes": ["READ"] } },
        });
        let (status, _, body) = post_raw(&app, key, Some("application/json"), huge.to_string()).await;
        assert_eq!(outcome(status, &body), (413, Some("INVALID_REQUEST")), "[{}] {body}", app.backend);

        assert_eq!(counts(&app).await, before_bad, "[{}] a refused request changed something", app.backend);
    })
    .await;
}

#[tokio::test]
async fn documents_that_cannot_run_are_invalid_requests() {
    for_each_backend(&[], |app: TestApp| async move {
        let before = counts(&app).await;
        let key = Some(app.owner_key.as_str());

        // Depth: a shallow introspection query runs; ~20 levels are refused.
        let nested = |levels: usize| {
            let mut sel = String::from("{ name }");
            for _ in 0..levels {
                sel = format!("{{ ofType {sel} }}");
            }
            format!("{{ __schema {{ types {{ fields {{ type {sel} }} }} }} }}")
        };
        let ok = app.gql(&app.owner_key, &nested(2), json!({})).await;
        assert!(ok["__schema"]["types"].as_array().is_some_and(|t| !t.is_empty()), "{ok}");
        let (status, _, body) = app.gql_raw(key, &nested(18), json!({})).await;
        // Errors found in the document travel in a 200 response, without data.
        assert_eq!(outcome(status, &body), (200, Some("INVALID_REQUEST")), "[{}] {body}", app.backend);
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("deep"), "{body}");
        assert!(body["data"].is_null(), "{body}");

        // Cost: thousands of aliased fields (each costs 1; the limit is 10 000).
        let wide: String = (0..6000).map(|i| format!("a{i}: viewer {{ role }} ")).collect();
        let (status, _, body) = app.gql_raw(key, &format!("{{ {wide} }}"), json!({})).await;
        assert_eq!(outcome(status, &body), (200, Some("INVALID_REQUEST")), "[{}] {body}", app.backend);
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("complex"), "{body}");

        // Syntax errors, unknown fields, missing arguments.
        for q in [
            "mutation { createApiKey(input: { name: \"x\", scopes: [READ] }) { secret }",
            "mutation { createApiKey(input: { name: \"x\" scopes: [READ] } { secret } }",
            "mutation { createApiKey(input: { name: \"x\", scopes: [READ] }) { secret nope } }",
            "mutation { createApiKey(input: { name: \"x\", scopes: [SUPERUSER] }) { secret } }",
            "mutation { createApiKey { secret } }",
            "",
        ] {
            let (status, _, body) = app.gql_raw(key, q, json!({})).await;
            assert_eq!(outcome(status, &body), (200, Some("INVALID_REQUEST")), "[{}] {q}: {body}", app.backend);
            assert!(body["data"].is_null(), "{q}: {body}");
        }

        // Variables of the wrong type.
        let (status, _, body) =
            app.gql_raw(key, "query($f: Int) { apiKeys(first: $f) { totalCount } }", json!({ "f": "abc" })).await;
        assert_eq!(outcome(status, &body), (200, Some("INVALID_REQUEST")), "[{}] {body}", app.backend);
        for bad in [
            json!({ "name": "x", "scopes": "abc" }),
            json!({ "name": 5, "scopes": ["READ"] }),
            json!({ "name": "x", "scopes": ["READ"], "expiresAt": "tomorrow" }),
            json!({ "name": "x", "scopes": ["READ"], "environment": "PROD" }),
            json!({ "scopes": ["READ"] }),
        ] {
            let (status, _, body) = app.gql_raw(key, CREATE, json!({ "i": bad })).await;
            assert_eq!(outcome(status, &body), (200, Some("INVALID_REQUEST")), "[{}] {bad}: {body}", app.backend);
        }

        assert_eq!(counts(&app).await, before, "[{}] an invalid document changed something", app.backend);
    })
    .await;
}

#[tokio::test]
async fn out_of_range_paging_arguments_name_the_field() {
    for_each_backend(&[], |app: TestApp| async move {
        let before = counts(&app).await;
        let key = Some(app.owner_key.as_str());
        for (list, args, field) in [
            ("apiKeys", "first: 0", "first"),
            ("apiKeys", "first: 101", "first"),
            ("apiKeys", "first: -1", "first"),
            ("apiKeys", "after: \"nope\"", "after"),
            ("members", "first: 101", "first"),
            ("events", "first: 0", "first"),
            ("events", "after: \"nope\"", "after"),
        ] {
            let q = format!("{{ {list}({args}) {{ totalCount }} }}");
            let (status, _, body) = app.gql_raw(key, &q, json!({})).await;
            assert_eq!(outcome(status, &body), (200, Some("INVALID_REQUEST")), "[{}] {q}: {body}", app.backend);
            assert_eq!(body["errors"][0]["extensions"]["details"][0]["field"], field, "{q}: {body}");
            assert!(body["data"].is_null(), "{q}: {body}");
        }
        // A cursor of another list is not a cursor of this one.
        let (key_id, _) = app.create_key(&app.owner_key, "cursor", &["READ"]).await;
        let q = "query($a: String) { events(after: $a) { totalCount } }";
        let err = app.gql_err(key, q, json!({ "a": key_id }), "INVALID_REQUEST").await;
        assert_eq!(err["extensions"]["details"][0]["field"], "after", "{err}");
        // The edges of the range are fine.
        for first in [1, 100] {
            app.gql(&app.owner_key, "query($f: Int) { apiKeys(first: $f) { totalCount } }", json!({ "f": first }))
                .await;
        }
        let after = counts(&app).await;
        assert_eq!(after["apiKeys"]["totalCount"], before["apiKeys"]["totalCount"].as_u64().unwrap() + 1);
    })
    .await;
}

#[tokio::test]
async fn invalid_key_input_is_refused_field_by_field_and_creates_nothing() {
    for_each_backend(&[], |app: TestApp| async move {
        let before = counts(&app).await;
        for (input, field, error) in [
            (json!({ "name": "", "scopes": ["READ"] }), "name", "Required field is missing"),
            (json!({ "name": "   ", "scopes": ["READ"] }), "name", "Required field is missing"),
            (json!({ "name": "x".repeat(101), "scopes": ["READ"] }), "name", "Must be at most 100 characters"),
            (
                json!({ "name": "ok", "description": "d".repeat(501), "scopes": ["READ"] }),
                "description",
                "Must be at most 500 characters",
            ),
            (json!({ "name": "ok", "scopes": [] }), "scopes", "At least one scope is required"),
            (
                json!({ "name": "ok", "scopes": ["READ"], "expiresAt": "2001-01-01T00:00:00Z" }),
                "expiresAt",
                "Must be in the future",
            ),
        ] {
            // A user error in the payload: HTTP 200, no top-level errors, no key.
            let payload =
                app.mutate_refused(&app.owner_key, "createApiKey", input.clone(), "secret apiKey { id }").await;
            let e = &payload["userErrors"][0];
            assert_eq!(e["field"], json!(["input", field]), "[{}] {input}: {payload}", app.backend);
            assert_eq!(e["message"], error, "{input}: {payload}");
            assert_eq!(e["code"], "INVALID", "{input}: {payload}");
        }
        // An update with bad input changes nothing either.
        let (id, _) = app.create_key(&app.owner_key, "kept", &["READ"]).await;
        let before_update = counts(&app).await;
        for (input, field) in [
            (json!({ "id": id, "name": "" }), "input.name"),
            (json!({ "id": id, "scopes": [] }), "input.scopes"),
            (json!({ "id": id, "expiresAt": "2001-01-01T00:00:00Z" }), "input.expiresAt"),
            (json!({ "id": id, "name": "renamed", "scopes": [] }), "input.scopes"),
            // `null` on a field that cannot be empty is refused, not ignored.
            (json!({ "id": id, "name": null }), "input.name"),
            (json!({ "id": id, "description": null }), "input.description"),
            (json!({ "id": id, "enabled": null, "name": "renamed" }), "input.enabled"),
            (json!({ "id": id, "scopes": null }), "input.scopes"),
        ] {
            let (at, code) = app.user_error(&app.owner_key, "updateApiKey", input.clone()).await;
            assert_eq!((at.as_str(), code.as_str()), (field, "INVALID"), "[{}] {input}", app.backend);
        }
        let kept = app
            .gql(&app.owner_key, "query($id: ID!) { apiKey(id: $id) { name scopes expiresAt } }", json!({ "id": id }))
            .await;
        assert_eq!(kept["apiKey"], json!({ "name": "kept", "scopes": ["READ"], "expiresAt": null }));
        assert_eq!(counts(&app).await, before_update, "[{}] a failed update changed something", app.backend);
        assert_eq!(
            before_update["apiKeys"]["totalCount"],
            before["apiKeys"]["totalCount"].as_u64().unwrap() + 1,
            "[{}] only the one valid key was created",
            app.backend
        );
    })
    .await;
}

/// PostgreSQL cannot store a NUL character in text, so no GraphQL string may
/// hold one, as a variable or written into the query; nothing is created.
#[tokio::test]
async fn strings_with_a_nul_character_are_refused_before_anything_runs() {
    for_each_backend(&[], |app: TestApp| async move {
        let before = counts(&app).await;
        for input in [
            json!({ "name": "a\u{0}b", "scopes": ["READ"] }),
            json!({ "name": "ok", "description": "x\u{0}", "scopes": ["READ"] }),
        ] {
            let err = app.gql_err(Some(&app.owner_key), CREATE, json!({ "i": input }), "INVALID_REQUEST").await;
            assert!(err["message"].as_str().unwrap().contains("NUL character"), "[{}] {err}", app.backend);
        }
        let written = r#"mutation { createApiKey(input: { name: "in\u0000line", scopes: [READ] }) { secret } }"#;
        app.gql_err(Some(&app.owner_key), written, json!({}), "INVALID_REQUEST").await;
        let invite = r#"mutation($e: String!) { inviteMember(input: { email: $e, role: COLLABORATOR }) { userErrors { code } } }"#;
        app.gql_err(Some(&app.owner_key), invite, json!({ "e": "a\u{0}@example.com" }), "INVALID_REQUEST").await;
        assert_eq!(counts(&app).await, before, "[{}] a refused request changed something", app.backend);
    })
    .await;
}

/// A path or a method the server does not serve still answers in the shape
/// its family's clients read (with `Allow` on a 405).
#[tokio::test]
async fn unknown_paths_and_methods_answer_in_their_apis_error_shape() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let send = |method: reqwest::Method, path: &str| {
            let req = app.client.request(method, format!("{}{path}", app.url)).bearer_auth(&app.owner_key);
            async move {
                let resp = req.send().await.unwrap();
                let (status, allow) = (resp.status().as_u16(), resp.headers().get("allow").cloned());
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                (status, allow.map(|a| a.to_str().unwrap().to_string()), body)
            }
        };
        use reqwest::Method;
        // The data API: `{"success": false, "error", "code"}`.
        let (status, allow, body) = send(Method::GET, "/api/v1/data/orders").await;
        assert_eq!(
            (status, body["success"].clone(), body["code"].clone()),
            (405, json!(false), json!("INVALID_REQUEST")),
            "[{b}] {body}"
        );
        assert!(allow.unwrap_or_default().contains("POST"), "[{b}]");
        let (status, _, body) = send(Method::GET, "/api/v1/nothing/here").await;
        assert_eq!((status, body["code"].clone()), (404, json!("NOT_FOUND")), "[{b}] {body}");
        // `/v1`: `{"error": {"code", "message"}}`.
        let (status, _, body) = send(Method::PATCH, "/v1/webhooks/wh_1").await;
        assert_eq!((status, body["error"]["code"].clone()), (405, json!("INVALID_REQUEST")), "[{b}] {body}");
        let (status, _, body) = send(Method::GET, "/v1/nothing").await;
        assert_eq!((status, body["error"]["code"].clone()), (404, json!("NOT_FOUND")), "[{b}] {body}");
        // GraphQL: `{"errors": [{"message", "extensions": {"code"}}]}`.
        let (status, _, body) = send(Method::PATCH, "/graphql").await;
        assert_eq!(
            (status, body["errors"][0]["extensions"]["code"].clone()),
            (405, json!("INVALID_REQUEST")),
            "[{b}] {body}"
        );
    })
    .await;
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    for_each_backend(&[], |app: TestApp| async move {
        let before = counts(&app).await;
        let key = Some(app.owner_key.as_str());
        let missing = format!("ak_01{}", "Z".repeat(24));
        for id in [missing.as_str(), "garbage", "", "ak_", "evt_01ZZZZZZZZZZZZZZZZZZZZZZZZ"] {
            let v = json!({ "id": id });
            let (status, _, body) = app.gql_raw(key, "query($id: ID!) { apiKey(id: $id) { id } }", v.clone()).await;
            assert_eq!(outcome(status, &body), (200, None), "[{}] {id:?}: {body}", app.backend);
            assert!(body["data"]["apiKey"].is_null(), "[{}] {id:?}: {body}", app.backend);
            // In a mutation the id is part of the input: a NOT_FOUND user error on `input.id`.
            for (name, input) in [
                ("deleteApiKey", v.clone()),
                ("rollApiKey", v.clone()),
                ("updateApiKey", json!({ "id": id, "enabled": false })),
            ] {
                let got = app.user_error(&app.owner_key, name, input).await;
                assert_eq!(got, ("input.id".into(), "NOT_FOUND".into()), "[{}] {name} {id:?}", app.backend);
            }
        }
        assert_eq!(counts(&app).await, before, "[{}]", app.backend);
    })
    .await;
}

#[tokio::test]
async fn bad_credentials_are_unauthorized_and_change_nothing() {
    for_each_backend(&[], |app: TestApp| async move {
        let before = counts(&app).await;
        for auth in [
            "Basic xyz",
            "Bearer sk_test_wrong",
            "Bearer sk_live_wrong",
            "Bearer ",
            "Bearer not-a-key",
            "Token sk_test_x",
        ] {
            let resp = app
                .client
                .post(format!("{}/graphql", app.url))
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(create_body("intruder"))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            assert_eq!(outcome(status, &body), (401, Some("UNAUTHORIZED")), "[{}] {auth}: {body}", app.backend);
            assert!(body.get("data").is_none_or(Value::is_null), "{body}");
        }
        // A key's secret with one character changed is just as wrong.
        let mut forged = app.owner_key.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        let (status, _, body) = post_raw(&app, Some(&forged), Some("application/json"), create_body("forged")).await;
        assert_eq!(outcome(status, &body), (401, Some("UNAUTHORIZED")), "[{}] {body}", app.backend);

        // No credentials at all: the mutation is refused by the resolver, with 401 like a bad key.
        let (status, _, body) = post_raw(&app, None, Some("application/json"), create_body("anonymous")).await;
        assert_eq!(outcome(status, &body), (401, Some("UNAUTHORIZED")), "[{}] {body}", app.backend);
        assert!(body["data"].is_null(), "{body}");

        assert_eq!(counts(&app).await, before, "[{}] a refused request changed something", app.backend);
    })
    .await;
}

#[tokio::test]
async fn the_rate_limit_counts_down_then_refuses_with_retry_after() {
    for_each_backend(&["--rate-limit-per-minute", "5"], |app: TestApp| async move {
        // A second key, made without spending the owner key's budget.
        let (_, other) = make_key(&app.state, &app.workspace_id, &app.owner_id, &switchyard::auth::Scope::ALL).await;
        let vars = |name: &str| json!({ "i": { "name": name, "scopes": ["READ"] } });
        for (i, remaining) in [4, 3, 2, 1, 0].into_iter().enumerate() {
            let (status, headers, body) = app.gql_raw(Some(&app.owner_key), CREATE, vars(&format!("r{i}"))).await;
            assert_eq!(status, 200, "[{}] request {i}: {body}", app.backend);
            assert!(body.get("errors").is_none(), "{body}");
            assert_eq!(headers["ratelimit-limit"], "5", "request {i}");
            assert_eq!(headers["ratelimit-remaining"], remaining.to_string().as_str(), "[{}] request {i}", app.backend);
            let reset: u64 = headers["ratelimit-reset"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&reset), "ratelimit-reset {reset}");
        }
        let (status, headers, body) = app.gql_raw(Some(&app.owner_key), CREATE, vars("r6")).await;
        assert_eq!(outcome(status, &body), (429, Some("RATE_LIMITED")), "[{}] {body}", app.backend);
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "retry-after {retry}");
        assert_eq!(headers["ratelimit-limit"], "5");
        assert_eq!(headers["ratelimit-remaining"], "0");
        assert!(body.get("data").is_none_or(Value::is_null), "{body}");

        // Another key has its own budget, and sees that the 6th key was not made.
        let (status, headers, body) =
            app.gql_raw(Some(&other), "{ apiKeys(first: 100) { totalCount nodes { name } } }", json!({})).await;
        assert_eq!(status, 200, "[{}] {body}", app.backend);
        assert_eq!(headers["ratelimit-remaining"], "4");
        let names: Vec<&str> =
            body["data"]["apiKeys"]["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
        assert_eq!(body["data"]["apiKeys"]["totalCount"], 7, "owner + other + r0..r4: {names:?}");
        assert!(!names.contains(&"r6"), "{names:?}");

        // The owner key is still refused right away.
        let (status, _, body) = app.gql_raw(Some(&app.owner_key), "{ viewer { role } }", json!({})).await;
        assert_eq!(outcome(status, &body), (429, Some("RATE_LIMITED")), "{body}");
    })
    .await;
}

#[tokio::test]
async fn internal_errors_never_leak_their_cause() {
    // Unit level: the error type itself.
    for err in [
        switchyard::Error::Database(sea_orm::DbErr::Custom("secret detail".into())),
        switchyard::Error::internal("secret detail"),
    ] {
        assert_eq!(err.public_message(), "Internal server error");
        assert_eq!(err.code(), "INTERNAL_ERROR");
        assert_eq!(err.status(), 500);
        let resp = axum::response::IntoResponse::into_response(err);
        assert_eq!(resp.status(), 500);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains("secret detail"), "{text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body, json!({ "success": false, "error": "Internal server error", "code": "INTERNAL_ERROR" }));
    }

    // End to end: break the database under a running server.
    for_each_backend(&[], |app: TestApp| async move {
        let before = counts(&app).await;
        use sea_orm::ConnectionTrait;
        app.state.db.execute_unprepared("DROP TABLE event").await.expect("drop the event table");

        let (status, _, body) = app.gql_raw(Some(&app.owner_key), "{ events { totalCount } }", json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL_ERROR", "[{}] {body}", app.backend);
        assert_eq!(body["errors"][0]["message"], "Internal server error", "[{}] {body}", app.backend);
        assert_eq!(status, 200, "{body}");
        let text = body.to_string();
        for leak in ["no such table", "does not exist", "relation", "SELECT", "sqlx", "event\""] {
            assert!(!text.contains(leak), "[{}] `{leak}` leaked: {text}", app.backend);
        }

        // A write whose event cannot be recorded is rolled back as a whole.
        let (_, _, body) =
            app.gql_raw(Some(&app.owner_key), CREATE, json!({ "i": { "name": "half", "scopes": ["READ"] } })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL_ERROR", "[{}] {body}", app.backend);
        assert_eq!(body["errors"][0]["message"], "Internal server error");
        let keys = app.gql(&app.owner_key, "{ apiKeys { totalCount } }", json!({})).await;
        assert_eq!(
            keys["apiKeys"]["totalCount"], before["apiKeys"]["totalCount"],
            "[{}] the key was kept",
            app.backend
        );
    })
    .await;
}
