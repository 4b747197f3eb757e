//! `Val`: the value the interpreter computes with, and its compact form in session slots.
//!
//! Strings are interned ([`crate::strings::Interner`]), so a `Val` is `Copy` and 32 bytes;
//! equality of strings is an integer compare. In a session's state a value takes one `u64`
//! word (booleans, numbers, symbols) or three (a linear piece: its start, value and slope),
//! with "undefined" encoded inside the word.

use crate::kind::{Kind, TimelineType};
use crate::time::Time;
use crate::value::{Linear, ValueType};

/// An interned string.
pub type Sym = u32;

/// One value: a state's value at an instant, an event's value, or a linear piece.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Val {
    /// No value (before the first event, after a division by zero, ...).
    #[default]
    Undef,
    /// A number.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// An interned string.
    Sym(Sym),
    /// A linear piece that started at `start`.
    Lin {
        /// Where the piece starts.
        start: Time,
        /// Its value at `start` and slope.
        line: Linear,
    },
}

impl Val {
    /// Whether a value is defined.
    #[inline]
    pub fn is_defined(&self) -> bool {
        !matches!(self, Val::Undef)
    }

    /// Truthiness for logic: only `Bool(true)` is true; undefined is false.
    #[inline]
    pub fn is_true(&self) -> bool {
        matches!(self, Val::Bool(true))
    }

    /// The value at `t`: linear pieces are evaluated there, other values are returned as is.
    #[inline]
    pub fn at(&self, t: Time) -> Val {
        match *self {
            Val::Lin { start, line } => Val::F64(line.value_at(start, t)),
            v => v,
        }
    }

    /// The value at `t` as a linear piece starting at `t` (numbers get slope 0).
    #[inline]
    pub fn linear_at(&self, t: Time) -> Option<Linear> {
        match *self {
            Val::F64(x) => Some(Linear::constant(x)),
            Val::Lin { start, line } => Some(line.rebase(start, t)),
            _ => None,
        }
    }

    /// Whether continuing `self` past `t` is the same function as `next` starting at `t`,
    /// so no new span is needed.
    #[inline]
    pub fn continues_as(&self, t: Time, next: &Val) -> bool {
        match (self, next) {
            (Val::Lin { start, line }, Val::Lin { line: n, .. }) => {
                same_number(line.per_sec, n.per_sec)
                    && same_number(line.value_at(*start, t), n.at_start)
            }
            (Val::F64(a), Val::F64(b)) => same_number(*a, *b),
            (a, b) => a == b,
        }
    }
}

/// Whether a state keeps its value: as `==`, except that a NaN reading after a NaN is no
/// change (a sensor stuck at NaN is one span, not a new one per reading).
#[inline]
fn same_number(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// How a node's current output value is kept in its session slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotCodec {
    /// Event timelines keep no value.
    None,
    /// One word: 0 false, 1 true, 2 undefined.
    Bool,
    /// One word: the float's bits; undefined is a signalling NaN no arithmetic produces
    /// (stored NaNs are made quiet first).
    F64,
    /// One word: the symbol; undefined is `u64::MAX`.
    Sym,
    /// Three words: start, value at start (undefined as for `F64`), slope.
    Lin,
}

/// The bits of "undefined" in an `F64` word.
const UNDEF_F64: u64 = 0x7FF4_0000_DEAD_BEEF;

impl SlotCodec {
    /// The codec of a timeline type's output value.
    pub fn of(ty: TimelineType) -> Self {
        match (ty.kind, ty.value) {
            (Kind::Event, _) => SlotCodec::None,
            (Kind::Numeric, _) => SlotCodec::Lin,
            (Kind::State, ValueType::Bool) => SlotCodec::Bool,
            (Kind::State, ValueType::F64) => SlotCodec::F64,
            (Kind::State, ValueType::Str | ValueType::Record) => SlotCodec::Sym,
        }
    }

    /// Words taken in the slot.
    pub const fn words(self) -> usize {
        match self {
            SlotCodec::None => 0,
            SlotCodec::Lin => 3,
            _ => 1,
        }
    }

    /// The words of an undefined value.
    pub fn init(self, w: &mut [u64]) {
        self.store(w, Val::Undef);
    }

    /// Reads the value.
    #[inline]
    pub fn load(self, w: &[u64]) -> Val {
        match self {
            SlotCodec::None => Val::Undef,
            SlotCodec::Bool => match w[0] {
                0 => Val::Bool(false),
                1 => Val::Bool(true),
                _ => Val::Undef,
            },
            SlotCodec::F64 => match w[0] {
                UNDEF_F64 => Val::Undef,
                bits => Val::F64(f64::from_bits(bits)),
            },
            SlotCodec::Sym => match w[0] {
                u64::MAX => Val::Undef,
                s => Val::Sym(s as Sym),
            },
            SlotCodec::Lin => match w[1] {
                UNDEF_F64 => Val::Undef,
                bits => Val::Lin {
                    start: w[0] as Time,
                    line: Linear {
                        at_start: f64::from_bits(bits),
                        per_sec: f64::from_bits(w[2]),
                    },
                },
            },
        }
    }

    /// Writes the value. A value of another shape than the codec's is a type-check bug.
    #[inline]
    pub fn store(self, w: &mut [u64], v: Val) {
        fn bits(x: f64) -> u64 {
            if x.is_nan() {
                f64::NAN.to_bits()
            } else {
                x.to_bits()
            }
        }
        match (self, v) {
            (SlotCodec::None, _) => {}
            (SlotCodec::Bool, Val::Bool(b)) => w[0] = u64::from(b),
            (SlotCodec::Bool, Val::Undef) => w[0] = 2,
            (SlotCodec::F64, Val::F64(x)) => w[0] = bits(x),
            (SlotCodec::F64, Val::Undef) => w[0] = UNDEF_F64,
            (SlotCodec::Sym, Val::Sym(s)) => w[0] = u64::from(s),
            (SlotCodec::Sym, Val::Undef) => w[0] = u64::MAX,
            (SlotCodec::Lin, Val::Lin { start, line }) => {
                w[0] = start as u64;
                w[1] = bits(line.at_start);
                w[2] = line.per_sec.to_bits();
            }
            (SlotCodec::Lin, Val::F64(x)) => {
                w[1] = bits(x);
                w[2] = 0f64.to_bits();
            }
            (SlotCodec::Lin, Val::Undef) => {
                w[1] = UNDEF_F64;
                w[2] = 0;
            }
            (codec, v) => panic!("internal error: cannot keep {v:?} in a {codec:?} slot"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_its_values_and_undefined() {
        let cases = [
            (SlotCodec::Bool, vec![Val::Bool(true), Val::Bool(false)]),
            (
                SlotCodec::F64,
                vec![Val::F64(0.0), Val::F64(-1.5), Val::F64(f64::INFINITY)],
            ),
            (SlotCodec::Sym, vec![Val::Sym(0), Val::Sym(u32::MAX)]),
            (
                SlotCodec::Lin,
                vec![Val::Lin {
                    start: -5,
                    line: Linear {
                        at_start: 2.0,
                        per_sec: -1.0,
                    },
                }],
            ),
        ];
        for (codec, values) in cases {
            let mut w = [0u64; 3];
            for v in values.into_iter().chain([Val::Undef]) {
                codec.store(&mut w, v);
                assert_eq!(codec.load(&w), v, "{codec:?}");
            }
        }
        // NaN stays a number, never "undefined".
        let mut w = [0u64; 1];
        SlotCodec::F64.store(&mut w, Val::F64(f64::from_bits(UNDEF_F64)));
        assert!(matches!(SlotCodec::F64.load(&w), Val::F64(x) if x.is_nan()));
    }

    #[test]
    fn a_nan_state_continues_as_nan_and_zeros_as_each_other() {
        let nan = Val::F64(f64::NAN);
        assert!(nan.continues_as(5, &Val::F64(-f64::NAN)));
        assert!(!nan.continues_as(5, &Val::F64(1.0)));
        assert!(!Val::F64(1.0).continues_as(5, &nan));
        assert!(Val::F64(0.0).continues_as(5, &Val::F64(-0.0)));
        let flat_nan = Val::Lin {
            start: 0,
            line: Linear::constant(f64::NAN),
        };
        assert!(flat_nan.continues_as(5, &flat_nan));
    }
}
