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
