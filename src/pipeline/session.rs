//! One open session: where its events are in the input, and the events not yet stepped.

use super::Offset;
use smallvec::SmallVec;
use spanflow_engine::{
    Event, Field, FieldValue, Interner, Record, SessionParts, Sym, Time, INLINE_FIELDS,
};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::program::Runner;

/// A session's bookkeeping between events (its DAG state is in the table's arena).
pub(super) struct OpenSession {
    first: Offset,
    last: Offset,
    /// Events waiting for their step, in time order (arrival order among equal times). The
    /// newest event always waits (a later time must show that no other event shares its
    /// instant), so the newest event time seen is the last one's.
    waiting: Waiting,
}

/// The waiting events. With no lateness allowed only the newest event waits: it is kept packed
/// (56 bytes instead of an [`Event`]'s 88), since it is per-session memory.
enum Waiting {
    None,
    One(Packed),
    /// Several events (equal times, or lateness allowed), or one with many fields. Once used,
    /// the vector is kept (empty) so later batches allocate nothing.
    Many(Vec<Event>),
}

/// An [`Event`] of at most [`PACKED_FIELDS`] fields in words: each field's kind in two bits
/// of `kinds`, its value's bits in `values`.
#[derive(Clone, Copy)]
struct Packed {
    time: Time,
    sequence: i64,
    /// Field count in the low byte, then two bits per field: 0 null, 1 number, 2 boolean,
    /// 3 symbol.
    kinds: u64,
    values: [u64; PACKED_FIELDS],
}

const PACKED_FIELDS: usize = 4;

impl Packed {
    /// The record with its strings interned, packed; `None` when it has too many fields.
    fn intern(record: &Record, strings: &mut Interner) -> Option<Packed> {
        if record.fields.len() > PACKED_FIELDS {
            return None;
        }
        let mut kinds = record.fields.len() as u64;
        let mut values = [0; PACKED_FIELDS];
        for (i, f) in record.fields.iter().enumerate() {
            let (kind, bits) = match f {
                FieldValue::Null => (0, 0),
                FieldValue::F64(v) => (1, v.to_bits()),
                FieldValue::Bool(b) => (2, u64::from(*b)),
                FieldValue::Str(s) => (3, u64::from(strings.intern(s))),
            };
            kinds |= kind << (8 + 2 * i);
            values[i] = bits;
        }
        Some(Packed {
            time: record.time,
            sequence: record.sequence.unwrap_or(i64::MIN),
            kinds,
            values,
        })
    }

    fn unpack(&self) -> Event {
        let n = (self.kinds & 0xFF) as usize;
        let mut fields = [Field::Null; INLINE_FIELDS];
        for (i, f) in fields.iter_mut().enumerate().take(n) {
            let bits = self.values[i];
            *f = match (self.kinds >> (8 + 2 * i)) & 3 {
                0 => Field::Null,
                1 => Field::F64(f64::from_bits(bits)),
                2 => Field::Bool(bits != 0),
                _ => Field::Sym(bits as Sym),
            };
        }
        Event {
            time: self.time,
            sequence: self.sequence,
            fields: SmallVec::from_buf_and_len(fields, n),
        }
    }

    /// Applies `f` to every symbol field.
    fn syms_mut(&mut self, mut f: impl FnMut(&mut Sym)) {
        let n = (self.kinds & 0xFF) as usize;
        for i in 0..n {
            if (self.kinds >> (8 + 2 * i)) & 3 == 3 {
                let mut s = self.values[i] as Sym;
                f(&mut s);
                self.values[i] = u64::from(s);
            }
        }
    }
}

// `unpack` fills an inline field array.
const _: () = assert!(PACKED_FIELDS <= INLINE_FIELDS);

impl OpenSession {
    pub(super) fn new(first: Offset) -> Self {
        Self {
            first,
            last: first,
            waiting: Waiting::None,
        }
    }

    pub(super) fn first(&self) -> Offset {
        self.first
    }

    pub(super) fn last(&self) -> Offset {
        self.last
    }

    /// Newest event time seen (late events excluded); `Time::MIN` before the first.
    pub(super) fn newest(&self) -> Time {
        match &self.waiting {
            Waiting::None => Time::MIN,
            Waiting::One(p) => p.time,
            Waiting::Many(v) => v.last().map_or(Time::MIN, |e| e.time),
        }
    }

    /// Whether the clock has moved a whole gap past the session's newest event.
    pub(super) fn expired(&self, clock: Time, gap: Time) -> bool {
        self.newest().saturating_add(gap) <= clock
    }

    /// Records that the event at `offset` was routed to this session (late or not).
    pub(super) fn touch(&mut self, offset: Offset) {
        self.last = offset;
    }

    /// Queues an event that is not late, its strings interned in `strings`.
    pub(super) fn add(&mut self, record: &Record, strings: &mut Interner) {
        if let Waiting::None = self.waiting {
            // The usual case: the only waiting event, packed straight from the record.
            if let Some(p) = Packed::intern(record, strings) {
                self.waiting = Waiting::One(p);
                return;
            }
        }
        self.push(Event::intern(record, strings));
    }

    fn push(&mut self, record: Event) {
        let mut many = match std::mem::replace(&mut self.waiting, Waiting::None) {
            Waiting::None => Vec::with_capacity(2),
            Waiting::One(p) => {
                let mut v = Vec::with_capacity(2);
                v.push(p.unpack());
                v
            }
            Waiting::Many(v) => v,
        };
        insert_in_time_order(&mut many, record);
        self.waiting = Waiting::Many(many);
    }

    /// Applies `f` to the symbols of the waiting events (to remap their strings).
    pub(super) fn waiting_syms_mut(&mut self, mut f: impl FnMut(&mut Sym)) {
        match &mut self.waiting {
            Waiting::None => {}
            Waiting::One(p) => p.syms_mut(f),
            Waiting::Many(v) => {
                for e in v {
                    for field in e.fields.iter_mut() {
                        if let Field::Sym(s) = field {
                            f(s);
                        }
                    }
                }
            }
        }
    }

    /// Runs one step per distinct time before `horizon`, handing the rows to `emit`.
    pub(super) fn release_before(
        &mut self,
        runner: &mut Runner<'_>,
        state: &mut SessionParts<'_>,
        sequenced: bool,
        horizon: Time,
        emit: &mut impl FnMut(&Row),
    ) {
        let many = match &mut self.waiting {
            Waiting::None => return,
            Waiting::One(p) => {
                if p.time >= horizon {
                    return;
                }
                let event = [p.unpack()];
                self.waiting = Waiting::None;
                let _ = runner.step_in(state.reborrow(), event[0].time, &event, emit);
                return;
            }
            Waiting::Many(v) => v,
        };
        let mut done = 0;
        while let Some(t) = many.get(done).map(|r| r.time) {
            if t >= horizon {
                break;
            }
            let n = many[done..].iter().take_while(|r| r.time == t).count();
            let batch = &mut many[done..done + n];
            if sequenced && n > 1 {
                batch.sort_by_key(|r| r.sequence);
            }
            // Steps only move forward: an event behind a step that ran is late and never
            // reaches `waiting` (steps run only for times more than the lateness behind the
            // newest event, and later events that far behind are late).
            let _ = runner.step_in(state.reborrow(), t, batch, emit);
            done += n;
        }
        if done > 0 {
            many.drain(..done);
        }
    }
}

/// Puts `record` after every event not later than it (usually the newest: appended).
fn insert_in_time_order(events: &mut Vec<Event>, record: Event) {
    if events.last().is_none_or(|r| r.time <= record.time) {
        events.push(record);
        return;
    }
    let at = events
        .iter()
        .rposition(|r| r.time <= record.time)
        .map_or(0, |i| i + 1);
    events.insert(at, record);
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn record(time: Time, fields: SmallVec<[FieldValue; INLINE_FIELDS]>) -> Record {
        Record {
            time,
            sequence: Some(time / 10),
            fields,
        }
    }

    /// Every kind of field survives the packed form, strings interned.
    #[test]
    fn a_packed_event_is_the_interned_event() {
        let mut strings = Interner::new();
        let r = record(
            1_000,
            smallvec![
                FieldValue::F64(-2.5),
                FieldValue::Null,
                FieldValue::Bool(true),
                FieldValue::Str("CDN1".into()),
            ],
        );
        let packed = Packed::intern(&r, &mut strings).expect("four fields pack");
        assert_eq!(packed.unpack(), Event::intern(&r, &mut strings));
        let nan = record(2_000, smallvec![FieldValue::F64(f64::NAN)]);
        let back = Packed::intern(&nan, &mut strings).expect("packs").unpack();
        assert!(matches!(back.fields[0], Field::F64(x) if x.is_nan()));
        let five = record(0, smallvec![FieldValue::Null; PACKED_FIELDS + 1]);
        assert!(Packed::intern(&five, &mut strings).is_none());
    }

    /// One waiting event is packed; a second at the same time, a late one put in its place,
    /// or one with more fields than the packed form holds wait as events, in time order; the
    /// symbols of both forms are remapped.
    #[test]
    fn waiting_events_keep_their_order_in_both_forms() {
        let mut strings = Interner::new();
        let s = |v: &str| FieldValue::Str(v.into());
        let mut open = OpenSession::new(0);
        assert_eq!(open.newest(), Time::MIN);
        open.add(&record(20, smallvec![s("a")]), &mut strings);
        assert!(matches!(open.waiting, Waiting::One(_)));
        assert_eq!(open.newest(), 20);
        open.add(&record(20, smallvec![s("b")]), &mut strings);
        open.add(&record(10, smallvec![s("c")]), &mut strings);
        open.add(
            &record(30, smallvec![FieldValue::Null; PACKED_FIELDS + 1]),
            &mut strings,
        );
        let Waiting::Many(events) = &open.waiting else {
            panic!("several events wait as events")
        };
        let order: Vec<(Time, Field)> = events.iter().map(|e| (e.time, e.field(0))).collect();
        let sym = |v| Field::Sym(strings.get(v).expect("interned"));
        assert_eq!(
            order,
            [
                (10, sym("c")),
                (20, sym("a")),
                (20, sym("b")),
                (30, Field::Null)
            ]
        );
        assert_eq!(open.newest(), 30);
        let mut seen = Vec::new();
        open.waiting_syms_mut(|s| {
            seen.push(*s);
            *s += 100;
        });
        assert_eq!(seen.len(), 3);
        let mut one = OpenSession::new(0);
        one.add(
            &record(5, smallvec![FieldValue::Null, s("a")]),
            &mut strings,
        );
        one.waiting_syms_mut(|s| *s += 100);
        let Waiting::One(p) = &one.waiting else {
            panic!("one event waits packed")
        };
        assert_eq!(
            p.unpack().field(1),
            Field::Sym(strings.get("a").expect("interned") + 100)
        );
    }
}
