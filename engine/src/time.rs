//! Event time: epoch milliseconds, half-open intervals, and input time units.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in event time, in epoch milliseconds.
pub type Time = i64;

/// The end of an open span: "until the next change".
pub const OPEN_END: Time = Time::MAX;

/// The largest event time accepted, in absolute value: ±9e15 ms (about 285,000 years).
///
/// Operators add windows and evaluation periods to times, and `i64::MAX` is [`OPEN_END`];
/// keeping input times this far from the limits makes that arithmetic overflow-free.
pub const MAX_ABS_TIME: Time = 9_000_000_000_000_000;

/// A half-open interval `[start, end)` of event time; `end == OPEN_END` means open-ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeInterval {
    /// First instant inside the interval.
    pub start: Time,
    /// First instant after the interval, or [`OPEN_END`].
    pub end: Time,
}

impl TimeInterval {
    /// `[start, end)`.
    pub const fn new(start: Time, end: Time) -> Self {
        Self { start, end }
    }

    /// `[start, ∞)`.
    pub const fn open(start: Time) -> Self {
        Self {
            start,
            end: OPEN_END,
        }
    }

    /// Whether the interval has no known end yet.
    pub const fn is_open(&self) -> bool {
        self.end == OPEN_END
    }

    /// Whether `t` lies in `[start, end)`.
    pub const fn contains(&self, t: Time) -> bool {
        self.start <= t && t < self.end
    }
}

impl fmt::Display for TimeInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_open() {
            write!(f, "[{}, ∞)", self.start)
        } else {
            write!(f, "[{}, {})", self.start, self.end)
        }
    }
}

/// Seconds elapsed from `from` to `to` (both in milliseconds).
#[inline]
pub fn secs_between(from: Time, to: Time) -> f64 {
    (to - from) as f64 / 1000.0
}

/// The unit of the time field in the input records.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Seconds since the epoch (fractions allowed for floating-point fields).
    Seconds,
    /// Milliseconds since the epoch (the internal unit).
    #[default]
    Milliseconds,
    /// Microseconds since the epoch (Avro `timestamp-micros`).
    Microseconds,
    /// Nanoseconds since the epoch.
    Nanoseconds,
}

impl TimeUnit {
    /// Converts an integer timestamp in this unit to milliseconds; `None` when the result is
    /// beyond ±[`MAX_ABS_TIME`].
    pub fn int_to_millis(self, v: i64) -> Option<Time> {
        let ms = match self {
            TimeUnit::Seconds => v.checked_mul(1000)?,
            TimeUnit::Milliseconds => v,
            TimeUnit::Microseconds => v.div_euclid(1000),
            TimeUnit::Nanoseconds => v.div_euclid(1_000_000),
        };
        (ms.unsigned_abs() < MAX_ABS_TIME.unsigned_abs()).then_some(ms)
    }

    /// Converts a floating-point timestamp in this unit to milliseconds (rounded down);
    /// `None` when it is not finite or out of range.
    pub fn float_to_millis(self, v: f64) -> Option<Time> {
        let ms = match self {
            TimeUnit::Seconds => v * 1000.0,
            TimeUnit::Milliseconds => v,
            TimeUnit::Microseconds => v / 1000.0,
            TimeUnit::Nanoseconds => v / 1_000_000.0,
        };
        (ms.is_finite() && ms.abs() < MAX_ABS_TIME as f64).then(|| ms.floor() as Time)
    }

    /// Milliseconds per unit as a float, used to print times back in the input's unit.
    pub fn millis_per_unit(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1000.0,
            TimeUnit::Milliseconds => 1.0,
            TimeUnit::Microseconds => 0.001,
            TimeUnit::Nanoseconds => 0.000_001,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_to_millis() {
        assert_eq!(TimeUnit::Seconds.int_to_millis(3), Some(3000));
        assert_eq!(TimeUnit::Microseconds.int_to_millis(1_500_999), Some(1500));
        assert_eq!(TimeUnit::Nanoseconds.int_to_millis(-1), Some(-1));
        assert_eq!(TimeUnit::Seconds.int_to_millis(i64::MAX), None);
        assert_eq!(TimeUnit::Milliseconds.int_to_millis(i64::MIN), None);
        assert_eq!(TimeUnit::Milliseconds.int_to_millis(MAX_ABS_TIME), None);
        assert_eq!(
            TimeUnit::Milliseconds.int_to_millis(1 - MAX_ABS_TIME),
            Some(1 - MAX_ABS_TIME)
        );
        assert_eq!(TimeUnit::Seconds.float_to_millis(1.5), Some(1500));
        assert_eq!(TimeUnit::Seconds.float_to_millis(f64::NAN), None);
    }

    #[test]
    fn intervals_are_half_open() {
        let i = TimeInterval::new(3, 7);
        assert!(i.contains(3) && i.contains(6) && !i.contains(7));
        assert!(TimeInterval::open(5).contains(i64::MAX - 1));
        assert_eq!(TimeInterval::open(5).to_string(), "[5, ∞)");
    }
}
