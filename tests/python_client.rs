//! Events produced with Confluent's own Python client (`SerializingProducer`, `AvroSerializer`,
//! default subject strategy, schemas auto-registered in a registry stub that logs the calls)
//! to tansu, consumed by `spanflow run` with the schemas from that registry: the rows are the
//! file run's, for every compression codec, for the schema framed by prefix and by header, for
//! two schema versions, keyed by session id or not keyed at all.

use crate::stream::{file_rows_of, kafka_spec, keyed, log_of, root, stop_gracefully, Scratch};
use crate::support::kafka::{client_config, unique, Broker, Tansu};
use crate::support::python::{client_python, producer_script};
use crate::support::registry_stub::{guid_of, RegistryStub};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::{json, Value};
use spanflow::decode::write_confluent_header;
use spanflow::generate::{
    encode_datums, video_sessions, Device, GenConfig, Heartbeat, HEARTBEAT_SCHEMA,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 2;

/// How the Python client produces.
struct Case {
    name: &'static str,
    /// `prefix` or `header`.
    framing: &'static str,
    /// librdkafka's `compression.type`.
    compression: &'static str,
    /// Keyed by session id, or no key.
    keyed: bool,
    /// No clock messages after the events: sessions end because the partitions go quiet
    /// (`idle_secs: 1`).
    quiet: bool,
}

/// The generated heartbeats, in topic order (sessions interleaved in time).
fn events() -> Vec<Heartbeat> {
    video_sessions(&GenConfig {
        seed: 17,
        sessions: 24,
        events_per_session: 40,
        interleave: true,
        ..GenConfig::default()
    })
}

/// A heartbeat far in the future for `partition`: it ends every session there.
fn clock(partition: i32) -> Heartbeat {
    Heartbeat {
        session_id: format!("clock-{partition}"),
        timestamp: 1_800_000_000_000,
        seq: 0,
        player_state: None,
        cdn: None,
        bitrate_kbps: None,
        network: None,
        user_action: None,
        device: Device {
            os: "none".into(),
            model: "none".into(),
        },
        buffer_length_sec: None,
        tags: BTreeMap::new(),
    }
}

/// The second schema version: the heartbeat with a field added (with a default, so the
/// registry would take it as a compatible evolution).
fn schema_v2() -> String {
    let mut schema: Value = serde_json::from_str(HEARTBEAT_SCHEMA).unwrap();
    schema["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "appVersion", "type": "string", "default": "unknown"}));
    schema.to_string()
}

/// `heartbeats` as a framed file (schema id 1 of `fixtures/avro/registry`), for the file run.
fn framed_file(path: &Path, heartbeats: &[&Heartbeat]) -> PathBuf {
    let owned: Vec<Heartbeat> = heartbeats.iter().map(|h| (*h).clone()).collect();
    let mut bytes = Vec::new();
    for datum in encode_datums(HEARTBEAT_SCHEMA, &owned).unwrap() {
        let mut msg = Vec::new();
        write_confluent_header(1, &mut msg);
        msg.extend_from_slice(&datum);
        bytes.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&msg);
    }
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// Produces the events, the first half with schema version 1 and the rest with version 2,
/// then (unless the case is quiet) a clock message per partition; returns each event's
/// partition, in input order.
fn produce_with_python(
    python: &Path,
    scratch: &Scratch,
    case: &Case,
    bootstrap: &str,
    registry: &str,
    topic: &str,
    heartbeats: &[Heartbeat],
) -> Vec<i32> {
    let half = heartbeats.len() / 2;
    let mut events: Vec<Value> = heartbeats
        .iter()
        .enumerate()
        .map(|(i, hb)| {
            let mut value = serde_json::to_value(hb).unwrap();
            let schema = usize::from(i >= half);
            if schema == 1 {
                value["appVersion"] = json!("2.0");
            }
            json!({"key": hb.session_id, "value": value, "schema": schema})
        })
        .collect();
    for p in (0..PARTITIONS).filter(|_| !case.quiet) {
        let hb = clock(p);
        events.push(json!({"key": hb.session_id, "value": hb, "schema": 0, "partition": p}));
    }
    let job = json!({
        "bootstrap": bootstrap,
        "registry": registry,
        "topic": topic,
        "framing": case.framing,
        "compression": case.compression,
        "keyed": case.keyed,
        "schemas": [HEARTBEAT_SCHEMA, schema_v2()],
        "events": events,
    });
    let job_path = scratch.path("job.json");
    std::fs::write(&job_path, job.to_string()).unwrap();
    let out = Command::new(python)
        .arg(producer_script())
        .arg(&job_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: the Python producer failed ({}):\n{}",
        case.name,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let partitions: Vec<i32> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["partition"]
                .as_i64()
                .unwrap() as i32
        })
        .collect();
    let clocks = if case.quiet { 0 } else { PARTITIONS as usize };
    assert_eq!(partitions.len(), heartbeats.len() + clocks);
    partitions[..heartbeats.len()].to_vec()
}

/// `spanflow run` on the topic with schemas from `registry` (no local schemas).
fn start_spanflow(spec: &Path, bootstrap: &str, registry: &str, output: &Path) -> Child {
    let log = std::fs::File::create(output.with_extension("log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .arg("run")
        .arg(spec)
        .arg("--output")
        .arg(output)
        .env("SPANFLOW_KAFKA_BROKERS", bootstrap)
        .env("SPANFLOW_SCHEMA_REGISTRY_URL", registry)
        .env(
            "SPANFLOW_CONFIG",
            root().join("tests/data/stream-config.yaml"),
        )
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Rows by key with their values sorted: two partitions may give rows of the same key.
type Rows = BTreeMap<(String, i64), Vec<String>>;

fn sorted(rows: BTreeMap<(String, i64), Vec<Value>>) -> Rows {
    rows.into_iter()
        .map(|(k, v)| {
            let mut v: Vec<String> = v.iter().map(Value::to_string).collect();
            v.sort();
            (k, v)
        })
        .collect()
}

/// The file run's rows of each partition's events, together.
fn expected_rows(
    scratch: &Scratch,
    spec: &Path,
    heartbeats: &[Heartbeat],
    partitions: &[i32],
) -> Rows {
    let mut want: BTreeMap<(String, i64), Vec<Value>> = BTreeMap::new();
    for p in 0..PARTITIONS {
        let mine: Vec<&Heartbeat> = heartbeats
            .iter()
            .zip(partitions)
            .filter(|(_, q)| **q == p)
            .map(|(hb, _)| hb)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let file = framed_file(&scratch.path(&format!("partition-{p}.framed")), &mine);
        for (k, v) in file_rows_of(spec, &file) {
            want.entry(k).or_default().push(v);
        }
    }
    sorted(want)
}

/// The `__value_schema_id` header of every message of the topic, and whether its value
/// starts with the prefix's magic byte 0.
fn framing_seen(bootstrap: &str, topic: &str, n: usize) -> Vec<(Option<Vec<u8>>, bool)> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", unique("framing-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while seen.len() < n && Instant::now() < deadline {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let header = m.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == "__value_schema_id")
                .and_then(|h| h.value.map(<[u8]>::to_vec))
        });
        seen.push((header, m.payload().and_then(|p| p.first()) == Some(&0)));
    }
    assert_eq!(seen.len(), n, "{topic}: messages read back");
    seen
}

/// The GUID of `guid_of(id)` as the header carries it: 0x01 then the 16 bytes.
fn guid_header(id: usize) -> Vec<u8> {
    let hex: String = guid_of(id).chars().filter(|c| *c != '-').collect();
    let mut out = vec![1u8];
    out.extend((0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()));
    out
}

fn run_case(case: Case) {
    let Some(tansu) = Tansu::start() else {
        return;
    };
    let Some(python) = client_python() else {
        return;
    };
    let registry = RegistryStub::start();
    let scratch = Scratch::new(&format!("py-{}", case.name));
    let bootstrap = tansu.bootstrap().to_string();
    let topic = unique(&format!("py-{}", case.name));
    tansu.create_topic(&topic, PARTITIONS);
    let heartbeats = events();
    let partitions = produce_with_python(
        &python,
        &scratch,
        &case,
        &bootstrap,
        &registry.url(),
        &topic,
        &heartbeats,
    );
    // Keyed by session, each session is on one partition; unkeyed, some are split.
    let mut by_session: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (hb, p) in heartbeats.iter().zip(&partitions) {
        let seen = by_session.entry(&hb.session_id).or_default();
        if !seen.contains(p) {
            seen.push(*p);
        }
    }
    let split = by_session.values().filter(|p| p.len() > 1).count();
    if case.keyed {
        assert_eq!(split, 0, "{}: {by_session:?}", case.name);
    } else {
        assert!(split > 0, "{}: no session on two partitions", case.name);
    }
    // The framing on the wire is the one asked for.
    let total = heartbeats.len() + if case.quiet { 0 } else { PARTITIONS as usize };
    for (header, prefixed) in framing_seen(&bootstrap, &topic, total) {
        match case.framing {
            "prefix" => assert!(header.is_none() && prefixed, "{}: {header:?}", case.name),
            _ => assert!(
                header == Some(guid_header(1)) || header == Some(guid_header(2)),
                "{}: header {header:?}",
                case.name
            ),
        }
    }
    let group = format!("{topic}-group");
    let spec = kafka_spec(&scratch, &topic, &group);
    if case.quiet {
        let text = std::fs::read_to_string(&spec).unwrap();
        let quiet = text.replace(
            &format!("      group_id: {group}\n"),
            &format!("      group_id: {group}\n      idle_secs: 1\n"),
        );
        assert!(quiet.contains("idle_secs: 1"));
        std::fs::write(&spec, quiet).unwrap();
    }
    let want = expected_rows(&scratch, &spec, &heartbeats, &partitions);
    assert!(
        want.len() > heartbeats.len() / 40,
        "{} rows expected",
        want.len()
    );
    let output = scratch.path("out.jsonl");
    let mut child = start_spanflow(&spec, &bootstrap, &registry.url(), &output);
    let deadline = Instant::now() + Duration::from_secs(120);
    let got = loop {
        let got = sorted(keyed(&std::fs::read_to_string(&output).unwrap_or_default()));
        if got.len() >= want.len() {
            break got;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "{}: spanflow exited early ({status}):\n{}",
                case.name,
                log_of(&output)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{}: {} of {} rows after 120 s; registry calls {:?}; log:\n{}",
            case.name,
            got.len(),
            want.len(),
            registry.calls(),
            log_of(&output)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(got);
    stop_gracefully(child, &output);
    let got = sorted(keyed(&std::fs::read_to_string(&output).unwrap()));
    assert_eq!(got, want, "{}: rows differ from the file run", case.name);
    let log = log_of(&output);
    assert!(
        !log.contains("Kafka consumer error") && !log.contains("Skipped a bad record"),
        "{}:\n{log}",
        case.name
    );
    // Sessions split over partitions are warned about, and only those. (The warning needs a
    // key's sessions open on two partitions at once: a clock message ending each partition's
    // sessions before the next partition is read would hide them, so the unkeyed case is quiet.)
    assert_eq!(
        log.contains("A session's events arrive on several partitions"),
        !case.keyed,
        "{}: split-session warning:\n{log}",
        case.name
    );
    // Without clock messages, quiet partitions ended the sessions.
    assert_eq!(
        log.contains("A partition was quiet: its open sessions ended."),
        case.quiet,
        "{}:\n{log}",
        case.name
    );
    // The client registered both versions under `<topic>-value`; spanflow fetched each once,
    // by id for the prefix and by GUID for the header.
    let calls = registry.calls();
    let register = format!("POST /subjects/{topic}-value/versions?normalize=False");
    assert_eq!(
        calls.iter().filter(|c| **c == register).count(),
        2,
        "{}: {calls:?}",
        case.name
    );
    let mut fetches: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("GET /schemas/"))
        .collect();
    fetches.sort();
    let want_fetches = match case.framing {
        "prefix" => vec![
            "GET /schemas/ids/1".to_owned(),
            "GET /schemas/ids/2".to_owned(),
        ],
        _ => vec![
            format!("GET /schemas/guids/{}", guid_of(1)),
            format!("GET /schemas/guids/{}", guid_of(2)),
        ],
    };
    assert_eq!(
        fetches,
        want_fetches.iter().collect::<Vec<_>>(),
        "{calls:?}"
    );
    drop(tansu);
}

#[test]
fn python_client_gzip_compressed_topic_is_consumed() {
    run_case(Case {
        name: "gzip",
        framing: "prefix",
        compression: "gzip",
        keyed: true,
        quiet: false,
    });
}

#[test]
fn python_client_snappy_compressed_topic_is_consumed() {
    run_case(Case {
        name: "snappy",
        framing: "prefix",
        compression: "snappy",
        keyed: true,
        quiet: false,
    });
}

#[test]
fn python_client_lz4_compressed_topic_is_consumed() {
    run_case(Case {
        name: "lz4",
        framing: "prefix",
        compression: "lz4",
        keyed: true,
        quiet: false,
    });
}

#[test]
fn python_client_zstd_compressed_topic_is_consumed() {
    run_case(Case {
        name: "zstd",
        framing: "prefix",
        compression: "zstd",
        keyed: true,
        quiet: false,
    });
}

#[test]
fn python_client_schema_guid_in_a_header_is_read() {
    run_case(Case {
        name: "header",
        framing: "header",
        compression: "zstd",
        keyed: true,
        quiet: false,
    });
}

/// Without a key the client spreads a session over the partitions; each partition's rows are
/// the file run of that partition's events (a session split over two partitions is reported
/// as two partial sessions, as it arrives), and the split keys are warned about.
#[test]
fn python_client_unkeyed_events_are_reported_per_partition_as_they_arrive() {
    run_case(Case {
        name: "unkeyed",
        framing: "prefix",
        compression: "none",
        keyed: false,
        quiet: true,
    });
}

/// No clock message after the events: the partitions go quiet and their sessions end after
/// `idle_secs`, with the rows of the file run.
#[test]
fn python_client_quiet_partitions_end_their_sessions() {
    run_case(Case {
        name: "quiet",
        framing: "prefix",
        compression: "gzip",
        keyed: true,
        quiet: true,
    });
}
