//! Decoding Confluent-framed heartbeats into engine records: our schema-compiled projection
//! against apache-avro's generic path (a `Value` tree, then picking the same fields).

use apache_avro::types::Value;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spanflow::decode::{
    split_confluent, write_confluent_header, DecodedEvent, DirFetcher, FieldPath, Projection,
    SchemaStore,
};
use spanflow::generate::{encode_datums, video_sessions, GenConfig, HEARTBEAT_SCHEMA};
use spanflow_engine::{FieldValue, Str, ValueType};
use std::hint::black_box;

/// The projection of a typical video spec: key, time, sequence and seven fields.
const FIELDS: [(&str, ValueType); 7] = [
    ("playerState", ValueType::Str),
    ("cdn", ValueType::Str),
    ("bitrateKbps", ValueType::F64),
    ("network", ValueType::Str),
    ("userAction", ValueType::Str),
    ("device.os", ValueType::Str),
    ("bufferLengthSec", ValueType::F64),
];

fn path(s: &str) -> FieldPath {
    s.parse().expect("valid path")
}

fn projection() -> Projection {
    let mut p = Projection::new(path("sessionId"), path("timestamp"));
    p.sequence = Some(path("seq"));
    for (f, t) in FIELDS {
        p.push_field(path(f), t);
    }
    p
}

fn messages() -> Vec<Vec<u8>> {
    let config = GenConfig {
        sessions: 200,
        events_per_session: 100,
        ..GenConfig::default()
    };
    let events = video_sessions(&config);
    encode_datums(HEARTBEAT_SCHEMA, &events)
        .expect("encodable")
        .into_iter()
        .map(|d| {
            let mut m = Vec::with_capacity(d.len() + 5);
            write_confluent_header(1, &mut m);
            m.extend_from_slice(&d);
            m
        })
        .collect()
}

/// The value at `path`, through nullable unions.
fn lookup<'a>(mut v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    for seg in path {
        if let Value::Union(_, inner) = v {
            v = inner;
        }
        let Value::Record(fields) = v else {
            return None;
        };
        v = &fields.iter().find(|(k, _)| k == seg)?.1;
    }
    Some(v)
}

fn to_field(v: Option<&Value>) -> FieldValue {
    match v {
        Some(Value::Union(_, inner)) => to_field(Some(inner)),
        Some(Value::Int(i)) => FieldValue::F64(f64::from(*i)),
        Some(Value::Long(l) | Value::TimestampMillis(l)) => FieldValue::F64(*l as f64),
        Some(Value::Double(d)) => FieldValue::F64(*d),
        Some(Value::String(s) | Value::Enum(_, s)) => FieldValue::Str(Str::from(s.as_str())),
        _ => FieldValue::Null,
    }
}

/// What an apache-avro based pipeline does per message: decode a `Value`, pick the fields.
fn extract(value: &Value, paths: &[Vec<&str>], out: &mut DecodedEvent) {
    if let Some(Value::String(k)) = lookup(value, &["sessionId"]) {
        out.session_key = Str::from(k.as_str());
    }
    if let Some(Value::TimestampMillis(t)) = lookup(value, &["timestamp"]) {
        out.record.time = *t;
    }
    if let Some(Value::Long(s)) = lookup(value, &["seq"]) {
        out.record.sequence = Some(*s);
    }
    out.record.fields.clear();
    out.record
        .fields
        .extend(paths.iter().map(|p| to_field(lookup(value, p))));
}

fn bench(c: &mut Criterion) {
    let messages = messages();
    let registry = DirFetcher::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/avro/registry"
    )))
    .expect("the fixture registry loads");
    let mut store = SchemaStore::new(projection(), registry);
    let schema = apache_avro::Schema::parse_str(HEARTBEAT_SCHEMA).expect("schema");
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&schema)
        .build()
        .expect("reader");
    let paths: Vec<Vec<&str>> = FIELDS.iter().map(|(p, _)| p.split('.').collect()).collect();

    // Both paths must produce the same records, or the comparison is meaningless.
    let (mut ours, mut theirs) = (DecodedEvent::default(), DecodedEvent::default());
    for m in &messages {
        store.decode(m, &mut ours).expect("decodes");
        let (_, datum) = split_confluent(m).expect("framed");
        let value = reader
            .read_value(&mut &datum[..])
            .expect("apache-avro decodes");
        extract(&value, &paths, &mut theirs);
        assert_eq!(ours, theirs);
    }

    let mut group = c.benchmark_group("decode_heartbeat");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("spanflow_projection", |b| {
        let mut out = DecodedEvent::default();
        b.iter(|| {
            for m in &messages {
                store.decode(black_box(m), &mut out).expect("decodes");
            }
            black_box(&out);
        })
    });
    group.bench_function("apache_avro_value_reused_reader", |b| {
        let mut out = DecodedEvent::default();
        b.iter(|| {
            for m in &messages {
                let (_, datum) = split_confluent(black_box(m)).expect("framed");
                let value = reader.read_value(&mut &datum[..]).expect("decodes");
                extract(&value, &paths, &mut out);
            }
            black_box(&out);
        })
    });
    group.bench_function("apache_avro_from_avro_datum", |b| {
        let mut out = DecodedEvent::default();
        b.iter(|| {
            for m in &messages {
                let (_, datum) = split_confluent(black_box(m)).expect("framed");
                #[allow(deprecated)]
                let value =
                    apache_avro::from_avro_datum(&schema, &mut &datum[..], None).expect("decodes");
                extract(&value, &paths, &mut out);
            }
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
