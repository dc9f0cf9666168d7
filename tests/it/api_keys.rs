//! API keys: create (secret once), list with paging and filters, get,
//! update, disable, expire, delete, roll with grace, scopes, usage.

use std::time::Duration;

use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::json;

use crate::helpers::{for_each_backend, TestApp};

const VIEWER: &str = "{ viewer { user { id } workspace { id } role scopes credential apiKeyId } }";

#[tokio::test]
async fn a_created_key_is_shown_once_and_then_authenticates() {
    for_each_backend(&[], |app: TestApp| async move {
        let out = app
            .mutate(
                &app.owner_key,
                "createApiKey",
                json!({ "name": "CI", "description": "for the build", "scopes": ["READ", "WRITE"], "environment": "LIVE",
                        "expiresAt": "2099-12-31T23:59:59Z" }),
                "secret apiKey { id name description prefix scopes environment enabled status usageCount lastUsedAt expiresAt }",
            )
            .await;
        let secret = out["secret"].as_str().unwrap();
        assert!(secret.starts_with("sk_live_") && secret.len() > 30, "{secret}");
        let key = &out["apiKey"];
        assert_eq!(key["prefix"], secret[..12]);
        assert_eq!(key["scopes"], json!(["READ", "WRITE"]));
        assert_eq!(key["status"], "ACTIVE");
        assert_eq!(key["usageCount"], 0);
        assert_eq!(key["expiresAt"], "2099-12-31T23:59:59+00:00");
        let id = key["id"].as_str().unwrap();
        assert!(id.starts_with("ak_"));

        // The secret is not stored: no field of any key returns it.
        let listed = app.gql(&app.owner_key, "{ apiKeys { edges { node { id prefix } } } }", json!({})).await;
        assert!(!listed.to_string().contains(secret));
        let stored = entity::api_key::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
        assert_ne!(stored.key_hash, secret);
        assert!(!stored.key_hash.contains(&secret[12..]));

        // It authenticates with exactly its scopes.
        let me = app.gql(secret, VIEWER, json!({})).await;
        assert_eq!(me["viewer"]["credential"], "API_KEY");
        assert_eq!(me["viewer"]["apiKeyId"], id);
        assert_eq!(me["viewer"]["scopes"], json!(["READ", "WRITE"]));
    })
    .await;
}

#[tokio::test]
async fn keys_page_newest_first_with_total_count_and_filters() {
    for_each_backend(&[], |app: TestApp| async move {
        for name in ["alpha", "beta", "gamma", "delta"] {
            app.create_key(&app.owner_key, name, &["READ"]).await;
        }
        let q = "query($first: Int, $after: String, $f: ApiKeyFilterInput) {
            apiKeys(first: $first, after: $after, filter: $f) {
              totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { name } } } }";
        let p1 = app.gql(&app.owner_key, q, json!({ "first": 2 })).await["apiKeys"].clone();
        // The owner key from set-up plus four.
        assert_eq!(p1["totalCount"], 5);
        let names: Vec<&str> =
            p1["edges"].as_array().unwrap().iter().map(|e| e["node"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["delta", "gamma"]);
        assert_eq!(p1["pageInfo"]["hasNextPage"], true);
        assert_eq!(p1["pageInfo"]["hasPreviousPage"], false);
        let after = p1["pageInfo"]["endCursor"].clone();
        let p2 = app.gql(&app.owner_key, q, json!({ "first": 2, "after": after })).await["apiKeys"].clone();
        let names: Vec<&str> =
            p2["edges"].as_array().unwrap().iter().map(|e| e["node"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["beta", "alpha"]);
        assert_eq!(p2["pageInfo"]["hasNextPage"], true);
        let p3 = app.gql(&app.owner_key, q, json!({ "first": 2, "after": p2["pageInfo"]["endCursor"] })).await;
        assert_eq!(p3["apiKeys"]["edges"].as_array().unwrap().len(), 1);
        assert_eq!(p3["apiKeys"]["pageInfo"]["hasNextPage"], false);

        // Back towards newer ones: `last`/`before`.
        let back = "query($last: Int, $before: String) { apiKeys(last: $last, before: $before) {
              pageInfo { hasNextPage hasPreviousPage startCursor } edges { node { name } } } }";
        let names = |v: &serde_json::Value| -> Vec<String> {
            v["apiKeys"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        let oldest = app.gql(&app.owner_key, back, json!({ "last": 2 })).await;
        assert_eq!(names(&oldest), ["alpha", "test"], "{oldest}");
        assert_eq!(oldest["apiKeys"]["pageInfo"]["hasPreviousPage"], true);
        assert_eq!(oldest["apiKeys"]["pageInfo"]["hasNextPage"], false);
        let cursor = p2["edges"][0]["cursor"].clone(); // beta
        let newer = app.gql(&app.owner_key, back, json!({ "last": 2, "before": cursor })).await;
        assert_eq!(names(&newer), ["delta", "gamma"], "{newer}");
        assert_eq!(newer["apiKeys"]["pageInfo"]["hasPreviousPage"], false);
        assert_eq!(newer["apiKeys"]["pageInfo"]["hasNextPage"], true);
        let both =
            app.gql_raw(Some(&app.owner_key), "{ apiKeys(first: 2, last: 2) { totalCount } }", json!({})).await.2;
        assert_eq!(both["errors"][0]["extensions"]["details"][0]["field"], "last", "{both}");

        let found = app.gql(&app.owner_key, q, json!({ "f": { "search": "GAM" } })).await;
        assert_eq!(found["apiKeys"]["totalCount"], 1);
        assert_eq!(found["apiKeys"]["edges"][0]["node"]["name"], "gamma");
        let live = app.gql(&app.owner_key, q, json!({ "f": { "environment": "LIVE" } })).await;
        assert_eq!(live["apiKeys"]["totalCount"], 0);
    })
    .await;
}

#[tokio::test]
async fn disabled_expired_and_deleted_keys_are_unauthorized() {
    for_each_backend(&[], |app: TestApp| async move {
        let (id, secret) = app.create_key(&app.owner_key, "temp", &["READ"]).await;
        app.gql(&secret, VIEWER, json!({})).await;

        let upd =
            |i: serde_json::Value| app.mutate(&app.owner_key, "updateApiKey", i, "apiKey { enabled status name }");
        let off = upd(json!({ "id": id, "enabled": false, "name": "renamed" })).await;
        assert_eq!(off["apiKey"], json!({ "enabled": false, "status": "DISABLED", "name": "renamed" }));
        let (status, _, body) = app.gql_raw(Some(&secret), VIEWER, json!({})).await;
        assert_eq!(status, 401);
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHORIZED");
        assert_eq!(body["errors"][0]["message"], "API key is disabled");

        upd(json!({ "id": id, "enabled": true })).await;
        app.gql(&secret, VIEWER, json!({})).await;

        // Expiry passes (set in the past directly: the API refuses past times).
        let row = entity::api_key::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().unwrap();
        let mut am = row.into_active_model();
        am.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
        am.update(&app.state.writer).await.unwrap();
        // A write past the services must drop the verified-key cache as they do.
        switchyard::auth::invalidate(&app.state, &app.workspace_id);
        let (status, _, body) = app.gql_raw(Some(&secret), VIEWER, json!({})).await;
        assert_eq!((status, body["errors"][0]["message"].as_str()), (401, Some("API key has expired")));
        let listed =
            app.gql(&app.owner_key, "query($id: ID!) { apiKey(id: $id) { status } }", json!({ "id": id })).await;
        assert_eq!(listed["apiKey"]["status"], "EXPIRED");

        let del = app.mutate(&app.owner_key, "deleteApiKey", json!({ "id": id }), "deletedId").await;
        assert_eq!(del["deletedId"], id);
        let (status, _, _) = app.gql_raw(Some(&secret), VIEWER, json!({})).await;
        assert_eq!(status, 401);
        app.gql_null(&app.owner_key, "query($id: ID!) { apiKey(id: $id) { id } }", json!({ "id": id }), "apiKey").await;
    })
    .await;
}

#[tokio::test]
async fn rolling_keeps_the_old_secret_for_the_grace_period_only() {
    for_each_backend(&[], |app: TestApp| async move {
        let (id, old) = app.create_key(&app.owner_key, "rolled", &["READ"]).await;
        let roll = |g: u64| {
            app.mutate(
                &app.owner_key,
                "rollApiKey",
                json!({ "id": id, "graceSeconds": g }),
                "secret apiKey { prefix previousSecretExpiresAt }",
            )
        };
        let out = roll(3600).await;
        let new = out["secret"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        assert_eq!(out["apiKey"]["prefix"], new[..12]);
        assert!(out["apiKey"]["previousSecretExpiresAt"].is_string());
        app.gql(&new, VIEWER, json!({})).await;
        app.gql(&old, VIEWER, json!({})).await;

        // Rolling again with no grace revokes both earlier secrets at once.
        let out = roll(0).await;
        let newest = out["secret"].as_str().unwrap();
        assert!(out["apiKey"]["previousSecretExpiresAt"].is_null());
        app.gql(newest, VIEWER, json!({})).await;
        for gone in [&old, &new] {
            let (status, _, _) = app.gql_raw(Some(gone), VIEWER, json!({})).await;
            assert_eq!(status, 401);
        }
        let too_long = app.user_error(&app.owner_key, "rollApiKey", json!({ "id": id, "graceSeconds": 604_801 })).await;
        assert_eq!(too_long, ("input.graceSeconds".into(), "INVALID".into()));
    })
    .await;
}

#[tokio::test]
async fn scopes_are_checked_on_every_query_and_mutation() {
    for_each_backend(&[], |app: TestApp| async move {
        let (_, read_only) = app.create_key(&app.owner_key, "ro", &["READ"]).await;
        let (_, read_write) = app.create_key(&app.owner_key, "rw", &["READ", "WRITE"]).await;
        let (_, write_only) = app.create_key(&app.owner_key, "wo", &["WRITE"]).await;

        app.gql(&read_only, VIEWER, json!({})).await;
        let create = "mutation { createApiKey(input: { name: \"x\", scopes: [READ] }) { secret } }";
        let profile = "mutation { updateProfile(input: { name: \"N\" }) { user { name } } }";
        let err = app.gql_err(Some(&read_only), profile, json!({}), "FORBIDDEN").await;
        assert!(err["message"].as_str().unwrap().contains("'write'"), "{err}");
        app.gql(&read_write, profile, json!({})).await;
        // Managing keys needs `admin` too.
        app.gql_err(Some(&read_write), create, json!({}), "FORBIDDEN").await;
        app.gql_err(Some(&read_write), "{ apiKeys { totalCount } }", json!({}), "FORBIDDEN").await;
        app.gql_err(Some(&write_only), VIEWER, json!({}), "FORBIDDEN").await;
        app.gql_err(Some(&write_only), "{ events { totalCount } }", json!({}), "FORBIDDEN").await;

        let count = app.gql(&app.owner_key, "{ apiKeys { totalCount } }", json!({})).await;
        assert_eq!(count["apiKeys"]["totalCount"], 4, "the refused create changed nothing");
    })
    .await;
}

#[tokio::test]
async fn usage_is_counted_per_day_and_status_class_in_batches() {
    for_each_backend(&[], |app: TestApp| async move {
        let (id, secret) = app.create_key(&app.owner_key, "counted", &["READ"]).await;
        for _ in 0..3 {
            app.gql(&secret, VIEWER, json!({})).await;
        }
        // A FORBIDDEN answer counts as a 4xx.
        app.gql_err(Some(&secret), "mutation { updateProfile(input: { name: \"x\" }) { user { name } } }", json!({}), "FORBIDDEN")
            .await;
        let q = "query($id: ID!) { apiKey(id: $id) { usageCount lastUsedAt usage(days: 7) { day total byStatusClass { statusClass count } } } }";
        // The flusher writes every second in tests; wait for it.
        let mut key = serde_json::Value::Null;
        for _ in 0..50 {
            key = app.gql(&app.owner_key, q, json!({ "id": id })).await["apiKey"].clone();
            if key["usageCount"] == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(key["usageCount"], 4, "{key}");
        assert!(key["lastUsedAt"].is_string());
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert_eq!(
            key["usage"],
            json!([{ "day": today, "total": 4, "byStatusClass": [
                { "statusClass": "2xx", "count": 3 }, { "statusClass": "4xx", "count": 1 } ] }])
        );
        app.gql_err(Some(&app.owner_key), "query($id: ID!) { apiKey(id: $id) { usage(days: 0) { day } } }", json!({ "id": id }), "INVALID_REQUEST").await;
    })
    .await;
}

#[tokio::test]
async fn deleting_a_key_closes_the_subscriptions_opened_with_it() {
    for_each_backend(&["--ws-recheck-seconds", "1"], |app: TestApp| async move {
        let (id, secret) = app.create_key(&app.owner_key, "live", &["READ"]).await;
        let mut ws = crate::helpers::WsClient::connect(
            &app.ws_url(),
            "graphql-transport-ws",
            json!({ "Authorization": format!("Bearer {secret}") }),
        )
        .await;
        ws.subscribe("1", "subscription { events { type } }", json!({})).await;
        // Still open while the key is valid. (An event may arrive: the key's
        // own `api_key.created`, relayed late through Redis on a busy machine.)
        let open_until = tokio::time::Instant::now() + Duration::from_millis(1500);
        while let Some(m) = ws.next_json_within(open_until.saturating_duration_since(tokio::time::Instant::now())).await
        {
            assert_eq!(m["type"], "next", "[{}] closed too early: {m}", app.backend);
        }
        app.mutate(&app.owner_key, "deleteApiKey", json!({ "id": id }), "deletedId").await;
        let mut closed = None;
        for _ in 0..10 {
            match ws.next_json_within(Duration::from_secs(1)).await {
                Some(m) if m["type"] == "__close" => {
                    closed = Some(m);
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(closed.map(|m| m["code"].clone()), Some(json!(4403)), "[{}] the connection must close", app.backend);
    })
    .await;
}
