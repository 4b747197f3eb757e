//! What a spec needs from each input record: session key, time, sequence and the fields its
//! `get` nodes read.

use super::path::FieldPath;
use super::reader_schema::ReaderSchema;
use spanflow_engine::{Record, Str, TimeUnit, ValueType};
use std::sync::Arc;

/// The parts of an input record a spec reads; everything else is skipped while decoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// String, enum, int or long field whose text is the session key.
    pub session_key: FieldPath,
    /// Int, long, float or double field with the event time (optionally an Avro timestamp
    /// logical type).
    pub time: FieldPath,
    /// Unit of the time field as the spec declares it; `None` takes it from the logical type
    /// (`timestamp-millis`/`-micros`/`-nanos`), else milliseconds.
    pub time_unit: Option<TimeUnit>,
    /// Optional int/long field that orders events with equal times.
    pub sequence: Option<FieldPath>,
    /// Projected fields: slot `i` of [`Record::fields`] holds `fields[i]`.
    pub fields: Vec<(FieldPath, ValueType)>,
    /// If set, only writer schemas whose top-level record has this full name are accepted.
    pub record_name: Option<String>,
    /// The reader schema (the spec's `input.schema`) writer schemas are resolved against; the
    /// paths are the reader's. `None`: read every writer schema as it is.
    pub reader: Option<Arc<ReaderSchema>>,
}

impl Projection {
    /// A projection with a session key and a time field, no sequence and no fields yet.
    pub fn new(session_key: FieldPath, time: FieldPath) -> Self {
        Projection {
            session_key,
            time,
            time_unit: None,
            sequence: None,
            fields: Vec::new(),
            record_name: None,
            reader: None,
        }
    }

    /// Adds a projected field and returns its slot in [`Record::fields`].
    pub fn push_field(&mut self, path: FieldPath, ty: ValueType) -> usize {
        self.fields.push((path, ty));
        self.fields.len() - 1
    }

    /// The slot of `path` if it is already projected with type `ty`.
    pub fn slot_of(&self, path: &FieldPath, ty: ValueType) -> Option<usize> {
        self.fields.iter().position(|(p, t)| p == path && *t == ty)
    }
}

/// One decoded event: the session key and the projected record. Reused across messages:
/// decoding overwrites every part of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodedEvent {
    /// The session key as text (integers in decimal).
    pub session_key: Str,
    /// Time, sequence and projected fields.
    pub record: Record,
}
