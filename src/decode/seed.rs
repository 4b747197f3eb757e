//! Runs a [`DecodePlan`] with `serde_avro_fast`: a `DeserializeSeed` per record walks the
//! writer's fields by position, skipping unprojected ones with `IgnoredAny`.
//!
//! This was the first decoder; the hand-rolled [`reader`](super::reader) replaced it on the hot
//! path (about 1.6x fewer instructions per heartbeat, and exact error kinds and offsets instead
//! of classified library messages). It stays as an independent second reader that the tests
//! compare ours against, on plans without a reader schema (it reads values as the writer wrote
//! them, without promotions or enum mapping).

use super::error::{DecodeError, MalformedKind};
use super::plan::{DecodePlan, Leaf, RecordPlan, Step};
use super::projection::DecodedEvent;
use super::sink::{EventWriter, Raw};
use serde::de::{self, DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};
use serde_avro_fast::de::{read::SliceRead, DeError, DeserializerConfig, DeserializerState};
use std::fmt;
use std::io::BufRead;

/// Upper bound on the elements of one array or map (guards against huge counts of zero-byte
/// items such as nulls).
const MAX_ITEMS: usize = 1 << 20;

struct Cx<'w, 'p> {
    writer: EventWriter<'w>,
    /// Field names from the failing field outwards, filled while an error unwinds.
    trail: Vec<&'p str>,
}

struct RecordSeed<'c, 'w, 'p> {
    plan: &'p RecordPlan,
    cx: &'c mut Cx<'w, 'p>,
}

struct LeafSeed<'c, 'w, 'p> {
    leaf: &'p Leaf,
    cx: &'c mut Cx<'w, 'p>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.cx.writer.put_null(&self.plan.below);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let RecordSeed { plan, cx } = self;
        for (sink, value) in plan.defaults.iter() {
            cx.writer.put(std::slice::from_ref(sink), value.raw());
        }
        for (i, step) in plan.steps.iter().enumerate() {
            let res = match map.next_key::<IgnoredAny>() {
                Ok(Some(IgnoredAny)) => match step {
                    Step::Skip(_) => map.next_value::<IgnoredAny>().map(drop),
                    Step::Leaf(leaf) => map.next_value_seed(LeafSeed { leaf, cx: &mut *cx }),
                    Step::Descend(_, sub) => map.next_value_seed(RecordSeed {
                        plan: sub,
                        cx: &mut *cx,
                    }),
                },
                Ok(None) => Err(A::Error::custom(
                    "the record has fewer fields than its schema",
                )),
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                cx.trail.push(&*plan.names[i]);
                return Err(e);
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for LeafSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl LeafSeed<'_, '_, '_> {
    #[inline]
    fn put<E>(self, v: Raw<'_>) -> Result<(), E> {
        self.cx.writer.put(&self.leaf.sinks, v);
        Ok(())
    }
}

impl<'de> Visitor<'de> for LeafSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.put(Raw::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.put(Raw::Bool(v))
    }
    fn visit_i32<E: de::Error>(self, v: i32) -> Result<(), E> {
        self.put(Raw::Int(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.put(Raw::Int(v))
    }
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<(), E> {
        self.put(Raw::Float(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.put(Raw::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.put(Raw::Str(v))
    }
}

/// Decodes one datum at the start of `buf` with serde_avro_fast. Returns the result and the
/// datum's length when it is known (it is not after a malformed value).
pub(crate) fn decode_prefix(
    schema: &serde_avro_fast::Schema,
    plan: &DecodePlan,
    buf: &[u8],
    out: &mut DecodedEvent,
) -> (Result<(), DecodeError>, Option<usize>) {
    let mut config = DeserializerConfig::new(schema);
    config.max_seq_size = MAX_ITEMS;
    let mut state = DeserializerState::with_config(SliceRead::new(buf), config);
    let mut cx = Cx {
        writer: EventWriter::new(plan, out),
        trail: Vec::new(),
    };
    let res = RecordSeed {
        plan: &plan.root,
        cx: &mut cx,
    }
    .deserialize(state.deserializer());
    let mut rest = state.into_reader();
    let consumed = buf.len() - rest.fill_buf().map_or(0, <[u8]>::len);
    match res {
        Ok(()) => (cx.writer.finish(), Some(consumed)),
        Err(e) => {
            let field = (!cx.trail.is_empty()).then(|| {
                cx.trail.reverse();
                cx.trail.join(".")
            });
            let (kind, detail) = classify(&e);
            (
                Err(DecodeError::malformed(kind, consumed, field, detail)),
                None,
            )
        }
    }
}

/// Maps serde_avro_fast's error messages to our kinds (its errors carry no structured kind).
/// `tests::classifies_every_library_message` pins the messages of the version we build with.
fn classify(e: &DeError) -> (MalformedKind, String) {
    let msg = e.to_string();
    let kind = if msg.contains("end of slice") || msg.contains("Reached EOF") {
        MalformedKind::Truncated
    } else if msg.contains("union discriminant") || msg.contains("Discriminant is too large") {
        MalformedKind::InvalidUnionIndex
    } else if msg.contains("enum discriminant") {
        MalformedKind::InvalidEnumIndex
    } else if msg.contains("length in stream") || msg.contains("bytes to skip") {
        MalformedKind::InvalidLength
    } else if msg.contains("utf-8") {
        MalformedKind::InvalidUtf8
    } else if msg.contains("boolean") {
        MalformedKind::InvalidBool
    } else if msg.contains("recursivity limit") {
        MalformedKind::TooDeep
    } else if msg.contains("max sequence size") {
        MalformedKind::TooManyItems
    } else {
        MalformedKind::Other
    };
    (kind, msg)
}
