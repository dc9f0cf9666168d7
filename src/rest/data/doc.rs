//! [`DataApi`], the data API's part of the OpenAPI document, generated
//! from the handlers' `#[utoipa::path]`s and the types of [`super::api`]
//! (served alone at `/api/v1/openapi.json` and merged into `/openapi.json`).

use serde_json::json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::Ref;
use utoipa::{Modify, OpenApi};

use super::answers::*;
use super::api::*;

const DESCRIPTION: &str = "\
The REST data API: send records to a workspace's data endpoints with a data key.\n\n\
- `POST /api/v1/data/{slug}` creates a record; `GET`, `PUT` and `DELETE /api/v1/data/{slug}/{record_id}` read, \
replace and delete one, with the id from the POST.\n\
- Writes are asynchronous: the change is committed before the `202 Request queued` answer, then a job applies it \
and emits `record.created`, `record.updated` or `record.deleted` to the workspace's webhooks.\n\
- `tm_test_` keys work on sandbox data, `tm_live_` keys on live data; the two never mix.\n\
- Bodies are JSON objects of at most 100 KB without NUL characters, validated against the endpoint's JSON Schema \
when it has one (fetch this document with a key of the workspace to see each endpoint's schema in its own paths).\n\
- Every request that passes the key, endpoint and body checks counts against the endpoint's monthly quota, if it \
has one (429 with `Retry-After` once used up). There is no other rate limit on these routes.\n\
- Errors are `{\"success\": false, \"error\", \"code\", \"details\"?}`.\n\
- Every response carries an `x-request-id` header (the client's own, if it sent one).\n\
- Other methods on these paths answer 405 with an empty body.";

const DATA_KEY: &str = "A data key, sent as `Authorization: Bearer tm_test_…` or `Authorization: Bearer \
tm_live_…`. Data keys are created by the workspace owner (GraphQL `createDataKey`) for a member; the secret is \
shown once. The key's environment selects the data set: `tm_test_` keys read and write sandbox records, `tm_live_` \
keys live records, and the two never see each other's records (a record of the other environment answers 404). \
The key also selects the workspace in which `{slug}` is looked up. `sk_…` API keys and browser sessions are not \
accepted here (401 `Invalid API key`).";

/// The data API's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Switchyard data API", version = "1.0.0"),
    paths(super::create, super::read, super::replace, super::remove),
    components(
        schemas(RecordId, RecordBody, RecordValue, Queued, Record, DataError, DataFieldError, CallbackResult),
        responses(RecordQueued, RecordFound, BadRecordRequest, BadCallbackHeaders, DataUnauthorized, DataForbidden,
            EndpointNotFound, RecordNotFound, RecordTooLarge, RecordNotJson, QuotaExceeded, DataInternalError),
    ),
    tags((name = "records", description = "Records of data endpoints.")),
    modifiers(&DataKeyRule),
)]
pub struct DataApi;

/// Every data route takes a data key, and can answer 401, 403 (endpoint
/// disabled or expired), 429 (monthly quota) and 500: those answers and the
/// security requirement are added here, by rule, not on each handler.
struct DataKeyRule;

impl Modify for DataKeyRule {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.info.description = Some(DESCRIPTION.into());
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "dataKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tm_test_… | tm_live_…")
                    .description(Some(DATA_KEY))
                    .build(),
            ),
        );
        for item in doc.paths.paths.values_mut() {
            for op in operations(item) {
                op.security = Some(vec![SecurityRequirement::new("dataKey", Vec::<String>::new())]);
                for (status, name) in [
                    ("401", "DataUnauthorized"),
                    ("403", "DataForbidden"),
                    ("429", "QuotaExceeded"),
                    ("500", "DataInternalError"),
                ] {
                    op.responses.responses.entry(status.into()).or_insert_with(|| Ref::from_response_name(name).into());
                }
            }
        }
    }
}

/// Every operation of a path.
pub fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head, &mut item.options]
        .into_iter()
        .flatten()
}

/// Adds the `recordResult` callback (what a POST, PUT or DELETE with
/// `X-Webhook-Callback` causes) to the document's data operations. utoipa's
/// model has no callback objects, so the operation built here is placed
/// into the serialized document.
pub fn add_callbacks(doc: &mut serde_json::Value) {
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{ContentBuilder, Required, Response};
    let header = |name: &str, description: Option<&str>, pattern: Option<&str>| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(description)
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).pattern(pattern)))
            .build()
    };
    let example = json!({ "event": "record.created", "timestamp": "2024-11-23T10:15:02.123456+00:00",
        "data": { "id": "rec_01JDQ8ZK3V4N6P7R8S9T0W1X2Y", "endpoint": "orders", "environment": "test",
                  "status": "processed", "data": example_order(), "error": null } });
    let op = OperationBuilder::new()
        .summary(Some("Processing result sent to X-Webhook-Callback"))
        .description(Some(
            "Sent once the `record.process` job has applied the change (not if processing failed), if the request \
             carried `X-Webhook-Callback`. The body is signed the Standard Webhooks way with the endpoint's `whsec_…` \
             secret (shown when the endpoint is created): `webhook-signature` is `v1,` + \
             base64(HMAC-SHA256(secret, `{webhook-id}.{webhook-timestamp}.{body}`)). The authentication header \
             named by `X-Webhook-Auth-Header` (default `Authorization`) carries `X-Webhook-Auth`, when given. A 2xx \
             answer is success; any other status, a timeout or a network error is retried at most 3 times, 60 s \
             apart by default. Redirects are not followed. Requests from the owner's production console never send \
             callbacks.",
        ))
        .parameter(header("webhook-id", Some("Unique per callback (the same on its retries)."), None))
        .parameter(header("webhook-timestamp", Some("Unix seconds when this attempt was signed."), Some("^[0-9]+$")))
        .parameter(header("webhook-signature", None, Some("^v1,")))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("CallbackResult")))
                        .example(Some(example))
                        .build(),
                )
                .build(),
        ))
        .response("2XX", Response::new("Received; no retry."))
        .response("default", Response::new("Any other answer (or none): retried, at most 3 times."))
        .build();
    let op = serde_json::to_value(op).expect("the callback serializes");
    doc["components"]["callbacks"]["recordResult"] = json!({ "{$request.header.X-Webhook-Callback}": { "post": op } });
    for path in ["/api/v1/data/{slug}", "/api/v1/data/{slug}/{record_id}"] {
        for method in ["post", "put", "delete"] {
            if doc["paths"][path][method].is_object() {
                doc["paths"][path][method]["callbacks"] =
                    json!({ "recordResult": { "$ref": "#/components/callbacks/recordResult" } });
            }
        }
    }
}
