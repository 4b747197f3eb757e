//! A validated program: a spec checked and resolved into a plan, its input fields and outputs,
//! plus the [`Runner`] that executes it session by session.

use crate::evaluate_at::{DagView, EvaluateAt, EvaluationPoints, Row};
use crate::params::Secs;
use crate::recorder::Recorder;
use crate::spec::{
    location, BadRecordPolicy, DagSpec, InputSpec, LateEventPolicy, SinkSpec, SourceSpec, TestSpec,
};
use crate::AnyOperator;
use spanflow_engine::dag::StepError;
use spanflow_engine::error::closest;
use spanflow_engine::{
    build_plan, Event, Interner, Interpreter, Kind, Location, NodeDecl, Plan, Queue, Record,
    Session, SessionHeader, SessionParts, StepCtx, StringRemap, Time, TimeUnit, ValueType,
};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A problem found while reading or checking a spec: where, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecProblem {
    /// Where in the spec file, when known.
    pub at: Option<Location>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl SpecProblem {
    fn new(at: Option<Location>, message: impl Into<String>) -> Self {
        Self {
            at,
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{at}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What an `input:` field path is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputRole {
    /// `input.session_key`.
    SessionKey,
    /// `input.time`.
    Time,
    /// `input.sequence`.
    Sequence,
}

/// Answers field questions from the input's schema (the Avro schema, when the spec names one).
pub trait SchemaFields {
    /// The value type of the field at `path`, or a message saying why it can't be read
    /// (missing, with a suggestion; or of a type no operator can use).
    fn field_type(&self, path: &str) -> Result<ValueType, String>;

    /// Checks that the field at `path` can serve as `role` (e.g. a time must be a number); by
    /// default, that it is readable at all.
    fn check_input(&self, role: InputRole, path: &str) -> Result<(), String> {
        let _ = role;
        self.field_type(path).map(|_| ())
    }

    /// The time unit the schema's logical type gives the time field at `path` (e.g.
    /// `timestamp-millis`), with the logical type's name; `None` when the schema says nothing.
    fn logical_time_unit(&self, path: &str) -> Option<(TimeUnit, String)> {
        let _ = path;
        None
    }

    /// The schema's JSON text: the reader schema the decoder resolves writer schemas against.
    fn json(&self) -> Option<&str> {
        None
    }
}

/// How to read input records, resolved from the spec.
#[derive(Clone, Debug, PartialEq)]
pub struct InputPlan {
    /// Field path of the session key.
    pub session_key: String,
    /// Field path of the event time.
    pub time: String,
    /// The spec's time unit, if it gave one.
    pub time_unit: Option<TimeUnit>,
    /// Field path of the sequence number, if any.
    pub sequence: Option<String>,
    /// The fields `get` nodes read, by slot: path and type.
    pub fields: Vec<(String, ValueType)>,
    /// The schema path as written in the spec (relative to the spec file).
    pub schema: Option<String>,
    /// That schema's JSON text: the reader schema writer schemas are resolved against.
    pub reader_schema: Option<Arc<str>>,
    /// Only records with this full Avro name.
    pub record_name: Option<String>,
    /// Policy for undecodable records.
    pub on_bad_record: BadRecordPolicy,
    /// Policy for late events.
    pub on_late_event: LateEventPolicy,
    /// File runs fail once more records than this are lost to bad input.
    pub max_bad_records: Option<u64>,
    /// File runs fail when a larger fraction of the records read was lost to bad input.
    pub max_bad_ratio: f64,
    /// Where the `dead_letter` policies send rejected records; set exactly when one of the
    /// policies is `dead_letter`.
    pub dead_letter: Option<DeadLetterPlan>,
    /// How far (ms) an event may trail its session's newest event and still be reordered.
    pub lateness: Time,
    /// Idle gap of event time (ms) that ends a session; `None`: sessions end with the input
    /// (a file), or after [`DEFAULT_SESSION_GAP_SECS`] on a stream.
    pub session_gap: Option<Time>,
    /// The streaming source, if the spec names one.
    pub source: Option<SourceSpec>,
    /// Lookups joined onto events; their columns fill the slots after `fields`.
    pub lookups: Vec<crate::lookups::LookupPlan>,
}

impl InputPlan {
    /// Slots of an enriched record: the decoder's fields, then every lookup column.
    pub fn slots(&self) -> usize {
        self.fields.len() + self.lookups.iter().map(|l| l.columns.len()).sum::<usize>()
    }
}

/// `input.dead_letter`, checked: the topic rejected records are produced to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterPlan {
    /// The dead-letter topic.
    pub topic: String,
}

/// Checks `input.dead_letter` against the two policies: required when either is
/// `dead_letter`, rejected when neither is, and a topic name Kafka accepts that is not one of
/// the input's own topics.
fn dead_letter_plan(input: &InputSpec, problems: &mut Vec<SpecProblem>) -> Option<DeadLetterPlan> {
    let bad = input
        .on_bad_record
        .as_ref()
        .filter(|p| p.value == BadRecordPolicy::DeadLetter);
    let late = input
        .on_late_event
        .as_ref()
        .filter(|p| p.value == LateEventPolicy::DeadLetter);
    let Some(spec) = &input.dead_letter else {
        let uses = [
            ("on_bad_record", bad.map(location)),
            ("on_late_event", late.map(location)),
        ];
        for (field, at) in uses {
            let Some(at) = at else { continue };
            problems.push(SpecProblem::new(
                at,
                format!(
                    "input.{field} is `dead_letter`, but the spec has no `input.dead_letter`: \
                     add `dead_letter: {{ topic: <topic> }}` under `input` (the Kafka topic \
                     rejected records are sent to), or use `drop` or `fail`"
                ),
            ));
        }
        return None;
    };
    let topic = &spec.topic;
    if bad.is_none() && late.is_none() {
        problems.push(SpecProblem::new(
            location(topic),
            format!(
                "input.dead_letter (topic `{}`) is set, but neither input.on_bad_record nor \
                 input.on_late_event is `dead_letter`, so nothing would be sent there: set \
                 `on_bad_record: dead_letter` (and/or `on_late_event: dead_letter`), or remove \
                 input.dead_letter",
                topic.value
            ),
        ));
        return None;
    }
    let name = &topic.value;
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 249 || !valid_chars || name == "." || name == ".." {
        problems.push(SpecProblem::new(
            location(topic),
            format!(
                "input.dead_letter.topic `{name}` is not a valid Kafka topic name: use 1 to 249 \
                 ASCII letters, digits, `.`, `_` or `-` (not `.` or `..` alone)"
            ),
        ));
        return None;
    }
    let Some(SourceSpec::Kafka(source)) = &input.source else {
        return Some(DeadLetterPlan {
            topic: name.clone(),
        });
    };
    if source.topics.contains(name) {
        problems.push(SpecProblem::new(
            location(topic),
            format!(
                "input.dead_letter.topic `{name}` is also an input topic (input.source.kafka.topics): \
                 dead letters would be read again as input; use a topic of their own, e.g. `{name}.dead-letters`"
            ),
        ));
        return None;
    }
    Some(DeadLetterPlan {
        topic: name.clone(),
    })
}

/// On a stream, sessions end after 30 minutes of event time without events unless the spec
/// says otherwise.
pub const DEFAULT_SESSION_GAP_SECS: f64 = 1800.0;

/// The fraction of a file's records that may be lost to bad input before a file run fails
/// (`input.max_bad_ratio`).
pub const DEFAULT_MAX_BAD_RATIO: f64 = 0.1;

/// One output: its name, column names, and digester.
#[derive(Clone, Debug)]
pub struct OutputPlan {
    /// The output's name.
    pub name: String,
    /// Column names (the node ids).
    pub columns: Vec<String>,
    /// The digester.
    pub digest: EvaluateAt,
    /// Where rows go.
    pub sink: SinkSpec,
}

/// A spec that passed every check.
#[derive(Debug)]
pub struct Program {
    /// The spec's name.
    pub name: String,
    /// The spec's description.
    pub description: Option<String>,
    /// How to read input records.
    pub input: InputPlan,
    /// The DAG in execution order.
    pub plan: Plan<AnyOperator>,
    /// The outputs.
    pub outputs: Vec<OutputPlan>,
    /// Tests written in the spec.
    pub tests: Vec<TestSpec>,
    /// Problems that don't stop the program (e.g. nodes nothing reads).
    pub warnings: Vec<SpecProblem>,
}

impl Program {
    /// Parses and checks a spec. Reports every problem found; parse errors stop early.
    pub fn parse(
        yaml: &str,
        schema: Option<&dyn SchemaFields>,
    ) -> Result<Program, Vec<SpecProblem>> {
        let spec = parse_spec(yaml).map_err(|p| vec![p])?;
        Self::from_spec(spec, schema)
    }

    /// Checks a parsed spec.
    pub fn from_spec(
        spec: DagSpec,
        schema: Option<&dyn SchemaFields>,
    ) -> Result<Program, Vec<SpecProblem>> {
        let mut problems = Vec::new();
        let input = &spec.input;
        let dead_letter = dead_letter_plan(input, &mut problems);
        if let Some(s) = schema {
            for (what, role, f) in [
                (
                    "session_key",
                    InputRole::SessionKey,
                    Some(&input.session_key),
                ),
                ("time", InputRole::Time, Some(&input.time)),
                ("sequence", InputRole::Sequence, input.sequence.as_ref()),
            ] {
                if let Some(f) = f {
                    if let Err(m) = s.check_input(role, &f.value) {
                        problems.push(SpecProblem::new(location(f), format!("input.{what}: {m}")));
                    }
                }
            }
            if let (Some(declared), Some((unit, logical))) = (
                input.time_unit.as_ref(),
                s.logical_time_unit(&input.time.value),
            ) {
                if declared.value != unit {
                    problems.push(SpecProblem::new(
                        location(declared),
                        format!(
                            "input.time_unit: `{}` contradicts the schema: field `{}` is a \
                             `{logical}`, so its values are {}; every duration would be off by \
                             a factor of {}. Write `time_unit: {}` or leave `time_unit` out",
                            unit_name(declared.value),
                            input.time.value,
                            unit_name(unit),
                            unit_ratio(declared.value, unit),
                            unit_name(unit),
                        ),
                    ));
                }
            }
        }

        // Resolve `get` fields into decoder slots, checking them against the schema; lookup
        // keys are decoder fields too, lookup columns get slots after them.
        let mut fields: Vec<(String, ValueType)> = Vec::new();
        let mut spec = spec;
        let mut lookups = crate::lookups::Resolver::new(
            std::mem::take(&mut spec.input.lookups),
            schema,
            &mut fields,
            &mut problems,
        );
        let mut decls = Vec::with_capacity(spec.nodes.len());
        for node in spec.nodes {
            if node.id.value.trim().is_empty() {
                problems.push(SpecProblem::new(
                    location(&node.id),
                    format!(
                        "a node id can't be empty: give the `{}` node a name (e.g. `{}_1`) that \
                         other nodes and outputs refer to it by",
                        node.op.value, node.op.value
                    ),
                ));
            }
            let mut op = match node.operator {
                Ok(op) => op,
                Err(message) => {
                    problems.push(SpecProblem::new(location(&node.op), message));
                    continue;
                }
            };
            let lookup = match &op {
                AnyOperator::Get(get) => lookups.get(decls.len(), &get.field),
                _ => None,
            };
            if let (AnyOperator::Get(get), Some(found)) = (&mut op, lookup) {
                let declared = get.field_type.map(ValueType::from);
                match found {
                    Err(m) => {
                        problems.push(SpecProblem::new(
                            location(&node.id),
                            format!("node `{}` (get): {m}", node.id.value),
                        ));
                        // Keep checking the rest of the graph as if the column were a string.
                        get.field_type = get.field_type.or(Some(crate::FieldType::Str));
                    }
                    Ok(ty) => {
                        if let Some(d) = declared.filter(|d| *d != ty) {
                            problems.push(SpecProblem::new(
                                location(&node.id),
                                format!("node `{}` (get): lookup field `{}` is {ty} (from its CQL type), but `type` says {d}", node.id.value, get.field),
                            ));
                        }
                        get.field_type = Some(match ty {
                            ValueType::F64 => crate::FieldType::F64,
                            ValueType::Bool => crate::FieldType::Bool,
                            _ => crate::FieldType::Str,
                        });
                    }
                }
            } else if let AnyOperator::Get(get) = &mut op {
                let declared = get.field_type.map(ValueType::from);
                let found = schema.map(|s| s.field_type(&get.field));
                let ty = match (declared, found) {
                    (declared, Some(Err(m))) => {
                        problems.push(SpecProblem::new(
                            location(&node.id),
                            format!("node `{}` (get): {m}", node.id.value),
                        ));
                        // Keep checking the rest of the graph as if the field were a string.
                        Some(declared.unwrap_or(ValueType::Str))
                    }
                    (Some(d), Some(Ok(f))) if d != f => {
                        problems.push(SpecProblem::new(
                            location(&node.id),
                            format!("node `{}` (get): field `{}` is {f} in the schema, but `type` says {d}", node.id.value, get.field),
                        ));
                        Some(d)
                    }
                    (Some(d), _) => Some(d),
                    (None, Some(Ok(f))) => Some(f),
                    (None, None) => None,
                };
                if let Some(ty) = ty {
                    get.field_type = Some(match ty {
                        ValueType::F64 => crate::FieldType::F64,
                        ValueType::Bool => crate::FieldType::Bool,
                        _ => crate::FieldType::Str,
                    });
                    get.slot = match fields.iter().position(|(p, t)| *p == get.field && *t == ty) {
                        Some(i) => i,
                        None => {
                            fields.push((get.field.clone(), ty));
                            fields.len() - 1
                        }
                    };
                }
            }
            decls.push(NodeDecl {
                id: node.id.value.clone(),
                at: location(&node.id),
                inputs: node
                    .inputs
                    .iter()
                    .map(|i| (i.value.clone(), location(i)))
                    .collect(),
                op,
            });
        }

        let (lookups, lookup_slots, lookup_warnings) = lookups.finish(fields.len());
        for (decl, slot) in lookup_slots {
            if let Some(NodeDecl {
                op: AnyOperator::Get(get),
                ..
            }) = decls.get_mut(decl)
            {
                get.slot = slot;
            }
        }

        let plan = match build_plan(decls) {
            Ok(plan) => Some(plan),
            Err(errors) => {
                problems.extend(
                    errors
                        .into_iter()
                        .map(|e| SpecProblem::new(e.location(), e.to_string())),
                );
                None
            }
        };

        let mut outputs = Vec::new();
        if spec.outputs.is_empty() {
            problems.push(SpecProblem::new(
                None,
                "the spec has no `outputs`: add one naming the nodes to evaluate and `evaluate_at`",
            ));
        }
        let mut seen: HashMap<&str, Option<Location>> = HashMap::new();
        for (k, out) in spec.outputs.iter().enumerate() {
            if let Some(first) = seen.insert(&out.name.value, location(&out.name)) {
                problems.push(SpecProblem::new(
                    location(&out.name),
                    format!(
                        "duplicate output name `{}` (first at line {})",
                        out.name.value,
                        first.map_or(0, |l| l.line)
                    ),
                ));
            }
            let Some(plan) = &plan else { continue };
            let resolve = |n: &serde_saphyr::Spanned<String>, what: &str| {
                plan.index_of(&n.value).ok_or_else(|| {
                    let hint = closest(&n.value, plan.nodes.iter().map(|p| p.id.as_str()))
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    SpecProblem::new(
                        location(n),
                        format!(
                            "output `{}`: {what} `{}` doesn't match any node{hint}",
                            out.name.value, n.value
                        ),
                    )
                })
            };
            let mut columns = Vec::new();
            let mut listed: HashMap<&str, Option<Location>> = HashMap::new();
            for c in &out.columns {
                if let Some(first) = listed.insert(&c.value, location(c)) {
                    problems.push(SpecProblem::new(
                        location(c),
                        format!(
                            "output `{}`: column `{}` is listed twice (first at line {}); a row \
                             has one value per column name, so list it once",
                            out.name.value,
                            c.value,
                            first.map_or(0, |l| l.line)
                        ),
                    ));
                    continue;
                }
                match resolve(c, "column") {
                    Ok(i) if plan.nodes[i].ty.value == ValueType::Record => problems.push(SpecProblem::new(
                        location(c),
                        format!("output `{}`: column `{}` is the raw record stream; extract a field with `get`", out.name.value, c.value),
                    )),
                    Ok(i) => columns.push(i),
                    Err(p) => problems.push(p),
                }
            }
            if out.columns.is_empty() {
                problems.push(SpecProblem::new(
                    location(&out.name),
                    format!(
                        "output `{}` has no columns: list the nodes to evaluate",
                        out.name.value
                    ),
                ));
            }
            let points = match &out.evaluate_at {
                EvaluationPoints::EventsOf(n) => match resolve(n, "evaluate_at.events_of") {
                    Ok(i)
                        if plan.nodes[i].ty.kind != Kind::Event
                            || plan.nodes[i].ty.value == ValueType::Record =>
                    {
                        problems.push(SpecProblem::new(
                            location(n),
                            format!("output `{}`: evaluate_at.events_of needs an event timeline of values, but `{}` is {}", out.name.value, n.value, plan.nodes[i].ty),
                        ));
                        continue;
                    }
                    Ok(i) => EvaluationPoints::EventsOf(i),
                    Err(p) => {
                        problems.push(p);
                        continue;
                    }
                },
                other => other.clone().map(|_| 0),
            };
            outputs.push(OutputPlan {
                name: out.name.value.clone(),
                columns: out.columns.iter().map(|c| c.value.clone()).collect(),
                digest: EvaluateAt {
                    output: k,
                    points,
                    columns,
                },
                sink: out.sink.clone().unwrap_or(SinkSpec::Stdout),
            });
        }

        let Some(plan) = plan.filter(|_| problems.is_empty()) else {
            return Err(problems);
        };
        // An output reads its columns and the node whose events it is evaluated at.
        let used: Vec<usize> = outputs
            .iter()
            .flat_map(|o| {
                let at = match o.digest.points {
                    EvaluationPoints::EventsOf(i) => Some(i),
                    _ => None,
                };
                o.digest.columns.iter().copied().chain(at)
            })
            .collect();
        let mut warnings: Vec<SpecProblem> = plan
            .unconsumed()
            .into_iter()
            .filter(|id| plan.index_of(id).is_some_and(|i| !used.contains(&i)))
            .map(|id| {
                let at = plan.node(id).and_then(|n| n.at);
                SpecProblem::new(
                    at,
                    format!("node `{id}` is computed but nothing reads it and no output shows it"),
                )
            })
            .collect();
        warnings.extend(lookup_warnings);
        Ok(Program {
            name: spec.name,
            description: spec.description,
            input: InputPlan {
                session_key: spec.input.session_key.value,
                time: spec.input.time.value,
                time_unit: spec.input.time_unit.as_ref().map(|u| u.value),
                sequence: spec.input.sequence.map(|s| s.value),
                fields,
                schema: spec.input.schema.map(|s| s.value),
                reader_schema: schema.and_then(|s| s.json()).map(Arc::from),
                record_name: spec.input.record_name,
                on_bad_record: spec
                    .input
                    .on_bad_record
                    .map(|p| p.value)
                    .unwrap_or_default(),
                on_late_event: spec
                    .input
                    .on_late_event
                    .map(|p| p.value)
                    .unwrap_or_default(),
                max_bad_records: spec.input.max_bad_records,
                max_bad_ratio: spec
                    .input
                    .max_bad_ratio
                    .map_or(DEFAULT_MAX_BAD_RATIO, |f| f.0),
                dead_letter,
                lateness: spec.input.lateness_secs.map_or(0, Secs::millis),
                session_gap: spec.input.session_gap_secs.map(Secs::millis),
                source: spec.input.source,
                lookups,
            },
            plan,
            outputs,
            tests: spec.tests,
            warnings,
        })
    }

    /// The validated plan as text: nodes in execution order, then outputs.
    pub fn explain(&self) -> String {
        let mut s = format!(
            "program {}\ninput: session_key={}, time={}",
            self.name, self.input.session_key, self.input.time
        );
        if let Some(u) = self.input.time_unit {
            s.push_str(&format!(" ({u:?})").to_lowercase());
        }
        if let Some(q) = &self.input.sequence {
            s.push_str(&format!(", sequence={q}"));
        }
        s.push_str("\nfields read:");
        for (i, (path, ty)) in self.input.fields.iter().enumerate() {
            s.push_str(&format!(" [{i}] {path}: {ty}"));
            if i + 1 < self.input.fields.len() {
                s.push(',');
            }
        }
        for l in &self.input.lookups {
            let key = match &l.key {
                crate::lookups::LookupKey::Session => crate::lookups::SESSION_KEY.to_string(),
                crate::lookups::LookupKey::Field { path, .. } => path.clone(),
            };
            s.push_str(&format!(
                "\nlookup {}: {}.{} where {} = {key}:",
                l.name, l.keyspace, l.table, l.key_column
            ));
            for (i, c) in l.columns.iter().enumerate() {
                s.push_str(&format!(
                    " [{}] {}.{}: {}",
                    c.slot, l.name, c.name, c.cql_type
                ));
                if i + 1 < l.columns.len() {
                    s.push(',');
                }
            }
        }
        s.push_str("\nnodes:\n");
        for line in spanflow_engine::dag::explain(&self.plan).lines() {
            s.push_str("  ");
            s.push_str(line);
            s.push('\n');
        }
        s.push_str("outputs:\n");
        for o in &self.outputs {
            let points = match &o.digest.points {
                EvaluationPoints::EveryEvent => "every_event".to_string(),
                EvaluationPoints::SessionEnd => "session_end".to_string(),
                EvaluationPoints::EverySecs(p) => format!("every {} s", p.0),
                EvaluationPoints::EventsOf(i) => format!("events of {}", self.plan.nodes[*i].id),
            };
            s.push_str(&format!(
                "  {}: [{}] at {points}\n",
                o.name,
                o.columns.join(", ")
            ));
        }
        s
    }
}

/// Parses a spec's YAML text; an error carries its line, column and field path.
pub fn parse_spec(yaml: &str) -> Result<DagSpec, SpecProblem> {
    let mut path = None;
    // NaN and infinities reach the visitors (test events may carry NaN; `Constant` refuses
    // NaN with its own message).
    let options = serde_saphyr::options! {
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
    };
    let parsed = serde_saphyr::with_deserializer_from_str_with_options(yaml, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = Some(e.path().to_string());
            e.into_inner()
        })
    });
    parsed.map_err(|e| {
        let mut p = parse_problem(&e);
        if let Some(path) = path.filter(|p| p != ".") {
            // Policies are `Spanned` (for their location): their path has an inner `.value`.
            let path = match path.strip_suffix(".value") {
                Some(
                    field @ ("input.on_bad_record" | "input.on_late_event" | "input.time_unit"),
                ) => field.to_owned(),
                _ => path,
            };
            p.message = format!("{path}: {}", p.message);
        }
        p
    })
}

/// Turns a serde-saphyr error into a problem with its location and a message without the snippet
/// (the CLI renders its own).
pub fn parse_problem(e: &serde_saphyr::Error) -> SpecProblem {
    let at = e.location().filter(|l| l.line() > 0).map(|l| Location {
        line: l.line() as u32,
        column: l.column() as u32,
    });
    if let Some(breach) = budget_breach(e) {
        return SpecProblem::new(at, budget_message(breach));
    }
    // The crate's Display is "error: line L column C: message" plus a snippet; keep the message.
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let message = match first
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((_, m)) => m,
        None => first,
    };
    SpecProblem::new(at, message.trim())
}

/// The YAML size limit `e` reports exceeding, if it is one (possibly behind wrappers).
fn budget_breach(mut e: &serde_saphyr::Error) -> Option<&serde_saphyr::budget::BudgetBreach> {
    use serde_saphyr::Error;
    loop {
        match e {
            Error::Budget { breach, .. } => return Some(breach),
            Error::WithSnippet { error, .. } | Error::AliasError { error, .. } => e = error,
            _ => return None,
        }
    }
}

/// What a spec over one of the YAML parser's size limits (its defaults, which protect against
/// hostile input) should be told: the limit, and to split the spec.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let limit = serde_saphyr::Budget::default();
    let what = match breach {
        B::Nodes { .. } => format!(
            "more than {} YAML nodes (mappings, sequences and scalars)",
            limit.max_nodes
        ),
        B::Events { .. } => format!("more than {} YAML parser events", limit.max_events),
        B::Depth { .. } => format!("YAML nested more than {} levels deep", limit.max_depth),
        B::ScalarBytes { .. } => format!(
            "more than {} bytes of scalar text",
            limit.max_total_scalar_bytes
        ),
        B::Aliases { .. } => format!("more than {} aliases (`*name`)", limit.max_aliases),
        B::Anchors { .. } => format!("more than {} anchors (`&name`)", limit.max_anchors),
        B::Documents { .. } => format!("more than {} YAML documents", limit.max_documents),
        B::MergeKeys { .. } => format!("more than {} merge keys (`<<`)", limit.max_merge_keys),
        other => format!("more YAML than the parser's limits allow ({other:?})"),
    };
    format!(
        "the spec is too large: it has {what}, the most a spec may hold; split it into several \
         specs, each with the nodes its outputs need (every spec runs on the same input)"
    )
}

/// Per-session state of a running program: the DAG's slots (digesters keep nothing).
#[derive(Clone, Debug)]
pub struct SessionState {
    dag: Session,
}

impl SessionState {
    /// Time of the session's last step.
    pub fn last_time(&self) -> Option<Time> {
        self.dag.last_time()
    }

    /// Heap bytes of the session's state.
    pub fn heap_bytes(&self) -> usize {
        self.dag.heap_bytes()
    }
}

/// Executes a program: one interpreter (shared buffers and strings) for all sessions.
#[derive(Debug)]
pub struct Runner<'p> {
    program: &'p Program,
    interp: Interpreter<'p, AnyOperator>,
    /// Whether an output can have a row before the session ends (so steps must digest).
    rows_mid_session: bool,
    /// Set by `spanflow trace` only: records the steps of one session key.
    recorder: Option<Box<Recorder>>,
}

impl<'p> Runner<'p> {
    /// A runner for `program`.
    pub fn new(program: &'p Program) -> Self {
        Self {
            program,
            interp: Interpreter::new(&program.plan),
            rows_mid_session: program
                .outputs
                .iter()
                .any(|o| !matches!(o.digest.points, EvaluationPoints::SessionEnd)),
            recorder: None,
        }
    }

    /// Records every step of the sessions `recorder` is for (see [`Runner::select_session`]).
    pub fn record(&mut self, recorder: Recorder) {
        self.recorder = Some(Box::new(recorder));
    }

    /// The recorder, taken back.
    pub fn take_recorder(&mut self) -> Option<Recorder> {
        self.recorder.take().map(|r| *r)
    }

    /// A session of `key` opened (the recorder samples the keys of the input).
    pub fn session_opened(&mut self, key: &str) {
        if let Some(r) = &mut self.recorder {
            r.opened(key);
        }
    }

    /// The steps that follow are for a session of `key` (what the recorder needs to know).
    #[inline]
    pub fn select_session(&mut self, key: &str) {
        if let Some(r) = &mut self.recorder {
            Self::select_recorded(r, key);
        }
    }

    #[cold]
    #[inline(never)]
    fn select_recorded(recorder: &mut Recorder, key: &str) {
        recorder.select(key);
    }

    /// The program.
    pub fn program(&self) -> &'p Program {
        self.program
    }

    /// Starts per-node counters (see [`Interpreter::enable_stats`]).
    pub fn enable_stats(&mut self, sample_every: u32) {
        self.interp.enable_stats(sample_every);
    }

    /// The per-node counters since the last call, resetting them.
    pub fn take_stats(&mut self) -> spanflow_engine::InterpreterStats {
        self.interp.take_stats()
    }

    /// The record as the interpreter keeps it: strings interned.
    pub fn intern(&mut self, record: &Record) -> Event {
        Event::intern(record, self.interp.strings_mut())
    }

    /// The dictionary of string values.
    pub fn strings(&self) -> &Interner {
        self.interp.strings()
    }

    /// The dictionary, to intern the strings of incoming records.
    pub fn strings_mut(&mut self) -> &mut Interner {
        self.interp.strings_mut()
    }

    /// Words of per-session DAG state (8 bytes each).
    pub fn session_words(&self) -> usize {
        self.interp.session_words()
    }

    /// State for a new session.
    pub fn open_session(&self) -> SessionState {
        SessionState {
            dag: self.interp.open_session(),
        }
    }

    /// One step: all `records` share time `now`. Rows go to `emit` as they are produced.
    pub fn step(
        &mut self,
        session: &mut SessionState,
        now: Time,
        records: &[Event],
        emit: &mut impl FnMut(&Row),
    ) -> Result<(), StepError> {
        self.step_in(session.dag.parts(), now, records, emit)
    }

    /// [`Runner::step`] on a session kept in parts (see [`SessionParts`]).
    #[inline]
    pub fn step_in(
        &mut self,
        session: SessionParts<'_>,
        now: Time,
        records: &[Event],
        emit: &mut impl FnMut(&Row),
    ) -> Result<(), StepError> {
        let SessionParts {
            header,
            words,
            queues,
        } = session;
        let prev = header.last_time();
        self.interp.step_in(
            SessionParts {
                header: &mut *header,
                words: &mut *words,
                queues,
            },
            now,
            records,
        )?;
        if self.recorder.is_some() {
            self.step_recorded(words, prev, now, records, emit);
        } else if self.rows_mid_session {
            let cx = StepCtx {
                prev,
                now,
                records,
                session_end: false,
                strings: self.interp.strings(),
            };
            self.digest(words, &cx, emit);
        }
        Ok(())
    }

    /// The digest of a step while `spanflow trace` records: out of the hot path.
    #[cold]
    #[inline(never)]
    fn step_recorded(
        &mut self,
        words: &[u64],
        prev: Option<Time>,
        now: Time,
        records: &[Event],
        emit: &mut impl FnMut(&Row),
    ) {
        let step = (prev, now, records, false);
        self.digest_noted(words, step, emit, |recorder, interp| {
            recorder.step(interp, prev.is_none(), now, records.len());
        });
    }

    /// Ends the session (at its last step's time), emitting its session-end rows.
    pub fn end(&mut self, session: &mut SessionState, emit: &mut impl FnMut(&Row)) {
        let SessionParts { header, words, .. } = session.dag.parts();
        self.end_in(header, words, emit)
    }

    /// [`Runner::end`] on a session kept in parts.
    pub fn end_in(
        &mut self,
        header: &mut SessionHeader,
        words: &[u64],
        emit: &mut impl FnMut(&Row),
    ) {
        let Some(last) = header.last_time() else {
            return;
        };
        if header.has_ended() {
            return;
        }
        self.interp.end_in(header);
        let end = (Some(last), last, &[][..], true);
        self.digest_noted(words, end, emit, |recorder, _| recorder.ended(last));
    }

    /// [`Runner::digest`]; while `spanflow trace` records this session, `note` tells the
    /// recorder what happened first and the rows are copied into it too.
    /// `step` is the step's `(prev, now, records, session_end)`.
    fn digest_noted(
        &mut self,
        words: &[u64],
        step: (Option<Time>, Time, &[Event], bool),
        emit: &mut impl FnMut(&Row),
        note: impl FnOnce(&mut Recorder, &Interpreter<'_, AnyOperator>),
    ) {
        let (prev, now, records, session_end) = step;
        let cx = StepCtx {
            prev,
            now,
            records,
            session_end,
            strings: self.interp.strings(),
        };
        match self.recorder.as_deref_mut().filter(|r| r.is_active()) {
            None => self.digest(words, &cx, emit),
            Some(recorder) => {
                note(recorder, &self.interp);
                Self::digest_recorded(self.program, &self.interp, recorder, words, &cx, emit);
            }
        }
    }

    /// Drops the strings no longer referenced (see [`Interpreter::compact_strings`]); `live`
    /// must remap every open session and every waiting event.
    pub fn compact_strings(&mut self, live: impl FnOnce(&mut StringRemap<'_>)) -> usize {
        self.interp.compact_strings(live)
    }

    /// Whether the dictionary holds more than `limit` strings.
    pub fn strings_to_compact(&self, limit: usize) -> bool {
        self.interp.strings_to_compact(limit)
    }

    /// Words of per-session DAG state, and a new session's: for callers keeping sessions in
    /// parts.
    pub fn init_words(&self, words: &mut [u64]) {
        self.interp.init_words(words)
    }

    /// A new session's queues (for plans with queued nodes).
    pub fn new_queues(&self) -> Option<Box<[Queue]>> {
        self.interp.new_queues()
    }

    /// [`Runner::digest`], copying the rows into the recorder too.
    fn digest_recorded(
        program: &Program,
        interp: &Interpreter<'_, AnyOperator>,
        recorder: &mut Recorder,
        words: &[u64],
        cx: &StepCtx<'_>,
        emit: &mut impl FnMut(&Row),
    ) {
        let view = DagView { interp, words };
        let mut both = |row: &Row| {
            recorder.row(row);
            emit(row);
        };
        for o in &program.outputs {
            o.digest.step(&view, cx, &mut both);
        }
    }

    fn digest(&self, words: &[u64], cx: &StepCtx<'_>, emit: &mut impl FnMut(&Row)) {
        let view = DagView {
            interp: &self.interp,
            words,
        };
        for o in &self.program.outputs {
            o.digest.step(&view, cx, emit);
        }
    }
}

/// A time unit as written in a spec.
fn unit_name(u: TimeUnit) -> &'static str {
    match u {
        TimeUnit::Seconds => "seconds",
        TimeUnit::Milliseconds => "milliseconds",
        TimeUnit::Microseconds => "microseconds",
        TimeUnit::Nanoseconds => "nanoseconds",
    }
}

/// How many times larger or smaller a duration read in unit `a` is than in unit `b`.
fn unit_ratio(a: TimeUnit, b: TimeUnit) -> u64 {
    let per_sec = |u| match u {
        TimeUnit::Seconds => 1u64,
        TimeUnit::Milliseconds => 1_000,
        TimeUnit::Microseconds => 1_000_000,
        TimeUnit::Nanoseconds => 1_000_000_000,
    };
    let (x, y) = (per_sec(a), per_sec(b));
    x.max(y) / x.min(y)
}

#[cfg(test)]
mod validation_gap_tests {
    use super::Program;

    #[test]
    fn a_node_read_only_by_evaluate_at_events_of_is_not_unread() {
        let yaml = "name: t
input: { session_key: s, time: t }
nodes:
  - { id: events, op: event_source }
  - { id: seeks, op: get, inputs: [events], with: { field: seek, type: bool } }
  - { id: x, op: get, inputs: [events], with: { field: x, type: f64 } }
  - { id: x_state, op: latest_event_to_state, inputs: [x] }
outputs:
  - { name: o, evaluate_at: { events_of: seeks }, columns: [x_state] }
";
        let p = Program::parse(yaml, None).unwrap_or_else(|e| panic!("{e:?}"));
        let w: Vec<String> = p.warnings.iter().map(|w| w.to_string()).collect();
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn a_spec_over_the_yaml_node_budget_is_told_the_limit_and_to_split() {
        // 5 YAML nodes per spec node (a mapping and 4 scalars).
        let many = "  - { id: e, op: event_source }\n".repeat(60_000);
        let yaml = format!("name: t\ninput: {{ session_key: s, time: t }}\nnodes:\n{many}");
        let e = Program::parse(&yaml, None).unwrap_err();
        let m = e[0].to_string();
        assert!(m.contains("more than 250000 YAML nodes"), "{m}");
        assert!(m.contains("split it into several specs"), "{m}");
        assert!(!m.contains("Nodes {"), "{m}");
    }
}
