//! The spec format's JSON Schema (`spanflow schema`, committed as `docs/spec.schema.json` for
//! editors): the committed copy is current, every shipped spec names it and passes it, and
//! specs an editor should underline fail it, checked with a JSON Schema validator as the YAML
//! language server would (YAML read into JSON values first).
//!
//! Regenerate the committed copy after changing a spec type:
//! `SPANFLOW_BLESS=1 cargo test --test integration spec_schema::`.

use crate::specs::{repo_root, shipped_specs, yaml_files};
use serde_json::Value;
use spanflow_operators::schema::spec_schema_text;
use std::path::PathBuf;

const COMMITTED: &str = "docs/spec.schema.json";

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&spec_schema_text()).expect("the schema is JSON");
    jsonschema::draft7::new(&schema).expect("the schema is a valid draft-07 schema")
}

/// A YAML document as JSON values. NaN and infinities (`.nan`, `.inf`) have no JSON form:
/// serde_json makes them null, which the schema accepts wherever a test value or an optional
/// constant may stand (the YAML language server reads them as numbers, also accepted there).
fn yaml_json(text: &str) -> Result<Value, String> {
    let options = serde_saphyr::options! {
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
    };
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| e.to_string())
}

/// The schema's complaints about `text` (empty when it passes).
fn schema_errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let json = yaml_json(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"));
    validator
        .iter_errors(&json)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Every spec shipped for people to run or copy.
fn shipped() -> Vec<PathBuf> {
    let mut specs = shipped_specs();
    specs.extend(yaml_files(&repo_root().join("deploy/specs")));
    specs
}

#[test]
fn the_committed_schema_is_what_spanflow_schema_prints() {
    let path = repo_root().join(COMMITTED);
    let current = spec_schema_text();
    if std::env::var_os("SPANFLOW_BLESS").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "{COMMITTED} is stale: regenerate it with `cargo run -- schema > {COMMITTED}` (or \
         SPANFLOW_BLESS=1 cargo test --test integration spec_schema::) and commit it"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), current);
}

#[test]
fn shipped_specs_name_the_schema_and_pass_it() {
    let validator = validator();
    let schema = repo_root().join(COMMITTED).canonicalize().unwrap();
    let specs = shipped();
    assert!(specs.len() >= 5, "{specs:?}");
    for path in specs {
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let named = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| {
                panic!(
                    "{}: the first line should be `# yaml-language-server: $schema=<relative path to {COMMITTED}>`, got {first:?}",
                    path.display()
                )
            });
        let target = path.parent().unwrap().join(named);
        assert_eq!(
            target.canonicalize().ok().as_deref(),
            Some(schema.as_path()),
            "{}: $schema={named} is not {COMMITTED}",
            path.display()
        );
        let errors = schema_errors(&validator, &text);
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            path.display(),
            errors.join("\n")
        );
    }
}

/// Fixtures whose mistake is in the spec's shape: an unknown key, a wrong type, a value out of
/// range or not among the allowed ones, a missing key. The schema must reject them. The other
/// invalid fixtures are wrong in what they mean (a cycle, an unknown node, types that do not
/// fit, a field the Avro schema lacks), which only `spanflow validate` can see: the schema must
/// accept them, or editors would underline what they cannot explain.
const STRUCTURAL: &[&str] = &[
    "bad_max_bad_ratio",
    "bad_on_bad_record_policy",
    "bad_time_unit",
    "dead_letter_missing_topic",
    "every_secs_under_a_millisecond",
    "every_secs_zero",
    "get_without_with",
    "lookup_unknown_column_type",
    "lookup_unknown_field",
    "missing_session_key",
    "negative_window",
    "typo_in_with_field",
    "unknown_evaluate_at",
    "unknown_node_field",
    "unknown_op",
    "unknown_top_level_field",
    "with_on_operator_without_parameters",
];

/// Fixtures that are not YAML at all (the editor's YAML parser reports them).
const NOT_YAML: &[&str] = &[
    "bad_yaml_indentation",
    "tab_in_indentation",
    "unclosed_bracket",
];

#[test]
fn invalid_fixtures_fail_the_schema_exactly_when_their_shape_is_wrong() {
    let validator = validator();
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    for path in yaml_files(&repo_root().join("fixtures/invalid")) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        seen.push(name.clone());
        if NOT_YAML.contains(&name.as_str()) {
            assert!(yaml_json(&text).is_err(), "{name} parses as YAML");
            continue;
        }
        let errors = schema_errors(&validator, &text);
        match (STRUCTURAL.contains(&name.as_str()), errors.is_empty()) {
            (true, true) => wrong.push(format!("{name} passes the schema")),
            (false, false) => wrong.push(format!(
                "{name} is only wrong in meaning, but fails the schema: {}",
                errors.join("; ")
            )),
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for name in STRUCTURAL.iter().chain(NOT_YAML) {
        assert!(seen.iter().any(|s| s == name), "no fixture {name}");
    }
}

const BASE: &str = "name: t
input: { session_key: s, time: t }
nodes:
  - { id: events, op: event_source }
NODE
outputs:
  - { name: o, evaluate_at: every_event, columns: [x] }
";

fn with_node(node: &str) -> String {
    BASE.replace("NODE", node)
}

#[test]
fn the_op_chooses_the_parameters_and_aliases_are_accepted() {
    let validator = validator();
    let passes = |node: &str| schema_errors(&validator, &with_node(node));
    // Aliases of operators, parameters and values, as serde accepts them.
    for ok in [
        "  - { id: x, op: get, inputs: [events], with: { field: a, type: f64 } }",
        "  - { id: x, op: extract, in: [events], with: { path: a, type: int } }",
        "  - { id: x, op: latestEventToState, inputs: [events] }",
        "  - { id: x, op: durationTrue, inputs: [events], with: { sliding_window_secs: 5 } }",
        "  - { id: x, op: has_existed_within, inputs: [events], with: { duration_secs: 0.5 } }",
        "  - { id: x, op: equals, inputs: [events], with: { value: CDN1 } }",
        "  - { id: x, op: in_set, inputs: [events], with: { values: [a, 1, true] } }",
        "  - { id: x, op: abs, inputs: [events], with: {} }",
    ] {
        assert_eq!(passes(ok), Vec::<String>::new(), "{ok}");
    }
    // Parameters of another operator, of the wrong type or out of range, a missing `with:`,
    // an unknown op: each fails at the node (each differs from a passing node above by that
    // one mistake).
    for bad in [
        "  - { id: x, op: equals, inputs: [events], with: { within_secs: 5 } }",
        "  - { id: x, op: has_existed_within, inputs: [events], with: { within_secs: soon } }",
        "  - { id: x, op: has_existed_within, inputs: [events], with: { within_secs: 0.0001 } }",
        "  - { id: x, op: get, inputs: [events] }",
        "  - { id: x, op: extract, in: [events], with: { path: a, type: decimal } }",
        "  - { id: x, op: not, inputs: [events], with: { value: 1 } }",
        "  - { id: x, op: get_field, inputs: [events] }",
        "  - { id: x, op: latestEventToState, inputs: events }",
    ] {
        let errors = passes(bad);
        assert!(!errors.is_empty(), "{bad} passes");
        assert!(
            errors.iter().all(|e| e.starts_with("/nodes/1")),
            "{bad}: errors elsewhere than at the node:\n{}",
            errors.join("\n")
        );
    }
}

#[test]
fn every_object_in_the_schema_denies_unknown_keys() {
    // Every spec type is `deny_unknown_fields`, so every object the schema describes must be
    // closed (`additionalProperties: false`), or an editor would accept a typo serde rejects.
    fn walk(v: &Value, at: &str, open: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                let closed = map.get("additionalProperties") == Some(&Value::Bool(false));
                let is_map = map
                    .get("additionalProperties")
                    .is_some_and(Value::is_object);
                if map.contains_key("properties") && !closed && !is_map && !at.ends_with("/oneOf") {
                    open.push(at.to_owned());
                }
                for (k, child) in map {
                    walk(child, &format!("{at}/{k}"), open);
                }
            }
            Value::Array(items) => {
                for child in items {
                    walk(child, at, open);
                }
            }
            _ => {}
        }
    }
    let schema: Value = serde_json::from_str(&spec_schema_text()).unwrap();
    let mut open = Vec::new();
    walk(&schema, "", &mut open);
    assert!(
        open.is_empty(),
        "objects without additionalProperties: false: {open:?}"
    );
}
