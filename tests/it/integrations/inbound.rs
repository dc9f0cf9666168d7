//! Inbound syncs' paging end to end, on both backends, against a local
//! provider whose listing comes in pages: every page read (a cursor at a
//! pointer, `/`-leading cursors included, or `Link` headers kept on the
//! connection's base URL), a repeated cursor stopping the run, listings
//! longer than a run continued by the next one, a full rate window ending
//! a run without a queued call, one run of an integration at a time, each
//! item stored once whatever failed before, and deletions only after a
//! complete listing and never of most items.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use super::{integration, settled_records, sync_now, wait_run, INTEGRATION};
use crate::helpers::{for_each_backend, TestApp};

/// One page of a [`Listing`]: its status, body and `Link` header.
#[derive(Clone)]
struct Page {
    status: u16,
    body: Value,
    link: Option<String>,
}

/// A local provider whose listing comes in pages: each GET is answered by
/// the page stored under its path and query, and recorded (any other GET,
/// the credentials check, gets `{}`).
#[derive(Clone)]
struct Listing {
    url: String,
    pages: Arc<Mutex<HashMap<String, Page>>>,
    hits: Arc<Mutex<Vec<String>>>,
    /// Milliseconds a page's answer takes (the request is recorded on arrival).
    delay_ms: Arc<AtomicU64>,
}

impl Listing {
    async fn start() -> Listing {
        use axum::response::IntoResponse;
        async fn handle(
            axum::extract::State(l): axum::extract::State<Listing>,
            uri: axum::http::Uri,
        ) -> axum::response::Response {
            let key = uri.to_string();
            let Some(page) = l.pages.lock().unwrap().get(&key).cloned() else {
                // The connection's credentials check, when it is made.
                return (axum::http::StatusCode::OK, "{}").into_response();
            };
            l.hits.lock().unwrap().push(key);
            tokio::time::sleep(Duration::from_millis(l.delay_ms.load(Ordering::SeqCst))).await;
            let mut resp =
                (axum::http::StatusCode::from_u16(page.status).unwrap(), page.body.to_string()).into_response();
            if let Some(link) = page.link {
                resp.headers_mut().insert("link", link.parse().unwrap());
            }
            resp
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let l = Listing {
            url: format!("http://{}", listener.local_addr().unwrap()),
            pages: Arc::default(),
            hits: Arc::default(),
            delay_ms: Arc::default(),
        };
        let router = axum::Router::new().fallback(handle).with_state(l.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        l
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }

    fn set(&self, key: &str, status: u16, body: Value, link: Option<String>) {
        self.pages.lock().unwrap().insert(key.to_string(), Page { status, body, link });
    }

    /// `/api/customers` in pages chained by cursor: page n lists the
    /// customers `ids[n - 1]` and names `c{n + 1}` at `/next` (the last
    /// page names none); page n > 1 answers `?after=c{n}`.
    fn by_cursor(&self, ids: &[&[i64]]) {
        self.by_cursors(ids, |n| format!("c{n}"));
    }

    /// [`Listing::by_cursor`] with the cursor of page n given by `cursor`.
    fn by_cursors(&self, ids: &[&[i64]], cursor: impl Fn(usize) -> String) {
        self.pages.lock().unwrap().clear();
        for (n, page) in ids.iter().enumerate().map(|(i, p)| (i + 1, p)) {
            let key = if n == 1 { "/api/customers".to_string() } else { after(&cursor(n)) };
            let next = if n < ids.len() { json!(cursor(n + 1)) } else { Value::Null };
            self.set(&key, 200, json!({ "data": customers(page), "next": next }), None);
        }
    }
}

/// The request of the page after `cursor`, as the call engine encodes it.
fn after(cursor: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("after", cursor).finish();
    format!("/api/customers?{query}")
}

fn customers(ids: &[i64]) -> Vec<Value> {
    ids.iter().map(|n| json!({ "id": n, "name": format!("Customer {n}") })).collect()
}

/// The external ids an integration keeps, sorted, with the record each became.
async fn items_of(app: &TestApp, integration_id: &str) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = entity::integration_item::Entity::find()
        .filter(entity::integration_item::Column::IntegrationId.eq(integration_id))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.external_id, r.record_id))
        .collect();
    rows.sort();
    rows
}

/// A record's state once its last change is processed.
async fn record_state(app: &TestApp, id: &str) -> String {
    let until = Instant::now() + Duration::from_secs(45);
    loop {
        let row = entity::record::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
        if !matches!(row.state.as_str(), "queued" | "processing") || Instant::now() > until {
            return row.state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Connects `custom_rest` to the listing and makes the `customers` endpoint.
async fn connect_listing(app: &TestApp, listing: &Listing) {
    app.mutate(
        &app.owner_key,
        "createConnection",
        json!({ "provider": "custom_rest", "apiKey": "ck_pages_123456", "baseUrl": format!("{}/api", listing.url) }),
        "connection { id }",
    )
    .await;
    app.mutate(
        &app.owner_key,
        "createDataEndpoint",
        json!({ "slug": "customers", "name": "Customers" }),
        "dataEndpoint { id }",
    )
    .await;
}

#[tokio::test]
async fn an_inbound_sync_reads_every_page_and_deletes_vanished_items_only_after_a_complete_listing() {
    for_each_backend(&[], |app| async move {
        let listing = Listing::start().await;
        listing.by_cursor(&[&[1, 2], &[3, 4], &[5]]);
        connect_listing(&app, &listing).await;
        let sync = json!({ "path": "/customers", "items_pointer": "/data", "next_pointer": "/next", "cursor_param": "after",
                           "external_id_field": "id", "endpoint": "customers" });
        // Bad paging settings: refused with the field named, nothing created.
        for (field, value) in [("next_pointer", json!("next")), ("cursor_param", json!("")), ("delete_missing", json!("yes")), ("next_kind", json!("url"))] {
            let mut bad = sync.clone();
            bad[field] = value;
            let (at, code) = app.user_error(&app.owner_key, "createIntegration",
                json!({ "name": "CRM", "serviceType": "custom_rest", "config": { "sync": bad } })).await;
            assert_eq!((at, code.as_str()), (format!("input.config.sync.{field}"), "INVALID"));
        }
        assert_eq!(app.gql(&app.owner_key, "{ integrations { totalCount } }", json!({})).await["integrations"]["totalCount"], 0);
        let id = app.mutate(&app.owner_key, "createIntegration",
            json!({ "name": "CRM", "serviceType": "custom_rest", "config": { "sync": sync } }), INTEGRATION).await["integration"]["id"]
            .as_str().unwrap().to_string();

        // Three pages through the cursor, stored whole.
        let first = sync_now(&app, &id).await;
        assert_eq!((first["status"].as_str(), first["items"].as_i64(), first["deleted"].as_i64(), first["note"].as_str()),
                   (Some("SUCCEEDED"), Some(5), Some(0), None), "{first}");
        assert_eq!(listing.hits(), ["/api/customers", "/api/customers?after=c2", "/api/customers?after=c3"]);
        let records = settled_records(&app, 5).await;
        assert_eq!(records.iter().map(|r| r["data"]["id"].clone()).collect::<Vec<_>>(), [1, 2, 3, 4, 5].map(|n| json!(n)), "{records:?}");
        let items = items_of(&app, &id).await;
        assert_eq!(items.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(), ["1", "2", "3", "4", "5"]);

        // Twice: every page read again, nothing changes.
        let second = sync_now(&app, &id).await;
        assert_eq!((second["status"].as_str(), second["items"].as_i64(), second["deleted"].as_i64()), (Some("SUCCEEDED"), Some(0), Some(0)), "{second}");
        assert_eq!(listing.hits().len(), 6);
        assert_eq!(settled_records(&app, 5).await, records);

        // Customer 4 is gone at the provider; without delete_missing its record stays.
        listing.by_cursor(&[&[1, 2], &[3], &[5]]);
        let kept = sync_now(&app, &id).await;
        assert_eq!((kept["status"].as_str(), kept["items"].as_i64(), kept["deleted"].as_i64()), (Some("SUCCEEDED"), Some(0), Some(0)), "{kept}");
        assert_eq!(items_of(&app, &id).await, items);
        let record_4 = items.iter().find(|(e, _)| e == "4").unwrap().1.clone();
        assert_eq!(record_state(&app, &record_4).await, "processed");

        // With delete_missing, a run that fails on page 2 deletes nothing.
        let mut on = sync.clone();
        on["delete_missing"] = json!(true);
        app.mutate(&app.owner_key, "updateIntegration", json!({ "id": id, "config": { "sync": on } }), INTEGRATION).await;
        listing.set("/api/customers?after=c2", 500, json!({ "error": "down for now" }), None);
        let broken = sync_now(&app, &id).await;
        assert_eq!((broken["status"].as_str(), broken["deleted"].as_i64()), (Some("FAILED"), Some(0)), "{broken}");
        assert!(broken["error"].as_str().unwrap().starts_with("Page 2: ") && broken["error"].as_str().unwrap().contains("HTTP 500"), "{broken}");
        assert_eq!(items_of(&app, &id).await, items, "nothing deleted after an incomplete listing");
        assert_eq!(record_state(&app, &record_4).await, "processed");

        // The whole listing again: the vanished customer's record is deleted, once.
        listing.by_cursor(&[&[1, 2], &[3], &[5]]);
        let swept = sync_now(&app, &id).await;
        assert_eq!((swept["status"].as_str(), swept["items"].as_i64(), swept["deleted"].as_i64()), (Some("SUCCEEDED"), Some(0), Some(1)), "{swept}");
        assert_eq!(record_state(&app, &record_4).await, "deleted");
        let left: Vec<(String, String)> = items.iter().filter(|(e, _)| e != "4").cloned().collect();
        assert_eq!(items_of(&app, &id).await, left);
        let again = sync_now(&app, &id).await;
        assert_eq!((again["items"].as_i64(), again["deleted"].as_i64()), (Some(0), Some(0)), "{again}");
        // It comes back: a new record.
        listing.by_cursor(&[&[1, 2], &[3, 4], &[5]]);
        let back = sync_now(&app, &id).await;
        assert_eq!((back["items"].as_i64(), back["deleted"].as_i64()), (Some(1), Some(0)), "{back}");
        let (_, new_4) = items_of(&app, &id).await.into_iter().find(|(e, _)| e == "4").unwrap();
        assert_ne!(new_4, record_4);
        assert_eq!(integration(&app, &id).await["itemsSynced"], 6);
    })
    .await;
}

#[tokio::test]
async fn an_inbound_sync_follows_links_on_its_base_url_stops_at_a_repeated_cursor_and_continues_past_the_page_bound() {
    for_each_backend(&[], |app| async move {
        let listing = Listing::start().await;
        connect_listing(&app, &listing).await;
        let url = listing.url.clone();
        // No next_pointer: the `Link` header's next page, absolute or a path.
        listing.set("/api/customers", 200, json!(customers(&[1])),
            Some(format!(r#"<{url}/api/customers?page=2>; rel="next", <{url}/api/customers?page=3>; rel="last""#)));
        listing.set("/api/customers?page=2", 200, json!(customers(&[2])), Some(r#"</api/customers?page=3>; rel="next""#.into()));
        listing.set("/api/customers?page=3", 200, json!(customers(&[3])), Some(r#"</api/customers?page=1>; rel="prev""#.into()));
        let by_link = json!({ "path": "/customers", "external_id_field": "id", "endpoint": "customers", "delete_missing": true });
        let id = app.mutate(&app.owner_key, "createIntegration",
            json!({ "name": "CRM", "serviceType": "custom_rest", "config": { "sync": by_link } }), INTEGRATION).await["integration"]["id"]
            .as_str().unwrap().to_string();
        let linked = sync_now(&app, &id).await;
        assert_eq!((linked["status"].as_str(), linked["items"].as_i64()), (Some("SUCCEEDED"), Some(3)), "{linked}");
        assert_eq!(listing.hits(), ["/api/customers", "/api/customers?page=2", "/api/customers?page=3"]);
        let items = items_of(&app, &id).await;
        assert_eq!(items.len(), 3);

        // A link to another host (here: another port) is not followed, and nothing is deleted.
        listing.set("/api/customers?page=2", 200, json!(customers(&[2])),
            Some(r#"<http://127.0.0.1:9/api/customers?page=3&token=abc>; rel="next""#.into()));
        let away = sync_now(&app, &id).await;
        assert_eq!((away["status"].as_str(), away["deleted"].as_i64()), (Some("FAILED"), Some(0)), "{away}");
        let error = away["error"].as_str().unwrap();
        assert!(error.contains("outside the connection's API base URL") && !error.contains("token=abc"), "{away}");
        assert_eq!(listing.hits().len(), 5, "page 3 was not asked for anywhere");
        assert_eq!(items_of(&app, &id).await, items);

        // A cursor given twice ends the run with an error, deleting nothing.
        let by_cursor = json!({ "path": "/customers", "items_pointer": "/data", "next_pointer": "/next", "cursor_param": "after",
                                "external_id_field": "id", "endpoint": "customers", "delete_missing": true });
        app.mutate(&app.owner_key, "updateIntegration", json!({ "id": id, "config": { "sync": by_cursor } }), INTEGRATION).await;
        listing.by_cursor(&[&[1], &[2], &[]]);
        listing.set("/api/customers?after=c3", 200, json!({ "data": [], "next": "c2" }), None);
        let looping = sync_now(&app, &id).await;
        assert_eq!((looping["status"].as_str(), looping["deleted"].as_i64()), (Some("FAILED"), Some(0)), "{looping}");
        let error = looping["error"].as_str().unwrap();
        assert!(error.starts_with("Page 3: ") && error.contains("already named in this run"), "{looping}");
        assert!(!error.contains("c2"), "no cursor is shown: {looping}");
        assert_eq!(listing.hits().len(), 8, "no page is read twice");
        assert_eq!(items_of(&app, &id).await, items);

        // A listing longer than the bound: the run stops there, says so,
        // and deletes nothing; the next run continues where it stopped.
        let bound = switchyard::services::integrations::inbound::MAX_PAGES;
        listing.by_cursor(&vec![&[1][..]; bound + 5]);
        let before = listing.hits().len();
        let long = sync_now(&app, &id).await;
        assert_eq!((long["status"].as_str(), long["items"].as_i64(), long["deleted"].as_i64()), (Some("SUCCEEDED"), Some(0), Some(0)), "{long}");
        let note = long["note"].as_str().unwrap();
        assert!(note.contains(&format!("Stopped after {bound} pages")) && note.contains(&format!("continues at the next run, from page {}", bound + 1)), "{long}");
        assert_eq!(listing.hits().len() - before, bound);
        assert_eq!(items_of(&app, &id).await, items, "customers 2 and 3 were not seen, yet kept");
        let rest = sync_now(&app, &id).await;
        assert_eq!((rest["status"].as_str(), rest["items"].as_i64(), rest["deleted"].as_i64()), (Some("SUCCEEDED"), Some(0), Some(0)), "{rest}");
        let hits = listing.hits();
        assert_eq!(hits[before + bound..], (bound + 1..=bound + 5).map(|n| format!("/api/customers?after=c{n}")).collect::<Vec<_>>());
        // The whole listing read, over two runs: customers 2 and 3 are gone
        // from it, but that is two of the three known: held back.
        assert!(rest["note"].as_str().unwrap().contains("2 of the 3 items stored, more than half"), "{rest}");
        assert_eq!(items_of(&app, &id).await, items);
        assert_eq!(integration(&app, &id).await["status"], "ACTIVE");
    })
    .await;
}

/// The records that are not deleted, once each is processed.
async fn live_records(app: &TestApp) -> Vec<entity::record::Model> {
    let until = Instant::now() + Duration::from_secs(45);
    loop {
        let rows = entity::record::Entity::find()
            .filter(entity::record::Column::State.ne("deleted"))
            .all(&app.state.db)
            .await
            .unwrap();
        if rows.iter().all(|r| r.state == "processed") || Instant::now() > until {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates the CRM integration with this `config.sync`; returns its id.
async fn create_crm(app: &TestApp, sync: Value) -> String {
    let made = app
        .mutate(
            &app.owner_key,
            "createIntegration",
            json!({ "name": "CRM", "serviceType": "custom_rest", "config": { "sync": sync } }),
            INTEGRATION,
        )
        .await;
    made["integration"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_inbound_sync_sends_any_cursor_as_a_cursor_and_stores_each_item_once_whatever_failed_before() {
    for_each_backend(&[], |app| async move {
        let listing = Listing::start().await;
        connect_listing(&app, &listing).await;
        // Cursors that look like paths (base64 may start with `/`): still cursors.
        let cursor = |n: usize| format!("/c{n}+x==");
        listing.by_cursors(&[&[1, 2], &[3], &[4]], cursor);
        let sync = json!({ "path": "/customers", "items_pointer": "/data", "next_pointer": "/next", "cursor_param": "after",
                           "external_id_field": "id", "endpoint": "customers" });
        let id = create_crm(&app, sync.clone()).await;
        let first = sync_now(&app, &id).await;
        assert_eq!((first["status"].as_str(), first["items"].as_i64()), (Some("SUCCEEDED"), Some(4)), "{first}");
        assert_eq!(listing.hits(), ["/api/customers".to_string(), after("/c2+x=="), after("/c3+x==")]);
        settled_records(&app, 4).await;
        let items = items_of(&app, &id).await;
        let record_of = |items: &[(String, String)], e: &str| items.iter().find(|(x, _)| x == e).unwrap().1.clone();

        // A first write that never reached its record (a timeout after the
        // item's row was written): the record is made, once.
        let lost = record_of(&items, "3");
        entity::record::Entity::delete_by_id(&lost).exec(&app.state.writer).await.unwrap();
        let forget = |external: &str| {
            entity::integration_item::Entity::update_many()
                .col_expr(entity::integration_item::Column::Digest, sea_orm::sea_query::Expr::value(""))
                .filter(entity::integration_item::Column::IntegrationId.eq(id.as_str()))
                .filter(entity::integration_item::Column::ExternalId.eq(external))
                .exec(&app.state.writer)
        };
        forget("3").await.unwrap();
        // A record written whose row's last write was lost: replaced, not made twice.
        forget("4").await.unwrap();
        // A record deleted by hand, whose item then changed: made again.
        let by_hand = record_of(&items, "1");
        let endpoint = entity::data_endpoint::Entity::find().one(&app.state.db).await.unwrap().unwrap();
        let key_id = entity::integration::Entity::find_by_id(&id).one(&app.state.db).await.unwrap().unwrap().data_key_id.unwrap();
        let key = entity::data_key::Entity::find_by_id(&key_id).one(&app.state.db).await.unwrap().unwrap();
        let delete = switchyard::services::records::Change {
            op: switchyard::services::records::Operation::Delete,
            record_id: Some(&by_hand),
            body: None,
            callback: None,
            silent: false,
        };
        switchyard::services::records::accept(&app.state, &key, &endpoint, delete).await.unwrap();
        assert_eq!(record_state(&app, &by_hand).await, "deleted");
        listing.pages.lock().unwrap().get_mut("/api/customers").unwrap().body["data"][0]["name"] =
            json!("Customer 1, renamed");

        let again = sync_now(&app, &id).await;
        assert_eq!((again["status"].as_str(), again["items"].as_i64(), again["error"].clone()), (Some("SUCCEEDED"), Some(3), Value::Null), "{again}");
        let now = items_of(&app, &id).await;
        assert_ne!(record_of(&now, "3"), lost);
        assert_eq!(record_of(&now, "4"), record_of(&items, "4"));
        assert_ne!(record_of(&now, "1"), by_hand);
        assert_eq!(record_of(&now, "2"), record_of(&items, "2"));
        let live = live_records(&app).await;
        assert_eq!(live.len(), 4, "one record per item: {live:?}");
        let renamed = live.iter().find(|r| r.id == record_of(&now, "1")).unwrap();
        assert_eq!(renamed.data.as_ref().unwrap()["name"], "Customer 1, renamed");
        let third = sync_now(&app, &id).await;
        assert_eq!(third["items"], 0, "{third}");

        // With delete_missing, an empty listing while items are stored
        // deletes nothing and says why.
        let mut on = sync.clone();
        on["delete_missing"] = json!(true);
        app.mutate(&app.owner_key, "updateIntegration", json!({ "id": id, "config": { "sync": on } }), INTEGRATION).await;
        assert_eq!(items_of(&app, &id).await, now, "the same listing: its items are kept");
        listing.by_cursor(&[&[]]);
        let empty = sync_now(&app, &id).await;
        assert_eq!((empty["status"].as_str(), empty["deleted"].as_i64()), (Some("SUCCEEDED"), Some(0)), "{empty}");
        assert!(empty["note"].as_str().unwrap().contains("listed no items while 4 are stored"), "{empty}");
        assert_eq!(items_of(&app, &id).await, now);
        assert_eq!(live_records(&app).await.len(), 4);

        // Another listing: what the integration knew of the old one is forgotten.
        let mut other = on.clone();
        other["path"] = json!("/clients");
        app.mutate(&app.owner_key, "updateIntegration", json!({ "id": id, "config": { "sync": other } }), INTEGRATION).await;
        assert_eq!(items_of(&app, &id).await, vec![]);
        assert_eq!(live_records(&app).await.len(), 4, "its records stay");
    })
    .await;
}

#[tokio::test]
async fn two_runs_of_one_integration_never_overlap() {
    for_each_backend(&[], |app| async move {
        let listing = Listing::start().await;
        connect_listing(&app, &listing).await;
        listing.by_cursor(&[&[1], &[2]]);
        let id = create_crm(
            &app,
            json!({ "path": "/customers", "items_pointer": "/data", "next_pointer": "/next",
            "cursor_param": "after", "external_id_field": "id", "endpoint": "customers" }),
        )
        .await;
        listing.delay_ms.store(3000, Ordering::SeqCst);
        let start = |app: &TestApp| {
            let app = app.clone();
            let id = id.clone();
            async move {
                let out = app.mutate(&app.owner_key, "syncIntegration", json!({ "id": id }), "run { id }").await;
                out["run"]["id"].as_str().unwrap().to_string()
            }
        };
        let first = start(&app).await;
        // The first run is reading its first page; a second one starts meanwhile.
        let until = Instant::now() + Duration::from_secs(20);
        while listing.hits().is_empty() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let second = start(&app).await;
        let skipped = wait_run(&app, &second).await;
        assert_eq!(
            (skipped["status"].as_str(), skipped["items"].as_i64(), skipped["error"].clone()),
            (Some("SKIPPED"), Some(0), Value::Null),
            "{skipped}"
        );
        assert!(skipped["note"].as_str().unwrap().contains(&first), "{skipped}");
        let q = "query($id: ID!) { integrationRun(id: $id) { status } }";
        assert_eq!(
            app.gql(&app.owner_key, q, json!({ "id": first })).await["integrationRun"]["status"],
            "RUNNING",
            "skipped at once, while the first runs"
        );
        let done = wait_run(&app, &first).await;
        assert_eq!((done["status"].as_str(), done["items"].as_i64()), (Some("SUCCEEDED"), Some(2)), "{done}");
        assert_eq!(listing.hits().len(), 2, "the skipped run read nothing");
        // The first run gave its hold back: the next one runs.
        listing.delay_ms.store(0, Ordering::SeqCst);
        let third = sync_now(&app, &id).await;
        assert_eq!(third["status"], "SUCCEEDED", "{third}");
        let i = integration(&app, &id).await;
        assert_eq!((i["status"].as_str(), i["lastError"].clone()), (Some("ACTIVE"), Value::Null), "{i}");
    })
    .await;
}

#[tokio::test]
async fn a_full_rate_window_ends_a_run_without_a_queued_call_and_the_next_run_continues() {
    for_each_backend(&[], |app| async move {
        let listing = Listing::start().await;
        connect_listing(&app, &listing).await;
        listing.by_cursor(&[&[1], &[2], &[3]]);
        let id = create_crm(&app, json!({ "path": "/customers", "items_pointer": "/data", "next_pointer": "/next",
            "cursor_param": "after", "external_id_field": "id", "endpoint": "customers", "delete_missing": true })).await;
        let limit = |requests: u32| {
            let app = app.clone();
            async move {
                let set = app.gql(&app.owner_key, crate::connections::SET,
                    json!({ "i": { "provider": "custom_rest", "rateLimit": { "requests": requests, "perSeconds": 3600 } } })).await;
                assert_eq!(set["setProviderSettings"]["userErrors"], json!([]), "{set}");
            }
        };
        // Two calls an hour: the third page must wait longer than a run may.
        limit(2).await;
        let short = sync_now(&app, &id).await;
        assert_eq!((short["status"].as_str(), short["items"].as_i64(), short["deleted"].as_i64()), (Some("SUCCEEDED"), Some(2), Some(0)), "{short}");
        let note = short["note"].as_str().unwrap();
        assert!(note.contains("rate window is full") && note.contains("from page 3"), "{short}");
        assert_eq!(listing.hits().len(), 2);
        let calls = entity::connection_call::Entity::find().all(&app.state.db).await.unwrap();
        assert!(calls.iter().all(|c| c.status != "queued"), "no call left queued: {calls:?}");
        let jobs = entity::job::Entity::find().filter(entity::job::Column::Kind.eq("connection.call")).all(&app.state.db).await.unwrap();
        assert!(jobs.is_empty(), "{jobs:?}");

        // Room again: the next run reads from page 3 to the end.
        limit(100).await;
        let rest = sync_now(&app, &id).await;
        assert_eq!((rest["status"].as_str(), rest["items"].as_i64(), rest["note"].clone()), (Some("SUCCEEDED"), Some(1), Value::Null), "{rest}");
        assert_eq!(listing.hits(), ["/api/customers", "/api/customers?after=c2", "/api/customers?after=c3"]);
        assert_eq!(items_of(&app, &id).await.len(), 3, "nothing deleted: the listing was read whole, over two runs");
    })
    .await;
}

/// The workspace's `custom_rest` connection, if it has one.
async fn custom_rest_connection(app: &TestApp) -> Option<entity::connection::Model> {
    entity::connection::Entity::find()
        .filter(entity::connection::Column::Provider.eq("custom_rest"))
        .filter(entity::connection::Column::WorkspaceId.eq(&app.workspace_id))
        .one(&app.state.db)
        .await
        .unwrap()
}

/// Sets the `custom_rest` connection's status in the database, and drops
/// the cached connections as a status change does on every process.
async fn set_status(app: &TestApp, status: &str) {
    let c = custom_rest_connection(app).await.unwrap();
    entity::connection::Entity::update_many()
        .col_expr(entity::connection::Column::Status, sea_orm::sea_query::Expr::value(status))
        .filter(entity::connection::Column::Id.eq(&c.id))
        .exec(&app.state.writer)
        .await
        .unwrap();
    switchyard::services::connections::cache::invalidate(&app.state, &app.workspace_id);
}

/// Starts a sync by hand with page 1 slow to answer; returns the run's id
/// once page 1 was asked for.
async fn started(app: &TestApp, id: &str, listing: &Listing) -> String {
    started_with_delay(app, id, listing, 800).await
}

/// The job a run is (or was last) queued under.
async fn job_of(app: &TestApp, run_id: &str) -> Option<String> {
    entity::integration_run::Entity::find_by_id(run_id).one(&app.state.db).await.unwrap().unwrap().job_id
}

/// [`started`], with page 1 answering after `delay_ms`.
async fn started_with_delay(app: &TestApp, id: &str, listing: &Listing, delay_ms: u64) -> String {
    listing.delay_ms.store(delay_ms, Ordering::SeqCst);
    let before = listing.hits().len();
    let out = app.mutate(&app.owner_key, "syncIntegration", json!({ "id": id }), "run { id }").await;
    let until = Instant::now() + Duration::from_secs(20);
    while listing.hits().len() == before {
        assert!(Instant::now() < until, "the first page was never asked for");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    listing.delay_ms.store(0, Ordering::SeqCst);
    out["run"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_sync_paused_mid_listing_goes_on_from_its_page_when_its_connection_works_again() {
    use switchyard::services::integrations::paused::resume_stranded;
    for_each_backend(&[], |app| async move {
        let listing = Listing::start().await;
        listing.by_cursor(&[&[1, 2], &[3, 4], &[5]]);
        connect_listing(&app, &listing).await;
        let id = create_crm(&app, json!({ "path": "/customers", "items_pointer": "/data", "next_pointer": "/next",
            "cursor_param": "after", "external_id_field": "id", "endpoint": "customers" })).await;
        // The connection breaks (its refresh refused elsewhere) while page 1
        // is on its way: page 1 is stored, and the run pauses before page 2.
        let run_id = started(&app, &id, &listing).await;
        set_status(&app, "needs_reauth").await;
        let paused = wait_run(&app, &run_id).await;
        assert_eq!((paused["status"].as_str(), paused["items"].as_i64()), (Some("PAUSED"), Some(2)), "[{}] {paused}", app.backend);
        assert!(paused["note"].as_str().unwrap().contains("needs to be reconnected"), "{paused}");
        assert_eq!(listing.hits(), ["/api/customers"]);
        // It works again (mended without an event): the sweep resumes the
        // same run at page 2, which counts all it stored.
        set_status(&app, "connected").await;
        super::paused_a_minute_ago(&app, &run_id).await;
        // The server's own pass (every 30 s) may take it first.
        assert!(resume_stranded(&app.state).await.unwrap() <= 1);
        let done = wait_run(&app, &run_id).await;
        assert_eq!((done["status"].as_str(), done["items"].as_i64(), done["note"].clone()),
            (Some("SUCCEEDED"), Some(5), Value::Null), "[{}] {done}", app.backend);
        assert_eq!(listing.hits(), ["/api/customers".to_string(), after("c2"), after("c3")], "no page read twice");
        assert_eq!(items_of(&app, &id).await.len(), 5);
        assert_eq!(integration(&app, &id).await["itemsSynced"], 5);

        // The connection is deleted while page 1's call is out: its answer
        // cannot be logged, so the run pauses there instead of failing, and
        // connecting again reads the listing from that page.
        let run_id = started(&app, &id, &listing).await;
        let gone = custom_rest_connection(&app).await.unwrap();
        app.mutate(&app.owner_key, "deleteConnection", json!({ "id": gone.id }), "deletedId").await;
        let paused = wait_run(&app, &run_id).await;
        assert_eq!(paused["status"], "PAUSED", "[{}] {paused}", app.backend);
        assert!(paused["note"].as_str().unwrap().contains("was deleted while the call was under way"), "{paused}");
        app.mutate(&app.owner_key, "createConnection",
            json!({ "provider": "custom_rest", "apiKey": "ck_pages_123456", "baseUrl": format!("{}/api", listing.url) }),
            "connection { id }").await;
        let done = wait_run(&app, &run_id).await;
        assert_eq!((done["status"].as_str(), done["items"].as_i64()), (Some("SUCCEEDED"), Some(0)), "unchanged items: [{}] {done}", app.backend);
        assert_eq!(listing.hits()[3..], ["/api/customers".to_string(), "/api/customers".into(), after("c2"), after("c3")]);

        // Deleted and made anew while page 1's call is out (it answers after
        // 5 s): the run asks for that page again through the new connection,
        // and does not pause (a paused run would be queued again by the
        // connection's creation, under a new job).
        let run_id = started_with_delay(&app, &id, &listing, 5_000).await;
        let job = job_of(&app, &run_id).await;
        let gone = custom_rest_connection(&app).await.unwrap();
        app.mutate(&app.owner_key, "deleteConnection", json!({ "id": gone.id }), "deletedId").await;
        app.mutate(&app.owner_key, "createConnection",
            json!({ "provider": "custom_rest", "apiKey": "ck_pages_123456", "baseUrl": format!("{}/api", listing.url) }),
            "connection { id }").await;
        let done = wait_run(&app, &run_id).await;
        assert_eq!((done["status"].as_str(), done["note"].clone()), (Some("SUCCEEDED"), Value::Null), "[{}] {done}", app.backend);
        assert_eq!(job_of(&app, &run_id).await, job, "never paused and queued again");
        assert_eq!(listing.hits()[7..], ["/api/customers".to_string(), "/api/customers".into(), after("c2"), after("c3")]);
    })
    .await;
}
