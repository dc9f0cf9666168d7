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

/// Longest template (one string of a step that holds template syntax).
pub const MAX_TEMPLATE_CHARS: usize = 4096;

/// `~` and `+` operators one template may hold: each may make a string as
/// long as its operands together, so a long chain of them over a large
/// value would hold many copies of it while it is evaluated.
pub const MAX_JOINS: usize = 16;

/// Most text one string may render to, and one step's JSON body in all.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;
pub const MAX_RENDERED_BODY_BYTES: usize = 1024 * 1024;

/// The environment: strict, with fuel, and with only the filters, tests
/// and syntax that cannot build a value much larger than the values it is
/// given. Fuel counts instructions, not bytes: one `"x" * 100000000`, a
/// `namespace()` grown in a loop, or a `center(10**9)` would each take
/// the process's memory, for every workspace. So there is no `range`,
/// `namespace` or other global, no padding, joining or replacing filter,
/// no `*`/`**` and no statement but `if` (see [`forbidden`]).
fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        use minijinja::{filters as f, tests as t};
        let mut env = Environment::empty();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(50);
        env.add_filter("upper", f::upper);
        env.add_filter("lower", f::lower);
        env.add_filter("title", f::title);
        env.add_filter("capitalize", f::capitalize);
        env.add_filter("trim", f::trim);
        env.add_filter("length", f::length);
        env.add_filter("count", f::length);
        env.add_filter("default", f::default);
        env.add_filter("d", f::default);
        env.add_filter("abs", f::abs);
        env.add_filter("int", f::int);
        env.add_filter("float", f::float);
        env.add_filter("round", f::round);
        env.add_filter("first", f::first);
        env.add_filter("last", f::last);
        env.add_filter("reverse", f::reverse);
        env.add_filter("list", f::list);
        env.add_filter("sort", f::sort);
        env.add_filter("unique", f::unique);
        env.add_filter("min", f::min);
        env.add_filter("max", f::max);
        env.add_filter("sum", f::sum);
        env.add_filter("items", f::items);
        env.add_filter("dictsort", f::dictsort);
        env.add_filter("split", f::split);
        env.add_filter("lines", f::lines);
        env.add_filter("string", f::string);
        env.add_filter("bool", f::bool);
        // Compact only (an `indent` would grow with the nesting), and cut
        // off at the size a rendered string may have.
        env.add_filter("tojson", |v: Value| {
            let bad = |e: String| minijinja::Error::new(minijinja::ErrorKind::BadSerialization, e);
            String::from_utf8(to_json_capped(&v).map_err(bad)?).map_err(|e| bad(e.to_string()))
        });
        env.add_test("defined", t::is_defined);
        env.add_test("undefined", t::is_undefined);
        env.add_test("none", t::is_none);
        env.add_test("boolean", t::is_boolean);
        env.add_test("number", t::is_number);
        env.add_test("integer", t::is_integer);
        env.add_test("float", t::is_float);
        env.add_test("string", t::is_string);
        env.add_test("sequence", t::is_sequence);
        env.add_test("mapping", t::is_mapping);
        env.add_test("true", t::is_true);
        env.add_test("false", t::is_false);
        env.add_test("eq", t::is_eq);
        env.add_test("ne", t::is_ne);
        env.add_test("startingwith", t::is_startingwith);
        env.add_test("endingwith", t::is_endingwith);
        env.add_test("odd", t::is_odd);
        env.add_test("even", t::is_even);
        env
    })
}

/// What a template uses that [`env`] leaves out, in words: a statement
/// other than `if`/`elif`/`else`/`endif` (loops and assignments), the
/// `*`/`**` operators (repetition), more than [`MAX_JOINS`] `~`/`+`, or
/// more than [`MAX_TEMPLATE_CHARS`]. Quoted text inside a tag may hold anything.
fn forbidden(s: &str) -> Option<String> {
    if s.chars().count() > MAX_TEMPLATE_CHARS {
        return Some(format!("a template may be at most {MAX_TEMPLATE_CHARS} characters"));
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut joins = 0;
    while let Some(open) = s[i..].find('{').map(|k| i + k) {
        let close = match b.get(open + 1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => {
                // A comment ends at the first `#}`, whatever is inside.
                match s[open + 2..].find("#}") {
                    Some(k) => {
                        i = open + 2 + k + 2;
                        continue;
                    }
                    None => return None, // unterminated: the syntax check says so
                }
            }
            _ => {
                i = open + 1;
                continue;
            }
        };
        // The tag ends at its closing marker outside quotes and brackets,
        // as minijinja's lexer reads it (`{{ {'a': {}} }}` is one tag).
        let (start, mut j, mut quote, mut depth) = (open + 2, open + 2, None, 0usize);
        while j < b.len() {
            let c = b[j];
            match quote {
                Some(_) if c == b'\\' => j += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == b'\'' || c == b'"' => quote = Some(c),
                None if c == b'*' => {
                    return Some("`*` and `**` are not allowed in a template (they repeat text and lists)".into())
                }
                // (Bytes, not `str`: `j` may sit inside a multi-byte character.)
                None if depth == 0 && b[j..].starts_with(close.as_bytes()) => break,
                // A `+` right inside `{%`/`%}` controls whitespace (`{%+ if x +%}`).
                None if c == b'+' && (j == start || b[j + 1..].starts_with(close.as_bytes())) => {}
                None if c == b'~' || c == b'+' => joins += 1,
                None if matches!(c, b'(' | b'[' | b'{') => depth += 1,
                None if matches!(c, b')' | b']' | b'}') => depth = depth.saturating_sub(1),
                None => {}
            }
            j += 1;
        }
        if close == "%}" {
            let body = s[start..j.min(s.len())].trim_start_matches(['-', '+']).trim_start();
            let word: String = body.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !matches!(word.as_str(), "if" | "elif" | "else" | "endif") {
                return Some(format!(
                    "`{{% {word} %}}` is not allowed: a template may use `if`, `elif`, `else` and `endif`"
                ));
            }
        }
        i = (j + 2).min(s.len());
    }
    (joins > MAX_JOINS).then(|| format!("a template may join (`~`, `+`) at most {MAX_JOINS} times"))
}

/// A buffer that refuses to grow past [`MAX_RENDERED_BYTES`], so a value
/// is never written out whole before its size is known.
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDERED_BYTES {
            return Err(std::io::Error::other("over the cap"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn over_cap() -> String {
    format!("the text rendered is over {} KiB", MAX_RENDERED_BYTES / 1024)
}

/// A value as compact JSON, at most [`MAX_RENDERED_BYTES`].
fn to_json_capped(v: &impl serde::Serialize) -> Result<Vec<u8>, String> {
    let mut out = Capped(Vec::new());
    match serde_json::to_writer(&mut out, v) {
        Ok(()) => Ok(out.0),
        Err(e) if e.is_io() => Err(over_cap()),
        Err(e) => Err(format!("the value cannot be JSON: {e}")),
    }
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

/// The literal start of a URL template, `scheme://authority/` (or up to
/// its `?`), when the template fills nothing before the URL's path: what
/// fixes where the URL goes. `None` when a template could change the
/// scheme or the host.
pub fn fixed_origin(url: &str) -> Option<&str> {
    let first = ["{{", "{%", "{#"].iter().filter_map(|m| url.find(m)).min().unwrap_or(url.len());
    let literal = &url[..first];
    let authority = literal.find("://")? + 3;
    let end = authority + literal[authority..].find(['/', '?'])?;
    (end > authority).then(|| &url[..=end])
}

/// Checks a template's syntax and the variables it names: only the
/// [`ROOTS`], and `steps.<key>` only for `earlier` step keys. Returns the
/// problem in words.
pub fn check(s: &str, earlier: &[String]) -> Result<(), String> {
    if !is_template(s) {
        return Ok(());
    }
    if let Some(why) = forbidden(s) {
        return Err(why);
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
    // Checked when the action was saved, and again here for actions saved
    // before these rules.
    if let Some(why) = forbidden(s) {
        return Err(why);
    }
    let ctx = Value::from(minijinja::value::Serde(ctx));
    if typed {
        if let Some(expr) = sole_expression(s) {
            let v = env().compile_expression(expr).map_err(describe)?.eval(ctx).map_err(describe)?;
            if v.is_undefined() {
                return Err(format!("undefined value: `{expr}` is not there"));
            }
            let json = to_json_capped(&v)?;
            return serde_json::from_slice(&json).map_err(|e| format!("the value cannot be JSON: {e}"));
        }
    }
    let mut out = Capped(Vec::new());
    let rendered = env().template_from_str(s).and_then(|t| t.render_captured_to(ctx, &mut out).map(drop));
    match rendered {
        Ok(_) => String::from_utf8(out.0).map(serde_json::Value::String).map_err(|e| e.to_string()),
        Err(e) if e.kind() == minijinja::ErrorKind::WriteFailure => Err(over_cap()),
        Err(e) => Err(describe(e)),
    }
}

/// Renders one string to text.
pub fn render_text(s: &str, ctx: &serde_json::Value) -> Result<String, String> {
    match render(s, ctx, false)? {
        serde_json::Value::String(t) => Ok(t),
        other => Ok(other.to_string()),
    }
}

/// Renders every string of a JSON value (keys stay as written), at most
/// [`MAX_RENDERED_BODY_BYTES`] of rendered text in all.
pub fn render_json(v: &serde_json::Value, ctx: &serde_json::Value) -> Result<serde_json::Value, String> {
    let mut left = MAX_RENDERED_BODY_BYTES;
    render_json_within(v, ctx, &mut left)
}

fn render_json_within(
    v: &serde_json::Value,
    ctx: &serde_json::Value,
    left: &mut usize,
) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::String(s) => {
            let out = render(s, ctx, true)?;
            let size = match &out {
                J::String(t) => t.len(),
                other => other.to_string().len(),
            };
            *left = left
                .checked_sub(size)
                .ok_or_else(|| format!("the body rendered is over {} KiB", MAX_RENDERED_BODY_BYTES / 1024))?;
            out
        }
        J::Array(items) => J::Array(items.iter().map(|i| render_json_within(i, ctx, left)).collect::<Result<_, _>>()?),
        J::Object(map) => J::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json_within(v, ctx, left)?)))
                .collect::<Result<_, String>>()?,
        ),
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
    fn a_url_template_fixes_its_scheme_and_host_only_when_they_come_before_any_template() {
        assert_eq!(fixed_origin("https://h.example/orders/{{ event.data.id }}"), Some("https://h.example/"));
        assert_eq!(fixed_origin("https://h.example:8443/a/b?x={{ input.x }}"), Some("https://h.example:8443/"));
        assert_eq!(fixed_origin("https://h.example?x={{ input.x }}"), Some("https://h.example?"));
        assert_eq!(fixed_origin("https://h.example/plain"), Some("https://h.example/"));
        for open in [
            "{{ input.url }}",
            "https://{{ input.host }}/x",
            "https://h.example{{ input.rest }}",
            "https://user@{{ input.host }}/x",
            "https:/{{ input.x }}",
            "https:///{{ input.x }}",
            "{% if true %}https://h.example/{% endif %}",
        ] {
            assert_eq!(fixed_origin(open), None, "{open}");
        }
    }

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
    fn templates_that_could_build_values_without_bound_are_refused_and_the_rest_render() {
        let ctx = json!({"input": {"a": "x", "n": 3, "tags": ["b", "a"]}});
        for bad in [
            "{{ 'x' * 100000000 }}",
            "{{ input.a ** 2 }}",
            "{% for i in input.tags %}{{ i }}{% endfor %}",
            "{% set ns = namespace(s='') %}",
            "{%- macro m() %}{% endmacro %}",
        ] {
            assert!(check(bad, &[]).is_err(), "{bad}");
            assert!(render(bad, &ctx, false).is_err(), "{bad}");
        }
        // What the scanner must see through: a comment, brackets holding `}}`.
        for bad in [
            "{##}{{ ['x'] * 100000000 }}",
            "{# a #}{% for i in input.tags %}{% endfor %}",
            "{{ {'a':{}} and (['x'*0]*100000000) }}",
            "{{ \"}}\" ~ input.a }}{{ 'x' * 5 }}",
        ] {
            assert!(check(bad, &[]).is_err(), "{bad}");
        }
        for bad in ["{{ range(10) }}", "{{ input.a | center(1000000000) }}", "{{ input.tags | join(',') }}"] {
            assert!(render(bad, &ctx, false).is_err(), "{bad}");
        }
        let chain = format!("{{{{ input.a{} }}}}", " ~ input.a".repeat(MAX_JOINS + 1));
        assert!(check(&chain, &[]).unwrap_err().contains("at most 16 times"));
        // Unclosed tags and quotes are the syntax check's to report, not a panic.
        for odd in ["{{ \"\\", "{{ '+", "{{ +", "{% +", "{{", "{{ 'a' ~", "{{ é", "{{ input.a ~ é }}"] {
            assert!(check(odd, &[]).is_err(), "{odd}");
        }
        assert_eq!(render("{{ input.a ~ 'é' }}é", &ctx, false).unwrap(), json!("xéé"));
        let markers =
            format!("{}{{%+ if input.a +%}}x{{%+ endif +%}}", "{{ input.a ~ input.a }}".repeat(MAX_JOINS - 1));
        assert!(check(&markers, &[]).is_ok(), "whitespace markers are not joins");
        let chain = format!("{{{{ input.a{} }}}}", " ~ input.a".repeat(MAX_JOINS));
        assert_eq!(render(&chain, &ctx, false).unwrap(), json!("x".repeat(MAX_JOINS + 1)));
        let long = format!("{{{{ input.a }}}}{}", "y".repeat(MAX_TEMPLATE_CHARS));
        assert!(check(&long, &[]).unwrap_err().contains("at most"));
        // What stays: text, `~` and `+`, `if`, filters that do not grow, a `*` or `{%` in quotes or in plain text.
        let ok = "{% if input.n > 2 %}{{ input.a ~ '*' ~ (input.n + 1) }} {{ input.tags | sort | tojson }}{% else %}no{% endif %}";
        assert!(check(ok, &[]).is_ok());
        assert_eq!(render(ok, &ctx, false).unwrap(), json!(r#"x*4 ["a","b"]"#));
        assert_eq!(render("5 * 3 = {{ '{%' }}", &ctx, false).unwrap(), json!("5 * 3 = {%"));
        assert_eq!(render("{{ input.missing | default('none') | upper }}", &ctx, false).unwrap(), json!("NONE"));
        assert_eq!(render("{{ input.n is number }}", &ctx, false).unwrap(), json!("True"));
    }

    #[test]
    fn a_body_may_render_to_at_most_a_mebibyte_in_all() {
        let ctx = json!({"input": {"big": "z".repeat(200 * 1024)}});
        let body = json!({"a": ["{{ input.big }}", "{{ input.big }}", "{{ input.big }}", "{{ input.big }}"]});
        assert!(render_json(&body, &ctx).is_ok());
        let body = json!({"a": vec!["{{ input.big }}"; 6]});
        assert!(render_json(&body, &ctx).unwrap_err().contains("over 1024 KiB"));
        assert!(render("{{ input.big ~ input.big }}", &ctx, false).unwrap_err().contains("over 256 KiB"));
        // A list of many copies is cut off while it is written out, typed or as text.
        let copies = format!("{{{{ [{}] }}}}", vec!["input.big"; 20].join(", "));
        assert!(render(&copies, &ctx, true).unwrap_err().contains("over 256 KiB"));
        assert!(render(&copies, &ctx, false).unwrap_err().contains("over 256 KiB"));
        let json = format!("{{{{ [{}] | tojson }}}}", vec!["input.big"; 20].join(", "));
        assert!(render(&json, &ctx, false).is_err());
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        // Without loops, a long chain of filters is what is left to run long.
        let chain = format!("{{{{ input.a{} }}}}", " | lower | upper".repeat(120));
        assert!(render(&chain, &json!({"input": {"a": "x"}}), false).is_ok(), "a long but bounded chain runs");
        let e = render(
            &format!("{{{{ input.t{} }}}}", " | sort | reverse".repeat(200)),
            &json!({"input": {"t": (0..300).collect::<Vec<_>>()}}),
            false,
        );
        assert!(e.unwrap_err().contains("fuel"), "out of fuel");
    }
}
