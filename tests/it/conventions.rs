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

/// The rest of the conventions, not met everywhere yet: a description on
/// every type, field and argument, and `verbNoun(input: VerbNounInput!):
/// VerbNounPayload!` for every mutation. Every breach, as `Type.field: why`.
fn style_offenders(sdl: &str) -> Vec<String> {
    let doc = parse_schema(sdl).expect("the SDL parses");
    let mut out = Vec::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(t) = def else { continue };
        let t = &t.node;
        let type_name = t.name.node.as_str();
        if matches!(t.kind, TypeKind::Scalar) {
            continue;
        }
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
            if type_name == "MutationRoot" {
                let verb_noun = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
                let input_ok = matches!(f.arguments.as_slice(), [a] if a.node.name.node == "input"
                    && !a.node.ty.node.nullable && base_name(&a.node.ty.node) == format!("{verb_noun}Input"));
                let payload_ok = !f.ty.node.nullable && base_name(&f.ty.node) == format!("{verb_noun}Payload");
                if !input_ok || !payload_ok {
                    out.push(format!(
                        "{type_name}.{name}: not `{name}(input: {verb_noun}Input!): {verb_noun}Payload!`"
                    ));
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
    }
    out.sort();
    out
}

/// The breaches known when the check was added; fixing one means deleting
/// its line. `SWITCHYARD_BLESS=1 cargo test conventions` rewrites the file.
const STYLE_BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/conventions_baseline.txt");

#[test]
fn descriptions_and_mutation_shapes_only_get_better() {
    let found = style_offenders(&switchyard::graphql::sdl());
    if std::env::var_os("SWITCHYARD_BLESS").is_some() {
        std::fs::write(STYLE_BASELINE, found.join("\n") + "\n").expect("baseline written");
    }
    let baseline = std::fs::read_to_string(STYLE_BASELINE).unwrap_or_default();
    let known: Vec<&str> = baseline.lines().filter(|l| !l.trim().is_empty()).collect();
    let new: Vec<&String> = found.iter().filter(|f| !known.contains(&f.as_str())).collect();
    let fixed: Vec<&&str> = known.iter().filter(|k| !found.iter().any(|f| f == *k)).collect();
    println!(
        "{} known breaches of the description and mutation-shape conventions:\n  {}",
        found.len(),
        found.join("\n  ")
    );
    assert!(new.is_empty(), "new convention breaches (describe them / use the input+payload shape):\n  {new:#?}");
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
    "#;
    assert_eq!(
        style_offenders(sdl),
        [
            "CreateThingInput.name: no description",
            "MutationRoot.deleteThing(id): no description",
            "MutationRoot.deleteThing: not `deleteThing(input: DeleteThingInput!): DeleteThingPayload!`",
            "MutationRoot.undescribed(input): no description",
            "MutationRoot.undescribed: no description",
            "Thing: no description",
        ]
    );
}
