//! The benchmark workloads: deterministic generated video sessions, turned into exactly what
//! the engine sees (session key + [`Record`] per event, in stream order, as the real decoder
//! produces them), and the loop that runs them through a [`SessionProcessor`].
//!
//! Every result printed by a benchmark names its [`Workload`] (its `Display`), so a number can
//! always be reproduced.
#![allow(dead_code)] // each bench target uses its own part of the support modules

pub use super::scala::Checksum;
use spanflow::app::projection_of;
use spanflow::decode::{write_confluent_header, DecodedEvent, DirFetcher, SchemaStore};
use spanflow::generate::{encode_datums, video_sessions, GenConfig, Heartbeat, HEARTBEAT_SCHEMA};
use spanflow::metrics::{Metrics, NODE_SAMPLE_EVERY};
use spanflow::pipeline::SessionProcessor;
use spanflow_engine::{Record, Str};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::Program;
use std::fmt;
use std::path::{Path, PathBuf};

/// The schema id of every framed heartbeat (`fixtures/avro/registry/1.avsc`).
pub const HEARTBEAT_SCHEMA_ID: u32 = 1;

/// The workspace root (where the specs and fixtures are).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A shipped spec the benchmarks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    /// `dag-specs/video/connection_induced_rebuffering.yaml`: one row per session, at its end.
    Cir,
    /// `dag-specs/video/play_time_on_cdn.yaml`: a row after every event and every minute.
    PlayTime,
}

impl Spec {
    /// Both specs, CIR first.
    pub const ALL: [Spec; 2] = [Spec::Cir, Spec::PlayTime];

    /// The spec file, relative to the workspace root.
    pub fn path(self) -> &'static str {
        match self {
            Spec::Cir => "dag-specs/video/connection_induced_rebuffering.yaml",
            Spec::PlayTime => "dag-specs/video/play_time_on_cdn.yaml",
        }
    }

    /// A short name for tables (`cir`, `play_time`).
    pub fn name(self) -> &'static str {
        match self {
            Spec::Cir => "cir",
            Spec::PlayTime => "play_time",
        }
    }

    /// The validated program (panics when the shipped spec does not load).
    pub fn program(self) -> Program {
        spanflow::spec_file::load(&root().join(self.path()))
            .program
            .unwrap_or_else(|e| panic!("{}: {e:?}", self.path()))
    }
}

/// What to generate: the parameters printed with every result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Number of sessions, interleaved in time order as on a Kafka topic.
    pub sessions: usize,
    /// Events per session.
    pub events_per_session: usize,
    /// Consecutive events of a session sharing one timestamp (one DAG step).
    pub events_per_step: usize,
    /// The generator's seed.
    pub seed: u64,
}

impl Workload {
    /// Total events.
    pub fn events(&self) -> usize {
        self.sessions * self.events_per_session
    }

    /// The generator config of this workload.
    pub fn gen_config(&self) -> GenConfig {
        GenConfig {
            seed: self.seed,
            sessions: self.sessions,
            events_per_session: self.events_per_session,
            events_per_step: self.events_per_step,
            interleave: true,
            ..GenConfig::default()
        }
    }

    /// The generated heartbeats, in stream order.
    pub fn heartbeats(&self) -> Vec<Heartbeat> {
        video_sessions(&self.gen_config())
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sessions={} events/session={} events/step={} seed={} ({} events)",
            self.sessions,
            self.events_per_session,
            self.events_per_step,
            self.seed,
            self.events()
        )
    }
}

/// The heartbeats as Confluent-framed Avro messages (schema id [`HEARTBEAT_SCHEMA_ID`]), each
/// with its session id as the key: what a Kafka topic of them holds.
pub fn framed_messages(heartbeats: &[Heartbeat]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let datums = encode_datums(HEARTBEAT_SCHEMA, heartbeats).expect("heartbeats encode");
    heartbeats
        .iter()
        .zip(datums)
        .map(|(hb, datum)| {
            let mut framed = Vec::with_capacity(5 + datum.len());
            write_confluent_header(HEARTBEAT_SCHEMA_ID, &mut framed);
            framed.extend_from_slice(&datum);
            (hb.session_id.as_bytes().to_vec(), framed)
        })
        .collect()
}

/// The decoder of `program`'s projection, with the writer schemas of the fixture registry
/// (`fixtures/avro/registry/<id>.avsc`).
pub fn schema_store(program: &Program) -> SchemaStore {
    let registry = DirFetcher::new(&root().join("fixtures/avro/registry"))
        .expect("the fixture registry loads");
    SchemaStore::new(
        projection_of(program).expect("the spec's projection"),
        registry,
    )
}

/// A decoded event: the session key and the record the engine steps.
pub type Event = (Str, Record);

/// The events `program` sees for `messages`, decoded once by the real decoder.
pub fn decode_messages(program: &Program, messages: &[(Vec<u8>, Vec<u8>)]) -> Vec<Event> {
    let mut store = schema_store(program);
    let mut out = DecodedEvent::default();
    messages
        .iter()
        .map(|(_, m)| {
            store
                .decode(m, &mut out)
                .expect("a generated heartbeat decodes");
            (out.session_key.clone(), std::mem::take(&mut out.record))
        })
        .collect()
}

/// The events `program` sees for `workload` (generated, encoded, decoded).
pub fn decoded_events(program: &Program, workload: &Workload) -> Vec<Event> {
    decode_messages(program, &framed_messages(&workload.heartbeats()))
}

/// Runs `events` through a fresh [`SessionProcessor`] of `program` and ends every session (as
/// at the end of a file); each row goes to `on_row`. Returns the number of rows. Splitting the
/// events is not timed separately: time [`run_keyed_with`] instead.
pub fn run_events(program: &Program, events: Vec<Event>, on_row: impl FnMut(&str, &Row)) -> u64 {
    let (keys, records): (Vec<Str>, Vec<Record>) = events.into_iter().unzip();
    run_keyed_with(program, &keys, &records, None, on_row)
}

/// The session keys of `events`, in order: what [`run_keyed_with`] reads (built once).
pub fn keys_of(events: &[Event]) -> Vec<Str> {
    events.iter().map(|(key, _)| key.clone()).collect()
}

/// The records of `events`: what [`run_keyed_with`] reads (built before the timing, and freed
/// after it).
pub fn records_of(events: &[Event]) -> Vec<Record> {
    events.iter().map(|(_, record)| record.clone()).collect()
}

/// How often [`run_keyed_with`] hands the DAG's counters to the metrics, in events: more often
/// than the consumer loop's once a second at these rates, so the cost is not understated.
pub const METRICS_EXPORT_EVERY: usize = 1 << 16;

/// Runs `records` (event `i` of session `keys[i]`) through a fresh [`SessionProcessor`] of
/// `program` and ends every session (as at the end of a file); each row goes to `on_row`.
/// Returns the number of rows. With `metrics`, the hot-path metrics of a streaming run: the
/// interpreter's per-node counters and sampled step timings, exported every
/// [`METRICS_EXPORT_EVERY`] events.
///
/// As on the Kafka path, each key is written into one reused buffer and the processor borrows
/// it, and the processor borrows each record as it borrows the decoder's: no key or record is
/// allocated, moved or freed per event here.
pub fn run_keyed_with(
    program: &Program,
    keys: &[Str],
    records: &[Record],
    metrics: Option<&Metrics>,
    mut on_row: impl FnMut(&str, &Row),
) -> u64 {
    assert_eq!(keys.len(), records.len(), "one key per record");
    let mut processor = SessionProcessor::new(program);
    let nodes = metrics.map(|m| {
        processor.enable_node_stats(NODE_SAMPLE_EVERY);
        m.nodes(program)
    });
    let mut rows = 0u64;
    let mut emit = |key: &str, row: &Row| {
        rows += 1;
        on_row(key, row);
    };
    let mut key = String::with_capacity(64);
    // Records are lent, as the file and Kafka paths lend their decoder's record.
    for (i, (k, record)) in keys.iter().zip(records).enumerate() {
        key.clear();
        key.push_str(k);
        processor
            .push(&key, record, &mut emit)
            .expect("generated events are in order");
        if let Some(nodes) = &nodes {
            if i % METRICS_EXPORT_EVERY == 0 {
                nodes.record(&processor.take_node_stats());
            }
        }
    }
    processor.finish(&mut emit);
    if let Some(nodes) = &nodes {
        nodes.record(&processor.take_node_stats());
    }
    rows
}

/// The checksum of `program`'s rows over `events` (the Scala baselines' definition).
pub fn checksum_of_run(program: &Program, events: Vec<Event>) -> Checksum {
    let mut sum = Checksum::default();
    run_events(program, events, |_, row| sum.add(row));
    sum
}

/// Cargo's target directory, where benchmark outputs go: the one this benchmark binary was
/// built in (`<target>/<profile>/deps/<bench>`, so `CARGO_TARGET_DIR` and `build.target-dir`
/// are respected), else `$CARGO_TARGET_DIR`, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let deps = exe.parent()?;
        (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(Path::to_path_buf))?
    });
    from_exe
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .map(|p| if p.is_relative() { root().join(p) } else { p })
        .unwrap_or_else(|| root().join("target"))
}
