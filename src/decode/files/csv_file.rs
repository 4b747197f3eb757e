//! CSV files with a header row: each projected field is the column whose header is its dotted
//! path (`device.os`). Cells are parsed as their field's type asks; an empty cell is null for a
//! nullable field, the empty string for a string field that is not nullable, and a bad value
//! otherwise. A row with another number of cells than the header is a bad record
//! (`malformed_row`); reading goes on with the next row.

use super::columns::{Cell, Columns};
use super::{FileError, FileSource, Position, ReadError};
use crate::decode::error::{DecodeError, Unparsable};
use crate::decode::projection::{DecodedEvent, Projection};
use std::sync::Arc;

/// Reads a CSV file a row at a time.
pub struct CsvReader {
    file: Arc<str>,
    source: csv::Reader<FileSource>,
    row: csv::ByteRecord,
    columns: Columns,
    /// The cell index of each column.
    cells: Vec<usize>,
    ended: bool,
}

impl std::fmt::Debug for CsvReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvReader")
            .field("file", &self.file)
            .field("cells", &self.cells)
            .finish()
    }
}

impl CsvReader {
    /// A reader of `source`, named `file` in messages; fails when the header lacks a column
    /// the spec reads.
    pub(super) fn new(
        file: Arc<str>,
        source: FileSource,
        projection: &Projection,
    ) -> Result<Self, FileError> {
        let columns = Columns::new(projection)?;
        let mut source = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(source);
        let header = source.byte_headers().map_err(|e| FileError::Format {
            file: file.to_string(),
            format: "CSV",
            detail: format!("cannot read the header row: {e}"),
        })?;
        let names: Vec<String> = header
            .iter()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect();
        let cells = columns
            .columns
            .iter()
            .map(|c| {
                names.iter().position(|n| *n == c.name).ok_or_else(|| FileError::Format {
                    file: file.to_string(),
                    format: "CSV",
                    detail: format!(
                        "the header has no column `{}`, which the spec reads (as {}); its columns: {}",
                        c.name,
                        c.expected(),
                        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    ),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(CsvReader {
            file,
            source,
            row: csv::ByteRecord::new(),
            columns,
            cells,
            ended: false,
        })
    }

    /// Decodes the next row's record into `out`; `None` at the end of the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        if self.ended {
            return None;
        }
        let row = |file: &Arc<str>, line, error| ReadError::Row {
            file: file.clone(),
            at: Position::Line { line },
            error,
        };
        match self.source.read_byte_record(&mut self.row) {
            Ok(false) => {
                self.ended = true;
                None
            }
            Ok(true) => {
                let line = self.row.position().map_or(0, |p| p.line());
                Some(
                    self.fill(out)
                        .map(|()| Position::Line { line })
                        .map_err(|e| row(&self.file, line, e)),
                )
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::Io(_) => {
                        self.ended = true;
                        let source = match e.into_kind() {
                            csv::ErrorKind::Io(io) => io,
                            _ => std::io::Error::other("CSV read error"),
                        };
                        Some(Err(ReadError::Io {
                            at: Position::Line { line },
                            source,
                        }))
                    }
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        let detail = format!(
                            "the row has {len} cells but the header has {expected_len}; \
                             quote cells that hold commas"
                        );
                        Some(Err(row(&self.file, line, malformed(detail))))
                    }
                    _ => Some(Err(row(&self.file, line, malformed(e.to_string())))),
                }
            }
        }
    }

    fn fill(&self, out: &mut DecodedEvent) -> Result<(), DecodeError> {
        self.columns.begin(out);
        for (c, &i) in self.columns.columns.iter().zip(&self.cells) {
            let bytes = self.row.get(i).unwrap_or_default();
            let text = std::str::from_utf8(bytes).map_err(|e| {
                c.bad(format!(
                    "a cell that is not UTF-8 (invalid byte at {})",
                    e.valid_up_to()
                ))
            })?;
            let raw = c.take(Cell::Text(text))?;
            self.columns.put(c, raw, out)?;
        }
        Ok(())
    }
}

fn malformed(detail: String) -> DecodeError {
    DecodeError::Unparsable(Box::new(Unparsable {
        reason: "malformed_row",
        detail,
    }))
}
