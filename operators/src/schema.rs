//! The JSON Schema of the spec format (`spanflow schema`), derived from the spec types with
//! `schemars`: their doc comments become descriptions, `deny_unknown_fields` becomes
//! `additionalProperties: false`.
//!
//! Two things serde knows that schemars does not derive are added here: aliases (an alias is
//! accepted wherever its name is, see [`Aliases`]), and the node's `op:` choosing the schema of
//! its `with:` (a `oneOf` with one branch per operator, built from [`AnyOperator`]'s variants,
//! so an editor completes and checks the parameters of the operator written).

use crate::spec::{operator_group, DagSpec, NodeSpec};
use crate::AnyOperator;
use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// Draft-07: the draft the YAML language server (VS Code's YAML extension, and editors using
/// the same server) supports best.
pub fn spec_schema() -> Schema {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<DagSpec>();
    schema.insert("title".into(), "spanflow DAG spec".into());
    schema
}

/// [`spec_schema`] as the text `spanflow schema` prints (and `docs/spec.schema.json` holds).
pub fn spec_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&spec_schema())
        .expect("a schema built from JSON values serializes");
    text.push('\n');
    text
}

/// Adds serde aliases to a derived schema: `(alias, name)` pairs, for the fields of a struct
/// (the alias gets the field's schema) or the values of a unit enum. Listed beside each
/// `#[serde(alias)]` (a `#[schemars(transform)]`); the tests check that the schema accepts
/// every name serde does.
pub fn add_aliases(schema: &mut Schema, aliases: &[(&str, &str)]) {
    for &(alias, name) in aliases {
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            let Some(mut field) = properties.get(name).cloned() else {
                panic!("alias `{alias}` names no field `{name}`");
            };
            if let Some(field) = field.as_object_mut() {
                field.insert("description".into(), format!("Alias of `{name}`.").into());
            }
            properties.insert(alias.into(), field);
            // A required field may be given by its alias instead.
            let required = schema.get_mut("required").and_then(Value::as_array_mut);
            if let Some(required) = required.filter(|r| r.contains(&json!(name))) {
                required.retain(|r| r != name);
                let either = json!({ "anyOf": [{ "required": [name] }, { "required": [alias] }] });
                match schema.get_mut("allOf").and_then(Value::as_array_mut) {
                    Some(all) => all.push(either),
                    None => {
                        schema.insert("allOf".into(), json!([either]));
                    }
                }
            }
        } else if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
            values.push(alias.into());
        } else if let Some(branches) = schema.get_mut("oneOf").and_then(Value::as_array_mut) {
            // Documented unit variants: one `{const, description}` branch each.
            assert!(
                branches
                    .iter()
                    .any(|b| b.get("const") == Some(&json!(name))),
                "alias `{alias}` names no value `{name}`"
            );
            branches.push(json!({
                "type": "string",
                "const": alias,
                "description": format!("Alias of `{name}`."),
            }));
        } else {
            panic!("alias `{alias}`: the schema has neither properties nor values");
        }
    }
}

impl JsonSchema for NodeSpec {
    fn schema_name() -> Cow<'static, str> {
        "Node".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let operators = AnyOperator::json_schema(generator);
        let variants = operators
            .get("oneOf")
            .and_then(Value::as_array)
            .expect("operators are an externally tagged enum of newtype variants");
        let mut all_names = Vec::new();
        let branches: Vec<Value> = variants
            .iter()
            .map(|variant| {
                let (op, params) = variant
                    .get("properties")
                    .and_then(Value::as_object)
                    .and_then(|p| p.iter().next())
                    .expect("a variant is `{op: parameters}`");
                let names = operator_group(op);
                assert!(!names.is_empty(), "operator `{op}` is not known to serde");
                all_names.extend(names.iter().copied());
                operator_branch(generator, &names, params)
            })
            .collect();
        json_schema!({
            "type": "object",
            "description": "A node: `id`, `op`, and the operator's `inputs` and `with:` parameters.",
            "properties": {
                "id": {
                    "type": "string",
                    "description": "The node id: other nodes' `inputs` and outputs' `columns` name it.",
                },
                "op": {
                    "type": "string",
                    "enum": all_names,
                    "description": "The operator (Conviva's camelCase names are accepted as aliases).",
                },
                "inputs": {
                    "type": "array",
                    "items": { "type": "string" },
                    "description": "The ids of the input nodes, in the operator's order.",
                },
                "in": {
                    "type": "array",
                    "items": { "type": "string" },
                    "description": "Alias of `inputs`.",
                },
                "with": {
                    "type": "object",
                    "description": "The operator's parameters; write it after `op:`.",
                },
            },
            "required": ["id", "op"],
            "additionalProperties": false,
            "oneOf": branches,
        })
    }
}

/// The branch of a node whose `op` is one of `names`: `with:` takes the operator's parameters,
/// and is required when one of them is.
fn operator_branch(generator: &SchemaGenerator, names: &[&str], params: &Value) -> Value {
    let definition = params
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|name| generator.definitions().get(name))
        .unwrap_or(params);
    let description = definition.get("description").cloned();
    // A required parameter is in `required`, or, when it has an alias, in an `allOf` of
    // "this name or that one" (see `add_aliases`).
    let needs_with = definition
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty())
        || definition
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|all| all.iter().any(|a| a.get("anyOf").is_some()));
    let mut op = Map::new();
    op.insert("enum".into(), json!(names));
    if let Some(d) = description {
        op.insert("description".into(), d);
    }
    let mut branch = json!({
        "properties": { "op": op, "with": params },
    });
    if needs_with {
        branch["required"] = json!(["with"]);
    }
    branch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{operator_names, parse_operator};

    /// The names between backticks in serde's "unknown field/variant `x`, expected one of `a`,
    /// `b`" message: every name serde accepts there, aliases included.
    fn expected_names(message: &str, unknown: &str) -> Vec<String> {
        let list = message
            .split_once("expected one of ")
            .or_else(|| message.split_once("expected "))
            .map(|(_, l)| l.lines().next().unwrap_or_default())
            .unwrap_or_else(|| panic!("no list of names in: {message}"));
        let mut names: Vec<String> = list
            .split(',')
            .map(|n| n.trim().trim_matches(|c: char| c == '`' || c == '.'))
            .filter(|n| !n.is_empty() && *n != unknown)
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }

    fn sorted_keys(v: &Value) -> Vec<String> {
        let mut keys: Vec<String> = v
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// The canonical name of the operator `op` names: the first name of its branch.
    fn canonical_of(schema: &Value, op: &str) -> String {
        schema["definitions"]["Node"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| &b["properties"]["op"]["enum"])
            .find(|names| names.as_array().unwrap().contains(&json!(op)))
            .and_then(|names| names[0].as_str())
            .unwrap_or_else(|| panic!("no branch for {op}"))
            .to_owned()
    }

    /// The `with:` schema of `op`'s branch, its `$ref` resolved.
    fn with_schema<'a>(schema: &'a Value, op: &str) -> &'a Value {
        let node = &schema["definitions"]["Node"];
        let branch = node["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["properties"]["op"]["enum"][0] == json!(op))
            .unwrap_or_else(|| panic!("no branch for {op}"));
        let with = &branch["properties"]["with"];
        match with.get("$ref").and_then(Value::as_str) {
            Some(r) => &schema["definitions"][r.rsplit('/').next().unwrap()],
            None => with,
        }
    }

    #[test]
    fn every_operator_has_a_branch_accepting_exactly_the_keys_serde_accepts() {
        let schema = spec_schema().to_value();
        for op in operator_names() {
            let mut group = operator_group(op);
            group.sort();
            let canonical = canonical_of(&schema, op);
            let with = with_schema(&schema, &canonical);
            assert_eq!(with["additionalProperties"], json!(false), "{op}");
            let in_schema = sorted_keys(&with["properties"]);
            let e = parse_operator(op, "no_such_key: 1").unwrap_err();
            if e.contains("takes no parameters") {
                assert!(in_schema.is_empty(), "{op}: {in_schema:?}");
            } else {
                assert_eq!(expected_names(&e, "no_such_key"), in_schema, "{op}: {e}");
            }
        }
    }

    #[test]
    fn every_operator_name_and_alias_selects_its_own_branch() {
        let schema = spec_schema().to_value();
        let branches = schema["definitions"]["Node"]["oneOf"].as_array().unwrap();
        for op in operator_names() {
            let group = operator_group(op);
            let holding: Vec<&Value> = branches
                .iter()
                .filter(|b| {
                    b["properties"]["op"]["enum"]
                        .as_array()
                        .unwrap()
                        .contains(&json!(op))
                })
                .collect();
            assert_eq!(holding.len(), 1, "{op} in {} branches", holding.len());
            let mut names: Vec<String> =
                serde_json::from_value(holding[0]["properties"]["op"]["enum"].clone()).unwrap();
            names.sort();
            let mut group: Vec<String> = group.iter().map(|n| n.to_string()).collect();
            group.sort();
            assert_eq!(names, group, "{op}");
        }
        assert!(operator_group("latest_event_to_state").contains(&"latestEventToState"));
        assert_eq!(operator_group("get"), ["get", "extract"]);
    }

    #[test]
    fn field_types_accept_the_values_serde_accepts() {
        let schema = spec_schema().to_value();
        let e = parse_operator("get", "field: a\ntype: no_such_type").unwrap_err();
        let field_type = &schema["definitions"]["FieldType"];
        let mut in_schema: Vec<String> = field_type["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["const"].as_str().unwrap().to_owned())
            .collect();
        in_schema.sort();
        assert_eq!(expected_names(&e, "no_such_type"), in_schema, "{e}");
    }
}
