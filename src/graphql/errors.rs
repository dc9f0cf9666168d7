//! Gives every GraphQL error an `extensions.code` of seed 002 (and
//! `details` for validation). Resolvers return [`crate::Error`]; async-graphql
//! keeps it as the error's source, and [`super::Api`] reads it back from
//! every response it hands to a transport. Errors
//! raised by async-graphql itself (parse, validation, limits) are
//! INVALID_REQUEST. Internal messages are replaced (and logged) here.

use async_graphql::{Response, ServerError, Value};

use crate::error::Error;

/// Annotates every error of one response (see [`annotate`]).
pub fn annotate_response(mut resp: Response) -> Response {
    resp.errors.iter_mut().for_each(annotate);
    resp
}

/// Sets `extensions.code` (and `details`) on one error.
pub fn annotate(err: &mut ServerError) {
    let (message, code, details, retry_after) = match err.source::<Error>() {
        Some(e) => (
            Some(e.public_message()),
            e.code(),
            e.details().to_vec(),
            match e {
                Error::RateLimited { retry_after_secs, .. } => Some(*retry_after_secs),
                _ => None,
            },
        ),
        None => (None, "INVALID_REQUEST", vec![], None),
    };
    if let Some(m) = message {
        err.message = m;
    }
    // At debug only, and without the message (it may echo what was sent).
    tracing::debug!(code, path = ?err.path, "GraphQL error");
    let ext = err.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    if !details.is_empty() {
        ext.set("details", Value::from_json(serde_json::to_value(details).unwrap_or_default()).unwrap_or_default());
    }
    if let Some(s) = retry_after {
        ext.set("retryAfter", s);
    }
}
