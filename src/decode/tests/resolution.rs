//! Writer schemas resolved against a reader schema (the spec's `input.schema`): values compared
//! with apache-avro reading the same datums with the same reader schema, and the errors of
//! schemas and values that do not resolve.

use super::*;
use crate::decode::{ReaderSchema, SchemaMismatch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spanflow_engine::TimeUnit;
use std::sync::Arc;

/// An older writer: `cdn`, `tier`, `geo` and `dev.version` do not exist yet, numbers are
/// narrower, `raw` is bytes, the enum has a symbol the reader dropped.
const WRITER: &str = r#"{"type":"record","name":"Hb","namespace":"io.x","fields":[
  {"name":"sid","type":"string"},
  {"name":"ts","type":"int"},
  {"name":"bitrate","type":"int"},
  {"name":"big","type":"long"},
  {"name":"ratio","type":"float"},
  {"name":"raw","type":"bytes"},
  {"name":"state","type":{"type":"enum","name":"State","symbols":["play","buffer","ended"]}},
  {"name":"u","type":["null","int","float"]},
  {"name":"dev","type":{"type":"record","name":"Dev","fields":[{"name":"os","type":"string"}]}},
  {"name":"after","type":"string"}
]}"#;

/// The reader the spec names, with `state_default` as the enum's default (`None`: no default).
fn reader_json(state_default: Option<&str>) -> String {
    let default = state_default.map_or(String::new(), |d| format!(r#","default":"{d}""#));
    format!(
        r#"{{"type":"record","name":"Hb","namespace":"io.x","fields":[
  {{"name":"sid","type":"string"}},
  {{"name":"ts","type":"long"}},
  {{"name":"bitrate","type":"double"}},
  {{"name":"big","type":"float"}},
  {{"name":"ratio","type":"double"}},
  {{"name":"raw","type":"string"}},
  {{"name":"state","type":{{"type":"enum","name":"State","symbols":["play","buffer","other"]{default}}}}},
  {{"name":"u","type":["null","long","double"]}},
  {{"name":"cdn","type":["null","string"],"default":null}},
  {{"name":"tier","type":"string","default":"gold"}},
  {{"name":"dev","type":{{"type":"record","name":"Dev","fields":[
    {{"name":"os","type":"string"}},{{"name":"version","type":"int","default":3}}]}}}},
  {{"name":"geo","type":{{"type":"record","name":"Geo","fields":[{{"name":"country","type":"string"}}]}},
    "default":{{"country":"NZ"}}}},
  {{"name":"after","type":"string"}}
]}}"#
    )
}

const FIELDS: &[(&str, ValueType)] = &[
    ("bitrate", ValueType::F64),
    ("big", ValueType::F64),
    ("ratio", ValueType::F64),
    ("raw", ValueType::Str),
    ("state", ValueType::Str),
    ("u", ValueType::F64),
    ("cdn", ValueType::Str),
    ("tier", ValueType::Str),
    ("dev.os", ValueType::Str),
    ("dev.version", ValueType::F64),
    ("geo.country", ValueType::Str),
    ("after", ValueType::Str),
];

fn with_reader(mut p: Projection, reader: &str) -> Projection {
    p.reader = Some(Arc::new(
        ReaderSchema::parse(reader, "reader.avsc").unwrap(),
    ));
    p
}

fn plan(reader: &str) -> DecodePlan {
    compile(
        WRITER,
        &with_reader(projection("sid", "ts", FIELDS), reader),
    )
}

fn heartbeat(rng: &mut ChaCha8Rng, state: u32) -> Value {
    let u = match rng.random_range(0..3) {
        0 => Value::Union(0, Box::new(Value::Null)),
        1 => Value::Union(1, Box::new(Value::Int(rng.random()))),
        _ => Value::Union(2, Box::new(Value::Float(rng.random_range(-1e6..1e6)))),
    };
    record(vec![
        ("sid", Value::String(format!("s{}", rng.random_range(0..9)))),
        ("ts", Value::Int(rng.random_range(0..i32::MAX))),
        ("bitrate", Value::Int(rng.random())),
        // Beyond 2^24, so the promotion to float rounds.
        ("big", Value::Long(rng.random_range(-(1 << 40)..(1 << 40)))),
        ("ratio", Value::Float(rng.random_range(-1e6..1e6))),
        (
            "raw",
            Value::Bytes(format!("é{}", rng.random::<u16>()).into_bytes()),
        ),
        (
            "state",
            Value::Enum(state, ["play", "buffer", "ended"][state as usize].into()),
        ),
        ("u", u),
        ("dev", record(vec![("os", Value::String("tvOS".into()))])),
        ("after", Value::String("end".into())),
    ])
}

/// What apache-avro reads from `datum` with the reader schema.
fn oracle(reader: &str, datum: &[u8]) -> Result<Value, apache_avro::Error> {
    let w = apache_avro::Schema::parse_str(WRITER).unwrap();
    let r = apache_avro::Schema::parse_str(reader).unwrap();
    apache_avro::reader::datum::GenericDatumReader::builder(&w)
        .reader_schema(&r)
        .build()?
        .read_value(&mut &datum[..])
}

#[test]
fn resolved_values_match_apache_avro() {
    let reader = reader_json(Some("other"));
    let plan = plan(&reader);
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    for i in 0..300 {
        let value = heartbeat(&mut rng, i % 3);
        let datum = encode(WRITER, &value);
        let expected = oracle(&reader, &datum).unwrap();
        let got = decode(&plan, &datum).unwrap();
        assert_eq!(
            FieldValue::Str(got.session_key.clone()),
            expected_field(lookup(&expected, &["sid"]))
        );
        for (slot, (path, _)) in FIELDS.iter().enumerate() {
            let segs: Vec<&str> = path.split('.').collect();
            assert_eq!(
                got.record.fields[slot],
                expected_field(lookup(&expected, &segs)),
                "`{path}` of {value:?}"
            );
        }
    }
}

#[test]
fn defaults_promotions_and_enum_defaults_fill_the_record() {
    let plan = plan(&reader_json(Some("other")));
    let datum = encode(WRITER, &heartbeat(&mut ChaCha8Rng::seed_from_u64(1), 2));
    let got = decode(&plan, &datum).unwrap();
    let field = |p: &str| &got.record.fields[FIELDS.iter().position(|(f, _)| *f == p).unwrap()];
    assert_eq!(field("cdn"), &FieldValue::Null);
    assert_eq!(field("tier"), &FieldValue::Str("gold".into()));
    assert_eq!(field("dev.version"), &FieldValue::F64(3.0));
    assert_eq!(field("geo.country"), &FieldValue::Str("NZ".into()));
    // `ended` is not a reader symbol: the reader enum's default.
    assert_eq!(field("state"), &FieldValue::Str("other".into()));
    assert_eq!(field("after"), &FieldValue::Str("end".into()));
}

#[test]
fn a_symbol_the_reader_lacks_fails_only_its_record() {
    let reader = reader_json(None);
    let plan = plan(&reader);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let ended = encode(WRITER, &heartbeat(&mut rng, 2));
    let err = decode(&plan, &ended).unwrap_err();
    assert!(
        oracle(&reader, &ended).is_err(),
        "apache-avro rejects it too"
    );
    assert_eq!(err.reason(), "unknown_enum_symbol");
    assert_eq!(
        err.to_string(),
        "`state` cannot be read with the reader schema (input.schema): the writer's symbol \
         `ended` is not in the reader enum `io.x.State`, which has no `default` (its symbols: \
         play, buffer, other)"
    );
    // The datum was read to its end: its length is known, and the next one decodes.
    let mut out = DecodedEvent::default();
    assert_eq!(plan.decode_prefix(&ended, &mut out).1, Some(ended.len()));
    let play = encode(WRITER, &heartbeat(&mut rng, 0));
    assert!(decode(&plan, &play).is_ok());
}

#[test]
fn a_writer_branch_no_reader_branch_takes_fails_only_its_record() {
    let writer = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"v","type":["null","int","string"]},{"name":"after","type":"long"}]}"#;
    let reader = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"v","type":["null","long"]},{"name":"after","type":"long"}]}"#;
    let p = with_reader(
        projection(
            "k",
            "t",
            &[("v", ValueType::F64), ("after", ValueType::F64)],
        ),
        reader,
    );
    let plan = compile(writer, &p);
    let datum = |v: Value| {
        let r = record(vec![
            ("k", Value::String("a".into())),
            ("t", Value::Long(5)),
            ("v", v),
            ("after", Value::Long(7)),
        ]);
        encode(writer, &r)
    };
    let int = decode(&plan, &datum(Value::Union(1, Box::new(Value::Int(4))))).unwrap();
    assert_eq!(
        int.record.fields[..],
        [FieldValue::F64(4.0), FieldValue::F64(7.0)]
    );
    let null = decode(&plan, &datum(Value::Union(0, Box::new(Value::Null)))).unwrap();
    assert_eq!(null.record.fields[0], FieldValue::Null);
    let text = datum(Value::Union(2, Box::new(Value::String("x".into()))));
    let err = decode(&plan, &text).unwrap_err();
    assert_eq!(err.reason(), "unmatched_union_branch");
    assert_eq!(
        err.to_string(),
        r#"`v` cannot be read with the reader schema (input.schema): the writer's string value matches no branch of the reader's ["null","long"]; its branches: null (takes null), long (takes int or long)"#
    );
    let mut out = DecodedEvent::default();
    assert_eq!(plan.decode_prefix(&text, &mut out).1, Some(text.len()));
}

#[test]
fn a_reader_union_takes_a_writer_value_in_its_first_matching_branch() {
    // No reader branch is an int: the first one it promotes to, as Java's reader does.
    let writer = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},{"name":"v","type":"int"}]}"#;
    let reader = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"v","type":["null","float","long"]}]}"#;
    let plan = compile(
        writer,
        &with_reader(projection("k", "t", &[("v", ValueType::F64)]), reader),
    );
    let r = record(vec![
        ("k", Value::String("a".into())),
        ("t", Value::Long(5)),
        ("v", Value::Int(16_777_217)),
    ]);
    // 2^24 + 1 has no f32: the float branch rounds it.
    let datum = encode(writer, &r);
    let w = apache_avro::Schema::parse_str(writer).unwrap();
    let rs = apache_avro::Schema::parse_str(reader).unwrap();
    let theirs = apache_avro::reader::datum::GenericDatumReader::builder(&w)
        .reader_schema(&rs)
        .build()
        .unwrap()
        .read_value(&mut &datum[..])
        .unwrap();
    let got = decode(&plan, &datum).unwrap();
    assert_eq!(got.record.fields[..], [FieldValue::F64(16_777_216.0)]);
    assert_eq!(
        got.record.fields[0],
        expected_field(lookup(&theirs, &["v"]))
    );
}

fn resolve_error(writer: &str, reader: &str, fields: &[(&str, ValueType)]) -> SchemaMismatch {
    let p = with_reader(projection("k", "t", fields), reader);
    DecodePlan::compile(&schema(writer), &p).unwrap_err()
}

#[test]
fn schemas_that_do_not_resolve_are_named_with_both_types() {
    let writer = r#"{"type":"record","name":"R","namespace":"io.x","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"rate","type":"string"},{"name":"kind","type":{"type":"enum","name":"K","symbols":["a"]}}]}"#;
    let reader = r#"{"type":"record","name":"R","namespace":"io.x","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"rate","type":["null","double"]},
        {"name":"cdn","type":"string"},
        {"name":"kind","type":{"type":"enum","name":"Other","symbols":["a"]}}]}"#;
    let e = resolve_error(writer, reader, &[("cdn", ValueType::Str)]);
    assert_eq!(e.reason(), "no_default");
    assert_eq!(
        e.to_string(),
        "the writer record `io.x.R` has no field `cdn` and the reader schema (input.schema) \
         gives it no default; add a `default` to `cdn` in the reader schema (e.g. `\"default\": \
         null` with a [\"null\", …] type) or read a field the writer has: `k`, `t`, `rate`, `kind`"
    );
    let e = resolve_error(writer, reader, &[("rate", ValueType::F64)]);
    assert_eq!(e.reason(), "incompatible_types");
    assert_eq!(
        e.to_string(),
        r#"`rate` has writer type string and reader type ["null","double"] (input.schema), which do not resolve: the writer's string value matches no branch of the reader's ["null","double"]; its branches: null (takes null), double (takes int, long, float or double)"#
    );
    let e = resolve_error(writer, reader, &[("kind", ValueType::Str)]);
    assert_eq!(
        e.to_string(),
        "`kind` has writer type enum io.x.K and reader type enum io.x.Other (input.schema), \
         which do not resolve: a reader enum io.x.Other takes writer types an enum named `Other`"
    );
}

#[test]
fn a_default_that_does_not_fit_its_field_is_rejected() {
    // The reader schema is checked when the spec is loaded (apache-avro checks defaults).
    let reader = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"geo","type":{"type":"record","name":"Geo","fields":[{"name":"c","type":"string"}]},
         "default":{}}]}"#;
    let e = ReaderSchema::parse(reader, "reader.avsc").unwrap_err();
    assert_eq!(e.context, "reader.avsc");
    assert!(e.message.contains("field `geo`"), "{e}");
}

#[test]
fn without_a_reader_unions_of_several_numbers_read_as_numbers() {
    let json = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"n","type":["null","int","long","double"]}]}"#;
    let plan = compile(json, &projection("k", "t", &[("n", ValueType::F64)]));
    for (branch, v, expected) in [
        (0, Value::Null, FieldValue::Null),
        (1, Value::Int(-3), FieldValue::F64(-3.0)),
        (
            2,
            Value::Long(1 << 40),
            FieldValue::F64((1u64 << 40) as f64),
        ),
        (3, Value::Double(0.5), FieldValue::F64(0.5)),
    ] {
        let r = record(vec![
            ("k", Value::String("a".into())),
            ("t", Value::Long(1)),
            ("n", Value::Union(branch, Box::new(v))),
        ]);
        let got = decode(&plan, &encode(json, &r)).unwrap();
        assert_eq!(got.record.fields[..], [expected]);
    }
}

#[test]
fn the_time_unit_is_the_reader_logical_type_else_the_writer_one() {
    let plain = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"}]}"#;
    let micros = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},
        {"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}}]}"#;
    let unit = |writer: &str, reader: &str| {
        compile(writer, &with_reader(projection("k", "t", &[]), reader)).time_unit()
    };
    // Spec validation reads the unit from the reader schema; so does the run.
    assert_eq!(unit(plain, micros), TimeUnit::Microseconds);
    assert_eq!(unit(micros, plain), TimeUnit::Microseconds);
    assert_eq!(unit(plain, plain), TimeUnit::Milliseconds);
}

#[test]
fn union_branches_of_named_types_match_by_name() {
    let writer = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"v","type":["null",{"type":"enum","name":"Tier","symbols":["gold","silver"]}]}]}"#;
    // The first enum branch is another type; the one named `Tier` takes the value, as the
    // specification (and Java's reader) match enums by name. apache-avro 0.22 differs: it takes
    // the first enum branch holding the symbol, so it is no oracle here.
    let reader = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"v","type":["null",
          {"type":"enum","name":"Net","symbols":["gold","wifi"]},
          {"type":"enum","name":"Tier","symbols":["bronze","gold"],"default":"bronze"}]}]}"#;
    let plan = compile(
        writer,
        &with_reader(projection("k", "t", &[("v", ValueType::Str)]), reader),
    );
    // `silver` is only in the writer's `Tier`: the reader `Tier`'s default, never `Net`.
    for (i, symbol, read) in [(0, "gold", "gold"), (1, "silver", "bronze")] {
        let value = record(vec![
            ("k", Value::String("a".into())),
            ("t", Value::Long(1)),
            (
                "v",
                Value::Union(1, Box::new(Value::Enum(i, symbol.into()))),
            ),
        ]);
        let got = decode(&plan, &encode(writer, &value)).unwrap();
        assert_eq!(got.record.fields[..], [FieldValue::Str(read.into())]);
    }
}

#[test]
fn a_renamed_field_is_found_by_its_reader_aliases() {
    let writer = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},{"name":"cdnName","type":"string"}]}"#;
    let reader = r#"{"type":"record","name":"R","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},
        {"name":"cdn","type":"string","aliases":["cdnName"]}]}"#;
    let plan = compile(
        writer,
        &with_reader(projection("k", "t", &[("cdn", ValueType::Str)]), reader),
    );
    let value = record(vec![
        ("k", Value::String("a".into())),
        ("t", Value::Long(1)),
        ("cdnName", Value::String("CDN1".into())),
    ]);
    let got = decode(&plan, &encode(writer, &value)).unwrap();
    assert_eq!(got.record.fields[..], [FieldValue::Str("CDN1".into())]);
}
