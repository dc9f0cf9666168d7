//! Browser sign-in: the first-start setup link, password login, the session
//! cookie and its CSRF rule, logout.

use reqwest::header::{CONTENT_TYPE, SET_COOKIE};
use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp};

const PASSWORD: &str = "a long enough password";

/// POSTs JSON to an /auth route with the CSRF header; returns (status, cookie, body).
async fn auth_post(app: &TestApp, path: &str, body: Value, cookie: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = app.client.post(format!("{}{path}", app.url)).header("x-switchyard-csrf", "1").json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let cookie = resp.headers().get(SET_COOKIE).map(|v| v.to_str().unwrap().to_string());
    (status, cookie, resp.json().await.unwrap_or(Value::Null))
}

fn token_of(setup_url: &str) -> String {
    setup_url.split("token=").nth(1).unwrap().to_string()
}

/// `sy_session=…` from a Set-Cookie value.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

async fn gql_with_cookie(app: &TestApp, cookie: &str, csrf: bool, query: &str) -> (u16, Value) {
    let mut req =
        app.client.post(format!("{}/graphql", app.url)).header("cookie", cookie).json(&json!({ "query": query }));
    if csrf {
        req = req.header("x-switchyard-csrf", "1");
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn the_first_start_link_sets_the_owner_password_once_and_signs_in() {
    for_each_backend(&[], |app: TestApp| async move {
        let url = app.setup_url.clone().expect("first start prints a setup link");
        assert!(url.starts_with(&app.url) && url.contains("/setup?token="), "{url}");
        let token = token_of(&url);

        let (status, _, body) =
            auth_post(&app, "/auth/setup", json!({ "token": token, "password": "short" }), None).await;
        assert_eq!(status, 400);
        assert_eq!(body["details"][0]["field"], "password");

        let (status, cookie, body) =
            auth_post(&app, "/auth/setup", json!({ "token": token, "password": PASSWORD, "name": "Ada" }), None).await;
        assert_eq!(status, 200, "{body}");
        let set_cookie = cookie.expect("a session cookie");
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
        let cookie = cookie_pair(&set_cookie);

        let (status, me) =
            gql_with_cookie(&app, &cookie, true, "{ viewer { user { name hasPassword } role credential } }").await;
        assert_eq!(status, 200);
        assert_eq!(
            me["data"]["viewer"],
            json!({ "user": { "name": "Ada", "hasPassword": true }, "role": "OWNER", "credential": "SESSION" })
        );

        // The link works once.
        let (status, _, body) =
            auth_post(&app, "/auth/setup", json!({ "token": token, "password": PASSWORD }), None).await;
        assert_eq!(status, 400);
        assert_eq!(body["details"][0]["field"], "token");
    })
    .await;
}

#[tokio::test]
async fn login_sets_a_session_that_needs_the_csrf_header_and_logout_ends_it() {
    for_each_backend(&[], |app: TestApp| async move {
        let token = token_of(app.setup_url.as_deref().unwrap());
        auth_post(&app, "/auth/setup", json!({ "token": token, "password": PASSWORD }), None).await;

        let (status, cookie, body) =
            auth_post(&app, "/auth/login", json!({ "email": "owner@localhost", "password": "wrong password!" }), None)
                .await;
        assert_eq!((status, cookie.is_none()), (401, true));
        assert_eq!(body, json!({ "success": false, "error": "Invalid email or password", "code": "UNAUTHORIZED" }));
        let (status, _, body) =
            auth_post(&app, "/auth/login", json!({ "email": "nobody@localhost", "password": PASSWORD }), None).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("Invalid email or password")));

        // Without the CSRF header, login is refused.
        let resp = app
            .client
            .post(format!("{}/auth/login", app.url))
            .json(&json!({ "email": "OWNER@localhost", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);

        let (status, cookie, _) =
            auth_post(&app, "/auth/login", json!({ "email": "OWNER@localhost", "password": PASSWORD }), None).await;
        assert_eq!(status, 200);
        let cookie = cookie_pair(&cookie.unwrap());

        let session =
            app.client.get(format!("{}/auth/session", app.url)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(session.status(), 200);
        let s: Value = session.json().await.unwrap();
        assert_eq!((s["user"]["email"].as_str(), s["role"].as_str()), (Some("owner@localhost"), Some("owner")));

        let (status, body) = gql_with_cookie(&app, &cookie, false, "{ viewer { role } }").await;
        assert_eq!(status, 403, "cookie requests need the CSRF header: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
        let (status, _) = gql_with_cookie(&app, &cookie, true, "{ viewer { role } }").await;
        assert_eq!(status, 200);

        let (status, cleared, _) = auth_post(&app, "/auth/logout", json!({}), Some(&cookie)).await;
        assert_eq!(status, 200);
        assert!(cleared.unwrap().contains("Max-Age=0"));
        let (status, body) = gql_with_cookie(&app, &cookie, true, "{ viewer { role } }").await;
        assert_eq!(status, 401, "an ended session counts as no credential: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHORIZED");
        let session =
            app.client.get(format!("{}/auth/session", app.url)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(session.status(), 401);
    })
    .await;
}

#[tokio::test]
async fn password_changes_need_a_session_and_the_current_password() {
    for_each_backend(&[], |app: TestApp| async move {
        let token = token_of(app.setup_url.as_deref().unwrap());
        let (_, cookie, _) =
            auth_post(&app, "/auth/setup", json!({ "token": token, "password": PASSWORD }), None).await;
        let cookie = cookie_pair(&cookie.unwrap());
        let change = |cur: &str, new: &str| {
            format!(
                "mutation {{ changePassword(input: {{ currentPassword: \"{cur}\", newPassword: \"{new}\" }}) {{
                    user {{ email }} userErrors {{ field code }} }} }}"
            )
        };
        app.gql_err(Some(&app.owner_key), &change(PASSWORD, "another long password"), json!({}), "FORBIDDEN").await;
        let (_, body) = gql_with_cookie(&app, &cookie, true, &change("not it at all", "another long password")).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"]["changePassword"],
            json!({ "user": null, "userErrors": [{ "field": ["input", "currentPassword"], "code": "INVALID" }] })
        );
        let (_, body) = gql_with_cookie(&app, &cookie, true, &change(PASSWORD, "short")).await;
        assert_eq!(
            body["data"]["changePassword"]["userErrors"],
            json!([{ "field": ["input", "newPassword"], "code": "INVALID" }]),
            "{body}"
        );
        let (_, body) = gql_with_cookie(&app, &cookie, true, &change(PASSWORD, "another long password")).await;
        assert_eq!(
            body["data"]["changePassword"],
            json!({ "user": { "email": "owner@localhost" }, "userErrors": [] }),
            "{body}"
        );
        let (status, _, _) =
            auth_post(&app, "/auth/login", json!({ "email": "owner@localhost", "password": PASSWORD }), None).await;
        assert_eq!(status, 401);
        let (status, _, _) = auth_post(
            &app,
            "/auth/login",
            json!({ "email": "owner@localhost", "password": "another long password" }),
            None,
        )
        .await;
        assert_eq!(status, 200);
    })
    .await;
}

#[tokio::test]
async fn login_attempts_per_account_are_limited() {
    for_each_backend(&[], |app: TestApp| async move {
        // Ten tries a minute: the burst is ten, so twelve quick tries must
        // meet a 429 (one more may slip through as the budget refills).
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let (status, _, _) = auth_post(
                &app,
                "/auth/login",
                json!({ "email": "owner@localhost", "password": "guess guess guess" }),
                None,
            )
            .await;
            statuses.push(status);
        }
        assert_eq!(&statuses[..10], [401; 10]);
        assert!(statuses[10..].contains(&429), "{statuses:?}");
        let resp = app
            .client
            .post(format!("{}/auth/login", app.url))
            .header("x-switchyard-csrf", "1")
            .header(CONTENT_TYPE, "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
    })
    .await;
}

#[tokio::test]
async fn graphql_without_credentials_is_401_unless_the_fields_need_no_caller() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        // A field that needs a caller, without a key: 401, like a bad key.
        let (status, headers, body) = app.gql_raw(None, "{ viewer { role } }", json!({})).await;
        assert_eq!(status, 401, "[{b}] {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHORIZED", "[{b}] {body}");
        assert_eq!(headers.get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"), "[{b}]");
        let (status, _, body) = app.gql_raw(Some("sk_test_wrong"), "{ viewer { role } }", json!({})).await;
        assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (401, Some("UNAUTHORIZED")), "[{b}]");
        // A field that needs no caller: 200.
        let (status, _, body) = app.gql_raw(None, "{ serverInfo { version storage } }", json!({})).await;
        assert_eq!(status, 200, "[{b}] {body}");
        assert!(body.get("errors").is_none(), "[{b}] {body}");
        // Other errors than UNAUTHORIZED keep the usual 200.
        let (status, _, body) = app.gql_raw(None, "{ nope }", json!({})).await;
        assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (200, Some("INVALID_REQUEST")), "[{b}]");
        // Batches: 401 only when every error of every response is UNAUTHORIZED.
        let batch = |ops: Value| {
            let req = app.client.post(format!("{}/graphql", app.url)).json(&ops);
            async move { req.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(batch(json!([{ "query": "{ viewer { role } }" }, { "query": "{ workspace { id } }" }])).await, 401);
        assert_eq!(batch(json!([{ "query": "{ viewer { role } }" }, { "query": "{ nope }" }])).await, 200);
        // With a key, a refused field is never a 401 (the credential worked).
        let (status, _, body) = app.gql_raw(Some(&app.owner_key), "{ viewer { role } }", json!({})).await;
        assert_eq!(status, 200, "[{b}] {body}");
    })
    .await;
}
