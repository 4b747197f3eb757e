//! Compiling a [`Projection`] against a writer schema into a [`DecodePlan`]: for every field of
//! every record on a projected path, what to do with it (skip, read into sinks, or descend).
//!
//! Paths are resolved per the Avro specification's schema resolution against the projection's
//! reader schema (the spec's `input.schema`): writer fields are found by the reader field's
//! name or aliases, a field the writer lacks takes the reader's default, numbers promote, enum
//! symbols map by name (else to the reader enum's default), and a writer union branch is read
//! in the reader union's matching branch. Without a reader schema the writer resolves against
//! itself.

use super::error::{Role, SchemaMismatch, TypeMismatch, UnknownField, Unresolvable};
use super::path::FieldPath;
use super::projection::Projection;
use super::reader_schema::ReaderSchema;
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

/// How a writer value of a projected leaf is read (after resolution against the reader type).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ScalarKind {
    Int,
    Long,
    Float,
    Double,
    /// An int the reader promotes to float: rounded to f32 as Avro readers do.
    IntAsFloat,
    /// A long the reader promotes to float: rounded to f32.
    LongAsFloat,
    Bool,
    /// A string, or bytes a reader `string` takes (checked to be UTF-8).
    Str,
    /// Per writer symbol: the reader's symbol (itself or the reader enum's default), or why the
    /// reader has none.
    Enum(Box<[Result<Str, Box<str>>]>),
}

/// How to read one branch of a writer union (or the writer value when it is no union).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Read {
    Null,
    Value(ScalarKind),
    /// A branch the reader type cannot take: skip its value (this writer node) and fail the
    /// record with this explanation.
    Fail(SchemaKey, Box<str>),
}

/// A projected leaf field.
#[derive(Clone, Debug)]
pub(crate) struct Leaf {
    /// The writer value starts with a union branch index into `reads`.
    pub(crate) union: bool,
    /// One read per writer union branch, or the one read of a writer type that is no union.
    pub(crate) reads: Box<[Read]>,
    pub(crate) sinks: SmallVec<[Sink; 2]>,
    /// The projected path, for per-record resolution errors.
    pub(crate) path: FieldPath,
}

/// A record on a projected path, possibly nullable in the writer.
#[derive(Clone, Debug)]
pub(crate) struct Descent {
    pub(crate) nullable: Option<Nullable>,
}

/// A reader default: the value of a field the writer schema lacks.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Const {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(Str),
}

/// What to do with one field of a record, in writer order.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Not projected: skip a value of this writer type.
    Skip(SchemaKey),
    /// A projected leaf.
    Leaf(Leaf),
    /// A record (possibly nullable) with projected fields inside.
    Descend(Descent, Box<RecordPlan>),
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
    /// Reader defaults of fields this writer record lacks, written before its fields are read.
    pub(crate) defaults: Box<[(Sink, Const)]>,
}

/// How a resolved path gets its value.
enum What {
    /// Read from the writer's leaf.
    Read { union: bool, reads: Box<[Read]> },
    /// The writer lacks a field on the path: the reader's default.
    Default(Const),
}

/// One projected path after resolution against the schemas.
struct Target {
    /// Writer field position at each level; for a default, down to the record lacking it.
    positions: Vec<usize>,
    /// Each record descended into (`positions.len() - 1` entries for a read, `positions.len()`
    /// for a default).
    descents: Vec<Descent>,
    what: What,
    value_type: ValueType,
    /// The logical type of the leaf: the reader's, else the writer's.
    logical: Option<String>,
    /// The leaf's type (of the first non-null branch), for error messages.
    leaf_type: String,
    path: FieldPath,
}

/// The writer schema and the reader schema it is resolved against (the writer itself when the
/// spec names none: every type then resolves to itself).
#[derive(Clone, Copy)]
struct Schemas<'a> {
    w: &'a SchemaSource,
    r: &'a SchemaSource,
    reader: Option<&'a ReaderSchema>,
}

impl<'a> Schemas<'a> {
    fn new(writer: &'a SchemaSource, reader: Option<&'a ReaderSchema>) -> Self {
        Schemas {
            w: writer,
            r: reader.map_or(writer, ReaderSchema::source),
            reader,
        }
    }

    /// The reader schema resolved against itself.
    fn reader_only(self) -> Self {
        Schemas { w: self.r, ..self }
    }
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
    let cx = Schemas::new(schema, None);
    let target = match role {
        Role::Time => resolve_time(cx, path)?.0,
        _ => resolve(cx, path, role)?,
    };
    Ok(target.value_type)
}

/// The time unit the Avro logical type of the time field at `path` gives its values
/// (`timestamp-millis` → milliseconds, …) and the logical type's name; `None` when the field
/// can't be resolved as a time or has no timestamp logical type.
pub fn logical_time_unit(schema: &SchemaSource, path: &FieldPath) -> Option<(TimeUnit, String)> {
    root_record(schema).ok()?;
    let target = resolve(Schemas::new(schema, None), path, Role::Time).ok()?;
    let logical = target.logical?;
    timestamp_unit(Some(&logical)).map(|u| (u, logical))
}

/// The schema's top-level record.
fn root_record(schema: &SchemaSource) -> Result<&Record, SchemaMismatch> {
    match &schema.graph().root().type_ {
        RegularType::Record(root) => Ok(root),
        _ => Err(SchemaMismatch::RootNotRecord {
            found: schema.describe(SchemaKey::root()).into(),
        }),
    }
}

impl ScalarKind {
    /// The engine type values of this kind are read as.
    fn value_type(&self) -> ValueType {
        match self {
            ScalarKind::Int
            | ScalarKind::Long
            | ScalarKind::Float
            | ScalarKind::Double
            | ScalarKind::IntAsFloat
            | ScalarKind::LongAsFloat => ValueType::F64,
            ScalarKind::Bool => ValueType::Bool,
            ScalarKind::Str | ScalarKind::Enum(_) => ValueType::Str,
        }
    }
}

impl DecodePlan {
    /// Compiles `projection` against the writer schema: resolves every path against the
    /// projection's reader schema (if any) per the Avro rules, checks it has a usable type, and
    /// precomputes per record field whether to skip, read or descend.
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
        let cx = Schemas::new(schema, projection.reader.as_deref());
        if cx.reader.is_some() {
            root_record(cx.r)?;
        }
        let mut targets = Vec::with_capacity(projection.fields.len() + 3);
        targets.push((
            resolve(cx, &projection.session_key, Role::SessionKey)?,
            Sink::SessionKey,
        ));
        let (time, unit) = resolve_time(cx, &projection.time)?;
        targets.push((time, Sink::Time));
        if let Some(seq) = &projection.sequence {
            targets.push((resolve(cx, seq, Role::Sequence)?, Sink::Sequence));
        }
        for (slot, (path, ty)) in projection.fields.iter().enumerate() {
            let slot = u32::try_from(slot).unwrap_or(u32::MAX);
            targets.push((resolve(cx, path, Role::Field(*ty))?, Sink::Slot(slot)));
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
    cx: Schemas<'_>,
    path: &FieldPath,
) -> Result<(Target, Option<TimeUnit>), SchemaMismatch> {
    let target = resolve(cx, path, Role::Time)?;
    let logical = target.logical.as_deref();
    let unit = timestamp_unit(logical);
    if unit.is_none() {
        if let Some(l) = logical {
            if matches!(l, "date" | "time-millis" | "time-micros") {
                return Err(SchemaMismatch::TypeMismatch(Box::new(TypeMismatch {
                    path: path.clone(),
                    at: path.clone(),
                    writer_type: target.leaf_type.clone(),
                    role: Role::Time,
                    note: Some(format!("a `{l}` is not a point in time")),
                })));
            }
        }
    }
    Ok((target, unit))
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

fn unresolvable(path: &FieldPath, reason: &'static str, message: String) -> SchemaMismatch {
    SchemaMismatch::Unresolvable(Box::new(Unresolvable {
        path: path.clone(),
        reason,
        message,
    }))
}

/// Splits `[null, T]` / `[T, null]` into its branches; other types pass through. Records on a
/// path may only be nullable, not one of several types.
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
        v => Err(format!(
            "a record on a path may only be nullable (a union of null and the record); this union has {} non-null branches",
            v.iter().filter(|k| !is_null(**k)).count()
        )),
    }
}

fn resolve(cx: Schemas<'_>, path: &FieldPath, role: Role) -> Result<Target, SchemaMismatch> {
    let (wg, rg) = (cx.w.graph(), cx.r.graph());
    let (mut wkey, mut rkey) = (SchemaKey::root(), SchemaKey::root());
    let mut positions = Vec::with_capacity(path.len());
    let mut descents = Vec::with_capacity(path.len());
    for (i, seg) in path.segments().iter().enumerate() {
        let (RegularType::Record(wrec), RegularType::Record(rrec)) =
            (&wg[wkey].type_, &rg[rkey].type_)
        else {
            // Unreachable: the loop only continues into records.
            return Err(type_mismatch(cx.w, path, i, wkey, role, None));
        };
        let Some(rpos) = rrec.fields.iter().position(|f| f.name == seg.as_str()) else {
            let names = rrec.fields.iter().map(|f| f.name.as_str());
            return Err(SchemaMismatch::UnknownField(Box::new(UnknownField {
                path: path.clone(),
                missing: seg.to_string(),
                record: rrec.name.fully_qualified_name().to_owned(),
                suggestion: spanflow_engine::error::closest(seg, names.clone()),
                valid: names.map(str::to_owned).collect(),
            })));
        };
        let rfield = rrec.fields[rpos].type_;
        // A writer field of the reader field's name, else of one of its aliases.
        let aliases = cx.reader.map_or(&[][..], |x| {
            x.field_aliases(rrec.name.fully_qualified_name(), seg)
        });
        let wpos = wrec
            .fields
            .iter()
            .position(|f| f.name == seg.as_str())
            .or_else(|| {
                aliases
                    .iter()
                    .find_map(|a| wrec.fields.iter().position(|f| f.name == *a))
            });
        let Some(wpos) = wpos else {
            // Only a distinct reader gets here: a schema resolved against itself has the field.
            return default_target(cx, path, i, (wrec, rrec), role, positions, descents);
        };
        positions.push(wpos);
        let wfield = wrec.fields[wpos].type_;
        if i + 1 < path.len() {
            let (wn, winner) = strip_nullable(wg, wfield)
                .map_err(|note| type_mismatch(cx.w, path, i + 1, wfield, role, Some(note)))?;
            let (_, rinner) = strip_nullable(rg, rfield)
                .map_err(|note| type_mismatch(cx.r, path, i + 1, rfield, role, Some(note)))?;
            if !matches!(rg[rinner].type_, RegularType::Record(_)) {
                return Err(type_mismatch(cx.r, path, i + 1, rfield, role, None));
            }
            if !matches!(wg[winner].type_, RegularType::Record(_)) {
                let prefix = path.prefix(i + 1);
                return Err(unresolvable(
                    path,
                    "incompatible_types",
                    format!(
                        "`{prefix}` has writer type {}, but the reader schema (input.schema) has a record there ({}): a writer record resolves only to a record",
                        cx.w.describe(wfield),
                        cx.r.describe(rfield)
                    ),
                ));
            }
            // A null writer record reads as null even for a reader record that is not
            // nullable (as a null leaf does, see `read_branch`).
            descents.push(Descent { nullable: wn });
            (wkey, rkey) = (winner, rinner);
            continue;
        }
        let value_type = reader_value_type(cx, path, rfield, role)?;
        let (union, wbranches) = match &wg[wfield].type_ {
            RegularType::Union(u) => (true, u.variants.clone()),
            _ => (false, vec![wfield]),
        };
        let reads: Box<[Read]> = wbranches
            .iter()
            .map(|&b| read_branch(cx, b, rfield))
            .collect();
        if reads
            .iter()
            .all(|r| matches!(r, Read::Fail(..) | Read::Null))
            && reads.iter().any(|r| matches!(r, Read::Fail(..)))
        {
            let whys: Vec<&str> = reads
                .iter()
                .filter_map(|r| match r {
                    Read::Fail(_, why) => Some(&**why),
                    _ => None,
                })
                .collect();
            let why = whys.join("; ");
            return Err(unresolvable(
                path,
                "incompatible_types",
                format!(
                    "`{path}` has writer type {} and reader type {} (input.schema), which do not resolve: {why}",
                    cx.w.describe(wfield),
                    cx.r.describe(rfield)
                ),
            ));
        }
        // The logical type (the time unit) is the reader's, as in spec validation; a reader
        // without one keeps the writer's.
        let first_value = |g: &SchemaMut, key: SchemaKey| match &g[key].type_ {
            RegularType::Union(u) => u
                .variants
                .iter()
                .copied()
                .find(|&b| !matches!(g[b].type_, RegularType::Null))
                .unwrap_or(key),
            _ => key,
        };
        let (rleaf, wleaf) = (first_value(rg, rfield), first_value(wg, wfield));
        let (source, leaf) = if rg[rleaf].logical_type.is_some() {
            (cx.r, rleaf)
        } else {
            (cx.w, wleaf)
        };
        return Ok(Target {
            positions,
            descents,
            what: What::Read { union, reads },
            value_type,
            logical: source.graph()[leaf]
                .logical_type
                .as_ref()
                .map(|l| l.as_str().to_owned()),
            leaf_type: source.describe(leaf),
            path: path.clone(),
        });
    }
    // An empty path: report it against the root record.
    Err(type_mismatch(
        cx.w,
        path,
        0,
        SchemaKey::root(),
        role,
        Some("the path is empty".into()),
    ))
}

/// The engine type the reader type at `rkey` gives the field, checked against `role`: every
/// non-null branch of a union must be readable as `role`, and as the same engine type.
fn reader_value_type(
    cx: Schemas<'_>,
    path: &FieldPath,
    rkey: SchemaKey,
    role: Role,
) -> Result<ValueType, SchemaMismatch> {
    let rg = cx.r.graph();
    let branches = match &rg[rkey].type_ {
        RegularType::Union(u) => u.variants.clone(),
        _ => vec![rkey],
    };
    let non_null: Vec<SchemaKey> = branches
        .into_iter()
        .filter(|&b| !matches!(rg[b].type_, RegularType::Null))
        .collect();
    let single = non_null.len() == 1;
    let mut found: Option<ValueType> = None;
    for &b in &non_null {
        let Some(kind) = scalar_kind(&rg[b].type_).filter(|k| accepts(role, k)) else {
            let note = if single {
                record_note(rg, path, b)
            } else {
                Some(format!(
                    "its branch {} cannot; every non-null branch of a union must be readable as {role}",
                    cx.r.describe(b)
                ))
            };
            return Err(type_mismatch(cx.r, path, path.len(), rkey, role, note));
        };
        let ty = kind.value_type();
        match found {
            Some(prev) if prev != ty => {
                let note = format!(
                    "its non-null branches read as different types ({prev} and {ty}); read it with `type: {ty}` only if every branch is one"
                );
                return Err(type_mismatch(
                    cx.r,
                    path,
                    path.len(),
                    rkey,
                    role,
                    Some(note),
                ));
            }
            _ => found = Some(ty),
        }
    }
    found.ok_or_else(|| {
        type_mismatch(
            cx.r,
            path,
            path.len(),
            rkey,
            role,
            Some("a field that is always null has no value to read".into()),
        )
    })
}

/// How a value of the writer branch `wb` is read for the reader type `rkey`: a reader union
/// takes it in its first branch of the same type, else in its first branch the writer's type
/// promotes to (as the Java reader does).
///
/// A writer null reads as null whatever the reader type: every engine value may be null, and a
/// null session key or time then fails the record as missing, which says more than a
/// resolution error would.
fn read_branch(cx: Schemas<'_>, wb: SchemaKey, rkey: SchemaKey) -> Read {
    if matches!(cx.w.graph()[wb].type_, RegularType::Null) {
        return Read::Null;
    }
    let fail = |why: String| Read::Fail(wb, why.into_boxed_str());
    let RegularType::Union(u) = &cx.r.graph()[rkey].type_ else {
        return read_scalar(cx, wb, rkey).unwrap_or_else(fail);
    };
    let same = u.variants.iter().find(|&&rb| same_type(cx, wb, rb));
    let promoted = || {
        u.variants
            .iter()
            .find(|&&rb| read_scalar(cx, wb, rb).is_ok())
    };
    match same.or_else(promoted) {
        Some(&rb) => read_scalar(cx, wb, rb).unwrap_or_else(fail),
        None => {
            let rg = cx.r.graph();
            let branches: Vec<String> = u
                .variants
                .iter()
                .map(|&rb| format!("{} (takes {})", cx.r.describe(rb), takes(&rg[rb].type_)))
                .collect();
            fail(format!(
                "the writer's {} value matches no branch of the reader's {}; its branches: {}",
                cx.w.describe(wb),
                cx.r.describe(rkey),
                branches.join(", ")
            ))
        }
    }
}

/// Whether writer node `wb` and reader node `rb` are the same type (named types: by name).
fn same_type(cx: Schemas<'_>, wb: SchemaKey, rb: SchemaKey) -> bool {
    let (w, r) = (&cx.w.graph()[wb].type_, &cx.r.graph()[rb].type_);
    match (w.name(), r.name()) {
        (Some(wn), Some(rn)) => {
            std::mem::discriminant(w) == std::mem::discriminant(r) && wn.name() == rn.name()
        }
        (None, None) => std::mem::discriminant(w) == std::mem::discriminant(r),
        _ => false,
    }
}

/// Resolves a writer scalar against a reader scalar per the Avro rules: the same type,
/// int → long, float, double; long → float, double; float → double; bytes → string; an enum
/// to the enum of the same name.
fn read_scalar(cx: Schemas<'_>, wb: SchemaKey, rb: SchemaKey) -> Result<Read, String> {
    use RegularType as T;
    use ScalarKind as K;
    let (w, r) = (&cx.w.graph()[wb].type_, &cx.r.graph()[rb].type_);
    let kind = match (w, r) {
        (T::Null, T::Null) => return Ok(Read::Null),
        (T::Int, T::Int | T::Long | T::Double) => K::Int,
        (T::Int, T::Float) => K::IntAsFloat,
        (T::Long, T::Long | T::Double) => K::Long,
        (T::Long, T::Float) => K::LongAsFloat,
        (T::Float, T::Float | T::Double) => K::Float,
        (T::Double, T::Double) => K::Double,
        (T::Boolean, T::Boolean) => K::Bool,
        (T::String | T::Bytes, T::String) => K::Str,
        (T::Enum(we), T::Enum(re)) if we.name.name() == re.name.name() => {
            let reader_name = re.name.fully_qualified_name();
            let default = cx.reader.and_then(|x| x.enum_default(reader_name));
            K::Enum(
                we.symbols
                    .iter()
                    .map(|s| {
                        if re.symbols.contains(s) {
                            Ok(Str::from(s.as_str()))
                        } else if let Some(d) = default {
                            Ok(Str::from(d))
                        } else {
                            Err(format!(
                                "the writer's symbol `{s}` is not in the reader enum `{reader_name}`, which has no `default` (its symbols: {})",
                                re.symbols.join(", ")
                            )
                            .into_boxed_str())
                        }
                    })
                    .collect(),
            )
        }
        _ => {
            return Err(format!(
                "a reader {} takes writer types {}",
                cx.r.describe(rb),
                takes(r)
            ))
        }
    };
    Ok(Read::Value(kind))
}

/// The writer types a reader type resolves from, for error messages.
fn takes(r: &RegularType) -> String {
    match r {
        RegularType::Null => "null".into(),
        RegularType::Int => "int".into(),
        RegularType::Long => "int or long".into(),
        RegularType::Float => "int, long or float".into(),
        RegularType::Double => "int, long, float or double".into(),
        RegularType::Boolean => "boolean".into(),
        RegularType::String => "string or bytes".into(),
        RegularType::Bytes => "bytes or string".into(),
        RegularType::Enum(e) => format!("an enum named `{}`", e.name.name()),
        RegularType::Union(_) => "one of its branches' types".into(),
        RegularType::Record(r) => format!("a record named `{}`", r.name.name()),
        _ => "the same type".into(),
    }
}

/// The target of a path whose field at depth `i` the writer record lacks: the reader field's
/// default (reaching into a record default for a longer path).
fn default_target(
    cx: Schemas<'_>,
    path: &FieldPath,
    i: usize,
    (wrec, rrec): (&Record, &Record),
    role: Role,
    positions: Vec<usize>,
    descents: Vec<Descent>,
) -> Result<Target, SchemaMismatch> {
    let seg = &path.segments()[i];
    let where_ = if path.len() > 1 {
        format!(" (in `{path}`)")
    } else {
        String::new()
    };
    let rname = rrec.name.fully_qualified_name();
    let Some(default) = cx.reader.and_then(|x| x.field_default(rname, seg)) else {
        let fields: Vec<String> = wrec
            .fields
            .iter()
            .map(|f| format!("`{}`", f.name))
            .collect();
        return Err(unresolvable(
            path,
            "no_default",
            format!(
                "the writer record `{}` has no field `{seg}`{where_} and the reader schema (input.schema) gives it no default; add a `default` to `{seg}` in the reader schema (e.g. `\"default\": null` with a [\"null\", …] type) or read a field the writer has: {}",
                wrec.name.fully_qualified_name(),
                fields.join(", ")
            ),
        ));
    };
    // The reader path alone decides the type, as in spec validation.
    let reader = resolve(cx.reader_only(), path, role)?;
    let value = default_value(cx, path, i, rrec, default).map_err(|why| {
        unresolvable(
            path,
            "bad_default",
            format!("the reader schema's default of `{seg}`{where_} {why}"),
        )
    })?;
    Ok(Target {
        positions,
        descents,
        what: What::Default(value),
        value_type: reader.value_type,
        logical: reader.logical,
        leaf_type: reader.leaf_type,
        path: path.clone(),
    })
}

/// The constant a default gives the path's leaf: `default` belongs to field `i` of `rrec`; a
/// longer path reaches into it (a field a record default omits takes its own default).
fn default_value(
    cx: Schemas<'_>,
    path: &FieldPath,
    i: usize,
    rrec: &Record,
    default: &serde_json::Value,
) -> Result<Const, String> {
    let rg = cx.r.graph();
    let segs = path.segments();
    let mut key = rrec
        .fields
        .iter()
        .find(|f| f.name == segs[i].as_str())
        .map(|f| f.type_)
        .ok_or("is missing")?;
    let mut value = default;
    for seg in &segs[i + 1..] {
        if value.is_null() {
            // A null record: every field below it is null.
            return Ok(Const::Null);
        }
        let record = match &rg[key].type_ {
            RegularType::Record(r) => r,
            RegularType::Union(u) => u
                .variants
                .iter()
                .find_map(|&b| match &rg[b].type_ {
                    RegularType::Record(r) => Some(r),
                    _ => None,
                })
                .ok_or("is not a record")?,
            _ => return Err("is not a record".into()),
        };
        let field = record
            .fields
            .iter()
            .find(|f| f.name == seg.as_str())
            .ok_or("is not a record with the path's fields")?;
        value = match value.get(seg.as_str()) {
            Some(v) => v,
            None => cx
                .reader
                .and_then(|x| x.field_default(record.name.fully_qualified_name(), seg))
                .ok_or_else(|| format!("has no `{seg}`, and `{seg}` has no default"))?,
        };
        key = field.type_;
    }
    json_const(rg, key, value).ok_or_else(|| {
        format!(
            "({value}) is not a value of its type {}",
            cx.r.describe(key)
        )
    })
}

/// A JSON default as a value of the schema type at `key` (a union's: of its first branch the
/// value fits).
fn json_const(graph: &SchemaMut, key: SchemaKey, v: &serde_json::Value) -> Option<Const> {
    match &graph[key].type_ {
        RegularType::Union(u) => u.variants.iter().find_map(|&b| json_const(graph, b, v)),
        RegularType::Null => v.is_null().then_some(Const::Null),
        RegularType::Int | RegularType::Long => v.as_i64().map(Const::Int),
        RegularType::Float => v.as_f64().map(|f| Const::Float(f64::from(f as f32))),
        RegularType::Double => v.as_f64().map(Const::Float),
        RegularType::Boolean => v.as_bool().map(Const::Bool),
        RegularType::String => v.as_str().map(|s| Const::Str(Str::from(s))),
        RegularType::Enum(e) => v
            .as_str()
            .filter(|s| e.symbols.iter().any(|x| x == s))
            .map(|s| Const::Str(Str::from(s))),
        _ => None,
    }
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

/// The kind a type is read as when it resolves to itself (enum symbols as they are).
fn scalar_kind(t: &RegularType) -> Option<ScalarKind> {
    Some(match t {
        RegularType::Int => ScalarKind::Int,
        RegularType::Long => ScalarKind::Long,
        RegularType::Float => ScalarKind::Float,
        RegularType::Double => ScalarKind::Double,
        RegularType::Boolean => ScalarKind::Bool,
        RegularType::String => ScalarKind::Str,
        RegularType::Enum(_) => ScalarKind::Enum(Box::new([])),
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
            defaults: Box::new([]),
        };
    };
    let defaults = targets
        .iter()
        .filter(|(t, _)| t.positions.len() == depth)
        .filter_map(|(t, sink)| match &t.what {
            What::Default(c) => Some((*sink, c.clone())),
            What::Read { .. } => None,
        })
        .collect();
    let steps = record
        .fields
        .iter()
        .enumerate()
        .map(|(pos, field)| {
            let here: Vec<(&Target, Sink)> = targets
                .iter()
                .copied()
                .filter(|(t, _)| t.positions.get(depth) == Some(&pos))
                .collect();
            let Some(&(first, _)) = here.first() else {
                return Step::Skip(field.type_);
            };
            let leaf = here.iter().find_map(|(t, _)| match &t.what {
                What::Read { union, reads } if t.positions.len() == depth + 1 => {
                    Some((*union, reads, &t.path))
                }
                _ => None,
            });
            if let Some((union, reads, path)) = leaf {
                Step::Leaf(Leaf {
                    union,
                    reads: reads.clone(),
                    sinks: here.iter().map(|(_, sink)| *sink).collect(),
                    path: path.clone(),
                })
            } else {
                let descent = first.descents[depth].clone();
                let inner = match (descent.nullable, &graph[field.type_].type_) {
                    (Some(n), RegularType::Union(u)) => u.variants[usize::from(n.value_branch)],
                    _ => field.type_,
                };
                Step::Descend(descent, Box::new(build(graph, inner, &here, depth + 1)))
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
        defaults,
    }
}
