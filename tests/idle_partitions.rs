//! Quiet partitions: with no message for `idle_secs` (wall clock), a partition's open sessions
//! end, so their rows come without a "clock" event; the place is recorded in the session log,
//! so a process killed with SIGKILL during or after an idle end is replaced by one that gives
//! the same rows even when the sessions' keys come back afterwards.

use crate::bad_input::{framed, messages};
use crate::stream::{
    file_rows_of, kafka_spec, keyed, log_of, mock_cluster, root, start, start_with_env,
    stop_gracefully, wait_for_rows, Scratch,
};
use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use serde_json::Value;
use spanflow::generate::{video_sessions, GenConfig, Heartbeat};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The CIR Kafka spec whose partitions count as quiet after 1 s without a message.
fn idle_spec(scratch: &Scratch, group: &str) -> PathBuf {
    let spec = kafka_spec(scratch, "heartbeats", group);
    let text = std::fs::read_to_string(&spec).unwrap();
    let with_idle = text.replace(
        &format!("      group_id: {group}\n"),
        &format!("      group_id: {group}\n      idle_secs: 1\n"),
    );
    assert!(with_idle.contains("idle_secs: 1"));
    std::fs::write(&spec, with_idle).unwrap();
    spec
}

/// Sessions whose events all come first (`a`), then one more event for each session that ends
/// in the last 50 s of `a`, 5 s after its last one (`b`): within the 60 s gap (and not late),
/// so only the idle end between them makes `b`'s events sessions of their own.
fn two_batches() -> (Vec<Heartbeat>, Vec<Heartbeat>) {
    let a = video_sessions(&GenConfig {
        sessions: 60,
        events_per_session: 20,
        interleave: true,
        ..GenConfig::default()
    });
    let end = a.iter().map(|e| e.timestamp).max().unwrap();
    let mut last: BTreeMap<&str, &Heartbeat> = BTreeMap::new();
    for e in &a {
        last.insert(&e.session_id, e);
    }
    let mut b: Vec<Heartbeat> = last
        .values()
        .filter(|e| e.timestamp >= end - 50_000)
        .map(|e| Heartbeat {
            timestamp: e.timestamp + 5_000,
            seq: e.seq + 1,
            ..(*e).clone()
        })
        .collect();
    b.sort_by_key(|e| e.timestamp);
    assert!(b.len() >= 3, "only {} sessions come back", b.len());
    (a, b)
}

/// Produces the events keyed by session, without any clock message.
fn produce(bootstrap: &str, events: &[Heartbeat]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (e, msg) in events.iter().zip(messages(events)) {
        producer
            .send(
                BaseRecord::to("heartbeats")
                    .key(&e.session_id)
                    .payload(&msg),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Rows of the file run of `events`, keyed by (output/session, time).
fn rows_of(scratch: &Scratch, name: &str, spec: &Path, events: &[Heartbeat]) -> Rows {
    let path = scratch.path(name);
    std::fs::write(&path, framed(&messages(events))).unwrap();
    file_rows_of(spec, &path)
}

type Rows = BTreeMap<(String, i64), Value>;

fn last_values(output: &Path) -> Rows {
    keyed(&std::fs::read_to_string(output).unwrap_or_default())
        .into_iter()
        .map(|(k, mut v)| (k, v.pop().unwrap()))
        .collect()
}

#[test]
fn a_quiet_partition_ends_its_sessions_without_a_clock_event() {
    let scratch = Scratch::new("idle");
    let spec = idle_spec(&scratch, "idle");
    let (a, _) = two_batches();
    let want = rows_of(&scratch, "a.framed", &spec, &a);
    let (_cluster, bootstrap) = mock_cluster("idle");
    produce(&bootstrap, &a);
    let output = scratch.path("out.jsonl");
    let mut child = start(&spec, &bootstrap, &output);
    wait_for_rows(&mut child, &output, want.len(), Duration::from_secs(60));
    stop_gracefully(child, &output);
    assert_eq!(last_values(&output), want, "{}", log_of(&output));
}

/// A mock cluster whose input topic has one partition: the one idle end is the kill's moment.
fn one_partition_cluster(group: &str) -> (MockCluster<'static, DefaultProducerContext>, String) {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("heartbeats", 1, 1).unwrap();
    cluster
        .create_topic(&format!("{group}.spanflow-sessions"), 1, 1)
        .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    (cluster, bootstrap)
}

/// How the first process dies.
enum Death {
    /// Aborts between recording the idle end and ending the sessions (a crash point).
    AfterRecording,
    /// SIGKILL once every row of the ended sessions is written.
    AfterAllRows,
}

/// The first process dies at an idle end (see [`Death`]); then the same keys come back within
/// the gap. The replacement ends the sessions where the first process did, so the keys' new
/// events are sessions of their own, as in a run without the crash. (Sessions a dead process
/// had not ended would rightly take the new events: their partition was not quiet for
/// `idle_secs` before they came, as far as any process saw. Hence one partition.)
fn died_at_an_idle_end(group: &str, death: Death) {
    let scratch = Scratch::new(group);
    let spec = idle_spec(&scratch, group);
    let (a, b) = two_batches();
    let a_rows = rows_of(&scratch, "a.framed", &spec, &a);
    let mut want = a_rows.clone();
    want.extend(rows_of(&scratch, "b.framed", &spec, &b));
    let (_cluster, bootstrap) = one_partition_cluster(group);
    produce(&bootstrap, &a);
    let output = scratch.path("out.jsonl");
    let config = root().join("tests/data/stream-config.yaml");
    match death {
        Death::AfterRecording => {
            let crash = [("SPANFLOW_CRASH_AT", "idle_end_recorded")];
            let mut child = start_with_env(&spec, &bootstrap, &output, &config, &crash);
            let status = child.wait().unwrap();
            assert!(!status.success(), "{}", log_of(&output));
            assert!(
                log_of(&output).contains("crash point `idle_end_recorded`"),
                "{}",
                log_of(&output)
            );
        }
        Death::AfterAllRows => {
            let mut child = start(&spec, &bootstrap, &output);
            wait_for_rows(&mut child, &output, a_rows.len(), Duration::from_secs(60));
            let _ = child.kill(); // SIGKILL: no drain, no commit
            let _ = child.wait();
        }
    }
    produce(&bootstrap, &b);
    let mut child = start(&spec, &bootstrap, &output);
    wait_for_rows(&mut child, &output, want.len(), Duration::from_secs(60));
    stop_gracefully(child, &output);
    let got = keyed(&std::fs::read_to_string(&output).unwrap());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{}",
        log_of(&output)
    );
    for (k, values) in &got {
        assert!(
            values.iter().all(|v| v == &want[k]),
            "{k:?}: written {values:?}, want {}",
            want[k]
        );
    }
}

#[test]
fn a_crash_between_recording_and_ending_ends_the_same_sessions_on_replay() {
    died_at_an_idle_end("idle-crash-recorded", Death::AfterRecording);
}

#[test]
fn kill_9_after_an_idle_end_changes_no_row() {
    died_at_an_idle_end("idle-kill-after", Death::AfterAllRows);
}
