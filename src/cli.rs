//! Command-line interface.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// spanflow: time-state analytics on streams of span data.
#[derive(Debug, Parser)]
#[command(name = "spanflow", version, about)]
pub struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a spec over an input file, or on its streaming source until SIGINT/SIGTERM.
    ///
    /// With `--input`, the file is read; without it, the spec's `input.source` (Kafka) until
    /// stopped. Rows go to each output's `sink`: JSON lines to `--output` (the default), a Kafka
    /// topic or a ScyllaDB table (configured by `--config`).
    Run {
        /// The DAG spec (YAML).
        spec: PathBuf,
        /// The input file: an Avro object container file, a file of length-prefixed
        /// Confluent-framed messages, JSON Lines, CSV or Parquet (see `--input-format`).
        #[arg(long)]
        input: Option<PathBuf>,
        /// With `--input`: its format. By default the file name's extension says it
        /// (`.jsonl`/`.ndjson`, `.csv`, `.parquet`), else its first bytes (Avro container,
        /// Parquet, else framed messages).
        #[arg(long, value_enum, requires = "input")]
        input_format: Option<InputFormat>,
        /// With `--input`: the rows' format. `jsonl` (the default) as today; `csv` and
        /// `parquet` write each output to its own file (several outputs: `--output rows.csv`
        /// gives `rows.<output>.csv`), whatever the outputs' sinks.
        #[arg(long, value_enum, requires = "input")]
        format: Option<RowFormat>,
        /// Directory of `<schema id>.avsc` files for framed input (and for Kafka messages when
        /// no Schema Registry is configured).
        #[arg(long)]
        schemas: Option<PathBuf>,
        /// Where to write the rows (`-` for stdout): JSON lines, or the `--format`.
        #[arg(long, default_value = "-")]
        output: PathBuf,
        /// Runtime configuration (brokers, registry, credentials, limits); see the README.
        #[arg(long, env = "SPANFLOW_CONFIG")]
        config: Option<PathBuf>,
        /// With `--input`: write every output as JSON lines to `--output`, ignoring the
        /// outputs' sinks (a dry run needing no Kafka or ScyllaDB).
        #[arg(long, requires = "input")]
        stdout_only: bool,
        /// With `--input`: order the events by time (then sequence) before evaluating them, so
        /// an out-of-order file loses no late events. Holds the file's events in memory.
        #[arg(long, requires = "input")]
        sort: bool,
        /// With `--input`: after the run, print a table on stderr of what each node did (events
        /// or changes in and out, its share of the steps).
        #[arg(long, requires = "input")]
        stats: bool,
    },
    /// Check specs: syntax, graph, types and field references; every problem at once.
    Validate {
        /// The specs.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Treat warnings (e.g. nodes nothing reads) as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Also check the spec against the running systems it names: each ScyllaDB table
        /// exists with columns of the types its output writes.
        #[arg(long)]
        with_environment: bool,
        /// Runtime configuration for `--with-environment`.
        #[arg(long, env = "SPANFLOW_CONFIG")]
        config: Option<PathBuf>,
    },
    /// ScyllaDB schema management.
    Scylla {
        /// What to do.
        #[command(subcommand)]
        command: ScyllaCommand,
    },
    /// Print the validated plan.
    Explain {
        /// The spec.
        spec: PathBuf,
    },
    /// Print the DAG as a diagram.
    Graph {
        /// The spec.
        spec: PathBuf,
        /// Diagram language.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Draw one session's timelines, node by node (HTML with inline SVG, bare SVG, or text).
    Trace {
        /// The spec.
        spec: PathBuf,
        /// The input file (as `run --input` reads it).
        #[arg(long)]
        input: PathBuf,
        /// The session key to draw.
        #[arg(long)]
        session: String,
        /// Directory of `<id>.avsc` schemas for Confluent-framed input.
        #[arg(long)]
        schemas: Option<PathBuf>,
        /// Runtime config (the ScyllaDB cluster of the spec's lookups).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where to write the trace; `-` is stdout. Default: `trace.html`, `trace.svg`, or
        /// stdout for text.
        #[arg(long)]
        output: Option<PathBuf>,
        /// What to write.
        #[arg(long, value_enum, default_value_t = TraceFormat::Html)]
        format: TraceFormat,
        /// Draw from this time on (epoch milliseconds, as rows' `time`).
        #[arg(long)]
        from: Option<i64>,
        /// Draw up to this time (epoch milliseconds).
        #[arg(long)]
        to: Option<i64>,
    },
    /// Run the `tests:` written in specs.
    Test {
        /// The specs.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the spec format, for editors' YAML language server
    /// (completion, hover descriptions and inline errors); see the README's "Editor support".
    Schema,
    /// Write a deterministic fixture of generated sessions.
    Generate {
        /// Which data.
        #[arg(long, value_enum, default_value_t = Dataset::Heartbeats)]
        dataset: Dataset,
        /// Number of sessions (devices for telemetry).
        #[arg(long, default_value_t = 20)]
        sessions: usize,
        /// Events per session.
        #[arg(long, default_value_t = 60)]
        events: usize,
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// File format.
        #[arg(long, value_enum, default_value_t = FixtureFormat::Avro)]
        format: FixtureFormat,
        /// Output file (`-` for stdout).
        #[arg(long)]
        output: PathBuf,
    },
}

/// `spanflow scylla …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScyllaCommand {
    /// Print the `CREATE KEYSPACE` / `CREATE TABLE IF NOT EXISTS` statements for the spec's
    /// ScyllaDB outputs; with `--apply`, run them on the configured cluster.
    Ddl {
        /// The spec.
        spec: PathBuf,
        /// Run the statements (each is `IF NOT EXISTS`, so running them again changes nothing).
        #[arg(long)]
        apply: bool,
        /// Replication of created keyspaces, a CQL map; production clusters want
        /// `{'class': 'NetworkTopologyStrategy', '<dc>': 3}`.
        #[arg(long, default_value = crate::sink::DEFAULT_REPLICATION)]
        replication: String,
        /// Runtime configuration (the cluster, for `--apply`).
        #[arg(long, env = "SPANFLOW_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Diagram languages.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GraphFormat {
    /// Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// What `spanflow trace` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    /// A self-contained HTML page with the picture as inline SVG.
    Html,
    /// The bare SVG picture.
    Svg,
    /// Text: each node's spans as `[start, end) value`, events as `@t value`.
    Text,
}

/// Input file formats of `run --input-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// An Avro object container file.
    Avro,
    /// Length-prefixed Confluent-framed Avro messages (needs `--schemas`).
    Framed,
    /// JSON Lines: one JSON object per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// Row formats of `run --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RowFormat {
    /// JSON lines.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// Generated datasets.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Dataset {
    /// Video player heartbeats.
    Heartbeats,
    /// IoT device telemetry.
    Telemetry,
}

/// Fixture file formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FixtureFormat {
    /// Avro object container file.
    Avro,
    /// Length-prefixed Confluent-framed messages (schema id 1).
    Framed,
}
