//! What a run exports to Prometheus, and the HTTP endpoints serving it (`/metrics`, `/health`,
//! `/ready`; see [`server`]).
//!
//! Each run owns a [`Metrics`] with its own registry (tests run several pipelines in one
//! process). The hot path never touches a label map: counters are resolved to handles once
//! (per partition, node, sink), and the interpreter's per-node counters are plain integers that
//! the consumer loop adds to the registry about once a second ([`NodeMetrics::record`]).
//! Timings that would cost more than what they time (decoding a record, stepping a node) are
//! sampled.

#[cfg(target_os = "linux")]
mod cpu;
mod health;
pub mod server;

pub use health::{Health, Readiness};

use crate::sink::Sink;
use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};
use spanflow_engine::InterpreterStats;
use spanflow_operators::Program;
use std::sync::Arc;
use std::time::Instant;

/// Sink write latency buckets, in seconds: 50 µs (a local write) to 15 s (a write that waited
/// out timeouts and retries), as Numberly chose for their ScyllaDB writers.
pub const WRITE_SECONDS_BUCKETS: [f64; 18] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 15.0,
];

/// Decode and node-step buckets, in seconds: 100 ns (a release build's decode) to 10 ms, at
/// 1-2.5-5 steps throughout (a coarser step turns quantiles into interpolation artefacts).
pub const STEP_SECONDS_BUCKETS: [f64; 16] = [
    1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
    5e-3, 1e-2,
];

/// One decode in this many is timed.
pub const DECODE_SAMPLE_EVERY: u32 = 64;

/// One interpreter step in this many has its nodes timed.
pub const NODE_SAMPLE_EVERY: u32 = 256;

/// Every metric of a run, registered in its own registry.
pub struct Metrics {
    registry: Registry,
    /// Readiness and liveness, served by `/ready` and `/health`.
    pub health: Arc<Health>,
    /// Messages read from the source, by topic and partition.
    pub messages_consumed: IntCounterVec,
    /// Messages written to Kafka (Kafka sinks, dead letters), by topic.
    pub messages_produced: IntCounterVec,
    /// Messages between the committed offset and the end of the partition, from librdkafka's
    /// statistics.
    pub consumer_lag: IntGaugeVec,
    /// Time to decode one message into the spec's projection (sampled).
    pub decode_seconds: Histogram,
    node_events_in: IntCounterVec,
    node_events_out: IntCounterVec,
    node_steps: IntCounterVec,
    node_eval_seconds: HistogramVec,
    /// Sessions open now, over every owned partition.
    pub open_sessions: IntGauge,
    /// Sessions opened.
    pub sessions_opened: IntCounter,
    /// Sessions ended (by the gap, or by a replay skip).
    pub sessions_closed: IntCounter,
    /// Events behind their session's lateness bound.
    pub late_events: IntCounter,
    /// Events whose session key is open on another partition of this process.
    pub split_session_keys: IntCounter,
    /// Sessions ended because their partition was quiet (`idle_secs`).
    pub idle_session_ends: IntCounter,
    /// Rows the DAG produced, by output.
    pub rows_emitted: IntCounterVec,
    sink_write_seconds: HistogramVec,
    sink_rows_written: IntCounterVec,
    sink_retries: IntCounterVec,
    /// Row writes started and not yet acknowledged.
    pub sink_in_flight: IntGauge,
    /// Errors by type: bad-record reasons, `late_event`, `kafka_<librdkafka code>`,
    /// `schema_registry_unavailable`, `sink_write_retryable`, `sink_write_failed`, `commit`.
    pub errors: IntCounterVec,
    /// Offset commits, by result (`ok`, `error`).
    pub commits: IntCounterVec,
    /// Records acknowledged by the dead-letter topic, by reason.
    pub dead_letters: IntCounterVec,
    /// Every metric family's name, whether or not it has a value yet.
    names: Vec<String>,
}

impl Metrics {
    /// Every metric, registered, at zero; with the process collector (RSS, CPU, open files).
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let mut m = Metrics {
            health: Arc::default(),
            messages_consumed: counter_vec(
                "spanflow_messages_consumed_total",
                "Messages read from the source topics.",
                &["topic", "partition"],
            ),
            messages_produced: counter_vec(
                "spanflow_messages_produced_total",
                "Messages written to Kafka topics (Kafka sinks, dead letters).",
                &["topic"],
            ),
            consumer_lag: gauge_vec(
                "spanflow_consumer_lag",
                "Messages between the committed offset and the partition's end (librdkafka statistics).",
                &["topic", "partition"],
            ),
            decode_seconds: histogram(
                "spanflow_decode_seconds",
                "Time to decode one message into the spec's fields (one in 64 timed).",
                &STEP_SECONDS_BUCKETS,
            ),
            node_events_in: counter_vec(
                "spanflow_node_events_in_total",
                "Items reaching a DAG node: records, events, or state changes of its inputs.",
                &["node"],
            ),
            node_events_out: counter_vec(
                "spanflow_node_events_out_total",
                "Items a DAG node emitted: events, or state changes.",
                &["node"],
            ),
            node_steps: counter_vec(
                "spanflow_node_steps_total",
                "Steps a DAG node ran (nodes whose inputs did not change are skipped).",
                &["node"],
            ),
            node_eval_seconds: histogram_vec(
                "spanflow_node_eval_seconds",
                "Time of one step of a DAG node (one step in 256 timed).",
                &["node"],
                &STEP_SECONDS_BUCKETS,
            ),
            open_sessions: gauge("spanflow_open_sessions", "Sessions open now."),
            sessions_opened: counter("spanflow_sessions_opened_total", "Sessions opened."),
            sessions_closed: counter("spanflow_sessions_closed_total", "Sessions ended."),
            late_events: counter(
                "spanflow_late_events_total",
                "Events later than their session's lateness bound.",
            ),
            idle_session_ends: counter(
                "spanflow_idle_session_ends_total",
                "Sessions ended because their partition had no message for idle_secs.",
            ),
            split_session_keys: counter(
                "spanflow_split_session_keys_total",
                "Sessions opened on a partition while the same key's session is open on another \
                 partition of this process (events of one session on several partitions).",
            ),
            rows_emitted: counter_vec(
                "spanflow_rows_emitted_total",
                "Rows the DAG produced, by output.",
                &["output"],
            ),
            sink_write_seconds: histogram_vec(
                "spanflow_sink_write_seconds",
                "Time from a row write's start to its acknowledgement, retries included.",
                &["sink", "output"],
                &WRITE_SECONDS_BUCKETS,
            ),
            sink_rows_written: counter_vec(
                "spanflow_sink_rows_written_total",
                "Rows acknowledged by a sink.",
                &["sink", "output"],
            ),
            sink_retries: counter_vec(
                "spanflow_sink_retries_total",
                "Row writes retried after an error that may heal.",
                &["sink", "output"],
            ),
            sink_in_flight: gauge(
                "spanflow_sink_in_flight",
                "Row writes started and not yet acknowledged.",
            ),
            errors: counter_vec(
                "spanflow_errors_total",
                "Errors by type (bad-record reasons, late_event, kafka_<librdkafka error code> such as kafka_not_implemented, sink_write_failed, ...).",
                &["type"],
            ),
            commits: counter_vec(
                "spanflow_commits_total",
                "Offset commits, by result.",
                &["result"],
            ),
            dead_letters: counter_vec(
                "spanflow_dead_letters_total",
                "Rejected records written to the dead-letter topic, by reason.",
                &["reason"],
            ),
            registry,
            names: Vec::new(),
        };
        let mut collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(m.messages_consumed.clone()),
            Box::new(m.messages_produced.clone()),
            Box::new(m.consumer_lag.clone()),
            Box::new(m.decode_seconds.clone()),
            Box::new(m.node_events_in.clone()),
            Box::new(m.node_events_out.clone()),
            Box::new(m.node_steps.clone()),
            Box::new(m.node_eval_seconds.clone()),
            Box::new(m.open_sessions.clone()),
            Box::new(m.sessions_opened.clone()),
            Box::new(m.sessions_closed.clone()),
            Box::new(m.late_events.clone()),
            Box::new(m.split_session_keys.clone()),
            Box::new(m.idle_session_ends.clone()),
            Box::new(m.rows_emitted.clone()),
            Box::new(m.sink_write_seconds.clone()),
            Box::new(m.sink_rows_written.clone()),
            Box::new(m.sink_retries.clone()),
            Box::new(m.sink_in_flight.clone()),
            Box::new(m.errors.clone()),
            Box::new(m.commits.clone()),
            Box::new(m.dead_letters.clone()),
            Box::new(build_info()),
        ];
        #[cfg(target_os = "linux")]
        collectors.extend([
            Box::new(prometheus::process_collector::ProcessCollector::for_self())
                as Box<dyn Collector>,
            Box::new(cpu::CpuCollector::for_self()),
        ]);
        for c in collectors {
            m.names.extend(c.desc().iter().map(|d| d.fq_name.clone()));
            // Names are distinct constants: registering cannot fail.
            let _ = m.registry.register(c);
        }
        m
    }

    /// The name of every metric family this run exports (histograms as their base name).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The registry, for encoding (`/metrics`) and tests.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let families = self.registry.gather();
        if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
            tracing::warn!(error = %e, "Cannot encode the metrics.");
        }
        out
    }

    /// The decode timer of a consumer loop.
    pub fn decode_timer(&self) -> SampledTimer {
        SampledTimer::new(self.decode_seconds.clone(), DECODE_SAMPLE_EVERY)
    }

    /// Handles for the sink of output `output` of `program` (`sinks[output]`).
    pub fn sink(&self, program: &Program, sinks: &[Arc<Sink>], output: usize) -> SinkMetrics {
        let sink = sinks.get(output).map_or("none", |s| s.name());
        let name = program.outputs.get(output).map_or("?", |o| o.name.as_str());
        let labels = [sink, name];
        let produced = match sinks.get(output).map(|s| &**s) {
            Some(Sink::Kafka(k)) => k
                .topic(output)
                .map(|t| self.messages_produced.with_label_values(&[t])),
            _ => None,
        };
        SinkMetrics {
            write_seconds: self.sink_write_seconds.with_label_values(&labels),
            rows_written: self.sink_rows_written.with_label_values(&labels),
            retries: self.sink_retries.with_label_values(&labels),
            produced,
            retryable_errors: self.errors.with_label_values(&["sink_write_retryable"]),
            failures: self.errors.with_label_values(&["sink_write_failed"]),
            health: self.health.clone(),
        }
    }

    /// Handles for the nodes of `program`'s DAG.
    pub fn nodes(&self, program: &Program) -> NodeMetrics {
        let nodes = &program.plan.nodes;
        NodeMetrics {
            inputs: nodes.iter().map(|n| n.inputs.to_vec()).collect(),
            events_in: nodes
                .iter()
                .map(|n| self.node_events_in.with_label_values(&[&n.id]))
                .collect(),
            events_out: nodes
                .iter()
                .map(|n| self.node_events_out.with_label_values(&[&n.id]))
                .collect(),
            steps: nodes
                .iter()
                .map(|n| self.node_steps.with_label_values(&[&n.id]))
                .collect(),
            eval_seconds: nodes
                .iter()
                .map(|n| self.node_eval_seconds.with_label_values(&[&n.id]))
                .collect(),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Times one call in `every` into a histogram: `Instant::now` twice costs more than some of
/// what is timed (a decode takes about 200 ns), so most calls are not timed.
#[derive(Clone, Debug)]
pub struct SampledTimer {
    histogram: Histogram,
    every: u32,
    countdown: u32,
}

impl SampledTimer {
    /// A timer observing into `histogram` once in `every` calls.
    pub fn new(histogram: Histogram, every: u32) -> Self {
        let every = every.max(1);
        Self {
            histogram,
            every,
            countdown: every,
        }
    }

    /// Call before the work: the start time when this call is timed.
    #[inline]
    pub fn start(&mut self) -> Option<Instant> {
        self.countdown -= 1;
        if self.countdown == 0 {
            self.countdown = self.every;
            Some(Instant::now())
        } else {
            None
        }
    }

    /// Call after the work with what [`SampledTimer::start`] returned.
    #[inline]
    pub fn stop(&self, started: Option<Instant>) {
        if let Some(started) = started {
            self.histogram.observe(started.elapsed().as_secs_f64());
        }
    }
}

/// One sink's handles.
#[derive(Clone, Debug)]
pub struct SinkMetrics {
    /// Write latency, retries included.
    pub write_seconds: Histogram,
    /// Rows acknowledged.
    pub rows_written: IntCounter,
    /// Retries.
    pub retries: IntCounter,
    /// `errors_total{type="sink_write_retryable"}`.
    pub retryable_errors: IntCounter,
    /// `errors_total{type="sink_write_failed"}`.
    pub failures: IntCounter,
    /// `messages_produced_total{topic}` of a Kafka sink's topic.
    pub produced: Option<IntCounter>,
    /// Retrying writes make the run not ready.
    pub health: Arc<Health>,
}

/// The DAG nodes' handles, by plan index.
#[derive(Clone, Debug)]
pub struct NodeMetrics {
    inputs: Vec<Vec<usize>>,
    events_in: Vec<IntCounter>,
    events_out: Vec<IntCounter>,
    steps: Vec<IntCounter>,
    eval_seconds: Vec<Histogram>,
}

impl NodeMetrics {
    /// Adds an interpreter's counters (taken with `take_stats`). What a node receives is what
    /// its inputs emitted (a node is only skipped when they emitted nothing); a source node
    /// receives what it emits.
    pub fn record(&self, stats: &InterpreterStats) {
        for (i, node) in stats.nodes.iter().enumerate() {
            let (Some(steps), Some(out), Some(inp)) = (
                self.steps.get(i),
                self.events_out.get(i),
                self.events_in.get(i),
            ) else {
                continue;
            };
            steps.inc_by(node.steps);
            out.inc_by(node.outputs);
            let received: u64 = match self.inputs[i].as_slice() {
                [] => node.outputs,
                inputs => inputs
                    .iter()
                    .filter_map(|&j| stats.nodes.get(j))
                    .map(|n| n.outputs)
                    .sum(),
            };
            inp.inc_by(received);
        }
        for &(i, nanos) in &stats.timings {
            if let Some(h) = self.eval_seconds.get(i) {
                h.observe(nanos as f64 * 1e-9);
            }
        }
    }
}

// The constructors below fail only for an invalid metric name or label name, which are constants
// here: a bug every test that creates `Metrics` would show.

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

/// `spanflow_build_info{version}` = 1.
fn build_info() -> IntGaugeVec {
    let g = gauge_vec(
        "spanflow_build_info",
        "The running spanflow's version.",
        &["version"],
    );
    g.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exported_with_its_help() {
        let m = Metrics::new();
        m.messages_consumed.with_label_values(&["t", "0"]).inc();
        let text = m.render();
        for name in [
            "spanflow_messages_consumed_total",
            "spanflow_build_info",
            "spanflow_open_sessions",
            "spanflow_sink_in_flight",
        ] {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} in {text}"
            );
        }
    }

    #[test]
    fn node_inputs_receive_what_their_inputs_emitted() {
        use spanflow_engine::NodeStats;
        let program = crate::spec_file::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("dag-specs/video/connection_induced_rebuffering.yaml"),
        )
        .program
        .expect("the CIR spec loads");
        let m = Metrics::new();
        let nodes = m.nodes(&program);
        let n = program.plan.nodes.len();
        let mut stats = InterpreterStats {
            nodes: vec![NodeStats::default(); n],
            timings: vec![(0, 1_000)],
        };
        for (i, s) in stats.nodes.iter_mut().enumerate() {
            s.steps = 1;
            s.outputs = i as u64 + 1;
        }
        nodes.record(&stats);
        let plan = &program.plan.nodes;
        let and = plan
            .iter()
            .position(|p| p.id == "connection_induced_buffering")
            .expect("node");
        let expected: u64 = plan[and].inputs.iter().map(|&j| j as u64 + 1).sum();
        assert_eq!(nodes.events_in[and].get(), expected);
        assert_eq!(nodes.events_out[and].get(), and as u64 + 1);
        assert_eq!(
            nodes.events_in[0].get(),
            1,
            "the source receives what it emits"
        );
        assert_eq!(nodes.eval_seconds[0].get_sample_count(), 1);
    }
}
