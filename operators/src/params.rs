//! Parameter types shared by several operators, and arity/type helpers for `output_type`.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use spanflow_engine::{Kind, Scalar, Str, TimelineType, TypeMismatch, ValueType};
use std::fmt;

/// A constant written in a spec: a number, a boolean or a string.
#[derive(Clone, Debug, PartialEq)]
pub struct Constant(pub Scalar);

impl<'de> Deserialize<'de> for Constant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Constant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a boolean or a string")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Constant, E> {
                Ok(Constant(Scalar::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Constant, E> {
                Ok(Constant(Scalar::F64(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Constant, E> {
                Ok(Constant(Scalar::F64(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Constant, E> {
                Ok(Constant(Scalar::F64(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Constant, E> {
                Ok(Constant(Scalar::Str(Str::from(v))))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Constant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A non-negative duration in seconds, as written in `*_secs` parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Secs(pub f64);

impl Secs {
    /// The duration in milliseconds (the engine's time unit), rounded.
    pub fn millis(self) -> i64 {
        (self.0 * 1000.0).round() as i64
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v > 0.0 && v * 1000.0 < 9.0e15 {
            Ok(Secs(v))
        } else {
            Err(de::Error::custom(format!(
                "expected a positive number of seconds, got {v}"
            )))
        }
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
