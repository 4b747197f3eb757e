//! The Kafka sink: output rows as Confluent-framed Avro records (see [`KafkaSink`]).

use super::{OutputsMeta, SinkError, SinkRow};
use crate::decode::write_confluent_header;
use crate::registry::{RegistryClient, RegistryError, SubjectNameStrategy};
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use serde_json::json;
use spanflow_engine::{Scalar, ValueType};
use spanflow_operators::spec::{KafkaSinkSpec, SinkSpec};
use spanflow_operators::Program;
use std::time::Duration;

/// How long a write waits for room in the producer's queue before failing (retryably).
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`KafkaSink::flush`] waits for outstanding deliveries.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// The Avro value schema of one output's rows.
///
/// A record named `spanflow.<spec>.<output>` (names sanitised to Avro rules: characters other
/// than ASCII letters, digits and `_` become `_`, and a leading digit gets a `_` in front) with
/// the fields
///
/// - `session`: `string`, the session key;
/// - `time`: `long` with logical type `timestamp-millis`, the row's evaluation time;
/// - one field per column, in column order: `["null", double|boolean|string]` by the column's
///   value type, default `null` (a column undefined at that time is `null`).
///
/// A column keeps its id as field name when that is a valid Avro name not taken by `session`,
/// `time` or another column's id; otherwise it gets its sanitised id with `_2`, `_3`, …
/// appended as needed (in column order). Renamed fields carry the column's id in their `doc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSchema {
    /// The record's full name (`spanflow.<spec>.<output>`): the subject under the
    /// `record_name` strategies.
    pub full_name: String,
    /// The schema as JSON (compact; the same output always gives the same text).
    pub json: String,
    /// The Avro field name of each column, in column order.
    pub fields: Vec<String>,
}

impl OutputSchema {
    /// The value schema of output `output` (an index into `meta.outputs`).
    pub fn of(meta: &OutputsMeta, output: usize) -> Result<Self, KafkaSinkError> {
        let (name, columns) = meta
            .outputs
            .get(output)
            .ok_or(KafkaSinkError::NoSuchOutput { output })?;
        let types = meta
            .column_types
            .get(output)
            .filter(|t| t.len() == columns.len())
            .ok_or_else(|| KafkaSinkError::Schema {
                output: name.clone(),
                message: "the column types do not match the columns".into(),
            })?;
        let namespace = format!("spanflow.{}", avro_name(&meta.spec));
        let record = avro_name(name);
        // Columns whose ids are already valid names keep them; the others get what is left.
        let mut taken: Vec<String> = vec!["session".into(), "time".into()];
        let mut names: Vec<Option<String>> = columns
            .iter()
            .map(|c| {
                (avro_name(c) == *c && !taken.contains(c)).then(|| {
                    taken.push(c.clone());
                    c.clone()
                })
            })
            .collect();
        for (name, column) in names.iter_mut().zip(columns) {
            if name.is_none() {
                let base = avro_name(column);
                let mut field = base.clone();
                let mut n = 1;
                while taken.contains(&field) {
                    n += 1;
                    field = format!("{base}_{n}");
                }
                taken.push(field.clone());
                *name = Some(field);
            }
        }
        let names: Vec<String> = names.into_iter().flatten().collect();
        let mut fields = vec![
            json!({ "name": "session", "type": "string" }),
            json!({
                "name": "time",
                "type": { "type": "long", "logicalType": "timestamp-millis" },
            }),
        ];
        for ((column, ty), field) in columns.iter().zip(types).zip(&names) {
            let avro_type = match ty {
                ValueType::F64 => "double",
                ValueType::Bool => "boolean",
                ValueType::Str => "string",
                ValueType::Record => {
                    return Err(KafkaSinkError::Schema {
                        output: name.clone(),
                        message: format!(
                            "column `{column}` holds whole input records, which have no Avro \
                             column type"
                        ),
                    })
                }
            };
            let mut f = json!({ "name": field, "type": ["null", avro_type], "default": null });
            if field != column {
                f["doc"] = json!(format!("column `{column}`"));
            }
            fields.push(f);
        }
        let schema = json!({
            "type": "record",
            "name": record,
            "namespace": namespace,
            "doc": format!("Rows of output `{name}` of spanflow spec `{}`.", meta.spec),
            "fields": fields,
        });
        Ok(OutputSchema {
            full_name: format!("{namespace}.{record}"),
            json: schema.to_string(),
            fields: names,
        })
    }
}

/// At most 100 characters of `s` (session keys in error messages).
fn shortened(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &s[..end]).into(),
        None => s.into(),
    }
}

/// `s` as an Avro name: `[A-Za-z_][A-Za-z0-9_]*`.
fn avro_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

/// Building a [`KafkaSink`] failed: a startup error.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    /// The registry did not accept the output's value schema (or could not be reached).
    #[error(
        "Kafka sink of output `{output}` (topic `{topic}`): registering its value schema under \
         subject `{subject}` failed: {source}"
    )]
    Registration {
        /// The output.
        output: String,
        /// Its topic.
        topic: String,
        /// The subject the schema was registered under.
        subject: String,
        /// What the registry answered.
        source: Box<RegistryError>,
    },
    /// No Avro schema can be made for the output.
    #[error("Kafka sink of output `{output}`: {message}")]
    Schema {
        /// The output.
        output: String,
        /// What is wrong.
        message: String,
    },
    /// A target names an output index the program does not have.
    #[error("Kafka sink: the program has no output number {output}")]
    NoSuchOutput {
        /// The index.
        output: usize,
    },
    /// The producer could not be created (an invalid client setting).
    #[error("Kafka sink: cannot create the producer: {0}")]
    Producer(#[source] KafkaError),
}

/// Everything needed to write one output's rows.
struct Target {
    output: String,
    topic: String,
    /// `kafka topic <topic>`, for errors.
    sink_name: String,
    schema_id: u32,
    schema: Schema,
    fields: Vec<String>,
    types: Vec<ValueType>,
}

impl Target {
    fn error(&self, message: String, retryable: bool) -> SinkError {
        SinkError {
            sink: self.sink_name.clone(),
            message,
            retryable,
        }
    }

    /// The Confluent-framed Avro datum of `row`.
    fn encode(&self, row: &SinkRow) -> Result<Vec<u8>, SinkError> {
        let values = &row.row.values;
        if values.len() != self.fields.len() {
            return Err(self.error(
                format!(
                    "output `{}`: a row with {} values for {} columns",
                    self.output,
                    values.len(),
                    self.fields.len()
                ),
                false,
            ));
        }
        let mut record = Vec::with_capacity(2 + values.len());
        record.push(("session".to_owned(), Value::String(row.session.to_string())));
        record.push(("time".to_owned(), Value::TimestampMillis(row.row.time)));
        for ((field, ty), v) in self.fields.iter().zip(&self.types).zip(values) {
            let value = match (ty, v) {
                (_, None) => Value::Union(0, Box::new(Value::Null)),
                (ValueType::F64, Some(Scalar::F64(x))) => {
                    Value::Union(1, Box::new(Value::Double(*x)))
                }
                (ValueType::Bool, Some(Scalar::Bool(b))) => {
                    Value::Union(1, Box::new(Value::Boolean(*b)))
                }
                (ValueType::Str, Some(Scalar::Str(s))) => {
                    Value::Union(1, Box::new(Value::String(s.to_string())))
                }
                (ty, Some(v)) => {
                    return Err(self.error(
                        format!(
                            "output `{}`, field `{field}`: a {} value in a {ty} column",
                            self.output,
                            v.value_type()
                        ),
                        false,
                    ))
                }
            };
            record.push((field.clone(), value));
        }
        let mut out = Vec::with_capacity(64);
        write_confluent_header(self.schema_id, &mut out);
        // The schema was parsed once, at construction; building the writer only collects its
        // named types (here the one record).
        GenericDatumWriter::builder(&self.schema)
            .build()
            .and_then(|w| w.write_value(&mut out, Value::Record(record)))
            .map_err(|e| {
                self.error(
                    format!("output `{}`: Avro encoding failed: {e}", self.output),
                    false,
                )
            })?;
        Ok(out)
    }
}

/// Writes output rows to Kafka topics as Avro records in the Confluent wire format, so that
/// another pipeline (or spanflow itself) can read them. One producer serves every output routed
/// to Kafka; each output has its topic and registered value schema.
///
/// Each output gets its own value schema, generated from the output's columns
/// ([`OutputSchema`]) and registered with the Schema Registry when the sink is built. A row
/// becomes one message:
///
/// - key: the session key (UTF-8), so all rows of a session land in one partition, in order;
/// - value: magic byte `0`, the 4-byte schema id, then the Avro datum of the row.
///
/// [`KafkaSink::write`] resolves once the broker acknowledged the message (`acks=all` unless
/// the client configuration says otherwise). Failed deliveries are [`SinkError`]s whose
/// `retryable` tells timeouts and unavailable brokers (retry) from errors that will not go
/// away (a message too large, an unknown topic, a denied authorization).
///
/// ```no_run
/// use rdkafka::config::ClientConfig;
/// use spanflow::registry::{RegistryClient, RegistryConfig};
/// use spanflow::sink::{KafkaSink, Sink};
/// use spanflow_operators::Program;
///
/// # fn demo(program: &Program) -> Result<(), Box<dyn std::error::Error>> {
/// let registry = RegistryClient::new(&RegistryConfig::new("http://registry:8081"))?;
/// let mut client = ClientConfig::new();
/// client.set("bootstrap.servers", "broker:9092");
/// // Registers one schema per output with `sink: { kafka: ... }`; blocks on the registry, so
/// // build sinks before the runtime starts writing.
/// let sink = Sink::Kafka(KafkaSink::for_program(program, &registry, &client)?);
/// # Ok(()) }
/// ```
pub struct KafkaSink {
    producer: FutureProducer,
    /// By output index; `None` for outputs this sink does not write.
    targets: Vec<Option<Target>>,
    queue_timeout: Duration,
    flush_timeout: Duration,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let targets: Vec<_> = self
            .targets
            .iter()
            .flatten()
            .map(|t| (&t.output, &t.topic, t.schema_id))
            .collect();
        f.debug_struct("KafkaSink")
            .field("targets", &targets)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// A sink for every output of `program` whose `sink:` is `kafka` (see [`KafkaSink::new`]).
    pub fn for_program(
        program: &Program,
        registry: &RegistryClient,
        client: &ClientConfig,
    ) -> Result<Self, KafkaSinkError> {
        let targets: Vec<(usize, KafkaSinkSpec)> = program
            .outputs
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.sink {
                SinkSpec::Kafka(k) => Some((i, k.clone())),
                SinkSpec::Stdout | SinkSpec::Scylla(_) => None,
            })
            .collect();
        Self::new(&OutputsMeta::of(program), &targets, registry, client)
    }

    /// A sink writing the outputs in `targets` (output index in `meta`, and its topic and
    /// subject strategy).
    ///
    /// Registers each output's [`OutputSchema`] with `registry` under the subject its strategy
    /// gives (blocking: call it before the runtime starts writing), then creates a
    /// `FutureProducer` from `client`: brokers, TLS and SASL come from there; `acks` is set to
    /// `all` unless `client` sets `acks` (or `request.required.acks`). For strict per-session
    /// order across retries, also set `enable.idempotence=true` in `client`.
    pub fn new(
        meta: &OutputsMeta,
        targets: &[(usize, KafkaSinkSpec)],
        registry: &RegistryClient,
        client: &ClientConfig,
    ) -> Result<Self, KafkaSinkError> {
        let mut by_output: Vec<Option<Target>> = (0..meta.outputs.len()).map(|_| None).collect();
        for (output, spec) in targets {
            let schema = OutputSchema::of(meta, *output)?;
            let name = meta.outputs[*output].0.clone();
            let parsed = Schema::parse_str(&schema.json).map_err(|e| KafkaSinkError::Schema {
                output: name.clone(),
                message: format!("the generated value schema is not valid Avro: {e}"),
            })?;
            let strategy = SubjectNameStrategy::from(spec.subject_strategy);
            let subject = strategy.subject(&spec.topic, &schema.full_name);
            let schema_id = registry
                .register(&subject, &schema.json)
                .map_err(|source| KafkaSinkError::Registration {
                    output: name.clone(),
                    topic: spec.topic.clone(),
                    subject: subject.clone(),
                    source: Box::new(source),
                })?;
            tracing::info!(
                output = %name,
                topic = %spec.topic,
                subject = %subject,
                schema_id,
                "Kafka sink ready."
            );
            by_output[*output] = Some(Target {
                output: name,
                topic: spec.topic.clone(),
                sink_name: format!("kafka topic {}", spec.topic),
                schema_id,
                schema: parsed,
                fields: schema.fields,
                types: meta.column_types[*output].clone(),
            });
        }
        let producer: FutureProducer = producer_config(client)
            .create()
            .map_err(KafkaSinkError::Producer)?;
        Ok(KafkaSink {
            producer,
            targets: by_output,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
        })
    }

    /// Sets how long a write waits for room in the producer's queue (default
    /// [`DEFAULT_QUEUE_TIMEOUT`]); when it runs out the write fails, retryably.
    pub fn with_queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// Sets how long [`flush`](Self::flush) waits (default [`DEFAULT_FLUSH_TIMEOUT`]).
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// The registered schema id of output `output`, if this sink writes it.
    pub fn schema_id(&self, output: usize) -> Option<u32> {
        self.target(output).map(|t| t.schema_id)
    }

    /// The topic of output `output`, if this sink writes it.
    pub fn topic(&self, output: usize) -> Option<&str> {
        self.target(output).map(|t| t.topic.as_str())
    }

    fn target(&self, output: usize) -> Option<&Target> {
        self.targets.get(output).and_then(Option::as_ref)
    }

    /// Produces one row and resolves when the broker acknowledged it.
    pub async fn write(&self, row: &SinkRow) -> Result<(), SinkError> {
        let Some(target) = self.target(row.row.output) else {
            return Err(SinkError::not_routed("kafka", "Kafka", row.row.output));
        };
        let payload = target.encode(row)?;
        let record = FutureRecord::to(&target.topic)
            .key(row.session.as_bytes())
            .payload(&payload);
        match self.producer.send(record, self.queue_timeout).await {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(target.error(
                format!(
                    "output `{}`: delivery of a row of session `{}` failed: {e}",
                    target.output,
                    shortened(&row.session)
                ),
                kafka_error_is_retryable(&e),
            )),
        }
    }

    /// Waits until every message produced so far is delivered (or failed).
    pub async fn flush(&self) -> Result<(), SinkError> {
        let producer = self.producer.clone();
        let timeout = self.flush_timeout;
        let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        let error = |message: String, retryable| SinkError {
            sink: "kafka".into(),
            message,
            retryable,
        };
        match flushed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(error(
                format!("flushing the producer failed: {e}"),
                kafka_error_is_retryable(&e),
            )),
            Err(e) => Err(error(format!("flushing the producer failed: {e}"), false)),
        }
    }
}

/// `client` with `acks=all` unless it sets `acks` or its alias `request.required.acks`.
pub(super) fn producer_config(client: &ClientConfig) -> ClientConfig {
    let mut config = client.clone();
    if config.get("acks").is_none() && config.get("request.required.acks").is_none() {
        config.set("acks", "all");
    }
    config
}

/// Whether a failed produce or flush may succeed later: timeouts, unreachable or unavailable
/// brokers, leadership changes, a full queue, too few in-sync replicas and throttling are
/// transient; everything else (a message too large, an unknown topic or partition, a denied
/// authorization, an invalid record or configuration) is not.
pub fn kafka_error_is_retryable(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    let Some(code) = e.rdkafka_error_code() else {
        return false;
    };
    matches!(
        code,
        C::MessageTimedOut
            | C::OperationTimedOut
            | C::TimedOutQueue
            | C::RequestTimedOut
            | C::QueueFull
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::Resolve
            | C::BrokerNotAvailable
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::FencedLeaderEpoch
            | C::UnknownLeaderEpoch
            | C::PreferredLeaderNotAvailable
            | C::ReplicaNotAvailable
            | C::NetworkException
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::KafkaStorageError
            | C::ThrottlingQuotaExceeded
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::ISRInsufficient
            | C::Retry
            | C::WaitCache
    )
}
