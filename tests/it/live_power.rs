//! A caller's power is what it is now, not what it was: an open WebSocket
//! runs every operation with its caller re-resolved and closes once the
//! caller loses power; a new password ends the user's other sessions;
//! collaborators never see owner-only events. (`totalCount`'s price is in
//! `cost.rs`.)

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp, WsClient};

const PASSWORD: &str = "a long enough password";
const NEW_PASSWORD: &str = "another long enough password";

/// Well under the 10 s periodic re-check: a close this fast comes from the
/// change itself.
const PROMPTLY: Duration = Duration::from_secs(3);

fn is_refused(answer: &Value) -> bool {
    answer["type"] == "__close" || answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
}

/// The socket's close code: `answer`'s, when the close came before the
/// operation's answer (the re-check can beat it), else the next close.
async fn close_code(ws: &mut WsClient, answer: &Value) -> Option<u16> {
    if answer["type"] == "__close" {
        return answer["code"].as_u64().map(|c| c as u16);
    }
    ws.closed_within(PROMPTLY).await
}

async fn member_role(app: &TestApp, user_id: &str) -> String {
    let data = app.gql(&app.owner_key, "{ members(first: 100) { nodes { role user { id } } } }", json!({})).await;
    let members = data["members"]["nodes"].as_array().unwrap().clone();
    let m = members.iter().find(|m| m["user"]["id"] == user_id).expect("still a member");
    m["role"].as_str().unwrap().to_string()
}

async fn key_socket(app: &TestApp, secret: &str) -> WsClient {
    WsClient::connect(&app.ws_url(), "graphql-transport-ws", json!({ "Authorization": format!("Bearer {secret}") }))
        .await
}

#[tokio::test]
async fn a_demoted_owners_open_socket_cannot_make_her_owner_again() {
    for_each_backend(&[], |app: TestApp| async move {
        let (bob, bob_key) = app.collaborator_key("bob@example.test").await;
        let bob_member = app.member_id(&app.owner_key, &bob).await;
        let set_role =
            "mutation($u: ID!, $r: Role!) { updateMemberRole(input: { id: $u, role: $r }) { member { role } } }";
        app.gql(&app.owner_key, set_role, json!({ "u": bob_member, "r": "OWNER" })).await;

        let mut ws = key_socket(&app, &bob_key).await;
        let me = ws.execute("1", "{ viewer { role } }", json!({})).await;
        assert_eq!(me["data"]["viewer"]["role"], "OWNER", "[{}] {me}", app.backend);

        // The other owner demotes Bob over HTTP.
        app.gql(&app.owner_key, set_role, json!({ "u": bob_member, "r": "COLLABORATOR" })).await;

        let answer = ws.execute("2", set_role, json!({ "u": bob_member, "r": "OWNER" })).await;
        assert!(is_refused(&answer), "[{}] the old socket kept owner power: {answer}", app.backend);
        assert_eq!(member_role(&app, &bob).await, "COLLABORATOR", "[{}]", app.backend);
        assert_eq!(close_code(&mut ws, &answer).await, Some(4403), "[{}] the socket must close", app.backend);
    })
    .await;
}

#[tokio::test]
async fn a_cut_down_keys_open_socket_cannot_mint_a_full_power_key() {
    for_each_backend(&[], |app: TestApp| async move {
        let (id, secret) = app.create_key(&app.owner_key, "wide", &["READ", "WRITE", "ADMIN"]).await;
        let mut ws = key_socket(&app, &secret).await;
        let me = ws.execute("1", "{ viewer { scopes } }", json!({})).await;
        assert_eq!(me["data"]["viewer"]["scopes"], json!(["READ", "WRITE", "ADMIN"]), "[{}] {me}", app.backend);

        let cut = "mutation($id: ID!) { updateApiKey(input: { id: $id, scopes: [READ] }) { apiKey { id } } }";
        app.gql(&app.owner_key, cut, json!({ "id": id })).await;

        let mint = "mutation { createApiKey(input: { name: \"escalated\", scopes: [READ, WRITE, ADMIN] }) { secret } }";
        let answer = ws.execute("2", mint, json!({})).await;
        assert!(is_refused(&answer), "[{}] the cut-down key minted a key: {answer}", app.backend);
        let keys = app.gql(&app.owner_key, "{ apiKeys(first: 100) { nodes { name } } }", json!({})).await;
        assert!(
            !keys["apiKeys"]["nodes"].as_array().unwrap().iter().any(|k| k["name"] == "escalated"),
            "[{}] {keys}",
            app.backend
        );
        assert_eq!(close_code(&mut ws, &answer).await, Some(4403), "[{}] the socket must close", app.backend);
    })
    .await;
}

#[tokio::test]
async fn a_widened_key_keeps_its_socket_and_uses_the_new_scopes() {
    for_each_backend(&[], |app: TestApp| async move {
        let (id, secret) = app.create_key(&app.owner_key, "narrow", &["READ"]).await;
        let mut ws = key_socket(&app, &secret).await;
        let write = "mutation { updateProfile(input: { name: \"Renamed\" }) { user { name } } }";
        let answer = ws.execute("1", write, json!({})).await;
        assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN", "[{}] {answer}", app.backend);

        let widen = "mutation($id: ID!) { updateApiKey(input: { id: $id, scopes: [READ, WRITE] }) { apiKey { id } } }";
        app.gql(&app.owner_key, widen, json!({ "id": id })).await;
        let answer = ws.execute("2", write, json!({})).await;
        assert_eq!(answer["data"]["updateProfile"]["user"]["name"], "Renamed", "[{}] {answer}", app.backend);
        assert_eq!(ws.closed_within(Duration::from_millis(1500)).await, None, "[{}] stays open", app.backend);
    })
    .await;
}

/// POSTs JSON to an /auth route with the CSRF header; returns (status, `sy_session=…`).
async fn auth_post(app: &TestApp, path: &str, body: Value) -> (u16, Option<String>) {
    let resp = app
        .client
        .post(format!("{}{path}", app.url))
        .header("x-switchyard-csrf", "1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .filter(|c| c != "sy_session=");
    (resp.status().as_u16(), cookie)
}

async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    let resp = app.client.get(format!("{}/auth/session", app.url)).header("cookie", cookie).send().await.unwrap();
    resp.status() == 200
}

async fn cookie_socket(app: &TestApp, cookie: &str) -> WsClient {
    let origin = app.url.clone();
    let headers = [("cookie", cookie), ("origin", origin.as_str())];
    let mut ws = WsClient::connect_with(&app.ws_url(), "graphql-transport-ws", json!({}), &headers).await;
    let me = ws.execute("0", "{ viewer { credential } }", json!({})).await;
    assert_eq!(me["data"]["viewer"]["credential"], "SESSION", "[{}] {me}", app.backend);
    ws
}

#[tokio::test]
async fn a_new_password_ends_the_users_other_sessions_and_their_sockets() {
    for_each_backend(&[], |app: TestApp| async move {
        let token = app.setup_url.clone().unwrap().split("token=").nth(1).unwrap().to_string();
        let (status, first) = auth_post(&app, "/auth/setup", json!({ "token": token, "password": PASSWORD })).await;
        assert_eq!(status, 200);
        let first = first.unwrap();
        let email = "owner@localhost";
        let (_, second) = auth_post(&app, "/auth/login", json!({ "email": email, "password": PASSWORD })).await;
        let second = second.expect("a second session");
        let mut second_ws = cookie_socket(&app, &second).await;
        let mut first_ws = cookie_socket(&app, &first).await;

        let change = "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { userErrors { code } } }";
        let input = json!({ "i": { "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD } });
        let resp = app
            .client
            .post(format!("{}/graphql", app.url))
            .header("cookie", &first)
            .header("x-switchyard-csrf", "1")
            .json(&json!({ "query": change, "variables": input }))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["data"]["changePassword"], json!({ "userErrors": [] }), "[{}] {body}", app.backend);

        assert!(!signed_in(&app, &second).await, "[{}] the other session must end", app.backend);
        assert!(signed_in(&app, &first).await, "[{}] the session that changed it stays", app.backend);
        assert_eq!(second_ws.closed_within(PROMPTLY).await, Some(4403), "[{}] its socket must close", app.backend);
        let still = first_ws.execute("1", "{ viewer { credential } }", json!({})).await;
        assert_eq!(still["data"]["viewer"]["credential"], "SESSION", "[{}] {still}", app.backend);

        // Redeeming a new setup link (an admin's reset) ends every session.
        let owner = app.owner_id.clone();
        let reset = switchyard::services::sessions::issue_setup_token(
            &app.state.writer,
            &app.state.secret,
            &owner,
            &app.workspace_id,
        )
        .await
        .unwrap();
        let (status, third) = auth_post(&app, "/auth/setup", json!({ "token": reset, "password": PASSWORD })).await;
        assert_eq!(status, 200);
        assert!(!signed_in(&app, &first).await, "[{}] a reset ends the old sessions", app.backend);
        assert!(signed_in(&app, &third.unwrap()).await, "[{}]", app.backend);
        assert_eq!(first_ws.closed_within(PROMPTLY).await, Some(4403), "[{}] its socket must close", app.backend);
    })
    .await;
}

#[tokio::test]
async fn collaborators_never_see_owner_only_events() {
    for_each_backend(&[], |app: TestApp| async move {
        let (_, collab) = app.collaborator_key("carol@example.test").await;
        let mut ws = key_socket(&app, &collab).await;
        ws.subscribe("s", "subscription { events { type } }", json!({})).await;
        // Let the subscription start before the events it should see.
        tokio::time::sleep(Duration::from_millis(300)).await;

        app.create_key(&app.owner_key, "secret-name", &["READ"]).await;
        app.mutate(&app.owner_key, "updateProfile", json!({ "name": "Owner" }), "user { name }").await;

        // The set-up's own events (carol's `user.created`, …) may still be on
        // their way; the owner-only `api_key.created` must never come.
        let mut heard = Vec::new();
        while heard.len() < 10 && heard.last().is_none_or(|k| k != "user.updated") {
            let next = ws.next_json().await.expect("an event");
            let kind = next["payload"]["data"]["events"]["type"].as_str().unwrap_or_default().to_string();
            assert_ne!(kind, "api_key.created", "[{}] {next}", app.backend);
            heard.push(kind);
        }
        assert_eq!(heard.last().map(String::as_str), Some("user.updated"), "[{}] {heard:?}", app.backend);

        let list = "{ events(first: 100) { totalCount nodes { id type } } }";
        let seen = app.gql(&collab, list, json!({})).await;
        let types: Vec<&str> =
            seen["events"]["nodes"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert!(types.contains(&"user.updated"), "[{}] {types:?}", app.backend);
        assert!(!types.iter().any(|t| t.starts_with("api_key.")), "[{}] {types:?}", app.backend);
        assert_eq!(seen["events"]["totalCount"], types.len(), "[{}] the count hides them too", app.backend);

        let all = app.gql(&app.owner_key, list, json!({})).await;
        let created = all["events"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "api_key.created")
            .expect("the owner sees it")["id"]
            .clone();
        let one = "query($id: ID!) { event(id: $id) { type } }";
        app.gql_null(&collab, one, json!({ "id": created }), "event").await;
        app.gql(&app.owner_key, one, json!({ "id": created })).await;
    })
    .await;
}
