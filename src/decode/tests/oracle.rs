//! Round trips: values encoded by apache-avro, decoded by our plan, compared with what
//! apache-avro itself decodes.

use super::*;
use crate::generate::{encode_datums, Device, Heartbeat, UserAction, HEARTBEAT_SCHEMA};
use apache_avro::types::Value;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spanflow_engine::MAX_ABS_TIME;
use std::collections::HashMap;

/// Every primitive, named and complex type; projected leaves sit after skipped complex fields so
/// a wrong skip shows up as wrong values.
const KITCHEN_SINK: &str = r#"{"type":"record","name":"Sink","namespace":"t","fields":[
  {"name":"n","type":"null"},
  {"name":"b","type":"boolean"},
  {"name":"i","type":"int"},
  {"name":"l","type":"long"},
  {"name":"f","type":"float"},
  {"name":"d","type":"double"},
  {"name":"by","type":"bytes"},
  {"name":"s","type":"string"},
  {"name":"fx","type":{"type":"fixed","name":"F4","size":4}},
  {"name":"e","type":{"type":"enum","name":"Color","symbols":["red","green","blue"]}},
  {"name":"arr","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
    {"name":"k","type":"string"},{"name":"v","type":["null","double"]}]}}},
  {"name":"m","type":{"type":"map","values":["null","long","string"]}},
  {"name":"u3","type":["null","long","string"]},
  {"name":"ns1","type":["null","string"]},
  {"name":"ns2","type":["string","null"]},
  {"name":"ne","type":["null","Color"]},
  {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
  {"name":"inner","type":{"type":"record","name":"Inner","fields":[
    {"name":"x","type":"int"},
    {"name":"skipme","type":{"type":"array","items":"bytes"}},
    {"name":"deep","type":{"type":"record","name":"Deep","fields":[{"name":"y","type":"string"}]}}]}},
  {"name":"maybe","type":["null","Inner"]},
  {"name":"fxu","type":["null","F4"]},
  {"name":"after","type":"string"}
]}"#;

const SINK_FIELDS: &[(&str, ValueType)] = &[
    ("b", ValueType::Bool),
    ("i", ValueType::F64),
    ("l", ValueType::F64),
    ("f", ValueType::F64),
    ("d", ValueType::F64),
    ("e", ValueType::Str),
    ("ns1", ValueType::Str),
    ("ns2", ValueType::Str),
    ("ne", ValueType::Str),
    ("inner.x", ValueType::F64),
    ("inner.deep.y", ValueType::Str),
    ("maybe.x", ValueType::F64),
    ("maybe.deep.y", ValueType::Str),
    ("after", ValueType::Str),
    ("s", ValueType::Str),
    ("ts", ValueType::F64),
];

fn text(rng: &mut ChaCha8Rng) -> String {
    const ALPHABET: [&str; 8] = ["a", "Z", "0", " ", "é", "日本", "🎬", "\u{0}"];
    (0..rng.random_range(0..30))
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect()
}

fn inner(rng: &mut ChaCha8Rng) -> Value {
    record(vec![
        ("x", Value::Int(rng.random())),
        (
            "skipme",
            Value::Array(
                (0..rng.random_range(0..4))
                    .map(|i| Value::Bytes(vec![i; i as usize]))
                    .collect(),
            ),
        ),
        ("deep", record(vec![("y", Value::String(text(rng)))])),
    ])
}

fn color(i: u32) -> Value {
    Value::Enum(i, ["red", "green", "blue"][i as usize].to_owned())
}

fn random_sink(rng: &mut ChaCha8Rng) -> Value {
    let long = |rng: &mut ChaCha8Rng| match rng.random_range(0..4) {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => rng.random_range(-1000..1000),
        _ => rng.random(),
    };
    let items = (0..rng.random_range(0..5))
        .map(|_| {
            let v = if rng.random_bool(0.5) {
                Value::Union(0, Box::new(Value::Null))
            } else {
                Value::Union(1, Box::new(Value::Double(rng.random())))
            };
            record(vec![("k", Value::String(text(rng))), ("v", v)])
        })
        .collect();
    let map: HashMap<String, Value> = (0..rng.random_range(0..5))
        .map(|i| {
            let v = match i % 3 {
                0 => Value::Union(0, Box::new(Value::Null)),
                1 => Value::Union(1, Box::new(Value::Long(long(rng)))),
                _ => Value::Union(2, Box::new(Value::String(text(rng)))),
            };
            (format!("{i}{}", text(rng)), v)
        })
        .collect();
    let null_or = |some: bool, idx_null: u32, idx_val: u32, v: Value| {
        if some {
            Value::Union(idx_val, Box::new(v))
        } else {
            Value::Union(idx_null, Box::new(Value::Null))
        }
    };
    record(vec![
        ("n", Value::Null),
        ("b", Value::Boolean(rng.random())),
        ("i", Value::Int(rng.random())),
        ("l", Value::Long(long(rng))),
        ("f", Value::Float(rng.random_range(-1e6..1e6))),
        ("d", Value::Double(rng.random_range(-1e300..1e300))),
        (
            "by",
            Value::Bytes((0..rng.random_range(0..20)).map(|_| rng.random()).collect()),
        ),
        ("s", Value::String(text(rng))),
        ("fx", Value::Fixed(4, vec![1, 2, 3, 4])),
        ("e", color(rng.random_range(0..3))),
        ("arr", Value::Array(items)),
        ("m", Value::Map(map)),
        (
            "u3",
            match rng.random_range(0..3) {
                0 => Value::Union(0, Box::new(Value::Null)),
                1 => Value::Union(1, Box::new(Value::Long(long(rng)))),
                _ => Value::Union(2, Box::new(Value::String(text(rng)))),
            },
        ),
        ("ns1", null_or(rng.random(), 0, 1, Value::String(text(rng)))),
        ("ns2", null_or(rng.random(), 1, 0, Value::String(text(rng)))),
        (
            "ne",
            null_or(rng.random(), 0, 1, color(rng.random_range(0..3))),
        ),
        (
            "ts",
            Value::TimestampMicros(rng.random_range(-1i64 << 60..1 << 60)),
        ),
        ("inner", inner(rng)),
        ("maybe", null_or(rng.random(), 0, 1, inner(rng))),
        (
            "fxu",
            null_or(rng.random(), 0, 1, Value::Fixed(4, vec![9; 4])),
        ),
        ("after", Value::String(text(rng))),
    ])
}

#[test]
fn kitchen_sink_matches_apache_avro() {
    let mut p = projection("s", "ts", SINK_FIELDS);
    p.sequence = Some(path("i"));
    let plan = compile(KITCHEN_SINK, &p);
    let schema = apache_avro::Schema::parse_str(KITCHEN_SINK).unwrap();
    let oracle = apache_avro::reader::datum::GenericDatumReader::builder(&schema)
        .build()
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut out = DecodedEvent::default();
    let (mut null_maybe, mut some_maybe) = (0, 0);
    for _ in 0..500 {
        let datum = encode(KITCHEN_SINK, &random_sink(&mut rng));
        let truth = oracle.read_value(&mut datum.as_slice()).unwrap();
        // The same buffer is reused: every field must be overwritten.
        plan.decode(&datum, &mut out).unwrap();
        let expected: Vec<FieldValue> = SINK_FIELDS
            .iter()
            .map(|(p, _)| expected_field(lookup(&truth, &p.split('.').collect::<Vec<_>>())))
            .collect();
        assert_eq!(out.record.fields.as_slice(), expected.as_slice());
        let Some(Value::String(key)) = lookup(&truth, &["s"]) else {
            panic!("key")
        };
        assert_eq!(out.session_key.as_str(), key);
        let Some(Value::TimestampMicros(us)) = lookup(&truth, &["ts"]) else {
            panic!("ts")
        };
        assert_eq!(
            out.record.time,
            us.div_euclid(1000),
            "micros from the logical type → millis"
        );
        let Some(Value::Int(seq)) = lookup(&truth, &["i"]) else {
            panic!("i")
        };
        assert_eq!(out.record.sequence, Some(i64::from(*seq)));
        match lookup(&truth, &["maybe"]) {
            Some(Value::Union(0, _)) => null_maybe += 1,
            _ => some_maybe += 1,
        }
    }
    assert!(
        null_maybe > 100 && some_maybe > 100,
        "both branches of the nullable record ran"
    );
}

#[test]
fn unprojected_schema_decodes_by_skipping_everything() {
    let plan = compile(KITCHEN_SINK, &projection("after", "l", &[]));
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..200 {
        let v = random_sink(&mut rng);
        let decoded = decode(&plan, &encode(KITCHEN_SINK, &v));
        let Some(Value::Long(time)) = lookup(&v, &["l"]) else {
            panic!()
        };
        if time.unsigned_abs() >= MAX_ABS_TIME.unsigned_abs() {
            assert_eq!(decoded.unwrap_err().reason(), "time_out_of_range");
            continue;
        }
        let out = decoded.unwrap();
        let Some(Value::String(after)) = lookup(&v, &["after"]) else {
            panic!()
        };
        assert_eq!(out.session_key.as_str(), after);
        assert_eq!(out.record.time, *time);
        assert!(out.record.fields.is_empty());
    }
}

#[test]
fn integer_session_keys_and_float_times_convert() {
    let json = r#"{"type":"record","name":"R","fields":[
        {"name":"id","type":"long"},{"name":"t","type":"double"},{"name":"i","type":"int"}]}"#;
    let mut p = projection("id", "t", &[]);
    p.time_unit = Some(spanflow_engine::TimeUnit::Seconds);
    let plan = compile(json, &p);
    let v = record(vec![
        ("id", Value::Long(-42)),
        ("t", Value::Double(1.5)),
        ("i", Value::Int(3)),
    ]);
    let out = decode(&plan, &encode(json, &v)).unwrap();
    assert_eq!(out.session_key.as_str(), "-42");
    assert_eq!(out.record.time, 1500);
    let plan = compile(json, &projection("i", "t", &[("id", ValueType::F64)]));
    let big = record(vec![
        ("id", Value::Long((1 << 53) + 1)),
        ("t", Value::Double(0.0)),
        ("i", Value::Int(7)),
    ]);
    let out = decode(&plan, &encode(json, &big)).unwrap();
    assert_eq!(out.session_key.as_str(), "7");
    assert_eq!(
        out.record.fields[0],
        FieldValue::F64(9007199254740992.0),
        "longs beyond 2^53 round"
    );
}

fn heartbeat_fields() -> Vec<(&'static str, ValueType)> {
    vec![
        ("playerState", ValueType::Str),
        ("cdn", ValueType::Str),
        ("bitrateKbps", ValueType::F64),
        ("network", ValueType::Str),
        ("userAction", ValueType::Str),
        ("device.os", ValueType::Str),
        ("bufferLengthSec", ValueType::F64),
    ]
}

pub(super) fn heartbeat_plan() -> DecodePlan {
    let mut p = projection("sessionId", "timestamp", &heartbeat_fields());
    p.sequence = Some(path("seq"));
    p.record_name = Some("io.spanflow.video.Heartbeat".into());
    compile(HEARTBEAT_SCHEMA, &p)
}

fn expected_heartbeat(h: &Heartbeat) -> Vec<FieldValue> {
    let s = |v: &Option<String>| {
        v.as_deref()
            .map_or(FieldValue::Null, |s| FieldValue::Str(s.into()))
    };
    vec![
        s(&h.player_state),
        s(&h.cdn),
        h.bitrate_kbps
            .map_or(FieldValue::Null, |b| FieldValue::F64(b.into())),
        s(&h.network),
        h.user_action
            .map_or(FieldValue::Null, |a| FieldValue::Str(a.symbol().into())),
        FieldValue::Str(h.device.os.as_str().into()),
        h.buffer_length_sec
            .map_or(FieldValue::Null, FieldValue::F64),
    ]
}

fn arb_heartbeat() -> impl Strategy<Value = Heartbeat> {
    let opt_str = || proptest::option::of(".{0,40}");
    let action = prop_oneof![
        Just(UserAction::Seek),
        Just(UserAction::Click),
        Just(UserAction::Skip)
    ];
    (
        (
            ".{0,50}",
            // Event times beyond ±MAX_ABS_TIME are rejected (see `malformed.rs`).
            (1 - MAX_ABS_TIME)..MAX_ABS_TIME,
            any::<i64>(),
            opt_str(),
            opt_str(),
            proptest::option::of(any::<i32>()),
        ),
        (
            opt_str(),
            proptest::option::of(action),
            (".{0,20}", ".{0,20}"),
            proptest::option::of(
                any::<f64>().prop_filter("NaN never equals itself", |f| !f.is_nan()),
            ),
            proptest::collection::btree_map(".{0,10}", ".{0,30}", 0..6),
        ),
    )
        .prop_map(
            |((session_id, timestamp, seq, player_state, cdn, bitrate_kbps), rest)| {
                let (network, user_action, (os, model), buffer_length_sec, tags) = rest;
                Heartbeat {
                    session_id,
                    timestamp,
                    seq,
                    player_state,
                    cdn,
                    bitrate_kbps,
                    network,
                    user_action,
                    device: Device { os, model },
                    buffer_length_sec,
                    tags,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_heartbeats_round_trip(h in arb_heartbeat()) {
        let plan = heartbeat_plan();
        let datum = &encode_datums(HEARTBEAT_SCHEMA, std::slice::from_ref(&h)).unwrap()[0];
        let out = decode(&plan, datum).unwrap();
        prop_assert_eq!(out.session_key.as_str(), h.session_id.as_str());
        prop_assert_eq!(out.record.time, h.timestamp);
        prop_assert_eq!(out.record.sequence, Some(h.seq));
        prop_assert_eq!(out.record.fields.to_vec(), expected_heartbeat(&h));
    }
}

#[test]
fn generated_heartbeats_round_trip() {
    let events = crate::generate::video_sessions(&crate::generate::GenConfig::default());
    let plan = heartbeat_plan();
    let mut out = DecodedEvent::default();
    for (h, datum) in events
        .iter()
        .zip(encode_datums(HEARTBEAT_SCHEMA, &events).unwrap())
    {
        plan.decode(&datum, &mut out).unwrap();
        assert_eq!(out.session_key.as_str(), h.session_id);
        assert_eq!(
            (out.record.time, out.record.sequence),
            (h.timestamp, Some(h.seq))
        );
        assert_eq!(out.record.fields.to_vec(), expected_heartbeat(h));
    }
}
