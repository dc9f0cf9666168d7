//! The GraphQL API conventions (STYLE.md), checked on the schema itself:
//! closed sets are enums, single-object lookups are nullable; and a bad
//! enum value is rejected at validation on every filter alike.

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use serde_json::json;

use crate::helpers::{for_each_backend, TestApp};

/// Field names that always hold a closed set.
const CLOSED_SET_NAMES: &[&str] = &["status", "state", "storage"];

/// A field's name, type and arguments (name, type).
type FieldShape<'a> = (&'a str, &'a Type, Vec<(&'a str, &'a Type)>);

/// The name of a type without its list and non-null wrappers.
fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

/// Every breach of the checked conventions, as `Type.field: why`.
fn offenders(sdl: &str) -> Vec<String> {
    let doc = parse_schema(sdl).expect("the SDL parses");
    let mut out = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else { continue };
        let t = &t.node;
        let type_name = t.name.node.as_str();
        let fields: Vec<FieldShape> = match &t.kind {
            TypeKind::Object(o) => o
                .fields
                .iter()
                .map(|f| {
                    let args = f.node.arguments.iter().map(|a| (a.node.name.node.as_str(), &a.node.ty.node)).collect();
                    (f.node.name.node.as_str(), &f.node.ty.node, args)
                })
                .collect(),
            TypeKind::Interface(i) => {
                i.fields.iter().map(|f| (f.node.name.node.as_str(), &f.node.ty.node, vec![])).collect()
            }
            TypeKind::InputObject(i) => {
                i.fields.iter().map(|f| (f.node.name.node.as_str(), &f.node.ty.node, vec![])).collect()
            }
            _ => continue,
        };
        for (name, ty, args) in fields {
            if CLOSED_SET_NAMES.contains(&name) && base_name(ty) == "String" {
                out.push(format!("{type_name}.{name}: a closed set typed String (use an enum)"));
            }
            let lookup = matches!(args.as_slice(), [("id", a)] if !a.nullable && base_name(a) == "ID");
            if type_name == "QueryRoot" && lookup && !ty.nullable {
                out.push(format!("{type_name}.{name}: a single-object lookup must be nullable"));
            }
        }
    }
    out
}

#[test]
fn the_schema_follows_the_api_conventions() {
    let found = offenders(&switchyard::graphql::sdl());
    assert!(found.is_empty(), "GraphQL convention breaches:\n  {}", found.join("\n  "));
}

#[test]
fn the_convention_check_catches_what_it_should() {
    let sdl = "type QueryRoot { thing(id: ID!): Thing! other(id: ID!): Thing list(first: Int): [Thing!]! }
               type Thing { id: ID! status: String! state: Status }
               input ThingFilter { storage: String }
               enum Status { ON OFF }";
    let mut found = offenders(sdl);
    found.sort();
    assert_eq!(
        found,
        [
            "QueryRoot.thing: a single-object lookup must be nullable",
            "Thing.status: a closed set typed String (use an enum)",
            "ThingFilter.storage: a closed set typed String (use an enum)",
        ]
    );
}

#[tokio::test]
async fn a_bad_status_is_a_validation_error_on_every_filter() {
    for_each_backend(&[], |app: TestApp| async move {
        let queries = [
            "{ deliveries(filter: { status: WEIRD }) { totalCount } }",
            "{ records(filter: { status: WEIRD }) { totalCount } }",
            "{ deliveries(filter: { status: \"failed\" }) { totalCount } }",
            "{ records(filter: { status: \"processed\" }) { totalCount } }",
        ];
        for q in queries {
            let (status, _, body) = app.gql_raw(Some(&app.owner_key), q, json!({})).await;
            assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_REQUEST", "[{}] {q}: {body}", app.backend);
            assert!(body["data"].is_null(), "[{}] rejected before execution: {q}: {body}", app.backend);
            assert_eq!(status, 200, "[{}] {q}: {body}", app.backend);
        }
        // The same through variables, and the good values work.
        for (q, bad) in [
            ("query($s: DeliveryStatus) { deliveries(filter: { status: $s }) { totalCount } }", "weird"),
            ("query($s: RecordStatus) { records(filter: { status: $s }) { totalCount } }", "weird"),
        ] {
            app.gql_err(Some(&app.owner_key), q, json!({ "s": bad }), "INVALID_REQUEST").await;
        }
        app.gql(&app.owner_key, "{ deliveries(filter: { status: FAILED }) { totalCount } records(filter: { status: PROCESSED }) { totalCount } }", json!({})).await;
        let info = app.gql(&app.owner_key, "{ serverInfo { storage } }", json!({})).await;
        assert!(["SQLITE", "POSTGRES"].contains(&info["serverInfo"]["storage"].as_str().unwrap()), "{info}");
    })
    .await;
}

/// A description on every type (scalars included), field, argument, input
/// field and enum value. Every breach, as `Type.field: why`.
fn style_offenders(sdl: &str) -> Vec<String> {
    let doc = parse_schema(sdl).expect("the SDL parses");
    let mut out = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else { continue };
        let t = &t.node;
        let type_name = t.name.node.as_str();
        if t.description.is_none() {
            out.push(format!("{type_name}: no description"));
        }
        let fields: Vec<_> = match &t.kind {
            TypeKind::Object(o) => o.fields.iter().map(|f| &f.node).collect(),
            TypeKind::Interface(i) => i.fields.iter().map(|f| &f.node).collect(),
            _ => vec![],
        };
        for f in fields {
            let name = f.name.node.as_str();
            if f.description.is_none() {
                out.push(format!("{type_name}.{name}: no description"));
            }
            for a in &f.arguments {
                if a.node.description.is_none() {
                    out.push(format!("{type_name}.{name}({}): no description", a.node.name.node));
                }
            }
        }
        if let TypeKind::InputObject(i) = &t.kind {
            for f in &i.fields {
                if f.node.description.is_none() {
                    out.push(format!("{type_name}.{}: no description", f.node.name.node));
                }
            }
        }
        if let TypeKind::Enum(e) = &t.kind {
            for v in &e.values {
                if v.node.description.is_none() {
                    out.push(format!("{type_name}.{}: no description", v.node.value.node));
                }
            }
        }
    }
    out.sort();
    out
}

/// Breaches tolerated for now, one a line: empty, so any field, argument,
/// type or enum value added without a description fails the test. Fixing
/// one means deleting its line; `SWITCHYARD_BLESS=1 cargo test conventions`
/// rewrites the file.
const STYLE_BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/conventions_baseline.txt");

#[test]
fn descriptions_only_get_better() {
    let found = style_offenders(&switchyard::graphql::sdl());
    if std::env::var_os("SWITCHYARD_BLESS").is_some() {
        std::fs::write(STYLE_BASELINE, found.join("\n") + "\n").expect("baseline written");
    }
    let baseline = std::fs::read_to_string(STYLE_BASELINE).unwrap_or_default();
    let known: Vec<&str> = baseline.lines().filter(|l| !l.trim().is_empty()).collect();
    let new: Vec<&String> = found.iter().filter(|f| !known.contains(&f.as_str())).collect();
    let fixed: Vec<&&str> = known.iter().filter(|k| !found.iter().any(|f| f == *k)).collect();
    println!("{} known breaches of the description convention:\n  {}", found.len(), found.join("\n  "));
    assert!(new.is_empty(), "new convention breaches (describe them):\n  {new:#?}");
    assert!(fixed.is_empty(), "fixed breaches still in {STYLE_BASELINE}: delete these lines:\n  {fixed:#?}");
}

#[test]
fn the_style_check_catches_what_it_should() {
    let sdl = r#"
        "The root." type MutationRoot {
            "Good." createThing("In." input: CreateThingInput!): CreateThingPayload!
            "Bare." deleteThing(id: ID!): Boolean!
            undescribed(input: UndescribedInput!): UndescribedPayload!
        }
        type Thing { "Id." id: ID! }
        "In." input CreateThingInput { name: String }
        "Kinds." enum Kind { "One." ONE TWO }
        scalar Moment
        "Described." scalar Json
    "#;
    assert_eq!(
        style_offenders(sdl),
        [
            "CreateThingInput.name: no description",
            "Kind.TWO: no description",
            "Moment: no description",
            "MutationRoot.deleteThing(id): no description",
            "MutationRoot.undescribed(input): no description",
            "MutationRoot.undescribed: no description",
            "Thing: no description",
        ]
    );
}

/// Every mutation that breaks the one mutation shape:
/// `verbNoun(input: VerbNounInput!): VerbNounPayload!`, the payload an
/// object with `userErrors: [UserError!]!`. As `MutationRoot.field: why`.
fn mutation_offenders(sdl: &str) -> Vec<String> {
    let doc = parse_schema(sdl).expect("the SDL parses");
    let types: std::collections::HashMap<&str, &TypeKind> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t) => Some((t.node.name.node.as_str(), &t.node.kind)),
            _ => None,
        })
        .collect();
    // The mutation root is whatever `schema { mutation: … }` names (else `Mutation`/`MutationRoot`).
    let root = doc
        .definitions
        .iter()
        .find_map(|d| match d {
            TypeSystemDefinition::Schema(s) => s.node.mutation.as_ref().map(|m| m.node.as_str()),
            _ => None,
        })
        .or_else(|| ["MutationRoot", "Mutation"].into_iter().find(|n| types.contains_key(n)));
    let Some(root) = root else { return vec![] };
    let Some(TypeKind::Object(o)) = types.get(root) else { return vec![format!("{root}: not an object type")] };
    let mut out = Vec::new();
    for f in &o.fields {
        let f = &f.node;
        let name = f.name.node.as_str();
        let verb_noun = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
        let (input, payload) = (format!("{verb_noun}Input"), format!("{verb_noun}Payload"));
        let input_ok = matches!(f.arguments.as_slice(), [a] if a.node.name.node == "input"
            && !a.node.ty.node.nullable && matches!(&a.node.ty.node.base, BaseType::Named(n) if *n == input)
            && matches!(types.get(input.as_str()), Some(TypeKind::InputObject(_))));
        if !input_ok {
            out.push(format!("{root}.{name}: its one argument must be `input: {input}!`"));
        }
        let payload_ok = !f.ty.node.nullable && matches!(&f.ty.node.base, BaseType::Named(n) if *n == payload);
        if !payload_ok {
            out.push(format!("{root}.{name}: must return `{payload}!`"));
            continue;
        }
        let Some(TypeKind::Object(p)) = types.get(payload.as_str()) else {
            out.push(format!("{root}.{name}: `{payload}` must be an object type"));
            continue;
        };
        let user_errors_ok = p.fields.iter().any(|pf| {
            let ty = &pf.node.ty.node;
            pf.node.name.node == "userErrors"
                && !ty.nullable
                && matches!(&ty.base, BaseType::List(inner) if !inner.nullable
                    && matches!(&inner.base, BaseType::Named(n) if n == "UserError"))
        });
        if !user_errors_ok {
            out.push(format!("{root}.{name}: `{payload}` needs `userErrors: [UserError!]!`"));
        }
    }
    out.sort();
    out
}

#[test]
fn every_mutation_takes_an_input_and_returns_a_payload_with_user_errors() {
    let found = mutation_offenders(&switchyard::graphql::sdl());
    assert!(found.is_empty(), "mutations not in the one shape:\n  {}", found.join("\n  "));
}

#[test]
fn the_mutation_shape_check_catches_what_it_should() {
    let sdl = r#"
        schema { query: Q mutation: M }
        type Q { a: Int }
        type M {
            createThing(input: CreateThingInput!): CreateThingPayload!
            deleteThing(id: ID!): DeleteThingPayload!
            twoArgs(input: TwoArgsInput!, extra: Int): TwoArgsPayload!
            optionalInput(input: OptionalInputInput): OptionalInputPayload!
            wrongInput(input: CreateThingInput!): WrongInputPayload!
            nullablePayload(input: NullablePayloadInput!): NullablePayloadPayload
            plainReturn(input: PlainReturnInput!): Boolean!
            noErrors(input: NoErrorsInput!): NoErrorsPayload!
            nullableErrors(input: NullableErrorsInput!): NullableErrorsPayload!
            nullableItems(input: NullableItemsInput!): NullableItemsPayload!
            stringErrors(input: StringErrorsInput!): StringErrorsPayload!
        }
        input CreateThingInput { name: String }
        input TwoArgsInput { a: Int } input OptionalInputInput { a: Int } input NullablePayloadInput { a: Int }
        input PlainReturnInput { a: Int } input NoErrorsInput { a: Int } input NullableErrorsInput { a: Int }
        input NullableItemsInput { a: Int } input StringErrorsInput { a: Int }
        type UserError { message: String! }
        type CreateThingPayload { thing: Int userErrors: [UserError!]! }
        type DeleteThingPayload { deletedId: ID userErrors: [UserError!]! }
        type TwoArgsPayload { userErrors: [UserError!]! }
        type OptionalInputPayload { userErrors: [UserError!]! }
        type WrongInputPayload { userErrors: [UserError!]! }
        type NullablePayloadPayload { userErrors: [UserError!]! }
        type NoErrorsPayload { thing: Int }
        type NullableErrorsPayload { userErrors: [UserError!] }
        type NullableItemsPayload { userErrors: [UserError]! }
        type StringErrorsPayload { userErrors: [String!]! }
    "#;
    assert_eq!(
        mutation_offenders(sdl),
        [
            "M.deleteThing: its one argument must be `input: DeleteThingInput!`",
            "M.noErrors: `NoErrorsPayload` needs `userErrors: [UserError!]!`",
            "M.nullableErrors: `NullableErrorsPayload` needs `userErrors: [UserError!]!`",
            "M.nullableItems: `NullableItemsPayload` needs `userErrors: [UserError!]!`",
            "M.nullablePayload: must return `NullablePayloadPayload!`",
            "M.optionalInput: its one argument must be `input: OptionalInputInput!`",
            "M.plainReturn: must return `PlainReturnPayload!`",
            "M.stringErrors: `StringErrorsPayload` needs `userErrors: [UserError!]!`",
            "M.twoArgs: its one argument must be `input: TwoArgsInput!`",
            "M.wrongInput: its one argument must be `input: WrongInputInput!`",
        ]
    );
}

#[tokio::test]
async fn input_problems_are_typed_user_errors_and_null_follows_one_rule() {
    for_each_backend(&[], |app: TestApp| async move {
        let b = app.backend.clone();
        let key = app.owner_key.clone();
        let hook = "http://127.0.0.1:9/hook";
        let created = app
            .mutate(&key, "createWebhook", json!({ "url": hook, "eventTypes": ["user.*"], "rateLimitPerMinute": 5 }), "webhook { id }")
            .await;
        let id = created["webhook"]["id"].as_str().unwrap().to_string();
        let fields = "url description enabled rateLimitPerMinute timeoutSeconds retryPolicy { kind delaysSeconds }";
        let read = |id: String| {
            let app = app.clone();
            async move {
                let q = format!("query($id: ID!) {{ webhook(id: $id) {{ {fields} }} }}");
                app.gql(&app.owner_key, &q, json!({ "id": id })).await["webhook"].clone()
            }
        };
        let before = read(id.clone()).await;
        assert_eq!(before["retryPolicy"]["kind"], "DEFAULT", "[{b}] {before}");
        let events_before = app.gql(&key, "{ events { totalCount } }", json!({})).await;

        // Precise codes.
        let unknown = app.user_error(&key, "createWebhook", json!({ "url": hook, "eventTypes": ["nope.created"] })).await;
        assert_eq!(unknown, ("input.eventTypes".into(), "UNKNOWN_EVENT_TYPE".into()), "[{b}]");
        let many: serde_json::Map<String, serde_json::Value> = (0..21).map(|i| (format!("X-H{i}"), json!("v"))).collect();
        let limit = app.user_error(&key, "createWebhook", json!({ "url": hook, "eventTypes": ["user.*"], "headers": many })).await;
        assert_eq!(limit, ("input.headers".into(), "LIMIT_EXCEEDED".into()), "[{b}]");
        app.mutate(&key, "createDataEndpoint", json!({ "slug": "dup", "name": "Dup" }), "").await;
        let taken = app.user_error(&key, "createDataEndpoint", json!({ "slug": "dup", "name": "Dup 2" })).await;
        assert_eq!(taken, ("input.slug".into(), "TAKEN".into()), "[{b}]");

        // `null` on a field that cannot be empty: INVALID, and nothing changes.
        for field in ["url", "description", "enabled", "eventTypes", "headers", "retryPolicy", "timeoutSeconds"] {
            let got = app.user_error(&key, "updateWebhook", json!({ "id": id, field: null, "rateLimitPerMinute": null })).await;
            assert_eq!(got, (format!("input.{field}"), "INVALID".into()), "[{b}] {field}");
        }
        assert_eq!(read(id.clone()).await, before, "[{b}] a refused update changed the webhook");
        // Refused mutations record nothing (creating a data endpoint records no event).
        let events_after = app.gql(&key, "{ events { totalCount } }", json!({})).await;
        assert_eq!(events_after, events_before, "[{b}] a refused mutation recorded an event");

        // Left out: unchanged. `null` on a clearable field: cleared.
        let cleared = app
            .mutate(
                &key,
                "updateWebhook",
                json!({ "id": id, "rateLimitPerMinute": null, "timeoutSeconds": 5,
                        "retryPolicy": { "kind": "CUSTOM", "delaysSeconds": [2, 4] } }),
                &format!("webhook {{ {fields} }}"),
            )
            .await;
        assert_eq!(
            cleared["webhook"],
            json!({ "url": before["url"], "description": "", "enabled": true, "rateLimitPerMinute": null, "timeoutSeconds": 5,
                    "retryPolicy": { "kind": "CUSTOM", "delaysSeconds": [2, 4] } }),
            "[{b}]"
        );
        // An enum value and an input type error stay validation errors.
        let bad = "mutation { updateWebhook(input: { id: \"x\", retryPolicy: { kind: SOMETIMES } }) { userErrors { code } } }";
        app.gql_err(Some(&key), bad, json!({}), "INVALID_REQUEST").await;
    })
    .await;
}
