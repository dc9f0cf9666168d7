//! Configs with secret fields, described by a JSON Schema whose secret
//! properties are marked `"writeOnly": true` (the standard annotation for
//! values that go in and never come out): plugin configs and integration
//! configs. A config is checked against its schema with field details
//! (`config.<field>`, a secret's value never repeated), stored with its
//! secret fields as `***` beside an encrypted object of their values, and
//! shown exactly as stored.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::state::AppState;

/// The names of a schema's secret (`writeOnly`) top-level fields.
pub fn secret_fields(schema: &Value) -> Vec<String> {
    schema["properties"]
        .as_object()
        .map(|props| {
            props.iter().filter(|(_, s)| s["writeOnly"] == Value::Bool(true)).map(|(k, _)| k.clone()).collect()
        })
        .unwrap_or_default()
}

/// The config with the schema's top-level defaults filled in.
pub fn with_defaults(schema: &Value, mut config: Value) -> Value {
    if let (Some(obj), Some(props)) = (config.as_object_mut(), schema["properties"].as_object()) {
        for (k, s) in props {
            if let Some(d) = s.get("default").filter(|_| !obj.contains_key(k)) {
                obj.insert(k.clone(), d.clone());
            }
        }
    }
    config
}

/// Checks a whole config (secrets included) against the manifest's schema:
/// one `config.<field>` detail per problem; a secret's value is never repeated.
pub fn validate(schema: &Value, config: &Value) -> Result<()> {
    if !config.is_object() {
        return Err(Error::invalid_field("config", "Must be a JSON object"));
    }
    let validator = jsonschema::validator_for(schema).map_err(Error::internal)?;
    let secrets = secret_fields(schema);
    let mut problems = crate::services::data_endpoints::schema_violations(&validator, config);
    for p in &mut problems {
        let top = p.field.split('.').next().unwrap_or_default().to_string();
        if secrets.contains(&top) && p.error != "Required field is missing" {
            p.error = "Not a valid value for this secret field (the value is not repeated)".into();
        }
        p.field = if p.field == "body" { "config".into() } else { format!("config.{}", p.field) };
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(problems))
    }
}

/// Splits a config into what is stored in the clear (each secret field
/// that is set shown as `***`, as it is shown everywhere outside the
/// server) and the secret fields' values (stored encrypted).
pub fn split(schema: &Value, config: &Value) -> (Value, Map<String, Value>) {
    let mut plain = config.as_object().cloned().unwrap_or_default();
    let mut hidden = Map::new();
    for k in secret_fields(schema) {
        if let Some(v) = plain.remove(&k) {
            hidden.insert(k.clone(), v);
            plain.insert(k, Value::String(MASK.into()));
        }
    }
    (Value::Object(plain), hidden)
}

/// How a secret value is shown.
pub const MASK: &str = "***";

/// Puts back the stored value of every secret field sent as `***`.
pub fn keep_masked(config: &mut Value, stored: &Map<String, Value>) {
    if let Some(obj) = config.as_object_mut() {
        for (k, v) in obj.iter_mut() {
            if v == MASK {
                if let Some(old) = stored.get(k) {
                    *v = old.clone();
                }
            }
        }
    }
}

/// The secret values stored encrypted in `enc`.
pub fn decrypt(st: &AppState, enc: Option<&str>) -> Result<Map<String, Value>> {
    match enc {
        None => Ok(Map::new()),
        Some(enc) => serde_json::from_str(&st.secret.decrypt(enc)?).map_err(Error::internal),
    }
}

/// The secret values, encrypted (none when there are none).
pub fn encrypt(st: &AppState, secrets: &Map<String, Value>) -> Result<Option<String>> {
    if secrets.is_empty() {
        return Ok(None);
    }
    Ok(Some(st.secret.encrypt(&Value::Object(secrets.clone()).to_string())?))
}

/// The whole config: the stored part with the secret values put back.
pub fn full(st: &AppState, stored: &Value, enc: Option<&str>) -> Result<Value> {
    let mut all = stored.as_object().cloned().unwrap_or_default();
    all.extend(decrypt(st, enc)?);
    Ok(Value::Object(all))
}
