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

/// A scalar as JSON; non-finite numbers become `null`.
pub fn scalar_to_json(v: Option<&Scalar>) -> Value {
    match v {
        None => Value::Null,
        Some(Scalar::Bool(b)) => Value::Bool(*b),
        Some(Scalar::Str(s)) => Value::String(s.to_string()),
        // Whole numbers print without a fraction (durations in whole seconds read as `5`).
        Some(Scalar::F64(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
            Value::Number((*x as i64).into())
        }
        Some(Scalar::F64(x)) => Number::from_f64(*x).map_or(Value::Null, Value::Number),
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
