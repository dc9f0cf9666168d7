//! A query's cost is priced by what it may return: lists by their page size
//! (`first`, `days`, `ids`), `totalCount` once per connection. Over the limit
//! it is refused before it runs; every answer reports `extensions.cost`.

use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp};

/// `SWITCHYARD_GRAPHQL_MAX_COMPLEXITY`'s default.
const LIMIT: u64 = 10_000;

#[tokio::test]
async fn five_aliased_hundred_item_lists_with_a_years_usage_are_refused() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = &app.backend;
        let list = |i: usize| {
            format!(
                "k{i}: apiKeys(first: 100) {{ nodes {{ id usage(days: 366) {{ day total byStatusClass {{ statusClass count }} }} }} }}"
            )
        };
        let query = format!("{{ {} }}", (0..5).map(list).collect::<Vec<_>>().join(" "));
        let (status, _, body) = app.gql_raw(Some(&app.owner_key), &query, json!({})).await;
        assert_eq!(status, 200, "[{b}] {body}");
        assert!(body["data"].is_null(), "[{b}] refused before it ran: {body}");
        let err = &body["errors"][0];
        assert_eq!(err["extensions"]["code"], "INVALID_REQUEST", "[{b}] {body}");
        assert!(err["message"].as_str().unwrap().contains("too complex"), "[{b}] {body}");
        // Per item: nodes 1 + id 1 + usage (1 + 366 days × (day, total,
        // byStatusClass 1 + its 2 fields)) = 1833; per list 1 + 100 × 1833.
        let cost = json!({ "requested": 5 * (1 + 100 * 1833), "limit": LIMIT });
        assert_eq!(err["extensions"]["cost"], cost, "[{b}] {body}");
        assert_eq!(body["extensions"]["cost"], cost, "[{b}] {body}");

        // The same lists, one item and one day each, are cheap and run.
        let small = query.replace("first: 100", "first: 1").replace("days: 366", "days: 1");
        let (_, _, body) = app.gql_raw(Some(&app.owner_key), &small, json!({})).await;
        assert!(body.get("errors").is_none(), "[{b}] {body}");
        // Per list: 1 + 1 × (nodes 1 + id 1 + usage (1 + 1 × 5)).
        assert_eq!(body["extensions"]["cost"]["requested"], 5 * (1 + 8), "[{b}] {body}");
    })
    .await;
}

#[tokio::test]
async fn a_dashboard_query_runs_and_reports_its_cost() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = &app.backend;
        for i in 0..2 {
            let input = json!({ "url": format!("http://127.0.0.1:9/hook{i}"), "eventTypes": ["user.*"] });
            app.mutate(&app.owner_key, "createWebhook", input, "webhook { id }").await;
        }
        let query = "{
            viewer { role user { id email } }
            webhooks(first: 20) { totalCount edges { node { id url enabled } } }
            events(first: 20) { pageInfo { hasNextPage } nodes { id type createdAt } }
        }";
        let (status, _, body) = app.gql_raw(Some(&app.owner_key), query, json!({})).await;
        assert_eq!(status, 200, "[{b}] {body}");
        assert!(body.get("errors").is_none(), "[{b}] {body}");
        let events = body["data"]["events"]["nodes"].as_array().unwrap().len() as u64;
        assert!(events > 0, "[{b}] creating webhooks recorded events: {body}");
        // Requested: viewer 5; webhooks 1 + 20 × (edges 1 + node 1 + 3) +
        // totalCount 25 once; events 1 + 20 × (pageInfo 2 + nodes 1 + 3).
        let requested = 5 + (1 + 20 * 5 + 25) + (1 + 20 * 6);
        // Actual: the same prices over what came back: two webhooks, `events` events.
        let actual = 5 + (1 + 25 + 1 + 2 * 4) + (1 + 2 + 1 + events * 3);
        assert_eq!(
            body["extensions"]["cost"],
            json!({ "requested": requested, "actual": actual, "limit": LIMIT }),
            "[{b}]"
        );
    })
    .await;
}

#[tokio::test]
async fn total_count_is_priced_once_per_connection() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = &app.backend;
        let cost = |query: String| {
            let app = app.clone();
            async move {
                let (_, _, body) = app.gql_raw(Some(&app.owner_key), &query, json!({})).await;
                body
            }
        };
        let requested = |body: &Value| body["extensions"]["cost"]["requested"].as_u64().unwrap();
        // Not multiplied by the page size, also inside an inline fragment.
        let one = cost("{ events(first: 100) { totalCount } }".into()).await;
        assert_eq!(requested(&one), 1 + 25, "[{b}] {one}");
        let inline = cost("{ events(first: 100) { ... on EventConnection { totalCount } } }".into()).await;
        assert_eq!(requested(&inline), 1 + 25, "[{b}] {inline}");
        assert_eq!(inline["data"], one["data"], "[{b}]");

        // But each counts: 60 pages of one item are cheap, 400 totals are not.
        let lists = |n: usize, selection: &str| {
            let fields: Vec<String> = (0..n).map(|i| format!("a{i}: events(first: 1) {{ {selection} }}")).collect();
            format!("{{ {} }}", fields.join(" "))
        };
        let cheap = cost(lists(60, "pageInfo { hasNextPage }")).await;
        assert!(cheap.get("errors").is_none(), "[{b}] {cheap}");
        assert_eq!(requested(&cheap), 60 * 3, "[{b}]");
        let counts = cost(lists(400, "totalCount")).await;
        assert_eq!(counts["errors"][0]["extensions"]["code"], "INVALID_REQUEST", "[{b}] {}", counts["errors"]);
        assert_eq!(requested(&counts), 400 * 26, "[{b}]");
    })
    .await;
}

#[tokio::test]
async fn the_limit_is_configurable() {
    for_each_backend(&["--graphql-max-complexity", "100"], |app: TestApp| async move {
        let b = &app.backend;
        let ok = "{ events(first: 10) { nodes { id type } } }";
        let (_, _, body) = app.gql_raw(Some(&app.owner_key), ok, json!({})).await;
        assert!(body.get("errors").is_none(), "[{b}] {body}");
        assert_eq!(body["extensions"]["cost"]["limit"], 100, "[{b}] {body}");
        let over = "{ events(first: 40) { nodes { id type } } }";
        let err = app.gql_err(Some(&app.owner_key), over, json!({}), "INVALID_REQUEST").await;
        assert_eq!(err["extensions"]["cost"], json!({ "requested": 1 + 40 * 3, "limit": 100 }), "[{b}]");
        // `nodes(ids:)` is priced by its number of ids.
        let ids: Vec<String> = (0..40).map(|i| format!("\"evt_{i}\"")).collect();
        let q = format!("{{ nodes(ids: [{}]) {{ id ... on Event {{ type createdAt }} }} }}", ids.join(", "));
        let err = app.gql_err(Some(&app.owner_key), &q, json!({}), "INVALID_REQUEST").await;
        assert_eq!(err["extensions"]["cost"]["requested"], 1 + 40 * 3, "[{b}]");
    })
    .await;
}
