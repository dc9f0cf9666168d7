//! The data API's types: what its handlers read (path, callback headers,
//! body) and answer (queued, record, error), with their OpenAPI schemas.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, ArrayItems, Object, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::error::{Error, FieldError};

/// JSON Schema `pattern` of a string without the NUL character, which the
/// API refuses (PostgreSQL cannot store it in a record's events).
pub const NO_NUL: &str = "^[^\\u0000]*$";

/// The error body of every data API answer that is not a success:
/// `{"success": false, "error", "code", "details"?}`.
#[derive(Serialize, ToSchema)]
#[schema(description = "Every error of this API. `details` is present only when there are field errors \
(400 `Validation failed`).")]
#[serde(deny_unknown_fields)]
pub struct DataError {
    #[schema(schema_with = always_false)]
    pub success: bool,
    /// A human-readable message.
    pub error: String,
    /// By status: 400, 413 and 415 `INVALID_REQUEST`; 401 `UNAUTHORIZED`;
    /// 403 `FORBIDDEN`; 404 `NOT_FOUND`; 429 `RATE_LIMITED`; 500 `INTERNAL_ERROR`.
    #[schema(value_type = crate::rest::v1::ErrorCode)]
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(min_items = 1)]
    pub details: Vec<DataFieldError>,
}

/// A problem with one part of the request.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataFieldError {
    /// The offending field: a dotted path into the body (`order_id`,
    /// `items.0`, `customer.email`), `body` for the body as a whole, or a
    /// request header name (`X-Webhook-Callback`, `X-Webhook-Auth-Header`).
    pub field: String,
    /// What is wrong, e.g. `Required field is missing`.
    pub error: String,
}

impl From<&FieldError> for DataFieldError {
    fn from(e: &FieldError) -> Self {
        Self { field: e.field.clone(), error: e.error.clone() }
    }
}

/// Any error of a data route, answered as a [`DataError`] with the error's
/// status (and `Retry-After` when the quota is used up).
#[derive(Debug)]
pub struct DataFailure(pub Error);

impl From<Error> for DataFailure {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for DataFailure {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = DataError {
            success: false,
            error: e.public_message(),
            code: e.code(),
            details: e.details().iter().map(DataFieldError::from).collect(),
        };
        let mut resp = (e.status(), Json(body)).into_response();
        e.add_headers(&mut resp);
        resp
    }
}

fn always_true() -> Object {
    ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([true])).build()
}

fn always_false() -> Object {
    ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([false])).build()
}

fn no_nul_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(NO_NUL))
}

/// `rec_` + a 26-character ULID.
pub struct RecordId;

impl PartialSchema for RecordId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("`rec_` + a 26-character ULID."))
            .pattern(Some("^rec_[0-7][0-9A-HJKMNP-TV-Z]{25}$"))
            .examples(["rec_01JDQ8ZK3V4N6P7R8S9T0W1X2Y"])
            .into()
    }
}

impl ToSchema for RecordId {}

/// A record's body: any JSON object whose strings and keys hold no NUL
/// character. The handlers check it (`parse_body`) before anything is stored.
pub struct RecordBody;

impl PartialSchema for RecordBody {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Any JSON object; its shape is set by the endpoint's JSON Schema, if any. Strings and keys must \
                 not contain the NUL character (`\\u0000`), at any depth (400 `Validation failed` on `body`).",
            ))
            .property_names(Some(no_nul_string()))
            .additional_properties(Some(Ref::from_schema_name("RecordValue")))
            .examples([example_order()])
            .into()
    }
}

impl ToSchema for RecordBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("RecordValue".into(), RecordValue::schema()));
    }
}

/// Any JSON value inside a record: strings and keys without NUL.
pub struct RecordValue;

impl PartialSchema for RecordValue {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .description(Some("Any JSON value whose strings and object keys hold no NUL character."))
            .item(no_nul_string())
            .item(ObjectBuilder::new().schema_type(SchemaType::Array(vec![Type::Number, Type::Boolean, Type::Null])))
            .item(
                ArrayBuilder::new()
                    .items(ArrayItems::RefOrSchema(Box::new(Ref::from_schema_name("RecordValue").into()))),
            )
            .item(Ref::from_schema_name("RecordBody"))
            .into()
    }
}

impl ToSchema for RecordValue {}

pub fn example_order() -> serde_json::Value {
    json!({ "order_id": "ORD-2024-001", "amount": 45000, "items": ["Item A", "Item B"], "paid": true })
}

/// `/api/v1/data/{slug}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EndpointPath {
    /// The data endpoint's slug, unique within the key's workspace. An
    /// unknown slug answers 404 `Endpoint not found`.
    #[param(min_length = 1, max_length = 64, pattern = "^[a-z0-9_][a-z0-9_-]*$", example = "orders")]
    pub slug: String,
}

/// `/api/v1/data/{slug}/{record_id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RecordPath {
    /// The data endpoint's slug, unique within the key's workspace. An
    /// unknown slug answers 404 `Endpoint not found`.
    #[param(min_length = 1, max_length = 64, pattern = "^[a-z0-9_][a-z0-9_-]*$", example = "orders")]
    pub slug: String,
    /// A record id as returned by `POST /api/v1/data/{slug}`: `rec_`
    /// followed by a 26-character ULID (Crockford base32). Anything else, a
    /// record of another endpoint or environment, or a deleted record
    /// answers 404 `Record not found`.
    #[param(value_type = RecordId, example = "rec_01JDQ8ZK3V4N6P7R8S9T0W1X2Y")]
    pub record_id: String,
}

/// The optional callback headers of a POST, PUT or DELETE, as sent (the
/// handler checks them: `callback` in the module above).
#[derive(IntoParams, Default)]
#[into_params(parameter_in = Header)]
pub struct CallbackHeaders {
    /// Where to send this request's processing result (see the
    /// `recordResult` callback). Must be an absolute `http` or `https` URL
    /// without credentials; it passes the SSRF guard (loopback, private,
    /// link-local, CGNAT, ULA, metadata and other reserved addresses are
    /// refused, also after DNS resolution, unless the server runs with
    /// `SWITCHYARD_ALLOW_PRIVATE_TARGETS=true`). A refused URL answers 400
    /// `Validation failed` with a detail on the field `X-Webhook-Callback`.
    /// An empty or blank value is refused like any other URL that is not
    /// one (400). Each POST, PUT or DELETE replaces the record's callback:
    /// a request without this header clears it.
    #[param(
        rename = "X-Webhook-Callback",
        format = "uri",
        min_length = 1,
        nullable = false,
        example = "https://collaborator.example.com/switchyard/result"
    )]
    pub callback: Option<String>,
    /// The value sent in the callback's authentication header (e.g.
    /// `Bearer abc123`). Stored encrypted. Ignored without `X-Webhook-Callback`.
    #[param(rename = "X-Webhook-Auth", nullable = false, example = "Bearer collaborator-token-123")]
    pub auth: Option<String>,
    /// The name of the header that carries `X-Webhook-Auth` in the
    /// callback; default `Authorization`. It must be a valid header name
    /// other than `Content-Type`, `Content-Length`, `Host`, `webhook-id`,
    /// `webhook-timestamp` and `webhook-signature` (case-insensitive), else
    /// 400 `Validation failed` with a detail on the field
    /// `X-Webhook-Auth-Header`. Ignored without `X-Webhook-Callback`.
    #[param(rename = "X-Webhook-Auth-Header", nullable = false, example = "X-Api-Token")]
    pub auth_header: Option<String>,
}

impl CallbackHeaders {
    /// The headers as sent: `None` when absent or not visible ASCII;
    /// `callback` is `Some("")` when present but blank (a refused URL).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).map(|v| v.to_str().map(str::trim).unwrap_or("").to_string());
        let set = |v: Option<String>| v.filter(|v| !v.is_empty());
        Self {
            callback: text("x-webhook-callback"),
            auth: set(text("x-webhook-auth")),
            auth_header: set(text("x-webhook-auth-header")),
        }
    }
}

/// The change is stored and queued; a `record.process` job applies it
/// shortly after.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Queued {
    #[schema(schema_with = always_true)]
    pub success: bool,
    #[schema(value_type = RecordId)]
    pub id: String,
    #[schema(schema_with = request_queued)]
    pub message: &'static str,
}

fn request_queued() -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["Request queued"])).build()
}

impl Queued {
    pub fn new(id: String) -> Self {
        Self { success: true, id, message: "Request queued" }
    }
}

/// How far the last POST, PUT or DELETE got.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum RecordStatus {
    Queued,
    Processing,
    Processed,
    Failed,
}

/// The last change requested.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum RecordOperation {
    Create,
    Replace,
    Delete,
}

/// Where the last change's callback stands.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum CallbackStatus {
    Pending,
    Delivered,
    Failed,
}

/// A record as `GET /api/v1/data/{slug}/{record_id}` answers it.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Record {
    #[schema(schema_with = always_true)]
    pub success: bool,
    #[schema(value_type = RecordId)]
    pub id: String,
    /// The last POST, PUT or DELETE: `queued` (accepted, waiting),
    /// `processing` (its job is running or being retried), `processed`
    /// (applied), `failed` (its job used up its 5 attempts; see `error`;
    /// the previous `data` stays). A processed DELETE makes the record
    /// disappear (404). A new PUT or DELETE sets it back to `queued`.
    #[schema(value_type = RecordStatus)]
    pub status: String,
    /// The last change requested: `create` (POST), `replace` (PUT) or
    /// `delete` (DELETE); `status` tells how far it got. Right after a
    /// DELETE the record still answers 200 with `operation: "delete"` and
    /// `status: "queued"` (the deletion is pending); once it is processed
    /// the record answers 404.
    #[schema(value_type = RecordOperation)]
    pub operation: String,
    /// The record's body as last applied: `null` until the first POST is
    /// processed; while a PUT is queued or processing, or if it failed, it
    /// is still the previous body.
    #[schema(value_type = Option<RecordBody>, required = true)]
    pub data: Option<serde_json::Value>,
    /// Why processing failed (the job's last error) when `status` is
    /// `failed`; otherwise `null`.
    #[schema(required = true)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the last change was accepted or applied.
    pub updated_at: DateTime<Utc>,
    /// When a change was last applied; `null` before the first one.
    #[schema(required = true)]
    pub processed_at: Option<DateTime<Utc>>,
    /// The `X-Webhook-Callback` of the last POST, PUT or DELETE: `null`
    /// when none was given or the change is not processed yet; `pending`
    /// once processed, until a send succeeds (also between retries);
    /// `delivered` after a 2xx; `failed` after the last retry failed.
    #[schema(value_type = Option<CallbackStatus>, required = true)]
    pub callback_status: Option<String>,
}

impl From<entity::record::Model> for Record {
    fn from(r: entity::record::Model) -> Self {
        Self {
            success: true,
            id: r.id,
            status: r.state,
            operation: r.operation,
            data: r.data,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
            processed_at: r.processed_at,
            callback_status: r.callback_state,
        }
    }
}

/// The processing result sent to `X-Webhook-Callback`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CallbackResult {
    #[schema(value_type = CallbackEvent)]
    event: String,
    /// When this attempt was sent.
    timestamp: DateTime<Utc>,
    data: CallbackRecord,
}

/// Which change was processed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum CallbackEvent {
    #[schema(rename = "record.created")]
    Created,
    #[schema(rename = "record.updated")]
    Updated,
    #[schema(rename = "record.deleted")]
    Deleted,
}

/// The record a callback is about.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CallbackRecord {
    #[schema(value_type = RecordId)]
    id: String,
    /// The endpoint's slug.
    endpoint: String,
    /// `test` or `live`.
    environment: String,
    /// The record's status when the attempt is sent: `processed`, or
    /// `deleted` after a DELETE.
    status: String,
    /// The record's body when the attempt is sent; `null` after a DELETE.
    #[schema(value_type = Option<RecordBody>, required = true)]
    data: Option<serde_json::Value>,
    /// Why processing failed; `null` otherwise.
    #[schema(required = true)]
    error: Option<String>,
}
