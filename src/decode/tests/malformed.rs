//! Malformed datums: every failure is a specific error, never a panic.

use super::*;
use crate::decode::{DecodeError, MalformedKind};
use crate::generate::{encode_datums, video_sessions, GenConfig, HEARTBEAT_SCHEMA};
use proptest::prelude::*;

const SCHEMA: &str = r#"{"type":"record","name":"M","fields":[
  {"name":"k","type":"string"},
  {"name":"t","type":"long"},
  {"name":"u","type":["null","string"]},
  {"name":"e","type":{"type":"enum","name":"E","symbols":["a","b"]}},
  {"name":"flag","type":"boolean"},
  {"name":"skipped","type":{"type":"map","values":"string"}}
]}"#;

/// k = "ab", t = 5, u = null, e = b, flag = true, skipped = {}.
const GOOD: [u8; 8] = [4, b'a', b'b', 10, 0, 2, 1, 0];

fn plan() -> DecodePlan {
    compile(
        SCHEMA,
        &projection(
            "k",
            "t",
            &[
                ("u", ValueType::Str),
                ("e", ValueType::Str),
                ("flag", ValueType::Bool),
            ],
        ),
    )
}

/// Decodes `datum`, expecting a malformed-datum error; returns (kind, field, offset).
fn malformed(datum: &[u8]) -> (MalformedKind, Option<String>, usize) {
    match decode(&plan(), datum) {
        Err(DecodeError::Malformed(m)) => (m.kind, m.field, m.offset),
        other => panic!("expected a malformed-datum error for {datum:?}, got {other:?}"),
    }
}

fn with(at: usize, replace: usize, bytes: &[u8]) -> Vec<u8> {
    let mut d = GOOD.to_vec();
    d.splice(at..at + replace, bytes.iter().copied());
    d
}

#[test]
fn the_reference_datum_is_valid() {
    let out = decode(&plan(), &GOOD).unwrap();
    assert_eq!(out.session_key.as_str(), "ab");
    assert_eq!(out.record.time, 5);
    assert_eq!(
        out.record.fields.as_slice(),
        [
            FieldValue::Null,
            FieldValue::Str("b".into()),
            FieldValue::Bool(true)
        ]
    );
}

#[test]
fn every_truncation_is_reported_as_truncated() {
    for cut in 0..GOOD.len() {
        let (kind, _, offset) = malformed(&GOOD[..cut]);
        assert_eq!(kind, MalformedKind::Truncated, "cut at {cut}");
        assert!(offset <= cut);
    }
    let datum = &encode_datums(
        HEARTBEAT_SCHEMA,
        &video_sessions(&GenConfig::default())[..1],
    )
    .unwrap()[0];
    let plan = super::oracle::heartbeat_plan();
    for cut in 0..datum.len() {
        let err = decode(&plan, &datum[..cut]).expect_err("a strict prefix is never a whole datum");
        assert_eq!(err.reason(), "truncated", "cut at {cut}: {err}");
    }
}

#[test]
fn invalid_union_indexes_are_reported_with_their_field() {
    assert_eq!(
        malformed(&with(4, 1, &[4])),
        (MalformedKind::InvalidUnionIndex, Some("u".into()), 5)
    );
    assert_eq!(
        malformed(&with(4, 1, &[1])).0,
        MalformedKind::InvalidUnionIndex,
        "negative index"
    );
}

#[test]
fn bad_lengths_are_reported() {
    assert_eq!(
        malformed(&with(0, 3, &[1])),
        (MalformedKind::InvalidLength, Some("k".into()), 1)
    );
    // 2^31 bytes announced, 7 present.
    let (kind, field, _) = malformed(&with(0, 3, &[0x80, 0x80, 0x80, 0x80, 0x10]));
    assert_eq!(
        (kind, field.as_deref()),
        (MalformedKind::Truncated, Some("k"))
    );
    // A skipped map whose block byte size is negative.
    assert_eq!(
        malformed(&with(7, 1, &[1, 1])).0,
        MalformedKind::InvalidLength
    );
    // A skipped map announcing 2^21 entries.
    let (kind, field, _) = malformed(&with(7, 1, &[0x80, 0x80, 0x80, 0x02]));
    assert_eq!(
        (kind, field.as_deref()),
        (MalformedKind::TooManyItems, Some("skipped"))
    );
}

#[test]
fn invalid_utf8_enum_and_bool_bytes_are_reported() {
    assert_eq!(
        malformed(&with(1, 2, &[0xff, 0xfe])).0,
        MalformedKind::InvalidUtf8
    );
    assert_eq!(
        malformed(&with(5, 1, &[6])),
        (MalformedKind::InvalidEnumIndex, Some("e".into()), 6)
    );
    assert_eq!(malformed(&with(6, 1, &[2])).0, MalformedKind::InvalidBool);
}

#[test]
fn trailing_bytes_are_reported() {
    let mut d = GOOD.to_vec();
    d.extend_from_slice(&[0, 0]);
    let (kind, field, offset) = malformed(&d);
    assert_eq!(
        (kind, field, offset),
        (MalformedKind::TrailingBytes, None, 8)
    );
}

#[test]
fn nesting_beyond_the_depth_limit_is_an_error_not_a_stack_overflow() {
    let json = r#"{"type":"record","name":"L","fields":[
        {"name":"k","type":"string"},{"name":"t","type":"long"},{"name":"next","type":["null","L"]}]}"#;
    let plan = compile(json, &projection("k", "t", &[]));
    let mut datum = Vec::new();
    for _ in 0..10_000 {
        datum.extend_from_slice(&[0, 0, 2]); // k = "", t = 0, next = branch 1
    }
    datum.extend_from_slice(&[0, 0, 0]);
    let Err(DecodeError::Malformed(m)) = decode(&plan, &datum) else {
        panic!("expected an error")
    };
    assert_eq!(m.kind, MalformedKind::TooDeep);
    // The error names the path into the skipped value down to where the limit was hit.
    let field = m.field.unwrap_or_default();
    assert!(field.starts_with("next.next.next."), "{field}");
    assert_eq!(
        field.matches("next").count(),
        32,
        "a record and a union per level, 64 levels"
    );
}

#[test]
fn null_keys_and_times_and_out_of_range_times_are_value_errors() {
    let json = r#"{"type":"record","name":"N","fields":[
        {"name":"k","type":["null","string"]},{"name":"t","type":["null","long"]},
        {"name":"r","type":["null",{"type":"record","name":"In","fields":[{"name":"x","type":"string"}]}]}]}"#;
    let plan = compile(json, &projection("k", "t", &[]));
    let err = decode(&plan, &[0, 2, 2, 0]).unwrap_err();
    assert!(
        matches!(&err, DecodeError::MissingSessionKey(p) if p.to_string() == "k"),
        "{err}"
    );
    let err = decode(&plan, &[2, 2, b'x', 0, 0]).unwrap_err();
    assert!(
        matches!(&err, DecodeError::MissingTime(p) if p.to_string() == "t"),
        "{err}"
    );
    let mut p = projection("k", "t", &[]);
    p.time_unit = Some(spanflow_engine::TimeUnit::Seconds);
    let plan_s = compile(json, &p);
    // t = i64::MAX seconds does not fit milliseconds.
    let mut datum = vec![2, 2, b'x', 2];
    datum.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    datum.push(0);
    let err = decode(&plan_s, &datum).unwrap_err();
    assert_eq!(err.reason(), "time_out_of_range", "{err}");
    // The session key inside a null record.
    let plan_r = compile(json, &projection("r.x", "t", &[("k", ValueType::Str)]));
    let err = decode(&plan_r, &[0, 2, 2, 0]).unwrap_err();
    assert_eq!(err.reason(), "missing_session_key");
    let ok = decode(&plan_r, &[0, 2, 2, 2, 2, b'y']).unwrap();
    assert_eq!(
        (ok.session_key.as_str(), ok.record.field(0)),
        ("y", &FieldValue::Null)
    );
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(&plan(), &bytes);
        let _ = decode(&super::oracle::heartbeat_plan(), &bytes);
    }

    #[test]
    fn corrupted_heartbeats_never_panic(i in 0usize..40, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let events = video_sessions(&GenConfig { sessions: 2, events_per_session: 20, ..GenConfig::default() });
        let mut datum = encode_datums(HEARTBEAT_SCHEMA, &events[i..=i]).unwrap().remove(0);
        for (at, byte) in flips {
            let n = datum.len();
            datum[at % n] = byte;
        }
        if let Err(e) = decode(&super::oracle::heartbeat_plan(), &datum) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}
