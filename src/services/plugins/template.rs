//! The placeholders of plugin manifests: `{{config.api_key}}`,
//! `{{input.city ?? config.default_city}}`, `{{event.data}}`. A placeholder
//! is a path into the call's context (`config`, `input`, `event`), with
//! `??` trying the next path when one is missing, null or empty. There is
//! no logic to sandbox: a manifest can only pick values, never run code.
//!
//! - In a body, a string that is one placeholder becomes the value itself
//!   (an object stays an object); an object member or array item whose
//!   value is missing is left out. Other strings interpolate: strings as
//!   they are, anything else as compact JSON, missing as nothing.
//! - In a URL, a placeholder at the very start is the base URL and goes in
//!   as it is; every other is percent-encoded.

use serde_json::Value;

/// One `{{ … }}` of a template: its byte range and its expression.
struct Placeholder<'a> {
    start: usize,
    end: usize,
    expr: &'a str,
}

fn placeholders(t: &str) -> Vec<Placeholder<'_>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = t[from..].find("{{").map(|i| i + from) {
        let Some(close) = t[open + 2..].find("}}").map(|i| i + open + 2) else { break };
        out.push(Placeholder { start: open, end: close + 2, expr: t[open + 2..close].trim() });
        from = close + 2;
    }
    out
}

/// The paths a template reads (`config.api_key`, …), for checking a manifest.
pub fn paths(t: &str) -> Vec<String> {
    placeholders(t).iter().flat_map(|p| p.expr.split("??").map(|s| s.trim().to_string())).collect()
}

/// Every path read anywhere in a JSON template.
pub fn paths_in(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => paths(s),
        Value::Array(items) => items.iter().flat_map(paths_in).collect(),
        Value::Object(map) => map.values().flat_map(paths_in).collect(),
        _ => vec![],
    }
}

/// The value of one expression, or `None` when every alternative is missing.
fn eval<'a>(expr: &str, ctx: &'a Value) -> Option<&'a Value> {
    expr.split("??").map(str::trim).find_map(|path| {
        let v = path.split('.').try_fold(ctx, |v, key| v.get(key))?;
        match v {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            v => Some(v),
        }
    })
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A string template with every placeholder replaced (`encode` percent-encodes
/// each value but a leading one).
fn interpolate(t: &str, ctx: &Value, encode: bool) -> String {
    let mut out = String::with_capacity(t.len());
    let mut last = 0;
    for p in placeholders(t) {
        out.push_str(&t[last..p.start]);
        let text = text_of(eval(p.expr, ctx));
        if encode && p.start > 0 {
            out.extend(url::form_urlencoded::byte_serialize(text.as_bytes()));
        } else {
            out.push_str(&text);
        }
        last = p.end;
    }
    out.push_str(&t[last..]);
    out
}

/// A URL template rendered (see the module's header).
pub fn url(t: &str, ctx: &Value) -> String {
    interpolate(t, ctx, true)
}

/// A header value or other plain text template rendered.
pub fn text(t: &str, ctx: &Value) -> String {
    interpolate(t, ctx, false)
}

/// A JSON template rendered; `None` when it is one placeholder whose value is missing.
pub fn value(t: &Value, ctx: &Value) -> Option<Value> {
    match t {
        Value::String(s) => {
            let ps = placeholders(s);
            match ps.as_slice() {
                [p] if p.start == 0 && p.end == s.len() => eval(p.expr, ctx).cloned(),
                _ => Some(Value::String(interpolate(s, ctx, false))),
            }
        }
        Value::Array(items) => Some(Value::Array(items.iter().filter_map(|i| value(i, ctx)).collect())),
        Value::Object(map) => {
            Some(Value::Object(map.iter().filter_map(|(k, v)| Some((k.clone(), value(v, ctx)?))).collect()))
        }
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_pick_values_and_fall_back() {
        let ctx = json!({ "config": { "base": "http://x/v1", "city": "Oslo", "key": "a&b" }, "input": { "city": "" },
                          "event": { "type": "record.created", "data": { "n": 1 } } });
        assert_eq!(
            url("{{config.base}}/c?key={{config.key}}&q={{input.city ?? config.city}}", &ctx),
            "http://x/v1/c?key=a%26b&q=Oslo"
        );
        let body = json!({ "t": "*{{event.type}}* {{event.data}}", "d": "{{event.data}}", "gone": "{{config.nope}}",
                           "list": ["{{config.city}}", "{{input.nope}}"] });
        assert_eq!(
            value(&body, &ctx).unwrap(),
            json!({ "t": "*record.created* {\"n\":1}", "d": { "n": 1 }, "list": ["Oslo"] })
        );
        assert_eq!(paths("{{ a.b ?? c }} x {{d}}"), vec!["a.b", "c", "d"]);
        assert_eq!(text("no {{ placeholder", &ctx), "no {{ placeholder");
    }
}
