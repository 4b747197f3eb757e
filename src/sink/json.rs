//! JSON lines to stdout or a file: each write is flushed before it is acknowledged.

use super::{OutputsMeta, SinkError, SinkRow};
use crate::output::row_json;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A JSON-lines writer shared by the I/O tasks.
pub struct JsonLinesSink {
    name: String,
    meta: Arc<OutputsMeta>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLinesSink {
    /// Writes to `out`, named `name` in errors (e.g. `stdout` or the file's path).
    pub fn new(
        name: impl Into<String>,
        meta: Arc<OutputsMeta>,
        out: Box<dyn Write + Send>,
    ) -> Self {
        Self {
            name: name.into(),
            meta,
            out: Mutex::new(out),
        }
    }

    /// The name given at creation (`stdout` or the file's path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes and flushes one row.
    pub fn write(&self, row: &SinkRow) -> Result<(), SinkError> {
        let (output, columns) = &self.meta.outputs[row.row.output];
        let m = row_json(output, columns, &row.session, &row.row);
        let mut line = serde_json::to_vec(&m).map_err(|e| self.error(e.to_string(), false))?;
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed pipe (`| head`) never heals: retrying it would hang the run.
        out.write_all(&line)
            .and_then(|()| out.flush())
            .map_err(|e| self.error(e.to_string(), e.kind() != std::io::ErrorKind::BrokenPipe))
    }

    /// Flushes the writer.
    pub fn flush(&self) -> Result<(), SinkError> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.flush().map_err(|e| self.error(e.to_string(), true))
    }

    fn error(&self, message: String, retryable: bool) -> SinkError {
        SinkError {
            sink: self.name.clone(),
            message,
            retryable,
        }
    }
}
