//! `Idempotency-Key`: a retry replays the first answer, another request
//! under the same key is refused, keys never cross callers, and racing
//! retries do the work once.

use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp};

async fn data_key(app: &TestApp) -> String {
    app.mutate(
        &app.owner_key,
        "createDataEndpoint",
        json!({ "slug": "orders", "name": "Orders" }),
        "dataEndpoint { id }",
    )
    .await;
    app.mutate(&app.owner_key, "createDataKey", json!({ "name": "k" }), "secret").await["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn post(app: &TestApp, key: &str, idem: &str, body: Value) -> (u16, Option<String>, Value) {
    let resp = app
        .client
        .post(format!("{}/api/v1/data/orders", app.url))
        .bearer_auth(key)
        .header("idempotency-key", idem)
        .json(&body)
        .send()
        .await
        .unwrap();
    let replayed = resp.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_string());
    (resp.status().as_u16(), replayed, resp.json().await.unwrap_or(Value::Null))
}

async fn records(app: &TestApp) -> Value {
    app.gql(&app.owner_key, "{ records { totalCount } }", json!({})).await["records"]["totalCount"].clone()
}

#[tokio::test]
async fn a_retried_data_request_replays_its_first_answer_once() {
    for_each_backend(&[], |app: TestApp| async move {
        let key = data_key(&app).await;
        let (s1, r1, b1) = post(&app, &key, "order-1001", json!({ "amount": 1 })).await;
        assert_eq!((s1, r1), (202, None), "{b1}");
        let (s2, r2, b2) = post(&app, &key, "order-1001", json!({ "amount": 1 })).await;
        assert_eq!((s2, r2.as_deref()), (202, Some("true")));
        assert_eq!(b1, b2, "the same answer, the same record id");
        assert_eq!(records(&app).await, 1);

        // The same key for another body: refused, nothing written.
        let (s3, _, b3) = post(&app, &key, "order-1001", json!({ "amount": 2 })).await;
        assert_eq!(s3, 422, "{b3}");
        assert_eq!(b3["success"], false);
        assert_eq!(b3["details"][0]["field"], "Idempotency-Key", "{b3}");
        assert_eq!(records(&app).await, 1);

        // Without a key, or with another, the work is done again.
        let (s4, _, b4) = post(&app, &key, "order-1002", json!({ "amount": 1 })).await;
        assert_eq!(s4, 202);
        assert_ne!(b4, b1);
        assert_eq!(records(&app).await, 2);
        let (s5, _, _) = post(&app, &key, &"x".repeat(256), json!({})).await;
        assert_eq!(s5, 400, "keys are at most 255 characters");

        // Racing retries: one record.
        let tries = (0..5).map(|_| post(&app, &key, "order-1003", json!({ "amount": 3 })));
        let answers = futures_util::future::join_all(tries).await;
        let ids: std::collections::BTreeSet<String> = answers
            .iter()
            .filter(|(s, _, _)| *s == 202)
            .map(|(_, _, b)| b["id"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(ids.len(), 1, "{answers:?}");
        assert!(answers.iter().all(|(s, _, _)| *s == 202 || *s == 409), "{answers:?}");
        assert_eq!(records(&app).await, 3);
    })
    .await;
}

#[tokio::test]
async fn a_retried_mutation_creates_once_and_keys_do_not_cross_callers() {
    for_each_backend(&[], |app: TestApp| async move {
        let create = |key: String, idem: &'static str| {
            let req = app.client.post(format!("{}/graphql", app.url)).bearer_auth(key).header("idempotency-key", idem);
            async move {
                let q = "mutation { createWebhook(input: { url: \"https://example.com/h\", eventTypes: [\"*\"] }) { webhook { id } secret } }";
                let resp = req.json(&json!({ "query": q })).send().await.unwrap();
                let replayed = resp.headers().contains_key("idempotent-replayed");
                let v: Value = resp.json().await.unwrap();
                (v["data"]["createWebhook"]["webhook"]["id"].as_str().unwrap_or_default().to_string(), replayed)
            }
        };
        let (a, replayed_a) = create(app.owner_key.clone(), "hook-1").await;
        let (b, replayed_b) = create(app.owner_key.clone(), "hook-1").await;
        assert!(!a.is_empty());
        assert_eq!(a, b);
        assert!(!replayed_a && replayed_b);
        let count = app.gql(&app.owner_key, "{ webhooks { totalCount } }", json!({})).await;
        assert_eq!(count["webhooks"]["totalCount"], 1);

        // Another workspace's owner with the same key gets a webhook of their own.
        let (_, other) = app.other_workspace("idem@example.com").await;
        let (c, replayed_c) = create(other.clone(), "hook-1").await;
        assert!(!c.is_empty() && c != a && !replayed_c);
        let theirs = app.gql(&other, "{ webhooks { totalCount } }", json!({})).await;
        assert_eq!(theirs["webhooks"]["totalCount"], 1);
    })
    .await;
}
