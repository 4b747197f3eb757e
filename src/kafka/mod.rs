//! The Kafka source: a consumer group over the spec's topics, at least once with no loss.
//!
//! One thread polls the consumer, decodes each message straight into the spec's projection and
//! runs it through its partition's [`SessionProcessor`] (CPU-bound work stays off the async
//! runtime). Rows are written by tokio tasks, at most `delivery.max_in_flight` at a time; when
//! the bound is reached the partitions are paused (the loop keeps polling so rebalances are
//! served) until writes complete. Offsets are committed with [`crate::delivery`]'s rules.
//!
//! A partition taken over after a rebalance or a restart starts from its committed offset with
//! the watermark stored in the commit's metadata, and skips the sessions the session log says
//! are complete.

mod context;
pub mod dead_letter;
mod session_log;
mod stall;

pub use context::PartitionId;
pub use session_log::{PartitionLog, SessionLog};

use crate::config::RuntimeConfig;
use crate::decode::{DecodeError, DecodedEvent, SchemaStore, VALUE_SCHEMA_ID_HEADER};
use crate::delivery::{Checkpoint, CommitTracker, CompletionMarker};
use crate::metrics::{Metrics, NodeMetrics, SampledTimer, SinkMetrics, NODE_SAMPLE_EVERY};
use crate::pipeline::{Emit, Offset, PipelineError, SessionProcessor, SessionRef, Stats};
use crate::sink::{write_with_retry, Sink, SinkError, SinkRow};
use context::{commit_list, LoopContext};
use prometheus::IntCounter;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Message, TopicPartitionList};
use spanflow_engine::Time;
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::program::DEFAULT_SESSION_GAP_SECS;
use spanflow_operators::spec::{BadRecordPolicy, KafkaSourceSpec, StartFrom};
use spanflow_operators::Program;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// What a streaming run did.
#[derive(Debug, Default, Clone)]
pub struct StreamSummary {
    /// Messages read.
    pub messages: u64,
    /// Bad records skipped, by reason.
    pub bad_records: BTreeMap<&'static str, u64>,
    /// Records (bad ones and late events) acknowledged by the dead-letter topic, by reason.
    pub dead_lettered: BTreeMap<&'static str, u64>,
    /// Rows acknowledged by the sinks.
    pub rows_written: u64,
    /// Late events dropped.
    pub late_dropped: u64,
    /// Events skipped because their session was completed before (replays).
    pub replay_skipped: u64,
    /// Sessions opened.
    pub sessions: u64,
    /// Messages delivered again at an offset already handled (ignored).
    pub redelivered: u64,
    /// Messages of other record types than `input.record_name` (skipped).
    pub other_records: u64,
    /// Events dropped because a lookup with `on_missing: drop_event` found no row.
    pub lookup_dropped: u64,
    /// Sessions opened while the same key's session was open on another partition.
    pub split_session_keys: u64,
}

/// The pieces a streaming run is made of.
pub struct StreamSetup<'a> {
    /// The validated spec.
    pub program: &'a Program,
    /// The spec's Kafka source.
    pub source: &'a KafkaSourceSpec,
    /// Runtime settings.
    pub config: &'a RuntimeConfig,
    /// Writer schemas by id, for the spec's projection.
    pub schemas: SchemaStore,
    /// One sink per output, by output index.
    pub sinks: Vec<Arc<Sink>>,
    /// Set to stop: drain writes, commit, return.
    pub stop: Arc<AtomicBool>,
    /// The runtime that runs sink I/O (sinks with connections of their own, like ScyllaDB
    /// sessions, must have been created on it).
    pub runtime: &'a tokio::runtime::Runtime,
    /// Where the run's metrics go (served by [`crate::metrics::server`] when configured).
    pub metrics: Arc<Metrics>,
}

/// The runtime for sink I/O: two worker threads beside the consumer thread.
pub fn io_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("spanflow-io")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))
}

/// The group id of a run.
pub fn group_id(program: &Program, source: &KafkaSourceSpec) -> String {
    source
        .group_id
        .clone()
        .unwrap_or_else(|| format!("spanflow-{}", program.name))
}

enum Ack {
    Row {
        partition: usize,
        generation: u64,
        first: Offset,
        result: Result<(), SinkError>,
    },
    Marker {
        partition: usize,
        generation: u64,
        first: Offset,
        last: Offset,
        result: Result<(), String>,
    },
    DeadLetter(dead_letter::Acked),
}

struct RowTask {
    partition: usize,
    generation: u64,
    first: Offset,
    row: SinkRow,
}

struct MarkerTask {
    partition: usize,
    generation: u64,
    marker: CompletionMarker,
}

/// A partition looking for its committed offset (see `Stream::reached_commit`).
#[derive(Default)]
struct Starting {
    saw_earlier: bool,
    rewound_to: Option<Offset>,
    attempts: u32,
}

/// After this many empty polls in a row (100 ms each, so 2 s), the loop checks that idle
/// partitions are at their log's end (a broker that answers a fetch from the middle of a record
/// batch with nothing leaves a partition stuck there).
const IDLE_POLLS_BEFORE_CHECK: u32 = 20;

/// How often the consumer loop adds the DAG's and sessions' counters to the metrics.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);
/// How often quiet partitions are looked for.
const IDLE_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// One owned partition.
struct PartitionRun<'p> {
    id: PartitionId,
    /// `messages_consumed_total` of this partition, and the messages not added to it yet
    /// (counted in a plain integer: an atomic add per message costs a few percent of a decode).
    consumed: IntCounter,
    consumed_unexported: u64,
    /// The processor's counters when they were last added to the metrics.
    exported: Stats,
    generation: u64,
    processor: SessionProcessor<'p>,
    tracker: CommitTracker,
    /// The checkpoint the broker last took.
    committed: Option<Checkpoint>,
    /// Markers in the session log (first, last offset), removed once the broker has taken a
    /// commit past them.
    recorded: Vec<(Offset, Offset)>,
    /// The partition's position when quiet partitions were last looked for, and since when it
    /// has been there (no clock read per message: the position says whether messages came).
    quiet_since: (Offset, Instant),
    /// Offsets from the session log before which a run before this one ended every open
    /// session of the partition (it was quiet), oldest first: replayed at the same places.
    idle_ends: VecDeque<Offset>,
}

/// Collects what a message produced.
struct Collector<'a> {
    partition: usize,
    generation: u64,
    tracker: &'a mut CommitTracker,
    rows: &'a mut VecDeque<RowTask>,
    markers: &'a mut Vec<MarkerTask>,
    /// `rows_emitted_total` by output.
    rows_emitted: &'a [IntCounter],
    late: &'a mut Option<dead_letter::LateLetter>,
}

impl Emit for Collector<'_> {
    fn opened(&mut self, first: Offset, watermark_before: Option<Time>) {
        self.tracker.opened(first, watermark_before);
    }
    fn row(&mut self, session: SessionRef<'_>, row: &Row) {
        self.tracker.row_sent(session.first);
        if let Some(c) = self.rows_emitted.get(row.output) {
            c.inc();
        }
        self.rows.push_back(RowTask {
            partition: self.partition,
            generation: self.generation,
            first: session.first,
            row: SinkRow {
                session: session.key.into(),
                row: row.clone(),
            },
        });
    }
    fn closed(&mut self, session: SessionRef<'_>) {
        let marker = CompletionMarker {
            key: session.key.into(),
            first: session.first,
            last: session.last,
        };
        if let Some(marker) = self.tracker.ended(marker) {
            self.markers.push(MarkerTask {
                partition: self.partition,
                generation: self.generation,
                marker,
            });
        }
    }
    fn late(&mut self, _offset: Offset, session: Option<SessionRef<'_>>, why: &PipelineError) {
        // Like a row of the session it joined: the session's marker waits for the dead letter.
        if let Some(s) = session {
            self.tracker.row_sent(s.first);
        }
        *self.late = Some(dead_letter::LateLetter::new(session.map(|s| s.first), why));
    }
}

/// Runs the spec on its Kafka source until `stop` is set or a fatal error.
pub fn run(setup: StreamSetup<'_>) -> Result<StreamSummary, String> {
    run_inner(setup, None)
}

/// [`run`], storing in `progress` how many messages have been read and processed so far
/// (decoded and run through their sessions; their rows may still be in flight). Benchmarks
/// watch it to know when a topic has been consumed.
pub fn run_with_progress(
    setup: StreamSetup<'_>,
    progress: Arc<AtomicU64>,
) -> Result<StreamSummary, String> {
    run_inner(setup, Some(progress))
}

fn run_inner(
    setup: StreamSetup<'_>,
    progress: Option<Arc<AtomicU64>>,
) -> Result<StreamSummary, String> {
    let runtime = setup.runtime;
    let mut stream = Stream::connect(setup, runtime)?;
    stream.progress = progress;
    let result = stream.run_loop();
    let summary = stream.finish(result.is_ok());
    result.map(|()| summary)
}

/// What a partition starts from, read for every partition of an assignment at once (one
/// session-log read and one committed-offsets request per rebalance, not one per partition).
struct Prepared {
    committed: Option<(Offset, Option<Time>)>,
    log: PartitionLog,
}

struct Stream<'p, 'r> {
    program: &'p Program,
    /// Assigned partitions not started yet, with what they start from.
    prepared: HashMap<PartitionId, Prepared>,
    gap: Time,
    /// How long a partition may go without a message before its open sessions end.
    idle_after: Duration,
    /// When quiet partitions were last looked for.
    last_idle_check: Instant,
    consumer: Arc<BaseConsumer<LoopContext>>,
    log: SessionLog,
    schemas: SchemaStore,
    sinks: Vec<Arc<Sink>>,
    runtime: &'r tokio::runtime::Runtime,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    acks_tx: mpsc::Sender<Ack>,
    acks: mpsc::Receiver<Ack>,
    stop: Arc<AtomicBool>,
    partitions: Vec<Option<PartitionRun<'p>>>,
    next_generation: u64,
    rows: VecDeque<RowTask>,
    markers: Vec<MarkerTask>,
    in_flight: usize,
    paused: bool,
    commit_interval: Duration,
    drain_timeout: Duration,
    last_commit: Instant,
    event: DecodedEvent,
    summary: StreamSummary,
    bad_policy: BadRecordPolicy,
    /// Partitions assigned but not yet started at their committed offset, and running ones
    /// rewound after a gap.
    starting: HashMap<PartitionId, Starting>,
    /// Polls in a row that returned nothing.
    idle_polls: u32,
    /// The position at which each partition was last found idle and checked.
    idle_checked: HashMap<PartitionId, Offset>,
    /// The spec's lookups, joined onto each decoded event.
    lookups: Option<crate::lookup::Enricher>,
    /// Where [`run_with_progress`] reports the messages handled.
    progress: Option<Arc<AtomicU64>>,
    metrics: Arc<Metrics>,
    /// By output index.
    sink_metrics: Vec<SinkMetrics>,
    /// By output index.
    rows_emitted: Vec<IntCounter>,
    node_metrics: NodeMetrics,
    decode_timer: SampledTimer,
    last_metrics: Instant,
    /// The dead-letter producer, when a policy is `dead_letter`.
    dead_letters: Option<dead_letter::DeadLetters>,
    /// Consumer errors without progress.
    stall: stall::StallWatch,
    /// The subscribed topics, for logs.
    topics: Vec<String>,
}

impl<'p, 'r> Stream<'p, 'r> {
    fn connect(
        setup: StreamSetup<'p>,
        runtime: &'r tokio::runtime::Runtime,
    ) -> Result<Self, String> {
        let StreamSetup {
            program,
            source,
            config,
            schemas,
            sinks,
            stop,
            runtime: _,
            metrics,
        } = setup;
        // Before joining the group: a lookup table that does not match the spec stops here.
        let lookups = crate::lookup::connect(program, &config.scylla, runtime, &stop)?
            .map(|l| l.with_stop(stop.clone()));
        let producer = config.kafka.producer_config().map_err(|e| e.to_string())?;
        let group = group_id(program, source);
        let log_topic = config
            .kafka
            .session_log_topic
            .clone()
            .unwrap_or_else(|| format!("{group}.spanflow-sessions"));
        let log = runtime.block_on(SessionLog::open(&producer, &log_topic))?;
        let dead_letters = dead_letter::DeadLetters::connect(program, &producer)?;
        let mut consumer_config = config.kafka.consumer_config().map_err(|e| e.to_string())?;
        consumer_config
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set(
                "auto.offset.reset",
                match source.start_from {
                    StartFrom::Earliest => "earliest",
                    StartFrom::Latest => "latest",
                },
            );
        // Bound what librdkafka prefetches: it is what a paused consumer may still deliver.
        if !config
            .kafka
            .properties
            .contains_key("queued.max.messages.kbytes")
        {
            consumer_config.set("queued.max.messages.kbytes", "16384");
        }
        // Statistics feed the consumer-lag gauge.
        if !config
            .kafka
            .properties
            .contains_key("statistics.interval.ms")
            && !config
                .kafka
                .consumer_properties
                .contains_key("statistics.interval.ms")
        {
            consumer_config.set("statistics.interval.ms", "2000");
        }
        let consumer: BaseConsumer<LoopContext> = consumer_config
            .create_with_context(LoopContext::new(metrics.consumer_lag.clone()))
            .map_err(|e| format!("cannot create the Kafka consumer: {e}"))?;
        let topics: Vec<&str> = source.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| format!("cannot subscribe to {topics:?}: {e}"))?;
        let (acks_tx, acks) = mpsc::channel();
        let max_in_flight = config.delivery.max_in_flight.max(1);
        let sink_metrics = (0..sinks.len())
            .map(|i| metrics.sink(program, &sinks, i))
            .collect();
        tracing::info!(group = %group, topics = ?topics, session_log = %log_topic, "Consuming.");
        Ok(Self {
            program,
            prepared: HashMap::new(),
            gap: program
                .input
                .session_gap
                .unwrap_or((DEFAULT_SESSION_GAP_SECS * 1000.0) as Time),
            // Quiet for a whole gap of wall-clock time unless the spec says otherwise.
            idle_after: Duration::from_millis(
                source
                    .idle_secs
                    .map_or(program.input.session_gap, |s| Some(s.millis()))
                    .unwrap_or((DEFAULT_SESSION_GAP_SECS * 1000.0) as Time) as u64,
            ),
            last_idle_check: Instant::now(),
            consumer: Arc::new(consumer),
            log,
            schemas,
            sinks,
            runtime,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            acks_tx,
            acks,
            stop,
            partitions: Vec::new(),
            next_generation: 0,
            rows: VecDeque::new(),
            markers: Vec::new(),
            in_flight: 0,
            paused: false,
            commit_interval: config.delivery.commit_interval(),
            drain_timeout: config.delivery.drain_timeout(),
            last_commit: Instant::now(),
            event: DecodedEvent::default(),
            summary: StreamSummary::default(),
            bad_policy: program.input.on_bad_record,
            starting: HashMap::new(),
            idle_polls: 0,
            idle_checked: HashMap::new(),
            lookups,
            progress: None,
            sink_metrics,
            rows_emitted: program
                .outputs
                .iter()
                .map(|o| metrics.rows_emitted.with_label_values(&[&o.name]))
                .collect(),
            node_metrics: metrics.nodes(program),
            decode_timer: metrics.decode_timer(),
            last_metrics: Instant::now(),
            metrics,
            dead_letters,
            stall: stall::StallWatch::default(),
            topics: source.topics.clone(),
        })
    }

    fn run_loop(&mut self) -> Result<(), String> {
        self.metrics.health.set_running(true);
        while !self.stop.load(Ordering::Relaxed) {
            self.metrics.health.turn();
            if self.last_metrics.elapsed() >= METRICS_INTERVAL {
                self.export_metrics();
            }
            self.handle_acks()?;
            self.dispatch();
            self.apply_backpressure();
            let consumer = self.consumer.clone();
            let polled = consumer.poll(Duration::from_millis(100));
            // One clock read per turn for the stall and quiet-partition checks.
            let now = Instant::now();
            self.drop_revoked();
            self.prepare_assigned()?;
            match polled {
                None => {
                    self.idle_polls += 1;
                    if !self.paused && self.idle_polls >= IDLE_POLLS_BEFORE_CHECK {
                        self.idle_polls = 0;
                        self.check_idle_partitions()?;
                    }
                }
                Some(Err(e)) => {
                    self.metrics
                        .errors
                        .with_label_values(&[&stall::error_type(&e)])
                        .inc();
                    let text = self.consumer.context().take_error_text();
                    let change = self.stall.error(&e, text.as_deref(), now);
                    self.report(change);
                }
                Some(Ok(msg)) => {
                    let change = self.stall.message(now);
                    self.report(change);
                    self.handle_message(&msg)?;
                    if let Some(progress) = &self.progress {
                        progress.store(self.summary.messages, Ordering::Relaxed);
                    }
                }
            }
            if now.duration_since(self.last_idle_check) >= IDLE_CHECK_INTERVAL {
                self.last_idle_check = now;
                self.end_quiet_partitions(now);
            }
            let change = self.stall.check(now);
            self.report(change);
            if self.last_commit.elapsed() >= self.commit_interval {
                self.commit(false);
            }
        }
        Ok(())
    }

    /// Ends the open sessions of every partition that has had no message for `idle_after` (to
    /// within [`IDLE_CHECK_INTERVAL`]) and whose log really ends at its position (not paused,
    /// not lagging). The place is recorded in the session log first, so that a replay ends the
    /// same sessions there.
    fn end_quiet_partitions(&mut self, now: Instant) {
        if self.paused {
            return;
        }
        for index in 0..self.partitions.len() {
            let Some(run) = self.partitions[index].as_mut() else {
                continue;
            };
            let position = run.tracker.next_offset();
            if run.quiet_since.0 != position {
                run.quiet_since = (position, now);
                continue;
            }
            if now.duration_since(run.quiet_since.1) < self.idle_after
                || run.processor.open_sessions() == 0
                || self.starting.contains_key(&run.id)
            {
                continue;
            }
            let id = run.id.clone();
            match self
                .consumer
                .fetch_watermarks(&id.0, id.1, Duration::from_secs(5))
            {
                Ok((_, end)) if end <= position => {}
                // Messages not read yet: not quiet.
                _ => continue,
            }
            if let Err(e) = self
                .runtime
                .block_on(self.log.record_idle_end(&id.0, id.1, position))
            {
                tracing::warn!(topic = %id.0, partition = id.1, error = %e, "Could not record a quiet partition's session end; trying again later.");
                continue;
            }
            crate::crash_point::crash_point("idle_end_recorded");
            let ended = self.end_open_sessions(index);
            self.metrics.idle_session_ends.inc_by(ended as u64);
            tracing::info!(
                topic = %id.0,
                partition = id.1,
                offset = position,
                sessions = ended,
                quiet_secs = self.idle_after.as_secs_f64(),
                "A partition was quiet: its open sessions ended."
            );
        }
    }

    /// Ends every open session of partition `index` (rows and markers as at a gap); returns
    /// how many.
    fn end_open_sessions(&mut self, index: usize) -> usize {
        let Some(run) = self.partitions[index].as_mut() else {
            return 0;
        };
        let ended = run.processor.open_sessions();
        let mut late = None;
        let mut collector = Collector {
            partition: index,
            generation: run.generation,
            tracker: &mut run.tracker,
            rows: &mut self.rows,
            markers: &mut self.markers,
            rows_emitted: &self.rows_emitted,
            late: &mut late,
        };
        run.processor.finish(&mut collector);
        ended
    }

    /// Logs a change of the consumer's progress, once, and sets readiness after it.
    fn report(&self, change: Option<stall::Change>) {
        match change {
            None => {}
            Some(stall::Change::Failing(error)) => {
                tracing::warn!(error = %error, topics = ?self.topics, "Kafka consumer error; further ones are counted in spanflow_errors_total, and the run turns not ready if they continue without a message.");
            }
            Some(stall::Change::Another(error)) => {
                tracing::warn!(error = %error, topics = ?self.topics, "Another kind of Kafka consumer error.");
            }
            Some(stall::Change::Stalled(why)) => {
                tracing::error!(topics = ?self.topics, "{why} (not ready).");
                self.metrics
                    .health
                    .set_consumer_stalled(Some(format!("{why} (topics {:?})", self.topics)));
            }
            Some(stall::Change::Recovered(how)) => {
                tracing::info!(topics = ?self.topics, "The Kafka consumer makes progress again: {how} (ready).");
                self.metrics.health.set_consumer_stalled(None);
            }
        }
    }

    /// Adds the partitions' DAG and session counters to the metrics.
    fn export_metrics(&mut self) {
        self.last_metrics = Instant::now();
        let mut open = 0;
        for p in self.partitions.iter_mut().flatten() {
            p.consumed
                .inc_by(std::mem::take(&mut p.consumed_unexported));
            self.node_metrics.record(&p.processor.take_node_stats());
            open += p.processor.open_sessions();
            let now = p.processor.stats().clone();
            let m = &self.metrics;
            m.sessions_opened
                .inc_by(now.sessions.saturating_sub(p.exported.sessions));
            m.sessions_closed.inc_by(
                now.sessions_closed
                    .saturating_sub(p.exported.sessions_closed),
            );
            let late = (now.late_dropped + now.late_dead_lettered)
                .saturating_sub(p.exported.late_dropped + p.exported.late_dead_lettered);
            m.late_events.inc_by(late);
            m.errors.with_label_values(&["late_event"]).inc_by(late);
            p.exported = now;
        }
        self.metrics.open_sessions.set(open as i64);
        self.metrics
            .sink_in_flight
            .set((self.in_flight + self.rows.len()) as i64);
    }

    /// Waits for writes in flight (up to the drain deadline), commits, leaves the group.
    fn finish(&mut self, drain: bool) -> StreamSummary {
        self.metrics.health.set_stopping();
        if drain {
            tracing::info!(
                in_flight = self.in_flight + self.rows.len(),
                "Stopping: draining writes in flight."
            );
            let deadline = Instant::now() + self.drain_timeout;
            while (self.in_flight > 0
                || !self.rows.is_empty()
                || !self.markers.is_empty()
                || self.dead_letters_queued())
                && Instant::now() < deadline
            {
                if self.handle_acks().is_err() {
                    break;
                }
                self.dispatch();
                if let Ok(ack) = self.acks.recv_timeout(Duration::from_millis(50)) {
                    let _ = self.apply_ack(ack);
                }
            }
            for sink in &self.sinks {
                if let Err(e) = self.runtime.block_on(sink.flush()) {
                    tracing::warn!(error = %e, "Could not flush a sink.");
                }
            }
        }
        self.commit(true);
        self.export_metrics();
        self.metrics.health.set_running(false);
        for p in self.partitions.iter().flatten() {
            let s = p.processor.stats();
            self.summary.late_dropped += s.late_dropped;
            self.summary.replay_skipped += s.replay_skipped;
            self.summary.sessions += s.sessions;
        }
        self.consumer.unsubscribe();
        self.summary.clone()
    }

    fn handle_message(&mut self, msg: &BorrowedMessage<'_>) -> Result<(), String> {
        let Some(index) = self.partition_index(msg.topic(), msg.partition(), msg.offset())? else {
            return Ok(());
        };
        let Some(run) = self.partitions[index].as_mut() else {
            return Err(format!("internal error: partition slot {index} is empty"));
        };
        let position = run.tracker.next_offset();
        self.idle_polls = 0;
        // A gap after the position: real (compaction, transaction markers) or a broker that
        // skipped the rest of a record batch (tansu 0.6 does after a resume). Rewind until the
        // broker proves it delivers the range, as a partition's start does. (Nothing to look up
        // on the usual path: no gap and no rewind in progress.)
        if msg.offset() > position || !self.starting.is_empty() {
            let id = run.id.clone();
            if (msg.offset() > position || self.starting.contains_key(&id))
                && !self.reached_commit(&id, position, msg.offset())?
            {
                return Ok(());
            }
        }
        let Some(run) = self.partitions[index].as_mut() else {
            return Err(format!("internal error: partition slot {index} is empty"));
        };
        if msg.offset() < position {
            // Already processed (a broker re-sent part of a batch): the state includes it.
            self.summary.redelivered += 1;
            if self.summary.redelivered.is_power_of_two() {
                tracing::warn!(
                    topic = msg.topic(),
                    partition = msg.partition(),
                    offset = msg.offset(),
                    expected = position,
                    count = self.summary.redelivered,
                    "Ignored a message before the partition's position."
                );
            }
            return Ok(());
        }
        self.summary.messages += 1;
        run.consumed_unexported += 1;
        if run.idle_ends.front().is_some_and(|&o| o <= msg.offset()) {
            // A run before this one ended the partition's sessions here: so does the replay.
            run.idle_ends.retain(|&o| o > msg.offset());
            self.end_open_sessions(index);
        }
        let Some(payload) = msg.payload() else {
            return self.bad(
                index,
                msg,
                "tombstone",
                "a message without a value (tombstone)".into(),
            );
        };
        let Ok(header) = schema_header(msg) else {
            return self.bad(
                index,
                msg,
                "unreadable_headers",
                format!("a header name is not UTF-8, so spanflow cannot tell whether a `{VALUE_SCHEMA_ID_HEADER}` header names the schema"),
            );
        };
        let mut waited: Option<(Instant, u32)> = None;
        let decoded = loop {
            let started = self.decode_timer.start();
            let result = self.schemas.decode_framed(payload, header, &mut self.event);
            match result {
                Err(e @ DecodeError::SchemaUnavailable { .. }) => {
                    // The registry is down: never drop good data; wait and try again. One log
                    // line when it goes away, then at powers of two, one when it is back.
                    self.metrics
                        .errors
                        .with_label_values(&["schema_registry_unavailable"])
                        .inc();
                    self.metrics.health.set_registry_down(true);
                    let (_, attempts) = waited.get_or_insert((Instant::now(), 0));
                    *attempts += 1;
                    if attempts.is_power_of_two() {
                        tracing::warn!(error = %e, attempts = *attempts, "Schema registry unavailable; waiting for it (not ready).");
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    self.metrics.health.turn();
                    if self.stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                }
                other => {
                    self.decode_timer.stop(started);
                    break other;
                }
            }
        };
        if let Some((since, _)) = waited {
            self.metrics.health.set_registry_down(false);
            tracing::info!(
                waited_secs = since.elapsed().as_secs(),
                "Schema registry reachable again; consuming (ready)."
            );
        }
        if let Err(e) = decoded {
            if e.is_other_record_type() {
                self.summary.other_records += 1;
                if let Some(run) = self.partitions[index].as_mut() {
                    run.tracker
                        .consumed(msg.offset(), run.processor.watermark());
                }
                return Ok(());
            }
            if e.is_fatal() {
                return Err(format!("{}: {e}", message_at(msg)));
            }
            return self.bad(index, msg, e.reason(), e.to_string());
        }
        // The record is lent to the processor: the decoder resets it for the next message.
        if let Some(lookups) = self.lookups.as_mut() {
            match lookups.enrich(&self.event.session_key, &mut self.event.record) {
                Ok(crate::lookup::Joined::Keep) => {}
                Ok(crate::lookup::Joined::Drop) => {
                    self.summary.lookup_dropped += 1;
                    if let Some(run) = self.partitions[index].as_mut() {
                        run.tracker
                            .consumed(msg.offset(), run.processor.watermark());
                    }
                    return Ok(());
                }
                // Stopping while the cluster is unreachable: the message stays unconsumed.
                Err(e) if e.stopped => return Ok(()),
                Err(e) => return Err(format!("{}: {e}", message_at(msg))),
            }
        }
        self.check_key_partition(index, msg);
        let Some(run) = self.partitions[index].as_mut() else {
            return Err(format!("internal error: partition slot {index} is empty"));
        };
        let mut late = None;
        let mut collector = Collector {
            partition: index,
            generation: run.generation,
            tracker: &mut run.tracker,
            rows: &mut self.rows,
            markers: &mut self.markers,
            rows_emitted: &self.rows_emitted,
            late: &mut late,
        };
        run.processor
            .push_at(
                msg.offset(),
                &self.event.session_key,
                &self.event.record,
                &mut collector,
            )
            .map_err(|e| format!("{} ({}): {e}", message_at(msg), e.reason()))?;
        run.tracker
            .consumed(msg.offset(), run.processor.watermark());
        match late {
            Some(late) => self.dead_letter_late(index, msg, late),
            None => Ok(()),
        }
    }

    /// A session's events must all arrive on one partition: each partition evaluates its own
    /// sessions, so a key on two partitions is two fragments with wrong rows. Detected when a
    /// key opens a session while its session is open on another partition of this process
    /// (counted; warned at the first and at powers of two).
    fn check_key_partition(&mut self, index: usize, msg: &BorrowedMessage<'_>) {
        // One partition (the usual test and small deployment): nothing to look up.
        if self.partitions.iter().flatten().nth(1).is_none() {
            return;
        }
        let key = &self.event.session_key;
        let open_here = self.partitions[index]
            .as_ref()
            .is_none_or(|p| p.processor.is_open(key));
        if open_here {
            return;
        }
        let Some(other) = self
            .partitions
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != index)
            .find_map(|(_, p)| p.as_ref().filter(|p| p.processor.is_open(key)))
        else {
            return;
        };
        self.metrics.split_session_keys.inc();
        self.summary.split_session_keys += 1;
        let count = self.summary.split_session_keys;
        if count.is_power_of_two() {
            tracing::warn!(
                session = %key,
                topic = msg.topic(),
                partition = msg.partition(),
                also_open_on = other.id.1,
                count,
                "A session's events arrive on several partitions: each partition sees a fragment, \
                 so its rows are wrong. Produce with the session key as the message key (the \
                 default partitioner then keeps a session on one partition)."
            );
        }
    }

    fn bad(
        &mut self,
        index: usize,
        msg: &BorrowedMessage<'_>,
        reason: &'static str,
        message: String,
    ) -> Result<(), String> {
        let at = message_at(msg);
        self.metrics.errors.with_label_values(&[reason]).inc();
        match self.bad_policy {
            BadRecordPolicy::Fail => Err(format!(
                "bad record at {at} ({reason}): {message} (input.on_bad_record is `fail`; set it to `drop` to skip bad records or `dead_letter` to set them aside)"
            )),
            BadRecordPolicy::DeadLetter => self.dead_letter_bad(index, msg, reason, message),
            BadRecordPolicy::Drop => {
                let n = self.summary.bad_records.entry(reason).or_default();
                *n += 1;
                // The first of each reason, then at powers of two: never one line per record.
                if n.is_power_of_two() {
                    tracing::warn!(reason, at = %at, count = *n, "Skipped a bad record: {message}.");
                }
                if let Some(run) = self.partitions[index].as_mut() {
                    run.tracker.consumed(msg.offset(), run.processor.watermark());
                }
                Ok(())
            }
        }
    }

    /// Partitions with nothing to read although their log goes further (tansu 0.6 answers a fetch
    /// from the middle of its last record batch with nothing) are rewound like a gap, and a
    /// rewind that brought nothing rewinds further. Otherwise checked once per position: a log
    /// that ends with a transaction marker stays behind its end.
    fn check_idle_partitions(&mut self) -> Result<(), String> {
        let running: Vec<(PartitionId, Offset)> = self
            .partitions
            .iter()
            .flatten()
            .map(|p| (p.id.clone(), p.tracker.next_offset()))
            // A rewind that brought nothing goes further; otherwise once per position.
            .filter(|(id, position)| {
                self.starting.contains_key(id) || self.idle_checked.get(id) != Some(position)
            })
            .collect();
        for (id, position) in running {
            self.idle_checked.insert(id.clone(), position);
            let Ok((_, high)) = self
                .consumer
                .fetch_watermarks(&id.0, id.1, Duration::from_secs(1))
            else {
                continue;
            };
            if high > position {
                tracing::warn!(topic = %id.0, partition = id.1, position, log_end = high, "A partition is idle before the end of its log; rewinding to check for skipped messages.");
                self.reached_commit(&id, position, Offset::MAX)?;
            }
        }
        Ok(())
    }

    /// The index of the partition's state, set up on its first message after an assignment.
    fn partition_index(
        &mut self,
        topic: &str,
        partition: i32,
        offset: Offset,
    ) -> Result<Option<usize>, String> {
        if let Some(i) = self.partitions.iter().position(|p| {
            p.as_ref()
                .is_some_and(|p| p.id.0 == topic && p.id.1 == partition)
        }) {
            return Ok(Some(i));
        }
        let id: PartitionId = (topic.to_string(), partition);
        if !self.prepared.contains_key(&id) {
            // Assigned before the loop saw it (or a message racing the rebalance callback).
            self.prepare(vec![id.clone()])?;
        }
        let committed = self.prepared.get(&id).and_then(|p| p.committed);
        if let Some((start, _)) = committed {
            if !self.reached_commit(&id, start, offset)? {
                return Ok(None);
            }
        }
        let log = self.prepared.remove(&id).map(|p| p.log).unwrap_or_default();
        let watermark = committed
            .filter(|(c, _)| *c == offset)
            .and_then(|(_, w)| w)
            .or_else(|| log.watermark_at(offset));
        let mut processor =
            SessionProcessor::resume(self.program, watermark).with_default_gap(self.gap);
        processor.enable_node_stats(NODE_SAMPLE_EVERY);
        let mut skipped = 0;
        for m in log.completed.iter().filter(|m| m.last >= offset) {
            processor.skip_completed(&m.key, m.first, m.last);
            skipped += 1;
        }
        tracing::info!(
            topic,
            partition,
            offset,
            watermark,
            completed_sessions = skipped,
            "Reading a partition."
        );
        self.next_generation += 1;
        let run = PartitionRun {
            consumed: self
                .metrics
                .messages_consumed
                .with_label_values(&[id.0.as_str(), &partition.to_string()]),
            consumed_unexported: 0,
            exported: Stats::default(),
            id,
            generation: self.next_generation,
            processor,
            tracker: CommitTracker::new(Checkpoint { offset, watermark }),
            committed: None,
            recorded: Vec::new(),
            quiet_since: (offset, Instant::now()),
            idle_ends: {
                let mut ends: Vec<Offset> = log
                    .idle_ends
                    .iter()
                    .copied()
                    .filter(|&o| o > offset)
                    .collect();
                ends.sort_unstable();
                ends.dedup();
                ends.into()
            },
        };
        self.starting.remove(&run.id);
        let slot = self.partitions.iter().position(Option::is_none);
        Ok(Some(match slot {
            Some(i) => {
                self.partitions[i] = Some(run);
                i
            }
            None => {
                self.partitions.push(Some(run));
                self.partitions.len() - 1
            }
        }))
    }

    /// Whether a partition being started may start at `offset`, given its committed offset.
    ///
    /// A read must start exactly at the commit, or sessions open there would be replayed in
    /// part. Messages before it are skipped. A first message after it is either a real gap
    /// (compaction, transaction markers) or a broker that skipped part of a record batch
    /// (tansu 0.6 answers a fetch from the middle of a batch with the next batch): the read
    /// rewinds further and further until it sees a message before the commit, which proves
    /// the broker delivers that range and the gap is real.
    fn reached_commit(
        &mut self,
        id: &PartitionId,
        start: Offset,
        offset: Offset,
    ) -> Result<bool, String> {
        let state = self.starting.entry(id.clone()).or_default();
        if offset < start {
            state.saw_earlier = true;
            return Ok(false);
        }
        if offset == start || state.saw_earlier || state.rewound_to == Some(0) {
            self.starting.remove(id);
            return Ok(true);
        }
        state.attempts += 1;
        if state.attempts > 12 {
            return Err(format!(
                "{}/{}: the broker keeps skipping messages: expected offset {start}, delivered {offset} even after rewinding 12 times",
                id.0, id.1
            ));
        }
        let back = (start - (64i64 << state.attempts)).max(0);
        state.rewound_to = Some(back);
        tracing::warn!(topic = %id.0, partition = id.1, delivered = offset, expected = start, rewind_to = back, attempt = state.attempts, "A message is past the expected offset; rewinding to check for skipped messages.");
        self.consumer
            .seek(
                &id.0,
                id.1,
                rdkafka::Offset::Offset(back),
                Duration::from_secs(10),
            )
            .map_err(|e| format!("{}/{}: cannot seek to offset {back}: {e}", id.0, id.1))?;
        Ok(false)
    }

    /// The partition's committed offset and its metadata.
    /// Reads what the partitions assigned since the last look start from.
    fn prepare_assigned(&mut self) -> Result<(), String> {
        let assigned: Vec<PartitionId> = std::mem::take(
            &mut *self
                .consumer
                .context()
                .assigned
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        let new: Vec<PartitionId> = assigned
            .into_iter()
            .filter(|id| {
                !self.prepared.contains_key(id)
                    && !self.partitions.iter().flatten().any(|p| &p.id == id)
            })
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        self.prepare(new.clone())?;
        tracing::info!(
            partitions = new.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "Read the committed offsets and the session log of the assigned partitions."
        );
        Ok(())
    }

    /// Reads the committed offsets and the session log of `ids`, in one request each.
    fn prepare(&mut self, ids: Vec<PartitionId>) -> Result<(), String> {
        let mut committed = self.committed(&ids);
        let mut logs = self.log.read(&ids, Duration::from_secs(30))?;
        for id in ids {
            let prepared = Prepared {
                committed: committed.remove(&id),
                log: logs.remove(&id).unwrap_or_default(),
            };
            self.prepared.insert(id, prepared);
        }
        Ok(())
    }

    /// The committed offsets of `ids` (with the watermark in their metadata), in one request.
    fn committed(&self, ids: &[PartitionId]) -> HashMap<PartitionId, (Offset, Option<Time>)> {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in ids {
            tpl.add_partition(topic, *partition);
        }
        let Ok(committed) = self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(10))
        else {
            return HashMap::new();
        };
        let mut out = HashMap::new();
        for e in committed.elements() {
            let Some(offset) = e.offset().to_raw().filter(|o| *o >= 0) else {
                continue;
            };
            // rdkafka panics on metadata that is not UTF-8, which any client of the group may
            // have committed: treat that as no watermark rather than crash.
            let metadata =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.metadata().to_owned()))
                    .unwrap_or_default();
            out.insert(
                (e.topic().to_string(), e.partition()),
                (offset, Checkpoint::watermark_from_metadata(&metadata)),
            );
        }
        out
    }

    fn drop_revoked(&mut self) {
        let revoked: Vec<PartitionId> = std::mem::take(
            &mut *self
                .consumer
                .context()
                .revoked
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        if revoked.is_empty() {
            return;
        }
        self.starting.retain(|id, _| !revoked.contains(id));
        self.idle_checked.retain(|id, _| !revoked.contains(id));
        self.prepared.retain(|id, _| !revoked.contains(id));
        let mut committable = self
            .consumer
            .context()
            .committable
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for slot in &mut self.partitions {
            if let Some(p) = slot.take_if(|p| revoked.contains(&p.id)) {
                committable.remove(&p.id);
                // Its sessions are replayed by the new owner; rows in flight still land (they
                // are upserts) and their acknowledgements are ignored (generation mismatch).
                tracing::info!(topic = %p.id.0, partition = p.id.1, open_sessions = p.processor.open_sessions(), "Released a partition.");
            }
        }
        drop(committable);
        let before = self.rows.len();
        let partitions = &self.partitions;
        self.rows.retain(|r| {
            partitions[r.partition]
                .as_ref()
                .is_some_and(|p| p.generation == r.generation)
        });
        self.markers.retain(|m| {
            partitions[m.partition]
                .as_ref()
                .is_some_and(|p| p.generation == m.generation)
        });
        if self.rows.len() < before {
            tracing::debug!(
                dropped = before - self.rows.len(),
                "Dropped queued rows of revoked partitions."
            );
        }
    }

    /// Starts writes while permits last.
    fn dispatch(&mut self) {
        for m in self.markers.drain(..) {
            let Some(p) = self.partitions[m.partition].as_ref() else {
                continue;
            };
            let (topic, partition) = p.id.clone();
            let log = self.log.clone();
            let tx = self.acks_tx.clone();
            let stop = self.stop.clone();
            self.in_flight += 1;
            self.runtime.spawn(async move {
                let mut backoff = Duration::from_millis(100);
                let result = loop {
                    match log.record(&topic, partition, &m.marker).await {
                        Ok(()) => break Ok(()),
                        Err(e) if stop.load(Ordering::Relaxed) => break Err(e),
                        Err(e) => {
                            tracing::warn!(error = %e, "Session log write failed; retrying.");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                };
                let _ = tx.send(Ack::Marker {
                    partition: m.partition,
                    generation: m.generation,
                    first: m.marker.first,
                    last: m.marker.last,
                    result,
                });
            });
        }
        while !self.rows.is_empty() {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                break;
            };
            let Some(task) = self.rows.pop_front() else {
                break;
            };
            let sink = self.sinks[task.row.row.output].clone();
            let metrics = self.sink_metrics[task.row.row.output].clone();
            let tx = self.acks_tx.clone();
            let stop = self.stop.clone();
            self.in_flight += 1;
            self.runtime.spawn(async move {
                let result = write_with_retry(&sink, &task.row, &stop, &metrics).await;
                drop(permit);
                let _ = tx.send(Ack::Row {
                    partition: task.partition,
                    generation: task.generation,
                    first: task.first,
                    result,
                });
            });
        }
        self.dispatch_dead_letters();
    }

    /// Pauses the partitions while rows or dead letters wait for a write slot; resumes when
    /// they don't.
    fn apply_backpressure(&mut self) {
        let want_pause = !self.rows.is_empty() || self.dead_letters_queued();
        if want_pause == self.paused {
            return;
        }
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let result = if want_pause {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        match result {
            Ok(()) => {
                self.paused = want_pause;
                if want_pause {
                    tracing::info!(
                        in_flight = self.max_in_flight,
                        "Sinks are saturated: pausing consumption."
                    );
                } else {
                    tracing::info!("Sinks caught up: resuming consumption.");
                }
            }
            Err(e) => tracing::warn!(error = %e, "Could not pause or resume partitions."),
        }
    }

    fn handle_acks(&mut self) -> Result<(), String> {
        while let Ok(ack) = self.acks.try_recv() {
            self.apply_ack(ack)?;
        }
        Ok(())
    }

    fn apply_ack(&mut self, ack: Ack) -> Result<(), String> {
        self.in_flight -= 1;
        match ack {
            Ack::Row {
                partition,
                generation,
                first,
                result,
            } => {
                result.map_err(|e| format!("cannot write a row: {e}"))?;
                self.summary.rows_written += 1;
                let Some(p) = self.partitions[partition]
                    .as_mut()
                    .filter(|p| p.generation == generation)
                else {
                    return Ok(());
                };
                if let Some(marker) = p.tracker.row_acked(first) {
                    self.markers.push(MarkerTask {
                        partition,
                        generation,
                        marker,
                    });
                }
            }
            Ack::Marker {
                partition,
                generation,
                first,
                last,
                result,
            } => {
                result?;
                if let Some(p) = self.partitions[partition]
                    .as_mut()
                    .filter(|p| p.generation == generation)
                {
                    p.tracker.marker_acked(first);
                    p.recorded.push((first, last));
                }
            }
            Ack::DeadLetter(ack) => self.dead_letter_acked(ack)?,
        }
        Ok(())
    }

    /// Commits every partition whose committable checkpoint moved; the final commit also waits
    /// for the markers' removal.
    fn commit(&mut self, final_commit: bool) {
        self.last_commit = Instant::now();
        let changed: Vec<(PartitionId, Checkpoint)> = self
            .partitions
            .iter()
            .flatten()
            .map(|p| (p.id.clone(), p.tracker.committable(), p.committed))
            .filter(|(_, cp, committed)| *committed != Some(*cp))
            .map(|(id, cp, _)| (id, cp))
            .collect();
        if changed.is_empty() {
            return;
        }
        // The log's copy of each checkpoint first: brokers may drop commit metadata.
        let log = self.log.clone();
        let written = self.runtime.block_on(async {
            for ((topic, partition), cp) in &changed {
                log.record_checkpoint(topic, *partition, *cp).await?;
            }
            Ok::<(), String>(())
        });
        if let Err(e) = written {
            tracing::warn!(error = %e, "Could not record checkpoints; the commit waits for the next interval.");
            return;
        }
        // What a revocation commits from now on (it cannot write the log itself).
        self.consumer
            .context()
            .committable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(changed.iter().cloned());
        let list = commit_list(changed.iter().map(|(id, cp)| (id, cp)));
        // Synchronous: only a commit the broker took lets the session log forget the markers
        // before it. An asynchronous commit librdkafka accepted may still be refused (a
        // rebalance in progress), and librdkafka reports manual commits' results to no callback
        // here; a replay from the older commit would then meet those sessions in part.
        match self.consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => {
                self.metrics.commits.with_label_values(&["ok"]).inc();
                for (id, cp) in changed {
                    if let Some(p) = self.partitions.iter_mut().flatten().find(|p| p.id == id) {
                        p.committed = Some(cp);
                        // Markers of sessions wholly before the commit can never be needed.
                        let (done, kept) = p
                            .recorded
                            .drain(..)
                            .partition(|(_, last)| *last < cp.offset);
                        p.recorded = kept;
                        forget_markers(&self.log, self.runtime, &p.id, done, final_commit);
                    }
                }
            }
            Err(e) => {
                self.metrics.commits.with_label_values(&["error"]).inc();
                self.metrics.errors.with_label_values(&["commit"]).inc();
                tracing::warn!(error = %e, "The broker refused an offset commit; it is sent again at the next interval.")
            }
        }
    }
}

/// The value of the message's first `__value_schema_id` header, which names its schema instead
/// of the prefix (a header without a value counts as none, as in confluent-kafka). `Err` when
/// the headers cannot be read: rdkafka panics on a header name that is not UTF-8.
fn schema_header<'m>(msg: &'m BorrowedMessage<'_>) -> Result<Option<&'m [u8]>, ()> {
    let Some(headers) = msg.headers() else {
        return Ok(None);
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        headers
            .iter()
            .find(|h| h.key == VALUE_SCHEMA_ID_HEADER)
            .and_then(|h| h.value)
    }))
    .map_err(|_| ())
}

/// `topic/partition offset N`: where a message came from, for errors and logs.
pub(crate) fn message_at(msg: &BorrowedMessage<'_>) -> String {
    format!(
        "{}/{} offset {}",
        msg.topic(),
        msg.partition(),
        msg.offset()
    )
}

/// Tombstones session-log markers, in the background unless `wait` (the final commit); a lost
/// tombstone only leaves a marker that readers skip.
fn forget_markers(
    log: &SessionLog,
    runtime: &tokio::runtime::Runtime,
    id: &PartitionId,
    markers: Vec<(Offset, Offset)>,
    wait: bool,
) {
    if markers.is_empty() {
        return;
    }
    let log = log.clone();
    let (topic, partition) = id.clone();
    let task = runtime.spawn(async move {
        for (first, _) in markers {
            if let Err(e) = log.forget(&topic, partition, first).await {
                tracing::debug!(error = %e, "Could not remove a session-log marker.");
            }
        }
    });
    if wait {
        let _ = runtime.block_on(task);
    }
}
