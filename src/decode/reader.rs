//! Runs a [`DecodePlan`] over Avro binary directly: reads projected leaves, steps over
//! everything else with the precomputed skip program.

use super::cursor::{Cursor, Fail, Res};
use super::error::{DecodeError, MalformedKind};
use super::plan::{Const, DecodePlan, Descent, Leaf, Read, RecordPlan, ScalarKind, Step};
use super::projection::DecodedEvent;
use super::sink::{EventWriter, Raw};
use super::skip::SkipOp;
use serde_avro_fast::schema::{RegularType, SchemaKey};

/// Most array/map items one datum may hold (guards against huge counts of zero-byte items).
pub(crate) const MAX_ITEMS: u64 = 1 << 20;
/// Deepest nesting of values one datum may have (guards against stack exhaustion).
pub(crate) const MAX_DEPTH: u32 = 64;

struct Exec<'p, 'a, 'w> {
    plan: &'p DecodePlan,
    cur: Cursor<'a>,
    writer: EventWriter<'w>,
    items_left: u64,
    /// Field names from the failing field outwards, filled while an error unwinds.
    trail: Vec<&'p str>,
    /// Read a string that is not UTF-8 as null and go on: the second pass over a datum whose
    /// only fault is such a string, to find where it ends.
    lenient: bool,
}

impl Const {
    pub(crate) fn raw(&self) -> Raw<'_> {
        match self {
            Const::Null => Raw::Null,
            Const::Int(i) => Raw::Int(*i),
            Const::Float(f) => Raw::Float(*f),
            Const::Bool(b) => Raw::Bool(*b),
            Const::Str(s) => Raw::Str(s),
        }
    }
}

/// Decodes one datum at the start of `buf`. Returns the result and the datum's length when it
/// is known: after success, a value error such as a null session key, or a string that is not
/// UTF-8 (its length prefix says where it ends, so the datum can be read on to its end); not
/// after other malformed values.
pub(crate) fn decode_prefix(
    plan: &DecodePlan,
    buf: &[u8],
    out: &mut DecodedEvent,
) -> (Result<(), DecodeError>, Option<usize>) {
    let (res, len) = run(plan, buf, out, false);
    match &res {
        Err(DecodeError::Malformed(m)) if m.kind == MalformedKind::InvalidUtf8 => {
            // Rare: read the datum again, leniently, for its length (`out` is unspecified
            // after an error anyway).
            let (_, len) = run(plan, buf, out, true);
            (res, len)
        }
        _ => (res, len),
    }
}

fn run(
    plan: &DecodePlan,
    buf: &[u8],
    out: &mut DecodedEvent,
    lenient: bool,
) -> (Result<(), DecodeError>, Option<usize>) {
    let mut ex = Exec {
        plan,
        cur: Cursor::new(buf),
        writer: EventWriter::new(plan, out),
        items_left: MAX_ITEMS,
        trail: Vec::new(),
        lenient,
    };
    match ex.record(&plan.root, 0) {
        Ok(()) => (ex.writer.finish(), Some(ex.cur.pos)),
        Err(fail) => {
            let field = (!ex.trail.is_empty()).then(|| {
                ex.trail.reverse();
                ex.trail.join(".")
            });
            let err = DecodeError::malformed(fail.kind, ex.cur.pos, field, fail.detail());
            (Err(err), None)
        }
    }
}

impl<'p> Exec<'p, '_, '_> {
    fn record(&mut self, plan: &'p RecordPlan, depth: u32) -> Res<()> {
        for (sink, value) in plan.defaults.iter() {
            self.writer.put(std::slice::from_ref(sink), value.raw());
        }
        for (i, step) in plan.steps.iter().enumerate() {
            let res = match step {
                Step::Skip(key) => self.skip(key.idx(), depth + 1),
                Step::Leaf(leaf) => self.leaf(leaf, depth + 1),
                Step::Descend(descent, sub) => self.descend(descent, sub, depth + 1),
            };
            if let Err(e) = res {
                self.trail.push(&plan.names[i]);
                return Err(e);
            }
        }
        Ok(())
    }

    fn descend(&mut self, descent: &'p Descent, plan: &'p RecordPlan, depth: u32) -> Res<()> {
        if let Some(n) = descent.nullable {
            let branch = self.cur.index(2, MalformedKind::InvalidUnionIndex)?;
            if branch == usize::from(n.null_branch) {
                self.writer.put_null(&plan.below);
                return Ok(());
            }
        }
        self.record(plan, depth)
    }

    #[inline]
    fn leaf(&mut self, leaf: &'p Leaf, depth: u32) -> Res<()> {
        let read = if leaf.union {
            let branch = self
                .cur
                .index(leaf.reads.len(), MalformedKind::InvalidUnionIndex)?;
            &leaf.reads[branch]
        } else {
            &leaf.reads[0]
        };
        let value = match read {
            Read::Null => Raw::Null,
            Read::Value(kind) => match kind {
                ScalarKind::Str => match self.cur.str() {
                    Ok(s) => Raw::Str(s),
                    Err(f) if self.lenient && f.kind == MalformedKind::InvalidUtf8 => Raw::Null,
                    Err(f) => return Err(f),
                },
                ScalarKind::Long => Raw::Int(self.cur.long()?),
                ScalarKind::Int => Raw::Int(self.cur.int()?.into()),
                ScalarKind::Double => Raw::Float(f64::from_le_bytes(self.cur.array()?)),
                ScalarKind::Float => Raw::Float(f32::from_le_bytes(self.cur.array()?).into()),
                // Promoted to a reader float: the value an Avro reader's f32 holds.
                ScalarKind::IntAsFloat => Raw::Float(f64::from(self.cur.int()? as f32)),
                ScalarKind::LongAsFloat => Raw::Float(f64::from(self.cur.long()? as f32)),
                ScalarKind::Bool => Raw::Bool(self.cur.bool()?),
                ScalarKind::Enum(symbols) => {
                    let i = self
                        .cur
                        .index(symbols.len(), MalformedKind::InvalidEnumIndex)?;
                    match &symbols[i] {
                        Ok(symbol) => Raw::Str(symbol),
                        Err(why) => {
                            self.writer
                                .unresolved(&leaf.path, "unknown_enum_symbol", || why.to_string());
                            Raw::Null
                        }
                    }
                }
            },
            Read::Fail(key, why) => {
                self.skip(key.idx(), depth)?;
                self.writer
                    .unresolved(&leaf.path, "unmatched_union_branch", || why.to_string());
                Raw::Null
            }
        };
        self.writer.put(&leaf.sinks, value);
        Ok(())
    }

    fn skip(&mut self, node: usize, depth: u32) -> Res<()> {
        if depth > MAX_DEPTH {
            return Err(Fail::new(MalformedKind::TooDeep, 0, i64::from(MAX_DEPTH)));
        }
        let ops: &'p [SkipOp] = &self.plan.skip;
        match &ops[node] {
            SkipOp::Nothing => Ok(()),
            SkipOp::Bool => self.cur.bool().map(drop),
            SkipOp::Varint => self.cur.long().map(drop),
            SkipOp::Fixed(n) => self.cur.take(*n).map(drop),
            SkipOp::Bytes => self.cur.bytes().map(drop),
            SkipOp::Enum(n) => self
                .cur
                .index(*n, MalformedKind::InvalidEnumIndex)
                .map(drop),
            SkipOp::Array(items) => self.skip_blocks(false, *items as usize, depth),
            SkipOp::Map(values) => self.skip_blocks(true, *values as usize, depth),
            SkipOp::Union(branches) => {
                let i = self
                    .cur
                    .index(branches.len(), MalformedKind::InvalidUnionIndex)?;
                self.skip(branches[i] as usize, depth + 1)
            }
            SkipOp::Record(fields) => {
                for (i, field) in fields.iter().enumerate() {
                    if let Err(e) = self.skip(*field as usize, depth + 1) {
                        self.trail.push(self.field_name(node, i));
                        return Err(e);
                    }
                }
                Ok(())
            }
        }
    }

    /// Skips the blocks of an array (or a map, whose items start with a string key).
    fn skip_blocks(&mut self, map: bool, item: usize, depth: u32) -> Res<()> {
        loop {
            let count = self.cur.long()?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                // A block with its byte size: step over it in one go.
                let size = self.cur.len()?;
                self.cur.take(size)?;
                continue;
            }
            let n = count.unsigned_abs();
            if n > self.items_left {
                return Err(Fail::new(
                    MalformedKind::TooManyItems,
                    count,
                    MAX_ITEMS as i64,
                ));
            }
            self.items_left -= n;
            for _ in 0..n {
                if map {
                    self.cur.bytes()?;
                }
                self.skip(item, depth + 1)?;
            }
        }
    }

    /// Name of field `i` of the record at `node`, for error paths.
    fn field_name(&self, node: usize, i: usize) -> &'p str {
        match self
            .plan
            .graph
            .get(SchemaKey::from_idx(node))
            .map(|n| &n.type_)
        {
            Some(RegularType::Record(r)) => r.fields.get(i).map_or("?", |f| f.name.as_str()),
            _ => "?",
        }
    }
}
