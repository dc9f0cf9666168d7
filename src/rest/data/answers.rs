//! The data API's reusable answers (OpenAPI response components), each
//! a body type of [`super::api`] with its description and examples.

use utoipa::ToResponse;

use super::api::{DataError, Queued, Record};

/// Accepted: the change is committed and queued (`202 Request queued`).
#[derive(ToResponse)]
#[response(example = json!({ "success": true, "id": "rec_01JDQ8ZK3V4N6P7R8S9T0W1X2Y", "message": "Request queued" }))]
#[allow(dead_code)]
pub struct RecordQueued(Queued);

/// The record.
#[derive(ToResponse)]
#[response(examples(
    ("processed" = (summary = "Processed, callback delivered", value = json!({
        "success": true, "id": "rec_01JDQ8ZK3V4N6P7R8S9T0W1X2Y", "status": "processed", "operation": "create",
        "data": { "order_id": "ORD-2024-001", "amount": 45000, "items": ["Item A", "Item B"], "paid": true },
        "error": null, "created_at": "2024-11-23T10:15:01.482113Z", "updated_at": "2024-11-23T10:15:01.530907Z",
        "processed_at": "2024-11-23T10:15:01.530907Z", "callback_status": "delivered" }))),
    ("deletePending" = (summary = "Right after a DELETE: the deletion is pending", value = json!({
        "success": true, "id": "rec_01JDQ8ZK3V4N6P7R8S9T0W1X2Y", "status": "queued", "operation": "delete",
        "data": { "order_id": "ORD-2024-001", "amount": 45000, "items": ["Item A", "Item B"], "paid": true },
        "error": null, "created_at": "2024-11-23T10:15:01.482113Z", "updated_at": "2024-11-23T10:16:40.100211Z",
        "processed_at": "2024-11-23T10:15:01.530907Z", "callback_status": null })))
))]
#[allow(dead_code)]
pub struct RecordFound(Record);

/// INVALID_REQUEST: the body is not valid JSON, not an object, holds a NUL
/// character or breaks the endpoint's JSON Schema; or a callback header is
/// not acceptable.
#[derive(ToResponse)]
#[response(examples(
    ("invalidJson" = (summary = "The body is not valid JSON",
        value = json!({ "success": false, "error": "Invalid JSON", "code": "INVALID_REQUEST" }))),
    ("validationFailed" = (summary = "The body breaks the endpoint's JSON Schema (one detail per violation)",
        value = json!({ "success": false, "error": "Validation failed", "code": "INVALID_REQUEST",
            "details": [{ "field": "order_id", "error": "Required field is missing" }] }))),
    ("notAnObject" = (summary = "The body is valid JSON but not an object",
        value = json!({ "success": false, "error": "Validation failed", "code": "INVALID_REQUEST",
            "details": [{ "field": "body", "error": "The body must be a JSON object" }] }))),
    ("nul" = (summary = "A string or key holds the NUL character",
        value = json!({ "success": false, "error": "Validation failed", "code": "INVALID_REQUEST",
            "details": [{ "field": "body", "error": "Strings must not contain the NUL character (\\u0000)" }] }))),
    ("callbackUrl" = (summary = "X-Webhook-Callback is not an acceptable URL",
        value = json!({ "success": false, "error": "Validation failed", "code": "INVALID_REQUEST",
            "details": [{ "field": "X-Webhook-Callback",
                "error": "Refused by the SSRF guard: hooks.internal resolves to a private address" }] })))
))]
#[allow(dead_code)]
pub struct BadRecordRequest(DataError);

/// INVALID_REQUEST: a callback header is not acceptable.
#[derive(ToResponse)]
#[response(examples(
    ("callbackUrl" = (summary = "X-Webhook-Callback is not an acceptable URL",
        value = json!({ "success": false, "error": "Validation failed", "code": "INVALID_REQUEST",
            "details": [{ "field": "X-Webhook-Callback",
                "error": "Refused by the SSRF guard: hooks.internal resolves to a private address" }] }))),
    ("callbackAuthHeader" = (summary = "X-Webhook-Auth-Header names a header that cannot be set",
        value = json!({ "success": false, "error": "Validation failed", "code": "INVALID_REQUEST",
            "details": [{ "field": "X-Webhook-Auth-Header", "error": "Not a header name that can be set" }] })))
))]
#[allow(dead_code)]
pub struct BadCallbackHeaders(DataError);

/// UNAUTHORIZED: no `Authorization: Bearer …` header, a key that is not a
/// valid data key (or whose member left the workspace), or a key the owner
/// disabled.
#[derive(ToResponse)]
#[response(examples(
    ("missing" = (summary = "No Authorization: Bearer header",
        value = json!({ "success": false, "error": "Missing API key", "code": "UNAUTHORIZED" }))),
    ("invalid" = (summary = "Unknown or malformed key (including sk_ API keys)",
        value = json!({ "success": false, "error": "Invalid API key", "code": "UNAUTHORIZED" }))),
    ("disabled" = (summary = "The owner disabled the key",
        value = json!({ "success": false, "error": "API key disabled by the owner", "code": "UNAUTHORIZED" })))
))]
#[allow(dead_code)]
pub struct DataUnauthorized(DataError);

/// FORBIDDEN: the endpoint is disabled, or its subscription has expired.
#[derive(ToResponse)]
#[response(examples(
    ("notEnabled" = (summary = "The endpoint is disabled",
        value = json!({ "success": false, "error": "Endpoint is not enabled", "code": "FORBIDDEN" }))),
    ("expired" = (summary = "The endpoint's subscription has expired",
        value = json!({ "success": false, "error": "Subscription expired", "code": "FORBIDDEN" })))
))]
#[allow(dead_code)]
pub struct DataForbidden(DataError);

/// NOT_FOUND: no endpoint with this slug in the key's workspace.
#[derive(ToResponse)]
#[response(example = json!({ "success": false, "error": "Endpoint not found", "code": "NOT_FOUND" }))]
#[allow(dead_code)]
pub struct EndpointNotFound(DataError);

/// NOT_FOUND: no endpoint with this slug in the key's workspace, or no such
/// record of this endpoint in the key's environment (also a malformed id,
/// or a record whose DELETE was processed).
#[derive(ToResponse)]
#[response(examples(
    ("endpoint" = (summary = "Unknown slug",
        value = json!({ "success": false, "error": "Endpoint not found", "code": "NOT_FOUND" }))),
    ("record" = (summary = "Unknown record",
        value = json!({ "success": false, "error": "Record not found", "code": "NOT_FOUND" })))
))]
#[allow(dead_code)]
pub struct RecordNotFound(DataError);

/// INVALID_REQUEST: the body is larger than 100 KB (102400 bytes).
#[derive(ToResponse)]
#[response(example = json!({ "success": false, "error": "Request body too large (limit 102400 bytes)",
    "code": "INVALID_REQUEST" }))]
#[allow(dead_code)]
pub struct RecordTooLarge(DataError);

/// INVALID_REQUEST: the `Content-Type` is missing or not `application/json`.
#[derive(ToResponse)]
#[response(example = json!({ "success": false, "error": "Content-Type must be application/json",
    "code": "INVALID_REQUEST" }))]
#[allow(dead_code)]
pub struct RecordNotJson(DataError);

/// RATE_LIMITED: the endpoint's monthly request quota is used up. The
/// quota counts requests per endpoint and UTC calendar month, sandbox and
/// live keys together; it starts over on the 1st of next month, 00:00 UTC
/// (`Retry-After`).
#[derive(ToResponse)]
#[response(
    headers(("Retry-After" = u64, description = "Seconds until the monthly quota starts over (the 1st of next \
month, 00:00 UTC); at least 1.")),
    example = json!({ "success": false, "error": "Monthly request quota used up; it resets at 2025-01-01T00:00:00Z",
        "code": "RATE_LIMITED" })
)]
#[allow(dead_code)]
pub struct QuotaExceeded(DataError);

/// INTERNAL_ERROR: an unexpected failure (e.g. the database); the cause is
/// logged, never shown.
#[derive(ToResponse)]
#[response(example = json!({ "success": false, "error": "Internal server error", "code": "INTERNAL_ERROR" }))]
#[allow(dead_code)]
pub struct DataInternalError(DataError);
