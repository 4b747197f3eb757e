//! JSON Lines files: one JSON object per line, its members the record's fields (a dotted path
//! descends into nested objects). A missing member is null; blank lines are skipped; a line
//! that is not a JSON object is a bad record (`invalid_json`), and reading goes on with the
//! next line.

use super::columns::{show_text, Cell, Column, Columns};
use super::{FileError, FileSource, Position, ReadError};
use crate::decode::error::{DecodeError, Unparsable};
use crate::decode::projection::{DecodedEvent, Projection};
use serde_json::Value;
use std::io::BufRead;
use std::sync::Arc;

/// Reads a JSON Lines file a line at a time.
#[derive(Debug)]
pub struct JsonlReader {
    file: Arc<str>,
    source: FileSource,
    line_buf: Vec<u8>,
    /// Number of the line last read, from 1.
    line: u64,
    columns: Columns,
    ended: bool,
}

impl JsonlReader {
    /// A reader of `source`, named `file` in messages.
    pub(super) fn new(
        file: Arc<str>,
        source: FileSource,
        projection: &Projection,
    ) -> Result<Self, FileError> {
        Ok(JsonlReader {
            file,
            source,
            line_buf: Vec::new(),
            line: 0,
            columns: Columns::new(projection)?,
            ended: false,
        })
    }

    /// Decodes the next line's record into `out`; `None` at the end of the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        loop {
            if self.ended {
                return None;
            }
            self.line_buf.clear();
            let at = Position::Line {
                line: self.line + 1,
            };
            match self.source.read_until(b'\n', &mut self.line_buf) {
                Ok(0) => {
                    self.ended = true;
                    return None;
                }
                Ok(_) => self.line += 1,
                Err(source) => {
                    self.ended = true;
                    return Some(Err(ReadError::Io { at, source }));
                }
            }
            if self.line_buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let row = |error| ReadError::Row {
                file: self.file.clone(),
                at,
                error,
            };
            let text = self.line_buf.trim_ascii_end();
            let value: Value = match serde_json::from_slice(text) {
                Ok(v) => v,
                Err(e) => {
                    // serde_json counts lines within the text: one line here.
                    let what = e.to_string();
                    let what = what.split(" at line ").next().unwrap_or_default();
                    let what = format!("not JSON: {what} at column {}", e.column());
                    return Some(Err(row(unparsable(what))));
                }
            };
            let Value::Object(_) = &value else {
                return Some(Err(row(unparsable(format!(
                    "a JSON {}, not an object",
                    json_type(&value)
                )))));
            };
            return Some(fill(&self.columns, &value, out).map(|()| at).map_err(row));
        }
    }
}

fn unparsable(what: String) -> DecodeError {
    DecodeError::Unparsable(Box::new(Unparsable {
        reason: "invalid_json",
        detail: format!(
            "{what}; each line must hold one JSON object, the record's fields its members"
        ),
    }))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Writes the projected members of `record` into `out`.
fn fill(columns: &Columns, record: &Value, out: &mut DecodedEvent) -> Result<(), DecodeError> {
    columns.begin(out);
    for c in &columns.columns {
        let cell = member(c, record)?;
        let raw = c.take(cell)?;
        columns.put(c, raw, out)?;
    }
    Ok(())
}

/// The value at `c`'s path: null when a member on the way is missing or null.
fn member<'v>(c: &Column, record: &'v Value) -> Result<Cell<'v>, DecodeError> {
    let mut v = record;
    for (i, seg) in c.path.segments().iter().enumerate() {
        match v {
            Value::Object(m) => match m.get(seg.as_str()) {
                Some(inner) => v = inner,
                None => return Ok(Cell::Null),
            },
            Value::Null => return Ok(Cell::Null),
            other => {
                return Err(c.bad(format!(
                    "{} (at `{}`, a JSON {} where an object holding `{seg}` should be)",
                    shown(other),
                    c.path.prefix(i),
                    json_type(other)
                )))
            }
        }
    }
    Ok(match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Cell::Int(i),
            (None, Some(u), _) => Cell::UInt(u),
            (None, None, Some(f)) => Cell::Float(f),
            (None, None, None) => return Err(c.bad(n.to_string())),
        },
        Value::String(s) => Cell::Str(s),
        other => return Err(c.bad(shown(other))),
    })
}

/// A JSON value as messages show it, cut at 60 characters.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => show_text(s),
        other => {
            let text = other.to_string();
            match text.char_indices().nth(60) {
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None => text,
            }
        }
    }
}
