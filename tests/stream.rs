//! `spanflow run` on a Kafka source, as a real process against librdkafka's mock cluster:
//! results equal the file run of the same events; SIGTERM drains and commits; kill -9 at random
//! points and restarts never change or lose a result.

use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;
use spanflow::decode::{write_confluent_header, FieldPath, Projection, SchemaStore};
use spanflow::generate::{encode_datums, Device, Heartbeat, HEARTBEAT_SCHEMA};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 4;
const FIXTURE: &str = "fixtures/generated/heartbeats-small.framed";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("spanflow-stream-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The CIR spec with a Kafka source and a 60 s session gap.
fn kafka_spec(scratch: &Scratch, topic: &str, group: &str) -> PathBuf {
    let text =
        std::fs::read_to_string(root().join("dag-specs/video/connection_induced_rebuffering.yaml"))
            .unwrap();
    let schema = root().join("fixtures/avro/heartbeat.avsc");
    let text = text.replace(
        "  schema: ../../fixtures/avro/heartbeat.avsc\n",
        &format!(
            "  schema: {}\n  session_gap_secs: 60\n  source:\n    kafka:\n      topics: [{topic}]\n      group_id: {group}\n",
            schema.display()
        ),
    );
    let path = scratch.path("cir-kafka.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The fixture's messages with their session keys.
fn fixture_messages() -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(root().join(FIXTURE)).unwrap();
    let mut store = SchemaStore::from_dir(
        &root().join("fixtures/avro/registry"),
        Projection::new(
            "sessionId".parse::<FieldPath>().unwrap(),
            "timestamp".parse().unwrap(),
        ),
    )
    .unwrap();
    let mut event = Default::default();
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 4 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let msg = rest[4..4 + len].to_vec();
        rest = &rest[4 + len..];
        store.decode(&msg, &mut event).unwrap();
        out.push((event.session_key.to_string(), msg));
    }
    out
}

/// A heartbeat far in the future on each partition: it moves every partition's clock past the
/// session gap, so every fixture session ends.
fn clock_messages() -> Vec<(i32, String, Vec<u8>)> {
    (0..PARTITIONS)
        .map(|p| {
            let beat = Heartbeat {
                session_id: format!("clock-{p}"),
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
            };
            let datum = encode_datums(HEARTBEAT_SCHEMA, &[beat]).unwrap().remove(0);
            let mut msg = Vec::new();
            write_confluent_header(1, &mut msg);
            msg.extend_from_slice(&datum);
            (p, format!("clock-{p}"), msg)
        })
        .collect()
}

fn produce(bootstrap: &str, topic: &str) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (key, msg) in fixture_messages() {
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&msg))
            .map_err(|(e, _)| e)
            .unwrap();
        producer.poll(Duration::ZERO);
    }
    for (p, key, msg) in clock_messages() {
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&msg).partition(p))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Rows of the file run, keyed by (session, time).
fn file_rows() -> BTreeMap<(String, i64), Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args([
            "run",
            "dag-specs/video/connection_induced_rebuffering.yaml",
            "--input",
        ])
        .arg(root().join("fixtures/generated/heartbeats-small.avro"))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    keyed(&String::from_utf8(out.stdout).unwrap())
        .into_iter()
        .map(|(k, mut v)| (k, v.pop().unwrap()))
        .collect()
}

/// Every row of a JSON-lines output by (session, time), in write order; clock sessions left
/// out, and a torn last line (a kill during a write) ignored.
fn keyed(text: &str) -> BTreeMap<(String, i64), Vec<Value>> {
    let mut rows: BTreeMap<(String, i64), Vec<Value>> = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let session = v["session"].as_str().unwrap().to_string();
        if session.starts_with("clock-") {
            continue;
        }
        rows.entry((session, v["time"].as_i64().unwrap()))
            .or_default()
            .push(v);
    }
    rows
}

/// Starts `spanflow run`; its log goes to `<output>.log`.
fn start(spec: &Path, bootstrap: &str, output: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(output.with_extension("log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .arg("run")
        .arg(spec)
        .arg("--schemas")
        .arg(root().join("fixtures/avro/registry"))
        .arg("--output")
        .arg(output)
        .env("SPANFLOW_KAFKA_BROKERS", bootstrap)
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

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} failed");
}

/// Waits until `output` holds rows for `want` sessions, or panics after `timeout`.
fn wait_for_rows(child: &mut Child, output: &Path, want: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(output).unwrap_or_default();
        if keyed(&text).len() >= want {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("spanflow exited early ({status}):\n{}", log_of(output));
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {want} sessions' rows; have {}:\n{}",
            keyed(&text).len(),
            log_of(output)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_of(output: &Path) -> String {
    std::fs::read_to_string(output.with_extension("log")).unwrap_or_default()
}

fn stop_gracefully(mut child: Child, output: &Path) {
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "exit {status} after SIGTERM:\n{}",
        log_of(output)
    );
}

#[test]
fn a_kafka_run_gives_the_rows_of_the_file_run_and_stops_cleanly_on_sigterm() {
    let scratch = Scratch::new("equal");
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("heartbeats", PARTITIONS, 1).unwrap();
    cluster
        .create_topic("equal.spanflow-sessions", 1, 1)
        .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, "heartbeats");
    let want = file_rows();
    let spec = kafka_spec(&scratch, "heartbeats", "equal");
    let output = scratch.path("out.jsonl");
    let mut child = start(&spec, &bootstrap, &output);
    wait_for_rows(&mut child, &output, want.len(), Duration::from_secs(60));
    stop_gracefully(child, &output);
    let got = keyed(&std::fs::read_to_string(&output).unwrap());
    let got: BTreeMap<_, _> = got
        .into_iter()
        .map(|(k, mut v)| (k, v.pop().unwrap()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn kill_9_at_random_points_never_changes_or_loses_a_row() {
    use rand::{Rng, SeedableRng};
    let scratch = Scratch::new("crash");
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("heartbeats", PARTITIONS, 1).unwrap();
    cluster
        .create_topic("crash.spanflow-sessions", 1, 1)
        .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    produce(&bootstrap, "heartbeats");
    let want = file_rows();
    let spec = kafka_spec(&scratch, "heartbeats", "crash");
    let output = scratch.path("out.jsonl");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..5 {
        let mut child = start(&spec, &bootstrap, &output);
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2500)));
        let _ = child.kill(); // SIGKILL: no drain, no commit
        let _ = child.wait();
    }
    let mut child = start(&spec, &bootstrap, &output);
    wait_for_rows(&mut child, &output, want.len(), Duration::from_secs(90));
    stop_gracefully(child, &output);
    let got = keyed(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the same keys as the clean run"
    );
    for (key, values) in &got {
        for v in values {
            assert_eq!(
                v, &want[key],
                "a replay wrote a different value for {key:?}"
            );
        }
    }
}
