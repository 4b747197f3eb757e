//! Timeline kinds and types, used by the plan's type checks.

use crate::value::ValueType;
use std::fmt;

/// How a timeline's value behaves over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Discrete occurrences at instants.
    Event,
    /// A step function: a value at every instant that changes at discrete points.
    State,
    /// A piecewise-linear number (value at span start + slope), e.g. a cumulative duration.
    Numeric,
}

/// The type of a timeline: its kind and its value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimelineType {
    /// Event, state or numeric.
    pub kind: Kind,
    /// The value type (always `F64` for numeric timelines).
    pub value: ValueType,
}

impl TimelineType {
    /// Events carrying whole input records.
    pub const RECORDS: Self = Self::new(Kind::Event, ValueType::Record);
    /// Boolean state (the output of comparisons and logic).
    pub const BOOL_STATE: Self = Self::new(Kind::State, ValueType::Bool);
    /// Boolean events.
    pub const BOOL_EVENTS: Self = Self::new(Kind::Event, ValueType::Bool);
    /// Piecewise-linear number.
    pub const NUMERIC: Self = Self::new(Kind::Numeric, ValueType::F64);
    /// Piecewise-constant number.
    pub const F64_STATE: Self = Self::new(Kind::State, ValueType::F64);

    /// A type from its parts.
    pub const fn new(kind: Kind, value: ValueType) -> Self {
        Self { kind, value }
    }

    /// Events of `value`.
    pub const fn events(value: ValueType) -> Self {
        Self::new(Kind::Event, value)
    }

    /// State of `value`.
    pub const fn state(value: ValueType) -> Self {
        Self::new(Kind::State, value)
    }

    /// Whether values are numbers that arithmetic accepts (f64 events, f64 state, numeric).
    pub fn is_number(&self) -> bool {
        self.value == ValueType::F64
    }

    /// Whether this is boolean (state or events).
    pub fn is_bool(&self) -> bool {
        self.value == ValueType::Bool
    }

    /// Whether this timeline has a value at every instant (state or numeric).
    pub fn is_continuous(&self) -> bool {
        matches!(self.kind, Kind::State | Kind::Numeric)
    }
}

impl fmt::Display for TimelineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Event => write!(f, "events<{}>", self.value),
            Kind::State => write!(f, "state<{}>", self.value),
            Kind::Numeric => f.write_str("numeric"),
        }
    }
}
