//! Output rows as JSON lines: `{"output", "session", "time", <column>: value, ...}`.

use serde_json::{Map, Number, Value};
use spanflow_engine::Scalar;
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::Program;
use std::io::{self, Write};

/// A row as a JSON object. Times are epoch milliseconds; undefined values are `null`.
pub fn row_to_json(program: &Program, session: &str, row: &Row) -> Map<String, Value> {
    let out = &program.outputs[row.output];
    row_json(&out.name, &out.columns, session, row)
}

/// A row of the output named `output` with these `columns` as a JSON object.
pub fn row_json(output: &str, columns: &[String], session: &str, row: &Row) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("output".into(), Value::String(output.to_string()));
    m.insert("session".into(), Value::String(session.to_string()));
    m.insert("time".into(), Value::Number(row.time.into()));
    for (name, v) in columns.iter().zip(&row.values) {
        m.insert(name.clone(), scalar_to_json(v.as_ref()));
    }
    m
}

/// A scalar as JSON. Undefined is `null`; JSON has no NaN or infinities, so those numbers
/// are the strings `"NaN"`, `"Infinity"` and `"-Infinity"` (as in Protocol Buffers' JSON
/// mapping), never `null`: a NaN reading is not a missing one.
pub fn scalar_to_json(v: Option<&Scalar>) -> Value {
    match v {
        None => Value::Null,
        Some(Scalar::Bool(b)) => Value::Bool(*b),
        Some(Scalar::Str(s)) => Value::String(s.to_string()),
        // Whole numbers print without a fraction (durations in whole seconds read as `5`).
        Some(Scalar::F64(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
            Value::Number((*x as i64).into())
        }
        Some(Scalar::F64(x)) => match Number::from_f64(*x) {
            Some(n) => Value::Number(n),
            None if x.is_nan() => Value::String("NaN".into()),
            None if *x > 0.0 => Value::String("Infinity".into()),
            None => Value::String("-Infinity".into()),
        },
    }
}

/// Writes rows as JSON lines.
pub struct JsonLines<W: Write> {
    out: W,
}

impl<W: Write> JsonLines<W> {
    /// Writes to `out` (buffer it for files).
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Writes one row.
    pub fn write(&mut self, program: &Program, session: &str, row: &Row) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &row_to_json(program, session, row))?;
        self.out.write_all(b"\n")
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_are_named_strings_and_undefined_is_null() {
        let json = |v: Option<Scalar>| scalar_to_json(v.as_ref()).to_string();
        assert_eq!(json(None), "null");
        assert_eq!(json(Some(Scalar::F64(f64::NAN))), r#""NaN""#);
        assert_eq!(json(Some(Scalar::F64(f64::INFINITY))), r#""Infinity""#);
        assert_eq!(json(Some(Scalar::F64(f64::NEG_INFINITY))), r#""-Infinity""#);
        assert_eq!(json(Some(Scalar::F64(-0.0))), "0");
        assert_eq!(json(Some(Scalar::F64(2.5))), "2.5");
        assert_eq!(json(Some(Scalar::F64(5.0))), "5");
    }
}
