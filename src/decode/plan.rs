//! Compiling a [`Projection`] against a writer schema into a [`DecodePlan`]: for every field of
//! every record on a projected path, what to do with it (skip, read into sinks, or descend).

use super::error::{Role, SchemaMismatch, TypeMismatch, UnknownField};
use super::path::FieldPath;
use super::projection::Projection;
use super::schema::{timestamp_unit, SchemaSource};
use super::skip::{skip_ops, SkipOp};
use serde_avro_fast::schema::{Record, RegularType, SchemaKey, SchemaMut};
use smallvec::SmallVec;
use spanflow_engine::{Str, TimeUnit, ValueType};
use std::sync::Arc;

/// A projection compiled against one writer schema: decodes datums of that schema straight into
/// [`DecodedEvent`](super::DecodedEvent)s, reading only the projected fields.
///
/// Compile once per writer schema (per schema id) and reuse; it is immutable and `Sync`.
pub struct DecodePlan {
    pub(crate) graph: Arc<SchemaMut>,
    pub(crate) root: RecordPlan,
    pub(crate) skip: Box<[SkipOp]>,
    pub(crate) slots: usize,
    pub(crate) time_unit: TimeUnit,
    pub(crate) session_key: FieldPath,
    pub(crate) time: FieldPath,
    pub(crate) writer_name: Box<str>,
}

impl std::fmt::Debug for DecodePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodePlan")
            .field("writer", &self.writer_name)
            .field("slots", &self.slots)
            .field("time_unit", &self.time_unit)
            .field("root", &self.root)
            .finish()
    }
}

/// Where a decoded value goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sink {
    /// [`DecodedEvent::session_key`](super::DecodedEvent::session_key).
    SessionKey,
    /// `Record::time`, converted with the plan's time unit.
    Time,
    /// `Record::sequence`.
    Sequence,
    /// `Record::fields[slot]`.
    Slot(u32),
}

/// A nullable union `[null, T]` or `[T, null]`: which branch index is which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Nullable {
    pub(crate) null_branch: u8,
    pub(crate) value_branch: u8,
}

/// The writer type of a projected leaf (after removing a nullable union).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ScalarKind {
    Int,
    Long,
    Float,
    Double,
    Bool,
    Str,
    Enum(Box<[Str]>),
}

/// A projected leaf field.
#[derive(Clone, Debug)]
pub(crate) struct Leaf {
    pub(crate) nullable: Option<Nullable>,
    pub(crate) kind: ScalarKind,
    pub(crate) sinks: SmallVec<[Sink; 2]>,
}

/// What to do with one field of a record, in writer order.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Not projected: skip a value of this writer type.
    Skip(SchemaKey),
    /// A projected leaf.
    Leaf(Leaf),
    /// A record (possibly nullable) with projected fields inside.
    Descend(Option<Nullable>, Box<RecordPlan>),
}

/// The plan for one record type on a projected path.
#[derive(Clone, Debug)]
pub(crate) struct RecordPlan {
    /// Writer field names, for error messages.
    pub(crate) names: Box<[Box<str>]>,
    /// One step per writer field.
    pub(crate) steps: Box<[Step]>,
    /// Every sink inside this record, applied with null when the record itself is null.
    pub(crate) below: Box<[Sink]>,
}

/// One projected path after resolution against the schema.
struct Target {
    /// Field position at each level.
    positions: Vec<usize>,
    /// Nullability of each record descended into (`positions.len() - 1` entries).
    descents: Vec<Option<Nullable>>,
    nullable: Option<Nullable>,
    kind: ScalarKind,
}

/// Resolves `path` against `schema` for `role` with the checks and errors of
/// [`DecodePlan::compile`] (which uses it), and returns the type its values are read as. Spec
/// validation uses it too, so a spec that validates against a schema compiles against it.
pub fn resolve_path(
    schema: &SchemaSource,
    path: &FieldPath,
    role: Role,
) -> Result<ValueType, SchemaMismatch> {
    root_record(schema)?;
    let target = match role {
        Role::Time => resolve_time(schema, path)?.0,
        _ => resolve(schema, path, role)?,
    };
    Ok(target.kind.value_type())
}

/// The time unit the Avro logical type of the time field at `path` gives its values
/// (`timestamp-millis` → milliseconds, …) and the logical type's name; `None` when the field
/// can't be resolved as a time or has no timestamp logical type.
pub fn logical_time_unit(schema: &SchemaSource, path: &FieldPath) -> Option<(TimeUnit, String)> {
    root_record(schema).ok()?;
    let target = resolve(schema, path, Role::Time).ok()?;
    let logical = schema.graph()[leaf_key(schema.graph(), &target)]
        .logical_type
        .as_ref()?;
    timestamp_unit(Some(logical)).map(|u| (u, logical.as_str().to_string()))
}

/// The writer schema's top-level record.
fn root_record(schema: &SchemaSource) -> Result<&Record, SchemaMismatch> {
    match &schema.graph().root().type_ {
        RegularType::Record(root) => Ok(root),
        _ => Err(SchemaMismatch::RootNotRecord {
            found: schema.describe(SchemaKey::root()).into(),
        }),
    }
}

impl ScalarKind {
    /// The engine type values of this writer type are read as.
    fn value_type(&self) -> ValueType {
        match self {
            ScalarKind::Int | ScalarKind::Long | ScalarKind::Float | ScalarKind::Double => {
                ValueType::F64
            }
            ScalarKind::Bool => ValueType::Bool,
            ScalarKind::Str | ScalarKind::Enum(_) => ValueType::Str,
        }
    }
}

impl DecodePlan {
    /// Compiles `projection` against the writer schema: checks every path exists with a usable
    /// type, and precomputes per record field whether to skip, read or descend.
    pub fn compile(schema: &SchemaSource, projection: &Projection) -> Result<Self, SchemaMismatch> {
        let graph = schema.graph();
        let root = root_record(schema)?;
        let writer_name = root.name.fully_qualified_name();
        if let Some(expected) = &projection.record_name {
            if expected != writer_name {
                return Err(SchemaMismatch::OtherRecord {
                    expected: expected.as_str().into(),
                    found: writer_name.into(),
                });
            }
        }
        let mut targets = Vec::with_capacity(projection.fields.len() + 3);
        targets.push((
            resolve(schema, &projection.session_key, Role::SessionKey)?,
            Sink::SessionKey,
        ));
        let (time, unit) = resolve_time(schema, &projection.time)?;
        targets.push((time, Sink::Time));
        if let Some(seq) = &projection.sequence {
            targets.push((resolve(schema, seq, Role::Sequence)?, Sink::Sequence));
        }
        for (slot, (path, ty)) in projection.fields.iter().enumerate() {
            let slot = u32::try_from(slot).unwrap_or(u32::MAX);
            targets.push((resolve(schema, path, Role::Field(*ty))?, Sink::Slot(slot)));
        }
        let refs: Vec<(&Target, Sink)> = targets.iter().map(|(t, s)| (t, *s)).collect();
        Ok(DecodePlan {
            graph: Arc::new(graph.clone()),
            root: build(graph, SchemaKey::root(), &refs, 0),
            skip: skip_ops(graph),
            slots: projection.fields.len(),
            time_unit: projection
                .time_unit
                .or(unit)
                .unwrap_or(TimeUnit::Milliseconds),
            session_key: projection.session_key.clone(),
            time: projection.time.clone(),
            writer_name: writer_name.into(),
        })
    }

    /// Number of field slots each decoded record has.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The unit the time field is read in.
    pub fn time_unit(&self) -> TimeUnit {
        self.time_unit
    }

    /// Full name of the writer schema's top-level record.
    pub fn writer_name(&self) -> &str {
        &self.writer_name
    }
}

fn resolve_time(
    schema: &SchemaSource,
    path: &FieldPath,
) -> Result<(Target, Option<TimeUnit>), SchemaMismatch> {
    let target = resolve(schema, path, Role::Time)?;
    let leaf_key = leaf_key(schema.graph(), &target);
    let logical = schema.graph()[leaf_key].logical_type.as_ref();
    let unit = timestamp_unit(logical);
    if unit.is_none() {
        if let Some(l) = logical.map(|l| l.as_str()) {
            if matches!(l, "date" | "time-millis" | "time-micros") {
                return Err(type_mismatch(
                    schema,
                    path,
                    path.len(),
                    leaf_key,
                    Role::Time,
                    Some(format!("a `{l}` is not a point in time")),
                ));
            }
        }
    }
    Ok((target, unit))
}

/// The schema key of a resolved target's leaf value (inside its nullable union, if any).
fn leaf_key(graph: &SchemaMut, t: &Target) -> SchemaKey {
    let mut key = SchemaKey::root();
    for (depth, &pos) in t.positions.iter().enumerate() {
        let RegularType::Record(r) = &graph[key].type_ else {
            break;
        };
        key = r.fields[pos].type_;
        let nullable = if depth + 1 == t.positions.len() {
            t.nullable
        } else {
            t.descents[depth]
        };
        if let (Some(n), RegularType::Union(u)) = (nullable, &graph[key].type_) {
            key = u.variants[usize::from(n.value_branch)];
        }
    }
    key
}

fn type_mismatch(
    schema: &SchemaSource,
    path: &FieldPath,
    upto: usize,
    key: SchemaKey,
    role: Role,
    note: Option<String>,
) -> SchemaMismatch {
    SchemaMismatch::TypeMismatch(Box::new(TypeMismatch {
        path: path.clone(),
        at: path.prefix(upto),
        writer_type: schema.describe(key),
        role,
        note,
    }))
}

/// Splits `[null, T]` / `[T, null]` into its branches; other types pass through.
fn strip_nullable(
    graph: &SchemaMut,
    key: SchemaKey,
) -> Result<(Option<Nullable>, SchemaKey), String> {
    let RegularType::Union(u) = &graph[key].type_ else {
        return Ok((None, key));
    };
    let is_null = |k: SchemaKey| matches!(graph[k].type_, RegularType::Null);
    match u.variants.as_slice() {
        [a, b] if is_null(*a) && !is_null(*b) => {
            Ok((Some(Nullable { null_branch: 0, value_branch: 1 }), *b))
        }
        [a, b] if !is_null(*a) && is_null(*b) => {
            Ok((Some(Nullable { null_branch: 1, value_branch: 0 }), *a))
        }
        [_] => Err("a one-branch union cannot be projected".to_owned()),
        v => Err(format!(
            "only unions of null and one other type can be projected; this one has {} non-null branches",
            v.iter().filter(|k| !is_null(**k)).count()
        )),
    }
}

fn resolve(schema: &SchemaSource, path: &FieldPath, role: Role) -> Result<Target, SchemaMismatch> {
    let graph = schema.graph();
    let mut key = SchemaKey::root();
    let mut positions = Vec::with_capacity(path.len());
    let mut descents = Vec::with_capacity(path.len().saturating_sub(1));
    for (i, seg) in path.segments().iter().enumerate() {
        let RegularType::Record(record) = &graph[key].type_ else {
            // Unreachable: the loop only continues into records.
            return Err(type_mismatch(schema, path, i, key, role, None));
        };
        let Some(pos) = record.fields.iter().position(|f| f.name == seg.as_str()) else {
            let names = record.fields.iter().map(|f| f.name.as_str());
            return Err(SchemaMismatch::UnknownField(Box::new(UnknownField {
                path: path.clone(),
                missing: seg.to_string(),
                record: record.name.fully_qualified_name().to_owned(),
                suggestion: spanflow_engine::error::closest(seg, names.clone()),
                valid: names.map(str::to_owned).collect(),
            })));
        };
        positions.push(pos);
        let field_key = record.fields[pos].type_;
        let (nullable, inner) = strip_nullable(graph, field_key)
            .map_err(|note| type_mismatch(schema, path, i + 1, field_key, role, Some(note)))?;
        if i + 1 < path.len() {
            if !matches!(graph[inner].type_, RegularType::Record(_)) {
                return Err(type_mismatch(schema, path, i + 1, field_key, role, None));
            }
            descents.push(nullable);
            key = inner;
            continue;
        }
        let kind = scalar_kind(&graph[inner].type_)
            .filter(|k| accepts(role, k))
            .ok_or_else(|| {
                let note = record_note(graph, path, inner);
                type_mismatch(schema, path, path.len(), field_key, role, note)
            })?;
        return Ok(Target {
            positions,
            descents,
            nullable,
            kind,
        });
    }
    // An empty path: report it against the root record.
    Err(type_mismatch(
        schema,
        path,
        0,
        SchemaKey::root(),
        role,
        Some("the path is empty".into()),
    ))
}

/// For a path ending at a record: which of its fields could be read instead.
fn record_note(graph: &SchemaMut, path: &FieldPath, key: SchemaKey) -> Option<String> {
    let RegularType::Record(r) = &graph[key].type_ else {
        return None;
    };
    let fields: Vec<String> = r
        .fields
        .iter()
        .map(|f| format!("`{path}.{}`", f.name))
        .collect();
    Some(format!(
        "a record has no single value: read one of its fields ({})",
        fields.join(", ")
    ))
}

fn scalar_kind(t: &RegularType) -> Option<ScalarKind> {
    Some(match t {
        RegularType::Int => ScalarKind::Int,
        RegularType::Long => ScalarKind::Long,
        RegularType::Float => ScalarKind::Float,
        RegularType::Double => ScalarKind::Double,
        RegularType::Boolean => ScalarKind::Bool,
        RegularType::String => ScalarKind::Str,
        RegularType::Enum(e) => {
            ScalarKind::Enum(e.symbols.iter().map(|s| Str::from(s.as_str())).collect())
        }
        _ => return None,
    })
}

fn accepts(role: Role, kind: &ScalarKind) -> bool {
    use ScalarKind as K;
    match role {
        Role::SessionKey => matches!(kind, K::Str | K::Enum(_) | K::Int | K::Long),
        Role::Time | Role::Field(ValueType::F64) => {
            matches!(kind, K::Int | K::Long | K::Float | K::Double)
        }
        Role::Sequence => matches!(kind, K::Int | K::Long),
        Role::Field(ValueType::Bool) => matches!(kind, K::Bool),
        Role::Field(ValueType::Str) => matches!(kind, K::Str | K::Enum(_)),
        Role::Field(ValueType::Record) => false,
        Role::AnyField => true,
    }
}

/// Builds the plan of the record at `key` for the targets (and their sinks) passing through it
/// at `depth`.
fn build(
    graph: &SchemaMut,
    key: SchemaKey,
    targets: &[(&Target, Sink)],
    depth: usize,
) -> RecordPlan {
    let RegularType::Record(record) = &graph[key].type_ else {
        // Unreachable: `resolve` only descends into records.
        return RecordPlan {
            names: Box::new([]),
            steps: Box::new([]),
            below: Box::new([]),
        };
    };
    let steps = record
        .fields
        .iter()
        .enumerate()
        .map(|(pos, field)| {
            let here: Vec<(&Target, Sink)> = targets
                .iter()
                .copied()
                .filter(|(t, _)| t.positions[depth] == pos)
                .collect();
            let Some(&(first, _)) = here.first() else {
                return Step::Skip(field.type_);
            };
            if first.positions.len() == depth + 1 {
                Step::Leaf(Leaf {
                    nullable: first.nullable,
                    kind: first.kind.clone(),
                    sinks: here.iter().map(|(_, sink)| *sink).collect(),
                })
            } else {
                let nullable = first.descents[depth];
                let inner = match (nullable, &graph[field.type_].type_) {
                    (Some(n), RegularType::Union(u)) => u.variants[usize::from(n.value_branch)],
                    _ => field.type_,
                };
                Step::Descend(nullable, Box::new(build(graph, inner, &here, depth + 1)))
            }
        })
        .collect();
    RecordPlan {
        names: record
            .fields
            .iter()
            .map(|f| f.name.as_str().into())
            .collect(),
        steps,
        below: targets.iter().map(|(_, sink)| *sink).collect(),
    }
}
