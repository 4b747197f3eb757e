//! The raw YAML DAG spec, exactly as analysts write it. Nothing here is checked beyond its shape;
//! [`crate::program`] turns a spec into a validated program.
//!
//! Nodes are written `op:` + `with:`; a small visitor reads `op` first, then deserializes `with`
//! straight into that operator's parameters, so every error keeps its line and column.

use crate::evaluate_at::EvaluationPoints;
use crate::params::Secs;
use crate::AnyOperator;
use schemars::JsonSchema;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, VariantAccess,
    Visitor,
};
use serde::Deserialize;
use serde_saphyr::Spanned;
use spanflow_engine::{Location, TimeUnit};
use std::collections::BTreeMap;
use std::fmt;

/// A whole spec file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DagSpec {
    /// The pipeline's name (used in output rows and metrics).
    pub name: String,
    /// What the spec computes, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Where records come from and how to read their key and time.
    pub input: InputSpec,
    /// The DAG's nodes.
    pub nodes: Vec<NodeSpec>,
    /// What to evaluate, when, and where to send it.
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
    /// Example inputs with their expected outputs, run by `spanflow test`.
    #[serde(default)]
    pub tests: Vec<TestSpec>,
}

/// How to read the input records.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Field path of the session key; events are grouped into one timeline per key.
    #[schemars(with = "String")]
    pub session_key: Spanned<String>,
    /// Field path of the event time.
    #[schemars(with = "String")]
    pub time: Spanned<String>,
    /// Unit of the time field; default: from the Avro logical type, else milliseconds.
    #[serde(default)]
    #[schemars(with = "Option<TimeUnit>")]
    pub time_unit: Option<Spanned<TimeUnit>>,
    /// Field path of a sequence number ordering events with equal times.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub sequence: Option<Spanned<String>>,
    /// Avro schema (`.avsc`, path relative to the spec) used to check field paths and types.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub schema: Option<Spanned<String>>,
    /// Only read records with this full Avro name (topics carrying several record types).
    #[serde(default)]
    pub record_name: Option<String>,
    /// What to do with a record that cannot be decoded or lacks its key or time (default
    /// `drop`).
    #[serde(default)]
    #[schemars(with = "Option<BadRecordPolicy>")]
    pub on_bad_record: Option<Spanned<BadRecordPolicy>>,
    /// File runs: stop with an error once more than this many records are lost to bad input
    /// (default: no limit on the count, only `max_bad_ratio`).
    #[serde(default)]
    pub max_bad_records: Option<u64>,
    /// File runs: fail when more than this fraction of the records read were lost to bad input
    /// (default 0.1). A run that decoded no record at all fails whatever the limits.
    #[serde(default)]
    pub max_bad_ratio: Option<Fraction>,
    /// What to do with an event older than its session's last step (default `drop`).
    #[serde(default)]
    #[schemars(with = "Option<LateEventPolicy>")]
    pub on_late_event: Option<Spanned<LateEventPolicy>>,
    /// Where records rejected by a `dead_letter` policy go; required with one, rejected
    /// without.
    #[serde(default)]
    pub dead_letter: Option<DeadLetterSpec>,
    /// How far (seconds of event time) an event may arrive behind its session's newest event
    /// and still be put in order; default 0 (events of a session arrive in time order).
    #[serde(default)]
    pub lateness_secs: Option<Secs>,
    /// A session ends when the input's event time moves this far (seconds) past its newest
    /// event; the key's next event starts a new session. Default: sessions of a file end with
    /// the file; on a stream, 1800.
    #[serde(default)]
    pub session_gap_secs: Option<Secs>,
    /// Where records come from when `spanflow run` is given no `--input` file.
    #[serde(default)]
    pub source: Option<SourceSpec>,
    /// Values joined onto each event from ScyllaDB tables, by key (`get` nodes read them as
    /// `<lookup name>.<column>`).
    #[serde(default)]
    pub lookups: Vec<LookupSpec>,
}

/// A lookup: for each event, the row of a ScyllaDB (or Cassandra) table whose key column equals
/// a field of the event (or the session key), joined onto the event as extra fields.
///
/// The cluster comes from the runtime configuration (`scylla:`), never from the spec.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupSpec {
    /// The lookup's name: `get` nodes read its columns as `<name>.<column>`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Field path of the event whose value is the key, or `$session` for the session key.
    #[schemars(with = "String")]
    pub key: Spanned<String>,
    /// The key field's type when the spec names no schema (default `string`).
    #[serde(default)]
    pub key_type: Option<crate::FieldType>,
    /// The keyspace.
    #[schemars(with = "String")]
    pub keyspace: Spanned<String>,
    /// The table.
    #[schemars(with = "String")]
    pub table: Spanned<String>,
    /// The column compared with the key (`WHERE <key_column> = ?`): the table's partition key.
    #[schemars(with = "String")]
    pub key_column: Spanned<String>,
    /// The columns fetched, with their CQL types (joined in name order).
    pub columns: BTreeMap<String, CqlType>,
    /// The in-process cache of rows by key.
    #[serde(default)]
    pub cache: LookupCacheSpec,
    /// What an event whose key has no row (or a null key) gets.
    #[serde(default)]
    pub on_missing: OnMissing,
    /// Which row is joined when the key matches several (a table with clustering columns).
    #[serde(default)]
    pub on_multiple_rows: OnMultipleRows,
}

/// The serde aliases, for the schema (`spanflow schema`).
fn cql_type_aliases(schema: &mut schemars::Schema) {
    crate::schema::add_aliases(schema, &[("varchar", "text")]);
}

/// The CQL type of a lookup column, as written in `columns:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(transform = cql_type_aliases)]
pub enum CqlType {
    /// `text` (alias `varchar`).
    #[serde(alias = "varchar")]
    Text,
    /// `ascii`.
    Ascii,
    /// `double`.
    Double,
    /// `float`.
    Float,
    /// `int` (32 bits).
    Int,
    /// `bigint` (64 bits; beyond 2^53 rounds to the nearest f64).
    Bigint,
    /// `smallint`.
    Smallint,
    /// `tinyint`.
    Tinyint,
    /// `boolean`.
    Boolean,
}

impl CqlType {
    /// The engine type the column's values are read as.
    pub fn value_type(self) -> spanflow_engine::ValueType {
        use spanflow_engine::ValueType;
        match self {
            CqlType::Text | CqlType::Ascii => ValueType::Str,
            CqlType::Boolean => ValueType::Bool,
            _ => ValueType::F64,
        }
    }
}

impl fmt::Display for CqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CqlType::Text => "text",
            CqlType::Ascii => "ascii",
            CqlType::Double => "double",
            CqlType::Float => "float",
            CqlType::Int => "int",
            CqlType::Bigint => "bigint",
            CqlType::Smallint => "smallint",
            CqlType::Tinyint => "tinyint",
            CqlType::Boolean => "boolean",
        })
    }
}

/// The lookup cache: at most `capacity` keys (least recently used evicted first), each kept
/// `ttl_secs` after it was fetched. Keys without a row are cached too.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupCacheSpec {
    /// Keys kept (default 10000).
    #[serde(default = "default_cache_capacity")]
    pub capacity: u64,
    /// Seconds a fetched row (or its absence) is used before it is fetched again (default 300).
    #[serde(default = "default_cache_ttl")]
    pub ttl_secs: Secs,
}

fn default_cache_capacity() -> u64 {
    10_000
}

fn default_cache_ttl() -> Secs {
    Secs(300.0)
}

impl Default for LookupCacheSpec {
    fn default() -> Self {
        Self {
            capacity: default_cache_capacity(),
            ttl_secs: default_cache_ttl(),
        }
    }
}

/// What an event whose lookup key has no row gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnMissing {
    /// The event is kept with the lookup's fields null (a left join): `get` nodes reading them
    /// emit nothing for it.
    #[default]
    NullFields,
    /// The event is dropped (an inner join) and counted.
    DropEvent,
}

/// Which row a key matching several rows joins (rows come in clustering order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnMultipleRows {
    /// The first row in clustering order; the others are not read.
    #[default]
    First,
    /// The last row in clustering order: every page of the partition is read.
    Last,
}

/// A streaming source of records.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SourceSpec {
    /// Confluent-framed Avro messages from Kafka topics, read by a consumer group.
    Kafka(KafkaSourceSpec),
}

/// The spec's side of a Kafka source; brokers, TLS and credentials come from the runtime
/// configuration, never from the spec.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceSpec {
    /// Topics to read.
    pub topics: Vec<String>,
    /// Consumer group; processes sharing it split the partitions. Default `spanflow-<name>`.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Where a group with no committed offset starts: `earliest` (default) or `latest`.
    #[serde(default)]
    pub start_from: StartFrom,
    /// Seconds of wall-clock time without a message after which a partition's open sessions
    /// end: a quiet partition's event-time clock does not move, so its sessions would never
    /// reach their gap. Default: the session gap.
    #[serde(default)]
    pub idle_secs: Option<crate::Secs>,
}

/// Where a new consumer group starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The oldest retained message.
    #[default]
    Earliest,
    /// Only messages produced from now on.
    Latest,
}

/// Where an output's rows go.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SinkSpec {
    /// JSON lines on stdout or in the `--output` file (the default).
    Stdout,
    /// Avro records in Confluent framing on a Kafka topic, for another pipeline to read.
    Kafka(KafkaSinkSpec),
    /// Rows in a ScyllaDB (or Cassandra) table, one row per session and evaluation time.
    Scylla(ScyllaSinkSpec),
}

/// A ScyllaDB table receiving an output's rows (the cluster is in the runtime config).
///
/// The table has a `text` column for the session key, a `timestamp` column for the evaluation
/// time, and one column per output column (`double`, `boolean` or `text`), with primary key
/// `((session), time)`: one partition per session, its rows ordered by time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScyllaSinkSpec {
    /// The keyspace.
    pub keyspace: String,
    /// The table.
    pub table: String,
    /// The column holding the session key (default `session`).
    #[serde(default)]
    pub session_column: Option<String>,
    /// The column holding the evaluation time (default `time`).
    #[serde(default)]
    pub time_column: Option<String>,
    /// CQL column names for output columns, by output column (node id); columns not listed
    /// keep their node id (lowercased, made a valid CQL name when it is not one).
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Rows expire this many seconds after their write (`USING TTL`); default: never.
    #[serde(default)]
    pub ttl_secs: Option<u32>,
}

/// A Kafka topic receiving an output's rows.
#[derive(Clone, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkSpec {
    /// The topic; messages are keyed by session so a session's rows stay in order.
    pub topic: String,
    /// How the value schema's registry subject is named (default `topic_name`).
    #[serde(default)]
    pub subject_strategy: SubjectStrategy,
}

/// Confluent subject naming for registered schemas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectStrategy {
    /// `<topic>-value`.
    #[default]
    TopicName,
    /// The record's full name.
    RecordName,
    /// `<topic>-<record full name>`.
    TopicRecordName,
}

/// Policy for undecodable records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BadRecordPolicy {
    /// Stop with an error naming the record.
    Fail,
    /// Skip it and count it by reason.
    #[default]
    Drop,
    /// Send its original bytes to `input.dead_letter.topic` (with headers saying why), count
    /// it by reason, and go on.
    DeadLetter,
}

/// A fraction from 0 to 1 (`input.max_bad_ratio`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fraction(pub f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&v) {
            Ok(Fraction(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "expected a fraction of the records read, from 0 to 1 (e.g. 0.01 for 1%), got {v}"
            )))
        }
    }
}

impl schemars::JsonSchema for Fraction {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Fraction".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "number",
            "minimum": 0.0,
            "maximum": 1.0,
            "description": "A fraction of the records read, from 0 to 1 (e.g. 0.01 for 1%).",
        })
    }
}

/// Policy for events that arrive after their session moved past their time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LateEventPolicy {
    /// Stop with an error naming the event.
    Fail,
    /// Skip it and count it.
    #[default]
    Drop,
    /// Send its original bytes to `input.dead_letter.topic` (reason `late_event`), count it,
    /// and go on.
    DeadLetter,
}

/// `input.dead_letter`: where the `dead_letter` policies send rejected records.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterSpec {
    /// The Kafka topic (brokers and credentials come from the runtime configuration).
    #[schemars(with = "String")]
    pub topic: Spanned<String>,
}

/// One node: `id`, `op`, `inputs`, `with`.
#[derive(Debug)]
pub struct NodeSpec {
    /// The node id.
    pub id: Spanned<String>,
    /// The operator name as written (may be a camelCase alias).
    pub op: Spanned<String>,
    /// Input node ids.
    pub inputs: Vec<Spanned<String>>,
    /// The operator with its parameters, or why the `op` name or its missing `with:` is wrong
    /// (reported at the `op:` line when the program is checked).
    pub operator: Result<AnyOperator, String>,
}

/// One output: which nodes to evaluate, and when.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The output's name (a table or topic name downstream).
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// When to evaluate: `every_event`, `session_end`, `{every_secs: N}` or `{events_of: node}`.
    #[schemars(with = "EvaluationPoints<String>")]
    pub evaluate_at: EvaluationPoints<Spanned<String>>,
    /// The node ids whose values make the row's columns (named after the nodes).
    #[schemars(with = "Vec<String>")]
    pub columns: Vec<Spanned<String>>,
    /// Where the rows go (default: JSON lines on stdout or `--output`).
    #[serde(default)]
    pub sink: Option<SinkSpec>,
}

/// A test written in the spec: input events and the rows they must produce.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    /// What the test shows.
    pub name: String,
    /// Input events: field path → value, including the session key and time fields.
    pub events: Vec<BTreeMap<String, Option<crate::TestValue>>>,
    /// Expected rows: `output`, `session`, `time` and one entry per column.
    pub expect: Vec<BTreeMap<String, Option<crate::TestValue>>>,
    /// The rows of each lookup's table during the test, by lookup name: the key column and
    /// the lookup's columns (a lookup not listed has an empty table).
    #[serde(default)]
    pub lookups: BTreeMap<String, Vec<BTreeMap<String, Option<crate::TestValue>>>>,
}

/// Converts a serde-saphyr location to the engine's.
pub fn location<T>(s: &Spanned<T>) -> Option<Location> {
    let l = s.referenced;
    (l.line() > 0).then(|| Location {
        line: l.line() as u32,
        column: l.column() as u32,
    })
}

impl<'de> Deserialize<'de> for NodeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(NodeVisitor)
    }
}

struct NodeVisitor;

const NODE_FIELDS: &[&str] = &["id", "op", "inputs", "with"];

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a node with `id`, `op`, and optionally `inputs` and `with`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeSpec, A::Error> {
        let mut id: Option<Spanned<String>> = None;
        let mut op: Option<Spanned<String>> = None;
        let mut inputs: Option<Vec<Spanned<String>>> = None;
        let mut operator: Option<AnyOperator> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "id" => id = Some(map.next_value()?),
                "op" => op = Some(map.next_value()?),
                "inputs" | "in" => inputs = Some(map.next_value()?),
                "with" => {
                    let Some(name) = &op else {
                        return Err(de::Error::custom("`with:` must come after `op:` so its fields can be checked against the operator"));
                    };
                    if is_operator(&name.value) {
                        operator = Some(map.next_value_seed(OperatorSeed(&name.value))?);
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                other => return Err(de::Error::unknown_field(other, NODE_FIELDS)),
            }
        }
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        let op = op.ok_or_else(|| de::Error::missing_field("op"))?;
        let operator = match operator {
            Some(o) => Ok(o),
            None if !is_operator(&op.value) => Err(unknown_op_message(&op.value)),
            None => OperatorSeed(&op.value)
                .deserialize(empty_map::<de::value::Error>())
                .map_err(|e| {
                    format!(
                        "node `{}` ({}) needs parameters under `with:`: {e}",
                        id.value, op.value
                    )
                }),
        };
        Ok(NodeSpec {
            id,
            op,
            inputs: inputs.unwrap_or_default(),
            operator,
        })
    }
}

fn empty_map<E: de::Error>() -> de::value::MapDeserializer<'static, std::iter::Empty<((), ())>, E> {
    de::value::MapDeserializer::new(std::iter::empty())
}

/// Deserializes `with:` into the parameters of the operator named `op`.
struct OperatorSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for OperatorSeed<'_> {
    type Value = AnyOperator;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AnyOperator, D::Error> {
        AnyOperator::deserialize(Tagged {
            tag: self.0,
            content: d,
            probe: false,
        })
    }
}

/// Presents `(op name, with: body)` to serde's derived enum as an externally tagged enum.
struct Tagged<'a, D> {
    tag: &'a str,
    content: D,
    /// Only check that the tag names a variant; do not read the content.
    probe: bool,
}

const PROBE_OK: &str = "\u{0}known operator";

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Tagged<'_, D> {
    type Error = D::Error;

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        visitor.visit_enum(self)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, D::Error> {
        Err(de::Error::custom(
            "internal error: operators deserialize as enums",
        ))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de, D: Deserializer<'de>> EnumAccess<'de> for Tagged<'_, D> {
    type Error = D::Error;
    type Variant = Content<D>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Content<D>), D::Error> {
        let tag: de::value::StrDeserializer<'_, D::Error> = self.tag.into_deserializer();
        let value = seed
            .deserialize(tag)
            .map_err(|_: D::Error| de::Error::custom(unknown_op_message(self.tag)))?;
        Ok((
            value,
            Content {
                content: self.content,
                probe: self.probe,
                op: self.tag.to_owned(),
            },
        ))
    }
}

struct Content<D> {
    content: D,
    probe: bool,
    /// The operator's name, for the message when it takes no parameters.
    op: String,
}

/// The `with:` body of an operator: parameter structs without fields get a message saying the
/// operator takes no parameters (serde's would list the expected fields: none).
struct WithBody<'a, D> {
    content: D,
    op: &'a str,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for WithBody<'_, D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        if fields.is_empty() {
            self.content.deserialize_map(NoParameters {
                inner: visitor,
                op: self.op,
            })
        } else {
            self.content.deserialize_struct(name, fields, visitor)
        }
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.content.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// Accepts only an empty `with:` map, for an operator without parameters.
struct NoParameters<'a, V> {
    inner: V,
    op: &'a str,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for NoParameters<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<V::Value, A::Error> {
        if let Some(key) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "`{}` takes no parameters, so `with:` can't set `{key}`; remove `with:`",
                self.op
            )));
        }
        self.inner.visit_map(empty_map::<A::Error>())
    }
}

impl<'de, D: Deserializer<'de>> VariantAccess<'de> for Content<D> {
    type Error = D::Error;

    fn unit_variant(self) -> Result<(), D::Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, D::Error> {
        if self.probe {
            // The parameters' type tells which variant an alias names (see `operator_group`).
            return Err(de::Error::custom(format!(
                "{PROBE_OK}{}",
                std::any::type_name::<T::Value>()
            )));
        }
        seed.deserialize(WithBody {
            content: self.content,
            op: &self.op,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, D::Error> {
        Err(de::Error::custom(
            "internal error: operators are newtype variants",
        ))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, D::Error> {
        Err(de::Error::custom(
            "internal error: operators are newtype variants",
        ))
    }
}

/// Whether `name` (or its alias) names an operator.
pub fn is_operator(name: &str) -> bool {
    operator_params_type(name).is_some()
}

/// The type name of the parameters of the operator `name` (or its alias) names; `None` for an
/// unknown name. Names sharing it are one operator.
fn operator_params_type(name: &str) -> Option<String> {
    let probe = Tagged {
        tag: name,
        content: empty_map::<de::value::Error>(),
        probe: true,
    };
    match AnyOperator::deserialize(probe) {
        Err(e) => e.to_string().strip_prefix(PROBE_OK).map(str::to_owned),
        Ok(_) => None,
    }
}

/// Every name accepted for the operator `canonical` names (itself first, then its aliases).
pub fn operator_group(canonical: &str) -> Vec<&'static str> {
    let Some(params) = operator_params_type(canonical) else {
        return Vec::new();
    };
    let mut names: Vec<&'static str> = all_operator_names()
        .iter()
        .copied()
        .filter(|n| operator_params_type(n).as_ref() == Some(&params))
        .collect();
    names.sort_by_key(|n| *n != canonical);
    names
}

/// The canonical (snake_case) operator names, in catalogue order.
pub fn operator_names() -> Vec<&'static str> {
    all_operator_names()
        .iter()
        .copied()
        .filter(|n| !n.chars().any(char::is_uppercase))
        .collect()
}

/// Every accepted operator name, aliases included.
fn all_operator_names() -> &'static [&'static str] {
    struct Capture;
    impl<'de> Deserializer<'de> for Capture {
        type Error = CaptureDone;
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, CaptureDone> {
            Err(CaptureDone(variants))
        }
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, CaptureDone> {
            Err(CaptureDone(&[]))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
        }
    }
    #[derive(Debug)]
    struct CaptureDone(&'static [&'static str]);
    impl fmt::Display for CaptureDone {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("captured")
        }
    }
    impl std::error::Error for CaptureDone {}
    impl de::Error for CaptureDone {
        fn custom<T: fmt::Display>(_: T) -> Self {
            CaptureDone(&[])
        }
    }
    match AnyOperator::deserialize(Capture) {
        Err(CaptureDone(v)) => v,
        Ok(_) => &[],
    }
}

fn unknown_op_message(name: &str) -> String {
    let names = operator_names();
    let hint = spanflow_engine::error::closest(name, all_operator_names().iter().copied())
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    format!(
        "unknown op `{name}`{hint} (valid ops: {})",
        names.join(", ")
    )
}

/// Parses one operator from its name and the YAML text of its `with:` body (empty for none).
pub fn parse_operator(name: &str, with_yaml: &str) -> Result<AnyOperator, String> {
    if !is_operator(name) {
        return Err(unknown_op_message(name));
    }
    if with_yaml.trim().is_empty() {
        return OperatorSeed(name)
            .deserialize(empty_map::<de::value::Error>())
            .map_err(|e| e.to_string());
    }
    let body: String = with_yaml.lines().map(|l| format!("  {l}\n")).collect();
    let doc = format!("id: x\nop: {name}\nwith:\n{body}");
    serde_saphyr::from_str::<NodeSpec>(&doc)
        .map_err(|e| e.to_string())?
        .operator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_known() {
        assert!(is_operator("duration_where"));
        assert!(is_operator("durationTrue"));
        assert!(!is_operator("duration_wher"));
        assert!(operator_names().contains(&"latest_event_to_state"));
        assert!(!operator_names().contains(&"latestEventToState"));
        assert!(unknown_op_message("duration_wher")
            .starts_with("unknown op `duration_wher`; did you mean `duration_where`?"));
    }

    #[test]
    fn parses_operators_with_parameters() {
        let op = parse_operator("has_existed_within", "within_secs: 5").unwrap();
        assert_eq!(crate::Operator::describe(&op), "within_secs: 5");
        let e = parse_operator("has_existed_within", "windw_secs: 5").unwrap_err();
        assert!(e.contains("unknown field `windw_secs`"), "{e}");
        let e = parse_operator("get", "").unwrap_err();
        assert!(e.contains("missing field `field`"), "{e}");
    }
}
