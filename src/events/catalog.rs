//! The event catalog as a contract (`eventTypes`): what each event type
//! means, an example of its `data`, and a JSON Schema of that `data`,
//! inferred from the example and the notes beside it (`optional` keys,
//! `nullable` values, `free` values that are the sender's own JSON). The
//! data is in `catalog.json`; a unit test checks that every [`EventType`]
//! has an entry, and an integration test checks real events against the
//! schemas.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::EventType;

/// One event type's documentation.
#[derive(Debug, Clone, Deserialize)]
pub struct TypeDoc {
    pub name: String,
    pub description: String,
    pub example: Value,
    #[serde(default)]
    pub optional: Vec<String>,
    #[serde(default)]
    pub nullable: Vec<String>,
    #[serde(default)]
    pub free: Vec<String>,
}

#[derive(Deserialize)]
struct Catalog {
    types: Vec<TypeDoc>,
}

static DOCS: LazyLock<Vec<TypeDoc>> = LazyLock::new(|| {
    let c: Catalog = serde_json::from_str(include_str!("catalog.json")).expect("events/catalog.json is valid");
    c.types
});

/// Every type's documentation, in the catalog's order.
pub fn all() -> &'static [TypeDoc] {
    &DOCS
}

/// The documentation of one type.
pub fn get(name: &str) -> Option<&'static TypeDoc> {
    DOCS.iter().find(|d| d.name == name)
}

impl TypeDoc {
    /// Whether only owners see events of this type.
    pub fn owners_only(&self) -> bool {
        super::owners_only(&self.name)
    }

    /// The JSON Schema (2020-12) of this type's `data`.
    pub fn schema(&self) -> Value {
        let Value::Object(example) = &self.example else { return json!({}) };
        let mut properties = Map::new();
        let mut required = Vec::new();
        for (key, value) in example {
            let schema = match () {
                _ if self.free.contains(key) => json!({ "description": "The sender's own JSON, as it came." }),
                _ if self.nullable.contains(key) => {
                    json!({ "anyOf": [infer(value), { "type": "null" }] })
                }
                _ => infer(value),
            };
            properties.insert(key.clone(), schema);
            if !self.optional.contains(key) {
                required.push(json!(key));
            }
        }
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": self.name,
            "type": "object",
            "properties": properties,
            "required": required,
        })
    }
}

/// The schema of one example value: its JSON type (a date-time format for
/// RFC 3339 strings, the item schema of a non-empty array).
fn infer(v: &Value) -> Value {
    match v {
        Value::Null => json!({ "type": "null" }),
        Value::Bool(_) => json!({ "type": "boolean" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "type": "integer" }),
        Value::Number(_) => json!({ "type": "number" }),
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
            json!({ "type": "string", "format": "date-time" })
        }
        Value::String(_) => json!({ "type": "string" }),
        Value::Array(items) => match items.first() {
            Some(first) => json!({ "type": "array", "items": infer(first) }),
            None => json!({ "type": "array" }),
        },
        Value::Object(map) => {
            let properties: Map<String, Value> = map.iter().map(|(k, v)| (k.clone(), infer(v))).collect();
            json!({ "type": "object", "properties": properties })
        }
    }
}

/// The catalog names every type the server emits, and each example
/// matches its own schema.
pub fn check() -> Result<(), String> {
    for t in EventType::ALL {
        if get(t.as_str()).is_none() {
            return Err(format!("{} has no entry in events/catalog.json", t.as_str()));
        }
    }
    for d in all() {
        if !EventType::ALL.iter().any(|t| t.as_str() == d.name) {
            return Err(format!("{} is in the catalog but never emitted", d.name));
        }
        let v = jsonschema::validator_for(&d.schema()).map_err(|e| format!("{}: {e}", d.name))?;
        let first = v.iter_errors(&d.example).next().map(|e| e.to_string());
        if let Some(e) = first {
            return Err(format!("{}: its example breaks its schema: {e}", d.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_event_type_is_documented_and_its_example_fits_its_schema() {
        super::check().unwrap();
        let rolled = super::get("api_key.rolled").unwrap().schema();
        assert_eq!(rolled["properties"]["previous_expires_at"]["anyOf"][0]["format"], "date-time");
        let updated = super::get("user.updated").unwrap().schema();
        assert!(!updated["required"].as_array().unwrap().contains(&serde_json::json!("password_set")));
    }
}
