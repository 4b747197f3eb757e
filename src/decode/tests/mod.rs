//! Tests of the decode layer against apache-avro as the oracle, on malformed input, on
//! compile-time checks and on files.

mod compile;
mod differential;
mod files;
mod malformed;
mod oracle;
mod resolution;
mod store;

use super::{DecodePlan, DecodedEvent, FieldPath, Projection, SchemaSource};
use apache_avro::types::Value;
use spanflow_engine::{FieldValue, ValueType};

pub(super) fn path(s: &str) -> FieldPath {
    s.parse().expect("valid test path")
}

pub(super) fn schema(json: &str) -> SchemaSource {
    SchemaSource::parse(json, "test").expect("valid test schema")
}

pub(super) fn projection(key: &str, time: &str, fields: &[(&str, ValueType)]) -> Projection {
    let mut p = Projection::new(path(key), path(time));
    for (f, t) in fields {
        p.push_field(path(f), *t);
    }
    p
}

pub(super) fn compile(json: &str, p: &Projection) -> DecodePlan {
    DecodePlan::compile(&schema(json), p).expect("projection fits the schema")
}

/// Encodes `v` with apache-avro.
pub(super) fn encode(json: &str, v: &Value) -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(json).expect("apache-avro parses the schema");
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .expect("writer");
    let mut out = Vec::new();
    writer
        .write_value_ref(&mut out, v)
        .expect("apache-avro encodes the value");
    out
}

pub(super) fn decode(plan: &DecodePlan, datum: &[u8]) -> Result<DecodedEvent, super::DecodeError> {
    let mut out = DecodedEvent::default();
    plan.decode(datum, &mut out).map(|()| out)
}

/// A record value from `(name, value)` pairs.
pub(super) fn record(fields: Vec<(&str, Value)>) -> Value {
    Value::Record(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// The value at `path` in an apache-avro record value; `None` when a record on the way is null.
pub(super) fn lookup<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        while let Value::Union(_, inner) = cur {
            cur = inner;
        }
        match cur {
            Value::Record(fields) => cur = &fields.iter().find(|(k, _)| k == seg)?.1,
            _ => return None,
        }
    }
    Some(cur)
}

/// What our decoder should produce for an apache-avro value.
pub(super) fn expected_field(v: Option<&Value>) -> FieldValue {
    match v {
        None | Some(Value::Null) => FieldValue::Null,
        Some(Value::Union(_, inner)) => expected_field(Some(inner)),
        Some(Value::Boolean(b)) => FieldValue::Bool(*b),
        Some(Value::Int(i)) => FieldValue::F64(f64::from(*i)),
        Some(
            Value::Long(l)
            | Value::TimestampMillis(l)
            | Value::TimestampMicros(l)
            | Value::TimestampNanos(l),
        ) => FieldValue::F64(*l as f64),
        Some(Value::Float(f)) => FieldValue::F64(f64::from(*f)),
        Some(Value::Double(d)) => FieldValue::F64(*d),
        Some(Value::String(s) | Value::Enum(_, s)) => FieldValue::Str(s.as_str().into()),
        Some(other) => panic!("not a projectable test value: {other:?}"),
    }
}
