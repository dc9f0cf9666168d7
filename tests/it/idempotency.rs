//! `Idempotency-Key`: a retry replays the first answer, another request
//! under the same key is refused, keys never cross callers, and racing
//! retries do the work once; the same for `idempotencyKey` on `create…`
//! mutations.

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

/// Whether any kept answer shows `text` in the clear.
async fn kept_in_clear(app: &TestApp, text: &str) -> bool {
    use sea_orm::EntityTrait;
    let kept = entity::idempotency_key::Entity::find().all(&app.state.db).await.unwrap();
    assert!(!kept.is_empty());
    kept.iter().any(|k| k.body.as_deref().unwrap_or_default().contains(text))
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
        assert!(!kept_in_clear(&app, b1["id"].as_str().unwrap()).await, "answers are kept encrypted");

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
        // The key with another request, or a key that is no key: refused in
        // GraphQL's shape (a GraphQL client reads `errors`), nothing created.
        let q = "mutation { createWebhook(input: { url: \"https://example.com/other\", eventTypes: [\"*\"] }) { secret } }";
        for (idem, status) in [("hook-1", 422), ("a b", 400)] {
            let req = app.client.post(format!("{}/graphql", app.url)).bearer_auth(&app.owner_key);
            let resp = req.header("idempotency-key", idem).json(&json!({ "query": q })).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "{idem}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_REQUEST", "{idem}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["details"][0]["field"], "Idempotency-Key", "{idem}: {body}");
        }
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

const HOOK: &str = "webhook { id url } secret userErrors { field message code }";

async fn create_hook(app: &TestApp, key: &str, input: Value) -> Value {
    let body = app.mutation_raw(Some(key), "createWebhook", input, HOOK).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["createWebhook"].clone()
}

async fn count(app: &TestApp, key: &str, list: &str) -> i64 {
    let data = app.gql(key, &format!("{{ {list} {{ totalCount }} }}"), json!({})).await;
    data[list]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn a_create_retried_with_its_idempotency_key_returns_the_first_object() {
    for_each_backend(&[], |app: TestApp| async move {
        let owner = app.owner_key.clone();
        let input = json!({ "url": "https://example.com/a", "eventTypes": ["*"], "idempotencyKey": "hook-a" });
        let first = create_hook(&app, &owner, input.clone()).await;
        assert_eq!(first["userErrors"], json!([]), "{first}");
        // The same input with its fields in another order is the same request.
        let again = json!({ "idempotencyKey": "hook-a", "eventTypes": ["*"], "url": "https://example.com/a" });
        let second = create_hook(&app, &owner, again).await;
        assert_eq!(second, first, "the same webhook and the same shown-once secret");
        assert_eq!(count(&app, &owner, "webhooks").await, 1);

        // Another input under the key: refused, nothing created.
        let other = json!({ "url": "https://example.com/b", "eventTypes": ["*"], "idempotencyKey": "hook-a" });
        let refused = create_hook(&app, &owner, other).await;
        assert!(refused["webhook"].is_null(), "{refused}");
        assert_eq!(refused["userErrors"][0]["code"], "IDEMPOTENCY_CONFLICT", "{refused}");
        assert_eq!(refused["userErrors"][0]["field"], json!(["input", "idempotencyKey"]));
        assert_eq!(count(&app, &owner, "webhooks").await, 1);

        // Without a key the work is done every time.
        let plain = json!({ "url": "https://example.com/a", "eventTypes": ["*"] });
        let (c, d) = (create_hook(&app, &owner, plain.clone()).await, create_hook(&app, &owner, plain).await);
        assert_ne!(c["webhook"]["id"], d["webhook"]["id"]);
        assert_eq!(count(&app, &owner, "webhooks").await, 3);

        // A refused first try keeps nothing: the corrected input runs under the same key.
        let bad = json!({ "url": "not a url", "eventTypes": ["*"], "idempotencyKey": "hook-c" });
        assert_eq!(create_hook(&app, &owner, bad).await["userErrors"][0]["code"], "INVALID");
        let good = json!({ "url": "https://example.com/c", "eventTypes": ["*"], "idempotencyKey": "hook-c" });
        assert_eq!(create_hook(&app, &owner, good).await["userErrors"], json!([]));
        assert_eq!(count(&app, &owner, "webhooks").await, 4);

        // Keys are at most 255 characters.
        let long = json!({ "url": "https://example.com/d", "eventTypes": ["*"], "idempotencyKey": "k".repeat(256) });
        let refused = create_hook(&app, &owner, long).await;
        assert_eq!(refused["userErrors"][0]["field"], json!(["input", "idempotencyKey"]), "{refused}");
        assert_eq!(count(&app, &owner, "webhooks").await, 4);

        // Another create: an API key, its secret shown again to the retry only.
        let sel = "apiKey { id } secret userErrors { code }";
        let input = json!({ "name": "ci", "scopes": ["READ"], "idempotencyKey": "key-1" });
        let before = count(&app, &owner, "apiKeys").await;
        let a = app.mutate(&owner, "createApiKey", input.clone(), sel).await;
        let b = app.mutate(&owner, "createApiKey", input, sel).await;
        assert!(a["secret"].as_str().is_some_and(|s| !s.is_empty()));
        assert_eq!(a, b);
        assert!(!kept_in_clear(&app, a["secret"].as_str().unwrap()).await, "the secret is kept encrypted");
        assert_eq!(count(&app, &owner, "apiKeys").await, before + 1);
    })
    .await;
}

#[tokio::test]
async fn idempotency_keys_are_per_workspace_and_racing_retries_create_once() {
    for_each_backend(&[], |app: TestApp| async move {
        let owner = app.owner_key.clone();
        let input = json!({ "url": "https://example.com/h", "eventTypes": ["*"], "idempotencyKey": "shared" });
        let ours = create_hook(&app, &owner, input.clone()).await;
        let (_, other) = app.other_workspace("idem-input@example.com").await;
        let theirs = create_hook(&app, &other, input.clone()).await;
        assert_eq!(theirs["userErrors"], json!([]), "{theirs}");
        assert_ne!(theirs["webhook"]["id"], ours["webhook"]["id"]);
        assert_eq!(count(&app, &other, "webhooks").await, 1);
        assert_eq!(count(&app, &owner, "webhooks").await, 1);

        // Six racing tries with a fresh key: one webhook; each try gets it
        // or is told the first is still running.
        let racing = json!({ "url": "https://example.com/r", "eventTypes": ["*"], "idempotencyKey": "race" });
        let tries = (0..6).map(|_| create_hook(&app, &owner, racing.clone()));
        let answers = futures_util::future::join_all(tries).await;
        let ids: std::collections::BTreeSet<String> =
            answers.iter().filter_map(|a| a["webhook"]["id"].as_str().map(str::to_string)).collect();
        assert_eq!(ids.len(), 1, "{answers:?}");
        for a in &answers {
            let code = &a["userErrors"][0]["code"];
            assert!(code.is_null() || code == "IDEMPOTENCY_IN_PROGRESS", "{a}");
        }
        assert_eq!(count(&app, &owner, "webhooks").await, 2);
    })
    .await;
}

#[tokio::test]
async fn a_first_request_cancelled_midway_gives_its_key_back() {
    use switchyard::services::idempotency::once;
    for_each_backend(&[], |app: TestApp| async move {
        let st = &app.state;
        let hung = once::<String, _>(st, "test", "k", "fp", std::future::pending());
        let cut = tokio::time::timeout(std::time::Duration::from_millis(200), hung).await;
        assert!(cut.is_err(), "the first request never answers; the caller hangs up");
        // The retry runs the work instead of hearing "still running" for a day.
        let ran = once(st, "test", "k", "fp", async { Ok("ran".to_string()) }).await.unwrap();
        assert_eq!(ran, "ran");
        let replayed = once(st, "test", "k", "fp", async { Ok("twice".to_string()) }).await.unwrap();
        assert_eq!(replayed, "ran");
        // A failed first run keeps nothing either.
        let failed = once::<String, _>(st, "test", "f", "fp", async { Err(switchyard::error::Error::invalid("no")) });
        assert!(failed.await.is_err());
        let ok = once(st, "test", "f", "fp", async { Ok("second".to_string()) }).await.unwrap();
        assert_eq!(ok, "second");
    })
    .await;
}

/// Creates whose input has no `idempotencyKey` yet, each to be taken off
/// this list when it gains one (the check fails on a stale entry).
const CREATES_WITHOUT_KEY_YET: &[&str] = &[];

/// Every `create…` mutation whose input lacks `idempotencyKey: String`.
fn creates_without_key(sdl: &str) -> Vec<String> {
    use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(sdl).expect("the SDL parses");
    let types: std::collections::HashMap<&str, &TypeKind> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) => Some((t.node.name.node.as_str(), &t.node.kind)),
            _ => None,
        })
        .collect();
    let Some(TypeKind::Object(root)) = types.get("MutationRoot") else { return vec!["no MutationRoot".into()] };
    let mut out = Vec::new();
    for f in root.fields.iter().filter(|f| f.node.name.node.starts_with("create")) {
        let input = f.node.arguments.iter().find(|a| a.node.name.node == "input").map(|a| &a.node.ty.node.base);
        let Some(BaseType::Named(input)) = input else { continue };
        let has_key = matches!(types.get(input.as_str()), Some(TypeKind::InputObject(i)) if i.fields.iter().any(|k| {
            k.node.name.node == "idempotencyKey"
                && k.node.ty.node.nullable
                && matches!(&k.node.ty.node.base, BaseType::Named(n) if n == "String")
        }));
        if !has_key {
            out.push(f.node.name.node.to_string());
        }
    }
    out.sort();
    out
}

#[test]
fn every_create_takes_an_idempotency_key() {
    let missing = creates_without_key(&switchyard::graphql::sdl());
    let late: Vec<_> = missing.iter().filter(|m| !CREATES_WITHOUT_KEY_YET.contains(&m.as_str())).collect();
    assert!(late.is_empty(), "create mutations without `idempotencyKey: String` in their input: {late:?}");
    let stale: Vec<_> = CREATES_WITHOUT_KEY_YET.iter().filter(|c| !missing.iter().any(|m| m == *c)).collect();
    assert!(stale.is_empty(), "these have a key now; take them off CREATES_WITHOUT_KEY_YET: {stale:?}");

    let sdl = "type MutationRoot { createA(input: CreateAInput!): P! createB(input: CreateBInput!): P!
                   createC(input: CreateCInput!): P! deleteA(input: DeleteAInput!): P! }
               type P { a: Int }
               input CreateAInput { name: String idempotencyKey: String }
               input CreateBInput { name: String }
               input CreateCInput { idempotencyKey: String! }
               input DeleteAInput { id: ID! }";
    assert_eq!(creates_without_key(sdl), ["createB", "createC"]);
}

#[tokio::test]
async fn the_prune_forgets_keys_after_24_hours_and_the_key_runs_again() {
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    use switchyard::jobs::Handler;
    use switchyard::services::idempotency::once;
    for_each_backend(&[], |app: TestApp| async move {
        let st = &app.state;
        assert_eq!(once(st, "test", "old", "fp", async { Ok(1) }).await.unwrap(), 1);
        assert_eq!(once(st, "test", "new", "fp", async { Ok(2) }).await.unwrap(), 2);
        let kept = entity::idempotency_key::Entity::find().all(&st.db).await.unwrap();
        let old = kept.into_iter().find(|k| k.key == "old").unwrap();
        let mut am = old.into_active_model();
        am.created_at = Set(chrono::Utc::now() - chrono::Duration::hours(25));
        am.update(&st.writer).await.unwrap();

        let job = loop {
            if let Some(j) = entity::job::Entity::find().one(&st.db).await.unwrap() {
                break j;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        switchyard::services::maintenance::Prune.run(st, &job).await.unwrap();
        let left: Vec<String> =
            entity::idempotency_key::Entity::find().all(&st.db).await.unwrap().into_iter().map(|k| k.key).collect();
        assert_eq!(left, ["new"], "[{}]", app.backend);
        // Past the window the key is free: the work runs again.
        assert_eq!(once(st, "test", "old", "fp", async { Ok(3) }).await.unwrap(), 3);
        assert_eq!(once(st, "test", "new", "fp", async { Ok(4) }).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_retried_create_connection_returns_the_first_connection_and_url() {
    for_each_backend(&[], |app: TestApp| async move {
        let input = json!({ "provider": "incoming_webhooks", "idempotencyKey": "hooks-1" });
        let sel = "connection { id } incomingUrl";
        let a = app.mutate(&app.owner_key, "createConnection", input.clone(), sel).await;
        let b = app.mutate(&app.owner_key, "createConnection", input, sel).await;
        assert_eq!(a, b, "the retry gets the first answer, not TAKEN");
        let other = json!({ "provider": "incoming_webhooks", "webhookSecret": "a long enough secret", "idempotencyKey": "hooks-1" });
        let refused = app.mutation_raw(Some(&app.owner_key), "createConnection", other, "userErrors { code }").await;
        assert_eq!(refused["data"]["createConnection"]["userErrors"][0]["code"], "IDEMPOTENCY_CONFLICT", "{refused}");
        let count = app.gql(&app.owner_key, "{ connections { totalCount } }", json!({})).await;
        assert_eq!(count["connections"]["totalCount"], 1);
    })
    .await;
}
