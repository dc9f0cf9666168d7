//! Nullable lookups and Relay's `node`/`nodes`: a missing or foreign id is
//! `null` without an error, so the other fields of the query survive; every
//! prefixed id with a lookup resolves through `node`, with the same tenancy.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::data::{call, setup, ORDER};
use crate::helpers::{for_each_backend, TestApp};

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id } }";

/// One id of every type that has a lookup: (typename, id).
async fn one_of_each(app: &TestApp) -> Vec<(&'static str, String)> {
    let (key, _) = app.create_key(&app.owner_key, "node key", &["READ"]).await;
    let hook = app
        .gql(
            &app.owner_key,
            "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }",
            json!({ "i": { "url": "http://127.0.0.1:9/hook", "eventTypes": ["api_key.*"] } }),
        )
        .await["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.create_key(&app.owner_key, "makes a delivery", &["READ"]).await;
    let (endpoint, test_key, _) = setup(app, json!({})).await;
    let (status, body) =
        call(app, "POST", "/api/v1/data/orders", Some(&test_key), Some(ORDER), "application/json").await;
    assert_eq!(status, 202, "{body}");
    let record = body["id"].as_str().unwrap().to_string();
    let event = app.gql(&app.owner_key, "{ events(first: 1) { nodes { id } } }", json!({})).await["events"]["nodes"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        let d = app
            .gql(
                &app.owner_key,
                "query($w: ID) { deliveries(first: 1, filter: { webhookId: $w }) { nodes { id } } }",
                json!({ "w": hook }),
            )
            .await;
        if let Some(id) = d["deliveries"]["nodes"][0]["id"].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "[{}] no delivery", app.backend);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    vec![
        ("ApiKey", key),
        ("Webhook", hook),
        ("Delivery", delivery),
        ("DataEndpoint", endpoint),
        ("Record", record),
        ("Event", event),
        ("Workspace", app.workspace_id.clone()),
        ("User", app.owner_id.clone()),
    ]
}

#[tokio::test]
async fn a_missing_id_is_null_and_leaves_the_other_fields_intact() {
    for_each_backend(&[], |app: TestApp| async move {
        let (key, _) = app.create_key(&app.owner_key, "present", &["READ"]).await;
        let missing = format!("ak_{}", ulid::Ulid::new());
        let q = "query($a: ID!, $m: ID!) { viewer { role } gone: apiKey(id: $m) { id } here: apiKey(id: $a) { name }
                   hook: webhook(id: $m) { id } rec: record(id: $m) { id } de: dataEndpoint(id: $m) { id }
                   dlv: delivery(id: $m) { id } evt: event(id: $m) { id } node(id: $m) { id } }";
        let (status, _, body) = app.gql_raw(Some(&app.owner_key), q, json!({ "a": key, "m": missing })).await;
        assert_eq!(status, 200, "[{}] {body}", app.backend);
        assert!(body.get("errors").is_none(), "[{}] {body}", app.backend);
        let d = &body["data"];
        assert_eq!(d["viewer"]["role"], "OWNER", "[{}] {body}", app.backend);
        assert_eq!(d["here"]["name"], "present", "[{}] {body}", app.backend);
        for f in ["gone", "hook", "rec", "de", "dlv", "evt", "node"] {
            assert!(d.get(f).is_some_and(Value::is_null), "[{}] {f}: {body}", app.backend);
        }
        // Errors other than "not found" stay errors: no credentials.
        app.gql_err(None, "query($m: ID!) { apiKey(id: $m) { id } }", json!({ "m": missing }), "UNAUTHORIZED").await;
    })
    .await;
}

#[tokio::test]
async fn node_resolves_every_looked_up_type_within_the_workspace_only() {
    for_each_backend(&[], |app: TestApp| async move {
        let objects = one_of_each(&app).await;
        let (_, other) = app.other_workspace("owner-b@example.com").await;
        for (typename, id) in &objects {
            let got = app.gql(&app.owner_key, NODE, json!({ "id": id })).await;
            assert_eq!(got["node"], json!({ "__typename": typename, "id": id }), "[{}] {id}", app.backend);
            app.gql_null(&other, NODE, json!({ "id": id }), "node").await;
        }
        // `nodes` keeps the order asked, with null where nothing is found.
        let ids: Vec<&str> = objects.iter().map(|(_, id)| id.as_str()).chain(["nope_1", "mem_x"]).collect();
        let got =
            app.gql(&app.owner_key, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": ids })).await;
        let nodes = got["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), ids.len(), "[{}] {got}", app.backend);
        for (n, id) in nodes.iter().zip(&ids[..objects.len()]) {
            assert_eq!(n["id"], *id, "[{}] {got}", app.backend);
        }
        assert!(nodes[objects.len()..].iter().all(Value::is_null), "[{}] {got}", app.backend);
        // At most 100 ids.
        let many: Vec<String> = (0..101).map(|_| format!("ak_{}", ulid::Ulid::new())).collect();
        app.gql_err(
            Some(&app.owner_key),
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": many }),
            "INVALID_REQUEST",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn objects_lead_to_the_objects_they_name() {
    for_each_backend(&[], |app: TestApp| async move {
        let k = app.owner_key.clone();
        let wh = app
            .mutate(&k, "createWebhook", json!({ "url": "https://example.com/hook", "eventTypes": ["api_key.*"] }), "webhook { id }")
            .await["webhook"]["id"]
            .clone();
        for i in 0..3 {
            app.create_key(&k, &format!("k{i}"), &["READ"]).await;
        }
        let q = "{ deliveries(first: 10) { nodes { webhookId webhook { id url } } } apiKeys(first: 10) { nodes { name createdBy { email } } } }";
        let out = app.gql(&k, q, json!({})).await;
        let deliveries = out["deliveries"]["nodes"].as_array().unwrap();
        assert_eq!(deliveries.len(), 3, "{out}");
        for d in deliveries {
            assert_eq!(d["webhook"]["id"], wh, "{d}");
            assert_eq!(d["webhook"]["url"], "https://example.com/hook");
        }
        let keys = out["apiKeys"]["nodes"].as_array().unwrap();
        assert!(keys.iter().all(|k| k["createdBy"]["email"].is_string()), "{out}");
        let nested = app
            .gql(&k, "query($id: ID!) { webhook(id: $id) { deliveries(first: 5) { totalCount nodes { attemptLog { totalCount } } } } }", json!({ "id": wh }))
            .await;
        assert_eq!(nested["webhook"]["deliveries"]["totalCount"], 3, "{nested}");
        assert!(nested["webhook"]["deliveries"]["nodes"][0]["attemptLog"]["totalCount"].is_u64(), "{nested}");

        // A record leads to its endpoint.
        app.mutate(&k, "createDataEndpoint", json!({ "slug": "orders", "name": "Orders" }), "dataEndpoint { id }").await;
        let secret = app.mutate(&k, "createDataKey", json!({ "name": "k" }), "secret").await["secret"].clone();
        let posted = app
            .client
            .post(format!("{}/api/v1/data/orders", app.url))
            .bearer_auth(secret.as_str().unwrap())
            .json(&json!({ "amount": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
        let rec = app.gql(&k, "{ records { nodes { endpoint { slug name } } } }", json!({})).await;
        assert_eq!(rec["records"]["nodes"][0]["endpoint"], json!({ "slug": "orders", "name": "Orders" }), "{rec}");
        let eps = app.gql(&k, "{ dataEndpoints { nodes { slug records { totalCount } } } }", json!({})).await;
        assert_eq!(eps["dataEndpoints"]["nodes"][0]["records"]["totalCount"], 1, "{eps}");

        // Deleting the webhook deletes its deliveries: no delivery is left
        // pointing at nothing (the field stays nullable for a lookup racing
        // a deletion).
        app.mutate(&k, "deleteWebhook", json!({ "id": wh }), "deletedId").await;
        let after = app.gql(&k, "{ deliveries { totalCount nodes { webhook { id } } } }", json!({})).await;
        assert_eq!(after["deliveries"]["totalCount"], 0, "{after}");
    })
    .await;
}
