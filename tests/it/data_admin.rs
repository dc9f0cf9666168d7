//! Managing data endpoints and data keys over GraphQL beyond create and
//! update: delete and roll a data key, delete an endpoint (with its records
//! and collaborator webhooks), rotate an endpoint's signing secret. Each is
//! owner only, scoped to the workspace, and answers the one mutation shape.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::data::{call, callback_receiver, setup, ORDER};
use crate::helpers::{for_each_backend, TestApp};

/// The id of the workspace's data key in `environment` (`TEST`/`LIVE`).
async fn key_id(app: &TestApp, environment: &str) -> String {
    let keys = app.gql(&app.owner_key, "{ dataKeys { edges { node { id environment } } } }", json!({})).await;
    let edges = keys["dataKeys"]["edges"].as_array().unwrap();
    let k = edges.iter().find(|e| e["node"]["environment"] == environment).expect("a key");
    k["node"]["id"].as_str().unwrap().to_string()
}

async fn post_order(app: &TestApp, key: &str) -> (u16, Value) {
    call(app, "POST", "/api/v1/data/orders", Some(key), Some(ORDER), "application/json").await
}

#[tokio::test]
async fn data_keys_are_renamed_rolled_and_deleted_by_their_owner_only() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let (_, old_secret, live_secret) = setup(&app, json!({})).await;
        let id = key_id(&app, "TEST").await;
        assert_eq!(post_order(&app, &old_secret).await.0, 202, "[{b}]");

        // Another workspace: not found; a collaborator: forbidden. Nothing changes.
        let (_, other) = app.other_workspace("other@example.com").await;
        let (_, collab) = app.collaborator_key("collab@example.com").await;
        for (name, input) in [
            ("rollDataKey", json!({ "id": id })),
            ("deleteDataKey", json!({ "id": id })),
            ("updateDataKey", json!({ "id": id, "enabled": false })),
        ] {
            let got = app.user_error(&other, name, input.clone()).await;
            assert_eq!(got, ("input.id".into(), "NOT_FOUND".into()), "[{b}] {name}");
            let q = crate::helpers::mutation_query(name, "");
            app.gql_err(Some(&collab), &q, json!({ "i": input }), "FORBIDDEN").await;
        }
        assert_eq!(post_order(&app, &old_secret).await.0, 202, "[{b}] the key still works");

        // Update: a name, and `null` for a field that cannot be empty is refused.
        let renamed = app
            .mutate(
                &app.owner_key,
                "updateDataKey",
                json!({ "id": id, "name": "renamed" }),
                "dataKey { id name enabled }",
            )
            .await;
        assert_eq!(renamed["dataKey"], json!({ "id": id, "name": "renamed", "enabled": true }), "[{b}]");
        for field in ["name", "enabled"] {
            let got = app.user_error(&app.owner_key, "updateDataKey", json!({ "id": id, field: null })).await;
            assert_eq!(got, (format!("input.{field}"), "INVALID".into()), "[{b}]");
        }

        // Roll: a new secret of the same environment; the old one stops at once.
        let rolled =
            app.mutate(&app.owner_key, "rollDataKey", json!({ "id": id }), "secret dataKey { id prefix }").await;
        let new_secret = rolled["secret"].as_str().unwrap().to_string();
        assert!(new_secret.starts_with("tm_test_") && new_secret != old_secret, "[{b}] {rolled}");
        assert_eq!(rolled["dataKey"]["prefix"], new_secret[..12], "[{b}]");
        let (s, body) = post_order(&app, &old_secret).await;
        assert_eq!((s, body["error"].as_str()), (401, Some("Invalid API key")), "[{b}] {body}");
        assert_eq!(post_order(&app, &new_secret).await.0, 202, "[{b}]");

        // Delete: the key answers 401 and leaves the list; the other key stays.
        let deleted = app.mutate(&app.owner_key, "deleteDataKey", json!({ "id": id }), "deletedId").await;
        assert_eq!(deleted["deletedId"], id, "[{b}]");
        assert_eq!(post_order(&app, &new_secret).await.0, 401, "[{b}]");
        let listed = app.gql(&app.owner_key, "{ dataKeys { totalCount } }", json!({})).await;
        assert_eq!(listed["dataKeys"]["totalCount"], 1, "[{b}]");
        assert_eq!(post_order(&app, &live_secret).await.0, 202, "[{b}] the live key is untouched");
        let again = app.user_error(&app.owner_key, "deleteDataKey", json!({ "id": id })).await;
        assert_eq!(again, ("input.id".into(), "NOT_FOUND".into()), "[{b}]");
    })
    .await;
}

#[tokio::test]
async fn deleting_an_endpoint_takes_its_records_and_collaborator_webhooks_along() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let (endpoint, test_key, _) = setup(&app, json!({})).await;
        let (s, body) = post_order(&app, &test_key).await;
        assert_eq!(s, 202, "[{b}] {body}");
        let record = body["id"].as_str().unwrap().to_string();
        let hook = app
            .mutate(
                &app.owner_key,
                "createCollaboratorWebhook",
                json!({ "endpointId": endpoint, "url": "http://127.0.0.1:9/collab" }),
                "webhook { id }",
            )
            .await["webhook"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        // A second endpoint with the same slug is TAKEN.
        let taken = app.user_error(&app.owner_key, "createDataEndpoint", json!({ "slug": "orders", "name": "Again" })).await;
        assert_eq!(taken, ("input.slug".into(), "TAKEN".into()), "[{b}]");

        let (_, other) = app.other_workspace("other@example.com").await;
        let got = app.user_error(&other, "deleteDataEndpoint", json!({ "id": endpoint })).await;
        assert_eq!(got, ("input.id".into(), "NOT_FOUND".into()), "[{b}]");
        let (_, collab) = app.collaborator_key("collab@example.com").await;
        let q = crate::helpers::mutation_query("deleteDataEndpoint", "deletedId");
        app.gql_err(Some(&collab), &q, json!({ "i": { "id": endpoint } }), "FORBIDDEN").await;
        // `null` on a field that cannot be empty is refused; on a clearable one it clears.
        for field in ["name", "enabled"] {
            let got = app.user_error(&app.owner_key, "updateDataEndpoint", json!({ "id": endpoint, field: null })).await;
            assert_eq!(got, (format!("input.{field}"), "INVALID".into()), "[{b}]");
        }
        let cleared = app
            .mutate(&app.owner_key, "updateDataEndpoint", json!({ "id": endpoint, "schema": null }), "dataEndpoint { schema name }")
            .await;
        assert_eq!(cleared["dataEndpoint"], json!({ "schema": null, "name": "Orders" }), "[{b}]");
        let still = app.gql(&app.owner_key, "query($id: ID!) { dataEndpoint(id: $id) { slug } }", json!({ "id": endpoint })).await;
        assert_eq!(still["dataEndpoint"]["slug"], "orders", "[{b}]");

        let out = app.mutate(&app.owner_key, "deleteDataEndpoint", json!({ "id": endpoint }), "deletedId").await;
        assert_eq!(out["deletedId"], endpoint, "[{b}]");
        let gone = app
            .gql(
                &app.owner_key,
                "query($e: ID!, $r: ID!, $w: ID!) { dataEndpoint(id: $e) { id } record(id: $r) { id } webhook(id: $w) { id }
                   records(filter: { endpointId: $e }) { totalCount } }",
                json!({ "e": endpoint, "r": record, "w": hook }),
            )
            .await;
        assert_eq!(
            gone,
            json!({ "dataEndpoint": null, "record": null, "webhook": null, "records": { "totalCount": 0 } }),
            "[{b}]"
        );
        let (s, body) = post_order(&app, &test_key).await;
        assert_eq!(s, 404, "[{b}] {body}");
        // The collaborator webhook's deletion is announced as any other.
        let ev = app
            .gql(&app.owner_key, "{ events(first: 5, filter: { eventTypes: [\"webhook.deleted\"] }) { nodes { subjectId } } }", json!({}))
            .await;
        assert_eq!(ev["events"]["nodes"], json!([{ "subjectId": hook }]), "[{b}]");
        // The slug is free again.
        app.mutate(&app.owner_key, "createDataEndpoint", json!({ "slug": "orders", "name": "Orders" }), "dataEndpoint { id }")
            .await;
        assert_eq!(post_order(&app, &test_key).await.0, 202, "[{b}]");
    })
    .await;
}

#[tokio::test]
async fn a_rotated_endpoint_secret_signs_the_next_callbacks() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let created = app
            .mutate(
                &app.owner_key,
                "createDataEndpoint",
                json!({ "slug": "orders", "name": "Orders" }),
                "secret dataEndpoint { id }",
            )
            .await;
        let (endpoint, first) = (created["dataEndpoint"]["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
        let key = app.mutate(&app.owner_key, "createDataKey", json!({ "name": "k" }), "secret").await["secret"]
            .as_str()
            .unwrap()
            .to_string();

        let (_, other) = app.other_workspace("other@example.com").await;
        let got = app.user_error(&other, "rotateDataEndpointSecret", json!({ "id": endpoint })).await;
        assert_eq!(got, ("input.id".into(), "NOT_FOUND".into()), "[{b}]");
        let (_, collab) = app.collaborator_key("collab@example.com").await;
        let q = crate::helpers::mutation_query("rotateDataEndpointSecret", "secret");
        app.gql_err(Some(&collab), &q, json!({ "i": { "id": endpoint } }), "FORBIDDEN").await;

        let rotated = app
            .mutate(&app.owner_key, "rotateDataEndpointSecret", json!({ "id": endpoint }), "secret dataEndpoint { id }")
            .await;
        let second = rotated["secret"].as_str().unwrap().to_string();
        assert!(second.starts_with("whsec_") && second != first, "[{b}] {rotated}");
        assert_eq!(rotated["dataEndpoint"]["id"], endpoint, "[{b}]");

        let (url, hits) = callback_receiver().await;
        let resp = app
            .client
            .post(format!("{}/api/v1/data/orders", app.url))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .header("x-webhook-callback", &url)
            .body(ORDER)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202, "[{b}]");
        let start = Instant::now();
        while hits.lock().unwrap().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(15), "[{b}] no callback");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (headers, body, _) = hits.lock().unwrap()[0].clone();
        standardwebhooks::Webhook::new(&second)
            .unwrap()
            .verify(body.as_bytes(), &headers)
            .unwrap_or_else(|e| panic!("[{b}] not signed with the new secret: {e}"));
        assert!(
            standardwebhooks::Webhook::new(first).unwrap().verify(body.as_bytes(), &headers).is_err(),
            "[{b}] still signed with the replaced secret"
        );
    })
    .await;
}

#[tokio::test]
async fn endpoints_keys_and_members_can_be_filtered() {
    for_each_backend(&[], |app: TestApp| async move {
        let k = &app.owner_key;
        let orders = app
            .mutate(k, "createDataEndpoint", json!({ "slug": "orders", "name": "Shop orders" }), "dataEndpoint { id }")
            .await;
        app.mutate(k, "createDataEndpoint", json!({ "slug": "leads", "name": "Leads" }), "dataEndpoint { id }").await;
        let id = orders["dataEndpoint"]["id"].clone();
        app.mutate(k, "updateDataEndpoint", json!({ "id": id, "enabled": false }), "dataEndpoint { id }").await;
        let off = app
            .gql(k, "{ dataEndpoints(filter: { enabled: false }) { totalCount edges { node { slug } } } }", json!({}))
            .await;
        assert_eq!(off["dataEndpoints"]["totalCount"], 1);
        assert_eq!(off["dataEndpoints"]["edges"][0]["node"]["slug"], "orders");
        let found = app.gql(k, "{ dataEndpoints(filter: { search: \"SHOP\" }) { totalCount } }", json!({})).await;
        assert_eq!(found["dataEndpoints"]["totalCount"], 1);

        app.mutate(k, "createDataKey", json!({ "name": "sandbox", "environment": "TEST" }), "secret").await;
        app.mutate(k, "createDataKey", json!({ "name": "prod", "environment": "LIVE" }), "secret").await;
        let live = app
            .gql(k, "{ dataKeys(filter: { environment: LIVE }) { totalCount edges { node { name } } } }", json!({}))
            .await;
        assert_eq!(live["dataKeys"]["totalCount"], 1);
        assert_eq!(live["dataKeys"]["edges"][0]["node"]["name"], "prod");

        app.collaborator_key("filtered@example.com").await;
        let collabs = app.gql(k, "{ members(filter: { role: COLLABORATOR }) { totalCount } }", json!({})).await;
        assert_eq!(collabs["members"]["totalCount"], 1);
        let owners = app.gql(k, "{ members(filter: { role: OWNER }) { totalCount } }", json!({})).await;
        assert_eq!(owners["members"]["totalCount"], 1);
    })
    .await;
}

/// Rows in the database of records of `endpoint`, however they got there.
async fn records_of(app: &TestApp, endpoint: &str) -> u64 {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let rows = entity::record::Entity::find().filter(entity::record::Column::EndpointId.eq(endpoint));
    rows.count(&app.state.db).await.unwrap()
}

#[tokio::test]
async fn deleting_an_endpoint_while_records_arrive_leaves_none_behind() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let (endpoint, test_key, _) = setup(&app, json!({})).await;
        // Eight senders, each until its first 404 (for 30 s at most).
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut senders = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (app, key, accepted) = (app.clone(), test_key.clone(), accepted.clone());
            senders.spawn(async move {
                let mut seen = Vec::new();
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(30) {
                    let (s, body) = post_order(&app, &key).await;
                    seen.push((s, body));
                    match s {
                        202 => accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        _ => break,
                    };
                }
                seen
            });
        }
        let started = Instant::now();
        while accepted.load(std::sync::atomic::Ordering::Relaxed) < 40 && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let out = app.mutate(&app.owner_key, "deleteDataEndpoint", json!({ "id": endpoint }), "deletedId").await;
        assert_eq!(out["deletedId"], endpoint, "[{b}]");
        let mut last = Vec::new();
        while let Some(seen) = senders.join_next().await {
            let seen = seen.unwrap();
            // Accepted, or the endpoint is gone: never a server error.
            for (s, body) in &seen {
                assert!(*s == 202 || *s == 404, "[{b}] {s} {body}");
            }
            last.push(seen.last().map(|(s, _)| *s));
        }
        assert!(last.iter().all(|s| *s == Some(404)), "[{b}] every sender ends on a 404: {last:?}");
        // No record of the deleted endpoint is left, whenever it was accepted.
        assert_eq!(records_of(&app, &endpoint).await, 0, "[{b}] records left of a deleted endpoint");
    })
    .await;
}

#[tokio::test]
async fn a_record_whose_endpoint_is_deleted_while_it_waits_for_its_commit_answers_404() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let (endpoint, test_key, _) = setup(&app, json!({})).await;
        // The endpoint is looked up (and cached) by a first request.
        assert_eq!(post_order(&app, &test_key).await.0, 202, "[{b}]");
        // A deletion under way, as `deleteDataEndpoint` makes it: the
        // endpoint's row, then its records, not yet committed.
        let txn = app.state.writer.begin().await.unwrap();
        entity::data_endpoint::Entity::delete_by_id(&endpoint).exec(&txn).await.unwrap();
        entity::record::Entity::delete_many()
            .filter(entity::record::Column::EndpointId.eq(&endpoint))
            .exec(&txn)
            .await
            .unwrap();
        // A request still finds the endpoint; its commit waits for the deletion's.
        let sent = tokio::spawn({
            let (app, key) = (app.clone(), test_key.clone());
            async move { post_order(&app, &key).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!sent.is_finished(), "[{b}] the write waits for the deletion");
        txn.commit().await.unwrap();
        let (s, body) = sent.await.unwrap();
        assert_eq!(s, 404, "[{b}] {body}");
        assert_eq!(records_of(&app, &endpoint).await, 0, "[{b}] records left of a deleted endpoint");
    })
    .await;
}
