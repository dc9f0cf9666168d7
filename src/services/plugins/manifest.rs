//! Plugin manifests: what a plugin is (id, name, version, author), the
//! JSON Schema of its config (secret fields marked `writeOnly`, the
//! standard annotation for values that go in and never come out), and what
//! it provides: HTTP **actions** run on request and **hooks** run for
//! matching events. The marketplace's manifests are data files shipped in
//! the binary (`manifests/*.json`); a workspace may add its own, checked
//! against `manifest.schema.json` and the rules of [`check`].

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::template;
use crate::error::{Error, FieldError, Result};
use crate::services::secret_config;

/// A plugin manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// `plugin_{key}_v{version}`, e.g. `plugin_weather_v1.0.0`.
    pub id: String,
    pub name: String,
    pub description: String,
    pub version: String,
    pub author: String,
    /// A JSON Schema (an object schema) of the config.
    pub config_schema: Value,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub hooks: Vec<Hook>,
}

/// An HTTP call described declaratively; every string may hold placeholders.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Call {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Map<String, Value>,
    /// The JSON body template (none: no body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A template giving the `whsec_…` secret to sign with (Standard Webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<String>,
}

/// A named call run with `runPluginAction`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Action {
    #[serde(flatten)]
    pub call: Call,
    /// The JSON Schema of the call's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// Which part of the answer is the result: a JSON pointer, or an object
    /// of pointers (each becomes a member). None: the whole answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// A call made for every event that matches `events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hook {
    #[serde(flatten)]
    pub call: Call,
    /// Event patterns, or a placeholder naming a config field that holds them.
    pub events: Value,
}

impl Manifest {
    /// The key part of the id (`weather`): one installation per key.
    pub fn key(&self) -> &str {
        let rest = self.id.strip_prefix("plugin_").unwrap_or(&self.id);
        rest.rsplit_once("_v").map_or(rest, |(k, _)| k)
    }

    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
    }

    /// The names of the config's secret (`writeOnly`) fields.
    pub fn secret_fields(&self) -> Vec<String> {
        secret_config::secret_fields(&self.config_schema)
    }

    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.call.name == name)
    }

    /// What a caller naming an action the plugin does not have is told.
    pub fn no_such_action(&self, name: &str) -> String {
        let known: Vec<&str> = self.actions.iter().map(|a| a.call.name.as_str()).collect();
        format!("The {} plugin has no action `{name}` (it has: {})", self.name, known.join(", "))
    }

    /// The event patterns of a hook under a config.
    pub fn hook_patterns(hook: &Hook, config: &Value) -> Vec<String> {
        let resolved = match &hook.events {
            Value::String(_) => template::value(&hook.events, &serde_json::json!({ "config": config })),
            other => Some(other.clone()),
        };
        resolved
            .and_then(|v| v.as_array().cloned())
            .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
}

static MARKETPLACE: LazyLock<Vec<Manifest>> = LazyLock::new(|| {
    [
        include_str!("manifests/weather.json"),
        include_str!("manifests/chat_notifier.json"),
        include_str!("manifests/http_forwarder.json"),
    ]
    .iter()
    .map(|s| serde_json::from_str(s).expect("marketplace manifests are valid"))
    .collect()
});

static MANIFEST_SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(include_str!("manifest.schema.json")).expect("valid JSON");
    jsonschema::validator_for(&schema).expect("manifest.schema.json is a valid JSON Schema")
});

/// The marketplace's manifests.
pub fn marketplace() -> &'static [Manifest] {
    &MARKETPLACE
}

/// The marketplace manifest with this id.
pub fn find(plugin_id: &str) -> Option<&'static Manifest> {
    MARKETPLACE.iter().find(|m| m.id == plugin_id)
}

/// Checks a manifest (a custom one as it came): the manifest schema, then
/// the rules a schema cannot say. Problems come back as `manifest.<path>`
/// field details.
pub fn check(raw: &Value) -> Result<Manifest> {
    let problems: Vec<FieldError> = MANIFEST_SCHEMA
        .iter_errors(raw)
        .map(|e| {
            let path = e.instance_path().to_string();
            let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            FieldError::new(std::iter::once("manifest").chain(parts).collect::<Vec<_>>().join("."), e.to_string())
        })
        .collect();
    if !problems.is_empty() {
        return Err(Error::validation(problems));
    }
    let m: Manifest =
        serde_json::from_value(raw.clone()).map_err(|e| Error::invalid_field("manifest", e.to_string()))?;
    let mut problems = Vec::new();
    if !m.id.ends_with(&format!("_v{}", m.version)) {
        problems.push(FieldError::new("manifest.id", "Must end with _v{version}"));
    }
    if let Err(e) = jsonschema::validator_for(&m.config_schema) {
        problems.push(FieldError::new("manifest.config_schema", format!("Not a valid JSON Schema: {e}")));
    }
    let fields: Vec<String> =
        m.config_schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    let mut names = std::collections::HashSet::new();
    let calls = m.actions.iter().map(|a| ("actions", &a.call)).chain(m.hooks.iter().map(|h| ("hooks", &h.call)));
    for (i, (list, call)) in calls.enumerate() {
        let at = format!("manifest.{list}.{}", if list == "actions" { i } else { i - m.actions.len() });
        if !names.insert((list, call.name.clone())) {
            problems.push(FieldError::new(format!("{at}.name"), "Names must be unique"));
        }
        let mut used = template::paths(&call.url);
        used.extend(call.headers.values().flat_map(template::paths_in));
        used.extend(call.body.iter().flat_map(template::paths_in));
        used.extend(call.sign.iter().flat_map(|s| template::paths(s)));
        for path in used {
            let mut parts = path.split('.');
            let ok = match (parts.next(), parts.next()) {
                (Some("config"), Some(field)) => fields.iter().any(|f| f == field),
                (Some("input"), _) => list == "actions",
                (Some("event"), _) => list == "hooks",
                _ => false,
            };
            if !ok {
                problems.push(FieldError::new(
                    at.clone(),
                    format!("`{{{{{path}}}}}` reads nothing: use config.<a config field>, input.… (actions) or event.… (hooks)"),
                ));
            }
        }
        if !call.url.starts_with("{{") && !call.url.starts_with("https://") && !call.url.starts_with("http://") {
            problems.push(FieldError::new(format!("{at}.url"), "Must start with http(s):// or a config placeholder"));
        }
    }
    for (i, h) in m.hooks.iter().enumerate() {
        if let Value::Array(patterns) = &h.events {
            for p in patterns.iter().filter_map(Value::as_str) {
                if !crate::events::is_known_pattern(p) {
                    problems.push(FieldError::new(
                        format!("manifest.hooks.{i}.events"),
                        format!("`{p}` matches no event type"),
                    ));
                }
            }
        }
    }
    for (i, a) in m.actions.iter().enumerate() {
        if let Some(Err(e)) = a.input_schema.as_ref().map(jsonschema::validator_for) {
            problems.push(FieldError::new(
                format!("manifest.actions.{i}.input_schema"),
                format!("Not a valid JSON Schema: {e}"),
            ));
        }
    }
    if problems.is_empty() {
        Ok(m)
    } else {
        Err(Error::validation(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_marketplace_manifests_pass_their_own_checks() {
        for m in marketplace() {
            let raw = serde_json::to_value(m).unwrap();
            check(&raw).unwrap_or_else(|e| panic!("{}: {e} {:?}", m.id, e.details()));
        }
        assert_eq!(find("plugin_weather_v1.0.0").unwrap().key(), "weather");
        assert_eq!(find("plugin_chat_notifier_v1.0.0").unwrap().key(), "chat_notifier");
        assert_eq!(find("plugin_weather_v1.0.0").unwrap().secret_fields(), vec!["api_key"]);
    }

    #[test]
    fn bad_manifests_and_configs_name_their_fields() {
        let mut raw = serde_json::to_value(find("plugin_weather_v1.0.0").unwrap()).unwrap();
        raw["actions"][0]["url"] = json!("{{config.nope}}/x");
        raw["version"] = json!("one");
        let e = check(&raw).unwrap_err();
        assert!(e.details().iter().any(|d| d.field == "manifest.version"), "{:?}", e.details());
        raw["version"] = json!("1.0.0");
        let e = check(&raw).unwrap_err();
        assert!(e.details().iter().any(|d| d.field == "manifest.actions.0"), "{:?}", e.details());

        let m = find("plugin_weather_v1.0.0").unwrap();
        let e = secret_config::validate(&m.config_schema, &json!({ "api_key": "", "default_city": 3 })).unwrap_err();
        let fields: Vec<&str> = e.details().iter().map(|d| d.field.as_str()).collect();
        assert!(fields.contains(&"config.api_key") && fields.contains(&"config.default_city"), "{fields:?}");
        let e = secret_config::validate(&m.config_schema, &json!({})).unwrap_err();
        assert!(e.details().iter().any(|d| d.field == "config.api_key" && d.error == "Required field is missing"));
    }
}
