//! The one OpenAPI 3.1 document of every REST route, served at
//! `/openapi.json`, generated with utoipa from the handlers'
//! `#[utoipa::path]` attributes and types: the `/v1` routes and the OAuth
//! protocol routes here ([`ApiDoc`]), the data API's in
//! [`super::data::doc`] (also served alone at `/api/v1/openapi.json`).
//! Answers every operation of a kind can give (401, 403, 429 with its
//! headers, 413 and 415 for JSON bodies) and the security requirements are
//! added by rule ([`KeyRule`], `DataKeyRule`), not written on each handler.
//! The OAuth protocol routes are listed twice, at `/oauth/*` and at seed
//! 002's `/v1/oauth/*`, as they are served. `tests/it/rest_v1.rs` fails
//! when a route of the router is missing here.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::v1;
use super::Http;
use crate::auth::{authenticate_token, Scope};
use crate::services::{data_cache, data_endpoints};

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchyard REST API", version = "1.0.0"),
    paths(
        v1::api_keys::create, v1::api_keys::list, v1::api_keys::read, v1::api_keys::update,
        v1::api_keys::remove, v1::api_keys::usage,
        v1::webhooks::create, v1::webhooks::list, v1::webhooks::read, v1::webhooks::update,
        v1::webhooks::remove, v1::webhooks::test, v1::webhooks::logs, v1::webhooks::retry,
        v1::plugins::install, v1::plugins::list, v1::plugins::read, v1::plugins::set_status,
        v1::plugins::update_config, v1::plugins::uninstall,
        v1::integrations::create, v1::integrations::list, v1::integrations::read, v1::integrations::update,
        v1::integrations::remove, v1::integrations::test, v1::integrations::sync, v1::integrations::sync_runs,
        v1::oauth::create, v1::oauth::list, v1::oauth::read, v1::oauth::remove,
        super::oauth::authorize_page, super::oauth::token, super::oauth::revoke, super::oauth::introspect,
        super::oauth::metadata, serve, super::data::openapi,
    ),
    components(responses(v1::Unauthorized, v1::Forbidden, v1::RateLimited, v1::PayloadTooLarge,
        v1::UnsupportedMediaType)),
    tags(
        (name = "api-keys", description = "Workspace API keys (seed 002 §1)."),
        (name = "webhooks", description = "Webhooks, their test sends, logs and retries (seed 002 §4)."),
        (name = "plugins", description = "Installed plugins, their status and config (seed 002 §2)."),
        (name = "integrations", description = "Service integrations, their tests and syncs (seed 002 §3)."),
        (name = "oauth", description = "The workspace's OAuth apps (seed 002 §5)."),
        (name = "oauth-protocol", description = "Switchyard's OAuth 2.0 authorization server."),
        (name = "meta", description = "The API's descriptions."),
    ),
    modifiers(&KeyRule),
)]
struct ApiDoc;

/// Every `/v1` route outside the OAuth protocol takes an API key or access
/// token and can answer 401, 403 and 429 (the key's or grant's rate limit,
/// with `Retry-After` and `RateLimit-*`); one with a JSON body also 413 and
/// 415. The OAuth protocol routes authenticate the client themselves.
struct KeyRule;

impl Modify for KeyRule {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key (`sk_test_…`, `sk_live_…`) or an OAuth access token (`oat_…`)."))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let keyed = path.starts_with("/v1/");
            let protocol = path.starts_with("/oauth/") || path.starts_with("/.well-known/");
            for op in super::data::doc::operations(item) {
                if protocol {
                    op.security = Some(vec![]);
                }
                if !keyed {
                    continue;
                }
                op.security = Some(vec![SecurityRequirement::new("apiKey", Vec::<String>::new())]);
                let json_body = op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
                let answers = [
                    ("401", "Unauthorized", true),
                    ("403", "Forbidden", true),
                    ("413", "PayloadTooLarge", json_body),
                    ("415", "UnsupportedMediaType", json_body),
                    ("429", "RateLimited", true),
                ];
                for (status, name, _) in answers.into_iter().filter(|a| a.2) {
                    op.responses.responses.entry(status.into()).or_insert_with(|| Ref::from_response_name(name).into());
                }
                // Every answer that passed the limiter says how much budget is left (not
                // a replay of an `Idempotency-Key`, so they are not required).
                for (status, answer) in op.responses.responses.iter_mut() {
                    if let (true, RefOr::T(answer)) = (status.starts_with('2'), answer) {
                        for (name, description) in BUDGET_HEADERS {
                            let schema = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
                            let header = HeaderBuilder::new().schema(schema).description(Some(description));
                            answer.headers.insert(name.to_string(), header.build());
                        }
                    }
                }
            }
        }
    }
}

/// The `RateLimit-*` headers of every `/v1` answer that passed the limiter.
const BUDGET_HEADERS: [(&str, &str); 3] = [
    ("RateLimit-Limit", "Requests a minute the key (1000) or OAuth grant (500) may make."),
    ("RateLimit-Remaining", "Requests left in the budget now."),
    ("RateLimit-Reset", "Seconds until the budget is full again."),
];

/// The OAuth protocol routes that seed 002 also lists under `/v1`.
const PROTOCOL_UNDER_V1: &[&str] = &["/oauth/authorize", "/oauth/token", "/oauth/revoke"];

const DESCRIPTION: &str = "\
Every REST route of Switchyard.\n\n\
- `/v1/…` (seed 002): `Authorization: Bearer` with an `sk_test_…`/`sk_live_…` API key or an OAuth access token; \
the same permissions, rate limits (1000 requests a minute per key, 500 per OAuth grant; `RateLimit-*` headers, \
`Retry-After` on 429) and usage counting as GraphQL. Writes take an `Idempotency-Key` header. Lists take \
`?page=&limit=` and answer `{\"data\": [...], \"pagination\": {\"page\", \"limit\", \"total\", \"total_pages\"}}`. \
Errors are `{\"error\": {\"code\", \"message\", \"details\": {\"field\", \"reason\"}}}`.\n\
- `/api/v1/data/…` (seed 001): data keys (`tm_test_…`/`tm_live_…`), its own error shape.\n\
- `/oauth/…` and `/v1/oauth/{authorize,token,revoke}`: the OAuth 2.0 authorization server (RFC 6749, 7009, 7662, 8414).";

/// The whole document (built once).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

fn build() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    doc["openapi"] = json!("3.1.0");
    doc["info"]["description"] = json!(DESCRIPTION);
    doc["servers"] = json!([{ "url": "/" }]);
    // The protocol routes again under /v1, with operation ids of their own.
    for path in PROTOCOL_UNDER_V1 {
        let mut item = doc["paths"][*path].clone();
        if let Some(ops) = item.as_object_mut() {
            for op in ops.values_mut() {
                if let Some(id) = op["operationId"].as_str() {
                    op["operationId"] = json!(format!("v1_{id}"));
                }
            }
        }
        doc["paths"][format!("/v1{path}")] = item;
    }
    unique_operation_ids(&mut doc);
    link_created_resources(&mut doc);
    require_rate_limit_headers(&mut doc);
    merge_data_api(&mut doc);
    doc
}

/// Handlers of different resources share names (`create`, `read`): each
/// operation id becomes `{tag}_{name}` (`api_keys_create`).
fn unique_operation_ids(doc: &mut Value) {
    for (_, item) in doc["paths"].as_object_mut().into_iter().flatten() {
        for op in item.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            let (Some(tag), Some(id)) = (op["tags"][0].as_str(), op["operationId"].as_str()) else { continue };
            if !id.starts_with("v1_") {
                op["operationId"] = json!(format!("{}_{id}", tag.replace('-', "_")));
            }
        }
    }
}

/// OpenAPI links from each `201 Created` of a collection to the
/// operations on the created item (`{collection}/{id}…`, `id` taken from
/// the answer), so clients and fuzzers can follow a resource's life.
fn link_created_resources(doc: &mut Value) {
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (collection, item) in &paths {
        if item["post"]["responses"]["201"].is_null() {
            continue;
        }
        // `POST /v1/plugins/install` creates items of `/v1/plugins`.
        let base = collection.strip_suffix("/install").unwrap_or(collection);
        let mut links = serde_json::Map::new();
        for (path, target) in &paths {
            if !path.starts_with(&format!("{base}/{{id}}")) {
                continue;
            }
            for (method, op) in target.as_object().into_iter().flatten() {
                let Some(id) = op["operationId"].as_str() else { continue };
                links.insert(
                    format!("{method}_{id}"),
                    json!({ "operationId": id, "parameters": { "id": "$response.body#/id" } }),
                );
            }
        }
        if !links.is_empty() {
            doc["paths"][collection]["post"]["responses"]["201"]["links"] = Value::Object(links);
        }
    }
}

/// Adds the data API's part (paths, components, tags), as served alone.
fn merge_data_api(doc: &mut Value) {
    let data = super::data::document();
    for (path, item) in data["paths"].as_object().into_iter().flatten() {
        doc["paths"][path] = item.clone();
    }
    for (kind, items) in data["components"].as_object().into_iter().flatten() {
        for (name, v) in items.as_object().into_iter().flatten() {
            let mine = &doc["components"][kind][name];
            assert!(mine.is_null() || mine == v, "component {kind}/{name} is defined twice, differently");
            doc["components"][kind][name] = v.clone();
        }
    }
    if let (Some(tags), Some(more)) = (doc["tags"].as_array_mut(), data["tags"].as_array()) {
        tags.extend(more.iter().cloned());
    }
}

/// The headers of a 429 answer (`Retry-After`, `RateLimit-*`) are always
/// sent: marks them required (utoipa's header model has no `required`).
pub(super) fn require_rate_limit_headers(doc: &mut Value) {
    let mut names = Vec::new();
    for (_, item) in doc["paths"].as_object_mut().into_iter().flatten() {
        for op in item.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            let Some(answer) = op.get_mut("responses").and_then(|r| r.get_mut("429")) else { continue };
            match answer["$ref"].as_str() {
                Some(r) => names.extend(r.strip_prefix("#/components/responses/").map(str::to_string)),
                None => require_headers(answer),
            }
        }
    }
    for name in names {
        require_headers(&mut doc["components"]["responses"][&name]);
    }
}

fn require_headers(answer: &mut Value) {
    for (_, h) in answer["headers"].as_object_mut().into_iter().flatten() {
        h["required"] = json!(true);
    }
}

pub fn router() -> Router<Http> {
    Router::new().route("/openapi.json", get(serve))
}

#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "This document; with a key of a workspace (`Authorization: Bearer` with a data key, an API key or an access token), plus the paths of each of its enabled data endpoints with their JSON Schemas", body = Object)))]
async fn serve(State(h): State<Http>, headers: HeaderMap) -> Response {
    match workspace_of(&h, &headers).await {
        Some(ws) => match data_endpoints::enabled_in(&h.app.db, &ws).await {
            Ok(list) => axum::Json(with_endpoints(document(), &list)).into_response(),
            Err(e) => e.into_response(),
        },
        None => axum::Json(document()).into_response(),
    }
}

/// The workspace of the request's key, if it carries a valid one (a
/// missing or bad key just gets the plain document).
async fn workspace_of(h: &Http, headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))?
        .1
        .trim()
        .to_string();
    if token.starts_with("tm_") {
        return data_cache::key(&h.app, &token).await.ok().map(|k| k.workspace_id.clone());
    }
    let p = authenticate_token(&h.app, &token).await.ok()?;
    p.require(Scope::Read).ok()?;
    Some(p.workspace_id.clone())
}

/// The document plus, for each endpoint, its own paths
/// (`/api/v1/data/orders`, `/api/v1/data/orders/{record_id}`) whose bodies
/// must also satisfy the endpoint's JSON Schema.
fn with_endpoints(doc: &Value, endpoints: &[entity::data_endpoint::Model]) -> Value {
    let mut doc = doc.clone();
    let generic = |path: &str| doc["paths"][path].clone();
    let (collection, item) = (generic("/api/v1/data/{slug}"), generic("/api/v1/data/{slug}/{record_id}"));
    for e in endpoints {
        // A schema with references of its own would not resolve inside this document.
        let body = e.schema.as_ref().filter(|s| !s.to_string().contains("\"$ref\"")).map(|s| {
            let name = format!("Endpoint_{}", e.slug.replace('-', "_"));
            doc["components"]["schemas"][&name] = s.clone();
            json!({ "allOf": [{ "$ref": "#/components/schemas/RecordBody" }, { "$ref": format!("#/components/schemas/{name}") }] })
        });
        for (template, concrete) in [
            (&collection, format!("/api/v1/data/{}", e.slug)),
            (&item, format!("/api/v1/data/{}/{{record_id}}", e.slug)),
        ] {
            let mut path = template.clone();
            for (_, op) in path.as_object_mut().into_iter().flatten() {
                // The slug is part of the path now.
                if let Some(params) = op["parameters"].as_array_mut() {
                    params.retain(|p| !(p["name"] == "slug" && p["in"] == "path"));
                }
                if let Some(id) = op["operationId"].as_str() {
                    op["operationId"] = json!(format!("{id}_{}", e.slug.replace('-', "_")));
                }
                if let (Some(b), true) = (&body, op.get("requestBody").is_some()) {
                    op["requestBody"]["content"]["application/json"]["schema"] = b.clone();
                }
            }
            doc["paths"][concrete] = path;
        }
    }
    doc
}
