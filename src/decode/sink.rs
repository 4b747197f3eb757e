//! Writing decoded leaf values into a [`DecodedEvent`], with the projection's conversions.

use super::error::{DecodeError, Unresolved};
use super::path::FieldPath;
use super::plan::{DecodePlan, Sink};
use super::projection::DecodedEvent;
use spanflow_engine::{FieldValue, Str};
use std::fmt::Write as _;

/// A leaf value as read from the datum, before conversion.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Raw<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'a str),
}

/// Writes leaf values into the output event. Problems with values (a null session key, a time
/// out of range) are recorded, not returned, so decoding runs to the end of the datum and its
/// length stays known.
pub(crate) struct EventWriter<'a> {
    out: &'a mut DecodedEvent,
    plan: &'a DecodePlan,
    failure: Option<DecodeError>,
}

impl<'a> EventWriter<'a> {
    /// Prepares `out` for a record of `plan`.
    pub(crate) fn new(plan: &'a DecodePlan, out: &'a mut DecodedEvent) -> Self {
        // Every slot starts null: a field absent from this record must not keep the previous
        // record's value (callers lend the record to the processor and reuse it).
        out.record.fields.clear();
        out.record.fields.resize(plan.slots, FieldValue::Null);
        out.record.sequence = None;
        EventWriter {
            out,
            plan,
            failure: None,
        }
    }

    /// The first value problem seen, if any.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        self.failure.map_or(Ok(()), Err)
    }

    fn fail(&mut self, e: impl FnOnce(&DecodePlan) -> DecodeError) {
        if self.failure.is_none() {
            self.failure = Some(e(self.plan));
        }
    }

    /// Records that a value of this record does not resolve to the reader schema.
    #[cold]
    pub(crate) fn unresolved(
        &mut self,
        path: &FieldPath,
        reason: &'static str,
        detail: impl FnOnce() -> String,
    ) {
        self.fail(|_| {
            DecodeError::Unresolved(Box::new(Unresolved {
                path: path.clone(),
                reason,
                detail: detail(),
            }))
        });
    }

    /// Writes `v` to every sink.
    #[inline(always)]
    pub(crate) fn put(&mut self, sinks: &[Sink], v: Raw<'_>) {
        for &sink in sinks {
            self.put_one(sink, v);
        }
    }

    /// Writes null to every sink (a null record on the path).
    pub(crate) fn put_null(&mut self, sinks: &[Sink]) {
        self.put(sinks, Raw::Null);
    }

    #[inline(always)]
    fn put_one(&mut self, sink: Sink, v: Raw<'_>) {
        match sink {
            Sink::Slot(slot) => self.put_slot(slot as usize, v),
            Sink::SessionKey => self.put_key(v),
            Sink::Time => self.put_time(v),
            Sink::Sequence => {
                self.out.record.sequence = match v {
                    Raw::Int(i) => Some(i),
                    _ => None,
                }
            }
        }
    }

    #[inline(always)]
    fn put_slot(&mut self, slot: usize, v: Raw<'_>) {
        let Some(dst) = self.out.record.fields.get_mut(slot) else {
            return;
        };
        match v {
            Raw::Null => *dst = FieldValue::Null,
            // Longs beyond 2^53 round to the nearest f64.
            Raw::Int(i) => *dst = FieldValue::F64(i as f64),
            Raw::Float(f) => *dst = FieldValue::F64(f),
            Raw::Bool(b) => *dst = FieldValue::Bool(b),
            Raw::Str(s) => *dst = FieldValue::Str(Str::from(s)),
        }
    }

    /// Not inlined: once per record.
    #[inline(never)]
    fn put_key(&mut self, v: Raw<'_>) {
        match v {
            Raw::Str(s) => {
                // Into the reused buffer: a key longer than an inline string would otherwise
                // be allocated and freed per record.
                self.out.session_key.clear();
                self.out.session_key.push_str(s);
            }
            Raw::Int(i) => {
                self.out.session_key.clear();
                let _ = write!(self.out.session_key, "{i}");
            }
            // Compile-time checks exclude other types; treat them like null.
            Raw::Null | Raw::Float(_) | Raw::Bool(_) => {
                self.fail(|p| DecodeError::MissingSessionKey(Box::new(p.session_key.clone())))
            }
        }
    }

    /// Not inlined: once per record, and inlining lets the compiler compute every unit's
    /// float conversion (two divisions) on every call of `put`.
    #[inline(never)]
    fn put_time(&mut self, v: Raw<'_>) {
        let unit = self.plan.time_unit;
        let ms = match v {
            Raw::Int(i) => unit.int_to_millis(i),
            Raw::Float(f) => unit.float_to_millis(f),
            Raw::Null | Raw::Bool(_) | Raw::Str(_) => {
                return self.fail(|p| DecodeError::MissingTime(Box::new(p.time.clone())));
            }
        };
        match ms {
            Some(ms) => self.out.record.time = ms,
            None => self.fail(|p| {
                let text = match v {
                    Raw::Int(i) => i.to_string(),
                    Raw::Float(f) => f.to_string(),
                    _ => String::new(),
                };
                DecodeError::TimeOutOfRange(Box::new((p.time.clone(), text)))
            }),
        }
    }
}
