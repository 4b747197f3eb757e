//! What analysts see when a spec is wrong: every file in `fixtures/invalid/` holds one mistake,
//! and the full `validate` text for it is snapshotted, so a change in any message shows up in
//! review. Also snapshots `explain` and the Mermaid `graph` of every shipped spec.

use crate::specs::{repo_root, shipped_specs, yaml_files};
use spanflow::app::validate_report;
use spanflow::spec_file::load;
use std::path::Path;

/// Specs where no location can exist: the mistake is something that is absent from the file.
const NO_LOCATION: &[&str] = &["missing_outputs"];

/// Specs whose single mistake is currently reported more than once (a follow-on error). Kept
/// explicit so a new cascade in any other spec fails the test instead of slipping into a snapshot.
const FOLLOW_ON_ERRORS: &[&str] = &[
    // The second `player_state` is ignored, so `is_buffering` type-checks against the first.
    "duplicate_id",
    // A node whose operator could not be built is dropped, so the output column "doesn't match
    // any node" although it is declared.
    "get_without_with",
    "unknown_op",
];

/// For each spec, text its message must contain: the offending value (and, where the checker
/// knows one, the fix). The snapshots hold the full text; this guards against accepting a
/// snapshot that lost the essential part.
const MUST_MENTION: &[(&str, &[&str])] = &[
    (
        "bad_max_bad_ratio",
        &["input.max_bad_ratio", "from 0 to 1", "got 5"],
    ),
    (
        "bad_on_bad_record_policy",
        &["`skip`", "drop", "dead_letter"],
    ),
    ("bad_time_unit", &["`minutes`", "milliseconds"]),
    ("bad_yaml_indentation", &[":12:"]),
    ("compare_string_with_number", &["`is_buffering`", "3"]),
    (
        "compare_with_nan",
        &["with.value", "NaN", "always false", ".inf"],
    ),
    ("compare_without_value", &["`is_buffering`", "`value:`"]),
    (
        "cycle",
        &["is_playing -> playing_and_not_paused -> is_playing"],
    ),
    (
        "dead_letter_missing_topic",
        &["input.dead_letter", "missing field `topic`"],
    ),
    (
        "dead_letter_topic_is_input",
        &["`heartbeats`", "input topic", "heartbeats.dead-letters"],
    ),
    (
        "dead_letter_topic_unused",
        &["heartbeats.dead-letters", "on_bad_record: dead_letter"],
    ),
    (
        "dead_letter_without_topic",
        &["input.on_bad_record", "`dead_letter`", "topic:"],
    ),
    ("duplicate_id", &["`player_state`", "line 10"]),
    (
        "duplicate_output_column",
        &["`states`", "`player_state`", "listed twice", "line 20"],
    ),
    ("duplicate_output_name", &["`buffering`", "line 25"]),
    ("empty_node_id", &["empty", "`latest_event_to_state`"]),
    ("events_of_a_state", &["`player_state`", "state<string>"]),
    (
        "every_secs_under_a_millisecond",
        &["every_secs", "0.0001", "smallest valid value is 0.001"],
    ),
    ("every_secs_zero", &["got 0"]),
    ("get_from_a_state", &["`cdn_updates`", "event_source"]),
    ("get_record_field", &["`device`", "record"]),
    (
        "get_type_conflicts_schema",
        &["`playerState`", "string", "f64"],
    ),
    (
        "get_without_type_or_schema",
        &["`playerState`", "type: string"],
    ),
    ("get_without_with", &["`player_state_updates`", "`field`"]),
    (
        "lookup_duplicate_name",
        &["input.lookups[1]", "`cdn_info`", "line 8"],
    ),
    (
        "lookup_get_type_conflict",
        &["`tier_updates`", "`cdn_info.tier`", "string", "f64"],
    ),
    (
        "lookup_key_not_in_schema",
        &["input.lookups[0]", "`cdnName`", "`cdn`"],
    ),
    (
        "lookup_unknown_column",
        &["`tier_updates`", "`teir`", "`cdn_info.tier`"],
    ),
    ("lookup_unknown_column_type", &["`txt`", "text", "double"]),
    ("lookup_unknown_field", &["`ttl`", "cache"]),
    ("missing_outputs", &["`outputs`"]),
    ("missing_session_key", &["`session_key`"]),
    (
        "multiply_two_numerics",
        &["`product`", "`play_secs`", "latest_event_to_state"],
    ),
    ("negative_window", &["-60"]),
    ("ordering_booleans", &["`more_than_buffering`", "`equals`"]),
    ("output_column_is_record", &["`events`", "`get`"]),
    (
        "output_column_unknown",
        &["`buffer_secs`", "`buffering_secs`"],
    ),
    ("output_without_columns", &["`states`"]),
    (
        "schema_default_wrong_type",
        &[
            "default_wrong_type.avsc",
            "`default`",
            "must be a `\"string\"`",
        ],
    ),
    ("schema_file_missing", &["heartbeats.avsc"]),
    (
        "schema_link_to_other_file",
        &["schemas/linked.avsc", "links included"],
    ),
    (
        "schema_not_a_schema",
        &["not_a_schema.avsc", "unknown variant `…`"],
    ),
    ("schema_not_avsc", &["Cargo.toml", "`.avsc`"]),
    (
        "scylla_column_unknown",
        &["`buffer_secs`", "buffering_secs"],
    ),
    (
        "scylla_reserved_column",
        &["time_column", "`order`", "reserved"],
    ),
    ("scylla_table_name", &["`buffering-secs`", "plain CQL name"]),
    ("session_key_not_in_schema", &["`sessionID`", "`sessionId`"]),
    ("tab_in_indentation", &[":11:1:", "tab", "spaces"]),
    (
        "time_not_a_number",
        &["input.time", "`playerState`", "the event time", "long"],
    ),
    (
        "time_unit_contradicts_schema",
        &[
            "`seconds`",
            "`timestamp`",
            "`timestamp-millis`",
            "time_unit: milliseconds",
        ],
    ),
    (
        "two_event_inputs_to_and",
        &["`seek_events`", "latest_event_to_state"],
    ),
    (
        "type_mismatch_events_into_duration_where",
        &["`buffer_events`", "events<bool>", "latest_event_to_state"],
    ),
    ("typo_in_with_field", &["`within_sec`", "within_secs"]),
    (
        "unclosed_bracket",
        &[":12:13:", "`[`", "never closed", "line 13"],
    ),
    ("unknown_evaluate_at", &["`end_of_session`", "session_end"]),
    ("unknown_input_typo", &["`is_bufering`", "`is_buffering`"]),
    ("unknown_node_field", &["`input`", "inputs"]),
    ("unknown_op", &["`duration_wher`", "`duration_where`"]),
    ("unknown_schema_field", &["`playerstate`", "`playerState`"]),
    ("unknown_top_level_field", &["`output`", "outputs"]),
    ("with_before_op", &["`with:`", "`op:`"]),
    (
        "with_on_operator_without_parameters",
        &[
            "`latest_event_to_state`",
            "takes no parameters",
            "`default`",
        ],
    ),
    ("wrong_arity", &["`neither`", "takes 1 input, got 2"]),
];

/// The validate text of `path`, with the checkout's absolute prefix removed so snapshots are
/// the same on every machine.
fn report(path: &Path) -> (bool, String) {
    let (ok, text) = validate_report(&load(path), false);
    let prefix = format!("{}/", repo_root().display());
    (ok, text.replace(&prefix, ""))
}

#[test]
fn every_invalid_spec_gets_a_located_message_naming_the_mistake() {
    let files = yaml_files(&repo_root().join("fixtures/invalid"));
    assert!(files.len() >= 18, "only {} invalid specs", files.len());
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    // Every case has its expectations, and no expectation is stale.
    let listed: Vec<&str> = MUST_MENTION.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, listed, "MUST_MENTION must list exactly the files");

    for (file, name) in files.iter().zip(&names) {
        let (ok, text) = report(file);
        assert!(!ok, "{name}: expected invalid, got:\n{text}");
        let display = format!("fixtures/invalid/{name}.yaml");
        let errors: Vec<&str> = text.lines().filter(|l| l.contains(": error: ")).collect();
        assert!(!errors.is_empty(), "{name}: no error in:\n{text}");
        if !FOLLOW_ON_ERRORS.contains(&name.as_str()) {
            assert_eq!(errors.len(), 1, "{name}: one mistake, one message:\n{text}");
        }
        for line in &errors {
            let rest = line
                .strip_prefix(&display)
                .unwrap_or_else(|| panic!("{name}: message does not start with the file: {line}"));
            if NO_LOCATION.contains(&name.as_str()) {
                assert!(rest.starts_with(": error: "), "{name}: {line}");
            } else {
                assert!(
                    has_line_and_column(rest),
                    "{name}: no `file:LINE:COL:` in {line}"
                );
            }
        }
        let wanted = MUST_MENTION.iter().find(|(n, _)| n == name).unwrap().1;
        for w in wanted {
            assert!(
                text.contains(w),
                "{name}: message should mention {w}:\n{text}"
            );
        }
        insta::assert_snapshot!(name.as_str(), text);
    }
}

/// `:LINE:COL: error: ` with both numbers at least 1.
fn has_line_and_column(rest: &str) -> bool {
    let Some(rest) = rest.strip_prefix(':') else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let number = |p: Option<&str>| p.and_then(|s| s.parse::<u32>().ok()).is_some_and(|n| n > 0);
    number(parts.next())
        && number(parts.next())
        && parts.next().is_some_and(|s| s.starts_with(" error: "))
}

#[test]
fn schema_errors_never_quote_the_file() {
    // The schema a spec names may be a link to, or a copy of, a file holding secrets: the
    // message says what is wrong without its content.
    for (spec, secret) in [
        ("schema_link_to_other_file", "do-not-print-me-1234"),
        ("schema_not_a_schema", "not-a-type-s3cr3t"),
        ("schema_not_a_schema", "hunter2"),
        ("schema_default_wrong_type", "spanflow.video.Heartbeat"),
    ] {
        let (ok, text) = report(&repo_root().join(format!("fixtures/invalid/{spec}.yaml")));
        assert!(!ok);
        assert!(!text.contains(secret), "{spec} quotes `{secret}`:\n{text}");
    }
}

#[test]
fn a_missing_spec_file_is_reported_without_a_location() {
    let (ok, text) = report(&repo_root().join("fixtures/invalid/no_such_spec.yaml"));
    assert!(!ok);
    assert!(
        text.starts_with("fixtures/invalid/no_such_spec.yaml: error: cannot read the spec:"),
        "{text}"
    );
}

#[test]
fn explain_and_graph_of_shipped_specs() {
    for path in shipped_specs() {
        let loaded = load(&path);
        let program = loaded.program_or_report().unwrap();
        // `video/connection_induced_rebuffering.yaml` -> `video__connection_induced_rebuffering`.
        let rel = path.strip_prefix(repo_root().join("dag-specs")).unwrap();
        let name = rel.with_extension("").to_string_lossy().replace('/', "__");
        insta::assert_snapshot!(format!("explain__{name}"), program.explain());
        insta::assert_snapshot!(format!("graph__{name}"), spanflow::graph::mermaid(program));
    }
}
