//! The columns a JSON Lines, CSV or Parquet file must hold for a projection, the values each
//! takes, and writing them into the [`DecodedEvent`] the Avro decoder produces.
//!
//! With a reader schema (`input.schema`) a column takes what its Avro type takes: the
//! projection is compiled against the reader schema itself, so the leaf types (int, long,
//! float, double, boolean, string, enum symbols, nullable or not) and the time unit are those
//! the Avro path reads with. Without one, the projection's types: the session key a string or
//! an integer, the time a number, the sequence an integer, an `f64` field any number, every
//! column nullable. A value its column does not take is a bad record, never coerced.

use crate::decode::error::{BadValue, DecodeError};
use crate::decode::files::FileError;
use crate::decode::path::FieldPath;
use crate::decode::plan::{DecodePlan, Read, RecordPlan, ScalarKind, Sink, Step};
use crate::decode::projection::{DecodedEvent, Projection};
use crate::decode::sink::Raw;
use smallvec::{smallvec, SmallVec};
use spanflow_engine::{FieldValue, Str, TimeUnit, ValueType};
use std::fmt::Write as _;
use std::sync::Arc;

/// One kind of value a column takes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    /// An Avro int: a whole number in 32 bits.
    Int,
    /// An Avro long, a sequence, an integer session key: a whole number in 64 bits.
    Long,
    /// An Avro float: a number, rounded to 32 bits as an Avro writer stores it.
    Float,
    /// An Avro double, an `f64` field or a time without a schema: any number (whole numbers
    /// stay whole, so a time keeps its integer conversion), NaN and ±Infinity included.
    Number,
    /// `true` or `false`.
    Bool,
    /// Text.
    Str,
    /// One of these enum symbols.
    Enum(Arc<[Str]>),
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::Int => "an int (a whole number from -2147483648 to 2147483647)".into(),
            Kind::Long => "a long (a whole number)".into(),
            Kind::Float => "a float (a number)".into(),
            Kind::Number => "a number".into(),
            Kind::Bool => "a boolean (true or false)".into(),
            Kind::Str => "a string".into(),
            Kind::Enum(symbols) => {
                let mut s = String::from("one of the enum's symbols [");
                for (i, sym) in symbols.iter().take(12).enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    s.push_str(sym);
                }
                if symbols.len() > 12 {
                    s.push_str(", ...");
                }
                s.push(']');
                s
            }
        }
    }
}

/// A value as a file holds it, before it is checked against its column.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cell<'a> {
    /// Null, a missing JSON member, an empty CSV cell of a nullable column.
    Null,
    /// A typed integer (JSON, Parquet).
    Int(i64),
    /// A typed integer beyond `i64` (JSON, Parquet `UINT64`).
    UInt(u64),
    /// A typed floating-point number.
    Float(f64),
    /// A typed boolean.
    Bool(bool),
    /// A typed string (JSON, Parquet).
    Str(&'a str),
    /// Untyped text (a CSV cell), parsed as the column's kind asks.
    Text(&'a str),
}

impl Cell<'_> {
    /// The value as error messages show it.
    pub(crate) fn show(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Int(i) => i.to_string(),
            Cell::UInt(u) => u.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Str(s) | Cell::Text(s) => show_text(s),
        }
    }
}

/// Text as a quoted JSON string, cut at 60 characters.
pub(crate) fn show_text(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", serde_json::Value::from(&s[..cut])),
        None => serde_json::Value::from(s).to_string(),
    }
}

/// A projected column.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    /// The dotted path: a CSV header, a Parquet column path.
    pub(crate) name: String,
    /// The path's segments: JSON members and Parquet struct fields to descend into.
    pub(crate) path: FieldPath,
    /// Where its value goes.
    pub(crate) sinks: SmallVec<[Sink; 2]>,
    /// What it takes, tried in order (several for a union of several non-null types).
    pub(crate) kinds: SmallVec<[Kind; 1]>,
    /// Whether null is a value (else a null is a bad record).
    pub(crate) nullable: bool,
    /// The unit of a time whose file type carries one (a Parquet timestamp), over the
    /// projection's.
    pub(crate) time_unit: Option<TimeUnit>,
}

impl Column {
    /// Whether this column is the event time.
    pub(crate) fn is_time(&self) -> bool {
        self.sinks.contains(&Sink::Time)
    }

    /// What the column takes, for messages.
    pub(crate) fn expected(&self) -> String {
        self.kinds
            .iter()
            .map(Kind::describe)
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// The bad-value error of `cell` in this column.
    pub(crate) fn bad(&self, value: String) -> DecodeError {
        let mut expected = self.expected();
        if value == "null" && !self.nullable {
            expected.push_str(" (the field is not nullable)");
        }
        DecodeError::BadValue(Box::new(BadValue {
            column: self.name.clone(),
            value,
            expected,
        }))
    }

    /// Checks `cell` against the column's kinds: the value to write, or the bad-value error.
    pub(crate) fn take<'c>(&self, cell: Cell<'c>) -> Result<Raw<'c>, DecodeError> {
        let cell = match cell {
            // An empty CSV cell is null where null is a value; elsewhere it is text.
            Cell::Text("") if self.nullable => Cell::Null,
            c => c,
        };
        if let Cell::Null = cell {
            // A null key or time is reported as the Avro path reports it.
            let keyed = self.sinks.contains(&Sink::SessionKey) || self.is_time();
            return if self.nullable || keyed {
                Ok(Raw::Null)
            } else {
                Err(self.bad("null".into()))
            };
        }
        self.kinds
            .iter()
            .find_map(|k| fit(k, cell))
            .ok_or_else(|| self.bad(cell.show()))
    }
}

/// `cell` as a value of `kind`, if it is one.
fn fit<'c>(kind: &Kind, cell: Cell<'c>) -> Option<Raw<'c>> {
    let number = |cell: Cell<'c>| -> Option<Raw<'c>> {
        match cell {
            Cell::Int(i) => Some(Raw::Int(i)),
            Cell::UInt(u) => Some(Raw::Float(u as f64)),
            Cell::Float(f) => Some(Raw::Float(f)),
            // JSON has no NaN or infinities: spanflow's own rows write them as these strings.
            Cell::Str("NaN") => Some(Raw::Float(f64::NAN)),
            Cell::Str("Infinity") => Some(Raw::Float(f64::INFINITY)),
            Cell::Str("-Infinity") => Some(Raw::Float(f64::NEG_INFINITY)),
            Cell::Text(t) => match t.parse::<i64>() {
                Ok(i) => Some(Raw::Int(i)),
                Err(_) => parse_float(t).map(Raw::Float),
            },
            _ => None,
        }
    };
    match (kind, cell) {
        (Kind::Int, Cell::Int(i)) => i32::try_from(i).ok().map(|i| Raw::Int(i.into())),
        (Kind::Int, Cell::Text(t)) => t.parse::<i32>().ok().map(|i| Raw::Int(i.into())),
        (Kind::Long, Cell::Int(i)) => Some(Raw::Int(i)),
        (Kind::Long, Cell::UInt(u)) => i64::try_from(u).ok().map(Raw::Int),
        (Kind::Long, Cell::Text(t)) => t.parse::<i64>().ok().map(Raw::Int),
        (Kind::Number, c) => number(c),
        (Kind::Float, c) => match number(c)? {
            Raw::Int(i) => Some(Raw::Float(f64::from(i as f32))),
            Raw::Float(f) => Some(Raw::Float(f64::from(f as f32))),
            _ => None,
        },
        (Kind::Bool, Cell::Bool(b)) => Some(Raw::Bool(b)),
        (Kind::Bool, Cell::Text(t)) if t.eq_ignore_ascii_case("true") => Some(Raw::Bool(true)),
        (Kind::Bool, Cell::Text(t)) if t.eq_ignore_ascii_case("false") => Some(Raw::Bool(false)),
        (Kind::Str, Cell::Str(s) | Cell::Text(s)) => Some(Raw::Str(s)),
        (Kind::Enum(symbols), Cell::Str(s) | Cell::Text(s)) => {
            symbols.iter().any(|sym| sym == s).then_some(Raw::Str(s))
        }
        _ => None,
    }
}

/// A CSV number: decimal or exponent notation, `NaN`, `Infinity`, `-Infinity` (as spanflow
/// writes them), `inf`.
fn parse_float(t: &str) -> Option<f64> {
    match t {
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => t.parse::<f64>().ok(),
    }
}

/// The columns of a projection, and how their values make a [`DecodedEvent`].
#[derive(Clone, Debug)]
pub(crate) struct Columns {
    pub(crate) columns: Vec<Column>,
    slots: usize,
    time_unit: TimeUnit,
    session_key: FieldPath,
    time: FieldPath,
}

impl Columns {
    /// The columns `projection` reads, typed by its reader schema if it has one.
    pub(crate) fn new(projection: &Projection) -> Result<Self, FileError> {
        let (columns, time_unit) = match &projection.reader {
            Some(reader) => {
                let plan = DecodePlan::compile(reader.source(), projection)?;
                let mut columns = Vec::new();
                leaves(&plan.root, false, &mut columns);
                (columns, plan.time_unit())
            }
            None => (
                untyped(projection),
                projection.time_unit.unwrap_or(TimeUnit::Milliseconds),
            ),
        };
        Ok(Columns {
            columns,
            slots: projection.fields.len(),
            time_unit,
            session_key: projection.session_key.clone(),
            time: projection.time.clone(),
        })
    }

    /// Prepares `out` for a new record: every slot null, no sequence.
    pub(crate) fn begin(&self, out: &mut DecodedEvent) {
        out.record.fields.clear();
        out.record.fields.resize(self.slots, FieldValue::Null);
        out.record.sequence = None;
    }

    /// Writes column `c`'s value (already checked by [`Column::take`]) into `out`.
    pub(crate) fn put(
        &self,
        c: &Column,
        v: Raw<'_>,
        out: &mut DecodedEvent,
    ) -> Result<(), DecodeError> {
        for &sink in &c.sinks {
            match sink {
                Sink::Slot(slot) => {
                    if let Some(dst) = out.record.fields.get_mut(slot as usize) {
                        *dst = match v {
                            Raw::Null => FieldValue::Null,
                            Raw::Int(i) => FieldValue::F64(i as f64),
                            Raw::Float(f) => FieldValue::F64(f),
                            Raw::Bool(b) => FieldValue::Bool(b),
                            Raw::Str(s) => FieldValue::Str(Str::from(s)),
                        };
                    }
                }
                Sink::Sequence => {
                    out.record.sequence = match v {
                        Raw::Int(i) => Some(i),
                        _ => None,
                    }
                }
                Sink::SessionKey => {
                    out.session_key.clear();
                    match v {
                        Raw::Str(s) => out.session_key.push_str(s),
                        Raw::Int(i) => {
                            let _ = write!(out.session_key, "{i}");
                        }
                        _ => {
                            return Err(DecodeError::MissingSessionKey(Box::new(
                                self.session_key.clone(),
                            )))
                        }
                    }
                }
                Sink::Time => {
                    let unit = c.time_unit.unwrap_or(self.time_unit);
                    let ms = match v {
                        Raw::Int(i) => unit.int_to_millis(i),
                        Raw::Float(f) => unit.float_to_millis(f),
                        _ => return Err(DecodeError::MissingTime(Box::new(self.time.clone()))),
                    };
                    out.record.time = ms.ok_or_else(|| {
                        let text = match v {
                            Raw::Int(i) => i.to_string(),
                            Raw::Float(f) => f.to_string(),
                            _ => String::new(),
                        };
                        DecodeError::TimeOutOfRange(Box::new((self.time.clone(), text)))
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// The projected leaves of a plan compiled against the reader schema, in the reader's field
/// order; `nullable_above`: a nullable record on the path makes its fields nullable.
fn leaves(plan: &RecordPlan, nullable_above: bool, out: &mut Vec<Column>) {
    for step in plan.steps.iter() {
        match step {
            Step::Skip(_) => {}
            Step::Descend(descent, inner) => {
                leaves(inner, nullable_above || descent.nullable.is_some(), out)
            }
            Step::Leaf(leaf) => {
                let mut kinds = SmallVec::new();
                let mut nullable = nullable_above;
                for read in leaf.reads.iter() {
                    match read {
                        Read::Null => nullable = true,
                        Read::Value(k) => kinds.push(kind_of(k)),
                        // The reader resolved against itself: every branch reads.
                        Read::Fail(..) => {}
                    }
                }
                out.push(Column {
                    name: leaf.path.to_string(),
                    path: leaf.path.clone(),
                    sinks: leaf.sinks.clone(),
                    kinds,
                    nullable,
                    time_unit: None,
                });
            }
        }
    }
}

fn kind_of(k: &ScalarKind) -> Kind {
    match k {
        ScalarKind::Int => Kind::Int,
        ScalarKind::Long => Kind::Long,
        ScalarKind::Float | ScalarKind::IntAsFloat | ScalarKind::LongAsFloat => Kind::Float,
        ScalarKind::Double => Kind::Number,
        ScalarKind::Bool => Kind::Bool,
        ScalarKind::Str => Kind::Str,
        ScalarKind::Enum(symbols) => Kind::Enum(symbols.iter().flatten().cloned().collect()),
    }
}

/// The columns of a projection without a reader schema: typed by their roles.
fn untyped(projection: &Projection) -> Vec<Column> {
    let column = |path: &FieldPath, sink: Sink, kinds: SmallVec<[Kind; 1]>| Column {
        name: path.to_string(),
        path: path.clone(),
        sinks: smallvec![sink],
        kinds,
        nullable: true,
        time_unit: None,
    };
    let mut columns = vec![
        column(
            &projection.session_key,
            Sink::SessionKey,
            smallvec![Kind::Str, Kind::Long],
        ),
        column(&projection.time, Sink::Time, smallvec![Kind::Number]),
    ];
    if let Some(seq) = &projection.sequence {
        columns.push(column(seq, Sink::Sequence, smallvec![Kind::Long]));
    }
    for (slot, (path, ty)) in projection.fields.iter().enumerate() {
        let kind = match ty {
            ValueType::F64 => Kind::Number,
            ValueType::Bool => Kind::Bool,
            // A record is never projected (validation rejects `get` of a record); read as text.
            ValueType::Str | ValueType::Record => Kind::Str,
        };
        let slot = u32::try_from(slot).unwrap_or(u32::MAX);
        columns.push(column(path, Sink::Slot(slot), smallvec![kind]));
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(kinds: SmallVec<[Kind; 1]>, nullable: bool) -> Column {
        Column {
            name: "c".into(),
            path: "c".parse().unwrap(),
            sinks: smallvec![Sink::Slot(0)],
            kinds,
            nullable,
            time_unit: None,
        }
    }

    #[test]
    fn values_fit_or_are_bad_never_coerced() {
        let int = column(smallvec![Kind::Int], false);
        assert!(matches!(int.take(Cell::Text("7")), Ok(Raw::Int(7))));
        assert!(int.take(Cell::Text("7.5")).is_err());
        assert!(int.take(Cell::Int(1 << 40)).is_err());
        assert!(int.take(Cell::Float(7.0)).is_err());
        assert_eq!(
            int.take(Cell::Null).unwrap_err().to_string(),
            "column `c`: null is not an int (a whole number from -2147483648 to 2147483647) \
             (the field is not nullable)"
        );
        let symbols: Arc<[Str]> = vec![Str::from("init"), Str::from("play")].into();
        let e = column(smallvec![Kind::Enum(symbols)], true);
        assert!(matches!(e.take(Cell::Text("play")), Ok(Raw::Str("play"))));
        assert!(matches!(e.take(Cell::Text("")), Ok(Raw::Null)));
        assert_eq!(
            e.take(Cell::Text("7")).unwrap_err().to_string(),
            r#"column `c`: "7" is not one of the enum's symbols [init, play]"#
        );
        let s = column(smallvec![Kind::Str], false);
        assert!(matches!(s.take(Cell::Text("")), Ok(Raw::Str(""))));
        assert!(s.take(Cell::Int(5)).is_err(), "a number is not a string");
        let b = column(smallvec![Kind::Bool], true);
        assert!(matches!(b.take(Cell::Text("TRUE")), Ok(Raw::Bool(true))));
        assert!(b.take(Cell::Text("1")).is_err());
        let n = column(smallvec![Kind::Number], true);
        assert!(matches!(n.take(Cell::Str("NaN")), Ok(Raw::Float(f)) if f.is_nan()));
        assert!(
            matches!(n.take(Cell::Text("-Infinity")), Ok(Raw::Float(f)) if f == f64::NEG_INFINITY)
        );
        assert!(matches!(n.take(Cell::Text("12")), Ok(Raw::Int(12))));
        assert!(
            n.take(Cell::Str("12")).is_err(),
            "a JSON string is not a number"
        );
        let f = column(smallvec![Kind::Float], true);
        assert!(matches!(f.take(Cell::Float(0.1)), Ok(Raw::Float(x)) if x == f64::from(0.1f32)));
    }
}
