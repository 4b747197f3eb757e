//! Compile-time checks of projections against writer schemas.

use super::*;
use crate::decode::{Role, SchemaMismatch};
use crate::generate::HEARTBEAT_SCHEMA;

fn mismatch(json: &str, p: &Projection) -> SchemaMismatch {
    DecodePlan::compile(&schema(json), p).expect_err("the projection should not fit")
}

fn heartbeat(fields: &[(&str, ValueType)]) -> SchemaMismatch {
    mismatch(
        HEARTBEAT_SCHEMA,
        &projection("sessionId", "timestamp", fields),
    )
}

#[test]
fn unknown_fields_suggest_the_closest_name_and_list_valid_ones() {
    let SchemaMismatch::UnknownField(e) = heartbeat(&[("playerstate", ValueType::Str)]) else {
        panic!()
    };
    assert_eq!(e.suggestion.as_deref(), Some("playerState"));
    assert_eq!(e.record, "io.spanflow.video.Heartbeat");
    assert!(e.valid.iter().any(|v| v == "bufferLengthSec") && e.valid.len() == 11);
    let msg = heartbeat(&[("playerstate", ValueType::Str)]).to_string();
    assert!(msg.contains("did you mean `playerState`?"), "{msg}");
    assert!(msg.contains("`sessionId`, `timestamp`, `seq`"), "{msg}");

    let SchemaMismatch::UnknownField(e) = heartbeat(&[("device.oss", ValueType::Str)]) else {
        panic!()
    };
    assert_eq!(
        (e.missing.as_str(), e.record.as_str()),
        ("oss", "io.spanflow.video.Device")
    );
    assert_eq!(e.suggestion.as_deref(), Some("os"));
    assert_eq!(e.valid, ["os", "model"]);

    let SchemaMismatch::UnknownField(e) = heartbeat(&[("zzzzzz", ValueType::Str)]) else {
        panic!()
    };
    assert_eq!(e.suggestion, None);
}

#[test]
fn type_mismatches_name_path_writer_type_and_request() {
    let SchemaMismatch::TypeMismatch(e) = heartbeat(&[("cdn", ValueType::F64)]) else {
        panic!()
    };
    assert_eq!(e.path.to_string(), "cdn");
    assert_eq!(e.writer_type, r#"["null","string"]"#);
    assert_eq!(e.role, Role::Field(ValueType::F64));
    let SchemaMismatch::TypeMismatch(e) = heartbeat(&[("bitrateKbps", ValueType::Bool)]) else {
        panic!()
    };
    assert_eq!(e.writer_type, r#"["null","int"]"#);
    let SchemaMismatch::TypeMismatch(e) = heartbeat(&[("tags", ValueType::Str)]) else {
        panic!()
    };
    assert_eq!(e.writer_type, "map<string>");
    let SchemaMismatch::TypeMismatch(e) = heartbeat(&[("device", ValueType::Record)]) else {
        panic!()
    };
    assert_eq!(e.writer_type, "record io.spanflow.video.Device");
    // Descending into a scalar.
    let SchemaMismatch::TypeMismatch(e) = heartbeat(&[("cdn.name", ValueType::Str)]) else {
        panic!()
    };
    assert_eq!(e.at.to_string(), "cdn");
    assert!(e.to_string().contains("has no fields"), "{e:?}");
    // Time and key roles.
    let e = mismatch(HEARTBEAT_SCHEMA, &projection("device", "timestamp", &[]));
    assert!(
        matches!(&e, SchemaMismatch::TypeMismatch(t) if t.role == Role::SessionKey),
        "{e}"
    );
    let e = mismatch(HEARTBEAT_SCHEMA, &projection("sessionId", "cdn", &[]));
    assert!(
        matches!(&e, SchemaMismatch::TypeMismatch(t) if t.role == Role::Time),
        "{e}"
    );
    let mut p = projection("sessionId", "timestamp", &[]);
    p.sequence = Some(path("bufferLengthSec"));
    assert!(
        matches!(mismatch(HEARTBEAT_SCHEMA, &p), SchemaMismatch::TypeMismatch(t) if t.role == Role::Sequence)
    );
}

#[test]
fn unions_need_every_branch_readable_and_times_must_be_instants() {
    let json = r#"{"type":"record","name":"U","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"d","type":{"type":"int","logicalType":"date"}},
        {"name":"u","type":["null","long","string"]},
        {"name":"n","type":["null","int","long","double"]}]}"#;
    let SchemaMismatch::TypeMismatch(e) =
        mismatch(json, &projection("k", "t", &[("u", ValueType::F64)]))
    else {
        panic!()
    };
    assert_eq!(
        e.note.as_deref(),
        Some("its branch string cannot; every non-null branch of a union must be readable as a f64 field"),
    );
    // A field of several types has no one engine type.
    let e = mismatch(json, &projection("k", "t", &[("u", ValueType::Str)]));
    assert!(e.to_string().contains("its branch long cannot"), "{e}");
    // Several numeric branches read as one number.
    compile(json, &projection("k", "t", &[("n", ValueType::F64)]));
    let e = mismatch(json, &projection("k", "d", &[]));
    assert!(
        e.to_string().contains("`date` is not a point in time"),
        "{e}"
    );
    // A date is still readable as a number.
    compile(json, &projection("k", "t", &[("d", ValueType::F64)]));
}

#[test]
fn record_names_and_root_types_are_checked() {
    let mut p = projection("sessionId", "timestamp", &[]);
    p.record_name = Some("io.spanflow.iot.DeviceTelemetry".into());
    let e = mismatch(HEARTBEAT_SCHEMA, &p);
    assert_eq!(e.reason(), "other_record_type");
    assert!(e.to_string().contains("io.spanflow.video.Heartbeat"));
    let e = mismatch(r#""string""#, &projection("a", "b", &[]));
    assert_eq!(
        e,
        SchemaMismatch::RootNotRecord {
            found: "string".into()
        }
    );
}

#[test]
fn plans_merge_repeated_paths_and_pick_time_units() {
    let json = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},
        {"name":"t","type":{"type":"long","logicalType":"timestamp-nanos"}}]}"#;
    let plan = compile(
        json,
        &projection(
            "k",
            "t",
            &[
                ("k", ValueType::Str),
                ("t", ValueType::F64),
                ("k", ValueType::Str),
            ],
        ),
    );
    assert_eq!(plan.time_unit(), spanflow_engine::TimeUnit::Nanoseconds);
    assert_eq!(plan.slots(), 3);
    let out = decode(&plan, &[2, b'a', 0x80, 0x89, 0x7a]).unwrap();
    assert_eq!(out.record.time, 1);
    assert_eq!(out.record.fields[0], out.record.fields[2]);
    assert_eq!(out.record.fields[1], FieldValue::F64(1_000_000.0));
    let mut p = projection("k", "t", &[]);
    p.time_unit = Some(spanflow_engine::TimeUnit::Microseconds);
    assert_eq!(
        compile(json, &p).time_unit(),
        spanflow_engine::TimeUnit::Microseconds,
        "the spec wins"
    );
}
