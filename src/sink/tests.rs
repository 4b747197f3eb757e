//! The Kafka sink against librdkafka's mock cluster and a wiremock Schema Registry (served by
//! a tokio runtime of the test's own; the registry client blocks, so sinks are built from the
//! test thread, as the pipeline builds them before its runtime writes).

use super::*;
use crate::registry::{RegistryClient, RegistryConfig};
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::Schema;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::Message;
use serde_json::json;
use spanflow_engine::Scalar;
use spanflow_operators::spec::{KafkaSinkSpec, SubjectStrategy};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Three column types, nulls (the CDN is unknown before its first update), names that need
/// sanitising, and two outputs on two topics.
const SPEC: &str = r#"
name: kafka-sink test
input: { session_key: k, time: t }
nodes:
  - { id: events, op: event_source }
  - { id: x, op: get, inputs: [events], with: { field: x, type: f64 } }
  - { id: total, op: cumulative_sum, inputs: [x] }
  - { id: cdn_updates, op: get, inputs: [events], with: { field: cdn, type: string } }
  - { id: cdn, op: latest_event_to_state, inputs: [cdn_updates] }
  - { id: on_cdn1, op: equals, inputs: [cdn], with: { value: CDN1 } }
outputs:
  - name: per_event
    evaluate_at: every_event
    columns: [total, cdn, on_cdn1]
    sink: { kafka: { topic: rows } }
  - name: 1st-total
    evaluate_at: session_end
    columns: [total]
    sink: { kafka: { topic: ends, subject_strategy: record_name } }
"#;

fn program() -> Program {
    Program::parse(SPEC, None).unwrap_or_else(|e| panic!("{e:?}"))
}

/// A mock registry answering every registration with `{"id": 42}` (or `reply`).
struct Registry {
    server: Option<MockServer>,
    rt: tokio::runtime::Runtime,
}

impl Registry {
    fn start(reply: ResponseTemplate) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        rt.block_on(
            Mock::given(method("POST"))
                .and(path_regex(r"^/subjects/[^/]+/versions$"))
                .respond_with(reply)
                .mount(&server),
        );
        Registry {
            server: Some(server),
            rt,
        }
    }

    fn ok() -> Self {
        Self::start(ResponseTemplate::new(200).set_body_json(json!({ "id": 42 })))
    }

    fn client(&self) -> RegistryClient {
        let mut c = RegistryConfig::new(self.server.as_ref().unwrap().uri());
        c.backoff = Duration::from_millis(1);
        c.max_backoff = Duration::from_millis(5);
        RegistryClient::new(&c).unwrap()
    }

    /// (path, the `schema` of the body) of every request received.
    fn registrations(&self) -> Vec<(String, String)> {
        let requests = self
            .rt
            .block_on(self.server.as_ref().unwrap().received_requests())
            .unwrap();
        requests
            .iter()
            .map(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                (
                    r.url.path().to_owned(),
                    body["schema"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        drop(self.server.take());
    }
}

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

fn row(output: usize, session: &str, time: i64, values: Vec<Option<Scalar>>) -> SinkRow {
    SinkRow {
        session: session.into(),
        row: Row {
            output,
            time,
            values: values.into_iter().collect(),
        },
    }
}

fn f(x: f64) -> Option<Scalar> {
    Some(Scalar::F64(x))
}

fn s(x: &str) -> Option<Scalar> {
    Some(Scalar::Str(x.into()))
}

fn b(x: bool) -> Option<Scalar> {
    Some(Scalar::Bool(x))
}

/// The record a row should decode to.
fn expected(fields: &[&str], r: &SinkRow) -> Value {
    let mut record = vec![
        ("session".to_owned(), Value::String(r.session.to_string())),
        ("time".to_owned(), Value::TimestampMillis(r.row.time)),
    ];
    for (name, v) in fields.iter().zip(&r.row.values) {
        let v = match v {
            None => Value::Union(0, Box::new(Value::Null)),
            Some(Scalar::F64(x)) => Value::Union(1, Box::new(Value::Double(*x))),
            Some(Scalar::Bool(x)) => Value::Union(1, Box::new(Value::Boolean(*x))),
            Some(Scalar::Str(x)) => Value::Union(1, Box::new(Value::String(x.to_string()))),
        };
        record.push(((*name).to_owned(), v));
    }
    Value::Record(record)
}

/// Polls `topics` from the start until `n` messages arrived: (topic, partition, key, payload).
fn consume(bootstrap: &str, topics: &[&str], n: usize) -> Vec<(String, i32, Vec<u8>, Vec<u8>)> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", "kafka-sink-test")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(topics).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} messages arrived",
            got.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => got.push((
                m.topic().to_owned(),
                m.partition(),
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
            )),
            Some(Err(e)) => panic!("consuming failed: {e}"),
            None => {}
        }
    }
    got
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn rows_round_trip_through_kafka() {
    let program = program();
    let registry = Registry::ok();
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("rows", 3, 1).unwrap();
    cluster.create_topic("ends", 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let sink = Sink::Kafka(
        KafkaSink::for_program(&program, &registry.client(), &client_config(&bootstrap)).unwrap(),
    );
    let Sink::Kafka(kafka) = &sink else {
        unreachable!()
    };
    assert_eq!(kafka.schema_id(0), Some(42));
    assert_eq!(kafka.topic(1), Some("ends"));

    let rows = vec![
        row(0, "a", 1_000, vec![f(1.5), None, None]),
        row(0, "b", 1_500, vec![f(-2.0), s("CDN2"), b(false)]),
        row(0, "a", 2_000, vec![f(3.0), s("CDN1"), b(true)]),
        row(0, "c", 2_500, vec![None, s(""), b(false)]),
        row(0, "a", 3_000, vec![f(f64::MAX), s("CDN1 é"), b(true)]),
        row(0, "b", 4_000, vec![f(0.25), None, None]),
        row(1, "a", 9_000, vec![f(7.5)]),
        row(1, "b", 9_500, vec![None]),
    ];
    for r in &rows {
        registry
            .rt
            .block_on(assert_send(sink.write(r)))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    registry.rt.block_on(sink.flush()).unwrap();

    // What the registry got: one schema per output, under the strategy's subject.
    let registered: BTreeMap<String, String> = registry.registrations().into_iter().collect();
    let meta = OutputsMeta::of(&program);
    let per_event = OutputSchema::of(&meta, 0).unwrap();
    let at_end = OutputSchema::of(&meta, 1).unwrap();
    assert_eq!(at_end.full_name, "spanflow.kafka_sink_test._1st_total");
    assert_eq!(
        registered,
        BTreeMap::from([
            (
                "/subjects/rows-value/versions".into(),
                per_event.json.clone()
            ),
            (
                "/subjects/spanflow.kafka_sink_test._1st_total/versions".into(),
                at_end.json.clone()
            ),
        ])
    );

    // Read back: keys, headers, datums, and per-session order within one partition.
    let got = consume(&bootstrap, &["rows", "ends"], rows.len());
    let schemas = [
        Schema::parse_str(&registered["/subjects/rows-value/versions"]).unwrap(),
        Schema::parse_str(&registered["/subjects/spanflow.kafka_sink_test._1st_total/versions"])
            .unwrap(),
    ];
    let mut decoded: Vec<(usize, String, i32, Value)> = Vec::new();
    for (topic, partition, key, payload) in got {
        let output = if topic == "rows" { 0 } else { 1 };
        assert_eq!(&payload[..5], &[0, 0, 0, 0, 42], "Confluent header");
        let reader = GenericDatumReader::builder(&schemas[output])
            .build()
            .unwrap();
        let mut datum = &payload[5..];
        let value = reader.read_value(&mut datum).unwrap();
        assert!(datum.is_empty(), "trailing bytes after the datum");
        decoded.push((output, String::from_utf8(key).unwrap(), partition, value));
    }
    let fields = [per_event.fields.clone(), at_end.fields.clone()];
    assert_eq!(fields[0], ["total", "cdn", "on_cdn1"]);
    for r in &rows {
        let names: Vec<&str> = fields[r.row.output].iter().map(String::as_str).collect();
        let want = expected(&names, r);
        assert!(
            decoded
                .iter()
                .any(|(o, k, _, v)| *o == r.row.output && k == r.session.as_str() && *v == want),
            "row {r:?} not found in {decoded:#?}"
        );
    }
    // A session's rows share a partition and arrive in the order written.
    for session in ["a", "b"] {
        let mine: Vec<_> = decoded
            .iter()
            .filter(|(o, k, _, _)| *o == 0 && k == session)
            .collect();
        assert!(mine.iter().all(|(_, _, p, _)| *p == mine[0].2));
        let want: Vec<Value> = rows
            .iter()
            .filter(|r| r.row.output == 0 && r.session.as_str() == session)
            .map(|r| expected(&["total", "cdn", "on_cdn1"], r))
            .collect();
        let order: Vec<Value> = mine.iter().map(|(_, _, _, v)| v.clone()).collect();
        assert_eq!(order, want);
    }
}

#[test]
fn subjects_follow_the_strategy() {
    let program = program();
    let meta = OutputsMeta::of(&program);
    let registry = Registry::ok();
    let client = registry.client();
    let full = "spanflow.kafka_sink_test.per_event";
    for (strategy, subject) in [
        (SubjectStrategy::TopicName, "rows-value".to_owned()),
        (SubjectStrategy::RecordName, full.to_owned()),
        (SubjectStrategy::TopicRecordName, format!("rows-{full}")),
    ] {
        let spec = KafkaSinkSpec {
            topic: "rows".into(),
            subject_strategy: strategy,
        };
        let sink =
            KafkaSink::new(&meta, &[(0, spec)], &client, &client_config("localhost:1")).unwrap();
        assert_eq!(sink.schema_id(0), Some(42));
        assert_eq!(sink.schema_id(1), None);
        let (path, _) = registry.registrations().pop().unwrap();
        assert_eq!(
            path,
            format!("/subjects/{subject}/versions"),
            "{strategy:?}"
        );
    }
    assert_eq!(registry.registrations().len(), 3);
}

#[test]
fn a_refused_registration_is_a_clear_startup_error() {
    let registry = Registry::start(ResponseTemplate::new(409).set_body_json(json!({
        "error_code": 409,
        "message": "Schema being registered is incompatible with an earlier schema",
    })));
    let e = KafkaSink::for_program(
        &program(),
        &registry.client(),
        &client_config("localhost:1"),
    )
    .unwrap_err();
    assert!(matches!(e, KafkaSinkError::Registration { .. }), "{e:?}");
    let message = e.to_string();
    for part in [
        "output `per_event`",
        "topic `rows`",
        "subject `rows-value`",
        "incompatible",
        "HTTP 409",
        "Schema being registered is incompatible with an earlier schema",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
}

/// A sink on output 0 of `program` (topic `rows`) with a fast-failing producer.
fn failing_sink(registry: &Registry, bootstrap: &str, settings: &[(&str, &str)]) -> KafkaSink {
    let mut config = client_config(bootstrap);
    config.set("message.timeout.ms", "1500");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let spec = KafkaSinkSpec {
        topic: "rows".into(),
        subject_strategy: SubjectStrategy::TopicName,
    };
    KafkaSink::new(
        &OutputsMeta::of(&program()),
        &[(0, spec)],
        &registry.client(),
        &config,
    )
    .unwrap()
}

fn write_with_deadline(registry: &Registry, sink: &KafkaSink, r: &SinkRow) -> SinkError {
    let started = Instant::now();
    let result = registry.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), sink.write(r))
            .await
            .expect("the write hung")
    });
    let e = result.expect_err("the write should fail");
    assert!(started.elapsed() < Duration::from_secs(30));
    e
}

#[test]
fn a_down_broker_fails_the_write_retryably() {
    let registry = Registry::ok();
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("rows", 1, 1).unwrap();
    cluster.broker_down(1).unwrap();
    let sink = failing_sink(&registry, &cluster.bootstrap_servers(), &[]);
    let e = write_with_deadline(&registry, &sink, &row(0, "a", 1, vec![f(1.0), None, None]));
    assert!(e.retryable, "{e}");
    assert_eq!(e.sink, "kafka topic rows");
    assert!(e.message.contains("session `a`"), "{e}");
    assert!(e.message.contains("timed out"), "{e}");
}

#[test]
fn a_denied_topic_fails_the_write_for_good() {
    let registry = Registry::ok();
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("rows", 1, 1).unwrap();
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED],
    );
    let sink = failing_sink(&registry, &cluster.bootstrap_servers(), &[]);
    let e = write_with_deadline(&registry, &sink, &row(0, "a", 1, vec![f(1.0), None, None]));
    assert!(!e.retryable, "{e}");
    assert!(e.message.contains("authoriz"), "{e}");
}

#[test]
fn a_message_too_large_fails_the_write_for_good() {
    let registry = Registry::ok();
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("rows", 1, 1).unwrap();
    let sink = failing_sink(
        &registry,
        &cluster.bootstrap_servers(),
        &[("message.max.bytes", "1000")],
    );
    let big = "x".repeat(5000);
    let e = write_with_deadline(&registry, &sink, &row(0, &big, 1, vec![None, None, None]));
    assert!(!e.retryable, "{e}");
    assert!(e.message.contains("too large"), "{e}");
    assert!(e.message.len() < 300, "the session key is shortened: {e}");
}

#[test]
fn bad_rows_are_rejected_before_producing() {
    let registry = Registry::ok();
    let sink = failing_sink(&registry, "localhost:1", &[]);
    // Output 1 is not routed to this sink.
    let e = registry
        .rt
        .block_on(sink.write(&row(1, "a", 1, vec![None])))
        .unwrap_err();
    assert!(!e.retryable);
    assert!(e.message.contains("not routed"), "{e}");
    // A string in a numeric column.
    let e = registry
        .rt
        .block_on(sink.write(&row(0, "a", 1, vec![s("1"), None, None])))
        .unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.message
            .contains("field `total`: a string value in a f64 column"),
        "{e}"
    );
}

#[test]
fn acks_default_to_all() {
    let config = kafka::producer_config(&client_config("localhost:1"));
    assert_eq!(config.get("acks"), Some("all"));
    for key in ["acks", "request.required.acks"] {
        let mut explicit = client_config("localhost:1");
        explicit.set(key, "1");
        let config = kafka::producer_config(&explicit);
        assert_eq!(config.get(key), Some("1"));
        assert_eq!(config.get("acks").is_some(), key == "acks");
    }
}

#[test]
fn retryable_codes() {
    use RDKafkaErrorCode as C;
    for code in [
        C::MessageTimedOut,
        C::QueueFull,
        C::BrokerTransportFailure,
        C::AllBrokersDown,
        C::RequestTimedOut,
        C::NotLeaderForPartition,
        C::NotEnoughReplicas,
    ] {
        assert!(
            kafka_error_is_retryable(&KafkaError::MessageProduction(code)),
            "{code:?}"
        );
    }
    for code in [
        C::MessageSizeTooLarge,
        C::UnknownTopic,
        C::UnknownTopicOrPartition,
        C::TopicAuthorizationFailed,
        C::ClusterAuthorizationFailed,
        C::SaslAuthenticationFailed,
        C::InvalidRecord,
        C::Fatal,
    ] {
        assert!(
            !kafka_error_is_retryable(&KafkaError::MessageProduction(code)),
            "{code:?}"
        );
    }
    assert!(!kafka_error_is_retryable(&KafkaError::Canceled));
}

#[test]
fn value_schema_snapshot() {
    let loaded = crate::spec_file::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("dag-specs/video/connection_induced_rebuffering.yaml"),
    );
    let program = loaded.program_or_report().unwrap();
    let meta = OutputsMeta::of(program);
    let schema = OutputSchema::of(&meta, 0).unwrap();
    assert_eq!(
        schema.full_name,
        "spanflow.connection_induced_rebuffering.cir_per_session"
    );
    Schema::parse_str(&schema.json).unwrap();
    assert_eq!(OutputSchema::of(&meta, 0).unwrap(), schema, "deterministic");
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(&schema.json).unwrap(),
    )
    .unwrap();
    insta::assert_snapshot!("cir_value_schema", pretty);
}

#[test]
fn value_schema_names_are_sanitised_and_unique() {
    let yaml = r#"
name: "7 names"
input: { session_key: k, time: t }
nodes:
  - { id: events, op: event_source }
  - { id: time, op: get, inputs: [events], with: { field: x, type: f64 } }
  - { id: a-b, op: get, inputs: [events], with: { field: y, type: bool } }
  - { id: a_b, op: get, inputs: [events], with: { field: z, type: string } }
  - { id: session, op: count, inputs: [a_b] }
outputs:
  - { name: "out.put", evaluate_at: every_event, columns: [time, a-b, a_b, session] }
"#;
    let program = Program::parse(yaml, None).unwrap_or_else(|e| panic!("{e:?}"));
    let meta = OutputsMeta::of(&program);
    assert_eq!(
        meta.column_types[0],
        [
            ValueType::F64,
            ValueType::Bool,
            ValueType::Str,
            ValueType::F64
        ]
    );
    let schema = OutputSchema::of(&meta, 0).unwrap();
    assert_eq!(schema.full_name, "spanflow._7_names.out_put");
    assert_eq!(schema.fields, ["time_2", "a_b_2", "a_b", "session_2"]);
    Schema::parse_str(&schema.json).unwrap();
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(&schema.json).unwrap(),
    )
    .unwrap();
    insta::assert_snapshot!("sanitised_value_schema", pretty);
}
