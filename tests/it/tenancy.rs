//! Tenancy: a key of workspace B gets null (lookups) or a NOT_FOUND user error (changes) for every object of
//! workspace A, and B's lists never show A's rows.

use serde_json::json;

use crate::helpers::{for_each_backend, TestApp};

#[tokio::test]
async fn another_workspace_sees_nothing_and_changes_nothing() {
    for_each_backend(&[], |app: TestApp| async move {
        let (a_key_id, a_secret) = app.create_key(&app.owner_key, "A's key", &["READ"]).await;
        let a_event = app.gql(&app.owner_key, "{ events(first: 1) { edges { node { id } } } }", json!({})).await["events"]
            ["edges"][0]["node"]["id"]
            .clone();
        let (b_ws, b_key) = app.other_workspace("owner-b@example.com").await;
        assert_ne!(b_ws, app.workspace_id);

        let v = json!({ "id": a_key_id });
        app.gql_null(&b_key, "query($id: ID!) { apiKey(id: $id) { id } }", v.clone(), "apiKey").await;
        app.gql_null(&b_key, "query($id: ID!) { event(id: $id) { id } }", json!({ "id": a_event }), "event").await;
        // In a mutation, another workspace's id is a NOT_FOUND user error on `input.id`.
        let owner_member = app.member_id(&app.owner_key, &app.owner_id).await;
        for (name, input) in [
            ("updateApiKey", json!({ "id": a_key_id, "enabled": false, "name": "pwned" })),
            ("rollApiKey", v.clone()),
            ("deleteApiKey", v.clone()),
            ("removeMember", json!({ "id": owner_member })),
            ("updateMemberRole", json!({ "id": owner_member, "role": "COLLABORATOR" })),
        ] {
            let got = app.user_error(&b_key, name, input).await;
            assert_eq!(got, ("input.id".into(), "NOT_FOUND".into()), "[{}] {name}", app.backend);
        }

        // A's key still works, unchanged.
        let still = app.gql(&app.owner_key, "query($id: ID!) { apiKey(id: $id) { name enabled } }", v).await;
        assert_eq!(still["apiKey"], json!({ "name": "A's key", "enabled": true }));
        app.gql(&a_secret, "{ viewer { role } }", json!({})).await;

        // B's lists hold only B's rows.
        let b = app
            .gql(&b_key, "{ apiKeys { totalCount } members { totalCount edges { node { user { email } } } } events { edges { node { id } } } workspace { id } }", json!({}))
            .await;
        assert_eq!(b["apiKeys"]["totalCount"], 1);
        assert_eq!(b["members"]["totalCount"], 1);
        assert_eq!(b["members"]["edges"][0]["node"]["user"]["email"], "owner-b@example.com");
        assert_eq!(b["workspace"]["id"], b_ws);
        assert!(!b["events"].to_string().contains(a_event.as_str().unwrap()));
        let a = app.gql(&app.owner_key, "{ apiKeys { totalCount } members { totalCount } }", json!({})).await;
        assert_eq!((a["apiKeys"]["totalCount"].as_u64(), a["members"]["totalCount"].as_u64()), (Some(2), Some(1)));
    })
    .await;
}
