//! Where output rows go on a streaming run, and how they are acknowledged.
//!
//! Every write is async and resolves once the row is durable at the sink (a Kafka delivery
//! report, a CQL write acknowledged, bytes flushed to a file); only then may the source commit
//! past the events the row came from (see [`crate::delivery`]). A failed write says whether
//! retrying can help ([`SinkError::retryable`]); the pipeline retries those with backoff and
//! stops on the others.

mod json;
mod kafka;
mod scylla;
mod setup;
#[cfg(test)]
mod tests;
mod writer;

pub use self::scylla::{
    check_table, connect_session, ddl, execution_error_is_retryable, prepare_error_is_retryable,
    scylla_targets, ScyllaSink, ScyllaSinkError, TableLayout, DEFAULT_REPLICATION,
};
pub use json::JsonLinesSink;
pub use kafka::{
    kafka_error_is_retryable, KafkaSink, KafkaSinkError, OutputSchema, DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_QUEUE_TIMEOUT,
};
pub use setup::{build_sinks, retry_while_unreachable};
pub(crate) use writer::retry_delay;
pub use writer::{write_with_retry, RowWriter};

use spanflow_engine::{Str, ValueType};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::Program;
use std::sync::Arc;
use thiserror::Error;

/// A row on its way to a sink, owned so it can cross into an I/O task.
#[derive(Clone, Debug)]
pub struct SinkRow {
    /// The session key.
    pub session: Str,
    /// The row (its `output` indexes the program's outputs).
    pub row: Row,
}

/// What a sink needs to know about the outputs: names, column names and column value types,
/// by output index.
#[derive(Clone, Debug)]
pub struct OutputsMeta {
    /// The spec's name.
    pub spec: String,
    /// Per output: its name and column names.
    pub outputs: Vec<(String, Vec<String>)>,
    /// Per output: the value type of each column, in column order (numeric timelines are
    /// [`ValueType::F64`]).
    pub column_types: Vec<Vec<ValueType>>,
}

impl OutputsMeta {
    /// The outputs of `program`.
    pub fn of(program: &Program) -> Arc<Self> {
        Arc::new(Self {
            spec: program.name.clone(),
            outputs: program
                .outputs
                .iter()
                .map(|o| (o.name.clone(), o.columns.clone()))
                .collect(),
            column_types: program
                .outputs
                .iter()
                .map(|o| {
                    o.columns
                        .iter()
                        .map(|c| {
                            // Columns are checked to name nodes when the program is built.
                            program.plan.node(c).map_or(ValueType::F64, |n| n.ty.value)
                        })
                        .collect()
                })
                .collect(),
        })
    }
}

/// A write that did not complete.
#[derive(Clone, Debug, Error)]
#[error("{sink}: {message}")]
pub struct SinkError {
    /// Which sink (e.g. `kafka topic cir`, `stdout`).
    pub sink: String,
    /// What went wrong.
    pub message: String,
    /// Whether the same write may succeed later (unreachable or overloaded sink), as opposed
    /// to never (a missing table, a type mismatch, a rejected schema).
    pub retryable: bool,
}

impl SinkError {
    /// A row of an output this sink was not set up for: a routing bug, never retried.
    pub fn not_routed(sink: &str, system: &str, output: usize) -> Self {
        SinkError {
            sink: sink.into(),
            message: format!("output number {output} is not routed to {system}"),
            retryable: false,
        }
    }
}

/// One configured sink.
pub enum Sink {
    /// JSON lines on stdout or a file.
    JsonLines(JsonLinesSink),
    /// Avro records in Confluent framing on Kafka topics.
    Kafka(KafkaSink),
    /// Rows of CQL tables in ScyllaDB or Cassandra.
    Scylla(ScyllaSink),
    /// Rows are dropped once "written" (benchmarks, dry runs).
    Discard,
}

impl Sink {
    /// The sink's name in logs and errors.
    pub fn name(&self) -> &str {
        match self {
            Sink::JsonLines(s) => s.name(),
            Sink::Kafka(_) => "kafka",
            Sink::Scylla(_) => "scylla",
            Sink::Discard => "discard",
        }
    }

    /// Writes one row; resolves when it is durable.
    pub async fn write(&self, row: &SinkRow) -> Result<(), SinkError> {
        match self {
            Sink::JsonLines(s) => s.write(row),
            Sink::Kafka(s) => s.write(row).await,
            Sink::Scylla(s) => s.write(row).await,
            Sink::Discard => Ok(()),
        }
    }

    /// Makes everything written so far durable (called before a final commit).
    pub async fn flush(&self) -> Result<(), SinkError> {
        match self {
            Sink::JsonLines(s) => s.flush(),
            Sink::Kafka(s) => s.flush().await,
            Sink::Scylla(s) => s.flush().await,
            Sink::Discard => Ok(()),
        }
    }
}
