//! Every bad-input class under every policy on a Kafka run (`spanflow::kafka::run` in process,
//! on librdkafka's mock cluster; the dead-letter case on tansu too):
//!
//! | class | reason |
//! |---|---|
//! | wrong magic byte, JSON by mistake | `bad_magic` |
//! | unknown schema id | `unknown_schema_id` |
//! | truncated datum; a string length of 2^40 | `truncated` |
//! | garbage varint | `invalid_varint` |
//! | invalid union index | `invalid_union_index` |
//! | negative length | `invalid_length` |
//! | invalid UTF-8 in a string | `invalid_utf8` |
//! | null session key / null time | `missing_session_key` / `missing_time` |
//! | an enum symbol the spec's schema lacks (no default) | `unknown_enum_symbol` |
//! | an event later than the lateness bound | `late_event` |
//!
//! - `fail`: the run stops with an error naming topic, partition, offset and reason.
//! - `drop`: each is counted by reason; the good records' rows equal a clean run's.
//! - `dead_letter`: each lands on the dead-letter topic as its original key and value bytes,
//!   with its original headers and the `spanflow.*` headers; rows equal a clean run's; the
//!   committed offset is past every bad message.

use crate::bad_input::{
    bad_messages, cir, events, messages, more_bad_messages, with_late_event, Scratch,
};
use crate::specs::repo_root;
use crate::support::kafka::{client_config, unique, Broker, MockKafka, Tansu};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use spanflow::app::projection_of;
use spanflow::config::RuntimeConfig;
use spanflow::decode::{DirFetcher, SchemaStore};
use spanflow::kafka::{dead_letter, io_runtime, run_with_progress, StreamSetup, StreamSummary};
use spanflow::metrics::Metrics;
use spanflow::sink::{JsonLinesSink, OutputsMeta, Sink};
use spanflow_operators::program::DeadLetterPlan;
use spanflow_operators::spec::{
    BadRecordPolicy, KafkaSourceSpec, LateEventPolicy, SourceSpec, StartFrom,
};
use spanflow_operators::Program;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One message to produce.
#[derive(Clone)]
struct Input {
    key: Vec<u8>,
    value: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    /// The partition it goes to (the topic has as many as the inputs need).
    partition: i32,
    /// For a bad message: its reason, the text its error must contain, and the
    /// `spanflow.node` it must be dead-lettered with.
    bad: Option<(&'static str, String, &'static str)>,
}

impl Input {
    fn good(key: &str, value: Vec<u8>) -> Self {
        Input {
            key: key.as_bytes().to_vec(),
            value,
            headers: Vec::new(),
            partition: 0,
            bad: None,
        }
    }
}

/// The good messages (sessions interleaved, keyed by session, then a far-future "clock"
/// heartbeat that ends every session), and every bad class placed between them: the late
/// event where `with_late_event` puts it, the others every 20 messages. The first bad message
/// carries a header of its own, to check that dead letters keep it.
fn inputs() -> (Vec<Input>, Vec<Input>) {
    let events = events(true);
    let (late, late_session, _, _) = with_late_event(&events);
    let mut clock = events[0].clone();
    clock.session_id = "clock".into();
    clock.timestamp = events.iter().map(|e| e.timestamp).max().unwrap() + 10 * 86_400_000;
    let good_of = |events: &[spanflow::generate::Heartbeat]| -> Vec<Input> {
        events
            .iter()
            .zip(messages(events))
            .map(|(e, m)| Input::good(&e.session_id, m))
            .collect()
    };
    let mut clean = good_of(&events);
    clean.extend(good_of(std::slice::from_ref(&clock)));

    let mut all = good_of(&late);
    // The late event: the only message whose time is before its session's previous one.
    let late_at = (1..late.len())
        .find(|&i| {
            late[i].session_id == late_session
                && late[..i]
                    .iter()
                    .any(|e| e.session_id == late_session && e.timestamp > late[i].timestamp)
        })
        .unwrap();
    all[late_at].bad = Some((
        "late_event",
        "is more than input.lateness_secs".into(),
        "session",
    ));
    let mut bad = bad_messages(&events);
    bad.extend(more_bad_messages(&events));
    for (i, b) in bad.into_iter().enumerate().rev() {
        let node = match b.reason {
            "missing_session_key" => "sessionId",
            "missing_time" => "timestamp",
            _ => "decode",
        };
        let headers = if i == 0 {
            vec![("trace-id".to_string(), b"abc-123".to_vec())]
        } else {
            Vec::new()
        };
        all.insert(
            (i + 1) * 20,
            Input {
                key: format!("bad-{i}").into_bytes(),
                value: b.bytes,
                headers,
                partition: 0,
                bad: Some((b.reason, b.says.to_string(), node)),
            },
        );
    }
    all.extend(good_of(std::slice::from_ref(&clock)));
    (clean, all)
}

/// Produces `inputs` to their partitions of `topic`; returns their offsets.
fn produce(bootstrap: &str, topic: &str, inputs: &[Input]) -> Vec<i64> {
    let producer: FutureProducer = client_config(bootstrap)
        .set("message.timeout.ms", "10000")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut offsets = Vec::new();
        for m in inputs {
            let headers = m.headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
                h.insert(Header {
                    key: k,
                    value: Some(v),
                })
            });
            let record = FutureRecord::to(topic)
                .partition(m.partition)
                .key(&m.key)
                .payload(&m.value)
                .headers(headers);
            let delivery = producer
                .send(record, Duration::from_secs(10))
                .await
                .map_err(|(e, _)| e)
                .unwrap();
            offsets.push(delivery.offset);
        }
        offsets
    })
}

/// `spanflow_errors_total` by type, as a run exported it (the types with a count).
fn errors_by_type(metrics: &Metrics) -> BTreeMap<String, u64> {
    let text = metrics.render();
    let mut by_type = BTreeMap::new();
    for family in metrics.registry().gather() {
        if family.name() != "spanflow_errors_total" {
            continue;
        }
        for m in family.get_metric() {
            let ty = m
                .get_label()
                .iter()
                .find(|l| l.name() == "type")
                .map(|l| l.value().to_owned())
                .unwrap_or_default();
            let n = m.get_counter().get_value() as u64;
            if n > 0 {
                by_type.insert(ty, n);
            }
        }
    }
    assert!(text.contains("spanflow_errors_total"), "{text}");
    by_type
}

fn owned(counts: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    counts.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// What one run did.
struct Outcome {
    result: Result<StreamSummary, String>,
    topic: String,
    offsets: Vec<i64>,
    /// Row lines, sorted.
    rows: Vec<String>,
    /// The group's committed offset of partition 0 after the run.
    committed: Option<i64>,
    /// The run's metrics.
    metrics: Arc<Metrics>,
}

/// The CIR spec with these policies, reading `topic` as group `group`, dead letters to `dlq`.
fn program(
    bad: BadRecordPolicy,
    late: LateEventPolicy,
    topic: &str,
    group: &str,
    dlq: Option<&str>,
) -> Program {
    let mut p = cir(bad, late);
    p.input.source = Some(SourceSpec::Kafka(KafkaSourceSpec {
        topics: vec![topic.to_string()],
        group_id: Some(group.to_string()),
        start_from: StartFrom::Earliest,
        idle_secs: None,
    }));
    p.input.dead_letter = dlq.map(|t| DeadLetterPlan {
        topic: t.to_string(),
    });
    p
}

/// Produces `inputs` to a new one-partition topic and runs the CIR spec on it with the given
/// policies until every message is handled (or the run fails), then stops it gracefully.
fn run_on(
    broker: &dyn Broker,
    name: &str,
    inputs: &[Input],
    bad: BadRecordPolicy,
    late: LateEventPolicy,
    dlq: Option<&str>,
) -> Outcome {
    let scratch = Scratch::new(&unique(name));
    let schemas = scratch.registry();
    let topic = unique("bad-input");
    let group = unique("bad-input-group");
    let partitions = inputs.iter().map(|i| i.partition).max().unwrap_or(0) + 1;
    broker.create_topic(&topic, partitions);
    broker.create_topic(&format!("{group}.spanflow-sessions"), partitions);
    let offsets = produce(broker.bootstrap(), &topic, inputs);
    let program = program(bad, late, &topic, &group, dlq);
    let Some(SourceSpec::Kafka(source)) = &program.input.source else {
        unreachable!()
    };
    let bootstrap = broker.bootstrap().to_string();
    let config = RuntimeConfig::load_with(
        Some(&repo_root().join("tests/data/stream-config.yaml")),
        |k| (k == "SPANFLOW_KAFKA_BROKERS").then(|| bootstrap.clone()),
    )
    .unwrap();
    let store = SchemaStore::new(
        projection_of(&program).unwrap(),
        DirFetcher::new(&schemas).unwrap(),
    );
    let rows_path = schemas.join("rows.jsonl");
    let out = std::fs::File::create(&rows_path).unwrap();
    let sink = Arc::new(Sink::JsonLines(JsonLinesSink::new(
        "rows",
        OutputsMeta::of(&program),
        Box::new(out),
    )));
    let runtime = io_runtime().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let metrics = Arc::new(Metrics::new());
    let result = std::thread::scope(|s| {
        let run = s.spawn(|| {
            run_with_progress(
                StreamSetup {
                    program: &program,
                    source,
                    config: &config,
                    schemas: store,
                    sinks: vec![sink.clone(); program.outputs.len()],
                    stop: stop.clone(),
                    runtime: &runtime,
                    metrics: metrics.clone(),
                },
                progress.clone(),
            )
        });
        let deadline = Instant::now() + Duration::from_secs(90);
        while !run.is_finished() && progress.load(Ordering::Relaxed) < inputs.len() as u64 {
            assert!(
                Instant::now() < deadline,
                "{name}: only {} of {} messages handled",
                progress.load(Ordering::Relaxed),
                inputs.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        run.join().unwrap()
    });
    let mut rows: Vec<String> = std::fs::read_to_string(&rows_path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    rows.sort();
    let committed = committed(broker.bootstrap(), &group, &topic);
    Outcome {
        result,
        topic,
        offsets,
        rows,
        committed,
        metrics,
    }
}

fn committed(bootstrap: &str, group: &str, topic: &str) -> Option<i64> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let c = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    c.find_partition(topic, 0)?.offset().to_raw()
}

/// A dead letter read back: key, value and headers.
struct Letter {
    key: Vec<u8>,
    value: Vec<u8>,
    headers: BTreeMap<String, Vec<u8>>,
}

fn read_letters(bootstrap: &str, topic: &str, n: usize) -> Vec<Letter> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", unique("dead-letter-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => out.push(Letter {
                key: m.key().unwrap_or_default().to_vec(),
                value: m.payload().unwrap_or_default().to_vec(),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(e)) => panic!("reading {topic}: {e}"),
        }
    }
    // Nothing more than expected arrives.
    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
        panic!(
            "{topic}: an unexpected dead letter at offset {}",
            m.offset()
        );
    }
    out
}

/// The rows of a clean run (good messages only).
fn clean_rows(broker: &dyn Broker, clean: &[Input]) -> Vec<String> {
    let outcome = run_on(
        broker,
        "clean",
        clean,
        BadRecordPolicy::Fail,
        LateEventPolicy::Fail,
        None,
    );
    let summary = outcome.result.unwrap();
    assert!(summary.bad_records.is_empty() && summary.late_dropped == 0);
    assert!(outcome.rows.len() >= crate::bad_input::SESSIONS);
    outcome.rows
}

fn expected_counts(inputs: &[Input], late: bool) -> BTreeMap<&'static str, u64> {
    let mut want = BTreeMap::new();
    for (reason, _, _) in inputs.iter().filter_map(|i| i.bad.as_ref()) {
        if (*reason == "late_event") == late {
            *want.entry(*reason).or_default() += 1;
        }
    }
    want
}

#[test]
fn with_fail_each_bad_class_stops_the_kafka_run_naming_topic_partition_offset_and_reason() {
    let (_, all) = inputs();
    // One run per class: the good messages with just that bad one.
    let cases: Vec<(usize, Vec<Input>)> = (0..all.len())
        .filter(|&i| all[i].bad.is_some())
        .map(|i| {
            let mut one: Vec<Input> = all
                .iter()
                .enumerate()
                .filter(|(j, m)| *j == i || m.bad.is_none())
                .map(|(_, m)| m.clone())
                .collect();
            one.truncate(one.len().min(i + 5));
            let at = one.iter().position(|m| m.bad.is_some()).unwrap();
            (at, one)
        })
        .collect();
    assert_eq!(cases.len(), 13);
    std::thread::scope(|s| {
        for (at, case) in &cases {
            s.spawn(move || {
                // A cluster per case: the mock cluster cannot be shared between threads.
                let broker = MockKafka::start(1);
                let (reason, says, _) = case[*at].bad.clone().unwrap();
                let outcome = run_on(
                    &broker,
                    reason,
                    case,
                    BadRecordPolicy::Fail,
                    LateEventPolicy::Fail,
                    None,
                );
                let e = outcome
                    .result
                    .err()
                    .unwrap_or_else(|| panic!("{reason}: the run did not fail"));
                let position = format!("{}/0 offset {}", outcome.topic, outcome.offsets[*at]);
                assert!(
                    e.contains(&format!("{position} ({reason})")) && e.contains(&says),
                    "{reason}: {e}"
                );
                // Nothing at or after the bad message is committed.
                assert!(
                    outcome.committed.is_none_or(|c| c <= outcome.offsets[*at]),
                    "{reason}: committed {:?}",
                    outcome.committed
                );
            });
        }
    });
}

#[test]
fn with_drop_each_bad_class_is_counted_and_the_good_rows_are_unchanged() {
    let broker = MockKafka::start(1);
    let (clean, all) = inputs();
    let want_rows = clean_rows(&broker, &clean);
    let outcome = run_on(
        &broker,
        "drop",
        &all,
        BadRecordPolicy::Drop,
        LateEventPolicy::Drop,
        None,
    );
    let summary = outcome.result.unwrap();
    assert_eq!(summary.bad_records, expected_counts(&all, false));
    assert_eq!(summary.late_dropped, 1);
    assert!(summary.dead_lettered.is_empty());
    assert_eq!(outcome.rows, want_rows);
    // Each class is an error of its own type on the metrics (late events included).
    let mut want_errors = expected_counts(&all, false);
    want_errors.insert("late_event", 1);
    assert_eq!(errors_by_type(&outcome.metrics), owned(&want_errors));
    assert_eq!(outcome.metrics.late_events.get(), 1);
}

/// `dead_letter` for both policies: every bad message is on the dead-letter topic exactly as it
/// came, with the right headers; the good rows are a clean run's; the commit passed them all.
fn dead_letters_keep_the_original_bytes_and_say_why(broker: &dyn Broker) {
    let (clean, all) = inputs();
    let want_rows = clean_rows(broker, &clean);
    let dlq = unique("heartbeats.dead-letters");
    broker.create_topic(&dlq, 1);
    let outcome = run_on(
        broker,
        "dead-letter",
        &all,
        BadRecordPolicy::DeadLetter,
        LateEventPolicy::DeadLetter,
        Some(&dlq),
    );
    let summary = outcome.result.unwrap();
    let mut want = expected_counts(&all, false);
    want.extend(expected_counts(&all, true));
    assert_eq!(summary.dead_lettered, want, "{}", broker.name());
    let m = &outcome.metrics;
    let by_reason: BTreeMap<&'static str, u64> = want
        .keys()
        .map(|r| (*r, m.dead_letters.with_label_values(&[r]).get()))
        .collect();
    assert_eq!(
        by_reason,
        want,
        "{}: dead letters on the metrics",
        broker.name()
    );
    assert_eq!(
        m.messages_produced.with_label_values(&[&dlq]).get(),
        want.values().sum::<u64>()
    );
    assert_eq!(
        errors_by_type(m),
        owned(&want),
        "{}: errors on the metrics",
        broker.name()
    );
    assert!(summary.bad_records.is_empty() && summary.late_dropped == 0);
    assert_eq!(outcome.rows, want_rows, "{}: rows", broker.name());

    let bad: Vec<(usize, &Input)> = all
        .iter()
        .enumerate()
        .filter(|(_, m)| m.bad.is_some())
        .collect();
    let letters = read_letters(broker.bootstrap(), &dlq, bad.len());
    assert_eq!(letters.len(), bad.len(), "{}: dead letters", broker.name());
    let header = |l: &Letter, k: &str| String::from_utf8(l.headers[k].clone()).unwrap();
    for (i, m) in &bad {
        let (reason, says, node) = m.bad.clone().unwrap();
        let offset = outcome.offsets[*i];
        let l = letters
            .iter()
            .find(|l| header(l, dead_letter::SOURCE_OFFSET) == offset.to_string())
            .unwrap_or_else(|| panic!("{reason}: no dead letter for offset {offset}"));
        assert_eq!(l.key, m.key, "{reason}: key");
        assert_eq!(l.value, m.value, "{reason}: value bytes");
        assert_eq!(header(l, dead_letter::REASON), reason);
        assert!(
            header(l, dead_letter::ERROR).contains(&says),
            "{reason}: {}",
            header(l, dead_letter::ERROR)
        );
        assert_eq!(header(l, dead_letter::NODE), node, "{reason}");
        assert_eq!(header(l, dead_letter::SOURCE_TOPIC), outcome.topic);
        assert_eq!(header(l, dead_letter::SOURCE_PARTITION), "0");
        assert_eq!(
            header(l, dead_letter::SPEC),
            "connection_induced_rebuffering"
        );
        for (k, v) in &m.headers {
            assert_eq!(&l.headers[k], v, "{reason}: original header {k}");
        }
    }
    // The commit passed every bad message (it stops at the clock session, still open).
    let last_bad = bad.iter().map(|(i, _)| outcome.offsets[*i]).max().unwrap();
    let committed = outcome.committed.expect("a committed offset");
    assert!(
        committed > last_bad,
        "{}: committed {committed}, last bad message at {last_bad}",
        broker.name()
    );
}

#[test]
fn dead_letters_keep_the_original_bytes_and_say_why_mock() {
    dead_letters_keep_the_original_bytes_and_say_why(&MockKafka::start(1));
}

#[test]
fn dead_letters_keep_the_original_bytes_and_say_why_tansu() {
    if let Some(tansu) = Tansu::start() {
        dead_letters_keep_the_original_bytes_and_say_why(&tansu);
    }
}

/// Produced without a key (here: each session's events spread over two partitions), a session
/// is split into fragments: counted, on the metrics, and warned about. Produced keyed, none is.
#[test]
fn a_session_key_on_two_partitions_is_counted_and_warned_about() {
    let broker = MockKafka::start(1);
    let (clean, _) = inputs();
    let spread: Vec<Input> = clean
        .iter()
        .enumerate()
        .map(|(i, m)| Input {
            partition: (i % 2) as i32,
            ..m.clone()
        })
        .collect();
    let outcome = run_on(
        &broker,
        "split",
        &spread,
        BadRecordPolicy::Drop,
        LateEventPolicy::Drop,
        None,
    );
    let summary = outcome.result.unwrap();
    assert!(summary.split_session_keys > 0, "{summary:?}");
    assert_eq!(
        outcome.metrics.split_session_keys.get(),
        summary.split_session_keys
    );
    // The same messages on two partitions by key: no session is split.
    let by_key: Vec<Input> = clean
        .iter()
        .map(|m| Input {
            partition: i32::from(m.key.iter().fold(0u8, |h, b| h.wrapping_add(*b)) % 2),
            ..m.clone()
        })
        .collect();
    let outcome = run_on(
        &broker,
        "keyed",
        &by_key,
        BadRecordPolicy::Drop,
        LateEventPolicy::Drop,
        None,
    );
    assert_eq!(outcome.result.unwrap().split_session_keys, 0);
    assert_eq!(outcome.metrics.split_session_keys.get(), 0);
}
