//! The console's chart queries: known rows in, known buckets out, on every
//! backend. Rows are written straight into the tables at chosen times, so
//! the buckets, counts and percentiles are known exactly; rows of another
//! workspace, another resource or outside the window must not count.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp};

/// The start of the minute `minutes_ago` minutes before now's.
fn minute_start(minutes_ago: i64) -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    DateTime::from_timestamp(now - now.rem_euclid(60) - minutes_ago * 60, 0).unwrap()
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

async fn webhook(app: &TestApp, key: &str) -> String {
    let input = json!({ "url": "http://127.0.0.1:9/hook", "eventTypes": ["api_key.created"], "enabled": false });
    let out = app.mutate(key, "createWebhook", input, "webhook { id }").await;
    out["webhook"]["id"].as_str().unwrap().to_string()
}

/// One delivery with one attempt per (time, success, response time).
async fn attempts(app: &TestApp, workspace: &str, webhook: &str, rows: &[(DateTime<Utc>, bool, i64)]) {
    for (i, &(at, success, ms)) in rows.iter().enumerate() {
        let delivery = switchyard::ids::new_id("dlv");
        entity::delivery::ActiveModel {
            id: Set(delivery.clone()),
            workspace_id: Set(workspace.into()),
            webhook_id: Set(webhook.into()),
            event_id: Set(None),
            event_type: Set("test.chart".into()),
            payload: Set(json!({})),
            state: Set(if success { "succeeded" } else { "failed" }.into()),
            attempts: Set(1),
            last_status_code: Set(Some(if success { 200 } else { 500 })),
            last_error: Set(None),
            job_id: Set(format!("job_chart{i}")),
            created_at: Set(at),
            updated_at: Set(at),
            delivered_at: Set(success.then_some(at)),
        }
        .insert(&app.state.db)
        .await
        .unwrap();
        entity::delivery_attempt::ActiveModel {
            id: Set(switchyard::ids::new_id("att")),
            workspace_id: Set(workspace.into()),
            delivery_id: Set(delivery),
            webhook_id: Set(webhook.into()),
            attempt: Set(1),
            success: Set(success),
            status_code: Set(Some(if success { 200 } else { 500 })),
            response_time_ms: Set(ms),
            response_body: Set(String::new()),
            request_headers: Set(json!({})),
            error: Set((!success).then(|| "HTTP 500".to_string())),
            created_at: Set(at),
        }
        .insert(&app.state.db)
        .await
        .unwrap();
    }
}

/// The rows here are history written straight into the tables: no job
/// worker, so the `charts.rollup` job cannot roll up a bucket while its rows
/// are still being written (live attempts are written as they happen).
const NO_JOBS: &[&str] = &["--role", "api"];

const TIMELINE: &str = "query($w: ID, $b: TimeBucket! = MINUTE, $n: Int! = 60) {
    deliveryTimeline(webhookId: $w, bucket: $b, buckets: $n) {
        start succeeded failed p50ResponseTimeMs p99ResponseTimeMs } }";

#[tokio::test]
async fn delivery_attempts_are_bucketed_per_minute_with_nearest_rank_percentiles() {
    for_each_backend(NO_JOBS, |app: TestApp| async move {
        let ws = app.workspace_id.clone();
        let (hook_a, hook_b) = (webhook(&app, &app.owner_key).await, webhook(&app, &app.owner_key).await);
        let (a, b) = (minute_start(5), minute_start(3));
        // Minute a: 10 attempts of 10, 20, … 100 ms, two failed; p50 is the
        // 5th (50 ms), p99 the 10th (100 ms).
        let mut rows: Vec<_> = (1..=10).map(|i| (a + Duration::seconds(i * 5), i != 3 && i != 7, i * 10)).collect();
        // Minute b: 7, 300 and 5 ms (one on webhook b): p50 is the 2nd of
        // 5, 7, 300 (7 ms), p99 the 3rd (300 ms).
        rows.extend([(b, true, 7), (b + Duration::milliseconds(59_999), false, 300)]);
        attempts(&app, &ws, &hook_a, &rows).await;
        attempts(&app, &ws, &hook_b, &[(b + Duration::seconds(30), true, 5)]).await;
        // Outside the hour: not counted.
        attempts(&app, &ws, &hook_a, &[(minute_start(61), true, 1)]).await;
        // Another workspace's attempts at the same times: not counted.
        let (other_ws, other_key) = app.other_workspace("charts-other@example.com").await;
        let other_hook = webhook(&app, &other_key).await;
        attempts(&app, &other_ws, &other_hook, &[(a, false, 999), (b, false, 999)]).await;

        let data = app.gql(&app.owner_key, TIMELINE, json!({})).await;
        assert_eq!(
            data["deliveryTimeline"],
            json!([
                { "start": rfc(a), "succeeded": 8, "failed": 2, "p50ResponseTimeMs": 50, "p99ResponseTimeMs": 100 },
                { "start": rfc(b), "succeeded": 2, "failed": 1, "p50ResponseTimeMs": 7, "p99ResponseTimeMs": 300 },
            ]),
            "[{}]",
            app.backend
        );
        // One webhook.
        let data = app.gql(&app.owner_key, TIMELINE, json!({ "w": hook_b })).await;
        assert_eq!(
            data["deliveryTimeline"],
            json!([{ "start": rfc(b), "succeeded": 1, "failed": 0, "p50ResponseTimeMs": 5, "p99ResponseTimeMs": 5 }]),
            "[{}]",
            app.backend
        );
        // Another workspace's webhook id finds nothing of it here.
        let data = app.gql(&app.owner_key, TIMELINE, json!({ "w": other_hook })).await;
        assert_eq!(data["deliveryTimeline"], json!([]), "[{}]", app.backend);
        // The other workspace sees only its own.
        let data = app.gql(&other_key, TIMELINE, json!({})).await;
        let failed: i64 =
            data["deliveryTimeline"].as_array().unwrap().iter().map(|b| b["failed"].as_i64().unwrap()).sum();
        assert_eq!(failed, 2, "[{}] {data}", app.backend);
        // A window of 2 minutes holds neither a nor b.
        let data = app.gql(&app.owner_key, TIMELINE, json!({ "n": 2 })).await;
        assert_eq!(data["deliveryTimeline"], json!([]), "[{}]", app.backend);

        // Per hour: the same attempts in their hours, the 61-minute-old one included.
        let data = app.gql(&app.owner_key, TIMELINE, json!({ "b": "HOUR", "n": 3 })).await;
        let hours = data["deliveryTimeline"].as_array().unwrap();
        let total: i64 = hours.iter().map(|h| h["succeeded"].as_i64().unwrap() + h["failed"].as_i64().unwrap()).sum();
        assert_eq!(total, 14, "[{}] {data}", app.backend);
        for h in hours {
            let start = DateTime::parse_from_rfc3339(h["start"].as_str().unwrap()).unwrap();
            assert_eq!(start.timestamp() % 3600, 0, "[{}] hour buckets start on the hour: {h}", app.backend);
        }
        let data = app.gql(&app.owner_key, TIMELINE, json!({ "b": "DAY", "n": 2 })).await;
        let days = data["deliveryTimeline"].as_array().unwrap();
        assert!(days
            .iter()
            .all(|d| DateTime::parse_from_rfc3339(d["start"].as_str().unwrap()).unwrap().timestamp() % 86_400 == 0));
        let total: i64 = days.iter().map(|h| h["succeeded"].as_i64().unwrap() + h["failed"].as_i64().unwrap()).sum();
        assert_eq!(total, 14, "[{}] {data}", app.backend);
    })
    .await;
}

#[tokio::test]
async fn closed_buckets_are_rolled_up_once_and_read_back_unchanged() {
    use switchyard::services::charts::{rollup, Bucket};
    for_each_backend(NO_JOBS, |app: TestApp| async move {
        let ws = app.workspace_id.clone();
        let (hook_a, hook_b) = (webhook(&app, &app.owner_key).await, webhook(&app, &app.owner_key).await);
        // Closed minutes long enough ago to be rolled up, two hours back,
        // and the minute holding now (never rolled up while it is open).
        let (a, b, old, open) = (minute_start(9), minute_start(6), minute_start(130), minute_start(0));
        let mut rows: Vec<_> = (1..=10).map(|i| (a + Duration::seconds(i * 5), i != 4, i * 11)).collect();
        rows.extend([(b, true, 3), (b + Duration::seconds(1), false, 900), (old, true, 42), (open, true, 8)]);
        attempts(&app, &ws, &hook_a, &rows).await;
        attempts(&app, &ws, &hook_b, &[(b + Duration::seconds(2), true, 4), (old, false, 77)]).await;
        let (other_ws, other_key) = app.other_workspace("rollup-other@example.com").await;
        let other_hook = webhook(&app, &other_key).await;
        attempts(&app, &other_ws, &other_hook, &[(a, false, 999), (b, false, 999)]).await;

        let views = [
            json!({}),
            json!({ "w": hook_a }),
            json!({ "w": hook_b }),
            json!({ "b": "HOUR", "n": 24 }),
            json!({ "b": "HOUR", "n": 24, "w": hook_b }),
            json!({ "b": "DAY", "n": 3 }),
        ];
        let read = |key: String| {
            let app = &app;
            let views = views.clone();
            async move {
                let mut out = Vec::new();
                for v in views {
                    out.push(app.gql(&key, TIMELINE, v).await["deliveryTimeline"].clone());
                }
                out
            }
        };
        let before = read(app.owner_key.clone()).await;
        let other_before = read(other_key.clone()).await;
        assert_eq!(before[0].as_array().unwrap().len(), 3, "[{}] a, b and the open minute: {}", app.backend, before[0]);

        let now = Utc::now();
        let done = rollup::roll_up(&app.state.writer, now).await.unwrap();
        assert!(done.buckets > 0 && done.rows > 0, "[{}] {done:?}", app.backend);
        // Run again at the same time: nothing new has closed.
        assert_eq!(rollup::roll_up(&app.state.writer, now).await.unwrap().buckets, 0, "[{}]", app.backend);
        let minute_mark = rollup::mark(&app.state.db, Bucket::Minute).await.unwrap();
        let expected = (now.timestamp() - rollup::GRACE_SECONDS).div_euclid(60) * 60;
        assert_eq!(minute_mark, Some(expected), "[{}]", app.backend);

        assert_eq!(read(app.owner_key.clone()).await, before, "[{}] the rollups read as the log did", app.backend);
        assert_eq!(read(other_key.clone()).await, other_before, "[{}] each workspace its own", app.backend);

        // The rolled-up attempts leave the log (as the prune would make
        // them): the closed buckets still have them, from the rollups alone.
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let cut = Utc::now() - Duration::seconds(rollup::GRACE_SECONDS + 60);
        let gone = entity::delivery_attempt::Entity::delete_many()
            .filter(entity::delivery_attempt::Column::CreatedAt.lt(cut))
            .exec(&app.state.writer)
            .await
            .unwrap()
            .rows_affected;
        assert_eq!(gone, 17, "[{}]", app.backend);
        let after = read(app.owner_key.clone()).await;
        // The minute views: a and b from the rollups, the open minute from the log.
        assert_eq!(after[..3], before[..3], "[{}] read from the rollups", app.backend);
        // Hours and days: the closed ones unchanged; an open one lost what was deleted.
        for (view, bucket) in [(3, Bucket::Hour), (4, Bucket::Hour), (5, Bucket::Day)] {
            let mark = rollup::mark(&app.state.db, bucket).await.unwrap().unwrap_or(i64::MIN);
            let closed = |v: &Value| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .filter(|b| DateTime::parse_from_rfc3339(b["start"].as_str().unwrap()).unwrap().timestamp() < mark)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(closed(&after[view]), closed(&before[view]), "[{}] view {view}", app.backend);
        }
        // The two-hours-old attempts sit in a closed hour, still counted.
        let hour = old.timestamp().div_euclid(3600) * 3600;
        let start = rfc(DateTime::from_timestamp(hour, 0).unwrap());
        let kept = after[3].as_array().unwrap().iter().find(|b| b["start"] == start.as_str());
        assert_eq!(
            kept.map(|b| (b["succeeded"].clone(), b["failed"].clone())),
            Some((json!(1), json!(1))),
            "[{}]",
            app.backend
        );
    })
    .await;
}

#[tokio::test]
async fn the_delivery_chart_is_for_owners_and_checks_its_arguments() {
    for_each_backend(NO_JOBS, |app: TestApp| async move {
        let (_, collaborator) = app.collaborator_key("charts-collab@example.com").await;
        app.gql_err(Some(&collaborator), TIMELINE, json!({}), "FORBIDDEN").await;
        app.gql_err(None, TIMELINE, json!({}), "UNAUTHORIZED").await;
        for n in [0, 1441] {
            let e = app.gql_err(Some(&app.owner_key), TIMELINE, json!({ "n": n }), "INVALID_REQUEST").await;
            assert_eq!(e["extensions"]["details"][0]["field"], "buckets", "[{}] {e}", app.backend);
        }
        // An empty webhook id is refused, not read as the whole workspace's rollups.
        let e = app.gql_err(Some(&app.owner_key), TIMELINE, json!({ "w": "" }), "INVALID_REQUEST").await;
        assert_eq!(e["extensions"]["details"][0]["field"], "webhookId", "[{}] {e}", app.backend);
        let data = app.gql(&app.owner_key, TIMELINE, json!({ "n": 1440 })).await;
        assert_eq!(data["deliveryTimeline"], json!([]), "[{}]", app.backend);
    })
    .await;
}

async fn connection_row(app: &TestApp, workspace: &str, provider: &str) -> String {
    let id = switchyard::ids::new_id("con");
    let now = Utc::now();
    entity::connection::ActiveModel {
        id: Set(id.clone()),
        workspace_id: Set(workspace.into()),
        provider: Set(provider.into()),
        account: Set("chart@example.com".into()),
        status: Set("connected".into()),
        scopes: Set(json!([])),
        credentials_enc: Set(String::new()),
        token_expires_at: Set(None),
        auto_refresh: Set(false),
        refresh_lease_until: Set(None),
        created_by: Set(app.owner_id.clone()),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    id
}

async fn calls(app: &TestApp, workspace: &str, connection: &str, rows: &[(DateTime<Utc>, &str)]) {
    for &(at, status) in rows {
        entity::connection_call::ActiveModel {
            id: Set(switchyard::ids::new_id("cal")),
            workspace_id: Set(workspace.into()),
            connection_id: Set(connection.into()),
            method: Set("GET".into()),
            path: Set("/me".into()),
            status: Set(status.into()),
            http_status: Set((status != "queued").then_some(if status == "succeeded" { 200 } else { 500 })),
            attempts: Set(1),
            duration_ms: Set(Some(10)),
            queued_ms: Set(0),
            request_enc: Set(None),
            response_headers: Set(None),
            response_body: Set(None),
            response_truncated: Set(false),
            error: Set(None),
            run_after: Set(None),
            created_at: Set(at),
            finished_at: Set(Some(at)),
        }
        .insert(&app.state.db)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn connection_calls_are_bucketed_per_hour() {
    for_each_backend(NO_JOBS, |app: TestApp| async move {
        let ws = app.workspace_id.clone();
        let now = Utc::now().timestamp();
        let hour = |ago: i64| DateTime::from_timestamp(now - now.rem_euclid(3600) - ago * 3600, 0).unwrap();
        let slack = connection_row(&app, &ws, "slack").await;
        let notion = connection_row(&app, &ws, "notion").await;
        calls(
            &app,
            &ws,
            &slack,
            &[
                (hour(23), "succeeded"),
                (hour(23) + Duration::minutes(59), "failed"),
                (hour(2), "succeeded"),
                (hour(2) + Duration::seconds(1), "succeeded"),
                (hour(2) + Duration::seconds(2), "queued"),
                // Outside the 24 hours.
                (hour(24), "succeeded"),
            ],
        )
        .await;
        // Another connection's calls in the same hours: not counted.
        calls(&app, &ws, &notion, &[(hour(2), "failed"), (hour(23), "failed")]).await;
        let q = "query($id: ID!) { connection(id: $id) { callTimeline { start calls succeeded failed } } }";
        let data = app.gql(&app.owner_key, q, json!({ "id": slack })).await;
        assert_eq!(
            data["connection"]["callTimeline"],
            json!([
                { "start": rfc(hour(23)), "calls": 2, "succeeded": 1, "failed": 1 },
                { "start": rfc(hour(2)), "calls": 3, "succeeded": 2, "failed": 0 },
            ]),
            "[{}]",
            app.backend
        );
        let q2 = "query($id: ID!) { connection(id: $id) { callTimeline(bucket: DAY, buckets: 3) { calls } } }";
        let data = app.gql(&app.owner_key, q2, json!({ "id": slack })).await;
        let total: i64 =
            data["connection"]["callTimeline"].as_array().unwrap().iter().map(|b| b["calls"].as_i64().unwrap()).sum();
        assert_eq!(total, 6, "[{}] {data}", app.backend);
        // Another workspace cannot reach the connection at all.
        let (_, other_key) = app.other_workspace("charts-calls@example.com").await;
        app.gql_null(&other_key, q, json!({ "id": slack }), "connection").await;
        let bad = "query($id: ID!) { connection(id: $id) { callTimeline(buckets: 0) { calls } } }";
        app.gql_err(Some(&app.owner_key), bad, json!({ "id": slack }), "INVALID_REQUEST").await;
    })
    .await;
}

/// `YYYY-MM` of the month `back` months before this one.
fn month(back: i32) -> String {
    use chrono::Datelike;
    let now = Utc::now();
    let index = now.year() * 12 + now.month0() as i32 - back;
    format!("{:04}-{:02}", index.div_euclid(12), index.rem_euclid(12) + 1)
}

async fn endpoint(app: &TestApp, slug: &str, quota: Option<i64>) -> String {
    let input = json!({ "slug": slug, "name": slug, "monthlyQuota": quota });
    let out = app.mutate(&app.owner_key, "createDataEndpoint", input, "dataEndpoint { id }").await;
    out["dataEndpoint"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn data_endpoint_usage_is_listed_per_month_against_the_quota() {
    for_each_backend(NO_JOBS, |app: TestApp| async move {
        let orders = endpoint(&app, "orders", Some(1000)).await;
        let leads = endpoint(&app, "leads", None).await;
        for (id, m, count) in [(&orders, 0, 420), (&orders, 2, 1000), (&orders, 6, 77), (&leads, 0, 5), (&leads, 1, 6)]
        {
            entity::endpoint_usage::ActiveModel {
                endpoint_id: Set(id.clone()),
                month: Set(month(m)),
                count: Set(count),
            }
            .insert(&app.state.db)
            .await
            .unwrap();
        }
        let q = "query($id: ID!, $n: Int! = 6) { dataEndpoint(id: $id) { monthlyQuota usageThisMonth
            usageByMonth(months: $n) { month requests } } }";
        let data = app.gql(&app.owner_key, q, json!({ "id": orders })).await;
        assert_eq!(
            data["dataEndpoint"],
            json!({ "monthlyQuota": 1000, "usageThisMonth": 420, "usageByMonth": [
                { "month": month(2), "requests": 1000 }, { "month": month(0), "requests": 420 } ] }),
            "[{}]",
            app.backend
        );
        let data = app.gql(&app.owner_key, q, json!({ "id": orders, "n": 7 })).await;
        assert_eq!(data["dataEndpoint"]["usageByMonth"][0], json!({ "month": month(6), "requests": 77 }));
        let data = app.gql(&app.owner_key, q, json!({ "id": leads, "n": 1 })).await;
        assert_eq!(data["dataEndpoint"]["usageByMonth"], json!([{ "month": month(0), "requests": 5 }]));
        for n in [0, 25] {
            app.gql_err(Some(&app.owner_key), q, json!({ "id": orders, "n": n }), "INVALID_REQUEST").await;
        }
    })
    .await;
}

/// `YYYY-MM-DD` of `back` days ago.
fn day(back: i64) -> String {
    (Utc::now() - Duration::days(back)).format("%Y-%m-%d").to_string()
}

/// One day of usage: (day, total, [(status class, count)]).
type UsageDay = (String, i64, Vec<(String, i64)>);

fn usage(rows: &Value) -> Vec<UsageDay> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let classes = d["byStatusClass"].as_array().unwrap();
            let classes =
                classes.iter().map(|c| (c["statusClass"].as_str().unwrap().to_string(), c["count"].as_i64().unwrap()));
            (d["day"].as_str().unwrap().to_string(), d["total"].as_i64().unwrap(), classes.collect())
        })
        .collect()
}

#[tokio::test]
async fn key_and_app_requests_are_listed_per_day_and_status_class() {
    for_each_backend(NO_JOBS, |app: TestApp| async move {
        let (key, _) = app.create_key(&app.owner_key, "charted", &["READ"]).await;
        let (other_key, _) = app.create_key(&app.owner_key, "other", &["READ"]).await;
        let input = json!({ "name": "Charted", "redirectUris": ["https://app.example/cb"], "scopes": ["READ"], "confidential": true });
        let out = app.mutate(&app.owner_key, "createOAuthApp", input, "oauthApp { id }").await;
        let oauth_app = out["oauthApp"]["id"].as_str().unwrap().to_string();
        let rows = [(0, "2xx", 40), (0, "4xx", 3), (0, "5xx", 1), (3, "2xx", 12), (40, "2xx", 99)];
        for (back, class, count) in rows {
            entity::api_key_usage::ActiveModel {
                api_key_id: Set(key.clone()),
                day: Set(day(back)),
                status_class: Set(class.into()),
                count: Set(count),
            }
            .insert(&app.state.db)
            .await
            .unwrap();
            entity::oauth_app_usage::ActiveModel {
                app_id: Set(oauth_app.clone()),
                day: Set(day(back)),
                status_class: Set(class.into()),
                count: Set(count * 2),
            }
            .insert(&app.state.db)
            .await
            .unwrap();
        }
        entity::api_key_usage::ActiveModel {
            api_key_id: Set(other_key),
            day: Set(day(0)),
            status_class: Set("2xx".into()),
            count: Set(1000),
        }
        .insert(&app.state.db)
        .await
        .unwrap();
        let fields = "usage(days: 30) { day total byStatusClass { statusClass count } }";
        let data = app.gql(&app.owner_key, &format!("query($id: ID!) {{ apiKey(id: $id) {{ {fields} }} }}"), json!({ "id": key })).await;
        let s = |v: &str| v.to_string();
        assert_eq!(
            usage(&data["apiKey"]["usage"]),
            vec![
                (day(3), 12, vec![(s("2xx"), 12)]),
                (day(0), 44, vec![(s("2xx"), 40), (s("4xx"), 3), (s("5xx"), 1)]),
            ],
            "[{}]",
            app.backend
        );
        let data = app
            .gql(&app.owner_key, &format!("query($id: ID!) {{ oauthApp(id: $id) {{ {fields} }} }}"), json!({ "id": oauth_app }))
            .await;
        assert_eq!(
            usage(&data["oauthApp"]["usage"]),
            vec![
                (day(3), 24, vec![(s("2xx"), 24)]),
                (day(0), 88, vec![(s("2xx"), 80), (s("4xx"), 6), (s("5xx"), 2)]),
            ],
            "[{}]",
            app.backend
        );
    })
    .await;
}
