//! Decoded input records: only the fields the spec's `get` nodes read, in plan slot order.

use crate::time::Time;
use crate::value::{ScalarRef, Str};
use smallvec::SmallVec;

/// One decoded field value. `Null` covers Avro nulls and fields absent from the writer schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum FieldValue {
    /// No value: a `get` node emits no event for it.
    #[default]
    Null,
    /// A number (Avro int/long/float/double).
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A string or enum symbol.
    Str(Str),
}

impl FieldValue {
    /// Borrows the value, `None` for `Null`.
    pub fn as_scalar(&self) -> Option<ScalarRef<'_>> {
        match self {
            FieldValue::Null => None,
            FieldValue::F64(v) => Some(ScalarRef::F64(*v)),
            FieldValue::Bool(v) => Some(ScalarRef::Bool(*v)),
            FieldValue::Str(v) => Some(ScalarRef::Str(v)),
        }
    }
}

/// Inline capacity for projected fields. Records are queued per session until their step runs,
/// so their size is per-session memory: four covers the shipped specs (two to four fields) in
/// 160 bytes; a spec reading more fields pays one heap allocation per event.
pub const INLINE_FIELDS: usize = 4;

/// One input event after projection: its event time and the fields the plan asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    /// Event time in epoch milliseconds.
    pub time: Time,
    /// Optional per-session sequence number that orders events with equal times.
    pub sequence: Option<i64>,
    /// Field values indexed by the plan's field slots.
    pub fields: SmallVec<[FieldValue; INLINE_FIELDS]>,
}

impl Record {
    /// The value in `slot`, `Null` when the slot is missing.
    pub fn field(&self, slot: usize) -> &FieldValue {
        const NULL: FieldValue = FieldValue::Null;
        self.fields.get(slot).unwrap_or(&NULL)
    }
}

use crate::strings::Interner;
use crate::val::{Sym, Val};

/// One field of an [`Event`]: a [`FieldValue`] with its string interned (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Field {
    /// No value: a `get` node emits no event for it.
    #[default]
    Null,
    /// A number.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// An interned string or enum symbol.
    Sym(Sym),
}

impl Field {
    /// The field as a value, `None` for `Null`.
    #[inline]
    pub fn val(self) -> Option<Val> {
        match self {
            Field::Null => None,
            Field::F64(v) => Some(Val::F64(v)),
            Field::Bool(v) => Some(Val::Bool(v)),
            Field::Sym(v) => Some(Val::Sym(v)),
        }
    }
}

/// An input record as the interpreter keeps it until its step: strings interned, the sequence
/// number inline. What a session holds per waiting event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    /// Event time in epoch milliseconds.
    pub time: Time,
    /// Per-session sequence number ordering equal times; `i64::MIN` when the spec has none.
    pub sequence: i64,
    /// Field values indexed by the plan's field slots.
    pub fields: SmallVec<[Field; INLINE_FIELDS]>,
}

impl Event {
    /// The record with its strings interned in `strings`.
    pub fn intern(record: &Record, strings: &mut Interner) -> Self {
        Self {
            time: record.time,
            sequence: record.sequence.unwrap_or(i64::MIN),
            fields: {
                let intern = |f: &FieldValue, strings: &mut Interner| match f {
                    FieldValue::Null => Field::Null,
                    FieldValue::F64(v) => Field::F64(*v),
                    FieldValue::Bool(v) => Field::Bool(*v),
                    FieldValue::Str(s) => Field::Sym(strings.intern(s)),
                };
                let n = record.fields.len();
                if n <= INLINE_FIELDS {
                    // The common case, without the iterator machinery of `collect`.
                    let mut inline = [Field::Null; INLINE_FIELDS];
                    for (slot, f) in inline.iter_mut().zip(&record.fields) {
                        *slot = intern(f, strings);
                    }
                    SmallVec::from_buf_and_len(inline, n)
                } else {
                    record.fields.iter().map(|f| intern(f, strings)).collect()
                }
            },
        }
    }

    /// The value in `slot`, `Null` when the slot is missing.
    #[inline]
    pub fn field(&self, slot: usize) -> Field {
        self.fields.get(slot).copied().unwrap_or(Field::Null)
    }
}
