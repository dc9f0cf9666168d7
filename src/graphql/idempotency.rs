//! `idempotencyKey` on `create…` inputs: a retry with the same key and
//! input within 24 hours returns the first call's object (and shown-once
//! secret) instead of creating another. Resolvers wrap their service call
//! in [`once`]; the rules live in [`crate::services::idempotency`].
//!
//! Keys are scoped by workspace and credential kind, as Stripe scopes them
//! by account: every API key of a workspace shares one space (a job
//! retried with a rolled key still finds its answer), a browser session
//! has its user's, an OAuth app its own. The input is compared without the
//! key itself, with object fields in any order.

use std::future::Future;

use async_graphql::{Context, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ContextExt;
use crate::auth::{Credential, Principal};
use crate::error::{Error, Result};
use crate::services::idempotency;

/// The input field, in GraphQL's spelling.
const FIELD: &str = "idempotencyKey";

/// Runs `work` (a `create…` mutation's service call) once per
/// `idempotencyKey`; without a key it just runs it.
pub async fn once<T, W>(ctx: &Context<'_>, key: Option<&str>, work: W) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    W: Future<Output = Result<T>>,
{
    let Some(key) = key else { return work.await };
    let scope = scope(ctx.principal()?);
    let arguments = ctx.field().arguments().map_err(|e| Error::internal(e.message))?;
    let mut hash = Sha256::new();
    hash.update(ctx.field().name().as_bytes());
    for (name, value) in arguments {
        hash.update([0]);
        hash.update(name.as_bytes());
        hash.update([0]);
        canonical(&without_key(value), &mut hash);
    }
    idempotency::once(ctx.app(), &scope, key, &hex::encode(hash.finalize()), work).await
}

/// Whose key space a caller uses.
fn scope(p: &Principal) -> String {
    let ws = &p.workspace_id;
    match &p.credential {
        Credential::ApiKey { .. } => format!("gql:{ws}:api_key"),
        Credential::Session { .. } => format!("gql:{ws}:user:{}", p.user_id),
        Credential::OAuthToken { app_id, .. } => format!("gql:{ws}:oauth_app:{app_id}"),
    }
}

/// The argument with `idempotencyKey` taken out of its top-level object.
fn without_key(mut value: Value) -> Value {
    if let Value::Object(fields) = &mut value {
        fields.shift_remove(FIELD);
    }
    value
}

/// Feeds `value` to `hash` in one spelling per meaning: object fields
/// sorted by name, every item tagged and length-prefixed.
fn canonical(value: &Value, hash: &mut Sha256) {
    match value {
        Value::Null => put(hash, b'n', ""),
        Value::Number(n) => put(hash, b'#', &n.to_string()),
        Value::String(s) => put(hash, b's', s),
        Value::Boolean(b) => put(hash, b'b', if *b { "t" } else { "f" }),
        Value::Enum(e) => put(hash, b'e', e.as_str()),
        Value::Binary(b) => put(hash, b'x', &hex::encode(b)),
        Value::List(items) => {
            put(hash, b'[', &items.len().to_string());
            items.iter().for_each(|v| canonical(v, hash));
        }
        Value::Object(fields) => {
            put(hash, b'{', &fields.len().to_string());
            let mut sorted: Vec<_> = fields.iter().collect();
            sorted.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            for (name, v) in sorted {
                put(hash, b':', name);
                canonical(v, hash);
            }
        }
    }
}

/// One tagged, length-prefixed item.
fn put(hash: &mut Sha256, tag: u8, s: &str) {
    hash.update([tag]);
    hash.update((s.len() as u64).to_le_bytes());
    hash.update(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::value;

    fn digest(v: &Value) -> String {
        let mut h = Sha256::new();
        canonical(&without_key(v.clone()), &mut h);
        hex::encode(h.finalize())
    }

    #[test]
    fn the_same_input_in_another_order_or_with_its_key_has_one_fingerprint() {
        let a = value!({ "url": "https://a", "eventTypes": ["*"], "idempotencyKey": "k1" });
        let b = value!({ "eventTypes": ["*"], "url": "https://a" });
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&value!({ "eventTypes": ["*"], "url": "https://b" })));
        assert_ne!(digest(&value!({ "a": ["x", "y"] })), digest(&value!({ "a": ["xy"] })));
        assert_ne!(digest(&value!({ "a": "1" })), digest(&value!({ "a": 1 })));
    }
}
