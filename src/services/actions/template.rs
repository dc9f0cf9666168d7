//! Templates in the strings of an action's steps, with minijinja (the
//! Jinja2 dialect, sandboxed: no file or network access, no way out of the
//! values it is given) in strict mode: using a variable the run does not
//! have is an error, not an empty string. Rendering has a fuel limit, so a
//! template cannot loop for long.
//!
//! The values a template sees: `input` (what the run was given),
//! `steps.<key>.response.{status, headers, body}` (an earlier step's
//! answer; `body` is JSON when the answer was), `event.{id, type, data,
//! created_at}` (the event that started the run), `run.id`, `action.{id, name}`.
//!
//! A string that is exactly one `{{ … }}` expression keeps the value's JSON
//! type in a JSON body (`"{{ steps.create.response.body.id }}"` gives the
//! number or string the provider sent); any other string renders to text.

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};

/// The roots a template may name.
pub const ROOTS: &[&str] = &["input", "steps", "event", "run", "action"];

/// Instructions one rendering may run.
const FUEL: u64 = 50_000;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(50);
        env
    })
}

/// The expression of a string that is exactly one `{{ … }}`, if it is.
fn sole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%")).then_some(inner.trim())
}

/// Whether a string holds template syntax at all.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Checks a template's syntax and the variables it names: only the
/// [`ROOTS`], and `steps.<key>` only for `earlier` step keys. Returns the
/// problem in words.
pub fn check(s: &str, earlier: &[String]) -> Result<(), String> {
    if !is_template(s) {
        return Ok(());
    }
    let names = match sole_expression(s) {
        Some(expr) => env().compile_expression(expr).map_err(describe)?.undeclared_variables(true),
        None => env().template_from_str(s).map_err(describe)?.undeclared_variables(true),
    };
    for name in names {
        let mut parts = name.split('.');
        let root = parts.next().unwrap_or_default();
        if !ROOTS.contains(&root) {
            return Err(format!("`{root}` is not a value a step can use (use input, steps, event, run or action)"));
        }
        if root == "steps" {
            match parts.next() {
                Some(key) if earlier.iter().any(|k| k == key) => {}
                Some(key) => return Err(format!("`steps.{key}` names no earlier step")),
                None => {}
            }
        }
    }
    Ok(())
}

/// Renders one string: text, or the expression's own JSON value for a
/// string that is exactly one `{{ … }}` (when `typed`).
pub fn render(s: &str, ctx: &serde_json::Value, typed: bool) -> Result<serde_json::Value, String> {
    if !is_template(s) {
        return Ok(serde_json::Value::String(s.to_string()));
    }
    let ctx = Value::from(minijinja::value::Serde(ctx));
    if typed {
        if let Some(expr) = sole_expression(s) {
            let v = env().compile_expression(expr).map_err(describe)?.eval(ctx).map_err(describe)?;
            if v.is_undefined() {
                return Err(format!("undefined value: `{expr}` is not there"));
            }
            return serde_json::to_value(&v).map_err(|e| format!("the value cannot be JSON: {e}"));
        }
    }
    env().render_str(s, ctx).map(serde_json::Value::String).map_err(describe)
}

/// Renders one string to text.
pub fn render_text(s: &str, ctx: &serde_json::Value) -> Result<String, String> {
    match render(s, ctx, false)? {
        serde_json::Value::String(t) => Ok(t),
        other => Ok(other.to_string()),
    }
}

/// Renders every string of a JSON value (keys stay as written).
pub fn render_json(v: &serde_json::Value, ctx: &serde_json::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::String(s) => render(s, ctx, true)?,
        J::Array(items) => J::Array(items.iter().map(|i| render_json(i, ctx)).collect::<Result<_, _>>()?),
        J::Object(map) => {
            J::Object(map.iter().map(|(k, v)| Ok((k.clone(), render_json(v, ctx)?))).collect::<Result<_, String>>()?)
        }
        other => other.clone(),
    })
}

/// Checks every string of a JSON value.
pub fn check_json(v: &serde_json::Value, earlier: &[String]) -> Result<(), String> {
    match v {
        serde_json::Value::String(s) => check(s, earlier),
        serde_json::Value::Array(items) => items.iter().try_for_each(|i| check_json(i, earlier)),
        serde_json::Value::Object(map) => map.values().try_for_each(|v| check_json(v, earlier)),
        _ => Ok(()),
    }
}

/// A minijinja error in one line, with where it is.
fn describe(e: minijinja::Error) -> String {
    let mut s = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        s.push_str(&format!(" (line {line})"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sole_expressions_keep_their_type_and_text_renders() {
        let ctx = json!({"input": {"n": 5, "caption": "Hi"}, "steps": {"a": {"response": {"body": {"id": "17"}}}}});
        assert_eq!(render("{{ input.n }}", &ctx, true).unwrap(), json!(5));
        assert_eq!(render("{{ input.n }}", &ctx, false).unwrap(), json!("5"));
        assert_eq!(render("n={{ input.n }}", &ctx, true).unwrap(), json!("n=5"));
        assert_eq!(render("{{steps.a.response.body.id}}", &ctx, true).unwrap(), json!("17"));
        let body = json!({"creation_id": "{{ steps.a.response.body.id }}", "tags": ["{{ input.caption | upper }}"]});
        assert_eq!(render_json(&body, &ctx).unwrap(), json!({"creation_id": "17", "tags": ["HI"]}));
    }

    #[test]
    fn unknown_variables_fail_at_run_time_and_bad_syntax_or_names_at_save_time() {
        let ctx = json!({"input": {}});
        assert!(render("{{ input.missing }}", &ctx, true).unwrap_err().contains("undefined"));
        assert!(render("{{ input.missing }}", &ctx, false).is_err());
        assert!(render("x {{ input.missing }}", &ctx, true).is_err());
        assert!(check("{{ input.a ", &[]).is_err());
        assert!(check("{% for %}", &[]).is_err());
        assert!(check("{{ secrets.key }}", &[]).unwrap_err().contains("secrets"));
        assert!(check("{{ steps.later.response }}", &["first".into()]).unwrap_err().contains("later"));
        assert!(check("{{ steps.first.response.body.id }}", &["first".into()]).is_ok());
        assert!(check("plain text", &[]).is_ok());
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let e = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            &json!({}),
            false,
        );
        assert!(e.is_err());
    }
}
