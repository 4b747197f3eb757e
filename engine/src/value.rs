//! Values carried by spans and records.

use crate::time::{secs_between, Time};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Inline string for short values (CDN names, player states); one alias so the crate is swappable.
pub type Str = smartstring::alias::String;

/// A piece of a numeric timeline: its value at the span's start and its slope per second.
///
/// Every operator of the catalogue produces piecewise-linear timelines, so durations are exact
/// and cost O(1) per change instead of O(elapsed time).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// Value at the start of the span.
    pub at_start: f64,
    /// Change per second of event time.
    pub per_sec: f64,
}

impl Linear {
    /// A flat piece.
    pub const fn constant(v: f64) -> Self {
        Self {
            at_start: v,
            per_sec: 0.0,
        }
    }

    /// The value at `t` of this piece when it starts at `start`.
    #[inline]
    pub fn value_at(&self, start: Time, t: Time) -> f64 {
        if self.per_sec == 0.0 || t == start {
            self.at_start
        } else {
            self.at_start + self.per_sec * secs_between(start, t)
        }
    }

    /// The same line, re-expressed as a piece starting at `t` instead of `start`.
    #[inline]
    pub fn rebase(&self, start: Time, t: Time) -> Self {
        Self {
            at_start: self.value_at(start, t),
            per_sec: self.per_sec,
        }
    }
}

/// The value types a timeline can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// 64-bit float (Avro int, long, float and double all read as this).
    F64,
    /// Boolean.
    Bool,
    /// UTF-8 string (Avro string and enum symbols).
    Str,
    /// A whole input record (only the output of `event_source`).
    Record,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::F64 => "f64",
            ValueType::Bool => "bool",
            ValueType::Str => "string",
            ValueType::Record => "record",
        })
    }
}

/// One owned scalar: a constant in a spec, a decoded field, or a value in an output row.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A number.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(Str),
}

impl Scalar {
    /// The scalar's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Scalar::F64(_) => ValueType::F64,
            Scalar::Bool(_) => ValueType::Bool,
            Scalar::Str(_) => ValueType::Str,
        }
    }

    /// Borrows the scalar.
    pub fn as_ref(&self) -> ScalarRef<'_> {
        match self {
            Scalar::F64(v) => ScalarRef::F64(*v),
            Scalar::Bool(v) => ScalarRef::Bool(*v),
            Scalar::Str(v) => ScalarRef::Str(v),
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

/// A borrowed scalar, used where operators compare values without copying strings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScalarRef<'a> {
    /// A number.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(&'a str),
}

impl ScalarRef<'_> {
    /// Copies the value into an owned [`Scalar`].
    pub fn to_owned(self) -> Scalar {
        match self {
            ScalarRef::F64(v) => Scalar::F64(v),
            ScalarRef::Bool(v) => Scalar::Bool(v),
            ScalarRef::Str(v) => Scalar::Str(Str::from(v)),
        }
    }

    /// Total order within one type (floats by `total_cmp`); `None` across types.
    pub fn compare(self, other: ScalarRef<'_>) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (ScalarRef::F64(a), ScalarRef::F64(b)) => Some(a.total_cmp(&b)),
            (ScalarRef::Bool(a), ScalarRef::Bool(b)) => Some(a.cmp(&b)),
            (ScalarRef::Str(a), ScalarRef::Str(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl fmt::Display for ScalarRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarRef::F64(v) => write!(f, "{v}"),
            ScalarRef::Bool(v) => write!(f, "{v}"),
            ScalarRef::Str(v) => write!(f, "{v:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_pieces_evaluate_and_rebase() {
        let l = Linear {
            at_start: 2.0,
            per_sec: 1.0,
        };
        assert_eq!(l.value_at(1000, 4000), 5.0);
        assert_eq!(
            l.rebase(1000, 4000),
            Linear {
                at_start: 5.0,
                per_sec: 1.0
            }
        );
        assert_eq!(Linear::constant(7.0).value_at(0, 99_000), 7.0);
    }

    #[test]
    fn scalars_compare_within_a_type_only() {
        use std::cmp::Ordering::*;
        assert_eq!(ScalarRef::F64(1.0).compare(ScalarRef::F64(2.0)), Some(Less));
        assert_eq!(
            ScalarRef::Str("b").compare(ScalarRef::Str("a")),
            Some(Greater)
        );
        assert_eq!(ScalarRef::Str("1").compare(ScalarRef::F64(1.0)), None);
    }
}

/// The current value of a timeline as an operator remembers it between steps.
///
/// `Undefined` is the value before the first event (and after, e.g., a division by zero);
/// comparisons treat it as false. Numeric values keep the start of their piece so they can be
/// evaluated at any later instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Current {
    /// No value.
    #[default]
    Undefined,
    /// A number.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(Str),
    /// A linear piece that started at `start`.
    Linear {
        /// Where the piece starts.
        start: Time,
        /// Its value at `start` and slope.
        line: Linear,
    },
}

impl Current {
    /// From a borrowed scalar.
    pub fn from_scalar(v: Option<ScalarRef<'_>>) -> Self {
        match v {
            None => Current::Undefined,
            Some(ScalarRef::F64(x)) => Current::F64(x),
            Some(ScalarRef::Bool(x)) => Current::Bool(x),
            Some(ScalarRef::Str(x)) => Current::Str(Str::from(x)),
        }
    }

    /// Whether a value is defined.
    pub fn is_defined(&self) -> bool {
        !matches!(self, Current::Undefined)
    }

    /// The value at `t`, numbers of linear pieces evaluated there.
    pub fn scalar_at(&self, t: Time) -> Option<ScalarRef<'_>> {
        match self {
            Current::Undefined => None,
            Current::F64(x) => Some(ScalarRef::F64(*x)),
            Current::Bool(x) => Some(ScalarRef::Bool(*x)),
            Current::Str(x) => Some(ScalarRef::Str(x)),
            Current::Linear { start, line } => Some(ScalarRef::F64(line.value_at(*start, t))),
        }
    }

    /// The value at `t` as a linear piece starting at `t` (constants get slope 0).
    pub fn linear_at(&self, t: Time) -> Option<Linear> {
        match self {
            Current::F64(x) => Some(Linear::constant(*x)),
            Current::Linear { start, line } => Some(line.rebase(*start, t)),
            _ => None,
        }
    }

    /// Truthiness for logic: only `Bool(true)` is true; undefined is false.
    pub fn is_true(&self) -> bool {
        matches!(self, Current::Bool(true))
    }

    /// Whether continuing `self` past `t` is the same function as `next` starting at `t`,
    /// so no new span is needed.
    pub fn continues_as(&self, t: Time, next: &Current) -> bool {
        match (self, next) {
            (Current::Linear { start, line }, Current::Linear { line: n, .. }) => {
                line.per_sec == n.per_sec && line.value_at(*start, t) == n.at_start
            }
            (a, b) => a == b,
        }
    }
}

impl Current {
    /// The owned form of an interpreter value, strings resolved in `strings`.
    pub fn from_val(v: crate::val::Val, strings: &crate::strings::Interner) -> Self {
        use crate::val::Val;
        match v {
            Val::Undef => Current::Undefined,
            Val::F64(x) => Current::F64(x),
            Val::Bool(x) => Current::Bool(x),
            Val::Sym(s) => Current::Str(strings.resolve_str(s)),
            Val::Lin { start, line } => Current::Linear { start, line },
        }
    }
}
