//! Parameter types shared by several operators, and arity/type helpers for `output_type`.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use spanflow_engine::{Kind, Scalar, Str, TimelineType, TypeMismatch, ValueType};
use std::borrow::Cow;
use std::fmt;

/// A constant written in a spec: a number, a boolean or a string. NaN is refused (it equals
/// nothing, not even itself, so a comparison with it would always be false); `.inf` and
/// `-.inf` are numbers like any other.
#[derive(Clone, Debug, PartialEq)]
pub struct Constant(pub Scalar);

/// A value in a spec's `tests:` (an event's field, an expected column): a [`Constant`] that may
/// also be NaN, since data can carry NaN and tests must be able to say so.
#[derive(Clone, Debug, PartialEq)]
pub struct TestValue(pub Scalar);

/// Reads a YAML scalar as a [`Scalar`]; `nan` says whether NaN is accepted.
struct ScalarVisitor {
    nan: bool,
}

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a boolean or a string")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::F64(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::F64(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        if v.is_nan() && !self.nan {
            return Err(E::custom(
                "NaN is not a valid constant: it equals nothing, not even NaN, so a comparison \
                 with it is always false (`not_equals` always true); write a number (`.inf` \
                 and `-.inf` are allowed)",
            ));
        }
        Ok(Scalar::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(Str::from(v)))
    }
}

impl<'de> Deserialize<'de> for Constant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor { nan: false })
            .map(Constant)
    }
}

impl<'de> Deserialize<'de> for TestValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor { nan: true })
            .map(TestValue)
    }
}

/// The scalar types a YAML constant may have (the custom `Deserialize` above reads them).
fn scalar_schema(description: &str) -> Schema {
    json_schema!({
        "type": ["number", "boolean", "string"],
        "description": description,
    })
}

impl JsonSchema for Constant {
    fn schema_name() -> Cow<'static, str> {
        "Constant".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        scalar_schema(
            "A number, a boolean or a string (`.inf` and `-.inf` are numbers; NaN is refused).",
        )
    }
}

impl JsonSchema for TestValue {
    fn schema_name() -> Cow<'static, str> {
        "TestValue".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        scalar_schema("A number (`.nan`, `.inf` and `-.inf` included), a boolean or a string.")
    }
}

impl fmt::Display for Constant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for TestValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A positive duration in seconds, as written in `*_secs` parameters: at least [`Secs::MIN`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Secs(pub f64);

impl Secs {
    /// The shortest duration a spec may write: 1 ms, the engine's time resolution. A shorter one
    /// would become 0 ms (a period dividing by zero, a window that is always empty).
    pub const MIN: f64 = 0.001;

    /// The duration in milliseconds (the engine's time unit), rounded; at least 1, so no
    /// period or window built from a `Secs` is ever 0.
    pub fn millis(self) -> i64 {
        ((self.0 * 1000.0).round() as i64).max(1)
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v >= Secs::MIN && v * 1000.0 < 9.0e15 {
            Ok(Secs(v))
        } else if v > 0.0 && v < Secs::MIN {
            Err(de::Error::custom(format!(
                "{v} seconds is shorter than 1 ms, the engine's time resolution, and would \
                 become 0 ms; the smallest valid value is {}",
                Secs::MIN
            )))
        } else {
            Err(de::Error::custom(format!(
                "expected a positive number of seconds, got {v}"
            )))
        }
    }
}

impl JsonSchema for Secs {
    fn schema_name() -> Cow<'static, str> {
        "Secs".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // The bounds `Deserialize` checks: at least 1 ms, and milliseconds that fit a time.
        json_schema!({
            "type": "number",
            "minimum": Secs::MIN,
            "exclusiveMaximum": 9.0e12,
            "description": "A duration in seconds, at least 0.001 (1 ms, the engine's time resolution).",
        })
    }
}

/// Checks the number of inputs.
pub fn expect_arity(inputs: &[TimelineType], min: usize, max: usize) -> Result<(), TypeMismatch> {
    let n = inputs.len();
    if n >= min && n <= max {
        return Ok(());
    }
    let wanted = match (min, max) {
        (a, b) if a == b => format!("{a}"),
        (a, usize::MAX) => format!("at least {a}"),
        (a, b) => format!("{a} to {b}"),
    };
    Err(TypeMismatch::node(format!(
        "takes {wanted} input{}, got {n}",
        if max == 1 { "" } else { "s" }
    )))
}

/// Checks that input `i` is boolean (state or events).
pub fn expect_bool(inputs: &[TimelineType], i: usize) -> Result<(), TypeMismatch> {
    match inputs[i] {
        t if t.is_bool() => Ok(()),
        t => Err(TypeMismatch::input(i, format!("expects state<bool> or events<bool>, got {t}; compare it first, e.g. with `equals`"))),
    }
}

/// Checks that input `i` is numeric (f64 events, f64 state, or numeric).
pub fn expect_number(inputs: &[TimelineType], i: usize) -> Result<(), TypeMismatch> {
    match inputs[i] {
        t if t.is_number() => Ok(()),
        t => Err(TypeMismatch::input(
            i,
            format!("expects a number timeline (events<f64>, state<f64> or numeric), got {t}"),
        )),
    }
}

/// Checks that input `i` has the given kind.
pub fn expect_kind(
    inputs: &[TimelineType],
    i: usize,
    kind: Kind,
    hint: &str,
) -> Result<(), TypeMismatch> {
    if inputs[i].kind == kind {
        return Ok(());
    }
    let what = match kind {
        Kind::Event => "an event timeline",
        Kind::State => "a state timeline",
        Kind::Numeric => "a numeric timeline",
    };
    Err(TypeMismatch::input(
        i,
        format!("expects {what}, got {}{hint}", inputs[i]),
    ))
}

/// The kind a pointwise operator produces: events if one input is events (at most one may be),
/// numeric if any input is numeric, state otherwise.
pub fn pointwise_kind(inputs: &[TimelineType]) -> Result<Kind, TypeMismatch> {
    let events: Vec<usize> = (0..inputs.len())
        .filter(|&i| inputs[i].kind == Kind::Event)
        .collect();
    if events.len() > 1 {
        return Err(TypeMismatch::input(
            events[1],
            "only one input may be an event timeline: events of two timelines rarely share an instant; turn one into a state with `latest_event_to_state`",
        ));
    }
    Ok(if !events.is_empty() {
        Kind::Event
    } else if inputs.iter().any(|t| t.kind == Kind::Numeric) {
        Kind::Numeric
    } else {
        Kind::State
    })
}

/// The value type of a constant.
pub fn constant_type(c: &Constant) -> ValueType {
    c.0.value_type()
}

#[cfg(test)]
mod sub_millisecond_tests {
    use super::Secs;
    use crate::program::parse_spec;
    use crate::spec::parse_operator;

    const SPEC: &str = "name: t
input: { session_key: s, time: t, session_gap_secs: GAP, lateness_secs: LATE }
nodes:
  - { id: events, op: event_source }
  - { id: x, op: get, inputs: [events], with: { field: x, type: f64 } }
outputs:
  - { name: o, evaluate_at: { every_secs: EVERY }, columns: [x] }
";

    fn spec_error(gap: &str, late: &str, every: &str) -> Option<String> {
        let yaml = SPEC
            .replace("GAP", gap)
            .replace("LATE", late)
            .replace("EVERY", every);
        parse_spec(&yaml).err().map(|p| p.to_string())
    }

    #[test]
    fn durations_under_a_millisecond_are_rejected_with_the_smallest_valid_value() {
        assert_eq!(spec_error("1", "1", "1"), None);
        assert_eq!(spec_error("0.001", "0.001", "0.001"), None);
        for (gap, late, every, field) in [
            ("0.0001", "1", "1", "input.session_gap_secs"),
            ("1", "0.0004", "1", "input.lateness_secs"),
            ("1", "1", "0.0001", "outputs[0].evaluate_at.every_secs"),
        ] {
            let e = spec_error(gap, late, every).expect("rejected");
            assert!(e.contains(field), "{e}");
            assert!(e.contains("shorter than 1 ms"), "{e}");
            assert!(e.contains("smallest valid value is 0.001"), "{e}");
        }
        for (op, with) in [
            ("has_existed_within", "within_secs: 0.0001"),
            ("duration_where", "window_secs: 0.0009"),
        ] {
            let e = parse_operator(op, with).unwrap_err();
            assert!(e.contains("smallest valid value is 0.001"), "{op}: {e}");
        }
    }

    #[test]
    fn no_duration_is_ever_zero_milliseconds() {
        assert_eq!(Secs(0.001).millis(), 1);
        // Not constructible from a spec, but a period of 0 must still not divide by zero.
        assert_eq!(Secs(0.0001).millis(), 1);
    }
}
