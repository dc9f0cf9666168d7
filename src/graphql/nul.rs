//! No string of a GraphQL request may hold the NUL character (`\u0000`),
//! in an argument written into the query or in a variable: PostgreSQL
//! cannot store it in a `text` column, so there it would fail the write with
//! an internal error, and SQLite would store what the other backend cannot.
//! The data API refuses it the same way (see `rest::data`). Checked once per
//! request on the parsed document, before validation, so a refused request
//! changes nothing.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::parser::Positioned;
use async_graphql::{Name, ServerError, Value, Variables};
use async_graphql_value::Value as Written;

/// The top-level error of a request holding a NUL character, or `None`.
pub fn check(doc: &ExecutableDocument, variables: &Variables) -> Option<ServerError> {
    let in_variables = variables.iter().any(|(name, v)| name.contains('\0') || has_nul(v));
    let in_query = doc.operations.iter().any(|(_, op)| {
        op.node.variable_definitions.iter().any(|d| d.node.default_value.as_ref().is_some_and(|v| has_nul(&v.node)))
            || selection_has_nul(&op.node.selection_set.node)
    }) || doc.fragments.values().any(|f| selection_has_nul(&f.node.selection_set.node));
    if !(in_variables || in_query) {
        return None;
    }
    let mut err = ServerError::new("Strings must not contain the NUL character (\\u0000)", None);
    err.extensions.get_or_insert_with(Default::default).set("code", "INVALID_REQUEST");
    Some(err)
}

fn selection_has_nul(set: &SelectionSet) -> bool {
    let arguments =
        |args: &[(Positioned<Name>, Positioned<Written>)]| args.iter().any(|(_, v)| written_has_nul(&v.node));
    set.items.iter().any(|item| match &item.node {
        Selection::Field(f) => {
            arguments(&f.node.arguments)
                || f.node.directives.iter().any(|d| arguments(&d.node.arguments))
                || selection_has_nul(&f.node.selection_set.node)
        }
        Selection::InlineFragment(f) => selection_has_nul(&f.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

/// An argument as written; its variables are checked apart.
fn written_has_nul(v: &Written) -> bool {
    match v {
        Written::String(s) => s.contains('\0'),
        Written::List(items) => items.iter().any(written_has_nul),
        Written::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || written_has_nul(v)),
        _ => false,
    }
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(query: &str, variables: serde_json::Value) -> bool {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        check(&doc, &Variables::from_json(variables)).is_some()
    }

    #[test]
    fn a_nul_anywhere_in_an_argument_or_a_variable_is_refused() {
        let none = serde_json::json!({});
        assert!(!refused(r#"mutation { a(input: { name: "x", tags: ["y"] }) { id } }"#, none.clone()));
        assert!(refused(r#"mutation { a(input: { name: "x\u0000" }) { id } }"#, none.clone()));
        assert!(refused(r#"mutation { a(input: { tags: ["ok", "b\u0000"] }) { id } }"#, none.clone()));
        assert!(refused(r#"query { a { b(x: "\u0000") } }"#, none.clone()));
        assert!(refused(r#"query { ...F } fragment F on Query { a(x: "\u0000") }"#, none.clone()));
        assert!(refused(r#"query { a @include(if: true) { ... on A { b(x: "\u0000") } } }"#, none.clone()));
        assert!(refused(r#"mutation($n: String! = "a\u0000") { a(name: $n) { id } }"#, none));
        let q = "mutation($i: In!) { a(input: $i) { id } }";
        assert!(!refused(q, serde_json::json!({ "i": { "name": "fine", "n": 3 } })));
        assert!(refused(q, serde_json::json!({ "i": { "description": "a\u{0}b" } })));
        assert!(refused(q, serde_json::json!({ "i": { "list": [{ "k\u{0}": 1 }] } })));
    }
}
